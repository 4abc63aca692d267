#!/usr/bin/env bash
# The main job: starts a memory node and runs a short workload through CLib, printing readable
# tables (then one JSON line per result):
#   rw_latency     p50/p99/p99.9 of rread and rwrite at 64 B, 1 KiB and 4 KiB, and ops/s, MB/s
#   rw_throughput  operations per second with 1 and 2 client threads
# By default the memory node is embedded in this process (inproc transport).
# Usage: scripts/run.sh [--udp] [--quick] [--micro]
#   --udp    run clio-mn as a separate process and talk to it over UDP loopback (adds the raw
#            UDP ping-pong floor of this host to the latency table)
#   --quick  fewer operations (about 15 s in all)
#   --micro  also run the memory-node micro-benchmarks (mn_fastpath, pt_lookup)
# Installs missing packages first (scripts/setup-deps.sh); builds in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
mn=inproc
quick=()
micro=0
for a in "$@"; do
  case "$a" in
    --udp) mn=spawn-udp ;;
    --quick) quick=(--quick) ;;
    --micro) micro=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done
scripts/setup-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j2 --target clio_benches
ops=50000
[ ${#quick[@]} -gt 0 ] && ops=20000
build/bench/rw_latency --mn "$mn" --sizes 64,1024,4096 --ops "$ops"
build/bench/rw_throughput --mn "$mn" --threads 1,2 --ops rread,rwrite --size 1024 "${quick[@]}"
if [ "$micro" = 1 ]; then
  build/bench/mn_fastpath "${quick[@]}"
  build/bench/pt_lookup "${quick[@]}"
fi
