/*
 * shim_spec.c: speculation in the shim -- epochs.
 *
 * With SPECNFS_POLICY=cto, requests for the operations the policy speculates
 * ask the daemon for a prediction (SPN_SPEC_PREDICT). The first predicted
 * answer with no epoch open takes a checkpoint (checkpoint/, fork backend)
 * and opens an epoch; Syscall User Dispatch (spec_sud.c) then holds every
 * externally visible effect until the epoch resolves. At a barrier (output,
 * a pipe read, fork/exec/exit, a namespace change the policy does not
 * speculate, the epoch's limits) the shim asks the daemon to RESOLVE: if
 * every prediction held, the checkpoint is dropped and the held output goes
 * out; if not, the output is dropped and the process resumes from its
 * checkpoint, where the request that opened the epoch is sent again without
 * a prediction, so it gets the server's truth.
 *
 * State here is per process (one epoch at a time); checkpoints are refused
 * for multithreaded processes and processes with children, which then run
 * without speculation.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "shim_internal.h"
#include "spec_sud.h"

static struct {
	int sud_ready;   /* 1 initialised, -1 unusable: no speculation */
	int open;        /* an epoch is open */
	struct ckpt *ckpt;
	uint32_t predictions;
	int64_t opened_ms;
	/* figures for SPECNFS_STATS */
	uint64_t n_predictions, n_epochs, n_commits, n_rollbacks, n_barriers;
	uint64_t barrier_wait_us, ahead_us;
} sp;

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Which SPECNFS_SPECULATE bit an op falls under (0: never predicted). */
static uint32_t
op_bit(const struct spn_req *req)
{
	switch (req->op) {
	case SPN_OP_STAT:
	case SPN_OP_ACCESS:
	case SPN_OP_READLINK:
		return SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP;
	case SPN_OP_OPEN:
		return (req->flags & O_ACCMODE) == O_RDONLY && !(req->flags & (O_CREAT | O_TRUNC))
			       ? SPN_SPEC_OP_OPEN
			       : 0;
	case SPN_OP_READDIR:
		return SPN_SPEC_OP_READDIR;
	default:
		return 0;
	}
}

/* Ops whose effect others can see: the epoch must resolve before them. */
static int
is_barrier_op(const struct spn_req *req)
{
	switch (req->op) {
	case SPN_OP_STAT:
	case SPN_OP_ACCESS:
	case SPN_OP_READLINK:
	case SPN_OP_READDIR:
	case SPN_OP_STATFS:
	case SPN_OP_HELLO:
	case SPN_OP_RESOLVE:
		return 0;
	case SPN_OP_OPEN:
		return op_bit(req) == 0; /* creating or truncating */
	default:
		return 1; /* close of a written file, mkdir, rename, ... */
	}
}

/* Resolve the open epoch: commit (returns 0) or roll back (no return). */
static int
resolve(long nr)
{
	struct spn_req req;
	struct spn_reply rep;
	int64_t t0 = mono_us();
	int rc;

	if (!sp.open)
		return 0;
	sp.n_barriers++;
	spec_sud_suspend();
	spn_req_init(&req, SPN_OP_RESOLVE);
	rc = spn_call_raw(&req, &rep);
	sp.barrier_wait_us += (uint64_t)(mono_us() - t0);
	sp.ahead_us += (uint64_t)(t0 - sp.opened_ms);
	if (rc == 0 && rep.refuted == 0) {
		sp.open = 0;
		sp.n_commits++;
		ckpt_commit(sp.ckpt);
		sp.ckpt = NULL;
		spec_sud_commit();
		spec_sud_resume();
		return 0;
	}
	/* Refuted (or the daemon is gone: nothing can be trusted). */
	sp.n_rollbacks++;
	spec_sud_discard();
	sp.open = 0;
	ckpt_rollback(sp.ckpt, 1);
}

static int
sud_barrier(void *ctx, long nr)
{
	return resolve(nr);
}

static int
sud_is_mirror_fd(void *ctx, int fd)
{
	char nfs[SPN_PATH_MAX];

	return spn_fd_nfs_path(fd, nfs, sizeof(nfs)) == 1;
}

static int
sud_is_mirror_path(void *ctx, int dirfd, const char *path)
{
	const char *base = spn_shim_mirror_base();
	size_t n = strlen(base);

	return path != NULL && path[0] == '/' && n > 0 && strncmp(path, base, n) == 0;
}

static int
sud_init_once(void)
{
	static const struct spec_sud_ops ops = {
		.barrier = sud_barrier,
		.is_mirror_fd = sud_is_mirror_fd,
		.is_mirror_path = sud_is_mirror_path,
	};

	if (sp.sud_ready == 0)
		sp.sud_ready = spec_sud_init(&ops) == 0 ? 1 : -1;
	return sp.sud_ready > 0;
}

/* Open an epoch after a predicted answer. Returns 1 if the caller must
 * send its request again without a prediction (we are the resumed copy,
 * or no epoch could be opened and the prediction was refuted). */
static int
open_epoch(void)
{
	uint64_t value = 0;
	struct ckpt *c = NULL;
	int rc;

	if (!sud_init_once() || ckpt_available(CKPT_FORK) < 0)
		goto unspeculated;
	rc = ckpt_take(CKPT_FORK, 0, &c, &value);
	if (rc == 1) {
		/* Resumed after a rollback: the truth, please. (This memory is
		 * the checkpoint's: count what the original lived through.) */
		sp.open = 0;
		sp.ckpt = NULL;
		sp.n_epochs++;
		sp.n_barriers++;
		sp.n_rollbacks++;
		spec_sud_after_fork();
		return 1;
	}
	if (rc < 0)
		goto unspeculated;
	if (spec_sud_epoch_begin() < 0) {
		ckpt_commit(c);
		goto unspeculated;
	}
	sp.open = 1;
	sp.ckpt = c;
	sp.predictions = 1;
	sp.opened_ms = mono_us();
	sp.n_epochs++;
	return 0;
unspeculated:
	/* Cannot run ahead here: wait for the verdict now. */
	{
		struct spn_req req;
		struct spn_reply rep;

		spn_req_init(&req, SPN_OP_RESOLVE);
		if (spn_call_raw(&req, &rep) < 0 || rep.refuted > 0)
			return 1;
		return 0;
	}
}

int
spn_call(struct spn_req *req, struct spn_reply *rep)
{
	const struct spn_policy *p;
	uint32_t bit;
	int rc;

	if (!spn_shim_ready())
		return -EIO;
	p = spn_shim_policy();
	if (p->speculate == 0 || spn_shim_busy)
		return spn_call_raw(req, rep);
	if (sp.open) {
		if (is_barrier_op(req) ||
		    sp.predictions >= p->max_predictions ||
		    mono_us() - sp.opened_ms >= (int64_t)p->max_epoch_ms * 1000)
			resolve(-1);
	}
	bit = op_bit(req);
	if (bit == 0 || !(p->speculate & bit) || spn_in_vfork_child()) {
		if (sp.open)
			spec_sud_suspend();
		rc = spn_call_raw(req, rep);
		if (sp.open)
			spec_sud_resume();
		return rc;
	}
	req->spec = SPN_SPEC_PREDICT;
	if (sp.open)
		spec_sud_suspend();
	rc = spn_call_raw(req, rep);
	if (sp.open)
		spec_sud_resume();
	if (!(rep->spec & SPN_SPEC_PREDICTED))
		return rc;
	sp.n_predictions++;
	if (sp.open) {
		sp.predictions++;
		return rc;
	}
	if (open_epoch()) {
		req->spec = 0;
		return spn_call_raw(req, rep);
	}
	return rc;
}

/* getpid()/getppid() answer the original pid after a rollback. */
SPN_EXPORT pid_t
getpid(void)
{
	return ckpt_getpid();
}

SPN_EXPORT pid_t
getppid(void)
{
	return ckpt_getppid();
}

/* SPECNFS_STATS: one line per process at exit. */
__attribute__((destructor)) static void
spec_stats(void)
{
	const struct spn_policy *p;
	char line[512];
	int fd, n;

	if (sp.open)
		resolve(-1);
	if (!spn_shim_ready())
		return;
	p = spn_shim_policy();
	if (p->stats_file[0] == '\0')
		return;
	n = snprintf(line, sizeof(line),
		     "pid=%d policy=%s predictions=%llu epochs=%llu commits=%llu rollbacks=%llu "
		     "barriers=%llu blocked_us=%llu hidden_us=%llu\n",
		     (int)ckpt_getpid(), p->policy == SPN_POLICY_FULL ? "full" :
					 p->policy == SPN_POLICY_CTO ? "cto" : "off",
		     (unsigned long long)sp.n_predictions, (unsigned long long)sp.n_epochs,
		     (unsigned long long)sp.n_commits, (unsigned long long)sp.n_rollbacks,
		     (unsigned long long)sp.n_barriers, (unsigned long long)sp.barrier_wait_us,
		     (unsigned long long)sp.ahead_us);
	fd = (int)syscall(SYS_openat, AT_FDCWD, p->stats_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0644);
	if (fd < 0)
		return;
	if (syscall(SYS_write, fd, line, (size_t)n) < 0) {
		/* figures only */
	}
	syscall(SYS_close, fd);
}
