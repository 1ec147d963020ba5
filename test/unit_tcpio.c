/* The TCP transport (src/control/tcpio.c) on loopback: packets both ways
 * through TLS 1.3 and the framing, a relay certificate that does not name
 * the host dialled, a handshake that never starts, and the bounded write
 * queue of a connection whose peer does not read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pkitest.h"
#include "tcpio.h"
#include "tls.h"

struct side {
	struct zt_tcpio *io;
	struct zt_tcppath *path;
	int up, closed;
	char why[320];
	size_t packets, bytes, bad;
};

struct lab {
	uv_loop_t loop;
	uv_tcp_t listener;
	struct sockaddr_in addr;
	struct zt_tls relay, agent;
	struct zt_tcpgrave grave;
	struct side srv, cli;
	uv_timer_t guard;
};

static struct lab *L;

static void on_up(struct zt_tcpio *t, void *owner)
{
	((struct side *)owner)->up = 1;
}

/* Packet i is i + 1 bytes of (i & 0xff). */
static void on_packet(struct zt_tcpio *t, const uint8_t *d, size_t n,
		      void *owner)
{
	struct side *s = owner;

	for (size_t i = 0; i < n; i++)
		if (d[i] != (uint8_t)(n - 1))
			s->bad++;
	if (n != s->packets % 1000 + 1)
		s->bad++;
	s->packets++;
	s->bytes += n;
}

static void on_closed(struct zt_tcpio *t, const char *why, void *owner)
{
	struct side *s = owner;

	s->closed = 1;
	s->io = NULL;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

static const struct zt_tcpio_ops ops = { on_up, on_packet, on_closed };

static void on_conn(uv_stream_t *server, int status)
{
	struct lab *l = server->data;

	assert_int_equal(status, 0);
	l->srv.path = zt_tcpgrave_path(&l->grave, ZT_PATHIO_AUTHENTICATED);
	l->srv.io = zt_tcpio_accept(server, l->relay.tcp_server, l->srv.path, 0,
				    &ops, &l->srv);
	assert_non_null(l->srv.io);
}

static void guard_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs the loop until done() or ms pass. */
static void run_until(int (*done)(void), uint64_t ms)
{
	uint64_t end = uv_now(&L->loop) + ms;

	while (!done() && uv_now(&L->loop) < end) {
		uv_timer_start(&L->guard, guard_cb, 10, 0);
		uv_run(&L->loop, UV_RUN_ONCE);
		uv_update_time(&L->loop);
	}
}

static void make_pki(const struct fixture *f)
{
	static const char *const dns[] = { "relay.test" };
	static const char *const ips[] = { "127.0.0.1" };
	struct zt_pki_req relay = { .role = ZT_ROLE_RELAY,
				    .name = "relay1",
				    .org = "",
				    .dns = dns,
				    .n_dns = 1,
				    .ips = ips,
				    .n_ips = 1,
				    .key_type = ZT_KEY_EC_P256,
				    .days = 1 };
	struct zt_pki_req agent = { .role = ZT_ROLE_AGENT,
				    .name = "alice",
				    .org = "",
				    .key_type = ZT_KEY_EC_P256,
				    .days = 1 };
	char ca[128], crt[128], key[128];

	make_ca(f, "ca", ZT_KEY_EC_P256);
	assert_int_equal(issue(f, "ca", &relay, "relay"), 0);
	assert_int_equal(issue(f, "ca", &agent, "agent"), 0);
	mkpath(ca, sizeof(ca), f, "ca.crt");
	mkpath(crt, sizeof(crt), f, "relay.crt");
	mkpath(key, sizeof(key), f, "relay.key");
	assert_int_equal(zt_tls_init(&L->relay, ca, crt, key), 0);
	mkpath(crt, sizeof(crt), f, "agent.crt");
	mkpath(key, sizeof(key), f, "agent.key");
	assert_int_equal(zt_tls_init(&L->agent, ca, crt, key), 0);
}

static void lab_open(void **state)
{
	int len = sizeof(L->addr);

	L = calloc(1, sizeof(*L));
	assert_non_null(L);
	make_pki(*state);
	uv_loop_init(&L->loop);
	uv_timer_init(&L->loop, &L->guard);
	zt_tcpgrave_init(&L->grave);
	uv_ip4_addr("127.0.0.1", 0, &L->addr);
	uv_tcp_init(&L->loop, &L->listener);
	L->listener.data = L;
	assert_int_equal(
		uv_tcp_bind(&L->listener, (struct sockaddr *)&L->addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&L->listener, 8, on_conn), 0);
	uv_tcp_getsockname(&L->listener, (struct sockaddr *)&L->addr, &len);
}

static void dial(const char *host)
{
	L->cli.path = zt_tcpgrave_path(&L->grave, 0);
	L->cli.io = zt_tcpio_connect(&L->loop, L->agent.tcp_client,
				     (struct sockaddr *)&L->addr, host,
				     L->cli.path, &ops, &L->cli);
	assert_non_null(L->cli.io);
}

static void lab_close(void)
{
	if (L->cli.io)
		zt_tcpio_close(L->cli.io);
	if (L->srv.io)
		zt_tcpio_close(L->srv.io);
	zt_tcpgrave_bury(&L->grave, L->cli.path, 0);
	zt_tcpgrave_bury(&L->grave, L->srv.path, 0);
	uv_close((uv_handle_t *)&L->listener, NULL);
	uv_close((uv_handle_t *)&L->guard, NULL);
	uv_run(&L->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&L->loop), 0);
	zt_tcpgrave_free(&L->grave);
	zt_tls_free(&L->relay);
	zt_tls_free(&L->agent);
	free(L);
	L = NULL;
}

static int both_up(void)
{
	return (L->cli.up && L->srv.up) || L->cli.closed || L->srv.closed;
}

static int got_all(void)
{
	return L->srv.packets >= 3000 || L->srv.closed;
}

static int cli_got(void)
{
	return L->cli.packets >= 1 || L->cli.closed;
}

static void send_packets(struct side *s, size_t n)
{
	static uint8_t buf[1000];

	for (size_t i = 0; i < n; i++) {
		size_t len = i % 1000 + 1;

		memset(buf, (int)(len - 1), len);
		assert_int_equal(s->path->pio.ops->send(&s->path->pio, NULL, 0,
							buf, len),
				 0);
	}
}

static void test_packets(void **state)
{
	lab_open(state);
	dial("relay.test");
	run_until(both_up, 5000);
	assert_true(L->cli.up && L->srv.up);
	/* The pathio is the one each side was given, with synthetic
	 * addresses of its own. */
	assert_string_equal(L->cli.path->pio.ops->kind, "tcp");
	assert_true(zt_tcppath_is((struct sockaddr *)&L->cli.path->pio.local,
				  L->cli.path->pio.local_len));
	assert_true(zt_tcppath_is((struct sockaddr *)&L->srv.path->remote,
				  L->srv.path->remote_len));
	send_packets(&L->cli, 3000);
	run_until(got_all, 5000);
	assert_int_equal(L->srv.packets, 3000);
	assert_int_equal(L->srv.bad, 0);
	send_packets(&L->srv, 1);
	run_until(cli_got, 5000);
	assert_int_equal(L->cli.packets, 1);
	assert_int_equal(L->cli.bad, 0);
	/* Too big for a frame: dropped, counted, the connection stays. */
	{
		static uint8_t big[ZT_TCPF_MAX + 1];

		assert_int_equal(L->cli.path->pio.ops->send(&L->cli.path->pio,
							    NULL, 0, big,
							    sizeof(big)),
				 0);
		assert_int_equal(L->cli.path->dropped, 1);
		assert_false(L->cli.closed);
	}
	lab_close();
}

static int cli_closed(void)
{
	return L->cli.closed;
}

static void test_wrong_name(void **state)
{
	lab_open(state);
	dial("other.test");
	run_until(cli_closed, 5000);
	assert_true(L->cli.closed);
	assert_false(L->cli.up);
	assert_non_null(strstr(L->cli.why, "does not name other.test"));
	/* Nothing goes out on a path whose connection is gone. */
	send_packets(&L->cli, 1);
	assert_int_equal(L->cli.path->dropped, 1);
	lab_close();
}

static int srv_closed(void)
{
	return L->srv.closed;
}

static void raw_connected(uv_connect_t *req, int status)
{
	assert_int_equal(status, 0);
}

static void test_handshake_timeout(void **state)
{
	uv_tcp_t raw;
	uv_connect_t req;
	uint64_t t0;

	lab_open(state);
	uv_tcp_init(&L->loop, &raw);
	assert_int_equal(uv_tcp_connect(&req, &raw, (struct sockaddr *)&L->addr,
					raw_connected),
			 0);
	t0 = uv_now(&L->loop);
	run_until(srv_closed, ZT_TCPIO_HS_MS + 2000);
	assert_true(L->srv.closed);
	assert_string_equal(L->srv.why, "handshake timed out");
	assert_true(uv_now(&L->loop) - t0 >= ZT_TCPIO_HS_MS - 100);
	uv_close((uv_handle_t *)&raw, NULL);
	lab_close();
}

/* A peer that does not read: the kernel buffers fill, then the write
 * queue up to its limit, then packets are dropped. */
static void test_write_queue_bound(void **state)
{
	lab_open(state);
	dial("127.0.0.1");
	run_until(both_up, 5000);
	assert_true(L->cli.up && L->srv.up);
	uv_read_stop((uv_stream_t *)&L->srv.io->tcp);
	send_packets(&L->cli, 40000);
	assert_true(L->cli.path->dropped > 0);
	assert_true(zt_tcpio_queued(L->cli.io) <=
		    ZT_TCPIO_WQ_MAX + ZT_TCPF_HDR + ZT_TCPF_MAX + 64);
	assert_int_equal(L->cli.path->sent + L->cli.path->dropped, 40000);
	lab_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_queue_bound, setup,
						teardown),
	};
	int rv;

	wolfSSL_Init();
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	wolfSSL_Cleanup();
	return rv;
}
