/*
 * conn.c: a client's connection to specnfsd (see conn.h): finding and
 * starting the daemon, the HELLO, sending requests and reading replies.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/conn.h"

void
spn_conn_daemon_path(const struct spn_policy *p, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;

	if (spn_policy_source(p, "SPECNFS_DAEMON") != SPN_SRC_DEFAULT) {
		snprintf(buf, len, "%s", p->daemon_path);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			snprintf(buf, len, "%.*s/specnfsd", (int)(slash - self), self);
			if (access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, len, "%s", p->daemon_path);
}

/* Connect to c->sock and make sure that a daemon of our own uid answers:
 * the socket's directory is checked already, but a daemon of another user
 * must never be believed (it names the files we open). */
static int
try_connect(struct spn_conn *c, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cred);
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != getuid() && cred.uid != geteuid())) {
		snprintf(err, errlen, "the daemon at %s runs as uid %d, not as you (uid %d): "
			 "refusing to use it", c->sock, (int)cred.uid, (int)getuid());
		close(fd);
		return -EPERM;
	}
	c->fd = fd;
	return 0;
}

/* The last non-empty line of text (for a daemon's own words). */
static void
last_line(const char *text, char *out, size_t outlen)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	for (start = end; start > text && start[-1] != '\n'; start--)
		;
	snprintf(out, outlen, "%.*s", (int)(end - start), start);
}

/* The daemon's log's last line, when it died without a word. */
static void
log_tail(const struct spn_policy *p, char *out, size_t outlen)
{
	char path[PATH_MAX + 16], buf[4096];
	ssize_t n;
	off_t size;
	int fd;

	out[0] = '\0';
	if (p->log_file[0] != '\0')
		snprintf(path, sizeof(path), "%s", p->log_file);
	else if (spn_policy_socket_path(p, path, sizeof(path)) == 0)
		memcpy(path + strlen(path) - 5, ".log", 5);
	else
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(buf) - 1)
		lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	last_line(buf, out, outlen);
}

/*
 * Start specnfsd and wait until it is ready: its first process exits 0 only
 * once a daemon listens for this configuration (itself, detached, or one
 * that won the race for the lock and answered), 1 with its reason on
 * stderr otherwise. We hold its stderr on a pipe to quote that reason. The
 * wait is bounded (SPN_START_TIMEOUT_S): a daemon that loses the lock to
 * one shutting down waits up to its write-back grace for the lock.
 */
#define SPN_START_TIMEOUT_S 60
static int
start_daemon(const struct spn_policy *p, char *err, size_t errlen)
{
	char path[PATH_MAX], said[2048] = "", line[1024];
	size_t have = 0;
	int status = 0, pfd[2], done = 0;
	struct timespec t0, now;
	pid_t pid;

	spn_conn_daemon_path(p, path, sizeof(path));
	if (access(path, X_OK) < 0) {
		snprintf(err, errlen, "cannot start the daemon %s: %s (set SPECNFS_DAEMON)", path,
			 strerror(errno));
		return -ENOENT;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot start the daemon: pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the daemon: fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		/* The daemon serves the shim; it must not run under it. */
		unsetenv("LD_PRELOAD");
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			close(fd);
		}
		dup2(pfd[1], 2);
		/* Nothing else of the starter's: a pipe of a shell's $(...)
		 * kept open by the daemon never gives its reader EOF (a
		 * test hung in pyenv's python3 wrapper so). */
		close_range(3, ~0U, 0);
		execl(path, "specnfsd", (char *)NULL);
		/* Not _exit: the shim's would report the starter's files. */
		syscall(SYS_exit_group, 127);
	}
	close(pfd[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Read its stderr until EOF (its processes closed it: ready or gone),
	 * then reap it. */
	for (;;) {
		struct pollfd pl = { .fd = pfd[0], .events = POLLIN };
		ssize_t n;
		int left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = SPN_START_TIMEOUT_S * 1000 - (int)((now.tv_sec - t0.tv_sec) * 1000 +
							  (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		if (poll(&pl, 1, left > 200 ? 200 : left) < 0 && errno != EINTR)
			break;
		if (pl.revents) {
			n = read(pfd[0], said + have, sizeof(said) - 1 - have);
			if (n > 0) {
				have += (size_t)n;
				said[have] = '\0';
				if (have >= sizeof(said) - 1) {
					/* Keep the tail: the last line is the one. */
					memmove(said, said + have / 2, have - have / 2 + 1);
					have -= have / 2;
				}
				continue;
			}
			if (n == 0 || (errno != EINTR && errno != EAGAIN))
				break;
		}
		/* A detached daemon that kept stderr (foreground logging)
		 * never gives EOF: its first process's exit is the answer. */
		if (waitpid(pid, &status, WNOHANG) == pid) {
			done = 1;
			break;
		}
	}
	close(pfd[0]);
	if (!done) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= SPN_START_TIMEOUT_S &&
		    waitpid(pid, &status, WNOHANG) != pid) {
			kill(pid, SIGTERM);
			waitpid(pid, &status, 0);
			snprintf(err, errlen, "the daemon %s did not get ready within %d s", path,
				 SPN_START_TIMEOUT_S);
			return -ETIMEDOUT;
		}
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				snprintf(err, errlen, "cannot start the daemon: %s",
					 strerror(errno));
				return -errno;
			}
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		last_line(said, line, sizeof(line));
		if (line[0] == '\0')
			log_tail(p, line, sizeof(line));
		snprintf(err, errlen, "the daemon %s failed to start (exit %d): %s", path,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			 line[0] ? line : "it said nothing");
		return -EIO;
	}
	return 0;
}

/* A HELLO: does the daemon on c speak our protocol version? */
static int
hello(struct spn_conn *c)
{
	struct spn_req req;
	struct spn_reply rep;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int rc;

	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_HELLO;
	req.pid = (uint32_t)getpid();
	req.uid = (uint32_t)getuid();
	snprintf(req.name, sizeof(req.name), "client");
	rc = spn_conn_call(c, &req, &rep);
	if (rc == -EPROTONOSUPPORT) {
		c->stale_pid = 0;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			c->stale_pid = cred.pid;
	}
	return rc;
}

/* SIGTERM the stale daemon and wait (10 s at most) until it is gone. */
static int
stop_stale(pid_t pid)
{
	int i;

	if (pid <= 0 || kill(pid, SIGTERM) < 0)
		return -ESRCH;
	for (i = 0; i < 500; i++) {
		struct timespec ts = { 0, 20 * 1000000 };

		if (kill(pid, 0) < 0 && errno == ESRCH)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static int open_once(struct spn_conn *c, const struct spn_policy *p, int autostart, char *err,
		     size_t errlen);

int
spn_conn_open(struct spn_conn *c, const struct spn_policy *p, int autostart, char *err,
	      size_t errlen)
{
	int rc, tries;
	pid_t pid;

	for (tries = 0;; tries++) {
		rc = open_once(c, p, autostart, err, errlen);
		if (rc < 0)
			return rc;
		rc = hello(c);
		/* A daemon killed as we connected (the kernel still queued our
		 * connect on its socket) hangs up at once: start over, which
		 * starts a new daemon, instead of failing the first call. */
		if ((rc == -ECONNRESET || rc == -EPIPE) && autostart && tries < 3) {
			struct timespec ts = { 0, 20 * 1000000 };

			spn_conn_close(c);
			nanosleep(&ts, NULL);
			continue;
		}
		break;
	}
	if (rc != -EPROTONOSUPPORT)
		return 0; /* anything else shows on the first real call */
	pid = c->stale_pid;
	spn_conn_close(c);
	if (!autostart) {
		snprintf(err, errlen, "the running daemon (pid %d) speaks another protocol "
			 "version than this specnfs (%d): stop it with 'specnfs stop'",
			 (int)pid, SPN_PROTO_VERSION);
		c->stale_pid = pid;
		return -EPROTONOSUPPORT;
	}
	fprintf(stderr, "specnfs: the running daemon (pid %d) speaks another protocol "
			"version: stopping it (it writes back what it holds) and starting "
			"this version's\n", (int)pid);
	if (stop_stale(pid) < 0) {
		snprintf(err, errlen, "the running daemon (pid %d) speaks another protocol "
			 "version and does not stop", (int)pid);
		return -EPROTONOSUPPORT;
	}
	rc = open_once(c, p, autostart, err, errlen);
	if (rc == 0 && hello(c) == -EPROTONOSUPPORT) {
		spn_conn_close(c);
		snprintf(err, errlen, "the daemon %s speaks another protocol version than "
			 "this specnfs (%d): reinstall them together", c->sock,
			 SPN_PROTO_VERSION);
		return -EPROTONOSUPPORT;
	}
	return rc;
}

/* SIGTERM the daemon c->stale_pid names (after -EPROTONOSUPPORT). */
int
spn_conn_stop_stale(struct spn_conn *c)
{
	return stop_stale(c->stale_pid);
}

/*
 * try_connect, unless another user made the runtime directory (with
 * cache_too, or the cache directory) first: it is /tmp/specnfs-UID
 * without XDG_RUNTIME_DIR. Never talk to a socket there, nor start a
 * daemon for it: -EPERM, with err.
 */
static int
connect_checked(struct spn_conn *c, const struct spn_policy *p, int cache_too, char *err,
		size_t errlen)
{
	if (spn_policy_check_dir("runtime directory", p->runtime_dir, err, errlen) == -EPERM ||
	    (cache_too &&
	     spn_policy_check_dir("cache directory", p->cache_dir, err, errlen) == -EPERM))
		return -EPERM;
	return try_connect(c, err, errlen);
}

static int
open_once(struct spn_conn *c, const struct spn_policy *p, int autostart, char *err,
	  size_t errlen)
{
	unsigned char *keep = c->buf_static ? c->buf : NULL;
	int rc, i;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->buf = keep;
	c->buf_static = keep != NULL;
	if (spn_policy_socket_path(p, c->sock, sizeof(c->sock)) < 0) {
		snprintf(err, errlen, "socket path under %s is too long (set SPECNFS_RUNTIME_DIR)",
			 p->runtime_dir);
		return -ENAMETOOLONG;
	}
	if (c->buf == NULL)
		c->buf = malloc(SPN_MSG_MAX);
	if (c->buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = connect_checked(c, p, 1, err, errlen);
	if (rc == 0 || rc == -EPERM)
		goto out;
	if (!autostart || (rc != -ENOENT && rc != -ECONNREFUSED)) {
		snprintf(err, errlen, "cannot reach the daemon at %s: %s", c->sock, strerror(-rc));
		goto fail;
	}
	/* Started means ready: a daemon answers on the socket when this
	 * returns 0. A connect may still lose to one that stopped just then
	 * (idle exit): start again, a few times. */
	for (i = 0; i < 3; i++) {
		rc = start_daemon(p, err, errlen);
		if (rc < 0)
			goto fail;
		rc = connect_checked(c, p, 0, err, errlen);
		if (rc == 0 || rc == -EPERM)
			goto out;
	}
	snprintf(err, errlen, "the daemon started but %s does not answer: %s", c->sock,
		 strerror(-rc));
	goto fail;
out:
	if (rc == 0)
		return 0;
fail:
	if (!c->buf_static) {
		free(c->buf);
		c->buf = NULL;
	}
	return rc < 0 ? rc : -EIO;
}

void
spn_conn_close(struct spn_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (!c->buf_static) {
		free(c->buf);
		c->buf = NULL;
	}
}

/* One write of buf; with as, by sendmsg naming those ids. */
static ssize_t
send_some(struct spn_conn *c, const void *buf, size_t len, const struct ucred *as)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (as == NULL)
		return send(c->fd, buf, len, MSG_NOSIGNAL);
	memset(&u, 0, sizeof(u));
	mh.msg_control = u.b;
	mh.msg_controllen = sizeof(u.b);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_CREDENTIALS;
	cm->cmsg_len = CMSG_LEN(sizeof(struct ucred));
	memcpy(CMSG_DATA(cm), as, sizeof(*as));
	return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
}

int
spn_conn_send_as(struct spn_conn *c, struct spn_req *req,
		 const struct ucred *(*ids)(int refused))
{
	unsigned char buf[SPN_REQ_MAX];
	ssize_t n;
	size_t off = 0;
	int retried = 0;

	req->seq = ++c->seq;
	n = spn_proto_encode_req(req, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	while (off < (size_t)n) {
		ssize_t w = send_some(c, buf + off, (size_t)n - off, ids != NULL ? ids(0) : NULL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPERM && ids != NULL && !retried) {
				retried = 1;
				(void)ids(1);
				continue;
			}
			return -errno;
		}
		off += (size_t)w;
	}
	return 0;
}

int
spn_conn_send(struct spn_conn *c, struct spn_req *req)
{
	return spn_conn_send_as(c, req, NULL);
}

/* One read into c->buf; with fd, by recvmsg, keeping the first file
 * descriptor passed (SCM_RIGHTS) in *fd if it is < 0, closing others. */
static ssize_t
recv_some(struct spn_conn *c, int *fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = c->buf + c->have, .iov_len = SPN_MSG_MAX - c->have };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (fd == NULL)
		return recv(c->fd, iov.iov_base, iov.iov_len, 0);
	mh.msg_control = u.b;
	mh.msg_controllen = sizeof(u.b);
	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nfd; k++) {
			int one;

			memcpy(&one, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = one;
			else
				close(one);
		}
	}
	return n;
}

int
spn_conn_recv_fd(struct spn_conn *c, struct spn_reply *rep, int *fd)
{
	size_t need = 0;
	int rc;

	/* Drop the frame handed out last time. */
	for (;;) {
		ssize_t n;

		rc = spn_proto_frame_len(c->buf, c->have, &need);
		if (rc == 0 && c->have >= need)
			break;
		if (rc < 0 && rc != -EAGAIN)
			return rc;
		n = recv_some(c, fd);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c->have += (size_t)n;
	}
	rc = spn_proto_decode_reply(c->buf, need, rep);
	/* Text points into buf: copy it out of the way of the next frame by
	 * keeping this frame at the front until the next recv. */
	if (rc == 0 && rep->text != NULL) {
		static char text[SPN_TEXT_MAX];

		memcpy(text, rep->text, rep->text_len);
		rep->text = text;
	}
	memmove(c->buf, c->buf + need, c->have - need);
	c->have -= need;
	return rc;
}

int
spn_conn_recv(struct spn_conn *c, struct spn_reply *rep)
{
	return spn_conn_recv_fd(c, rep, NULL);
}

int
spn_conn_call(struct spn_conn *c, struct spn_req *req, struct spn_reply *rep)
{
	int rc = spn_conn_send(c, req);

	if (rc < 0)
		return rc;
	return spn_conn_recv(c, rep);
}

int
spn_conn_server_state(struct spn_conn *c, const struct spn_policy *p, const char *nfs, char *url,
		      size_t urllen, char *state, size_t statelen)
{
	struct spn_req req;
	struct spn_reply rep;
	const char *t, *end;
	int i, found = 0;

	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_STATUS;
	if (spn_conn_call(c, &req, &rep) < 0 || rep.text == NULL)
		return 0;
	for (t = rep.text, end = rep.text + rep.text_len; t < end && !found;) {
		const char *nl = memchr(t, '\n', (size_t)(end - t)), *colon;
		size_t len = nl ? (size_t)(nl - t) : (size_t)(end - t);

		for (i = 0; i < p->nmounts && !found; i++) {
			const struct spn_mount_cfg *m = &p->mounts[i];
			size_t pl = strlen(m->prefix);
			char head[SPN_PREFIX_MAX + 16];

			if (nfs != NULL && (strncmp(nfs, m->prefix, pl) != 0 ||
					    (nfs[pl] != '/' && nfs[pl] != '\0')))
				continue;
			snprintf(head, sizeof(head), "mount %s = ", m->prefix);
			if (len < strlen(head) || strncmp(t, head, strlen(head)) != 0)
				continue;
			colon = memmem(t, len, "): ", 3);
			if (colon == NULL)
				continue;
			colon += 3;
			if ((size_t)(t + len - colon) == 2 && strncmp(colon, "up", 2) == 0)
				continue;
			snprintf(url, urllen, "%s", m->url);
			snprintf(state, statelen, "%.*s", (int)(t + len - colon), colon);
			found = 1;
		}
		t += len + 1;
	}
	return found;
}

/* The settings the daemon acts on: a client's own values for these mean
 * nothing to a daemon that already runs with others. */
static const char *const daemon_settings[] = {
	"SPECNFS_CACHE_MAX", "SPECNFS_ACREGMIN", "SPECNFS_ACREGMAX", "SPECNFS_ACDIRMIN",
	"SPECNFS_ACDIRMAX", "SPECNFS_IDLE_TIMEOUT", "SPECNFS_RPC_TIMEOUT",
	"SPECNFS_CONNECT_TIMEOUT", "SPECNFS_MOUNT_MODE", "SPECNFS_TIMEO", "SPECNFS_LOG",
	"SPECNFS_LOG_FILE", NULL,
};

/* "NAME  value  (source)" from spn_policy_describe(): the value. */
static int
describe_value(const char *text, size_t len, const char *name, char *out, size_t outlen)
{
	const char *t = text, *end = text + len;
	size_t nl = strlen(name);

	while (t < end) {
		const char *eol = memchr(t, '\n', (size_t)(end - t));
		size_t ll = eol ? (size_t)(eol - t) : (size_t)(end - t);

		if (ll > nl && strncmp(t, name, nl) == 0 && t[nl] == ' ') {
			const char *v = t + nl, *ve = t + ll;

			while (v < ve && *v == ' ')
				v++;
			while (ve > v && ve[-1] != '(')
				ve--;
			if (ve > v)
				ve--;
			while (ve > v && ve[-1] == ' ')
				ve--;
			snprintf(out, outlen, "%.*s", (int)(ve - v), v);
			return 0;
		}
		t += ll + 1;
	}
	return -ENOENT;
}

int
spn_conn_warn_settings(struct spn_conn *c, const struct spn_policy *p)
{
	static char mine[SPN_TEXT_MAX];
	struct spn_req req;
	struct spn_reply rep;
	char a[512], b[512];
	int i, n, warned = 0;

	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_CONFIG;
	if (spn_conn_call(c, &req, &rep) < 0 || rep.status != 0 || rep.text == NULL)
		return 0;
	n = spn_policy_describe(p, mine, sizeof(mine));
	if (n < 0)
		return 0;
	for (i = 0; daemon_settings[i] != NULL; i++) {
		if (spn_policy_source(p, daemon_settings[i]) == SPN_SRC_DEFAULT)
			continue;
		if (describe_value(mine, (size_t)n, daemon_settings[i], a, sizeof(a)) < 0 ||
		    describe_value(rep.text, rep.text_len, daemon_settings[i], b, sizeof(b)) < 0 ||
		    strcmp(a, b) == 0)
			continue;
		fprintf(stderr, "specnfs: warning: %s=%s is not in effect: the daemon already "
			"running for these mounts (%s) uses %s; 'specnfs stop' it to change that\n",
			daemon_settings[i], a, c->sock, b);
		warned++;
	}
	return warned;
}
