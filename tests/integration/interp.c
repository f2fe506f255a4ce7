/*
 * interp.c, a program for test_shim_exec.sh.
 * interp [-x] SCRIPT: an interpreter for "#!" lines: shows its arguments,
 * then the script it was given (which it opens by its NFS path, through the shim).
 */
#include <stdio.h>
int main(int argc, char **argv)
{
	char line[256];
	FILE *f;
	printf("interp:");
	for (int i = 0; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\n");
	f = fopen(argv[argc > 2 && argv[1][0] == '-' ? 2 : 1], "r");
	if (f == NULL) {
		perror("interp: fopen");
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stdout);
	fclose(f);
	return 0;
}
