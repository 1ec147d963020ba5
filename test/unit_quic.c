/* Two QUIC endpoints in one process, no sockets (qworld.h): the handshake
 * with mutual TLS, Retry, control messages on a stream, stream FIN and
 * reset, flow control with stalled streams, per-connection owners, role
 * and certificate refusals and garbage input. The limits against floods
 * are in unit_quiclim.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "qworld.h"
#include "err.h"
#include "quic.h"

static void send_msg(struct zt_qconn *c, int64_t sid,
		     const struct zt_ctrl_msg *m)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(zt_ctrl_encode(m, &buf, &len), 0);
	assert_int_equal(zt_qconn_stream_send(c, sid, buf, len, 0), 0);
	free(buf);
}

static void test_control_exchange(void **state, int retry)
{
	struct world *w = *state;
	struct zt_ctrl_msg m = { .type = ZT_CTRL_HELLO };
	struct zt_addr obs;
	int64_t sid;

	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, retry);
	side_init(w, 1, "connector", 0, 0);
	connect_to_relay(w);
	run(w, 200);
	assert_int_equal(w->s[0].established, 1);
	assert_int_equal(w->s[1].established, 1);
	assert_string_equal(zt_qconn_peer(w->s[0].conn)->name, "conn1");
	assert_string_equal(zt_qconn_peer(w->s[1].conn)->name, "relay1");

	assert_int_equal(zt_qconn_stream_open(w->s[1].conn, &sid), 0);
	snprintf(m.u.hello.software, sizeof(m.u.hello.software), "test");
	send_msg(w->s[1].conn, sid, &m);
	run(w, 50);
	assert_int_equal(w->s[0].got_msg, 1);
	assert_int_equal(w->s[0].last.type, ZT_CTRL_HELLO);
	assert_string_equal(w->s[0].last.u.hello.software, "test");

	/* The relay answers with what it observes. */
	memset(&m, 0, sizeof(m));
	m.type = ZT_CTRL_OBSERVED_ADDRESS;
	zt_qconn_remote(w->s[0].conn, &m.u.observed.addr);
	send_msg(w->s[0].conn, w->s[0].sid, &m);
	run(w, 50);
	assert_int_equal(w->s[1].got_msg, 1);
	assert_int_equal(w->s[1].last.type, ZT_CTRL_OBSERVED_ADDRESS);
	obs = w->s[1].last.u.observed.addr;
	assert_int_equal(obs.port, 4433);
	assert_int_equal(obs.ip[3], 2);

	/* Graceful close reaches the peer with our code. */
	zt_qconn_close(w->s[1].conn, ZT_APP_SHUTDOWN, "bye", w->now);
	run(w, 2000);
	assert_int_equal(w->s[0].closed, 1);
	assert_int_equal(w->s[0].ci.kind, 1);
	assert_int_equal(w->s[0].ci.code, ZT_APP_SHUTDOWN);
	assert_int_equal(zt_ep_conn_count(w->s[0].ep), 0);
	assert_int_equal(zt_ep_conn_count(w->s[1].ep), 0);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
}

/* A stream that ends with a FIN each way is clean; one reset with
 * application error 0 is a reset all the same, on both sides. */
static void test_stream_reset_code0(void **state)
{
	struct world *w = *state;
	struct zt_ctrl_msg m = { .type = ZT_CTRL_HELLO };
	int64_t sid;

	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	side_init(w, 1, "connector", 0, 0);
	connect_to_relay(w);
	run(w, 200);
	assert_int_equal(w->s[1].established, 1);
	snprintf(m.u.hello.software, sizeof(m.u.hello.software), "test");

	assert_int_equal(zt_qconn_stream_open(w->s[1].conn, &sid), 0);
	send_msg(w->s[1].conn, sid, &m);
	assert_int_equal(zt_qconn_stream_send(w->s[1].conn, sid, NULL, 0, 1), 0);
	run(w, 50);
	assert_int_equal(zt_qconn_stream_send(w->s[0].conn, sid, NULL, 0, 1), 0);
	run(w, 50);
	assert_int_equal(w->s[0].streams_closed, 1);
	assert_int_equal(w->s[0].closed_reset, 0);
	assert_int_equal(w->s[1].streams_closed, 1);
	assert_int_equal(w->s[1].closed_reset, 0);
	assert_int_equal(w->s[0].peer_resets, 0);

	assert_int_equal(zt_qconn_stream_open(w->s[1].conn, &sid), 0);
	send_msg(w->s[1].conn, sid, &m);
	run(w, 50);
	zt_qconn_stream_reset(w->s[1].conn, sid, 0);
	run(w, 50);
	assert_true(w->s[0].peer_resets >= 1);
	assert_int_equal(w->s[0].reset_code, 0);
	assert_int_equal(w->s[0].streams_closed, 2);
	assert_int_equal(w->s[0].closed_reset, 1);
	assert_int_equal(w->s[0].closed_code, 0);
	assert_int_equal(w->s[1].streams_closed, 2);
	assert_int_equal(w->s[1].closed_reset, 1);

	zt_qconn_close(w->s[1].conn, ZT_APP_SHUTDOWN, "bye", w->now);
	run(w, 2000);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
}

/* Streams whose reader never consumes hold their stream windows (1 MiB
 * each), not the connection's (4 MiB): with eight of them stalled, a new
 * stream still gets all its bytes. */
static void test_stalled_streams(void **state)
{
	struct world *w = *state;
	static uint8_t chunk[256 * 1024];
	int64_t sid;

	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	side_init(w, 1, "connector", 0, 0);
	w->s[0].raw = 1;
	w->s[0].live_sid = -1;
	connect_to_relay(w);
	run(w, 200);
	assert_int_equal(w->s[1].established, 1);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(zt_qconn_stream_open(w->s[1].conn, &sid), 0);
		for (int k = 0; k < 6; k++)
			assert_int_equal(zt_qconn_stream_send(w->s[1].conn, sid,
							      chunk, sizeof(chunk), 0),
					 0);
	}
	run(w, 3000);
	assert_int_equal(w->s[0].got_stalled, 8 * 1024 * 1024);

	assert_int_equal(zt_qconn_stream_open(w->s[1].conn, &sid), 0);
	w->s[0].live_sid = sid;
	for (int k = 0; k < 8; k++)
		assert_int_equal(zt_qconn_stream_send(w->s[1].conn, sid, chunk,
						      sizeof(chunk), 0),
				 0);
	run(w, 3000);
	assert_int_equal(w->s[0].got_live, 8 * sizeof(chunk));
	assert_int_equal(w->s[0].got_stalled, 8 * 1024 * 1024);

	zt_qconn_close(w->s[1].conn, ZT_APP_SHUTDOWN, "bye", w->now);
	run(w, 2000);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
}

/* zt_qconn_ping: one ack-eliciting packet at once, and the keep-alive as
 * it was afterwards (ngtcp2 has no PING call: it rides on an expired
 * keep-alive, which must not stay expired). */
static void test_ping(void **state)
{
	struct world *w = *state;
	const struct zt_pathio *pio;
	uint64_t at, rx, t;

	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	side_init(w, 1, "connector", 0, 0);
	connect_to_relay(w);
	run(w, 200);
	assert_int_equal(w->s[1].established, 1);
	/* Quiet, and nothing due before the 1 s keep-alive. */
	w->now += 300000000ULL;
	t = w->now;
	assert_int_equal(zt_qconn_ping(w->s[1].conn, t), 0);
	assert_true(w->nq >= 1);
	assert_int_equal(w->q[0].to, 0);
	run(w, 100);
	zt_qconn_last_rx(w->s[0].conn, &rx, &pio);
	assert_true(rx >= t);
	/* and acknowledged it */
	zt_qconn_last_rx(w->s[1].conn, &at, &pio);
	assert_true(at > rx);
	/* Then quiet again until the keep-alive. */
	run(w, 500);
	zt_qconn_last_rx(w->s[0].conn, &at, &pio);
	assert_true(at == rx);
	zt_qconn_close(w->s[1].conn, ZT_APP_SHUTDOWN, "bye", w->now);
	assert_int_equal(zt_qconn_ping(w->s[1].conn, w->now), ZT_ECLOSED);
	run(w, 2000);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
}

static void test_exchange_plain(void **state)
{
	test_control_exchange(state, 0);
}

static void test_exchange_retry(void **state)
{
	test_control_exchange(state, 1);
}

/* The client side is refused (or fails) and both ends see it. */
static void expect_refused(struct world *w, const char *client_cert,
			   unsigned accept)
{
	side_init(w, 0, "relay", accept, 0);
	side_init(w, 1, client_cert, 0, 0);
	connect_to_relay(w);
	run(w, 3000);
	assert_int_equal(w->s[0].established, 0);
	assert_int_equal(w->s[1].established, 0);
	assert_int_equal(w->s[1].closed, 1);
	assert_int_equal(zt_ep_conn_count(w->s[1].ep), 0);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
}

static void test_role_refused(void **state)
{
	/* An agent where only connectors are accepted. */
	expect_refused(*state, "agent", 1u << ZT_ROLE_CONNECTOR);
}

static void test_no_server_role(void **state)
{
	struct world *w = *state;

	/* A connector certificate cannot act as a relay: the client expects
	 * the relay role from the server. */
	side_init(w, 0, "connector", 1u << ZT_ROLE_CONNECTOR, 0);
	side_init(w, 1, "connector", 0, 0);
	connect_to_relay(w);
	run(w, 3000);
	assert_int_equal(w->s[1].established, 0);
	assert_int_equal(w->s[1].closed, 1);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
}

static void test_foreign_ca(void **state)
{
	expect_refused(*state, "foreign-conn", 1u << ZT_ROLE_CONNECTOR);
}

static void test_expired(void **state)
{
	expect_refused(*state, "expired", 1u << ZT_ROLE_CONNECTOR);
}

static void test_garbage(void **state)
{
	struct world *w = *state;
	uint8_t junk[1200];
	struct sockaddr_in from = { .sin_family = AF_INET };

	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 1);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	from.sin_addr.s_addr = htonl(0x0a000002);
	for (size_t n = 0; n <= sizeof(junk); n += 37) {
		junk[0] = (uint8_t)n;
		zt_ep_recv(w->s[0].ep, &w->s[0].pio, (struct sockaddr *)&from,
			   sizeof(from), junk, n, w->now);
	}
	assert_int_equal(zt_ep_conn_count(w->s[0].ep), 0);
	w->nq = 0;
	side_free(&w->s[0]);
}

/* What one owner of connections saw. */
struct tally {
	int established, closed;
	size_t data;
	struct zt_qconn *c;
};

static void t_established(struct zt_qconn *c, void *owner)
{
	struct tally *t = owner;

	t->established++;
	t->c = c;
}

static void t_data(struct zt_qconn *c, int64_t sid, const uint8_t *d,
		   size_t len, int fin, void *owner)
{
	zt_qconn_stream_consumed(c, sid, len);
	((struct tally *)owner)->data += len;
}

static void t_closed(struct zt_qconn *c, const struct zt_close_info *ci,
		     void *owner)
{
	((struct tally *)owner)->closed++;
}

static const struct zt_qconn_ops tally_ops = {
	.established = t_established,
	.stream_data = t_data,
	.closed = t_closed,
};

static struct zt_qconn *dial_owned(struct world *w, struct tally *t)
{
	struct zt_qconn *c = NULL;

	assert_int_equal(zt_ep_connect(w->s[1].ep, &w->s[1].pio,
				       (struct sockaddr *)&w->s[0].pio.local,
				       w->s[0].pio.local_len, "10.0.0.1",
				       ZT_ROLE_RELAY, &tally_ops, t, &c,
				       w->now),
			 0);
	return c;
}

#define BULK (2u << 20) /* twice the stream window: needs credit back */

static int64_t send_bulk(struct zt_qconn *c)
{
	static const uint8_t chunk[16384];
	int64_t sid;

	assert_int_equal(zt_qconn_stream_open(c, &sid), 0);
	for (size_t n = 0; n < BULK; n += sizeof(chunk))
		assert_int_equal(zt_qconn_stream_send(c, sid, chunk,
						      sizeof(chunk), 0),
				 0);
	return sid;
}

/* Each connection reports to its own owner: two client connections of
 * one endpoint with two owners; on the server, one accepted connection
 * rebound from its established callback, the other detached, which then
 * reports nothing and still gets its stream credit back. */
static void test_per_conn_ops(void **state)
{
	struct world *w = *state;
	struct tally a = { 0 }, b = { 0 }, srv = { 0 };
	struct zt_qconn *ca, *cb;
	int64_t sa, sb;

	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	side_init(w, 1, "connector", 0, 0);
	w->s[0].rebind = &tally_ops;
	w->s[0].rebind_owner = &srv;
	ca = dial_owned(w, &a);
	cb = dial_owned(w, &b);
	run(w, 200);
	assert_int_equal(a.established, 1);
	assert_ptr_equal(a.c, ca);
	assert_int_equal(b.established, 1);
	assert_ptr_equal(b.c, cb);
	assert_int_equal(w->s[1].established, 0);
	assert_int_equal(w->s[0].established, 2);
	assert_int_equal(srv.established, 0);
	assert_non_null(w->s[0].rebound);
	assert_ptr_not_equal(w->s[0].conn, w->s[0].rebound);
	zt_qconn_set_ops(w->s[0].conn, NULL, NULL);

	sa = send_bulk(ca);
	sb = send_bulk(cb);
	run(w, 3000);
	assert_int_equal(zt_qconn_stream_buffered(ca, sa), 0);
	assert_int_equal(zt_qconn_stream_buffered(cb, sb), 0);
	assert_int_equal(srv.data, BULK);
	assert_int_equal(w->s[0].got_msg, 0);

	zt_qconn_close(ca, ZT_APP_SHUTDOWN, "bye", w->now);
	zt_qconn_close(cb, ZT_APP_SHUTDOWN, "bye", w->now);
	run(w, 2000);
	assert_int_equal(a.closed, 1);
	assert_int_equal(b.closed, 1);
	assert_int_equal(srv.closed, 1);
	assert_int_equal(w->s[0].closed, 0);
	assert_int_equal(w->s[1].closed, 0);
	assert_int_equal(zt_ep_conn_count(w->s[0].ep), 0);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchange_plain),
		cmocka_unit_test(test_exchange_retry),
		cmocka_unit_test(test_stream_reset_code0),
		cmocka_unit_test(test_stalled_streams),
		cmocka_unit_test(test_per_conn_ops),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_role_refused),
		cmocka_unit_test(test_no_server_role),
		cmocka_unit_test(test_foreign_ca),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
