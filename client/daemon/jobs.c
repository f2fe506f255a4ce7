/*
 * daemon/jobs.c: the job engine. Every request is a job: a small state
 * machine that may issue NFS calls and resumes in their callbacks.
 *
 * A step that needs the server records itself as job->issue (so it can be
 * sent again after a reconnect) and job->done (run with the result), via
 * spn_job_call(); spn_job_cb() routes the result. Idempotent calls
 * (GETATTR, READDIR, READ, WRITE with the whole content, COMMIT) are
 * simply re-sent when a session is lost; the others (CREATE, MKDIR,
 * REMOVE, RMDIR, RENAME, LINK, SYMLINK) are first *verified*: after a
 * reconnect done() looks at the server to see whether the call took
 * effect before sending it again. Here too: the ordered line (mq_*:
 * which calls wait for which, so that the server sees dependent calls in
 * the client's order), hard and soft mount semantics while a
 * server is down, the reply, and the small helpers every step shares
 * (the index by job, parent paths, attributes for the wire).
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
#include <time.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"
#include "client/path.h"

int64_t
spn_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t
spn_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Which mount a client path is on, and the path relative to its root. */
struct spn_mount *
spn_find_mount(struct spn_daemon *d, const char *path, char *rel, size_t len, int *err)
{
	char norm[SPN_PATH_MAX];
	int i, rc;

	rc = spn_path_normalize(path, norm, sizeof(norm));
	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	for (i = 0; i < d->nmounts; i++) {
		struct spn_mount *m = &d->mounts[i];
		size_t pl = strlen(m->prefix);

		if (strncmp(norm, m->prefix, pl) != 0 || (norm[pl] != '\0' && norm[pl] != '/'))
			continue;
		snprintf(rel, len, "%s", norm[pl] ? norm + pl : "/");
		return m;
	}
	*err = -EXDEV; /* not under any prefix: the caller used the wrong daemon */
	return NULL;
}

void
spn_parent_of(const char *rel, char *out, size_t len)
{
	const char *s = strrchr(rel, '/');

	if (s == NULL || s == rel)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(s - rel), rel);
}

int
spn_job_index_get(struct spn_job *j, const char *rel, struct spn_entry *e)
{
	return spn_index_get(j->d->idx, (uint16_t)j->m->id, rel, e);
}

int
spn_job_index_put(struct spn_job *j, const char *rel, const struct spn_entry *e)
{
	struct spn_entry now;
	int rc;

	/* A validation that began before a predicted removal (a process's
	 * stat, then its unlink held until that stat is back) must not
	 * bring the removed name back from the server's older answer. */
	if ((j->owner != NULL || j->join != 0) && j->removals != j->d->removals &&
	    spn_index_get(j->d->idx, (uint16_t)j->m->id, rel, &now) < 0)
		return 0;
	rc = spn_index_put(j->d->idx, (uint16_t)j->m->id, rel, e);

	if (rc < 0)
		spn_err("index: cannot record %s: %s", rel, strerror(-rc));
	return rc;
}

/* A parent's listing is no longer known complete after our own change to
 * it, and its attributes (mtime, nlink) changed: look again next time. */
void
spn_invalidate_parent(struct spn_job *j, const char *rel)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry pe;

	spn_parent_of(rel, parent, sizeof(parent));
	if (spn_job_index_get(j, parent, &pe) == 0) {
		pe.flags &= (uint8_t)~SPN_EF_DIR_COMPLETE;
		pe.validated_ns = 0;
		spn_job_index_put(j, parent, &pe);
	}
}

struct other_links {
	struct spn_job *j;
	const char *rel;
	const struct spn_attr *a;
	int delta;
};

static int
other_link(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct other_links *o = arg;
	struct spn_entry x;

	if (mount != (uint16_t)o->j->m->id || e->attr.fileid != o->a->fileid ||
	    e->attr.fsid != o->a->fsid || e->attr.type != o->a->type || strcmp(path, o->rel) == 0)
		return 0;
	x = *e;
	if (o->delta < 0 && x.attr.nlink > 1)
		x.attr.nlink--;
	else if (o->delta > 0)
		x.attr.nlink++;
	x.validated_ns = 0; /* and its ctime changed */
	spn_job_index_put(o->j, path, &x);
	return 0;
}

/*
 * The server linked (delta 1) or removed (delta -1) a name of the file
 * whose attributes before were a, at rel: every other name of it we know
 * shows the new link count, as on a kernel NFS client, where the names
 * share one inode. Only for a file that has (had) other names: the walk
 * costs the whole index.
 */
void
spn_other_links(struct spn_job *j, const char *rel, const struct spn_attr *a, int delta)
{
	struct other_links o = {.j = j, .rel = rel, .a = a, .delta = delta};

	if (a->type == S_IFDIR || (delta < 0 && a->nlink < 2))
		return;
	spn_index_foreach(j->d->idx, other_link, &o);
}

/*
 * After our own CREATE or MKDIR of rel (in the index already): weak cache
 * consistency, as a kernel NFS client does it. If the parent's listing is
 * complete and the reply's pre-op attributes of the directory are the
 * ones we cached, nobody else changed it in between: the listing stays
 * complete with the post-op attributes. Otherwise as spn_invalidate_parent.
 */
void
spn_parent_after_own(struct spn_job *j, const char *rel, const struct spn_nfs_res *res)
{
	char parent[SPN_PATH_MAX];
	const struct spn_nfs_wcc *w = res != NULL ? &res->dir_wcc : NULL;
	struct spn_entry pe;

	spn_parent_of(rel, parent, sizeof(parent));
	if (w == NULL || !w->have_before || !w->have_after || w->after.type != S_IFDIR ||
	    spn_job_index_get(j, parent, &pe) < 0 || pe.attr.fileid != w->after.fileid ||
	    !spn_consist_wcc_names_kept(&pe, &w->mtime_before, &w->ctime_before)) {
		spn_debug("listing of %s dropped after our own change to it: %s", parent,
			  w == NULL || !w->have_before || !w->have_after ? "no wcc"
			  : w->after.type != S_IFDIR			  ? "not a directory"
									  : "changed by another");
		if (w != NULL && w->have_after && w->after.type == S_IFDIR &&
		    spn_job_index_get(j, parent, &pe) == 0 && pe.attr.fileid == w->after.fileid &&
		    !spn_time_later(&pe.attr.ctime, &w->after.ctime)) {
			/* Its names are not known any more, but its attributes
			 * are, as the server had them after our change: a stat
			 * of the directory needs no call (a kernel client keeps
			 * post-op attributes too). Never older ones: a reply
			 * that comes after a later change's (ctime) does not. */
			pe.flags &= (uint8_t)~SPN_EF_DIR_COMPLETE;
			pe.attr = w->after;
			pe.validated_ns = spn_now_ns();
			spn_job_index_put(j, parent, &pe);
			return;
		}
		spn_invalidate_parent(j, rel);
		return;
	}
	spn_debug("listing of %s kept after our own change to it (wcc)", parent);
	pe.attr = w->after;
	spn_consist_set_content(&pe);
	pe.validated_ns = spn_now_ns();
	spn_job_index_put(j, parent, &pe);
}

void
spn_parents_after_own(struct spn_job *j)
{
	char p1[SPN_PATH_MAX], p2[SPN_PATH_MAX];

	if (j->req.op != SPN_OP_RENAME) {
		spn_parent_after_own(j, j->rel, j->res);
		return;
	}
	spn_parent_of(j->rel, p1, sizeof(p1));
	spn_parent_of(j->rel2, p2, sizeof(p2));
	if (strcmp(p1, p2) == 0) {
		spn_parent_after_own(j, j->rel, j->res);
	} else {
		spn_invalidate_parent(j, j->rel);
		spn_invalidate_parent(j, j->rel2);
	}
}

void
spn_entry_from_attr(struct spn_entry *e, const struct spn_attr *a, int64_t now,
		    const struct spn_ac_settings *ac)
{
	memset(e, 0, sizeof(*e));
	e->state = SPN_ENT_STUB;
	e->attr = *a;
	e->validated_ns = now;
	e->attr_timeo_ns =
	    (int64_t)(a->type == S_IFDIR ? ac->acdirmin : ac->acregmin) * 1000000000LL;
	e->last_use_ns = now;
}

/* ------------------------------------------------------------ jobs */

/*
 * The file id a reply shows for a name the server has not numbered yet (a
 * create answered from the cache: 0 in the cache, "unknown"): one of its
 * own, from the path, so that two such files are not the same file to the
 * program (cat's "input file is output file" on conftest.i). The server's
 * replaces it once the create is back.
 */
static uint64_t
synth_fileid(const struct spn_job *j)
{
	return spn_fnv1a(0xcbf29ce484222325ULL ^ (uint64_t)j->m->id, j->rel) | (1ULL << 63);
}

int
spn_recent_has(const struct spn_refused *ring, const struct spn_mount *m, const char *rel)
{
	int64_t now = spn_mono_ns();
	unsigned i;

	for (i = 0; i < SPN_REFUSED; i++) {
		const struct spn_refused *r = &ring[i];

		if (r->until_ns > now && r->mount == m->id && strcmp(r->rel, rel) == 0)
			return 1;
	}
	return 0;
}

void
spn_recent_add(struct spn_refused *ring, unsigned *next, const struct spn_mount *m,
	       const char *rel, int64_t for_ns)
{
	struct spn_refused *r = &ring[(*next)++ % SPN_REFUSED];

	r->mount = m->id;
	snprintf(r->rel, sizeof(r->rel), "%s", rel);
	r->until_ns = spn_mono_ns() + for_ns;
}

void
spn_job_reply(struct spn_job *j, int status)
{
	unsigned char buf[SPN_MSG_MAX];
	ssize_t n;

	if (j->req.spec & SPN_SPEC_NOTE) {
		spn_note_done(j, status);
	} else if (j->cl != NULL && !j->cl->dead) {
		if (status == 0 && j->rep.attr.type != 0 && j->rep.attr.fileid == 0 && j->m != NULL)
			j->rep.attr.fileid = synth_fileid(j);
		j->rep.op = j->req.op;
		j->rep.seq = j->req.seq;
		j->rep.status = status;
		if (j->remote)
			j->rep.spec |= SPN_SPEC_REMOTE;
		n = spn_proto_encode_reply(&j->rep, buf, sizeof(buf));
		if (n < 0) {
			spn_err("cannot encode reply to %s %s (status %d, spec %#x): %s",
				spn_proto_op_name(j->req.op) ?: "?", j->req.path, status,
				(unsigned)j->rep.spec, strerror((int)-n));
			j->rep.status = -EIO;
			n = spn_proto_encode_reply(&j->rep, buf, sizeof(buf));
		}
		if (n > 0 && status == 0 && j->cred.foreign > 0 &&
		    (j->req.op == SPN_OP_OPEN || j->req.op == SPN_OP_READDIR))
			spn_cred_send_open(j, buf, (size_t)n);
		else if (n > 0)
			spn_client_send(j->d, j->cl, buf, (size_t)n);
	}
	spn_debug("%s %s -> %d%s (pid %d, %lld us)", spn_proto_op_name(j->req.op) ?: "?",
		  j->req.path, status,
		  (j->req.spec & SPN_SPEC_NOTE)	      ? " (a client's own answer)"
		  : (j->rep.spec & SPN_SPEC_PREDICTED) ? " predicted"
		  : j->remote			      ? " remote"
						      : "",
		  j->cl != NULL ? (int)j->cl->pid : 0,
		  j->start_ns != 0 ? (long long)((spn_mono_ns() - j->start_ns) / 1000) : -1LL);
	spn_job_free(j);
}

static void mq_leave(struct spn_job *j);
static int mq_enter(struct spn_job *j);
static void mq_unpark_before(struct spn_job *j);

void
spn_job_free(struct spn_job *j)
{
	if (j->mq_m != NULL)
		mq_leave(j);
	if (j->owner != NULL)
		spn_validated(j);
	if (j->join != 0) {
		uint64_t id = j->join;

		j->join = 0;
		spn_seal_join_done(j->d, id, j->join_ok);
	}
	if (j->tmpfd >= 0)
		close(j->tmpfd);
	if (j->tmp[0] != '\0')
		unlink(j->tmp);
	if (j->cl != NULL)
		spn_client_unref(j->d, j->cl);
	j->d->njobs--;
	free(j);
}

/*
 * The ordered line: the server sees a client's calls in the client's
 * order where they depend on each other. A predicted mutation is answered
 * before the server has it, so a later call of the same client (a store
 * into a directory predicted made, a validation of a name predicted
 * removed) could otherwise overtake it on the wire. Every job that makes
 * an NFS call joins its mount's line in arrival order and may only send
 * while no job before it conflicts with it; readers never conflict with
 * readers, so validations run side by side and wait only for a change of
 * something they look at, never for an unrelated write-back.
 *
 * What a job does to each path it touched (mq_kind): reads it, changes
 * its content or attributes (MQ_CONTENT: a store, a setattr), or changes
 * the name (MQ_NAME: create, mkdir, unlink, rmdir, rename, link, symlink,
 * mknod), which also changes everything below the name and the parent
 * directory's listing and attributes. Two jobs conflict when one of them
 * changes something the other touches: the same path, a path at or below
 * a changed name, or the parent of a changed name (mq_conflict). A job
 * whose calls read but which must stay in order as a change (a predicted
 * rewrite's check, mq_barrier) counts as MQ_CONTENT.
 *
 * A job keeps its place from its first call to its end; a later call on
 * a path it had not touched (a symlink followed, a parent listed) adds
 * the path and waits again, for conflicting jobs before it and for those
 * admitted after it that now conflict. Waits only point at jobs already
 * running or earlier in the line, so they cannot form a cycle.
 *
 * Jobs with a foreign caller's credentials run alone (mq_alone): the
 * credentials live on the session (spn_nfs_set_cred) and libnfs chains
 * calls for a path walk, so any call in flight beside them could go out
 * with the wrong ids.
 */
enum { MQ_READ, MQ_CONTENT, MQ_NAME };
#define MQ_KEYS ((int)(sizeof(((struct spn_job *)0)->mq_keys) / sizeof(char *)))

/* d is the directory holding the name p. */
static int
path_is_parent(const char *d, const char *p)
{
	const char *s = strrchr(p, '/');
	size_t n = s != NULL ? (size_t)(s - p) : 0;

	if (s == NULL || strcmp(p, "/") == 0)
		return 0;
	if (n == 0)
		return strcmp(d, "/") == 0;
	return strncmp(d, p, n) == 0 && d[n] == '\0';
}

/* Does a change (kind) of path a touch path b? */
static int
changes(int kind, const char *a, const char *b)
{
	if (kind == MQ_READ)
		return 0;
	if (strcmp(a, b) == 0)
		return 1;
	return kind == MQ_NAME && (spn_path_beneath(b, a) || path_is_parent(b, a));
}

static int
mq_conflict(const struct spn_job *x, const struct spn_job *y)
{
	int i, k;

	if (x->mq_alone || y->mq_alone)
		return 1;
	if (x->mq_kind == MQ_READ && y->mq_kind == MQ_READ)
		return 0;
	for (i = 0; i < x->mq_nkeys; i++)
		for (k = 0; k < y->mq_nkeys; k++)
			if (changes(x->mq_kind, x->mq_keys[i], y->mq_keys[k]) ||
			    changes(y->mq_kind, y->mq_keys[k], x->mq_keys[i]))
				return 1;
	return 0;
}

static int
mq_writer(const struct spn_job *j)
{
	return j->mq_alone || j->mq_kind != MQ_READ;
}

/* What each request does to the paths it touches; a store's OPEN makes
 * its file (writeback.c, store_make). */
static const uint8_t mq_op_kind[SPN_OP_MAX + 1] = {
	[SPN_OP_MKDIR] = MQ_NAME,   [SPN_OP_RMDIR] = MQ_NAME,   [SPN_OP_UNLINK] = MQ_NAME,
	[SPN_OP_RENAME] = MQ_NAME,  [SPN_OP_LINK] = MQ_NAME,    [SPN_OP_SYMLINK] = MQ_NAME,
	[SPN_OP_MKNOD] = MQ_NAME,   [SPN_OP_SETATTR] = MQ_CONTENT,
	[SPN_OP_CLOSE] = MQ_CONTENT, [SPN_OP_FSYNC] = MQ_CONTENT, /* a store */
};

static int
mq_kind_of(const struct spn_job *j)
{
	int kind = j->req.op <= SPN_OP_MAX ? mq_op_kind[j->req.op] : MQ_READ;

	if (j->req.op == SPN_OP_OPEN && ((j->req.flags & O_CREAT) || j->wb != NULL))
		kind = MQ_NAME;
	else if (j->req.op == SPN_OP_OPEN && (j->req.flags & O_TRUNC))
		kind = MQ_CONTENT;
	return kind == MQ_READ && j->mq_barrier ? MQ_CONTENT : kind;
}

static int
mq_add_key(struct spn_job *j, const char *path)
{
	int i;

	if (path[0] == '\0' || j->mq_alone)
		return 0;
	for (i = 0; i < j->mq_nkeys; i++)
		if (strcmp(j->mq_keys[i], path) == 0)
			return 0;
	if (j->mq_nkeys == MQ_KEYS || (j->mq_keys[j->mq_nkeys] = strdup(path)) == NULL) {
		j->mq_alone = 1; /* cannot say what it touches: alone */
		return 1;
	}
	j->mq_nkeys++;
	return 1;
}

/* Record what j's next call touches. 1 if that is more than before. */
static int
mq_update(struct spn_job *j)
{
	int kind = mq_kind_of(j), grew = 0;

	if (j->cred.foreign > 0 && !j->mq_alone)
		j->mq_alone = grew = 1;
	if (kind > j->mq_kind) {
		j->mq_kind = kind;
		grew = 1;
	}
	grew |= mq_add_key(j, j->rel);
	if (j->req.op == SPN_OP_RENAME || j->req.op == SPN_OP_LINK)
		grew |= mq_add_key(j, j->rel2);
	if (kind == MQ_NAME && j->wb != NULL) /* what a store makes first */
		grew |= mq_add_key(j, j->walk);
	return grew;
}

/* May j send now: no job before it, and none admitted after it,
 * conflicts with it? */
static int
mq_may_run(struct spn_mount *m, struct spn_job *j)
{
	struct spn_job *y;
	int before = 1;

	if (j->mq_held || j->mq_parked)
		return 0; /* until its epoch is decided (seal.c), its directory checked */
	if (!mq_writer(j) && m->mq_writers == 0)
		return 1;
	for (y = m->mq_head; y != NULL; y = y->mq_next) {
		if (y == j) {
			before = 0;
			continue;
		}
		if ((before || y->mq_admitted) && (mq_writer(j) || mq_writer(y)) &&
		    mq_conflict(j, y))
			return 0;
	}
	return 1;
}

/* j in line is admitted (a) or waits: mq_waiting counts the waiting. */
static void
mq_admit(struct spn_job *j, int a)
{
	if (j->mq_admitted != a)
		j->mq_m->mq_waiting += a ? -1 : 1;
	j->mq_admitted = a;
}

/* Admit every waiting job that may run now, in line order. With none
 * waiting (most of the time: validations are admitted as they come),
 * there is nothing to scan -- the line holds every call in flight, and a
 * scan per call that ends was a tenth of the daemon's time. */
static void
mq_pump(struct spn_mount *m)
{
	struct spn_job *j;

	if (m->mq_waiting == 0)
		return;
	if (m->pumping) {
		m->pump_again = 1;
		return;
	}
	m->pumping = 1;
	do {
		m->pump_again = 0;
		for (j = m->mq_head; j != NULL; j = j->mq_next) {
			if (j->mq_admitted || !mq_may_run(m, j))
				continue;
			mq_admit(j, 1);
			j->issue(j);
			/* The line may have changed under us. */
			m->pump_again = 1;
			break;
		}
	} while (m->pump_again && m->mq_waiting > 0);
	m->pumping = 0;
}

static void
mq_leave(struct spn_job *j)
{
	struct spn_mount *m = j->mq_m;
	int i;

	if (j->mq_prev != NULL)
		j->mq_prev->mq_next = j->mq_next;
	else
		m->mq_head = j->mq_next;
	if (j->mq_next != NULL)
		j->mq_next->mq_prev = j->mq_prev;
	else
		m->mq_tail = j->mq_prev;
	if (j->mq_counted)
		m->mq_writers--;
	if (!j->mq_admitted)
		m->mq_waiting--;
	j->mq_counted = 0;
	for (i = 0; i < j->mq_nkeys; i++)
		free(j->mq_keys[i]);
	j->mq_nkeys = 0;
	j->mq_m = NULL;
	mq_pump(m);
}

/* A reader of dir and of every name below it would wait in line: a job
 * that changes dir or something below it, or a name dir is below, or
 * one that runs alone. */
int
spn_mq_changes_at(struct spn_mount *m, const char *dir)
{
	const struct spn_job *y;
	int i;

	for (y = m->mq_head; y != NULL; y = y->mq_next) {
		if (!mq_writer(y))
			continue;
		if (y->mq_alone)
			return 1;
		for (i = 0; i < y->mq_nkeys; i++)
			if (changes(y->mq_kind, y->mq_keys[i], dir) ||
			    spn_path_beneath(y->mq_keys[i], dir))
				return 1;
	}
	return 0;
}

/* A change must not wait for a parked validation before it (a miss in
 * a directory we now change ourselves): those go by name at once. */
static void
mq_unpark_before(struct spn_job *j)
{
	struct spn_job *y;

again:
	for (y = j->mq_m->mq_head; y != NULL && y != j; y = y->mq_next)
		if (y->mq_parked && mq_conflict(j, y)) {
			spn_dircheck_release(y); /* may end y: the line changed */
			goto again;
		}
}

void
spn_job_park(struct spn_job *j)
{
	j->mq_parked = 1;
	mq_enter(j);
}

/* A held mutation may go: admitted when nothing before it conflicts. */
void
spn_job_unhold(struct spn_job *j)
{
	j->mq_held = 0;
	if (j->mq_m != NULL)
		mq_pump(j->mq_m);
	else if (j->issue != NULL)
		j->issue(j);
}

/* j is about to call: 1 if it must wait in line (its issue runs when it
 * may send). */
static int
mq_enter(struct spn_job *j)
{
	struct spn_mount *m = j->m;

	if (j->mq_m == NULL) {
		j->mq_m = m;
		j->mq_prev = m->mq_tail;
		j->mq_next = NULL;
		if (m->mq_tail != NULL)
			m->mq_tail->mq_next = j;
		else
			m->mq_head = j;
		m->mq_tail = j;
		j->mq_admitted = 0;
		m->mq_waiting++;
	}
	if (mq_update(j))
		mq_admit(j, 0);
	if (mq_writer(j) && !j->mq_counted) {
		j->mq_counted = 1;
		j->mq_m->mq_writers++;
	}
	if (mq_writer(j))
		mq_unpark_before(j);
	if (j->mq_admitted)
		return 0;
	if (mq_may_run(j->mq_m, j)) {
		mq_admit(j, 1);
		return 0;
	}
	return 1;
}

/*
 * Mount semantics while the server is unreachable (SPECNFS_MOUNT_MODE,
 * SPECNFS_TIMEO), as a kernel NFS client's hard and soft mounts: under
 * both, the daemon's own work (write-backs, validations) waits for the
 * server for as long as it takes, so dirty data is never dropped. What
 * differs is the program's wait: soft answers it EIO after timeo (and,
 * once the mount is known down, at once or within SOFT_FAST_S), hard
 * leaves it waiting -- the shim tells the user "not responding" and lets
 * SIGINT/SIGTERM end the wait. A program's request retries the connection
 * at once (no backoff left over to wait out once the server is back).
 */
#define SOFT_FAST_S 3

static int
soft_mount(const struct spn_daemon *d)
{
	return d->pol.mount_mode == SPN_MOUNT_SOFT;
}

/* How long a program may wait on a soft mount: timeo, or SOFT_FAST_S
 * once its server (m; NULL: any) is known down. */
int64_t
spn_soft_wait_ns(const struct spn_daemon *d, const struct spn_mount *m)
{
	uint32_t t = d->pol.timeo;
	int i, down = 0;

	for (i = 0; i < d->nmounts; i++)
		if ((m == NULL || m == &d->mounts[i]) && d->mounts[i].soft_down)
			down = 1;
	if (soft_mount(d) && down && t > SOFT_FAST_S)
		t = SOFT_FAST_S;
	return (int64_t)t * 1000000000LL;
}

/* Wait for the session (j->m is not up): queued on m->waiting. */
static void
wait_for_session(struct spn_job *j)
{
	struct spn_mount *m = j->m;
	struct spn_daemon *d = j->d;
	int64_t now = spn_mono_ns();

	if (j->deadline_ns == 0)
		j->deadline_ns = now + (j->cl != NULL ? spn_soft_wait_ns(d, m)
						      : (int64_t)d->pol.timeo * 1000000000LL);
	if (j->cl != NULL && !m->connecting && m->retry_at_ns > now)
		m->retry_at_ns = now;
	j->next = m->waiting;
	m->waiting = j;
	if (m->down_since_ns == 0)
		m->down_since_ns = now;
}

/* Before an NFS call: note how to re-send it and what runs after it.
 * Returns 1 if the call must wait: for the session, or in line behind a
 * job it conflicts with. */
int
spn_job_call(struct spn_job *j, spn_job_fn issue, spn_job_fn done, int nonidem)
{
	struct spn_mount *m = j->m;

	j->issue = issue;
	j->done = done;
	j->nonidem = nonidem;
	j->remote = 1;
	j->mq_parked = 0;
	if (mq_enter(j)) {
		if (j->cl != NULL)
			spn_debug("%s %s: waits in line", spn_proto_op_name(j->req.op), j->rel);
		return 1;
	}
	/* A client's wait, call by call (the log: where its time goes). */
	if (j->cl != NULL)
		spn_debug("%s %s: a call at %lld us", spn_proto_op_name(j->req.op), j->rel,
			  (long long)((spn_mono_ns() - j->start_ns) / 1000));
	if (spn_nfs_state(m->nfs) == SPN_NFS_UP) {
		/* Nothing owed by the server until now: its clock starts. */
		if (spn_nfs_stats(m->nfs)->inflight == 0)
			m->heard_ns = spn_mono_ns();
		/* The caller's ids on the wire (a foreign job runs alone:
		 * mq_alone); a no-op for the daemon's own user. */
		spn_nfs_set_cred(m->nfs, j->cred.foreign > 0 ? &j->cred.nfs : NULL);
		j->calls++;
		return 0;
	}
	wait_for_session(j);
	return 1;
}

/* After a lost non-idempotent call, done() verifies instead of re-sending. */
static void
job_resume_done(struct spn_job *j)
{
	j->done(j);
}

void
spn_job_cb(int err, struct spn_nfs_res *res, void *arg)
{
	struct spn_job *j = arg;

	j->res = res;
	if (err < 0 && spn_nfs_err_transport(err)) {
		struct spn_mount *m = j->m;

		if (j->nonidem)
			j->lost = 1;
		if (spn_nfs_state(m->nfs) == SPN_NFS_UP) {
			/* A timeout on a live session: try a few times (a
			 * program on a soft mount: not past timeo). */
			int64_t timeo_ns = (int64_t)j->d->pol.timeo * 1000000000LL;

			if (++j->attempts > 3 || (j->cl != NULL && soft_mount(j->d) &&
						  spn_mono_ns() - m->heard_ns > timeo_ns)) {
				j->err = -EIO;
				j->lost = 0;
				j->done(j);
				return;
			}
			if (j->lost)
				job_resume_done(j);
			else
				j->issue(j);
			return;
		}
		/* Wait for the session; then re-send, or verify. */
		if (j->lost)
			j->issue = job_resume_done;
		wait_for_session(j);
		return;
	}
	j->m->heard_ns = spn_mono_ns();
	j->err = err;
	if (j->cl != NULL)
		spn_debug("%s %s: back at %lld us: %d", spn_proto_op_name(j->req.op), j->rel,
			  (long long)((spn_mono_ns() - j->start_ns) / 1000), err);
	j->done(j);
}

/* Steps several requests share: one idempotent call on j->rel (GETATTR
 * without following a symlink, READLINK), then done. */
static void
getattr_issue(struct spn_job *j)
{
	if (spn_job_call(j, getattr_issue, j->done, 0))
		return;
	spn_nfs_getattr(j->m->nfs, j->rel, 1, spn_job_cb, j);
}

void
spn_job_getattr(struct spn_job *j, spn_job_fn done)
{
	j->done = done;
	getattr_issue(j);
}

static void
readlink_issue(struct spn_job *j)
{
	if (spn_job_call(j, readlink_issue, j->done, 0))
		return;
	spn_nfs_readlink(j->m->nfs, j->rel, spn_job_cb, j);
}

void
spn_job_readlink(struct spn_job *j, spn_job_fn done)
{
	j->done = done;
	readlink_issue(j);
}

/* The session is up: resume every job that waited for it. */
void
spn_mount_up(struct spn_daemon *d, struct spn_mount *m)
{
	struct spn_job *list = m->waiting;

	m->waiting = NULL;
	m->down_since_ns = 0;
	m->heard_ns = spn_mono_ns();
	if (m->soft_down || m->said_down)
		spn_err("server %s (%s) is back", m->url, m->prefix);
	m->soft_down = 0;
	m->said_down = 0;
	while (list != NULL) {
		struct spn_job *j = list;

		list = j->next;
		j->next = NULL;
		j->deadline_ns = 0;
		j->issue(j);
	}
}

/* Why m's server does not answer, for a log line or the user. */
const char *
spn_mount_down_reason(struct spn_mount *m)
{
	const char *e = spn_nfs_error(m->nfs);

	static char buf[300];

	if (spn_nfs_state(m->nfs) == SPN_NFS_UP)
		return "no reply";
	if (e[0] == '\0')
		return "not connected";
	/* libnfs says this when the TCP connect is refused or reset. */
	if (strstr(e, "POLLHUP") != NULL || strstr(e, "POLLERR") != NULL) {
		snprintf(buf, sizeof(buf), "connection refused or reset (%s)", e);
		return buf;
	}
	return e;
}

/* Does m's server fail to answer now: not connected, or owing us a reply
 * for longer than timeo (a stall: the connection is up but silent)? */
int
spn_mount_unresponsive(const struct spn_daemon *d, struct spn_mount *m, int64_t now)
{
	if (spn_nfs_state(m->nfs) != SPN_NFS_UP)
		return 1;
	return spn_nfs_stats(m->nfs)->inflight > 0 &&
	       now - m->heard_ns > (int64_t)d->pol.timeo * 1000000000LL;
}

/* Soft: a program's request that waited past its deadline gets EIO (its
 * data, if any, stays dirty and is written back when the server returns). */
static void
soft_fail(struct spn_job *j, struct spn_mount *m, const char *what)
{
	spn_err("%s %s: server %s not responding for %u s (%s): EIO (soft mount)%s",
		spn_proto_op_name(j->req.op) ?: "?", j->req.path, m->url, j->d->pol.timeo,
		spn_mount_down_reason(m), what);
	if (soft_mount(j->d))
		m->soft_down = 1;
	spn_job_reply(j, -EIO);
}

/* Soft: programs' jobs waiting for m's session get EIO -- those past
 * their deadline, or all of them when now is 0. The daemon's own jobs
 * wait on; a write-back a program waited for goes on without it. */
static void
fail_waiting(struct spn_mount *m, int64_t now)
{
	struct spn_job **pp = &m->waiting;

	while (*pp != NULL) {
		struct spn_job *j = *pp;

		if (j->cl != NULL && (now == 0 || (j->deadline_ns != 0 && now >= j->deadline_ns))) {
			*pp = j->next;
			j->wb = NULL;
			soft_fail(j, m, "");
			continue;
		}
		pp = &j->next;
	}
}

/* A connect attempt failed: on a soft mount known down, the programs
 * waiting for it hear so now, not each after a full timeo. */
void
spn_mount_failed(struct spn_daemon *d, struct spn_mount *m)
{
	if (soft_mount(d) && m->soft_down)
		fail_waiting(m, 0);
}

/* While down: fail (soft) programs' jobs that waited too long for the
 * server; hard leaves them waiting. */
void
spn_mount_tick(struct spn_daemon *d, struct spn_mount *m)
{
	int64_t now = spn_mono_ns();

	if (!soft_mount(d)) {
		struct spn_job *j;

		for (j = m->waiting; j != NULL && !m->said_down; j = j->next) {
			if (j->cl != NULL && j->deadline_ns != 0 && now >= j->deadline_ns) {
				spn_err("server %s (%s) not responding (%s), still trying"
					" (hard mount)",
					m->url, m->prefix, spn_mount_down_reason(m));
				m->said_down = 1;
			}
		}
		return;
	}
	fail_waiting(m, now);
}

/* Soft: the waits that are not for the session itself -- a close or fsync
 * waiting for its write-back, a RESOLVE waiting for validations -- end
 * with EIO once they passed timeo and the server does not answer. The
 * write-back and the validations go on; the data stays in the journal. */
void
spn_timeo_tick(struct spn_daemon *d)
{
	int64_t now = spn_mono_ns();
	struct spn_job *expired = NULL, *j;
	struct spn_mount *down = NULL;
	struct spn_client *cl;
	struct spn_wb *wb;
	int i;

	if (!soft_mount(d))
		return;
	for (i = 0; i < d->nmounts && down == NULL; i++)
		if (spn_mount_unresponsive(d, &d->mounts[i], now))
			down = &d->mounts[i];
	if (down == NULL)
		return;
	/* Collect first, answer after: an answer may close a client or
	 * let queued jobs run, which changes these lists. */
	for (wb = d->wbs; wb != NULL; wb = wb->next) {
		struct spn_job **pp = &wb->waiters;

		if (!spn_mount_unresponsive(d, wb->m, now))
			continue;
		while (*pp != NULL) {
			j = *pp;
			if (j->cl != NULL && j->deadline_ns != 0 && now >= j->deadline_ns) {
				*pp = j->next;
				j->wb = NULL;
				j->next = expired;
				expired = j;
				continue;
			}
			pp = &j->next;
		}
	}
	for (cl = d->clients; cl != NULL; cl = cl->next) {
		struct spn_job **pp = &cl->resolvers;

		while (*pp != NULL) {
			j = *pp;
			if (j->deadline_ns != 0 && now >= j->deadline_ns) {
				*pp = j->next;
				j->next = expired;
				expired = j;
				continue;
			}
			pp = &j->next;
		}
	}
	while (expired != NULL) {
		j = expired;
		expired = j->next;
		j->next = NULL;
		soft_fail(j, j->m != NULL ? j->m : down,
			  j->req.op == SPN_OP_RESOLVE ? "" : "; the data stays in the journal");
	}
}
