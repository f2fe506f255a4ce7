#!/usr/bin/env bash
# Speculation end to end (SPECNFS_POLICY=cto) through a 30 ms link: a
# prediction that holds commits; one refuted by a second client rolls the
# process back -- its output appears once, with the new content, the
# derived file and the exit status are right, the parent's wait() sees the
# same pid, and no process is left behind. Also a refuted negative lookup.
. "$(dirname "$0")/lib.sh"
testbed_start tb
PROG=$BUILDDIR/tests/integration/spec_prog
require_built "$PROG" "$SHIM" "$SPECNFSD"
wan_link w --rtt 30
client_export "" "SPECNFS_MOUNTS=/nfs=$w_URL" \
	"SPECNFS_STATS=$T_TMP/stats"
mkdir -p "$tb_EXPORT_DIR/src"
echo "first version" >"$tb_EXPORT_DIR/src/in.txt"

run() { # run POLICY ARGS...: the program under the shim; sets out, rc, pid
	env SPECNFS_POLICY="$1" LD_PRELOAD="$SHIM" "$PROG" "${@:2}" >"$T_TMP/out" 2>&1 &
	pid=$!
	wait "$pid"
	rc=$?
	out=$(cat "$T_TMP/out")
}
last_stats() { tail -n 1 "$T_TMP/stats"; }

run off /nfs/src/in.txt /nfs/src/out.txt # warms the cache
run cto /nfs/src/in.txt /nfs/src/out.txt
check "cto, unchanged file: right output and status" \
	test "$(head -n 1 <<<"$out")" = "line: first version" -a "$rc" -eq 13
check "... it ran ahead on a prediction and committed" \
	grep -qE 'predictions=[1-9].* checkpoints=1 commits=1 rollbacks=0' <<<"$(last_stats)"

echo "second version, longer" >"$tb_EXPORT_DIR/src/in.txt" # the second client
run cto /nfs/src/in.txt /nfs/src/out.txt
echo "$out" | sed 's/^/# /'
check "refuted: the printed line appears exactly once and is the new content" \
	test "$(grep -c '^line:' <<<"$out")" -eq 1 -a "$(head -n 1 <<<"$out")" = \
		"line: second version, longer"
check "... the derived file is right" \
	test "$(cat "$tb_EXPORT_DIR/src/out.txt")" = "derived from [second version, longer]"
check "... the exit status is right ($rc)" test "$rc" -eq 22
check "... getpid() before and after agree, and equal the pid the shell waited for ($pid)" \
	test "$(sed -n 's/^pid //p' <<<"$out")" = "$pid $pid"
check "... it rolled back once" grep -qE 'rollbacks=1' <<<"$(last_stats)"
sleep 0.3
check "... no process is left behind" bash -c '! pgrep -x spec_prog >/dev/null'

# A negative lookup refuted: the header appears on the server.
run cto probe /nfs/src/new.h >/dev/null # warms the listing
run cto probe /nfs/src/new.h
check "cto, absent header: predicted absent, and it is" test "$out" = "/nfs/src/new.h: absent" -a \
	"$rc" -eq 0
echo '#define NEW 1' >"$tb_EXPORT_DIR/src/new.h"
run cto probe /nfs/src/new.h
check "the header appeared: the negative prediction is refuted, the program sees it (once)" \
	test "$out" = "/nfs/src/new.h: present" -a "$rc" -eq 1

# gcc -c of a file that includes 50 headers from NFS: under off every open
# and every header probe waits for the server; under cto cc1 runs ahead on
# predictions and waits at its one barrier (its output), about a round trip.
mkdir -p "$tb_EXPORT_DIR/g50/inc"
for i in $(seq 1 50); do echo "#define H$i $i" >"$tb_EXPORT_DIR/g50/inc/h$i.h"; done
{
	for i in $(seq 1 50); do echo "#include \"h$i.h\""; done
	echo 'int f(void) { return H1 + H50; }'
} >"$tb_EXPORT_DIR/g50/m.c"
gcc_at() { # gcc_at POLICY: milliseconds for one gcc -c
	local t0 t1
	t0=$(date +%s%N)
	env SPECNFS_POLICY="$1" SPECNFS_STATS="$T_TMP/stats.$1" LD_PRELOAD="$SHIM" \
		gcc -c -I/nfs/g50/inc /nfs/g50/m.c -o "$T_TMP/m.o"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
gcc_at cto >/dev/null # warm the cache
off=$(gcc_at off)
rm -f "$T_TMP/stats.cto"
cto=$(gcc_at cto)
cc1=$(grep -E 'predictions=[0-9]{2,}' "$T_TMP/stats.cto" | head -n 1)
echo "# gcc -c with 50 NFS headers at 30 ms: off $off ms, cto $cto ms"
echo "# cc1 under cto: $cc1"
blocked=$(sed -n 's/.*blocked_us=\([0-9]*\).*/\1/p' <<<"$cc1")
what="cto: cc1 ran ahead on its predictions and waited about a round trip"
check "$what (${blocked:-?} us < 150000)" test -n "$blocked" -a "${blocked:-999999}" -lt 150000
check "off: the same compile waits for dozens of round trips ($off ms > 1200)" test "$off" -gt 1200
check "the object file is right" bash -c 'nm "$1" | grep -q " T f$"' _ "$T_TMP/m.o"

# ---------------------------------------------------------------- full
# Write-back speculation: the derived file's create and close, mkdir,
# rename, rmdir return at once; what the server refuses rolls back.
mkdir -p "$tb_EXPORT_DIR/w"
echo "full input" >"$tb_EXPORT_DIR/w/in.txt"
run off /nfs/w/in.txt /nfs/w/out.txt # warms the cache
rm -f "$T_TMP/stats"
run full /nfs/w/in.txt /nfs/w/out.txt
check "full: right output, derived file and status" \
	test "$(head -n 1 <<<"$out")" = "line: full input" -a "$rc" -eq 10 -a \
	"$(cat "$tb_EXPORT_DIR/w/out.txt")" = "derived from [full input]"
echo "# $(last_stats)"
check "... the create and the close were predicted too, and it committed" \
	grep -qE 'predictions=[3-9].* rollbacks=0' <<<"$(last_stats)"

# The create refused: the directory is gone on the server (a second client
# removed it) while our cache still lists it.
mkdir -p "$tb_EXPORT_DIR/gone"
"$SPECNFS" ls /nfs/gone >/dev/null # lists gone/: our cache knows it empty
rm -rf "$tb_EXPORT_DIR/gone"
rm -f "$T_TMP/stats"
run full /nfs/w/in.txt /nfs/gone/out.txt
echo "$out" | sed 's/^/# /'
check "refused create: the line appears once, then the real error, once; status 98" \
	test "$(grep -c '^line: full input$' <<<"$out")" -eq 1 -a \
	"$(grep -c 'gone/out.txt: No such file or directory' <<<"$out")" -eq 1 -a "$rc" -eq 98
check "... nothing of the discarded run shows (no pid line)" bash -c '! grep -q "^pid" <<<"$1"' _ \
	"$out"
check "... it rolled back once" grep -q 'rollbacks=1' "$T_TMP/stats"
check "... and the server has no such file" test ! -e "$tb_EXPORT_DIR/gone"

# mkdir refused: the name now exists on the server.
run full probe /nfs/w/newdir >/dev/null # w/ listed: newdir absent
mkdir "$tb_EXPORT_DIR/w/newdir"
rm -f "$T_TMP/stats"
run full mkdir /nfs/w/newdir
check "refused mkdir: the program sees EEXIST, once ($out, $rc)" \
	test "$out" = "mkdir /nfs/w/newdir: File exists" -a "$rc" -eq 1
check "... after a rollback" grep -q 'rollbacks=1' "$T_TMP/stats"

# A run of write-backs, all predicted: the server ends up right.
run full probe /nfs/w/d2 >/dev/null
rm -f "$T_TMP/stats"
run full ops /nfs/w/d2
check "full: mkdir, create, close, rename, mkdir, rmdir: all done ($out)" \
	test "$out" = "ops /nfs/w/d2: ok" -a "$rc" -eq 0
check "... the server has them, in order" \
	test "$(cat "$tb_EXPORT_DIR/w/d2/g" 2>&1)" = "written by spec_prog" -a ! -e \
		"$tb_EXPORT_DIR/w/d2/f" \
	-a ! -e "$tb_EXPORT_DIR/w/d2/tmp"
echo "# $(last_stats)"
check "... without a rollback" grep -q 'rollbacks=0' "$T_TMP/stats"
sleep 0.3
check "no process is left behind" bash -c '! pgrep -x spec_prog >/dev/null'

# A file appended to while running ahead: after the rollback the append is
# done once, not twice (the checkpoint gives the file its size back).
echo "append v1" >"$tb_EXPORT_DIR/w/ain.txt"
: >"$tb_EXPORT_DIR/w/log.txt"
run full append /nfs/w/ain.txt /nfs/w/log.txt # warm
: >"$tb_EXPORT_DIR/w/log.txt"
run full append /nfs/w/ain.txt /nfs/w/log.txt
echo "append v2" >"$tb_EXPORT_DIR/w/ain.txt" # the second client
rm -f "$T_TMP/stats"
run full append /nfs/w/ain.txt /nfs/w/log.txt
check "appending while running ahead, rolled back: the output once ($out)" test "$out" = \
	"appended: append v2"
check "... and the file has each run's line once" \
	test "$(cat "$tb_EXPORT_DIR/w/log.txt")" = \
		"$(printf 'appended [append v1]\nappended [append v2]')"
check "... after a rollback" grep -q 'rollbacks=1' "$T_TMP/stats"

finish
