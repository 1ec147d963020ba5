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

/* One node behind a NAT of a given kind, two public peers (r, and x),
 * and r2: r's address with another port. */
struct natlab {
	uv_loop_t loop;
	struct sim *s;
	struct sim_nat *nat;
	struct sim_node *in, *r, *r2, *x;
	struct rx_last rin, rr, rr2, rx;
};

static void natlab_up(struct natlab *t, int type, uint64_t idle)
{
	struct sim_link_cfg l = { .latency_ns = 5 * SIM_MS };

	memset(t, 0, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(sim_new(&t->s, &t->loop, 7), 0);
	t->nat = sim_nat_add(t->s, "203.0.113.1", type, idle);
	t->in = sim_node_add(t->s, "192.168.1.10", 1000);
	t->r = sim_node_add(t->s, "198.51.100.1", 3478);
	t->r2 = sim_node_add(t->s, "198.51.100.1", 9999);
	t->x = sim_node_add(t->s, "198.51.100.2", 4000);
	assert_true(t->nat && t->in && t->r && t->r2 && t->x);
	sim_nat_attach(t->nat, t->in);
	assert_int_equal(sim_link(t->s, t->in, t->r, &l, NULL), 0);
	assert_int_equal(sim_link(t->s, t->in, t->r2, &l, NULL), 0);
	assert_int_equal(sim_link(t->s, t->in, t->x, &l, NULL), 0);
	sim_node_rx(t->in, rx_last, &t->rin);
	sim_node_rx(t->r, rx_last, &t->rr);
	sim_node_rx(t->r2, rx_last, &t->rr2);
	sim_node_rx(t->x, rx_last, &t->rx);
}

static void natlab_down(struct natlab *t)
{
	sim_free(t->s);
	assert_int_equal(uv_loop_close(&t->loop), 0);
}

/* from sends one datagram to to, and the network settles. */
static void hop(struct natlab *t, struct sim_node *from,
		const struct zt_addr *to)
{
	send_to(from, to);
	sim_run(t->s, NULL, NULL, SIM_S);
}

/* Port-restricted: out, the answer in; a stranger, and r from another
 * port, are filtered until the inside node sent to them; the private
 * address is not reachable from outside; an idle mapping ends. */
static void test_nat_port_restricted(void **state)
{
	struct natlab t;
	struct sim_stats st;
	struct zt_addr map;

	(void)state;
	natlab_up(&t, SIM_NAT_PORT_RESTRICTED, 30 * SIM_S);
	hop(&t, t.in, &t.r->addr);
	addr_is(&t.rr.from, "203.0.113.1", 20000);
	map = t.rr.from;
	hop(&t, t.r, &map);
	assert_int_equal(t.rin.n, 1);
	addr_is(&t.rin.from, "198.51.100.1", 3478);
	hop(&t, t.x, &map);
	hop(&t, t.r2, &map);
	assert_int_equal(t.rin.n, 1);
	sim_stats(t.s, &st);
	assert_int_equal(st.filtered, 2);
	/* once it has sent to x, the same mapping lets x in */
	hop(&t, t.in, &t.x->addr);
	addr_is(&t.rx.from, "203.0.113.1", 20000);
	hop(&t, t.x, &map);
	assert_int_equal(t.rin.n, 2);
	hop(&t, t.r, &t.in->addr);
	assert_int_equal(t.rin.n, 2);
	assert_int_equal(sim_nat_mappings(t.nat), 1);
	sim_run(t.s, NULL, NULL, 31 * SIM_S);
	assert_int_equal(sim_nat_mappings(t.nat), 0);
	hop(&t, t.r, &map);
	assert_int_equal(t.rin.n, 2);
	/* a rebinding: the next datagram out gets a new port */
	hop(&t, t.in, &t.r->addr);
	addr_is(&t.rr.from, "203.0.113.1", 20001);
	sim_nat_rebind(t.nat);
	hop(&t, t.r, &t.rr.from);
	assert_int_equal(t.rin.n, 2);
	hop(&t, t.in, &t.r->addr);
	addr_is(&t.rr.from, "203.0.113.1", 20002);
	natlab_down(&t);
}

/* Restricted: any port of an address it sent to may answer. */
static void test_nat_restricted(void **state)
{
	struct natlab t;

	(void)state;
	natlab_up(&t, SIM_NAT_RESTRICTED, 0);
	hop(&t, t.in, &t.r->addr);
	hop(&t, t.r2, &t.rr.from);
	assert_int_equal(t.rin.n, 1);
	hop(&t, t.x, &t.rr.from);
	assert_int_equal(t.rin.n, 1);
	natlab_down(&t);
}

/* Symmetric: a mapping per destination, each open to it alone. */
static void test_nat_symmetric(void **state)
{
	struct natlab t;

	(void)state;
	natlab_up(&t, SIM_NAT_SYMMETRIC, 0);
	hop(&t, t.in, &t.r->addr);
	hop(&t, t.in, &t.x->addr);
	addr_is(&t.rr.from, "203.0.113.1", 20000);
	addr_is(&t.rx.from, "203.0.113.1", 20001);
	hop(&t, t.x, &t.rr.from); /* r's mapping does not admit x */
	assert_int_equal(t.rin.n, 0);
	hop(&t, t.x, &t.rx.from);
	assert_int_equal(t.rin.n, 1);
	natlab_down(&t);
}

/* Full cone: after one datagram out, anyone in. */
static void test_nat_full_cone(void **state)
{
	struct natlab t;
	struct zt_addr first = { .family = AF_INET, .port = 20000 };

	(void)state;
	natlab_up(&t, SIM_NAT_FULL_CONE, 0);
	inet_pton(AF_INET, "203.0.113.1", first.ip);
	hop(&t, t.x, &first); /* the mapping to come does not exist yet */
	assert_int_equal(t.rin.n, 0);
	hop(&t, t.in, &t.r->addr);
	addr_is(&t.rr.from, "203.0.113.1", 20000);
	hop(&t, t.x, &t.rr.from);
	assert_int_equal(t.rin.n, 1);
	addr_is(&t.rin.from, "198.51.100.2", 4000);
	natlab_down(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_sim_link),
		cmocka_unit_test(test_sim_filter),
		cmocka_unit_test(test_sim_rate),
		cmocka_unit_test(test_nat_port_restricted),
		cmocka_unit_test(test_nat_restricted),
		cmocka_unit_test(test_nat_symmetric),
		cmocka_unit_test(test_nat_full_cone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
