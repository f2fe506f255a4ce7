/*
 * shim/internal.h: libspecnfs.so, the LD_PRELOAD shim -- what its files
 * share (a map of the files: shim/README.md).
 *
 * Unmodified programs run with it preloaded. Paths under a configured
 * prefix (SPECNFS_MOUNTS, e.g. /nfs) are served by specnfsd: the shim asks
 * the daemon to make the entry valid in its local mirror, then performs the
 * real call on the mirror path, so the program gets real kernel fds (stdio,
 * mmap, *at() calls, fchdir all work natively). Everything else passes
 * straight through: a process that never names an NFS path never talks to
 * the daemon.
 *
 * Rules for code in the shim:
 * - Wrappers are exported (SPN_EXPORT); everything else is hidden
 *   (-fvisibility=hidden).
 * - Internal functions return 0 or -errno; only wrappers set errno.
 * - The real libc functions are reached through REAL(name), from the one
 *   table in shim/real.h (resolved on first use: calls arrive before
 *   constructors; a function libc lacks fails with ENOSYS).
 * - A __thread guard (spn_shim_busy) sends calls made while the shim itself
 *   is working (libc internals, dlsym's own needs) straight through.
 * - Code on the path of exec and of a vfork child (posix_spawn, vfork+exec)
 *   must not malloc, must not use stdio, and must not change global state
 *   that the suspended parent would then see (see spn_call below).
 * - Never exit() or abort() inside a user's program: report once on stderr
 *   and fail the call with EIO.
 */
#ifndef SPECNFS_SHIM_INTERNAL_H
#define SPECNFS_SHIM_INTERNAL_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "policy/policy.h"
#include "client/proto.h"
#include "client/shim/real.h"

#define SPN_EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------ errors */

/* A wrapper's failure: errno from the internal -errno, and -1. */
static inline int
spn_fail(int err)
{
	errno = -err;
	return -1;
}

/* A call on a path or fd that is not the mirror's, in a speculative
 * process: made as Syscall User Dispatch would answer its trap, without
 * the trap (spec/sud.h). 1 and *ret (-errno on failure), or 0: make the
 * call through libc. */
int spn_spec_direct(long nr, long a0, long a1, long a2, long a3, long *ret);
/* Around a libc call that only looks (realpath): none of its calls traps.
 * 1 if held: then spn_spec_quiet_end(mask). */
int spn_spec_quiet_begin(uint64_t *mask);
void spn_spec_quiet_end(uint64_t mask);

/* spn_spec_direct's answer as a libc wrapper returns it. */
static inline long
spn_direct_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* ------------------------------------------------------------ guard */

/* Non-zero while the shim is working on this thread: nested calls pass. */
extern __thread int spn_shim_busy;

/* ------------------------------------------------------------ configuration */

/*
 * The mounts, loaded once (lazily, re-entrancy safe) from the environment
 * and config file. spn_shim_ready() is 0 when no mounts are configured or
 * the configuration is bad (reported once on stderr): then every wrapper
 * passes through.
 */
int spn_shim_ready(void);
const struct spn_policy *spn_shim_policy(void);
/* Where the mirror of all mounts lives: <cache>/<hash>. */
const char *spn_shim_mirror_base(void);
/* The daemon's socket for these mounts. */
const char *spn_shim_socket(void);
/* "specnfs: " a b c on stderr (NULLs skipped): no stdio, errno kept. */
void spn_shim_say(const char *a, const char *b, const char *c);
/*
 * Could this stat be of a mirror file? Mirror entries are private to the
 * daemon's user (mode 0600/0700) on the cache's filesystem: anything else
 * cannot be, which spares fstat() of ordinary files any extra work.
 */
int spn_shim_maybe_mirror(const struct stat *st);

/* ------------------------------------------------------------ path mapping */

/*
 * Classify (dirfd, path) the way the kernel would resolve it: absolute, or
 * relative to the cwd (AT_FDCWD) or to dirfd. Returns 1 and writes the
 * absolute, lexically normalised NFS path ("/nfs/a/b") to nfs if the path
 * is on an NFS mount (including a relative path from a cwd or dirfd inside
 * the mirror); 0 if not (pass through); -errno on failure. Costs nothing
 * for absolute paths off the prefixes, and for relative paths while the
 * cwd is off the mirror (the shim tracks chdir/fchdir).
 */
int spn_nfs_path(int dirfd, const char *path, char *nfs, size_t len);
/* What the lexical normalisation of a path drops at its end, which the
 * kernel still judges: a trailing slash ("f/": must be a directory), a
 * last name "." or "..". */
enum { SPN_TAIL_NONE, SPN_TAIL_SLASH, SPN_TAIL_DOT, SPN_TAIL_DOTDOT };
int spn_path_tail(const char *path);

/* Mirror path -> NFS path ("<base>/m0/a/b" -> "/nfs/a/b"): 1 if it was a
 * mirror path, 0 if not. */
int spn_mirror_to_nfs(const char *mirror, char *nfs, size_t len);
/* ... and back: NFS path -> mirror path (the longest prefix's mount). */
int spn_nfs_to_mirror(const char *nfs, char *mirror, size_t len);
/* The deepest directory above nfs that the mirror has, as an NFS path in
 * dir: 1, or 0 (none, or not a directory). */
int spn_mirror_dir_above(const char *nfs, char *dir, size_t len);

/* Track whether the cwd is in the mirror (after chdir/fchdir). */
void spn_cwd_changed(void);

/* ------------------------------------------------------------ the daemon */

/* shim/call.c */

/*
 * One blocking request/reply with the daemon (the connection is opened on
 * first use, reopened after fork, and a vfork child uses a temporary one
 * on its stack). Returns the reply's status (0 or -errno), or -EIO if the
 * daemon cannot be reached (reported once on stderr).
 */
int spn_call(struct spn_req *req, struct spn_reply *rep);
/* The same without speculation (shim/call.c; spn_call is spec/speculate.c's). */
int spn_call_raw(struct spn_req *req, struct spn_reply *rep);
/*
 * Misses answered here (proto.h, version 11). Is the directory dir (an NFS
 * path; NULL: any) one whose misses the daemon leased to this connection? Then
 * spn_call_note sends req, a miss below dir, as the note of a miss
 * answered here (no reply), if the lease still holds: 0, or -1 (not sent:
 * ask the daemon). The directories are forgotten at any request that does
 * not keep the lease, and with the connection.
 */
int spn_lease_has(const char *dir);
int spn_call_note(struct spn_req *req, const char *dir);
/* Before a fork, spawn or wait: end the connection's lease, and take none
 * again in this process image. spn_lease_end: end it only (before a read
 * of a pipe, which may wait for its writer). */
void spn_lease_drop(void);
void spn_lease_end(void);
/* One request on a connection of the caller's own, *fd (opened if < 0):
 * raw syscalls and the stack only, for a process that must not touch the
 * shared connection state (a courier: spec/speculate.c). */
int spn_call_on(int *fd, struct spn_req *req, struct spn_reply *rep);
/*
 * The caller's ids on the connection (shim/cred.c). spn_cred_mode() is 0
 * for the usual process (real ids == effective ids, and the daemon's user
 * or root); otherwise requests go through spn_cred_send()/spn_cred_recv(), which names our
 * effective ids and takes the fd the daemon passes with an OPEN reply:
 * spn_cred_take_fd() hands it over once (-1: none), with FD_CLOEXEC as
 * the open flags ask.
 */
struct spn_conn;
int spn_cred_mode(void);
void spn_cred_changed(void);
int spn_cred_send(struct spn_conn *c, struct spn_req *req);
int spn_cred_recv(struct spn_conn *c, struct spn_reply *rep);
int spn_cred_take_fd(int flags);
/* Resolve an open epoch now (commit, or roll back and not return). */
void spn_spec_barrier(void);
/*
 * Before starting a program (exec or spawn, shim/exec.c) from a process
 * whose state is speculative: the sealed epoch the new program must
 * depend on (SPECNFS_BIRTH in its environment), or 0 after resolving
 * first (nothing speculative, propagation off, or a program the shim will
 * not be loaded into). spawn_files: a spawn with file actions that open
 * files (done by the child before the program runs: not held).
 */
uint64_t spn_spec_launch(int spawn, int dirfd, const char *path, int spawn_files);
/* 1 if the program at (dirfd, path) will run with this shim (shim/exec.c). */
int spn_image_takes_shim(int dirfd, const char *path);
/* After the spawn or the failed exec of spn_spec_launch's id. */
void spn_spec_launched(int spawn, pid_t pid, uint64_t id);
/* Hold/release Syscall User Dispatch on this thread around a call that
 * must run natively (the real exec or spawn). */
void spn_spec_hold(int on);
/* After a wait reaped pid with *status (exited or killed): the daemon may
 * know it exited speculatively (spec/speculate.c, "exits"); *status is
 * then the one to return, and this process may now run ahead on it. */
/* nohang: a WNOHANG wait, most likely in a SIGCHLD handler (bash's):
 * nothing there may allocate or take a checkpoint, so an undecided exit
 * is waited for, not run ahead on. */
void spn_spec_reaped(pid_t pid, int *status, int nohang);
/* Around a wait of a speculative process: 1 if it may block without
 * resolving first (its syscalls do not trap until spn_spec_wait_end;
 * the caller blocks signals meanwhile), 0: a plain call (a barrier if
 * speculative). */
int spn_spec_wait_begin(void);
void spn_spec_wait_end(void);
/* The pid a program started now (spawn 1) or exec'd (0) should expect to
 * ask the daemon when it reaps it (SPECNFS_WAITER), 0: none. */
pid_t spn_spec_waiter(int spawn);
/* The pipes a dependent program started now may write at once
 * (SPECNFS_PIPES), into buf; length, 0: none. */
size_t spn_spec_pipes(char *buf, size_t len);
/* The constructor: SPECNFS_BIRTH (set by a speculative parent) makes this
 * process start depending on that sealed epoch. */
void spn_spec_ctor(void);

/* The process's umask, read without changing it (shim/open.c). */
int spn_umask(void);
/* Are we a vfork child sharing the parent's memory (no epochs here)? */
int spn_in_vfork_child(void);
/*
 * Which connection to the daemon this process's calls go over: a number
 * that changes whenever the connection is opened again (the daemon died
 * or was restarted, or dropped us). The daemon keeps predictions per
 * connection, so a RESOLVE over another connection than the one an
 * epoch's predictions went to knows nothing of them (spec/speculate.c).
 */
uint64_t spn_conn_serial(void);
/* pthread_atfork child handler: drop the parent's connection. */
void spn_call_atfork_child(void);
/* Forget the connection (closing our fd): the next call opens a new one,
 * starting a daemon if none runs. For a rollback's copy, whose memory
 * names the connection of the process it was copied from. */
void spn_conn_drop(void);

/* A request for op with every field zero and the strings empty, without
 * clearing the 8 KB of path buffers the caller is about to fill. */
void spn_req_init(struct spn_req *req, uint16_t op);

/* Shorthands: fill a request for op on nfs path (and path2) and call. */
int spn_call_path(uint16_t op, const char *nfs, uint32_t flags, uint32_t mode,
		  struct spn_reply *rep);
int spn_call_path2(uint16_t op, const char *nfs, const char *nfs2, struct spn_reply *rep);
/*
 * rc came from spn_call_path*: 1 and the local path into out if it was a
 * redirect (the NFS path crosses a symlink that leads off every mount):
 * the caller redoes its call on out, as the kernel would have gone on
 * there. 0 otherwise (rc is the answer).
 */
int spn_take_redirect(int rc, char *out, size_t len);
/* An absolute path that passes through a prefix and leaves it with ".."
 * ("/nfs/..", "/nfs/a/../../etc"): 1 and the local path the kernel would
 * reach into out (the prefix does not exist on this machine). */
int spn_local_path(const char *path, char *out, size_t len);
/* Is path inside the daemon's mirror (else a local path from a redirect)? */
int spn_in_mirror(const char *path);


/* ------------------------------------------------------------ locations (shim/dir.c) */

/*
 * Where a name really is: on NFS (path is an NFS path for the daemon), or
 * local (a local path reached from NFS through a symlink or ".."). What
 * the directory code and the walkers (shim/nftw.c, shim/fts.c) work on;
 * symlinks are resolved one hop at a time in the client's namespace.
 */
struct spn_where {
	int nfs;
	char path[PATH_MAX];
};

/* Classify (dirfd, path) into w. 0 or -errno. */
int spn_locate(int dirfd, const char *path, struct spn_where *w);
/* dir + "/" + name into out (no doubled "/"). 0 or -ENAMETOOLONG. */
int spn_join(const char *dir, const char *name, char *out, size_t len);
/* READDIR: the listing of nfs made complete and valid in the mirror; the
 * mirror directory's path into mirror. 0 or -errno. */
int spn_listing(const char *nfs, char *mirror, size_t len);
/* lstat of w, NFS attributes for NFS names. 0 or -errno. */
int spn_where_lstat(const struct spn_where *w, struct stat *st);
/* stat (follow: w becomes the final target) or lstat of w. 0 or -errno. */
int spn_where_stat(struct spn_where *w, struct stat *st, int follow);
/* stat() following symlinks the way the kernel would on this machine:
 * an absolute target is this machine's path, on NFS or not. */
int spn_stat_follow(int dirfd, const char *path, struct stat *st);
/* stat/lstat of a program's path: 0, or -1 with errno. */
int spn_path_stat(const char *path, struct stat *st, int follow);
/* Is the walk from dir ours (an NFS root, or a relative one that leaves
 * the NFS tree from a mirror cwd)? 1 with its location in w. */
int spn_walk_root(const char *dir, struct spn_where *w);
/* A stream on w (symlinks followed): *at the final location, cd the
 * directory it reads (mirror or local). NULL with errno on failure. */
DIR *spn_open_where(const struct spn_where *w, struct spn_where *at, char *cd, size_t cdlen);
/*
 * The streams the shim made, told from libc's: DIRs on mirror directories
 * with the NFS path each lists, and shim/fts.c's fts streams (nfs "").
 * spn_stream_new allocates the node before the stream is made, so that
 * spn_stream_add cannot fail once it exists; spn_stream_find is 1 (and
 * the NFS path into nfs if not NULL) for a stream of ours.
 */
struct spn_stream;
struct spn_stream *spn_stream_new(const char *nfs);
void spn_stream_add(struct spn_stream *m, const void *sp);
void spn_stream_del(const void *sp);
int spn_stream_find(const void *sp, char *nfs, size_t len);
/* opendir, readdir and closedir through the shim for its own callers
 * (the guard is not checked; stub types fixed on mirror streams). */
DIR *spn_opendir(const char *path);
struct dirent *spn_dir_read(DIR *d);
int spn_dir_close(DIR *d);

/* ------------------------------------------------------------ attributes */

/* shim/stat.c: the server's attributes as stat and statx give them. */
void spn_attr_to_stat(const struct spn_attr *a, struct stat *st);
void spn_attr_to_statx(const struct spn_attr *a, struct statx *stx);

/* ------------------------------------------------------------ open files */

/* shim/fd.c */

/*
 * Files opened on the mirror for writing: their close must be reported to
 * the daemon (write-back before close returns: close-to-open).
 */
void spn_fd_track(int fd, const char *nfs, int written);
/* On close of fd: forget it; 1 and the NFS path if it was the last
 * tracked fd of its file (the close to report), else 0. */
int spn_fd_untrack(int fd, char *nfs, size_t len);
/* 1 and its NFS path if fd is a file open for writing on NFS (tracked). */
int spn_fd_tracked(int fd, char *nfs, size_t len);
uint32_t spn_fd_unmapped(int fd); /* SPN_F_UNMAPPED if fd is write-only */
/* "SPECNFS_FDS=..." for an exec'd program: the written fds it inherits.
 * Writes at most len bytes to buf (NULL: just measure); returns the size
 * needed, NUL included. No malloc (vfork children). */
size_t spn_fd_env(char *buf, size_t len);
/* newfd is a duplicate of oldfd (dup, dup2, dup3, F_DUPFD). */
void spn_fd_dup(int oldfd, int newfd);
/* The NFS path of an open fd on the mirror (tracked, or by /proc). */
int spn_fd_nfs_path(int fd, char *nfs, size_t len);
/* In the constructor: take over the fds SPECNFS_FDS names (after exec). */
void spn_fd_import(void);

/* ------------------------------------------------------------ glibc names */

/* Exported names glibc's headers do not declare (fortified and old ABI). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int __xstat(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
ssize_t __readlink_chk(const char *path, char *buf, size_t size, size_t buflen);
int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev);
int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev);
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen);
char *__getcwd_chk(char *buf, size_t size, size_t buflen);
char *__realpath_chk(const char *path, char *resolved, size_t len);

/* Report a failure to reach the daemon once per process. */
void spn_shim_complain(const char *what, int err);

#endif
