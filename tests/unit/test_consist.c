/*
 * test_consist.c - the attribute-cache and name-cache rules.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "client/daemon/consist.h"

#define SEC SPN_NS_PER_SEC
/* An arbitrary CLOCK_REALTIME instant (2025). */
#define T0 (1750000000LL * SEC)

static const struct spn_ac_settings defaults = SPN_AC_DEFAULTS;
static const struct spn_ac_settings strict = {0, 0, 0, 0};

static struct spn_attr
attr_of(uint32_t type)
{
	struct spn_attr a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.mode = 0644;
	a.nlink = 1;
	a.uid = 1000;
	a.gid = 1000;
	a.size = 4096;
	a.used = 8192;
	a.fsid = 7;
	a.fileid = 42;
	a.atime.sec = 1700000000;
	a.mtime.sec = 1700000100;
	a.mtime.nsec = 123456789;
	a.ctime.sec = 1700000200;
	a.ctime.nsec = 987654321;
	return a;
}

/* An entry validated at T0 under s, content mirrored and matching. */
static struct spn_entry
cached_of(const struct spn_ac_settings *s, uint32_t type)
{
	struct spn_entry e;
	struct spn_attr a = attr_of(type);

	memset(&e, 0, sizeof(e));
	e.state = SPN_ENT_STUB;
	spn_consist_after_revalidate(s, &e, &a, T0);
	e.state = SPN_ENT_CACHED;
	spn_consist_set_content(&e);
	if (type == S_IFDIR)
		e.flags |= SPN_EF_DIR_COMPLETE;
	return e;
}

static void
test_defaults_like_linux(void **state)
{
	assert_int_equal(defaults.acregmin, 3);
	assert_int_equal(defaults.acregmax, 60);
	assert_int_equal(defaults.acdirmin, 30);
	assert_int_equal(defaults.acdirmax, 60);
}

static void
test_never_validated_is_stale(void **state)
{
	struct spn_entry e;

	memset(&e, 0, sizeof(e));
	e.attr = attr_of(S_IFREG);
	e.attr_timeo_ns = 60 * SEC;
	assert_false(spn_consist_attr_fresh(&defaults, &e, T0));
	assert_false(spn_consist_attr_fresh(&defaults, NULL, T0));
}

static void
test_fresh_window(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG);

	assert_int_equal(e.attr_timeo_ns, 3 * SEC);
	assert_int_equal(e.validated_ns, T0);
	assert_true(spn_consist_attr_fresh(&defaults, &e, T0));
	assert_true(spn_consist_attr_fresh(&defaults, &e, T0 + 3 * SEC - 1));
	assert_false(spn_consist_attr_fresh(&defaults, &e, T0 + 3 * SEC));
	/* The clock stepped back: do not trust. */
	assert_false(spn_consist_attr_fresh(&defaults, &e, T0 - 1));
}

static void
test_dir_uses_acdir(void **state)
{
	struct spn_entry d = cached_of(&defaults, S_IFDIR);
	struct spn_entry l = cached_of(&defaults, S_IFLNK);

	assert_int_equal(d.attr_timeo_ns, 30 * SEC);
	assert_true(spn_consist_attr_fresh(&defaults, &d, T0 + 29 * SEC));
	assert_false(spn_consist_attr_fresh(&defaults, &d, T0 + 30 * SEC));
	/* Anything not a directory uses acreg. */
	assert_int_equal(l.attr_timeo_ns, 3 * SEC);
}

/* Revalidate e unchanged at now; return its new timeout in seconds. */
static int64_t
reval_same(const struct spn_ac_settings *s, struct spn_entry *e, int64_t now)
{
	struct spn_attr a = e->attr;

	assert_int_equal(spn_consist_after_revalidate(s, e, &a, now), 0);
	assert_int_equal(e->validated_ns, now);
	return e->attr_timeo_ns / SEC;
}

static void
test_timeout_doubles_to_max_and_resets(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG);
	static const int64_t want[] = {6, 12, 24, 48, 60, 60, 60};
	struct spn_attr a;
	int64_t now = T0;
	unsigned ch;
	size_t i;

	/* Each revalidation when the window has run out doubles it. */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		now += e.attr_timeo_ns;
		assert_int_equal(reval_same(&defaults, &e, now), want[i]);
	}
	/* A change resets to acregmin. */
	a = e.attr;
	a.mtime.nsec++;
	now += SEC;
	ch = spn_consist_after_revalidate(&defaults, &e, &a, now);
	assert_true(ch & SPN_CH_ATTR);
	assert_int_equal(e.attr_timeo_ns, 3 * SEC);
	assert_int_equal(e.attr_timeo_stamp_ns, now);
	assert_true(spn_consist_attr_fresh(&defaults, &e, now + 2 * SEC));
	assert_false(spn_consist_attr_fresh(&defaults, &e, now + 3 * SEC));
}

static void
test_timeout_doubles_once_per_window(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG);

	/* Close-to-open revalidations inside the window: no growth. */
	assert_int_equal(reval_same(&defaults, &e, T0 + 1 * SEC), 3);
	assert_int_equal(reval_same(&defaults, &e, T0 + 2 * SEC), 3);
	/* Measured from when the timeout was set (T0), not from the last
	 * validation (T0 + 2 s), like Linux's attrtimeo_timestamp. */
	assert_int_equal(reval_same(&defaults, &e, T0 + 3 * SEC), 6);
	assert_int_equal(e.attr_timeo_stamp_ns, T0 + 3 * SEC);
	assert_int_equal(reval_same(&defaults, &e, T0 + 8 * SEC), 6);
	assert_int_equal(reval_same(&defaults, &e, T0 + 9 * SEC), 12);
	/* The clock stepped back behind the stamp: counts as outside. */
	assert_int_equal(reval_same(&defaults, &e, T0), 24);
}

static void
test_dir_timeout(void **state)
{
	struct spn_entry d = cached_of(&defaults, S_IFDIR);
	struct spn_attr a;

	assert_int_equal(reval_same(&defaults, &d, T0 + 30 * SEC), 60);
	assert_int_equal(reval_same(&defaults, &d, T0 + 90 * SEC), 60);
	a = d.attr;
	a.mode = 0700;
	spn_consist_after_revalidate(&defaults, &d, &a, T0 + 100 * SEC);
	assert_int_equal(d.attr_timeo_ns, 30 * SEC);
}

static void
test_strict_is_never_fresh(void **state)
{
	struct spn_entry e = cached_of(&strict, S_IFREG);
	struct spn_entry d = cached_of(&strict, S_IFDIR);
	int64_t now;

	for (now = T0; now < T0 + 10 * SEC; now += SEC) {
		assert_int_equal(reval_same(&strict, &e, now), 0);
		assert_false(spn_consist_attr_fresh(&strict, &e, now));
		assert_int_equal(reval_same(&strict, &d, now), 0);
		assert_false(spn_consist_attr_fresh(&strict, &d, now));
		assert_int_equal(spn_consist_lookup(&strict, &d, 1, now),
				 SPN_LOOKUP_REVALIDATE);
		assert_int_equal(spn_consist_lookup(&strict, &d, 0, now),
				 SPN_LOOKUP_REVALIDATE);
	}
}

static void
test_settings_shrunk(void **state)
{
	struct spn_ac_settings ten = {3, 10, 30, 60};
	struct spn_entry e = cached_of(&defaults, S_IFREG);

	e.attr_timeo_ns = 60 * SEC;
	assert_true(spn_consist_attr_fresh(&defaults, &e, T0 + 59 * SEC));
	/* A timeout grown under old settings obeys the new maximum. */
	assert_false(spn_consist_attr_fresh(&strict, &e, T0));
	assert_true(spn_consist_attr_fresh(&ten, &e, T0 + 9 * SEC));
	assert_false(spn_consist_attr_fresh(&ten, &e, T0 + 10 * SEC));
	/* The next doubling clamps to it too. */
	assert_int_equal(reval_same(&ten, &e, T0 + 61 * SEC), 10);
}

static void
test_min_above_max(void **state)
{
	struct spn_ac_settings odd = {10, 5, 10, 5};
	struct spn_entry e = cached_of(&odd, S_IFREG);

	assert_int_equal(e.attr_timeo_ns, 10 * SEC);
	assert_int_equal(reval_same(&odd, &e, T0 + 10 * SEC), 10);
}

static void
test_first_revalidate(void **state)
{
	struct spn_entry e, d;
	struct spn_attr a = attr_of(S_IFREG), b = attr_of(S_IFDIR);

	memset(&e, 0, sizeof(e));
	e.state = SPN_ENT_STUB;
	d = e;
	assert_int_equal(spn_consist_after_revalidate(&defaults, &e, &a, T0),
			 SPN_CH_ATTR);
	assert_memory_equal(&e.attr, &a, sizeof(a));
	assert_int_equal(e.attr_timeo_stamp_ns, T0);
	/* A new directory has no names stamp yet. */
	d.flags = SPN_EF_DIR_COMPLETE;
	assert_int_equal(spn_consist_after_revalidate(&defaults, &d, &b, T0),
			 SPN_CH_ATTR | SPN_CH_DIR_LISTING);
	assert_false(d.flags & SPN_EF_DIR_COMPLETE);
}

static void
test_unchanged_and_uncompared(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG);
	struct spn_attr a = e.attr;

	/* atime, nlink, used, rdev, fsid are not part of the comparison. */
	a.atime.sec += 100;
	a.nlink = 2;
	a.used += 4096;
	a.rdev = 1;
	a.fsid = 9;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &e, &a, T0 + SEC), 0);
	/* ... but stored all the same. */
	assert_int_equal(e.attr.atime.sec, a.atime.sec);
	assert_int_equal(e.attr.nlink, 2);
	assert_true(spn_consist_content_valid(&e));
}

static void
test_change_attr_only(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG);
	struct spn_attr a;

	a = e.attr;
	a.mode = 0600;
	a.ctime.sec++;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &e, &a, T0 + SEC),
	    SPN_CH_ATTR);
	assert_true(spn_consist_content_valid(&e));
	a = e.attr;
	a.uid = 0;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &e, &a, T0 + SEC),
	    SPN_CH_ATTR);
	a = e.attr;
	a.gid = 0;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &e, &a, T0 + SEC),
	    SPN_CH_ATTR);
}

static void
test_change_content(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG), s;
	struct spn_attr a;

	/* One nanosecond of mtime is a change. */
	a = e.attr;
	a.mtime.nsec++;
	s = e;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_CONTENT);
	assert_false(spn_consist_content_valid(&s));
	/* Size alone too. */
	a = e.attr;
	a.size++;
	s = e;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_CONTENT);
	/* Still reported while the mirror has not caught up. */
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + 2 * SEC),
	    SPN_CH_CONTENT);
	/* Caught up: quiet again. */
	spn_consist_set_content(&s);
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + 3 * SEC), 0);
	/* Nothing mirrored, nothing stale. */
	a = e.attr;
	a.mtime.sec++;
	s = e;
	s.state = SPN_ENT_STUB;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR);
}

static void
test_change_replaced(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG), s;
	struct spn_attr a;

	a = e.attr;
	a.fileid++;
	s = e;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_CONTENT | SPN_CH_REPLACED);
	s = e;
	s.state = SPN_ENT_STUB;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_REPLACED);
}

static void
test_change_dir_listing(void **state)
{
	struct spn_entry d = cached_of(&defaults, S_IFDIR), s;
	struct spn_attr a;

	/* Unchanged: listing and completeness kept. */
	s = d;
	a = d.attr;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC), 0);
	assert_true(s.flags & SPN_EF_DIR_COMPLETE);
	assert_true(spn_consist_content_valid(&s));

	/* A name added or removed: mtime moves. Never SPN_CH_CONTENT for
	 * a directory. */
	s = d;
	a = d.attr;
	a.mtime.nsec++;
	a.size += 32;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_DIR_LISTING);
	assert_false(s.flags & SPN_EF_DIR_COMPLETE);
	assert_false(spn_consist_content_valid(&s));

	/* ctime alone (mtime put back with utimes) is enough. */
	s = d;
	a = d.attr;
	a.ctime.sec++;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_DIR_LISTING);

	/* Another directory under the name. */
	s = d;
	a = d.attr;
	a.fileid = 99;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_DIR_LISTING | SPN_CH_REPLACED);

	/* A file now where the directory was. */
	s = d;
	a = attr_of(S_IFREG);
	a.fileid = 100;
	assert_int_equal(
	    spn_consist_after_revalidate(&defaults, &s, &a, T0 + SEC),
	    SPN_CH_ATTR | SPN_CH_DIR_LISTING | SPN_CH_REPLACED |
		SPN_CH_CONTENT);
	assert_false(s.flags & SPN_EF_DIR_COMPLETE);
}

static void
test_content_valid(void **state)
{
	struct spn_entry e = cached_of(&defaults, S_IFREG), s;
	struct spn_entry d = cached_of(&defaults, S_IFDIR);

	assert_true(spn_consist_content_valid(&e));
	s = e;
	s.state = SPN_ENT_STUB;
	assert_false(spn_consist_content_valid(&s));
	s = e;
	s.content_mtime.sec--;
	assert_false(spn_consist_content_valid(&s));
	s = e;
	s.content_mtime.nsec--;
	assert_false(spn_consist_content_valid(&s));
	s = e;
	s.content_size--;
	assert_false(spn_consist_content_valid(&s));
	s = e;
	s.content_fileid--;
	assert_false(spn_consist_content_valid(&s));
	/* A file's ctime is not part of it (chmod keeps the content). */
	s = e;
	s.content_ctime.sec--;
	assert_true(spn_consist_content_valid(&s));

	/* A directory's listing: mtime, ctime, fileid; not size. */
	assert_true(spn_consist_content_valid(&d));
	s = d;
	s.content_size--;
	assert_true(spn_consist_content_valid(&s));
	s = d;
	s.content_ctime.nsec--;
	assert_false(spn_consist_content_valid(&s));
	s = d;
	s.content_mtime.sec++;
	assert_false(spn_consist_content_valid(&s));
	s = d;
	s.content_fileid++;
	assert_false(spn_consist_content_valid(&s));
	s = d;
	s.state = SPN_ENT_STUB;
	assert_false(spn_consist_content_valid(&s));
}

static void
test_set_content(void **state)
{
	struct spn_entry e;

	memset(&e, 0, sizeof(e));
	e.attr = attr_of(S_IFREG);
	e.state = SPN_ENT_CACHED;
	assert_false(spn_consist_content_valid(&e));
	spn_consist_set_content(&e);
	assert_true(spn_consist_content_valid(&e));
	assert_int_equal(e.content_size, e.attr.size);
	assert_int_equal(e.content_fileid, e.attr.fileid);
	assert_int_equal(e.content_mtime.nsec, e.attr.mtime.nsec);
	assert_int_equal(e.content_ctime.nsec, e.attr.ctime.nsec);
	assert_int_equal(e.state, SPN_ENT_CACHED);
}

static void
test_attr_equal(void **state)
{
	struct spn_attr a = attr_of(S_IFREG), b;

#define DIFFERS(stmt)                                                          \
	do {                                                                   \
		b = a;                                                         \
		stmt;                                                          \
		assert_false(spn_consist_attr_equal(&a, &b));                  \
	} while (0)
#define SAME(stmt)                                                             \
	do {                                                                   \
		b = a;                                                         \
		stmt;                                                          \
		assert_true(spn_consist_attr_equal(&a, &b));                   \
	} while (0)
	SAME((void)0);
	DIFFERS(b.type = S_IFLNK);
	DIFFERS(b.mode = 0600);
	DIFFERS(b.uid++);
	DIFFERS(b.gid++);
	DIFFERS(b.size++);
	DIFFERS(b.fileid++);
	DIFFERS(b.mtime.sec++);
	DIFFERS(b.mtime.nsec++);
	DIFFERS(b.ctime.sec++);
	DIFFERS(b.ctime.nsec++);
	SAME(b.nlink++);
	SAME(b.used++);
	SAME(b.rdev++);
	SAME(b.fsid++);
	SAME(b.atime.sec++);
	SAME(b.atime.nsec++);
#undef DIFFERS
#undef SAME
}

static void
test_lookup(void **state)
{
	struct spn_entry d = cached_of(&defaults, S_IFDIR), s;
	struct spn_entry f = cached_of(&defaults, S_IFREG);
	const int64_t in = T0 + 10 * SEC, out = T0 + 30 * SEC;

	/* Fresh, complete, stamp current: no round trip either way. */
	assert_int_equal(spn_consist_lookup(&defaults, &d, 1, in),
			 SPN_LOOKUP_HIT);
	assert_int_equal(spn_consist_lookup(&defaults, &d, 0, in),
			 SPN_LOOKUP_NEGATIVE);

	/* Stale directory attributes: one GETATTR on the dir first. */
	assert_int_equal(spn_consist_lookup(&defaults, &d, 1, out),
			 SPN_LOOKUP_REVALIDATE);
	assert_int_equal(spn_consist_lookup(&defaults, &d, 0, out),
			 SPN_LOOKUP_REVALIDATE);
	assert_int_equal(spn_consist_lookup(&defaults, &d, 0, T0 - 1),
			 SPN_LOOKUP_REVALIDATE);

	/* Listing incomplete: known names hit, the rest must be asked. */
	s = d;
	s.flags &= (uint8_t)~SPN_EF_DIR_COMPLETE;
	assert_int_equal(spn_consist_lookup(&defaults, &s, 1, in),
			 SPN_LOOKUP_HIT);
	assert_int_equal(spn_consist_lookup(&defaults, &s, 0, in),
			 SPN_LOOKUP_MISS);

	/* The dir changed and the names have not caught up yet. */
	s = d;
	s.content_mtime.nsec++;
	assert_int_equal(spn_consist_lookup(&defaults, &s, 1, in),
			 SPN_LOOKUP_MISS);
	assert_int_equal(spn_consist_lookup(&defaults, &s, 0, in),
			 SPN_LOOKUP_MISS);

	/* After revalidating a changed dir: completeness is gone. */
	s = d;
	{
		struct spn_attr a = d.attr;

		a.mtime.sec++;
		spn_consist_after_revalidate(&defaults, &s, &a, in);
	}
	assert_int_equal(spn_consist_lookup(&defaults, &s, 0, in),
			 SPN_LOOKUP_MISS);
	assert_int_equal(spn_consist_lookup(&defaults, &s, 1, in),
			 SPN_LOOKUP_MISS);
	/* Relisted: back to no round trips. */
	spn_consist_set_content(&s);
	s.flags |= SPN_EF_DIR_COMPLETE;
	assert_int_equal(spn_consist_lookup(&defaults, &s, 0, in),
			 SPN_LOOKUP_NEGATIVE);

	/* Not a directory: let the server say ENOTDIR. */
	assert_int_equal(spn_consist_lookup(&defaults, &f, 0, T0),
			 SPN_LOOKUP_MISS);
	assert_int_equal(spn_consist_lookup(&defaults, NULL, 0, T0),
			 SPN_LOOKUP_MISS);

	/* A never-validated directory. */
	s = d;
	s.validated_ns = 0;
	assert_int_equal(spn_consist_lookup(&defaults, &s, 1, in),
			 SPN_LOOKUP_REVALIDATE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_like_linux),
	    cmocka_unit_test(test_never_validated_is_stale),
	    cmocka_unit_test(test_fresh_window),
	    cmocka_unit_test(test_dir_uses_acdir),
	    cmocka_unit_test(test_timeout_doubles_to_max_and_resets),
	    cmocka_unit_test(test_timeout_doubles_once_per_window),
	    cmocka_unit_test(test_dir_timeout),
	    cmocka_unit_test(test_strict_is_never_fresh),
	    cmocka_unit_test(test_settings_shrunk),
	    cmocka_unit_test(test_min_above_max),
	    cmocka_unit_test(test_first_revalidate),
	    cmocka_unit_test(test_unchanged_and_uncompared),
	    cmocka_unit_test(test_change_attr_only),
	    cmocka_unit_test(test_change_content),
	    cmocka_unit_test(test_change_replaced),
	    cmocka_unit_test(test_change_dir_listing),
	    cmocka_unit_test(test_content_valid),
	    cmocka_unit_test(test_set_content),
	    cmocka_unit_test(test_attr_equal),
	    cmocka_unit_test(test_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
