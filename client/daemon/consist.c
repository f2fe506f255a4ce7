/*
 * daemon/consist.c - the attribute-cache and name-cache rules, as pure
 * functions (the contract is in daemon/consist.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/stat.h>

#include "client/daemon/consist.h"

static bool
spn__is_dir(uint32_t type)
{
	return (type & S_IFMT) == S_IFDIR;
}

/*
 * The timeout window for an object of this type, in ns. A max below min
 * is taken as min: a window that shrinks when nothing changes would make
 * no sense (Linux would cap the doubling below min).
 */
static void
spn__window(const struct spn_ac_settings *s, uint32_t type, int64_t *min,
	    int64_t *max)
{
	uint32_t lo = s->acregmin, hi = s->acregmax;

	if (spn__is_dir(type)) {
		lo = s->acdirmin;
		hi = s->acdirmax;
	}
	if (hi < lo)
		hi = lo;
	*min = (int64_t)lo * SPN_NS_PER_SEC;
	*max = (int64_t)hi * SPN_NS_PER_SEC;
}

/* now in [start, start + len), overflow-safe for any int64 values. */
static bool
spn__in_window(int64_t now, int64_t start, int64_t len)
{
	if (len <= 0 || now < start)
		return false;
	return (uint64_t)now - (uint64_t)start < (uint64_t)len;
}

/* The mirrored file content corresponds to attributes a. */
static bool
spn__content_match(const struct spn_entry *e, const struct spn_attr *a)
{
	return spn_time_eq(&e->content_mtime, &a->mtime) &&
	       e->content_size == a->size && e->content_fileid == a->fileid;
}

/* The directory's cached names were learnt at attributes a. ctime as
 * well as mtime: mtime can be set back by utimes(), ctime cannot. */
static bool
spn__names_match(const struct spn_entry *e, const struct spn_attr *a)
{
	return spn_consist_stamp_equal(&e->content_mtime, &e->content_ctime,
				       e->content_fileid, a);
}

bool
spn_consist_stamp_equal(const struct spn_time *mtime, const struct spn_time *ctime,
			uint64_t fileid, const struct spn_attr *a)
{
	return spn_time_eq(mtime, &a->mtime) && spn_time_eq(ctime, &a->ctime) &&
	       fileid == a->fileid;
}

bool
spn_consist_attr_equal(const struct spn_attr *a, const struct spn_attr *b)
{
	return a->type == b->type && a->mode == b->mode && a->uid == b->uid &&
	       a->gid == b->gid && a->size == b->size &&
	       a->fileid == b->fileid && spn_time_eq(&a->mtime, &b->mtime) &&
	       spn_time_eq(&a->ctime, &b->ctime);
}

bool
spn_consist_attr_fresh(const struct spn_ac_settings *s,
		       const struct spn_entry *e, int64_t now_ns)
{
	int64_t min, max, timeo;

	if (!e || e->validated_ns == 0)
		return false;
	spn__window(s, e->attr.type, &min, &max);
	/* The settings may have shrunk since the timeout grew: strict mode
	 * must be strict at once. */
	timeo = e->attr_timeo_ns < max ? e->attr_timeo_ns : max;
	return spn__in_window(now_ns, e->validated_ns, timeo);
}

unsigned
spn_consist_after_revalidate(const struct spn_ac_settings *s,
			     struct spn_entry *e, const struct spn_attr *fresh,
			     int64_t now_ns)
{
	bool first = e->validated_ns == 0;
	int64_t min, max, t;
	unsigned ch = 0;

	if (first || !spn_consist_attr_equal(&e->attr, fresh))
		ch |= SPN_CH_ATTR;
	if (!first && (e->attr.fileid != fresh->fileid ||
		       (e->attr.type & S_IFMT) != (fresh->type & S_IFMT)))
		ch |= SPN_CH_REPLACED;

	if (spn__is_dir(fresh->type) || (!first && spn__is_dir(e->attr.type))) {
		if (!spn__is_dir(fresh->type) || !spn__names_match(e, fresh)) {
			ch |= SPN_CH_DIR_LISTING;
			/* Fail safe: no negative answer from a stale list. */
			e->flags &= (uint8_t)~SPN_EF_DIR_COMPLETE;
		}
	}
	if (!spn__is_dir(fresh->type) && e->state == SPN_ENT_CACHED &&
	    !spn__content_match(e, fresh))
		ch |= SPN_CH_CONTENT;

	spn__window(s, fresh->type, &min, &max);
	if (ch & SPN_CH_ATTR) {
		e->attr_timeo_ns = min;
		e->attr_timeo_stamp_ns = now_ns;
	} else if (!spn__in_window(now_ns, e->attr_timeo_stamp_ns,
				   e->attr_timeo_ns)) {
		/* Unchanged for a whole window: trust it twice as long. */
		t = e->attr_timeo_ns;
		t = t > max / 2 ? max : t * 2;
		e->attr_timeo_ns = t < min ? min : t;
		e->attr_timeo_stamp_ns = now_ns;
	}
	e->attr = *fresh;
	e->validated_ns = now_ns;
	return ch;
}

bool
spn_consist_content_valid(const struct spn_entry *e)
{
	if (e->state != SPN_ENT_CACHED)
		return false;
	if (spn__is_dir(e->attr.type))
		return spn__names_match(e, &e->attr);
	return spn__content_match(e, &e->attr);
}

void
spn_consist_set_content(struct spn_entry *e)
{
	e->content_mtime = e->attr.mtime;
	e->content_ctime = e->attr.ctime;
	e->content_size = e->attr.size;
	e->content_fileid = e->attr.fileid;
}

bool
spn_consist_wcc_names_kept(const struct spn_entry *dir, const struct spn_time *mtime_before,
			   const struct spn_time *ctime_before)
{
	return dir && spn__is_dir(dir->attr.type) && (dir->flags & SPN_EF_DIR_COMPLETE) &&
	       spn__names_match(dir, &dir->attr) &&
	       spn_time_eq(&dir->content_mtime, mtime_before) &&
	       spn_time_eq(&dir->content_ctime, ctime_before);
}

enum spn_lookup
spn_consist_lookup(const struct spn_ac_settings *s, const struct spn_entry *dir,
		   int child_exists, int64_t now_ns)
{
	if (!dir || !spn__is_dir(dir->attr.type))
		return SPN_LOOKUP_MISS;
	if (!spn_consist_attr_fresh(s, dir, now_ns))
		return SPN_LOOKUP_REVALIDATE;
	if (!spn__names_match(dir, &dir->attr))
		return SPN_LOOKUP_MISS;
	if (child_exists)
		return SPN_LOOKUP_HIT;
	if (dir->flags & SPN_EF_DIR_COMPLETE)
		return SPN_LOOKUP_NEGATIVE;
	return SPN_LOOKUP_MISS;
}
