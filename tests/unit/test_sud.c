/*
 * test_sud.c - output commit with Syscall User Dispatch (client/spec/sud*.c).
 *
 * SUD and SIGSYS are process state: every test body runs in its own forked
 * child, with stdout and stderr on a pipe that the parent reads to the end
 * (so "exactly once, in order" is checked on the bytes that really left
 * the process). A child cannot print its own failures while an epoch is
 * open, so CHECK() records the first failing line in a shared page, drops
 * the buffered output and exits 99; the parent's cmocka assertions report
 * it. The barrier callback records each call (syscall number, and what a
 * per-test hook saw at that moment) in the same page.
 *
 * SPECNFS_SUD_BENCH_N scales the cost loop (default 20000 traps).
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
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/spec/sud.h"

extern char **environ;

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's check at exit clones a thread from an atexit handler:
 * a barrier that closes the epoch before stdio flushes, which is right but
 * is not what the exit tests look at. */
const char *__asan_default_options(void) __attribute__((visibility("default")));
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

/* ------------------------------------------------------------ harness */

struct shared {
	int barriers;
	long nrs[32];
	long hook_val[4];
	int failed_line;
	char failed[256];
};

static struct shared *sh;
static int barrier_discards;           /* the barrier drops instead of commits */
static int barrier_refuses;            /* the barrier returns -EIO */
static void (*barrier_hook)(long nr);  /* runs inside the barrier */
static int mirror_fd = -1;             /* is_mirror_fd says yes for this one */

#define CHECK(c)                                        \
	do {                                            \
		if (!(c))                               \
			child_fail(__LINE__, #c);       \
	} while (0)

static void
child_fail(int line, const char *what)
{
	int e = errno;

	if (sh->failed_line == 0) {
		sh->failed_line = line;
		snprintf(sh->failed, sizeof(sh->failed), "%s (errno %d)", what, e);
	}
	spec_sud_discard();
	_exit(99);
}

static int
test_barrier(void *ctx, long nr)
{
	(void)ctx;
	if (sh->barriers < 32)
		sh->nrs[sh->barriers] = nr;
	sh->barriers++;
	if (barrier_hook != NULL)
		barrier_hook(nr);
	if (barrier_refuses)
		return -EIO;
	if (barrier_discards)
		spec_sud_discard();
	else
		spec_sud_commit();
	return 0;
}

static int
test_is_mirror_fd(void *ctx, int fd)
{
	(void)ctx;
	return fd == mirror_fd;
}

static void
child_init(size_t buf_max)
{
	struct spec_sud_ops ops = {
		.barrier = test_barrier,
		.is_mirror_fd = test_is_mirror_fd,
		.buf_max = buf_max,
	};

	CHECK(spec_sud_init(&ops) == 0);
}

static int
pending(int fd)
{
	int n = -1;

	if (ioctl(fd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

/*
 * Run fn(rd) in a child whose fds 1 and 2 are a pipe's write end (rd is its
 * read end, for FIONREAD); collect everything written to the pipe by the
 * child and its children. Returns the child's wait status.
 */
static int
run_child(void (*fn)(int rd), char *out, size_t outmax, size_t *outlen)
{
	int p[2], st = 0;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	memset(sh, 0, sizeof(*sh));
	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[1]);
		alarm(30);
		fn(p[0]);
		fflush(stdout);
		_exit(0);
	}
	close(p[1]);
	/* Read only once the child is gone: it checks the pipe's fill level
	 * (FIONREAD) itself, so we must not drain it meanwhile. Outputs here
	 * stay far below the pipe's capacity. */
	assert_int_equal(waitpid(pid, &st, 0), pid);
	for (;;) {
		char junk[4096];

		if (len < outmax)
			n = read(p[0], out + len, outmax - len);
		else
			n = read(p[0], junk, sizeof(junk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < outmax)
			len += (size_t)n;
	}
	close(p[0]);
	if (len < outmax)
		out[len] = '\0';
	*outlen = len;
	if (sh->failed_line != 0)
		print_error("child failed at line %d: %s [%ld %ld %ld %ld]\n", sh->failed_line,
			    sh->failed, sh->hook_val[0], sh->hook_val[1], sh->hook_val[2],
			    sh->hook_val[3]);
	assert_int_equal(sh->failed_line, 0);
	return st;
}

static void
expect_output(void (*fn)(int rd), const char *want, int want_status)
{
	char out[8192];
	size_t len;
	int st = run_child(fn, out, sizeof(out) - 1, &len);

	if (!(WIFEXITED(st) && WEXITSTATUS(st) == want_status))
		print_error("child status 0x%x, output [%s]\n", st, out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), want_status);
	assert_string_equal(out, want);
}

static char *
make_temp(const char *content)
{
	static char path[64];
	int fd;

	/* Not directly in /tmp: files there are a compiler's temporaries,
	 * written at once (test_tmp_files). */
	CHECK(mkdir("/tmp/specnfs-sud.d", 0700) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "/tmp/specnfs-sud.d/f-XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (content != NULL)
		CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
	return path;
}

/* ------------------------------------------------------------ stdio, order */

#define STDIO_WANT "one 1\ntwo\nthree\nfour\nraw\nerr\nv1v2\ndup\ntail\n"

static void
child_stdio_commit(int rd)
{
	struct iovec iov[2] = { { "v1", 2 }, { "v2\n", 3 } };
	int d;

	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(spec_sud_epoch_open());
	printf("one %d\n", 1);
	fprintf(stdout, "two\n");
	fwrite("three\n", 1, 6, stdout);
	puts("four");
	fflush(stdout);
	CHECK(write(1, "raw\n", 4) == 4);
	fprintf(stderr, "err\n"); /* unbuffered: its own write, on fd 2 */
	CHECK(writev(1, iov, 2) == 5);
	d = dup(1);
	CHECK(d > 2);
	CHECK(write(d, "dup\n", 4) == 4);
	CHECK(close(d) == 0); /* closing it does not lose its output */
	printf("tail\n");
	fflush(stdout);
	CHECK(pending(rd) == 0);
	CHECK(spec_sud_buffered() == strlen(STDIO_WANT));
	CHECK(spec_sud_commit() == 0);
	CHECK(!spec_sud_epoch_open());
	CHECK(pending(rd) == (int)strlen(STDIO_WANT));
	CHECK(spec_sud_buffered() == 0);
	CHECK(sh->barriers == 0);
}

static void
test_stdio_commit(void **state)
{
	(void)state;
	expect_output(child_stdio_commit, STDIO_WANT, 0);
}

static void
child_discard(int rd)
{
	struct spec_sud_stats st;

	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("speculative\n");
	fflush(stdout);
	CHECK(write(2, "also\n", 5) == 5);
	CHECK(spec_sud_buffered() == 17);
	spec_sud_discard();
	CHECK(pending(rd) == 0);
	CHECK(!spec_sud_epoch_open());
	CHECK(write(1, "after\n", 6) == 6); /* native again */
	CHECK(pending(rd) == 6);
	spec_sud_stats(&st);
	CHECK(st.discarded_bytes == 17);
	CHECK(sh->barriers == 0);
}

static void
test_discard(void **state)
{
	(void)state;
	expect_output(child_discard, "after\n", 0);
}

/* The shim's own work between suspend and resume is not trapped. */
static void
child_suspend(int rd)
{
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(1, "b1\n", 3) == 3);
	spec_sud_suspend();
	spec_sud_suspend();
	CHECK(write(1, "direct\n", 7) == 7);
	spec_sud_resume();
	CHECK(pending(rd) == 7);
	spec_sud_resume();
	CHECK(write(1, "b2\n", 3) == 3);
	CHECK(pending(rd) == 7);
	CHECK(spec_sud_commit() == 0);
}

static void
test_suspend(void **state)
{
	(void)state;
	expect_output(child_suspend, "direct\nb1\nb2\n", 0);
}

/* ------------------------------------------------------------ errno, results */

static void
child_errno(int rd)
{
	struct iovec iov[2] = { { "v1", 2 }, { "v2\n", 3 } };
	const void *volatile nul = NULL;
	char *path = make_temp("x");
	char buf[8];
	int ro = open(path, O_RDONLY);

	CHECK(ro >= 0);
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	errno = 4242;
	CHECK(printf("p\n") == 2);
	CHECK(fflush(stdout) == 0);
	CHECK(errno == 4242);
	CHECK(write(1, "w\n", 2) == 2);
	CHECK(errno == 4242);
	CHECK(writev(1, iov, 2) == 5);
	CHECK(errno == 4242);
	CHECK(write(1, "", 0) == 0);
	errno = 0;
	CHECK(write(12345, "x", 1) == -1 && errno == EBADF);
	errno = 0;
	CHECK(write(ro, "x", 1) == -1 && errno == EBADF);
	errno = 0;
	CHECK(write(1, nul, 4) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(writev(1, (const struct iovec *)nul, 2) == -1 && errno == EFAULT);
	errno = 0;
	CHECK(pwrite(1, "x", 1, 0) == -1 && errno == ESPIPE);
	errno = 0;
	CHECK(read(12345, buf, 1) == -1 && errno == EBADF);
	errno = 0;
	CHECK(open("/nonexistent/x", O_RDONLY) == -1 && errno == ENOENT);
	errno = 0;
	CHECK(close(12345) == -1 && errno == EBADF);
	errno = 777;
	CHECK(getpid() > 0 && errno == 777);
	CHECK(syscall(SYS_getppid) == getppid() && errno == 777);
	CHECK(sh->barriers == 0);
	CHECK(pending(rd) == 0);
	CHECK(spec_sud_commit() == 0);
	CHECK(errno == 777);
	close(ro);
	unlink(path);
}

static void
test_errno(void **state)
{
	(void)state;
	expect_output(child_errno, "p\nw\nv1v2\n", 0);
}

/* ------------------------------------------------------------ local reads */

static void
child_read_regular(int rd)
{
	char *path = make_temp("hello world\nline2\n");
	struct spec_sud_stats st;
	struct stat sb;
	char buf[64], line[64];
	FILE *f;
	int fd;

	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof(buf)) == 18 && memcmp(buf, "hello world\nline2\n", 18) == 0);
	CHECK(fstat(fd, &sb) == 0 && sb.st_size == 18);
	CHECK(lseek(fd, 6, SEEK_SET) == 6);
	CHECK(read(fd, buf, 5) == 5 && memcmp(buf, "world", 5) == 0);
	CHECK(pread(fd, buf, 5, 12) == 5 && memcmp(buf, "line2", 5) == 0);
	CHECK(close(fd) == 0);
	f = fopen(path, "r");
	CHECK(f != NULL);
	CHECK(fgets(line, sizeof(line), f) != NULL && strcmp(line, "hello world\n") == 0);
	CHECK(fclose(f) == 0);
	CHECK(stat(path, &sb) == 0 && sb.st_size == 18);
	CHECK(access(path, R_OK) == 0);
	fd = open("/dev/null", O_WRONLY);
	CHECK(fd >= 0 && write(fd, "gone", 4) == 4 && close(fd) == 0);
	printf("read ok\n");
	CHECK(sh->barriers == 0);
	spec_sud_stats(&st);
	CHECK(st.traps > 10 && st.reissued > 10);
	CHECK(spec_sud_commit() == 0);
	unlink(path);
}

static void
test_read_regular(void **state)
{
	(void)state;
	expect_output(child_read_regular, "read ok\n", 0);
}

/* ------------------------------------------------------------ barriers */

static int hook_in_fd = -1, hook_out_fd = -1;

static void
hook_pending(long nr)
{
	(void)nr;
	sh->hook_val[0] = pending(hook_in_fd);  /* input still unread? */
	sh->hook_val[1] = pending(hook_out_fd); /* output not yet out? */
}

static void
child_pipe_read(int rd)
{
	char buf[16];
	int in[2];

	CHECK(pipe(in) == 0);
	CHECK(write(in[1], "input", 5) == 5);
	hook_in_fd = in[0];
	hook_out_fd = rd;
	barrier_hook = hook_pending;
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("out\n");
	fflush(stdout);
	CHECK(sh->barriers == 0);
	CHECK(read(in[0], buf, sizeof(buf)) == 5 && memcmp(buf, "input", 5) == 0);
	CHECK(sh->barriers == 1 && sh->nrs[0] == SYS_read);
	CHECK(sh->hook_val[0] == 5); /* the barrier ran before the read */
	CHECK(sh->hook_val[1] == 0);
	CHECK(pending(rd) == 4); /* committed by the barrier */
	CHECK(!spec_sud_epoch_open());
}

static void
test_pipe_read_barrier(void **state)
{
	(void)state;
	expect_output(child_pipe_read, "out\n", 0);
}

/* A barrier that refuses fails the call; nothing was consumed or shown. */
static void
child_barrier_refused(int rd)
{
	char buf[16];
	int in[2];

	CHECK(pipe(in) == 0);
	CHECK(write(in[1], "input", 5) == 5);
	barrier_refuses = 1;
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(1, "never\n", 6) == 6);
	errno = 0;
	CHECK(read(in[0], buf, sizeof(buf)) == -1 && errno == EIO);
	CHECK(spec_sud_epoch_open());
	CHECK(sh->barriers == 1);
	spec_sud_discard();
	CHECK(pending(in[0]) == 5 && pending(rd) == 0);
}

static void
test_barrier_refused(void **state)
{
	(void)state;
	expect_output(child_barrier_refused, "", 0);
}

static void
child_fork(int rd)
{
	pid_t pid;
	int st;

	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("before fork\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		printf("child\n");
		fflush(stdout);
		_exit(3);
	}
	CHECK(pid > 0);
	CHECK(sh->barriers == 1 && sh->nrs[0] == SYS_clone);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 3);
	CHECK(!spec_sud_epoch_open());
	/* a second epoch in the same process works as the first */
	CHECK(spec_sud_epoch_begin() == 0);
	printf("again\n");
	fflush(stdout);
	CHECK(spec_sud_commit() == 0);
}

static void
test_fork_barrier(void **state)
{
	(void)state;
	expect_output(child_fork, "before fork\nchild\nagain\n", 0);
}

static void
child_exec(int rd)
{
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("pre\n");
	fflush(stdout);
	execl("/bin/echo", "echo", "post", (char *)NULL);
	CHECK(0);
}

static void
test_exec_barrier(void **state)
{
	(void)state;
	expect_output(child_exec, "pre\npost\n", 0);
	assert_int_equal(sh->barriers, 1);
	assert_int_equal(sh->nrs[0], SYS_execve);
}

static void
child_exit_group(int rd)
{
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(1, "bye\n", 4) == 4);
	_exit(5);
}

static void
test_exit_group_barrier(void **state)
{
	(void)state;
	expect_output(child_exit_group, "bye\n", 5);
	assert_int_equal(sh->barriers, 1);
	assert_int_equal(sh->nrs[0], SYS_exit_group);
}

/* The process dies of its own signal: its output must have gone first. */
static void
child_abort(int rd)
{
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(1, "dying\n", 6) == 6);
	abort();
}

static void
test_abort_barrier(void **state)
{
	char out[256];
	size_t len;
	int st;

	(void)state;
	st = run_child(child_abort, out, sizeof(out) - 1, &len);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_string_equal(out, "dying\n");
	assert_int_equal(sh->barriers, 1);
	assert_int_equal(sh->nrs[0], SYS_tgkill);
}

static volatile sig_atomic_t got_usr1;

static void
on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void
child_kill(int rd)
{
	pid_t other;
	int st;

	other = fork();
	if (other == 0) {
		for (;;)
			pause();
	}
	CHECK(other > 0);
	signal(SIGUSR1, on_usr1);
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(kill(getpid(), 0) == 0);
	CHECK(kill(other, 0) == 0); /* an existence probe sends nothing */
	CHECK(raise(SIGUSR1) == 0 && got_usr1);
	CHECK(sh->barriers == 0);
	printf("k\n");
	fflush(stdout);
	CHECK(kill(other, SIGTERM) == 0);
	CHECK(sh->barriers == 1 && sh->nrs[0] == SYS_kill);
	CHECK(pending(rd) == 2);
	CHECK(waitpid(other, &st, 0) == other && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

static void
test_kill_barrier(void **state)
{
	(void)state;
	expect_output(child_kill, "k\n", 0);
}

static void
child_spawn(int rd)
{
	char *argv[] = { "echo", "spawned", NULL };
	pid_t pid;
	int st;

	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("a\n");
	fflush(stdout);
	CHECK(posix_spawn(&pid, "/bin/echo", NULL, NULL, argv, environ) == 0);
	CHECK(sh->barriers == 1);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("b\n");
	fflush(stdout);
	CHECK(system("echo sys") == 0);
	CHECK(sh->barriers == 2);
	CHECK(spec_sud_epoch_begin() == 0);
	pid = vfork();
	if (pid == 0) {
		execl("/bin/echo", "echo", "vforked", (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0 && sh->barriers == 3 && sh->nrs[2] == SYS_vfork);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_spawn_barrier(void **state)
{
	(void)state;
	expect_output(child_spawn, "a\nspawned\nb\nsys\nvforked\n", 0);
}

/* A pipe without a reader: the program must still see EPIPE. */
static void
child_epipe(int rd)
{
	int p[2];

	CHECK(pipe(p) == 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(1, "first\n", 6) == 6);
	errno = 0;
	CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE);
	CHECK(sh->barriers == 1 && sh->nrs[0] == SYS_write);
	CHECK(pending(rd) == 6);
}

static void
test_epipe(void **state)
{
	(void)state;
	expect_output(child_epipe, "first\n", 0);
}

/* ------------------------------------------------------------ files */

static void
child_files(int rd)
{
	char *p = make_temp(NULL);
	char mpath[64], opath[64];
	struct stat sb;
	int mfd, ofd;

	snprintf(mpath, sizeof(mpath), "%s", p);
	p = make_temp(NULL);
	snprintf(opath, sizeof(opath), "%s", p);
	mfd = open(mpath, O_WRONLY);
	ofd = open(opath, O_WRONLY);
	CHECK(mfd >= 0 && ofd >= 0);
	mirror_fd = mfd;
	child_init(0);

	/* a mirror file: passes at once, no barrier to look at it */
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(mfd, "mirror", 6) == 6);
	CHECK(fstat(mfd, &sb) == 0 && sb.st_size == 6);
	/* elsewhere: buffered; looking at the file is a barrier */
	CHECK(write(ofd, "other", 5) == 5);
	CHECK(sh->barriers == 0);
	CHECK(fstat(ofd, &sb) == 0 && sb.st_size == 5);
	CHECK(sh->barriers == 1);
	CHECK(!spec_sud_epoch_open());

	/* discarded: never reaches the file */
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(ofd, "more", 4) == 4);
	CHECK(pwrite(ofd, "P", 1, 0) == 1);
	spec_sud_discard();
	CHECK(stat(opath, &sb) == 0 && sb.st_size == 5);

	/* the offset moves at commit: lseek is a barrier */
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(ofd, "zz", 2) == 2);
	CHECK(pwrite(ofd, "O", 1, 0) == 1);
	CHECK(lseek(ofd, 0, SEEK_CUR) == 7);
	CHECK(sh->barriers == 2);
	CHECK(stat(opath, &sb) == 0 && sb.st_size == 7);

	/* creating a file outside the mirror happens at once, no barrier
	 * (a compiler's temporary); a discarded epoch takes it back */
	CHECK(spec_sud_epoch_begin() == 0);
	snprintf(mpath + strlen(mpath), 8, ".new");
	ofd = open(mpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(ofd >= 0 && sh->barriers == 2 && spec_sud_epoch_open());
	close(ofd);
	CHECK(stat(mpath, &sb) == 0);
	spec_sud_discard();
	spec_sud_created_end(1);
	CHECK(stat(mpath, &sb) < 0 && errno == ENOENT);
	/* ... and one that commits keeps it */
	CHECK(spec_sud_epoch_begin() == 0);
	ofd = open(mpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(ofd >= 0 && sh->barriers == 2);
	close(ofd);
	CHECK(spec_sud_commit() == 0);
	spec_sud_created_end(0);
	CHECK(stat(mpath, &sb) == 0);
	unlink(mpath);
	/* a name replaced meanwhile (by someone else: here with the trap
	 * held off) is not ours to remove */
	CHECK(spec_sud_epoch_begin() == 0);
	ofd = open(mpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(ofd >= 0 && sh->barriers == 2);
	close(ofd);
	spec_sud_suspend();
	{
		char other[4096];

		snprintf(other, sizeof(other), "%s.b", mpath);
		ofd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
		CHECK(ofd >= 0 && rename(other, mpath) == 0);
		close(ofd);
	}
	spec_sud_resume();
	spec_sud_discard();
	spec_sud_created_end(1);
	CHECK(stat(mpath, &sb) == 0 && sh->barriers == 2);
	unlink(mpath);
	mpath[strlen(mpath) - 4] = '\0';
	unlink(mpath);
	{
		char buf[16];
		int fd = open(opath, O_RDONLY);

		CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 7 && memcmp(buf, "Otherzz", 7) == 0);
		close(fd);
	}
	unlink(opath);
	printf("files ok\n");
}

static void
test_files(void **state)
{
	(void)state;
	expect_output(child_files, "files ok\n", 0);
}

/* copy_file_range and sendfile (cat's and cp's copy) from a regular file
 * into the mirror go at once, as a write there does; into a file whose
 * writes are held, or from a pipe (input consumed), they are barriers. */
static void
child_copy(int rd)
{
	char ipath[64], mpath[64], opath[64];
	struct stat sb;
	int ifd, mfd, ofd, pfd[2];
	loff_t off = 0;

	(void)rd;
	snprintf(ipath, sizeof(ipath), "%s", make_temp("source"));
	snprintf(mpath, sizeof(mpath), "%s", make_temp(NULL));
	snprintf(opath, sizeof(opath), "%s", make_temp(NULL));
	ifd = open(ipath, O_RDONLY);
	mfd = open(mpath, O_WRONLY);
	ofd = open(opath, O_WRONLY);
	CHECK(ifd >= 0 && mfd >= 0 && ofd >= 0 && pipe(pfd) == 0);
	CHECK(write(pfd[1], "in", 2) == 2);
	mirror_fd = mfd;
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(copy_file_range(ifd, &off, mfd, NULL, 6, 0) == 6);
	off = 0;
	CHECK(sendfile(mfd, ifd, &off, 6) == 6);
	CHECK(sh->barriers == 0 && spec_sud_epoch_open());
	CHECK(fstat(mfd, &sb) == 0 && sb.st_size == 12);
	off = 0;
	CHECK(copy_file_range(ifd, &off, ofd, NULL, 6, 0) == 6);
	CHECK(sh->barriers == 1 && sh->nrs[0] == SYS_copy_file_range);
	CHECK(!spec_sud_epoch_open());
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(sendfile(mfd, pfd[0], NULL, 2) < 0); /* EINVAL, after the barrier */
	CHECK(sh->barriers == 2 && sh->nrs[1] == SYS_sendfile);
	unlink(ipath);
	unlink(mpath);
	unlink(opath);
	printf("copy ok\n");
}

static void
test_copy(void **state)
{
	(void)state;
	expect_output(child_copy, "copy ok\n", 0);
}

/* A hidden name of pid's left in /tmp (an unlink not undone or removed). */
static int
hidden_left(void)
{
	char pre[64];
	struct dirent *e;
	DIR *d = opendir("/tmp");
	int n = 0;

	snprintf(pre, sizeof(pre), ".specnfs-unlinked-%d-", (int)getpid());
	while (d != NULL && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, pre, strlen(pre)) == 0)
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

/*
 * Files directly in a temporary directory that the epoch did not create
 * (the gcc driver's mkstemps, then cc1 writes): a write at or past the
 * size the file had at its first write in the epoch goes at once and a
 * discard truncates it back; a write below it is a barrier. An unlink
 * there goes at once under a hidden name: a discard puts the file back,
 * a commit removes it.
 */
static void
child_tmp_files(int rd)
{
	char path[64];
	struct stat sb;
	int fd;

	(void)rd;
	snprintf(path, sizeof(path), "/tmp/specnfs-sudtmp-XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "abc", 3) == 3);
	child_init(0);

	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(write(fd, "def", 3) == 3);
	CHECK(fstat(fd, &sb) == 0 && sb.st_size == 6 && sh->barriers == 0);
	spec_sud_created_end(1);
	spec_sud_discard();
	CHECK(stat(path, &sb) == 0 && sb.st_size == 3);

	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(lseek(fd, 0, SEEK_END) == 3 && write(fd, "gh", 2) == 2);
	CHECK(sh->barriers == 0);
	CHECK(pwrite(fd, "X", 1, 0) == 1); /* below: a barrier (commits) */
	CHECK(sh->barriers == 1 && !spec_sud_epoch_open());
	spec_sud_created_end(0);
	CHECK(stat(path, &sb) == 0 && sb.st_size == 5);

	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(unlink(path) == 0 && sh->barriers == 1);
	CHECK(stat(path, &sb) < 0 && errno == ENOENT && hidden_left() == 1);
	spec_sud_created_end(1);
	spec_sud_discard();
	CHECK(stat(path, &sb) == 0 && sb.st_size == 5 && hidden_left() == 0);

	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(unlink(path) == 0 && sh->barriers == 1);
	spec_sud_created_end(0);
	CHECK(spec_sud_commit() == 0);
	CHECK(stat(path, &sb) < 0 && errno == ENOENT && hidden_left() == 0);
	close(fd);
	printf("tmp ok\n");
}

static void
test_tmp_files(void **state)
{
	(void)state;
	expect_output(child_tmp_files, "tmp ok\n", 0);
}

/* ------------------------------------------------------------ signals */

static volatile sig_atomic_t got_sys;

static void
on_usr_write(int sig)
{
	if (sig == SIGUSR1)
		write(1, "sig1\n", 5);
	else
		write(1, "sig2\n", 5);
}

static void
on_sys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	got_sys = si->si_code == SI_TKILL ? 1 : 2;
}

static void
child_signals(int rd)
{
	struct sigaction sa, old;
	sigset_t all, prev, cur;

	/* installed natively with SIGSYS in its mask: the epoch fixes it */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr_write;
	sigfillset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	CHECK(raise(SIGUSR1) == 0);
	/* installed during the epoch, same mask */
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	CHECK(raise(SIGUSR2) == 0);
	/* the program blocks everything: SIGSYS only virtually */
	sigfillset(&all);
	CHECK(sigprocmask(SIG_BLOCK, &all, &prev) == 0);
	CHECK(!sigismember(&prev, SIGSYS));
	CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0);
	CHECK(sigismember(&cur, SIGSYS) && sigismember(&cur, SIGUSR1));
	CHECK(write(1, "masked\n", 7) == 7);
	CHECK(sigprocmask(SIG_SETMASK, &prev, NULL) == 0);
	CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0);
	CHECK(!sigismember(&cur, SIGSYS) && !sigismember(&cur, SIGUSR1));
	/* the program's own SIGSYS handler, kept virtually */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sys;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
	CHECK(sigaction(SIGSYS, NULL, &old) == 0 && old.sa_sigaction == on_sys);
	CHECK(raise(SIGSYS) == 0 && got_sys == 1);
	CHECK(write(1, "after sys\n", 10) == 10); /* still trapped: ours is in place */
	CHECK(pending(rd) == 0);
	CHECK(sh->barriers == 0);
	CHECK(spec_sud_commit() == 0);
	/* the helper for the shim's wrapper */
	sigfillset(&sa.sa_mask);
	spec_sud_fix_sigaction(&sa);
	CHECK(!sigismember(&sa.sa_mask, SIGSYS) && sigismember(&sa.sa_mask, SIGUSR1));
	sigfillset(&all);
	spec_sud_fix_sigmask(SIG_BLOCK, &all);
	CHECK(!sigismember(&all, SIGSYS));
}

static void
test_signals(void **state)
{
	(void)state;
	expect_output(child_signals, "sig1\nsig2\nmasked\nafter sys\n", 0);
}

/* ------------------------------------------------------------ exit */

static void
child_exit_flush(int rd)
{
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("unflushed");
	exit(0); /* stdio flushes (trapped, buffered), then exit_group: barrier */
}

static void
test_exit_flush(void **state)
{
	(void)state;
	expect_output(child_exit_flush, "unflushed", 0);
	assert_int_equal(sh->barriers, 1);
	assert_int_equal(sh->nrs[0], SYS_exit_group);
}

static void
child_exit_discard(int rd)
{
	barrier_discards = 1;
	child_init(0);
	CHECK(spec_sud_epoch_begin() == 0);
	printf("rolled back");
	exit(0);
}

static void
test_exit_discard(void **state)
{
	(void)state;
	expect_output(child_exit_discard, "", 0);
	assert_int_equal(sh->barriers, 1);
}

/* ------------------------------------------------------------ bounds, threads */

static void
child_buffer_full(int rd)
{
	char line[64];
	int i;

	child_init(4096);
	CHECK(spec_sud_epoch_begin() == 0);
	for (i = 0; i < 500; i++) {
		snprintf(line, sizeof(line), "line %03d\n", i);
		CHECK(write(1, line, 9) == 9);
		if (!spec_sud_epoch_open())
			CHECK(spec_sud_epoch_begin() == 0);
	}
	/* 500 chunks of 40 bytes (24 header, 9 data, padding) through 4096 */
	CHECK(sh->barriers >= 4 && sh->barriers <= 5);
	CHECK(spec_sud_commit() == 0);
}

static void
test_buffer_full(void **state)
{
	char want[500 * 9 + 1];
	char out[8192];
	size_t len;
	int i, st;

	(void)state;
	for (i = 0; i < 500; i++) {
		char line[16];

		snprintf(line, sizeof(line), "line %03d\n", i % 1000);
		memcpy(want + i * 9, line, 9);
	}
	want[500 * 9] = '\0';
	st = run_child(child_buffer_full, out, sizeof(out) - 1, &len);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_equal(out, want);
}

static volatile int thr_ready, thr_go, thr_done, thr_quit;

static void *
thread_main(void *arg)
{
	(void)arg;
	if (spec_sud_arm_thread() != 0)
		return NULL;
	__atomic_store_n(&thr_ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&thr_go, __ATOMIC_SEQ_CST))
		sched_yield();
	write(1, "T\n", 2);
	__atomic_store_n(&thr_done, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&thr_quit, __ATOMIC_SEQ_CST))
		sched_yield();
	return NULL;
}

static void
child_threads(int rd)
{
	pthread_t th;

	child_init(0);
	CHECK(pthread_create(&th, NULL, thread_main, NULL) == 0);
	while (!__atomic_load_n(&thr_ready, __ATOMIC_SEQ_CST))
		sched_yield();
	CHECK(spec_sud_epoch_begin() == 0);
	__atomic_store_n(&thr_go, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&thr_done, __ATOMIC_SEQ_CST))
		sched_yield();
	CHECK(pending(rd) == 0);
	CHECK(write(1, "M\n", 2) == 2);
	CHECK(spec_sud_commit() == 0);
	CHECK(pending(rd) == 4);
	__atomic_store_n(&thr_quit, 1, __ATOMIC_SEQ_CST);
	CHECK(pthread_join(th, NULL) == 0);
}

static void
test_threads(void **state)
{
	(void)state;
	expect_output(child_threads, "T\nM\n", 0);
}

/* ------------------------------------------------------------ costs */

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double
time_getppid(long n)
{
	double t0 = now_ns();
	long i;

	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (now_ns() - t0) / (double)n;
}

static void
child_costs(int rd)
{
	const char *env = getenv("SPECNFS_SUD_BENCH_N");
	long n = env != NULL ? atol(env) : 20000, i;
	double plain, allow, trap, wbuf, wnull, cyc, cyc_nosweep, commit;
	char *path = make_temp(NULL);
	struct spec_sud_stats st;
	int fd, nullfd, p[2];

	if (n < 100)
		n = 100;
	CHECK(pipe(p) == 0);
	nullfd = open("/dev/null", O_WRONLY);
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && nullfd >= 0);
	child_init(0);
	time_getppid(n); /* warm up */
	plain = time_getppid(10 * n);
	CHECK(spec_sud_arm_thread() == 0);
	allow = time_getppid(10 * n);

	CHECK(spec_sud_epoch_begin() == 0);
	trap = time_getppid(n);
	{
		double t0 = now_ns();

		for (i = 0; i < n; i++)
			write(nullfd, "0123456789abcdef", 16);
		wnull = (now_ns() - t0) / (double)n;
		t0 = now_ns();
		for (i = 0; i < n; i++)
			write(p[1], "0123456789abcdef", 16);
		wbuf = (now_ns() - t0) / (double)n;
	}
	spec_sud_stats(&st);
	CHECK(st.traps >= (uint64_t)(3 * n));
	spec_sud_discard();

	{
		double t0 = now_ns();

		for (i = 0; i < 1000; i++) {
			spec_sud_epoch_begin();
			spec_sud_discard();
		}
		cyc = (now_ns() - t0) / 1000.0;
		{
			struct spec_sud_ops ops = { .barrier = test_barrier,
						    .flags = SPEC_SUD_NO_SIGNAL_SWEEP };

			CHECK(spec_sud_init(&ops) == 0);
		}
		t0 = now_ns();
		for (i = 0; i < 1000; i++) {
			spec_sud_epoch_begin();
			spec_sud_discard();
		}
		cyc_nosweep = (now_ns() - t0) / 1000.0;
		CHECK(spec_sud_epoch_begin() == 0);
		for (i = 0; i < 1000; i++)
			write(fd, "0123456789abcdef", 16);
		t0 = now_ns();
		CHECK(spec_sud_commit() == 0);
		commit = (now_ns() - t0) / 1000.0;
	}
	close(fd);
	unlink(path);
	printf("# costs per call (this machine):\n");
	printf("#   plain getppid syscall          %7.0f ns\n", plain);
	printf("#   armed, selector ALLOW          %7.0f ns  (+%.0f ns)\n", allow, allow - plain);
	printf("#   BLOCK: trap + re-issue         %7.0f ns\n", trap);
	printf("#   BLOCK: write /dev/null (local) %7.0f ns\n", wnull);
	printf("#   BLOCK: write 16 B buffered     %7.0f ns\n", wbuf);
	printf("#   epoch begin + discard          %7.0f ns\n", cyc);
	printf("#     same, SPEC_SUD_NO_SIGNAL_SWEEP %5.0f ns\n", cyc_nosweep);
	printf("#   commit, per buffered write     %7.0f ns\n", commit);
}

static void
test_costs(void **state)
{
	char out[4096];
	size_t len;
	int st;

	(void)state;
	st = run_child(child_costs, out, sizeof(out) - 1, &len);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("%s", out);
	assert_non_null(strstr(out, "trap + re-issue"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdio_commit),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_suspend),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_read_regular),
		cmocka_unit_test(test_pipe_read_barrier),
		cmocka_unit_test(test_barrier_refused),
		cmocka_unit_test(test_fork_barrier),
		cmocka_unit_test(test_exec_barrier),
		cmocka_unit_test(test_exit_group_barrier),
		cmocka_unit_test(test_abort_barrier),
		cmocka_unit_test(test_kill_barrier),
		cmocka_unit_test(test_spawn_barrier),
		cmocka_unit_test(test_epipe),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_tmp_files),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_exit_flush),
		cmocka_unit_test(test_exit_discard),
		cmocka_unit_test(test_buffer_full),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_costs),
	};

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
