#!/usr/bin/env bash
# The connection to the daemon and to the server under faults (issue 10,
# items 4, 5, 7, 10): a runtime directory squatted by another user and a
# daemon of another uid are refused; many clients starting at once (also
# while the last daemon shuts down with write-backs pending) all get a
# daemon; soft and hard mounts through an outage (tools/wanem refuse/cut/
# stall): soft close() fails within timeo and the data still reaches the
# server, hard close() waits and succeeds, SIGINT ends a hard wait; a
# malformed URL is a one-line error at once; 1000 idle connections do not
# lock out a new client.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd python3 setpriv
testbed_start tb
require_built "$SPECNFS" "$SPECNFSD" "$SHIM"
mkdir -p "$tb_EXPORT_DIR/d"
echo hello >"$tb_EXPORT_DIR/d/small"
# nobody must reach a few places under $T_TMP.
chmod 711 "$T_TMP"

stop_daemon() { env $(mount_env "$1" "$2") "$SPECNFS" --no-start stop >/dev/null 2>&1; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# nobody cannot run a python found through root's PATH (pyenv shims).
SYS_PY=/usr/bin/python3
[ -x "$SYS_PY" ] || SYS_PY=$(command -v python3)

# --- a runtime directory another user made first -------------------------------
# (what /tmp/specnfs-UID is without XDG_RUNTIME_DIR: anyone can make it first)
install -d -o nobody -g nogroup -m 777 "$T_TMP/run-squat"
echo "victim's own file" >"$T_TMP/victim.txt"
sum0=$(sha256sum "$T_TMP/victim.txt")
# The squatter listens where the victim's daemon would, and would name the
# victim's file as the mirror of /nfs/out.txt: it logs what it hears.
S=$(mount_env squat "$tb_NFS_URL3")
sock=$(env $S SPECNFS_RUNTIME_DIR=$T_TMP/run-probe "$SPECNFS" start >/dev/null 2>&1; ls \
	"$T_TMP"/run-probe/*.sock)
stop_daemon probe "$tb_NFS_URL3"
sockname=$(basename "$sock")
setpriv --reuid=nobody --regid=nogroup --clear-groups "$SYS_PY" - "$T_TMP/run-squat/$sockname" \
	"$T_TMP/run-squat/heard" <<'EOF' &
import socket, sys, os
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(16)
s.settimeout(30)
try:
    while True:
        c, _ = s.accept()
        open(sys.argv[2], "a").write("connection\n")
        c.close()
except Exception:
    pass
EOF
squatter=$!
on_exit "kill $squatter"
for _ in $(seq 1 50); do [ -S "$T_TMP/run-squat/$sockname" ] && break; sleep 0.1; done
out=$(timeout 20 env $S LD_PRELOAD="$SHIM" sh -c 'echo pwned > /nfs/out.txt' 2>&1)
err=$(timeout 20 env $S "$SPECNFS" stat /nfs/d/small 2>&1)
rc=$?
pat="run-squat is a directory owned by uid 65534 (nobody) with mode 0777: refusing"
check "squatted runtime dir: the client refuses, naming the dir, its owner and mode: $err" \
	bash -c '[ "$1" -ne 0 ] && grep -q "$3" <<<"$2"' _ "$rc" "$err" "$pat"
check "... the shim too: $out" grep -q "refusing to use it" <<<"$out"
check "... nothing talked to the squatter's socket" test ! -e "$T_TMP/run-squat/heard"
check "... the victim's file is unchanged" test "$(sha256sum "$T_TMP/victim.txt")" = "$sum0"
check "... and no daemon started for it" bash -c '! ls "$1"/*.lock >/dev/null 2>&1' _ \
	"$T_TMP/run-squat"
derr=$(env $S "$SPECNFSD" 2>&1)
check "specnfsd refuses it too: $derr" grep -q "refusing to use it" <<<"$derr"
# A symlink where the runtime dir should be: lstat, not stat.
mkdir -m 700 "$T_TMP/elsewhere"
ln -s "$T_TMP/elsewhere" "$T_TMP/run-link"
err=$(env $(mount_env link "$tb_NFS_URL3") "$SPECNFS" stat /nfs/d/small 2>&1)
check "a symlink as runtime dir is refused: $err" grep -q "run-link is a symlink" <<<"$err"
kill "$squatter" 2>/dev/null

# --- a daemon of another uid ----------------------------------------------------
# A socket made by nobody, moved into our own private runtime dir: only
# SO_PEERCRED can tell.
mkdir -m 700 "$T_TMP/run-peer"
install -d -o nobody -g nogroup -m 700 "$T_TMP/nob"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$SYS_PY" - "$T_TMP/nob/fake.sock" <<'EOF' &
import socket, sys, os, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16)
s.settimeout(30)
try:
    while True:
        c, _ = s.accept()
        time.sleep(1)
        c.close()
except Exception:
    pass
EOF
fake=$!
on_exit "kill $fake"
for _ in $(seq 1 50); do [ -S "$T_TMP/nob/fake.sock" ] && break; sleep 0.1; done
mv "$T_TMP/nob/fake.sock" "$T_TMP/run-peer/$sockname"
err=$(timeout 20 env $(mount_env peer "$tb_NFS_URL3") SPECNFS_CACHE="$T_TMP/cache-squat" \
	"$SPECNFS" stat /nfs/d/small 2>&1)
check "a daemon socket of another uid is refused (SO_PEERCRED): $err" \
	grep -q "runs as uid 65534, not as you" <<<"$err"
kill "$fake" 2>/dev/null

# --- readiness: many clients at once ----------------------------------------------
R=$(mount_env ready "$tb_NFS_URL3")
for i in $(seq 1 10); do env $R "$SPECNFS" stat /nfs/d/small >"$T_TMP/ready.$i" 2>&1 & pids[i]=$!; \
	done
fails=0
for i in $(seq 1 10); do wait "${pids[i]}" || fails=$((fails + 1)); done
check "10 clients starting at once on a fresh config all succeed ($fails failed)" test "$fails" \
	-eq 0
[ "$fails" -eq 0 ] || cat "$T_TMP"/ready.* | sed 's/^/# /' | sort | uniq -c | head
stop_daemon ready "$tb_NFS_URL3"

# A program that writes a file under the shim, then closes it when told.
WRITER=$T_TMP/writer.py
cat >"$WRITER" <<'EOF'
import os, sys, time, errno
path, flag, text = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, text.encode())
print("written", flush=True)
while not os.path.exists(flag):
    time.sleep(0.05)
t0 = time.time()
try:
    os.close(fd)
    print("close ok %.1f" % (time.time() - t0), flush=True)
except OSError as e:
    print("close error %s %.1f" % (errno.errorcode.get(e.errno, e.errno), time.time() - t0),
          flush=True)
except KeyboardInterrupt:
    print("close interrupted %.1f" % (time.time() - t0), flush=True)
    sys.exit(130)
EOF
writer() { # writer ENV NAME TEXT [POLICY]: start the writer under the shim; sets wpid
	rm -f "$T_TMP/$2.flag"
	env $1 SPECNFS_POLICY="${4:-off}" LD_PRELOAD="$SHIM" python3 "$WRITER" "/nfs/d/$2.txt" \
		"$T_TMP/$2.flag" "$3" \
		>"$T_TMP/$2.out" 2>"$T_TMP/$2.err" &
	wpid=$!
	for _ in $(seq 1 100); do grep -q written "$T_TMP/$2.out" 2>/dev/null && break; sleep 0.1; \
		done
}
wait_server() { # wait_server FILE TEXT SECONDS
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# ... and while the last daemon shuts down with a write-back pending: its
# socket is gone but it holds the lock until the store is done.
wan_link w --control "$T_TMP/w.ctl"
read -r wn _ <<<"$w_PORTS"
WURL=$w_URL
wctl() { "$WANEM" --control "$T_TMP/w.ctl" --send "$*" >/dev/null; }
L=$(mount_env load "$WURL")
env $L "$SPECNFS" stat /nfs/d/small >/dev/null
writer "$L" pending "pending data"
wctl stall 6
touch "$T_TMP/pending.flag" # its close waits for the write-back, which stalls
sleep 0.5
kill -TERM "$(head -n 1 "$T_TMP"/run-load/*.lock)"
sleep 0.3
for i in $(seq 1 10); do
	env $L "$SPECNFS" stat /nfs/d/small >"$T_TMP/load.$i" 2>&1 &
	pids[i]=$!
done
fails=0
for i in $(seq 1 10); do wait "${pids[i]}" || fails=$((fails + 1)); done
what="10 clients starting while the last daemon shuts down (write-back pending) all succeed"
check "$what ($fails failed)" test "$fails" -eq 0
[ "$fails" -eq 0 ] || cat "$T_TMP"/load.* | sed 's/^/# /' | sort | uniq -c | head -n 5
wait "$wpid"
check "... and the pending write-back reached the server" \
	wait_server "$tb_EXPORT_DIR/d/pending.txt" "pending data" 10
stop_daemon load "$WURL"

# A daemon that cannot start: the starter quotes it.
echo "not a directory" >"$T_TMP/afile"
err=$(env $(mount_env bad "$tb_NFS_URL3") SPECNFS_CACHE="$T_TMP/afile/cache" "$SPECNFS" stat \
	/nfs/d/small 2>&1)
check "a daemon that fails to start is quoted: $err" grep -q \
	"failed to start (exit 1): specnfsd: cache directory" <<<"$err"

# --- soft mount through an outage --------------------------------------------------
SOFT=$(mount_env soft "$WURL" SPECNFS_MOUNT_MODE=soft SPECNFS_TIMEO=3)
env $SOFT "$SPECNFS" stat /nfs/d/small >/dev/null
writer "$SOFT" soft "soft mount data"
wctl refuse 15
wctl cut
t0=$(now)
touch "$T_TMP/soft.flag"
wait "$wpid"
res=$(cat "$T_TMP/soft.out" | tail -n 1)
what="soft: close() during an outage returns an error within timeo + slack"
check "$what ($res, $(elapsed "$t0") s)" \
	bash -c 'read -r _ what code secs <<<"$1"; [ "$what" = error ] && [ "$code" = EIO ] &&
		awk -v s="$secs" "BEGIN{exit !(s < 8)}"' _ "$res"
check "... the program was told which server and why: $(head -c 300 "$T_TMP/soft.err")" \
	grep -q "server nfs://127.0.0.1/export?nfsport=$wn.* not responding" "$T_TMP/soft.err"
t1=$(now)
for i in 1 2 3 4 5; do env $SOFT "$SPECNFS" stat /nfs/d/small >/dev/null 2>"$T_TMP/fast.err"; done
fast=$(elapsed "$t1")
check "soft, mount known down: 5 later requests fail fast (${fast} s in all)" \
	awk -v s="$fast" 'BEGIN{exit !(s < 5)}'
pat="Input/output error (server nfs://127.0.0.1/export?nfsport=$wn.* not responding: down:"
pat+=" connection refused"
check "... with the server and the cause: $(cat "$T_TMP/fast.err")" grep -q "$pat" "$T_TMP/fast.err"
wctl refuse 0
env $SOFT "$SPECNFS" stat /nfs/d/small >/dev/null 2>&1 # a request: reconnect now
check "... the data of the failed close still reaches the server when it returns" \
	wait_server "$tb_EXPORT_DIR/d/soft.txt" "soft mount data" 20
check "after the server returns, the next request works at once (no backoff left)" \
	bash -c 'env $1 "$2" cat /nfs/d/small | grep -q hello' _ "$SOFT" "$SPECNFS"

# Under full, close() returns at once and the wait is at exit, for the
# speculation to be settled: soft bounds that too, and keeps the data.
env $SOFT "$SPECNFS" stat /nfs/d/small >/dev/null
writer "$SOFT" full "full policy data" full
wctl refuse 15
wctl cut
t0=$(now)
touch "$T_TMP/full.flag"
wait "$wpid"
took=$(elapsed "$t0")
what="soft, policy full: the program's exit (settling its speculation) ends within"
what+=" 2 x timeo + slack"
check "$what (${took} s): $(tail -n 1 "$T_TMP/full.out")" awk -v s="$took" 'BEGIN{exit !(s < 12)}'
wctl refuse 0
env $SOFT "$SPECNFS" stat /nfs/d/small >/dev/null 2>&1
check "... and its data reaches the server when it returns" \
	wait_server "$tb_EXPORT_DIR/d/full.txt" "full policy data" 20
stop_daemon soft "$WURL"

# --- hard mount: close waits through the outage and succeeds ---------------------------
HARD=$(mount_env hard "$WURL" SPECNFS_TIMEO=2)
env $HARD "$SPECNFS" stat /nfs/d/small >/dev/null
writer "$HARD" hard "hard mount data"
wctl refuse 6
wctl cut
t0=$(now)
touch "$T_TMP/hard.flag"
wait "$wpid"
res=$(tail -n 1 "$T_TMP/hard.out")
check "hard: close() waits through a 6 s outage and succeeds ($res)" \
	bash -c 'read -r _ what secs <<<"$1"; [ "$what" = ok ] &&
		awk -v s="$secs" "BEGIN{exit !(s >= 3 && s < 30)}"' _ "$res"
pat="specnfs: server nfs://127.0.0.1/export?nfsport=$wn.* not responding (.*), still trying"
check "... told once: not responding, still trying: $(head -c 300 "$T_TMP/hard.err")" \
	test "$(grep -c "$pat" "$T_TMP/hard.err")" -eq 1
check "... the data is on the server" wait_server "$tb_EXPORT_DIR/d/hard.txt" "hard mount data" 5

# SIGINT ends a hard wait; the data stays dirty and is written back later.
writer "$HARD" intr "interrupted data"
wctl refuse 60
wctl cut
touch "$T_TMP/intr.flag"
sleep 3
t0=$(now)
kill -INT "$wpid"
for _ in $(seq 1 50); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
gone=$(elapsed "$t0")
kill -0 "$wpid" 2>/dev/null && kill -KILL "$wpid"
wait "$wpid"
check "hard: SIGINT ends the wait in close() (${gone} s): $(tail -n 1 "$T_TMP/intr.out")" \
	bash -c 'awk -v s="$1" "BEGIN{exit !(s < 3)}" &&
		grep -qE "close (interrupted|error EINTR)" "$2"' _ "$gone" "$T_TMP/intr.out"
wctl refuse 0
env $HARD "$SPECNFS" stat /nfs/d/small >/dev/null 2>&1
check "... and the data of the interrupted close reaches the server after the outage" \
	wait_server "$tb_EXPORT_DIR/d/intr.txt" "interrupted data" 20
stop_daemon hard "$WURL"

# --- a malformed URL --------------------------------------------------------------
for url in 'nfs:///export' 'nfs://127.0.0.1' 'nfs://127.0.0.1/export?nfsport=abc'; do
	t0=$(now)
	err=$(timeout 20 env $(mount_env url "$url") "$SPECNFS" stat /nfs/x 2>&1)
	rc=$?
	took=$(elapsed "$t0")
	check "malformed URL $url: a one-line error naming SPECNFS_MOUNTS in ${took} s: $err" \
		bash -c '[ "$1" -ne 0 ] && [ "$(wc -l <<<"$2")" -eq 1 ] &&
			grep -q "SPECNFS_MOUNTS: URL .*$3" <<<"$2" &&
			awk -v s="$4" "BEGIN{exit !(s < 1)}"' \
		_ "$rc" "$err" "$url" "$took"
done

# --- a setting that a running daemon does not take -------------------------------------
W=$(mount_env warn "$tb_NFS_URL3")
env $W "$SPECNFS" start
err=$(env $W SPECNFS_TIMEO=7 "$SPECNFS" stat /nfs/d/small 2>&1 >/dev/null)
check "a setting the running daemon has otherwise is named: $err" \
	grep -q "SPECNFS_TIMEO=7 is not in effect: the daemon .* uses 60" <<<"$err"
stop_daemon warn "$tb_NFS_URL3"

# --- 1000 idle connections -------------------------------------------------------------
I=$(mount_env idle "$tb_NFS_URL3")
env $I "$SPECNFS" stat /nfs/d/small >/dev/null
# All at once, while the daemon cannot accept (a burst: make -j, a
# parallel test suite): they wait in the listen backlog.
ipid=$(head -n 1 "$T_TMP"/run-idle/*.lock)
kill -STOP "$ipid"
on_exit "kill -CONT $ipid"
python3 - "$(ls "$T_TMP"/run-idle/*.sock)" 1000 >"$T_TMP/idle.out" 2>&1 <<'EOF' &
import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5)
    try:
        s.connect(sys.argv[1])
    except Exception as e:
        print("connect %d failed: %s" % (i, e), flush=True); break
    socks.append(s)
print("connected", len(socks), flush=True)
time.sleep(60)
EOF
idler=$!
on_exit "kill $idler"
for _ in $(seq 1 100); do grep -q "connect" "$T_TMP/idle.out" 2>/dev/null && break; sleep 0.1; done
kill -CONT "$ipid"
check "1000 idle connections are all accepted: $(cat "$T_TMP/idle.out")" grep -q "^connected 1000" \
	"$T_TMP/idle.out"
check "... and a new client is still served" \
	bash -c 'timeout 10 env $1 "$2" cat /nfs/d/small | grep -q hello' _ "$I" "$SPECNFS"
kill "$idler" 2>/dev/null
stop_daemon idle "$tb_NFS_URL3"

finish
