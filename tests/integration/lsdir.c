/*
 * lsdir.c, a program for test_shim_dir.sh (built twice: lsdir64 with
 * -D_FILE_OFFSET_BITS=64, for the LFS names).
 * lsdir [-f] DIR: names and d_type (opendir, or -f: open + fdopendir), then
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
