#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks what keeps the tree easy to change, failing with each offending line:
#   formatting  every C and C++ file in git is as clang-format (.clang-format) writes it
#               (fix: clang-format -i FILE)
#   layering    common/ and verbs_shim/ include nothing of mn/ or cn/; mn/ and cn/ never
#               include each other (the memory node and the client library share only the
#               wire format and the transports); none of the four includes tests/ or bench/
#   help        every script in scripts/ answers --help from its own header (scripts/help.sh)
# Usage: scripts/check-tree.sh   (scripts/test.sh runs it first)
set -euo pipefail
case "${1:-}" in
  -h|--help) "$(dirname "$0")/help.sh" "$0"; exit 0 ;;
esac
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$fmt" ] || { echo "check-tree: clang-format not found (scripts/setup-deps.sh installs it)" >&2; exit 1; }
bad=0
mapfile -t sources < <(git ls-files '*.c' '*.cc' '*.h')
if ! "$fmt" --dry-run -Werror "${sources[@]}" 2>/tmp/check-tree-format.$$; then
  grep -E '^[^ ].*: (error|warning):' /tmp/check-tree-format.$$ | sed 's/^/check-tree: format: /' | head -50
  echo "check-tree: files not clang-formatted (fix: $fmt -i FILE)" >&2
  bad=1
fi
rm -f /tmp/check-tree-format.$$
layer() {  # layer FOLDER PATTERN WHY: no file under FOLDER may include a header matching PATTERN
  local hits
  hits=$(git grep -n -E "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"($2)/" -- "$1" || true)
  if [ -n "$hits" ]; then
    echo "$hits" | sed "s/^/check-tree: layering ($3): /"
    bad=1
  fi
}
layer common 'mn|cn|verbs_shim' "common/ is below everything"
layer verbs_shim 'mn|cn' "the transports know no memory node and no client"
layer mn 'cn' "the memory node does not include the client library"
layer cn 'mn' "the client library does not include the memory node"
for d in common verbs_shim mn cn; do
  layer $d 'tests|bench' "what ships includes no test or benchmark code"
done
for f in scripts/*.sh; do
  case $f in scripts/help.sh | scripts/netns.sh) continue ;; esac  # netns.sh: its usage() lists verbs
  if ! grep -q 'help\.sh" "\$0"' "$f"; then
    echo "check-tree: help: $f: --help does not print the header (use scripts/help.sh)"
    bad=1
  fi
done
if [ $bad = 0 ]; then echo "check-tree: ${#sources[@]} files formatted, layering holds, scripts' help from their headers"; fi
exit $bad
