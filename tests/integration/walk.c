/*
 * walk.c, a program for test_shim_dir.sh (built twice: walk64 with
 * -D_FILE_OFFSET_BITS=64, for the LFS names).
 * walk [-p] [-d] [-c] [-m] [-a] [-f] DIR: nftw with FTW_PHYS, FTW_DEPTH,
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
