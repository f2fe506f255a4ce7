/*
 * policy_env.c: the SPECNFS_* settings table and its parser.
 *
 * One table lists every variable: its type, default and a line of help. The
 * environment overrides the config file, which overrides the default. Each
 * bad value is rejected with a message that names the variable and what it
 * accepts (ccache-style): a typo must never silently become a default.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/log.h"
#include "policy/policy.h"

enum spn_vtype {
	VT_MOUNTS,
	VT_PATH,
	VT_SIZE,
	VT_SECONDS,
	VT_MS,
	VT_LEVEL,
	VT_ENUM,   /* one word of ->words; stores its value (an int) */
	VT_OPLIST, /* SPECNFS_SPECULATE: +op,-op,... on top of the policy */
};

/* The numbers: what they accept (VT_SIZE: a size, else up to max). */
static const struct {
	uint64_t max;
	const char *want;
} vt_number[] = {
	[VT_SIZE] = { UINT64_MAX, "a size like 500M or 10G" },
	[VT_SECONDS] = { 86400 * 365, "a whole number of seconds" },
	[VT_MS] = { 86400000, "a whole number of milliseconds" },
	[VT_LEVEL] = { 4, "a level from 0 to 4" },
};

/* One word of a VT_ENUM and the value it stands for. */
struct spn_word {
	const char *word;
	int value;
};

struct spn_var {
	const char *name;
	enum spn_vtype type;
	const char *def; /* NULL: computed (see fill_default) */
	size_t off;
	size_t size;
	const char *help;
	const struct spn_word *words; /* VT_ENUM: the accepted values, in order */
};

static const struct spn_word policy_words[] = {
	{ "off", SPN_POLICY_OFF }, { "cto", SPN_POLICY_CTO }, { "full", SPN_POLICY_FULL },
	{ NULL, 0 },
};
static const struct spn_word ckpt_words[] = {
	{ "fork", CKPT_FORK }, { "criu", CKPT_CRIU }, { "none", CKPT_NONE }, { NULL, 0 },
};
static const struct spn_word bool_words[] = {
	{ "1", 1 }, { "0", 0 }, { "on", 1 }, { "off", 0 }, { "yes", 1 }, { "no", 0 }, { NULL, 0 },
};
static const struct spn_word mode_words[] = {
	{ "hard", SPN_MOUNT_HARD }, { "soft", SPN_MOUNT_SOFT }, { NULL, 0 },
};
/* SPECNFS_SPECULATE's operations, in SPN_SPEC_OP_* bit order. */
static const char *const op_words[] = { "open", "stat", "lookup", "readdir", "close", "mutate",
					NULL };

#define F(field) offsetof(struct spn_policy, field), sizeof(((struct spn_policy *)0)->field)

static const struct spn_var spn_vars[] = {
	{ .name = "SPECNFS_MOUNTS", .type = VT_MOUNTS, .def = "", .off = 0, .size = 0,
	  .help = "PREFIX=URL pairs separated by ';' or spaces, e.g. /nfs=nfs://host/export" },
	{ .name = "SPECNFS_CACHE", .type = VT_PATH, .def = NULL, F(cache_dir),
	  .help = "cache directory (mirror and index)" },
	{ .name = "SPECNFS_CACHE_MAX", .type = VT_SIZE, .def = "10G", F(cache_max),
	  .help = "cache size cap: bytes with optional K/M/G/T suffix" },
	{ .name = "SPECNFS_RUNTIME_DIR", .type = VT_PATH, .def = NULL, F(runtime_dir),
	  .help = "directory for the daemon socket and lock" },
	/* Strict by default: a header another client touched a second ago
	 * must not be missed by make. Kernel-style windows (3/60/30/60) are
	 * one setting away; speculation is what hides the round trips. */
	{ .name = "SPECNFS_ACREGMIN", .type = VT_SECONDS, .def = "0", F(acregmin),
	  .help = "min seconds a file's attributes are trusted (0 = always ask)" },
	{ .name = "SPECNFS_ACREGMAX", .type = VT_SECONDS, .def = "0", F(acregmax),
	  .help = "max seconds a file's attributes are trusted (60 if only the min is set)" },
	{ .name = "SPECNFS_ACDIRMIN", .type = VT_SECONDS, .def = "0", F(acdirmin),
	  .help = "min seconds a directory's attributes are trusted (0 = always ask)" },
	{ .name = "SPECNFS_ACDIRMAX", .type = VT_SECONDS, .def = "0", F(acdirmax),
	  .help = "max seconds a directory's attributes are trusted (60 if only the min is set)" },
	{ .name = "SPECNFS_IDLE_TIMEOUT", .type = VT_SECONDS, .def = "600", F(idle_timeout),
	  .help = "seconds without clients before the daemon exits (0 = never)" },
	{ .name = "SPECNFS_RPC_TIMEOUT", .type = VT_MS, .def = "60000", F(rpc_timeout_ms),
	  .help = "milliseconds before an NFS call fails" },
	{ .name = "SPECNFS_CONNECT_TIMEOUT", .type = VT_SECONDS, .def = "0", F(connect_timeout),
	  .help = "older setting: N means SPECNFS_MOUNT_MODE=soft SPECNFS_TIMEO=N unless those "
		  "are set (0 = unset)" },
	/* Kernel NFS mount semantics: hard keeps a program waiting (it can be
	 * interrupted) until the server answers; soft gives it an error after
	 * SPECNFS_TIMEO. Either way dirty data stays in the journal. */
	{ .name = "SPECNFS_MOUNT_MODE", .type = VT_ENUM, .def = "hard", F(mount_mode),
	  .help = "hard (wait for an unreachable server, interruptibly) or soft (error after "
		  "SPECNFS_TIMEO)",
	  .words = mode_words },
	{ .name = "SPECNFS_TIMEO", .type = VT_SECONDS, .def = "60", F(timeo),
	  .help = "seconds before a request to an unreachable server fails (soft) or says "
		  "'not responding' (hard)" },
	{ .name = "SPECNFS_LOG", .type = VT_LEVEL, .def = "1", F(log_level),
	  .help = "log level 0 (off) .. 4 (trace)" },
	{ .name = "SPECNFS_LOG_FILE", .type = VT_PATH, .def = "", F(log_file),
	  .help = "log file (default: stderr, or the daemon's log in the runtime dir)" },
	{ .name = "SPECNFS_DAEMON", .type = VT_PATH, .def = NULL, F(daemon_path),
	  .help = "the specnfsd binary to start on demand" },
	/* Speculation is what specnfs is for: on, reads and writes, unless
	 * asked otherwise ("off" is the synchronous baseline). */
	{ .name = "SPECNFS_POLICY", .type = VT_ENUM, .def = "full", F(policy),
	  .help = "off (synchronous close-to-open), cto (speculate on reads), full (and writes)",
	  .words = policy_words },
	{ .name = "SPECNFS_CHECKPOINT", .type = VT_ENUM, .def = "fork", F(checkpoint),
	  .help = "fork, criu or none (none: no speculation)", .words = ckpt_words },
	{ .name = "SPECNFS_SPECULATE", .type = VT_OPLIST, .def = "", F(speculate),
	  .help = "per-operation overrides, e.g. -readdir,+close (open stat lookup readdir close "
		  "mutate)" },
	{ .name = "SPECNFS_MAX_PREDICTIONS", .type = VT_SECONDS, .def = "1000", F(max_predictions),
	  .help = "predictions per epoch before it must resolve" },
	{ .name = "SPECNFS_MAX_EPOCH_MS", .type = VT_MS, .def = "1000", F(max_epoch_ms),
	  .help = "milliseconds an epoch may stay open" },
	{ .name = "SPECNFS_PROPAGATE", .type = VT_ENUM, .def = "1", F(propagate),
	  .help = "1: speculation goes on through fork, exec and spawn (children depend on "
		  "their parent's epoch); 0: those resolve first",
	  .words = bool_words },
	{ .name = "SPECNFS_STATS", .type = VT_PATH, .def = "", F(stats_file),
	  .help = "file to append per-process speculation figures to at exit" },
};

#define NVARS (sizeof(spn_vars) / sizeof(spn_vars[0]))
_Static_assert(NVARS <= sizeof(((struct spn_policy *)0)->src) /
		       sizeof(((struct spn_policy *)0)->src[0]),
	       "spn_policy.src is too small for the table");

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
spn_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int
spn_parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n;
	uint64_t v, mul = 1;
	int rc;

	if (s == NULL)
		return -EINVAL;
	n = strlen(s);
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (toupper((unsigned char)num[n - 1])) {
	case 'K': mul = 1ULL << 10; break;
	case 'M': mul = 1ULL << 20; break;
	case 'G': mul = 1ULL << 30; break;
	case 'T': mul = 1ULL << 40; break;
	default: break;
	}
	if (mul != 1)
		num[n - 1] = '\0';
	rc = spn_parse_uint(num, UINT64_MAX, &v);
	if (rc < 0)
		return rc;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static int
valid_prefix(const char *p)
{
	size_t n = strlen(p);

	if (n < 2 || p[0] != '/' || p[n - 1] == '/' || strstr(p, "//") != NULL)
		return 0;
	if (strstr(p, "/./") != NULL || strstr(p, "/../") != NULL)
		return 0;
	if (n >= 2 && (strcmp(p + n - 2, "/.") == 0 || (n >= 3 && strcmp(p + n - 3, "/..") == 0)))
		return 0;
	return n < SPN_PREFIX_MAX;
}

int
spn_policy_parse_mounts(struct spn_policy *p, const char *value, char *err, size_t errlen)
{
	const char *s = value;
	int n = 0, i;

	while (*s != '\0') {
		const char *end, *eq;
		size_t plen, ulen;

		while (*s == ';' || isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		end = s;
		while (*end != '\0' && *end != ';' && !isspace((unsigned char)*end))
			end++;
		eq = memchr(s, '=', (size_t)(end - s));
		if (eq == NULL) {
			errf(err, errlen, "SPECNFS_MOUNTS: '%.*s' is not PREFIX=URL "
			     "(e.g. /nfs=nfs://host/export)", (int)(end - s), s);
			return -EINVAL;
		}
		plen = (size_t)(eq - s);
		ulen = (size_t)(end - eq - 1);
		if (n == SPN_MAX_MOUNTS) {
			errf(err, errlen, "SPECNFS_MOUNTS: more than %d mounts", SPN_MAX_MOUNTS);
			return -EINVAL;
		}
		if (plen >= SPN_PREFIX_MAX || ulen >= SPN_URL_MAX) {
			errf(err, errlen, "SPECNFS_MOUNTS: entry too long");
			return -EINVAL;
		}
		memcpy(p->mounts[n].prefix, s, plen);
		p->mounts[n].prefix[plen] = '\0';
		memcpy(p->mounts[n].url, eq + 1, ulen);
		p->mounts[n].url[ulen] = '\0';
		if (!valid_prefix(p->mounts[n].prefix)) {
			errf(err, errlen, "SPECNFS_MOUNTS: prefix '%s' must be an "
			     "absolute path like /nfs (not /, no trailing slash, "
			     "no . or ..)", p->mounts[n].prefix);
			return -EINVAL;
		}
		if (strncmp(p->mounts[n].url, "nfs://", 6) != 0 || ulen <= 6) {
			errf(err, errlen, "SPECNFS_MOUNTS: URL '%s' for %s must "
			     "start with nfs://HOST/", p->mounts[n].url, p->mounts[n].prefix);
			return -EINVAL;
		}
		{
			char why[256];

			if (spn_policy_check_url(p->mounts[n].url, why, sizeof(why)) < 0) {
				errf(err, errlen, "SPECNFS_MOUNTS: URL '%s' for %s: %s",
				     p->mounts[n].url, p->mounts[n].prefix, why);
				return -EINVAL;
			}
		}
		for (i = 0; i < n; i++) {
			size_t a = strlen(p->mounts[i].prefix), b = plen;
			size_t m = a < b ? a : b;

			/* Nested prefixes would make a path's mount ambiguous. */
			if (strncmp(p->mounts[i].prefix, p->mounts[n].prefix, m) == 0 &&
			    (a == b || p->mounts[a < b ? n : i].prefix[m] == '/')) {
				errf(err, errlen, "SPECNFS_MOUNTS: prefixes %s and %s overlap",
				     p->mounts[i].prefix, p->mounts[n].prefix);
				return -EINVAL;
			}
		}
		n++;
		s = end;
	}
	p->nmounts = n;
	return 0;
}

/*
 * What libnfs (4.0) accepts after '?': name=value pairs joined by '&'.
 * Numbers are parsed with atoi() there, so "nfsport=abc" would silently be
 * port 0 and the mount would fail as if the server were down, again and
 * again: check them here, once, where the user can be told.
 */
static const struct {
	const char *name;
	long min, max; /* min > max: any non-empty text */
} url_params[] = {
	{ "nfsport", 1, 65535 },  { "mountport", 1, 65535 }, { "version", 3, 4 },
	{ "uid", 0, 4294967295L }, { "gid", 0, 4294967295L }, { "readahead", 0, 1L << 30 },
	{ "pagecache", 0, 1L << 30 }, { "debug", 0, 10 }, { "auto-traverse-mounts", 0, 1 },
	{ "dircache", 0, 1 }, { "autoreconnect", -1, 1 << 20 }, { "timeo", 1, 1L << 30 },
	{ "retrans", 0, 1 << 20 }, { "rsize", 1, 1L << 30 }, { "wsize", 1, 1L << 30 },
	{ "tcp-syncnt", 0, 1 << 20 }, { "if", 1, 0 }, { "sec", 1, 0 },
	{ "xprtsec", 1, 0 }, { "readdir-buffer", 1, 0 },
};

int
spn_policy_check_url(const char *url, char *why, size_t whylen)
{
	const char *host, *path, *q, *s;
	size_t i, hlen;

	if (strncmp(url, "nfs://", 6) != 0) {
		errf(why, whylen, "must start with nfs://");
		return -EINVAL;
	}
	host = url + 6;
	hlen = strcspn(host, "/?");
	if (hlen == 0) {
		errf(why, whylen, "no server (want nfs://HOST/EXPORT)");
		return -EINVAL;
	}
	if (host[0] == '[') {
		const char *close = memchr(host, ']', hlen);

		if (close == NULL || (close + 1 != host + hlen && close[1] != ':')) {
			errf(why, whylen, "bad IPv6 address (want nfs://[ADDR]/EXPORT)");
			return -EINVAL;
		}
		s = close + 1 == host + hlen ? NULL : close + 1;
	} else {
		s = memchr(host, ':', hlen);
	}
	if (s != NULL) {
		/* HOST:PORT: libnfs takes the port as nfsport. */
		const char *e = host + hlen;
		long v = 0;

		if (s + 1 == e) {
			errf(why, whylen, "empty port after ':'");
			return -EINVAL;
		}
		for (s++; s < e; s++) {
			if (!isdigit((unsigned char)*s) || (v = v * 10 + (*s - '0')) > 65535) {
				errf(why, whylen, "bad port '%.*s' (want 1..65535)",
				     (int)(e - strrchr(host, ':') - 1), strrchr(host, ':') + 1);
				return -EINVAL;
			}
		}
		if (v == 0) {
			errf(why, whylen, "bad port 0 (want 1..65535)");
			return -EINVAL;
		}
	}
	path = host + hlen;
	if (*path != '/') {
		errf(why, whylen, "no export path (want nfs://HOST/EXPORT)");
		return -EINVAL;
	}
	q = strchr(path, '?');
	if (q == NULL)
		return 0;
	for (s = q + 1; *s != '\0';) {
		const char *amp = strchr(s, '&'), *end = amp ? amp : s + strlen(s);
		const char *eq = memchr(s, '=', (size_t)(end - s));
		size_t nlen = eq ? (size_t)(eq - s) : (size_t)(end - s);
		const char *val = eq ? eq + 1 : end;
		size_t vlen = (size_t)(end - val);

		for (i = 0; i < sizeof(url_params) / sizeof(url_params[0]); i++)
			if (strlen(url_params[i].name) == nlen &&
			    strncmp(url_params[i].name, s, nlen) == 0)
				break;
		if (i == sizeof(url_params) / sizeof(url_params[0])) {
			errf(why, whylen, "unknown parameter '%.*s' (libnfs knows nfsport, "
			     "mountport, version, uid, gid, timeo, retrans, rsize, wsize, ...)",
			     (int)nlen, s);
			return -EINVAL;
		}
		if (eq == NULL || vlen == 0) {
			errf(why, whylen, "parameter '%.*s' has no value", (int)nlen, s);
			return -EINVAL;
		}
		if (url_params[i].min <= url_params[i].max) {
			const char *d = val;
			long v = 0;
			int neg = 0;

			if (*d == '-') {
				neg = 1;
				d++;
			}
			for (; d < end; d++) {
				if (!isdigit((unsigned char)*d) || v > 1L << 40)
					break;
				v = v * 10 + (*d - '0');
			}
			if (neg)
				v = -v;
			if (d != end || d == val + neg || v < url_params[i].min ||
			    v > url_params[i].max) {
				errf(why, whylen, "%.*s=%.*s: want a number from %ld to %ld",
				     (int)nlen, s, (int)vlen, val, url_params[i].min,
				     url_params[i].max);
				return -EINVAL;
			}
		}
		s = amp ? amp + 1 : end;
	}
	return 0;
}

int
spn_policy_check_dir(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || (st.st_uid != getuid() && st.st_uid != geteuid()) ||
	    (st.st_mode & 077) != 0) {
		struct passwd *pw = getpwuid(st.st_uid);

		errf(err, errlen, "%s %s is %s owned by uid %u%s%s%s with mode %04o: refusing to "
		     "use it (it must be a directory of yours with mode 0700; remove it, or set "
		     "%s)", what, path,
		     S_ISLNK(st.st_mode)   ? "a symlink"
		     : S_ISDIR(st.st_mode) ? "a directory"
					   : "not a directory",
		     (unsigned)st.st_uid, pw ? " (" : "", pw ? pw->pw_name : "", pw ? ")" : "",
		     (unsigned)(st.st_mode & 07777),
		     strcmp(what, "cache directory") == 0 ? "SPECNFS_CACHE"
							  : "SPECNFS_RUNTIME_DIR");
		return -EPERM;
	}
	return 0;
}

/* Defaults that depend on the user's environment (XDG, uid). */
static void
fill_default(const struct spn_var *v, struct spn_policy *p,
	     const char *(*get)(const char *))
{
	char *dst = (char *)p + v->off;
	const char *x;

	if (strcmp(v->name, "SPECNFS_CACHE") == 0) {
		if ((x = get("XDG_CACHE_HOME")) != NULL && x[0] == '/')
			snprintf(dst, v->size, "%s/specnfs", x);
		else if ((x = get("HOME")) != NULL && x[0] == '/')
			snprintf(dst, v->size, "%s/.cache/specnfs", x);
		else
			snprintf(dst, v->size, "/tmp/specnfs-cache-%u", (unsigned)getuid());
	} else if (strcmp(v->name, "SPECNFS_RUNTIME_DIR") == 0) {
		if ((x = get("XDG_RUNTIME_DIR")) != NULL && x[0] == '/')
			snprintf(dst, v->size, "%s/specnfs", x);
		else
			snprintf(dst, v->size, "/tmp/specnfs-%u", (unsigned)getuid());
	} else if (strcmp(v->name, "SPECNFS_DAEMON") == 0) {
		snprintf(dst, v->size, "%s", SPECNFS_DAEMON_DEFAULT);
	}
}

/*
 * "+op,-op,..." (a bare name means +). Stored as two masks in one word:
 * bits to add in the low 16, bits to remove in the high 16; the effective
 * set is computed once the policy is known (spn_policy_load).
 */
static int
parse_oplist(const struct spn_var *v, uint32_t *dst, const char *val, char *err, size_t errlen)
{
	uint32_t add = 0, del = 0;
	const char *s = val;

	while (*s != '\0') {
		const char *e = s;
		int minus = 0, i;
		size_t n;

		while (*e != '\0' && *e != ',')
			e++;
		if (*s == '+' || *s == '-') {
			minus = *s == '-';
			s++;
		}
		n = (size_t)(e - s);
		for (i = 0; op_words[i] != NULL; i++)
			if (strlen(op_words[i]) == n && strncmp(op_words[i], s, n) == 0)
				break;
		if (n == 0 || op_words[i] == NULL) {
			errf(err, errlen, "%s: unknown operation '%.*s' (want +/- one of open, "
			     "stat, lookup, readdir, close, mutate, comma-separated)", v->name,
			     (int)n, s);
			return -EINVAL;
		}
		if (minus)
			del |= 1u << i;
		else
			add |= 1u << i;
		s = *e ? e + 1 : e;
	}
	*dst = add | del << 16;
	return 0;
}

static int
set_word(const struct spn_var *v, int *dst, const char *val, char *err, size_t errlen)
{
	const struct spn_word *w;
	char list[128] = "";

	for (w = v->words; w->word != NULL; w++) {
		if (strcmp(val, w->word) == 0) {
			*dst = w->value;
			return 0;
		}
	}
	for (w = v->words; w->word != NULL; w++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 w != v->words ? ", " : "", w->word);
	errf(err, errlen, "%s: want one of %s, got '%s'", v->name, list, val);
	return -EINVAL;
}

static int
set_value(const struct spn_var *v, struct spn_policy *p, const char *val,
	  char *err, size_t errlen)
{
	char *dst = (char *)p + v->off;
	uint64_t u;
	int rc;

	switch (v->type) {
	case VT_MOUNTS:
		return spn_policy_parse_mounts(p, val, err, errlen);
	case VT_PATH:
		if (val[0] != '\0' && val[0] != '/') {
			errf(err, errlen, "%s: want an absolute path, got '%s'", v->name, val);
			return -EINVAL;
		}
		if (strlen(val) >= v->size) {
			errf(err, errlen, "%s: path too long", v->name);
			return -EINVAL;
		}
		strcpy(dst, val);
		return 0;
	case VT_SIZE:
	case VT_SECONDS:
	case VT_MS:
	case VT_LEVEL:
		rc = v->type == VT_SIZE ? spn_parse_size(val, &u)
					: spn_parse_uint(val, vt_number[v->type].max, &u);
		if (rc < 0) {
			errf(err, errlen, "%s: want %s, got '%s'", v->name, vt_number[v->type].want,
			     val);
			return rc;
		}
		if (v->size == sizeof(uint64_t))
			*(uint64_t *)dst = u;
		else
			*(uint32_t *)dst = (uint32_t)u; /* uint32_t or int fields */
		return 0;
	case VT_ENUM:
		return set_word(v, (int *)dst, val, err, errlen);
	case VT_OPLIST:
		return parse_oplist(v, (uint32_t *)dst, val, err, errlen);
	}
	return -EINVAL;
}

static const char *
env_get(const char *name)
{
	return getenv(name);
}

/* Read NAME=VALUE lines of the config file into vals[] (by table index). */
static int
read_file(const char *path, char vals[][SPN_URL_MAX * 2], int *line_of,
	  char *err, size_t errlen)
{
	char line[SPN_URL_MAX * 2 + 64];
	FILE *f;
	int lineno = 0;
	size_t i;

	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = line, *eq, *e;

		lineno++;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#' || *s == '\0')
			continue;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		eq = strchr(s, '=');
		if (eq == NULL) {
			errf(err, errlen, "%s:%d: want NAME=VALUE", path, lineno);
			fclose(f);
			return -EINVAL;
		}
		*eq = '\0';
		for (i = 0; i < NVARS; i++)
			if (strcmp(s, spn_vars[i].name) == 0)
				break;
		if (i == NVARS) {
			errf(err, errlen, "%s:%d: unknown setting '%s'", path, lineno, s);
			fclose(f);
			return -EINVAL;
		}
		snprintf(vals[i], sizeof(vals[i]), "%s", eq + 1);
		line_of[i] = lineno;
	}
	fclose(f);
	return 0;
}

/* Only a minimum given: the kernel's maximum (60 s) goes with it. */
static void
only_min_given(const struct spn_policy *p, uint32_t min, uint32_t *max, const char *max_name)
{
	if (min > *max && spn_policy_source(p, max_name) == SPN_SRC_DEFAULT)
		*max = min > 60 ? min : 60;
}

int
spn_policy_load(struct spn_policy *p, const char *(*getenv_fn)(const char *),
		char *err, size_t errlen)
{
	static char file_vals[NVARS][SPN_URL_MAX * 2];
	int line_of[NVARS] = { 0 };
	const char *(*get)(const char *) = getenv_fn ? getenv_fn : env_get;
	const char *x;
	size_t i;
	int rc;

	/* No memset of the whole struct (50 KB, most of it the unused mount
	 * slots): in the shim every process loads this, and each page first
	 * touched costs a fault. Every field is set by the loop below. */
	p->nmounts = 0;
	p->config_file[0] = '\0';
	memset(p->src, 0, sizeof(p->src));
	memset(p->src_detail, 0, sizeof(p->src_detail));
	if ((x = get("SPECNFS_CONFIG")) != NULL && x[0] != '\0')
		snprintf(p->config_file, sizeof(p->config_file), "%s", x);
	else if ((x = get("XDG_CONFIG_HOME")) != NULL && x[0] == '/')
		snprintf(p->config_file, sizeof(p->config_file), "%s/specnfs/config", x);
	else if ((x = get("HOME")) != NULL && x[0] == '/')
		snprintf(p->config_file, sizeof(p->config_file), "%s/.config/specnfs/config", x);
	if (p->config_file[0] != '\0') {
		rc = read_file(p->config_file, file_vals, line_of, err, errlen);
		if (rc < 0) {
			if (rc != -EINVAL)
				errf(err, errlen, "SPECNFS_CONFIG: cannot read %s: %s",
				     p->config_file, strerror(-rc));
			return -EINVAL;
		}
	}

	for (i = 0; i < NVARS; i++) {
		const struct spn_var *v = &spn_vars[i];
		const char *val = get(v->name);

		if (val != NULL) {
			p->src[i] = SPN_SRC_ENV;
		} else if (line_of[i] != 0) {
			val = file_vals[i];
			p->src[i] = SPN_SRC_FILE;
			snprintf(p->src_detail[i], sizeof(p->src_detail[i]), "line %d", line_of[i]);
		} else {
			p->src[i] = SPN_SRC_DEFAULT;
			if (v->def == NULL) {
				fill_default(v, p, get);
				continue;
			}
			val = v->def;
		}
		rc = set_value(v, p, val, err, errlen);
		if (rc < 0)
			return -EINVAL;
		if (v->type == VT_PATH && val[0] == '\0' && v->def == NULL)
			fill_default(v, p, get);
	}
	{
		/* The operations speculated: the policy's, then the overrides. */
		uint32_t o = p->speculate, set = 0;

		if (p->policy >= SPN_POLICY_CTO)
			set |= SPN_SPEC_OP_OPEN | SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP |
			       SPN_SPEC_OP_READDIR;
		if (p->policy >= SPN_POLICY_FULL)
			set |= SPN_SPEC_OP_CLOSE | SPN_SPEC_OP_MUTATE;
		set = (set | (o & 0xffff)) & ~(o >> 16);
		if (p->checkpoint == CKPT_NONE)
			set = 0;
		p->speculate = set;
	}
	/* The older name, when only it is given, kept its meaning: EIO after
	 * that many seconds, i.e. a soft mount with that timeo. */
	if (p->connect_timeout > 0 && spn_policy_source(p, "SPECNFS_TIMEO") == SPN_SRC_DEFAULT)
		p->timeo = p->connect_timeout;
	if (p->connect_timeout > 0 && spn_policy_source(p, "SPECNFS_MOUNT_MODE") == SPN_SRC_DEFAULT)
		p->mount_mode = SPN_MOUNT_SOFT;
	if (p->timeo == 0) {
		errf(err, errlen, "SPECNFS_TIMEO: want at least 1 second, got 0");
		return -EINVAL;
	}
	only_min_given(p, p->acregmin, &p->acregmax, "SPECNFS_ACREGMAX");
	only_min_given(p, p->acdirmin, &p->acdirmax, "SPECNFS_ACDIRMAX");
	if (p->acregmin > p->acregmax || p->acdirmin > p->acdirmax) {
		errf(err, errlen, "SPECNFS_AC%sMIN must not exceed SPECNFS_AC%sMAX",
		     p->acregmin > p->acregmax ? "REG" : "DIR",
		     p->acregmin > p->acregmax ? "REG" : "DIR");
		return -EINVAL;
	}
	return 0;
}

int
spn_policy_describe(const struct spn_policy *p, char *buf, size_t len)
{
	size_t i, used = 0;
	int m;

#define OUT(...) spn_appendf(buf, len, &used, __VA_ARGS__)

	OUT("config file: %s\n", p->config_file[0] ? p->config_file : "(none)");
	for (i = 0; i < NVARS; i++) {
		const struct spn_var *v = &spn_vars[i];
		const char *where = p->src[i] == SPN_SRC_ENV ? "environment"
				    : p->src[i] == SPN_SRC_FILE ? "config file"
								: "default";
		char val[SPN_URL_MAX * 2];
		const char *raw = (const char *)p + v->off;

		switch (v->type) {
		case VT_MOUNTS:
			val[0] = '\0';
			for (m = 0; m < p->nmounts; m++)
				snprintf(val + strlen(val), sizeof(val) - strlen(val), "%s%s=%s",
					 m ? ";" : "", p->mounts[m].prefix, p->mounts[m].url);
			break;
		case VT_PATH:
			snprintf(val, sizeof(val), "%s", raw);
			break;
		case VT_SIZE:
		case VT_SECONDS:
		case VT_MS:
		case VT_LEVEL:
			snprintf(val, sizeof(val), "%llu",
				 v->size == sizeof(uint64_t)
					 ? (unsigned long long)*(const uint64_t *)raw
					 : (unsigned long long)*(const uint32_t *)raw);
			break;
		case VT_ENUM: {
			const struct spn_word *w = v->words;

			while (w->word != NULL && w->value != *(const int *)raw)
				w++;
			snprintf(val, sizeof(val), "%s", w->word != NULL ? w->word : "?");
			break;
		}
		case VT_OPLIST: {
			uint32_t set = *(const uint32_t *)raw;
			int b;

			val[0] = '\0';
			for (b = 0; op_words[b] != NULL; b++)
				if (set & (1u << b))
					snprintf(val + strlen(val), sizeof(val) - strlen(val),
						 "%s%s", val[0] ? "," : "", op_words[b]);
			if (val[0] == '\0')
				snprintf(val, sizeof(val), "(nothing)");
			break;
		}
		}
		OUT("%-24s %-40s (%s%s%s)\n", v->name, val[0] ? val : "''", where,
		    p->src_detail[i][0] ? " " : "", p->src_detail[i]);
	}
#undef OUT
	if (used >= len)
		return -ENOSPC;
	return (int)used;
}

uint64_t
spn_fnv1a(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h ^ 0xff; /* field separator */
}

uint64_t
spn_policy_hash(const struct spn_policy *p)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < p->nmounts; i++) {
		h = spn_fnv1a(h, p->mounts[i].prefix);
		h = spn_fnv1a(h, p->mounts[i].url);
	}
	return spn_fnv1a(h, p->cache_dir);
}

int
spn_policy_socket_path(const struct spn_policy *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%016llx.sock", p->runtime_dir,
			 (unsigned long long)spn_policy_hash(p));

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

enum spn_policy_src
spn_policy_source(const struct spn_policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < NVARS; i++)
		if (strcmp(spn_vars[i].name, name) == 0)
			return p->src[i];
	return SPN_SRC_DEFAULT;
}
