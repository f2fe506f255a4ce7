/*
 * daemon/dircheck.c: a name predicted absent, checked through its
 * directory. gcc probes every header in every -I directory; in a warm
 * build almost all of a compile's predictions are such misses (130 of
 * 142 in one compile of the synthetic workload), and checking each with a
 * LOOKUP of its own made the server's work, not the network's wait, the
 * cost of speculation: at 0 ms the NFS server used more CPU than the
 * compiler.
 *
 * A directory whose attributes (mtime, ctime, fileid) still equal the
 * stamp of the listing a miss was predicted from has gained no name
 * since: one GETATTR of the directory checks every miss predicted from
 * that listing. This is how a kernel NFS client revalidates its negative
 * dentries (by the parent's change attribute). A name that appeared in
 * the same timestamp tick as the directory's last change would not show;
 * Linux since 6.13 (multigrain timestamps) gives a directory that was
 * looked at a fine-grained time on its next change, and this machine runs
 * 6.18. A check that finds the directory changed proves nothing either
 * way: each miss is then checked by its own lookup, as before.
 *
 * The order is kept: a check answers only predictions made before its
 * call went out. A miss predicted while a check of its directory is on
 * the wire waits for the next one, sent when that returns; so a burst of
 * misses costs two calls per directory, whatever its length. The
 * waiting one goes earlier when the burst ends (no miss joined it for
 * QUIET_NS: a compiler's include probes are over), or when someone wants
 * a verdict: a RESOLVE, or the exit of a process whose parent will, sends
 * every waiting check at once (spn_dircheck_flush) -- the deferral saves
 * calls, it must not cost a round trip to a process that waits.
 *
 * The ordered line (daemon/jobs.c): a lookup of a name waits behind our
 * own change of that name that came before it, and a held change waits
 * for verdicts that may need the lookup. So each miss takes its place in
 * line when it is predicted (parked: it sends nothing), and goes by name
 * from there if its directory cannot vouch for it; a change that came
 * later never stands in its way. A check of the directory would wait
 * behind any change in it: while one is in line, the misses in it go by
 * name at once; and for a second after a check found it changed under
 * misses it could not answer, or a change of ours came behind one
 * (dir_busy).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/daemon/internal.h"
#include "client/log.h"

/* A waiting check goes once no miss joined it for this long. */
#define QUIET_NS 2000000LL

struct spn_dircheck {
	struct spn_dircheck *next;
	int64_t joined_ns; /* the last miss that joined it (CLOCK_MONOTONIC) */
	struct spn_mount *m;
	char rel[SPN_PATH_MAX];
	struct spn_job *c;	 /* the check's job; NULL while an earlier one is on the wire */
	struct spn_job *waiters; /* validations it answers (linked by next) */
};

/*
 * Directories a check found changed under misses it could not answer,
 * or in which a change of ours came behind a miss (a build writing its
 * objects beside its sources: make's stat of x.o, then as makes it): for
 * BUSY_NS their misses go by name at once -- a check there only adds a
 * call and a round trip. A small ring; a forgotten entry costs a check.
 */
#define BUSY_NS 1000000000LL

static int
dir_busy(const struct spn_daemon *d, const struct spn_mount *m, const char *rel)
{
	const struct spn_dirbusy *b = d->dirbusy;
	int64_t now = spn_mono_ns();
	int i;

	for (i = 0; i < SPN_DIRBUSY; i++)
		if (b[i].m == m && b[i].until > now && strcmp(b[i].rel, rel) == 0)
			return 1;
	return 0;
}

static void
dir_busy_mark(struct spn_daemon *d, const struct spn_mount *m, const char *rel)
{
	struct spn_dirbusy *b = d->dirbusy;
	int i;

	for (i = 0; i < SPN_DIRBUSY; i++)
		if (b[i].m == m && strcmp(b[i].rel, rel) == 0)
			break;
	if (i == SPN_DIRBUSY)
		i = (int)(d->dirbusy_next++ % SPN_DIRBUSY);
	b[i].m = m;
	snprintf(b[i].rel, sizeof(b[i].rel), "%s", rel);
	b[i].until = spn_mono_ns() + BUSY_NS;
}

/* The component of rel right below directory dir: its length, or -1 if
 * rel is not below dir; name (if not NULL) gets "dir/component". */
static long
component_below(const char *dir, const char *rel, char *name, size_t len)
{
	size_t n = strcmp(dir, "/") == 0 ? 0 : strlen(dir), k;

	if (strncmp(rel, dir, n) != 0 || rel[n] != '/')
		return -1;
	k = strcspn(rel + n + 1, "/");
	if (name != NULL)
		snprintf(name, len, "%.*s", (int)(n + 1 + k), rel);
	return (long)k;
}

/* Each waiter's own lookup: the directory cannot vouch for them. The
 * lookup has its place in line from the prediction on, before any change
 * of ours that came later, so the server answers as it would have then;
 * the index may show such a change already, and must not answer it. */
static void
by_name(struct spn_job *v)
{
	v->as_predicted = 1;
	spn_resolve(v, 1, v->then);
}

/* The next waiter of k, taken off its list. The rest stay on it while v
 * goes on: v's steps may end jobs and admit changes, which release
 * parked misses (spn_dircheck_release) -- k's too. */
static struct spn_job *
take_waiter(struct spn_dircheck *k)
{
	struct spn_job *v = k->waiters;

	if (v != NULL) {
		k->waiters = v->next;
		v->next = NULL;
	}
	return v;
}

static void check_done(struct spn_job *c);

/*
 * The directory changed since v's miss, but only by our own changes: its
 * listing is still valid (their replies' wcc kept it, daemon/mutate.c)
 * and still lacks v's name. Our own change of that name after the miss
 * would have sent v by name before it (spn_dircheck_release): the build
 * writing objects into its source directory is the common case.
 */
static int
still_absent(struct spn_job *c, struct spn_job *v)
{
	char name[SPN_PATH_MAX];
	struct spn_entry e;

	if (!spn_dir_listing_valid(c) || component_below(c->rel, v->rel, name, sizeof(name)) < 0)
		return 0;
	return spn_job_index_get(c, name, &e) == -ENOENT;
}

static void
unlink_check(struct spn_daemon *d, struct spn_dircheck *k)
{
	struct spn_dircheck **pp;

	for (pp = &d->dirchecks_list; *pp != k; pp = &(*pp)->next)
		;
	*pp = k->next;
}

/* Send listed k's GETATTR of the directory; if k cannot be checked that
 * way now, its waiters go by name and k is unlisted and freed. */
static void
check_start(struct spn_daemon *d, struct spn_dircheck *k)
{
	struct spn_job *c;

	if (spn_mq_changes_at(k->m, k->rel) || (c = calloc(1, sizeof(*c))) == NULL) {
		struct spn_job *v;

		while ((v = take_waiter(k)) != NULL)
			by_name(v);
		unlink_check(d, k);
		free(k);
		return;
	}
	c->d = d;
	c->m = k->m;
	c->tmpfd = -1;
	c->req.op = SPN_OP_STAT;
	c->req.flags = SPN_F_NOFOLLOW;
	snprintf(c->rel, sizeof(c->rel), "%s", k->rel);
	snprintf(c->req.path, sizeof(c->req.path), "(check of %s)", k->rel);
	d->njobs++;
	d->dirchecks++;
	k->c = c;
	spn_resolve(c, 1, check_done);
}

static void
check_done(struct spn_job *c)
{
	struct spn_daemon *d = c->d;
	struct spn_dircheck *k, *after;
	struct spn_job *v;
	const struct spn_attr *a = &c->e.attr;
	int dir = c->err == 0 && c->have_e && a->type == S_IFDIR, stale = 0;

	for (k = d->dirchecks_list; k != NULL && k->c != c; k = k->next)
		;
	if (k == NULL) { /* cannot be: every check is listed */
		spn_err("directory check of %s: not listed", c->rel);
		spn_job_free(c);
		return;
	}
	/* k stays listed until its waiters are served (take_waiter). */
	while ((v = take_waiter(k)) != NULL) {
		/* v->predicted holds the listing's stamp its miss came from. */
		if (dir && (spn_consist_stamp_equal(&v->predicted.mtime, &v->predicted.ctime,
						    v->predicted.fileid, a) ||
			    still_absent(c, v))) {
			d->dircheck_answers++;
			v->err = -ENOENT;
			v->have_e = 0;
			v->then(v);
			continue;
		}
		if (!stale) {
			spn_debug("directory check of %s: changed, its misses go by name", k->rel);
			dir_busy_mark(d, k->m, k->rel);
			stale = 1;
		}
		by_name(v);
	}
	unlink_check(d, k);
	/* The misses predicted while this one was on the wire. */
	for (after = d->dirchecks_list; after != NULL; after = after->next)
		if (after->m == k->m && after->c == NULL && strcmp(after->rel, k->rel) == 0)
			break;
	free(k);
	spn_job_free(c);
	if (after != NULL)
		check_start(d, after);
}

/*
 * Check v, a miss predicted from the complete listing of dir whose stamp
 * is in v->predicted (mtime, ctime, fileid), through dir: v->then runs
 * with v->err -ENOENT if the directory is unchanged, else after v's own
 * lookup (spn_resolve). 0 if v went on its way, -1 if it must be checked
 * by name (the caller does that).
 */
int
spn_dircheck_join(struct spn_job *v, const char *dir, spn_job_fn then)
{
	struct spn_daemon *d = v->d;
	struct spn_dircheck *k, *running = NULL;
	long len = component_below(dir, v->rel, NULL, 0);

	/* A name longer than NAME_MAX is not absent: the server says
	 * ENAMETOOLONG, as a local file system would. */
	if (len < 0 || len > NAME_MAX)
		return -1;
	if (spn_mq_changes_at(v->m, dir) || dir_busy(d, v->m, dir))
		return -1;
	for (k = d->dirchecks_list; k != NULL; k = k->next) {
		if (k->m != v->m || strcmp(k->rel, dir) != 0)
			continue;
		if (k->c == NULL || k->c->calls == 0)
			break; /* its call has not gone out: it answers v too */
		running = k;
	}
	if (k != NULL) {
		v->then = then;
		spn_job_park(v);
		v->next = k->waiters;
		k->waiters = v;
		k->joined_ns = spn_mono_ns();
		return 0;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -1;
	v->then = then;
	spn_job_park(v);
	k->joined_ns = spn_mono_ns();
	k->m = v->m;
	snprintf(k->rel, sizeof(k->rel), "%s", dir);
	k->waiters = v;
	k->next = d->dirchecks_list;
	d->dirchecks_list = k;
	if (running == NULL)
		check_start(d, k);
	return 0;
}

void
spn_dircheck_release(struct spn_job *v)
{
	struct spn_daemon *d = v->d;
	struct spn_dircheck *k;
	struct spn_job **pp;

	for (k = d->dirchecks_list; k != NULL; k = k->next)
		for (pp = &k->waiters; *pp != NULL; pp = &(*pp)->next)
			if (*pp == v) {
				*pp = v->next;
				v->next = NULL;
				dir_busy_mark(d, k->m, k->rel); /* we change it: names go by name */
				if (k->waiters == NULL && k->c == NULL) {
					/* A later check nobody waits for now. */
					unlink_check(d, k);
					free(k);
				}
				by_name(v);
				return;
			}
	spn_err("validation of %s: parked, but waits for no check", v->rel);
	v->mq_parked = 0;
}

void
spn_dircheck_flush(struct spn_daemon *d)
{
	struct spn_dircheck *k;

again:
	for (k = d->dirchecks_list; k != NULL; k = k->next)
		if (k->c == NULL) {
			check_start(d, k);
			goto again; /* a check may end at once: the list changed */
		}
}

int
spn_dircheck_tick(struct spn_daemon *d, int timeout)
{
	struct spn_dircheck *k;
	int64_t now = spn_mono_ns(), left;

again:
	for (k = d->dirchecks_list; k != NULL; k = k->next) {
		if (k->c != NULL)
			continue;
		left = k->joined_ns + QUIET_NS - now;
		if (left <= 0) {
			check_start(d, k);
			goto again; /* a check may end at once: the list changed */
		}
		if (left / 1000000 + 1 < timeout)
			timeout = (int)(left / 1000000 + 1);
	}
	return timeout;
}
