#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gives a network interface a soft-RoCE (rdma_rxe) device, checks that verbs sees it, prints its
# GID table and the verbs locators to give clio-mn and its clients.
# Usage: scripts/rxe-setup.sh IFACE
#   IFACE  the interface that carries RoCE v2 (UDP port 4791), e.g. eth0, or lo for one host
# Idempotent: a device already on IFACE is reused, so running it twice changes nothing.
# Needs: root; a kernel with rdma_rxe (on one without, use scripts/rxe-vm.sh, which boots a VM
# that has it); iproute2 (`rdma`), ibverbs-utils and ibverbs-providers; a built clio-mn
# (build/mn/clio-mn, or clio-mn on PATH), whose --list-gids makes the GID choice.
set -euo pipefail

die() { echo "rxe-setup: $*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
  "") die "usage: rxe-setup.sh IFACE (try --help)" ;;
  -*) die "unknown option '$1' (try --help)" ;;
esac
[ $# -eq 1 ] || die "one interface only (try --help)"
iface=$1
repo=$(cd "$(dirname "$0")/.." && pwd -P)
mn=$repo/build/mn/clio-mn
[ -x "$mn" ] || mn=$(command -v clio-mn || true)
[ -n "$mn" ] || die "no clio-mn to rank the GIDs with: build it first (cmake --build build) or install clio-mn"

[ "$(id -u)" -eq 0 ] || die "needs root (modprobe and rdma link add): sudo $0 $iface"
[ -e "/sys/class/net/$iface" ] ||
  die "no network interface '$iface'; these exist: $(cd /sys/class/net && echo *)"
command -v modprobe >/dev/null || die "modprobe is missing: apt-get install --no-install-recommends kmod"
# The kernel first: without rdma_rxe no package helps. /sys/module/rdma_rxe exists when the
# module is loaded or built in.
if [ ! -d /sys/module/rdma_rxe ]; then
  if ! modinfo rdma_rxe >/dev/null 2>&1; then
    die "this kernel ($(uname -r)) has no rdma_rxe; use scripts/rxe-vm.sh"
  fi
  modprobe rdma_rxe || die "modprobe rdma_rxe failed (dmesg may say why)"
fi
for tool in rdma:iproute2 ibv_devices:ibverbs-utils ibv_devinfo:ibverbs-utils; do
  command -v "${tool%%:*}" >/dev/null ||
    die "${tool%%:*} is missing: apt-get install --no-install-recommends ${tool#*:}"
done
# Without the rxe provider libibverbs silently lists no device, which looks like a kernel fault.
if ! compgen -G '/usr/lib/*/libibverbs/librxe-rdmav*.so' >/dev/null &&
   ! compgen -G '/usr/lib/libibverbs/librxe-rdmav*.so' >/dev/null; then
  die "the rxe verbs provider is missing: apt-get install --no-install-recommends ibverbs-providers"
fi

# A device already on this interface, whatever its name: `rdma link` lines read
# "link rxe0/1 state ACTIVE physical_state LINK_UP netdev eth0".
existing_device() {
  rdma link show 2>/dev/null | awk -v ifc="$iface" '
    { for (i = 1; i < NF; i++) if ($i == "netdev" && $(i + 1) == ifc) { split($2, a, "/"); print a[1]; exit } }'
}
dev=$(existing_device)
if [ -n "$dev" ]; then
  echo "rxe-setup: reusing $dev, already on $iface"
else
  dev=rxe_$iface
  if ! rdma link add "$dev" type rxe netdev "$iface"; then
    # The usual cause is a kernel whose crc32 crypto module is not installed (rxe needs it for
    # its packet checksum); the kernel log names it.
    dmesg 2>/dev/null | grep -i rxe | tail -n 5 >&2 || true
    die "rdma link add $dev type rxe netdev $iface failed"
  fi
  echo "rxe-setup: created $dev on $iface"
fi

for _ in $(seq 50); do
  ibv_devices | awk 'NR > 2 { print $1 }' | grep -qx "$dev" && break
  sleep 0.1
done
ibv_devices | awk 'NR > 2 { print $1 }' | grep -qx "$dev" ||
  die "ibv_devices does not list $dev (is ibverbs-providers installed for this libibverbs?)"
info=$(ibv_devinfo -d "$dev") || die "ibv_devinfo -d $dev failed"
echo "$info" | grep -E 'hca_id|transport|state:|active_mtu|link_layer' | sed 's/^[[:space:]]*/  /'
echo "$info" | grep -q 'PORT_ACTIVE' ||
  echo "rxe-setup: warning: port 1 of $dev is not active; is $iface up? (ip link set $iface up)" >&2

# The GID table: 1024 slots, nearly all empty, filled from the interface's addresses. The kernel
# adds entries a moment after the device appears, so wait for the first non-zero one.
port=/sys/class/infiniband/$dev/ports/1
zero=0000:0000:0000:0000:0000:0000:0000:0000
for _ in $(seq 50); do
  grep -q -v "^$zero\$" "$port"/gids/* 2>/dev/null && break
  sleep 0.1
done
# The choice among them is clio-mn's (--list-gids: best first), the one the verbs backend makes.
table=$("$mn" --list-gids "$dev") || die "clio-mn --list-gids $dev failed"
[ -n "$table" ] || die "$dev has no GID yet; does $iface have an address? (ip addr show $iface)"
echo "rxe-setup: GID table of $dev port 1, best first (index, GID, type, interface, IPv4):"
echo "$table" | sed 's/^/  /'
IFS=$'\t' read -r best _ _ _ best_ip <<<"$(echo "$table" | head -n1)"
case "$best_ip" in
  -) case "$(echo "$table" | head -n1 | cut -f2)" in
       fe80:*) best_ip='' ;;
       *) best_ip="[$(echo "$table" | head -n1 | cut -f2)]" ;;
     esac ;;
esac
if [ -z "$best_ip" ]; then
  echo "rxe-setup: warning: $iface has no routable address, only link-local GID $best;" \
    "give it an IPv4 address (ip addr add ... dev $iface)" >&2
  best_ip="<address of $iface>"
fi
cat <<EOF
rxe-setup: use GID index $best. For this project:
  export CLIO_RDMA_DEV=$dev CLIO_RDMA_GID=$best
  clio-mn --listen verbs:dev=$dev,gid=$best,port=7400
  clients: verbs:dev=<their device>,gid=<their index>,host=$best_ip,port=7400
  check:   ibv_rc_pingpong -d $dev -g $best   (and on a client: ibv_rc_pingpong -d DEV -g N $best_ip)
EOF
