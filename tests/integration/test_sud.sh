#!/usr/bin/env bash
# Output commit with Syscall User Dispatch, end to end (client/spec/sud.c):
# a program writes inside a speculative epoch (printf, fputs, write, and
# stdio's flush at exit) and commits or discards. Run through pipes, into
# files and on a terminal, its output must appear exactly once and in
# order, or never. Prints what SUD costs on this machine.
. "$(dirname "$0")/lib.sh"
DEMO=$BUILDDIR/tests/integration/sud_demo
require_built "$DEMO"
"$DEMO" probe 2>"$T_TMP/probe.err" || skip \
	"no Syscall User Dispatch here: $(cat "$T_TMP/probe.err")"

# want MODE: the bytes a committed run writes.
want() {
	printf 'line 1: printf inside the epoch (%s)\nline 2: fputs\n' "$1"
	printf 'line 3: write(2)\nline 4: left in stdio'"'"'s buffer\n'
}

# written WHAT FILE MODE: FILE holds exactly what MODE should have written.
written() {
	want "$3" >"$T_TMP/want"
	same "$1" "$T_TMP/want" "$2"
}

for mode in commit exit-commit; do
	"$DEMO" "$mode" | cat >"$T_TMP/out"
	st=${PIPESTATUS[0]}
	written "$mode | cat: each line exactly once, in order" "$T_TMP/out" "$mode"
	check "$mode | cat: exit status 0" test "$st" -eq 0

	"$DEMO" "$mode" >"$T_TMP/file"
	written "$mode > file (a regular file outside the mirror)" "$T_TMP/file" "$mode"

	"$DEMO" "$mode" 2>&1 | tee "$T_TMP/tee" >/dev/null
	written "$mode 2>&1 | tee" "$T_TMP/tee" "$mode"

	check "$mode | grep -c line: 4" test "$("$DEMO" "$mode" | grep -c '^line ')" -eq 4
done

for mode in discard exit-discard; do
	n=$("$DEMO" "$mode" | wc -c)
	st=${PIPESTATUS[0]}
	check "$mode | wc -c: nothing ever written ($n bytes)" test "$n" -eq 0
	check "$mode | wc -c: exit status 0" test "$st" -eq 0
	echo previous >"$T_TMP/file"
	"$DEMO" "$mode" >>"$T_TMP/file"
	check "$mode >> file: file unchanged" test "$(cat "$T_TMP/file")" = previous
done

# The reader may go away first (EPIPE itself: tests/unit/test_sud.c).
"$DEMO" commit | head -n 1 >"$T_TMP/head"
check "commit | head -n 1: the first line, no hang" test "$(cat "$T_TMP/head")" = \
	"line 1: printf inside the epoch (commit)"

# A terminal (a character device, not a pipe): through script(1)'s pty.
if command -v script >/dev/null 2>&1; then
	script -qec "'$DEMO' commit" /dev/null </dev/null | tr -d '\r' >"$T_TMP/tty"
	written "commit on a terminal (pty)" "$T_TMP/tty" commit
	script -qec "'$DEMO' discard" /dev/null </dev/null | tr -d '\r' >"$T_TMP/tty"
	check "discard on a terminal (pty): nothing" test ! -s "$T_TMP/tty"
fi

"$DEMO" bench "${SPECNFS_SUD_BENCH_N:-20000}" >"$T_TMP/bench" 2>&1
st=$?
sed 's/^#*/#/' "$T_TMP/bench"
check "bench runs" test "$st" -eq 0
finish
