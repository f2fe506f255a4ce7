/*
 * hello.c, a program for test_shim_exec.sh.
 * hello ARGS...: prints "hello:" and its arguments (a binary on NFS).
 */
#include <stdio.h>
int main(int argc, char **argv)
{
	printf("hello:");
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	return 0;
}
