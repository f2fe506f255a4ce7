/*
 * spawner.c, a program for test_shim_exec.sh.
 * spawner DIR OUT PROG ARGS...: posix_spawnp with a chdir to DIR and
 * stdout opened on OUT as file actions.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc, st;
	posix_spawn_file_actions_init(&fa);
	if ((rc = posix_spawn_file_actions_addchdir_np(&fa, argv[1])) != 0 ||
	    (rc = posix_spawn_file_actions_addopen(&fa, 1, argv[2],
						   O_WRONLY | O_CREAT | O_TRUNC, 0644)) != 0) {
		fprintf(stderr, "spawner: file action: %s\n", strerror(rc));
		return 1;
	}
	rc = posix_spawnp(&pid, argv[3], &fa, NULL, argv + 3, environ);
	if (rc != 0) {
		fprintf(stderr, "spawner: %s: %s\n", argv[3], strerror(rc));
		return 1;
	}
	waitpid(pid, &st, 0);
	printf("spawner: status %d\n", WEXITSTATUS(st));
	return 0;
}
