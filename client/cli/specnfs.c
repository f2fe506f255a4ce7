/*
 * cli/specnfs.c: the user's command. Uses the daemon directly (stat, ls, cat,
 * get, put, mkdir, rm, mv ...), shows its state (status) and the settings
 * in effect (config), and runs programs under the shim (run).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/conn.h"
#include "client/cli/run.h"
#include "policy/policy.h"
#include "client/proto.h"

static const char usage[] =
	"usage: specnfs [--mount PREFIX=URL]... [--no-start] COMMAND [ARGS]\n"
	"\n"
	"Commands (PATH is a path under a mount prefix, e.g. /nfs/src/a.c):\n"
	"  run [--mount P=URL] [--] [CMD [ARGS]]\n"
	"                          run CMD (default $SHELL) under the shim: its\n"
	"                          paths under the prefixes are served by specnfs\n"
	"  stat PATH...            NFS attributes (requests are pipelined)\n"
	"  ls [-l] DIR             list a directory\n"
	"  cat PATH...             write files to standard output\n"
	"  get [-r] PATH LOCAL     copy a file (or a tree, -r) out of NFS\n"
	"  put [-r] LOCAL PATH     copy a local file (or a tree, -r) to NFS; returns\n"
	"                          once the content is on the server\n"
	"  mkdir PATH...  rmdir PATH...  rm PATH...  mv FROM TO  ln -s TARGET PATH\n"
	"  chmod MODE PATH...      (octal MODE)\n"
	"  sync PATH...            write back anything dirty now\n"
	"  status                  daemon state: mounts, cache, NFS calls, dirty bytes\n"
	"  config                  settings in effect and where each came from\n"
	"  start                   start the daemon if it is not running\n"
	"  stop                    write back everything and stop the daemon\n"
	"\n"
	"Options:\n"
	"  -m, --mount PREFIX=URL  add a mount (same as SPECNFS_MOUNTS)\n"
	"  -n, --no-start          do not start the daemon if none runs\n"
	"  -h, --help              this text\n"
	"\n"
	"Settings: SPECNFS_* variables (see 'specnfs config'). Exit status: 0 ok,\n"
	"1 an operation failed, 2 bad usage.\n";

static struct spn_policy pol;
static struct spn_conn conn;
static int autostart = 1;
static int connected;

static void __attribute__((format(printf, 1, 2), noreturn))
die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "specnfs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

static void
connect_daemon(void)
{
	char err[1024];

	if (connected)
		return;
	if (spn_conn_open(&conn, &pol, autostart, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfs: %s\n", err);
		exit(1);
	}
	connected = 1;
	spn_conn_warn_settings(&conn, &pol);
}

/* strerror, and for EIO the server that causes it and why (the daemon's
 * STATUS, asked over a connection of its own: replies may be in flight on
 * ours). */
static const char *
errtext(const char *path, int rc)
{
	static char buf[SPN_URL_MAX + 512];
	char url[SPN_URL_MAX], state[256], err[512];
	struct spn_conn c = { .fd = -1 };
	int found;

	if (rc != -EIO || path == NULL || spn_conn_open(&c, &pol, 0, err, sizeof(err)) < 0)
		return strerror(-rc);
	found = spn_conn_server_state(&c, &pol, path, url, sizeof(url), state, sizeof(state));
	spn_conn_close(&c);
	if (!found)
		return strerror(-rc);
	snprintf(buf, sizeof(buf), "%s (server %s not responding: %s)", strerror(EIO), url, state);
	return buf;
}

/* Reconnect (restarting the daemon if it died) for calls worth re-sending. */
static int
reconnect(void)
{
	char err[1024];

	if (connected)
		spn_conn_close(&conn);
	connected = 0;
	if (spn_conn_open(&conn, &pol, autostart, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfs: %s\n", err);
		return -EIO;
	}
	connected = 1;
	return 0;
}

/*
 * One request. If the daemon goes away meanwhile (a crash, kill -9, an
 * upgrade), start a new one and send the request again: every request this
 * command sends is safe to repeat (a repeated mkdir says EEXIST, which the
 * callers accept), and the new daemon finishes what the journal holds.
 */
static int
call(struct spn_req *req, struct spn_reply *rep)
{
	int rc = -EIO, tries;

	for (tries = 0; tries < 3; tries++) {
		if (tries > 0 && reconnect() < 0)
			break;
		connect_daemon();
		rc = spn_conn_call(&conn, req, rep);
		if (rc == 0)
			return rep->status;
	}
	fprintf(stderr, "specnfs: %s %s: lost the daemon: %s\n", spn_proto_op_name(req->op),
		req->path, strerror(-rc));
	return rc;
}

static int
simple(uint16_t op, const char *path, const char *path2, uint32_t mode)
{
	struct spn_req req;
	struct spn_reply rep;
	int rc;

	memset(&req, 0, sizeof(req));
	req.op = op;
	req.mode = mode;
	if (snprintf(req.path, sizeof(req.path), "%s", path) >= (int)sizeof(req.path) ||
	    (path2 &&
	     snprintf(req.path2, sizeof(req.path2), "%s", path2) >= (int)sizeof(req.path2))) {
		fprintf(stderr, "specnfs: path too long\n");
		return -ENAMETOOLONG;
	}
	rc = call(&req, &rep);
	if (rc < 0)
		fprintf(stderr, "specnfs: %s %s: %s\n", spn_proto_op_name(op), path,
			errtext(path, rc));
	return rc;
}

static const char *
type_name(uint32_t t)
{
	switch (t) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char-device";
	case S_IFBLK: return "block-device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "unknown";
}

static void
print_attr(const char *path, const struct spn_attr *a)
{
	printf("%s: type=%s mode=%04o nlink=%u uid=%u gid=%u size=%llu fileid=%llu "
	       "mtime=%lld.%09u ctime=%lld.%09u\n",
	       path, type_name(a->type), a->mode, a->nlink, a->uid, a->gid,
	       (unsigned long long)a->size, (unsigned long long)a->fileid,
	       (long long)a->mtime.sec, a->mtime.nsec, (long long)a->ctime.sec, a->ctime.nsec);
}

/* All requests first, then all replies: one round trip for many paths. */
static int
cmd_stat(int argc, char **argv)
{
	struct spn_req req;
	struct spn_reply rep;
	int i, rc, status = 0;

	if (argc < 1)
		die_usage("stat needs a PATH");
	connect_daemon();
	for (i = 0; i < argc; i++) {
		memset(&req, 0, sizeof(req));
		req.op = SPN_OP_STAT;
		req.flags = SPN_F_NOFOLLOW;
		snprintf(req.path, sizeof(req.path), "%s", argv[i]);
		rc = spn_conn_send(&conn, &req);
		if (rc < 0) {
			fprintf(stderr, "specnfs: stat %s: %s\n", argv[i], strerror(-rc));
			return 1;
		}
	}
	for (i = 0; i < argc; i++) {
		rc = spn_conn_recv(&conn, &rep);
		if (rc < 0) {
			fprintf(stderr, "specnfs: stat: lost the daemon: %s\n", strerror(-rc));
			return 1;
		}
		if (rep.status < 0) {
			const char *name = argv[rep.seq - conn.seq + argc - 1];

			fprintf(stderr, "specnfs: stat %s: %s\n", name, errtext(name, rep.status));
			status = 1;
			continue;
		}
		print_attr(argv[rep.seq - conn.seq + argc - 1], &rep.attr);
	}
	return status;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmd_ls(int argc, char **argv)
{
	struct spn_req req;
	struct spn_reply rep;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc, lflag = 0, status = 0;
	DIR *dir;
	struct dirent *de;

	if (argc >= 1 && strcmp(argv[0], "-l") == 0) {
		lflag = 1;
		argc--;
		argv++;
	}
	if (argc != 1)
		die_usage("ls needs one DIR");
	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_READDIR;
	snprintf(req.path, sizeof(req.path), "%s", argv[0]);
	rc = call(&req, &rep);
	if (rc < 0) {
		fprintf(stderr, "specnfs: ls %s: %s\n", argv[0], errtext(argv[0], rc));
		return 1;
	}
	dir = opendir(rep.path);
	if (dir == NULL) {
		fprintf(stderr, "specnfs: ls %s: mirror %s: %s\n", argv[0], rep.path,
			strerror(errno));
		return 1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL) {
				fprintf(stderr, "specnfs: out of memory\n");
				return 1;
			}
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), cmp_str);
	if (!lflag) {
		for (i = 0; i < n; i++)
			printf("%s\n", names[i]);
	} else {
		size_t base = strlen(argv[0]);

		for (i = 0; i < n; i++) {
			memset(&req, 0, sizeof(req));
			req.op = SPN_OP_STAT;
			req.flags = SPN_F_NOFOLLOW;
			snprintf(req.path, sizeof(req.path), "%s%s%s", argv[0],
				 base && argv[0][base - 1] == '/' ? "" : "/", names[i]);
			if (spn_conn_send(&conn, &req) < 0)
				return 1;
		}
		for (i = 0; i < n; i++) {
			if (spn_conn_recv(&conn, &rep) < 0)
				return 1;
			if (rep.status < 0) {
				fprintf(stderr, "specnfs: ls %s/%s: %s\n", argv[0], names[i],
					strerror(-rep.status));
				status = 1;
				continue;
			}
			printf("%-9s %04o %3u %5u %5u %12llu %s\n", type_name(rep.attr.type),
			       rep.attr.mode, rep.attr.nlink, rep.attr.uid, rep.attr.gid,
			       (unsigned long long)rep.attr.size, names[i]);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return status;
}

static int
copy_fd(int in, int out)
{
	char buf[1 << 16];

	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf)), off = 0;

		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (off < r) {
			ssize_t w = write(out, buf + off, (size_t)(r - off));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			off += w;
		}
	}
}

/* Open PATH through the daemon: the mirror path to use, with attributes. */
static int
nfs_open(const char *path, uint32_t flags, uint32_t mode, struct spn_reply *rep)
{
	struct spn_req req;

	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_OPEN;
	req.flags = flags;
	req.mode = mode;
	snprintf(req.path, sizeof(req.path), "%s", path);
	return call(&req, rep);
}

static int
nfs_close(const char *path, int written)
{
	struct spn_req req;
	struct spn_reply rep;
	int rc, tries;

	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_CLOSE;
	req.flags = written ? SPN_F_WRITTEN : 0;
	snprintf(req.path, sizeof(req.path), "%s", path);
	/* The content is in the mirror and the journal: if the daemon died,
	 * a new one stores it, so the close is worth re-sending. */
	for (tries = 0; tries < 3; tries++) {
		connect_daemon();
		rc = spn_conn_call(&conn, &req, &rep);
		if (rc == 0)
			return rep.status;
		if (!written || reconnect() < 0)
			return rc;
	}
	return rc;
}

static int
get_file(const char *path, const char *local)
{
	struct spn_reply rep;
	int in, out, rc;

	rc = nfs_open(path, O_RDONLY, 0, &rep);
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", path, errtext(path, rc));
		return 1;
	}
	in = open(rep.path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "specnfs: %s: mirror %s: %s\n", path, rep.path, strerror(errno));
		return 1;
	}
	out = local ? open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, rep.attr.mode & 0777)
		    : 1;
	if (out < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", local, strerror(errno));
		close(in);
		return 1;
	}
	rc = copy_fd(in, out);
	close(in);
	if (local)
		close(out);
	nfs_close(path, 0);
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", path, errtext(path, rc));
		return 1;
	}
	return 0;
}

static int
cmd_cat(int argc, char **argv)
{
	int i, status = 0;

	if (argc < 1)
		die_usage("cat needs a PATH");
	for (i = 0; i < argc; i++)
		status |= get_file(argv[i], NULL);
	return status;
}

static int
put_file(const char *local, const char *path)
{
	struct spn_reply rep;
	struct stat st;
	int in, out, rc;

	in = open(local, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", local, strerror(errno));
		return 1;
	}
	rc = nfs_open(path, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 07777, &rep);
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", path, errtext(path, rc));
		close(in);
		return 1;
	}
	out = open(rep.path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (out < 0) {
		fprintf(stderr, "specnfs: %s: mirror %s: %s\n", path, rep.path, strerror(errno));
		close(in);
		return 1;
	}
	rc = copy_fd(in, out);
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", path, errtext(path, rc));
		return 1;
	}
	rc = nfs_close(path, 1);
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: write-back failed: %s\n", path, errtext(path, rc));
		return 1;
	}
	return 0;
}

static int
join(char *out, size_t len, const char *a, const char *b)
{
	size_t n = strlen(a);
	int w = snprintf(out, len, "%s%s%s", a, n && a[n - 1] == '/' ? "" : "/", b);

	return w >= (int)len ? -1 : 0;
}

static int put_tree(const char *local, const char *path);
static int get_tree(const char *path, const char *local);

/* Copy each entry of dir (local, or the mirror of path) on, one level down
 * (put: local to path; else path to local); closes dir. 0, or 1 if one
 * failed. */
static int
copy_children(DIR *dir, const char *local, const char *path, int put)
{
	struct dirent *de;
	int status = 0;

	while ((de = readdir(dir)) != NULL) {
		char l[PATH_MAX], p[SPN_PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (join(l, sizeof(l), local, de->d_name) < 0 ||
		    join(p, sizeof(p), path, de->d_name) < 0) {
			status = 1;
			continue;
		}
		status |= put ? put_tree(l, p) : get_tree(p, l);
	}
	closedir(dir);
	return status;
}

static int
put_tree(const char *local, const char *path)
{
	struct stat st;
	DIR *dir;
	int rc;

	if (lstat(local, &st) < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", local, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? put_file(local, path) : 0;
	rc = simple(SPN_OP_MKDIR, path, NULL, st.st_mode & 07777);
	if (rc < 0 && rc != -EEXIST)
		return 1;
	dir = opendir(local);
	if (dir == NULL) {
		fprintf(stderr, "specnfs: %s: %s\n", local, strerror(errno));
		return 1;
	}
	return copy_children(dir, local, path, 1);
}

static int
get_tree(const char *path, const char *local)
{
	struct spn_req req;
	struct spn_reply rep;
	DIR *dir;
	int rc;

	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_STAT;
	req.flags = SPN_F_NOFOLLOW;
	snprintf(req.path, sizeof(req.path), "%s", path);
	rc = call(&req, &rep);
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", path, errtext(path, rc));
		return 1;
	}
	if (rep.attr.type == S_IFREG)
		return get_file(path, local);
	if (rep.attr.type != S_IFDIR)
		return 0;
	if (mkdir(local, rep.attr.mode & 07777) < 0 && errno != EEXIST) {
		fprintf(stderr, "specnfs: %s: %s\n", local, strerror(errno));
		return 1;
	}
	req.op = SPN_OP_READDIR;
	req.flags = 0;
	rc = call(&req, &rep);
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", path, errtext(path, rc));
		return 1;
	}
	dir = opendir(rep.path);
	if (dir == NULL) {
		fprintf(stderr, "specnfs: %s: mirror: %s\n", path, strerror(errno));
		return 1;
	}
	return copy_children(dir, local, path, 0);
}

static int
cmd_copy(int argc, char **argv, int put)
{
	int recursive = 0;

	if (argc >= 1 && strcmp(argv[0], "-r") == 0) {
		recursive = 1;
		argc--;
		argv++;
	}
	if (argc != 2)
		die_usage("%s", put ? "put needs LOCAL and PATH" : "get needs PATH and LOCAL");
	if (put)
		return recursive ? put_tree(argv[0], argv[1]) : put_file(argv[0], argv[1]);
	return recursive ? get_tree(argv[0], argv[1]) : get_file(argv[0], argv[1]);
}

static int
cmd_each(int argc, char **argv, uint16_t op, uint32_t mode)
{
	int i, status = 0;

	if (argc < 1)
		die_usage("this command needs a PATH");
	for (i = 0; i < argc; i++)
		if (simple(op, argv[i], NULL, mode) < 0)
			status = 1;
	return status;
}

static int
cmd_chmod(int argc, char **argv)
{
	struct spn_req req;
	struct spn_reply rep;
	char *end;
	unsigned long mode;
	int i, rc, status = 0;

	if (argc < 2)
		die_usage("chmod needs MODE and PATH");
	mode = strtoul(argv[0], &end, 8);
	if (*end != '\0' || mode > 07777)
		die_usage("chmod: bad octal mode '%s'", argv[0]);
	for (i = 1; i < argc; i++) {
		memset(&req, 0, sizeof(req));
		req.op = SPN_OP_SETATTR;
		req.mask = SPN_SA_MODE;
		req.mode = (uint32_t)mode;
		snprintf(req.path, sizeof(req.path), "%s", argv[i]);
		rc = call(&req, &rep);
		if (rc < 0) {
			fprintf(stderr, "specnfs: chmod %s: %s\n", argv[i], strerror(-rc));
			status = 1;
		}
	}
	return status;
}

static int
cmd_text(uint16_t op)
{
	struct spn_req req;
	struct spn_reply rep;
	int rc;

	memset(&req, 0, sizeof(req));
	req.op = op;
	rc = call(&req, &rep);
	if (rc < 0) {
		fprintf(stderr, "specnfs: %s: %s\n", spn_proto_op_name(op), strerror(-rc));
		return 1;
	}
	printf("%.*s", (int)rep.text_len, rep.text);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "no-start", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char mounts[8192] = "", err[1024];
	const char *cmd;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+m:nhV", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strlen(mounts) + strlen(optarg) + 2 > sizeof(mounts))
				die_usage("too many --mount options");
			if (mounts[0] == '\0' && getenv("SPECNFS_MOUNTS") != NULL)
				snprintf(mounts, sizeof(mounts), "%s", getenv("SPECNFS_MOUNTS"));
			strcat(mounts, mounts[0] ? ";" : "");
			strcat(mounts, optarg);
			break;
		case 'n':
			autostart = 0;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("specnfs " PACKAGE_VERSION);
			return 0;
		default:
			die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	/* The daemon we start inherits the environment: put --mount there. */
	if (mounts[0] != '\0')
		setenv("SPECNFS_MOUNTS", mounts, 1);
	if (spn_policy_load(&pol, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfs: %s\n", err);
		return 2;
	}
	if (optind >= argc)
		die_usage("no command");
	cmd = argv[optind];
	if (strcmp(cmd, "run") == 0)
		return spn_cmd_run(argc - optind, argv + optind);
	argc -= optind + 1;
	argv += optind + 1;

	if (strcmp(cmd, "config") == 0) {
		static char text[SPN_TEXT_MAX];

		/* The settings this command sees; the daemon's are the same
		 * for the same configuration (they name its socket). */
		if (spn_policy_describe(&pol, text, sizeof(text)) < 0)
			return 1;
		fputs(text, stdout);
		return 0;
	}
	if (pol.nmounts == 0) {
		fprintf(stderr, "specnfs: no mounts: set SPECNFS_MOUNTS (e.g. "
				"/nfs=nfs://server/export) or use --mount\n");
		return 2;
	}
	if (strcmp(cmd, "stat") == 0)
		return cmd_stat(argc, argv);
	if (strcmp(cmd, "ls") == 0)
		return cmd_ls(argc, argv);
	if (strcmp(cmd, "cat") == 0)
		return cmd_cat(argc, argv);
	if (strcmp(cmd, "get") == 0)
		return cmd_copy(argc, argv, 0);
	if (strcmp(cmd, "put") == 0)
		return cmd_copy(argc, argv, 1);
	if (strcmp(cmd, "mkdir") == 0)
		return cmd_each(argc, argv, SPN_OP_MKDIR, 0755);
	if (strcmp(cmd, "rmdir") == 0)
		return cmd_each(argc, argv, SPN_OP_RMDIR, 0);
	if (strcmp(cmd, "rm") == 0)
		return cmd_each(argc, argv, SPN_OP_UNLINK, 0);
	if (strcmp(cmd, "sync") == 0)
		return cmd_each(argc, argv, SPN_OP_FSYNC, 0);
	if (strcmp(cmd, "mv") == 0) {
		if (argc != 2)
			die_usage("mv needs FROM and TO");
		return simple(SPN_OP_RENAME, argv[0], argv[1], 0) < 0;
	}
	if (strcmp(cmd, "ln") == 0) {
		if (argc != 3 || strcmp(argv[0], "-s") != 0)
			die_usage("ln wants -s TARGET PATH");
		return simple(SPN_OP_SYMLINK, argv[2], argv[1], 0) < 0;
	}
	if (strcmp(cmd, "chmod") == 0)
		return cmd_chmod(argc, argv);
	if (strcmp(cmd, "status") == 0)
		return cmd_text(SPN_OP_STATUS);
	if (strcmp(cmd, "start") == 0) {
		connect_daemon();
		return 0;
	}
	if (strcmp(cmd, "stop") == 0) {
		struct spn_req req;
		struct spn_reply rep;
		int rc;

		autostart = 0;
		memset(&req, 0, sizeof(req));
		req.op = SPN_OP_SHUTDOWN;
		rc = spn_conn_open(&conn, &pol, 0, err, sizeof(err));
		if (rc == -EPROTONOSUPPORT) {
			/* Left from before an upgrade: it cannot read our
			 * SHUTDOWN, but SIGTERM does the same. */
			pid_t stale = conn.stale_pid;

			rc = spn_conn_stop_stale(&conn);
			if (rc < 0) {
				fprintf(stderr, "specnfs: stop: the daemon (pid %d) speaks another "
						"protocol version and did not stop: %s\n",
					(int)stale, strerror(-rc));
				return 1;
			}
			printf("specnfs: stopped the daemon (pid %d) of another version\n",
			       (int)stale);
			return 0;
		}
		if (rc < 0) {
			printf("specnfs: no daemon running\n");
			return 0;
		}
		connected = 1;
		rc = spn_conn_call(&conn, &req, &rep);
		if (rc < 0 || rep.status < 0) {
			fprintf(stderr, "specnfs: stop: %s\n",
				strerror(rc < 0 ? -rc : -rep.status));
			return 1;
		}
		/* The daemon closes its end once everything is written back. */
		while (spn_conn_recv(&conn, &rep) == 0)
			;
		return 0;
	}
	die_usage("unknown command '%s'", cmd);
	return 2;
}
