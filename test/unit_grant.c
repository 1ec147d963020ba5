/* Publishing rights (grant.c): host patterns, CIDR containment, what a
 * certificate covers and when two services collide. Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "grant.h"

static struct zt_cidr cidr(const char *s)
{
	struct zt_cidr c;

	assert_int_equal(zt_cidr_parse(s, strlen(s), &c), 0);
	return c;
}

static void test_patterns(void **state)
{
	static const struct {
		const char *pattern, *host;
		int ok, match;
	} t[] = {
		{ "wiki.corp.internal", "wiki.corp.internal", 1, 1 },
		{ "wiki.corp.internal", "WIKI.Corp.Internal", 1, 1 },
		{ "wiki.corp.internal", "wiki2.corp.internal", 1, 0 },
		{ "*.corp.internal", "wiki.corp.internal", 1, 1 },
		{ "*.corp.internal", "a.b.corp.internal", 1, 1 },
		{ "*.corp.internal", "corp.internal", 1, 0 },
		{ "*.corp.internal", "xcorp.internal", 1, 0 },
		{ "*.corp.internal", "wiki.corp.internal.evil", 1, 0 },
		{ "*.corp.internal", "evilcorp.internal", 1, 0 },
		{ "*", "x", 0, 0 },
		{ "*.", "x", 0, 0 },
		{ "*.*.corp", "a.b.corp", 0, 0 },
		{ "a.*.corp", "a.b.corp", 0, 0 },
		{ "-bad.corp", "-bad.corp", 0, 0 },
		{ "10.1", "10.1", 0, 0 },
	};

	/* "*." and a 253-character name: longer than any name it could
	 * match, and than the 254 bytes an identity keeps for it. */
	char longp[256];

	memset(longp, 'a', sizeof(longp));
	longp[0] = '*';
	longp[1] = '.';
	for (size_t i = 2 + 63; i < 255; i += 64)
		longp[i] = '.';
	longp[255] = 0;
	assert_int_equal(zt_host_pattern_ok(longp + 2, 253), 1);
	assert_int_equal(zt_host_pattern_ok(longp, 255), 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(zt_host_pattern_ok(t[i].pattern,
						    strlen(t[i].pattern)),
				 t[i].ok);
		if (t[i].ok)
			assert_int_equal(zt_host_pattern_match(t[i].pattern,
							       t[i].host),
					 t[i].match);
	}
}

static void test_cidrs(void **state)
{
	static const char *bad[] = { "10.0.0.0", "10.0.0.1/8", "10.0.0.0/33",
				     "10.0.0.0/", "10.0.0.0/-1", "x/8",
				     "fd00::1/64", "fd00::/129", "10.0.0.0/8 " };
	static const struct {
		const char *inner, *outer;
		int within, overlap;
	} t[] = {
		{ "10.78.0.0/24", "10.78.0.0/24", 1, 1 },
		{ "10.78.0.128/25", "10.78.0.0/24", 1, 1 },
		{ "10.78.0.0/16", "10.78.0.0/24", 0, 1 },
		{ "10.79.0.0/24", "10.78.0.0/24", 0, 0 },
		{ "0.0.0.0/0", "10.78.0.0/24", 0, 1 },
		{ "10.78.0.0/24", "0.0.0.0/0", 1, 1 },
		{ "fd00:10::/64", "fd00::/16", 1, 1 },
		{ "fd00:10::/64", "10.0.0.0/8", 0, 0 },
	};
	struct zt_cidr c;
	char buf[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(zt_cidr_parse(bad[i], strlen(bad[i]), &c),
				 ZT_EINVAL);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct zt_cidr a = cidr(t[i].inner), b = cidr(t[i].outer);

		assert_int_equal(zt_cidr_within(&a, &b), t[i].within);
		assert_int_equal(zt_cidr_overlap(&a, &b), t[i].overlap);
		assert_int_equal(zt_cidr_overlap(&b, &a), t[i].overlap);
	}
	c = cidr("fd00:10::/64");
	assert_string_equal(zt_cidr_str(&c, buf, sizeof(buf)), "fd00:10::/64");
}

static struct zt_service svc(const char *name, const char *host,
			     const char *c1)
{
	struct zt_service s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", name);
	snprintf(s.hostname, sizeof(s.hostname), "%s", host);
	if (c1) {
		s.cidrs[0] = cidr(c1);
		s.n_cidrs = 1;
	}
	return s;
}

static void test_covers(void **state)
{
	struct zt_identity id = { .role = ZT_ROLE_CONNECTOR, .name = "conn1" };
	struct zt_identity none = { .role = ZT_ROLE_CONNECTOR, .name = "bare" };
	struct zt_service s;
	char why[200];

	snprintf(id.publish_hosts[0], sizeof(id.publish_hosts[0]),
		 "*.corp.internal");
	id.n_publish_hosts = 1;
	id.publish_cidrs[0] = cidr("10.78.0.0/24");
	id.n_publish_cidrs = 1;

	s = svc("wiki", "wiki.corp.internal", NULL);
	assert_int_equal(zt_grant_covers(&id, &s, why, sizeof(why)), 1);
	assert_int_equal(zt_grant_covers(&none, &s, why, sizeof(why)), 0);
	assert_string_equal(why, "hostname wiki.corp.internal not granted to bare");
	s = svc("db", "", "10.78.0.0/25");
	assert_int_equal(zt_grant_covers(&id, &s, why, sizeof(why)), 1);
	s = svc("db", "", "10.78.0.0/23");
	assert_int_equal(zt_grant_covers(&id, &s, why, sizeof(why)), 0);
	assert_string_equal(why, "cidr 10.78.0.0/23 not granted to conn1");
	s = svc("all", "", "0.0.0.0/0");
	assert_int_equal(zt_grant_covers(&id, &s, why, sizeof(why)), 0);
	/* Hostname granted, CIDR not: the whole service is refused. */
	s = svc("mix", "x.corp.internal", "192.168.1.0/24");
	assert_int_equal(zt_grant_covers(&id, &s, why, sizeof(why)), 0);
	s = svc("empty", "", NULL);
	assert_int_equal(zt_grant_covers(&id, &s, why, sizeof(why)), 0);
}

static void test_conflict(void **state)
{
	struct zt_service a = svc("wiki", "wiki.corp.internal", "10.78.0.0/24");
	struct zt_service b;

	b = svc("wiki", "other.corp.internal", NULL);
	assert_int_equal(zt_service_conflict(&a, &b), 1); /* same name */
	b = svc("w2", "WIKI.corp.internal", NULL);
	assert_int_equal(zt_service_conflict(&a, &b), 1); /* same host */
	b = svc("db", "", "10.78.0.128/25");
	assert_int_equal(zt_service_conflict(&a, &b), 1); /* overlap */
	assert_int_equal(zt_service_conflict(&b, &a), 1);
	b = svc("other", "other.corp.internal", "10.79.0.0/24");
	assert_int_equal(zt_service_conflict(&a, &b), 0);
	/* Two CIDR-only services do not collide on their empty hostnames. */
	a = svc("x", "", "10.1.0.0/16");
	b = svc("y", "", "10.2.0.0/16");
	assert_int_equal(zt_service_conflict(&a, &b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_cidrs),
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_conflict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
