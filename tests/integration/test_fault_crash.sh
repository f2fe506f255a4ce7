#!/usr/bin/env bash
# kill -9 of the daemon while a program writes files through a 30 ms link,
# under off, cto and full, a few times each. A python writer writes and
# closes files in /nfs and logs each successful close to a local file
# (under speculation that log line is held output: it appears once the
# close is acknowledged to the outside world). A few seconds in, the
# daemon (and only it: its pid from the lock file) is killed; the writer's
# next call starts a fresh daemon. Once the writer is done and `specnfs
# status` shows nothing dirty, every logged file must be on the server with
# its content: acknowledged writes lost = 0. Nothing may stay dirty for
# ever either (the journal drains).
. "$(dirname "$0")/lib.sh"
require_cmd python3
testbed_start tb
WRITER=$SRCDIR/tests/integration/crash_writer.py
require_built "$SPECNFS" "$SPECNFSD" "$SHIM"
wan_link w --rtt 30
client_export "" "SPECNFS_MOUNTS=/nfs=$w_URL" \
	"SPECNFS_SHIM=$SHIM" "SPECNFS_STATS=$T_TMP/stats"
RUNS=${CRASH_RUNS:-2}

# The daemon's pid, from its lock file (the one for our configuration).
daemon_pid() {
	local f pid
	for f in "$SPECNFS_RUNTIME_DIR"/*.lock; do
		pid=$(head -n 1 "$f" 2>/dev/null)
		if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = specnfsd ]; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# A specnfs command; the restart race (another fix) is retried once.
spn() {
	"$SPECNFS" "$@" 2>"$T_TMP/spn.err" && return 0
	if grep -q 'does not answer' "$T_TMP/spn.err"; then
		echo "# restart race, retried: $(head -n 1 "$T_TMP/spn.err")"
		"$SPECNFS" "$@"
		return
	fi
	cat "$T_TMP/spn.err" >&2
	return 1
}

# Wait (up to $1 s) until the journal is empty.
drained() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		spn status >"$T_TMP/status" 2>&1 && grep -q ', 0 dirty$' "$T_TMP/status" && return 0
		sleep 0.2
	done
	sed 's/^/# /' "$T_TMP/status"
	[ -z "${CRASH_KEEP:-}" ] || cp -r "$SPECNFS_RUNTIME_DIR" "$CRASH_KEEP"
	return 1
}

total_logged=0 total_lost=0
for policy in ${CRASH_POLICIES:-off cto full}; do
	case $policy in
	off | cto) count=80 kill_at=2.5 ;;
	full) count=300 kill_at=3 ;;
	esac
	for run in $(seq 1 "$RUNS"); do
		d=crash-$policy-$run
		log=$T_TMP/log.$d
		: >"$log"
		spn ls /nfs >/dev/null # a daemon up, /nfs listed (full predicts the writer's mkdir)
		SPECNFS_POLICY=$policy "$SPECNFS" run -- python3 "$WRITER" "/nfs/$d" "$count" \
			"$log" >"$T_TMP/writer.out" 2>&1 &
		wpid=$!
		sleep "$kill_at"
		if dpid=$(daemon_pid); then
			kill -9 "$dpid"
			echo "# $policy run $run: killed the daemon (pid $dpid) after" \
				"$(wc -l <"$log") acknowledged closes"
		else
			not_ok "$policy run $run: found the daemon to kill"
		fi
		wait "$wpid"
		wrc=$?
		tail -n 1 "$SPECNFS_STATS" | sed "s/^/# $policy run $run: /"
		logged=$(wc -l <"$log")
		[ "$wrc" -eq 0 ] || echo "# $policy run $run: the writer exited $wrc:" \
			"$(head -n 3 "$T_TMP/writer.out" | tr '\n' ' ')"
		what="the journal drains after the crash (${logged} closes acknowledged)"
		check "$policy run $run: $what" drained 60
		python3 "$WRITER" --check "$tb_EXPORT_DIR/$d" "$log" >"$T_TMP/lost" 2>&1
		lost=$(grep -c '^lost:' "$T_TMP/lost")
		head -n 5 "$T_TMP/lost" | sed 's/^/# /'
		check "$policy run $run: acknowledged writes lost: $lost of $logged" \
			test "$lost" -eq 0
		total_logged=$((total_logged + logged))
		total_lost=$((total_lost + lost))
		# A second restart finds nothing left behind in the journal.
		spn stop >/dev/null 2>&1
		check "$policy run $run: after stop and a restart, still nothing dirty" drained 30
	done
done
echo "# kill -9 of the daemon: $((3 * RUNS)) kills, $total_logged closes acknowledged," \
	"$total_lost lost"
grep -h 'failed' "$SPECNFS_RUNTIME_DIR"/*.log 2>/dev/null | sort | uniq -c | head -n 5 |
	sed 's/^/# daemon log: /'
finish
