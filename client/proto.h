/*
 * proto.h - the wire protocol between the shim (libspecnfs.so), the user
 * tool (specnfs) and the cache daemon (specnfsd), version 5.
 *
 * One UNIX stream socket per client; the client sends requests, the daemon
 * answers each with one reply carrying the request's seq. The codec is
 * pure: it encodes into caller buffers and decodes into caller structs, with
 * no malloc, no stdio, no global state and no errno, so that the shim can
 * use it in a vfork child or a signal handler.
 *
 * Frame: a 16-byte header, then len payload bytes. Every integer is
 * little-endian, written byte by byte (no alignment, no padding).
 *
 *   off size
 *     0  u32  magic    0x464e5053, the bytes "SPNF"
 *     4  u16  version  SPN_PROTO_VERSION
 *     6  u16  op       request op; a reply carries op | SPN_OP_REPLY
 *     8  u32  seq      chosen by the client, echoed in the reply
 *    12  u32  len      payload bytes that follow the header
 *
 * The header layout never changes between versions, so that a peer can
 * always read it, answer seq with -EPROTONOSUPPORT and close.
 *
 * Payload: the fields the op carries (see each op below), in the order
 * listed, with nothing in between and nothing after (trailing bytes are an
 * error). Field encodings:
 *   u16/u32/u64/i32/s64  little-endian, two's complement for signed
 *   time                 s64 sec, u32 nsec (nsec < 1000000000)
 *   string               u32 length, then that many bytes; no terminator
 *                        and no NUL among the bytes
 *   path                 a string of 1..SPN_PATH_MAX-1 bytes starting '/'
 *   attr                 struct spn_attr, members in declaration order
 *   statfs               struct spn_statfs, members in wire order noted
 *
 * A reply's payload starts with i32 status, 0 or -errno (-1..-4095), then
 * the op's "always" fields (spec, for every op on a path), then,
 * only when status is 0, its other reply fields. The daemon answers a request it cannot decode
 * (unknown op, bad field) with an error reply for that op and seq, which is
 * why an error reply may carry any op, even one this version does not know.
 *
 * Limits: a request frame is at most SPN_REQ_MAX bytes, a reply frame at
 * most SPN_MSG_MAX (header included), so a buffer of SPN_MSG_MAX bytes
 * holds any frame.
 */
#ifndef SPN_PROTO_H
#define SPN_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPN_PROTO_MAGIC 0x464e5053u /* "SPNF" on the wire */
#define SPN_PROTO_VERSION 12 /* 2: speculation (spec fields, RESOLVE);
			     * 3: write-back speculation (token, REPLAY, REMOTE);
			     * 4: MKNOD, REDIRECT replies (symlinks off NFS);
			     * 5: speculation across processes (SEAL, RESOLVE's
			     *    flags and token);
			     * 6: exits across processes (SEAL's EXIT, REAP);
			     * 7: joined predictions (SPEC_JOIN, SEAL's CKPT
			     *    and JOIN);
			     * 8: held mutations (SPEC_HOLD);
			     * 9: chains (a SEAL ends the connection's epoch,
			     *    SEAL's second dependency, RESOLVE's OWN);
			     * 10: STAT's TYPE, held creates (OPEN and its
			     *    CLOSE with SPEC_HOLD; with SPEC_JOIN too:
			     *    held in the sealed epoch the client joins);
			     * 11: misses answered by the client (SPEC_LEASE,
			     *    SPEC_NOTE);
			     * 12: CLOSE's UNMAPPED (no store of what the
			     *    server has) */
#define SPN_HDR_LEN 16

/* Largest frames, header included. */
#define SPN_REQ_MAX 16384 /* two paths and a few fields fit easily */
#define SPN_MSG_MAX 65536 /* a reply with SPN_TEXT_MAX bytes of text */

#define SPN_PATH_MAX 4096  /* bytes, NUL included: 4095 on the wire */
#define SPN_NAME_MAX 64	   /* client name in HELLO, printable ASCII */
#define SPN_TEXT_MAX 61440 /* STATUS/CONFIG text */

/*
 * Ops. The numbers are wire ABI: never renumber, only append (and bump
 * SPN_PROTO_VERSION when a change is not backward compatible).
 * Request fields, then [reply fields when status is 0]:
 */
enum spn_op {
	SPN_OP_HELLO = 1,     /* pid, uid, name [pid, version] */
	SPN_OP_STAT = 2,      /* path, flags (SPN_F_NOFOLLOW) [attr] */
	SPN_OP_ACCESS = 3,    /* path, mode (R_OK|W_OK|X_OK, or F_OK) [] */
	SPN_OP_OPEN = 4,      /* path, flags (O_*), mode, spec, token [attr, mirror path] */
	SPN_OP_CLOSE = 5,     /* path, flags (SPN_F_WRITTEN), spec, token [attr] */
	SPN_OP_FSYNC = 6,     /* path [] */
	SPN_OP_READDIR = 7,   /* path [attr, mirror path] */
	SPN_OP_READLINK = 8,  /* path [target] */
	SPN_OP_MKDIR = 9,     /* path, mode, spec, token [attr] */
	SPN_OP_RMDIR = 10,    /* path, spec, token [] */
	SPN_OP_UNLINK = 11,   /* path, spec, token [] */
	SPN_OP_RENAME = 12,   /* path (from), path2 (to), spec, token [] */
	SPN_OP_LINK = 13,     /* path (existing), path2 (new name) [] */
	SPN_OP_SYMLINK = 14,  /* path (link), target (in path2) [attr] */
	SPN_OP_SETATTR = 15,  /* path, flags (SPN_F_NOFOLLOW), mask, mode,
			       * uid, gid, size, atime, mtime, spec, token
			       * [attr] */
	SPN_OP_STATFS = 16,   /* path [statfs] */
	SPN_OP_STATUS = 17,   /* [text] */
	SPN_OP_CONFIG = 18,   /* [text] */
	SPN_OP_SHUTDOWN = 19, /* [] */
	SPN_OP_RESOLVE = 20,  /* flags (SPN_F_VERDICT|FLUSHED), token (the
			       * sealed epoch depended on, 0: none)
			       * [refuted]: waits until every prediction made
			       * for this connection is validated; refuted
			       * counts those the server contradicted (see
			       * "Version 5" below) */
	SPN_OP_MKNOD = 21,    /* path, mode (permissions), flags (S_IFIFO,
			       * S_IFSOCK, S_IFCHR or S_IFBLK), size (rdev,
			       * a Linux dev_t) [attr] */
	SPN_OP_SEAL = 22,     /* flags (SPN_F_COURIER|EXIT|LOST), token (the
			       * sealed epoch this process depends on, 0:
			       * none), pid, ppid, size (EXIT: the wait
			       * status) [token: the sealed epoch's id] */
	SPN_OP_REAP = 23,     /* pid, ppid, size (a generation seen, 0:
			       * none), token (the sealed epoch the asker
			       * depends on) [token, refuted, gen, wstatus]:
			       * the exit a child recorded (version 6) */
};
#define SPN_OP_MAX 23

/*
 * Speculation (version 2). STAT, ACCESS, OPEN, READDIR and READLINK
 * requests carry spec; with SPN_SPEC_PREDICT the daemon may answer from its
 * cache at once and validate with the server in the background. Their
 * replies carry spec *whatever the status* (a predicted ENOENT is a
 * prediction too), right after the status: SPN_SPEC_PREDICTED says the
 * answer is not yet confirmed. SPN_OP_RESOLVE then reports whether all of
 * this connection's predictions held.
 *
 * Version 3 (write-back speculation): CLOSE, MKDIR, RMDIR, UNLINK and
 * RENAME carry spec too, and with OPEN a token naming the mutation. A
 * process re-executing after a rollback sends SPN_SPEC_REPLAY with the
 * token of a mutation it had predicted, and hears that mutation's real
 * outcome instead of doing it twice (token 0: no outcome, done afresh).
 * Every reply to an op on a path carries spec; SPN_SPEC_REMOTE says the
 * answer waited for the server (the shim's RPC figures).
 *
 * Credentials (no frame changes): the daemon reads the sender's ids from
 * the kernel for every message (SO_PASSCRED; a client whose effective ids
 * differ from its real ones sends SCM_CREDENTIALS naming them). To a
 * caller it does not serve with its own rights (daemon/cred.c), a
 * successful OPEN or READDIR reply comes with one fd (SCM_RIGHTS) on its
 * first byte: the mirror file or directory, opened for the caller, which
 * cannot open the private mirror path itself.
 */
#define SPN_SPEC_PREDICT 0x1u   /* request: an answer from the cache will do */
#define SPN_SPEC_REPLAY 0x2u    /* request: re-executed after a rollback: a
				 * mutation predicted with this token has
				 * happened (or failed) already; answer its
				 * outcome instead of doing it again */
#define SPN_SPEC_JOIN 0x4u      /* request: the prediction may join a sealed
				 * epoch above (version 7) */
#define SPN_SPEC_PREDICTED 0x1u /* reply: this answer awaits validation */
#define SPN_SPEC_REMOTE 0x2u    /* reply: this answer waited for the server */
/*
 * Version 4: a reply with status -EXDEV and SPN_SPEC_REDIRECT says the
 * path crosses a symbolic link that leads off every mount (an absolute
 * target such as "/", or ".." out of the mount): a string follows the spec
 * field, the client path the kernel would have gone on with, and the
 * client redoes the call on it (in path), as a kernel NFS client resolves
 * symlinks on the client. A client that does not, reports EXDEV.
 */
#define SPN_SPEC_REDIRECT 0x4u
#define SPN_SPEC_JOINED 0x8u /* reply: the prediction joined a sealed epoch */

/*
 * Version 5: speculation across processes (spec/speculate.c, daemon/seal.c).
 * A process about to fork inside an epoch SEALs it: the epoch's
 * predictions so far, and the sealed epoch it itself depends on (token),
 * become an object of the daemon with an id (the reply's token); the
 * process predicts nothing more in that epoch. The child depends on that
 * id: its RESOLVE carries it in token, and is answered when both the
 * child's own predictions and the sealed epoch are decided. refuted has
 * SPN_REFUTED_BIRTH set when the sealed epoch failed: the child was made
 * by an execution that is being discarded, and must vanish. An id this
 * daemon never issued counts as failed.
 *
 * With SPN_F_COURIER the sealing process hands the output it holds to a
 * courier process, which asks RESOLVE with SPN_F_VERDICT and the id (the
 * verdict only, whatever its own connection did), writes the output if it
 * held, and says RESOLVE with SPN_F_FLUSHED and the id. Until then the
 * sealed epoch counts as undecided to everyone else, so that the output
 * precedes whatever its dependents release.
 */
#define SPN_F_VERDICT 0x4u  /* RESOLVE: only the verdict of the epoch in token */
#define SPN_F_FLUSHED 0x8u  /* RESOLVE: the courier of token wrote its output */
#define SPN_F_COURIER 0x10u /* SEAL: a courier will write the held output */
#define SPN_REFUTED_BIRTH 0x80000000u /* RESOLVE reply: a sealed epoch depended
				       * on failed */

/*
 * Version 6: exits across processes. A process whose parent will ask
 * (the shim's wait wrappers) does not wait for its verdict at exit: it
 * SEALs with SPN_F_EXIT, pid (its own, as its parent knows it), ppid (the
 * parent's) and size (its wait status), hands its held output to a
 * courier, and exits. The daemon records the exit with the sealed
 * epoch's id and a generation (counting up per daemon). A parent that
 * reaped the child asks REAP (pid, ppid: its own kernel pid when it
 * reaped, which is what the child recorded; size 0): gen 0 means nothing is
 * recorded (the status is final); else wstatus is the status, token the
 * sealed epoch if still undecided (the parent depends on it; an exit
 * whose only undecided part is the sealed epoch the asker names in token
 * counts as decided: it fails only with the asker), refuted 1 if it
 * failed: the child's checkpoint copy executes again and records
 * its exit anew; REAP with size = the gen seen waits for that newer
 * record. refuted has SPN_REFUTED_BIRTH too (version 9) if what the
 * asker depends on (token, its connection's seal) failed: the child may
 * have been discarded with it, and no newer record is waited for.
 * SPN_F_LOST (a courier whose re-executing copy died without recording):
 * record the status in size, without a sealed epoch, if the newest record
 * of pid is still the one of token.
 */
#define SPN_F_EXIT 0x20u /* SEAL: the process exits with status size */
#define SPN_F_LOST 0x40u /* SEAL with EXIT: the re-execution died unrecorded */

/*
 * Version 7: joined predictions. A process that depends only on a sealed
 * epoch (no checkpoint of its own) would need one for each prediction it
 * runs ahead on. Instead its prediction may join a sealed epoch above it:
 * the nearest one in its chain whose sealer has a checkpoint to return
 * to (SEAL with SPN_F_CKPT), while that one is undecided. The prediction
 * then counts as that sealed epoch's own: if it fails, the epoch fails,
 * its sealer rolls back to before the fork (a full RESOLVE of the sealer
 * reports it in refuted) and everything born of it is discarded, this
 * process with it. The process says once per connection which sealed
 * epoch it depends on (SEAL with SPN_F_JOIN and token: no new epoch;
 * reply token 0), then sends SPN_SPEC_JOIN with SPN_SPEC_PREDICT on
 * STAT, ACCESS, OPEN (reading), READDIR and READLINK; a reply with
 * SPN_SPEC_JOINED (and SPN_SPEC_PREDICTED) was joined, one without it is
 * a prediction of the process's own, as before.
 */
#define SPN_F_CKPT 0x80u  /* SEAL: the sealer rolls back if this epoch fails */
#define SPN_F_JOIN 0x100u /* SEAL: joins go to the chain above token */

/*
 * Version 8: held mutations. A speculative process's MKDIR, RMDIR, UNLINK,
 * RENAME or SETATTR (mode only) with SPN_SPEC_PREDICT|SPN_SPEC_HOLD joins
 * a sealed epoch as its last prediction: the process's own, sealed just
 * before (SEAL with SPN_F_CKPT), or the nearest one above it with a
 * checkpoint (as a joined read, version 7). The reply (SPN_SPEC_JOINED,
 * SPN_SPEC_PREDICTED) says what the mirror shows already; the server call
 * is held in the daemon, in its place in the mount's ordered line, until
 * everything else the sealed epoch holds is decided: sent if all of it
 * held, dropped (never sent, the mirror's change undone) if any of it
 * failed. Its outcome is then the epoch's last validation. The epoch
 * takes nothing more (no join, no second hold): a failure after the
 * mutation reached the server would roll back to before it. A reply with
 * SPN_SPEC_UNHELD (status -EAGAIN) did nothing: no epoch to hold it in (or
 * the policy, or the cache, cannot say the outcome); the client sends the
 * request again without SPN_SPEC_HOLD.
 */
#define SPN_SPEC_HOLD 0x8u    /* request: the mutation may be held (version 8) */
#define SPN_SPEC_UNHELD 0x10u /* reply: not held, nothing done: ask again */

/*
 * Version 9: chains. A SEAL ends the connection's epoch: the validations
 * in flight are the sealed epoch's own part, decided when those are back;
 * the connection's later predictions are a new epoch's (they no longer
 * hold the sealed one back). A process whose sealed epoch others depend on
 * may so go on predicting behind a second checkpoint instead of resolving
 * first; its next SEAL names the connection's previous one as its birth,
 * and the token, if it is another (a reaped child's exit), as a second
 * dependency. A full RESOLVE is decided when the connection's current
 * epoch, its chain of seals and the token are. RESOLVE with SPN_F_VERDICT
 * and SPN_F_OWN asks the verdict of one of the asker's own sealed epochs
 * (or one it depends on) without being its courier: a courier is the
 * connection that asks without OWN, and its closing says FLUSHED.
 */
#define SPN_F_OWN 0x200u /* RESOLVE with VERDICT: not the courier of token */

/*
 * Version 11: misses answered by the client. A read prediction joined to a
 * sealed epoch (SPN_SPEC_JOIN) that the daemon answers ENOENT from the
 * complete listing of the name's directory may come back with
 * SPN_SPEC_LEASE: the client may answer later misses in that directory
 * itself (a name the mirror's directory lacks) and tell the daemon with
 * the same request, SPN_SPEC_NOTE added, which gets no reply. The lease
 * keeps that sealed epoch undecided until the daemon has every note: it
 * ends at the connection's first request that does not keep it
 * (spn_spec_keeps_lease), or when the connection closes; the client
 * forgets its directories then too. Each note is checked as the
 * prediction it is, joined to the lease's epoch; any answer but ENOENT
 * fails that epoch, and the directory is not leased again for a while.
 * A joined read that the daemon cannot join any more ends the lease too.
 * The client ends its lease before it makes a child (or waits for one),
 * and takes none again: the child's verdict may wait for the epoch the
 * lease keeps undecided (gcc's lease, while cc1 waits for the verdict of
 * its held create), and uses one for a second at most.
 */
#define SPN_SPEC_NOTE 0x10u  /* request: answered by the client; no reply */
#define SPN_SPEC_LEASE 0x20u /* reply: the client may answer misses here */

/* A request that keeps the connection's lease: a joined read prediction
 * (or a note). Any other ends it. */
static inline int
spn_spec_keeps_lease(uint32_t spec)
{
	return (spec & SPN_SPEC_JOIN) && !(spec & SPN_SPEC_HOLD);
}

/* Set in the header's op of every reply; never part of struct's op. */
#define SPN_OP_REPLY 0x8000u

/* Request flags (the flags field; which ones an op accepts is listed). */
#define SPN_F_NOFOLLOW 0x1u /* STAT, SETATTR: act on a symlink itself */
#define SPN_F_WRITTEN 0x2u  /* CLOSE: the client wrote through this open */
/* CLOSE: the client's fds of the file were all write-only (no shared
 * mapping can write it): the daemon may skip a store that would send what
 * the server has (version 12). */
#define SPN_F_UNMAPPED 0x800u
/* STAT: the caller reads only the type and whether the name exists
 * (realpath's walk). A prediction then need not wait for our own change
 * in a directory, whose times it does not show, and is checked on those
 * two only. */
#define SPN_F_TYPE 0x400u /* version 10 */

/*
 * SETATTR mask. *_NOW sets that time to the server's clock and excludes the
 * matching explicit time bit (both set is -EINVAL).
 */
#define SPN_SA_MODE 0x01u
#define SPN_SA_UID 0x02u
#define SPN_SA_GID 0x04u
#define SPN_SA_SIZE 0x08u
#define SPN_SA_ATIME 0x10u
#define SPN_SA_MTIME 0x20u
#define SPN_SA_ATIME_NOW 0x40u
#define SPN_SA_MTIME_NOW 0x80u
#define SPN_SA_ALL 0xffu

struct spn_time {
	int64_t sec;
	uint32_t nsec; /* < 1000000000 */
};

static inline int
spn_time_eq(const struct spn_time *a, const struct spn_time *b)
{
	return a->sec == b->sec && a->nsec == b->nsec;
}

static inline int
spn_time_later(const struct spn_time *a, const struct spn_time *b)
{
	return a->sec > b->sec || (a->sec == b->sec && a->nsec > b->nsec);
}

/* NFS attributes: 96 bytes on the wire, in this order. The daemon keeps
 * them in this form too (its index, daemon/index.h), so a reply copies
 * them as they are. */
struct spn_attr {
	uint32_t type; /* one of S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK,
			* S_IFIFO, S_IFSOCK (Linux values) */
	uint32_t mode; /* permission bits with suid/sgid/sticky: <= 07777 */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	uint64_t used; /* bytes allocated on the server */
	uint64_t rdev; /* Linux dev_t, makedev(major, minor) */
	uint64_t fsid;
	uint64_t fileid;
	struct spn_time atime;
	struct spn_time mtime;
	struct spn_time ctime;
};

/*
 * statfs: 56 bytes on the wire in the order bsize, blocks, bfree, bavail,
 * files, ffree, favail, namemax (favail is statvfs's f_favail: NFSv3
 * FSSTAT's afiles). Values are not checked against each other.
 */
struct spn_statfs {
	uint32_t bsize;
	uint64_t blocks;
	uint64_t bfree;
	uint64_t bavail;
	uint64_t files;
	uint64_t ffree;
	uint64_t favail;
	uint32_t namemax;
};

/*
 * A request. Only the fields the op carries are encoded; decode zeroes the
 * others. Checks (encode refuses what decode would refuse, -EINVAL):
 *   path, path2   absolute; SYMLINK's target in path2 is any non-empty
 *                 string (relative allowed)
 *   flags         only the SPN_F_* bits the op accepts; OPEN's flags are
 *                 the client's open(2) flags, passed through unchecked
 *   mode          <= 07777 (OPEN: pass 0 without O_CREAT/O_TMPFILE, and
 *                 mask with 07777 as the kernel does); ACCESS: <= 7
 *   mask          SPN_SA_* bits only, *_NOW not with its explicit time
 *   atime, mtime  nsec < 1e9, checked whether or not the mask uses them
 *   name          printable ASCII, at most SPN_NAME_MAX bytes
 * pid and uid in HELLO are informative: the daemon trusts SO_PEERCRED.
 */
struct spn_req {
	uint16_t op; /* enum spn_op, without SPN_OP_REPLY */
	uint32_t seq;
	uint32_t flags;
	uint32_t mode;
	uint32_t mask;
	uint32_t uid;
	uint32_t gid;
	uint32_t pid;
	uint32_t ppid; /* SEAL (EXIT), REAP: the parent's pid */
	uint64_t size;
	struct spn_time atime;
	struct spn_time mtime;
	/* SPN_SPEC_PREDICT or SPN_SPEC_REPLAY. Before the strings: the shim's spn_req_init()
	 * clears everything up to path with one memset. */
	uint32_t spec;
	/* OPEN/CLOSE/MKDIR/RMDIR/UNLINK/RENAME: names a predicted mutation
	 * (unique per process), for SPN_SPEC_REPLAY. RESOLVE, SEAL: the
	 * sealed epoch depended on (0: none). */
	uint64_t token;
	char path[SPN_PATH_MAX];
	/* RENAME/LINK: the second path; SYMLINK: the link's target. */
	char path2[SPN_PATH_MAX];
	char name[SPN_NAME_MAX + 1];
};

/*
 * A reply. Fields other than op, seq, status and spec are meaningful only
 * when status is 0 and the op carries them (spec: see "Speculation" above,
 * sent whatever the status); decode zeroes the rest.
 *   path      OPEN, READDIR: the mirror path (absolute);
 *             READLINK: the link's target (non-empty, may be relative)
 *   pid       HELLO: the daemon's pid
 *   version   HELLO: the daemon's protocol version (non-zero)
 *   text      STATUS, CONFIG: up to SPN_TEXT_MAX bytes, no NUL, *not*
 *             NUL-terminated. To encode, point it at the caller's text.
 *             After decode it points into the decoded frame buffer and is
 *             valid as long as that buffer is; print with "%.*s".
 */
struct spn_reply {
	uint16_t op; /* the request's op, without SPN_OP_REPLY */
	uint32_t seq;
	int32_t status; /* 0 or -errno */
	struct spn_attr attr;
	struct spn_statfs sfs;
	uint32_t pid;
	uint16_t version;
	char path[SPN_PATH_MAX];
	const char *text;
	size_t text_len;
	uint32_t spec;    /* SPN_SPEC_PREDICTED|REMOTE (sent even with an error) */
	uint32_t refuted; /* RESOLVE, REAP */
	uint64_t token;   /* SEAL, REAP */
	uint64_t gen;     /* REAP */
	uint32_t wstatus; /* REAP */
};

/* A parsed header, unchecked. */
struct spn_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t op; /* with SPN_OP_REPLY for replies */
	uint32_t seq;
	uint32_t len; /* payload bytes */
};

/*
 * Reads the header from the first SPN_HDR_LEN bytes of buf without judging
 * it: 0, or -EAGAIN when have < SPN_HDR_LEN. For a daemon that wants the
 * seq of a frame that spn_proto_frame_len() refused.
 */
int spn_proto_decode_hdr(const void *buf, size_t have, struct spn_hdr *h);

/*
 * Splits a byte stream into frames. Given the have bytes received so far:
 *   0                 *need is the whole frame's length (header included);
 *                     the frame is complete once have >= *need
 *   -EAGAIN           fewer than SPN_HDR_LEN bytes, and those that are
 *                     there agree with the magic
 *   -EPROTO           bad magic (detected on as few as one byte)
 *   -EPROTONOSUPPORT  another protocol version
 *   -EMSGSIZE         longer than SPN_REQ_MAX (request) or SPN_MSG_MAX
 *                     (reply: op has SPN_OP_REPLY)
 * *need is 0 on any error. A stream that gave an error cannot be resynced.
 */
int spn_proto_frame_len(const void *buf, size_t have, size_t *need);

/*
 * Encoders: write one whole frame (header included) into buf. Return its
 * length, -EINVAL if a field breaks the rules above or the op is unknown
 * (a reply to an unknown op may still be encoded with status < 0), or
 * -ENOSPC if it does not fit in cap (a bad field is -EINVAL whatever
 * cap is). Nothing is written at or past buf[cap]; on error, buf[0..cap)
 * holds garbage.
 */
ssize_t spn_proto_encode_req(const struct spn_req *r, void *buf, size_t cap);
ssize_t spn_proto_encode_reply(const struct spn_reply *r, void *buf,
			       size_t cap);

/*
 * Decoders: buf holds exactly one whole frame (len bytes, header included).
 * Return 0, or:
 *   -EPROTO           truncated header or payload, bad magic, header len
 *                     not matching len, trailing bytes after the fields, a
 *                     reply where a request was expected or the reverse
 *   -EPROTONOSUPPORT  another protocol version
 *   -EMSGSIZE         frame over the size limit
 *   -EINVAL           unknown op (request, or reply with status 0), or a
 *                     field that breaks the rules above
 * Whenever the header is there with the right magic, out->op and out->seq
 * are filled (op without SPN_OP_REPLY) even if decoding then fails, so that
 * the daemon can answer an undecodable request with an error reply. On
 * error the other fields are unspecified, but strings are NUL-terminated.
 * Never reads outside buf[0..len).
 *
 * Given whole frames from spn_proto_frame_len(), no decode error puts the
 * stream out of step. Suggested daemon policy: -EINVAL, answer with that
 * status and go on; anything else, answer with it and close (the peer is
 * broken or speaks another version).
 */
int spn_proto_decode_req(const void *buf, size_t len, struct spn_req *out);
int spn_proto_decode_reply(const void *buf, size_t len, struct spn_reply *out);

/* "stat", "open", ... or NULL for an unknown op; SPN_OP_REPLY is ignored. */
const char *spn_proto_op_name(uint16_t op);

#endif /* SPN_PROTO_H */
