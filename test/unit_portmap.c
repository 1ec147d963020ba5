/* Port mapping decisions (path/pmap.c): one backend after another, renewal
 * before the lease ends, what happens when a renewal fails or the lease
 * runs out, retry backoff, removal on stop, and gateways that lie (a
 * private external address, external port 0, a lease of 0). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "cands.h"
#include "daemon.h"
#include "pmap.h"

#define S 1000000000ULL
#define T0 (1000 * S)

static const uint32_t waits[2] = { 3000, 10000 };

static struct zt_addr addr(const char *ip, uint16_t port)
{
	struct zt_addr a = { .family = AF_INET, .port = port };

	inet_pton(AF_INET, ip, a.ip);
	return a;
}

static struct zt_pmap_answer ok(const char *ip, uint16_t port, uint32_t lease)
{
	struct zt_pmap_answer a = { .ok = 1,
				    .ext = addr(ip, port),
				    .lease_s = lease };
	return a;
}

static void mapped(struct zt_pmap *m, uint64_t now)
{
	struct zt_pmap_answer a = ok("198.20.0.2", 4433, 3600);

	zt_pmap_init(m, 4433, 2, waits);
	assert_int_equal(zt_pmap_start(m, now), ZT_PMAP_DO_REQUEST);
	assert_int_equal(zt_pmap_answer(m, m->seq, &a, now), ZT_PMAP_DO_NONE);
	assert_int_equal(m->state, ZT_PMAP_MAPPED);
}

static void test_discover_and_renew(void **st)
{
	struct zt_pmap m;
	struct zt_pmap_answer a = ok("198.20.0.2", 4433, 3600);
	uint32_t seq;

	zt_pmap_init(&m, 4433, 2, waits);
	assert_null(zt_pmap_mapped(&m));
	assert_string_equal(zt_pmap_state_name(m.state), "idle");
	assert_int_equal(zt_pmap_start(&m, T0), ZT_PMAP_DO_REQUEST);
	assert_int_equal(m.state, ZT_PMAP_DISCOVERING);
	assert_int_equal(m.backend, 0);
	assert_int_equal(m.deadline, T0 + 3 * S);
	seq = m.seq;
	/* Nothing happens before the deadline. */
	assert_int_equal(zt_pmap_tick(&m, T0 + 2 * S), ZT_PMAP_DO_NONE);
	assert_int_equal(zt_pmap_answer(&m, seq, &a, T0 + S), ZT_PMAP_DO_NONE);
	assert_int_equal(m.state, ZT_PMAP_MAPPED);
	assert_non_null(zt_pmap_mapped(&m));
	assert_true(zt_addr_equal(zt_pmap_mapped(&m), &a.ext));
	/* Renewal at half the lease, with the same backend. */
	assert_int_equal(m.deadline, T0 + S + 1800 * S);
	assert_int_equal(zt_pmap_tick(&m, T0 + 1800 * S), ZT_PMAP_DO_NONE);
	assert_int_equal(zt_pmap_tick(&m, T0 + 1801 * S), ZT_PMAP_DO_REQUEST);
	assert_int_equal(m.state, ZT_PMAP_RENEWING);
	assert_int_equal(m.backend, 0);
	/* Still offered while renewing. */
	assert_non_null(zt_pmap_mapped(&m));
	/* The old answer again is stale. */
	assert_int_equal(zt_pmap_answer(&m, seq, &a, T0 + 1802 * S),
			 ZT_PMAP_DO_NONE);
	assert_int_equal(m.state, ZT_PMAP_RENEWING);
	a.ext.port =
		5000; /* the gateway moved us: believed, it is a candidate */
	assert_int_equal(zt_pmap_answer(&m, m.seq, &a, T0 + 1802 * S),
			 ZT_PMAP_DO_NONE);
	assert_int_equal(m.state, ZT_PMAP_MAPPED);
	assert_int_equal(zt_pmap_mapped(&m)->port, 5000);
	assert_int_equal(m.lease_end, T0 + 1802 * S + 3600 * S);
	assert_int_equal(m.mapped_count, 2);
}

static void test_long_lease_renewed_early(void **st)
{
	struct zt_pmap m;
	struct zt_pmap_answer a = ok("198.20.0.2", 4433, 86400);

	zt_pmap_init(&m, 4433, 2, waits);
	zt_pmap_start(&m, T0);
	zt_pmap_answer(&m, m.seq, &a, T0);
	assert_int_equal(m.deadline, T0 + ZT_PMAP_RENEW_MAX_S * S);
}

static void test_next_backend_then_backoff(void **st)
{
	struct zt_pmap m;
	struct zt_pmap_answer no = { .ok = 0, .why = "NAT-PMP: refused" };
	uint64_t now = T0;

	zt_pmap_init(&m, 4433, 2, waits);
	zt_pmap_start(&m, now);
	/* NAT-PMP refuses: UPnP is asked at once. */
	assert_int_equal(zt_pmap_answer(&m, m.seq, &no, now),
			 ZT_PMAP_DO_REQUEST);
	assert_int_equal(m.backend, 1);
	assert_int_equal(m.deadline, now + 10 * S);
	/* UPnP does not answer: the round failed, again in 10 s. */
	assert_int_equal(zt_pmap_tick(&m, now + 10 * S), ZT_PMAP_DO_NONE);
	now += 10 * S;
	assert_int_equal(m.state, ZT_PMAP_FAILED);
	assert_string_equal(m.why, "no answer in 10000 ms");
	assert_int_equal(m.deadline, now + 10 * S);
	/* Every further failed round waits twice as long, up to 10 min. */
	for (uint64_t want = 20; want <= 1280; want *= 2) {
		now = m.deadline;
		assert_int_equal(zt_pmap_tick(&m, now), ZT_PMAP_DO_REQUEST);
		assert_int_equal(m.backend, 0);
		assert_int_equal(zt_pmap_answer(&m, m.seq, &no, now),
				 ZT_PMAP_DO_REQUEST);
		assert_int_equal(zt_pmap_answer(&m, m.seq, &no, now),
				 ZT_PMAP_DO_NONE);
		assert_int_equal(m.state, ZT_PMAP_FAILED);
		assert_int_equal(m.deadline,
				 now + (want > 600 ? 600 : want) * S);
	}
	/* A success resets the backoff. */
	now = m.deadline;
	zt_pmap_tick(&m, now);
	struct zt_pmap_answer a = ok("198.20.0.2", 4433, 3600);
	zt_pmap_answer(&m, m.seq, &a, now);
	assert_int_equal(m.state, ZT_PMAP_MAPPED);
	assert_int_equal(m.fails, 0);
}

static void test_renewal_fails(void **st)
{
	struct zt_pmap m;
	struct zt_pmap_answer no = { .ok = 0, .why = "gateway gone" };
	uint64_t now = T0;

	mapped(&m, now);
	now = m.deadline;
	assert_int_equal(zt_pmap_tick(&m, now), ZT_PMAP_DO_REQUEST);
	/* Refused: the mapping is kept (it lasts until lease_end) and asked
	 * for again after a backoff. */
	assert_int_equal(zt_pmap_answer(&m, m.seq, &no, now), ZT_PMAP_DO_NONE);
	assert_int_equal(m.state, ZT_PMAP_MAPPED);
	assert_non_null(zt_pmap_mapped(&m));
	assert_int_equal(m.deadline, now + 10 * S);
	/* Silent gateway until the lease ends: the deadline never passes
	 * lease_end, and at lease_end the mapping is gone. */
	while (m.state != ZT_PMAP_DISCOVERING) {
		uint64_t d = m.deadline;

		assert_true(d <= m.lease_end);
		assert_true(d > now);
		now = d;
		zt_pmap_tick(&m, now);
	}
	assert_int_equal(now, m.lease_end);
	assert_null(zt_pmap_mapped(&m));
	assert_int_equal(m.backend, 0);
	assert_string_equal(m.why,
			    "the lease ended before a renewal was answered");
}

static void test_stop_removes(void **st)
{
	struct zt_pmap m;

	mapped(&m, T0);
	assert_int_equal(zt_pmap_stop(&m), ZT_PMAP_DO_REMOVE);
	assert_int_equal(m.state, ZT_PMAP_STOPPED);
	assert_int_equal(m.ext.port, 4433); /* what to remove */
	assert_int_equal(m.backend, 0);
	assert_null(zt_pmap_mapped(&m));
	assert_int_equal(m.deadline, 0);
	assert_int_equal(zt_pmap_tick(&m, T0 + 100000 * S), ZT_PMAP_DO_NONE);

	/* A request in flight may have made one: removed too; its answer
	 * comes too late to count. */
	struct zt_pmap_answer a = ok("198.20.0.2", 4433, 3600);
	uint32_t seq;

	zt_pmap_init(&m, 4433, 2, waits);
	zt_pmap_start(&m, T0);
	seq = m.seq;
	assert_int_equal(zt_pmap_stop(&m), ZT_PMAP_DO_REMOVE);
	assert_int_equal(zt_pmap_answer(&m, seq, &a, T0), ZT_PMAP_DO_NONE);
	assert_null(zt_pmap_mapped(&m));

	/* Nothing held, nothing asked: nothing to remove. */
	zt_pmap_init(&m, 4433, 2, waits);
	assert_int_equal(zt_pmap_stop(&m), ZT_PMAP_DO_NONE);
	zt_pmap_init(&m, 4433, 1, waits);
	zt_pmap_start(&m, T0);
	zt_pmap_tick(&m, T0 + 3 * S);
	assert_int_equal(m.state, ZT_PMAP_FAILED);
	assert_int_equal(zt_pmap_stop(&m), ZT_PMAP_DO_NONE);
}

/* Each lie counts as that backend's failure: the next one is asked. */
static void lie(const struct zt_pmap_answer *a, const char *why)
{
	struct zt_pmap m;

	zt_pmap_init(&m, 4433, 2, waits);
	zt_pmap_start(&m, T0);
	assert_int_equal(zt_pmap_answer(&m, m.seq, a, T0), ZT_PMAP_DO_REQUEST);
	assert_int_equal(m.state, ZT_PMAP_DISCOVERING);
	assert_int_equal(m.backend, 1);
	assert_null(zt_pmap_mapped(&m));
	assert_string_equal(m.why, why);
}

static void test_lying_gateway(void **st)
{
	struct zt_pmap_answer a;

	a = ok("198.20.0.2", 0, 3600);
	lie(&a, "the gateway gave external port 0");
	a = ok("198.20.0.2", 4433, 0);
	lie(&a, "the gateway gave a lease of 0 s");
	a = ok("198.20.0.2", 4433, 5);
	lie(&a, "the gateway gave a lease of 5 s");
	a = ok("10.77.0.2", 4433, 3600);
	lie(&a, "the gateway's external address 10.77.0.2:4433 is not public "
		"(another NAT beyond it?)");
	a = ok("100.64.1.1", 4433, 3600);
	lie(&a, "the gateway's external address 100.64.1.1:4433 is not "
		"public (another NAT beyond it?)");
	a = ok("0.0.0.0", 4433, 3600);
	lie(&a, "the gateway's external address 0.0.0.0:4433 is not public "
		"(another NAT beyond it?)");
	a = ok("127.0.0.1", 4433, 3600);
	lie(&a, "the gateway's external address 127.0.0.1:4433 is not public "
		"(another NAT beyond it?)");
	a = ok("192.168.1.1", 4433, 3600);
	lie(&a, "the gateway's external address 192.168.1.1:4433 is not "
		"public (another NAT beyond it?)");
	a = ok("172.20.0.1", 4433, 3600);
	lie(&a, "the gateway's external address 172.20.0.1:4433 is not "
		"public (another NAT beyond it?)");
	/* 172.32/12 is not private */
	a = ok("172.32.0.1", 4433, 3600);
	assert_true(zt_pmap_public(&a.ext));
}

/* The mapping among our candidates: after the relays' observations, and
 * an endpoint-dependent NAT with a mapping is not "hard". */
static struct zt_netio net; /* large: not on the stack */

static void test_candidates(void **st)
{
	struct zt_addr mapped_at = addr("198.20.0.2", 4433);
	struct zt_env env = { .mapped = &mapped_at, .net = &net };
	struct zt_pathio pio;
	struct zt_relaylink l1, l2;
	struct zt_relaylink *links[2] = { &l1, &l2 };
	struct zt_ctrl_sess msg;
	struct zt_cands c;

	/* A socket on port 0: no interface candidates, only the relays'
	 * observations and the mapping. */
	memset(&pio, 0, sizeof(pio));
	pio.local.ss_family = AF_INET;
	net.path = &pio;
	memset(&l1, 0, sizeof(l1));
	memset(&l2, 0, sizeof(l2));
	l1.state = l2.state = ZT_LINK_UP;
	l1.remote = addr("10.77.0.1", 4433);
	l2.remote = addr("10.77.0.1", 4434);
	l1.observed = addr("10.77.0.2", 40001);
	l2.observed = addr("10.77.0.2", 40002);
	zt_cands_ours(&env, links, 2, NULL, NULL, &c);
	assert_int_equal(c.n, 3);
	assert_true(zt_addr_equal(&c.a[0], &l1.observed));
	assert_true(zt_addr_equal(&c.a[1], &l2.observed));
	assert_true(zt_addr_equal(&c.a[2], &mapped_at));
	assert_int_equal(c.nat, ZT_NAT_EDM);
	assert_true(c.mapped);
	assert_false(zt_cands_hard(&c));
	memset(&msg, 0, sizeof(msg));
	zt_cands_put(&c, &msg);
	assert_int_equal(msg.nat, ZT_NAT_EIM);
	/* No mapping held: as before. */
	mapped_at.family = 0;
	zt_cands_ours(&env, links, 2, NULL, NULL, &c);
	assert_false(c.mapped);
	assert_true(zt_cands_hard(&c));
	assert_int_equal(c.n, 2);
	zt_cands_put(&c, &msg);
	assert_int_equal(msg.nat, ZT_NAT_EDM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discover_and_renew),
		cmocka_unit_test(test_long_lease_renewed_early),
		cmocka_unit_test(test_next_backend_then_backoff),
		cmocka_unit_test(test_renewal_fails),
		cmocka_unit_test(test_stop_removes),
		cmocka_unit_test(test_lying_gateway),
		cmocka_unit_test(test_candidates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
