#!/usr/bin/env bash
# A process that changes its ids is served with its own rights, as by a
# kernel NFS client (issue 10, item 9). As root under `specnfs run`, a python
# program lists /nfs, drops to nobody (setgid, setgroups([]), setuid) and
# then: a create in a root-owned 0755 directory fails with EACCES and
# nothing reaches the server; a world-readable root file reads; a 0600 root
# file is EACCES (also when the daemon has it cached); a 0666 file takes its
# writes to the server; a file it creates in a 0777 directory is nobody's on
# the server; a stat through a root 0700 directory is EACCES; mkdir and
# unlink in the root directory are EACCES and leave the server unchanged;
# a listing works where the mode allows it. Under each
# policy (off, cto, full), NFSv3, and NFSv4 under off. The test bed's
# export has Squash = No_Root_Squash, so root is root on the server too.
# Then the errno of rmdir/unlink/mkdir/rename/link/symlink cases compared
# with the same calls on a local tree (NFSv3 and v4, policies off and full).
. "$(dirname "$0")/lib.sh"
require_cmd python3
testbed_start tb
require_built "$SPECNFS" "$SPECNFSD" "$SHIM"
unset SPECNFS_MOUNTS SPECNFS_DAEMON SPECNFS_SHIM LD_PRELOAD
E=$tb_EXPORT_DIR
NOBODY=65534

cat >"$T_TMP/drop.py" <<'PY'
import errno, os, sys
b = sys.argv[1]
# Root first: the connection to the daemon and its cache are root's.
os.listdir(b + "/p")
open(b + "/secret").read()      # the daemon now has it in its mirror
os.setgid(65534)
os.setgroups([])
os.setuid(65534)

def say(what, fn):
    try:
        r = fn()
        print(what + ": ok" + ("" if r is None else " " + str(r)))
    except OSError as e:
        print(what + ": " + errno.errorcode.get(e.errno, str(e.errno)))
    sys.stdout.flush()

def create_p():
    open(b + "/p/new", "w").close()
def read_pub():
    with open(b + "/pub") as f:
        return f.read().strip()
def read_secret():
    with open(b + "/secret") as f:
        return f.read().strip()
def write_shared():
    with open(b + "/shared", "w") as f:
        f.write("written by nobody\n")
def create_tmp():
    with open(b + "/tmp/mine", "w") as f:
        f.write("mine\n")
def fopen_pub():
    return os.fdopen(os.open(b + "/pub", os.O_RDONLY)).read().strip()
say("create in 0755 root dir", create_p)
say("read 0644", read_pub)
say("read 0600", read_secret)
say("write 0666", write_shared)
say("create in 0777 dir", create_tmp)
say("stat through 0700 dir", lambda: os.stat(b + "/priv/x") and None)
say("mkdir in 0755 root dir", lambda: os.mkdir(b + "/p/d"))
say("mkdir through 0700 dir", lambda: os.mkdir(b + "/priv/open/d"))
say("mkfifo through 0700 dir", lambda: os.mkfifo(b + "/priv/open/fifo"))
say("unlink root file in 0755 dir", lambda: os.unlink(b + "/p/f"))
say("access 0600 R_OK", lambda: "yes" if os.access(b + "/secret", os.R_OK) else "no")
say("listdir 0755 root dir", lambda: ",".join(sorted(os.listdir(b + "/p"))))
say("listdir 0700 root dir", lambda: ",".join(sorted(os.listdir(b + "/priv"))))
PY

# run_stop NAME URL POLICY CMD...: CMD under `specnfs run` as client NAME
# (bounded: a process left behind must fail the test, not hang it), then
# its daemon stopped (everything written back).
run_stop() {
	local name=$1 url=$2 pol=$3
	shift 3
	env $(client_env "$name") SPECNFS_POLICY="$pol" timeout 120 "$SPECNFS" run --mount \
		"/nfs=$url" -- "$@"
	env $(mount_env "$name" "$url") "$SPECNFS" --no-start stop >/dev/null 2>&1
}

one() { # one NAME URL POLICY
	local name=$1 url=$2 pol=$3 d=$E/$1 out
	mkdir -p "$d/p" "$d/tmp" "$d/priv/open"
	echo public >"$d/pub"; echo secret >"$d/secret"; echo shared >"$d/shared"
	echo f >"$d/p/f"; echo x >"$d/priv/x"
	chown -R 0:0 "$d"
	chmod 0755 "$d" "$d/p"; chmod 0777 "$d/tmp" "$d/priv/open"; chmod 0700 "$d/priv"
	chmod 0644 "$d/pub" "$d/p/f"; chmod 0600 "$d/secret"; chmod 0666 "$d/shared"
	# To a file, bounded: a process left behind must fail the test, not hang it.
	run_stop "$name" "$url" "$pol" python3 "$T_TMP/drop.py" "/nfs/$name" >"$T_TMP/out-$name" \
		2>&1
	out=$(cat "$T_TMP/out-$name")
	echo "$out" | sed "s/^/# $name: /"
	has() { grep -qxF "$1" <<<"$out"; }
	check "$name: create in a root 0755 dir as nobody: EACCES" has \
		"create in 0755 root dir: EACCES"
	check "$name: ... and nothing appears on the server" test ! -e "$d/p/new"
	check "$name: read a 0644 root file as nobody" has "read 0644: ok public"
	check "$name: read a 0600 root file (cached by root) as nobody: EACCES" has \
		"read 0600: EACCES"
	check "$name: write a 0666 file as nobody" has "write 0666: ok"
	check "$name: ... and the content reaches the server" \
		test "$(cat "$d/shared" 2>/dev/null)" = "written by nobody"
	check "$name: create in a 0777 dir as nobody" has "create in 0777 dir: ok"
	check "$name: ... owned by nobody on the server" \
		test "$(stat -c %u:%g "$d/tmp/mine" 2>/dev/null)" = "$NOBODY:$NOBODY"
	check "$name: ... with its content" test "$(cat "$d/tmp/mine" 2>/dev/null)" = mine
	check "$name: stat through a root 0700 dir as nobody: EACCES" has \
		"stat through 0700 dir: EACCES"
	check "$name: mkdir in a root 0755 dir as nobody: EACCES, none on the server" \
		eval 'has "mkdir in 0755 root dir: EACCES" && test ! -e "$d/p/d"'
	check "$name: mkdir through a root 0700 dir as nobody: EACCES, none on the server" \
		eval 'has "mkdir through 0700 dir: EACCES" && test ! -e "$d/priv/open/d"'
	check "$name: mkfifo through a root 0700 dir as nobody: EACCES, none on the server" \
		eval 'has "mkfifo through 0700 dir: EACCES" && test ! -e "$d/priv/open/fifo"'
	check "$name: unlink in a root 0755 dir as nobody: EACCES, file still there" \
		eval 'has "unlink root file in 0755 dir: EACCES" && test -e "$d/p/f"'
	check "$name: access(R_OK) of a 0600 root file as nobody: no" has "access 0600 R_OK: ok no"
	check "$name: list a root 0755 dir as nobody" has "listdir 0755 root dir: ok f"
	check "$name: list a root 0700 dir as nobody: EACCES" has "listdir 0700 root dir: EACCES"
}

one off3 "$tb_NFS_URL3" off
one cto3 "$tb_NFS_URL3" cto
one full3 "$tb_NFS_URL3" full
one off4 "$tb_NFS_URL4" off
# --- errno of rmdir/unlink/mkdir/rename/link/symlink, as on a local tree --------
# Each case in a fresh directory; the line also lists what is left, so that
# a wrong success that destroyed something shows (NFSv4's one REMOVE for
# every type made rmdir(2) delete a file and unlink(2) an empty directory).
cat >"$T_TMP/errno.py" <<'PY'
import errno, os, sys
root = sys.argv[1]
n = [0]
def fresh():
    n[0] += 1
    b = os.path.join(root, "c%d" % n[0])
    os.mkdir(b)
    for d in ("d", "full", "empty", "full/sub", "e2"):
        os.mkdir(os.path.join(b, d))
    for f in ("f", "g", "full/x"):
        with open(os.path.join(b, f), "w") as fh: fh.write("x")
    return lambda *a: os.path.join(b, *a)
cases = [
 ("rmdir full", lambda P: os.rmdir(P("full"))),
 ("rmdir file", lambda P: os.rmdir(P("f"))),
 ("rmdir missing", lambda P: os.rmdir(P("nope"))),
 ("rmdir file/x", lambda P: os.rmdir(P("f", "x"))),
 ("unlink dir", lambda P: os.unlink(P("d"))),
 ("unlink file/x", lambda P: os.unlink(P("f", "x"))),
 ("mkdir existing dir", lambda P: os.mkdir(P("d"))),
 ("mkdir existing file", lambda P: os.mkdir(P("f"))),
 ("mkdir file/x", lambda P: os.mkdir(P("f", "x"))),
 ("rename file->full dir", lambda P: os.rename(P("f"), P("full"))),
 ("rename file->empty dir", lambda P: os.rename(P("f"), P("empty"))),
 ("rename dir->file", lambda P: os.rename(P("d"), P("g"))),
 ("rename dir->full dir", lambda P: os.rename(P("d"), P("full"))),
 ("rename dir->own sub", lambda P: os.rename(P("full"), P("full", "sub", "z"))),
 ("rename missing", lambda P: os.rename(P("nope"), P("nope2"))),
 ("rename into missing dir", lambda P: os.rename(P("g"), P("nodir", "g"))),
 ("rename via file as dir", lambda P: os.rename(P("g"), P("f", "g"))),
 ("rename dir->empty dir", lambda P: os.rename(P("e2"), P("empty"))),
 ("rename file->self", lambda P: os.rename(P("g"), P("g"))),
 ("link existing->existing", lambda P: os.link(P("f"), P("g"))),
 ("link dir", lambda P: os.link(P("d"), P("d2"))),
 ("link missing", lambda P: os.link(P("nope"), P("n2"))),
 ("link to dir name", lambda P: os.link(P("f"), P("d"))),
 ("link into file/x", lambda P: os.link(P("g"), P("f", "x"))),
 ("symlink existing", lambda P: os.symlink("t", P("f"))),
 ("symlink existing dir", lambda P: os.symlink("t", P("d"))),
]
for name, fn in cases:
    P = fresh()
    try:
        fn(P); r = "ok"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    # what is left, so that a wrong "ok" that destroyed something shows
    left = sorted(os.listdir(P()))
    print("%s: %s %s" % (name, r, ",".join(left)))
PY
mkdir "$T_TMP/local-errno"
python3 "$T_TMP/errno.py" "$T_TMP/local-errno" >"$T_TMP/errno.local" 2>&1
errnos() { # errnos NAME URL POLICY
	local name=$1 url=$2 pol=$3
	mkdir -p "$E/$name"
	run_stop "$name" "$url" "$pol" python3 "$T_TMP/errno.py" "/nfs/$name" \
		>"$T_TMP/errno.$name" 2>&1
	same "$name: errno of 26 directory-entry cases as on a local tree" \
		"$T_TMP/errno.local" "$T_TMP/errno.$name"
}
errnos errno-off3 "$tb_NFS_URL3" off
errnos errno-off4 "$tb_NFS_URL4" off
errnos errno-full3 "$tb_NFS_URL3" full
errnos errno-full4 "$tb_NFS_URL4" full
finish
