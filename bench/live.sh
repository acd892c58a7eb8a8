#!/usr/bin/env bash
# Live capture under load (`make bench-live`; root). A network namespace `csbench` holds an
# nginx; the host loads it through a veth pair with wrk (or ab). First tcpdump captures the
# load, for a baseline of what the kernel drops; then `connscope live` does, and the requests
# it counts are compared with the ones nginx logged.
#
#   host: csv0 10.213.0.1/24  <-- veth -->  csbench: csv1 10.213.0.2/24, nginx :18080
#
# Only these private addresses, in a namespace of our own, are used. Everything started here
# is stopped and the namespace deleted on exit, whatever happens.
#
# Environment: CONNSCOPE (default target/release/connscope), LOAD_SECS (default 10), CONNS
# (default 32), KEEP (a directory to keep the logs and live.pcap in).
set -euo pipefail

NS=csbench
HOST_IF=csv0
NS_IF=csv1
HOST_IP=10.213.0.1
NS_IP=10.213.0.2
PORT=18080
URL="http://$NS_IP:$PORT/"
LOAD_SECS=${LOAD_SECS:-10}
CONNS=${CONNS:-32}
CONNSCOPE=${CONNSCOPE:-target/release/connscope}

cd "$(dirname "$0")/.."

die() { echo "bench/live.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (network namespace, packet capture)"
for tool in ip nginx tcpdump; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install iproute2 nginx tcpdump)"
done
if command -v wrk >/dev/null; then
    LOADER=wrk
elif command -v ab >/dev/null; then
    LOADER=ab
else
    die "neither wrk nor ab (apache2-utils) is installed"
fi

TMP=$(mktemp -d /tmp/connscope-bench-live.XXXXXX)
NGINX_PID=
CAPTURE_PID=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in $CAPTURE_PID $NGINX_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $CAPTURE_PID $NGINX_PID; do
        # Bounded: a process that ignores TERM gets KILL after 5 s.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
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
    log_format conns '\$connection \$connection_requests';
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

# Requests nginx logged since line $1 of the access log, and the connections they came on.
nginx_counts() {
    tail -n +"$(($1 + 1))" "$TMP/access.log" | awk '
        { req++; if (!($1 in seen)) { seen[$1] = 1; conns++ } if ($2 > max) max = $2 }
        END { printf "%d requests on %d connections (at most %d on one)\n", req, conns, max }'
}

log_lines() { wc -l <"$TMP/access.log"; }

# Waits for a capture process to print its "listening" line (bounded).
await_listening() {
    for _ in $(seq 100); do
        grep -qi "listening" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

echo
echo "== 1. tcpdump -i $HOST_IF -w /dev/null under $LOADER -c$CONNS for ${LOAD_SECS}s"
before=$(log_lines)
tcpdump -i "$HOST_IF" -n -w /dev/null "tcp port $PORT" 2>"$TMP/tcpdump.err" &
CAPTURE_PID=$!
await_listening "$TMP/tcpdump.err" "$CAPTURE_PID" || { cat "$TMP/tcpdump.err" >&2; die "tcpdump did not start"; }
load "$TMP/load1.txt" || { cat "$TMP/load1.txt" >&2; die "$LOADER failed"; }
sleep 1
kill -INT "$CAPTURE_PID"
wait "$CAPTURE_PID" || true
CAPTURE_PID=
echo "$LOADER: $(loader_requests "$TMP/load1.txt") requests"
echo "nginx: $(nginx_counts "$before")"
echo "tcpdump:"
grep -E "captured|received by filter|dropped by kernel" "$TMP/tcpdump.err" | sed 's/^/    /'

echo
echo "== 2. connscope live -i $HOST_IF under the same load"
# ---------------------------------------------------------------------------------------
# STEP THAT NEEDS THE CLI: `connscope live` is being added to the CLI; until it is, this
# step is reported as not run and the script exits 2.
# ---------------------------------------------------------------------------------------
if ! [ -x "$CONNSCOPE" ] || ! "$CONNSCOPE" live --help >/dev/null 2>&1; then
    echo "NOT RUN: $CONNSCOPE has no 'live' command yet (set CONNSCOPE=path/to/connscope)"
    exit 2
fi
CAPTURE_SECS=$((LOAD_SECS + 4))
before=$(log_lines)
"$CONNSCOPE" live -i "$HOST_IF" --filter "tcp port $PORT" --format jsonl \
    --duration "$CAPTURE_SECS" -w "$TMP/live.pcap" >"$TMP/live.jsonl" 2>"$TMP/live.err" &
CAPTURE_PID=$!
sleep 1.5 # the handle is open well before the first SYN
kill -0 "$CAPTURE_PID" 2>/dev/null || { cat "$TMP/live.err" >&2; die "connscope live exited early"; }
load "$TMP/load2.txt" || { cat "$TMP/load2.txt" >&2; die "$LOADER failed"; }
# --duration ends it; bounded wait in case it does not.
for _ in $(seq $((CAPTURE_SECS * 10 + 100))); do kill -0 "$CAPTURE_PID" 2>/dev/null || break; sleep 0.1; done
live_rc=0
if kill -0 "$CAPTURE_PID" 2>/dev/null; then
    kill -INT "$CAPTURE_PID"
    live_rc=124
fi
wait "$CAPTURE_PID" || live_rc=$?
CAPTURE_PID=
echo "$LOADER: $(loader_requests "$TMP/load2.txt") requests"
nginx_line=$(nginx_counts "$before")
echo "nginx: $nginx_line"
summary=$(grep '"type":"summary"' "$TMP/live.jsonl" | tail -1 || true)
if [ -z "$summary" ]; then
    cat "$TMP/live.err" >&2
    die "connscope live (exit $live_rc) printed no summary line"
fi
live_requests=$(jq -r '.requests' <<<"$summary")
echo "connscope live (exit $live_rc): $live_requests requests on $(jq -r '.http_connections' <<<"$summary") HTTP connections"
sed 's/^/    stderr: /' "$TMP/live.err"
nginx_requests=${nginx_line%% *}
if [ -s "$TMP/live.pcap" ]; then
    echo "connscope analyze live.pcap (-w): $("$CONNSCOPE" analyze "$TMP/live.pcap" --format jsonl |
        jq -r 'select(.type == "summary") | .requests') requests"
fi
if [ "$live_requests" = "$nginx_requests" ]; then
    echo "OK: connscope live counted the $nginx_requests requests nginx logged"
else
    echo "MISMATCH: nginx logged $nginx_requests requests, connscope live counted $live_requests"
    exit 1
fi
