/*
 * daemon/index.c - specnfsd's index of the mirror, on LMDB.
 *
 * One concept, kept whole although it is long: the index's on-disk form
 * (keys, records, the four sub-databases) and every transaction on it.
 * The rest of the daemon sees only index.h.
 *
 * Why LMDB: its copy-on-write B+tree behind an atomically switched meta
 * page makes every commit all-or-nothing across any crash with no
 * recovery step, readers never block and read straight from the mmap with
 * no syscall, and it is one small C library; sqlite would bring a far
 * heavier engine (SQL, its own journal) to a key-value job, and an
 * append-only journal of our own would make us re-implement compaction
 * and crash recovery.
 *
 * One environment, four named sub-databases, always changed in the same
 * write transaction so that they never disagree after a crash:
 *   entries  key -> record (below)
 *   dirty    key -> dirty_gen (u64 LE): one row per entry with a
 *            SPN_EF_WRITEBACK bit, so that the write-back costs the size
 *            of the dirty set, not of the index
 *   lru      last_use_ns (8 bytes, big-endian with the sign bit flipped,
 *            so that memcmp orders it) + key -> empty: clean cached
 *            regular files, oldest first
 *   meta     "layout" -> u32 LE (LAYOUT_VERSION: the key layout);
 *            "cached_bytes" -> u64 LE (sum over all entries)
 *
 * Key: the mount id as 2 bytes big-endian, then the path with every '/'
 * written as '\0': "/" is the mount id alone, "/a/b" is it + "\0a\0b".
 * Under LMDB's default memcmp order this makes a subtree one contiguous
 * range: P and everything below it are exactly P and the keys starting
 * with P + "\0", and as '\0' is the smallest byte they all sort right
 * after P, before any sibling such as "/a-" or "/ab" (keeping '/' as is,
 * "/a-x" would land between "/a" and "/a/x", as '-' < '/'). '\0' is the
 * one byte no component can hold, so the mapping is lossless; and the
 * default order keeps the file readable by mdb_dump and mdb_stat, which a
 * custom mdb_set_compare() function would not (every opener, tools
 * included, would have to install it).
 *
 * Record, version 1, little-endian, byte by byte (no struct images, so
 * padding and host byte order never reach the disk):
 *   u8 version, u8 state, u8 flags, u8 fh_len,
 *   attr: u32 type mode nlink uid gid, u64 size used rdev fsid fileid,
 *         atime mtime ctime (each i64 sec + u32 nsec),
 *   i64 validated_ns attr_timeo_ns attr_timeo_stamp_ns,
 *   content_mtime content_ctime (i64 + u32), u64 content_size
 *   content_fileid, i64 last_use_ns, u64 cached_bytes dirty_gen,
 *   fh_len bytes of file handle.
 * A record of another version or of a length other than REC_FIXED +
 * fh_len is refused with -EINVAL. A new layout gets a new version byte.
 *
 * Durability: the environment runs with MDB_NOSYNC. A commit is written
 * into the page cache before it returns, so kill -9 of the daemon loses
 * nothing committed; only an OS crash can lose the commits since the last
 * spn_index_sync(). LMDB's own caveat: with MDB_NOSYNC, an OS crash on a
 * file system that reorders writes can also leave the file inconsistent,
 * which then surfaces as -EUCLEAN (open afresh) or as problems found by
 * spn_index_check().
 *
 * Map size: MDB_MAP_FULL is not an error here. A single call retries in a
 * bigger map; a batch keeps a log of its calls and replays them into a
 * fresh transaction after growing (LMDB leaves a transaction that hit the
 * end of the map unusable).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lmdb.h>

#include "client/daemon/index.h"

#define KEY_MOUNT 2
#define MAIN_KEY_MAX (KEY_MOUNT + SPN_INDEX_PATH_MAX)
#define LRU_TS 8
#define LRU_KEY_MAX (LRU_TS + MAIN_KEY_MAX)
/* Walks seek to a key plus one byte: LMDB's key limit must cover it. */
#define SEEK_KEY_MAX (LRU_KEY_MAX + 1)
/* Big enough for any key LMDB can hand back (its limit is 511). */
#define ANY_KEY_MAX 512

#define REC_VERSION 1
#define REC_HEAD 4
#define REC_NTIME 12
#define REC_NATTR (5 * 4 + 5 * 8 + 3 * REC_NTIME)
#define REC_FIXED (REC_HEAD + REC_NATTR + 3 * 8 + 2 * REC_NTIME + 2 * 8 + 3 * 8)
#define REC_MAX (REC_FIXED + SPN_FH_MAX)

#define LAYOUT_VERSION 1
/* Doublings one call may need: 64 KiB to 4 GiB, 1 GiB to the cap. */
#define GROW_TRIES 16
#define MAP_CAP (1ULL << 40)
/* Entries copied out per read transaction during walks. */
#define CHUNK 32

enum spn__op_kind {
	OP_PUT,
	OP_DEL,
	OP_DEL_TREE,
	OP_RENAME,
	OP_STUB,
	OP_LRU_DEL,
	OP_REPAIR,
	OP_INIT,
	OP_SOFT
};

/* One mutating call, kept whole so that a batch can be replayed. */
struct spn__op {
	int kind;
	size_t klen, klen2;
	const uint8_t *key, *key2;
	struct spn_entry e; /* OP_PUT */
	uint64_t out;	    /* OP_STUB: bytes freed; OP_REPAIR: problems */
	void *mem;	    /* the keys' copy, when logged */
};

struct spn_index {
	MDB_env *env;
	MDB_dbi db_ent, db_dirty, db_lru, db_meta;
	/* Read transaction reused by every read (MDB_NOTLS), reset while
	 * idle so that it never pins old pages or blocks a map resize. */
	MDB_txn *rtxn;
	MDB_txn *wtxn; /* the open batch; NULL outside one or once failed */
	int in_batch;
	int batch_err; /* first storage error of the batch */
	int wrc;       /* raw LMDB code of a failed write: txn is dead */
	int broken;    /* a failed remap left LMDB without a map */
	struct spn__op *log;
	size_t nlog, log_cap;
	/* Confirmations not written yet (spn__soft_*): a table of
	 * soft_cap slots, open addressing, nsoft used (dead ones too). */
	struct spn__soft **soft;
	size_t nsoft, soft_cap;
	/* spn_index_sync_soon's thread: syncs while the daemon goes on. */
	pthread_t syncer;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
	int syncer_up, sync_wanted, sync_stop;
};

/* One entry copied out of a read transaction for a walk's callback. */
struct spn__item {
	size_t klen;
	uint8_t key[ANY_KEY_MAX];
	uint16_t mount;
	char path[SPN_INDEX_PATH_MAX + 1];
	struct spn_entry e;
	int stale; /* an LRU row that no longer matches its record */
};

static int
spn__err(int rc)
{
	if (rc >= 0)
		return -rc;
	switch (rc) {
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
	case MDB_DBS_FULL:
		return -ENOSPC;
	case MDB_TXN_FULL:
		return -E2BIG;
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	case MDB_VERSION_MISMATCH:
		return -EPROTO;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_INCOMPATIBLE:
		return -EUCLEAN;
	default:
		return -EIO;
	}
}

/* A failed LMDB call in a write transaction leaves it unusable (only
 * MDB_NOTFOUND does not): keep the raw code for the caller to judge. */
static int
spn__wfail(struct spn_index *ix, int rc)
{
	ix->wrc = rc;
	return spn__err(rc);
}

/* ------------------------------------------------------------ records */

static uint8_t *
spn__put_u32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *
spn__put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *
spn__put_time(uint8_t *p, const struct spn_time *t)
{
	p = spn__put_u64(p, (uint64_t)t->sec);
	return spn__put_u32(p, t->nsec);
}

static const uint8_t *
spn__get_u32(const uint8_t *p, uint32_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++)
		*v |= (uint32_t)p[i] << (8 * i);
	return p + 4;
}

static const uint8_t *
spn__get_u64(const uint8_t *p, uint64_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 8; i++)
		*v |= (uint64_t)p[i] << (8 * i);
	return p + 8;
}

static const uint8_t *
spn__get_i64(const uint8_t *p, int64_t *v)
{
	uint64_t u;

	p = spn__get_u64(p, &u);
	*v = (int64_t)u;
	return p;
}

static const uint8_t *
spn__get_time(const uint8_t *p, struct spn_time *t)
{
	p = spn__get_i64(p, &t->sec);
	return spn__get_u32(p, &t->nsec);
}

static int
spn__state_ok(uint8_t state)
{
	return state == SPN_ENT_STUB || state == SPN_ENT_CACHED;
}

static int
spn__entry_ok(const struct spn_entry *e)
{
	return e && spn__state_ok(e->state) && e->fh_len <= SPN_FH_MAX;
}

static size_t
spn__encode(const struct spn_entry *e, uint8_t *buf)
{
	const struct spn_attr *a = &e->attr;
	uint8_t *p = buf;

	*p++ = REC_VERSION;
	*p++ = e->state;
	*p++ = e->flags;
	*p++ = e->fh_len;
	p = spn__put_u32(p, a->type);
	p = spn__put_u32(p, a->mode);
	p = spn__put_u32(p, a->nlink);
	p = spn__put_u32(p, a->uid);
	p = spn__put_u32(p, a->gid);
	p = spn__put_u64(p, a->size);
	p = spn__put_u64(p, a->used);
	p = spn__put_u64(p, a->rdev);
	p = spn__put_u64(p, a->fsid);
	p = spn__put_u64(p, a->fileid);
	p = spn__put_time(p, &a->atime);
	p = spn__put_time(p, &a->mtime);
	p = spn__put_time(p, &a->ctime);
	p = spn__put_u64(p, (uint64_t)e->validated_ns);
	p = spn__put_u64(p, (uint64_t)e->attr_timeo_ns);
	p = spn__put_u64(p, (uint64_t)e->attr_timeo_stamp_ns);
	p = spn__put_time(p, &e->content_mtime);
	p = spn__put_time(p, &e->content_ctime);
	p = spn__put_u64(p, e->content_size);
	p = spn__put_u64(p, e->content_fileid);
	p = spn__put_u64(p, (uint64_t)e->last_use_ns);
	p = spn__put_u64(p, e->cached_bytes);
	p = spn__put_u64(p, e->dirty_gen);
	memcpy(p, e->fh, e->fh_len);
	p += e->fh_len;
	return (size_t)(p - buf);
}

/* Every check comes before the first write to *e: a bad record leaves
 * the caller's struct alone. */
static int
spn__decode(const void *data, size_t len, struct spn_entry *e)
{
	const uint8_t *p = data;
	struct spn_attr *a;

	if (len < REC_HEAD || p[0] != REC_VERSION || !spn__state_ok(p[1]) ||
	    p[3] > SPN_FH_MAX || len != REC_FIXED + (size_t)p[3])
		return -EINVAL;
	if (!e)
		return 0;
	memset(e, 0, sizeof(*e));
	a = &e->attr;
	e->state = p[1];
	e->flags = p[2];
	e->fh_len = p[3];
	p += REC_HEAD;
	p = spn__get_u32(p, &a->type);
	p = spn__get_u32(p, &a->mode);
	p = spn__get_u32(p, &a->nlink);
	p = spn__get_u32(p, &a->uid);
	p = spn__get_u32(p, &a->gid);
	p = spn__get_u64(p, &a->size);
	p = spn__get_u64(p, &a->used);
	p = spn__get_u64(p, &a->rdev);
	p = spn__get_u64(p, &a->fsid);
	p = spn__get_u64(p, &a->fileid);
	p = spn__get_time(p, &a->atime);
	p = spn__get_time(p, &a->mtime);
	p = spn__get_time(p, &a->ctime);
	p = spn__get_i64(p, &e->validated_ns);
	p = spn__get_i64(p, &e->attr_timeo_ns);
	p = spn__get_i64(p, &e->attr_timeo_stamp_ns);
	p = spn__get_time(p, &e->content_mtime);
	p = spn__get_time(p, &e->content_ctime);
	p = spn__get_u64(p, &e->content_size);
	p = spn__get_u64(p, &e->content_fileid);
	p = spn__get_i64(p, &e->last_use_ns);
	p = spn__get_u64(p, &e->cached_bytes);
	p = spn__get_u64(p, &e->dirty_gen);
	memcpy(e->fh, p, e->fh_len);
	return 0;
}

/* --------------------------------------------------------------- keys */

static int
spn__path_key(uint8_t *key, size_t *klen, uint16_t mount, const char *path)
{
	size_t len, i, start, n;

	if (!path || path[0] != '/')
		return -EINVAL;
	len = strnlen(path, SPN_INDEX_PATH_MAX + 1);
	if (len > SPN_INDEX_PATH_MAX)
		return -ENAMETOOLONG;
	key[0] = (uint8_t)(mount >> 8);
	key[1] = (uint8_t)mount;
	if (len == 1) {
		*klen = KEY_MOUNT;
		return 0;
	}
	for (start = 1, i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		n = i - start;
		if (n == 0 || (n == 1 && path[start] == '.') ||
		    (n == 2 && path[start] == '.' && path[start + 1] == '.'))
			return -EINVAL;
		start = i + 1;
	}
	for (i = 0; i < len; i++)
		key[KEY_MOUNT + i] = path[i] == '/' ? 0 : (uint8_t)path[i];
	*klen = KEY_MOUNT + len;
	return 0;
}

/* path must hold SPN_INDEX_PATH_MAX + 1 bytes. */
static int
spn__key_path(const uint8_t *key, size_t klen, uint16_t *mount, char *path)
{
	size_t i;

	if (klen < KEY_MOUNT || klen > MAIN_KEY_MAX ||
	    (klen > KEY_MOUNT &&
	     (key[KEY_MOUNT] != 0 || klen == KEY_MOUNT + 1)))
		return -EINVAL;
	*mount = (uint16_t)(key[0] << 8 | key[1]);
	if (klen == KEY_MOUNT) {
		strcpy(path, "/");
		return 0;
	}
	for (i = KEY_MOUNT; i < klen; i++)
		path[i - KEY_MOUNT] = key[i] ? (char)key[i] : '/';
	path[klen - KEY_MOUNT] = '\0';
	return 0;
}

/* Whether key k is t itself or lies below it. */
static int
spn__in_tree(const void *k, size_t klen, const uint8_t *t, size_t tlen)
{
	const uint8_t *d = k;

	if (klen < tlen || memcmp(d, t, tlen) != 0)
		return 0;
	return klen == tlen || d[tlen] == 0;
}

static size_t
spn__lru_key(uint8_t *out, int64_t ts, const uint8_t *key, size_t klen)
{
	uint64_t u = (uint64_t)ts ^ (1ULL << 63);
	int i;

	for (i = 0; i < LRU_TS; i++)
		out[i] = (uint8_t)(u >> (56 - 8 * i));
	memcpy(out + LRU_TS, key, klen);
	return LRU_TS + klen;
}

static int
spn__lru_ok(const struct spn_entry *e)
{
	return e->state == SPN_ENT_CACHED && !(e->flags & SPN_EF_WRITEBACK) &&
	       (e->attr.type & S_IFMT) == S_IFREG;
}

static int
spn__wb(const struct spn_entry *e)
{
	return (e->flags & SPN_EF_WRITEBACK) != 0;
}

/* In a write: positions c on the first key of the tree t (t itself or
 * below it). 1 if there is one, 0 if the tree is empty, or the failure
 * (spn__wfail). */
static int
spn__tree_first(struct spn_index *ix, MDB_cursor *c, const uint8_t *t, size_t tlen, MDB_val *k,
		MDB_val *v)
{
	int rc;

	k->mv_size = tlen;
	k->mv_data = (void *)t;
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND || (!rc && !spn__in_tree(k->mv_data, k->mv_size, t, tlen)))
		return 0;
	return rc ? spn__wfail(ix, rc) : 1;
}

/* Positions c on the first key strictly after pos. */
static int
spn__seek_after(MDB_cursor *c, const uint8_t *pos, size_t poslen, MDB_val *k,
		MDB_val *v)
{
	int rc;

	k->mv_size = poslen;
	k->mv_data = (void *)pos;
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == poslen &&
	    memcmp(k->mv_data, pos, poslen) == 0)
		rc = mdb_cursor_get(c, k, v, MDB_NEXT);
	return rc;
}

/* ------------------------------------------------------- transactions */

static int
spn__remap(struct spn_index *ix, size_t size)
{
	int rc = mdb_env_set_mapsize(ix->env, size);

	/* LMDB has unmapped the old map before failing to map the new
	 * one: nothing can be read any more. */
	if (rc)
		ix->broken = spn__err(rc);
	return spn__err(rc);
}

static int
spn__grow(struct spn_index *ix)
{
	MDB_envinfo info;
	int rc;

	rc = mdb_env_info(ix->env, &info);
	if (rc)
		return spn__err(rc);
	if ((uint64_t)info.me_mapsize >= MAP_CAP)
		return -ENOSPC;
	return spn__remap(ix, info.me_mapsize * 2);
}

/* The transaction reads go through: the batch's (so that a batch sees its
 * own writes), else the idle read transaction renewed. */
static int
spn__rd_begin(struct spn_index *ix, MDB_txn **txn)
{
	int rc, tries;

	if (ix->broken)
		return ix->broken;
	if (ix->wtxn) {
		*txn = ix->wtxn;
		return 0;
	}
	for (tries = 0;; tries++) {
		rc = mdb_txn_renew(ix->rtxn);
		/* Another process grew the map: adopt its size. */
		if (rc != MDB_MAP_RESIZED || tries >= 2)
			break;
		rc = spn__remap(ix, 0);
		if (rc)
			return rc;
	}
	if (rc)
		return spn__err(rc);
	*txn = ix->rtxn;
	return 0;
}

static void
spn__rd_end(struct spn_index *ix, MDB_txn *txn)
{
	if (txn == ix->rtxn)
		mdb_txn_reset(txn);
}

/* Returns a raw LMDB code. */
static int
spn__wr_begin(struct spn_index *ix, MDB_txn **txn)
{
	int rc, tries;

	if (ix->broken)
		return EIO;
	for (tries = 0;; tries++) {
		rc = mdb_txn_begin(ix->env, NULL, 0, txn);
		if (rc != MDB_MAP_RESIZED || tries >= 2)
			return rc;
		if (spn__remap(ix, 0))
			return EIO;
	}
}

/* ------------------------------------------------ the write primitives */

static int
spn__meta_u64(struct spn_index *ix, MDB_txn *txn, const char *name, uint64_t *v)
{
	MDB_val k = {strlen(name), (void *)name}, d;
	int rc;

	*v = 0;
	rc = mdb_get(txn, ix->db_meta, &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (d.mv_size == 8)
		spn__get_u64(d.mv_data, v);
	return 0;
}

static int
spn__set_cached(struct spn_index *ix, MDB_txn *txn, uint64_t bytes)
{
	uint8_t buf[8];
	MDB_val k = {12, "cached_bytes"}, d = {8, buf};
	int rc;

	spn__put_u64(buf, bytes);
	rc = mdb_put(txn, ix->db_meta, &k, &d, 0);
	return rc ? spn__wfail(ix, rc) : 0;
}

static int
spn__add_cached(struct spn_index *ix, MDB_txn *txn, uint64_t sub, uint64_t add)
{
	uint64_t cur;
	int rc;

	if (sub == add)
		return 0;
	rc = spn__meta_u64(ix, txn, "cached_bytes", &cur);
	if (rc)
		return spn__wfail(ix, rc);
	/* Never wrap: a sum gone wrong is repaired by spn_index_check(). */
	cur = cur > sub ? cur - sub : 0;
	return spn__set_cached(ix, txn, cur + add);
}

static int
spn__del_ok(struct spn_index *ix, MDB_txn *txn, MDB_dbi dbi, const uint8_t *key,
	    size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc = mdb_del(txn, dbi, &k, NULL);

	if (rc && rc != MDB_NOTFOUND)
		return spn__wfail(ix, rc);
	return 0;
}

static int
spn__lru_put(struct spn_index *ix, MDB_txn *txn, const struct spn_entry *e,
	     const uint8_t *key, size_t klen)
{
	uint8_t lk[LRU_KEY_MAX];
	MDB_val k, d = {0, lk};
	int rc;

	k.mv_size = spn__lru_key(lk, e->last_use_ns, key, klen);
	k.mv_data = lk;
	rc = mdb_put(txn, ix->db_lru, &k, &d, 0);
	return rc ? spn__wfail(ix, rc) : 0;
}

static int
spn__lru_del(struct spn_index *ix, MDB_txn *txn, const struct spn_entry *e,
	     const uint8_t *key, size_t klen)
{
	uint8_t lk[LRU_KEY_MAX];
	size_t n = spn__lru_key(lk, e->last_use_ns, key, klen);

	return spn__del_ok(ix, txn, ix->db_lru, lk, n);
}

static int
spn__dirty_put(struct spn_index *ix, MDB_txn *txn, const struct spn_entry *e,
	       const uint8_t *key, size_t klen)
{
	uint8_t gen[8];
	MDB_val k = {klen, (void *)key}, d = {8, gen};
	int rc;

	spn__put_u64(gen, e->dirty_gen);
	rc = mdb_put(txn, ix->db_dirty, &k, &d, 0);
	return rc ? spn__wfail(ix, rc) : 0;
}

/* Reads the record at key. -ENOENT: absent; -EINVAL: undecodable; any
 * other error is a storage one and kills the write transaction. */
static int
spn__load(struct spn_index *ix, MDB_txn *txn, const uint8_t *key, size_t klen,
	  struct spn_entry *e)
{
	MDB_val k = {klen, (void *)key}, d;
	int rc = mdb_get(txn, ix->db_ent, &k, &d);

	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return spn__wfail(ix, rc);
	return spn__decode(d.mv_data, d.mv_size, e);
}

/*
 * Writes e at key and brings the dirty set, the LRU order and the byte
 * count in line with it. old is the record replaced: NULL when there was
 * none or it was undecodable (its dirty row is then dropped blindly; a
 * stale LRU row is dropped when lru or check meets it).
 */
static int
spn__store(struct spn_index *ix, MDB_txn *txn, const uint8_t *key, size_t klen,
	   const struct spn_entry *e, const struct spn_entry *old)
{
	uint8_t rec[REC_MAX];
	MDB_val k = {klen, (void *)key}, d = {0, rec};
	int rc, was_lru, is_lru, same_lru;

	d.mv_size = spn__encode(e, rec);
	rc = mdb_put(txn, ix->db_ent, &k, &d, 0);
	if (rc)
		return spn__wfail(ix, rc);

	was_lru = old && spn__lru_ok(old);
	is_lru = spn__lru_ok(e);
	same_lru = was_lru && is_lru && old->last_use_ns == e->last_use_ns;
	if (was_lru && !same_lru) {
		rc = spn__lru_del(ix, txn, old, key, klen);
		if (rc)
			return rc;
	}
	if (is_lru && !same_lru) {
		rc = spn__lru_put(ix, txn, e, key, klen);
		if (rc)
			return rc;
	}

	rc = 0;
	if (spn__wb(e)) {
		if (!old || !spn__wb(old) || old->dirty_gen != e->dirty_gen)
			rc = spn__dirty_put(ix, txn, e, key, klen);
	} else if (!old || spn__wb(old)) {
		rc = spn__del_ok(ix, txn, ix->db_dirty, key, klen);
	}
	if (rc)
		return rc;
	return spn__add_cached(ix, txn, old ? old->cached_bytes : 0,
			       e->cached_bytes);
}

/* Deletes the record at key with its dirty, LRU and byte-count traces. */
static int
spn__remove(struct spn_index *ix, MDB_txn *txn, const uint8_t *key, size_t klen,
	    const struct spn_entry *old)
{
	int rc;

	rc = spn__del_ok(ix, txn, ix->db_ent, key, klen);
	if (!rc && old && spn__lru_ok(old))
		rc = spn__lru_del(ix, txn, old, key, klen);
	if (!rc && (!old || spn__wb(old)))
		rc = spn__del_ok(ix, txn, ix->db_dirty, key, klen);
	if (!rc && old)
		rc = spn__add_cached(ix, txn, old->cached_bytes, 0);
	return rc;
}

/* ------------------------------------------------------------- the ops */

/*
 * Rule for every op: argument errors (-EINVAL, -ENOENT, ...) are found
 * before the first write, so that they leave a batch intact; once writing
 * has begun only storage errors remain, and those set ix->wrc.
 */

static int
spn__op_put(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	struct spn_entry old;
	int rc;

	rc = spn__load(ix, txn, op->key, op->klen, &old);
	if (rc && ix->wrc)
		return rc;
	return spn__store(ix, txn, op->key, op->klen, &op->e, rc ? NULL : &old);
}

static int
spn__op_del(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	struct spn_entry old;
	int rc;

	rc = spn__load(ix, txn, op->key, op->klen, &old);
	if (rc == -ENOENT || ix->wrc)
		return rc;
	return spn__remove(ix, txn, op->key, op->klen, rc ? NULL : &old);
}

/* Deletes t and everything below it; *n counts the records. */
static int
spn__drop_tree(struct spn_index *ix, MDB_txn *txn, const uint8_t *t,
	       size_t tlen, uint64_t *n)
{
	uint8_t cur[ANY_KEY_MAX];
	struct spn_entry old;
	MDB_cursor *c;
	MDB_val k, v;
	size_t clen;
	int rc, ok;

	*n = 0;
	rc = mdb_cursor_open(txn, ix->db_ent, &c);
	if (rc)
		return spn__wfail(ix, rc);
	/* Seek afresh each time: the delete moved the cursor. */
	while ((rc = spn__tree_first(ix, c, t, tlen, &k, &v)) > 0) {
		clen = k.mv_size;
		memcpy(cur, k.mv_data, clen);
		ok = spn__decode(v.mv_data, v.mv_size, &old) == 0;
		rc = spn__remove(ix, txn, cur, clen, ok ? &old : NULL);
		if (rc)
			break;
		(*n)++;
	}
	mdb_cursor_close(c);
	return rc;
}

static int
spn__op_del_tree(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	uint64_t n;
	int rc;

	rc = spn__drop_tree(ix, txn, op->key, op->klen, &n);
	/* Nothing there: nothing was written either. */
	if (!rc && n == 0)
		return -ENOENT;
	return rc;
}

/* Length of the longest key at or below t; 0 if there is none. */
static int
spn__tree_max(struct spn_index *ix, MDB_txn *txn, const uint8_t *t, size_t tlen,
	      size_t *max)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*max = 0;
	rc = mdb_cursor_open(txn, ix->db_ent, &c);
	if (rc)
		return spn__wfail(ix, rc);
	k.mv_size = tlen;
	k.mv_data = (void *)t;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && spn__in_tree(k.mv_data, k.mv_size, t, tlen)) {
		if (k.mv_size > *max)
			*max = k.mv_size;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return spn__wfail(ix, rc);
	return 0;
}

/* Moves one record from key f to key t with its dirty and LRU rows. */
static int
spn__move_one(struct spn_index *ix, MDB_txn *txn, const uint8_t *f, size_t flen,
	      const uint8_t *t, size_t tlen, MDB_val *v)
{
	struct spn_entry e;
	MDB_val k = {tlen, (void *)t};
	int rc, ok;

	ok = spn__decode(v->mv_data, v->mv_size, &e) == 0;
	/* Undecodable records move as they are: dropping one here would
	 * silently turn a name into a negative. */
	rc = mdb_put(txn, ix->db_ent, &k, v, 0);
	if (rc)
		return spn__wfail(ix, rc);
	rc = spn__del_ok(ix, txn, ix->db_ent, f, flen);
	if (!rc && ok && spn__lru_ok(&e)) {
		rc = spn__lru_del(ix, txn, &e, f, flen);
		if (!rc)
			rc = spn__lru_put(ix, txn, &e, t, tlen);
	}
	if (!rc && (!ok || spn__wb(&e)))
		rc = spn__del_ok(ix, txn, ix->db_dirty, f, flen);
	if (!rc && ok && spn__wb(&e))
		rc = spn__dirty_put(ix, txn, &e, t, tlen);
	return rc;
}

static int
spn__op_rename(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	const uint8_t *f = op->key, *t = op->key2;
	size_t flen = op->klen, tlen = op->klen2, max, nlen;
	uint8_t cur[ANY_KEY_MAX], dst[ANY_KEY_MAX];
	void *val = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint64_t n;
	int rc;

	if (flen == KEY_MOUNT || tlen == KEY_MOUNT)
		return -EINVAL;
	rc = spn__tree_max(ix, txn, f, flen, &max);
	if (rc)
		return rc;
	/* Like del_tree: a subtree without a record at its top still
	 * moves; only an empty one is absent. */
	if (max == 0)
		return -ENOENT;
	if (flen == tlen && memcmp(f, t, flen) == 0)
		return 0;
	if (spn__in_tree(t, tlen, f, flen) || spn__in_tree(f, flen, t, tlen))
		return -EINVAL;
	if (max - flen + tlen > MAIN_KEY_MAX)
		return -ENAMETOOLONG;

	/* rename(2) replaces the target. */
	rc = spn__drop_tree(ix, txn, t, tlen, &n);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, ix->db_ent, &c);
	if (rc)
		return spn__wfail(ix, rc);
	memcpy(dst, t, tlen);
	while ((rc = spn__tree_first(ix, c, f, flen, &k, &v)) > 0) {
		memcpy(cur, k.mv_data, k.mv_size);
		nlen = tlen + k.mv_size - flen;
		memcpy(dst + tlen, cur + flen, k.mv_size - flen);
		/* The value lives in the map and the puts may move it. */
		free(val);
		val = malloc(v.mv_size ? v.mv_size : 1);
		if (!val) {
			rc = spn__wfail(ix, ENOMEM);
			break;
		}
		memcpy(val, v.mv_data, v.mv_size);
		v.mv_data = val;
		rc = spn__move_one(ix, txn, cur, k.mv_size, dst, nlen, &v);
		if (rc)
			break;
	}
	free(val);
	mdb_cursor_close(c);
	return rc;
}

/* After an LRU eviction: the mirror copy is gone, keep the attributes. */
static int
spn__op_stub(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	struct spn_entry old, e;
	int rc;

	rc = spn__load(ix, txn, op->key, op->klen, &old);
	if (rc)
		return rc;
	e = old;
	e.state = SPN_ENT_STUB;
	e.cached_bytes = 0;
	memset(&e.content_mtime, 0, sizeof(e.content_mtime));
	memset(&e.content_ctime, 0, sizeof(e.content_ctime));
	e.content_size = 0;
	e.content_fileid = 0;
	op->out = old.cached_bytes;
	return spn__store(ix, txn, op->key, op->klen, &e, &old);
}

/*
 * Walks every record: counts what is wrong with the derived rows, and,
 * when repair is set, deletes undecodable records and rebuilds the dirty
 * set, LRU order and byte count from the rest.
 */
static int
spn__scan(struct spn_index *ix, MDB_txn *txn, int repair, uint64_t *problems)
{
	uint8_t cur[ANY_KEY_MAX], lk[LRU_KEY_MAX];
	uint64_t sum = 0, ndirty = 0, nlru = 0, stored;
	struct spn_entry e;
	MDB_cursor *c;
	MDB_stat st;
	MDB_val k, v, x;
	size_t clen;
	int rc, bad;

	*problems = 0;
	rc = mdb_cursor_open(txn, ix->db_ent, &c);
	if (rc)
		return spn__wfail(ix, rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		bad = k.mv_size < KEY_MOUNT || k.mv_size > MAIN_KEY_MAX ||
		      spn__decode(v.mv_data, v.mv_size, &e) != 0;
		clen = k.mv_size;
		memcpy(cur, k.mv_data, clen);
		if (bad) {
			(*problems)++;
			if (repair) {
				rc =
				    spn__del_ok(ix, txn, ix->db_ent, cur, clen);
				if (rc)
					goto out;
			}
		} else {
			sum += e.cached_bytes;
			if (spn__wb(&e)) {
				ndirty++;
				k.mv_size = clen;
				k.mv_data = cur;
				if (repair)
					rc = spn__dirty_put(ix, txn, &e, cur,
							    clen);
				else if (mdb_get(txn, ix->db_dirty, &k, &x))
					(*problems)++;
			}
			if (!rc && spn__lru_ok(&e)) {
				nlru++;
				k.mv_size =
				    spn__lru_key(lk, e.last_use_ns, cur, clen);
				k.mv_data = lk;
				if (repair)
					rc = spn__lru_put(ix, txn, &e, cur,
							  clen);
				else if (mdb_get(txn, ix->db_lru, &k, &x))
					(*problems)++;
			}
			if (rc)
				goto out;
		}
		rc = spn__seek_after(c, cur, clen, &k, &v);
	}
	if (rc != MDB_NOTFOUND) {
		rc = spn__wfail(ix, rc);
		goto out;
	}
	rc = 0;
	if (repair)
		goto count;
	if ((rc = mdb_stat(txn, ix->db_dirty, &st)) != 0)
		goto fail;
	if (st.ms_entries != ndirty)
		(*problems)++;
	if ((rc = mdb_stat(txn, ix->db_lru, &st)) != 0)
		goto fail;
	if (st.ms_entries != nlru)
		(*problems)++;
count:
	if ((rc = spn__meta_u64(ix, txn, "cached_bytes", &stored)) != 0)
		goto fail;
	if (stored != sum) {
		if (!repair)
			(*problems)++;
		else
			rc = spn__set_cached(ix, txn, sum);
	}
out:
	mdb_cursor_close(c);
	return rc;
fail:
	rc = spn__wfail(ix, rc);
	goto out;
}

static int
spn__op_repair(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	uint64_t again;
	int rc;

	rc = spn__scan(ix, txn, 0, &op->out);
	if (rc || op->out == 0)
		return rc;
	/* Empty the derived tables and rebuild them from the records. */
	if ((rc = mdb_drop(txn, ix->db_dirty, 0)) != 0 ||
	    (rc = mdb_drop(txn, ix->db_lru, 0)) != 0)
		return spn__wfail(ix, rc);
	return spn__scan(ix, txn, 1, &again);
}

static int
spn__op_init(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	uint8_t buf[4];
	MDB_val k = {6, "layout"}, d;
	uint32_t layout;
	int rc;

	if ((rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &ix->db_ent)) ||
	    (rc = mdb_dbi_open(txn, "dirty", MDB_CREATE, &ix->db_dirty)) ||
	    (rc = mdb_dbi_open(txn, "lru", MDB_CREATE, &ix->db_lru)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ix->db_meta)))
		return spn__wfail(ix, rc);
	rc = mdb_get(txn, ix->db_meta, &k, &d);
	if (rc == 0) {
		if (d.mv_size != 4)
			return -EUCLEAN;
		spn__get_u32(d.mv_data, &layout);
		/* A newer key layout: this code cannot read it. */
		return layout == LAYOUT_VERSION ? 0 : -EUCLEAN;
	}
	if (rc != MDB_NOTFOUND)
		return spn__wfail(ix, rc);
	spn__put_u32(buf, LAYOUT_VERSION);
	d.mv_size = 4;
	d.mv_data = buf;
	rc = mdb_put(txn, ix->db_meta, &k, &d, 0);
	return rc ? spn__wfail(ix, rc) : 0;
}

static int
spn__op_lru_del(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	return spn__del_ok(ix, txn, ix->db_lru, op->key, op->klen);
}

static int spn__op_soft(struct spn_index *ix, MDB_txn *txn, struct spn__op *op);

static int
spn__apply(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	switch (op->kind) {
	case OP_PUT:
		return spn__op_put(ix, txn, op);
	case OP_DEL:
		return spn__op_del(ix, txn, op);
	case OP_DEL_TREE:
		return spn__op_del_tree(ix, txn, op);
	case OP_RENAME:
		return spn__op_rename(ix, txn, op);
	case OP_STUB:
		return spn__op_stub(ix, txn, op);
	case OP_LRU_DEL:
		return spn__op_lru_del(ix, txn, op);
	case OP_REPAIR:
		return spn__op_repair(ix, txn, op);
	case OP_INIT:
		return spn__op_init(ix, txn, op);
	case OP_SOFT:
		return spn__op_soft(ix, txn, op);
	}
	return -EINVAL;
}

/* The record at key as LMDB has it (no kept confirmation over it). */
static int
spn__get_stored(struct spn_index *ix, const uint8_t *key, size_t klen, struct spn_entry *out)
{
	MDB_val k = {klen, (void *)key}, d;
	MDB_txn *txn;
	int rc;

	rc = spn__rd_begin(ix, &txn);
	if (rc)
		return rc;
	rc = mdb_get(txn, ix->db_ent, &k, &d);
	if (rc == 0)
		rc = spn__decode(d.mv_data, d.mv_size, out);
	else
		rc = spn__err(rc);
	spn__rd_end(ix, txn);
	return rc;
}

/* ---------------------------------------------- deferred confirmations */

/*
 * Most puts only say that an entry was confirmed again: a validation
 * that found the server's attributes unchanged moves validated_ns, the
 * attribute-cache timeout and last_use_ns, nothing else. One LMDB commit
 * for each was a fifth of the daemon's time during a build (every open
 * of every header is validated). Such a put is kept here instead, read
 * back over the record by every get and walk, and written with the
 * others in one transaction (spn__soft_flush): when the table fills,
 * before any op that moves or drops records (a stale confirmation must
 * never land on another record), before a batch, LRU eviction or check,
 * at spn_index_flush (the daemon's tick) and at close. Losing them (kill
 * -9) loses nothing that matters: an entry looks confirmed earlier than
 * it was, and is validated again sooner.
 */
#define SOFT_MAX 4096 /* entries before a flush; the table has twice the slots */

/* An entry's confirmation fields. */
struct spn__conf {
	int64_t validated_ns, attr_timeo_ns, attr_timeo_stamp_ns, last_use_ns;
};

struct spn__soft {
	int live; /* 0: dropped (its slot stays taken until the flush) */
	struct spn__conf c;
	size_t klen;
	uint8_t key[];
};

static struct spn__conf
spn__conf_of(const struct spn_entry *e)
{
	return (struct spn__conf){ e->validated_ns, e->attr_timeo_ns, e->attr_timeo_stamp_ns,
				   e->last_use_ns };
}

static void
spn__conf_onto(const struct spn__conf *c, struct spn_entry *e)
{
	e->validated_ns = c->validated_ns;
	e->attr_timeo_ns = c->attr_timeo_ns;
	e->attr_timeo_stamp_ns = c->attr_timeo_stamp_ns;
	e->last_use_ns = c->last_use_ns;
}

static size_t
spn__soft_hash(const uint8_t *key, size_t klen)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;

	for (i = 0; i < klen; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot of key: its entry, or the empty slot it would take. */
static struct spn__soft **
spn__soft_slot(struct spn_index *ix, const uint8_t *key, size_t klen)
{
	size_t i = spn__soft_hash(key, klen) & (ix->soft_cap - 1);
	struct spn__soft *x;

	while ((x = ix->soft[i]) != NULL) {
		if (x->klen == klen && memcmp(x->key, key, klen) == 0)
			return &ix->soft[i];
		i = (i + 1) & (ix->soft_cap - 1);
	}
	return &ix->soft[i];
}

static struct spn__soft *
spn__soft_find(struct spn_index *ix, const uint8_t *key, size_t klen)
{
	struct spn__soft *x;

	if (ix->nsoft == 0)
		return NULL;
	x = *spn__soft_slot(ix, key, klen);
	return x != NULL && x->live ? x : NULL;
}

/* Over a record read from LMDB: the confirmation kept for it, if any. */
static void
spn__soft_apply(struct spn_index *ix, const uint8_t *key, size_t klen, struct spn_entry *e)
{
	struct spn__soft *x = spn__soft_find(ix, key, klen);

	if (x != NULL)
		spn__conf_onto(&x->c, e);
}

static void
spn__soft_drop(struct spn_index *ix, const uint8_t *key, size_t klen)
{
	struct spn__soft *x = spn__soft_find(ix, key, klen);

	if (x != NULL)
		x->live = 0;
}

static void
spn__soft_clear(struct spn_index *ix)
{
	size_t i;

	for (i = 0; i < ix->soft_cap; i++) {
		free(ix->soft[i]);
		ix->soft[i] = NULL;
	}
	ix->nsoft = 0;
}

static int spn__run_single(struct spn_index *ix, struct spn__op *op);

/* Write every kept confirmation into its record (one transaction), then
 * forget them. A record gone meanwhile is skipped. */
static int
spn__op_soft(struct spn_index *ix, MDB_txn *txn, struct spn__op *op)
{
	struct spn_entry e, old;
	size_t i;
	int rc;

	(void)op;
	for (i = 0; i < ix->soft_cap; i++) {
		struct spn__soft *x = ix->soft[i];

		if (x == NULL || !x->live)
			continue;
		rc = spn__load(ix, txn, x->key, x->klen, &old);
		if (rc == -ENOENT || rc == -EINVAL)
			continue;
		if (rc)
			return rc;
		e = old;
		spn__conf_onto(&x->c, &e);
		rc = spn__store(ix, txn, x->key, x->klen, &e, &old);
		if (rc)
			return rc;
	}
	return 0;
}

static int
spn__soft_flush(struct spn_index *ix)
{
	struct spn__op op = {.kind = OP_SOFT};
	int rc;

	if (ix->nsoft == 0 || ix->in_batch)
		return 0;
	rc = spn__run_single(ix, &op);
	spn__soft_clear(ix);
	return rc;
}

/*
 * A put outside a batch that changes only the confirmation fields of the
 * record there: kept (1). 0: a real change, to be written (and whatever
 * was kept for key is dropped: the put carries the newer values).
 */
static int
spn__soft_put(struct spn_index *ix, const uint8_t *key, size_t klen, const struct spn_entry *e)
{
	uint8_t a[REC_MAX], b[REC_MAX];
	struct spn_entry cur, mine;
	struct spn__conf cc;
	struct spn__soft **slot, *x;
	size_t alen, blen;

	if (ix->in_batch)
		return 0;
	if (ix->soft == NULL) {
		ix->soft = calloc(2 * SOFT_MAX, sizeof(*ix->soft));
		if (ix->soft == NULL)
			return 0;
		ix->soft_cap = 2 * SOFT_MAX;
	}
	if (spn__get_stored(ix, key, klen, &cur) != 0) {
		spn__soft_drop(ix, key, klen);
		return 0;
	}
	mine = *e;
	cc = spn__conf_of(&cur);
	spn__conf_onto(&cc, &mine);
	alen = spn__encode(&mine, a);
	blen = spn__encode(&cur, b);
	if (alen != blen || memcmp(a, b, alen) != 0) {
		spn__soft_drop(ix, key, klen);
		return 0;
	}
	if (ix->nsoft >= SOFT_MAX && spn__soft_find(ix, key, klen) == NULL &&
	    spn__soft_flush(ix) != 0)
		return 0;
	slot = spn__soft_slot(ix, key, klen);
	if (*slot == NULL) {
		x = malloc(sizeof(*x) + klen);
		if (x == NULL)
			return 0;
		x->klen = klen;
		memcpy(x->key, key, klen);
		*slot = x;
		ix->nsoft++;
	}
	x = *slot;
	x->live = 1;
	x->c = spn__conf_of(e);
	return 1;
}

/* ---------------------------------------------------- running the ops */

/* One op in a transaction of its own; grows the map and retries. */
static int
spn__run_single(struct spn_index *ix, struct spn__op *op)
{
	MDB_txn *txn;
	int rc, tries;

	for (tries = 0; tries < GROW_TRIES; tries++) {
		ix->wrc = 0;
		rc = spn__wr_begin(ix, &txn);
		if (rc)
			return spn__err(rc);
		rc = spn__apply(ix, txn, op);
		if (!ix->wrc) {
			if (rc) {
				mdb_txn_abort(txn);
				return rc;
			}
			/* Commit frees txn even when it fails. */
			ix->wrc = mdb_txn_commit(txn);
			if (!ix->wrc)
				return 0;
		} else {
			mdb_txn_abort(txn);
		}
		if (ix->wrc != MDB_MAP_FULL)
			return spn__err(ix->wrc);
		rc = spn__grow(ix);
		if (rc)
			return rc;
	}
	return -ENOSPC;
}

static void
spn__log_clear(struct spn_index *ix)
{
	size_t i;

	for (i = 0; i < ix->nlog; i++)
		free(ix->log[i].mem);
	free(ix->log);
	ix->log = NULL;
	ix->nlog = ix->log_cap = 0;
}

static int
spn__log_push(struct spn_index *ix, const struct spn__op *op)
{
	struct spn__op *l;
	uint8_t *mem;
	size_t cap;

	if (ix->nlog == ix->log_cap) {
		cap = ix->log_cap ? ix->log_cap * 2 : 64;
		l = realloc(ix->log, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		ix->log = l;
		ix->log_cap = cap;
	}
	mem = malloc(op->klen + op->klen2 + 1);
	if (!mem)
		return -ENOMEM;
	memcpy(mem, op->key, op->klen);
	if (op->klen2)
		memcpy(mem + op->klen, op->key2, op->klen2);
	l = &ix->log[ix->nlog++];
	*l = *op;
	l->key = mem;
	l->key2 = mem + op->klen;
	l->mem = mem;
	return 0;
}

static void
spn__log_pop(struct spn_index *ix)
{
	free(ix->log[--ix->nlog].mem);
}

static void
spn__batch_end(struct spn_index *ix)
{
	if (ix->wtxn)
		mdb_txn_abort(ix->wtxn);
	ix->wtxn = NULL;
	ix->in_batch = 0;
	ix->batch_err = 0;
	spn__log_clear(ix);
}

/* The batch's transaction is dead: keep the batch open but failed, so
 * that what follows does not run outside it unnoticed. */
static int
spn__batch_fail(struct spn_index *ix, int rc)
{
	if (ix->wtxn)
		mdb_txn_abort(ix->wtxn);
	ix->wtxn = NULL;
	ix->batch_err = rc;
	spn__log_clear(ix);
	return rc;
}

/* The batch ran out of map: grow, and replay its log into a new txn. */
static int
spn__batch_replay(struct spn_index *ix)
{
	size_t i;
	int rc, tries;

	for (tries = 0; tries < GROW_TRIES; tries++) {
		if (ix->wtxn)
			mdb_txn_abort(ix->wtxn);
		ix->wtxn = NULL;
		rc = spn__grow(ix);
		if (rc)
			return rc;
		ix->wrc = 0;
		rc = spn__wr_begin(ix, &ix->wtxn);
		if (rc) {
			ix->wtxn = NULL;
			return spn__err(rc);
		}
		for (i = 0, rc = 0; i < ix->nlog && !rc; i++)
			rc = spn__apply(ix, ix->wtxn, &ix->log[i]);
		if (!ix->wrc)
			/* An op that succeeded the first time cannot fail
			 * on the same data now; if it does, say so. */
			return rc ? -EIO : 0;
		if (ix->wrc != MDB_MAP_FULL)
			return spn__err(ix->wrc);
	}
	return -ENOSPC;
}

static int
spn__run_batched(struct spn_index *ix, struct spn__op *op)
{
	int rc;

	if (ix->batch_err)
		return ix->batch_err;
	rc = spn__log_push(ix, op);
	if (rc)
		return rc;
	ix->wrc = 0;
	rc = spn__apply(ix, ix->wtxn, &ix->log[ix->nlog - 1]);
	op->out = ix->log[ix->nlog - 1].out;
	if (!ix->wrc) {
		if (rc)
			spn__log_pop(ix);
		return rc;
	}
	if (ix->wrc == MDB_MAP_FULL) {
		rc = spn__batch_replay(ix);
		if (!rc)
			return 0;
	}
	return spn__batch_fail(ix, rc);
}

static int
spn__run(struct spn_index *ix, struct spn__op *op)
{
	if (op->kind == OP_PUT || op->kind == OP_DEL)
		spn__soft_drop(ix, op->key, op->klen);
	else
		spn__soft_flush(ix); /* a stale one must not land elsewhere */
	if (ix->in_batch)
		return spn__run_batched(ix, op);
	return spn__run_single(ix, op);
}

/* ------------------------------------------------------------- the API */

int
spn_index_open(struct spn_index **out, const char *dir, uint64_t map_size)
{
	struct spn_index *ix;
	struct spn__op op = {.kind = OP_INIT};
	long page = sysconf(_SC_PAGESIZE);
	int rc, dead;

	if (!out || !dir)
		return -EINVAL;
	*out = NULL;
	if (page <= 0)
		page = 4096;
	if (map_size == 0)
		map_size = SPN_INDEX_MAP_DEFAULT;
	if (map_size > MAP_CAP || (size_t)map_size != map_size)
		return -EINVAL;
	map_size =
	    (map_size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;

	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	if ((rc = mdb_env_create(&ix->env)) != 0) {
		ix->env = NULL;
		goto err;
	}
	if ((rc = mdb_env_set_maxdbs(ix->env, 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(ix->env, (size_t)map_size)) != 0)
		goto err;
	/* MDB_NOSYNC: see the top of the file. MDB_NOTLS: our one read
	 * txn is reset and renewed, not tied to a thread. */
	rc = mdb_env_open(ix->env, dir, MDB_NOSYNC | MDB_NOTLS, 0600);
	if (rc)
		goto err;
	if (mdb_env_get_maxkeysize(ix->env) < SEEK_KEY_MAX) {
		rc = ENOTSUP;
		goto err;
	}
	/* Frees reader slots left by a daemon that was killed. */
	mdb_reader_check(ix->env, &dead);

	rc = spn__run_single(ix, &op);
	if (rc)
		goto err_neg;
	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &ix->rtxn)) != 0)
		goto err;
	mdb_txn_reset(ix->rtxn);
	*out = ix;
	return 0;
err:
	rc = spn__err(rc);
err_neg:
	if (ix->env)
		mdb_env_close(ix->env);
	free(ix);
	return rc;
}

void
spn_index_close(struct spn_index *ix)
{
	if (!ix)
		return;
	if (ix->syncer_up) {
		pthread_mutex_lock(&ix->sync_lock);
		ix->sync_stop = 1;
		pthread_cond_signal(&ix->sync_cond);
		pthread_mutex_unlock(&ix->sync_lock);
		pthread_join(ix->syncer, NULL);
		pthread_mutex_destroy(&ix->sync_lock);
		pthread_cond_destroy(&ix->sync_cond);
	}
	spn__batch_end(ix);
	spn__soft_flush(ix);
	if (ix->soft != NULL)
		spn__soft_clear(ix);
	free(ix->soft);
	if (ix->rtxn)
		mdb_txn_abort(ix->rtxn);
	mdb_env_close(ix->env);
	free(ix);
}

int
spn_index_get(struct spn_index *ix, uint16_t mount, const char *path,
	      struct spn_entry *out)
{
	uint8_t key[MAIN_KEY_MAX];
	size_t klen;
	int rc;

	rc = spn__path_key(key, &klen, mount, path);
	if (rc)
		return rc;
	rc = spn__get_stored(ix, key, klen, out);
	if (rc == 0)
		spn__soft_apply(ix, key, klen, out);
	return rc;
}

int
spn_index_put(struct spn_index *ix, uint16_t mount, const char *path,
	      const struct spn_entry *e)
{
	uint8_t key[MAIN_KEY_MAX];
	struct spn__op op = {.kind = OP_PUT, .key = key};
	int rc;

	if (!spn__entry_ok(e))
		return -EINVAL;
	rc = spn__path_key(key, &op.klen, mount, path);
	if (rc)
		return rc;
	if (spn__soft_put(ix, key, op.klen, e))
		return 0;
	op.e = *e;
	return spn__run(ix, &op);
}

/* Runs an op of this kind on one key. */
static int
spn__run_key(struct spn_index *ix, int kind, uint16_t mount, const char *path)
{
	uint8_t key[MAIN_KEY_MAX];
	struct spn__op op = {.kind = kind, .key = key};
	int rc;

	rc = spn__path_key(key, &op.klen, mount, path);
	if (rc)
		return rc;
	return spn__run(ix, &op);
}

int
spn_index_del(struct spn_index *ix, uint16_t mount, const char *path)
{
	return spn__run_key(ix, OP_DEL, mount, path);
}

int
spn_index_del_tree(struct spn_index *ix, uint16_t mount, const char *path)
{
	return spn__run_key(ix, OP_DEL_TREE, mount, path);
}

int
spn_index_rename_tree(struct spn_index *ix, uint16_t mount, const char *from,
		      const char *to)
{
	uint8_t f[MAIN_KEY_MAX], t[MAIN_KEY_MAX];
	struct spn__op op = {.kind = OP_RENAME, .key = f, .key2 = t};
	int rc;

	rc = spn__path_key(f, &op.klen, mount, from);
	if (!rc)
		rc = spn__path_key(t, &op.klen2, mount, to);
	if (rc)
		return rc;
	return spn__run(ix, &op);
}

/*
 * Walks share one shape: copy up to CHUNK entries out under a read
 * transaction, end it, then run the callbacks, and resume by key. No
 * transaction is held while a callback runs, so it may write, walk again
 * or take its time; a batch's transaction stays open, but the walk's
 * cursor does not.
 */

struct spn__walk {
	MDB_dbi db;
	/* Where the next batch starts: a key to seek (0 bytes: the first). */
	uint8_t pos[ANY_KEY_MAX];
	size_t poslen;
	/* Copies up to CHUNK entries from c's first key on into it: *n of
	 * them. 0, or MDB_NOTFOUND at the end, or an LMDB/errno code. */
	int (*fill)(struct spn_index *ix, struct spn__walk *w, MDB_txn *txn, MDB_cursor *c,
		    MDB_val *k, MDB_val *v, struct spn__item *it, size_t *n);
	int (*each)(struct spn__walk *w, struct spn__item *it); /* the caller's cb */
	/* foreach_child: the children's key prefix, dir + "\0" */
	uint8_t pfx[MAIN_KEY_MAX + 1];
	size_t plen;
	int (*child_cb)(const char *name, const struct spn_entry *e, void *arg);
	int (*path_cb)(uint16_t mount, const char *path, const struct spn_entry *e, void *arg);
	void *arg;
};

static int
spn__walk(struct spn_index *ix, struct spn__walk *w)
{
	struct spn__item *it;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	size_t n, i;
	int rc, err, done = 0;

	it = malloc(CHUNK * sizeof(*it));
	if (!it)
		return -ENOMEM;
	while (!done) {
		rc = spn__rd_begin(ix, &txn);
		if (rc)
			break;
		rc = mdb_cursor_open(txn, w->db, &c);
		if (rc) {
			spn__rd_end(ix, txn);
			rc = spn__err(rc);
			break;
		}
		n = 0;
		rc = w->fill(ix, w, txn, c, &k, &v, it, &n);
		mdb_cursor_close(c);
		spn__rd_end(ix, txn);
		err = 0;
		if (rc == MDB_NOTFOUND)
			done = 1;
		else if (rc)
			err = spn__err(rc);
		for (i = 0; i < n; i++) {
			spn__soft_apply(ix, it[i].key, it[i].klen, &it[i].e);
			rc = w->each(w, &it[i]);
			if (rc)
				goto out;
		}
		/* After the callbacks for the entries before it. */
		if (err) {
			rc = err;
			goto out;
		}
		rc = 0;
	}
out:
	free(it);
	return rc;
}

static int
spn__child_fill(struct spn_index *ix, struct spn__walk *w, MDB_txn *txn, MDB_cursor *c,
		MDB_val *k, MDB_val *v, struct spn__item *it, size_t *n)
{
	const uint8_t *nm, *z;
	size_t plen = w->plen, nlen;
	int rc;

	(void)ix;
	(void)txn;
	k->mv_size = w->poslen;
	k->mv_data = w->pos;
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	while (rc == 0 && *n < CHUNK) {
		if (k->mv_size <= plen || memcmp(k->mv_data, w->pfx, plen) != 0)
			return MDB_NOTFOUND;
		if (k->mv_size > MAIN_KEY_MAX)
			return EINVAL;
		nm = (const uint8_t *)k->mv_data + plen;
		nlen = k->mv_size - plen;
		/* The child's own key; anything longer is below it
		 * (with no record for the child itself if z). */
		z = memchr(nm, 0, nlen);
		if (z)
			nlen = (size_t)(z - nm);
		if (!z) {
			if (spn__decode(v->mv_data, v->mv_size, &it[*n].e) != 0)
				return EINVAL;
			it[*n].klen = k->mv_size;
			memcpy(it[*n].key, k->mv_data, k->mv_size);
			(*n)++;
		}
		/* Go past the child's subtree, which ends before
		 * child + "\1". Most children are leaves: try the
		 * next key, and seek only if it lies below. */
		w->poslen = plen + nlen;
		memmove(w->pos, k->mv_data, w->poslen);
		w->pos[w->poslen++] = 1;
		rc = mdb_cursor_get(c, k, v, MDB_NEXT);
		if (rc == 0 && spn__in_tree(k->mv_data, k->mv_size, w->pos, w->poslen - 1)) {
			k->mv_size = w->poslen;
			k->mv_data = w->pos;
			rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
		}
	}
	return rc;
}

static int
spn__child_each(struct spn__walk *w, struct spn__item *it)
{
	char name[SPN_INDEX_PATH_MAX + 1];
	size_t nlen = it->klen - w->plen;

	memcpy(name, it->key + w->plen, nlen);
	name[nlen] = '\0';
	return w->child_cb(name, &it->e, w->arg);
}

int
spn_index_foreach_child(struct spn_index *ix, uint16_t mount, const char *dir,
			int (*cb)(const char *name, const struct spn_entry *e,
				  void *arg),
			void *arg)
{
	struct spn__walk w = {.db = ix->db_ent, .fill = spn__child_fill,
			      .each = spn__child_each, .child_cb = cb, .arg = arg};
	int rc;

	if (!cb)
		return -EINVAL;
	rc = spn__path_key(w.pfx, &w.plen, mount, dir);
	if (rc)
		return rc;
	/* Children are the keys dir + "\0" + name, name without '\0'. */
	w.pfx[w.plen++] = 0;
	memcpy(w.pos, w.pfx, w.plen);
	w.poslen = w.plen;
	return spn__walk(ix, &w);
}

static int
spn__dirty_fill(struct spn_index *ix, struct spn__walk *w, MDB_txn *txn, MDB_cursor *c,
		MDB_val *k, MDB_val *v, struct spn__item *it, size_t *n)
{
	MDB_val d;
	int rc, r;

	if (w->poslen == 0)
		rc = mdb_cursor_get(c, k, v, MDB_FIRST);
	else
		rc = spn__seek_after(c, w->pos, w->poslen, k, v);
	while (rc == 0 && *n < CHUNK) {
		w->poslen = k->mv_size;
		memcpy(w->pos, k->mv_data, w->poslen);
		r = mdb_get(txn, ix->db_ent, k, &d);
		if (r == 0) {
			if (spn__decode(d.mv_data, d.mv_size, &it[*n].e) != 0 ||
			    spn__key_path(w->pos, w->poslen, &it[*n].mount, it[*n].path) != 0)
				return EINVAL;
			it[*n].klen = w->poslen;
			memcpy(it[*n].key, w->pos, w->poslen);
			(*n)++;
		} else if (r != MDB_NOTFOUND) {
			/* A dirty row without a record is stale. */
			return r;
		}
		rc = mdb_cursor_get(c, k, v, MDB_NEXT);
	}
	return rc;
}

static int
spn__path_each(struct spn__walk *w, struct spn__item *it)
{
	return w->path_cb(it->mount, it->path, &it->e, w->arg);
}

int
spn_index_foreach_dirty(struct spn_index *ix,
			int (*cb)(uint16_t mount, const char *path,
				  const struct spn_entry *e, void *arg),
			void *arg)
{
	struct spn__walk w = {.db = ix->db_dirty, .fill = spn__dirty_fill,
			      .each = spn__path_each, .path_cb = cb, .arg = arg};

	if (!cb)
		return -EINVAL;
	return spn__walk(ix, &w);
}

static int
spn__all_fill(struct spn_index *ix, struct spn__walk *w, MDB_txn *txn, MDB_cursor *c,
	      MDB_val *k, MDB_val *v, struct spn__item *it, size_t *n)
{
	int rc;

	(void)ix;
	(void)txn;
	if (w->poslen == 0)
		rc = mdb_cursor_get(c, k, v, MDB_FIRST);
	else
		rc = spn__seek_after(c, w->pos, w->poslen, k, v);
	while (rc == 0 && *n < CHUNK) {
		if (k->mv_size > MAIN_KEY_MAX)
			return EINVAL;
		w->poslen = k->mv_size;
		memcpy(w->pos, k->mv_data, w->poslen);
		if (spn__decode(v->mv_data, v->mv_size, &it[*n].e) != 0 ||
		    spn__key_path(w->pos, w->poslen, &it[*n].mount, it[*n].path) != 0)
			return EINVAL;
		it[*n].klen = w->poslen;
		memcpy(it[*n].key, w->pos, w->poslen);
		(*n)++;
		rc = mdb_cursor_get(c, k, v, MDB_NEXT);
	}
	return rc;
}

int
spn_index_foreach(struct spn_index *ix,
		  int (*cb)(uint16_t mount, const char *path, const struct spn_entry *e,
			    void *arg),
		  void *arg)
{
	struct spn__walk w = {.db = ix->db_ent, .fill = spn__all_fill,
			      .each = spn__path_each, .path_cb = cb, .arg = arg};

	if (!cb)
		return -EINVAL;
	return spn__walk(ix, &w);
}

int
spn_index_flush(struct spn_index *ix)
{
	return spn__soft_flush(ix);
}

int
spn_index_begin(struct spn_index *ix)
{
	int rc;

	if (ix->in_batch)
		return -EBUSY;
	spn__soft_flush(ix); /* a batch sees no kept confirmation */
	rc = spn__wr_begin(ix, &ix->wtxn);
	if (rc) {
		ix->wtxn = NULL;
		return spn__err(rc);
	}
	ix->in_batch = 1;
	ix->batch_err = 0;
	return 0;
}

int
spn_index_commit(struct spn_index *ix)
{
	int rc, tries;

	if (!ix->in_batch)
		return -EINVAL;
	for (tries = 0; tries < GROW_TRIES; tries++) {
		if (ix->batch_err)
			break;
		rc = mdb_txn_commit(ix->wtxn);
		ix->wtxn = NULL;
		if (rc == 0) {
			spn__batch_end(ix);
			return 0;
		}
		if (rc != MDB_MAP_FULL) {
			ix->batch_err = spn__err(rc);
			break;
		}
		rc = spn__batch_replay(ix);
		if (rc)
			ix->batch_err = rc;
	}
	rc = ix->batch_err ? ix->batch_err : -ENOSPC;
	spn__batch_end(ix);
	return rc;
}

void
spn_index_abort(struct spn_index *ix)
{
	if (ix && ix->in_batch)
		spn__batch_end(ix);
}

static void *
syncer_main(void *arg)
{
	struct spn_index *ix = arg;

	pthread_mutex_lock(&ix->sync_lock);
	for (;;) {
		while (!ix->sync_wanted && !ix->sync_stop)
			pthread_cond_wait(&ix->sync_cond, &ix->sync_lock);
		if (!ix->sync_wanted)
			break; /* stopping, nothing left to sync */
		ix->sync_wanted = 0;
		pthread_mutex_unlock(&ix->sync_lock);
		/* Only fdatasync of the data file (no MDB_WRITEMAP): safe
		 * beside the daemon's transactions and map resizes. */
		mdb_env_sync(ix->env, 1);
		pthread_mutex_lock(&ix->sync_lock);
	}
	pthread_mutex_unlock(&ix->sync_lock);
	return NULL;
}

int
spn_index_sync_soon(struct spn_index *ix)
{
	if (ix->broken)
		return ix->broken;
	if (!ix->syncer_up) {
		if (pthread_mutex_init(&ix->sync_lock, NULL) != 0)
			return spn_index_sync(ix);
		if (pthread_cond_init(&ix->sync_cond, NULL) != 0) {
			pthread_mutex_destroy(&ix->sync_lock);
			return spn_index_sync(ix);
		}
		if (pthread_create(&ix->syncer, NULL, syncer_main, ix) != 0) {
			pthread_cond_destroy(&ix->sync_cond);
			pthread_mutex_destroy(&ix->sync_lock);
			return spn_index_sync(ix); /* no thread: at once */
		}
		ix->syncer_up = 1;
	}
	pthread_mutex_lock(&ix->sync_lock);
	ix->sync_wanted = 1;
	pthread_cond_signal(&ix->sync_cond);
	pthread_mutex_unlock(&ix->sync_lock);
	return 0;
}

int
spn_index_sync(struct spn_index *ix)
{
	if (ix->in_batch)
		return -EBUSY;
	if (ix->broken)
		return ix->broken;
	return spn__err(mdb_env_sync(ix->env, 1));
}

int
spn_index_stats(struct spn_index *ix, uint64_t *entries, uint64_t *cached_bytes,
		uint64_t *dirty)
{
	MDB_txn *txn;
	MDB_stat st;
	uint64_t bytes;
	int rc;

	rc = spn__rd_begin(ix, &txn);
	if (rc)
		return rc;
	if (entries && !(rc = mdb_stat(txn, ix->db_ent, &st)))
		*entries = st.ms_entries;
	if (!rc && dirty && !(rc = mdb_stat(txn, ix->db_dirty, &st)))
		*dirty = st.ms_entries;
	if (!rc && cached_bytes &&
	    !(rc = spn__meta_u64(ix, txn, "cached_bytes", &bytes)))
		*cached_bytes = bytes;
	spn__rd_end(ix, txn);
	return spn__err(rc);
}

/* Copies out up to CHUNK LRU rows after pos (all from the start if
 * *poslen is 0), marking those that no longer match their record. */
static int
spn__lru_collect(struct spn_index *ix, uint8_t *pos, size_t *poslen,
		 struct spn__item *it, size_t *np)
{
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v, mk, d;
	uint8_t lk[LRU_KEY_MAX];
	size_t n = 0;
	int rc;

	*np = 0;
	rc = spn__rd_begin(ix, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, ix->db_lru, &c);
	if (rc) {
		spn__rd_end(ix, txn);
		return spn__err(rc);
	}
	if (*poslen == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	else
		rc = spn__seek_after(c, pos, *poslen, &k, &v);
	for (; rc == 0 && n < CHUNK; n++) {
		*poslen = k.mv_size;
		memcpy(pos, k.mv_data, k.mv_size);
		it[n].klen = k.mv_size;
		memcpy(it[n].key, k.mv_data, k.mv_size);
		it[n].stale = 1;
		mk.mv_size = k.mv_size - LRU_TS;
		mk.mv_data = (uint8_t *)k.mv_data + LRU_TS;
		if (k.mv_size > LRU_TS + KEY_MOUNT &&
		    k.mv_size <= LRU_KEY_MAX &&
		    mdb_get(txn, ix->db_ent, &mk, &d) == 0 &&
		    spn__decode(d.mv_data, d.mv_size, &it[n].e) == 0 &&
		    spn__lru_ok(&it[n].e) &&
		    spn__lru_key(lk, it[n].e.last_use_ns, mk.mv_data,
				 mk.mv_size) == k.mv_size &&
		    memcmp(lk, k.mv_data, k.mv_size) == 0 &&
		    spn__key_path(mk.mv_data, mk.mv_size, &it[n].mount,
				  it[n].path) == 0)
			it[n].stale = 0;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	spn__rd_end(ix, txn);
	*np = n;
	if (rc == MDB_NOTFOUND)
		return 1;
	return rc ? spn__err(rc) : 0;
}

int
spn_index_lru(struct spn_index *ix, uint64_t bytes_to_free, uint64_t *freed,
	      int (*evict)(uint16_t mount, const char *path,
			   const struct spn_entry *e, void *arg),
	      void *arg)
{
	uint8_t pos[ANY_KEY_MAX];
	struct spn__item *it;
	struct spn__op op;
	size_t poslen = 0, n, i;
	uint64_t got = 0;
	int rc, last;

	if (freed)
		*freed = 0;
	if (!evict)
		return -EINVAL;
	if (ix->in_batch)
		return -EBUSY;
	spn__soft_flush(ix); /* the LRU order as it is */
	it = malloc(CHUNK * sizeof(*it));
	if (!it)
		return -ENOMEM;
	rc = 0;
	while (got < bytes_to_free) {
		last = spn__lru_collect(ix, pos, &poslen, it, &n);
		if (last < 0) {
			rc = last;
			break;
		}
		for (i = 0; i < n && got < bytes_to_free; i++) {
			memset(&op, 0, sizeof(op));
			if (it[i].stale) {
				/* Left by an undecodable record's update. */
				op.kind = OP_LRU_DEL;
				op.key = it[i].key;
				op.klen = it[i].klen;
				rc = spn__run_single(ix, &op);
				if (rc)
					goto out;
				continue;
			}
			op.kind = OP_STUB;
			op.key = it[i].key + LRU_TS;
			op.klen = it[i].klen - LRU_TS;
			rc = evict(it[i].mount, it[i].path, &it[i].e, arg);
			if (rc == SPN_INDEX_KEEP)
				continue;
			if (rc != SPN_INDEX_EVICTED)
				goto out;
			rc = spn__run_single(ix, &op);
			/* The callback may have dropped the entry itself. */
			if (rc && rc != -ENOENT)
				goto out;
			got += it[i].e.cached_bytes;
		}
		rc = 0;
		if (last)
			break;
	}
out:
	free(it);
	if (freed)
		*freed = got;
	return rc;
}

int
spn_index_check(struct spn_index *ix, int repair, uint64_t *problems)
{
	struct spn__op op = {.kind = OP_REPAIR};
	MDB_txn *txn;
	uint64_t n = 0;
	int rc;

	if (problems)
		*problems = 0;
	if (ix->in_batch)
		return -EBUSY;
	spn__soft_flush(ix);
	if (repair) {
		rc = spn__run_single(ix, &op);
		n = op.out;
	} else {
		rc = spn__rd_begin(ix, &txn);
		if (rc)
			return rc;
		ix->wrc = 0;
		rc = spn__scan(ix, txn, 0, &n);
		spn__rd_end(ix, txn);
		if (!rc && n)
			rc = -EUCLEAN;
	}
	if (problems)
		*problems = n;
	return rc;
}

uint64_t
spn_index_map_size(struct spn_index *ix)
{
	MDB_envinfo info;

	if (mdb_env_info(ix->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}
