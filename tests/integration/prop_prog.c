/*
 * prop_prog: process trees that a speculation must cross, for
 * test_propagate.sh. Each mode reads an NFS file that the test may have
 * changed on the server behind the cache, then forks on what it read.
 *
 *   prop_prog wait HOLD FILE MARK
 *	reads the first line of HOLD, forks; the child reads the first line
 *	of FILE, prints "getpid C read LINE" and ends by it: "N" exit(N),
 *	"_N" _exit(N), "kN" killed by signal N. The parent waits for it and
 *	prints "parent P hold H fork C" and "child W status S" (S: the exit
 *	status, or 128 + the signal). HOLD "=PATH": the parent reads PATH,
 *	then calls setuid(getuid()) before it forks (a barrier: its read is
 *	settled there), so that it has no speculation of its own when it
 *	waits.
 *   prop_prog tree FILE DIR MARK
 *	FILE holds "NAME MS". The process (level 0) prints "level 0 read
 *	NAME", forks a child (level 1) which forks a grandchild (level 2);
 *	each creates DIR/out-NAME-LEVEL, the grandchild sleeps MS
 *	milliseconds and exits 3, the child exits 10 + its child's status;
 *	each prints, after its child has exited, "level L NAME pid P ppid Q
 *	status S" (S: its child's exit status).
 *   prop_prog chain A D DIR MARK
 *	reads the first line of A, forks; the child creates DIR/out-PID
 *	holding that line, prints "child PID sees LINE" and exits 5. The
 *	parent reaps it, then reads the first line of D and prints "parent
 *	P a LINE d LINE2 fork C status S". Its read of A is one epoch, the
 *	read of D after the reap another (a chain: shim/spec, "Chains").
 *
 * MARK is not used: it lets the test find every process of a run (pgrep -f).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The first line of PATH, without its newline; exits 99 if unreadable. */
static void
first_line(const char *path, char *line, size_t len)
{
	FILE *f = fopen(path, "r");

	if (f == NULL || fgets(line, (int)len, f) == NULL) {
		perror(path);
		exit(99);
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
}

/* The exit status of child pid, or -1; prints why if waitpid failed. */
static int
reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid) {
		perror("waitpid");
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int
wait_mode(const char *hold, const char *file)
{
	char h[256], line[256];
	pid_t pid;
	int st;

	first_line(hold[0] == '=' ? hold + 1 : hold, h, sizeof(h));
	if (hold[0] == '=' && setuid(getuid()) != 0) {
		perror("setuid");
		return 98;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 98;
	}
	if (pid == 0) {
		first_line(file, line, sizeof(line));
		printf("getpid %d read %s\n", (int)getpid(), line);
		fflush(stdout); /* written before exit begins */
		if (line[0] == '_')
			_exit(atoi(line + 1));
		if (line[0] == 'k') {
			signal(atoi(line + 1), SIG_DFL);
			raise(atoi(line + 1));
		}
		exit(atoi(line));
	}
	st = reap(pid);
	printf("parent %d hold %s fork %d\n", (int)getpid(), h, (int)pid);
	printf("child %d status %d\n", (int)pid, st);
	return 0;
}

/* Create DIR/out-NAME-LEVEL holding the level's pid; exits 97 if it cannot. */
static void
mark_out(const char *dir, const char *name, int level)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/out-%s-%d", dir, name, level);
	f = fopen(path, "w");
	if (f == NULL || fprintf(f, "level %d pid %d\n", level, (int)getpid()) < 0 ||
	    fclose(f) != 0) {
		perror(path);
		exit(97);
	}
}

static void
say(int level, const char *name, int status)
{
	printf("level %d %s pid %d ppid %d status %d\n", level, name, (int)getpid(),
	       (int)getppid(), status);
}

static int
tree_mode(const char *file, const char *dir)
{
	char line[256], name[128];
	struct timespec nap;
	pid_t kid, grandkid;
	int ms, st;

	first_line(file, line, sizeof(line));
	if (sscanf(line, "%127s %d", name, &ms) != 2 || ms < 0) {
		fprintf(stderr, "%s: want 'NAME MS', got '%s'\n", file, line);
		return 2;
	}
	printf("level 0 read %s\n", name);
	fflush(stdout); /* written before the fork */
	kid = fork();
	if (kid == 0) {
		grandkid = fork();
		if (grandkid == 0) {
			mark_out(dir, name, 2);
			nap.tv_sec = ms / 1000;
			nap.tv_nsec = (long)(ms % 1000) * 1000000L;
			nanosleep(&nap, NULL);
			say(2, name, 0);
			exit(3);
		}
		mark_out(dir, name, 1);
		st = grandkid < 0 ? -1 : reap(grandkid);
		say(1, name, st);
		exit(10 + st);
	}
	if (kid < 0) {
		perror("fork");
		return 98;
	}
	mark_out(dir, name, 0);
	st = reap(kid);
	say(0, name, st);
	return 0;
}

static int
chain_mode(const char *a, const char *dpath, const char *dir)
{
	char la[256], ld[256], path[4096];
	FILE *f;
	pid_t kid;
	int st;

	first_line(a, la, sizeof(la));
	kid = fork();
	if (kid < 0) {
		perror("fork");
		return 98;
	}
	if (kid == 0) {
		snprintf(path, sizeof(path), "%s/out-%d", dir, (int)getpid());
		f = fopen(path, "w");
		if (f == NULL || fprintf(f, "%s\n", la) < 0 || fclose(f) != 0) {
			perror(path);
			exit(97);
		}
		printf("child %d sees %s\n", (int)getpid(), la);
		exit(5);
	}
	st = reap(kid);
	first_line(dpath, ld, sizeof(ld));
	printf("parent %d a %s d %s fork %d status %d\n", (int)getpid(), la, ld, (int)kid, st);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "wait") == 0)
		return wait_mode(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "tree") == 0)
		return tree_mode(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[1], "chain") == 0)
		return chain_mode(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: prop_prog wait HOLD FILE MARK | prop_prog tree FILE DIR MARK | "
			"prop_prog chain A D DIR MARK\n");
	return 2;
}
