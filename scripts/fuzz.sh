#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (build-fuzz/: clang, CLIO_FUZZ=ON, CLIO_ASSERTS=ON) and runs each
# one for a bounded time, one after the other (never two at once: no -jobs, no -workers).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     SECONDS per target (default 60); TARGET: e.g.
#                                             fuzz_mn_serve (default: every tests/fuzz/fuzz_*.cc)
#
# Seeds: the corpora fuzz_seeds writes at build time (build-fuzz/tests/fuzz/corpus/<target>/)
# and those kept in the source tree (tests/fuzz/corpus/<target>/); both are only read. What the
# fuzzer finds goes to build-fuzz/fuzz-runs/<target>/corpus/ (kept between local runs), its log
# and any reproducer (crash-*, leak-*, timeout-*, oom-*) to build-fuzz/fuzz-runs/<target>/.
# Exits non-zero when any target crashed, leaked, hung (-timeout), ran out of memory, or printed
# a sanitizer report; prints each reproducer and the command that replays it.
#
# Environment: CI=true makes warnings errors; CLIO_JOBS (default 2) build jobs; FUZZ_CC and
# FUZZ_CXX (default clang-14, clang++-14).
set -euo pipefail
case "${1:-}" in -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."
scripts/setup-deps.sh

secs=${1:-60}
shift || true
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...] (try --help)" >&2
  exit 2
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.cc; do
    t=$(basename "$f" .cc)
    [ "$t" = fuzz_seeds ] || targets+=("$t")
  done
fi
werror=OFF
if [ "${CI:-}" = true ]; then werror=ON; fi
jobs=${CLIO_JOBS:-2}
build=build-fuzz

printf '\n=== fuzz: build (%s/)\n' "$build"
CC=${FUZZ_CC:-clang-14} CXX=${FUZZ_CXX:-clang++-14} \
  cmake -S . -B "$build" -G Ninja -DCLIO_FUZZ=ON -DCLIO_ASSERTS=ON -DCLIO_WERROR=$werror \
  -DCLIO_BUILD_TESTS=OFF -DCLIO_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz_corpus "${targets[@]}"

# Sanitizer reports must end the run, with symbolized stacks.
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=1:detect_leaks=1${symbolizer:+:external_symbolizer_path=$symbolizer}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"

failed=()
summary=()
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/$t
  out=$build/fuzz-runs/$t
  mkdir -p "$out/corpus"
  rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-*
  seeds=("$build/tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/corpus/$t" ] && seeds+=("tests/fuzz/corpus/$t")
  printf '\n=== fuzz: %s for %ss\n' "$t" "$secs"
  rc=0
  # The outer timeout only guards against a fuzzer that stops responding altogether.
  timeout --signal=KILL $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" \
    "$out/corpus" "${seeds[@]}" >"$out/log" 2>&1 || rc=$?
  grep -E '^#[0-9]+.*(INITED|DONE)' "$out/log" | tail -2 || true
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log")
  cov=$(grep -E '^#[0-9]+' "$out/log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  summary+=("$(printf '%-20s %8s exec/s  %s  corpus %s files' "$t" "${execs:-?}" "${cov:-?}" \
    "$(find "$out/corpus" -type f | wc -l)")")
  reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz invariant broken|CHECK failed' \
    "$out/log" || true)
  if [ "$rc" -ne 0 ] || [ "${reports:-0}" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); last lines of $out/log:" >&2
    grep -E 'ERROR:|runtime error:|invariant|CHECK failed|SUMMARY|^    #[0-9]+ ' "$out/log" | head -40 >&2 || tail -40 "$out/log" >&2
    for a in "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*; do
      [ -e "$a" ] || continue
      echo "fuzz: reproducer: $a" >&2
      echo "fuzz:   replay:   $bin $a" >&2
    done
  fi
done

printf '\n=== fuzz: summary (%ss per target)\n' "$secs"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} != 0)); then
  echo "fuzz: FAILED: ${failed[*]} (logs and reproducers in $build/fuzz-runs/)" >&2
  exit 1
fi
echo "fuzz: no crash, leak, hang or sanitizer report"
