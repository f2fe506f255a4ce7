#!/usr/bin/env bash
# The write-back journal under concurrency, through a 30 ms link, under
# off, cto and full:
# - 8 processes under one `specnfs run` each open(O_WRONLY|O_CREAT|O_APPEND)
#   the same NEW file and append 50 lines: the server ends with exactly
#   400 lines, each writer's 50 there (APPEND_RUNS runs per policy);
# - cp -r of a tree into /nfs: `specnfs status` drains to 0 dirty within
#   a bound, and the server has the tree.
. "$(dirname "$0")/lib.sh"
require_cmd python3
testbed_start tb
require_built "$SPECNFS" "$SPECNFSD" "$SHIM"
wan_link w --rtt 30
client_export "" "SPECNFS_MOUNTS=/nfs=$w_URL" \
	"SPECNFS_SHIM=$SHIM"
RUNS=${APPEND_RUNS:-20}

# Wait (up to $1 s) until the journal is empty.
drained() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		"$SPECNFS" status >"$T_TMP/status" 2>&1 && grep -q ', 0 dirty$' "$T_TMP/status" && \
			return 0
		sleep 0.2
	done
	sed 's/^/# /' "$T_TMP/status"
	return 1
}

cat >"$T_TMP/append.py" <<'EOF'
import os, sys, time
path, who, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start:  # all eight open at about the same moment
    time.sleep(0.001)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for k in range(50):
    os.write(fd, ("%s line %02d\n" % (who, k)).encode())
    time.sleep(0.002)
os.close(fd)
EOF
cat >"$T_TMP/appenders.sh" <<'EOF'
start=$(python3 -c 'import time; print(time.time() + 0.5)')
for i in 1 2 3 4 5 6 7 8; do python3 "$2" "$1" "w$i" "$start" & done
wait
EOF

# Every writer's 50 lines are in the server's copy, and nothing else.
appended_ok() {
	local f=$1 i
	[ "$(wc -l <"$f")" -eq 400 ] || return 1
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(grep -c "^w$i line [0-9][0-9]\$" "$f")" -eq 50 ] || return 1
		[ "$(grep "^w$i line" "$f" | sort -u | wc -l)" -eq 50 ] || return 1
	done
}

mkdir -p "$tb_EXPORT_DIR/app"
for policy in ${JOURNAL_POLICIES:-off cto full}; do
	good=0 bad=""
	for run in $(seq 1 "$RUNS"); do
		f=log-$policy-$run
		SPECNFS_POLICY=$policy "$SPECNFS" run -- bash "$T_TMP/appenders.sh" "/nfs/app/$f" \
			"$T_TMP/append.py" >"$T_TMP/app.out" 2>&1
		if drained 30 && appended_ok "$tb_EXPORT_DIR/app/$f"; then
			good=$((good + 1))
		else
			n=$(wc -l <"$tb_EXPORT_DIR/app/$f" 2>/dev/null || echo none)
			bad="$bad $run($n lines)"
		fi
	done
	[ -z "$bad" ] || echo "# $policy: failed runs:$bad"
	what="8 appenders x 50 lines to one new file: 400 lines on the server"
	check "$policy: $what in $good of $RUNS runs" test "$good" -eq "$RUNS"
done

# cp -r of a tree into /nfs: the journal drains (its top directory too).
src=$T_TMP/tree
for d in a a/b a/b/c e; do
	mkdir -p "$src/$d"
	for i in 1 2 3; do echo "$d $i" >"$src/$d/f$i"; done
done
for policy in ${JOURNAL_POLICIES:-off cto full}; do
	SPECNFS_POLICY=$policy "$SPECNFS" run -- cp -r "$src" "/nfs/tree-$policy"
	check "$policy: cp -r of a tree exits 0 and the journal drains to 0 dirty within 20 s" \
		drained 20
	check "$policy: ... the server has the tree" diff -r "$src" "$tb_EXPORT_DIR/tree-$policy"
done
finish
