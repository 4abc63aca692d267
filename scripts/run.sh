#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: the comparison the project exists for. Runs clio-compare (bench/compare/) in its
# quick form: the paper's six experiments for Clio's memory-node design and the two it argues
# against (a CPU-server MN and a programmable-NIC MN), with memcached, Redis and the floors in the
# same run; prints the summary table with the designs side by side and names the report
# (results/<date>-<commit>/report.md, with a CSV and a plot per experiment).
# By default the memory nodes are embedded in this process (inproc transport).
# Usage: scripts/run.sh [--udp] [--full] [--micro] [-- clio-compare options]
#   --udp    run each memory node as a clio-mn process and talk to it over UDP loopback (the MN's
#            memory per client is then measured as its RSS)
#   --full   the full comparison (under 30 minutes on 2 cores) instead of the quick one (under 3)
#   --micro  also run the memory-node micro-benchmarks (mn_fastpath, pt_lookup)
#   --       pass what follows to clio-compare (see build/bench/clio-compare --help)
# Installs missing packages first (scripts/setup-deps.sh); builds in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
transport=inproc
scale=(--quick)
micro=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --udp) transport=udp ;;
    --full) scale=() ;;
    --quick) scale=(--quick) ;;
    --micro) micro=1 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
scripts/setup-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j2 --target clio_benches
build/bench/clio-compare "${scale[@]}" --transport "$transport" "${extra[@]}"
if [ "$micro" = 1 ]; then
  build/bench/mn_fastpath --quick
  build/bench/pt_lookup --quick
fi
