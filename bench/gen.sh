#!/usr/bin/env bash
# Makes the benchmark capture: real HTTP/1.1 load against nginx in a network namespace,
# reached over a veth pair (MTU 1500, offloads off, so frames are wire-sized), captured with
# tcpdump on the client-side veth, next to nginx's own access log.
#
#   bash bench/gen.sh OUTDIR
#
# Load, in rounds until the capture reaches CONNSCOPE_BENCH_MB (bounded by
# CONNSCOPE_BENCH_MAX_ROUNDS and CONNSCOPE_BENCH_MAX_SECS):
#   - wrk (keep-alive): CONNSCOPE_BENCH_ROUND_REQS GETs (mix.lua exits wrk there; -d 30s bounds
#     it) on CONNSCOPE_BENCH_CONNS connections, of 100 B / 10 KB / 100 KB files in the
#     proportions CONNSCOPE_BENCH_MIX (per mille);
#   - ab without -k (a new connection per request, HTTP/1.0): CONNSCOPE_BENCH_AB_N requests
#     with 16 concurrent, alternately of the 100 B and the 10 KB file.
# nginx keeps its default keepalive_requests (1000), so wrk's connections are also closed
# and reopened by the server's request cap.
#
# Writes OUTDIR/bench.pcap, OUTDIR/bench.nginx.log and OUTDIR/shape.txt, and only once the
# capture is complete and tcpdump reported no drops (a capture with drops is retried with half
# the wrk connections, twice at most). Needs root, nginx, wrk, ab, tcpdump, capinfos, ip,
# ethtool. Traffic goes only inside the two namespaces this script creates and deletes.
set -euo pipefail

OUT=${1:?usage: gen.sh OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGET_MB=${CONNSCOPE_BENCH_MB:-950}
CONNS=${CONNSCOPE_BENCH_CONNS:-32}
ROUND_REQS=${CONNSCOPE_BENCH_ROUND_REQS:-40000}
AB_N=${CONNSCOPE_BENCH_AB_N:-3000}
MIX=${CONNSCOPE_BENCH_MIX:-920,70,10}
MAX_ROUNDS=${CONNSCOPE_BENCH_MAX_ROUNDS:-60}
MAX_SECS=${CONNSCOPE_BENCH_MAX_SECS:-300}

NSC=connscope-bench-c
NSS=connscope-bench-s
VC=csb-c
VS=csb-s
IPC=10.203.0.2
IPS=10.203.0.1
PORT=18950
URL=http://$IPS:$PORT

[[ $(id -u) -eq 0 ]] || { echo "gen.sh: must run as root (network namespaces)" >&2; exit 1; }
for c in nginx wrk ab tcpdump capinfos ip ethtool; do
    command -v "$c" >/dev/null || { echo "gen.sh: missing $c" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/connscope-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()

cleanup() {
    local rc=$? p
    set +e
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    ip netns del "$NSC" 2>/dev/null
    ip netns del "$NSS" 2>/dev/null
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

untrack() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
stop() { # PID SIGNAL
    kill "-$2" "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    untrack "$1"
}

# ---------------------------------------------------------------- content and nginx
WWW=$WORK/www
mkdir -p "$WWW" "$WORK/tmp"
yes 'connscope bench data 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c 100 >"$WWW/s.txt" || true
yes 'connscope bench data 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c 10240 >"$WWW/m.txt" || true
head -c 102400 /dev/urandom >"$WWW/l.bin"
touch -d '2024-01-01 00:00:00 UTC' "$WWW"/*

write_nginx_conf() { # LOGFILE
    cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format connscope '\$remote_addr \$remote_port \$server_addr \$server_port \$connection \$connection_requests \$msec "\$request" \$status \$body_bytes_sent "\$http_connection"';
    access_log $1 connscope buffer=256k;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    server {
        listen $IPS:$PORT backlog=4096;
        server_name connscope-bench;
        root $WWW;
    }
}
EOF
}

# ---------------------------------------------------------------- namespaces
make_namespaces() {
    local ns
    for ns in "$NSC" "$NSS"; do
        ip netns del "$ns" 2>/dev/null || true
        ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    # room for ab's churn: a wide port range on the client, a deep accept queue on the server
    ip netns exec "$NSC" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
    ip netns exec "$NSS" sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
    ip link add "$VC" netns "$NSC" type veth peer name "$VS" netns "$NSS"
    ip -n "$NSC" link set "$VC" address 02:c5:00:00:fe:02 mtu 1500
    ip -n "$NSS" link set "$VS" address 02:c5:00:00:fe:01 mtu 1500
    ip netns exec "$NSC" ethtool -K "$VC" tso off gso off gro off >/dev/null
    ip netns exec "$NSS" ethtool -K "$VS" tso off gso off gro off >/dev/null
    ip -n "$NSC" link set "$VC" up
    ip -n "$NSS" link set "$VS" up
    ip -n "$NSC" addr add "$IPC/24" dev "$VC"
    ip -n "$NSS" addr add "$IPS/24" dev "$VS"
}

wait_listen() {
    local i
    for i in $(seq 100); do
        [[ -n $(ip netns exec "$NSS" ss -Hltn "sport = :$PORT") ]] && return 0
        sleep 0.05
    done
    echo "gen.sh: nginx is not listening" >&2
    exit 1
}

# ---------------------------------------------------------------- one attempt
# attempt CONNS: writes $WORK/bench.pcap and $WORK/bench.nginx.log; returns 3 on drops
attempt() {
    local conns=$1 round=0 t0 size=0 target=$((TARGET_MB * 1000 * 1000)) ngx cap i
    local -a mix
    IFS=, read -r -a mix <<<"$MIX"
    rm -f "$WORK/bench.pcap" "$WORK/bench.nginx.log" "$WORK"/wrk.*.txt "$WORK"/ab.*.txt
    make_namespaces
    write_nginx_conf "$WORK/bench.nginx.log"
    ip netns exec "$NSS" nginx -t -q -c "$WORK/nginx.conf" -e "$WORK/error.log"
    ip netns exec "$NSS" nginx -c "$WORK/nginx.conf" -e "$WORK/error.log" &
    ngx=$!
    PIDS+=("$ngx")
    wait_listen

    # -B in KiB: 256 MiB of kernel buffer so a burst never outruns the writer
    ip netns exec "$NSC" tcpdump -i "$VC" -s 0 -B 262144 -n -Z root -w "$WORK/bench.pcap" \
        2>"$WORK/tcpdump.err" &
    cap=$!
    PIDS+=("$cap")
    for i in $(seq 200); do
        grep -qs 'listening on' "$WORK/tcpdump.err" && break
        sleep 0.05
    done
    grep -qs 'listening on' "$WORK/tcpdump.err" || { cat "$WORK/tcpdump.err" >&2; exit 1; }

    t0=$SECONDS
    while ((size < target && round < MAX_ROUNDS && SECONDS - t0 < MAX_SECS)); do
        round=$((round + 1))
        ip netns exec "$NSC" timeout 60 wrk -t 1 -c "$conns" -d 30s --timeout 5s \
            -s "$HERE/mix.lua" "$URL/" -- "${mix[@]}" "$ROUND_REQS" >"$WORK/wrk.$round.txt" 2>&1
        local path=/s.txt
        ((round % 2)) || path=/m.txt
        ip netns exec "$NSC" timeout 120 ab -q -n "$AB_N" -c 16 -s 5 -r "$URL$path" \
            >"$WORK/ab.$round.txt" 2>&1 || echo "gen.sh: ab round $round failed" >&2
        size=$(stat -c %s "$WORK/bench.pcap")
        printf '  round %d: %s, capture %d MB, %ds\n' "$round" \
            "$(grep -m1 -oE '[0-9]+ requests( in [^,]*|, limit reached)' "$WORK/wrk.$round.txt" || echo 'wrk: ?')" \
            $((size / 1000000)) $((SECONDS - t0)) >&2
    done
    sleep 1 # the last FINs and ACKs
    stop "$cap" INT
    stop "$ngx" QUIT # graceful: flushes the buffered access log
    sed 's/^/  tcpdump: /' "$WORK/tcpdump.err" | grep -E 'captured|received|dropped' >&2 || true
    ip netns del "$NSC"
    ip netns del "$NSS"
    if grep -E 'dropped by (kernel|interface)' "$WORK/tcpdump.err" | grep -qv '^0 '; then
        return 3
    fi
    return 0
}

conns=$CONNS
for try in 1 2 3; do
    echo "gen.sh: capturing about $TARGET_MB MB (rounds of wrk -c $conns with $ROUND_REQS requests, mix $MIX, then ab -n $AB_N)" >&2
    rc=0
    attempt "$conns" || rc=$?
    ((rc == 0)) && break
    ((rc == 3)) || exit "$rc"
    conns=$((conns / 2))
    ((try < 3 && conns >= 2)) || { echo "gen.sh: tcpdump kept dropping packets" >&2; exit 1; }
    echo "gen.sh: tcpdump dropped packets; again with fewer connections" >&2
done

# ---------------------------------------------------------------- shape and install
log=$WORK/bench.nginx.log
{
    echo "capture: $(capinfos -c -M "$WORK/bench.pcap" | awk -F': *' '/Number of packets/ {print $2}') packets, $(stat -c %s "$WORK/bench.pcap") bytes"
    echo "nginx requests: $(wc -l <"$log")"
    echo "nginx connections: $(awk '{print $5}' "$log" | sort -u | wc -l)"
    echo "nginx requests by body: $(awk '{n[$9]++} END {for (k in n) printf "%s=%d ", k, n[k]}' "$log")"
    echo "nginx statuses: $(awk '{n[$11]++} END {for (k in n) printf "%s=%d ", k, n[k]}' "$log")"
    echo "load: $(ls "$WORK"/wrk.*.txt | wc -l) rounds of wrk -t 1 -c $conns -s mix.lua, $ROUND_REQS requests ($MIX per mille of 100 B/10 KB/100 KB), then ab -n $AB_N -c 16 (no keep-alive)"
    echo "tcpdump: $(grep -E 'captured|received|dropped' "$WORK/tcpdump.err" | tr '\n' ';')"
    echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$WORK/shape.txt"
mkdir -p "$OUT"
mv "$WORK/bench.nginx.log" "$OUT/bench.nginx.log"
mv "$WORK/shape.txt" "$OUT/shape.txt"
mv "$WORK/bench.pcap" "$OUT/bench.pcap" # last: its presence marks a complete set
cat "$OUT/shape.txt" >&2
