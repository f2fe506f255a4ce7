/*
 * test_index.c - the daemon's LMDB index: records, keys, subtrees, the
 * dirty set, batches, crash safety, map growth, corruption, LRU, kept
 * confirmations.
 *
 * Every test gets a fresh temporary directory (and an index open in it).
 * Some tests write into the LMDB file behind the index's back, to corrupt
 * it on purpose; they rely on the documented key layout.
 */
/* For nftw; the same definition as config.h's, so no clash. */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "client/daemon/index.h"

struct fx {
	char root[64];
	char dir[96];
	struct spn_index *ix;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->root, "/tmp/spn_index_XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/idx", fx->root);
	if (spn_index_open(&fx->ix, fx->dir, 0) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	spn_index_close(fx->ix);
	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void
reopen(struct fx *fx, uint64_t map_size)
{
	spn_index_close(fx->ix);
	fx->ix = NULL;
	assert_int_equal(spn_index_open(&fx->ix, fx->dir, map_size), 0);
}

/* An entry whose every field derives from seed, so that any mix-up of
 * fields or records shows. */
static struct spn_entry
mk(uint64_t seed, uint32_t type)
{
	struct spn_entry e;
	int i;

	memset(&e, 0, sizeof(e));
	e.state = SPN_ENT_STUB;
	e.fh_len = (uint8_t)(seed % (SPN_FH_MAX + 1));
	for (i = 0; i < e.fh_len; i++)
		e.fh[i] = (uint8_t)(seed * 7 + (uint64_t)i);
	e.attr.type = type;
	e.attr.mode = (uint32_t)(0600 + seed % 64);
	e.attr.nlink = (uint32_t)(seed + 1);
	e.attr.uid = (uint32_t)(seed + 2);
	e.attr.gid = (uint32_t)(seed + 3);
	e.attr.size = seed * 1000 + 4;
	e.attr.used = seed * 1000 + 5;
	e.attr.rdev = seed + 6;
	e.attr.fsid = seed + 7;
	e.attr.fileid = seed + 8;
	e.attr.atime.sec = (int64_t)seed + 9;
	e.attr.atime.nsec = (uint32_t)(seed + 10);
	e.attr.mtime.sec = (int64_t)seed + 11;
	e.attr.mtime.nsec = (uint32_t)(seed + 12);
	e.attr.ctime.sec = (int64_t)seed + 13;
	e.attr.ctime.nsec = (uint32_t)(seed + 14);
	e.validated_ns = (int64_t)seed + 15;
	e.attr_timeo_ns = (int64_t)seed + 16;
	e.attr_timeo_stamp_ns = (int64_t)seed + 17;
	e.content_mtime.sec = (int64_t)seed + 18;
	e.content_mtime.nsec = (uint32_t)(seed + 19);
	e.content_ctime.sec = (int64_t)seed + 20;
	e.content_ctime.nsec = (uint32_t)(seed + 21);
	e.content_size = seed + 22;
	e.content_fileid = seed + 23;
	e.last_use_ns = (int64_t)seed + 24;
	e.cached_bytes = 0;
	e.dirty_gen = seed + 26;
	return e;
}

static void
assert_entry_equal(const struct spn_entry *a, const struct spn_entry *b)
{
	/* Both come from memset structs: padding compares equal too. */
	assert_memory_equal(a, b, sizeof(*a));
}

static void
put_ok(struct spn_index *ix, uint16_t mount, const char *path,
       const struct spn_entry *e)
{
	assert_int_equal(spn_index_put(ix, mount, path, e), 0);
}

static int
exists(struct spn_index *ix, uint16_t mount, const char *path)
{
	struct spn_entry e;
	int rc = spn_index_get(ix, mount, path, &e);

	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0;
}

/* ------------------------------------------------- raw LMDB access */

/* The documented key: mount big-endian, path with '/' as '\0', "/" as
 * nothing. */
static size_t
raw_key(uint8_t *k, uint16_t mount, const char *path)
{
	size_t i, n = strlen(path);

	k[0] = (uint8_t)(mount >> 8);
	k[1] = (uint8_t)mount;
	if (strcmp(path, "/") == 0)
		return 2;
	for (i = 0; i < n; i++)
		k[2 + i] = path[i] == '/' ? 0 : (uint8_t)path[i];
	return 2 + n;
}

struct raw {
	MDB_env *env;
	MDB_txn *txn;
};

static MDB_dbi
raw_open(struct raw *r, const char *dir, const char *db)
{
	MDB_dbi dbi;

	assert_int_equal(mdb_env_create(&r->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(r->env, 4), 0);
	assert_int_equal(mdb_env_open(r->env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
	assert_int_equal(mdb_dbi_open(r->txn, db, 0, &dbi), 0);
	return dbi;
}

static void
raw_close(struct raw *r)
{
	assert_int_equal(mdb_txn_commit(r->txn), 0);
	mdb_env_close(r->env);
}

/* Replaces (or, with len == SIZE_MAX, deletes) one row; the index must
 * be closed: one process must not open an environment twice. */
static void
raw_set(const char *dir, const char *db, const void *key, size_t klen,
	const void *val, size_t len)
{
	struct raw r;
	MDB_dbi dbi = raw_open(&r, dir, db);
	MDB_val k = {klen, (void *)key}, v = {len, (void *)val};

	if (len == SIZE_MAX)
		assert_int_equal(mdb_del(r.txn, dbi, &k, NULL), 0);
	else
		assert_int_equal(mdb_put(r.txn, dbi, &k, &v, 0), 0);
	raw_close(&r);
}

static size_t
raw_get(const char *dir, const char *db, const void *key, size_t klen,
	void *val, size_t cap)
{
	struct raw r;
	MDB_dbi dbi = raw_open(&r, dir, db);
	MDB_val k = {klen, (void *)key}, v;

	assert_int_equal(mdb_get(r.txn, dbi, &k, &v), 0);
	assert_true(v.mv_size <= cap);
	memcpy(val, v.mv_data, v.mv_size);
	raw_close(&r);
	return v.mv_size;
}

/* -------------------------------------------------------- callbacks */

struct names {
	int n;
	char name[256][64];
	int stop_at; /* return 7 at this call (1-based), 0: never */
};

static int
collect_child(const char *name, const struct spn_entry *e, void *arg)
{
	struct names *ns = arg;

	if (ns->n < 256)
		snprintf(ns->name[ns->n], sizeof(ns->name[0]), "%s", name);
	ns->n++;
	return ns->n == ns->stop_at ? 7 : 0;
}

static int
collect_dirty(uint16_t mount, const char *path, const struct spn_entry *e,
	      void *arg)
{
	struct names *ns = arg;

	assert_true(e->flags & SPN_EF_WRITEBACK);
	if (ns->n < 256)
		snprintf(ns->name[ns->n], sizeof(ns->name[0]), "%u:%s", mount,
			 path);
	ns->n++;
	return 0;
}

static int
count_dirty(struct spn_index *ix)
{
	struct names ns = {0};

	assert_int_equal(spn_index_foreach_dirty(ix, collect_dirty, &ns), 0);
	return ns.n;
}

/* ------------------------------------------------------------ tests */

static void
test_roundtrip_all_fields(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e, got;
	uint8_t key[8], rec[512];
	int i;

	/* Every field distinct, extremes included. */
	e = mk(SPN_FH_MAX, S_IFREG);
	assert_int_equal(e.fh_len, SPN_FH_MAX);
	e.state = SPN_ENT_CACHED;
	e.flags = SPN_EF_DIR_COMPLETE | SPN_EF_DIRTY | SPN_EF_CREATED_LOCALLY;
	e.attr.size = UINT64_MAX;
	e.attr.fileid = UINT64_MAX - 1;
	e.attr.mtime.sec = INT64_MIN;
	e.attr.mtime.nsec = 999999999;
	e.attr.ctime.sec = -1;
	e.validated_ns = INT64_MAX;
	e.last_use_ns = -123456789;
	e.cached_bytes = 1ULL << 40;
	e.dirty_gen = UINT64_MAX;
	put_ok(fx->ix, 1, "/a", &e);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(spn_index_get(fx->ix, 1, "/a", &got), 0);
	assert_entry_equal(&got, &e);

	/* Replacing, with an empty handle, and many seeds. */
	for (i = 0; i < 300; i++) {
		e = mk((uint64_t)i, i % 2 ? S_IFDIR : S_IFREG);
		put_ok(fx->ix, 1, "/a", &e);
		assert_int_equal(spn_index_get(fx->ix, 1, "/a", &got), 0);
		assert_entry_equal(&got, &e);
	}
	e = mk(0, S_IFLNK);
	assert_int_equal(e.fh_len, 0);
	put_ok(fx->ix, 1, "/a", &e);
	assert_int_equal(spn_index_get(fx->ix, 1, "/a", &got), 0);
	assert_entry_equal(&got, &e);
	/* NULL out: an existence check. */
	assert_int_equal(spn_index_get(fx->ix, 1, "/a", NULL), 0);

	/* The record is explicit: version 1, 188 bytes + handle. */
	spn_index_close(fx->ix);
	fx->ix = NULL;
	assert_int_equal(raw_get(fx->dir, "entries", key, raw_key(key, 1, "/a"),
				 rec, sizeof(rec)),
			 188);
	assert_int_equal(rec[0], 1);
	assert_int_equal(rec[1], SPN_ENT_STUB);
	reopen(fx, 0);
	assert_int_equal(spn_index_get(fx->ix, 1, "/a", &got), 0);
	assert_entry_equal(&got, &e);

	/* Entries that cannot be stored. */
	e.state = 0;
	assert_int_equal(spn_index_put(fx->ix, 1, "/b", &e), -EINVAL);
	e.state = 3;
	assert_int_equal(spn_index_put(fx->ix, 1, "/b", &e), -EINVAL);
	e.state = SPN_ENT_STUB;
	e.fh_len = SPN_FH_MAX + 1;
	assert_int_equal(spn_index_put(fx->ix, 1, "/b", &e), -EINVAL);
	assert_int_equal(spn_index_put(fx->ix, 1, "/b", NULL), -EINVAL);
	assert_false(exists(fx->ix, 1, "/b"));
}

static void
test_get_absent(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(1, S_IFREG), got = mk(2, S_IFREG), keep = got;

	assert_int_equal(spn_index_get(fx->ix, 1, "/", &got), -ENOENT);
	assert_int_equal(spn_index_get(fx->ix, 1, "/nope", &got), -ENOENT);
	put_ok(fx->ix, 1, "/a/b", &e);
	/* Neither the parent nor a prefix of the name. */
	assert_int_equal(spn_index_get(fx->ix, 1, "/a", &got), -ENOENT);
	assert_int_equal(spn_index_get(fx->ix, 1, "/a/", &got), -EINVAL);
	assert_int_equal(spn_index_get(fx->ix, 1, "/a/bc", &got), -ENOENT);
	assert_int_equal(spn_index_get(fx->ix, 1, "/a/b/c", &got), -ENOENT);
	assert_entry_equal(&got, &keep);
}

static void
test_del(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(3, S_IFDIR);

	put_ok(fx->ix, 1, "/d", &e);
	put_ok(fx->ix, 1, "/d/x", &e);
	assert_int_equal(spn_index_del(fx->ix, 1, "/d"), 0);
	assert_false(exists(fx->ix, 1, "/d"));
	/* del is not recursive. */
	assert_true(exists(fx->ix, 1, "/d/x"));
	assert_int_equal(spn_index_del(fx->ix, 1, "/d"), -ENOENT);
	assert_int_equal(spn_index_del(fx->ix, 2, "/d/x"), -ENOENT);
	assert_int_equal(spn_index_del(fx->ix, 1, "/d/x"), 0);
	assert_int_equal(spn_index_del(fx->ix, 1, "/d/x"), -ENOENT);
}

static void
test_del_tree_exact(void **state)
{
	struct fx *fx = *state;
	static const char *const all[] = {
	    "/",     "/a",   "/a/b", "/a/b/c", "/a/z", "/a!",	"/a-",
	    "/a-/x", "/a.b", "/ab",  "/ab/c",  "/b",   "/\x01", "/\xff",
	};
	static const char *const gone[] = {"/a", "/a/b", "/a/b/c", "/a/z"};
	struct spn_entry e = mk(4, S_IFDIR);
	size_t i, j;
	int isgone;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		put_ok(fx->ix, 1, all[i], &e);
		put_ok(fx->ix, 2, all[i], &e);
	}
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/a"), 0);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		for (isgone = 0, j = 0; j < sizeof(gone) / sizeof(gone[0]); j++)
			isgone |= strcmp(all[i], gone[j]) == 0;
		assert_int_equal(exists(fx->ix, 1, all[i]), !isgone);
		assert_true(exists(fx->ix, 2, all[i]));
	}
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/a"), -ENOENT);
	/* A leaf, and a subtree whose root has no record of its own. */
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/b"), 0);
	assert_int_equal(spn_index_del(fx->ix, 1, "/a-"), 0);
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/a-"), 0);
	assert_false(exists(fx->ix, 1, "/a-/x"));
	/* "/" empties the mount and only it. */
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/"), 0);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_false(exists(fx->ix, 1, all[i]));
		assert_true(exists(fx->ix, 2, all[i]));
	}
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/"), -ENOENT);
}

static int
evict_ok(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct names *ns = arg;

	if (ns->n < 256)
		snprintf(ns->name[ns->n], sizeof(ns->name[0]), "%u:%s", mount,
			 path);
	ns->n++;
	return SPN_INDEX_EVICTED;
}

static void
test_rename_tree(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e[6], got, d;
	struct names ns = {0};
	uint64_t freed, problems;
	int i;

	for (i = 0; i < 6; i++)
		e[i] = mk((uint64_t)i + 10, S_IFREG);
	e[2].flags = SPN_EF_DIRTY;
	e[3].state = SPN_ENT_CACHED;
	e[3].cached_bytes = 77;
	put_ok(fx->ix, 1, "/src", &e[0]);
	put_ok(fx->ix, 1, "/src/a.c", &e[1]);
	put_ok(fx->ix, 1, "/src/sub/x.h", &e[2]);
	put_ok(fx->ix, 1, "/src/sub/y.h", &e[3]);
	put_ok(fx->ix, 1, "/srcx", &e[4]);
	put_ok(fx->ix, 1, "/src-", &e[5]);
	/* The target exists: replaced as by rename(2). */
	d = mk(99, S_IFREG);
	d.flags = SPN_EF_DIRTY;
	put_ok(fx->ix, 1, "/dst", &d);
	put_ok(fx->ix, 1, "/dst/old", &d);
	assert_int_equal(count_dirty(fx->ix), 3);

	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/src", "/dst"), 0);
	assert_false(exists(fx->ix, 1, "/src"));
	assert_false(exists(fx->ix, 1, "/src/a.c"));
	assert_false(exists(fx->ix, 1, "/src/sub/x.h"));
	assert_false(exists(fx->ix, 1, "/dst/old"));
	assert_int_equal(spn_index_get(fx->ix, 1, "/dst", &got), 0);
	assert_entry_equal(&got, &e[0]);
	assert_int_equal(spn_index_get(fx->ix, 1, "/dst/a.c", &got), 0);
	assert_entry_equal(&got, &e[1]);
	assert_int_equal(spn_index_get(fx->ix, 1, "/dst/sub/x.h", &got), 0);
	assert_entry_equal(&got, &e[2]);
	assert_int_equal(spn_index_get(fx->ix, 1, "/dst/sub/y.h", &got), 0);
	assert_entry_equal(&got, &e[3]);
	assert_int_equal(spn_index_get(fx->ix, 1, "/srcx", &got), 0);
	assert_entry_equal(&got, &e[4]);
	assert_true(exists(fx->ix, 1, "/src-"));

	/* The dirty row and the LRU row follow the keys. */
	assert_int_equal(spn_index_foreach_dirty(fx->ix, collect_dirty, &ns),
			 0);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.name[0], "1:/dst/sub/x.h");
	ns.n = 0;
	assert_int_equal(spn_index_lru(fx->ix, 1000, &freed, evict_ok, &ns), 0);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.name[0], "1:/dst/sub/y.h");
	assert_int_equal(freed, 77);
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);

	/* Deeper: into a new parent, and back. */
	assert_int_equal(
	    spn_index_rename_tree(fx->ix, 1, "/dst/sub", "/srcx/deeper/sub"),
	    0);
	assert_int_equal(spn_index_get(fx->ix, 1, "/srcx/deeper/sub/x.h", &got),
			 0);
	assert_entry_equal(&got, &e[2]);
	assert_int_equal(
	    spn_index_rename_tree(fx->ix, 1, "/srcx/deeper/sub", "/dst/sub"),
	    0);
	assert_true(exists(fx->ix, 1, "/dst/sub/y.h"));
	/* A leaf. */
	assert_int_equal(
	    spn_index_rename_tree(fx->ix, 1, "/dst/a.c", "/dst/b.c"), 0);
	assert_true(exists(fx->ix, 1, "/dst/b.c"));
	assert_false(exists(fx->ix, 1, "/dst/a.c"));
	/* Same name: no-op. */
	assert_int_equal(
	    spn_index_rename_tree(fx->ix, 1, "/dst/b.c", "/dst/b.c"), 0);
	assert_true(exists(fx->ix, 1, "/dst/b.c"));
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
}

static void
test_rename_errors(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(5, S_IFDIR);
	char longp[SPN_INDEX_PATH_MAX + 1];

	put_ok(fx->ix, 1, "/a", &e);
	put_ok(fx->ix, 1, "/a/b", &e);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/nope", "/x"),
			 -ENOENT);
	/* Only children, no record for the top of the move: they move. */
	put_ok(fx->ix, 1, "/p/q", &e);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/p", "/x"), 0);
	assert_true(exists(fx->ix, 1, "/x/q"));
	assert_false(exists(fx->ix, 1, "/p/q"));
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/p", "/p"), -ENOENT);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/a", "/a/b/c"),
			 -EINVAL);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/a/b", "/a"),
			 -EINVAL);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/", "/x"), -EINVAL);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/a", "/"), -EINVAL);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/a", "x"), -EINVAL);
	/* Would make "/a/b" longer than allowed: nothing moves. */
	memset(longp, 'L', sizeof(longp));
	longp[0] = '/';
	longp[SPN_INDEX_PATH_MAX - 1] = '\0';
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/a", longp),
			 -ENAMETOOLONG);
	assert_true(exists(fx->ix, 1, "/a"));
	assert_true(exists(fx->ix, 1, "/a/b"));
	/* Exactly at the limit is fine. */
	longp[SPN_INDEX_PATH_MAX - 2] = '\0';
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/a", longp), 0);
	assert_false(exists(fx->ix, 1, "/a"));
}

static void
test_foreach_child(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(6, S_IFDIR);
	struct names ns = {0};

	put_ok(fx->ix, 1, "/", &e);
	put_ok(fx->ix, 1, "/a", &e);
	put_ok(fx->ix, 1, "/a/x", &e);
	put_ok(fx->ix, 1, "/a/y", &e);
	put_ok(fx->ix, 1, "/a/y/z", &e);
	put_ok(fx->ix, 1, "/a-", &e);
	put_ok(fx->ix, 1, "/ab", &e);
	put_ok(fx->ix, 1, "/b", &e);
	put_ok(fx->ix, 1, "/q/r", &e); /* no record for /q */
	put_ok(fx->ix, 2, "/other", &e);

	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/", collect_child, &ns), 0);
	assert_int_equal(ns.n, 4);
	assert_string_equal(ns.name[0], "a");
	assert_string_equal(ns.name[1], "a-");
	assert_string_equal(ns.name[2], "ab");
	assert_string_equal(ns.name[3], "b");

	memset(&ns, 0, sizeof(ns));
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/a", collect_child, &ns), 0);
	assert_int_equal(ns.n, 2);
	assert_string_equal(ns.name[0], "x");
	assert_string_equal(ns.name[1], "y");

	memset(&ns, 0, sizeof(ns));
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/q", collect_child, &ns), 0);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.name[0], "r");

	/* Leaves, absent dirs, other mounts: nothing. */
	memset(&ns, 0, sizeof(ns));
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/a/x", collect_child, &ns), 0);
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/zz", collect_child, &ns), 0);
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 3, "/", collect_child, &ns), 0);
	assert_int_equal(ns.n, 0);

	/* A non-zero return stops and comes back. */
	memset(&ns, 0, sizeof(ns));
	ns.stop_at = 2;
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/", collect_child, &ns), 7);
	assert_int_equal(ns.n, 2);

	assert_int_equal(spn_index_foreach_child(fx->ix, 1, "/", NULL, NULL),
			 -EINVAL);
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/a/", collect_child, &ns),
	    -EINVAL);
}

struct walk {
	struct spn_index *ix;
	int n, nested;
	char last[64];
};

/* Writes to the index and walks it again while being walked. */
static int
touch_child(const char *name, const struct spn_entry *e, void *arg)
{
	struct walk *w = arg;
	struct spn_entry t = *e;
	struct names ns = {0};
	char path[128];

	assert_true(strcmp(w->last, name) < 0);
	snprintf(w->last, sizeof(w->last), "%s", name);
	snprintf(path, sizeof(path), "/big/%s", name);
	t.last_use_ns++;
	assert_int_equal(spn_index_put(w->ix, 1, path, &t), 0);
	/* A new sibling sorting before this one: never visited. */
	snprintf(path, sizeof(path), "/big/b%s", name);
	assert_int_equal(spn_index_put(w->ix, 1, path, &t), 0);
	snprintf(path, sizeof(path), "/big/%s", name);
	assert_int_equal(
	    spn_index_foreach_child(w->ix, 1, path, collect_child, &ns), 0);
	w->nested += ns.n;
	w->n++;
	return 0;
}

static void
test_foreach_child_large_and_writing(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(7, S_IFDIR), got;
	struct walk w = {.ix = fx->ix};
	char path[128];
	int i, j;

	assert_int_equal(spn_index_begin(fx->ix), 0);
	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/big/c%03d", i);
		put_ok(fx->ix, 1, path, &e);
		for (j = 0; j < 3; j++) {
			snprintf(path, sizeof(path), "/big/c%03d/g%d", i, j);
			put_ok(fx->ix, 1, path, &e);
		}
	}
	assert_int_equal(spn_index_commit(fx->ix), 0);
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/big", touch_child, &w), 0);
	assert_int_equal(w.n, 200);
	assert_int_equal(w.nested, 600);
	assert_int_equal(spn_index_get(fx->ix, 1, "/big/c123", &got), 0);
	assert_int_equal(got.last_use_ns, e.last_use_ns + 1);

	/* The same inside a batch, which the callbacks then write into. */
	memset(&w, 0, sizeof(w));
	w.ix = fx->ix;
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/big"), 0);
	assert_int_equal(spn_index_begin(fx->ix), 0);
	for (i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/big/c%03d", i);
		put_ok(fx->ix, 1, path, &e);
	}
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 1, "/big", touch_child, &w), 0);
	assert_int_equal(w.n, 100);
	spn_index_abort(fx->ix);
	assert_false(exists(fx->ix, 1, "/big/c000"));
}

static void
test_dirty_set(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(8, S_IFREG), got;
	struct names ns = {0};
	uint64_t dirty;

	put_ok(fx->ix, 1, "/clean", &e);
	assert_int_equal(count_dirty(fx->ix), 0);
	e.flags = SPN_EF_DIRTY;
	put_ok(fx->ix, 1, "/w/f", &e);
	put_ok(fx->ix, 2, "/a", &e);
	put_ok(fx->ix, 0, "/z", &e);
	e.flags = SPN_EF_CREATED_LOCALLY;
	put_ok(fx->ix, 1, "/w", &e);
	e.flags = SPN_EF_DIR_COMPLETE;
	put_ok(fx->ix, 1, "/complete", &e);
	assert_int_equal(spn_index_stats(fx->ix, NULL, NULL, &dirty), 0);
	assert_int_equal(dirty, 4);

	/* (mount, path) order: a directory before what is inside it. */
	assert_int_equal(spn_index_foreach_dirty(fx->ix, collect_dirty, &ns),
			 0);
	assert_int_equal(ns.n, 4);
	assert_string_equal(ns.name[0], "0:/z");
	assert_string_equal(ns.name[1], "1:/w");
	assert_string_equal(ns.name[2], "1:/w/f");
	assert_string_equal(ns.name[3], "2:/a");

	/* Survives close and reopen. */
	reopen(fx, 0);
	assert_int_equal(count_dirty(fx->ix), 4);

	/* A new generation keeps the row; cleaning drops it. */
	assert_int_equal(spn_index_get(fx->ix, 1, "/w/f", &got), 0);
	got.dirty_gen++;
	put_ok(fx->ix, 1, "/w/f", &got);
	assert_int_equal(count_dirty(fx->ix), 4);
	got.flags &= (uint8_t)~SPN_EF_DIRTY;
	put_ok(fx->ix, 1, "/w/f", &got);
	assert_int_equal(count_dirty(fx->ix), 3);
	assert_int_equal(spn_index_del(fx->ix, 2, "/a"), 0);
	assert_int_equal(count_dirty(fx->ix), 2);
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/w"), 0);
	assert_int_equal(count_dirty(fx->ix), 1);
	reopen(fx, 0);
	memset(&ns, 0, sizeof(ns));
	assert_int_equal(spn_index_foreach_dirty(fx->ix, collect_dirty, &ns),
			 0);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.name[0], "0:/z");
	assert_int_equal(spn_index_sync(fx->ix), 0);
	/* The sync on its own thread: requests coalesce, close waits for
	 * it, and what was committed is there after. */
	assert_int_equal(spn_index_sync_soon(fx->ix), 0);
	assert_int_equal(spn_index_sync_soon(fx->ix), 0);
	reopen(fx, 0);
	assert_int_equal(count_dirty(fx->ix), 1);
	assert_int_equal(spn_index_sync_soon(fx->ix), 0);
}

static int
clean_dirty(uint16_t mount, const char *path, const struct spn_entry *e,
	    void *arg)
{
	struct spn_index *ix = arg;
	struct spn_entry c = *e;

	c.flags &= (uint8_t)~SPN_EF_WRITEBACK;
	return spn_index_put(ix, mount, path, &c);
}

static void
test_dirty_many_cleaned_during_walk(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(9, S_IFREG);
	char path[64];
	int i;

	e.flags = SPN_EF_DIRTY;
	assert_int_equal(spn_index_begin(fx->ix), 0);
	for (i = 0; i < 150; i++) {
		snprintf(path, sizeof(path), "/d%03d", i);
		put_ok(fx->ix, 1, path, &e);
	}
	assert_int_equal(spn_index_commit(fx->ix), 0);
	assert_int_equal(count_dirty(fx->ix), 150);
	/* Write-back as the daemon will do it: clean each while walking. */
	assert_int_equal(spn_index_foreach_dirty(fx->ix, clean_dirty, fx->ix),
			 0);
	assert_int_equal(count_dirty(fx->ix), 0);
}

static void
test_batch(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(10, S_IFREG), got;
	uint64_t n;
	char path[64];
	int i;

	assert_int_equal(spn_index_commit(fx->ix), -EINVAL);
	spn_index_abort(fx->ix);

	assert_int_equal(spn_index_begin(fx->ix), 0);
	assert_int_equal(spn_index_begin(fx->ix), -EBUSY);
	for (i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "/r/%04d", i);
		put_ok(fx->ix, 1, path, &e);
	}
	/* Reads see the batch. */
	assert_int_equal(spn_index_get(fx->ix, 1, "/r/0500", &got), 0);
	assert_int_equal(spn_index_stats(fx->ix, &n, NULL, NULL), 0);
	assert_int_equal(n, 1000);
	/* Argument errors leave the batch whole. */
	assert_int_equal(spn_index_del(fx->ix, 1, "/nope"), -ENOENT);
	assert_int_equal(spn_index_put(fx->ix, 1, "bad", &e), -EINVAL);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/x", "/y"), -ENOENT);
	assert_int_equal(spn_index_del(fx->ix, 1, "/r/0999"), 0);
	/* Not inside a batch. */
	assert_int_equal(spn_index_sync(fx->ix), -EBUSY);
	assert_int_equal(spn_index_lru(fx->ix, 1, NULL, evict_ok, NULL),
			 -EBUSY);
	assert_int_equal(spn_index_check(fx->ix, 0, NULL), -EBUSY);
	spn_index_abort(fx->ix);
	assert_false(exists(fx->ix, 1, "/r/0000"));
	assert_int_equal(spn_index_stats(fx->ix, &n, NULL, NULL), 0);
	assert_int_equal(n, 0);

	assert_int_equal(spn_index_begin(fx->ix), 0);
	for (i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "/r/%04d", i);
		put_ok(fx->ix, 1, path, &e);
	}
	assert_int_equal(spn_index_del(fx->ix, 1, "/r/0999"), 0);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/r", "/s"), 0);
	assert_int_equal(spn_index_commit(fx->ix), 0);
	assert_int_equal(spn_index_stats(fx->ix, &n, NULL, NULL), 0);
	assert_int_equal(n, 999);
	assert_true(exists(fx->ix, 1, "/s/0998"));
	assert_false(exists(fx->ix, 1, "/s/0999"));
	assert_false(exists(fx->ix, 1, "/r/0000"));
	assert_int_equal(spn_index_commit(fx->ix), -EINVAL);
	/* An empty batch. */
	assert_int_equal(spn_index_begin(fx->ix), 0);
	assert_int_equal(spn_index_commit(fx->ix), 0);
	assert_int_equal(spn_index_sync(fx->ix), 0);
}

/* The crash tests' children report through exit codes, never cmocka. */
#define CHILD_CHECK(x)                                                         \
	do {                                                                   \
		if (!(x))                                                      \
			_exit(100 + __LINE__ % 100);                           \
	} while (0)

static void
test_crash_mid_batch(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e, got;
	struct names ns = {0};
	uint64_t n, problems;
	char path[64];
	pid_t pid;
	int i, st;

	/* No environment may cross a fork. */
	spn_index_close(fx->ix);
	fx->ix = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spn_index *ix;

		CHILD_CHECK(spn_index_open(&ix, fx->dir, 0) == 0);
		for (i = 0; i < 200; i++) {
			snprintf(path, sizeof(path), "/f/%03d", i);
			e = mk((uint64_t)i, S_IFREG);
			if (i % 10 == 0)
				e.flags = SPN_EF_DIRTY;
			CHILD_CHECK(spn_index_put(ix, 1, path, &e) == 0);
		}
		CHILD_CHECK(spn_index_sync(ix) == 0);
		/* Committed, never synced: a process kill loses none. */
		CHILD_CHECK(spn_index_begin(ix) == 0);
		for (i = 0; i < 50; i++) {
			snprintf(path, sizeof(path), "/b/%03d", i);
			e = mk((uint64_t)i + 1000, S_IFREG);
			CHILD_CHECK(spn_index_put(ix, 1, path, &e) == 0);
		}
		CHILD_CHECK(spn_index_commit(ix) == 0);
		/* Killed in the middle of this one. */
		CHILD_CHECK(spn_index_begin(ix) == 0);
		for (i = 0; i < 100; i++) {
			snprintf(path, sizeof(path), "/u/%03d", i);
			e = mk((uint64_t)i + 2000, S_IFREG);
			e.flags = SPN_EF_DIRTY;
			CHILD_CHECK(spn_index_put(ix, 1, path, &e) == 0);
		}
		CHILD_CHECK(spn_index_del(ix, 1, "/f/001") == 0);
		CHILD_CHECK(spn_index_del_tree(ix, 1, "/b") == 0);
		e = mk(2, S_IFREG);
		e.flags = SPN_EF_DIRTY;
		CHILD_CHECK(spn_index_put(ix, 1, "/f/002", &e) == 0);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);

	assert_int_equal(spn_index_open(&fx->ix, fx->dir, 0), 0);
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/f/%03d", i);
		e = mk((uint64_t)i, S_IFREG);
		if (i % 10 == 0)
			e.flags = SPN_EF_DIRTY;
		assert_int_equal(spn_index_get(fx->ix, 1, path, &got), 0);
		assert_entry_equal(&got, &e);
	}
	for (i = 0; i < 50; i++) {
		snprintf(path, sizeof(path), "/b/%03d", i);
		e = mk((uint64_t)i + 1000, S_IFREG);
		assert_int_equal(spn_index_get(fx->ix, 1, path, &got), 0);
		assert_entry_equal(&got, &e);
	}
	for (i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/u/%03d", i);
		assert_false(exists(fx->ix, 1, path));
	}
	assert_int_equal(spn_index_stats(fx->ix, &n, NULL, NULL), 0);
	assert_int_equal(n, 250);
	assert_int_equal(spn_index_foreach_dirty(fx->ix, collect_dirty, &ns),
			 0);
	assert_int_equal(ns.n, 20);
	for (i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "1:/f/%03d", i * 10);
		assert_string_equal(ns.name[i], path);
	}
	/* The writer lock the dead child held is free again. */
	assert_int_equal(spn_index_begin(fx->ix), 0);
	put_ok(fx->ix, 1, "/after", &e);
	assert_int_equal(spn_index_commit(fx->ix), 0);
	assert_true(exists(fx->ix, 1, "/after"));
}

#define KBATCH 20

static struct spn_entry
rk_entry(int b, int i, int dirty)
{
	struct spn_entry e = mk((uint64_t)b * 100 + (uint64_t)i, S_IFREG);

	e.state = SPN_ENT_CACHED;
	e.cached_bytes = (uint64_t)i;
	if (dirty)
		e.flags = SPN_EF_DIRTY;
	return e;
}

/* Child: commits batch after batch from `from` on, each fully written or
 * not at all, and reports each commit down the pipe. Batch b also moves
 * the one dirty mark from batch b-1's first entry to its own. */
static void
rk_child(const char *dir, int from, int fd)
{
	struct spn_index *ix;
	struct spn_entry e;
	char path[64];
	int b, i;

	CHILD_CHECK(spn_index_open(&ix, dir, 0) == 0);
	for (b = from;; b++) {
		CHILD_CHECK(spn_index_begin(ix) == 0);
		for (i = 0; i < KBATCH; i++) {
			snprintf(path, sizeof(path), "/r/%05d/%02d", b, i);
			e = rk_entry(b, i, i == 0);
			CHILD_CHECK(spn_index_put(ix, 1, path, &e) == 0);
		}
		if (b > 0) {
			snprintf(path, sizeof(path), "/r/%05d/00", b - 1);
			e = rk_entry(b - 1, 0, 0);
			CHILD_CHECK(spn_index_put(ix, 1, path, &e) == 0);
		}
		CHILD_CHECK(spn_index_commit(ix) == 0);
		if (b % 5 == 0)
			CHILD_CHECK(spn_index_sync(ix) == 0);
		CHILD_CHECK(write(fd, &b, sizeof(b)) == sizeof(b));
	}
}

static int
rk_count(struct spn_index *ix, int b)
{
	struct spn_entry got, want;
	char path[64];
	int i, n = 0;

	for (i = 0; i < KBATCH; i++) {
		snprintf(path, sizeof(path), "/r/%05d/%02d", b, i);
		if (spn_index_get(ix, 1, path, &got) != 0)
			continue;
		want = rk_entry(b, i, 0);
		got.flags = 0;
		assert_entry_equal(&got, &want);
		n++;
	}
	return n;
}

static void
test_crash_random_kills(void **state)
{
	struct fx *fx = *state;
	struct spn_entry got;
	struct names ns = {0};
	int round, next = 0, last, b, n, st, p[2], want;
	uint64_t problems, bytes, entries;
	char path[64];
	pid_t pid;

	srand(12345);
	spn_index_close(fx->ix);
	fx->ix = NULL;
	for (round = 0; round < 8; round++) {
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			rk_child(fx->dir, next, p[1]);
			_exit(1);
		}
		close(p[1]);
		/* Let it commit a few, then kill it wherever it is. */
		want = 1 + rand() % 12;
		last = next - 1;
		while (want-- > 0 &&
		       read(p[0], &b, sizeof(b)) == (ssize_t)sizeof(b))
			last = b;
		usleep((useconds_t)(rand() % 3000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		while (read(p[0], &b, sizeof(b)) == (ssize_t)sizeof(b))
			last = b;
		close(p[0]);

		assert_int_equal(spn_index_open(&fx->ix, fx->dir, 0), 0);
		assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
		/* Reported commits are all there; the one after may have
		 * committed unreported, whole or not at all; none beyond. */
		for (b = 0; b <= last; b++)
			assert_int_equal(rk_count(fx->ix, b), KBATCH);
		n = rk_count(fx->ix, last + 1);
		assert_true(n == 0 || n == KBATCH);
		if (n)
			last++;
		assert_int_equal(rk_count(fx->ix, last + 1), 0);
		/* Exactly one dirty mark, on the last batch's first entry. */
		memset(&ns, 0, sizeof(ns));
		assert_int_equal(
		    spn_index_foreach_dirty(fx->ix, collect_dirty, &ns), 0);
		if (last >= 0) {
			assert_int_equal(ns.n, 1);
			snprintf(path, sizeof(path), "1:/r/%05d/00", last);
			assert_string_equal(ns.name[0], path);
			snprintf(path, sizeof(path), "/r/%05d/00", last);
			assert_int_equal(spn_index_get(fx->ix, 1, path, &got),
					 0);
			assert_true(got.flags & SPN_EF_DIRTY);
		} else {
			assert_int_equal(ns.n, 0);
		}
		assert_int_equal(
		    spn_index_stats(fx->ix, &entries, &bytes, NULL), 0);
		assert_int_equal(entries, (uint64_t)(last + 1) * KBATCH);
		assert_int_equal(bytes, (uint64_t)(last + 1) * KBATCH *
					    (KBATCH - 1) / 2);
		spn_index_close(fx->ix);
		fx->ix = NULL;
		next = last + 1;
	}
	assert_true(next >= 8);
	assert_int_equal(spn_index_open(&fx->ix, fx->dir, 0), 0);
}

static void
test_map_growth_single(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e, got;
	uint64_t start, n, problems;
	char path[64];
	int i;

	spn_index_close(fx->ix);
	fx->ix = NULL;
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(spn_index_open(&fx->ix, fx->dir, 64 * 1024), 0);
	start = spn_index_map_size(fx->ix);
	assert_int_equal(start, 64 * 1024);
	for (i = 0; i < 4000; i++) {
		snprintf(path, sizeof(path), "/grow/%05d", i);
		e = mk((uint64_t)i, S_IFREG);
		e.state = SPN_ENT_CACHED;
		e.cached_bytes = 1;
		e.flags = i % 3 ? 0 : SPN_EF_DIRTY;
		put_ok(fx->ix, 1, path, &e);
	}
	assert_true(spn_index_map_size(fx->ix) >= 16 * start);
	for (i = 0; i < 4000; i += 7) {
		snprintf(path, sizeof(path), "/grow/%05d", i);
		assert_int_equal(spn_index_get(fx->ix, 1, path, &got), 0);
		assert_int_equal(got.attr.fileid, (uint64_t)i + 8);
	}
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
	/* The grown size is stored: a reopen with a small size keeps it. */
	reopen(fx, 64 * 1024);
	assert_true(spn_index_map_size(fx->ix) >= 16 * start);
	assert_int_equal(spn_index_stats(fx->ix, &n, NULL, NULL), 0);
	assert_int_equal(n, 4000);
}

static void
test_map_growth_in_batch(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e, got;
	uint64_t n, bytes, dirty, problems, start;
	char path[64];
	int i;

	spn_index_close(fx->ix);
	fx->ix = NULL;
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(spn_index_open(&fx->ix, fx->dir, 64 * 1024), 0);
	start = spn_index_map_size(fx->ix);

	/* Aborted after growing: nothing stays. */
	assert_int_equal(spn_index_begin(fx->ix), 0);
	for (i = 0; i < 2000; i++) {
		snprintf(path, sizeof(path), "/a/%05d", i);
		e = mk((uint64_t)i, S_IFREG);
		put_ok(fx->ix, 1, path, &e);
	}
	assert_true(spn_index_map_size(fx->ix) > start);
	spn_index_abort(fx->ix);
	assert_false(exists(fx->ix, 1, "/a/00000"));

	/* One batch much bigger than the map, with every kind of op. */
	reopen(fx, 64 * 1024);
	assert_int_equal(spn_index_begin(fx->ix), 0);
	for (i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "/b/%05d", i);
		e = mk((uint64_t)i, S_IFREG);
		e.state = SPN_ENT_CACHED;
		e.cached_bytes = 2;
		e.flags = i % 2 ? 0 : SPN_EF_DIRTY;
		put_ok(fx->ix, 1, path, &e);
		if (i % 100 == 99) {
			snprintf(path, sizeof(path), "/b/%05d", i - 1);
			assert_int_equal(spn_index_del(fx->ix, 1, path), 0);
		}
	}
	assert_int_equal(spn_index_del(fx->ix, 1, "/nope"), -ENOENT);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/b", "/c"), 0);
	assert_int_equal(spn_index_commit(fx->ix), 0);
	assert_int_equal(spn_index_stats(fx->ix, &n, &bytes, &dirty), 0);
	assert_int_equal(n, 4950);
	assert_int_equal(bytes, 2 * 4950);
	/* Even indices are dirty; the deleted ones (i % 100 == 98) too. */
	assert_int_equal(dirty, 2500 - 50);
	assert_int_equal(spn_index_get(fx->ix, 1, "/c/04999", &got), 0);
	assert_int_equal(got.attr.fileid, 4999 + 8);
	assert_false(exists(fx->ix, 1, "/c/04998"));
	assert_false(exists(fx->ix, 1, "/b/00000"));
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
	reopen(fx, 0);
	assert_int_equal(spn_index_stats(fx->ix, &n, NULL, NULL), 0);
	assert_int_equal(n, 4950);
}

/* Another process grows the map under an open index: both the read and
 * the write path must adopt the new size (MDB_MAP_RESIZED). */
static void
test_map_resized_by_other_process(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(15, S_IFREG);
	uint64_t start, problems;
	char path[64], go;
	int round, i, st, p[2][2];
	pid_t pid[2];

	spn_index_close(fx->ix);
	fx->ix = NULL;
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	/* The writers are forked before the index is opened here, so that
	 * no LMDB environment crosses a fork; each waits for its turn. */
	for (round = 0; round < 2; round++) {
		assert_int_equal(pipe(p[round]), 0);
		pid[round] = fork();
		assert_true(pid[round] >= 0);
		if (pid[round] == 0) {
			struct spn_index *ix;

			CHILD_CHECK(read(p[round][0], &go, 1) == 1);
			CHILD_CHECK(spn_index_open(&ix, fx->dir, 64 * 1024) ==
				    0);
			CHILD_CHECK(spn_index_begin(ix) == 0);
			for (i = 0; i < 3000; i++) {
				snprintf(path, sizeof(path), "/c%d/%05d", round,
					 i);
				CHILD_CHECK(spn_index_put(ix, 1, path, &e) ==
					    0);
			}
			CHILD_CHECK(spn_index_commit(ix) == 0);
			spn_index_close(ix);
			_exit(0);
		}
		close(p[round][0]);
	}
	assert_int_equal(spn_index_open(&fx->ix, fx->dir, 64 * 1024), 0);
	start = spn_index_map_size(fx->ix);
	put_ok(fx->ix, 1, "/p", &e);
	for (round = 0; round < 2; round++) {
		assert_int_equal(write(p[round][1], "g", 1), 1);
		close(p[round][1]);
		assert_int_equal(waitpid(pid[round], &st, 0), pid[round]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		snprintf(path, sizeof(path), "/c%d/02999", round);
		if (round == 0) {
			/* Read first. */
			assert_true(exists(fx->ix, 1, path));
			put_ok(fx->ix, 1, "/q0", &e);
		} else {
			/* Write first. */
			put_ok(fx->ix, 1, "/q1", &e);
			assert_true(exists(fx->ix, 1, path));
		}
	}
	assert_true(spn_index_map_size(fx->ix) > start);
	assert_true(exists(fx->ix, 1, "/p"));
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
}

static void
test_corrupt_records(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(11, S_IFREG), got, keep;
	struct names ns = {0};
	uint8_t key[32], rec[1024], good[512];
	uint64_t problems, n;
	size_t klen, glen;
	int v;

	put_ok(fx->ix, 1, "/x", &e);
	e.fh_len = 10;
	put_ok(fx->ix, 1, "/y", &e);
	e.flags = SPN_EF_DIRTY;
	put_ok(fx->ix, 1, "/d", &e);
	spn_index_close(fx->ix);
	fx->ix = NULL;
	klen = raw_key(key, 1, "/y");
	glen = raw_get(fx->dir, "entries", key, klen, good, sizeof(good));
	assert_int_equal(glen, 188 + 10);

	for (v = 0; v < 9; v++) {
		size_t len = glen;

		memset(rec, 0, sizeof(rec));
		memcpy(rec, good, glen);
		switch (v) {
		case 0: /* unknown version */
			rec[0] = 2;
			break;
		case 1: /* version 0 */
			rec[0] = 0;
			break;
		case 2: /* one byte short */
			len--;
			break;
		case 3: /* one byte long */
			len++;
			break;
		case 4: /* handle length disagrees with the record */
			rec[3] = 11;
			break;
		case 5: /* handle longer than any */
			rec[3] = 200;
			len = 188 + 200;
			break;
		case 6: /* unknown state */
			rec[1] = 9;
			break;
		case 7: /* empty */
			len = 0;
			break;
		case 8: /* garbage */
			memset(rec, 0xff, sizeof(rec));
			len = sizeof(rec);
			break;
		}
		raw_set(fx->dir, "entries", key, raw_key(key, 1, "/x"), rec,
			len);
		reopen(fx, 0);
		keep = got = mk(55, S_IFDIR);
		assert_int_equal(spn_index_get(fx->ix, 1, "/x", &got), -EINVAL);
		assert_entry_equal(&got, &keep);
		assert_int_equal(spn_index_get(fx->ix, 1, "/y", &got), 0);
		memset(&ns, 0, sizeof(ns));
		assert_int_equal(
		    spn_index_foreach_child(fx->ix, 1, "/", collect_child, &ns),
		    -EINVAL);
		assert_int_equal(spn_index_check(fx->ix, 0, &problems),
				 -EUCLEAN);
		assert_true(problems >= 1);
		assert_int_equal(spn_index_stats(fx->ix, &n, NULL, NULL), 0);
		assert_int_equal(n, 3);
		/* It can be overwritten, moved and deleted. */
		if (v % 3 == 0) {
			put_ok(fx->ix, 1, "/x", &e);
			assert_int_equal(spn_index_get(fx->ix, 1, "/x", &got),
					 0);
		} else if (v % 3 == 1) {
			assert_int_equal(
			    spn_index_rename_tree(fx->ix, 1, "/x", "/x2"), 0);
			assert_int_equal(spn_index_get(fx->ix, 1, "/x2", &got),
					 -EINVAL);
			assert_int_equal(spn_index_del(fx->ix, 1, "/x2"), 0);
		} else {
			assert_int_equal(spn_index_del_tree(fx->ix, 1, "/x"),
					 0);
		}
		spn_index_close(fx->ix);
		fx->ix = NULL;
	}

	/* A corrupt dirty record stops the write-back walk; deleting it
	 * clears its dirty row too. */
	raw_set(fx->dir, "entries", key, raw_key(key, 1, "/d"), "junk", 4);
	reopen(fx, 0);
	assert_int_equal(spn_index_foreach_dirty(fx->ix, collect_dirty, &ns),
			 -EINVAL);
	assert_int_equal(spn_index_del(fx->ix, 1, "/d"), 0);
	assert_int_equal(count_dirty(fx->ix), 0);

	/* Repair drops what cannot be read and keeps the rest. */
	spn_index_close(fx->ix);
	fx->ix = NULL;
	raw_set(fx->dir, "entries", key, raw_key(key, 1, "/x"), "junk", 4);
	reopen(fx, 0);
	assert_int_equal(spn_index_check(fx->ix, 1, &problems), 0);
	assert_true(problems >= 1);
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
	assert_int_equal(problems, 0);
	assert_false(exists(fx->ix, 1, "/x"));
	assert_true(exists(fx->ix, 1, "/y"));
}

static void
test_check_repairs_derived_rows(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(12, S_IFREG);
	uint8_t key[32], lk[64], zero8[8] = {0};
	uint64_t problems, bytes, dirty;
	size_t klen;

	e.state = SPN_ENT_CACHED;
	e.cached_bytes = 10;
	put_ok(fx->ix, 1, "/c1", &e);
	put_ok(fx->ix, 1, "/c2", &e);
	e.flags = SPN_EF_DIRTY;
	put_ok(fx->ix, 1, "/d1", &e);
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
	assert_int_equal(problems, 0);
	spn_index_close(fx->ix);
	fx->ix = NULL;

	/* Lose a dirty row, add a stray one, break the byte count, add a
	 * stale LRU row. */
	klen = raw_key(key, 1, "/d1");
	raw_set(fx->dir, "dirty", key, klen, NULL, SIZE_MAX);
	klen = raw_key(key, 1, "/ghost");
	raw_set(fx->dir, "dirty", key, klen, zero8, 8);
	raw_set(fx->dir, "meta", "cached_bytes", 12, zero8, 8);
	memset(lk, 0, 8);
	memcpy(lk + 8, key, klen);
	raw_set(fx->dir, "lru", lk, 8 + klen, "", 0);

	reopen(fx, 0);
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), -EUCLEAN);
	/* Missing dirty row, LRU count, byte count (the stray dirty row
	 * makes up the count of the missing one). */
	assert_int_equal(problems, 3);
	assert_int_equal(spn_index_check(fx->ix, 1, &problems), 0);
	assert_int_equal(problems, 3);
	assert_int_equal(spn_index_check(fx->ix, 0, &problems), 0);
	assert_int_equal(spn_index_stats(fx->ix, NULL, &bytes, &dirty), 0);
	assert_int_equal(bytes, 30);
	assert_int_equal(dirty, 1);
	assert_int_equal(count_dirty(fx->ix), 1);
}

static void
test_open_refuses_foreign_or_newer(void **state)
{
	struct fx *fx = *state;
	struct spn_index *ix;
	uint8_t two[4] = {2, 0, 0, 0};
	char path[160];
	int fd;

	spn_index_close(fx->ix);
	fx->ix = NULL;
	raw_set(fx->dir, "meta", "layout", 6, two, 4);
	assert_int_equal(spn_index_open(&ix, fx->dir, 0), -EUCLEAN);

	/* Not an LMDB file at all. */
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(mkdir(fx->dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", fx->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	{
		char junk[16384];

		memset(junk, 'j', sizeof(junk));
		assert_int_equal(write(fd, junk, sizeof(junk)),
				 (ssize_t)sizeof(junk));
	}
	close(fd);
	assert_int_equal(spn_index_open(&ix, fx->dir, 0), -EUCLEAN);
	assert_int_equal(spn_index_open(&ix, "/nonexistent/a/b", 0), -ENOENT);
	assert_int_equal(spn_index_open(&ix, NULL, 0), -EINVAL);
}

static void
test_bad_paths(void **state)
{
	struct fx *fx = *state;
	static const char *const bad[] = {
	    "",	    "a",    "a/b",   "//",	"/a/", "/a//b",	 "/.",	"/..",
	    "/./a", "/a/.", "/a/..", "/a/../b", "///", "/a/./b", "./a",
	};
	static const char *const good[] = {
	    "/...", "/.a", "/a.", "/..a", "/ a", "/a b/c\t", "/\xc3\xa9"};
	struct spn_entry e = mk(13, S_IFREG);
	struct names ns = {0};
	char longp[SPN_INDEX_PATH_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(spn_index_put(fx->ix, 1, bad[i], &e), -EINVAL);
		assert_int_equal(spn_index_get(fx->ix, 1, bad[i], NULL),
				 -EINVAL);
		assert_int_equal(spn_index_del(fx->ix, 1, bad[i]), -EINVAL);
		assert_int_equal(spn_index_del_tree(fx->ix, 1, bad[i]),
				 -EINVAL);
		assert_int_equal(spn_index_rename_tree(fx->ix, 1, bad[i], "/z"),
				 -EINVAL);
		assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/z", bad[i]),
				 -EINVAL);
		assert_int_equal(spn_index_foreach_child(fx->ix, 1, bad[i],
							 collect_child, &ns),
				 -EINVAL);
	}
	assert_int_equal(spn_index_put(fx->ix, 1, NULL, &e), -EINVAL);
	assert_int_equal(spn_index_get(fx->ix, 1, NULL, NULL), -EINVAL);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		put_ok(fx->ix, 1, good[i], &e);
		assert_true(exists(fx->ix, 1, good[i]));
	}

	memset(longp, 'x', sizeof(longp));
	longp[0] = '/';
	longp[SPN_INDEX_PATH_MAX + 1] = '\0';
	assert_int_equal(spn_index_put(fx->ix, 1, longp, &e), -ENAMETOOLONG);
	assert_int_equal(spn_index_get(fx->ix, 1, longp, NULL), -ENAMETOOLONG);
	longp[SPN_INDEX_PATH_MAX] = '\0';
	put_ok(fx->ix, 1, longp, &e);
	assert_true(exists(fx->ix, 1, longp));
	/* The longest path is also fine in the dirty set and LRU. */
	e.flags = SPN_EF_DIRTY;
	put_ok(fx->ix, 1, longp, &e);
	assert_int_equal(count_dirty(fx->ix), 1);
	e.flags = 0;
	e.state = SPN_ENT_CACHED;
	e.cached_bytes = 5;
	put_ok(fx->ix, 1, longp, &e);
	memset(&ns, 0, sizeof(ns));
	assert_int_equal(spn_index_lru(fx->ix, 5, NULL, evict_ok, &ns), 0);
	assert_int_equal(ns.n, 1);
	assert_int_equal(spn_index_check(fx->ix, 0, NULL), 0);
}

struct lru_log {
	int n;
	char path[32][32];
	const char *keep; /* answer SPN_INDEX_KEEP for this path */
	int fail_at;	  /* return -EIO at this call (1-based) */
};

static int
evict_log(uint16_t mount, const char *path, const struct spn_entry *e,
	  void *arg)
{
	struct lru_log *l = arg;

	/* Only clean cached regular files are ever offered. */
	assert_int_equal(e->state, SPN_ENT_CACHED);
	assert_false(e->flags & SPN_EF_WRITEBACK);
	assert_int_equal(e->attr.type, S_IFREG);
	snprintf(l->path[l->n % 32], sizeof(l->path[0]), "%u:%s", mount, path);
	l->n++;
	if (l->fail_at && l->n == l->fail_at)
		return -EIO;
	if (l->keep && strcmp(path, l->keep) == 0)
		return SPN_INDEX_KEEP;
	return SPN_INDEX_EVICTED;
}

static void
lru_put(struct spn_index *ix, uint16_t mount, const char *path, uint32_t type,
	uint8_t state, uint8_t flags, int64_t ts, uint64_t bytes)
{
	struct spn_entry e = mk((uint64_t)bytes, type);

	e.state = state;
	e.flags = flags;
	e.last_use_ns = ts;
	e.cached_bytes = bytes;
	put_ok(ix, mount, path, &e);
}

static void
test_lru(void **state)
{
	struct fx *fx = *state;
	struct spn_index *ix = fx->ix;
	struct lru_log l;
	struct spn_entry got;
	uint64_t freed, bytes;

	lru_put(ix, 1, "/old_dirty", S_IFREG, SPN_ENT_CACHED, SPN_EF_DIRTY, 1,
		1000);
	lru_put(ix, 1, "/created", S_IFREG, SPN_ENT_CACHED,
		SPN_EF_CREATED_LOCALLY, 2, 1000);
	lru_put(ix, 1, "/dir", S_IFDIR, SPN_ENT_CACHED, 0, 3, 4096);
	lru_put(ix, 1, "/link", S_IFLNK, SPN_ENT_CACHED, 0, 4, 10);
	lru_put(ix, 1, "/stub", S_IFREG, SPN_ENT_STUB, 0, 5, 0);
	lru_put(ix, 1, "/f1", S_IFREG, SPN_ENT_CACHED, 0, 10, 100);
	lru_put(ix, 1, "/f2", S_IFREG, SPN_ENT_CACHED, 0, 20, 200);
	lru_put(ix, 1, "/f3", S_IFREG, SPN_ENT_CACHED, 0, 30, 300);
	lru_put(ix, 2, "/f4", S_IFREG, SPN_ENT_CACHED, 0, 25, 250);
	/* Before 1970: must sort first. */
	lru_put(ix, 1, "/neg", S_IFREG, SPN_ENT_CACHED, 0, -5, 50);
	assert_int_equal(spn_index_stats(ix, NULL, &bytes, NULL), 0);
	assert_int_equal(bytes, 2000 + 4096 + 10 + 850 + 50);

	memset(&l, 0, sizeof(l));
	assert_int_equal(spn_index_lru(ix, 250, &freed, evict_log, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.path[0], "1:/neg");
	assert_string_equal(l.path[1], "1:/f1");
	assert_string_equal(l.path[2], "1:/f2");
	assert_int_equal(freed, 350);
	assert_int_equal(spn_index_get(ix, 1, "/f1", &got), 0);
	assert_int_equal(got.state, SPN_ENT_STUB);
	assert_int_equal(got.cached_bytes, 0);
	assert_int_equal(got.content_size, 0);
	assert_int_equal(got.content_mtime.sec, 0);
	assert_int_equal(got.attr.size, 100 * 1000 + 4); /* attrs kept */
	assert_int_equal(spn_index_stats(ix, NULL, &bytes, NULL), 0);
	assert_int_equal(bytes, 2000 + 4096 + 10 + 250 + 300);

	/* KEEP skips one and goes on; a touch reorders. */
	lru_put(ix, 1, "/f3", S_IFREG, SPN_ENT_CACHED, 0, 24, 300);
	memset(&l, 0, sizeof(l));
	l.keep = "/f4";
	assert_int_equal(spn_index_lru(ix, 1, &freed, evict_log, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.path[0], "1:/f3");
	memset(&l, 0, sizeof(l));
	l.keep = "/f4";
	assert_int_equal(spn_index_lru(ix, 1, &freed, evict_log, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.path[0], "2:/f4");
	assert_int_equal(freed, 0);

	/* An error stops and comes back. */
	memset(&l, 0, sizeof(l));
	l.fail_at = 1;
	assert_int_equal(spn_index_lru(ix, 1, &freed, evict_log, &l), -EIO);
	assert_true(exists(ix, 2, "/f4"));
	assert_int_equal(spn_index_get(ix, 2, "/f4", &got), 0);
	assert_int_equal(got.state, SPN_ENT_CACHED);

	/* Ask for more than there is: everything eligible, no more. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(spn_index_lru(ix, 1ULL << 40, &freed, evict_log, &l),
			 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(freed, 250);
	memset(&l, 0, sizeof(l));
	assert_int_equal(spn_index_lru(ix, 1ULL << 40, &freed, evict_log, &l),
			 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(freed, 0);
	assert_int_equal(spn_index_get(ix, 1, "/old_dirty", &got), 0);
	assert_int_equal(got.state, SPN_ENT_CACHED);

	/* Written back: now it may go. */
	got.flags = 0;
	put_ok(ix, 1, "/old_dirty", &got);
	memset(&l, 0, sizeof(l));
	assert_int_equal(spn_index_lru(ix, 1, &freed, evict_log, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.path[0], "1:/old_dirty");
	assert_int_equal(freed, 1000);
	assert_int_equal(spn_index_lru(ix, 1, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(spn_index_check(ix, 0, NULL), 0);
}

static void
test_lru_many(void **state)
{
	struct fx *fx = *state;
	struct lru_log l;
	uint64_t freed, bytes;
	char path[64];
	int i;

	/* More candidates than one chunk, inserted out of order. */
	assert_int_equal(spn_index_begin(fx->ix), 0);
	for (i = 0; i < 300; i++) {
		snprintf(path, sizeof(path), "/m/%03d", i);
		lru_put(fx->ix, 1, path, S_IFREG, SPN_ENT_CACHED,
			i % 4 == 0 ? SPN_EF_DIRTY : 0,
			(int64_t)((i * 7919) % 300), 10);
	}
	assert_int_equal(spn_index_commit(fx->ix), 0);
	memset(&l, 0, sizeof(l));
	l.keep = "/m/001";
	assert_int_equal(spn_index_lru(fx->ix, 2000, &freed, evict_log, &l), 0);
	assert_int_equal(freed, 2000);
	assert_int_equal(spn_index_stats(fx->ix, NULL, &bytes, NULL), 0);
	assert_int_equal(bytes, 3000 - 2000);
	memset(&l, 0, sizeof(l));
	assert_int_equal(
	    spn_index_lru(fx->ix, 1ULL << 40, &freed, evict_log, &l), 0);
	/* 225 clean ones in all, 200 gone before. */
	assert_int_equal(freed, 250);
	assert_int_equal(spn_index_stats(fx->ix, NULL, &bytes, NULL), 0);
	assert_int_equal(bytes, 75 * 10);
}

static void
test_mounts_separate(void **state)
{
	struct fx *fx = *state;
	static const uint16_t mounts[] = {0, 1, 256, 65535};
	struct spn_entry e, got;
	struct names ns = {0};
	size_t i;

	for (i = 0; i < 4; i++) {
		e = mk(i, S_IFDIR);
		put_ok(fx->ix, mounts[i], "/", &e);
		e = mk(i + 10, S_IFREG);
		put_ok(fx->ix, mounts[i], "/a", &e);
	}
	for (i = 0; i < 4; i++) {
		e = mk(i, S_IFDIR);
		assert_int_equal(spn_index_get(fx->ix, mounts[i], "/", &got),
				 0);
		assert_entry_equal(&got, &e);
		e = mk(i + 10, S_IFREG);
		assert_int_equal(spn_index_get(fx->ix, mounts[i], "/a", &got),
				 0);
		assert_entry_equal(&got, &e);
	}
	assert_int_equal(
	    spn_index_foreach_child(fx->ix, 256, "/", collect_child, &ns), 0);
	assert_int_equal(ns.n, 1);
	assert_int_equal(spn_index_rename_tree(fx->ix, 0, "/a", "/b"), 0);
	assert_true(exists(fx->ix, 65535, "/a"));
	assert_false(exists(fx->ix, 65535, "/b"));
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/"), 0);
	assert_false(exists(fx->ix, 1, "/"));
	assert_false(exists(fx->ix, 1, "/a"));
	assert_true(exists(fx->ix, 0, "/"));
	assert_true(exists(fx->ix, 256, "/"));
	assert_true(exists(fx->ix, 256, "/a"));
	assert_true(exists(fx->ix, 65535, "/"));
	assert_true(exists(fx->ix, 0, "/b"));
}

static void
test_stats(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(14, S_IFREG);
	uint64_t n, bytes, dirty;

	assert_int_equal(spn_index_stats(fx->ix, &n, &bytes, &dirty), 0);
	assert_true(n == 0 && bytes == 0 && dirty == 0);
	e.cached_bytes = 100;
	put_ok(fx->ix, 1, "/a", &e);
	put_ok(fx->ix, 1, "/a/b", &e);
	e.cached_bytes = 50;
	e.flags = SPN_EF_DIRTY;
	put_ok(fx->ix, 1, "/a", &e); /* replaces: 100 -> 50 */
	assert_int_equal(spn_index_stats(fx->ix, &n, &bytes, &dirty), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, 150);
	assert_int_equal(dirty, 1);
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/a", "/z"), 0);
	assert_int_equal(spn_index_stats(fx->ix, &n, &bytes, &dirty), 0);
	assert_true(n == 2 && bytes == 150 && dirty == 1);
	assert_int_equal(spn_index_del(fx->ix, 1, "/z/b"), 0);
	assert_int_equal(spn_index_stats(fx->ix, &n, &bytes, &dirty), 0);
	assert_true(n == 1 && bytes == 50 && dirty == 1);
	assert_int_equal(spn_index_del_tree(fx->ix, 1, "/z"), 0);
	assert_int_equal(spn_index_stats(fx->ix, &n, &bytes, &dirty), 0);
	assert_true(n == 0 && bytes == 0 && dirty == 0);
	assert_int_equal(spn_index_stats(fx->ix, NULL, NULL, NULL), 0);
}

static int
collect_all(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct names *ns = arg;

	if (ns->n < 256)
		snprintf(ns->name[ns->n], sizeof(ns->name[0]), "%u:%s:%llu", mount, path,
			 (unsigned long long)e->attr.fileid);
	ns->n++;
	return ns->stop_at != 0 && ns->n == ns->stop_at ? 7 : 0;
}

/* Every entry of every mount, in (mount, path) order, across batches. */
static void
test_foreach_all(void **state)
{
	struct fx *fx = *state;
	struct names ns = {0};
	struct spn_entry e;
	char path[64], want[64];
	int i;

	for (i = 0; i < 70; i++) {
		e = mk((uint64_t)i + 1, S_IFREG);
		snprintf(path, sizeof(path), "/d/f%03d", i);
		put_ok(fx->ix, 2, path, &e);
	}
	e = mk(500, S_IFDIR);
	put_ok(fx->ix, 2, "/d", &e);
	e = mk(501, S_IFREG);
	put_ok(fx->ix, 1, "/z", &e);
	assert_int_equal(spn_index_foreach(fx->ix, collect_all, &ns), 0);
	assert_int_equal(ns.n, 72);
	snprintf(want, sizeof(want), "1:/z:%llu", (unsigned long long)mk(501, S_IFREG).attr.fileid);
	assert_string_equal(ns.name[0], want);
	snprintf(want, sizeof(want), "2:/d:%llu", (unsigned long long)mk(500, S_IFDIR).attr.fileid);
	assert_string_equal(ns.name[1], want);
	for (i = 0; i < 70; i++) {
		snprintf(want, sizeof(want), "2:/d/f%03d:%llu", i,
			 (unsigned long long)mk((uint64_t)i + 1, S_IFREG).attr.fileid);
		assert_string_equal(ns.name[i + 2], want);
	}
	/* A non-zero return stops the walk and is returned. */
	memset(&ns, 0, sizeof(ns));
	ns.stop_at = 40;
	assert_int_equal(spn_index_foreach(fx->ix, collect_all, &ns), 7);
	assert_int_equal(ns.n, 40);
	assert_int_equal(spn_index_foreach(fx->ix, NULL, NULL), -EINVAL);
}

/* ----------------------------------------------- kept confirmations */

/* What another process (a fresh open of the same files) reads as the
 * validated_ns of path: -1 if absent. */
static int64_t
validated_elsewhere(const char *dir, const char *path)
{
	int pfd[2];
	int64_t v = -1;
	pid_t pid;
	int st;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spn_index *ix;
		struct spn_entry e;

		close(pfd[0]);
		if (spn_index_open(&ix, dir, 0) == 0) {
			if (spn_index_get(ix, 1, path, &e) == 0)
				v = e.validated_ns;
			spn_index_close(ix);
		}
		if (write(pfd[1], &v, sizeof(v)) != sizeof(v))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	/* The answer is what the pipe says (all of it, or the child failed);
	 * its exit code is not looked at: under valgrind --error-exitcode it
	 * is valgrind's verdict on the memory it inherited from us. */
	assert_int_equal(read(pfd[0], &v, sizeof(v)), (ssize_t)sizeof(v));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return v;
}

static int
child_validated(const char *name, const struct spn_entry *e, void *arg)
{
	if (strcmp(name, "f") == 0)
		*(int64_t *)arg = e->validated_ns;
	return 0;
}

/* A put that only confirms an entry again is seen at once by get and
 * walks, reaches the file at spn_index_flush (not before), and never
 * lands on another record: a rename, a delete and a real change each
 * win over it. */
static void
test_confirmations_kept(void **state)
{
	struct fx *fx = *state;
	struct spn_entry e = mk(3, S_IFREG), f = mk(4, S_IFREG), got;
	int64_t seen = 0;

	put_ok(fx->ix, 1, "/d", &e);
	put_ok(fx->ix, 1, "/d/f", &e);
	put_ok(fx->ix, 1, "/g", &f);
	assert_int_equal(validated_elsewhere(fx->dir, "/d/f"), e.validated_ns);

	/* Confirmed again: here at once, in the file only after a flush. */
	e.validated_ns = 5000;
	e.attr_timeo_ns = 5001;
	e.attr_timeo_stamp_ns = 5002;
	e.last_use_ns = 5003;
	put_ok(fx->ix, 1, "/d/f", &e);
	assert_int_equal(spn_index_get(fx->ix, 1, "/d/f", &got), 0);
	assert_entry_equal(&got, &e);
	assert_int_equal(spn_index_foreach_child(fx->ix, 1, "/d", child_validated, &seen), 0);
	assert_int_equal(seen, 5000);
	assert_int_equal(validated_elsewhere(fx->dir, "/d/f"), mk(3, S_IFREG).validated_ns);
	assert_int_equal(spn_index_flush(fx->ix), 0);
	assert_int_equal(validated_elsewhere(fx->dir, "/d/f"), 5000);
	assert_int_equal(spn_index_get(fx->ix, 1, "/d/f", &got), 0);
	assert_entry_equal(&got, &e);

	/* A real change (the size) is written at once, with its times. */
	e.attr.size = 77;
	e.validated_ns = 6000;
	put_ok(fx->ix, 1, "/d/f", &e);
	assert_int_equal(validated_elsewhere(fx->dir, "/d/f"), 6000);

	/* A rename over a confirmed record: the moved record's own times. */
	f.validated_ns = 7000;
	put_ok(fx->ix, 1, "/g", &f); /* kept */
	e.validated_ns = 6500;
	put_ok(fx->ix, 1, "/d/f", &e); /* kept */
	assert_int_equal(spn_index_rename_tree(fx->ix, 1, "/g", "/d/f"), 0);
	assert_int_equal(spn_index_get(fx->ix, 1, "/d/f", &got), 0);
	assert_entry_equal(&got, &f);
	assert_false(exists(fx->ix, 1, "/g"));

	/* Deleted, then made anew: the new record's times, not the kept. */
	f.validated_ns = 8000;
	put_ok(fx->ix, 1, "/d/f", &f); /* kept */
	assert_int_equal(spn_index_del(fx->ix, 1, "/d/f"), 0);
	assert_false(exists(fx->ix, 1, "/d/f"));
	e = mk(9, S_IFREG);
	put_ok(fx->ix, 1, "/d/f", &e);
	assert_int_equal(spn_index_get(fx->ix, 1, "/d/f", &got), 0);
	assert_entry_equal(&got, &e);

	/* Close writes what is kept. */
	e.validated_ns = 9000;
	put_ok(fx->ix, 1, "/d/f", &e);
	reopen(fx, 0);
	assert_int_equal(spn_index_get(fx->ix, 1, "/d/f", &got), 0);
	assert_entry_equal(&got, &e);
}

/* LRU eviction goes by the last use a kept confirmation says. */
static void
test_confirmations_lru(void **state)
{
	struct fx *fx = *state;
	struct lru_log l;
	struct spn_entry e;
	uint64_t freed;

	lru_put(fx->ix, 1, "/a", S_IFREG, SPN_ENT_CACHED, 0, 1, 100);
	lru_put(fx->ix, 1, "/b", S_IFREG, SPN_ENT_CACHED, 0, 2, 200);
	assert_int_equal(spn_index_get(fx->ix, 1, "/a", &e), 0);
	e.last_use_ns = 3; /* /a used again: /b is now the oldest */
	put_ok(fx->ix, 1, "/a", &e);
	memset(&l, 0, sizeof(l));
	assert_int_equal(spn_index_lru(fx->ix, 1, &freed, evict_log, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.path[0], "1:/b");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_roundtrip_all_fields),
	    T(test_get_absent),
	    T(test_del),
	    T(test_del_tree_exact),
	    T(test_rename_tree),
	    T(test_rename_errors),
	    T(test_foreach_child),
	    T(test_foreach_child_large_and_writing),
	    T(test_foreach_all),
	    T(test_dirty_set),
	    T(test_dirty_many_cleaned_during_walk),
	    T(test_batch),
	    T(test_crash_mid_batch),
	    T(test_crash_random_kills),
	    T(test_map_growth_single),
	    T(test_map_growth_in_batch),
	    T(test_map_resized_by_other_process),
	    T(test_corrupt_records),
	    T(test_check_repairs_derived_rows),
	    T(test_open_refuses_foreign_or_newer),
	    T(test_bad_paths),
	    T(test_lru),
	    T(test_lru_many),
	    T(test_mounts_separate),
	    T(test_stats),
	    T(test_confirmations_kept),
	    T(test_confirmations_lru),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
