#!/usr/bin/env bash
# Regenerate the connscope reference captures: one small real packet capture
# per scenario, each next to the server's own access log (ground truth).
#
#   sudo bash captures/generate.sh            # all scenarios
#   sudo bash captures/generate.sh vlan large # only these
#
# Needs root, nginx, haproxy, apache2, ab (apache2-utils), curl, tcpdump, tshark,
# capinfos, iproute2 (ip, tc, ss), ethtool, python3.  Traffic goes only to
# loopback or to network namespaces this script creates (and deletes).
# Ports: 18000-18999.  See captures/README.md for the scenarios.
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN=$OUT/gen
ALL_SCENARIOS=(keepalive conn-close http10 pipelining chunked large idle-timeout
    request-cap midstream ipv6 vlan sll sll2 proxy-close head-304-204 expect-100 rst slowloris
    proxy-default proxy-pool haproxy-httpclose apache-cap nginx-short-timeouts no-reuse-client keepalive-race
    nginx-advertised time-wait)

[[ $(id -u) -eq 0 ]] || { echo "generate.sh: must run as root" >&2; exit 1; }
missing=()
for c in nginx haproxy apache2 ab curl tcpdump tshark capinfos ip tc ss ethtool python3 unshare; do
    command -v "$c" >/dev/null || missing+=("$c")
done
if ((${#missing[@]})); then
    echo "generate.sh: missing: ${missing[*]}" >&2
    echo "  apt-get install -y nginx-light haproxy apache2 apache2-utils curl tcpdump tshark iproute2 ethtool python3 util-linux" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/connscope-captures.XXXXXX)
chmod 755 "$WORK"
# every scenario writes into STAGE; only a scenario that completed and passed
# its checks is moved into captures/ (an interrupted run leaves no half files)
STAGE=$WORK/out
mkdir -p "$STAGE"
PIDS=()
NETNS=()
CAP_PID=

log() { printf '\n=== %s\n' "$*" >&2; }
die() { printf 'generate.sh: ERROR: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local rc=$? p ns
    set +e
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

untrack() { # PID
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# nsx NS CMD... : run CMD inside netns NS ("" = root namespace)
nsx() {
    local ns=$1; shift
    if [[ -n $ns ]]; then ip netns exec "$ns" "$@"; else "$@"; fi
}
# NSPRE: command prefix for NS, so that background jobs are started without a
# wrapper function and $! is the real process (ip netns exec execs, no fork)
nspre() { NSPRE=(); [[ -z ${1:-} ]] || NSPRE=(ip netns exec "$1"); }

port_free() { # PORT [NS]: refuse to start next to a leftover listener
    [[ -z $(nsx "${2:-}" ss -Hltn "sport = :$1") ]] ||
        die "port $1 is already in use${2:+ in netns $2} (leftover process from an earlier run?)"
}

wait_listen() { # PORT [NS]
    local port=$1 ns=${2:-} i
    for i in $(seq 100); do
        [[ -n $(nsx "$ns" ss -Hltn "sport = :$port") ]] && return 0
        sleep 0.05
    done
    die "nothing listening on port $port${ns:+ in netns $ns}"
}

wait_file() { # FILE
    local i
    for i in $(seq 200); do [[ -e $1 ]] && return 0; sleep 0.05; done
    die "timed out waiting for $1"
}

# ---------------------------------------------------------------- content
make_content() {
    local www=$WORK/www
    mkdir -p "$www"
    pattern() { yes 'connscope test data 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c "$1" || true; }
    pattern 100 >"$www/small.txt"
    pattern 200 >"$www/a.txt"
    pattern 1000 >"$www/b.txt"
    pattern 3000 >"$www/c.txt"
    pattern 5000 >"$www/d.txt"
    pattern 10000 >"$www/e.txt"
    pattern 20000 >"$www/text1.txt"
    pattern 50000 >"$www/text2.txt"
    printf '<html><body>connscope</body></html>\n' >"$www/index.html"
    python3 - "$www" "$WORK" <<'PY'
import random, sys
www, work = sys.argv[1], sys.argv[2]
r = random.Random(20240101)
open(f"{www}/big.bin", "wb").write(r.randbytes(256 * 1024))
open(f"{work}/upload.bin", "wb").write(r.randbytes(128 * 1024))
open(f"{work}/chunk-body-1.txt", "wb").write(b"chunked request body line\n" * 120)   # 3120 B
open(f"{work}/chunk-body-2.txt", "wb").write(b"another chunked body line\n" * 800)   # 20800 B
PY
    touch -d '2024-01-01 00:00:00 UTC' "$www"/* "$WORK"/*.bin "$WORK"/*.txt
}

# ---------------------------------------------------------------- nginx
LOGFMT='log_format connscope '"'"'$remote_addr $remote_port $server_addr $server_port $connection $connection_requests $msec "$request" $status $body_bytes_sent "$http_connection"'"'"';'

# nginx_conf ID LISTEN LOGFILE HTTP_EXTRA SERVER_EXTRA
#   writes $WORK/ID/nginx.conf: one worker, one server, root $WORK/www
nginx_conf() {
    local id=$1 listen=$2 logfile=$3 http_extra=$4 server_extra=$5 d=$WORK/$1
    mkdir -p "$d/tmp"
    : >"$logfile"
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    $LOGFMT
    access_log $logfile connscope;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    sendfile off;
    $http_extra
    server {
        listen $listen;
        server_name connscope;
        root $WORK/www;
        location = /nocontent { return 204; }
        $server_extra
    }
}
EOF
}

declare -A NGINX_PID
nginx_start() { # ID PORT [NS]
    local id=$1 port=$2 ns=${3:-}
    port_free "$port" "$ns"
    nspre "$ns"
    "${NSPRE[@]}" nginx -t -q -c "$WORK/$id/nginx.conf" -e "$WORK/$id/error.log" || die "nginx config $id invalid"
    "${NSPRE[@]}" nginx -c "$WORK/$id/nginx.conf" -e "$WORK/$id/error.log" &
    NGINX_PID[$id]=$!
    PIDS+=("$!")
    wait_listen "$port" "$ns"
}
nginx_stop() { # ID
    local p=${NGINX_PID[$1]}
    kill -TERM "$p"; wait "$p" || true
    untrack "$p"
}

declare -A UP_PID
upstream_start() { # ID HOST PORT [NS]
    port_free "$3" "${4:-}"
    nspre "${4:-}"
    "${NSPRE[@]}" python3 "$GEN/upstream.py" "$2" "$3" 2>"$WORK/$1.upstream.log" &
    UP_PID[$1]=$!
    PIDS+=("$!")
    wait_listen "$3" "${4:-}"
}
upstream_stop() {
    local p=${UP_PID[$1]}
    kill -TERM "$p"; wait "$p" || true
    untrack "$p"
}

# ---------------------------------------------------------------- capture
# cap_start NAME IFACE FILTER [NS [EXTRA TCPDUMP ARGS...]]
cap_start() {
    local name=$1 iface=$2 filter=$3 ns=${4:-} i
    shift 4 || shift $#
    rm -f "$STAGE/$name.pcap"
    nspre "$ns"
    "${NSPRE[@]}" tcpdump -i "$iface" -s 0 -U -B 65536 -Z root "$@" -w "$STAGE/$name.pcap" "$filter" \
        2>"$WORK/$name.tcpdump.err" &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    for i in $(seq 200); do
        grep -qs 'listening on' "$WORK/$name.tcpdump.err" && return 0
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/$name.tcpdump.err" >&2
    die "tcpdump for $name did not start"
}
cap_stop() {
    sleep 1 # let the last FIN/ACKs arrive
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    untrack "$CAP_PID"
    local err=("$WORK"/*.tcpdump.err)
    sed 's/^/  tcpdump: /' "${err[0]}" | grep -E 'captured|dropped' >&2 || true
    # a capture with kernel drops is useless as a reference: fail loudly
    if grep -E 'dropped by (kernel|interface)' "${err[0]}" | grep -qv '^0 '; then
        die "tcpdump dropped packets: $(tr '\n' ' ' <"${err[0]}")"
    fi
    rm -f "${err[0]}"
}

# ---------------------------------------------------------------- netns
# ns_pair NSC NSS VC VS IPC IPS MACSUFFIX : two namespaces joined by a veth pair,
# MTU 1500, fixed MACs, IPv6 off, all offloads off (so captures show wire-sized frames)
ns_pair() {
    local nsc=$1 nss=$2 vc=$3 vs=$4 ipc=$5 ips=$6 mac=$7 ns
    for ns in "$nsc" "$nss"; do
        ip netns del "$ns" 2>/dev/null || true
        ip netns add "$ns"
        NETNS+=("$ns")
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip link add "$vc" netns "$nsc" type veth peer name "$vs" netns "$nss"
    ip -n "$nsc" link set "$vc" address "02:c5:00:00:$mac:02" mtu 1500
    ip -n "$nss" link set "$vs" address "02:c5:00:00:$mac:01" mtu 1500
    ip netns exec "$nsc" ethtool -K "$vc" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip netns exec "$nss" ethtool -K "$vs" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip -n "$nsc" link set "$vc" up
    ip -n "$nss" link set "$vs" up
    if [[ -n $ipc ]]; then
        ip -n "$nsc" addr add "$ipc/24" dev "$vc"
        ip -n "$nss" addr add "$ips/24" dev "$vs"
    fi
}

# ---------------------------------------------------------------- verify
MANIFEST_ROWS=()
# per_conn LOG: "CONN:CLIENTPORT=REQUESTS ..." in connection order.
#   nginx log: max $connection_requests (col 6) per $connection (col 5), client port col 2
#   haproxy log (proxy-close): haproxy has no connection serial; requests are counted
#   per client ip:port (cols 1-2) and connections numbered in order of first request
per_conn() {
    case $1 in
    *.haproxy.log)
        awk '{k=$1" "$2; if (!(k in n)) {o[++c]=k; p[k]=$2}; n[k]++}
            END {for (i=1; i<=c; i++) printf "%s%d:%s=%d", (i>1?" ":""), i, p[o[i]], n[o[i]]}' "$1" ;;
    *.apache.log)
        # Apache (apache-cap): no connection serial either; per client ip:port, %k (col 5) is
        # the request's index on the connection from 0, so requests = max(%k) + 1
        awk '{k=$1" "$2; if (!(k in n)) {o[++c]=k; p[k]=$2; n[k]=0}; if ($5 + 1 > n[k]) n[k]=$5 + 1}
            END {for (i=1; i<=c; i++) printf "%s%d:%s=%d", (i>1?" ":""), i, p[o[i]], n[o[i]]}' "$1" ;;
    *)
        awk '{if ($6 > n[$5]) n[$5]=$6; p[$5]=$2} END {for (k in n) print k, p[k], n[k]}' "$1" |
            sort -n | awk '{printf "%s%s:%s=%s", (NR>1?" ":""), $1, $2, $3}' ;;
    esac
}

# verify NAME PORTS MODE LOG... : compare tshark's view of NAME.pcap with the logs.
# MODE "midstream" skips the requests == log lines check, "unlogged=N" adds N to the log lines. One manifest row per log.
verify() {
    local name=$1 ports=$2 mode=$3; shift 3
    local f=$STAGE/$name.pcap p decode=() linktype packets size reqs resps lines=0 lg pc
    for p in $ports; do decode+=(-d "tcp.port==$p,http"); done
    linktype=$(capinfos -E "$f" | sed -n 's/^File encapsulation: *//p')
    packets=$(capinfos -c -M "$f" | sed -n 's/^Number of packets: *//p')
    size=$(stat -c %s "$f")
    # a frame can hold several requests (pipelining): count field occurrences, not frames
    reqs=$(tshark -n -r "$f" "${decode[@]}" -Y http.request -T fields -e http.request.method 2>/dev/null |
        tr ',' '\n' | grep -c . || true)
    resps=$(tshark -n -r "$f" "${decode[@]}" -Y http.response -T fields -e http.response.code 2>/dev/null |
        tr ',' '\n' | grep -c . || true)
    printf '%s: %s, %s packets, %s bytes; tshark: %s requests, %s responses\n' \
        "$name" "$linktype" "$packets" "$size" "$reqs" "$resps" >&2
    for lg in "$@"; do
        pc=$(per_conn "$lg")
        lines=$((lines + $(wc -l <"$lg")))
        printf '  %s: %s lines, %s connections: %s\n' "${lg##*/}" "$(wc -l <"$lg")" "$(wc -w <<<"$pc")" "$pc" >&2
        MANIFEST_ROWS+=("$name.pcap	${lg##*/}	$linktype	$packets	$size	$reqs	$resps	$(wc -l <"$lg")	$(wc -w <<<"$pc")	$pc")
    done
    # nginx logs a request whose head timed out (client_header_timeout) as a 408 line; no
    # request was sent in full, so tshark does not count it.
    if [[ $mode == header-timeout ]]; then
        lines=$((lines - $(grep -c '" 408 ' "$@" || true)))
    fi
    # MODE unlogged=N: N requests were sent (tshark sees them) that no server logged: a
    # request into a connection the server had already closed (apache-cap, keepalive-race)
    if [[ $mode == unlogged=* ]]; then
        lines=$((lines + ${mode#unlogged=}))
    fi
    if [[ $mode != midstream && $reqs != "$lines" ]]; then
        die "$name: tshark sees $reqs requests but the logs have $lines lines"
    fi
}

write_manifest() {
    local m=$OUT/manifest.tsv row
    {
        [[ -f $m ]] && grep -v -e '^#' -e '^pcap' "$m" || true
        for row in "${MANIFEST_ROWS[@]}"; do printf '%s\n' "$row"; done
    } | tac | awk -F'\t' '!seen[$1 FS $2]++' | sort >"$m.tmp"
    {
        printf '# generated by generate.sh. tshark_* count HTTP messages tshark dissects in the pcap (both hops\n'
        printf '# for proxy-close, 100 Continue included); log_* describe that one log; per_connection lists\n'
        printf '# CONNECTION:CLIENT_PORT=REQUESTS (nginx: $connection and max $connection_requests).\n'
        printf 'pcap\tlog\tlinktype\tpackets\tbytes\ttshark_requests\ttshark_responses\tlog_lines\tlog_connections\tper_connection\n'
        cat "$m.tmp"
    } >"$m"
    rm -f "$m.tmp"
}

# curl options; repeat them after every --next. Bodies go to stdout -> /dev/null.
# -w prints status and num_connects (0 = the connection was reused) per URL.
CO=(-sS --max-time 20 -w '%{stderr}  curl: %{http_code} connects=%{num_connects} %{url_effective}\n')
curlm() { curl "${CO[@]}" "$@" >/dev/null; }
curlm_ns() { local ns=$1; shift; ip netns exec "$ns" curl "${CO[@]}" "$@" >/dev/null; }
AB=(ab -q -s 10 -t 20)
ab_run() { "${AB[@]}" "$@" >"$WORK/ab.out" 2>&1 || { cat "$WORK/ab.out" >&2; die "ab failed"; }
    grep -E '^(Complete|Failed|Keep-Alive) requests' "$WORK/ab.out" | sed 's/^/  ab: /' >&2
    grep -Eq '^Failed requests: +0$' "$WORK/ab.out" || die "ab reported failed requests"; }

# ================================================================ scenarios
sc_keepalive() {
    local P=18001 U=http://127.0.0.1:18001
    nginx_conf keepalive "127.0.0.1:$P" "$STAGE/keepalive.nginx.log" "" ""
    nginx_start keepalive $P
    cap_start keepalive lo "tcp port $P"
    curlm $U/a.txt $U/b.txt $U/c.txt $U/d.txt $U/e.txt
    ab_run -k -n 200 -c 4 $U/small.txt
    python3 "$GEN/clients.py" seq 127.0.0.1 $P /a.txt /b.txt /c.txt /d.txt /e.txt \
        /a.txt /b.txt /c.txt /d.txt /e.txt 2>/dev/null
    cap_stop
    nginx_stop keepalive
    verify keepalive $P "" "$STAGE/keepalive.nginx.log"
}

sc_conn-close() {
    local P=18002 U=http://127.0.0.1:18002
    nginx_conf conn-close "127.0.0.1:$P" "$STAGE/conn-close.nginx.log" "" ""
    nginx_start conn-close $P
    cap_start conn-close lo "tcp port $P"
    curlm -H 'Connection: close' $U/a.txt $U/b.txt $U/c.txt $U/d.txt
    ab_run -n 50 -c 5 $U/small.txt
    cap_stop
    nginx_stop conn-close
    verify conn-close $P "" "$STAGE/conn-close.nginx.log"
}

sc_http10() {
    local P=18003 U=http://127.0.0.1:18003
    nginx_conf http10 "127.0.0.1:$P" "$STAGE/http10.nginx.log" "" ""
    nginx_start http10 $P
    cap_start http10 lo "tcp port $P"
    curlm --http1.0 $U/a.txt $U/b.txt $U/c.txt
    curlm --http1.0 -H 'Connection: keep-alive' $U/a.txt $U/b.txt $U/c.txt $U/d.txt
    ab_run -k -n 30 -c 2 $U/small.txt
    cap_stop
    nginx_stop http10
    verify http10 $P "" "$STAGE/http10.nginx.log"
}

sc_pipelining() {
    local P=18004
    nginx_conf pipelining "127.0.0.1:$P" "$STAGE/pipelining.nginx.log" "" ""
    nginx_start pipelining $P
    cap_start pipelining lo "tcp port $P"
    python3 "$GEN/clients.py" pipeline 127.0.0.1 $P
    cap_stop
    nginx_stop pipelining
    verify pipelining $P "" "$STAGE/pipelining.nginx.log"
}

sc_chunked() {
    local P=18005 UP=18105 U=http://127.0.0.1:18005
    nginx_conf chunked "127.0.0.1:$P" "$STAGE/chunked.nginx.log" \
        "gzip on; gzip_types text/plain; gzip_min_length 0;" \
        "location /trailer/ { alias $WORK/www/; add_trailer X-Connscope-Trailer \"end-of-body\"; }
        location = /upload { client_max_body_size 10m; client_body_buffer_size 1m; proxy_pass http://127.0.0.1:$UP; }"
    upstream_start chunked 127.0.0.1 $UP
    nginx_start chunked $P
    cap_start chunked lo "tcp port $P"
    # connection 1: three gzip'd chunked responses, the last one with a trailer
    curlm -v -H 'Accept-Encoding: gzip' $U/text1.txt $U/text2.txt $U/trailer/text1.txt 2>"$WORK/chunked.curl-v"
    [[ $(grep -ci '^< transfer-encoding: chunked' "$WORK/chunked.curl-v") == 3 ]] ||
        die "chunked: curl -v did not see 3 chunked responses"
    # connection 2: two chunked request bodies, then a plain GET, one connection
    curlm -H 'Expect:' -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/chunk-body-1.txt" $U/upload \
        --next "${CO[@]}" -H 'Expect:' -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/chunk-body-2.txt" $U/upload \
        --next "${CO[@]}" $U/a.txt
    # connection 3: a streamed upload (curl -T - sends chunked): one chunk per pipe write,
    # 0.1 s apart, so the chunked body spans several segments
    { for i in 1 2 3; do printf 'streamed part %s of a chunked request body\n' "$i"; sleep 0.1; done; } |
        curlm -X POST -H 'Expect:' -T - $U/upload --next "${CO[@]}" $U/b.txt
    cap_stop
    nginx_stop chunked
    upstream_stop chunked
    verify chunked $P "" "$STAGE/chunked.nginx.log"
    local te trl
    te=$(tshark -n -r "$STAGE/chunked.pcap" -d tcp.port==$P,http -Y 'http.transfer_encoding == "chunked"' 2>/dev/null | wc -l)
    trl=$(tshark -n -r "$STAGE/chunked.pcap" -d tcp.port==$P,http -Y 'http.chunked_trailer_part' 2>/dev/null | wc -l)
    echo "  chunked messages: $te, with trailer: $trl" >&2
    ((te >= 6)) || die "chunked: expected >= 6 chunked messages, got $te"
    ((trl >= 1)) || die "chunked: no trailer seen"
}

sc_large() {
    local P=18006 UP=18106 C=connscope-large-c S=connscope-large-s U=http://10.200.6.1:18006
    ns_pair $C $S cs-large-c cs-large-s 10.200.6.2 10.200.6.1 06
    nginx_conf large "10.200.6.1:$P" "$STAGE/large.nginx.log" "" \
        "location = /upload { client_max_body_size 10m; client_body_buffer_size 2m; proxy_pass http://127.0.0.1:$UP; }"
    upstream_start large 127.0.0.1 $UP $S
    nginx_start large $P $S
    cap_start large cs-large-c "tcp port $P" $C
    curlm_ns $C $U/big.bin $U/big.bin $U/big.bin
    curlm_ns $C -H 'Expect:' --data-binary @"$WORK/upload.bin" $U/upload --next "${CO[@]}" $U/a.txt
    cap_stop
    nginx_stop large
    upstream_stop large
    verify large $P "" "$STAGE/large.nginx.log"
    local maxlen
    maxlen=$(tshark -n -r "$STAGE/large.pcap" -T fields -e frame.len 2>/dev/null | sort -n | tail -1)
    echo "  largest frame: $maxlen bytes" >&2
    ((maxlen <= 1514)) || die "large: frames bigger than Ethernet MTU (offloads still on?)"
}

sc_idle-timeout() {
    local P=18007
    nginx_conf idle-timeout "127.0.0.1:$P" "$STAGE/idle-timeout.nginx.log" "keepalive_timeout 1s;" ""
    nginx_start idle-timeout $P
    cap_start idle-timeout lo "tcp port $P"
    python3 "$GEN/clients.py" idle 127.0.0.1 $P /a.txt /b.txt
    cap_stop
    nginx_stop idle-timeout
    verify idle-timeout $P "" "$STAGE/idle-timeout.nginx.log"
}

sc_slowloris() {
    local P=18018
    nginx_conf slowloris "127.0.0.1:$P" "$STAGE/slowloris.nginx.log" "client_header_timeout 2s;" ""
    nginx_start slowloris $P
    cap_start slowloris lo "tcp port $P"
    python3 "$GEN/clients.py" slowloris 127.0.0.1 $P
    sleep 0.5
    cap_stop
    nginx_stop slowloris
    verify slowloris $P header-timeout "$STAGE/slowloris.nginx.log"
}

sc_request-cap() {
    local P=18008 U=http://127.0.0.1:18008
    nginx_conf request-cap "127.0.0.1:$P" "$STAGE/request-cap.nginx.log" "keepalive_requests 3;" ""
    nginx_start request-cap $P
    cap_start request-cap lo "tcp port $P"
    ab_run -k -n 20 -c 1 $U/small.txt
    curlm $U/a.txt $U/b.txt $U/c.txt $U/d.txt $U/e.txt $U/a.txt $U/b.txt
    cap_stop
    nginx_stop request-cap
    verify request-cap $P "" "$STAGE/request-cap.nginx.log"
}

sc_midstream() {
    local P=18009 U=http://127.0.0.1:18009 pid
    nginx_conf midstream "127.0.0.1:$P" "$STAGE/midstream.nginx.log" "" ""
    nginx_start midstream $P
    rm -f "$WORK/ms.ready" "$WORK/ms.go"
    python3 "$GEN/clients.py" midstream 127.0.0.1 $P "$WORK/ms.ready" "$WORK/ms.go" 2>/dev/null &
    pid=$!
    PIDS+=("$pid")
    wait_file "$WORK/ms.ready"
    cap_start midstream lo "tcp port $P"
    touch "$WORK/ms.go"
    wait "$pid" || die "midstream client failed"
    untrack "$pid"
    curlm $U/a.txt $U/b.txt # a second, complete connection
    cap_stop
    nginx_stop midstream
    verify midstream $P midstream "$STAGE/midstream.nginx.log"
}

sc_ipv6() {
    local P=18010 U='http://[::1]:18010'
    nginx_conf ipv6 "[::1]:$P" "$STAGE/ipv6.nginx.log" "" ""
    nginx_start ipv6 $P
    cap_start ipv6 lo "tcp port $P"
    curlm -g $U/a.txt $U/b.txt $U/c.txt $U/d.txt
    curlm -g -H 'Connection: close' $U/e.txt
    cap_stop
    nginx_stop ipv6
    verify ipv6 $P "" "$STAGE/ipv6.nginx.log"
}

VLAN_MODE=
sc_vlan() {
    local P=18011 C=connscope-vlan-c S=connscope-vlan-s U=http://10.200.100.1:18011 ns dev
    ns_pair $C $S cs-vlan-c cs-vlan-s "" "" 64
    if ip -n $C link add link cs-vlan-c name cs-vlan-c.100 type vlan id 100 2>/dev/null; then
        VLAN_MODE=8021q
        ip -n $S link add link cs-vlan-s name cs-vlan-s.100 type vlan id 100
        ip -n $C addr add 10.200.100.2/24 dev cs-vlan-c.100
        ip -n $S addr add 10.200.100.1/24 dev cs-vlan-s.100
        ip -n $C link set cs-vlan-c.100 up
        ip -n $S link set cs-vlan-s.100 up
    else
        # No 802.1Q support in this kernel (CONFIG_VLAN_8021Q off): tag/untag in
        # tc with a 5-instruction eBPF program (bpf_skb_vlan_push/pop) on both
        # veth ends instead. The frames on the veth are the same 802.1Q frames.
        VLAN_MODE=tc-bpf
        ip -n $C addr add 10.200.100.2/24 dev cs-vlan-c
        ip -n $S addr add 10.200.100.1/24 dev cs-vlan-s
        mkdir -p "$WORK/bpffs"
        unshare -m bash -euc '
            mount -t bpf bpf "$1"
            python3 "$2/bpfvlan.py" push 100 "$1/push"
            python3 "$2/bpfvlan.py" pop "$1/pop"
            for nd in "$3:cs-vlan-c" "$4:cs-vlan-s"; do
                tc -n "${nd%%:*}" qdisc add dev "${nd#*:}" clsact
                tc -n "${nd%%:*}" filter add dev "${nd#*:}" egress bpf da object-pinned "$1/push"
                tc -n "${nd%%:*}" filter add dev "${nd#*:}" ingress bpf da object-pinned "$1/pop"
            done' _ "$WORK/bpffs" "$GEN" $C $S
    fi
    echo "  vlan mode: $VLAN_MODE" >&2
    nginx_conf vlan "10.200.100.1:$P" "$STAGE/vlan.nginx.log" "" ""
    nginx_start vlan $P $S
    cap_start vlan cs-vlan-c "vlan 100 and tcp port $P" $C
    curlm_ns $C $U/a.txt $U/b.txt $U/c.txt
    cap_stop
    nginx_stop vlan
    verify vlan $P "" "$STAGE/vlan.nginx.log"
    local tagged total
    total=$(tshark -n -r "$STAGE/vlan.pcap" 2>/dev/null | wc -l)
    tagged=$(tshark -n -r "$STAGE/vlan.pcap" -Y 'vlan.id == 100' 2>/dev/null | wc -l)
    echo "  802.1Q-tagged frames: $tagged of $total" >&2
    ((tagged == total && total > 0)) || die "vlan: not all frames carry VLAN 100"
}

sc_sll_common() { # NAME PORT DLT
    local name=$1 P=$2 dlt=$3 U=http://127.0.0.1:$2 enc
    nginx_conf "$name" "127.0.0.1:$P" "$STAGE/$name.nginx.log" "" ""
    nginx_start "$name" "$P"
    cap_start "$name" any "tcp port $P" "" -y "$dlt"
    curlm $U/a.txt $U/b.txt $U/c.txt
    cap_stop
    nginx_stop "$name"
    verify "$name" "$P" "" "$STAGE/$name.nginx.log"
    enc=$(tshark -n -r "$STAGE/$name.pcap" -T fields -e frame.encap_type 2>/dev/null | sort -u | tr '\n' ' ')
    echo "  frame.encap_type: $enc" >&2
}
sc_sll() { sc_sll_common sll 18012 LINUX_SLL; }
sc_sll2() { sc_sll_common sll2 18013 LINUX_SLL2; }

sc_proxy-close() {
    local P=18014 NP=18114 U=http://127.0.0.1:18014 hp
    nginx_conf proxy-close "127.0.0.1:$NP" "$STAGE/proxy-close.nginx.log" "" ""
    nginx_start proxy-close $NP
    mkdir -p "$WORK/haproxy"
    # the haproxy log mirrors the nginx columns where haproxy has them:
    # client_ip client_port frontend_ip frontend_port backend_src_ip backend_src_port
    # server_ip server_port request_accept_time(s.ms) "request" status bytes_sent_to_client
    # (bytes include the response headers; haproxy strips Connection before captures)
    cat >"$WORK/haproxy/haproxy.cfg" <<EOF
global
    log stdout format raw local0
    pidfile $WORK/haproxy/haproxy.pid
defaults
    mode http
    log global
    option httplog
    option http-server-close
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend fe
    bind 127.0.0.1:$P
    log-format "%ci %cp %fi %fp %bi %bp %si %sp %Ts.%ms %{+Q}r %ST %B"
    default_backend be
backend be
    server nginx 127.0.0.1:$NP
EOF
    haproxy -c -q -f "$WORK/haproxy/haproxy.cfg" || die "haproxy config invalid"
    : >"$STAGE/proxy-close.haproxy.log"
    port_free $P
    haproxy -db -f "$WORK/haproxy/haproxy.cfg" >"$STAGE/proxy-close.haproxy.log" 2>"$WORK/haproxy/stderr" &
    hp=$!
    PIDS+=("$hp")
    wait_listen $P
    cap_start proxy-close lo "tcp port $P or tcp port $NP"
    curlm $U/a.txt $U/b.txt $U/c.txt $U/d.txt $U/e.txt
    ab_run -k -n 30 -c 2 $U/small.txt
    cap_stop
    kill -TERM "$hp"; wait "$hp" || true
    untrack "$hp"
    nginx_stop proxy-close
    # both hops are HTTP: tshark counts 2 x requests = nginx lines + haproxy lines
    verify proxy-close "$P $NP" "" "$STAGE/proxy-close.nginx.log" "$STAGE/proxy-close.haproxy.log"
}

sc_head-304-204() {
    local P=18015
    nginx_conf head-304-204 "127.0.0.1:$P" "$STAGE/head-304-204.nginx.log" "" ""
    nginx_start head-304-204 $P
    cap_start head-304-204 lo "tcp port $P"
    python3 "$GEN/clients.py" head304 127.0.0.1 $P
    cap_stop
    nginx_stop head-304-204
    verify head-304-204 $P "" "$STAGE/head-304-204.nginx.log"
}

sc_expect-100() {
    local P=18016 UP=18116 U=http://127.0.0.1:18016 n
    nginx_conf expect-100 "127.0.0.1:$P" "$STAGE/expect-100.nginx.log" "" \
        "location = /upload { client_max_body_size 10m; client_body_buffer_size 2m; proxy_pass http://127.0.0.1:$UP; }"
    upstream_start expect-100 127.0.0.1 $UP
    nginx_start expect-100 $P
    cap_start expect-100 lo "tcp port $P"
    curlm -H 'Expect: 100-continue' --data-binary @"$WORK/upload.bin" $U/upload --next "${CO[@]}" $U/a.txt
    cap_stop
    nginx_stop expect-100
    upstream_stop expect-100
    verify expect-100 $P "" "$STAGE/expect-100.nginx.log"
    n=$(tshark -n -r "$STAGE/expect-100.pcap" -d tcp.port==$P,http -Y 'http.response.code == 100' 2>/dev/null | wc -l)
    echo "  100 Continue responses: $n" >&2
    ((n == 1)) || die "expect-100: no 100 Continue in the capture"
}

sc_rst() {
    local P=18017 n
    nginx_conf rst "127.0.0.1:$P" "$STAGE/rst.nginx.log" "" ""
    nginx_start rst $P
    cap_start rst lo "tcp port $P"
    python3 "$GEN/clients.py" rst 127.0.0.1 $P /a.txt /b.txt
    cap_stop
    nginx_stop rst
    verify rst $P "" "$STAGE/rst.nginx.log"
    n=$(tshark -n -r "$STAGE/rst.pcap" -Y 'tcp.flags.reset == 1' 2>/dev/null | wc -l)
    echo "  RST segments: $n" >&2
    ((n >= 1)) || die "rst: no RST in the capture"
}

# ---------------------------------------------------------------- findings scenarios
# Each one loses (or keeps) connection reuse for one reason connscope should name.
# Ports: fronts 18019-18027, their upstreams 18119-18125.

# proxy_conf ID LISTEN LOGFILE UPSTREAM_BLOCK LOCATION_EXTRA: an nginx reverse proxy
# whose "location /" passes everything to "upstream backend"
proxy_conf() {
    nginx_conf "$1" "$2" "$3" "upstream backend { $4 }" \
        "location / { proxy_pass http://backend; $5 }"
}

# server_idle_closes NAME PORT: for every connection the server closed first (its FIN
# before any client FIN), the seconds from the last payload byte (either side) to that FIN
server_idle_closes() {
    tshark -n -r "$STAGE/$1.pcap" -Y "tcp.port == $2" -T fields -e tcp.stream -e frame.time_epoch \
        -e tcp.srcport -e tcp.len -e tcp.flags.fin 2>/dev/null |
        awk -v P="$2" '$4 > 0 {last[$1] = $2}
            $5 == 1 && $3 != P {cfin[$1] = 1}
            $5 == 1 && $3 == P && !cfin[$1] && !done[$1]++ && ($1 in last) {printf "%s%.3f", (n++ ? " " : ""), $2 - last[$1]}
            END {print ""}'
}

# first_closers NAME PORT: "server=N client=M": for how many connections the server's
# (source port PORT) or the client's FIN came first
first_closers() {
    tshark -n -r "$STAGE/$1.pcap" -Y "tcp.port == $2 && tcp.flags.fin == 1" -T fields -e tcp.stream \
        -e tcp.srcport 2>/dev/null |
        awk -v P="$2" '!seen[$1]++ {if ($2 == P) s++; else c++} END {printf "server=%d client=%d\n", s, c}'
}

sc_proxy-default() {
    local P=18019 UP=18119 U=http://127.0.0.1:18019
    nginx_conf proxy-default-up "127.0.0.1:$UP" "$STAGE/proxy-default.upstream.nginx.log" "" ""
    nginx_start proxy-default-up $UP
    # nginx's defaults for the upstream hop: HTTP/1.0 and "Connection: close", no pool
    proxy_conf proxy-default "127.0.0.1:$P" "$STAGE/proxy-default.nginx.log" "server 127.0.0.1:$UP;" ""
    nginx_start proxy-default $P
    cap_start proxy-default lo "tcp port $P or tcp port $UP"
    curlm $U/a.txt $U/b.txt $U/c.txt $U/d.txt $U/e.txt
    ab_run -k -n 60 -c 2 $U/small.txt
    nginx_stop proxy-default
    cap_stop
    nginx_stop proxy-default-up
    verify proxy-default "$P $UP" "" "$STAGE/proxy-default.nginx.log" "$STAGE/proxy-default.upstream.nginx.log"
    local v c
    v=$(tshark -n -r "$STAGE/proxy-default.pcap" -d tcp.port==$UP,http -Y "tcp.dstport == $UP && http.request" \
        -T fields -e http.request.version -e http.connection 2>/dev/null | sort | uniq -c | tr -s ' \t\n' ' ')
    echo "  upstream requests (version, Connection):$v" >&2
    [[ $v == " 65 HTTP/1.0 close " ]] || die "proxy-default: expected 65 HTTP/1.0 Connection: close upstream requests"
}

sc_proxy-pool() {
    local P=18020 UP=18120 U=http://127.0.0.1:18020 v
    nginx_conf proxy-pool-up "127.0.0.1:$UP" "$STAGE/proxy-pool.upstream.nginx.log" "" ""
    nginx_start proxy-pool-up $UP
    proxy_conf proxy-pool "127.0.0.1:$P" "$STAGE/proxy-pool.nginx.log" "server 127.0.0.1:$UP; keepalive 4;" \
        "proxy_http_version 1.1; proxy_set_header Connection \"\";"
    nginx_start proxy-pool $P
    cap_start proxy-pool lo "tcp port $P or tcp port $UP"
    curlm $U/a.txt $U/b.txt $U/c.txt $U/d.txt $U/e.txt
    ab_run -k -n 60 -c 2 $U/small.txt
    # stop the proxy before the capture ends: it closes its pooled connections (FIN), so
    # the upstream hop is captured from SYN to FIN too
    nginx_stop proxy-pool
    cap_stop
    nginx_stop proxy-pool-up
    verify proxy-pool "$P $UP" "" "$STAGE/proxy-pool.nginx.log" "$STAGE/proxy-pool.upstream.nginx.log"
    v=$(tshark -n -r "$STAGE/proxy-pool.pcap" -d tcp.port==$UP,http -Y "tcp.dstport == $UP && http.request" \
        -T fields -e http.request.version 2>/dev/null | sort | uniq -c | tr -s ' \t\n' ' ')
    echo "  upstream requests by version:$v" >&2
    (($(wc -l <"$STAGE/proxy-pool.upstream.nginx.log") > 3 * $(per_conn "$STAGE/proxy-pool.upstream.nginx.log" | wc -w))) ||
        die "proxy-pool: the upstream connections are not reused"
}

sc_haproxy-httpclose() {
    local P=18021 NP=18121 U=http://127.0.0.1:18021 hp d=$WORK/haproxy-httpclose
    nginx_conf haproxy-httpclose "127.0.0.1:$NP" "$STAGE/haproxy-httpclose.nginx.log" "" ""
    nginx_start haproxy-httpclose $NP
    mkdir -p "$d"
    # as proxy-close, but "option httpclose" (close both sides after every response)
    # instead of http-server-close, and the log has four more columns:
    # %rt (haproxy's request counter) %tsc (termination state) %ac/%fc/%bc/%sc/%rc (conn
    # counts: process, frontend, backend, server; retries)
    cat >"$d/haproxy.cfg" <<EOC
global
    log stdout format raw local0
    pidfile $d/haproxy.pid
defaults
    mode http
    log global
    option httplog
    option httpclose
    # ab opens one connection more than it uses and closes it unused; haproxy would
    # answer it with a 400 and log a <BADREQ> line. Close such empty connections silently.
    option http-ignore-probes
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend fe
    bind 127.0.0.1:$P
    log-format "%ci %cp %fi %fp %bi %bp %si %sp %Ts.%ms %{+Q}r %ST %B %rt %tsc %ac/%fc/%bc/%sc/%rc"
    default_backend be
backend be
    server nginx 127.0.0.1:$NP
EOC
    haproxy -c -q -f "$d/haproxy.cfg" || die "haproxy config invalid"
    : >"$STAGE/haproxy-httpclose.haproxy.log"
    port_free $P
    haproxy -db -f "$d/haproxy.cfg" >"$STAGE/haproxy-httpclose.haproxy.log" 2>"$d/stderr" &
    hp=$!
    PIDS+=("$hp")
    wait_listen $P
    cap_start haproxy-httpclose lo "tcp port $P or tcp port $NP"
    curlm $U/a.txt $U/b.txt $U/c.txt $U/d.txt $U/e.txt
    ab_run -k -n 30 -c 2 $U/small.txt
    cap_stop
    kill -TERM "$hp"; wait "$hp" || true
    untrack "$hp"
    nginx_stop haproxy-httpclose
    verify haproxy-httpclose "$P $NP" "" "$STAGE/haproxy-httpclose.haproxy.log" "$STAGE/haproxy-httpclose.nginx.log"
    local cc
    cc=$(tshark -n -r "$STAGE/haproxy-httpclose.pcap" -d tcp.port==$P,http -Y "tcp.srcport == $P && http.connection == \"close\"" 2>/dev/null | wc -l)
    echo "  responses to the clients with Connection: close: $cc" >&2
}

sc_apache-cap() {
    local P=18022 U=http://127.0.0.1:18022 d=$WORK/apache-cap ap m k
    mkdir -p "$d"
    : >"$STAGE/apache-cap.apache.log"
    m=/usr/lib/apache2/modules
    cat >"$d/apache2.conf" <<EOC
ServerRoot $d
DefaultRuntimeDir $d
PidFile $d/apache2.pid
Mutex file:$d default
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule mime_module $m/mod_mime.so
User www-data
Group www-data
ServerName connscope
Listen 127.0.0.1:$P
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
KeepAlive On
MaxKeepAliveRequests 5
KeepAliveTimeout 2
EnableSendfile Off
TypesConfig /etc/mime.types
ErrorLog $d/error.log
LogLevel info
LogFormat "%{c}a %{remote}p %A %{local}p %k %{%s}t.%{msec_frac}t \"%r\" %>s %B \"%{Connection}i\" \"%{Connection}o\" \"%{Keep-Alive}o\"" connscope
CustomLog $STAGE/apache-cap.apache.log connscope
DocumentRoot $WORK/www
<Directory />
    Require all granted
</Directory>
EOC
    apache2 -t -f "$d/apache2.conf" 2>"$d/t.err" || { cat "$d/t.err" >&2; die "apache config invalid"; }
    port_free $P
    apache2 -f "$d/apache2.conf" -DFOREGROUND 2>"$d/stderr" &
    ap=$!
    PIDS+=("$ap")
    wait_listen $P
    cap_start apache-cap lo "tcp port $P"
    ab_run -k -n 40 -c 2 $U/small.txt
    python3 "$GEN/clients.py" stale 127.0.0.1 $P 3
    cap_stop
    kill -TERM "$ap"; wait "$ap" || true
    untrack "$ap"
    # the stale client's 3rd request went into a connection Apache had closed: in the
    # capture, in no log
    verify apache-cap $P unlogged=1 "$STAGE/apache-cap.apache.log"
    k=$(awk '{print $5}' "$STAGE/apache-cap.apache.log" | sort -n | tail -1)
    echo "  max %k: $k (requests per connection at most $((k + 1)))" >&2
    # Apache counts MaxKeepAliveRequests in kept-alive requests, after the first one: 5 lets a
    # connection carry 6 requests (%k 0..5); the 6th response says Connection: close
    ((k == 5)) || die "apache-cap: expected max %k 5 (MaxKeepAliveRequests 5 = 6 requests)"
    echo "  Keep-Alive response headers: $(tshark -n -r "$STAGE/apache-cap.pcap" -d tcp.port==$P,http \
        -Y http.response -T fields -E aggregator='|' -e http.response.line 2>/dev/null | tr '|' '\n' |
        sed -n 's/^Keep-Alive: \(.*\)\\r\\n$/\1/p' | sort | uniq -c | tr -s ' \t\n' ' ')" >&2
    echo "  server idle closes (s from last byte to server FIN): $(server_idle_closes apache-cap $P)" >&2
}

sc_nginx-short-timeouts() {
    local P=18023 U=http://127.0.0.1:18023 a=() i
    nginx_conf nginx-short-timeouts "127.0.0.1:$P" "$STAGE/nginx-short-timeouts.nginx.log" \
        "keepalive_timeout 1s; keepalive_requests 10;" ""
    nginx_start nginx-short-timeouts $P
    cap_start nginx-short-timeouts lo "tcp port $P"
    for i in $(seq 25); do a+=("$U/small.txt?n=$i"); done
    curlm "${a[@]}"
    python3 "$GEN/clients.py" gaps 127.0.0.1 $P 1.5 5 /a.txt
    cap_stop
    nginx_stop nginx-short-timeouts
    verify nginx-short-timeouts $P "" "$STAGE/nginx-short-timeouts.nginx.log"
    echo "  server idle closes (s from last byte to server FIN): $(server_idle_closes nginx-short-timeouts $P)" >&2
}

sc_no-reuse-client() {
    local P=18024 U=http://127.0.0.1:18024 i
    nginx_conf no-reuse-client "127.0.0.1:$P" "$STAGE/no-reuse-client.nginx.log" "" ""
    nginx_start no-reuse-client $P
    cap_start no-reuse-client lo "tcp port $P"
    for i in 1 2 3 4 5 6 7 8 9 10; do curlm "$U/small.txt?n=$i"; done
    python3 "$GEN/clients.py" fresh 127.0.0.1 $P /a.txt /b.txt /c.txt /d.txt /e.txt \
        /a.txt /b.txt /c.txt /d.txt /e.txt
    cap_stop
    nginx_stop no-reuse-client
    verify no-reuse-client $P "" "$STAGE/no-reuse-client.nginx.log"
}

sc_keepalive-race() {
    local P=18025 UP=18125 NSP=connscope-race-p NSU=connscope-race-u w n502 nerr
    for ns in $NSP $NSU; do
        ip netns del "$ns" 2>/dev/null || true
        ip netns add "$ns"
        NETNS+=("$ns")
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    # the upstream hop: 10.200.25.1 (proxy) <-> 10.200.25.2 (upstream), 10 ms one way
    ip -n $NSP tuntap add dev csr-p mode tun
    ip -n $NSU tuntap add dev csr-u mode tun
    ip -n $NSP addr add 10.200.25.1/24 dev csr-p
    ip -n $NSU addr add 10.200.25.2/24 dev csr-u
    ip -n $NSP link set csr-p up
    ip -n $NSU link set csr-u up
    python3 "$GEN/tunwire.py" $NSP csr-p $NSU csr-u 10 "$WORK/tunwire.ready" 2>"$WORK/tunwire.err" &
    w=$!
    PIDS+=("$w")
    wait_file "$WORK/tunwire.ready"
    : >"$STAGE/keepalive-race.upstream.log"
    port_free $UP $NSU
    ip netns exec $NSU python3 "$GEN/race_upstream.py" 10.200.25.2 $UP 1.0 "$STAGE/keepalive-race.upstream.log" \
        2>"$WORK/race_upstream.err" &
    UP_PID[keepalive-race]=$!
    PIDS+=("$!")
    wait_listen $UP $NSU
    proxy_conf keepalive-race "127.0.0.1:$P" "$STAGE/keepalive-race.nginx.log" \
        "server 10.200.25.2:$UP; keepalive 8; keepalive_timeout 60s;" \
        "proxy_http_version 1.1; proxy_set_header Connection \"\";"
    nginx_start keepalive-race $P $NSP
    # both hops, seen from the proxy's namespace: lo (client) and csr-p (upstream)
    cap_start keepalive-race any "tcp port $P or tcp port $UP" $NSP -y LINUX_SLL2
    ip netns exec $NSP python3 "$GEN/clients.py" race 127.0.0.1 $P 80 20240101
    nginx_stop keepalive-race
    cap_stop
    upstream_stop keepalive-race
    kill -TERM "$w"; wait "$w" || true
    untrack "$w"
    cp "$WORK/keepalive-race/error.log" "$STAGE/keepalive-race.error.log"
    n502=$(grep -c '" 502 ' "$STAGE/keepalive-race.nginx.log" || true)
    nerr=$(grep -c -E 'upstream prematurely closed|Connection reset by peer|recv\(\) failed' "$STAGE/keepalive-race.error.log" || true)
    echo "  502s in the access log: $n502; upstream failures in the error log: $nerr" >&2
    grep -oE '\[error\] [0-9#]+: \*[0-9]+ [^,]*' "$STAGE/keepalive-race.error.log" | sed 's/^.*\*[0-9]* /    /' | sort | uniq -c >&2 || true
    echo "  upstream closes: $(grep -c idle "$WORK/race_upstream.err") idle, $(grep -vc idle "$WORK/race_upstream.err") other" >&2
    ((n502 >= 3)) || die "keepalive-race: only $n502 502s (want >= 3)"
    ((nerr == n502)) || die "keepalive-race: $nerr error-log failures but $n502 502s"
    # every failed POST was sent upstream once (tshark sees it) but the upstream never read it
    verify keepalive-race "$P $UP" "unlogged=$n502" "$STAGE/keepalive-race.nginx.log" "$STAGE/keepalive-race.upstream.log"
}

sc_nginx-advertised() {
    local P=18026 U=http://127.0.0.1:18026 idle n ka
    # keepalive_timeout TIMEOUT HEADER: nginx closes idle connections after 1 s but tells
    # keep-alive clients "Keep-Alive: timeout=5"
    nginx_conf nginx-advertised "127.0.0.1:$P" "$STAGE/nginx-advertised.nginx.log" "keepalive_timeout 1s 5s;" ""
    nginx_start nginx-advertised $P
    cap_start nginx-advertised lo "tcp port $P"
    ab_run -k -n 20 -c 1 $U/small.txt
    python3 "$GEN/clients.py" advertised 127.0.0.1 $P 8 20240101 5 /a.txt /b.txt /c.txt /d.txt
    ab_run -k -n 20 -c 1 $U/small.txt
    cap_stop
    nginx_stop nginx-advertised
    verify nginx-advertised $P "" "$STAGE/nginx-advertised.nginx.log"
    ka=$(tshark -n -r "$STAGE/nginx-advertised.pcap" -d tcp.port==$P,http -Y http.response -T fields \
        -E aggregator='|' -e http.response.line 2>/dev/null | tr '|' '\n' |
        sed -n 's/^Keep-Alive: \(.*\)\\r\\n$/\1/p' | sort | uniq -c | tr -s ' \t\n' ' ')
    echo "  Keep-Alive response headers:$ka" >&2
    # every request asked for keep-alive, so every response advertises timeout=5
    [[ $ka == " $(wc -l <"$STAGE/nginx-advertised.nginx.log") timeout=5 " ]] ||
        die "nginx-advertised: expected every response to carry Keep-Alive: timeout=5"
    idle=$(server_idle_closes nginx-advertised $P)
    echo "  server idle closes (s from last byte to server FIN): $idle" >&2
    echo "  first FIN: $(first_closers nginx-advertised $P)" >&2
    n=$(awk '{for (i = 1; i <= NF; i++) if ($i >= 0.9 && $i <= 1.2) k++} END {print k + 0}' <<<"$idle")
    ((n >= 6)) || die "nginx-advertised: only $n server idle closes of about 1 s (want >= 6)"
}

sc_time-wait() {
    local P=18027 U=http://127.0.0.1:18027 i tw size
    nginx_conf time-wait "127.0.0.1:$P" "$STAGE/time-wait.nginx.log" "" ""
    nginx_start time-wait $P
    cap_start time-wait lo "tcp port $P"
    # 1500 connections of one HTTP/1.0 request each (no keep-alive), 5 rounds 2 s apart
    for i in 1 2 3 4 5; do
        ((i == 1)) || sleep 2
        ab_run -n 300 -c 4 $U/small.txt
    done
    # the kernel's own count: sockets on the server port in TIME_WAIT right after the clients
    tw=$(ss -Htan state time-wait "( sport = :$P )" | wc -l)
    cap_stop
    nginx_stop time-wait
    verify time-wait $P "" "$STAGE/time-wait.nginx.log"
    echo "  sockets in TIME_WAIT on port $P after the last round (ss): $tw" >&2
    echo "  first FIN: $(first_closers time-wait $P)" >&2
    [[ $(per_conn "$STAGE/time-wait.nginx.log" | tr ' ' '\n' | grep -vc '=1$') == 0 ]] ||
        die "time-wait: a connection carried more than one request"
    size=$(stat -c %s "$STAGE/time-wait.pcap")
    ((size < 4000000)) || die "time-wait: the capture is $size bytes (want < 4 MB)"
}

# ================================================================ main
scenarios=("$@")
((${#scenarios[@]})) || scenarios=("${ALL_SCENARIOS[@]}")
for s in "${scenarios[@]}"; do
    declare -F "sc_$s" >/dev/null || die "unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})"
done
make_content
for s in "${scenarios[@]}"; do
    log "$s"
    "sc_$s"
    mv -f "$STAGE/$s".* "$OUT/"
    write_manifest
    MANIFEST_ROWS=()
done
log "done: $(du -ch "$OUT"/*.pcap | tail -1 | cut -f1) of captures in $OUT"
