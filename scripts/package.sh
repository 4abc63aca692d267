#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Makes the Debian packages (CPack, rules in packaging/CMakeLists.txt):
#   libclio1     the shared library libclio.so.1
#   libclio-dev  headers (include/clio), libclio.so, libclio.a, find_package(clio), clio.pc
#   clio-mn      clio-mn and clio-compare with their man pages, the systemd unit clio-mn.service
#                and /etc/clio/clio-mn.conf (serving 127.0.0.1; the credential is made at first
#                start in /etc/clio/auth)
# Usage: scripts/package.sh [--build-dir DIR]   (default build-pkg/)
# Configures DIR for prefix /usr without the tests, builds what the packages hold, makes them in
# DIR/packages/ and prints their paths. Install with `apt install ./DIR/packages/*.deb`.
# Installs missing packages first (scripts/setup-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-pkg
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) dir="${2:?--build-dir needs a directory}"; shift ;;
    -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
scripts/setup-deps.sh
werror=OFF
if [ "${CI:-}" = true ]; then werror=ON; fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_INSTALL_PREFIX=/usr -DCLIO_SYSTEM_FILES=ON \
  -DCLIO_BUILD_TESTS=OFF -DCLIO_WERROR=$werror >/dev/null
cmake --build "$dir" -j2 --target clio_shared clio_static clio-mn clio-compare clio_man
rm -rf "$dir/packages"
(cd "$dir" && cpack -G DEB -B "$PWD/packages" >/dev/null)
ls "$dir"/packages/*.deb
