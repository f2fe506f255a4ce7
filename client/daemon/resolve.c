/*
 * daemon/resolve.c: resolve, the step most requests begin with -- make
 * j->e hold fresh attributes of j->rel (close-to-open and the attribute
 * cache, see daemon/consist.h), by GETATTR on a known handle or a walk
 * of LOOKUPs (NFSv3 by handle) or a lookup by path.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "client/daemon/internal.h"
#include "client/log.h"
#include "client/spec/epoch.h"

/*
 * resolve: make j->e hold fresh attributes of j->rel (lstat semantics),
 * then run j->then with j->err 0 or -errno. force: ask the server even if
 * the cache is fresh (close-to-open). Answers ENOENT without a call when
 * the parent's listing is complete and fresh (a negative lookup in an
 * unchanged directory costs nothing).
 */
static void resolve_issue(struct spn_job *j);

/* A fileid of 0 came from a listing without fileids (NFSv4 through
 * libnfs 4.0): unknown, not different -- adopt the server's. */
static void
unknown_fileid(struct spn_entry *e, const struct spn_attr *fresh)
{
	if (e->attr.fileid != 0)
		return;
	e->attr.fileid = fresh->fileid;
	if (e->content_fileid == 0)
		e->content_fileid = fresh->fileid;
}

/*
 * The entry as it is now. resolve() read it before the call, which may
 * have waited in line behind predicted mutations of its path (or on the
 * wire) while they changed it: clearing SPN_EF_CREATED_LOCALLY, setting DIRTY, a new
 * handle. Writing back that early copy would undo them -- a directory
 * predicted made (cp -r's top directory) stayed "created locally", in
 * the journal for ever. Keeps a handle the walk just looked up.
 */
static void
resolve_reread(struct spn_job *j)
{
	int looked_up = j->err == 0 && j->res != NULL && j->res->fh_len > 0;
	uint8_t fh[SPN_FH_MAX], fh_len = j->e.fh_len;
	struct spn_entry cur;

	memcpy(fh, j->e.fh, fh_len);
	j->have_e = spn_job_index_get(j, j->rel, &cur) == 0;
	if (!j->have_e)
		return;
	j->e = cur;
	if (looked_up) {
		j->e.fh_len = fh_len;
		memcpy(j->e.fh, fh, fh_len);
	}
}

/* A name new to the cache, found by the check of a read prediction: the
 * mirror shows it too (a stub, or an empty directory) if its directory's
 * listing says it is complete, so that a client answering misses from the
 * mirror itself (proto.h, version 11) does not say it is not there. Not
 * after a removal began since the check did (its answer may be older),
 * and never for a job that makes the name (an exclusive create sees it). */
static void
mirror_show(struct spn_job *j, uint32_t type)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry pe;
	struct stat st;

	if ((j->owner == NULL && j->join == 0) || j->removals != j->d->removals ||
	    (j->req.op != SPN_OP_STAT && j->req.op != SPN_OP_OPEN) ||
	    spn_spec_kind(j->req.op, j->req.flags, NULL) != SPN_SK_READ)
		return;
	spn_parent_of(j->rel, parent, sizeof(parent));
	if (spn_job_index_get(j, parent, &pe) < 0 || !(pe.flags & SPN_EF_DIR_COMPLETE) ||
	    spn_mirror_lstat(j->m, j->rel, &st) != -ENOENT)
		return;
	if (type == S_IFDIR)
		spn_mirror_mkdir(j->m, j->rel);
	else
		spn_mirror_stub(j->m, j->d->tmpdir, j->rel, type);
}

static void
resolve_done(struct spn_job *j)
{
	struct spn_attr fresh;
	int64_t now = spn_now_ns();

	resolve_reread(j);
	if (j->as_predicted && j->err == 0 && j->have_e && (j->e.flags & SPN_EF_WRITEBACK)) {
		/* Someone else's object where we made ours since: the miss
		 * was wrong, and our entry stays as it is. */
		j->then(j);
		return;
	}
	if (j->err == -ENOENT || j->err == -ENOTDIR) {
		/* Not what we are writing or creating ourselves: its server
		 * call is in line behind this one. */
		if (j->have_e && !(j->e.flags & SPN_EF_WRITEBACK)) {
			spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel);
			spn_mirror_remove(j->m, j->rel);
		}
		j->have_e = 0;
		j->err = -ENOENT;
		j->then(j);
		return;
	}
	if (j->err < 0) {
		j->then(j);
		return;
	}
	fresh = j->res->attr;
	j->d->revalidations++;
	if (!j->have_e) {
		uint8_t fh[SPN_FH_MAX], fh_len = j->e.fh_len;

		memcpy(fh, j->e.fh, fh_len);
		spn_entry_from_attr(&j->e, &fresh, now, &j->d->ac);
		j->e.fh_len = fh_len;
		memcpy(j->e.fh, fh, fh_len);
		j->have_e = 1;
		mirror_show(j, fresh.type);
	} else if (unknown_fileid(&j->e, &fresh),
		   spn_consist_after_revalidate(&j->d->ac, &j->e, &fresh, now) & SPN_CH_REPLACED) {
		spn_debug("%s replaced (fileid %llu -> %llu)", j->rel,
			  (unsigned long long)j->e.attr.fileid, (unsigned long long)fresh.fileid);
		/* Another object now has this name: forget the old one and
		 * everything we knew below it. */
		if (!(j->e.flags & SPN_EF_DIRTY)) {
			if (j->e.attr.type == S_IFDIR || fresh.type == S_IFDIR) {
				spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel);
				spn_mirror_remove(j->m, j->rel);
			} else {
				spn_mirror_stub(j->m, j->d->tmpdir, j->rel, fresh.type);
			}
		}
		{
			uint8_t fh[SPN_FH_MAX], fh_len = j->e.fh_len;

			memcpy(fh, j->e.fh, fh_len);
			spn_entry_from_attr(&j->e, &fresh, now, &j->d->ac);
			j->e.fh_len = fh_len;
			memcpy(j->e.fh, fh, fh_len);
		}
	}
	j->e.last_use_ns = now;
	spn_job_index_put(j, j->rel, &j->e);
	j->err = 0;
	j->then(j);
}

static void walk_issue(struct spn_job *j);

/* A handle we may use for path: the root's, or one recorded in the index. */
static int
known_fh(struct spn_job *j, const char *path, uint8_t *fh, uint8_t *len)
{
	struct spn_entry e;

	if (strcmp(path, "/") == 0)
		return spn_nfs_root_fh(j->m->nfs, fh, len) == 0;
	if (spn_job_index_get(j, path, &e) < 0 || e.fh_len == 0 || e.attr.type != S_IFDIR)
		return 0;
	memcpy(fh, e.fh, e.fh_len);
	*len = e.fh_len;
	return 1;
}

/*
 * NFSv3: resolve j->rel component by component from the deepest ancestor
 * whose handle we know, one LOOKUP (one round trip) per unknown component;
 * with the parent's handle known, that is a single LOOKUP, which returns
 * the current object and its attributes (a name now bound to another file
 * shows as a new fileid).
 */
static void
walk_done(struct spn_job *j)
{
	struct spn_entry e;
	int64_t now = spn_now_ns();

	if (j->err == -ESTALE && ++j->attempts < 3) {
		/* A handle the server forgot: forget it too, and use paths. */
		char parent[SPN_PATH_MAX];

		spn_parent_of(j->walk, parent, sizeof(parent));
		if (spn_job_index_get(j, parent, &e) == 0) {
			e.fh_len = 0;
			spn_job_index_put(j, parent, &e);
		}
		spn_job_getattr(j, resolve_done);
		return;
	}
	if (j->err < 0 || strcmp(j->walk, j->rel) == 0) {
		if (j->err == 0 && j->res->fh_len > 0) {
			/* resolve_done stores the attributes; keep the handle. */
			j->e.fh_len = j->res->fh_len;
			memcpy(j->e.fh, j->res->fh, j->res->fh_len);
		}
		resolve_done(j);
		return;
	}
	/* An intermediate directory: record it with its handle, go on. */
	if (j->res->attr.type != S_IFDIR) {
		if (j->res->attr.type == S_IFLNK) {
			/* A directory we knew became a symlink: it is the
			 * client's to follow (spn_path_gate), never the server's. */
			spn_entry_from_attr(&e, &j->res->attr, now, &j->d->ac);
			e.fh_len = j->res->fh_len;
			memcpy(e.fh, j->res->fh, j->res->fh_len);
			spn_job_index_put(j, j->walk, &e);
			if (j->gating)
				spn_gate_restore(j);
			spn_path_gate(j);
			return;
		}
		j->err = -ENOTDIR;
		resolve_done(j);
		return;
	}
	if (spn_job_index_get(j, j->walk, &e) == 0)
		spn_consist_after_revalidate(&j->d->ac, &e, &j->res->attr, now);
	else
		spn_entry_from_attr(&e, &j->res->attr, now, &j->d->ac);
	e.fh_len = j->res->fh_len;
	memcpy(e.fh, j->res->fh, j->res->fh_len);
	spn_job_index_put(j, j->walk, &e);
	walk_issue(j);
}

static void
walk_issue(struct spn_job *j)
{
	char known[SPN_PATH_MAX];
	uint8_t fh[SPN_FH_MAX], len = 0;
	const char *name;
	size_t kl;

	if (spn_job_call(j, walk_issue, walk_done, 0))
		return;
	if (strcmp(j->rel, "/") == 0) {
		if (spn_nfs_root_fh(j->m->nfs, fh, &len) < 0) {
			spn_job_getattr(j, resolve_done);
			return;
		}
		snprintf(j->walk, sizeof(j->walk), "/");
		spn_nfs_getattr_fh(j->m->nfs, fh, len, spn_job_cb, j);
		return;
	}
	/* Deepest ancestor of rel with a known handle. */
	snprintf(known, sizeof(known), "%s", j->rel);
	do {
		char *slash = strrchr(known, '/');

		if (slash == known)
			known[1] = '\0';
		else
			*slash = '\0';
	} while (!known_fh(j, known, fh, &len) && strcmp(known, "/") != 0);
	if (len == 0) {
		spn_job_getattr(j, resolve_done);
		return;
	}
	/* The next component below it. */
	kl = strcmp(known, "/") == 0 ? 0 : strlen(known);
	name = j->rel + kl + 1;
	snprintf(j->walk, sizeof(j->walk), "%.*s",
		 (int)(strcspn(name, "/") + (size_t)(name - j->rel)), j->rel);
	snprintf(known, sizeof(known), "%.*s", (int)strcspn(name, "/"), name);
	spn_nfs_lookup_fh(j->m->nfs, fh, len, known, spn_job_cb, j);
}

static void
resolve_issue(struct spn_job *j)
{
	if (spn_nfs_version(j->m->nfs) == 3) {
		j->attempts = 0;
		walk_issue(j);
		return;
	}
	spn_job_getattr(j, resolve_done);
}

void
spn_resolve(struct spn_job *j, int force, spn_job_fn then)
{
	int64_t now = spn_now_ns();

	j->then = then;
	j->have_e = spn_job_index_get(j, j->rel, &j->e) == 0;
	if (!j->have_e)
		memset(&j->e, 0, sizeof(j->e));
	j->err = 0;
	if (j->have_e && (j->e.flags & SPN_EF_DIRTY) && !j->as_predicted) {
		/* Our own writes not yet on the server: its view is older. */
		struct spn_wb *wb = spn_wb_find(j->d, j->m, j->rel, 0);

		if (wb != NULL && (wb->writers > 0 || wb->elsewhere || wb->running)) {
			then(j);
			return;
		}
	}
	if (j->have_e && !force && spn_consist_attr_fresh(&j->d->ac, &j->e, now)) {
		j->d->cache_hits++;
		then(j);
		return;
	}
	/* A negative answer from the cache -- but not for an open, which
	 * must see a file another client created (close-to-open). */
	if (!j->have_e && !force && strcmp(j->rel, "/") != 0) {
		char parent[SPN_PATH_MAX];
		struct spn_entry pe;

		spn_parent_of(j->rel, parent, sizeof(parent));
		if (spn_job_index_get(j, parent, &pe) == 0 &&
		    spn_consist_lookup(&j->d->ac, &pe, 0, now) == SPN_LOOKUP_NEGATIVE) {
			j->d->negative_hits++;
			j->err = -ENOENT;
			then(j);
			return;
		}
	}
	resolve_issue(j);
}
