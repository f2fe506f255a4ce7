/*
 * daemon/nfs.h: one NFS session per mount, driven from the daemon's poll
 * loop through libnfs's async API, with many calls in flight.
 *
 * Two kinds of calls. By path (libnfs resolves each path from the export
 * root; daemon/nfs.c, daemon/nfs_xfer.c): the same code serves NFSv3 and
 * NFSv4. By file handle (spn_nfs_*_fh, NFSv3 only; daemon/nfs_fh.c): one
 * RPC where the daemon knows the handle from its index. Every call
 * completes through its callback exactly once: with 0 and a result, with a
 * negative errno the server answered, or with -ENOTCONN when the session
 * was lost before the answer came. -ENOTCONN tells the caller that the
 * call may or may not have been carried out: idempotent calls may simply
 * be sent again once the session is back; others must be verified first.
 */
#ifndef SPECNFS_DAEMON_NFS_H
#define SPECNFS_DAEMON_NFS_H

#include <stddef.h>
#include <stdint.h>

#include "client/daemon/index.h"

struct spn_nfs;

enum spn_nfs_state {
	SPN_NFS_DOWN = 0,   /* no session; a connect may be scheduled */
	SPN_NFS_CONNECTING, /* mount in progress */
	SPN_NFS_UP,
};

/* What the status command reports, by call type. */
enum spn_nfs_call {
	SPN_CALL_GETATTR,
	SPN_CALL_READDIR,
	SPN_CALL_READLINK,
	SPN_CALL_READ,
	SPN_CALL_WRITE,
	SPN_CALL_COMMIT,
	SPN_CALL_OPEN,
	SPN_CALL_CREATE,
	SPN_CALL_MKDIR,
	SPN_CALL_REMOVE,
	SPN_CALL_RMDIR,
	SPN_CALL_RENAME,
	SPN_CALL_LINK,
	SPN_CALL_SYMLINK,
	SPN_CALL_SETATTR,
	SPN_CALL_STATFS,
	SPN_CALL_ACCESS,
	SPN_CALL_MOUNT,
	SPN_CALL_LOOKUP,
	SPN_CALL_MKNOD,
	SPN_CALL_NTYPES,
};

struct spn_nfs_dirent {
	char *name;
	struct spn_attr attr;
	uint8_t fh[SPN_FH_MAX]; /* NFSv3 handle-based listings only */
	uint8_t fh_len;
};

struct spn_nfs_statfs {
	uint32_t bsize, namemax;
	uint64_t blocks, bfree, bavail, files, ffree;
};

/*
 * The parent directory's weak cache consistency data of a CREATE or MKDIR
 * by handle: its size, mtime and ctime just before the call and its
 * attributes just after, each when the server sent them. Before equal to
 * what we cached means nobody else changed the directory in between.
 */
struct spn_nfs_wcc {
	int have_before, have_after;
	uint64_t size_before;
	struct spn_time mtime_before, ctime_before;
	struct spn_attr after;
};

struct spn_nfs_res {
	struct spn_attr attr; /* getattr, fetch, store, create, mkdir */
	struct spn_nfs_dirent *ents; /* readdir; freed after the callback */
	size_t nents;
	char *target;                /* readlink; freed after the callback */
	struct spn_nfs_statfs sfs;   /* statfs */
	uint64_t bytes;              /* fetch/store: bytes moved */
	const char *errmsg;          /* the server's or libnfs's words */
	uint8_t fh[SPN_FH_MAX];      /* lookup, create, fetch, store (NFSv3) */
	uint8_t fh_len;
	struct spn_nfs_wcc dir_wcc;  /* create, mkdir, remove, rename by handle (NFSv3) */
};

typedef void (*spn_nfs_cb)(int err, struct spn_nfs_res *res, void *arg);

struct spn_nfs_stats {
	uint64_t calls[SPN_CALL_NTYPES];
	uint64_t bytes_read, bytes_written;
	uint64_t reconnects;
	uint64_t stores_pipelined, stores_reset; /* by handle: SETATTR behind the
						   * WRITEs; sent again (overtaken) */
	int inflight;
};

int spn_nfs_new(struct spn_nfs **out, const char *url, int rpc_timeout_ms);
void spn_nfs_free(struct spn_nfs *n);

/* Start mounting; cb(0) once up, cb(-errno) if it failed (say why in
 * res->errmsg). */
int spn_nfs_connect(struct spn_nfs *n, spn_nfs_cb cb, void *arg);

/*
 * AUTH_SYS credentials for the calls issued from now on (a caller other
 * than the daemon's user: the server decides with the caller's ids, as for
 * a kernel client). NULL: the session's own (the URL's uid=/gid=, else the
 * daemon's). The daemon's loop is single-threaded and a call's credentials
 * are encoded when it is issued, so setting them just before each call is
 * enough; calls that libnfs chains internally (path walks) take whatever
 * is set then, so a caller with other credentials must run alone (the
 * daemon's ordered line does: daemon/jobs.c). Cheap when nothing changes.
 */
#define SPN_NFS_NGROUPS 16 /* AUTH_SYS carries at most 16 groups */
struct spn_nfs_cred {
	uint32_t uid, gid;
	uint32_t ngroups;
	uint32_t groups[SPN_NFS_NGROUPS];
};
void spn_nfs_set_cred(struct spn_nfs *n, const struct spn_nfs_cred *c);

/*
 * The server's clock against ours: the offset (server minus client, ns)
 * closest to zero that every time the server set during one of our calls
 * allows (a WRITE's or MKDIR's new mtime lies between the call's send and
 * its reply). 0 when the clocks agree to within a round trip; -EAGAIN
 * while nothing was measured yet. A time we set on the server (a store's
 * mtime) is ours plus this, so that it compares right with the times the
 * server sets on other files (make's rule: object newer than source).
 */
int spn_nfs_clock_offset(const struct spn_nfs *n, int64_t *off_ns);

enum spn_nfs_state spn_nfs_state(const struct spn_nfs *n);
const char *spn_nfs_error(const struct spn_nfs *n);
const struct spn_nfs_stats *spn_nfs_stats(const struct spn_nfs *n);
const char *spn_nfs_call_name(enum spn_nfs_call c);
int spn_nfs_version(const struct spn_nfs *n);

/* Poll loop glue: fd (or -1 when down) and events to wait for; service
 * after poll (revents 0 on a timer tick, for libnfs's timeouts). A session
 * that fails is torn down here: its calls complete with -ENOTCONN. */
int spn_nfs_fd(const struct spn_nfs *n);
int spn_nfs_events(const struct spn_nfs *n);
void spn_nfs_service(struct spn_nfs *n, int revents);

/* Whether err means "the session was lost", not "the server said no". */
int spn_nfs_err_transport(int err);

int spn_nfs_getattr(struct spn_nfs *n, const char *path, int nofollow, spn_nfs_cb cb, void *arg);
int spn_nfs_readdir(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg);
int spn_nfs_readlink(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg);
int spn_nfs_statfs(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg);
int spn_nfs_access(struct spn_nfs *n, const char *path, int mode, spn_nfs_cb cb, void *arg);

/* Whole-file transfer: fetch reads the file into fd (from offset 0, with
 * parallel READs) and reports in res->attr the attributes read *after* the
 * data, so a file that changed meanwhile shows as changed. store writes
 * fd's whole content to the file (truncating it), COMMITs, and reports the
 * new attributes. */
struct spn_nfs_sattr;
int spn_nfs_fetch(struct spn_nfs *n, const char *path, int fd, spn_nfs_cb cb, void *arg);
/* after: times to set once the data are committed (NULL: none). */
int spn_nfs_store(struct spn_nfs *n, const char *path, int fd, const struct spn_nfs_sattr *after,
		  spn_nfs_cb cb, void *arg);

/* Mutations (not idempotent: see -ENOTCONN above). create fails with
 * -EEXIST if excl and the name exists. */
int spn_nfs_create(struct spn_nfs *n, const char *path, int mode, int excl, spn_nfs_cb cb,
		   void *arg);
int spn_nfs_mkdir(struct spn_nfs *n, const char *path, int mode, spn_nfs_cb cb, void *arg);
int spn_nfs_remove(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg);
int spn_nfs_rmdir(struct spn_nfs *n, const char *path, spn_nfs_cb cb, void *arg);
int spn_nfs_rename(struct spn_nfs *n, const char *from, const char *to, spn_nfs_cb cb, void *arg);
int spn_nfs_link(struct spn_nfs *n, const char *from, const char *to, spn_nfs_cb cb, void *arg);
int spn_nfs_symlink(struct spn_nfs *n, const char *target, const char *path, spn_nfs_cb cb,
		    void *arg);
/* A FIFO, socket or device node (mode holds the S_IF* type); its
 * attributes in res. NFSv4 through libnfs 4.0: devices only (-EOPNOTSUPP). */
int spn_nfs_mknod(struct spn_nfs *n, const char *path, int mode, uint64_t rdev, spn_nfs_cb cb,
		  void *arg);

enum {
	SPN_NSA_MODE = 1 << 0,
	SPN_NSA_UID = 1 << 1,
	SPN_NSA_GID = 1 << 2,
	SPN_NSA_SIZE = 1 << 3,
	SPN_NSA_TIMES = 1 << 4, /* atime and mtime together (path calls) */
	SPN_NSA_NOFOLLOW = 1 << 5,
	/* Handle calls only (NFSv3): each time on its own, or the server's. */
	SPN_NSA_ATIME = 1 << 6,
	SPN_NSA_MTIME = 1 << 7,
	SPN_NSA_ATIME_NOW = 1 << 8,
	SPN_NSA_MTIME_NOW = 1 << 9,
};
struct spn_nfs_sattr {
	unsigned mask;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct spn_time atime, mtime;
};
/* Applies the fields one call at a time and reports the final attributes. */
int spn_nfs_setattr(struct spn_nfs *n, const char *path, const struct spn_nfs_sattr *sa,
		    spn_nfs_cb cb, void *arg);

/*
 * NFSv3 only (spn_nfs_has_fh): calls by file handle, one RPC each.
 * readdir_fh reports each child's handle and, in res->attr, the
 * directory's own attributes when the server sent them (type != 0).
 * A handle the server no longer knows fails with -ESTALE: use the path.
 */
int spn_nfs_has_fh(const struct spn_nfs *n);
int spn_nfs_root_fh(const struct spn_nfs *n, uint8_t *fh, uint8_t *len);
int spn_nfs_getattr_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len, spn_nfs_cb cb, void *arg);
int spn_nfs_lookup_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		      spn_nfs_cb cb, void *arg);
int spn_nfs_readdir_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, spn_nfs_cb cb,
		       void *arg);
/* One SETATTR with nanosecond times; reports the post-op attributes. */
/* NFSv3: CREATE name in the directory with handle dirfh; res has the new
 * file's handle and attributes. -EREMOTEIO: made, but the reply had no
 * handle (look it up). excl: EXCLUSIVE with the verifier verf (not 0),
 * then a SETATTR of the mode (and of the times, where the server kept the
 * verifier): the same call sent again after a lost session finds the
 * file it made and succeeds, where GUARDED would say EEXIST; verf 0:
 * GUARDED (a server without EXCLUSIVE: -EOPNOTSUPP). */
int spn_nfs_create_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		      int mode, int excl, uint64_t verf, spn_nfs_cb cb, void *arg);
/* NFSv3: MKDIR name in the directory with handle dirfh; res has the new
 * directory's handle and attributes (-EREMOTEIO: made, without them). */
int spn_nfs_mkdir_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		     int mode, spn_nfs_cb cb, void *arg);
/* NFSv3: REMOVE (rmdir: RMDIR) name from the directory with handle dirfh;
 * res.dir_wcc is the directory's before and after. */
int spn_nfs_remove_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		      int rmdir, spn_nfs_cb cb, void *arg);
/* NFSv3: RENAME from to to, both names in the directory with handle dirfh;
 * res.dir_wcc is the directory's before (the first) and after (the last). */
int spn_nfs_rename_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *from,
		      const char *to, spn_nfs_cb cb, void *arg);
/* NFSv3: store fd's content into the file with this handle: WRITEs and
 * one SETATTR that sets the size and the times in after, if any (mtime
 * alone: SPN_NSA_MTIME; both: SPN_NSA_TIMES); res.attr is the file's
 * attributes after. */
int spn_nfs_store_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len, int fd,
		     const struct spn_nfs_sattr *after, spn_nfs_cb cb, void *arg);
int spn_nfs_setattr_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len,
		       const struct spn_nfs_sattr *sa, spn_nfs_cb cb, void *arg);
/* NFSv3: symlink name -> target in the directory dirfh; res as for
 * spn_nfs_mkdir_fh (-EREMOTEIO: made, but the reply lacks its handle). */
int spn_nfs_symlink_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		       const char *target, spn_nfs_cb cb, void *arg);
/* NFSv3: fetch as spn_nfs_fetch, by handle: READs only (size: what the
 * caller knows of the file's size, a hint); res.attr comes from the READ
 * replies, and replies that disagree fail it with -EAGAIN. */
int spn_nfs_fetch_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len, uint64_t size, int fd,
		     spn_nfs_cb cb, void *arg);

#endif
