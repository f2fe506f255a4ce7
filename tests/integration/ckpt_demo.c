/*
 * ckpt_demo: fork checkpoints seen from outside, and what they cost.
 *
 * A program that speculates the way the shim will: it takes a checkpoint,
 * runs ahead on a prediction (its output only buffered, as a barrier would
 * hold it), learns the truth, rolls back and runs again with it. Run from
 * a shell, it must look like any program: one line of output, its own pid,
 * the status it computed, nothing left running. test_ckpt.sh drives it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: ckpt_demo rollback PREDICTION TRUTH [TAG]\n"
		   "       ckpt_demo die SIGNAL [TAG]\n"
		   "       ckpt_demo signal READY_FILE [TAG]\n"
		   "       ckpt_demo bench [--quick] [TAG]\n"
		   "\n"
		   "rollback  take a checkpoint, run ahead on PREDICTION, roll back with TRUTH;\n"
		   "          print one line and exit with TRUTH %% 256\n"
		   "die       roll back, print one line, then die of SIGNAL (a number)\n"
		   "signal    roll back, create READY_FILE, wait for SIGTERM; print who sent\n"
		   "          it, then die of it\n"
		   "bench     checkpoint costs: take+commit at 1, 10, 200 MB of touched heap,\n"
		   "          copy-on-write cost of rewriting memory, rollback latency\n"
		   "TAG is ignored (tests find their processes by it).\n");
}

static __attribute__((noreturn)) void
die(const char *what, int err)
{
	fprintf(stderr, "ckpt_demo: %s: %s\n", what, strerror(err));
	exit(125);
}

/* Take a checkpoint; in the run-ahead, print the prediction (buffered,
 * never to be seen) and roll back with truth. Returns the truth. */
static uint64_t
speculate(const char *prediction, uint64_t truth, unsigned flags)
{
	struct ckpt *c;
	uint64_t v = 0;
	int rc;

	rc = ckpt_take(CKPT_FORK, flags, &c, &v);
	if (rc < 0)
		die("ckpt_take", -rc);
	if (rc == 0) {
		printf("ran ahead on %s\n", prediction);
		ckpt_rollback(c, truth);
	}
	return v;
}

static int
cmd_rollback(const char *prediction, const char *truth_s)
{
	uint64_t truth = strtoull(truth_s, NULL, 10), v;

	/* Full buffering even on a terminal: what sits in the buffer at the
	 * checkpoint must come out exactly once. */
	setvbuf(stdout, NULL, _IOFBF, BUFSIZ);
	printf("ckpt_demo:");
	v = speculate(prediction, truth, 0);
	printf(" pid=%d ppid=%d prediction=%s truth=%llu status=%d\n", (int)ckpt_getpid(),
	       (int)ckpt_getppid(), prediction, (unsigned long long)v, (int)(v % 256));
	return (int)(v % 256);
}

static int
cmd_die(const char *sig_s)
{
	int sig = atoi(sig_s);

	setvbuf(stdout, NULL, _IOFBF, BUFSIZ);
	speculate("no signal", (uint64_t)sig, 0);
	printf("ckpt_demo: pid=%d dies of signal %d\n", (int)ckpt_getpid(), sig);
	fflush(stdout);
	signal(sig, SIG_DFL);
	raise(sig);
	return 125;
}

static volatile sig_atomic_t term_from = -1;

static void
on_term(int sig, siginfo_t *si, void *uc)
{
	term_from = si->si_pid;
}

static int
cmd_signal(const char *ready)
{
	struct sigaction sa;
	sigset_t block, during;
	int fd;

	setvbuf(stdout, NULL, _IOFBF, BUFSIZ);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_term;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &during);
	sigdelset(&during, SIGTERM);
	/* A SIGTERM sent during the epoch is held and goes to the copy. */
	speculate("no signal", 0, CKPT_DEFER_SIGNALS);
	fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die(ready, errno);
	close(fd);
	while (term_from < 0)
		sigsuspend(&during);
	printf("ckpt_demo: pid=%d got SIGTERM from %d\n", (int)ckpt_getpid(), (int)term_from);
	fflush(stdout);
	signal(SIGTERM, SIG_DFL);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	raise(SIGTERM);
	return 125;
}

/* ------------------------------------------------------------ bench */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Committed copies die in the background: wait for them between runs so
 * that one run's teardown does not slow the next. */
static void
settle(void)
{
	char path[64], buf[64];
	int fd, i;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)syscall(SYS_gettid));
	for (i = 0; i < 10000; i++) {
		ckpt_reap();
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n <= 0)
			return;
		usleep(500);
	}
}

static char *
touched(size_t mb, int huge)
{
	size_t len = mb << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", errno);
	if (huge)
		madvise(p, len, MADV_HUGEPAGE);
	memset(p, 1, len);
	return p;
}

#define MAXRUNS 64

static void
bench_take_commit(size_t mb, int runs)
{
	double t[MAXRUNS], f[MAXRUNS], k[MAXRUNS], t0, t1, t2;
	char *mem = touched(mb, 0);
	struct ckpt *c;
	pid_t pid;
	int i, rc;

	for (i = 0; i < runs; i++) {
		settle();
		t0 = now_ms();
		rc = ckpt_take(CKPT_FORK, 0, &c, NULL);
		t1 = now_ms();
		if (rc != 0)
			die("ckpt_take", -rc);
		ckpt_commit(c);
		t2 = now_ms();
		t[i] = t2 - t0;
		k[i] = (t2 - t1) * 1000;
	}
	/* The same with a plain fork + _exit + waitpid, for scale. */
	for (i = 0; i < runs; i++) {
		t0 = now_ms();
		pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		f[i] = now_ms() - t0;
	}
	settle();
	printf("bench: take+commit %4zu MB: median %.3f ms (n=%d); commit alone %.1f us; "
	       "fork+exit+wait %.3f ms\n",
	       mb, median(t, runs), runs, median(k, runs), median(f, runs));
	munmap(mem, mb << 20);
}

/* Rewriting every page while a checkpoint is open, against without. */
static void
bench_cow(size_t mb, int huge, int runs)
{
	double with[MAXRUNS], without[MAXRUNS], t0;
	size_t len = mb << 20, pages = len / 4096;
	char *mem = touched(mb, huge);
	struct ckpt *c;
	int i, rc;

	for (i = 0; i < runs; i++) {
		settle();
		t0 = now_ms();
		memset(mem, 2 + i, len);
		without[i] = now_ms() - t0;
		rc = ckpt_take(CKPT_FORK, 0, &c, NULL);
		if (rc != 0)
			die("ckpt_take", -rc);
		t0 = now_ms();
		memset(mem, 3 + i, len);
		with[i] = now_ms() - t0;
		ckpt_commit(c);
	}
	settle();
	printf("bench: rewrite %4zu MB%s after a checkpoint: median %.1f ms (without: %.1f ms); "
	       "%.2f us per 4 KB page\n",
	       mb, huge ? " (MADV_HUGEPAGE)" : "", median(with, runs), median(without, runs),
	       (median(with, runs) - median(without, runs)) * 1000 / (double)pages);
	munmap(mem, len);
}

/* ckpt_rollback() until the copy runs again, in a child each time. */
static void
bench_rollback(int runs)
{
	double lat[MAXRUNS];
	int i, p[2], status;
	pid_t pid;

	for (i = 0; i < runs; i++) {
		if (pipe(p) != 0)
			die("pipe", errno);
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			struct ckpt *c;
			uint64_t v;
			double now;

			close(p[0]);
			if (ckpt_take(CKPT_FORK, 0, &c, &v) == 0) {
				now = now_ms();
				ckpt_rollback(c, (uint64_t)(now * 1000));
			}
			now = now_ms() - (double)v / 1000;
			_exit(write(p[1], &now, sizeof(now)) == sizeof(now) ? 0 : 1);
		}
		close(p[1]);
		if (read(p[0], &lat[i], sizeof(lat[i])) != sizeof(lat[i]))
			lat[i] = -1;
		close(p[0]);
		waitpid(pid, &status, 0);
		lat[i] *= 1000;
	}
	printf("bench: rollback until the copy runs: median %.1f us (n=%d)\n", median(lat, runs),
	       runs);
}

static int
cmd_bench(int quick)
{
	int rc = ckpt_available(CKPT_FORK);

	if (rc < 0)
		die("fork checkpoints unavailable", -rc);
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_take_commit(1, quick ? 5 : 21);
	bench_take_commit(10, quick ? 5 : 21);
	bench_take_commit(200, quick ? 3 : 9);
	bench_cow(10, 0, quick ? 3 : 7);
	bench_cow(10, 1, quick ? 3 : 7);
	bench_cow(200, 0, 3);
	bench_rollback(quick ? 5 : 21);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "rollback") == 0)
		return cmd_rollback(argv[2], argv[3]);
	if (argc >= 3 && strcmp(argv[1], "die") == 0)
		return cmd_die(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "signal") == 0)
		return cmd_signal(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "bench") == 0)
		return cmd_bench(argc >= 3 && strcmp(argv[2], "--quick") == 0);
	usage(stderr);
	return 2;
}
