/*
 * ftst.c, a program for test_shim_dir.sh (built twice: ftst64 with
 * -D_FILE_OFFSET_BITS=64, for the LFS names).
 * ftst [-L] [-n] [-s] [-x] [-c] [-N] PATH...: glibc's fts with FTS_LOGICAL,
 * FTS_NOSTAT, a sort by name, FTS_SKIP of "b", fts_children, FTS_NOCHDIR. */
#include <sys/stat.h>
#include <errno.h>
#include <fts.h>
#include <stdio.h>
#include <string.h>
static int cmp(const FTSENT **a, const FTSENT **b)
{
	return strcmp((*a)->fts_name, (*b)->fts_name);
}
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
		int st = e->fts_info != FTS_NS && e->fts_info != FTS_NSOK &&
			 e->fts_info != FTS_DNR &&
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
