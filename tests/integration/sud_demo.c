/*
 * sud_demo.c - output commit with Syscall User Dispatch, as a program.
 *
 * Opens an epoch, writes three lines (printf, fputs, a raw write(2)), then
 * commits or discards them as argv says, and exits. Run it in pipelines
 * and redirections (tests/integration/test_sud.sh): the lines must appear
 * exactly once, in order, or never. "bench" prints what SUD costs here.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "client/spec/sud.h"

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's exit-time check clones a thread from an atexit handler:
 * a barrier that would resolve the epoch before exit() flushes stdio. */
const char *__asan_default_options(void) __attribute__((visibility("default")));
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static int discard_at_barrier;

static int
demo_barrier(void *ctx, long nr)
{
	(void)ctx;
	(void)nr;
	if (discard_at_barrier)
		spec_sud_discard(); /* what a rollback's copy would do */
	else
		spec_sud_commit();
	return 0;
}

static void
usage(FILE *f)
{
	fputs("Usage: sud_demo MODE\n"
	      "Open a speculative epoch, write three lines, then:\n"
	      "  commit        commit them, then exit\n"
	      "  discard       discard them (a rollback), then exit\n"
	      "  exit-commit   exit() inside the epoch: stdio's flush is buffered,\n"
	      "                the exit_group barrier commits it\n"
	      "  exit-discard  the same, the barrier discards\n"
	      "  probe         exit 0 if Syscall User Dispatch works here\n"
	      "  bench [N]     print what it costs (N traps, default 20000)\n",
	      f);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double
per_getppid(long n)
{
	double t0 = now_ns();
	long i;

	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (now_ns() - t0) / (double)n;
}

static int
bench(long n)
{
	double plain, allow, trap, wbuf, cyc, t0;
	int p[2];
	long i;

	if (pipe(p) < 0)
		return 1;
	per_getppid(n);
	plain = per_getppid(10 * n);
	if (spec_sud_arm_thread() < 0)
		return 1;
	allow = per_getppid(10 * n);
	spec_sud_epoch_begin();
	trap = per_getppid(n);
	t0 = now_ns();
	for (i = 0; i < n; i++)
		if (write(p[1], "0123456789abcdef", 16) != 16)
			break;
	wbuf = (now_ns() - t0) / (double)n;
	spec_sud_discard();
	t0 = now_ns();
	for (i = 0; i < 1000; i++) {
		spec_sud_epoch_begin();
		spec_sud_discard();
	}
	cyc = (now_ns() - t0) / 1000.0;
	printf("# SUD costs per call on this machine (%ld traps):\n", n);
	printf("#   plain syscall (getppid)      %6.0f ns\n", plain);
	printf("#   armed, selector ALLOW        %6.0f ns (+%.0f ns)\n", allow, allow - plain);
	printf("#   BLOCK: trap + re-issue       %6.0f ns\n", trap);
	printf("#   BLOCK: write 16 B, buffered  %6.0f ns\n", wbuf);
	printf("#   epoch begin + discard        %6.0f ns\n", cyc);
	return 0;
}

int
main(int argc, char **argv)
{
	struct spec_sud_ops ops = { .barrier = demo_barrier };
	const char *mode = argc > 1 ? argv[1] : "";
	int r;

	if (strcmp(mode, "--help") == 0 || strcmp(mode, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(mode, "commit") != 0 && strcmp(mode, "discard") != 0 &&
	    strcmp(mode, "exit-commit") != 0 && strcmp(mode, "exit-discard") != 0 &&
	    strcmp(mode, "probe") != 0 && strcmp(mode, "bench") != 0) {
		usage(stderr);
		return 2;
	}
	r = spec_sud_init(&ops);
	if (r < 0) {
		fprintf(stderr, "sud_demo: no Syscall User Dispatch here: %s\n", strerror(-r));
		return 1;
	}
	if (strcmp(mode, "probe") == 0)
		return 0;
	if (strcmp(mode, "bench") == 0)
		return bench(argc > 2 ? atol(argv[2]) : 20000);

	discard_at_barrier = strcmp(mode, "exit-discard") == 0;
	r = spec_sud_epoch_begin();
	if (r < 0) {
		fprintf(stderr, "sud_demo: cannot open an epoch: %s\n", strerror(-r));
		return 1;
	}
	printf("line 1: printf inside the epoch (%s)\n", mode);
	fputs("line 2: fputs\n", stdout);
	fflush(stdout);
	if (write(1, "line 3: write(2)\n", 17) != 17)
		return 1;
	printf("line 4: left in stdio's buffer\n");
	if (strcmp(mode, "commit") == 0) {
		fflush(stdout);
		spec_sud_commit();
	} else if (strcmp(mode, "discard") == 0) {
		fflush(stdout);
		spec_sud_discard();
	}
	exit(0); /* exit-*: flushed by exit(), released or dropped by the barrier */
}
