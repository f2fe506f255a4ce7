/*
 * shim/fd.c: the table of files open for writing on the mirror, whose
 * last close the daemon must hear of (write-back before close returns:
 * close-to-open) -- tracked by fd across dup and exec (SPECNFS_FDS), and
 * reported at exit for the fds the kernel closes.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/shim/internal.h"

/*
 * Tracked fds: those opened for writing on the mirror. A small array
 * indexed by fd with the NFS path malloc'd (never in a vfork child: a
 * vfork child does not open files for writing through us).
 */
#define FD_TRACK_MAX 65536
static char *fd_paths[FD_TRACK_MAX];
static int fd_high = -1; /* highest tracked fd: scans stop there */
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

void
spn_fd_track(int fd, const char *nfs, int written)
{
	char *p, *old;

	if (fd < 0 || fd >= FD_TRACK_MAX || !written)
		return;
	spn_shim_busy++;
	p = strdup(nfs);
	pthread_mutex_lock(&fd_lock);
	old = fd_paths[fd];
	fd_paths[fd] = p;
	if (fd > fd_high)
		fd_high = fd;
	pthread_mutex_unlock(&fd_lock);
	free(old);
	spn_shim_busy--;
}

/* Another tracked fd (a dup) still names this file? Called locked. */
static int
shared_locked(const char *path)
{
	int i;

	for (i = 0; i <= fd_high; i++)
		if (fd_paths[i] != NULL && strcmp(fd_paths[i], path) == 0)
			return 1;
	return 0;
}

int
spn_fd_untrack(int fd, char *nfs, size_t len)
{
	char *p;
	int last;

	if (fd < 0 || fd >= FD_TRACK_MAX || fd_paths[fd] == NULL)
		return 0;
	pthread_mutex_lock(&fd_lock);
	p = fd_paths[fd];
	fd_paths[fd] = NULL;
	last = p != NULL && !shared_locked(p);
	pthread_mutex_unlock(&fd_lock);
	if (p == NULL)
		return 0;
	snprintf(nfs, len, "%s", p);
	spn_shim_busy++;
	free(p);
	spn_shim_busy--;
	/* Only the last close of a file's fds is the one to report. */
	return last;
}

int
spn_fd_tracked(int fd, char *nfs, size_t len)
{
	int found = 0;

	if (fd < 0 || fd >= FD_TRACK_MAX || fd_paths[fd] == NULL)
		return 0;
	pthread_mutex_lock(&fd_lock);
	if (fd_paths[fd] != NULL) {
		snprintf(nfs, len, "%s", fd_paths[fd]);
		found = 1;
	}
	pthread_mutex_unlock(&fd_lock);
	return found;
}

void
spn_fd_dup(int oldfd, int newfd)
{
	char nfs[SPN_PATH_MAX];

	if (newfd >= 0 && spn_fd_tracked(oldfd, nfs, sizeof(nfs)))
		spn_fd_track(newfd, nfs, 1);
}

/*
 * At exit, files still open for writing are closed by the kernel, which we
 * never see: report them now, while their content is complete, so that
 * close-to-open holds for `cmd > /nfs/file` too.
 */
static void
report_all(void)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int i;

	for (i = 0; i <= fd_high; i++) {
		uint32_t flags = SPN_F_UNMAPPED;
		int k;

		if (fd_paths[i] == NULL)
			continue;
		snprintf(nfs, sizeof(nfs), "%s", fd_paths[i]);
		/* Forget every fd of this file, then report it once. */
		for (k = i; k <= fd_high; k++) {
			if (fd_paths[k] != NULL && strcmp(fd_paths[k], nfs) == 0) {
				flags &= spn_fd_unmapped(k);
				free(fd_paths[k]);
				fd_paths[k] = NULL;
			}
		}
		spn_call_path(SPN_OP_CLOSE, nfs, SPN_F_WRITTEN | flags, 0, &rep);
	}
}

/* SPN_F_UNMAPPED if fd is open write-only: no shared mapping can have been
 * made through it (mmap needs read access), so every write through it was
 * a write(2) and showed as one (the daemon's IN_MODIFY watch). */
uint32_t
spn_fd_unmapped(int fd)
{
	long fl = syscall(SYS_fcntl, fd, F_GETFL);

	return fl >= 0 && (fl & O_ACCMODE) == O_WRONLY ? SPN_F_UNMAPPED : 0;
}

__attribute__((destructor)) static void
shim_dtor(void)
{
	report_all();
}

/*
 * _exit and _Exit skip the destructors: dash ends every shell with _exit,
 * so `exec 5>/nfs/log` in a script would reach the server only when the
 * daemon's inotify watch notices (close-to-open broken for that moment).
 * Report first, as exit() does; then end as glibc's _exit does. Not in a
 * vfork child: its table is its parent's memory.
 */
SPN_EXPORT void
_exit(int status)
{
	if (!spn_in_vfork_child())
		report_all();
	for (;;)
		syscall(SYS_exit_group, status);
}

SPN_EXPORT void _Exit(int status) __attribute__((alias("_exit")));

int
spn_fd_nfs_path(int fd, char *nfs, size_t len)
{
	char link[64], target[PATH_MAX];
	ssize_t n;
	long r;

	if (spn_fd_tracked(fd, nfs, len))
		return 1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (spn_spec_direct(SYS_readlinkat, AT_FDCWD, (long)link, (long)target, sizeof(target) - 1,
			    &r))
		n = r;
	else
		n = REAL(readlinkat)(AT_FDCWD, link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return spn_mirror_to_nfs(target, nfs, len);
}

/*
 * Files open for writing survive exec as inherited fds (`cmd > /nfs/f`
 * runs cmd with fd 1 on the mirror). The exec wrappers pass the table on
 * in SPECNFS_FDS ("fd=nfs-path" lines) so that the new program reports its
 * last close, or its exit, like the one that opened them.
 */
size_t
spn_fd_env(char *buf, size_t len)
{
	static const char head[] = "SPECNFS_FDS=";
	size_t n = sizeof(head) - 1;
	int i;

	if (buf != NULL && len > n)
		memcpy(buf, head, n);
	for (i = 0; i <= fd_high; i++) {
		const char *p = fd_paths[i];
		char num[16];
		size_t pl, nl = 0;
		long fl;
		int v = i;

		if (p == NULL)
			continue;
		fl = syscall(SYS_fcntl, i, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;
		do {
			num[nl++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		pl = strlen(p);
		if (buf != NULL && n + nl + pl + 3 <= len) {
			size_t k;

			for (k = 0; k < nl; k++)
				buf[n + k] = num[nl - 1 - k];
			buf[n + nl] = '=';
			memcpy(buf + n + nl + 1, p, pl);
			buf[n + nl + 1 + pl] = '\n';
		}
		n += nl + pl + 2;
	}
	if (buf != NULL && n < len)
		buf[n] = '\0';
	return n + 1;
}

void
spn_fd_import(void)
{
	const char *v = getenv("SPECNFS_FDS");

	if (v == NULL || *v == '\0')
		return;
	spn_shim_busy++;
	while (*v != '\0') {
		const char *nl = strchr(v, '\n'), *eq = strchr(v, '=');
		char path[SPN_PATH_MAX], now[SPN_PATH_MAX];
		size_t len;
		int fd;

		if (nl == NULL)
			nl = v + strlen(v);
		if (eq == NULL || eq > nl)
			break;
		fd = atoi(v);
		len = (size_t)(nl - eq - 1);
		if (len < sizeof(path)) {
			memcpy(path, eq + 1, len);
			path[len] = '\0';
			spn_shim_busy--;
			/* Only if the fd still is that file's mirror copy. */
			if (spn_shim_ready() && spn_fd_nfs_path(fd, now, sizeof(now)) == 1 &&
			    strcmp(now, path) == 0)
				spn_fd_track(fd, path, 1);
			spn_shim_busy++;
		}
		v = *nl ? nl + 1 : nl;
	}
	spn_shim_busy--;
}
