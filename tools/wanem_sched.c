/*
 * wanem_sched.c - parsers, scheduler and chunk queue for tools/wanem.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/wanem_sched.h"

/*
 * A non-negative decimal: digits, optional '.' and fraction, at least one
 * digit in all. mant collects every digit (bounded to stay exact), fdigits
 * counts those after the point. *end is left on the first unparsed byte.
 */
static int
wanem__parse_decimal(const char *s, uint64_t *mant, unsigned *fdigits,
		     const char **end)
{
	uint64_t m = 0;
	unsigned nd = 0, fd = 0;
	int point = 0;

	for (;; s++) {
		if (*s == '.' && !point) {
			point = 1;
			continue;
		}
		if (*s < '0' || *s > '9')
			break;
		nd++;
		if (m > (UINT64_MAX - 9) / 10 || (point && fd >= 18)) {
			/* Far below a ns or a byte: such digits cannot count.
			 */
			if (point)
				continue;
			return -ERANGE;
		}
		m = m * 10 + (uint64_t)(*s - '0');
		if (point)
			fd++;
	}
	if (nd == 0)
		return -EINVAL;
	*mant = m;
	*fdigits = fd;
	*end = s;
	return 0;
}

static uint64_t
wanem__pow10(unsigned n)
{
	uint64_t p = 1;

	while (n-- > 0)
		p *= 10;
	return p;
}

/*
 * The number at the start of s, after one optional '-': *neg says whether
 * it was there. Callers refuse a negative value with -ERANGE only once the
 * rest has parsed, so that "-garbage" stays -EINVAL.
 */
static int
wanem__parse_signed(const char *s, int *neg, uint64_t *mant, unsigned *fd,
		    const char **end)
{
	if (s == NULL)
		return -EINVAL;
	*neg = *s == '-';
	return wanem__parse_decimal(s + *neg, mant, fd, end);
}

/* Number with an optional unit suffix, scaled by unit_ns nanoseconds. */
static int
wanem__parse_duration(const char *s, const char *suffix, uint64_t unit_ns,
		      uint64_t *ns)
{
	unsigned __int128 v;
	const char *end;
	uint64_t mant;
	unsigned fd;
	int rc, neg;

	rc = wanem__parse_signed(s, &neg, &mant, &fd, &end);
	if (rc != 0)
		return rc;
	if (*end != '\0' && strcmp(end, suffix) != 0)
		return -EINVAL;
	v = (unsigned __int128)mant * unit_ns / wanem__pow10(fd);
	if (v > WANEM_DURATION_MAX_NS || neg)
		return -ERANGE;
	*ns = (uint64_t)v;
	return 0;
}

int
wanem_parse_ms(const char *s, uint64_t *ns)
{
	return wanem__parse_duration(s, "ms", WANEM_NS_PER_MS, ns);
}

int
wanem_parse_sec(const char *s, uint64_t *ns)
{
	return wanem__parse_duration(s, "s", WANEM_NS_PER_SEC, ns);
}

/* Rate suffixes as bits per second per unit. */
static const struct {
	const char *name;
	uint64_t bits;
} wanem__rate_units[] = {
    {.name = "", .bits = 8},
    {.name = "b", .bits = 8},
    {.name = "kb", .bits = 8ULL * 1000},
    {.name = "mb", .bits = 8ULL * 1000 * 1000},
    {.name = "gb", .bits = 8ULL * 1000 * 1000 * 1000},
    {.name = "tb", .bits = 8ULL * 1000 * 1000 * 1000 * 1000},
    {.name = "kib", .bits = 8ULL << 10},
    {.name = "mib", .bits = 8ULL << 20},
    {.name = "gib", .bits = 8ULL << 30},
    {.name = "tib", .bits = 8ULL << 40},
    {.name = "bit", .bits = 1},
    {.name = "kbit", .bits = 1000ULL},
    {.name = "mbit", .bits = 1000ULL * 1000},
    {.name = "gbit", .bits = 1000ULL * 1000 * 1000},
    {.name = "tbit", .bits = 1000ULL * 1000 * 1000 * 1000},
};

int
wanem_parse_rate(const char *s, uint64_t *bytes_per_sec)
{
	unsigned __int128 v;
	const char *end;
	uint64_t mant;
	unsigned fd;
	size_t i;
	int rc, neg;

	rc = wanem__parse_signed(s, &neg, &mant, &fd, &end);
	if (rc != 0)
		return rc;
	for (i = 0; i < sizeof wanem__rate_units / sizeof *wanem__rate_units;
	     i++) {
		if (strcasecmp(end, wanem__rate_units[i].name) == 0)
			break;
	}
	if (i == sizeof wanem__rate_units / sizeof *wanem__rate_units)
		return -EINVAL;
	/* mant < 2^64 and bits < 2^43: the product fits in 128 bits. */
	v = (unsigned __int128)mant * wanem__rate_units[i].bits;
	v /= (unsigned __int128)wanem__pow10(fd) * 8;
	if (v > UINT64_MAX || neg)
		return -ERANGE;
	/* "1bit" would round to 0, which means unlimited: refuse it. */
	if (v == 0 && mant != 0)
		return -ERANGE;
	*bytes_per_sec = (uint64_t)v;
	return 0;
}

int
wanem_parse_hostport(const char *s, char *host, size_t hostsz, uint16_t *port)
{
	const char *h, *colon, *p;
	size_t hlen;
	unsigned long v = 0;

	if (s == NULL)
		return -EINVAL;
	if (*s == '[') {
		h = s + 1;
		colon = strchr(h, ']');
		if (colon == NULL || colon[1] != ':')
			return -EINVAL;
		hlen = (size_t)(colon - h);
		colon++;
	} else {
		h = s;
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -EINVAL;
		hlen = (size_t)(colon - h);
		/* Several colons: an IPv6 address that needs brackets. */
		if (memchr(h, ':', hlen) != NULL)
			return -EINVAL;
	}
	if (hlen == 0 || hlen >= hostsz)
		return -EINVAL;

	p = colon + 1;
	if (*p == '\0')
		return -EINVAL;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -ERANGE;
	}

	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)v;
	return 0;
}

void
wanem_rng_seed(struct wanem_rng *rng, uint64_t seed)
{
	/* splitmix64 spreads small seeds; xorshift must not start at 0. */
	seed += 0x9e3779b97f4a7c15ULL;
	seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ULL;
	seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebULL;
	seed ^= seed >> 31;
	rng->state = seed != 0 ? seed : 0x2545f4914f6cdd1dULL;
}

uint64_t
wanem_rng_next(struct wanem_rng *rng)
{
	uint64_t x = rng->state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng->state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

void
wanem_sched_init(struct wanem_sched *s, uint64_t delay_ns, uint64_t jitter_ns,
		 uint64_t rate, uint64_t seed)
{
	memset(s, 0, sizeof *s);
	s->delay_ns = delay_ns;
	s->jitter_ns = jitter_ns;
	s->rate = rate;
	wanem_rng_seed(&s->rng, seed);
}

void
wanem_sched_set(struct wanem_sched *s, uint64_t delay_ns, uint64_t jitter_ns,
		uint64_t rate)
{
	/* The remainder is in units of the old rate. */
	if (rate != s->rate)
		s->frac = 0;
	s->delay_ns = delay_ns;
	s->jitter_ns = jitter_ns;
	s->rate = rate;
}

uint64_t
wanem_sched_chunk(struct wanem_sched *s, struct wanem_flow *f, uint64_t now,
		  size_t len)
{
	unsigned __int128 tx;
	uint64_t sent = now, delay = s->delay_ns, release, r, j;

	if (s->rate != 0) {
		/* An idle link banks no credit: the remainder starts over. */
		if (s->link_free >= now)
			sent = s->link_free;
		else
			s->frac = 0;
		tx = (unsigned __int128)len * WANEM_NS_PER_SEC + s->frac;
		sent += (uint64_t)(tx / s->rate);
		s->frac = (uint64_t)(tx % s->rate);
		s->link_free = sent;
	}

	if (s->jitter_ns != 0) {
		j = s->jitter_ns;
		/* Uniform in [0, 2j] without modulo bias worth mentioning. */
		r = (uint64_t)(((unsigned __int128)wanem_rng_next(&s->rng) *
				(2 * j + 1)) >>
			       64);
		if (r >= j)
			delay += r - j;
		else
			delay = delay > j - r ? delay - (j - r) : 0;
	}

	release = sent + delay;
	if (release < f->last_release)
		release = f->last_release;
	f->last_release = release;
	return release;
}

void
wanem_queue_init(struct wanem_queue *q)
{
	memset(q, 0, sizeof *q);
}

int
wanem_queue_push(struct wanem_queue *q, uint64_t release, const void *data,
		 size_t len)
{
	struct wanem_chunk *c;

	if (len == 0)
		return -EINVAL;
	c = malloc(sizeof *c + len);
	if (c == NULL)
		return -ENOMEM;
	c->next = NULL;
	c->release = release;
	c->len = len;
	c->off = 0;
	memcpy(c->data, data, len);

	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->bytes += len;
	q->count++;
	return 0;
}

struct wanem_chunk *
wanem_queue_head(const struct wanem_queue *q)
{
	return q->head;
}

size_t
wanem_queue_consume(struct wanem_queue *q, size_t n)
{
	struct wanem_chunk *c = q->head;

	if (c == NULL)
		return 0;
	if (n > c->len - c->off)
		n = c->len - c->off;
	c->off += n;
	q->bytes -= n;
	if (c->off == c->len) {
		q->head = c->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->count--;
		free(c);
	}
	return n;
}

void
wanem_queue_clear(struct wanem_queue *q)
{
	struct wanem_chunk *c, *next;

	for (c = q->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	wanem_queue_init(q);
}
