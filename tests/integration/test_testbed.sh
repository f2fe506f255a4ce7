#!/usr/bin/env bash
# The NFS test bed: start/stop twice in a row, two at once, no leftovers,
# NFSv3 and NFSv4 both serve the export, and bad input is refused clearly.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ganesha.nfsd nfs-ls nfs-cat

# Processes a test bed started: its supervisor leads a session of its own
# (rpcbind's command line does not name the state directory), plus anything
# whose command line names the state directory.
leftovers() { # leftovers STATE [PID]
	{ [ -z "${2:-}" ] || pgrep -s "$2"; pgrep -f -- "$1"; } 2>/dev/null | grep -v "^$$\$" || \
		true
}
pid_of() { tb_value PID "$1"; }

serves() { # serves STATE: v3 and v4 both read back a file written in EXPORT_DIR
	local out
	out=$("$TESTBED" env "$1") || return 1
	local url3 url4 dir
	url3=$(tb_value NFS_URL3 "$out")
	url4=$(tb_value NFS_URL4 "$out")
	dir=$(tb_value EXPORT_DIR "$out")
	echo "hello $1 $RANDOM" >"$dir/probe.txt"
	local base3=${url3%%\?*} q3=${url3#*\?} base4=${url4%%\?*} q4=${url4#*\?}
	[ "$(nfs-cat "$base3/probe.txt?$q3")" = "$(cat "$dir/probe.txt")" ] &&
		[ "$(nfs-cat "$base4/probe.txt?$q4")" = "$(cat "$dir/probe.txt")" ]
}

A=$T_TMP/a
B=$T_TMP/b
on_exit "'$TESTBED' stop '$A'; '$TESTBED' stop '$B'"

for round in 1 2; do
	out=$("$TESTBED" start "$A")
	check "round $round: start prints NFS_URL3 with nfsport and mountport" \
		grep -qE \
			"^NFS_URL3=.nfs://127\.0\.0\.1/export\?nfsport=[0-9]+&mountport=[0-9]+.\$" \
			<<<"$out"
	check "round $round: start prints NFS_URL4, EXPORT_DIR, PID" \
		bash -c 'url4="^NFS_URL4=.nfs://127\.0\.0\.1/export\?version=4&nfsport=[0-9]+.\$"
			grep -qE "$url4" <<<"$1" &&
			[ "$(tb_value EXPORT_DIR "$1")" = "$2/export" ] &&
			[[ $(tb_value PID "$1") =~ ^[0-9]+$ ]]' _ "$out" "$A"
	check "round $round: NFSv3 and NFSv4 serve the export" serves "$A"
	check "round $round: status says running" "$TESTBED" status "$A"
	check "round $round: start refuses a second server in the same state dir" \
		bash -c '! "$1" start "$2" 2>/dev/null' _ "$TESTBED" "$A"
	"$TESTBED" stop "$A"
	check "round $round: stop leaves no process behind" test -z \
		"$(leftovers "$A" "$(pid_of "$out")")"
	check "round $round: status says stopped" bash -c '! "$1" status "$2" >/dev/null' _ \
		"$TESTBED" "$A"
done

outa=$("$TESTBED" start "$A")
outb=$("$TESTBED" start "$B")
pa=$(tb_value NFS_PORT "$outa")
pb=$(tb_value NFS_PORT "$outb")
check "two at once: different ports ($pa, $pb)" test -n "$pa" -a -n "$pb" -a "$pa" != "$pb"
check "two at once: the first serves" serves "$A"
check "two at once: the second serves" serves "$B"

# A port that is taken (the first bed's) is refused with one clear line.
err=$("$TESTBED" start "$T_TMP/c" --nfs-port "$pa" 2>&1 >/dev/null)
rc=$?
check "port in use: non-zero exit ($rc) and one line naming the port" \
	bash -c '[ "$1" -ne 0 ] && [ "$(wc -l <<<"$2")" -eq 1 ] && grep -q "$3.*in use" <<<"$2"' _ \
		"$rc" "$err" "$pa"
check "port in use: nothing left running" test -z "$(leftovers "$T_TMP/c")"

"$TESTBED" stop "$A"
"$TESTBED" stop "$B"
check "two at once: both stopped, no leftovers" \
	test -z "$(leftovers "$A" "$(pid_of "$outa")")$(leftovers "$B" "$(pid_of "$outb")")"

# restart: the same ports and export directory, the old processes gone.
outa=$("$TESTBED" start "$A")
echo "kept across the restart" >"$(tb_value EXPORT_DIR "$outa")/kept.txt"
outr=$("$TESTBED" restart "$A")
check "restart: same NFS and MOUNT ports, same export directory" \
	bash -c '[ -n "$3" ] && for k in NFS_PORT MOUNT_PORT EXPORT_DIR; do
		[ "$(tb_value $k "$1")" = "$(tb_value $k "$2")" ] || exit 1; done' _ "$outa" \
			"$outr" "$(tb_value NFS_PORT "$outr")"
check "restart: a new supervisor, the old one's processes gone" \
	bash -c '[ "$(tb_value PID "$1")" != "$(tb_value PID "$2")" ] && [ -z "$3" ]' _ "$outa" \
		"$outr" \
	"$(pgrep -s "$(pid_of "$outa")" 2>/dev/null)"
check "restart: it serves" serves "$A"
check "restart: a file in the export survived" \
	test "$(cat "$(tb_value EXPORT_DIR "$outr")/kept.txt")" = "kept across the restart"
"$TESTBED" stop "$A"
outr=$("$TESTBED" restart "$A")
check "restart of a stopped test bed starts it on its old ports" \
	test "$(tb_value NFS_PORT "$outr")" = "$(tb_value NFS_PORT "$outa")"
"$TESTBED" stop "$A"
err=$("$TESTBED" restart "$T_TMP/never" 2>&1)
rc=$?
check "restart of a state dir never started: exit 1, one line" \
	bash -c '[ "$1" -eq 1 ] && [ "$(wc -l <<<"$2")" -eq 1 ]' _ "$rc" "$err"

# Bad input.
err=$(NFS_TESTBED_GANESHA=/nonexistent/ganesha.nfsd "$TESTBED" start "$T_TMP/d" 2>&1)
rc=$?
check "missing Ganesha: exit 1 naming the packages" \
	bash -c '[ "$1" -eq 1 ] && grep -q "install the Debian packages nfs-ganesha" <<<"$2"' _ \
		"$rc" "$err"
err=$("$TESTBED" start "$T_TMP/e" --bogus 2>&1)
rc=$?
check "unknown option: exit 2 and one line" bash -c \
	'[ "$1" -eq 2 ] && [ "$(wc -l <<<"$2")" -eq 1 ]' _ "$rc" "$err"
err=$("$TESTBED" frobnicate 2>&1)
rc=$?
check "unknown command: exit 2" test "$rc" -eq 2
err=$("$TESTBED" start "$T_TMP/f" --nfs-port 70000 2>&1)
rc=$?
check "bad port number: exit 2 naming it" bash -c '[ "$1" -eq 2 ] && grep -q 70000 <<<"$2"' _ \
	"$rc" "$err"

finish
