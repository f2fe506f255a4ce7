/*
 * daemon/mirror.c: the local mirror of the NFS tree, and the only code
 * that touches it.
 *
 * Each mount's tree is mirrored under <cache>/<hash>/m<id> with the same
 * names, so that programs can use real kernel fds on it (stdio, mmap,
 * *at() calls all work natively). An entry whose content has not been
 * fetched is a *stub*: a dangling symlink into /proc/specnfs-unfetched/.
 * Anything that reaches a stub without the shim (a path the shim did not
 * translate) fails loudly with ENOENT, for root too, rather than reading an
 * empty file as if it were content; and O_CREAT through it cannot create
 * anything, since nothing can be created under /proc.
 *
 * The mirror holds what the server holds, including symbolic links with
 * the server's targets (the kernel follows them when a *program* opens a
 * mirror path, as it would on a kernel NFS mount) and FIFOs the daemon
 * made for FIFOs on the server (a FIFO is local to the client machine).
 * The daemon itself never follows a link and never leaves the mirror:
 * every operation here works on (mount, rel) through the mount's root
 * dirfd, opens the parent with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
 * and acts on the last name with an *at() call that does not follow it
 * (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, unlinkat, renameat). It opens nothing
 * but regular files (O_NONBLOCK, then an fstat type check), so a FIFO or
 * device in the mirror can never block or be driven by the daemon.
 *
 * Symbolic links in the middle of a client path are the client's to
 * resolve, as on a kernel NFS mount: the daemon never lets the server (or
 * libnfs) resolve them, and never fills the mirror below one. Before any
 * request runs (daemon/gate.c), each directory above its name
 * is looked up; a symlink among them is read and the path recomposed
 * (spn_link_compose: the link's directory, the target, the rest). A path
 * that stays on a mount is then served as that path (a relative link
 * inside the export reads what it points at); one that leaves every mount
 * (an absolute target such as "/", or enough ".." to climb out) is answered
 * with a redirect, and the shim redoes the call on that local path with
 * the program's own rights, as the kernel would have.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/daemon/internal.h"

#define STUB_DIR "/proc/specnfs-unfetched/"

int
spn_mirror_path(const struct spn_mount *m, const char *rel, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s", m->mirror, strcmp(rel, "/") == 0 ? "" : rel);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
spn_mirror_open_root(struct spn_mount *m)
{
	int fd = open(m->mirror, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (m->root_fd >= 0)
		close(m->root_fd);
	m->root_fd = fd;
	return 0;
}

/* Without openat2 (valgrind, old kernels): one component at a time, each
 * a directory opened with O_NOFOLLOW; ".." is refused. */
static int
beneath_walk(const struct spn_mount *m, const char *rel, int flags)
{
	char comp[NAME_MAX + 1];
	int fd = openat(m->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC), next;

	while (fd >= 0) {
		size_t n;

		while (*rel == '/')
			rel++;
		n = strcspn(rel, "/");
		if (n == 0)
			return fd; /* the root itself */
		if (n > NAME_MAX || (n == 2 && rel[0] == '.' && rel[1] == '.')) {
			close(fd);
			return n > NAME_MAX ? -ENAMETOOLONG : -ELOOP;
		}
		memcpy(comp, rel, n);
		comp[n] = '\0';
		rel += n;
		while (*rel == '/')
			rel++;
		if (*rel == '\0')
			next = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC);
		else
			next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return errno == ENOTDIR || errno == ELOOP ? -ELOOP : -errno;
		if (*rel == '\0')
			return next;
		fd = next;
	}
	return -errno;
}

/* openat2 beneath the mirror root, never through a symlink. */
static int
beneath(const struct spn_mount *m, const char *rel, int flags)
{
	static int no_openat2;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd;

	while (*rel == '/')
		rel++;
	if (*rel == '\0')
		rel = ".";
	if (no_openat2)
		return beneath_walk(m, rel, flags);
	fd = syscall(SYS_openat2, m->root_fd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		no_openat2 = 1;
		return beneath_walk(m, rel, flags);
	}
	if (fd < 0)
		return errno == ELOOP || errno == EXDEV ? -ELOOP : -errno;
	return (int)fd;
}

/*
 * The parent directory of rel as an O_PATH fd, and rel's last name in
 * name. -EINVAL for the root itself (it has no name to act on).
 */
static int
parent_fd(const struct spn_mount *m, const char *rel, char *name, size_t len)
{
	char dir[PATH_MAX];
	const char *s = strrchr(rel, '/');
	size_t n;

	if (s == NULL || s[1] == '\0' || strcmp(s + 1, ".") == 0 || strcmp(s + 1, "..") == 0)
		return -EINVAL;
	n = strlen(s + 1);
	if (n >= len || (size_t)(s - rel) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(name, s + 1, n + 1);
	memcpy(dir, rel, (size_t)(s - rel));
	dir[s - rel] = '\0';
	return beneath(m, dir, O_PATH | O_DIRECTORY);
}

int
spn_mirror_mkdirs(const struct spn_mount *m, const char *rel)
{
	char buf[PATH_MAX];
	char *p, *last;
	size_t n = strlen(rel);
	int fd, rc = 0;

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, n + 1);
	last = strrchr(buf, '/');
	if (last == NULL || last == buf)
		return 0;
	*last = '\0';
	/* Fast path: the parent is there already. */
	fd = beneath(m, buf, O_PATH | O_DIRECTORY);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	for (p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char c = *p;

			*p = '\0';
			rc = spn_mirror_mkdir(m, buf);
			*p = c;
			if (rc < 0 && rc != -EEXIST)
				return rc;
			if (c == '\0')
				break;
		}
	}
	fd = beneath(m, buf, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* The end of one call on fd: its result r as 0 or -errno, fd closed. */
static int
fd_done(int fd, int r)
{
	int rc = r < 0 ? -errno : 0;

	close(fd);
	return rc;
}

int
spn_mirror_mkdir(const struct spn_mount *m, const char *rel)
{
	char name[NAME_MAX + 1];
	int pfd = parent_fd(m, rel, name, sizeof(name));

	return pfd < 0 ? pfd : fd_done(pfd, mkdirat(pfd, name, 0700));
}

int
spn_mirror_lstat(const struct spn_mount *m, const char *rel, struct stat *st)
{
	char name[NAME_MAX + 1];
	int pfd;

	if (strcmp(rel, "/") == 0)
		return fstat(m->root_fd, st) < 0 ? -errno : 0;
	pfd = parent_fd(m, rel, name, sizeof(name));
	return pfd < 0 ? pfd : fd_done(pfd, fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW));
}

int
spn_mirror_open(const struct spn_mount *m, const char *rel, int flags, int mode)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int pfd, fd;

	pfd = parent_fd(m, rel, name, sizeof(name));
	if (pfd < 0)
		return pfd;
	/* O_NONBLOCK: a FIFO or device must not stop the daemon here. */
	fd = openat(pfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
	close(pfd);
	if (fd < 0)
		return errno == ENXIO || errno == ENODEV ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/*
 * Whether any process on this machine has rel open for writing: a read
 * lease (fcntl F_SETLEASE) is granted only when none has. 1: open for
 * writing, 0: not, <0: cannot tell (leases disabled, a file we do not own).
 * The lease is given back at once; a writer's open in that moment waits
 * for it (an O_NONBLOCK one gets EWOULDBLOCK), and the break's SIGIO is
 * ignored (main.c).
 */
int
spn_mirror_written(const struct spn_mount *m, const char *rel)
{
	int fd = spn_mirror_open(m, rel, O_RDONLY, 0), rc;

	if (fd < 0)
		return fd;
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		rc = 0;
	} else {
		rc = errno == EAGAIN ? 1 : -errno;
	}
	close(fd);
	return rc;
}

/* A directory of the mirror, opened for reading (never through a link). */
int
spn_mirror_open_dir(const struct spn_mount *m, const char *rel)
{
	return beneath(m, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

int
spn_mirror_create(const struct spn_mount *m, const char *rel, int mode)
{
	int fd = spn_mirror_open(m, rel, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd == -ELOOP || fd == -EINVAL || fd == -EEXIST) {
		/* A stub, a stale symlink or special file: replace it. */
		int rc = spn_mirror_remove(m, rel);

		if (rc < 0)
			return rc;
		fd = spn_mirror_open(m, rel, O_WRONLY | O_CREAT | O_TRUNC, mode);
	}
	return fd;
}

int
spn_mirror_truncate(const struct spn_mount *m, const char *rel, uint64_t size)
{
	int fd = spn_mirror_open(m, rel, O_WRONLY, 0);

	return fd < 0 ? fd : fd_done(fd, ftruncate(fd, (off_t)size));
}

int
spn_mirror_chmod(const struct spn_mount *m, const char *rel, int mode)
{
	int fd = spn_mirror_open(m, rel, O_RDONLY, 0);

	return fd < 0 ? fd : fd_done(fd, fchmod(fd, (mode_t)mode));
}

int
spn_mirror_utimens(const struct spn_mount *m, const char *rel, const struct timespec ts[2])
{
	char name[NAME_MAX + 1];
	int pfd = parent_fd(m, rel, name, sizeof(name));

	return pfd < 0 ? pfd : fd_done(pfd, utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW));
}

int
spn_mirror_watch(const struct spn_mount *m, const char *rel, int ino_fd, uint32_t mask)
{
	char proc[64];
	int fd = beneath(m, rel, O_PATH | O_NOFOLLOW), wd;
	struct stat st;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(ino_fd, proc, mask);
	if (wd < 0)
		wd = -errno;
	close(fd);
	return wd;
}

/* Move a file the daemon made in tmp (its own directory) to rel. */
int
spn_mirror_install(const struct spn_mount *m, const char *tmp, const char *rel)
{
	char name[NAME_MAX + 1];
	int pfd, rc = 0;

	rc = spn_mirror_mkdirs(m, rel);
	if (rc < 0)
		return rc;
	pfd = parent_fd(m, rel, name, sizeof(name));
	if (pfd < 0)
		return pfd;
	if (renameat(AT_FDCWD, tmp, pfd, name) < 0) {
		rc = -errno;
		if (rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST) {
			/* A directory became something else on the server. */
			rc = spn_mirror_remove(m, rel);
			if (rc == 0 && renameat(AT_FDCWD, tmp, pfd, name) < 0)
				rc = -errno;
		}
	}
	close(pfd);
	return rc;
}

int
spn_mirror_rename(const struct spn_mount *m, const char *from, const char *to)
{
	char n1[NAME_MAX + 1], n2[NAME_MAX + 1];
	int p1, p2, rc = 0;

	rc = spn_mirror_mkdirs(m, to);
	if (rc < 0)
		return rc;
	p1 = parent_fd(m, from, n1, sizeof(n1));
	if (p1 < 0)
		return p1;
	p2 = parent_fd(m, to, n2, sizeof(n2));
	if (p2 < 0) {
		close(p1);
		return p2;
	}
	if (renameat(p1, n1, p2, n2) < 0)
		rc = -errno;
	close(p1);
	close(p2);
	return rc;
}

/* A symlink to target or, target NULL, a FIFO, made under a fresh name in
 * tmpdir and renamed to rel. */
static int
install_special(const struct spn_mount *m, const char *tmpdir, const char *rel,
		const char *target)
{
	static unsigned long seq;
	char tmp[PATH_MAX];
	int n, rc;

	n = snprintf(tmp, sizeof(tmp), "%s/%s.%d.%lu", tmpdir, target != NULL ? "link" : "fifo",
		     (int)getpid(), ++seq);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	if ((target != NULL ? symlink(target, tmp) : mkfifo(tmp, 0600)) < 0)
		return -errno;
	rc = spn_mirror_install(m, tmp, rel);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int
spn_mirror_symlink(const struct spn_mount *m, const char *tmpdir, const char *rel,
		   const char *target)
{
	return install_special(m, tmpdir, rel, target);
}

/* A FIFO for a FIFO on the server: the program's open uses it (a FIFO is
 * local to the client machine). The daemon never opens it. */
int
spn_mirror_mkfifo(const struct spn_mount *m, const char *tmpdir, const char *rel)
{
	return install_special(m, tmpdir, rel, NULL);
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

/* Replace whatever is at rel by a stub (directories are never stubs).
 * Built in tmpdir and renamed into place: the name never goes missing. */
int
spn_mirror_stub(const struct spn_mount *m, const char *tmpdir, const char *rel, uint32_t type)
{
	char target[64];

	snprintf(target, sizeof(target), STUB_DIR "%s", type_name(type));
	return spn_mirror_symlink(m, tmpdir, rel, target);
}

/* rel's symlink target into buf (NUL-terminated): its length, or -errno. */
int
spn_mirror_readlink(const struct spn_mount *m, const char *rel, char *buf, size_t len)
{
	char name[NAME_MAX + 1];
	int pfd = parent_fd(m, rel, name, sizeof(name));
	ssize_t n;

	if (pfd < 0)
		return pfd;
	n = readlinkat(pfd, name, buf, len - 1);
	close(pfd);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return (int)n;
}

int
spn_mirror_is_stub(const struct spn_mount *m, const char *rel)
{
	char buf[64];

	if (spn_mirror_readlink(m, rel, buf, sizeof(buf)) < 0)
		return 0;
	return strncmp(buf, STUB_DIR, sizeof(STUB_DIR) - 1) == 0;
}

/* Empty the directory dfd (consumed), never following a link. */
static int
rm_tree_fd(int dfd, int depth)
{
	DIR *dir;
	struct dirent *de;
	int rc = 0;

	if (depth > 256) {
		close(dfd);
		return -ELOOP;
	}
	dir = fdopendir(dfd);
	if (dir == NULL) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while ((de = readdir(dir)) != NULL) {
		int sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			rc = -errno;
			continue;
		}
		sub = openat(dirfd(dir), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (sub < 0) {
			rc = -errno;
			continue;
		}
		if (rm_tree_fd(sub, depth + 1) < 0)
			rc = -EIO;
		if (unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			rc = -errno;
	}
	closedir(dir);
	return rc;
}

int
spn_mirror_remove(const struct spn_mount *m, const char *rel)
{
	char name[NAME_MAX + 1];
	int pfd, sub, rc = 0;

	pfd = parent_fd(m, rel, name, sizeof(name));
	if (pfd < 0)
		return pfd == -ENOENT || pfd == -ENOTDIR ? 0 : pfd;
	if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
		goto out;
	if (errno != EISDIR && errno != EPERM) {
		rc = -errno;
		goto out;
	}
	sub = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (sub < 0) {
		rc = -errno;
		goto out;
	}
	rc = rm_tree_fd(sub, 0);
	if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
out:
	close(pfd);
	return rc;
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
