#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A small test network on one machine: three hosts (one memory node, two compute nodes) in
# network namespaces, each with one veth interface, joined by a bridge that lives in a fourth
# namespace (so the host's own network is never touched).
#
#   <p>-mn   veth-mn   02:c1:10:00:00:01  10.77.0.1/24
#   <p>-cn1  veth-cn1  02:c1:10:00:00:02  10.77.0.2/24
#   <p>-cn2  veth-cn2  02:c1:10:00:00:03  10.77.0.3/24
#   <p>-sw   bridge br0 with the other ends of the three veth pairs
#
# <p> is $CLIO_NETNS_PREFIX (default "clio"), so that tests can build a network of their own
# beside a hand-made one. Needs root (or CAP_NET_ADMIN) and iproute2.
set -euo pipefail

usage() {
  cat <<EOF
usage: $0 up|down|status|exec HOST CMD...

  up       create the namespaces, veth pairs and bridge (replacing an old set with the prefix)
  down     remove them (nothing to remove is not an error)
  status   list them, with addresses and MACs
  exec     run CMD in HOST's namespace: HOST is mn, cn1 or cn2

Environment: CLIO_NETNS_PREFIX (default clio).
Then, for example:
  $0 exec mn  build/mn/clio-mn --listen raweth:if=veth-mn
  $0 exec cn1 <program> 'raweth:if=veth-cn1,mac=02:c1:10:00:00:01,port=7400'
  $0 exec mn  build/mn/clio-mn --listen udp:host=10.77.0.1,port=7400
  $0 exec cn2 <program> 'udp:host=10.77.0.1,port=7400'
EOF
}

prefix=${CLIO_NETNS_PREFIX:-clio}
hosts=(mn cn1 cn2)
declare -A mac=([mn]=02:c1:10:00:00:01 [cn1]=02:c1:10:00:00:02 [cn2]=02:c1:10:00:00:03)
declare -A ip=([mn]=10.77.0.1 [cn1]=10.77.0.2 [cn2]=10.77.0.3)

need_tools() {
  command -v ip >/dev/null || { echo "netns.sh: 'ip' (iproute2) is missing: apt-get install iproute2" >&2; exit 1; }
  if [ "$(id -u)" -ne 0 ]; then
    echo "netns.sh: network namespaces need root (or CAP_NET_ADMIN)" >&2
    exit 1
  fi
}

down() {
  local h
  for h in "${hosts[@]}" sw; do
    if ip netns list | grep -qw "^$prefix-$h"; then ip netns delete "$prefix-$h"; fi
  done
}

up() {
  down
  local sw=$prefix-sw h ns
  ip netns add "$sw"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  ip -n "$sw" link set lo up
  for h in "${hosts[@]}"; do
    ns=$prefix-$h
    ip netns add "$ns"
    # Made inside the switch namespace, then one end is moved into the host's.
    ip -n "$sw" link add "port-$h" type veth peer name "veth-$h"
    ip -n "$sw" link set "veth-$h" netns "$ns"
    ip -n "$sw" link set "port-$h" master br0
    ip -n "$sw" link set "port-$h" up
    ip -n "$ns" link set "veth-$h" address "${mac[$h]}"
    ip -n "$ns" addr add "${ip[$h]}/24" dev "veth-$h"
    ip -n "$ns" link set "veth-$h" up
    ip -n "$ns" link set lo up
  done
  # Wait (bounded) until every link reports carrier: the bridge ports come up asynchronously.
  local tries=0
  for h in "${hosts[@]}"; do
    until [ "$(ip netns exec "$prefix-$h" cat "/sys/class/net/veth-$h/operstate")" = up ]; do
      tries=$((tries + 1))
      if ((tries > 500)); then echo "netns.sh: veth-$h never came up" >&2; exit 1; fi
      ip -n "$prefix-$h" link show "veth-$h" >/dev/null  # a short pause that does real work
    done
  done
}

status() {
  local h
  for h in "${hosts[@]}"; do
    if ip netns list | grep -qw "^$prefix-$h"; then
      printf '%-12s ' "$prefix-$h"
      ip -n "$prefix-$h" -br addr show "veth-$h" | tr -s ' '
      printf '%-12s %s\n' "" "$(ip -n "$prefix-$h" -br link show "veth-$h" | awk '{print $3}')"
    else
      echo "$prefix-$h: absent"
    fi
  done
}

case "${1:-}" in
  up) need_tools; up; status ;;
  down) need_tools; down ;;
  status) need_tools; status ;;
  exec)
    need_tools
    h=${2:?exec needs a host: mn, cn1 or cn2}
    shift 2
    [[ -n ${mac[$h]:-} ]] || { echo "netns.sh: unknown host '$h' (mn, cn1, cn2)" >&2; exit 2; }
    exec ip netns exec "$prefix-$h" "$@"
    ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
