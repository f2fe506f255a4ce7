/*
 * spec/sud.c - output commit for speculative epochs with Syscall User
 * Dispatch (see spec/sud.h for the contract with the shim): arming
 * threads, the selector protocol, the SIGSYS handler that dispatches each
 * trapped call, and the public entry points. The other files of this
 * concept (spec/README.md): sud_stubs.c (the exempt range), sud_rules.c
 * (what each syscall is), sud_buffer.c (the output held back),
 * sud_signals.c (the program's signal state), sud_internal.h.
 *
 * How it works (x86-64, rules measured on this machine, see DESIGN.md):
 *
 * - Exempt range. Every syscall these files issue goes through a few asm
 *   stubs in one text section (spec/sud_stubs.c): the kernel lets them
 *   through whatever the selector says.
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
 *   clone with a stack of its own (posix_spawn, system), clone3
 *   (pthread_create), execve and exit_group behave exactly as without us.
 *   The one exception is a plain fork that sud_ops.fork lets go on inside
 *   the epoch (speculation across processes): the handler issues it (vfork
 *   as a fork), and the child, with its own copy of this stack, returns
 *   through the handler like the parent.
 *
 * - Signals (spec/sud_signals.c) and the output buffer
 *   (spec/sud_buffer.c) say how they work in their own opening comments.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "client/spec/sud_internal.h"

/* ------------------------------------------------------------ state */

/* Not static: shared with the other sud files (sud_internal.h). */
struct spec_sud_ops sud_ops;
static int sud_inited;
pid_t sud_pid;
int sud_no_pvm;
uint64_t sud_anon_dev;
int sud_have_anon_dev;
static pthread_key_t sud_key;

static struct sud_slot sud_slots[SUD_MAX_THREADS];
static int sud_nslots; /* high-water mark */
static __thread int sud_tls_slot __attribute__((tls_model("initial-exec"))); /* index+1 */

int sud_epoch;
uint32_t sud_gen = 1;
static int sud_lock_word;

struct sud_stats_raw sud_st;

/* ------------------------------------------------------------ small helpers */

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

void
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

void
sud_unlock(void)
{
	__atomic_store_n(&sud_lock_word, 0, __ATOMIC_RELEASE);
}

/* Copy n bytes between our memory and the program's (process_vm_readv
 * or _writev: nr), -EFAULT instead of a crash. */
static long
sud_vm_copy(long nr, void *ours, void *theirs, size_t n)
{
	struct iovec l = { ours, n }, r = { theirs, n };
	long got;

	if (!sud_no_pvm) {
		got = SYS6(nr, sud_pid, &l, 1, &r, 1, 0);
		if (got == (long)n)
			return 0;
		return got < 0 ? got : -EFAULT;
	}
	if (theirs == NULL)
		return -EFAULT;
	if (nr == SYS_process_vm_readv)
		memcpy(ours, theirs, n);
	else
		memcpy(theirs, ours, n);
	return 0;
}

long
sud_peek(void *dst, const void *src, size_t n)
{
	return sud_vm_copy(SYS_process_vm_readv, dst, (void *)src, n);
}

long
sud_poke(void *dst, const void *src, size_t n)
{
	return sud_vm_copy(SYS_process_vm_writev, (void *)src, dst, n);
}

/* ------------------------------------------------------------ selectors */

struct sud_slot *
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

void
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

/* SUD on for the calling thread, our stubs exempt, selector at *sel. */
static long
sud_dispatch_on(volatile unsigned char *sel)
{
	return SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		    (unsigned long)spec_sud__exempt_start,
		    (unsigned long)(spec_sud__exempt_end - spec_sud__exempt_start), sel);
}

static int
sud_arm_slot(struct sud_slot *s)
{
	long r;

	sud_owner_set_sel(s);
	r = sud_dispatch_on(&s->sel);
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

/* tid is one of this process's threads that we know (armed or once armed). */
int
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
	if (t->nr == SYS_exit_group && sud_ops.exit != NULL &&
	    sud_ops.exit(sud_ops.ctx, (int)t->a[0]) > 0)
		r = 0; /* handed over: the exit goes ahead */
	else
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

static void sud_forked(pid_t pid);

/*
 * A fork inside the epoch that sud_ops.fork lets go ahead: issued from
 * here (a child of fork has its own copy of this stack, so it may return
 * through the handler; vfork becomes fork for that). Returns 1 with the
 * fork's result in *rax, or 0 if it must be a barrier instead.
 */
static int
sud_run_fork(struct sud_trap *t, greg_t *rax)
{
	uint64_t id = 0;
	long r, fl;

	if (sud_ops.fork == NULL || sud_ops.fork(sud_ops.ctx, &id) <= 0)
		return 0;
	STAT_ADD(forks, 1);
	if (t->nr == SYS_clone) {
		fl = t->a[0] & ~(long)(CLONE_VM | CLONE_VFORK);
		r = SYS5(SYS_clone, fl, 0, t->a[2], t->a[3], t->a[4]);
	} else {
		r = SYS0(SYS_fork);
	}
	if (r == 0) {
		sud_forked((pid_t)SYS0(SYS_getpid));
		if (sud_ops.forked != NULL)
			sud_ops.forked(sud_ops.ctx, 0, id);
	} else if (r > 0 && sud_ops.forked != NULL) {
		sud_ops.forked(sud_ops.ctx, r, id);
	}
	*rax = r;
	return 1;
}

static long
sud_reissue(const struct sud_trap *t)
{
	STAT_ADD(reissued, 1);
	return SYS6(t->nr, t->a[0], t->a[1], t->a[2], t->a[3], t->a[4], t->a[5]);
}

/* Every trap of an armed thread lands here (and any other SIGSYS, which is
 * the program's): classify the call, then answer it, re-issue it, or
 * resolve the epoch and let the program's own instruction run again. */
void
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
	case A_FORK: /* a barrier after all unless sud_run_fork issued it */
		if (sud_run_fork(&t, &g[REG_RAX]))
			break;
		/* fall through */
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
	case A_PIPE:
		g[REG_RAX] = sud_reissue(&t);
		if (g[REG_RAX] == 0)
			sud_pipe_note((const int *)t.a[0]);
		break;
	case A_CREATE:
		g[REG_RAX] = sud_reissue(&t);
		sud_created_note(g[REG_RAX]);
		break;
	case A_UNLINK:
		g[REG_RAX] = sud_unlink_hidden(&t);
		break;
	case A_SIGRETURN:
		sud_sigreturn(s, g, saved_errno); /* does not return */
	}
out:
	sud_hold_leave(s);
	errno = saved_errno;
}

/* A fork child's figures start at zero: the parent's are the parent's. */
void
spec_sud_stats_reset(void)
{
	memset(&sud_st, 0, sizeof(sud_st));
}

/* ------------------------------------------------------------ without a trap */

/* Would a call of this thread trap now (an epoch open, not held)? Then
 * its slot, else NULL. */
static struct sud_slot *
sud_armed_self(void)
{
	struct sud_slot *s = sud_self();

	if (s == NULL || !sud_load(&sud_epoch) || __atomic_load_n(&s->hold, __ATOMIC_SEQ_CST))
		return NULL;
	return s;
}

/*
 * A call the shim was about to make through libc, for a path or fd that
 * is not the mirror's, answered as the handler would answer its trap, but
 * without the trap (a SIGSYS costs ~4.5 us here; a compile's header search
 * makes hundreds). Signals are blocked meanwhile, as in the handler: no
 * program handler runs while we hold ALLOW. 1 and *ret (-errno on
 * failure), or 0: make the call the ordinary way (no epoch, a class not
 * taken here, or a barrier, which its trap then handles in full).
 */
int
spec_sud_direct(long nr, long a0, long a1, long a2, long a3, long *ret)
{
	struct sud_slot *s = sud_armed_self();
	struct sud_trap t;
	uint64_t m;
	int done = 1;
	long r = 0;

	if (s == NULL || !sud_direct_class(nr))
		return 0;
	m = sud_block_all();
	sud_hold_enter(s);
	memset(&t, 0, sizeof(t));
	t.nr = nr;
	t.a[0] = a0;
	t.a[1] = a1;
	t.a[2] = a2;
	t.a[3] = a3;
	t.ret = -ENOSYS;
	t.gen = __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST);
	t.s = s;
	if (!sud_load(&sud_epoch)) {
		r = sud_reissue(&t); /* closed meanwhile: as natively */
	} else {
		switch (sud_classify(&t)) {
		case A_LOCAL:
			r = sud_reissue(&t);
			break;
		case A_DONE:
			r = t.ret;
			break;
		case A_CREATE:
			r = sud_reissue(&t);
			sud_created_note(r);
			break;
		default:
			done = 0;
		}
	}
	sud_hold_leave(s);
	sud_restore_mask(m);
	if (done) {
		STAT_ADD(direct, 1);
		*ret = r;
	}
	return done;
}

/* Around a libc call that only looks (realpath's readlinks): no trap for
 * any of its calls. 1 if held (then spec_sud_quiet_end(*mask)), 0 if
 * nothing traps here anyway. */
int
spec_sud_quiet_begin(uint64_t *mask)
{
	struct sud_slot *s = sud_armed_self();

	if (s == NULL)
		return 0;
	*mask = sud_block_all();
	sud_hold_enter(s);
	STAT_ADD(direct, 1);
	return 1;
}

void
spec_sud_quiet_end(uint64_t mask)
{
	struct sud_slot *s = sud_self();

	if (s != NULL)
		sud_hold_leave(s);
	sud_restore_mask(mask);
}

/* ------------------------------------------------------------ public */

/* In a fork child (pid): forget the parent's threads and output. */
static void
sud_forked(pid_t pid)
{
	struct sud_slot *self = sud_self();
	int i, n = sud_load(&sud_nslots);
	uint64_t m = sud_block_all();

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
	sud_restore_mask(m);
}

static void
sud_check_fork(void)
{
	pid_t pid = (pid_t)SYS0(SYS_getpid);

	if (pid != sud_pid)
		sud_forked(pid);
}

void
spec_sud_after_fork(void)
{
	if (sud_inited)
		sud_forked((pid_t)SYS0(SYS_getpid));
}

int
spec_sud_init(const struct spec_sud_ops *ops)
{
	static unsigned char probe_sel = SYSCALL_DISPATCH_FILTER_ALLOW;
	struct stat st;
	long r, fd;
	int probe = 42, copy = 0;
	struct iovec l = { &copy, sizeof(copy) }, rv = { &probe, sizeof(probe) };

	if (ops != NULL)
		sud_ops = *ops;
	else
		memset(&sud_ops, 0, sizeof(sud_ops));
	if (sud_ops.buf_max == 0)
		sud_ops.buf_max = SPEC_SUD_BUF_MAX_DEFAULT;
	if (sud_inited)
		return 0;
	sud_pid = (pid_t)SYS0(SYS_getpid);
	sud_tmpdir_init(getenv("TMPDIR"));

	/* Does this kernel have SUD? (ON then OFF, no epoch yet) */
	r = sud_dispatch_on(&probe_sel);
	if (r < 0)
		return (int)r;
	SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);

	r = sud_buf_init(sud_ops.buf_max);
	if (r < 0)
		return (int)r;

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

/* The calling thread's slot, after init and in this process. 0 or -errno. */
static int
sud_my_slot(struct sud_slot **sp)
{
	if (!sud_inited)
		return -ENOSYS;
	sud_check_fork();
	*sp = sud_slot_get();
	return *sp != NULL ? 0 : -EAGAIN;
}

int
spec_sud_arm_thread(void)
{
	struct sud_slot *s;
	int r;

	r = sud_my_slot(&s);
	if (r < 0)
		return r;
	/* libc work first: once armed, it could trap */
	pthread_setspecific(sud_key, (void *)1);
	s->persistent = 1;
	sud_unblock_sigsys(s);
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

	r = sud_my_slot(&s);
	if (r < 0)
		return r;
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

/* Write out (flush) or drop the buffered output, close the epoch. 0 or the
 * first -errno of a failed write. */
static int
sud_end_epoch(int flush)
{
	uint64_t m;
	size_t n;
	int r = 0;

	sud_check_fork();
	m = sud_block_all();
	sud_lock();
	n = sud_buf_bytes();
	if (flush)
		r = sud_flush_locked();
	sud_reset_locked();
	sud_pipes_forget();
	if (sud_load(&sud_epoch))
		sud_toggle_locked(0);
	else
		sud_bump_gen();
	sud_unlock();
	sud_restore_mask(m);
	if (flush)
		STAT_ADD(committed_bytes, n);
	else
		STAT_ADD(discarded_bytes, n);
	sud_temp_disarm();
	return r;
}

int
spec_sud_commit(void)
{
	return sud_inited ? sud_end_epoch(1) : 0;
}

void
spec_sud_discard(void)
{
	if (sud_inited)
		sud_end_epoch(0);
}

void
spec_sud_hand_over(void)
{
	uint64_t m;
	size_t n;

	if (!sud_inited)
		return;
	sud_check_fork();
	m = sud_block_all();
	sud_lock();
	n = sud_buf_bytes();
	sud_reset_locked();
	sud_bump_gen();
	sud_unlock();
	sud_restore_mask(m);
	STAT_ADD(handed_bytes, n);
}

void
spec_sud_count_handed(void)
{
	if (sud_inited)
		STAT_ADD(handed_bytes, sud_buf_bytes());
}

int
spec_sud_courier_flush(void)
{
	uint64_t m;
	int r;

	/* Not sud_forked(): the buffer and its duplicates are what we are
	 * here to write. Nobody else runs in this process. */
	sud_pid = (pid_t)SYS0(SYS_getpid);
	__atomic_store_n(&sud_lock_word, 0, __ATOMIC_SEQ_CST);
	m = sud_block_all();
	sud_lock();
	r = sud_flush_locked();
	sud_reset_locked();
	sud_unlock();
	sud_restore_mask(m);
	return r;
}

int
spec_sud_holds_files(void)
{
	return sud_inited && sud_dirty_any();
}

size_t
spec_sud_buffered(void)
{
	return sud_buf_bytes();
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
	out->direct = __atomic_load_n(&sud_st.direct, __ATOMIC_RELAXED);
	out->buffered_bytes = __atomic_load_n(&sud_st.buffered_bytes, __ATOMIC_RELAXED);
	out->barriers = __atomic_load_n(&sud_st.barriers, __ATOMIC_RELAXED);
	out->reissued = __atomic_load_n(&sud_st.reissued, __ATOMIC_RELAXED);
	out->emulated = __atomic_load_n(&sud_st.emulated, __ATOMIC_RELAXED);
	out->committed_bytes = __atomic_load_n(&sud_st.committed_bytes, __ATOMIC_RELAXED);
	out->discarded_bytes = __atomic_load_n(&sud_st.discarded_bytes, __ATOMIC_RELAXED);
	out->forks = __atomic_load_n(&sud_st.forks, __ATOMIC_RELAXED);
	out->handed_bytes = __atomic_load_n(&sud_st.handed_bytes, __ATOMIC_RELAXED);
}
