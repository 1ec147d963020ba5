/* Which catalog CIDRs the agent may route into its tunnel: never the
 * default route, a gateway, a relay, a connector or a local network; and
 * which packet sources the tunnel accepts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "aroutes.h"

static struct zt_cidr cidr(const char *ip, int prefix)
{
	struct zt_cidr c = { 0 };

	c.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	c.prefix = (uint8_t)prefix;
	assert_int_equal(inet_pton(c.family, ip, c.addr), 1);
	return c;
}

static struct zt_addr addr(const char *ip)
{
	struct zt_addr a = { 0 };

	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a.family, ip, a.ip), 1);
	return a;
}

/* A laptop on 192.168.1.0/24 (gateway .1) and fd00:1::/64, relay at
 * 198.51.100.7, a connector at 203.0.113.9. */
struct env {
	struct zt_addr relays[1], conns[2], gws[2];
	struct zt_cidr nets[3];
	struct zt_route_protect p;
};

static void env_init(struct env *e)
{
	e->relays[0] = addr("198.51.100.7");
	e->conns[0] = addr("203.0.113.9");
	e->conns[1] = addr("2001:db8::9");
	e->gws[0] = addr("192.168.1.1");
	e->gws[1] = addr("fe80::1");
	e->nets[0] = cidr("192.168.1.0", 24);
	e->nets[1] = cidr("fd00:1::", 64);
	e->nets[2] = cidr("127.0.0.0", 8);
	e->p = (struct zt_route_protect){ e->relays, 1, e->conns, 2,
					  e->gws, 2, e->nets, 3 };
}

static void test_ordinary_service_ok(void **state)
{
	struct env e;
	struct zt_cidr c;

	(void)state;
	env_init(&e);
	c = cidr("10.20.0.0", 16);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_OK);
	c = cidr("10.20.30.40", 32);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_OK);
	c = cidr("fd00:2::", 48);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_OK);
	/* Next to the LAN, not overlapping it. */
	c = cidr("192.168.0.0", 24);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_OK);
}

static void test_default_route(void **state)
{
	struct env e;
	struct zt_cidr c, hit;

	(void)state;
	env_init(&e);
	c = cidr("0.0.0.0", 0);
	assert_int_equal(zt_route_check(&c, &e.p, &hit), ZT_ROUTE_DEFAULT);
	c = cidr("::", 0);
	assert_int_equal(zt_route_check(&c, &e.p, &hit), ZT_ROUTE_DEFAULT);
	/* Half the Internet, with the gateway in it. */
	c = cidr("128.0.0.0", 1);
	assert_int_equal(zt_route_check(&c, &e.p, &hit), ZT_ROUTE_DEFAULT);
	assert_int_equal(hit.prefix, 32);
	assert_memory_equal(hit.addr, e.gws[0].ip, 4);
	c = cidr("fe80::", 10);
	assert_int_equal(zt_route_check(&c, &e.p, &hit), ZT_ROUTE_DEFAULT);
	/* With no gateway known, prefix 0 is still the default route. */
	e.p.n_gateways = 0;
	c = cidr("0.0.0.0", 0);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_DEFAULT);
}

static void test_relay_and_connector(void **state)
{
	struct env e;
	struct zt_cidr c, hit;

	(void)state;
	env_init(&e);
	c = cidr("198.51.100.0", 24);
	assert_int_equal(zt_route_check(&c, &e.p, &hit), ZT_ROUTE_RELAY);
	assert_memory_equal(hit.addr, e.relays[0].ip, 4);
	c = cidr("198.51.100.7", 32);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_RELAY);
	c = cidr("198.51.100.8", 32);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_OK);
	c = cidr("203.0.0.0", 8);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_CONNECTOR);
	c = cidr("2001:db8::", 32);
	assert_int_equal(zt_route_check(&c, &e.p, &hit), ZT_ROUTE_CONNECTOR);
	assert_int_equal(hit.prefix, 128);
	/* An IPv4 CIDR never covers an IPv6 address. */
	c = cidr("32.0.0.0", 8);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_OK);
}

static void test_local_networks(void **state)
{
	struct env e;
	struct zt_cidr c, hit;

	(void)state;
	env_init(&e);
	e.p.n_gateways = 0; /* so the LAN itself is what is hit */
	/* Covering the LAN, inside it, or equal to it. */
	c = cidr("192.168.0.0", 16);
	assert_int_equal(zt_route_check(&c, &e.p, &hit), ZT_ROUTE_LOCAL_NET);
	assert_int_equal(hit.prefix, 24);
	c = cidr("192.168.1.128", 25);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_LOCAL_NET);
	c = cidr("192.168.1.0", 24);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_LOCAL_NET);
	c = cidr("fd00::", 16);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_LOCAL_NET);
	c = cidr("127.0.0.1", 32);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_LOCAL_NET);
}

static void test_bad_input(void **state)
{
	struct env e;
	struct zt_cidr c = { 0 };
	struct zt_route_protect none = { 0 };

	(void)state;
	env_init(&e);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_BAD);
	c = cidr("10.0.0.0", 8);
	c.prefix = 33;
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_BAD);
	c = cidr("fd00::", 8);
	c.prefix = 129;
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_BAD);
	/* Nothing to protect: only prefix 0 is refused. */
	c = cidr("10.0.0.0", 8);
	assert_int_equal(zt_route_check(&c, &none, NULL), ZT_ROUTE_OK);
	c = cidr("0.0.0.0", 0);
	assert_int_equal(zt_route_check(&c, &none, NULL), ZT_ROUTE_DEFAULT);
	/* An address of family 0 in the lists is ignored. */
	e.relays[0].family = 0;
	c = cidr("198.51.100.0", 24);
	assert_int_equal(zt_route_check(&c, &e.p, NULL), ZT_ROUTE_OK);
	for (int v = ZT_ROUTE_OK; v <= ZT_ROUTE_LOCAL_NET + 1; v++)
		assert_non_null(zt_route_verdict_str(v));
}

static void test_select(void **state)
{
	struct env e;
	struct zt_cidr cand[5];
	uint8_t v[5];

	(void)state;
	env_init(&e);
	cand[0] = cidr("10.1.0.0", 16);
	cand[1] = cidr("0.0.0.0", 0);
	cand[2] = cidr("192.168.0.0", 16);
	cand[3] = cidr("198.51.100.7", 32);
	cand[4] = cidr("fd00:9::", 64);
	assert_int_equal(zt_routes_select(cand, 5, &e.p, v), 2);
	assert_int_equal(v[0], ZT_ROUTE_OK);
	assert_int_equal(v[1], ZT_ROUTE_DEFAULT);
	assert_int_equal(v[2], ZT_ROUTE_DEFAULT); /* holds the gateway */
	assert_int_equal(v[3], ZT_ROUTE_RELAY);
	assert_int_equal(v[4], ZT_ROUTE_OK);
	assert_int_equal(zt_routes_select(cand, 0, &e.p, v), 0);
}

static void test_tunnel_source(void **state)
{
	struct zt_cidr own[2] = { cidr("100.64.0.1", 32), { 0 } };
	struct zt_addr a;

	(void)state;
	a = addr("100.64.0.1");
	assert_true(zt_tunnel_src_ok(&a, own, 2));
	a.port = 4242; /* ports do not matter */
	assert_true(zt_tunnel_src_ok(&a, own, 2));
	a = addr("100.64.0.2");
	assert_false(zt_tunnel_src_ok(&a, own, 2));
	a = addr("10.77.0.99");
	assert_false(zt_tunnel_src_ok(&a, own, 2));
	/* No IPv6 address on the tunnel: no IPv6 source is ours, not even
	 * the all-zero one that matches the empty slot's bytes. */
	a = addr("::");
	assert_false(zt_tunnel_src_ok(&a, own, 2));
	own[1] = cidr("fd7a::1", 128);
	a = addr("fd7a::1");
	assert_true(zt_tunnel_src_ok(&a, own, 2));
	memset(&a, 0, sizeof(a));
	assert_false(zt_tunnel_src_ok(&a, own, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordinary_service_ok),
		cmocka_unit_test(test_default_route),
		cmocka_unit_test(test_relay_and_connector),
		cmocka_unit_test(test_local_networks),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_tunnel_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
