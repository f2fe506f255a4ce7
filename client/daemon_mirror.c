/*
 * daemon_mirror.c: the local mirror of the NFS tree.
 *
 * Each mount's tree is mirrored under <cache>/<hash>/m<id> with the same
 * names, so that programs can use real kernel fds on it (stdio, mmap,
 * *at() calls all work natively). An entry whose content has not been
 * fetched is a *stub*: a dangling symlink into /proc/specnfs-unfetched/.
 * Anything that reaches a stub without the shim (a path the shim did not
 * translate) fails loudly with ENOENT, for root too, rather than reading an
 * empty file as if it were content; and O_CREAT through it cannot create
 * anything, since nothing can be created under /proc.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_internal.h"

#define STUB_DIR "/proc/specnfs-unfetched/"

int
spn_mirror_path(const struct spn_mount *m, const char *rel, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s", m->mirror, strcmp(rel, "/") == 0 ? "" : rel);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
spn_mirror_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	p = strrchr(buf, '/');
	if (p == NULL || p == buf)
		return 0;
	*p = '\0';
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static const char *
type_name(uint32_t type)
{
	switch (type) {
	case S_IFREG: return "reg";
	case S_IFLNK: return "lnk";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "sock";
	default: return "unknown";
	}
}

/* Replace whatever is at path by a stub (directories are never stubs).
 * Built in tmpdir and renamed into place: the name never goes missing. */
int
spn_mirror_stub(const char *tmpdir, const char *path, uint32_t type)
{
	static unsigned long seq;
	char tmp[PATH_MAX], target[64];
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s/stub.%d.%lu", tmpdir, (int)getpid(), ++seq);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(target, sizeof(target), STUB_DIR "%s", type_name(type));
	if (symlink(target, tmp) < 0)
		return -errno;
	if (rename(tmp, path) < 0) {
		int err = -errno;

		unlink(tmp);
		if (err == -EISDIR || err == -ENOTEMPTY || err == -EEXIST) {
			/* A directory became a file on the server. */
			err = spn_mirror_remove(path);
			if (err == 0)
				return spn_mirror_stub(tmpdir, path, type);
		}
		return err;
	}
	return 0;
}

int
spn_mirror_is_stub(const char *path)
{
	char buf[64];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0)
		return 0;
	buf[n] = '\0';
	return strncmp(buf, STUB_DIR, sizeof(STUB_DIR) - 1) == 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

int
spn_mirror_remove(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return -errno;
	return 0;
}

/* A temporary file in tmpdir, on the mirror's filesystem, so that rename
 * into the tree is atomic and no temporary name ever shows in a listing. */
int
spn_mirror_tmpfile(const char *tmpdir, char *tmp, size_t len)
{
	int n, fd;

	n = snprintf(tmp, len, "%s/file.XXXXXX", tmpdir);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The mirror copy belongs to the daemon's user, who reads and writes it;
 * execute bits follow the server's so that exec of a mirror path works.
 * Access control is the server's (and the stat wrappers report its mode). */
int
spn_mirror_mode(uint32_t nfs_mode)
{
	return (nfs_mode & 0111) ? 0700 : 0600;
}
