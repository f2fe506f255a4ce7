/*
 * shim/wait.c: the wait family. A child that was speculative when it
 * exited may have exited without waiting for its verdict (exits across
 * processes, spec/speculate.c): after every reap of an exited or killed
 * child the shim asks the daemon (spn_spec_reaped), which may make this
 * process run ahead on that status or wait for the child's true one.
 *
 * The kernel is asked through the raw syscalls, as glibc does: these run
 * from SIGCHLD handlers too, where a first dlsym would not be safe.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/shim/internal.h"

/*
 * A speculative process waits without resolving first (what it reaps is
 * looked at after: spn_spec_reaped), with every signal held meanwhile:
 * a handler running now would run with its output let through. The
 * child's exit, a ^C to the group, ends the wait as before; a signal sent
 * to this process alone is handled when the wait returns.
 */
static long
wait_sys(long nr, long a, long b, long c, long d, long e)
{
	uint64_t all = ~0ULL, old;
	long r;
	int held = spn_spec_wait_begin();

	if (held)
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(old));
	r = syscall(nr, a, b, c, d, e);
	if (held) {
		int saved = errno;

		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(old));
		spn_spec_wait_end();
		errno = saved;
	}
	return r;
}

static pid_t
reap4(pid_t pid, int *status, int options, struct rusage *ru)
{
	int s = 0;
	long r = wait_sys(SYS_wait4, pid, (long)&s, options, (long)ru, 0);

	if (r > 0 && (WIFEXITED(s) || WIFSIGNALED(s))) {
		int saved = errno;

		spn_spec_reaped((pid_t)r, &s, !!(options & WNOHANG));
		errno = saved;
	}
	if (r > 0 && status != NULL)
		*status = s;
	return (pid_t)r;
}

SPN_EXPORT pid_t
wait(int *status)
{
	return reap4(-1, status, 0, NULL);
}

SPN_EXPORT pid_t
waitpid(pid_t pid, int *status, int options)
{
	return reap4(pid, status, options, NULL);
}

SPN_EXPORT pid_t
wait3(int *status, int options, struct rusage *ru)
{
	return reap4(-1, status, options, ru);
}

SPN_EXPORT pid_t
wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
	return reap4(pid, status, options, ru);
}

SPN_EXPORT int
waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	long r = wait_sys(SYS_waitid, idtype, (long)id, (long)info, options, 0);
	int s, saved;

	if (r != 0 || info == NULL || info->si_pid <= 0)
		return (int)r;
	switch (info->si_code) {
	case CLD_EXITED:
		s = (info->si_status & 0xff) << 8;
		break;
	case CLD_KILLED:
		s = info->si_status & 0x7f;
		break;
	case CLD_DUMPED:
		s = (info->si_status & 0x7f) | 0x80;
		break;
	default:
		return 0;
	}
	saved = errno;
	spn_spec_reaped(info->si_pid, &s, !!(options & WNOHANG));
	errno = saved;
	if (WIFEXITED(s)) {
		info->si_code = CLD_EXITED;
		info->si_status = WEXITSTATUS(s);
	} else {
		info->si_code = WCOREDUMP(s) ? CLD_DUMPED : CLD_KILLED;
		info->si_status = WTERMSIG(s);
	}
	return 0;
}
