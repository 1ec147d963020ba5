/* The in-process tier's harness on its own (test/sim, sim.h): the
 * virtual clock as libuv sees it, links (loss, duplication, reordering,
 * determinism per seed, a filter, a rate with its queue) and NATs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

/* --- the harness itself --- */

/* libuv and ztnad see the virtual clock; the wall clock is the real one. */
static void test_clock(void **state)
{
	uv_loop_t loop;
	struct timespec rt;
	uint64_t t = sim_clock_now();

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_hrtime(), t);
	sim_clock_set(t + 5 * SIM_S + 3 * SIM_MS);
	assert_int_equal(uv_hrtime(), t + 5 * SIM_S + 3 * SIM_MS);
	uv_update_time(&loop);
	assert_int_equal(uv_now(&loop), (t + 5 * SIM_S + 3 * SIM_MS) / SIM_MS);
	sim_clock_set(t); /* never backwards */
	assert_int_equal(sim_clock_now(), t + 5 * SIM_S + 3 * SIM_MS);
	assert_int_equal(clock_gettime(CLOCK_REALTIME, &rt), 0);
	assert_true(rt.tv_sec - time(NULL) <= 1 && time(NULL) - rt.tv_sec <= 1);
	assert_int_equal(uv_loop_close(&loop), 0);
}

struct rx_log {
	uint64_t t0, n, sum, first_at, last_seq;
	uint64_t out_of_order;
};

static void rx_count(void *arg, const struct sockaddr *from, socklen_t fl,
		     const uint8_t *d, size_t n)
{
	struct rx_log *r = arg;
	uint64_t seq;

	(void)from;
	(void)fl;
	assert_int_equal(n, sizeof(seq));
	memcpy(&seq, d, sizeof(seq));
	if (!r->n)
		r->first_at = sim_clock_now();
	if (r->n && seq < r->last_seq)
		r->out_of_order++;
	r->last_seq = seq;
	r->n++;
	/* Order and time both go into the fingerprint. */
	r->sum =
		(r->sum ^ (seq + (sim_clock_now() - r->t0))) * 0x100000001b3ULL;
}

/* 10000 datagrams over a link with 10% loss, 5% duplication and 5%
 * reordering: about that many lost and doubled, some out of order, none
 * before the latency; the same seed gives the same run, another does not. */
static void link_run(uint64_t seed, struct rx_log *r, struct sim_stats *st)
{
	struct sim_link_cfg c = { .latency_ns = 10 * SIM_MS,
				  .jitter_ns = SIM_MS,
				  .loss = 0.10,
				  .dup = 0.05,
				  .reorder = 0.05 };
	uv_loop_t loop;
	struct sim *s;
	struct sim_node *a, *b;
	uint64_t t0;

	memset(r, 0, sizeof(*r));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(sim_new(&s, &loop, seed), 0);
	a = sim_node_add(s, "192.0.2.1", 1000);
	b = sim_node_add(s, "192.0.2.2", 2000);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(sim_node_add(s, "not an address", 1));
	assert_int_equal(sim_link(s, a, b, &c, NULL), 0);
	sim_node_rx(b, rx_count, r);
	r->t0 = t0 = sim_clock_now();
	for (uint64_t i = 0; i < 10000; i++)
		a->pio.ops->send(&a->pio, (struct sockaddr *)&b->pio.local,
				 b->pio.local_len, (const uint8_t *)&i,
				 sizeof(i));
	/* nobody at this address: lost */
	a->pio.ops->send(&a->pio, (struct sockaddr *)&a->pio.local,
			 a->pio.local_len, (const uint8_t *)&t0, sizeof(t0));
	assert_int_equal(sim_run(s, NULL, NULL, 10 * SIM_S), -1);
	assert_true(r->first_at - t0 >= 10 * SIM_MS);
	sim_stats(s, st);
	sim_free(s);
	assert_int_equal(uv_loop_close(&loop), 0);
}

struct rx_last {
	uint64_t n;
	struct zt_addr from;
};

static void rx_last(void *arg, const struct sockaddr *from, socklen_t fl,
		    const uint8_t *d, size_t n)
{
	struct rx_last *r = arg;

	(void)fl;
	(void)d;
	(void)n;
	zt_addr_from_sockaddr(&r->from, from);
	r->n++;
}

static int drop_hundreds(void *arg, const struct sim_node *from,
			 const struct sim_node *to, const uint8_t *d, size_t n)
{
	uint64_t seq;

	(void)arg;
	(void)from;
	(void)to;
	memcpy(&seq, d, n < sizeof(seq) ? n : sizeof(seq));
	return seq % 100 == 0;
}

/* A filter drops exactly what it says, before any random loss. */
static void test_sim_filter(void **state)
{
	struct sim_link_cfg c = { .latency_ns = SIM_MS,
				  .filter = drop_hundreds };
	struct rx_log r = { 0 };
	struct sim_stats st;
	uv_loop_t loop;
	struct sim *s;
	struct sim_node *a, *b;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(sim_new(&s, &loop, 1), 0);
	a = sim_node_add(s, "192.0.2.1", 1000);
	b = sim_node_add(s, "192.0.2.2", 2000);
	assert_true(a && b);
	assert_int_equal(sim_link(s, a, b, &c, NULL), 0);
	sim_node_rx(b, rx_count, &r);
	for (uint64_t i = 0; i < 1000; i++)
		a->pio.ops->send(&a->pio, (struct sockaddr *)&b->pio.local,
				 b->pio.local_len, (const uint8_t *)&i,
				 sizeof(i));
	sim_run(s, NULL, NULL, SIM_S);
	sim_stats(s, &st);
	assert_int_equal(r.n, 990);
	assert_int_equal(st.lost, 10);
	assert_int_equal(r.out_of_order, 0);
	sim_free(s);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* 1 Mbit/s with a 50 ms queue: 100 datagrams of 1000 B sent at once
 * leave 8 ms apart, and those beyond the queue are dropped. */
static void test_sim_rate(void **state)
{
	struct sim_link_cfg c = { .latency_ns = 10 * SIM_MS,
				  .rate_bps = 1000000,
				  .queue_ns = 50 * SIM_MS };
	struct rx_last r = { 0 };
	struct sim_stats st;
	uint8_t buf[1000] = { 0 };
	uv_loop_t loop;
	struct sim *s;
	struct sim_node *a, *b;
	uint64_t t0 = sim_clock_now();

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(sim_new(&s, &loop, 1), 0);
	a = sim_node_add(s, "192.0.2.1", 1000);
	b = sim_node_add(s, "192.0.2.2", 2000);
	assert_true(a && b);
	assert_int_equal(sim_link(s, a, b, &c, NULL), 0);
	sim_node_rx(b, rx_last, &r);
	for (int i = 0; i < 100; i++)
		a->pio.ops->send(&a->pio, (struct sockaddr *)&b->pio.local,
				 b->pio.local_len, buf, sizeof(buf));
	/* the first leaves after 8 ms and arrives 10 ms later */
	sim_run(s, NULL, NULL, 17 * SIM_MS);
	assert_int_equal(r.n, 0);
	sim_run(s, NULL, NULL, 2 * SIM_MS);
	assert_int_equal(r.n, 1);
	sim_run(s, NULL, NULL, SIM_S);
	sim_stats(s, &st);
	/* the k-th waits 8k ms: k = 0..6 are within the 50 ms */
	assert_int_equal(r.n, 7);
	assert_int_equal(st.queue_drops, 93);
	assert_true(sim_clock_now() - t0 > SIM_S);
	sim_free(s);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sim_link(void **state)
{
	struct rx_log r1, r2, r3;
	struct sim_stats st;

	(void)state;
	link_run(42, &r1, &st);
	assert_int_equal(st.sent, 10001);
	assert_int_equal(st.no_route, 1);
	assert_true(st.lost > 850 && st.lost < 1150);
	assert_true(st.duplicated > 350 && st.duplicated < 600);
	assert_true(st.reordered > 350 && st.reordered < 650);
	assert_int_equal(r1.n, 10000 - st.lost + st.duplicated);
	assert_int_equal(st.delivered, r1.n);
	assert_true(r1.out_of_order > 100);
	link_run(42, &r2, &st);
	assert_int_equal(r2.n, r1.n);
	assert_int_equal(r2.sum, r1.sum);
	assert_int_equal(r2.out_of_order, r1.out_of_order);
	link_run(43, &r3, &st);
	assert_true(r3.n != r1.n || r3.sum != r1.sum);
}

static void send_to(struct sim_node *from, const struct zt_addr *to)
{
	struct sockaddr_storage ss;
	socklen_t len = zt_addr_to_sockaddr(to, &ss);

	from->pio.ops->send(&from->pio, (struct sockaddr *)&ss, len,
			    (const uint8_t *)"x", 1);
}

static void addr_is(const struct zt_addr *a, const char *ip, uint16_t port)
{
	char want[64], got[64];

	snprintf(want, sizeof(want), "%s:%u", ip, port);
	zt_addr_str(a, got, sizeof(got));
	assert_string_equal(got, want);
}

/* The NAT kinds the next issues' path logic needs: a port-restricted
 * mapping seen from outside, its filter, its expiry; a symmetric NAT's
 * mapping per destination; a full cone's open door. */
static void test_sim_nat(void **state)
{
	struct sim_link_cfg l = { .latency_ns = 5 * SIM_MS };
	struct rx_last ra = { 0 }, rr = { 0 }, rx = { 0 }, rb = { 0 },
		       rc = { 0 };
	struct sim_nat *pr, *sym, *cone;
	struct sim_node *a, *b, *c, *r, *x;
	struct zt_addr map;
	struct sim_stats st;
	uv_loop_t loop;
	struct sim *s;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(sim_new(&s, &loop, 7), 0);
	pr = sim_nat_add(s, "203.0.113.1", SIM_NAT_PORT_RESTRICTED, 30 * SIM_S);
	sym = sim_nat_add(s, "203.0.113.2", SIM_NAT_SYMMETRIC, 0);
	cone = sim_nat_add(s, "203.0.113.3", SIM_NAT_FULL_CONE, 0);
	a = sim_node_add(s, "192.168.1.10", 1000);
	b = sim_node_add(s, "192.168.2.10", 1000);
	c = sim_node_add(s, "192.168.3.10", 1000);
	r = sim_node_add(s, "198.51.100.1", 3478);
	x = sim_node_add(s, "198.51.100.2", 4000);
	assert_true(pr && sym && cone && a && b && c && r && x);
	sim_nat_attach(pr, a);
	sim_nat_attach(sym, b);
	sim_nat_attach(cone, c);
	for (struct sim_node **n = (struct sim_node *[]){ a, b, c, NULL }; *n;
	     n++) {
		assert_int_equal(sim_link(s, *n, r, &l, NULL), 0);
		assert_int_equal(sim_link(s, *n, x, &l, NULL), 0);
	}
	sim_node_rx(a, rx_last, &ra);
	sim_node_rx(b, rx_last, &rb);
	sim_node_rx(c, rx_last, &rc);
	sim_node_rx(r, rx_last, &rr);
	sim_node_rx(x, rx_last, &rx);

	/* port-restricted: out, the answer in, a stranger filtered */
	send_to(a, &r->addr);
	sim_run(s, NULL, NULL, SIM_S);
	addr_is(&rr.from, "203.0.113.1", 20000);
	map = rr.from;
	send_to(r, &map);
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(ra.n, 1);
	addr_is(&ra.from, "198.51.100.1", 3478);
	send_to(x, &map);
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(ra.n, 1);
	sim_stats(s, &st);
	assert_int_equal(st.filtered, 1);
	/* once a has sent to x, the same mapping lets x in */
	send_to(a, &x->addr);
	sim_run(s, NULL, NULL, SIM_S);
	addr_is(&rx.from, "203.0.113.1", 20000);
	send_to(x, &map);
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(ra.n, 2);
	/* the private address is not reachable from outside */
	send_to(r, &a->addr);
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(ra.n, 2);
	assert_int_equal(sim_nat_mappings(pr), 1);
	/* idle: the mapping ends, the answer is lost */
	sim_run(s, NULL, NULL, 31 * SIM_S);
	assert_int_equal(sim_nat_mappings(pr), 0);
	send_to(r, &map);
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(ra.n, 2);

	/* symmetric: a mapping per destination */
	send_to(b, &r->addr);
	send_to(b, &x->addr);
	sim_run(s, NULL, NULL, SIM_S);
	addr_is(&rr.from, "203.0.113.2", 20000);
	addr_is(&rx.from, "203.0.113.2", 20001);
	send_to(x, &rr.from); /* r's mapping does not admit x */
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(rb.n, 0);
	send_to(x, &rx.from);
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(rb.n, 1);

	/* full cone: after one datagram out, anyone in */
	send_to(c, &r->addr);
	sim_run(s, NULL, NULL, SIM_S);
	addr_is(&rr.from, "203.0.113.3", 20000);
	send_to(x, &rr.from);
	sim_run(s, NULL, NULL, SIM_S);
	assert_int_equal(rc.n, 1);
	sim_free(s);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_sim_link),
		cmocka_unit_test(test_sim_filter),
		cmocka_unit_test(test_sim_rate),
		cmocka_unit_test(test_sim_nat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
