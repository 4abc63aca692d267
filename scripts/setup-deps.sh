#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package that building, testing and benchmarking this project needs.
# Idempotent: installs only what is missing, so a second run does nothing.
# Needs: Debian 12 (bookworm) or a close relative, and root (or sudo) when something is missing.
# Usage: scripts/setup-deps.sh   (no arguments)
set -euo pipefail
case "${1:-}" in
  -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
  "") ;;
  *) echo "setup-deps.sh: takes no arguments (try --help)" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev        # tests and micro-benchmarks
  libboost-program-options-dev                      # command-line options
  libibverbs-dev rdma-core ibverbs-providers        # the verbs backend compiles everywhere
  iproute2                                          # scripts/netns.sh (the netns test)
  ibverbs-utils                                     # ibv_devices for scripts/rxe-setup.sh
  qemu-system-x86 debootstrap debian-archive-keyring zstd cpio kmod   # scripts/rxe-vm.sh
  clang-format-14                                   # scripts/check-tree.sh: the formatting check
  clang-14 libclang-rt-14-dev llvm-14               # scripts/fuzz.sh: clang, libFuzzer and the
                                                    # sanitizer runtimes, llvm-symbolizer
  memcached redis-server libmemcached-dev libhiredis-dev   # bench/kv_anchor: the anchors
  gnuplot-nox                                       # clio-compare: the plots
  help2man dpkg-dev file                            # man pages; scripts/package.sh (CPack DEB,
                                                    # dpkg-shlibdeps)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
