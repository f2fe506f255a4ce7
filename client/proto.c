/*
 * proto.c - encoder and decoder for the shim <-> daemon protocol.
 *
 * Which fields each op carries is data (spn__ops), and how each field is
 * written, read and checked is data too (spn__fields): one generic codec
 * walks them, so adding an op is one table line and encode and decode can
 * never disagree. Encode runs the same checks as decode, so that whatever
 * we send, we would also accept.
 *
 * No malloc, stdio, errno or globals other than the const tables: this
 * runs in the shim, in vfork children and signal handlers.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/proto.h"

#define SPN__NSEC_PER_SEC 1000000000u
#define SPN__ERRNO_MAX 4095 /* like the kernel's MAX_ERRNO */
#define SPN__FIELDS_MAX 12  /* per op and direction, terminator included */

/* How a field is laid out on the wire. */
enum spn__kind {
	SPN__K_U16,
	SPN__K_U32,
	SPN__K_U64,
	SPN__K_TIME,
	SPN__K_STR,
	SPN__K_ATTR,
	SPN__K_STATFS,
	SPN__K_TEXT,
};

/* What a field's value must satisfy, besides its kind's own rules. */
enum spn__check {
	SPN__C_NONE,
	SPN__C_BITS,	 /* u32: no bits outside arg */
	SPN__C_SAMASK,	 /* u32: SETATTR mask */
	SPN__C_NONZERO,	 /* u16 */
	SPN__C_ABS,	 /* string: starts with '/' */
	SPN__C_NONEMPTY, /* string */
	SPN__C_PRINT,	 /* string: printable ASCII only, may be empty */
};

/*
 * Field ids. RQ_ fields live in struct spn_req, RP_ fields in struct
 * spn_reply. Several ids may share a member and differ in their check.
 */
enum spn__fid {
	SPN__END = 0,
	SPN__RQ_PATH,
	SPN__RQ_PATH2,
	SPN__RQ_TARGET,
	SPN__RQ_NAME,
	SPN__RQ_FLAGS_STAT,
	SPN__RQ_FLAGS_CLOSE,
	SPN__RQ_FLAGS_MKNOD,
	SPN__RQ_FLAGS_OPEN,
	SPN__RQ_MODE,
	SPN__RQ_AMODE,
	SPN__RQ_MASK,
	SPN__RQ_PID,
	SPN__RQ_PPID,
	SPN__RQ_UID,
	SPN__RQ_GID,
	SPN__RQ_SIZE,
	SPN__RQ_ATIME,
	SPN__RQ_MTIME,
	SPN__RQ_SPEC,
	SPN__RQ_TOKEN,
	SPN__RP_ATTR,
	SPN__RP_SFS,
	SPN__RP_MIRROR,
	SPN__RP_TARGET,
	SPN__RP_PID,
	SPN__RP_VERSION,
	SPN__RP_TEXT,
	SPN__RP_SPEC,
	SPN__RP_REFUTED,
	SPN__RP_TOKEN,
	SPN__RP_GEN,
	SPN__RP_WSTATUS,
	SPN__RQ_FLAGS_RESOLVE,
	SPN__RQ_FLAGS_SEAL,
	SPN__RQ_FLAGS_SETATTR,
	SPN__NFID
};

struct spn__field {
	uint8_t kind;  /* enum spn__kind */
	uint8_t check; /* enum spn__check */
	uint16_t off;  /* offsetof the member */
	uint32_t arg;  /* C_BITS: allowed bits; K_STR: longest length */
};

#define SPN__F(st, m, k, c, a)                                                 \
	{                                                                      \
		.kind = (k), .check = (c), .off = offsetof(st, m), .arg = (a)  \
	}
/* A string's limit is its array's size less the NUL: one source of truth. */
#define SPN__S(st, m, c) SPN__F(st, m, SPN__K_STR, c, sizeof(((st *)0)->m) - 1)

static const struct spn__field spn__fields[SPN__NFID] = {
    [SPN__RQ_PATH] = SPN__S(struct spn_req, path, SPN__C_ABS),
    [SPN__RQ_PATH2] = SPN__S(struct spn_req, path2, SPN__C_ABS),
    [SPN__RQ_TARGET] = SPN__S(struct spn_req, path2, SPN__C_NONEMPTY),
    [SPN__RQ_NAME] = SPN__S(struct spn_req, name, SPN__C_PRINT),
    [SPN__RQ_FLAGS_STAT] = SPN__F(struct spn_req, flags, SPN__K_U32, SPN__C_BITS,
				  SPN_F_NOFOLLOW | SPN_F_TYPE),
    [SPN__RQ_FLAGS_SETATTR] =
	SPN__F(struct spn_req, flags, SPN__K_U32, SPN__C_BITS, SPN_F_NOFOLLOW),
    [SPN__RQ_FLAGS_CLOSE] =
	SPN__F(struct spn_req, flags, SPN__K_U32, SPN__C_BITS, SPN_F_WRITTEN | SPN_F_UNMAPPED),
    /* MKNOD: the file type bits (S_IFMT); the daemon judges the type. */
    [SPN__RQ_FLAGS_MKNOD] =
	SPN__F(struct spn_req, flags, SPN__K_U32, SPN__C_BITS, 0170000),
    /* The client's own open(2) flags: the daemon judges them. */
    [SPN__RQ_FLAGS_OPEN] =
	SPN__F(struct spn_req, flags, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RQ_MODE] =
	SPN__F(struct spn_req, mode, SPN__K_U32, SPN__C_BITS, 07777),
    [SPN__RQ_AMODE] = SPN__F(struct spn_req, mode, SPN__K_U32, SPN__C_BITS,
			     R_OK | W_OK | X_OK),
    [SPN__RQ_MASK] = SPN__F(struct spn_req, mask, SPN__K_U32, SPN__C_SAMASK, 0),
    [SPN__RQ_PID] = SPN__F(struct spn_req, pid, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RQ_PPID] = SPN__F(struct spn_req, ppid, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RQ_UID] = SPN__F(struct spn_req, uid, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RQ_GID] = SPN__F(struct spn_req, gid, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RQ_SIZE] = SPN__F(struct spn_req, size, SPN__K_U64, SPN__C_NONE, 0),
    [SPN__RQ_ATIME] =
	SPN__F(struct spn_req, atime, SPN__K_TIME, SPN__C_NONE, 0),
    [SPN__RQ_MTIME] =
	SPN__F(struct spn_req, mtime, SPN__K_TIME, SPN__C_NONE, 0),
    [SPN__RQ_SPEC] = SPN__F(struct spn_req, spec, SPN__K_U32, SPN__C_BITS,
			    SPN_SPEC_PREDICT | SPN_SPEC_REPLAY | SPN_SPEC_JOIN |
				SPN_SPEC_HOLD | SPN_SPEC_NOTE),
    [SPN__RQ_TOKEN] = SPN__F(struct spn_req, token, SPN__K_U64, SPN__C_NONE, 0),
    [SPN__RP_ATTR] =
	SPN__F(struct spn_reply, attr, SPN__K_ATTR, SPN__C_NONE, 0),
    [SPN__RP_SFS] =
	SPN__F(struct spn_reply, sfs, SPN__K_STATFS, SPN__C_NONE, 0),
    [SPN__RP_MIRROR] = SPN__S(struct spn_reply, path, SPN__C_ABS),
    [SPN__RP_TARGET] = SPN__S(struct spn_reply, path, SPN__C_NONEMPTY),
    [SPN__RP_PID] = SPN__F(struct spn_reply, pid, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RP_VERSION] =
	SPN__F(struct spn_reply, version, SPN__K_U16, SPN__C_NONZERO, 0),
    [SPN__RP_TEXT] =
	SPN__F(struct spn_reply, text, SPN__K_TEXT, SPN__C_NONE, SPN_TEXT_MAX),
    [SPN__RP_SPEC] = SPN__F(struct spn_reply, spec, SPN__K_U32, SPN__C_BITS,
			    SPN_SPEC_PREDICTED | SPN_SPEC_REMOTE | SPN_SPEC_REDIRECT |
				SPN_SPEC_JOINED | SPN_SPEC_UNHELD | SPN_SPEC_LEASE),
    [SPN__RP_REFUTED] =
	SPN__F(struct spn_reply, refuted, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RP_TOKEN] = SPN__F(struct spn_reply, token, SPN__K_U64, SPN__C_NONE, 0),
    [SPN__RP_GEN] = SPN__F(struct spn_reply, gen, SPN__K_U64, SPN__C_NONE, 0),
    [SPN__RP_WSTATUS] = SPN__F(struct spn_reply, wstatus, SPN__K_U32, SPN__C_NONE, 0),
    [SPN__RQ_FLAGS_RESOLVE] = SPN__F(struct spn_req, flags, SPN__K_U32, SPN__C_BITS,
				     SPN_F_VERDICT | SPN_F_FLUSHED | SPN_F_OWN),
    [SPN__RQ_FLAGS_SEAL] =
	SPN__F(struct spn_req, flags, SPN__K_U32, SPN__C_BITS,
	       SPN_F_COURIER | SPN_F_EXIT | SPN_F_LOST | SPN_F_CKPT | SPN_F_JOIN),
};

/* Offsets are u16 and strings' lengths derive from their arrays. */
_Static_assert(sizeof(struct spn_req) < 65536, "spn_req too big for off");
_Static_assert(sizeof(struct spn_reply) < 65536, "spn_reply too big");
_Static_assert(SPN_PATH_MAX <= SPN_TEXT_MAX, "limits");
_Static_assert(SPN_HDR_LEN + 4 + 4 + SPN_TEXT_MAX <= SPN_MSG_MAX,
	       "a full text reply must fit a frame");
/* Longest request: two paths (RENAME, LINK, SYMLINK). */
_Static_assert(SPN_HDR_LEN + 2 * (4 + SPN_PATH_MAX - 1) <= SPN_REQ_MAX,
	       "two paths must fit a request");

/* One line per op: its name, then its request and reply fields in order. */
struct spn__op {
	const char *name;
	uint8_t req[SPN__FIELDS_MAX];
	uint8_t rep[SPN__FIELDS_MAX];
	/* Reply fields sent whatever the status, right after it: a
	 * predicted ENOENT must say it was predicted. */
	uint8_t always[SPN__FIELDS_MAX];
};

/* A missing .req or .rep is an op without fields that way. */
static const struct spn__op spn__ops[SPN_OP_MAX + 1] = {
    [SPN_OP_HELLO] = {.name = "hello",
		      .req = {SPN__RQ_PID, SPN__RQ_UID, SPN__RQ_NAME},
		      .rep = {SPN__RP_PID, SPN__RP_VERSION}},
    [SPN_OP_STAT] = {.name = "stat",
		     .req = {SPN__RQ_PATH, SPN__RQ_FLAGS_STAT, SPN__RQ_SPEC},
		     .rep = {SPN__RP_ATTR},
		     .always = {SPN__RP_SPEC}},
    [SPN_OP_ACCESS] = {.name = "access",
		       .req = {SPN__RQ_PATH, SPN__RQ_AMODE, SPN__RQ_SPEC},
		       .always = {SPN__RP_SPEC}},
    [SPN_OP_OPEN] = {.name = "open",
		     .req = {SPN__RQ_PATH, SPN__RQ_FLAGS_OPEN, SPN__RQ_MODE,
			     SPN__RQ_SPEC, SPN__RQ_TOKEN},
		     .rep = {SPN__RP_ATTR, SPN__RP_MIRROR},
		     .always = {SPN__RP_SPEC}},
    [SPN_OP_CLOSE] = {.name = "close",
		      .req = {SPN__RQ_PATH, SPN__RQ_FLAGS_CLOSE, SPN__RQ_SPEC,
			      SPN__RQ_TOKEN},
		      .rep = {SPN__RP_ATTR},
		      .always = {SPN__RP_SPEC}},
    [SPN_OP_FSYNC] = {.name = "fsync",
		      .req = {SPN__RQ_PATH},
		      .always = {SPN__RP_SPEC}},
    [SPN_OP_READDIR] = {.name = "readdir",
			.req = {SPN__RQ_PATH, SPN__RQ_SPEC},
			.rep = {SPN__RP_ATTR, SPN__RP_MIRROR},
			.always = {SPN__RP_SPEC}},
    [SPN_OP_READLINK] = {.name = "readlink",
			 .req = {SPN__RQ_PATH, SPN__RQ_SPEC},
			 .rep = {SPN__RP_TARGET},
			 .always = {SPN__RP_SPEC}},
    [SPN_OP_MKDIR] = {.name = "mkdir",
		      .req = {SPN__RQ_PATH, SPN__RQ_MODE, SPN__RQ_SPEC,
			      SPN__RQ_TOKEN},
		      .rep = {SPN__RP_ATTR},
		      .always = {SPN__RP_SPEC}},
    [SPN_OP_RMDIR] = {.name = "rmdir",
		      .req = {SPN__RQ_PATH, SPN__RQ_SPEC, SPN__RQ_TOKEN},
		      .always = {SPN__RP_SPEC}},
    [SPN_OP_UNLINK] = {.name = "unlink",
		       .req = {SPN__RQ_PATH, SPN__RQ_SPEC, SPN__RQ_TOKEN},
		       .always = {SPN__RP_SPEC}},
    [SPN_OP_RENAME] = {.name = "rename",
		       .req = {SPN__RQ_PATH, SPN__RQ_PATH2, SPN__RQ_SPEC,
			       SPN__RQ_TOKEN},
		       .always = {SPN__RP_SPEC}},
    [SPN_OP_LINK] = {.name = "link",
		     .req = {SPN__RQ_PATH, SPN__RQ_PATH2},
		     .always = {SPN__RP_SPEC}},
    [SPN_OP_SYMLINK] = {.name = "symlink",
			.req = {SPN__RQ_PATH, SPN__RQ_TARGET},
			.rep = {SPN__RP_ATTR},
			.always = {SPN__RP_SPEC}},
    [SPN_OP_SETATTR] = {.name = "setattr",
			.req = {SPN__RQ_PATH, SPN__RQ_FLAGS_SETATTR, SPN__RQ_MASK,
				SPN__RQ_MODE, SPN__RQ_UID, SPN__RQ_GID,
				SPN__RQ_SIZE, SPN__RQ_ATIME, SPN__RQ_MTIME,
				SPN__RQ_SPEC, SPN__RQ_TOKEN},
			.rep = {SPN__RP_ATTR},
			.always = {SPN__RP_SPEC}},
    [SPN_OP_STATFS] = {.name = "statfs",
		       .req = {SPN__RQ_PATH},
		       .rep = {SPN__RP_SFS},
		       .always = {SPN__RP_SPEC}},
    [SPN_OP_STATUS] = {.name = "status", .rep = {SPN__RP_TEXT}},
    [SPN_OP_CONFIG] = {.name = "config", .rep = {SPN__RP_TEXT}},
    [SPN_OP_SHUTDOWN] = {.name = "shutdown"},
    [SPN_OP_RESOLVE] = {.name = "resolve",
			.req = {SPN__RQ_FLAGS_RESOLVE, SPN__RQ_TOKEN},
			.rep = {SPN__RP_REFUTED}},
    [SPN_OP_MKNOD] = {.name = "mknod",
		      .req = {SPN__RQ_PATH, SPN__RQ_MODE, SPN__RQ_FLAGS_MKNOD,
			      SPN__RQ_SIZE},
		      .rep = {SPN__RP_ATTR},
		      .always = {SPN__RP_SPEC}},
    [SPN_OP_SEAL] = {.name = "seal",
		     .req = {SPN__RQ_FLAGS_SEAL, SPN__RQ_TOKEN, SPN__RQ_PID,
			     SPN__RQ_PPID, SPN__RQ_SIZE},
		     .rep = {SPN__RP_TOKEN}},
    [SPN_OP_REAP] = {.name = "reap",
		     .req = {SPN__RQ_PID, SPN__RQ_PPID, SPN__RQ_SIZE, SPN__RQ_TOKEN},
		     .rep = {SPN__RP_TOKEN, SPN__RP_REFUTED, SPN__RP_GEN,
			     SPN__RP_WSTATUS}},
};

static const struct spn__op *
spn__op_get(uint16_t op)
{
	if (op == 0 || op > SPN_OP_MAX || spn__ops[op].name == NULL)
		return NULL;
	return &spn__ops[op];
}

const char *
spn_proto_op_name(uint16_t op)
{
	const struct spn__op *o = spn__op_get(op & ~SPN_OP_REPLY);

	return o != NULL ? o->name : NULL;
}

/* ------------------------------------------------------------ checks */

static int
spn__check_u32(const struct spn__field *f, uint32_t v)
{
	switch (f->check) {
	case SPN__C_BITS:
		if (v & ~f->arg)
			return -EINVAL;
		break;
	case SPN__C_SAMASK:
		if (v & ~SPN_SA_ALL)
			return -EINVAL;
		if ((v & SPN_SA_ATIME) && (v & SPN_SA_ATIME_NOW))
			return -EINVAL;
		if ((v & SPN_SA_MTIME) && (v & SPN_SA_MTIME_NOW))
			return -EINVAL;
		break;
	}
	return 0;
}

/* Also rejects a NUL in p[0..len): decoded bytes were never strnlen'd. */
static int
spn__check_str(const struct spn__field *f, const char *p, size_t len)
{
	size_t i;

	if (len > 0 && memchr(p, '\0', len) != NULL)
		return -EINVAL;
	switch (f->check) {
	case SPN__C_ABS:
		if (len == 0 || p[0] != '/')
			return -EINVAL;
		break;
	case SPN__C_NONEMPTY:
		if (len == 0)
			return -EINVAL;
		break;
	case SPN__C_PRINT:
		/* Names end up in logs: no terminal escapes. */
		for (i = 0; i < len; i++)
			if ((unsigned char)p[i] < 0x20 ||
			    (unsigned char)p[i] > 0x7e)
				return -EINVAL;
		break;
	}
	return 0;
}

static int
spn__check_time(const struct spn_time *t)
{
	return t->nsec < SPN__NSEC_PER_SEC ? 0 : -EINVAL;
}

static int
spn__check_attr(const struct spn_attr *a)
{
	switch (a->type) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return -EINVAL;
	}
	if (a->mode & ~07777u)
		return -EINVAL;
	if (spn__check_time(&a->atime) < 0 || spn__check_time(&a->mtime) < 0 ||
	    spn__check_time(&a->ctime) < 0)
		return -EINVAL;
	return 0;
}

static int
spn__check_status(int32_t st)
{
	return st <= 0 && st >= -SPN__ERRNO_MAX ? 0 : -EINVAL;
}

/* ------------------------------------------------------------ writer */

/*
 * Writes only what fits and counts everything: once pos passes cap the
 * frame cannot be finished, and finish() says -ENOSPC. Nothing is ever
 * stored at or past p[cap].
 */
struct spn__wr {
	uint8_t *p;
	size_t pos;
	size_t cap;
};

static void
spn__put_mem(struct spn__wr *w, const void *src, size_t n)
{
	if (n > 0 && w->pos <= w->cap && n <= w->cap - w->pos)
		memcpy(w->p + w->pos, src, n);
	w->pos += n;
}

static void
spn__put_le(struct spn__wr *w, uint64_t v, unsigned n)
{
	uint8_t b[8];
	unsigned i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	spn__put_mem(w, b, n);
}

#define spn__put16(w, v) spn__put_le((w), (uint16_t)(v), 2)
#define spn__put32(w, v) spn__put_le((w), (uint32_t)(v), 4)
#define spn__put64(w, v) spn__put_le((w), (uint64_t)(v), 8)

static void
spn__put_time(struct spn__wr *w, const struct spn_time *t)
{
	spn__put64(w, t->sec);
	spn__put32(w, t->nsec);
}

static void
spn__put_attr(struct spn__wr *w, const struct spn_attr *a)
{
	spn__put32(w, a->type);
	spn__put32(w, a->mode);
	spn__put32(w, a->nlink);
	spn__put32(w, a->uid);
	spn__put32(w, a->gid);
	spn__put64(w, a->size);
	spn__put64(w, a->used);
	spn__put64(w, a->rdev);
	spn__put64(w, a->fsid);
	spn__put64(w, a->fileid);
	spn__put_time(w, &a->atime);
	spn__put_time(w, &a->mtime);
	spn__put_time(w, &a->ctime);
}

static void
spn__put_statfs(struct spn__wr *w, const struct spn_statfs *s)
{
	spn__put32(w, s->bsize);
	spn__put64(w, s->blocks);
	spn__put64(w, s->bfree);
	spn__put64(w, s->bavail);
	spn__put64(w, s->files);
	spn__put64(w, s->ffree);
	spn__put64(w, s->favail);
	spn__put32(w, s->namemax);
}

static void
spn__put_hdr(struct spn__wr *w, uint16_t op, uint32_t seq)
{
	spn__put32(w, SPN_PROTO_MAGIC);
	spn__put16(w, SPN_PROTO_VERSION);
	spn__put16(w, op);
	spn__put32(w, seq);
	spn__put32(w, 0); /* len: patched by finish() */
}

/* Validates the member of base that field id describes, then writes it. */
static int
spn__put_field(struct spn__wr *w, unsigned id, const void *base)
{
	const struct spn__field *f = &spn__fields[id];
	/* Via void *: the offset is a real member's, so it is aligned. */
	const void *m = (const char *)base + f->off;
	const struct spn_reply *rp;
	size_t len;
	int rc;

	switch (f->kind) {
	case SPN__K_U16:
		if (f->check == SPN__C_NONZERO && *(const uint16_t *)m == 0)
			return -EINVAL;
		spn__put16(w, *(const uint16_t *)m);
		return 0;
	case SPN__K_U32:
		rc = spn__check_u32(f, *(const uint32_t *)m);
		if (rc < 0)
			return rc;
		spn__put32(w, *(const uint32_t *)m);
		return 0;
	case SPN__K_U64:
		spn__put64(w, *(const uint64_t *)m);
		return 0;
	case SPN__K_TIME:
		if (spn__check_time((const struct spn_time *)m) < 0)
			return -EINVAL;
		spn__put_time(w, (const struct spn_time *)m);
		return 0;
	case SPN__K_STR:
		/* The array is arg + 1 long: strnlen never reads past it. */
		len = strnlen((const char *)m, (size_t)f->arg + 1);
		if (len > f->arg)
			return -EINVAL;
		rc = spn__check_str(f, (const char *)m, len);
		if (rc < 0)
			return rc;
		spn__put32(w, len);
		spn__put_mem(w, m, len);
		return 0;
	case SPN__K_ATTR:
		if (spn__check_attr((const struct spn_attr *)m) < 0)
			return -EINVAL;
		spn__put_attr(w, (const struct spn_attr *)m);
		return 0;
	case SPN__K_STATFS:
		spn__put_statfs(w, (const struct spn_statfs *)m);
		return 0;
	case SPN__K_TEXT:
		rp = base;
		if (rp->text_len > f->arg || (rp->text_len > 0 && !rp->text))
			return -EINVAL;
		if (rp->text_len > 0 &&
		    memchr(rp->text, '\0', rp->text_len) != NULL)
			return -EINVAL;
		spn__put32(w, rp->text_len);
		spn__put_mem(w, rp->text, rp->text_len);
		return 0;
	}
	return -EINVAL;
}

static int
spn__put_fields(struct spn__wr *w, const uint8_t *ids, const void *base)
{
	unsigned i;
	int rc;

	for (i = 0; i < SPN__FIELDS_MAX && ids[i] != SPN__END; i++) {
		rc = spn__put_field(w, ids[i], base);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static ssize_t
spn__finish(struct spn__wr *w, size_t max)
{
	size_t plen = w->pos - SPN_HDR_LEN;
	unsigned i;

	if (w->pos > w->cap)
		return -ENOSPC;
	/* The tables' limits make this impossible; keep the promise anyway. */
	if (w->pos > max)
		return -EMSGSIZE;
	for (i = 0; i < 4; i++)
		w->p[12 + i] = (uint8_t)(plen >> (8 * i));
	return (ssize_t)w->pos;
}

ssize_t
spn_proto_encode_req(const struct spn_req *r, void *buf, size_t cap)
{
	const struct spn__op *o = spn__op_get(r->op);
	struct spn__wr w = {.p = buf, .pos = 0, .cap = cap};
	int rc;

	if (o == NULL)
		return -EINVAL;
	spn__put_hdr(&w, r->op, r->seq);
	rc = spn__put_fields(&w, o->req, r);
	if (rc < 0)
		return rc;
	return spn__finish(&w, SPN_REQ_MAX);
}

ssize_t
spn_proto_encode_reply(const struct spn_reply *r, void *buf, size_t cap)
{
	const struct spn__op *o = spn__op_get(r->op);
	struct spn__wr w = {.p = buf, .pos = 0, .cap = cap};
	int rc;

	if ((r->op & SPN_OP_REPLY) || spn__check_status(r->status) < 0)
		return -EINVAL;
	/* Any op may fail, even one we do not know: that is the answer. */
	if (r->status == 0 && o == NULL)
		return -EINVAL;
	spn__put_hdr(&w, r->op | SPN_OP_REPLY, r->seq);
	spn__put32(&w, (uint32_t)r->status);
	if (o != NULL) {
		rc = spn__put_fields(&w, o->always, r);
		if (rc < 0)
			return rc;
		/* A redirect is an EXDEV answer, never anything else. */
		if (o->always[0] == SPN__RP_SPEC && (r->spec & SPN_SPEC_REDIRECT) &&
		    r->status != -EXDEV)
			return -EINVAL;
	}
	if (r->status == 0) {
		rc = spn__put_fields(&w, o->rep, r);
		if (rc < 0)
			return rc;
	} else if (o != NULL && o->always[0] == SPN__RP_SPEC && (r->spec & SPN_SPEC_REDIRECT)) {
		static const uint8_t where[SPN__FIELDS_MAX] = {SPN__RP_MIRROR, SPN__END};

		rc = spn__put_fields(&w, where, r);
		if (rc < 0)
			return rc;
	}
	return spn__finish(&w, SPN_MSG_MAX);
}

/* ------------------------------------------------------------ reader */

/* Invariant: pos <= len, and p[0..len) is readable. */
struct spn__rd {
	const uint8_t *p;
	size_t pos;
	size_t len;
};

static uint64_t
spn__le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int
spn__get_le(struct spn__rd *r, unsigned n, uint64_t *v)
{
	if (r->len - r->pos < n) {
		*v = 0;
		return -EPROTO;
	}
	*v = spn__le(r->p + r->pos, n);
	r->pos += n;
	return 0;
}

static int
spn__get16(struct spn__rd *r, uint16_t *v)
{
	uint64_t x;
	int rc = spn__get_le(r, 2, &x);

	*v = (uint16_t)x;
	return rc;
}

static int
spn__get32(struct spn__rd *r, uint32_t *v)
{
	uint64_t x;
	int rc = spn__get_le(r, 4, &x);

	*v = (uint32_t)x;
	return rc;
}

static int
spn__get64(struct spn__rd *r, uint64_t *v)
{
	return spn__get_le(r, 8, v);
}

static int
spn__get_time(struct spn__rd *r, struct spn_time *t)
{
	uint64_t sec;

	if (spn__get64(r, &sec) < 0 || spn__get32(r, &t->nsec) < 0)
		return -EPROTO;
	/* Two's complement on the wire; this conversion is exact in gcc. */
	t->sec = (int64_t)sec;
	return spn__check_time(t);
}

static int
spn__get_attr(struct spn__rd *r, struct spn_attr *a)
{
	int rc;

	if (spn__get32(r, &a->type) < 0 || spn__get32(r, &a->mode) < 0 ||
	    spn__get32(r, &a->nlink) < 0 || spn__get32(r, &a->uid) < 0 ||
	    spn__get32(r, &a->gid) < 0 || spn__get64(r, &a->size) < 0 ||
	    spn__get64(r, &a->used) < 0 || spn__get64(r, &a->rdev) < 0 ||
	    spn__get64(r, &a->fsid) < 0 || spn__get64(r, &a->fileid) < 0)
		return -EPROTO;
	/* Read all three before judging: truncation outranks a bad value. */
	rc = spn__get_time(r, &a->atime);
	if (rc == -EPROTO)
		return rc;
	rc = spn__get_time(r, &a->mtime);
	if (rc == -EPROTO)
		return rc;
	rc = spn__get_time(r, &a->ctime);
	if (rc == -EPROTO)
		return rc;
	return spn__check_attr(a);
}

static int
spn__get_statfs(struct spn__rd *r, struct spn_statfs *s)
{
	if (spn__get32(r, &s->bsize) < 0 || spn__get64(r, &s->blocks) < 0 ||
	    spn__get64(r, &s->bfree) < 0 || spn__get64(r, &s->bavail) < 0 ||
	    spn__get64(r, &s->files) < 0 || spn__get64(r, &s->ffree) < 0 ||
	    spn__get64(r, &s->favail) < 0 || spn__get32(r, &s->namemax) < 0)
		return -EPROTO;
	return 0;
}

/* A u32 length, then that many bytes, all inside the payload. */
static int
spn__get_bytes(struct spn__rd *r, size_t max, const char **p, size_t *len)
{
	uint32_t n;

	if (spn__get32(r, &n) < 0 || n > r->len - r->pos)
		return -EPROTO;
	if (n > max)
		return -EINVAL;
	*p = (const char *)r->p + r->pos;
	*len = n;
	r->pos += n;
	return 0;
}

/* Reads field id into its member of base, and checks it. */
static int
spn__get_field(struct spn__rd *r, unsigned id, void *base)
{
	const struct spn__field *f = &spn__fields[id];
	void *m = (char *)base + f->off;
	struct spn_reply *rp;
	const char *p;
	size_t len;
	int rc;

	switch (f->kind) {
	case SPN__K_U16:
		if (spn__get16(r, (uint16_t *)m) < 0)
			return -EPROTO;
		if (f->check == SPN__C_NONZERO && *(uint16_t *)m == 0)
			return -EINVAL;
		return 0;
	case SPN__K_U32:
		if (spn__get32(r, (uint32_t *)m) < 0)
			return -EPROTO;
		return spn__check_u32(f, *(uint32_t *)m);
	case SPN__K_U64:
		return spn__get64(r, (uint64_t *)m);
	case SPN__K_TIME:
		return spn__get_time(r, (struct spn_time *)m);
	case SPN__K_STR:
		rc = spn__get_bytes(r, f->arg, &p, &len);
		if (rc < 0)
			return rc;
		rc = spn__check_str(f, p, len);
		if (rc < 0)
			return rc;
		/* The array holds arg + 1 bytes and len <= arg. */
		if (len > 0)
			memcpy(m, p, len);
		((char *)m)[len] = '\0';
		return 0;
	case SPN__K_ATTR:
		return spn__get_attr(r, (struct spn_attr *)m);
	case SPN__K_STATFS:
		return spn__get_statfs(r, (struct spn_statfs *)m);
	case SPN__K_TEXT:
		rp = base;
		rc = spn__get_bytes(r, f->arg, &p, &len);
		if (rc < 0)
			return rc;
		if (len > 0 && memchr(p, '\0', len) != NULL)
			return -EINVAL;
		rp->text = len > 0 ? p : NULL;
		rp->text_len = len;
		return 0;
	}
	return -EINVAL;
}

/* Read the fields ids; with last set, nothing may follow them. */
static int
spn__get_some(struct spn__rd *r, const uint8_t *ids, void *base, int last)
{
	unsigned i;
	int rc;

	for (i = 0; i < SPN__FIELDS_MAX && ids[i] != SPN__END; i++) {
		rc = spn__get_field(r, ids[i], base);
		if (rc < 0)
			return rc;
	}
	/* Anything left over means the peer and we disagree on the layout. */
	return !last || r->pos == r->len ? 0 : -EPROTO;
}

static int
spn__get_fields(struct spn__rd *r, const uint8_t *ids, void *base)
{
	return spn__get_some(r, ids, base, 1);
}

int
spn_proto_decode_hdr(const void *buf, size_t have, struct spn_hdr *h)
{
	const uint8_t *p = buf;

	if (have < SPN_HDR_LEN)
		return -EAGAIN;
	h->magic = (uint32_t)spn__le(p, 4);
	h->version = (uint16_t)spn__le(p + 4, 2);
	h->op = (uint16_t)spn__le(p + 6, 2);
	h->seq = (uint32_t)spn__le(p + 8, 4);
	h->len = (uint32_t)spn__le(p + 12, 4);
	return 0;
}

int
spn_proto_frame_len(const void *buf, size_t have, size_t *need)
{
	const uint8_t *p = buf;
	struct spn_hdr h;
	size_t i, max;

	*need = 0;
	/* Refuse garbage at its first byte rather than waiting for 16. */
	for (i = 0; i < have && i < 4; i++)
		if (p[i] != (uint8_t)(SPN_PROTO_MAGIC >> (8 * i)))
			return -EPROTO;
	if (spn_proto_decode_hdr(buf, have, &h) < 0)
		return -EAGAIN;
	if (h.version != SPN_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	max = (h.op & SPN_OP_REPLY) ? SPN_MSG_MAX : SPN_REQ_MAX;
	if (h.len > max - SPN_HDR_LEN)
		return -EMSGSIZE;
	*need = SPN_HDR_LEN + (size_t)h.len;
	return 0;
}

/*
 * Checks the header of a whole frame of len bytes and points r at its
 * payload. *op and *seq are set as soon as the magic is right.
 */
static int
spn__get_hdr(const void *buf, size_t len, int reply, uint16_t *op,
	     uint32_t *seq, struct spn__rd *r)
{
	struct spn_hdr h;
	size_t max = reply ? SPN_MSG_MAX : SPN_REQ_MAX;

	if (spn_proto_decode_hdr(buf, len, &h) < 0 ||
	    h.magic != SPN_PROTO_MAGIC)
		return -EPROTO;
	*op = h.op & ~SPN_OP_REPLY;
	*seq = h.seq;
	if (h.version != SPN_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (!(h.op & SPN_OP_REPLY) != !reply)
		return -EPROTO;
	if (h.len > max - SPN_HDR_LEN)
		return -EMSGSIZE;
	if (h.len != len - SPN_HDR_LEN)
		return -EPROTO;
	r->p = (const uint8_t *)buf + SPN_HDR_LEN;
	r->pos = 0;
	r->len = h.len;
	return 0;
}

int
spn_proto_decode_req(const void *buf, size_t len, struct spn_req *out)
{
	const struct spn__op *o;
	struct spn__rd r;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = spn__get_hdr(buf, len, 0, &out->op, &out->seq, &r);
	if (rc < 0)
		return rc;
	o = spn__op_get(out->op);
	if (o == NULL)
		return -EINVAL;
	return spn__get_fields(&r, o->req, out);
}

int
spn_proto_decode_reply(const void *buf, size_t len, struct spn_reply *out)
{
	const struct spn__op *o;
	struct spn__rd r;
	uint32_t st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = spn__get_hdr(buf, len, 1, &out->op, &out->seq, &r);
	if (rc < 0)
		return rc;
	if (spn__get32(&r, &st) < 0)
		return -EPROTO;
	out->status = (int32_t)st;
	if (spn__check_status(out->status) < 0)
		return -EINVAL;
	o = spn__op_get(out->op);
	if (o != NULL) {
		rc = spn__get_some(&r, o->always, out, 0);
		if (rc < 0)
			return rc;
	}
	if (o != NULL && o->always[0] == SPN__RP_SPEC && (out->spec & SPN_SPEC_REDIRECT)) {
		static const uint8_t where[SPN__FIELDS_MAX] = {SPN__RP_MIRROR, SPN__END};

		if (out->status != -EXDEV)
			return -EINVAL;
		return spn__get_fields(&r, where, out);
	}
	if (out->status != 0)
		return r.pos == r.len ? 0 : -EPROTO;
	if (o == NULL)
		return -EINVAL;
	return spn__get_fields(&r, o->rep, out);
}
