/* The netstack's connection API against lwIP itself, no sockets: the test
 * plays the application's kernel TCP, writing IPv4 segments in and reading
 * lwIP's segments out (through zt_pkt_parse, so their checksums are
 * checked too). A held SYN, accept, the handshake, data both ways with the
 * receive credit and the send room, FINs, resets in each state, and an
 * owner that ends its connection inside a callback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "err.h"
#include "netstack.h"
#include "pkt.h"

static const uint8_t APP[4] = { 100, 64, 0, 1 };
static const uint8_t DST[4] = { 100, 64, 1, 1 };

/* lwIP's segments, as the application would receive them. */
struct seg {
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t sport, dport;
	size_t len;
	uint8_t head[16];
};

#define MAXSEG 1024
static struct seg out[MAXSEG];
static size_t n_out;
static struct zt_netstack ns;
static uv_loop_t loop;

static void ns_output(void *ud, const struct iovec *iov, int cnt)
{
	static uint8_t buf[65536];
	struct zt_pkt p;
	size_t n = 0;

	for (int i = 0; i < cnt; i++) {
		memcpy(buf + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	assert_int_equal(zt_pkt_parse(&p, buf, n), ZT_PKT_OK);
	assert_int_equal(p.proto, ZT_IPPROTO_TCP);
	assert_true(n_out < MAXSEG);
	out[n_out] = (struct seg){ p.tcp_flags, p.tcp_seq,  p.tcp_ack,
				   p.src.port,  p.dst.port, p.payload_len,
				   { 0 } };
	memcpy(out[n_out].head, p.payload,
	       p.payload_len < 16 ? p.payload_len : 16);
	n_out++;
}

static const struct zt_netstack_ops ns_ops = { ns_output };

static void w16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, v >> 16);
	w16(p + 2, v);
}

/* One segment from the application (port sport) to DST:80; a SYN offers
 * an MSS of 15000, as the kernel does on a TUN of MTU 15040. */
static size_t app_seg(uint8_t *b, uint16_t sport, uint8_t flags, uint32_t seq,
		      uint32_t ack, const void *data, size_t len)
{
	uint8_t ph[12];
	uint32_t sum;
	size_t hl = flags & ZT_TCP_SYN ? 24 : 20, tl = hl + len;

	memset(b, 0, 20 + hl);
	b[0] = 0x45;
	w16(b + 2, 20 + tl);
	b[8] = 64;
	b[9] = ZT_IPPROTO_TCP;
	memcpy(b + 12, APP, 4);
	memcpy(b + 16, DST, 4);
	w16(b + 10, zt_csum_fold(zt_csum_add(0, b, 20)));
	w16(b + 20, sport);
	w16(b + 22, 80);
	w32(b + 24, seq);
	w32(b + 28, ack);
	b[32] = (uint8_t)(hl / 4 << 4);
	b[33] = flags;
	w16(b + 34, 65535);
	if (hl > 20) {
		b[40] = 2; /* MSS */
		b[41] = 4;
		w16(b + 42, 15000);
	}
	if (len)
		memcpy(b + 20 + hl, data, len);
	memcpy(ph, APP, 4);
	memcpy(ph + 4, DST, 4);
	ph[8] = 0;
	ph[9] = ZT_IPPROTO_TCP;
	w16(ph + 10, tl);
	sum = zt_csum_add(zt_csum_add(0, ph, 12), b + 20, tl);
	w16(b + 36, zt_csum_fold(sum));
	return 20 + tl;
}

static void app_send(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack,
		     const void *data, size_t len)
{
	static uint8_t b[2048];
	size_t n = app_seg(b, sport, flags, seq, ack, data, len);

	zt_netstack_input(&ns, b, n, 4, DST);
}

/* What the owner saw, and what it does in its callbacks. */
struct owner {
	struct zt_ns_conn *c;
	int established, eof, sent, closed, closed_err;
	size_t got;
	char data[64];
	int abort_in_data, close_in_eof, close_in_sent, abort_in_established;
};

static void o_established(void *ud)
{
	struct owner *o = ud;

	o->established++;
	if (o->abort_in_established) {
		zt_ns_conn_abort(o->c);
		o->c = NULL;
	}
}

static void o_data(void *ud, const struct iovec *iov, int cnt)
{
	struct owner *o = ud;

	for (int i = 0; i < cnt; i++) {
		size_t k = iov[i].iov_len;

		if (o->got + k < sizeof(o->data))
			memcpy(o->data + o->got, iov[i].iov_base, k);
		o->got += k;
	}
	if (o->abort_in_data) {
		zt_ns_conn_abort(o->c);
		o->c = NULL;
	}
}

static void o_eof(void *ud)
{
	struct owner *o = ud;

	o->eof++;
	if (o->close_in_eof) {
		zt_ns_conn_close(o->c);
		o->c = NULL;
	}
}

static void o_sent(void *ud)
{
	struct owner *o = ud;

	o->sent++;
	if (o->close_in_sent) {
		zt_ns_conn_close(o->c);
		o->c = NULL;
	}
}

static void o_closed(void *ud, int err)
{
	struct owner *o = ud;

	o->closed++;
	o->closed_err = err;
}

static const struct zt_ns_conn_ops o_ops = { o_established, o_data, o_eof,
					     o_sent, o_closed };

#define ISN 1000u

/* The application's SYN from sport, held for o. */
static void hold(struct owner *o, uint16_t sport)
{
	uint8_t b[64];
	size_t n = app_seg(b, sport, ZT_TCP_SYN, ISN, 0, NULL, 0);
	struct zt_pkt p;

	memset(o, 0, sizeof(*o));
	assert_int_equal(zt_pkt_parse(&p, b, n), ZT_PKT_OK);
	assert_int_equal(zt_ns_conn_new(&ns, &p, b, n, &o_ops, o, &o->c), 0);
	memset(b, 0xee, sizeof(b)); /* the connection keeps its own copy */
}

/* Held, accepted, handshake done: returns lwIP's ISN. */
static uint32_t open_conn(struct owner *o, uint16_t sport)
{
	uint32_t iss;

	hold(o, sport);
	n_out = 0;
	assert_int_equal(zt_ns_conn_accept(o->c), 0);
	assert_int_equal(n_out, 1);
	assert_int_equal(out[0].flags, ZT_TCP_SYN | ZT_TCP_ACK);
	assert_int_equal(out[0].ack, ISN + 1);
	assert_int_equal(out[0].dport, sport);
	assert_non_null(ns.listeners);
	iss = out[0].seq;
	assert_int_equal(o->established, 0);
	app_send(sport, ZT_TCP_ACK, ISN + 1, iss + 1, NULL, 0);
	assert_int_equal(o->established, 1);
	/* The listener lived only for the handshake. */
	assert_null(ns.listeners);
	return iss;
}

static void test_held_abort(void **st)
{
	struct owner o;

	hold(&o, 40001);
	n_out = 0;
	zt_ns_conn_abort(o.c);
	/* A closed port's answer, built from the held SYN. */
	assert_int_equal(n_out, 1);
	assert_int_equal(out[0].flags, ZT_TCP_RST | ZT_TCP_ACK);
	assert_int_equal(out[0].ack, ISN + 1);
	assert_int_equal(out[0].sport, 80);
	assert_int_equal(out[0].dport, 40001);
	assert_int_equal(o.closed + o.established, 0);
}

static void test_new_refuses_non_syn(void **st)
{
	uint8_t b[64];
	size_t n = app_seg(b, 40002, ZT_TCP_SYN | ZT_TCP_ACK, ISN, 1, NULL, 0);
	struct zt_pkt p;
	struct zt_ns_conn *c = NULL;

	assert_int_equal(zt_pkt_parse(&p, b, n), ZT_PKT_OK);
	assert_int_equal(zt_ns_conn_new(&ns, &p, b, n, &o_ops, NULL, &c),
			 ZT_EINVAL);
	assert_null(c);
}

/* Bytes both ways, then the application's FIN, ours, and lwIP reports
 * the clean end. */
static void test_data_and_fins(void **st)
{
	struct owner o;
	uint32_t iss = open_conn(&o, 40003);

	app_send(40003, ZT_TCP_ACK | ZT_TCP_PSH, ISN + 1, iss + 1, "hello", 5);
	assert_int_equal(o.got, 5);
	assert_memory_equal(o.data, "hello", 5);
	zt_ns_conn_recved(o.c, 5);
	n_out = 0;
	assert_int_equal(zt_ns_conn_write(o.c, (const uint8_t *)"world", 5), 5);
	zt_ns_conn_flush(o.c);
	assert_true(n_out >= 1);
	assert_int_equal(out[n_out - 1].len, 5);
	assert_memory_equal(out[n_out - 1].head, "world", 5);
	assert_int_equal(out[n_out - 1].seq, iss + 1);
	assert_int_equal(out[n_out - 1].ack, ISN + 6);
	app_send(40003, ZT_TCP_ACK | ZT_TCP_FIN, ISN + 6, iss + 6, NULL, 0);
	assert_int_equal(o.eof, 1);
	assert_true(o.sent >= 1);
	n_out = 0;
	assert_int_equal(zt_ns_conn_shutdown(o.c), 0);
	assert_true(n_out >= 1);
	assert_true(out[n_out - 1].flags & ZT_TCP_FIN);
	assert_int_equal(o.closed, 0);
	app_send(40003, ZT_TCP_ACK, ISN + 7, iss + 7, NULL, 0);
	assert_int_equal(o.closed, 1);
	assert_int_equal(o.closed_err, 0);
	/* Gone in lwIP: writes fail cleanly, close only frees. */
	assert_int_equal(zt_ns_conn_write(o.c, (const uint8_t *)"x", 1),
			 ZT_ECLOSED);
	n_out = 0;
	zt_ns_conn_close(o.c);
	assert_int_equal(n_out, 0);
}

/* The application resets during the handshake: the owner hears it (lwIP
 * would otherwise drop the half-open pcb silently). */
static void test_rst_in_handshake(void **st)
{
	struct owner o;

	hold(&o, 40004);
	assert_int_equal(zt_ns_conn_accept(o.c), 0);
	app_send(40004, ZT_TCP_RST, ISN + 1, 0, NULL, 0);
	assert_int_equal(o.closed, 1);
	assert_int_equal(o.closed_err, ZT_ECLOSED);
	assert_int_equal(o.established, 0);
	assert_null(ns.listeners);
	n_out = 0;
	zt_ns_conn_abort(o.c);
	assert_int_equal(n_out, 0); /* a RST is never answered */
}

/* Closing a connection that never got established resets it. */
static void test_close_in_handshake(void **st)
{
	struct owner o;

	hold(&o, 40005);
	assert_int_equal(zt_ns_conn_accept(o.c), 0);
	n_out = 0;
	zt_ns_conn_close(o.c);
	assert_int_equal(n_out, 1);
	assert_true(out[0].flags & ZT_TCP_RST);
	assert_null(ns.listeners);
	assert_int_equal(o.closed, 0);
}

/* A SYN that nobody accepted gets no SYN-ACK, even while a listener
 * exists on its port for another connection's handshake. */
static void test_stray_syn(void **st)
{
	struct owner o;

	hold(&o, 40006);
	assert_int_equal(zt_ns_conn_accept(o.c), 0);
	n_out = 0;
	app_send(40007, ZT_TCP_SYN, 5000, 0, NULL, 0);
	assert_int_equal(n_out, 0);
	zt_ns_conn_abort(o.c);
	assert_null(ns.listeners);
}

/* The owner aborts inside its data callback: lwIP must be told, or it
 * would touch the freed pcb (ASan). */
static void test_abort_in_callback(void **st)
{
	struct owner o;
	uint32_t iss = open_conn(&o, 40008);

	o.abort_in_data = 1;
	n_out = 0;
	app_send(40008, ZT_TCP_ACK, ISN + 1, iss + 1, "abc", 3);
	assert_null(o.c);
	assert_int_equal(o.got, 3);
	assert_true(n_out >= 1);
	assert_true(out[n_out - 1].flags & ZT_TCP_RST);
	/* Later segments of that connection find nothing: a RST. */
	n_out = 0;
	app_send(40008, ZT_TCP_ACK, ISN + 4, iss + 1, "d", 1);
	assert_int_equal(n_out, 1);
	assert_true(out[0].flags & ZT_TCP_RST);
	assert_int_equal(o.closed, 0);
}

/* Closing from the eof callback: lwIP finishes on its own. */
static void test_close_in_callback(void **st)
{
	struct owner o;
	uint32_t iss = open_conn(&o, 40009);

	o.close_in_eof = 1;
	n_out = 0;
	app_send(40009, ZT_TCP_ACK | ZT_TCP_FIN, ISN + 1, iss + 1, NULL, 0);
	assert_null(o.c);
	assert_true(n_out >= 1);
	assert_true(out[n_out - 1].flags & ZT_TCP_FIN);
	assert_false(out[n_out - 1].flags & ZT_TCP_RST);
	app_send(40009, ZT_TCP_ACK, ISN + 2, iss + 2, NULL, 0);
	assert_int_equal(o.closed, 0);
}

/* The connection freed in the sent callback (the flow ended as its last
 * bytes were acknowledged): nothing touches it afterwards (ASan). */
static void test_close_in_sent(void **st)
{
	struct owner o;
	uint32_t iss = open_conn(&o, 40011);

	assert_int_equal(zt_ns_conn_write(o.c, (const uint8_t *)"bye", 3), 3);
	zt_ns_conn_flush(o.c);
	o.close_in_sent = 1;
	n_out = 0;
	app_send(40011, ZT_TCP_ACK, ISN + 1, iss + 4, NULL, 0);
	assert_int_equal(o.sent, 1);
	assert_null(o.c);
	assert_true(n_out >= 1);
	assert_true(out[n_out - 1].flags & ZT_TCP_FIN);
}

/* Aborted as the handshake completes: lwIP hears ERR_ABRT, the
 * application a RST. */
static void test_abort_in_established(void **st)
{
	struct owner o;
	uint32_t iss;

	hold(&o, 40012);
	o.abort_in_established = 1;
	n_out = 0;
	assert_int_equal(zt_ns_conn_accept(o.c), 0);
	iss = out[0].seq;
	app_send(40012, ZT_TCP_ACK, ISN + 1, iss + 1, NULL, 0);
	assert_int_equal(o.established, 1);
	assert_null(o.c);
	assert_true(out[n_out - 1].flags & ZT_TCP_RST);
	assert_null(ns.listeners);
}

/* "Can write N": the send buffer takes what it has room for, then
 * nothing until acknowledgements make room (ops->sent). */
static void test_write_room(void **st)
{
	static uint8_t big[4 << 20];
	struct owner o;
	uint32_t iss = open_conn(&o, 40010), acked;
	ssize_t n, m;

	n = zt_ns_conn_write(o.c, big, sizeof(big));
	assert_true(n > 0 && n < (ssize_t)sizeof(big));
	assert_int_equal(zt_ns_conn_write(o.c, big, sizeof(big)), 0);
	n_out = 0;
	zt_ns_conn_flush(o.c);
	assert_true(n_out >= 1);
	acked = out[n_out - 1].seq + (uint32_t)out[n_out - 1].len;
	o.sent = 0;
	app_send(40010, ZT_TCP_ACK, ISN + 1, acked, NULL, 0);
	assert_true(o.sent >= 1);
	m = zt_ns_conn_write(o.c, big, sizeof(big));
	assert_int_equal(m, (ssize_t)(acked - (iss + 1)));
	zt_ns_conn_abort(o.c);
}

static int setup(void **st)
{
	uv_loop_init(&loop);
	return zt_netstack_init(&ns, &loop, &ns_ops, NULL);
}

static int teardown(void **st)
{
	zt_netstack_close(&ns);
	uv_run(&loop, UV_RUN_NOWAIT);
	return uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_held_abort),
		cmocka_unit_test(test_new_refuses_non_syn),
		cmocka_unit_test(test_data_and_fins),
		cmocka_unit_test(test_rst_in_handshake),
		cmocka_unit_test(test_close_in_handshake),
		cmocka_unit_test(test_stray_syn),
		cmocka_unit_test(test_abort_in_callback),
		cmocka_unit_test(test_close_in_callback),
		cmocka_unit_test(test_close_in_sent),
		cmocka_unit_test(test_abort_in_established),
		cmocka_unit_test(test_write_room),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
