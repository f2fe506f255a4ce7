/*
 * shim/path.c: which paths are NFS paths, and the mirror <-> NFS mapping.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "client/path.h"
#include "client/shim/internal.h"

/* The cwd as an NFS path while it is inside the mirror. */
static char cwd_nfs[PATH_MAX];
static int cwd_state; /* 0 unknown, 1 in the mirror, -1 elsewhere */
static pthread_mutex_t cwd_lock = PTHREAD_MUTEX_INITIALIZER;

/* Is the normalised absolute path on one of the prefixes? */
static int
on_prefix(const char *norm)
{
	const struct spn_policy *p = spn_shim_policy();
	int i;

	for (i = 0; i < p->nmounts; i++) {
		size_t n = strlen(p->mounts[i].prefix);

		if (strncmp(norm, p->mounts[i].prefix, n) == 0 && (norm[n] == '/' || norm[n] == '\0'))
			return 1;
	}
	return 0;
}

int
spn_mirror_to_nfs(const char *mirror, char *nfs, size_t len)
{
	const char *base = spn_shim_mirror_base();
	size_t bl = strlen(base);
	const char *rest;
	char *end;
	unsigned long id;
	int n;

	if (bl == 0 || strncmp(mirror, base, bl) != 0 || mirror[bl] != '/' || mirror[bl + 1] != 'm')
		return 0;
	id = strtoul(mirror + bl + 2, &end, 10);
	if (end == mirror + bl + 2 || (*end != '/' && *end != '\0') ||
	    id >= (unsigned long)spn_shim_policy()->nmounts)
		return 0;
	rest = end;
	n = snprintf(nfs, len, "%s%s", spn_shim_policy()->mounts[id].prefix, rest);
	return n > 0 && (size_t)n < len ? 1 : -ENAMETOOLONG;
}

int
spn_local_path(const char *path, char *out, size_t len)
{
	char norm[PATH_MAX];
	const struct spn_policy *p = spn_shim_policy();
	int i;

	if (path == NULL || path[0] != '/' || !spn_shim_ready())
		return 0;
	for (i = 0; i < p->nmounts; i++) {
		size_t n = strlen(p->mounts[i].prefix);

		if (strncmp(path, p->mounts[i].prefix, n) == 0 && path[n] == '/')
			break;
	}
	if (i == p->nmounts || spn_path_normalize(path, norm, sizeof(norm)) < 0 || on_prefix(norm) ||
	    strlen(norm) >= len)
		return 0;
	memcpy(out, norm, strlen(norm) + 1);
	return 1;
}

int
spn_in_mirror(const char *path)
{
	const char *base = spn_shim_mirror_base();
	size_t bl = strlen(base);

	return bl > 0 && strncmp(path, base, bl) == 0 && path[bl] == '/';
}

void
spn_cwd_changed(void)
{
	char buf[PATH_MAX];

	spn_shim_busy++;
	pthread_mutex_lock(&cwd_lock);
	if (REAL(getcwd)(buf, sizeof(buf)) != NULL && spn_mirror_to_nfs(buf, cwd_nfs, sizeof(cwd_nfs)) == 1)
		cwd_state = 1;
	else
		cwd_state = -1;
	pthread_mutex_unlock(&cwd_lock);
	spn_shim_busy--;
}

int
spn_nfs_path(int dirfd, const char *path, char *nfs, size_t len)
{
	char joined[PATH_MAX * 2], base[PATH_MAX];
	int rc;

	if (path == NULL || !spn_shim_ready())
		return 0;
	if (path[0] == '/') {
		rc = spn_path_normalize(path, nfs, len);
		if (rc < 0)
			return rc;
		if (on_prefix(nfs))
			return 1;
		/* A mirror path that reached the program (a link read
		 * through libc internals): the daemon must validate it too. */
		if (strncmp(path, spn_shim_mirror_base(), strlen(spn_shim_mirror_base())) == 0) {
			snprintf(base, sizeof(base), "%s", nfs);
			return spn_mirror_to_nfs(base, nfs, len) == 1;
		}
		return 0;
	}
	if (dirfd == AT_FDCWD) {
		if (cwd_state == 0)
			spn_cwd_changed();
		if (cwd_state < 0)
			return 0;
		pthread_mutex_lock(&cwd_lock);
		snprintf(base, sizeof(base), "%s", cwd_nfs);
		pthread_mutex_unlock(&cwd_lock);
	} else if (spn_fd_nfs_path(dirfd, base, sizeof(base)) != 1) {
		return 0;
	}
	if (path[0] == '\0') {
		/* AT_EMPTY_PATH: the directory itself. */
		snprintf(joined, sizeof(joined), "%s", base);
	} else {
		snprintf(joined, sizeof(joined), "%s/%s", base, path);
	}
	rc = spn_path_normalize(joined, nfs, len);
	if (rc < 0)
		return rc;
	return on_prefix(nfs) ? 1 : 0;
}

/* ------------------------------------------------------------ attributes */

void
spn_attr_to_stat(const struct spn_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = (dev_t)a->fsid;
	st->st_ino = (ino_t)a->fileid;
	st->st_mode = (mode_t)(a->type | (a->mode & 07777));
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = (dev_t)a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a->used + 511) / 512);
	st->st_atim.tv_sec = a->atime.sec;
	st->st_atim.tv_nsec = a->atime.nsec;
	st->st_mtim.tv_sec = a->mtime.sec;
	st->st_mtim.tv_nsec = a->mtime.nsec;
	st->st_ctim.tv_sec = a->ctime.sec;
	st->st_ctim.tv_nsec = a->ctime.nsec;
}

void
spn_attr_to_stat64(const struct spn_attr *a, struct stat64 *st)
{
	/* On x86-64 glibc, struct stat64 is struct stat. */
	_Static_assert(sizeof(struct stat64) == sizeof(struct stat), "stat64 layout");
	spn_attr_to_stat(a, (struct stat *)st);
}

void
spn_attr_to_statx(const struct spn_attr *a, struct statx *stx)
{
	memset(stx, 0, sizeof(*stx));
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_blksize = 4096;
	stx->stx_nlink = a->nlink;
	stx->stx_uid = a->uid;
	stx->stx_gid = a->gid;
	stx->stx_mode = (uint16_t)(a->type | (a->mode & 07777));
	stx->stx_ino = a->fileid;
	stx->stx_size = a->size;
	stx->stx_blocks = (a->used + 511) / 512;
	stx->stx_atime.tv_sec = a->atime.sec;
	stx->stx_atime.tv_nsec = a->atime.nsec;
	stx->stx_mtime.tv_sec = a->mtime.sec;
	stx->stx_mtime.tv_nsec = a->mtime.nsec;
	stx->stx_ctime.tv_sec = a->ctime.sec;
	stx->stx_ctime.tv_nsec = a->ctime.nsec;
	stx->stx_rdev_major = major(a->rdev);
	stx->stx_rdev_minor = minor(a->rdev);
	stx->stx_dev_major = major(a->fsid);
	stx->stx_dev_minor = minor(a->fsid);
}

int
spn_path_tail(const char *path)
{
	size_t n = strlen(path);
	const char *last;

	while (n > 1 && path[n - 1] == '/' && path[n - 2] == '/')
		n--;
	if (n > 1 && path[n - 1] == '/')
		return SPN_TAIL_SLASH;
	last = path + n;
	while (last > path && last[-1] != '/')
		last--;
	if (path + n - last == 1 && last[0] == '.')
		return SPN_TAIL_DOT;
	if (path + n - last == 2 && last[0] == '.' && last[1] == '.')
		return SPN_TAIL_DOTDOT;
	return SPN_TAIL_NONE;
}
