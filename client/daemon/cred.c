/*
 * daemon/cred.c: whom each request comes from, and fds that carry the
 * caller's rights.
 *
 * A process may change its ids after it connected (root that drops to
 * nobody), so the connection's SO_PEERCRED is not enough. Every accepted
 * socket has SO_PASSCRED: the kernel puts the sender's pid, uid and gid on
 * each message, and refuses ids the sender does not hold (the shim names
 * its effective ids when they differ from its real ones). Messages with
 * other credentials are never merged into one read, so a request carries
 * the ids of the read that completed it.
 *
 * The daemon's own user (and root, which can act as that user anyway) is
 * served as always: nothing here costs it more than a comparison. Anyone
 * else is "foreign": its fsuid, fsgid and groups come from
 * /proc/<pid>/status (the pid the kernel vouched for), its NFS calls carry
 * them, and it gets open files as fds passed with SCM_RIGHTS, since it
 * cannot open the daemon's private mirror itself. The second half of this
 * file serves such callers: the access check with their ids before a
 * request runs (spn_cred_check_*) and the open mirror file sent with the
 * reply (spn_cred_send_open).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"

/* "Uid:\tr\te\ts\tfs" -> the four values; 0 or -EPROTO. */
static int
ids4(const char *p, uint32_t v[4])
{
	int i;

	for (i = 0; i < 4; i++) {
		char *end;

		v[i] = (uint32_t)strtoul(p, &end, 10);
		if (end == p)
			return -EPROTO;
		p = end;
	}
	return 0;
}

/* The process's fs ids and groups as the kernel has them now. */
static int
read_status(pid_t pid, uint32_t claimed_uid, struct spn_nfs_cred *out)
{
	char path[64], line[4096];
	uint32_t uids[4], gids[4];
	int have = 0, i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -ESRCH;
	memset(out, 0, sizeof(*out));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Uid:", 4) == 0 && ids4(line + 4, uids) == 0) {
			have |= 1;
		} else if (strncmp(line, "Gid:", 4) == 0 && ids4(line + 4, gids) == 0) {
			have |= 2;
		} else if (strncmp(line, "Groups:", 7) == 0) {
			char *p = line + 7, *end;

			for (;; p = end) {
				unsigned long g = strtoul(p, &end, 10);

				if (end == p)
					break;
				if (out->ngroups < SPN_NFS_NGROUPS)
					out->groups[out->ngroups++] = (uint32_t)g;
			}
			have |= 4;
		}
	}
	fclose(f);
	if (have != 7)
		return -ESRCH;
	/* The kernel checked the claim against the ids the process held
	 * when it sent; it must still hold it (no pid reuse in between). */
	for (i = 0; i < 4 && uids[i] != claimed_uid; i++)
		;
	if (i == 4)
		return -ESRCH;
	out->uid = uids[3];
	out->gid = gids[3];
	return 0;
}

int
spn_cred_from_msg(struct spn_daemon *d, struct spn_client *cl, const void *cmsg_creds)
{
	const struct ucred *uc = cmsg_creds;
	struct spn_cred *c = &cl->cred;
	pid_t pid = cl->pid;
	uid_t uid = cl->uid;
	int rc;

	(void)d;
	/* No credentials: a message sent between accept() and SO_PASSCRED.
	 * The connection's own (SO_PEERCRED, taken at connect) then stand. */
	if (uc != NULL && uc->pid != 0) {
		pid = uc->pid;
		uid = uc->uid;
	}
	c->pid = pid;
	/* The daemon's own user (whatever its group) or root. */
	if (uid == getuid() || uid == 0) {
		c->foreign = 0; /* the hot path: one comparison */
		return 0;
	}
	rc = read_status(pid, (uint32_t)uid, &c->nfs);
	if (rc < 0) {
		c->foreign = -1; /* refused: see spn_job_start */
		return rc;
	}
	c->foreign = c->nfs.uid != getuid() && c->nfs.uid != 0;
	return 0;
}

int
spn_cred_in_group(const struct spn_cred *c, uint32_t gid)
{
	uint32_t i;

	if (c->nfs.gid == gid)
		return 1;
	for (i = 0; i < c->nfs.ngroups; i++)
		if (c->nfs.groups[i] == gid)
			return 1;
	return 0;
}

/* Send the start of a reply with fd attached: bytes sent, or -errno. */
int
spn_cred_send_fd(struct spn_client *cl, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *cm;
	ssize_t n;

	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		n = sendmsg(cl->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : (int)n;
}

/*
 * A caller with other ids than the daemon's user cannot open the private
 * mirror. Its OPEN (and READDIR: the listed directory) reply carries the
 * mirror file opened by the daemon (SCM_RIGHTS), with the access mode the
 * caller asked for and nothing more: the server allowed it (cred_check_done, or its refusal of
 * CREATE/SETATTR), so the fd carries the caller's rights. Mirror I/O never
 * follows a symlink nor blocks on a special file.
 */
void
spn_cred_send_open(struct spn_job *j, const unsigned char *buf, size_t n)
{
	int fd =
	    j->req.op == SPN_OP_READDIR
		? spn_mirror_open_dir(j->m, j->rel)
		: spn_mirror_open(j->m, j->rel,
				  (int)j->req.flags & (O_ACCMODE | O_APPEND | O_SYNC | O_DSYNC), 0);
	int sent = 0;

	if (fd < 0) {
		spn_err("open %s for pid %d: %s", j->rep.path, (int)j->cl->pid, strerror(-fd));
	} else {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && (j->req.flags & O_NONBLOCK))
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		/* The shim waits for this reply alone: nothing is queued
		 * before it, so the fd travels with its first byte. */
		if (j->cl->out_len == 0)
			sent = spn_cred_send_fd(j->cl, buf, n, fd);
		close(fd);
	}
	if (sent < 0) {
		spn_err("reply to pid %d: %s", (int)j->cl->pid, strerror(-sent));
		sent = 0;
	}
	if ((size_t)sent < n)
		spn_client_send(j->d, j->cl, buf + sent, n - (size_t)sent);
}

/* What a foreign caller's request needs from the server first, with its
 * own ids: the walk to the path (search rights on every directory, which
 * the daemon's cached handles would skip) and the access the op implies.
 * 0: nothing to check (the server decides the op itself). */
int
spn_cred_check_what(const struct spn_job *j, char *path, size_t len, int *mode)
{
	uint32_t acc = j->req.flags & O_ACCMODE;

	snprintf(path, len, "%s", j->rel);
	*mode = 0;
	switch (j->req.op) {
	case SPN_OP_STAT:
	case SPN_OP_READLINK:
	case SPN_OP_STATFS:
		return 1;
	case SPN_OP_ACCESS:
		*mode = (int)(j->req.mode & 7);
		return 1;
	case SPN_OP_READDIR:
		*mode = R_OK;
		return 1;
	case SPN_OP_OPEN:
		if (acc != O_WRONLY)
			*mode |= R_OK;
		if (acc != O_RDONLY || (j->req.flags & O_TRUNC))
			*mode |= W_OK;
		return 1;
	case SPN_OP_SETATTR:
	case SPN_OP_MKDIR:
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK:
	case SPN_OP_RENAME:
	case SPN_OP_LINK:
	case SPN_OP_SYMLINK:
	case SPN_OP_MKNOD:
		/* The server checks the op; the walk to its directory is ours. */
		spn_parent_of(j->rel, path, len);
		*mode = X_OK;
		return 1;
	}
	return 0;
}

static void
cred_check_done(struct spn_job *j)
{
	int err = j->err;

	if (j->req.op == SPN_OP_ACCESS || (err < 0 && err != -ENOENT)) {
		spn_job_reply(j, err);
		return;
	}
	/* Allowed, or not there: the ordinary handling answers (or
	 * creates, with the caller's ids: the server decides). */
	j->err = 0;
	spn_job_dispatch(j);
}

void
spn_cred_check_issue(struct spn_job *j)
{
	char path[SPN_PATH_MAX];
	int mode;

	if (spn_job_call(j, spn_cred_check_issue, cred_check_done, 0))
		return;
	spn_cred_check_what(j, path, sizeof(path), &mode);
	spn_nfs_access(j->m->nfs, path, mode, spn_job_cb, j);
}
