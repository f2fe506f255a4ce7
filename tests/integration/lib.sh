# Shared helpers for the integration tests (sourced, not run).
#
# Tests print TAP-ish lines ("ok - ...", "not ok - ..."), exit 0 when all
# passed, 1 on a failure, 77 (automake's SKIP) when a prerequisite is
# missing -- except under CI=true, where a missing prerequisite (no root, no
# Ganesha, a server that will not start) is a failure, never a silent skip.
#
# What every test does the same way is here: the test bed (testbed_start)
# and a WAN link in front of it (wan_link), the environment of a client
# (client_env, mount_env, shim_env, client_export), comparing outputs
# (same, same_sh), and the end of a test: t_cleanup stops every daemon the
# test started, then runs what on_exit registered.
set -u
# Run by `make check`: the make under test must not see the outer make's
# flags (jobserver, -w printing directories).
unset MAKEFLAGS MAKELEVEL MFLAGS

SRCDIR=${SPECNFS_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILDDIR=${SPECNFS_BUILDDIR:-$SRCDIR}
TESTBED=$SRCDIR/tools/nfs-testbed
WANEM=$BUILDDIR/tools/wanem
NFS_PING=$BUILDDIR/tools/nfs-ping
SPECNFS=$BUILDDIR/client/specnfs
SPECNFSD=$BUILDDIR/client/specnfsd
SHIM=$BUILDDIR/client/.libs/libspecnfs.so

T_NAME=$(basename "$0" .sh)
T_TMP=$(mktemp -d "/tmp/specnfs-$T_NAME.XXXXXX")
T_FAILED=0
# tb_value KEY TEXT: a value from nfs-testbed's KEY='value' lines.
tb_value() { sed -n "s/^$1='\(.*\)'\$/\1/p" <<<"$2"; }
export -f tb_value
T_COUNT=0
T_CLEANUP=()

# daemon_pids [DIR]: the daemons (processes with an argument named
# specnfsd: the daemon itself, or valgrind running it) whose runtime
# directory is DIR; without DIR, whose runtime directory, cache or
# XDG_RUNTIME_DIR is in $T_TMP: those this test started, never another's.
daemon_pids() {
	local env p arg hit
	if [ $# -gt 0 ]; then
		env="^SPECNFS_RUNTIME_DIR=${1//./\\.}\$"
	else
		env="^(SPECNFS_RUNTIME_DIR|SPECNFS_CACHE|XDG_RUNTIME_DIR)=${T_TMP//./\\.}(/|\$)"
	fi
	for p in $(grep -lsazE "$env" /proc/[0-9]*/environ | cut -d/ -f3); do
		[ "$p" != $$ ] || continue
		hit=0
		while IFS= read -r -d '' arg; do
			[ "${arg##*/}" = specnfsd ] && hit=1
		done 2>/dev/null <"/proc/$p/cmdline"
		[ "$hit" -eq 0 ] || echo "$p"
	done
}

# t_stop_daemons: stop every daemon of this test, as `specnfs --no-start
# stop` with the daemon's own SPECNFS_* settings would (it writes back what
# it holds); kill -9 what is still there 5 s later. A test run leaves no
# daemon behind, whatever it did to them or however it ended.
t_stop_daemons() {
	local p pids i
	local -a env
	pids=$(daemon_pids)
	[ -n "$pids" ] || return 0
	kill -CONT $pids 2>/dev/null # a test may have stopped one
	for p in $pids; do
		mapfile -d '' env < <(grep -az '^SPECNFS_' "/proc/$p/environ" 2>/dev/null)
		timeout 30 env "${env[@]}" "$SPECNFS" --no-start stop >/dev/null 2>&1 </dev/null
	done
	for ((i = 0; i < 50; i++)); do
		pids=$(daemon_pids)
		[ -n "$pids" ] || return 0
		sleep 0.1
	done
	echo "# killing daemons left behind: $pids"
	kill -9 $pids 2>/dev/null
	return 0
}

t_cleanup() {
	local i
	# Daemons first, while the servers they write back to still run.
	t_stop_daemons
	for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${T_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	t_stop_daemons
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT
# An interrupted test cleans up too.
trap 'exit 130' INT
trap 'exit 143' TERM

# on_exit CMD: run CMD (a string) when the test ends, last registered first.
on_exit() { T_CLEANUP+=("$1"); }

# skip REASON: a missing prerequisite.
skip() {
	if [ "${CI:-}" = "true" ]; then
		echo "not ok - prerequisite missing under CI=true: $*"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

ok() { T_COUNT=$((T_COUNT + 1)); echo "ok $T_COUNT - $*"; }
not_ok() { T_COUNT=$((T_COUNT + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_COUNT - $*"; }

# check DESCRIPTION CMD...: run CMD, record ok/not ok by its status.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

finish() {
	echo "# $T_NAME: $((T_COUNT - T_FAILED)) passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# require_built FILE...: each built program or library is there, or the
# test fails (a build problem is never a skip).
require_built() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || { not_ok "$(basename "$f") is built ($f)"; finish; }
	done
}

# client_env NAME [VAR=VALUE...]: the environment of a client, as words for
# `env $E cmd`: its own cache and runtime directory in $T_TMP (cache-NAME
# and run-NAME; cache and run when NAME is empty), the daemon under test,
# no configuration file, then VAR=VALUE (SPECNFS_MOUNTS, LD_PRELOAD, ...;
# or another value for one of the above). t_cleanup stops the daemons such
# clients start.
client_env() {
	local sfx=${1:+-$1}
	shift
	echo "SPECNFS_CACHE=$T_TMP/cache$sfx SPECNFS_RUNTIME_DIR=$T_TMP/run$sfx" \
		"SPECNFS_DAEMON=$SPECNFSD SPECNFS_CONFIG=/nonexistent $*"
}

# mount_env NAME URL [VAR=VALUE...]: client_env with /nfs mounted from URL.
mount_env() {
	local name=$1 url=$2
	shift 2
	client_env "$name" "SPECNFS_MOUNTS=/nfs=$url" "$@"
}

# shim_env NAME URL [VAR=VALUE...]: mount_env for programs run under the
# shim.
shim_env() {
	local name=$1 url=$2
	shift 2
	mount_env "$name" "$url" "LD_PRELOAD=$SHIM" "$@"
}

# client_export NAME [VAR=VALUE...]: client_env, exported into the test's
# own environment (for tests with one client).
client_export() {
	local - w
	set -f # a URL's '?' is no pattern
	for w in $(client_env "$@"); do export "${w?}"; done
}

# same DESCRIPTION WANT GOT [sort] [NOT_IN_GOT]: the files WANT and GOT
# (expected output, output under test) hold the same bytes -- after sorting
# both when the fourth argument is "sort" -- and GOT does not contain the
# text NOT_IN_GOT (say, the mirror's path). Else "not ok" and the diff.
same() {
	local what=$1 want=$2 got=$3 sort=${4:-} hidden=${5:-}
	if [ "$sort" = sort ]; then
		sort -o "$want" "$want"
		sort -o "$got" "$got"
	fi
	if [ -n "$hidden" ] && grep -qF -- "$hidden" "$got"; then
		not_ok "$what: the output names $hidden"
		grep -F -- "$hidden" "$got" | head -n 5 | sed 's/^/#   /'
	elif diff -u "$want" "$got" >"$T_TMP/same.diff"; then
		ok "$what"
	else
		not_ok "$what"
		head -n 30 "$T_TMP/same.diff" | sed 's/^/#   /'
	fi
}

# same_sh DESCRIPTION LOCAL_ROOT SUBDIR COMMAND [sort] [NOT_IN_GOT]: the
# shell COMMAND run in LOCAL_ROOT/SUBDIR, and under the shim (the test's
# nfs function) in /nfs/SUBDIR, says the same once LOCAL_ROOT reads /nfs
# (see same for the rest).
same_sh() {
	local what=$1 root=$2 sub=$3 cmd=$4
	(cd "$root/$sub" && sh -c "$cmd") 2>&1 | sed "s|$root|/nfs|g" >"$T_TMP/out.local"
	nfs sh -c "cd '/nfs/$sub' && $cmd" >"$T_TMP/out.nfs" 2>&1
	same "$what" "$T_TMP/out.local" "$T_TMP/out.nfs" "${5:-}" "${6:-}"
}

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (private mount namespaces for the NFS test bed)"
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not installed (run tools/install-deps)"
	done
}

# testbed_start VAR_PREFIX: start a test bed in $T_TMP/VAR_PREFIX and set
# PREFIX_NFS_URL3, PREFIX_NFS_PORT, ... from its output lines.
testbed_start() {
	local name=$1 out line
	require_root
	require_cmd ganesha.nfsd nfs-ls
	out=$("$TESTBED" start "$T_TMP/$name" 2>"$T_TMP/$name.err") ||
		skip "cannot start the NFS test bed: $(cat "$T_TMP/$name.err")"
	on_exit "'$TESTBED' stop '$T_TMP/$name'"
	eval "$(sed -n "s/^\([A-Z0-9_]*=\)/${name}_\1/p" <<<"$out")"
}

# wanem_start NAME ARGS...: run tools/wanem in the background, wait for its
# "wanem: ready" line, and set NAME_PORTS to the listening ports in order.
wanem_start() {
	local name=$1 i
	shift
	require_built "$WANEM"
	"$WANEM" "$@" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err" &
	printf -v "${name}_PID" '%s' "$!"
	on_exit "kill $! ; wait $!"
	for i in $(seq 1 100); do
		grep -q '^wanem: ready' "$T_TMP/$name.out" 2>/dev/null && break
		sleep 0.05
	done
	if ! grep -q '^wanem: ready' "$T_TMP/$name.out"; then
		not_ok "wanem $* started: $(cat "$T_TMP/$name.err")"
		finish
	fi
	printf -v "${name}_PORTS" '%s' "$(sed -n 's/^wanem: link [^ ]*:\([0-9]*\) -> .*/\1/p' \
		"$T_TMP/$name.out" | tr '\n' ' ')"
}

# wan_link NAME WANEM_ARGS...: wanem_start NAME in front of the test bed
# tb (its NFS and MOUNT ports) with WANEM_ARGS (--rtt MS, --control FILE,
# ...); also sets NAME_URL, tb's export through the link.
wan_link() {
	local name=$1 ports nfs mnt
	shift
	wanem_start "$name" --listen 127.0.0.1:0 --connect "127.0.0.1:$tb_NFS_PORT" \
		--listen 127.0.0.1:0 --connect "127.0.0.1:$tb_MOUNT_PORT" "$@"
	ports=${name}_PORTS
	read -r nfs mnt <<<"${!ports}"
	printf -v "${name}_URL" '%s' "nfs://127.0.0.1/export?nfsport=$nfs&mountport=$mnt"
}

# median_ms URL FILE [COUNT]: median GETATTR round trip in ms.
median_ms() {
	"$NFS_PING" -s -c "${3:-20}" "$1" "$2" | sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'
}

# in_range X LO HI: LO <= X <= HI, for decimals.
in_range() {
	awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'
}
