#!/usr/bin/env bash
# Reading directories through the shim: opendir/fdopendir/readdir (stubs
# show as what they are), rewinddir, scandir/scandirat, glob (absolute,
# relative from a cwd on NFS, GLOB_MARK, GLOB_ONLYDIR, GLOB_BRACE), nftw and
# ftw (FTW_PHYS, FTW_DEPTH, FTW_CHDIR, FTW_MOUNT, FTW_ACTIONRETVAL, cycles),
# glibc's fts, python3's listdir/scandir/glob/walk, ls and find. Each is
# compared with the same program on a local tree; no output may name the
# mirror. nftw and fts print inode numbers: they are compared with the
# export directory itself, whose inode numbers are the server's fileids.
. "$(dirname "$0")/lib.sh"
# The synchronous baseline unless test_shim_policies asks otherwise (the
# default policy speculates).
export SPECNFS_POLICY=${SPECNFS_POLICY:-off}
require_cmd python3
testbed_start tb
# The test programs (tests/integration/{lsdir,scan,globt,walk,ftst}.c), each
# also as NAME64, built with the LFS names (readdir64, glob64, nftw64, ...).
P=$BUILDDIR/tests/integration
require_built "$SHIM" "$SPECNFSD" "$P"/{lsdir,scan,globt,walk,ftst}{,64}

CACHE=$T_TMP/cache
SHIM_ENV=$(shim_env "" "$tb_NFS_URL3")
nfs() { env $SHIM_ENV "$@"; }

# --- the tree: on the server, and a local copy ---------------------------------
E=$tb_EXPORT_DIR
mkdir -p "$E/src/a/deep/deeper" "$E/src/b" "$E/src/empty" "$E/src/with space" "$E/big" "$E/loop/d/e"
echo hi >"$E/src/a/x.c"
echo hello >"$E/src/a/y.h"
echo z >"$E/src/b/z.c"
echo zz >"$E/src/b/w.c"
head -c 5000 /dev/urandom >"$E/src/top.bin"
echo d >"$E/src/a/deep/d.c"
echo dd >"$E/src/a/deep/deeper/dd.c"
echo h >"$E/src/.hidden"
echo s >"$E/src/with space/s p.c"
chmod 755 "$E/src/b/z.c"
ln -s a "$E/src/linka"
ln -s a/x.c "$E/src/linkx"
ln -s nowhere "$E/src/dangling"
ln -s /etc/hostname "$E/src/abslink"
mkfifo "$E/src/fifo"
for i in $(seq 1 300); do echo "$i" >"$E/big/file$i"; done
ln -s .. "$E/loop/d/e/up" # a cycle for walks that follow links
echo l >"$E/loop/d/e/leaf"
L=$T_TMP/local
mkdir -p "$L"
cp -a "$E/src" "$E/big" "$E/loop" "$L/"

# --- comparing -------------------------------------------------------------------
# same_cmd DESC LOCAL_ROOT SORT CMD...: CMD with {} replaced by LOCAL_ROOT,
# locally, and by /nfs under the shim; outputs (sorted if SORT=sort) must
# match once LOCAL_ROOT reads /nfs, and the shim's must not name the cache.
# same_sh (lib.sh) does the same for a shell command run in a subdirectory.
same_cmd() {
	local what=$1 root=$2 sort=$3 a
	shift 3
	local lcmd=() ncmd=()
	for a in "$@"; do
		lcmd+=("${a//\{\}/$root}")
		ncmd+=("${a//\{\}//nfs}")
	done
	"${lcmd[@]}" 2>&1 | sed "s|$root|/nfs|g" >"$T_TMP/out.local"
	nfs "${ncmd[@]}" >"$T_TMP/out.nfs" 2>&1
	cp "$T_TMP/out.nfs" "$T_TMP/last.nfs"
	same "$what" "$T_TMP/out.local" "$T_TMP/out.nfs" "$sort" "$CACHE"
}

# --- opendir, fdopendir, readdir, rewinddir --------------------------------------
same_cmd "opendir/readdir: names and d_type (stubs are files, fifos, links)" "$L" sort "$P/lsdir" \
	"{}/src"
grep -q '^top.bin reg$' "$T_TMP/last.nfs" && grep -q '^fifo fifo$' "$T_TMP/last.nfs" &&
	grep -q '^linka lnk$' "$T_TMP/last.nfs"
check "... top.bin is DT_REG, fifo DT_FIFO, linka DT_LNK before any fetch" test $? -eq 0
same_cmd "fdopendir on an NFS directory fd" "$L" sort "$P/lsdir" -f "{}/src/a"
same_cmd "readdir of the mount root" "$L" sort sh -c "$P/lsdir {} | grep -v '^\.\.\? '"
same_cmd "readdir of an empty directory" "$L" sort "$P/lsdir" "{}/src/empty"
same_cmd "readdir of 300 names" "$L" sort "$P/lsdir" "{}/big"
nfs cat /nfs/src/top.bin /nfs/src/a/x.c >/dev/null
nfs readlink /nfs/src/linkx /nfs/src/abslink >/dev/null
same_cmd "readdir after fetching files and links" "$L" sort "$P/lsdir" "{}/src"
same_cmd "opendir of a missing directory: ENOENT" "$L" none "$P/lsdir" "{}/src/nope"
same_cmd "opendir of a file: ENOTDIR" "$L" none "$P/lsdir" "{}/src/top.bin"
same_cmd "opendir through a symlink to a directory" "$L" sort "$P/lsdir" "{}/src/linka"

# --- scandir ----------------------------------------------------------------------
same_cmd "scandir with a filter and alphasort" "$L" none "$P/scan" "{}/src"
same_cmd "scandirat" "$L" none "$P/scan" "{}/src/a" at
same_cmd "scandir of 300 names" "$L" none "$P/scan" "{}/big"
same_cmd "scandir of a missing directory" "$L" none "$P/scan" "{}/nope"
same_sh "scandir of a relative path from a cwd on NFS" "$L" src "$P/scan a" none "$CACHE"

# --- glob ---------------------------------------------------------------------------
same_cmd "glob */*.c, [ab]*, */*/*, */*/*/*" "$L" none "$P/globt" "{}/src/*/*.c" "{}/src/[ab]*" \
	"{}/src/*/*/*" "{}/src/*/*/*/*"
same_cmd "glob GLOB_MARK" "$L" none "$P/globt" -m "{}/src/*"
same_cmd "glob GLOB_ONLYDIR" "$L" none "$P/globt" -o "{}/src/*"
same_cmd "glob GLOB_ONLYDIR|GLOB_MARK" "$L" none "$P/globt" -o -m "{}/src/*" "{}/src/*/*"
same_cmd "glob GLOB_BRACE" "$L" none "$P/globt" -b "{}/src/{a,b,with space}/*.?"
same_cmd "glob without wildcards, dangling link, missing name" "$L" none "$P/globt" -m \
	"{}/src/linka" "{}/src/dangling" "{}/src/nope" "{}/src/with space"
same_cmd "glob GLOB_NOCHECK, dot names" "$L" none "$P/globt" -n "{}/src/*/nope*" "{}/src/.*"
same_cmd "glob through a symlinked directory" "$L" none "$P/globt" "{}/src/linka/*" "{}/src/l*/*.h"
same_sh "glob relative patterns from a cwd on NFS" "$L" src \
	"$P/globt '*/*.c' '[ab]*' '*' '../src/a/*' && $P/globt -m -o '*'" none "$CACHE"

# A wildcard above the mount point: with the prefix at $T_TMP/mp/nfs (an
# empty local directory there), "$T_TMP/m?/n*/src/*.c" reaches NFS names.
mkdir -p "$T_TMP/mp/nfs" "$T_TMP/mp/other"
MP_ENV=$(client_env mp "LD_PRELOAD=$SHIM" "SPECNFS_MOUNTS=$T_TMP/mp/nfs=$tb_NFS_URL3")
env $MP_ENV "$P/globt" "$T_TMP/m?/n*/src/*/*.c" "$T_TMP/mp/*" >"$T_TMP/mp.out" 2>&1
printf '%s\n' "$T_TMP/m?/n*/src/*/*.c: 0" "$T_TMP/mp/*: 0" "$T_TMP/mp/nfs/src/a/x.c" \
	"$T_TMP/mp/nfs/src/b/w.c" "$T_TMP/mp/nfs/src/b/z.c" "$T_TMP/mp/nfs/src/linka/x.c" \
	"$T_TMP/mp/nfs/src/with space/s p.c" "$T_TMP/mp/nfs" "$T_TMP/mp/other" >"$T_TMP/mp.want"
same "glob with a wildcard above the mount point" "$T_TMP/mp.want" "$T_TMP/mp.out"

# --- nftw, ftw ----------------------------------------------------------------------
for flags in "-p" "" "-d" "-p -d" "-a" "-p -a -d" "-c" "-p -c -d" "-m -p"; do
	same_cmd "nftw $flags: paths, typeflags, levels, bases, sizes, inodes" "$E" sort \
		"$P/walk" $flags "{}/src"
done
same_cmd "ftw" "$E" sort "$P/walk" -f "{}/src"
same_cmd "nftw of a symlink cycle (FTW_PHYS)" "$E" sort "$P/walk" -p "{}/loop"
same_cmd "nftw of a symlink cycle (following links)" "$E" sort "$P/walk" "{}/loop"
same_cmd "nftw of a file" "$E" none "$P/walk" "{}/src/top.bin"
same_cmd "nftw of a missing path" "$E" none "$P/walk" "{}/nope"
same_cmd "nftw of a dangling symlink" "$E" none "$P/walk" "{}/src/dangling"
same_cmd "nftw of a path with a trailing slash" "$E" sort "$P/walk" -p "{}/src/a/"
same_sh "nftw of a relative path from a cwd on NFS (FTW_CHDIR)" "$E" src "$P/walk -c -p a" sort \
	"$CACHE"

# Visiting order: a directory before its entries, or after them with FTW_DEPTH.
order_ok() { # order_ok PRE|POST FILE
	python3 - "$@" <<'EOF'
import sys, os
mode, path = sys.argv[1], sys.argv[2]
seen = set()
for line in open(path):
    if line.startswith("rc="):
        continue
    p = line.split(" flag=")[0]
    parent = os.path.dirname(p)
    if mode == "PRE" and seen and parent not in seen:
        sys.exit("%s before its directory" % p)
    if mode == "POST" and parent in seen:
        sys.exit("%s after its directory" % p)
    seen.add(p)
EOF
}
nfs "$P/walk" -p /nfs/src >"$T_TMP/pre.out"
check "nftw visits a directory before its entries" order_ok PRE "$T_TMP/pre.out"
nfs "$P/walk" -p -d /nfs/src >"$T_TMP/post.out"
check "nftw FTW_DEPTH visits a directory after its entries" order_ok POST "$T_TMP/post.out"

# --- fts -------------------------------------------------------------------------------
for flags in "-N" "-N -s" "-N -s -L" "-N -s -n" "-N -s -x" "-N -s -c" "-N -s -L -c"; do
	same_cmd "fts $flags" "$E" none "$P/ftst" $flags "{}/src"
done
same_cmd "fts without FTS_NOCHDIR (fts_accpath aside)" "$E" sort \
	sh -c "$P/ftst {}/src | sed 's/ acc=.* name=/ name=/'"
same_cmd "fts of several roots, one missing" "$E" none "$P/ftst" -N -s "{}/src/b" "{}/nope" \
	"{}/src/a/x.c"
same_cmd "fts of a symlink cycle (FTS_LOGICAL)" "$E" none "$P/ftst" -N -s -L "{}/loop"

# --- python3, ls, find ---------------------------------------------------------------
PY='
import glob, os, sys
r = sys.argv[1]
print(sorted(os.listdir(r + "/src")))
print(sorted((e.name, e.is_file(), e.is_dir(), e.is_symlink()) for e in os.scandir(r + "/src")
             if e.name != "abslink"))
print(sorted(glob.glob(r + "/src/*/*.c")), sorted(glob.glob(r + "/src/**", recursive=True)))
for d, ds, fs in os.walk(r + "/src"):
    print(d, sorted(ds), sorted(fs))
'
same_cmd "python3 os.listdir, os.scandir, glob.glob, os.walk" "$L" sort python3 -c "$PY" "{}"
# An absolute link target is a path in the client's namespace: nftw, fts and
# glob resolve it here; stat() (shim/stat.c) must agree.
same_cmd "stat() through an absolute symlink that leaves NFS" "$L" none \
	python3 -c 'import os, sys; print(os.path.isfile(sys.argv[1]))' "{}/src/abslink"
same_cmd "ls" "$L" none ls "{}/src" "{}/src/a"
same_cmd "ls -a" "$L" none ls -a "{}/src/a"
same_cmd "ls -R -p" "$L" none ls -R -p "{}/src"
same_cmd "ls -l" "$L" none ls -l --time-style=+%s "{}/src/a" "{}/src/b"
same_cmd "find -printf (gnulib fts: openat, fdopendir, readdir)" "$E" sort \
	find "{}/src" -printf '%p %y %s %i\n'

# --- the _FILE_OFFSET_BITS=64 names ---------------------------------------------------
same_cmd "readdir64" "$L" sort "$P/lsdir64" "{}/src"
same_cmd "scandir64, scandirat64" "$L" none sh -c "$P/scan64 {}/src && $P/scan64 {}/src/a at"
same_cmd "glob64" "$L" none "$P/globt64" -m "{}/src/*" "{}/src/*/*.c"
same_cmd "nftw64" "$E" sort "$P/walk64" "{}/src"
same_cmd "ftw64" "$E" sort "$P/walk64" -f "{}/src"
same_cmd "fts64_*" "$E" none "$P/ftst64" -N -s -c "{}/src"

# --- the listing follows the server ----------------------------------------------------
echo new >"$E/src/new.txt"
rm "$E/src/b/w.c"
nfs "$P/scan" /nfs/src >"$T_TMP/after.out"
check "a name created on the server shows in the next listing" grep -q '^new.txt ' \
	"$T_TMP/after.out"
nfs "$P/scan" /nfs/src/b >"$T_TMP/after.out"
check "a name removed on the server is gone from the next listing" bash -c \
	"! grep -q '^w.c ' '$T_TMP/after.out'"

finish
