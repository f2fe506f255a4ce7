/*
 * daemon/seal.c: speculation across processes -- sealed epochs and the
 * verdicts that wait on them (proto.h, "Version 5").
 *
 * A process that forks inside an epoch seals it (SEAL): the epoch's
 * predictions so far -- its connection's validations in flight -- and the
 * sealed epoch the process itself depends on become one object here with
 * an id. The process predicts nothing more in that epoch: it resolves
 * first, or goes on in a new epoch behind a second checkpoint (a chain,
 * version 9). So the SEAL takes the connection's validations in flight
 * with it (pending; cl->ep_seq tells them from the next epoch's), and the
 * object's own part is decided when those are back. A chain's next seal
 * has the previous one as its birth, and the process's own dependency
 * (a reaped child's exit) as a second one (also). The child depends on the id:
 * every RESOLVE it sends names it, and is answered once the child's own
 * validations and the whole chain of sealed epochs above it are decided.
 *
 * States: a sealed epoch is PENDING until its own validations and its
 * birth (the id it depends on) are decided; then REFUTED if any of them
 * failed, else HELD -- but only once its courier (SPN_F_COURIER: a process
 * writing the output the sealer held at the fork) said FLUSHED, so that
 * the sealer's earlier output reaches its terminal or pipe before anything
 * a dependent releases. The courier itself waits for the verdict alone
 * (SPN_F_VERDICT), or it would wait for itself.
 *
 * Exits (SEAL with SPN_F_EXIT, version 6): the sealed epoch of an exiting
 * process is recorded with its pid, its parent's pid and its wait status,
 * for the parent's REAP. The newest record of a (pid, ppid) replaces the
 * older ones; a REAP that finds it HELD forgets it; at most SPN_MAX_EXITS
 * are kept (the oldest go: a parent that never waits). A REAP naming a
 * generation waits (no deadline) for a newer record: the re-execution of
 * a child whose exit failed.
 *
 * Joined predictions (version 7): a process without a checkpoint of its
 * own (it depends only on the sealed epoch it was born of) would need one
 * for each prediction it runs ahead on. Its prediction joins instead the
 * nearest sealed epoch in its chain whose sealer has a checkpoint to
 * return to (SPN_F_CKPT), while that one is undecided: the epoch then
 * waits for the validation too (joined), and fails if it failed. The
 * sealer's next full RESOLVE reports that failure as its own (it rolls
 * back to before the fork); everything born of the epoch, the joiner
 * included, is discarded as for any failed birth.
 *
 * Held mutations (version 8): a mutation of a process that has a
 * checkpoint joins its own epoch, sealed just before, as the epoch's
 * last prediction (spn_seal_hold_target, spn_seal_hold_add). Its server
 * call keeps its place in the mount's ordered line but is not admitted
 * (mq_held) until the rest of the epoch is decided: its own part, the
 * joins that came before, and the chain above (verdicts only). If all of
 * that held, the call goes and its outcome is the epoch's last
 * validation; if any of it failed, the call is dropped: never sent, the
 * mirror's change undone, and the process rolls back to before it. The
 * epoch takes nothing more once it holds a mutation (closed): anything
 * joined after it could fail after the mutation reached the server, and
 * the rollback would then return to before a change that stays.
 *
 * Held creates (version 10): a dependent's create of a new file is held
 * the same way, in a sealed epoch of its own (the shim takes its
 * checkpoint after the reply), or, for a process that has none (a
 * shell's child opening `>file`, which execs next), in the one it joins.
 * The epoch remembers the file (create_rel): the store at the file's
 * close and a chmod of it join it too, *behind* the create (behind), in
 * line after it, so that the create goes without waiting for them, and
 * neither goes if it was dropped.
 *
 * Held stores: the store at the close of a file a process without a
 * checkpoint wrote but did not create (a configure child's exit storing
 * config.log, which its shell keeps open) is held in its birth too
 * (predict_write.c, hold_store). Unlike other held mutations it leaves the
 * epoch open to joins while it waits (open_holds): its siblings, born of
 * the same epoch, go on joining it, and it goes once they are all back;
 * from then on the epoch takes nothing more.
 *
 * Leases (version 11): a client answering misses itself keeps the epoch
 * its predictions join undecided with one join until its next request of
 * another kind (spn_seal_lease_*); each note counts a join as it arrives.
 *
 * Ids count up from a random per-daemon base, so that an id a previous
 * daemon issued is unknown here: unknown counts as REFUTED (the execution
 * that depends on it cannot be vouched for). Decided epochs are not kept:
 * an id below the next one that is neither pending nor in the refuted set
 * was HELD.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client/daemon/internal.h"
#include "client/log.h"

enum seal_state { SEAL_PENDING, SEAL_VERDICT_HELD, SEAL_HELD, SEAL_REFUTED };

#define SPN_MAX_EXITS 4096
/* Joins keep a sealed epoch undecided: a dependent that predicts without
 * end would hold back its verdict, its sealer's output and its sealer's
 * RESOLVE. So only so many, and only so long after the seal; then the
 * dependent takes a checkpoint of its own. */
#define SEAL_MAX_JOINS 1024
#define SEAL_JOIN_NS (2 * 1000000000LL)

struct spn_exit {
	struct spn_exit *next;
	pid_t pid, ppid;
	uint32_t wstatus;
	uint64_t seal; /* 0: final */
	uint64_t gen;
};

struct spn_seal {
	struct spn_seal *next;
	struct spn_seal *hnext; /* in its bucket of d->seal_hash */
	uint64_t id;
	uint64_t birth;        /* the sealed epoch this one depends on, 0: none */
	uint64_t also;         /* ... and another (a reaped child's exit), 0: none */
	struct spn_client *cl; /* the sealer, while its own part is undecided */
	uint32_t ep_seq;       /* the sealer's epoch this is (cl->ep_seq then) */
	int pending;           /* its own validations still in flight */
	int own_done;
	int own_refuted;
	int courier;           /* output handed to a courier, not yet flushed */
	int ckpt;              /* the sealer rolls back if this epoch fails */
	unsigned joined;       /* joined validations in flight */
	unsigned joins;        /* joined in all */
	int64_t born_ns;       /* when sealed: joins end after SEAL_JOIN_NS */
	int join_refuted;      /* a joined validation failed */
	int closed;            /* holds a mutation: takes no more joins */
	unsigned behind;       /* joins that wait in line behind its held create */
	unsigned open_holds;   /* held stores that leave it open to joins until they go */
	uint16_t create_mount; /* the file its held create makes */
	char *create_rel;      /* ... NULL: none */
};

static void exit_record(struct spn_daemon *d, const struct spn_req *req, uint64_t seal);
static void exit_lost(struct spn_job *j);

static uint64_t
seal_base(struct spn_daemon *d)
{
	if (d->seal_base == 0) {
		uint32_t r = 0;

		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
			r = (uint32_t)spn_mono_ns();
		/* 24 random bits above a 40-bit count: never 0 */
		d->seal_base = ((uint64_t)(r & 0xffffff) | 1) << 40;
		d->seal_next = d->seal_base;
	}
	return d->seal_base;
}

/* Ids are consecutive: their low bits spread them evenly. */
static struct spn_seal **
seal_bucket(struct spn_daemon *d, uint64_t id)
{
	return &d->seal_hash[id & (SPN_SEAL_HASH - 1)];
}

static struct spn_seal *
seal_find(struct spn_daemon *d, uint64_t id)
{
	struct spn_seal *s;

	for (s = *seal_bucket(d, id); s != NULL; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void
seal_unhash(struct spn_daemon *d, struct spn_seal *s)
{
	struct spn_seal **pp = seal_bucket(d, s->id);

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
}

/* Where id is or would go in the sorted refuted set. */
static size_t
refuted_at(const struct spn_daemon *d, uint64_t id)
{
	size_t lo = 0, hi = d->n_seal_refuted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->seal_refuted[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
refuted_has(const struct spn_daemon *d, uint64_t id)
{
	size_t i = refuted_at(d, id);

	return i < d->n_seal_refuted && d->seal_refuted[i] == id;
}

static void
refuted_add(struct spn_daemon *d, uint64_t id)
{
	uint64_t *p;
	size_t i = refuted_at(d, id);

	if (i < d->n_seal_refuted && d->seal_refuted[i] == id)
		return;
	if (d->n_seal_refuted == d->cap_seal_refuted) {
		size_t cap = d->cap_seal_refuted ? 2 * d->cap_seal_refuted : 64;

		p = realloc(d->seal_refuted, cap * sizeof(*p));
		if (p == NULL)
			return; /* then forgotten: it reads as HELD -- see below */
		d->seal_refuted = p;
		d->cap_seal_refuted = cap;
	}
	memmove(d->seal_refuted + i + 1, d->seal_refuted + i,
		(d->n_seal_refuted - i) * sizeof(*d->seal_refuted));
	d->seal_refuted[i] = id;
	d->n_seal_refuted++;
}

/*
 * The state of id, following births down to stop (0: all of them; else
 * the sealed epoch the asker itself depends on: what lies beyond it fails
 * with the asker anyway). verdict_only: a courier pending does not hold
 * id back.
 */
static enum seal_state
seal_state_to(struct spn_daemon *d, uint64_t id, int verdict_only, uint64_t stop)
{
	int depth;

	for (depth = 0; id != 0 && id != stop && depth < 4096; depth++) {
		struct spn_seal *s;

		if (id < seal_base(d) || id >= d->seal_next ||
		    (id >> 40) != (seal_base(d) >> 40) || refuted_has(d, id))
			return SEAL_REFUTED;
		s = seal_find(d, id);
		if (s == NULL)
			return SEAL_HELD; /* decided and forgotten */
		if ((s->own_done && s->own_refuted) || s->join_refuted)
			return SEAL_REFUTED;
		if (!s->own_done || s->joined > 0)
			return SEAL_PENDING;
		if (s->courier && !verdict_only) {
			/* held back until the courier wrote, unless it failed */
			enum seal_state b = seal_state_to(d, s->birth, 1, 0);

			if (b != SEAL_REFUTED && s->also != 0)
				b = seal_state_to(d, s->also, 1, stop);
			return b == SEAL_REFUTED ? SEAL_REFUTED : SEAL_PENDING;
		}
		if (s->also != 0) {
			/* A second dependency: whatever it says besides the
			 * chain (its output, a courier's, comes first too). */
			enum seal_state a = seal_state_to(d, s->also, 0, stop);

			if (a == SEAL_REFUTED)
				return a;
			if (a == SEAL_PENDING) {
				enum seal_state b = seal_state_to(d, s->birth, 1, stop);

				return b == SEAL_REFUTED ? SEAL_REFUTED : SEAL_PENDING;
			}
		}
		id = s->birth;
		verdict_only = 0;
	}
	return id == 0 || id == stop ? SEAL_HELD : SEAL_PENDING;
}

static enum seal_state
seal_state(struct spn_daemon *d, uint64_t id, int verdict_only)
{
	return seal_state_to(d, id, verdict_only, 0);
}

/* Forget decided epochs: refuted ones go to the refuted set. */
static void
seal_collect(struct spn_daemon *d)
{
	struct spn_seal **pp = &d->seals, *s;

	while ((s = *pp) != NULL) {
		enum seal_state st = seal_state(d, s->id, 0);

		if (st == SEAL_PENDING) {
			pp = &s->next;
			continue;
		}
		if (st == SEAL_REFUTED)
			refuted_add(d, s->id);
		spn_debug("seal %llx %s after %lld us", (unsigned long long)s->id,
			  st == SEAL_REFUTED ? "failed" : "held",
			  (long long)(spn_mono_ns() - s->born_ns) / 1000);
		*pp = s->next;
		seal_unhash(d, s);
		free(s->create_rel);
		free(s);
	}
}

/* 1 if a RESOLVE job of cl can be answered now; sets its refuted. */
static int
resolve_ready(struct spn_job *j)
{
	struct spn_client *cl = j->cl;
	struct spn_daemon *d = j->d;
	enum seal_state b, own;

	if (j->req.flags & SPN_F_VERDICT) {
		b = seal_state(d, j->req.token, 1);
		if (b == SEAL_PENDING)
			return 0;
		j->rep.refuted = b == SEAL_REFUTED ? SPN_REFUTED_BIRTH : 0;
		return 1;
	}
	if (cl->validating > 0)
		return 0;
	b = seal_state(d, j->req.token, 0);
	if (b == SEAL_PENDING)
		return 0;
	own = cl->seal != 0 ? seal_state(d, cl->seal, 0) : SEAL_HELD;
	if (own == SEAL_PENDING)
		return 0; /* our own output still with the courier, or joins */
	j->rep.refuted = cl->refuted | (b == SEAL_REFUTED ? SPN_REFUTED_BIRTH : 0);
	if (own == SEAL_REFUTED && b != SEAL_REFUTED)
		j->rep.refuted |= 1; /* a prediction joined to our epoch failed */
	return 1;
}

/* Answer a ready RESOLVE; a full one (not a courier's verdict) ends the
 * connection's speculative state here. */
static void
resolve_answer(struct spn_job *j)
{
	if (!(j->req.flags & SPN_F_VERDICT)) {
		j->cl->refuted = 0;
		j->cl->seal = 0;
	}
	spn_job_reply(j, 0);
}

static void held_poke(struct spn_daemon *d);
static void reapers_failed(struct spn_daemon *d);

/* Answer whatever RESOLVE can be answered now (after any change). */
void
spn_seal_poke(struct spn_daemon *d)
{
	struct spn_client *cl;
	int again = 1;

	held_poke(d);
	reapers_failed(d);
	while (again) {
		again = 0;
		for (cl = d->clients; cl != NULL; cl = cl->next) {
			struct spn_job **pp = &cl->resolvers, *j;

			while ((j = *pp) != NULL) {
				if (!resolve_ready(j)) {
					pp = &j->next;
					continue;
				}
				*pp = j->next;
				j->next = NULL;
				resolve_answer(j);
				again = 1;
				break;
			}
			if (again)
				break;
		}
	}
	seal_collect(d);
}

/* The sealed epoch of cl that validations of epoch seq count for, or NULL
 * (seq is the connection's current epoch). */
static struct spn_seal *
own_seal(struct spn_daemon *d, const struct spn_client *cl, uint32_t seq)
{
	struct spn_seal *s;

	if (seq == cl->ep_seq)
		return NULL;
	for (s = d->seals; s != NULL; s = s->next)
		if (s->cl == cl && s->ep_seq == seq && !s->own_done)
			return s;
	return NULL;
}

void
spn_seal_own_refuted(struct spn_daemon *d, const struct spn_job *v)
{
	struct spn_seal *s = own_seal(d, v->owner, v->ep_seq);

	if (s != NULL)
		s->own_refuted = 1;
	else if (v->ep_seq == v->owner->ep_seq)
		v->owner->refuted++;
}

void
spn_seal_own_done(struct spn_daemon *d, const struct spn_job *v)
{
	struct spn_client *cl = v->owner;
	struct spn_seal *s = own_seal(d, cl, v->ep_seq);

	if (s != NULL) {
		if (--s->pending <= 0) {
			s->own_done = 1;
			s->cl = NULL; /* not needed any more: it may go */
			spn_seal_poke(d); /* its dependents may be waiting */
		}
		return;
	}
	if (v->ep_seq == cl->ep_seq && --cl->validating == 0 && cl->resolvers != NULL)
		spn_seal_poke(d);
}

/*
 * SEAL: a new sealed epoch for each request (the shim asks only when the
 * one it has will not do). Its birth is the connection's previous sealed
 * epoch if it has one (so that its courier's output comes after the
 * previous courier's), else the one the process names.
 */
void
spn_seal_dispatch(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	struct spn_client *cl = j->cl;
	struct spn_seal *s;

	if ((j->req.flags & SPN_F_LOST) && (j->req.flags & SPN_F_EXIT)) {
		exit_lost(j);
		return;
	}
	if (j->req.flags & SPN_F_JOIN) {
		cl->join = j->req.token;
		j->rep.token = 0;
		spn_job_reply(j, 0);
		return;
	}
	seal_base(d);
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		spn_job_reply(j, -ENOMEM);
		return;
	}
	s->id = d->seal_next++;
	s->birth = cl->seal != 0 ? cl->seal : j->req.token;
	if (cl->seal != 0 && j->req.token != 0 && j->req.token != cl->seal)
		s->also = j->req.token; /* the process's own dependency besides its chain */
	/* The connection's validations so far are this epoch's own part;
	 * the next ones are the next epoch's. */
	s->cl = cl;
	s->ep_seq = cl->ep_seq++;
	s->pending = cl->validating;
	s->own_refuted = cl->refuted > 0;
	s->own_done = s->pending == 0;
	if (s->own_done)
		s->cl = NULL;
	cl->validating = 0;
	cl->refuted = 0;
	s->courier = !!(j->req.flags & SPN_F_COURIER);
	s->ckpt = !!(j->req.flags & SPN_F_CKPT);
	s->born_ns = spn_mono_ns();
	s->next = d->seals;
	d->seals = s;
	s->hnext = *seal_bucket(d, s->id);
	*seal_bucket(d, s->id) = s;
	cl->seal = s->id;
	spn_debug("seal %llx by pid %d: birth %llx, also %llx%s, %d validations in flight",
		  (unsigned long long)s->id, (int)cl->pid, (unsigned long long)s->birth,
		  (unsigned long long)s->also, s->courier ? ", courier" : "", s->pending);
	if (j->req.flags & SPN_F_EXIT)
		exit_record(d, &j->req, s->id);
	j->rep.token = s->id;
	spn_job_reply(j, 0);
}

/* One more validation (or held call) joins s: s waits for it. */
static void
seal_count_join(struct spn_seal *s)
{
	s->joined++;
	s->joins++;
}

uint64_t
spn_seal_join_target(struct spn_daemon *d, const struct spn_client *cl)
{
	uint64_t id = cl->join;
	int depth;

	for (depth = 0; id != 0 && depth < 4096; depth++) {
		struct spn_seal *s = seal_find(d, id);

		if (s == NULL)
			return 0; /* decided: too late to join */
		/* One that holds a mutation takes nothing more; one above it
		 * may: its joins are all back before the mutation goes. */
		if (s->ckpt && !s->closed) {
			if (seal_state(d, id, 1) != SEAL_PENDING || s->joins >= SEAL_MAX_JOINS ||
			    spn_mono_ns() - s->born_ns > SEAL_JOIN_NS)
				return 0;
			return id;
		}
		id = s->birth;
	}
	return 0;
}

uint64_t
spn_seal_join(struct spn_daemon *d, struct spn_client *cl)
{
	uint64_t id = spn_seal_join_target(d, cl);

	if (id != 0)
		seal_count_join(seal_find(d, id));
	return id;
}

uint64_t
spn_seal_join_birth(struct spn_daemon *d, const struct spn_client *cl)
{
	uint64_t id = spn_seal_join_target(d, cl);

	return id != 0 && id == cl->join ? id : 0;
}

void
spn_seal_join_done(struct spn_daemon *d, uint64_t id, int ok)
{
	struct spn_seal *s = seal_find(d, id);

	if (s != NULL) {
		if (s->joined > 0)
			s->joined--;
		if (!ok) {
			s->join_refuted = 1;
			spn_debug("a prediction joined to %llx failed", (unsigned long long)id);
		}
	}
	spn_seal_poke(d);
}

/* ------------------------------------------------------------ leases */

/*
 * A lease is one join of the sealed epoch the client's predictions join:
 * the epoch stays undecided while the client may still answer a miss
 * itself, and each note it sends counts one join more when it arrives, so
 * that none can come after the verdict. A held mutation of that epoch
 * waits for the lease's end too (hold_state), which keeps the rule that
 * nothing joins after a held mutation could reach the server.
 */
void
spn_seal_lease_grant(struct spn_daemon *d, struct spn_client *cl, uint64_t id)
{
	struct spn_seal *s;

	if (cl->lease == id)
		return;
	spn_seal_lease_end(d, cl);
	s = seal_find(d, id);
	if (s == NULL)
		return;
	seal_count_join(s);
	cl->lease = id;
}

void
spn_seal_lease_end(struct spn_daemon *d, struct spn_client *cl)
{
	uint64_t id = cl->lease;

	if (id == 0)
		return;
	cl->lease = 0;
	spn_seal_join_done(d, id, 1);
}

uint64_t
spn_seal_lease_join(struct spn_daemon *d, struct spn_client *cl)
{
	struct spn_seal *s = cl->lease != 0 ? seal_find(d, cl->lease) : NULL;

	if (s == NULL)
		return 0;
	seal_count_join(s);
	return s->id;
}

/* ------------------------------------------------------------ held mutations */

uint64_t
spn_seal_hold_target(struct spn_daemon *d, struct spn_client *cl, uint64_t *from)
{
	struct spn_seal *s;

	/* Only the process's own sealed epoch: one above it (a parent's)
	 * would then wait for this server call before its sealer's next
	 * RESOLVE. A process without a checkpoint of its own seals one
	 * just for the mutation (the shim takes the checkpoint after it). */
	*from = cl->seal;
	if (cl->seal == 0 || (s = seal_find(d, cl->seal)) == NULL || !s->ckpt || s->closed ||
	    seal_state(d, s->id, 1) != SEAL_PENDING)
		return 0;
	return s->id;
}

void
spn_seal_join_own(struct spn_daemon *d, uint64_t id)
{
	struct spn_seal *s = seal_find(d, id);

	if (s != NULL)
		seal_count_join(s);
}

void
spn_seal_hold_add(struct spn_daemon *d, struct spn_job *v)
{
	struct spn_seal *s = seal_find(d, v->join);

	if (s != NULL) {
		seal_count_join(s);
		if (v->hold_open)
			s->open_holds++;
		else
			s->closed = 1;
		if (v->hold_behind)
			s->behind++; /* a chmod of the file its held create makes */
	}
	v->mq_held = 1;
	v->held_ns = spn_mono_ns();
	v->hold_next = d->held;
	d->held = v;
	d->n_held++;
	spn_debug("%s %s held in %llx", spn_proto_op_name(v->req.op), v->rel,
		  (unsigned long long)v->join);
}

static int
holds_create_of(struct spn_daemon *d, const struct spn_seal *s, const struct spn_job *j)
{
	return s->ckpt && s->create_rel != NULL && s->create_mount == j->m->id &&
	       strcmp(s->create_rel, j->rel) == 0 && seal_state(d, s->id, 1) == SEAL_PENDING;
}

uint64_t
spn_seal_create_of(struct spn_daemon *d, const struct spn_job *j)
{
	struct spn_seal *s = j->cl->seal != 0 ? seal_find(d, j->cl->seal) : NULL;

	return s != NULL && holds_create_of(d, s, j) ? s->id : 0;
}

uint64_t
spn_seal_create_above(struct spn_daemon *d, const struct spn_job *j)
{
	uint64_t id = j->cl->join;
	int depth;

	for (depth = 0; id != 0 && depth < 4096; depth++) {
		struct spn_seal *s = seal_find(d, id);

		if (s == NULL)
			return 0;
		if (holds_create_of(d, s, j))
			return id;
		id = s->birth;
	}
	return 0;
}

void
spn_seal_hold_create(struct spn_daemon *d, struct spn_job *v)
{
	struct spn_seal *s = seal_find(d, v->join);

	if (s != NULL && s->create_rel == NULL) {
		s->create_rel = strdup(v->rel);
		s->create_mount = (uint16_t)v->m->id;
	}
	spn_seal_hold_add(d, v);
}

void
spn_seal_join_behind(struct spn_daemon *d, uint64_t id)
{
	struct spn_seal *s = seal_find(d, id);

	if (s != NULL) {
		seal_count_join(s);
		s->behind++;
	}
}

/* May held v go (HELD), must it be dropped (REFUTED), or not yet? */
static enum seal_state
hold_state(struct spn_daemon *d, const struct spn_job *v)
{
	struct spn_seal *s = seal_find(d, v->join);
	enum seal_state b;

	if (s == NULL || (s->own_done && s->own_refuted) || s->join_refuted)
		return SEAL_REFUTED;
	/* v itself is one of the joined, and what waits behind it, and the
	 * held stores that wait for the rest like v. */
	if (!s->own_done || s->joined > s->behind + s->open_holds + !v->hold_open)
		return SEAL_PENDING;
	b = seal_state(d, s->birth, 1);
	if (b == SEAL_HELD && s->also != 0)
		b = seal_state(d, s->also, 1);
	if (b != SEAL_HELD || v->hold_from == 0 || v->hold_from == s->id)
		return b;
	return seal_state_to(d, v->hold_from, 1, s->id);
}

/* Send or drop the held mutations whose epochs are decided but for them. */
static void
held_poke(struct spn_daemon *d)
{
	struct spn_job **pp, *v, *ready = NULL;

	if (d->held_poking)
		return;
	d->held_poking = 1;
again:
	for (pp = &d->held; (v = *pp) != NULL;) {
		if (hold_state(d, v) == SEAL_PENDING) {
			pp = &v->hold_next;
			continue;
		}
		*pp = v->hold_next;
		v->hold_next = ready;
		ready = v;
	}
	if (ready == NULL) {
		d->held_poking = 0;
		return;
	}
	while ((v = ready) != NULL) {
		struct spn_seal *s = seal_find(d, v->join);
		enum seal_state st = hold_state(d, v);

		ready = v->hold_next;
		v->hold_next = NULL;
		if (v->hold_open) {
			if (st == SEAL_PENDING) {
				/* A held store of the same epoch went
				 * just before: it waits for that one. */
				v->hold_next = d->held;
				d->held = v;
				continue;
			}
			if (s != NULL) {
				/* It goes (or not): nothing joins the epoch
				 * any more, as for any held mutation. */
				s->open_holds--;
				s->closed = 1;
			}
		}
		d->held_us += (uint64_t)(spn_mono_ns() - v->held_ns) / 1000;
		if (st == SEAL_HELD) {
			spn_debug("%s %s sent after %lld us held", spn_proto_op_name(v->req.op),
				  v->rel, (long long)(spn_mono_ns() - v->held_ns) / 1000);
			spn_job_unhold(v);
		} else {
			spn_debug("%s %s dropped: its epoch failed", spn_proto_op_name(v->req.op),
				  v->rel);
			d->n_dropped++;
			v->dropped = 1;
			v->err = -ECANCELED;
			v->done(v); /* as a refusal: the mirror's change undone */
		}
	}
	goto again; /* a drop may decide another one (its birth failed) */
}

/* The courier of id wrote its output (or is gone without: it never will). */
static void
seal_flushed(struct spn_daemon *d, uint64_t id)
{
	struct spn_seal *s = seal_find(d, id);

	if (s != NULL)
		s->courier = 0;
}

void
spn_resolve_request(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	struct spn_client *cl = j->cl;

	if (j->req.flags & SPN_F_FLUSHED) {
		seal_flushed(d, j->req.token);
		if (cl->courier_of == j->req.token)
			cl->courier_of = 0;
		spn_job_reply(j, 0);
		spn_seal_poke(d);
		return;
	}
	if ((j->req.flags & SPN_F_VERDICT) && !(j->req.flags & SPN_F_OWN)) {
		struct spn_seal *s = seal_find(d, j->req.token);

		if (s != NULL && s->courier)
			cl->courier_of = s->id;
	}
	if (resolve_ready(j)) {
		resolve_answer(j);
		seal_collect(d);
		return;
	}
	spn_debug("resolve of pid %d waits: token %llx (%s), flags %x, %d validations, seal %llx",
		  (int)cl->pid, (unsigned long long)j->req.token,
		  j->req.token == 0				      ? "none"
		  : seal_state(d, j->req.token, 0) == SEAL_PENDING ? "pending"
								    : "decided",
		  j->req.flags, cl->validating, (unsigned long long)cl->seal);
	j->deadline_ns = spn_mono_ns() + spn_soft_wait_ns(d, NULL);
	j->next = cl->resolvers;
	cl->resolvers = j;
}

/* A connection closes: a courier that never said FLUSHED never will. */
void
spn_seal_client_gone(struct spn_daemon *d, struct spn_client *cl)
{
	struct spn_job **pp = &d->reapers, *j;

	spn_seal_lease_end(d, cl);
	while ((j = *pp) != NULL) {
		if (j->cl == cl) {
			*pp = j->next;
			j->next = NULL;
			spn_job_reply(j, -ECONNRESET); /* nobody to tell: freed */
			continue;
		}
		pp = &j->next;
	}
	if (cl->courier_of != 0) {
		seal_flushed(d, cl->courier_of);
		cl->courier_of = 0;
	}
	spn_seal_poke(d);
}

/* ------------------------------------------------------------ exits */

/* The record a REAP job asks for: its parent is the process that reaped
 * the child, by its kernel pid then (ppid: the asker may since have
 * rolled back into its wait, a copy with another pid), or the asking
 * connection's. */
static struct spn_exit *
exit_for(struct spn_job *j)
{
	struct spn_exit *e;

	for (e = j->d->exits; e != NULL; e = e->next)
		if (e->pid == (pid_t)j->req.pid &&
		    (e->ppid == (pid_t)j->req.ppid || (j->cl != NULL && e->ppid == j->cl->pid)))
			return e;
	return NULL;
}

static struct spn_exit *
exit_find(struct spn_daemon *d, pid_t pid, pid_t ppid)
{
	struct spn_exit *e;

	for (e = d->exits; e != NULL; e = e->next)
		if (e->pid == pid && e->ppid == ppid)
			return e;
	return NULL;
}

static void
exit_forget(struct spn_daemon *d, struct spn_exit *gone)
{
	struct spn_exit **pp;

	for (pp = &d->exits; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			free(gone);
			d->n_exits--;
			return;
		}
	}
}

/* Has what the asker of REAP j depends on failed (the sealed epoch it
 * names, or its connection's own)? Then a failed exit of its child may
 * be its own failure, with no re-execution to wait for. */
static int
asker_failed(const struct spn_job *j)
{
	return (j->req.token != 0 && seal_state(j->d, j->req.token, 1) == SEAL_REFUTED) ||
	       (j->cl != NULL && j->cl->seal != 0 &&
		seal_state(j->d, j->cl->seal, 1) == SEAL_REFUTED);
}

/* Fill a REAP reply from e (NULL: nothing recorded); a HELD one goes
 * (returns 1 then: e is freed). A failed one says SPN_REFUTED_BIRTH too if
 * the asker's own dependency failed. */
static int
reap_answer(struct spn_job *j, struct spn_exit *e)
{
	struct spn_daemon *d = j->d;
	enum seal_state st;
	int gone = 0;

	if (e == NULL) {
		spn_job_reply(j, 0);
		return 0;
	}
	j->rep.gen = e->gen;
	j->rep.wstatus = e->wstatus;
	st = e->seal != 0 ? seal_state(j->d, e->seal, 0) : SEAL_HELD;
	if (st == SEAL_PENDING && j->req.token != 0 &&
	    seal_state_to(d, e->seal, 0, j->req.token) == SEAL_HELD)
		st = SEAL_HELD; /* it fails only if the asker's own birth does */
	if (st == SEAL_PENDING)
		j->rep.token = e->seal;
	else if (st == SEAL_REFUTED)
		j->rep.refuted = 1 | (asker_failed(j) ? SPN_REFUTED_BIRTH : 0);
	else
		gone = 1;
	spn_job_reply(j, 0); /* frees j */
	if (gone)
		exit_forget(d, e);
	return gone;
}

/* Answer the REAP jobs waiting for a newer record of (pid, ppid). */
static void
reapers_poke(struct spn_daemon *d, struct spn_exit *e)
{
	struct spn_job **pp = &d->reapers, *j;

	while ((j = *pp) != NULL) {
		if (exit_for(j) == e && e->gen > j->req.size) {
			*pp = j->next;
			j->next = NULL;
			if (reap_answer(j, e))
				return; /* forgotten: nobody else asks for it */
			continue;
		}
		pp = &j->next;
	}
}

/* Record an exit (replacing the older record of the same pid and ppid). */
static void
exit_record(struct spn_daemon *d, const struct spn_req *req, uint64_t seal)
{
	struct spn_exit *e = exit_find(d, (pid_t)req->pid, (pid_t)req->ppid);

	if (e == NULL) {
		if (d->n_exits >= SPN_MAX_EXITS) {
			struct spn_exit *last = d->exits;

			while (last->next != NULL)
				last = last->next;
			exit_forget(d, last);
		}
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return; /* then the parent reads the status as final */
		e->pid = (pid_t)req->pid;
		e->ppid = (pid_t)req->ppid;
		e->next = d->exits;
		d->exits = e;
		d->n_exits++;
	}
	e->wstatus = (uint32_t)req->size;
	e->seal = seal;
	e->gen = ++d->exit_gen;
	spn_debug("exit of pid %d (parent %d): status %#x, seal %llx, gen %llu", (int)e->pid,
		  (int)e->ppid, e->wstatus, (unsigned long long)seal, (unsigned long long)e->gen);
	reapers_poke(d, e);
}

/* SEAL with SPN_F_EXIT|SPN_F_LOST: a courier's word that the re-execution
 * of pid died without recording its exit. */
static void
exit_lost(struct spn_job *j)
{
	struct spn_exit *e = exit_find(j->d, (pid_t)j->req.pid, (pid_t)j->req.ppid);

	if (e != NULL && e->seal == j->req.token)
		exit_record(j->d, &j->req, 0);
	spn_job_reply(j, 0);
}

void
spn_reap_request(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	struct spn_exit *e = exit_for(j);

	if (j->req.size != 0 && (e == NULL || e->gen <= j->req.size) && !asker_failed(j)) {
		j->next = d->reapers;
		d->reapers = j;
		return;
	}
	reap_answer(j, e);
}

/* A REAP waiting for a re-execution whose asker's own dependency failed
 * meanwhile: that child was discarded with it, none will come. */
static void
reapers_failed(struct spn_daemon *d)
{
	struct spn_job **pp = &d->reapers, *j;

	while ((j = *pp) != NULL) {
		if (asker_failed(j)) {
			*pp = j->next;
			j->next = NULL;
			j->rep.refuted = 1 | SPN_REFUTED_BIRTH;
			j->rep.gen = j->req.size;
			spn_job_reply(j, 0);
			continue;
		}
		pp = &j->next;
	}
}
