/*
 * daemon/internal.h: specnfsd's shared state.
 *
 * One daemon serves every process of one user and mount configuration. It
 * is a single thread around one poll loop: client sockets, one libnfs
 * session per mount, inotify (last close of written mirror files), a
 * signalfd and timers. Each client request becomes a job: a small state
 * machine that may issue NFS calls and resumes in their callbacks.
 *
 * This header holds the state every file shares and, one block per file,
 * the functions each offers the others (client/daemon/README.md is the
 * map). What one file alone uses stays static there.
 */
#ifndef SPECNFS_DAEMON_INTERNAL_H
#define SPECNFS_DAEMON_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "client/daemon/consist.h"
#include "client/daemon/index.h"
#include "client/daemon/nfs.h"
#include "policy/policy.h"
#include "client/proto.h"

struct spn_daemon;
struct spn_dircheck;
struct spn_job;

struct spn_mount {
	int id;
	const char *prefix; /* from the policy: "/nfs" */
	const char *url;
	struct spn_nfs *nfs;
	char mirror[PATH_MAX]; /* this mount's mirror root */
	int root_fd;           /* O_PATH fd of mirror: every mirror operation starts here */
	int64_t retry_at_ns;   /* next connect attempt while down */
	int backoff_s;
	int connecting;
	int64_t down_since_ns;
	int64_t heard_ns;        /* the server's last reply (or when it began to owe one) */
	int soft_down;           /* soft: known down, programs' requests fail fast */
	int said_down;           /* logged as not responding */
	struct spn_job *waiting; /* jobs waiting for the session */
	/* The ordered line (daemon/jobs.c, mq_*): every job that made an
	 * NFS call and has not finished, in arrival order, admitted or
	 * waiting for an earlier job it conflicts with. */
	struct spn_job *mq_head, *mq_tail;
	int mq_waiting; /* jobs in line not admitted yet (mq_pump has work) */
	int mq_writers; /* jobs in line that change the server (or run alone) */
	int pumping, pump_again;
};

/*
 * Whom a request comes from. The kernel vouches for it: SO_PASSCRED puts
 * the sender's pid, uid and gid on every message (its real ids, or the
 * effective ones the shim names in SCM_CREDENTIALS: the kernel accepts only
 * ids the process holds). A request whose uid is the daemon's own is
 * served as always (foreign 0). Any other, except root, is foreign: its
 * fsuid, fsgid and groups are read from /proc/<pid>/status and its NFS
 * calls carry them (AUTH_SYS), so the server decides as for a kernel
 * client. Root is served with the daemon's rights, as before: root can
 * act as the daemon's user anyway.
 */
struct spn_cred {
	int foreign;
	pid_t pid;
	struct spn_nfs_cred nfs; /* uid, gid, groups for the server and access() */
};

struct spn_client {
	struct spn_client *next;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct spn_cred cred; /* of the request being read (daemon/cred.c) */
	int refs; /* jobs that still hold it */
	int dead;
	unsigned char *in;
	size_t in_len, in_cap;
	unsigned char *out;
	size_t out_len, out_cap, out_off;
	/* Speculation: validations of this client's predictions in flight,
	 * how many the server contradicted since the last RESOLVE, and the
	 * RESOLVE requests waiting for the count to reach zero. */
	int validating;
	uint32_t refuted;
	struct spn_job *resolvers;
	/* Which epoch of the connection a validation belongs to: bumped at
	 * each SEAL, which takes validating and refuted with it (so that
	 * a sealed epoch is decided by its own validations alone, while the
	 * process goes on predicting in the next one: a chain). */
	uint32_t ep_seq;
	/* Across processes (daemon/seal.c): the id of the epoch this
	 * connection sealed and has not resolved yet, and the sealed epoch
	 * whose output this connection (a courier) is writing. */
	uint64_t seal;
	uint64_t courier_of;
	/* The sealed epoch a process without a checkpoint depends on: its
	 * predictions join the chain above it (SEAL with SPN_F_JOIN). */
	uint64_t join;
	/* The sealed epoch its lease keeps undecided (proto.h, version 11):
	 * the client answers misses itself and sends notes. 0: none. */
	uint64_t lease;
};

/* One write-back in progress for a path (coalesces closes and inotify). */
struct spn_wb {
	struct spn_wb *next;
	struct spn_mount *m;
	char rel[SPN_PATH_MAX];
	int writers;   /* opens for writing not yet closed */
	/* Still open for writing when its last store ended, by a process
	 * whose close does not count (a fork child's fd, whose CLOSE came
	 * first): it stays dirty, and is kept to store at its last close
	 * (inotify), so that no write of it goes unstored or unseen. */
	int elsewhere;
	int running;   /* a store is in flight */
	int again;     /* content changed while it ran: store once more */
	int wd;        /* inotify watch (IN_CLOSE_WRITE, IN_MODIFY), or -1 */
	ino_t ino;     /* the mirror file wd watches */
	/* What the server has is the mirror copy as it is: the last store
	 * ended with no write to the copy since it began (IN_MODIFY), under
	 * a watch. A close that wrote nothing new then stores nothing
	 * (SPN_F_UNMAPPED): configure's children all close config.log. */
	int clean;
	int mod_seen;  /* IN_MODIFY since the running store began */
	int watched;   /* the running store began under the watch */
	int64_t due_ns; /* a close seen only by inotify: store at this time */
	struct spn_nfs_sattr times; /* utimes asked while dirty: set after the data */
	struct spn_cred cred;  /* the writer's, when foreign: the store carries them */
	int has_times;
	uint64_t gen;  /* dirty_gen the running store started from */
	struct spn_job *waiters; /* CLOSE/FSYNC jobs answered when stored */
	/* Detached (a held unlink of the file while its store is on its
	 * way, spn_wb_detach): the name is gone from the index and the
	 * mirror, the store reads srcfd and knows the file as gone. */
	int detached;
	int srcfd; /* -1 unless detached */
	struct spn_entry gone;
};

typedef void (*spn_job_fn)(struct spn_job *j);

/*
 * One request (or one of the daemon's own tasks: a validation, a
 * write-back store) on its way through its steps. Fields by concern; a job
 * uses the groups its op needs, the rest keep their initial values.
 */
struct spn_job {
	/* What and for whom (daemon/dispatch.c) */
	struct spn_daemon *d;
	struct spn_client *cl; /* NULL for the daemon's own jobs */
	struct spn_job *next;  /* in a wait list */
	struct spn_req req;
	struct spn_reply rep;
	struct spn_cred cred; /* the caller's (daemon/cred.c) */
	struct spn_mount *m;
	char rel[SPN_PATH_MAX];
	char rel2[SPN_PATH_MAX];

	/* The NFS call in flight (daemon/jobs.c) */
	spn_job_fn issue;        /* re-run to re-send the current call */
	spn_job_fn done;         /* runs with the call's result */
	spn_job_fn then;         /* continuation of a shared step (resolve, fetch) */
	int nonidem;             /* current call is not idempotent */
	int lost;                /* ... and the session was lost under it */
	int err;
	struct spn_nfs_res *res; /* valid only inside done() */
	int64_t deadline_ns;
	int64_t start_ns;         /* when the request came (the log) */
	int attempts;
	int remote; /* made an NFS call: the reply says SPN_SPEC_REMOTE */
	int calls;  /* calls sent (spn_job_call let them go) */

	/* Place in the ordered line (daemon/jobs.c, mq_*) */
	int mq_barrier; /* ordered as a change of its paths even when its calls read */
	int mq_alone;   /* conflicts with every job: a foreign caller's */
	int mq_kind;    /* MQ_READ, MQ_CONTENT, MQ_NAME: what it does to its paths */
	int mq_admitted;
	int mq_counted; /* in mq_m->mq_writers */
	int mq_nkeys;
	char *mq_keys[4]; /* the paths it touched (the line's copies) */
	struct spn_mount *mq_m; /* the line it is in, or NULL */
	struct spn_job *mq_prev, *mq_next;
	int mq_held; /* a held mutation: keeps its place, never admitted (seal.c) */
	int mq_parked; /* a validation waiting for its directory's check (dircheck.c) */

	/* Resolving the path (daemon/resolve.c, daemon/gate.c) */
	struct spn_entry e; /* the entry being worked on */
	int have_e;
	char walk[SPN_PATH_MAX];     /* NFSv3 handle walk: the component being looked up */
	int hops;                    /* symlinks followed */
	int own_change_waits;        /* parked for our own change in the directory */
	int as_predicted;            /* a late check of a miss: our own later changes of the
				      * name are not its answer, and it leaves them be */
	char gate_rel[SPN_PATH_MAX]; /* the request's rel while an ancestor is looked up */
	int gating;                  /* 1 while j->rel is an ancestor being looked up */

	/* Content and write-back (daemon/reads.c, daemon/writeback.c) */
	int tmpfd;
	char tmp[PATH_MAX];
	struct spn_wb *wb;
	int store_by_path; /* the handle went stale: store by path */
	int fetch_by_path; /* ... fetch by path */
	int stored_by_fh;  /* this store went by the file's handle */
	int remove_checked; /* NFSv4 RMDIR/UNLINK: the type was looked at (daemon/mutate.c) */

	/* Predictions (daemon/predict.c, daemon/predict_write.c) */
	char child[SPN_PATH_MAX];  /* the name whose parent is being listed */
	struct spn_client *owner;  /* validation: whose prediction this checks */
	uint32_t ep_seq;           /* ... in which of its epochs (cl->ep_seq) */
	uint64_t join;             /* ... or the sealed epoch it joined (seal.c) */
	int join_ok;               /* ... and it held */
	struct spn_attr predicted; /* ... and what was predicted */
	int predicted_status;
	/* Held mutations (SPN_SPEC_HOLD, daemon/seal.c) */
	uint64_t hold;             /* request: the sealed epoch to hold it in */
	uint64_t hold_from;        /* ... the joiner's own link of the chain */
	int hold_behind;           /* ... behind the epoch's held create of its file */
	int hold_open;             /* ... a store that leaves the epoch open while held */
	struct spn_job *hold_next; /* validation: in d->held while held */
	int64_t held_ns;           /* ... since */
	uint64_t verf;             /* O_EXCL CREATE: its verifier (0: GUARDED) */
	int verf_set;              /* ... chosen (the same when sent again) */
	int dropped;               /* ... dropped, never sent: what it held failed */
	uint64_t removals;         /* validation: d->removals when it began */
	uint64_t note;             /* a note's own join of the lease's epoch */
};

/* The outcome of a predicted mutation, for a re-execution (REPLAY). */
struct spn_outcome {
	uint64_t token;
	int done;
	int status;
};
#define SPN_OUTCOMES 256

/* A path remembered for a while: a write-back the server refused (not
 * predicted again, so that a re-execution hears the error instead of
 * rolling back again), a directory whose note failed (not leased again).
 * Rings of SPN_REFUSED: spn_recent_has, spn_recent_add (daemon/jobs.c). */
struct spn_refused {
	int mount;
	char rel[SPN_PATH_MAX];
	int64_t until_ns;
};
#define SPN_REFUSED 32
int spn_recent_has(const struct spn_refused *ring, const struct spn_mount *m, const char *rel);
void spn_recent_add(struct spn_refused *ring, unsigned *next, const struct spn_mount *m,
		    const char *rel, int64_t for_ns);

#define SPN_DIRBUSY 16 /* busy directories remembered (daemon/dircheck.c) */
#define SPN_LAG_MS 2000 /* validation lags counted per ms up to this (status.c) */
#define SPN_SEAL_HASH 1024 /* buckets of undecided sealed epochs by id (seal.c) */

struct spn_daemon {
	struct spn_policy pol;
	struct spn_ac_settings ac;
	struct spn_mount mounts[SPN_MAX_MOUNTS];
	int nmounts;
	struct spn_index *idx;
	char base[PATH_MAX];     /* <cache>/<hash> */
	char tmpdir[PATH_MAX];   /* <base>/tmp: temporaries, same filesystem */
	char sock_path[PATH_MAX];
	char lock_path[PATH_MAX];
	int lock_fd, listen_fd, sig_fd, ino_fd;
	int spare_fd; /* kept free for accept() at EMFILE */
	struct spn_client *clients;
	int nclients;
	int njobs;
	struct spn_wb *wbs;
	int stopping;
	int64_t idle_since_ns;
	int64_t started_ns;
	uint64_t requests[SPN_OP_MAX + 1];
	uint64_t cache_hits, revalidations, fetches, stores, negative_hits;
	uint64_t stores_saved; /* closes that had nothing new to store */
	uint64_t predictions, refutations;
	uint64_t removals; /* predicted removals (unlink, rmdir, rename) so far */
	/* sealed epochs (daemon/seal.c) */
	struct spn_seal *seals;
	struct spn_seal *seal_hash[SPN_SEAL_HASH]; /* the same, by id */
	uint64_t seal_base, seal_next;
	uint64_t *seal_refuted; /* sorted */
	size_t n_seal_refuted, cap_seal_refuted;
	struct spn_exit *exits; /* exits recorded for parents to reap */
	size_t n_exits;
	uint64_t exit_gen;
	struct spn_job *reapers; /* REAP jobs waiting for a newer record */
	struct spn_job *held;           /* held mutations (seal.c) */
	int held_poking;
	uint64_t n_held, n_dropped, held_us; /* figures: held, dropped, time held */
	struct spn_job *own_change_waiters; /* stats of a directory: our change in it first */
	int64_t own_change_waiters_ns;      /* ... since (a create that never ends: 500 ms) */
	struct spn_dir_pending *dir_pending; /* directories our predicted changes are in */
	struct spn_dircheck *dirchecks_list; /* misses checked through their directory */
	uint64_t dirchecks, dircheck_answers; /* figures: GETATTRs sent, misses they answered */
	struct spn_dirbusy {		      /* directories whose misses go by name (dircheck.c) */
		const struct spn_mount *m;
		char rel[SPN_PATH_MAX];
		int64_t until;
	} dirbusy[SPN_DIRBUSY];
	unsigned dirbusy_next;
	struct spn_outcome outcomes[SPN_OUTCOMES];
	unsigned next_outcome;
	struct spn_refused refused[SPN_REFUSED];
	unsigned next_refused;
	/* Directories whose note failed: not leased again for a while. */
	struct spn_refused unleased[SPN_REFUSED];
	unsigned next_unleased;
	uint64_t notes, notes_failed; /* notes had, and how many failed */
	/* How long after its prediction each validation had the server's
	 * answer: counts per ms, the last one for SPN_LAG_MS and more. */
	uint64_t lag_ms[SPN_LAG_MS + 1];
	uint64_t lag_n, lag_max_ms;
};

#define SPN_MAX_SYMLINK_HOPS 40 /* symlinks a request may follow, as ELOOP locally */

/*
 * What each file of the daemon offers the others. Every step of a job has
 * the shape spn_job_fn: it runs with j->err (0 or -errno) and goes on to
 * the next step, an NFS call, or spn_job_reply().
 */

/* daemon/jobs.c: the job engine, mount up/down, shared helpers */
int64_t spn_now_ns(void);  /* CLOCK_REALTIME: persisted in the index */
int64_t spn_mono_ns(void); /* CLOCK_MONOTONIC: timers */
/* Before an NFS call: how to re-send it and what runs after it. 1: the
 * call must wait (for the session, or behind a predicted mutation). */
int spn_job_call(struct spn_job *j, spn_job_fn issue, spn_job_fn done, int nonidem);
/* A held mutation (mq_held) may go now: in its place in the line. */
void spn_job_unhold(struct spn_job *j);
void spn_job_cb(int err, struct spn_nfs_res *res, void *arg); /* the callback of every call */
void spn_job_reply(struct spn_job *j, int status);           /* answers and frees j */
void spn_job_free(struct spn_job *j);
/* One idempotent call on j->rel, then done: GETATTR (lstat), READLINK. */
void spn_job_getattr(struct spn_job *j, spn_job_fn done);
void spn_job_readlink(struct spn_job *j, spn_job_fn done);
void spn_mount_up(struct spn_daemon *d, struct spn_mount *m);
void spn_mount_tick(struct spn_daemon *d, struct spn_mount *m);
void spn_mount_failed(struct spn_daemon *d, struct spn_mount *m);
const char *spn_mount_down_reason(struct spn_mount *m);
int spn_mount_unresponsive(const struct spn_daemon *d, struct spn_mount *m, int64_t now);
void spn_timeo_tick(struct spn_daemon *d);
int64_t spn_soft_wait_ns(const struct spn_daemon *d, const struct spn_mount *m);
struct spn_mount *spn_find_mount(struct spn_daemon *d, const char *path, char *rel, size_t len,
				 int *err);
void spn_parent_of(const char *rel, char *out, size_t len);
int spn_job_index_get(struct spn_job *j, const char *rel, struct spn_entry *e);
int spn_job_index_put(struct spn_job *j, const char *rel, const struct spn_entry *e);
void spn_invalidate_parent(struct spn_job *j, const char *rel);
void spn_other_links(struct spn_job *j, const char *rel, const struct spn_attr *a, int delta);
void spn_parent_after_own(struct spn_job *j, const char *rel, const struct spn_nfs_res *res);
void spn_entry_from_attr(struct spn_entry *e, const struct spn_attr *a, int64_t now,
			 const struct spn_ac_settings *ac);

/* Is a change at or below dir (or of a name above it) in m's line? */
int spn_mq_changes_at(struct spn_mount *m, const char *dir);
/* j takes its place in line now and sends nothing until unparked (its
 * next spn_job_call) or freed. */
void spn_job_park(struct spn_job *j);

/* daemon/dispatch.c: a request becomes a job */
void spn_job_start(struct spn_daemon *d, struct spn_client *cl, const struct spn_req *req);
void spn_job_begin(struct spn_job *j);    /* after the path gate */
void spn_job_dispatch(struct spn_job *j); /* the ordinary, non-predicted handling */

/* daemon/gate.c: symlinks in a request's path */
void spn_path_gate(struct spn_job *j);
void spn_gate_restore(struct spn_job *j);
void spn_gate_follow(struct spn_job *j, const char *target);
void spn_gate_readlink_issue(struct spn_job *j);

/* daemon/resolve.c: fresh attributes of j->rel into j->e, then `then` */
void spn_resolve(struct spn_job *j, int force, spn_job_fn then);

/* daemon/dircheck.c: a predicted miss checked through its directory */
int spn_dircheck_join(struct spn_job *v, const char *dir, spn_job_fn then);
/* v (parked) goes by name now: a change of ours came behind it. */
void spn_dircheck_release(struct spn_job *v);
/* Checks waiting for an earlier one of their directory go now. */
void spn_dircheck_flush(struct spn_daemon *d);
/* Those whose burst of misses ended go; the poll timeout (ms) that
 * wakes the loop for the next to end. */
int spn_dircheck_tick(struct spn_daemon *d, int timeout);

/* daemon/reads.c: stat, access, readdir, readlink, statfs, fetch, open */
void spn_stat_resolved(struct spn_job *j);
void spn_access_resolved(struct spn_job *j);
/* After spn_resolve, for a request that follows a final symlink (stat,
 * setattr): 1 if j was answered (an error) or starts over at the target. */
int spn_resolved_follow(struct spn_job *j);
void spn_readdir_resolved(struct spn_job *j);
int spn_dir_listing_valid(struct spn_job *j);
void spn_ensure_listing(struct spn_job *j, spn_job_fn then);
void spn_reply_mirror(struct spn_job *j);
void spn_readlink_resolved(struct spn_job *j);
void spn_open_resolved(struct spn_job *j);
int spn_open_for_write(struct spn_job *j);
const char *spn_parent_handle(struct spn_job *j, struct spn_entry *pe);
void spn_send_create(struct spn_job *j, int excl);
int spn_create_by_path_again(struct spn_job *j);
void spn_statfs_issue(struct spn_job *j);

/* daemon/writeback.c */
struct spn_wb *spn_wb_find(struct spn_daemon *d, struct spn_mount *m, const char *rel,
			   int create);
void spn_wb_forget(struct spn_daemon *d, struct spn_wb *wb);
/* j (a held unlink or rename of j->rel, entry j->e) takes the name of
 * wb's file away before its store: the store goes on from an fd and the
 * entry, under the old name. 0 or -errno (then nothing changed). */
int spn_wb_detach(struct spn_job *j, struct spn_wb *wb);
/* The detached write-back of (m, rel), if any. */
struct spn_wb *spn_wb_find_detached(struct spn_daemon *d, const struct spn_mount *m,
				    const char *rel);
void spn_wb_kick(struct spn_daemon *d, struct spn_wb *wb);
void spn_wb_sweep(struct spn_daemon *d);
void spn_wb_log_pending(struct spn_daemon *d);
void spn_wb_wait_store(struct spn_job *j, struct spn_wb *wb);
/* Size and mtime of j->rel, a file with writes not yet stored, as the
 * server will have them once stored (over a's). */
void spn_wb_attr(struct spn_job *j, struct spn_attr *a);
void spn_close_start(struct spn_job *j); /* CLOSE, FSYNC */
void spn_wb_on_close_write(struct spn_daemon *d, int wd);
void spn_wb_ino_drain(struct spn_daemon *d);
int spn_wb_watch(struct spn_job *j, struct spn_wb *wb);
int spn_wb_close_clean(struct spn_job *j, struct spn_wb *wb);
void spn_wb_tick(struct spn_daemon *d);
int spn_wb_replay(struct spn_daemon *d);

/* daemon/mutate.c */
void spn_mutate_issue(struct spn_job *j);
void spn_setattr_resolved(struct spn_job *j);

/* daemon/predict.c: predictions of reads, validation, RESOLVE */
int spn_predict(struct spn_job *j);
int spn_predict_absent(struct spn_job *pj, uint64_t join);
/* A change of ours in a directory (create, mkdir, rmdir, unlink, rename)
 * finished (or failed): stats parked for it go on. */
void spn_predict_own_change_done(struct spn_daemon *d);
void spn_predict_tick(struct spn_daemon *d);
/* A predicted change of ours to the name rel is on its way to the server
 * (delta 1) or arrived (delta -1): its directory's attributes will be the
 * reply's (wcc), so a stat of it waits meanwhile. */
void spn_dir_pending(struct spn_job *j, const char *rel, int delta);
/* The parent of rel after our own change to it: kept with the reply's
 * attributes (wcc) if nobody else changed it, else looked at again. For a
 * RENAME both names (the wcc is the directory's if they share it). */
void spn_parents_after_own(struct spn_job *j);
int spn_list_parent_first(struct spn_job *j);
/* A job checking pj's prediction for pj's client (counted in validating
 * until it ends: spn_validated); NULL if out of memory. */
struct spn_job *spn_validation_new(struct spn_job *pj);
/* ... or for the sealed epoch id, which counts it (spn_seal_hold_add). */
struct spn_job *spn_validation_joined(struct spn_job *pj, uint64_t id);
void spn_validated(struct spn_job *j);

/* daemon/seal.c: speculation across processes (RESOLVE, SEAL). */
struct spn_seal;
void spn_resolve_request(struct spn_job *j);
struct spn_exit;
void spn_seal_dispatch(struct spn_job *j);
void spn_reap_request(struct spn_job *j);
/* A validation v of a prediction of v->owner failed (refuted), or ended
 * (done). Its epoch is the connection's current one, or one sealed since,
 * whose own part the last one decides. */
void spn_seal_own_refuted(struct spn_daemon *d, const struct spn_job *v);
void spn_seal_own_done(struct spn_daemon *d, const struct spn_job *v);
void spn_seal_poke(struct spn_daemon *d);
void spn_seal_client_gone(struct spn_daemon *d, struct spn_client *cl);
/* A prediction of cl may join a sealed epoch above it: its id (counted
 * until spn_seal_join_done), or 0. */
uint64_t spn_seal_join(struct spn_daemon *d, struct spn_client *cl);
/* The sealed epoch a prediction of cl would join, not counted: where a
 * create by a process without a checkpoint is held too (its failure rolls
 * that sealer back to before the fork, and this process is discarded with
 * it), or 0. */
uint64_t spn_seal_join_target(struct spn_daemon *d, const struct spn_client *cl);
void spn_seal_join_done(struct spn_daemon *d, uint64_t id, int ok);
/* The same, only if it is cl's birth itself (not one above it): where the
 * store of a file cl wrote may be held, so that it waits for that birth. */
uint64_t spn_seal_join_birth(struct spn_daemon *d, const struct spn_client *cl);
/* Leases (proto.h, version 11). cl's lease now keeps id undecided (one
 * join, ending the lease it had on another); spn_seal_lease_end ends it;
 * spn_seal_lease_join counts one more join of the lease's epoch (a note,
 * or its validation) and says which, or 0 if cl has none. */
void spn_seal_lease_grant(struct spn_daemon *d, struct spn_client *cl, uint64_t id);
void spn_seal_lease_end(struct spn_daemon *d, struct spn_client *cl);
uint64_t spn_seal_lease_join(struct spn_daemon *d, struct spn_client *cl);
/* A note (SPN_SPEC_NOTE) is answered with status, which goes to no one:
 * anything but ENOENT fails the lease's epoch (daemon/predict.c). */
void spn_note_done(struct spn_job *j, int status);
/* Held mutations (proto.h, version 8). The sealed epoch a mutation of cl
 * may be held in (its own, else the nearest above with a checkpoint), or
 * 0; *from: the link of the chain cl names. */
uint64_t spn_seal_hold_target(struct spn_daemon *d, struct spn_client *cl, uint64_t *from);
/* The sealed epoch of cl that holds the create of j's file (whose store
 * at its close, and chmod, may join it, behind the create), or 0. */
uint64_t spn_seal_create_of(struct spn_daemon *d, const struct spn_job *j);
/* The same for a process without a sealed epoch of its own: the one in
 * the chain it joins (SEAL with JOIN) that holds the create, or 0. */
uint64_t spn_seal_create_above(struct spn_daemon *d, const struct spn_job *j);

/* v (a create) is held in its sealed epoch: as spn_seal_hold_add, and the
 * epoch remembers the file. */
void spn_seal_hold_create(struct spn_daemon *d, struct spn_job *v);
/* The store of the held create's file joins id: it waits in line behind
 * the create, so the create goes without waiting for it. */
void spn_seal_join_behind(struct spn_daemon *d, uint64_t id);
/* v (a validation joined to v->join) is the held mutation of its sealed
 * epoch, which takes nothing more; v waits in its line (mq_held) until
 * spn_seal_poke() sends or drops it. */
void spn_seal_hold_add(struct spn_daemon *d, struct spn_job *v);
/* A check joins the sealed epoch id (a held request answered without a
 * mutation: spn_predict_absent). */
void spn_seal_join_own(struct spn_daemon *d, uint64_t id);

/* daemon/predict_write.c: predictions of write-backs and mutations */
int spn_predict_write(struct spn_job *j);
/* SPN_SPEC_HOLD: predicted and held, or answered SPN_SPEC_UNHELD. */
void spn_hold_request(struct spn_job *j);
int spn_replay(struct spn_job *j);
void spn_spec_refuted(struct spn_job *v, int status);
void spn_spec_mut_done(struct spn_job *v);

/* daemon/status.c */
int spn_daemon_busy(const struct spn_daemon *d);
int spn_status_text(struct spn_daemon *d, char *buf, size_t len);

/* daemon/mirror.c: every operation on the mirror, by (mount, rel), beneath
 * the mount's root dirfd and never through a symlink. 0 or -errno. */
int spn_mirror_path(const struct spn_mount *m, const char *rel, char *out, size_t len);
int spn_mirror_open_root(struct spn_mount *m);
int spn_mirror_mkdirs(const struct spn_mount *m, const char *rel); /* mkdir -p of rel's parent */
int spn_mirror_mkdir(const struct spn_mount *m, const char *rel);   /* -EEXIST if there */
int spn_mirror_lstat(const struct spn_mount *m, const char *rel, struct stat *st);
/* A regular file only (never blocks on a FIFO): the fd, or -errno (-EINVAL
 * for anything else, -ELOOP for a symlink). */
int spn_mirror_open(const struct spn_mount *m, const char *rel, int flags, int mode);
/* O_WRONLY|O_CREAT|O_TRUNC, replacing a stub or special file: the fd. */
int spn_mirror_create(const struct spn_mount *m, const char *rel, int mode);
int spn_mirror_open_dir(const struct spn_mount *m, const char *rel);
int spn_mirror_truncate(const struct spn_mount *m, const char *rel, uint64_t size);
int spn_mirror_chmod(const struct spn_mount *m, const char *rel, int mode);
int spn_mirror_utimens(const struct spn_mount *m, const char *rel, const struct timespec ts[2]);
int spn_mirror_watch(const struct spn_mount *m, const char *rel, int ino_fd, uint32_t mask);
int spn_mirror_written(const struct spn_mount *m, const char *rel);
int spn_mirror_install(const struct spn_mount *m, const char *tmp, const char *rel);
int spn_mirror_rename(const struct spn_mount *m, const char *from, const char *to);
int spn_mirror_symlink(const struct spn_mount *m, const char *tmpdir, const char *rel,
		       const char *target);
int spn_mirror_mkfifo(const struct spn_mount *m, const char *tmpdir, const char *rel);
int spn_mirror_stub(const struct spn_mount *m, const char *tmpdir, const char *rel, uint32_t type);
int spn_mirror_readlink(const struct spn_mount *m, const char *rel, char *buf, size_t len);
int spn_mirror_is_stub(const struct spn_mount *m, const char *rel);
int spn_mirror_remove(const struct spn_mount *m, const char *rel); /* file, symlink or whole tree */
int spn_mirror_tmpfile(const char *tmpdir, char *tmp, size_t len);
int spn_mirror_mode(uint32_t nfs_mode);

/* daemon/cred.c: whom a request comes from; foreign callers */
int spn_cred_from_msg(struct spn_daemon *d, struct spn_client *cl, const void *cmsg_creds);
int spn_cred_in_group(const struct spn_cred *c, uint32_t gid);
int spn_cred_send_fd(struct spn_client *cl, const void *buf, size_t len, int fd);
void spn_cred_send_open(struct spn_job *j, const unsigned char *buf, size_t n);
int spn_cred_check_what(const struct spn_job *j, char *path, size_t len, int *mode);
void spn_cred_check_issue(struct spn_job *j);

/* daemon/main.c */
void spn_client_send(struct spn_daemon *d, struct spn_client *cl, const void *buf, size_t len);
void spn_client_unref(struct spn_daemon *d, struct spn_client *cl);

#endif
