/* Config loader: one test per kind of bad key or value, and the checks
 * across keys, each checking the return code and the message (file:line,
 * key). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cfgtest.h"
#include "config.h"
#include "err.h"

/* Bad keys and values, one kind per test */

static void test_unknown_key(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "foo = 1\n", ZT_EUNKNOWN,
		    "t.ini:7: unknown key 'foo' in [quic]", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "hostnmae = x\n", ZT_EUNKNOWN,
		    "t.ini:11: unknown key 'hostnmae' in [service wiki]", NULL);
	expect_fail(ZT_ROLE_RELAY, "ca = x\n" RELAY_OK, ZT_EUNKNOWN,
		    "t.ini:1: unknown key 'ca' outside of any section", NULL);
}

static void test_key_not_for_role(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[relays]\nrelay = r.example:1\n",
		    ZT_EINVAL, "t.ini:8: [relays] relay: not used by the relay role",
		    NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "[quic]\nrequire_retry = yes\n",
		    ZT_EINVAL,
		    "t.ini:8: [quic] require_retry: not used by the agent role",
		    NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "[service wiki]\nhostname = w.x\n",
		    ZT_EINVAL,
		    "t.ini:8: [service wiki] hostname: not used by the agent role",
		    NULL);
}

static void test_bad_tcp(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "tcp_listen = 0.0.0.0:0\n",
		    ZT_EINVAL,
		    "t.ini:7: [quic] tcp_listen = '0.0.0.0:0': expected a port "
		    "between 1 and 65535",
		    NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "tcp_listen = relay.example:443\n",
		    ZT_EINVAL,
		    "t.ini:7: [quic] tcp_listen = 'relay.example:443': "
		    "expected an IP address and port",
		    NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "[quic]\ntcp_fallback = 0\n",
		    ZT_EINVAL,
		    "t.ini:8: [quic] tcp_fallback = '0': expected a "
		    "port between 1 and 65535, or off",
		    NULL);
	expect_fail(ZT_ROLE_AGENT,
		    AGENT_OK "[quic]\ntcp_listen = 0.0.0.0:443\n", ZT_EINVAL,
		    "t.ini:8: [quic] tcp_listen: not used by the agent role",
		    NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "tcp_fallback = 443\n", ZT_EINVAL,
		    "t.ini:7: [quic] tcp_fallback: not used by the relay role",
		    NULL);
}

static void test_bad_bool(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "require_retry = maybe\n", ZT_EINVAL,
		    "t.ini:7: [quic] require_retry = 'maybe': expected a boolean",
		    NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "require_retry = 2\n", ZT_EINVAL,
		    "t.ini:7: [quic] require_retry = '2'", NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "require_retry =\n", ZT_EINVAL,
		    "t.ini:7: [quic] require_retry = ''", NULL);
}

static void test_bad_port(void **state)
{
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "relay = r.example:70000\n", ZT_EINVAL,
		    "t.ini:7: [relays] relay = 'r.example:70000': expected a port "
		    "between 1 and 65535", NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "relay = r.example:0\n", ZT_EINVAL,
		    "t.ini:7: [relays] relay = 'r.example:0': expected a port",
		    NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "relay = r.example\n", ZT_EINVAL,
		    "t.ini:7: [relays] relay = 'r.example': expected host:port",
		    NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "relay = r.example:-1\n", ZT_EINVAL,
		    "t.ini:7: [relays] relay = 'r.example:-1'", NULL);
	/* the relay needs a real port; others may let the kernel pick */
	expect_fail(ZT_ROLE_RELAY, ID "[quic]\nlisten = 0.0.0.0:0\n", ZT_EINVAL,
		    "t.ini:6: [quic] listen = '0.0.0.0:0': expected a port "
		    "between 1 and 65535", NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "[quic]\nlisten = 0.0.0.0:65536\n",
		    ZT_EINVAL, "t.ini:8: [quic] listen = '0.0.0.0:65536': expected "
		    "a port between 0 and 65535", NULL);
}

static void test_out_of_range(void **state)
{
	static const char *const bad[] = { "0", "601", "abc", "-1", "1e3",
					   "30s", "99999999999999999999" };
	char text[512], want[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), RELAY_OK "idle_timeout = %s\n",
			 bad[i]);
		snprintf(want, sizeof(want), "t.ini:7: [quic] idle_timeout = '%s': "
			 "expected seconds between 1 and 600", bad[i]);
		expect_fail(ZT_ROLE_RELAY, text, ZT_EINVAL, want, NULL);
	}
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "keepalive = 301\n", ZT_EINVAL,
		    "t.ini:7: [quic] keepalive = '301': expected seconds between "
		    "1 and 300", NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[daemon]\nlog_level = verbose\n",
		    ZT_EINVAL, "t.ini:8: [daemon] log_level = 'verbose': expected "
		    "error, warn, info or debug", NULL);
}

static void test_bad_listen(void **state)
{
	static const char *const bad[] = {
		"localhost:443", "1.2.3.4", "1.2.3.256:1", "::1:443", "[::1]443",
		"[::1]", "[1.2.3.4]:1", "[fe80::1%eth0]:1", ":443", "",
		"1.2.3.4:443:1", "01.2.3.4:1",
	};
	char text[512], want[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), ID "[quic]\nlisten = %s\n", bad[i]);
		snprintf(want, sizeof(want), "t.ini:6: [quic] listen = '%s': "
			 "expected an IP address and port", bad[i]);
		expect_fail(ZT_ROLE_RELAY, text, ZT_EINVAL, want, NULL);
	}
	expect_fail(ZT_ROLE_RELAY, ID "[quic]\nidle_timeout = 30\n", ZT_EINVAL,
		    "t.ini: [quic] listen is required for the relay role", NULL);
}

static void test_bad_cidr(void **state)
{
	/* syntax */
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = 10.0.0/8\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] cidr = '10.0.0/8': expected "
		    "address/prefix", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = 10.0.0.0\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] cidr = '10.0.0.0': expected "
		    "address/prefix", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = 10.1.0.0/16, bogus/8\n",
		    ZT_EINVAL, "t.ini:11: [service wiki] cidr = 'bogus/8'", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = 10.0.0.0/x\n", ZT_EINVAL,
		    "cidr = '10.0.0.0/x': expected a prefix length", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = ,\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] cidr = ',': expected a "
		    "comma-separated list", NULL);
	/* prefix too long */
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = 10.0.0.0/33\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] cidr = '10.0.0.0/33': expected a "
		    "prefix length between 0 and 32", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = fd00::/129\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] cidr = 'fd00::/129': expected a "
		    "prefix length between 0 and 128", NULL);
	/* host bits set: the message suggests the network */
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = 10.1.2.3/16\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] cidr = '10.1.2.3/16': expected the "
		    "host bits to be zero (10.1.0.0/16)", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "cidr = fd00::1/127\n", ZT_EINVAL,
		    "(fd00::/127)", NULL);
	/* too many */
	expect_fail(ZT_ROLE_CONNECTOR,
		    CONN_OK "cidr = 10.0.0.0/32, 10.0.0.1/32, 10.0.0.2/32, "
		    "10.0.0.3/32, 10.0.0.4/32, 10.0.0.5/32, 10.0.0.6/32, "
		    "10.0.0.7/32\ncidr = 10.0.0.8/32, 10.0.0.9/32, 10.0.0.10/32, "
		    "10.0.0.11/32, 10.0.0.12/32, 10.0.0.13/32, 10.0.0.14/32, "
		    "10.0.0.15/32, 10.0.0.16/32\n", ZT_EINVAL,
		    "t.ini:12: [service wiki] cidr = '10.0.0.16/32': expected at "
		    "most 16 cidrs per service", NULL);
}

static void test_bad_ports(void **state)
{
	static const char *const bad[] = { "0", "65536", "90-80", "80-", "-80",
					   "http", "80-90-100", "1.5" };
	char text[512], want[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), CONN_OK "ports = 22, %s\n", bad[i]);
		snprintf(want, sizeof(want), "t.ini:11: [service wiki] ports = "
			 "'%s': expected ports as N or N-M", bad[i]);
		expect_fail(ZT_ROLE_CONNECTOR, text, ZT_EINVAL, want, NULL);
	}
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "ports =\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] ports = '': expected", NULL);
	expect_fail(ZT_ROLE_CONNECTOR,
		    CONN_OK "ports = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n",
		    ZT_EINVAL, "t.ini:11: [service wiki] ports = '16': expected "
		    "at most 16 port ranges", NULL);
}

static void test_bad_allow(void **state)
{
	static const char *const bad[] = {
		"alice", "user:", "group:", "role:admin", "user:a/b", "user:a b",
		"User:alice",
		/* 64 characters */
		("user:x23456789012345678901234567890"
		 "1234567890123456789012345678901234"),
	};
	char text[512], want[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), CONN_OK "allow = group:ok, %s\n",
			 bad[i]);
		snprintf(want, sizeof(want), "t.ini:11: [service wiki] allow = "
			 "'%s': expected user:NAME or group:NAME", bad[i]);
		expect_fail(ZT_ROLE_CONNECTOR, text, ZT_EINVAL, want, NULL);
	}
}

static void test_bad_service_values(void **state)
{
	static const char *const bad_host[] = {
		"1.2.3.4", "-a.example", "a-.example", "a..example", ".a",
		"a.example.", "a_b.example", "*.example", "10.1",
	};
	char text[512], want[128];

	for (size_t i = 0; i < sizeof(bad_host) / sizeof(bad_host[0]); i++) {
		snprintf(text, sizeof(text),
			 AGENT_OK "[service w]\nhostname = %s\n", bad_host[i]);
		snprintf(want, sizeof(want), "t.ini:8: [service w] hostname = "
			 "'%s': expected a DNS name", bad_host[i]);
		expect_fail(ZT_ROLE_CONNECTOR, text, ZT_EINVAL, want, NULL);
	}
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "protocol = sctp\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] protocol = 'sctp': expected tcp, "
		    "udp or any", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "target = a.example:0\n",
		    ZT_EINVAL, "t.ini:11: [service wiki] target = 'a.example:0': "
		    "expected a port", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "target = fd00::1\n", ZT_EINVAL,
		    "t.ini:11: [service wiki] target = 'fd00::1': expected host "
		    "or host:port", NULL);
	/* service names */
	expect_fail(ZT_ROLE_CONNECTOR, AGENT_OK "[service bad!]\n", ZT_EINVAL,
		    "t.ini:7: [service bad!]: expected [service NAME]", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, AGENT_OK "[service]\n", ZT_EINVAL,
		    "t.ini:7: [service ]: expected [service NAME]", NULL);
	/* 64 characters: one too many (the system inih used to cut it at 41) */
	expect_fail(ZT_ROLE_CONNECTOR,
		    AGENT_OK "[service 1234567890123456789012345678901234567890"
		    "123456789012345678901234]\n", ZT_EINVAL,
		    "t.ini:7: [service 1234567890", "expected [service NAME]");
}

static void test_missing_identity(void **state)
{
	expect_fail(ZT_ROLE_RELAY,
		    "[identity]\nca = /ca\ncert = /c\n[quic]\nlisten = 1.2.3.4:5\n",
		    ZT_EINVAL, "t.ini: [identity] key is required", NULL);
	expect_fail(ZT_ROLE_AGENT, "[relays]\nrelay = r.example:1\n", ZT_EINVAL,
		    "t.ini: [identity] ca is required", NULL);
	expect_fail(ZT_ROLE_RELAY, "", ZT_EINVAL,
		    "t.ini: [identity] ca is required", NULL);
	expect_fail(ZT_ROLE_RELAY, "[identity]\nca = /ca\ncert =\n", ZT_EINVAL,
		    "t.ini:3: [identity] cert = '': expected a path", NULL);
}

static void test_missing_relay(void **state)
{
	expect_fail(ZT_ROLE_AGENT, ID, ZT_EINVAL,
		    "t.ini: [relays]: at least one relay is required", NULL);
	expect_fail(ZT_ROLE_CONNECTOR, ID "[relays]\n", ZT_EINVAL,
		    "t.ini: [relays]: at least one relay is required", NULL);
	expect_fail(ZT_ROLE_AGENT,
		    AGENT_OK "relay = a:1\nrelay = a:2\nrelay = a:3\nrelay = a:4\n"
		    "relay = a:5\nrelay = a:6\nrelay = a:7\nrelay = a:8\n",
		    ZT_EINVAL, "t.ini:14: [relays] relay = 'a:8': expected at most "
		    "8 relays", NULL);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "relay = fd00::1:443\n", ZT_EINVAL,
		    "t.ini:7: [relays] relay = 'fd00::1:443': expected host:port",
		    NULL);
}

static void test_keepalive_vs_idle(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "idle_timeout = 10\n", ZT_EINVAL,
		    "t.ini: [quic] keepalive (10 s) must be less than "
		    "idle_timeout (10 s)", NULL);
	expect_fail(ZT_ROLE_AGENT,
		    AGENT_OK "[quic]\nidle_timeout = 5\nkeepalive = 6\n", ZT_EINVAL,
		    "t.ini: [quic] keepalive (6 s) must be less than "
		    "idle_timeout (5 s)", NULL);
}

static void test_duplicate_service(void **state)
{
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "[service wiki]\nports = 1\n",
		    ZT_EINVAL, "t.ini:11: [service wiki]: duplicate service name",
		    NULL);
}

static void test_service_incomplete(void **state)
{
	expect_fail(ZT_ROLE_CONNECTOR,
		    AGENT_OK "[service w]\nports = 1\nallow = user:a\n", ZT_EINVAL,
		    "t.ini: [service w]: needs a hostname or at least one cidr",
		    NULL);
	expect_fail(ZT_ROLE_CONNECTOR,
		    AGENT_OK "[service w]\nhostname = w.x\nallow = user:a\n",
		    ZT_EINVAL, "t.ini: [service w]: needs ports", NULL);
	expect_fail(ZT_ROLE_CONNECTOR,
		    AGENT_OK "[service w]\ncidr = 10.0.0.0/8\nports = 1\n",
		    ZT_EINVAL, "t.ini: [service w]: allow is empty",
		    "denied by default");
	/* an empty section is a service too */
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "[service empty]\n", ZT_EINVAL,
		    "t.ini: [service empty]: needs a hostname", NULL);
}

static void test_control_socket_too_long(void **state)
{
	char text[512], path[120];

	/* 108 bytes with the NUL does not fit sun_path; 107 does */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[108] = '\0';
	snprintf(text, sizeof(text), RELAY_OK "[daemon]\ncontrol_socket = %s\n",
		 path);
	expect_fail(ZT_ROLE_RELAY, text, ZT_EINVAL,
		    "t.ini:8: [daemon] control_socket = '/aaaa",
		    "expected a socket path of at most 107 bytes after "
		    "resolution (it has 108)");
	path[107] = '\0';
	snprintf(text, sizeof(text), RELAY_OK "[daemon]\ncontrol_socket = %s\n",
		 path);
	{
		struct zt_config cfg;

		expect_ok(ZT_ROLE_RELAY, text, &cfg);
		assert_string_equal(cfg.control_socket, path);
		zt_config_free(&cfg);
	}
}

/* Regression: a long [tun] shim_socket once overran the config struct
 * before its length was checked. */
static void test_tun_section(void **state)
{
	char text[512], path[180];
	struct zt_config cfg;

	memset(path, 'b', sizeof(path));
	path[0] = '/';
	path[170] = '\0';
	snprintf(text, sizeof(text), AGENT_OK "[tun]\nshim_socket = %s\n", path);
	expect_fail(ZT_ROLE_AGENT, text, ZT_EINVAL, "[tun] shim_socket = '/bbb",
		    "a socket path of at most 107 bytes");
	expect_ok(ZT_ROLE_AGENT, AGENT_OK "[tun]\nifname = zt9\nmtu = 9000\n", &cfg);
	assert_string_equal(cfg.tun_ifname, "zt9");
	assert_int_equal(cfg.tun_mtu, 9000);
	assert_string_equal(cfg.shim_socket, "");
	assert_int_equal(cfg.tun_fail_open, 0); /* fail closed by default */
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_AGENT, AGENT_OK "[tun]\nfail_open = true\n", &cfg);
	assert_int_equal(cfg.tun_fail_open, 1);
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_AGENT, AGENT_OK "[tun]\nfail_open = off\n", &cfg);
	assert_int_equal(cfg.tun_fail_open, 0);
	zt_config_free(&cfg);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "[tun]\nfail_open = maybe\n",
		    ZT_EINVAL, "[tun] fail_open = 'maybe'",
		    "a boolean: true/false, yes/no, on/off or 1/0");
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[tun]\nfail_open = true\n",
		    ZT_EINVAL, "[tun] fail_open", "not used by the relay role");
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "[tun]\nmtu = 500\n", ZT_EINVAL,
		    "[tun] mtu = '500'", "an MTU between 1280 and 65535");
	expect_fail(ZT_ROLE_CONNECTOR, CONN_OK "[tun]\nmtu = 9000\n", ZT_EINVAL,
		    "[tun] mtu", "not used by the connector role");
}

static void test_nat_section(void **state)
{
	struct zt_config cfg;

	/* auto by default where there is a NAT to ask */
	expect_ok(ZT_ROLE_AGENT, AGENT_OK, &cfg);
	assert_int_equal(cfg.portmap, ZT_PORTMAP_AUTO);
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_CONNECTOR, CONN_OK, &cfg);
	assert_int_equal(cfg.portmap, ZT_PORTMAP_AUTO);
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_RELAY, RELAY_OK, &cfg);
	assert_int_equal(cfg.portmap, ZT_PORTMAP_OFF);
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_CONNECTOR, CONN_OK "[nat]\nportmap = off\n", &cfg);
	assert_int_equal(cfg.portmap, ZT_PORTMAP_OFF);
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_AGENT, AGENT_OK "[nat]\nportmap = auto\n", &cfg);
	assert_int_equal(cfg.portmap, ZT_PORTMAP_AUTO);
	zt_config_free(&cfg);
	expect_fail(ZT_ROLE_AGENT, AGENT_OK "[nat]\nportmap = upnp\n",
		    ZT_EINVAL, "t.ini:8: [nat] portmap = 'upnp'",
		    "expected auto or off");
	expect_fail(ZT_ROLE_AGENT,
		    AGENT_OK "[nat]\nportmap = off\nportmap = auto\n",
		    ZT_EINVAL, "t.ini:9: [nat] portmap", NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[nat]\nportmap = auto\n",
		    ZT_EINVAL, "[nat] portmap", "not used by the relay role");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_key_not_for_role),
		cmocka_unit_test(test_bad_bool),
		cmocka_unit_test(test_bad_tcp),
		cmocka_unit_test(test_bad_port),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_bad_cidr),
		cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_bad_allow),
		cmocka_unit_test(test_bad_service_values),
		cmocka_unit_test(test_missing_identity),
		cmocka_unit_test(test_missing_relay),
		cmocka_unit_test(test_keepalive_vs_idle),
		cmocka_unit_test(test_duplicate_service),
		cmocka_unit_test(test_service_incomplete),
		cmocka_unit_test(test_control_socket_too_long),
		cmocka_unit_test(test_tun_section),
		cmocka_unit_test(test_nat_section),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
