/*
 * spec_prog: the mis-speculation scenario of the speculation issue. Opens a
 * (cached) file, prints a line from it, writes a derived file, and exits
 * with the line's length; prints its pid before and after. With "probe
 * PATH" it reports whether an optional header exists (a negative lookup).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char line[256] = "";
	pid_t before = getpid();
	struct stat st;
	FILE *f, *o;

	if (argc == 3 && strcmp(argv[1], "probe") == 0) {
		int there = stat(argv[2], &st) == 0;

		printf("%s: %s\n", argv[2], there ? "present" : "absent");
		return there ? 1 : 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: spec_prog IN OUT | spec_prog probe PATH\n");
		return 2;
	}
	f = fopen(argv[1], "r");
	if (f == NULL) {
		perror(argv[1]);
		return 99;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	printf("line: %s\n", line);
	o = fopen(argv[2], "w");
	if (o == NULL) {
		perror(argv[2]);
		return 98;
	}
	fprintf(o, "derived from [%s]\n", line);
	fclose(o);
	printf("pid %d %d\n", (int)before, (int)getpid());
	return (int)strlen(line);
}
