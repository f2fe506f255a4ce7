/*
 * test_path.c - where a client path goes once a symlink in it is
 * followed (client/path.c), as the kernel follows it.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/path.h"

static char out[PATH_MAX];

static void
expect(const char *link, const char *target, const char *rest, const char *want)
{
	assert_int_equal(spn_link_compose(link, target, rest, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
test_relative(void **state)
{
	(void)state;
	expect("/nfs/a/lnk", "../b", "f", "/nfs/b/f");
	expect("/nfs/a/lnk", "b", "f/g", "/nfs/a/b/f/g");
	expect("/nfs/a/lnk", "./b/./", "", "/nfs/a/b");
	expect("/nfs/lnk", "..", "etc/passwd", "/etc/passwd"); /* out of the mount */
}

static void
test_absolute(void **state)
{
	(void)state;
	expect("/nfs/x/root", "/", "tmp/v/target.txt", "/tmp/v/target.txt");
	expect("/nfs/abs", "/etc", "", "/etc");
	expect("/nfs/abs", "//nfs//b/", "c", "/nfs/b/c");
}

static void
test_dotdot_at_root(void **state)
{
	char chain[200] = "";
	int i;

	(void)state;
	/* Any number of ".." stops at "/", as in the kernel. */
	for (i = 0; i < 40; i++)
		strcat(chain, "../");
	expect("/nfs/a/b/up", chain, "", "/");
	expect("/nfs/a/b/up", chain, "etc", "/etc");
	assert_int_equal(spn_path_normalize("/nfs/..", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(spn_path_normalize("/../..//a/./b/..", out, sizeof(out)), 0);
	assert_string_equal(out, "/a");
}

static void
test_errors(void **state)
{
	static char longt[PATH_MAX + 10];

	(void)state;
	assert_int_equal(spn_link_compose("/nfs/l", "", "x", out, sizeof(out)), -ENOENT);
	memset(longt, 'a', sizeof(longt) - 1);
	assert_int_equal(spn_link_compose("/nfs/l", longt, "", out, sizeof(out)), -ENAMETOOLONG);
	assert_int_equal(spn_link_compose("/nfs/l", "abc", "def", out, 8), -ENAMETOOLONG);
	assert_int_equal(spn_path_normalize("rel", out, sizeof(out)), -EINVAL);
	/* Names with a newline or 255 bytes are just names. */
	expect("/nfs/l", "new\nline", "", "/nfs/new\nline");
}

static void
test_beneath(void **state)
{
	(void)state;
	assert_true(spn_path_beneath("/a", "/a"));
	assert_true(spn_path_beneath("/a/b", "/a"));
	assert_true(spn_path_beneath("/a/b/c", "/a/b"));
	assert_true(spn_path_beneath("/a", "/"));
	assert_true(spn_path_beneath("/", "/"));
	assert_false(spn_path_beneath("/ab", "/a"));
	assert_false(spn_path_beneath("/a", "/a/b"));
	assert_false(spn_path_beneath("/b", "/a"));
	assert_false(spn_path_beneath("/", "/a"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_absolute),
		cmocka_unit_test(test_dotdot_at_root),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_beneath),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
