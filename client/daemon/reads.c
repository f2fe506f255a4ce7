/*
 * daemon/ops.c: what each request does -- close-to-open consistency, the
 * attribute cache, directory listings, whole-file fetch and write-back.
 *
 * Every request is a job. A step that needs the server records itself as
 * job->issue (so it can be sent again after a reconnect) and job->done (run
 * with the result). Idempotent calls (GETATTR, READDIR, READ, WRITE with
 * the whole content, COMMIT) are simply re-sent when a session is lost;
 * the others (CREATE, MKDIR, REMOVE, RMDIR, RENAME, LINK, SYMLINK) are
 * first *verified*: after a reconnect we look at the server to see whether
 * the call took effect before sending it again.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"
#include "client/path.h"

#define MAX_FETCH_ATTEMPTS 4
#define MAX_SYMLINK_HOPS 40

static void job_free(struct spn_job *j);
static void job_cb(int err, struct spn_nfs_res *res, void *arg);
static void path_gate(struct spn_job *j);
static void gate_restore(struct spn_job *j);

/* ------------------------------------------------------------ helpers */

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

static void
attr_to_wire(struct spn_attr *w, const struct spn_nattr *a)
{
	w->type = a->type;
	w->mode = a->mode & 07777;
	w->nlink = a->nlink;
	w->uid = a->uid;
	w->gid = a->gid;
	w->size = a->size;
	w->used = a->used;
	w->rdev = a->rdev;
	w->fsid = a->fsid;
	w->fileid = a->fileid;
	w->atime.sec = a->atime.sec;
	w->atime.nsec = a->atime.nsec % 1000000000u;
	w->mtime.sec = a->mtime.sec;
	w->mtime.nsec = a->mtime.nsec % 1000000000u;
	w->ctime.sec = a->ctime.sec;
	w->ctime.nsec = a->ctime.nsec % 1000000000u;
}

/* Which mount a client path is on, and the path relative to its root. */
static struct spn_mount *
find_mount(struct spn_daemon *d, const char *path, char *rel, size_t len, int *err)
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

static void
parent_of(const char *rel, char *out, size_t len)
{
	const char *s = strrchr(rel, '/');

	if (s == NULL || s == rel)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(s - rel), rel);
}

static int
index_get(struct spn_job *j, const char *rel, struct spn_entry *e)
{
	return spn_index_get(j->d->idx, (uint16_t)j->m->id, rel, e);
}

static int
index_put(struct spn_job *j, const char *rel, const struct spn_entry *e)
{
	int rc = spn_index_put(j->d->idx, (uint16_t)j->m->id, rel, e);

	if (rc < 0)
		spn_err("index: cannot record %s: %s", rel, strerror(-rc));
	return rc;
}

/* A parent's listing is no longer known complete after our own change to
 * it, and its attributes (mtime, nlink) changed: look again next time. */
static void
invalidate_parent(struct spn_job *j, const char *rel)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry pe;

	parent_of(rel, parent, sizeof(parent));
	if (index_get(j, parent, &pe) == 0) {
		pe.flags &= (uint8_t)~SPN_EF_DIR_COMPLETE;
		pe.validated_ns = 0;
		index_put(j, parent, &pe);
	}
}

static void
entry_from_attr(struct spn_entry *e, const struct spn_nattr *a, int64_t now,
		const struct spn_ac_settings *ac)
{
	memset(e, 0, sizeof(*e));
	e->state = SPN_ENT_STUB;
	e->attr = *a;
	e->validated_ns = now;
	e->attr_timeo_ns = (int64_t)(a->type == S_IFDIR ? ac->acdirmin : ac->acregmin) * 1000000000LL;
	e->last_use_ns = now;
}

/* ------------------------------------------------------------ jobs */

static struct spn_wb *wb_find(struct spn_daemon *d, struct spn_mount *m, const char *rel, int create);
static void wb_kick(struct spn_daemon *d, struct spn_wb *wb);

/* ------------------------------------------------------------ foreign callers */

/*
 * A caller with other ids than the daemon's user (daemon/cred.c) cannot
 * open the private mirror. Its OPEN (and READDIR: the listed directory)
 * reply carries the mirror file opened
 * by the daemon (SCM_RIGHTS), with the access mode the caller asked for and
 * nothing more: the server allowed it (cred_check_done, or its refusal of
 * CREATE/SETATTR), so the fd carries the caller's rights. Mirror I/O never
 * follows a symlink nor blocks on a special file.
 */
static void
cred_send_open(struct spn_job *j, const unsigned char *buf, size_t n)
{
	int fd = j->req.op == SPN_OP_READDIR
			 ? spn_mirror_open_dir(j->m, j->rel)
			 : spn_mirror_open(j->m, j->rel,
					   (int)j->req.flags & (O_ACCMODE | O_APPEND | O_SYNC | O_DSYNC), 0);
	int sent = 0;

	if (fd < 0) {
		spn_err("open %s for pid %d: %s", j->rep.path, (int)j->cl->pid, strerror(-fd));
	} else {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && (j->req.flags & O_NONBLOCK))
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		/* The shim waits for this reply alone: nothing is queued
		 * before it, so the fd travels with its first byte. */
		if (j->cl->out_len == 0)
			sent = spn_cred_send_fd(j->cl, buf, n, fd);
		close(fd);
	}
	if (sent < 0) {
		spn_err("reply to pid %d: %s", (int)j->cl->pid, strerror(-sent));
		sent = 0;
	}
	if ((size_t)sent < n)
		spn_client_send(j->d, j->cl, buf + sent, n - (size_t)sent);
}

/* What a foreign caller's request needs from the server first, with its
 * own ids: the walk to the path (search rights on every directory, which
 * the daemon's cached handles would skip) and the access the op implies.
 * 0: nothing to check (the server decides the op itself). */
static int
cred_check_what(const struct spn_job *j, char *path, size_t len, int *mode)
{
	uint32_t acc = j->req.flags & O_ACCMODE;

	snprintf(path, len, "%s", j->rel);
	*mode = 0;
	switch (j->req.op) {
	case SPN_OP_STAT:
	case SPN_OP_READLINK:
	case SPN_OP_STATFS:
		return 1;
	case SPN_OP_ACCESS:
		*mode = (int)(j->req.mode & 7);
		return 1;
	case SPN_OP_READDIR:
		*mode = R_OK;
		return 1;
	case SPN_OP_OPEN:
		if (acc != O_WRONLY)
			*mode |= R_OK;
		if (acc != O_RDONLY || (j->req.flags & O_TRUNC))
			*mode |= W_OK;
		return 1;
	case SPN_OP_SETATTR:
	case SPN_OP_MKDIR:
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK:
	case SPN_OP_RENAME:
	case SPN_OP_LINK:
	case SPN_OP_SYMLINK:
		/* The server checks the op; the walk to its directory is ours. */
		parent_of(j->rel, path, len);
		*mode = X_OK;
		return 1;
	}
	return 0;
}

static void job_dispatch(struct spn_job *j);
static int job_call(struct spn_job *j, spn_job_fn issue, spn_job_fn done, int nonidem);
static void job_cb(int err, struct spn_nfs_res *res, void *arg);

static void
cred_check_done(struct spn_job *j)
{
	int err = j->err;

	if (j->req.op == SPN_OP_ACCESS || (err < 0 && err != -ENOENT)) {
		spn_job_reply(j, err);
		return;
	}
	/* Allowed, or not there: the ordinary handling answers (or
	 * creates, with the caller's ids: the server decides). */
	j->err = 0;
	job_dispatch(j);
}

static void
cred_check_issue(struct spn_job *j)
{
	char path[SPN_PATH_MAX];
	int mode;

	if (job_call(j, cred_check_issue, cred_check_done, 0))
		return;
	cred_check_what(j, path, sizeof(path), &mode);
	spn_nfs_access(j->m->nfs, path, mode, job_cb, j);
}

void
spn_job_reply(struct spn_job *j, int status)
{
	unsigned char buf[SPN_MSG_MAX];
	ssize_t n;

	if (j->cl != NULL && !j->cl->dead) {
		j->rep.op = j->req.op;
		j->rep.seq = j->req.seq;
		j->rep.status = status;
		if (j->remote)
			j->rep.spec |= SPN_SPEC_REMOTE;
		n = spn_proto_encode_reply(&j->rep, buf, sizeof(buf));
		if (n < 0) {
			spn_err("cannot encode reply to %s: %s",
				spn_proto_op_name(j->req.op) ?: "?", strerror((int)-n));
			j->rep.status = -EIO;
			n = spn_proto_encode_reply(&j->rep, buf, sizeof(buf));
		}
		if (n > 0 && status == 0 && j->cred.foreign > 0 &&
		    (j->req.op == SPN_OP_OPEN || j->req.op == SPN_OP_READDIR))
			cred_send_open(j, buf, (size_t)n);
		else if (n > 0)
			spn_client_send(j->d, j->cl, buf, (size_t)n);
	}
	spn_debug("%s %s -> %d%s (pid %d)", spn_proto_op_name(j->req.op) ?: "?", j->req.path, status,
		  j->rep.spec & SPN_SPEC_PREDICTED ? " predicted" : j->remote ? " remote" : "",
		  j->cl != NULL ? (int)j->cl->pid : 0);
	job_free(j);
}

static void validated(struct spn_job *j);
static void mq_pump(struct spn_mount *m);

static void
job_free(struct spn_job *j)
{
	struct spn_mount *m = j->m;

	if (j->mq_active) {
		j->mq_active = 0;
		if (--j->mq_m->active == 0)
			mq_pump(j->mq_m);
	}
	if (m != NULL && m->mq_running == j) {
		m->mq_running = NULL;
		mq_pump(m);
	}
	if (j->owner != NULL)
		validated(j);
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
 * Order around predicted mutations. A predicted mutation (mq_barrier) is
 * answered before the server has it; the server must still see the
 * client's calls in the client's order, or a later call (a store into a
 * directory predicted created, a validation) would run before it. So a
 * barrier waits until every job admitted before it has finished, runs
 * alone, and jobs arriving meanwhile wait in line behind it.
 */
static void
mq_pump(struct spn_mount *m)
{
	struct spn_job *j;

	if (m->pumping) {
		m->pump_again = 1;
		return;
	}
	m->pumping = 1;
	do {
		m->pump_again = 0;
		while (m->mq_running == NULL && (j = m->mq_first) != NULL) {
			if (j->mq_barrier && m->active > 0)
				break;
			m->mq_first = j->mq_next;
			if (m->mq_first == NULL)
				m->mq_last = NULL;
			j->mq_next = NULL;
			if (j->mq_barrier) {
				m->mq_running = j;
			} else {
				j->mq_active = 1;
				j->mq_m = m;
				m->active++;
			}
			j->issue(j);
		}
	} while (m->pump_again);
	m->pumping = 0;
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
static int64_t
soft_wait_ns(const struct spn_daemon *d, const struct spn_mount *m)
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
		j->deadline_ns = now + (j->cl != NULL ? soft_wait_ns(d, m)
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
 * predicted mutation. */
static int
job_call(struct spn_job *j, spn_job_fn issue, spn_job_fn done, int nonidem)
{
	struct spn_mount *m = j->m;

	j->issue = issue;
	j->done = done;
	j->nonidem = nonidem;
	j->remote = 1;
	if (!j->mq_active && m->mq_running != j) {
		if (j->mq_barrier || m->mq_first != NULL || m->mq_running != NULL) {
			if (m->mq_last != NULL)
				m->mq_last->mq_next = j;
			else
				m->mq_first = j;
			m->mq_last = j;
			mq_pump(m);
			return 1;
		}
		j->mq_active = 1;
		j->mq_m = m;
		m->active++;
	}
	if (spn_nfs_state(m->nfs) == SPN_NFS_UP) {
		/* Nothing owed by the server until now: its clock starts. */
		if (spn_nfs_stats(m->nfs)->inflight == 0)
			m->heard_ns = spn_mono_ns();
		/* The caller's ids on the wire (a foreign job runs alone:
		 * mq_barrier); a no-op for the daemon's own user. */
		spn_nfs_set_cred(m->nfs, j->cred.foreign > 0 ? &j->cred.nfs : NULL);
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

static void
job_cb(int err, struct spn_nfs_res *res, void *arg)
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
			if (++j->attempts > 3 ||
			    (j->cl != NULL && soft_mount(j->d) &&
			     spn_mono_ns() - m->heard_ns > (int64_t)j->d->pol.timeo * 1000000000LL)) {
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
	j->done(j);
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
static const char *
down_reason(struct spn_mount *m)
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
static int
unresponsive(const struct spn_daemon *d, struct spn_mount *m, int64_t now)
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
		down_reason(m), what);
	if (soft_mount(j->d))
		m->soft_down = 1;
	spn_job_reply(j, -EIO);
}

/* A connect attempt failed: on a soft mount known down, the programs
 * waiting for it hear so now, not each after a full timeo. */
void
spn_mount_failed(struct spn_daemon *d, struct spn_mount *m)
{
	struct spn_job **pp = &m->waiting;

	if (!soft_mount(d) || !m->soft_down)
		return;
	while (*pp != NULL) {
		struct spn_job *j = *pp;

		if (j->cl != NULL) {
			*pp = j->next;
			j->wb = NULL;
			soft_fail(j, m, "");
			continue;
		}
		pp = &j->next;
	}
}

/* While down: fail (soft) programs' jobs that waited too long for the
 * server; hard leaves them waiting. */
void
spn_mount_tick(struct spn_daemon *d, struct spn_mount *m)
{
	struct spn_job **pp = &m->waiting;
	int64_t now = spn_mono_ns();

	if (!soft_mount(d)) {
		struct spn_job *j;

		for (j = m->waiting; j != NULL && !m->said_down; j = j->next) {
			if (j->cl != NULL && j->deadline_ns != 0 && now >= j->deadline_ns) {
				spn_err("server %s (%s) not responding (%s), still trying (hard mount)",
					m->url, m->prefix, down_reason(m));
				m->said_down = 1;
			}
		}
		return;
	}
	while (*pp != NULL) {
		struct spn_job *j = *pp;

		if (j->deadline_ns != 0 && now >= j->deadline_ns && j->cl != NULL) {
			*pp = j->next;
			if (j->wb != NULL) {
				/* The write-back itself goes on. */
				j->wb = NULL;
			}
			soft_fail(j, m, "");
			continue;
		}
		pp = &j->next;
	}
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
		if (unresponsive(d, &d->mounts[i], now))
			down = &d->mounts[i];
	if (down == NULL)
		return;
	/* Collect first, answer after: an answer may close a client or
	 * let queued jobs run, which changes these lists. */
	for (wb = d->wbs; wb != NULL; wb = wb->next) {
		struct spn_job **pp = &wb->waiters;

		if (!unresponsive(d, wb->m, now))
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

/* ------------------------------------------------------------ resolve */

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
unknown_fileid(struct spn_entry *e, const struct spn_nattr *fresh)
{
	if (e->attr.fileid != 0)
		return;
	e->attr.fileid = fresh->fileid;
	if (e->content_fileid == 0)
		e->content_fileid = fresh->fileid;
}

/*
 * The entry as it is now. resolve() read it before the call, which may
 * have waited in line behind predicted mutations (or on the wire) while
 * they changed it: clearing SPN_EF_CREATED_LOCALLY, setting DIRTY, a new
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
	j->have_e = index_get(j, j->rel, &cur) == 0;
	if (!j->have_e)
		return;
	j->e = cur;
	if (looked_up) {
		j->e.fh_len = fh_len;
		memcpy(j->e.fh, fh, fh_len);
	}
}

static void
resolve_done(struct spn_job *j)
{
	struct spn_nattr fresh;
	int64_t now = spn_now_ns();

	resolve_reread(j);
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
		entry_from_attr(&j->e, &fresh, now, &j->d->ac);
		j->e.fh_len = fh_len;
		memcpy(j->e.fh, fh, fh_len);
		j->have_e = 1;
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
			entry_from_attr(&j->e, &fresh, now, &j->d->ac);
			j->e.fh_len = fh_len;
			memcpy(j->e.fh, fh, fh_len);
		}
	}
	j->e.last_use_ns = now;
	index_put(j, j->rel, &j->e);
	j->err = 0;
	j->then(j);
}

static void resolve_path_issue(struct spn_job *j);
static void walk_issue(struct spn_job *j);

/* A handle we may use for path: the root's, or one recorded in the index. */
static int
known_fh(struct spn_job *j, const char *path, uint8_t *fh, uint8_t *len)
{
	struct spn_entry e;

	if (strcmp(path, "/") == 0)
		return spn_nfs_root_fh(j->m->nfs, fh, len) == 0;
	if (index_get(j, path, &e) < 0 || e.fh_len == 0 || e.attr.type != S_IFDIR)
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

		parent_of(j->walk, parent, sizeof(parent));
		if (index_get(j, parent, &e) == 0) {
			e.fh_len = 0;
			index_put(j, parent, &e);
		}
		resolve_path_issue(j);
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
			 * client's to follow (path_gate), never the server's. */
			entry_from_attr(&e, &j->res->attr, now, &j->d->ac);
			e.fh_len = j->res->fh_len;
			memcpy(e.fh, j->res->fh, j->res->fh_len);
			index_put(j, j->walk, &e);
			if (j->gating)
				gate_restore(j);
			path_gate(j);
			return;
		}
		j->err = -ENOTDIR;
		resolve_done(j);
		return;
	}
	if (index_get(j, j->walk, &e) == 0)
		spn_consist_after_revalidate(&j->d->ac, &e, &j->res->attr, now);
	else
		entry_from_attr(&e, &j->res->attr, now, &j->d->ac);
	e.fh_len = j->res->fh_len;
	memcpy(e.fh, j->res->fh, j->res->fh_len);
	index_put(j, j->walk, &e);
	walk_issue(j);
}

static void
walk_issue(struct spn_job *j)
{
	char known[SPN_PATH_MAX];
	uint8_t fh[SPN_FH_MAX], len = 0;
	const char *name;
	size_t kl;

	if (job_call(j, walk_issue, walk_done, 0))
		return;
	if (strcmp(j->rel, "/") == 0) {
		if (spn_nfs_root_fh(j->m->nfs, fh, &len) < 0) {
			resolve_path_issue(j);
			return;
		}
		snprintf(j->walk, sizeof(j->walk), "/");
		spn_nfs_getattr_fh(j->m->nfs, fh, len, job_cb, j);
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
		resolve_path_issue(j);
		return;
	}
	/* The next component below it. */
	kl = strcmp(known, "/") == 0 ? 0 : strlen(known);
	name = j->rel + kl + 1;
	snprintf(j->walk, sizeof(j->walk), "%.*s", (int)(strcspn(name, "/") + (size_t)(name - j->rel)),
		 j->rel);
	snprintf(known, sizeof(known), "%.*s", (int)strcspn(name, "/"), name);
	spn_nfs_lookup_fh(j->m->nfs, fh, len, known, job_cb, j);
}

static void
resolve_path_issue(struct spn_job *j)
{
	if (job_call(j, resolve_path_issue, resolve_done, 0))
		return;
	spn_nfs_getattr(j->m->nfs, j->rel, 1, job_cb, j);
}

static void
resolve_issue(struct spn_job *j)
{
	if (spn_nfs_version(j->m->nfs) == 3) {
		j->attempts = 0;
		walk_issue(j);
		return;
	}
	resolve_path_issue(j);
}

static void
resolve(struct spn_job *j, int force, spn_job_fn then)
{
	int64_t now = spn_now_ns();

	j->then = then;
	j->have_e = index_get(j, j->rel, &j->e) == 0;
	if (!j->have_e)
		memset(&j->e, 0, sizeof(j->e));
	j->err = 0;
	if (j->have_e && (j->e.flags & SPN_EF_DIRTY)) {
		/* Our own writes not yet on the server: its view is older. */
		struct spn_wb *wb = wb_find(j->d, j->m, j->rel, 0);

		if (wb != NULL && (wb->writers > 0 || wb->running)) {
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

		parent_of(j->rel, parent, sizeof(parent));
		if (index_get(j, parent, &pe) == 0 &&
		    spn_consist_lookup(&j->d->ac, &pe, 0, now) == SPN_LOOKUP_NEGATIVE) {
			j->d->negative_hits++;
			j->err = -ENOENT;
			then(j);
			return;
		}
	}
	resolve_issue(j);
}

/* ------------------------------------------------------------ stat, access */

/*
 * j->rel is a symlink the request follows (stat): followed on the client's
 * side like one above the name (path_gate), never by the server: the
 * request starts over on the target, or the client hears a redirect.
 */
static void gate_follow(struct spn_job *j, const char *target);
static void gate_readlink_issue(struct spn_job *j);

static void
follow_last(struct spn_job *j)
{
	char target[SPN_PATH_MAX];
	int n = snprintf(j->gate_rel, sizeof(j->gate_rel), "%s/", j->rel);

	if (n < 0 || (size_t)n >= sizeof(j->gate_rel)) {
		spn_job_reply(j, -ENAMETOOLONG);
		return;
	}
	j->gating = 1;
	if (spn_consist_content_valid(&j->e) && !spn_mirror_is_stub(j->m, j->rel) &&
	    spn_mirror_readlink(j->m, j->rel, target, sizeof(target)) > 0) {
		gate_follow(j, target);
		return;
	}
	gate_readlink_issue(j);
}

static void
stat_resolved(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (j->e.attr.type == S_IFLNK && !(j->req.flags & SPN_F_NOFOLLOW)) {
		follow_last(j);
		return;
	}
	attr_to_wire(&j->rep.attr, &j->e.attr);
	if (j->e.flags & SPN_EF_DIRTY) {
		/* Local writes not yet written back: report the local size. */
		struct stat st;

		if (spn_mirror_lstat(j->m, j->rel, &st) == 0 && S_ISREG(st.st_mode)) {
			j->rep.attr.size = (uint64_t)st.st_size;
			j->rep.attr.mtime.sec = st.st_mtim.tv_sec;
			j->rep.attr.mtime.nsec = (uint32_t)st.st_mtim.tv_nsec;
		}
	}
	spn_job_reply(j, 0);
}

static int
in_groups(pid_t pid, gid_t want)
{
	char path[64], line[1024];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (p = line + 7;; p = end) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (g == want)
				found = 1;
		}
		break;
	}
	fclose(f);
	return found;
}

/* access(2) from the (fresh) attributes, with the caller's credentials as
 * the kernel saw them (SO_PEERCRED). The server still has the last word on
 * every real operation. */
static void
access_resolved(struct spn_job *j)
{
	uint32_t mode = j->e.attr.mode, want = j->req.mode & 7, have;
	const struct spn_client *cl = j->cl;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (want == 0) {
		spn_job_reply(j, 0);
		return;
	}
	if (j->cred.foreign > 0) {
		/* The server answered already, with the caller's ids
		 * (cred_check_done); this is never reached. */
		spn_job_reply(j, 0);
		return;
	}
	if (cl == NULL || cl->uid == 0) {
		/* root: everything but X needs some x bit (or a directory). */
		have = 6 | ((mode & 0111) || j->e.attr.type == S_IFDIR ? 1 : 0);
	} else if (cl->uid == j->e.attr.uid) {
		have = (mode >> 6) & 7;
	} else if (cl->gid == j->e.attr.gid || in_groups(cl->pid, j->e.attr.gid)) {
		have = (mode >> 3) & 7;
	} else {
		have = mode & 7;
	}
	spn_job_reply(j, (want & ~have) ? -EACCES : 0);
}

/* ------------------------------------------------------------ readdir */

struct listing {
	struct spn_job *j;
	struct spn_nfs_res *res;
	char **stale; /* index children the server no longer lists */
	size_t nstale, cap;
};

static int
listing_find(const struct spn_nfs_res *res, const char *name)
{
	size_t i;

	/* Listings are small next to a round trip; a hash would not show. */
	for (i = 0; i < res->nents; i++)
		if (strcmp(res->ents[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
listing_collect_stale(const char *name, const struct spn_entry *e, void *arg)
{
	struct listing *l = arg;

	if (listing_find(l->res, name) >= 0 || (e->flags & SPN_EF_DIRTY))
		return 0;
	if (l->nstale == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		char **p = realloc(l->stale, ncap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		l->stale = p;
		l->cap = ncap;
	}
	l->stale[l->nstale] = strdup(name);
	if (l->stale[l->nstale] == NULL)
		return -ENOMEM;
	l->nstale++;
	return 0;
}

static int
child_path(const char *dir, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Bring the mirror directory and the index in line with a listing. */
static int
apply_listing(struct spn_job *j, struct spn_nfs_res *res)
{
	struct spn_daemon *d = j->d;
	struct listing l = { .j = j, .res = res };
	int64_t now = spn_now_ns();
	char crel[SPN_PATH_MAX];
	struct stat dst;
	size_t i;
	int rc;

	if (strcmp(j->rel, "/") != 0) {
		rc = spn_mirror_mkdir(j->m, j->rel);
		if (rc == -ENOENT) {
			rc = spn_mirror_mkdirs(j->m, j->rel);
			if (rc == 0)
				rc = spn_mirror_mkdir(j->m, j->rel);
		}
		if (rc < 0 && rc != -EEXIST)
			return rc;
		/* A stub or file left where the directory now is: replace. */
		if (spn_mirror_lstat(j->m, j->rel, &dst) == 0 && !S_ISDIR(dst.st_mode)) {
			spn_mirror_remove(j->m, j->rel);
			rc = spn_mirror_mkdir(j->m, j->rel);
			if (rc < 0)
				return rc;
		}
	}
	rc = spn_index_foreach_child(d->idx, (uint16_t)j->m->id, j->rel, listing_collect_stale, &l);
	if (rc < 0)
		goto out;
	rc = spn_index_begin(d->idx);
	if (rc < 0)
		goto out;
	for (i = 0; i < l.nstale; i++) {
		if (child_path(j->rel, l.stale[i], crel, sizeof(crel)) < 0)
			continue;
		spn_debug("listing %s: %s is gone", j->rel, l.stale[i]);
		spn_index_del_tree(d->idx, (uint16_t)j->m->id, crel);
		spn_mirror_remove(j->m, crel);
	}
	for (i = 0; i < res->nents; i++) {
		const struct spn_nfs_dirent *de = &res->ents[i];
		struct spn_entry ce;
		struct stat st;
		int have;

		if (child_path(j->rel, de->name, crel, sizeof(crel)) < 0 ||
		    strlen(de->name) > NAME_MAX || strchr(de->name, '/') != NULL ||
		    strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0)
			continue;
		have = spn_index_get(d->idx, (uint16_t)j->m->id, crel, &ce) == 0;
		if (de->attr.type == 0)
			continue; /* no attributes came with it */
		if (have && de->attr.fileid == 0) {
			/* A listing without fileids (NFSv4 through libnfs 4.0):
			 * keep the one a GETATTR told us. */
			struct spn_nfs_dirent *w = (struct spn_nfs_dirent *)de;

			w->attr.fileid = ce.attr.fileid;
		}
		if (have && ce.attr.fileid == de->attr.fileid && ce.attr.type == de->attr.type) {
			if (ce.flags & SPN_EF_DIRTY)
				continue;
			/* READDIRPLUS attributes are as good as a GETATTR. */
			spn_consist_after_revalidate(&d->ac, &ce, &de->attr, now);
			if (de->fh_len > 0) {
				ce.fh_len = de->fh_len;
				memcpy(ce.fh, de->fh, de->fh_len);
			}
			/* Known from a lookup but never materialised (or lost
			 * from the mirror): the listing must show it. */
			if (spn_mirror_lstat(j->m, crel, &st) < 0) {
				if (de->attr.type == S_IFDIR)
					spn_mirror_mkdir(j->m, crel);
				else
					spn_mirror_stub(j->m, d->tmpdir, crel, de->attr.type);
				if (ce.state == SPN_ENT_CACHED && de->attr.type != S_IFDIR)
					ce.state = SPN_ENT_STUB;
			}
			spn_index_put(d->idx, (uint16_t)j->m->id, crel, &ce);
			continue;
		}
		if (have) {
			if (ce.flags & SPN_EF_DIRTY)
				continue;
			/* Another object under this name: drop the old subtree. */
			spn_debug("listing %s: %s is another object", j->rel, crel);
			spn_index_del_tree(d->idx, (uint16_t)j->m->id, crel);
			if (ce.attr.type == S_IFDIR)
				spn_mirror_remove(j->m, crel);
		}
		entry_from_attr(&ce, &de->attr, now, &d->ac);
		ce.fh_len = de->fh_len;
		memcpy(ce.fh, de->fh, de->fh_len);
		if (de->attr.type == S_IFDIR) {
			if (spn_mirror_lstat(j->m, crel, &st) == 0 && !S_ISDIR(st.st_mode))
				spn_mirror_remove(j->m, crel);
			rc = spn_mirror_mkdir(j->m, crel);
			if (rc < 0 && rc != -EEXIST)
				continue;
		} else if (spn_mirror_stub(j->m, d->tmpdir, crel, de->attr.type) < 0) {
			continue;
		}
		rc = spn_index_put(d->idx, (uint16_t)j->m->id, crel, &ce);
		if (rc < 0)
			spn_err("index: cannot record %s: %s", crel, strerror(-rc));
	}
	/* The listing is complete as of the directory's attributes in j->e
	 * (taken just before it): a change since shows as a new mtime. */
	j->e.state = SPN_ENT_CACHED;
	j->e.flags |= SPN_EF_DIR_COMPLETE;
	spn_consist_set_content(&j->e);
	spn_index_put(d->idx, (uint16_t)j->m->id, j->rel, &j->e);
	rc = spn_index_commit(d->idx);
out:
	for (i = 0; i < l.nstale; i++)
		free(l.stale[i]);
	free(l.stale);
	return rc;
}

static void readdir_issue(struct spn_job *j);

static void
readdir_done(struct spn_job *j)
{
	int rc;

	if (j->err == -ESTALE && j->attempts++ == 0) {
		readdir_issue(j); /* by path this time */
		return;
	}
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	rc = apply_listing(j, j->res);
	if (rc < 0) {
		spn_err("readdir %s: cannot update the mirror: %s", j->req.path, strerror(-rc));
		spn_job_reply(j, -EIO);
		return;
	}
	j->then(j);
}

static void
readdir_issue(struct spn_job *j)
{
	uint8_t fh[SPN_FH_MAX], len;

	if (job_call(j, readdir_issue, readdir_done, 0))
		return;
	if (spn_nfs_has_fh(j->m->nfs) && j->attempts == 0) {
		if (strcmp(j->rel, "/") == 0 && spn_nfs_root_fh(j->m->nfs, fh, &len) == 0) {
			spn_nfs_readdir_fh(j->m->nfs, fh, len, job_cb, j);
			return;
		}
		if (j->e.fh_len > 0) {
			spn_nfs_readdir_fh(j->m->nfs, j->e.fh, j->e.fh_len, job_cb, j);
			return;
		}
	}
	spn_nfs_readdir(j->m->nfs, j->rel, job_cb, j);
}

static int
dir_listing_valid(struct spn_job *j)
{
	const struct spn_entry *e = &j->e;

	return (e->flags & SPN_EF_DIR_COMPLETE) && e->content_mtime.sec == e->attr.mtime.sec &&
	       e->content_mtime.nsec == e->attr.mtime.nsec &&
	       e->content_ctime.sec == e->attr.ctime.sec &&
	       e->content_ctime.nsec == e->attr.ctime.nsec &&
	       e->content_fileid == e->attr.fileid;
}

static void
reply_mirror(struct spn_job *j)
{
	int rc = spn_mirror_path(j->m, j->rel, j->rep.path, sizeof(j->rep.path));

	if (rc < 0) {
		spn_job_reply(j, rc);
		return;
	}
	attr_to_wire(&j->rep.attr, &j->e.attr);
	spn_job_reply(j, 0);
}

/* j->e is fresh: make sure its listing is in the mirror, then j->then. */
static void
ensure_listing(struct spn_job *j, spn_job_fn then)
{
	struct stat st;

	j->then = then;
	if (dir_listing_valid(j) && spn_mirror_lstat(j->m, j->rel, &st) == 0 && S_ISDIR(st.st_mode)) {
		j->d->cache_hits++;
		then(j);
		return;
	}
	readdir_issue(j);
}

static void
readdir_resolved(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (j->e.attr.type != S_IFDIR) {
		spn_job_reply(j, -ENOTDIR);
		return;
	}
	ensure_listing(j, reply_mirror);
}

/* ------------------------------------------------------------ readlink */

static void readlink_issue(struct spn_job *j);

static void
readlink_done(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (j->res->target == NULL || j->res->target[0] == '\0' ||
	    strlen(j->res->target) >= sizeof(j->rep.path)) {
		spn_job_reply(j, j->res->target == NULL || j->res->target[0] == '\0' ? -EIO
										   : -ENAMETOOLONG);
		return;
	}
	snprintf(j->rep.path, sizeof(j->rep.path), "%s", j->res->target);
	/* Keep the target in the mirror: the kernel can follow it there. */
	if (spn_mirror_symlink(j->m, j->d->tmpdir, j->rel, j->res->target) == 0) {
		j->e.state = SPN_ENT_CACHED;
		spn_consist_set_content(&j->e);
		index_put(j, j->rel, &j->e);
	}
	spn_job_reply(j, 0);
}

static void
readlink_issue(struct spn_job *j)
{
	if (job_call(j, readlink_issue, readlink_done, 0))
		return;
	spn_nfs_readlink(j->m->nfs, j->rel, job_cb, j);
}

static void
readlink_resolved(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (j->e.attr.type != S_IFLNK) {
		spn_job_reply(j, -EINVAL);
		return;
	}
	if (spn_consist_content_valid(&j->e) && !spn_mirror_is_stub(j->m, j->rel) &&
	    spn_mirror_readlink(j->m, j->rel, j->rep.path, sizeof(j->rep.path)) > 0) {
		j->d->cache_hits++;
		spn_job_reply(j, 0);
		return;
	}
	readlink_issue(j);
}

/* ------------------------------------------------------------ fetch */

static void fetch_issue(struct spn_job *j);

static int
evict_one(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct spn_daemon *d = arg;
	struct spn_wb *wb;

	if (mount >= d->nmounts)
		return SPN_INDEX_KEEP;
	wb = wb_find(d, &d->mounts[mount], path, 0);
	if (wb != NULL)
		return SPN_INDEX_KEEP;
	if (spn_mirror_stub(&d->mounts[mount], d->tmpdir, path, e->attr.type) < 0)
		return SPN_INDEX_KEEP;
	return SPN_INDEX_EVICTED;
}

static void
enforce_cache_cap(struct spn_daemon *d)
{
	uint64_t entries, bytes, dirty, freed = 0;

	if (spn_index_stats(d->idx, &entries, &bytes, &dirty) < 0 || bytes <= d->pol.cache_max)
		return;
	/* Free down to 90% so that eviction does not run at every fetch. */
	spn_index_lru(d->idx, bytes - d->pol.cache_max + d->pol.cache_max / 10, &freed, evict_one, d);
	spn_info("cache over %llu bytes: evicted %llu bytes",
		 (unsigned long long)d->pol.cache_max, (unsigned long long)freed);
}

static void
fetch_done(struct spn_job *j)
{
	const struct spn_nattr *post;
	int rc = 0;

	close(j->tmpfd);
	j->tmpfd = -1;
	if (j->err < 0) {
		if (j->err == -EAGAIN && ++j->attempts < MAX_FETCH_ATTEMPTS) {
			unlink(j->tmp);
			j->tmp[0] = '\0';
			fetch_issue(j);
			return;
		}
		unlink(j->tmp);
		j->tmp[0] = '\0';
		j->then(j);
		return;
	}
	post = &j->res->attr;
	/* Changed while we read it: the copy may mix two versions. */
	if ((post->mtime.sec != j->e.attr.mtime.sec || post->mtime.nsec != j->e.attr.mtime.nsec ||
	     post->size != j->e.attr.size || post->fileid != j->e.attr.fileid)) {
		spn_consist_after_revalidate(&j->d->ac, &j->e, post, spn_now_ns());
		if (++j->attempts < MAX_FETCH_ATTEMPTS) {
			unlink(j->tmp);
			j->tmp[0] = '\0';
			fetch_issue(j);
			return;
		}
	}
	{
		/* Opened for writing by another process while we read: its
		 * copy is open and being written. Installing ours would
		 * replace that inode under it (its writes lost): keep it. */
		struct spn_entry cur;

		if (index_get(j, j->rel, &cur) == 0 && (cur.flags & SPN_EF_DIRTY)) {
			unlink(j->tmp);
			j->tmp[0] = '\0';
			j->e = cur;
			j->err = 0;
			j->then(j);
			return;
		}
	}
	if (chmod(j->tmp, (mode_t)spn_mirror_mode(post->mode)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = spn_mirror_install(j->m, j->tmp, j->rel);
	if (rc < 0) {
		spn_err("fetch %s: cannot install %s: %s", j->req.path, j->rel, strerror(-rc));
		j->err = -EIO;
		j->then(j);
		return;
	}
	j->tmp[0] = '\0';
	j->d->fetches++;
	j->e.attr = *post;
	j->e.state = SPN_ENT_CACHED;
	spn_consist_set_content(&j->e);
	j->e.cached_bytes = j->res->bytes;
	j->e.validated_ns = spn_now_ns();
	if (j->res->fh_len > 0) {
		j->e.fh_len = j->res->fh_len;
		memcpy(j->e.fh, j->res->fh, j->res->fh_len);
	}
	index_put(j, j->rel, &j->e);
	enforce_cache_cap(j->d);
	j->err = 0;
	j->then(j);
}

static void
fetch_issue(struct spn_job *j)
{
	if (job_call(j, fetch_issue, fetch_done, 0))
		return;
	if (j->tmpfd < 0) {
		if (j->tmp[0] != '\0')
			unlink(j->tmp);
		j->tmpfd = spn_mirror_tmpfile(j->d->tmpdir, j->tmp, sizeof(j->tmp));
		if (j->tmpfd < 0) {
			spn_err("fetch %s: cannot create a cache file: %s", j->req.path,
				strerror(-j->tmpfd));
			j->err = j->tmpfd == -ENOSPC ? -ENOSPC : -EIO;
			j->tmpfd = -1;
			j->tmp[0] = '\0';
			j->then(j);
			return;
		}
	} else if (ftruncate(j->tmpfd, 0) < 0) {
		j->err = -errno;
		j->then(j);
		return;
	}
	spn_nfs_fetch(j->m->nfs, j->rel, j->tmpfd, job_cb, j);
}

/* j->e is fresh: make sure the mirror holds its content, then j->then. */
static void
ensure_content(struct spn_job *j, spn_job_fn then)
{
	struct stat st;

	j->then = then;
	if ((j->e.flags & SPN_EF_DIRTY) ||
	    (spn_consist_content_valid(&j->e) && spn_mirror_lstat(j->m, j->rel, &st) == 0 &&
	     S_ISREG(st.st_mode))) {
		j->d->cache_hits++;
		then(j);
		return;
	}
	j->attempts = 0;
	fetch_issue(j);
}

/* ------------------------------------------------------------ open */

static void open_resolved(struct spn_job *j);
static void create_issue(struct spn_job *j);
static int create_by_path_again(struct spn_job *j);

/* Mark an entry dirty in the journal before the client may write. */
static int
open_for_write(struct spn_job *j)
{
	struct spn_wb *wb = wb_find(j->d, j->m, j->rel, 1);
	int rc;

	if (wb == NULL)
		return -ENOMEM;
	if (j->req.flags & O_TRUNC) {
		rc = spn_mirror_truncate(j->m, j->rel, 0);
		if (rc < 0)
			return rc;
	}
	j->e.flags |= SPN_EF_DIRTY;
	j->e.dirty_gen++;
	rc = index_put(j, j->rel, &j->e);
	if (rc == 0)
		rc = spn_index_sync(j->d->idx);
	if (rc < 0)
		return rc;
	wb->writers++;
	/* A foreign writer's data goes to the server with its ids. */
	wb->cred = j->cred;
	if (wb->wd < 0 && j->d->ino_fd >= 0) {
		wb->wd = spn_mirror_watch(j->m, j->rel, j->d->ino_fd, IN_CLOSE_WRITE);
		if (wb->wd < 0)
			wb->wd = -1;
	}
	return 0;
}

static void
open_ready(struct spn_job *j)
{
	int rc;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if ((j->req.flags & O_ACCMODE) != O_RDONLY || (j->req.flags & O_TRUNC)) {
		rc = open_for_write(j);
		if (rc < 0) {
			spn_err("open %s for writing: %s", j->req.path, strerror(-rc));
			spn_job_reply(j, rc == -ENOSPC ? rc : -EIO);
			return;
		}
	}
	reply_mirror(j);
}

/* Follow a symlink on the server's side of the mount: j->rel becomes the
 * target (when it stays on this mount) and the open starts over. */
static void
open_follow_done(struct spn_job *j)
{
	char link[SPN_PATH_MAX * 2], dest[SPN_PATH_MAX];
	struct spn_mount *m;
	int rc;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	/* Where the kernel would go on: composed in the client's name space,
	 * so that a target leaving the mount leaves it here too. */
	snprintf(link, sizeof(link), "%s%s", j->m->prefix, strcmp(j->rel, "/") == 0 ? "" : j->rel);
	rc = spn_link_compose(link, j->res->target, "", dest, sizeof(dest));
	if (rc < 0) {
		spn_job_reply(j, rc);
		return;
	}
	m = find_mount(j->d, dest, j->rel, sizeof(j->rel), &rc);
	if (m == NULL) {
		/* Outside NFS: the client opens that path itself. */
		snprintf(j->rep.path, sizeof(j->rep.path), "%s", dest);
		j->rep.spec |= SPN_SPEC_REDIRECT;
		spn_job_reply(j, -EXDEV);
		return;
	}
	j->m = m;
	resolve(j, 1, open_resolved);
}

static void
open_follow_issue(struct spn_job *j)
{
	if (job_call(j, open_follow_issue, open_follow_done, 0))
		return;
	spn_nfs_readlink(j->m->nfs, j->rel, job_cb, j);
}

/*
 * Several opens with O_CREAT of one new name race (8 processes appending
 * to one log): each saw ENOENT and sent its CREATE (not exclusive, so all
 * succeed). The first to get here made the mirror copy, and its process
 * may be writing already; the others must open that same copy -- never
 * truncate or replace it, or what was written so far is lost. 1 if j was
 * answered that way.
 */
static int
create_shared(struct spn_job *j)
{
	struct spn_entry cur;
	struct stat st;

	if (index_get(j, j->rel, &cur) < 0 || !(cur.flags & SPN_EF_DIRTY) ||
	    cur.attr.type != S_IFREG || spn_mirror_lstat(j->m, j->rel, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	j->e = cur;
	if (j->e.fh_len == 0 && !(j->e.flags & SPN_EF_CREATED_LOCALLY)) {
		j->e.fh_len = j->res->fh_len;
		memcpy(j->e.fh, j->res->fh, j->res->fh_len);
	}
	j->have_e = 1;
	j->err = 0;
	open_ready(j);
	return 1;
}

static void
create_done(struct spn_job *j)
{
	int fd, rc;

	if (j->lost) {
		/* Did the CREATE happen before the session was lost? Look. */
		j->lost = 0;
		resolve(j, 1, open_resolved);
		return;
	}
	if (create_by_path_again(j)) {
		create_issue(j);
		return;
	}
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (create_shared(j))
		return;
	entry_from_attr(&j->e, &j->res->attr, spn_now_ns(), &j->d->ac);
	j->e.fh_len = j->res->fh_len;
	memcpy(j->e.fh, j->res->fh, j->res->fh_len);
	j->have_e = 1;
	rc = spn_mirror_mkdirs(j->m, j->rel);
	if (rc == 0) {
		fd = spn_mirror_create(j->m, j->rel, spn_mirror_mode(j->e.attr.mode));
		if (fd < 0)
			rc = fd;
		else
			close(fd);
	}
	if (rc < 0) {
		spn_err("create %s: cannot make the mirror file: %s", j->req.path, strerror(-rc));
		spn_job_reply(j, -EIO);
		return;
	}
	j->e.state = SPN_ENT_CACHED;
	spn_consist_set_content(&j->e);
	index_put(j, j->rel, &j->e);
	invalidate_parent(j, j->rel);
	j->err = 0;
	open_ready(j);
}

/* CREATE: by the parent's handle when we know it (NFSv3: one round
 * trip), else by path (a LOOKUP per component first). */
/* NFSv3: the handle of j->rel's parent (on the server already) and the
 * last name, for a call by handle; NULL if it must go by path. */
static const char *
parent_handle(struct spn_job *j, struct spn_entry *pe)
{
	char parent[SPN_PATH_MAX];
	const char *name = strrchr(j->rel, '/');

	if (j->store_by_path || !spn_nfs_has_fh(j->m->nfs) || name == NULL || name[1] == '\0')
		return NULL;
	parent_of(j->rel, parent, sizeof(parent));
	if (index_get(j, parent, pe) < 0 || pe->fh_len == 0 || (pe->flags & SPN_EF_CREATED_LOCALLY))
		return NULL;
	return name + 1;
}

static void
send_create(struct spn_job *j, int excl)
{
	struct spn_entry pe;
	const char *name = parent_handle(j, &pe);

	if (name != NULL) {
		spn_nfs_create_fh(j->m->nfs, pe.fh, pe.fh_len, name, (int)(j->req.mode & 07777), excl,
				  job_cb, j);
		return;
	}
	spn_nfs_create(j->m->nfs, j->rel, (int)(j->req.mode & 07777), excl, job_cb, j);
}

/* The create by handle could not finish: by path. (-EREMOTEIO: it was
 * made, but the reply lacked its handle; it is ours, so not exclusive.) */
static int
create_by_path_again(struct spn_job *j)
{
	if (j->store_by_path || (j->err != -ESTALE && j->err != -EREMOTEIO))
		return 0;
	j->store_by_path = 1;
	if (j->err == -EREMOTEIO)
		j->req.flags &= ~(uint32_t)O_EXCL;
	j->err = 0;
	return 1;
}

static void
create_issue(struct spn_job *j)
{
	if (job_call(j, create_issue, create_done, 1))
		return;
	send_create(j, !!(j->req.flags & O_EXCL));
}

/* A FIFO on NFS is local to this machine, as on a kernel mount: the
 * mirror holds a real FIFO that the program opens (and may block on, as
 * it would locally). The daemon makes it and never opens it. */
static void
open_fifo(struct spn_job *j)
{
	struct stat st;
	int rc = 0;

	if (spn_mirror_lstat(j->m, j->rel, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		rc = spn_mirror_mkdirs(j->m, j->rel);
		if (rc == 0)
			rc = spn_mirror_mkfifo(j->m, j->d->tmpdir, j->rel);
	}
	if (rc < 0) {
		spn_err("open %s: cannot make the FIFO: %s", j->req.path, strerror(-rc));
		spn_job_reply(j, -EIO);
		return;
	}
	reply_mirror(j);
}

static void
open_resolved(struct spn_job *j)
{
	uint32_t acc = j->req.flags & O_ACCMODE;

	if (j->err == -ENOENT && (j->req.flags & O_CREAT)) {
		create_issue(j);
		return;
	}
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if ((j->req.flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		spn_job_reply(j, -EEXIST);
		return;
	}
	switch (j->e.attr.type) {
	case S_IFLNK:
		if (j->req.flags & O_NOFOLLOW) {
			spn_job_reply(j, -ELOOP);
			return;
		}
		if (++j->hops > MAX_SYMLINK_HOPS) {
			spn_job_reply(j, -ELOOP);
			return;
		}
		open_follow_issue(j);
		return;
	case S_IFDIR:
		if (acc != O_RDONLY || (j->req.flags & O_CREAT)) {
			spn_job_reply(j, -EISDIR);
			return;
		}
		ensure_listing(j, reply_mirror);
		return;
	case S_IFREG:
		break;
	case S_IFIFO:
		open_fifo(j);
		return;
	default:
		/* Devices and sockets on NFS: not opened through the mirror
		 * (a socket is ENXIO locally too; devices as on a nodev mount). */
		spn_job_reply(j, -ENXIO);
		return;
	}
	if (j->req.flags & O_DIRECTORY) {
		spn_job_reply(j, -ENOTDIR);
		return;
	}
	if ((j->req.flags & O_TRUNC) && acc != O_RDONLY) {
		/* The content is about to go: no need to fetch it. */
		int fd;

		if (spn_mirror_mkdirs(j->m, j->rel) == 0) {
			fd = spn_mirror_create(j->m, j->rel, spn_mirror_mode(j->e.attr.mode));
			if (fd >= 0) {
				close(fd);
				j->e.state = SPN_ENT_CACHED;
				open_ready(j);
				return;
			}
		}
		spn_job_reply(j, -EIO);
		return;
	}
	ensure_content(j, open_ready);
}

/* ------------------------------------------------------------ write-back */

static struct spn_wb *
wb_find(struct spn_daemon *d, struct spn_mount *m, const char *rel, int create)
{
	struct spn_wb *wb;

	for (wb = d->wbs; wb != NULL; wb = wb->next)
		if (wb->m == m && strcmp(wb->rel, rel) == 0)
			return wb;
	if (!create)
		return NULL;
	wb = calloc(1, sizeof(*wb));
	if (wb == NULL)
		return NULL;
	wb->m = m;
	wb->wd = -1;
	snprintf(wb->rel, sizeof(wb->rel), "%s", rel);
	wb->next = d->wbs;
	d->wbs = wb;
	return wb;
}

static void
wb_forget(struct spn_daemon *d, struct spn_wb *wb)
{
	struct spn_wb **pp;

	if (wb->writers > 0 || wb->running || wb->waiters != NULL || wb->due_ns != 0)
		return;
	for (pp = &d->wbs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == wb) {
			*pp = wb->next;
			break;
		}
	}
	if (wb->wd >= 0 && d->ino_fd >= 0)
		inotify_rm_watch(d->ino_fd, wb->wd);
	free(wb);
}

/* The daemon's own job that stores one file; answers wb->waiters. */
static void store_issue(struct spn_job *j);
static void spec_refuted(struct spn_job *v, int status);

static void
wb_answer(struct spn_daemon *d, struct spn_wb *wb, int status, const struct spn_nattr *a)
{
	struct spn_job *w = wb->waiters;

	wb->waiters = NULL;
	while (w != NULL) {
		struct spn_job *next = w->next;

		w->next = NULL;
		if (a != NULL)
			attr_to_wire(&w->rep.attr, a);
		w->wb = NULL;
		w->remote = 1; /* it waited for the server's store */
		if (w->owner != NULL && status < 0)
			spec_refuted(w, status);
		spn_job_reply(w, status);
		w = next;
	}
}

static int
wb_permanent(int err)
{
	switch (-err) {
	case EACCES:
	case EPERM:
	case EROFS:
	case ENOENT:
	case ESTALE:
	case EISDIR:
	case EFBIG:
	case EINVAL:
		return 1;
	}
	return 0;
}

static void
store_done(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	struct spn_wb *wb = j->wb;
	struct spn_entry e;
	int status = j->err;

	close(j->tmpfd);
	j->tmpfd = -1;
	wb->running = 0;
	if (status == -ESTALE && !j->store_by_path) {
		/* The handle we knew is gone (the name may be another file
		 * now): store by name, as a fresh open would. */
		j->store_by_path = 1;
		store_issue(j);
		return;
	}
	if (status == 0) {
		d->stores++;
		wb->has_times = 0;
		if (index_get(j, j->rel, &e) == 0) {
			e.attr = j->res->attr;
			e.state = SPN_ENT_CACHED;
			/* Our own write must not look like someone else's. */
			spn_consist_set_content(&e);
			e.validated_ns = spn_now_ns();
			if (e.dirty_gen == wb->gen && wb->writers == 0 && !wb->again)
				e.flags &= (uint8_t)~SPN_EF_DIRTY;
			index_put(j, j->rel, &e);
		}
		invalidate_parent(j, j->rel);
		spn_debug("stored %s (%llu bytes)", j->rel, (unsigned long long)j->res->bytes);
	} else {
		spn_err("write-back of %s%s failed: %s", j->m->prefix, j->rel,
			j->res && j->res->errmsg ? j->res->errmsg : strerror(-status));
		if (wb_permanent(status) && wb->waiters != NULL && index_get(j, j->rel, &e) == 0 &&
		    wb->writers == 0) {
			/* The server refuses this content for good and the
			 * writer hears it from close() (or rolls back):
			 * retrying forever helps no one. With nobody to tell
			 * (a journal replay, a close seen only by inotify) it
			 * stays dirty: `specnfs status` lists it, the next
			 * daemon tries again. */
			e.flags &= (uint8_t)~SPN_EF_DIRTY;
			index_put(j, j->rel, &e);
		}
	}
	if (wb->again && status == 0) {
		wb->again = 0;
		store_issue(j);
		return;
	}
	wb_answer(d, wb, status, status == 0 ? &j->res->attr : NULL);
	j->wb = NULL;
	if (status < 0 && !wb_permanent(status) && !d->stopping)
		wb->due_ns = spn_mono_ns() + 5 * 1000000000LL; /* still dirty: again soon */
	wb_forget(d, wb);
	job_free(j);
}

/*
 * A file in the journal that the server has never seen: its create was
 * predicted (policy full) and the daemon died before the CREATE went out.
 * The store makes it first -- every directory above it that was predicted
 * made and is not made yet (mkdir -p), then the file -- so that its
 * content is never refused as "no such file" because our own create had
 * not happened. Both calls are harmless to repeat (EEXIST of a directory
 * is success, the CREATE is not exclusive), so after a lost session they
 * are simply sent again, like the store. The index says what is missing:
 * SPN_EF_CREATED_LOCALLY, with the type and mode in the attributes.
 */
static void store_make_issue(struct spn_job *j);

/* The first name on j->rel's path the server does not have yet, into
 * j->walk: 1, or 0 if there is none. */
static int
store_missing(struct spn_job *j)
{
	const char *p = j->rel;
	struct spn_entry e;

	for (;;) {
		p = strchr(p + 1, '/');
		snprintf(j->walk, sizeof(j->walk), "%.*s",
			 (int)(p != NULL ? (size_t)(p - j->rel) : strlen(j->rel)), j->rel);
		if (index_get(j, j->walk, &e) == 0 && (e.flags & SPN_EF_CREATED_LOCALLY))
			return 1;
		if (p == NULL)
			return 0;
	}
}

static void
store_make_done(struct spn_job *j)
{
	int was_mkdir = j->req.op == SPN_OP_MKDIR;
	struct spn_entry e;

	j->req.op = SPN_OP_FSYNC;
	if (j->err == -EEXIST && was_mkdir)
		j->err = 0; /* made already (by us before a crash, or another client) */
	if (j->err < 0) {
		spn_err("write-back of %s%s: cannot make %s%s on the server: %s", j->m->prefix,
			j->rel, j->m->prefix, j->walk, strerror(-j->err));
		j->res = NULL;
		store_done(j);
		return;
	}
	if (index_get(j, j->walk, &e) == 0) {
		if (j->res != NULL && j->res->fh_len > 0) {
			e.fh_len = j->res->fh_len;
			memcpy(e.fh, j->res->fh, j->res->fh_len);
		}
		e.flags &= (uint8_t)~SPN_EF_CREATED_LOCALLY;
		index_put(j, j->walk, &e);
	}
	spn_info("journal: made %s%s on the server", j->m->prefix, j->walk);
	store_issue(j);
}

static void
store_make_issue(struct spn_job *j)
{
	struct spn_entry e;
	int mode;

	if (job_call(j, store_make_issue, store_make_done, 0))
		return;
	if (index_get(j, j->walk, &e) < 0) {
		j->err = -ENOENT;
		j->res = NULL;
		store_done(j);
		return;
	}
	mode = (int)(e.attr.mode & 07777);
	/* req.op says which call is on the wire, for store_make_done. */
	if (e.attr.type == S_IFDIR) {
		j->req.op = SPN_OP_MKDIR;
		spn_nfs_mkdir(j->m->nfs, j->walk, mode != 0 ? mode : 0755, job_cb, j);
	} else {
		j->req.op = SPN_OP_OPEN;
		spn_nfs_create(j->m->nfs, j->walk, mode, 0, job_cb, j);
	}
}

static void
store_issue(struct spn_job *j)
{
	struct spn_wb *wb = j->wb;
	struct spn_entry e;

	if (job_call(j, store_issue, store_done, 0))
		return;
	if (store_missing(j)) {
		store_make_issue(j);
		return;
	}
	if (j->tmpfd >= 0)
		close(j->tmpfd);
	j->tmpfd = spn_mirror_open(j->m, j->rel, O_RDONLY, 0);
	if (j->tmpfd < 0) {
		int gone = j->tmpfd == -ENOENT;

		j->err = gone ? -ENOENT : -EIO;
		j->tmpfd = -1;
		if (gone && index_get(j, j->rel, &e) == 0 && (e.flags & SPN_EF_DIRTY)) {
			/* Nothing left to write back: say so, and stop. */
			spn_err("write-back of %s%s: the mirror copy is gone", j->m->prefix, j->rel);
			e.flags &= (uint8_t)~SPN_EF_DIRTY;
			index_put(j, j->rel, &e);
		}
		j->res = NULL;
		store_done(j);
		return;
	}
	wb->running = 1;
	wb->again = 0;
	if (index_get(j, j->rel, &e) < 0)
		memset(&e, 0, sizeof(e));
	wb->gen = e.dirty_gen;
	if (spn_nfs_has_fh(j->m->nfs) && e.fh_len > 0 && !(e.flags & SPN_EF_CREATED_LOCALLY) &&
	    !j->store_by_path)
		spn_nfs_store_fh(j->m->nfs, e.fh, e.fh_len, j->tmpfd,
				 wb->has_times ? &wb->times : NULL, job_cb, j);
	else
		spn_nfs_store(j->m->nfs, j->rel, j->tmpfd, wb->has_times ? &wb->times : NULL,
			      job_cb, j);
}

/* Write back wb's file now, or once more after the store in flight. */
static void
wb_kick(struct spn_daemon *d, struct spn_wb *wb)
{
	struct spn_job *j;

	wb->due_ns = 0;
	if (wb->running) {
		wb->again = 1;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		spn_err("write-back of %s: out of memory", wb->rel);
		wb_answer(d, wb, -ENOMEM, NULL);
		return;
	}
	j->d = d;
	j->tmpfd = -1;
	j->m = wb->m;
	j->wb = wb;
	j->cred = wb->cred;
	/* libnfs 4.0's NFSv4 open checks ACCESS MODIFY on the *directory*
	 * (nfs4_populate_open), so a caller allowed to write a 0666 file in
	 * a 0755 directory would be refused its store. The server said yes
	 * to writing this file at the open (cred_check_what); the daemon
	 * carries the store out with its own ids there. */
	if (spn_nfs_version(wb->m->nfs) == 4)
		j->cred.foreign = 0;
	j->mq_barrier = j->cred.foreign > 0; /* its ids on the session: alone */
	j->req.op = SPN_OP_FSYNC;
	snprintf(j->rel, sizeof(j->rel), "%s", wb->rel);
	snprintf(j->req.path, sizeof(j->req.path), "%s%s", wb->m->prefix, wb->rel);
	d->njobs++;
	wb->running = 1; /* until store_issue opens the file */
	store_issue(j);
}

void
spn_wb_on_close_write(struct spn_daemon *d, int wd)
{
	struct spn_wb *wb;

	for (wb = d->wbs; wb != NULL; wb = wb->next)
		if (wb->wd == wd)
			break;
	if (wb == NULL)
		return;
	/* A close the client may not tell us about (exit, fclose inside
	 * libc): store the content soon -- unless the client's own CLOSE
	 * arrives first, which stores it at once (no double write). */
	if (wb->due_ns == 0)
		wb->due_ns = spn_mono_ns() + 200 * 1000000LL;
}

void
spn_wb_tick(struct spn_daemon *d)
{
	struct spn_wb *wb, *next;
	int64_t now = spn_mono_ns();

	for (wb = d->wbs; wb != NULL; wb = next) {
		struct spn_entry e;

		next = wb->next;
		if (wb->due_ns == 0 || now < wb->due_ns)
			continue;
		wb->due_ns = 0;
		/* The client's own CLOSE may have stored it meanwhile (its
		 * inotify event arrived during that store): storing again
		 * would move the server's mtime after a utimes (cp -a). */
		if (!wb->running && wb->writers == 0 &&
		    spn_index_get(d->idx, (uint16_t)wb->m->id, wb->rel, &e) == 0 &&
		    !(e.flags & SPN_EF_DIRTY)) {
			wb_forget(d, wb);
			continue;
		}
		wb_kick(d, wb);
	}
}

/*
 * At start-up: write back what an earlier daemon left in the journal.
 * Dirty files are stored (made on the server first if their create never
 * went out: store_missing). An entry created locally but never written
 * (a directory whose predicted mkdir did not reach the server) is made
 * only if something kept lies below it -- the store makes it then --
 * and is otherwise forgotten: its process was rolled back when the old
 * daemon died (spec/speculate.c) and does it again if it still means to, where
 * a directory made for it now would turn its mkdir into EEXIST.
 */
struct replay_item {
	uint16_t mount;
	uint8_t flags;
	int8_t act; /* REPLAY_* */
	char *path;
};
enum { REPLAY_FORGET, REPLAY_STORE, REPLAY_BELOW, REPLAY_SKIP };

struct replay_list {
	struct replay_item *v;
	size_t n, cap;
};

static int
replay_collect(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct replay_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct replay_item *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].mount = mount;
	l->v[l->n].flags = e->flags;
	l->v[l->n].act = (e->flags & SPN_EF_DIRTY) ? REPLAY_STORE : REPLAY_FORGET;
	l->v[l->n].path = strdup(path);
	if (l->v[l->n].path == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Is path at or below dir? */
static int
path_beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || n == 1);
}

static int
replay_one(struct spn_daemon *d, const struct replay_item *it)
{
	struct spn_wb *wb;

	if (it->act == REPLAY_FORGET) {
		spn_info("journal: %s%s was predicted made, not confirmed: forgotten",
			 d->mounts[it->mount].prefix, it->path);
		spn_index_del_tree(d->idx, it->mount, it->path);
		spn_mirror_remove(&d->mounts[it->mount], it->path);
		return 0;
	}
	wb = wb_find(d, &d->mounts[it->mount], it->path, 1);
	if (wb == NULL)
		return -ENOMEM;
	spn_info("journal: writing back %s%s left dirty by an earlier daemon%s",
		 d->mounts[it->mount].prefix, it->path,
		 it->flags & SPN_EF_CREATED_LOCALLY ? " (not created on the server yet)" : "");
	wb_kick(d, wb);
	return 0;
}

int
spn_wb_replay(struct spn_daemon *d)
{
	struct replay_list l = { NULL, 0, 0 };
	const struct replay_item *kept = NULL;
	size_t i;
	int rc;

	rc = spn_index_foreach_dirty(d->idx, replay_collect, &l);
	/* Backwards, deciding what stays: everything below a path comes
	 * right after it in this order, so a directory is needed exactly
	 * when the nearest kept entry after it lies below it. */
	for (i = l.n; rc == 0 && i-- > 0;) {
		struct replay_item *it = &l.v[i];

		if (it->mount >= d->nmounts) {
			spn_err("journal: dirty %s on unknown mount %u: left alone", it->path,
				it->mount);
			it->act = REPLAY_SKIP;
			continue;
		}
		if (it->act == REPLAY_FORGET && kept != NULL && kept->mount == it->mount &&
		    path_beneath(kept->path, it->path)) {
			/* Made by the store of what lies below it. */
			spn_info("journal: %s%s will be made on the server for what it holds",
				 d->mounts[it->mount].prefix, it->path);
			it->act = REPLAY_BELOW;
		}
		if (it->act != REPLAY_FORGET)
			kept = it;
	}
	for (i = 0; rc == 0 && i < l.n; i++)
		if (l.v[i].act == REPLAY_FORGET || l.v[i].act == REPLAY_STORE)
			rc = replay_one(d, &l.v[i]);
	for (i = 0; i < l.n; i++)
		free(l.v[i].path);
	free(l.v);
	return rc;
}

static void
close_start(struct spn_job *j)
{
	struct spn_wb *wb = wb_find(j->d, j->m, j->rel, 0);
	/* fsync stores whatever is dirty; close only what was written. */
	int written = j->req.op == SPN_OP_FSYNC ? wb != NULL : !!(j->req.flags & SPN_F_WRITTEN);

	/* The client wrote: store, even if this daemon never saw the open (it
	 * was re-sent to a new daemon after the old one died). */
	if (wb == NULL && written && j->req.op == SPN_OP_CLOSE)
		wb = wb_find(j->d, j->m, j->rel, 1);

	if (wb == NULL || !written) {
		if (wb != NULL && wb->writers > 0 && j->req.op == SPN_OP_CLOSE)
			wb->writers--;
		if (wb != NULL)
			wb_forget(j->d, wb);
		if (index_get(j, j->rel, &j->e) == 0)
			attr_to_wire(&j->rep.attr, &j->e.attr);
		spn_job_reply(j, 0);
		return;
	}
	if (j->req.op == SPN_OP_CLOSE && wb->writers > 0)
		wb->writers--;
	/* Answer once the content is on the server (close-to-open); on a
	 * soft mount, no later than timeo while the server is silent. */
	j->deadline_ns = spn_mono_ns() + soft_wait_ns(j->d, j->m);
	j->wb = wb;
	j->next = wb->waiters;
	wb->waiters = j;
	wb_kick(j->d, wb);
}

/* ------------------------------------------------------------ mutations */

static void mutate_issue(struct spn_job *j);

static void
mutate_apply(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	struct spn_entry e;
	int64_t now = spn_now_ns();

	switch (j->req.op) {
	case SPN_OP_MKDIR:
		entry_from_attr(&e, &j->res->attr, now, &d->ac);
		e.fh_len = j->res->fh_len;
		memcpy(e.fh, j->res->fh, j->res->fh_len);
		/* New and empty: complete as of its first attributes. */
		e.state = SPN_ENT_CACHED;
		e.flags |= SPN_EF_DIR_COMPLETE;
		spn_consist_set_content(&e);
		if (spn_mirror_mkdirs(j->m, j->rel) == 0)
			spn_mirror_mkdir(j->m, j->rel);
		index_put(j, j->rel, &e);
		attr_to_wire(&j->rep.attr, &e.attr);
		invalidate_parent(j, j->rel);
		break;
	case SPN_OP_UNLINK:
	case SPN_OP_RMDIR:
		spn_index_del_tree(d->idx, (uint16_t)j->m->id, j->rel);
		spn_mirror_remove(j->m, j->rel);
		invalidate_parent(j, j->rel);
		break;
	case SPN_OP_RENAME:
		spn_index_del_tree(d->idx, (uint16_t)j->m->id, j->rel2);
		spn_mirror_remove(j->m, j->rel2);
		if (spn_index_rename_tree(d->idx, (uint16_t)j->m->id, j->rel, j->rel2) < 0 ||
		    spn_mirror_rename(j->m, j->rel, j->rel2) < 0) {
			spn_index_del_tree(d->idx, (uint16_t)j->m->id, j->rel2);
			spn_mirror_remove(j->m, j->rel2);
		}
		/* Moved entries keep their content but their ctime changed. */
		if (index_get(j, j->rel2, &e) == 0) {
			e.validated_ns = 0;
			index_put(j, j->rel2, &e);
		}
		invalidate_parent(j, j->rel);
		invalidate_parent(j, j->rel2);
		break;
	case SPN_OP_LINK:
		/* Both names' attributes (nlink, ctime) changed. */
		if (index_get(j, j->rel, &e) == 0) {
			e.validated_ns = 0;
			index_put(j, j->rel, &e);
		}
		invalidate_parent(j, j->rel2);
		break;
	case SPN_OP_SYMLINK: {
		entry_from_attr(&e, &j->res->attr, now, &d->ac);
		if (spn_mirror_symlink(j->m, d->tmpdir, j->rel, j->req.path2) == 0) {
			e.state = SPN_ENT_CACHED;
			spn_consist_set_content(&e);
		} else {
			spn_mirror_stub(j->m, d->tmpdir, j->rel, S_IFLNK);
		}
		index_put(j, j->rel, &e);
		attr_to_wire(&j->rep.attr, &e.attr);
		invalidate_parent(j, j->rel);
		break;
	}
	case SPN_OP_MKNOD:
		/* Listed as a stub of its type; an open makes the FIFO. */
		entry_from_attr(&e, &j->res->attr, now, &d->ac);
		spn_mirror_stub(j->m, d->tmpdir, j->rel, j->res->attr.type);
		index_put(j, j->rel, &e);
		attr_to_wire(&j->rep.attr, &e.attr);
		invalidate_parent(j, j->rel);
		break;
	case SPN_OP_SETATTR: {
		const struct spn_nattr *a = &j->res->attr;
		int have = index_get(j, j->rel, &e) == 0;

		if (!have)
			entry_from_attr(&e, a, now, &d->ac);
		if ((j->req.mask & SPN_SA_SIZE) && e.state == SPN_ENT_CACHED && a->type == S_IFREG) {
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
		index_put(j, j->rel, &e);
		attr_to_wire(&j->rep.attr, a);
		break;
	}
	default:
		break;
	}
}

static void spec_mut_done(struct spn_job *v);

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
		spec_mut_done(j);
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
	mutate_issue(j);
}

static void
verify_issue(struct spn_job *j)
{
	const char *what = (j->req.op == SPN_OP_RENAME || j->req.op == SPN_OP_LINK) ? j->rel2 : j->rel;

	if (job_call(j, verify_issue, verify_done, 0))
		return;
	spn_nfs_getattr(j->m->nfs, what, 1, job_cb, j);
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
	if (j->req.op == SPN_OP_MKDIR && !j->store_by_path && j->err == -ESTALE) {
		/* The parent's handle is stale: by path. */
		j->store_by_path = 1;
		mutate_issue(j);
		return;
	}
	if (j->req.op == SPN_OP_MKDIR && j->err == -EREMOTEIO) {
		/* Made, but the reply had no handle: as a lost reply. */
		verify_issue(j);
		return;
	}
	if (j->owner != NULL) {
		spec_mut_done(j);
		return;
	}
	if (j->err < 0) {
		/* Whatever we believed about these names may be wrong. */
		invalidate_parent(j, j->rel);
		if (j->req.op == SPN_OP_SETATTR || j->req.op == SPN_OP_LINK) {
			struct spn_entry e;

			if (index_get(j, j->rel, &e) == 0) {
				e.validated_ns = 0;
				index_put(j, j->rel, &e);
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
static void remove_type_issue(struct spn_job *j);

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
	mutate_issue(j);
}

static void
remove_type_issue(struct spn_job *j)
{
	if (job_call(j, remove_type_issue, remove_type_done, 0))
		return;
	spn_nfs_getattr(j->m->nfs, j->rel, 1, job_cb, j);
}

static void
mutate_issue(struct spn_job *j)
{
	struct spn_nfs *n = j->m->nfs;
	struct spn_nfs_sattr sa;

	if ((j->req.op == SPN_OP_RMDIR || j->req.op == SPN_OP_UNLINK) && !j->remove_checked &&
	    spn_nfs_version(n) == 4) {
		remove_type_issue(j);
		return;
	}
	if (job_call(j, mutate_issue, mutate_done, j->req.op != SPN_OP_SETATTR))
		return;
	switch (j->req.op) {
	case SPN_OP_MKDIR: {
		struct spn_entry pe;
		const char *name = parent_handle(j, &pe);

		if (name != NULL) {
			spn_nfs_mkdir_fh(n, pe.fh, pe.fh_len, name, (int)(j->req.mode & 07777), job_cb,
					 j);
			break;
		}
		spn_nfs_mkdir(n, j->rel, (int)(j->req.mode & 07777), job_cb, j);
		break;
	}
	case SPN_OP_RMDIR:
		spn_nfs_rmdir(n, j->rel, job_cb, j);
		break;
	case SPN_OP_UNLINK:
		spn_nfs_remove(n, j->rel, job_cb, j);
		break;
	case SPN_OP_RENAME:
		spn_nfs_rename(n, j->rel, j->rel2, job_cb, j);
		break;
	case SPN_OP_LINK:
		spn_nfs_link(n, j->rel, j->rel2, job_cb, j);
		break;
	case SPN_OP_SYMLINK:
		spn_nfs_symlink(n, j->req.path2, j->rel, job_cb, j);
		break;
	case SPN_OP_MKNOD:
		spn_nfs_mknod(n, j->rel, (int)(j->req.flags | (j->req.mode & 07777)), j->req.size,
			      job_cb, j);
		break;
	case SPN_OP_SETATTR:
		if (spn_nfs_has_fh(n) && j->e.fh_len > 0) {
			/* NFSv3: one SETATTR by handle, times to the ns. */
			memset(&sa, 0, sizeof(sa));
			sa.mask = (j->req.mask & SPN_SA_MODE ? SPN_NSA_MODE : 0) |
				  (j->req.mask & SPN_SA_UID ? SPN_NSA_UID : 0) |
				  (j->req.mask & SPN_SA_GID ? SPN_NSA_GID : 0) |
				  (j->req.mask & SPN_SA_SIZE ? SPN_NSA_SIZE : 0) |
				  (j->req.mask & SPN_SA_ATIME ? SPN_NSA_ATIME : 0) |
				  (j->req.mask & SPN_SA_MTIME ? SPN_NSA_MTIME : 0) |
				  (j->req.mask & SPN_SA_ATIME_NOW ? SPN_NSA_ATIME_NOW : 0) |
				  (j->req.mask & SPN_SA_MTIME_NOW ? SPN_NSA_MTIME_NOW : 0);
			sa.mode = j->req.mode;
			sa.uid = j->req.uid;
			sa.gid = j->req.gid;
			sa.size = j->req.size;
			sa.atime.sec = j->req.atime.sec;
			sa.atime.nsec = j->req.atime.nsec;
			sa.mtime.sec = j->req.mtime.sec;
			sa.mtime.nsec = j->req.mtime.nsec;
			spn_nfs_setattr_fh(n, j->e.fh, j->e.fh_len, &sa, job_cb, j);
			break;
		}
		memset(&sa, 0, sizeof(sa));
		if (j->req.mask & SPN_SA_MODE)
			sa.mask |= SPN_NSA_MODE;
		if (j->req.mask & SPN_SA_UID)
			sa.mask |= SPN_NSA_UID;
		if (j->req.mask & SPN_SA_GID)
			sa.mask |= SPN_NSA_GID;
		if (j->req.mask & SPN_SA_SIZE)
			sa.mask |= SPN_NSA_SIZE;
		if (j->req.flags & SPN_F_NOFOLLOW)
			sa.mask |= SPN_NSA_NOFOLLOW;
		if (j->req.mask & (SPN_SA_ATIME | SPN_SA_MTIME | SPN_SA_ATIME_NOW | SPN_SA_MTIME_NOW)) {
			struct timespec now;

			/* libnfs sets both times at once: fill in the one not
			 * asked for from what we know. */
			clock_gettime(CLOCK_REALTIME, &now);
			sa.mask |= SPN_NSA_TIMES;
			sa.atime.sec = j->e.attr.atime.sec;
			sa.atime.nsec = j->e.attr.atime.nsec;
			sa.mtime.sec = j->e.attr.mtime.sec;
			sa.mtime.nsec = j->e.attr.mtime.nsec;
			if (j->req.mask & SPN_SA_ATIME) {
				sa.atime.sec = j->req.atime.sec;
				sa.atime.nsec = j->req.atime.nsec;
			}
			if (j->req.mask & SPN_SA_MTIME) {
				sa.mtime.sec = j->req.mtime.sec;
				sa.mtime.nsec = j->req.mtime.nsec;
			}
			if (j->req.mask & SPN_SA_ATIME_NOW) {
				sa.atime.sec = now.tv_sec;
				sa.atime.nsec = (uint32_t)now.tv_nsec;
			}
			if (j->req.mask & SPN_SA_MTIME_NOW) {
				sa.mtime.sec = now.tv_sec;
				sa.mtime.nsec = (uint32_t)now.tv_nsec;
			}
		}
		sa.mode = j->req.mode;
		sa.uid = j->req.uid;
		sa.gid = j->req.gid;
		sa.size = j->req.size;
		spn_nfs_setattr(n, j->rel, &sa, job_cb, j);
		break;
	}
}

/* Times asked for a file with unsent writes: keep them for its store. */
static int
defer_times(struct spn_job *j, struct spn_wb *wb)
{
	const uint32_t tmask = SPN_SA_ATIME | SPN_SA_MTIME | SPN_SA_ATIME_NOW | SPN_SA_MTIME_NOW;
	struct timespec now;
	struct spn_nfs_sattr *t = &wb->times;

	if (!(j->req.mask & tmask))
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	if (!wb->has_times) {
		t->atime = j->e.attr.atime;
		t->mtime = j->e.attr.mtime;
	}
	t->mask = SPN_NSA_TIMES;
	if (j->req.mask & SPN_SA_ATIME) {
		t->atime.sec = j->req.atime.sec;
		t->atime.nsec = j->req.atime.nsec;
	} else if (j->req.mask & SPN_SA_ATIME_NOW) {
		t->atime.sec = now.tv_sec;
		t->atime.nsec = (uint32_t)now.tv_nsec;
	}
	if (j->req.mask & SPN_SA_MTIME) {
		t->mtime.sec = j->req.mtime.sec;
		t->mtime.nsec = j->req.mtime.nsec;
	} else if (j->req.mask & SPN_SA_MTIME_NOW) {
		t->mtime.sec = now.tv_sec;
		t->mtime.nsec = (uint32_t)now.tv_nsec;
	}
	wb->has_times = 1;
	{
		/* The mirror copy shows them too (stat of a dirty file reads
		 * its size and mtime there). */
		struct timespec ts[2] = { { t->atime.sec, t->atime.nsec },
					  { t->mtime.sec, t->mtime.nsec } };

		spn_mirror_utimens(j->m, j->rel, ts);
	}
	j->e.attr.atime = t->atime;
	j->e.attr.mtime = t->mtime;
	j->req.mask &= ~tmask;
	return 1;
}

static void
setattr_resolved(struct spn_job *j)
{
	struct spn_wb *wb;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	/* chmod, chown, utimes and truncate follow a final symlink (on the
	 * client's side, as stat does); a directory has no size to set. */
	if (j->e.attr.type == S_IFLNK && !(j->req.flags & SPN_F_NOFOLLOW)) {
		follow_last(j);
		return;
	}
	if ((j->req.mask & SPN_SA_SIZE) && j->e.attr.type == S_IFDIR) {
		spn_job_reply(j, -EISDIR);
		return;
	}
	wb = (j->e.flags & SPN_EF_DIRTY) ? wb_find(j->d, j->m, j->rel, 0) : NULL;
	if (wb != NULL && defer_times(j, wb) && j->req.mask == 0) {
		attr_to_wire(&j->rep.attr, &j->e.attr);
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
	mutate_issue(j);
}

/* ------------------------------------------------------------ statfs */

static void statfs_issue(struct spn_job *j);

static void
statfs_done(struct spn_job *j)
{
	const struct spn_nfs_statfs *s;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	s = &j->res->sfs;
	j->rep.sfs.bsize = s->bsize;
	j->rep.sfs.blocks = s->blocks;
	j->rep.sfs.bfree = s->bfree;
	j->rep.sfs.bavail = s->bavail;
	j->rep.sfs.files = s->files;
	j->rep.sfs.ffree = s->ffree;
	j->rep.sfs.favail = s->ffree;
	j->rep.sfs.namemax = s->namemax;
	spn_job_reply(j, 0);
}

static void
statfs_issue(struct spn_job *j)
{
	if (job_call(j, statfs_issue, statfs_done, 0))
		return;
	spn_nfs_statfs(j->m->nfs, j->rel, job_cb, j);
}

/* ------------------------------------------------------------ status */

int
spn_daemon_busy(const struct spn_daemon *d)
{
	return d->njobs > 0 || d->wbs != NULL;
}

/* Dirty entries no write-back is working on: the server refused them
 * and nobody could be told. Listed by `specnfs status`. */
struct stuck_list {
	struct spn_daemon *d;
	char *buf;
	size_t len, used;
	unsigned n;
};

static int
stuck_one(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct stuck_list *l = arg;
	struct spn_wb *wb;
	int n;

	if (mount >= l->d->nmounts || !(e->flags & SPN_EF_DIRTY))
		return 0;
	for (wb = l->d->wbs; wb != NULL; wb = wb->next)
		if (wb->m == &l->d->mounts[mount] && strcmp(wb->rel, path) == 0)
			return 0;
	if (l->n++ < 10) {
		n = snprintf(l->buf + l->used, l->used < l->len ? l->len - l->used : 0,
			     "journal: %s%s is not written back (the server refused it: see the "
			     "log; the next daemon tries again)\n",
			     l->d->mounts[mount].prefix, path);
		if (n > 0)
			l->used += (size_t)n;
	}
	return 0;
}

int
spn_status_text(struct spn_daemon *d, char *buf, size_t len)
{
	uint64_t entries = 0, bytes = 0, dirty = 0;
	size_t used = 0;
	int i, c, n;

#define OUT(...)                                                                    \
	do {                                                                        \
		n = snprintf(buf + used, used < len ? len - used : 0, __VA_ARGS__); \
		if (n > 0)                                                          \
			used += (size_t)n;                                          \
	} while (0)

	spn_index_stats(d->idx, &entries, &bytes, &dirty);
	OUT("daemon: pid %d, up %lld s, %d client(s), %d job(s) in progress\n", (int)getpid(),
	    (long long)((spn_mono_ns() - d->started_ns) / 1000000000LL), d->nclients, d->njobs);
	OUT("cache: %s\n", d->base);
	OUT("cache: %llu entries, %llu bytes cached (cap %llu), %llu dirty\n",
	    (unsigned long long)entries, (unsigned long long)bytes,
	    (unsigned long long)d->pol.cache_max, (unsigned long long)dirty);
	if (dirty > 0) {
		struct stuck_list sl = { d, buf, len, used, 0 };

		spn_index_foreach_dirty(d->idx, stuck_one, &sl);
		used = sl.used;
		if (sl.n > 10)
			OUT("journal: ... and %u more not written back\n", sl.n - 10);
	}
	OUT("predictions: %llu made, %llu refuted\n", (unsigned long long)d->predictions,
	    (unsigned long long)d->refutations);
	OUT("answers: %llu from cache, %llu negative from cache, %llu revalidations, %llu fetches, "
	    "%llu write-backs\n",
	    (unsigned long long)d->cache_hits, (unsigned long long)d->negative_hits,
	    (unsigned long long)d->revalidations, (unsigned long long)d->fetches,
	    (unsigned long long)d->stores);
	for (i = 0; i < d->nmounts; i++) {
		struct spn_mount *m = &d->mounts[i];
		const struct spn_nfs_stats *st = spn_nfs_stats(m->nfs);
		enum spn_nfs_state s = spn_nfs_state(m->nfs);
		uint64_t dirty_bytes = 0;
		struct spn_wb *wb;

		for (wb = d->wbs; wb != NULL; wb = wb->next) {
			struct stat sb;

			if (wb->m == m && spn_mirror_lstat(m, wb->rel, &sb) == 0)
				dirty_bytes += (uint64_t)sb.st_size;
		}
		OUT("mount %s = %s (NFSv%d): %s%s%s\n", m->prefix, m->url, spn_nfs_version(m->nfs),
		    s == SPN_NFS_UP ? (unresponsive(d, m, spn_mono_ns()) ? "up, not responding" : "up")
				    : s == SPN_NFS_CONNECTING ? "connecting" : "down",
		    s != SPN_NFS_UP && spn_nfs_error(m->nfs)[0] ? ": " : "",
		    s != SPN_NFS_UP && spn_nfs_error(m->nfs)[0] ? down_reason(m) : "");
		OUT("  in flight: %d, reconnects: %llu, read %llu bytes, written %llu bytes, "
		    "dirty %llu bytes\n",
		    st->inflight, (unsigned long long)st->reconnects,
		    (unsigned long long)st->bytes_read, (unsigned long long)st->bytes_written,
		    (unsigned long long)dirty_bytes);
		OUT("  calls:");
		for (c = 0; c < SPN_CALL_NTYPES; c++)
			if (st->calls[c] > 0)
				OUT(" %s=%llu", spn_nfs_call_name((enum spn_nfs_call)c),
				    (unsigned long long)st->calls[c]);
		OUT("\n");
	}
	OUT("requests:");
	for (i = 1; i <= SPN_OP_MAX; i++)
		if (d->requests[i] > 0)
			OUT(" %s=%llu", spn_proto_op_name((uint16_t)i), (unsigned long long)d->requests[i]);
	OUT("\n");
#undef OUT
	if (used >= len)
		used = len - 1;
	return (int)used;
}

/* ------------------------------------------------------------ predictions */

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
same_answer(const struct spn_attr *a, const struct spn_nattr *b)
{
	return a->type == b->type && a->mode == (b->mode & 07777) && a->size == b->size &&
	       a->fileid == b->fileid && a->mtime.sec == b->mtime.sec &&
	       a->mtime.nsec == b->mtime.nsec && a->uid == b->uid && a->gid == b->gid &&
	       a->nlink == b->nlink;
}

static void
resolvers_answer(struct spn_daemon *d, struct spn_client *cl)
{
	struct spn_job *r = cl->resolvers;

	cl->resolvers = NULL;
	while (r != NULL) {
		struct spn_job *next = r->next;

		r->next = NULL;
		r->rep.refuted = cl->refuted;
		spn_job_reply(r, 0);
		r = next;
	}
	cl->refuted = 0;
}

/* A validation job is finished (job_free): account it to its client. */
static void
validated(struct spn_job *j)
{
	struct spn_client *cl = j->owner;

	j->owner = NULL;
	if (--cl->validating == 0 && cl->resolvers != NULL)
		resolvers_answer(j->d, cl);
	spn_client_unref(j->d, cl);
}

static void
validate_done(struct spn_job *j)
{
	int ok;

	if (j->err < 0 && !(j->err == -ENOENT))
		ok = 0; /* could not check: treat as wrong, the safe side */
	else if (j->predicted_status < 0)
		ok = j->err == j->predicted_status;
	else
		ok = j->err == 0 && same_answer(&j->predicted, &j->e.attr);
	if (j->req.op == SPN_OP_OPEN && ok && j->e.attr.type == S_IFREG &&
	    !spn_consist_content_valid(&j->e))
		ok = 0; /* the content we handed out is not the server's */
	if (j->req.op == SPN_OP_READDIR && ok && !dir_listing_valid(j))
		ok = 0; /* the directory changed: its listing too */
	if (!ok) {
		j->owner->refuted++;
		j->d->refutations++;
		spn_info("prediction refuted: %s %s", spn_proto_op_name(j->req.op), j->req.path);
	}
	spn_job_reply(j, 0); /* cl is NULL: nothing is sent */
}

/* Start checking a prediction made for cl. */
static void
validate_start(struct spn_job *pj, int status)
{
	struct spn_job *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		/* Cannot check: the prediction must not stand. */
		pj->cl->refuted++;
		return;
	}
	v->d = pj->d;
	v->tmpfd = -1;
	v->req = pj->req;
	v->req.spec = 0;
	v->m = pj->m;
	snprintf(v->rel, sizeof(v->rel), "%s", pj->rel);
	v->owner = pj->cl;
	v->predicted = pj->rep.attr;
	v->predicted_status = status;
	pj->cl->refs++;
	pj->cl->validating++;
	pj->d->njobs++;
	pj->d->predictions++;
	resolve(v, 1, validate_done);
}

/*
 * Try to answer j from the cache as a prediction. Returns 1 if answered
 * (and a validation started), 0 if the cache cannot say (the request then
 * runs the ordinary way, waiting for the server).
 */
static int
predict(struct spn_job *j)
{
	char parent[SPN_PATH_MAX], mp[PATH_MAX];
	struct spn_entry pe;
	struct stat st;
	int have, status = 0;

	have = index_get(j, j->rel, &j->e) == 0;
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
			parent_of(cur, parent, sizeof(parent));
			if (index_get(j, parent, &pe) == 0)
				break;
			if (strcmp(parent, "/") == 0)
				return 0;
			snprintf(cur, sizeof(cur), "%s", parent);
		}
		if (pe.attr.type != S_IFDIR || !(pe.flags & SPN_EF_DIR_COMPLETE))
			return 0;
		status = -ENOENT;
	} else {
		switch (j->req.op) {
		case SPN_OP_STAT:
			if (j->e.attr.type == S_IFLNK && !(j->req.flags & SPN_F_NOFOLLOW))
				return 0;
			attr_to_wire(&j->rep.attr, &j->e.attr);
			break;
		case SPN_OP_ACCESS:
			return 0; /* cheap locally once attributes are known: later */
		case SPN_OP_OPEN:
			if ((j->req.flags & O_ACCMODE) != O_RDONLY ||
			    (j->req.flags & (O_CREAT | O_TRUNC)) || j->e.attr.type != S_IFREG ||
			    !spn_consist_content_valid(&j->e) ||
			    spn_mirror_path(j->m, j->rel, j->rep.path, sizeof(j->rep.path)) < 0 ||
			    spn_mirror_lstat(j->m, j->rel, &st) < 0 || !S_ISREG(st.st_mode)) {
				spn_debug("no prediction for open %s: flags %x type %o valid %d", j->rel,
					  j->req.flags, j->e.attr.type, spn_consist_content_valid(&j->e));
				return 0;
			}
			attr_to_wire(&j->rep.attr, &j->e.attr);
			break;
		case SPN_OP_READDIR:
			if (j->e.attr.type != S_IFDIR || !dir_listing_valid(j) ||
			    spn_mirror_path(j->m, j->rel, mp, sizeof(mp)) < 0 ||
			    spn_mirror_lstat(j->m, j->rel, &st) < 0 || !S_ISDIR(st.st_mode))
				return 0;
			snprintf(j->rep.path, sizeof(j->rep.path), "%s", mp);
			attr_to_wire(&j->rep.attr, &j->e.attr);
			break;
		default:
			return 0;
		}
	}
	j->rep.spec = SPN_SPEC_PREDICTED;
	validate_start(j, status);
	spn_job_reply(j, status);
	return 1;
}

/* ------------------------------------------------------------ write-back predictions */

/*
 * Policy full: a close of a written file, a create or truncate for
 * writing, mkdir, rmdir, unlink and rename are answered at once when the
 * cache says they will succeed; the mirror changes first, the server call
 * follows in the client's order (mq_barrier), and its result validates
 * the prediction. A refusal undoes the mirror's change, counts as
 * refuted (the client rolls back), is remembered as the outcome for the
 * client's re-execution (SPN_SPEC_REPLAY) and keeps that path from being
 * predicted again for a while (no livelock).
 */
#define REFUSED_FOR_NS (30 * 1000000000LL)

static void spec_create_issue(struct spn_job *v);

static int
refused_recently(struct spn_daemon *d, const struct spn_mount *m, const char *rel)
{
	int64_t now = spn_mono_ns();
	unsigned i;

	for (i = 0; i < SPN_REFUSED; i++) {
		const struct spn_refused *r = &d->refused[i];

		if (r->until_ns > now && r->mount == m->id && strcmp(r->rel, rel) == 0)
			return 1;
	}
	return 0;
}

static void
refused_add(struct spn_daemon *d, const struct spn_mount *m, const char *rel)
{
	struct spn_refused *r = &d->refused[d->next_refused++ % SPN_REFUSED];

	r->mount = m->id;
	snprintf(r->rel, sizeof(r->rel), "%s", rel);
	r->until_ns = spn_mono_ns() + REFUSED_FOR_NS;
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

static void
spec_refuted(struct spn_job *v, int status)
{
	v->owner->refuted++;
	v->d->refutations++;
	refused_add(v->d, v->m, v->rel);
	if (v->req.op == SPN_OP_RENAME)
		refused_add(v->d, v->m, v->rel2);
	spn_info("write-back refused by the server: %s %s: %s", spn_proto_op_name(v->req.op),
		 v->req.path, strerror(-status));
}

/* A validation job for the write-back predicted in pj. */
static struct spn_job *
spec_job(struct spn_job *pj)
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
	v->owner = pj->cl;
	pj->cl->refs++;
	pj->cl->validating++;
	pj->d->njobs++;
	pj->d->predictions++;
	return v;
}

/* The server's answer to a predicted mkdir/rmdir/unlink/rename. */
static void
spec_mut_done(struct spn_job *v)
{
	struct spn_outcome *o = outcome_find(v->d, v->req.token);
	struct spn_entry e;

	if (v->err == 0) {
		if (v->req.op == SPN_OP_MKDIR && index_get(v, v->rel, &e) == 0) {
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
			index_put(v, v->rel, &e);
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
		spec_refuted(v, v->err);
	}
	invalidate_parent(v, v->rel);
	if (v->req.op == SPN_OP_RENAME)
		invalidate_parent(v, v->rel2);
	if (o != NULL) {
		o->done = 1;
		o->status = v->err;
	}
	spn_job_reply(v, v->err);
}

/* The server's answer to a predicted create. */
static void
spec_create_done(struct spn_job *v)
{
	struct spn_entry e;

	if (v->lost) {
		/* Unchecked create: sending it again does no harm. */
		v->lost = 0;
		spec_create_issue(v);
		return;
	}
	if (create_by_path_again(v)) {
		spec_create_issue(v);
		return;
	}
	if (v->err == 0) {
		if (index_get(v, v->rel, &e) == 0) {
			uint64_t size = e.attr.size;
			struct spn_ntime mt = e.attr.mtime;

			e.attr = v->res->attr;
			if (e.flags & SPN_EF_DIRTY) {
				/* Ours until the store: size and times local. */
				e.attr.size = size;
				e.attr.mtime = mt;
			}
			e.fh_len = v->res->fh_len;
			memcpy(e.fh, v->res->fh, v->res->fh_len);
			e.flags &= (uint8_t)~SPN_EF_CREATED_LOCALLY;
			index_put(v, v->rel, &e);
		}
	} else {
		struct spn_wb *wb = wb_find(v->d, v->m, v->rel, 0);

		spn_index_del_tree(v->d->idx, (uint16_t)v->m->id, v->rel);
		spn_mirror_remove(v->m, v->rel);
		if (wb != NULL) {
			wb->writers = 0;
			wb_forget(v->d, wb);
		}
		spec_refuted(v, v->err);
	}
	invalidate_parent(v, v->rel);
	spn_job_reply(v, v->err);
}

/* A predicted rewrite of a file we know: is it still that file? */
static void
spec_check_done(struct spn_job *v)
{
	int ok = v->err == 0 && v->res->attr.type == S_IFREG &&
		 (v->predicted.fileid == 0 || v->res->attr.fileid == v->predicted.fileid);

	if (!ok)
		spec_refuted(v, v->err < 0 ? v->err : -ESTALE);
	spn_job_reply(v, 0);
}

static void
spec_check_issue(struct spn_job *v)
{
	if (job_call(v, spec_check_issue, spec_check_done, 0))
		return;
	spn_nfs_getattr(v->m->nfs, v->rel, 1, job_cb, v);
}

static void
spec_create_issue(struct spn_job *v)
{
	if (job_call(v, spec_create_issue, spec_create_done, 1))
		return;
	send_create(v, 0);
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

/* A predicted close: answered now, stored behind; the store validates. */
static int
predict_close(struct spn_job *j)
{
	struct spn_wb *wb;
	struct spn_job *v;

	if (!(j->req.flags & SPN_F_WRITTEN))
		return 0;
	wb = wb_find(j->d, j->m, j->rel, 1);
	v = wb != NULL ? spec_job(j) : NULL;
	if (v == NULL)
		return 0;
	if (wb->writers > 0)
		wb->writers--;
	v->wb = wb;
	v->next = wb->waiters;
	wb->waiters = v;
	if (index_get(j, j->rel, &j->e) == 0)
		attr_to_wire(&j->rep.attr, &j->e.attr);
	j->rep.spec = SPN_SPEC_PREDICTED;
	spn_job_reply(j, 0);
	wb_kick(v->d, wb);
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
	if (spn_mirror_mkdirs(j->m, j->rel) < 0)
		return 0;
	fd = spn_mirror_create(j->m, j->rel, spn_mirror_mode(have ? j->e.attr.mode : j->req.mode));
	if (fd < 0)
		return 0;
	close(fd);
	v = spec_job(j);
	if (v == NULL)
		return 0;
	if (have) {
		/* Checked like any predicted open: the file must still be
		 * the one we know. In line, so that our own store cannot
		 * overtake the check. */
		attr_to_wire(&v->predicted, &j->e.attr);
		j->e.state = SPN_ENT_CACHED;
	} else {
		synth_entry(j, &j->e, S_IFREG, pe);
	}
	j->have_e = 1;
	rc = open_for_write(j);
	if (rc < 0) {
		/* Nothing was promised yet: the ordinary way. */
		v->owner = NULL;
		j->cl->validating--;
		spn_client_unref(j->d, j->cl);
		job_free(v);
		return 0;
	}
	v->mq_barrier = 1;
	v->e = j->e;
	attr_to_wire(&j->rep.attr, &j->e.attr);
	j->rep.spec = SPN_SPEC_PREDICTED;
	reply_mirror(j);
	if (have)
		spec_check_issue(v);
	else
		spec_create_issue(v);
	return 1;
}

/* Try to answer a write-back at once (policy full). 1 if answered. */
static int
predict_write(struct spn_job *j)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry pe, e2;
	struct spn_job *v;
	int have, parent_complete, rc;

	if (strcmp(j->rel, "/") == 0 || refused_recently(j->d, j->m, j->rel) ||
	    (j->req.op == SPN_OP_RENAME && refused_recently(j->d, j->m, j->rel2)))
		return 0;
	if (j->req.op == SPN_OP_CLOSE)
		return predict_close(j);
	have = index_get(j, j->rel, &j->e) == 0;
	parent_of(j->rel, parent, sizeof(parent));
	/* A directory predicted made counts: its own mkdir goes first. */
	parent_complete = index_get(j, parent, &pe) == 0 && pe.attr.type == S_IFDIR &&
			  (pe.flags & SPN_EF_DIR_COMPLETE);
	if (j->req.op == SPN_OP_OPEN)
		return predict_create(j, have, &pe, parent_complete);
	if (have && (j->e.flags & SPN_EF_WRITEBACK))
		return 0;
	switch (j->req.op) {
	case SPN_OP_MKDIR:
		if (have || !parent_complete || spn_mirror_mkdirs(j->m, j->rel) < 0 ||
		    ((rc = spn_mirror_mkdir(j->m, j->rel)) < 0 && rc != -EEXIST))
			return 0;
		synth_entry(j, &j->e, S_IFDIR, &pe);
		j->e.flags |= SPN_EF_DIR_COMPLETE;
		index_put(j, j->rel, &j->e);
		attr_to_wire(&j->rep.attr, &j->e.attr);
		break;
	case SPN_OP_UNLINK:
		if (!have || j->e.attr.type == S_IFDIR || wb_find(j->d, j->m, j->rel, 0) != NULL)
			return 0;
		spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel);
		spn_mirror_remove(j->m, j->rel);
		break;
	case SPN_OP_RMDIR:
		if (!have || j->e.attr.type != S_IFDIR || !(j->e.flags & SPN_EF_DIR_COMPLETE) ||
		    spn_index_foreach_child(j->d->idx, (uint16_t)j->m->id, j->rel, has_child, NULL) != 0)
			return 0;
		spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel);
		spn_mirror_remove(j->m, j->rel);
		break;
	case SPN_OP_RENAME: {
		char parent2[SPN_PATH_MAX];
		struct spn_entry pe2;
		int have2 = index_get(j, j->rel2, &e2) == 0;

		if (!have || j->e.attr.type == S_IFDIR || wb_find(j->d, j->m, j->rel, 0) != NULL ||
		    strcmp(j->rel, j->rel2) == 0)
			return 0;
		if (have2 && (e2.attr.type == S_IFDIR || (e2.flags & SPN_EF_WRITEBACK) ||
			      wb_find(j->d, j->m, j->rel2, 0) != NULL))
			return 0;
		parent_of(j->rel2, parent2, sizeof(parent2));
		if (!have2 && !(index_get(j, parent2, &pe2) == 0 && pe2.attr.type == S_IFDIR &&
				(pe2.flags & SPN_EF_DIR_COMPLETE)))
			return 0;
		spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel2);
		spn_mirror_remove(j->m, j->rel2);
		rc = spn_index_rename_tree(j->d->idx, (uint16_t)j->m->id, j->rel, j->rel2);
		if (rc < 0 || spn_mirror_rename(j->m, j->rel, j->rel2) < 0) {
			spn_index_del_tree(j->d->idx, (uint16_t)j->m->id, j->rel2);
			spn_mirror_remove(j->m, j->rel2);
		} else if (index_get(j, j->rel2, &e2) == 0) {
			e2.validated_ns = 0; /* its ctime changes */
			index_put(j, j->rel2, &e2);
		}
		invalidate_parent(j, j->rel2);
		break;
	}
	default:
		return 0;
	}
	invalidate_parent(j, j->rel);
	v = spec_job(j);
	if (v == NULL) {
		/* The mirror changed already: the server must follow now. */
		mutate_issue(j);
		return 1;
	}
	v->mq_barrier = 1;
	outcome_start(j->d, j->req.token);
	j->rep.spec = SPN_SPEC_PREDICTED;
	spn_job_reply(j, 0);
	mutate_issue(v);
	return 1;
}

/* A re-execution after a rollback asks how its predicted mutation went. */
static int
replay(struct spn_job *j)
{
	struct spn_outcome *o = outcome_find(j->d, j->req.token);
	struct spn_entry e;

	if (o == NULL || !o->done)
		return 0; /* unknown (an older daemon): do it now */
	if (o->status == 0 && j->req.op == SPN_OP_MKDIR && index_get(j, j->rel, &e) == 0)
		attr_to_wire(&j->rep.attr, &e.attr);
	spn_job_reply(j, o->status);
	return 1;
}

static void job_dispatch(struct spn_job *j);

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
	if (listed && predict(j))
		return;
	job_dispatch(j);
}

static void
parent_resolved(struct spn_job *j)
{
	if (j->err < 0 || j->e.attr.type != S_IFDIR) {
		listed_parent(j);
		return;
	}
	ensure_listing(j, listed_parent);
}

/* 1 if j now waits for its parent's listing (then listed_parent). */
static int
list_parent_first(struct spn_job *j)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry e;

	if (strcmp(j->rel, "/") == 0 || index_get(j, j->rel, &e) == 0)
		return 0;
	parent_of(j->rel, parent, sizeof(parent));
	if (index_get(j, parent, &e) == 0 && (e.flags & SPN_EF_DIR_COMPLETE))
		return 0;
	snprintf(j->child, sizeof(j->child), "%s", j->rel);
	snprintf(j->rel, sizeof(j->rel), "%s", parent);
	resolve(j, 0, parent_resolved);
	return 1;
}

static void
resolve_request(struct spn_job *j)
{
	struct spn_client *cl = j->cl;

	if (cl->validating == 0) {
		j->rep.refuted = cl->refuted;
		cl->refuted = 0;
		spn_job_reply(j, 0);
		return;
	}
	j->deadline_ns = spn_mono_ns() + soft_wait_ns(j->d, NULL);
	j->next = cl->resolvers;
	cl->resolvers = j;
}

/* ------------------------------------------------------------ symlinks in a path */

/*
 * path_gate: a symbolic link above a request's last name is the client's
 * to follow (see daemon/mirror.c). Before a request runs, every directory
 * above its name (and above RENAME/LINK's second name) must be known to be
 * a directory; one not in the index is looked up first (lstat semantics:
 * its own ancestors are directories by then, so neither the server nor
 * libnfs ever follows a link for us). A symlink among them is read and the
 * path recomposed: on a mount, the request goes on as that path; off every
 * mount, the client hears a redirect. A name below a non-directory is
 * ENOTDIR, as locally.
 */
static void job_begin(struct spn_job *j);

static char *
gate_target(struct spn_job *j)
{
	return j->gating == 2 ? j->rel2 : j->rel;
}

/* The ancestor of rel that needs work: 0 all directories, 1 unknown, 2 a
 * symlink (its entry in *e), or -ENOTDIR. Its path into anc. */
static int
gate_scan(struct spn_job *j, const char *rel, char *anc, size_t len, struct spn_entry *e)
{
	const char *p;

	for (p = strchr(rel + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		snprintf(anc, len, "%.*s", (int)(p - rel), rel);
		if (index_get(j, anc, e) < 0)
			return 1;
		if (e->attr.type == S_IFDIR)
			continue;
		return e->attr.type == S_IFLNK ? 2 : -ENOTDIR;
	}
	return 0;
}

/* Put the request's paths back after work on an ancestor in j->rel. */
static void
gate_restore(struct spn_job *j)
{
	if (j->gating == 2) {
		snprintf(j->rel2, sizeof(j->rel2), "%s", j->gate_rel);
		snprintf(j->rel, sizeof(j->rel), "%s", j->child);
		j->child[0] = '\0';
	} else {
		snprintf(j->rel, sizeof(j->rel), "%s", j->gate_rel);
	}
	j->gating = 0;
	j->have_e = 0;
}

/* The link at j->rel (an ancestor of gate_rel) points at target: go on. */
static void
gate_follow(struct spn_job *j, const char *target)
{
	char link[SPN_PATH_MAX + 64], out[SPN_PATH_MAX], rel[SPN_PATH_MAX];
	struct spn_mount *m;
	size_t al = strlen(j->rel);
	int rc, which = j->gating;

	snprintf(link, sizeof(link), "%s%s", j->m->prefix, j->rel);
	rc = spn_link_compose(link, target, j->gate_rel + al + 1, out, sizeof(out));
	gate_restore(j);
	if (rc == 0 && ++j->hops > MAX_SYMLINK_HOPS)
		rc = -ELOOP;
	if (rc < 0) {
		spn_job_reply(j, rc);
		return;
	}
	m = find_mount(j->d, out, rel, sizeof(rel), &rc);
	if (m == NULL || (which == 2 && m != j->m)) {
		/* Off NFS (or RENAME/LINK across mounts): the client's. */
		spn_debug("%s crosses a symlink to %s", j->req.path, out);
		if (which == 2) {
			spn_job_reply(j, -EXDEV);
			return;
		}
		snprintf(j->rep.path, sizeof(j->rep.path), "%s", out);
		j->rep.spec |= SPN_SPEC_REDIRECT;
		spn_job_reply(j, -EXDEV);
		return;
	}
	if (which == 2) {
		snprintf(j->rel2, sizeof(j->rel2), "%s", rel);
	} else {
		if (m != j->m && (j->req.op == SPN_OP_RENAME || j->req.op == SPN_OP_LINK)) {
			spn_job_reply(j, -EXDEV);
			return;
		}
		j->m = m;
		snprintf(j->rel, sizeof(j->rel), "%s", rel);
	}
	path_gate(j);
}

static void gate_readlink_issue(struct spn_job *j);

static void
gate_readlink_done(struct spn_job *j)
{
	char target[SPN_PATH_MAX];

	if (j->err < 0 || j->res->target == NULL || j->res->target[0] == '\0' ||
	    strlen(j->res->target) >= sizeof(target)) {
		int err = j->err < 0 ? j->err : -EIO;

		gate_restore(j);
		spn_job_reply(j, err);
		return;
	}
	snprintf(target, sizeof(target), "%s", j->res->target);
	if (spn_mirror_symlink(j->m, j->d->tmpdir, j->rel, target) == 0 &&
	    index_get(j, j->rel, &j->e) == 0) {
		j->e.state = SPN_ENT_CACHED;
		spn_consist_set_content(&j->e);
		index_put(j, j->rel, &j->e);
	}
	gate_follow(j, target);
}

static void
gate_readlink_issue(struct spn_job *j)
{
	if (job_call(j, gate_readlink_issue, gate_readlink_done, 0))
		return;
	spn_nfs_readlink(j->m->nfs, j->rel, job_cb, j);
}

/* An ancestor was looked up: scan again (or fail as the lookup did). */
static void
gate_resolved(struct spn_job *j)
{
	int err = j->err;

	gate_restore(j);
	j->err = 0;
	if (err < 0) {
		spn_job_reply(j, err);
		return;
	}
	path_gate(j);
}

static void
path_gate(struct spn_job *j)
{
	char anc[SPN_PATH_MAX], target[SPN_PATH_MAX];
	struct spn_entry e;
	int which, rc = 0;

	for (which = 1; which <= 2; which++) {
		if (which == 2 && j->req.op != SPN_OP_RENAME && j->req.op != SPN_OP_LINK)
			break;
		j->gating = which;
		rc = gate_scan(j, gate_target(j), anc, sizeof(anc), &e);
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		j->gating = 0;
		job_begin(j);
		return;
	}
	if (rc < 0) {
		j->gating = 0;
		spn_job_reply(j, rc);
		return;
	}
	/* Work on the ancestor in j->rel; the request's path waits in
	 * gate_rel (and, for the second name, rel in child). */
	snprintf(j->gate_rel, sizeof(j->gate_rel), "%s", gate_target(j));
	if (j->gating == 2)
		snprintf(j->child, sizeof(j->child), "%s", j->rel);
	snprintf(j->rel, sizeof(j->rel), "%s", anc);
	if (rc == 1) {
		resolve(j, 0, gate_resolved);
		return;
	}
	if (spn_consist_content_valid(&e) && !spn_mirror_is_stub(j->m, j->rel) &&
	    spn_mirror_readlink(j->m, j->rel, target, sizeof(target)) > 0) {
		gate_follow(j, target);
		return;
	}
	gate_readlink_issue(j);
}

/* ------------------------------------------------------------ dispatch */

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
	j->cred = cl->cred;
	cl->refs++;
	d->njobs++;
	if (req->op <= SPN_OP_MAX)
		d->requests[req->op]++;
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
		resolve_request(j);
		return;
	case SPN_OP_SHUTDOWN:
		spn_info("shutdown requested by pid %d", (int)cl->pid);
		d->stopping = 1;
		spn_job_reply(j, 0);
		return;
	default:
		break;
	}

	j->m = find_mount(d, req->path, j->rel, sizeof(j->rel), &rc);
	if (j->m == NULL) {
		spn_job_reply(j, rc);
		return;
	}
	if (req->op == SPN_OP_RENAME || req->op == SPN_OP_LINK) {
		struct spn_mount *m2 = find_mount(d, req->path2, j->rel2, sizeof(j->rel2), &rc);

		if (m2 == NULL || m2 != j->m) {
			spn_job_reply(j, m2 == NULL ? rc : -EXDEV);
			return;
		}
	}
	if (req->op == SPN_OP_CLOSE || req->op == SPN_OP_FSYNC) {
		/* Its path was gated at the open. */
		job_begin(j);
		return;
	}
	path_gate(j);
}

/* A request whose path holds no symlink above its name: answer it. */
static void
job_begin(struct spn_job *j)
{
	const struct spn_req *req = &j->req;

	if ((req->spec & SPN_SPEC_REPLAY) && replay(j))
		return;
	if (j->req.spec & SPN_SPEC_PREDICT) { /* cleared for a foreign caller */
		switch (req->op) {
		case SPN_OP_CLOSE:
		case SPN_OP_MKDIR:
		case SPN_OP_RMDIR:
		case SPN_OP_UNLINK:
		case SPN_OP_RENAME:
			if (predict_write(j))
				return;
			break;
		case SPN_OP_OPEN:
			if ((req->flags & O_ACCMODE) != O_RDONLY || (req->flags & (O_CREAT | O_TRUNC))) {
				if (predict_write(j))
					return;
				break;
			}
			/* fall through */
		default:
			if (predict(j) || list_parent_first(j))
				return;
		}
	}
	{
		char path[SPN_PATH_MAX];
		int mode;

		if (j->cred.foreign > 0 && cred_check_what(j, path, sizeof(path), &mode)) {
			cred_check_issue(j);
			return;
		}
	}
	job_dispatch(j);
}

/* The ordinary (non-predicted) handling of a request with a mount. */
static void
job_dispatch(struct spn_job *j)
{
	const struct spn_req *req = &j->req;

	switch (req->op) {
	case SPN_OP_STAT:
		resolve(j, 0, stat_resolved);
		break;
	case SPN_OP_ACCESS:
		resolve(j, 0, access_resolved);
		break;
	case SPN_OP_OPEN:
		/* Close-to-open: every open asks the server. */
		resolve(j, 1, open_resolved);
		break;
	case SPN_OP_READDIR:
		resolve(j, 0, readdir_resolved);
		break;
	case SPN_OP_READLINK:
		resolve(j, 0, readlink_resolved);
		break;
	case SPN_OP_CLOSE:
	case SPN_OP_FSYNC:
		close_start(j);
		break;
	case SPN_OP_SETATTR:
		resolve(j, 0, setattr_resolved);
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
		mutate_issue(j);
		break;
	case SPN_OP_STATFS:
		statfs_issue(j);
		break;
	default:
		spn_job_reply(j, -ENOSYS);
		break;
	}
}
