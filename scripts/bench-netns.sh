#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compares the transports between two hosts in one run: builds the three-host network of
# scripts/netns.sh and, in turn, starts a memory node in the MN's namespace on raweth (AF_PACKET),
# raweth (AF_XDP) and udp, and runs rw_latency (and, with --throughput, rw_throughput) against it
# from a CN's namespace. Needs root.
#
#   scripts/bench-netns.sh [--quick] [--throughput] [--sizes 64,1024,4096] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
quick=()
sizes=64,1024,4096
throughput=0
while (($#)); do
  case $1 in
    --quick) quick=(--quick) ;;
    --throughput) throughput=1 ;;
    --sizes) sizes=$2; shift ;;
    --build) build=$2; shift ;;
    -h | --help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
    *) echo "bench-netns.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for b in mn/clio-mn bench/rw_latency bench/rw_throughput; do
  [ -x "$build/$b" ] || { echo "bench-netns.sh: $build/$b is missing: cmake --build $build" >&2; exit 1; }
done

export CLIO_NETNS_PREFIX=${CLIO_NETNS_PREFIX:-clio-bench}
# rw_latency pins itself to CPU 0; the MN's worker gets the last CPU, so that two busy pollers
# never share a core.
mn_cpu=$(($(nproc) - 1))
work=$(mktemp -d)
# The operator's credential: clio-mn requires one; clients read it from CLIO_AUTH_FILE.
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/auth"; echo >>"$work/auth")
export CLIO_AUTH_FILE="$work/auth"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/netns.sh down || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/netns.sh up >/dev/null

# start NAME LISTEN: one clio-mn in the MN's namespace; sets $served to the locator it serves.
start() {
  local name=$1 listen=$2 line
  mkfifo "$work/$name"
  scripts/netns.sh exec mn "$build/mn/clio-mn" --listen "$listen" --auth-file "$work/auth" --memory 1G --page-size 4M \
    --workers 1 --cpus "$mn_cpu" --log-level warn >"$work/$name" 2>"$work/$name.err" &
  pids+=($!)
  exec {fd}<"$work/$name"
  if ! read -r -t 30 line <&$fd || [[ $line != "clio-mn: serving "* ]]; then
    echo "clio-mn --listen $listen did not start: $(tail -1 "$work/$name.err")"
    return 1
  fi
  served=${line#clio-mn: serving }
}

# One memory node at a time: a busy-polling MN left running would steal a core from the next.
stop() {
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
}
measure() {
  local name=$1 listen=$2
  echo "=== $name: clio-mn --listen $listen (in ${CLIO_NETNS_PREFIX}-mn), client in ${CLIO_NETNS_PREFIX}-cn1"
  if ! start "$name" "$listen"; then
    echo "(skipped)"
    return 0
  fi
  scripts/netns.sh exec cn1 "$build/bench/rw_latency" "${quick[@]}" --mn "$served" --sizes "$sizes" --no-floor
  if ((throughput)); then
    scripts/netns.sh exec cn1 "$build/bench/rw_throughput" "${quick[@]}" --mn "$served"
  fi
  stop
}
measure raweth-af_packet "raweth:if=veth-mn,port=7400"
measure raweth-af_xdp "raweth:if=veth-mn,port=7400,mode=xdp"
measure udp "udp:host=10.77.0.1,port=7400"
