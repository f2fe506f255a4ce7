/*
 * daemon/consist.h - when cached NFS state may be trusted: the rules,
 * apart from any I/O.
 *
 * Pure functions: no I/O, no clock reads. Times are CLOCK_REALTIME
 * nanoseconds passed in by the caller (the same clock as the index's
 * validated_ns), so that every rule is unit-tested with made-up times.
 *
 * The attribute cache follows the Linux NFS client (fs/nfs/inode.c):
 *  - an entry's attributes are fresh for attr_timeo after they were last
 *    confirmed by the server (nfs_attribute_timeout());
 *  - the timeout starts at acXXmin; a revalidation that finds the
 *    attributes unchanged doubles it, up to acXXmax, at most once per
 *    timeout window (attrtimeo_timestamp); one that finds them changed
 *    resets it to acXXmin (nfs_update_inode());
 *  - directories use acdirmin/acdirmax, everything else acregmin/acregmax.
 *
 * Names: a directory's cached names (positive: children in the index;
 * negative: names absent from a complete listing) are valid while the
 * directory's (mtime, ctime, fileid) equal the stamp recorded when they
 * were learnt (content_mtime/_ctime/_fileid of the directory's entry).
 * Checking one GETATTR of the directory thus validates every lookup in
 * it: in an unchanged directory neither a hit nor a miss costs a LOOKUP.
 * NFSv3 has no change attribute, so times are compared to the
 * nanosecond.
 */
#ifndef SPECNFS_DAEMON_CONSIST_H
#define SPECNFS_DAEMON_CONSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "client/daemon/index.h"

#define SPN_NS_PER_SEC 1000000000LL

/* Attribute-cache windows in seconds, as the NFS mount options. All 0 is
 * strict: attributes are never fresh, every use revalidates. */
struct spn_ac_settings {
	uint32_t acregmin, acregmax, acdirmin, acdirmax;
};

/* Linux's defaults. */
#define SPN_AC_DEFAULTS                                                        \
	{                                                                      \
		.acregmin = 3, .acregmax = 60, .acdirmin = 30, .acdirmax = 60  \
	}

/* What spn_consist_after_revalidate() found. */
enum spn_change {
	/* Any of type, mode, uid, gid, size, fileid, mtime, ctime differ
	 * from the cached attributes (also the first time). */
	SPN_CH_ATTR = 1 << 0,
	/* Not a directory, its content is mirrored (SPN_ENT_CACHED), and
	 * the server's mtime/size/fileid differ from content_*: the mirror
	 * copy is stale. (If the entry is SPN_EF_DIRTY too, that is a
	 * conflict for the caller to settle, not stale data to drop.) */
	SPN_CH_CONTENT = 1 << 1,
	/* A directory whose mtime/ctime/fileid differ from its listing
	 * stamp: every cached name in it, positive or negative, is
	 * suspect. SPN_EF_DIR_COMPLETE has been cleared. */
	SPN_CH_DIR_LISTING = 1 << 2,
	/* fileid (or type) changed: another object now has this name. */
	SPN_CH_REPLACED = 1 << 3,
};

enum spn_lookup {
	SPN_LOOKUP_HIT = 1,    /* the child in the index is valid */
	SPN_LOOKUP_NEGATIVE,   /* the name is known absent */
	SPN_LOOKUP_REVALIDATE, /* dir attributes stale: GETATTR it first */
	SPN_LOOKUP_MISS	       /* not known: ask the server (LOOKUP/READDIR) */
};

/* Whether e's attributes may be used without asking the server. Never
 * for an entry that was never validated, nor when now is before the
 * validation (the clock stepped back). */
bool spn_consist_attr_fresh(const struct spn_ac_settings *s,
			    const struct spn_entry *e, int64_t now_ns);

/*
 * The server just confirmed fresh as e's attributes at now_ns: store
 * them, set validated_ns, adjust the timeout, clear SPN_EF_DIR_COMPLETE
 * if the listing went stale, and return the enum spn_change bits. Never
 * touches content_*, state or the mirror: acting on the bits is the
 * caller's job (see spn_consist_set_content()).
 */
unsigned spn_consist_after_revalidate(const struct spn_ac_settings *s,
				      struct spn_entry *e,
				      const struct spn_attr *fresh,
				      int64_t now_ns);

/*
 * Whether the mirrored content matches attr: state SPN_ENT_CACHED and
 * content_mtime/_size/_fileid equal attr's mtime/size/fileid. For a
 * directory (its "content" is the listing): content_mtime/_ctime/_fileid
 * equal attr's mtime/ctime/fileid, size being meaningless there.
 */
bool spn_consist_content_valid(const struct spn_entry *e);

/* Records that the mirror now holds e's content (a file) or names (a
 * directory) as of e->attr: copies mtime, ctime, size, fileid to
 * content_*. State and flags are left to the caller. */
void spn_consist_set_content(struct spn_entry *e);

/*
 * Weak cache consistency after our own change to directory dir: the
 * server's mtime and ctime of dir just before the change (the reply's
 * pre-op attributes) are the ones its cached names were learnt at, and
 * dir's listing is complete. Then nobody else changed dir in between and
 * the cached names plus our change are its names after it.
 */
bool spn_consist_wcc_names_kept(const struct spn_entry *dir,
				const struct spn_time *mtime_before,
				const struct spn_time *ctime_before);

/* A directory's listing learnt at (mtime, ctime, fileid) still holds if
 * a, its attributes now, has the same three (to the nanosecond). */
bool spn_consist_stamp_equal(const struct spn_time *mtime, const struct spn_time *ctime,
			     uint64_t fileid, const struct spn_attr *a);

/* type, mode, uid, gid, size, fileid, mtime, ctime; to the nanosecond. */
bool spn_consist_attr_equal(const struct spn_attr *a,
			    const struct spn_attr *b);

/*
 * How to answer a lookup of a name in dir: child_exists tells whether the
 * index holds an entry for it.
 *   dir attributes not fresh             -> REVALIDATE
 *   names stamp != dir's attributes      -> MISS (names not caught up yet)
 *   child in the index                   -> HIT
 *   no child, SPN_EF_DIR_COMPLETE        -> NEGATIVE
 *   no child, listing incomplete         -> MISS
 * dir not a directory (or NULL): MISS, the server will say ENOTDIR. HIT
 * is about the name only: whether the child's own attributes are fresh
 * is spn_consist_attr_fresh() on the child.
 */
enum spn_lookup spn_consist_lookup(const struct spn_ac_settings *s,
				   const struct spn_entry *dir,
				   int child_exists, int64_t now_ns);

#endif /* SPECNFS_DAEMON_CONSIST_H */
