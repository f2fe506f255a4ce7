/*
 * spec/sud_rules.c - what each syscall is during an epoch: the
 * classification table and the rules that look closer at a call's
 * arguments (its fd, its path, its flags) before the handler (spec/sud.c)
 * re-issues it (A_LOCAL), answers it (A_DONE, output buffered by
 * spec/sud_buffer.c, signal state emulated by spec/sud_signals.c), or
 * resolves the epoch first (A_BARRIER).
 *
 * One concept in one table: anything not listed is a barrier, so a syscall
 * added to the kernel after the table was written is safe by default.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/prctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "client/spec/sud_internal.h"

/* Syscalls newer than bookworm's headers (x86-64 numbers are stable). */
#define SUD_NR_close_range 436
#define SUD_NR_openat2 437
#define SUD_NR_faccessat2 439
#define SUD_NR_epoll_pwait2 441
#define SUD_NR_futex_waitv 449
#define SUD_NR_fchmodat2 452
#define SUD_NR_MAX 512

/* ------------------------------------------------------------ the table */

enum {
	C_BARRIER = 0, /* the default for every syscall not listed */
	C_LOCAL,
	C_FDOBS,   /* local unless its fd is a file with buffered output */
	C_READ,
	C_WRITE,
	C_WRITEV,
	C_PWRITE,
	C_PWRITEV,
	C_PWRITEV2,
	C_SENDTO,
	C_SENDMSG,
	C_OPEN,
	C_PIPE,    /* a new pipe: its reads are ours to speculate on */
	C_STAT,    /* by path: local unless it names a file with buffered output */
	C_PATHMUT, /* mutation by path: local in the mirror */
	C_FDMUT,   /* mutation by fd: local in the mirror */
	C_CLOSE,
	C_CLOSE_RANGE,
	C_DUP2,
	C_KILL,
	C_TKILL,
	C_TGKILL,
	C_SIGQUEUE,
	C_TGSIGQUEUE,
	C_SIGACTION,
	C_SIGPROCMASK,
	C_SIGRETURN,
	C_SIGALTSTACK,
	C_IOCTL,
	C_FCNTL,
	C_POLL,
	C_PPOLL,
	C_SELECT,
	C_PSELECT,
	C_EPOLL_WAIT,
	C_EPOLL_PWAIT,
	C_EPOLL_PWAIT2,
	C_PRCTL,
	C_MMAP,
	C_PRLIMIT,
	C_SCHEDSET, /* sched_set*(pid, ...): local for ourselves */
	C_COPY,     /* copy_file_range, sendfile: a read and a write */
};

/* fd/path argument positions; -1: none (for dirfd: AT_FDCWD). */
struct sud_rule {
	uint8_t cls;
	int8_t fd, dirfd, path, dirfd2, path2, flags;
	int8_t fd2; /* C_COPY: the fd written to */
};

#define R_ALL(c, f, d, p, d2, p2, fl)                                                     \
	{                                                                                 \
		.cls = (c), .fd = (f), .dirfd = (d), .path = (p), .dirfd2 = (d2),         \
		.path2 = (p2), .flags = (fl)                                              \
	}
#define R_CLS(c) R_ALL(c, -1, -1, -1, -1, -1, -1)
#define R_LOCAL R_CLS(C_LOCAL)
#define R_FD(c, f) R_ALL(c, f, -1, -1, -1, -1, -1)
#define R_PATH(c, d, p, fl) R_ALL(c, -1, d, p, -1, -1, fl)
#define R_PATH2(c, d, p, d2, p2) R_ALL(c, -1, d, p, d2, p2, -1)
#define R_COPY(in, out)                                                                   \
	{                                                                                 \
		.cls = C_COPY, .fd = (in), .dirfd = -1, .path = -1, .dirfd2 = -1,         \
		.path2 = -1, .flags = -1, .fd2 = (out)                                    \
	}

/*
 * What each syscall is during an epoch. Anything not listed is a barrier:
 * fork, vfork, clone, clone3, execve(at), exit, exit_group, wait4, waitid,
 * nanosleep, pause, rt_sigsuspend, rt_sigtimedwait, recv*, accept*,
 * connect, bind, listen, shutdown, sendmmsg, splice, flock, io_uring, ptrace, setsid, setpgid,
 * restart_syscall, and every syscall added after this table was written.
 */
static const struct sud_rule sud_rules[SUD_NR_MAX] = {
	/* memory, identity, time, scheduling, process-local state */
	[SYS_brk] = R_LOCAL, [SYS_munmap] = R_LOCAL, [SYS_mprotect] = R_LOCAL,
	[SYS_madvise] = R_LOCAL, [SYS_mremap] = R_LOCAL, [SYS_msync] = R_LOCAL,
	[SYS_mincore] = R_LOCAL, [SYS_mlock] = R_LOCAL, [SYS_munlock] = R_LOCAL,
	[SYS_mlockall] = R_LOCAL, [SYS_munlockall] = R_LOCAL, [SYS_mlock2] = R_LOCAL,
	[SYS_pkey_mprotect] = R_LOCAL, [SYS_pkey_alloc] = R_LOCAL, [SYS_pkey_free] = R_LOCAL,
	[SYS_membarrier] = R_LOCAL, [SYS_get_mempolicy] = R_LOCAL,
	[SYS_getpid] = R_LOCAL, [SYS_getppid] = R_LOCAL, [SYS_gettid] = R_LOCAL,
	[SYS_getuid] = R_LOCAL, [SYS_geteuid] = R_LOCAL, [SYS_getgid] = R_LOCAL,
	[SYS_getegid] = R_LOCAL, [SYS_getgroups] = R_LOCAL, [SYS_getresuid] = R_LOCAL,
	[SYS_getresgid] = R_LOCAL, [SYS_getpgrp] = R_LOCAL, [SYS_getpgid] = R_LOCAL,
	[SYS_getsid] = R_LOCAL, [SYS_capget] = R_LOCAL,
	/* set*id are barriers (not listed): a process that dropped its ids
	 * can no longer signal its checkpoint copy, nor does the kernel send
	 * that copy its PDEATHSIG, so an epoch must not span the change. */
	[SYS_uname] = R_LOCAL, [SYS_sysinfo] = R_LOCAL, [SYS_times] = R_LOCAL,
	[SYS_getrusage] = R_LOCAL, [SYS_getrlimit] = R_LOCAL, [SYS_setrlimit] = R_LOCAL,
	[SYS_getpriority] = R_LOCAL, [SYS_personality] = R_LOCAL,
	[SYS_clock_gettime] = R_LOCAL, [SYS_clock_getres] = R_LOCAL,
	[SYS_gettimeofday] = R_LOCAL, [SYS_time] = R_LOCAL, [SYS_getrandom] = R_LOCAL,
	[SYS_sched_yield] = R_LOCAL, [SYS_sched_getaffinity] = R_LOCAL,
	[SYS_sched_getparam] = R_LOCAL, [SYS_sched_getscheduler] = R_LOCAL,
	[SYS_sched_get_priority_max] = R_LOCAL, [SYS_sched_get_priority_min] = R_LOCAL,
	[SYS_sched_rr_get_interval] = R_LOCAL, [SYS_sched_getattr] = R_LOCAL,
	[SYS_getcpu] = R_LOCAL, [SYS_futex] = R_LOCAL, [SUD_NR_futex_waitv] = R_LOCAL,
	[SYS_set_robust_list] = R_LOCAL, [SYS_get_robust_list] = R_LOCAL,
	[SYS_set_tid_address] = R_LOCAL, [SYS_rseq] = R_LOCAL, [SYS_arch_prctl] = R_LOCAL,
	[SYS_modify_ldt] = R_LOCAL, [SYS_umask] = R_LOCAL, [SYS_chdir] = R_LOCAL,
	[SYS_getcwd] = R_LOCAL, [SYS_rt_sigpending] = R_LOCAL,
	[SYS_getitimer] = R_LOCAL, [SYS_setitimer] = R_LOCAL, [SYS_alarm] = R_LOCAL,
	[SYS_timer_create] = R_LOCAL, [SYS_timer_settime] = R_LOCAL,
	[SYS_timer_gettime] = R_LOCAL, [SYS_timer_getoverrun] = R_LOCAL,
	[SYS_timer_delete] = R_LOCAL,
	/* new fds (not visible until used) */
	[SYS_dup] = R_LOCAL, [SYS_pipe] = R_CLS(C_PIPE), [SYS_pipe2] = R_CLS(C_PIPE),
	[SYS_socket] = R_LOCAL, [SYS_socketpair] = R_LOCAL, [SYS_eventfd] = R_LOCAL,
	[SYS_eventfd2] = R_LOCAL, [SYS_epoll_create] = R_LOCAL,
	[SYS_epoll_create1] = R_LOCAL, [SYS_epoll_ctl] = R_LOCAL,
	[SYS_timerfd_create] = R_LOCAL, [SYS_timerfd_settime] = R_LOCAL,
	[SYS_timerfd_gettime] = R_LOCAL, [SYS_signalfd] = R_LOCAL, [SYS_signalfd4] = R_LOCAL,
	[SYS_inotify_init] = R_LOCAL, [SYS_inotify_init1] = R_LOCAL,
	[SYS_inotify_add_watch] = R_LOCAL, [SYS_inotify_rm_watch] = R_LOCAL,
	[SYS_memfd_create] = R_LOCAL, [SYS_getsockname] = R_LOCAL,
	[SYS_getpeername] = R_LOCAL, [SYS_getsockopt] = R_LOCAL, [SYS_setsockopt] = R_LOCAL,
	/* observing the file system */
	[SYS_access] = R_LOCAL, [SYS_faccessat] = R_LOCAL, [SUD_NR_faccessat2] = R_LOCAL,
	[SYS_readlink] = R_LOCAL, [SYS_readlinkat] = R_LOCAL, [SYS_getxattr] = R_LOCAL,
	[SYS_lgetxattr] = R_LOCAL, [SYS_listxattr] = R_LOCAL, [SYS_llistxattr] = R_LOCAL,
	[SYS_statfs] = R_LOCAL, [SYS_sync] = R_LOCAL,
	[SYS_stat] = R_PATH(C_STAT, -1, 0, -1), [SYS_lstat] = R_PATH(C_STAT, -1, 0, -1),
	[SYS_newfstatat] = R_PATH(C_STAT, 0, 1, 3), [SYS_statx] = R_PATH(C_STAT, 0, 1, 2),
	[SYS_open] = R_PATH(C_OPEN, -1, 0, 1), [SYS_openat] = R_PATH(C_OPEN, 0, 1, 2),
	[SYS_creat] = R_PATH(C_OPEN, -1, 0, -1), [SUD_NR_openat2] = R_PATH(C_OPEN, 0, 1, -1),
	/* by fd */
	[SYS_read] = R_FD(C_READ, 0), [SYS_readv] = R_FD(C_READ, 0),
	[SYS_pread64] = R_FD(C_READ, 0), [SYS_preadv] = R_FD(C_READ, 0),
	[SYS_preadv2] = R_FD(C_READ, 0),
	[SYS_write] = R_FD(C_WRITE, 0), [SYS_writev] = R_FD(C_WRITEV, 0),
	[SYS_pwrite64] = R_FD(C_PWRITE, 0), [SYS_pwritev] = R_FD(C_PWRITEV, 0),
	[SYS_pwritev2] = R_FD(C_PWRITEV2, 0), [SYS_sendto] = R_FD(C_SENDTO, 0),
	[SYS_sendmsg] = R_FD(C_SENDMSG, 0),
	/* in, out: as read and write of regular files (cat's copy) */
	[SYS_copy_file_range] = R_COPY(0, 2), [SYS_sendfile] = R_COPY(1, 0),
	[SYS_lseek] = R_FD(C_FDOBS, 0), [SYS_fstat] = R_FD(C_FDOBS, 0),
	[SYS_fstatfs] = R_FD(C_FDOBS, 0), [SYS_fadvise64] = R_FD(C_FDOBS, 0),
	[SYS_readahead] = R_FD(C_FDOBS, 0), [SYS_fsync] = R_FD(C_FDOBS, 0),
	[SYS_fdatasync] = R_FD(C_FDOBS, 0), [SYS_sync_file_range] = R_FD(C_FDOBS, 0),
	[SYS_syncfs] = R_FD(C_FDOBS, 0), [SYS_getdents] = R_FD(C_FDOBS, 0),
	[SYS_getdents64] = R_FD(C_FDOBS, 0), [SYS_flistxattr] = R_FD(C_FDOBS, 0),
	[SYS_fgetxattr] = R_FD(C_FDOBS, 0), [SYS_fchdir] = R_FD(C_FDOBS, 0),
	[SYS_ioctl] = R_FD(C_IOCTL, 0), [SYS_fcntl] = R_FD(C_FCNTL, 0),
	[SYS_mmap] = R_FD(C_MMAP, 4),
	[SYS_close] = R_FD(C_CLOSE, 0), [SUD_NR_close_range] = R_CLS(C_CLOSE_RANGE),
	[SYS_dup2] = R_FD(C_DUP2, 1), [SYS_dup3] = R_FD(C_DUP2, 1),
	[SYS_ftruncate] = R_FD(C_FDMUT, 0), [SYS_fchmod] = R_FD(C_FDMUT, 0),
	[SYS_fchown] = R_FD(C_FDMUT, 0), [SYS_fallocate] = R_FD(C_FDMUT, 0),
	[SYS_fsetxattr] = R_FD(C_FDMUT, 0), [SYS_fremovexattr] = R_FD(C_FDMUT, 0),
	/* mutations by path: fine in the mirror, barriers elsewhere */
	[SYS_unlink] = R_PATH(C_PATHMUT, -1, 0, -1), [SYS_unlinkat] = R_PATH(C_PATHMUT, 0, 1, -1),
	[SYS_rmdir] = R_PATH(C_PATHMUT, -1, 0, -1), [SYS_mkdir] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_mkdirat] = R_PATH(C_PATHMUT, 0, 1, -1), [SYS_mknod] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_mknodat] = R_PATH(C_PATHMUT, 0, 1, -1),
	[SYS_rename] = R_PATH2(C_PATHMUT, -1, 0, -1, 1),
	[SYS_renameat] = R_PATH2(C_PATHMUT, 0, 1, 2, 3),
	[SYS_renameat2] = R_PATH2(C_PATHMUT, 0, 1, 2, 3),
	[SYS_link] = R_PATH2(C_PATHMUT, -1, 0, -1, 1),
	[SYS_linkat] = R_PATH2(C_PATHMUT, 0, 1, 2, 3),
	[SYS_symlink] = R_PATH(C_PATHMUT, -1, 1, -1), [SYS_symlinkat] = R_PATH(C_PATHMUT, 1, 2, -1),
	[SYS_chmod] = R_PATH(C_PATHMUT, -1, 0, -1), [SYS_fchmodat] = R_PATH(C_PATHMUT, 0, 1, -1),
	[SUD_NR_fchmodat2] = R_PATH(C_PATHMUT, 0, 1, -1),
	[SYS_chown] = R_PATH(C_PATHMUT, -1, 0, -1), [SYS_lchown] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_fchownat] = R_PATH(C_PATHMUT, 0, 1, -1),
	[SYS_truncate] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_utime] = R_PATH(C_PATHMUT, -1, 0, -1), [SYS_utimes] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_futimesat] = R_PATH(C_PATHMUT, 0, 1, -1),
	[SYS_utimensat] = R_PATH(C_PATHMUT, 0, 1, -1),
	[SYS_setxattr] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_lsetxattr] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_removexattr] = R_PATH(C_PATHMUT, -1, 0, -1),
	[SYS_lremovexattr] = R_PATH(C_PATHMUT, -1, 0, -1),
	/* signals */
	[SYS_kill] = R_CLS(C_KILL), [SYS_tkill] = R_CLS(C_TKILL), [SYS_tgkill] = R_CLS(C_TGKILL),
	[SYS_rt_sigqueueinfo] = R_CLS(C_SIGQUEUE), [SYS_rt_tgsigqueueinfo] = R_CLS(C_TGSIGQUEUE),
	[SYS_rt_sigaction] = R_CLS(C_SIGACTION), [SYS_rt_sigprocmask] = R_CLS(C_SIGPROCMASK),
	[SYS_rt_sigreturn] = R_CLS(C_SIGRETURN), [SYS_sigaltstack] = R_CLS(C_SIGALTSTACK),
	/* waiting: only a poll that does not wait is local */
	[SYS_poll] = R_CLS(C_POLL), [SYS_ppoll] = R_CLS(C_PPOLL), [SYS_select] = R_CLS(C_SELECT),
	[SYS_pselect6] = R_CLS(C_PSELECT), [SYS_epoll_wait] = R_CLS(C_EPOLL_WAIT),
	[SYS_epoll_pwait] = R_CLS(C_EPOLL_PWAIT), [SUD_NR_epoll_pwait2] = R_CLS(C_EPOLL_PWAIT2),
	[SYS_prctl] = R_CLS(C_PRCTL), [SYS_prlimit64] = R_CLS(C_PRLIMIT),
	[SYS_sched_setaffinity] = R_CLS(C_SCHEDSET), [SYS_sched_setparam] = R_CLS(C_SCHEDSET),
	[SYS_sched_setscheduler] = R_CLS(C_SCHEDSET), [SYS_sched_setattr] = R_CLS(C_SCHEDSET),
};

/* ------------------------------------------------------------ the rules */

static int
sud_path_mirror(long dirfd, const char *path)
{
	return sud_ops.is_mirror_path != NULL &&
	       sud_ops.is_mirror_path(sud_ops.ctx, (int)dirfd, path) > 0;
}

static int
sud_fd_observe(int fd)
{
	struct sud_fd f;

	if (!sud_dirty_any())
		return A_LOCAL;
	if (sud_fd_get(fd, &f) < 0)
		return A_LOCAL;
	if (S_ISREG(f.mode) && sud_dirty_has(f.dev, f.ino))
		return A_BARRIER;
	return A_LOCAL;
}

static int
sud_read(int fd)
{
	struct sud_fd f;

	if (sud_fd_get(fd, &f) < 0)
		return A_LOCAL; /* EBADF, as natively */
	if (sud_anon(&f))
		return A_BARRIER; /* eventfd, timerfd, signalfd: consuming */
	switch (f.mode & S_IFMT) {
	case S_IFREG:
		return sud_dirty_has(f.dev, f.ino) ? A_BARRIER : A_LOCAL;
	case S_IFDIR:
	case S_IFBLK:
		return A_LOCAL;
	case S_IFCHR:
		return sud_nulldev(f.rdev) ? A_LOCAL : A_BARRIER;
	case S_IFIFO:
		if (sud_pipe_ours(f.dev, f.ino)) {
			if (sud_ops.block != NULL)
				sud_ops.block(sud_ops.ctx);
			return A_LOCAL;
		}
		break;
	}
	return A_BARRIER; /* pipes, sockets, terminals: input consumed */
}

/*
 * copy_file_range and sendfile between regular files: local when reading
 * in is (a file with no output of ours buffered) and writing out is
 * without buffering (the mirror, or a file made in this epoch). coreutils
 * cat and cp copy this way: configure's `cat confdefs.h - >conftest.c`.
 * Anything else (a pipe, a socket, a local file whose writes are held)
 * is a barrier, as before.
 */
static int
sud_copy(int in, int out)
{
	struct sud_fd fi, fo;

	if (sud_fd_get(in, &fi) < 0 || sud_fd_get(out, &fo) < 0)
		return A_LOCAL; /* EBADF, as natively */
	if ((fi.mode & S_IFMT) != S_IFREG || (fo.mode & S_IFMT) != S_IFREG ||
	    sud_dirty_has(fi.dev, fi.ino) || (fo.flags & O_PATH) ||
	    (fo.flags & O_ACCMODE) == O_RDONLY)
		return A_BARRIER;
	return sud_fd_mirror(out, &fo) || sud_created_through(fo.dev, fo.ino) ? A_LOCAL
									      : A_BARRIER;
}

/*
 * Pipes made while the process is speculative (an epoch, or a parent's):
 * only this execution and the children it made can have written to them,
 * so reading them consumes nothing that a re-execution would miss (it
 * makes its own pipe). gcc's driver reads such a pipe to learn that the
 * child's exec worked. Forgotten when the speculation ends.
 */
#define SUD_MAX_PIPES 32
static struct sud_file_id sud_pipes[SUD_MAX_PIPES];
static int sud_npipes;
/*
 * Writes that go at once. The process depends only on its parent's sealed
 * epoch (no checkpoint of its own, "birth-only"), and the pipe was made
 * in the speculation it was born from: by an ancestor after that
 * ancestor's checkpoint (or while the ancestor was birth-only itself).
 * Then the writer is discarded only if that speculation fails, and its
 * reader then goes back to before the pipe existed (a rollback to the
 * checkpoint), or is discarded with it. So what the writer puts into the
 * pipe may go at once (`$(date)`: sh reads date's output without waiting
 * for a verdict, and without waiting for the write-back of the previous
 * compile's object file that sh's own speculation includes). The reader
 * reads such a pipe only until its next checkpoint (sud_pipes is then
 * forgotten, and a read is a barrier): a rollback to a later checkpoint
 * would not give back what it read. Pipes pass to children (fork, and
 * SPECNFS_PIPES across exec and spawn), which start birth-only; an epoch
 * of the writer's own ends it (spec_sud_pipes_through(0)): its own
 * predictions may fail while its reader's speculation holds.
 */
static int sud_birth_only;

int
sud_pipe_through(uint64_t dev, uint64_t ino)
{
	int i;

	for (i = 0; sud_birth_only && i < sud_npipes; i++)
		if (sud_pipes[i].dev == dev && sud_pipes[i].ino == ino)
			return 1;
	return 0;
}

void
spec_sud_pipes_through(int on)
{
	sud_birth_only = on;
	if (!on)
		sud_npipes = 0; /* a rollback to a later checkpoint would read them twice */
}

size_t
spec_sud_pipes_env(char *buf, size_t len)
{
	size_t n = 0;
	int i, k;

	if (len > 0)
		buf[0] = '\0';
	for (i = 0; i < sud_npipes; i++) {
		k = snprintf(buf + n, len - n, "%s%llx:%llx", n > 0 ? "," : "",
			     (unsigned long long)sud_pipes[i].dev,
			     (unsigned long long)sud_pipes[i].ino);
		if (k < 0 || (size_t)k >= len - n) {
			buf[n] = '\0';
			break;
		}
		n += (size_t)k;
	}
	return n;
}

void
spec_sud_pipes_adopt(const char *s)
{
	unsigned long long dev, ino;
	int used;

	while (s != NULL && sud_npipes < SUD_MAX_PIPES &&
	       sscanf(s, "%llx:%llx%n", &dev, &ino, &used) == 2) {
		sud_pipes[sud_npipes].dev = dev;
		sud_pipes[sud_npipes].ino = ino;
		sud_npipes++;
		s += used;
		if (*s != ',')
			break;
		s++;
	}
}

int
sud_pipe_ours(uint64_t dev, uint64_t ino)
{
	return sud_file_in(sud_pipes, sud_npipes, dev, ino);
}

void
sud_pipe_note(const int *fds)
{
	struct stat st;
	int pfd[2];

	if (sud_peek(pfd, fds, sizeof(pfd)) < 0 || sud_npipes >= SUD_MAX_PIPES ||
	    SYS2(SYS_fstat, pfd[0], &st) < 0)
		return;
	sud_pipes[sud_npipes].dev = st.st_dev;
	sud_pipes[sud_npipes].ino = st.st_ino;
	sud_npipes++;
}

void
sud_pipes_forget(void)
{
	sud_npipes = 0;
}

/* Where the bytes of an output call are. */
static int
sud_sendmsg(struct sud_trap *t)
{
	struct msghdr m;
	struct sud_src src = { 0 };
	int flags = (int)t->a[2];

	if (flags & ~(MSG_NOSIGNAL | MSG_DONTWAIT | MSG_EOR | MSG_MORE))
		return A_BARRIER;
	if (sud_peek(&m, (void *)t->a[1], sizeof(m)) < 0)
		return A_LOCAL; /* EFAULT */
	if (m.msg_name != NULL || m.msg_controllen != 0)
		return A_BARRIER; /* addressed datagrams, fd passing */
	src.uiov = m.msg_iov;
	src.cnt = (long)m.msg_iovlen;
	return sud_output(t, (int)t->a[0], &src, CK_SEND, -1, flags & ~MSG_DONTWAIT);
}

/* Open: local unless it creates or truncates a file outside the mirror,
 * opens a FIFO (the writer/reader on the other side sees it), or opens a
 * file whose buffered output is not written yet. */
static int
sud_open(struct sud_trap *t, const struct sud_rule *r)
{
	struct stat st;
	long dirfd = r->dirfd >= 0 ? t->a[r->dirfd] : AT_FDCWD;
	const char *path = (const char *)t->a[r->path];
	long flags, res;
	uint64_t how[3];

	if (t->nr == SYS_creat) {
		flags = O_CREAT | O_WRONLY | O_TRUNC;
	} else if (t->nr == SUD_NR_openat2) {
		if ((size_t)t->a[3] < sizeof(uint64_t) || sud_peek(how, (void *)t->a[2], 8) < 0)
			return A_LOCAL;
		flags = (long)how[0];
	} else {
		flags = t->a[r->flags];
	}
	if (flags & O_PATH)
		return A_LOCAL;
	res = SYS4(SYS_newfstatat, dirfd, path, &st,
		   (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0);
	if (res == -EFAULT)
		return A_LOCAL;
	if (res == 0) {
		if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
			return A_BARRIER;
		if (S_ISREG(st.st_mode) && sud_dirty_has(st.st_dev, st.st_ino))
			return A_BARRIER;
		if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
			return A_LOCAL; /* EEXIST */
		if ((flags & O_TRUNC) && S_ISREG(st.st_mode) && st.st_size > 0 &&
		    !sud_path_mirror(dirfd, path))
			return A_BARRIER;
		return A_LOCAL;
	}
	if (res == -ENOENT && (flags & O_CREAT)) {
		if (sud_path_mirror(dirfd, path))
			return A_LOCAL;
		/* A new file (a compiler's temporary): made now, undone if
		 * the epoch is discarded. */
		return sud_created_room(dirfd, path) ? A_CREATE : A_BARRIER;
	}
	return A_LOCAL;
}

/* ------------------------------------------------------------ files created */

/*
 * Regular files outside the mirror that a speculative process created
 * (O_CREAT of a name that did not exist): the creation is real (the
 * program needs the file, and a child may open it); if the execution is
 * discarded, the file is unlinked -- by name, and only if that name is
 * still the file we made. What is written to it is held output, except in
 * a temporary directory (/tmp, /var/tmp, $TMPDIR at init): there it is
 * written at once, so that the next process of a pipeline of files (cc1
 * writes /tmp/cc*.s, as reads it) can read it without waiting for a
 * verdict. Its content may then be seen by someone outside the process
 * tree before the verdict; a discard removes it.
 */
#define SUD_MAX_CREATED 16
static struct {
	uint64_t dev, ino;
	int through; /* in a temporary directory: written at once */
	char path[PATH_MAX];
} sud_created[SUD_MAX_CREATED];
static int sud_ncreated;
static char sud_tmpdir[256];
/* Grown by the epoch (sud_tmp_through). */
static struct {
	uint64_t dev, ino;
	int dup;
	int64_t size0;
	int64_t size_mark; /* its size at the mark (below sud_grown_mark) */
} sud_grown[SUD_MAX_CREATED];
static int sud_ngrown;
/* Unlinked by the epoch (sud_unlink_hidden): kept under a hidden name. */
static struct {
	char path[PATH_MAX];
	char backup[PATH_MAX];
} sud_hidden[SUD_MAX_CREATED];
static int sud_nhidden;
/*
 * A chain's older epoch (spec_sud_created_mark): the entries below the
 * marks are its, the rest the newer epoch's, which a rollback to the
 * newer checkpoint undoes alone (a grown file goes back to its size at
 * the mark, and may only grow past it meanwhile; a file the older epoch
 * created is unlinked under a hidden name, so that it can come back).
 */
static int sud_created_mark, sud_grown_mark, sud_hidden_mark;

/* "/proc/self/fd/N" into link (64 bytes). */
static void
sud_fd_link(int fd, char *link)
{
	char digits[16];
	int k = 0;
	size_t n = strlen(strcpy(link, "/proc/self/fd/"));

	do
		digits[k++] = (char)('0' + fd % 10);
	while ((fd /= 10) > 0);
	while (k > 0)
		link[n++] = digits[--k];
	link[n] = '\0';
}

/* ".specnfs-unlinked-<pid>-<n>-<base>" into out. */
static void
sud_hidden_name(char *out, const char *base)
{
	static unsigned seq;
	unsigned long v[2] = { (unsigned long)SYS0(SYS_getpid), ++seq };
	char digits[24];
	size_t n = strlen(strcpy(out, ".specnfs-unlinked-"));
	int i, k;

	for (i = 0; i < 2; i++) {
		k = 0;
		do
			digits[k++] = (char)('0' + v[i] % 10);
		while ((v[i] /= 10) > 0);
		while (k > 0)
			out[n++] = digits[--k];
		out[n++] = '-';
	}
	strcpy(out + n, base);
}

void
sud_tmpdir_init(const char *tmpdir)
{
	size_t n;

	sud_tmpdir[0] = '\0';
	if (tmpdir == NULL || tmpdir[0] != '/' || (n = strlen(tmpdir)) + 2 > sizeof(sud_tmpdir))
		return;
	memcpy(sud_tmpdir, tmpdir, n);
	if (sud_tmpdir[n - 1] != '/')
		sud_tmpdir[n++] = '/';
	sud_tmpdir[n] = '\0';
}

/* path directly in a temporary directory (no further slash)? */
static int
sud_in_tmp(const char *path)
{
	static const char *const dirs[] = { "/tmp/", "/var/tmp/", sud_tmpdir };
	size_t i, n;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		n = strlen(dirs[i]);
		if (n > 0 && strncmp(path, dirs[i], n) == 0 && strchr(path + n, '/') == NULL)
			return 1;
	}
	return 0;
}

int
sud_created_through(uint64_t dev, uint64_t ino)
{
	int i;

	for (i = 0; i < sud_ncreated; i++)
		if (sud_created[i].through && sud_created[i].dev == dev &&
		    sud_created[i].ino == ino)
			return 1;
	return 0;
}

/* The absolute name of (dirfd, path) into out; 0 or -1. */
static int
sud_abs_path(long dirfd, const char *path, char *out, size_t len)
{
	char link[64] = "/proc/self/fd/", digits[24];
	size_t n = 0, pl;
	int k = 0;
	long r;

	if (sud_peek(out, path, 1) < 0)
		return -1;
	pl = strnlen(path, len);
	if (pl >= len)
		return -1;
	if (path[0] != '/') {
		if (dirfd == AT_FDCWD) {
			r = SYS2(SYS_getcwd, out, len);
		} else {
			if (dirfd < 0)
				return -1;
			do
				digits[k++] = (char)('0' + dirfd % 10);
			while ((dirfd /= 10) > 0);
			n = strlen(link);
			while (k > 0)
				link[n++] = digits[--k];
			link[n] = '\0';
			r = SYS4(SYS_readlinkat, AT_FDCWD, link, out, len - 1);
			if (r > 0)
				out[r] = '\0';
		}
		if (r <= 0 || out[0] != '/')
			return -1;
		n = strlen(out);
		if (n + 1 + pl >= len)
			return -1;
		out[n++] = '/';
	}
	memcpy(out + n, path, pl + 1);
	return 0;
}

int
sud_created_room(long dirfd, const char *path)
{
	return sud_ncreated < SUD_MAX_CREATED &&
	       sud_abs_path(dirfd, path, sud_created[sud_ncreated].path,
			    sizeof(sud_created[0].path)) == 0;
}

/* The open made the file: note it (its name was put in place by room). */
void
sud_created_note(long fd)
{
	struct stat st;

	if (fd < 0 || sud_ncreated >= SUD_MAX_CREATED || SYS2(SYS_fstat, fd, &st) < 0)
		return;
	sud_created[sud_ncreated].dev = st.st_dev;
	sud_created[sud_ncreated].ino = st.st_ino;
	sud_created[sud_ncreated].through = sud_in_tmp(sud_created[sud_ncreated].path);
	sud_ncreated++;
}

int
spec_sud_created_any(void)
{
	return sud_ncreated + sud_ngrown + sud_nhidden > 0;
}

/* End the entries from each mark on (undo: as if never made). Hidden
 * names first: a file put back that the epoch created goes next. */
static void
sud_created_end_from(int hidden, int created, int grown, int undo)
{
	struct stat st;
	int i;

	for (i = hidden; i < sud_nhidden; i++) {
		if (undo)
			SYS5(SYS_renameat2, AT_FDCWD, sud_hidden[i].backup, AT_FDCWD,
			     sud_hidden[i].path, RENAME_NOREPLACE);
		/* kept (commit), or its name was taken meanwhile: it goes */
		SYS3(SYS_unlinkat, AT_FDCWD, sud_hidden[i].backup, 0);
	}
	sud_nhidden = hidden;
	for (i = created; undo && i < sud_ncreated; i++)
		if (SYS4(SYS_newfstatat, AT_FDCWD, sud_created[i].path, &st, AT_SYMLINK_NOFOLLOW) ==
			    0 &&
		    st.st_dev == sud_created[i].dev && st.st_ino == sud_created[i].ino)
			SYS3(SYS_unlinkat, AT_FDCWD, sud_created[i].path, 0);
	sud_ncreated = created;
	for (i = grown; i < sud_ngrown; i++) {
		if (undo)
			SYS2(SYS_ftruncate, sud_grown[i].dup, sud_grown[i].size0);
		SYS1(SYS_close, sud_grown[i].dup);
	}
	for (i = 0; undo && i < grown; i++)
		if (sud_grown[i].size_mark != INT64_MAX)
			SYS2(SYS_ftruncate, sud_grown[i].dup, sud_grown[i].size_mark);
	sud_ngrown = grown;
}

void
spec_sud_created_end(int undo)
{
	sud_created_end_from(0, 0, 0, undo);
	sud_created_mark = sud_grown_mark = sud_hidden_mark = 0;
}

void
spec_sud_created_mark(void)
{
	struct stat st;
	int i;

	sud_created_mark = sud_ncreated;
	sud_grown_mark = sud_ngrown;
	sud_hidden_mark = sud_nhidden;
	for (i = 0; i < sud_ngrown; i++)
		sud_grown[i].size_mark =
			SYS2(SYS_fstat, sud_grown[i].dup, &st) == 0 ? st.st_size : INT64_MAX;
}

void
spec_sud_created_end_newer(int undo)
{
	sud_created_end_from(sud_hidden_mark, sud_created_mark, sud_grown_mark, undo);
}

void
spec_sud_created_older_held(void)
{
	int i;

	/* Its hidden files go for good; what it created or grew stays, and a
	 * grown file's floor is now its size at the mark. */
	for (i = 0; i < sud_hidden_mark; i++)
		SYS3(SYS_unlinkat, AT_FDCWD, sud_hidden[i].backup, 0);
	memmove(sud_hidden, sud_hidden + sud_hidden_mark,
		(size_t)(sud_nhidden - sud_hidden_mark) * sizeof(sud_hidden[0]));
	sud_nhidden -= sud_hidden_mark;
	memmove(sud_created, sud_created + sud_created_mark,
		(size_t)(sud_ncreated - sud_created_mark) * sizeof(sud_created[0]));
	sud_ncreated -= sud_created_mark;
	for (i = 0; i < sud_grown_mark; i++)
		if (sud_grown[i].size_mark != INT64_MAX)
			sud_grown[i].size0 = sud_grown[i].size_mark;
	sud_created_mark = sud_grown_mark = sud_hidden_mark = 0;
}

/*
 * Files in a temporary directory that the epoch writes but did not create
 * (the gcc driver makes /tmp/cc*.s with mkstemps, cc1 writes it): written
 * at once too, as long as every write lands at or past the size the file
 * had at its first write in the epoch; undone by truncating back to that
 * size (through a duplicate of the fd, which a courier inherits). A write
 * below that size is a barrier.
 */
int
sud_tmp_through(int fd, const struct sud_fd *f, int kind, int64_t off)
{
	char link[64], path[PATH_MAX];
	struct stat st;
	int64_t pos;
	long n, dup;
	int i;

	for (i = 0; i < sud_ngrown; i++)
		if (sud_grown[i].dev == f->dev && sud_grown[i].ino == f->ino)
			break;
	if (i == sud_ngrown) {
		if (sud_ngrown >= SUD_MAX_CREATED || sud_dirty_has(f->dev, f->ino))
			return 0;
		sud_fd_link(fd, link);
		n = SYS4(SYS_readlinkat, AT_FDCWD, link, path, sizeof(path) - 1);
		if (n <= 0)
			return 0;
		path[n] = '\0';
		if (!sud_in_tmp(path) || SYS2(SYS_fstat, fd, &st) < 0)
			return 0;
		dup = SYS3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, SPEC_SUD_DUP_MIN);
		if (dup < 0)
			return 0;
		sud_grown[i].dev = f->dev;
		sud_grown[i].ino = f->ino;
		sud_grown[i].dup = (int)dup;
		sud_grown[i].size0 = st.st_size;
		sud_ngrown++;
	}
	if (kind == CK_PWRITE)
		pos = off;
	else if (f->flags & O_APPEND)
		pos = INT64_MAX;
	else
		pos = SYS3(SYS_lseek, fd, 0, SEEK_CUR);
	return pos >= (i < sud_grown_mark ? sud_grown[i].size_mark : sud_grown[i].size0) ? 1 : -1;
}

/* unlink(at) of a regular file in a temporary directory: 1 if it may be
 * done now (sud_unlink_hidden), 0: a barrier. */
int
sud_unlink_ok(struct sud_trap *t, long dirfd, const char *path)
{
	struct stat st;
	char abs[PATH_MAX];

	if (t->nr == SYS_unlinkat && t->a[2] != 0)
		return 0; /* AT_REMOVEDIR */
	if ((t->nr != SYS_unlink && t->nr != SYS_unlinkat) || sud_nhidden >= SUD_MAX_CREATED)
		return 0;
	if (sud_abs_path(dirfd, path, abs, sizeof(abs)) < 0 || !sud_in_tmp(abs))
		return 0;
	return SYS4(SYS_newfstatat, AT_FDCWD, abs, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode) && !sud_dirty_has(st.st_dev, st.st_ino);
}

/* Do that unlink: a file this execution created goes for real (a discard
 * would remove it anyway); any other is renamed to a hidden name in its
 * directory, removed at commit and put back at a discard. */
long
sud_unlink_hidden(struct sud_trap *t)
{
	const struct sud_rule *r = &sud_rules[t->nr];
	long dirfd = r->dirfd >= 0 ? t->a[r->dirfd] : AT_FDCWD;
	const char *path = (const char *)t->a[r->path];
	char *bk = sud_hidden[sud_nhidden].backup, *orig = sud_hidden[sud_nhidden].path;
	struct stat st;
	const char *base;
	size_t n;
	long rc;
	int i;

	if (sud_abs_path(dirfd, path, orig, PATH_MAX) < 0 ||
	    SYS4(SYS_newfstatat, AT_FDCWD, orig, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return SYS3(SYS_unlinkat, dirfd, path, 0); /* it says why */
	for (i = sud_created_mark; i < sud_ncreated; i++) {
		if (sud_created[i].dev == st.st_dev && sud_created[i].ino == st.st_ino) {
			sud_created[i] = sud_created[--sud_ncreated];
			return SYS3(SYS_unlinkat, AT_FDCWD, orig, 0);
		}
	}
	base = strrchr(orig, '/') + 1;
	n = (size_t)(base - orig);
	if (n + 40 + strlen(base) >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(bk, orig, n);
	bk[n] = '\0';
	sud_hidden_name(bk + n, base);
	rc = SYS5(SYS_renameat2, AT_FDCWD, orig, AT_FDCWD, bk, RENAME_NOREPLACE);
	if (rc == 0)
		sud_nhidden++;
	return rc;
}

static int
sud_stat(struct sud_trap *t, const struct sud_rule *r)
{
	struct stat st;
	long dirfd = r->dirfd >= 0 ? t->a[r->dirfd] : AT_FDCWD;
	long flags = r->flags >= 0 ? t->a[r->flags] : 0;

	if (!sud_dirty_any())
		return A_LOCAL;
	if (t->nr == SYS_lstat)
		flags = AT_SYMLINK_NOFOLLOW;
	flags &= AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH;
	if (SYS4(SYS_newfstatat, dirfd, t->a[r->path], &st, flags) == 0 && S_ISREG(st.st_mode) &&
	    sud_dirty_has(st.st_dev, st.st_ino))
		return A_BARRIER;
	return A_LOCAL;
}

static int
sud_fdmut(int fd)
{
	struct sud_fd f;

	if (sud_fd_get(fd, &f) < 0)
		return A_LOCAL;
	if (S_ISREG(f.mode) && !sud_anon(&f) && sud_fd_mirror(fd, &f))
		return A_LOCAL;
	return A_BARRIER;
}

static int
sud_pathmut(struct sud_trap *t, const struct sud_rule *r)
{
	struct stat st;
	long dirfd = r->dirfd >= 0 ? t->a[r->dirfd] : AT_FDCWD;
	const char *path = (const char *)t->a[r->path];

	if (path == NULL && t->nr == SYS_utimensat)
		return sud_fdmut((int)dirfd);
	/* the kernel checks the pointer for us (EFAULT: nothing happens) */
	if (SYS4(SYS_newfstatat, dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == -EFAULT)
		return A_LOCAL;
	if (!sud_path_mirror(dirfd, path))
		return sud_unlink_ok(t, dirfd, path) ? A_UNLINK : A_BARRIER;
	if (r->path2 >= 0) {
		dirfd = r->dirfd2 >= 0 ? t->a[r->dirfd2] : AT_FDCWD;
		path = (const char *)t->a[r->path2];
		if (SYS4(SYS_newfstatat, dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == -EFAULT)
			return A_LOCAL;
		if (!sud_path_mirror(dirfd, path))
			return A_BARRIER;
	}
	return A_LOCAL;
}

static int
sud_ioctl(struct sud_trap *t)
{
	if (sud_fd_observe((int)t->a[0]) == A_BARRIER)
		return A_BARRIER;
	switch ((unsigned long)t->a[1]) {
	case TCGETS:
	case TIOCGWINSZ:
	case TIOCGPGRP:
	case TIOCGSID:
	case FIONREAD:
	case TIOCOUTQ:
	case FIOCLEX:
	case FIONCLEX:
	case TIOCGPTN:
		return A_LOCAL;
	}
	return A_BARRIER; /* terminal modes, FIONBIO on a shared description ... */
}

static int
sud_fcntl(struct sud_trap *t)
{
	switch (t->a[1]) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
	case F_GETFD:
	case F_SETFD:
	case F_GETFL:
	case F_GETLK:
	case F_OFD_GETLK:
	case F_GETOWN:
	case F_GETOWN_EX:
	case F_GETSIG:
	case F_GETLEASE:
	case F_GETPIPE_SZ:
	case F_GET_SEALS:
	case F_ADD_SEALS:
		return A_LOCAL;
	}
	/* F_SETFL changes a description others may share; locks are seen
	 * by other processes and may block */
	return A_BARRIER;
}

/* A timeout pointer that says "do not wait". */
static int
sud_zero_time(const void *p, size_t size)
{
	long v[2] = { 1, 1 };

	if (p == NULL || sud_peek(v, p, size) < 0)
		return 0;
	return v[0] == 0 && v[1] == 0;
}

static int
sud_prctl(struct sud_trap *t)
{
	switch (t->a[0]) {
	case PR_GET_PDEATHSIG:
	case PR_SET_PDEATHSIG:
	case PR_GET_DUMPABLE:
	case PR_GET_KEEPCAPS:
	case PR_SET_NAME:
	case PR_GET_NAME:
	case PR_CAPBSET_READ:
	case PR_GET_TIMERSLACK:
	case PR_GET_CHILD_SUBREAPER:
	case PR_GET_NO_NEW_PRIVS:
	case PR_GET_THP_DISABLE:
	case PR_GET_TID_ADDRESS:
	case PR_GET_SECUREBITS:
	case PR_GET_SPECULATION_CTRL:
	case PR_MCE_KILL_GET:
		return A_LOCAL;
	}
	return A_BARRIER; /* including PR_SET_SYSCALL_USER_DISPATCH */
}

static int
sud_mmap(struct sud_trap *t)
{
	struct sud_fd f;
	long prot = t->a[2], flags = t->a[3];
	int fd = (int)t->a[4];

	if (flags & MAP_ANONYMOUS)
		return A_LOCAL;
	if (sud_fd_get(fd, &f) < 0)
		return A_LOCAL;
	if (!S_ISREG(f.mode) || sud_anon(&f))
		return A_LOCAL;
	if (sud_dirty_has(f.dev, f.ino))
		return A_BARRIER;
	/* stores through a shared writable mapping would escape the epoch */
	if (((flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE) &&
	    (prot & PROT_WRITE) && !sud_fd_mirror(fd, &f))
		return A_BARRIER;
	return A_LOCAL;
}

/*
 * A fork the handler may re-issue itself (spec_sud_ops.fork): fork,
 * vfork, and clone as glibc's fork issues it (SIGCHLD, tid bookkeeping,
 * no new stack), or as vfork (CLONE_VM|CLONE_VFORK, no new stack). A
 * clone with a stack of its own (posix_spawn, system, threads) would
 * return into this handler on that stack: a barrier.
 */
static int
sud_is_fork(const struct sud_trap *t)
{
	const long ok = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID | SIGCHLD;
	long fl = t->a[0];

	if (t->nr == SYS_fork || t->nr == SYS_vfork)
		return 1;
	if (t->nr != SYS_clone || t->a[1] != 0 || (fl & CSIGNAL) != SIGCHLD)
		return 0;
	if ((fl & (CLONE_VM | CLONE_VFORK)) == (CLONE_VM | CLONE_VFORK))
		fl &= ~(long)(CLONE_VM | CLONE_VFORK);
	return (fl & ~ok) == 0;
}

/* May the shim have nr answered without its trap (spec_sud_direct)? Only
 * calls whose classification changes nothing unless the call is then made
 * here: a barrier found there goes on to trap, and is classified again. */
int
sud_direct_class(long nr)
{
	if (nr < 0 || nr >= SUD_NR_MAX)
		return 0;
	switch (sud_rules[nr].cls) {
	case C_LOCAL:
	case C_STAT:
	case C_OPEN:
	case C_FDOBS:
	case C_CLOSE:
		return 1;
	}
	return 0;
}

int
sud_classify(struct sud_trap *t)
{
	const struct sud_rule *r;
	struct sud_src src = { 0 };
	long lo, hi;

	if (t->nr < 0 || t->nr >= SUD_NR_MAX)
		return A_BARRIER;
	if (sud_is_fork(t))
		return A_FORK;
	r = &sud_rules[t->nr];
	switch (r->cls) {
	case C_LOCAL:
		return A_LOCAL;
	case C_FDOBS:
		return sud_fd_observe((int)t->a[r->fd]);
	case C_READ:
		return sud_read((int)t->a[0]);
	case C_COPY:
		return sud_copy((int)t->a[r->fd], (int)t->a[r->fd2]);
	case C_WRITE:
	case C_PWRITE:
	case C_SENDTO:
		if (t->nr == SYS_sendto) {
			if (t->a[4] != 0 ||
			    (t->a[3] & ~(long)(MSG_NOSIGNAL | MSG_DONTWAIT | MSG_EOR | MSG_MORE)))
				return A_BARRIER;
		}
		src.buf = (const void *)t->a[1];
		src.len = (size_t)t->a[2];
		if (r->cls == C_WRITE)
			return sud_output(t, (int)t->a[0], &src, CK_WRITE, -1, 0);
		if (r->cls == C_PWRITE)
			return sud_output(t, (int)t->a[0], &src, CK_PWRITE, t->a[3], 0);
		return sud_output(t, (int)t->a[0], &src, CK_SEND, -1,
				  (int)(t->a[3] & ~(long)MSG_DONTWAIT));
	case C_WRITEV:
	case C_PWRITEV:
	case C_PWRITEV2:
		src.uiov = (const struct iovec *)t->a[1];
		src.cnt = t->a[2];
		if (r->cls == C_WRITEV || (r->cls == C_PWRITEV2 && t->a[3] == -1 && t->a[5] == 0))
			return sud_output(t, (int)t->a[0], &src, CK_WRITE, -1, 0);
		if (r->cls == C_PWRITEV2 && t->a[5] != 0)
			return A_BARRIER; /* RWF_* flags */
		return sud_output(t, (int)t->a[0], &src, CK_PWRITE, t->a[3], 0);
	case C_SENDMSG:
		return sud_sendmsg(t);
	case C_OPEN:
		return sud_open(t, r);
	case C_PIPE:
		return A_PIPE;
	case C_STAT:
		return sud_stat(t, r);
	case C_PATHMUT:
		return sud_pathmut(t, r);
	case C_FDMUT:
		return sud_fdmut((int)t->a[r->fd]);
	case C_CLOSE:
		if (sud_is_dup((int)t->a[0])) {
			t->ret = -EBADF; /* not open, as far as the program knows */
			STAT_ADD(emulated, 1);
			return A_DONE;
		}
		sud_fd_forget(t->a[0], t->a[0]);
		return A_LOCAL;
	case C_CLOSE_RANGE:
		lo = (long)(unsigned int)t->a[0];
		hi = (long)(unsigned int)t->a[1];
		if (t->a[2] & CLOSE_RANGE_CLOEXEC)
			return A_LOCAL;
		if (sud_dup_in_range(lo, hi))
			return A_BARRIER;
		sud_fd_forget(lo, hi);
		return A_LOCAL;
	case C_DUP2:
		if (sud_is_dup((int)t->a[1]))
			return A_BARRIER;
		if (t->a[0] != t->a[1])
			sud_fd_forget(t->a[1], t->a[1]);
		return A_LOCAL;
	case C_KILL:
		if (t->a[1] == 0)
			return A_LOCAL; /* existence probe */
		return t->a[0] == sud_pid ? sud_self_signal(t, t->a[1]) : A_BARRIER;
	case C_TKILL:
		if (t->a[1] == 0)
			return A_LOCAL;
		return sud_is_our_tid(t->a[0]) ? sud_self_signal(t, t->a[1]) : A_BARRIER;
	case C_TGKILL:
		if (t->a[2] == 0)
			return A_LOCAL;
		return t->a[0] == sud_pid ? sud_self_signal(t, t->a[2]) : A_BARRIER;
	case C_SIGQUEUE:
		return t->a[0] == sud_pid ? sud_self_signal(t, t->a[1]) : A_BARRIER;
	case C_TGSIGQUEUE:
		return t->a[0] == sud_pid ? sud_self_signal(t, t->a[2]) : A_BARRIER;
	case C_SIGACTION:
		return sud_sigaction(t);
	case C_SIGPROCMASK:
		return sud_sigprocmask(t);
	case C_SIGRETURN:
		return A_SIGRETURN;
	case C_SIGALTSTACK:
		return sud_sigaltstack(t);
	case C_IOCTL:
		return sud_ioctl(t);
	case C_FCNTL:
		return sud_fcntl(t);
	case C_POLL:
		return t->a[2] == 0 ? A_LOCAL : A_BARRIER;
	case C_PPOLL:
		if (t->a[3] != 0)
			return A_BARRIER; /* a signal mask: handlers could run in ours */
		return sud_zero_time((void *)t->a[2], sizeof(struct timespec)) ? A_LOCAL
										 : A_BARRIER;
	case C_SELECT:
		return sud_zero_time((void *)t->a[4], sizeof(struct timeval)) ? A_LOCAL
										: A_BARRIER;
	case C_PSELECT: {
		uint64_t sd[2] = { 0, 0 };

		if (t->a[5] != 0 && (sud_peek(sd, (void *)t->a[5], sizeof(sd)) < 0 || sd[0] != 0))
			return A_BARRIER;
		return sud_zero_time((void *)t->a[4], sizeof(struct timespec)) ? A_LOCAL
										 : A_BARRIER;
	}
	case C_EPOLL_WAIT:
		return t->a[3] == 0 ? A_LOCAL : A_BARRIER;
	case C_EPOLL_PWAIT:
		return t->a[4] == 0 && t->a[3] == 0 ? A_LOCAL : A_BARRIER;
	case C_EPOLL_PWAIT2:
		if (t->a[4] != 0)
			return A_BARRIER;
		return sud_zero_time((void *)t->a[3], sizeof(struct timespec)) ? A_LOCAL
										 : A_BARRIER;
	case C_PRCTL:
		return sud_prctl(t);
	case C_MMAP:
		return sud_mmap(t);
	case C_PRLIMIT:
		return t->a[0] == 0 || t->a[0] == sud_pid || t->a[2] == 0 ? A_LOCAL : A_BARRIER;
	case C_SCHEDSET:
		return t->a[0] == 0 || sud_is_our_tid(t->a[0]) ? A_LOCAL : A_BARRIER;
	}
	return A_BARRIER;
}
