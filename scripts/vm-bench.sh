#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Latency of Clio over RDMA UD against the RDMA baselines, on one soft-RoCE device, in one run:
#   - clio-mn --listen verbs:... and rw_latency through CLib (transport "verbs");
#   - clio-rdma-server and rw_latency --rdma: one-sided READ/WRITE on an RC QP ("rdma-rc");
#   - perftest's ib_read_lat and ib_write_lat, server and client on the same device and GID;
# then the p50s side by side, per size. ib_read_lat reports a READ's round trip; ib_write_lat a
# ping-pong of WRITEs halved (one way), as perftest does.
#
# Usage (inside scripts/rxe-vm.sh, which sets CLIO_RDMA_DEV and CLIO_RDMA_GID):
#   scripts/rxe-vm.sh -- scripts/vm-bench.sh [--build DIR] [--sizes 64,1024,4096] [--ops N] [--iters N]
#                                            [--clio-keys KEYS] [--compare]
#     --build DIR       the CMake build tree with clio-mn, rw_latency, clio-rdma-server (build-verbs)
#     --sizes LIST      bytes per operation (64,1024,4096)
#     --ops N           rw_latency operations per size and kind (2000: emulated VMs are slow)
#     --iters N         perftest iterations per size (1000)
#     --clio-keys KEYS  CLib keys added to the MN's locator, e.g. rto_us=20000 (under software
#                       emulation the VM stalls for milliseconds, longer than CLib's 1 ms lowest
#                       retransmission timeout, and the spurious retransmissions cost latency)
#     --compare         also run clio-compare --tiny over verbs (experiments 1, 2, 3 and 6, every
#                       design) with the one-sided RDMA rows, and check that they are there
# Needs: an RDMA device (CLIO_RDMA_DEV, default rxe0; CLIO_RDMA_GID, default: picked), perftest,
# iproute2 (ss), and the binaries built in DIR (ninja clio-mn rw_latency clio-rdma-server).
set -euo pipefail

build=build-verbs
sizes=64,1024,4096
ops=2000
iters=1000
clio_keys=
compare=0
while [ $# -gt 0 ]; do
  case "$1" in
    --compare) compare=1 ;;
    --build) build=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --ops) ops=$2; shift ;;
    --iters) iters=$2; shift ;;
    --clio-keys) clio_keys=$2; shift ;;
    -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
    *) echo "vm-bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

dev=${CLIO_RDMA_DEV:-rxe0}
gid=${CLIO_RDMA_GID:-}
keys="dev=$dev${gid:+,gid=$gid}"
work=$(mktemp -d)
# The operator's credential: clio-mn requires one; clients read it from CLIO_AUTH_FILE.
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/auth"; echo >>"$work/auth")
export CLIO_AUTH_FILE="$work/auth"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { echo "vm-bench: $*" >&2; }
for b in mn/clio-mn bench/rw_latency bench/clio-rdma-server; do
  [ -x "$build/$b" ] || { say "$build/$b is missing (ninja -C $build clio-mn rw_latency clio-rdma-server)"; exit 1; }
done

# start NAME PREFIX CMD...: runs CMD in the background (its pid joins `pids`) and sets `started`
# to what follows PREFIX on the first stdout line that has it (the "serving" line), waiting up to
# 60 s. Not to be called in $(...): the pid must reach this shell.
start() {
  local name=$1 prefix=$2 i line
  shift 2
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for i in $(seq 600); do
    line=$(grep -m1 "^$prefix" "$work/$name.out" 2>/dev/null || true)
    if [ -n "$line" ]; then started=${line#"$prefix"}; return 0; fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  say "$name did not start:"; cat "$work/$name.err" >&2
  return 1
}

# The memory node's worker busy-polls on the last CPU; rw_latency pins itself to CPU 0.
last_cpu=$(( $(nproc) - 1 ))
start clio-mn "clio-mn: serving " "$build/mn/clio-mn" --listen "verbs:$keys,port=0" --auth-file "$work/auth" \
  --memory 256M --log-level "${MN_LOG:-info}" --cpus "$last_cpu"
mn_loc=$started
start rdma-server "clio-rdma-server: serving " "$build/bench/clio-rdma-server" --dev "$dev" \
  ${gid:+--gid "$gid"} --host 127.0.0.1 --port 0 --memory 64M --regions 16384 --log-level warn
rc_desc=$started
rc_port=$(echo "$rc_desc" | sed -n 's/.*port=\([0-9]*\).*/\1/p')
say "clio-mn: $mn_loc"
say "clio-rdma-server: $rc_desc"

"$build/bench/rw_latency" --quick --no-floor --ops "$ops" --sizes "$sizes" --mn "$mn_loc${clio_keys:+,$clio_keys}" \
  --rdma "127.0.0.1:$rc_port,$keys" | tee "$work/rw_latency.txt"
if [ "$compare" = 1 ]; then
  # The comparison over verbs with the RDMA rows: clio-compare spawns its own memory nodes (one
  # design at a time) on the same device; ours would poll the CPU it pins them to.
  kill "${pids[0]}" 2>/dev/null || true
  [ -x "$build/bench/clio-compare" ] || { say "$build/bench/clio-compare is missing"; exit 1; }
  "$build/bench/clio-compare" --tiny --experiments 1,2,3,6 --anchors floor --transport "verbs:$keys,port=0" \
    --rdma "127.0.0.1:$rc_port,$keys" --out "$work/compare" | tee "$work/compare.txt"
  for e in 1 2 3 6; do
    grep '"system":"rdma"' "$work/compare/results.jsonl" | grep -q "\"experiment\":$e[,}]" ||
      { say "no RDMA rows in experiment $e of the comparison"; exit 1; }
  done
  grep -q '"op":"read-mr"' "$work/compare/results.jsonl" ||
    { say "no reads through registered regions (read-mr) in the comparison"; exit 1; }
  say "the comparison's RDMA rows:"
  grep '"system":"rdma"' "$work/compare/results.jsonl" |
    sed 's/"bench":"clio-compare",//; s/"kind":"anchor",//' >&2
  for d in clio server pnic; do
    grep -q "\"system\":\"$d\"" "$work/compare/results.jsonl" || { say "no $d rows over verbs"; exit 1; }
  done
fi
# The busy-polling worker would compete with perftest for the two CPUs.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
say "clio-mn at exit:"; { grep -E 'requests:|replies=|dropped=' "$work/clio-mn.err" || true; } | sed 's/^/  /' >&2

# perf NAME SIZE PORT: one perftest server/client pair; prints t_typical (the median), in us.
perf() {
  local tool=$1 size=$2 port=$3 i
  local args=(-d "$dev" -s "$size" -n "$iters" -F -p "$port")
  [ -n "$gid" ] && args+=(-x "$gid")
  timeout 300 "$tool" "${args[@]}" >"$work/$tool.$size.server" 2>&1 &
  local spid=$!
  for i in $(seq 300); do
    ss -Hltn "sport = :$port" | grep -q . && break
    sleep 0.1
  done
  if ! timeout 300 "$tool" "${args[@]}" 127.0.0.1 >"$work/$tool.$size.client" 2>&1; then
    say "$tool -s $size failed:"; cat "$work/$tool.$size.client" >&2
    wait "$spid" || true
    echo "-"
    return
  fi
  wait "$spid" || true
  # The result row starts with the size: #bytes #iterations t_min t_max t_typical ...
  local row
  row=$(awk -v s="$size" '$1 == s && NF >= 5 { print; exit }' "$work/$tool.$size.client")
  say "$tool -s $size: $(echo $row)"
  echo "$row" | awk '{ print ($5 == "" ? "-" : $5) }'
}

# p50 TRANSPORT OP SIZE: rw_latency's p50 in us from its JSON lines.
p50() {
  grep '^{' "$work/rw_latency.txt" | grep "\"transport\":\"$1\"" | grep "\"op\":\"$2\"" |
    grep "\"size\":$3[,}]" | sed -n 's/.*"p50_ns":\([0-9.]*\).*/\1/p' | head -n1 |
    awk '{ if ($1 == "") print "-"; else printf "%.1f\n", $1 / 1000 }'
}

port=18600
echo
echo "p50 latency in microseconds on $dev (gid ${gid:-picked}); Clio = CLib over verbs UD to clio-mn"
printf '%8s  %12s %12s %14s  %12s %12s %15s\n' size clio-rread rc-READ ib_read_lat clio-rwrite rc-WRITE ib_write_lat/2
for s in ${sizes//,/ }; do
  rl=$(perf ib_read_lat "$s" $((port++)))
  wl=$(perf ib_write_lat "$s" $((port++)))
  printf '%8s  %12s %12s %14s  %12s %12s %15s\n' "$s" "$(p50 verbs rread "$s")" "$(p50 rdma-rc rread "$s")" \
    "$rl" "$(p50 verbs rwrite "$s")" "$(p50 rdma-rc rwrite "$s")" "$wl"
done
