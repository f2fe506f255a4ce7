/*
 * daemon/main.c: specnfsd -- start-up, the socket, the poll loop and the
 * life cycle (lock, idle exit, clean shutdown, reconnect with backoff).
 * Requests read here go to spn_job_start() (daemon/dispatch.c); the map of
 * the daemon's files is client/daemon/README.md.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"

#define MAX_CLIENTS 4096
#define SHUTDOWN_GRACE_S 30

static const char usage[] =
	"usage: specnfsd [--foreground] [--debug] [--log-file FILE]\n"
	"\n"
	"The specnfs cache daemon: one per user and mount configuration. It holds\n"
	"the NFS sessions (libnfs) and the local mirror of the NFS tree that the\n"
	"shim (libspecnfs.so) and the specnfs command use. It is started on demand\n"
	"by them; you rarely start it by hand.\n"
	"\n"
	"  -f, --foreground  stay in the foreground (default: detach once ready)\n"
	"  -d, --debug       foreground, log level 3 (debug) to stderr\n"
	"  -l, --log-file F  log to F (default: <runtime dir>/<id>.log when detached)\n"
	"  -h, --help        this text\n"
	"  -V, --version     print the version\n"
	"\n"
	"Configuration comes from SPECNFS_* variables and the config file; run\n"
	"'specnfs config' to see the values in effect. Signals: SIGTERM/SIGINT\n"
	"write back everything dirty (up to 30 s) and exit.\n";

static struct spn_daemon daemon_state;

/* ------------------------------------------------------------ clients */

void
spn_client_unref(struct spn_daemon *d, struct spn_client *cl)
{
	if (--cl->refs > 0 || !cl->dead)
		return;
	free(cl->in);
	free(cl->out);
	free(cl);
}

static void
client_close(struct spn_daemon *d, struct spn_client *cl)
{
	struct spn_client **pp;

	for (pp = &d->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	close(cl->fd);
	cl->fd = -1;
	cl->dead = 1;
	spn_seal_client_gone(d, cl);
	d->nclients--;
	if (d->nclients == 0)
		d->idle_since_ns = spn_mono_ns();
	spn_client_unref(d, cl); /* the connection's own reference */
}

static int
buf_reserve(unsigned char **buf, size_t *cap, size_t need)
{
	unsigned char *p;
	size_t ncap = *cap ? *cap : 4096;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*buf, ncap);
	if (p == NULL)
		return -ENOMEM;
	*buf = p;
	*cap = ncap;
	return 0;
}

static void
client_flush(struct spn_daemon *d, struct spn_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			client_close(d, cl);
			return;
		}
		cl->out_off += (size_t)n;
	}
	cl->out_off = cl->out_len = 0;
}

void
spn_client_send(struct spn_daemon *d, struct spn_client *cl, const void *buf, size_t len)
{
	if (cl->dead)
		return;
	if (buf_reserve(&cl->out, &cl->out_cap, cl->out_len + len) < 0) {
		spn_err("client %d: out of memory for replies: disconnecting", (int)cl->pid);
		client_close(d, cl);
		return;
	}
	memcpy(cl->out + cl->out_len, buf, len);
	cl->out_len += len;
	client_flush(d, cl);
}

/* Answer a request we could not decode, then decide whether the stream
 * can go on (a bad field can; bad framing cannot). */
static void
reply_error(struct spn_daemon *d, struct spn_client *cl, uint16_t op, uint32_t seq, int status)
{
	struct spn_reply r;
	unsigned char buf[64];
	ssize_t n;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.seq = seq;
	r.status = status;
	n = spn_proto_encode_reply(&r, buf, sizeof(buf));
	if (n > 0)
		spn_client_send(d, cl, buf, (size_t)n);
}

static void
client_read(struct spn_daemon *d, struct spn_client *cl)
{
	static struct spn_req req;
	size_t off = 0;

	int more = 1;

again:
	/* One read at a time: the kernel never merges messages with other
	 * credentials into one, and a request takes the credentials of the
	 * read that completed it (daemon/cred.c). */
	{
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(struct ucred))];
		} u;
		struct iovec iov;
		struct msghdr mh;
		struct cmsghdr *cm;
		const struct ucred *uc = NULL;
		ssize_t n;

		if (buf_reserve(&cl->in, &cl->in_cap, cl->in_len + 16384) < 0) {
			client_close(d, cl);
			return;
		}
		iov.iov_base = cl->in + cl->in_len;
		iov.iov_len = cl->in_cap - cl->in_len;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.b;
		mh.msg_controllen = sizeof(u.b);
		n = recvmsg(cl->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == 0) {
			client_close(d, cl);
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				client_close(d, cl);
			return;
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS)
				uc = (const struct ucred *)CMSG_DATA(cm);
		if (spn_cred_from_msg(d, cl, uc) < 0)
			spn_info("client pid %d: cannot read the sender's ids: requests refused",
				 (int)cl->pid);
		cl->in_len += (size_t)n;
		more = (size_t)n == iov.iov_len;
	}
	off = 0;
	while (!cl->dead) {
		size_t need;
		int rc = spn_proto_frame_len(cl->in + off, cl->in_len - off, &need);

		if (rc == -EAGAIN || (rc == 0 && cl->in_len - off < need))
			break;
		if (rc < 0) {
			struct spn_hdr h;

			/* Framing is lost: answer what we can and hang up. */
			spn_err("client pid %d: bad message (%s): disconnecting", (int)cl->pid,
				strerror(-rc));
			if (spn_proto_decode_hdr(cl->in + off, cl->in_len - off, &h) == 0 &&
			    h.magic == SPN_PROTO_MAGIC)
				reply_error(d, cl, h.op & ~SPN_OP_REPLY, h.seq, rc);
			client_close(d, cl);
			return;
		}
		rc = spn_proto_decode_req(cl->in + off, need, &req);
		off += need;
		if (rc < 0) {
			spn_info("client pid %d: rejected %s request: %s", (int)cl->pid,
				 spn_proto_op_name(req.op) ?: "unknown", strerror(-rc));
			reply_error(d, cl, req.op, req.seq, rc);
			continue;
		}
		spn_job_start(d, cl, &req);
	}
	if (cl->dead)
		return;
	memmove(cl->in, cl->in + off, cl->in_len - off);
	cl->in_len -= off;
	if (more)
		goto again;
}

static void
client_accept(struct spn_daemon *d)
{
	for (;;) {
		struct spn_client *cl;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of fds: refuse the one waiting (a spare fd
				 * makes room to accept and close it) rather than
				 * spin on a listen socket that stays readable. */
				static int said;

				if (!said++)
					spn_err("accept: %s: refusing clients until some leave",
						strerror(errno));
				if (d->spare_fd >= 0) {
					close(d->spare_fd);
					fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
					if (fd >= 0)
						close(fd);
					d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
					continue;
				}
			}
			return;
		}
		/* The socket's directory is 0700 already; SO_PEERCRED makes
		 * sure even so that only our own user is served. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != getuid() && cred.uid != 0)) {
			spn_err("refusing a connection from uid %d", (int)cred.uid);
			close(fd);
			continue;
		}
		if (d->nclients >= MAX_CLIENTS) {
			spn_err("too many clients (%d): refusing pid %d", d->nclients,
				(int)cred.pid);
			close(fd);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (cl == NULL) {
			close(fd);
			continue;
		}
		/* Credentials on every message: a process may change its ids
		 * after it connected (daemon/cred.c). */
		{
			int one = 1;

			if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
				close(fd);
				free(cl);
				continue;
			}
		}
		cl->fd = fd;
		cl->pid = cred.pid;
		cl->uid = cred.uid;
		cl->gid = cred.gid;
		cl->refs = 1;
		cl->next = d->clients;
		d->clients = cl;
		d->nclients++;
	}
}

/* ------------------------------------------------------------ mounts */

static void
mount_connected(int err, struct spn_nfs_res *res, void *arg)
{
	struct spn_mount *m = arg;
	struct spn_daemon *d = &daemon_state;

	m->connecting = 0;
	if (err < 0) {
		m->backoff_s = m->backoff_s ? (m->backoff_s * 2 > 30 ? 30 : m->backoff_s * 2) : 1;
		m->retry_at_ns = spn_mono_ns() + (int64_t)m->backoff_s * 1000000000LL;
		spn_err("mount %s (%s): %s; retrying in %d s", m->prefix, m->url,
			res && res->errmsg ? res->errmsg : strerror(-err), m->backoff_s);
		spn_mount_failed(d, m);
		return;
	}
	spn_info("mount %s: connected to %s (NFSv%d)", m->prefix, m->url, spn_nfs_version(m->nfs));
	m->backoff_s = 0;
	m->retry_at_ns = 0;
	spn_mount_up(d, m);
}

static void
mount_maybe_connect(struct spn_daemon *d, struct spn_mount *m)
{
	int rc;

	if (m->connecting || spn_nfs_state(m->nfs) == SPN_NFS_UP)
		return;
	if (m->waiting == NULL && m->retry_at_ns == 0 && spn_daemon_busy(d) == 0 &&
	    spn_nfs_stats(m->nfs)->calls[SPN_CALL_MOUNT] > 0)
		return; /* nobody needs it: reconnect on demand */
	if (spn_mono_ns() < m->retry_at_ns)
		return;
	m->connecting = 1;
	rc = spn_nfs_connect(m->nfs, mount_connected, m);
	if (rc < 0) {
		m->connecting = 0;
		m->backoff_s = 30;
		m->retry_at_ns = spn_mono_ns() + 30000000000LL;
		spn_err("mount %s: %s", m->prefix, spn_nfs_error(m->nfs));
		spn_mount_failed(d, m);
	}
}

/* ------------------------------------------------------------ set-up */

static int
mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	char *p;
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

/* The runtime and cache directories, made with their parents: ours and
 * 0700, or refused (lstat: a symlink planted there is refused too).
 * Another user who made /tmp/specnfs-UID first must not get our socket
 * or our mirror. */
static int
mkdir_private(const char *what, const char *path, char *err, size_t errlen)
{
	int rc = mkdir_p(path);

	if (rc < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-rc));
		return rc;
	}
	rc = spn_policy_check_dir(what, path, err, errlen);
	if (rc < 0 && rc != -EPERM)
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-rc));
	return rc;
}

static int
setup_paths(struct spn_daemon *d, char *err, size_t errlen)
{
	uint64_t h = spn_policy_hash(&d->pol);
	int rc, i;

	rc = mkdir_private("runtime directory", d->pol.runtime_dir, err, errlen);
	if (rc < 0)
		return rc;
	/* The same name the clients compute. */
	spn_policy_socket_path(&d->pol, d->sock_path, sizeof(d->sock_path));
	snprintf(d->lock_path, sizeof(d->lock_path), "%s/%016llx.lock", d->pol.runtime_dir,
		 (unsigned long long)h);
	if (strlen(d->sock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "socket path %s is too long (set SPECNFS_RUNTIME_DIR)",
			 d->sock_path);
		return -ENAMETOOLONG;
	}
	snprintf(d->base, sizeof(d->base), "%s/%016llx", d->pol.cache_dir, (unsigned long long)h);
	snprintf(d->tmpdir, sizeof(d->tmpdir), "%s/tmp", d->base);
	/* The cache directory first: nothing is made inside one that is not
	 * ours. */
	rc = mkdir_private("cache directory", d->pol.cache_dir, err, errlen);
	if (rc < 0)
		return rc;
	rc = mkdir_p(d->tmpdir);
	if (rc < 0) {
		snprintf(err, errlen, "cache directory %s: %s", d->base, strerror(-rc));
		return rc;
	}
	for (i = 0; i < d->nmounts; i++) {
		snprintf(d->mounts[i].mirror, sizeof(d->mounts[i].mirror), "%s/m%d", d->base, i);
		rc = mkdir_p(d->mounts[i].mirror);
		if (rc == 0)
			rc = spn_mirror_open_root(&d->mounts[i]);
		if (rc < 0) {
			snprintf(err, errlen, "mirror %s: %s", d->mounts[i].mirror, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* One daemon per configuration: an flock on the lock file. */
static int
take_lock(struct spn_daemon *d, char *err, size_t errlen)
{
	char buf[32];
	int fd = open(d->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", d->lock_path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "already running for this configuration (pid %s)",
			 buf[0] ? buf : "?");
		close(fd);
		return -EEXIST;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

		if (pwrite(fd, buf, (size_t)n, 0) < 0) {
			/* The pid is informative only. */
		}
	}
	d->lock_fd = fd;
	return 0;
}

/* Lost the lock: 1 once the holder answers on the socket, 0 once we hold
 * the lock after all (the holder exited), -ETIMEDOUT after the holder's
 * longest shutdown and some. */
#define HOLDER_WAIT_S (SHUTDOWN_GRACE_S + 15)
static int
wait_for_holder(struct spn_daemon *d, char *err, size_t errlen)
{
	char holder[256];
	int64_t until = spn_mono_ns() + HOLDER_WAIT_S * 1000000000LL;
	struct sockaddr_un sa;

	snprintf(holder, sizeof(holder), "%s", err);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock_path);
	while (spn_mono_ns() < until) {
		struct timespec ts = { 0, 20 * 1000000 };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int rc;

		if (fd >= 0) {
			rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
			close(fd);
			if (rc == 0)
				return 1;
		}
		rc = take_lock(d, err, errlen);
		if (rc == 0)
			return 0;
		if (rc != -EEXIST)
			return rc;
		nanosleep(&ts, NULL);
	}
	snprintf(err, errlen, "another daemon holds %s (%s) but has not answered on %s for %d s",
		 d->lock_path, holder, d->sock_path, HOLDER_WAIT_S);
	return -ETIMEDOUT;
}

static int
open_socket(struct spn_daemon *d, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err;
	/* We hold the lock: any socket file left is a dead daemon's. */
	unlink(d->sock_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(d->sock_path, 0700) < 0 ||
	    listen(fd, SOMAXCONN) < 0)
		goto err;
	d->listen_fd = fd;
	return 0;
err:
	snprintf(err, errlen, "cannot listen on %s: %s", d->sock_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -errno;
}

/* ------------------------------------------------------------ loop */

static int
run_loop(struct spn_daemon *d)
{
	struct pollfd *pfd = NULL;
	struct spn_client **pcl = NULL;
	size_t cap = 0;
	int64_t stop_deadline = 0, last_sweep = 0, last_flush = 0;

	d->idle_since_ns = spn_mono_ns();
	for (;;) {
		struct spn_client *cl;
		size_t n = 0, i, ncl;
		int64_t now = spn_mono_ns();
		int timeout = 100; /* libnfs timeouts need a tick */
		int mi;

		if (d->stopping) {
			if (stop_deadline == 0) {
				stop_deadline = now + SHUTDOWN_GRACE_S * 1000000000LL;
				if (d->listen_fd >= 0) {
					close(d->listen_fd);
					d->listen_fd = -1;
					unlink(d->sock_path);
				}
			}
			if (d->wbs == NULL) {
				spn_info("everything written back: exiting");
				break;
			}
			if (now > stop_deadline) {
				spn_err("shutdown: write-backs still pending after %d s; they stay "
					"in the journal for the next start", SHUTDOWN_GRACE_S);
				spn_wb_log_pending(d);
				break;
			}
		} else if (d->pol.idle_timeout > 0 && d->nclients == 0 && !spn_daemon_busy(d) &&
			   now - d->idle_since_ns > (int64_t)d->pol.idle_timeout * 1000000000LL) {
			spn_info("idle for %u s: exiting", d->pol.idle_timeout);
			break;
		}
		if (d->nclients > 0 || spn_daemon_busy(d))
			d->idle_since_ns = now;

		ncl = (size_t)d->nclients;
		if (cap < ncl + 4 + (size_t)d->nmounts) {
			cap = (ncl + 4 + (size_t)d->nmounts) * 2;
			pfd = realloc(pfd, cap * sizeof(*pfd));
			pcl = realloc(pcl, cap * sizeof(*pcl));
			if (pfd == NULL || pcl == NULL) {
				spn_err("out of memory in the poll loop");
				return 1;
			}
		}
		pfd[n] = (struct pollfd){ .fd = d->sig_fd, .events = POLLIN };
		pcl[n++] = NULL;
		pfd[n] = (struct pollfd){ .fd = d->ino_fd, .events = POLLIN };
		pcl[n++] = NULL;
		pfd[n] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		pcl[n++] = NULL;
		spn_wb_tick(d);
		if (d->wbs != NULL && d->nclients == 0 && now - last_sweep > 1000000000LL) {
			spn_wb_sweep(d);
			last_sweep = now;
		}
		if (now - last_flush > 2000000000LL) {
			/* confirmations kept in memory (index.h) */
			spn_index_flush(d->idx);
			last_flush = now;
		}
		spn_timeo_tick(d);
		spn_predict_tick(d);
		timeout = spn_dircheck_tick(d, timeout);
		for (mi = 0; mi < d->nmounts; mi++) {
			struct spn_mount *m = &d->mounts[mi];

			mount_maybe_connect(d, m);
			spn_mount_tick(d, m);
			pfd[n] = (struct pollfd){ .fd = spn_nfs_fd(m->nfs),
						  .events = (short)spn_nfs_events(m->nfs) };
			pcl[n++] = NULL;
		}
		/* Each listed client is held for this pass: a reply sent while
		 * serving another (or an NFS callback) may close it. */
		for (cl = d->clients; cl != NULL && n < cap; cl = cl->next) {
			short ev = (short)(POLLIN | (cl->out_len ? POLLOUT : 0));

			pfd[n] = (struct pollfd){ .fd = cl->fd, .events = ev };
			cl->refs++;
			pcl[n++] = cl;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			spn_err("poll: %s", strerror(errno));
			return 1;
		}

		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					if (!d->stopping)
						spn_info("signal %d: writing back and exiting",
							 (int)si.ssi_signo);
					d->stopping = 1;
				}
			}
		}
		if (pfd[1].revents & POLLIN)
			spn_wb_ino_drain(d);
		if (pfd[2].fd >= 0 && (pfd[2].revents & POLLIN))
			client_accept(d);
		for (mi = 0; mi < d->nmounts; mi++) {
			struct pollfd *p = &pfd[3 + mi];

			/* Always service: libnfs needs the tick for timeouts. */
			spn_nfs_service(d->mounts[mi].nfs, p->fd >= 0 ? p->revents : 0);
		}
		for (i = 3 + (size_t)d->nmounts; i < n; i++) {
			cl = pcl[i];
			/* A client closed earlier in this pass is skipped. */
			if (!cl->dead && (pfd[i].revents & POLLOUT))
				client_flush(d, cl);
			if (!cl->dead && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				client_read(d, cl);
		}
		for (i = 3 + (size_t)d->nmounts; i < n; i++)
			spn_client_unref(d, pcl[i]);
	}
	free(pfd);
	free(pcl);
	return 0;
}

/* Detach once ready: the parent waits on a pipe so that whoever started
 * us knows the socket is there (or why it is not). */
static int
daemonize(int *notify_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		/* 'r': ready; EOF without it: failed (the child said why). */
		if (read(p[0], &c, 1) == 1 && c == 'r')
			_exit(0);
		_exit(1);
	}
	close(p[0]);
	setsid();
	*notify_fd = p[1];
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct spn_daemon *d = &daemon_state;
	char err[1024], logpath[PATH_MAX + 16];
	const char *logfile = NULL;
	int foreground = 0, debug = 0, c, i, rc, notify_fd = -1, devnull;
	sigset_t mask;

	/* Every request is a job of ~40 KB, freed within microseconds:
	 * glibc handed the heap's top back to the kernel after each and
	 * faulted it in again for the next. Kept, the daemon's CPU per
	 * predicted miss fell from 66 to 38 us (perf, a loop of stats). */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 4 << 20);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fdl:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'f': foreground = 1; break;
		case 'd': foreground = debug = 1; break;
		case 'l': logfile = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': puts("specnfsd " PACKAGE_VERSION); return 0;
		default:
			fprintf(stderr, "specnfsd: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "specnfsd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}

	memset(d, 0, sizeof(*d));
	d->lock_fd = d->listen_fd = d->sig_fd = d->ino_fd = d->spare_fd = -1;
	for (i = 0; i < SPN_MAX_MOUNTS; i++)
		d->mounts[i].root_fd = -1;
	if (spn_policy_load(&d->pol, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfsd: %s\n", err);
		return 2;
	}
	if (d->pol.nmounts == 0) {
		fprintf(stderr, "specnfsd: no mounts: set SPECNFS_MOUNTS, e.g. "
				"SPECNFS_MOUNTS=/nfs=nfs://server/export\n");
		return 2;
	}
	d->nmounts = d->pol.nmounts;
	d->ac.acregmin = d->pol.acregmin;
	d->ac.acregmax = d->pol.acregmax;
	d->ac.acdirmin = d->pol.acdirmin;
	d->ac.acdirmax = d->pol.acdirmax;

	if (setup_paths(d, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfsd: %s\n", err);
		return 1;
	}
	if (logfile == NULL && d->pol.log_file[0] != '\0')
		logfile = d->pol.log_file;
	if (logfile == NULL && !foreground) {
		snprintf(logpath, sizeof(logpath), "%.*s.log", (int)(strlen(d->sock_path) - 5),
			 d->sock_path);
		logfile = logpath;
	}
	spn_log_open("specnfsd", debug && d->pol.log_level < 3 ? 3 : d->pol.log_level, logfile);

	rc = take_lock(d, err, sizeof(err));
	if (rc == -EEXIST && foreground) {
		/* Someone else serves this configuration: nothing to do. */
		fprintf(stderr, "specnfsd: %s\n", err);
		return 0;
	}
	if (rc == -EEXIST) {
		/* Started on demand and lost the race: whoever started us
		 * waits for our exit status, which must mean "a daemon
		 * answers". The holder may still be starting, or shutting
		 * down (socket gone, writing back for up to its grace):
		 * wait until it answers, or take the lock when it is gone. */
		rc = wait_for_holder(d, err, sizeof(err));
		if (rc == 1)
			return 0;
		if (rc < 0) {
			fprintf(stderr, "specnfsd: %s\n", err);
			return 1;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "specnfsd: %s\n", err);
		return 1;
	}
	if (!foreground && (rc = daemonize(&notify_fd)) < 0) {
		fprintf(stderr, "specnfsd: cannot detach: %s\n", strerror(-rc));
		return 1;
	}
	if (!foreground) {
		/* The lock belongs to this process now: re-take it. */
		flock(d->lock_fd, LOCK_EX | LOCK_NB);
		snprintf(err, sizeof(err), "%d\n", (int)getpid());
		if (ftruncate(d->lock_fd, 0) == 0 && pwrite(d->lock_fd, err, strlen(err), 0) < 0) {
			/* informative only */
		}
	}

	rc = spn_index_open(&d->idx, d->base, 0);
	if (rc < 0) {
		fprintf(stderr, "specnfsd: cannot open the cache index in %s: %s\n", d->base,
			strerror(-rc));
		return 1;
	}
	for (i = 0; i < d->nmounts; i++) {
		struct spn_mount *m = &d->mounts[i];

		m->id = i;
		m->prefix = d->pol.mounts[i].prefix;
		m->url = d->pol.mounts[i].url;
		rc = spn_nfs_new(&m->nfs, m->url, (int)d->pol.rpc_timeout_ms);
		if (rc < 0) {
			fprintf(stderr, "specnfsd: out of memory\n");
			return 1;
		}
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGIO, SIG_IGN); /* a lease broken while spn_mirror_written holds it */
	d->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->sig_fd < 0 || d->ino_fd < 0) {
		fprintf(stderr, "specnfsd: %s: %s\n", d->sig_fd < 0 ? "signalfd" : "inotify",
			strerror(errno));
		return 1;
	}
	{
		/* Every client is a connection: allow as many as the system
		 * lets us (the soft limit is often 1024). */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (open_socket(d, err, sizeof(err)) < 0) {
		fprintf(stderr, "specnfsd: %s\n", err);
		return 1;
	}
	d->started_ns = spn_mono_ns();
	spn_info("serving %d mount(s) on %s, cache %s", d->nmounts, d->sock_path, d->base);

	/* Write back what an earlier daemon left dirty (crash, kill -9). */
	rc = spn_wb_replay(d);
	if (rc < 0)
		spn_err("journal replay: %s", strerror(-rc));

	if (notify_fd >= 0) {
		if (write(notify_fd, "r", 1) < 0) {
			/* the parent is gone: nobody to tell */
		}
		close(notify_fd);
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			if (logfile != NULL)
				dup2(devnull, 2);
			close(devnull);
		}
	}

	rc = run_loop(d);

	for (i = 0; i < d->nmounts; i++)
		spn_nfs_free(d->mounts[i].nfs);
	while (d->clients != NULL)
		client_close(d, d->clients);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->sock_path);
	}
	spn_index_close(d->idx);
	close(d->sig_fd);
	close(d->ino_fd);
	return rc;
}
