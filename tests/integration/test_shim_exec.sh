#!/usr/bin/env bash
# Starting programs under the shim, through `specnfs run`: binaries and "#!"
# scripts on NFS (also with an interpreter on NFS), PATH search through NFS
# directories (execvp, sh, posix_spawnp), env -i keeping the shim, vfork
# children (gcc, Python's subprocess), posix_spawn and its file actions
# (Python, make, a C program), dlopen of a library on NFS, and the run
# command's own behaviour.
. "$(dirname "$0")/lib.sh"
# The synchronous baseline unless test_shim_policies asks otherwise (the
# default policy speculates).
export SPECNFS_POLICY=${SPECNFS_POLICY:-off}
require_cmd gcc make python3
testbed_start tb
# The test programs: tests/integration/{hello,showenv,interp,spawner,
# vforker,loader,plug}.c.
PROGS=$BUILDDIR/tests/integration
require_built "$SPECNFS" "$SPECNFSD" "$SHIM" \
	"$PROGS"/{hello,showenv,interp,spawner,vforker,loader} "$PROGS/.libs/libplug.so"

unset SPECNFS_MOUNTS SPECNFS_DAEMON SPECNFS_SHIM LD_PRELOAD
client_export ""
MOUNT="/nfs=$tb_NFS_URL3"
run() { "$SPECNFS" run --mount "$MOUNT" -- "$@"; }

# expect DESCRIPTION WANT CMD...: CMD's output (stdout and stderr) is WANT.
expect() {
	local what=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	if [ "$got" = "$want" ]; then
		ok "$what"
	else
		not_ok "$what"
		printf '#   want: %s\n#   got:  %s\n' "$want" "$got" | head -n 20
	fi
}
# expect_fail DESCRIPTION STATUS PATTERN CMD...: CMD exits STATUS, says PATTERN.
expect_fail() {
	local what=$1 want=$2 pat=$3 got rc
	shift 3
	got=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -qE "$pat" <<<"$got"; then
		ok "$what"
	else
		not_ok "$what"
		printf '#   status %s, output: %s\n' "$rc" "$got" | head -n 20
	fi
}

# --- fixtures: programs, scripts and a library on the server -----------------
E=$tb_EXPORT_DIR
mkdir -p "$E/bin" "$E/lib" "$E/sub" "$E/out" "$T_TMP/src" "$T_TMP/rp"
cp /bin/true "$E/bin/true"
cp "$PROGS/hello" "$PROGS/showenv" "$PROGS/interp" "$E/bin/"
cp "$PROGS/.libs/libplug.so" "$E/lib/libplug.so"
# loader finds a bare name in the rp/ beside it (its RUNPATH is $ORIGIN/rp).
cp "$PROGS/loader" "$T_TMP/loader"
cp "$PROGS/.libs/libplug.so" "$T_TMP/rp/librp.so"
printf '#!/bin/sh\necho "script: 0=$0 args=$*"\n' >"$E/bin/script.sh"
printf '#!/nfs/bin/interp -x\nbody of viainterp\n' >"$E/bin/viainterp"
printf '#!/nfs/bin/script.sh\necho never\n' >"$E/bin/deep"
printf 'echo "plain: 0=$0 args=$*"\n' >"$E/bin/plain"
printf '#!/bin/sh\necho "envscript: mounts=$SPECNFS_MOUNTS preload=${LD_PRELOAD##*/}"\n' \
	>"$E/bin/envscript"
printf '#!/bin/sh\necho as >>/nfs/out/as-ran\nexec /usr/bin/as "$@"\n' >"$E/bin/as"
printf '#!/bin/sh\necho nope\n' >"$E/bin/noexec"
printf '#!/bin/sh\necho nfs\n' >"$E/bin/twice"
mkdir -p "$T_TMP/lbin"
printf '#!/bin/sh\necho local\n' >"$T_TMP/lbin/twice"
chmod 755 "$T_TMP/lbin/twice"
chmod 755 "$E"/bin/*
chmod 644 "$E/bin/noexec"
echo "file in sub" >"$E/sub/file"
printf '#!/nfs/bin/interp\nbody of localscript\n' >"$T_TMP/localscript"
chmod 755 "$T_TMP/localscript"

# --- programs and scripts on NFS -----------------------------------------------
check "a copy of /bin/true on NFS runs" run /nfs/bin/true
expect "a compiled program on NFS runs with its arguments" "hello: a b c" run /nfs/bin/hello a b c
expect "a #!/bin/sh script on NFS sees its NFS path as \$0 and its arguments" \
	"script: 0=/nfs/bin/script.sh args=x y" run /nfs/bin/script.sh x y
what="a script whose interpreter is on NFS: interp [arg] script args, and the interpreter reads it"
expect "$what" "$(printf '%s\n' 'interp: [/nfs/bin/interp] [-x] [/nfs/bin/viainterp] [a1]' \
	'#!/nfs/bin/interp -x' 'body of viainterp')" run /nfs/bin/viainterp a1
expect "a local script whose interpreter is on NFS" \
	"$(printf '%s\n' "interp: [/nfs/bin/interp] [$T_TMP/localscript] [q]" '#!/nfs/bin/interp' \
	'body of localscript')" run "$T_TMP/localscript" q
expect_fail "a script whose NFS interpreter is itself a script is refused (ELOOP)" 126 \
	"deep: Too many levels of symbolic links" run /nfs/bin/deep
expect_fail "a file on NFS without x bits is refused (EACCES)" 126 "noexec: Permission denied" \
	run /nfs/bin/noexec
expect_fail "a missing program on NFS: 127 and a message" 127 \
	"/nfs/bin/missing: No such file or directory" \
	run /nfs/bin/missing
expect "exec from a shell (sh -c 'exec /nfs/bin/hello')" "hello: from-sh" run sh -c \
	'exec /nfs/bin/hello from-sh'
expect "a relative path from a working directory on NFS (cd /nfs/bin && ./hello)" "hello: rel" \
	run sh -c 'cd /nfs/bin && ./hello rel'

# --- PATH search --------------------------------------------------------------
P=/nfs/bin:/usr/bin:/bin
expect "sh -c finds a program in an NFS directory of PATH" "hello: via-sh" \
	run env PATH=$P sh -c 'hello via-sh'
expect "env (execvp) finds a program in an NFS directory of PATH" "hello: via-env" \
	run env PATH=$P env hello via-env
expect "execvp runs a #! script found on NFS" "script: 0=/nfs/bin/script.sh args=s" \
	run env PATH=$P env script.sh s
expect "execvp runs a file without #! with /bin/sh (ENOEXEC, as glibc does)" \
	"plain: 0=/nfs/bin/plain args=p" run env PATH=$P env plain p
expect_fail "execvp: a match without x bits gives EACCES (126)" 126 "Permission denied" \
	run env PATH=/nfs/bin /usr/bin/env noexec
expect "specnfs run finds the command in an NFS PATH itself" "hello: direct" \
	env PATH=$P "$SPECNFS" run --mount "$MOUNT" -- hello direct
expect "PATH order: a local directory before the NFS one wins" "local" \
	run env PATH="$T_TMP/lbin:/nfs/bin" /usr/bin/env twice
expect "PATH order: the NFS directory before the local one wins" "nfs" \
	run env PATH="/nfs/bin:$T_TMP/lbin" /usr/bin/env twice

# --- the environment survives programs that build their own -----------------------
want="mounts=$MOUNT shim=yes"
expect "env -i /nfs/bin/showenv: the child still has SPECNFS_* and the shim" "$want" \
	run env -i /nfs/bin/showenv
expect "env -i with its own LD_PRELOAD: ours is added to it" "$want" \
	run env -i LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 /nfs/bin/showenv
expect "env -i runs a #! script on NFS that sees the settings" \
	"envscript: mounts=$MOUNT preload=libspecnfs.so" run env -i /nfs/bin/envscript
expect "a grandchild after env -i still reaches NFS (env -i sh -c /nfs/bin/hello)" "hello: gc" \
	run env -i /bin/sh -c '/nfs/bin/hello gc'
expect "a variable the program sets itself is kept (SPECNFS_LOG=1 in envp)" \
	"SPECNFS_LOG=1" run env -i SPECNFS_LOG=1 /bin/sh -c 'env | grep ^SPECNFS_LOG='

# --- vfork children: Python's subprocess, gcc -----------------------------------
expect "Python subprocess (vfork + execve) runs an NFS program" "hello: sp
0" run python3 -c 'import subprocess; print(subprocess.run(["/nfs/bin/hello", "sp"]).returncode)'
expect "Python subprocess searches an NFS PATH given in env=" "hello: spp" \
	run python3 -c \
		'import subprocess; subprocess.run(["hello", "spp"], env={"PATH": "/nfs/bin"})'
what="vfork + execv of an NFS program by a parent that had not used NFS yet; the parent then"
expect "$what reads NFS" "$(printf 'hello: vf\nvforker: status 0, file in sub')" \
	run "$PROGS/vforker" /nfs/sub/file /nfs/bin/hello vf
expect "Python subprocess, then the parent reads NFS itself" "$(printf 'hello: sp2\nfile in sub')" \
	run python3 -c 'import subprocess; subprocess.run(["/nfs/bin/hello", "sp2"])
print(open("/nfs/sub/file").read(), end="")'
printf 'int main(void) { return 0; }\n' >"$T_TMP/src/m.c"
rm -f "$E/out/as-ran"
check "gcc -B/nfs/bin/ runs an assembler script on NFS (vfork + execv)" \
	run gcc -B/nfs/bin/ -c -o "$T_TMP/m.o" "$T_TMP/src/m.c"
check "... and the NFS assembler did run" grep -q as "$E/out/as-ran"

# --- posix_spawn ----------------------------------------------------------------
expect "Python os.posix_spawn of an NFS program" "hello: ps
0" run python3 -c \
	'import os; p = os.posix_spawn("/nfs/bin/hello", ["hello", "ps"], os.environ)
print(os.waitpid(p, 0)[1])'
expect "Python os.posix_spawnp through an NFS PATH" "hello: psp
0" run env PATH=$P python3 -c \
	'import os; p = os.posix_spawnp("hello", ["hello", "psp"], os.environ)
print(os.waitpid(p, 0)[1])'
expect "posix_spawn of a #! script on NFS spawns its interpreter" \
	"script: 0=/nfs/bin/script.sh args=pss
0" run python3 -c \
	'import os; p = os.posix_spawn("/nfs/bin/script.sh", ["script.sh", "pss"], os.environ)
print(os.waitpid(p, 0)[1])'
expect "posix_spawn with an empty environment keeps the shim" "$want
0" run python3 -c \
	'import os; p = os.posix_spawn("/nfs/bin/showenv", ["showenv"], {})
print(os.waitpid(p, 0)[1])'
expect "posix_spawn file actions: chdir to an NFS directory, stdout to a new NFS file" \
	"spawner: status 0" \
	run "$PROGS/spawner" /nfs/sub /nfs/out/spawned.txt cat file
for _ in $(seq 1 50); do
	[ "$(cat "$E/out/spawned.txt" 2>/dev/null)" = "file in sub" ] && break
	sleep 0.1
done
check "... the child's output reached the server" test "$(cat "$E/out/spawned.txt" 2>/dev/null)" = \
	"file in sub"
expect "Python posix_spawn with an open file action on NFS" "0" \
	run python3 -c \
		'import os; p = os.posix_spawn("/nfs/bin/hello", ["hello", "fa"], os.environ,
	file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/nfs/out/fa.txt",
		       os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
print(os.waitpid(p, 0)[1])'
for _ in $(seq 1 50); do
	[ "$(cat "$E/out/fa.txt" 2>/dev/null)" = "hello: fa" ] && break
	sleep 0.1
done
check "... its output reached the server" test "$(cat "$E/out/fa.txt" 2>/dev/null)" = "hello: fa"
printf 'all:\n\t/nfs/bin/hello from-make\n\t/nfs/bin/script.sh from-make\n' >"$T_TMP/Makefile"
expect "make runs NFS programs and scripts (posix_spawn)" \
	"$(printf 'hello: from-make\nscript: 0=/nfs/bin/script.sh args=from-make')" \
	run make -s --no-print-directory -C "$T_TMP" -f Makefile all MAKEFLAGS=
printf 'all:\n\thello from-make-path\n' >"$T_TMP/Makefile.path"
expect "make finds a program in an NFS directory of PATH" "hello: from-make-path" \
	run env PATH=$P make -s --no-print-directory -C "$T_TMP" -f Makefile.path all MAKEFLAGS=

# --- dlopen -----------------------------------------------------------------------
expect "dlopen of a library on NFS" "/nfs/lib/libplug.so: plug=42" run "$T_TMP/loader" \
	/nfs/lib/libplug.so
expect "Python ctypes loads a library on NFS" "42" \
	run python3 -c 'import ctypes; print(ctypes.CDLL("/nfs/lib/libplug.so").plug())'
expect "dlopen by bare name still searches the caller's RUNPATH" "librp.so: plug=42" \
	run "$T_TMP/loader" librp.so

# --- specnfs run itself -------------------------------------------------------------
expect "run: cd into NFS, pwd, cat" "$(printf '/nfs/sub\nfile in sub')" run sh -c \
	'cd /nfs/sub && pwd && cat file'
expect "run without a command starts \$SHELL" "/nfs/sub" \
	bash -c 'echo "cd /nfs/sub && pwd" | SHELL=/bin/sh "$1" run --mount "$2"' _ "$SPECNFS" \
		"$MOUNT"
expect "run without --mount uses SPECNFS_MOUNTS" "hello: env" \
	env SPECNFS_MOUNTS="$MOUNT" "$SPECNFS" run /nfs/bin/hello env
expect_fail "run: a command that does not exist is 127 with a message" 127 \
	"specnfs: run: no-such-command: No such file or directory" run no-such-command
expect_fail "run: a bad setting is named (exit 2)" 2 "SPECNFS_ACREGMIN" \
	env SPECNFS_ACREGMIN=soon "$SPECNFS" run --mount "$MOUNT" -- true
expect_fail "run: no mounts (exit 2)" 2 "no mounts" "$SPECNFS" run -- true
expect_fail "run: a SPECNFS_SHIM that does not exist (exit 1)" 1 "SPECNFS_SHIM" \
	env SPECNFS_SHIM=/nonexistent/libspecnfs.so "$SPECNFS" run --mount "$MOUNT" -- true
check "run --help" bash -c '"$1" run --help | grep -q "usage: specnfs run"' _ "$SPECNFS"
expect "a shell started by run keeps LD_PRELOAD as it was, with the shim first" \
	"$(realpath "$BUILDDIR/client/.libs/libspecnfs.so"):/lib/x86_64-linux-gnu/libm.so.6" \
	env LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 "$SPECNFS" run --mount "$MOUNT" -- sh -c \
		'echo $LD_PRELOAD'

finish
