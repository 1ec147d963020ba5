/* The QUIC endpoint's limits against floods (qworld.h): handshakes in
 * progress per source and in all, and the rates of Retry and stateless
 * reset per source (IPv4 address, IPv6 /64) and in all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "qworld.h"
#include "quic.h"

#define HS_PER_SOURCE ZT_EP_HS_PER_SOURCE
#define SRC_BURST ZT_EP_STATELESS_SRC_BURST
#define GLOBAL_BURST ZT_EP_STATELESS_BURST

/* n connections from side 2 (10.0.0.3), one source port each, as from
 * behind a NAT: all must get in. */
static void legit_nat(struct world *w, int n)
{
	struct zt_pathio *p = calloc((size_t)n, sizeof(*p));

	w->s[2].pios = p;
	w->s[2].npios = n;
	for (int i = 0; i < n; i++) {
		pio_at(&p[i], 0x0a000003, (uint16_t)(20000 + i));
		dial(w, 2, &p[i]);
	}
	run(w, 500);
	assert_int_equal(w->s[2].established, n);
}

/* Side 1 (10.0.0.2) opens nflood handshakes from as many source ports and
 * never answers the server (with Retry on it answers the Retry only), then
 * side 2 connects 4 times. */
static void hs_flood(struct world *w, int retry, int nflood)
{
	struct zt_pathio *p = calloc((size_t)nflood, sizeof(*p));
	struct zt_ep_stats st;

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, retry);
	side_init(w, 1, "connector", 0, 0);
	side_init(w, 2, "connector", 0, 0);
	w->drop_to = 1u << 1;
	w->pass_retry = retry;
	w->s[1].pios = p;
	w->s[1].npios = nflood;
	for (int i = 0; i < nflood; i++) {
		pio_at(&p[i], 0x0a000002, (uint16_t)(10000 + i));
		dial(w, 1, &p[i]);
		if (i % 32 == 31)
			run(w, 1);
	}
	run(w, 1);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, HS_PER_SOURCE);
	assert_int_equal(st.hs_sources, 1);
	assert_true(st.hs_drop_source >= (uint64_t)(nflood - HS_PER_SOURCE));
	assert_int_equal(st.hs_drop_full, 0);
	legit_nat(w, 4);
	assert_int_equal(zt_ep_conn_count(w->s[0].ep), HS_PER_SOURCE + 4);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, HS_PER_SOURCE);
	assert_int_equal(st.retry_sent > 0, retry);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
	side_free(&w->s[2]);
	w->nq = 0;
}

static void test_hs_flood_plain(void **state)
{
	hs_flood(*state, 0, 1100);
}

/* Fewer than the Retry rate allows from one source: what caps the flood
 * is the handshake limit, counted once the address is validated. */
static void test_hs_flood_retry(void **state)
{
	hs_flood(*state, 1, 40);
}

/* Handshakes from more sources than there are slots: the global bound
 * holds, and once they time out every per-source count is gone again (the
 * table deletes without tombstones; a lost entry would show here). A guard
 * for the table rather than a fix: the global bound is older. */
static void test_hs_many_sources(void **state)
{
	struct world *w = *state;
	int n = ZT_EP_MAX_HANDSHAKING + 76;
	struct zt_pathio *p = calloc((size_t)n, sizeof(*p));
	struct zt_ep_stats st;

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	side_init(w, 1, "connector", 0, 0);
	side_init(w, 2, "connector", 0, 0);
	w->drop_to = 1u << 1;
	w->s[1].pios = p;
	w->s[1].npios = n;
	for (int i = 0; i < n; i++) {
		/* Sources 10.1.0.0 upwards, some in one /24, none shared. */
		pio_at(&p[i], 0x0a010000 + (uint32_t)i * 97, 4433);
		dial(w, 1, &p[i]);
		if (i % 32 == 31)
			run(w, 1);
	}
	run(w, 1);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, ZT_EP_MAX_HANDSHAKING);
	assert_int_equal(st.hs_sources, ZT_EP_MAX_HANDSHAKING);
	assert_true(st.hs_drop_full >= 76);
	assert_int_equal(st.hs_drop_source, 0);
	run(w, 12000); /* past the 10 s handshake timeout */
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, 0);
	assert_int_equal(st.hs_sources, 0);
	assert_int_equal(zt_ep_conn_count(w->s[0].ep), 0);
	legit_nat(w, 2);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
	side_free(&w->s[2]);
	w->nq = 0;
}

/* A 1200-byte Initial without a token (kind 0) or a 100-byte short-header
 * packet (kind 1), with a destination CID from seq; only the header
 * matters to the server. */
static size_t craft(uint8_t *b, int kind, uint32_t seq)
{
	uint8_t cid[16];
	size_t n = 0, len = kind == 0 ? 1200 : 100;

	memset(b, 0x5a, len);
	memset(cid, 0xc1, sizeof(cid));
	memcpy(cid, &seq, sizeof(seq));
	if (kind == 1) {
		b[0] = 0x41;
		memcpy(b + 1, cid, sizeof(cid));
		return len;
	}
	b[n++] = 0xc0; /* long header, Initial, 1-byte packet number */
	memcpy(b + n, "\x00\x00\x00\x01", 4);
	n += 4;
	b[n++] = 16;
	memcpy(b + n, cid, 16);
	n += 16;
	b[n++] = 16;
	memset(b + n, 0x77, 16);
	n += 16;
	b[n++] = 0; /* no token */
	b[n] = (uint8_t)(0x40 | ((len - n - 2) >> 8));
	b[n + 1] = (uint8_t)((len - n - 2) & 0xff);
	return len;
}

/* n packets of kind to side 0, from nsrc source addresses in turn (1:
 * 10.0.0.2 with a new port each time; more: 10.1.0.0 upwards). */
static void flood(struct world *w, int kind, uint32_t nsrc, uint32_t n,
		  uint32_t seq0)
{
	static uint8_t buf[1200];
	struct sockaddr_in from = { .sin_family = AF_INET };

	for (uint32_t i = 0; i < n; i++) {
		size_t len = craft(buf, kind, seq0 + i);

		from.sin_addr.s_addr = htonl(nsrc == 1 ? 0x0a000002
						       : 0x0a010000 + i % nsrc);
		from.sin_port = htons((uint16_t)(1024 + i % 60000));
		zt_ep_recv(w->s[0].ep, &w->s[0].pio, (struct sockaddr *)&from,
			   sizeof(from), buf, len, w->now);
		w->nq = 0;
	}
}

static size_t *counter(struct world *w, int kind)
{
	return kind == 0 ? &w->retries : &w->resets;
}

/* Stateless answers (kind 0: Retry, 1: stateless reset) beyond the rate
 * are not sent: one source gets its burst, another source still gets
 * answers, and many sources together get the global burst. */
static void stateless_rate(struct world *w, int kind)
{
	size_t *sent = counter(w, kind);
	struct zt_ep_stats st;

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, kind == 0);
	flood(w, kind, 1, 3000, 0);
	assert_int_equal(*sent, SRC_BURST);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(kind == 0 ? st.retry_sent : st.reset_sent, SRC_BURST);
	assert_int_equal(kind == 0 ? st.retry_drop : st.reset_drop,
			 3000 - SRC_BURST);
	assert_int_equal(st.handshaking, 0);
	flood(w, kind, 2, 1, 5000); /* another source is still answered */
	assert_int_equal(*sent, SRC_BURST + 1);
	w->now += 1000000000ULL; /* the source's bucket refills */
	flood(w, kind, 1, 1, 6000);
	assert_int_equal(*sent, SRC_BURST + 2);
	side_free(&w->s[0]);

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, kind == 0);
	flood(w, kind, 3000, 3000, 10000);
	assert_int_equal(*sent, GLOBAL_BURST);
	w->now += 1000000000ULL;
	flood(w, kind, 3000, 1, 20000);
	assert_int_equal(*sent, GLOBAL_BURST + 1);
	side_free(&w->s[0]);
}

/* n short-header packets from addresses in 2001:db8:0:net::/64, or from
 * ::ffff:10.9.9.9 (net 0). */
static void flood6(struct world *w, uint16_t net, uint32_t n, uint32_t seq0)
{
	static uint8_t buf[100];
	struct sockaddr_in6 from = { .sin6_family = AF_INET6 };

	for (uint32_t i = 0; i < n; i++) {
		size_t len = craft(buf, 1, seq0 + i);

		if (net) {
			inet_pton(AF_INET6, "2001:db8::", &from.sin6_addr);
			from.sin6_addr.s6_addr[7] = (uint8_t)net;
			memcpy(&from.sin6_addr.s6_addr[12], &i, sizeof(i));
		} else {
			inet_pton(AF_INET6, "::ffff:10.9.9.9", &from.sin6_addr);
		}
		from.sin6_port = htons((uint16_t)(1024 + i % 60000));
		zt_ep_recv(w->s[0].ep, &w->s[0].pio, (struct sockaddr *)&from,
			   sizeof(from), buf, len, w->now);
		w->nq = 0;
	}
}

/* An IPv6 /64 is one source; a v4-mapped address is its IPv4 source. */
static void test_reset_rate_v6(void **state)
{
	struct world *w = *state;
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	uint8_t buf[100];

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	flood6(w, 1, 3000, 0);
	assert_int_equal(w->resets, SRC_BURST);
	flood6(w, 2, 1, 5000);
	assert_int_equal(w->resets, SRC_BURST + 1);
	flood6(w, 0, SRC_BURST, 6000);
	assert_int_equal(w->resets, 2 * SRC_BURST + 1);
	v4.sin_addr.s_addr = htonl(0x0a090909);
	zt_ep_recv(w->s[0].ep, &w->s[0].pio, (struct sockaddr *)&v4,
		   sizeof(v4), buf, craft(buf, 1, 7000), w->now);
	assert_int_equal(w->resets, 2 * SRC_BURST + 1);
	w->nq = 0;
	side_free(&w->s[0]);
}

static void test_retry_rate(void **state)
{
	stateless_rate(*state, 0);
}

static void test_reset_rate(void **state)
{
	stateless_rate(*state, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs_flood_plain),
		cmocka_unit_test(test_hs_flood_retry),
		cmocka_unit_test(test_hs_many_sources),
		cmocka_unit_test(test_retry_rate),
		cmocka_unit_test(test_reset_rate),
		cmocka_unit_test(test_reset_rate_v6),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
