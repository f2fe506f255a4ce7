/*
 * vforker.c, a program for test_shim_exec.sh.
 * vforker FILE PROG ARGS...: gcc's way, vfork + execv, then the parent goes
 * on and reads FILE after the child, to see its shim state intact.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char line[256] = "";
	FILE *f;
	int st;
	pid_t pid = vfork();
	if (pid == 0) {
		execv(argv[2], argv + 2);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	f = fopen(argv[1], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		perror(argv[1]);
		return 1;
	}
	printf("vforker: status %d, %s", WEXITSTATUS(st), line);
	return 0;
}
