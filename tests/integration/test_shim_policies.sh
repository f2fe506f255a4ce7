#!/usr/bin/env bash
# The shim's acceptance suites (files: test_shim, directories:
# test_shim_dir, exec: test_shim_exec) again under each speculating policy:
# every result must be the same as the synchronous run's (each suite
# compares with the server's bytes and the programs' output). One line per
# suite and policy, with its counts; the failed checks follow it.
#   SPECNFS_TEST_POLICIES  the policies (default "cto full")
#   SPECNFS_TEST_SUITES    the suites (default "test_shim test_shim_dir test_shim_exec")
. "$(dirname "$0")/lib.sh"
dir=$(cd "$(dirname "$0")" && pwd)
skipped=0 runs=0

for pol in ${SPECNFS_TEST_POLICIES:-cto full}; do
	for suite in ${SPECNFS_TEST_SUITES:-test_shim test_shim_dir test_shim_exec}; do
		log=$T_TMP/$suite.$pol.log
		runs=$((runs + 1))
		SPECNFS_POLICY=$pol bash "$dir/$suite.sh" >"$log" 2>&1
		rc=$?
		counts=$(sed -n "s/^# $suite: //p" "$log" | tail -n 1)
		what="$suite under SPECNFS_POLICY=$pol: ${counts:-no summary} (exit $rc)"
		if [ "$rc" -eq 77 ]; then
			echo "ok $((T_COUNT + 1)) - $what # SKIP $(sed -n 's/^SKIP: //p' "$log")"
			T_COUNT=$((T_COUNT + 1))
			skipped=$((skipped + 1))
		elif [ "$rc" -eq 0 ]; then
			ok "$what"
		else
			not_ok "$what"
			# Its failed checks (with their diffs), or the end of its log.
			if grep -q '^not ok' "$log"; then
				awk '/^not ok/ { p = 1; print; next } /^ok / { p = 0 } p && /^#/' \
					"$log" |
					head -n 60 | sed 's/^/#   /'
			else
				tail -n 20 "$log" | sed 's/^/#   /'
			fi
		fi
	done
done
# Every suite skipped (no NFS test bed here): the whole test is a skip.
[ "$skipped" -lt "$runs" ] || skip "every suite skipped"
finish
