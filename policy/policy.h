/*
 * policy.h: every SPECNFS_* setting, parsed once from one table.
 *
 * Settings come from the environment, else from the config file
 * (SPECNFS_CONFIG, default $XDG_CONFIG_HOME/specnfs/config, lines of
 * NAME=VALUE with the same names), else from the table's default. A bad
 * value is an error that names the variable and what it accepts, never a
 * silent default. spn_policy_describe() shows each value and where it came
 * from (`specnfs config`).
 */
#ifndef SPECNFS_POLICY_H
#define SPECNFS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint/checkpoint.h" /* enum ckpt_backend: SPECNFS_CHECKPOINT */

#define SPN_MAX_MOUNTS 16
#define SPN_PREFIX_MAX 1024
#define SPN_URL_MAX 2048

struct spn_mount_cfg {
	char prefix[SPN_PREFIX_MAX]; /* "/nfs": absolute, no trailing slash */
	char url[SPN_URL_MAX];       /* "nfs://host/export?..." */
};

enum spn_policy_src {
	SPN_SRC_DEFAULT = 0,
	SPN_SRC_FILE,
	SPN_SRC_ENV,
};

/* SPECNFS_POLICY: what is speculated. */
enum spn_spec_policy {
	SPN_POLICY_OFF = 0, /* synchronous close-to-open NFS: the baseline */
	SPN_POLICY_CTO,     /* predict opens, stats, lookups, listings */
	SPN_POLICY_FULL,    /* cto + write-back: close/create/mkdir/... return at once */
};

/* SPECNFS_MOUNT_MODE: what a program sees while its server is unreachable. */
enum spn_mount_mode {
	SPN_MOUNT_HARD = 0, /* it waits (interruptibly), told "not responding" after timeo */
	SPN_MOUNT_SOFT,     /* EIO after timeo; later requests fail at once while down */
};

/* SPECNFS_SPECULATE: per-operation overrides of the policy (bit set). */
enum {
	SPN_SPEC_OP_OPEN = 1 << 0,
	SPN_SPEC_OP_STAT = 1 << 1,
	SPN_SPEC_OP_LOOKUP = 1 << 2, /* negative lookups (ENOENT predictions) */
	SPN_SPEC_OP_READDIR = 1 << 3,
	SPN_SPEC_OP_CLOSE = 1 << 4,  /* write-back */
	SPN_SPEC_OP_MUTATE = 1 << 5, /* create, mkdir, unlink, rename ... */
};

struct spn_policy {
	struct spn_mount_cfg mounts[SPN_MAX_MOUNTS];
	int nmounts;
	char cache_dir[SPN_URL_MAX];   /* SPECNFS_CACHE */
	uint64_t cache_max;            /* SPECNFS_CACHE_MAX, bytes */
	char runtime_dir[SPN_URL_MAX]; /* SPECNFS_RUNTIME_DIR */
	uint32_t acregmin, acregmax;   /* seconds; 0 = strict */
	uint32_t acdirmin, acdirmax;
	uint32_t idle_timeout;         /* SPECNFS_IDLE_TIMEOUT, seconds */
	uint32_t rpc_timeout_ms;       /* SPECNFS_RPC_TIMEOUT, ms */
	uint32_t connect_timeout;      /* SPECNFS_CONNECT_TIMEOUT: older name of timeo */
	int mount_mode;                /* SPECNFS_MOUNT_MODE: enum spn_mount_mode */
	uint32_t timeo;                /* SPECNFS_TIMEO, seconds */
	int log_level;                 /* SPECNFS_LOG 0..4 */
	char log_file[SPN_URL_MAX];    /* SPECNFS_LOG_FILE */
	char config_file[SPN_URL_MAX]; /* SPECNFS_CONFIG (where we looked) */
	char daemon_path[SPN_URL_MAX]; /* SPECNFS_DAEMON: specnfsd to start */
	int policy;                    /* SPECNFS_POLICY: enum spn_spec_policy */
	int checkpoint;                /* SPECNFS_CHECKPOINT: enum ckpt_backend */
	uint32_t speculate;            /* SPECNFS_SPECULATE, resolved: SPN_SPEC_OP_* */
	uint32_t max_predictions;      /* SPECNFS_MAX_PREDICTIONS per epoch */
	uint32_t max_epoch_ms;         /* SPECNFS_MAX_EPOCH_MS */
	int propagate;                 /* SPECNFS_PROPAGATE: 0 or 1 */
	char stats_file[SPN_URL_MAX];  /* SPECNFS_STATS */

	/* Where each table entry's value came from, by table index. */
	enum spn_policy_src src[32];
	char src_detail[32][64];
};

/*
 * Load the policy. getenv_fn lets tests supply an environment; NULL means
 * getenv. On error returns -EINVAL and writes one line naming the variable
 * and what it accepts into err.
 */
int spn_policy_load(struct spn_policy *p, const char *(*getenv_fn)(const char *),
		    char *err, size_t errlen);

/* Parse one SPECNFS_MOUNTS value into p->mounts. */
int spn_policy_parse_mounts(struct spn_policy *p, const char *value, char *err,
			    size_t errlen);

/* Human-readable table of values in effect and their sources. */
int spn_policy_describe(const struct spn_policy *p, char *buf, size_t len);

/* A stable 64-bit hash of what identifies a daemon: mounts and cache dir. */
uint64_t spn_policy_hash(const struct spn_policy *p);
/* FNV-1a of s continuing h (start: 0xcbf29ce484222325), then a field
 * separator: stable across runs and machines, good enough to name a
 * socket. */
uint64_t spn_fnv1a(uint64_t h, const char *s);

/* Where the named setting came from (SPN_SRC_DEFAULT if unknown). */
enum spn_policy_src spn_policy_source(const struct spn_policy *p, const char *name);

/* The daemon's socket and lock paths for this configuration. */
int spn_policy_socket_path(const struct spn_policy *p, char *buf, size_t len);

/* Is url something libnfs can mount (nfs://HOST[:PORT]/EXPORT[?k=v&...],
 * known parameters, numbers where numbers go)? 0, or -EINVAL with why. */
int spn_policy_check_url(const char *url, char *why, size_t whylen);

/* Is path (lstat: a symlink is refused) a directory of ours with mode
 * 0700? 0; -ENOENT (and the like) if it is not there; -EPERM with one line
 * in err naming it, its owner and mode. what: "runtime directory" or
 * "cache directory". */
int spn_policy_check_dir(const char *what, const char *path, char *err, size_t errlen);

/* Parsers shared with other components (0 or -EINVAL / -ERANGE). */
int spn_parse_uint(const char *s, uint64_t max, uint64_t *out);
int spn_parse_size(const char *s, uint64_t *out);

#endif
