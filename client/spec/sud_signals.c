/*
 * spec/sud_signals.c - the program's signal state while its syscalls trap.
 *
 * A SUD trap while SIGSYS is blocked kills the process, and a program
 * handler must never run inside ours while we hold ALLOW. So during an
 * epoch:
 * - the program's rt_sigprocmask is emulated on the trap frame's
 *   uc_sigmask (restored by our rt_sigreturn) with SIGSYS kept unblocked
 *   and tracked virtually per thread (sud_slot.vsys);
 * - rt_sigaction strips SIGSYS from handler masks and keeps the program's
 *   SIGSYS disposition virtual (sud_vsigsys): ours stays installed, and a
 *   SIGSYS that is not a SUD trap goes to the program's handler or default;
 * - a trapped rt_sigreturn (a program handler returning through glibc's
 *   restorer) is performed from the exempt range on the program's own
 *   frame;
 * - sigaltstack updates the frame's uc_stack so our rt_sigreturn does not
 *   undo it;
 * - a signal to ourselves is local unless its default action ends or stops
 *   the process.
 * Also here: installing our SIGSYS handler, the sweep before an epoch, and
 * the helpers the shim's sigaction/sigprocmask wrappers call (spec/sud.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include "client/spec/sud_internal.h"

/* The kernel's struct sigaction (x86-64). */
struct sud_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static struct sud_ksigaction sud_vsigsys; /* the program's SIGSYS disposition */

/* Our SIGSYS handler as the kernel takes it: on the program's stack, every
 * signal but SIGSYS blocked, nested traps allowed (see spec/sud.c). */
static void
sud_our_action(struct sud_ksigaction *ka)
{
	memset(ka, 0, sizeof(*ka));
	ka->handler = (void *)sud_handler;
	ka->flags = SA_SIGINFO | SA_RESTORER | SA_NODEFER;
	ka->restorer = (void *)spec_sud__restorer;
	ka->mask = ~SUD_BIT(SIGSYS);
}

/* ------------------------------------------------------------ in the handler */

/* A signal to ourselves: local, unless its default action ends or stops
 * the process (then our buffered output must go first). */
int
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

int
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
int
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

int
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

/* A SIGSYS that is not ours: the program's disposition, virtually. */
void
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
		sud_our_action(&ours);
		SYS4(SYS_rt_sigaction, SIGSYS, &ours, 0, 8);
		return;
	}
	if (va.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))va.handler)(sig, si, uctx);
	else
		((void (*)(int))va.handler)(sig);
}

/* The program's handler returns through its own restorer: do its
 * rt_sigreturn on its frame (uc at the trapped sp). */
void
sud_sigreturn(struct sud_slot *s, greg_t *g, int saved_errno)
{
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

/* ------------------------------------------------------------ outside traps */

/* SIGSYS unblocked in the calling thread; the program believes what it set. */
void
sud_unblock_sigsys(struct sud_slot *s)
{
	uint64_t unblock = SUD_BIT(SIGSYS), old = 0;

	if (SYS4(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, &old, 8) == 0 &&
	    (old & SUD_BIT(SIGSYS)))
		s->vsys = 1;
}

int
sud_install_handler(void)
{
	struct sud_ksigaction ka, old;
	long r;

	sud_our_action(&ka);
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
int
sud_prepare_signals(struct sud_slot *s)
{
	struct sud_ksigaction ka;
	int sig, r;

	if (SYS4(SYS_rt_sigaction, SIGSYS, 0, &ka, 8) == 0 && ka.handler != (void *)sud_handler) {
		r = sud_install_handler();
		if (r < 0)
			return r;
	}
	sud_unblock_sigsys(s);
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

