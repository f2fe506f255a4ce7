/*
 * checkpoint/fork.c: checkpoints made with fork -- a hidden, frozen copy.
 *
 * Take: record what fork does not copy but the copy must get back (file
 * offsets and status flags, which live in open file descriptions shared
 * with the copy; interval timers, which are not inherited), block every
 * signal, and clone() without CLONE_VM and with exit signal 0: the
 * program's wait(), waitpid(-1), waitid(P_ALL) and SIGCHLD never see the
 * copy; only __WCLONE/__WALL do. Like glibc's fork, the clone sets the
 * copy's TCB tid (CLONE_CHILD_SETTID, at the address libthread_db is told)
 * and the copy re-registers the robust futex list. The copy sets
 * PDEATHSIG=SIGKILL (and checks that its parent did not die first) and
 * sleeps on a futex in a shared page until the verdict: no fd is spent.
 *
 * Commit: SIGKILL the copy (it never runs again: no stdio flush, no
 * atexit) and reap it later, without blocking.
 *
 * Rollback: write the value into the shared page and wake the copy. It
 * restores offsets, flags, timers and the program's signal mask, takes the
 * original pid as its identity, and returns 1 from ckpt_take(). The
 * original becomes a proxy (see the proxy section) and never returns.
 *
 * Everything the copy runs before it returns is raw syscalls on static
 * storage: no malloc, no stdio, no lock. So is everything the library
 * asks of the kernel, so that the shim's own wrappers (close, stat,
 * getpid, getppid, ...) are never re-entered from here.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/internal.h"

#define CKPT_MAX_FDS 1024	/* open files recorded; more: -EMFILE */
#define CKPT_MAX_PENDING 64	/* committed copies not yet reaped */

/* ------------------------------------------------------------ raw syscalls */

/* syscall() returning its value or -errno. (The entry points restore errno.) */
#define SYS(...) ckpt__ret(syscall(__VA_ARGS__))

static long
ckpt__ret(long r)
{
	return r == -1 ? -(long)errno : r;
}

static pid_t
sys_getpid(void)
{
	return (pid_t)syscall(SYS_getpid);
}

__attribute__((noreturn)) static void
sys_exit_group(int status)
{
	for (;;)
		syscall(SYS_exit_group, status);
}

/* Kernel signal sets are 64 bits: bit sig-1. */
#define SIGBIT(s) (1ULL << ((s) - 1))

static int
sys_sigmask(int how, uint64_t set, uint64_t *old)
{
	return (int)SYS(SYS_rt_sigprocmask, how, &set, old, sizeof(set));
}

/* Write to stderr without stdio (works in the copy and the proxy). */
static void
say(const char *a, const char *b)
{
	const char *parts[] = { "specnfs: checkpoint: ", a, b, "\n" };
	size_t i;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i] != NULL && syscall(SYS_write, 2, parts[i], strlen(parts[i])) < 0)
			break;
}

/* Read a small /proc file into buf (NUL-terminated); length or -errno. */
static long
read_small(const char *path, char *buf, size_t len)
{
	long fd, n, got = 0;

	fd = SYS(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fd;
	while ((size_t)got < len - 1) {
		n = SYS(SYS_read, fd, buf + got, len - 1 - got);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	SYS(SYS_close, fd);
	buf[got] = '\0';
	return got;
}

static char *
fmt_uint(char *end, unsigned long v)
{
	*--end = '\0';
	do
		*--end = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return end;
}

/* /proc/<pid>/stat from the state letter on ("S 1234 ..."), or NULL. */
static const char *
proc_stat(pid_t pid, char *buf, size_t len)
{
	char path[48], num[24], *p;

	strcpy(path, "/proc/");
	strcat(path, fmt_uint(num + sizeof(num), (unsigned long)pid));
	strcat(path, "/stat");
	if (read_small(path, buf, len) <= 0 || (p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return NULL;
	return p + 2;
}

/* ------------------------------------------------------------ state */

struct ckpt {
	struct ckpt__head head;
	pid_t pid;	/* the copy */
	pid_t owner;	/* real pid of the process that took it */
	uint32_t seq;
	unsigned flags;
	int open;
	uint64_t mask;	/* the program's signal mask at the checkpoint */
	uint64_t added; /* what CKPT_DEFER_SIGNALS blocked */
};

/* Shared (MAP_SHARED) between a process and its copies: the verdict. */
struct ckpt_page {
	uint32_t resume_seq; /* the copy of checkpoint N resumes when N */
	uint32_t events;     /* futex the copy sleeps on: bumped at each word */
	uint64_t value;
	uint32_t detach_seq; /* the copy of checkpoint N must outlive us */
	uint32_t detach_ack; /* futex: ... and it said it will */
	pid_t ppid;          /* the parent the detached copy reports to */
};

struct fdrec {
	int fd;
	int fl;	  /* F_GETFL */
	off_t off; /* -1: not seekable */
	off_t size; /* size to restore (ckpt_set_size_filter), or -1 */
};

static int (*size_filter)(int fd);

void
ckpt_set_size_filter(int (*fn)(int fd))
{
	size_filter = fn;
}

/*
 * Per process (owner): a fork child of the program, or a resumed copy,
 * starts afresh (own()).
 */
static struct {
	pid_t owner;
	struct ckpt_page *page;
	uint32_t seq;
	struct ckpt slot[CKPT_SLOTS]; /* open ones: a chain, oldest first in time */
	pid_t pending[CKPT_MAX_PENDING];
	int npending;
	/* Recorded at the checkpoint for the copy. */
	struct fdrec fds[CKPT_MAX_FDS];
	int nfds;
	struct itimerval timers[3];
	int have_timers;
	struct timespec t0;
	char comm[16];
} st;

/*
 * Identity after a rollback: the resumed copy (real pid self) answers pid.
 * Inherited by the copy's own copies, so stacked rollbacks keep the
 * outermost pid; depth counts the proxies above self.
 */
static struct {
	pid_t pid;
	pid_t self;
	unsigned depth;
	pid_t ppid; /* a detached copy's parent (the original's), 0: none */
	int waited; /* ... whose status our parent, the split copy, reports */
} ident;

static void (*detached_end)(int wstatus);

void
ckpt_set_detached_end(void (*fn)(int wstatus))
{
	detached_end = fn;
}

/* Forget every open checkpoint (a new process, or a resumed copy: the
 * copies were another process's children). */
static void
slots_close(void)
{
	int i;

	for (i = 0; i < CKPT_SLOTS; i++)
		st.slot[i].open = 0;
}

/* How many checkpoints are open; *free: a slot to take one in, or NULL. */
static int
slots_open(struct ckpt **free)
{
	int i, n = 0;

	if (free != NULL)
		*free = NULL;
	for (i = 0; i < CKPT_SLOTS; i++) {
		if (st.slot[i].open)
			n++;
		else if (free != NULL && *free == NULL)
			*free = &st.slot[i];
	}
	return n;
}

/* Offset of the tid in glibc's struct pthread: -1 unknown, -2 not yet. */
static long tid_offset = -2;

static pid_t
own(void)
{
	pid_t self = sys_getpid();

	if (st.owner != self) {
		if (st.page != NULL)
			SYS(SYS_munmap, st.page, sizeof(*st.page));
		st.page = NULL;
		st.npending = 0;
		slots_close();
		st.owner = self;
	}
	return self;
}

/*
 * The copy's TCB tid must be its own tid, as glibc's fork leaves it
 * (pthread_kill, pthread_mutex owners, robust and PI futexes rely on it).
 * glibc publishes the field's offset for libthread_db in
 * _thread_db_pthread_tid = { bits, count, offset }; use it only if it
 * holds our tid now.
 */
static pid_t *
tcb_tid(void)
{
	char *self = (char *)pthread_self();

	if (tid_offset == -2) {
		const uint32_t *d = dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid");

		tid_offset = -1;
		if (d != NULL && d[0] == 8 * sizeof(pid_t) && d[1] == 1 && d[2] < 4096)
			tid_offset = d[2];
	}
	if (tid_offset < 0 || *(pid_t *)(self + tid_offset) != (pid_t)syscall(SYS_gettid))
		return NULL;
	return (pid_t *)(self + tid_offset);
}

/* ------------------------------------------------------------ can we? */

/* Reap committed copies that have finished dying, without blocking. */
void
ckpt_reap(void)
{
	int i, j, saved = errno;
	long r;

	own();
	for (i = j = 0; i < st.npending; i++) {
		r = SYS(SYS_wait4, st.pending[i], NULL, WNOHANG | __WCLONE, NULL);
		if (r == 0)
			st.pending[j++] = st.pending[i];
	}
	st.npending = j;
	errno = saved;
}

static int
is_pending(pid_t pid)
{
	int i;

	for (i = 0; i < st.npending; i++)
		if (st.pending[i] == pid)
			return 1;
	for (i = 0; i < CKPT_SLOTS; i++)
		if (st.slot[i].open && st.slot[i].pid == pid)
			return 1; /* the copy of an older checkpoint still open */
	return 0;
}

/* -ECHILD if the process has children other than our copies (dying, or
 * of a checkpoint still open). */
static int
check_children(pid_t self)
{
	siginfo_t si;
	char path[64], buf[4096], *p, *e;
	long r;

	memset(&si, 0, sizeof(si));
	r = SYS(SYS_waitid, P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, NULL);
	if (r == -ECHILD)
		return 0;
	/* Only copies being torn down? /proc/self/task/<tid>/children. */
	e = fmt_uint(buf + 32, (unsigned long)self);
	strcpy(path, "/proc/self/task/");
	strcat(path, e);
	strcat(path, "/children");
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -ECHILD;
	for (p = buf; *p != '\0';) {
		unsigned long v = 0;

		while (*p == ' ' || *p == '\n')
			p++;
		if (*p == '\0')
			break;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (unsigned long)(*p++ - '0');
		/* A copy of an image that exec'd us is still our child (a
		 * committed one dies after the exec; its image's pending list
		 * is gone with it): ended, it is reaped here. Only a clone
		 * child (no exit signal, as our copies are) can be: the
		 * program's own children are never touched. Without this,
		 * configure's shells refused every checkpoint after such an
		 * exec (-ECHILD). */
		if (!is_pending((pid_t)v) &&
		    SYS(SYS_wait4, (pid_t)v, NULL, WNOHANG | __WCLONE, NULL) != (long)v)
			return -ECHILD;
		if (*p != ' ' && *p != '\n' && *p != '\0')
			return -ECHILD;
	}
	return 0;
}

static int
fork_check(pid_t self)
{
	struct stat sb;
	char buf[64];
	long r;

	struct ckpt *free;
	int i;

	if (slots_open(&free) > 0) {
		if (free == NULL)
			return -EALREADY;
		for (i = 0; i < CKPT_SLOTS; i++)
			if (st.slot[i].open && (st.slot[i].flags & CKPT_DEFER_SIGNALS))
				return -EALREADY; /* its mask is the program's now */
	}
	if (ident.self == self && ident.depth >= CKPT_MAX_DEPTH)
		return -ELOOP;
	/* One thread: the nlink of /proc/self/task is 2 + threads. */
	r = SYS(SYS_newfstatat, AT_FDCWD, "/proc/self/task", &sb, 0);
	if (r < 0)
		return -ENOENT;
	if (sb.st_nlink != 3)
		return -EBUSY;
	/* POSIX timers are not inherited (and some need a thread). */
	if (read_small("/proc/self/timers", buf, sizeof(buf)) > 0)
		return -EBUSY;
	return check_children(self);
}

static int
fork_available(void)
{
	pid_t self = own();

	ckpt_reap();
	return fork_check(self);
}

/* ------------------------------------------------------------ take */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Offsets and status flags of every open file, from /proc/self/fd. */
static int
record_fds(void)
{
	char buf[4096] __attribute__((aligned(8)));
	long dfd, n, pos, fl, off;
	int rc = 0;

	st.nfds = 0;
	dfd = SYS(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ENOENT;
	while (rc == 0 && (n = SYS(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (pos = 0; pos < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + pos);
			const char *s = d->d_name;
			long fd = 0;

			pos += d->d_reclen;
			if (*s < '0' || *s > '9')
				continue;
			while (*s >= '0' && *s <= '9')
				fd = fd * 10 + (*s++ - '0');
			if (fd == dfd)
				continue;
			fl = SYS(SYS_fcntl, fd, F_GETFL);
			if (fl < 0)
				continue;
			if (st.nfds == CKPT_MAX_FDS) {
				rc = -EMFILE;
				break;
			}
			/* Pipes, sockets and ttys say ESPIPE. */
			off = SYS(SYS_lseek, fd, 0, SEEK_CUR);
			st.fds[st.nfds].fd = (int)fd;
			st.fds[st.nfds].fl = (int)fl;
			st.fds[st.nfds].off = off < 0 ? -1 : off;
			st.fds[st.nfds].size = -1;
			if (size_filter != NULL && (fl & O_ACCMODE) != O_RDONLY && off >= 0 &&
			    size_filter((int)fd)) {
				struct stat sb;

				if (SYS(SYS_fstat, fd, &sb) == 0 && S_ISREG(sb.st_mode))
					st.fds[st.nfds].size = sb.st_size;
			}
			st.nfds++;
		}
	}
	SYS(SYS_close, dfd);
	return rc;
}

static void
record_timers(void)
{
	int i;

	st.have_timers = 0;
	for (i = 0; i < 3; i++) {
		if (SYS(SYS_getitimer, i, &st.timers[i]) < 0)
			memset(&st.timers[i], 0, sizeof(st.timers[i]));
		if (timerisset(&st.timers[i].it_value))
			st.have_timers = 1;
	}
	if (st.have_timers)
		clock_gettime(CLOCK_MONOTONIC, &st.t0);
}

/* Asynchronous signals, for CKPT_DEFER_SIGNALS; glibc's 32 and 33 stay. */
static uint64_t
deferrable(void)
{
	return ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) | SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) |
		 SIGBIT(SIGILL) | SIGBIT(SIGFPE) | SIGBIT(SIGTRAP) | SIGBIT(SIGSYS) |
		 SIGBIT(32) | SIGBIT(33));
}

/* In the copy, right after clone: wait for the verdict (or die). 1 if it
 * was told to outlive the original (the page's detach word may name a
 * newer copy by the time it resumes: a chain detaches both). */
static int
copy_wait(pid_t parent, uint32_t seq, void *robust, size_t robust_len)
{
	uint32_t ev;
	int detached = 0;

	if (robust != NULL)
		syscall(SYS_set_robust_list, robust, robust_len);
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if ((pid_t)syscall(SYS_getppid) != parent) /* it died before that */
		for (;;)
			syscall(SYS_kill, sys_getpid(), SIGKILL);
	syscall(SYS_prctl, PR_GET_NAME, st.comm, 0, 0, 0);
	syscall(SYS_prctl, PR_SET_NAME, "specnfs-ckpt", 0, 0, 0);
	for (;;) {
		ev = __atomic_load_n(&st.page->events, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&st.page->resume_seq, __ATOMIC_ACQUIRE) == seq)
			break;
		if (!detached && __atomic_load_n(&st.page->detach_seq, __ATOMIC_ACQUIRE) == seq) {
			/* the original exits first: outlive it (ckpt_detach) */
			syscall(SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0);
			detached = 1;
			__atomic_store_n(&st.page->detach_ack, seq, __ATOMIC_RELEASE);
			syscall(SYS_futex, &st.page->detach_ack, FUTEX_WAKE, INT_MAX, NULL, NULL,
				0);
		}
		syscall(SYS_futex, &st.page->events, FUTEX_WAIT, ev, NULL, NULL, 0);
	}
	return detached;
}

/* Tell the copy (sleeping on events) that a word changed. */
static void
page_event(void)
{
	__atomic_add_fetch(&st.page->events, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &st.page->events, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static long
ts_us(const struct timespec *a, const struct timespec *b)
{
	return (long)(a->tv_sec - b->tv_sec) * 1000000L + (a->tv_nsec - b->tv_nsec) / 1000;
}

static void
set_tv(struct timeval *tv, long us)
{
	tv->tv_sec = us / 1000000;
	tv->tv_usec = us % 1000000;
}

/*
 * Interval timers as they would be had the copy been running all along:
 * the real-time one less the time elapsed (one that expired meanwhile
 * fires at once; a periodic one restarts its period from then); the
 * CPU-time ones as they were (the copy has not run since).
 */
static void
restore_timers(void)
{
	struct itimerval *t = &st.timers[ITIMER_REAL];
	struct timespec now;
	long el, v;
	int i;

	if (!st.have_timers)
		return;
	if (timerisset(&t->it_value)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		el = ts_us(&now, &st.t0);
		v = t->it_value.tv_sec * 1000000L + t->it_value.tv_usec;
		set_tv(&t->it_value, el < v ? v - el : 1);
	}
	for (i = 0; i < 3; i++)
		if (timerisset(&st.timers[i].it_value))
			SYS(SYS_setitimer, i, &st.timers[i], NULL);
}

/*
 * A resumed detached copy, with signals blocked: split (ckpt_set_detached_
 * end). Returns in the child, which runs the program; the copy waits.
 */
static void
detached_split(void)
{
	void *robust = NULL;
	size_t robust_len = 0;
	pid_t *tid = tcb_tid();
	siginfo_t si;
	long pid, r;
	int ws;

	if (SYS(SYS_get_robust_list, 0, &robust, &robust_len) < 0)
		robust = NULL;
	pid = SYS(SYS_clone, tid != NULL ? CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID : 0, NULL,
		  NULL, tid, 0);
	if (pid == 0) {
		if (robust != NULL)
			syscall(SYS_set_robust_list, robust, robust_len);
		ident.waited = 1;
		return;
	}
	if (pid < 0)
		return; /* run on unsplit: an _exit or a signal reads as SIGKILL */
	SYS(SYS_close_range, 0, ~0U, 0);
	syscall(SYS_prctl, PR_SET_NAME, "specnfs-wait", 0, 0, 0);
	ident.self = sys_getpid(); /* ckpt_getpid(): the original's pid */
	for (;;) {
		memset(&si, 0, sizeof(si));
		r = SYS(SYS_waitid, P_PID, pid, &si, WEXITED | __WALL, NULL);
		if (r != -EINTR)
			break;
	}
	if (r < 0)
		ws = SIGKILL;
	else if (si.si_code == CLD_EXITED)
		ws = (si.si_status & 0xff) << 8;
	else
		ws = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
	detached_end(ws);
	sys_exit_group(0);
}

/* In the copy, after the verdict: become the program again. */
static void
copy_resume(pid_t parent, const struct ckpt *c, uint64_t *value, int detached)
{
	pid_t self;
	int i;

	if (value != NULL)
		*value = st.page->value;
	if (detached)
		ident.ppid = st.page->ppid; /* the original is gone: report to its parent */
	if (ident.pid != 0 && ident.self == parent) {
		ident.depth++; /* a rollback of a resumed copy */
	} else {
		ident.pid = parent;
		ident.depth = 1;
		if (!detached)
			ident.ppid = 0;
	}
	if (detached && detached_end != NULL)
		detached_split(); /* before the timers: a child does not inherit them */
	self = sys_getpid();
	for (i = 0; i < st.nfds; i++) {
		const struct fdrec *f = &st.fds[i];

		if (f->size >= 0)
			SYS(SYS_ftruncate, f->fd, f->size);
		if (f->off >= 0)
			SYS(SYS_lseek, f->fd, f->off, SEEK_SET);
		SYS(SYS_fcntl, f->fd, F_SETFL, f->fl);
	}
	restore_timers();
	ident.self = self;
	SYS(SYS_munmap, st.page, sizeof(*st.page));
	st.page = NULL;
	st.npending = 0; /* those were the original's children */
	slots_close(); /* an older one was committed before we were resumed */
	st.owner = self;
	syscall(SYS_prctl, PR_SET_NAME, st.comm, 0, 0, 0);
	sys_sigmask(SIG_SETMASK, c->mask, NULL);
}

static int
fork_take(unsigned flags, struct ckpt **out, uint64_t *value)
{
	pid_t self, parent;
	pid_t *tid;
	void *robust = NULL;
	size_t robust_len = 0;
	uint64_t old;
	struct ckpt *c;
	long pid, rc;

	self = own();
	ckpt_reap();
	rc = fork_check(self);
	if (rc < 0)
		return (int)rc;
	if (slots_open(&c) > 0 && (flags & CKPT_DEFER_SIGNALS))
		return -EALREADY;
	if (st.page == NULL) {
		void *p = (void *)syscall(SYS_mmap, NULL, sizeof(*st.page), PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -ENOMEM;
		st.page = p;
	}
	rc = record_fds();
	if (rc < 0)
		return (int)rc;
	record_timers();
	if (SYS(SYS_get_robust_list, 0, &robust, &robust_len) < 0)
		robust = NULL;
	tid = tcb_tid();

	sys_sigmask(SIG_SETMASK, ~0ULL, &old);
	c->head.backend = CKPT_FORK;
	c->owner = self;
	c->seq = ++st.seq;
	c->flags = flags;
	c->mask = old;
	c->added = 0;
	c->open = 1;
	parent = self;
	pid = SYS(SYS_clone, tid != NULL ? CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID : 0, NULL,
		  NULL, tid, 0);
	if (pid == 0) {
		int detached = copy_wait(parent, c->seq, robust, robust_len);

		copy_resume(parent, c, value, detached);
		*out = NULL;
		return 1;
	}
	if (pid < 0) {
		c->open = 0;
		sys_sigmask(SIG_SETMASK, old, NULL);
		return (int)pid;
	}
	c->pid = (pid_t)pid;
	if (flags & CKPT_DEFER_SIGNALS) {
		c->added = deferrable() & ~old;
		sys_sigmask(SIG_SETMASK, old | c->added, NULL);
	} else {
		sys_sigmask(SIG_SETMASK, old, NULL);
	}
	*out = c;
	return 0;
}

/* ------------------------------------------------------------ commit */

static int
mine(const struct ckpt *c, pid_t self)
{
	return c >= &st.slot[0] && c < &st.slot[CKPT_SLOTS] && c->open && c->owner == self &&
	       st.page != NULL;
}

static int
fork_commit(struct ckpt *c)
{
	pid_t self = own();

	if (!mine(c, self))
		return -EINVAL;
	SYS(SYS_kill, c->pid, SIGKILL);
	if (st.npending == CKPT_MAX_PENDING) {
		/* Make room: wait for the oldest one to finish dying. */
		SYS(SYS_wait4, st.pending[0], NULL, __WCLONE, NULL);
		memmove(st.pending, st.pending + 1, (size_t)--st.npending * sizeof(st.pending[0]));
	}
	st.pending[st.npending++] = c->pid;
	c->open = 0;
	if (c->added != 0)
		sys_sigmask(SIG_UNBLOCK, c->added, NULL);
	return 0;
}

/* ------------------------------------------------------------ the proxy */

/*
 * After a rollback the original process only stands in for the copy:
 * - it keeps the pid its parent waits for, and its process group;
 * - it is a child subreaper, so the copy's orphans stay below it while it
 *   lives (it reaps them; a later hand-over of a stacked copy to the
 *   outermost proxy becomes possible);
 * - it closes every file (a reader of a pipe the program writes sees EOF
 *   when the copy closes it) and moves to /, disarms its interval timers
 *   (the copy re-armed its own);
 * - every catchable signal it is sent goes to the copy, as SI_QUEUE with
 *   the sender's pid and uid; except signals the kernel sent to the whole
 *   process group (SI_KERNEL: tty ^C ^Z ^\, SIGWINCH, SIGHUP of an
 *   orphaned group), which the copy got too, its own children's SIGCHLD,
 *   and faults of its own;
 * - when the copy stops it stops with the same signal (its parent's
 *   waitpid(WUNTRACED) sees it); SIGCONT it receives goes to the copy;
 * - when the copy ends it ends the same way: same exit code, or killed by
 *   the same signal (no core dump).
 */
static volatile pid_t proxy_target;

static int
is_fault(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
	       sig == SIGTRAP || sig == SIGSYS;
}

/* The kernel's struct sigaction, for rt_sigaction without libc. */
struct ksigaction {
	void (*handler)(int, siginfo_t *, void *);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

#if defined(__x86_64__)
/* rt_sigreturn for our handlers (the kernel needs SA_RESTORER on x86-64). */
void ckpt__restore_rt(void);
__asm__(".text\n"
	".globl ckpt__restore_rt\n"
	".hidden ckpt__restore_rt\n"
	".type ckpt__restore_rt,@function\n"
	".align 16\n"
	"ckpt__restore_rt:\n"
	"\tmovq $15, %rax\n"
	"\tsyscall\n"
	"\thlt\n"
	".size ckpt__restore_rt,.-ckpt__restore_rt\n");
#endif

static void
set_handler(int sig, void (*fn)(int, siginfo_t *, void *))
{
#if defined(__x86_64__)
	struct ksigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.handler = fn;
	sa.flags = SA_RESTORER | (fn != NULL ? SA_SIGINFO | SA_RESTART : 0);
	sa.restorer = ckpt__restore_rt;
	sa.mask = ~0ULL;
	SYS(SYS_rt_sigaction, sig, &sa, NULL, sizeof(sa.mask));
#else
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (fn != NULL) {
		sa.sa_sigaction = fn;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
	} else {
		sa.sa_handler = SIG_DFL;
	}
	sigfillset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
#endif
}

static void
proxy_on_signal(int sig, siginfo_t *si, void *uc)
{
	siginfo_t fw;
	int saved = errno;

	if (si->si_code == SI_KERNEL)
		goto out; /* sent to the whole group: the copy has it too */
	if (sig == SIGCHLD && si->si_code > 0)
		goto out; /* about our own children */
	if (is_fault(sig) && si->si_code > 0) {
		set_handler(sig, NULL); /* our own fault: die of it */
		goto out;
	}
	memset(&fw, 0, sizeof(fw));
	if (si->si_code < 0 && si->si_code != SI_TKILL) {
		fw = *si; /* SI_QUEUE, SI_TIMER, SI_MESGQ...: as it came */
	} else {
		/* The kernel refuses to forge SI_USER/SI_TKILL; SI_QUEUE keeps
		 * the sender. Kernel codes (SIGIO's POLL_IN...) lose their
		 * details. */
		fw.si_signo = sig;
		fw.si_code = SI_QUEUE;
		if (si->si_code <= 0) {
			fw.si_pid = si->si_pid;
			fw.si_uid = si->si_uid;
		}
	}
	fw.si_signo = sig;
	syscall(SYS_rt_sigqueueinfo, proxy_target, sig, &fw);
out:
	errno = saved;
}

__attribute__((noreturn)) static void
proxy_die(int sig)
{
	struct rlimit64 no = { 0, 0 };

	syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
	syscall(SYS_prlimit64, 0, RLIMIT_CORE, &no, NULL);
	set_handler(sig, NULL);
	sys_sigmask(SIG_SETMASK, ~SIGBIT(sig), NULL);
	syscall(SYS_kill, sys_getpid(), sig);
	/* Still here: a signal whose default is not to kill. */
	sys_exit_group(128 + sig);
}

static void
proxy_stop(int sig)
{
	char buf[512];
	const char *state = proc_stat(proxy_target, buf, sizeof(buf));

	/*
	 * Only if the copy is still stopped: we may have been stopped and
	 * continued (with it, as a group) since waitid() reported its stop,
	 * and it may even have exited since. A SIGCONT sent to the copy
	 * alone between this check and our stop leaves us stopped until we
	 * are continued ourselves.
	 */
	if (state == NULL || *state != 'T')
		return;
	if (sig != SIGSTOP)
		set_handler(sig, NULL);
	/* Delivered before kill() returns: we stop here until SIGCONT. */
	syscall(SYS_kill, sys_getpid(), sig);
	if (sig != SIGSTOP)
		set_handler(sig, proxy_on_signal);
}

__attribute__((noreturn)) static void
become_proxy(pid_t target)
{
	struct itimerval zero;
	siginfo_t si;
	long r;
	int sig, i;

	proxy_target = target;
	syscall(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	memset(&zero, 0, sizeof(zero));
	for (i = 0; i < 3; i++)
		syscall(SYS_setitimer, i, &zero, NULL);
	if (SYS(SYS_close_range, 0, ~0U, 0) < 0) {
		struct rlimit64 rl;

		if (SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) < 0 || rl.rlim_cur > 65536)
			rl.rlim_cur = 65536;
		for (i = 0; i < (int)rl.rlim_cur; i++)
			syscall(SYS_close, i);
	}
	syscall(SYS_chdir, "/");
	for (sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != 32 && sig != 33)
			set_handler(sig, proxy_on_signal);
	/* What arrived while blocked (CKPT_DEFER_SIGNALS) goes now. */
	sys_sigmask(SIG_SETMASK, 0, NULL);
	for (;;) {
		memset(&si, 0, sizeof(si));
		/* P_ALL: orphans of the copy that came to us are reaped too. */
		r = SYS(SYS_waitid, P_ALL, 0, &si, WEXITED | WSTOPPED | WCONTINUED | __WALL, NULL);
		if (r == -EINTR)
			continue;
		if (r < 0)
			proxy_die(SIGKILL); /* no copy to stand in for */
		if (si.si_pid != target)
			continue;
		switch (si.si_code) {
		case CLD_EXITED:
			sys_exit_group(si.si_status);
		case CLD_KILLED:
		case CLD_DUMPED:
			proxy_die(si.si_status);
		case CLD_STOPPED:
			proxy_stop(si.si_status);
			break;
		default:
			break;
		}
	}
}

__attribute__((noreturn)) static void
fork_rollback(struct ckpt *c, uint64_t value)
{
	pid_t self = own();
	siginfo_t si;
	long r;
	int i;

	if (c == NULL || !mine(c, self)) {
		say("ckpt_rollback() of a checkpoint this process does not hold; ",
		    "it ran ahead on a wrong answer and cannot continue");
		for (;;)
			syscall(SYS_kill, self, SIGKILL);
	}
	/* The copy of any other checkpoint still open goes: a newer one
	 * belongs to the execution being discarded; an older one's verdict
	 * is the caller's to have waited for (it held). */
	for (i = 0; i < CKPT_SLOTS; i++)
		if (&st.slot[i] != c && st.slot[i].open)
			fork_commit(&st.slot[i]);
	sys_sigmask(SIG_SETMASK, ~0ULL, NULL);
	memset(&si, 0, sizeof(si));
	r = SYS(SYS_waitid, P_PID, c->pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, NULL);
	if (r < 0 || si.si_pid == c->pid)
		say("the copy to roll back to is gone; ", "ending as it ended");
	st.page->value = value;
	__atomic_store_n(&st.page->resume_seq, c->seq, __ATOMIC_RELEASE);
	page_event();
	c->open = 0;
	become_proxy(c->pid);
}

/* The copy must outlive this process: it stops dying with us and will be
 * released by fork_release() from a process that inherited c. */
static int
fork_detach(struct ckpt *c, pid_t ppid)
{
	pid_t self = own();
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	if (!mine(c, self))
		return -EINVAL;
	st.page->ppid = ppid; /* the same for every copy of a chain */
	__atomic_store_n(&st.page->detach_seq, c->seq, __ATOMIC_RELEASE);
	page_event();
	for (i = 0; i < 200; i++) {
		uint32_t ack = __atomic_load_n(&st.page->detach_ack, __ATOMIC_ACQUIRE);

		if (ack == c->seq)
			break;
		if (SYS(SYS_kill, c->pid, 0) < 0)
			return -ESRCH;
		syscall(SYS_futex, &st.page->detach_ack, FUTEX_WAIT, ack, &ts, NULL, 0);
	}
	if (__atomic_load_n(&st.page->detach_ack, __ATOMIC_ACQUIRE) != c->seq)
		return -ETIMEDOUT;
	c->open = 0; /* not ours to commit or roll back any more */
	return 0;
}

/* From a process that inherited a detached c: resume its copy as the
 * original (which is gone), or kill it. */
static void
fork_release(struct ckpt *c, int resume, uint64_t value)
{
	if (!resume || st.page == NULL) {
		SYS(SYS_kill, c->pid, SIGKILL);
		return;
	}
	st.page->value = value;
	__atomic_store_n(&st.page->resume_seq, c->seq, __ATOMIC_RELEASE);
	page_event();
}

const struct ckpt__backend ckpt__fork_backend = {
	.name = "fork",
	.available = fork_available,
	.take = fork_take,
	.commit = fork_commit,
	.rollback = fork_rollback,
	.detach = fork_detach,
	.release = fork_release,
};

/* ------------------------------------------------------------ identity */

pid_t
ckpt_getpid(void)
{
	pid_t self = sys_getpid();

	return ident.pid != 0 && ident.self == self ? ident.pid : self;
}

pid_t
ckpt_real_pid(pid_t pid)
{
	pid_t self;

	if (ident.pid == 0 || pid != ident.pid)
		return pid;
	self = sys_getpid();
	return ident.self == self ? self : pid;
}

/* Field 4 of /proc/<pid>/stat; -1 if unreadable. */
static pid_t
ppid_of(pid_t pid)
{
	char buf[512];
	const char *p = proc_stat(pid, buf, sizeof(buf));
	long v = 0;

	if (p == NULL || p[1] != ' ')
		return -1;
	for (p += 2; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	return v > 0 ? (pid_t)v : -1;
}

pid_t
ckpt_getppid(void)
{
	int saved = errno;
	pid_t self, pp, r;

	pp = (pid_t)syscall(SYS_getppid);
	if (ident.pid == 0)
		return pp;
	self = sys_getpid();
	if (self == ident.self && ident.ppid != 0) {
		errno = saved;
		return ident.ppid; /* a detached copy: the original's parent */
	}
	if (self == ident.self) {
		/* The program's parent is the proxy's. Our parent is not the
		 * proxy any more only if the proxy died (then so do we). */
		r = ppid_of(ident.pid);
		errno = saved;
		return r > 0 ? r : pp;
	}
	/* A child of the resumed copy sees the original pid as its parent. */
	return pp == ident.self ? ident.pid : pp;
}

int
ckpt_detached(void)
{
	return ident.ppid != 0 && !ident.waited && ident.self == sys_getpid();
}

pid_t
ckpt_copy_pid(const struct ckpt *c)
{
	return c != NULL && c->open ? c->pid : -1;
}
