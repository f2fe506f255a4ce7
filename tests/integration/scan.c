/*
 * scan.c, a program for test_shim_dir.sh (built twice: scan64 with
 * -D_FILE_OFFSET_BITS=64, for the LFS names).
 * scan DIR [at]: scandir (or scandirat) without dot names, alphasort */
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
