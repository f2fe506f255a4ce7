#!/usr/bin/env bash
# specnfsd's predictions (the daemon half of speculation): through a 30 ms
# link, a predicted answer comes from the cache at once; RESOLVE reports,
# about one round trip later, whether the server agreed -- and refutes a
# changed file and a name that appeared; the next prediction has the truth.
. "$(dirname "$0")/lib.sh"
testbed_start tb
PROBE=$BUILDDIR/tests/integration/predict_probe
require_built "$PROBE" "$SPECNFSD"
wan_link w --rtt 30
client_export "" "SPECNFS_MOUNTS=/nfs=$w_URL"
mkdir -p "$tb_EXPORT_DIR/src"
echo v1 >"$tb_EXPORT_DIR/src/a.c"

field() { sed -n "s/.*$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
line() { sed -n "$1p" <<<"$2"; }

"$PROBE" stat-nopredict /nfs/src/a.c open /nfs/src/a.c readdir /nfs/src >/dev/null
out=$("$PROBE" stat /nfs/src/a.c open /nfs/src/a.c readdir /nfs/src stat /nfs/src/new.h)
echo "$out" | sed 's/^/# /'
check "warm cache: stat, open, readdir and a missing name are all predicted" \
	test "$(grep -c 'predicted=1' <<<"$out")" -eq 4
check "the missing name is predicted absent (ENOENT)" grep -q 'new.h status=-2 predicted=1' \
	<<<"$out"
us=$(field us "$(line 1 "$out")")
# Bounds are loose on purpose (shared machines): what matters is "before
# the server could have answered" and "not before it did".
check "a predicted stat answers before the server could ($us us < 30000)" test "$us" -lt 30000
check "RESOLVE: every prediction held" test "$(field refuted "$(line 5 "$out")")" = 0
us=$(field us "$(line 5 "$out")")
check "RESOLVE waited for the validations: at least one round trip ($us us)" \
	test "$us" -ge 25000 -a "$us" -lt 2000000

# gcc probes inc/bits/x.h in every -I directory; bits/ is in none of them.
# The complete listing of src says so: no round trip to look bits/ up.
out=$("$PROBE" stat /nfs/src/bits/x.h open /nfs/src/bits/y.h)
echo "$out" | sed 's/^/# /'
check "a name under a directory the listing lacks is predicted absent (stat and open)" \
	test "$(grep -c 'status=-2 predicted=1' <<<"$out")" -eq 2
check "... and RESOLVE finds that held" grep -q 'refuted=0' <<<"$out"

echo "version 2" >"$tb_EXPORT_DIR/src/a.c"
out=$("$PROBE" stat /nfs/src/a.c)
check "a file changed on the server: the prediction (old size) is refuted" \
	bash -c 'grep -q "size=3 " <<<"$1" && grep -q "refuted=1" <<<"$1"' _ "$out"
out=$("$PROBE" stat /nfs/src/a.c)
check "the next prediction carries the truth and holds" \
	bash -c 'grep -q "size=10 " <<<"$1" && grep -q "refuted=0" <<<"$1"' _ "$out"

echo '#define NEW 1' >"$tb_EXPORT_DIR/src/new.h"
out=$("$PROBE" stat /nfs/src/new.h)
check "a header that appeared on the server refutes the negative prediction" \
	bash -c 'grep -q "status=-2 predicted=1" <<<"$1" && grep -q "refuted=1" <<<"$1"' _ "$out"
out=$("$PROBE" stat /nfs/src/new.h open /nfs/src/new.h)
check "then it is found (stat and open), and that holds" \
	bash -c 'grep -q "new.h status=0" <<<"$1" && grep -q "refuted=0" <<<"$1"' _ "$out"

# The check of new.h above saw src changed: a listing of it again, so
# that bits/ is predicted absent from a complete one.
"$PROBE" readdir /nfs/src >/dev/null
mkdir -p "$tb_EXPORT_DIR/src/bits"
echo '#define X 1' >"$tb_EXPORT_DIR/src/bits/x.h"
out=$("$PROBE" stat /nfs/src/bits/x.h)
check "a directory that appeared on the server refutes that prediction" \
	bash -c 'grep -q "status=-2 predicted=1" <<<"$1" && grep -q "refuted=1" <<<"$1"' _ "$out"
out=$("$PROBE" stat /nfs/src/bits/x.h)
check "then the header under it is found, and that holds" \
	bash -c 'grep -q "x.h status=0" <<<"$1" && grep -q "refuted=0" <<<"$1"' _ "$out"

# --- predicted mutations: ordered where they depend on each other, only there --
# Under full, mkdir, create, close and rename are answered before the
# server has them (daemon/jobs.c, the ordered line). One process makes
# them all while the earlier ones are still on their way; the server must
# end up with what a synchronous run leaves: each store after its file's
# create, each create after its directory's mkdir, each rename after the
# store of the file it moves. Read back through the export itself.
require_cmd python3
mkdir -p "$tb_EXPORT_DIR/o"
F=$(shim_env full "$w_URL" SPECNFS_POLICY=full SPECNFS_STATS="$T_TMP/full.stats")
env $F python3 -c '
import os
os.listdir("/nfs/o")
os.mkdir("/nfs/o/d")
open("/nfs/o/d/f", "w").write("one\n")
os.mkdir("/nfs/o/d/e")
open("/nfs/o/d/e/g", "w").write("two\n")
open("/nfs/o/w", "w").write("three\n")
os.rename("/nfs/o/w", "/nfs/o/r")
os.rename("/nfs/o/d/f", "/nfs/o/d/f2")
'
# One line per process, the checkpoints' copies included: the sums.
stats=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
	END { printf "predictions=%d refuted=%d rollbacks=%d\n", s["predictions"], s["refuted"],
	s["rollbacks"] }' "$T_TMP/full.stats" 2>/dev/null)
echo "# $stats"
check "full: the mutations were predicted, none refuted" \
	test "$(field predictions "$stats")" -ge 5 -a "$(field refuted "$stats")" = 0
got=$(cd "$tb_EXPORT_DIR/o" && find . | sort | tr '\n' ' '; cat d/f2 d/e/g r 2>&1 | tr '\n' ' ')
check "full: mkdir, create in it, write, rename of a just-written file end right on the server" \
	test "$got" = ". ./d ./d/e ./d/e/g ./d/f2 ./r one two three "
[ "$got" = ". ./d ./d/e ./d/e/g ./d/f2 ./r one two three " ] || echo "# export has: $got"

# A validation waits for nothing it does not look at, a predicted mutation
# for nothing it does not touch: not for a store in flight on a slow link
# (2 MB at 1 MB/s). Before, each predicted mutation waited for every call
# admitted before it, and every later call waited behind it. One process
# writes the big file (its exit waits for the store); meanwhile another
# makes a directory and a third stats an unrelated file, both predicted.
# The daemon's log says in which order things happened: both are
# confirmed by the server before the store ends.
wan_link s --rtt 30 --bandwidth 1MB
S=$(shim_env slow "$s_URL" SPECNFS_POLICY=full SPECNFS_LOG=4 SPECNFS_LOG_FILE="$T_TMP/slow.log")
log=$T_TMP/slow.log
env $S sh -c 'ls /nfs /nfs/o /nfs/src >/dev/null && cat /nfs/src/a.c >/dev/null'
# wait_log TEXT: until the daemon logged TEXT (10 s at most).
wait_log() {
	local i
	for i in $(seq 1 200); do
		grep -qF -- "$1" "$log" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
env $S python3 -c 'open("/nfs/o/big", "wb").write(b"x" * 2000000)' &
writer=$!
wait_log 'close /nfs/o/big -> 0 predicted'
env $S mkdir /nfs/o2 &
maker=$!
wait_log 'mkdir /nfs/o2 -> 0 predicted'
env $S stat /nfs/src/a.c >/dev/null
wait "$writer" "$maker"
# logline TEXT: the number of the daemon log's last line with TEXT
logline() { grep -nF -- "$1" "$log" | tail -n 1 | cut -d: -f1; }
st=$(logline 'stored /o/big')
mk=$(logline 'mkdir /nfs/o2 -> 0 remote (pid 0,')
v=$(logline 'stat /nfs/src/a.c -> 0 remote (pid 0,')
grep -E 'big|o2|src/a.c' "$log" | cut -d' ' -f1,4- | sed 's/^/# /'
check "the close of the big file, the mkdir and the stat were predicted" \
	bash -c 'grep -q "close /nfs/o/big -> 0 predicted" "$1" &&
		grep -q "mkdir /nfs/o2 -> 0 predicted" "$1" &&
		grep -q "stat /nfs/src/a.c -> 0 predicted" "$1"' _ "$log"
check "the predicted mkdir reached the server before the unrelated store ended" \
	test -n "$mk" -a -n "$st" -a "${mk:-0}" -lt "${st:-0}"
check "an unrelated stat was validated before the store ended" \
	test -n "$v" -a -n "$st" -a "${v:-0}" -lt "${st:-0}"
check "... and the big file reached the server whole, the directory too" \
	test "$(stat -c %s "$tb_EXPORT_DIR/o/big" 2>/dev/null)" = 2000000 -a -d "$tb_EXPORT_DIR/o2"

# --- our own create keeps the directory's listing (NFSv3 weak cache consistency) --
# The CREATE's reply carries the directory's attributes before and after
# it: when "before" is what its listing was learnt at, nobody else changed
# it, and the listing stays complete. A create in a listed directory, then
# a stat of another name in it: predicted absent from the listing, with no
# second READDIR of the directory (counted by `specnfs status`). When
# another client added a name first, the listing must be dropped: that
# name is found, not predicted absent.
wan_link c --rtt 10
mkdir -p "$tb_EXPORT_DIR/wcc" "$tb_EXPORT_DIR/wcc2"
echo a >"$tb_EXPORT_DIR/wcc/a"
echo a >"$tb_EXPORT_DIR/wcc2/a"
C=$(shim_env wcc "$c_URL" SPECNFS_POLICY=full SPECNFS_LOG=4 SPECNFS_LOG_FILE="$T_TMP/wcc.log")
CS=$(mount_env wcc "$c_URL")
# calls NAME: how many NFS calls of that kind the daemon made so far
calls() { env $CS "$SPECNFS" status | sed -n "s/.* $1=\\([0-9]*\\).*/\\1/p" | head -n 1; }
env $C ls /nfs/wcc /nfs/wcc2 >/dev/null
env $C sh -c 'echo x >/nfs/wcc/new'
r1=$(calls readdir)
env $C stat /nfs/wcc/other >/dev/null 2>&1
r2=$(calls readdir)
echo "# readdir calls: ${r1:-?} after the create, ${r2:-?} after the stat"
check "our own create kept the listing: the next stat is predicted absent" \
	grep -q 'stat /nfs/wcc/other -> -2 predicted' "$T_TMP/wcc.log"
check "... with no READDIR of the directory again" test -n "$r1" -a "${r1:-x}" = "${r2:-y}"
check "... the daemon says why (wcc)" grep -q 'listing of /wcc kept' "$T_TMP/wcc.log"
echo b >"$tb_EXPORT_DIR/wcc2/theirs"
env $C sh -c 'echo x >/nfs/wcc2/mine'
check "a name another client made before our create is found after it" \
	env $C stat /nfs/wcc2/theirs
check "... not predicted absent: the directory changed under us, the listing was dropped" \
	bash -c '! grep -q "stat /nfs/wcc2/theirs -> -2" "$1" &&
		! grep -q "listing of /wcc2 kept" "$1"' _ "$T_TMP/wcc.log"

# The same for our own rename and unlink (REMOVE and RENAME by the
# directory's handle carry its wcc too; ar writes a temporary name and
# renames it, a build removes its outputs): the listing is kept, and a
# stat of the directory while the change is on its way waits for it and
# shows the directory's attributes after it, as a kernel client would.
mkdir -p "$tb_EXPORT_DIR/wcc3"
echo a >"$tb_EXPORT_DIR/wcc3/a"
echo b >"$tb_EXPORT_DIR/wcc3/b"
env $C ls /nfs/wcc3 >/dev/null
r1=$(calls readdir)
env $C sh -c 'mv /nfs/wcc3/a /nfs/wcc3/c && rm /nfs/wcc3/b && stat -c "%Y %h" /nfs/wcc3 &&
	stat /nfs/wcc3/other' >"$T_TMP/wcc3.out" 2>&1
r2=$(calls readdir)
echo "# readdir calls: ${r1:-?} before the rename and unlink, ${r2:-?} after"
check "our own rename and unlink kept the listing: the next stat is predicted absent" \
	grep -q 'stat /nfs/wcc3/other -> -2 predicted' "$T_TMP/wcc.log"
check "... with no READDIR of the directory again" test -n "$r1" -a "${r1:-x}" = "${r2:-y}"
check "... the directory's mtime and link count the program saw are the server's after both" \
	test "$(head -n 1 "$T_TMP/wcc3.out")" = "$(stat -c '%Y %h' "$tb_EXPORT_DIR/wcc3")"
check "... and the server has the change: c, no a, no b" \
	test "$(cd "$tb_EXPORT_DIR/wcc3" && echo *)" = c

# --- misses checked through their directory (daemon/dircheck.c) --------------
# Names predicted absent from a directory's listing are checked with one
# GETATTR of the directory (unchanged: no name appeared), not a LOOKUP
# each; one that did appear is found by its own lookup and refutes.
mkdir -p "$tb_EXPORT_DIR/dc"
echo a >"$tb_EXPORT_DIR/dc/a"
env $C ls /nfs/dc >/dev/null
# dc NAME: the figures of `specnfs status`'s "directory checks" line
dc() {
	env $CS "$SPECNFS" status |
		sed -n "s/^directory checks: \([0-9]*\) predicted misses answered by \([0-9]*\) .*/\1 \2/p"
}
read -r a1 g1 <<<"$(dc)"
l1=$(calls lookup)
env $C sh -c 'for i in $(seq 1 40); do test -e /nfs/dc/m$i && exit 1; done; exit 0'
rc=$?
read -r a2 g2 <<<"$(dc)"
l2=$(calls lookup)
echo "# 40 misses: ${a1:-?} -> ${a2:-?} answered by checks, ${g1:-?} -> ${g2:-?} checks," \
	"${l1:-?} -> ${l2:-?} lookups"
check "40 names absent from a listed directory: none is found" test "$rc" = 0
check "... at least 30 of them answered by checks of the directory" \
	test -n "$a2" -a $((${a2:-0} - ${a1:-0})) -ge 30
check "... with fewer than 10 calls in all (a LOOKUP each made 40)" \
	test -n "$g2" -a -n "$l2" -a $((${g2:-0} - ${g1:-0} + ${l2:-0} - ${l1:-0})) -lt 10
echo late >"$tb_EXPORT_DIR/dc/late"
check "a name another client made since the listing is found" \
	test "$(env $C cat /nfs/dc/late 2>&1)" = late
# The ordered line: a miss in a directory, then a change in that same
# directory by a child (held in an epoch of its own until its parent's
# misses held) must not wait for each other.
check "misses, then a child's mkdir in the same directory: no deadlock" \
	timeout -s KILL 60 env $C sh -c 'test -e /nfs/dc/x1; test -e /nfs/dc/x2;
		mkdir -p /nfs/dc/obj; test -e /nfs/dc/x3; test -d /nfs/dc/obj'
check "... and the directory reached the server" test -d "$tb_EXPORT_DIR/dc/obj"

finish
