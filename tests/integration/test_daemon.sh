#!/usr/bin/env bash
# specnfsd against a real NFS-Ganesha server: a 2,000-file tree written,
# listed and read back byte-identical; a second client sees every change
# after close; through a 30 ms link, fresh attributes cost no call and
# revalidating 100 files costs about one round trip; kill -9 in the middle
# of writing 50 files loses nothing. The daemon runs under valgrind here.
. "$(dirname "$0")/lib.sh"
require_cmd sha256sum valgrind
testbed_start tb
require_built "$SPECNFS" "$SPECNFSD"

# Every daemon of this test runs under a memory checker: valgrind, or
# AddressSanitizer when SPECNFS_MEMCHECK=asan (with an --enable-asan build
# in SPECNFS_BUILDDIR). Logs are checked at the end; the daemon detaches
# with fork, so each pid has its own.
MEMCHECK=${SPECNFS_MEMCHECK:-valgrind}
if [ "$MEMCHECK" = asan ]; then
	cat >"$T_TMP/specnfsd-vg" <<EOF
#!/bin/sh
ASAN_OPTIONS=log_path=$T_TMP/asan:detect_leaks=1 \\
UBSAN_OPTIONS=print_stacktrace=1:log_path=$T_TMP/ubsan exec "$SPECNFSD" "\$@"
EOF
else
	cat >"$T_TMP/specnfsd-vg" <<EOF
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
	--log-file=$T_TMP/vg.%p.log "$SPECNFSD" "\$@"
EOF
fi
chmod +x "$T_TMP/specnfsd-vg"

# vg_env NAME URL [VAR=VALUE...]: a client with its own cache and daemon,
# the daemon under the memory checker.
vg_env() { mount_env "$@" "SPECNFS_DAEMON=$T_TMP/specnfsd-vg"; }
A=$(vg_env a "$tb_NFS_URL3")
B=$(vg_env b "$tb_NFS_URL4") # the second client speaks NFSv4
a() { env $A "$SPECNFS" "$@"; }
b() { env $B "$SPECNFS" "$@"; }

# --- a tree of 2,000 files -------------------------------------------------
src=$T_TMP/tree
for d in $(seq -w 1 20); do
	mkdir -p "$src/d$d/sub"
	for f in $(seq -w 1 99); do
		head -c $(((10#$d * 997 + 10#$f * 131) % 9000)) /dev/urandom >"$src/d$d/f$f.bin"
	done
	head -c 300000 /dev/urandom >"$src/d$d/sub/big.bin"
done
check "local tree has 2000 files" test "$(find "$src" -type f | wc -l)" -eq 2000

t0=$(date +%s.%N)
a put -r "$src" /nfs/tree
rc=$?
t1=$(date +%s.%N)
check "put -r of 2000 files succeeds ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)" \
	test "$rc" -eq 0
check "the server holds the tree byte-identical" diff -r "$src" "$tb_EXPORT_DIR/tree"

a get -r /nfs/tree "$T_TMP/back"
check "get -r reads it back byte-identical" diff -r "$src" "$T_TMP/back"
b get -r /nfs/tree "$T_TMP/back-b"
check "a second client (NFSv4) reads the same bytes" diff -r "$src" "$T_TMP/back-b"

listing_ok=1
for d in $(seq -w 1 20); do
	[ "$(a ls "/nfs/tree/d$d" | tr '\n' ' ')" = \
		"$(ls "$tb_EXPORT_DIR/tree/d$d" | sort | tr '\n' ' ')" ] || listing_ok=0
done
check "ls of every directory matches the server" test "$listing_ok" -eq 1

# Files that appear on the server by other means are served too.
mkdir -p "$tb_EXPORT_DIR/direct"
for i in $(seq 1 30); do head -c $((i * 1000)) /dev/urandom >"$tb_EXPORT_DIR/direct/x$i"; done
a get -r /nfs/direct "$T_TMP/direct"
check "files written on the server side read back identical" diff -r "$tb_EXPORT_DIR/direct" \
	"$T_TMP/direct"

# --- close-to-open between two clients -----------------------------------------
echo "version 1" >"$T_TMP/v1"
echo "version 2, longer" >"$T_TMP/v2"
a put "$T_TMP/v1" /nfs/shared.txt
check "B reads what A closed" test "$(b cat /nfs/shared.txt)" = "version 1"
b put "$T_TMP/v2" /nfs/shared.txt
check "A reads what B closed (its cached copy is revalidated at open)" \
	test "$(a cat /nfs/shared.txt)" = "version 2, longer"
b put "$T_TMP/v1" /nfs/tree/d01/new-from-b
check "A opens a file B just created" test "$(a cat /nfs/tree/d01/new-from-b)" = "version 1"
b rm /nfs/tree/d01/f01.bin
check "A no longer opens a file B removed" bash -c \
	'! env $1 "$2" cat /nfs/tree/d01/f01.bin >/dev/null 2>&1' _ "$A" "$SPECNFS"
b mv /nfs/tree/d01/f02.bin /nfs/tree/d01/renamed.bin
check "A reads a file B renamed under its new name" \
	cmp -s <(a cat /nfs/tree/d01/renamed.bin) "$src/d01/f02.bin"

# --- through a 30 ms link ------------------------------------------------------
# 40 MB/s: the 100 MB of the kill -9 part below take seconds, so the kill
# lands mid-way even when a loaded machine is slow to notice the journal.
wan_link w --rtt 30 --bandwidth 40mb
W=$(vg_env w "$w_URL" SPECNFS_ACREGMIN=2 SPECNFS_ACREGMAX=2 SPECNFS_LOG=2)
w() { env $W "$SPECNFS" "$@"; }
mkdir -p "$tb_EXPORT_DIR/many"
files=()
for i in $(seq 1 100); do echo "$i" >"$tb_EXPORT_DIR/many/f$i"; files+=("/nfs/many/f$i"); done
calls() { w status | sed -n 's/.*calls:\(.*\)/\1/p' | tr ' ' '\n' | awk -F= \
	'$1=="getattr"||$1=="lookup"||$1=="readdir"{n+=$2} END{print n+0}'; }
w ls /nfs/many >/dev/null
c0=$(calls)
w stat "${files[@]}" >/dev/null
c1=$(calls)
check "stat of 100 files with fresh attributes costs no NFS call ($((c1 - c0)) calls)" test "$c1" \
	-eq "$c0"
sleep 2.2 # let the attributes expire (acregmax 2 s)
t0=$(date +%s%N)
w stat "${files[@]}" >/dev/null
t1=$(date +%s%N)
c2=$(calls)
ms=$(((t1 - t0) / 1000000))
echo "# revalidating 100 files through a 30 ms link: $ms ms, $((c2 - c1)) calls"
check "revalidating 100 stale files sends them all ($((c2 - c1)) calls)" test "$((c2 - c1))" -ge 100
# One after another they would take 100 x 30 = 3,000 ms; pipelined they take
# a few round trips. The bound is half the serial time, loose on purpose:
# under ASan on a shared machine one run took 175 ms.
check "... pipelined: $ms ms, a few round trips, not 100 x 30 ms" test "$ms" -lt 1500

# --- by handle: a file's content, a symlink -------------------------------------
# NFSv3: the daemon knows a looked-up name's handle. Fetching a file's
# content then costs READs alone (by path: a LOOKUP per component, two
# GETATTRs and the READs, 7 round trips for a small file), and a symlink
# one SYMLINK in its directory.
ncalls() { w status | sed -n 's/.*calls:\(.*\)/\1/p' | tr ' ' '\n' | awk -F= -v k="$1" \
	'$1==k{n+=$2} END{print n+0}'; }
mkdir -p "$tb_EXPORT_DIR/deep/a/b"
seq 1 20000 >"$tb_EXPORT_DIR/deep/a/b/f"
w ls /nfs/deep/a/b >/dev/null
l0=$(ncalls lookup) r0=$(ncalls read)
w cat /nfs/deep/a/b/f >"$T_TMP/deep.out"
l1=$(ncalls lookup) r1=$(ncalls read)
check "a file fetched by handle has the server's content" cmp -s "$T_TMP/deep.out" \
	"$tb_EXPORT_DIR/deep/a/b/f"
check "... with one READ ($((r1 - r0))) and no LOOKUP but the name's own ($((l1 - l0)))" \
	test "$((l1 - l0))" -le 1 -a "$((r1 - r0))" -eq 1
w ln -s f /nfs/deep/a/b/l
l2=$(ncalls lookup)
check "a symlink made by its directory's handle ($(readlink "$tb_EXPORT_DIR/deep/a/b/l"), \
$((l2 - l1)) LOOKUPs)" test "$(readlink "$tb_EXPORT_DIR/deep/a/b/l")" = f -a "$((l2 - l1))" -eq 0

# --- kill -9 while writing 50 files -------------------------------------------
mkdir -p "$T_TMP/fifty"
for i in $(seq 1 50); do head -c $((2000000 + i * 1000)) /dev/urandom >"$T_TMP/fifty/f$i"; done
w mkdir /nfs/fifty
pids=()
for i in $(seq 1 50); do
	w put "$T_TMP/fifty/f$i" "/nfs/fifty/f$i" >"$T_TMP/put$i.log" 2>&1 &
	pids+=($!)
done
# Kill it once some files are in the journal (opened for writing, not yet
# stored): those are the ones the next daemon must finish.
dirty() { w --no-start status 2>/dev/null | sed -n 's/.* \([0-9]*\) dirty$/\1/p'; }
for _ in $(seq 1 200); do
	n=$(dirty)
	[ "${n:-0}" -ge 10 ] && break
	sleep 0.05
done
echo "# $n file(s) dirty in the journal at the kill"
dpid=$(cat "$T_TMP"/run-w/*.lock 2>/dev/null | head -n 1)
done_before=0
for i in $(seq 1 50); do cmp -s "$T_TMP/fifty/f$i" "$tb_EXPORT_DIR/fifty/f$i" 2>/dev/null && \
	done_before=$((done_before + 1)); done
kill -9 "$dpid" 2>/dev/null
killed=$?
echo "# killed daemon $dpid with $done_before of 50 files complete on the server"
check "the daemon was killed mid-way ($done_before/50 complete)" test "$killed" -eq 0 -a \
	"$done_before" -lt 50
put_failures=0
for p in "${pids[@]}"; do wait "$p" || put_failures=$((put_failures + 1)); done
w start
for _ in $(seq 1 300); do
	[ "$(w status | sed -n 's/.* \([0-9]*\) dirty$/\1/p')" = "0" ] && break
	sleep 0.1
done
complete=0
for i in $(seq 1 50); do cmp -s "$T_TMP/fifty/f$i" "$tb_EXPORT_DIR/fifty/f$i" && \
	complete=$((complete + 1)); done
replayed=$(grep -c 'journal: writing back' "$T_TMP"/run-w/*.log 2>/dev/null | awk -F: \
	'{n+=$NF} END{print n+0}')
echo "# after restart: $replayed file(s) written back from the journal;" \
	"$put_failures put(s) reported failure"
check "after restart all 50 files are complete and correct on the server ($complete/50)" \
	test "$complete" -eq 50

# --- the daemons ran clean under valgrind ---------------------------------------
a stop >/dev/null
b stop >/dev/null
w stop >/dev/null
sleep 0.5
if [ "$MEMCHECK" = asan ]; then
	bad=$(ls "$T_TMP"/asan.* "$T_TMP"/ubsan.* 2>/dev/null)
	check "AddressSanitizer/UBSan: no reports from the daemons${bad:+ (see $bad)}" \
		test -z "$bad"
else
	bad=$(grep -lE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write)' \
		"$T_TMP"/vg.*.log 2>/dev/null)
	logs=$(ls "$T_TMP"/vg.*.log | wc -l)
	check "valgrind: no errors and no definite leaks in $logs daemon logs${bad:+ (see $bad)}" \
		test -z "$bad"
fi
[ -z "$bad" ] || head -n 60 $bad

finish
