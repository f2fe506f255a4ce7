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
# The synchronous baseline unless test_shim_cto/test_shim_full ask otherwise
# (the default policy speculates).
export SPECNFS_POLICY=${SPECNFS_POLICY:-off}
require_cmd gcc python3
testbed_start tb
SHIM=$BUILDDIR/client/.libs/libspecnfs.so
SPECNFSD=$BUILDDIR/client/specnfsd
SPECNFS=$BUILDDIR/client/specnfs
[ -f "$SHIM" ] && [ -x "$SPECNFSD" ] || { not_ok "libspecnfs.so and specnfsd are built"; finish; }

CACHE=$T_TMP/cache
SHIM_ENV="LD_PRELOAD=$SHIM SPECNFS_MOUNTS=/nfs=$tb_NFS_URL3 SPECNFS_CACHE=$CACHE"
SHIM_ENV="$SHIM_ENV SPECNFS_RUNTIME_DIR=$T_TMP/run SPECNFS_DAEMON=$SPECNFSD SPECNFS_CONFIG=/nonexistent"
nfs() { env $SHIM_ENV "$@"; }
on_exit "env $SHIM_ENV '$SPECNFS' --no-start stop"

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

# --- the test programs ---------------------------------------------------------
P=$T_TMP/prog
mkdir -p "$P"
cat >"$P/lsdir.c" <<'EOF'
/* lsdir [-f] DIR: names and d_type (opendir, or -f: open + fdopendir), then
 * the count after rewinddir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
static const char *tn(unsigned char t)
{
	switch (t) {
	case DT_REG: return "reg";
	case DT_DIR: return "dir";
	case DT_LNK: return "lnk";
	case DT_FIFO: return "fifo";
	case DT_CHR: return "chr";
	case DT_BLK: return "blk";
	case DT_SOCK: return "sock";
	default: return "unknown";
	}
}
int main(int argc, char **argv)
{
	int fdmode = argc > 2 && strcmp(argv[1], "-f") == 0, n = 0;
	const char *dir = argv[fdmode ? 2 : 1];
	struct dirent *e;
	DIR *d;

	if (fdmode) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY);
		d = fd < 0 ? NULL : fdopendir(fd);
	} else {
		d = opendir(dir);
	}
	if (d == NULL) {
		printf("opendir: %s\n", strerror(errno));
		return 1;
	}
	errno = 0;
	while ((e = readdir(d)) != NULL)
		printf("%s %s\n", e->d_name, tn(e->d_type));
	if (errno != 0)
		printf("readdir: %s\n", strerror(errno));
	rewinddir(d);
	while (readdir(d) != NULL)
		n++;
	printf("after rewinddir: %d\n", n);
	return closedir(d) != 0;
}
EOF
cat >"$P/scan.c" <<'EOF'
/* scan DIR [at]: scandir (or scandirat) without dot names, alphasort */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int nodot(const struct dirent *e) { return e->d_name[0] != '.'; }
int main(int argc, char **argv)
{
	struct dirent **l;
	int n, i;

	n = argc > 2 ? scandirat(AT_FDCWD, argv[1], &l, nodot, alphasort)
		     : scandir(argv[1], &l, nodot, alphasort);
	if (n < 0) {
		printf("scandir: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		printf("%s %d\n", l[i]->d_name, l[i]->d_type);
		free(l[i]);
	}
	free(l);
	return 0;
}
EOF
cat >"$P/globt.c" <<'EOF'
/* globt [-m] [-o] [-b] [-n] PATTERN...: glob with GLOB_MARK, GLOB_ONLYDIR,
 * GLOB_BRACE, GLOB_NOCHECK; later patterns with GLOB_APPEND. */
#define _GNU_SOURCE
#include <glob.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	int flags = 0, i, first = 1;
	glob_t g;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-m")) { flags |= GLOB_MARK; continue; }
		if (!strcmp(argv[i], "-o")) { flags |= GLOB_ONLYDIR; continue; }
		if (!strcmp(argv[i], "-b")) { flags |= GLOB_BRACE; continue; }
		if (!strcmp(argv[i], "-n")) { flags |= GLOB_NOCHECK; continue; }
		printf("%s: %d\n", argv[i], glob(argv[i], flags | (first ? 0 : GLOB_APPEND), NULL, &g));
		first = 0;
	}
	if (!first) {
		for (k = 0; k < g.gl_pathc; k++)
			printf("%s\n", g.gl_pathv[k]);
		globfree(&g);
	}
	return 0;
}
EOF
cat >"$P/walk.c" <<'EOF'
/* walk [-p] [-d] [-c] [-m] [-a] [-f] DIR: nftw with FTW_PHYS, FTW_DEPTH,
 * FTW_CHDIR (prints the cwd), FTW_MOUNT, FTW_ACTIONRETVAL (skips the
 * subtree of "b" and the siblings after "y.h"), or -f: ftw. */
#define _GNU_SOURCE
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static int chdirmode, retmode;
static int fn(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	char cwd[PATH_MAX] = "";
	int nost = flag == FTW_NS;

	if (chdirmode && getcwd(cwd, sizeof(cwd)) == NULL)
		strcpy(cwd, "?");
	printf("%s flag=%d level=%d base=%s mode=%o size=%lld ino=%llu%s%s\n", p, flag, f->level,
	       p + f->base, nost ? 0 : (unsigned)st->st_mode, nost ? 0LL : (long long)st->st_size,
	       nost ? 0ULL : (unsigned long long)st->st_ino, chdirmode ? " cwd=" : "", cwd);
	if (retmode && !strcmp(p + f->base, "b"))
		return FTW_SKIP_SUBTREE;
	if (retmode && !strcmp(p + f->base, "y.h"))
		return FTW_SKIP_SIBLINGS;
	return 0;
}
static int ffn(const char *p, const struct stat *st, int flag)
{
	printf("%s flag=%d size=%lld\n", p, flag, flag == FTW_NS ? 0LL : (long long)st->st_size);
	return 0;
}
int main(int argc, char **argv)
{
	int flags = 0, i, useftw = 0, rc;

	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "-p")) flags |= FTW_PHYS;
		if (!strcmp(argv[i], "-d")) flags |= FTW_DEPTH;
		if (!strcmp(argv[i], "-c")) { flags |= FTW_CHDIR; chdirmode = 1; }
		if (!strcmp(argv[i], "-m")) flags |= FTW_MOUNT;
		if (!strcmp(argv[i], "-a")) { flags |= FTW_ACTIONRETVAL; retmode = 1; }
		if (!strcmp(argv[i], "-f")) useftw = 1;
	}
	rc = useftw ? ftw(argv[argc - 1], ffn, 4) : nftw(argv[argc - 1], fn, 1, flags);
	printf("rc=%d\n", rc);
	return 0;
}
EOF
cat >"$P/ftst.c" <<'EOF'
/* ftst [-L] [-n] [-s] [-x] [-c] [-N] PATH...: glibc's fts with FTS_LOGICAL,
 * FTS_NOSTAT, a sort by name, FTS_SKIP of "b", fts_children, FTS_NOCHDIR. */
#include <sys/stat.h>
#include <errno.h>
#include <fts.h>
#include <stdio.h>
#include <string.h>
static int cmp(const FTSENT **a, const FTSENT **b) { return strcmp((*a)->fts_name, (*b)->fts_name); }
int main(int argc, char **argv)
{
	int opts = FTS_PHYSICAL, i, sorted = 0, skip = 0, kids = 0;
	FTSENT *e, *c;
	FTS *f;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-L")) opts = (opts & ~FTS_PHYSICAL) | FTS_LOGICAL;
		if (!strcmp(argv[i], "-n")) opts |= FTS_NOSTAT;
		if (!strcmp(argv[i], "-N")) opts |= FTS_NOCHDIR;
		if (!strcmp(argv[i], "-s")) sorted = 1;
		if (!strcmp(argv[i], "-x")) skip = 1;
		if (!strcmp(argv[i], "-c")) kids = 1;
	}
	f = fts_open(argv + i, opts, sorted ? cmp : NULL);
	if (f == NULL) {
		printf("fts_open: %s\n", strerror(errno));
		return 1;
	}
	if (kids)
		for (c = fts_children(f, 0); c != NULL; c = c->fts_link)
			printf("root %s info=%d\n", c->fts_name, c->fts_info);
	while ((e = fts_read(f)) != NULL) {
		int st = e->fts_info != FTS_NS && e->fts_info != FTS_NSOK && e->fts_info != FTS_DNR &&
			 !(opts & FTS_NOSTAT);
		printf("%s acc=%s name=%s info=%d level=%d size=%lld ino=%llu\n", e->fts_path,
		       e->fts_accpath, e->fts_name, e->fts_info, e->fts_level,
		       st ? (long long)e->fts_statp->st_size : -1LL,
		       st ? (unsigned long long)e->fts_statp->st_ino : 0ULL);
		if (kids && e->fts_info == FTS_D && e->fts_level == 1)
			for (c = fts_children(f, 0); c != NULL; c = c->fts_link)
				printf("  child %s info=%d\n", c->fts_name, c->fts_info);
		if (skip && e->fts_info == FTS_D && !strcmp(e->fts_name, "b"))
			fts_set(f, e, FTS_SKIP);
	}
	printf("end errno=%d\n", errno);
	return fts_close(f) != 0;
}
EOF
for p in lsdir scan globt walk ftst; do
	gcc -O -Wall -o "$P/$p" "$P/$p.c" 2>"$T_TMP/cc.err" || { not_ok "compile $p: $(cat "$T_TMP/cc.err")"; finish; }
	# The same with the LFS names (readdir64, glob64, nftw64, fts64_*, ...).
	gcc -O -Wall -D_FILE_OFFSET_BITS=64 -o "$P/${p}64" "$P/$p.c" 2>"$T_TMP/cc.err" ||
		{ not_ok "compile ${p}64: $(cat "$T_TMP/cc.err")"; finish; }
done

# --- comparing -------------------------------------------------------------------
# same DESC LOCAL_ROOT SORT CMD...: CMD with {} replaced by LOCAL_ROOT, locally,
# and by /nfs under the shim; outputs (sorted if SORT=sort) must match once
# LOCAL_ROOT reads /nfs, and the shim's must not name the cache.
same() {
	local what=$1 root=$2 sort=$3 a
	shift 3
	local lcmd=() ncmd=()
	for a in "$@"; do
		lcmd+=("${a//\{\}/$root}")
		ncmd+=("${a//\{\}//nfs}")
	done
	"${lcmd[@]}" 2>&1 | sed "s|$root|/nfs|g" >"$T_TMP/out.local"
	nfs "${ncmd[@]}" >"$T_TMP/out.raw" 2>&1
	cp "$T_TMP/out.raw" "$T_TMP/out.nfs"
	if [ "$sort" = sort ]; then
		sort -o "$T_TMP/out.local" "$T_TMP/out.local"
		sort -o "$T_TMP/out.nfs" "$T_TMP/out.nfs"
	fi
	if grep -q "$CACHE" "$T_TMP/out.raw"; then
		not_ok "$what: the output names the mirror"
		grep "$CACHE" "$T_TMP/out.raw" | head -n 5
	elif diff -u "$T_TMP/out.local" "$T_TMP/out.nfs" >"$T_TMP/out.diff"; then
		ok "$what"
	else
		not_ok "$what"
		head -n 30 "$T_TMP/out.diff"
	fi
	cp "$T_TMP/out.raw" "$T_TMP/last.nfs"
}

# The same, from a cwd inside the tree: sh -c "cd DIR && CMD".
same_in() { # same_in DESC LOCAL_ROOT SUBDIR SORT SHELL_CMD
	local what=$1 root=$2 sub=$3 sort=$4 cmd=$5
	(cd "$root/$sub" && sh -c "$cmd") 2>&1 | sed "s|$root|/nfs|g" >"$T_TMP/out.local"
	nfs sh -c "cd '/nfs/$sub' && $cmd" >"$T_TMP/out.nfs" 2>&1
	if [ "$sort" = sort ]; then
		sort -o "$T_TMP/out.local" "$T_TMP/out.local"
		sort -o "$T_TMP/out.nfs" "$T_TMP/out.nfs"
	fi
	if grep -q "$CACHE" "$T_TMP/out.nfs"; then
		not_ok "$what: the output names the mirror"
	elif diff -u "$T_TMP/out.local" "$T_TMP/out.nfs" >"$T_TMP/out.diff"; then
		ok "$what"
	else
		not_ok "$what"
		head -n 30 "$T_TMP/out.diff"
	fi
}

# --- opendir, fdopendir, readdir, rewinddir --------------------------------------
same "opendir/readdir: names and d_type (stubs are files, fifos, links)" "$L" sort "$P/lsdir" "{}/src"
grep -q '^top.bin reg$' "$T_TMP/last.nfs" && grep -q '^fifo fifo$' "$T_TMP/last.nfs" &&
	grep -q '^linka lnk$' "$T_TMP/last.nfs"
check "... top.bin is DT_REG, fifo DT_FIFO, linka DT_LNK before any fetch" test $? -eq 0
same "fdopendir on an NFS directory fd" "$L" sort "$P/lsdir" -f "{}/src/a"
same "readdir of the mount root" "$L" sort sh -c "$P/lsdir {} | grep -v '^\.\.\? '"
same "readdir of an empty directory" "$L" sort "$P/lsdir" "{}/src/empty"
same "readdir of 300 names" "$L" sort "$P/lsdir" "{}/big"
nfs cat /nfs/src/top.bin /nfs/src/a/x.c >/dev/null
nfs readlink /nfs/src/linkx /nfs/src/abslink >/dev/null
same "readdir after fetching files and links" "$L" sort "$P/lsdir" "{}/src"
same "opendir of a missing directory: ENOENT" "$L" none "$P/lsdir" "{}/src/nope"
same "opendir of a file: ENOTDIR" "$L" none "$P/lsdir" "{}/src/top.bin"
same "opendir through a symlink to a directory" "$L" sort "$P/lsdir" "{}/src/linka"

# --- scandir ----------------------------------------------------------------------
same "scandir with a filter and alphasort" "$L" none "$P/scan" "{}/src"
same "scandirat" "$L" none "$P/scan" "{}/src/a" at
same "scandir of 300 names" "$L" none "$P/scan" "{}/big"
same "scandir of a missing directory" "$L" none "$P/scan" "{}/nope"
same_in "scandir of a relative path from a cwd on NFS" "$L" src none "$P/scan a"

# --- glob ---------------------------------------------------------------------------
same "glob */*.c, [ab]*, */*/*, */*/*/*" "$L" none "$P/globt" "{}/src/*/*.c" "{}/src/[ab]*" \
	"{}/src/*/*/*" "{}/src/*/*/*/*"
same "glob GLOB_MARK" "$L" none "$P/globt" -m "{}/src/*"
same "glob GLOB_ONLYDIR" "$L" none "$P/globt" -o "{}/src/*"
same "glob GLOB_ONLYDIR|GLOB_MARK" "$L" none "$P/globt" -o -m "{}/src/*" "{}/src/*/*"
same "glob GLOB_BRACE" "$L" none "$P/globt" -b "{}/src/{a,b,with space}/*.?"
same "glob without wildcards, dangling link, missing name" "$L" none "$P/globt" -m \
	"{}/src/linka" "{}/src/dangling" "{}/src/nope" "{}/src/with space"
same "glob GLOB_NOCHECK, dot names" "$L" none "$P/globt" -n "{}/src/*/nope*" "{}/src/.*"
same "glob through a symlinked directory" "$L" none "$P/globt" "{}/src/linka/*" "{}/src/l*/*.h"
same_in "glob relative patterns from a cwd on NFS" "$L" src none \
	"$P/globt '*/*.c' '[ab]*' '*' '../src/a/*' && $P/globt -m -o '*'"

# A wildcard above the mount point: with the prefix at $T_TMP/mp/nfs (an
# empty local directory there), "$T_TMP/m?/n*/src/*.c" reaches NFS names.
mkdir -p "$T_TMP/mp/nfs" "$T_TMP/mp/other"
MP_ENV="LD_PRELOAD=$SHIM SPECNFS_MOUNTS=$T_TMP/mp/nfs=$tb_NFS_URL3 SPECNFS_CACHE=$T_TMP/cache-mp"
MP_ENV="$MP_ENV SPECNFS_RUNTIME_DIR=$T_TMP/run-mp SPECNFS_DAEMON=$SPECNFSD SPECNFS_CONFIG=/nonexistent"
on_exit "env $MP_ENV '$SPECNFS' --no-start stop"
env $MP_ENV "$P/globt" "$T_TMP/m?/n*/src/*/*.c" "$T_TMP/mp/*" >"$T_TMP/mp.out" 2>&1
printf '%s\n' "$T_TMP/m?/n*/src/*/*.c: 0" "$T_TMP/mp/*: 0" "$T_TMP/mp/nfs/src/a/x.c" \
	"$T_TMP/mp/nfs/src/b/w.c" "$T_TMP/mp/nfs/src/b/z.c" "$T_TMP/mp/nfs/src/linka/x.c" \
	"$T_TMP/mp/nfs/src/with space/s p.c" "$T_TMP/mp/nfs" "$T_TMP/mp/other" >"$T_TMP/mp.want"
check "glob with a wildcard above the mount point" diff -u "$T_TMP/mp.want" "$T_TMP/mp.out"

# --- nftw, ftw ----------------------------------------------------------------------
for flags in "-p" "" "-d" "-p -d" "-a" "-p -a -d" "-c" "-p -c -d" "-m -p"; do
	same "nftw $flags: paths, typeflags, levels, bases, sizes, inodes" "$E" sort \
		"$P/walk" $flags "{}/src"
done
same "ftw" "$E" sort "$P/walk" -f "{}/src"
same "nftw of a symlink cycle (FTW_PHYS)" "$E" sort "$P/walk" -p "{}/loop"
same "nftw of a symlink cycle (following links)" "$E" sort "$P/walk" "{}/loop"
same "nftw of a file" "$E" none "$P/walk" "{}/src/top.bin"
same "nftw of a missing path" "$E" none "$P/walk" "{}/nope"
same "nftw of a dangling symlink" "$E" none "$P/walk" "{}/src/dangling"
same "nftw of a path with a trailing slash" "$E" sort "$P/walk" -p "{}/src/a/"
same_in "nftw of a relative path from a cwd on NFS (FTW_CHDIR)" "$E" src sort "$P/walk -c -p a"

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
	same "fts $flags" "$E" none "$P/ftst" $flags "{}/src"
done
same "fts without FTS_NOCHDIR (fts_accpath aside)" "$E" sort \
	sh -c "$P/ftst {}/src | sed 's/ acc=.* name=/ name=/'"
same "fts of several roots, one missing" "$E" none "$P/ftst" -N -s "{}/src/b" "{}/nope" "{}/src/a/x.c"
same "fts of a symlink cycle (FTS_LOGICAL)" "$E" none "$P/ftst" -N -s -L "{}/loop"

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
same "python3 os.listdir, os.scandir, glob.glob, os.walk" "$L" sort python3 -c "$PY" "{}"
# An absolute link target is a path in the client's namespace: nftw, fts and
# glob resolve it here; stat() (shim/stat.c) must agree.
same "stat() through an absolute symlink that leaves NFS" "$L" none \
	python3 -c 'import os, sys; print(os.path.isfile(sys.argv[1]))' "{}/src/abslink"
same "ls" "$L" none ls "{}/src" "{}/src/a"
same "ls -a" "$L" none ls -a "{}/src/a"
same "ls -R -p" "$L" none ls -R -p "{}/src"
same "ls -l" "$L" none ls -l --time-style=+%s "{}/src/a" "{}/src/b"
same "find -printf (gnulib fts: openat, fdopendir, readdir)" "$E" sort \
	find "{}/src" -printf '%p %y %s %i\n'

# --- the _FILE_OFFSET_BITS=64 names ---------------------------------------------------
same "readdir64" "$L" sort "$P/lsdir64" "{}/src"
same "scandir64, scandirat64" "$L" none sh -c "$P/scan64 {}/src && $P/scan64 {}/src/a at"
same "glob64" "$L" none "$P/globt64" -m "{}/src/*" "{}/src/*/*.c"
same "nftw64" "$E" sort "$P/walk64" "{}/src"
same "ftw64" "$E" sort "$P/walk64" -f "{}/src"
same "fts64_*" "$E" none "$P/ftst64" -N -s -c "{}/src"

# --- the listing follows the server ----------------------------------------------------
echo new >"$E/src/new.txt"
rm "$E/src/b/w.c"
nfs "$P/scan" /nfs/src >"$T_TMP/after.out"
check "a name created on the server shows in the next listing" grep -q '^new.txt ' "$T_TMP/after.out"
nfs "$P/scan" /nfs/src/b >"$T_TMP/after.out"
check "a name removed on the server is gone from the next listing" bash -c "! grep -q '^w.c ' '$T_TMP/after.out'"

finish
