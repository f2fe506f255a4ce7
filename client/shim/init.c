/*
 * shim/init.c: the shim's plumbing -- real functions, the re-entrancy
 * guard, configuration, the daemon connection, the open-file table.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/conn.h"
#include "client/shim/internal.h"

__thread int spn_shim_busy;

/* ------------------------------------------------------------ configuration */

static struct spn_policy shim_pol;
static char shim_base[PATH_MAX];
static char shim_sock[108];
static int shim_state; /* 0 not loaded, 1 ready, -1 disabled */
static dev_t shim_mirror_dev;
static int shim_have_dev;
static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;

/* Write to stderr without stdio (safe anywhere, keeps errno). */
static void
say(const char *a, const char *b, const char *c)
{
	int saved = errno;
	const char *parts[] = { "specnfs: ", a, b, c, "\n" };
	size_t i;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i] != NULL && syscall(SYS_write, 2, parts[i], strlen(parts[i])) < 0)
			break;
	errno = saved;
}

/*
 * Loaded on first use, not in a constructor: wrapped calls arrive before
 * constructors run (from other libraries' constructors). Re-entrancy: the
 * loader runs with the guard up, so the libc calls it makes (fopen of the
 * config file, getenv) pass straight through.
 */
static void
load_config(void)
{
	char err[512];

	spn_shim_busy++;
	if (spn_policy_load(&shim_pol, NULL, err, sizeof(err)) < 0) {
		say("bad configuration, NFS paths are not served: ", err, NULL);
		shim_state = -1;
	} else if (shim_pol.nmounts == 0) {
		shim_state = -1;
	} else {
		snprintf(shim_base, sizeof(shim_base), "%s/%016llx", shim_pol.cache_dir,
			 (unsigned long long)spn_policy_hash(&shim_pol));
		spn_policy_socket_path(&shim_pol, shim_sock, sizeof(shim_sock));
		shim_state = 1;
		{
			struct stat st;

			/* The cache directory may not exist yet: then the
			 * daemon makes it, and we look again later. */
			if (REAL(fstatat)(AT_FDCWD, shim_pol.cache_dir, &st, 0) == 0) {
				shim_mirror_dev = st.st_dev;
				shim_have_dev = 1;
			}
		}
	}
	spn_shim_busy--;
}

int
spn_shim_ready(void)
{
	if (__builtin_expect(shim_state == 0, 0)) {
		pthread_mutex_lock(&shim_lock);
		if (shim_state == 0)
			load_config();
		pthread_mutex_unlock(&shim_lock);
	}
	return shim_state > 0;
}

int
spn_shim_maybe_mirror(const struct stat *st)
{
	if ((st->st_mode & 077) != 0 || st->st_uid != geteuid() || !spn_shim_ready())
		return 0;
	if (!shim_have_dev) {
		struct stat c;

		if (REAL(fstatat)(AT_FDCWD, shim_pol.cache_dir, &c, 0) < 0)
			return 0;
		shim_mirror_dev = c.st_dev;
		shim_have_dev = 1;
	}
	return st->st_dev == shim_mirror_dev;
}

const struct spn_policy *
spn_shim_policy(void)
{
	return &shim_pol;
}

const char *
spn_shim_mirror_base(void)
{
	return shim_base;
}

void
spn_shim_complain(const char *what, int err)
{
	static int said;

	if (said++)
		return;
	say(what, ": ", strerror(-err));
}

/* ------------------------------------------------------------ the daemon */

/*
 * One connection per process. fork() children close the inherited one (an
 * atfork handler) and open their own. A vfork child (vfork, posix_spawn,
 * system) shares our memory while we are suspended: it must not touch the
 * connection state we will see when we resume, so it talks to the daemon
 * over a temporary connection with everything on its stack.
 */
static struct spn_conn shim_conn = { .fd = -1 };
static pid_t shim_conn_pid;
static uint64_t shim_conn_serial;
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;

static void
atfork_child(void)
{
	if (shim_conn.fd >= 0)
		REAL(close)(shim_conn.fd);
	shim_conn.fd = -1;
	shim_conn.have = 0;
	shim_conn_pid = 0;
	pthread_mutex_init(&conn_lock, NULL);
	spn_cred_changed(); /* a new pid for SCM_CREDENTIALS */
}

static void fd_import(void);

__attribute__((constructor)) static void
shim_ctor(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
	fd_import();
}

/* Defence in depth: a mirror path from the daemon must lie under the
 * cache we expect (the daemon was checked to be ours; a path elsewhere
 * would make the program open a file that is not its NFS file). */
static int
mirror_reply_ok(const struct spn_req *req, const struct spn_reply *rep)
{
	size_t n = strlen(shim_base);

	if (rep->status != 0 || (req->op != SPN_OP_OPEN && req->op != SPN_OP_READDIR) ||
	    rep->path[0] == '\0')
		return 1;
	if (strncmp(rep->path, shim_base, n) == 0 && rep->path[n] == '/' &&
	    strstr(rep->path + n, "/../") == NULL &&
	    strcmp(rep->path + strlen(rep->path) - 3, "/..") != 0)
		return 1;
	say("the daemon named a mirror path outside ", shim_base, ": refused");
	return 0;
}

/* The vfork child's call: stack only, raw syscalls, no global writes. */
static int
call_temporary(struct spn_req *req, struct spn_reply *rep)
{
	unsigned char buf[SPN_PATH_MAX + 1024];
	struct sockaddr_un sa;
	size_t have = 0, need = 0;
	ssize_t n;
	int fd, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, shim_sock, sizeof(sa.sun_path) - 1);
	fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -EIO;
	if (syscall(SYS_connect, fd, &sa, sizeof(sa)) < 0)
		goto fail;
	req->seq = 1;
	n = spn_proto_encode_req(req, buf, sizeof(buf));
	if (n < 0 || syscall(SYS_sendto, fd, buf, (size_t)n, MSG_NOSIGNAL, NULL, 0) != n)
		goto fail;
	for (;;) {
		rc = spn_proto_frame_len(buf, have, &need);
		if (rc == 0 && have >= need)
			break;
		if ((rc < 0 && rc != -EAGAIN) || need > sizeof(buf))
			goto fail;
		n = syscall(SYS_recvfrom, fd, buf + have, sizeof(buf) - have, 0, NULL, NULL);
		if (n <= 0)
			goto fail;
		have += (size_t)n;
	}
	syscall(SYS_close, fd);
	rc = spn_proto_decode_reply(buf, need, rep);
	if (rc == 0 && !mirror_reply_ok(req, rep))
		return -EIO;
	return rc < 0 ? -EIO : rep->status;
fail:
	syscall(SYS_close, fd);
	return -EIO;
}

int
spn_in_vfork_child(void)
{
	return shim_conn.fd >= 0 && shim_conn_pid != (pid_t)syscall(SYS_getpid) &&
	       shim_conn_pid == (pid_t)syscall(SYS_getppid);
}

/* ------------------------------------------------------------ waiting */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The mount a request is for (its path's prefix; else the first one the
 * daemon reports down) and the daemon's word on its server: 1 with
 * "URL" and the state ("down: <cause>", "up, not responding") if it does
 * not answer, 0 if it is up. A STATUS over a second connection: only
 * asked when a request has waited timeo, or failed.
 */
static int
server_state(const char *nfs, char *url, size_t urllen, char *state, size_t statelen)
{
	struct spn_conn c;
	char err[512];
	int rc;

	if (spn_conn_open(&c, &shim_pol, 0, err, sizeof(err)) < 0)
		return 0;
	rc = spn_conn_server_state(&c, &shim_pol, nfs, url, urllen, state, statelen);
	spn_conn_close(&c);
	return rc;
}

/*
 * Send req and wait for its reply like a program on a kernel NFS mount:
 * for as long as it takes (the daemon ends a soft mount's waits), telling
 * the user once if the server stops answering (hard: "not responding, still
 * trying"), and ending the wait when the user wants out: SIGINT, SIGTERM,
 * SIGHUP or SIGQUIT, held back during the wait, is let through and the
 * call returns -EINTR (the daemon keeps any dirty data; the connection,
 * with a reply still owed on it, is dropped).
 */
static int
conn_call_waiting(struct spn_req *req, struct spn_reply *rep)
{
	static const int stop_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	static int said; /* once per process, like the kernel's message */
	char url[SPN_URL_MAX], state[256];
	int64_t t0, next_check;
	sigset_t block, old, pend;
	int rc, told = 0;
	size_t i;

	int cred = spn_cred_mode();

	rc = cred ? spn_cred_send(&shim_conn, req) : spn_conn_send(&shim_conn, req);
	if (rc < 0)
		return rc;
	sigemptyset(&block);
	for (i = 0; i < sizeof(stop_sigs) / sizeof(stop_sigs[0]); i++)
		sigaddset(&block, stop_sigs[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	t0 = mono_ms();
	next_check = t0 + (int64_t)shim_pol.timeo * 1000;
	for (;;) {
		struct pollfd pl = { .fd = shim_conn.fd, .events = POLLIN };
		int n = poll(&pl, 1, 250);

		if (n > 0 || (n < 0 && errno != EINTR))
			break;
		sigpending(&pend);
		for (i = 0; i < sizeof(stop_sigs) / sizeof(stop_sigs[0]); i++) {
			if (sigismember(&pend, stop_sigs[i]) && !sigismember(&old, stop_sigs[i])) {
				spn_conn_close(&shim_conn);
				shim_conn.fd = -1;
				pthread_sigmask(SIG_SETMASK, &old, NULL);
				return -EINTR;
			}
		}
		if (mono_ms() >= next_check) {
			next_check = mono_ms() + (int64_t)shim_pol.timeo * 1000;
			if (shim_pol.mount_mode == SPN_MOUNT_HARD && !said &&
			    server_state(req->path[0] ? req->path : NULL, url, sizeof(url), state,
					 sizeof(state))) {
				char msg[SPN_URL_MAX + 320];

				snprintf(msg, sizeof(msg), "server %s not responding (%s), still trying",
					 url, state);
				say(msg, NULL, NULL);
				said = told = 1;
			}
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	rc = cred ? spn_cred_recv(&shim_conn, rep) : spn_conn_recv(&shim_conn, rep);
	if (told && rc == 0) {
		said = 0;
		say("server ", url, " OK");
	}
	return rc;
}

/* A request failed with EIO: if its server is the cause, say which and
 * why (once per process: a cp of many files says it once). */
static void
explain_eio(const struct spn_req *req)
{
	static int said;
	char url[SPN_URL_MAX], state[256], msg[SPN_URL_MAX + 600];

	if (said || req->op == SPN_OP_HELLO)
		return;
	if (!server_state(req->path[0] ? req->path : NULL, url, sizeof(url), state, sizeof(state)))
		return;
	said = 1;
	snprintf(msg, sizeof(msg), "%s%s%s server %s not responding (%s): %s",
		 req->path[0] ? req->path : "", req->path[0] ? ":" : "",
		 shim_pol.mount_mode == SPN_MOUNT_SOFT ? " (soft mount)" : "", url, state,
		 strerror(EIO));
	say(msg, NULL, NULL);
}

int
spn_call_raw(struct spn_req *req, struct spn_reply *rep)
{
	pid_t pid = (pid_t)syscall(SYS_getpid);
	char err[1024];
	int rc, tries;

	if (!spn_shim_ready())
		return -EIO;
	if (shim_conn.fd >= 0 && shim_conn_pid != pid && shim_conn_pid == (pid_t)syscall(SYS_getppid))
		return call_temporary(req, rep);

	spn_shim_busy++;
	pthread_mutex_lock(&conn_lock);
	for (tries = 0; tries < 2; tries++) {
		if (shim_conn.fd < 0 || shim_conn_pid != pid) {
			/* A stale state left by a vfork child is not ours to
			 * close: just start over. */
			rc = spn_conn_open(&shim_conn, &shim_pol, 1, err, sizeof(err));
			if (rc < 0) {
				shim_conn.fd = -1;
				pthread_mutex_unlock(&conn_lock);
				spn_shim_busy--;
				spn_shim_complain(err, rc);
				return -EIO;
			}
			shim_conn_pid = pid;
			shim_conn_serial++;
		}
		rc = conn_call_waiting(req, rep);
		if (rc == 0 || rc == -EINTR)
			break;
		/* The daemon went away (restart, idle exit): reconnect once. */
		spn_conn_close(&shim_conn);
		shim_conn.fd = -1;
	}
	pthread_mutex_unlock(&conn_lock);
	spn_shim_busy--;
	if (rc == -EINTR)
		return rc;
	if (rc < 0) {
		spn_shim_complain("lost the specnfs daemon", rc);
		return -EIO;
	}
	if (!mirror_reply_ok(req, rep))
		return -EIO;
	if (rep->status == -EIO) {
		spn_shim_busy++;
		explain_eio(req);
		spn_shim_busy--;
	}
	return rep->status;
}

uint64_t
spn_conn_serial(void)
{
	return shim_conn_serial;
}

void
spn_conn_drop(void)
{
	spn_shim_busy++;
	pthread_mutex_lock(&conn_lock);
	if (shim_conn.fd >= 0)
		REAL(close)(shim_conn.fd);
	shim_conn.fd = -1;
	shim_conn.have = 0;
	free(shim_conn.buf);
	shim_conn.buf = NULL;
	shim_conn_pid = 0;
	pthread_mutex_unlock(&conn_lock);
	spn_shim_busy--;
}

static int
fill_path(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= SPN_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

void
spn_req_init(struct spn_req *req, uint16_t op)
{
	memset(req, 0, offsetof(struct spn_req, path));
	req->op = op;
	req->path[0] = req->path2[0] = req->name[0] = '\0';
}

/* The client path of the last reply that was a redirect (see proto.h). */
static __thread char redirect_to[PATH_MAX];

static int
note_redirect(int rc, const struct spn_reply *rep)
{
	redirect_to[0] = '\0';
	if (rc == -EXDEV && (rep->spec & SPN_SPEC_REDIRECT) && rep->path[0] == '/' &&
	    strlen(rep->path) < sizeof(redirect_to))
		memcpy(redirect_to, rep->path, strlen(rep->path) + 1);
	return rc;
}

int
spn_take_redirect(int rc, char *out, size_t len)
{
	size_t n = strlen(redirect_to);

	if (rc != -EXDEV || n == 0 || n >= len)
		return 0;
	memcpy(out, redirect_to, n + 1);
	redirect_to[0] = '\0';
	return 1;
}

int
spn_call_path(uint16_t op, const char *nfs, uint32_t flags, uint32_t mode, struct spn_reply *rep)
{
	struct spn_req req;
	int rc;

	spn_req_init(&req, op);
	req.flags = flags;
	req.mode = mode;
	rc = fill_path(req.path, nfs);
	if (rc < 0)
		return rc;
	return note_redirect(spn_call(&req, rep), rep);
}

int
spn_call_path2(uint16_t op, const char *nfs, const char *nfs2, struct spn_reply *rep)
{
	struct spn_req req;
	int rc;

	spn_req_init(&req, op);
	rc = fill_path(req.path, nfs);
	if (rc == 0)
		rc = fill_path(req.path2, nfs2);
	if (rc < 0)
		return rc;
	return note_redirect(spn_call(&req, rep), rep);
}

/* ------------------------------------------------------------ open files */

/*
 * Tracked fds: those opened for writing on the mirror. A small array
 * indexed by fd with the NFS path malloc'd (never in a vfork child: a
 * vfork child does not open files for writing through us).
 */
#define FD_TRACK_MAX 65536
static char *fd_paths[FD_TRACK_MAX];
static int fd_high = -1; /* highest tracked fd: scans stop there */
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

void
spn_fd_track(int fd, const char *nfs, int written)
{
	char *p, *old;

	if (fd < 0 || fd >= FD_TRACK_MAX || !written)
		return;
	spn_shim_busy++;
	p = strdup(nfs);
	pthread_mutex_lock(&fd_lock);
	old = fd_paths[fd];
	fd_paths[fd] = p;
	if (fd > fd_high)
		fd_high = fd;
	pthread_mutex_unlock(&fd_lock);
	free(old);
	spn_shim_busy--;
}

/* Another tracked fd (a dup) still names this file? Called locked. */
static int
shared_locked(const char *path)
{
	int i;

	for (i = 0; i <= fd_high; i++)
		if (fd_paths[i] != NULL && strcmp(fd_paths[i], path) == 0)
			return 1;
	return 0;
}

int
spn_fd_untrack(int fd, char *nfs, size_t len)
{
	char *p;
	int last;

	if (fd < 0 || fd >= FD_TRACK_MAX || fd_paths[fd] == NULL)
		return 0;
	pthread_mutex_lock(&fd_lock);
	p = fd_paths[fd];
	fd_paths[fd] = NULL;
	last = p != NULL && !shared_locked(p);
	pthread_mutex_unlock(&fd_lock);
	if (p == NULL)
		return 0;
	snprintf(nfs, len, "%s", p);
	spn_shim_busy++;
	free(p);
	spn_shim_busy--;
	/* Only the last close of a file's fds is the one to report. */
	return last;
}

void
spn_fd_dup(int oldfd, int newfd)
{
	char nfs[SPN_PATH_MAX];

	if (oldfd < 0 || oldfd >= FD_TRACK_MAX || newfd < 0 || fd_paths[oldfd] == NULL)
		return;
	pthread_mutex_lock(&fd_lock);
	if (fd_paths[oldfd] == NULL) {
		pthread_mutex_unlock(&fd_lock);
		return;
	}
	snprintf(nfs, sizeof(nfs), "%s", fd_paths[oldfd]);
	pthread_mutex_unlock(&fd_lock);
	spn_fd_track(newfd, nfs, 1);
}

/*
 * At exit, files still open for writing are closed by the kernel, which we
 * never see: report them now, while their content is complete, so that
 * close-to-open holds for `cmd > /nfs/file` too.
 */
__attribute__((destructor)) static void
shim_dtor(void)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int i;

	for (i = 0; i <= fd_high; i++) {
		if (fd_paths[i] == NULL)
			continue;
		snprintf(nfs, sizeof(nfs), "%s", fd_paths[i]);
		/* Forget every fd of this file, then report it once. */
		{
			int k;

			for (k = i; k <= fd_high; k++) {
				if (fd_paths[k] != NULL && strcmp(fd_paths[k], nfs) == 0) {
					free(fd_paths[k]);
					fd_paths[k] = NULL;
				}
			}
		}
		spn_call_path(SPN_OP_CLOSE, nfs, SPN_F_WRITTEN, 0, &rep);
	}
}

int
spn_fd_nfs_path(int fd, char *nfs, size_t len)
{
	char link[64], target[PATH_MAX];
	ssize_t n;

	if (fd >= 0 && fd < FD_TRACK_MAX && fd_paths[fd] != NULL) {
		pthread_mutex_lock(&fd_lock);
		if (fd_paths[fd] != NULL) {
			snprintf(nfs, len, "%s", fd_paths[fd]);
			pthread_mutex_unlock(&fd_lock);
			return 1;
		}
		pthread_mutex_unlock(&fd_lock);
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = REAL(readlinkat)(AT_FDCWD, link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return spn_mirror_to_nfs(target, nfs, len);
}

/*
 * Files open for writing survive exec as inherited fds (`cmd > /nfs/f`
 * runs cmd with fd 1 on the mirror). The exec wrappers pass the table on
 * in SPECNFS_FDS ("fd=nfs-path" lines) so that the new program reports its
 * last close, or its exit, like the one that opened them.
 */
size_t
spn_fd_env(char *buf, size_t len)
{
	static const char head[] = "SPECNFS_FDS=";
	size_t n = sizeof(head) - 1;
	int i;

	if (buf != NULL && len > n)
		memcpy(buf, head, n);
	for (i = 0; i <= fd_high; i++) {
		const char *p = fd_paths[i];
		char num[16];
		size_t pl, nl = 0;
		long fl;
		int v = i;

		if (p == NULL)
			continue;
		fl = syscall(SYS_fcntl, i, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;
		do {
			num[nl++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		pl = strlen(p);
		if (buf != NULL && n + nl + pl + 3 <= len) {
			size_t k;

			for (k = 0; k < nl; k++)
				buf[n + k] = num[nl - 1 - k];
			buf[n + nl] = '=';
			memcpy(buf + n + nl + 1, p, pl);
			buf[n + nl + 1 + pl] = '\n';
		}
		n += nl + pl + 2;
	}
	if (buf != NULL && n < len)
		buf[n] = '\0';
	return n + 1;
}

static void
fd_import(void)
{
	const char *v = getenv("SPECNFS_FDS");

	if (v == NULL || *v == '\0')
		return;
	spn_shim_busy++;
	while (*v != '\0') {
		const char *nl = strchr(v, '\n'), *eq = strchr(v, '=');
		char path[SPN_PATH_MAX], now[SPN_PATH_MAX];
		size_t len;
		int fd;

		if (nl == NULL)
			nl = v + strlen(v);
		if (eq == NULL || eq > nl)
			break;
		fd = atoi(v);
		len = (size_t)(nl - eq - 1);
		if (len < sizeof(path)) {
			memcpy(path, eq + 1, len);
			path[len] = '\0';
			spn_shim_busy--;
			/* Only if the fd still is that file's mirror copy. */
			if (spn_shim_ready() && spn_fd_nfs_path(fd, now, sizeof(now)) == 1 &&
			    strcmp(now, path) == 0)
				spn_fd_track(fd, path, 1);
			spn_shim_busy++;
		}
		v = *nl ? nl + 1 : nl;
	}
	spn_shim_busy--;
}
