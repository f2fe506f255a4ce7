/*
 * shim/call.c: the shim's calls to the daemon -- one blocking request and
 * reply (spn_call_raw; spec/speculate.c's spn_call wraps it), over one
 * connection per process, waited for like a kernel NFS call (hard mounts
 * say "not responding, still trying", the stop signals end the wait);
 * the request shorthands (spn_call_path, spn_req_init) and redirects.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/conn.h"
#include "client/shim/internal.h"

/*
 * One connection per process. fork() children close the inherited one (an
 * atfork handler) and open their own. A vfork child (vfork, posix_spawn,
 * system) shares our memory while we are suspended: it must not touch the
 * connection state we will see when we resume, so it talks to the daemon
 * over a temporary connection with everything on its stack.
 */
/* Static: a first connection may be opened in a signal handler (a
 * SIGCHLD handler's waitpid asks the daemon), where malloc is not safe. */
static unsigned char shim_conn_buf[SPN_MSG_MAX];
static struct spn_conn shim_conn = { .fd = -1, .buf = shim_conn_buf, .buf_static = 1 };
static pid_t shim_conn_pid;
static uint64_t shim_conn_serial;
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static dev_t shim_conn_dev;
static ino_t shim_conn_ino;

/*
 * The connection's fd lives at SPN_CONN_FD_MIN or above, out of the way of
 * the numbers programs pick (a shell's `exec 3>file`, dup2 onto 1 in a
 * child). A program may still close it and reuse the number, or dup2
 * onto it: before each use we check it is still our socket, and if not
 * we forget it (never closing the program's file) and connect again.
 * Otherwise our requests would go into the program's file or pipe (a
 * shell's $(...) read "SPNF..." once).
 */
#define SPN_CONN_FD_MIN 400

/* The directories (NFS paths) whose misses the daemon leased to the
 * connection numbered lease_serial: the newest SPN_LEASE_DIRS, leased
 * since lease_since (CLOCK_MONOTONIC, ns). A lease is used for so long
 * only: it keeps a speculation above undecided, so a process that only
 * reads then asks the daemon again, which ends it once that speculation
 * takes no more joins. */
#define SPN_LEASE_DIRS 8
#define SPN_LEASE_NS (1000 * 1000000LL)
static char lease_dir[SPN_LEASE_DIRS][SPN_PATH_MAX];
static unsigned lease_n, lease_next;
static uint64_t lease_serial;
static int64_t lease_since;
/* This process image has made a child: it takes no lease again. A lease
 * held while it waits for a child (or reads its pipe) could wait for ever
 * on that child, whose verdict the lease keeps undecided. */
static int lease_off;

static int64_t
lease_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Is the directory dir (an NFS path) leased? */
static int
lease_find(const char *dir)
{
	unsigned i;

	if (lease_serial != shim_conn_serial)
		return 0;
	for (i = 0; i < lease_n; i++)
		if (strcmp(lease_dir[i], dir) == 0)
			return 1;
	return 0;
}

int
spn_lease_has(const char *dir)
{
	if (dir == NULL)
		return lease_n > 0 && lease_serial == shim_conn_serial &&
		       lease_now() - lease_since < SPN_LEASE_NS;
	return lease_n > 0 && lease_find(dir);
}

/* After a reply on the connection: a lease of the directory whose listing
 * said req's name is not there -- its own, or the deepest one above it
 * that the mirror has (gcc's inc/bits/x.h where inc has no bits/). */
static void
lease_add(const struct spn_req *req)
{
	char dir[SPN_PATH_MAX];

	if (lease_off || !spn_mirror_dir_above(req->path, dir, sizeof(dir)) ||
	    (lease_serial == shim_conn_serial && lease_find(dir)))
		return;
	if (lease_serial != shim_conn_serial)
		lease_n = 0;
	if (lease_n == 0)
		lease_since = lease_now();
	lease_serial = shim_conn_serial;
	memcpy(lease_dir[lease_next], dir, strlen(dir) + 1);
	lease_next = (lease_next + 1) % SPN_LEASE_DIRS;
	if (lease_n < SPN_LEASE_DIRS)
		lease_n++;
}

static int
conn_fd_ours(void)
{
	struct stat st;

	return shim_conn.fd >= 0 && syscall(SYS_fstat, shim_conn.fd, &st) == 0 &&
	       S_ISSOCK(st.st_mode) && st.st_ino == shim_conn_ino && st.st_dev == shim_conn_dev;
}

static void
conn_fd_settle(void)
{
	struct stat st;
	long hi = syscall(SYS_fcntl, shim_conn.fd, F_DUPFD_CLOEXEC, SPN_CONN_FD_MIN);

	if (hi >= 0) {
		syscall(SYS_close, shim_conn.fd);
		shim_conn.fd = (int)hi;
	}
	if (syscall(SYS_fstat, shim_conn.fd, &st) == 0) {
		shim_conn_dev = st.st_dev;
		shim_conn_ino = st.st_ino;
	}
}

/* A fork() child: the inherited connection is the parent's. */
void
spn_call_atfork_child(void)
{
	if (conn_fd_ours())
		REAL(close)(shim_conn.fd);
	shim_conn.fd = -1;
	shim_conn.have = 0;
	shim_conn_pid = 0;
	lease_n = 0; /* the parent's connection's */
	lease_off = 0;
	pthread_mutex_init(&conn_lock, NULL);
	spn_cred_changed(); /* a new pid for SCM_CREDENTIALS */
}

/* Defence in depth: a mirror path from the daemon must lie under the
 * cache we expect (the daemon was checked to be ours; a path elsewhere
 * would make the program open a file that is not its NFS file). */
static int
mirror_reply_ok(const struct spn_req *req, const struct spn_reply *rep)
{
	const char *base = spn_shim_mirror_base();
	size_t n = strlen(base);

	if (rep->status != 0 || (req->op != SPN_OP_OPEN && req->op != SPN_OP_READDIR) ||
	    rep->path[0] == '\0')
		return 1;
	if (strncmp(rep->path, base, n) == 0 && rep->path[n] == '/' &&
	    strstr(rep->path + n, "/../") == NULL &&
	    strcmp(rep->path + strlen(rep->path) - 3, "/..") != 0)
		return 1;
	spn_shim_say("the daemon named a mirror path outside ", base, ": refused");
	return 0;
}

/* A connection of our own, raw syscalls only: the fd or -EIO. */
static int
temp_connect(void)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, spn_shim_socket(), sizeof(sa.sun_path) - 1);
	fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -EIO;
	if (syscall(SYS_connect, fd, &sa, sizeof(sa)) < 0) {
		syscall(SYS_close, fd);
		return -EIO;
	}
	return fd;
}

/* One request and its reply on fd: stack only, raw syscalls. */
static int
temp_exchange(int fd, struct spn_req *req, struct spn_reply *rep)
{
	unsigned char buf[SPN_PATH_MAX + 1024];
	size_t have = 0, need = 0;
	ssize_t n;
	int rc;

	req->seq++;
	n = spn_proto_encode_req(req, buf, sizeof(buf));
	if (n < 0 || syscall(SYS_sendto, fd, buf, (size_t)n, MSG_NOSIGNAL, NULL, 0) != n)
		return -EIO;
	for (;;) {
		rc = spn_proto_frame_len(buf, have, &need);
		if (rc == 0 && have >= need)
			break;
		if ((rc < 0 && rc != -EAGAIN) || need > sizeof(buf))
			return -EIO;
		n = syscall(SYS_recvfrom, fd, buf + have, sizeof(buf) - have, 0, NULL, NULL);
		if (n <= 0)
			return -EIO;
		have += (size_t)n;
	}
	rc = spn_proto_decode_reply(buf, need, rep);
	if (rc == 0 && !mirror_reply_ok(req, rep))
		return -EIO;
	return rc < 0 ? -EIO : rep->status;
}

/* The vfork child's call: stack only, raw syscalls, no global writes. */
static int
call_temporary(struct spn_req *req, struct spn_reply *rep)
{
	int fd = temp_connect(), rc;

	if (fd < 0)
		return fd;
	req->seq = 0;
	rc = temp_exchange(fd, req, rep);
	syscall(SYS_close, fd);
	return rc;
}

int
spn_call_on(int *fd, struct spn_req *req, struct spn_reply *rep)
{
	if (*fd < 0)
		*fd = temp_connect();
	if (*fd < 0)
		return -EIO;
	return temp_exchange(*fd, req, rep);
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
	struct spn_conn c = { .fd = -1 };
	char err[512];
	int rc;

	if (spn_conn_open(&c, spn_shim_policy(), 0, err, sizeof(err)) < 0)
		return 0;
	rc = spn_conn_server_state(&c, spn_shim_policy(), nfs, url, urllen, state, statelen);
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
	next_check = t0 + (int64_t)spn_shim_policy()->timeo * 1000;
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
			next_check = mono_ms() + (int64_t)spn_shim_policy()->timeo * 1000;
			if (spn_shim_policy()->mount_mode == SPN_MOUNT_HARD && !said &&
			    server_state(req->path[0] ? req->path : NULL, url, sizeof(url), state,
					 sizeof(state))) {
				char msg[SPN_URL_MAX + 320];

				snprintf(msg, sizeof(msg),
					 "server %s not responding (%s), still trying", url,
					 state);
				spn_shim_say(msg, NULL, NULL);
				said = told = 1;
			}
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	rc = cred ? spn_cred_recv(&shim_conn, rep) : spn_conn_recv(&shim_conn, rep);
	if (told && rc == 0) {
		said = 0;
		spn_shim_say("server ", url, " OK");
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
		 spn_shim_policy()->mount_mode == SPN_MOUNT_SOFT ? " (soft mount)" : "", url, state,
		 strerror(EIO));
	spn_shim_say(msg, NULL, NULL);
}

int
spn_call_raw(struct spn_req *req, struct spn_reply *rep)
{
	pid_t pid = (pid_t)syscall(SYS_getpid);
	char err[1024];
	int rc, tries;

	if (!spn_shim_ready())
		return -EIO;
	if (shim_conn.fd >= 0 && shim_conn_pid != pid &&
	    shim_conn_pid == (pid_t)syscall(SYS_getppid))
		return call_temporary(req, rep);

	spn_shim_busy++;
	pthread_mutex_lock(&conn_lock);
	for (tries = 0; tries < 2; tries++) {
		if (shim_conn.fd >= 0 && shim_conn_pid == pid && !conn_fd_ours()) {
			shim_conn.fd = -1; /* the program's now: not ours to close */
			shim_conn.have = 0;
		}
		if (shim_conn.fd < 0 || shim_conn_pid != pid) {
			/* A stale state left by a vfork child is not ours to
			 * close: just start over. */
			rc = spn_conn_open(&shim_conn, spn_shim_policy(), 1, err, sizeof(err));
			if (rc < 0) {
				shim_conn.fd = -1;
				pthread_mutex_unlock(&conn_lock);
				spn_shim_busy--;
				spn_shim_complain(err, rc);
				return -EIO;
			}
			conn_fd_settle();
			shim_conn_pid = pid;
			shim_conn_serial++;
		}
		if (!spn_spec_keeps_lease(req->spec))
			lease_n = 0; /* the daemon ends it at this request */
		rc = conn_call_waiting(req, rep);
		if (rc == 0 && (rep->spec & SPN_SPEC_PREDICTED) && !(rep->spec & SPN_SPEC_JOINED))
			lease_n = 0; /* no joining any more: the daemon ended it */
		if (rc == 0 && (rep->spec & SPN_SPEC_LEASE))
			lease_add(req);
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

void
spn_lease_drop(void)
{
	lease_off = 1;
	spn_lease_end();
}

void
spn_lease_end(void)
{
	struct spn_req req;
	struct spn_reply rep;

	if (lease_n == 0)
		return;
	if (lease_serial == shim_conn_serial) {
		spn_req_init(&req, SPN_OP_HELLO); /* any request but a joined read ends it */
		spn_call_raw(&req, &rep);
	}
	lease_n = 0;
}

int
spn_call_note(struct spn_req *req, const char *dir)
{
	pid_t pid = (pid_t)syscall(SYS_getpid);
	int rc = -1;

	if (!spn_shim_ready() || spn_cred_mode())
		return -1;
	spn_shim_busy++;
	pthread_mutex_lock(&conn_lock);
	if (shim_conn.fd >= 0 && shim_conn_pid == pid && lease_find(dir) && conn_fd_ours()) {
		req->spec |= SPN_SPEC_NOTE;
		rc = spn_conn_send(&shim_conn, req) < 0 ? -1 : 0;
		req->spec &= ~SPN_SPEC_NOTE;
		if (rc < 0) {
			/* Whatever reached the daemon is not a whole note:
			 * it drops us; start over on a new connection. */
			spn_conn_close(&shim_conn);
			shim_conn.fd = -1;
			lease_n = 0;
		}
	}
	pthread_mutex_unlock(&conn_lock);
	spn_shim_busy--;
	return rc;
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
	if (conn_fd_ours())
		REAL(close)(shim_conn.fd);
	shim_conn.fd = -1;
	shim_conn.have = 0;
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
