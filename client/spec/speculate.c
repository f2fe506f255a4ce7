/*
 * spec/speculate.c: speculation in the shim -- epochs.
 *
 * With SPECNFS_POLICY=cto or full (the default), requests for the operations the policy speculates
 * ask the daemon for a prediction (SPN_SPEC_PREDICT). The first predicted
 * answer with no epoch open takes a checkpoint (checkpoint/, fork backend)
 * and opens an epoch; Syscall User Dispatch (spec/sud.c) then holds every
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
 *
 * The daemon keeps an epoch's predictions per connection, in memory. If
 * the connection is opened again while an epoch is open (the daemon was
 * killed and a new one started, or it dropped us), the RESOLVE goes to a
 * daemon that never heard of those predictions and would say "none
 * refuted": the epoch is then treated as refuted instead -- rolled back
 * and executed again, now against the daemon that is there. Nothing the
 * epoch did has been seen outside (its output is held), so nothing
 * acknowledged depends on a prediction nobody checked.
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
#include "client/shim/internal.h"
#include "client/spec/epoch.h"
#include "client/spec/sud.h"

static struct {
	int sud_ready;   /* 1 initialised, -1 unusable: no speculation */
	int inited;
	struct spn_epoch ep;
	struct ckpt *ckpt;
	uint64_t conn; /* spn_conn_serial() of the epoch's first prediction */
	uint64_t token_seq;
	/* figures for SPECNFS_STATS */
	uint64_t n_predictions, n_refuted, n_epochs, n_commits, n_rollbacks, n_barriers;
	uint64_t barrier_wait_us, ahead_us, n_rpcs, rpc_wait_us;
} sp;

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct spn_epoch *
epoch(void)
{
	if (!sp.inited) {
		const struct spn_policy *p = spn_shim_policy();

		sp.ep.speculate = p->speculate;
		sp.ep.max_predictions = p->max_predictions;
		sp.ep.max_epoch_ms = p->max_epoch_ms;
		sp.inited = 1;
	}
	return &sp.ep;
}

/* A token naming one predicted mutation, unique across processes and
 * across the re-executions of one. */
static uint64_t
new_token(void)
{
	return ((uint64_t)(uint32_t)ckpt_getpid() << 40) ^ ((uint64_t)mono_us() << 8) ^
	       (++sp.token_seq & 0xff);
}

/*
 * Opens for writing made inside the open epoch, not yet closed: the
 * daemon counts each as a writer of the file (and keeps it dirty until
 * its writers are gone). A rollback discards the execution that opened
 * them, which will never close them: close them for it, on the
 * connection they were made on (a new daemon never counted them).
 */
#define EPOCH_WRITERS 16
static struct {
	uint64_t conn;
	char path[SPN_PATH_MAX];
} ep_writers[EPOCH_WRITERS];
static int n_ep_writers;

static void
epoch_writer_note(const struct spn_req *req, int status)
{
	int i;

	if (!sp.ep.open || status < 0)
		return;
	if (req->op == SPN_OP_OPEN &&
	    ((req->flags & O_ACCMODE) != O_RDONLY || (req->flags & O_TRUNC))) {
		if (n_ep_writers < EPOCH_WRITERS) {
			ep_writers[n_ep_writers].conn = spn_conn_serial();
			snprintf(ep_writers[n_ep_writers].path, SPN_PATH_MAX, "%s", req->path);
			n_ep_writers++;
		}
	} else if (req->op == SPN_OP_CLOSE) {
		for (i = 0; i < n_ep_writers; i++) {
			if (strcmp(ep_writers[i].path, req->path) == 0) {
				ep_writers[i] = ep_writers[--n_ep_writers];
				break;
			}
		}
	}
}

static void
epoch_writers_discard(void)
{
	struct spn_req req;
	struct spn_reply rep;
	int i;

	for (i = 0; i < n_ep_writers; i++) {
		if (ep_writers[i].conn != spn_conn_serial())
			continue;
		spn_req_init(&req, SPN_OP_CLOSE);
		snprintf(req.path, sizeof(req.path), "%s", ep_writers[i].path);
		spn_call_raw(&req, &rep);
	}
	n_ep_writers = 0;
}

/* Resolve the open epoch: commit (returns 0) or roll back (no return). */
static int
resolve(long nr)
{
	struct spn_req req;
	struct spn_reply rep;
	int64_t t0 = mono_us();
	int rc;

	if (!sp.ep.open)
		return 0;
	sp.n_barriers++;
	spec_sud_suspend();
	spn_req_init(&req, SPN_OP_RESOLVE);
	rc = spn_call_raw(&req, &rep);
	sp.barrier_wait_us += (uint64_t)(mono_us() - t0);
	sp.ahead_us += (uint64_t)(t0 - sp.ep.opened_us);
	if (rc == 0)
		sp.n_refuted += rep.refuted;
	if (rc == 0 && rep.refuted == 0 && spn_conn_serial() != sp.conn) {
		/* Answered over a new connection: by a daemon that does not
		 * know this epoch's predictions. */
		sp.n_refuted++;
		rep.refuted = 1;
	}
	if (rc == 0 && rep.refuted == 0) {
		spn_epoch_closed(&sp.ep);
		n_ep_writers = 0;
		sp.n_commits++;
		ckpt_commit(sp.ckpt);
		sp.ckpt = NULL;
		spec_sud_commit();
		spec_sud_resume();
		return 0;
	}
	/* Refuted (or the daemon is gone: nothing can be trusted). We become
	 * the copy's proxy and never talk to the daemon again. */
	sp.n_rollbacks++;
	spec_sud_discard();
	spn_epoch_closed(&sp.ep);
	if (rc == 0)
		epoch_writers_discard();
	spn_conn_drop();
	ckpt_rollback(sp.ckpt, 1);
}

void
spn_spec_barrier(void)
{
	if (sp.ep.open && !spn_in_vfork_child())
		resolve(-1);
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

/* Mirror files open for writing: their size comes back on a rollback. */
static int
written_mirror_fd(int fd)
{
	char nfs[SPN_PATH_MAX];

	return spn_fd_nfs_path(fd, nfs, sizeof(nfs)) == 1;
}

static int
sud_init_once(void)
{
	static const struct spec_sud_ops ops = {
		.barrier = sud_barrier,
		.is_mirror_fd = sud_is_mirror_fd,
		.is_mirror_path = sud_is_mirror_path,
	};

	if (sp.sud_ready == 0) {
		sp.sud_ready = spec_sud_init(&ops) == 0 ? 1 : -1;
		ckpt_set_size_filter(written_mirror_fd);
	}
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

	/* SPECNFS_CHECKPOINT=none: predictions are checked at once (no
	 * running ahead). criu: checkpoint.c has no CRIU back-end in this
	 * build (its entry answers -ENOSYS): the same, so nothing runs ahead
	 * without a way back. */
	if (spn_shim_policy()->checkpoint != CKPT_FORK || !sud_init_once() ||
	    ckpt_available(CKPT_FORK) < 0)
		goto unspeculated;
	rc = ckpt_take(CKPT_FORK, 0, &c, &value);
	if (rc == 1) {
		/* Resumed after a rollback: the truth, please. (This memory is
		 * the checkpoint's: count what the original lived through.) */
		spn_epoch_closed(&sp.ep);
		sp.ckpt = NULL;
		sp.n_epochs++;
		sp.n_barriers++;
		sp.n_rollbacks++;
		sp.n_refuted++;
		spec_sud_after_fork();
		/* Our memory names the original's connection (and the
		 * original is our parent, which would make us look like a
		 * vfork child): a connection of our own, started afresh --
		 * the daemon may be a new one. */
		spn_conn_drop();
		return 1;
	}
	if (rc < 0)
		goto unspeculated;
	if (spec_sud_epoch_begin() < 0) {
		ckpt_commit(c);
		goto unspeculated;
	}
	sp.ckpt = c;
	spn_epoch_opened(&sp.ep, mono_us());
	sp.n_epochs++;
	return 0;
unspeculated:
	/* Cannot run ahead here: wait for the verdict now. */
	{
		struct spn_req req;
		struct spn_reply rep;

		spn_req_init(&req, SPN_OP_RESOLVE);
		if (spn_call_raw(&req, &rep) < 0 || rep.refuted > 0 ||
		    spn_conn_serial() != sp.conn) {
			sp.n_refuted += rep.refuted;
			return 1;
		}
		return 0;
	}
}

/* One request to the daemon, with the held output let through, counted. */
static int
call_counted(struct spn_req *req, struct spn_reply *rep)
{
	int64_t t0 = mono_us();
	int rc;

	if (sp.ep.open)
		spec_sud_suspend();
	rc = spn_call_raw(req, rep);
	if (sp.ep.open)
		spec_sud_resume();
	if (rep->spec & SPN_SPEC_REMOTE) {
		sp.n_rpcs++;
		sp.rpc_wait_us += (uint64_t)(mono_us() - t0);
	}
	return rc;
}

int
spn_call(struct spn_req *req, struct spn_reply *rep)
{
	const struct spn_policy *p;
	struct spn_epoch *ep;
	enum spn_spec_kind kind;
	int rc;

	if (!spn_shim_ready())
		return -EIO;
	p = spn_shim_policy();
	if (spn_shim_busy)
		return spn_call_raw(req, rep);
	if (p->speculate == 0)
		return call_counted(req, rep);
	ep = epoch();
	if (spn_epoch_must_resolve(ep, req->op, req->flags, mono_us()))
		resolve(-1);
	if (!spn_epoch_may_predict(ep, req->op, req->flags) || spn_in_vfork_child()) {
		rc = call_counted(req, rep);
		epoch_writer_note(req, rc);
		return rc;
	}
	kind = spn_spec_kind(req->op, req->flags, NULL);
	req->spec = SPN_SPEC_PREDICT;
	if (kind != SPN_SK_READ)
		req->token = new_token();
	rc = call_counted(req, rep);
	epoch_writer_note(req, rc);
	switch (spn_epoch_predicted(ep, !!(rep->spec & SPN_SPEC_PREDICTED))) {
	case SPN_EP_NOTHING:
		return rc;
	case SPN_EP_JOINED:
		sp.n_predictions++;
		return rc;
	case SPN_EP_BEGIN:
		sp.n_predictions++;
		sp.conn = spn_conn_serial();
		break;
	}
	if (open_epoch()) {
		/* Resumed after a rollback (or no epoch could open and the
		 * prediction failed): the truth. A mutation that must not
		 * happen twice asks for its outcome; the rest ask again. */
		req->spec = kind == SPN_SK_ONCE ? SPN_SPEC_REPLAY : 0;
		return call_counted(req, rep);
	}
	epoch_writer_note(req, rc); /* the request that opened this epoch */
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

	if (sp.ep.open)
		resolve(-1);
	if (!spn_shim_ready())
		return;
	p = spn_shim_policy();
	if (p->stats_file[0] == '\0')
		return;
	n = snprintf(line, sizeof(line),
		     "pid=%d policy=%s predictions=%llu refuted=%llu checkpoints=%llu commits=%llu "
		     "rollbacks=%llu barriers=%llu blocked_us=%llu hidden_us=%llu rpcs=%llu "
		     "rpc_wait_us=%llu\n",
		     (int)ckpt_getpid(), p->policy == SPN_POLICY_FULL ? "full" :
					 p->policy == SPN_POLICY_CTO ? "cto" : "off",
		     (unsigned long long)sp.n_predictions, (unsigned long long)sp.n_refuted,
		     (unsigned long long)sp.n_epochs,
		     (unsigned long long)sp.n_commits, (unsigned long long)sp.n_rollbacks,
		     (unsigned long long)sp.n_barriers, (unsigned long long)sp.barrier_wait_us,
		     (unsigned long long)sp.ahead_us, (unsigned long long)sp.n_rpcs,
		     (unsigned long long)sp.rpc_wait_us);
	fd = (int)syscall(SYS_openat, AT_FDCWD, p->stats_file,
			  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (syscall(SYS_write, fd, line, (size_t)n) < 0) {
		/* figures only */
	}
	syscall(SYS_close, fd);
}
