/*
 * test_proto.c - the shim <-> daemon wire protocol (client/proto.c).
 *
 * Expectations here are written out independently of proto.c's tables
 * (which fields each op carries, field sizes, exact bytes), so that a
 * change to the wire format fails a test instead of passing silently.
 *
 * Version 2 added speculation: a spec u32 as the last request field of
 * STAT, ACCESS, OPEN, READDIR and READLINK; in their replies a spec u32
 * right after the status, whatever the status; and SPN_OP_RESOLVE, whose
 * reply carries refuted (u32).
 *
 * Version 3 (write-back speculation) added:
 *   - request spec also on CLOSE, MKDIR, RMDIR, UNLINK and RENAME, and a
 *     new request bit SPN_SPEC_REPLAY (0x2);
 *   - a u64 token right after spec on OPEN, CLOSE, MKDIR, RMDIR, UNLINK
 *     and RENAME (the last request field of those ops);
 *   - reply spec ("always", after the status) on every file-system op,
 *     STAT..STATFS (so their error replies are 8 payload bytes; HELLO,
 *     STATUS, CONFIG, SHUTDOWN and RESOLVE keep 4), and a new reply bit
 *     SPN_SPEC_REMOTE (0x2).
 *
 * Version 4 added MKNOD (21, reply spec too) and SPN_SPEC_REDIRECT (0x4):
 * an -EXDEV reply with it carries a path after the spec.
 *
 * Version 5 (speculation across processes) added:
 *   - SPN_OP_SEAL (22): request flags (SPN_F_COURIER, 0x10) then token
 *     (u64); reply token (u64) when the status is 0; its error replies
 *     are 4 payload bytes (no reply spec);
 *   - RESOLVE's request, empty before, now flags (SPN_F_VERDICT 0x4 |
 *     SPN_F_FLUSHED 0x8) then token: a token without spec, naming a sealed
 *     epoch rather than a prediction;
 *   - SPN_REFUTED_BIRTH (0x80000000), a bit of RESOLVE's refuted.
 *
 * Version 6 (exits across processes) added:
 *   - SEAL's request is now flags (SPN_F_COURIER 0x10 | SPN_F_EXIT 0x20 |
 *     SPN_F_LOST 0x40), token (u64), pid (u32), ppid (u32), size (u64,
 *     with EXIT the wait status): its token is no longer the last field;
 *     its reply is unchanged;
 *   - SPN_OP_REAP (23): request pid (u32), ppid (u32), size (u64, a
 *     generation seen, 0: none), token (u64, the sealed epoch the asker
 *     itself depends on, any value: like RESOLVE's and SEAL's, a token
 *     without spec, but without flags too, and the last field); reply
 *     token (u64), refuted (u32), gen (u64), wstatus (u32) when the
 *     status is 0; its error replies are 4 payload bytes (no reply spec).
 *
 * Version 7 (joined predictions) added, without changing any layout:
 *   - the request spec bit SPN_SPEC_JOIN (0x4) and the reply spec bit
 *     SPN_SPEC_JOINED (0x8);
 *   - SEAL's flags SPN_F_CKPT (0x80) and SPN_F_JOIN (0x100).
 *
 * Version 8 (held mutations) added:
 *   - the request spec bit SPN_SPEC_HOLD (0x8) and the reply spec bit
 *     SPN_SPEC_UNHELD (0x10);
 *   - SETATTR's spec (u32) and token (u64), after mtime.
 *
 * Version 11 (misses answered by the client) added the request spec bit
 * SPN_SPEC_NOTE (0x10) and the reply spec bit SPN_SPEC_LEASE (0x20).
 *
 * Version 12 added CLOSE's flag SPN_F_UNMAPPED (0x800).
 *
 * Exact bytes live in one table, goldens[]: each row a struct and the
 * frame it must encode to (and decode from), run as one cmocka test per row.
 * Every other round trip goes through roundtrip_req()/roundtrip_reply(),
 * and every "this field value is accepted/refused both ways" through
 * check_u32_field()/check_rep_u32_field().
 *
 * SPECNFS_FUZZ_ITERS and SPECNFS_FUZZ_SEED override the fuzz loop's
 * defaults (200000 iterations, a fixed seed).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/proto.h"

#define CANARY 0xa5
#define CANARY_LEN 64

/* Frames under test; static because they are large. */
static uint8_t fbuf[SPN_MSG_MAX + 1024];
static uint8_t fbuf2[SPN_MSG_MAX + 1024];
static uint8_t pay[SPN_MSG_MAX + 1024];
static char bigtext[SPN_TEXT_MAX + 2];

/* ------------------------------------------------------------ helpers */

static void
put_le(uint8_t *p, uint64_t v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A payload built by hand, field by field. */
struct pb {
	uint8_t *b;
	size_t n;
};

static void
pb_le(struct pb *p, uint64_t v, unsigned n)
{
	put_le(p->b + p->n, v, n);
	p->n += n;
}

static void
pb_mem(struct pb *p, const void *s, size_t n)
{
	memcpy(p->b + p->n, s, n);
	p->n += n;
}

static void
pb_str(struct pb *p, const char *s, size_t n)
{
	pb_le(p, n, 4);
	pb_mem(p, s, n);
}

/* Header + payload into fbuf, as a sender of this version would. */
static size_t
frame(uint16_t op, uint32_t seq, const struct pb *p)
{
	put_le(fbuf, SPN_PROTO_MAGIC, 4);
	put_le(fbuf + 4, SPN_PROTO_VERSION, 2);
	put_le(fbuf + 6, op, 2);
	put_le(fbuf + 8, seq, 4);
	put_le(fbuf + 12, p->n, 4);
	memcpy(fbuf + SPN_HDR_LEN, p->b, p->n);
	return SPN_HDR_LEN + p->n;
}

static void
set_len(uint8_t *b, uint32_t len)
{
	put_le(b + 12, len, 4);
}

/* Which fields each op carries, written out here on purpose. */
enum {
	Q_PATH = 1 << 0,
	Q_PATH2 = 1 << 1,
	Q_NAME = 1 << 2,
	Q_FLAGS = 1 << 3,
	Q_MODE = 1 << 4,
	Q_MASK = 1 << 5,
	Q_PID = 1 << 6,
	Q_UID = 1 << 7,
	Q_GID = 1 << 8,
	Q_SIZE = 1 << 9,
	Q_ATIME = 1 << 10,
	Q_MTIME = 1 << 11,
	Q_SPEC = 1 << 12,  /* after the op's other fields ... */
	Q_TOKEN = 1 << 13, /* ... then token, the very last (RESOLVE, SEAL:
			    * right after flags, without spec; SEAL's is
			    * followed by pid, ppid and size since version 6;
			    * REAP's, version 6, comes after its size) */
	Q_PPID = 1 << 14,  /* right after pid (SEAL, REAP) */
};
enum {
	P_ATTR = 1 << 0,
	P_SFS = 1 << 1,
	P_PATH = 1 << 2,
	P_PID = 1 << 3,
	P_VERSION = 1 << 4,
	P_TEXT = 1 << 5,
	P_REFUTED = 1 << 6,
	P_TOKEN = 1 << 7,
	P_GEN = 1 << 8,
	P_WSTATUS = 1 << 9,
};
/* Reply fields sent whatever the status, right after it. */
enum {
	A_SPEC = 1 << 0,
};

static const struct op_case {
	uint16_t op;
	const char *name;
	unsigned req;
	unsigned rep;	 /* when status is 0 */
	unsigned always; /* whatever the status */
} cases[] = {
    /* op, name, request fields, reply fields, always fields */
    {SPN_OP_HELLO, "hello", Q_PID | Q_UID | Q_NAME, P_PID | P_VERSION, 0},
    {SPN_OP_STAT, "stat", Q_PATH | Q_FLAGS | Q_SPEC, P_ATTR, A_SPEC},
    {SPN_OP_ACCESS, "access", Q_PATH | Q_MODE | Q_SPEC, 0, A_SPEC},
    {SPN_OP_OPEN, "open", Q_PATH | Q_FLAGS | Q_MODE | Q_SPEC | Q_TOKEN,
     P_ATTR | P_PATH, A_SPEC},
    {SPN_OP_CLOSE, "close", Q_PATH | Q_FLAGS | Q_SPEC | Q_TOKEN, P_ATTR,
     A_SPEC},
    {SPN_OP_FSYNC, "fsync", Q_PATH, 0, A_SPEC},
    {SPN_OP_READDIR, "readdir", Q_PATH | Q_SPEC, P_ATTR | P_PATH, A_SPEC},
    {SPN_OP_READLINK, "readlink", Q_PATH | Q_SPEC, P_PATH, A_SPEC},
    {SPN_OP_MKDIR, "mkdir", Q_PATH | Q_MODE | Q_SPEC | Q_TOKEN, P_ATTR,
     A_SPEC},
    {SPN_OP_RMDIR, "rmdir", Q_PATH | Q_SPEC | Q_TOKEN, 0, A_SPEC},
    {SPN_OP_UNLINK, "unlink", Q_PATH | Q_SPEC | Q_TOKEN, 0, A_SPEC},
    {SPN_OP_RENAME, "rename", Q_PATH | Q_PATH2 | Q_SPEC | Q_TOKEN, 0, A_SPEC},
    {SPN_OP_LINK, "link", Q_PATH | Q_PATH2, 0, A_SPEC},
    {SPN_OP_SYMLINK, "symlink", Q_PATH | Q_PATH2, P_ATTR, A_SPEC},
    {SPN_OP_SETATTR, "setattr",
     Q_PATH | Q_FLAGS | Q_MASK | Q_MODE | Q_UID | Q_GID | Q_SIZE | Q_ATIME |
	 Q_MTIME | Q_SPEC | Q_TOKEN,
     P_ATTR, A_SPEC},
    {SPN_OP_STATFS, "statfs", Q_PATH, P_SFS, A_SPEC},
    {SPN_OP_STATUS, "status", 0, P_TEXT, 0},
    {SPN_OP_CONFIG, "config", 0, P_TEXT, 0},
    {SPN_OP_SHUTDOWN, "shutdown", 0, 0, 0},
    {SPN_OP_RESOLVE, "resolve", Q_FLAGS | Q_TOKEN, P_REFUTED, 0},
    {SPN_OP_MKNOD, "mknod", Q_PATH | Q_MODE | Q_FLAGS | Q_SIZE, P_ATTR, A_SPEC},
    {SPN_OP_SEAL, "seal", Q_FLAGS | Q_TOKEN | Q_PID | Q_PPID | Q_SIZE, P_TOKEN, 0},
    {SPN_OP_REAP, "reap", Q_PID | Q_PPID | Q_SIZE | Q_TOKEN,
     P_TOKEN | P_REFUTED | P_GEN | P_WSTATUS, 0},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const struct op_case *
case_of(uint16_t op)
{
	size_t i;

	for (i = 0; i < NCASES; i++)
		if (cases[i].op == op)
			return &cases[i];
	fail_msg("no case for op %u", op);
	return NULL;
}

/* As case_of(), but an op this version does not know carries nothing. */
static const struct op_case *
case_or_none(uint16_t op)
{
	static const struct op_case none = {0, "unknown", 0, 0, 0};

	return op >= 1 && op <= NCASES ? case_of(op) : &none;
}

/*
 * Which ops carry spec and token, listed a second time and apart from
 * cases[], which test_op_table checks against these.
 */

/* Requests with spec: the ops the shim may predict. */
static int
is_spec_req_op(uint16_t op)
{
	switch (op) {
	case SPN_OP_STAT:
	case SPN_OP_ACCESS:
	case SPN_OP_OPEN:
	case SPN_OP_CLOSE:
	case SPN_OP_READDIR:
	case SPN_OP_READLINK:
	case SPN_OP_MKDIR:
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK:
	case SPN_OP_RENAME:
	case SPN_OP_SETATTR:
		return 1;
	}
	return 0;
}

/*
 * Requests with a token: the mutations that can be replayed (after spec, the
 * last field) and, since version 5, the ops of speculation across processes
 * (after flags; the last field of RESOLVE, but since version 6 followed by
 * pid, ppid and size on SEAL), and REAP (version 6: after size, its last
 * field).
 */
static unsigned before_token(uint16_t op);

static int
is_token_op(uint16_t op)
{
	return before_token(op) != 0;
}

/*
 * The request field right before the token, as a Q_ bit: spec on the
 * mutations, flags on RESOLVE and SEAL, size on REAP; 0 without a token.
 */
static unsigned
before_token(uint16_t op)
{
	switch (op) {
	case SPN_OP_OPEN:
	case SPN_OP_CLOSE:
	case SPN_OP_MKDIR:
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK:
	case SPN_OP_RENAME:
	case SPN_OP_SETATTR:
		return Q_SPEC;
	case SPN_OP_RESOLVE:
	case SPN_OP_SEAL:
		return Q_FLAGS;
	case SPN_OP_REAP:
		return Q_SIZE;
	}
	return 0;
}

/*
 * Requests whose token names a sealed epoch, not a prediction (version 5;
 * REAP's, the asker's own, since version 6).
 */
static int
is_epoch_op(uint16_t op)
{
	return op == SPN_OP_RESOLVE || op == SPN_OP_SEAL || op == SPN_OP_REAP;
}

/* Replies with spec right after the status, whatever the status. */
static int
is_spec_rep_op(uint16_t op)
{
	switch (op) {
	case SPN_OP_STAT:
	case SPN_OP_ACCESS:
	case SPN_OP_OPEN:
	case SPN_OP_CLOSE:
	case SPN_OP_FSYNC:
	case SPN_OP_READDIR:
	case SPN_OP_READLINK:
	case SPN_OP_MKDIR:
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK:
	case SPN_OP_RENAME:
	case SPN_OP_LINK:
	case SPN_OP_SYMLINK:
	case SPN_OP_SETATTR:
	case SPN_OP_STATFS:
	case SPN_OP_MKNOD:
		return 1;
	}
	return 0;
}

/* Payload bytes of an error reply: status, plus spec for those ops. */
static size_t
err_payload_len(uint16_t op)
{
	return is_spec_rep_op(op) ? 8 : 4;
}

/* Bytes after a request's spec: its token, if it has one. */
static size_t
after_spec(uint16_t op)
{
	return is_token_op(op) ? 8 : 0;
}

/* Bytes after a request's token: SEAL's pid, ppid and size (version 6);
 * REAP's token is its last field. */
static size_t
after_token(uint16_t op)
{
	return op == SPN_OP_SEAL ? 4 + 4 + 8 : 0;
}

/* What fill_req() puts in token: all 64 bits distinct and non-zero. */
static uint64_t
token_of(uint16_t op)
{
	return 0xf1e2d3c4b5a69788ULL ^ op;
}

/* What fill_reply() puts in spec for op. */
static uint32_t
rep_spec_of(uint16_t op)
{
	/* A prediction for the ops that take one, else "asked the server". */
	return is_spec_req_op(op) ? SPN_SPEC_PREDICTED : SPN_SPEC_REMOTE;
}

/*
 * Valid values in what op carries, garbage (even invalid values) in what
 * it does not: the encoder must neither send nor judge those.
 */
static void
fill_req(struct spn_req *r, uint16_t op)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->seq = 0x80000000u | op;
	r->flags = 0xdeadbeefu;
	r->mode = 0xdeadbeefu;
	r->mask = 0xdeadbeefu;
	r->uid = 1000;
	r->gid = 1001;
	r->pid = 0x7ffffffeu;
	r->ppid = 0x00c0ffeeu;
	r->size = 0x0123456789abcdefULL;
	r->atime.sec = -1;
	r->atime.nsec = 999999999u;
	r->mtime.sec = INT64_MAX;
	r->mtime.nsec = 2000000000u;
	strcpy(r->path, "/nfs/src/main.c");
	strcpy(r->path2, "/nfs/src/main.o");
	strcpy(r->name, "specnfs-test 1.0");
	/* Invalid (bits other than SPN_SPEC_PREDICT|REPLAY), but not
	 * carried ... */
	r->spec = 0xdeadbeefu;
	/* ... except by the ops that take predictions. */
	if (case_of(op)->req & Q_SPEC)
		r->spec = SPN_SPEC_PREDICT;
	/* Any value is valid: not carried must mean not sent (and decoded
	 * as 0), carried must mean all 64 bits. */
	r->token = token_of(op);

	switch (op) {
	case SPN_OP_HELLO:
	case SPN_OP_STATUS:
	case SPN_OP_CONFIG:
	case SPN_OP_SHUTDOWN:
		strcpy(r->path, "not absolute");
		break;
	case SPN_OP_RESOLVE:
		strcpy(r->path, "not absolute");
		r->flags = SPN_F_VERDICT;
		break;
	case SPN_OP_SEAL:
		strcpy(r->path, "not absolute");
		r->flags = SPN_F_COURIER;
		break;
	case SPN_OP_REAP:
		strcpy(r->path, "not absolute");
		break;
	case SPN_OP_STAT:
		r->flags = SPN_F_NOFOLLOW;
		break;
	case SPN_OP_ACCESS:
		r->mode = R_OK | X_OK;
		break;
	case SPN_OP_OPEN:
		r->flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
		r->mode = 0644;
		break;
	case SPN_OP_CLOSE:
		r->flags = SPN_F_WRITTEN;
		break;
	case SPN_OP_MKDIR:
		r->mode = 01777;
		break;
	case SPN_OP_SYMLINK:
		strcpy(r->path2, "../include/x.h");
		break;
	case SPN_OP_SETATTR:
		r->flags = SPN_F_NOFOLLOW;
		r->mask = SPN_SA_MODE | SPN_SA_UID | SPN_SA_GID | SPN_SA_SIZE |
			  SPN_SA_ATIME | SPN_SA_MTIME_NOW;
		r->mode = 04755;
		r->mtime.nsec = 0;
		break;
	case SPN_OP_MKNOD:
		r->flags = S_IFCHR;
		r->mode = 0640;
		break;
	}
}

static void
fill_attr(struct spn_attr *a, uint32_t type)
{
	a->type = type;
	a->mode = 07755;
	a->nlink = 3;
	a->uid = 0xfffffffeu;
	a->gid = 100;
	a->size = 0x1122334455667788ULL;
	a->used = 8192;
	a->rdev = 0x0000010300000005ULL;
	a->fsid = 0xfedcba9876543210ULL;
	a->fileid = 0x8000000000000001ULL;
	a->atime.sec = -1234567890123LL;
	a->atime.nsec = 1;
	a->mtime.sec = 1700000000;
	a->mtime.nsec = 999999999u;
	a->ctime.sec = INT64_MIN;
	a->ctime.nsec = 0;
}

static void
fill_reply(struct spn_reply *r, uint16_t op, int32_t status)
{
	static const char text[] = "mounts: 1\n\tcache: 42 entries\n";
	uint32_t type = S_IFREG;

	memset(r, 0, sizeof(*r));
	r->op = op;
	r->seq = 0xffffff00u + op;
	r->status = status;
	if (op == SPN_OP_READDIR || op == SPN_OP_MKDIR)
		type = S_IFDIR;
	if (op == SPN_OP_SYMLINK)
		type = S_IFLNK;
	if (case_of(op)->rep & P_ATTR)
		fill_attr(&r->attr, type);
	else
		r->attr.type = 0; /* invalid, but not carried */
	r->sfs.bsize = 1048576;
	r->sfs.blocks = 1ULL << 40;
	r->sfs.bfree = (1ULL << 40) - 1;
	r->sfs.bavail = 12345;
	r->sfs.files = 0xffffffffffffffffULL;
	r->sfs.ffree = 7;
	r->sfs.favail = 6;
	r->sfs.namemax = 255;
	r->pid = 31337;
	r->version = SPN_PROTO_VERSION;
	if (op == SPN_OP_READLINK)
		strcpy(r->path, "../lib/libfoo.so.1");
	else if (op == SPN_OP_OPEN || op == SPN_OP_READDIR)
		strcpy(r->path, "/home/u/.cache/specnfs/m/src/main.c");
	else
		strcpy(r->path, "garbage, not carried");
	if (case_of(op)->rep & P_TEXT) {
		r->text = text;
		r->text_len = sizeof(text) - 1;
	} else {
		r->text = "a\0b"; /* invalid, but not carried */
		r->text_len = 3;
	}
	if (case_of(op)->always & A_SPEC)
		r->spec = rep_spec_of(op);
	else
		r->spec = 0xdeadbeefu; /* invalid, but not carried */
	r->refuted = 0x80000003u;
	/* SEAL's and REAP's sealed epoch id; any value, all 64 bits. */
	r->token = 0x0102030405060708ULL ^ ((uint64_t)op << 56);
	/* REAP's generation and wait status; any values. */
	r->gen = 0x8070605040302010ULL ^ op;
	r->wstatus = 0x0000ff7fu; /* WIFSTOPPED-like: not judged */
}

static size_t
req_len(const struct op_case *c, const struct spn_req *r)
{
	size_t n = SPN_HDR_LEN;

	if (c->req & Q_PATH)
		n += 4 + strlen(r->path);
	if (c->req & Q_PATH2)
		n += 4 + strlen(r->path2);
	if (c->req & Q_NAME)
		n += 4 + strlen(r->name);
	n += 4 * !!(c->req & Q_FLAGS) + 4 * !!(c->req & Q_MODE) +
	     4 * !!(c->req & Q_MASK) + 4 * !!(c->req & Q_PID) +
	     4 * !!(c->req & Q_PPID) + 4 * !!(c->req & Q_UID) +
	     4 * !!(c->req & Q_GID) + 8 * !!(c->req & Q_SIZE) + 12 * !!(c->req & Q_ATIME) +
	     12 * !!(c->req & Q_MTIME) + 4 * !!(c->req & Q_SPEC) +
	     8 * !!(c->req & Q_TOKEN);
	return n;
}

static size_t
reply_len(const struct op_case *c, const struct spn_reply *r)
{
	size_t n = SPN_HDR_LEN + 4;

	if (c->always & A_SPEC)
		n += 4;
	if (r->status != 0)
		return n;
	if (c->rep & P_ATTR)
		n += 96;
	if (c->rep & P_SFS)
		n += 56;
	if (c->rep & P_PATH)
		n += 4 + strlen(r->path);
	if (c->rep & P_PID)
		n += 4;
	if (c->rep & P_VERSION)
		n += 2;
	if (c->rep & P_TEXT)
		n += 4 + r->text_len;
	if (c->rep & P_REFUTED)
		n += 4;
	if (c->rep & P_TOKEN)
		n += 8;
	if (c->rep & P_GEN)
		n += 8;
	if (c->rep & P_WSTATUS)
		n += 4;
	return n;
}

static void
assert_time_equal(const struct spn_time *a, const struct spn_time *b)
{
	assert_int_equal(a->sec, b->sec);
	assert_int_equal(a->nsec, b->nsec);
}

static void
assert_time_zero(const struct spn_time *t)
{
	assert_int_equal(t->sec, 0);
	assert_int_equal(t->nsec, 0);
}

/* Carried fields equal the original's, the rest are zero. */
static void
check_req(const struct op_case *c, const struct spn_req *in,
	  const struct spn_req *out)
{
	unsigned q = c->req;

	assert_int_equal(out->op, in->op);
	assert_int_equal(out->seq, in->seq);
	assert_string_equal(out->path, (q & Q_PATH) ? in->path : "");
	assert_string_equal(out->path2, (q & Q_PATH2) ? in->path2 : "");
	assert_string_equal(out->name, (q & Q_NAME) ? in->name : "");
	assert_int_equal(out->flags, (q & Q_FLAGS) ? in->flags : 0);
	assert_int_equal(out->mode, (q & Q_MODE) ? in->mode : 0);
	assert_int_equal(out->mask, (q & Q_MASK) ? in->mask : 0);
	assert_int_equal(out->pid, (q & Q_PID) ? in->pid : 0);
	assert_int_equal(out->ppid, (q & Q_PPID) ? in->ppid : 0);
	assert_int_equal(out->uid, (q & Q_UID) ? in->uid : 0);
	assert_int_equal(out->gid, (q & Q_GID) ? in->gid : 0);
	assert_int_equal(out->size, (q & Q_SIZE) ? in->size : 0);
	if (q & Q_ATIME)
		assert_time_equal(&out->atime, &in->atime);
	else
		assert_time_zero(&out->atime);
	if (q & Q_MTIME)
		assert_time_equal(&out->mtime, &in->mtime);
	else
		assert_time_zero(&out->mtime);
	assert_int_equal(out->spec, (q & Q_SPEC) ? in->spec : 0);
	assert_int_equal(out->token, (q & Q_TOKEN) ? in->token : 0);
}

static void
check_attr(const struct spn_attr *a, const struct spn_attr *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->used, b->used);
	assert_int_equal(a->rdev, b->rdev);
	assert_int_equal(a->fsid, b->fsid);
	assert_int_equal(a->fileid, b->fileid);
	assert_time_equal(&a->atime, &b->atime);
	assert_time_equal(&a->mtime, &b->mtime);
	assert_time_equal(&a->ctime, &b->ctime);
}

static int
is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static void
check_reply(const struct op_case *c, const struct spn_reply *in,
	    const struct spn_reply *out, const uint8_t *frm)
{
	unsigned p = in->status == 0 ? c->rep : 0;
	/* Version 4: -EXDEV with REDIRECT carries the path to redo the call on. */
	int redirect = in->status == -EXDEV && (c->always & A_SPEC) &&
		       (in->spec & SPN_SPEC_REDIRECT);

	assert_int_equal(out->op, in->op);
	assert_int_equal(out->seq, in->seq);
	assert_int_equal(out->status, in->status);
	if (p & P_ATTR)
		check_attr(&out->attr, &in->attr);
	else
		assert_true(is_zero(&out->attr, sizeof(out->attr)));
	if (p & P_SFS) {
		assert_int_equal(out->sfs.bsize, in->sfs.bsize);
		assert_int_equal(out->sfs.blocks, in->sfs.blocks);
		assert_int_equal(out->sfs.bfree, in->sfs.bfree);
		assert_int_equal(out->sfs.bavail, in->sfs.bavail);
		assert_int_equal(out->sfs.files, in->sfs.files);
		assert_int_equal(out->sfs.ffree, in->sfs.ffree);
		assert_int_equal(out->sfs.favail, in->sfs.favail);
		assert_int_equal(out->sfs.namemax, in->sfs.namemax);
	} else {
		assert_true(is_zero(&out->sfs, sizeof(out->sfs)));
	}
	assert_string_equal(out->path, (p & P_PATH) || redirect ? in->path : "");
	assert_int_equal(out->pid, (p & P_PID) ? in->pid : 0);
	assert_int_equal(out->version, (p & P_VERSION) ? in->version : 0);
	/* spec comes with any status, refuted, token, gen and wstatus only
	 * with 0. */
	assert_int_equal(out->spec, (c->always & A_SPEC) ? in->spec : 0);
	assert_int_equal(out->refuted, (p & P_REFUTED) ? in->refuted : 0);
	assert_int_equal(out->token, (p & P_TOKEN) ? in->token : 0);
	assert_int_equal(out->gen, (p & P_GEN) ? in->gen : 0);
	assert_int_equal(out->wstatus, (p & P_WSTATUS) ? in->wstatus : 0);
	if (p & P_TEXT) {
		/* Points into the frame, right after the text's length. */
		assert_ptr_equal(out->text,
				 frm + SPN_HDR_LEN + 4 +
				     4 * !!(c->always & A_SPEC) + 4);
		assert_int_equal(out->text_len, in->text_len);
		assert_memory_equal(out->text, in->text, in->text_len);
	} else {
		assert_null(out->text);
		assert_int_equal(out->text_len, 0);
	}
}

static size_t
enc_req(const struct spn_req *r)
{
	ssize_t n = spn_proto_encode_req(r, fbuf, sizeof(fbuf));

	assert_true(n > 0);
	return (size_t)n;
}

static size_t
enc_reply(const struct spn_reply *r)
{
	ssize_t n = spn_proto_encode_reply(r, fbuf, sizeof(fbuf));

	assert_true(n > 0);
	return (size_t)n;
}

/*
 * Encodes in into fbuf, checks the frame's length against the op's fields,
 * decodes it into out (garbage first, so that every field must be written)
 * and checks out against in. Returns the frame's length.
 */
static size_t
roundtrip_req(const struct spn_req *in, struct spn_req *out)
{
	size_t n = enc_req(in);

	assert_int_equal(n, req_len(case_of(in->op), in));
	memset(out, 0x5a, sizeof(*out));
	assert_int_equal(spn_proto_decode_req(fbuf, n, out), 0);
	check_req(case_of(in->op), in, out);
	return n;
}

static size_t
roundtrip_reply(const struct spn_reply *in, struct spn_reply *out)
{
	size_t n = enc_reply(in);

	assert_int_equal(n, reply_len(case_or_none(in->op), in));
	memset(out, 0x5a, sizeof(*out));
	assert_int_equal(spn_proto_decode_reply(fbuf, n, out), 0);
	check_reply(case_or_none(in->op), in, out, fbuf);
	return n;
}

/* ------------------------------------------------------------ round trips */

static void
test_op_table(void **state)
{
	size_t i;

	size_t nreq = 0, ntok = 0, nrep = 0, nepoch = 0;

	/* Wire constants of version 7. */
	assert_int_equal(SPN_PROTO_VERSION, 12);
	assert_int_equal(SPN_F_UNMAPPED, 0x800);
	assert_int_equal(SPN_SPEC_NOTE, 0x10);
	assert_int_equal(SPN_SPEC_LEASE, 0x20);
	assert_int_equal(SPN_F_TYPE, 0x400);
	assert_int_equal(SPN_OP_RESOLVE, 20);
	assert_int_equal(SPN_OP_MKNOD, 21);
	assert_int_equal(SPN_OP_SEAL, 22);
	assert_int_equal(SPN_OP_REAP, 23);
	assert_int_equal(SPN_OP_MAX, 23);
	assert_int_equal(SPN_F_NOFOLLOW, 0x1);
	assert_int_equal(SPN_F_WRITTEN, 0x2);
	assert_int_equal(SPN_F_VERDICT, 0x4);
	assert_int_equal(SPN_F_FLUSHED, 0x8);
	assert_int_equal(SPN_F_COURIER, 0x10);
	assert_int_equal(SPN_F_EXIT, 0x20);
	assert_int_equal(SPN_F_LOST, 0x40);
	assert_int_equal(SPN_F_CKPT, 0x80);
	assert_int_equal(SPN_F_JOIN, 0x100);
	assert_int_equal(SPN_SPEC_JOIN, 0x4);
	assert_int_equal(SPN_SPEC_JOINED, 0x8);
	assert_int_equal(SPN_SPEC_HOLD, 0x8);
	assert_int_equal(SPN_SPEC_UNHELD, 0x10);
	assert_int_equal(SPN_REFUTED_BIRTH, 0x80000000u);
	assert_int_equal(SPN_SPEC_REDIRECT, 0x4);
	assert_int_equal(SPN_SPEC_PREDICT, 0x1);
	assert_int_equal(SPN_SPEC_REPLAY, 0x2);
	assert_int_equal(SPN_SPEC_PREDICTED, 0x1);
	assert_int_equal(SPN_SPEC_REMOTE, 0x2);
	assert_int_equal(NCASES, SPN_OP_MAX);
	/* Numbers the golden frames spell out as bytes. */
	assert_int_equal(SPN_OP_SHUTDOWN, 0x13);
	assert_int_equal(SPN_OP_RESOLVE, 0x14);
	assert_int_equal(SPN_OP_SEAL, 0x16);
	assert_int_equal(SPN_OP_REAP, 0x17);
	assert_int_equal(R_OK, 4);
	assert_int_equal(-EPERM, -1);
	assert_int_equal(-ENOENT, -2);
	assert_int_equal(-EINTR, -4);
	assert_int_equal(-EIO, -5);
	assert_int_equal(-EEXIST, -17);
	assert_int_equal(-EXDEV, -18);
	assert_int_equal(-ENOSYS, -38);
	for (i = 0; i < NCASES; i++) {
		assert_int_equal(cases[i].op, i + 1);
		/* The two listings of spec and token agree. */
		assert_int_equal(!!(cases[i].req & Q_SPEC),
				 is_spec_req_op(cases[i].op));
		assert_int_equal(!!(cases[i].req & Q_TOKEN),
				 is_token_op(cases[i].op));
		assert_int_equal(!!(cases[i].always & A_SPEC),
				 is_spec_rep_op(cases[i].op));
		/* A request's token names a prediction on a file-system op
		 * (one with a reply spec), and then comes right after spec;
		 * on RESOLVE, SEAL and REAP it names a sealed epoch, and
		 * comes without spec, both ways: after flags (RESOLVE,
		 * SEAL) or after size (REAP, without flags). The field
		 * before it is one the op carries. A request's spec is
		 * answered with a reply's spec. */
		if (is_token_op(cases[i].op) && is_spec_rep_op(cases[i].op))
			assert_true(is_spec_req_op(cases[i].op));
		if (is_token_op(cases[i].op) && !is_spec_rep_op(cases[i].op))
			assert_true(is_epoch_op(cases[i].op));
		assert_int_equal(before_token(cases[i].op) != 0, is_token_op(cases[i].op));
		if (is_token_op(cases[i].op)) {
			assert_true(cases[i].req & before_token(cases[i].op));
			assert_int_equal(before_token(cases[i].op) == Q_SPEC,
					 !is_epoch_op(cases[i].op));
		}
		if (is_epoch_op(cases[i].op)) {
			assert_true(is_token_op(cases[i].op));
			assert_int_equal(!!(cases[i].req & Q_FLAGS),
					 before_token(cases[i].op) == Q_FLAGS);
			assert_false(is_spec_req_op(cases[i].op));
			assert_false(is_spec_rep_op(cases[i].op));
		}
		if (is_spec_req_op(cases[i].op))
			assert_true(is_spec_rep_op(cases[i].op));
		/* Reply spec: exactly the file-system ops, STAT..STATFS
		 * and MKNOD. */
		assert_int_equal(is_spec_rep_op(cases[i].op),
				 (cases[i].op >= SPN_OP_STAT &&
				  cases[i].op <= SPN_OP_STATFS) ||
				     cases[i].op == SPN_OP_MKNOD);
		nreq += is_spec_req_op(cases[i].op);
		ntok += is_token_op(cases[i].op);
		nrep += is_spec_rep_op(cases[i].op);
		nepoch += is_epoch_op(cases[i].op);
		assert_int_equal(!!(cases[i].rep & P_REFUTED),
				 cases[i].op == SPN_OP_RESOLVE || cases[i].op == SPN_OP_REAP);
		assert_int_equal(!!(cases[i].rep & P_TOKEN),
				 cases[i].op == SPN_OP_SEAL || cases[i].op == SPN_OP_REAP);
		/* Version 6: a parent's pid goes with a pid, on SEAL and
		 * REAP; gen and wstatus are REAP's. */
		assert_int_equal(!!(cases[i].req & Q_PPID),
				 cases[i].op == SPN_OP_SEAL || cases[i].op == SPN_OP_REAP);
		if (cases[i].req & Q_PPID)
			assert_true(cases[i].req & Q_PID);
		assert_int_equal(!!(cases[i].rep & P_GEN), cases[i].op == SPN_OP_REAP);
		assert_int_equal(!!(cases[i].rep & P_WSTATUS), cases[i].op == SPN_OP_REAP);
		/* SEAL's token, after flags, is followed by pid, ppid and
		 * size; REAP's follows them. */
		assert_int_equal(after_token(cases[i].op) != 0,
				 before_token(cases[i].op) == Q_FLAGS &&
				     (cases[i].req & Q_PPID));
		assert_string_equal(spn_proto_op_name(cases[i].op),
				    cases[i].name);
		assert_string_equal(
		    spn_proto_op_name(cases[i].op | SPN_OP_REPLY),
		    cases[i].name);
	}
	assert_string_equal(spn_proto_op_name(SPN_OP_RESOLVE), "resolve");
	assert_string_equal(spn_proto_op_name(20 | SPN_OP_REPLY), "resolve");
	assert_string_equal(spn_proto_op_name(22), "seal");
	assert_string_equal(spn_proto_op_name(22 | SPN_OP_REPLY), "seal");
	assert_string_equal(spn_proto_op_name(23), "reap");
	assert_string_equal(spn_proto_op_name(23 | SPN_OP_REPLY), "reap");
	assert_null(spn_proto_op_name(0));
	assert_null(spn_proto_op_name(SPN_OP_MAX + 1));
	assert_null(spn_proto_op_name(24));
	assert_null(spn_proto_op_name(0x7fff));
	assert_null(spn_proto_op_name(0xffff));
	assert_int_equal(nreq, 11);
	assert_int_equal(ntok, 10);
	assert_int_equal(nrep, 16);
	assert_int_equal(nepoch, 3);
}

static void
test_req_roundtrip_all_ops(void **state)
{
	static struct spn_req in, out;
	size_t i, n;

	for (i = 0; i < NCASES; i++) {
		fill_req(&in, cases[i].op);
		n = roundtrip_req(&in, &out);
		assert_int_equal(get_le(fbuf + 6, 2), cases[i].op);
		assert_int_equal(get_le(fbuf + 12, 4), n - SPN_HDR_LEN);
	}
}

static void
test_reply_roundtrip_all_ops(void **state)
{
	static struct spn_reply in, out;
	size_t i;

	for (i = 0; i < NCASES; i++) {
		fill_reply(&in, cases[i].op, 0);
		roundtrip_reply(&in, &out);
		assert_int_equal(get_le(fbuf + 6, 2), cases[i].op | SPN_OP_REPLY);
	}
}

static void
test_reply_error_roundtrip_all_ops(void **state)
{
	static const int32_t errs[] = {-ENOENT, -EACCES, -ESTALE,
				       -EIO,	-1,	 -4095};
	static const uint16_t unknown[] = {0, SPN_OP_MAX + 1, 0x4242, 0x7fff};
	static struct spn_reply in, out;
	size_t i, j, n, plen;
	uint16_t op;

	for (i = 0; i < NCASES; i++) {
		op = cases[i].op;
		/* Written out per op: 8 for the ops with a reply spec,
		 * else 4. */
		plen = err_payload_len(op);
		for (j = 0; j < sizeof(errs) / sizeof(errs[0]); j++) {
			fill_reply(&in, op, errs[j]);
			n = roundtrip_reply(&in, &out);
			/* Header, status and (only for ops with a reply
			 * spec) spec, whatever else was set. */
			assert_int_equal(n, SPN_HDR_LEN + plen);
			assert_int_equal(get_le(fbuf + 12, 4), plen);
			assert_int_equal((int32_t)get_le(fbuf + 16, 4), errs[j]);
			if (plen == 8)
				assert_int_equal(get_le(fbuf + 20, 4), rep_spec_of(op));
			if (plen == 8)
				assert_int_equal(out.spec, rep_spec_of(op));
			else
				assert_int_equal(out.spec, 0);
			assert_int_equal(out.refuted, 0);
			assert_int_equal(out.token, 0);
			assert_int_equal(out.gen, 0);
			assert_int_equal(out.wstatus, 0);
		}
	}
	/* An unknown op's error reply has no always fields: 4 bytes, even
	 * with a (valid or invalid) spec in the struct. */
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		memset(&in, 0, sizeof(in));
		in.op = unknown[i];
		in.seq = 17;
		in.status = -ENOSYS;
		in.spec = i % 2 ? SPN_SPEC_PREDICTED : 0xffffffffu;
		in.refuted = 9;
		in.token = 10;
		in.gen = 11;
		in.wstatus = 12;
		n = roundtrip_reply(&in, &out);
		assert_int_equal(n, SPN_HDR_LEN + 4);
		assert_int_equal(get_le(fbuf + 12, 4), 4);
		assert_int_equal(out.op, unknown[i]);
		assert_int_equal(out.status, -ENOSYS);
		assert_int_equal(out.spec, 0);
		assert_int_equal(out.refuted, 0);
		assert_int_equal(out.token, 0);
		assert_int_equal(out.gen, 0);
		assert_int_equal(out.wstatus, 0);
	}
}

/* ------------------------------------------------------------ exact bytes */

/*
 * Golden frames: a struct to encode and the exact bytes it must give,
 * written out by hand. The bytes must also decode back to the struct: the
 * fields its op carries, zeroes for the rest (what is set but not carried
 * is neither sent nor judged). One cmocka test per row, named after it.
 * The numbers the bytes spell (op numbers, errno values, R_OK, SPN_F_* and
 * SPN_REFUTED_BIRTH) are checked in test_op_table.
 */
struct golden {
	const char *name;
	const struct spn_req *req; /* one of req and rep */
	const struct spn_reply *rep;
	const uint8_t *want;
	size_t len;
};

#define REQ(...) .req = &(const struct spn_req){__VA_ARGS__}
#define REP(...) .rep = &(const struct spn_reply){__VA_ARGS__}
#define BYTES(...) \
	.want = (const uint8_t[]){__VA_ARGS__}, .len = sizeof((const uint8_t[]){__VA_ARGS__})
/* "SPNF", version 12, op, then a seq and a len that fit in one byte. */
#define HDR(op_lo, op_hi, seq, len) \
	0x53, 0x50, 0x4e, 0x46, 0x0c, 0x00, op_lo, op_hi, \
	seq, 0x00, 0x00, 0x00, len, 0x00, 0x00, 0x00

static struct golden goldens[] = {
    {"golden_stat_req",
     REQ(.op = SPN_OP_STAT, .seq = 0x01020304, .flags = SPN_F_NOFOLLOW, .spec = SPN_SPEC_PREDICT,
	 .path = "/a"),
     BYTES(0x53, 0x50, 0x4e, 0x46,	    /* "SPNF" */
	   0x0c, 0x00,			    /* version 12 */
	   0x02, 0x00,			    /* STAT */
	   0x04, 0x03, 0x02, 0x01,	    /* seq */
	   0x0e, 0x00, 0x00, 0x00,	    /* len 14 */
	   0x02, 0x00, 0x00, 0x00, '/', 'a', /* path */
	   0x01, 0x00, 0x00, 0x00,	    /* SPN_F_NOFOLLOW */
	   0x01, 0x00, 0x00, 0x00)},	    /* spec: SPN_SPEC_PREDICT */
    /* flags and spec told apart: spec comes last. */
    {"golden_stat_req_flags_0",
     REQ(.op = SPN_OP_STAT, .seq = 5, .spec = SPN_SPEC_PREDICT, .path = "/b"),
     BYTES(HDR(0x02, 0x00, 0x05, 0x0e),	    /* STAT, seq 5, len 14 */
	   0x02, 0x00, 0x00, 0x00, '/', 'b', /* path */
	   0x00, 0x00, 0x00, 0x00,	    /* flags 0 */
	   0x01, 0x00, 0x00, 0x00)},	    /* spec: SPN_SPEC_PREDICT */
    /* Version 7: a birth-only process's prediction may join a sealed
     * epoch above it. */
    {"golden_stat_req_join",
     REQ(.op = SPN_OP_STAT, .seq = 6, .spec = SPN_SPEC_PREDICT | SPN_SPEC_JOIN, .path = "/c"),
     BYTES(HDR(0x02, 0x00, 0x06, 0x0e),	    /* STAT, seq 6, len 14 */
	   0x02, 0x00, 0x00, 0x00, '/', 'c', /* path */
	   0x00, 0x00, 0x00, 0x00,	    /* flags 0 */
	   0x05, 0x00, 0x00, 0x00)},	    /* spec: PREDICT | JOIN */
    {"golden_stat_joined_reply",
     REP(.op = SPN_OP_STAT, .seq = 6, .status = -ENOENT,
	 .spec = SPN_SPEC_PREDICTED | SPN_SPEC_JOINED),
     BYTES(HDR(0x02, 0x80, 0x06, 0x08), /* STAT|REPLY, seq 6, len 8 */
	   0xfe, 0xff, 0xff, 0xff,	 /* -ENOENT */
	   0x09, 0x00, 0x00, 0x00)},	 /* spec: PREDICTED | JOINED */
    {"golden_setattr_req",
     REQ(.op = SPN_OP_SETATTR, .seq = 0xffffffffu, .path = "/x",
	 .mask = SPN_SA_MODE | SPN_SA_SIZE | SPN_SA_ATIME | SPN_SA_MTIME_NOW, .mode = 04755,
	 .uid = 1000, .gid = 0xfffffffeu, .size = 0x0102030405060708ULL, .atime = {-2, 5},
	 .mtime = {0, 999999999u}, .spec = SPN_SPEC_PREDICT | SPN_SPEC_HOLD,
	 .token = 0x1122334455667788ULL),
     BYTES(0x53, 0x50, 0x4e, 0x46, 0x0c, 0x00, 0x0f, 0x00, /* SETATTR */
	   0xff, 0xff, 0xff, 0xff, 0x46, 0x00, 0x00, 0x00, /* len 70 */
	   0x02, 0x00, 0x00, 0x00, '/', 'x',		   /* path */
	   0x00, 0x00, 0x00, 0x00,			   /* flags */
	   0x99, 0x00, 0x00, 0x00,			   /* mask */
	   0xed, 0x09, 0x00, 0x00,			   /* mode 04755 */
	   0xe8, 0x03, 0x00, 0x00,			   /* uid 1000 */
	   0xfe, 0xff, 0xff, 0xff,			   /* gid */
	   0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* size */
	   0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* atime -2 */
	   0x05, 0x00, 0x00, 0x00,			   /* nsec 5 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* mtime */
	   0xff, 0xc9, 0x9a, 0x3b,			   /* nsec 999999999 */
	   0x09, 0x00, 0x00, 0x00,			   /* spec: PREDICT | HOLD */
	   0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11)}, /* token */
    /* Version 4: an -EXDEV reply with SPN_SPEC_REDIRECT carries the client
     * path to redo the call on (test_redirect_rules: only then). */
    {"golden_redirect_reply",
     REP(.op = SPN_OP_STAT, .seq = 9, .status = -EXDEV, .spec = SPN_SPEC_REDIRECT,
	 .path = "/etc/x"),
     BYTES(HDR(0x02, 0x80, 0x09, 0x12), /* STAT|REPLY, seq 9, len 18 */
	   0xee, 0xff, 0xff, 0xff,	 /* -EXDEV */
	   0x04, 0x00, 0x00, 0x00,	 /* spec: REDIRECT */
	   0x06, 0x00, 0x00, 0x00, '/', 'e', 't', 'c', '/', 'x')},
    {"golden_hello_reply",
     REP(.op = SPN_OP_HELLO, .seq = 7, .pid = 0x11223344, .version = 3),
     BYTES(HDR(0x01, 0x80, 0x07, 0x0a), /* HELLO|REPLY, seq 7, len 10 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x44, 0x33, 0x22, 0x11,	 /* pid */
	   0x03, 0x00)},		 /* version 3 */
    /* A predicted ENOENT: status, then spec. */
    {"golden_stat_predicted_enoent",
     REP(.op = SPN_OP_STAT, .seq = 8, .status = -ENOENT, .spec = SPN_SPEC_PREDICTED),
     BYTES(HDR(0x02, 0x80, 0x08, 0x08), /* STAT|REPLY, seq 8, len 8 */
	   0xfe, 0xff, 0xff, 0xff,	 /* -ENOENT */
	   0x01, 0x00, 0x00, 0x00)},	 /* spec: SPN_SPEC_PREDICTED */
    /* Since version 3 FSYNC, which takes no prediction, says whether it
     * waited for the server: status, then spec. */
    {"golden_fsync_remote_eio",
     REP(.op = SPN_OP_FSYNC, .seq = 9, .status = -EIO, .spec = SPN_SPEC_REMOTE),
     BYTES(HDR(0x06, 0x80, 0x09, 0x08), /* FSYNC|REPLY, seq 9, len 8 */
	   0xfb, 0xff, 0xff, 0xff,	 /* -EIO */
	   0x02, 0x00, 0x00, 0x00)},	 /* spec: SPN_SPEC_REMOTE */
    /* An op without a reply spec: status only (spec not carried). */
    {"golden_shutdown_eio",
     REP(.op = SPN_OP_SHUTDOWN, .seq = 10, .status = -EIO, .spec = SPN_SPEC_PREDICTED),
     BYTES(HDR(0x13, 0x80, 0x0a, 0x04), /* SHUTDOWN|REPLY, seq 10, len 4 */
	   0xfb, 0xff, 0xff, 0xff)},	 /* -EIO */
    /* Version 2's fields and op (with version 3's token on OPEN). */
    {"golden_open_req",
     REQ(.op = SPN_OP_OPEN, .seq = 0x0a0b0c0d, .path = "/f",
	 .flags = 0x00080241u, /* passed through: any bits */
	 .mode = 0644, .spec = SPN_SPEC_PREDICT, .token = 0x1122334455667788ULL),
     BYTES(0x53, 0x50, 0x4e, 0x46, 0x0c, 0x00, 0x04, 0x00, /* OPEN */
	   0x0d, 0x0c, 0x0b, 0x0a, 0x1a, 0x00, 0x00, 0x00, /* seq, len 26 */
	   0x02, 0x00, 0x00, 0x00, '/', 'f',		   /* path */
	   0x41, 0x02, 0x08, 0x00,			   /* flags */
	   0xa4, 0x01, 0x00, 0x00,			   /* mode 0644 */
	   0x01, 0x00, 0x00, 0x00,			   /* spec: SPN_SPEC_PREDICT */
	   0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11)}, /* token */
    {"golden_readdir_req",
     REQ(.op = SPN_OP_READDIR, .seq = 1, .path = "/d", .spec = SPN_SPEC_PREDICT,
	 .token = 0xffffffffffffffffULL), /* not carried by READDIR */
     BYTES(HDR(0x07, 0x00, 0x01, 0x0a),	    /* READDIR, seq 1, len 10 */
	   0x02, 0x00, 0x00, 0x00, '/', 'd', /* path */
	   0x01, 0x00, 0x00, 0x00)},	    /* spec: SPN_SPEC_PREDICT */
    {"golden_access_req",
     REQ(.op = SPN_OP_ACCESS, .seq = 2, .path = "/x", .mode = R_OK),
     BYTES(HDR(0x03, 0x00, 0x02, 0x0e),	    /* ACCESS, seq 2, len 14 */
	   0x02, 0x00, 0x00, 0x00, '/', 'x', /* path */
	   0x04, 0x00, 0x00, 0x00,	    /* R_OK */
	   0x00, 0x00, 0x00, 0x00)},	    /* spec 0: no prediction */
    {"golden_access_reply",
     REP(.op = SPN_OP_ACCESS, .seq = 2, .spec = SPN_SPEC_PREDICTED),
     BYTES(HDR(0x03, 0x80, 0x02, 0x08), /* ACCESS|REPLY, seq 2, len 8 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x01, 0x00, 0x00, 0x00)},	 /* spec: SPN_SPEC_PREDICTED */
    {"golden_readlink_reply",
     REP(.op = SPN_OP_READLINK, .seq = 3, .spec = SPN_SPEC_PREDICTED, .path = "ab"),
     BYTES(HDR(0x08, 0x80, 0x03, 0x0e), /* READLINK|REPLY, seq 3, len 14 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x01, 0x00, 0x00, 0x00,	 /* spec: SPN_SPEC_PREDICTED */
	   0x02, 0x00, 0x00, 0x00, 'a', 'b')}, /* target */
    /* Version 5: RESOLVE's request is flags, then the token of the sealed
     * epoch depended on; none (0) is still 12 bytes. */
    {"golden_resolve_req",
     REQ(.op = SPN_OP_RESOLVE, .seq = 4, .path = "not carried",
	 .spec = 0xffffffffu), /* not carried by RESOLVE */
     BYTES(HDR(0x14, 0x00, 0x04, 0x0c), /* RESOLVE, seq 4, len 12 */
	   0x00, 0x00, 0x00, 0x00,	 /* flags 0 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* token 0 */
    /* A courier asks for the verdict of the epoch it writes for. */
    {"golden_resolve_verdict_req",
     REQ(.op = SPN_OP_RESOLVE, .seq = 0x19, .flags = SPN_F_VERDICT,
	 .token = 0x8877665544332211ULL, .mode = 0xffffffffu), /* mode not carried */
     BYTES(HDR(0x14, 0x00, 0x19, 0x0c), /* RESOLVE, seq 0x19, len 12 */
	   0x04, 0x00, 0x00, 0x00,	 /* SPN_F_VERDICT */
	   0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88)}, /* token */
    /* A process asks the verdict of its own older epoch (version 9). */
    {"golden_resolve_own_req",
     REQ(.op = SPN_OP_RESOLVE, .seq = 0x1b, .flags = SPN_F_VERDICT | SPN_F_OWN, .token = 7),
     BYTES(HDR(0x14, 0x00, 0x1b, 0x0c), /* RESOLVE, seq 0x1b, len 12 */
	   0x04, 0x02, 0x00, 0x00,	 /* SPN_F_VERDICT | SPN_F_OWN */
	   0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* token 7 */
    /* ... then says it wrote the output. */
    {"golden_resolve_flushed_req",
     REQ(.op = SPN_OP_RESOLVE, .seq = 0x1a, .flags = SPN_F_FLUSHED, .token = 0x100000000ULL),
     BYTES(HDR(0x14, 0x00, 0x1a, 0x0c), /* RESOLVE, seq 0x1a, len 12 */
	   0x08, 0x00, 0x00, 0x00,	 /* SPN_F_FLUSHED */
	   0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00)}, /* token 2^32 */
    {"golden_resolve_reply",
     REP(.op = SPN_OP_RESOLVE, .seq = 4, .refuted = 3,
	 .spec = 0xffffffffu), /* not carried by RESOLVE */
     BYTES(HDR(0x14, 0x80, 0x04, 0x08), /* RESOLVE|REPLY, seq 4, len 8 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x03, 0x00, 0x00, 0x00)},	 /* refuted 3 */
    /* A dependent whose sealed epoch failed: SPN_REFUTED_BIRTH, the top
     * bit, with the count of its own refuted predictions. */
    {"golden_resolve_birth_reply",
     REP(.op = SPN_OP_RESOLVE, .seq = 0x19, .refuted = SPN_REFUTED_BIRTH | 2,
	 .token = 0xffffffffffffffffULL), /* not carried by RESOLVE */
     BYTES(HDR(0x14, 0x80, 0x19, 0x08), /* RESOLVE|REPLY, seq 0x19, len 8 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x02, 0x00, 0x00, 0x80)},	 /* refuted: BIRTH | 2 */
    {"golden_resolve_eio",
     REP(.op = SPN_OP_RESOLVE, .seq = 4, .status = -EIO, .refuted = 3, .spec = 0xffffffffu),
     BYTES(HDR(0x14, 0x80, 0x04, 0x04), /* RESOLVE|REPLY, seq 4, len 4 */
	   0xfb, 0xff, 0xff, 0xff)},	 /* -EIO */
    /* SEAL: flags, then the token of the sealed epoch the sealing process
     * itself depends on (version 5), then pid, ppid and size (version 6),
     * sent even without SPN_F_EXIT. */
    {"golden_seal_req",
     REQ(.op = SPN_OP_SEAL, .seq = 0x18, .flags = SPN_F_COURIER,
	 .token = 0x0123456789abcdefULL, .pid = 0x1234, .path = "not carried",
	 .spec = 0xffffffffu, .uid = 1000), /* not carried by SEAL */
     BYTES(HDR(0x16, 0x00, 0x18, 0x1c), /* SEAL, seq 0x18, len 28 */
	   0x10, 0x00, 0x00, 0x00,	 /* SPN_F_COURIER */
	   0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* token */
	   0x34, 0x12, 0x00, 0x00,			   /* pid */
	   0x00, 0x00, 0x00, 0x00,			   /* ppid 0 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* size 0 */
    /* A process that depends on nothing and hands its output to no one. */
    {"golden_seal_req_first",
     REQ(.op = SPN_OP_SEAL, .seq = 0x1b),
     BYTES(HDR(0x16, 0x00, 0x1b, 0x1c), /* SEAL, seq 0x1b, len 28 */
	   0x00, 0x00, 0x00, 0x00,	 /* flags 0 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* token 0 */
	   0x00, 0x00, 0x00, 0x00,			   /* pid 0 */
	   0x00, 0x00, 0x00, 0x00,			   /* ppid 0 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* size 0 */
    /* Version 6: a process exits without waiting for its verdict; its
     * own pid, its parent's, and its wait status (exit(1)) in size. */
    {"golden_seal_exit_req",
     REQ(.op = SPN_OP_SEAL, .seq = 0x1c, .flags = SPN_F_EXIT,
	 .token = 0x8877665544332211ULL, .pid = 0x00012345, .ppid = 0x00012300,
	 .size = 0x0100, .mode = 0xffffffffu), /* mode not carried */
     BYTES(HDR(0x16, 0x00, 0x1c, 0x1c), /* SEAL, seq 0x1c, len 28 */
	   0x20, 0x00, 0x00, 0x00,	 /* SPN_F_EXIT */
	   0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* token */
	   0x45, 0x23, 0x01, 0x00,			   /* pid */
	   0x00, 0x23, 0x01, 0x00,			   /* ppid */
	   0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* size: status */
    /* A courier whose re-executing copy died unrecorded: the status to
     * record (killed by SIGKILL) if pid's newest record is still token's. */
    {"golden_seal_lost_req",
     REQ(.op = SPN_OP_SEAL, .seq = 0x1d, .flags = SPN_F_EXIT | SPN_F_LOST,
	 .token = 0x0000000100000002ULL, .pid = 0x7fffffffu, .ppid = 1, .size = 9),
     BYTES(HDR(0x16, 0x00, 0x1d, 0x1c), /* SEAL, seq 0x1d, len 28 */
	   0x60, 0x00, 0x00, 0x00,	 /* SPN_F_EXIT | SPN_F_LOST */
	   0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* token */
	   0xff, 0xff, 0xff, 0x7f,			   /* pid */
	   0x01, 0x00, 0x00, 0x00,			   /* ppid 1 */
	   0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* size: status */
    /* Version 7: a fork seal of a process with a checkpoint, and a
     * birth-only process naming the sealed epoch its joins go above. */
    {"golden_seal_ckpt_req",
     REQ(.op = SPN_OP_SEAL, .seq = 0x1e, .flags = SPN_F_COURIER | SPN_F_CKPT, .token = 5),
     BYTES(HDR(0x16, 0x00, 0x1e, 0x1c), /* SEAL, seq 0x1e, len 28 */
	   0x90, 0x00, 0x00, 0x00,	 /* SPN_F_COURIER | SPN_F_CKPT */
	   0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* token */
	   0x00, 0x00, 0x00, 0x00,			   /* pid */
	   0x00, 0x00, 0x00, 0x00,			   /* ppid */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* size */
    {"golden_seal_join_req",
     REQ(.op = SPN_OP_SEAL, .seq = 0x1f, .flags = SPN_F_JOIN, .token = 0x0102030405060708ULL),
     BYTES(HDR(0x16, 0x00, 0x1f, 0x1c), /* SEAL, seq 0x1f, len 28 */
	   0x00, 0x01, 0x00, 0x00,	 /* SPN_F_JOIN */
	   0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* token */
	   0x00, 0x00, 0x00, 0x00,			   /* pid */
	   0x00, 0x00, 0x00, 0x00,			   /* ppid */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* size */
    /* The reply: status 0, then the sealed epoch's id. */
    {"golden_seal_reply",
     REP(.op = SPN_OP_SEAL, .seq = 0x18, .token = 0xfedcba9876543210ULL,
	 .refuted = 3, .spec = 0xffffffffu), /* not carried by SEAL */
     BYTES(HDR(0x16, 0x80, 0x18, 0x0c), /* SEAL|REPLY, seq 0x18, len 12 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe)}, /* token */
    /* An error: the status alone, no token (and no spec). */
    {"golden_seal_eio",
     REP(.op = SPN_OP_SEAL, .seq = 0x18, .status = -EIO, .token = 0xfedcba9876543210ULL,
	 .spec = 0xffffffffu),
     BYTES(HDR(0x16, 0x80, 0x18, 0x04), /* SEAL|REPLY, seq 0x18, len 4 */
	   0xfb, 0xff, 0xff, 0xff)},	 /* -EIO */
    /* Version 6's REAP: a parent asks about the exit its child recorded:
     * pid, ppid, then size, the generation seen (0: none yet), then token,
     * the sealed epoch the parent itself depends on (any value). */
    {"golden_reap_req",
     REQ(.op = SPN_OP_REAP, .seq = 0x1e, .pid = 0x00012345, .ppid = 0x00012300,
	 .token = 0xe0e1e2e3e4e5e6e7ULL,
	 .flags = 0xffffffffu, .spec = 0xffffffffu, /* not carried */
	 .path = "not carried"),
     BYTES(HDR(0x17, 0x00, 0x1e, 0x18), /* REAP, seq 0x1e, len 24 */
	   0x45, 0x23, 0x01, 0x00,	 /* pid */
	   0x00, 0x23, 0x01, 0x00,	 /* ppid */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* size 0 */
	   0xe7, 0xe6, 0xe5, 0xe4, 0xe3, 0xe2, 0xe1, 0xe0)}, /* token */
    /* ... and after a refuted exit, waits for the record newer than gen 2;
     * token 0 is still sent. */
    {"golden_reap_req_gen",
     REQ(.op = SPN_OP_REAP, .seq = 0x1f, .pid = 0x00012345, .ppid = 0x00012300,
	 .size = 2),
     BYTES(HDR(0x17, 0x00, 0x1f, 0x18), /* REAP, seq 0x1f, len 24 */
	   0x45, 0x23, 0x01, 0x00,	 /* pid */
	   0x00, 0x23, 0x01, 0x00,	 /* ppid */
	   0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* size: gen 2 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* token 0 */
    /* The reply: status 0, token, refuted, gen, wstatus. */
    {"golden_reap_reply",
     REP(.op = SPN_OP_REAP, .seq = 0x1e, .token = 0x0123456789abcdefULL, .refuted = 1,
	 .gen = 0x0000000100000002ULL, .wstatus = 0x0100,
	 .spec = 0xffffffffu, .pid = 7), /* not carried by REAP */
     BYTES(HDR(0x17, 0x80, 0x1e, 0x1c), /* REAP|REPLY, seq 0x1e, len 28 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* token */
	   0x01, 0x00, 0x00, 0x00,			   /* refuted 1 */
	   0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* gen */
	   0x00, 0x01, 0x00, 0x00)},			   /* wstatus */
    /* Nothing recorded (gen 0): the fields are still there, as zeroes. */
    {"golden_reap_reply_none",
     REP(.op = SPN_OP_REAP, .seq = 0x20),
     BYTES(HDR(0x17, 0x80, 0x20, 0x1c), /* REAP|REPLY, seq 0x20, len 28 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* token 0 */
	   0x00, 0x00, 0x00, 0x00,			   /* refuted 0 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* gen 0 */
	   0x00, 0x00, 0x00, 0x00)},			   /* wstatus 0 */
    /* An error: the status alone (no spec). */
    {"golden_reap_eintr",
     REP(.op = SPN_OP_REAP, .seq = 0x1e, .status = -EINTR, .token = 1, .refuted = 1,
	 .gen = 2, .wstatus = 0x0100, .spec = 0xffffffffu),
     BYTES(HDR(0x17, 0x80, 0x1e, 0x04), /* REAP|REPLY, seq 0x1e, len 4 */
	   0xfc, 0xff, 0xff, 0xff)},	 /* -EINTR */
    {"golden_unknown_op_enosys",
     REP(.op = 0x4242, .seq = 6, .status = -ENOSYS,
	 .spec = SPN_SPEC_PREDICTED), /* an unknown op has no always fields */
     BYTES(HDR(0x42, 0xc2, 0x06, 0x04), /* 0x4242|REPLY, seq 6, len 4 */
	   0xda, 0xff, 0xff, 0xff)},	 /* -ENOSYS */
    /* Version 3's token, new spec bits and spec on write ops. */
    {"golden_close_req",
     REQ(.op = SPN_OP_CLOSE, .seq = 0x10, .path = "/c", .flags = SPN_F_WRITTEN,
	 .spec = SPN_SPEC_PREDICT, .token = 0x8000000000000001ULL),
     BYTES(HDR(0x05, 0x00, 0x10, 0x16),	    /* CLOSE, seq 0x10, len 22 */
	   0x02, 0x00, 0x00, 0x00, '/', 'c', /* path */
	   0x02, 0x00, 0x00, 0x00,	    /* SPN_F_WRITTEN */
	   0x01, 0x00, 0x00, 0x00,	    /* spec: SPN_SPEC_PREDICT */
	   0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80)}, /* token */
    {"golden_mkdir_req",
     REQ(.op = SPN_OP_MKDIR, .seq = 0x11, .path = "/m", .mode = 0755, .spec = SPN_SPEC_REPLAY,
	 .token = 0xfffffffffffffffeULL),
     BYTES(HDR(0x09, 0x00, 0x11, 0x16),	    /* MKDIR, seq 0x11, len 22 */
	   0x02, 0x00, 0x00, 0x00, '/', 'm', /* path */
	   0xed, 0x01, 0x00, 0x00,	    /* mode 0755 */
	   0x02, 0x00, 0x00, 0x00,	    /* spec: SPN_SPEC_REPLAY */
	   0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)}, /* token */
    {"golden_unlink_req",
     REQ(.op = SPN_OP_UNLINK, .seq = 0x13, .path = "/u",
	 .flags = 0xffffffffu, /* not carried by UNLINK */
	 .spec = SPN_SPEC_PREDICT, .token = 0x0000000100000002ULL),
     BYTES(HDR(0x0b, 0x00, 0x13, 0x12),	    /* UNLINK, seq 0x13, len 18 */
	   0x02, 0x00, 0x00, 0x00, '/', 'u', /* path */
	   0x01, 0x00, 0x00, 0x00,	    /* spec: SPN_SPEC_PREDICT */
	   0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00)}, /* token */
    /* Not predicted: spec and token are still there, as zeroes. */
    {"golden_rmdir_req", REQ(.op = SPN_OP_RMDIR, .seq = 0x15, .path = "/r"),
     BYTES(HDR(0x0a, 0x00, 0x15, 0x12),	    /* RMDIR, seq 0x15, len 18 */
	   0x02, 0x00, 0x00, 0x00, '/', 'r', /* path */
	   0x00, 0x00, 0x00, 0x00,	    /* spec 0 */
	   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)}, /* token 0 */
    {"golden_rename_req",
     REQ(.op = SPN_OP_RENAME, .seq = 0x14, .path = "/a", .path2 = "/b",
	 .spec = SPN_SPEC_REPLAY, .token = 0x0123456789abcdefULL),
     BYTES(HDR(0x0c, 0x00, 0x14, 0x18),	    /* RENAME, seq 0x14, len 24 */
	   0x02, 0x00, 0x00, 0x00, '/', 'a', /* path */
	   0x02, 0x00, 0x00, 0x00, '/', 'b', /* path2 */
	   0x02, 0x00, 0x00, 0x00,	    /* spec: SPN_SPEC_REPLAY */
	   0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01)}, /* token */
    /* RENAME's fields as LINK: spec and token are neither sent nor judged. */
    {"golden_link_req",
     REQ(.op = SPN_OP_LINK, .seq = 0x16, .path = "/a", .path2 = "/b", .spec = 0xffffffffu,
	 .token = 0x0123456789abcdefULL),
     BYTES(HDR(0x0d, 0x00, 0x16, 0x0c),	    /* LINK, seq 0x16, len 12 */
	   0x02, 0x00, 0x00, 0x00, '/', 'a', /* path */
	   0x02, 0x00, 0x00, 0x00, '/', 'b')}, /* path2 */
    {"golden_unlink_reply",
     REP(.op = SPN_OP_UNLINK, .seq = 0x13, .spec = SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE),
     BYTES(HDR(0x0b, 0x80, 0x13, 0x08), /* UNLINK|REPLY, seq 0x13, len 8 */
	   0x00, 0x00, 0x00, 0x00,	 /* status 0 */
	   0x03, 0x00, 0x00, 0x00)},	 /* spec: PREDICTED|REMOTE */
    {"golden_rename_exdev",
     REP(.op = SPN_OP_RENAME, .seq = 0x14, .status = -EXDEV, .spec = SPN_SPEC_REMOTE),
     BYTES(HDR(0x0c, 0x80, 0x14, 0x08), /* RENAME|REPLY, seq 0x14, len 8 */
	   0xee, 0xff, 0xff, 0xff,	 /* -EXDEV */
	   0x02, 0x00, 0x00, 0x00)},	 /* spec: SPN_SPEC_REMOTE */
    {"golden_link_eexist",
     REP(.op = SPN_OP_LINK, .seq = 0x16, .status = -EEXIST),
     BYTES(HDR(0x0d, 0x80, 0x16, 0x08), /* LINK|REPLY, seq 0x16, len 8 */
	   0xef, 0xff, 0xff, 0xff,	 /* -EEXIST */
	   0x00, 0x00, 0x00, 0x00)},	 /* spec 0 */
    {"golden_setattr_eperm",
     REP(.op = SPN_OP_SETATTR, .seq = 0x17, .status = -EPERM, .spec = SPN_SPEC_REMOTE),
     BYTES(HDR(0x0f, 0x80, 0x17, 0x08), /* SETATTR|REPLY, seq 0x17, len 8 */
	   0xff, 0xff, 0xff, 0xff,	 /* -EPERM */
	   0x02, 0x00, 0x00, 0x00)},	 /* spec: SPN_SPEC_REMOTE */
};
#define NGOLDENS (sizeof(goldens) / sizeof(goldens[0]))

/* One row: the struct encodes to the bytes, and the bytes (as written
 * here, not as encoded) decode to the struct. */
static void
test_golden(void **state)
{
	const struct golden *g = *state;
	static struct spn_req out;
	static struct spn_reply rout;

	assert_memory_equal(g->want, "SPNF", 4);
	memset(fbuf, 0, g->len);
	assert_int_equal(g->req ? enc_req(g->req) : enc_reply(g->rep), g->len);
	assert_memory_equal(fbuf, g->want, g->len);
	memcpy(fbuf, g->want, g->len);
	if (g->req) {
		memset(&out, 0x5a, sizeof(out));
		assert_int_equal(spn_proto_decode_req(fbuf, g->len, &out), 0);
		check_req(case_or_none(g->req->op), g->req, &out);
	} else {
		memset(&rout, 0x5a, sizeof(rout));
		assert_int_equal(spn_proto_decode_reply(fbuf, g->len, &rout), 0);
		check_reply(case_or_none(g->rep->op), g->rep, &rout, fbuf);
	}
}

/* REDIRECT goes only with -EXDEV, and brings its path only then. */
static void
test_redirect_rules(void **state)
{
	static struct spn_reply r, out;
	size_t n;

	memset(&r, 0, sizeof(r));
	r.op = SPN_OP_STAT;
	r.seq = 9;
	r.status = -EXDEV;
	r.spec = SPN_SPEC_REDIRECT;
	strcpy(r.path, "/etc/x");
	n = enc_reply(&r);
	/* Without the flag the path is not sent: trailing bytes. */
	fbuf[20] = 0;
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &out), -EPROTO);
	r.status = -ENOENT;
	assert_true(spn_proto_encode_reply(&r, fbuf, sizeof(fbuf)) < 0);
}

/* The attr layout, member by member, built here independently. */
static void
check_attr_layout(uint16_t op, uint32_t spec)
{
	static struct spn_reply r, out;
	static uint8_t want[SPN_HDR_LEN + 4 + 4 + 96];
	struct pb p = {.b = pay, .n = 0};
	const struct spn_attr *a = &r.attr;
	const size_t wlen = SPN_HDR_LEN + 4 + (is_spec_rep_op(op) ? 4 : 0) + 96;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.seq = 99;
	r.spec = spec;
	fill_attr(&r.attr, S_IFCHR);
	pb_le(&p, 0, 4);
	if (is_spec_rep_op(op))
		pb_le(&p, spec, 4); /* spec, before attr */
	pb_le(&p, a->type, 4);
	pb_le(&p, a->mode, 4);
	pb_le(&p, a->nlink, 4);
	pb_le(&p, a->uid, 4);
	pb_le(&p, a->gid, 4);
	pb_le(&p, a->size, 8);
	pb_le(&p, a->used, 8);
	pb_le(&p, a->rdev, 8);
	pb_le(&p, a->fsid, 8);
	pb_le(&p, a->fileid, 8);
	pb_le(&p, (uint64_t)a->atime.sec, 8);
	pb_le(&p, a->atime.nsec, 4);
	pb_le(&p, (uint64_t)a->mtime.sec, 8);
	pb_le(&p, a->mtime.nsec, 4);
	pb_le(&p, (uint64_t)a->ctime.sec, 8);
	pb_le(&p, a->ctime.nsec, 4);
	assert_int_equal(SPN_HDR_LEN + p.n, wlen);
	frame(op | SPN_OP_REPLY, 99, &p);
	memcpy(want, fbuf, wlen);

	memset(fbuf, 0, wlen);
	assert_int_equal(enc_reply(&r), wlen);
	assert_memory_equal(fbuf, want, wlen);
	assert_int_equal(spn_proto_decode_reply(fbuf, wlen, &out), 0);
	check_attr(&out.attr, &r.attr);
	assert_int_equal(out.spec, is_spec_rep_op(op) ? spec : 0);
}

static void
test_golden_attr_layout(void **state)
{
	/* Every op with an attr sends spec first since version 3. */
	check_attr_layout(SPN_OP_CLOSE, SPN_SPEC_REMOTE);
	check_attr_layout(SPN_OP_STAT, SPN_SPEC_PREDICTED);
	check_attr_layout(SPN_OP_MKDIR, SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE);
	check_attr_layout(SPN_OP_SETATTR, 0);
}

static void
test_golden_statfs_layout(void **state)
{
	static struct spn_reply r, out;
	struct pb p = {.b = pay, .n = 0};
	static uint8_t want[SPN_HDR_LEN + 4 + 4 + 56];

	fill_reply(&r, SPN_OP_STATFS, 0);
	assert_int_equal(r.spec, SPN_SPEC_REMOTE);
	pb_le(&p, 0, 4);
	pb_le(&p, SPN_SPEC_REMOTE, 4); /* status, spec, then statfs */
	pb_le(&p, r.sfs.bsize, 4);
	pb_le(&p, r.sfs.blocks, 8);
	pb_le(&p, r.sfs.bfree, 8);
	pb_le(&p, r.sfs.bavail, 8);
	pb_le(&p, r.sfs.files, 8);
	pb_le(&p, r.sfs.ffree, 8);
	pb_le(&p, r.sfs.favail, 8);
	pb_le(&p, r.sfs.namemax, 4);
	frame(SPN_OP_STATFS | SPN_OP_REPLY, r.seq, &p);
	memcpy(want, fbuf, sizeof(want));
	memset(fbuf, 0, sizeof(want));
	assert_int_equal(enc_reply(&r), sizeof(want));
	assert_memory_equal(fbuf, want, sizeof(want));
	assert_int_equal(spn_proto_decode_reply(fbuf, sizeof(want), &out), 0);
	assert_true(out.sfs.files == 0xffffffffffffffffULL);
	assert_int_equal(out.sfs.namemax, 255);
	assert_int_equal(out.spec, SPN_SPEC_REMOTE);
}

/* ------------------------------------------------------------ boundaries */

static void
test_path_max_len(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	struct pb p = {.b = pay, .n = 0};
	size_t n;

	/* Exactly SPN_PATH_MAX - 1 bytes: accepted both ways. */
	fill_req(&r, SPN_OP_RENAME);
	memset(r.path, 'a', SPN_PATH_MAX - 1);
	r.path[0] = '/';
	r.path[SPN_PATH_MAX - 1] = '\0';
	memset(r.path2, 'b', SPN_PATH_MAX - 1);
	r.path2[0] = '/';
	r.path2[SPN_PATH_MAX - 1] = '\0';
	n = enc_req(&r);
	/* Two full paths, spec and token: the longest request there is. */
	assert_int_equal(n, SPN_HDR_LEN + 2 * (4 + SPN_PATH_MAX - 1) + 4 + 8);
	assert_true(n <= SPN_REQ_MAX);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(strlen(out.path), SPN_PATH_MAX - 1);
	assert_int_equal(strlen(out.path2), SPN_PATH_MAX - 1);
	assert_int_equal(out.token, r.token);
	check_req(case_of(SPN_OP_RENAME), &r, &out);

	/* One more cannot even be held: no NUL in the array. */
	memset(r.path, 'a', SPN_PATH_MAX);
	r.path[0] = '/';
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	r.path[SPN_PATH_MAX - 1] = '\0';
	memset(r.path2, 'a', SPN_PATH_MAX);
	r.path2[0] = '/';
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);

	/* ... and on the wire it is a bad field (path, flags, spec). */
	memset(bigtext, 'a', SPN_PATH_MAX);
	bigtext[0] = '/';
	pb_str(&p, bigtext, SPN_PATH_MAX);
	pb_le(&p, 0, 4);
	pb_le(&p, SPN_SPEC_PREDICT, 4);
	n = frame(SPN_OP_STAT, 1, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	assert_int_equal(out.op, SPN_OP_STAT);
	assert_int_equal(out.seq, 1);
	p.n = 0;
	pb_str(&p, bigtext, SPN_PATH_MAX - 1);
	pb_le(&p, 0, 4);
	pb_le(&p, SPN_SPEC_PREDICT, 4);
	n = frame(SPN_OP_STAT, 1, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(strlen(out.path), SPN_PATH_MAX - 1);
	assert_int_equal(out.spec, SPN_SPEC_PREDICT);

	/* Mirror path and link target in replies: same limits. */
	fill_reply(&rp, SPN_OP_OPEN, 0);
	memset(rp.path, 'm', SPN_PATH_MAX - 1);
	rp.path[0] = '/';
	rp.path[SPN_PATH_MAX - 1] = '\0';
	n = enc_reply(&rp);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), 0);
	assert_string_equal(rout.path, rp.path);
	rp.path[SPN_PATH_MAX - 1] = 'm';
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);
	/* READLINK's reply: status, spec, target. */
	p.n = 0;
	pb_le(&p, 0, 4);
	pb_le(&p, SPN_SPEC_PREDICTED, 4);
	pb_str(&p, bigtext, SPN_PATH_MAX);
	n = frame(SPN_OP_READLINK | SPN_OP_REPLY, 1, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
	p.n = 0;
	pb_le(&p, 0, 4);
	pb_le(&p, SPN_SPEC_PREDICTED, 4);
	pb_str(&p, bigtext, SPN_PATH_MAX - 1);
	n = frame(SPN_OP_READLINK | SPN_OP_REPLY, 1, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), 0);
	assert_int_equal(strlen(rout.path), SPN_PATH_MAX - 1);
	assert_int_equal(rout.spec, SPN_SPEC_PREDICTED);
}

static void
test_name_limits(void **state)
{
	static struct spn_req r, out;
	struct pb p = {.b = pay, .n = 0};
	size_t n;

	fill_req(&r, SPN_OP_HELLO);
	memset(r.name, 'n', SPN_NAME_MAX);
	r.name[SPN_NAME_MAX] = '\0';
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(strlen(out.name), SPN_NAME_MAX);
	r.name[SPN_NAME_MAX] = 'n';
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);

	/* Empty is allowed; control bytes are not. */
	r.name[0] = '\0';
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_string_equal(out.name, "");
	/* Exactly the printable range, 0x20..0x7e. */
	strcpy(r.name, " ~");
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_string_equal(out.name, " ~");
	strcpy(r.name, "a\x1f");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	strcpy(r.name, "a\x7f");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	strcpy(r.name, "evil\033[2J");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	strcpy(r.name, "caf\xc3\xa9");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);

	/* On the wire: pid, uid, then a name one byte too long ... */
	memset(bigtext, 'n', SPN_NAME_MAX + 1);
	pb_le(&p, 1, 4);
	pb_le(&p, 2, 4);
	pb_str(&p, bigtext, SPN_NAME_MAX + 1);
	n = frame(SPN_OP_HELLO, 3, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	/* ... or of the right length, then with a control byte. */
	p.n = 0;
	pb_le(&p, 1, 4);
	pb_le(&p, 2, 4);
	pb_str(&p, bigtext, SPN_NAME_MAX);
	n = frame(SPN_OP_HELLO, 3, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(out.pid, 1);
	assert_int_equal(out.uid, 2);
	fbuf[n - 1] = '\n';
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
}

static void
test_text_limits(void **state)
{
	static struct spn_reply r, out;
	struct pb p = {.b = pay, .n = 0};
	size_t n;

	fill_reply(&r, SPN_OP_STATUS, 0);
	memset(bigtext, 't', sizeof(bigtext));
	r.text = bigtext;
	r.text_len = SPN_TEXT_MAX;
	n = enc_reply(&r);
	assert_int_equal(n, SPN_HDR_LEN + 8 + SPN_TEXT_MAX);
	assert_true(n <= SPN_MSG_MAX);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &out), 0);
	assert_int_equal(out.text_len, SPN_TEXT_MAX);
	assert_ptr_equal(out.text, fbuf + SPN_HDR_LEN + 8);

	r.text_len = SPN_TEXT_MAX + 1;
	assert_int_equal(spn_proto_encode_reply(&r, fbuf, sizeof(fbuf)),
			 -EINVAL);
	r.text = NULL;
	r.text_len = 1;
	assert_int_equal(spn_proto_encode_reply(&r, fbuf, sizeof(fbuf)),
			 -EINVAL);
	r.text_len = 0;
	n = enc_reply(&r);
	assert_int_equal(n, SPN_HDR_LEN + 8);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &out), 0);
	assert_int_equal(out.text_len, 0);
	r.text = "a\0b";
	r.text_len = 3;
	assert_int_equal(spn_proto_encode_reply(&r, fbuf, sizeof(fbuf)),
			 -EINVAL);

	pb_le(&p, 0, 4);
	pb_str(&p, bigtext, SPN_TEXT_MAX + 1);
	n = frame(SPN_OP_CONFIG | SPN_OP_REPLY, 1, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &out), -EINVAL);
	/* A NUL inside the text. */
	p.n = 0;
	pb_le(&p, 0, 4);
	pb_str(&p, "ab\0cd", 5);
	n = frame(SPN_OP_CONFIG | SPN_OP_REPLY, 1, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &out), -EINVAL);
	fbuf[n - 3] = '\t';
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &out), 0);
	assert_int_equal(out.text_len, 5);
	assert_memory_equal(out.text, "ab\tcd", 5);
}

static void
test_relative_and_empty_paths(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	struct pb p = {.b = pay, .n = 0};
	size_t n;

	fill_req(&r, SPN_OP_STAT);
	strcpy(r.path, "nfs/a");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	strcpy(r.path, "");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	strcpy(r.path, "/");
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_string_equal(out.path, "/");

	fill_req(&r, SPN_OP_RENAME);
	strcpy(r.path2, "./b");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	fill_req(&r, SPN_OP_LINK);
	strcpy(r.path, "a");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);

	/* A symlink's target may be relative, not empty. */
	fill_req(&r, SPN_OP_SYMLINK);
	strcpy(r.path2, "x");
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_string_equal(out.path2, "x");
	strcpy(r.path2, "");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	strcpy(r.path, "link");
	strcpy(r.path2, "/abs/target");
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);

	/* On the wire: relative path, empty path, empty target. */
	pb_str(&p, "a/b", 3);
	pb_le(&p, 0, 4);
	pb_le(&p, 0, 4);
	n = frame(SPN_OP_STAT, 5, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	assert_int_equal(out.seq, 5);
	put_le(fbuf + SPN_HDR_LEN + 4, '/', 1); /* "//b": now valid */
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_string_equal(out.path, "//b");
	p.n = 0;
	pb_str(&p, "", 0);
	pb_le(&p, 0, 4);
	pb_le(&p, 0, 4);
	n = frame(SPN_OP_STAT, 5, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	p.n = 0;
	pb_str(&p, "/l", 2);
	pb_str(&p, "", 0);
	n = frame(SPN_OP_SYMLINK, 5, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	p.n = 0;
	pb_str(&p, "/a", 2);
	pb_str(&p, "b", 1);
	n = frame(SPN_OP_RENAME, 5, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);

	/* Replies: a mirror path must be absolute, a target may not be. */
	fill_reply(&rp, SPN_OP_READDIR, 0);
	strcpy(rp.path, "mirror/x");
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);
	fill_reply(&rp, SPN_OP_READLINK, 0);
	strcpy(rp.path, "");
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);
	strcpy(rp.path, "/abs");
	n = enc_reply(&rp);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), 0);
	assert_string_equal(rout.path, "/abs");
}

static void
test_embedded_nul(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	size_t n;

	fill_req(&r, SPN_OP_RENAME);
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	/* path starts at 20; its byte 4 is "/nfs" + '/'. */
	fbuf[SPN_HDR_LEN + 4 + 4] = '\0';
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	assert_int_equal(out.op, SPN_OP_RENAME);
	assert_int_equal(out.seq, r.seq);
	fbuf[SPN_HDR_LEN + 4 + 4] = '/';
	/* Last byte of path2, before spec (4) and token (8). */
	assert_int_equal(fbuf[n - 12 - 1], 'o');
	fbuf[n - 12 - 1] = '\0';
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	fbuf[n - 12 - 1] = 'o';
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	/* A NUL byte in the token is just a byte of a number. */
	fbuf[n - 1] = '\0';
	fbuf[n - 8] = '\0';
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(out.token, r.token & 0x00ffffffffffff00ULL);

	fill_req(&r, SPN_OP_HELLO);
	n = enc_req(&r);
	fbuf[n - 1] = '\0';
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);

	fill_reply(&rp, SPN_OP_READLINK, 0);
	n = enc_reply(&rp);
	fbuf[n - 2] = '\0';
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
}

/*
 * Byte offsets of attr members within a successful reply frame of op:
 * after the status, and after spec for the ops with a reply spec.
 */
#define ATTR_OFF(op) (SPN_HDR_LEN + 4 + (is_spec_rep_op(op) ? 4 : 0))
#define ATTR_TYPE(op) (ATTR_OFF(op) + 0)
#define ATTR_MODE(op) (ATTR_OFF(op) + 4)
#define ATTR_ATIME_NSEC(op) (ATTR_OFF(op) + 60 + 8)
#define ATTR_MTIME_NSEC(op) (ATTR_OFF(op) + 72 + 8)
#define ATTR_CTIME_NSEC(op) (ATTR_OFF(op) + 84 + 8)

static void
test_nsec_range(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	size_t n, i, k;
	uint16_t op;

	fill_req(&r, SPN_OP_SETATTR);
	r.atime.nsec = 999999999u;
	r.mtime.nsec = 999999999u;
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(out.mtime.nsec, 999999999u);
	/* mtime's nsec is the last 4 bytes before spec and token, atime's
	 * 12 before. */
	put_le(fbuf + n - 16, 1000000000u, 4);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	put_le(fbuf + n - 16, 0, 4);
	put_le(fbuf + n - 28, 0xffffffffu, 4);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
	put_le(fbuf + n - 28, 0, 4);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);

	/* Checked even when the mask does not use the time. */
	r.mask = 0;
	r.atime.nsec = 1000000000u;
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	r.atime.nsec = 0;
	r.mtime.nsec = 1000000000u;
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);

	/* Every op whose reply has an attr (all with spec first, since v3). */
	for (k = 0; k < NCASES; k++) {
		if (!(cases[k].rep & P_ATTR))
			continue;
		op = cases[k].op;
		{
			const size_t offs[] = {ATTR_ATIME_NSEC(op),
					       ATTR_MTIME_NSEC(op),
					       ATTR_CTIME_NSEC(op)};

			fill_reply(&rp, op, 0);
			n = enc_reply(&rp);
			assert_int_equal(get_le(fbuf + offs[0], 4),
					 rp.attr.atime.nsec);
			assert_int_equal(get_le(fbuf + offs[1], 4),
					 rp.attr.mtime.nsec);
			for (i = 0; i < 3; i++) {
				uint32_t old =
				    (uint32_t)get_le(fbuf + offs[i], 4);

				put_le(fbuf + offs[i], 999999999u, 4);
				assert_int_equal(
				    spn_proto_decode_reply(fbuf, n, &rout), 0);
				put_le(fbuf + offs[i], 1000000000u, 4);
				assert_int_equal(
				    spn_proto_decode_reply(fbuf, n, &rout),
				    -EINVAL);
				put_le(fbuf + offs[i], old, 4);
			}
		}
		rp.attr.ctime.nsec = 1000000000u;
		assert_int_equal(
		    spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)), -EINVAL);
	}
}

static void
test_attr_type_and_mode(void **state)
{
	static const uint32_t good[] = {S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR,
					S_IFBLK, S_IFIFO, S_IFSOCK};
	static const uint32_t bad[] = {
	    0,		 S_IFMT, S_IFIFO | 1,	0x7fffffffu,
	    0xffffffffu, 0644,	 S_IFREG | 0644};
	static struct spn_reply rp, rout;
	size_t i, k, n;
	uint16_t op;

	/* Every op whose reply has an attr (all with spec first, since v3). */
	for (k = 0; k < NCASES; k++) {
		if (!(cases[k].rep & P_ATTR))
			continue;
		op = cases[k].op;
		fill_reply(&rp, op, 0);
		for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			rp.attr.type = good[i];
			n = enc_reply(&rp);
			assert_int_equal(get_le(fbuf + ATTR_TYPE(op), 4),
					 good[i]);
			assert_int_equal(
			    spn_proto_decode_reply(fbuf, n, &rout), 0);
			assert_int_equal(rout.attr.type, good[i]);
		}
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			rp.attr.type = bad[i];
			assert_int_equal(
			    spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			    -EINVAL);
			rp.attr.type = S_IFREG;
			n = enc_reply(&rp);
			put_le(fbuf + ATTR_TYPE(op), bad[i], 4);
			assert_int_equal(
			    spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
		}
		rp.attr.type = S_IFREG;
		rp.attr.mode = 07777;
		n = enc_reply(&rp);
		assert_int_equal(get_le(fbuf + ATTR_MODE(op), 4), 07777);
		assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), 0);
		assert_int_equal(rout.attr.mode, 07777);
		put_le(fbuf + ATTR_MODE(op), 010000, 4);
		assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout),
				 -EINVAL);
		rp.attr.mode = S_IFREG | 0644;
		assert_int_equal(
		    spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)), -EINVAL);
	}
}

/*
 * One u32 request field set to v: the encoder's result (with v at byte off
 * when it accepts it), then the decoder's on a frame encoded with a valid
 * value and patched to v at off. Refused or not, op and seq are told; a
 * frame accepted decodes to r with v in the field.
 */
static void
check_u32_field(uint16_t op, uint32_t *member, uint32_t valid, size_t off, uint32_t v, int want,
		struct spn_req *r)
{
	static struct spn_req out;
	size_t n;

	*member = v;
	assert_int_equal(spn_proto_encode_req(r, fbuf, sizeof(fbuf)),
			 want < 0 ? want : (ssize_t)req_len(case_of(op), r));
	if (want == 0)
		assert_int_equal(get_le(fbuf + off, 4), v);
	*member = valid;
	n = enc_req(r);
	put_le(fbuf + off, v, 4);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), want);
	assert_int_equal(out.op, op);
	assert_int_equal(out.seq, r->seq);
	if (want == 0) {
		*member = v;
		check_req(case_of(op), r, &out);
		*member = valid;
	}
}

/* The same for a u32 reply field. */
static void
check_rep_u32_field(uint32_t *member, uint32_t valid, size_t off, uint32_t v, int want,
		    struct spn_reply *rp)
{
	static struct spn_reply out;
	size_t n;

	*member = v;
	assert_int_equal(spn_proto_encode_reply(rp, fbuf, sizeof(fbuf)),
			 want < 0 ? want : (ssize_t)reply_len(case_or_none(rp->op), rp));
	if (want == 0)
		assert_int_equal(get_le(fbuf + off, 4), v);
	*member = valid;
	n = enc_reply(rp);
	put_le(fbuf + off, v, 4);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &out), want);
	assert_int_equal(out.op, rp->op);
	assert_int_equal(out.seq, rp->seq);
	if (want == 0) {
		*member = v;
		check_reply(case_or_none(rp->op), rp, &out, fbuf);
		*member = valid;
	}
}

static void
test_flags_modes_masks(void **state)
{
	static struct spn_req r;
	/* Offsets past the header of the field after a path of length L. */
	const size_t after = SPN_HDR_LEN + 4 + strlen("/nfs/src/main.c");

	fill_req(&r, SPN_OP_STAT);
	check_u32_field(SPN_OP_STAT, &r.flags, 0, after, 0, 0, &r);
	check_u32_field(SPN_OP_STAT, &r.flags, 0, after, SPN_F_NOFOLLOW, 0, &r);
	check_u32_field(SPN_OP_STAT, &r.flags, 0, after, SPN_F_WRITTEN, -EINVAL,
			&r);
	check_u32_field(SPN_OP_STAT, &r.flags, 0, after, 0x80000000u, -EINVAL,
			&r);

	fill_req(&r, SPN_OP_CLOSE);
	check_u32_field(SPN_OP_CLOSE, &r.flags, 0, after, SPN_F_WRITTEN, 0, &r);
	check_u32_field(SPN_OP_CLOSE, &r.flags, 0, after, SPN_F_WRITTEN | SPN_F_UNMAPPED, 0, &r);
	check_u32_field(SPN_OP_CLOSE, &r.flags, 0, after, SPN_F_NOFOLLOW,
			-EINVAL, &r);

	/* OPEN: the client's O_* flags, any bits. */
	fill_req(&r, SPN_OP_OPEN);
	check_u32_field(SPN_OP_OPEN, &r.flags, 0, after, 0xffffffffu, 0, &r);
	check_u32_field(SPN_OP_OPEN, &r.mode, 0, after + 4, 07777, 0, &r);
	check_u32_field(SPN_OP_OPEN, &r.mode, 0, after + 4, 0100644, -EINVAL,
			&r);

	fill_req(&r, SPN_OP_ACCESS);
	check_u32_field(SPN_OP_ACCESS, &r.mode, 0, after, F_OK, 0, &r);
	check_u32_field(SPN_OP_ACCESS, &r.mode, 0, after, R_OK | W_OK | X_OK, 0,
			&r);
	check_u32_field(SPN_OP_ACCESS, &r.mode, 0, after, 8, -EINVAL, &r);

	fill_req(&r, SPN_OP_MKDIR);
	check_u32_field(SPN_OP_MKDIR, &r.mode, 0, after, 07777, 0, &r);
	check_u32_field(SPN_OP_MKDIR, &r.mode, 0, after, 010000, -EINVAL, &r);

	/* SETATTR: path, flags, mask, mode, ... */
	fill_req(&r, SPN_OP_SETATTR);
	check_u32_field(SPN_OP_SETATTR, &r.flags, 0, after, SPN_F_NOFOLLOW, 0,
			&r);
	check_u32_field(SPN_OP_SETATTR, &r.flags, 0, after, SPN_F_WRITTEN,
			-EINVAL, &r);
	check_u32_field(SPN_OP_SETATTR, &r.mask, 0, after + 4,
			SPN_SA_ALL & ~(SPN_SA_ATIME_NOW | SPN_SA_MTIME_NOW), 0,
			&r);
	check_u32_field(SPN_OP_SETATTR, &r.mask, 0, after + 4,
			SPN_SA_ATIME_NOW | SPN_SA_MTIME_NOW, 0, &r);
	check_u32_field(SPN_OP_SETATTR, &r.mask, 0, after + 4, 0x100, -EINVAL,
			&r);
	check_u32_field(SPN_OP_SETATTR, &r.mask, 0, after + 4,
			SPN_SA_ATIME | SPN_SA_ATIME_NOW, -EINVAL, &r);
	check_u32_field(SPN_OP_SETATTR, &r.mask, 0, after + 4,
			SPN_SA_MTIME | SPN_SA_MTIME_NOW, -EINVAL, &r);
	check_u32_field(SPN_OP_SETATTR, &r.mode, 0, after + 8, 020000, -EINVAL,
			&r);
}

static void
test_status_rules(void **state)
{
	static struct spn_reply rp, rout;
	struct pb p = {.b = pay, .n = 0};
	size_t n;

	fill_reply(&rp, SPN_OP_STAT, 1);
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);
	rp.status = -4096;
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);
	rp.status = INT32_MIN;
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);

	/* FSYNC: status, spec. */
	pb_le(&p, 1, 4);
	pb_le(&p, SPN_SPEC_REMOTE, 4);
	n = frame(SPN_OP_FSYNC | SPN_OP_REPLY, 3, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
	assert_int_equal(rout.seq, 3);
	put_le(fbuf + SPN_HDR_LEN, (uint32_t)-4096, 4);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
	put_le(fbuf + SPN_HDR_LEN, (uint32_t)-4095, 4);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), 0);
	assert_int_equal(rout.status, -4095);
	assert_int_equal(rout.spec, SPN_SPEC_REMOTE);
	/* SHUTDOWN: status alone. */
	p.n = 0;
	pb_le(&p, 1, 4);
	n = frame(SPN_OP_SHUTDOWN | SPN_OP_REPLY, 4, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
	assert_int_equal(rout.seq, 4);
	put_le(fbuf + SPN_HDR_LEN, (uint32_t)-4096, 4);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
	put_le(fbuf + SPN_HDR_LEN, (uint32_t)-4095, 4);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), 0);
	assert_int_equal(rout.status, -4095);
	assert_int_equal(rout.spec, 0);

	/* An error reply carries nothing but the always fields: for STAT,
	 * status and spec, not an attr. */
	p.n = 0;
	pb_le(&p, (uint32_t)-ENOENT, 4);
	pb_le(&p, SPN_SPEC_PREDICTED, 4);
	memset(pay + p.n, 0, 96); /* an attr's worth of zeroes */
	p.n += 96;
	n = frame(SPN_OP_STAT | SPN_OP_REPLY, 3, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EPROTO);
	set_len(fbuf, 8);
	assert_int_equal(spn_proto_decode_reply(fbuf, SPN_HDR_LEN + 8, &rout),
			 0);
	assert_int_equal(rout.status, -ENOENT);
	assert_int_equal(rout.spec, SPN_SPEC_PREDICTED);
	/* A success must carry its fields: status and spec are not all. */
	put_le(fbuf + SPN_HDR_LEN, 0, 4);
	assert_int_equal(spn_proto_decode_reply(fbuf, SPN_HDR_LEN + 8, &rout),
			 -EPROTO);
	set_len(fbuf, 4);
	assert_int_equal(spn_proto_decode_reply(fbuf, SPN_HDR_LEN + 4, &rout),
			 -EPROTO);
	/* ... and RESOLVE's success its refuted. */
	p.n = 0;
	pb_le(&p, 0, 4);
	n = frame(SPN_OP_RESOLVE | SPN_OP_REPLY, 3, &p);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EPROTO);
	/* HELLO's version is never 0. */
	fill_reply(&rp, SPN_OP_HELLO, 0);
	rp.version = 0;
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);
	rp.version = 1;
	n = enc_reply(&rp);
	put_le(fbuf + n - 2, 0, 2);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EINVAL);
}

/* ------------------------------------------------------------ speculation */

/*
 * spec: SPN_SPEC_PREDICT, SPN_SPEC_REPLAY, SPN_SPEC_JOIN, SPN_SPEC_HOLD and
 * SPN_SPEC_NOTE are the request bits, SPN_SPEC_PREDICTED, SPN_SPEC_REMOTE,
 * SPN_SPEC_JOINED, SPN_SPEC_UNHELD and SPN_SPEC_LEASE the reply bits (with
 * any status; SPN_SPEC_REDIRECT: test_redirect_rules); any other bit is
 * -EINVAL both ways, and 0x20 in a request. Ops without
 * spec neither send nor judge the member, nor ops without a token theirs.
 */
static const uint32_t spec_bad[] = {0x40,
				    0x100,
				    0x80000000u,
				    0xfffffffcu,
				    0xfffffffeu,
				    0xffffffffu,
				    0x1 | 0x40,
				    0x2 | 0x40,
				    0x3 | 0x40,
				    0x3 | 0x80000000u};

static void
test_spec_bits(void **state)
{
	static const int32_t sts[] = {0, -ENOENT, -EACCES};
	static const uint32_t good_req[] = {0, SPN_SPEC_PREDICT, SPN_SPEC_REPLAY,
					    SPN_SPEC_PREDICT | SPN_SPEC_REPLAY,
					    SPN_SPEC_PREDICT | SPN_SPEC_JOIN,
					    SPN_SPEC_PREDICT | SPN_SPEC_REPLAY | SPN_SPEC_JOIN,
					    SPN_SPEC_PREDICT | SPN_SPEC_HOLD,
					    SPN_SPEC_PREDICT | SPN_SPEC_JOIN | SPN_SPEC_HOLD,
					    SPN_SPEC_PREDICT | SPN_SPEC_JOIN | SPN_SPEC_NOTE};
	static const uint32_t good_rep[] = {0, SPN_SPEC_PREDICTED, SPN_SPEC_REMOTE,
					    SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE,
					    SPN_SPEC_PREDICTED | SPN_SPEC_JOINED,
					    SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE | SPN_SPEC_JOINED,
					    SPN_SPEC_UNHELD,
					    SPN_SPEC_UNHELD | SPN_SPEC_REMOTE,
					    SPN_SPEC_PREDICTED | SPN_SPEC_JOINED | SPN_SPEC_LEASE};
	static const uint64_t tokens[] = {0, 1, 0x0123456789abcdefULL, 0xffffffffffffffffULL};
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	size_t i, j, k, n, n0, off;
	uint16_t op;

	/* Requests: spec is the last field, or the one before the token. */
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_req_op(op))
			continue;
		fill_req(&r, op);
		n = enc_req(&r);
		off = n - 4 - after_spec(op);
		assert_int_equal(get_le(fbuf + off, 4), SPN_SPEC_PREDICT);
		if (is_token_op(op))
			assert_int_equal(get_le(fbuf + n - 8, 8), r.token);
		for (i = 0; i < sizeof(good_req) / sizeof(good_req[0]); i++)
			check_u32_field(op, &r.spec, SPN_SPEC_PREDICT, off, good_req[i], 0, &r);
		for (i = 0; i < sizeof(spec_bad) / sizeof(spec_bad[0]); i++)
			check_u32_field(op, &r.spec, SPN_SPEC_PREDICT, off, spec_bad[i], -EINVAL,
					&r);
		check_u32_field(op, &r.spec, SPN_SPEC_PREDICT, off, SPN_SPEC_LEASE, -EINVAL, &r);
		check_u32_field(op, &r.spec, SPN_SPEC_PREDICT, off,
				SPN_SPEC_PREDICT | SPN_SPEC_LEASE, -EINVAL, &r);
	}

	/* Replies of every op with a reply spec, including those whose
	 * requests have none: spec right after the status; good bits pass,
	 * others fail, with any status. */
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_rep_op(op))
			continue;
		off = SPN_HDR_LEN + 4;
		for (j = 0; j < sizeof(sts) / sizeof(sts[0]); j++) {
			fill_reply(&rp, op, sts[j]);
			for (i = 0; i < sizeof(good_rep) / sizeof(good_rep[0]); i++)
				check_rep_u32_field(&rp.spec, SPN_SPEC_PREDICTED, off,
						    good_rep[i], 0, &rp);
			for (i = 0; i < sizeof(spec_bad) / sizeof(spec_bad[0]); i++)
				check_rep_u32_field(&rp.spec, SPN_SPEC_PREDICTED, off, spec_bad[i],
						    -EINVAL, &rp);
		}
	}

	/* Other ops: the same bytes whatever spec (and token, for those
	 * without one: not RESOLVE, SEAL and REAP) holds, decoded as 0. */
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (is_spec_req_op(op))
			continue;
		fill_req(&r, op);
		r.spec = 0;
		if (!is_token_op(op))
			r.token = 0;
		n0 = enc_req(&r);
		memcpy(fbuf2, fbuf, n0);
		for (i = 0; i < sizeof(spec_bad) / sizeof(spec_bad[0]); i++) {
			r.spec = spec_bad[i];
			if (!is_token_op(op))
				r.token = tokens[i % (sizeof(tokens) / sizeof(tokens[0]))];
			assert_int_equal(roundtrip_req(&r, &out), n0);
			assert_memory_equal(fbuf, fbuf2, n0);
		}
	}
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (is_spec_rep_op(op))
			continue;
		for (j = 0; j < sizeof(sts) / sizeof(sts[0]); j++) {
			fill_reply(&rp, op, sts[j]);
			rp.spec = 0;
			n0 = enc_reply(&rp);
			memcpy(fbuf2, fbuf, n0);
			for (i = 0; i < sizeof(spec_bad) / sizeof(spec_bad[0]); i++) {
				rp.spec = spec_bad[i];
				assert_int_equal(roundtrip_reply(&rp, &rout), n0);
				assert_memory_equal(fbuf, fbuf2, n0);
			}
		}
	}
	/* Ops with spec but no token (STAT, ACCESS, READDIR, READLINK):
	 * token is neither sent nor decoded. */
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_req_op(op) || is_token_op(op))
			continue;
		fill_req(&r, op);
		r.token = 0;
		n0 = enc_req(&r);
		memcpy(fbuf2, fbuf, n0);
		for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
			r.token = tokens[i];
			assert_int_equal(roundtrip_req(&r, &out), n0);
			assert_memory_equal(fbuf, fbuf2, n0);
		}
	}
}

/*
 * Version 3's new bits: REPLAY in every request that takes spec and REMOTE
 * in every reply that gives it round-trip, alone and with the old bit;
 * the next unused bit up (0x10 in a request, version 7's JOIN being 0x4
 * and version 8's HOLD 0x8; 0x4 in a reply, REDIRECT, without its -EXDEV path) is refused both
 * ways, encoding and decoding.
 */
static void
test_spec_replay_remote(void **state)
{
	static const uint32_t req_good[] = {SPN_SPEC_REPLAY, SPN_SPEC_PREDICT | SPN_SPEC_REPLAY};
	static const uint32_t rep_good[] = {SPN_SPEC_REMOTE, SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE};
	static struct spn_req r;
	static struct spn_reply rp;
	size_t i, k, off;
	uint16_t op;
	int st;

	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_req_op(op))
			continue;
		fill_req(&r, op);
		off = req_len(&cases[k], &r) - 4 - after_spec(op);
		/* Re-executed after a rollback: REPLAY alone, and with
		 * PREDICT ... */
		for (i = 0; i < 2; i++)
			check_u32_field(op, &r.spec, SPN_SPEC_REPLAY, off, req_good[i], 0, &r);
		/* ... but 0x40, alone or with the others, is refused. */
		check_u32_field(op, &r.spec, SPN_SPEC_REPLAY, off, 0x40, -EINVAL, &r);
		check_u32_field(op, &r.spec, SPN_SPEC_REPLAY, off, SPN_SPEC_REPLAY | 0x40, -EINVAL,
				&r);
	}

	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_rep_op(op))
			continue;
		for (st = 0; st >= -1; st--) {
			fill_reply(&rp, op, st ? -EIO : 0);
			off = SPN_HDR_LEN + 4;
			for (i = 0; i < 2; i++)
				check_rep_u32_field(&rp.spec, SPN_SPEC_REMOTE, off, rep_good[i], 0,
						    &rp);
			check_rep_u32_field(&rp.spec, SPN_SPEC_REMOTE, off, 0x4, -EINVAL, &rp);
			check_rep_u32_field(&rp.spec, SPN_SPEC_REMOTE, off, SPN_SPEC_REMOTE | 0x4,
					    -EINVAL, &rp);
		}
	}
}

/*
 * token: a u64, the last field of OPEN, CLOSE, MKDIR, RMDIR, UNLINK and
 * RENAME (right after spec), of RESOLVE (right after flags) and of REAP
 * (version 6, right after size); SEAL's comes right after flags too, then
 * pid, ppid and size (version 6). Any value, all 64 bits, little-endian.
 */
static void
test_token(void **state)
{
	static const uint64_t vals[] = {0,
					1,
					0xff,
					0x100,
					0xffffffffULL,
					0x100000000ULL,
					0x0123456789abcdefULL,
					0x8000000000000000ULL,
					0xfedcba9876543210ULL,
					0xffffffffffffffffULL};
	static struct spn_req r, out;
	size_t i, k, b, n, at;
	uint16_t op;

	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_token_op(op))
			continue;
		for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			fill_req(&r, op);
			r.token = vals[i];
			n = roundtrip_req(&r, &out);
			assert_int_equal(out.token, vals[i]);
			/* The frame's last 8 bytes (SEAL's 8 before its last
			 * 16), low byte first ... */
			at = n - after_token(op) - 8;
			for (b = 0; b < 8; b++)
				assert_int_equal(fbuf[at + b], (uint8_t)(vals[i] >> (8 * b)));
			/* ... right after spec, RESOLVE's and SEAL's flags
			 * or REAP's size ... */
			switch (before_token(op)) {
			case Q_SPEC:
				assert_int_equal(get_le(fbuf + at - 4, 4), SPN_SPEC_PREDICT);
				break;
			case Q_FLAGS:
				assert_int_equal(get_le(fbuf + at - 4, 4), r.flags);
				break;
			case Q_SIZE:
				assert_int_equal(get_le(fbuf + at - 8, 8), r.size);
				assert_int_equal(at, SPN_HDR_LEN + 16);
				break;
			default:
				fail_msg("op %u: no field before its token", op);
			}
			/* ... and before SEAL's pid, ppid and size. */
			if (op == SPN_OP_SEAL) {
				assert_int_equal(get_le(fbuf + at + 8, 4), r.pid);
				assert_int_equal(get_le(fbuf + at + 12, 4), r.ppid);
				assert_int_equal(get_le(fbuf + at + 16, 8), r.size);
			}
			/* A changed byte anywhere in it is a changed token. */
			fbuf[at + i % 8] ^= 0x80;
			assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
			assert_int_equal(out.token,
					 vals[i] ^ (0x80ULL << (8 * (i % 8))));
			if (op == SPN_OP_SEAL || op == SPN_OP_REAP) {
				assert_int_equal(out.pid, r.pid);
				assert_int_equal(out.ppid, r.ppid);
				assert_int_equal(out.size, r.size);
			}
		}
		/* Without the token (a mutation's version 2 layout, spec
		 * last; RESOLVE's flags alone; SEAL's version 5 layout,
		 * flags and token; REAP's pid, ppid and size alone):
		 * truncated. And a token (or what follows SEAL's) cut short,
		 * at every length. */
		fill_req(&r, op);
		n = enc_req(&r);
		for (b = 1; b <= 8 + after_token(op); b++) {
			set_len(fbuf, (uint32_t)(n - b - SPN_HDR_LEN));
			memset(&out, 0x5a, sizeof(out));
			assert_int_equal(spn_proto_decode_req(fbuf, n - b, &out),
					 -EPROTO);
			assert_int_equal(out.op, op);
			assert_int_equal(out.seq, r.seq);
		}
	}
	/* A token after the spec of an op that has none: trailing bytes. */
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_req_op(op) || is_token_op(op))
			continue;
		fill_req(&r, op);
		n = enc_req(&r);
		put_le(fbuf + n, 0x0123456789abcdefULL, 8);
		set_len(fbuf, (uint32_t)(n + 8 - SPN_HDR_LEN));
		assert_int_equal(spn_proto_decode_req(fbuf, n + 8, &out),
				 -EPROTO);
	}
}

/* RENAME's token keeps its 64 bits, built by hand and encoded. */
static void
test_token_rename(void **state)
{
	static struct spn_req r, out;
	struct pb p = {.b = pay, .n = 0};
	size_t n;

	pb_str(&p, "/nfs/a", 6);
	pb_str(&p, "/nfs/b", 6);
	pb_le(&p, SPN_SPEC_PREDICT, 4);
	pb_mem(&p, "\xef\xcd\xab\x89\x67\x45\x23\x01", 8);
	n = frame(SPN_OP_RENAME, 42, &p);
	assert_int_equal(n, SPN_HDR_LEN + 10 + 10 + 4 + 8);
	memcpy(fbuf2, fbuf, n);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(out.op, SPN_OP_RENAME);
	assert_int_equal(out.seq, 42);
	assert_string_equal(out.path, "/nfs/a");
	assert_string_equal(out.path2, "/nfs/b");
	assert_int_equal(out.spec, SPN_SPEC_PREDICT);
	/* Both halves: not truncated to 32 bits, not swapped. */
	assert_int_equal(out.token, 0x0123456789abcdefULL);
	assert_int_equal((uint32_t)(out.token >> 32), 0x01234567u);
	assert_int_equal((uint32_t)out.token, 0x89abcdefu);

	/* The encoder writes the same bytes, and the decoded request
	 * re-encodes to them. */
	memset(&r, 0, sizeof(r));
	r.op = SPN_OP_RENAME;
	r.seq = 42;
	strcpy(r.path, "/nfs/a");
	strcpy(r.path2, "/nfs/b");
	r.spec = SPN_SPEC_PREDICT;
	r.token = 0x0123456789abcdefULL;
	assert_int_equal(enc_req(&r), n);
	assert_memory_equal(fbuf, fbuf2, n);
	assert_int_equal(enc_req(&out), n);
	assert_memory_equal(fbuf, fbuf2, n);

	/* REPLAY with the same token, as after a rollback. */
	r.spec = SPN_SPEC_REPLAY;
	n = enc_req(&r);
	assert_int_equal(get_le(fbuf + n - 12, 4), SPN_SPEC_REPLAY);
	assert_int_equal(get_le(fbuf + n - 8, 8), 0x0123456789abcdefULL);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(out.spec, SPN_SPEC_REPLAY);
	assert_int_equal(out.token, 0x0123456789abcdefULL);
}

/* Decodes the payload p of a reply frame for op, as exactly n bytes on the
 * heap (so that ASan sees any overread). */
static int
decode_reply_exact(uint16_t op, const struct pb *p, struct spn_reply *out)
{
	size_t n = frame(op | SPN_OP_REPLY, 0x77, p);
	uint8_t *exact = malloc(n);
	int rc;

	assert_non_null(exact);
	memcpy(exact, fbuf, n);
	memset(out, 0x5a, sizeof(*out));
	rc = spn_proto_decode_reply(exact, n, out);
	assert_int_equal(out->op, op);
	assert_int_equal(out->seq, 0x77);
	free(exact);
	return rc;
}

/*
 * A predicted error (STAT's ENOENT answered from the cache) says so: its
 * reply is the status, then spec. Without its spec bytes it is truncated.
 * Since version 3 that holds for every op with a reply spec (an UNLINK's
 * ENOENT that waited for the server says REMOTE).
 */
static void
test_spec_error_replies(void **state)
{
	static const uint16_t unknown[] = {0, SPN_OP_MAX + 1, 0x4242};
	static struct spn_reply rp, rout;
	struct pb p = {.b = pay, .n = 0};
	size_t i, k, n, cut;
	uint16_t op;

	fill_reply(&rp, SPN_OP_STAT, -ENOENT);
	rp.spec = SPN_SPEC_PREDICTED;
	n = roundtrip_reply(&rp, &rout);
	assert_int_equal(n, SPN_HDR_LEN + 8);
	assert_int_equal(get_le(fbuf + 6, 2), SPN_OP_STAT | SPN_OP_REPLY);
	assert_int_equal(get_le(fbuf + 12, 4), 8);
	assert_int_equal((int32_t)get_le(fbuf + 16, 4), -ENOENT);
	assert_int_equal(get_le(fbuf + 20, 4), SPN_SPEC_PREDICTED);
	/* A confirmed ENOENT still sends spec, as 0. */
	rp.spec = 0;
	n = roundtrip_reply(&rp, &rout);
	assert_int_equal(n, SPN_HDR_LEN + 8);
	assert_int_equal(get_le(fbuf + 20, 4), 0);

	/* An UNLINK's ENOENT from the server. */
	fill_reply(&rp, SPN_OP_UNLINK, -ENOENT);
	rp.spec = SPN_SPEC_REMOTE;
	n = roundtrip_reply(&rp, &rout);
	assert_int_equal(n, SPN_HDR_LEN + 8);
	assert_int_equal((int32_t)get_le(fbuf + 16, 4), -ENOENT);
	assert_int_equal(get_le(fbuf + 20, 4), SPN_SPEC_REMOTE);

	/* By hand, for each op with a reply spec: status, spec, and one u32
	 * too many, cut at every length. Only the 8-byte cut is whole. */
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_rep_op(op))
			continue;
		for (cut = 0; cut <= 12; cut++) {
			p.n = 0;
			pb_le(&p, (uint32_t)-ENOENT, 4);
			pb_le(&p, SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE, 4);
			pb_le(&p, 0, 4);
			p.n = cut;
			assert_int_equal(decode_reply_exact(op, &p, &rout),
					 cut == 8 ? 0 : -EPROTO);
			if (cut == 8) {
				assert_int_equal(rout.status, -ENOENT);
				assert_int_equal(rout.spec,
						 SPN_SPEC_PREDICTED |
						     SPN_SPEC_REMOTE);
			}
		}
		/* The v1 error reply, status alone: truncated (for the ops
		 * that gained spec in v3, that is also their v2 reply). */
		p.n = 0;
		pb_le(&p, (uint32_t)-EIO, 4);
		assert_int_equal(decode_reply_exact(op, &p, &rout), -EPROTO);
	}
	/* For the other ops, and unknown ones, the status is all. */
	for (k = 0; k < NCASES + sizeof(unknown) / sizeof(unknown[0]); k++) {
		op = k < NCASES ? cases[k].op : unknown[k - NCASES];
		if (is_spec_rep_op(op))
			continue;
		for (cut = 0; cut <= 8; cut++) {
			p.n = 0;
			pb_le(&p, (uint32_t)-ENOENT, 4);
			pb_le(&p, SPN_SPEC_PREDICTED, 4);
			p.n = cut;
			assert_int_equal(decode_reply_exact(op, &p, &rout),
					 cut == 4 ? 0 : -EPROTO);
			if (cut == 4) {
				assert_int_equal(rout.status, -ENOENT);
				assert_int_equal(rout.spec, 0);
			}
		}
	}
	/* Every such op's error with its spec, encoded and decoded. */
	for (k = 0; k < NCASES; k++) {
		op = cases[k].op;
		if (!is_spec_rep_op(op))
			continue;
		for (i = 0; i < 2; i++) {
			fill_reply(&rp, op, i ? -ESTALE : -EACCES);
			assert_int_equal(roundtrip_reply(&rp, &rout), SPN_HDR_LEN + 8);
			assert_int_equal(rout.spec, rep_spec_of(op));
		}
	}
}

/*
 * Round-trips rp, a success, and checks the bytes every success starts
 * with: op with the reply bit, a payload of plen bytes, status 0.
 */
static void
roundtrip_ok_reply(const struct spn_reply *rp, struct spn_reply *out, size_t plen)
{
	assert_int_equal(roundtrip_reply(rp, out), SPN_HDR_LEN + plen);
	assert_int_equal(get_le(fbuf + 6, 2), rp->op | SPN_OP_REPLY);
	assert_int_equal(get_le(fbuf + 12, 4), plen);
	assert_int_equal(get_le(fbuf + 16, 4), 0);
}

/*
 * A success of op whose one reply field is value, size bytes, built here:
 * cut at any length, or followed by 4 more bytes, it is refused; whole, it
 * decodes (into *out, for the caller to look at the field) and re-encodes
 * to the same bytes.
 */
static void
check_ok_reply_cuts(uint16_t op, uint64_t value, unsigned size, struct spn_reply *out)
{
	struct pb p = {.b = pay, .n = 0};
	size_t cut, n;

	pb_le(&p, 0, 4);
	pb_le(&p, value, size);
	pb_le(&p, 0, 4);
	for (cut = 0; cut <= p.n; cut++) {
		const struct pb q = {.b = pay, .n = cut};

		assert_int_equal(decode_reply_exact(op, &q, out), cut == 4 + size ? 0 : -EPROTO);
	}
	n = frame(op | SPN_OP_REPLY, 0x77, &(const struct pb){.b = pay, .n = 4 + size});
	assert_int_equal(spn_proto_decode_reply(fbuf, n, out), 0);
	assert_int_equal(spn_proto_encode_reply(out, fbuf2, sizeof(fbuf2)), n);
	assert_memory_equal(fbuf2, fbuf, n);
}

/*
 * RESOLVE's and SEAL's request (version 5): flags, then token, and for
 * RESOLVE nothing else; SEAL's then pid, ppid and size (version 6), 28
 * bytes in all. Encoded with flags, built here and decoded, cut at every
 * length (down to version 4's empty RESOLVE, through version 5's 12-byte
 * SEAL), and followed by a spec.
 */
static void
check_epoch_req(uint16_t op, uint32_t flags)
{
	static struct spn_req r, out;
	struct pb p = {.b = pay, .n = 0};
	const size_t plen = op == SPN_OP_SEAL ? 28 : 12;
	size_t n, cut;

	fill_req(&r, op);
	r.flags = flags;
	assert_int_equal(roundtrip_req(&r, &out), SPN_HDR_LEN + plen);
	assert_int_equal(get_le(fbuf + 6, 2), op);
	assert_int_equal(get_le(fbuf + 12, 4), plen);
	assert_int_equal(get_le(fbuf + 16, 4), flags);
	assert_int_equal(get_le(fbuf + 20, 8), r.token);
	if (op == SPN_OP_SEAL) {
		assert_int_equal(get_le(fbuf + 28, 4), r.pid);
		assert_int_equal(get_le(fbuf + 32, 4), r.ppid);
		assert_int_equal(get_le(fbuf + 36, 8), r.size);
	}

	pb_le(&p, flags, 4);
	pb_le(&p, 0xa1b2c3d4e5f60718ULL, 8);
	if (op == SPN_OP_SEAL) {
		pb_le(&p, 0x00004321, 4);
		pb_le(&p, 0x00004320, 4);
		pb_le(&p, 0x8f00000000000100ULL, 8);
	}
	assert_int_equal(p.n, plen);
	n = frame(op, 2, &p);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(out.flags, flags);
	assert_int_equal(out.token, 0xa1b2c3d4e5f60718ULL);
	assert_int_equal(out.pid, op == SPN_OP_SEAL ? 0x4321 : 0);
	assert_int_equal(out.ppid, op == SPN_OP_SEAL ? 0x4320 : 0);
	assert_int_equal(out.size, op == SPN_OP_SEAL ? 0x8f00000000000100ULL : 0);
	assert_int_equal(out.spec, 0);
	assert_string_equal(out.path, "");
	for (cut = 0; cut < plen; cut++) {
		set_len(fbuf, (uint32_t)cut);
		assert_int_equal(spn_proto_decode_req(fbuf, SPN_HDR_LEN + cut, &out), -EPROTO);
		assert_int_equal(out.op, op);
		assert_int_equal(out.seq, 2);
	}
	pb_le(&p, SPN_SPEC_PREDICT, 4);
	n = frame(op, 2, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
	assert_int_equal(out.op, op);
	assert_int_equal(out.seq, 2);
}

/*
 * RESOLVE: since version 5 its request is flags, then the token of the
 * sealed epoch depended on (empty before); its reply, refuted, whose top
 * bit SPN_REFUTED_BIRTH says that sealed epoch failed.
 */
static void
test_resolve(void **state)
{
	static const uint32_t vals[] = {1,
					2,
					1000,
					0x7fffffffu,
					SPN_REFUTED_BIRTH,
					SPN_REFUTED_BIRTH | 1,
					SPN_REFUTED_BIRTH | 0x7fffffffu,
					0};
	static struct spn_reply rp, rout;
	size_t i;

	check_epoch_req(SPN_OP_RESOLVE, SPN_F_VERDICT);
	check_epoch_req(SPN_OP_RESOLVE, SPN_F_VERDICT | SPN_F_FLUSHED);
	check_epoch_req(SPN_OP_RESOLVE, SPN_F_VERDICT | SPN_F_OWN); /* version 9 */

	/* The reply: status 0, then refuted; SPN_REFUTED_BIRTH, alone or
	 * with a count, comes back as it went. */
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		fill_reply(&rp, SPN_OP_RESOLVE, 0);
		rp.refuted = vals[i];
		roundtrip_ok_reply(&rp, &rout, 8);
		assert_int_equal(get_le(fbuf + 20, 4), vals[i]);
		/* The bit is the top one of refuted's last byte. */
		assert_int_equal(fbuf[23] & 0x80, (vals[i] & SPN_REFUTED_BIRTH) ? 0x80 : 0);
		assert_int_equal(rout.refuted & SPN_REFUTED_BIRTH, vals[i] & SPN_REFUTED_BIRTH);
		assert_int_equal(rout.refuted & ~SPN_REFUTED_BIRTH, vals[i] & ~SPN_REFUTED_BIRTH);
		assert_int_equal(rout.spec, 0);
		assert_int_equal(rout.token, 0);
	}
	/* refuted cut short, or followed by more. */
	check_ok_reply_cuts(SPN_OP_RESOLVE, 7, 4, &rout);
	assert_int_equal(rout.refuted, 7);
	check_ok_reply_cuts(SPN_OP_RESOLVE, SPN_REFUTED_BIRTH | 7, 4, &rout);
	assert_int_equal(rout.refuted, SPN_REFUTED_BIRTH | 7);
	/* An error has no refuted (and RESOLVE no spec): 4 bytes. */
	fill_reply(&rp, SPN_OP_RESOLVE, -EINTR);
	rp.refuted = SPN_REFUTED_BIRTH | 5;
	assert_int_equal(roundtrip_reply(&rp, &rout), SPN_HDR_LEN + 4);
	assert_int_equal(rout.refuted, 0);
}

/*
 * SEAL (version 5): flags, then the token of the sealed epoch the sealing
 * process depends on, then (version 6) pid, ppid and size, any values;
 * its reply, when the status is 0, the new sealed epoch's id: a u64 right
 * after the status, all 64 bits, low byte first.
 */
static void
test_seal(void **state)
{
	static const uint64_t ids[] = {1,
				       0xff,
				       0x100000000ULL,
				       0x8000000000000000ULL,
				       0xfedcba9876543210ULL,
				       0xffffffffffffffffULL,
				       0};
	static const uint32_t pids[] = {0, 1, 0x7fffffffu, 0x80000000u, 0xffffffffu};
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	struct pb p = {.b = pay, .n = 0};
	size_t i, b;

	check_epoch_req(SPN_OP_SEAL, 0);
	check_epoch_req(SPN_OP_SEAL, SPN_F_COURIER);
	/* Version 6: an exit, alone, handed to a courier, and lost. */
	check_epoch_req(SPN_OP_SEAL, SPN_F_EXIT);
	check_epoch_req(SPN_OP_SEAL, SPN_F_COURIER | SPN_F_EXIT);
	check_epoch_req(SPN_OP_SEAL, SPN_F_EXIT | SPN_F_LOST);
	check_epoch_req(SPN_OP_SEAL, SPN_F_COURIER | SPN_F_EXIT | SPN_F_LOST);
	/* pid and ppid (bytes 12 and 16 of the payload) are any u32, size
	 * (byte 20, the wait status) any u64: the daemon judges them. */
	fill_req(&r, SPN_OP_SEAL);
	r.flags = SPN_F_EXIT;
	for (i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		check_u32_field(SPN_OP_SEAL, &r.pid, 1, SPN_HDR_LEN + 12, pids[i], 0, &r);
		check_u32_field(SPN_OP_SEAL, &r.ppid, 1, SPN_HDR_LEN + 16, pids[i], 0, &r);
	}
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		r.size = ids[i];
		assert_int_equal(roundtrip_req(&r, &out), SPN_HDR_LEN + 28);
		assert_int_equal(get_le(fbuf + SPN_HDR_LEN + 20, 8), ids[i]);
		assert_int_equal(out.size, ids[i]);
	}

	/* The reply: status 0, then the id. */
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		fill_reply(&rp, SPN_OP_SEAL, 0);
		rp.token = ids[i];
		roundtrip_ok_reply(&rp, &rout, 12);
		for (b = 0; b < 8; b++)
			assert_int_equal(fbuf[20 + b], (uint8_t)(ids[i] >> (8 * b)));
		assert_int_equal(rout.token, ids[i]);
		assert_int_equal(rout.refuted, 0);
		assert_int_equal(rout.spec, 0);
	}
	/* The id cut short, or followed by more. */
	check_ok_reply_cuts(SPN_OP_SEAL, 0x8877665544332211ULL, 8, &rout);
	assert_int_equal(rout.token, 0x8877665544332211ULL);
	/* An error has no id (and SEAL no spec): 4 bytes; an id after an
	 * error's status is trailing bytes. */
	fill_reply(&rp, SPN_OP_SEAL, -ENOMEM);
	assert_int_equal(roundtrip_reply(&rp, &rout), SPN_HDR_LEN + 4);
	assert_int_equal(rout.token, 0);
	p.n = 0;
	pb_le(&p, (uint32_t)-ENOMEM, 4);
	pb_le(&p, 0x8877665544332211ULL, 8);
	assert_int_equal(decode_reply_exact(SPN_OP_SEAL, &p, &rout), -EPROTO);
}

/*
 * REAP (version 6): its request is pid, ppid, size (the generation seen,
 * 0: none) and token (the sealed epoch the asker itself depends on), any
 * values, and nothing else; its reply, when the status
 * is 0, token, refuted, gen and wstatus, 24 bytes after the status, any
 * values; an error reply is the status alone (no spec).
 */
static void
test_reap(void **state)
{
	static const uint32_t u32s[] = {0, 1, 0x0100, 0x7fffffffu, 0x80000000u, 0xffffffffu};
	static const uint64_t u64s[] = {0,
					1,
					0xffffffffULL,
					0x100000000ULL,
					0x8000000000000000ULL,
					0xfedcba9876543210ULL,
					0xffffffffffffffffULL};
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	struct pb p = {.b = pay, .n = 0};
	size_t i, n, cut;

	/* The request, encoded: pid, ppid, size, token (24 bytes), and
	 * nothing of what else fill_req() set (flags, spec, path). */
	fill_req(&r, SPN_OP_REAP);
	assert_int_equal(roundtrip_req(&r, &out), SPN_HDR_LEN + 24);
	assert_int_equal(get_le(fbuf + 6, 2), SPN_OP_REAP);
	assert_int_equal(get_le(fbuf + 12, 4), 24);
	assert_int_equal(get_le(fbuf + SPN_HDR_LEN, 4), r.pid);
	assert_int_equal(get_le(fbuf + SPN_HDR_LEN + 4, 4), r.ppid);
	assert_int_equal(get_le(fbuf + SPN_HDR_LEN + 8, 8), r.size);
	assert_int_equal(get_le(fbuf + SPN_HDR_LEN + 16, 8), r.token);
	assert_int_equal(out.token, r.token);
	assert_int_equal(out.flags, 0);
	assert_int_equal(out.spec, 0);
	for (i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++) {
		check_u32_field(SPN_OP_REAP, &r.pid, 1, SPN_HDR_LEN, u32s[i], 0, &r);
		check_u32_field(SPN_OP_REAP, &r.ppid, 1, SPN_HDR_LEN + 4, u32s[i], 0, &r);
	}
	/* size and token: any 64-bit values, each in its own 8 bytes. */
	for (i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++) {
		r.size = u64s[i];
		r.token = u64s[(i + 2) % (sizeof(u64s) / sizeof(u64s[0]))];
		assert_int_equal(roundtrip_req(&r, &out), SPN_HDR_LEN + 24);
		assert_int_equal(get_le(fbuf + SPN_HDR_LEN + 8, 8), r.size);
		assert_int_equal(get_le(fbuf + SPN_HDR_LEN + 16, 8), r.token);
		assert_int_equal(out.size, r.size);
		assert_int_equal(out.token, r.token);
	}

	/* Built here and decoded, and re-encoded to itself; cut at any
	 * length (the 16 bytes without the token among them), or followed
	 * by more (a second token, a spec), refused. */
	pb_le(&p, 0x00012345, 4);
	pb_le(&p, 0x00012300, 4);
	pb_le(&p, 0x0000000100000002ULL, 8);
	pb_le(&p, 0xe0e1e2e3e4e5e6e7ULL, 8);
	assert_int_equal(p.n, 24);
	n = frame(SPN_OP_REAP, 3, &p);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_int_equal(out.pid, 0x12345);
	assert_int_equal(out.ppid, 0x12300);
	assert_int_equal(out.size, 0x0000000100000002ULL);
	assert_int_equal(out.token, 0xe0e1e2e3e4e5e6e7ULL);
	assert_int_equal(out.flags, 0);
	assert_int_equal(out.spec, 0);
	assert_string_equal(out.path, "");
	assert_int_equal(spn_proto_encode_req(&out, fbuf2, sizeof(fbuf2)), n);
	assert_memory_equal(fbuf2, fbuf, n);
	for (cut = 0; cut < 24; cut++) {
		set_len(fbuf, (uint32_t)cut);
		assert_int_equal(spn_proto_decode_req(fbuf, SPN_HDR_LEN + cut, &out), -EPROTO);
		assert_int_equal(out.op, SPN_OP_REAP);
		assert_int_equal(out.seq, 3);
	}
	pb_le(&p, 0x0123456789abcdefULL, 8);
	n = frame(SPN_OP_REAP, 3, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
	p.n = 24;
	pb_le(&p, SPN_SPEC_PREDICT, 4);
	n = frame(SPN_OP_REAP, 3, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);

	/* The reply: status 0, token, refuted, gen, wstatus. */
	fill_reply(&rp, SPN_OP_REAP, 0);
	roundtrip_ok_reply(&rp, &rout, 28);
	assert_int_equal(get_le(fbuf + 20, 8), rp.token);
	assert_int_equal(get_le(fbuf + 28, 4), rp.refuted);
	assert_int_equal(get_le(fbuf + 32, 8), rp.gen);
	assert_int_equal(get_le(fbuf + 40, 4), rp.wstatus);
	assert_int_equal(rout.spec, 0);
	assert_int_equal(rout.pid, 0);
	for (i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++) {
		check_rep_u32_field(&rp.refuted, 1, SPN_HDR_LEN + 12, u32s[i], 0, &rp);
		check_rep_u32_field(&rp.wstatus, 1, SPN_HDR_LEN + 24, u32s[i], 0, &rp);
	}
	for (i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++) {
		fill_reply(&rp, SPN_OP_REAP, 0);
		rp.token = u64s[i];
		rp.gen = u64s[(i + 1) % (sizeof(u64s) / sizeof(u64s[0]))];
		roundtrip_ok_reply(&rp, &rout, 28);
		assert_int_equal(get_le(fbuf + 20, 8), rp.token);
		assert_int_equal(get_le(fbuf + 32, 8), rp.gen);
	}

	/* Built here: whole it decodes and re-encodes to itself; cut at any
	 * length (SEAL's reply, the token alone, among them) or followed by
	 * 4 more bytes, refused. */
	p.n = 0;
	pb_le(&p, 0, 4);
	pb_le(&p, 0x1122334455667788ULL, 8);
	pb_le(&p, 1, 4);
	pb_le(&p, 0x0000000200000003ULL, 8);
	pb_le(&p, 0x0000007f, 4);
	pb_le(&p, 0, 4);
	for (cut = 0; cut <= p.n; cut++) {
		const struct pb q = {.b = pay, .n = cut};

		assert_int_equal(decode_reply_exact(SPN_OP_REAP, &q, &rout),
				 cut == 28 ? 0 : -EPROTO);
	}
	n = frame(SPN_OP_REAP | SPN_OP_REPLY, 0x77, &(const struct pb){.b = pay, .n = 28});
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), 0);
	assert_int_equal(rout.token, 0x1122334455667788ULL);
	assert_int_equal(rout.refuted, 1);
	assert_int_equal(rout.gen, 0x0000000200000003ULL);
	assert_int_equal(rout.wstatus, 0x7f);
	assert_int_equal(spn_proto_encode_reply(&rout, fbuf2, sizeof(fbuf2)), n);
	assert_memory_equal(fbuf2, fbuf, n);

	/* An error: the status alone; a spec, or the fields, after it are
	 * trailing bytes. */
	fill_reply(&rp, SPN_OP_REAP, -ECHILD);
	assert_int_equal(roundtrip_reply(&rp, &rout), SPN_HDR_LEN + 4);
	assert_int_equal(rout.token, 0);
	assert_int_equal(rout.refuted, 0);
	assert_int_equal(rout.gen, 0);
	assert_int_equal(rout.wstatus, 0);
	p.n = 0;
	pb_le(&p, (uint32_t)-ECHILD, 4);
	pb_le(&p, SPN_SPEC_REMOTE, 4);
	assert_int_equal(decode_reply_exact(SPN_OP_REAP, &p, &rout), -EPROTO);
	p.n = 4;
	pb_le(&p, 1, 8);
	pb_le(&p, 0, 4);
	pb_le(&p, 1, 8);
	pb_le(&p, 0, 4);
	assert_int_equal(decode_reply_exact(SPN_OP_REAP, &p, &rout), -EPROTO);
	p.n = 4;
	assert_int_equal(decode_reply_exact(SPN_OP_REAP, &p, &rout), 0);
	assert_int_equal(rout.status, -ECHILD);
}

/*
 * Version 5's request flags: RESOLVE accepts SPN_F_VERDICT and
 * SPN_F_FLUSHED, SEAL SPN_F_COURIER, (version 6) SPN_F_EXIT and
 * SPN_F_LOST, and (version 7) SPN_F_CKPT and SPN_F_JOIN; any other bit is
 * -EINVAL, encoding and decoding. The wire judges bits, not how they
 * combine: LOST without EXIT is the daemon's to refuse. The ops with older
 * flags accept none of the new bits.
 */
static void
test_epoch_flags(void **state)
{
	static const uint32_t resolve_good[] = {0, SPN_F_VERDICT, SPN_F_FLUSHED,
						SPN_F_VERDICT | SPN_F_FLUSHED,
						SPN_F_VERDICT | SPN_F_OWN};
	static const uint32_t resolve_bad[] = {SPN_F_COURIER,
					       SPN_F_NOFOLLOW,
					       SPN_F_WRITTEN,
					       SPN_F_VERDICT | SPN_F_COURIER,
					       SPN_F_FLUSHED | SPN_F_NOFOLLOW,
					       SPN_F_EXIT,
					       SPN_F_LOST,
					       SPN_F_VERDICT | SPN_F_EXIT,
					       0x80,
					       0x400,
					       0x80000000u,
					       0xffffffffu};
	static const uint32_t seal_good[] = {0,
					     SPN_F_COURIER,
					     SPN_F_EXIT,
					     SPN_F_LOST,
					     SPN_F_COURIER | SPN_F_EXIT,
					     SPN_F_EXIT | SPN_F_LOST,
					     SPN_F_COURIER | SPN_F_EXIT | SPN_F_LOST,
					     SPN_F_CKPT,
					     SPN_F_COURIER | SPN_F_CKPT,
					     SPN_F_JOIN,
					     SPN_F_COURIER | SPN_F_EXIT | SPN_F_LOST | SPN_F_CKPT |
						 SPN_F_JOIN};
	static const uint32_t seal_bad[] = {SPN_F_VERDICT,
					    SPN_F_FLUSHED,
					    SPN_F_NOFOLLOW,
					    SPN_F_WRITTEN,
					    SPN_F_COURIER | SPN_F_VERDICT,
					    SPN_F_COURIER | SPN_F_FLUSHED,
					    SPN_F_EXIT | SPN_F_VERDICT,
					    SPN_F_EXIT | SPN_F_LOST | SPN_F_NOFOLLOW,
					    0x200,
					    SPN_F_EXIT | 0x200,
					    SPN_F_CKPT | 0x200,
					    0x80000000u,
					    0xffffffffu};
	static const uint32_t new_bits[] = {SPN_F_VERDICT, SPN_F_FLUSHED, SPN_F_COURIER,
					    SPN_F_EXIT, SPN_F_LOST, SPN_F_CKPT, SPN_F_JOIN};
	static const uint16_t old_ops[] = {SPN_OP_STAT, SPN_OP_CLOSE, SPN_OP_SETATTR};
	static struct spn_req r;
	/* flags: RESOLVE's and SEAL's first field; the others' after path. */
	const size_t first = SPN_HDR_LEN;
	const size_t after = SPN_HDR_LEN + 4 + strlen("/nfs/src/main.c");
	size_t i, k;

	fill_req(&r, SPN_OP_RESOLVE);
	for (i = 0; i < sizeof(resolve_good) / sizeof(resolve_good[0]); i++)
		check_u32_field(SPN_OP_RESOLVE, &r.flags, SPN_F_VERDICT, first, resolve_good[i], 0,
				&r);
	for (i = 0; i < sizeof(resolve_bad) / sizeof(resolve_bad[0]); i++)
		check_u32_field(SPN_OP_RESOLVE, &r.flags, SPN_F_VERDICT, first, resolve_bad[i],
				-EINVAL, &r);

	fill_req(&r, SPN_OP_SEAL);
	for (i = 0; i < sizeof(seal_good) / sizeof(seal_good[0]); i++)
		check_u32_field(SPN_OP_SEAL, &r.flags, SPN_F_COURIER, first, seal_good[i], 0, &r);
	for (i = 0; i < sizeof(seal_bad) / sizeof(seal_bad[0]); i++)
		check_u32_field(SPN_OP_SEAL, &r.flags, SPN_F_COURIER, first, seal_bad[i], -EINVAL,
				&r);

	for (k = 0; k < sizeof(old_ops) / sizeof(old_ops[0]); k++) {
		fill_req(&r, old_ops[k]);
		for (i = 0; i < sizeof(new_bits) / sizeof(new_bits[0]); i++)
			check_u32_field(old_ops[k], &r.flags, 0, after, new_bits[i], -EINVAL, &r);
	}
	/* STAT's TYPE (version 10) is STAT's alone. */
	fill_req(&r, SPN_OP_STAT);
	check_u32_field(SPN_OP_STAT, &r.flags, 0, after, SPN_F_TYPE, 0, &r);
	check_u32_field(SPN_OP_STAT, &r.flags, 0, after, SPN_F_TYPE | SPN_F_NOFOLLOW, 0, &r);
	fill_req(&r, SPN_OP_SETATTR);
	check_u32_field(SPN_OP_SETATTR, &r.flags, 0, after, SPN_F_TYPE, -EINVAL, &r);
	fill_req(&r, SPN_OP_CLOSE);
	check_u32_field(SPN_OP_CLOSE, &r.flags, 0, after, SPN_F_TYPE, -EINVAL, &r);
}

/* ------------------------------------------------------------ framing */

static void
test_unknown_ops(void **state)
{
	static const uint16_t ops[] = {0, SPN_OP_MAX + 1, 0x1234, 0x7fff};
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	struct pb p = {.b = pay, .n = 0};
	size_t i, n;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		fill_req(&r, SPN_OP_FSYNC);
		r.op = ops[i];
		assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)),
				 -EINVAL);
		/* The daemon still learns op and seq, to answer. */
		p.n = 0;
		pb_str(&p, "/x", 2);
		n = frame(ops[i], 0xabcd0000u + (uint32_t)i, &p);
		memset(&out, 0x5a, sizeof(out));
		assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EINVAL);
		assert_int_equal(out.op, ops[i]);
		assert_int_equal(out.seq, 0xabcd0000u + i);
		assert_string_equal(out.path, "");

		/* Its answer: an error for an op we do not know, without
		 * always fields (spec is neither sent nor judged). */
		memset(&rp, 0, sizeof(rp));
		rp.op = ops[i];
		rp.seq = out.seq;
		rp.status = -ENOSYS;
		rp.spec = 0xffffffffu;
		assert_int_equal(roundtrip_reply(&rp, &rout), SPN_HDR_LEN + 4);
		assert_int_equal(rout.spec, 0);
		/* A spec after its status is trailing bytes. */
		p.n = 0;
		pb_le(&p, (uint32_t)-ENOSYS, 4);
		pb_le(&p, 0, 4);
		n = frame(ops[i] | SPN_OP_REPLY, 1, &p);
		assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout),
				 -EPROTO);
		/* but never a success. */
		rp.status = 0;
		assert_int_equal(
		    spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)), -EINVAL);
		p.n = 0;
		pb_le(&p, 0, 4);
		n = frame(ops[i] | SPN_OP_REPLY, 1, &p);
		assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout),
				 -EINVAL);
	}
	/* The reply bit is not part of an op. */
	fill_req(&r, SPN_OP_FSYNC);
	r.op |= SPN_OP_REPLY;
	assert_int_equal(spn_proto_encode_req(&r, fbuf, sizeof(fbuf)), -EINVAL);
	fill_reply(&rp, SPN_OP_FSYNC, 0);
	rp.op |= SPN_OP_REPLY;
	assert_int_equal(spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf)),
			 -EINVAL);
}

static void
test_direction(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	size_t n;

	fill_req(&r, SPN_OP_STAT);
	n = enc_req(&r);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EPROTO);
	assert_int_equal(rout.op, SPN_OP_STAT);

	fill_reply(&rp, SPN_OP_FSYNC, 0);
	n = enc_reply(&rp);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
	assert_int_equal(out.op, SPN_OP_FSYNC);
	assert_int_equal(out.seq, rp.seq);
}

static void
test_bad_magic_and_version(void **state)
{
	/* 1 is the version before speculation, 2 the one before write-back
	 * speculation, 4 the one before speculation across processes, 5 the
	 * one before exits across processes, 8 the one before chains: refused
	 * like any other. */
	static const uint16_t versions[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13,
					    0x100, 0x0a00, 0xffff};
	static struct spn_req r, out;
	static struct spn_reply rout;
	size_t n, i, need;

	fill_req(&r, SPN_OP_UNLINK);
	for (i = 0; i < 4; i++) {
		n = enc_req(&r);
		fbuf[i] ^= 0x20;
		memset(&out, 0x5a, sizeof(out));
		assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
		assert_int_equal(out.op, 0);
		assert_int_equal(out.seq, 0);
		assert_string_equal(out.path, "");
		assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout),
				 -EPROTO);
		need = 1234;
		assert_int_equal(spn_proto_frame_len(fbuf, n, &need), -EPROTO);
		assert_int_equal(need, 0);
		/* Seen as soon as the bad byte arrives. */
		assert_int_equal(spn_proto_frame_len(fbuf, i + 1, &need),
				 -EPROTO);
		if (i > 0)
			assert_int_equal(spn_proto_frame_len(fbuf, i, &need),
					 -EAGAIN);
	}
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		n = enc_req(&r);
		put_le(fbuf + 4, versions[i], 2);
		assert_int_equal(spn_proto_decode_req(fbuf, n, &out),
				 -EPROTONOSUPPORT);
		assert_int_equal(out.op, SPN_OP_UNLINK);
		assert_int_equal(out.seq, r.seq);
		assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout),
				 -EPROTONOSUPPORT);
		assert_int_equal(spn_proto_frame_len(fbuf, n, &need),
				 -EPROTONOSUPPORT);
		assert_int_equal(spn_proto_frame_len(fbuf, SPN_HDR_LEN, &need),
				 -EPROTONOSUPPORT);
	}
}

static void
test_truncated_header(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rout;
	size_t n, i, need;
	uint8_t *exact;

	fill_req(&r, SPN_OP_STAT);
	n = enc_req(&r);
	for (i = 0; i < SPN_HDR_LEN; i++) {
		/* Exactly i bytes on the heap: ASan sees any overread. */
		exact = malloc(i ? i : 1);
		assert_non_null(exact);
		memcpy(exact, fbuf, i);
		assert_int_equal(spn_proto_decode_req(exact, i, &out), -EPROTO);
		assert_int_equal(out.seq, 0);
		assert_int_equal(spn_proto_decode_reply(exact, i, &rout),
				 -EPROTO);
		need = 77;
		assert_int_equal(spn_proto_frame_len(exact, i, &need), -EAGAIN);
		assert_int_equal(need, 0);
		free(exact);
	}
	assert_int_equal(spn_proto_decode_req(NULL, 0, &out), -EPROTO);
	assert_int_equal(spn_proto_frame_len(NULL, 0, &need), -EAGAIN);
	(void)n;
}

/* Every cut of every encoding fails, with the header's len left alone
 * (frame shorter than announced) or fixed up (fields cut short). */
static void
test_truncated_payload(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	size_t i, n, cut;
	int rc;

	for (i = 0; i < NCASES; i++) {
		fill_req(&r, cases[i].op);
		n = enc_req(&r);
		for (cut = SPN_HDR_LEN; cut < n; cut++) {
			set_len(fbuf, (uint32_t)(n - SPN_HDR_LEN));
			assert_int_equal(spn_proto_decode_req(fbuf, cut, &out),
					 -EPROTO);
			assert_int_equal(out.seq, r.seq);
			set_len(fbuf, (uint32_t)(cut - SPN_HDR_LEN));
			rc = spn_proto_decode_req(fbuf, cut, &out);
			assert_int_equal(rc, -EPROTO);
		}
		fill_reply(&rp, cases[i].op, 0);
		n = enc_reply(&rp);
		for (cut = SPN_HDR_LEN; cut < n; cut++) {
			set_len(fbuf, (uint32_t)(n - SPN_HDR_LEN));
			assert_int_equal(
			    spn_proto_decode_reply(fbuf, cut, &rout), -EPROTO);
			set_len(fbuf, (uint32_t)(cut - SPN_HDR_LEN));
			assert_int_equal(
			    spn_proto_decode_reply(fbuf, cut, &rout), -EPROTO);
		}
		/* Error replies too: an op with a reply spec without (all of)
		 * its spec is truncated. */
		fill_reply(&rp, cases[i].op, -ENOENT);
		n = enc_reply(&rp);
		assert_int_equal(n, SPN_HDR_LEN + err_payload_len(rp.op));
		for (cut = SPN_HDR_LEN; cut < n; cut++) {
			set_len(fbuf, (uint32_t)(n - SPN_HDR_LEN));
			assert_int_equal(
			    spn_proto_decode_reply(fbuf, cut, &rout), -EPROTO);
			set_len(fbuf, (uint32_t)(cut - SPN_HDR_LEN));
			assert_int_equal(
			    spn_proto_decode_reply(fbuf, cut, &rout), -EPROTO);
			assert_int_equal(rout.seq, rp.seq);
		}
	}
}

static void
test_trailing_garbage(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	size_t i, n;

	for (i = 0; i < NCASES; i++) {
		fill_req(&r, cases[i].op);
		n = enc_req(&r);
		fbuf[n] = 0;
		/* Buffer longer than the header says. */
		assert_int_equal(spn_proto_decode_req(fbuf, n + 1, &out),
				 -EPROTO);
		/* Header agrees, but the fields end early. */
		set_len(fbuf, (uint32_t)(n + 1 - SPN_HDR_LEN));
		assert_int_equal(spn_proto_decode_req(fbuf, n + 1, &out),
				 -EPROTO);
		assert_int_equal(out.seq, r.seq);

		fill_reply(&rp, cases[i].op, 0);
		n = enc_reply(&rp);
		fbuf[n] = 0;
		assert_int_equal(spn_proto_decode_reply(fbuf, n + 1, &rout),
				 -EPROTO);
		set_len(fbuf, (uint32_t)(n + 1 - SPN_HDR_LEN));
		assert_int_equal(spn_proto_decode_reply(fbuf, n + 1, &rout),
				 -EPROTO);

		/* An error reply with anything after its always fields. */
		fill_reply(&rp, cases[i].op, -EIO);
		n = enc_reply(&rp);
		fbuf[n] = 0;
		assert_int_equal(spn_proto_decode_reply(fbuf, n + 1, &rout),
				 -EPROTO);
		set_len(fbuf, (uint32_t)(n + 1 - SPN_HDR_LEN));
		assert_int_equal(spn_proto_decode_reply(fbuf, n + 1, &rout),
				 -EPROTO);
		memset(fbuf + n, 0, 4);
		set_len(fbuf, (uint32_t)(n + 4 - SPN_HDR_LEN));
		assert_int_equal(spn_proto_decode_reply(fbuf, n + 4, &rout),
				 -EPROTO);
	}
}

static void
test_len_field(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rout;
	size_t n, need;
	struct pb p = {.b = pay, .n = 0};

	fill_req(&r, SPN_OP_MKDIR);
	n = enc_req(&r);
	/* Larger than the buffer, within the limit. */
	set_len(fbuf, (uint32_t)(n - SPN_HDR_LEN + 1));
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
	assert_int_equal(spn_proto_frame_len(fbuf, n, &need), 0);
	assert_int_equal(need, n + 1);
	/* Beyond any limit. */
	set_len(fbuf, 0xffffffffu);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EMSGSIZE);
	assert_int_equal(out.seq, r.seq);
	assert_int_equal(spn_proto_frame_len(fbuf, n, &need), -EMSGSIZE);
	assert_int_equal(need, 0);
	/* Requests stop at SPN_REQ_MAX. */
	set_len(fbuf, SPN_REQ_MAX - SPN_HDR_LEN + 1);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EMSGSIZE);
	assert_int_equal(spn_proto_frame_len(fbuf, n, &need), -EMSGSIZE);
	set_len(fbuf, SPN_REQ_MAX - SPN_HDR_LEN);
	assert_int_equal(spn_proto_frame_len(fbuf, n, &need), 0);
	assert_int_equal(need, SPN_REQ_MAX);

	/* A whole request of SPN_REQ_MAX bytes: framing passes, fields do
	 * not (one path then junk). */
	memset(pay, 'z', SPN_REQ_MAX);
	pb_str(&p, "/a", 2);
	p.n = SPN_REQ_MAX - SPN_HDR_LEN;
	n = frame(SPN_OP_FSYNC, 1, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
	p.n = SPN_REQ_MAX - SPN_HDR_LEN + 1;
	n = frame(SPN_OP_FSYNC, 1, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EMSGSIZE);

	/* Replies stop at SPN_MSG_MAX. */
	p.n = 0;
	pb_le(&p, 0, 4);
	n = frame(SPN_OP_SHUTDOWN | SPN_OP_REPLY, 1, &p);
	set_len(fbuf, SPN_MSG_MAX - SPN_HDR_LEN);
	assert_int_equal(spn_proto_frame_len(fbuf, n, &need), 0);
	assert_int_equal(need, SPN_MSG_MAX);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EPROTO);
	set_len(fbuf, SPN_MSG_MAX - SPN_HDR_LEN + 1);
	assert_int_equal(spn_proto_frame_len(fbuf, n, &need), -EMSGSIZE);
	assert_int_equal(spn_proto_decode_reply(fbuf, n, &rout), -EMSGSIZE);
	/* A string length beyond the payload is truncation (STAT: path,
	 * flags, spec). */
	p.n = 0;
	pb_le(&p, 0xffffffffu, 4);
	pb_mem(&p, "/abc", 4);
	pb_le(&p, 0, 4);
	pb_le(&p, 0, 4);
	n = frame(SPN_OP_STAT, 1, &p);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
	/* One past the 12 bytes that follow the length. */
	put_le(fbuf + SPN_HDR_LEN, 13, 4);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), -EPROTO);
	put_le(fbuf + SPN_HDR_LEN, 4, 4);
	assert_int_equal(spn_proto_decode_req(fbuf, n, &out), 0);
	assert_string_equal(out.path, "/abc");
}

static void
test_frame_len_stream(void **state)
{
	static struct spn_req r, out;
	static struct spn_reply rp, rout;
	static uint8_t stream[4 * SPN_REQ_MAX];
	size_t len[4], total = 0, have, pos, need, i, got = 0;
	struct spn_hdr h;
	int rc;

	/* Four frames back to back, as the daemon's socket would see them. */
	for (i = 0; i < 4; i++) {
		fill_req(&r, (uint16_t)(SPN_OP_STAT + 3 * i));
		r.seq = 100 + (uint32_t)i;
		len[i] = enc_req(&r);
		memcpy(stream + total, fbuf, len[i]);
		total += len[i];
	}
	/* Fed one byte at a time: frames come out whole and in order. */
	pos = 0;
	for (have = 1; have <= total; have++) {
		rc = spn_proto_frame_len(stream + pos, have - pos, &need);
		if (rc == -EAGAIN) {
			assert_true(have - pos < SPN_HDR_LEN);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(need, len[got]);
		if (have - pos < need)
			continue;
		assert_int_equal(spn_proto_decode_req(stream + pos, need, &out),
				 0);
		assert_int_equal(out.seq, 100 + got);
		assert_int_equal(out.op, SPN_OP_STAT + 3 * got);
		pos += need;
		got++;
	}
	assert_int_equal(got, 4);
	assert_int_equal(pos, total);

	/* frame_len sees the whole frame's length from the header alone. */
	for (have = SPN_HDR_LEN; have <= total; have += 7) {
		assert_int_equal(spn_proto_frame_len(stream, have, &need), 0);
		assert_int_equal(need, len[0]);
	}

	fill_reply(&rp, SPN_OP_STATUS, 0);
	i = enc_reply(&rp);
	assert_int_equal(spn_proto_frame_len(fbuf, SPN_HDR_LEN, &need), 0);
	assert_int_equal(need, i);
	assert_int_equal(spn_proto_decode_reply(fbuf, need, &rout), 0);

	/* decode_hdr reads without judging. */
	assert_int_equal(spn_proto_decode_hdr(fbuf, SPN_HDR_LEN - 1, &h),
			 -EAGAIN);
	put_le(fbuf + 4, 9, 2);
	assert_int_equal(spn_proto_decode_hdr(fbuf, SPN_HDR_LEN, &h), 0);
	assert_int_equal(h.magic, SPN_PROTO_MAGIC);
	assert_int_equal(h.version, 9);
	assert_int_equal(h.op, SPN_OP_STATUS | SPN_OP_REPLY);
	assert_int_equal(h.seq, rp.seq);
	assert_int_equal(h.len, i - SPN_HDR_LEN);
}

/* ------------------------------------------------------------ ENOSPC */

static void
check_enospc(const struct spn_req *r, const struct spn_reply *rp, size_t n,
	     size_t cap)
{
	uint8_t *exact;
	ssize_t rc;
	size_t k;

	memset(fbuf2, CANARY, cap + CANARY_LEN);
	rc = r ? spn_proto_encode_req(r, fbuf2, cap)
	       : spn_proto_encode_reply(rp, fbuf2, cap);
	assert_int_equal(rc, cap >= n ? (ssize_t)n : -ENOSPC);
	/* Untouched past the frame on success, past cap in any case. */
	for (k = cap >= n ? n : cap; k < cap + CANARY_LEN; k++)
		assert_int_equal(fbuf2[k], CANARY);
	/* And into a heap block of exactly cap bytes, for ASan. */
	exact = malloc(cap ? cap : 1);
	assert_non_null(exact);
	rc = r ? spn_proto_encode_req(r, exact, cap)
	       : spn_proto_encode_reply(rp, exact, cap);
	assert_int_equal(rc, cap >= n ? (ssize_t)n : -ENOSPC);
	free(exact);
}

static void
test_enospc(void **state)
{
	static struct spn_req r;
	static struct spn_reply rp;
	size_t i, n, cap;

	for (i = 0; i < NCASES; i++) {
		fill_req(&r, cases[i].op);
		n = enc_req(&r);
		for (cap = 0; cap <= n; cap++)
			check_enospc(&r, NULL, n, cap);
		assert_memory_equal(fbuf2, fbuf, n);

		fill_reply(&rp, cases[i].op, 0);
		n = enc_reply(&rp);
		for (cap = 0; cap <= n; cap++)
			check_enospc(NULL, &rp, n, cap);
		assert_memory_equal(fbuf2, fbuf, n);

		fill_reply(&rp, cases[i].op, -EIO);
		n = enc_reply(&rp);
		for (cap = 0; cap <= n; cap++)
			check_enospc(NULL, &rp, n, cap);
	}
	/* The largest reply, at a few caps around the edges. */
	fill_reply(&rp, SPN_OP_CONFIG, 0);
	memset(bigtext, 'c', SPN_TEXT_MAX);
	rp.text = bigtext;
	rp.text_len = SPN_TEXT_MAX;
	n = enc_reply(&rp);
	{
		const size_t caps[] = {0,  1,  15,    16,    19, 20,   23,
				       24, 25, n / 2, n - 1, n,	 n + 1};

		for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
			check_enospc(NULL, &rp, n, caps[i]);
	}
	/* No buffer at all. */
	assert_int_equal(spn_proto_encode_req(&r, NULL, 0), -ENOSPC);
	/* A bad field is -EINVAL whatever the room. */
	fill_req(&r, SPN_OP_STAT);
	strcpy(r.path, "rel");
	assert_int_equal(spn_proto_encode_req(&r, NULL, 0), -EINVAL);
}

/* ------------------------------------------------------------ fuzz */

/* xorshift64*: reproducible from its seed. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static size_t
rng_below(uint64_t *s, size_t n)
{
	return n ? (size_t)(rng_next(s) % n) : 0;
}

#define CORPUS_MAX 160

struct corpus {
	uint8_t *frame[CORPUS_MAX];
	size_t len[CORPUS_MAX];
	size_t n;
};

static void
corpus_add(struct corpus *c, size_t len)
{
	assert_true(c->n < CORPUS_MAX);
	c->frame[c->n] = malloc(len);
	assert_non_null(c->frame[c->n]);
	memcpy(c->frame[c->n], fbuf, len);
	c->len[c->n] = len;
	c->n++;
}

static void
corpus_build(struct corpus *c)
{
	static struct spn_req r;
	static struct spn_reply rp;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NCASES; i++) {
		fill_req(&r, cases[i].op);
		corpus_add(c, enc_req(&r));
		fill_reply(&rp, cases[i].op, 0);
		corpus_add(c, enc_reply(&rp));
		fill_reply(&rp, cases[i].op, -ENOENT);
		corpus_add(c, enc_reply(&rp));
	}
	/* Short strings, so that mutated lengths land on real boundaries. */
	fill_req(&r, SPN_OP_SYMLINK);
	strcpy(r.path, "/");
	strcpy(r.path2, "t");
	corpus_add(c, enc_req(&r));
	fill_req(&r, SPN_OP_HELLO);
	r.name[0] = '\0';
	corpus_add(c, enc_req(&r));
	/* The largest request. */
	fill_req(&r, SPN_OP_LINK);
	memset(r.path, 'p', SPN_PATH_MAX - 1);
	memset(r.path2, 'q', SPN_PATH_MAX - 1);
	r.path[0] = r.path2[0] = '/';
	corpus_add(c, enc_req(&r));
	/* An unknown op's error reply. */
	memset(&rp, 0, sizeof(rp));
	rp.op = 0x4242;
	rp.status = -ENOSYS;
	corpus_add(c, enc_reply(&rp));
	/* Speculation: spec 0 both ways (the loop above has it set), a
	 * confirmed error, and RESOLVE with no and all refuted. */
	for (i = 0; i < NCASES; i++) {
		if (cases[i].req & Q_SPEC) {
			fill_req(&r, cases[i].op);
			r.spec = 0;
			corpus_add(c, enc_req(&r));
		}
		if (!(cases[i].always & A_SPEC))
			continue;
		fill_reply(&rp, cases[i].op, 0);
		rp.spec = 0;
		corpus_add(c, enc_reply(&rp));
		fill_reply(&rp, cases[i].op, -EACCES);
		rp.spec = 0;
		corpus_add(c, enc_reply(&rp));
	}
	/* Version 3: a replayed mutation with a zero token and one with
	 * every bit set, both request bits, and both reply bits. */
	for (i = 0; i < NCASES; i++) {
		if (!(cases[i].req & Q_TOKEN) || !(cases[i].req & Q_SPEC))
			continue;
		fill_req(&r, cases[i].op);
		r.spec = SPN_SPEC_REPLAY;
		r.token = i % 2 ? 0 : 0xffffffffffffffffULL;
		corpus_add(c, enc_req(&r));
		r.spec = SPN_SPEC_PREDICT | SPN_SPEC_REPLAY;
		corpus_add(c, enc_req(&r));
		fill_reply(&rp, cases[i].op, i % 2 ? 0 : -ENOENT);
		rp.spec = SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE;
		corpus_add(c, enc_reply(&rp));
	}
	/* RESOLVE's refuted 0, every bit, and version 5's SPN_REFUTED_BIRTH
	 * alone. */
	for (i = 0; i < 3; i++) {
		fill_reply(&rp, SPN_OP_RESOLVE, 0);
		rp.refuted = i == 2 ? SPN_REFUTED_BIRTH : i ? 0xffffffffu : 0;
		corpus_add(c, enc_reply(&rp));
	}
	/* Version 5: RESOLVE with both of its flags and a token of every
	 * bit, SEAL with no flag and no token; a SEAL reply with either id. */
	for (i = 0; i < 2; i++) {
		fill_req(&r, i ? SPN_OP_SEAL : SPN_OP_RESOLVE);
		r.flags = i ? 0 : SPN_F_VERDICT | SPN_F_FLUSHED;
		r.token = i ? 0 : 0xffffffffffffffffULL;
		corpus_add(c, enc_req(&r));
		fill_reply(&rp, SPN_OP_SEAL, 0);
		rp.token = r.token;
		corpus_add(c, enc_reply(&rp));
	}
	/* Version 6: SEAL with EXIT and with EXIT and LOST; REAP asking
	 * with no generation and a token of every bit, and with one and
	 * token 0; REAP replies with nothing recorded and with a refuted
	 * exit. */
	for (i = 0; i < 2; i++) {
		fill_req(&r, SPN_OP_SEAL);
		r.flags = i ? SPN_F_EXIT | SPN_F_LOST : SPN_F_COURIER | SPN_F_EXIT;
		r.size = i ? 9 : 0x100;
		corpus_add(c, enc_req(&r));
		fill_req(&r, SPN_OP_REAP);
		r.size = i;
		r.token = i ? 0 : 0xffffffffffffffffULL;
		corpus_add(c, enc_req(&r));
		fill_reply(&rp, SPN_OP_REAP, 0);
		if (i == 0)
			rp.token = rp.refuted = rp.gen = rp.wstatus = 0;
		else
			rp.refuted = 1;
		corpus_add(c, enc_reply(&rp));
	}
}

static const uint32_t interesting[] = {
    0,
    1,
    2,
    3,
    4,
    0x7f,
    0x80,
    0xff,
    0x100,
    07777,
    010000,
    4095,
    4096,
    SPN_TEXT_MAX,
    SPN_TEXT_MAX + 1,
    999999999u,
    1000000000u,
    0x7fffffff,
    0x80000000u,
    0xfffffffeu,
    0xffffffffu,
    S_IFMT,
    S_IFREG,
};

/* One random edit of w[0..*len), which has room for cap bytes. */
static void
mutate(uint64_t *s, uint8_t *w, size_t *len, size_t cap)
{
	size_t n = *len, at = rng_below(s, n ? n : 1);

	switch (rng_below(s, 7)) {
	case 0: /* flip a bit */
		if (n)
			w[at] ^= (uint8_t)(1u << rng_below(s, 8));
		break;
	case 1: /* random byte */
		if (n)
			w[at] = (uint8_t)rng_next(s);
		break;
	case 2: /* interesting u32, anywhere it fits */
		if (n >= 4) {
			size_t v = rng_below(s, sizeof(interesting) /
						    sizeof(interesting[0]));

			at = rng_below(s, n - 3);
			put_le(w + at, interesting[v], 4);
		}
		break;
	case 3: /* insert bytes */
		if (n + 4 <= cap) {
			size_t k = 1 + rng_below(s, 4);

			memmove(w + at + k, w + at, n - at);
			put_le(w + at, rng_next(s), (unsigned)k);
			*len = n + k;
		}
		break;
	case 4: /* delete bytes */
		if (n) {
			size_t k = 1 + rng_below(s, 4);

			if (k > n - at)
				k = n - at;
			memmove(w + at, w + at + k, n - at - k);
			*len = n - k;
		}
		break;
	case 5: /* truncate */
		*len = rng_below(s, n + 1);
		break;
	case 6: /* string length field +-1 or far off: aim at bytes 16..24 */
		if (n >= SPN_HDR_LEN + 8) {
			uint64_t d = rng_below(s, 3);

			at = SPN_HDR_LEN + rng_below(s, 5);
			put_le(w + at, get_le(w + at, 4) + d - 1, 4);
		}
		break;
	}
}

static void
test_fuzz(void **state)
{
	static struct spn_req rq;
	static struct spn_reply rp;
	static uint8_t work[SPN_REQ_MAX + 64];
	static struct corpus c;
	const char *e;
	uint64_t iters = 200000, seed = 0x5eed5bec1a7e5ULL, it;
	unsigned long ok_req = 0, ok_rep = 0, errs[5] = {0};
	/* Decoded frames that exercise version 2's, 3's, 5's and 6's fields. */
	unsigned long ok_req_spec = 0, ok_rep_spec = 0, ok_err_spec = 0,
		      ok_resolve = 0, ok_req_token = 0, ok_req_replay = 0,
		      ok_rep_remote = 0, ok_req_epoch = 0, ok_seal = 0,
		      ok_req_exit = 0, ok_req_reap = 0, ok_reap = 0;
	size_t len, need, k, m;
	uint8_t *exact;
	ssize_t n2;
	int rc;

	e = getenv("SPECNFS_FUZZ_ITERS");
	if (e && *e)
		iters = strtoull(e, NULL, 0);
	e = getenv("SPECNFS_FUZZ_SEED");
	if (e && *e)
		seed = strtoull(e, NULL, 0);
	if (seed == 0)
		seed = 1;
	corpus_build(&c);

	for (it = 0; it < iters; it++) {
		k = rng_below(&seed, c.n);
		len = c.len[k];
		if (len > sizeof(work) - 64)
			len = sizeof(work) - 64;
		memcpy(work, c.frame[k], len);
		for (m = 1 + rng_below(&seed, 4); m > 0; m--)
			mutate(&seed, work, &len, sizeof(work));
		/* Half the time keep the header honest, to reach fields. */
		if (len >= SPN_HDR_LEN && rng_below(&seed, 2))
			set_len(work, (uint32_t)(len - SPN_HDR_LEN));

		/* Exactly len bytes on the heap: any overread is caught. */
		exact = malloc(len ? len : 1);
		assert_non_null(exact);
		memcpy(exact, work, len);

		rc = spn_proto_frame_len(exact, len, &need);
		assert_true(rc == 0 || rc == -EAGAIN || rc == -EPROTO ||
			    rc == -EPROTONOSUPPORT || rc == -EMSGSIZE);
		if (rc == 0)
			assert_true(need >= SPN_HDR_LEN && need <= SPN_MSG_MAX);

		rc = spn_proto_decode_req(exact, len, &rq);
		switch (rc) {
		case 0:
			/* Canonical: what decodes re-encodes to itself. */
			ok_req++;
			assert_int_equal(rq.spec & ~(SPN_SPEC_PREDICT | SPN_SPEC_REPLAY |
						     SPN_SPEC_JOIN | SPN_SPEC_HOLD | SPN_SPEC_NOTE),
					 0);
			if (rq.spec != 0) {
				assert_true(is_spec_req_op(rq.op));
				ok_req_spec++;
			}
			if (rq.spec & SPN_SPEC_REPLAY)
				ok_req_replay++;
			if (rq.token != 0) {
				assert_true(is_token_op(rq.op));
				ok_req_token++;
			}
			if (rq.op == SPN_OP_RESOLVE)
				assert_int_equal(rq.flags &
						     ~(SPN_F_VERDICT | SPN_F_FLUSHED | SPN_F_OWN),
						 0);
			if (rq.op == SPN_OP_SEAL)
				assert_int_equal(
				    rq.flags & ~(SPN_F_COURIER | SPN_F_EXIT | SPN_F_LOST |
						 SPN_F_CKPT | SPN_F_JOIN),
				    0);
			if (is_epoch_op(rq.op) && rq.flags != 0)
				ok_req_epoch++;
			if (rq.ppid != 0)
				assert_true(rq.op == SPN_OP_SEAL || rq.op == SPN_OP_REAP);
			if (rq.op == SPN_OP_SEAL && (rq.flags & SPN_F_EXIT))
				ok_req_exit++;
			if (rq.op == SPN_OP_REAP)
				ok_req_reap++;
			n2 = spn_proto_encode_req(&rq, fbuf, sizeof(fbuf));
			assert_int_equal(n2, len);
			assert_memory_equal(fbuf, exact, len);
			break;
		case -EPROTO:
			errs[0]++;
			break;
		case -EINVAL:
			errs[1]++;
			break;
		case -EPROTONOSUPPORT:
			errs[2]++;
			break;
		case -EMSGSIZE:
			errs[3]++;
			break;
		default:
			fail_msg("decode_req returned %d", rc);
		}

		rc = spn_proto_decode_reply(exact, len, &rp);
		assert_true(rc == 0 || rc == -EPROTO || rc == -EINVAL ||
			    rc == -EPROTONOSUPPORT || rc == -EMSGSIZE);
		if (rc == 0) {
			ok_rep++;
			assert_int_equal(
			    rp.spec & ~(SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE | SPN_SPEC_JOINED |
					SPN_SPEC_UNHELD | SPN_SPEC_LEASE),
			    0);
			if (rp.spec & SPN_SPEC_REMOTE)
				ok_rep_remote++;
			if (rp.spec != 0) {
				assert_true(is_spec_rep_op(rp.op));
				if (rp.status != 0)
					ok_err_spec++;
				else
					ok_rep_spec++;
			}
			if (rp.refuted != 0)
				assert_true((rp.op == SPN_OP_RESOLVE || rp.op == SPN_OP_REAP) &&
					    rp.status == 0);
			if (rp.op == SPN_OP_RESOLVE && rp.status == 0)
				ok_resolve++;
			if (rp.token != 0)
				assert_true((rp.op == SPN_OP_SEAL || rp.op == SPN_OP_REAP) &&
					    rp.status == 0);
			if (rp.gen != 0 || rp.wstatus != 0)
				assert_true(rp.op == SPN_OP_REAP && rp.status == 0);
			if (rp.op == SPN_OP_SEAL && rp.status == 0)
				ok_seal++;
			if (rp.op == SPN_OP_REAP && rp.status == 0)
				ok_reap++;
			if (rp.text)
				assert_true((const uint8_t *)rp.text >= exact &&
					    (const uint8_t *)rp.text +
						    rp.text_len <=
						exact + len);
			n2 = spn_proto_encode_reply(&rp, fbuf, sizeof(fbuf));
			assert_int_equal(n2, len);
			assert_memory_equal(fbuf, exact, len);
		} else if (rc == -EINVAL) {
			errs[4]++;
		}
		free(exact);
	}
	for (k = 0; k < c.n; k++)
		free(c.frame[k]);

	print_message("fuzz: %llu iterations, decoded %lu requests and %lu "
		      "replies; req errors: %lu EPROTO, %lu EINVAL, %lu "
		      "EPROTONOSUPPORT, %lu EMSGSIZE\n",
		      (unsigned long long)iters, ok_req, ok_rep, errs[0],
		      errs[1], errs[2], errs[3]);
	print_message("fuzz: decoded with spec: %lu requests, %lu replies, "
		      "%lu error replies; %lu RESOLVE replies\n",
		      ok_req_spec, ok_rep_spec, ok_err_spec, ok_resolve);
	print_message("fuzz: decoded %lu requests with a token, %lu with "
		      "REPLAY; %lu replies with REMOTE\n",
		      ok_req_token, ok_req_replay, ok_rep_remote);
	print_message("fuzz: decoded %lu RESOLVE/SEAL requests with flags, "
		      "%lu SEAL replies\n",
		      ok_req_epoch, ok_seal);
	print_message("fuzz: decoded %lu SEAL requests with EXIT, %lu REAP "
		      "requests, %lu REAP replies\n",
		      ok_req_exit, ok_req_reap, ok_reap);
	/* The mutations must reach every outcome, or the loop proves little. */
	if (iters >= 100000) {
		assert_true(ok_req > iters / 100);
		assert_true(ok_rep > iters / 100);
		assert_true(errs[0] > 0 && errs[1] > 0 && errs[2] > 0 &&
			    errs[3] > 0 && errs[4] > 0);
		assert_true(ok_req_spec > 0 && ok_rep_spec > 0 &&
			    ok_err_spec > 0 && ok_resolve > 0);
		assert_true(ok_req_token > 0 && ok_req_replay > 0 &&
			    ok_rep_remote > 0);
		assert_true(ok_req_epoch > 0 && ok_seal > 0);
		assert_true(ok_req_exit > 0 && ok_req_reap > 0 && ok_reap > 0);
	}
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_op_table),
	    cmocka_unit_test(test_req_roundtrip_all_ops),
	    cmocka_unit_test(test_reply_roundtrip_all_ops),
	    cmocka_unit_test(test_reply_error_roundtrip_all_ops),
	    cmocka_unit_test(test_redirect_rules),
	    cmocka_unit_test(test_golden_attr_layout),
	    cmocka_unit_test(test_golden_statfs_layout),
	    cmocka_unit_test(test_path_max_len),
	    cmocka_unit_test(test_name_limits),
	    cmocka_unit_test(test_text_limits),
	    cmocka_unit_test(test_relative_and_empty_paths),
	    cmocka_unit_test(test_embedded_nul),
	    cmocka_unit_test(test_nsec_range),
	    cmocka_unit_test(test_attr_type_and_mode),
	    cmocka_unit_test(test_flags_modes_masks),
	    cmocka_unit_test(test_status_rules),
	    cmocka_unit_test(test_spec_bits),
	    cmocka_unit_test(test_spec_replay_remote),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_token_rename),
	    cmocka_unit_test(test_spec_error_replies),
	    cmocka_unit_test(test_resolve),
	    cmocka_unit_test(test_seal),
	    cmocka_unit_test(test_reap),
	    cmocka_unit_test(test_epoch_flags),
	    cmocka_unit_test(test_unknown_ops),
	    cmocka_unit_test(test_direction),
	    cmocka_unit_test(test_bad_magic_and_version),
	    cmocka_unit_test(test_truncated_header),
	    cmocka_unit_test(test_truncated_payload),
	    cmocka_unit_test(test_trailing_garbage),
	    cmocka_unit_test(test_len_field),
	    cmocka_unit_test(test_frame_len_stream),
	    cmocka_unit_test(test_enospc),
	    cmocka_unit_test(test_fuzz),
	};
	/* The fixed tests, then one per golden frame (fuzz stays last). */
	static struct CMUnitTest tests[sizeof(fixed) / sizeof(fixed[0]) + NGOLDENS];
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t i;

	memcpy(tests, fixed, sizeof(fixed) - sizeof(fixed[0]));
	for (i = 0; i < NGOLDENS; i++) {
		tests[nfixed - 1 + i] = (struct CMUnitTest){
		    .name = goldens[i].name,
		    .test_func = test_golden,
		    .initial_state = &goldens[i],
		};
	}
	tests[nfixed - 1 + NGOLDENS] = fixed[nfixed - 1];
	return _cmocka_run_group_tests("test_proto", tests, nfixed + NGOLDENS, NULL, NULL);
}
