/*
 * daemon/mutate.c: the requests that change the namespace or attributes
 * on the server (MKDIR, RMDIR, UNLINK, RENAME, LINK, SYMLINK, MKNOD,
 * SETATTR), applied to the mirror and index once the server agreed; a
 * non-idempotent call lost with its session is verified before it is
 * sent again.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"

static void
mutate_apply(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	struct spn_entry e;
	int64_t now = spn_now_ns();

	switch (j->req.op) {
	case SPN_OP_MKDIR:
		spn_entry_from_attr(&e, &j->res->attr, now, &d->ac);
		e.fh_len = j->res->fh_len;
		memcpy(e.fh, j->res->fh, j->res->fh_len);
		/* New and empty: complete as of its first attributes. */
		e.state = SPN_ENT_CACHED;
		e.flags |= SPN_EF_DIR_COMPLETE;
		spn_consist_set_content(&e);
		if (spn_mirror_mkdirs(j->m, j->rel) == 0)
			spn_mirror_mkdir(j->m, j->rel);
		spn_job_index_put(j, j->rel, &e);
		j->rep.attr = e.attr;
		spn_parent_after_own(j, j->rel, j->res);
		break;
	case SPN_OP_UNLINK:
	case SPN_OP_RMDIR:
		if (j->req.op == SPN_OP_UNLINK && spn_job_index_get(j, j->rel, &e) == 0)
			spn_other_links(j, j->rel, &e.attr, -1);
		spn_index_del_tree(d->idx, (uint16_t)j->m->id, j->rel);
		spn_mirror_remove(j->m, j->rel);
		spn_parents_after_own(j);
		break;
	case SPN_OP_RENAME:
		if (spn_job_index_get(j, j->rel2, &e) == 0)
			spn_other_links(j, j->rel2, &e.attr, -1);
		spn_index_del_tree(d->idx, (uint16_t)j->m->id, j->rel2);
		spn_mirror_remove(j->m, j->rel2);
		if (spn_index_rename_tree(d->idx, (uint16_t)j->m->id, j->rel, j->rel2) < 0 ||
		    spn_mirror_rename(j->m, j->rel, j->rel2) < 0) {
			spn_index_del_tree(d->idx, (uint16_t)j->m->id, j->rel2);
			spn_mirror_remove(j->m, j->rel2);
		}
		/* Moved entries keep their content but their ctime changed. */
		if (spn_job_index_get(j, j->rel2, &e) == 0) {
			e.validated_ns = 0;
			spn_job_index_put(j, j->rel2, &e);
		}
		spn_parents_after_own(j);
		break;
	case SPN_OP_LINK:
		/* Both names' attributes (nlink, ctime) changed. */
		if (spn_job_index_get(j, j->rel, &e) == 0) {
			spn_other_links(j, j->rel, &e.attr, 1);
			e.attr.nlink++;
			e.validated_ns = 0;
			spn_job_index_put(j, j->rel, &e);
		}
		spn_invalidate_parent(j, j->rel2);
		break;
	case SPN_OP_SYMLINK: {
		spn_entry_from_attr(&e, &j->res->attr, now, &d->ac);
		e.fh_len = j->res->fh_len;
		memcpy(e.fh, j->res->fh, j->res->fh_len);
		if (spn_mirror_symlink(j->m, d->tmpdir, j->rel, j->req.path2) == 0) {
			e.state = SPN_ENT_CACHED;
			spn_consist_set_content(&e);
		} else {
			spn_mirror_stub(j->m, d->tmpdir, j->rel, S_IFLNK);
		}
		spn_job_index_put(j, j->rel, &e);
		j->rep.attr = e.attr;
		spn_parent_after_own(j, j->rel, j->res); /* by handle: the wcc */
		break;
	}
	case SPN_OP_MKNOD:
		/* Listed as a stub of its type; an open makes the FIFO. */
		spn_entry_from_attr(&e, &j->res->attr, now, &d->ac);
		spn_mirror_stub(j->m, d->tmpdir, j->rel, j->res->attr.type);
		spn_job_index_put(j, j->rel, &e);
		j->rep.attr = e.attr;
		spn_invalidate_parent(j, j->rel);
		break;
	case SPN_OP_SETATTR: {
		const struct spn_attr *a = &j->res->attr;
		int have = spn_job_index_get(j, j->rel, &e) == 0;

		if (!have)
			spn_entry_from_attr(&e, a, now, &d->ac);
		if ((j->req.mask & SPN_SA_SIZE) && e.state == SPN_ENT_CACHED &&
		    a->type == S_IFREG) {
			/* Apply the same truncation to our copy, so that it
			 * still matches the server. */
			if (spn_mirror_truncate(j->m, j->rel, j->req.size) == 0) {
				e.content_mtime = a->mtime;
				e.content_ctime = a->ctime;
				e.content_size = a->size;
				e.content_fileid = a->fileid;
			}
		} else if (e.state == SPN_ENT_CACHED && spn_consist_content_valid(&e) &&
			   a->type == S_IFREG) {
			/* mode/owner/times: the content did not change. */
			e.content_mtime = a->mtime;
			e.content_ctime = a->ctime;
			e.content_size = a->size;
		}
		if (a->type == S_IFREG && e.state == SPN_ENT_CACHED)
			spn_mirror_chmod(j->m, j->rel, spn_mirror_mode(a->mode));
		e.attr = *a;
		e.validated_ns = now;
		spn_job_index_put(j, j->rel, &e);
		j->rep.attr = *a;
		break;
	}
	default:
		break;
	}
}

/* After a session was lost under a non-idempotent call: did it happen? */
static void
verify_done(struct spn_job *j)
{
	int exists = j->err == 0, happened = 0;

	switch (j->req.op) {
	case SPN_OP_MKDIR:
		happened = exists && j->res->attr.type == S_IFDIR;
		break;
	case SPN_OP_SYMLINK:
		happened = exists && j->res->attr.type == S_IFLNK;
		break;
	case SPN_OP_MKNOD:
		happened = exists && j->res->attr.type == j->req.flags;
		break;
	case SPN_OP_UNLINK:
	case SPN_OP_RMDIR:
		happened = j->err == -ENOENT;
		break;
	case SPN_OP_RENAME:
	case SPN_OP_LINK:
		/* Checked on the new name; a RENAME also needs the old one
		 * gone, which the re-sent call would report as ENOENT. */
		happened = exists;
		break;
	}
	if (happened && j->owner != NULL) {
		j->err = 0;
		j->res = NULL;
		spn_spec_mut_done(j);
		return;
	}
	if (happened) {
		spn_info("%s %s: done before the session was lost; not re-sent",
			 spn_proto_op_name(j->req.op), j->req.path);
		if (j->req.op == SPN_OP_UNLINK || j->req.op == SPN_OP_RMDIR || !exists) {
			static struct spn_nfs_res none;

			j->res = &none;
		}
		j->err = 0;
		mutate_apply(j);
		spn_job_reply(j, 0);
		return;
	}
	spn_mutate_issue(j);
}

static void
verify_issue(struct spn_job *j)
{
	const char *what =
	    (j->req.op == SPN_OP_RENAME || j->req.op == SPN_OP_LINK) ? j->rel2 : j->rel;

	if (spn_job_call(j, verify_issue, verify_done, 0))
		return;
	spn_nfs_getattr(j->m->nfs, what, 1, spn_job_cb, j);
}

static void
mutate_done(struct spn_job *j)
{
	if (j->lost) {
		j->lost = 0;
		verify_issue(j);
		return;
	}
	/* link(2) of a directory is EPERM (Linux refuses it before any file
	 * system sees it); servers say NFS3ERR_INVAL or NFS4ERR_ISDIR. */
	if (j->req.op == SPN_OP_LINK && (j->err == -EINVAL || j->err == -EISDIR))
		j->err = -EPERM;
	if ((j->req.op == SPN_OP_MKDIR || j->req.op == SPN_OP_UNLINK || j->req.op == SPN_OP_RMDIR ||
	     j->req.op == SPN_OP_RENAME || j->req.op == SPN_OP_SYMLINK) &&
	    !j->store_by_path && j->err == -ESTALE) {
		/* The parent's handle is stale: by path. */
		j->store_by_path = 1;
		spn_mutate_issue(j);
		return;
	}
	if ((j->req.op == SPN_OP_MKDIR || j->req.op == SPN_OP_SYMLINK) && j->err == -EREMOTEIO) {
		/* Made, but the reply had no handle: as a lost reply. */
		verify_issue(j);
		return;
	}
	if (j->owner != NULL || j->join != 0) {
		if (j->req.op == SPN_OP_SETATTR && j->err == 0)
			mutate_apply(j); /* a held chmod: the server's attributes */
		spn_spec_mut_done(j);
		return;
	}
	if (j->err < 0) {
		/* Whatever we believed about these names may be wrong. */
		spn_invalidate_parent(j, j->rel);
		if (j->req.op == SPN_OP_SETATTR || j->req.op == SPN_OP_LINK) {
			struct spn_entry e;

			if (spn_job_index_get(j, j->rel, &e) == 0) {
				e.validated_ns = 0;
				spn_job_index_put(j, j->rel, &e);
			}
		}
		spn_job_reply(j, j->err);
		return;
	}
	mutate_apply(j);
	spn_job_reply(j, 0);
}

/*
 * NFSv4 has one REMOVE for every type, and libnfs 4.0 sends it for both
 * rmdir and unlink: rmdir(2) of a file would delete the file, unlink(2) of
 * an empty directory the directory. So look at the type first (one
 * GETATTR; another client may still swap the name in between, as for any
 * client that checks first). NFSv3 has REMOVE and RMDIR: the server checks.
 */
static void
remove_type_done(struct spn_job *j)
{
	if (j->err == 0) {
		uint32_t t = j->res->attr.type;

		if (j->req.op == SPN_OP_RMDIR && t != S_IFDIR)
			j->err = -ENOTDIR;
		else if (j->req.op == SPN_OP_UNLINK && t == S_IFDIR)
			j->err = -EISDIR;
	}
	if (j->err < 0) {
		mutate_done(j);
		return;
	}
	j->remove_checked = 1;
	spn_mutate_issue(j);
}

#define SA_TIMES (SPN_SA_ATIME | SPN_SA_MTIME | SPN_SA_ATIME_NOW | SPN_SA_MTIME_NOW)

/* What a SETATTR request asks for besides the times, for the server. */
static void
sattr_of(const struct spn_req *req, struct spn_nfs_sattr *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->mask = (req->mask & SPN_SA_MODE ? SPN_NSA_MODE : 0) |
		   (req->mask & SPN_SA_UID ? SPN_NSA_UID : 0) |
		   (req->mask & SPN_SA_GID ? SPN_NSA_GID : 0) |
		   (req->mask & SPN_SA_SIZE ? SPN_NSA_SIZE : 0);
	sa->mode = req->mode;
	sa->uid = req->uid;
	sa->gid = req->gid;
	sa->size = req->size;
}

/* The times a SETATTR asks for (given, or the clock's now) over *atime
 * and *mtime; the protocol never asks for both of one. */
static void
asked_times(const struct spn_req *req, struct spn_time *atime, struct spn_time *mtime)
{
	struct timespec ts;
	struct spn_time now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now.sec = ts.tv_sec;
	now.nsec = (uint32_t)ts.tv_nsec;
	if (req->mask & SPN_SA_ATIME)
		*atime = req->atime;
	else if (req->mask & SPN_SA_ATIME_NOW)
		*atime = now;
	if (req->mask & SPN_SA_MTIME)
		*mtime = req->mtime;
	else if (req->mask & SPN_SA_MTIME_NOW)
		*mtime = now;
}

void
spn_mutate_issue(struct spn_job *j)
{
	struct spn_nfs *n = j->m->nfs;
	struct spn_nfs_sattr sa;

	if ((j->req.op == SPN_OP_RMDIR || j->req.op == SPN_OP_UNLINK) && !j->remove_checked &&
	    spn_nfs_version(n) == 4) {
		spn_job_getattr(j, remove_type_done);
		return;
	}
	if (spn_job_call(j, spn_mutate_issue, mutate_done, j->req.op != SPN_OP_SETATTR))
		return;
	switch (j->req.op) {
	case SPN_OP_MKDIR: {
		struct spn_entry pe;
		const char *name = spn_parent_handle(j, &pe);

		if (name != NULL) {
			spn_nfs_mkdir_fh(n, pe.fh, pe.fh_len, name, (int)(j->req.mode & 07777),
					 spn_job_cb, j);
			break;
		}
		spn_nfs_mkdir(n, j->rel, (int)(j->req.mode & 07777), spn_job_cb, j);
		break;
	}
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK: {
		struct spn_entry pe;
		const char *name = spn_parent_handle(j, &pe);

		/* By the directory's handle: one call, and its wcc. */
		if (name != NULL)
			spn_nfs_remove_fh(n, pe.fh, pe.fh_len, name, j->req.op == SPN_OP_RMDIR,
					  spn_job_cb, j);
		else if (j->req.op == SPN_OP_RMDIR)
			spn_nfs_rmdir(n, j->rel, spn_job_cb, j);
		else
			spn_nfs_remove(n, j->rel, spn_job_cb, j);
		break;
	}
	case SPN_OP_RENAME: {
		char p1[SPN_PATH_MAX], p2[SPN_PATH_MAX];
		struct spn_entry pe;
		const char *name = spn_parent_handle(j, &pe);

		spn_parent_of(j->rel, p1, sizeof(p1));
		spn_parent_of(j->rel2, p2, sizeof(p2));
		if (name != NULL && strcmp(p1, p2) == 0 && strrchr(j->rel2, '/') != NULL)
			spn_nfs_rename_fh(n, pe.fh, pe.fh_len, name, strrchr(j->rel2, '/') + 1,
					  spn_job_cb, j);
		else
			spn_nfs_rename(n, j->rel, j->rel2, spn_job_cb, j);
		break;
	}
	case SPN_OP_LINK:
		spn_nfs_link(n, j->rel, j->rel2, spn_job_cb, j);
		break;
	case SPN_OP_SYMLINK: {
		struct spn_entry pe;
		const char *name = spn_parent_handle(j, &pe);

		if (name != NULL) {
			spn_nfs_symlink_fh(n, pe.fh, pe.fh_len, name, j->req.path2, spn_job_cb, j);
			break;
		}
		spn_nfs_symlink(n, j->req.path2, j->rel, spn_job_cb, j);
		break;
	}
	case SPN_OP_MKNOD:
		spn_nfs_mknod(n, j->rel, (int)(j->req.flags | (j->req.mode & 07777)), j->req.size,
			      spn_job_cb, j);
		break;
	case SPN_OP_SETATTR: {
		struct spn_entry e;

		/* A held chmod of a file made meanwhile (its store) knows its
		 * handle only from the index now: one call by it, not a walk
		 * by path. */
		if (spn_nfs_has_fh(n) && j->e.fh_len == 0 &&
		    spn_job_index_get(j, j->rel, &e) == 0 && e.fh_len > 0) {
			j->e.fh_len = e.fh_len;
			memcpy(j->e.fh, e.fh, e.fh_len);
		}
		if (spn_nfs_has_fh(n) && j->e.fh_len > 0) {
			/* NFSv3: one SETATTR by handle, times to the ns. */
			sattr_of(&j->req, &sa);
			sa.mask |= (j->req.mask & SPN_SA_ATIME ? SPN_NSA_ATIME : 0) |
				   (j->req.mask & SPN_SA_MTIME ? SPN_NSA_MTIME : 0) |
				   (j->req.mask & SPN_SA_ATIME_NOW ? SPN_NSA_ATIME_NOW : 0) |
				   (j->req.mask & SPN_SA_MTIME_NOW ? SPN_NSA_MTIME_NOW : 0);
			sa.atime = j->req.atime;
			sa.mtime = j->req.mtime;
			spn_nfs_setattr_fh(n, j->e.fh, j->e.fh_len, &sa, spn_job_cb, j);
			break;
		}
		sattr_of(&j->req, &sa);
		if (j->req.flags & SPN_F_NOFOLLOW)
			sa.mask |= SPN_NSA_NOFOLLOW;
		if (j->req.mask & SA_TIMES) {
			/* libnfs sets both times at once: fill in the one not
			 * asked for from what we know. */
			sa.mask |= SPN_NSA_TIMES;
			sa.atime = j->e.attr.atime;
			sa.mtime = j->e.attr.mtime;
			asked_times(&j->req, &sa.atime, &sa.mtime);
		}
		spn_nfs_setattr(n, j->rel, &sa, spn_job_cb, j);
		break;
	}
	}
}

/* Times asked for a file with unsent writes: keep them for its store. */
static int
defer_times(struct spn_job *j, struct spn_wb *wb)
{
	struct spn_nfs_sattr *t = &wb->times;

	if (!(j->req.mask & SA_TIMES))
		return 0;
	if (!wb->has_times) {
		t->atime = j->e.attr.atime;
		t->mtime = j->e.attr.mtime;
	}
	t->mask = SPN_NSA_TIMES;
	asked_times(&j->req, &t->atime, &t->mtime);
	wb->has_times = 1;
	wb->clean = 0;
	{
		/* The mirror copy shows them too (stat of a dirty file reads
		 * its size and mtime there). */
		struct timespec ts[2] = { { t->atime.sec, t->atime.nsec },
					  { t->mtime.sec, t->mtime.nsec } };

		spn_mirror_utimens(j->m, j->rel, ts);
	}
	j->e.attr.atime = t->atime;
	j->e.attr.mtime = t->mtime;
	j->req.mask &= ~(uint32_t)SA_TIMES;
	return 1;
}

void
spn_setattr_resolved(struct spn_job *j)
{
	struct spn_wb *wb;

	/* chmod, chown, utimes and truncate follow a final symlink (on the
	 * client's side, as stat does); a directory has no size to set. */
	if (spn_resolved_follow(j))
		return;
	if ((j->req.mask & SPN_SA_SIZE) && j->e.attr.type == S_IFDIR) {
		spn_job_reply(j, -EISDIR);
		return;
	}
	wb = (j->e.flags & SPN_EF_DIRTY) ? spn_wb_find(j->d, j->m, j->rel, 0) : NULL;
	if (wb != NULL && defer_times(j, wb) && j->req.mask == 0) {
		j->rep.attr = j->e.attr;
		spn_job_reply(j, 0);
		return;
	}
	/* A size change of a file we are writing is a local affair until
	 * its write-back. */
	if ((j->e.flags & SPN_EF_DIRTY) && (j->req.mask & SPN_SA_SIZE)) {
		int rc = spn_mirror_truncate(j->m, j->rel, j->req.size);

		if (rc < 0) {
			spn_job_reply(j, rc);
			return;
		}
	}
	spn_mutate_issue(j);
}
