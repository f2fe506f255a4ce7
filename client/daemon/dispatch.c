/*
 * daemon/dispatch.c: a request becomes a job -- its mount, its path gate,
 * a replay or a prediction when the client asks for one, the foreign
 * caller's access check, then the handler for its op.
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
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"

void
spn_job_start(struct spn_daemon *d, struct spn_client *cl, const struct spn_req *req)
{
	struct spn_job *j = calloc(1, sizeof(*j));
	static char text[SPN_TEXT_MAX];
	int rc = 0, n;

	if (j == NULL) {
		spn_err("out of memory");
		return;
	}
	j->d = d;
	j->cl = cl;
	j->req = *req;
	j->tmpfd = -1;
	j->start_ns = spn_mono_ns();
	j->cred = cl->cred;
	cl->refs++;
	d->njobs++;
	if (req->op <= SPN_OP_MAX)
		d->requests[req->op]++;
	if (cl->lease != 0 && !spn_spec_keeps_lease(req->spec))
		spn_seal_lease_end(d, cl);
	if (req->spec & SPN_SPEC_NOTE) {
		/* Counted now, so that the lease's epoch waits for it. */
		j->note = spn_seal_lease_join(d, cl);
		if (j->note == 0) {
			/* Not the client we know: fail what it depends on,
			 * if that can still fail, rather than vouch for it. */
			uint64_t id = spn_seal_join(d, cl);

			spn_err("pid %d answered %s itself without a lease", (int)cl->pid,
				req->path);
			if (id != 0)
				spn_seal_join_done(d, id, 0);
		}
	}
	if (j->cred.foreign < 0 || (j->cred.foreign > 0 && req->op == SPN_OP_SHUTDOWN)) {
		/* Ids we could not read (the sender is gone), or a shutdown
		 * from a process that is no longer the daemon's user. */
		spn_job_reply(j, -EACCES);
		return;
	}
	if (j->cred.foreign > 0) {
		/* Nothing is predicted for another user: the server answers,
		 * with its ids, and the job runs alone so that every call
		 * libnfs chains for it carries them (spn_nfs_set_cred).
		 * CLOSE/FSYNC only wait for a store, which carries the
		 * writer's ids itself (wb->cred). */
		j->req.spec &= ~SPN_SPEC_PREDICT;
		j->mq_barrier = req->op != SPN_OP_CLOSE && req->op != SPN_OP_FSYNC;
	}

	switch (req->op) {
	case SPN_OP_HELLO:
		j->rep.pid = (uint32_t)getpid();
		j->rep.version = SPN_PROTO_VERSION;
		spn_job_reply(j, 0);
		return;
	case SPN_OP_STATUS:
	case SPN_OP_CONFIG:
		n = req->op == SPN_OP_STATUS ? spn_status_text(d, text, sizeof(text))
					     : spn_policy_describe(&d->pol, text, sizeof(text));
		if (n < 0)
			n = (int)strlen(text);
		j->rep.text = text;
		j->rep.text_len = (size_t)n;
		spn_job_reply(j, 0);
		return;
	case SPN_OP_RESOLVE:
		spn_dircheck_flush(d); /* a verdict is wanted: no check waits for a turn */
		spn_resolve_request(j);
		return;
	case SPN_OP_SEAL:
		if (req->flags & SPN_F_EXIT)
			spn_dircheck_flush(d); /* its parent will want the verdict */
		spn_seal_dispatch(j);
		return;
	case SPN_OP_REAP:
		spn_reap_request(j);
		return;
	case SPN_OP_SHUTDOWN:
		spn_info("shutdown requested by pid %d", (int)cl->pid);
		d->stopping = 1;
		spn_job_reply(j, 0);
		return;
	default:
		break;
	}

	j->m = spn_find_mount(d, req->path, j->rel, sizeof(j->rel), &rc);
	if (j->m == NULL) {
		spn_job_reply(j, rc);
		return;
	}
	if (req->op == SPN_OP_RENAME || req->op == SPN_OP_LINK) {
		struct spn_mount *m2 = spn_find_mount(d, req->path2, j->rel2, sizeof(j->rel2), &rc);

		if (m2 == NULL || m2 != j->m) {
			spn_job_reply(j, m2 == NULL ? rc : -EXDEV);
			return;
		}
	}
	if (req->op == SPN_OP_CLOSE || req->op == SPN_OP_FSYNC) {
		/* Its path was gated at the open. */
		spn_job_begin(j);
		return;
	}
	spn_path_gate(j);
}

/* A request whose path holds no symlink above its name: answer it. */
void
spn_job_begin(struct spn_job *j)
{
	const struct spn_req *req = &j->req;

	if ((req->spec & SPN_SPEC_REPLAY) && spn_replay(j))
		return;
	if ((req->spec & SPN_SPEC_HOLD) && (req->spec & SPN_SPEC_PREDICT)) {
		switch (req->op) {
		case SPN_OP_MKDIR:
		case SPN_OP_RMDIR:
		case SPN_OP_UNLINK:
		case SPN_OP_RENAME:
		case SPN_OP_SETATTR:
		case SPN_OP_OPEN:
		case SPN_OP_CLOSE:
			spn_hold_request(j);
			return;
		default:
			break; /* nothing else is held: as without HOLD */
		}
	}
	if (j->req.spec & SPN_SPEC_PREDICT) { /* cleared for a foreign caller */
		switch (req->op) {
		case SPN_OP_CLOSE:
		case SPN_OP_MKDIR:
		case SPN_OP_RMDIR:
		case SPN_OP_UNLINK:
		case SPN_OP_RENAME:
			if (spn_predict_write(j))
				return;
			break;
		case SPN_OP_OPEN:
			if ((req->flags & O_ACCMODE) != O_RDONLY ||
			    (req->flags & (O_CREAT | O_TRUNC))) {
				if (spn_predict_write(j))
					return;
				break;
			}
			/* fall through */
		default:
			if (spn_predict(j) || spn_list_parent_first(j))
				return;
		}
	}
	{
		char path[SPN_PATH_MAX];
		int mode;

		if (j->cred.foreign > 0 && spn_cred_check_what(j, path, sizeof(path), &mode)) {
			spn_cred_check_issue(j);
			return;
		}
	}
	spn_job_dispatch(j);
}

/* The ordinary (non-predicted) handling of a request with a mount. */
void
spn_job_dispatch(struct spn_job *j)
{
	const struct spn_req *req = &j->req;

	switch (req->op) {
	case SPN_OP_STAT:
		spn_resolve(j, 0, spn_stat_resolved);
		break;
	case SPN_OP_ACCESS:
		spn_resolve(j, 0, spn_access_resolved);
		break;
	case SPN_OP_OPEN:
		/* Close-to-open: every open asks the server. */
		spn_resolve(j, 1, spn_open_resolved);
		break;
	case SPN_OP_READDIR:
		spn_resolve(j, 0, spn_readdir_resolved);
		break;
	case SPN_OP_READLINK:
		spn_resolve(j, 0, spn_readlink_resolved);
		break;
	case SPN_OP_CLOSE:
	case SPN_OP_FSYNC:
		spn_close_start(j);
		break;
	case SPN_OP_SETATTR:
		spn_resolve(j, 0, spn_setattr_resolved);
		break;
	case SPN_OP_MKDIR:
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK:
	case SPN_OP_RENAME:
	case SPN_OP_LINK:
	case SPN_OP_SYMLINK:
	case SPN_OP_MKNOD:
		if (req->op == SPN_OP_MKNOD && req->flags != S_IFIFO && req->flags != S_IFSOCK &&
		    req->flags != S_IFCHR && req->flags != S_IFBLK) {
			spn_job_reply(j, -EINVAL);
			break;
		}
		if (strcmp(j->rel, "/") == 0) {
			spn_job_reply(j, req->op == SPN_OP_MKDIR ? -EEXIST : -EBUSY);
			break;
		}
		spn_mutate_issue(j);
		break;
	case SPN_OP_STATFS:
		spn_statfs_issue(j);
		break;
	default:
		spn_job_reply(j, -ENOSYS);
		break;
	}
}
