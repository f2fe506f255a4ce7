/*
 * shim/cred.c: the caller's ids on the daemon connection, open files
 * handed over by the daemon, and the set*id wrappers that change them.
 *
 * The daemon learns whom a request comes from from the kernel (SO_PASSCRED
 * puts pid, uid and gid on every message; see daemon/cred.c), not from us.
 * Without a control message the kernel sends our *real* ids. A process
 * whose effective ids differ (seteuid, or root that dropped only its
 * effective uid) names them in SCM_CREDENTIALS; the kernel accepts only ids
 * we hold. So the usual process (real == effective) sends exactly what it
 * always sent: the hot path does not change.
 *
 * A caller the daemon does not serve with its own rights ("foreign": any
 * uid but the daemon's and root) cannot open the daemon's private mirror
 * (0700 directories, 0600 files). The daemon answers its OPEN with the
 * mirror file already open, passed as SCM_RIGHTS, after the server said
 * the caller may (NFS ACCESS with the caller's ids): the fd carries the
 * rights the server granted, and no other file of the mirror is reachable.
 *
 * Our view of our own ids is cached and refreshed after every set*id call
 * that goes through libc. A raw set*id syscall leaves it stale: then we
 * send our real ids (the kernel's own default), or the kernel refuses
 * effective ids we no longer hold and we look again.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/conn.h"
#include "client/shim/internal.h"

static volatile int ids_gen = 1;  /* bumped by every set*id */
static int ids_seen;              /* ids_gen when ids_mode was computed */
static int ids_mode;              /* CRED_* */
static struct ucred ids_explicit; /* what SCM_CREDENTIALS names */
static __thread int passed_fd = -1;

#define CRED_EXPLICIT 1 /* effective ids differ from real ones: name them */
#define CRED_FOREIGN 2  /* the daemon passes open files (we cannot open its mirror) */

void
spn_cred_changed(void)
{
	__atomic_add_fetch(&ids_gen, 1, __ATOMIC_SEQ_CST);
}

/* 0 for the usual process: one load and one compare. */
int
spn_cred_mode(void)
{
	int gen = __atomic_load_n(&ids_gen, __ATOMIC_SEQ_CST);

	if (__builtin_expect(ids_seen == gen, 1))
		return ids_mode;
	{
		uid_t ru, eu, su;
		gid_t rg, eg, sg;
		struct stat st;
		int mode = 0;

		if (getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0) {
			if (ru != eu || rg != eg)
				mode |= CRED_EXPLICIT;
			ids_explicit.pid = (pid_t)syscall(SYS_getpid);
			ids_explicit.uid = eu;
			ids_explicit.gid = eg;
			/* The mirror's owner is the daemon's user; a cache we
			 * cannot even stat is not ours either. */
			if (eu != 0 && (REAL(fstatat)(AT_FDCWD, spn_shim_policy()->cache_dir, &st,
						      0) < 0 ||
					st.st_uid != eu))
				mode |= CRED_FOREIGN;
		}
		ids_mode = mode;
		ids_seen = gen;
		return mode;
	}
}

/* The ids a request names: ours if they differ from the real ones. After
 * a refusal our ids changed behind our back (a raw syscall): look again. */
static const struct ucred *
named_ids(int refused)
{
	if (refused) {
		spn_cred_changed();
		spn_cred_mode();
	}
	return (ids_mode & CRED_EXPLICIT) ? &ids_explicit : NULL;
}

int
spn_cred_send(struct spn_conn *c, struct spn_req *req)
{
	if (passed_fd >= 0) {
		REAL(close)(passed_fd);
		passed_fd = -1;
	}
	return spn_conn_send_as(c, req, named_ids);
}

int
spn_cred_recv(struct spn_conn *c, struct spn_reply *rep)
{
	return spn_conn_recv_fd(c, rep, &passed_fd);
}

int
spn_cred_take_fd(int flags)
{
	int fd = passed_fd;

	passed_fd = -1;
	if (fd >= 0 && !(flags & O_CLOEXEC))
		fcntl(fd, F_SETFD, 0);
	return fd;
}

/* ------------------------------------------------------------ set*id */

/* Every set*id that glibc offers: resolve an open epoch first (after the
 * change the process could not signal its checkpoint copy, and the kernel
 * would not send the copy its PDEATHSIG: spec/sud.c traps the raw syscalls
 * likewise), call it, then look at our ids again. */
#define CRED_WRAP(name, params, args)                                      \
	SPN_EXPORT int name params                                         \
	{                                                                  \
		int rc;                                                    \
                                                                           \
		spn_spec_barrier();                                        \
		rc = REAL(name) args;                                      \
		spn_cred_changed();                                        \
		return rc;                                                 \
	}

CRED_WRAP(setuid, (uid_t u), (u))
CRED_WRAP(setgid, (gid_t g), (g))
CRED_WRAP(seteuid, (uid_t u), (u))
CRED_WRAP(setegid, (gid_t g), (g))
CRED_WRAP(setreuid, (uid_t r, uid_t e), (r, e))
CRED_WRAP(setregid, (gid_t r, gid_t e), (r, e))
CRED_WRAP(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
CRED_WRAP(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
CRED_WRAP(setgroups, (size_t n, const gid_t *l), (n, l))
CRED_WRAP(initgroups, (const char *user, gid_t g), (user, g))
CRED_WRAP(setfsuid, (uid_t u), (u))
CRED_WRAP(setfsgid, (gid_t g), (g))
