#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints a script's help: its header comment (the lines after the licence line, up to the first
# line that is not a comment), without the leading "# ". Every script's --help is this, so that
# the help cannot drift from the header it is written in.
# Usage: scripts/help.sh SCRIPT
set -euo pipefail
[ $# -eq 1 ] && [ -r "$1" ] || { echo "usage: scripts/help.sh SCRIPT" >&2; exit 2; }
awk 'NR == 1 && /^#!/ { next }
     /^# SPDX-License-Identifier:/ { next }
     !/^#/ { exit }
     { sub(/^# ?/, ""); print }' "$1"
