/* The agent's check of a live flow against a new catalog (arecheck.c):
 * kept while its service, from its connector, still covers its
 * destination, protocol and port; otherwise the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "pkt.h"
#include "arecheck.h"

static struct zt_catalog_entry entry(const char *name, const char *host,
				     uint16_t port, const char *conn)
{
	struct zt_catalog_entry e;

	memset(&e, 0, sizeof(e));
	strcpy(e.svc.name, name);
	strcpy(e.svc.hostname, host);
	e.svc.proto = ZT_PROTO_TCP;
	e.svc.ports[0].lo = e.svc.ports[0].hi = port;
	e.svc.n_ports = 1;
	strcpy(e.connector, conn);
	return e;
}

static struct zt_addr dst(const char *ip, uint16_t port)
{
	struct zt_addr a = { .family = AF_INET, .port = port };

	assert_int_equal(inet_pton(AF_INET, ip, a.ip), 1);
	return a;
}

static void test_hostname_flow(void **state)
{
	struct zt_catalog_entry e[2] = {
		entry("git", "git.corp.internal", 22, "conn1"),
		entry("wiki", "wiki.corp.internal", 443, "conn1"),
	};
	struct zt_addr d = dst("100.64.1.1", 443);
	struct zt_arecheck_flow f = { "conn1", "wiki", "wiki.corp.internal",
				      ZT_IPPROTO_TCP, &d };

	assert_null(zt_arecheck(e, 2, &f));
	d.port = 80;
	assert_string_equal(zt_arecheck(e, 2, &f),
			    "port or protocol no longer in the service");
	d.port = 443;
	f.proto = ZT_IPPROTO_UDP;
	assert_string_equal(zt_arecheck(e, 2, &f),
			    "port or protocol no longer in the service");
	f.proto = ZT_IPPROTO_TCP;
	f.hostname = "old.corp.internal"; /* the service's name changed */
	assert_string_equal(zt_arecheck(e, 2, &f),
			    "destination no longer in the service");
	f.hostname = "wiki.corp.internal";
	f.connector = "conn2"; /* the same name from another connector */
	assert_string_equal(zt_arecheck(e, 2, &f), "service left the catalog");
	f.connector = "conn1";
	assert_string_equal(zt_arecheck(e, 1, &f), "service left the catalog");
	assert_string_equal(zt_arecheck(NULL, 0, &f), "service left the catalog");
}

static void test_cidr_flow(void **state)
{
	struct zt_catalog_entry e = entry("db", "", 5432, "conn1");
	struct zt_addr d = dst("10.78.0.5", 5432);
	struct zt_arecheck_flow f = { "conn1", "db", NULL, ZT_IPPROTO_TCP, &d };

	e.svc.cidrs[0].family = AF_INET;
	e.svc.cidrs[0].prefix = 24;
	inet_pton(AF_INET, "10.78.0.0", e.svc.cidrs[0].addr);
	e.svc.n_cidrs = 1;
	assert_null(zt_arecheck(&e, 1, &f));
	e.svc.cidrs[0].prefix = 30; /* narrowed: .5 is outside now */
	assert_string_equal(zt_arecheck(&e, 1, &f),
			    "destination no longer in the service");
	/* ICMP echo goes to the service's addresses when it enables it. */
	e.svc.cidrs[0].prefix = 24;
	d.port = 0;
	f.proto = ZT_IPPROTO_ICMP;
	assert_non_null(zt_arecheck(&e, 1, &f));
	e.svc.icmp = 1;
	assert_null(zt_arecheck(&e, 1, &f));
}

/* Any one entry that still allows the flow keeps it. */
static void test_second_entry_keeps(void **state)
{
	struct zt_catalog_entry e[2] = {
		entry("wiki", "wiki.corp.internal", 80, "conn1"),
		entry("wiki", "wiki.corp.internal", 443, "conn1"),
	};
	struct zt_addr d = dst("100.64.1.1", 443);
	struct zt_arecheck_flow f = { "conn1", "wiki", "wiki.corp.internal",
				      ZT_IPPROTO_TCP, &d };

	assert_null(zt_arecheck(e, 2, &f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostname_flow),
		cmocka_unit_test(test_cidr_flow),
		cmocka_unit_test(test_second_entry_keeps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
