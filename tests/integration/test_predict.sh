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

mkdir -p "$tb_EXPORT_DIR/src/bits"
echo '#define X 1' >"$tb_EXPORT_DIR/src/bits/x.h"
out=$("$PROBE" stat /nfs/src/bits/x.h)
check "a directory that appeared on the server refutes that prediction" \
	bash -c 'grep -q "status=-2 predicted=1" <<<"$1" && grep -q "refuted=1" <<<"$1"' _ "$out"
out=$("$PROBE" stat /nfs/src/bits/x.h)
check "then the header under it is found, and that holds" \
	bash -c 'grep -q "x.h status=0" <<<"$1" && grep -q "refuted=0" <<<"$1"' _ "$out"

finish
