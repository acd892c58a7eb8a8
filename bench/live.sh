#!/usr/bin/env bash
# Live capture under load (`make bench-live`; root). A network namespace `csbench` holds an
# nginx; the host loads it through a veth pair with wrk (or ab).
#
#   bash bench/live.sh              # load mode (the default)
#   bash bench/live.sh soak [SECS]  # memory soak, SECS seconds of connection churn (default 600)
#
# Load mode: first tcpdump captures the load, for a baseline of what the kernel drops; then
# `connscope live` captures the same load (and writes it with -w). Its requests and
# per-connection request counts are compared with nginx's log, its drops with tcpdump's, its
# CPU time per packet with `connscope analyze` of the pcap it wrote, and that analyze's summary
# with the live run's last summary line.
#
# Soak mode: `connscope live` runs while a client opens new connections at a fixed modest rate
# (one request each, `Connection: close`) for SECS seconds; connscope's VmRSS and VmHWM are
# sampled every 10 s. Its totals are compared with nginx's log.
#
#   host: csv0 10.213.0.1/24  <-- veth -->  csbench: csv1 10.213.0.2/24, nginx :18080
#
# Only these private addresses, in a namespace of our own, are used. Everything started here
# is stopped and the namespace deleted on exit, whatever happens. Every load is bounded in time
# (and, for ab, in requests).
#
# Environment: CONNSCOPE (default target/release/connscope), LOAD_SECS (default 10), CONNS
# (default 32), ANALYZE_RUNS (default 3; analyze timings, the median is used), SOAK_CONNS
# (default 4), SOAK_DELAY_MS (default 2; pause before each new connection, per client
# connection), KEEP (a directory to keep the logs, live.pcap and figures in).
# Exit status: 0 when every count matches, 1 on a mismatch, 2 on a setup failure.
set -euo pipefail

MODE=${1:-load}
case $MODE in
load) ;;
soak) SOAK_SECS=${2:-600} ;;
*) echo "usage: bash bench/live.sh [load | soak [SECS]]" >&2; exit 2 ;;
esac

NS=csbench
HOST_IF=csv0
NS_IF=csv1
HOST_IP=10.213.0.1
NS_IP=10.213.0.2
PORT=18080
URL="http://$NS_IP:$PORT/"
LOAD_SECS=${LOAD_SECS:-10}
CONNS=${CONNS:-32}
ANALYZE_RUNS=${ANALYZE_RUNS:-3}
SOAK_CONNS=${SOAK_CONNS:-4}
SOAK_DELAY_MS=${SOAK_DELAY_MS:-2}
CONNSCOPE=${CONNSCOPE:-target/release/connscope}

cd "$(dirname "$0")/.."

die() { echo "bench/live.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (network namespace, packet capture)"
for tool in ip nginx tcpdump jq awk; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install iproute2 nginx tcpdump jq)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
if command -v wrk >/dev/null; then
    LOADER=wrk
elif command -v ab >/dev/null; then
    LOADER=ab
else
    die "neither wrk nor ab (apache2-utils) is installed"
fi
[ -x "$CONNSCOPE" ] || die "$CONNSCOPE is not built (make build, or set CONNSCOPE=path/to/connscope)"
"$CONNSCOPE" live --help >/dev/null 2>&1 || die "$CONNSCOPE has no 'live' command"
CONNSCOPE=$(readlink -f "$CONNSCOPE")

TMP=$(mktemp -d /tmp/connscope-bench-live.XXXXXX)
NGINX_PID=
CAPTURE_PID= # /usr/bin/time, or tcpdump
SAMPLER_PID=
LOAD_PID=

# The process /usr/bin/time started (connscope), if any.
child_of() { [ -n "$1" ] && cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{print $1}' || true; }

stop() { # PIDs: TERM, then KILL after 5 s (bounded)
    local pid
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop $LOAD_PID $SAMPLER_PID $(child_of "$CAPTURE_PID") $CAPTURE_PID $NGINX_PID
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip link del "$HOST_IF" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP" && cp -a "$TMP"/. "$KEEP"/ && echo "kept the logs in $KEEP"
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A namespace left over by an interrupted run.
ip link del "$HOST_IF" 2>/dev/null || true
ip netns del "$NS" 2>/dev/null || true

echo "== namespace $NS, veth $HOST_IF ($HOST_IP) <-> $NS_IF ($NS_IP)"
ip netns add "$NS"
ip link add "$HOST_IF" type veth peer name "$NS_IF"
ip link set "$NS_IF" netns "$NS"
ip addr add "$HOST_IP/24" dev "$HOST_IF"
ip link set "$HOST_IF" up
ip netns exec "$NS" ip addr add "$NS_IP/24" dev "$NS_IF"
ip netns exec "$NS" ip link set "$NS_IF" up
ip netns exec "$NS" ip link set lo up

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
    log_format conns '\$connection \$connection_requests \$remote_port';
    keepalive_requests 1000;
    keepalive_timeout 60s;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen $NS_IP:$PORT;
        access_log $TMP/access.log conns;
        location / { return 200 "connscope bench\n"; }
    }
}
EOF
echo "== nginx in $NS on $NS_IP:$PORT (worker_processes 1, keepalive_requests 1000)"
ip netns exec "$NS" nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
NGINX_PID=$!
up=
for _ in $(seq 50); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$NS_IP/$PORT" 2>/dev/null; then up=1; break; fi
    sleep 0.1
done
[ -n "$up" ] || { cat "$TMP/nginx-error.log" >&2; die "nginx did not come up"; }
sleep 0.5
: >"$TMP/access.log" # the probe above

# Loads the server for LOAD_SECS seconds (bounded in time and, for ab, in requests).
load() {
    local out=$1
    case $LOADER in
    wrk) timeout $((LOAD_SECS + 15)) wrk -t2 -c"$CONNS" -d"${LOAD_SECS}s" --timeout 2s "$URL" >"$out" 2>&1 ;;
    ab) timeout $((LOAD_SECS + 15)) ab -q -k -c "$CONNS" -t "$LOAD_SECS" -n 2000000 -s 2 "$URL" >"$out" 2>&1 ;;
    esac
}

loader_requests() {
    case $LOADER in
    wrk) awk '/requests in/ {print $1}' "$1" ;;
    ab) awk '/^Complete requests:/ {print $3}' "$1" ;;
    esac
}

log_lines() { wc -l <"$TMP/access.log"; }

# "REQUESTS CONNECTIONS MAX" that nginx logged after line $1 of the access log.
nginx_counts() {
    tail -n +"$(($1 + 1))" "$TMP/access.log" | awk '
        { req++; if (!($1 in seen)) { seen[$1] = 1; conns++ } if ($2 > max) max = $2 }
        END { printf "%d %d %d\n", req, conns, max }'
}

# "CLIENT_PORT REQUESTS" for each connection nginx logged after line $1, sorted.
nginx_per_connection() {
    tail -n +"$(($1 + 1))" "$TMP/access.log" | awk '
        { if ($2 > n[$1]) n[$1] = $2; port[$1] = $3 }
        END { for (c in n) print port[c], n[c] }' | sort -n
}

# /usr/bin/time -f '%U %S %M' output: "CPU_SECONDS MAX_RSS_KB".
cpu_of() { tail -1 "$1" | awk '{printf "%.3f %d\n", $1 + $2, $3}'; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Starts connscope live under /usr/bin/time in the background; CAPTURE_PID is time's.
# Arguments after the first (the time output file) go to `connscope live`; stdout and stderr
# are the caller's redirections.
start_live() {
    local timefile=$1
    shift
    /usr/bin/time -f '%U %S %M' -o "$timefile" "$CONNSCOPE" live -i "$HOST_IF" --filter "tcp port $PORT" "$@" &
    CAPTURE_PID=$!
}

# Waits (bounded, $1 seconds) for the capture started by start_live to end; its status.
await_live() {
    local rc=0
    for _ in $(seq $(($1 * 10))); do kill -0 "$CAPTURE_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$CAPTURE_PID" 2>/dev/null; then
        echo "connscope live did not stop at --duration; sending SIGINT" >&2
        kill -INT $(child_of "$CAPTURE_PID") 2>/dev/null || true
        rc=124
    fi
    wait "$CAPTURE_PID" || rc=$?
    CAPTURE_PID=
    return $rc
}

mismatches=0
check() { # LABEL EXPECTED GOT
    if [ "$2" = "$3" ]; then
        echo "OK: $1: $2"
    else
        echo "MISMATCH: $1: expected $2, got $3"
        mismatches=$((mismatches + 1))
    fi
}

run_load() {
    echo
    echo "== 1. tcpdump -i $HOST_IF -w /dev/null under $LOADER -c$CONNS for ${LOAD_SECS}s"
    local before
    before=$(log_lines)
    tcpdump -i "$HOST_IF" -n -w /dev/null "tcp port $PORT" 2>"$TMP/tcpdump.err" &
    CAPTURE_PID=$!
    for _ in $(seq 100); do
        grep -qi "listening" "$TMP/tcpdump.err" 2>/dev/null && break
        kill -0 "$CAPTURE_PID" 2>/dev/null || { cat "$TMP/tcpdump.err" >&2; die "tcpdump did not start"; }
        sleep 0.1
    done
    load "$TMP/load1.txt" || { cat "$TMP/load1.txt" >&2; die "$LOADER failed"; }
    sleep 1
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID" || true
    CAPTURE_PID=
    local td_nginx td_captured td_dropped
    td_nginx=$(nginx_counts "$before")
    td_captured=$(awk '/packets captured/ {print $1}' "$TMP/tcpdump.err")
    td_dropped=$(awk '/dropped by kernel/ {print $1}' "$TMP/tcpdump.err")
    echo "$LOADER: $(loader_requests "$TMP/load1.txt") requests; nginx: ${td_nginx% *} (requests connections)"
    grep -E "captured|received by filter|dropped by kernel" "$TMP/tcpdump.err" | sed 's/^/    tcpdump: /'

    echo
    echo "== 2. connscope live -i $HOST_IF -w live.pcap under the same load"
    local capture_secs=$((LOAD_SECS + 4))
    before=$(log_lines)
    start_live "$TMP/live.time" --format jsonl --duration "$capture_secs" -w "$TMP/live.pcap" \
        >"$TMP/live.jsonl" 2>"$TMP/live.err"
    sleep 1.5 # the handle is open well before the first SYN
    kill -0 "$CAPTURE_PID" 2>/dev/null || { cat "$TMP/live.err" >&2; die "connscope live exited early"; }
    load "$TMP/load2.txt" || { cat "$TMP/load2.txt" >&2; die "$LOADER failed"; }
    local live_rc=0
    await_live $((capture_secs + 10)) || live_rc=$?
    [ -s "$TMP/live.err" ] && sed 's/^/    connscope stderr: /' "$TMP/live.err"
    local summary
    summary=$(grep '"type":"summary"' "$TMP/live.jsonl" | tail -1 || true)
    [ -n "$summary" ] || die "connscope live (exit $live_rc) printed no summary line"
    jq -c . <<<"$summary" >"$TMP/live-summary.json"

    local n_req n_conns n_max l_req l_conns l_http l_packets l_recv l_kdrop l_idrop
    read -r n_req n_conns n_max < <(nginx_counts "$before")
    read -r l_req l_conns l_http l_packets l_recv l_kdrop l_idrop < <(jq -r \
        '"\(.requests) \(.connections) \(.http_connections) \(.packets) \(.capture.received) \(.capture.dropped_kernel) \(.capture.dropped_interface)"' \
        <<<"$summary")
    echo "$LOADER: $(loader_requests "$TMP/load2.txt") requests"
    echo "nginx: $n_req requests on $n_conns connections (at most $n_max on one)"
    echo "connscope live (exit $live_rc): $l_req requests, $l_conns connections ($l_http HTTP), $l_packets packets;" \
        "capture: $l_recv received, $l_kdrop dropped by kernel, $l_idrop by interface"
    check "requests, nginx log vs connscope live" "$n_req" "$l_req"
    check "connections, nginx log vs connscope live (HTTP)" "$n_conns" "$l_http"

    # Per connection: nginx's $connection_requests (its last value) against connscope's
    # connection lines, by client port, and as a multiset of counts.
    nginx_per_connection "$before" >"$TMP/nginx-per-conn.txt"
    jq -r 'select(.type == "connection" and .requests > 0) | "\(.client | split(":") | last) \(.requests)"' \
        "$TMP/live.jsonl" | sort -n >"$TMP/live-per-conn.txt"
    local port_diff count_diff
    port_diff=$(diff "$TMP/nginx-per-conn.txt" "$TMP/live-per-conn.txt" | grep -c '^[<>]' || true)
    count_diff=$(diff <(awk '{print $2}' "$TMP/nginx-per-conn.txt" | sort -n) \
        <(awk '{print $2}' "$TMP/live-per-conn.txt" | sort -n) | grep -c '^[<>]' || true)
    check "per-connection (client port, requests) lines differing, nginx vs connscope" 0 "$port_diff"
    check "per-connection request counts (multiset) differing, nginx vs connscope" 0 "$count_diff"
    if [ "$port_diff" != 0 ]; then
        diff "$TMP/nginx-per-conn.txt" "$TMP/live-per-conn.txt" | grep '^[<>]' | head -10 | sed 's/^/    /'
    fi

    # The pcap it wrote, analyzed ANALYZE_RUNS times; the median CPU time.
    local a_summary a_req a_conns a_http a_packets
    for r in $(seq "$ANALYZE_RUNS"); do
        /usr/bin/time -f '%U %S %M' -o "$TMP/analyze.time.$r" "$CONNSCOPE" analyze "$TMP/live.pcap" \
            --format jsonl >"$TMP/analyze.jsonl"
    done
    a_summary=$(grep '"type":"summary"' "$TMP/analyze.jsonl" | tail -1)
    read -r a_req a_conns a_http a_packets < <(jq -r \
        '"\(.requests) \(.connections) \(.http_connections) \(.packets)"' <<<"$a_summary")
    echo "connscope analyze live.pcap: $a_req requests, $a_conns connections ($a_http HTTP), $a_packets packets"
    check "summary requests, live vs analyze of live.pcap" "$l_req" "$a_req"
    check "summary connections, live vs analyze of live.pcap" "$l_conns" "$a_conns"
    check "summary HTTP connections, live vs analyze of live.pcap" "$l_http" "$a_http"
    check "summary packets, live vs analyze of live.pcap" "$l_packets" "$a_packets"

    local l_cpu l_rss a_cpu a_rss
    read -r l_cpu l_rss < <(cpu_of "$TMP/live.time")
    a_cpu=$(for r in $(seq "$ANALYZE_RUNS"); do cpu_of "$TMP/analyze.time.$r" | awk '{print $1}'; done | median)
    a_rss=$(for r in $(seq "$ANALYZE_RUNS"); do cpu_of "$TMP/analyze.time.$r" | awk '{print $2}'; done | median)

    local pcap_bytes
    pcap_bytes=$(stat -c %s "$TMP/live.pcap")
    awk -v l="$l_cpu" -v a="$a_cpu" -v p="$l_packets" -v lr="$l_rss" -v ar="$a_rss" \
        -v nreq="$n_req" -v lreq="$l_req" -v nconn="$n_conns" -v lconn="$l_http" \
        -v tdd="${td_dropped:-?}" -v tdc="${td_captured:-?}" -v kd="$l_kdrop" -v rc="$l_recv" \
        -v pd="$port_diff" -v cd="$count_diff" -v runs="$ANALYZE_RUNS" -v pb="$pcap_bytes" '
        BEGIN {
            print ""
            print "== figures (load mode)"
            printf "requests          nginx %d, connscope live %d\n", nreq, lreq
            printf "connections       nginx %d, connscope live %d (HTTP)\n", nconn, lconn
            printf "per connection    %d lines differ by client port, %d in the multiset of counts\n", pd, cd
            printf "kernel drops      tcpdump %s of %s captured; connscope live %d of %d received\n", tdd, tdc, kd, rc
            printf "packets           %d (live.pcap %.1f MB)\n", p, pb / 1e6
            printf "cpu (user+sys)    live %.3f s = %.2f us/packet; analyze live.pcap %.3f s = %.2f us/packet (median of %d)\n", \
                l, l / p * 1e6, a, a / p * 1e6, runs
            printf "cpu ratio         live / analyze = %.2f\n", (a > 0 ? l / a : 0)
            printf "max RSS           live %.1f MiB, analyze %.1f MiB\n", lr / 1024, ar / 1024
        }' | tee "$TMP/figures.txt"
}

run_soak() {
    local secs=$SOAK_SECS capture_secs=$((SOAK_SECS + 10))
    echo
    echo "== soak: connscope live for ${capture_secs}s; $LOADER opens new connections for ${secs}s" \
        "(${SOAK_CONNS} at a time, ${SOAK_DELAY_MS} ms pause before each, Connection: close)"
    # Only the summary lines are kept (the connection lines, ~1 MB/s, are dropped).
    start_live "$TMP/live.time" --format jsonl --duration "$capture_secs" \
        > >(grep --line-buffered '"type":"summary"' >"$TMP/soak-summary.jsonl") 2>"$TMP/live.err"
    local pid=
    for _ in $(seq 50); do pid=$(child_of "$CAPTURE_PID"); [ -n "$pid" ] && break; sleep 0.1; done
    [ -n "$pid" ] || { cat "$TMP/live.err" >&2; die "connscope live did not start"; }
    local t0=$SECONDS
    # VmRSS and VmHWM every 10 s (bounded: ends with connscope, or after capture_secs + 30).
    (
        for _ in $(seq 0 10 $((capture_secs + 30))); do
            line=$(awk '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {if (r != "") print " " r, h}' \
                "/proc/$pid/status" 2>/dev/null) || break
            [ -n "$line" ] || break
            echo "$((SECONDS - t0))$line"
            sleep 10
        done
    ) >"$TMP/rss.txt" &
    SAMPLER_PID=$!
    sleep 1.5
    kill -0 "$CAPTURE_PID" 2>/dev/null || { cat "$TMP/live.err" >&2; die "connscope live exited early"; }

    case $LOADER in
    wrk)
        cat >"$TMP/churn.lua" <<EOF
wrk.headers["Connection"] = "close"
function delay() return $SOAK_DELAY_MS end
EOF
        timeout $((secs + 15)) wrk -t1 -c"$SOAK_CONNS" -d"${secs}s" --timeout 2s -s "$TMP/churn.lua" "$URL" \
            >"$TMP/soak-load.txt" 2>&1 &
        ;;
    ab)
        # ab cannot pace; 1,000 connections a second in batches (bounded: secs batches).
        (for _ in $(seq "$secs"); do
            timeout 5 ab -q -n 1000 -c "$SOAK_CONNS" -s 2 "$URL" >/dev/null 2>&1 || true
            sleep 0.2
        done) >"$TMP/soak-load.txt" 2>&1 &
        ;;
    esac
    LOAD_PID=$!
    wait "$LOAD_PID" || true
    LOAD_PID=
    local live_rc=0
    await_live 60 || live_rc=$?
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    [ -s "$TMP/live.err" ] && sed 's/^/    connscope stderr: /' "$TMP/live.err"
    sleep 0.5 # the grep behind the process substitution
    local summary
    summary=$(tail -1 "$TMP/soak-summary.jsonl" || true)
    [ -n "$summary" ] || die "connscope live (exit $live_rc) printed no summary line"

    local n_req n_conns n_max l_req l_conns l_http l_packets l_recv l_kdrop l_idrop
    read -r n_req n_conns n_max < <(nginx_counts 0)
    read -r l_req l_conns l_http l_packets l_recv l_kdrop l_idrop < <(jq -r \
        '"\(.requests) \(.connections) \(.http_connections) \(.packets) \(.capture.received) \(.capture.dropped_kernel) \(.capture.dropped_interface)"' \
        <<<"$summary")
    [ "$LOADER" = wrk ] && grep -E "requests in|Socket errors" "$TMP/soak-load.txt" | sed 's/^/    wrk: /'
    echo "nginx: $n_req requests on $n_conns connections"
    echo "connscope live (exit $live_rc): $l_req requests, $l_conns connections ($l_http HTTP), $l_packets packets;" \
        "capture: $l_recv received, $l_kdrop dropped by kernel, $l_idrop by interface"
    check "requests, nginx log vs connscope live" "$n_req" "$l_req"
    check "connections, nginx log vs connscope live (HTTP)" "$n_conns" "$l_http"
    echo "limits: $(jq -c '.limits' <<<"$summary"); idle_expired: $(jq -r '.limits.idle_expired // "n/a"' <<<"$summary")"

    echo "RSS samples (s since start, VmRSS kB, VmHWM kB):"
    sed "s/^/    /" "$TMP/rss.txt"
    local l_cpu l_rss
    read -r l_cpu l_rss < <(cpu_of "$TMP/live.time")
    # The last sample at or before each mark, in MiB.
    at() { awk -v t="$1" '$1 <= t { r = $2; h = $3 } END { printf "RSS %.1f MiB, peak (VmHWM) %.1f MiB", r / 1024, h / 1024 }' "$TMP/rss.txt"; }
    {
        echo
        echo "== figures (soak mode, ${secs}s)"
        echo "at  1 min          $(at 60)"
        echo "at  5 min          $(at 300)"
        echo "at 10 min          $(at 600)"
        echo "at end             $(at 999999)"
        awk '$1 >= 60 { if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2 }
            END { printf "RSS after 1 min   %.1f-%.1f MiB\n", min / 1024, max / 1024 }' "$TMP/rss.txt"
        jq -rs '[.[] | select(.interval.seconds >= 0.5)] |
            "interval lines    \(length); new connections/s median \(map(.interval.new_connections_per_s) | sort | .[length / 2 | floor] | floor);" +
            " open connections max \(map(.interval.open_connections) | max); TIME_WAIT (server) max \(map(.interval.time_wait_server) | max)"' \
            "$TMP/soak-summary.jsonl"
        echo "requests          nginx $n_req, connscope live $l_req"
        echo "connections       nginx $n_conns, connscope live $l_http HTTP ($l_conns in all)"
        echo "kernel drops      $l_kdrop of $l_recv received"
        awk -v c="$l_cpu" -v p="$l_packets" -v s="$capture_secs" -v m="$l_rss" \
            'BEGIN { printf "cpu (user+sys)    %.1f s = %.1f%% of one core, %.2f us/packet; max RSS %.1f MiB\n", c, c / s * 100, c / p * 1e6, m / 1024 }'
    } | tee "$TMP/figures.txt"
}

case $MODE in
load) run_load ;;
soak) run_soak ;;
esac

if [ "$mismatches" -gt 0 ]; then
    echo "$mismatches mismatch(es)"
    exit 1
fi
