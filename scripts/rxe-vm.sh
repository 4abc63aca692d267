#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command inside a small Debian bookworm VM that has a soft-RoCE (rdma_rxe) device, for
# hosts whose kernel has no RDMA at all. The repository is shared into the VM at the same absolute
# path, read-write, so a CMake build tree made on the host (absolute paths and all) runs inside.
# Usage: scripts/rxe-vm.sh [options] [-- COMMAND...]
#   COMMAND      run with `sh -c` in the repository directory inside the VM (several words are
#                joined with spaces, as ssh does), with CLIO_RDMA_DEV=rxe0, CLIO_RDMA_GID=<index
#                that works> and CLIO_IN_VM=1 set. Its exit status is this script's exit status.
#                Without COMMAND: a self-check (ibv_devinfo, ibv_rc_pingpong, ibv_ud_pingpong,
#                ib_read_lat, ib_write_lat, each server and client on rxe0).
#   --cache DIR  where the image is built and kept, with the console logs (default build/rxe-vm)
#   --rebuild    throw the cache away and build everything again
#   --build-only build (or check) the image, do not boot
#   --timeout S  kill the VM and fail after S seconds (default 900)
#   --mem MiB    guest memory (default 2048)
#   --smp N      guest vCPUs (default 2)
#   --accel A    kvm, tcg or auto (default auto: kvm when /dev/kvm works, else software emulation)
#   --mirror URL Debian mirror for debootstrap (default http://deb.debian.org/debian)
# Examples: scripts/rxe-vm.sh
#           scripts/rxe-vm.sh -- 'cd build && ctest -L hw --output-on-failure'
#           scripts/rxe-vm.sh -- build/tests/unit/net_unit_tests
# Exit status: the command's; 125 when the VM could not be built, booted or set up, or timed out;
# 2 for a bad option. The console goes to stdout and to DIR/logs/ (last.log is the latest).
# Needs: root to build the image (debootstrap) and to install missing host packages (qemu, ...);
# the Debian archive on the first run. Without KVM, on 2 cores: about 2-4 minutes from scratch
# (debootstrap is most of it), then 25-40 s to boot each time. The image is keyed by the kernel
# version Debian offers, so a kernel update rebuilds it.
set -euo pipefail
# Everything sits in one { } block, which bash reads whole before running it: editing this file
# while a VM runs (minutes) then cannot change what the running copy does next.
{
repo=$(cd "$(dirname "$0")/.." && pwd -P)
cache=$repo/build/rxe-vm
rebuild=0
build_only=0
timeout_s=900
mem_mib=2048
smp=2
accel=auto
mirror=http://deb.debian.org/debian
cmd=

die() { echo "rxe-vm: $*" >&2; exit 125; }
bad_usage() { echo "rxe-vm: $* (try --help)" >&2; exit 2; }
usage() { "$repo/scripts/help.sh" "$0"; }
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then bad_usage "$1 needs a value"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --cache) need_value "$@"; cache=$2; shift ;;
    --rebuild) rebuild=1 ;;
    --build-only) build_only=1 ;;
    --timeout) need_value "$@"; timeout_s=$2; shift ;;
    --mem) need_value "$@"; mem_mib=$2; shift ;;
    --smp) need_value "$@"; smp=$2; shift ;;
    --accel) need_value "$@"; accel=$2; shift ;;
    --mirror) need_value "$@"; mirror=$2; shift ;;
    --) shift; cmd="$*"; break ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
  shift
done
for n in "$timeout_s" "$mem_mib" "$smp"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || bad_usage "'$n' is not a positive whole number"
done
case "$accel" in kvm|tcg|auto) ;; *) bad_usage "--accel must be kvm, tcg or auto" ;; esac
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)

# --- timing -------------------------------------------------------------------------------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }
timings=()
# record PHASE START_MS [NOTE]: remembers how long a phase took, for the summary at the end.
record() {
  local ms=$(($(now_ms) - $2))
  timings+=("$(printf '%-12s %6d.%01d s%s' "$1" $((ms / 1000)) $((ms % 1000 / 100)) "${3:+  ($3)}")")
}
print_timings() {
  local t
  echo "rxe-vm: timings"
  for t in "${timings[@]}"; do echo "  $t"; done
}

# --- host packages ------------------------------------------------------------------------------
# The same approach as scripts/setup-deps.sh: install only what is missing, without recommends
# (qemu-system-x86 recommends a whole desktop's worth of firmware and UI libraries).
host_packages=(qemu-system-x86 debootstrap debian-archive-keyring zstd cpio kmod)
ensure_host_packages() {
  local p missing=()
  for p in "${host_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]} (apt-get install --no-install-recommends ${missing[*]})"
  echo "rxe-vm: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- what goes into the image -------------------------------------------------------------------
# rdma-core/ibverbs-*: the rxe user-space provider and the ibv_* tools; iproute2: `rdma link add`;
# perftest: ib_read_lat/ib_write_lat. Then what the project's binaries link dynamically (ldd of
# build/mn/clio-mn and the gtest binaries: boost program_options, libstdc++; gtest is static;
# bench/clio-compare also links the memcached and Redis client libraries).
# cmake gives ctest, for `ctest -L hw` inside. With its libraries (libicu alone is 36 MB) it is
# 63 of the image's 154 MB unpacked, so about 40% of the unpacking at boot: 3-5 s under software
# emulation. Worth it to run the test suite by label; drop it here if boot time matters more.
guest_packages=(rdma-core ibverbs-providers ibverbs-utils iproute2 kmod perftest procps
  libboost-program-options1.74.0 libstdc++6 libmemcached11 libhiredis0.14 cmake)
# Kernel modules, resolved with their dependencies by modprobe against the unpacked kernel.
# rdma_rxe computes its ICRC through the crypto API ("crc32"), which is a separate module: without
# it `rdma link add` fails with "failed to add". 9p over virtio-pci carries the shared folder.
guest_modules=(rdma_rxe crypto-crc32 virtio_pci 9pnet_virtio 9p dummy)
suite=bookworm
# Left out of the image: the initramfs is unpacked at every boot, about 25 MB/s under software
# emulation, and none of these is read in the VM (udev never runs; nothing converts charsets).
image_excludes=(usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/lintian
  usr/lib/udev/hwdb.d usr/lib/udev/hwdb.bin usr/lib/x86_64-linux-gnu/gconv
  'usr/share/cmake-*/Help' usr/bin/cpack)

# The kernel Debian would install now; it moves with Debian's updates, so it is looked up.
kernel_package() {
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
  if [ -z "$pkg" ]; then
    [ "$(id -u)" -eq 0 ] || die "apt-cache knows no linux-image-amd64; run apt-get update as root"
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
  fi
  [ -n "$pkg" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-cache depends linux-image-amd64)"
  echo "$pkg"
}

# --- the guest's /init --------------------------------------------------------------------------
# PID 1 must never exit (the kernel panics), so every path ends in power_off, which reports the
# status through the shared run folder and isa-debug-exit, and falls back to sysrq power-off.
read -r -d '' guest_init <<'INIT' || true
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
run=/rxe-vm
dev=rxe0
uptime_s() { local up _; read -r up _ </proc/uptime; echo "$up"; }
say() { echo "rxe-vm(guest) [$(uptime_s)]: $*"; }

power_off() {
  local status=$1
  if mountpoint -q "$run"; then
    echo "$status" >"$run/status"
    sync
  fi
  # isa-debug-exit at port 0xf4 makes qemu exit with (byte << 1) | 1. Exit statuses are 8 bits,
  # so the high bit would be lost; the exact value travels in $run/status.
  printf "\\$(printf '%03o' $((status & 0x7f)))" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
  echo o >/proc/sysrq-trigger
  while :; do sleep 3600; done
}
fail() { say "setup failed: $*"; dmesg | tail -n 20; power_off 125; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
# udev makes these links on a normal system; bash's <(...) needs /dev/fd.
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo 1 >/proc/sys/kernel/sysrq
hostname rxe-vm
say "init started"

# The shared folders: the run folder (command in, status out) and the repository.
modprobe virtio_pci && modprobe 9pnet_virtio && modprobe 9p || fail "cannot load the 9p modules"
mkdir -p "$run"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 rxevm_run "$run" || fail "cannot mount the run folder"
repo=$(cat "$run/repo")
mkdir -p "$repo"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none rxevm_repo "$repo" || fail "cannot mount $repo"

say "shared folders mounted"
ip link set lo up || fail "cannot bring lo up"
modprobe rdma_rxe || fail "modprobe rdma_rxe"
rdma link add "$dev" type rxe netdev lo || fail "rdma link add $dev type rxe netdev lo"
ibv_devices | grep -qw "$dev" || fail "ibv_devices does not list $dev"
say "$dev created"

# server_client NAME PORT CMD...: runs CMD as a server, then CMD 127.0.0.1 as its client, both on
# the same device, and prints both outputs. rxe retransmits slowly under emulation, hence the long
# timeouts. The client waits for the server's TCP port instead of sleeping a fixed time.
server_client() {
  local name=$1 port=$2 spid i cst sst
  shift 2
  timeout 120 "$@" >"/tmp/$name.server" 2>&1 &
  spid=$!
  for i in $(seq 300); do
    ss -Hltn "sport = :$port" | grep -q . && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  timeout 120 "$@" 127.0.0.1 >"/tmp/$name.client" 2>&1
  cst=$?
  wait "$spid"
  sst=$?
  [ "$cst" -eq 0 ] && [ "$sst" -eq 0 ]
}
show() { sed 's/^/  server| /' "/tmp/$1.server"; sed 's/^/  client| /' "/tmp/$1.client"; }

# Which GID index carries traffic. On lo, index 0 is a link-local GID made from lo's all-zero MAC
# and connecting through it fails ("Failed to modify QP to RTR"); the IPv4-mapped RoCE v2 GID
# (::ffff:127.0.0.1) works. Try the likeliest first and keep the first that passes a ping-pong.
port=/sys/class/infiniband/$dev/ports/1
for i in $(seq 50); do
  grep -q '^0000:0000:0000:0000:0000:ffff:' "$port"/gids/* 2>/dev/null && break
  sleep 0.1
done
# Prints "INDEX GID TYPE" for the filled slots. The table has 1024 slots, nearly all empty: one
# grep reads them all, where a process per slot would cost minutes under software emulation.
gid_table() {
  local line n t
  grep -H -v '^0000:0000:0000:0000:0000:0000:0000:0000$' "$port"/gids/* 2>/dev/null |
    while IFS= read -r line; do
      n=${line%%:*}
      n=${n##*/}
      t=
      read -r t <"$port/gid_attrs/types/$n" 2>/dev/null
      echo "$n ${line#*:} $t"
    done
}
# The order to try them in is clio-mn's (--list-gids, best first: the choice the verbs backend
# makes for a locator without gid=), so that it is made in one place; without a built clio-mn
# (the self-check needs none) the table's own order, which the ping-pong below then decides.
mn_bin=$repo/build/mn/clio-mn
if [ -x "$mn_bin" ] && ranked=$("$mn_bin" --list-gids "$dev" 2>/tmp/list-gids.err) && [ -n "$ranked" ]; then
  candidates=$(echo "$ranked" | cut -f1)
else
  say "no ranking from $mn_bin --list-gids ($(head -c 200 /tmp/list-gids.err 2>/dev/null)); trying the GIDs in table order"
  candidates=$(gid_table | cut -d' ' -f1)
fi
gid=
for n in $candidates; do
  if server_client gidprobe 18500 ibv_rc_pingpong -d "$dev" -g "$n" -n 5 -p 18500; then
    gid=$n
    break
  fi
  say "GID index $n does not carry traffic: $(grep -h -m1 -i -e fail -e error /tmp/gidprobe.* | head -n1)"
done
[ -n "$gid" ] || fail "no GID index of $dev passes ibv_rc_pingpong (tried: $candidates)"
say "$dev on lo is up; GID index $gid works ($(cat "$port/gids/$gid"))"

selfcheck() {
  local ok=0
  ibv_devinfo -d "$dev" || ok=1
  say "GID table of $dev port 1:"
  gid_table | sed 's/^/    /'
  # The rc/ud ping-pongs print bandwidth and per-iteration time; perftest prints a latency table.
  # -F: a VM's reported CPU frequency does not match its TSC, which perftest otherwise refuses.
  local t attempt st
  for t in "rc_pingpong 18511 ibv_rc_pingpong -d $dev -g $gid -n 1000 -p 18511" \
           "ud_pingpong 18512 ibv_ud_pingpong -d $dev -g $gid -n 1000 -p 18512" \
           "ib_read_lat 18513 ib_read_lat -d $dev -x $gid -n 1000 -F -p 18513" \
           "ib_write_lat 18514 ib_write_lat -d $dev -x $gid -n 1000 -F -p 18514"; do
    set -- $t
    say "--- $1 ---"
    # perftest times with the TSC, calibrated against the clock over a short sample; on a busy
    # host under emulation the fit can miss its r^2 >= 0.9 bar and every latency reads "inf".
    # The transfers themselves worked, so try again rather than fail.
    for attempt in 1 2 3; do
      server_client "$@"
      st=$?
      [ "$st" = 0 ] && grep -q 'Correlation coefficient' "/tmp/$1.client" || break
      [ "$attempt" = 3 ] || say "$1: perftest could not calibrate its clock; again"
    done
    if [ "$st" = 0 ]; then
      show "$1"
      say "$1: ok"
    else
      show "$1"
      say "$1: FAILED"
      ok=1
    fi
  done
  return $ok
}

cmd=$(cat "$run/cmd")
echo "cmd_start $(uptime_s)" >"$run/times"
cd "$repo" || fail "cd $repo"
if [ -z "$cmd" ]; then
  say "self-check"
  selfcheck
  status=$?
else
  say "running in $repo: $cmd"
  CLIO_RDMA_DEV=$dev CLIO_RDMA_GID=$gid CLIO_IN_VM=1 sh -c "$cmd" </dev/null
  status=$?
fi
echo "cmd_end $(uptime_s)" >>"$run/times"
say "exit status $status"
cd /
power_off "$status"
INIT

# --- build the image ----------------------------------------------------------------------------
key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-12; }

build_root() {  # debootstrap a minimal root once; keyed by suite and package list
  local dir=$1 t0
  [ -f "$dir/.complete" ] && { timings+=("$(printf '%-12s %8s' debootstrap cached)"); return 0; }
  rm -rf "$dir" "$dir.tmp"
  t0=$(now_ms)
  echo "rxe-vm: debootstrap $suite (minbase + ${guest_packages[*]}) into $dir"
  if ! debootstrap --variant=minbase --include="$(IFS=,; echo "${guest_packages[*]}")" "$suite" \
      "$dir.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    tail -n 20 "$cache/debootstrap.log" >&2
    die "debootstrap failed (whole log: $cache/debootstrap.log)"
  fi
  rm -rf "$dir.tmp"/var/cache/apt/* "$dir.tmp"/var/lib/apt/lists/*  # the .debs, the indexes
  mv "$dir.tmp" "$dir"
  touch "$dir/.complete"
  record debootstrap "$t0"
}

fetch_kernel() {  # download the kernel package once per kernel version
  local dir=$1 pkg=$2 t0
  if [ -f "$dir/.complete" ]; then
    timings+=("$(printf '%-12s %8s' 'kernel fetch' cached)")
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  t0=$(now_ms)
  echo "rxe-vm: apt-get download $pkg"
  # Running as root, apt would warn that it cannot drop to _apt for a folder it does not own.
  (cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) || die "apt-get download $pkg failed"
  touch "$dir/.complete"
  record 'kernel fetch' "$t0" "$pkg"
}

build_initramfs() {  # root + the modules rxe and 9p need + /init, as one compressed cpio
  local out=$1 root=$2 kdir=$3 kver=$4 t0 stage x m f rel
  [ -f "$out" ] && [ -f "$kdir/vmlinuz-$kver" ] && { timings+=("$(printf '%-12s %8s' initramfs cached)"); return 0; }
  t0=$(now_ms)
  x=$cache/tmp-kernel
  rm -rf "$x"
  # Unpacked, not installed: installing would build an initramfs of its own that we do not use.
  dpkg-deb -x "$kdir"/*.deb "$x"
  cp "$x/boot/vmlinuz-$kver" "$kdir/vmlinuz-$kver"
  depmod -b "$x" "$kver"
  stage=$cache/tmp-stage
  rm -rf "$stage"
  mkdir -p "$stage"
  # The stage must repeat the root's merged-/usr links (lib -> usr/lib): where an archive entry
  # has another type than the file already there, the kernel's unpacker replaces the file, so a
  # real lib/ directory would replace the link and take the dynamic loader with it.
  for f in "$root"/*; do
    [ -L "$f" ] || continue
    cp -P "$f" "$stage/"
    mkdir -p "$stage/$(readlink "$f")"  # relative in Debian, so this lands inside the stage
  done
  mkdir -p "$stage/lib/modules/$kver"
  for m in "${guest_modules[@]}"; do
    modprobe -d "$x" -S "$kver" --show-depends "$m" >"$cache/tmp-deps" || die "modprobe --show-depends $m found nothing in $kver"
    while read -r kind f _; do
      [ "$kind" = insmod ] || continue
      rel=${f#"$x"/}
      mkdir -p "$stage/$(dirname "$rel")"
      cp "$f" "$stage/$rel"
    done <"$cache/tmp-deps"
  done
  cp "$x/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$stage/lib/modules/$kver/"
  depmod -b "$stage" "$kver"
  printf '%s\n' "$guest_init" >"$stage/init"
  chmod 755 "$stage/init"
  # zstd unpacks several times faster than gzip at boot; every Debian kernel since bullseye has it.
  # Level 3: a fifth of level 9's time to pack for 10% more bytes; unpacking costs the same.
  local compress=(zstd -q -T0 -3) fmt=zstd
  if ! grep -q '^CONFIG_RD_ZSTD=y' "$x/boot/config-$kver"; then
    compress=(gzip -6)
    fmt=gzip
  fi
  rm -rf "$x" "$cache/tmp-deps"
  # Two archives in one: the kernel unpacks concatenated cpio archives in order, so the cached
  # root stays untouched and the small stage (modules, /init) lands on top of it.
  local prune=(-path ./.complete) p
  for p in "${image_excludes[@]}"; do prune+=(-o -path "./$p"); done
  { (cd "$root" && find . \( "${prune[@]}" \) -prune -o -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet)
    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0)
  } | "${compress[@]}" >"$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$stage"
  record initramfs "$t0" "$(du -m "$out" | cut -f1) MiB $fmt"
}

ensure_host_packages
kpkg=$(kernel_package)
kver=${kpkg#linux-image-}
root_key=$(key_of "$suite" "$mirror" "${guest_packages[@]}")
image_key=$(key_of "$root_key" "$kver" "${guest_modules[@]}" "${image_excludes[@]}" "$guest_init")
root_dir=$cache/root-$suite-$root_key
kernel_dir=$cache/kernel-$kver
initramfs=$cache/initramfs-$kver-$image_key.img

exec 9>"$cache/.lock"
flock 9  # two runs sharing a cache must not build into the same folders at once
if [ "$rebuild" = 1 ]; then
  echo "rxe-vm: --rebuild: emptying $cache"
  # Not run.* or logs: a VM started earlier may still be running from its run folder.
  find "$cache" -mindepth 1 -maxdepth 1 \( -name 'root-*' -o -name 'kernel-*' -o -name 'initramfs-*' \
    -o -name 'tmp-*' -o -name 'kvm-*' -o -name debootstrap.log \) -exec rm -rf {} +
fi
if [ ! -f "$root_dir/.complete" ] || [ ! -f "$initramfs" ] || [ ! -f "$kernel_dir/.complete" ]; then
  [ "$(id -u)" -eq 0 ] || die "building the image needs root (debootstrap)"
fi
build_root "$root_dir"
fetch_kernel "$kernel_dir" "$kpkg"
build_initramfs "$initramfs" "$root_dir" "$kernel_dir" "$kver"
# Older images (another kernel, another package list) are dead weight: drop them.
find "$cache" -mindepth 1 -maxdepth 1 \( -name 'root-*' -o -name 'kernel-*' -o -name 'initramfs-*' \) \
  ! -path "$root_dir" ! -path "$kernel_dir" ! -path "$initramfs" -exec rm -rf {} +
flock -u 9
echo "rxe-vm: image $initramfs ($(du -m "$initramfs" | cut -f1) MiB), kernel $kver"
if [ "$build_only" = 1 ]; then
  print_timings
  exit 0
fi

# --- boot ---------------------------------------------------------------------------------------
# KVM is used only after a real boot under it has worked here. /dev/kvm can exist and still be
# useless: on the machines this was written on it opens and creates VMs, but the CPU shows no
# vmx/svm, `-cpu host` dies on an MSR (0x10a) and other CPU models hang once the kernel starts.
# The probe boots the kernel without a root and waits for its "no root" panic; the verdict is kept.
kvm_works() {
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
  grep -qw -e vmx -e svm /proc/cpuinfo || return 1
  local verdict
  verdict=$cache/kvm-$(key_of "$(uname -r)" "$(qemu-system-x86_64 --version | head -n1)" "$kver")
  if [ ! -f "$verdict" ]; then
    echo "rxe-vm: checking that KVM boots a kernel here"
    if timeout -k 5 60 qemu-system-x86_64 -accel kvm -cpu host -smp "$smp" -m 256 -nographic \
        -no-reboot -kernel "$kernel_dir/vmlinuz-$kver" -append "console=ttyS0 panic=-1" \
        </dev/null 2>&1 | grep -q 'Kernel panic'; then
      echo yes >"$verdict"
    else
      echo no >"$verdict"
    fi
  fi
  [ "$(cat "$verdict")" = yes ]
}
if [ "$accel" = auto ]; then
  if kvm_works; then accel=kvm; else accel=tcg; fi
fi
if [ "$accel" = kvm ]; then cpu=host; else cpu=max; fi

mkdir -p "$cache/logs"
run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
printf '%s' "$repo" >"$run/repo"
printf '%s' "$cmd" >"$run/cmd"
log=$cache/logs/$(date +%Y%m%d-%H%M%S)-$$.log  # the pid: two runs may start in one second
ln -sfn "$(basename "$log")" "$cache/logs/last.log"
# Keep the last 20 logs; their names sort by date.
find "$cache/logs" -name '*-*.log' | sort -r | tail -n +21 | xargs -r rm -f

echo "rxe-vm: booting ($accel, $smp vCPUs, $mem_mib MiB); console log $log"
t0=$(now_ms)
set +e
# stdin from /dev/null: the console is output only, and Ctrl-C then stops qemu instead of being
# passed to the guest. -no-reboot turns a guest panic (panic=-1 reboots) into a qemu exit.
# -nic none: the VM needs no network (rxe runs on lo), and the default NIC's boot ROM costs
# seconds of firmware time under emulation.
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
  -accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem_mib" -nographic -no-reboot -nic none \
  -kernel "$kernel_dir/vmlinuz-$kver" -initrd "$initramfs" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -virtfs "local,path=$run,mount_tag=rxevm_run,security_model=none,id=rxevm_run" \
  -virtfs "local,path=$repo,mount_tag=rxevm_repo,security_model=none,id=rxevm_repo" \
  </dev/null 2>&1 | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
vm_ms=$(($(now_ms) - t0))

if [ -f "$run/times" ]; then
  cmd_start=$(sed -n 's/^cmd_start //p' "$run/times")
  cmd_end=$(sed -n 's/^cmd_end //p' "$run/times")
fi
# Boot is the VM's time less the command's: firmware, kernel, modules, rxe, the GID probe, and
# the power-off, which is quick.
if [ -n "${cmd_end:-}" ]; then
  cmd_ms=$(awk -v s="$cmd_start" -v e="$cmd_end" 'BEGIN { printf "%d", (e - s) * 1000 }')
  boot_ms=$((vm_ms - cmd_ms))
  timings+=("$(printf '%-12s %6d.%01d s  (%s)' boot $((boot_ms / 1000)) $((boot_ms % 1000 / 100)) "$accel")")
  timings+=("$(printf '%-12s %6d.%01d s' command $((cmd_ms / 1000)) $((cmd_ms % 1000 / 100)))")
else
  timings+=("$(printf '%-12s %6d.%01d s  (%s; the command did not finish)' vm $((vm_ms / 1000)) \
    $((vm_ms % 1000 / 100)) "$accel")")
fi
print_timings

if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
  die "the VM did not finish within $timeout_s s and was killed (--timeout; console log $log)"
fi
if [ ! -f "$run/status" ]; then
  die "the VM stopped without reporting a status (qemu exit $qemu_rc; console log $log)"
fi
status=$(cat "$run/status")
# Cross-check the two channels: isa-debug-exit gives ((status & 0x7f) << 1) | 1.
if [ $((qemu_rc & 1)) -ne 1 ] || [ $((qemu_rc >> 1)) -ne $((status & 0x7f)) ]; then
  echo "rxe-vm: warning: qemu exited $qemu_rc, which does not match status $status" >&2
fi
[ "$status" -eq 0 ] || echo "rxe-vm: the command failed with exit status $status (console log $log)" >&2
exit "$status"
}
