#!/usr/bin/env bash
# `make bench`, first half: times connscope against tcptrace, tshark and `cat` on one large
# capture of real HTTP load, and checks the request count against nginx's log and tshark.
#
#   bash bench/run.sh            (after `cargo build --release`; `make bench` does both)
#
# Environment:
#   CONNSCOPE_BENCH_DIR    where the capture is cached (default ~/.cache/connscope-bench;
#                          never inside the repository)
#   CONNSCOPE_BENCH_MB     capture size in MB; generation stops once it passes this (950)
#   CONNSCOPE_BENCH_REGEN  1: make a new capture even if one is cached
#   CONNSCOPE_BENCH_RUNS   timed runs per tool, interleaved round-robin (3)
#   CONNSCOPE_BENCH_TOOLS  which to time (default "connscope tcptrace tshark cat")
#   more knobs for the load: see bench/gen.sh
# The capture is made by bench/gen.sh (root: network namespaces) and reused afterwards; a
# different CONNSCOPE_BENCH_MB gets its own cache directory.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MB=${CONNSCOPE_BENCH_MB:-950}
BASE=${CONNSCOPE_BENCH_DIR:-${HOME:-/root}/.cache/connscope-bench}
DIR=$BASE/mb$MB
RUNS=${CONNSCOPE_BENCH_RUNS:-3}
TOOLS=${CONNSCOPE_BENCH_TOOLS:-connscope tcptrace tshark cat}
BIN=$REPO/target/release/connscope
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo

case $DIR/ in
"$REPO"/*) echo "bench: CONNSCOPE_BENCH_DIR must be outside the repository" >&2; exit 2 ;;
esac
[[ -x $BIN ]] || { echo "bench: $BIN missing: run cargo build --release (make bench does)" >&2; exit 2; }

# ---------------------------------------------------------------- tools
need=()
declare -A PKG=([nginx]=nginx-light [wrk]=wrk [ab]=apache2-utils [tcpdump]=tcpdump
    [capinfos]=wireshark-common [tshark]=tshark [tcptrace]=tcptrace [ethtool]=ethtool
    [ip]=iproute2 [python3]=python3)
for c in "${!PKG[@]}"; do command -v "$c" >/dev/null || need+=("${PKG[$c]}"); done
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
    echo "bench: installing ${need[*]}" >&2
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi

# ---------------------------------------------------------------- capture
PCAP=$DIR/bench.pcap
if [[ ${CONNSCOPE_BENCH_REGEN:-0} == 1 || ! -s $PCAP || ! -s $DIR/bench.nginx.log ]]; then
    rm -f "$PCAP"
    echo "bench: making the capture in $DIR (about 15 s of load)" >&2
    $SUDO env "PATH=$PATH" $(env | grep -o '^CONNSCOPE_BENCH_[A-Z_]*=[^ ]*') \
        bash "$REPO/bench/gen.sh" "$DIR"
else
    echo "bench: reusing $PCAP (CONNSCOPE_BENCH_REGEN=1 makes a new one)" >&2
fi

# the criterion benches (benches/hot_paths.rs) also run over the first 100,000 packets
if [[ ! -s $DIR/slice.pcap || $DIR/slice.pcap -ot $PCAP ]]; then
    editcap -r "$PCAP" "$DIR/slice.pcap" 1-100000
fi

# ---------------------------------------------------------------- timing
RES=$DIR/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RES"
cmd_of() {
    case $1 in
    # jsonl streams its records as connections finish, as text does; json keeps them all
    # for one document (memory grows with the capture's connections: see BENCHMARKS.md)
    connscope) echo "$BIN analyze --format jsonl $PCAP" ;;
    tcptrace) echo "tcptrace -n -l $PCAP" ;;
    tshark) echo "tshark -q -n -r $PCAP -z http,stat" ;;
    cat) echo "cat $PCAP" ;;
    *) echo "bench: unknown tool $1" >&2; exit 2 ;;
    esac
}
{
    echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "versions: $("$BIN" --version 2>/dev/null || echo connscope), $(tcptrace -v 2>&1 | grep -o 'version [0-9.]*' | head -1 | sed 's/^/tcptrace /'), $(tshark --version 2>/dev/null | head -1)"
    cat "$DIR/shape.txt"
} >"$RES/env.txt"
cat "$RES/env.txt"

echo "bench: warming the page cache" >&2
cat "$PCAP" >/dev/null
for run in $(seq "$RUNS"); do
    for tool in $TOOLS; do
        out=$RES/$tool.out
        [[ $tool != cat ]] || out=/dev/null
        # shellcheck disable=SC2046 # the command line is split on purpose
        /usr/bin/time -f '%e %M %U %S' -o "$RES/$tool.$run.time" \
            $(cmd_of "$tool") >"$out" 2>"$RES/$tool.err" ||
            echo "bench: $tool exited $? (run $run; see $RES/$tool.err)" >&2
        printf '  run %d %-10s %s\n' "$run" "$tool" "$(tail -1 "$RES/$tool.$run.time")" >&2
    done
done

python3 "$REPO/bench/table.py" "$RES" "$PCAP" "$DIR/bench.nginx.log" $TOOLS | tee "$RES/table.txt"
# keep what the table came from, not the bulk (tcptrace -l writes ~80 MB, the jsonl ~20 MB)
for f in "$RES"/tcptrace.out "$RES"/connscope.out; do
    [[ -f $f ]] && head -c 65536 "$f" >"$f.head" && rm -f "$f"
done
echo "bench: outputs and timings kept in $RES" >&2
