/*
 * test_wanem_sched.c - parsers, scheduler and chunk queue of tools/wanem.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tools/wanem_sched.h"

#define MS WANEM_NS_PER_MS
#define SEC WANEM_NS_PER_SEC
/* Some arbitrary non-zero "now", as a monotonic clock would give. */
#define T0 (UINT64_C(12345) * SEC)

/* ------------------------------------------------------------ parsers */

static void
test_parse_ms_good(void **state)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} cases[] = {
	    {"40", 40 * MS},
	    {"0", 0},
	    {"0.5", 500000},
	    {".5", 500000},
	    {"5.", 5 * MS},
	    {"12.25ms", 12250000},
	    {"0.000001", 1},
	    {"0.0000009", 0}, /* below a nanosecond */
	    {"1.0000000000000000000001", MS},
	    {"007", 7 * MS},
	    {"86400000", 86400 * SEC},
	};
	uint64_t ns;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ns = 777;
		assert_int_equal(wanem_parse_ms(cases[i].s, &ns), 0);
		assert_int_equal(ns, cases[i].ns);
	}
}

static void
test_parse_ms_bad(void **state)
{
	static const struct {
		const char *s;
		int rc;
	} cases[] = {
	    {"", -EINVAL},
	    {"abc", -EINVAL},
	    {"5x", -EINVAL},
	    {"5 ", -EINVAL},
	    {" 5", -EINVAL},
	    {"+5", -EINVAL},
	    {"1.2.3", -EINVAL},
	    {".", -EINVAL},
	    {"ms", -EINVAL},
	    {"5s", -EINVAL},
	    {"5msx", -EINVAL},
	    {"-abc", -EINVAL},
	    {"--5", -EINVAL},
	    {"-", -EINVAL},
	    {"-5", -ERANGE},
	    {"-0.5", -ERANGE},
	    {"86400000.000001", -ERANGE},
	    {"99999999999999999999999", -ERANGE},
	};
	uint64_t ns;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ns = 777;
		assert_int_equal(wanem_parse_ms(cases[i].s, &ns), cases[i].rc);
		/* Failure leaves the output alone. */
		assert_int_equal(ns, 777);
	}
	assert_int_equal(wanem_parse_ms(NULL, &ns), -EINVAL);
}

static void
test_parse_sec(void **state)
{
	uint64_t ns;

	assert_int_equal(wanem_parse_sec("5", &ns), 0);
	assert_int_equal(ns, 5 * SEC);
	assert_int_equal(wanem_parse_sec("0.25", &ns), 0);
	assert_int_equal(ns, 250 * MS);
	assert_int_equal(wanem_parse_sec("2s", &ns), 0);
	assert_int_equal(ns, 2 * SEC);
	assert_int_equal(wanem_parse_sec("0", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(wanem_parse_sec("2ms", &ns), -EINVAL);
	assert_int_equal(wanem_parse_sec("x", &ns), -EINVAL);
	assert_int_equal(wanem_parse_sec("-1", &ns), -ERANGE);
	assert_int_equal(wanem_parse_sec("86401", &ns), -ERANGE);
}

static void
test_parse_rate_good(void **state)
{
	static const struct {
		const char *s;
		uint64_t bps;
	} cases[] = {
	    {"10mbit", 1250000},
	    {"10Mbit", 1250000},
	    {"100kbit", 12500},
	    {"1gbit", 125000000},
	    {"1.5mbit", 187500},
	    {"8bit", 1},
	    {"5MB", 5000000},
	    {"500KB", 500000},
	    {"500kb", 500000},
	    {"2GB", 2000000000},
	    {"2MiB", 2097152},
	    {"1kib", 1024},
	    {"1b", 1},
	    {"1000", 1000},
	    {"0", 0},
	    {"0mbit", 0},
	};
	uint64_t bps;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bps = 777;
		assert_int_equal(wanem_parse_rate(cases[i].s, &bps), 0);
		assert_int_equal(bps, cases[i].bps);
	}
}

static void
test_parse_rate_bad(void **state)
{
	static const struct {
		const char *s;
		int rc;
	} cases[] = {
	    {"", -EINVAL},	     {"abc", -EINVAL},
	    {"mbit", -EINVAL},	     {"10 mbit", -EINVAL},
	    {"10mbits", -EINVAL},    {"10xb", -EINVAL},
	    {"1.2.3mbit", -EINVAL},  {"-abc", -EINVAL},
	    {"-5", -ERANGE},	     {"-10mbit", -ERANGE},
	    {"1bit", -ERANGE}, /* 1/8 byte/s would mean unlimited */
	    {"0.5b", -ERANGE},	     {"99999999999999999999", -ERANGE},
	    {"20000000tb", -ERANGE},
	};
	uint64_t bps;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bps = 777;
		assert_int_equal(wanem_parse_rate(cases[i].s, &bps),
				 cases[i].rc);
		assert_int_equal(bps, 777);
	}
}

static void
test_parse_hostport_good(void **state)
{
	char host[WANEM_HOST_MAX];
	uint16_t port;

	assert_int_equal(
	    wanem_parse_hostport("127.0.0.1:2049", host, sizeof host, &port),
	    0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 2049);

	assert_int_equal(
	    wanem_parse_hostport("[::1]:0", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);

	assert_int_equal(
	    wanem_parse_hostport("localhost:65535", host, sizeof host, &port),
	    0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 65535);

	assert_int_equal(
	    wanem_parse_hostport("[fe80::1%lo]:111", host, sizeof host, &port),
	    0);
	assert_string_equal(host, "fe80::1%lo");
	assert_int_equal(port, 111);
}

static void
test_parse_hostport_bad(void **state)
{
	static const struct {
		const char *s;
		int rc;
	} cases[] = {
	    {"foo", -EINVAL},
	    {"", -EINVAL},
	    {"foo:", -EINVAL},
	    {":2049", -EINVAL},
	    {"::1:2049", -EINVAL}, /* IPv6 needs brackets */
	    {"[::1]2049", -EINVAL},
	    {"[::1]", -EINVAL},
	    {"[::1:2049", -EINVAL},
	    {"[]:2049", -EINVAL},
	    {"host:12a", -EINVAL},
	    {"host:-1", -EINVAL},
	    {"host: 1", -EINVAL},
	    {"host:65536", -ERANGE},
	    {"127.0.0.1:70000", -ERANGE},
	    {"host:99999999999999999999", -ERANGE},
	};
	char host[WANEM_HOST_MAX] = "untouched";
	uint16_t port = 7;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(
		    wanem_parse_hostport(cases[i].s, host, sizeof host, &port),
		    cases[i].rc);
		assert_string_equal(host, "untouched");
		assert_int_equal(port, 7);
	}
	/* A host that does not fit the buffer is refused, not cut. */
	assert_int_equal(wanem_parse_hostport("abcdefgh:1", host, 8, &port),
			 -EINVAL);
	assert_int_equal(wanem_parse_hostport("abcdefg:1", host, 8, &port), 0);
	assert_string_equal(host, "abcdefg");
}

/* ---------------------------------------------------------- scheduler */

static void
test_sched_exact_delay(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f = {0};
	uint64_t now;

	wanem_sched_init(&s, 20 * MS, 0, 0, 1);
	for (now = T0; now < T0 + SEC; now += 7 * MS + 13)
		assert_int_equal(wanem_sched_chunk(&s, &f, now, 1460),
				 now + 20 * MS);

	/* Zero delay: due at once, which lets wanem skip the timer. */
	wanem_sched_init(&s, 0, 0, 0, 1);
	f.last_release = 0;
	assert_int_equal(wanem_sched_chunk(&s, &f, T0, 65536), T0);
}

static void
test_sched_order_under_jitter(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f = {0};
	uint64_t now = T0, prev = 0, r;
	unsigned i, held = 0;

	/* Jitter far above the gap between chunks: reordering would be
	 * everywhere if the flow did not hold chunks back. */
	wanem_sched_init(&s, 1 * MS, 50 * MS, 0, 42);
	for (i = 0; i < 20000; i++) {
		now += 10000 + (i % 7) * 1000;
		r = wanem_sched_chunk(&s, &f, now, 100 + i % 1000);
		assert_true(r >= prev);
		assert_true(r >= now);
		assert_true(r <= now + 51 * MS || r == prev);
		if (r == prev)
			held++;
		prev = r;
	}
	/* Holding back must really have happened for this to test much. */
	assert_true(held > 1000);
}

static void
test_sched_jitter_bounds(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f;
	int64_t off, lo = INT64_MAX, hi = INT64_MIN, sum = 0;
	const int64_t j = 5 * MS;
	unsigned i, n = 20000;

	wanem_sched_init(&s, 20 * MS, (uint64_t)j, 0, 7);
	for (i = 0; i < n; i++) {
		f.last_release = 0; /* a fresh flow each time: no holding */
		off = (int64_t)(wanem_sched_chunk(&s, &f, T0, 1000) - T0) -
		      (int64_t)(20 * MS);
		assert_true(off >= -j && off <= j);
		lo = off < lo ? off : lo;
		hi = off > hi ? off : hi;
		sum += off;
	}
	/* Not all equal, spread over the whole range, centred on zero. */
	assert_true(lo < hi);
	assert_true(lo < -j * 9 / 10);
	assert_true(hi > j * 9 / 10);
	assert_true(sum / (int64_t)n > -j / 20 && sum / (int64_t)n < j / 20);
}

static void
test_sched_jitter_clamped(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f;
	unsigned i, at_zero = 0;
	uint64_t r;

	/* Jitter larger than the delay: never earlier than arrival. */
	wanem_sched_init(&s, 1 * MS, 10 * MS, 0, 3);
	for (i = 0; i < 10000; i++) {
		f.last_release = 0;
		r = wanem_sched_chunk(&s, &f, T0, 10);
		assert_true(r >= T0);
		assert_true(r <= T0 + 11 * MS);
		if (r == T0)
			at_zero++;
	}
	assert_true(at_zero > 1000);
}

static void
test_sched_seed_reproducible(void **state)
{
	struct wanem_sched a, b, c;
	struct wanem_flow fa = {0}, fb = {0}, fc = {0};
	unsigned i, differ = 0;
	uint64_t ra, rb, rc;

	wanem_sched_init(&a, 10 * MS, 5 * MS, 0, 99);
	wanem_sched_init(&b, 10 * MS, 5 * MS, 0, 99);
	wanem_sched_init(&c, 10 * MS, 5 * MS, 0, 100);
	for (i = 0; i < 1000; i++) {
		ra = wanem_sched_chunk(&a, &fa, T0 + i * 20 * MS, 10);
		rb = wanem_sched_chunk(&b, &fb, T0 + i * 20 * MS, 10);
		rc = wanem_sched_chunk(&c, &fc, T0 + i * 20 * MS, 10);
		assert_int_equal(ra, rb);
		differ += ra != rc;
	}
	assert_true(differ > 900);
}

static void
test_sched_bandwidth_serialises(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f = {0};
	const uint64_t rate = 1000000, len = 1000, delay = 5 * MS;
	unsigned i, n = 50;
	uint64_t r = 0;

	/* N chunks arriving together: chunk i leaves the wire at
	 * (i + 1) * L / R, then takes the delay. */
	wanem_sched_init(&s, delay, 0, rate, 1);
	for (i = 0; i < n; i++) {
		r = wanem_sched_chunk(&s, &f, T0, len);
		assert_int_equal(r, T0 + (i + 1) * len * SEC / rate + delay);
	}
	assert_int_equal(r, T0 + n * len * SEC / rate + delay);
	assert_int_equal(s.link_free, T0 + n * len * SEC / rate);
}

static void
test_sched_bandwidth_shared_by_flows(void **state)
{
	struct wanem_sched s;
	struct wanem_flow a = {0}, b = {0};

	/* Two connections of one link queue on the same wire. */
	wanem_sched_init(&s, 0, 0, 1000, 1);
	assert_int_equal(wanem_sched_chunk(&s, &a, T0, 500), T0 + SEC / 2);
	assert_int_equal(wanem_sched_chunk(&s, &b, T0, 500), T0 + SEC);
	assert_int_equal(wanem_sched_chunk(&s, &a, T0, 1000), T0 + 2 * SEC);
}

static void
test_sched_bandwidth_no_drift(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f = {0};
	uint64_t r = 0;
	unsigned i;

	/* 1/3 s per byte does not divide into ns: the remainder carries. */
	wanem_sched_init(&s, 0, 0, 3, 1);
	for (i = 0; i < 3000; i++)
		r = wanem_sched_chunk(&s, &f, T0, 1);
	assert_int_equal(r, T0 + 1000 * SEC);
}

static void
test_sched_idle_no_credit(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f = {0};
	const uint64_t delay = 10 * MS;

	wanem_sched_init(&s, delay, 0, 1000000, 1);
	assert_int_equal(wanem_sched_chunk(&s, &f, T0, 1000),
			 T0 + 1 * MS + delay);
	/* Ten idle seconds later a burst still pays full serialisation. */
	assert_int_equal(wanem_sched_chunk(&s, &f, T0 + 10 * SEC, 1000),
			 T0 + 10 * SEC + 1 * MS + delay);
	assert_int_equal(wanem_sched_chunk(&s, &f, T0 + 10 * SEC, 1000),
			 T0 + 10 * SEC + 2 * MS + delay);
}

static void
test_sched_param_change(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f = {0}, g = {0};
	uint64_t r;

	wanem_sched_init(&s, 10 * MS, 0, 0, 1);
	assert_int_equal(wanem_sched_chunk(&s, &f, T0, 10), T0 + 10 * MS);

	wanem_sched_set(&s, 50 * MS, 0, 0);
	assert_int_equal(wanem_sched_chunk(&s, &f, T0 + 1 * MS, 10),
			 T0 + 51 * MS);

	/* Back to no delay: the same flow still may not overtake... */
	wanem_sched_set(&s, 0, 0, 0);
	assert_int_equal(wanem_sched_chunk(&s, &f, T0 + 2 * MS, 10),
			 T0 + 51 * MS);
	/* ...but a new connection gets the new delay at once. */
	assert_int_equal(wanem_sched_chunk(&s, &g, T0 + 2 * MS, 10),
			 T0 + 2 * MS);

	/* A bandwidth change applies to the next chunk. */
	wanem_sched_set(&s, 0, 0, 1000);
	r = wanem_sched_chunk(&s, &g, T0 + 3 * MS, 100);
	assert_int_equal(r, T0 + 3 * MS + 100 * MS);
	wanem_sched_set(&s, 0, 0, 0);
	assert_int_equal(wanem_sched_chunk(&s, &g, T0 + 200 * MS, 100),
			 T0 + 200 * MS);
}

static void
test_sched_eof_after_data(void **state)
{
	struct wanem_sched s;
	struct wanem_flow f = {0};
	uint64_t data, eof;

	/* End of stream is a zero-length chunk: delayed, and never ahead
	 * of the data sent before it. */
	wanem_sched_init(&s, 20 * MS, 15 * MS, 0, 5);
	data = wanem_sched_chunk(&s, &f, T0, 1000);
	eof = wanem_sched_chunk(&s, &f, T0, 0);
	assert_true(eof >= data);
	assert_true(eof >= T0 + 5 * MS);
}

static void
test_rng(void **state)
{
	struct wanem_rng a, b;
	uint64_t x, y, ones = 0;
	unsigned i;

	/* Seed 0 must not leave xorshift stuck at zero. */
	wanem_rng_seed(&a, 0);
	wanem_rng_seed(&b, 1);
	for (i = 0; i < 1000; i++) {
		x = wanem_rng_next(&a);
		y = wanem_rng_next(&b);
		assert_true(x != 0);
		assert_true(x != y);
		ones += (uint64_t)__builtin_popcountll(x);
	}
	/* Roughly half the bits set. */
	assert_true(ones > 1000 * 28 && ones < 1000 * 36);
}

/* -------------------------------------------------------------- queue */

static void
test_queue_accounting(void **state)
{
	struct wanem_queue q;
	struct wanem_chunk *c;
	unsigned char a[10], b[20], d[30];

	memset(a, 'a', sizeof a);
	memset(b, 'b', sizeof b);
	memset(d, 'd', sizeof d);
	wanem_queue_init(&q);
	assert_null(wanem_queue_head(&q));
	assert_int_equal(wanem_queue_consume(&q, 5), 0);
	assert_int_equal(wanem_queue_push(&q, 1, a, 0), -EINVAL);

	assert_int_equal(wanem_queue_push(&q, 100, a, sizeof a), 0);
	assert_int_equal(wanem_queue_push(&q, 200, b, sizeof b), 0);
	assert_int_equal(wanem_queue_push(&q, 300, d, sizeof d), 0);
	assert_int_equal(q.bytes, 60);
	assert_int_equal(q.count, 3);

	/* A partial write leaves the remainder at the head. */
	assert_int_equal(wanem_queue_consume(&q, 4), 4);
	c = wanem_queue_head(&q);
	assert_non_null(c);
	assert_int_equal(c->release, 100);
	assert_int_equal(c->off, 4);
	assert_int_equal(c->len - c->off, 6);
	assert_memory_equal(c->data + c->off, a, 6);
	assert_int_equal(q.bytes, 56);
	assert_int_equal(q.count, 3);

	/* More than the head holds: only the head is consumed. */
	assert_int_equal(wanem_queue_consume(&q, 100), 6);
	assert_int_equal(q.bytes, 50);
	assert_int_equal(q.count, 2);
	c = wanem_queue_head(&q);
	assert_int_equal(c->release, 200);
	assert_int_equal(c->off, 0);
	assert_memory_equal(c->data, b, sizeof b);

	assert_int_equal(wanem_queue_consume(&q, 20), 20);
	assert_int_equal(wanem_queue_consume(&q, 30), 30);
	assert_null(wanem_queue_head(&q));
	assert_null(q.tail);
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.count, 0);

	/* Usable again once drained, and clear frees what is left. */
	assert_int_equal(wanem_queue_push(&q, 400, d, sizeof d), 0);
	assert_int_equal(wanem_queue_push(&q, 500, a, sizeof a), 0);
	assert_int_equal(wanem_queue_head(&q)->release, 400);
	wanem_queue_clear(&q);
	assert_null(wanem_queue_head(&q));
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.count, 0);
}

static void
test_queue_bytes_unaltered(void **state)
{
	struct wanem_queue q;
	struct wanem_chunk *c;
	unsigned char in[5000], out[5000];
	size_t i, got = 0, len, step = 1;

	for (i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)(i * 131 + 7);
	wanem_queue_init(&q);
	for (i = 0; i < sizeof in; i += len) {
		len = sizeof in - i < 333 ? sizeof in - i : 333;
		assert_int_equal(wanem_queue_push(&q, i, in + i, len), 0);
	}
	/* Drain with odd-sized "writes" that straddle chunk ends. */
	while ((c = wanem_queue_head(&q)) != NULL) {
		len = c->len - c->off < step ? c->len - c->off : step;
		memcpy(out + got, c->data + c->off, len);
		got += wanem_queue_consume(&q, len);
		step = step * 7 % 500 + 1;
	}
	assert_int_equal(got, sizeof in);
	assert_memory_equal(in, out, sizeof in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ms_good),
	    cmocka_unit_test(test_parse_ms_bad),
	    cmocka_unit_test(test_parse_sec),
	    cmocka_unit_test(test_parse_rate_good),
	    cmocka_unit_test(test_parse_rate_bad),
	    cmocka_unit_test(test_parse_hostport_good),
	    cmocka_unit_test(test_parse_hostport_bad),
	    cmocka_unit_test(test_sched_exact_delay),
	    cmocka_unit_test(test_sched_order_under_jitter),
	    cmocka_unit_test(test_sched_jitter_bounds),
	    cmocka_unit_test(test_sched_jitter_clamped),
	    cmocka_unit_test(test_sched_seed_reproducible),
	    cmocka_unit_test(test_sched_bandwidth_serialises),
	    cmocka_unit_test(test_sched_bandwidth_shared_by_flows),
	    cmocka_unit_test(test_sched_bandwidth_no_drift),
	    cmocka_unit_test(test_sched_idle_no_credit),
	    cmocka_unit_test(test_sched_param_change),
	    cmocka_unit_test(test_sched_eof_after_data),
	    cmocka_unit_test(test_rng),
	    cmocka_unit_test(test_queue_accounting),
	    cmocka_unit_test(test_queue_bytes_unaltered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
