/*
 * conn.h: a client's connection to specnfsd, used by the specnfs command
 * and by the shim (shim/call.c): find the daemon for a configuration,
 * start it on demand, send requests and read replies.
 */
#ifndef SPECNFS_CLIENT_CONN_H
#define SPECNFS_CLIENT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "client/proto.h"

struct spn_conn {
	int fd;
	uint32_t seq;
	char sock[108];
	unsigned char *buf; /* SPN_MSG_MAX bytes: the last reply frame */
	int buf_static;     /* buf is the caller's, kept across opens (no malloc: a
			     * connection opened in a signal handler) */
	size_t have;        /* bytes buffered beyond the last frame */
	pid_t stale_pid;    /* -EPROTONOSUPPORT: the daemon speaking another version */
};

/* Connect to the daemon for policy p; with autostart, start it (and wait
 * until it listens) if none runs. 0 or -errno, with one line in err. A
 * daemon that speaks another protocol version (an upgrade while it ran)
 * is told to stop (SIGTERM: it writes back what it holds) and, with
 * autostart, replaced; without, -EPROTONOSUPPORT and c->stale_pid. c must
 * be initialised (zero, or buf and buf_static set by the caller). */
int spn_conn_open(struct spn_conn *c, const struct spn_policy *p, int autostart, char *err,
		  size_t errlen);
/* After -EPROTONOSUPPORT without autostart: stop that daemon (SIGTERM,
 * then wait until it is gone). 0 or -errno. */
int spn_conn_stop_stale(struct spn_conn *c);
void spn_conn_close(struct spn_conn *c);

/* Send one request (assigns req->seq). */
int spn_conn_send(struct spn_conn *c, struct spn_req *req);
/* The same naming ids (SCM_CREDENTIALS; the kernel accepts only ids we
 * hold): ids(0) says which before each write (NULL: none, the kernel
 * sends our real ids). If the kernel refuses them (EPERM), ids(1) is
 * called once to look at our ids again, and the write retried. */
struct ucred;
int spn_conn_send_as(struct spn_conn *c, struct spn_req *req,
		     const struct ucred *(*ids)(int refused));
/* Read the next reply; its text (if any) points into a static buffer
 * that the next reply overwrites. */
int spn_conn_recv(struct spn_conn *c, struct spn_reply *rep);
/* The same, also taking a file descriptor the daemon passes with the
 * reply (SCM_RIGHTS, opened close-on-exec): into *fd if *fd < 0; any
 * other is closed. */
int spn_conn_recv_fd(struct spn_conn *c, struct spn_reply *rep, int *fd);
/* send + recv of the matching reply. */
int spn_conn_call(struct spn_conn *c, struct spn_req *req, struct spn_reply *rep);

/* Does the server of the mount of nfs (NULL: any mount) fail to answer,
 * by the daemon's STATUS? 1 with its URL and state ("down: <cause>", "up,
 * not responding"), 0 if it is up or the daemon cannot say. */
int spn_conn_server_state(struct spn_conn *c, const struct spn_policy *p, const char *nfs,
			  char *url, size_t urllen, char *state, size_t statelen);

/* Warn on stderr about each daemon setting (cache, attribute cache,
 * timeouts, mount mode, log) that p sets but the running daemon has with
 * another value: it is not in effect. Returns how many. */
int spn_conn_warn_settings(struct spn_conn *c, const struct spn_policy *p);

/* The specnfsd binary to start: SPECNFS_DAEMON if set, else the one next
 * to the running program (an uninstalled build), else the installed one. */
void spn_conn_daemon_path(const struct spn_policy *p, char *buf, size_t len);

#endif
