/*
 * spec/sud.h - output commit for speculative epochs (Syscall User Dispatch):
 * the contract with the shim. Behind it: sud.c, sud_stubs.c, sud_rules.c,
 * sud_buffer.c, sud_signals.c (spec/README.md says what lives where).
 *
 * While an epoch is open every syscall of an armed thread traps (SUD,
 * selector at BLOCK) into one SIGSYS handler, which
 *  - re-issues harmless/local calls from its exempt text range and returns
 *    their result (reads of regular files, mmap, brk, fstat, lseek, ...);
 *  - buffers output (write, writev, pwrite*, send to terminals, pipes,
 *    sockets, regular files outside the NFS mirror) in order across fds,
 *    returning the byte count; released by spec_sud_commit(), dropped by
 *    spec_sud_discard();
 *  - calls ops->barrier() for everything that must not happen
 *    speculatively and cannot be buffered (reads from pipes/sockets/ttys,
 *    fork/vfork/clone, execve, exit/exit_group, signals to other processes,
 *    blocking waits, mutations outside the mirror, anything unknown), then
 *    lets the *program's own* syscall instruction run again natively with
 *    the selector at ALLOW (the handler rewinds RIP by 2). Barrier calls are
 *    never re-issued from the handler, so vfork/clone(CLONE_VM) children
 *    return on the program's stack through the program's code, as without
 *    us.
 * Outside epochs the selector is ALLOW and nothing traps.
 *
 * The shim's side of the contract:
 *  - spec_sud_init() once (before threads), then take the checkpoint
 *    (fork/clone copy) FIRST and call spec_sud_epoch_begin() after it: a
 *    clone issued inside an epoch would itself be a barrier.
 *  - Everything the shim does on its own behalf during an epoch (daemon
 *    socket I/O, real calls on mirror paths) runs between
 *    spec_sud_suspend() and spec_sud_resume(), else it traps like the
 *    program's calls (a read of the daemon socket is a barrier).
 *  - barrier() resolves the epoch: validate, then commit (call
 *    spec_sud_commit() and return 0) or roll back (never return). It runs
 *    inside the SIGSYS handler, on the program's stack (keep its stack use
 *    modest: the trap may come from a program handler on a small
 *    sigaltstack), with every signal but SIGSYS blocked (wait with poll or
 *    waitpid, not with signal handlers) and this thread suspended (its own
 *    syscalls do not trap); it may be called from several threads at
 *    once. If it returns 0 and the epoch is still open, spec_sud_commit()
 *    is called for it. A negative return fails the trapped syscall with
 *    that error (for exit and exit_group, which cannot fail, the output is
 *    discarded and the exit proceeds).
 *  - is_mirror_fd()/is_mirror_path() are called from the handler too
 *    (suspended, signals blocked): they must not take a lock the shim may
 *    hold around a real call that traps.
 *  - Single-threaded programs need no spec_sud_arm_thread(): epoch_begin
 *    arms the calling thread for the epoch and the commit/discard that
 *    ends it on that thread disarms it (no cost outside epochs). In a
 *    multithreaded program call spec_sud_arm_thread() at the start of every
 *    thread (SUD is per thread and off in new threads): an unarmed thread's
 *    output escapes the epoch.
 *  - The shim's sigaction/signal wrappers call spec_sud_fix_sigaction()
 *    (and spec_sud_sigsys_action() for SIGSYS), its sigprocmask /
 *    pthread_sigmask wrappers spec_sud_fix_sigmask(): a SUD trap while
 *    SIGSYS is blocked kills the process. epoch_begin also sweeps the
 *    installed handlers (and the calling thread's mask) as a safety net.
 *  - In the checkpoint copy (or any fork child) call spec_sud_after_fork()
 *    before anything else here (it is also detected by pid at the next
 *    epoch_begin/commit/discard): it drops the parent's buffered output,
 *    closes duplicates and re-arms a persistently armed thread. Never call
 *    anything here from a vfork child (it shares our memory).
 *
 * Internal functions return 0 or -errno. x86-64 only.
 */
#ifndef SPECNFS_SPEC_SUD_H
#define SPECNFS_SPEC_SUD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Default bound of the output buffer (data + 24 bytes per call). */
#define SPEC_SUD_BUF_MAX_DEFAULT ((size_t)64 << 20)

struct spec_sud_ops {
	/* Resolve the epoch (see above); nr is the trapped syscall (x86-64
	 * number). NULL: commit at once (no validation: tests, demos). */
	int (*barrier)(void *ctx, long nr);
	/* 1 if fd is a file of the NFS mirror: its writes are NFS-speculative
	 * (the shim's business), not output: they pass. NULL: none is. */
	int (*is_mirror_fd)(void *ctx, int fd);
	/* 1 if (dirfd, path) names a mirror entry: creating, truncating,
	 * renaming, unlinking ... it passes; elsewhere those are barriers.
	 * path is a valid string in the program's memory. NULL: none is. */
	int (*is_mirror_path)(void *ctx, int dirfd, const char *path);
	/* A fork (fork, vfork, clone without CLONE_VM or with VM|VFORK and
	 * no new stack) inside an epoch: 1 if it may go ahead without a
	 * barrier, the child depending on *id; 0: a barrier first. NULL: a
	 * barrier. vfork is then made a fork (the child cannot return
	 * through the handler sharing our stack). */
	int (*fork)(void *ctx, uint64_t *id);
	/* After that fork, in the parent (pid > 0) and in the child (pid 0,
	 * Syscall User Dispatch already reset for it). */
	void (*forked)(void *ctx, long pid, uint64_t id);
	/* exit_group(code) inside an epoch: 1 if the shim handed the epoch
	 * over (its output to a courier: nothing is held any more) and the
	 * exit may go ahead; 0: a barrier first. NULL: a barrier. */
	int (*exit)(void *ctx, int code);
	/* A read of a pipe made while speculative (it passes, and may wait
	 * for the pipe's writer): called first. NULL: nothing. */
	void (*block)(void *ctx);
	void *ctx;
	/* Bound of the output buffer; 0: SPEC_SUD_BUF_MAX_DEFAULT. When full,
	 * barrier() is called to commit early. */
	size_t buf_max;
	unsigned flags; /* SPEC_SUD_* below */
};

/* Skip the sweep of installed signal handlers at epoch_begin (62
 * rt_sigaction calls, ~15 us here) once the shim's sigaction wrapper calls
 * spec_sud_fix_sigaction() for every handler the program installs. */
#define SPEC_SUD_NO_SIGNAL_SWEEP 1u

/* Once per process, before threads: SIGSYS handler (raw rt_sigaction, own
 * restorer in the exempt range), buffer reservation (mmap, never malloc),
 * probes. -ENOSYS or -EINVAL if the kernel has no SUD: then never
 * speculate. Calling it again only replaces the ops (buf_max stays). */
int spec_sud_init(const struct spec_sud_ops *ops);

/* Arm the calling thread for the rest of its life (until exec; re-armed
 * after fork by spec_sud_after_fork). Costs ~0.1 us on each of its
 * syscalls outside epochs (measured here). 0, -EAGAIN (no free slot: 256
 * threads), or the prctl error. */
int spec_sud_arm_thread(void);

/* Open an epoch (selector -> BLOCK on every armed thread; arms the calling
 * thread if needed). 0 if open (also if one already was), -ENOSYS before a
 * successful init, -EAGAIN / -errno if the calling thread cannot be armed:
 * then do not speculate. */
int spec_sud_epoch_begin(void);

/* Selector -> ALLOW without touching the buffer. Rarely what you want:
 * output written natively before the buffered data is committed would
 * overtake it. Use spec_sud_commit() / spec_sud_discard(). */
void spec_sud_epoch_end(void);

/* The duplicates of the program's fds that held output is written
 * through live at or above this number (F_DUPFD minimum). */
#define SPEC_SUD_DUP_MIN 512

/* The output held so far becomes a courier's (a fork of this process
 * that writes it later with spec_sud_courier_flush): dropped here without
 * writing; the epoch stays open. */
void spec_sud_hand_over(void);
/* Count the held output as handed over, leaving it as it is (an exit's
 * courier that shares our memory writes it: exit_hand_off). */
void spec_sud_count_handed(void);

/* In the courier: write the output inherited from its parent. 0 or the
 * first -errno of a failed write. */
int spec_sud_courier_flush(void);

/* 1 if the held output includes writes to regular files (which a child
 * could read back: a fork must not outrun them). */
int spec_sud_holds_files(void);

/* The files the epoch created outside the mirror: unlinked (undo: the
 * execution is discarded) or kept; forgotten either way. */
void spec_sud_created_end(int undo);

/* 1 if files were created, grown or unlinked in a temporary directory
 * by the epoch (spec_sud_created_end has work). */
int spec_sud_created_any(void);

/* Chains: what the epoch created, grew or unlinked so far is an older
 * epoch's (mark); a rollback to the newer checkpoint undoes only what came
 * after (end_newer(1)); the older one held (older_held): its part is kept
 * for good. spec_sud_created_end() ends both. */
void spec_sud_created_mark(void);
void spec_sud_created_end_newer(int undo);
void spec_sud_created_older_held(void);

/* The process depends only on its parent's sealed epoch (1) or has an
 * epoch of its own (0: the pipes made so far are forgotten): in state 1,
 * writes into pipes made in that state (or inherited with it) go at once
 * (sud_rules.c). */
void spec_sud_pipes_through(int on);
/* Those pipes as "dev:ino,..." for SPECNFS_PIPES (an exec), and back. */
size_t spec_sud_pipes_env(char *buf, size_t len);
void spec_sud_pipes_adopt(const char *s);

/* 1 while an epoch is open. */
int spec_sud_epoch_open(void);

/* Write out the buffered output in order, close the epoch. 0 or the first
 * -errno of a failed write (the rest is still attempted; EPIPE raises
 * SIGPIPE now, as the original write would have). Blocks until written. */
int spec_sud_commit(void);

/* Drop the buffered output (rollback), close the epoch. */
void spec_sud_discard(void);

/* Bytes of output waiting for commit. */
size_t spec_sud_buffered(void);

/* Nestable, per thread: between these the calling thread's syscalls do
 * not trap (the shim's own work during an epoch). Cheap; no-ops on a
 * thread that was never armed. */
void spec_sud_suspend(void);
void spec_sud_resume(void);

/* The shim's wrappers, for calls on paths and fds not the mirror's: the
 * call nr answered as its trap would be, without the trap. 1 and *ret
 * (the kernel's convention: -errno), or 0: make the call as usual. Only
 * calls that look (stat, access, readlink), opens and close. */
int spec_sud_direct(long nr, long a0, long a1, long a2, long a3, long *ret);
/* Around a libc call that only looks (realpath): none of its calls traps.
 * 1 if held (end with spec_sud_quiet_end(mask)), 0: nothing traps here. */
int spec_sud_quiet_begin(uint64_t *mask);
void spec_sud_quiet_end(uint64_t mask);

/* In a fork child / the checkpoint copy (see above). */
void spec_sud_after_fork(void);

/* For the shim's sigaction wrapper: strip SIGSYS from act->sa_mask (a SUD
 * trap inside a handler that blocks SIGSYS would kill the process). */
void spec_sud_fix_sigaction(struct sigaction *act);

/* For the shim's sigaction wrapper when signum == SIGSYS: the program's
 * SIGSYS disposition is kept virtually (ours stays installed; a SIGSYS that
 * is not a SUD trap is passed to the program's handler or default). 0 or
 * -errno. Works before init too (then it only records). */
int spec_sud_sigsys_action(const struct sigaction *act, struct sigaction *oact);

/* For sigprocmask/pthread_sigmask wrappers: remove SIGSYS from a set about
 * to be blocked (how = SIG_BLOCK or SIG_SETMASK). */
void spec_sud_fix_sigmask(int how, sigset_t *set);

struct spec_sud_stats {
	uint64_t traps;          /* SIGSYS from SUD */
	uint64_t buffered_bytes; /* output bytes buffered (all epochs) */
	uint64_t barriers;       /* barrier calls */
	uint64_t reissued;       /* syscalls re-issued from the handler */
	uint64_t emulated;       /* answered without the syscall (sigprocmask, ...) */
	uint64_t committed_bytes;
	uint64_t discarded_bytes;
	uint64_t forks;        /* forks let through inside an epoch */
	uint64_t handed_bytes; /* output handed to couriers */
	uint64_t direct;       /* calls the shim made without a trap (spec_sud_direct) */
};
void spec_sud_stats(struct spec_sud_stats *out);
void spec_sud_stats_reset(void); /* a fork child's start at zero */

#endif
