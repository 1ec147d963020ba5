/* Config loader: good files for each role (and the example configs), file
 * errors, unknown sections, syntax, line limits, the first error and clean
 * messages, each checking the return code and the message (file:line,
 * key). Bad values and cross-checks are in unit_configval.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgtest.h"
#include "config.h"
#include "err.h"
#include "log.h"

/* The repo root, from ZT_TEST_DATA = <repo>/test/data (which need not
 * exist, so no "..": strip the last two components instead). */
static void repo_path(char *buf, size_t len, const char *rel)
{
	char root[PATH_MAX];
	char *s;

	snprintf(root, sizeof(root), "%s", ZT_TEST_DATA);
	for (int i = 0; i < 2; i++) {
		s = strrchr(root, '/');
		assert_non_null(s);
		*s = '\0';
	}
	assert_true(snprintf(buf, len, "%s/%s", root, rel) < (int)len);
}


/* Good input */

static void test_relay_ok(void **state)
{
	struct zt_config cfg;
	char buf[64];

	expect_ok(ZT_ROLE_RELAY, RELAY_OK, &cfg);
	assert_int_equal(cfg.role, ZT_ROLE_RELAY);
	assert_string_equal(cfg.path, "t.ini");
	assert_string_equal(cfg.ca_file, "/p/ca.pem");
	assert_string_equal(cfg.cert_file, "/p/cert.pem");
	assert_string_equal(cfg.key_file, "/p/key.pem");
	assert_int_equal(cfg.log_level, ZT_LOG_INFO);
	assert_string_equal(cfg.control_socket, "/run/ztnad/relay.sock");
	assert_string_equal(cfg.qlog_dir, "");
	assert_string_equal(zt_addr_str(&cfg.listen, buf, sizeof(buf)),
			    "0.0.0.0:4433");
	assert_int_equal(cfg.idle_timeout_ms, 30000);
	assert_int_equal(cfg.keepalive_ms, 10000);
	assert_int_equal(cfg.require_retry, 1);
	/* TCP: the listen address with port 443, a default (not fatal) */
	assert_string_equal(zt_addr_str(&cfg.tcp_listen, buf, sizeof(buf)),
			    "0.0.0.0:443");
	assert_int_equal(cfg.tcp_listen_set, 0);
	assert_int_equal(cfg.n_relays, 0);
	assert_int_equal(cfg.n_services, 0);
	zt_config_free(&cfg);

	expect_ok(ZT_ROLE_RELAY, RELAY_OK "tcp_listen = [::]:8443\n", &cfg);
	assert_string_equal(zt_addr_str(&cfg.tcp_listen, buf, sizeof(buf)),
			    "[::]:8443");
	assert_int_equal(cfg.tcp_listen_set, 1);
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_RELAY, RELAY_OK "tcp_listen = off\n", &cfg);
	assert_int_equal(cfg.tcp_listen.family, 0);
	assert_int_equal(cfg.tcp_listen_set, 1);
	zt_config_free(&cfg);

	expect_ok(ZT_ROLE_RELAY,
		  ID "[daemon]\nlog_level = DEBUG\ncontrol_socket = /tmp/r.sock\n"
		  "qlog_dir = /var/q\n"
		  "[quic]\nlisten = [::1]:443\nidle_timeout = 600\n"
		  "keepalive = 300 ; inline comment\nrequire_retry = off\n",
		  &cfg);
	assert_int_equal(cfg.log_level, ZT_LOG_DEBUG);
	assert_string_equal(cfg.control_socket, "/tmp/r.sock");
	assert_string_equal(cfg.qlog_dir, "/var/q");
	assert_string_equal(zt_addr_str(&cfg.listen, buf, sizeof(buf)),
			    "[::1]:443");
	assert_int_equal(cfg.idle_timeout_ms, 600000);
	assert_int_equal(cfg.keepalive_ms, 300000);
	assert_int_equal(cfg.require_retry, 0);
	zt_config_free(&cfg);
}

static void test_agent_ok(void **state)
{
	struct zt_config cfg;
	char buf[64];

	expect_ok(ZT_ROLE_AGENT,
		  "\xEF\xBB\xBF" ID "[relays]\r\nrelay = R1.Example.com:1\r\n"
		  "relay = 192.0.2.1:65535\nrelay = [2001:db8::1]:4433\n"
		  "  relay4.example:5\n", &cfg);
	assert_int_equal(cfg.role, ZT_ROLE_AGENT);
	assert_string_equal(cfg.control_socket, "/run/ztnad/agent.sock");
	assert_string_equal(zt_addr_str(&cfg.listen, buf, sizeof(buf)),
			    "0.0.0.0:0");
	assert_int_equal(cfg.n_relays, 4);
	assert_string_equal(cfg.relays[0].host, "r1.example.com");
	assert_int_equal(cfg.relays[0].port, 1);
	assert_string_equal(cfg.relays[1].host, "192.0.2.1");
	assert_int_equal(cfg.relays[1].port, 65535);
	assert_string_equal(cfg.relays[2].host, "2001:db8::1");
	assert_int_equal(cfg.relays[2].port, 4433);
	/* an indented line continues a list key */
	assert_string_equal(cfg.relays[3].host, "relay4.example");
	zt_config_free(&cfg);

	expect_ok(ZT_ROLE_AGENT, AGENT_OK "[quic]\nlisten = [::]:0\n", &cfg);
	assert_string_equal(zt_addr_str(&cfg.listen, buf, sizeof(buf)),
			    "[::]:0");
	zt_config_free(&cfg);
	assert_int_equal(cfg.tcp_port, 443);

	expect_ok(ZT_ROLE_AGENT, AGENT_OK "[quic]\ntcp_fallback = 8443\n",
		  &cfg);
	assert_int_equal(cfg.tcp_port, 8443);
	zt_config_free(&cfg);
	expect_ok(ZT_ROLE_AGENT, AGENT_OK "[quic]\ntcp_fallback = off\n", &cfg);
	assert_int_equal(cfg.tcp_port, 0);
	zt_config_free(&cfg);
}

static void test_connector_ok(void **state)
{
	struct zt_config cfg;
	const struct zt_service *s;
	char ip[INET6_ADDRSTRLEN];

	expect_ok(ZT_ROLE_CONNECTOR,
		  CONN_OK
		  "[service Lab_1.x-y]\n"
		  "cidr = 10.20.0.0/16, fd00:20::/64,\n"
		  "       192.168.1.7/32\n"
		  "cidr = 0.0.0.0/0\n"
		  "ports = 22, 8000 - 8100\n"
		  "ports = 65535\n"
		  "protocol = ANY\n"
		  "allow = group:lab-admins,\n"
		  "  user:bob@example.com\n"
		  "target = [fd00::5]:8080\n"
		  "[service h]\nhostname = A-B.Example\nports = 1\n"
		  "protocol = udp\nallow = user:x\ntarget = backend\n",
		  &cfg);
	assert_int_equal(cfg.n_services, 3);

	s = &cfg.services[0];
	assert_string_equal(s->name, "wiki");
	assert_string_equal(s->hostname, "wiki.example.com");
	assert_int_equal(s->n_ports, 1);
	assert_int_equal(s->ports[0].lo, 443);
	assert_int_equal(s->ports[0].hi, 443);
	assert_int_equal(s->proto, ZT_PROTO_TCP);
	assert_int_equal(s->n_allow, 1);
	assert_int_equal(s->allow[0].kind, ZT_PRINCIPAL_USER);
	assert_string_equal(s->allow[0].name, "alice");
	assert_string_equal(s->target, "");

	s = &cfg.services[1];
	assert_string_equal(s->name, "Lab_1.x-y");
	assert_string_equal(s->hostname, "");
	assert_int_equal(s->n_cidrs, 4);
	assert_int_equal(s->cidrs[0].family, AF_INET);
	assert_int_equal(s->cidrs[0].prefix, 16);
	assert_string_equal(inet_ntop(AF_INET, s->cidrs[0].addr, ip, sizeof(ip)),
			    "10.20.0.0");
	assert_int_equal(s->cidrs[1].family, AF_INET6);
	assert_int_equal(s->cidrs[1].prefix, 64);
	assert_string_equal(inet_ntop(AF_INET6, s->cidrs[1].addr, ip, sizeof(ip)),
			    "fd00:20::");
	assert_int_equal(s->cidrs[2].prefix, 32);
	assert_int_equal(s->cidrs[3].prefix, 0);
	assert_int_equal(s->n_ports, 3);
	assert_int_equal(s->ports[1].lo, 8000);
	assert_int_equal(s->ports[1].hi, 8100);
	assert_int_equal(s->ports[2].lo, 65535);
	assert_int_equal(s->proto, ZT_PROTO_ANY);
	assert_int_equal(s->n_allow, 2);
	assert_int_equal(s->allow[0].kind, ZT_PRINCIPAL_GROUP);
	assert_string_equal(s->allow[0].name, "lab-admins");
	assert_string_equal(s->allow[1].name, "bob@example.com");
	assert_string_equal(s->target, "[fd00::5]:8080");

	s = &cfg.services[2];
	assert_string_equal(s->hostname, "a-b.example");
	assert_int_equal(s->proto, ZT_PROTO_UDP);
	assert_string_equal(s->target, "backend");
	zt_config_free(&cfg);
	zt_config_free(&cfg); /* twice is harmless */
}

/* 256 services is the limit, and the array grows past its first sizes. */
static void test_many_services(void **state)
{
	size_t len = 64 * 1024, n;
	char *text = malloc(len);
	struct zt_config cfg;

	assert_non_null(text);
	n = (size_t)snprintf(text, len, "%s", AGENT_OK);
	for (int i = 0; i < ZT_MAX_SERVICES; i++)
		n += (size_t)snprintf(text + n, len - n,
				      "[service s%d]\nhostname = s%d.example\n"
				      "ports = %d\nallow = group:g\n",
				      i, i, i + 1);
	expect_ok(ZT_ROLE_CONNECTOR, text, &cfg);
	assert_int_equal(cfg.n_services, ZT_MAX_SERVICES);
	assert_string_equal(cfg.services[255].name, "s255");
	assert_int_equal(cfg.services[255].ports[0].lo, 256);
	zt_config_free(&cfg);

	snprintf(text + n, len - n, "[service one-too-many]\n");
	expect_fail(ZT_ROLE_CONNECTOR, text, ZT_EINVAL,
		    "[service one-too-many]: more than 256 services", NULL);
	free(text);
}

static void test_relative_paths(void **state)
{
	struct zt_config cfg;
	char cwd[PATH_MAX], want[PATH_MAX + 16];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	expect_ok(ZT_ROLE_RELAY,
		  "[identity]\nca = ca.pem\ncert = sub/c.pem\nkey = /abs/k.pem\n"
		  "[daemon]\nqlog_dir = q\n"
		  "[quic]\nlisten = 1.2.3.4:1\n", &cfg);
	snprintf(want, sizeof(want), "%s/ca.pem", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(cfg.ca_file, want);
	snprintf(want, sizeof(want), "%s/sub/c.pem", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(cfg.cert_file, want);
	assert_string_equal(cfg.key_file, "/abs/k.pem");
	snprintf(want, sizeof(want), "%s/q", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(cfg.qlog_dir, want);
	zt_config_free(&cfg);
}

static void test_conf_examples(void **state)
{
	static const struct {
		const char *file;
		int role;
	} ex[] = {
		{ "conf/relay.ini", ZT_ROLE_RELAY },
		{ "conf/connector.ini", ZT_ROLE_CONNECTOR },
		{ "conf/agent.ini", ZT_ROLE_AGENT },
	};
	struct zt_config cfg;
	struct zt_config_error err;
	char path[PATH_MAX], want[PATH_MAX + 32], cwd[PATH_MAX];
	int rc;

	for (size_t i = 0; i < 3; i++) {
		repo_path(path, sizeof(path), ex[i].file);
		rc = zt_config_load(&cfg, ex[i].role, path, &err);
		if (rc)
			fail_msg("%s: %d %s", path, rc, err.msg);
		assert_string_equal(cfg.path, path);
		if (ex[i].role == ZT_ROLE_CONNECTOR)
			assert_true(cfg.n_services >= 1);
		if (ex[i].role != ZT_ROLE_RELAY)
			assert_true(cfg.n_relays >= 1);
		zt_config_free(&cfg);
		/* examples only work for their own role */
		rc = zt_config_load(&cfg, ex[i].role == ZT_ROLE_RELAY ?
				    ZT_ROLE_AGENT : ZT_ROLE_RELAY, path, &err);
		assert_int_not_equal(rc, 0);
		assert_non_null(strstr(err.msg, path));
	}
	/* agent.ini uses relative paths: resolved against conf/ */
	repo_path(path, sizeof(path), "conf/agent.ini");
	assert_int_equal(zt_config_load(&cfg, ZT_ROLE_AGENT, path, &err), 0);
	repo_path(want, sizeof(want), "conf/pki/ca.crt");
	assert_string_equal(cfg.ca_file, want);
	zt_config_free(&cfg);

	/* also when the file name itself is relative */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	repo_path(path, sizeof(path), "");
	assert_int_equal(chdir(path), 0);
	rc = zt_config_load(&cfg, ZT_ROLE_AGENT, "conf/agent.ini", &err);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.path, "conf/agent.ini");
	assert_string_equal(cfg.ca_file, want);
	zt_config_free(&cfg);
}

/* Writes data to a temporary file, path in buf. */
static void write_tmp(char *buf, size_t len, const char *data, size_t n)
{
	int fd;

	snprintf(buf, len, "/tmp/unit_config.XXXXXX");
	fd = mkstemp(buf);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void test_file_errors(void **state)
{
	static const char nul[] = RELAY_OK "[daemon]\nlog_level = in\0fo\n";
	struct zt_config cfg;
	struct zt_config_error err;
	char path[64], want[128];
	int rc;

	rc = zt_config_load(&cfg, ZT_ROLE_RELAY, "/nonexistent/relay.ini", &err);
	assert_int_equal(rc, ZT_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/relay.ini"));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_null(cfg.services);

	rc = zt_config_load(&cfg, ZT_ROLE_RELAY, "/", &err);
	assert_int_equal(rc, ZT_EIO);
	assert_non_null(strstr(err.msg, "/: cannot read: Is a directory"));

	write_tmp(path, sizeof(path), nul, sizeof(nul) - 1);
	rc = zt_config_load(&cfg, ZT_ROLE_RELAY, path, &err);
	unlink(path);
	assert_int_equal(rc, ZT_EINVAL);
	snprintf(want, sizeof(want), "%s:8: NUL byte in line", path);
	assert_string_equal(err.msg, want);

	/* the file name, with its line, is in messages from files too */
	write_tmp(path, sizeof(path), RELAY_OK "bogus = 1\n",
		  sizeof(RELAY_OK "bogus = 1\n") - 1);
	rc = zt_config_load(&cfg, ZT_ROLE_RELAY, path, &err);
	unlink(path);
	assert_int_equal(rc, ZT_EUNKNOWN);
	snprintf(want, sizeof(want), "%s:7: unknown key 'bogus' in [quic]", path);
	assert_string_equal(err.msg, want);
}

/* Bad input, one kind per test */

static void test_unknown_section(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[bogus]\nx = 1\n", ZT_EUNKNOWN,
		    "t.ini:7: unknown section [bogus]", NULL);
	/* even when empty, and even at the end */
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[quick]\n", ZT_EUNKNOWN,
		    "t.ini:7: unknown section [quick]", NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[services wiki]\n", ZT_EUNKNOWN,
		    "t.ini:7: unknown section [services wiki]", NULL);
}


static void test_syntax_error(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[daemon\nlog_level = info\n",
		    ZT_EINVAL, "t.ini:7: syntax error", NULL);
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "just some words\n", ZT_EINVAL,
		    "t.ini:7: syntax error", NULL);
	/* an inline comment hides the closing bracket, as inih sees it */
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "[daemon ;x]\n", ZT_EINVAL,
		    "t.ini:7: syntax error", NULL);
}

static void test_long_lines(void **state)
{
	char text[2048];
	struct zt_config cfg;
	int n;

	/* A line over the limit is an error on its own line, not silently
	 * cut short. */
	n = snprintf(text, sizeof(text), RELAY_OK "[daemon]\nqlog_dir = /");
	memset(text + n, 'q', 1000);
	snprintf(text + n + 1000, sizeof(text) - (size_t)n - 1000,
		 "\nlog_level = debug\n");
	expect_fail(ZT_ROLE_RELAY, text, ZT_EINVAL,
		    "t.ini:8: line longer than", NULL);

	/* long comments are fine, and do not shift line numbers */
	n = snprintf(text, sizeof(text), RELAY_OK "# ");
	memset(text + n, 'c', 1000);
	snprintf(text + n + 1000, sizeof(text) - (size_t)n - 1000,
		 "\n[daemon]\nlog_level = debug\n");
	expect_ok(ZT_ROLE_RELAY, text, &cfg);
	assert_int_equal(cfg.log_level, ZT_LOG_DEBUG);
	zt_config_free(&cfg);
	snprintf(text + n + 1000, sizeof(text) - (size_t)n - 1000,
		 "\n[daemon]\nlog_level = loud\n");
	expect_fail(ZT_ROLE_RELAY, text, ZT_EINVAL,
		    "t.ini:9: [daemon] log_level = 'loud'", NULL);
}

static void test_duplicate_key(void **state)
{
	expect_fail(ZT_ROLE_RELAY, RELAY_OK "listen = 0.0.0.0:1\n", ZT_EINVAL,
		    "t.ini:7: [quic] listen: set more than once", NULL);
	/* inih reads an indented line after a key as part of its value */
	expect_fail(ZT_ROLE_RELAY, ID "[quic]\n  listen = 0.0.0.0:1\n"
		    "  idle_timeout = 30\n", ZT_EINVAL,
		    "t.ini:7: [quic] listen: indented line read as a continuation",
		    NULL);
}

static void test_first_error_wins(void **state)
{
	expect_fail(ZT_ROLE_RELAY,
		    RELAY_OK "idle_timeout = x\nkeepalive = y\n[bogus]\nzz\n",
		    ZT_EINVAL, "t.ini:7: [quic] idle_timeout = 'x'", NULL);
	expect_fail(ZT_ROLE_CONNECTOR,
		    CONN_OK "[service b]\nports = 1\n[service b]\n", ZT_EINVAL,
		    "t.ini:13: [service b]: duplicate", NULL);
}

static void test_messages_are_clean(void **state)
{
	struct zt_config cfg;
	struct zt_config_error err;
	char text[1024];
	int n;

	/* control characters from the file never reach the message */
	assert_int_equal(load(ZT_ROLE_RELAY, RELAY_OK "[daemon]\nlog_level = "
			      "\x1b[31mred\x7f\n", &cfg, &err), ZT_EINVAL);
	assert_non_null(strstr(err.msg, "'?[31mred?'"));

	/* long values are cut in messages, which stay within their buffer */
	n = snprintf(text, sizeof(text), CONN_OK "allow = user:");
	memset(text + n, 'u', 150);
	text[n + 150] = '\0';
	assert_int_equal(load(ZT_ROLE_CONNECTOR, text, &cfg, &err), ZT_EINVAL);
	assert_non_null(strstr(err.msg, "uuu...': expected user:NAME"));

	assert_int_equal(zt_config_load_string(&cfg, 9, NULL, "", &err),
			 ZT_EINVAL);
	assert_string_equal(err.msg, "<string>: unknown role 9");
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_ok),
		cmocka_unit_test(test_agent_ok),
		cmocka_unit_test(test_connector_ok),
		cmocka_unit_test(test_many_services),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_conf_examples),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_messages_are_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
