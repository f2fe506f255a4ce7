/*
 * daemon/nfs_xfer.c: whole-file transfers by path (spn_nfs_fetch,
 * spn_nfs_store): OPEN, up to XFER_WINDOW READs or WRITEs in flight,
 * COMMIT and the times asked for (store), a final GETATTR, CLOSE; and the
 * transfer pump the NFSv3 store by handle (daemon/nfs_fh.c) runs on too.
 * The session and op plumbing are daemon/nfs.c's (daemon/nfs_op.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/daemon/nfs_op.h"

static void xfer_pump(struct spn_nfs_op *op);

static void
xfer_close_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_part_done(op, err, data))
		return;
	op->res.bytes = op->bytes;
	/* A failed CLOSE after a good transfer does not undo it. */
	spn_nfsop_finish(op, op->err);
}

static void
xfer_close(struct spn_nfs_op *op)
{
	if (op->closing)
		return;
	op->closing = 1;
	op->kind = SPN_CALL_OPEN; /* counted with opens: open/close pairs */
	if (QUEUE(op, nfs_close_async(op->n->nfs, op->fh, xfer_close_cb, op)) < 0)
		spn_nfsop_finish(op, op->err ? op->err : -ENOTCONN);
}

/* spn_nfsop_ok for a transfer's later steps: a failure closes the file. */
static int
xfer_ok(struct spn_nfs_op *op, int err, void *data)
{
	if (!spn_nfsop_part_done(op, err, data))
		return 0;
	if (err < 0) {
		xfer_close(op);
		return 0;
	}
	return 1;
}

static void
xfer_final_stat_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!spn_nfsop_part_done(op, err, data))
		return;
	if (err == 0)
		spn_nfsop_attr_from_stat(&op->res.attr, data);
	xfer_close(op);
}

static void
xfer_final_stat(struct spn_nfs_op *op)
{
	op->step = 3;
	op->kind = SPN_CALL_GETATTR;
	if (QUEUE(op, nfs_fstat64_async(op->n->nfs, op->fh, xfer_final_stat_cb, op)) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

static void
fetch_read_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_chunk *c = priv;
	struct spn_nfs_op *op = c->op;

	if (!spn_nfsop_part_done(op, err, data)) {
		free(c);
		return;
	}
	if (err >= 0) {
		size_t got = (size_t)err;

		if (got > 0 && pwrite(op->fd, data, got, (off_t)c->off) != (ssize_t)got)
			spn_nfsop_set_error(op, -errno, "cannot write the cache file");
		op->bytes += got;
		op->n->stats.bytes_read += got;
		if (c->off + got > op->end)
			op->end = c->off + got;
		/* A short read is the end only at or past the size we knew;
		 * before it, it would leave a hole: fail, the caller retries. */
		if (got < c->len) {
			if (c->off + got < op->size)
				spn_nfsop_set_error(op, -EAGAIN, "short read inside the file");
			op->eof = 1;
		}
	}
	free(c);
	xfer_pump(op);
}

static void
store_write_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_chunk *c = priv;
	struct spn_nfs_op *op = c->op;

	if (!spn_nfsop_part_done(op, err, data)) {
		free(c->buf);
		free(c);
		return;
	}
	if (err >= 0) {
		if ((size_t)err != c->len)
			spn_nfsop_set_error(op, -EIO, "short write");
		op->bytes += (size_t)err;
		op->n->stats.bytes_written += (size_t)err;
	}
	free(c->buf);
	free(c);
	xfer_pump(op);
}

static void
store_times_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!xfer_ok(op, err, data))
		return;
	xfer_final_stat(op);
}

static void
store_setattr3_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	SETATTR3res *res = data;
	int err = spn_nfs3_rpc_err(status);

	if (err == 0 && res->status != NFS3_OK)
		err = spn_nfs3_err(res->status);
	store_times_cb(err, NULL, err < 0 && status != RPC_STATUS_SUCCESS ? data : NULL, priv);
}

static void
store_commit_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	struct timeval tv[2];

	if (!xfer_ok(op, err, data))
		return;
	if (!(op->sa.mask & SPN_NSA_TIMES) || op->path == NULL) {
		xfer_final_stat(op);
		return;
	}
	/* Times set while the file was being written apply after the data,
	 * or the WRITEs would move mtime again (cp -a, tar). NFSv3: one
	 * SETATTR by handle, to the nanosecond. */
	if (op->n->version == 3 && op->res.fh_len > 0) {
		SETATTR3args args;

		memset(&args, 0, sizeof(args));
		spn_nfs3_fh_arg(&args.object, op->res.fh, op->res.fh_len);
		spn_nfs3_sattr_from(&args.new_attributes, &op->sa);
		op->kind = SPN_CALL_SETATTR;
		if (QUEUE(op, rpc_nfs3_setattr_async(nfs_get_rpc_context(nfs), store_setattr3_cb,
						     &args, op)) < 0)
			spn_nfsop_finish(op, -ENOTCONN);
		return;
	}
	tv[0].tv_sec = op->sa.atime.sec;
	tv[0].tv_usec = op->sa.atime.nsec / 1000;
	tv[1].tv_sec = op->sa.mtime.sec;
	tv[1].tv_usec = op->sa.mtime.nsec / 1000;
	op->kind = SPN_CALL_SETATTR;
	if (QUEUE(op, nfs_utimes_async(nfs, op->path, tv, store_times_cb, op)) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

/* The largest READ or WRITE of the session. */
static uint64_t
chunk_max(struct nfs_context *nfs, int store)
{
	uint64_t max = store ? nfs_get_writemax(nfs) : nfs_get_readmax(nfs);

	return max == 0 || max > (1 << 20) ? 1 << 20 : max;
}

/* The next chunk of op's file: left or max bytes from op->next_off, which
 * moves past it; a store's read from op->fd into c->buf. NULL with op's
 * error set if it cannot be had. */
static struct spn_nfs_chunk *
chunk_new(struct spn_nfs_op *op, uint64_t left, uint64_t max, int store)
{
	struct spn_nfs_chunk *c = calloc(1, sizeof(*c));
	ssize_t r;

	if (c == NULL) {
		spn_nfsop_set_error(op, -ENOMEM, NULL);
		return NULL;
	}
	c->op = op;
	c->off = op->next_off;
	c->len = (size_t)(left < max ? left : max);
	op->next_off += c->len;
	if (!store)
		return c;
	c->buf = malloc(c->len);
	if (c->buf == NULL) {
		free(c);
		spn_nfsop_set_error(op, -ENOMEM, NULL);
		return NULL;
	}
	r = pread(op->fd, c->buf, c->len, (off_t)c->off);
	if (r != (ssize_t)c->len) {
		spn_nfsop_set_error(op, r < 0 ? -errno : -EIO, "cannot read the cache file");
		free(c->buf);
		free(c);
		return NULL;
	}
	return c;
}

int
spn_nfsop_pump(struct spn_nfs_op *op, int store,
	       int (*send)(struct spn_nfs_op *op, struct spn_nfs_chunk *c))
{
	uint64_t max = chunk_max(op->n->nfs, store);

	while (op->err == 0 && op->pending < XFER_WINDOW &&
	       (store ? op->next_off < op->size : !op->eof && op->next_off <= op->size)) {
		/* Fetch: read one chunk past the known size: the file may
		 * have grown, and only a short read proves the end. */
		struct spn_nfs_chunk *c = chunk_new(op, store ? op->size - op->next_off : max, max,
						    store);
		int rc;

		if (c == NULL)
			break;
		spn_nfsop_issue_begin(op);
		rc = spn_nfsop_issue_end(op, send(op, c));
		if (rc > 0)
			return 0; /* completed and gone */
		if (rc < 0) {
			spn_nfsop_set_error(op, -ENOTCONN, NULL);
			free(c->buf);
			free(c);
			break;
		}
	}
	return op->pending == 0;
}

static int
fetch_send(struct spn_nfs_op *op, struct spn_nfs_chunk *c)
{
	return nfs_pread_async(op->n->nfs, op->fh, c->off, c->len, fetch_read_cb, c);
}

static int
store_send(struct spn_nfs_op *op, struct spn_nfs_chunk *c)
{
	return nfs_pwrite_async(op->n->nfs, op->fh, c->off, c->len, c->buf, store_write_cb, c);
}

/* Keep up to XFER_WINDOW transfers in flight; when all are done, move on:
 * fetch -> final GETATTR -> CLOSE; store -> COMMIT -> GETATTR -> CLOSE. */
static void
xfer_pump(struct spn_nfs_op *op)
{
	struct nfs_context *nfs = op->n->nfs;
	int store = op->kind == SPN_CALL_WRITE;

	if (!spn_nfsop_pump(op, store, store ? store_send : fetch_send))
		return;
	/* Fetch: the read past the known end came back full, so the file
	 * grew: read on until a short read. */
	if (!store && op->err == 0 && !op->eof) {
		op->size = op->next_off;
		xfer_pump(op);
		return;
	}
	if (op->err != 0) {
		xfer_close(op);
		return;
	}
	if (store) {
		op->kind = SPN_CALL_COMMIT;
		if (QUEUE(op, nfs_fsync_async(nfs, op->fh, store_commit_cb, op)) < 0)
			spn_nfsop_finish(op, -ENOTCONN);
		return;
	}
	if (ftruncate(op->fd, (off_t)op->end) < 0)
		spn_nfsop_set_error(op, -errno, "cannot size the cache file");
	xfer_final_stat(op);
}

static void
xfer_stat_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	if (!xfer_ok(op, err, data))
		return;
	op->size = ((struct nfs_stat_64 *)data)->nfs_size;
	op->kind = SPN_CALL_READ;
	xfer_pump(op);
}

static void
xfer_open_cb(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	int store = op->step == 1;

	if (!spn_nfsop_ok(op, err, data))
		return;
	op->fh = data;
	spn_nfsop_res_fh(op);
	if (store) {
		struct stat st;

		if (fstat(op->fd, &st) < 0) {
			spn_nfsop_set_error(op, -errno, "cannot stat the cache file");
			xfer_close(op);
			return;
		}
		op->size = (uint64_t)st.st_size;
		op->kind = SPN_CALL_WRITE;
		xfer_pump(op);
		return;
	}
	op->kind = SPN_CALL_GETATTR;
	if (QUEUE(op, nfs_fstat64_async(nfs, op->fh, xfer_stat_cb, op)) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

static void
xfer_start(struct spn_nfs_op *op)
{
	SEND(op, nfs_open_async(op->n->nfs, op->path, op->oflags, xfer_open_cb, op));
}

/* A whole-file transfer: OPEN, READs or WRITEs, CLOSE. step 0: fetch,
 * 1: store (with the times in after, if any, set after the data). */
static int
xfer_begin(struct spn_nfs *n, const char *path, int fd, int step, int oflags,
	   const struct spn_nfs_sattr *after, spn_nfs_cb cb, void *arg)
{
	int rc;
	struct spn_nfs_op *op = spn_nfsop_new_path(n, SPN_CALL_OPEN, path, cb, arg, &rc);

	if (op == NULL)
		return rc;
	op->fd = fd;
	op->step = step;
	op->oflags = oflags;
	if (after != NULL && (after->mask & SPN_NSA_TIMES))
		op->sa = *after;
	if (!spn_nfsop_gate_enter(op, xfer_start))
		xfer_start(op);
	return 0;
}

int
spn_nfs_fetch(struct spn_nfs *n, const char *path, int fd, spn_nfs_cb cb, void *arg)
{
	return xfer_begin(n, path, fd, 0, O_RDONLY, NULL, cb, arg);
}

int
spn_nfs_store(struct spn_nfs *n, const char *path, int fd, const struct spn_nfs_sattr *after,
	      spn_nfs_cb cb, void *arg)
{
	return xfer_begin(n, path, fd, 1, O_WRONLY | O_TRUNC, after, cb, arg);
}
