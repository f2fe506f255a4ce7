/*
 * daemon/nfs.c: the daemon's NFS sessions (see daemon/nfs.h) and the calls
 * by path, through libnfs's path API (NFSv3 and NFSv4): the session's
 * life, the op plumbing shared with daemon/nfs_fh.c (the NFSv3 calls by
 * file handle) and daemon/nfs_xfer.c (whole-file transfers), the server's
 * clock against ours (from times the server sets), single calls,
 * listings, CREATE and SETATTR.
 *
 * libnfs contexts are neither fork- nor thread-safe: each lives in the
 * daemon's single thread and is driven from its poll loop. Automatic
 * reconnection is off on purpose: libnfs would re-send every call in flight,
 * including non-idempotent ones (a REMOVE sent twice can delete a file that
 * someone re-created). Instead a lost session fails its calls with
 * -ENOTCONN and the daemon decides, call by call, what may be sent again.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/daemon/nfs_op.h"
#include "client/log.h"


static const char *const call_names[SPN_CALL_NTYPES] = {
	[SPN_CALL_GETATTR] = "getattr", [SPN_CALL_READDIR] = "readdir",
	[SPN_CALL_READLINK] = "readlink", [SPN_CALL_READ] = "read",
	[SPN_CALL_WRITE] = "write", [SPN_CALL_COMMIT] = "commit",
	[SPN_CALL_OPEN] = "open", [SPN_CALL_CREATE] = "create",
	[SPN_CALL_MKDIR] = "mkdir", [SPN_CALL_REMOVE] = "remove",
	[SPN_CALL_RMDIR] = "rmdir", [SPN_CALL_RENAME] = "rename",
	[SPN_CALL_LINK] = "link", [SPN_CALL_SYMLINK] = "symlink",
	[SPN_CALL_SETATTR] = "setattr", [SPN_CALL_STATFS] = "statfs",
	[SPN_CALL_ACCESS] = "access", [SPN_CALL_MOUNT] = "mount",
	[SPN_CALL_LOOKUP] = "lookup", [SPN_CALL_MKNOD] = "mknod",
};

const char *
spn_nfs_call_name(enum spn_nfs_call c)
{
	return (unsigned)c < SPN_CALL_NTYPES ? call_names[c] : "?";
}

int
spn_nfs_err_transport(int err)
{
	switch (-err) {
	case ENOTCONN:
	case EFAULT: /* libnfs: RPC_STATUS_ERROR */
	case EINTR:  /* libnfs: cancelled or timed out */
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNREFUSED:
	case EPIPE:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return 1;
	}
	return 0;
}

int
spn_nfs_new(struct spn_nfs **out, const char *url, int rpc_timeout_ms)
{
	struct spn_nfs *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	n->url = strdup(url);
	if (n->url == NULL) {
		free(n);
		return -ENOMEM;
	}
	n->rpc_timeout_ms = rpc_timeout_ms;
	n->version = strstr(url, "version=4") != NULL ? 4 : 3;
	*out = n;
	return 0;
}

static void op_unlink(struct spn_nfs_op *op);
/* Tear the session down: libnfs cancels every PDU (callbacks run with
 * -EINTR while tearing_down is set); then fail what is left. */
static void
teardown(struct spn_nfs *n, const char *why)
{
	struct nfs_context *nfs = n->nfs;

	if (nfs == NULL)
		return;
	if (why != NULL)
		snprintf(n->error, sizeof(n->error), "%s", why);
	spn_info("nfs %s: session lost: %s", n->url, n->error);
	n->tearing_down = 1;
	n->nfs = NULL;
	n->state = SPN_NFS_DOWN;
	nfs_destroy_context(nfs);
	n->tearing_down = 0;
	/* Composite ops whose libnfs parts were all cancelled are finished
	 * by spn_nfsop_part_done; any op still listed had nothing in libnfs. */
	while (n->ops != NULL)
		spn_nfsop_finish(n->ops, -ENOTCONN);
}

void
spn_nfs_free(struct spn_nfs *n)
{
	if (n == NULL)
		return;
	teardown(n, "shutting down");
	free(n->url);
	free(n);
}

enum spn_nfs_state
spn_nfs_state(const struct spn_nfs *n)
{
	return n->state;
}

const char *
spn_nfs_error(const struct spn_nfs *n)
{
	return n->error;
}

const struct spn_nfs_stats *
spn_nfs_stats(const struct spn_nfs *n)
{
	return &n->stats;
}

int
spn_nfs_version(const struct spn_nfs *n)
{
	return n->version;
}

/* The server set t between sent_ns and now (our clock): its clock is ahead
 * of ours by at least t - now and at most t - sent_ns. The bounds narrow
 * with each sample; bounds that no longer meet (a clock was stepped) start
 * over from this sample. */
void
spn_nfsop_clock_sample(struct spn_nfs *n, const struct spn_time *t, int64_t sent_ns)
{
	int64_t st = (int64_t)t->sec * 1000000000LL + t->nsec;
	int64_t lo = st - spn_now_ns(), hi = st - sent_ns;

	if (sent_ns == 0 || t->sec == 0)
		return;
	if (n->skew_known && lo <= n->skew_hi && hi >= n->skew_lo) {
		if (lo > n->skew_lo)
			n->skew_lo = lo;
		if (hi < n->skew_hi)
			n->skew_hi = hi;
		return;
	}
	n->skew_known = 1;
	n->skew_lo = lo;
	n->skew_hi = hi;
}

int
spn_nfs_clock_offset(const struct spn_nfs *n, int64_t *off_ns)
{
	if (!n->skew_known)
		return -EAGAIN;
	*off_ns = n->skew_lo > 0 ? n->skew_lo : n->skew_hi < 0 ? n->skew_hi : 0;
	return 0;
}

/* A context whose mount failed is left for spn_nfs_connect() to replace:
 * destroying it inside libnfs's own callback is not allowed. */
int
spn_nfs_fd(const struct spn_nfs *n)
{
	return n->nfs != NULL && n->state != SPN_NFS_DOWN ? nfs_get_fd(n->nfs) : -1;
}

int
spn_nfs_events(const struct spn_nfs *n)
{
	return spn_nfs_fd(n) >= 0 ? nfs_which_events(n->nfs) : 0;
}

void
spn_nfs_service(struct spn_nfs *n, int revents)
{
	if (spn_nfs_fd(n) < 0)
		return;
	if (nfs_service(n->nfs, revents) < 0)
		teardown(n, nfs_get_error(n->nfs));
}

/* ------------------------------------------------------------ op plumbing */

struct spn_nfs_op *
spn_nfsop_new(struct spn_nfs *n, enum spn_nfs_call kind, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->n = n;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->fd = -1;
	op->sent_ns = spn_now_ns();
	op->next = n->ops;
	if (n->ops != NULL)
		n->ops->prev = op;
	n->ops = op;
	n->stats.inflight++;
	return op;
}

static void
op_unlink(struct spn_nfs_op *op)
{
	struct spn_nfs *n = op->n;

	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		n->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	op->next = op->prev = NULL;
	n->stats.inflight--;
}

void
spn_nfsop_free(struct spn_nfs_op *op)
{
	size_t i;

	for (i = 0; i < op->res.nents; i++)
		free(op->res.ents[i].name);
	free(op->res.ents);
	free(op->res.target);
	free(op->path);
	free(op);
}

/*
 * NFSv4.0 numbers every OPEN and CLOSE of an open-owner with one sequence
 * id, and libnfs 4.0 has one owner per session and reads the seqid when it
 * sends: two OPEN/CLOSE in flight carry the same seqid and the server
 * refuses one (NFS4ERR_BAD_SEQID: write-backs were refused under full when
 * stores overlapped). So a v4 op that opens a file holds the session's
 * open-owner from its OPEN to its end, and the next waits. 0: go on now;
 * 1: queued, start(op) runs when the owner is free (with the ids in force
 * now).
 */
int
spn_nfsop_gate_enter(struct spn_nfs_op *op, void (*start)(struct spn_nfs_op *op))
{
	struct spn_nfs *n = op->n;

	if (n->version != 4)
		return 0;
	if (n->gate == NULL) {
		n->gate = op;
		return 0;
	}
	op->gate_start = start;
	op->gate_waiting = 1;
	op->has_cred = n->has_cred;
	op->cred = n->cred;
	if (n->gate_last != NULL)
		n->gate_last->gate_next = op;
	else
		n->gate_first = op;
	n->gate_last = op;
	return 1;
}

static void
gate_leave(struct spn_nfs_op *op)
{
	struct spn_nfs *n = op->n;
	struct spn_nfs_op **pp, *prev = NULL, *w;

	if (op->gate_waiting) {
		for (pp = &n->gate_first; *pp != NULL; prev = *pp, pp = &(*pp)->gate_next) {
			if (*pp == op) {
				*pp = op->gate_next;
				if (n->gate_last == op)
					n->gate_last = prev;
				break;
			}
		}
		op->gate_waiting = 0;
		return;
	}
	if (n->gate != op)
		return;
	n->gate = NULL;
	/* A start may finish its op at once, which starts the next. */
	while (n->gate == NULL && (w = n->gate_first) != NULL) {
		n->gate_first = w->gate_next;
		if (n->gate_first == NULL)
			n->gate_last = NULL;
		w->gate_waiting = 0;
		n->gate = w;
		spn_nfs_set_cred(n, w->has_cred ? &w->cred : NULL);
		w->gate_start(w);
	}
}

void
spn_nfsop_finish(struct spn_nfs_op *op, int err)
{
	gate_leave(op);
	op_unlink(op);
	op->finished = 1;
	if (err < 0 && op->res.errmsg == NULL)
		op->res.errmsg = op->errmsg[0] ? op->errmsg : strerror(-err);
	op->cb(err, &op->res, op->arg);
	/* libnfs may complete a call inside the call itself (an NFSv3 close
	 * needs no RPC): then the issuer still holds the op. */
	if (op->refs == 0)
		spn_nfsop_free(op);
}

void
spn_nfsop_set_error(struct spn_nfs_op *op, int err, const void *data)
{
	if (op->err == 0) {
		op->err = err;
		if (data != NULL)
			snprintf(op->errmsg, sizeof(op->errmsg), "%s", (const char *)data);
	}
}

void
spn_nfsop_attr_fix(struct spn_attr *a)
{
	a->mode &= 07777;
	a->atime.nsec %= 1000000000u;
	a->mtime.nsec %= 1000000000u;
	a->ctime.nsec %= 1000000000u;
}

int
spn_nfsop_down(struct spn_nfs_op *op)
{
	if (op->n->nfs != NULL && op->n->state == SPN_NFS_UP)
		return 0;
	spn_nfsop_finish(op, -ENOTCONN);
	return 1;
}

void
spn_nfsop_issue_begin(struct spn_nfs_op *op)
{
	op->refs++;
	op->pending++;
}

int
spn_nfsop_issue_end(struct spn_nfs_op *op, int rc)
{
	op->refs--;
	if (rc != 0) {
		op->pending--;
		snprintf(op->errmsg, sizeof(op->errmsg), "%s",
			 op->n->nfs ? nfs_get_error(op->n->nfs) : "not connected");
		return -ENOTCONN;
	}
	if (op->finished) {
		if (op->refs == 0)
			spn_nfsop_free(op);
		return 1;
	}
	op->n->stats.calls[op->kind]++;
	return 0;
}

void
spn_nfsop_attr_from_stat(struct spn_attr *a, const struct nfs_stat_64 *st)
{
	memset(a, 0, sizeof(*a));
	a->type = (uint32_t)(st->nfs_mode & S_IFMT);
	a->mode = (uint32_t)(st->nfs_mode & 07777);
	a->nlink = (uint32_t)st->nfs_nlink;
	a->uid = (uint32_t)st->nfs_uid;
	a->gid = (uint32_t)st->nfs_gid;
	a->size = st->nfs_size;
	a->used = st->nfs_used ? st->nfs_used : st->nfs_blocks * 512;
	a->rdev = st->nfs_rdev;
	a->fsid = st->nfs_dev;
	a->fileid = st->nfs_ino;
	a->atime.sec = (int64_t)st->nfs_atime;
	a->atime.nsec = (uint32_t)st->nfs_atime_nsec;
	a->mtime.sec = (int64_t)st->nfs_mtime;
	a->mtime.nsec = (uint32_t)st->nfs_mtime_nsec;
	a->ctime.sec = (int64_t)st->nfs_ctime;
	a->ctime.nsec = (uint32_t)st->nfs_ctime_nsec;
	spn_nfsop_attr_fix(a);
}

static void
attr_from_dirent(struct spn_attr *a, const struct nfsdirent *d)
{
	memset(a, 0, sizeof(*a));
	a->type = spn_nfs3_type(d->type);
	if (a->type == 0)
		a->type = d->mode & S_IFMT;
	a->mode = d->mode & 07777;
	a->nlink = d->nlink;
	a->uid = d->uid;
	a->gid = d->gid;
	a->size = d->size;
	a->used = d->used;
	a->rdev = d->rdev;
	a->fsid = d->dev;
	a->fileid = d->inode;
	a->atime.sec = d->atime.tv_sec;
	a->atime.nsec = d->atime_nsec;
	a->mtime.sec = d->mtime.tv_sec;
	a->mtime.nsec = d->mtime_nsec;
	a->ctime.sec = d->ctime.tv_sec;
	a->ctime.nsec = d->ctime_nsec;
	spn_nfsop_attr_fix(a);
}

/* One libnfs callback finished for op. Returns 1 if the op may continue
 * (more work can be queued), 0 if it is finished or must wind down. */
int
spn_nfsop_part_done(struct spn_nfs_op *op, int err, void *data)
{
	op->pending--;
	if (err < 0)
		spn_nfsop_set_error(op, spn_nfs_err_transport(err) && op->n->tearing_down
					    ? -ENOTCONN : err, data);
	if (op->n->tearing_down) {
		/* No new calls may be queued now; the last part finishes. */
		if (op->pending == 0)
			spn_nfsop_finish(op, -ENOTCONN);
		return 0;
	}
	return 1;
}

int
spn_nfsop_ok(struct spn_nfs_op *op, int err, void *data)
{
	if (!spn_nfsop_part_done(op, err, data))
		return 0;
	if (err < 0) {
		spn_nfsop_finish(op, op->err);
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------ connect */

static void
mount_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	struct spn_nfs *n = op->n;

	if (!spn_nfsop_part_done(op, err, data))
		return;
	if (err < 0) {
		snprintf(n->error, sizeof(n->error), "mount failed: %s",
			 data ? (const char *)data : strerror(-err));
		op->res.errmsg = n->error;
		spn_nfsop_finish(op, err);
		/* Not from inside libnfs's callback: the caller retries later
		 * and spn_nfs_connect() recreates the context. */
		n->state = SPN_NFS_DOWN;
		return;
	}
	n->state = SPN_NFS_UP;
	n->error[0] = '\0';
	{
		/* Calls go out as small separate writes, many at once (a
		 * process's validations): with Nagle's algorithm each one
		 * after the first waits for the previous one's ACK, a round
		 * trip over a WAN. */
		int one = 1;

		setsockopt(nfs_get_fd(nfs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	spn_nfsop_finish(op, 0);
}

/* The URL's uid=/gid= value, or dflt. */
static uint32_t
url_id(const char *url, const char *key, uint32_t dflt)
{
	const char *q = strchr(url, '?'), *p;
	size_t kl = strlen(key);

	for (p = q; p != NULL; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, key, kl) == 0 && p[1 + kl] == '=')
			return (uint32_t)strtoul(p + 2 + kl, NULL, 10);
	return dflt;
}

void
spn_nfs_set_cred(struct spn_nfs *n, const struct spn_nfs_cred *c)
{
	struct AUTH *auth;

	if (c == NULL ? !n->has_cred
		      : n->has_cred && memcmp(c, &n->cred, sizeof(*c)) == 0)
		return; /* the hot path: nothing changes */
	if (n->nfs == NULL)
		return;
	if (c == NULL)
		auth = libnfs_authunix_create("libnfs", url_id(n->url, "uid", (uint32_t)getuid()),
					      url_id(n->url, "gid", (uint32_t)getgid()), 0, NULL);
	else
		auth = libnfs_authunix_create("libnfs", c->uid, c->gid,
					      c->ngroups > SPN_NFS_NGROUPS ? SPN_NFS_NGROUPS
									   : c->ngroups,
					      (uint32_t *)c->groups);
	if (auth == NULL) {
		/* Never send a call with the previous caller's ids. */
		spn_err("out of memory for NFS credentials");
		abort();
	}
	rpc_set_auth(nfs_get_rpc_context(n->nfs), auth);
	spn_debug("nfs %s: calls now as uid %d gid %d (%u groups)", n->url,
		  c ? (int)c->uid : -1, c ? (int)c->gid : -1, c ? c->ngroups : 0);
	n->has_cred = c != NULL;
	if (c != NULL)
		n->cred = *c;
}

int
spn_nfs_connect(struct spn_nfs *n, spn_nfs_cb cb, void *arg)
{
	struct nfs_url *u;
	struct spn_nfs_op *op;
	int rc;

	if (n->nfs != NULL) {
		/* A failed mount leaves a context behind: start afresh. */
		teardown(n, NULL);
	}
	n->nfs = nfs_init_context();
	if (n->nfs == NULL)
		return -ENOMEM;
	/* URL parameters first, then our non-negotiable settings. */
	u = nfs_parse_url_dir(n->nfs, n->url);
	if (u == NULL) {
		snprintf(n->error, sizeof(n->error), "bad URL %s: %s", n->url,
			 nfs_get_error(n->nfs));
		nfs_destroy_context(n->nfs);
		n->nfs = NULL;
		return -EINVAL;
	}
	n->has_cred = 0; /* a fresh context has the session's own ids */
	nfs_set_autoreconnect(n->nfs, 0);
	nfs_set_dircache(n->nfs, 0);
	nfs_set_timeout(n->nfs, n->rpc_timeout_ms);
	op = spn_nfsop_new(n, SPN_CALL_MOUNT, cb, arg);
	if (op == NULL) {
		nfs_destroy_url(u);
		return -ENOMEM;
	}
	n->state = SPN_NFS_CONNECTING;
	if (n->stats.calls[SPN_CALL_MOUNT] > 0)
		n->stats.reconnects++;
	rc = QUEUE(op, nfs_mount_async(n->nfs, u->server, u->path, mount_cb, op));
	nfs_destroy_url(u);
	if (rc < 0) {
		snprintf(n->error, sizeof(n->error), "mount failed: %s", op->errmsg);
		op->res.errmsg = n->error;
		n->state = SPN_NFS_DOWN;
		spn_nfsop_finish(op, -ECONNREFUSED);
	}
	return 0;
}

/* ------------------------------------------------------------ simple calls */

/* An op that keeps a copy of its path (op->path). NULL when it cannot
 * start; the caller returns *rc then: -ENOMEM before the op existed, 0
 * once it failed through its callback. */
struct spn_nfs_op *
spn_nfsop_new_path(struct spn_nfs *n, enum spn_nfs_call kind, const char *path, spn_nfs_cb cb,
	    void *arg, int *rc)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, kind, cb, arg);

	*rc = -ENOMEM;
	if (op == NULL)
		return NULL;
	op->path = strdup(path);
	if (op->path == NULL) {
		spn_nfsop_finish(op, -ENOMEM);
		*rc = 0;
		return NULL;
	}
	return op;
}

static void
simple_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_ok(op, err, data))
		return;
	if ((op->kind == SPN_CALL_MKDIR || op->kind == SPN_CALL_SYMLINK ||
	     op->kind == SPN_CALL_MKNOD) &&
	    op->path != NULL) {
		/* libnfs's path API returns no attributes for these. */
		char *path = op->path;

		op->path = NULL;
		op->kind = SPN_CALL_GETATTR;
		if (QUEUE(op, nfs_lstat64_async(nfs, path, simple_cb, op)) < 0)
			spn_nfsop_finish(op, -ENOTCONN);
		free(path);
		return;
	}
	switch (op->kind) {
	case SPN_CALL_GETATTR:
		spn_nfsop_attr_from_stat(&op->res.attr, data);
		break;
	case SPN_CALL_READLINK:
		/* libnfs 4.0's NFSv4 READLINK hands over the XDR string
		 * without a terminator: its length is the link's size, which
		 * readlink_size_cb asked just before (NFSv3's is terminated). */
		op->res.target = op->n->version == 4 && op->res.attr.type == S_IFLNK
					 ? strndup(data, (size_t)op->res.attr.size)
					 : strdup(data);
		if (op->res.target == NULL) {
			spn_nfsop_finish(op, -ENOMEM);
			return;
		}
		break;
	case SPN_CALL_STATFS: {
		const struct nfs_statvfs_64 *s = data;

		op->res.sfs.bsize = (uint32_t)s->f_bsize;
		op->res.sfs.namemax = (uint32_t)s->f_namemax;
		op->res.sfs.blocks = s->f_blocks;
		op->res.sfs.bfree = s->f_bfree;
		op->res.sfs.bavail = s->f_bavail;
		op->res.sfs.files = s->f_files;
		op->res.sfs.ffree = s->f_ffree;
		break;
	}
	default:
		break;
	}
	spn_nfsop_finish(op, 0);
}

int
spn_nfs_getattr(struct spn_nfs *n, const char *path, int nofollow, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_GETATTR, nofollow ? nfs_lstat64_async(n->nfs, path, simple_cb, op)
			   : nfs_stat64_async(n->nfs, path, simple_cb, op));
}

/* NFSv4: the link's size first (see simple_cb), then the READLINK. */
static void
readlink_size_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_ok(op, err, data))
		return;
	spn_nfsop_attr_from_stat(&op->res.attr, data);
	if (op->res.attr.type != S_IFLNK) {
		spn_nfsop_finish(op, -EINVAL);
		return;
	}
	if (QUEUE(op, nfs_readlink_async(nfs, op->path, simple_cb, op)) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

static int
readlink_v3(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_READLINK, nfs_readlink_async(n->nfs, path, simple_cb, op));
}

int
spn_nfs_readlink(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op;
	int rc;

	if (n->version != 4)
		return readlink_v3(n, path, cb, arg);
	op = spn_nfsop_new_path(n, SPN_CALL_READLINK, path, cb, arg, &rc);
	if (op == NULL)
		return rc;
	START(op, nfs_lstat64_async(n->nfs, path, readlink_size_cb, op));
}

int
spn_nfs_statfs(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_STATFS, nfs_statvfs64_async(n->nfs, path, simple_cb, op));
}

int
spn_nfs_access(struct spn_nfs *n, const char *path, int mode, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_ACCESS, nfs_access_async(n->nfs, path, mode, simple_cb, op));
}

int
spn_nfs_mkdir(struct spn_nfs *n, const char *path, int mode, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_MKDIR, cb, arg);

	if (op == NULL)
		return -ENOMEM;
	op->path = strdup(path);
	START(op, nfs_mkdir2_async(n->nfs, path, mode, simple_cb, op));
}

int
spn_nfs_remove(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_REMOVE, nfs_unlink_async(n->nfs, path, simple_cb, op));
}

int
spn_nfs_rmdir(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_RMDIR, nfs_rmdir_async(n->nfs, path, simple_cb, op));
}

int
spn_nfs_rename(struct spn_nfs *n, const char *from, const char *to, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_RENAME, nfs_rename_async(n->nfs, from, to, simple_cb, op));
}

int
spn_nfs_link(struct spn_nfs *n, const char *from, const char *to, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_LINK, nfs_link_async(n->nfs, from, to, simple_cb, op));
}

int
spn_nfs_symlink(struct spn_nfs *n, const char *target, const char *path, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_SYMLINK, cb, arg);

	if (op == NULL)
		return -ENOMEM;
	op->path = strdup(path);
	START(op, nfs_symlink_async(n->nfs, target, path, simple_cb, op));
}

int
spn_nfs_mknod(struct spn_nfs *n, const char *path, int mode, uint64_t rdev, spn_nfs_cb cb,
	      void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_MKNOD, cb, arg);

	if (op == NULL)
		return -ENOMEM;
	if (n->version == 4 && !S_ISCHR(mode) && !S_ISBLK(mode)) {
		/* libnfs 4.0 sends no CREATE of NF4FIFO/NF4SOCK. */
		spn_nfsop_finish(op, -EOPNOTSUPP);
		return 0;
	}
	op->path = strdup(path);
	START(op, nfs_mknod_async(n->nfs, path, mode, (int)rdev, simple_cb, op));
}

/* ------------------------------------------------------------ readdir */

static void
readdir_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	struct nfsdir *dir = data;
	struct nfsdirent *d;
	size_t cap = 0;

	if (!spn_nfsop_part_done(op, err, data)) {
		if (err == 0 && dir != NULL)
			nfs_closedir(nfs, dir);
		return;
	}
	if (err < 0) {
		spn_nfsop_finish(op, op->err);
		return;
	}
	while ((d = nfs_readdir(nfs, dir)) != NULL) {
		if (strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0)
			continue;
		if (op->res.nents == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *p = realloc(op->res.ents, ncap * sizeof(*op->res.ents));

			if (p == NULL)
				goto nomem;
			op->res.ents = p;
			cap = ncap;
		}
		memset(&op->res.ents[op->res.nents], 0, sizeof(op->res.ents[0]));
		op->res.ents[op->res.nents].name = strdup(d->name);
		if (op->res.ents[op->res.nents].name == NULL)
			goto nomem;
		attr_from_dirent(&op->res.ents[op->res.nents].attr, d);
		/* libnfs 4.0's NFSv4 READDIR leaves nfsdirent.inode unset
		 * (uninitialised memory): the fileid is unknown there. */
		if (op->n->version == 4)
			op->res.ents[op->res.nents].attr.fileid = 0;
		op->res.nents++;
	}
	nfs_closedir(nfs, dir);
	spn_nfsop_finish(op, 0);
	return;
nomem:
	nfs_closedir(nfs, dir);
	spn_nfsop_finish(op, -ENOMEM);
}

int
spn_nfs_readdir(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg)
{
	SIMPLE_CALL(SPN_CALL_READDIR, nfs_opendir_async(n->nfs, path, readdir_cb, op));
}

/* ------------------------------------------------------------ create */

static void
create_close_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_part_done(op, err, data))
		return;
	spn_nfsop_finish(op, op->err);
}

static void
create_stat_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_part_done(op, err, data))
		return;
	if (err == 0)
		spn_nfsop_attr_from_stat(&op->res.attr, data);
	if (QUEUE(op, nfs_close_async(nfs, op->fh, create_close_cb, op)) < 0)
		spn_nfsop_finish(op, op->err ? op->err : -ENOTCONN);
}

static void
create_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_ok(op, err, data))
		return;
	op->fh = data;
	spn_nfsop_res_fh(op);
	op->kind = SPN_CALL_GETATTR;
	if (QUEUE(op, nfs_fstat64_async(nfs, op->fh, create_stat_cb, op)) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

static void
create_start(struct spn_nfs_op *op)
{
	SEND(op, nfs_create_async(op->n->nfs, op->path, op->oflags, op->omode, create_cb, op));
}

int
spn_nfs_create(struct spn_nfs *n, const char *path, int mode, int excl, spn_nfs_cb cb, void *arg)
{
	int rc;
	struct spn_nfs_op *op = spn_nfsop_new_path(n, SPN_CALL_CREATE, path, cb, arg, &rc);

	if (op == NULL)
		return rc;
	op->oflags = O_RDWR | (excl ? O_EXCL : 0);
	op->omode = mode;
	if (!spn_nfsop_gate_enter(op, create_start))
		create_start(op);
	return 0;
}

/* ------------------------------------------------------------ setattr */

static void setattr_next(struct spn_nfs_op *op);

static void
setattr_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_ok(op, err, data))
		return;
	if (op->step == 99) {
		spn_nfsop_attr_from_stat(&op->res.attr, data);
		spn_nfsop_finish(op, 0);
		return;
	}
	setattr_next(op);
}

/* One field group per call: libnfs's path API has no combined SETATTR. */
static void
setattr_next(struct spn_nfs_op *op)
{
	struct nfs_context *nfs = op->n->nfs;
	const struct spn_nfs_sattr *sa = &op->sa;
	int nf = sa->mask & SPN_NSA_NOFOLLOW, rc;

	for (;;) {
		/* The call below may complete at once: hold op across it. */
		spn_nfsop_issue_begin(op);
		switch (op->step++) {
		case 0:
			if (!(sa->mask & SPN_NSA_SIZE))
				goto skip;
			rc = nfs_truncate_async(nfs, op->path, sa->size, setattr_cb, op);
			break;
		case 1:
			if (!(sa->mask & (SPN_NSA_UID | SPN_NSA_GID)))
				goto skip;
			/* -1 keeps a field as it is, as in chown(2). */
			rc = (nf ? nfs_lchown_async : nfs_chown_async)(
				nfs, op->path, sa->mask & SPN_NSA_UID ? (int)sa->uid : -1,
				sa->mask & SPN_NSA_GID ? (int)sa->gid : -1, setattr_cb, op);
			break;
		case 2:
			if (!(sa->mask & SPN_NSA_MODE))
				goto skip;
			rc = (nf ? nfs_lchmod_async : nfs_chmod_async)(nfs, op->path, (int)sa->mode,
								       setattr_cb, op);
			break;
		case 3: {
			struct timeval tv[2];

			if (!(sa->mask & SPN_NSA_TIMES))
				goto skip;
			/* libnfs's utimes takes microseconds. */
			tv[0].tv_sec = sa->atime.sec;
			tv[0].tv_usec = sa->atime.nsec / 1000;
			tv[1].tv_sec = sa->mtime.sec;
			tv[1].tv_usec = sa->mtime.nsec / 1000;
			rc = (nf ? nfs_lutimes_async : nfs_utimes_async)(nfs, op->path, tv,
									 setattr_cb, op);
			break;
		}
		default:
			op->step = 99;
			op->kind = SPN_CALL_GETATTR;
			rc = (nf ? nfs_lstat64_async : nfs_stat64_async)(nfs, op->path, setattr_cb,
									 op);
			break;
		}
		if (spn_nfsop_issue_end(op, rc) < 0)
			spn_nfsop_finish(op, -ENOTCONN);
		return;
skip:
		op->refs--;
		op->pending--;
	}
}

static void
setattr_start(struct spn_nfs_op *op)
{
	if (!spn_nfsop_down(op))
		setattr_next(op);
}

int
spn_nfs_setattr(struct spn_nfs *n, const char *path, const struct spn_nfs_sattr *sa,
		spn_nfs_cb cb, void *arg)
{
	int rc;
	struct spn_nfs_op *op = spn_nfsop_new_path(n, SPN_CALL_SETATTR, path, cb, arg, &rc);

	if (op == NULL)
		return rc;
	op->sa = *sa;
	/* A truncate by path is an OPEN + SETATTR + CLOSE under NFSv4. */
	if (!(sa->mask & SPN_NSA_SIZE) || !spn_nfsop_gate_enter(op, setattr_start))
		setattr_start(op);
	return 0;
}
