/* The TCP transport's length framing (src/wire/tcpframe.c): packets in
 * any split of the stream, the limits, malformed lengths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "err.h"
#include "tcpframe.h"

/* A stream of three frames: 1, 300 and ZT_TCPF_MAX bytes. */
static size_t make_stream(uint8_t *s, size_t cap)
{
	static const size_t lens[] = { 1, 300, ZT_TCPF_MAX };
	size_t off = 0;

	for (size_t i = 0; i < 3; i++) {
		assert_true(off + ZT_TCPF_HDR + lens[i] <= cap);
		assert_int_equal(zt_tcpf_hdr(s + off, lens[i]), ZT_TCPF_HDR);
		off += ZT_TCPF_HDR;
		for (size_t j = 0; j < lens[i]; j++)
			s[off + j] = (uint8_t)(i * 31 + j);
		off += lens[i];
	}
	return off;
}

/* Feeds s in chunks of step bytes; checks every packet comes out whole. */
static void feed_in_steps(const uint8_t *s, size_t n, size_t step)
{
	static const size_t lens[] = { 1, 300, ZT_TCPF_MAX };
	struct zt_tcpf_rd r;
	size_t got = 0, off = 0;

	zt_tcpf_rd_init(&r);
	while (off < n) {
		size_t chunk = n - off < step ? n - off : step, used;
		const uint8_t *in = s + off;

		while (chunk > 0) {
			const uint8_t *p = NULL;
			size_t pl = 0;
			int rv = zt_tcpf_read(&r, in, chunk, &used, &p, &pl);

			assert_true(rv == 0 || rv == 1);
			assert_true(used <= chunk);
			in += used;
			chunk -= used;
			off += used;
			if (rv == 0) {
				assert_int_equal(chunk, 0);
				continue;
			}
			assert_true(got < 3);
			assert_int_equal(pl, lens[got]);
			for (size_t j = 0; j < pl; j++)
				assert_int_equal(p[j], (uint8_t)(got * 31 + j));
			got++;
		}
	}
	assert_int_equal(got, 3);
}

static void test_splits(void **state)
{
	static uint8_t s[3 * (ZT_TCPF_HDR + ZT_TCPF_MAX)];
	size_t n = make_stream(s, sizeof(s));
	static const size_t steps[] = { 1, 2, 3, 7, 301, 302, 4097, 1 << 16 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		feed_in_steps(s, n, steps[i]);
}

static void test_hdr_limits(void **state)
{
	uint8_t h[ZT_TCPF_HDR] = { 0xee, 0xee };

	assert_int_equal(zt_tcpf_hdr(h, 0), 0);
	assert_int_equal(zt_tcpf_hdr(h, ZT_TCPF_MAX + 1), 0);
	assert_int_equal(h[0], 0xee); /* untouched on refusal */
	assert_int_equal(zt_tcpf_hdr(h, 0x0abc), ZT_TCPF_HDR);
	assert_int_equal(h[0], 0x0a);
	assert_int_equal(h[1], 0xbc);
}

static void test_bad_lengths(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0x40 };
	static const uint8_t big[] = { (ZT_TCPF_MAX + 1) >> 8,
				       (ZT_TCPF_MAX + 1) & 0xff, 0x40 };
	static const uint8_t huge[] = { 0xff, 0xff };
	struct zt_tcpf_rd r;
	const uint8_t *p;
	size_t used, pl;

	zt_tcpf_rd_init(&r);
	assert_int_equal(zt_tcpf_read(&r, zero, sizeof(zero), &used, &p, &pl),
			 ZT_EINVAL);
	zt_tcpf_rd_init(&r);
	assert_int_equal(zt_tcpf_read(&r, big, sizeof(big), &used, &p, &pl),
			 ZT_ETOOBIG);
	/* The length split over two reads is judged once it is whole. */
	zt_tcpf_rd_init(&r);
	assert_int_equal(zt_tcpf_read(&r, huge, 1, &used, &p, &pl), 0);
	assert_int_equal(used, 1);
	assert_int_equal(zt_tcpf_read(&r, huge + 1, 1, &used, &p, &pl),
			 ZT_ETOOBIG);
}

/* A packet is returned as soon as it is whole; the bytes after it stay
 * with the caller for the next call. */
static void test_stops_after_packet(void **state)
{
	static const uint8_t s[] = { 0, 2, 0xaa, 0xbb, 0, 1, 0xcc };
	struct zt_tcpf_rd r;
	const uint8_t *p;
	size_t used, pl;

	zt_tcpf_rd_init(&r);
	assert_int_equal(zt_tcpf_read(&r, s, sizeof(s), &used, &p, &pl), 1);
	assert_int_equal(used, 4);
	assert_int_equal(pl, 2);
	assert_int_equal(p[0], 0xaa);
	assert_int_equal(p[1], 0xbb);
	assert_int_equal(zt_tcpf_read(&r, s + 4, 3, &used, &p, &pl), 1);
	assert_int_equal(used, 3);
	assert_int_equal(pl, 1);
	assert_int_equal(p[0], 0xcc);
	/* Nothing left: an empty read takes nothing and returns nothing. */
	assert_int_equal(zt_tcpf_read(&r, s, 0, &used, &p, &pl), 0);
	assert_int_equal(used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splits),
		cmocka_unit_test(test_hdr_limits),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_stops_after_packet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
