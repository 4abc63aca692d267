#!/usr/bin/env bash
# The main job: builds the benchmarks and runs the memory-node micro-benchmarks, each printing
# a readable table and then one JSON line per result.
#   mn_fastpath  in-process fast-path operations on one core (reads, writes, atomics, faults)
#   pt_lookup    the hash page table against radix and chained tables, 1 and 10,000 processes
# Usage: scripts/run.sh [--quick]   (--quick: each benchmark under 30 s)
# Installs missing packages first (scripts/setup-deps.sh); builds in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for a in "$@"; do
  case "$a" in
    --quick) args+=(--quick) ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done
scripts/setup-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j2 --target clio_benches
build/bench/mn_fastpath "${args[@]}"
build/bench/pt_lookup "${args[@]}"
