/*
 * wanem_sched.h - pure logic behind tools/wanem: argument parsers, the
 * per-direction delay/jitter/bandwidth scheduler and the chunk queue.
 *
 * Nothing here does I/O or reads a clock: times are passed in as
 * nanoseconds on whatever monotonic clock the caller uses, so that every
 * rule can be unit-tested with made-up times.
 */
#ifndef WANEM_SCHED_H
#define WANEM_SCHED_H

#include <stddef.h>
#include <stdint.h>

#define WANEM_NS_PER_MS UINT64_C(1000000)
#define WANEM_NS_PER_SEC UINT64_C(1000000000)

/* Longest duration any parser accepts: a day is beyond any sane test. */
#define WANEM_DURATION_MAX_NS (UINT64_C(86400) * WANEM_NS_PER_SEC)

/* Room for a host name or numeric address, without brackets. */
#define WANEM_HOST_MAX 256

/*
 * Parsers return 0 or a negative errno and never print:
 *   -EINVAL  not a number / malformed
 *   -ERANGE  negative, too large, or (rates) non-zero but below 1 byte/s
 * A leading '-' on an otherwise valid number gives -ERANGE, so callers can
 * tell "negative" from "garbage" by looking at the first character.
 */

/* "40", "0.5", "12.25ms" -> nanoseconds. Digits past 1 ns are dropped. */
int wanem_parse_ms(const char *s, uint64_t *ns);

/* "5", "0.25", "2s" -> nanoseconds. */
int wanem_parse_sec(const char *s, uint64_t *ns);

/*
 * Rate -> bytes per second, 0 meaning unlimited. Plain numbers are bytes
 * per second; suffixes (any case) are SI bits "bit kbit mbit gbit tbit",
 * SI bytes "b kb mb gb tb" and IEC bytes "kib mib gib tib". Decimals are
 * allowed ("1.5mbit"); the result is truncated to whole bytes.
 */
int wanem_parse_rate(const char *s, uint64_t *bytes_per_sec);

/*
 * "HOST:PORT" or "[IPV6]:PORT". The host (brackets removed) is copied into
 * host[hostsz]. -EINVAL for a missing or empty part, an unbracketed IPv6
 * address or a host that does not fit; -ERANGE for a port above 65535.
 * Port 0 is accepted: whether it makes sense is up to the caller.
 */
int wanem_parse_hostport(const char *s, char *host, size_t hostsz,
			 uint16_t *port);

/* xorshift64*: small, fast, and reproducible from a seed. */
struct wanem_rng {
	uint64_t state;
};

void wanem_rng_seed(struct wanem_rng *rng, uint64_t seed);
uint64_t wanem_rng_next(struct wanem_rng *rng);

/*
 * One link in one direction. The serialisation queue (link_free) is shared
 * by every connection of the link, but ordering is per connection, so the
 * last release time lives apart in struct wanem_flow.
 */
struct wanem_sched {
	uint64_t delay_ns;  /* one-way delay: rtt / 2 */
	uint64_t jitter_ns; /* per-chunk offset in [-jitter, +jitter] */
	uint64_t rate;	    /* bytes per second, 0 = unlimited */
	uint64_t link_free; /* when the last chunk leaves the wire */
	uint64_t frac;	    /* sub-nanosecond remainder, in 1/rate ns */
	struct wanem_rng rng;
};

/* One connection in one direction. */
struct wanem_flow {
	uint64_t last_release;
};

void wanem_sched_init(struct wanem_sched *s, uint64_t delay_ns,
		      uint64_t jitter_ns, uint64_t rate, uint64_t seed);

/* Change parameters; chunks scheduled from now on use them. */
void wanem_sched_set(struct wanem_sched *s, uint64_t delay_ns,
		     uint64_t jitter_ns, uint64_t rate);

/*
 * Schedule a chunk of len bytes that arrived at now and return when it may
 * be delivered: it starts on the wire at max(now, link_free), occupies it
 * for len / rate, then takes the one-way delay plus jitter (clamped at 0).
 * The result is never earlier than the flow's previous release. len 0
 * schedules an end-of-stream marker.
 */
uint64_t wanem_sched_chunk(struct wanem_sched *s, struct wanem_flow *f,
			   uint64_t now, size_t len);

/* A buffer waiting for its release time. */
struct wanem_chunk {
	struct wanem_chunk *next;
	uint64_t release;
	size_t len; /* bytes in data[] */
	size_t off; /* bytes of data[] already written */
	unsigned char data[];
};

/* FIFO of chunks; bytes counts what is still to be written. */
struct wanem_queue {
	struct wanem_chunk *head;
	struct wanem_chunk *tail;
	size_t bytes;
	size_t count;
};

void wanem_queue_init(struct wanem_queue *q);

/* Copy len (> 0) bytes in at the tail. 0, -EINVAL or -ENOMEM. */
int wanem_queue_push(struct wanem_queue *q, uint64_t release, const void *data,
		     size_t len);

/* The head chunk, or NULL when empty. */
struct wanem_chunk *wanem_queue_head(const struct wanem_queue *q);

/*
 * Mark n bytes of the head as written (n is clamped to what the head
 * holds); the head is freed once fully written. Returns bytes consumed.
 */
size_t wanem_queue_consume(struct wanem_queue *q, size_t n);

/* Free everything. */
void wanem_queue_clear(struct wanem_queue *q);

#endif
