#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time and fails if any of them finds a crash.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      default: 60 seconds each; decode capture reassembly http
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (`rustup toolchain
# install nightly`); without one, RUSTC_BOOTSTRAP=1 lets stable accept cargo-fuzz's -Z flags.
# Environment: FUZZ_SANITIZER (address by default; `none` runs faster), FUZZ_JOBS (parallel
# libFuzzer processes per target, default 1).
#
# The committed seeds in fuzz/corpus/<target>/ are read, never written: what the fuzzer finds
# goes to fuzz/target/work-corpus/<target>/, and crashing inputs to fuzz/artifacts/<target>/.
# Debug assertions and overflow checks are on (-a), so arithmetic overflow counts as a crash.
set -uo pipefail
cd "$(dirname "$0")"

secs=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode capture reassembly http)
sanitizer=${FUZZ_SANITIZER:-address}
jobs=${FUZZ_JOBS:-1}
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")

if cargo +nightly --version >/dev/null 2>&1; then
  cargo=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  cargo=(cargo fuzz)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "run.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
  exit 2
fi

"${cargo[@]}" build -a -s "$sanitizer" >/dev/null 2>&1 ||
  "${cargo[@]}" build -a -s "$sanitizer" || exit 2

failed=()
for t in "${targets[@]}"; do
  work=target/work-corpus/$t
  mkdir -p "$work" "artifacts/$t"
  before=$(ls "artifacts/$t" | wc -l)
  echo "== $t: ${secs}s (sanitizer $sanitizer)"
  "${cargo[@]}" run -a -s "$sanitizer" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "${parallel[@]}" \
    -print_final_stats=1 2>&1 | tee "target/$t.log" |
    grep -E '^(#[0-9]+[[:space:]]+DONE|==[0-9]+==|SUMMARY|stat::number_of_executed_units|stat::peak_rss_mb|artifact_prefix|Test unit written|thread .* panicked)' || true
  rc=${PIPESTATUS[0]}
  after=$(ls "artifacts/$t" | wc -l)
  if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
    failed+=("$t")
    echo "!! $t: exit $rc, artifacts in fuzz/artifacts/$t/ (log: fuzz/target/$t.log)"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "crashes found in: ${failed[*]}" >&2
  exit 1
fi
echo "no crashes (${targets[*]}, ${secs}s each)"
