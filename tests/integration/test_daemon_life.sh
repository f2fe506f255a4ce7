#!/usr/bin/env bash
# specnfsd's life cycle and robustness: one daemon per configuration,
# idle exit, SIGTERM, an unreachable server, a cut connection, malformed
# messages on its socket, the cache size cap, and the config command.
. "$(dirname "$0")/lib.sh"
require_cmd python3
testbed_start tb
require_built "$SPECNFS" "$SPECNFSD"
daemon_pid() { cat "$T_TMP/run-$1"/*.lock 2>/dev/null | head -n 1; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

mkdir -p "$tb_EXPORT_DIR/d"
for i in 1 2 3 4 5; do head -c 300000 /dev/urandom >"$tb_EXPORT_DIR/d/big$i"; done
echo hello >"$tb_EXPORT_DIR/d/small"

# --- one daemon per configuration, even when many clients start at once ----
L=$(mount_env lock "$tb_NFS_URL3")
for i in $(seq 1 8); do env $L "$SPECNFS" stat /nfs/d/small >/dev/null & done
wait
count_daemons() { daemon_pids "$T_TMP/run-$1" | wc -l; }
check "eight clients starting at once leave exactly one daemon ($(count_daemons lock))" \
	test "$(count_daemons lock)" -eq 1
second=$(env $L "$SPECNFSD" --foreground 2>&1)
check "a second daemon for the same configuration refuses: '$second'" grep -q "already running" \
	<<<"$second"
env $L "$SPECNFS" stop >/dev/null

# --- idle exit and SIGTERM ---------------------------------------------------
I=$(mount_env idle "$tb_NFS_URL3" SPECNFS_IDLE_TIMEOUT=1)
env $I "$SPECNFS" cat /nfs/d/small >/dev/null
p=$(daemon_pid idle)
for _ in $(seq 1 60); do alive "$p" || break; sleep 0.1; done
check "an idle daemon exits by itself (SPECNFS_IDLE_TIMEOUT=1)" bash -c "! kill -0 $p 2>/dev/null"
T=$(mount_env term "$tb_NFS_URL3")
echo "written before SIGTERM" >"$T_TMP/t.txt"
env $T "$SPECNFS" put "$T_TMP/t.txt" /nfs/d/t.txt
p=$(daemon_pid term)
kill -TERM "$p"
for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
check "SIGTERM stops the daemon cleanly" bash -c "! kill -0 $p 2>/dev/null"
check "... with its socket removed" bash -c "! ls $T_TMP/run-term/*.sock >/dev/null 2>&1"
check "... and the file on the server" cmp -s "$T_TMP/t.txt" "$tb_EXPORT_DIR/d/t.txt"

# --- an unreachable server ---------------------------------------------------
dead=$( (python3 -c \
	'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') )
U=$(mount_env down "nfs://127.0.0.1/export?nfsport=$dead&mountport=$dead" \
	SPECNFS_CONNECT_TIMEOUT=2 SPECNFS_LOG=2)
t0=$(date +%s)
err=$(env $U "$SPECNFS" stat /nfs/x 2>&1)
rc=$?
t1=$(date +%s)
what="unreachable server: the request fails with EIO after the connect timeout"
check "$what ($((t1 - t0)) s): $err" \
	bash -c '[ "$1" -ne 0 ] && grep -q "Input/output error" <<<"$2" && [ "$3" -le 10 ]' _ \
		"$rc" "$err" "$((t1 - t0))"
status=$(env $U "$SPECNFS" status)
check "status names the mount as down with the reason" grep -qE "mount /nfs .*: (down|connecting)" \
	<<<"$status"
sleep 2
check "the daemon log shows retries with backoff" \
	bash -c 'grep -c "retrying in" "$1"/*.log | awk -F: "{n+=\$NF} END{exit !(n >= 2)}"' _ \
		"$T_TMP/run-down"
env $U "$SPECNFS" stop >/dev/null

# --- a connection cut in the middle: the daemon reconnects ---------------------
wan_link w --rtt 5
C=$(mount_env cut "$w_URL" SPECNFS_ACREGMIN=0 \
	SPECNFS_ACREGMAX=0 SPECNFS_ACDIRMIN=0 SPECNFS_ACDIRMAX=0)
env $C "$SPECNFS" stat /nfs/d/small >/dev/null
kill -USR1 "$w_PID"
sleep 0.2
check "after the server connection is cut, the next request still works" \
	bash -c 'env $1 "$2" cat /nfs/d/small | grep -q hello' _ "$C" "$SPECNFS"
( for i in $(seq 1 20); do env $C "$SPECNFS" cat /nfs/d/big$((i % 5 + 1)) >/dev/null || echo fail; \
	done ) >"$T_TMP/cut.out" &
reader=$!
sleep 0.3
kill -USR1 "$w_PID"
wait "$reader"
check "reads in flight during a cut are re-sent and succeed" test ! -s "$T_TMP/cut.out"
check "status counts the reconnects" bash -c 'env $1 "$2" status | grep -qE "reconnects: [1-9]"' _ \
	"$C" "$SPECNFS"
env $C "$SPECNFS" stop >/dev/null

# --- malformed messages do not hurt the daemon --------------------------------
M=$(mount_env mal "$tb_NFS_URL3")
env $M "$SPECNFS" stat /nfs/d/small >/dev/null
sock=$(ls "$T_TMP"/run-mal/*.sock)
python3 - "$sock" <<'EOF'
import socket, struct, sys, random
path = sys.argv[1]
random.seed(7)
def send(data, read=True):
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.sendall(data)
    s.settimeout(2)
    try:
        return s.recv(100) if read else b""
    except Exception:
        return b""
    finally:
        s.close()
hdr = lambda op, ln, magic=0x464e5053, ver=1: struct.pack("<IHHII", magic, ver, op, 7, ln)
send(b"GET / HTTP/1.0\r\n\r\n")                       # not our protocol
send(hdr(2, 1 << 30))                                  # absurd length
send(hdr(2, 8) + b"\xff" * 8)                          # truncated path field
send(hdr(999, 0))                                      # unknown op
send(hdr(2, 0, ver=9))                                 # another version
for _ in range(200):
    send(bytes(random.randrange(256) for _ in range(random.randrange(1, 64))), read=False)
EOF
check "after garbage on its socket the daemon still answers" \
	bash -c 'env $1 "$2" cat /nfs/d/small | grep -q hello' _ "$M" "$SPECNFS"
env $M "$SPECNFS" stop >/dev/null

# --- the cache size cap --------------------------------------------------------
K=$(mount_env cap "$tb_NFS_URL3" SPECNFS_CACHE_MAX=700K)
for i in 1 2 3 4 5; do env $K "$SPECNFS" cat "/nfs/d/big$i" | cmp -s - "$tb_EXPORT_DIR/d/big$i" || \
	echo "bad big$i"; done >"$T_TMP/cap.out"
check "files read through a 700 KB cache are all correct" test ! -s "$T_TMP/cap.out"
cached=$(env $K "$SPECNFS" status | sed -n 's/.*entries, \([0-9]*\) bytes cached.*/\1/p')
check "the cache stays under its cap after reading 1.5 MB ($cached bytes)" test \
	"${cached:-999999999}" -le 716800
check "an evicted file is fetched again when read" \
	bash -c 'env $1 "$2" cat /nfs/d/big1 | cmp -s - "$3"' _ "$K" "$SPECNFS" \
		"$tb_EXPORT_DIR/d/big1"
env $K "$SPECNFS" stop >/dev/null

# --- config: values and where they came from; bad values named -----------------
cfg=$(env $K SPECNFS_ACREGMIN=1 "$SPECNFS" config)
check "config shows an environment value with its source" grep -qE \
	"SPECNFS_ACREGMIN +1 +\(environment\)" <<<"$cfg"
check "config shows a default with its source" grep -qE "SPECNFS_ACDIRMAX +0 +\(default\)" <<<"$cfg"
err=$(env $K SPECNFS_ACREGMIN=soon "$SPECNFS" stat /nfs/d/small 2>&1)
check "a malformed variable is refused naming it: $err" grep -q "SPECNFS_ACREGMIN" <<<"$err"
err=$(env SPECNFS_MOUNTS=/nfs "$SPECNFS" stat /nfs/x 2>&1)
check "a malformed mount list is refused: $err" grep -q "PREFIX=URL" <<<"$err"
# A checkpoint back-end asked for and missing: one line that says so, and
# the program still runs (without speculation).
out=$(env $K SPECNFS_CHECKPOINT=criu "$SPECNFS" run -- cat /nfs/d/small 2>&1 >/dev/null)
check "SPECNFS_CHECKPOINT=criu says once that nothing runs ahead: $out" \
	test "$(grep -c 'SPECNFS_CHECKPOINT=criu: this build has no CRIU back-end' <<<"$out")" = 1
check "... and the program ran" env $K SPECNFS_CHECKPOINT=criu "$SPECNFS" run -- cmp -s \
	/nfs/d/small "$tb_EXPORT_DIR/d/small"

# --- a daemon left from before an upgrade (another protocol version) -----------
# A stand-in that answers every frame with a version-2 reply, as an old
# daemon would: 'specnfs stop' stops it, and any command replaces it.
V=$(mount_env ver "$tb_NFS_URL3")
env $V "$SPECNFS" stat /nfs/d/small >/dev/null
sock=$(ls "$T_TMP"/run-ver/*.sock)
env $V "$SPECNFS" stop >/dev/null
fake_daemon() {
	# A socket file left by the last stand-in (SIGTERM does not unlink
	# it) must not pass for this one's: wait for the new bind.
	rm -f "$sock"
	python3 - "$sock" <<'PY' &
import os, socket, struct, sys
path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(8)
while True:
    c, _ = s.accept()
    h = c.recv(16)
    if len(h) == 16:
        magic, ver, op, seq, ln = struct.unpack('<IHHII', h)
        c.sendall(struct.pack('<IHHIIi', magic, 2, op | 0x8000, seq, 4, 0))
    c.close()
PY
	fake=$!
	for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	sleep 0.2
}
fake_daemon
out=$(env $V "$SPECNFS" stop 2>&1)
check "specnfs stop stops a daemon of another protocol version: $out" \
	bash -c '! kill -0 "$1" 2>/dev/null && grep -q "another version" <<<"$2"' _ "$fake" "$out"
fake_daemon
out=$(env $V "$SPECNFS" cat /nfs/d/small 2>&1)
check "a command replaces a daemon of another version and works: $(tr '\n' ' ' <<<"$out")" \
	bash -c '! kill -0 "$1" 2>/dev/null && grep -q "^hello$" <<<"$2" &&
		grep -q "another protocol version" <<<"$2"' _ "$fake" "$out"
env $V "$SPECNFS" stop >/dev/null

finish
