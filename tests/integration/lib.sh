# Shared helpers for the integration tests (sourced, not run).
#
# Tests print TAP-ish lines ("ok - ...", "not ok - ..."), exit 0 when all
# passed, 1 on a failure, 77 (automake's SKIP) when a prerequisite is
# missing -- except under CI=true, where a missing prerequisite (no root, no
# Ganesha, a server that will not start) is a failure, never a silent skip.
set -u
# Run by `make check`: the make under test must not see the outer make's
# flags (jobserver, -w printing directories).
unset MAKEFLAGS MAKELEVEL MFLAGS

SRCDIR=${SPECNFS_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILDDIR=${SPECNFS_BUILDDIR:-$SRCDIR}
TESTBED=$SRCDIR/tools/nfs-testbed
WANEM=$BUILDDIR/tools/wanem
NFS_PING=$BUILDDIR/tools/nfs-ping

T_NAME=$(basename "$0" .sh)
T_TMP=$(mktemp -d "/tmp/specnfs-$T_NAME.XXXXXX")
T_FAILED=0
# tb_value KEY TEXT: a value from nfs-testbed's KEY='value' lines.
tb_value() { sed -n "s/^$1='\(.*\)'\$/\1/p" <<<"$2"; }
export -f tb_value
T_COUNT=0
T_CLEANUP=()

t_cleanup() {
	local i
	for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${T_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT

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
	[ -x "$WANEM" ] || { not_ok "tools/wanem is built"; finish; }
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
	printf -v "${name}_PORTS" '%s' "$(sed -n 's/^wanem: link [^ ]*:\([0-9]*\) -> .*/\1/p' "$T_TMP/$name.out" | tr '\n' ' ')"
}

# median_ms URL FILE [COUNT]: median GETATTR round trip in ms.
median_ms() {
	"$NFS_PING" -s -c "${3:-20}" "$1" "$2" | sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'
}

# in_range X LO HI: LO <= X <= HI, for decimals.
in_range() {
	awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'
}
