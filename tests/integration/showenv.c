/*
 * showenv.c, a program for test_shim_exec.sh.
 * showenv: whether SPECNFS_MOUNTS and the shim made it into its environment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
	const char *m = getenv("SPECNFS_MOUNTS"), *p = getenv("LD_PRELOAD");
	printf("mounts=%s shim=%s\n", m ? m : "-", p && strstr(p, "libspecnfs.so") ? "yes" : "no");
	return 0;
}
