/* Two QUIC endpoints in one process, no sockets: packets move between them
 * through in-memory paths and the clock is ours. Covers the handshake with
 * mutual TLS, Retry, control messages on a stream, role and certificate
 * refusals, and the limits against floods of connection attempts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrl.h"
#include "err.h"
#include "log.h"
#include "pki.h"
#include "quic.h"

#define MAXQ 512
#define NSIDE 3

struct pkt {
	int to; /* endpoint index */
	struct sockaddr_in from, dst;
	size_t len;
	uint8_t data[1500];
};

struct side {
	struct zt_ep *ep;
	struct zt_tls tls;
	struct zt_pathio pio;
	struct zt_qconn *conn; /* last established */
	int established, closed;
	struct zt_close_info ci;
	struct zt_ctrl_reader rd;
	struct zt_ctrl_msg last;
	int got_msg;
	int64_t sid;
	int peer_resets, streams_closed, closed_reset;
	uint64_t reset_code, closed_code;
	struct zt_pathio *pios; /* more local addresses (source ports) */
	int npios;
	/* Raw mode (flow control test): bytes are counted, not parsed, and
	 * only stream live_sid is consumed; the others stall. */
	int raw;
	int64_t live_sid;
	size_t got_stalled, got_live;
	/* The next connection established here moves to these ops. */
	const struct zt_qconn_ops *rebind;
	void *rebind_owner;
	struct zt_qconn *rebound;
};

struct world {
	struct side s[NSIDE];
	struct pkt *q;
	size_t nq;
	uint64_t now;
	char dir[64];
	int drop_all;
	unsigned drop_to;  /* bit i: packets to side i are lost... */
	int pass_retry;    /* ...except Retry packets */
	size_t retries, resets; /* sent by side 0 */
};

static int is_retry(const uint8_t *d, size_t len)
{
	return len > 0 && (d[0] & 0xf0) == 0xf0; /* long header, type 3 */
}

/* 10.0.0.1 is side 0, 10.0.0.2 side 1, 10.0.0.3 side 2; any other address
 * is side 1, the one that floods. */
static int side_for(const struct sockaddr_in *r)
{
	uint32_t ip = ntohl(r->sin_addr.s_addr);

	if ((ip & 0xffffff00) == 0x0a000000 && (ip & 0xff) >= 1 &&
	    (ip & 0xff) <= NSIDE)
		return (int)(ip & 0xff) - 1;
	return 1;
}

static struct world *W;

static int mem_send(struct zt_pathio *p, const struct sockaddr *remote,
		    socklen_t rl, const uint8_t *data, size_t len)
{
	struct world *w = W;
	const struct sockaddr_in *r = (const struct sockaddr_in *)remote;
	struct pkt *k;
	int to = side_for(r);

	/* Read only where side 0 has no connections: then every short-header
	 * packet it sends is a stateless reset. */
	if (p == &w->s[0].pio && len > 0 && !(data[0] & 0x80))
		w->resets++;
	if (p == &w->s[0].pio && is_retry(data, len))
		w->retries++;
	if ((w->drop_to & (1u << to)) && !(w->pass_retry && is_retry(data, len)))
		return 0;
	if (w->drop_all || w->nq >= MAXQ || len > 1500)
		return 0;
	k = &w->q[w->nq++];
	k->to = to;
	k->dst = *r;
	memcpy(&k->from, &p->local, sizeof(k->from));
	memcpy(k->data, data, len);
	k->len = len;
	return 0;
}

static const struct zt_pathio_ops mem_ops = { "mem", mem_send };

/* The path a packet to dst arrives on: one of the side's extra local
 * addresses, or its main one. */
static struct zt_pathio *pio_for(struct side *s, const struct sockaddr_in *dst)
{
	for (int i = 0; i < s->npios; i++) {
		const struct sockaddr_in *l =
			(const struct sockaddr_in *)&s->pios[i].local;

		if (l->sin_port == dst->sin_port &&
		    l->sin_addr.s_addr == dst->sin_addr.s_addr)
			return &s->pios[i];
	}
	return &s->pio;
}

static struct side *side_of(void *owner)
{
	return owner;
}

static void cb_established(struct zt_qconn *c, void *owner)
{
	struct side *s = side_of(owner);

	s->established++;
	s->conn = c;
	if (s->rebind) {
		zt_qconn_set_ops(c, s->rebind, s->rebind_owner);
		s->rebind = NULL;
		s->rebound = c;
	}
}

static void cb_data(struct zt_qconn *c, int64_t sid, const uint8_t *d,
		    size_t len, int fin, void *owner)
{
	struct side *s = side_of(owner);

	if (s->raw) {
		if (sid == s->live_sid) {
			s->got_live += len;
			zt_qconn_stream_consumed(c, sid, len);
		} else {
			s->got_stalled += len;
		}
		return;
	}
	zt_qconn_stream_consumed(c, sid, len);
	s->sid = sid;
	assert_int_equal(zt_ctrl_reader_feed(&s->rd, d, len), 0);
	zt_ctrl_msg_free(&s->last);
	if (zt_ctrl_reader_next(&s->rd, &s->last) == 0)
		s->got_msg++;
}

static void cb_stream_reset(struct zt_qconn *c, int64_t sid, uint64_t code,
			    void *owner)
{
	struct side *s = side_of(owner);

	s->peer_resets++;
	s->reset_code = code;
}

static void cb_stream_closed(struct zt_qconn *c, int64_t sid, int reset,
			     uint64_t code, void *owner)
{
	struct side *s = side_of(owner);

	s->streams_closed++;
	s->closed_reset = reset;
	s->closed_code = code;
}

static void cb_closed(struct zt_qconn *c, const struct zt_close_info *ci,
		      void *owner)
{
	struct side *s = side_of(owner);

	s->closed++;
	s->ci = *ci;
	if (s->conn == c)
		s->conn = NULL;
}

static const struct zt_qconn_ops side_ops = {
	.established = cb_established,
	.stream_data = cb_data,
	.closed = cb_closed,
	.stream_reset = cb_stream_reset,
	.stream_closed = cb_stream_closed,
};

static void issue(struct world *w, const char *ca, int role, const char *name,
		  const char *out, int64_t nb, int64_t na)
{
	char cc[128], ck[128], oc[128], ok[128];
	const char *ip = "10.0.0.1";
	struct zt_pki_req r = { .role = role, .name = name, .org = "",
				.key_type = ZT_KEY_EC_P256, .days = 30,
				.not_before = nb, .not_after = na };

	if (role == ZT_ROLE_RELAY) {
		r.ips = &ip;
		r.n_ips = 1;
	}
	snprintf(cc, sizeof(cc), "%s/%s.crt", w->dir, ca);
	snprintf(ck, sizeof(ck), "%s/%s.key", w->dir, ca);
	snprintf(oc, sizeof(oc), "%s/%s.crt", w->dir, out);
	snprintf(ok, sizeof(ok), "%s/%s.key", w->dir, out);
	assert_int_equal(zt_pki_issue(&r, cc, ck, oc, ok), 0);
}

static void make_ca(struct world *w, const char *name)
{
	char c[128], k[128];
	struct zt_pki_req r = { .name = name, .org = "Test Org",
				.key_type = ZT_KEY_EC_P256, .days = 30 };

	snprintf(c, sizeof(c), "%s/%s.crt", w->dir, name);
	snprintf(k, sizeof(k), "%s/%s.key", w->dir, name);
	assert_int_equal(zt_pki_create_ca(&r, c, k), 0);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	w->q = calloc(MAXQ, sizeof(*w->q));
	snprintf(w->dir, sizeof(w->dir), "/tmp/zt-quic-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	wolfSSL_Init();
	zt_log_set_level(getenv("ZT_TEST_VERBOSE") ? ZT_LOG_DEBUG : ZT_LOG_ERROR);
	make_ca(w, "ca");
	make_ca(w, "foreign");
	issue(w, "ca", ZT_ROLE_RELAY, "relay1", "relay", 0, 0);
	issue(w, "ca", ZT_ROLE_CONNECTOR, "conn1", "connector", 0, 0);
	issue(w, "ca", ZT_ROLE_AGENT, "alice", "agent", 0, 0);
	issue(w, "foreign", ZT_ROLE_CONNECTOR, "conn1", "foreign-conn", 0, 0);
	issue(w, "ca", ZT_ROLE_CONNECTOR, "old", "expired",
	      (int64_t)time(NULL) - 86400 * 10, (int64_t)time(NULL) - 86400);
	w->now = 1000000000ULL;
	W = w;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w->q);
	free(w);
	wolfSSL_Cleanup();
	return 0;
}

static void side_init(struct world *w, int i, const char *cert,
		      unsigned accept, int retry)
{
	struct side *s = &w->s[i];
	struct sockaddr_in *a = (struct sockaddr_in *)&s->pio.local;
	struct zt_ep_config c = { 0 };
	char ca[128], crt[128], key[128];

	memset(s, 0, sizeof(*s));
	snprintf(ca, sizeof(ca), "%s/ca.crt", w->dir);
	snprintf(crt, sizeof(crt), "%s/%s.crt", w->dir, cert);
	snprintf(key, sizeof(key), "%s/%s.key", w->dir, cert);
	assert_int_equal(zt_tls_init(&s->tls, ca, crt, key), 0);
	s->pio.ops = &mem_ops;
	a->sin_family = AF_INET;
	a->sin_port = htons(4433);
	a->sin_addr.s_addr = htonl(0x0a000001 + (uint32_t)i);
	s->pio.local_len = sizeof(*a);
	c.tls = &s->tls;
	c.accept_roles = accept;
	c.require_retry = retry;
	c.idle_timeout_ns = 5000000000ULL;
	c.keepalive_ns = 1000000000ULL;
	c.accept = &side_ops;
	c.accept_owner = s;
	zt_ctrl_reader_init(&s->rd);
	assert_int_equal(zt_ep_new(&s->ep, &c, w->now), 0);
}

static void side_free(struct side *s)
{
	zt_ep_free(s->ep);
	s->ep = NULL;
	zt_tls_free(&s->tls);
	zt_ctrl_reader_free(&s->rd);
	zt_ctrl_msg_free(&s->last);
	free(s->pios);
	s->pios = NULL;
	s->npios = 0;
}

/* Moves packets and time until nothing is in flight or `ms` passed. */
static void run(struct world *w, int ms)
{
	uint64_t end = w->now + (uint64_t)ms * 1000000ULL;

	while (w->now < end) {
		for (int i = 0; i < NSIDE; i++)
			if (w->s[i].ep)
				zt_ep_flush(w->s[i].ep, w->now);
		if (w->nq) {
			size_t n = w->nq;
			struct pkt *batch = malloc(n * sizeof(*batch));

			memcpy(batch, w->q, n * sizeof(*batch));
			w->nq = 0;
			for (size_t k = 0; k < n; k++) {
				struct side *s = &w->s[batch[k].to];

				if (!s->ep)
					continue;
				zt_ep_recv(s->ep, pio_for(s, &batch[k].dst),
					   (struct sockaddr *)&batch[k].from,
					   sizeof(batch[k].from), batch[k].data,
					   batch[k].len, w->now);
			}
			free(batch);
			w->now += 100000; /* 0.1 ms one-way */
			continue;
		}
		uint64_t e = UINT64_MAX;

		for (int i = 0; i < NSIDE; i++) {
			uint64_t ei = w->s[i].ep ? zt_ep_next_expiry(w->s[i].ep)
						 : UINT64_MAX;

			if (ei < e)
				e = ei;
		}

		if (e == UINT64_MAX || e > end)
			break;
		w->now = e > w->now ? e : w->now + 1;
	}
}

static struct zt_qconn *connect_to_relay(struct world *w)
{
	struct zt_qconn *c = NULL;

	assert_int_equal(zt_ep_connect(w->s[1].ep, &w->s[1].pio,
				       (struct sockaddr *)&w->s[0].pio.local,
				       w->s[0].pio.local_len, "10.0.0.1",
				       ZT_ROLE_RELAY, &side_ops, &w->s[1], &c,
				       w->now),
			 0);
	return c;
}

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

#define HS_PER_SOURCE ZT_EP_HS_PER_SOURCE
#define SRC_BURST ZT_EP_STATELESS_SRC_BURST
#define GLOBAL_BURST ZT_EP_STATELESS_BURST

static void world_reset(struct world *w)
{
	w->nq = 0;
	w->drop_to = 0;
	w->pass_retry = 0;
	w->retries = w->resets = 0;
}

static void pio_at(struct zt_pathio *p, uint32_t ip, uint16_t port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&p->local;

	memset(p, 0, sizeof(*p));
	p->ops = &mem_ops;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(ip);
	p->local_len = sizeof(*a);
}

static void dial(struct world *w, int i, struct zt_pathio *pio)
{
	struct zt_qconn *c = NULL;

	assert_int_equal(zt_ep_connect(w->s[i].ep, pio,
				       (struct sockaddr *)&w->s[0].pio.local,
				       w->s[0].pio.local_len, "10.0.0.1",
				       ZT_ROLE_RELAY, &side_ops, &w->s[i], &c,
				       w->now),
			 0);
}

/* n connections from side 2 (10.0.0.3), one source port each, as from
 * behind a NAT: all must get in. */
static void legit_nat(struct world *w, int n)
{
	struct zt_pathio *p = calloc((size_t)n, sizeof(*p));

	w->s[2].pios = p;
	w->s[2].npios = n;
	for (int i = 0; i < n; i++) {
		pio_at(&p[i], 0x0a000003, (uint16_t)(20000 + i));
		dial(w, 2, &p[i]);
	}
	run(w, 500);
	assert_int_equal(w->s[2].established, n);
}

/* Side 1 (10.0.0.2) opens nflood handshakes from as many source ports and
 * never answers the server (with Retry on it answers the Retry only), then
 * side 2 connects 4 times. */
static void hs_flood(struct world *w, int retry, int nflood)
{
	struct zt_pathio *p = calloc((size_t)nflood, sizeof(*p));
	struct zt_ep_stats st;

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, retry);
	side_init(w, 1, "connector", 0, 0);
	side_init(w, 2, "connector", 0, 0);
	w->drop_to = 1u << 1;
	w->pass_retry = retry;
	w->s[1].pios = p;
	w->s[1].npios = nflood;
	for (int i = 0; i < nflood; i++) {
		pio_at(&p[i], 0x0a000002, (uint16_t)(10000 + i));
		dial(w, 1, &p[i]);
		if (i % 32 == 31)
			run(w, 1);
	}
	run(w, 1);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, HS_PER_SOURCE);
	assert_int_equal(st.hs_sources, 1);
	assert_true(st.hs_drop_source >= (uint64_t)(nflood - HS_PER_SOURCE));
	assert_int_equal(st.hs_drop_full, 0);
	legit_nat(w, 4);
	assert_int_equal(zt_ep_conn_count(w->s[0].ep), HS_PER_SOURCE + 4);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, HS_PER_SOURCE);
	assert_int_equal(st.retry_sent > 0, retry);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
	side_free(&w->s[2]);
	w->nq = 0;
}

static void test_hs_flood_plain(void **state)
{
	hs_flood(*state, 0, 1100);
}

/* Fewer than the Retry rate allows from one source: what caps the flood
 * is the handshake limit, counted once the address is validated. */
static void test_hs_flood_retry(void **state)
{
	hs_flood(*state, 1, 40);
}

/* Handshakes from more sources than there are slots: the global bound
 * holds, and once they time out every per-source count is gone again (the
 * table deletes without tombstones; a lost entry would show here). A guard
 * for the table rather than a fix: the global bound is older. */
static void test_hs_many_sources(void **state)
{
	struct world *w = *state;
	int n = ZT_EP_MAX_HANDSHAKING + 76;
	struct zt_pathio *p = calloc((size_t)n, sizeof(*p));
	struct zt_ep_stats st;

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	side_init(w, 1, "connector", 0, 0);
	side_init(w, 2, "connector", 0, 0);
	w->drop_to = 1u << 1;
	w->s[1].pios = p;
	w->s[1].npios = n;
	for (int i = 0; i < n; i++) {
		/* Sources 10.1.0.0 upwards, some in one /24, none shared. */
		pio_at(&p[i], 0x0a010000 + (uint32_t)i * 97, 4433);
		dial(w, 1, &p[i]);
		if (i % 32 == 31)
			run(w, 1);
	}
	run(w, 1);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, ZT_EP_MAX_HANDSHAKING);
	assert_int_equal(st.hs_sources, ZT_EP_MAX_HANDSHAKING);
	assert_true(st.hs_drop_full >= 76);
	assert_int_equal(st.hs_drop_source, 0);
	run(w, 12000); /* past the 10 s handshake timeout */
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(st.handshaking, 0);
	assert_int_equal(st.hs_sources, 0);
	assert_int_equal(zt_ep_conn_count(w->s[0].ep), 0);
	legit_nat(w, 2);
	side_free(&w->s[0]);
	side_free(&w->s[1]);
	side_free(&w->s[2]);
	w->nq = 0;
}

/* A 1200-byte Initial without a token (kind 0) or a 100-byte short-header
 * packet (kind 1), with a destination CID from seq; only the header
 * matters to the server. */
static size_t craft(uint8_t *b, int kind, uint32_t seq)
{
	uint8_t cid[16];
	size_t n = 0, len = kind == 0 ? 1200 : 100;

	memset(b, 0x5a, len);
	memset(cid, 0xc1, sizeof(cid));
	memcpy(cid, &seq, sizeof(seq));
	if (kind == 1) {
		b[0] = 0x41;
		memcpy(b + 1, cid, sizeof(cid));
		return len;
	}
	b[n++] = 0xc0; /* long header, Initial, 1-byte packet number */
	memcpy(b + n, "\x00\x00\x00\x01", 4);
	n += 4;
	b[n++] = 16;
	memcpy(b + n, cid, 16);
	n += 16;
	b[n++] = 16;
	memset(b + n, 0x77, 16);
	n += 16;
	b[n++] = 0; /* no token */
	b[n] = (uint8_t)(0x40 | ((len - n - 2) >> 8));
	b[n + 1] = (uint8_t)((len - n - 2) & 0xff);
	return len;
}

/* n packets of kind to side 0, from nsrc source addresses in turn (1:
 * 10.0.0.2 with a new port each time; more: 10.1.0.0 upwards). */
static void flood(struct world *w, int kind, uint32_t nsrc, uint32_t n,
		  uint32_t seq0)
{
	static uint8_t buf[1200];
	struct sockaddr_in from = { .sin_family = AF_INET };

	for (uint32_t i = 0; i < n; i++) {
		size_t len = craft(buf, kind, seq0 + i);

		from.sin_addr.s_addr = htonl(nsrc == 1 ? 0x0a000002
						       : 0x0a010000 + i % nsrc);
		from.sin_port = htons((uint16_t)(1024 + i % 60000));
		zt_ep_recv(w->s[0].ep, &w->s[0].pio, (struct sockaddr *)&from,
			   sizeof(from), buf, len, w->now);
		w->nq = 0;
	}
}

static size_t *counter(struct world *w, int kind)
{
	return kind == 0 ? &w->retries : &w->resets;
}

/* Stateless answers (kind 0: Retry, 1: stateless reset) beyond the rate
 * are not sent: one source gets its burst, another source still gets
 * answers, and many sources together get the global burst. */
static void stateless_rate(struct world *w, int kind)
{
	size_t *sent = counter(w, kind);
	struct zt_ep_stats st;

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, kind == 0);
	flood(w, kind, 1, 3000, 0);
	assert_int_equal(*sent, SRC_BURST);
	zt_ep_stats(w->s[0].ep, &st);
	assert_int_equal(kind == 0 ? st.retry_sent : st.reset_sent, SRC_BURST);
	assert_int_equal(kind == 0 ? st.retry_drop : st.reset_drop,
			 3000 - SRC_BURST);
	assert_int_equal(st.handshaking, 0);
	flood(w, kind, 2, 1, 5000); /* another source is still answered */
	assert_int_equal(*sent, SRC_BURST + 1);
	w->now += 1000000000ULL; /* the source's bucket refills */
	flood(w, kind, 1, 1, 6000);
	assert_int_equal(*sent, SRC_BURST + 2);
	side_free(&w->s[0]);

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, kind == 0);
	flood(w, kind, 3000, 3000, 10000);
	assert_int_equal(*sent, GLOBAL_BURST);
	w->now += 1000000000ULL;
	flood(w, kind, 3000, 1, 20000);
	assert_int_equal(*sent, GLOBAL_BURST + 1);
	side_free(&w->s[0]);
}

/* n short-header packets from addresses in 2001:db8:0:net::/64, or from
 * ::ffff:10.9.9.9 (net 0). */
static void flood6(struct world *w, uint16_t net, uint32_t n, uint32_t seq0)
{
	static uint8_t buf[100];
	struct sockaddr_in6 from = { .sin6_family = AF_INET6 };

	for (uint32_t i = 0; i < n; i++) {
		size_t len = craft(buf, 1, seq0 + i);

		if (net) {
			inet_pton(AF_INET6, "2001:db8::", &from.sin6_addr);
			from.sin6_addr.s6_addr[7] = (uint8_t)net;
			memcpy(&from.sin6_addr.s6_addr[12], &i, sizeof(i));
		} else {
			inet_pton(AF_INET6, "::ffff:10.9.9.9", &from.sin6_addr);
		}
		from.sin6_port = htons((uint16_t)(1024 + i % 60000));
		zt_ep_recv(w->s[0].ep, &w->s[0].pio, (struct sockaddr *)&from,
			   sizeof(from), buf, len, w->now);
		w->nq = 0;
	}
}

/* An IPv6 /64 is one source; a v4-mapped address is its IPv4 source. */
static void test_reset_rate_v6(void **state)
{
	struct world *w = *state;
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	uint8_t buf[100];

	world_reset(w);
	side_init(w, 0, "relay", 1u << ZT_ROLE_CONNECTOR, 0);
	flood6(w, 1, 3000, 0);
	assert_int_equal(w->resets, SRC_BURST);
	flood6(w, 2, 1, 5000);
	assert_int_equal(w->resets, SRC_BURST + 1);
	flood6(w, 0, SRC_BURST, 6000);
	assert_int_equal(w->resets, 2 * SRC_BURST + 1);
	v4.sin_addr.s_addr = htonl(0x0a090909);
	zt_ep_recv(w->s[0].ep, &w->s[0].pio, (struct sockaddr *)&v4,
		   sizeof(v4), buf, craft(buf, 1, 7000), w->now);
	assert_int_equal(w->resets, 2 * SRC_BURST + 1);
	w->nq = 0;
	side_free(&w->s[0]);
}

static void test_retry_rate(void **state)
{
	stateless_rate(*state, 0);
}

static void test_reset_rate(void **state)
{
	stateless_rate(*state, 1);
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
		cmocka_unit_test(test_role_refused),
		cmocka_unit_test(test_no_server_role),
		cmocka_unit_test(test_foreign_ca),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_hs_flood_plain),
		cmocka_unit_test(test_hs_flood_retry),
		cmocka_unit_test(test_hs_many_sources),
		cmocka_unit_test(test_retry_rate),
		cmocka_unit_test(test_reset_rate),
		cmocka_unit_test(test_reset_rate_v6),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
