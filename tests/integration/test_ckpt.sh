#!/usr/bin/env bash
# Fork checkpoints seen from a shell: a program that takes a checkpoint,
# runs ahead, rolls back and runs again must look like any program -- one
# line of output, the pid the shell started ($!), the status it computed,
# signals sent to that pid reaching it, readers of its pipe seeing EOF,
# nothing left running afterwards. Then the cost figures (bench).
. "$(dirname "$0")/lib.sh"
DEMO=${CKPT_DEMO:-$BUILDDIR/tests/integration/ckpt_demo}
require_built "$DEMO"
[ -r /proc/self/status ] || skip "no /proc"
TAG=ckpt-test-$$-$RANDOM

# Processes whose command line carries our tag (the demo and its copies).
tagged() {
	local f
	for f in /proc/[0-9]*/cmdline; do
		{ tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q -- "$TAG" && echo "${f//[^0-9]/}"
	done
	return 0
}
on_exit 'for p in $(tagged); do kill -9 $p; done'

# count PATTERN TEXT: lines of TEXT matching PATTERN.
count() { grep -c -- "$1" <<<"$2"; }

# --- rolled back in the background: $!, one line, the status --------------
out=$(sh -c '"$0" rollback 7 42 "$1" & echo "started $!"
	wait $!; echo "status $?"; echo "shell $$"' "$DEMO" "$TAG" 2>&1)
bg=$(sed -n 's/^started //p' <<<"$out")
shell=$(sed -n 's/^shell //p' <<<"$out")
line=$(grep '^ckpt_demo:' <<<"$out")
check "the program printed exactly one line" \
	test "$(count '^ckpt_demo:' "$out")" -eq 1 -a "$(wc -l <<<"$out")" -eq 4
check "it printed the truth, not the prediction" \
	grep -q 'prediction=7 truth=42 status=42$' <<<"$line"
check "its pid (ckpt_getpid) is the shell's \$! ($bg)" grep -q " pid=$bg " <<<"$line"
check "its parent (ckpt_getppid) is the shell ($shell)" grep -q " ppid=$shell " <<<"$line"
check "the shell got the status it computed (42)" grep -qx 'status 42' <<<"$out"
[ "$T_FAILED" -eq 0 ] || printf '#   %s\n' "$out"

# --- in the foreground: status 300 % 256, its parent is the shell ----------
out=$(sh -c '"$0" rollback 9 300 "$1"; echo "status $? shell $$"' "$DEMO" "$TAG" 2>&1)
shell=$(sed -n 's/^status [0-9]* shell //p' <<<"$out")
want="ckpt_demo: pid=[0-9]* ppid=$shell prediction=9 truth=300 status=44"
check "foreground: one line, then status 44" \
	grep -qzx "$want.status 44 shell $shell." <<<"$out"
[ "$T_FAILED" -eq 0 ] || printf '#   %s\n' "$out"

# --- the reader of its pipe sees EOF: the proxy holds no file --------------
out=$(timeout 10 sh -c '"$0" rollback 1 5 "$1" | wc -l' "$DEMO" "$TAG")
check "a pipe reader gets one line and EOF" test "$out" = 1

# --- the resumed copy dies of a signal: the shell sees 128 + signal ---------
out=$(sh -c '"$0" die 6 "$1"; echo "status $?"' "$DEMO" "$TAG" 2>/dev/null)
check "death by SIGABRT seen as status 134" grep -qx 'status 134' <<<"$out"
check "and its one line" test "$(count '^ckpt_demo: pid=[0-9]* dies of signal 6$' "$out")" -eq 1

# --- kill -TERM $! reaches the resumed copy, with the shell as sender -------
rm -f "$T_TMP/ready"
out=$(timeout 20 sh -c '"$0" signal "$2" "$1" & p=$!
	while [ ! -e "$2" ]; do sleep 0.01; done
	kill -TERM $p; wait $p; echo "status $? shell $$ pid $p"' \
	"$DEMO" "$TAG" "$T_TMP/ready" 2>&1)
shell=$(sed -n 's/^status [0-9]* shell \([0-9]*\) .*/\1/p' <<<"$out")
pid=$(sed -n 's/.* pid \([0-9]*\)$/\1/p' <<<"$out")
check "SIGTERM to \$! reached the copy, from the shell (si_pid kept)" \
	grep -qx "ckpt_demo: pid=$pid got SIGTERM from $shell" <<<"$out"
check "the shell saw it die of SIGTERM (143)" grep -q '^status 143 ' <<<"$out"
[ "$T_FAILED" -eq 0 ] || printf '#   %s\n' "$out"

# --- nothing left behind ------------------------------------------------------
left=""
for _ in $(seq 1 100); do
	left=$(tagged)
	[ -z "$left" ] && break
	sleep 0.05
done
check "no process of the demo is left (copies, proxies)" test -z "$left"

# --- costs -------------------------------------------------------------------
if out=$("$DEMO" bench ${CKPT_BENCH_QUICK:+--quick} "$TAG" 2>&1); then
	ok "bench ran"
	sed 's/^/# /' <<<"$out"
else
	not_ok "bench ran"
	sed 's/^/#   /' <<<"$out"
fi
check "bench left nothing behind" test -z "$(tagged)"

finish
