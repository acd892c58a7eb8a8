#!/usr/bin/env bash
# Profiles `connscope analyze --format json` on the benchmark capture made by bench/run.sh.
#
#   bash bench/profile.sh
#
# - callgrind (instruction counts, exact and repeatable) on the 100,000-packet slice;
# - perf record with the cpu-clock software event over the whole capture, when perf works
#   (hardware counters are often missing in VMs; cpu-clock sampling still works there and,
#   unlike callgrind, also sees the time spent in the kernel's read()).
# Writes into $CONNSCOPE_BENCH_DIR/mbN/profile/ and prints the top entries.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MB=${CONNSCOPE_BENCH_MB:-950}
DIR=${CONNSCOPE_BENCH_DIR:-${HOME:-/root}/.cache/connscope-bench}/mb$MB
BIN=$REPO/target/release/connscope
OUT=$DIR/profile
[[ -s $DIR/bench.pcap && -s $DIR/slice.pcap ]] || { echo "profile: run bench/run.sh first" >&2; exit 2; }
[[ -x $BIN ]] || { echo "profile: build first (cargo build --release)" >&2; exit 2; }
mkdir -p "$OUT"

if command -v valgrind >/dev/null; then
    echo "== callgrind: $BIN analyze --format json slice.pcap"
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
        "$BIN" analyze --format json "$DIR/slice.pcap" >/dev/null 2>"$OUT/valgrind.err"
    grep -h 'Collected' "$OUT/valgrind.err" || true
    # callgrind_annotate splits a function's cost by the source file of inlined code: sum the
    # self cost per function; for inclusive cost take the largest entry per function
    for mode in no yes; do
        callgrind_annotate --auto=no --inclusive=$mode --threshold=100 "$OUT/callgrind.out" \
            2>/dev/null >"$OUT/callgrind.inclusive-$mode.txt"
    done
    python3 - "$OUT" <<'PY'
import collections, re, sys
out = sys.argv[1]
skip = re.compile(r"below main|lang_start|backtrace|ld-linux|libc_start|^main$|^0x|connscope::main")
for mode, title in (("no", "self"), ("yes", "inclusive")):
    tot, fn = 0, collections.Counter()
    for line in open(f"{out}/callgrind.inclusive-{mode}.txt"):
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$", line)
        if not m:
            continue
        n, what = int(m.group(1).replace(",", "")), m.group(2)
        if what == "PROGRAM TOTALS":
            tot = n
            continue
        name = re.sub(r" \[.*\]$", "", what).split(":", 1)[-1]
        if mode == "no":
            fn[name] += n
        else:
            fn[name] = max(fn[name], n)
    print(f"{title} instructions by function, % of {tot:,}:")
    shown = 0
    for name, n in fn.most_common():
        if skip.search(name):
            continue
        print(f"  {100.0 * n / tot:5.1f}%  {name[:110]}")
        shown += 1
        if shown == 25:
            break
PY
else
    echo "profile: valgrind missing (apt-get install valgrind); callgrind skipped"
fi

if perf record -q -e cpu-clock -o "$OUT/perf-check.data" true >/dev/null 2>&1; then
    echo "== perf (cpu-clock): $BIN analyze --format json bench.pcap"
    perf record -q -e cpu-clock -F 2000 --call-graph dwarf,8192 -o "$OUT/perf.data" \
        "$BIN" analyze --format json "$DIR/bench.pcap" >/dev/null 2>"$OUT/perf.err"
    echo "self time by symbol:"
    perf report -i "$OUT/perf.data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed -E 's/ +$//' | cut -c1-140 | sed -n 1,25p || true
    echo "time including callees, selected stages:"
    perf report -i "$OUT/perf.data" --stdio --children --sort symbol -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' |
        grep -E 'Source::next_frame|Source::fill|decode::decode|FlowTable::segment|Connection::segment|Session::data|Session::on_head|parse_response|parse_request|RawTable<T,A>::find|finish_all|json::document|_copy_to_iter|exc_page_fault|Analyzer' |
        sed -E 's/ +$//' | cut -c1-140 || true
else
    echo "profile: perf record does not work here; perf skipped"
fi
