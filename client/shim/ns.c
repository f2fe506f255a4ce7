/*
 * shim/ns.c: calls that change the namespace or attributes on the server
 * (mkdir, rmdir, unlink, rename, link, symlink, truncate, chmod, chown,
 * utimes), symlinks (readlink, and links into the mirror read back as NFS
 * paths), and the cwd (chdir, fchdir, getcwd, realpath).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#include "client/path.h"
#include "client/shim/internal.h"

/* NFS path of (dirfd, path): 1, 0 (not NFS), or -errno. */
static int
nfs_of(int dirfd, const char *path, char *nfs)
{
	if (spn_shim_busy)
		return 0;
	return spn_nfs_path(dirfd, path, nfs, SPN_PATH_MAX);
}

/* ------------------------------------------------------------ mkdir, remove */

SPN_EXPORT int
mkdirat(int dirfd, const char *path, mode_t mode)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc = nfs_of(dirfd, path, nfs);

	if (rc == 0)
		return REAL(mkdirat)(dirfd, path, mode);
	if (rc < 0)
		return spn_fail(rc);
	rc = spn_call_path(SPN_OP_MKDIR, nfs, 0, (uint32_t)(mode & 07777 & ~spn_umask()), &rep);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
mkdir(const char *path, mode_t mode)
{
	return mkdirat(AT_FDCWD, path, mode);
}

SPN_EXPORT int
unlinkat(int dirfd, const char *path, int flags)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc = nfs_of(dirfd, path, nfs);

	if (rc == 0)
		return REAL(unlinkat)(dirfd, path, flags);
	if (rc < 0)
		return spn_fail(rc);
	/* rmdir("d/.") and rmdir("d/..") as the kernel judges them (the
	 * normalised path would name d, or its parent). */
	if ((flags & AT_REMOVEDIR) && spn_path_tail(path) == SPN_TAIL_DOT)
		return spn_fail(-EINVAL);
	if ((flags & AT_REMOVEDIR) && spn_path_tail(path) == SPN_TAIL_DOTDOT)
		return spn_fail(-ENOTEMPTY);
	rc = spn_call_path((flags & AT_REMOVEDIR) ? SPN_OP_RMDIR : SPN_OP_UNLINK, nfs, 0, 0, &rep);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
unlink(const char *path)
{
	return unlinkat(AT_FDCWD, path, 0);
}

SPN_EXPORT int
rmdir(const char *path)
{
	return unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

/* remove(3) calls unlink and rmdir internally, which we would not see. */
SPN_EXPORT int
remove(const char *path)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc = nfs_of(AT_FDCWD, path, nfs);

	if (rc == 0) {
		rc = REAL(unlinkat)(AT_FDCWD, path, 0);
		if (rc < 0 && errno == EISDIR)
			rc = REAL(unlinkat)(AT_FDCWD, path, AT_REMOVEDIR);
		return rc;
	}
	if (rc < 0)
		return spn_fail(rc);
	rc = spn_call_path(SPN_OP_STAT, nfs, SPN_F_NOFOLLOW, 0, &rep);
	if (rc == 0)
		rc = spn_call_path(rep.attr.type == S_IFDIR ? SPN_OP_RMDIR : SPN_OP_UNLINK, nfs,
				   0, 0, &rep);
	return rc < 0 ? spn_fail(rc) : 0;
}

/* ------------------------------------------------------------ rename, link */

/* The NFS paths of a call on two paths: 1 both on NFS, 0 both off (libc's
 * call), or -errno: -EXDEV between NFS and a local filesystem. */
static int
nfs_of2(int dirfd1, const char *path1, char *nfs1, int dirfd2, const char *path2, char *nfs2)
{
	int a = nfs_of(dirfd1, path1, nfs1), b = nfs_of(dirfd2, path2, nfs2);

	if (a < 0 || b < 0)
		return a < 0 ? a : b;
	return a == b ? a : -EXDEV;
}

SPN_EXPORT int
renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags)
{
	char from[SPN_PATH_MAX], to[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc = nfs_of2(olddirfd, oldpath, from, newdirfd, newpath, to);

	if (rc == 0)
		return REAL(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
	if (rc < 0)
		return spn_fail(rc);
	if (flags & ~RENAME_NOREPLACE)
		return spn_fail(-EINVAL); /* RENAME_EXCHANGE/WHITEOUT: not on NFS */
	if (flags & RENAME_NOREPLACE) {
		/* Not atomic on NFSv3/v4.0: the best a client can do. */
		rc = spn_call_path(SPN_OP_STAT, to, SPN_F_NOFOLLOW, 0, &rep);
		if (rc == 0)
			return spn_fail(-EEXIST);
	}
	rc = spn_call_path2(SPN_OP_RENAME, from, to, &rep);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

SPN_EXPORT int
rename(const char *oldpath, const char *newpath)
{
	return renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

SPN_EXPORT int
linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	char from[SPN_PATH_MAX], to[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc = nfs_of2(olddirfd, oldpath, from, newdirfd, newpath, to);

	if (rc == 0)
		return REAL(linkat)(olddirfd, oldpath, newdirfd, newpath, flags);
	if (rc < 0)
		return spn_fail(rc);
	rc = spn_call_path2(SPN_OP_LINK, from, to, &rep);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
link(const char *oldpath, const char *newpath)
{
	return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

SPN_EXPORT int
symlinkat(const char *target, int dirfd, const char *path)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc = nfs_of(dirfd, path, nfs);

	if (rc == 0)
		return REAL(symlinkat)(target, dirfd, path);
	if (rc < 0)
		return spn_fail(rc);
	if (target[0] == '\0')
		return spn_fail(-ENOENT);
	if (strlen(target) >= SPN_PATH_MAX)
		return spn_fail(-ENAMETOOLONG);
	/* SYMLINK carries the link's target in path2, as any string. */
	{
		struct spn_req req;

		spn_req_init(&req, SPN_OP_SYMLINK);
		strcpy(req.path, nfs);
		strcpy(req.path2, target);
		rc = spn_call(&req, &rep);
	}
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
symlink(const char *target, const char *path)
{
	return symlinkat(target, AT_FDCWD, path);
}

/* ------------------------------------------------------------ mknod, mkfifo */

/*
 * mknod/mkfifo on NFS make the node on the server (MKNOD): a FIFO, socket
 * or device then shows with its type and rdev, and an open of a FIFO uses
 * a local FIFO in the mirror, as on a kernel mount. A regular file (type 0
 * or S_IFREG) is an exclusive create. Not interposed, the real call would
 * act on the mirror directory behind an NFS cwd.
 */
SPN_EXPORT int
mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	char nfs[SPN_PATH_MAX], local[PATH_MAX];
	struct spn_reply rep;
	mode_t type = mode & S_IFMT;
	int rc = nfs_of(dirfd, path, nfs), fd;

	if (rc == 0)
		return REAL(mknodat)(dirfd, path, mode, dev);
	if (rc < 0)
		return spn_fail(rc);
	if (type == 0 || type == S_IFREG) {
		fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
		return fd < 0 ? -1 : close(fd);
	}
	if (type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK)
		return spn_fail(-EINVAL);
	{
		struct spn_req req;

		spn_req_init(&req, SPN_OP_MKNOD);
		strcpy(req.path, nfs);
		req.flags = type;
		req.mode = mode & 07777 & ~spn_umask();
		req.size = (type == S_IFCHR || type == S_IFBLK) ? (uint64_t)dev : 0;
		rc = spn_call(&req, &rep);
	}
	if (rc == -EXDEV && (rep.spec & SPN_SPEC_REDIRECT) && strlen(rep.path) < sizeof(local)) {
		/* Through a symlink off NFS: the local node, as the kernel. */
		snprintf(local, sizeof(local), "%s", rep.path);
		return REAL(mknodat)(AT_FDCWD, local, mode, dev);
	}
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
mknod(const char *path, mode_t mode, dev_t dev)
{
	return mknodat(AT_FDCWD, path, mode, dev);
}

SPN_EXPORT int
mkfifoat(int dirfd, const char *path, mode_t mode)
{
	return mknodat(dirfd, path, (mode & 07777) | S_IFIFO, 0);
}

SPN_EXPORT int
mkfifo(const char *path, mode_t mode)
{
	return mknodat(AT_FDCWD, path, (mode & 07777) | S_IFIFO, 0);
}

/* glibc before 2.33 (binaries built then still call these). */
SPN_EXPORT int
__xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev)
{
	(void)ver;
	return mknodat(dirfd, path, mode, dev != NULL ? *dev : 0);
}

SPN_EXPORT int
__xmknod(int ver, const char *path, mode_t mode, dev_t *dev)
{
	(void)ver;
	return mknodat(AT_FDCWD, path, mode, dev != NULL ? *dev : 0);
}

/* ------------------------------------------------------------ setattr */

static int
setattr(const char *nfs, uint32_t mask, uint32_t flags, const struct spn_req *vals)
{
	struct spn_req req;
	struct spn_reply rep;

	spn_req_init(&req, SPN_OP_SETATTR);
	req.mask = mask;
	req.flags = flags;
	req.mode = vals->mode;
	req.uid = vals->uid;
	req.gid = vals->gid;
	req.size = vals->size;
	req.atime = vals->atime;
	req.mtime = vals->mtime;
	strcpy(req.path, nfs);
	return spn_call(&req, &rep);
}

/* The NFS path for a path-or-fd call; fd >= 0 means "the file of fd". */
static int
target_of(int dirfd, const char *path, int fd, char *nfs)
{
	if (spn_shim_busy || !spn_shim_ready())
		return 0;
	if (fd >= 0)
		return spn_fd_nfs_path(fd, nfs, SPN_PATH_MAX);
	return spn_nfs_path(dirfd, path, nfs, SPN_PATH_MAX);
}

SPN_EXPORT int
truncate(const char *path, off_t size)
{
	char nfs[SPN_PATH_MAX];
	struct spn_req v = { .size = (uint64_t)size };
	int rc = target_of(AT_FDCWD, path, -1, nfs);

	if (rc == 0)
		return REAL(truncate)(path, size);
	if (rc < 0)
		return spn_fail(rc);
	if (size < 0)
		return spn_fail(-EINVAL);
	rc = setattr(nfs, SPN_SA_SIZE, 0, &v);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
truncate64(const char *path, off_t size)
{
	return truncate(path, size);
}

static int
chmod_common(int dirfd, const char *path, int fd, mode_t mode, int flags)
{
	char nfs[SPN_PATH_MAX];
	struct spn_req v = { .mode = mode & 07777 };
	int rc = target_of(dirfd, path, fd, nfs);

	if (rc == 0)
		return fd >= 0 ? -ENOSYS : REAL(fchmodat)(dirfd, path, mode, flags);
	if (rc < 0)
		return spn_fail(rc);
	rc = setattr(nfs, SPN_SA_MODE, (flags & AT_SYMLINK_NOFOLLOW) ? SPN_F_NOFOLLOW : 0, &v);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
chmod(const char *path, mode_t mode)
{
	return chmod_common(AT_FDCWD, path, -1, mode, 0);
}

SPN_EXPORT int
fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	return chmod_common(dirfd, path, -1, mode, flags);
}

SPN_EXPORT int
fchmod(int fd, mode_t mode)
{
	int rc = chmod_common(AT_FDCWD, NULL, fd, mode, 0);

	if (rc != -ENOSYS)
		return rc;
	return REAL(fchmod)(fd, mode);
}

static int
chown_common(int dirfd, const char *path, int fd, uid_t uid, gid_t gid, int flags)
{
	char nfs[SPN_PATH_MAX];
	struct spn_req v = { .uid = uid, .gid = gid };
	uint32_t mask = 0;
	int rc = target_of(dirfd, path, fd, nfs);

	if (rc == 0)
		return fd >= 0 ? -ENOSYS : REAL(fchownat)(dirfd, path, uid, gid, flags);
	if (rc < 0)
		return spn_fail(rc);
	if (uid != (uid_t)-1)
		mask |= SPN_SA_UID;
	if (gid != (gid_t)-1)
		mask |= SPN_SA_GID;
	if (mask == 0)
		return 0;
	rc = setattr(nfs, mask, (flags & AT_SYMLINK_NOFOLLOW) ? SPN_F_NOFOLLOW : 0, &v);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
chown(const char *path, uid_t uid, gid_t gid)
{
	return chown_common(AT_FDCWD, path, -1, uid, gid, 0);
}

SPN_EXPORT int
lchown(const char *path, uid_t uid, gid_t gid)
{
	return chown_common(AT_FDCWD, path, -1, uid, gid, AT_SYMLINK_NOFOLLOW);
}

SPN_EXPORT int
fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	return chown_common(dirfd, path, -1, uid, gid, flags);
}

SPN_EXPORT int
fchown(int fd, uid_t uid, gid_t gid)
{
	int rc = chown_common(AT_FDCWD, NULL, fd, uid, gid, 0);

	if (rc != -ENOSYS)
		return rc;
	return REAL(fchown)(fd, uid, gid);
}

/* utimensat semantics: NULL = both now; UTIME_NOW / UTIME_OMIT per field. */
static int
utimens_common(int dirfd, const char *path, int fd, const struct timespec ts[2], int flags)
{
	char nfs[SPN_PATH_MAX];
	struct spn_req v;
	uint32_t mask = 0;
	int rc = target_of(dirfd, path, fd, nfs);

	if (rc == 0)
		return -ENOSYS;
	if (rc < 0)
		return spn_fail(rc);
	spn_req_init(&v, 0);
	if (ts == NULL) {
		mask = SPN_SA_ATIME_NOW | SPN_SA_MTIME_NOW;
	} else {
		if (ts[0].tv_nsec == UTIME_NOW)
			mask |= SPN_SA_ATIME_NOW;
		else if (ts[0].tv_nsec != UTIME_OMIT) {
			mask |= SPN_SA_ATIME;
			v.atime.sec = ts[0].tv_sec;
			v.atime.nsec = (uint32_t)ts[0].tv_nsec;
		}
		if (ts[1].tv_nsec == UTIME_NOW)
			mask |= SPN_SA_MTIME_NOW;
		else if (ts[1].tv_nsec != UTIME_OMIT) {
			mask |= SPN_SA_MTIME;
			v.mtime.sec = ts[1].tv_sec;
			v.mtime.nsec = (uint32_t)ts[1].tv_nsec;
		}
	}
	if (mask == 0)
		return 0;
	rc = setattr(nfs, mask, (flags & AT_SYMLINK_NOFOLLOW) ? SPN_F_NOFOLLOW : 0, &v);
	return rc < 0 ? spn_fail(rc) : 0;
}

SPN_EXPORT int
utimensat(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	/* The syscall takes a NULL path (futimens) though glibc's prototype
	 * says nonnull: look through a volatile copy. */
	const char *volatile p = path;
	int rc;

	if (p == NULL)
		rc = utimens_common(AT_FDCWD, NULL, dirfd, ts, flags);
	else
		rc = utimens_common(dirfd, path, -1, ts, flags);
	if (rc != -ENOSYS)
		return rc;
	return p == NULL ? (int)syscall(SYS_utimensat, dirfd, NULL, ts, flags)
			 : REAL(utimensat)(dirfd, path, ts, flags);
}

/* glibc's utimensat refuses a NULL path; the system call is futimens. */
static int
real_futimens(int fd, const struct timespec ts[2])
{
	return (int)syscall(SYS_utimensat, fd, NULL, ts, 0);
}

SPN_EXPORT int
futimens(int fd, const struct timespec ts[2])
{
	int rc = utimens_common(AT_FDCWD, NULL, fd, ts, 0);

	return rc == -ENOSYS ? real_futimens(fd, ts) : rc;
}

static int real_futimens(int fd, const struct timespec ts[2]);

static int
timeval_common(int dirfd, const char *path, int fd, const struct timeval tv[2], int flags)
{
	struct timespec ts[2];
	int rc;

	if (tv != NULL) {
		ts[0].tv_sec = tv[0].tv_sec;
		ts[0].tv_nsec = tv[0].tv_usec * 1000;
		ts[1].tv_sec = tv[1].tv_sec;
		ts[1].tv_nsec = tv[1].tv_usec * 1000;
	}
	rc = utimens_common(dirfd, path, fd, tv ? ts : NULL, flags);
	if (rc != -ENOSYS)
		return rc;
	if (fd >= 0)
		return real_futimens(fd, tv ? ts : NULL);
	return REAL(utimensat)(dirfd, path, tv ? ts : NULL, flags);
}

SPN_EXPORT int
utimes(const char *path, const struct timeval tv[2])
{
	return timeval_common(AT_FDCWD, path, -1, tv, 0);
}

SPN_EXPORT int
lutimes(const char *path, const struct timeval tv[2])
{
	return timeval_common(AT_FDCWD, path, -1, tv, AT_SYMLINK_NOFOLLOW);
}

SPN_EXPORT int
futimes(int fd, const struct timeval tv[2])
{
	return timeval_common(AT_FDCWD, NULL, fd, tv, 0);
}

SPN_EXPORT int
futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
	return timeval_common(dirfd, path, -1, tv, 0);
}

SPN_EXPORT int
utime(const char *path, const struct utimbuf *t)
{
	struct timeval tv[2];

	if (t != NULL) {
		tv[0].tv_sec = t->actime;
		tv[0].tv_usec = 0;
		tv[1].tv_sec = t->modtime;
		tv[1].tv_usec = 0;
	}
	return timeval_common(AT_FDCWD, path, -1, t ? tv : NULL, 0);
}

/* ------------------------------------------------------------ readlink */

/* Copy a link target into buf the way readlink(2) does (no NUL). */
static ssize_t
copy_link(const char *target, char *buf, size_t size)
{
	size_t n = strlen(target);

	if (n > size)
		n = size;
	memcpy(buf, target, n);
	return (ssize_t)n;
}

SPN_EXPORT ssize_t
readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
	char nfs[SPN_PATH_MAX], target[PATH_MAX];
	struct spn_reply rep;
	ssize_t n;
	long r;
	int rc = nfs_of(dirfd, path, nfs);

	if (rc < 0)
		return spn_fail(rc);
	if (rc == 1) {
		rc = spn_call_path(SPN_OP_READLINK, nfs, 0, 0, &rep);
		if (spn_take_redirect(rc, target, sizeof(target)))
			return readlinkat(AT_FDCWD, target, buf, size);
		if (rc < 0)
			return spn_fail(rc);
		return copy_link(rep.path, buf, size);
	}
	if (spn_spec_direct(SYS_readlinkat, dirfd, (long)path, (long)target, sizeof(target) - 1,
			    &r))
		n = spn_direct_ret(r);
	else
		n = REAL(readlinkat)(dirfd, path, target, sizeof(target) - 1);
	if (n < 0)
		return n;
	target[n] = '\0';
	/* /proc/self/fd/N, /proc/self/cwd ... pointing into the mirror: the
	 * program must see the NFS path. */
	if (!spn_shim_busy && spn_shim_ready() && spn_mirror_to_nfs(target, nfs, sizeof(nfs)) == 1)
		return copy_link(nfs, buf, size);
	return copy_link(target, buf, size);
}

SPN_EXPORT ssize_t
readlink(const char *path, char *buf, size_t size)
{
	return readlinkat(AT_FDCWD, path, buf, size);
}

SPN_EXPORT ssize_t
__readlink_chk(const char *path, char *buf, size_t size, size_t buflen)
{
	return readlinkat(AT_FDCWD, path, buf, size < buflen ? size : buflen);
}

SPN_EXPORT ssize_t
__readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen)
{
	return readlinkat(dirfd, path, buf, size < buflen ? size : buflen);
}

/* ------------------------------------------------------------ cwd */

SPN_EXPORT int
chdir(const char *path)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc = nfs_of(AT_FDCWD, path, nfs);

	if (rc == 0) {
		rc = REAL(chdir)(path);
		if (rc == 0 && !spn_shim_busy && spn_shim_ready())
			spn_cwd_changed();
		return rc;
	}
	if (rc < 0)
		return spn_fail(rc);
	rc = spn_call_path(SPN_OP_READDIR, nfs, 0, 0, &rep);
	if (rc < 0)
		return spn_fail(rc);
	rc = REAL(chdir)(rep.path);
	if (rc == 0)
		spn_cwd_changed();
	return rc;
}

SPN_EXPORT int
fchdir(int fd)
{
	int rc = REAL(fchdir)(fd);

	if (rc == 0 && !spn_shim_busy && spn_shim_ready())
		spn_cwd_changed();
	return rc;
}

SPN_EXPORT char *
getcwd(char *buf, size_t size)
{
	char real[PATH_MAX], nfs[SPN_PATH_MAX];
	size_t n;

	if (spn_shim_busy || !spn_shim_ready())
		return REAL(getcwd)(buf, size);
	if (REAL(getcwd)(real, sizeof(real)) == NULL)
		return REAL(getcwd)(buf, size); /* let libc report it as usual */
	if (spn_mirror_to_nfs(real, nfs, sizeof(nfs)) != 1) {
		/* Not in the mirror: hand back what we already have. */
		snprintf(nfs, sizeof(nfs), "%s", real);
	}
	n = strlen(nfs) + 1;
	if (buf == NULL) {
		spn_shim_busy++;
		buf = malloc(size > n ? size : n);
		spn_shim_busy--;
		if (buf == NULL) {
			errno = ENOMEM;
			return NULL;
		}
	} else if (size < n) {
		errno = size == 0 ? EINVAL : ERANGE;
		return NULL;
	}
	memcpy(buf, nfs, n);
	return buf;
}

SPN_EXPORT char *
__getcwd_chk(char *buf, size_t size, size_t buflen)
{
	return getcwd(buf, size < buflen ? size : buflen);
}

SPN_EXPORT char *
get_current_dir_name(void)
{
	const char *pwd = getenv("PWD");
	struct stat a, b;

	/* Like glibc: $PWD if it names the cwd (through the shim). */
	if (pwd != NULL && stat(pwd, &a) == 0 && stat(".", &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return strdup(pwd);
	return getcwd(NULL, 0);
}

/* ------------------------------------------------------------ realpath */

/*
 * realpath of an NFS path, resolved on the server's side component by
 * component (lstat, and readlink for symlinks); the result is an NFS path
 * (or, if a symlink leads off NFS, whatever realpath says there).
 */
static int
nfs_realpath(const char *nfs_in, char *out, size_t len)
{
	char todo[SPN_PATH_MAX * 2], done[SPN_PATH_MAX], nfs[SPN_PATH_MAX];
	char comp[NAME_MAX + 1], next[SPN_PATH_MAX * 3];
	struct spn_reply rep;
	int hops = 0, rc;

	snprintf(todo, sizeof(todo), "%s", nfs_in);
	done[0] = '\0';
	while (todo[0] != '\0') {
		const char *p = todo, *name;
		size_t n;

		name = spn_path_next(&p, &n);
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, name, n);
		comp[n] = '\0';
		memmove(todo, p, strlen(p) + 1);
		if (n == 0 || strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *s = strrchr(done, '/');

			if (s != NULL)
				*s = '\0';
			continue;
		}
		if (strlen(done) + n + 2 > sizeof(done))
			return -ENAMETOOLONG;
		strcat(done, "/");
		strcat(done, comp);
		if (spn_nfs_path(AT_FDCWD, done, nfs, sizeof(nfs)) != 1) {
			/* Not on NFS yet ("/" then "/nfs"), or walked off it:
			 * components off the prefixes are resolved at the end. */
			continue;
		}
		rc = spn_call_path(SPN_OP_STAT, nfs, SPN_F_NOFOLLOW | SPN_F_TYPE, 0, &rep);
		if (rc < 0)
			return rc;
		if (rep.attr.type != S_IFLNK) {
			if (todo[0] != '\0' && rep.attr.type != S_IFDIR)
				return -ENOTDIR;
			continue;
		}
		if (++hops > 40)
			return -ELOOP;
		rc = spn_call_path(SPN_OP_READLINK, nfs, 0, 0, &rep);
		if (rc < 0)
			return rc;
		if (rep.path[0] == '/') {
			snprintf(next, sizeof(next), "%s%s", rep.path, todo);
			done[0] = '\0';
		} else {
			char *s = strrchr(done, '/');

			if (s != NULL)
				*s = '\0';
			snprintf(next, sizeof(next), "%s/%s%s", done, rep.path, todo);
			done[0] = '\0';
		}
		if (strlen(next) >= sizeof(todo))
			return -ENAMETOOLONG;
		memcpy(todo, next, strlen(next) + 1);
	}
	if (done[0] == '\0')
		snprintf(done, sizeof(done), "/");
	if (spn_nfs_path(AT_FDCWD, done, nfs, sizeof(nfs)) != 1) {
		/* A symlink led off NFS: the rest is a local path. */
		if (REAL(realpath)(done, out) == NULL)
			return -errno;
		return 0;
	}
	if (strlen(done) + 1 > len)
		return -ENAMETOOLONG;
	memcpy(out, done, strlen(done) + 1);
	return 0;
}

SPN_EXPORT char *
realpath(const char *path, char *resolved)
{
	char nfs[SPN_PATH_MAX], out[PATH_MAX];
	int rc;

	if (path == NULL) {
		errno = EINVAL;
		return NULL;
	}
	rc = nfs_of(AT_FDCWD, path, nfs);
	if (rc == 0) {
		/* Its readlinks only look: none of them traps. */
		uint64_t mask;
		int quiet = spn_spec_quiet_begin(&mask);
		char *got = REAL(realpath)(path, resolved);
		int err = errno;

		if (quiet)
			spn_spec_quiet_end(mask);
		errno = err;
		return got;
	}
	if (rc > 0)
		rc = nfs_realpath(nfs, out, sizeof(out));
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	if (resolved == NULL) {
		spn_shim_busy++;
		resolved = strdup(out);
		spn_shim_busy--;
		if (resolved == NULL)
			errno = ENOMEM;
		return resolved;
	}
	memcpy(resolved, out, strlen(out) + 1);
	return resolved;
}

SPN_EXPORT char *
__realpath_chk(const char *path, char *resolved, size_t len)
{
	return realpath(path, resolved);
}

SPN_EXPORT char *
canonicalize_file_name(const char *path)
{
	return realpath(path, NULL);
}
