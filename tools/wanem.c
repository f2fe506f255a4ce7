/*
 * wanem.c - user-space WAN emulator: a TCP proxy that delays, jitters and
 * rate-limits every byte between clients and a server, without ever
 * reordering or altering it. Stands in for "tc netem", which the test
 * machines do not have.
 *
 * One thread, one epoll loop. Deadlines are nanoseconds on CLOCK_MONOTONIC
 * and a single timerfd is armed for the earliest one (a min-heap of
 * connections), because epoll_wait's millisecond timeout is too coarse
 * for sub-millisecond RTTs. Signals arrive through a signalfd.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/wanem_sched.h"

#define WANEM_READ_MAX (64 * 1024)
/* Queue bounds per direction, see wanem_bound(). */
#define WANEM_QUEUE_BASE (4 * 1024 * 1024)
#define WANEM_QUEUE_MIN (256 * 1024)
#define WANEM_QUEUE_RATE_MS 20
#define WANEM_PROBE_MS 2000
#define WANEM_SEND_TIMEOUT_MS 5000
#define WANEM_CTL_LINE_MAX 512
#define WANEM_EVENTS 128
#define WANEM_NO_HEAP SIZE_MAX

/* Sides of a connection; direction i carries data read from side i. */
#define WANEM_CLIENT 0
#define WANEM_SERVER 1

enum wanem_ev {
	WANEM_EV_SIGNAL,
	WANEM_EV_TIMER,
	WANEM_EV_LISTEN,
	WANEM_EV_CTL_LISTEN,
	WANEM_EV_CTL,
	WANEM_EV_CONN,
};

/* What epoll_event.data.ptr points at. */
struct wanem_handle {
	enum wanem_ev kind;
	int side;
	void *ptr;
};

struct wanem_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct wanem_link {
	struct wanem_handle h;
	int fd;
	const char *listen_arg;
	const char *connect_arg;
	char lhost[WANEM_HOST_MAX];
	uint16_t lport; /* as asked; the bound port is read back */
	char lname[WANEM_HOST_MAX + 8]; /* HOST:PORT with the bound port */
	char chost[WANEM_HOST_MAX];
	uint16_t cport;
	struct wanem_addr *targets;
	size_t ntargets;
	size_t target_first; /* the address the probe reached */
	struct wanem_sched sched[2];
};

struct wanem_dir {
	struct wanem_queue q;
	struct wanem_flow flow;
	uint64_t eof_release;
	uint64_t bytes; /* delivered */
	bool rd_eof;	/* the source sent EOF */
	bool eof_done;	/* and we forwarded it */
	bool wblocked;	/* the destination is full: wait for EPOLLOUT */
};

struct wanem_conn {
	struct wanem_conn *next;
	struct wanem_conn *prev;
	struct wanem_handle h[2];
	struct wanem_link *link;
	uint64_t id;
	int fd[2];
	uint32_t ev[2];
	bool registered[2];
	bool hup[2]; /* hung up and nothing left to watch for */
	bool connecting;
	bool dead;
	size_t target;
	size_t tries;
	uint64_t wake;
	size_t heap_idx;
	struct wanem_dir dir[2];
};

struct wanem_ctl {
	struct wanem_ctl *next;
	struct wanem_ctl *prev;
	struct wanem_handle h;
	int fd;
	bool dead;
	size_t len;
	char buf[WANEM_CTL_LINE_MAX];
};

struct wanem_opts {
	const char **listen;
	size_t nlisten;
	const char **connect;
	size_t nconnect;
	uint64_t rtt;
	uint64_t jitter;
	uint64_t rate;
	uint64_t seed;
	bool seeded;
	bool check;
	bool verbose;
	const char *control;
	const char *send;
};

/*
 * Move x from its doubly linked list (head) to a singly linked grave, freed
 * once the event loop is done with this round: connections and control
 * clients die while their events may still be pending.
 */
#define WANEM_BURY(x, head, grave)                                                                 \
	do {                                                                                       \
		if ((x)->prev != NULL)                                                             \
			(x)->prev->next = (x)->next;                                               \
		else                                                                               \
			(head) = (x)->next;                                                        \
		if ((x)->next != NULL)                                                             \
			(x)->next->prev = (x)->prev;                                               \
		(x)->next = (grave);                                                               \
		(x)->prev = NULL;                                                                  \
		(grave) = (x);                                                                     \
	} while (0)

static struct {
	int ep;
	int sfd;
	int tfd;
	int spare_fd;
	uint64_t timer_armed;
	struct wanem_handle sig_h;
	struct wanem_handle timer_h;

	struct wanem_link *links;
	size_t nlinks;

	struct wanem_conn *conns;
	struct wanem_conn *grave;
	struct wanem_conn **heap;
	size_t heap_len;
	size_t heap_cap;

	int ctl_fd;
	const char *ctl_path;
	struct wanem_handle ctl_h;
	struct wanem_ctl *ctls;
	struct wanem_ctl *ctl_grave;

	uint64_t rtt;
	uint64_t jitter;
	uint64_t rate;
	uint64_t refuse_until;
	uint64_t stall_until;

	uint64_t nconns;
	uint64_t accepted;
	uint64_t bytes_up;
	uint64_t bytes_down;
	uint64_t cut;
	uint64_t refused;
	uint64_t next_id;

	bool verbose;
	bool quit;
} W = {
    .ep = -1,
    .sfd = -1,
    .tfd = -1,
    .spare_fd = -1,
    .ctl_fd = -1,
};

static unsigned char wanem_buf[WANEM_READ_MAX];

static void wanem_conn_update(struct wanem_conn *c);
static void wanem_conn_flush(struct wanem_conn *c, int s, uint64_t now);

/* ------------------------------------------------------------ helpers */

static void __attribute__((format(printf, 1, 2)))
wanem_log(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	fputs("wanem: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errno = saved;
}

/* Print the one error line and hand back the exit status. */
static int __attribute__((format(printf, 2, 3)))
wanem_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("wanem: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* Out of memory is the one thing the emulator cannot carry on after. */
static void *
wanem_xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL && n != 0) {
		wanem_log("out of memory");
		exit(1);
	}
	return p;
}

static uint64_t
wanem_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WANEM_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void
wanem_fmt_ms(char *buf, size_t sz, uint64_t ns)
{
	uint64_t frac = ns % WANEM_NS_PER_MS;
	int n;

	n = snprintf(buf, sz, "%" PRIu64, ns / WANEM_NS_PER_MS);
	if (frac != 0 && n > 0 && (size_t)n < sz) {
		snprintf(buf + n, sz - (size_t)n, ".%06" PRIu64, frac);
		n = (int)strlen(buf);
		while (buf[n - 1] == '0')
			buf[--n] = '\0';
	}
}

static void
wanem_fmt_rate(char *buf, size_t sz, uint64_t rate)
{
	if (rate == 0)
		snprintf(buf, sz, "unlimited");
	else
		snprintf(buf, sz, "%" PRIu64 "B/s", rate);
}

/* The message for a value a parser refused, shared by CLI and control. */
static void
wanem_fmt_bad_value(char *buf, size_t sz, const char *what, const char *arg,
		    int rc, bool rate)
{
	if (rc == -ERANGE && arg[0] == '-')
		snprintf(buf, sz, "%s: negative value '%s'", what, arg);
	else if (rc == -ERANGE)
		snprintf(buf, sz, "%s: out of range '%s'", what, arg);
	else if (rate)
		snprintf(buf, sz,
			 "%s: not a rate '%s' (want e.g. 10mbit, 500KB, "
			 "125000)",
			 what, arg);
	else
		snprintf(buf, sz, "%s: not a number '%s'", what, arg);
}

static void
wanem_fmt_addr(char *buf, size_t sz, const struct sockaddr *sa, socklen_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, sz, "?");
		return;
	}
	if (strchr(host, ':') != NULL)
		snprintf(buf, sz, "[%s]:%s", host, serv);
	else
		snprintf(buf, sz, "%s:%s", host, serv);
}

static void
wanem_nodelay(int fd)
{
	int one = 1;

	/* Nagle plus delayed ACKs would add up to 40 ms of our own. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Close so that the peer sees a reset rather than an orderly EOF. */
static void
wanem_reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

static bool
wanem_stalled(uint64_t now)
{
	return now < W.stall_until;
}

/*
 * Stop reading a direction once its queue holds more than this. Data in
 * flight (the bandwidth-delay product) plus a buffer: a big one when the
 * rate is unlimited, so throughput is not capped at base / delay; a
 * small one (20 ms of sending) on a slow link, so one bulk sender cannot
 * queue seconds of data ahead of every other connection.
 */
static size_t
wanem_bound(const struct wanem_sched *s)
{
	unsigned __int128 bdp, buf;

	if (s->rate == 0)
		return WANEM_QUEUE_BASE;
	bdp = (unsigned __int128)s->rate * s->delay_ns / WANEM_NS_PER_SEC;
	buf = (unsigned __int128)s->rate * WANEM_QUEUE_RATE_MS / 1000;
	if (buf < WANEM_QUEUE_MIN)
		buf = WANEM_QUEUE_MIN;
	if (buf > WANEM_QUEUE_BASE)
		buf = WANEM_QUEUE_BASE;
	if (bdp > SIZE_MAX / 4)
		bdp = SIZE_MAX / 4;
	return (size_t)(bdp + buf);
}

/* --------------------------------------------------------- timer heap */

static void
wanem_heap_place(size_t i, struct wanem_conn *c)
{
	W.heap[i] = c;
	c->heap_idx = i;
}

static void
wanem_heap_up(size_t i)
{
	struct wanem_conn *c = W.heap[i];
	size_t p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (W.heap[p]->wake <= c->wake)
			break;
		wanem_heap_place(i, W.heap[p]);
		i = p;
	}
	wanem_heap_place(i, c);
}

static void
wanem_heap_down(size_t i)
{
	struct wanem_conn *c = W.heap[i];
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		if (l >= W.heap_len)
			break;
		m = l;
		if (l + 1 < W.heap_len && W.heap[l + 1]->wake < W.heap[l]->wake)
			m = l + 1;
		if (W.heap[m]->wake >= c->wake)
			break;
		wanem_heap_place(i, W.heap[m]);
		i = m;
	}
	wanem_heap_place(i, c);
}

static void
wanem_heap_remove(struct wanem_conn *c)
{
	struct wanem_conn *last;
	size_t i = c->heap_idx;

	if (i == WANEM_NO_HEAP)
		return;
	c->heap_idx = WANEM_NO_HEAP;
	c->wake = UINT64_MAX;
	last = W.heap[--W.heap_len];
	if (last == c)
		return;
	wanem_heap_place(i, last);
	wanem_heap_up(i);
	wanem_heap_down(last->heap_idx);
}

static void
wanem_heap_set(struct wanem_conn *c, uint64_t wake)
{
	uint64_t old = c->wake;

	if (wake == UINT64_MAX) {
		wanem_heap_remove(c);
		return;
	}
	c->wake = wake;
	if (c->heap_idx == WANEM_NO_HEAP) {
		if (W.heap_len == W.heap_cap) {
			W.heap_cap = W.heap_cap != 0 ? W.heap_cap * 2 : 64;
			W.heap =
			    wanem_xrealloc(W.heap, W.heap_cap * sizeof *W.heap);
		}
		wanem_heap_place(W.heap_len++, c);
		wanem_heap_up(c->heap_idx);
	} else if (wake < old) {
		wanem_heap_up(c->heap_idx);
	} else if (wake > old) {
		wanem_heap_down(c->heap_idx);
	}
}

/* Point the timerfd at the earliest deadline, if that changed. */
static void
wanem_timer_arm(void)
{
	struct itimerspec its = {0};
	uint64_t when = W.heap_len > 0 ? W.heap[0]->wake : 0;

	if (when == W.timer_armed)
		return;
	W.timer_armed = when;
	its.it_value.tv_sec = (time_t)(when / WANEM_NS_PER_SEC);
	its.it_value.tv_nsec = (long)(when % WANEM_NS_PER_SEC);
	if (timerfd_settime(W.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		wanem_log("timerfd_settime: %s", strerror(errno));
}

/* -------------------------------------------------------- connections */

static int
wanem_ep_set(int fd, struct wanem_handle *h, bool *registered, uint32_t *cur,
	     uint32_t want, bool quiet)
{
	struct epoll_event ev = {.events = want, .data.ptr = h};
	int op;

	/*
	 * With nothing wanted we still listen for EPOLLERR to notice a
	 * reset, unless the socket already hung up: then it would wake us
	 * forever.
	 */
	if (want == 0 && quiet) {
		if (!*registered)
			return 0;
		*registered = false;
		return epoll_ctl(W.ep, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno
								    : 0;
	}
	if (*registered && *cur == want)
		return 0;
	op = *registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(W.ep, op, fd, &ev) < 0)
		return -errno;
	*registered = true;
	*cur = want;
	return 0;
}

static const char *
wanem_conn_reason(int err)
{
	return err != 0 ? strerror(err) : "cut";
}

/*
 * Close both sides (with a reset if asked) and bury the connection: it is
 * freed once the current batch of events, which may still point at it,
 * has been handled.
 */
static void
wanem_conn_kill(struct wanem_conn *c, bool reset, int err)
{
	int s;

	if (c->dead)
		return;
	c->dead = true;
	for (s = 0; s < 2; s++) {
		if (c->fd[s] < 0)
			continue;
		if (reset)
			wanem_reset_close(c->fd[s]);
		else
			close(c->fd[s]);
		c->fd[s] = -1;
	}
	wanem_heap_remove(c);
	WANEM_BURY(c, W.conns, W.grave);
	W.nconns--;

	if (W.verbose && reset)
		wanem_log(
		    "conn %" PRIu64 ": reset (%s) up=%" PRIu64 " down=%" PRIu64,
		    c->id, wanem_conn_reason(err), c->dir[WANEM_CLIENT].bytes,
		    c->dir[WANEM_SERVER].bytes);
	else if (W.verbose)
		wanem_log("conn %" PRIu64 ": closed up=%" PRIu64
			  " down=%" PRIu64,
			  c->id, c->dir[WANEM_CLIENT].bytes,
			  c->dir[WANEM_SERVER].bytes);
}

static void
wanem_grave_free(void)
{
	struct wanem_conn *c;

	while ((c = W.grave) != NULL) {
		W.grave = c->next;
		wanem_queue_clear(&c->dir[0].q);
		wanem_queue_clear(&c->dir[1].q);
		free(c);
	}
}

/* Start (or retry) the upstream connect; 0 or -errno if none can start. */
static int
wanem_conn_dial(struct wanem_conn *c)
{
	struct wanem_link *l = c->link;
	const struct wanem_addr *a;
	int fd, err = ECONNREFUSED;

	while (c->tries < l->ntargets) {
		a = &l->targets[c->target];
		c->tries++;
		fd = socket(a->ss.ss_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
		} else if (connect(fd, (const struct sockaddr *)&a->ss,
				   a->len) == 0 ||
			   errno == EINPROGRESS) {
			c->fd[WANEM_SERVER] = fd;
			c->connecting = true;
			c->registered[WANEM_SERVER] = false;
			c->ev[WANEM_SERVER] = 0;
			c->hup[WANEM_SERVER] = false;
			return 0;
		} else {
			err = errno;
			close(fd);
		}
		c->target = (c->target + 1) % l->ntargets;
	}
	return -err;
}

static void
wanem_conn_dial_failed(struct wanem_conn *c, int err)
{
	struct wanem_link *l = c->link;

	wanem_log("link %s: connect to %s failed: %s", l->lname, l->connect_arg,
		  strerror(err));
	wanem_conn_kill(c, true, err);
}

static void
wanem_conn_new(struct wanem_link *l, int fd, const struct sockaddr *peer,
	       socklen_t peerlen)
{
	struct wanem_conn *c;
	char addr[NI_MAXHOST + NI_MAXSERV + 4];
	int s, rc;

	c = wanem_xrealloc(NULL, sizeof *c);
	memset(c, 0, sizeof *c);
	c->link = l;
	c->id = ++W.next_id;
	c->heap_idx = WANEM_NO_HEAP;
	c->wake = UINT64_MAX;
	c->target = l->target_first;
	c->fd[WANEM_CLIENT] = fd;
	c->fd[WANEM_SERVER] = -1;
	for (s = 0; s < 2; s++) {
		c->h[s].kind = WANEM_EV_CONN;
		c->h[s].side = s;
		c->h[s].ptr = c;
		wanem_queue_init(&c->dir[s].q);
	}
	c->next = W.conns;
	if (W.conns != NULL)
		W.conns->prev = c;
	W.conns = c;
	W.nconns++;
	W.accepted++;
	wanem_nodelay(fd);

	if (W.verbose) {
		wanem_fmt_addr(addr, sizeof addr, peer, peerlen);
		wanem_log("conn %" PRIu64 ": open from %s on %s -> %s", c->id,
			  addr, l->lname, l->connect_arg);
	}

	rc = wanem_conn_dial(c);
	if (rc < 0) {
		wanem_conn_dial_failed(c, -rc);
		return;
	}
	wanem_conn_update(c);
}

/* The upstream connect finished, one way or the other. */
static void
wanem_conn_connected(struct wanem_conn *c, uint64_t now)
{
	socklen_t len = sizeof(int);
	int err = 0, rc;

	if (getsockopt(c->fd[WANEM_SERVER], SOL_SOCKET, SO_ERROR, &err, &len) <
	    0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err != 0) {
		close(c->fd[WANEM_SERVER]);
		c->fd[WANEM_SERVER] = -1;
		c->target = (c->target + 1) % c->link->ntargets;
		rc = wanem_conn_dial(c);
		if (rc < 0) {
			wanem_conn_dial_failed(c, err);
			return;
		}
		wanem_conn_update(c);
		return;
	}
	c->connecting = false;
	wanem_nodelay(c->fd[WANEM_SERVER]);
	wanem_conn_flush(c, WANEM_CLIENT, now);
	if (!c->dead)
		wanem_conn_update(c);
}

/* Can direction s write to its destination right now? */
static bool
wanem_dir_ready(const struct wanem_conn *c, int s, uint64_t now)
{
	if (s == WANEM_CLIENT && c->connecting)
		return false;
	return !c->dir[s].wblocked && !wanem_stalled(now);
}

/*
 * Send what direction s can; 0, or -errno after killing the connection
 * (c is then dead). A short write means the socket buffer is full.
 */
static int
wanem_dir_send(struct wanem_conn *c, int s, const void *p, size_t len,
	       size_t *sent)
{
	ssize_t n;

	*sent = 0;
	do {
		n = send(c->fd[1 - s], p, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->dir[s].wblocked = true;
			return 0;
		}
		n = -errno;
		wanem_conn_kill(c, true, (int)-n);
		return (int)n;
	}
	*sent = (size_t)n;
	if ((size_t)n < len)
		c->dir[s].wblocked = true;
	c->dir[s].bytes += (uint64_t)n;
	if (s == WANEM_CLIENT)
		W.bytes_up += (uint64_t)n;
	else
		W.bytes_down += (uint64_t)n;
	return 0;
}

/* Deliver every chunk of direction s that is due, then a due EOF. */
static void
wanem_conn_flush(struct wanem_conn *c, int s, uint64_t now)
{
	struct wanem_dir *d = &c->dir[s];
	struct wanem_chunk *ch;
	size_t sent;

	if (!wanem_dir_ready(c, s, now))
		return;
	while ((ch = wanem_queue_head(&d->q)) != NULL && ch->release <= now) {
		if (wanem_dir_send(c, s, ch->data + ch->off, ch->len - ch->off,
				   &sent) < 0)
			return;
		wanem_queue_consume(&d->q, sent);
		if (d->wblocked)
			return;
	}
	if (ch == NULL && d->rd_eof && !d->eof_done && d->eof_release <= now) {
		/* The peer may already be gone; its error shows up later. */
		shutdown(c->fd[1 - s], SHUT_WR);
		d->eof_done = true;
		if (c->dir[1 - s].eof_done)
			wanem_conn_kill(c, false, 0);
	}
}

static void
wanem_conn_read(struct wanem_conn *c, int s, uint64_t now)
{
	struct wanem_dir *d = &c->dir[s];
	struct wanem_sched *sched = &c->link->sched[s];
	uint64_t release;
	size_t sent = 0;
	ssize_t n;

	n = recv(c->fd[s], wanem_buf, sizeof wanem_buf, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		wanem_conn_kill(c, true, errno);
		return;
	}
	if (n == 0) {
		d->rd_eof = true;
		d->eof_release = wanem_sched_chunk(sched, &d->flow, now, 0);
		wanem_conn_flush(c, s, now);
		return;
	}

	release = wanem_sched_chunk(sched, &d->flow, now, (size_t)n);
	/* Already due and nothing ahead of it: skip the queue. */
	if (release <= now && d->q.count == 0 && wanem_dir_ready(c, s, now)) {
		if (wanem_dir_send(c, s, wanem_buf, (size_t)n, &sent) < 0)
			return;
		if (sent == (size_t)n)
			return;
	}
	if (wanem_queue_push(&d->q, release, wanem_buf + sent,
			     (size_t)n - sent) < 0) {
		wanem_log("out of memory");
		exit(1);
	}
}

/* Re-derive epoll interest and the wake-up time from the state. */
static void
wanem_conn_update(struct wanem_conn *c)
{
	uint64_t wake = UINT64_MAX, t;
	uint32_t want;
	int s, rc;

	for (s = 0; s < 2; s++) {
		struct wanem_dir *d = &c->dir[s];
		struct wanem_chunk *ch = wanem_queue_head(&d->q);

		if ((s == WANEM_CLIENT && c->connecting) || d->wblocked)
			continue;
		if (ch != NULL)
			t = ch->release;
		else if (d->rd_eof && !d->eof_done)
			t = d->eof_release;
		else
			continue;
		if (t < W.stall_until)
			t = W.stall_until;
		if (t < wake)
			wake = t;
	}
	wanem_heap_set(c, wake);

	for (s = 0; s < 2; s++) {
		want = 0;
		if (s == WANEM_SERVER && c->connecting) {
			want = EPOLLOUT;
		} else {
			if (!c->dir[s].rd_eof &&
			    c->dir[s].q.bytes <=
				wanem_bound(&c->link->sched[s]))
				want |= EPOLLIN;
			if (c->dir[1 - s].wblocked)
				want |= EPOLLOUT;
		}
		rc = wanem_ep_set(c->fd[s], &c->h[s], &c->registered[s],
				  &c->ev[s], want, c->hup[s]);
		if (rc < 0) {
			wanem_log("epoll_ctl: %s", strerror(-rc));
			wanem_conn_kill(c, true, -rc);
			return;
		}
	}
}

static void
wanem_conn_event(struct wanem_conn *c, int s, uint32_t events, uint64_t now)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (c->dead)
		return;
	if (s == WANEM_SERVER && c->connecting) {
		wanem_conn_connected(c, now);
		return;
	}
	if (events & EPOLLERR) {
		if (getsockopt(c->fd[s], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		wanem_conn_kill(c, true, err != 0 ? err : ECONNRESET);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && (c->ev[s] & EPOLLIN)) {
		wanem_conn_read(c, s, now);
		if (c->dead)
			return;
	}
	if ((events & (EPOLLOUT | EPOLLHUP)) && c->dir[1 - s].wblocked) {
		c->dir[1 - s].wblocked = false;
		wanem_conn_flush(c, 1 - s, now);
		if (c->dead)
			return;
	}
	if ((events & EPOLLHUP) && !(c->ev[s] & (EPOLLIN | EPOLLOUT)))
		c->hup[s] = true;
	wanem_conn_update(c);
}

/* Deliver whatever became due; a stall or a deadline just passed. */
static void
wanem_conn_kick(struct wanem_conn *c, uint64_t now)
{
	wanem_conn_flush(c, WANEM_CLIENT, now);
	if (!c->dead)
		wanem_conn_flush(c, WANEM_SERVER, now);
	if (!c->dead)
		wanem_conn_update(c);
}

static void
wanem_run_timers(uint64_t now)
{
	struct wanem_conn *c;

	while (W.heap_len > 0 && W.heap[0]->wake <= now) {
		c = W.heap[0];
		wanem_heap_remove(c);
		wanem_conn_kick(c, now);
	}
}

static void
wanem_kick_all(void)
{
	struct wanem_conn *c, *next;
	uint64_t now = wanem_now();

	for (c = W.conns; c != NULL; c = next) {
		next = c->next;
		wanem_conn_kick(c, now);
	}
}

static void
wanem_cut_all(void)
{
	while (W.conns != NULL) {
		W.cut++;
		wanem_conn_kill(W.conns, true, 0);
	}
}

/* ----------------------------------------------------------- listening */

/*
 * Out of descriptors: accept with the spare one and reset the client, so
 * the backlog drains instead of waking us forever (libuv's trick).
 */
static void
wanem_emfile(int lfd)
{
	int fd;

	if (W.spare_fd < 0)
		return;
	close(W.spare_fd);
	W.spare_fd = -1;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		wanem_reset_close(fd);
		W.refused++;
	}
	W.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void
wanem_accept(struct wanem_link *l)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, i;

	for (i = 0; i < 64; i++) {
		len = sizeof ss;
		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				wanem_log("accept: %s", strerror(errno));
				wanem_emfile(l->fd);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				wanem_log("accept: %s", strerror(errno));
			}
			return;
		}
		if (wanem_now() < W.refuse_until) {
			wanem_reset_close(fd);
			W.refused++;
			continue;
		}
		wanem_conn_new(l, fd, (struct sockaddr *)&ss, len);
	}
}

static int
wanem_resolve(const char *host, uint16_t port, bool passive,
	      struct addrinfo **res)
{
	struct addrinfo hints = {0};
	char serv[8];

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(serv, sizeof serv, "%u", (unsigned)port);
	return getaddrinfo(host, serv, &hints, res);
}

/* Bind the link's listener; 0 or -errno of the last address tried. */
static int
wanem_listen(struct wanem_link *l)
{
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, err = EADDRNOTAVAIL;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->h};

	if (wanem_resolve(l->lhost, l->lport, true, &res) != 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, SOMAXCONN) < 0) {
			err = errno;
			close(fd);
			continue;
		}
		len = sizeof ss;
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET6)
				l->lport = ntohs(
				    ((struct sockaddr_in6 *)&ss)->sin6_port);
			else
				l->lport = ntohs(
				    ((struct sockaddr_in *)&ss)->sin_port);
		}
		snprintf(l->lname, sizeof l->lname, "%s%s%s:%u",
			 strchr(l->lhost, ':') != NULL ? "[" : "", l->lhost,
			 strchr(l->lhost, ':') != NULL ? "]" : "",
			 (unsigned)l->lport);
		l->fd = fd;
		l->h.kind = WANEM_EV_LISTEN;
		l->h.ptr = l;
		freeaddrinfo(res);
		if (epoll_ctl(W.ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		return 0;
	}
	freeaddrinfo(res);
	return -err;
}

/* Resolve --connect once; names are not looked up again per client. */
static int
wanem_link_targets(struct wanem_link *l, const char **why)
{
	struct addrinfo *res, *ai;
	size_t n = 0;
	int rc;

	rc = wanem_resolve(l->chost, l->cport, false, &res);
	if (rc != 0) {
		*why = gai_strerror(rc);
		return -EHOSTUNREACH;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	l->targets = wanem_xrealloc(NULL, n * sizeof *l->targets);
	n = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof l->targets[n].ss)
			continue;
		memset(&l->targets[n], 0, sizeof l->targets[n]);
		memcpy(&l->targets[n].ss, ai->ai_addr, ai->ai_addrlen);
		l->targets[n].len = ai->ai_addrlen;
		n++;
	}
	l->ntargets = n;
	freeaddrinfo(res);
	if (n == 0) {
		*why = "no usable address";
		return -EHOSTUNREACH;
	}
	return 0;
}

/* One blocking connect per address, 2 s each; remember what worked. */
static int
wanem_probe(struct wanem_link *l)
{
	struct pollfd pfd;
	socklen_t len;
	size_t i;
	int fd, err = ECONNREFUSED, rc;

	for (i = 0; i < l->ntargets; i++) {
		fd = socket(l->targets[i].ss.ss_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		rc = connect(fd, (struct sockaddr *)&l->targets[i].ss,
			     l->targets[i].len);
		if (rc < 0 && errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			do {
				rc = poll(&pfd, 1, WANEM_PROBE_MS);
			} while (rc < 0 && errno == EINTR);
			if (rc == 0) {
				err = ETIMEDOUT;
				rc = -1;
			} else {
				len = sizeof err;
				err = 0;
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
					       &len) < 0)
					err = errno;
				rc = err != 0 ? -1 : 0;
			}
		} else if (rc < 0) {
			err = errno;
		}
		close(fd);
		if (rc == 0) {
			l->target_first = i;
			return 0;
		}
	}
	return -err;
}

/* ------------------------------------------------------ control socket */

static int
wanem_cmd_cut(const char *arg, char *out, size_t sz)
{
	wanem_cut_all();
	snprintf(out, sz, "ok");
	return 0;
}

static int
wanem_cmd_time(const char *name, const char *arg, uint64_t *until, char *out,
	       size_t sz)
{
	uint64_t ns;
	char msg[256];
	int rc;

	rc = wanem_parse_sec(arg, &ns);
	if (rc < 0) {
		wanem_fmt_bad_value(msg, sizeof msg, name, arg, rc, false);
		snprintf(out, sz, "error: %s", msg);
		return rc;
	}
	*until = ns != 0 ? wanem_now() + ns : 0;
	snprintf(out, sz, "ok");
	return 0;
}

static int
wanem_cmd_refuse(const char *arg, char *out, size_t sz)
{
	return wanem_cmd_time("refuse", arg, &W.refuse_until, out, sz);
}

static int
wanem_cmd_stall(const char *arg, char *out, size_t sz)
{
	int rc;

	rc = wanem_cmd_time("stall", arg, &W.stall_until, out, sz);
	/* Wake-ups were computed against the old stall: redo them all. */
	if (rc == 0)
		wanem_kick_all();
	return rc;
}

static void
wanem_apply_params(void)
{
	size_t i;

	for (i = 0; i < W.nlinks; i++) {
		wanem_sched_set(&W.links[i].sched[0], W.rtt / 2, W.jitter,
				W.rate);
		wanem_sched_set(&W.links[i].sched[1], W.rtt / 2, W.jitter,
				W.rate);
	}
}

static int
wanem_cmd_param(const char *name, const char *arg, uint64_t *dst, bool rate,
		char *out, size_t sz)
{
	uint64_t v;
	char msg[256];
	int rc;

	rc = rate ? wanem_parse_rate(arg, &v) : wanem_parse_ms(arg, &v);
	if (rc < 0) {
		wanem_fmt_bad_value(msg, sizeof msg, name, arg, rc, rate);
		snprintf(out, sz, "error: %s", msg);
		return rc;
	}
	*dst = v;
	wanem_apply_params();
	/* A lower bound or a faster link may let reading resume. */
	wanem_kick_all();
	snprintf(out, sz, "ok");
	return 0;
}

static int
wanem_cmd_rtt(const char *arg, char *out, size_t sz)
{
	return wanem_cmd_param("rtt", arg, &W.rtt, false, out, sz);
}

static int
wanem_cmd_jitter(const char *arg, char *out, size_t sz)
{
	return wanem_cmd_param("jitter", arg, &W.jitter, false, out, sz);
}

static int
wanem_cmd_bandwidth(const char *arg, char *out, size_t sz)
{
	return wanem_cmd_param("bandwidth", arg, &W.rate, true, out, sz);
}

static int
wanem_cmd_stats(const char *arg, char *out, size_t sz)
{
	snprintf(out, sz,
		 "conns=%" PRIu64 " accepted=%" PRIu64 " bytes_up=%" PRIu64
		 " bytes_down=%" PRIu64 " cut=%" PRIu64 " refused=%" PRIu64,
		 W.nconns, W.accepted, W.bytes_up, W.bytes_down, W.cut,
		 W.refused);
	return 0;
}

static const struct wanem_cmd {
	const char *name;
	const char *args; /* NULL: takes none */
	const char *help;
	int (*fn)(const char *arg, char *out, size_t sz);
} wanem_cmds[] = {
    {
	.name = "cut",
	.help = "reset every open connection now (like SIGUSR1)",
	.fn = wanem_cmd_cut,
    },
    {
	.name = "refuse",
	.args = "SECONDS",
	.help = "reset new connections at once for that long (0 ends)",
	.fn = wanem_cmd_refuse,
    },
    {
	.name = "stall",
	.args = "SECONDS",
	.help = "hold all data for that long, then resume in order "
		"(0 ends)",
	.fn = wanem_cmd_stall,
    },
    {
	.name = "rtt",
	.args = "MS",
	.help = "set the round-trip time for data read from now on",
	.fn = wanem_cmd_rtt,
    },
    {
	.name = "jitter",
	.args = "MS",
	.help = "set the jitter for data read from now on",
	.fn = wanem_cmd_jitter,
    },
    {
	.name = "bandwidth",
	.args = "RATE",
	.help = "set the bandwidth for data read from now on",
	.fn = wanem_cmd_bandwidth,
    },
    {
	.name = "stats",
	.help = "answer one line of counters, see below",
	.fn = wanem_cmd_stats,
    },
};

#define WANEM_NCMDS (sizeof wanem_cmds / sizeof wanem_cmds[0])

/* Run one command line and write the answer (no newline) into out. */
static void
wanem_ctl_exec(char *line, char *out, size_t sz)
{
	const struct wanem_cmd *cmd = NULL;
	char *name, *arg, *extra;
	size_t i;

	name = strtok_r(line, " \t\r", &extra);
	arg = name != NULL ? strtok_r(NULL, " \t\r", &extra) : NULL;
	for (i = 0; name != NULL && i < WANEM_NCMDS; i++) {
		if (strcmp(name, wanem_cmds[i].name) == 0)
			cmd = &wanem_cmds[i];
	}
	if (cmd == NULL) {
		snprintf(out, sz, "error: unknown command '%.64s'",
			 name != NULL ? name : "");
		return;
	}
	if (cmd->args != NULL && arg == NULL) {
		snprintf(out, sz, "error: %s: missing argument (want %s %s)",
			 cmd->name, cmd->name, cmd->args);
		return;
	}
	if ((cmd->args == NULL && arg != NULL) ||
	    strtok_r(NULL, " \t\r", &extra) != NULL) {
		snprintf(out, sz, "error: %s: too many arguments", cmd->name);
		return;
	}
	cmd->fn(arg, out, sz);
}

static void
wanem_ctl_kill(struct wanem_ctl *k)
{
	if (k->dead)
		return;
	k->dead = true;
	close(k->fd);
	WANEM_BURY(k, W.ctls, W.ctl_grave);
}

/* Answers are short: a client that will not take one is dropped. */
static void
wanem_ctl_reply(struct wanem_ctl *k, const char *msg)
{
	char line[WANEM_CTL_LINE_MAX + 8];
	int n;

	n = snprintf(line, sizeof line, "%s\n", msg);
	if (n < 0 || (size_t)n >= sizeof line ||
	    send(k->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		wanem_ctl_kill(k);
}

static void
wanem_ctl_line(struct wanem_ctl *k, char *line)
{
	char out[WANEM_CTL_LINE_MAX];

	line[strcspn(line, "\r")] = '\0';
	if (line[strspn(line, " \t")] == '\0')
		return;
	wanem_ctl_exec(line, out, sizeof out);
	wanem_ctl_reply(k, out);
}

static void
wanem_ctl_read(struct wanem_ctl *k)
{
	char *nl;
	ssize_t n;
	size_t used;

	if (k->dead)
		return;
	n = recv(k->fd, k->buf + k->len, sizeof k->buf - 1 - k->len, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			wanem_ctl_kill(k);
		return;
	}
	if (n == 0) {
		/* A last command without its newline still counts. */
		if (k->len > 0) {
			k->buf[k->len] = '\0';
			wanem_ctl_line(k, k->buf);
		}
		wanem_ctl_kill(k);
		return;
	}
	k->len += (size_t)n;
	while (!k->dead && (nl = memchr(k->buf, '\n', k->len)) != NULL) {
		*nl = '\0';
		used = (size_t)(nl - k->buf) + 1;
		wanem_ctl_line(k, k->buf);
		memmove(k->buf, k->buf + used, k->len - used);
		k->len -= used;
	}
	if (!k->dead && k->len == sizeof k->buf - 1) {
		wanem_ctl_reply(k, "error: line too long");
		wanem_ctl_kill(k);
	}
}

static void
wanem_ctl_accept(void)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct wanem_ctl *k;
	int fd;

	while ((fd = accept4(W.ctl_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		k = wanem_xrealloc(NULL, sizeof *k);
		memset(k, 0, sizeof *k);
		k->fd = fd;
		k->h.kind = WANEM_EV_CTL;
		k->h.ptr = k;
		ev.data.ptr = &k->h;
		if (epoll_ctl(W.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(k);
			continue;
		}
		k->next = W.ctls;
		if (W.ctls != NULL)
			W.ctls->prev = k;
		W.ctls = k;
	}
}

static void
wanem_ctl_grave_free(void)
{
	struct wanem_ctl *k;

	while ((k = W.ctl_grave) != NULL) {
		W.ctl_grave = k->next;
		free(k);
	}
}

static int
wanem_ctl_addr(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof *addr);
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof addr->sun_path)
		return -ENAMETOOLONG;
	strcpy(addr->sun_path, path);
	return 0;
}

static int
wanem_ctl_listen(const char *path)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &W.ctl_h};
	struct sockaddr_un addr;
	struct stat st;
	mode_t old;
	int fd = -1, probe, rc;

	rc = wanem_ctl_addr(path, &addr);
	if (rc < 0)
		return rc;
	/* Replace a stale socket, but never a live one or a plain file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&addr,
					  sizeof addr) == 0) {
			close(probe);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Born 0600: no window where others could connect. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
	umask(old);
	if (rc < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	W.ctl_fd = fd;
	W.ctl_path = path;
	W.ctl_h.kind = WANEM_EV_CTL_LISTEN;
	if (chmod(path, 0600) < 0 || listen(fd, 16) < 0 ||
	    epoll_ctl(W.ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

/* --send: one command, one answer. */
static int
wanem_send(const char *path, const char *cmd)
{
	struct sockaddr_un addr;
	struct pollfd pfd;
	char line[WANEM_CTL_LINE_MAX + 8];
	size_t len = 0, n;
	ssize_t r;
	int fd, rc;

	if (wanem_ctl_addr(path, &addr) < 0)
		return wanem_fail(2, "--control: path too long '%s'", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		rc = wanem_fail(1, "cannot connect to control socket %s: %s",
				path, strerror(errno));
		goto out;
	}
	n = strlen(cmd);
	if (send(fd, cmd, n, MSG_NOSIGNAL) != (ssize_t)n ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		rc = wanem_fail(1, "control socket %s: %s", path,
				strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL) {
		rc = poll(&pfd, 1, WANEM_SEND_TIMEOUT_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			rc =
			    wanem_fail(1, "control socket %s: no answer", path);
			goto out;
		}
		r = recv(fd, line + len, sizeof line - 1 - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	line[len] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (line[0] == '\0') {
		rc = wanem_fail(1, "control socket %s: no answer", path);
		goto out;
	}
	printf("%s\n", line);
	fflush(stdout);
	rc = strncmp(line, "error", 5) == 0 ? 1 : 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---------------------------------------------------------------- CLI */

enum {
	WANEM_OPT_CONTROL = 256,
	WANEM_OPT_SEND,
	WANEM_OPT_CHECK,
	WANEM_OPT_NO_CHECK,
	WANEM_OPT_SEED,
	WANEM_OPT_VERSION,
};

static const struct option wanem_longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"connect", required_argument, NULL, 'c'},
    {"rtt", required_argument, NULL, 'r'},
    {"jitter", required_argument, NULL, 'j'},
    {"bandwidth", required_argument, NULL, 'b'},
    {"control", required_argument, NULL, WANEM_OPT_CONTROL},
    {"send", required_argument, NULL, WANEM_OPT_SEND},
    {"check-target", no_argument, NULL, WANEM_OPT_CHECK},
    {"no-check", no_argument, NULL, WANEM_OPT_NO_CHECK},
    {"seed", required_argument, NULL, WANEM_OPT_SEED},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, WANEM_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void
wanem_usage(void)
{
	size_t i;

	printf(
	    "Usage: wanem --listen HOST:PORT --connect HOST:PORT [...]\n"
	    "             [--rtt MS] [--jitter MS] [--bandwidth RATE]\n"
	    "             [--control PATH] [--no-check] [--seed N] [-v]\n"
	    "       wanem --control PATH --send COMMAND\n"
	    "       wanem --help | --version\n"
	    "\n"
	    "A TCP proxy that emulates a WAN link. Data each way is delayed\n"
	    "by RTT/2, plus jitter, and optionally rate limited; it is never\n"
	    "reordered or altered. Runs in the foreground until SIGTERM or\n"
	    "SIGINT.\n"
	    "\n"
	    "Links:\n"
	    "  -l, --listen HOST:PORT   accept clients here (port 0: any "
	    "free port)\n"
	    "  -c, --connect HOST:PORT  forward each client to this server\n"
	    "      Give several --listen/--connect pairs for several links,\n"
	    "      paired in order (e.g. NFS and MOUNT). HOST is an IPv4\n"
	    "      address, [IPv6] address or a name. Each client gets its\n"
	    "      own connection to the server; if that connect fails the\n"
	    "      client is reset and one line is logged to stderr.\n"
	    "\n"
	    "Emulation (every link; change at run time with the commands "
	    "below):\n"
	    "  -r, --rtt MS             round-trip time in ms, decimals "
	    "allowed\n"
	    "                           (0.5, 40); each way gets half. "
	    "Default 0.\n"
	    "  -j, --jitter MS          add a uniform offset in [-MS, +MS] "
	    "to each\n"
	    "                           chunk's one-way delay (clamped at 0); "
	    "order\n"
	    "                           is kept. Default 0.\n"
	    "  -b, --bandwidth RATE     per link and direction, shared by "
	    "its\n"
	    "                           connections: 10mbit, 100kbit, "
	    "1gbit,\n"
	    "                           5MB, 500KB (bytes/s, SI), 2MiB, or a "
	    "plain\n"
	    "                           number of bytes/s. 0 or absent: "
	    "unlimited.\n"
	    "\n"
	    "Control:\n"
	    "      --control PATH       also take commands on a UNIX socket "
	    "(mode 0600)\n"
	    "      --send COMMAND       with --control: send one command, "
	    "print the\n"
	    "                           answer, exit 0 on ok/stats, 1 on "
	    "error\n"
	    "\n"
	    "Start-up:\n"
	    "      --check-target       probe each --connect target with a "
	    "TCP\n"
	    "                           connect (2 s timeout); exit 1 if one "
	    "fails\n"
	    "                           (the default)\n"
	    "      --no-check           skip the probe (server starts "
	    "later)\n"
	    "      --seed N             seed the jitter generator "
	    "(default: random)\n"
	    "  -v, --verbose            log connections opening and closing "
	    "to stderr\n"
	    "  -h, --help               show this help and exit\n"
	    "      --version            show the version and exit\n"
	    "\n"
	    "Control commands, one per line, each answered by one line,\n"
	    "\"ok\" or \"error: ...\":\n");
	for (i = 0; i < WANEM_NCMDS; i++) {
		char head[32];

		snprintf(head, sizeof head, "%s%s%s", wanem_cmds[i].name,
			 wanem_cmds[i].args != NULL ? " " : "",
			 wanem_cmds[i].args != NULL ? wanem_cmds[i].args : "");
		printf("  %-18s %s\n", head, wanem_cmds[i].help);
	}
	printf(
	    "The stats answer is\n"
	    "  conns=N accepted=N bytes_up=N bytes_down=N cut=N refused=N\n"
	    "open connections, connections accepted in all, bytes delivered "
	    "to servers\nand to clients, connections cut, connections "
	    "refused.\n"
	    "\n"
	    "Signals:\n"
	    "  SIGUSR1                  reset every open connection (SO_LINGER "
	    "0:\n"
	    "                           both sides see ECONNRESET)\n"
	    "  SIGTERM, SIGINT          close everything and exit 0\n"
	    "\n"
	    "Output on stdout, once every listener is bound, one line per "
	    "link\n"
	    "with the port actually bound, then a ready line:\n"
	    "  wanem: link LISTEN_HOST:PORT -> CONNECT_HOST:PORT rtt=40ms "
	    "jitter=0ms bandwidth=unlimited\n"
	    "  wanem: ready\n"
	    "(a set bandwidth is shown in bytes/s, e.g. "
	    "bandwidth=1250000B/s)\n"
	    "\n"
	    "Exit status: 0 after SIGTERM/SIGINT or --help, 1 on a runtime "
	    "error\n"
	    "(cannot listen, target unreachable, ...), 2 on a usage error.\n");
}

/* The option as the user typed it, without any "=value". */
static void
wanem_opt_name(char *buf, size_t sz, const char *arg, int optc)
{
	if (arg != NULL && strncmp(arg, "--", 2) == 0)
		snprintf(buf, sz, "%.*s", (int)strcspn(arg, "="), arg);
	else if (optc != 0)
		snprintf(buf, sz, "-%c", optc);
	else
		snprintf(buf, sz, "%s", arg != NULL ? arg : "?");
}

/* getopt_long refuses a prefix of several options without saying so. */
static bool
wanem_opt_ambiguous(const char *name)
{
	const struct option *o;
	size_t len;
	int n = 0;

	if (strncmp(name, "--", 2) != 0 || name[2] == '\0')
		return false;
	len = strlen(name + 2);
	for (o = wanem_longopts; o->name != NULL; o++)
		n += strncmp(o->name, name + 2, len) == 0;
	return n > 1;
}

static int
wanem_opt_value(const char *opt, const char *arg, uint64_t *v, bool rate)
{
	char msg[512];
	int rc;

	rc = rate ? wanem_parse_rate(arg, v) : wanem_parse_ms(arg, v);
	if (rc == 0)
		return 0;
	wanem_fmt_bad_value(msg, sizeof msg, opt, arg, rc, rate);
	return wanem_fail(2, "%s", msg);
}

static int
wanem_parse_args(int argc, char **argv, struct wanem_opts *o)
{
	char name[64], *end;
	const char *prev;
	int c, rc;

	o->check = true;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:c:r:j:b:vh", wanem_longopts,
				NULL)) != -1) {
		prev = optind > 0 && optind <= argc ? argv[optind - 1] : NULL;
		switch (c) {
		case 'l':
			o->listen = wanem_xrealloc(
			    o->listen, (o->nlisten + 1) * sizeof *o->listen);
			o->listen[o->nlisten++] = optarg;
			break;
		case 'c':
			o->connect = wanem_xrealloc(
			    o->connect, (o->nconnect + 1) * sizeof *o->connect);
			o->connect[o->nconnect++] = optarg;
			break;
		case 'r':
			if ((rc = wanem_opt_value("--rtt", optarg, &o->rtt,
						  false)) != 0)
				return rc;
			break;
		case 'j':
			if ((rc = wanem_opt_value("--jitter", optarg,
						  &o->jitter, false)) != 0)
				return rc;
			break;
		case 'b':
			if ((rc = wanem_opt_value("--bandwidth", optarg,
						  &o->rate, true)) != 0)
				return rc;
			break;
		case WANEM_OPT_CONTROL:
			o->control = optarg;
			break;
		case WANEM_OPT_SEND:
			o->send = optarg;
			break;
		case WANEM_OPT_CHECK:
			o->check = true;
			break;
		case WANEM_OPT_NO_CHECK:
			o->check = false;
			break;
		case WANEM_OPT_SEED:
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno != 0 || *end != '\0' || *optarg == '\0' ||
			    *optarg == '-')
				return wanem_fail(
				    2, "--seed: not a number '%s'", optarg);
			o->seeded = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			wanem_usage();
			fflush(stdout);
			return -1;
		case WANEM_OPT_VERSION:
			printf("wanem (%s) %s\n", PACKAGE_NAME,
			       PACKAGE_VERSION);
			fflush(stdout);
			return -1;
		case ':':
			wanem_opt_name(name, sizeof name, prev, optopt);
			return wanem_fail(2,
					  "option '%s' needs a value (see "
					  "--help)",
					  name);
		default:
			wanem_opt_name(name, sizeof name, prev,
				       optopt < 256 ? optopt : 0);
			if (prev != NULL && strncmp(prev, "--", 2) == 0 &&
			    strchr(prev, '=') != NULL && optopt != 0)
				return wanem_fail(2,
						  "option '%s' takes no "
						  "value (see --help)",
						  name);
			if (wanem_opt_ambiguous(name))
				return wanem_fail(2,
						  "ambiguous option '%s' "
						  "(see --help)",
						  name);
			return wanem_fail(2, "unknown option '%s' (see --help)",
					  name);
		}
	}
	if (optind < argc)
		return wanem_fail(2, "unexpected argument '%s' (see --help)",
				  argv[optind]);

	if (o->send != NULL) {
		if (o->control == NULL)
			return wanem_fail(2, "--send needs --control PATH");
		if (o->nlisten != 0 || o->nconnect != 0)
			return wanem_fail(2, "--send cannot be combined with "
					     "--listen/--connect");
		if (strchr(o->send, '\n') != NULL)
			return wanem_fail(2,
					  "--send: command must be one line");
		if (o->send[strspn(o->send, " \t")] == '\0')
			return wanem_fail(2, "--send: empty command");
		return 0;
	}
	if (o->nlisten == 0 && o->nconnect == 0)
		return wanem_fail(2, "--listen and --connect are required (see "
				     "--help)");
	if (o->nlisten != o->nconnect)
		return wanem_fail(2,
				  "--listen and --connect must come in pairs "
				  "(%zu vs %zu)",
				  o->nlisten, o->nconnect);
	return 0;
}

static int
wanem_hostport(const char *opt, const char *arg, char *host, uint16_t *port,
	       bool need_port)
{
	int rc;

	rc = wanem_parse_hostport(arg, host, WANEM_HOST_MAX, port);
	if (rc == -ERANGE || (rc == 0 && need_port && *port == 0))
		return wanem_fail(2, "%s: bad port in '%s' (want %s-65535)",
				  opt, arg, need_port ? "1" : "0");
	if (rc < 0)
		return wanem_fail(2, "%s: bad address '%s' (want HOST:PORT)",
				  opt, arg);
	return 0;
}

/* Build the links from the options; an exit status on failure. */
static int
wanem_links_init(const struct wanem_opts *o)
{
	struct wanem_link *l;
	uint64_t seed;
	const char *why;
	size_t i;
	int rc;

	W.links = wanem_xrealloc(NULL, o->nlisten * sizeof *W.links);
	memset(W.links, 0, o->nlisten * sizeof *W.links);
	W.nlinks = o->nlisten;
	seed = o->seeded ? o->seed : wanem_now() ^ ((uint64_t)getpid() << 32);
	for (i = 0; i < W.nlinks; i++) {
		l = &W.links[i];
		l->fd = -1;
		l->listen_arg = o->listen[i];
		l->connect_arg = o->connect[i];
		wanem_sched_init(&l->sched[0], o->rtt / 2, o->jitter, o->rate,
				 seed + 2 * i);
		wanem_sched_init(&l->sched[1], o->rtt / 2, o->jitter, o->rate,
				 seed + 2 * i + 1);
	}
	/* Check every argument before touching the network. */
	for (i = 0; i < W.nlinks; i++) {
		l = &W.links[i];
		if ((rc = wanem_hostport("--listen", l->listen_arg, l->lhost,
					 &l->lport, false)) != 0 ||
		    (rc = wanem_hostport("--connect", l->connect_arg, l->chost,
					 &l->cport, true)) != 0)
			return rc;
	}
	for (i = 0; i < W.nlinks; i++) {
		l = &W.links[i];
		if (wanem_link_targets(l, &why) < 0)
			return wanem_fail(1, "cannot resolve '%s': %s",
					  l->chost, why);
		if (o->check && (rc = wanem_probe(l)) < 0)
			return wanem_fail(1, "target %s unreachable: %s",
					  l->connect_arg, strerror(-rc));
	}
	return 0;
}

static int
wanem_loop_init(void)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct rlimit rl;
	sigset_t set;

	/* Hundreds of connections need two descriptors each. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Default timer slack is 50 us; our deadlines want better. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	signal(SIGPIPE, SIG_IGN);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	W.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	W.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	W.ep = epoll_create1(EPOLL_CLOEXEC);
	W.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (W.sfd < 0 || W.tfd < 0 || W.ep < 0)
		return -errno;

	W.sig_h.kind = WANEM_EV_SIGNAL;
	ev.data.ptr = &W.sig_h;
	if (epoll_ctl(W.ep, EPOLL_CTL_ADD, W.sfd, &ev) < 0)
		return -errno;
	W.timer_h.kind = WANEM_EV_TIMER;
	ev.data.ptr = &W.timer_h;
	if (epoll_ctl(W.ep, EPOLL_CTL_ADD, W.tfd, &ev) < 0)
		return -errno;
	return 0;
}

static void
wanem_signals(void)
{
	struct signalfd_siginfo si;

	while (read(W.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGUSR1)
			wanem_cut_all();
		else
			W.quit = true;
	}
}

static void
wanem_dispatch(struct epoll_event *ev)
{
	struct wanem_handle *h = ev->data.ptr;
	uint64_t ticks;

	switch (h->kind) {
	case WANEM_EV_SIGNAL:
		wanem_signals();
		break;
	case WANEM_EV_TIMER:
		/* Only clears the timerfd; the heap says what is due. */
		if (read(W.tfd, &ticks, sizeof ticks) < 0)
			(void)0;
		W.timer_armed = 0;
		break;
	case WANEM_EV_LISTEN:
		wanem_accept(h->ptr);
		break;
	case WANEM_EV_CTL_LISTEN:
		wanem_ctl_accept();
		break;
	case WANEM_EV_CTL:
		wanem_ctl_read(h->ptr);
		break;
	case WANEM_EV_CONN:
		wanem_conn_event(h->ptr, h->side, ev->events, wanem_now());
		break;
	}
}

static int
wanem_run(void)
{
	struct epoll_event evs[WANEM_EVENTS];
	int n, i;

	while (!W.quit) {
		wanem_run_timers(wanem_now());
		wanem_grave_free();
		wanem_ctl_grave_free();
		wanem_timer_arm();
		n = epoll_wait(W.ep, evs, WANEM_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++)
			wanem_dispatch(&evs[i]);
	}
	return 0;
}

static void
wanem_cleanup(struct wanem_opts *o)
{
	size_t i;

	while (W.conns != NULL)
		wanem_conn_kill(W.conns, false, 0);
	wanem_grave_free();
	while (W.ctls != NULL)
		wanem_ctl_kill(W.ctls);
	wanem_ctl_grave_free();
	if (W.ctl_fd >= 0) {
		close(W.ctl_fd);
		unlink(W.ctl_path);
	}
	for (i = 0; i < W.nlinks; i++) {
		if (W.links[i].fd >= 0)
			close(W.links[i].fd);
		free(W.links[i].targets);
	}
	free(W.links);
	free(W.heap);
	if (W.ep >= 0)
		close(W.ep);
	if (W.sfd >= 0)
		close(W.sfd);
	if (W.tfd >= 0)
		close(W.tfd);
	if (W.spare_fd >= 0)
		close(W.spare_fd);
	free(o->listen);
	free(o->connect);
}

int
main(int argc, char **argv)
{
	struct wanem_opts o = {0};
	struct sockaddr_un ctl_addr;
	char rtt[32], jitter[32], rate[32];
	struct wanem_link *l;
	size_t i;
	int rc;

	rc = wanem_parse_args(argc, argv, &o);
	if (rc != 0) {
		rc = rc < 0 ? 0 : rc; /* -1: --help or --version */
		goto out;
	}
	if (o.send != NULL) {
		rc = wanem_send(o.control, o.send);
		goto out;
	}
	if (o.control != NULL && wanem_ctl_addr(o.control, &ctl_addr) < 0) {
		rc = wanem_fail(2, "--control: path too long '%s'", o.control);
		goto out;
	}

	W.verbose = o.verbose;
	W.rtt = o.rtt;
	W.jitter = o.jitter;
	W.rate = o.rate;
	rc = wanem_links_init(&o);
	if (rc != 0)
		goto out;
	rc = wanem_loop_init();
	if (rc < 0) {
		rc = wanem_fail(1, "cannot set up the event loop: %s",
				strerror(-rc));
		goto out;
	}
	for (i = 0; i < W.nlinks; i++) {
		l = &W.links[i];
		rc = wanem_listen(l);
		if (rc < 0) {
			rc = wanem_fail(1, "cannot listen on %s: %s",
					l->listen_arg, strerror(-rc));
			goto out;
		}
	}
	if (o.control != NULL) {
		rc = wanem_ctl_listen(o.control);
		if (rc < 0) {
			rc = wanem_fail(1,
					"cannot listen on control socket "
					"%s: %s",
					o.control, strerror(-rc));
			goto out;
		}
	}

	wanem_fmt_ms(rtt, sizeof rtt, o.rtt);
	wanem_fmt_ms(jitter, sizeof jitter, o.jitter);
	wanem_fmt_rate(rate, sizeof rate, o.rate);
	for (i = 0; i < W.nlinks; i++) {
		l = &W.links[i];
		printf("wanem: link %s -> %s rtt=%sms jitter=%sms "
		       "bandwidth=%s\n",
		       l->lname, l->connect_arg, rtt, jitter, rate);
	}
	printf("wanem: ready\n");
	fflush(stdout);

	rc = wanem_run();
	if (rc < 0)
		rc = wanem_fail(1, "epoll_wait: %s", strerror(-rc));
	else if (W.verbose)
		wanem_log("exiting");
out:
	wanem_cleanup(&o);
	return rc;
}
