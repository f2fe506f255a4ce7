/*
 * Unit tests for the checkpoint backends (checkpoint/).
 *
 * Every test forks the process under test (T) and checks it from outside,
 * the way a parent such as make or a shell sees it: after a rollback T
 * becomes a proxy, and its parent's waitpid() must still get T's pid with
 * the program's status. This process is a child subreaper so that copies
 * orphaned by a killed T come back here to be checked and reaped; after
 * every test no process of ours may remain.
 *
 * In T, CHECK() failures are reported on stderr and end T with status 99
 * (also from a resumed copy: the proxy passes the status on).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checkpoint/checkpoint.h"

/* ------------------------------------------------------------ helpers */

__attribute__((noreturn)) static void
t_fail(int line, const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "test_ckpt: pid %d line %d: CHECK(%s) failed\n",
			 (int)syscall(SYS_getpid), line, what);

	if (write(2, buf, (size_t)n) < 0)
		_exit(98);
	_exit(99);
}

#define CHECK(c)                                                                          \
	do {                                                                              \
		if (!(c))                                                                 \
			t_fail(__LINE__, #c);                                             \
	} while (0)

static pid_t
real_getpid(void)
{
	return (pid_t)syscall(SYS_getpid);
}

/* write() all of s (raw: visible at once, never duplicated by stdio). */
__attribute__((format(printf, 2, 3))) static void
say(int fd, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	CHECK(write(fd, buf, (size_t)n) == n);
}

/* Fork T running body(arg, fd) with fd the write end of a pipe whose read
 * end is *rd; T ends with _exit(0) if body returns. */
static pid_t
spawn(void (*body)(void *, int), void *arg, int *rd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		body(arg, p[1]);
		_exit(0);
	}
	close(p[1]);
	*rd = p[0];
	return pid;
}

/* Read from fd until it holds a '\n'-terminated line (10 s at most). */
static void
read_line(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	buf[0] = '\0';
	while (got < len - 1) {
		assert_true(poll(&pfd, 1, 10000) == 1);
		n = read(fd, buf + got, 1);
		if (n <= 0)
			break;
		got++;
		if (buf[got - 1] == '\n')
			break;
	}
	buf[got] = '\0';
}

/* Everything until EOF (10 s at most). */
static void
read_all(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < len - 1) {
		assert_true(poll(&pfd, 1, 10000) == 1);
		n = read(fd, buf + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
}

static char proc_state(pid_t pid);

/* waitpid with a 10 s limit (then T is killed and the test fails). */
#define wait_for(pid, opts) wait_for_at(pid, opts, __LINE__)
static int
wait_for_at(pid_t pid, int opts, int line)
{
	int status = 0, i;
	pid_t r;

	for (i = 0; i < 10000; i++) {
		r = waitpid(pid, &status, opts | WNOHANG);
		if (r == pid)
			return status;
		assert_int_equal(r, 0);
		usleep(1000);
	}
	fail_msg("line %d: pid %d (state %c) did not change state in 10 s", line, (int)pid,
		 proc_state(pid));
	kill(pid, SIGKILL);
	return -1;
}

static void
assert_exited(int status, int code)
{
	if (WIFSIGNALED(status))
		fail_msg("killed by signal %d, expected exit %d", WTERMSIG(status), code);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), code);
}

/* Our children, from /proc (including hidden copies reparented here). */
static int
count_children(pid_t *first)
{
	char path[64], buf[4096];
	int n = 0, fd;
	ssize_t got;
	char *p = buf;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)syscall(SYS_gettid));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	while (*p != '\0') {
		long v = strtol(p, &p, 10);

		if (v <= 0)
			break;
		if (n++ == 0 && first != NULL)
			*first = (pid_t)v;
	}
	return n;
}

/* No process of ours may remain: reap zombies, wait 5 s for the rest. */
static void
assert_no_children(void)
{
	pid_t first = 0;
	int i, n = 0;

	for (i = 0; i < 5000; i++) {
		while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
			;
		n = count_children(&first);
		if (n == 0)
			return;
		usleep(1000);
	}
	kill(first, SIGKILL);
	fail_msg("%d processes left behind (first: %d)", n, (int)first);
}

static int
teardown(void **state)
{
	assert_no_children();
	return 0;
}

/* The state letter of /proc/<pid>/stat ('T' stopped), '?' if gone. */
static char
proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' ? p[2] : '?';
}

/* Wait (2 s) until pid's state is (want) or is not (!want) 'T'. */
static void
assert_stopped(pid_t pid, int want)
{
	int i;

	for (i = 0; i < 2000; i++) {
		if ((proc_state(pid) == 'T') == want)
			return;
		usleep(1000);
	}
	fail_msg("pid %d: state %c, wanted %sstopped", (int)pid, proc_state(pid),
		 want ? "" : "not ");
}

/* Wait until a handler for sig has set *flag (without the race of
 * testing the flag and then sleeping). */
static void
wait_signal(volatile sig_atomic_t *flag, int sig)
{
	sigset_t block, old, during;

	sigemptyset(&block);
	sigaddset(&block, sig);
	sigprocmask(SIG_BLOCK, &block, &old);
	during = old;
	sigdelset(&during, sig);
	while (!*flag)
		sigsuspend(&during);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ------------------------------------------------------------ none, misuse */

static void
test_none_backend(void **state)
{
	struct ckpt *c = (struct ckpt *)1;
	uint64_t v = 5;

	assert_int_equal(ckpt_available(CKPT_NONE), -ENOTSUP);
	assert_int_equal(ckpt_take(CKPT_NONE, 0, &c, &v), -ENOTSUP);
	assert_null(c);
	assert_int_equal(v, 5);
	assert_int_equal(count_children(NULL), 0);
	assert_int_equal(ckpt_available(CKPT_CRIU), -ENOSYS);
	assert_int_equal(ckpt_take(CKPT_CRIU, 0, &c, &v), -ENOSYS);
	assert_int_equal(ckpt_available((enum ckpt_backend)42), -EINVAL);
	assert_int_equal(ckpt_take(CKPT_FORK, 0x80, &c, &v), -EINVAL);
	assert_string_equal(ckpt_backend_name(CKPT_NONE), "none");
	assert_string_equal(ckpt_backend_name(CKPT_FORK), "fork");
	assert_string_equal(ckpt_backend_name(CKPT_CRIU), "criu");
	assert_null(ckpt_backend_name((enum ckpt_backend)42));
	assert_int_equal(ckpt_commit(NULL), -EINVAL);
	assert_int_equal(ckpt_getpid(), getpid());
	assert_int_equal(ckpt_getppid(), getppid());
	assert_int_equal(ckpt_real_pid(getpid()), getpid());
	assert_int_equal(ckpt_real_pid(1), 1);
}

/* ------------------------------------------------------------ take + commit */

static volatile sig_atomic_t chld_seen;

static void
on_chld(int sig)
{
	chld_seen++;
}

static void
body_commit(void *arg, int fd)
{
	struct ckpt *c, *c2, *c3;
	pid_t copy, me = getpid();
	siginfo_t si;
	char path[64];
	int i, status;

	signal(SIGCHLD, on_chld);
	CHECK(ckpt_available(CKPT_FORK) == 0);
	errno = 1234;
	CHECK(ckpt_take(CKPT_FORK, 0, &c, NULL) == 0);
	CHECK(errno == 1234);
	CHECK(c != NULL);
	CHECK(getpid() == me && ckpt_getpid() == me);
	copy = ckpt_copy_pid(c);
	CHECK(copy > 0 && copy != me);
	CHECK(count_children(NULL) == 1);
	/* Hidden from the program's wait family. */
	CHECK(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD);
	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == -1 && errno == ECHILD);
	/* A second one makes a chain (CKPT_SLOTS 2); a third is refused. */
	CHECK(ckpt_available(CKPT_FORK) == 0);
	CHECK(ckpt_take(CKPT_FORK, 0, &c2, NULL) == 0);
	CHECK(c2 != NULL && c2 != c && ckpt_copy_pid(c2) > 0 && ckpt_copy_pid(c2) != copy);
	CHECK(count_children(NULL) == 2);
	CHECK(ckpt_take(CKPT_FORK, 0, &c3, NULL) == -EALREADY);
	CHECK(c3 == NULL);
	CHECK(ckpt_available(CKPT_FORK) == -EALREADY);
	CHECK(ckpt_commit(c2) == 0);
	CHECK(ckpt_take(CKPT_FORK, CKPT_DEFER_SIGNALS, &c3, NULL) == -EALREADY);
	CHECK(ckpt_commit(c) == 0);
	CHECK(errno == ECHILD);
	CHECK(ckpt_commit(c) == -EINVAL);
	CHECK(ckpt_copy_pid(c) == -1);
	/* The copy goes; ckpt_reap() reaps it without blocking. */
	for (i = 0; i < 5000 && count_children(NULL) != 0; i++) {
		ckpt_reap();
		usleep(1000);
	}
	CHECK(count_children(NULL) == 0);
	snprintf(path, sizeof(path), "/proc/%d", (int)copy);
	CHECK(access(path, F_OK) != 0);
	CHECK(chld_seen == 0);
	/* Many epochs leave nothing behind either. */
	for (i = 0; i < 200; i++) {
		CHECK(ckpt_take(CKPT_FORK, 0, &c, NULL) == 0);
		CHECK(ckpt_commit(c) == 0);
	}
	for (i = 0; i < 5000 && count_children(NULL) != 0; i++) {
		ckpt_reap();
		usleep(1000);
	}
	CHECK(count_children(NULL) == 0);
	CHECK(chld_seen == 0);
	CHECK(ckpt_getpid() == me);
}

static void
test_take_commit(void **state)
{
	int rd;
	pid_t t = spawn(body_commit, NULL, &rd);

	assert_exited(wait_for(t, 0), 0);
	close(rd);
}

/* ------------------------------------------------------------ rollback */

struct rb {
	int how;   /* 0 exit code, 1 raise(sig), 2 kill(getpid()) */
	int code;  /* exit code or signal */
};

static void
body_rollback(void *arg, int fd)
{
	const struct rb *r = arg;
	struct ckpt *c;
	uint64_t v = 0;
	int rc;

	say(fd, "before\n");
	rc = ckpt_take(CKPT_FORK, 0, &c, &v);
	CHECK(rc == 0 || rc == 1);
	if (rc == 0) {
		say(fd, "ahead\n");
		ckpt_rollback(c, 42);
	}
	CHECK(c == NULL && v == 42);
	say(fd, "resumed %llu\n", (unsigned long long)v);
	switch (r->how) {
	case 0:
		_exit(r->code);
	case 1:
		signal(r->code, SIG_DFL);
		raise(r->code);
		break;
	case 2:
		/* Through the proxy, which passes it back. */
		signal(r->code, SIG_DFL);
		kill(ckpt_getpid(), r->code);
		for (;;)
			pause();
	}
	_exit(98);
}

static void
run_rollback(int how, int code, int *status)
{
	struct rb r = { how, code };
	char buf[256];
	int rd;
	pid_t t = spawn(body_rollback, &r, &rd);

	read_all(rd, buf, sizeof(buf));
	close(rd);
	/* The code after ckpt_take() ran twice: ahead, then resumed. */
	assert_string_equal(buf, "before\nahead\nresumed 42\n");
	*status = wait_for(t, 0);
}

static void
test_rollback_exit_code(void **state)
{
	int status;

	run_rollback(0, 7, &status);
	assert_exited(status, 7);
	run_rollback(0, 0, &status);
	assert_exited(status, 0);
}

static void
test_rollback_killed(void **state)
{
	static const int sigs[] = { SIGUSR1, SIGABRT, SIGTERM, SIGKILL };
	size_t i;
	int status;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		run_rollback(sigs[i] == SIGKILL ? 2 : 1, sigs[i], &status);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), sigs[i]);
		assert_false(WCOREDUMP(status));
	}
	run_rollback(2, SIGTERM, &status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

/* ------------------------------------------------------------ identity */

static void
body_identity(void *arg, int fd)
{
	pid_t me = getpid(), parent = getppid(), kid;
	struct ckpt *c;
	uint64_t v;
	int status;

	if (ckpt_take(CKPT_FORK, 0, &c, &v) == 0)
		ckpt_rollback(c, 1);
	CHECK(real_getpid() != me);
	CHECK(ckpt_getpid() == me);
	CHECK(ckpt_getppid() == parent);
	CHECK(getppid() == me); /* really: the proxy */
	CHECK(ckpt_real_pid(me) == real_getpid());
	CHECK(ckpt_real_pid(parent) == parent);
	/* A child of the resumed copy sees the original pid as its parent. */
	kid = fork();
	CHECK(kid >= 0);
	if (kid == 0) {
		CHECK(ckpt_getppid() == me);
		CHECK(ckpt_getpid() == real_getpid());
		CHECK(ckpt_real_pid(me) == me);
		_exit(5);
	}
	CHECK(waitpid(kid, &status, 0) == kid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);
	say(fd, "%d %d\n", (int)ckpt_getpid(), (int)real_getpid());
	_exit(3);
}

static void
test_identity(void **state)
{
	char buf[64];
	int rd, pid, real;
	pid_t t = spawn(body_identity, NULL, &rd);

	read_line(rd, buf, sizeof(buf));
	close(rd);
	assert_int_equal(sscanf(buf, "%d %d", &pid, &real), 2);
	assert_int_equal(pid, t);
	assert_int_not_equal(real, t);
	assert_exited(wait_for(t, 0), 3);
}

/* Rollbacks stack: each resumed copy may be rolled back again. */
static void
body_nested(void *arg, int fd)
{
	pid_t me = getpid();
	struct ckpt *c;
	uint64_t v = 0;
	int i;

	for (i = 1; i <= 3; i++) {
		if (ckpt_take(CKPT_FORK, 0, &c, &v) == 0)
			ckpt_rollback(c, (uint64_t)i);
		CHECK(v == (uint64_t)i);
		CHECK(ckpt_getpid() == me);
		say(fd, "%d ", i);
	}
	/* The last rollback is committed-over: take and commit still work. */
	CHECK(ckpt_take(CKPT_FORK, 0, &c, &v) == 0);
	CHECK(ckpt_commit(c) == 0);
	say(fd, "done\n");
	_exit(9);
}

/*
 * A chain of two: the newer one's copy resumes once the older one was
 * committed (what it ran ahead on held); a rollback to the older one
 * takes the newer copy with it.
 */
static void
body_chain(void *arg, int fd)
{
	int older = *(const int *)arg;
	struct ckpt *c1, *c2;
	uint64_t v = 0;
	int rc;

	rc = ckpt_take(CKPT_FORK, 0, &c1, &v);
	CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		say(fd, "resumed 1 %llu children %d\n", (unsigned long long)v,
		    count_children(NULL));
		_exit(11);
	}
	say(fd, "one\n");
	rc = ckpt_take(CKPT_FORK, 0, &c2, &v);
	CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		/* the older one was committed first: nothing open here */
		CHECK(ckpt_available(CKPT_FORK) == 0);
		say(fd, "resumed 2 %llu\n", (unsigned long long)v);
		_exit(12);
	}
	say(fd, "two\n");
	if (older) {
		ckpt_rollback(c1, 7);
	} else {
		CHECK(ckpt_commit(c1) == 0);
		ckpt_rollback(c2, 8);
	}
}

static void
test_chain(void **state)
{
	int older, rd;
	char buf[256];

	for (older = 0; older <= 1; older++) {
		pid_t t = spawn(body_chain, &older, &rd);

		assert_exited(wait_for(t, 0), older ? 11 : 12);
		read_all(rd, buf, sizeof(buf));
		close(rd);
		assert_string_equal(buf, older ? "one\ntwo\nresumed 1 7 children 0\n"
					       : "one\ntwo\nresumed 2 8\n");
	}
}

/*
 * A chain that exits (a process whose exit is speculative): both copies
 * are detached, and a process that inherited them (the shim's courier)
 * resumes the one the verdicts name and kills the other. The resumed copy
 * knows it was detached whichever one it is.
 */
static void
body_chain_detached(void *arg, int fd)
{
	int older = *(const int *)arg;
	struct ckpt *c1, *c2;
	uint64_t v = 0;
	pid_t me;
	int rc;

	rc = ckpt_take(CKPT_FORK, 0, &c1, &v);
	CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		say(fd, "resumed 1 %llu detached %d\n", (unsigned long long)v, ckpt_detached());
		_exit(11);
	}
	rc = ckpt_take(CKPT_FORK, 0, &c2, &v);
	CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		CHECK(ckpt_available(CKPT_FORK) == 0);
		say(fd, "resumed 2 %llu detached %d\n", (unsigned long long)v, ckpt_detached());
		_exit(12);
	}
	CHECK(ckpt_detach(c2, getppid()) == 0);
	CHECK(ckpt_detach(c1, getppid()) == 0);
	CHECK(ckpt_commit(c1) == -EINVAL); /* not ours any more */
	me = real_getpid();
	if (fork() == 0) {
		/* the courier: after the original is gone */
		while (getppid() == me)
			usleep(1000);
		ckpt_release(older ? c2 : c1, 0, 0);
		ckpt_release(older ? c1 : c2, 1, older ? 7 : 8);
		_exit(0);
	}
	_exit(5);
}

static void
test_chain_detached(void **state)
{
	int arg[1], rd, status, n;
	char buf[256];
	pid_t t, p;

	for (arg[0] = 0; arg[0] <= 1; arg[0]++) {
		t = spawn(body_chain_detached, arg, &rd);
		assert_exited(wait_for(t, 0), 5);
		read_all(rd, buf, sizeof(buf));
		close(rd);
		assert_string_equal(buf, arg[0] ? "resumed 1 7 detached 1\n"
					       : "resumed 2 8 detached 1\n");
		/* the courier and both copies (one resumed, one killed) come
		 * back to this subreaper; all of them end */
		for (n = 0; (p = waitpid(-1, &status, __WALL)) > 0; n++)
			;
		assert_int_equal(n, 3);
	}
}

/*
 * A process commits a checkpoint and execs at once: the copy, killed by
 * the commit, may end after the exec, still the new image's child and on
 * no list of it. The new image may checkpoint all the same (the ended
 * copy is reaped then), and its own children still count.
 */
static void
body_exec_after_commit(void *arg, int fd)
{
	struct ckpt *c;
	char fdbuf[16];

	CHECK(ckpt_take(CKPT_FORK, 0, &c, NULL) == 0);
	CHECK(ckpt_commit(c) == 0); /* its copy dies: nobody here reaps it */
	snprintf(fdbuf, sizeof(fdbuf), "%d", fd);
	CHECK(fcntl(fd, F_SETFD, 0) == 0);
	execl("/proc/self/exe", (const char *)arg, "--after-exec", fdbuf, (char *)NULL);
	CHECK(!"exec");
}

static int
after_exec(int fd)
{
	int i, rc = -1;

	for (i = 0; i < 2000 && rc != 0; i++) {
		rc = ckpt_available(CKPT_FORK);
		if (rc != 0)
			usleep(1000); /* until the copy has ended */
	}
	say(fd, "available %d", rc);
	if (fork() == 0)
		_exit(0);
	usleep(100000);
	say(fd, " with a child of ours %d\n", ckpt_available(CKPT_FORK));
	while (wait(NULL) > 0)
		;
	return 0;
}

static void
test_exec_after_commit(void **state)
{
	char buf[128];
	int rd;
	pid_t t = spawn(body_exec_after_commit, (void *)"test_ckpt", &rd);

	assert_exited(wait_for(t, 0), 0);
	read_all(rd, buf, sizeof(buf));
	close(rd);
	assert_string_equal(buf, "available 0 with a child of ours -10\n");
}

static void
test_nested_rollback(void **state)
{
	char buf[64];
	int rd;
	pid_t t = spawn(body_nested, NULL, &rd);

	read_all(rd, buf, sizeof(buf));
	close(rd);
	assert_string_equal(buf, "1 2 3 done\n");
	assert_exited(wait_for(t, 0), 9);
}

/* Each rollback leaves a proxy: their chain is bounded. */
static void
body_depth(void *arg, int fd)
{
	struct ckpt *c;
	uint64_t v = 0;
	int rc;

	for (;;) {
		rc = ckpt_take(CKPT_FORK, 0, &c, &v);
		if (rc < 0)
			break;
		if (rc == 0)
			ckpt_rollback(c, v + 1);
	}
	CHECK(rc == -ELOOP && ckpt_available(CKPT_FORK) == -ELOOP);
	CHECK(v == CKPT_MAX_DEPTH);
	_exit(CKPT_MAX_DEPTH);
}

static void
test_depth_limit(void **state)
{
	int rd;
	pid_t t = spawn(body_depth, NULL, &rd);

	assert_exited(wait_for(t, 0), CKPT_MAX_DEPTH);
	close(rd);
}

/* A copy killed by someone before the rollback: the process cannot go
 * back, so it ends as the copy ended. */
static void
body_copy_gone(void *arg, int fd)
{
	struct ckpt *c;
	pid_t copy;
	int i;

	if (ckpt_take(CKPT_FORK, 0, &c, NULL) == 0) {
		copy = ckpt_copy_pid(c);
		CHECK(kill(copy, SIGKILL) == 0);
		for (i = 0; i < 2000 && proc_state(copy) != 'Z'; i++)
			usleep(1000);
		CHECK(dup2(fd, 2) == 2); /* its complaint, for the parent */
		ckpt_rollback(c, 0);
	}
	_exit(97); /* never resumed */
}

static void
test_copy_gone(void **state)
{
	char buf[512];
	int rd, status;
	pid_t t = spawn(body_copy_gone, NULL, &rd);

	read_all(rd, buf, sizeof(buf));
	close(rd);
	assert_non_null(strstr(buf, "the copy to roll back to is gone"));
	status = wait_for(t, 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* ------------------------------------------------------------ files */

static void
body_offsets(void *arg, int fd)
{
	char path[] = "/tmp/test_ckpt.XXXXXX", dpath[] = "/tmp/test_ckpt_d.XXXXXX";
	char buf[100], name[64];
	struct ckpt *c;
	struct dirent *de;
	DIR *d;
	int a, b, i, seen = 0, fl;

	a = mkstemp(path);
	CHECK(a >= 0);
	memset(buf, 'x', sizeof(buf));
	CHECK(write(a, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	CHECK(lseek(a, 10, SEEK_SET) == 10);
	b = open(path, O_RDONLY);
	CHECK(b >= 0);
	CHECK(read(b, buf, 20) == 20);
	unlink(path);
	fl = fcntl(a, F_GETFL);
	/* A directory stream half read: its offset is shared too. */
	CHECK(mkdtemp(dpath) != NULL);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%s/f%02d", dpath, i);
		CHECK(close(open(name, O_CREAT | O_WRONLY, 0600)) == 0);
	}
	d = opendir(dpath);
	CHECK(d != NULL);
	for (i = 0; i < 10; i++)
		CHECK(readdir(d) != NULL);

	if (ckpt_take(CKPT_FORK, 0, &c, NULL) == 0) {
		CHECK(lseek(a, 70, SEEK_SET) == 70);
		CHECK(read(b, buf, 30) == 30);
		CHECK(fcntl(a, F_SETFL, fl | O_APPEND | O_NONBLOCK) == 0);
		while (readdir(d) != NULL)
			;
		/* Reads the rest afresh, beyond the stream's buffer. */
		rewinddir(d);
		while (readdir(d) != NULL)
			;
		ckpt_rollback(c, 0);
	}
	CHECK(lseek(a, 0, SEEK_CUR) == 10);
	CHECK(lseek(b, 0, SEEK_CUR) == 20);
	CHECK(fcntl(a, F_GETFL) == fl);
	while ((de = readdir(d)) != NULL)
		seen++;
	/* 42 entries (40, ".", ".."), 10 read before the checkpoint. */
	CHECK(seen == 32);
	closedir(d);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%s/f%02d", dpath, i);
		unlink(name);
	}
	rmdir(dpath);
	_exit(0);
}

static void
test_offsets(void **state)
{
	int rd;
	pid_t t = spawn(body_offsets, NULL, &rd);

	assert_exited(wait_for(t, 0), 0);
	close(rd);
}

/* stdio output buffered before the checkpoint comes out once; output of
 * the rolled-back run never. */
static void
body_stdio(void *arg, int fd)
{
	static char sbuf[4096];
	struct ckpt *c;
	FILE *out;

	say(fd, "raw\n");
	out = fdopen(fd, "w");
	CHECK(out != NULL);
	setvbuf(out, sbuf, _IOFBF, sizeof(sbuf));
	fprintf(out, "buffered\n");
	if (ckpt_take(CKPT_FORK, 0, &c, NULL) == 0) {
		fprintf(out, "ahead\n");
		ckpt_rollback(c, 0);
	}
	fprintf(out, "resumed\n");
	exit(0);
}

static void
test_output_not_duplicated(void **state)
{
	char buf[256];
	int rd;
	pid_t t = spawn(body_stdio, NULL, &rd);

	read_all(rd, buf, sizeof(buf));
	close(rd);
	assert_string_equal(buf, "raw\nbuffered\nresumed\n");
	assert_exited(wait_for(t, 0), 0);
}

/* ------------------------------------------------------------ signals */

static volatile sig_atomic_t got_sig, got_pid, got_code, got_count;

static void
on_sig(int sig, siginfo_t *si, void *uc)
{
	got_sig = sig;
	got_pid = si->si_pid;
	got_code = si->si_code;
	got_count++;
}

static void
catch(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sig;
	sa.sa_flags = SA_SIGINFO;
	sigaction(sig, &sa, NULL);
}

static void
body_sigterm(void *arg, int fd)
{
	struct ckpt *c;

	if (ckpt_take(CKPT_FORK, 0, &c, NULL) == 0)
		ckpt_rollback(c, 0);
	catch(SIGTERM);
	say(fd, "ready %d\n", (int)real_getpid());
	wait_signal(&got_count, SIGTERM);
	say(fd, "got %d from %d code %d\n", (int)got_sig, (int)got_pid, (int)got_code);
	/* Now die of it: the parent sees SIGTERM. */
	signal(SIGTERM, SIG_DFL);
	raise(SIGTERM);
	_exit(98);
}

static void
test_sigterm_reaches_copy(void **state)
{
	char buf[128], want[128];
	int rd, copy, status;
	pid_t t = spawn(body_sigterm, NULL, &rd);

	read_line(rd, buf, sizeof(buf));
	assert_int_equal(sscanf(buf, "ready %d", &copy), 1);
	assert_int_not_equal(copy, t);
	assert_int_equal(kill(t, SIGTERM), 0);
	read_line(rd, buf, sizeof(buf));
	close(rd);
	/* With the sender's pid: forwarded as SI_QUEUE. */
	snprintf(want, sizeof(want), "got %d from %d code %d\n", SIGTERM, (int)getpid(), SI_QUEUE);
	assert_string_equal(buf, want);
	status = wait_for(t, 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

/* CKPT_DEFER_SIGNALS: a signal sent during the epoch is held, and handled
 * once: by the resumed copy after a rollback, by the process at commit. */
struct defer {
	int commit;
	int kfd[2]; /* the parent says "sent" through it */
};

static void
body_defer(void *arg, int fd)
{
	const struct defer *d = arg;
	struct ckpt *c;
	sigset_t pend;
	char k;

	close(d->kfd[1]);
	catch(SIGUSR1);
	if (ckpt_take(CKPT_FORK, CKPT_DEFER_SIGNALS, &c, NULL) == 0) {
		say(fd, "epoch\n");
		CHECK(read(d->kfd[0], &k, 1) == 1);
		CHECK(sigpending(&pend) == 0 && sigismember(&pend, SIGUSR1));
		CHECK(got_count == 0);
		if (d->commit) {
			CHECK(ckpt_commit(c) == 0);
			CHECK(got_count == 1);
			say(fd, "handled by %d\n", (int)real_getpid());
			_exit(0);
		}
		ckpt_rollback(c, 0);
	}
	wait_signal(&got_count, SIGUSR1);
	usleep(20000);
	CHECK(got_count == 1 && got_sig == SIGUSR1);
	say(fd, "handled by %d\n", (int)real_getpid());
	_exit(0);
}

static void
run_defer(int commit)
{
	struct defer d = { .commit = commit };
	char buf[128];
	int rd, by;
	pid_t t;

	assert_int_equal(pipe2(d.kfd, O_CLOEXEC), 0);
	t = spawn(body_defer, &d, &rd);
	close(d.kfd[0]);
	read_line(rd, buf, sizeof(buf));
	assert_string_equal(buf, "epoch\n");
	assert_int_equal(kill(t, SIGUSR1), 0);
	assert_int_equal(write(d.kfd[1], "k", 1), 1);
	read_line(rd, buf, sizeof(buf));
	assert_int_equal(sscanf(buf, "handled by %d", &by), 1);
	if (commit)
		assert_int_equal(by, t);
	else
		assert_int_not_equal(by, t);
	assert_exited(wait_for(t, 0), 0);
	close(d.kfd[1]);
	close(rd);
}

static void
test_defer_signals(void **state)
{
	run_defer(0);
	run_defer(1);
}

static volatile sig_atomic_t quit;

static void
on_quit(int sig)
{
	quit = 1;
}

static void
body_stop(void *arg, int fd)
{
	struct ckpt *c;

	CHECK(setpgid(0, 0) == 0); /* a job of its own, not orphaned */
	if (ckpt_take(CKPT_FORK, 0, &c, NULL) == 0)
		ckpt_rollback(c, 0);
	signal(SIGUSR2, on_quit);
	say(fd, "%d\n", (int)real_getpid());
	wait_signal(&quit, SIGUSR2);
	_exit(4);
}

static void
test_stop_cont(void **state)
{
	char buf[64];
	int rd, copy, status;
	pid_t t;

	/* valgrind does not stop a process for a default-action SIGTSTP. */
	if (getenv("LD_PRELOAD") != NULL && strstr(getenv("LD_PRELOAD"), "vgpreload") != NULL)
		skip();
	t = spawn(body_stop, NULL, &rd);
	read_line(rd, buf, sizeof(buf));
	close(rd);
	copy = atoi(buf);
	assert_true(copy > 0 && copy != t);

	/* SIGTSTP to the original pid: forwarded, the copy stops, the proxy
	 * stops with it; SIGCONT continues both. */
	assert_int_equal(kill(t, SIGTSTP), 0);
	status = wait_for(t, WUNTRACED);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(WSTOPSIG(status), SIGTSTP);
	assert_stopped(copy, 1);
	assert_int_equal(kill(t, SIGCONT), 0);
	status = wait_for(t, WCONTINUED);
	assert_true(WIFCONTINUED(status));
	assert_stopped(copy, 0);

	/* The copy stopped by someone who knows its real pid. */
	assert_int_equal(kill(copy, SIGSTOP), 0);
	status = wait_for(t, WUNTRACED);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(WSTOPSIG(status), SIGSTOP);
	assert_int_equal(kill(t, SIGCONT), 0);
	status = wait_for(t, WCONTINUED);
	assert_true(WIFCONTINUED(status));
	assert_stopped(copy, 0);

	/* The job stopped and continued as a shell does it: the group. */
	assert_int_equal(kill(-t, SIGSTOP), 0);
	status = wait_for(t, WUNTRACED);
	assert_true(WIFSTOPPED(status));
	assert_stopped(copy, 1);
	assert_int_equal(kill(-t, SIGCONT), 0);
	status = wait_for(t, WCONTINUED);
	assert_true(WIFCONTINUED(status));
	assert_stopped(copy, 0);

	assert_int_equal(kill(t, SIGUSR2), 0);
	assert_exited(wait_for(t, 0), 4);
}

/* ------------------------------------------------------------ refusals */

static int thread_pipe[2];

static void *
thread_main(void *arg)
{
	char ch;

	return read(thread_pipe[0], &ch, 1) == 1 ? arg : NULL;
}

static void
body_threads(void *arg, int fd)
{
	struct ckpt *c = NULL;
	pthread_t th;
	int i;

	CHECK(pipe(thread_pipe) == 0);
	CHECK(pthread_create(&th, NULL, thread_main, NULL) == 0);
	CHECK(ckpt_available(CKPT_FORK) == -EBUSY);
	CHECK(ckpt_take(CKPT_FORK, 0, &c, NULL) == -EBUSY);
	CHECK(c == NULL);
	CHECK(count_children(NULL) == 0);
	CHECK(write(thread_pipe[1], "x", 1) == 1);
	CHECK(pthread_join(th, NULL) == 0);
	/* The kernel forgets the thread a moment after join. */
	for (i = 0; i < 1000 && ckpt_available(CKPT_FORK) == -EBUSY; i++)
		usleep(1000);
	CHECK(ckpt_available(CKPT_FORK) == 0);
}

static void
test_multithreaded_ebusy(void **state)
{
	int rd;
	pid_t t = spawn(body_threads, NULL, &rd);

	assert_exited(wait_for(t, 0), 0);
	close(rd);
}

static void
body_children(void *arg, int fd)
{
	struct ckpt *c = NULL;
	pid_t kid;
	int status;

	kid = fork();
	CHECK(kid >= 0);
	if (kid == 0) {
		pause();
		_exit(0);
	}
	CHECK(ckpt_available(CKPT_FORK) == -ECHILD);
	CHECK(ckpt_take(CKPT_FORK, 0, &c, NULL) == -ECHILD);
	kill(kid, SIGKILL);
	/* A zombie is still a child the copy could not wait for. */
	usleep(10000);
	CHECK(ckpt_available(CKPT_FORK) == -ECHILD);
	CHECK(waitpid(kid, &status, 0) == kid);
	CHECK(ckpt_available(CKPT_FORK) == 0);
}

static void
test_children_echild(void **state)
{
	int rd;
	pid_t t = spawn(body_children, NULL, &rd);

	assert_exited(wait_for(t, 0), 0);
	close(rd);
}

/* ------------------------------------------------------------ the original dies */

static void
body_open_forever(void *arg, int fd)
{
	struct ckpt *c;

	CHECK(ckpt_take(CKPT_FORK, 0, &c, NULL) == 0);
	say(fd, "%d\n", (int)ckpt_copy_pid(c));
	for (;;)
		pause();
}

static void
test_original_killed(void **state)
{
	char buf[64];
	int rd, copy, status = 0, i;
	pid_t t = spawn(body_open_forever, NULL, &rd), r = 0;

	read_line(rd, buf, sizeof(buf));
	close(rd);
	copy = atoi(buf);
	assert_true(copy > 0);
	assert_int_equal(kill(t, SIGKILL), 0);
	status = wait_for(t, 0);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The copy was orphaned here (we are a subreaper): it must die. */
	for (i = 0; i < 5000; i++) {
		r = waitpid(copy, &status, WNOHANG | __WALL);
		if (r != 0)
			break;
		usleep(1000);
	}
	assert_int_equal(r, copy);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* ------------------------------------------------------------ timers */

static void
body_timer(void *arg, int fd)
{
	struct itimerval it = { { 0, 0 }, { 0, 300000 } }, now;
	struct ckpt *c;
	long left;

	catch(SIGALRM);
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	if (ckpt_take(CKPT_FORK, 0, &c, NULL) == 0) {
		usleep(100000);
		ckpt_rollback(c, 0);
	}
	CHECK(getitimer(ITIMER_REAL, &now) == 0);
	left = now.it_value.tv_sec * 1000000L + now.it_value.tv_usec;
	CHECK(left > 0 && left <= 210000);
	wait_signal(&got_count, SIGALRM);
	usleep(100000);
	CHECK(got_count == 1 && got_sig == SIGALRM);
	say(fd, "alarm\n");
	_exit(0);
}

static void
test_timers(void **state)
{
	char buf[64];
	int rd;
	pid_t t = spawn(body_timer, NULL, &rd);

	read_line(rd, buf, sizeof(buf));
	close(rd);
	assert_string_equal(buf, "alarm\n");
	assert_exited(wait_for(t, 0), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_none_backend, teardown),
		cmocka_unit_test_teardown(test_take_commit, teardown),
		cmocka_unit_test_teardown(test_rollback_exit_code, teardown),
		cmocka_unit_test_teardown(test_rollback_killed, teardown),
		cmocka_unit_test_teardown(test_identity, teardown),
		cmocka_unit_test_teardown(test_nested_rollback, teardown),
		cmocka_unit_test_teardown(test_chain, teardown),
		cmocka_unit_test_teardown(test_chain_detached, teardown),
		cmocka_unit_test_teardown(test_exec_after_commit, teardown),
		cmocka_unit_test_teardown(test_depth_limit, teardown),
		cmocka_unit_test_teardown(test_copy_gone, teardown),
		cmocka_unit_test_teardown(test_offsets, teardown),
		cmocka_unit_test_teardown(test_output_not_duplicated, teardown),
		cmocka_unit_test_teardown(test_sigterm_reaches_copy, teardown),
		cmocka_unit_test_teardown(test_defer_signals, teardown),
		cmocka_unit_test_teardown(test_stop_cont, teardown),
		cmocka_unit_test_teardown(test_multithreaded_ebusy, teardown),
		cmocka_unit_test_teardown(test_children_echild, teardown),
		cmocka_unit_test_teardown(test_original_killed, teardown),
		cmocka_unit_test_teardown(test_timers, teardown),
	};

	/* TEST_CKPT_FILTER=test_offsets runs one test. */
	if (getenv("TEST_CKPT_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_CKPT_FILTER"));
	/* Orphaned copies come back here, to be checked and reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		return 1;
	if (argc == 3 && strcmp(argv[1], "--after-exec") == 0)
		return after_exec(atoi(argv[2]));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
