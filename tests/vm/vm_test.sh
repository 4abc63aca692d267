#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vm_test.sh BUILD_DIR
# The `hw` tests for real on a machine without RDMA: boots the soft-RoCE VM of scripts/rxe-vm.sh
# (built once, cached in BUILD_DIR/rxe-vm), runs `ctest -L hw` on this very build tree inside it,
# then a short verbs benchmark (Clio over UD, one-sided RDMA over RC, perftest) and the comparison
# over verbs with its RDMA rows (clio-compare --tiny), and prints them.
# Exit 77 = skipped (the reason is printed): not root, so no VM image can be built.
set -euo pipefail
build=$(cd "${1:?usage: vm_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: building the soft-RoCE VM image (debootstrap) needs root"
  exit 77
fi
# Inside, the hw suite must find the device and run: a test that skips there fails this one.
exec "$root/scripts/rxe-vm.sh" --cache "$build/rxe-vm" --timeout 1500 -- "
  cd '$build' || exit 1
  ctest -L hw --output-on-failure --no-tests=error >/tmp/hw.log 2>&1; rc=\$?
  cat /tmp/hw.log
  [ \$rc -eq 0 ] || exit \$rc
  if grep -q 'Skipped' /tmp/hw.log; then echo 'vm_test: hw tests skipped inside the VM'; exit 1; fi
  '$root/scripts/vm-bench.sh' --build '$build' --sizes 64,4096 --ops 1000 --iters 500 --compare"
