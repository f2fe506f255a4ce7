/*
 * shim/open.c: the open family (open, openat, creat, fopen, freopen, their
 * 64-bit and fortified names), close/fclose (write-back before close
 * returns: close-to-open), the mkstemp family, and dup/dup2/dup3/fcntl
 * (a duplicate of a file open for writing shares its last close).
 *
 * Every name funnels into spn_open_at(): ask the daemon to make the entry
 * valid in the mirror (it fetches content, creates on the server, journals a
 * file opened for writing), then open the mirror path for real.
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
#include <time.h>
#include <unistd.h>

#include "client/shim/internal.h"

/* The process's umask, without changing it (Linux >= 4.7 shows it). */
int
spn_umask(void)
{
	char buf[2048];
	int fd, mask = 022;
	ssize_t n;

	fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mask;
	n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	if (n > 0) {
		char *p;

		buf[n] = '\0';
		p = strstr(buf, "Umask:");
		if (p != NULL)
			mask = (int)strtol(p + 6, NULL, 8);
	}
	return mask;
}

/* Open (dirfd, path) on NFS. Returns the fd, or -errno. 0 in *handled means
 * "not an NFS path": the caller opens it for real. */
static int
nfs_open(int dirfd, const char *path, int flags, mode_t mode, int *handled)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc, fd, acc = flags & O_ACCMODE, written;

	*handled = 0;
	if (spn_shim_busy)
		return 0;
	rc = spn_nfs_path(dirfd, path, nfs, sizeof(nfs));
	if (rc == 0)
		return 0;
	*handled = 1;
	if (rc < 0)
		return rc;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return -EOPNOTSUPP;
	/* The client applies the umask, as the kernel's NFS client does. */
	if (flags & O_CREAT)
		mode &= (mode_t)~spn_umask();
	rc = spn_call_path(SPN_OP_OPEN, nfs, (uint32_t)flags,
			   (flags & O_CREAT) ? (uint32_t)(mode & 07777) : 0, &rep);
	if (spn_take_redirect(rc, rep.path, sizeof(rep.path)))
		rc = 0;
	if (rc < 0)
		return rc;
	if (!spn_in_mirror(rep.path)) {
		/* A symlink led off NFS: the program opens the local path
		 * itself, with its own rights, as on a kernel mount. */
		fd = REAL(openat)(AT_FDCWD, rep.path, flags, mode);
		return fd < 0 ? -errno : fd;
	}
	/* The daemon created, truncated and checked exclusivity already.
	 * A caller that cannot open the daemon's mirror got the file open
	 * from the daemon (shim/cred.c). */
	fd = spn_cred_take_fd(flags);
	if (fd < 0)
		fd = REAL(openat)(AT_FDCWD, rep.path, flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW),
				  0600);
	if (fd < 0)
		return -errno;
	written = (acc != O_RDONLY || (flags & O_TRUNC)) && rep.attr.type == S_IFREG;
	/* Tracked under the path the daemon resolved (a symlink above the
	 * name is followed there): that is the file the close stores. */
	if (written && spn_mirror_to_nfs(rep.path, nfs, sizeof(nfs)) >= 0)
		spn_fd_track(fd, nfs, 1);
	return fd;
}

static int
open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	int handled, fd = nfs_open(dirfd, path, flags, mode, &handled);
	long r;

	if (!handled) {
		if (spn_spec_direct(SYS_openat, dirfd, (long)path, flags, mode, &r))
			return (int)spn_direct_ret(r);
		return REAL(openat)(dirfd, path, flags, mode);
	}
	return fd < 0 ? spn_fail(fd) : fd;
}

static mode_t
va_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

/* open, open64, openat, openat64: the mode argument is there only when
 * flags create a file. AT is openat's extra first parameter. */
#define AT int dirfd,
#define OPEN_VA(name, at, dir, more_flags)                                                \
	SPN_EXPORT int name(at const char *path, int flags, ...)                          \
	{                                                                                 \
		va_list ap;                                                               \
		mode_t mode;                                                              \
                                                                                          \
		va_start(ap, flags);                                                      \
		mode = va_mode(flags, ap);                                                \
		va_end(ap);                                                               \
		return open_common(dir, path, flags | (more_flags), mode);                \
	}

OPEN_VA(open, , AT_FDCWD, 0)
OPEN_VA(open64, , AT_FDCWD, O_LARGEFILE)
OPEN_VA(openat, AT, dirfd, 0)
OPEN_VA(openat64, AT, dirfd, O_LARGEFILE)

/* Fortified names (_FORTIFY_SOURCE, no O_CREAT). */
SPN_EXPORT int
__open_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags, 0);
}

SPN_EXPORT int
__open64_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}

SPN_EXPORT int
__openat_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags, 0);
}

SPN_EXPORT int
__openat64_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags | O_LARGEFILE, 0);
}

SPN_EXPORT int
creat(const char *path, mode_t mode)
{
	return open_common(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

SPN_EXPORT int
creat64(const char *path, mode_t mode)
{
	return open_common(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_LARGEFILE, mode);
}

/* ------------------------------------------------------------ close */

/* After the real close of a file written on NFS: the daemon writes it
 * back and only then does close return (close-to-open), with the
 * server's error if the write-back failed. */
static int
report_close(const char *nfs, int rc, uint32_t flags)
{
	struct spn_reply rep;
	int saved = errno, st;

	st = spn_call_path(SPN_OP_CLOSE, nfs, SPN_F_WRITTEN | flags, 0, &rep);
	if (rc == 0 && st < 0)
		return spn_fail(st);
	errno = saved;
	return rc;
}

SPN_EXPORT int
close(int fd)
{
	char nfs[SPN_PATH_MAX];
	uint32_t flags;
	int rc;
	long r;

	if (spn_shim_busy || !spn_fd_untrack(fd, nfs, sizeof(nfs))) {
		if (!spn_shim_busy && spn_spec_direct(SYS_close, fd, 0, 0, 0, &r))
			return (int)spn_direct_ret(r);
		return REAL(close)(fd);
	}
	flags = spn_fd_unmapped(fd);
	rc = REAL(close)(fd);
	return report_close(nfs, rc, flags);
}

/*
 * fsync and fdatasync of a file written on NFS return once the server has
 * it, as on a kernel mount (the mirror copy's own sync is not enough: a
 * database or git that syncs counts on the server). A speculative process
 * resolves first, so that what a discarded execution wrote never reaches
 * the server.
 */
static int
sync_common(int fd, int data)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc, st;

	rc = data ? REAL(fdatasync)(fd) : REAL(fsync)(fd);
	if (rc < 0 || spn_shim_busy || !spn_fd_tracked(fd, nfs, sizeof(nfs)))
		return rc;
	spn_spec_barrier();
	st = spn_call_path(SPN_OP_FSYNC, nfs, 0, 0, &rep);
	return st < 0 ? spn_fail(st) : 0;
}

SPN_EXPORT int
fsync(int fd)
{
	return sync_common(fd, 0);
}

SPN_EXPORT int
fdatasync(int fd)
{
	return sync_common(fd, 1);
}

/* ------------------------------------------------------------ stdio */

/* fopen's mode string as open(2) flags. */
static int
mode_flags(const char *m, char *real, size_t len)
{
	int flags;
	size_t o = 0;

	switch (*m) {
	case 'r': flags = O_RDONLY; break;
	case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
	default: return -EINVAL;
	}
	for (; *m != '\0' && o + 1 < len; m++) {
		switch (*m) {
		case '+': flags = (flags & ~O_ACCMODE) | O_RDWR; break;
		case 'x': flags |= O_EXCL; continue; /* checked by the daemon */
		case 'e': flags |= O_CLOEXEC; break;
		default: break;
		}
		real[o++] = *m;
	}
	real[o] = '\0';
	return flags;
}

/* Open path for stdio: ask the daemon as open() would, then let the real
 * fopen/freopen open the mirror path. */
static FILE *
fopen_common(const char *path, const char *mode, FILE *reopen)
{
	char nfs[SPN_PATH_MAX], realmode[16];
	struct spn_reply rep;
	FILE *f;
	int rc, flags;

	if (spn_shim_busy || path == NULL ||
	    (rc = spn_nfs_path(AT_FDCWD, path, nfs, sizeof(nfs))) == 0)
		return reopen ? REAL(freopen)(path, mode, reopen) : REAL(fopen)(path, mode);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	flags = mode_flags(mode, realmode, sizeof(realmode));
	if (flags < 0) {
		errno = EINVAL;
		return NULL;
	}
	rc = spn_call_path(SPN_OP_OPEN, nfs, (uint32_t)flags,
			   (flags & O_CREAT) ? (uint32_t)(0666 & ~spn_umask()) : 0, &rep);
	if (spn_take_redirect(rc, rep.path, sizeof(rep.path)))
		rc = 0;
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	if (!spn_in_mirror(rep.path))
		/* Off NFS through a symlink: the local file, opened as asked. */
		return reopen ? REAL(freopen)(rep.path, mode, reopen) : REAL(fopen)(rep.path, mode);
	{
		int pfd = spn_cred_take_fd(O_CLOEXEC);

		if (pfd >= 0 && reopen == NULL) {
			/* Handed over by the daemon (shim/cred.c). */
			if (!(flags & O_CLOEXEC))
				fcntl(pfd, F_SETFD, 0);
			f = fdopen(pfd, realmode);
			if (f == NULL)
				REAL(close)(pfd);
		} else {
			if (pfd >= 0)
				REAL(close)(pfd);
			f = reopen ? REAL(freopen)(rep.path, realmode, reopen)
				   : REAL(fopen)(rep.path, realmode);
		}
	}
	if (f != NULL && (flags & O_ACCMODE) != O_RDONLY && rep.attr.type == S_IFREG &&
	    spn_mirror_to_nfs(rep.path, nfs, sizeof(nfs)) >= 0)
		spn_fd_track(fileno(f), nfs, 1);
	return f;
}

SPN_EXPORT FILE *
fopen(const char *path, const char *mode)
{
	return fopen_common(path, mode, NULL);
}

SPN_EXPORT FILE *
fopen64(const char *path, const char *mode)
{
	return fopen_common(path, mode, NULL);
}

SPN_EXPORT FILE *
freopen(const char *path, const char *mode, FILE *f)
{
	char nfs[SPN_PATH_MAX];

	/* The stream's old file is closed by freopen: report it. */
	if (!spn_shim_busy && f != NULL && spn_fd_untrack(fileno(f), nfs, sizeof(nfs))) {
		FILE *r;

		fflush(f);
		report_close(nfs, 0, 0);
		r = fopen_common(path, mode, f);
		return r;
	}
	return fopen_common(path, mode, f);
}

SPN_EXPORT FILE *
freopen64(const char *path, const char *mode, FILE *f)
{
	return freopen(path, mode, f);
}

SPN_EXPORT int
fclose(FILE *f)
{
	char nfs[SPN_PATH_MAX];
	uint32_t flags;
	int rc;

	if (spn_shim_busy || f == NULL || !spn_fd_untrack(fileno(f), nfs, sizeof(nfs)))
		return REAL(fclose)(f);
	flags = spn_fd_unmapped(fileno(f));
	rc = REAL(fclose)(f);
	return report_close(nfs, rc == 0 ? 0 : -1, flags) == 0 ? rc : EOF;
}

/* ------------------------------------------------------------ temp files */

static const char tmp_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static void
fill_x(char *x, size_t n)
{
	static uint64_t state;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	state ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() << 32;
	while (n-- > 0) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		*x++ = tmp_chars[state % (sizeof(tmp_chars) - 1)];
	}
}

/* mkstemp and friends on NFS: glibc's call an internal open we never see. */
static int
mkstemp_common(char *tmpl, int suffixlen, int flags, int dir)
{
	char nfs[SPN_PATH_MAX];
	size_t len;
	char *x;
	int tries, rc;

	if (spn_shim_busy || (rc = spn_nfs_path(AT_FDCWD, tmpl, nfs, sizeof(nfs))) == 0)
		return -ENOSYS; /* not ours */
	len = strlen(tmpl);
	if (rc < 0)
		return rc;
	if (suffixlen < 0 || len < (size_t)suffixlen + 6 ||
	    strncmp(tmpl + len - suffixlen - 6, "XXXXXX", 6) != 0)
		return -EINVAL;
	x = tmpl + len - suffixlen - 6;
	for (tries = 0; tries < 100; tries++) {
		int handled, fd;

		fill_x(x, 6);
		if (dir) {
			struct spn_reply rep;

			if (spn_nfs_path(AT_FDCWD, tmpl, nfs, sizeof(nfs)) != 1)
				return -EINVAL;
			rc = spn_call_path(SPN_OP_MKDIR, nfs, 0, 0700, &rep);
			if (rc == -EEXIST)
				continue;
			return rc;
		}
		fd = nfs_open(AT_FDCWD, tmpl, O_RDWR | O_CREAT | O_EXCL | flags, 0600, &handled);
		if (fd == -EEXIST)
			continue;
		return fd;
	}
	return -EEXIST;
}

#define MKSTEMP_WRAPPER(name, params, call_args, real_args)                    \
	SPN_EXPORT int name params                                             \
	{                                                                      \
		int fd = mkstemp_common call_args;                             \
                                                                               \
		if (fd != -ENOSYS)                                             \
			return fd < 0 ? spn_fail(fd) : fd;                     \
		return REAL(name) real_args;                                   \
	}

MKSTEMP_WRAPPER(mkstemp, (char *t), (t, 0, 0, 0), (t))
MKSTEMP_WRAPPER(mkstemp64, (char *t), (t, 0, 0, 0), (t))
MKSTEMP_WRAPPER(mkostemp, (char *t, int fl), (t, 0, fl, 0), (t, fl))
MKSTEMP_WRAPPER(mkostemp64, (char *t, int fl), (t, 0, fl, 0), (t, fl))
MKSTEMP_WRAPPER(mkstemps, (char *t, int sl), (t, sl, 0, 0), (t, sl))
MKSTEMP_WRAPPER(mkstemps64, (char *t, int sl), (t, sl, 0, 0), (t, sl))
MKSTEMP_WRAPPER(mkostemps, (char *t, int sl, int fl), (t, sl, fl, 0), (t, sl, fl))
MKSTEMP_WRAPPER(mkostemps64, (char *t, int sl, int fl), (t, sl, fl, 0), (t, sl, fl))

SPN_EXPORT char *
mkdtemp(char *tmpl)
{
	int rc = mkstemp_common(tmpl, 0, 0, 1);

	if (rc == 0)
		return tmpl;
	if (rc != -ENOSYS) {
		errno = -rc;
		return NULL;
	}
	return REAL(mkdtemp)(tmpl);
}

/* ------------------------------------------------------------ dup */

/* A duplicate of a file open for writing shares its last close; a dup2
 * onto such a file's fd is a close of that fd. */
static int
dup_done(int oldfd, int newfd, int closed_tracked, const char *closed)
{
	if (newfd >= 0 && oldfd != newfd)
		spn_fd_dup(oldfd, newfd);
	if (closed_tracked)
		report_close(closed, 0, 0); /* that fd is another file now */
	return newfd;
}

SPN_EXPORT int
dup(int fd)
{
	return spn_shim_busy ? REAL(dup)(fd) : dup_done(fd, REAL(dup)(fd), 0, NULL);
}

static int
dup3_common(int oldfd, int newfd, int flags, int plain)
{
	char nfs[SPN_PATH_MAX];
	int was = 0, rc;

	rc = plain ? REAL(dup2)(oldfd, newfd) : REAL(dup3)(oldfd, newfd, flags);
	if (spn_shim_busy)
		return rc;
	if (rc < 0 || oldfd == newfd)
		return rc;
	was = spn_fd_untrack(newfd, nfs, sizeof(nfs));
	return dup_done(oldfd, rc, was, nfs);
}

SPN_EXPORT int
dup2(int oldfd, int newfd)
{
	return dup3_common(oldfd, newfd, 0, 1);
}

SPN_EXPORT int
dup3(int oldfd, int newfd, int flags)
{
	return dup3_common(oldfd, newfd, flags, 0);
}

SPN_EXPORT int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, cmd);
	arg = va_arg(ap, void *); /* as glibc does: every argument fits */
	va_end(ap);
	rc = REAL(fcntl)(fd, cmd, arg);
	if (!spn_shim_busy && rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		spn_fd_dup(fd, rc);
	return rc;
}

SPN_EXPORT int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}
