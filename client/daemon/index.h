/*
 * daemon/index.h - specnfsd's crash-safe index of the mirror.
 *
 * specnfsd mirrors an NFS tree into real files and directories under its
 * cache directory (whole-file caching). The index records, for every
 * mirrored name, the NFS attributes the server last reported and what the
 * mirror holds for it. It lives in an LMDB environment of its own (a
 * directory holding data.mdb and lock.mdb) and survives kill -9 of the
 * daemon at any point: every call either happened or did not.
 *
 * Entries are keyed by (mount id, path relative to that mount's root).
 * Paths are absolute ("/", "/src/a.c"), have no trailing '/' (except "/"),
 * no empty, "." or ".." components, and are at most SPN_INDEX_PATH_MAX
 * bytes: anything else is -EINVAL, or -ENAMETOOLONG when only the length
 * is wrong. The index does not require a parent to be present before its
 * children; keeping the tree whole is the daemon's job.
 *
 * Errors: every int function returns 0 or a negative errno. Beyond the
 * usual ones:
 *   -EINVAL    bad argument, or a stored record that cannot be decoded
 *              (unknown version, wrong length): never a crash
 *   -EUCLEAN   the LMDB file itself is damaged, foreign, or of a newer
 *              layout: remove the index directory (and the mirror) and
 *              start cold
 *   -EBUSY     the call is not allowed while a batch is open
 *
 * Not thread-safe: one thread at a time per struct spn_index. Not
 * fork-safe: a child must neither use nor close its parent's index (open
 * its own). One writer process per index directory: LMDB serialises
 * writers, but a batch that outgrows the map is replayed on the
 * assumption that nobody else wrote in between.
 */
#ifndef SPECNFS_DAEMON_INDEX_H
#define SPECNFS_DAEMON_INDEX_H

#include <stdint.h>

#include "client/proto.h" /* struct spn_attr: the attributes, as on the wire */

/* Longest path, in bytes without the NUL. LMDB keys are at most 511
 * bytes and the LRU key is 8 (time) + 2 (mount) + path, + 1 to seek. */
#define SPN_INDEX_PATH_MAX 500
/* Map size when spn_index_open() is given 0; grows by doubling. */
#define SPN_INDEX_MAP_DEFAULT (1ULL << 30)
/* NFSv4 handles are at most 128 bytes, NFSv3 ones 64. */
#define SPN_FH_MAX 128

/*
 * There is no negative-entry state. A name is known absent when its
 * directory carries SPN_EF_DIR_COMPLETE, its listing stamp matches its
 * attributes and those are fresh (see daemon/consist.h). NFSv3 gives no
 * per-name change information, so a negative entry would be valid for
 * exactly as long as the directory's mtime/ctime, the same as a complete
 * listing; and one READDIRPLUS answers every name in the directory, where
 * negatives would cost one LOOKUP each. The record is versioned: a
 * SPN_ENT_NEGATIVE can still be added for huge directories if measurement
 * asks for it.
 */
enum spn_ent_state {
	SPN_ENT_STUB = 1,  /* known (listed/looked up), content not fetched */
	SPN_ENT_CACHED = 2 /* content (or, for a dir, the listing) mirrored */
};

enum spn_ent_flags {
	/* The mirror dir holds every name the server listed when the dir's
	 * (mtime, ctime, fileid) equalled content_mtime/_ctime/_fileid. */
	SPN_EF_DIR_COMPLETE = 1 << 0,
	/* Local content not yet written back to the server. */
	SPN_EF_DIRTY = 1 << 1,
	/* Created in the mirror, not yet on the server (fh is empty): the
	 * write-back must CREATE/MKDIR it before anything else. */
	SPN_EF_CREATED_LOCALLY = 1 << 2,
};

/* Entries with any of these bits form the dirty set (the write-back
 * journal): spn_index_foreach_dirty() visits them, LRU never evicts them. */
#define SPN_EF_WRITEBACK (SPN_EF_DIRTY | SPN_EF_CREATED_LOCALLY)

struct spn_entry {
	uint8_t state; /* enum spn_ent_state */
	uint8_t flags; /* enum spn_ent_flags */
	uint8_t fh_len;
	uint8_t fh[SPN_FH_MAX]; /* NFS file handle, fh_len bytes (may be 0) */
	struct spn_attr attr;	/* last attributes from the server (mode <= 07777) */
	/* CLOCK_REALTIME ns when attr was last confirmed; 0: never. */
	int64_t validated_ns;
	/* Attribute-cache timeout (Linux attrtimeo) and when it was last set
	 * (attrtimeo_timestamp): it doubles only once per window. */
	int64_t attr_timeo_ns;
	int64_t attr_timeo_stamp_ns;
	/* What the mirrored content corresponds to. A file: the server's
	 * mtime/size/fileid when it was fetched. A directory: the dir's
	 * mtime/ctime/fileid when its names were listed. */
	struct spn_time content_mtime;
	struct spn_time content_ctime;
	uint64_t content_size;
	uint64_t content_fileid;
	int64_t last_use_ns;   /* LRU eviction order */
	uint64_t cached_bytes; /* bytes the mirror copy occupies */
	/* Bumped each time the entry is dirtied, so that a write-back that
	 * raced a new write can tell. */
	uint64_t dirty_gen;
};

struct spn_index;

/*
 * Opens (creating if needed: mkdir 0700, files 0600) the index in dir.
 * map_size is the initial LMDB map size in bytes (0: 1 GiB); it grows on
 * demand and a bigger size stored by an earlier run wins.
 */
int spn_index_open(struct spn_index **out, const char *dir, uint64_t map_size);
/* Aborts an open batch. NULL is fine. */
void spn_index_close(struct spn_index *ix);

/* -ENOENT if absent. Inside a batch, sees the batch's own writes. */
int spn_index_get(struct spn_index *ix, uint16_t mount, const char *path,
		  struct spn_entry *out);
/* Inserts or replaces; keeps the dirty set, LRU order and byte count. */
int spn_index_put(struct spn_index *ix, uint16_t mount, const char *path,
		  const struct spn_entry *e);
/* -ENOENT if absent. Children, if any, stay. */
int spn_index_del(struct spn_index *ix, uint16_t mount, const char *path);
/* The entry and everything below it; "/" clears the mount. -ENOENT if
 * nothing was there. */
int spn_index_del_tree(struct spn_index *ix, uint16_t mount, const char *path);
/*
 * Moves the entry at from and everything below it to to, like rename(2):
 * whatever was at or below to is replaced. -ENOENT if nothing is at or
 * below from (a subtree whose top has no record still moves);
 * -EINVAL if either is "/" or one is inside the other; -ENAMETOOLONG if a
 * moved path would get too long (nothing is moved then). from == to is a
 * no-op.
 */
int spn_index_rename_tree(struct spn_index *ix, uint16_t mount,
			  const char *from, const char *to);

/*
 * Calls cb for each direct child of dir in byte order of the names (the
 * name is the last component, valid during the call only). A non-zero
 * return from cb stops the walk and is returned. -EINVAL at an
 * undecodable record (cb has seen the ones before it). No LMDB read
 * transaction is held while cb runs: cb may call any index function,
 * including puts and nested walks.
 */
int spn_index_foreach_child(struct spn_index *ix, uint16_t mount,
			    const char *dir,
			    int (*cb)(const char *name,
				      const struct spn_entry *e, void *arg),
			    void *arg);
/*
 * Calls cb for each entry with a SPN_EF_WRITEBACK bit, in (mount, path)
 * order, so a directory comes before anything inside it. Reads a separate
 * sub-database of dirty keys: the cost is the dirty set, not the index.
 * Same rules for cb as spn_index_foreach_child().
 */
int spn_index_foreach_dirty(struct spn_index *ix,
			    int (*cb)(uint16_t mount, const char *path,
				      const struct spn_entry *e, void *arg),
			    void *arg);

/*
 * Calls cb for every entry, in (mount, path) order: the cost is the whole
 * index, for what is rare (the other names of a hard-linked file). Same
 * rules for cb as spn_index_foreach_child().
 */
int spn_index_foreach(struct spn_index *ix,
		      int (*cb)(uint16_t mount, const char *path,
				const struct spn_entry *e, void *arg),
		      void *arg);

/*
 * Batches: every put/del/... between begin and commit is one LMDB write
 * transaction, committed atomically (a READDIRPLUS of 1000 names costs one
 * commit). Without a batch each call commits on its own. No nesting
 * (-EBUSY). A call failing with a plain argument error (-EINVAL, -ENOENT,
 * ...) changes nothing and leaves the batch usable; a storage failure
 * ends it: later calls and commit return that error. commit without
 * begin: -EINVAL. abort without begin: no-op.
 */
int spn_index_begin(struct spn_index *ix);
int spn_index_commit(struct spn_index *ix);
void spn_index_abort(struct spn_index *ix);

/*
 * Puts that only confirm an entry again (validated_ns, the attribute-cache
 * timeout and last_use_ns moved, nothing else) are kept in memory, seen
 * by every get and walk, and written together: here, and on their own
 * before anything that needs them on disk. 0 or a storage error (the kept
 * ones are dropped then: the entries look confirmed earlier than they
 * were). A kill loses them the same way.
 */
int spn_index_flush(struct spn_index *ix);

/*
 * Durability barrier. Commits reach the page cache at once (so kill -9
 * loses nothing committed) but the disk only here: the daemon calls this
 * after setting SPN_EF_DIRTY and before acknowledging the write. -EBUSY
 * inside a batch (commit first: a sync cannot cover uncommitted writes).
 */
int spn_index_sync(struct spn_index *ix);
/*
 * The same, on a thread of its own: returns at once (commits so far are
 * synced a few ms later; several requests meanwhile make one sync).
 * spn_index_close waits for it. Only for marks whose durability need not
 * come before the reply (see reads.c, spn_open_for_write).
 */
int spn_index_sync_soon(struct spn_index *ix);

/* Number of entries, sum of cached_bytes, size of the dirty set. Any
 * pointer may be NULL. */
int spn_index_stats(struct spn_index *ix, uint64_t *entries,
		    uint64_t *cached_bytes, uint64_t *dirty);

/* What an LRU eviction callback returns. */
enum {
	SPN_INDEX_EVICTED = 0, /* mirror copy removed: make the entry a stub */
	SPN_INDEX_KEEP = 1     /* in use, leave it and go on */
};

/*
 * Frees mirror space, oldest last_use_ns first, looking only at clean
 * SPN_ENT_CACHED regular files (never SPN_EF_WRITEBACK ones, never dirs or
 * symlinks). For each candidate, evict removes the mirror copy and returns
 * SPN_INDEX_EVICTED; the index then turns the entry into a STUB
 * (cached_bytes and content_* zeroed, attributes kept). SPN_INDEX_KEEP
 * skips it; anything else stops and is returned. Stops once
 * bytes_to_free is reached. Returns 0 even if fewer bytes could be freed:
 * *freed (may be NULL) says how many were. -EBUSY inside a batch.
 */
int spn_index_lru(struct spn_index *ix, uint64_t bytes_to_free, uint64_t *freed,
		  int (*evict)(uint16_t mount, const char *path,
			       const struct spn_entry *e, void *arg),
		  void *arg);

/*
 * Checks every record decodes and that the dirty set, LRU order and byte
 * count agree with the records. *problems (may be NULL) gets the number
 * of discrepancies. Without repair: 0 if none, else -EUCLEAN. With
 * repair: undecodable records are deleted, the rest rebuilt, 0 returned.
 * For start-up after an OS crash, and for tests. -EBUSY inside a batch.
 */
int spn_index_check(struct spn_index *ix, int repair, uint64_t *problems);

/* The current LMDB map size in bytes. */
uint64_t spn_index_map_size(struct spn_index *ix);

#endif /* SPECNFS_DAEMON_INDEX_H */
