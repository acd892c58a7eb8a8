#!/usr/bin/env bash
# Compares two connscope binaries' output: whether a change (a refactoring, an optimisation)
# altered any result. Keep a copy of the old binary before rebuilding:
#
#   cp target/release/connscope /tmp/connscope-old && cargo build --release
#   bash bench/compare.sh /tmp/connscope-old target/release/connscope
#
# Runs `BIN analyze FILE --format json` with each binary over every captures/*.pcap and every
# .pcap/.pcapng/.cap file of the public corpus, once with `--threads 1` and once with the
# default thread count, each run under `timeout 60` (killed 10 s later if it ignores TERM).
# A run differs when the standard output bytes or the exit code differ between OLD and NEW,
# or, when an exit code is nonzero, the lines on standard error. A run that times out with
# both binaries is a warning, not a difference. Prints a unified diff of the first few
# differing runs, every differing file, and the count; exits 0 if none differ, 1 if any do,
# 2 on bad usage (or a missing corpus).
#
# Environment:
#   CONNSCOPE_CORPUS        the corpus directory (default ../shared/corpus from the repo root)
#   CONNSCOPE_COMPARE_JOBS  runs at once (default 2)
#   CONNSCOPE_COMPARE_SHOW  how many differing runs to show a diff of (default 3)
#   CONNSCOPE_COMPARE_TIMEOUT  seconds each run may take (default 60)
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 OLD_BIN NEW_BIN" >&2
    exit 2
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
abs() {
    case $1 in
    /*) echo "$1" ;;
    */*) echo "$PWD/$1" ;;
    *) command -v "$1" ;;
    esac
}
OLD=$(abs "$1") || { echo "compare: $1: not found" >&2; exit 2; }
NEW=$(abs "$2") || { echo "compare: $2: not found" >&2; exit 2; }
for b in "$OLD" "$NEW"; do
    [[ -x $b ]] || { echo "compare: $b is not an executable" >&2; exit 2; }
done
CORPUS=${CONNSCOPE_CORPUS:-$REPO/../shared/corpus}
[[ -d $CORPUS ]] || {
    echo "compare: corpus not found at $CORPUS (set CONNSCOPE_CORPUS)" >&2
    exit 2
}
CORPUS=$(cd "$CORPUS" && pwd)
JOBS=${CONNSCOPE_COMPARE_JOBS:-2}
SHOW=${CONNSCOPE_COMPARE_SHOW:-3}
TIMEOUT=${CONNSCOPE_COMPARE_TIMEOUT:-60}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/connscope-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/runs" "$WORK/diff"

# One job per (thread setting, file): "MODE<TAB>FILE", NUL-terminated.
{
    find "$REPO/captures" -maxdepth 1 -name '*.pcap' -type f -print0 | sort -z
    find "$CORPUS" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) -print0 |
        sort -z
} >"$WORK/files"
NFILES=$(tr -cd '\0' <"$WORK/files" | wc -c)
[[ $NFILES -gt 0 ]] || { echo "compare: no capture files found" >&2; exit 2; }
: >"$WORK/jobs"
n=0
while IFS= read -r -d '' f; do
    n=$((n + 1))
    for mode in t1 default; do
        printf '%s\t%s\t%s\0' "$n" "$mode" "$f" >>"$WORK/jobs"
    done
done <"$WORK/files"

# Runs both binaries on one file; leaves WORK/diff/N.MODE (a description) and the outputs
# when they differ, nothing otherwise.
one() {
    local id=$1 mode=$2 file=$3 which bin code
    local -a extra=()
    [[ $mode == t1 ]] && extra=(--threads 1)
    local base=$WORK/runs/$id.$mode
    for which in old new; do
        bin=$OLD
        [[ $which == new ]] && bin=$NEW
        code=0
        NO_COLOR=1 timeout -k 10 "$TIMEOUT" "$bin" analyze "$file" --format json "${extra[@]}" \
            >"$base.$which.out" 2>"$base.$which.err" </dev/null || code=$?
        echo "$code" >"$base.$which.code"
    done
    local oc nc why=()
    oc=$(<"$base.old.code")
    nc=$(<"$base.new.code")
    [[ $oc == "$nc" ]] || why+=("exit code $oc -> $nc")
    cmp -s "$base.old.out" "$base.new.out" || why+=("stdout")
    if [[ $oc != 0 || $nc != 0 ]] && ! cmp -s "$base.old.err" "$base.new.err"; then
        why+=("stderr")
    fi
    if [[ ${#why[@]} -gt 0 ]]; then
        printf '%s\t%s\t%s\t%s\n' "$id" "$mode" "$file" "$(printf '%s, ' "${why[@]}" | sed 's/, $//')" \
            >"$WORK/diff/$id.$mode"
    else
        # Both timed out alike: no difference, but worth saying.
        [[ $oc == 124 ]] && printf '%s\n' "$file ($mode)" >"$WORK/diff/$id.$mode.timeout"
        rm -f "$base".*
    fi
    return 0
}
export -f one
export OLD NEW WORK TIMEOUT

start=$SECONDS
xargs -0 -P "$JOBS" -n 1 bash -c 'IFS=$'"'"'\t'"'"' read -r id mode file <<<"$1"; one "$id" "$mode" "$file"' _ \
    <"$WORK/jobs" || { echo "compare: a run failed to start (xargs: $?)" >&2; exit 2; }

# Report, in file order.
shopt -s nullglob
found=("$WORK"/diff/*.t1 "$WORK"/diff/*.default)
diffs=()
[[ ${#found[@]} -eq 0 ]] || mapfile -t diffs < <(cat "${found[@]}" | sort -t$'\t' -k1,1n -k2,2r)
shown=0
for d in "${diffs[@]}"; do
    IFS=$'\t' read -r id mode file why <<<"$d"
    echo "DIFFERS ($why) [${mode/t1/--threads 1}] $file"
    if [[ $shown -lt $SHOW ]]; then
        shown=$((shown + 1))
        base=$WORK/runs/$id.$mode
        diff -u --label "OLD stdout" --label "NEW stdout" "$base.old.out" "$base.new.out" |
            head -n 80 || true
        if [[ $why == *stderr* || $why == *exit* ]]; then
            diff -u --label "OLD stderr (exit $(<"$base.old.code"))" \
                --label "NEW stderr (exit $(<"$base.new.code"))" \
                "$base.old.err" "$base.new.err" | head -n 20 || true
        fi
    fi
done
timeouts=("$WORK"/diff/*.timeout)
if [[ ${#timeouts[@]} -gt 0 ]]; then
    echo "warning: ${#timeouts[@]} runs timed out ($TIMEOUT s) with both binaries:"
    cat "${timeouts[@]}" | head -n 10 | sed 's/^/  /'
fi
echo "compare: $NFILES files x 2 thread settings ($((NFILES * 2 * 2)) runs, $((SECONDS - start)) s):" \
    "${#diffs[@]} differ"
[[ ${#diffs[@]} -eq 0 ]]
