/* Small base pieces a peer's input reaches: log escaping of peer text,
 * which announced addresses count as reachable, the name validators, and
 * the status socket's refusal to remove anything but its own stale
 * socket. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "ctlsock.h"
#include "err.h"
#include "log.h"
#include "types.h"

static void test_escape(void **state)
{
	char out[64];

	assert_string_equal(zt_log_escape(out, sizeof(out), "plain text 1"),
			    "plain text 1");
	assert_string_equal(zt_log_escape(out, sizeof(out),
					  "x\n2026-01-01 error forged"),
			    "x\\x0a2026-01-01 error forged");
	assert_string_equal(zt_log_escape(out, sizeof(out), "\x1b[31mred\\"),
			    "\\x1b[31mred\\\\");
	assert_string_equal(zt_log_escape(out, sizeof(out), "\xff\x7f"),
			    "\\xff\\x7f");
	/* Truncation never splits an escape. */
	assert_string_equal(zt_log_escape(out, 6, "ab\ncd"), "ab");
	assert_string_equal(zt_log_escape(out, 1, "ab"), "");
}

/* Every peer-supplied string in status JSON goes through this writer. */
static void test_json_str(void **state)
{
	struct zt_sb b;

	zt_sb_init(&b);
	zt_sb_json_str(&b, "a\"b\\c\n\x01\x1f/\x7f");
	assert_string_equal(b.s, "\"a\\\"b\\\\c\\u000a\\u0001\\u001f/\x7f\"");
	zt_sb_free(&b);
}

static struct zt_addr addr(const char *ip, uint16_t port)
{
	struct zt_addr a = { .port = port };

	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a.family, ip, a.ip), 1);
	return a;
}

static void test_reachable(void **state)
{
	static const struct {
		const char *ip;
		uint16_t port;
		int ok;
	} t[] = {
		{ "10.77.0.2", 4433, 1 },   { "203.0.113.5", 1, 1 },
		{ "10.77.0.2", 0, 0 },      { "0.0.0.0", 4433, 0 },
		{ "127.0.0.1", 4433, 0 },   { "127.9.9.9", 4433, 0 },
		{ "169.254.1.1", 4433, 0 }, { "224.0.0.1", 4433, 0 },
		{ "255.255.255.255", 1, 0 }, { "2001:db8::1", 4433, 1 },
		{ "::", 4433, 0 },          { "::1", 4433, 0 },
		{ "fe80::1", 4433, 0 },     { "ff02::1", 4433, 0 },
		{ "::ffff:127.0.0.1", 1, 0 }, { "::ffff:10.0.0.1", 1, 1 },
	};
	struct zt_addr none = { 0 };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct zt_addr a = addr(t[i].ip, t[i].port);

		assert_int_equal(zt_addr_reachable(&a), t[i].ok);
	}
	none.port = 1;
	assert_int_equal(zt_addr_reachable(&none), 0);
}

static void status_fn(void *ud, struct zt_sb *out, int json) {}

/* The one name alphabet and the wire's wider one, edge by edge. */
static void test_names(void **state)
{
	static const struct {
		const char *s;
		int name, wire;
	} t[] = {
		{ "alice", 1, 1 },
		{ "a", 1, 1 },
		{ "alice@example.com", 1, 1 },
		{ "ops-team_2.eu", 1, 1 },
		{ "-x", 1, 1 },
		{ ".", 1, 1 },
		{ "AZaz09._@-", 1, 1 },
		{ "", 0, 0 },
		{ "a b", 0, 0 },
		{ "a\tb", 0, 0 },
		{ "a\x7f", 0, 0 },
		{ "caf\xc3\xa9", 0, 0 },
		{ "ztnad/0.1.0", 0, 1 },
		{ "!~", 0, 1 },
		{ "a+b", 0, 1 },
		{ "a:b", 0, 1 },
		{ "a*", 0, 1 },
	};
	char buf[ZT_NAME_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].s);

		if (zt_name_ok(t[i].s, n) != t[i].name ||
		    zt_wire_name_ok(t[i].s, n) != t[i].wire)
			fail_msg("\"%s\": want name %d wire %d", t[i].s,
				 t[i].name, t[i].wire);
	}
	/* Only the first n bytes count; a NUL inside them is refused. */
	assert_true(zt_name_ok("ab c", 2));
	assert_false(zt_name_ok("a\0b", 3));
	assert_false(zt_wire_name_ok("a\0b", 3));
	/* 63 characters at most. */
	memset(buf, 'x', sizeof(buf));
	assert_true(zt_name_ok(buf, ZT_NAME_MAX - 1));
	assert_true(zt_wire_name_ok(buf, ZT_NAME_MAX - 1));
	assert_false(zt_name_ok(buf, ZT_NAME_MAX));
	assert_false(zt_wire_name_ok(buf, ZT_NAME_MAX));
}

static void test_ctlsock_keeps_foreign_files(void **state)
{
	char dir[] = "/tmp/unit_base.XXXXXX", path[96], target[96];
	struct zt_ctlsock s;
	struct stat st;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(target, sizeof(target), "%s/precious", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	/* A regular file at the path stays. */
	assert_int_equal(zt_ctlsock_init(&s, uv_default_loop(), path, status_fn,
					 NULL), ZT_EIO);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);
	/* So does a symlink. */
	f = fopen(target, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(zt_ctlsock_init(&s, uv_default_loop(), path, status_fn,
					 NULL), ZT_EIO);
	assert_int_equal(lstat(target, &st), 0);
	unlink(path);
	/* A stale socket (nobody listening) is replaced ... */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	assert_int_equal(zt_ctlsock_init(&s, uv_default_loop(), path, status_fn,
					 NULL), 0);
	/* ... but a live one (ours, now) is not taken over. */
	{
		struct zt_ctlsock s2;

		assert_int_equal(zt_ctlsock_init(&s2, uv_default_loop(), path,
						 status_fn, NULL), ZT_EIO);
	}
	zt_ctlsock_close(&s);
	uv_run(uv_default_loop(), UV_RUN_NOWAIT);
	unlink(target);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_reachable),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ctlsock_keeps_foreign_files),
	};

	zt_log_set_level(ZT_LOG_ERROR + (getenv("ZT_TEST_VERBOSE") ? 3 : 0));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
