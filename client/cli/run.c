/*
 * cli/run.c: `specnfs run`, a program (or a shell) under the shim.
 *
 * It completes the environment (SPECNFS_MOUNTS with the --mount options,
 * SPECNFS_DAEMON pointing at the specnfsd beside us, LD_PRELOAD with the
 * shim), starts the daemon so that the program's first NFS call does not
 * wait for it, and then runs the command. specnfs itself does not run
 * under the shim, and its own execvp would not find a command on NFS (in
 * PATH, by a path under a prefix, or through a local symlink into one): so
 * it execs itself once more, now under the shim, with an internal option
 * that only runs the command -- the shim's execvp then finds it as the
 * program's children would.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/conn.h"
#include "policy/policy.h"
#include "client/cli/run.h"

#ifndef SPECNFS_SHIM_DEFAULT
#define SPECNFS_SHIM_DEFAULT "/usr/local/lib/libspecnfs.so"
#endif

/* Internal: "run this command now, we are under the shim". */
#define UNDER_SHIM "--under-shim"

static const char run_usage[] =
	"usage: specnfs run [--mount PREFIX=URL]... [--] [COMMAND [ARGS...]]\n"
	"\n"
	"Runs COMMAND (default: $SHELL, else /bin/sh) with the specnfs shim preloaded:\n"
	"paths under the mount prefixes are served from NFS through the cache daemon,\n"
	"which is started first. Programs on NFS run, PATH may name NFS directories,\n"
	"and every child keeps the shim, even one started with an emptied environment.\n"
	"\n"
	"Options:\n"
	"  -m, --mount PREFIX=URL  add a mount (appended to SPECNFS_MOUNTS)\n"
	"  -h, --help              this text\n"
	"\n"
	"Settings: SPECNFS_SHIM (the shim to preload; default: the one beside this\n"
	"program, else " SPECNFS_SHIM_DEFAULT "), SPECNFS_DAEMON and the others shown by\n"
	"'specnfs config'. Exit status: the command's; 1 no shim or no daemon, 2 bad\n"
	"usage or settings, 126 the command cannot run, 127 not found.\n";

static void __attribute__((format(printf, 1, 2)))
run_error(const char *fmt, ...)
{
	va_list ap;

	fputs("specnfs: run: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The directory of the running program, or "" if unknown. */
static void
self_dir(char *buf, size_t len)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	buf[0] = '\0';
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		snprintf(buf, len, "%.*s", (int)(slash - self), self);
}

/*
 * The shim to preload: SPECNFS_SHIM; else the one in a libtool build tree
 * (<dir>/.libs) or beside us; else the installed one. An absolute path,
 * so that the children find it from any working directory.
 */
static int
find_shim(const char *dir, char *out, size_t len)
{
	const char *env = getenv("SPECNFS_SHIM");
	char cand[PATH_MAX];

	if (env != NULL && env[0] != '\0') {
		if (realpath(env, out) == NULL || access(out, R_OK) < 0) {
			run_error("SPECNFS_SHIM=%s: %s", env, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (dir[0] != '\0') {
		snprintf(cand, sizeof(cand), "%s/.libs/libspecnfs.so", dir);
		if (access(cand, R_OK) == 0 && realpath(cand, out) != NULL)
			return 0;
		snprintf(cand, sizeof(cand), "%s/libspecnfs.so", dir);
		if (access(cand, R_OK) == 0 && realpath(cand, out) != NULL)
			return 0;
	}
	if (access(SPECNFS_SHIM_DEFAULT, R_OK) == 0) {
		snprintf(out, len, "%s", SPECNFS_SHIM_DEFAULT);
		return 0;
	}
	run_error("cannot find libspecnfs.so (looked beside %s and at %s; set SPECNFS_SHIM)",
		  dir[0] != '\0' ? dir : "this program", SPECNFS_SHIM_DEFAULT);
	return -1;
}

/* Does the LD_PRELOAD value already name this shim? */
static int
preload_has(const char *list, const char *shim)
{
	size_t n = strlen(shim);
	const char *p = list;

	while ((p = strstr(p, shim)) != NULL) {
		if ((p == list || p[-1] == ':' || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ':' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

static int
set_preload(const char *shim)
{
	const char *old = getenv("LD_PRELOAD");
	char *v;
	int rc;

	if (old == NULL || old[0] == '\0')
		return setenv("LD_PRELOAD", shim, 1);
	if (preload_has(old, shim))
		return 0;
	v = malloc(strlen(shim) + strlen(old) + 2);
	if (v == NULL)
		return -1;
	sprintf(v, "%s:%s", shim, old);
	rc = setenv("LD_PRELOAD", v, 1);
	free(v);
	return rc;
}

/* Under the shim now: its execvp finds programs on NFS too. */
static int
exec_command(char **cmd)
{
	int err;

	execvp(cmd[0], cmd);
	err = errno;
	run_error("%s: %s", cmd[0], strerror(err));
	return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

int
spn_cmd_run(int argc, char **argv)
{
	struct spn_policy pol;
	struct spn_conn conn = { .fd = -1 };
	char mounts[8192] = "", err[1024], dir[PATH_MAX], shim[PATH_MAX], self[PATH_MAX];
	const char *shell;
	char *defcmd[2];
	char **cmd;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, UNDER_SHIM) == 0) {
			if (i + 1 < argc && strcmp(argv[i + 1], "--") == 0)
				i++;
			if (i + 1 >= argc) {
				run_error("%s needs a command", UNDER_SHIM);
				return 2;
			}
			return exec_command(argv + i + 1);
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(run_usage, stdout);
			return 0;
		}
		if (strcmp(a, "-m") == 0 || strcmp(a, "--mount") == 0) {
			if (i + 1 >= argc) {
				run_error("%s needs PREFIX=URL (see --help)", a);
				return 2;
			}
			val = argv[++i];
		} else if (strncmp(a, "--mount=", 8) == 0) {
			val = a + 8;
		} else if (a[0] == '-' && a[1] != '\0') {
			run_error("unknown option '%s' (see --help)", a);
			return 2;
		} else {
			break;
		}
		if (mounts[0] == '\0' && getenv("SPECNFS_MOUNTS") != NULL)
			snprintf(mounts, sizeof(mounts), "%s", getenv("SPECNFS_MOUNTS"));
		if (strlen(mounts) + strlen(val) + 2 > sizeof(mounts)) {
			run_error("too many --mount options");
			return 2;
		}
		strcat(mounts, mounts[0] != '\0' ? ";" : "");
		strcat(mounts, val);
	}
	if (i < argc) {
		cmd = argv + i;
	} else {
		shell = getenv("SHELL");
		defcmd[0] = (char *)(shell != NULL && shell[0] != '\0' ? shell : "/bin/sh");
		defcmd[1] = NULL;
		cmd = defcmd;
	}

	/* Settings: the programs and the daemon read them from here. */
	if (mounts[0] != '\0' && setenv("SPECNFS_MOUNTS", mounts, 1) < 0) {
		run_error("SPECNFS_MOUNTS: %s", strerror(errno));
		return 2;
	}
	if (spn_policy_load(&pol, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfs: %s\n", err);
		return 2;
	}
	if (pol.nmounts == 0) {
		fprintf(stderr, "specnfs: no mounts: set SPECNFS_MOUNTS (e.g. "
				"/nfs=nfs://server/export) or use --mount\n");
		return 2;
	}
	/* Asked for and impossible here: say so once, and why. */
	if (pol.checkpoint == CKPT_CRIU && pol.speculate != 0)
		fprintf(stderr, "specnfs: SPECNFS_CHECKPOINT=criu: this build has no CRIU "
				"back-end; nothing runs ahead (each prediction is checked "
				"before the program goes on, as with none)\n");
	self_dir(dir, sizeof(dir));
	if (find_shim(dir, shim, sizeof(shim)) < 0)
		return 1;
	/* The shim starts the daemon when it finds none running: the one
	 * beside us, as this command would, not whatever is installed. */
	if (spn_policy_source(&pol, "SPECNFS_DAEMON") == SPN_SRC_DEFAULT && dir[0] != '\0') {
		char d[PATH_MAX];

		snprintf(d, sizeof(d), "%s/specnfsd", dir);
		if (access(d, X_OK) == 0 && setenv("SPECNFS_DAEMON", d, 1) < 0) {
			run_error("SPECNFS_DAEMON: %s", strerror(errno));
			return 1;
		}
	}
	/* Start the daemon now (before LD_PRELOAD: it must not run under
	 * the shim; it also takes LD_PRELOAD out itself). */
	if (spn_conn_open(&conn, &pol, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfs: %s\n", err);
		return 1;
	}
	spn_conn_warn_settings(&conn, &pol);
	spn_conn_close(&conn);
	if (set_preload(shim) < 0) {
		run_error("LD_PRELOAD: %s", strerror(errno));
		return 1;
	}

	/* Once more, under the shim: specnfs run --under-shim -- CMD... */
	{
		size_t n = 0;
		int k;
		char *nargv[argc + 6];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (len <= 0) {
			run_error("/proc/self/exe: %s", strerror(errno));
			return 1;
		}
		self[len] = '\0';
		nargv[n++] = (char *)"specnfs";
		nargv[n++] = (char *)"run";
		nargv[n++] = (char *)UNDER_SHIM;
		nargv[n++] = (char *)"--";
		for (k = 0; cmd[k] != NULL; k++)
			nargv[n++] = cmd[k];
		nargv[n] = NULL;
		execv(self, nargv);
		run_error("cannot re-execute %s: %s", self, strerror(errno));
		return 1;
	}
}
