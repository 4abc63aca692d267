#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the project and runs its tests, from a fresh Debian 12 machine:
#   1. installs missing packages (scripts/setup-deps.sh);
#   2. builds everything (library, daemon, benchmarks, tests) in build/ and runs every ctest
#      suite except those labelled `hw` (they need an RDMA device) and `vm`; the `netns` test
#      builds three hosts in network namespaces (root);
#   2b. runs the `vm` test on its own: the `hw` suite and a short verbs benchmark inside a qemu
#      VM with soft-RoCE (scripts/rxe-vm.sh; the image is built once into build/rxe-vm);
#   2c. makes the Debian packages (scripts/package.sh, build-pkg/), unpacks them into a scratch
#      root, builds examples/ against them (find_package, shared and static; pkg-config) and runs
#      the examples against the packaged clio-mn (tests/package/package_test.sh);
#   3. builds the concurrency tests, the MN protocol tests (server, dedup, transports) and the
#      asynchronous client tests (threads sharing a client) with ThreadSanitizer (build-tsan/)
#      and runs them;
#   4. builds the unit tests and the MN protocol tests (malformed packets) with AddressSanitizer
#      + UndefinedBehaviorSanitizer and assertions on (CLIO_DCHECK; build-asan/) and runs them;
#   5. builds the libFuzzer targets with clang (build-fuzz/) and runs each for a bounded time
#      (scripts/fuzz.sh): 55 s each with CI=true, else 10 s; CLIO_FUZZ_SECONDS overrides.
# Before building, checks the tree (scripts/check-tree.sh): clang-format over every C and C++
# file, and the layering of the folders.
# With CI=true, warnings are errors. Exits non-zero on the first failure.
# Usage: scripts/test.sh [--quick]
#   --quick  the edit-and-test loop: the tree checks, the build in build/ and the unit tests
#            (ctest -L unit), in a few minutes
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
  "") ;;
  *) echo "test.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac
scripts/setup-deps.sh

werror=OFF
if [ "${CI:-}" = true ]; then werror=ON; fi
jobs=2

step() { printf '\n=== %s\n' "$*"; }

step "tree: formatting and layering (scripts/check-tree.sh)"
scripts/check-tree.sh
step "build (build/)"
cmake -S . -B build -G Ninja -DCLIO_WERROR=$werror >/dev/null
cmake --build build -j$jobs
if [ $quick = 1 ]; then
  step "unit tests (--quick)"
  ctest --test-dir build -j$jobs --output-on-failure --no-tests=error -L unit
  step "unit tests passed (--quick: the full command also runs the integration, netns, vm, package, sanitizer and fuzz stages)"
  exit 0
fi
step "tests"
ctest --test-dir build -j$jobs --output-on-failure --no-tests=error -LE 'hw|vm'
step "soft-RoCE VM: the hw tests and a verbs benchmark (build/rxe-vm/)"
ctest --test-dir build --output-on-failure -L vm
step "packages: libclio1, libclio-dev and clio-mn, the examples built against them and run (build-pkg/)"
tests/package/package_test.sh --build-dir build-pkg

step "ThreadSanitizer (build-tsan/)"
cmake -S . -B build-tsan -G Ninja -DCLIO_SANITIZE=thread -DCLIO_WERROR=$werror \
  -DCLIO_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j$jobs --target mn_concurrency_tests mn_protocol_tests async_tests
ctest --test-dir build-tsan -j$jobs --output-on-failure --no-tests=error -L tsan
ctest --test-dir build-tsan -j$jobs --output-on-failure --no-tests=error -R MnProtocolTest
# (thousands of queued requests are slow to push through under TSAN; they run in build/)
ctest --test-dir build-tsan -j$jobs --output-on-failure --no-tests=error -R AsyncTest \
  -E TooManyUnfinished

step "AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
cmake -S . -B build-asan -G Ninja -DCLIO_SANITIZE=address,undefined -DCLIO_ASSERTS=ON \
  -DCLIO_WERROR=$werror -DCLIO_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j$jobs --target common_unit_tests mn_unit_tests net_unit_tests \
  cn_unit_tests mn_protocol_tests
ctest --test-dir build-asan -j$jobs --output-on-failure --no-tests=error -L unit
ctest --test-dir build-asan -j$jobs --output-on-failure --no-tests=error -R MnProtocolTest

fuzz_secs=10
if [ "${CI:-}" = true ]; then fuzz_secs=55; fi
fuzz_secs=${CLIO_FUZZ_SECONDS:-$fuzz_secs}
step "libFuzzer targets, ${fuzz_secs}s each (build-fuzz/)"
CLIO_JOBS=$jobs scripts/fuzz.sh "$fuzz_secs"
step "all tests passed"
