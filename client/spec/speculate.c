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
 * State here is per process: one epoch at a time, or two in a chain (see
 * "Chains"); checkpoints are refused for multithreaded processes and
 * processes with children, which then run without speculation.
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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "client/log.h"
#include "client/shim/internal.h"
#include "client/spec/epoch.h"
#include "client/spec/sud.h"

#define SPEC_MAX_BORN 64 /* children one speculative stretch may make */
#define SPEC_BORN_FD_MIN 600

/* The value a rollback hands the copy (ckpt_rollback): */
#define SPEC_RB 1u        /* resumed after a rollback */
#define SPEC_RB_WAITED 2u /* the child's exit it had reaped failed */
#define SPEC_RB_DEP_HELD 4u /* what it depended on (birth, waited) held */
#define SPEC_RB_KILLED 8  /* << : the discarded execution's children killed */

/* Why an epoch resolved: SPECNFS_STATS counts and times each kind. */
enum spec_kind {
	K_OUTPUT,  /* a syscall the epoch cannot hold: output, input, signals ... */
	K_WAIT,    /* wait for a child */
	K_FORK,    /* a fork, exec or spawn that could not go on speculatively */
	K_EXIT,    /* the process ends */
	K_MUTATE,  /* a server mutation the policy does not speculate */
	K_LIMIT,   /* the epoch's limits, or a sealed epoch taking a new prediction */
	K_OTHER,   /* the shim's own (credential changes, tests) */
	K_CHAIN,   /* the older epoch of a chain, to make room for a newer one */
	SPEC_NKINDS
};
static const char *const kind_names[SPEC_NKINDS] = { "output", "wait",	"fork", "exit",
						     "mutate", "limit", "other", "chain" };

static struct {
	int sud_ready;   /* 1 initialised, -1 unusable: no speculation */
	int inited;
	struct spn_epoch ep;
	struct ckpt *ckpt;
	uint64_t conn; /* spn_conn_serial() of the epoch's first prediction */
	uint64_t token_seq;
	/* Across processes (see "Across processes" below). */
	uint64_t birth;  /* the sealed epoch this process depends on, 0: none */
	uint64_t waited; /* the sealed exit of a child it reaped (own epoch), 0: none */
	int dep_ok;      /* birth or waited is known to be good: mutations may go */
	pid_t waiter;    /* the parent that asks the daemon when it reaps us, 0: none */
	pid_t self_pid;  /* our own pid as of the last fork, exec or rollback */
	uint64_t sealed; /* the open epoch's seal (children depend on it), 0: none */
	int seal_deps;   /* ... and something depends on it: a child, a held call */
	int seal_after;  /* predictions made after it (not part of it) */
	uint64_t join_conn; /* spn_conn_serial() of the connection told our birth */
	/* A create held in the sealed epoch create_seal: its file's store at
	 * the close joins that epoch too (valid while sealed is create_seal). */
	uint64_t create_seal;
	char create_path[SPN_PATH_MAX];
	/* Forked from a speculative parent and not exec'd since: a shell's
	 * child opening a redirection, which execs next. An exec would wait
	 * for a checkpoint of its own, so its create is held in the sealed
	 * epoch it joins instead (join_hold_call). */
	int fork_child;
	/* The older epoch of a chain (see "Chains" below): sealed, its
	 * checkpoint still open, its verdict not known yet. */
	struct {
		struct ckpt *ckpt; /* NULL: no chain */
		uint64_t seal;     /* its sealed id */
		uint64_t waited;   /* the reaped exit it depended on, 0: none */
		uint64_t conn;     /* spn_conn_serial() of its predictions */
		int n_born;        /* born_fd[0..n_born) were made in it */
	} old;
	int born_fd[SPEC_MAX_BORN]; /* pidfds of children made while speculative */
	int n_born;
	/* figures for SPECNFS_STATS */
	uint64_t n_predictions, n_refuted, n_epochs, n_commits, n_rollbacks, n_barriers;
	uint64_t barrier_wait_us, ahead_us, n_rpcs, rpc_wait_us;
	uint64_t op_n[SPN_OP_MAX + 1], op_us[SPN_OP_MAX + 1]; /* rpcs per op */
	uint64_t n_inherited, n_forks, n_spawns, n_seals, n_couriers, n_killed;
	uint64_t n_birth_checks, birth_wait_us;
	uint64_t n_exits, n_acquired, n_reaps, exit_us, reap_us, n_joined, n_held, n_chained;
	uint64_t n_local;
	int64_t start_us; /* when this process (or image) started */
	int stats_deferred; /* the destructor left the SPECNFS_STATS line to exit_group */
	uint64_t kind_n[SPEC_NKINDS], kind_us[SPEC_NKINDS];
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

/* ------------------------------------------------------------ across processes */

/*
 * Across processes. A fork inside an epoch (or while this process depends
 * on its parent's) does not resolve: the epoch is sealed (SEAL: the
 * daemon makes its predictions so far an object with an id, daemon/seal.c)
 * and the child starts depending on that id (sp.birth) with its output
 * held from its first instruction, but without a checkpoint of its own: if
 * the sealed epoch fails, the child belongs to an execution that is being
 * discarded, and it vanishes (discard_self). The parent predicts nothing
 * more in a sealed epoch (the next prediction resolves it first) -- so the
 * child depends on the parent's whole epoch, and a rollback of the parent
 * (to before the fork) always means the child's discard. exec and spawn
 * pass the id in SPECNFS_BIRTH to the program they start (shim/exec.c).
 *
 * Output the parent holds at the fork must reach its terminal or pipe
 * before the child's: it is handed to a courier (a hidden fork of the
 * parent), which waits for the sealed epoch's verdict, writes it, and
 * tells the daemon; until then the sealed epoch counts as undecided to
 * its dependents. Output to regular files (which the child could read
 * back) is not handed over: that fork resolves first.
 *
 * The parent keeps pidfds of the children it made while speculative: a
 * rollback kills them before the copy re-executes (and makes them again).
 * Their own children learn of the discard at their next barrier.
 */
static int sud_init_once(void);
static int sud_exit(void *ctx, int code);
static void detached_report(int wstatus);

static int
propagating(void)
{
	return spn_shim_policy()->propagate && sp.sud_ready > 0;
}

/* The process's state is speculative: an epoch of its own, or a parent's. */
static int
speculative(void)
{
	return sp.ep.open || sp.birth != 0 || sp.old.ckpt != NULL;
}

/* What our speculative state depends on besides our own predictions: the
 * parent's sealed epoch (its failure discards us) or a reaped child's
 * exit (its failure rolls us back to the checkpoint taken at the reap).
 * Both at once only in a chain, whose older epoch's seal has the birth:
 * the daemon knows that one as the connection's seal. */
static uint64_t
dep_token(void)
{
	return sp.waited != 0 ? sp.waited : sp.birth;
}

/* Our parent as the kernel has it (a detached re-execution: the
 * original's, which is the one that asks). */
static pid_t
real_ppid(void)
{
	return ckpt_detached() ? ckpt_getppid() : (pid_t)syscall(SYS_getppid);
}

/* Will a parent we start or fork ask the daemon when it reaps? */
static int
listening(void)
{
	const struct spn_policy *p;

	if (!spn_shim_ready())
		return 0;
	p = spn_shim_policy();
	return p->propagate && p->speculate != 0 && p->checkpoint == CKPT_FORK;
}

static void
born_add(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return;
	if (fd < SPEC_BORN_FD_MIN) {
		int hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, SPEC_BORN_FD_MIN);

		syscall(SYS_close, fd);
		fd = hi;
	}
	if (fd >= 0 && sp.n_born < SPEC_MAX_BORN)
		sp.born_fd[sp.n_born++] = fd;
	else if (fd >= 0)
		syscall(SYS_close, fd);
}

/* The children made while speculative: kill them (their making is being
 * discarded), or just forget them (it committed). Returns how many were
 * killed. */
static int
born_end_from(int from, int kill)
{
	int i, n = 0;

	for (i = 0; i < sp.n_born; i++) {
		if (kill && i >= from &&
		    syscall(SYS_pidfd_send_signal, sp.born_fd[i], SIGKILL, NULL, 0) == 0)
			n++;
		syscall(SYS_close, sp.born_fd[i]);
	}
	sp.n_born = 0;
	sp.n_killed += (uint64_t)n;
	return n;
}

static int
born_end(int kill)
{
	return born_end_from(0, kill);
}

/* A RESOLVE request: flags (SPN_F_*) and the sealed epoch it names. */
static void
resolve_req(struct spn_req *req, uint32_t flags, uint64_t token)
{
	spn_req_init(req, SPN_OP_RESOLVE);
	req->flags = flags;
	req->token = token;
}

/* What we depended on held (and our own epoch, if any, is closed): the
 * speculative state ends, its held output goes out. */
static void stats_write(void);

static void
speculation_committed(void)
{
	if (sp.stats_deferred)
		stats_write(); /* the exit it waited for will not be handed over */
	sp.birth = 0;
	sp.waited = 0;
	sp.dep_ok = 0;
	sp.sealed = 0;
	born_end(0);
	spec_sud_created_end(0);
	spec_sud_commit();
}

/* This execution is being discarded (a sealed epoch it depends on failed,
 * or no daemon can say): nothing of it may be seen. */
__attribute__((noreturn)) static void
discard_self(void)
{
	spec_sud_discard();
	spec_sud_created_end(1);
	born_end(1);
	if (sp.ckpt != NULL)
		ckpt_commit(sp.ckpt); /* the copy goes too */
	if (sp.old.ckpt != NULL)
		ckpt_commit(sp.old.ckpt);
	for (;;)
		syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
}

static enum spec_kind
kind_of_nr(long nr)
{
	switch (nr) {
	case SYS_wait4:
	case SYS_waitid:
		return K_WAIT;
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3:
	case SYS_execve:
	case SYS_execveat:
		return K_FORK;
	case SYS_exit:
	case SYS_exit_group:
		return K_EXIT;
	case -1:
		return K_OTHER;
	default:
		return K_OUTPUT;
	}
}

/* A wait for a verdict at a barrier of this kind, dt us long. */
static void
barrier_counted(enum spec_kind kind, int64_t dt)
{
	sp.n_barriers++;
	sp.barrier_wait_us += (uint64_t)dt;
	sp.kind_n[kind]++;
	sp.kind_us[kind] += (uint64_t)dt;
}

/* Roll back to c (never returns): the execution since goes -- its held
 * output, the children it made from born_fd[keep] on, its temporary files
 * and (writers) the opens for writing it had not closed. We become the
 * copy's proxy and never talk to the daemon again. The copy's memory is
 * the checkpoint's: value (SPEC_RB_*) tells it what happened meanwhile,
 * with the count of children killed. */
__attribute__((noreturn)) static void
roll_back(struct ckpt *c, uint64_t value, int keep, int writers)
{
	int killed;

	sp.n_rollbacks++;
	spec_sud_discard();
	spn_epoch_closed(&sp.ep);
	if (writers)
		epoch_writers_discard();
	killed = born_end_from(keep, 1);
	spec_sud_created_end(1);
	spn_conn_drop();
	ckpt_rollback(c, value | ((uint64_t)killed << SPEC_RB_KILLED));
}

/*
 * Chains. A process whose epoch others depend on (it sealed it for a
 * child, or it reaps a child whose exit is undecided) used to resolve it
 * before its next prediction: a round trip per fork for configure's shell.
 * Now the epoch becomes the older one of a chain (sp.old): sealed, its
 * checkpoint left open, and the next prediction opens a newer epoch behind
 * a second checkpoint (checkpoint.h, CKPT_SLOTS). The daemon keeps the two
 * apart (proto.h, version 9): the older one is decided by its own
 * validations, the newer one depends on it (the connection's next seal
 * names it). A full RESOLVE waits for both. If it says refuted, the older
 * one's verdict says where to go back to: its checkpoint if it failed
 * (the newer copy goes too), else it is committed and the newer one is
 * rolled back. When a third epoch would be needed, or before anything a
 * chain cannot carry (exec, exit, a mutation outside an epoch), the older
 * one's verdict is waited for (chain_collapse), usually known by then.
 */

/* The verdict of a sealed epoch this process made or depends on. */
static int
own_verdict(uint64_t id)
{
	struct spn_req req;
	struct spn_reply rep;
	int rc;

	spec_sud_suspend();
	resolve_req(&req, SPN_F_VERDICT | SPN_F_OWN, id);
	rc = spn_call_raw(&req, &rep);
	spec_sud_resume();
	return rc == 0 && rep.status == 0 && rep.refuted == 0;
}

/* The older epoch failed: back to its checkpoint (or vanish, if what we
 * were born of failed with it). */
__attribute__((noreturn)) static void
chain_back(void)
{
	int same = spn_conn_serial() == sp.old.conn, dep_failed = 0;

	if (sp.birth != 0 && (!same || !own_verdict(sp.birth)))
		discard_self();
	if (sp.old.waited != 0)
		dep_failed = !same || !own_verdict(sp.old.waited);
	roll_back(sp.old.ckpt, SPEC_RB | (dep_failed ? SPEC_RB_WAITED : SPEC_RB_DEP_HELD), 0, 1);
}

/* The older epoch held: its checkpoint goes. */
static void
chain_commit_older(void)
{
	ckpt_commit(sp.old.ckpt);
	memset(&sp.old, 0, sizeof(sp.old));
	sp.n_commits++;
}

/* Decide the older epoch: back to it if it failed (no return), else
 * commit it -- and the birth its seal carries held with it. Returns how
 * many of the children made so far were made in it (they stay). */
static int
chain_settle(void)
{
	int keep = sp.old.n_born;

	if (spn_conn_serial() != sp.old.conn || !own_verdict(sp.old.seal))
		chain_back();
	chain_commit_older();
	spec_sud_created_older_held();
	sp.birth = 0;
	sp.join_conn = 0;
	return keep;
}

/* Wait for the older epoch's verdict now (kind: why). */
static void
chain_collapse(enum spec_kind kind)
{
	int64_t t0 = mono_us();

	if (sp.old.ckpt == NULL)
		return;
	chain_settle();
	if (!speculative())
		speculation_committed(); /* nothing newer: the held output goes */
	barrier_counted(kind, mono_us() - t0);
}

/* After a refuted verdict: did the parent's epoch we were born of fail
 * (then we vanish)? Without a reaped exit too, that is what the verdict's
 * SPN_REFUTED_BIRTH said; with one (a dependent that ran ahead on its
 * child's exit), the birth's own verdict says. */
static int
birth_failed_as(int birth_bit)
{
	if (sp.birth == 0)
		return 0;
	if (sp.waited == 0)
		return birth_bit;
	return spn_conn_serial() != sp.conn || !own_verdict(sp.birth);
}

/* Resolve the speculative state: commit (returns 0) or roll back (no
 * return), or vanish if what we depend on failed. */
static int
resolve_kind(enum spec_kind kind)
{
	struct spn_req req;
	struct spn_reply rep;
	int64_t t0 = mono_us();
	int rc, refuted, dep_failed, keep = 0;

	if (!speculative())
		return 0;
	spec_sud_suspend();
	resolve_req(&req, 0, dep_token());
	rc = spn_call_raw(&req, &rep);
	barrier_counted(kind, mono_us() - t0);
	if (sp.ep.open)
		sp.ahead_us += (uint64_t)(t0 - sp.ep.opened_us);
	dep_failed = rc == 0 && (rep.refuted & SPN_REFUTED_BIRTH);
	refuted = rc < 0 || dep_failed || (rep.refuted & ~SPN_REFUTED_BIRTH) > 0;
	if (rc == 0)
		sp.n_refuted += rep.refuted & ~SPN_REFUTED_BIRTH;
	if (rc == 0 && !refuted &&
	    ((sp.ep.open && spn_conn_serial() != sp.conn) ||
	     (sp.old.ckpt != NULL && spn_conn_serial() != sp.old.conn))) {
		/* Answered over a new connection: by a daemon that does not
		 * know this epoch's predictions. */
		sp.n_refuted++;
		refuted = 1;
	}
	if (refuted && sp.old.ckpt != NULL)
		keep = chain_settle(); /* held (else no return): what failed is newer */
	if (refuted && birth_failed_as(dep_failed))
		discard_self();
	if (!refuted) {
		if (sp.old.ckpt != NULL)
			chain_commit_older();
		if (sp.ep.open) {
			spn_epoch_closed(&sp.ep);
			n_ep_writers = 0;
			sp.n_commits++;
			ckpt_commit(sp.ckpt);
			sp.ckpt = NULL;
		}
		speculation_committed();
		spec_sud_resume();
		return 0;
	}
	if (!sp.ep.open)
		discard_self(); /* no checkpoint: nothing to go back to */
	if (rc == 0)
		spec_sud_created_older_held(); /* the birth held: what it made stays */
	/* Refuted (or the daemon is gone: nothing can be trusted). Tell the
	 * copy whether the exit it had reaped failed. */
	roll_back(sp.ckpt,
		  SPEC_RB | (dep_failed ? SPEC_RB_WAITED : 0) |
			  (rc == 0 && !dep_failed ? SPEC_RB_DEP_HELD : 0),
		  keep, rc == 0);
}

static int
resolve(long nr)
{
	return resolve_kind(kind_of_nr(nr));
}

void
spn_spec_barrier(void)
{
	if (speculative() && !spn_in_vfork_child())
		resolve(-1);
}

static int
sud_barrier(void *ctx, long nr)
{
	return resolve(nr);
}

/* Before a server mutation by a process that depends on a parent's
 * epoch or a reaped child's exit: its verdict (usually known long
 * before), so that a discarded execution never changes the server. */
static void
dep_check(void)
{
	struct spn_req req;
	struct spn_reply rep;
	int64_t t0 = mono_us();
	int rc;

	if (dep_token() == 0 || sp.dep_ok)
		return;
	resolve_req(&req, SPN_F_VERDICT | SPN_F_OWN, dep_token());
	spec_sud_suspend();
	rc = spn_call_raw(&req, &rep);
	spec_sud_resume();
	sp.n_birth_checks++;
	sp.birth_wait_us += (uint64_t)(mono_us() - t0);
	if (rc < 0 || (rep.refuted & SPN_REFUTED_BIRTH)) {
		if (sp.birth != 0 && (rc < 0 || birth_failed_as(1)))
			discard_self();
		resolve_kind(K_MUTATE); /* the exit we ran ahead on failed: roll back */
	}
	sp.dep_ok = 1;
}

/* A courier: write the output handed to us once sealed epoch *arg held. */
static void
courier_run(const void *arg)
{
	uint64_t id = *(const uint64_t *)arg;
	struct spn_req req;
	struct spn_reply rep;
	int fd = -1, rc;

	resolve_req(&req, SPN_F_VERDICT, id);
	rc = spn_call_on(&fd, &req, &rep);
	if (rc == 0 && !(rep.refuted & SPN_REFUTED_BIRTH))
		spec_sud_courier_flush();
	resolve_req(&req, SPN_F_FLUSHED, id);
	spn_call_on(&fd, &req, &rep);
}

/* Run fn(arg) in a courier: a grandchild nobody waits for (the middle
 * process is reaped here; the courier ends up with init or the nearest
 * subreaper). It keeps only our duplicates of the output's fds (high
 * numbers): no pipe end stays open that a reader waits to see closed.
 * 0 or -errno. */
static int
courier_launch(void (*fn)(const void *), const void *arg)
{
	long pid = syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L); /* no exit signal: wait() misses it */

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L) != 0)
			syscall(SYS_exit_group, 0);
		syscall(SYS_close_range, 0, SPEC_SUD_DUP_MIN - 1, 0);
		fn(arg);
		syscall(SYS_exit_group, 0);
		for (;;)
			;
	}
	syscall(SYS_wait4, pid, NULL, __WCLONE, NULL);
	sp.n_couriers++;
	return 0;
}

/* Seal what we ran ahead on so far, handing held output to a courier:
 * 1 and *id, or 0. */
static int
seal_now(int output, uint64_t *id)
{
	struct spn_req req;
	struct spn_reply rep;

	spn_req_init(&req, SPN_OP_SEAL);
	req.flags = (output ? SPN_F_COURIER : 0) | (sp.ckpt != NULL ? SPN_F_CKPT : 0);
	req.token = dep_token();
	if (spn_call_raw(&req, &rep) < 0)
		return 0;
	sp.n_seals++;
	if (output) {
		if (courier_launch(courier_run, &rep.token) < 0) {
			/* nobody will write it: say so, and resolve instead */
			resolve_req(&req, SPN_F_FLUSHED, rep.token);
			spn_call_raw(&req, &rep);
			return 0;
		}
		spec_sud_hand_over();
	}
	if (sp.ep.open) {
		sp.sealed = rep.token;
		sp.seal_deps = 1;
		sp.seal_after = 0;
	}
	*id = rep.token;
	return 1;
}

/* What a child made now depends on: 1 and *id, or 0 (resolve first). */
static int
seal_for_child(uint64_t *id)
{
	int output = spec_sud_buffered() > 0;

	if (!propagating() || spec_sud_holds_files() || sp.n_born >= SPEC_MAX_BORN)
		return 0;
	if (!output && !sp.ep.open && sp.old.ckpt == NULL) {
		*id = sp.birth;
		return 1;
	}
	if (!output && sp.sealed != 0 && sp.seal_after == 0) {
		*id = sp.sealed;
		sp.seal_deps = 1;
		return 1;
	}
	return seal_now(output, id);
}

/* Make the open epoch the older one of a chain ("Chains" above), so that
 * the process goes on without its verdict: 1, or 0 (resolve instead).
 * The next prediction opens the newer one. */
static int
chain_advance(void)
{
	uint64_t id;

	if (!propagating() || !sp.ep.open || sp.ckpt == NULL || spn_in_vfork_child() ||
	    spn_shim_busy || spn_conn_serial() != sp.conn || n_ep_writers != 0 ||
	    spec_sud_holds_files() || sp.n_born >= SPEC_MAX_BORN)
		return 0;
	chain_collapse(K_CHAIN); /* room for one more checkpoint */
	if (ckpt_available(CKPT_FORK) < 0)
		return 0;
	if ((sp.sealed == 0 || sp.seal_after > 0 || spec_sud_buffered() > 0) &&
	    !seal_now(spec_sud_buffered() > 0, &id))
		return 0;
	sp.old.ckpt = sp.ckpt;
	sp.old.seal = sp.sealed;
	sp.old.waited = sp.waited;
	sp.old.conn = sp.conn;
	sp.old.n_born = sp.n_born;
	sp.ahead_us += (uint64_t)(mono_us() - sp.ep.opened_us);
	spn_epoch_closed(&sp.ep);
	sp.ckpt = NULL;
	sp.sealed = 0;
	sp.seal_deps = 0;
	sp.seal_after = 0;
	sp.waited = 0;
	sp.dep_ok = 0;
	sp.n_chained++;
	spec_sud_created_mark(); /* temporary files so far: the older epoch's */
	return 1;
}

/* A read of our own pipe may wait for its writer, whose verdict a lease
 * of ours could keep undecided: end it first. */
static void
sud_block(void *ctx)
{
	spn_lease_end();
}

static int
sud_fork(void *ctx, uint64_t *id)
{
	spn_lease_drop(); /* the child's verdict may wait for what it keeps undecided */
	return seal_for_child(id);
}

/* The figures a new process starts from. */
static void
stats_reset(void)
{
	sp.n_predictions = sp.n_refuted = sp.n_epochs = sp.n_commits = sp.n_rollbacks = 0;
	sp.n_barriers = sp.barrier_wait_us = sp.ahead_us = sp.n_rpcs = sp.rpc_wait_us = 0;
	sp.n_inherited = sp.n_forks = sp.n_spawns = sp.n_seals = 0;
	sp.n_couriers = sp.n_killed = sp.n_birth_checks = sp.birth_wait_us = 0;
	sp.n_exits = sp.n_acquired = sp.n_reaps = sp.exit_us = sp.reap_us = sp.n_joined = 0;
	sp.n_held = sp.n_chained = sp.n_local = 0;
	spec_sud_stats_reset();
	memset(sp.kind_n, 0, sizeof(sp.kind_n));
	memset(sp.kind_us, 0, sizeof(sp.kind_us));
	memset(sp.op_n, 0, sizeof(sp.op_n));
	memset(sp.op_us, 0, sizeof(sp.op_us));
}

/* Start depending on sealed epoch id, output held (a new process). */
static void
become_dependent(uint64_t id)
{
	sp.birth = id;
	sp.join_conn = 0; /* a connection of our own tells it */
	sp.dep_ok = 0;
	sp.n_inherited = 1;
	spec_sud_pipes_through(1);
	if (spec_sud_epoch_begin() < 0) {
		/* cannot hold our output: wait for the verdict now */
		resolve_kind(K_FORK);
	}
}

static void
sud_forked(void *ctx, long pid, uint64_t id)
{
	if (pid > 0) {
		born_add((pid_t)pid);
		sp.n_forks++;
		return;
	}
	/* The child: the parent's connection, checkpoint and children are
	 * not ours. */
	sp.self_pid = (pid_t)syscall(SYS_getpid);
	spn_call_atfork_child();
	born_end(0); /* our copies of the parent's pidfds */
	if (sp.ep.open)
		spn_epoch_closed(&sp.ep);
	sp.ckpt = NULL;
	memset(&sp.old, 0, sizeof(sp.old)); /* the parent's chain: id has it */
	n_ep_writers = 0;
	sp.sealed = 0;
	spec_sud_created_end(0); /* the parent's, not ours to undo */
	stats_reset();
	sp.waited = 0;
	sp.waiter = listening() ? (pid_t)syscall(SYS_getppid) : 0;
	sp.fork_child = 1;
	become_dependent(id);
}

uint64_t
spn_spec_launch(int spawn, int dirfd, const char *path, int spawn_files)
{
	uint64_t id;
	int ok;

	if (spn_in_vfork_child() || !speculative())
		return 0;
	spec_sud_suspend();
	if (spawn)
		spn_lease_drop();
	else
		chain_collapse(K_FORK); /* the new image cannot go back to this one */
	ok = !(!spawn && sp.ep.open) && !spawn_files && spn_image_takes_shim(dirfd, path) &&
	     seal_for_child(&id);
	spec_sud_resume();
	if (!ok) {
		/* An exec ends our own checkpoint's image; a program without
		 * us could not hold its output: resolve first. */
		resolve_kind(K_FORK);
		return 0;
	}
	return id;
}

void
spn_spec_launched(int spawn, pid_t pid, uint64_t id)
{
	if (spawn && pid > 0) {
		spec_sud_suspend();
		born_add(pid);
		spec_sud_resume();
		sp.n_spawns++;
	} else if (!spawn) {
		sp.birth = id; /* the exec failed: what was handed over is the courier's */
	}
}

void
spn_spec_hold(int on)
{
	if (!speculative())
		return;
	if (on)
		spec_sud_suspend();
	else
		spec_sud_resume();
}

/* A fork child (glibc's fork, outside an epoch): a new process, with
 * figures of its own for SPECNFS_STATS. */
static void
spec_atfork_child(void)
{
	sp.self_pid = (pid_t)syscall(SYS_getpid);
	if (!speculative())
		stats_reset();
	sp.waiter = listening() ? (pid_t)syscall(SYS_getppid) : 0;
}

void
spn_spec_ctor(void)
{
	const char *v = getenv("SPECNFS_WAITER");
	char *end;
	uint64_t id;

	pthread_atfork(NULL, NULL, spec_atfork_child);
	ckpt_set_detached_end(detached_report);
	sp.start_us = mono_us();
	sp.self_pid = (pid_t)syscall(SYS_getpid);
	if (v != NULL) {
		long w = strtol(v, &end, 10);

		if (*end == '\0' && w > 0)
			sp.waiter = (pid_t)w;
		unsetenv("SPECNFS_WAITER");
	}
	v = getenv("SPECNFS_BIRTH");
	if (v != NULL && getenv("SPECNFS_PIPES") != NULL) {
		spec_sud_pipes_adopt(getenv("SPECNFS_PIPES"));
		unsetenv("SPECNFS_PIPES");
	}
	if (v == NULL)
		return;
	id = strtoull(v, &end, 16);
	unsetenv("SPECNFS_BIRTH"); /* the program's environment is its own */
	if (*end != '\0' || id == 0 || !spn_shim_ready() || !sud_init_once())
		return;
	stats_reset();
	become_dependent(id);
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
		.fork = sud_fork,
		.forked = sud_forked,
		.exit = sud_exit,
		.block = sud_block,
	};

	if (sp.sud_ready == 0) {
		sp.sud_ready = spec_sud_init(&ops) == 0 ? 1 : -1;
		ckpt_set_size_filter(written_mirror_fd);
	}
	return sp.sud_ready > 0;
}

static void detached_exit(int status, void *arg);

/* In the copy, resumed after a rollback (value: ckpt_rollback's). This
 * memory is the checkpoint's: count what the original lived through. */
static void
resumed(uint64_t value)
{
	static int hooked;
	int newer = sp.old.ckpt != NULL;

	spn_epoch_closed(&sp.ep);
	sp.ckpt = NULL;
	if (newer) {
		/* the newer epoch of a chain: the older one held and was
		 * committed (and the birth its seal carried) */
		memset(&sp.old, 0, sizeof(sp.old));
		sp.birth = 0;
	}
	sp.waited = 0;
	sp.self_pid = (pid_t)syscall(SYS_getpid);
	sp.sealed = 0; /* a sealed epoch that held a mutation failed with it */
	sp.join_conn = 0;
	if (value & SPEC_RB_DEP_HELD)
		sp.birth = 0; /* our parent's epoch held: we depend on nothing */
	sp.n_epochs++;
	sp.n_barriers++;
	sp.n_rollbacks++;
	sp.n_refuted++;
	sp.n_killed += value >> SPEC_RB_KILLED; /* the discarded execution's children */
	spec_sud_after_fork();
	if (newer)
		spec_sud_created_older_held();
	/* Our memory names the original's connection (and the original is
	 * our parent, which would make us look like a vfork child): a
	 * connection of our own, started afresh -- the daemon may be a new
	 * one. */
	spn_conn_drop();
	if (sp.birth != 0 && spec_sud_epoch_begin() < 0)
		resolve_kind(K_OTHER); /* still dependent: hold the output, or wait */
	if (ckpt_detached() && !hooked) {
		/* The original exited (its exit failed): our parent learns our
		 * status from the daemon, whatever it is. */
		hooked = 1;
		on_exit(detached_exit, NULL);
	}
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
	spec_sud_pipes_through(0);
	rc = ckpt_take(CKPT_FORK, 0, &c, &value);
	if (rc == 1) {
		/* Resumed after a rollback: the truth, please. */
		resumed(value);
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
	chain_collapse(K_LIMIT);
	{
		struct spn_req req;
		struct spn_reply rep;

		resolve_req(&req, 0, dep_token());
		rc = spn_call_raw(&req, &rep);
		if (rc == 0 && (rep.refuted & SPN_REFUTED_BIRTH) && sp.birth != 0)
			discard_self();
		if (rc < 0 || rep.refuted > 0 || spn_conn_serial() != sp.conn) {
			if (rc == 0)
				sp.n_refuted += rep.refuted;
			return 1;
		}
		if (sp.birth != 0)
			speculation_committed(); /* what we depended on held */
		return 0;
	}
}

/* ------------------------------------------------------------ exits */

/*
 * Exit and wait across processes. A speculative process whose parent will
 * ask the daemon when it reaps it (sp.waiter: the parent's wait wrappers,
 * shim/wait.c) does not wait for its verdict at exit_group: it seals its
 * epoch with its exit status (SEAL, SPN_F_EXIT), hands its held output,
 * the files it created, the children it made and its checkpoint copy to a
 * courier (a process sharing its memory: exit_hand_off), and exits. The
 * copy is detached first (it outlives us, orphaned). The courier waits
 * for the verdict: if it held, it writes the output and kills the copy;
 * if it failed, it removes the files, kills the children, and -- unless
 * the failure was our parent's sealed epoch, which discards us whole --
 * resumes the copy, which executes again as this process and records its
 * true exit status; if that copy dies without recording one, the courier
 * records it killed (SPN_F_LOST).
 *
 * The parent's wait returns the status at once. The wrapper asks REAP: a
 * recorded exit whose sealed epoch is undecided makes the parent take a
 * checkpoint right there and depend on it (sp.waited): it runs ahead; if
 * the exit fails, it rolls back into the wrapper and waits for the
 * re-execution's status. A parent that cannot take a checkpoint (other
 * children alive, threads) waits for the verdict instead.
 */

/* A call that may come from a signal handler interrupting the shim's
 * own call (a SIGCHLD handler that reaps): then on a connection of its
 * own. */
static int
call_anywhere(struct spn_req *req, struct spn_reply *rep)
{
	int fd = -1, rc;

	if (!spn_shim_busy)
		return spn_call_raw(req, rep);
	rc = spn_call_on(&fd, req, rep);
	if (fd >= 0)
		syscall(SYS_close, fd);
	return rc < 0 ? rc : rep->status;
}

/* Record the exit (wstatus) of pid, child of ppid, depending on token:
 * on connection *fd (opened if < 0), or on the process's own if fd is
 * NULL. */
static int
seal_exit(int *fd, uint64_t token, pid_t pid, pid_t ppid, int wstatus, uint32_t flags,
	  struct spn_reply *rep)
{
	struct spn_req req;

	spn_req_init(&req, SPN_OP_SEAL);
	req.flags = SPN_F_EXIT | flags;
	req.token = token;
	req.pid = (uint32_t)pid;
	req.ppid = (uint32_t)ppid;
	req.size = (uint64_t)(uint32_t)wstatus;
	if (fd == NULL)
		return call_anywhere(&req, rep);
	return spn_call_on(fd, &req, rep);
}

/* One RESOLVE on connection *fd (opened if < 0): 1 if id (with flags)
 * held, 0 if it failed or cannot be known. */
static int
verdict_on(int *fd, uint64_t id, uint32_t flags)
{
	struct spn_req req;
	struct spn_reply rep;

	resolve_req(&req, flags, id);
	return spn_call_on(fd, &req, &rep) == 0 && rep.status == 0 && rep.refuted == 0;
}

struct exit_hand {
	uint64_t id;      /* our exit's sealed epoch */
	uint64_t dep;     /* what we depended on besides our predictions */
	uint64_t birth;   /* our parent's epoch (its failure discards us), 0: none */
	struct ckpt *c;   /* the detached copy, or NULL */
	pid_t copy;
	pid_t pid, ppid;  /* ours, as the parent knows them */
	/* The older epoch of a chain, its copy detached too (old.c NULL:
	 * none): if it failed, its copy is the one resumed. */
	struct {
		struct ckpt *c;
		pid_t copy;
		uint64_t seal, waited;
		int n_born;
	} old;
};

/* The courier's work for an exit (also done inline if no courier could
 * start). */
static void
exit_courier_body(const void *arg)
{
	const struct exit_hand *h = arg;
	struct spn_req req;
	struct spn_reply rep;
	struct ckpt *c = h->c;
	uint64_t value = SPEC_RB, dep = h->dep;
	pid_t copy = h->copy;
	int fd = -1, held, resume = 0, keep = 0;

	held = verdict_on(&fd, h->id, SPN_F_VERDICT);
	if (held) {
		spec_sud_courier_flush();
		spec_sud_created_end(0);
		born_end(0);
		if (h->old.c != NULL)
			ckpt_release(h->old.c, 0, 0);
	} else {
		if (h->old.c != NULL) {
			/* A chain: the older epoch's verdict says which copy
			 * runs again (the rule of chain_settle). */
			if (fd >= 0 && verdict_on(&fd, h->old.seal, SPN_F_VERDICT | SPN_F_OWN)) {
				ckpt_release(h->old.c, 0, 0);
				spec_sud_created_older_held();
				keep = h->old.n_born;
			} else {
				if (c != NULL)
					ckpt_release(c, 0, 0);
				c = h->old.c;
				copy = h->old.copy;
				dep = h->old.waited != 0 ? h->old.waited : h->birth;
			}
		}
		spec_sud_created_end(1);
		value |= (uint64_t)born_end_from(keep, 1) << SPEC_RB_KILLED;
		if (c != NULL && fd >= 0) {
			int birth_failed = h->birth != 0 &&
					   !verdict_on(&fd, h->birth, SPN_F_VERDICT | SPN_F_OWN);
			int dep_failed = birth_failed || (dep != 0 && dep != h->birth &&
							  !verdict_on(&fd, dep,
								      SPN_F_VERDICT | SPN_F_OWN));

			resume = !birth_failed;
			value |= dep_failed ? SPEC_RB_WAITED : SPEC_RB_DEP_HELD;
		}
	}
	if (c != NULL)
		ckpt_release(c, resume, value);
	resolve_req(&req, SPN_F_FLUSHED, h->id);
	spn_call_on(&fd, &req, &rep);
	if (!held && resume && copy > 0) {
		/* Watch the re-execution: if it dies without recording its
		 * exit, say it was killed. */
		int pfd = (int)syscall(SYS_pidfd_open, copy, 0);

		if (pfd >= 0) {
			struct pollfd pl = { .fd = pfd, .events = POLLIN };

			while (syscall(SYS_poll, &pl, 1, -1) < 0 && errno == EINTR)
				;
			syscall(SYS_close, pfd);
		}
	}
	if (!held)
		seal_exit(&fd, h->id, h->pid, h->ppid, SIGKILL, SPN_F_LOST, &rep);
	if (fd >= 0)
		syscall(SYS_close, fd);
}

/*
 * The courier of an exit, without a copy of our memory: a process that
 * shares it (CLONE_VM), on a stack of its own, with no exit signal
 * (nobody waits for it; once we are gone it belongs to init or the
 * nearest subreaper, as a courier_launch grandchild does). It is started
 * as the very last thing: our figures are written before, and we exit
 * right after, touching nothing it reads, so it finds our memory as it
 * was and keeps it once we are gone. A fork (courier_launch) copied the
 * page tables of the exiting process twice: 2-3 ms per exit of cc1 or
 * as, on the critical path of every compile. The exit_hand it reads is
 * a static copy: our stack is not its.
 */
#define EXIT_COURIER_STACK (512 * 1024)

static struct exit_hand exit_h;

static int
exit_courier_main(void *arg)
{
	(void)arg;
	syscall(SYS_close_range, 0, SPEC_SUD_DUP_MIN - 1, 0);
	exit_courier_body(&exit_h);
	syscall(SYS_exit_group, 0);
	return 0;
}

static void
exit_hand_off(const struct exit_hand *h, int code, int64_t t0)
{
	void *stack;
	long pid;

	stack = (void *)syscall(SYS_mmap, NULL, EXIT_COURIER_STACK, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return;
	exit_h = *h;
	spec_sud_count_handed();
	sp.n_couriers++;
	sp.n_exits++;
	sp.exit_us += (uint64_t)(mono_us() - t0);
	if (sp.stats_deferred)
		stats_write();
	pid = clone(exit_courier_main, (char *)stack + EXIT_COURIER_STACK, CLONE_VM, NULL);
	if (pid > 0)
		syscall(SYS_exit_group, code);
	/* (the figures went out already: a fork courier follows) */
	sp.n_couriers--;
	sp.n_exits--;
	syscall(SYS_munmap, stack, EXIT_COURIER_STACK);
}

/* Traced (ptrace) by the parent, say strace -f: its wait would wait for
 * our courier, which it holds stopped. */
static int
traced_by(pid_t pid)
{
	char buf[2048], *p;
	long fd, n;

	fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1; /* cannot tell: assume so */
	n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	p = strstr(buf, "TracerPid:");
	return p == NULL || atoi(p + 10) == (int)pid;
}

/* Can this process's exit go without waiting for its verdict? */
static int
exit_may_propagate(void)
{
	return propagating() && speculative() && sp.waiter != 0 && !spn_in_vfork_child() &&
	       sp.waiter == real_ppid() && !spec_sud_holds_files() &&
	       !(sp.ep.open && spn_conn_serial() != sp.conn) &&
	       !(sp.old.ckpt != NULL && spn_conn_serial() != sp.old.conn) && !traced_by(sp.waiter);
}

/* exit_group(code) of a speculative process: 1 if handed over (see
 * above), 0 if it must resolve first. */
static int
exit_propagate(int code)
{
	struct spn_reply rep;
	struct exit_hand h;
	int output;

	int64_t t0 = mono_us();

	if (!exit_may_propagate())
		return 0;
	output = spec_sud_buffered() > 0;
	memset(&h, 0, sizeof(h));
	h.dep = dep_token();
	h.birth = sp.birth;
	h.pid = ckpt_getpid();
	h.ppid = real_ppid();
	if (seal_exit(NULL, h.dep, h.pid, h.ppid, (code & 0xff) << 8,
		      output ? SPN_F_COURIER : 0, &rep) < 0)
		return 0;
	h.id = rep.token;
	sp.n_seals++;
	if (sp.ckpt != NULL) {
		h.c = sp.ckpt;
		h.copy = ckpt_copy_pid(sp.ckpt);
		if (ckpt_detach(sp.ckpt, h.ppid) < 0) {
			/* The copy cannot outlive us: resolve here after all. */
			struct spn_req req;

			resolve_req(&req, SPN_F_FLUSHED, h.id);
			spn_call_raw(&req, &rep);
			return 0;
		}
		sp.ckpt = NULL;
	}
	if (sp.old.ckpt != NULL) {
		/* A chain: the courier decides between the two copies. */
		h.old.c = sp.old.ckpt;
		h.old.copy = ckpt_copy_pid(sp.old.ckpt);
		h.old.seal = sp.old.seal;
		h.old.waited = sp.old.waited;
		h.old.n_born = sp.old.n_born;
		if (ckpt_detach(sp.old.ckpt, h.ppid) < 0) {
			/* It cannot outlive us: its verdict here, then on
			 * without it (back to it, still ours, if it failed). */
			if (spn_conn_serial() != sp.old.conn || !own_verdict(sp.old.seal)) {
				if (h.c != NULL)
					ckpt_release(h.c, 0, 0);
				chain_back();
			}
			chain_settle(); /* it held: committed here */
			memset(&h.old, 0, sizeof(h.old));
		} else {
			memset(&sp.old, 0, sizeof(sp.old));
		}
	}
	if (!output && h.c == NULL && h.old.c == NULL && sp.n_born == 0 &&
	    !spec_sud_created_any()) {
		/* nothing for a courier to do: the daemon has it all */
	} else {
		exit_hand_off(&h, code, t0); /* returns only if it could not */
		if (courier_launch(exit_courier_body, &h) < 0)
			exit_courier_body(&h); /* no courier: decide here, then exit */
	}
	spec_sud_hand_over();
	spec_sud_commit(); /* nothing held any more: the epoch ends here */
	spec_sud_created_end(0); /* the courier's now */
	born_end(0);
	if (sp.ep.open)
		spn_epoch_closed(&sp.ep);
	n_ep_writers = 0;
	sp.birth = sp.waited = sp.sealed = 0;
	sp.n_exits++;
	sp.exit_us += (uint64_t)(mono_us() - t0);
	return 1;
}

/* A detached re-execution ended (wstatus), however it ended: the split
 * copy that waited for it reports (raw calls, a connection of its own). */
static void
detached_report(int wstatus)
{
	struct spn_reply rep;
	int fd = -1;

	seal_exit(&fd, 0, ckpt_getpid(), ckpt_getppid(), wstatus, 0, &rep);
	if (fd >= 0)
		syscall(SYS_close, fd);
}

/* A resumed detached copy is the re-execution of a process whose parent
 * waits for its status through the daemon: record it, even if nothing
 * is speculative any more. */
static void
record_final(int wstatus)
{
	struct spn_reply rep;

	if (ckpt_detached())
		seal_exit(NULL, 0, ckpt_getpid(), real_ppid(), wstatus, 0, &rep);
}

static int
sud_exit(void *ctx, int code)
{
	if (!exit_propagate(code)) { /* (a chain too: resolve_kind settles it) */
		resolve_kind(K_EXIT);
		record_final((code & 0xff) << 8);
	}
	if (sp.stats_deferred)
		stats_write();
	return 1;
}

static void
detached_exit(int status, void *arg)
{
	(void)arg;
	if (!speculative())
		record_final((status & 0xff) << 8);
}

/* Take a checkpoint after reaping a child whose exit (sealed epoch id) is
 * undecided, and run ahead on it. 0: running ahead; 1: resumed, the exit
 * failed (ask for the re-execution's); 2: resumed, the exit held (what
 * failed came later: the status stands); -1: no checkpoint here. */
static int
depend_on_exit(uint64_t id)
{
	uint64_t value = 0;
	struct ckpt *c = NULL;
	int rc;

	if (spn_shim_busy || !sud_init_once() || ckpt_available(CKPT_FORK) < 0)
		return -1;
	spec_sud_pipes_through(0);
	rc = ckpt_take(CKPT_FORK, 0, &c, &value);
	if (rc == 1) {
		resumed(value);
		return (value & SPEC_RB_WAITED) ? 1 : 2;
	}
	if (rc < 0)
		return -1;
	if (spec_sud_epoch_begin() < 0) {
		ckpt_commit(c);
		return -1;
	}
	sp.ckpt = c;
	spn_epoch_opened(&sp.ep, mono_us());
	sp.conn = spn_conn_serial();
	sp.waited = id;
	sp.dep_ok = 0;
	sp.n_epochs++;
	sp.n_acquired++;
	return 0;
}

/*
 * A speculative process reaps a child whose exit is undecided: may it take
 * a checkpoint here and run ahead on the exit (1), rather than settle what
 * it ran ahead on before? Its own epoch becomes the older one of a chain;
 * a dependent without a checkpoint (a subshell) first seals what it
 * depends on -- its birth, and output it holds, which a courier writes --
 * as its connection's own, which the epoch taken here then depends on too.
 */
static int
reap_ahead(void)
{
	uint64_t id;

	if (sp.ep.open)
		return chain_advance();
	if (sp.old.ckpt != NULL)
		return 1;
	if (sp.birth == 0 || sp.ckpt != NULL || sp.waited != 0 || !propagating() ||
	    spn_in_vfork_child() || spec_sud_holds_files() || ckpt_available(CKPT_FORK) < 0)
		return 0;
	/* Temporary files made so far (the gcc driver's /tmp/cc*.s) are the
	 * birth's: they go if it fails, they stay if only what follows the
	 * checkpoint does (resolve_kind). */
	spec_sud_created_mark();
	return seal_now(spec_sud_buffered() > 0, &id);
}

/* Wait for the whole verdict of exit id (its courier's output written
 * too): 1 if it held. */
static int
exit_verdict(uint64_t id)
{
	struct spn_req req;
	struct spn_reply rep;
	int64_t t0 = mono_us();
	int rc;

	resolve_req(&req, 0, id);
	rc = call_anywhere(&req, &rep);
	barrier_counted(K_WAIT, mono_us() - t0);
	return rc == 0 && rep.refuted == 0;
}

void
spn_spec_reaped(pid_t pid, int *status, int nohang)
{
	struct spn_req req;
	struct spn_reply rep;
	uint64_t newer = 0, serial = 0;
	int64_t t0 = mono_us();
	/* The child's parent as it recorded its exit: the process that
	 * reaped it, by its kernel pid now. A rollback into the loop below
	 * resumes a copy with another pid, under the original's identity:
	 * neither is the pid the child (and its re-execution) recorded. */
	pid_t reaper = (pid_t)syscall(SYS_getpid);
	int rc, held;

	if (!listening() || spn_in_vfork_child())
		return;
	held = speculative(); /* then armed: our own calls must not trap */
	if (held)
		spec_sud_suspend();
	for (;;) {
		spn_req_init(&req, SPN_OP_REAP);
		req.pid = (uint32_t)pid;
		req.ppid = (uint32_t)reaper;
		req.size = newer;
		req.token = speculative() ? dep_token() : 0;
		sp.n_reaps++;
		rc = call_anywhere(&req, &rep);
		if (rc < 0 || rep.gen == 0)
			break; /* nothing recorded: the status is final */
		if (newer != 0 && serial != 0 && spn_conn_serial() != serial)
			break; /* a new daemon: the re-execution will not report to it */
		serial = spn_conn_serial();
		*status = (int)rep.wstatus;
		if (rep.refuted & SPN_REFUTED_BIRTH) {
			/* What we depend on failed with it: no re-execution
			 * will say; this execution goes (never returns). */
			if (speculative() && !spn_shim_busy)
				resolve_kind(K_WAIT);
			break; /* (the next barrier finds out) */
		}
		if (rep.refuted != 0) {
			newer = rep.gen; /* its re-execution will say */
			continue;
		}
		if (rep.token == 0)
			break; /* it held, or fails only if we do */
		if (speculative() && !spn_shim_busy && (nohang || !reap_ahead())) {
			/* Settle what we ran ahead on before (our checkpoint is
			 * older than the child), then ask again. */
			resolve_kind(K_WAIT);
			continue;
		}
		if (nohang) {
			/* Perhaps in a signal handler (bash's SIGCHLD): no
			 * checkpoint here, it would allocate. The verdict,
			 * then the status (a re-execution's if it failed). */
			if (exit_verdict(rep.token))
				break;
			newer = rep.gen;
			continue;
		}
		rc = depend_on_exit(rep.token);
		if (rc == 1) {
			newer = rep.gen;
			serial = 0; /* resumed: a connection of our own */
			continue;
		}
		if (rc < 0)
			chain_collapse(K_WAIT); /* a full verdict next: nothing older open */
		if (rc == 0 || rc == 2 || exit_verdict(rep.token))
			break;
		newer = rep.gen;
	}
	if (held)
		spec_sud_resume();
	sp.reap_us += (uint64_t)(mono_us() - t0);
}

int
spn_spec_direct(long nr, long a0, long a1, long a2, long a3, long *ret)
{
	return spec_sud_direct(nr, a0, a1, a2, a3, ret);
}

int
spn_spec_quiet_begin(uint64_t *mask)
{
	return spec_sud_quiet_begin(mask);
}

void
spn_spec_quiet_end(uint64_t mask)
{
	spec_sud_quiet_end(mask);
}

int
spn_spec_wait_begin(void)
{
	if (!speculative() || spn_in_vfork_child() || !listening())
		return 0;
	spec_sud_suspend();
	spn_lease_drop();
	return 1;
}

void
spn_spec_wait_end(void)
{
	spec_sud_resume();
}

size_t
spn_spec_pipes(char *buf, size_t len)
{
	if (!speculative() || sp.ep.open)
		return 0;
	return spec_sud_pipes_env(buf, len);
}

pid_t
spn_spec_waiter(int spawn)
{
	if (!listening())
		return 0;
	if (spawn)
		return (pid_t)syscall(SYS_getpid);
	/* A vfork child's parent is the process whose memory we share (it
	 * may never have talked to the daemon: collect2 starting ld). */
	if (spn_in_vfork_child() ||
	    (sp.self_pid != 0 && (pid_t)syscall(SYS_getpid) != sp.self_pid &&
	     (pid_t)syscall(SYS_getppid) == sp.self_pid))
		return (pid_t)syscall(SYS_getppid);
	return sp.waiter;
}

/*
 * A process that depends only on its birth (no checkpoint of its own)
 * lets its read predictions join the sealed epoch above it that has one
 * (proto.h, version 7): no checkpoint per process. Its connection is
 * told the birth once.
 */
static int
may_join(void)
{
	struct spn_req req;
	struct spn_reply rep;

	if (sp.birth == 0 || sp.ep.open || sp.ckpt != NULL || sp.waited != 0 ||
	    sp.old.ckpt != NULL || !propagating())
		return 0;
	if (sp.join_conn != 0 && sp.join_conn == spn_conn_serial())
		return 1;
	spn_req_init(&req, SPN_OP_SEAL);
	req.flags = SPN_F_JOIN;
	req.token = sp.birth;
	if (spn_call_raw(&req, &rep) < 0)
		return 0;
	sp.join_conn = spn_conn_serial();
	return 1;
}

/* One request to the daemon, with the held output let through, counted. */
static int
call_counted(struct spn_req *req, struct spn_reply *rep)
{
	int64_t t0 = mono_us();
	int rc;

	if (speculative())
		spec_sud_suspend();
	rc = spn_call_raw(req, rep);
	if (speculative())
		spec_sud_resume();
	if (rep->spec & SPN_SPEC_REMOTE) {
		uint64_t us = (uint64_t)(mono_us() - t0);

		sp.n_rpcs++;
		sp.rpc_wait_us += us;
		if (req->op <= SPN_OP_MAX) {
			sp.op_n[req->op]++;
			sp.op_us[req->op] += us;
		}
	}
	return rc;
}

/*
 * Held mutations (proto.h, version 8). A mkdir, rmdir, unlink, rename or
 * chmod inside an open epoch used to resolve first: the epoch had to be
 * known good before a change others see. Now the epoch is sealed (its
 * checkpoint stays the way back) and the mutation joins it as its last
 * prediction; the daemon sends it once the rest of the epoch held, or
 * drops it. The process goes on at once; its next prediction resolves
 * first, as after any seal. Returns 1 (*rc: the call's) if held.
 */
/* A process that depends only on its birth, not yet known good: no
 * epoch or checkpoint of its own, nothing reaped. */
static int
bare_dependent(void)
{
	return !sp.ep.open && sp.birth != 0 && !sp.dep_ok && sp.ckpt == NULL &&
	       sp.old.ckpt == NULL && sp.waited == 0 && sp.sealed == 0;
}

static int
hold_may(const struct spn_req *req)
{
	const struct spn_policy *p = spn_shim_policy();
	const struct spn_epoch *ep = &sp.ep;
	uint32_t bits = 0;
	enum spn_spec_kind kind = spn_spec_kind(req->op, req->flags, &bits);

	if (req->op == SPN_OP_SETATTR)
		bits = SPN_SPEC_OP_MUTATE; /* a chmod, below */
	if (!propagating() || spn_in_vfork_child() || !(p->speculate & bits))
		return 0;
	/* A create (O_TRUNC for writing) by a dependent whose birth is not
	 * known good yet (as writing its object: it would wait for gcc's
	 * and cc1's validations), held like a mkdir; the file's store at
	 * its close then joins the same sealed epoch, behind the create. */
	if (req->op == SPN_OP_CLOSE)
		return kind == SPN_SK_REDO &&
		       ((sp.sealed != 0 && sp.sealed == sp.create_seal &&
			 strcmp(req->path, sp.create_path) == 0 && sp.ckpt != NULL && ep->open &&
			 spn_conn_serial() == sp.conn && sp.seal_after == 0) ||
			bare_dependent());
	if (req->op == SPN_OP_OPEN)
		return kind == SPN_SK_REDO && (req->flags & O_CREAT) && bare_dependent();
	if (!(kind == SPN_SK_ONCE || (req->op == SPN_OP_SETATTR && req->mask == SPN_SA_MODE)))
		return 0;
	if (!ep->open) /* a dependent, or a chain: its own epoch starts with this one */
		return (sp.birth != 0 || sp.old.ckpt != NULL) && sp.ckpt == NULL &&
		       sp.waited == 0 && sp.sealed == 0;
	return sp.ckpt != NULL && spn_conn_serial() == sp.conn &&
	       ep->predictions < ep->max_predictions &&
	       mono_us() - ep->opened_us < (int64_t)ep->max_epoch_ms * 1000;
}

/*
 * A create by a forked child that has not exec'd (a shell's `>file`
 * before exec'ing cat), or the store at the close of a file whose create
 * a sealed epoch above holds (cat's, after that exec): held in the sealed
 * epoch the process joins, with no checkpoint here. If it fails, that
 * epoch's sealer rolls back to before the fork and this process is
 * discarded with it; the re-execution's create is not held again (the
 * daemon remembers the refusal) and says what the server says.
 */
/*
 * A held call the daemon did not hold: UNHELD, nothing was done (0: the
 * ordinary way); or a CLOSE answered as it is, with nothing to store (the
 * server has the file as it is: proto.h, CLOSE's UNMAPPED), which changes
 * nothing on the server and needs no verdict first (1).
 */
static int
hold_answered(struct spn_req *req, const struct spn_reply *rep, int rc)
{
	req->spec = 0;
	if (req->op != SPN_OP_CLOSE || (rep->spec & SPN_SPEC_UNHELD) || rc != 0)
		return 0;
	epoch_writer_note(req, rc);
	return 1;
}

static int
join_hold_call(struct spn_req *req, struct spn_reply *rep, int *rc)
{
	if (!may_join())
		return 0;
	req->spec = SPN_SPEC_PREDICT | SPN_SPEC_HOLD | SPN_SPEC_JOIN;
	req->token = new_token();
	*rc = call_counted(req, rep);
	if (!(rep->spec & SPN_SPEC_JOINED))
		return hold_answered(req, rep, *rc);
	sp.n_predictions++;
	sp.n_joined++;
	if (*rc == 0)
		sp.n_held++;
	return 1;
}

static int
hold_call(struct spn_req *req, struct spn_reply *rep, int *rc)
{
	struct spn_req sreq;
	struct spn_reply srep;
	int fresh = !sp.ep.open;

	if (bare_dependent() &&
	    (req->op == SPN_OP_CLOSE || (req->op == SPN_OP_OPEN && sp.fork_child)))
		return join_hold_call(req, rep, rc);

	if (sp.sealed == 0 || sp.seal_after > 0) {
		/* A dependent without a checkpoint takes one right after the
		 * reply (below): a failure of the epoch returns there. A seal
		 * with predictions after it: a new one, which has them. */
		spn_req_init(&sreq, SPN_OP_SEAL);
		sreq.flags = SPN_F_CKPT;
		sreq.token = dep_token();
		if (spn_call_raw(&sreq, &srep) < 0 || (!fresh && spn_conn_serial() != sp.conn))
			return 0;
		sp.sealed = srep.token;
		sp.seal_deps = 0;
		sp.seal_after = 0;
		sp.n_seals++;
	}
	req->spec = SPN_SPEC_PREDICT | SPN_SPEC_HOLD;
	req->token = new_token();
	*rc = call_counted(req, rep);
	if (!(rep->spec & SPN_SPEC_JOINED))
		return hold_answered(req, rep, *rc);
	/* Held; or, for a name the cache knows is not there, ENOENT
	 * predicted and checked in the same epoch (nothing to hold). */
	sp.n_predictions++;
	if (*rc == 0) {
		sp.n_held++;
		/* The checkpoint is taken after the reply (fresh): a later
		 * prediction that fails returns to after the mutation, so the
		 * process may go on predicting in a new epoch. One taken
		 * before it must not be returned to once the call went out. */
		sp.seal_deps = !fresh;
		if (req->op == SPN_OP_OPEN) {
			sp.create_seal = sp.sealed;
			snprintf(sp.create_path, sizeof(sp.create_path), "%s", req->path);
		}
	}
	if (!fresh) {
		sp.ep.predictions++;
		epoch_writer_note(req, *rc); /* a held create's store: closed */
		return 1;
	}
	sp.conn = spn_conn_serial();
	if (open_epoch()) {
		/* Resumed: the mutation failed on the server, or was
		 * dropped (then never made): its outcome, or made now. */
		req->spec = SPN_SPEC_REPLAY;
		*rc = call_counted(req, rep);
	}
	epoch_writer_note(req, *rc); /* a held create: a rollback closes it */
	return 1;
}

/*
 * A joined read prediction of a name missing from the mirror below a
 * directory the daemon has leased (proto.h, version 11): the deepest
 * directory the mirror has on the name's path is the leased one, and
 * lacks the next name. ENOENT is answered here, and the daemon is told
 * without a reply to wait for. It checks the miss in the sealed epoch the
 * lease keeps undecided; if the name was there after all, that epoch
 * fails and this process is discarded with it, like any joined
 * prediction. 1 if answered.
 */
static int
local_miss(struct spn_req *req)
{
	char mirror[PATH_MAX], dir[SPN_PATH_MAX];
	const char *name = strrchr(req->path, '/');
	struct stat st;

	if ((req->op != SPN_OP_STAT && req->op != SPN_OP_OPEN) ||
	    spn_spec_kind(req->op, req->flags, NULL) != SPN_SK_READ || name == NULL ||
	    name == req->path || name[1] == '\0' || strcmp(name, "/.") == 0 ||
	    strcmp(name, "/..") == 0 || !spn_lease_has(NULL) ||
	    spn_nfs_to_mirror(req->path, mirror, sizeof(mirror)) <= 0)
		return 0;
	if (syscall(SYS_newfstatat, AT_FDCWD, mirror, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return 0;
	return spn_mirror_dir_above(req->path, dir, sizeof(dir)) && spn_lease_has(dir) &&
	       spn_call_note(req, dir) == 0;
}

static int
spec_call(struct spn_req *req, struct spn_reply *rep)
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
	if (hold_may(req) && hold_call(req, rep, &rc))
		return rc;
	/* A sealed epoch that others depend on (a child, a held call) takes
	 * no new prediction: its verdict would not wait for it. One sealed
	 * only for a check that joined it (an unlink of a name not there)
	 * has nobody to tell before our own next RESOLVE, which waits for
	 * everything. */
	if (sp.sealed != 0 && sp.seal_deps && spn_epoch_may_predict(ep, req->op, req->flags) &&
	    !chain_advance())
		resolve_kind(K_LIMIT);
	if (sp.old.ckpt != NULL && !ep->open && spn_spec_mutates(req->op, req->flags))
		chain_collapse(K_MUTATE); /* no epoch of its own to hold it in */
	if (spn_epoch_must_resolve(ep, req->op, req->flags, mono_us()))
		resolve_kind(spn_spec_mutates(req->op, req->flags) ? K_MUTATE : K_LIMIT);
	if (dep_token() != 0 && spn_spec_mutates(req->op, req->flags))
		dep_check(); /* a discarded execution must not change the server */
	if (!spn_epoch_may_predict(ep, req->op, req->flags) || spn_in_vfork_child()) {
		rc = call_counted(req, rep);
		epoch_writer_note(req, rc);
		return rc;
	}
	kind = spn_spec_kind(req->op, req->flags, NULL);
	req->spec = SPN_SPEC_PREDICT;
	if (kind != SPN_SK_READ)
		req->token = new_token();
	else if (may_join())
		req->spec |= SPN_SPEC_JOIN;
	if ((req->spec & SPN_SPEC_JOIN) && local_miss(req)) {
		sp.n_predictions++;
		sp.n_joined++;
		sp.n_local++;
		return -ENOENT;
	}
	rc = call_counted(req, rep);
	epoch_writer_note(req, rc);
	if (sp.sealed != 0 && (rep->spec & SPN_SPEC_PREDICTED) && !(rep->spec & SPN_SPEC_JOINED))
		sp.seal_after++; /* not part of the seal: see seal_for_child, hold_call */
	if (rep->spec & SPN_SPEC_JOINED) {
		/* part of a sealed epoch above us now: no checkpoint here */
		sp.n_predictions++;
		sp.n_joined++;
		return rc;
	}
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

/*
 * mkdir of a name that exists fails with EEXIST whatever else holds (a
 * dangling symlink too; no write permission on the directory is needed
 * to hear it). `mkdir -p` in a make rule asks it for a directory that is
 * there: a predicted lstat says so without a server mutation, which a
 * speculative process would otherwise wait for its verdict to make.
 * 1 (rep says EEXIST) or 0 (make it).
 */
static int
mkdir_exists(const struct spn_req *req, struct spn_reply *rep)
{
	struct spn_req sreq;

	if (req->op != SPN_OP_MKDIR || (req->spec & SPN_SPEC_REPLAY) || spn_shim_busy ||
	    !spn_shim_ready() || !spn_epoch_may_predict(epoch(), SPN_OP_STAT, SPN_F_NOFOLLOW))
		return 0;
	spn_req_init(&sreq, SPN_OP_STAT);
	sreq.flags = SPN_F_NOFOLLOW;
	memcpy(sreq.path, req->path, sizeof(sreq.path));
	if (spn_call(&sreq, rep) != 0)
		return 0;
	rep->status = -EEXIST;
	return 1;
}

/*
 * While the process is speculative its syscalls trap (Syscall User
 * Dispatch): the shim's own work -- the daemon call, a checkpoint --
 * runs with the trap held off on this thread.
 */
int
spn_call(struct spn_req *req, struct spn_reply *rep)
{
	int held, rc;

	if (mkdir_exists(req, rep))
		return -EEXIST;
	held = speculative() && !spn_shim_busy;

	if (held)
		spec_sud_suspend();
	rc = spec_call(req, rep);
	if (held)
		spec_sud_resume();
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

/* SPECNFS_STATS: one line per process at exit. The barrier_<kind>
 * fields are count/microseconds blocked per kind of barrier. */
static void
stats_write(void)
{
	const struct spn_policy *p;
	struct spec_sud_stats ss;
	char line[2000];
	size_t n = 0;
	int fd, k;

	sp.stats_deferred = 0;
	if (!spn_shim_ready())
		return;
	p = spn_shim_policy();
	if (p->stats_file[0] == '\0')
		return;
	spec_sud_stats(&ss);
	spn_appendf(line, sizeof(line), &n,
		    "pid=%d policy=%s predictions=%llu refuted=%llu checkpoints=%llu commits=%llu "
		    "rollbacks=%llu barriers=%llu blocked_us=%llu hidden_us=%llu rpcs=%llu "
		    "rpc_wait_us=%llu",
		    (int)ckpt_getpid(), p->policy == SPN_POLICY_FULL ? "full" :
					p->policy == SPN_POLICY_CTO ? "cto" : "off",
		    (unsigned long long)sp.n_predictions, (unsigned long long)sp.n_refuted,
		    (unsigned long long)sp.n_epochs,
		    (unsigned long long)sp.n_commits, (unsigned long long)sp.n_rollbacks,
		    (unsigned long long)sp.n_barriers, (unsigned long long)sp.barrier_wait_us,
		    (unsigned long long)sp.ahead_us, (unsigned long long)sp.n_rpcs,
		    (unsigned long long)sp.rpc_wait_us);
	spn_appendf(line, sizeof(line), &n,
		    " inherited=%llu forks=%llu spawns=%llu seals=%llu couriers=%llu "
		    "handed_bytes=%llu killed=%llu birth_checks=%llu birth_wait_us=%llu",
		    (unsigned long long)sp.n_inherited, (unsigned long long)sp.n_forks,
		    (unsigned long long)sp.n_spawns, (unsigned long long)sp.n_seals,
		    (unsigned long long)sp.n_couriers, (unsigned long long)ss.handed_bytes,
		    (unsigned long long)sp.n_killed, (unsigned long long)sp.n_birth_checks,
		    (unsigned long long)sp.birth_wait_us);
	spn_appendf(line, sizeof(line), &n,
		    " exits=%llu exit_us=%llu acquired=%llu reaps=%llu reap_us=%llu joined=%llu "
		    "held=%llu chained=%llu local=%llu traps=%llu wall_us=%lld start_us=%lld",
		    (unsigned long long)sp.n_exits, (unsigned long long)sp.exit_us,
		    (unsigned long long)sp.n_acquired, (unsigned long long)sp.n_reaps,
		    (unsigned long long)sp.reap_us, (unsigned long long)sp.n_joined,
		    (unsigned long long)sp.n_held, (unsigned long long)sp.n_chained,
		    (unsigned long long)sp.n_local, (unsigned long long)ss.traps,
		    (long long)(mono_us() - sp.start_us),
		    (long long)sp.start_us);
	for (k = 0; k < SPEC_NKINDS; k++)
		spn_appendf(line, sizeof(line), &n, " barrier_%s=%llu/%llu", kind_names[k],
			    (unsigned long long)sp.kind_n[k], (unsigned long long)sp.kind_us[k]);
	for (k = 0; k <= SPN_OP_MAX; k++)
		if (sp.op_n[k] != 0)
			spn_appendf(line, sizeof(line), &n, " rpc_%s=%llu/%llu",
				    spn_proto_op_name((uint16_t)k), (unsigned long long)sp.op_n[k],
				    (unsigned long long)sp.op_us[k]);
	spn_appendf(line, sizeof(line), &n, " prog=%s\n", program_invocation_short_name);
	spn_spec_hold(1); /* our own figures: not the program's output */
	fd = (int)syscall(SYS_openat, AT_FDCWD, p->stats_file,
			  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (syscall(SYS_write, fd, line, n) < 0) {
			/* figures only */
		}
		syscall(SYS_close, fd);
	}
	spn_spec_hold(0);
}

/* At exit (), before stdio's last flush: a process whose exit will go
 * without its verdict leaves its line to exit_group (sud_exit); any
 * other resolves now. */
__attribute__((destructor)) static void
spec_stats(void)
{
	if (speculative() && exit_may_propagate()) {
		sp.stats_deferred = 1;
		return;
	}
	if (speculative())
		resolve_kind(K_EXIT);
	stats_write();
}
