/* Unit tests for the SPECNFS_* settings table (policy/policy_env.c). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/policy.h"

/* A fake environment: NAME=VALUE strings, NULL-terminated. */
static const char *const *fake_env;

static const char *
fake_getenv(const char *name)
{
	size_t n = strlen(name);
	const char *const *e;

	for (e = fake_env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static int
load(const char *const *env, struct spn_policy *p, char *err, size_t errlen)
{
	fake_env = env;
	return spn_policy_load(p, fake_getenv, err, errlen);
}

static void
test_defaults(void **state)
{
	static const char *const env[] = { "HOME=/home/u", "SPECNFS_CONFIG=/nonexistent/x", NULL };
	struct spn_policy p;
	char err[256] = "";

	assert_int_equal(load(env, &p, err, sizeof(err)), 0);
	assert_int_equal(p.nmounts, 0);
	assert_string_equal(p.cache_dir, "/home/u/.cache/specnfs");
	/* Strict attribute caching unless asked otherwise. */
	assert_int_equal(p.acregmin, 0);
	assert_int_equal(p.acregmax, 0);
	assert_int_equal(p.acdirmin, 0);
	assert_int_equal(p.acdirmax, 0);
	assert_int_equal(p.cache_max, 10ULL << 30);
	assert_int_equal(p.log_level, 1);
	assert_int_equal(spn_policy_source(&p, "SPECNFS_ACREGMIN"), SPN_SRC_DEFAULT);
}

static void
test_mounts(void **state)
{
	static const char *const env[] = {
		"SPECNFS_CONFIG=/nonexistent/x",
		"SPECNFS_MOUNTS=/nfs=nfs://h/export?nfsport=1&mountport=2; /b=nfs://h2/e?version=4",
		NULL,
	};
	struct spn_policy p;
	char err[256] = "";

	assert_int_equal(load(env, &p, err, sizeof(err)), 0);
	assert_int_equal(p.nmounts, 2);
	assert_string_equal(p.mounts[0].prefix, "/nfs");
	assert_string_equal(p.mounts[0].url, "nfs://h/export?nfsport=1&mountport=2");
	assert_string_equal(p.mounts[1].prefix, "/b");
	assert_string_equal(p.mounts[1].url, "nfs://h2/e?version=4");
	assert_int_equal(spn_policy_source(&p, "SPECNFS_MOUNTS"), SPN_SRC_ENV);
}

static void
expect_error(const char *setting, const char *needle)
{
	const char *env[] = { "SPECNFS_CONFIG=/nonexistent/x", setting, NULL };
	struct spn_policy p;
	char err[512] = "";

	assert_int_equal(load(env, &p, err, sizeof(err)), -EINVAL);
	if (strstr(err, needle) == NULL)
		fail_msg("'%s': error '%s' does not mention '%s'", setting, err, needle);
}

static void
test_bad_values(void **state)
{
	expect_error("SPECNFS_ACREGMIN=abc", "SPECNFS_ACREGMIN");
	expect_error("SPECNFS_ACREGMIN=-1", "whole number");
	expect_error("SPECNFS_ACREGMIN=99999999999999999999", "SPECNFS_ACREGMIN");
	expect_error("SPECNFS_LOG=5", "0 to 4");
	expect_error("SPECNFS_CACHE_MAX=10Q", "SPECNFS_CACHE_MAX");
	expect_error("SPECNFS_CACHE=relative/dir", "absolute");
	expect_error("SPECNFS_MOUNTS=/nfs", "PREFIX=URL");
	expect_error("SPECNFS_MOUNTS=nfs=nfs://h/e", "absolute path");
	expect_error("SPECNFS_MOUNTS=/nfs/=nfs://h/e", "absolute path");
	expect_error("SPECNFS_MOUNTS=/=nfs://h/e", "absolute path");
	expect_error("SPECNFS_MOUNTS=/nfs=http://h/e", "nfs://");
	expect_error("SPECNFS_MOUNTS=/a=nfs://h/e;/a/b=nfs://h/f", "overlap");
	expect_error("SPECNFS_MOUNTS=/a=nfs://h/e;/a=nfs://h/f", "overlap");
	{
		const char *env[] = { "SPECNFS_CONFIG=/nonexistent/x", "SPECNFS_ACREGMIN=5",
				      "SPECNFS_ACREGMAX=1", NULL };
		struct spn_policy p;
		char err[512] = "";

		assert_int_equal(load(env, &p, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "must not exceed"));
	}
}

static void
test_config_file(void **state)
{
	char dir[] = "/tmp/test_policy.XXXXXX", path[256], cfg[300], err[512] = "";
	const char *env[] = { cfg, "SPECNFS_ACREGMAX=90", NULL };
	struct spn_policy p;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	snprintf(cfg, sizeof(cfg), "SPECNFS_CONFIG=%s", path);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# comment\n\nSPECNFS_ACREGMIN=7\nSPECNFS_ACREGMAX=8\n"
		   "SPECNFS_MOUNTS=/x=nfs://h/e\n");
	fclose(f);
	assert_int_equal(load(env, &p, err, sizeof(err)), 0);
	assert_int_equal(p.acregmin, 7);
	assert_int_equal(p.acregmax, 90); /* the environment wins */
	assert_int_equal(spn_policy_source(&p, "SPECNFS_ACREGMIN"), SPN_SRC_FILE);
	assert_int_equal(spn_policy_source(&p, "SPECNFS_ACREGMAX"), SPN_SRC_ENV);
	assert_int_equal(p.nmounts, 1);

	f = fopen(path, "w");
	fprintf(f, "SPECNFS_NOPE=1\n");
	fclose(f);
	assert_int_equal(load(env, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown setting 'SPECNFS_NOPE'"));
	assert_non_null(strstr(err, ":1:"));
	{
		/* Only a minimum: the kernel's 60 s maximum comes with it. */
		const char *env2[] = { "SPECNFS_CONFIG=/nonexistent/x", "SPECNFS_ACREGMIN=3",
				       "SPECNFS_ACDIRMIN=90", NULL };

		assert_int_equal(load(env2, &p, err, sizeof(err)), 0);
		assert_int_equal(p.acregmax, 60);
		assert_int_equal(p.acdirmax, 90);
	}
	unlink(path);
	rmdir(dir);
}

static void
test_describe_and_hash(void **state)
{
	static const char *const env1[] = { "SPECNFS_CONFIG=/nonexistent/x",
					    "SPECNFS_MOUNTS=/nfs=nfs://h/e", "SPECNFS_CACHE=/c",
					    NULL };
	static const char *const env2[] = { "SPECNFS_CONFIG=/nonexistent/x",
					    "SPECNFS_MOUNTS=/nfs=nfs://h/f", "SPECNFS_CACHE=/c",
					    NULL };
	struct spn_policy p1, p2;
	char err[256], text[8192];

	assert_int_equal(load(env1, &p1, err, sizeof(err)), 0);
	assert_int_equal(load(env2, &p2, err, sizeof(err)), 0);
	assert_true(spn_policy_hash(&p1) != spn_policy_hash(&p2));
	assert_true(spn_policy_describe(&p1, text, sizeof(text)) > 0);
	assert_non_null(strstr(text, "SPECNFS_MOUNTS"));
	assert_non_null(strstr(text, "/nfs=nfs://h/e"));
	assert_non_null(strstr(text, "(environment)"));
	assert_non_null(strstr(text, "(default)"));
}

static void
test_speculation_settings(void **state)
{
	static const char *const d[] = { "SPECNFS_CONFIG=/nonexistent/x", NULL };
	static const char *const off[] = { "SPECNFS_CONFIG=/nonexistent/x", "SPECNFS_POLICY=off",
					   NULL };
	static const char *const full[] = { "SPECNFS_CONFIG=/nonexistent/x", "SPECNFS_POLICY=full",
					    "SPECNFS_SPECULATE=-readdir,-mutate", NULL };
	static const char *const over[] = { "SPECNFS_CONFIG=/nonexistent/x", "SPECNFS_POLICY=off",
					    "SPECNFS_SPECULATE=stat,+lookup", NULL };
	static const char *const none[] = { "SPECNFS_CONFIG=/nonexistent/x",
					    "SPECNFS_CHECKPOINT=none", NULL };
	struct spn_policy p;
	char err[512] = "", text[8192];

	static const char *const cto[] = { "SPECNFS_CONFIG=/nonexistent/x", "SPECNFS_POLICY=cto",
					   NULL };

	assert_int_equal(load(d, &p, err, sizeof(err)), 0);
	assert_int_equal(p.policy, SPN_POLICY_FULL); /* speculation is the default */
	assert_int_equal(p.checkpoint, CKPT_FORK);
	assert_int_equal(p.speculate, SPN_SPEC_OP_OPEN | SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP |
					      SPN_SPEC_OP_READDIR | SPN_SPEC_OP_CLOSE |
					      SPN_SPEC_OP_MUTATE);
	assert_int_equal(load(cto, &p, err, sizeof(err)), 0);
	assert_int_equal(p.policy, SPN_POLICY_CTO);
	assert_int_equal(p.speculate, SPN_SPEC_OP_OPEN | SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP |
					      SPN_SPEC_OP_READDIR);
	assert_int_equal(p.max_predictions, 1000);
	assert_int_equal(p.max_epoch_ms, 1000);
	assert_int_equal(load(off, &p, err, sizeof(err)), 0);
	assert_int_equal(p.speculate, 0);
	assert_int_equal(load(full, &p, err, sizeof(err)), 0);
	assert_int_equal(p.speculate, SPN_SPEC_OP_OPEN | SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP |
					      SPN_SPEC_OP_CLOSE);
	assert_int_equal(load(over, &p, err, sizeof(err)), 0);
	assert_int_equal(p.speculate, SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP);
	assert_true(spn_policy_describe(&p, text, sizeof(text)) > 0);
	assert_non_null(strstr(text, "stat,lookup"));
	assert_int_equal(load(none, &p, err, sizeof(err)), 0);
	assert_int_equal(p.speculate, 0);
	expect_error("SPECNFS_POLICY=fast", "want one of off, cto, full");
	expect_error("SPECNFS_CHECKPOINT=vm", "SPECNFS_CHECKPOINT");
	expect_error("SPECNFS_SPECULATE=+open,+write", "unknown operation 'write'");
	expect_error("SPECNFS_SPECULATE=open,,stat", "unknown operation");
	expect_error("SPECNFS_MAX_EPOCH_MS=1s", "SPECNFS_MAX_EPOCH_MS");
}

static void
test_parsers(void **state)
{
	uint64_t v;

	assert_int_equal(spn_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(spn_parse_size("2k", &v), 0);
	assert_int_equal(v, 2048);
	assert_int_equal(spn_parse_size("3G", &v), 0);
	assert_int_equal(v, 3ULL << 30);
	assert_int_equal(spn_parse_size("", &v), -EINVAL);
	assert_int_equal(spn_parse_size("G", &v), -EINVAL);
	assert_int_equal(spn_parse_size("99999999999T", &v), -ERANGE);
	assert_int_equal(spn_parse_uint("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	assert_int_equal(spn_parse_uint("7", 6, &v), -ERANGE);
	assert_int_equal(spn_parse_uint("1x", 9, &v), -EINVAL);
}

/* Mount URLs are checked when the policy is read: a malformed one is a
 * one-line error at once, not a server that never answers. */
static void
expect_bad_url(const char *url, const char *needle)
{
	char why[256] = "";

	if (spn_policy_check_url(url, why, sizeof(why)) != -EINVAL)
		fail_msg("'%s' was accepted", url);
	if (strstr(why, needle) == NULL)
		fail_msg("'%s': '%s' does not mention '%s'", url, why, needle);
}

static void
test_url_validator(void **state)
{
	static const char *const good[] = {
		"nfs://h/export",
		"nfs://h/",
		"nfs://127.0.0.1/export?nfsport=2049&mountport=20048",
		"nfs://h:2049/e/sub",
		"nfs://[::1]/e",
		"nfs://[::1]:2049/e?version=4",
		"nfs://h/e?version=3&uid=1000&gid=1000&timeo=600&retrans=2",
		"nfs://h/e?if=eth0&readdir-buffer=8192,8192",
		NULL,
	};
	char why[256];
	int i;

	for (i = 0; good[i] != NULL; i++)
		if (spn_policy_check_url(good[i], why, sizeof(why)) != 0)
			fail_msg("'%s' refused: %s", good[i], why);
	expect_bad_url("http://h/e", "nfs://");
	expect_bad_url("nfs:///export", "no server");
	expect_bad_url("nfs://127.0.0.1", "no export path");
	expect_bad_url("nfs://h?nfsport=1", "no export path");
	expect_bad_url("nfs://h/e?nfsport=abc", "nfsport=abc");
	expect_bad_url("nfs://h/e?nfsport=", "no value");
	expect_bad_url("nfs://h/e?nfsport", "no value");
	expect_bad_url("nfs://h/e?nfsport=0", "1 to 65535");
	expect_bad_url("nfs://h/e?nfsport=70000", "1 to 65535");
	expect_bad_url("nfs://h/e?mountport=12x", "mountport");
	expect_bad_url("nfs://h/e?version=2", "3 to 4");
	expect_bad_url("nfs://h/e?nfsprot=2049", "unknown parameter 'nfsprot'");
	expect_bad_url("nfs://h:/e", "empty port");
	expect_bad_url("nfs://h:abc/e", "bad port");
	expect_bad_url("nfs://h:0/e", "bad port 0");
	expect_bad_url("nfs://[::1/e", "IPv6");
	/* Through the policy: SPECNFS_MOUNTS, the URL and what is wrong. */
	expect_error("SPECNFS_MOUNTS=/nfs=nfs:///export",
		     "SPECNFS_MOUNTS: URL 'nfs:///export' for /nfs: no server");
	expect_error("SPECNFS_MOUNTS=/nfs=nfs://127.0.0.1", "no export path");
	expect_error("SPECNFS_MOUNTS=/nfs=nfs://h/e?nfsport=abc", "want a number");
}

static void
test_mount_mode(void **state)
{
	static const char *const dflt[] = { "SPECNFS_CONFIG=/nonexistent/x", NULL };
	static const char *const soft[] = { "SPECNFS_CONFIG=/nonexistent/x",
					    "SPECNFS_MOUNT_MODE=soft", "SPECNFS_TIMEO=5", NULL };
	static const char *const old[] = { "SPECNFS_CONFIG=/nonexistent/x",
					   "SPECNFS_CONNECT_TIMEOUT=2", NULL };
	static const char *const both[] = { "SPECNFS_CONFIG=/nonexistent/x",
					    "SPECNFS_CONNECT_TIMEOUT=2", "SPECNFS_MOUNT_MODE=hard",
					    "SPECNFS_TIMEO=9", NULL };
	struct spn_policy p;
	char err[256] = "";

	assert_int_equal(load(dflt, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mount_mode, SPN_MOUNT_HARD);
	assert_int_equal(p.timeo, 60);
	assert_int_equal(load(soft, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mount_mode, SPN_MOUNT_SOFT);
	assert_int_equal(p.timeo, 5);
	/* The older setting keeps its meaning: EIO after that long. */
	assert_int_equal(load(old, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mount_mode, SPN_MOUNT_SOFT);
	assert_int_equal(p.timeo, 2);
	assert_int_equal(load(both, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mount_mode, SPN_MOUNT_HARD);
	assert_int_equal(p.timeo, 9);
	expect_error("SPECNFS_MOUNT_MODE=intr", "want one of hard, soft");
	expect_error("SPECNFS_TIMEO=0", "at least 1 second");
	expect_error("SPECNFS_TIMEO=1m", "SPECNFS_TIMEO");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_mounts),
		cmocka_unit_test(test_bad_values),   cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_describe_and_hash), cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_speculation_settings), cmocka_unit_test(test_url_validator),
		cmocka_unit_test(test_mount_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
