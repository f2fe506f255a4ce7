/*
 * shim/stat.c: the stat family (stat, lstat, fstat, fstatat, statx, the
 * 64-bit names and the old __xstat ABI bookworm's make still imports),
 * access, statfs/statvfs and pathconf. NFS paths get the server's
 * attributes (ino, dev, owner, mode, times), never the mirror copy's:
 * the conversions from the protocol's attributes live here too. Also the
 * xattr calls, which fail with ENOTSUP on NFS as on a kernel NFSv3 mount.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "client/shim/internal.h"

/* ------------------------------------------------------------ attributes */

/* The server's attributes as stat and statx give them. */
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
	st->st_atim = (struct timespec){ a->atime.sec, a->atime.nsec };
	st->st_mtim = (struct timespec){ a->mtime.sec, a->mtime.nsec };
	st->st_ctim = (struct timespec){ a->ctime.sec, a->ctime.nsec };
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
	stx->stx_atime = (struct statx_timestamp){ .tv_sec = a->atime.sec,
						   .tv_nsec = a->atime.nsec };
	stx->stx_mtime = (struct statx_timestamp){ .tv_sec = a->mtime.sec,
						   .tv_nsec = a->mtime.nsec };
	stx->stx_ctime = (struct statx_timestamp){ .tv_sec = a->ctime.sec,
						   .tv_nsec = a->ctime.nsec };
	stx->stx_rdev_major = major(a->rdev);
	stx->stx_rdev_minor = minor(a->rdev);
	stx->stx_dev_major = major(a->fsid);
	stx->stx_dev_minor = minor(a->fsid);
}

/* ------------------------------------------------------------ stat */

/*
 * stat of (dirfd, path) with fstatat flags. Returns 1 and fills *a for an
 * NFS path, 0 if not NFS, -errno on error.
 */
static int
nfs_stat(int dirfd, const char *path, int flags, struct spn_attr *a)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc, tail;

	if (spn_shim_busy || path == NULL)
		return 0;
	if (path[0] == '\0' && (flags & AT_EMPTY_PATH) && dirfd != AT_FDCWD)
		rc = spn_fd_nfs_path(dirfd, nfs, sizeof(nfs));
	else
		rc = spn_nfs_path(dirfd, path, nfs, sizeof(nfs));
	if (rc <= 0)
		return rc;
	/* "x/" names a directory: a link there is followed, and anything
	 * else is ENOTDIR (the normalised path lost the slash). */
	tail = path[0] != '\0' ? spn_path_tail(path) : SPN_TAIL_NONE;
	if (tail != SPN_TAIL_NONE)
		flags &= ~AT_SYMLINK_NOFOLLOW;
	rc = spn_call_path(SPN_OP_STAT, nfs, (flags & AT_SYMLINK_NOFOLLOW) ? SPN_F_NOFOLLOW : 0, 0,
			   &rep);
	if (rc < 0)
		return rc;
	if (tail != SPN_TAIL_NONE && rep.attr.type != S_IFDIR)
		return -ENOTDIR;
	*a = rep.attr;
	return 1;
}

/* fstat of an fd on the mirror: the NFS attributes of what it names. */
static int
nfs_fstat(int fd, struct spn_attr *a)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc;

	if (spn_shim_busy || !spn_shim_ready() || spn_fd_nfs_path(fd, nfs, sizeof(nfs)) != 1)
		return 0;
	rc = spn_call_path(SPN_OP_STAT, nfs, 0, 0, &rep);
	if (rc < 0)
		return rc;
	*a = rep.attr;
	return 1;
}

static int
stat_at(int dirfd, const char *path, struct stat *st, int flags)
{
	struct spn_attr a;
	char local[PATH_MAX];
	int rc = nfs_stat(dirfd, path, flags | AT_SYMLINK_NOFOLLOW, &a);
	long r;

	if (rc == 0 && spn_local_path(path, local, sizeof(local)))
		return REAL(fstatat)(AT_FDCWD, local, st, flags);
	if (rc == 0) {
		if (spn_spec_direct(SYS_newfstatat, dirfd, (long)path, (long)st, flags, &r))
			return (int)spn_direct_ret(r);
		return REAL(fstatat)(dirfd, path, st, flags);
	}
	if (spn_take_redirect(rc, local, sizeof(local)))
		return REAL(fstatat)(AT_FDCWD, local, st, flags & ~AT_EMPTY_PATH);
	if (rc < 0)
		return spn_fail(rc);
	if (a.type == S_IFLNK && !(flags & AT_SYMLINK_NOFOLLOW)) {
		/* Follow it here, not on the server: an absolute target
		 * names this machine's file. */
		rc = spn_stat_follow(dirfd, path, st);
		return rc < 0 ? spn_fail(rc) : 0;
	}
	spn_attr_to_stat(&a, st);
	return 0;
}

static int
stat_fd(int fd, struct stat *st)
{
	struct spn_attr a;
	long r;
	int rc = spn_spec_direct(SYS_newfstatat, fd, (long)"", (long)st, AT_EMPTY_PATH, &r)
			 ? (int)spn_direct_ret(r)
			 : REAL(fstat)(fd, st);

	/* Ordinary files cost one real fstat: only a mirror file asks more. */
	if (rc < 0 || spn_shim_busy || !spn_shim_maybe_mirror(st))
		return rc;
	rc = nfs_fstat(fd, &a);
	if (rc <= 0)
		return rc < 0 ? spn_fail(rc) : 0;
	spn_attr_to_stat(&a, st);
	return 0;
}

/*
 * Every exported name of stat, lstat, fstatat and fstat: the 64-bit names
 * (on x86-64 struct stat64 is struct stat) and the pre-2.33 ABI (ver is
 * _STAT_VER, ignored on x86-64). VER is the ABI's extra first parameter.
 */
#define VER int ver __attribute__((unused)),
#define STAT_PATH(name, ver, st_t, flags)                                                 \
	SPN_EXPORT int name(ver const char *path, st_t *st)                               \
	{                                                                                 \
		return stat_at(AT_FDCWD, path, (struct stat *)st, flags);                 \
	}
#define STAT_AT(name, ver, st_t)                                                          \
	SPN_EXPORT int name(ver int dirfd, const char *path, st_t *st, int flags)         \
	{                                                                                 \
		return stat_at(dirfd, path, (struct stat *)st, flags);                    \
	}
#define STAT_FD(name, ver, st_t)                                                          \
	SPN_EXPORT int name(ver int fd, st_t *st)                                         \
	{                                                                                 \
		return stat_fd(fd, (struct stat *)st);                                    \
	}

STAT_PATH(stat, , struct stat, 0)
STAT_PATH(lstat, , struct stat, AT_SYMLINK_NOFOLLOW)
STAT_AT(fstatat, , struct stat)
STAT_FD(fstat, , struct stat)
STAT_PATH(stat64, , struct stat64, 0)
STAT_PATH(lstat64, , struct stat64, AT_SYMLINK_NOFOLLOW)
STAT_AT(fstatat64, , struct stat64)
STAT_FD(fstat64, , struct stat64)
STAT_PATH(__xstat, VER, struct stat, 0)
STAT_PATH(__lxstat, VER, struct stat, AT_SYMLINK_NOFOLLOW)
STAT_AT(__fxstatat, VER, struct stat)
STAT_FD(__fxstat, VER, struct stat)
STAT_PATH(__xstat64, VER, struct stat64, 0)
STAT_PATH(__lxstat64, VER, struct stat64, AT_SYMLINK_NOFOLLOW)
STAT_AT(__fxstatat64, VER, struct stat64)
STAT_FD(__fxstat64, VER, struct stat64)

SPN_EXPORT int
statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	struct spn_attr a;
	int rc;

	if (path[0] == '\0' && (flags & AT_EMPTY_PATH))
		rc = nfs_fstat(dirfd, &a);
	else
		rc = nfs_stat(dirfd, path, flags, &a);
	if (rc == 0)
		return REAL(statx)(dirfd, path, flags, mask, stx);
	if (rc < 0)
		return spn_fail(rc);
	spn_attr_to_statx(&a, stx);
	return 0;
}

/* ------------------------------------------------------------ access */

static int
access_at(int dirfd, const char *path, int mode, int flags)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc;
	long r;

	if (spn_shim_busy || (rc = spn_nfs_path(dirfd, path, nfs, sizeof(nfs))) == 0) {
		/* faccessat2 (439) is what glibc calls for flags */
		long nr = flags == 0 ? SYS_faccessat : 439;

		if (!spn_shim_busy && spn_spec_direct(nr, dirfd, (long)path, mode, flags, &r) &&
		    r != -ENOSYS)
			return (int)spn_direct_ret(r);
		return REAL(faccessat)(dirfd, path, mode, flags);
	}
	if (rc < 0)
		return spn_fail(rc);
	rc = spn_call_path(SPN_OP_ACCESS, nfs, 0, (uint32_t)(mode & 7), &rep);
	if (spn_take_redirect(rc, nfs, sizeof(nfs)))
		return REAL(faccessat)(AT_FDCWD, nfs, mode, flags);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
access(const char *path, int mode)
{
	return access_at(AT_FDCWD, path, mode, 0);
}

SPN_EXPORT int
faccessat(int dirfd, const char *path, int mode, int flags)
{
	return access_at(dirfd, path, mode, flags);
}

SPN_EXPORT int
euidaccess(const char *path, int mode)
{
	return access_at(AT_FDCWD, path, mode, AT_EACCESS);
}

SPN_EXPORT int
eaccess(const char *path, int mode)
{
	return access_at(AT_FDCWD, path, mode, AT_EACCESS);
}

/* ------------------------------------------------------------ statfs */

static int
nfs_statfs(const char *path, struct spn_statfs *s)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc;

	if (spn_shim_busy || (rc = spn_nfs_path(AT_FDCWD, path, nfs, sizeof(nfs))) == 0)
		return 0;
	if (rc < 0)
		return rc;
	rc = spn_call_path(SPN_OP_STATFS, nfs, 0, 0, &rep);
	if (rc < 0)
		return rc;
	*s = rep.sfs;
	return 1;
}

#define NFS_SUPER_MAGIC 0x6969

SPN_EXPORT int
statfs(const char *path, struct statfs *out)
{
	struct spn_statfs s;
	int rc = nfs_statfs(path, &s);

	if (rc <= 0)
		return rc == 0 ? REAL(statfs)(path, out) : spn_fail(rc);
	*out = (struct statfs){ .f_type = NFS_SUPER_MAGIC, .f_bsize = s.bsize,
				.f_frsize = s.bsize, .f_blocks = s.blocks, .f_bfree = s.bfree,
				.f_bavail = s.bavail, .f_files = s.files, .f_ffree = s.ffree,
				.f_namelen = s.namemax };
	return 0;
}

SPN_EXPORT int
statfs64(const char *path, struct statfs64 *out)
{
	return statfs(path, (struct statfs *)out);
}

SPN_EXPORT int
statvfs(const char *path, struct statvfs *out)
{
	struct spn_statfs s;
	int rc = nfs_statfs(path, &s);

	if (rc <= 0)
		return rc == 0 ? REAL(statvfs)(path, out) : spn_fail(rc);
	*out = (struct statvfs){ .f_bsize = s.bsize, .f_frsize = s.bsize, .f_blocks = s.blocks,
				 .f_bfree = s.bfree, .f_bavail = s.bavail, .f_files = s.files,
				 .f_ffree = s.ffree, .f_favail = s.favail,
				 .f_namemax = s.namemax };
	return 0;
}

SPN_EXPORT int
statvfs64(const char *path, struct statvfs64 *out)
{
	return statvfs(path, (struct statvfs *)out);
}

/* Limits of the mirror's filesystem stand in for the server's. */
SPN_EXPORT long
pathconf(const char *path, int name)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc;

	if (spn_shim_busy || (rc = spn_nfs_path(AT_FDCWD, path, nfs, sizeof(nfs))) == 0)
		return REAL(pathconf)(path, name);
	if (rc < 0)
		return spn_fail(rc);
	rc = spn_call_path(SPN_OP_STAT, nfs, 0, 0, &rep);
	if (rc < 0)
		return spn_fail(rc);
	return REAL(pathconf)(spn_shim_mirror_base(), name);
}

/* ------------------------------------------------------------ xattrs */

/*
 * NFSv3 has no extended attributes (and ACLs through a side protocol we do
 * not speak): on NFS paths these fail with ENOTSUP, as they do on a kernel
 * NFSv3 mount, so that cp -a, tar and the like fall back to chmod. On a
 * mirror fd, too: an xattr set on the mirror copy would never reach the
 * server.
 */
static int
xattr_nfs(int dirfd, const char *path, int fd)
{
	char nfs[SPN_PATH_MAX];

	if (spn_shim_busy || !spn_shim_ready())
		return 0;
	if (fd >= 0)
		return spn_fd_nfs_path(fd, nfs, sizeof(nfs)) == 1;
	return spn_nfs_path(dirfd, path, nfs, sizeof(nfs)) != 0;
}

#define XATTR_WRAPPER(ret, name, params, args, is_nfs)                                    \
	SPN_EXPORT ret name params                                                        \
	{                                                                                 \
		if (is_nfs) {                                                             \
			errno = ENOTSUP;                                                  \
			return -1;                                                        \
		}                                                                         \
		return REAL(name) args;                                                   \
	}

XATTR_WRAPPER(ssize_t, getxattr, (const char *p, const char *n, void *v, size_t s), (p, n, v, s),
	      xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(ssize_t, lgetxattr, (const char *p, const char *n, void *v, size_t s), (p, n, v, s),
	      xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(ssize_t, fgetxattr, (int fd, const char *n, void *v, size_t s), (fd, n, v, s),
	      xattr_nfs(AT_FDCWD, NULL, fd))
XATTR_WRAPPER(int, setxattr, (const char *p, const char *n, const void *v, size_t s, int f),
	      (p, n, v, s, f), xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(int, lsetxattr, (const char *p, const char *n, const void *v, size_t s, int f),
	      (p, n, v, s, f), xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(int, fsetxattr, (int fd, const char *n, const void *v, size_t s, int f),
	      (fd, n, v, s, f), xattr_nfs(AT_FDCWD, NULL, fd))
XATTR_WRAPPER(ssize_t, listxattr, (const char *p, char *l, size_t s), (p, l, s),
	      xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(ssize_t, llistxattr, (const char *p, char *l, size_t s), (p, l, s),
	      xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(ssize_t, flistxattr, (int fd, char *l, size_t s), (fd, l, s),
	      xattr_nfs(AT_FDCWD, NULL, fd))
XATTR_WRAPPER(int, removexattr, (const char *p, const char *n), (p, n), xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(int, lremovexattr, (const char *p, const char *n), (p, n),
	      xattr_nfs(AT_FDCWD, p, -1))
XATTR_WRAPPER(int, fremovexattr, (int fd, const char *n), (fd, n), xattr_nfs(AT_FDCWD, NULL, fd))
