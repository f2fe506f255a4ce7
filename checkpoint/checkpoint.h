/*
 * checkpoint/checkpoint.h: process checkpoints for speculation (the
 * contract; checkpoint/README.md maps the files behind it).
 *
 * When the shim answers a consistency check from the cache, it takes a
 * checkpoint and lets the program run ahead. When the server's real answer
 * arrives, the checkpoint is committed (the prediction was right) or rolled
 * back (it was wrong): the process then resumes from the checkpoint, told
 * the truth, and executes again.
 *
 *	struct ckpt *c;
 *	uint64_t truth;
 *	int rc = ckpt_take(CKPT_FORK, 0, &c, &truth);
 *	if (rc == 0)      ... run ahead on the prediction; later, at a barrier:
 *	                  ckpt_commit(c)  or  ckpt_rollback(c, id_of_truth);
 *	else if (rc == 1) ... resumed after a rollback: use truth, no epoch open
 *	else              ... no checkpoint (rc = -errno): do not speculate
 *
 * Backends:
 * - CKPT_FORK (default): a hidden copy of the process made with clone(),
 *   frozen until the verdict. Commit kills the copy (3-15 us, reaped
 *   later); rollback resumes the copy (~60 us until it runs) and turns the
 *   original into a thin proxy that keeps the process's identity (pid,
 *   parent, exit status). Measured here (ckpt_demo bench): take+commit
 *   0.12-0.15 ms with 1 MB of touched heap, 0.3 ms with 10 MB, 4-6 ms with
 *   200 MB; then one copy-on-write fault, ~3 us, per 4 KB page written
 *   while the checkpoint is open or after (rewriting 200 MB: 160 ms;
 *   MADV_HUGEPAGE does not help: the kernel splits a huge page on COW).
 * - CKPT_NONE: takes nothing; ckpt_take() says -ENOTSUP (do not speculate).
 * - CKPT_CRIU: no back-end in this build; says -ENOSYS.
 *
 * Contract (fork backend). The caller -- the shim -- must:
 * - have at most CKPT_SLOTS checkpoints open per process (-EALREADY
 *   otherwise; also while one taken with CKPT_DEFER_SIGNALS is open). A
 *   second one makes a chain: each copy is the process at its checkpoint.
 *   Committing any one kills its copy; rolling back to one kills the copies
 *   of all the others first -- so the caller must roll back to a newer one
 *   only after the older ones' verdicts held (and commit those first), and
 *   to an older one whenever it failed. A resumed copy has no checkpoint
 *   open. Every open one may be detached (a chain that exits): the
 *   process that inherits them resumes one, by the same rule, and kills
 *   the others;
 * - treat fork, vfork/posix_spawn, exec, thread creation and exit as
 *   barriers: commit or roll back first (a copy left open across exec
 *   waits until the process dies). A checkpoint is refused (-ECHILD)
 *   while the process has children, even zombies (after a rollback they
 *   would stay the proxy's: the program's wait() would lose them), and
 *   (-EBUSY) while it has more than one thread or a POSIX timer;
 * - after a return of 1, drop every connection or stream it keeps in
 *   memory: memory is from the checkpoint, the kernel objects moved on
 *   (reopen the daemon connection);
 * - interpose getpid() and getppid() with ckpt_getpid() and
 *   ckpt_getppid(), and map pids the program signals through
 *   ckpt_real_pid(): after a rollback the process runs under another pid
 *   while the world (its parent, kill, wait) still sees the original one;
 * - disarm Syscall User Dispatch before ckpt_rollback() and re-arm it, if
 *   needed, after ckpt_take() returns (it is not inherited by the copy).
 *
 * Limits (fork backend), besides what ckpt_take() does not restore:
 * - the copy is visible to waitpid(-1, __WALL) and, if someone stops it
 *   while it waits, as CLD_STOPPED/CONTINUED to the program;
 * - the copy's TCB tid is its own (as after fork): a pthread mutex of type
 *   recursive, error-checking, robust or PI held at the checkpoint is not
 *   its own any more (unlock says EPERM). glibc's stdio and malloc locks
 *   are not affected; ld.so's is (dlopen while a checkpoint is open);
 * - signals: see ckpt_rollback(). Without CKPT_DEFER_SIGNALS a signal the
 *   run-ahead handled is not seen again after a rollback;
 * - each rollback leaves one proxy process (stacked rollbacks: a chain,
 *   at most CKPT_MAX_DEPTH) holding the memory it had, until the program
 *   ends;
 * - more than 1024 open files: -EMFILE.
 *
 * None of these functions is async-signal-safe or thread-safe; they do
 * not change errno. They reach the kernel through raw syscalls, never the
 * libc functions the shim wraps, and the copy runs without malloc from the
 * checkpoint until ckpt_take() returns 1.
 */
#ifndef SPECNFS_CHECKPOINT_H
#define SPECNFS_CHECKPOINT_H

#include <stdint.h>
#include <sys/types.h>

enum ckpt_backend {
	CKPT_NONE,
	CKPT_FORK,
	CKPT_CRIU,
};

/* Flags for ckpt_take(). */
enum {
	/*
	 * Hold asynchronous signals sent to the process while the
	 * checkpoint is open (all but SIGKILL, SIGSTOP and the synchronous
	 * SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS), instead of
	 * delivering them to the run-ahead: at commit they are delivered
	 * to the process, at rollback to the resumed copy. Without it a
	 * signal that arrives during the epoch is handled by the run-ahead
	 * and lost if it is rolled back. With it, a program that waits for
	 * a signal (pause) while the checkpoint is open waits until the
	 * verdict, and if it changes its signal mask meanwhile, commit
	 * still unblocks what ckpt_take() blocked.
	 */
	CKPT_DEFER_SIGNALS = 1u << 0,
};

struct ckpt; /* one open checkpoint (static storage; never freed) */

/*
 * Could backend b take a checkpoint of this process now? 0, or -errno:
 * -ENOTSUP (CKPT_NONE), -ENOSYS (CKPT_CRIU: no back-end), -EBUSY (more than
 * one thread, or POSIX timers), -ECHILD (children), -EALREADY (CKPT_SLOTS are
 * open), -ELOOP (too many rollbacks stacked: CKPT_MAX_DEPTH), -ENOENT
 * (no /proc), -EINVAL (unknown backend).
 */
int ckpt_available(enum ckpt_backend b);

/*
 * Take a checkpoint. Returns 0 in the original, which runs ahead with *out
 * set. Returns 1 when the process is resumed from this checkpoint after a
 * rollback, with *value (if not NULL) set to what ckpt_rollback() passed
 * and *out set to NULL (that checkpoint is gone). -errno if no checkpoint
 * was taken (*out NULL, nothing else changed): those of ckpt_available(),
 * -EINVAL (unknown flags), -EAGAIN or -ENOMEM (clone), -EMFILE.
 *
 * The resumed process has what it had at the checkpoint: memory, signal
 * mask and handlers, file descriptors, cwd, umask, rlimits, process group
 * and session; the file offsets and status flags (O_APPEND, O_NONBLOCK)
 * its open files had then (also of directories: a half-read DIR stream
 * goes on where it was); its interval timers less the time elapsed (one
 * that expired meanwhile fires at once). Not restored: file contents,
 * fcntl (POSIX) record locks held at the checkpoint (they were the
 * original's: lost), mlock, SEM_UNDO, CPU-time counters (they restart),
 * PR_SET_PDEATHSIG (SIGKILL: killing the original pid kills the program).
 */
int ckpt_take(enum ckpt_backend b, unsigned flags, struct ckpt **out, uint64_t *value);

/*
 * The prediction was right: the copy goes away (killed; reaped later by
 * ckpt_reap() or the next ckpt_take()). 0 or -errno (-EINVAL: not this
 * process's open checkpoint).
 */
int ckpt_commit(struct ckpt *c);

/*
 * The prediction was wrong: resume the copy, whose ckpt_take() returns 1
 * with value. The calling process never returns to the program: it
 * becomes a proxy that keeps the original pid, closes its files, forwards
 * every signal it is sent to the copy (as SI_QUEUE, with the sender's pid
 * and uid), stops when the copy stops (with the same signal) and
 * continues it when continued, and exits with the copy's exit status or
 * dies of its signal (without a core dump), so that the parent's wait()
 * sees the original pid with the program's status.
 *
 * Signals the kernel sent to the whole process group (si_code SI_KERNEL:
 * ^C, ^Z, SIGWINCH from the terminal) are not forwarded: the copy, in the
 * same group, got its own. A kill(-pgrp) from a process reaches the copy
 * twice. SIGSTOP sent to the original pid alone stops only the proxy.
 *
 * Call it with Syscall User Dispatch off and no other thread (a thread
 * created during the epoch would go on running in the proxy).
 *
 * If the copy is gone (killed by someone), the proxy says so on stderr and
 * ends the same way the copy ended. Misuse (not this process's open
 * checkpoint) is reported on stderr and the process kills itself: it ran
 * ahead on a wrong answer and must not continue.
 */
void ckpt_rollback(struct ckpt *c, uint64_t value) __attribute__((noreturn));

/*
 * Files written while running ahead: for each fd open for writing for
 * which fn returns 1 at ckpt_take, the file's size is recorded, and a
 * rollback truncates it back (the offset is restored for every seekable
 * fd), so that the re-executed writes -- appends included -- leave the
 * file as one execution would. Only for files nobody else writes (the
 * shim passes its NFS mirror files); NULL (the default): none.
 */
void ckpt_set_size_filter(int (*fn)(int fd));

/*
 * The pid and parent pid the program should see: the original pid after a
 * rollback (in the resumed copy), getpid()/getppid() otherwise. A child
 * the resumed copy forks sees the original pid as its parent.
 */
pid_t ckpt_getpid(void);
pid_t ckpt_getppid(void);

/*
 * The real pid behind a pid the program names: ckpt_getpid()'s answer
 * maps to this process's real pid (for the shim's kill, tgkill, sigqueue
 * wrappers: a signal to itself then arrives at once, not late through the
 * proxy); any other pid is returned as is.
 */
pid_t ckpt_real_pid(pid_t pid);

/*
 * Exits across processes: the process is about to exit while c is open
 * and a process it forked (a courier, which inherits c) will decide. The
 * copy stops dying with this process (it is orphaned when we exit) and
 * reports to ppid as its parent once resumed (ckpt_getppid). c is then no
 * longer this process's to commit or roll back. 0, -EINVAL (not ours),
 * -ESRCH (the copy is gone), -ETIMEDOUT (it did not answer in 2 s).
 */
int ckpt_detach(struct ckpt *c, pid_t ppid);

/*
 * In the process that inherited a detached c: resume the copy (its
 * ckpt_take() returns 1 with value; it runs as the original, under the
 * original pid's identity, without a proxy) or kill it (resume 0).
 */
void ckpt_release(struct ckpt *c, int resume, uint64_t value);

/* 1 in a resumed detached copy: nobody waits for its exit in the kernel;
 * its parent learns its status through the daemon. */
int ckpt_detached(void);

/*
 * How a resumed detached copy's parent learns the re-execution's status,
 * however it ends (exit, _exit, a signal): with fn set, the copy splits
 * when resumed. A child runs the program on (as the original pid, with
 * the original's parent: ckpt_detached() is 0 there, its parent waits
 * for it); the copy closes every file, waits for the child and calls
 * fn(wait status) with all signals blocked, then exits. fn may only make
 * raw system calls and must open its own connections.
 */
void ckpt_set_detached_end(void (*fn)(int wstatus));

/* Reap copies that have finished (committed ones), without blocking. */
void ckpt_reap(void);

/* The copy's real pid (diagnostics and tests); -1 if none. */
pid_t ckpt_copy_pid(const struct ckpt *c);

/* "none", "fork", "criu"; NULL if unknown. */
const char *ckpt_backend_name(enum ckpt_backend b);

/* Rollbacks that may be stacked in one process (each leaves a proxy). */
#define CKPT_MAX_DEPTH 16
/* Checkpoints open at once in one process (a chain). */
#define CKPT_SLOTS 2

#endif
