/*
 * spec/sud_internal.h - what the files of the SUD output commit share
 * (spec/sud.h is the contract with the shim; spec/README.md maps the files).
 *
 * Every file that includes this defines _GNU_SOURCE first. Internal names
 * are sud_*: the library is built with -fvisibility=hidden, so none of them
 * is exported from the shim.
 */
#ifndef SPECNFS_SPEC_SUD_INTERNAL_H
#define SPECNFS_SPEC_SUD_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <ucontext.h>

#include "client/spec/sud.h"

#if !defined(__x86_64__)
#error "spec/sud: x86-64 only (syscall instruction, register layout, exempt stubs)"
#endif

#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
#ifndef F_DUPFD_CLOEXEC
#define F_DUPFD_CLOEXEC 1030
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SUD_MAX_THREADS 256 /* armed threads at once */
#define SUD_FD_MAX 1024     /* fds whose class is cached; output fds must be below */
#define SUD_IOV_BATCH 16 /* on the stack: the handler may run on a sigaltstack */

#define SUD_BIT(sig) (1ULL << ((sig)-1))

/* ------------------------------------------------------------ exempt stubs */

/* spec/sud_stubs.c: the exempt text range and the syscalls in it. */
extern const char spec_sud__exempt_start[] __attribute__((visibility("hidden")));
extern const char spec_sud__exempt_end[] __attribute__((visibility("hidden")));
long spec_sud__sys6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
	__attribute__((visibility("hidden")));
void spec_sud__restorer(void) __attribute__((visibility("hidden")));
void spec_sud__sigreturn_at(void *sp) __attribute__((visibility("hidden"), noreturn));

#define SYS6(n, a, b, c, d, e, f)                                                         \
	spec_sud__sys6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), \
		       (long)(f))
#define SYS0(n) SYS6(n, 0, 0, 0, 0, 0, 0)
#define SYS1(n, a) SYS6(n, a, 0, 0, 0, 0, 0)
#define SYS2(n, a, b) SYS6(n, a, b, 0, 0, 0, 0)
#define SYS3(n, a, b, c) SYS6(n, a, b, c, 0, 0, 0)
#define SYS4(n, a, b, c, d) SYS6(n, a, b, c, d, 0, 0)
#define SYS5(n, a, b, c, d, e) SYS6(n, a, b, c, d, e, 0)

/* ------------------------------------------------------------ state (spec/sud.c) */

struct sud_slot {
	volatile unsigned char sel; /* read by the kernel */
	unsigned char armed;        /* SUD is on for the owner thread */
	unsigned char persistent;   /* armed by spec_sud_arm_thread */
	unsigned char vsys;         /* the program believes SIGSYS is blocked */
	int used;                   /* owned by a thread */
	int hold;                   /* owner only: >0 keeps sel at ALLOW */
	pid_t tid;
} __attribute__((aligned(64)));

/* One trapped call. */
struct sud_trap {
	long nr;
	long a[6];
	long ret;
	uint32_t gen; /* epoch generation at the trap */
	ucontext_t *uc;
	struct sud_slot *s;
};

/* What the handler does with a trapped call (sud_classify's answer). */
enum {
	A_LOCAL = 1, /* re-issue from the handler */
	A_DONE,      /* answered: t->ret */
	A_BARRIER,   /* barrier, then run natively */
	A_RESTART,   /* the epoch closed meanwhile: run natively */
	A_SIGRETURN, /* perform the program's rt_sigreturn */
	A_FORK,      /* a fork: sud_ops.fork decides, then re-issue it */
	A_CREATE,    /* re-issue an open that creates a file; note the file */
	A_PIPE,      /* re-issue pipe/pipe2; note the pipe */
	A_UNLINK,    /* unlink a temporary file under a hidden name */
};
/* Files by identity: regular files with held output (sud_buffer.c),
 * pipes made while speculative (sud_rules.c). */
struct sud_file_id {
	uint64_t dev, ino;
};

static inline int
sud_file_in(const struct sud_file_id *t, int n, uint64_t dev, uint64_t ino)
{
	int i;

	for (i = 0; i < n; i++)
		if (t[i].dev == dev && t[i].ino == ino)
			return 1;
	return 0;
}

int sud_pipe_ours(uint64_t dev, uint64_t ino);
void sud_pipe_note(const int *fds);
void sud_pipes_forget(void);
int sud_pipe_through(uint64_t dev, uint64_t ino);
int sud_created_room(long dirfd, const char *path);
void sud_created_note(long fd);
int sud_direct_class(long nr);
int sud_created_through(uint64_t dev, uint64_t ino);
int sud_unlink_ok(struct sud_trap *t, long dirfd, const char *path);
long sud_unlink_hidden(struct sud_trap *t);
void sud_tmpdir_init(const char *tmpdir);

extern struct spec_sud_ops sud_ops;
extern pid_t sud_pid;
extern int sud_no_pvm;        /* process_vm_readv refused: plain memcpy */
extern uint64_t sud_anon_dev; /* anon_inodefs (eventfd, timerfd ...) */
extern int sud_have_anon_dev;
extern int sud_epoch;         /* an epoch is open */
extern uint32_t sud_gen;      /* bumped at every open and close */

extern struct sud_stats_raw {
	uint64_t traps, buffered_bytes, barriers, reissued, emulated, committed_bytes,
		discarded_bytes, forks, handed_bytes, direct;
} sud_st;

#define STAT_ADD(field, n) __atomic_add_fetch(&sud_st.field, (n), __ATOMIC_RELAXED)

static inline int
sud_load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline pid_t
sud_gettid(void)
{
	return (pid_t)SYS0(SYS_gettid);
}

/* The epoch this trap belongs to is still the open one. */
static inline int
sud_same_epoch(const struct sud_trap *t)
{
	return sud_load(&sud_epoch) && __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST) == t->gen;
}

void sud_lock(void);
void sud_unlock(void);
long sud_peek(void *dst, const void *src, size_t n);
long sud_poke(void *dst, const void *src, size_t n);
struct sud_slot *sud_self(void);
void sud_hold_leave(struct sud_slot *s);
int sud_is_our_tid(long tid);
void sud_handler(int sig, siginfo_t *si, void *uctx);

/* ------------------------------------------------------------ spec/sud_buffer.c */

/* One cached fd of the current epoch. */
struct sud_fd {
	uint32_t gen; /* valid when == sud_gen */
	uint32_t mode;
	uint64_t dev, ino, rdev;
	int flags;     /* F_GETFL */
	int dupfd;     /* our duplicate holding its buffered output, or -1 */
	signed char mirror; /* -1: not asked yet */
};

enum { CK_WRITE = 1, CK_PWRITE, CK_SEND };

int sud_tmp_through(int fd, const struct sud_fd *f, int kind, int64_t off);

/* Where the bytes of an output call are. */
struct sud_src {
	const void *buf;
	size_t len;
	const struct iovec *uiov; /* or the program's iovec array */
	long cnt;
};

int sud_buf_init(size_t max);
void sud_reset_locked(void);
int sud_flush_locked(void);
size_t sud_buf_bytes(void);
int sud_dup_in_range(long lo, long hi);
/* 1 if fd is one of our duplicates (not open, as far as the program knows). */
static inline int
sud_is_dup(int fd)
{
	return sud_dup_in_range(fd, fd);
}
int sud_dirty_any(void);
int sud_dirty_has(uint64_t dev, uint64_t ino);
int sud_output(struct sud_trap *t, int fd, const struct sud_src *src, int kind, int64_t off,
	       int flags);

int sud_nulldev(uint64_t rdev);
int sud_anon(const struct sud_fd *f);
long sud_fd_get(int fd, struct sud_fd *out);
int sud_fd_mirror(int fd, struct sud_fd *f);
void sud_fd_forget(long first, long last);

/* ------------------------------------------------------------ spec/sud_rules.c */

int sud_classify(struct sud_trap *t);

/* ------------------------------------------------------------ spec/sud_signals.c */

int sud_install_handler(void);
void sud_unblock_sigsys(struct sud_slot *s);
int sud_prepare_signals(struct sud_slot *s);
void sud_forward(int sig, siginfo_t *si, void *uctx);
int sud_self_signal(struct sud_trap *t, long sig);
int sud_sigaction(struct sud_trap *t);
int sud_sigprocmask(struct sud_trap *t);
int sud_sigaltstack(struct sud_trap *t);
void sud_sigreturn(struct sud_slot *s, greg_t *g, int saved_errno)
	__attribute__((noreturn));

#endif
