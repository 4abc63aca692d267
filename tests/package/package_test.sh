#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The packages as a user gets them: makes the Debian packages (scripts/package.sh), unpacks them
# into a scratch root, checks what they hold, builds the examples against them (find_package,
# shared and static; pkg-config) and runs every example against the packaged clio-mn.
# Usage: tests/package/package_test.sh [--build-dir DIR]   (default build-pkg/)
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
dir=build-pkg
case "${1:-}" in
  --build-dir) dir="${2:?--build-dir needs a directory}" ;;
  -h|--help) "$(dirname "$0")/../../scripts/help.sh" "$0"; exit 0 ;;
  "") ;;
  *) echo "package_test.sh: unknown argument '$1'" >&2; exit 2 ;;
esac
fail() { echo "package_test: FAIL: $*" >&2; exit 1; }

scripts/package.sh --build-dir "$dir" >/dev/null
debs=("$dir"/packages/*.deb)
scratch=$(mktemp -d /tmp/clio-package-test.XXXXXX)
mn_pid=
cleanup() {
  if [ -n "$mn_pid" ]; then kill "$mn_pid" 2>/dev/null || true; wait "$mn_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
root=$scratch/root
for name in libclio1 libclio-dev clio-mn; do
  deb=$(ls "$dir"/packages/${name}_*.deb 2>/dev/null) || fail "no package $name among ${debs[*]}"
  dpkg-deb -x "$deb" "$root"
  echo "package_test: $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
done

# --- What the packages hold. -------------------------------------------------------------------
libdir=$(dirname "$(find "$root/usr/lib" -name 'libclio.so.1' | head -1)")
[ -n "$libdir" ] && [ "$libdir" != . ] || fail "libclio.so.1 is in no package"
for f in "$libdir/libclio.so" "$libdir/libclio.a" "$libdir/pkgconfig/clio.pc" \
         "$libdir/cmake/clio/clioConfig.cmake" "$libdir/cmake/clio/clioConfigVersion.cmake" \
         "$root/usr/include/clio/clio.h" "$root/usr/include/clio/client.h" \
         "$root/usr/bin/clio-mn" "$root/usr/bin/clio-compare" \
         "$root/usr/share/man/man1/clio-mn.1" "$root/usr/share/man/man1/clio-compare.1" \
         "$root/usr/lib/systemd/system/clio-mn.service" "$root/etc/clio/clio-mn.conf"; do
  [ -e "$f" ] || fail "missing ${f#$root}"
done
grep -q 'host=127.0.0.1' "$root/etc/clio/clio-mn.conf" || fail "clio-mn.conf does not serve 127.0.0.1"
grep -q '^\.TH' "$root/usr/share/man/man1/clio-mn.1" || fail "clio-mn.1 is not a man page"
grep -q -F -- '\-\-auth\-file' "$root/usr/share/man/man1/clio-mn.1" || fail "clio-mn.1 lacks the options"
[ "$(readelf -d "$libdir/libclio.so.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" = libclio.so.1 ] \
  || fail "libclio.so.1 has the wrong SONAME"
# Only the API is exported: C functions clio_*, and C++ names in namespace clio that the public
# headers declare (Client's members, error_string).
leaks=$(nm -D --defined-only "$libdir/libclio.so.1" | awk '$2 ~ /[TDBRVW]/ {sub(/@.*/, "", $3); print $3}' |
        grep -v -E '^(clio_[a-z_]+|_ZN4clio6Client.*|_ZN4clio12error_string.*|_ZNK4clio6Client.*)$' || true)
[ -z "$leaks" ] || fail "libclio.so.1 exports internal symbols: $(echo "$leaks" | head -5 | c++filt | tr '\n' ' ')"
exported=$(nm -D --defined-only "$libdir/libclio.so.1" | grep -c ' T clio_')
[ "$exported" -eq 26 ] || fail "libclio.so.1 exports $exported C functions, clio.h declares 26"

# --- Outside programs built against them. -------------------------------------------------------
export CMAKE_PREFIX_PATH=$root/usr
for kind in shared static; do
  static=OFF; [ $kind = static ] && static=ON
  cmake -S "$src/examples" -B "$scratch/ex-$kind" -G Ninja -DCLIO_EXAMPLES_STATIC=$static \
    >"$scratch/ex-$kind.log" 2>&1 || { cat "$scratch/ex-$kind.log"; fail "find_package(clio) ($kind)"; }
  cmake --build "$scratch/ex-$kind" >>"$scratch/ex-$kind.log" 2>&1 ||
    { cat "$scratch/ex-$kind.log"; fail "building the examples ($kind)"; }
done
if ldd "$scratch/ex-static/hello" | grep -q libclio; then fail "the static build links libclio.so"; fi
ldd "$scratch/ex-shared/hello" | grep -q "$libdir/libclio.so.1" || fail "the shared build does not use the packaged libclio.so.1"
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion clio)" = "$(sed -n 's/^project(clio VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)" ] ||
  fail "pkg-config --modversion clio"
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$scratch/hello-pc" examples/hello.c $(pkg-config --cflags --libs clio) ||
  fail "building hello.c with pkg-config"

# --- Run them against the packaged memory node. ------------------------------------------------
(umask 077; head -c 32 /dev/urandom | base64 > "$scratch/auth")
exec {mn_out}< <(exec "$root/usr/bin/clio-mn" --listen udp:host=127.0.0.1,port=0 \
                   --auth-file "$scratch/auth" --memory 256M --page-size 4K 2>&1)
mn_pid=$!
locator=
while IFS= read -r -t 30 line <&$mn_out; do
  case "$line" in "clio-mn: serving "*) locator=${line#clio-mn: serving }; break ;; esac
done
[ -n "$locator" ] || fail "the packaged clio-mn did not start"
export CLIO_AUTH_FILE=$scratch/auth
for p in ex-shared/hello ex-shared/hello_cpp ex-shared/share ex-static/hello ex-static/hello_cpp \
         ex-static/share hello-pc; do
  LD_LIBRARY_PATH=$libdir "$scratch/$p" "$locator" || fail "$p against $locator"
done
echo "package_test: passed (${#debs[@]} packages, examples built 3 ways and run against $locator)"
