/*
 * daemon/nfs_op.h: what the three files of the NFS back-end share -- the
 * session (struct spn_nfs), the op (one spn_nfs_* call in progress) and
 * its plumbing. daemon/nfs.c holds the session and the calls by path
 * (libnfs's path API, NFSv3 and NFSv4), daemon/nfs_xfer.c the whole-file
 * transfers by path, daemon/nfs_fh.c the NFSv3 calls by file handle
 * (libnfs's raw RPC API). Nothing else includes this header.
 */
#ifndef SPECNFS_DAEMON_NFS_OP_H
#define SPECNFS_DAEMON_NFS_OP_H

#include <stdint.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

#include "client/daemon/nfs.h"

/* Parallel READs/WRITEs per whole-file transfer: enough to fill a WAN pipe
 * of a few MB/s x 100 ms with libnfs's 1 MiB transfers. */
#define XFER_WINDOW 8

struct spn_nfs_op;

struct spn_nfs {
	char *url;
	int rpc_timeout_ms;
	int version;
	struct nfs_context *nfs;
	enum spn_nfs_state state;
	int tearing_down;
	char error[512];
	struct spn_nfs_op *ops; /* in flight: completed with -ENOTCONN on loss */
	struct spn_nfs_stats stats;
	int has_cred;                 /* the context carries cred, not its own */
	struct spn_nfs_cred cred;
	/* NFSv4: the op holding the open-owner (see gate_enter), and the
	 * ops waiting for it, in order. */
	struct spn_nfs_op *gate, *gate_first, *gate_last;
	/* The server's clock minus ours lies in [skew_lo, skew_hi] (ns),
	 * from times the server set while a call was out (nfs.c). */
	int skew_known;
	int64_t skew_lo, skew_hi;
};

struct spn_nfs_chunk {
	struct spn_nfs_op *op;
	uint64_t off;
	size_t len;
	char *buf; /* store: data being written */
	int64_t sent_ns; /* CLOCK_REALTIME when it went out */
};

struct spn_nfs_op {
	struct spn_nfs *n;
	struct spn_nfs_op *next, *prev;
	enum spn_nfs_call kind;
	spn_nfs_cb cb;
	void *arg;
	int pending; /* libnfs callbacks still to come */
	int refs;    /* held while we are inside a libnfs call for it */
	int finished;
	int err;     /* first error of a composite op */
	char errmsg[256];
	/* whole-file transfers and setattr */
	struct nfsfh *fh;
	int fd;
	uint64_t size, next_off, bytes;
	uint64_t end; /* fetch: highest byte received */
	int eof, closing;
	char *path;
	struct spn_nfs_sattr sa;
	int step;
	struct spn_nfs_res res;
	/* Waiting for the NFSv4 open-owner: how to start, with which ids. */
	void (*gate_start)(struct spn_nfs_op *op);
	struct spn_nfs_op *gate_next;
	int gate_waiting, oflags, omode, has_cred;
	struct spn_nfs_cred cred;
	int64_t sent_ns; /* CLOCK_REALTIME when it was made (single calls: sent) */
	/* Store by handle: the latest ctime a WRITE's reply showed, with its
	 * mtime (unknown: a reply without attributes), and the SETATTR sent
	 * behind them. */
	struct spn_time write_ctime, write_mtime;
	int write_ctime_unknown, setattr_back;
	/* Fetch by handle: res.attr holds a READ reply's attributes
	 * (attr_seen); a reply came without them (attr_missing). */
	int attr_seen, attr_missing;
};

/* The daemon's wall clock, CLOCK_REALTIME in ns (daemon/jobs.c). */
int64_t spn_now_ns(void);

/* daemon/nfs.c: the server's clock. t is a time the server set to its
 * "now" while a call sent at sent_ns (spn_now_ns) was out. */
void spn_nfsop_clock_sample(struct spn_nfs *n, const struct spn_time *t, int64_t sent_ns);

/* daemon/nfs.c: op plumbing */
struct spn_nfs_op *spn_nfsop_new(struct spn_nfs *n, enum spn_nfs_call kind, spn_nfs_cb cb,
				 void *arg);
/* Runs op's callback once with err, then frees op (unless an issuer
 * still holds it: op->refs). */
void spn_nfsop_finish(struct spn_nfs_op *op, int err);
void spn_nfsop_free(struct spn_nfs_op *op);
/* Attributes from the server as the protocol carries them (mode <= 07777,
 * nsec < 10^9), whatever the server sent: every conversion ends here. */
void spn_nfsop_attr_fix(struct spn_attr *a);
/* The session is not up: op is finished with -ENOTCONN (1), else 0. */
int spn_nfsop_down(struct spn_nfs_op *op);
/* One libnfs callback finished for op. 1 if the op may continue (more
 * work can be queued), 0 if it is finished or must wind down. */
int spn_nfsop_part_done(struct spn_nfs_op *op, int err, void *data);
/* The common start of a callback: spn_nfsop_part_done, and an error
 * finishes the op. 1 to go on with a good result, 0 when op is done. */
int spn_nfsop_ok(struct spn_nfs_op *op, int err, void *data);
void spn_nfsop_set_error(struct spn_nfs_op *op, int err, const void *data);
/* An op that keeps a copy of its path (op->path). NULL when it cannot
 * start; the caller returns *rc then: -ENOMEM before the op existed, 0
 * once it failed through its callback. */
struct spn_nfs_op *spn_nfsop_new_path(struct spn_nfs *n, enum spn_nfs_call kind, const char *path,
				      spn_nfs_cb cb, void *arg, int *rc);
/* NFSv4: an op that opens a file holds the session's open-owner until it
 * ends. 0: go on now; 1: queued, start(op) runs when the owner is free. */
int spn_nfsop_gate_enter(struct spn_nfs_op *op, void (*start)(struct spn_nfs_op *op));
/* Attributes from libnfs's stat, as the protocol carries them. */
void spn_nfsop_attr_from_stat(struct spn_attr *a, const struct nfs_stat_64 *st);
void spn_nfsop_issue_begin(struct spn_nfs_op *op);
int spn_nfsop_issue_end(struct spn_nfs_op *op, int rc);

/* daemon/nfs_xfer.c: whole-file transfers. */
/* Keeps up to XFER_WINDOW chunks of op's file in flight, each sent by
 * send (a libnfs call whose callback gets c). 1 once none is in flight
 * (the transfer's next step may run), 0 while some are or if op is gone. */
int spn_nfsop_pump(struct spn_nfs_op *op, int store,
		   int (*send)(struct spn_nfs_op *op, struct spn_nfs_chunk *c));

/* Queue a libnfs call for op: QUEUE(op, nfs_xxx_async(..., op)). Returns
 * 0 if queued, 1 if it was queued and op already completed and is gone
 * (do not touch it), -ENOTCONN if it could not be queued (the session is
 * broken; op is untouched and its callback will not run). */
#define QUEUE(op, call) (spn_nfsop_issue_begin(op), spn_nfsop_issue_end((op), (call)))

/* Queue the call that starts op, or fail op at once: either way op's
 * callback runs exactly once. call is not evaluated while down. */
#define SEND(op, call)                                                     \
	do {                                                               \
		if (!spn_nfsop_down(op) && QUEUE((op), (call)) < 0)        \
			spn_nfsop_finish((op), -ENOTCONN);                 \
	} while (0)

/* Start a simple (single-call) op and return 0 from the caller. */
#define START(op, call)                                                    \
	do {                                                               \
		SEND((op), (call));                                        \
		return 0;                                                  \
	} while (0)

/* The body of every single-call wrapper: call may use op. */
#define SIMPLE_CALL(kind, call)                                            \
	do {                                                               \
		struct spn_nfs_op *op = spn_nfsop_new(n, (kind), cb, arg); \
									   \
		if (op == NULL)                                            \
			return -ENOMEM;                                    \
		START(op, call);                                           \
	} while (0)

/* daemon/nfs_fh.c: NFSv3 helpers the path calls use too */
uint32_t spn_nfs3_type(uint32_t ftype3); /* NF3REG.. -> S_IFREG.., 0 if unknown */
int spn_nfs3_err(int status);      /* nfsstat3 -> -errno */
int spn_nfs3_rpc_err(int status);  /* RPC_STATUS_* -> 0 or a transport -errno */
void spn_nfs3_fh_arg(nfs_fh3 *dst, const uint8_t *fh, uint8_t len);
void spn_nfs3_sattr_from(sattr3 *s, const struct spn_nfs_sattr *sa);
void spn_nfsop_res_fh(struct spn_nfs_op *op); /* op->fh's handle into op->res (NFSv3) */

#endif
