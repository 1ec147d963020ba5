/* Hole punching for one session (punch.c): the probe schedule, PING and
 * PONG between two peers, authentication of both, peer-reflexive
 * candidates, the choice of the best answered candidate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "punch.h"

#define MS 1000000ULL

static const uint8_t ka[ZT_PROBE_KEY_LEN] = { 1, 1, 1 };
static const uint8_t kc[ZT_PROBE_KEY_LEN] = { 2, 2, 2 };

static void seq(void *arg, uint8_t *out, size_t n)
{
	unsigned *x = arg;

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)((*x)++);
}

static struct zt_addr addr(const char *ip, uint16_t port)
{
	struct zt_addr a = { .port = port };

	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a.family, ip, a.ip), 1);
	return a;
}

struct pair {
	struct zt_punch a, c; /* agent and connector */
	unsigned ra, rc;
};

static void pair_init(struct pair *w)
{
	w->ra = 0;
	w->rc = 1000;
	zt_punch_init(&w->a, 77, ka, kc, seq, &w->ra);
	zt_punch_init(&w->c, 77, kc, ka, seq, &w->rc);
}

static void test_ping_pong(void **state)
{
	struct pair w;
	struct zt_addr to, apub = addr("203.0.113.3", 41000),
			   cpub = addr("198.51.100.2", 4433);
	uint8_t ping[ZT_PROBE_LEN], pong[ZT_PROBE_LEN];
	uint64_t dl;
	size_t which = 99;
	const struct zt_punch_cand *b;

	pair_init(&w);
	assert_int_equal(zt_punch_add(&w.a, &cpub, ZT_CAND_SRFLX, 0), 1);
	zt_punch_round(&w.a, 1000 * MS);
	assert_int_equal(zt_punch_poll(&w.a, 1000 * MS, &to, ping, &dl), 1);
	assert_true(zt_addr_equal(&to, &cpub));
	assert_int_equal(zt_punch_session_of(ping, sizeof(ping)), 77);
	/* the connector answers, from its public address, to where the
	 * PING came from, with a PONG no larger than the PING */
	assert_int_equal(zt_punch_input(&w.c, &apub, ping, sizeof(ping),
					1005 * MS, pong, &which),
			 ZT_PUNCH_REPLY);
	assert_int_equal(zt_punch_session_of(pong, sizeof(pong)), 77);
	/* and learnt the agent's address: probing it at once */
	assert_int_equal(w.c.n, 1);
	assert_int_equal(w.c.c[0].type, ZT_CAND_PRFLX);
	assert_int_equal(zt_punch_input(&w.a, &cpub, pong, sizeof(pong),
					1012 * MS, ping, &which),
			 ZT_PUNCH_ANSWER);
	assert_int_equal(which, 0);
	b = zt_punch_best(&w.a, 1012 * MS, 1000 * MS);
	assert_non_null(b);
	assert_int_equal(b->rtt_ns, 12 * MS);
	assert_int_equal(b->state, ZT_CAND_VALID);
	/* the same PONG again: its PING was answered already? still from
	 * where we asked, so taken; but a PONG from elsewhere is not */
	assert_int_equal(zt_punch_input(&w.a, &apub, pong, sizeof(pong),
					1013 * MS, ping, &which),
			 ZT_PUNCH_BAD);
	/* too old an answer is not a path to move to */
	assert_null(zt_punch_best(&w.a, 3000 * MS, 1000 * MS));
}

static void test_authentication(void **state)
{
	struct pair w;
	struct zt_punch evil;
	struct zt_addr to, apub = addr("203.0.113.3", 41000),
			   cpub = addr("198.51.100.2", 4433);
	uint8_t ping[ZT_PROBE_LEN], out[ZT_PROBE_LEN];
	uint64_t dl;
	size_t which;
	unsigned r = 5;
	static const uint8_t other[ZT_PROBE_KEY_LEN] = { 9 };

	pair_init(&w);
	/* someone who knows the session id but not the connector's key */
	zt_punch_init(&evil, 77, ka, other, seq, &r);
	zt_punch_add(&evil, &cpub, ZT_CAND_SRFLX, 0);
	zt_punch_round(&evil, 0);
	assert_int_equal(zt_punch_poll(&evil, 0, &to, ping, &dl), 1);
	assert_int_equal(zt_punch_input(&w.c, &apub, ping, sizeof(ping), 0, out,
					&which),
			 ZT_PUNCH_BAD);
	assert_int_equal(w.c.n, 0); /* and nothing learnt from it */
	assert_int_equal(w.c.refused, 1);
	/* the right key for another session */
	zt_punch_init(&evil, 78, ka, kc, seq, &r);
	zt_punch_add(&evil, &cpub, ZT_CAND_SRFLX, 0);
	zt_punch_round(&evil, 0);
	assert_int_equal(zt_punch_poll(&evil, 0, &to, ping, &dl), 1);
	assert_int_equal(zt_punch_input(&w.c, &apub, ping, sizeof(ping), 0, out,
					&which),
			 ZT_PUNCH_BAD);
	/* a PONG for a PING never sent */
	zt_punch_add(&w.a, &cpub, ZT_CAND_SRFLX, 0);
	zt_punch_round(&w.c, 0);
	zt_punch_add(&w.c, &apub, ZT_CAND_SRFLX, 0);
	assert_int_equal(zt_punch_poll(&w.c, 0, &to, ping, &dl), 1);
	assert_int_equal(zt_punch_input(&w.a, &cpub, ping, sizeof(ping), 0, out,
					&which),
			 ZT_PUNCH_REPLY);
	/* out is a PONG made for the connector: the agent will not take it */
	assert_int_equal(zt_punch_input(&w.a, &cpub, out, sizeof(out), 0, ping,
					&which),
			 ZT_PUNCH_BAD);
	/* truncated */
	assert_int_equal(zt_punch_input(&w.a, &cpub, out, 79, 0, ping, &which),
			 ZT_PUNCH_BAD);
	assert_int_equal(zt_punch_session_of(out, 79), 0);
}

static void test_schedule(void **state)
{
	static const uint64_t want[] = { 0,   33,   67,   133, 267,
					 533, 1067, 2133, 4133 };
	struct pair w;
	struct zt_addr to, c1 = addr("198.51.100.2", 4433),
			   c2 = addr("192.168.10.2", 4433);
	uint8_t out[ZT_PROBE_LEN];
	uint64_t now = 5000 * MS, dl;
	unsigned n1 = 0, n2 = 0, k = 0;

	pair_init(&w);
	zt_punch_add(&w.a, &c1, ZT_CAND_SRFLX, now);
	zt_punch_add(&w.a, &c2, ZT_CAND_HOST, now);
	assert_int_equal(zt_punch_poll(&w.a, now, &to, out, &dl), 0);
	assert_true(dl == UINT64_MAX); /* nothing before a round */
	zt_punch_round(&w.a, now);
	for (int guard = 0; guard < 100; guard++) {
		if (!zt_punch_poll(&w.a, now, &to, out, &dl)) {
			if (dl == UINT64_MAX)
				break;
			now = dl;
			continue;
		}
		if (zt_addr_equal(&to, &c1)) {
			assert_true(now == 5000 * MS + want[n1] * MS);
			n1++;
		} else {
			n2++;
		}
		k++;
	}
	assert_int_equal(n1, ZT_PUNCH_PROBES);
	assert_int_equal(n2, ZT_PUNCH_PROBES);
	assert_int_equal(w.a.c[0].state, ZT_CAND_FAILED);
	/* a new round probes again */
	zt_punch_round(&w.a, now);
	assert_int_equal(zt_punch_poll(&w.a, now, &to, out, &dl), 1);
	assert_int_equal(w.a.c[0].state, ZT_CAND_PROBING);
}

static void test_after_answer(void **state)
{
	struct pair w;
	struct zt_addr to, apub = addr("203.0.113.3", 41000),
			   cpub = addr("198.51.100.2", 4433);
	uint8_t ping[ZT_PROBE_LEN], pong[ZT_PROBE_LEN];
	uint64_t now = 0, dl;
	size_t which;
	unsigned after = 0;

	pair_init(&w);
	zt_punch_add(&w.a, &cpub, ZT_CAND_SRFLX, 0);
	zt_punch_round(&w.a, 0);
	assert_int_equal(zt_punch_poll(&w.a, 0, &to, ping, &dl), 1);
	assert_int_equal(zt_punch_input(&w.c, &apub, ping, sizeof(ping), 1,
					pong, &which),
			 ZT_PUNCH_REPLY);
	assert_int_equal(zt_punch_input(&w.a, &cpub, pong, sizeof(pong), 2,
					ping, &which),
			 ZT_PUNCH_ANSWER);
	/* three more, so that the connector's NAT sees us too, then quiet */
	for (int guard = 0; guard < 50; guard++) {
		if (!zt_punch_poll(&w.a, now, &to, ping, &dl)) {
			if (dl == UINT64_MAX)
				break;
			now = dl;
			continue;
		}
		after++;
	}
	assert_int_equal(after, 3);
	assert_true(now < 200 * MS);
}

static void test_candidates(void **state)
{
	struct pair w;
	char ip[32];

	pair_init(&w);
	struct zt_addr lo = addr("127.0.0.1", 4433), nop = addr("192.0.2.1", 0);
	assert_int_equal(zt_punch_add(&w.a, &lo, ZT_CAND_HOST, 0), 0);
	assert_int_equal(zt_punch_add(&w.a, &nop, ZT_CAND_HOST, 0), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		struct zt_addr a = addr(ip, 4433);
		assert_int_equal(zt_punch_add(&w.a, &a, ZT_CAND_HOST, 0),
				 i < ZT_PUNCH_MAX);
		/* the same one twice is one candidate */
		assert_int_equal(zt_punch_add(&w.a, &a, ZT_CAND_HOST, 0), 0);
	}
	assert_int_equal(w.a.n, ZT_PUNCH_MAX);
	/* best: lowest RTT, then IPv6, then a LAN address */
	struct zt_addr v6 = addr("2001:db8::1", 4433);
	pair_init(&w);
	zt_punch_add(&w.a, &nop, ZT_CAND_HOST, 0);
	struct zt_addr pub = addr("198.51.100.2", 4433),
		       lan = addr("192.168.10.2", 4433);
	zt_punch_add(&w.a, &pub, ZT_CAND_SRFLX, 0);
	zt_punch_add(&w.a, &lan, ZT_CAND_HOST, 0);
	zt_punch_add(&w.a, &v6, ZT_CAND_SRFLX, 0);
	for (size_t i = 0; i < w.a.n; i++) {
		w.a.c[i].state = ZT_CAND_VALID;
		w.a.c[i].rtt_ns = 5 * MS;
		w.a.c[i].pong_at = 10 * MS;
	}
	assert_true(
		zt_addr_equal(&zt_punch_best(&w.a, 10 * MS, MS)->addr, &v6));
	w.a.c[2].state = ZT_CAND_FAILED;
	assert_true(
		zt_addr_equal(&zt_punch_best(&w.a, 10 * MS, MS)->addr, &lan));
	w.a.c[0].rtt_ns = 1 * MS;
	assert_true(
		zt_addr_equal(&zt_punch_best(&w.a, 10 * MS, MS)->addr, &pub));
	assert_string_equal(zt_cand_type_name(ZT_CAND_PRFLX), "prflx");
}

/* New candidates from the peer: kept what it still announces (with its
 * state), dropped what it no longer does unless found by its PINGs, the
 * new ones added and probed at once in a running round. */
static void test_update(void **state)
{
	struct pair w;
	struct zt_addr a1 = addr("198.51.100.2", 4433),
		       a2 = addr("192.168.10.2", 4433),
		       a3 = addr("198.51.100.2", 5000),
		       pr = addr("203.0.113.9", 6000);
	struct zt_addr first[2] = { a1, a2 }, next[2] = { a3, a1 };

	pair_init(&w);
	zt_punch_update(&w.a, first, 2, 0);
	assert_int_equal(w.a.n, 2);
	assert_int_equal(w.a.c[0].type, ZT_CAND_SRFLX);
	assert_int_equal(w.a.c[1].type, ZT_CAND_HOST);
	zt_punch_add(&w.a, &pr, ZT_CAND_PRFLX, 0);
	zt_punch_round(&w.a, 0);
	w.a.c[0].state = ZT_CAND_VALID;
	w.a.c[0].rtt_ns = 3 * MS;
	zt_punch_update(&w.a, next, 2, 50 * MS);
	assert_int_equal(w.a.n, 3);
	/* a1 kept with its state; a2 gone; the prflx kept; a3 new, due now */
	assert_true(zt_addr_equal(&w.a.c[0].addr, &a1));
	assert_int_equal(w.a.c[0].state, ZT_CAND_VALID);
	assert_int_equal(w.a.c[0].rtt_ns, 3 * MS);
	assert_true(zt_addr_equal(&w.a.c[1].addr, &pr));
	assert_true(zt_addr_equal(&w.a.c[2].addr, &a3));
	assert_int_equal(w.a.c[2].next_at, 50 * MS);
	/* nothing announced: only what PINGs found stays */
	zt_punch_update(&w.a, NULL, 0, 60 * MS);
	assert_int_equal(w.a.n, 1);
	assert_int_equal(w.a.c[0].type, ZT_CAND_PRFLX);
}

/* The NAT's kind from what several relays see of one socket. */
static void test_nat_kind(void **state)
{
	struct zt_addr none = { 0 };
	struct zt_addr s[3] = { addr("198.51.100.2", 4433),
				addr("198.51.100.2", 4433),
				addr("198.51.100.2", 4433) };

	assert_int_equal(zt_nat_kind(s, 0), ZT_NAT_UNKNOWN);
	assert_int_equal(zt_nat_kind(s, 1), ZT_NAT_UNKNOWN);
	assert_int_equal(zt_nat_kind(s, 3), ZT_NAT_EIM);
	s[2].port = 4434; /* a port per destination */
	assert_int_equal(zt_nat_kind(s, 3), ZT_NAT_EDM);
	s[2] = addr("198.51.100.3", 4433); /* an address per destination */
	assert_int_equal(zt_nat_kind(s, 3), ZT_NAT_EDM);
	/* families apart, and a relay that saw nothing yet says nothing */
	s[1] = addr("2001:db8::2", 4433);
	s[2] = none;
	assert_int_equal(zt_nat_kind(s, 3), ZT_NAT_UNKNOWN);
	assert_string_equal(zt_nat_kind_name(ZT_NAT_EDM), "endpoint-dependent");
}

/* A PING seen on the wire and sent again from elsewhere: its MAC is good
 * (it does not cover the sender's address), but it is not answered. */
static void test_replay(void **state)
{
	struct pair w;
	struct zt_addr to, apub = addr("203.0.113.3", 41000),
			   evil = addr("192.0.2.99", 5555),
			   cpub = addr("198.51.100.2", 4433);
	uint8_t ping[ZT_PROBE_LEN], out[ZT_PROBE_LEN];
	uint64_t dl;
	size_t which;

	pair_init(&w);
	zt_punch_add(&w.a, &cpub, ZT_CAND_SRFLX, 0);
	zt_punch_round(&w.a, 1);
	assert_int_equal(zt_punch_poll(&w.a, 1, &to, ping, &dl), 1);
	assert_int_equal(zt_punch_input(&w.c, &apub, ping, sizeof(ping), 2, out,
					&which),
			 ZT_PUNCH_REPLY);
	/* the same PING again from where it came: a retransmission, fine */
	assert_int_equal(zt_punch_input(&w.c, &apub, ping, sizeof(ping), 3, out,
					&which),
			 ZT_PUNCH_REPLY);
	/* from anywhere else: no answer, and no candidate learnt */
	size_t n = w.c.n;
	assert_int_equal(zt_punch_input(&w.c, &evil, ping, sizeof(ping), 4, out,
					&which),
			 ZT_PUNCH_BAD);
	assert_int_equal(w.c.n, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_pong),
		cmocka_unit_test(test_authentication),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_after_answer),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_nat_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
