/*
 * spec_prog: the mis-speculation scenario of the speculation issue. Opens a
 * (cached) file, prints a line from it, writes a derived file, and exits
 * with the line's length; prints its pid before and after. With "probe
 * PATH" it reports whether an optional header exists (a negative lookup);
 * "mkdir PATH" makes a directory and reports how it went; "ops DIR" makes
 * DIR, writes DIR/f, renames it to DIR/g and removes DIR/tmp after making
 * it (a run of write-backs, each printed).
 */
#include <errno.h>
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
	if (argc == 3 && strcmp(argv[1], "mkdir") == 0) {
		int rc = mkdir(argv[2], 0755);

		printf("mkdir %s: %s\n", argv[2], rc == 0 ? "ok" : strerror(errno));
		return rc == 0 ? 0 : 1;
	}
	if (argc == 3 && strcmp(argv[1], "ops") == 0) {
		char fp[4096], g[4096], t[4096];

		snprintf(fp, sizeof(fp), "%s/f", argv[2]);
		snprintf(g, sizeof(g), "%s/g", argv[2]);
		snprintf(t, sizeof(t), "%s/tmp", argv[2]);
		if (mkdir(argv[2], 0755) < 0 || (o = fopen(fp, "w")) == NULL) {
			perror(argv[2]);
			return 1;
		}
		fprintf(o, "written by spec_prog\n");
		if (fclose(o) != 0 || rename(fp, g) < 0 || mkdir(t, 0700) < 0 || rmdir(t) < 0) {
			perror(argv[2]);
			return 1;
		}
		printf("ops %s: ok\n", argv[2]);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "append") == 0) {
		/* OUT opened for appending first; IN read (a prediction)
		 * after: a rollback must not append twice. */
		o = fopen(argv[3], "a");
		f = o != NULL ? fopen(argv[2], "r") : NULL;
		if (f == NULL) {
			perror("append");
			return 97;
		}
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		fprintf(o, "appended [%s]\n", line);
		if (fclose(o) != 0) {
			perror(argv[3]);
			return 96;
		}
		printf("appended: %s\n", line);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: spec_prog IN OUT | spec_prog append IN OUT | "
				"spec_prog probe|mkdir|ops PATH\n");
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
