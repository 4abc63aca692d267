#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctest KvAnchorSmoke: kv_anchor starts memcached and Redis, measures a tiny configuration,
# prints one JSON row per point for both, and leaves no server behind.
set -euo pipefail
bin=$1
out=$("$bin" --quick --sizes 64 --depths 1,4 --ops 200)
rows() { grep -c "^{\"bench\":\"kv_anchor\",\"system\":\"$1\"" <<<"$out" || true; }
m=$(rows memcached)
r=$(rows redis)
echo "kv_anchor rows: memcached $m (want 3), redis $r (want 4)"
[ "$m" -eq 3 ] && [ "$r" -eq 4 ] || { echo "$out"; exit 1; }
grep -q '"p50_ns":[1-9]' <<<"$out" || { echo "no latency figures"; exit 1; }
# Our servers were children of kv_anchor: none may outlive it.
if pgrep -P $$ -f 'memcached|redis-server' >/dev/null; then echo "a server outlived kv_anchor"; exit 1; fi
