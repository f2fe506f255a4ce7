/*
 * daemon/predict_write.c: predictions of write-backs and mutations (policy
 * full): a close after writing, create or truncate for writing, mkdir,
 * rmdir, unlink and rename answered before the server has them, the
 * server call following in the client's order where it depends on it
 * (daemon/jobs.c, the ordered line); outcomes kept for a
 * re-execution (REPLAY) and refused paths not predicted again for a while.
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

/*
 * Policy full: a close of a written file, a create or truncate for
 * writing, mkdir, rmdir, unlink and rename are answered at once when the
 * cache says they will succeed; the mirror changes first, the server call
 * follows after every earlier call it conflicts with (the ordered line of
 * daemon/jobs.c; mq_barrier), and its result validates
 * the prediction. A refusal undoes the mirror's change, counts as
 * refuted (the client rolls back), is remembered as the outcome for the
 * client's re-execution (SPN_SPEC_REPLAY) and keeps that path from being
 * predicted again for a while (no livelock).
 */
#define REFUSED_FOR_NS (30 * 1000000000LL)

static void spec_create_issue(struct spn_job *v);
static int predict_chmod(struct spn_job *j, int have);
static void mutation_go(struct spn_job *v);
static int predict_mutation(struct spn_job *j, int have, const struct spn_entry *pe,
			    int parent_complete, struct spn_job *v);

static int
refused_recently(struct spn_daemon *d, const struct spn_mount *m, const char *rel)
{
	return spn_recent_has(d->refused, m, rel);
}

static void
refused_add(struct spn_daemon *d, const struct spn_mount *m, const char *rel)
{
	spn_recent_add(d->refused, &d->next_refused, m, rel, REFUSED_FOR_NS);
}

static struct spn_outcome *
outcome_find(struct spn_daemon *d, uint64_t token)
{
	unsigned i;

	if (token == 0)
		return NULL;
	for (i = 0; i < SPN_OUTCOMES; i++)
		if (d->outcomes[i].token == token)
			return &d->outcomes[i];
	return NULL;
}

static void
outcome_start(struct spn_daemon *d, uint64_t token)
{
	struct spn_outcome *o;

	if (token == 0)
		return;
	o = &d->outcomes[d->next_outcome++ % SPN_OUTCOMES];
	o->token = token;
	o->done = 0;
	o->status = 0;
}

void
spn_spec_refuted(struct spn_job *v, int status)
{
	if (v->owner != NULL) /* a joined one fails its sealed epoch instead */
		spn_seal_own_refuted(v->d, v);
	if (v->dropped)
		return; /* never sent: the server said nothing */
	v->d->refutations++;
	refused_add(v->d, v->m, v->rel);
	if (v->req.op == SPN_OP_RENAME)
		refused_add(v->d, v->m, v->rel2);
	spn_info("write-back refused by the server: %s %s: %s", spn_proto_op_name(v->req.op),
		 v->req.path, strerror(-status));
}

/* The server's answer to a predicted chmod (held: SPN_SPEC_HOLD). */
static void
spec_setattr_done(struct spn_job *v)
{
	struct spn_entry e;

	if (v->err < 0 && spn_job_index_get(v, v->rel, &e) == 0) {
		/* The mode we showed is not the server's: ask it again. */
		e.attr.mode = v->predicted.mode;
		e.validated_ns = 0;
		spn_job_index_put(v, v->rel, &e);
		if (e.attr.type == S_IFREG)
			spn_mirror_chmod(v->m, v->rel, spn_mirror_mode(e.attr.mode));
		spn_spec_refuted(v, v->err);
	}
	v->join_ok = v->err == 0;
	spn_job_reply(v, v->err);
}

/* The server's answer to a predicted mkdir/rmdir/unlink/rename. */
void
spn_spec_mut_done(struct spn_job *v)
{
	struct spn_daemon *d = v->d;
	struct spn_outcome *o = outcome_find(v->d, v->req.token);
	struct spn_entry e;

	if (v->req.op == SPN_OP_SETATTR) {
		spec_setattr_done(v);
		return;
	}
	if (v->err == 0) {
		if (v->req.op == SPN_OP_MKDIR && spn_job_index_get(v, v->rel, &e) == 0) {
			if (v->res != NULL && v->res->attr.type == S_IFDIR) {
				e.attr = v->res->attr;
				e.fh_len = v->res->fh_len;
				memcpy(e.fh, v->res->fh, v->res->fh_len);
				spn_consist_set_content(&e);
				e.validated_ns = spn_now_ns();
			} else {
				e.validated_ns = 0;
				e.flags &= (uint8_t)~SPN_EF_DIR_COMPLETE;
			}
			e.flags &= (uint8_t)~SPN_EF_CREATED_LOCALLY;
			spn_job_index_put(v, v->rel, &e);
		}
	} else {
		/* Undo what the mirror showed: the server's truth is
		 * learned again from it. */
		if (v->req.op == SPN_OP_MKDIR) {
			spn_index_del_tree(v->d->idx, (uint16_t)v->m->id, v->rel);
			spn_mirror_remove(v->m, v->rel);
		} else if (v->req.op == SPN_OP_RENAME) {
			spn_index_del_tree(v->d->idx, (uint16_t)v->m->id, v->rel2);
			spn_mirror_remove(v->m, v->rel2);
		}
		spn_spec_refuted(v, v->err);
	}
	if (v->err == 0 && v->req.op == SPN_OP_RENAME && spn_job_index_get(v, v->rel2, &e) == 0 &&
	    (e.flags & SPN_EF_WRITEBACK) && spn_wb_find(d, v->m, v->rel2, 0) == NULL) {
		/* A file renamed while its store was on its way: that store
		 * (under the old name) came first, and nothing wrote the
		 * new name since. */
		e.flags &= (uint8_t)~SPN_EF_WRITEBACK;
		spn_job_index_put(v, v->rel2, &e);
	}
	if (v->err == 0) {
		spn_parents_after_own(v);
	} else {
		spn_invalidate_parent(v, v->rel);
		if (v->req.op == SPN_OP_RENAME)
			spn_invalidate_parent(v, v->rel2);
	}
	spn_dir_pending(v, v->rel, -1);
	if (v->req.op == SPN_OP_RENAME)
		spn_dir_pending(v, v->rel2, -1);
	if (o != NULL) {
		o->done = !v->dropped;
		o->status = v->err;
	}
	v->join_ok = v->err == 0;
	spn_job_reply(v, v->err);
	spn_predict_own_change_done(d);
}

/* A predicted create or rewrite the server refused: the name's entry, its
 * mirror copy and its write-back record (the discarded execution's
 * content) go. */
static void
drop_local(struct spn_job *v, struct spn_wb *wb)
{
	spn_index_del_tree(v->d->idx, (uint16_t)v->m->id, v->rel);
	spn_mirror_remove(v->m, v->rel);
	if (wb != NULL) {
		wb->writers = 0;
		wb->elsewhere = 0;
		spn_wb_forget(v->d, wb);
	}
}

/* The server's answer to a predicted create. */
static void
spec_create_done(struct spn_job *v)
{
	struct spn_daemon *d = v->d;
	struct spn_entry e;

	if (v->lost) {
		/* Unchecked create: sending it again does no harm. */
		v->lost = 0;
		spec_create_issue(v);
		return;
	}
	if (spn_create_by_path_again(v)) {
		spec_create_issue(v);
		return;
	}
	if (v->err == 0) {
		struct spn_wb *gone = spn_wb_find_detached(d, v->m, v->rel);

		if (gone != NULL && v->res->fh_len > 0) {
			/* Its name went (a held unlink or rename) before
			 * the create came back: its store goes by this handle. */
			gone->gone.fh_len = v->res->fh_len;
			memcpy(gone->gone.fh, v->res->fh, v->res->fh_len);
			gone->gone.flags &= (uint8_t)~SPN_EF_CREATED_LOCALLY;
		}
		if (spn_job_index_get(v, v->rel, &e) == 0) {
			uint64_t size = e.attr.size;
			struct spn_time mt = e.attr.mtime;

			e.attr = v->res->attr;
			if (e.flags & SPN_EF_DIRTY) {
				/* Ours until the store: size and times local. */
				e.attr.size = size;
				e.attr.mtime = mt;
			}
			e.fh_len = v->res->fh_len;
			memcpy(e.fh, v->res->fh, v->res->fh_len);
			e.flags &= (uint8_t)~SPN_EF_CREATED_LOCALLY;
			spn_job_index_put(v, v->rel, &e);
		}
	} else {
		drop_local(v, spn_wb_find(v->d, v->m, v->rel, 0));
		spn_spec_refuted(v, v->err);
	}
	if (v->err == 0)
		spn_parent_after_own(v, v->rel, v->res);
	else
		spn_invalidate_parent(v, v->rel);
	v->join_ok = v->err == 0; /* held: its sealed epoch's last say */
	spn_job_reply(v, v->err);
	spn_predict_own_change_done(d);
}

/* A predicted rewrite of a file we know: is it still that file? */
static void
spec_check_done(struct spn_job *v)
{
	int ok = v->err == 0 && v->res->attr.type == S_IFREG &&
		 (v->predicted.fileid == 0 || v->res->attr.fileid == v->predicted.fileid);

	if (!ok) {
		struct spn_wb *wb = spn_wb_find(v->d, v->m, v->rel, 0);

		/* The name's file on the server is not the one we know (gone,
		 * or another): what we know of it goes, with the discarded
		 * execution's content. Else the re-execution's open would
		 * take our entry for its own writes and store them by the
		 * old handle, into a removed file. Not while another process
		 * still writes the mirror copy (the discarded one counts one). */
		if (wb == NULL || wb->writers <= 1) {
			drop_local(v, wb);
			spn_invalidate_parent(v, v->rel);
		}
		spn_spec_refuted(v, v->err < 0 ? v->err : -ESTALE);
	}
	spn_job_reply(v, 0);
}

static void
spec_create_issue(struct spn_job *v)
{
	if (spn_job_call(v, spec_create_issue, spec_create_done, 1))
		return;
	spn_send_create(v, 0);
}

static int
has_child(const char *name, const struct spn_entry *e, void *arg)
{
	(void)name;
	(void)e;
	(void)arg;
	return 1;
}

/* Attributes for a name the mirror shows before the server has it. */
static void
synth_entry(struct spn_job *j, struct spn_entry *e, uint32_t type, const struct spn_entry *parent)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	memset(e, 0, sizeof(*e));
	e->attr.type = type;
	e->attr.mode = j->req.mode & 07777;
	e->attr.nlink = type == S_IFDIR ? 2 : 1;
	e->attr.uid = j->cl->uid;
	e->attr.gid = j->cl->gid;
	e->attr.size = type == S_IFDIR ? 4096 : 0;
	e->attr.fsid = parent->attr.fsid;
	e->attr.atime.sec = e->attr.mtime.sec = e->attr.ctime.sec = now.tv_sec;
	e->attr.atime.nsec = e->attr.mtime.nsec = e->attr.ctime.nsec = (uint32_t)now.tv_nsec;
	e->state = SPN_ENT_CACHED;
	e->flags = SPN_EF_CREATED_LOCALLY;
	spn_consist_set_content(e);
}

/* A held store, its epoch held: in line now, among the file's waiters. */
static void
held_store_go(struct spn_job *v)
{
	struct spn_wb *wb = spn_wb_find(v->d, v->m, v->rel, 1);

	if (wb == NULL) {
		spn_job_reply(v, -ENOMEM); /* fails the epoch: never sent */
		return;
	}
	if (spn_wb_close_clean(v, wb)) {
		/* A sibling's store, just before, had all of it. */
		v->d->stores_saved++;
		v->join_ok = 1;
		spn_job_reply(v, 0);
		spn_wb_forget(v->d, wb);
		return;
	}
	spn_wb_wait_store(v, wb);
}

/* ... its epoch failed: never sent. The mirror keeps the content and the
 * index its dirty mark (writes through the mirror are not undone), so the
 * file's next store, or the journal, sends it. */
static void
held_store_drop(struct spn_job *v)
{
	spn_job_free(v);
}

/*
 * The store at the close of a file a process without a checkpoint wrote
 * but did not create in its epoch (a configure child's exit storing
 * config.log, which its shell keeps open), held in its birth j->hold:
 * the process goes on (exits) at once, and the store is sent when that
 * epoch and everything above it held -- it is then the epoch's last
 * validation -- or dropped if any failed. Not for a file whose times were
 * set (kept by its write-back record) or that is gone. 1 if answered.
 */
static int
hold_store(struct spn_job *j, struct spn_wb *wb)
{
	struct spn_job *v;

	if (wb->has_times || wb->detached)
		return 0;
	v = spn_validation_joined(j, j->hold);
	if (v == NULL)
		return 0;
	if (wb->writers > 0)
		wb->writers--;
	if (spn_job_index_get(j, j->rel, &j->e) == 0) {
		j->rep.attr = j->e.attr;
		spn_wb_attr(j, &j->rep.attr);
	}
	spn_wb_forget(j->d, wb); /* found again when the store goes */
	v->issue = held_store_go;
	v->done = held_store_drop;
	v->hold_open = 1; /* its siblings (config.log's other writers) still join */
	spn_seal_hold_add(v->d, v);
	j->rep.spec = SPN_SPEC_PREDICTED | SPN_SPEC_JOINED;
	spn_job_reply(j, 0);
	spn_seal_poke(v->d);
	return 1;
}

/* A predicted close: answered now, stored behind; the store validates. */
static int
predict_close(struct spn_job *j)
{
	struct spn_wb *wb;
	struct spn_job *v;

	if (!(j->req.flags & SPN_F_WRITTEN))
		return 0;
	wb = spn_wb_find(j->d, j->m, j->rel, 0);
	if (spn_wb_close_clean(j, wb)) {
		/* Nothing to store: answered at once, the ordinary way. A
		 * held one too: neither held nor UNHELD, the client takes it
		 * as the answer (a dependent then need not wait for its
		 * birth's verdict, as it would before an unheld store). */
		spn_close_start(j);
		return 1;
	}
	if (wb == NULL)
		wb = spn_wb_find(j->d, j->m, j->rel, 1);
	if (wb != NULL && j->hold != 0 && !j->hold_behind)
		return hold_store(j, wb);
	v = wb == NULL	    ? NULL
	    : j->hold != 0 ? spn_validation_joined(j, j->hold)
			   : spn_validation_new(j);
	if (v == NULL)
		return 0;
	if (j->hold != 0) {
		/* The store of a file whose create is held: in line behind
		 * it, sent only after it; part of its sealed epoch. */
		spn_seal_join_behind(j->d, j->hold);
		j->rep.spec = SPN_SPEC_JOINED;
	}
	if (wb->writers > 0)
		wb->writers--;
	if (spn_job_index_get(j, j->rel, &j->e) == 0) {
		j->rep.attr = j->e.attr;
		spn_wb_attr(j, &j->rep.attr); /* what the store will leave */
	}
	j->rep.spec |= SPN_SPEC_PREDICTED;
	spn_job_reply(j, 0);
	spn_wb_wait_store(v, wb);
	return 1;
}

/* A predicted open for rewriting (O_TRUNC): a new name in a directory
 * whose listing we have, or a file we have cached. */
static int
predict_create(struct spn_job *j, int have, const struct spn_entry *pe, int parent_complete)
{
	struct spn_job *v;
	int fd, rc;

	if ((j->req.flags & O_ACCMODE) == O_RDONLY || !(j->req.flags & O_TRUNC) ||
	    (j->req.flags & (O_EXCL | O_APPEND | O_DIRECTORY)))
		return 0;
	if (have) {
		if (j->e.attr.type != S_IFREG || (j->e.flags & SPN_EF_WRITEBACK))
			return 0;
	} else if (!parent_complete || !(j->req.flags & O_CREAT)) {
		return 0;
	}
	/* Held: a new file only. A dropped create takes the file away
	 * again; a dropped rewrite could not give the old content back. */
	if (j->hold != 0 && have)
		return 0;
	if (spn_mirror_mkdirs(j->m, j->rel) < 0)
		return 0;
	fd = spn_mirror_create(j->m, j->rel, spn_mirror_mode(have ? j->e.attr.mode : j->req.mode));
	if (fd < 0)
		return 0;
	close(fd);
	v = j->hold != 0 ? spn_validation_joined(j, j->hold) : spn_validation_new(j);
	if (v == NULL)
		return 0;
	if (have) {
		/* Checked like any predicted open: the file must still be
		 * the one we know. In line, so that our own store cannot
		 * overtake the check. */
		v->predicted = j->e.attr;
		j->e.state = SPN_ENT_CACHED;
	} else {
		synth_entry(j, &j->e, S_IFREG, pe);
	}
	j->have_e = 1;
	rc = spn_open_for_write(j);
	if (rc < 0) {
		/* Nothing was promised yet: the ordinary way. */
		if (v->join != 0) {
			v->join = 0; /* never counted */
		} else {
			v->owner = NULL;
			j->cl->validating--;
			spn_client_unref(j->d, j->cl);
		}
		spn_job_free(v);
		return 0;
	}
	v->mq_barrier = 1;
	v->e = j->e;
	j->rep.attr = j->e.attr;
	j->rep.spec = SPN_SPEC_PREDICTED | (v->join != 0 ? SPN_SPEC_JOINED : 0);
	spn_reply_mirror(j);
	if (have) {
		spn_job_getattr(v, spec_check_done);
	} else if (v->join != 0) {
		spn_seal_hold_create(v->d, v); /* j is answered (gone) */
		spec_create_issue(v); /* takes its place; not admitted while held */
		spn_seal_poke(v->d);
	} else {
		spec_create_issue(v);
	}
	return 1;
}

/* A predicted mutation's server call: now, or held (SPN_SPEC_HOLD) in
 * its place in the line until its sealed epoch says (seal.c). */
static void
mutation_go(struct spn_job *v)
{
	if (v->join == 0) {
		spn_mutate_issue(v);
		return;
	}
	spn_seal_hold_add(v->d, v);
	spn_mutate_issue(v); /* takes its place; not admitted while held */
	spn_seal_poke(v->d);
}

/* A chmod, held (SPN_SPEC_HOLD only): of a file or directory we know,
 * owned by the caller (the server's checks would say EPERM otherwise).
 * The mirror copy's execute bits follow at once: a program may run the
 * file next (a linker's output). */
static int
predict_chmod(struct spn_job *j, int have)
{
	struct spn_job *v;

	if (j->hold == 0 || !have || j->req.mask != SPN_SA_MODE || j->cred.foreign > 0 ||
	    (j->e.attr.type != S_IFREG && j->e.attr.type != S_IFDIR) ||
	    j->e.attr.uid != j->cl->uid ||
	    (j->e.validated_ns == 0 && !(j->e.flags & SPN_EF_DIRTY)))
		return 0;
	v = spn_validation_joined(j, j->hold);
	if (v == NULL)
		return 0;
	v->hold_behind = j->hold_behind;
	v->e = j->e;
	v->predicted = j->e.attr; /* the mode to return to if refused */
	j->e.attr.mode = j->req.mode & 07777;
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		j->e.attr.ctime.sec = now.tv_sec;
		j->e.attr.ctime.nsec = (uint32_t)now.tv_nsec;
	}
	spn_job_index_put(j, j->rel, &j->e);
	if (j->e.attr.type == S_IFREG)
		spn_mirror_chmod(j->m, j->rel, spn_mirror_mode(j->e.attr.mode));
	v->mq_barrier = 1;
	j->rep.attr = j->e.attr;
	j->rep.spec = SPN_SPEC_PREDICTED | SPN_SPEC_JOINED;
	spn_job_reply(j, 0);
	mutation_go(v);
	return 1;
}

/* SPN_SPEC_HOLD: predicted and held in the process's own sealed epoch,
 * or (SPN_SPEC_UNHELD) nothing done. */
void
spn_hold_request(struct spn_job *j)
{
	uint64_t from = 0, id = 0;

	/* The store (CLOSE) or chmod of a file whose create the process's
	 * sealed epoch holds goes behind it, in that epoch (ld: create,
	 * write, close, chmod); anything else is the epoch's one hold. A
	 * process without a checkpoint holds the store of a file it did not
	 * create in its birth only (hold_store).
	 * SPN_SPEC_JOIN: a process without a checkpoint (a shell's child
	 * opening `>file`, then exec'ing cat) holds its create in the sealed
	 * epoch it joins, and the store at the close goes behind it there. */
	int joining = !!(j->req.spec & SPN_SPEC_JOIN);

	if ((j->req.op == SPN_OP_CLOSE || j->req.op == SPN_OP_SETATTR) &&
	    (id = joining ? spn_seal_create_above(j->d, j) : spn_seal_create_of(j->d, j)) != 0)
		j->hold_behind = 1;
	else if (j->req.op == SPN_OP_CLOSE)
		id = joining ? spn_seal_join_birth(j->d, j->cl) : 0;
	else if (joining)
		id = j->req.op == SPN_OP_OPEN ? spn_seal_join_target(j->d, j->cl) : 0;
	else
		id = spn_seal_hold_target(j->d, j->cl, &from);
	if (!refused_recently(j->d, j->m, j->rel) && id != 0) {
		j->hold = id;
		j->hold_from = from;
		if (spn_predict_write(j))
			return;
		j->hold = 0;
	}
	j->rep.spec = SPN_SPEC_UNHELD;
	spn_job_reply(j, -EAGAIN); /* nothing done, so nothing to report (no attributes) */
}

/* Try to answer a write-back at once (policy full). 1 if answered. */
int
spn_predict_write(struct spn_job *j)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry pe;
	struct spn_job *v;
	int have, parent_complete, rc;

	if (strcmp(j->rel, "/") == 0 || refused_recently(j->d, j->m, j->rel) ||
	    (j->req.op == SPN_OP_RENAME && refused_recently(j->d, j->m, j->rel2)))
		return 0;
	if (j->req.op == SPN_OP_CLOSE)
		return predict_close(j);
	have = spn_job_index_get(j, j->rel, &j->e) == 0;
	spn_parent_of(j->rel, parent, sizeof(parent));
	/* A directory predicted made counts: its own mkdir goes first. */
	parent_complete = spn_job_index_get(j, parent, &pe) == 0 && pe.attr.type == S_IFDIR &&
			  (pe.flags & SPN_EF_DIR_COMPLETE);
	if (j->req.op == SPN_OP_OPEN)
		return predict_create(j, have, &pe, parent_complete);
	if (j->req.op == SPN_OP_SETATTR)
		return predict_chmod(j, have);
	if (!have && parent_complete &&
	    (j->req.op == SPN_OP_UNLINK || j->req.op == SPN_OP_RMDIR))
		return spn_predict_absent(j, j->hold); /* rm -f of what is not there */
	if (have && (j->e.flags & SPN_EF_WRITEBACK) &&
	    (j->hold == 0 || (j->req.op != SPN_OP_UNLINK && j->req.op != SPN_OP_RENAME)))
		return 0;
	if (j->hold == 0)
		return predict_mutation(j, have, &pe, parent_complete, NULL);
	/* Held: its validation exists before the mirror changes, so that
	 * nothing can make the server follow unheld. */
	v = spn_validation_joined(j, j->hold);
	if (v == NULL)
		return 0;
	rc = predict_mutation(j, have, &pe, parent_complete, v);
	if (!rc) {
		v->join = 0; /* never counted */
		spn_job_free(v);
	}
	return rc;
}

/* mkdir, rmdir, unlink, rename; v: the held one's validation, made. */
static int
predict_mutation(struct spn_job *j, int have, const struct spn_entry *pe, int parent_complete,
		 struct spn_job *v)
{
	struct spn_entry e2;
	int rc;

	switch (j->req.op) {
	case SPN_OP_MKDIR:
		if (have || !parent_complete || spn_mirror_mkdirs(j->m, j->rel) < 0 ||
		    ((rc = spn_mirror_mkdir(j->m, j->rel)) < 0 && rc != -EEXIST))
			return 0;
		synth_entry(j, &j->e, S_IFDIR, pe);
		j->e.flags |= SPN_EF_DIR_COMPLETE;
		spn_job_index_put(j, j->rel, &j->e);
		j->rep.attr = j->e.attr;
		break;
	case SPN_OP_UNLINK: {
		struct spn_wb *wb = spn_wb_find(j->d, j->m, j->rel, 0);

		/* A file with other names: they must show the new link
		 * count once the server has it (mutate.c), so not ahead.
		 * A file whose store is on its way: only held (the store is
		 * then part of what the unlink waits for, and goes on from
		 * the mirror copy's fd: ar's temporary file). */
		if (!have || j->e.attr.type == S_IFDIR || j->e.attr.nlink > 1 ||
		    (wb != NULL && (j->hold == 0 || spn_wb_detach(j, wb) < 0)))
			return 0;
		spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel);
		spn_mirror_remove(j->m, j->rel);
		j->d->removals++;
		break;
	}
	case SPN_OP_RMDIR:
		if (!have || j->e.attr.type != S_IFDIR || !(j->e.flags & SPN_EF_DIR_COMPLETE) ||
		    spn_index_foreach_child(j->d->idx, (uint16_t)j->m->id, j->rel, has_child,
					    NULL) != 0)
			return 0;
		spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel);
		spn_mirror_remove(j->m, j->rel);
		j->d->removals++;
		break;
	case SPN_OP_RENAME: {
		char parent2[SPN_PATH_MAX];
		struct spn_entry pe2;
		struct spn_wb *wb = spn_wb_find(j->d, j->m, j->rel, 0);
		int have2 = spn_job_index_get(j, j->rel2, &e2) == 0;

		/* A file whose store is on its way: only held, as unlink
		 * (`cmd >x.tmp && mv x.tmp x`); it is stored under its old
		 * name, which the rename then moves. */
		if (!have || j->e.attr.type == S_IFDIR || strcmp(j->rel, j->rel2) == 0 ||
		    (wb != NULL && (j->hold == 0 || wb->writers > 0)))
			return 0;
		if (have2 && (e2.attr.type == S_IFDIR || e2.attr.nlink > 1 ||
			      (e2.flags & SPN_EF_WRITEBACK) ||
			      spn_wb_find(j->d, j->m, j->rel2, 0) != NULL))
			return 0;
		spn_parent_of(j->rel2, parent2, sizeof(parent2));
		if (!have2 && !(spn_job_index_get(j, parent2, &pe2) == 0 &&
				pe2.attr.type == S_IFDIR && (pe2.flags & SPN_EF_DIR_COMPLETE)))
			return 0;
		if (wb != NULL && spn_wb_detach(j, wb) < 0)
			return 0;
		spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel2);
		spn_mirror_remove(j->m, j->rel2);
		j->d->removals++;
		rc = spn_index_rename_tree(j->d->idx, (uint16_t)j->m->id, j->rel, j->rel2);
		if (rc < 0 || spn_mirror_rename(j->m, j->rel, j->rel2) < 0) {
			spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel2);
			spn_mirror_remove(j->m, j->rel2);
		} else if (spn_job_index_get(j, j->rel2, &e2) == 0) {
			e2.validated_ns = 0; /* its ctime changes */
			spn_job_index_put(j, j->rel2, &e2);
		}
		break;
	}
	default:
		return 0;
	}
	if (v == NULL)
		v = spn_validation_new(j);
	if (v == NULL) {
		/* The mirror changed already: the server must follow now. */
		spn_invalidate_parent(j, j->rel);
		if (j->req.op == SPN_OP_RENAME)
			spn_invalidate_parent(j, j->rel2);
		spn_mutate_issue(j);
		return 1;
	}
	/* The listing shows our change already; the directory's attributes
	 * come with the server's reply (spn_spec_mut_done). */
	spn_dir_pending(j, j->rel, 1);
	if (j->req.op == SPN_OP_RENAME)
		spn_dir_pending(j, j->rel2, 1);
	v->mq_barrier = 1;
	outcome_start(j->d, j->req.token);
	j->rep.spec = SPN_SPEC_PREDICTED | (v->join != 0 ? SPN_SPEC_JOINED : 0);
	spn_job_reply(j, 0);
	mutation_go(v);
	return 1;
}

/* A re-execution after a rollback asks how its predicted mutation went. */
int
spn_replay(struct spn_job *j)
{
	struct spn_outcome *o = outcome_find(j->d, j->req.token);
	struct spn_entry e;

	if (o == NULL || !o->done)
		return 0; /* unknown (an older daemon): do it now */
	if (o->status == 0 && j->req.op == SPN_OP_MKDIR && spn_job_index_get(j, j->rel, &e) == 0)
		j->rep.attr = e.attr;
	spn_job_reply(j, o->status);
	return 1;
}
