/*
 * globt.c, a program for test_shim_dir.sh (built twice: globt64 with
 * -D_FILE_OFFSET_BITS=64, for the LFS names).
 * globt [-m] [-o] [-b] [-n] PATTERN...: glob with GLOB_MARK, GLOB_ONLYDIR,
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
		printf("%s: %d\n", argv[i],
		       glob(argv[i], flags | (first ? 0 : GLOB_APPEND), NULL, &g));
		first = 0;
	}
	if (!first) {
		for (k = 0; k < g.gl_pathc; k++)
			printf("%s\n", g.gl_pathv[k]);
		globfree(&g);
	}
	return 0;
}
