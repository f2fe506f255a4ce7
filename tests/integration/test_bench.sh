#!/usr/bin/env bash
# tools/specnfs-bench end to end on a tiny configuration: the synthetic
# workload (2 sources) at 0 and 10 ms, local, off and cto, one repetition;
# the table, the CSVs and both plots are written and sane, every run printed
# what the local run printed, the validations' lags are at least a round
# trip, and the refuted-prediction scenario's build is correct. The
# autotools workload's interface, offline.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd gnuplot python3 gcc make ganesha.nfsd nfs-ls
require_built "$SPECNFS"

OUT=$T_TMP/out
"$SRCDIR/tools/specnfs-bench" --builddir "$BUILDDIR" --workloads synthetic --size synthetic=2 \
	--rtt 0,10 --configs local,off,cto --reps 1 --out "$OUT" >"$T_TMP/bench.out" 2>&1
rc=$?
check "specnfs-bench exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -n 20 "$T_TMP/bench.out"
check "progress lines [k/N]" grep -q '^\[10/10\] synthetic rtt=10 ' "$T_TMP/bench.out"

for f in results.md results.csv runs.csv plot.png plot.svg; do
	check "$f written" test -s "$OUT/$f"
done
# One row per (RTT, configuration, cache): local once, off and cto at 0 and 10.
rows=$(tail -n +2 "$OUT/results.csv" | cut -d, -f1-4 | sort | tr '\n' ' ')
want="synthetic,-,local,cold synthetic,-,local,warm "
want+="synthetic,0,cto,cold synthetic,0,cto,warm synthetic,0,off,cold synthetic,0,off,warm "
want+="synthetic,10,cto,cold synthetic,10,cto,warm synthetic,10,off,cold synthetic,10,off,warm "
check "results.csv has a row per combination" test "$rows" = "$want"
check "every run succeeded" test "$(tail -n +2 "$OUT/runs.csv" | cut -d, -f7 | sort -u)" = ok
check "off at 10 ms is slower than off at 0 ms" python3 -c '
import csv, sys
m = {(r["rtt_ms"], r["config"], r["cache"]): float(r["median_s"])
     for r in csv.DictReader(open(sys.argv[1]))}
sys.exit(not m[("10", "off", "warm")] > m[("0", "off", "warm")])' "$OUT/results.csv"
check "speed-up of off over itself is 1" grep -q \
	'^synthetic,10,off,warm,1,1,[0-9.]*,[0-9.]*,[0-9.]*,1.000,' "$OUT/results.csv"
check "the shim's counters are in the CSV" grep -q 'median_predictions' "$OUT/results.csv"
# cto predicts: its validations' lags are there, and none came back faster
# than the link allows (a validation is one round trip at least).
check "validation lags under cto at 10 ms: at least one round trip" python3 -c '
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))
        if r["rtt_ms"] == "10" and r["config"] == "cto"]
sys.exit(not rows or not all(r["lag_p50_ms"] and 10 <= int(r["lag_p50_ms"]) <= int(r["lag_p90_ms"])
                             for r in rows))' "$OUT/runs.csv"
check "results.md shows them" grep -q 'validation ms (median)' "$OUT/results.md"
check "plot.png is a PNG" test "$(head -c 8 "$OUT/plot.png" | od -An -tx1 | tr -d ' \n')" = \
	89504e470d0a1a0a
check "plot.svg parses as SVG" python3 -c '
import sys, xml.etree.ElementTree as ET
sys.exit(not ET.parse(sys.argv[1]).getroot().tag.endswith("svg"))' "$OUT/plot.svg"
check "plot.svg has axis labels and a legend" sh -c \
	"grep -q 'round-trip time (ms)' '$OUT/plot.svg' && grep -q 'cto, warm' '$OUT/plot.svg'"
check "results.md has the table" grep -q '^| 10 | cto | warm | ' "$OUT/results.md"
check "refuted scenario under cto: correct" grep -q '^- cto at 10 ms: .*result correct: yes' \
	"$OUT/results.md"
check "refuted scenario under off (control): correct" grep -q \
	'^- off at 10 ms: .*result correct: yes' "$OUT/results.md"
check "every run printed what the local run printed" sh -c "! ls '$OUT/logs' | grep -q output.diff"
check "no test bed left running" sh -c "! ls -d /tmp/specnfs-bench.* 2>/dev/null | grep -q ."

check "a bad --rtt is a usage error" sh -c "'$SRCDIR/tools/specnfs-bench' --rtt 1x 2>&1 >/dev/null |
	grep -q \"specnfs-bench: --rtt: '1x' is not a number\"; test \$? -eq 0"
"$SRCDIR/tools/specnfs-bench" --configs local,nope >/dev/null 2>&1
check "an unknown configuration exits 2" test $? -eq 2

# The autotools workload (libogg's ./configure && make) takes minutes per run
# through NFS and needs deb.debian.org once: here only its interface, offline.
"$SRCDIR/tools/specnfs-bench" --workloads nope >"$T_TMP/usage.out" 2>&1
check "autotools is a known workload" grep -q 'known: .*autotools' "$T_TMP/usage.out"
SPECNFS_BENCH_CACHE=$T_TMP/empty-cache "$SRCDIR/tools/bench/autotools" setup "$T_TMP/at" \
	>"$T_TMP/at.out" 2>&1
rc=$?
check "autotools setup without the fetched source fails and says so" sh -c \
	"test $rc -eq 1 && grep -q 'libogg is not fetched yet' '$T_TMP/at.out'"
"$SRCDIR/tools/bench/autotools" run >/dev/null 2>&1
check "autotools run without DIR exits 2" test $? -eq 2
finish
