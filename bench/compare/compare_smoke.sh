#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctest CompareTiny: clio-compare --tiny runs every experiment for every design with the anchors,
# and its outputs hold: every experiment has rows for every design, each CSV parses (a header and
# rows of the same number of fields), each PNG is a PNG image, the report gives every claim a
# verdict, and no memory node or anchor server outlives the run. Two rounds: every row is the
# median of two runs of its step, and none is left unmerged.
set -euo pipefail
bin=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" --tiny --rounds 2 --out "$out" >"$out/stdout.txt" 2>"$out/stderr.txt" || {
  echo "clio-compare --tiny failed:"; cat "$out/stderr.txt" "$out/stdout.txt"; exit 1; }
fail() { echo "CompareTiny: $*"; exit 1; }
for e in 1 2 3 4 5 6; do
  csv="$out/exp$e.csv"
  [ -s "$csv" ] || fail "no exp$e.csv"
  # Every line has as many fields as the header (no field of ours holds a quoted comma).
  awk -F, 'NR == 1 { n = NF; next } NF != n { bad = 1 } END { exit bad || NR < 2 }' "$csv" ||
    fail "exp$e.csv does not parse"
  for d in clio server pnic; do
    grep -q "^$e,$d," "$csv" || fail "experiment $e has no row for $d"
  done
  grep -q ',error,' "$csv" && fail "experiment $e has a failed step: $(grep ',error,' "$csv")"
  png="$out/exp$e.png"
  [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "exp$e.png is not a PNG"
  [ "$(stat -c %s "$png")" -gt 2000 ] || fail "exp$e.png is empty"
done
unmerged=$(grep -vc '"rounds":2' "$out/results.jsonl" || true)
[ "$unmerged" -eq 0 ] || fail "$unmerged rows are not the median of 2 rounds: $(grep -v '"rounds":2' "$out/results.jsonl" | head -3)"
grep -q "^5,floor," "$out/exp5.csv" || fail "experiment 5 has no floor row (the echo window)"
for a in memcached redis floor; do
  grep -q "\"system\":\"$a\"" "$out/results.jsonl" || fail "no $a rows"
done
# The verdict table: every claim row ends with a verdict of the three kinds (or a ratio).
rows=$(sed -n '/^## Verdicts/,/^## /p' "$out/report.md" | grep -c '^| [a-z]' || true)
[ "$rows" -ge 8 ] || fail "report.md has $rows verdicts"
if sed -n '/^## Verdicts/,/^## /p' "$out/report.md" | grep '^| [a-z]' | grep -q '| *|$'; then
  fail "a claim has no verdict"
fi
grep -q 'not applicable here\|reproduced' "$out/report.md" || fail "no verdict words"
grep -q "clio-compare summary" "$out/stdout.txt" || fail "no summary"
if pgrep -P $$ -f 'memcached|redis-server|clio-mn' >/dev/null; then fail "a server outlived clio-compare"; fi
echo "CompareTiny: $(wc -l <"$out/results.jsonl") rows, 6 CSVs, 6 PNGs, $rows verdicts"
