/* client_conn.c: see client_conn.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_conn.h"

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

static int
try_connect(struct spn_conn *c)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	c->fd = fd;
	return 0;
}

/* Start specnfsd and wait for it: it detaches only once it listens, so its
 * exit status says whether it is up (0 also when another won the race). */
static int
start_daemon(const struct spn_policy *p, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int status;
	pid_t pid;

	spn_conn_daemon_path(p, path, sizeof(path));
	if (access(path, X_OK) < 0) {
		snprintf(err, errlen, "cannot start the daemon %s: %s (set SPECNFS_DAEMON)", path,
			 strerror(errno));
		return -ENOENT;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the daemon: fork: %s", strerror(errno));
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
		execl(path, "specnfsd", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "cannot start the daemon: %s", strerror(errno));
			return -errno;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "the daemon %s failed to start (exit %d); see its message "
			 "above or its log in %s", path,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			 p->runtime_dir);
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
	int rc = open_once(c, p, autostart, err, errlen);
	pid_t pid;

	if (rc == 0) {
		rc = hello(c);
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
	}
	return rc;
}

/* SIGTERM the daemon c->stale_pid names (after -EPROTONOSUPPORT). */
int
spn_conn_stop_stale(struct spn_conn *c)
{
	return stop_stale(c->stale_pid);
}

static int
open_once(struct spn_conn *c, const struct spn_policy *p, int autostart, char *err,
	  size_t errlen)
{
	int rc, i;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (spn_policy_socket_path(p, c->sock, sizeof(c->sock)) < 0) {
		snprintf(err, errlen, "socket path under %s is too long (set SPECNFS_RUNTIME_DIR)",
			 p->runtime_dir);
		return -ENAMETOOLONG;
	}
	c->buf = malloc(SPN_MSG_MAX);
	if (c->buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = try_connect(c);
	if (rc == 0)
		return 0;
	if (!autostart || (rc != -ENOENT && rc != -ECONNREFUSED)) {
		snprintf(err, errlen, "cannot reach the daemon at %s: %s", c->sock, strerror(-rc));
		goto fail;
	}
	rc = start_daemon(p, err, errlen);
	if (rc < 0)
		goto fail;
	for (i = 0; i < 100; i++) {
		struct timespec ts = { 0, 20 * 1000000 };

		rc = try_connect(c);
		if (rc == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	snprintf(err, errlen, "the daemon started but %s does not answer: %s", c->sock,
		 strerror(-rc));
fail:
	free(c->buf);
	c->buf = NULL;
	return rc < 0 ? rc : -EIO;
}

void
spn_conn_close(struct spn_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

int
spn_conn_send(struct spn_conn *c, struct spn_req *req)
{
	unsigned char buf[SPN_REQ_MAX];
	ssize_t n;
	size_t off = 0;

	req->seq = ++c->seq;
	n = spn_proto_encode_req(req, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	while (off < (size_t)n) {
		ssize_t w = send(c->fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)w;
	}
	return 0;
}

int
spn_conn_recv(struct spn_conn *c, struct spn_reply *rep)
{
	size_t need = 0;
	int rc;

	/* Drop the frame handed out last time. */
	for (;;) {
		rc = spn_proto_frame_len(c->buf, c->have, &need);
		if (rc == 0 && c->have >= need)
			break;
		if (rc < 0 && rc != -EAGAIN)
			return rc;
		{
			ssize_t n = recv(c->fd, c->buf + c->have, SPN_MSG_MAX - c->have, 0);

			if (n == 0)
				return -ECONNRESET;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			c->have += (size_t)n;
		}
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
spn_conn_call(struct spn_conn *c, struct spn_req *req, struct spn_reply *rep)
{
	int rc = spn_conn_send(c, req);

	if (rc < 0)
		return rc;
	return spn_conn_recv(c, rep);
}
