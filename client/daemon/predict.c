/*
 * daemon/predict.c: predictions of reads and their validation. With
 * SPN_SPEC_PREDICT a request (stat, access, open for reading, readdir,
 * readlink) is answered from the cache at once and checked with the server
 * in the background; the client's RESOLVE (daemon/seal.c) waits for its
 * validations and learns how many the server refuted. A lookup in a directory whose
 * listing is unknown lists the directory first, so that later lookups in
 * it can be predicted.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/daemon/internal.h"
#include "client/log.h"

/*
 * With SPN_SPEC_PREDICT the client (the speculating shim) takes an answer
 * from the cache at once, marked SPN_SPEC_PREDICTED, and the daemon checks
 * it with the server in the background: a validation job re-runs the
 * request's resolve step against the server and compares. The client's
 * RESOLVE waits for all of its validations and learns how many failed.
 * A refuted entry is not predicted from stale data again: the validation
 * stored the server's truth in the index, and the next prediction (or
 * fetch) starts from that.
 */

/* Attributes that make a different answer to stat() or open(). */
static int
same_answer(const struct spn_attr *a, const struct spn_attr *b)
{
	return a->type == b->type && a->mode == (b->mode & 07777) && a->size == b->size &&
	       a->fileid == b->fileid && a->mtime.sec == b->mtime.sec &&
	       a->mtime.nsec == b->mtime.nsec && a->uid == b->uid && a->gid == b->gid &&
	       a->nlink == b->nlink;
}

/* A validation job is finished (spn_job_free): account it to its client. */
void
spn_validated(struct spn_job *j)
{
	struct spn_client *cl = j->owner;

	spn_seal_own_done(j->d, j);
	j->owner = NULL;
	spn_client_unref(j->d, cl);
}

/* The validation j has its answer: count its lag (status.c). */
static void
lag_note(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	uint64_t ms;

	if (j->start_ns == 0)
		return;
	ms = (uint64_t)((spn_mono_ns() - j->start_ns) / 1000000);
	d->lag_ms[ms < SPN_LAG_MS ? ms : SPN_LAG_MS]++;
	d->lag_n++;
	if (ms > d->lag_max_ms)
		d->lag_max_ms = ms;
}

static void
validate_done(struct spn_job *j)
{
	int ok;

	lag_note(j);

	if (j->err < 0 && !(j->err == -ENOENT))
		ok = 0; /* could not check: treat as wrong, the safe side */
	else if (j->predicted_status < 0)
		ok = j->err == j->predicted_status;
	else if (j->req.op == SPN_OP_STAT && (j->req.flags & SPN_F_TYPE))
		ok = j->err == 0 && j->predicted.type == j->e.attr.type; /* all it showed */
	else
		ok = j->err == 0 && same_answer(&j->predicted, &j->e.attr);
	if (j->req.op == SPN_OP_OPEN && ok && j->e.attr.type == S_IFREG &&
	    !spn_consist_content_valid(&j->e))
		ok = 0; /* the content we handed out is not the server's */
	if (j->req.op == SPN_OP_READDIR && ok && !spn_dir_listing_valid(j))
		ok = 0; /* the directory changed: its listing too */
	if (!ok) {
		if (j->owner != NULL)
			spn_seal_own_refuted(j->d, j);
		j->d->refutations++;
		spn_info("prediction refuted: %s %s%s", spn_proto_op_name(j->req.op), j->req.path,
			 j->join != 0 ? " (joined)" : "");
	}
	j->join_ok = ok;
	spn_job_reply(j, 0); /* cl is NULL: nothing is sent */
}

/* A validation of pj's prediction, counted for pj's client, or (join)
 * for the sealed epoch join. */
static struct spn_job *
validation_new(struct spn_job *pj, uint64_t join)
{
	struct spn_job *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->d = pj->d;
	v->tmpfd = -1;
	v->req = pj->req;
	v->req.spec = 0;
	v->m = pj->m;
	snprintf(v->rel, sizeof(v->rel), "%s", pj->rel);
	snprintf(v->rel2, sizeof(v->rel2), "%s", pj->rel2);
	if (join != 0) {
		v->join = join;
	} else {
		v->owner = pj->cl;
		v->ep_seq = pj->cl->ep_seq;
		pj->cl->refs++;
		pj->cl->validating++;
	}
	v->removals = pj->d->removals;
	v->start_ns = spn_mono_ns(); /* the prediction: its lag counts from here */
	pj->d->njobs++;
	pj->d->predictions++;
	return v;
}

struct spn_job *
spn_validation_new(struct spn_job *pj)
{
	return validation_new(pj, 0);
}

struct spn_job *
spn_validation_joined(struct spn_job *pj, uint64_t id)
{
	return validation_new(pj, id);
}

/* Start checking a prediction made for cl; a miss (status -ENOENT)
 * predicted from the complete listing of dir (entry de) is checked
 * through dir (daemon/dircheck.c). A note's joins its lease's epoch.
 * Returns the sealed epoch it joined, or 0. */
static uint64_t
validate_start(struct spn_job *pj, int status, const char *dir, const struct spn_entry *de)
{
	uint64_t join = 0;
	struct spn_job *v;

	if (pj->req.spec & SPN_SPEC_NOTE)
		join = spn_seal_lease_join(pj->d, pj->cl);
	else if ((pj->req.spec & SPN_SPEC_JOIN) && pj->cl->join != 0)
		join = spn_seal_join(pj->d, pj->cl);
	if ((pj->req.spec & SPN_SPEC_JOIN) && join == 0)
		spn_seal_lease_end(pj->d, pj->cl); /* joins are over there: so is the lease */
	v = validation_new(pj, join);
	if (v == NULL) {
		/* Cannot check: the prediction must not stand. */
		if (join != 0)
			spn_seal_join_done(pj->d, join, 0);
		else
			pj->cl->refuted++;
		return 0;
	}
	if (join != 0)
		pj->rep.spec |= SPN_SPEC_JOINED;
	v->predicted = pj->rep.attr;
	v->predicted_status = status;
	if (dir != NULL) {
		/* The listing's stamp, what the directory must still show. */
		v->predicted.mtime = de->content_mtime;
		v->predicted.ctime = de->content_ctime;
		v->predicted.fileid = de->content_fileid;
		if (spn_dircheck_join(v, dir, validate_done) == 0)
			return join;
	}
	spn_resolve(v, 1, validate_done);
	return join;
}

/* ------------------------------------------------------------ leases */

/*
 * A miss of j's joined prediction, answered from the complete listing of
 * dir (its directory, or the deepest one on its path that we know): the
 * client may answer the next ones below dir itself (proto.h, version 11),
 * under a lease of the epoch it joined. Only where the client's path is
 * the one resolved (no symlink on the way, so that the mirror directory it
 * looks in is dir's), and not for a directory whose note failed lately
 * (the mirror and the cache disagreed).
 */
static void
lease_offer(struct spn_job *j, const char *dir, uint64_t join)
{
	char parent[SPN_PATH_MAX];
	size_t pl = strlen(j->m->prefix);

	spn_parent_of(j->rel, parent, sizeof(parent));
	if (j->cred.foreign != 0 || strncmp(j->req.path, j->m->prefix, pl) != 0 ||
	    strcmp(j->req.path + pl, j->rel) != 0 || spn_recent_has(j->d->unleased, j->m, dir) ||
	    spn_recent_has(j->d->unleased, j->m, parent))
		return;
	spn_seal_lease_grant(j->d, j->cl, join);
	if (j->cl->lease == join)
		j->rep.spec |= SPN_SPEC_LEASE;
}

void
spn_note_done(struct spn_job *j, int status)
{
	struct spn_daemon *d = j->d;
	uint64_t id = j->note;
	int ok = status == -ENOENT;

	d->notes++;
	if (!ok) {
		d->notes_failed++;
		if (j->m != NULL) {
			char parent[SPN_PATH_MAX];

			spn_parent_of(j->rel, parent, sizeof(parent));
			spn_recent_add(d->unleased, &d->next_unleased, j->m, parent,
				       10 * 1000000000LL);
		}
		spn_debug("note %s of pid %d failed: %d", j->req.path,
			  j->cl != NULL ? (int)j->cl->pid : 0, status);
	}
	j->note = 0;
	if (id != 0)
		spn_seal_join_done(d, id, ok);
}

/*
 * UNLINK or RMDIR of a name that the complete listing of its directory
 * lacks (rm -f of files that are not there): ENOENT at once, checked as a
 * negative lookup -- nothing changes on the server either way. The check
 * joins the sealed epoch join (a held request, SPN_SPEC_HOLD), or is
 * pj's client's own (0). 1 if answered.
 */
int
spn_predict_absent(struct spn_job *pj, uint64_t join)
{
	struct spn_job *v = validation_new(pj, join);

	if (v == NULL)
		return 0;
	v->req.op = SPN_OP_STAT;
	v->req.flags = SPN_F_NOFOLLOW;
	v->req.token = 0;
	v->predicted_status = -ENOENT;
	if (join != 0)
		spn_seal_join_own(pj->d, join);
	pj->rep.spec = SPN_SPEC_PREDICTED | (join != 0 ? SPN_SPEC_JOINED : 0);
	spn_debug("%s %s: absent from its listing, ENOENT predicted%s",
		  spn_proto_op_name(pj->req.op), pj->rel, join != 0 ? " (joined)" : "");
	spn_job_reply(pj, -ENOENT);
	spn_resolve(v, 1, validate_done);
	return 1;
}

struct spn_dir_pending {
	struct spn_dir_pending *next;
	const struct spn_mount *m;
	int n;
	char rel[SPN_PATH_MAX];
};

void
spn_dir_pending(struct spn_job *j, const char *rel, int delta)
{
	struct spn_dir_pending **pp, *p;
	char dir[SPN_PATH_MAX];

	spn_parent_of(rel, dir, sizeof(dir));
	for (pp = &j->d->dir_pending; (p = *pp) != NULL; pp = &p->next)
		if (p->m == j->m && strcmp(p->rel, dir) == 0)
			break;
	if (p == NULL && delta > 0 && (p = calloc(1, sizeof(*p))) != NULL) {
		p->m = j->m;
		snprintf(p->rel, sizeof(p->rel), "%s", dir);
		p->next = j->d->dir_pending;
		j->d->dir_pending = p;
	}
	if (p == NULL)
		return;
	p->n += delta;
	if (p->n <= 0) {
		for (pp = &j->d->dir_pending; *pp != p; pp = &(*pp)->next)
			;
		*pp = p->next;
		free(p);
	}
}

static int
dir_is_pending(const struct spn_job *j)
{
	const struct spn_dir_pending *p;

	for (p = j->d->dir_pending; p != NULL; p = p->next)
		if (p->m == j->m && strcmp(p->rel, j->rel) == 0)
			return 1;
	return 0;
}

/* A name the mirror shows before the server has it. */
static int
created_here(const char *name, const struct spn_entry *e, void *arg)
{
	(void)name;
	(void)arg;
	return (e->flags & SPN_EF_CREATED_LOCALLY) ? 1 : 0;
}

/* Our own change in the directory j looks at is on its way (a create, or
 * a predicted mkdir, rmdir, unlink or rename): its times change then, as
 * a kernel client would show, and the reply's attributes of the
 * directory (wcc) will be exact. */
static int
own_change_on_its_way(struct spn_job *j)
{
	return dir_is_pending(j) || spn_index_foreach_child(j->d->idx, (uint16_t)j->m->id, j->rel,
							    created_here, NULL) == 1;
}

/* Answer j from them: parked until the change arrives (1), or the
 * ordinary way after 8 parks (0). */
static int
park_for_own_change(struct spn_job *j)
{
	if (j->own_change_waits++ >= 8)
		return 0;
	spn_debug("%s %s waits: our change in it is on its way", spn_proto_op_name(j->req.op),
		  j->rel);
	if (j->d->own_change_waiters == NULL)
		j->d->own_change_waiters_ns = spn_mono_ns();
	j->next = j->d->own_change_waiters;
	j->d->own_change_waiters = j;
	return 1;
}

/* A create that does not end (its store failed, the server is away):
 * the stats parked for it go on after 500 ms, at most 8 times, then the
 * ordinary way. Held mutations are looked at again (seal.c), so that
 * none waits for a change it missed. */
void
spn_predict_tick(struct spn_daemon *d)
{
	if (d->own_change_waiters != NULL && spn_mono_ns() - d->own_change_waiters_ns > 500000000LL)
		spn_predict_own_change_done(d);
	if (d->held != NULL)
		spn_seal_poke(d); /* held mutations never wait for an event that passed */
}

void
spn_predict_own_change_done(struct spn_daemon *d)
{
	struct spn_job *j = d->own_change_waiters, *next;

	d->own_change_waiters = NULL;
	for (; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		if (!spn_predict(j))
			spn_job_dispatch(j);
	}
}

/*
 * Try to answer j from the cache as a prediction. Returns 1 if answered
 * (and a validation started), 0 if the cache cannot say (the request then
 * runs the ordinary way, waiting for the server).
 */
int
spn_predict(struct spn_job *j)
{
	char parent[SPN_PATH_MAX], mp[PATH_MAX];
	struct spn_entry pe;
	struct stat st;
	int have, status = 0, miss = 0;
	uint64_t join;

	have = spn_job_index_get(j, j->rel, &j->e) == 0;
	if (have && (j->e.flags & SPN_EF_DIRTY))
		return 0; /* our own writes: the ordinary path knows best */
	if (have && j->e.validated_ns == 0) {
		spn_debug("no prediction for %s: stale", j->rel);
		return 0; /* known stale (we changed it): ask, do not guess */
	}
	if (!have) {
		/* A name we know is absent: the complete listing of the
		 * deepest directory we know on its path lacks the next
		 * component (gcc probes inc/bits/x.h in every -I directory;
		 * bits/ is in none of them). */
		char cur[SPN_PATH_MAX];

		if (strcmp(j->rel, "/") == 0 ||
		    (j->req.op == SPN_OP_OPEN && (j->req.flags & O_CREAT)))
			return 0;
		snprintf(cur, sizeof(cur), "%s", j->rel);
		for (;;) {
			spn_parent_of(cur, parent, sizeof(parent));
			if (spn_job_index_get(j, parent, &pe) == 0)
				break;
			if (strcmp(parent, "/") == 0)
				return 0;
			snprintf(cur, sizeof(cur), "%s", parent);
		}
		if (pe.attr.type != S_IFDIR || !(pe.flags & SPN_EF_DIR_COMPLETE))
			return 0;
		status = -ENOENT;
		miss = 1;
	} else {
		switch (j->req.op) {
		case SPN_OP_STAT:
			if (j->e.attr.type == S_IFLNK && !(j->req.flags & SPN_F_NOFOLLOW))
				return 0;
			if (j->e.attr.type == S_IFDIR && !(j->req.flags & SPN_F_TYPE) &&
			    own_change_on_its_way(j))
				return park_for_own_change(j);
			j->rep.attr = j->e.attr;
			break;
		case SPN_OP_ACCESS:
			return 0; /* cheap locally once attributes are known: later */
		case SPN_OP_OPEN:
			if ((j->req.flags & O_ACCMODE) != O_RDONLY ||
			    (j->req.flags & (O_CREAT | O_TRUNC)) || j->e.attr.type != S_IFREG ||
			    !spn_consist_content_valid(&j->e) ||
			    spn_mirror_path(j->m, j->rel, j->rep.path, sizeof(j->rep.path)) < 0 ||
			    spn_mirror_lstat(j->m, j->rel, &st) < 0 || !S_ISREG(st.st_mode)) {
				spn_debug("no prediction for open %s: flags %x type %o valid %d",
					  j->rel, j->req.flags, j->e.attr.type,
					  spn_consist_content_valid(&j->e));
				return 0;
			}
			j->rep.attr = j->e.attr;
			break;
		case SPN_OP_READDIR:
			if (j->e.attr.type == S_IFDIR && own_change_on_its_way(j))
				return park_for_own_change(j);
			if (j->e.attr.type != S_IFDIR || !spn_dir_listing_valid(j) ||
			    spn_mirror_path(j->m, j->rel, mp, sizeof(mp)) < 0 ||
			    spn_mirror_lstat(j->m, j->rel, &st) < 0 || !S_ISDIR(st.st_mode))
				return 0;
			snprintf(j->rep.path, sizeof(j->rep.path), "%s", mp);
			j->rep.attr = j->e.attr;
			break;
		default:
			return 0;
		}
	}
	j->rep.spec = SPN_SPEC_PREDICTED;
	join = validate_start(j, status, miss ? parent : NULL, &pe);
	if (miss && join != 0 && !(j->req.spec & SPN_SPEC_NOTE))
		lease_offer(j, parent, join);
	spn_job_reply(j, status);
	return 1;
}

/*
 * A lookup the cache cannot predict because the parent directory's
 * listing is not known: list the parent (one READDIRPLUS) and answer from
 * it. One round trip now makes every later lookup in that directory
 * predictable -- gcc probes each header in every -I directory.
 */
static void
listed_parent(struct spn_job *j)
{
	int listed = j->err == 0;

	snprintf(j->rel, sizeof(j->rel), "%s", j->child);
	j->child[0] = '\0';
	j->err = 0;
	if (listed && spn_predict(j))
		return;
	spn_job_dispatch(j);
}

static void
parent_resolved(struct spn_job *j)
{
	if (j->err < 0 || j->e.attr.type != S_IFDIR) {
		listed_parent(j);
		return;
	}
	spn_ensure_listing(j, listed_parent);
}

/* 1 if j now waits for its parent's listing (then listed_parent). */
int
spn_list_parent_first(struct spn_job *j)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry e;

	if (strcmp(j->rel, "/") == 0 || spn_job_index_get(j, j->rel, &e) == 0)
		return 0;
	spn_parent_of(j->rel, parent, sizeof(parent));
	if (spn_job_index_get(j, parent, &e) == 0 && (e.flags & SPN_EF_DIR_COMPLETE))
		return 0;
	snprintf(j->child, sizeof(j->child), "%s", j->rel);
	snprintf(j->rel, sizeof(j->rel), "%s", parent);
	spn_debug("%s: its directory is listed first", j->child);
	spn_resolve(j, 0, parent_resolved);
	return 1;
}
