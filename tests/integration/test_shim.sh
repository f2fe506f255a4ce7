#!/usr/bin/env bash
# The shim with real programs against a real NFS server: coreutils, tar,
# sh, python3, make + gcc, each compared with the same commands on a local
# copy of the tree; and an strace audit that no path syscall on the prefix
# escaped the shim.
. "$(dirname "$0")/lib.sh"
# The synchronous baseline unless test_shim_policies asks otherwise (the
# default policy speculates).
export SPECNFS_POLICY=${SPECNFS_POLICY:-off}
require_cmd gcc make python3 tar strace sha256sum
testbed_start tb
require_built "$SHIM" "$SPECNFSD"
A=$(shim_env a "$tb_NFS_URL3")
B=$(shim_env b "$tb_NFS_URL3")
nfs() { env $A "$@"; }       # client A
nfs_b() { env $B "$@"; }     # a second client

# --- a 1,000-file tree, on the server and locally ------------------------------
L=$T_TMP/local
mkdir -p "$L/t"
for d in $(seq 1 10); do
	mkdir -p "$L/t/d$d/sub"
	for f in $(seq 1 99); do
		head -c $(((d * 131 + f * 17) % 5000)) /dev/urandom >"$L/t/d$d/f$f.txt"
	done
	echo "nested $d" >"$L/t/d$d/sub/n.txt"
done
ln -s d1/f1.txt "$L/t/link"
touch -d '2020-01-01 00:00' "$L/t/ref"
touch -d '2019-01-01 00:00' "$L"/t/d1/*.txt
cp -a "$L/t" "$tb_EXPORT_DIR/t"
check "the tree has 1000 files" test "$(find "$L/t" -type f -name 'f*.txt' | wc -l)" -eq 990

# --- coreutils ---------------------------------------------------------------------
same_sh "ls -lR" "$L" t 'ls -lR --time-style=+%s .'
same_sh "find -type f -newer" "$L" t 'find . -type f -newer ref | sort'
same_sh "stat" "$L" t 'stat -c "%n %s %a %F %Y %h %U" link d2/f5.txt d3 d4/sub/n.txt'
same_sh "du -s (apparent sizes)" "$L" t 'du -s --apparent-size --block-size=1 . d1 d2/sub'
same_sh "sha256sum of every file" "$L" t 'find . -type f | sort | xargs sha256sum'
same_sh "tar cf of the tree" "$L" t \
	'tar cf - --sort=name --mtime=@0 --owner=0 --group=0 . | sha256sum'

nfs tar cf "$T_TMP/from-nfs.tar" -C /nfs t
(cd "$T_TMP" && mkdir -p untar && tar xf from-nfs.tar -C untar)
check "tar of /nfs extracts locally identical" diff -r --no-dereference "$L/t" "$T_TMP/untar/t"
nfs sh -c "mkdir /nfs/x && tar xf '$T_TMP/from-nfs.tar' -C /nfs/x"
check "tar xf onto /nfs: identical on the server" diff -r --no-dereference "$L/t" \
	"$tb_EXPORT_DIR/x/t"

nfs cp -a "$L/t" /nfs/cpin
check "cp -a into /nfs: identical on the server" diff -r --no-dereference "$L/t" \
	"$tb_EXPORT_DIR/cpin"
# (Symlinks' own times are left out: NFS-Ganesha's VFS backend accepts a
# SETATTR of a symlink's times but does not apply it.)
check "cp -a into /nfs keeps modes and times" \
	test "$(cd "$L/t" && find . ! -type l -printf '%p %m %T@\n' | sort | md5sum)" = \
	"$(cd "$tb_EXPORT_DIR/cpin" && find . ! -type l -printf '%p %m %T@\n' | sort | md5sum)"
nfs cp -a /nfs/t "$T_TMP/cpout"
check "cp -a out of /nfs: identical" diff -r --no-dereference "$L/t" "$T_TMP/cpout"

# Changes made through the shim, compared with the same changes locally.
ops='mv d1 moved && rm -r d2 && ln -s moved/f3.txt l2 && chmod -R go-w d3'
ops+=' && touch -d "2021-05-05 05:05" d4/f1.txt && mkdir -p new/deep && echo hi > new/deep/hi.txt'
(cd "$L/t" && sh -c "$ops")
nfs sh -c "cd /nfs/t && $ops"
check "mv, rm -r, ln -s, chmod -R, touch, mkdir -p, redirection: server = local" \
	diff -r --no-dereference "$L/t" "$tb_EXPORT_DIR/t"
# Times of what the two runs created at different moments cannot match:
# compare modes, link targets, and the times the ops set or kept.
modes_times() { # modes_times DIR
	(cd "$1" && find . -printf '%p %m %l\n' | sort
		find moved d4 -type f -printf '%p %T@\n' | sort)
}
check "... modes and times too" test "$(modes_times "$L/t")" = "$(modes_times "$tb_EXPORT_DIR/t")"

# --- shell and python ---------------------------------------------------------------
script='cd d3 && for f in f1*.txt; do wc -c < "$f"; done > ../counts.txt; cd .. && '
script+='cat d*/sub/n.txt | sort -r | uniq -c > u.txt; ls */sub | wc -l; '
script+='cat counts.txt u.txt | md5sum'
same_sh "sh: cd, globbing, redirections, pipes" "$L" t "$script"
check "... the files it wrote are on the server" cmp -s "$L/t/u.txt" "$tb_EXPORT_DIR/t/u.txt"
bscript='shopt -s globstar nullglob; n=0; for f in **/*.txt; do n=$((n+1)); done; '
bscript+='echo "$n files"; cd moved/.. && pwd -P | sed "s|.*/||"; '
bscript+='while read -r l; do echo "[$l]"; done < d3/sub/n.txt; '
bscript+='{ echo a; echo b; } 2>&1 | tee tee.out | wc -l; echo *.out'
same_sh "bash: globstar, cd, pwd -P, read loops, tee" "$L" t "bash -c '$bscript'"

# configure's config.log: the shell holds it open (`exec 5>>`), every
# child inherits fd 5, writes or not, and exits (each reports its close);
# the shell goes on writing through fd 5 and tests the file's size.
cscript='exec 5>>cfg.log; for i in 1 2 3; do echo "shell $i" >&5; '
cscript+='sh -c "echo child $i >&5"; sh -c true; wc -c < cfg.log; '
cscript+='test -s cfg.log && echo nonempty; done; echo end >&5; stat -c %s cfg.log'
saved() { # closes the daemon answered with nothing new to write back
	env -u LD_PRELOAD $A "$SPECNFS" status |
		sed -n 's/.*(\([0-9]*\) closes had nothing new to write back).*/\1/p'
}
saved0=$(saved)
same_sh "sh: a file open in the shell (exec 5>>) written by it and its children" "$L" t \
	"$cscript"
check "... the server holds all of it" cmp -s "$L/t/cfg.log" "$tb_EXPORT_DIR/t/cfg.log"
# `sh -c true` closed fd 5 having written nothing: synchronously, the
# store before it had ended, so there was nothing to send (under the
# speculating policies the store before it may still be held).
if [ "$SPECNFS_POLICY" = off ]; then
	check "... the children that wrote nothing stored nothing ($saved0 -> $(saved) closes)" \
		test "$(saved)" -ge $((saved0 + 3))
fi
# fsync of a file written on NFS returns once the server has it (the
# program reads the server's export directly, before its close).
fs='import os, sys
f = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(f, b"synced")
os.fsync(f)
print(open(sys.argv[2]).read())
os.close(f)'
check "fsync puts the data on the server before it returns" \
	test "$(nfs python3 -c "$fs" /nfs/t/fs.txt "$tb_EXPORT_DIR/t/fs.txt" 2>&1)" = synced
# Writes through a shared mapping show no IN_MODIFY: after an fsync
# (stored, nothing new since), the mapping writes again and the close
# must still store (the file is open read-write, not write-only).
mm='import mmap, os, sys
f = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(f, 8)
m = mmap.mmap(f, 8)
m[0:8] = b"aaaaaaaa"
os.fsync(f)
m[0:8] = b"bbbbbbbb"
m.close()
os.close(f)'
nfs python3 -c "$mm" /nfs/t/mm.bin
check "a file written through a shared mapping reaches the server ($(cat "$tb_EXPORT_DIR/t/mm.bin"))" \
	test "$(cat "$tb_EXPORT_DIR/t/mm.bin")" = bbbbbbbb

# A file another client removes behind our cache, then written anew here
# through a shell's fd: the data goes to the server's new file (not to the
# removed one's handle, which the server may still accept writes for).
nfs sh -c 'echo old > /nfs/t/gone.txt'
rm -f "$tb_EXPORT_DIR/t/gone.txt"
nfs sh -c 'cd /nfs/t && exec 5>gone.txt; echo new >&5'
check "a file removed behind the cache and written again reaches the server \
($(cat "$tb_EXPORT_DIR/t/gone.txt" 2>&1))" test "$(cat "$tb_EXPORT_DIR/t/gone.txt" 2>&1)" = new

# A writer killed by a signal reports no close. Once nothing is left
# running, the daemon must see that nobody writes the file any more: its
# content reaches the server, and a later change by another client is seen
# (a count stuck at one writer kept it dirty for good, answered from the
# mirror).
kw='import os, signal
f = os.open("/nfs/t/killed.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(f, b"mine\n")
os.kill(os.getpid(), signal.SIGKILL)'
nfs python3 -c "$kw"
for _ in $(seq 50); do
	[ "$(cat "$tb_EXPORT_DIR/t/killed.txt" 2>/dev/null)" = mine ] && break
	sleep 0.2
done
check "a killed writer's data reaches the server" test "$(cat "$tb_EXPORT_DIR/t/killed.txt")" = mine
sleep 2.5 # no client connected: the daemon's once-a-second look
echo "theirs, longer" >"$tb_EXPORT_DIR/t/killed.txt"
touch -d '2001-01-01' "$tb_EXPORT_DIR/t/killed.txt"
check "after a killed writer, another client's change is seen \
($(nfs cat /nfs/t/killed.txt 2>&1))" test "$(nfs cat /nfs/t/killed.txt 2>&1)" = "theirs, longer"

# The shim keeps its connection to the daemon at fd 400 and above. A
# program that dup2s its own files onto those numbers, then reads NFS,
# gets its files (the shim sees its socket gone and connects anew, never
# closing the program's file) and its NFS data.
cat >"$T_TMP/fds.py" <<'EOF'
import os, sys
os.stat("/nfs/t/d3")  # the shim's connection is open now
for n in range(400, 405):
    f = os.open("%s/fd%d.txt" % (sys.argv[1], n), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(f, n)
    os.close(f)
print(len(open("/nfs/t/d3/sub/n.txt").read().splitlines()))
for n in range(400, 405):
    os.write(n, b"mine\n")
print(len(os.listdir("/nfs/t/d3")))
EOF
nfs python3 "$T_TMP/fds.py" "$T_TMP" >"$T_TMP/fd.out" 2>&1
check "a program that takes the shim's fd numbers reads NFS on ($(tr '\n' ' ' <"$T_TMP/fd.out"))" \
	test "$(cat "$T_TMP/fd.out")" = "$(wc -l <"$L/t/d3/sub/n.txt"; ls "$L/t/d3" | wc -l)"
check "... and its files hold only its own data" \
	bash -c 'for n in 400 401 402 403 404; do [ "$(cat "$1/fd$n.txt")" = mine ] || exit 1; done' \
	_ "$T_TMP"

mkdir -p "$tb_EXPORT_DIR/py/mypkg"
cat >"$tb_EXPORT_DIR/py/mypkg/__init__.py" <<'EOF'
from .mod import write
EOF
cat >"$tb_EXPORT_DIR/py/mypkg/mod.py" <<'EOF'
import json, os
def write(path):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(path, "w") as f:
        json.dump({"here": here, "files": sorted(os.listdir(here))}, f)
EOF
(cd /tmp && nfs env -u PYTHONDONTWRITEBYTECODE PYTHONPATH=/nfs/py python3 -c \
	'import mypkg; mypkg.write("/nfs/py/out.json")')
check "python3 imports a package on NFS and writes a file there" \
	grep -q '"here": "/nfs/py/mypkg"' "$tb_EXPORT_DIR/py/out.json"
check "... and caches its bytecode there" test -d "$tb_EXPORT_DIR/py/mypkg/__pycache__"

# --- make + gcc ------------------------------------------------------------------
gen_project() { # gen_project DIR: 24 sources, 30 headers in 3 -I directories
	local dir=$1 i h
	mkdir -p "$dir/src" "$dir/inc1" "$dir/inc2" "$dir/inc3"
	for h in $(seq 1 30); do
		echo "#define H$h $h" >"$dir/inc$(((h % 3) + 1))/h$h.h"
	done
	for i in $(seq 1 24); do
		{
			for h in $(((i % 30) + 1)) $((((i * 7) % 30) + 1)) \
				$((((i * 11) % 30) + 1)); do
				echo "#include \"h$h.h\""
			done
			echo "#include <stdio.h>"
			echo "int f$i(void) { return H$(((i % 30) + 1)) + $i; }"
		} >"$dir/src/f$i.c"
	done
	{
		echo "#include <stdio.h>"
		for i in $(seq 1 24); do echo "int f$i(void);"; done
		echo "int main(void) { int s = 0;"
		for i in $(seq 1 24); do echo "s += f$i();"; done
		echo 'printf("sum %d\n", s); return 0; }'
	} >"$dir/src/main.c"
	cat >"$dir/Makefile" <<'EOF'
SRCS := $(sort $(wildcard src/*.c))
OBJS := $(SRCS:src/%.c=obj/%.o)
CFLAGS := -O2 -Iinc1 -Iinc2 -Iinc3 -MMD -MP
prog: $(OBJS)
	gcc -o $@ $(OBJS)
obj/%.o: src/%.c | obj
	gcc $(CFLAGS) -c $< -o $@
obj:
	mkdir -p obj
-include $(OBJS:.o=.d)
EOF
}
gen_project "$T_TMP/proj"
cp -a "$T_TMP/proj" "$tb_EXPORT_DIR/proj"
(cd "$T_TMP/proj" && make -s >/dev/null 2>&1)
nfs make -C /nfs/proj >"$T_TMP/make1.out" 2>&1
rc=$?
check "make + gcc build a 25-file project with 3 -I directories on NFS (exit $rc)" test "$rc" -eq 0
check "the binary is byte-identical to a local build" cmp "$T_TMP/proj/prog" \
	"$tb_EXPORT_DIR/proj/prog"
check "and it runs from NFS" test "$(nfs sh -c /nfs/proj/prog 2>&1)" = "$("$T_TMP/proj/prog")"
nfs make -C /nfs/proj >"$T_TMP/make2.out" 2>&1
check "make a second time does nothing" bash -c '! grep -q "gcc" "$1"' _ "$T_TMP/make2.out"
# h17.h is included by exactly these sources:
expect=$(grep -l '"h17.h"' "$T_TMP"/proj/src/*.c | xargs -n1 basename | sed 's/\.c$//' | sort | tr \
	'\n' ' ')
sleep 1.1 # a new mtime second
nfs_b touch /nfs/proj/inc$(((17 % 3) + 1))/h17.h
nfs make -C /nfs/proj >"$T_TMP/make3.out" 2>&1
got=$(sed -n 's/.* -c src\/\([a-z0-9]*\)\.c .*/\1/p' "$T_TMP/make3.out" | sort | tr '\n' ' ')
check "after a second client touches h17.h, make rebuilds exactly [$expect] (got [$got])" \
	test "$got" = "$expect"

# --- audit: no path syscall on the prefix escaped the shim ---------------------------
audit() { # audit DESCRIPTION COMMAND...: strace -f, no syscall names /nfs
	local what=$1
	shift
	nfs strace -f -qq -e trace=%file,%process -o "$T_TMP/strace.out" "$@" >/dev/null 2>&1
	# argv and envp arrays ([...]) are data, not paths: drop them first.
	if sed 's/\[[^]]*\]//g' "$T_TMP/strace.out" | grep -E '"/nfs(/|")' >"$T_TMP/escaped"; then
		not_ok "audit: $what: $(wc -l <"$T_TMP/escaped") syscall(s) named /nfs"
		head -n 5 "$T_TMP/escaped"
	else
		ok "audit: $what: $(grep -c . "$T_TMP/strace.out") path/process syscalls," \
			"none named /nfs"
	fi
}
audit "ls -lR, find, stat, sha256sum" sh -c 'ls -lR /nfs/t; find /nfs/t -newer /nfs/t/ref
	stat /nfs/t/link; find /nfs/t -type f | xargs sha256sum'
audit "tar, cp -a, python3" sh -c "tar cf /dev/null -C /nfs t; cp -a /nfs/t/d3 /nfs/t/d3copy
	cd /tmp; PYTHONPATH=/nfs/py python3 -c 'import mypkg'"
nfs_b touch /nfs/proj/inc1/h3.h
audit "make + gcc" make -C /nfs/proj

finish
