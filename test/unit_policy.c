/* The zero-trust decisions (policy.c), table by table: identities against
 * allow lists, destinations against hostnames and CIDRs, protocols and
 * ports against a service, the agent's choice of catalog entry and the
 * connector's check of a flow header. Each row names the expected
 * decision and its reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"
#include "policy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* "10.0.0.0/8" or "fd00::/64" into a CIDR. */
static struct zt_cidr cidr(const char *s)
{
	struct zt_cidr c = { 0 };
	char ip[64];
	const char *slash = strchr(s, '/');

	assert_non_null(slash);
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = 0;
	c.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(c.family, ip, c.addr), 1);
	c.prefix = (uint8_t)atoi(slash + 1);
	return c;
}

static struct zt_addr addr(const char *ip, uint16_t port)
{
	struct zt_addr a = { .port = port };

	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a.family, ip, a.ip), 1);
	return a;
}

static void add_allow(struct zt_service *s, uint8_t kind, const char *name)
{
	s->allow[s->n_allow].kind = kind;
	strcpy(s->allow[s->n_allow++].name, name);
}

static void add_port(struct zt_service *s, uint16_t lo, uint16_t hi)
{
	s->ports[s->n_ports].lo = lo;
	s->ports[s->n_ports++].hi = hi;
}

static void check(struct zt_decision d, int allow, const char *why, size_t row)
{
	if (d.allow != allow || strcmp(d.why, why) != 0)
		fail_msg("row %zu: got %d \"%s\", want %d \"%s\"", row, d.allow,
			 d.why, allow, why);
}

/* --- identity ----------------------------------------------------------- */

static void test_identity(void **state)
{
	/* Principals as "user:NAME" / "group:NAME", ";"-separated; groups of
	 * the identity ","-separated. */
	static const struct {
		const char *allow, *name, *groups;
		int ok;
		const char *why;
	} t[] = {
		{ "user:alice", "alice", "", 1, "user in the allow list" },
		{ "user:alice", "bob", "", 0,
		  "identity not in the allow list" },
		{ "user:alice@corp", "alice@corp", "", 1,
		  "user in the allow list" },
		/* Exact and case-sensitive: names are compared as written. */
		{ "user:alice", "Alice", "", 0,
		  "identity not in the allow list" },
		{ "user:alice", "alice2", "", 0,
		  "identity not in the allow list" },
		{ "user:alice2", "alice", "", 0,
		  "identity not in the allow list" },
		{ "group:ops", "bob", "dev,ops", 1, "group in the allow list" },
		{ "group:ops", "bob", "dev", 0,
		  "identity not in the allow list" },
		/* An identity with no groups matches only by name. */
		{ "group:ops", "bob", "", 0, "identity not in the allow list" },
		{ "group:ops;user:bob", "bob", "", 1,
		  "user in the allow list" },
		/* A user principal does not match a group of that name, nor
		 * the other way round. */
		{ "user:ops", "bob", "ops", 0,
		  "identity not in the allow list" },
		{ "group:bob", "bob", "", 0, "identity not in the allow list" },
		{ "user:x;group:y;group:ops", "bob", "a,b,ops", 1,
		  "group in the allow list" },
		/* An empty allow list admits no one. */
		{ "", "alice", "ops", 0, "empty allow list" },
		{ "", "", "", 0, "empty allow list" },
	};

	for (size_t r = 0; r < N(t); r++) {
		struct zt_service s = { 0 };
		struct zt_identity id = { .role = ZT_ROLE_AGENT };
		char buf[256], *save, *tok;

		strcpy(buf, t[r].allow);
		for (tok = strtok_r(buf, ";", &save); tok;
		     tok = strtok_r(NULL, ";", &save))
			add_allow(&s,
				  tok[0] == 'u' ? ZT_PRINCIPAL_USER :
						  ZT_PRINCIPAL_GROUP,
				  strchr(tok, ':') + 1);
		strcpy(id.name, t[r].name);
		strcpy(buf, t[r].groups);
		for (tok = strtok_r(buf, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save))
			strcpy(id.groups[id.n_groups++], tok);
		check(zt_policy_identity(&s, &id), t[r].ok, t[r].why, r);
	}
}

/* All ZT_MAX_GROUPS groups are looked at, the last one included. */
static void test_identity_last_group(void **state)
{
	struct zt_service s = { 0 };
	struct zt_identity id = { .role = ZT_ROLE_AGENT, .name = "bob" };

	for (id.n_groups = 0; id.n_groups < ZT_MAX_GROUPS; id.n_groups++)
		snprintf(id.groups[id.n_groups], ZT_NAME_MAX, "g%zu",
			 id.n_groups);
	add_allow(&s, ZT_PRINCIPAL_GROUP, "g31");
	check(zt_policy_identity(&s, &id), 1, "group in the allow list", 0);
	strcpy(s.allow[0].name, "g32");
	check(zt_policy_identity(&s, &id), 0, "identity not in the allow list",
	      1);
}

/* --- destination --------------------------------------------------------- */

static void test_dest_hostname(void **state)
{
	static const struct {
		const char *svc_host, *synth_host;
		int ok;
		const char *why;
	} t[] = {
		{ "wiki.corp.internal", "wiki.corp.internal", 1,
		  "hostname of the service" },
		{ "wiki.corp.internal", "git.corp.internal", 0,
		  "other hostname" },
		{ "wiki.corp.internal", "wiki.corp.internal.evil", 0,
		  "other hostname" },
		{ "wiki.corp.internal", "wiki.corp", 0, "other hostname" },
		/* A CIDR-only service has no name a synthetic address could
		 * stand for. */
		{ "", "wiki.corp.internal", 0, "other hostname" },
	};

	for (size_t r = 0; r < N(t); r++) {
		struct zt_service s = { 0 };
		struct zt_addr a = addr("100.64.1.1", 443);

		strcpy(s.hostname, t[r].svc_host);
		/* The synthetic address itself is never in the service. */
		s.cidrs[s.n_cidrs++] = cidr("100.64.0.0/10");
		check(zt_policy_dest(&s, t[r].synth_host, &a), t[r].ok,
		      t[r].why, r);
	}
}

static void test_dest_cidr(void **state)
{
	static const struct {
		const char *cidr, *ip;
		int ok;
	} t[] = {
		{ "10.1.0.0/16", "10.1.0.0", 1 },
		{ "10.1.0.0/16", "10.1.255.255", 1 },
		{ "10.1.0.0/16", "10.2.0.0", 0 },
		{ "10.1.0.0/16", "10.0.255.255", 0 },
		/* Prefixes not on a byte boundary. */
		{ "10.1.2.128/25", "10.1.2.128", 1 },
		{ "10.1.2.128/25", "10.1.2.255", 1 },
		{ "10.1.2.128/25", "10.1.2.127", 0 },
		{ "172.16.0.0/12", "172.31.255.255", 1 },
		{ "172.16.0.0/12", "172.32.0.0", 0 },
		/* /32: exactly one address. */
		{ "10.1.2.3/32", "10.1.2.3", 1 },
		{ "10.1.2.3/32", "10.1.2.2", 0 },
		{ "10.1.2.3/32", "10.1.2.4", 0 },
		/* /0: every address of its family, none of the other. */
		{ "0.0.0.0/0", "0.0.0.0", 1 },
		{ "0.0.0.0/0", "255.255.255.255", 1 },
		{ "0.0.0.0/0", "::", 0 },
		{ "0.0.0.0/0", "::ffff:10.1.2.3", 0 },
		{ "fd00:1::/64", "fd00:1::1", 1 },
		{ "fd00:1::/64", "fd00:1::ffff:ffff:ffff:ffff", 1 },
		{ "fd00:1::/64", "fd00:1:0:1::", 0 },
		{ "fc00::/7", "fdff::1", 1 },
		{ "fc00::/7", "fc00::1", 1 },
		{ "fc00::/7", "fe00::1", 0 },
		{ "fd00::/8", "fc00::1", 0 },
		{ "fd00:1::1/128", "fd00:1::1", 1 },
		{ "fd00:1::1/128", "fd00:1::", 0 },
		{ "fd00:1::1/128", "fd00:1::2", 0 },
		{ "::/0", "::", 1 },
		{ "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
		{ "::/0", "10.1.2.3", 0 },
		/* An IPv4-mapped address is IPv6 here, not its IPv4 one. */
		{ "10.0.0.0/8", "::ffff:10.1.2.3", 0 },
	};

	for (size_t r = 0; r < N(t); r++) {
		struct zt_service s = { 0 };
		struct zt_addr a = addr(t[r].ip, 80);

		s.cidrs[s.n_cidrs++] = cidr(t[r].cidr);
		check(zt_policy_dest(&s, NULL, &a), t[r].ok,
		      t[r].ok ? "address in the service" :
				"address outside the service",
		      r);
	}
}

/* Any of the service's CIDRs will do; a service without any has no
 * address. */
static void test_dest_several_cidrs(void **state)
{
	struct zt_service s = { 0 };
	struct zt_addr a = addr("192.168.7.7", 22), b = addr("fd00::7", 22);

	check(zt_policy_dest(&s, NULL, &a), 0, "address outside the service",
	      0);
	s.cidrs[s.n_cidrs++] = cidr("10.0.0.0/8");
	s.cidrs[s.n_cidrs++] = cidr("fd00::/8");
	check(zt_policy_dest(&s, NULL, &a), 0, "address outside the service",
	      1);
	check(zt_policy_dest(&s, NULL, &b), 1, "address in the service", 2);
	s.cidrs[s.n_cidrs++] = cidr("192.168.7.0/24");
	check(zt_policy_dest(&s, NULL, &a), 1, "address in the service", 3);
}

/* --- protocol and port ----------------------------------------------------- */

static void test_transport(void **state)
{
	static const struct {
		uint8_t proto, icmp;
		uint16_t lo, hi;
		int ipproto;
		uint16_t port;
		int ok;
		const char *why;
	} t[] = {
		{ ZT_PROTO_TCP, 0, 443, 443, ZT_IPPROTO_TCP, 443, 1,
		  "protocol and port served" },
		{ ZT_PROTO_TCP, 0, 443, 443, ZT_IPPROTO_TCP, 442, 0,
		  "port not served" },
		{ ZT_PROTO_TCP, 0, 443, 443, ZT_IPPROTO_TCP, 444, 0,
		  "port not served" },
		{ ZT_PROTO_TCP, 0, 443, 443, ZT_IPPROTO_UDP, 443, 0,
		  "protocol not served" },
		{ ZT_PROTO_UDP, 0, 53, 53, ZT_IPPROTO_UDP, 53, 1,
		  "protocol and port served" },
		{ ZT_PROTO_UDP, 0, 53, 53, ZT_IPPROTO_TCP, 53, 0,
		  "protocol not served" },
		{ ZT_PROTO_ANY, 0, 53, 53, ZT_IPPROTO_TCP, 53, 1,
		  "protocol and port served" },
		{ ZT_PROTO_ANY, 0, 53, 53, ZT_IPPROTO_UDP, 53, 1,
		  "protocol and port served" },
		/* Ranges are inclusive at both ends. */
		{ ZT_PROTO_TCP, 0, 8000, 8080, ZT_IPPROTO_TCP, 8000, 1,
		  "protocol and port served" },
		{ ZT_PROTO_TCP, 0, 8000, 8080, ZT_IPPROTO_TCP, 8080, 1,
		  "protocol and port served" },
		{ ZT_PROTO_TCP, 0, 8000, 8080, ZT_IPPROTO_TCP, 7999, 0,
		  "port not served" },
		{ ZT_PROTO_TCP, 0, 8000, 8080, ZT_IPPROTO_TCP, 8081, 0,
		  "port not served" },
		/* The extreme ports. */
		{ ZT_PROTO_TCP, 0, 1, 65535, ZT_IPPROTO_TCP, 1, 1,
		  "protocol and port served" },
		{ ZT_PROTO_TCP, 0, 1, 65535, ZT_IPPROTO_TCP, 65535, 1,
		  "protocol and port served" },
		{ ZT_PROTO_TCP, 0, 1, 65535, ZT_IPPROTO_TCP, 0, 0,
		  "port not served" },
		{ ZT_PROTO_UDP, 0, 1, 1, ZT_IPPROTO_UDP, 1, 1,
		  "protocol and port served" },
		{ ZT_PROTO_UDP, 0, 1, 1, ZT_IPPROTO_UDP, 2, 0,
		  "port not served" },
		{ ZT_PROTO_UDP, 0, 65535, 65535, ZT_IPPROTO_UDP, 65535, 1,
		  "protocol and port served" },
		{ ZT_PROTO_UDP, 0, 65535, 65535, ZT_IPPROTO_UDP, 65534, 0,
		  "port not served" },
		/* ICMP echo only with the flag, whatever the protocol and
		 * ports; the port (the echo id) does not matter. */
		{ ZT_PROTO_TCP, 1, 443, 443, ZT_IPPROTO_ICMP, 0, 1,
		  "ICMP echo enabled" },
		{ ZT_PROTO_TCP, 1, 443, 443, ZT_IPPROTO_ICMP, 9999, 1,
		  "ICMP echo enabled" },
		{ ZT_PROTO_ANY, 0, 1, 65535, ZT_IPPROTO_ICMP, 0, 0,
		  "ICMP echo not enabled" },
		{ ZT_PROTO_UDP, 1, 53, 53, ZT_IPPROTO_ICMPV6, 0, 1,
		  "ICMP echo enabled" },
		{ ZT_PROTO_UDP, 0, 53, 53, ZT_IPPROTO_ICMPV6, 0, 0,
		  "ICMP echo not enabled" },
		/* The flag admits no TCP or UDP by itself. */
		{ ZT_PROTO_TCP, 1, 443, 443, ZT_IPPROTO_UDP, 443, 0,
		  "protocol not served" },
		/* Other IP protocols: never (132 SCTP, 47 GRE, 0). */
		{ ZT_PROTO_ANY, 1, 1, 65535, 132, 443, 0,
		  "protocol not served" },
		{ ZT_PROTO_ANY, 1, 1, 65535, 47, 0, 0, "protocol not served" },
		{ ZT_PROTO_ANY, 1, 1, 65535, 0, 443, 0, "protocol not served" },
	};

	for (size_t r = 0; r < N(t); r++) {
		struct zt_service s = { .proto = t[r].proto,
					.icmp = t[r].icmp };

		add_port(&s, t[r].lo, t[r].hi);
		check(zt_policy_transport(&s, t[r].ipproto, t[r].port), t[r].ok,
		      t[r].why, r);
	}
}

/* Any of several ranges; a service without ports serves no TCP or UDP. */
static void test_transport_ranges(void **state)
{
	struct zt_service s = { .proto = ZT_PROTO_TCP };

	check(zt_policy_transport(&s, ZT_IPPROTO_TCP, 22), 0, "port not served",
	      0);
	add_port(&s, 22, 22);
	add_port(&s, 8000, 8999);
	check(zt_policy_transport(&s, ZT_IPPROTO_TCP, 22), 1,
	      "protocol and port served", 1);
	check(zt_policy_transport(&s, ZT_IPPROTO_TCP, 8500), 1,
	      "protocol and port served", 2);
	check(zt_policy_transport(&s, ZT_IPPROTO_TCP, 23), 0, "port not served",
	      3);
	check(zt_policy_transport(&s, ZT_IPPROTO_TCP, 9000), 0,
	      "port not served", 4);
}

/* --- the agent: which catalog entry? --------------------------------------- */

static struct zt_catalog_entry entry(const char *name, const char *host,
				     const char *cidr_s, uint8_t proto,
				     uint16_t lo, uint16_t hi, uint8_t icmp)
{
	struct zt_catalog_entry e;

	memset(&e, 0, sizeof(e));
	strcpy(e.svc.name, name);
	strcpy(e.svc.hostname, host);
	if (cidr_s)
		e.svc.cidrs[e.svc.n_cidrs++] = cidr(cidr_s);
	e.svc.proto = proto;
	e.svc.icmp = icmp;
	add_port(&e.svc, lo, hi);
	strcpy(e.connector, "conn1");
	return e;
}

static void test_pick(void **state)
{
	struct zt_catalog_entry e[] = {
		entry("wiki", "wiki.corp.internal", NULL, ZT_PROTO_TCP, 443,
		      443, 0),
		entry("git", "git.corp.internal", NULL, ZT_PROTO_TCP, 22, 22,
		      1),
		entry("lan", "", "10.1.0.0/16", ZT_PROTO_TCP, 80, 80, 0),
		/* Overlaps lan: the first entry serving the packet wins,
		 * another one for the same address may serve other ports. */
		entry("lan-dns", "", "10.1.0.53/32", ZT_PROTO_ANY, 53, 53, 1),
		entry("v6", "", "fd00:1::/64", ZT_PROTO_UDP, 1, 65535, 0),
	};
	static const struct {
		const char *host, *ip;
		int ipproto;
		uint16_t port;
		const char *want; /* entry name, NULL = deny */
		const char *why;
	} t[] = {
		{ "wiki.corp.internal", "100.64.1.1", ZT_IPPROTO_TCP, 443,
		  "wiki", "service found" },
		{ "wiki.corp.internal", "100.64.1.1", ZT_IPPROTO_TCP, 80, NULL,
		  "port or protocol not in the service" },
		{ "wiki.corp.internal", "100.64.1.1", ZT_IPPROTO_UDP, 443, NULL,
		  "port or protocol not in the service" },
		{ "wiki.corp.internal", "100.64.1.1", ZT_IPPROTO_ICMP, 0, NULL,
		  "port or protocol not in the service" },
		{ "git.corp.internal", "100.64.1.2", ZT_IPPROTO_ICMP, 7, "git",
		  "service found" },
		/* A synthetic name the catalog no longer has. */
		{ "old.corp.internal", "100.64.1.3", ZT_IPPROTO_TCP, 443, NULL,
		  "no service" },
		{ NULL, "10.1.2.3", ZT_IPPROTO_TCP, 80, "lan",
		  "service found" },
		{ NULL, "10.1.2.3", ZT_IPPROTO_TCP, 81, NULL,
		  "port or protocol not in the service" },
		{ NULL, "10.1.0.53", ZT_IPPROTO_TCP, 80, "lan",
		  "service found" },
		{ NULL, "10.1.0.53", ZT_IPPROTO_UDP, 53, "lan-dns",
		  "service found" },
		{ NULL, "10.1.0.53", ZT_IPPROTO_ICMP, 0, "lan-dns",
		  "service found" },
		{ NULL, "10.1.0.54", ZT_IPPROTO_ICMP, 0, NULL,
		  "port or protocol not in the service" },
		{ NULL, "10.2.0.1", ZT_IPPROTO_TCP, 80, NULL, "no service" },
		{ NULL, "fd00:1::5", ZT_IPPROTO_UDP, 65535, "v6",
		  "service found" },
		{ NULL, "fd00:1::5", ZT_IPPROTO_TCP, 1, NULL,
		  "port or protocol not in the service" },
		{ NULL, "fd00:2::5", ZT_IPPROTO_UDP, 1, NULL, "no service" },
		/* A real address equal to nothing but a hostname service's
		 * synthetic one is not that service. */
		{ NULL, "100.64.1.1", ZT_IPPROTO_TCP, 443, NULL, "no service" },
	};

	for (size_t r = 0; r < N(t); r++) {
		const struct zt_catalog_entry *got = &e[0];
		struct zt_addr a = addr(t[r].ip, t[r].port);

		check(zt_policy_pick(e, N(e), t[r].host, t[r].ipproto, &a,
				     &got),
		      t[r].want != NULL, t[r].why, r);
		if (t[r].want)
			assert_string_equal(got->svc.name, t[r].want);
		else
			assert_null(got);
	}
}

/* Default deny: an empty catalog serves nothing. */
static void test_pick_empty(void **state)
{
	const struct zt_catalog_entry *got = (const void *)1;
	struct zt_addr a = addr("10.1.2.3", 80);

	check(zt_policy_pick(NULL, 0, NULL, ZT_IPPROTO_TCP, &a, &got), 0,
	      "no service", 0);
	assert_null(got);
	check(zt_policy_pick(NULL, 0, "wiki.corp.internal", ZT_IPPROTO_TCP, &a,
			     &got),
	      0, "no service", 1);
	assert_null(got);
}

/* --- the connector: may this flow header pass? ------------------------------ */

static void test_flow(void **state)
{
	struct zt_service wiki = { .name = "wiki",
				   .hostname = "wiki.corp.internal",
				   .proto = ZT_PROTO_TCP };
	struct zt_service lan = { .name = "lan",
				  .proto = ZT_PROTO_ANY,
				  .icmp = 1 };
	static const struct {
		int svc; /* 0 none, 1 wiki, 2 lan */
		const char *user;
		int ipproto;
		const char *ip;
		uint16_t port;
		int status;
		const char *why;
	} t[] = {
		{ 1, "alice", ZT_IPPROTO_TCP, "100.64.1.1", 443, ZT_FLOW_OK,
		  "flow allowed" },
		/* A hostname service takes whatever synthetic address the
		 * agent used. */
		{ 1, "alice", ZT_IPPROTO_TCP, "100.99.9.9", 443, ZT_FLOW_OK,
		  "flow allowed" },
		{ 1, "alice", ZT_IPPROTO_TCP, "fd00::1", 443, ZT_FLOW_OK,
		  "flow allowed" },
		{ 0, "alice", ZT_IPPROTO_TCP, "100.64.1.1", 443,
		  ZT_FLOW_NO_SERVICE, "no such service" },
		{ 1, "mallory", ZT_IPPROTO_TCP, "100.64.1.1", 443,
		  ZT_FLOW_DENIED, "identity not in the allow list" },
		/* Identity first: an outsider learns nothing of the ports. */
		{ 1, "mallory", ZT_IPPROTO_TCP, "100.64.1.1", 22,
		  ZT_FLOW_DENIED, "identity not in the allow list" },
		{ 1, "alice", ZT_IPPROTO_TCP, "100.64.1.1", 22,
		  ZT_FLOW_NO_SERVICE, "protocol or port not served" },
		{ 1, "alice", ZT_IPPROTO_UDP, "100.64.1.1", 443,
		  ZT_FLOW_NO_SERVICE, "protocol or port not served" },
		{ 1, "alice", ZT_IPPROTO_ICMP, "100.64.1.1", 0,
		  ZT_FLOW_NO_SERVICE, "protocol or port not served" },
		{ 2, "bob", ZT_IPPROTO_UDP, "10.1.2.3", 53, ZT_FLOW_OK,
		  "flow allowed" },
		{ 2, "bob", ZT_IPPROTO_ICMP, "10.1.2.3", 0, ZT_FLOW_OK,
		  "flow allowed" },
		{ 2, "bob", ZT_IPPROTO_TCP, "10.2.0.1", 53, ZT_FLOW_NO_SERVICE,
		  "address outside the service" },
		{ 2, "bob", ZT_IPPROTO_TCP, "fd00::1", 53, ZT_FLOW_NO_SERVICE,
		  "address outside the service" },
		{ 2, "bob", ZT_IPPROTO_TCP, "10.1.2.3", 54, ZT_FLOW_NO_SERVICE,
		  "protocol or port not served" },
		/* bob's group admits him to lan only. */
		{ 1, "bob", ZT_IPPROTO_TCP, "100.64.1.1", 443, ZT_FLOW_DENIED,
		  "identity not in the allow list" },
		{ 2, "alice", ZT_IPPROTO_UDP, "10.1.2.3", 53, ZT_FLOW_DENIED,
		  "identity not in the allow list" },
	};

	add_port(&wiki, 443, 443);
	add_allow(&wiki, ZT_PRINCIPAL_USER, "alice");
	add_port(&lan, 53, 53);
	lan.cidrs[lan.n_cidrs++] = cidr("10.1.0.0/16");
	add_allow(&lan, ZT_PRINCIPAL_GROUP, "ops");
	for (size_t r = 0; r < N(t); r++) {
		const struct zt_service *svc = t[r].svc == 1 ? &wiki :
					       t[r].svc == 2 ? &lan :
							       NULL;
		struct zt_identity id = { .role = ZT_ROLE_AGENT };
		struct zt_flow_hdr h = { .proto = (uint8_t)t[r].ipproto };
		int status = -1;

		strcpy(id.name, t[r].user);
		if (strcmp(t[r].user, "bob") == 0)
			strcpy(id.groups[id.n_groups++], "ops");
		h.dst = addr(t[r].ip, t[r].port);
		strcpy(h.service, svc ? svc->name : "gone");
		check(zt_policy_flow(svc, &h, &id, &status),
		      t[r].status == ZT_FLOW_OK, t[r].why, r);
		assert_int_equal(status, t[r].status);
	}
}

/* A service whose allow list is empty refuses every flow as denied. */
static void test_flow_empty_allow(void **state)
{
	struct zt_service s = { .name = "s",
				.hostname = "s.corp.internal",
				.proto = ZT_PROTO_TCP };
	struct zt_identity id = { .role = ZT_ROLE_AGENT, .name = "alice" };
	struct zt_flow_hdr h = { .proto = ZT_IPPROTO_TCP, .service = "s" };
	int status;

	add_port(&s, 1, 65535);
	h.dst = addr("100.64.1.1", 443);
	check(zt_policy_flow(&s, &h, &id, &status), 0,
	      "identity not in the allow list", 0);
	assert_int_equal(status, ZT_FLOW_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_identity_last_group),
		cmocka_unit_test(test_dest_hostname),
		cmocka_unit_test(test_dest_cidr),
		cmocka_unit_test(test_dest_several_cidrs),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_transport_ranges),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_pick_empty),
		cmocka_unit_test(test_flow),
		cmocka_unit_test(test_flow_empty_allow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
