/*
 * spec/sud.c - output commit for speculative epochs with Syscall User
 * Dispatch (see spec/sud.h for the contract with the shim).
 *
 * How it works (x86-64, rules measured on this machine, see DESIGN.md):
 *
 * - Exempt range. Every syscall this file issues goes through a few asm
 *   stubs in one text section, [spec_sud__exempt_start, _end): the kernel
 *   checks the address *after* the syscall instruction against that range,
 *   so each stub's syscall is followed by an instruction inside it.
 *   rt_sigreturn is not exempt on x86-64: our SIGSYS handler is installed
 *   with raw rt_sigaction and its own SA_RESTORER, which is in the range.
 *
 * - Selectors. One selector byte per armed thread, in a static slot array
 *   (not TLS: epoch_begin sets every thread's). A per-thread "hold" count
 *   (spec_sud_suspend, and the handler itself) keeps the thread's selector
 *   at ALLOW: the barrier callback and the shim's own work may then make
 *   ordinary syscalls. Owner and epoch toggler follow a store/fence/re-check
 *   protocol; the only race left can leave a stale BLOCK, which costs one
 *   spurious trap (answered by letting the call run natively), never a
 *   stale ALLOW inside an epoch.
 *
 * - The handler runs on the program's stack (no SA_ONSTACK): it needs no
 *   per-thread setup, works in every thread the moment it is armed, and
 *   does not land on a program's tiny sigaltstack unless the program is
 *   already running there. It uses a few hundred bytes of stack (no path
 *   buffers). It is installed with SA_NODEFER and a mask of every signal
 *   but SIGSYS: program signals wait until the trap is answered (a program
 *   handler must never run inside ours while we hold ALLOW), and a nested
 *   trap (stale selector) re-enters instead of killing the process.
 *
 * - errno: saved at entry, restored at exit. The program's syscall result
 *   goes back in RAX in the kernel's convention (-errno), so its libc sets
 *   errno exactly as for the native call.
 *
 * - Barriers are never re-issued from the handler: after barrier() has
 *   closed the epoch the handler rewinds RIP by 2 (the syscall instruction)
 *   and returns; the program re-executes its own instruction natively. So
 *   fork, vfork, clone(CLONE_VM|CLONE_VFORK) (posix_spawn, system),
 *   clone3 (pthread_create), execve and exit_group behave exactly as
 *   without us: no child ever returns through our handler's frame.
 *
 * - Signals: the program's rt_sigprocmask is emulated on the trap frame's
 *   uc_sigmask (restored by our rt_sigreturn) with SIGSYS kept unblocked and
 *   tracked virtually per thread; rt_sigaction strips SIGSYS from masks and
 *   keeps the program's SIGSYS disposition virtual; a trapped rt_sigreturn
 *   (a program handler returning through glibc's restorer) is performed
 *   from the exempt range on the program's own frame; sigaltstack updates
 *   the frame's uc_stack so our rt_sigreturn does not undo it.
 *
 * - The output buffer is one mmap'd region (MAP_NORESERVE, never malloc:
 *   the handler may run inside malloc), a sequence of chunks in call order,
 *   each naming a duplicate (F_DUPFD_CLOEXEC, high numbers) of the
 *   program's fd taken at its first buffered write in the epoch: the
 *   duplicate keeps the open file description (offset, pipe end) alive if
 *   the program closes or reuses the number, and a pipe reader sees EOF
 *   only after commit. Regular files outside the mirror are written at
 *   commit through the shared offset; until then anything that could
 *   observe such a file (read, lseek, fstat, mmap, stat/open by path, ...)
 *   is a barrier.
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
#include <linux/audit.h>
#include <linux/prctl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "client/spec/sud.h"

#if !defined(__x86_64__)
#error "spec/sud.c: x86-64 only (syscall instruction, register layout, exempt stubs)"
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

/* Syscalls newer than bookworm's headers (x86-64 numbers are stable). */
#define SUD_NR_close_range 436
#define SUD_NR_openat2 437
#define SUD_NR_faccessat2 439
#define SUD_NR_epoll_pwait2 441
#define SUD_NR_futex_waitv 449
#define SUD_NR_fchmodat2 452
#define SUD_NR_MAX 512

#define SUD_MAX_THREADS 256 /* armed threads at once */
#define SUD_FD_MAX 1024     /* fds whose class is cached; output fds must be below */
#define SUD_MAX_DUPS 256    /* fds with buffered output per epoch */
#define SUD_MAX_DIRTY 64    /* regular files with buffered output per epoch */
#define SUD_DUP_MIN 512     /* where our duplicates live (F_DUPFD minimum) */
#define SUD_IOV_BATCH 16 /* on the stack: the handler may run on a sigaltstack */
#define SUD_MAX_RW 0x7ffff000L /* the kernel's MAX_RW_COUNT */
#define SUD_IOV_MAX 1024

#define SUD_BIT(sig) (1ULL << ((sig)-1))

/* ------------------------------------------------------------ exempt stubs */

/*
 * long spec_sud__sys6(nr, a1..a6): a raw syscall, -errno on failure.
 * spec_sud__restorer: our SA_RESTORER (rt_sigreturn).
 * spec_sud__sigreturn_at(sp): rt_sigreturn on the frame at sp (a program
 * handler's frame whose own rt_sigreturn trapped).
 * Every syscall instruction is followed by one more instruction in range.
 */
__asm__(".pushsection .text.spec_sud_exempt,\"ax\",@progbits\n"
	".balign 16\n"
	".globl spec_sud__exempt_start\n"
	".hidden spec_sud__exempt_start\n"
	"spec_sud__exempt_start:\n"
	".globl spec_sud__sys6\n"
	".hidden spec_sud__sys6\n"
	".type spec_sud__sys6,@function\n"
	"spec_sud__sys6:\n"
	"	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	movq %rdx, %rsi\n"
	"	movq %rcx, %rdx\n"
	"	movq %r8, %r10\n"
	"	movq %r9, %r8\n"
	"	movq 8(%rsp), %r9\n"
	"	syscall\n"
	"	ret\n"
	".size spec_sud__sys6, .-spec_sud__sys6\n"
	".balign 16\n"
	".globl spec_sud__restorer\n"
	".hidden spec_sud__restorer\n"
	".type spec_sud__restorer,@function\n"
	"spec_sud__restorer:\n"
	"	movq $15, %rax\n"
	"	syscall\n"
	"	ud2\n"
	".size spec_sud__restorer, .-spec_sud__restorer\n"
	".balign 16\n"
	".globl spec_sud__sigreturn_at\n"
	".hidden spec_sud__sigreturn_at\n"
	".type spec_sud__sigreturn_at,@function\n"
	"spec_sud__sigreturn_at:\n"
	"	movq %rdi, %rsp\n"
	"	movq $15, %rax\n"
	"	syscall\n"
	"	ud2\n"
	".size spec_sud__sigreturn_at, .-spec_sud__sigreturn_at\n"
	".globl spec_sud__exempt_end\n"
	".hidden spec_sud__exempt_end\n"
	"spec_sud__exempt_end:\n"
	"	ud2\n"
	".popsection\n");

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

/* ------------------------------------------------------------ state */

/* The kernel's struct sigaction (x86-64). */
struct sud_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct sud_slot {
	volatile unsigned char sel; /* read by the kernel */
	unsigned char armed;        /* SUD is on for the owner thread */
	unsigned char persistent;   /* armed by spec_sud_arm_thread */
	unsigned char vsys;         /* the program believes SIGSYS is blocked */
	int used;                   /* owned by a thread */
	int hold;                   /* owner only: >0 keeps sel at ALLOW */
	pid_t tid;
} __attribute__((aligned(64)));

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

/* A buffered call; its data follows, the next chunk is 8-aligned. */
struct sud_chunk {
	uint32_t len;
	int32_t fd; /* our duplicate */
	uint8_t kind;
	uint8_t merge; /* may be gathered with same-fd neighbours (not sockets) */
	uint16_t pad;
	int32_t flags; /* send flags */
	int64_t off;   /* pwrite offset */
};

static struct spec_sud_ops sud_ops;
static int sud_inited;
static pid_t sud_pid;
static int sud_no_pvm;        /* process_vm_readv refused: plain memcpy */
static uint64_t sud_anon_dev; /* anon_inodefs (eventfd, timerfd ...) */
static int sud_have_anon_dev;
static pthread_key_t sud_key;

static struct sud_slot sud_slots[SUD_MAX_THREADS];
static int sud_nslots; /* high-water mark */
static __thread int sud_tls_slot __attribute__((tls_model("initial-exec"))); /* index+1 */

static int sud_epoch;     /* an epoch is open */
static uint32_t sud_gen = 1; /* bumped at every open and close */
static int sud_lock_word;

static struct sud_ksigaction sud_vsigsys; /* the program's SIGSYS disposition */

/* Under sud_lock: */
static char *sud_arena;
static size_t sud_arena_max;
static size_t sud_used;       /* bytes of arena in use (chunks) */
static size_t sud_data_bytes; /* output bytes waiting */
static struct sud_fd sud_fds[SUD_FD_MAX];
static int sud_dups[SUD_MAX_DUPS];
static int sud_ndups;
static struct {
	uint64_t dev, ino;
} sud_dirty[SUD_MAX_DIRTY];
static int sud_ndirty;

static struct {
	uint64_t traps, buffered_bytes, barriers, reissued, emulated, committed_bytes,
		discarded_bytes;
} sud_st;

#define STAT_ADD(field, n) __atomic_add_fetch(&sud_st.field, (n), __ATOMIC_RELAXED)

static void sud_handler(int sig, siginfo_t *si, void *uctx);

/* ------------------------------------------------------------ small helpers */

static int
sud_load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Under sud_lock: a new generation (never 0) invalidates the fd cache and
 * tells in-flight traps that their epoch is over. */
static void
sud_bump_gen(void)
{
	uint32_t g = sud_gen + 1;

	__atomic_store_n(&sud_gen, g == 0 ? 1 : g, __ATOMIC_SEQ_CST);
}

static void
sud_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Block every signal (SIGSYS too: nothing here traps) while we hold the
 * lock outside the handler, so that no handler on this thread can want it. */
static uint64_t
sud_block_all(void)
{
	uint64_t all = ~0ULL, old = 0;

	SYS4(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, 8);
	return old;
}

static void
sud_restore_mask(uint64_t old)
{
	SYS4(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
}

static void
sud_lock(void)
{
	unsigned n = 0;

	while (__atomic_exchange_n(&sud_lock_word, 1, __ATOMIC_ACQUIRE)) {
		if (++n < 64) {
			__builtin_ia32_pause();
		} else {
			SYS0(SYS_sched_yield);
			n = 0;
		}
	}
}

static void
sud_unlock(void)
{
	__atomic_store_n(&sud_lock_word, 0, __ATOMIC_RELEASE);
}

static pid_t
sud_gettid(void)
{
	return (pid_t)SYS0(SYS_gettid);
}

/* Copy n bytes of the program's memory, -EFAULT instead of a crash. */
static long
sud_peek(void *dst, const void *src, size_t n)
{
	struct iovec l = { dst, n }, r = { (void *)src, n };
	long got;

	if (!sud_no_pvm) {
		got = SYS6(SYS_process_vm_readv, sud_pid, &l, 1, &r, 1, 0);
		if (got == (long)n)
			return 0;
		return got < 0 ? got : -EFAULT;
	}
	if (src == NULL)
		return -EFAULT;
	memcpy(dst, src, n);
	return 0;
}

static long
sud_poke(void *dst, const void *src, size_t n)
{
	struct iovec l = { (void *)src, n }, r = { dst, n };
	long got;

	if (!sud_no_pvm) {
		got = SYS6(SYS_process_vm_writev, sud_pid, &l, 1, &r, 1, 0);
		if (got == (long)n)
			return 0;
		return got < 0 ? got : -EFAULT;
	}
	if (dst == NULL)
		return -EFAULT;
	memcpy(dst, src, n);
	return 0;
}

/* ------------------------------------------------------------ selectors */

static struct sud_slot *
sud_self(void)
{
	int i = sud_tls_slot;

	return i > 0 ? &sud_slots[i - 1] : NULL;
}

/*
 * Owner side: the selector follows (hold, open). Store, fence, re-check:
 * a toggler that changed `open` after our read either wrote the slot after
 * our store (its value stands) or we see its change and store again.
 */
static void
sud_owner_set_sel(struct sud_slot *s)
{
	int open;
	unsigned char want;

	for (;;) {
		open = sud_load(&sud_epoch);
		want = (__atomic_load_n(&s->hold, __ATOMIC_SEQ_CST) == 0 && open)
			       ? SYSCALL_DISPATCH_FILTER_BLOCK
			       : SYSCALL_DISPATCH_FILTER_ALLOW;
		__atomic_store_n(&s->sel, want, __ATOMIC_SEQ_CST);
		sud_fence();
		if (sud_load(&sud_epoch) == open)
			return;
	}
}

static void
sud_hold_enter(struct sud_slot *s)
{
	__atomic_add_fetch(&s->hold, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->sel, SYSCALL_DISPATCH_FILTER_ALLOW, __ATOMIC_SEQ_CST);
}

static void
sud_hold_leave(struct sud_slot *s)
{
	__atomic_sub_fetch(&s->hold, 1, __ATOMIC_SEQ_CST);
	sud_owner_set_sel(s);
}

/* Toggler side, under sud_lock: open or close the epoch for every slot. */
static void
sud_toggle_locked(int open)
{
	int i, n;

	sud_bump_gen();
	__atomic_store_n(&sud_epoch, open, __ATOMIC_SEQ_CST);
	sud_fence();
	n = sud_load(&sud_nslots);
	for (i = 0; i < n; i++) {
		struct sud_slot *s = &sud_slots[i];

		if (!sud_load(&s->used) || sud_load(&s->hold) != 0)
			continue;
		__atomic_store_n(&s->sel,
				 open ? SYSCALL_DISPATCH_FILTER_BLOCK
				      : SYSCALL_DISPATCH_FILTER_ALLOW,
				 __ATOMIC_SEQ_CST);
	}
}

static int
sud_arm_slot(struct sud_slot *s)
{
	long r;

	sud_owner_set_sel(s);
	r = SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		 (unsigned long)spec_sud__exempt_start,
		 (unsigned long)(spec_sud__exempt_end - spec_sud__exempt_start), &s->sel);
	if (r < 0)
		return (int)r;
	s->armed = 1;
	return 0;
}

static void
sud_disarm_slot(struct sud_slot *s)
{
	SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
	s->armed = 0;
}

/* The calling thread's slot, taking a free one if it has none. */
static struct sud_slot *
sud_slot_get(void)
{
	struct sud_slot *s = sud_self();
	int i, zero, n;

	if (s != NULL)
		return s;
	for (i = 0; i < SUD_MAX_THREADS; i++) {
		zero = 0;
		if (!__atomic_compare_exchange_n(&sud_slots[i].used, &zero, 1, 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue;
		s = &sud_slots[i];
		s->hold = 0;
		s->armed = 0;
		s->persistent = 0;
		s->vsys = 0;
		s->tid = sud_gettid();
		s->sel = SYSCALL_DISPATCH_FILTER_ALLOW;
		sud_tls_slot = i + 1;
		n = sud_load(&sud_nslots);
		while (n < i + 1 &&
		       !__atomic_compare_exchange_n(&sud_nslots, &n, i + 1, 0, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST))
			;
		return s;
	}
	return NULL;
}

/* pthread key destructor: a persistently armed thread is exiting. */
static void
sud_thread_exit(void *v)
{
	struct sud_slot *s = sud_self();

	(void)v;
	if (s == NULL)
		return;
	sud_disarm_slot(s);
	s->persistent = 0;
	s->tid = 0;
	sud_tls_slot = 0;
	__atomic_store_n(&s->used, 0, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------ buffer */

static size_t
sud_chunk_size(size_t len)
{
	return (sizeof(struct sud_chunk) + len + 7) & ~(size_t)7;
}

static int
sud_is_dup_locked(int fd)
{
	int i;

	for (i = 0; i < sud_ndups; i++)
		if (sud_dups[i] == fd)
			return 1;
	return 0;
}

static int
sud_is_dup(int fd)
{
	int r;

	if (sud_load(&sud_ndups) == 0)
		return 0;
	sud_lock();
	r = sud_is_dup_locked(fd);
	sud_unlock();
	return r;
}

static int
sud_dirty_has(uint64_t dev, uint64_t ino)
{
	int i, r = 0;

	if (sud_load(&sud_ndirty) == 0)
		return 0;
	sud_lock();
	for (i = 0; i < sud_ndirty; i++)
		if (sud_dirty[i].dev == dev && sud_dirty[i].ino == ino)
			r = 1;
	sud_unlock();
	return r;
}

/* Forget buffered output and the epoch's fd state (under sud_lock). */
static void
sud_reset_locked(void)
{
	int i;

	for (i = 0; i < sud_ndups; i++)
		SYS1(SYS_close, sud_dups[i]);
	__atomic_store_n(&sud_ndups, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sud_ndirty, 0, __ATOMIC_SEQ_CST);
	sud_used = 0;
	__atomic_store_n(&sud_data_bytes, 0, __ATOMIC_SEQ_CST);
}

/* Write iov[0..n) to fd completely (EINTR retried, EAGAIN waited for). */
static long
sud_write_all(int fd, struct iovec *iov, int n, int kind, int64_t off, int flags)
{
	long r;
	struct pollfd p;

	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		if (kind == CK_PWRITE)
			r = SYS4(SYS_pwrite64, fd, iov->iov_base, iov->iov_len, off);
		else if (kind == CK_SEND)
			r = SYS6(SYS_sendto, fd, iov->iov_base, iov->iov_len, flags, 0, 0);
		else
			r = SYS3(SYS_writev, fd, iov, n);
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) {
			p.fd = fd;
			p.events = POLLOUT;
			p.revents = 0;
			SYS3(SYS_poll, &p, 1, -1);
			continue;
		}
		if (r < 0)
			return r;
		if (r == 0)
			return -EIO;
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (long)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Write out every chunk in order (under sud_lock). First -errno or 0. */
static int
sud_flush_locked(void)
{
	struct iovec iov[SUD_IOV_BATCH];
	size_t off = 0, o;
	long r;
	int err = 0, n;

	while (off < sud_used) {
		struct sud_chunk *c = (struct sud_chunk *)(sud_arena + off);

		n = 0;
		o = off;
		do {
			struct sud_chunk *d = (struct sud_chunk *)(sud_arena + o);

			if (n > 0 && !(c->merge && d->merge && d->kind == CK_WRITE &&
				       d->fd == c->fd))
				break;
			iov[n].iov_base = d + 1;
			iov[n].iov_len = d->len;
			n++;
			o += sud_chunk_size(d->len);
		} while (c->merge && o < sud_used && n < SUD_IOV_BATCH);
		r = sud_write_all(c->fd, iov, n, c->kind, c->off, c->flags);
		if (r < 0 && err == 0)
			err = (int)r;
		off = o;
	}
	return err;
}

/* ------------------------------------------------------------ fds */

static int
sud_nulldev(uint64_t rdev)
{
	/* /dev/null, zero, full, random, urandom: no one sees these bytes */
	if (major(rdev) != 1)
		return 0;
	switch (minor(rdev)) {
	case 3:
	case 5:
	case 7:
	case 8:
	case 9:
		return 1;
	}
	return 0;
}

/* An anon inode (eventfd, timerfd, signalfd, epoll, pidfd ...): no type
 * bits on this kernel; older/newer ones may use S_IFREG on anon_inodefs. */
static int
sud_anon(const struct sud_fd *f)
{
	return (f->mode & S_IFMT) == 0 || (sud_have_anon_dev && f->dev == sud_anon_dev);
}

static long
sud_fd_get(int fd, struct sud_fd *out)
{
	struct stat st;
	uint32_t gen = __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST);
	long r, fl;

	if (fd >= 0 && fd < SUD_FD_MAX) {
		sud_lock();
		if (sud_fds[fd].gen == gen) {
			*out = sud_fds[fd];
			sud_unlock();
			return 0;
		}
		sud_unlock();
	}
	r = SYS2(SYS_fstat, fd, &st);
	if (r < 0)
		return r;
	fl = SYS2(SYS_fcntl, fd, F_GETFL);
	if (fl < 0)
		return fl;
	memset(out, 0, sizeof(*out));
	out->gen = gen;
	out->mode = st.st_mode;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->rdev = st.st_rdev;
	out->flags = (int)fl;
	out->dupfd = -1;
	out->mirror = -1;
	if (fd >= 0 && fd < SUD_FD_MAX) {
		sud_lock();
		if (sud_fds[fd].gen != gen && __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST) == gen)
			sud_fds[fd] = *out;
		else if (sud_fds[fd].gen == gen)
			*out = sud_fds[fd];
		sud_unlock();
	}
	return 0;
}

static int
sud_fd_mirror(int fd, struct sud_fd *f)
{
	if (f->mirror < 0) {
		f->mirror = (signed char)(sud_ops.is_mirror_fd != NULL &&
					  sud_ops.is_mirror_fd(sud_ops.ctx, fd) > 0);
		if (fd >= 0 && fd < SUD_FD_MAX) {
			sud_lock();
			if (sud_fds[fd].gen == f->gen)
				sud_fds[fd].mirror = f->mirror;
			sud_unlock();
		}
	}
	return f->mirror;
}

static void
sud_fd_forget(long first, long last)
{
	long i;

	if (first < 0)
		return;
	if (last >= SUD_FD_MAX)
		last = SUD_FD_MAX - 1;
	sud_lock();
	for (i = first; i <= last; i++)
		sud_fds[i].gen = 0;
	sud_unlock();
}

static int
sud_path_mirror(long dirfd, const char *path)
{
	return sud_ops.is_mirror_path != NULL &&
	       sud_ops.is_mirror_path(sud_ops.ctx, (int)dirfd, path) > 0;
}

/* ------------------------------------------------------------ classification */

enum {
	A_LOCAL = 1, /* re-issue from the handler */
	A_DONE,      /* answered: t->ret */
	A_BARRIER,   /* barrier, then run natively */
	A_RESTART,   /* the epoch closed meanwhile: run natively */
	A_SIGRETURN, /* perform the program's rt_sigreturn */
};

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
};

/* fd/path argument positions; -1: none (for dirfd: AT_FDCWD). */
struct sud_rule {
	uint8_t cls;
	int8_t fd, dirfd, path, dirfd2, path2, flags;
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

/*
 * What each syscall is during an epoch. Anything not listed is a barrier:
 * fork, vfork, clone, clone3, execve(at), exit, exit_group, wait4, waitid,
 * nanosleep, pause, rt_sigsuspend, rt_sigtimedwait, recv*, accept*,
 * connect, bind, listen, shutdown, sendmmsg, splice, sendfile,
 * copy_file_range, flock, io_uring, ptrace, setsid, setpgid,
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
	[SYS_dup] = R_LOCAL, [SYS_pipe] = R_LOCAL, [SYS_pipe2] = R_LOCAL,
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

/* One trapped call. */
struct sud_trap {
	long nr;
	long a[6];
	long ret;
	uint32_t gen; /* epoch generation at the trap */
	ucontext_t *uc;
	struct sud_slot *s;
};

/* The epoch this trap belongs to is still the open one. */
static int
sud_same_epoch(const struct sud_trap *t)
{
	return sud_load(&sud_epoch) && __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST) == t->gen;
}

static int
sud_fd_observe(int fd)
{
	struct sud_fd f;

	if (sud_load(&sud_ndirty) == 0)
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
	}
	return A_BARRIER; /* pipes, sockets, terminals: input consumed */
}

/* Where the bytes of an output call are. */
struct sud_src {
	const void *buf;
	size_t len;
	const struct iovec *uiov; /* or the program's iovec array */
	long cnt;
};

/* Total length of the program's iovec array; -errno as writev would. */
static long
sud_iov_total(const struct iovec *uiov, long cnt, size_t *total)
{
	struct iovec tmp[SUD_IOV_BATCH];
	size_t sum = 0;
	long i, j, n, r;

	if (cnt < 0 || cnt > SUD_IOV_MAX)
		return -EINVAL;
	for (i = 0; i < cnt; i += n) {
		n = cnt - i < SUD_IOV_BATCH ? cnt - i : SUD_IOV_BATCH;
		r = sud_peek(tmp, uiov + i, (size_t)n * sizeof(tmp[0]));
		if (r < 0)
			return r;
		for (j = 0; j < n; j++) {
			if ((ssize_t)tmp[j].iov_len < 0 || sum + tmp[j].iov_len > (size_t)SSIZE_MAX)
				return -EINVAL;
			sum += tmp[j].iov_len;
		}
	}
	*total = sum;
	return 0;
}

/* Copy up to len bytes of the call's data to dst; bytes copied or -EFAULT. */
static long
sud_copy_in(char *dst, size_t len, const struct sud_src *src)
{
	struct iovec l = { dst, len }, r;
	long got, i;
	size_t done = 0, n;

	if (!sud_no_pvm) {
		if (src->uiov != NULL) {
			got = SYS6(SYS_process_vm_readv, sud_pid, &l, 1, src->uiov, src->cnt, 0);
		} else {
			r.iov_base = (void *)src->buf;
			r.iov_len = len;
			got = SYS6(SYS_process_vm_readv, sud_pid, &l, 1, &r, 1, 0);
		}
		if (got == 0 && len > 0)
			return -EFAULT;
		return got;
	}
	if (src->uiov == NULL) {
		memcpy(dst, src->buf, len);
		return (long)len;
	}
	for (i = 0; i < src->cnt && done < len; i++) {
		n = src->uiov[i].iov_len;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, src->uiov[i].iov_base, n);
		done += n;
	}
	return (long)done;
}

static int
sud_peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT, .revents = 0 };

	return SYS3(SYS_poll, &p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP));
}

/*
 * An output call: buffer it, or decide it is local (no one else sees it,
 * or it fails natively without effect) or a barrier.
 */
static int
sud_output(struct sud_trap *t, int fd, const struct sud_src *src, int kind, int64_t off,
	   int flags)
{
	struct sud_fd f;
	struct sud_fd *e;
	struct sud_chunk *c;
	size_t total, need;
	long r, got;
	int regular = 0, type, dup;

	if (sud_fd_get(fd, &f) < 0)
		return A_LOCAL;
	type = (int)(f.mode & S_IFMT);
	if (kind == CK_SEND && type != S_IFSOCK)
		return A_LOCAL; /* ENOTSOCK */
	if ((f.flags & O_PATH) || (f.flags & O_ACCMODE) == O_RDONLY)
		return A_LOCAL; /* EBADF */
	if (sud_anon(&f))
		return A_BARRIER; /* eventfd and friends: a signal to someone */
	switch (type) {
	case S_IFDIR:
		return A_LOCAL; /* EISDIR / EBADF */
	case S_IFCHR:
		if (sud_nulldev(f.rdev))
			return A_LOCAL;
		break;
	case S_IFREG:
		if (sud_fd_mirror(fd, &f))
			return A_LOCAL;
		regular = 1;
		break;
	case S_IFIFO:
	case S_IFSOCK:
		/* no reader left (or a reset connection): natively this write
		 * fails with EPIPE, and `prog | head` relies on it. Commit first,
		 * then let the program's write meet the error itself. */
		if (sud_peer_gone(fd))
			return A_BARRIER;
		break;
	default:
		return A_BARRIER;
	}
	if (kind == CK_PWRITE && (!regular || off < 0))
		return A_LOCAL; /* ESPIPE / EINVAL */
	if (src->uiov != NULL) {
		r = sud_iov_total(src->uiov, src->cnt, &total);
		if (r < 0)
			return A_LOCAL; /* the kernel says the same */
	} else {
		total = src->len;
	}
	if (total == 0)
		return A_LOCAL;
	if (total > (size_t)SUD_MAX_RW)
		total = (size_t)SUD_MAX_RW;
	if (fd < 0 || fd >= SUD_FD_MAX)
		return A_BARRIER;
	need = sud_chunk_size(total);
	if (need > sud_arena_max)
		return A_BARRIER;

	sud_lock();
	if (!sud_same_epoch(t)) {
		sud_unlock();
		return A_RESTART;
	}
	if (sud_used + need > sud_arena_max) {
		sud_unlock();
		return A_BARRIER; /* full: commit early */
	}
	e = &sud_fds[fd];
	if (e->gen != t->gen) {
		*e = f;
		e->gen = t->gen;
	}
	if (e->dupfd < 0) {
		if (sud_ndups >= SUD_MAX_DUPS)
			goto barrier;
		dup = (int)SYS3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, SUD_DUP_MIN);
		if (dup == -EINVAL || dup == -EMFILE)
			dup = (int)SYS3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 10);
		if (dup < 0)
			goto barrier;
		sud_dups[sud_ndups] = dup;
		__atomic_store_n(&sud_ndups, sud_ndups + 1, __ATOMIC_SEQ_CST);
		e->dupfd = dup;
	}
	if (regular) {
		int i, have = 0;

		for (i = 0; i < sud_ndirty; i++)
			if (sud_dirty[i].dev == f.dev && sud_dirty[i].ino == f.ino)
				have = 1;
		if (!have) {
			if (sud_ndirty >= SUD_MAX_DIRTY)
				goto barrier;
			sud_dirty[sud_ndirty].dev = f.dev;
			sud_dirty[sud_ndirty].ino = f.ino;
			__atomic_store_n(&sud_ndirty, sud_ndirty + 1, __ATOMIC_SEQ_CST);
		}
	}
	c = (struct sud_chunk *)(sud_arena + sud_used);
	got = sud_copy_in((char *)(c + 1), total, src);
	if (got < 0) {
		sud_unlock();
		t->ret = got;
		return A_DONE;
	}
	c->len = (uint32_t)got;
	c->fd = e->dupfd;
	c->kind = (uint8_t)kind;
	c->merge = kind == CK_WRITE && type != S_IFSOCK;
	c->pad = 0;
	c->flags = flags;
	c->off = off;
	sud_used += sud_chunk_size((size_t)got);
	__atomic_store_n(&sud_data_bytes, sud_data_bytes + (size_t)got, __ATOMIC_SEQ_CST);
	sud_unlock();
	STAT_ADD(buffered_bytes, (uint64_t)got);
	t->ret = got;
	return A_DONE;
barrier:
	sud_unlock();
	return A_BARRIER;
}

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
	if (res == -ENOENT && (flags & O_CREAT))
		return sud_path_mirror(dirfd, path) ? A_LOCAL : A_BARRIER;
	return A_LOCAL;
}

static int
sud_stat(struct sud_trap *t, const struct sud_rule *r)
{
	struct stat st;
	long dirfd = r->dirfd >= 0 ? t->a[r->dirfd] : AT_FDCWD;
	long flags = r->flags >= 0 ? t->a[r->flags] : 0;

	if (sud_load(&sud_ndirty) == 0)
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
		return A_BARRIER;
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

/* A signal to ourselves: local, unless its default action ends or stops
 * the process (then our buffered output must go first). */
static int
sud_self_signal(struct sud_trap *t, long sig)
{
	struct sud_ksigaction ka;
	uint64_t mask = ((uint64_t *)&t->uc->uc_sigmask)[0];

	if (sig <= 0 || sig > 64)
		return A_LOCAL;
	if (sig == SIGKILL || sig == SIGSTOP)
		return A_BARRIER;
	if (mask & SUD_BIT(sig))
		return A_LOCAL; /* stays pending */
	if (sig == SIGSYS) {
		ka = sud_vsigsys;
	} else if (SYS4(SYS_rt_sigaction, sig, 0, &ka, 8) < 0) {
		return A_LOCAL;
	}
	if (ka.handler != SIG_DFL)
		return A_LOCAL;
	switch (sig) {
	case SIGCHLD:
	case SIGCONT:
	case SIGURG:
	case SIGWINCH:
		return A_LOCAL; /* ignored by default */
	}
	return A_BARRIER;
}

static int
sud_is_our_tid(long tid)
{
	int i, n = sud_load(&sud_nslots);

	if (tid == sud_gettid())
		return 1;
	for (i = 0; i < n; i++)
		if (sud_load(&sud_slots[i].used) && sud_slots[i].tid == tid)
			return 1;
	return 0;
}

static int
sud_sigaction(struct sud_trap *t)
{
	struct sud_ksigaction ka, old;
	long sig = t->a[0];
	void *act = (void *)t->a[1], *oact = (void *)t->a[2];

	if (t->a[3] != 8 || sig < 1 || sig > 64)
		return A_LOCAL; /* EINVAL */
	if (sig == SIGSYS) {
		/* the program's SIGSYS is virtual: ours stays installed */
		if (act != NULL && sud_peek(&ka, act, sizeof(ka)) < 0) {
			t->ret = -EFAULT;
			return A_DONE;
		}
		old = sud_vsigsys;
		if (oact != NULL && sud_poke(oact, &old, sizeof(old)) < 0) {
			t->ret = -EFAULT;
			return A_DONE;
		}
		if (act != NULL)
			sud_vsigsys = ka;
		STAT_ADD(emulated, 1);
		t->ret = 0;
		return A_DONE;
	}
	if (act == NULL || sig == SIGKILL || sig == SIGSTOP)
		return A_LOCAL;
	if (sud_peek(&ka, act, sizeof(ka)) < 0)
		return A_LOCAL; /* EFAULT */
	ka.mask &= ~SUD_BIT(SIGSYS);
	t->ret = SYS4(SYS_rt_sigaction, sig, &ka, oact, 8);
	STAT_ADD(reissued, 1);
	return A_DONE;
}

/* rt_sigprocmask on the frame's mask, which our rt_sigreturn installs. */
static int
sud_sigprocmask(struct sud_trap *t)
{
	uint64_t *m = (uint64_t *)&t->uc->uc_sigmask;
	uint64_t cur, set = 0, nw;
	long how = t->a[0];
	void *uset = (void *)t->a[1], *uold = (void *)t->a[2];

	if (t->a[3] != 8)
		return A_LOCAL; /* EINVAL, no change */
	cur = m[0] | (t->s->vsys ? SUD_BIT(SIGSYS) : 0);
	nw = cur;
	if (uset != NULL) {
		if (sud_peek(&set, uset, sizeof(set)) < 0) {
			t->ret = -EFAULT;
			return A_DONE;
		}
		switch (how) {
		case SIG_BLOCK:
			nw = cur | set;
			break;
		case SIG_UNBLOCK:
			nw = cur & ~set;
			break;
		case SIG_SETMASK:
			nw = set;
			break;
		default:
			t->ret = -EINVAL;
			return A_DONE;
		}
	}
	if (uold != NULL && sud_poke(uold, &cur, sizeof(cur)) < 0) {
		t->ret = -EFAULT;
		return A_DONE;
	}
	nw &= ~(SUD_BIT(SIGKILL) | SUD_BIT(SIGSTOP));
	t->s->vsys = (nw & SUD_BIT(SIGSYS)) != 0;
	m[0] = nw & ~SUD_BIT(SIGSYS);
	STAT_ADD(emulated, 1);
	t->ret = 0;
	return A_DONE;
}

static int
sud_sigaltstack(struct sud_trap *t)
{
	stack_t cur;

	t->ret = SYS2(SYS_sigaltstack, t->a[0], t->a[1]);
	STAT_ADD(reissued, 1);
	/* our rt_sigreturn restores uc_stack: make it the new one */
	if (t->ret == 0 && t->a[0] != 0 && SYS2(SYS_sigaltstack, 0, &cur) == 0)
		t->uc->uc_stack = cur;
	return A_DONE;
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

static int
sud_classify(struct sud_trap *t)
{
	const struct sud_rule *r;
	struct sud_src src = { 0 };
	long lo, hi;
	int i;

	if (t->nr < 0 || t->nr >= SUD_NR_MAX)
		return A_BARRIER;
	r = &sud_rules[t->nr];
	switch (r->cls) {
	case C_LOCAL:
		return A_LOCAL;
	case C_FDOBS:
		return sud_fd_observe((int)t->a[r->fd]);
	case C_READ:
		return sud_read((int)t->a[0]);
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
		sud_lock();
		for (i = 0; i < sud_ndups; i++)
			if (sud_dups[i] >= lo && sud_dups[i] <= hi) {
				sud_unlock();
				return A_BARRIER;
			}
		sud_unlock();
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

/* ------------------------------------------------------------ the handler */

/* Close the epoch the trap belongs to, through the shim. 0: it is closed,
 * run the call natively; <0: fail the call with that. */
static long
sud_run_barrier(struct sud_trap *t)
{
	long r;

	STAT_ADD(barriers, 1);
	if (!sud_same_epoch(t))
		return 0;
	r = sud_ops.barrier != NULL ? sud_ops.barrier(sud_ops.ctx, t->nr) : 0;
	if (r >= 0) {
		if (sud_same_epoch(t))
			spec_sud_commit();
		return 0;
	}
	if (t->nr == SYS_exit || t->nr == SYS_exit_group) {
		if (sud_same_epoch(t))
			spec_sud_discard();
		return 0;
	}
	return r;
}

/* Let the program's own syscall instruction run again (selector ALLOW by
 * then). Every x86-64 way into the kernel (syscall, int $0x80, sysenter)
 * is 2 bytes. */
static int
sud_restart(greg_t *g, long nr)
{
	const unsigned char *ip = (const unsigned char *)g[REG_RIP] - 2;

	if (!((ip[0] == 0x0f && (ip[1] == 0x05 || ip[1] == 0x34)) ||
	      (ip[0] == 0xcd && ip[1] == 0x80)))
		return -1;
	g[REG_RIP] -= 2;
	g[REG_RAX] = nr;
	return 0;
}

static long
sud_reissue(const struct sud_trap *t)
{
	STAT_ADD(reissued, 1);
	return SYS6(t->nr, t->a[0], t->a[1], t->a[2], t->a[3], t->a[4], t->a[5]);
}

/* A SIGSYS that is not ours: the program's disposition, virtually. */
static void
sud_forward(int sig, siginfo_t *si, void *uctx)
{
	struct sud_ksigaction va = sud_vsigsys, dfl;
	struct sud_ksigaction ours;

	if (va.handler == SIG_IGN)
		return;
	if (va.handler == SIG_DFL) {
		memset(&dfl, 0, sizeof(dfl));
		SYS4(SYS_rt_sigaction, SIGSYS, &dfl, 0, 8);
		SYS3(SYS_tgkill, sud_pid, sud_gettid(), SIGSYS); /* unblocked: dies here */
		memset(&ours, 0, sizeof(ours));
		ours.handler = (void *)sud_handler;
		ours.flags = SA_SIGINFO | SA_RESTORER | SA_NODEFER;
		ours.restorer = (void *)spec_sud__restorer;
		ours.mask = ~SUD_BIT(SIGSYS);
		SYS4(SYS_rt_sigaction, SIGSYS, &ours, 0, 8);
		return;
	}
	if (va.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))va.handler)(sig, si, uctx);
	else
		((void (*)(int))va.handler)(sig);
}

static void
sud_handler(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	greg_t *g = uc->uc_mcontext.gregs;
	int saved_errno = errno;
	struct sud_trap t;
	struct sud_slot *s;
	int held, action;
	long r;

	if (si->si_code != SYS_USER_DISPATCH) {
		sud_forward(sig, si, uctx);
		errno = saved_errno;
		return;
	}
	STAT_ADD(traps, 1);
	t.nr = si->si_syscall;
	t.a[0] = g[REG_RDI];
	t.a[1] = g[REG_RSI];
	t.a[2] = g[REG_RDX];
	t.a[3] = g[REG_R10];
	t.a[4] = g[REG_R8];
	t.a[5] = g[REG_R9];
	t.ret = -ENOSYS;
	t.uc = uc;
	t.gen = __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST);
	s = t.s = sud_self();
	if (s == NULL) {
		/* a thread whose slot was released: just do it */
		g[REG_RAX] = sud_reissue(&t);
		errno = saved_errno;
		return;
	}
	held = __atomic_load_n(&s->hold, __ATOMIC_SEQ_CST);
	sud_hold_enter(s);

	if (held || !sud_load(&sud_epoch) || si->si_arch != AUDIT_ARCH_X86_64) {
		/* a stale selector (the shim's own call, or the epoch just
		 * closed), or a foreign ABI (int $0x80): close the epoch if it
		 * is open, then run natively */
		if (!held && si->si_arch != AUDIT_ARCH_X86_64 && sud_load(&sud_epoch)) {
			r = sud_run_barrier(&t);
			if (r < 0) {
				g[REG_RAX] = r;
				goto out;
			}
		}
		if (sud_restart(g, t.nr) < 0)
			g[REG_RAX] = sud_reissue(&t);
		goto out;
	}

	action = sud_classify(&t);
	switch (action) {
	case A_LOCAL:
		g[REG_RAX] = sud_reissue(&t);
		break;
	case A_DONE:
		g[REG_RAX] = t.ret;
		break;
	case A_BARRIER:
		r = sud_run_barrier(&t);
		if (r < 0) {
			g[REG_RAX] = r;
			break;
		}
		/* fall through */
	case A_RESTART:
		if (sud_restart(g, t.nr) < 0)
			g[REG_RAX] = sud_reissue(&t);
		break;
	case A_SIGRETURN: {
		/* the program's handler returns through its own restorer:
		 * do its rt_sigreturn on its frame (uc at the trapped sp) */
		ucontext_t *puc = (ucontext_t *)g[REG_RSP];
		uint64_t *pm = (uint64_t *)&puc->uc_sigmask;

		if (pm[0] & SUD_BIT(SIGSYS)) {
			s->vsys = 1;
			pm[0] &= ~SUD_BIT(SIGSYS);
		}
		STAT_ADD(emulated, 1);
		sud_hold_leave(s);
		errno = saved_errno;
		spec_sud__sigreturn_at((void *)g[REG_RSP]);
	}
	}
out:
	sud_hold_leave(s);
	errno = saved_errno;
}

/* ------------------------------------------------------------ signals */

static int
sud_install_handler(void)
{
	struct sud_ksigaction ka, old;
	long r;

	memset(&ka, 0, sizeof(ka));
	ka.handler = (void *)sud_handler;
	ka.flags = SA_SIGINFO | SA_RESTORER | SA_NODEFER;
	ka.restorer = (void *)spec_sud__restorer;
	ka.mask = ~SUD_BIT(SIGSYS);
	r = SYS4(SYS_rt_sigaction, SIGSYS, &ka, &old, 8);
	if (r < 0)
		return (int)r;
	if (old.handler != (void *)sud_handler)
		sud_vsigsys = old;
	return 0;
}

/*
 * Before an epoch: our SIGSYS handler in place (the program may have
 * replaced it natively), SIGSYS unblocked in this thread (remembered
 * virtually), and no installed handler blocking SIGSYS (a trap inside it
 * would kill the process): 62 rt_sigaction queries, most of the cost of
 * epoch_begin; SPEC_SUD_NO_SIGNAL_SWEEP skips them.
 */
static int
sud_prepare_signals(struct sud_slot *s)
{
	struct sud_ksigaction ka;
	uint64_t unblock = SUD_BIT(SIGSYS), old = 0;
	int sig, r;

	if (SYS4(SYS_rt_sigaction, SIGSYS, 0, &ka, 8) == 0 && ka.handler != (void *)sud_handler) {
		r = sud_install_handler();
		if (r < 0)
			return r;
	}
	if (SYS4(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, &old, 8) == 0 &&
	    (old & SUD_BIT(SIGSYS)))
		s->vsys = 1;
	if (sud_ops.flags & SPEC_SUD_NO_SIGNAL_SWEEP)
		return 0;
	for (sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSYS)
			continue;
		if (SYS4(SYS_rt_sigaction, sig, 0, &ka, 8) < 0)
			continue;
		if (ka.handler == SIG_DFL || ka.handler == SIG_IGN || !(ka.mask & SUD_BIT(SIGSYS)))
			continue;
		ka.mask &= ~SUD_BIT(SIGSYS);
		SYS4(SYS_rt_sigaction, sig, &ka, 0, 8);
	}
	return 0;
}

void
spec_sud_fix_sigaction(struct sigaction *act)
{
	if (act != NULL)
		sigdelset(&act->sa_mask, SIGSYS);
}

void
spec_sud_fix_sigmask(int how, sigset_t *set)
{
	struct sud_slot *s = sud_self();

	if (set == NULL || (how != SIG_BLOCK && how != SIG_SETMASK))
		return;
	if (sigismember(set, SIGSYS) && s != NULL)
		s->vsys = 1;
	else if (how == SIG_SETMASK && s != NULL)
		s->vsys = 0;
	sigdelset(set, SIGSYS);
}

int
spec_sud_sigsys_action(const struct sigaction *act, struct sigaction *oact)
{
	struct sud_ksigaction ka;

	if (oact != NULL) {
		memset(oact, 0, sizeof(*oact));
		oact->sa_handler = (void (*)(int))sud_vsigsys.handler;
		oact->sa_flags = (int)(sud_vsigsys.flags & ~(unsigned long)SA_RESTORER);
		memcpy(&oact->sa_mask, &sud_vsigsys.mask, sizeof(sud_vsigsys.mask));
	}
	if (act != NULL) {
		memset(&ka, 0, sizeof(ka));
		ka.handler = (void *)act->sa_handler;
		ka.flags = (unsigned long)act->sa_flags;
		memcpy(&ka.mask, &act->sa_mask, sizeof(ka.mask));
		sud_vsigsys = ka;
	}
	return 0;
}

/* ------------------------------------------------------------ public */

static void
sud_after_fork_internal(pid_t pid)
{
	struct sud_slot *self = sud_self();
	int i, n = sud_load(&sud_nslots);

	sud_pid = pid;
	__atomic_store_n(&sud_lock_word, 0, __ATOMIC_SEQ_CST);
	for (i = 0; i < n; i++) {
		if (&sud_slots[i] == self)
			continue;
		sud_slots[i].armed = 0;
		sud_slots[i].persistent = 0;
		sud_slots[i].tid = 0;
		__atomic_store_n(&sud_slots[i].used, 0, __ATOMIC_SEQ_CST);
	}
	sud_lock();
	sud_reset_locked(); /* our copies of the parent's duplicates */
	sud_bump_gen();
	__atomic_store_n(&sud_epoch, 0, __ATOMIC_SEQ_CST);
	sud_unlock();
	if (self != NULL) {
		self->tid = sud_gettid();
		self->armed = 0; /* SUD is off in a fork child */
		if (self->persistent)
			sud_arm_slot(self);
		else
			self->sel = SYSCALL_DISPATCH_FILTER_ALLOW;
	}
}

static void
sud_check_fork(void)
{
	pid_t pid = (pid_t)SYS0(SYS_getpid);

	if (pid != sud_pid) {
		uint64_t m = sud_block_all();

		sud_after_fork_internal(pid);
		sud_restore_mask(m);
	}
}

void
spec_sud_after_fork(void)
{
	uint64_t m;

	if (!sud_inited)
		return;
	m = sud_block_all();
	sud_after_fork_internal((pid_t)SYS0(SYS_getpid));
	sud_restore_mask(m);
}

int
spec_sud_init(const struct spec_sud_ops *ops)
{
	static unsigned char probe_sel = SYSCALL_DISPATCH_FILTER_ALLOW;
	struct stat st;
	long r, fd;
	int probe = 42, copy = 0;
	struct iovec l = { &copy, sizeof(copy) }, rv = { &probe, sizeof(probe) };
	void *p;

	if (ops != NULL)
		sud_ops = *ops;
	else
		memset(&sud_ops, 0, sizeof(sud_ops));
	if (sud_ops.buf_max == 0)
		sud_ops.buf_max = SPEC_SUD_BUF_MAX_DEFAULT;
	if (sud_inited)
		return 0;
	sud_pid = (pid_t)SYS0(SYS_getpid);

	/* Does this kernel have SUD? (ON then OFF, no epoch yet) */
	r = SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		 (unsigned long)spec_sud__exempt_start,
		 (unsigned long)(spec_sud__exempt_end - spec_sud__exempt_start), &probe_sel);
	if (r < 0)
		return (int)r;
	SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);

	p = (void *)SYS6(SYS_mmap, 0, sud_ops.buf_max, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if ((unsigned long)p > -4096UL)
		return (int)(long)p;
	sud_arena = p;
	sud_arena_max = sud_ops.buf_max;

	fd = SYS2(SYS_eventfd2, 0, O_CLOEXEC);
	if (fd >= 0) {
		if (SYS2(SYS_fstat, fd, &st) == 0) {
			sud_anon_dev = st.st_dev;
			sud_have_anon_dev = 1;
		}
		SYS1(SYS_close, fd);
	}
	r = SYS6(SYS_process_vm_readv, sud_pid, &l, 1, &rv, 1, 0);
	sud_no_pvm = r != (long)sizeof(probe) || copy != probe;

	r = pthread_key_create(&sud_key, sud_thread_exit);
	if (r != 0)
		return -(int)r;
	r = sud_install_handler();
	if (r < 0)
		return (int)r;
	__atomic_store_n(&sud_inited, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int
spec_sud_arm_thread(void)
{
	struct sud_slot *s;
	uint64_t unblock = SUD_BIT(SIGSYS), old = 0;
	int r;

	if (!sud_inited)
		return -ENOSYS;
	sud_check_fork();
	s = sud_slot_get();
	if (s == NULL)
		return -EAGAIN;
	/* libc work first: once armed, it could trap */
	pthread_setspecific(sud_key, (void *)1);
	s->persistent = 1;
	if (SYS4(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, &old, 8) == 0 &&
	    (old & SUD_BIT(SIGSYS)))
		s->vsys = 1;
	if (s->armed)
		return 0;
	r = sud_arm_slot(s);
	if (r < 0)
		s->persistent = 0;
	return r;
}

int
spec_sud_epoch_begin(void)
{
	struct sud_slot *s;
	uint64_t m;
	int r;

	if (!sud_inited)
		return -ENOSYS;
	sud_check_fork();
	s = sud_slot_get();
	if (s == NULL)
		return -EAGAIN;
	if (!s->armed) {
		/* also when another thread opened the epoch: join it armed */
		r = sud_arm_slot(s);
		if (r < 0)
			return r;
	}
	if (sud_load(&sud_epoch))
		return 0;
	r = sud_prepare_signals(s);
	if (r < 0)
		return r;
	m = sud_block_all();
	sud_lock();
	if (!sud_load(&sud_epoch)) {
		sud_reset_locked();
		sud_toggle_locked(1);
	}
	sud_unlock();
	sud_restore_mask(m);
	return 0;
}

/* The calling thread was armed only for the epoch: disarm it. */
static void
sud_temp_disarm(void)
{
	struct sud_slot *s = sud_self();

	if (s != NULL && s->armed && !s->persistent && !sud_load(&sud_epoch))
		sud_disarm_slot(s);
}

void
spec_sud_epoch_end(void)
{
	uint64_t m;

	if (!sud_inited)
		return;
	m = sud_block_all();
	sud_lock();
	if (sud_load(&sud_epoch))
		sud_toggle_locked(0);
	sud_unlock();
	sud_restore_mask(m);
	sud_temp_disarm();
}

int
spec_sud_epoch_open(void)
{
	return sud_load(&sud_epoch);
}

int
spec_sud_commit(void)
{
	uint64_t m;
	size_t n;
	int r;

	if (!sud_inited)
		return 0;
	sud_check_fork();
	m = sud_block_all();
	sud_lock();
	n = sud_data_bytes;
	r = sud_flush_locked();
	sud_reset_locked();
	if (sud_load(&sud_epoch))
		sud_toggle_locked(0);
	else
		sud_bump_gen();
	sud_unlock();
	sud_restore_mask(m);
	STAT_ADD(committed_bytes, n);
	sud_temp_disarm();
	return r;
}

void
spec_sud_discard(void)
{
	uint64_t m;
	size_t n;

	if (!sud_inited)
		return;
	sud_check_fork();
	m = sud_block_all();
	sud_lock();
	n = sud_data_bytes;
	sud_reset_locked();
	if (sud_load(&sud_epoch))
		sud_toggle_locked(0);
	else
		sud_bump_gen();
	sud_unlock();
	sud_restore_mask(m);
	STAT_ADD(discarded_bytes, n);
	sud_temp_disarm();
}

size_t
spec_sud_buffered(void)
{
	return __atomic_load_n(&sud_data_bytes, __ATOMIC_SEQ_CST);
}

void
spec_sud_suspend(void)
{
	struct sud_slot *s = sud_self();

	if (s != NULL)
		sud_hold_enter(s);
}

void
spec_sud_resume(void)
{
	struct sud_slot *s = sud_self();

	if (s != NULL)
		sud_hold_leave(s);
}

void
spec_sud_stats(struct spec_sud_stats *out)
{
	out->traps = __atomic_load_n(&sud_st.traps, __ATOMIC_RELAXED);
	out->buffered_bytes = __atomic_load_n(&sud_st.buffered_bytes, __ATOMIC_RELAXED);
	out->barriers = __atomic_load_n(&sud_st.barriers, __ATOMIC_RELAXED);
	out->reissued = __atomic_load_n(&sud_st.reissued, __ATOMIC_RELAXED);
	out->emulated = __atomic_load_n(&sud_st.emulated, __ATOMIC_RELAXED);
	out->committed_bytes = __atomic_load_n(&sud_st.committed_bytes, __ATOMIC_RELAXED);
	out->discarded_bytes = __atomic_load_n(&sud_st.discarded_bytes, __ATOMIC_RELAXED);
}
