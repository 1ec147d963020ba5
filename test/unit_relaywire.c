/* Wire formats of relaying and hole punching: the relayed datagram header
 * (rdgram.c) and the authenticated probes (probe.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "err.h"
#include "probe.h"
#include "rdgram.h"

static void test_rdgram_roundtrip(void **state)
{
	static const uint32_t ids[] = {
		1, 63, 64, 16383, 16384, (1u << 30) - 1
	};
	static const size_t lens[] = { 2, 2, 3, 3, 5, 5 };
	uint8_t b[16];
	uint32_t id;
	uint8_t gen;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		size_t n = zt_rdgram_put(b, sizeof(b), ids[i], (uint8_t)i);
		assert_int_equal(n, lens[i]);
		b[n] = 0x40; /* an inner packet byte */
		assert_int_equal(zt_rdgram_get(b, n + 1, &id, &gen), n);
		assert_int_equal(id, ids[i]);
		assert_int_equal(gen, i);
		/* no inner packet: malformed */
		assert_int_equal(zt_rdgram_get(b, n, &id, &gen), 0);
	}
	assert_int_equal(zt_rdgram_put(b, sizeof(b), 0, 0), 0);
	assert_int_equal(zt_rdgram_put(b, sizeof(b), 1u << 30, 0), 0);
	assert_int_equal(zt_rdgram_put(b, 4, 16384, 0), 0);
	assert_int_equal(zt_rdgram_put(b, 5, 16384, 0), 5);
}

static void test_rdgram_malformed(void **state)
{
	static const uint8_t eight[] = { 0xc0, 0, 0, 0, 0, 0, 0, 1, 0, 0x40 };
	static const uint8_t zero1[] = { 0x00, 0, 0x40 };
	static const uint8_t zero2[] = { 0x40, 0x00, 0, 0x40 };
	static const uint8_t short4[] = { 0x80, 0, 1 };
	static const uint8_t loose[] = { 0x40, 0x05, 9,
					 0x40 }; /* id 5 in 2 B */
	uint32_t id = 0;
	uint8_t gen = 0;

	assert_int_equal(zt_rdgram_get(eight, sizeof(eight), &id, &gen), 0);
	assert_int_equal(zt_rdgram_get(zero1, sizeof(zero1), &id, &gen), 0);
	assert_int_equal(zt_rdgram_get(zero2, sizeof(zero2), &id, &gen), 0);
	assert_int_equal(zt_rdgram_get(short4, sizeof(short4), &id, &gen), 0);
	assert_int_equal(zt_rdgram_get(eight, 0, &id, &gen), 0);
	/* a longer encoding than needed is still the same id */
	assert_int_equal(zt_rdgram_get(loose, sizeof(loose), &id, &gen), 3);
	assert_int_equal(id, 5);
	assert_int_equal(gen, 9);
}

static const uint8_t ka[ZT_PROBE_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t kc[ZT_PROBE_KEY_LEN] = { 8, 7, 6, 5, 4, 3, 2, 1 };

static struct zt_probe ping(void)
{
	struct zt_probe p = { .type = ZT_PROBE_PING,
			      .session = 0x0102030405060708ULL };

	for (int i = 0; i < ZT_PROBE_TXID_LEN; i++)
		p.txid[i] = (uint8_t)(0xa0 + i);
	return p;
}

static void test_probe_ping(void **state)
{
	struct zt_probe p = ping(), q;
	uint8_t b[ZT_PROBE_LEN];

	assert_int_equal(zt_probe_encode(&p, kc, b), 0);
	assert_true(zt_probe_is(b, sizeof(b)));
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b), kc), 0);
	assert_int_equal(q.type, ZT_PROBE_PING);
	assert_true(q.session == p.session);
	assert_memory_equal(q.txid, p.txid, ZT_PROBE_TXID_LEN);
	/* made for the connector's key: the agent's key does not take it */
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b), ka), ZT_EDENIED);
	/* any flipped bit after the type and version fails the MAC */
	for (size_t i = 2; i < sizeof(b); i++) {
		b[i] ^= 0x10;
		assert_int_equal(zt_probe_decode(&q, b, sizeof(b), kc),
				 ZT_EDENIED);
		b[i] ^= 0x10;
	}
	b[1] = 2;
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b), kc), ZT_EVERSION);
	b[1] = 1;
	b[0] = 0x22;
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b), kc), ZT_EINVAL);
	b[0] = ZT_PROBE_PING;
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b) - 1, kc), ZT_EINVAL);
	assert_int_equal(zt_probe_decode(&q, b, 0, kc), ZT_EINVAL);
}

static void test_probe_pong(void **state)
{
	struct zt_probe p = ping(), q;
	uint8_t b[ZT_PROBE_LEN];

	p.type = ZT_PROBE_PONG;
	p.observed.family = AF_INET;
	p.observed.port = 41641;
	inet_pton(AF_INET, "203.0.113.5", p.observed.ip);
	assert_int_equal(zt_probe_encode(&p, ka, b), 0);
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b), ka), 0);
	assert_int_equal(q.type, ZT_PROBE_PONG);
	assert_int_equal(q.observed.family, AF_INET);
	assert_int_equal(q.observed.port, 41641);
	assert_memory_equal(q.observed.ip, p.observed.ip, 4);

	memset(&p.observed, 0, sizeof(p.observed));
	p.observed.family = AF_INET6;
	p.observed.port = 7;
	inet_pton(AF_INET6, "2001:db8::1", p.observed.ip);
	assert_int_equal(zt_probe_encode(&p, ka, b), 0);
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b), ka), 0);
	assert_int_equal(q.observed.family, AF_INET6);
	assert_memory_equal(q.observed.ip, p.observed.ip, 16);

	/* a PONG must say where the PING came from */
	p.observed.family = 0;
	assert_int_equal(zt_probe_encode(&p, ka, b), ZT_EINVAL);
	p.type = 0x30;
	assert_int_equal(zt_probe_encode(&p, ka, b), ZT_EINVAL);
}

/* A correctly authenticated probe with junk where zeros belong: a peer of
 * the session that sends it is refused all the same. */
static void test_probe_padding(void **state)
{
	struct zt_probe p = ping(), q;
	uint8_t b[ZT_PROBE_LEN], full[WC_SHA256_DIGEST_SIZE];
	Hmac h;

	assert_int_equal(zt_probe_encode(&p, kc, b), 0);
	b[40] = 1;
	assert_int_equal(wc_HmacInit(&h, NULL, INVALID_DEVID), 0);
	assert_int_equal(wc_HmacSetKey(&h, WC_SHA256, kc, sizeof(kc)), 0);
	assert_int_equal(wc_HmacUpdate(&h, b, 64), 0);
	assert_int_equal(wc_HmacFinal(&h, full), 0);
	wc_HmacFree(&h);
	memcpy(b + 64, full, 16);
	assert_int_equal(zt_probe_decode(&q, b, sizeof(b), kc), ZT_EINVAL);
}

static void test_probe_demux(void **state)
{
	uint8_t b[1];

	for (int v = 0; v < 256; v++) {
		b[0] = (uint8_t)v;
		/* QUIC long and short headers have 0x40 set; STUN starts 0x00
		 * or 0x01 */
		assert_int_equal(zt_probe_is(b, 1), v >= 0x20 && v <= 0x3f);
	}
	assert_false(zt_probe_is(b, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rdgram_roundtrip),
		cmocka_unit_test(test_rdgram_malformed),
		cmocka_unit_test(test_probe_ping),
		cmocka_unit_test(test_probe_pong),
		cmocka_unit_test(test_probe_padding),
		cmocka_unit_test(test_probe_demux),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
