#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# netns_test.sh CLIO_MN CLIENT
# Builds a three-host network with scripts/netns.sh (a prefix of its own), runs clio-mn in the
# MN's namespace and the checked random workload from both CN namespaces at once: first over
# raweth (raw Ethernet frames through the bridge; the MN on AF_PACKET, then on AF_XDP), then over
# udp. Exit 77 = skipped (ctest shows
# the reason printed before it).
set -euo pipefail
mn_bin=${1:?usage: netns_test.sh CLIO_MN CLIENT}
client_bin=${2:?usage: netns_test.sh CLIO_MN CLIENT}
here=$(cd "$(dirname "$0")" && pwd)
netns=$here/../../scripts/netns.sh

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "iproute2's 'ip' is not installed"
export CLIO_NETNS_PREFIX=clt$$
ip netns add "$CLIO_NETNS_PREFIX-probe" 2>/dev/null || skip "cannot create network namespaces here"
ip netns delete "$CLIO_NETNS_PREFIX-probe"

work=$(mktemp -d)
# The operator's credential: clio-mn requires one; clients read it from CLIO_AUTH_FILE.
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/auth"; echo >>"$work/auth")
export CLIO_AUTH_FILE="$work/auth"
mn_pid=
cleanup() {
  if [ -n "$mn_pid" ]; then kill "$mn_pid" 2>/dev/null || true; wait "$mn_pid" 2>/dev/null || true; fi
  "$netns" down || true
  rm -rf "$work"
}
trap cleanup EXIT
"$netns" up >/dev/null

# run_over NAME WORKERS LISTEN: start clio-mn with LISTEN, read the locator it serves, run both
# CNs against it.
run_over() {
  local name=$1 workers=$2 listen=$3 line locator rc1 rc2 t0=$SECONDS
  echo "--- $name: clio-mn --workers $workers --listen $listen"
  mkfifo "$work/mn-$name"
  "$netns" exec mn "$mn_bin" --listen "$listen" --auth-file "$work/auth" --memory 256M --page-size 4K --workers "$workers" \
    --log-level warn >"$work/mn-$name" 2>"$work/mn-$name.err" &
  mn_pid=$!
  exec 3<"$work/mn-$name"
  if ! read -r -t 30 line <&3 || [[ $line != "clio-mn: serving "* ]]; then
    wait "$mn_pid" || true
    mn_pid=
    exec 3<&-
    if [ "$name" = raweth-xdp ] && grep -q "AF_XDP\|BPF" "$work/mn-$name.err"; then
      echo "    SKIPPED (this kernel or sandbox offers no AF_XDP): $(cat "$work/mn-$name.err")"
      return 0
    fi
    echo "clio-mn did not start: ${line:-nothing on stdout}"; cat "$work/mn-$name.err"; return 1
  fi
  locator=${line#clio-mn: serving }
  echo "    serving $locator"
  # Both compute nodes at once, with different seeds; each checks every byte it reads.
  "$netns" exec cn1 env CLIO_AUTH_FILE="$work/auth" CLIO_LOCATOR="$locator" CLIO_SEED=1 "$client_bin" --gtest_brief=1 \
    >"$work/cn1-$name" 2>&1 &
  local p1=$!
  "$netns" exec cn2 env CLIO_AUTH_FILE="$work/auth" CLIO_LOCATOR="$locator" CLIO_SEED=2 "$client_bin" --gtest_brief=1 \
    >"$work/cn2-$name" 2>&1 &
  local p2=$!
  rc1=0; wait $p1 || rc1=$?
  rc2=0; wait $p2 || rc2=$?
  echo "    cn1 exit $rc1, cn2 exit $rc2 ($((SECONDS - t0)) s)"
  if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
    cat "$work/cn1-$name" "$work/cn2-$name" "$work/mn-$name.err"; return 1
  fi
  kill -TERM "$mn_pid"
  local rc=0; wait "$mn_pid" || rc=$?
  mn_pid=
  exec 3<&-
  grep -E "requests:|drops" "$work/mn-$name.err" | sed 's/^/    mn: /' || true
  [ $rc -eq 0 ] || { echo "clio-mn exited with $rc"; cat "$work/mn-$name.err"; return 1; }
}

run_over raweth 2 "raweth:if=veth-mn,port=7400"
# The MN on AF_XDP (one worker: one receive queue); the CNs stay on AF_PACKET.
run_over raweth-xdp 1 "raweth:if=veth-mn,port=7400,mode=xdp"
run_over udp 2 "udp:host=10.77.0.1,port=7400"
echo "netns test passed"
