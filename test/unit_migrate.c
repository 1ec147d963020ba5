/* QUIC connection migration between relayed and direct paths, in memory
 * with a virtual clock. An agent (client) and a connector (server) share
 * several paths: relayed ones, each with its own synthetic local address
 * in fd7a:7a7a:7a7a::/48 on the agent and R(S, generation) as the peer's
 * address on both sides (the relay's session S), and one direct path. A
 * patterned stream, echoed back by the server, runs across the switches
 * and must arrive intact both ways. */
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
#include <unistd.h>

#include "ctrl.h"
#include "err.h"
#include "log.h"
#include "pki.h"
#include "quic.h"

#define MAXQ 4096
#define NREL 12 /* relay generations */
#define MS 1000000ULL
#define RELAY_DELAY (10 * MS) /* one way */
#define DIRECT_DELAY (2 * MS)

enum { DOWN_TO_S = 1, DOWN_TO_C = 2, DOWN = 3 };

#define LINKQ 512 /* datagrams queued per direction: more are dropped */

struct pkt {
	struct pkt *next;
	uint64_t at;
	size_t len;
	uint8_t data[1500];
};

struct fifo {
	struct pkt *head, *tail;
	size_t n;
};

/* One path between the two endpoints: the pathio each side sends with and
 * the address each side sees for the other. Each direction is a queue in
 * time order (one delay per link). */
struct link {
	struct zt_pathio *cpio, *spio;
	struct sockaddr_in6 c_remote; /* the server, as the client sees it */
	struct sockaddr_in6 s_remote; /* the client, as the server sees it */
	uint64_t delay;
	int down;
	uint64_t to_s, to_c, lost;
	struct fifo q[2]; /* 0: to the server, 1: to the client */
};

struct world {
	char dir[64];
	uint64_t now;
	struct zt_tls ctls, stls;
	struct zt_ep *cep, *sep;
	struct zt_qconn *cc, *sc;
	struct pkt *pool, *free;
	size_t overflow, strays;
	struct link relay[NREL], direct;
	struct zt_pathio c_relay[NREL], c_direct, s_relay, s_direct;
	/* Events. */
	int c_est, s_est, c_closed, s_closed;
	int c_pv_begin, c_pv_ok, c_pv_fail, c_pv_abort, c_changes;
	int s_pv_begin, s_fallback_begin, s_pv_ok, s_old_begin, s_changes;
	struct zt_qpath c_last_pv, s_last_old;
	/* The echoed stream. */
	int64_t sid;
	uint64_t total, rate, t0, c_sent, s_got, c_got;
	int c_fin, corrupt;
};

static struct world *W;

static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 11));
}

static void ula(struct sockaddr_in6 *a, const uint16_t g[8], uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	for (int i = 0; i < 8; i++) {
		a->sin6_addr.s6_addr[2 * i] = (uint8_t)(g[i] >> 8);
		a->sin6_addr.s6_addr[2 * i + 1] = (uint8_t)g[i];
	}
}

static int sa6_eq(const struct sockaddr *a, const struct sockaddr_in6 *b)
{
	const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;

	return a->sa_family == AF_INET6 && x->sin6_port == b->sin6_port &&
	       !memcmp(&x->sin6_addr, &b->sin6_addr, 16);
}

static int mem_send(struct zt_pathio *p, const struct sockaddr *remote,
		    socklen_t rl, const uint8_t *data, size_t len)
{
	struct world *w = W;
	struct link *l = NULL;
	int to_server = 0;
	struct pkt *k;
	struct fifo *f;

	for (int i = 0; i <= NREL && !l; i++) {
		struct link *x = i < NREL ? &w->relay[i] : &w->direct;

		if (p == x->cpio && sa6_eq(remote, &x->c_remote)) {
			l = x;
			to_server = 1;
		} else if (p == x->spio && sa6_eq(remote, &x->s_remote)) {
			l = x;
		}
	}
	if (!l) {
		w->strays++;
		return 0;
	}
	if (l->down & (to_server ? DOWN_TO_S : DOWN_TO_C)) {
		l->lost++;
		return 0;
	}
	f = &l->q[!to_server];
	if (!w->free || f->n >= LINKQ || len > sizeof(k->data)) {
		w->overflow++;
		return 0;
	}
	k = w->free;
	w->free = k->next;
	k->next = NULL;
	k->at = w->now + l->delay;
	k->len = len;
	memcpy(k->data, data, len);
	if (f->tail)
		f->tail->next = k;
	else
		f->head = k;
	f->tail = k;
	f->n++;
	return 0;
}

static const struct zt_pathio_ops relay_ops = { "relay", mem_send };
static const struct zt_pathio_ops udp_ops = { "udp", mem_send };

static void pio_init(struct zt_pathio *p, const struct zt_pathio_ops *ops,
		     const uint16_t g[8], uint16_t port)
{
	memset(p, 0, sizeof(*p));
	p->ops = ops;
	ula((struct sockaddr_in6 *)&p->local, g, port);
	p->local_len = sizeof(struct sockaddr_in6);
}

/* The agent's relayed path of generation g: local fd7a:7a7a:7a7a:a:1::g
 * port 1; both sides see R(S, g) = fd7a:7a7a:7a7a:S/64, port 1 + g. The
 * connector has one pathio for its relay link, fd7a:7a7a:7a7a:c:1::1. */
static void paths_init(struct world *w)
{
	static const uint16_t srel[8] = { 0xfd7a, 0x7a7a, 0x7a7a, 0xc,
					  1,      0,      0,      1 };
	static const uint16_t ca[8] = { 0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 2 };
	static const uint16_t sa[8] = { 0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2 };

	pio_init(&w->s_relay, &relay_ops, srel, 1);
	for (int g = 0; g < NREL; g++) {
		uint16_t cl[8] = { 0xfd7a, 0x7a7a, 0x7a7a, 0xa,
				   1,      0,      0,      (uint16_t)g };
		uint16_t r[8] = { 0xfd7a, 0x7a7a, 0x7a7a, 0x1234,
				  0x5678, 0x9abc, 0xdef0, 0 };
		struct link *l = &w->relay[g];

		pio_init(&w->c_relay[g], &relay_ops, cl, 1);
		memset(l, 0, sizeof(*l));
		l->cpio = &w->c_relay[g];
		l->spio = &w->s_relay;
		ula(&l->c_remote, r, (uint16_t)(1 + g));
		l->s_remote = l->c_remote;
		l->delay = RELAY_DELAY;
	}
	pio_init(&w->c_direct, &udp_ops, ca, 40000);
	pio_init(&w->s_direct, &udp_ops, sa, 4433);
	memset(&w->direct, 0, sizeof(w->direct));
	w->direct.cpio = &w->c_direct;
	w->direct.spio = &w->s_direct;
	w->direct.c_remote = *(struct sockaddr_in6 *)&w->s_direct.local;
	w->direct.s_remote = *(struct sockaddr_in6 *)&w->c_direct.local;
	w->direct.delay = DIRECT_DELAY;
}

/* Stream: the client sends total bytes at rate, the server checks them and
 * echoes them, the client checks the echo. */
static void pump(struct world *w)
{
	uint8_t buf[16384];
	uint64_t target;

	if (!w->cc || w->sid < 0 || w->c_fin || !w->rate)
		return;
	/* In 16 KiB steps: a few bytes per flush would make a packet each. */
	target = (w->now - w->t0) / 1000 * w->rate / 1000000;
	target -= target % sizeof(buf);
	if (target > w->total)
		target = w->total;
	while (w->c_sent < target &&
	       zt_qconn_stream_buffered(w->cc, w->sid) < 512 * 1024) {
		size_t n = target - w->c_sent < sizeof(buf) ?
				   (size_t)(target - w->c_sent) :
				   sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pat(w->c_sent + i);
		w->c_sent += n;
		w->c_fin = w->c_sent == w->total;
		assert_int_equal(zt_qconn_stream_send(w->cc, w->sid, buf, n,
						      w->c_fin),
				 0);
	}
}

static void cb_established(struct zt_qconn *c, void *owner)
{
	struct world *w = owner;

	if (zt_qconn_is_server(c)) {
		w->s_est++;
		w->sc = c;
	} else {
		w->c_est++;
	}
}

static void cb_data(struct zt_qconn *c, int64_t sid, const uint8_t *d,
		    size_t len, int fin, void *owner)
{
	struct world *w = owner;
	uint64_t *got = zt_qconn_is_server(c) ? &w->s_got : &w->c_got;

	for (size_t i = 0; i < len; i++)
		if (d[i] != pat(*got + i))
			w->corrupt++;
	*got += len;
	zt_qconn_stream_consumed(c, sid, len);
	if (zt_qconn_is_server(c))
		assert_int_equal(zt_qconn_stream_send(c, sid, d, len, fin), 0);
}

static void cb_changed(struct zt_qconn *c, void *owner)
{
	struct world *w = owner;

	if (zt_qconn_is_server(c))
		w->s_changes++;
	else
		w->c_changes++;
}

static void cb_pv_begin(struct zt_qconn *c, const struct zt_qpath *p,
			unsigned flags, void *owner)
{
	struct world *w = owner;

	if (!zt_qconn_is_server(c)) {
		w->c_pv_begin++;
		return;
	}
	w->s_pv_begin++;
	w->s_fallback_begin += (flags & ZT_PV_FALLBACK) != 0;
	if (flags & ZT_PV_OLD_PATH) {
		w->s_old_begin++;
		w->s_last_old = *p;
	}
}

static void cb_pv(struct zt_qconn *c, const struct zt_qpath *p, int result,
		  void *owner)
{
	struct world *w = owner;

	if (zt_qconn_is_server(c)) {
		w->s_pv_ok += result == ZT_PV_SUCCESS;
		return;
	}
	w->c_last_pv = *p;
	w->c_pv_ok += result == ZT_PV_SUCCESS;
	w->c_pv_fail += result == ZT_PV_FAILURE;
	w->c_pv_abort += result == ZT_PV_ABORTED;
}

static void cb_closed(struct zt_qconn *c, const struct zt_close_info *ci,
		      void *owner)
{
	struct world *w = owner;

	if (zt_qconn_is_server(c)) {
		w->s_closed++;
		w->sc = NULL;
	} else {
		w->c_closed++;
		w->cc = NULL;
	}
}

static const struct zt_qconn_ops ops = {
	.established = cb_established,
	.stream_data = cb_data,
	.path_changed = cb_changed,
	.path_validation_begin = cb_pv_begin,
	.path_validation = cb_pv,
	.closed = cb_closed,
};

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void deliver(struct world *w, struct link *l, int to_client,
		    const struct pkt *k)
{
	if (!to_client) {
		l->to_s++;
		zt_ep_recv(w->sep, l->spio, (struct sockaddr *)&l->s_remote,
			   sizeof(l->s_remote), k->data, k->len, w->now);
	} else {
		l->to_c++;
		zt_ep_recv(w->cep, l->cpio, (struct sockaddr *)&l->c_remote,
			   sizeof(l->c_remote), k->data, k->len, w->now);
	}
}

/* Runs the world for at most ms of virtual time, or until done(w). */
static void run(struct world *w, uint64_t ms, int (*done)(struct world *))
{
	uint64_t end = w->now + ms * MS;

	for (;;) {
		uint64_t next = UINT64_MAX;
		int moved = 0;

		pump(w);
		zt_ep_flush(w->cep, w->now);
		zt_ep_flush(w->sep, w->now);
		for (int i = 0; i <= NREL; i++) {
			struct link *l = i < NREL ? &w->relay[i] : &w->direct;

			for (int d = 0; d < 2; d++) {
				struct fifo *f = &l->q[d];
				struct pkt *k;

				/* Reading may queue more, always later. */
				while ((k = f->head) && k->at <= w->now) {
					f->head = k->next;
					if (!f->head)
						f->tail = NULL;
					f->n--;
					moved = 1;
					deliver(w, l, d, k);
					k->next = w->free;
					w->free = k;
				}
				if (f->head)
					next = min64(next, f->head->at);
			}
		}
		if (done && done(w))
			return;
		if (moved)
			continue;
		next = min64(next, zt_ep_next_expiry(w->cep));
		next = min64(next, zt_ep_next_expiry(w->sep));
		if (w->rate && !w->c_fin && w->sid >= 0)
			next = min64(next, w->now + MS);
		if (next >= end) {
			w->now = end;
			return;
		}
		w->now = next > w->now ? next : w->now + 1000;
	}
}

static int both_established(struct world *w)
{
	return w->c_est && w->s_est;
}

static int echo_done(struct world *w)
{
	return w->c_got == w->total;
}

static int server_on(struct world *w, const struct zt_pathio *pio,
		     const struct sockaddr_in6 *remote)
{
	struct zt_qpath p;

	if (!w->sc)
		return 0;
	zt_qconn_path(w->sc, &p);
	return p.pio == pio && sa6_eq((struct sockaddr *)&p.remote, remote);
}

static int client_on(struct world *w, const struct link *l)
{
	struct zt_qpath p;

	zt_qconn_path(w->cc, &p);
	return p.pio == l->cpio &&
	       sa6_eq((struct sockaddr *)&p.remote, &l->c_remote);
}

static struct link *S_WANT;

static int server_follows(struct world *w)
{
	return server_on(w, S_WANT->spio, &S_WANT->s_remote);
}

/* Runs until the server is on l (at most ms); returns the time it took. */
static uint64_t until_server_on(struct world *w, struct link *l, uint64_t ms)
{
	uint64_t t = w->now;

	S_WANT = l;
	run(w, ms, server_follows);
	assert_true(server_on(w, l->spio, &l->s_remote));
	return w->now - t;
}

static int migrate(struct world *w, struct link *l, int mode)
{
	return zt_qconn_migrate(w->cc, l->cpio, (struct sockaddr *)&l->c_remote,
				sizeof(l->c_remote), mode, w->now);
}

static void issue(struct world *w, int role, const char *name, const char *out)
{
	char cc[128], ck[128], oc[128], ok[128];
	struct zt_pki_req r = { .role = role,
				.name = name,
				.org = "",
				.key_type = ZT_KEY_EC_P256,
				.days = 30 };

	snprintf(cc, sizeof(cc), "%s/ca.crt", w->dir);
	snprintf(ck, sizeof(ck), "%s/ca.key", w->dir);
	snprintf(oc, sizeof(oc), "%s/%s.crt", w->dir, out);
	snprintf(ok, sizeof(ok), "%s/%s.key", w->dir, out);
	assert_int_equal(zt_pki_issue(&r, cc, ck, oc, ok), 0);
}

static int group_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char c[128], k[128];
	struct zt_pki_req r = { .name = "ca",
				.org = "Test Org",
				.key_type = ZT_KEY_EC_P256,
				.days = 30 };

	snprintf(w->dir, sizeof(w->dir), "/tmp/zt-migrate-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	wolfSSL_Init();
	zt_log_set_level(getenv("ZT_TEST_VERBOSE") ? ZT_LOG_DEBUG :
						     ZT_LOG_ERROR);
	snprintf(c, sizeof(c), "%s/ca.crt", w->dir);
	snprintf(k, sizeof(k), "%s/ca.key", w->dir);
	assert_int_equal(zt_pki_create_ca(&r, c, k), 0);
	issue(w, ZT_ROLE_CONNECTOR, "conn1", "connector");
	issue(w, ZT_ROLE_AGENT, "alice", "agent");
	*state = w;
	return 0;
}

static int group_teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	wolfSSL_Cleanup();
	return 0;
}

static void tls_load(struct world *w, struct zt_tls *t, const char *who)
{
	char ca[128], crt[128], key[128];

	snprintf(ca, sizeof(ca), "%s/ca.crt", w->dir);
	snprintf(crt, sizeof(crt), "%s/%s.crt", w->dir, who);
	snprintf(key, sizeof(key), "%s/%s.key", w->dir, who);
	assert_int_equal(zt_tls_init(t, ca, crt, key), 0);
}

/* Fresh endpoints, paths and stream state for each test; the agent dials
 * the connector over relay generation 0. */
static int setup(void **state)
{
	struct world *w = *state;
	struct zt_ep_config cc = { 0 }, sc = { 0 };
	char dir[64];

	memcpy(dir, w->dir, sizeof(dir));
	memset(w, 0, sizeof(*w));
	memcpy(w->dir, dir, sizeof(dir));
	w->pool = calloc(MAXQ, sizeof(*w->pool));
	for (int i = 0; i < MAXQ; i++) {
		w->pool[i].next = w->free;
		w->free = &w->pool[i];
	}
	w->now = 1000 * MS;
	w->sid = -1;
	W = w;
	paths_init(w);
	tls_load(w, &w->ctls, "agent");
	tls_load(w, &w->stls, "connector");
	cc.tls = &w->ctls;
	cc.idle_timeout_ns = 30000 * MS;
	sc = cc;
	sc.tls = &w->stls;
	sc.accept_roles = 1u << ZT_ROLE_AGENT;
	sc.accept = &ops;
	sc.accept_owner = w;
	assert_int_equal(zt_ep_new(&w->cep, &cc, w->now), 0);
	assert_int_equal(zt_ep_new(&w->sep, &sc, w->now), 0);
	assert_int_equal(zt_ep_connect(w->cep, &w->c_relay[0],
				       (struct sockaddr *)&w->relay[0].c_remote,
				       sizeof(w->relay[0].c_remote), NULL,
				       ZT_ROLE_CONNECTOR, &ops, w, &w->cc,
				       w->now),
			 0);
	/* Not before the handshake is confirmed. */
	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_IMMEDIATE),
			 ZT_EAGAIN);
	run(w, 2000, both_established);
	assert_true(both_established(w));
	/* Let NEW_CONNECTION_ID frames arrive: the spare IDs migrations use. */
	run(w, 200, NULL);
	assert_true(server_on(w, &w->s_relay, &w->relay[0].s_remote));
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	zt_ep_free(w->cep);
	zt_ep_free(w->sep);
	zt_tls_free(&w->ctls);
	zt_tls_free(&w->stls);
	free(w->pool);
	w->pool = w->free = NULL;
	return 0;
}

static void start_stream(struct world *w, uint64_t total, uint64_t rate)
{
	assert_int_equal(zt_qconn_stream_open(w->cc, &w->sid), 0);
	w->total = total;
	w->rate = rate;
	w->t0 = w->now;
}

static void finish_stream(struct world *w)
{
	run(w, 30000, echo_done);
	assert_int_equal(w->corrupt, 0);
	assert_int_equal(w->s_got, w->total);
	assert_int_equal(w->c_got, w->total);
	assert_int_equal(w->c_closed + w->s_closed, 0);
}

/* relay -> direct -> relay -> direct with a transfer running throughout:
 * the server's path follows the client's every time. */
static void test_flap(void **state)
{
	struct world *w = *state;
	int changes;

	start_stream(w, 2u << 20, 2u << 20); /* 2 MiB over about 1 s */
	run(w, 100, NULL);

	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_VALIDATED), 0);
	/* Validated: still on the relay until the PATH_RESPONSE. */
	assert_true(client_on(w, &w->relay[0]));
	until_server_on(w, &w->direct, 500);
	assert_int_equal(w->c_pv_begin, 1);
	assert_int_equal(w->c_pv_ok, 1);
	assert_ptr_equal(w->c_last_pv.pio, &w->c_direct);
	assert_true(client_on(w, &w->direct));
	assert_true(w->c_got > 0 && w->c_got < w->total);
	/* The server validates the new path, able to fall back. */
	run(w, 30, NULL);
	assert_true(w->s_fallback_begin >= 1 && w->s_pv_ok >= 1);
	changes = w->s_changes;
	assert_true(changes >= 1);

	run(w, 100, NULL);
	assert_int_equal(migrate(w, &w->relay[1], ZT_MIGRATE_IMMEDIATE), 0);
	assert_true(client_on(w, &w->relay[1]));
	until_server_on(w, &w->relay[1], 500);
	assert_true(w->s_changes > changes);
	changes = w->s_changes;

	run(w, 100, NULL);
	/* Validated within 10 minutes: taken at once, no new validation. */
	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_VALIDATED), 0);
	assert_true(client_on(w, &w->direct));
	until_server_on(w, &w->direct, 500);
	assert_true(w->s_changes > changes);
	assert_true(w->c_got < w->total); /* the transfer spans every switch */

	finish_stream(w);
	assert_true(w->direct.to_s > 0 && w->direct.to_c > 0);
	assert_true(w->relay[1].to_s > 0 && w->relay[1].to_c > 0);
	assert_int_equal(w->c_pv_fail, 0);
	assert_true(w->c_changes >= 3);
}

/* The direct path dies just after its validation succeeded: the client
 * moves at once to a fresh relay generation and the session goes on. */
static void test_direct_dies(void **state)
{
	struct world *w = *state;
	uint64_t lost;

	start_stream(w, 1u << 20, 1u << 20);
	run(w, 100, NULL);
	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_VALIDATED), 0);
	/* The server has just moved too: its own validation of the direct
	 * path is under way when the path dies. */
	until_server_on(w, &w->direct, 500);
	assert_int_equal(w->c_pv_ok, 1);
	assert_true(client_on(w, &w->direct));
	w->direct.down = DOWN;
	w->relay[0].down = DOWN; /* that relay generation is gone too */
	assert_int_equal(migrate(w, &w->relay[1], ZT_MIGRATE_IMMEDIATE), 0);
	/* Moving to where we are is refused. */
	assert_int_equal(migrate(w, &w->relay[1], ZT_MIGRATE_IMMEDIATE),
			 ZT_EINVAL);
	until_server_on(w, &w->relay[1], 3000);
	lost = w->direct.lost;
	finish_stream(w);
	assert_true(client_on(w, &w->relay[1]));
	assert_true(server_on(w, &w->s_relay, &w->relay[1].s_remote));
	/* Nothing more went to the dead path once the server moved. */
	assert_int_equal(w->direct.lost, lost);
}

/* ngtcp2 1.25.0 commit 45a0ea89: the client moves A -> B while A is down;
 * the server validates B, then checks A (NGTCP2_PV_FLAG_DONT_CARE), whose
 * probes are lost. A comes back and the client returns to it while that
 * check runs: the server must move to A at once. Unpatched 1.24 keeps
 * sending on B until the check times out (>= 3 s). */
static void test_return_during_old_path_check(void **state)
{
	struct world *w = *state;
	struct link *a = &w->direct, *b = &w->relay[1];
	uint64_t took, to_c;

	assert_int_equal(migrate(w, a, ZT_MIGRATE_VALIDATED), 0);
	until_server_on(w, a, 500);
	run(w, 200, NULL); /* the server's check of relay 0 ends */
	start_stream(w, 1u << 20, 2u << 20);
	run(w, 100, NULL);

	a->down = DOWN;
	w->s_old_begin = 0;
	assert_int_equal(migrate(w, b, ZT_MIGRATE_IMMEDIATE), 0);
	until_server_on(w, b, 500);
	run(w, 50, NULL);
	/* The server's check of A began, and cannot have ended. */
	assert_int_equal(w->s_old_begin, 1);
	assert_ptr_equal(w->s_last_old.pio, &w->s_direct);
	assert_true(a->lost > 0);

	a->down = 0;
	assert_int_equal(migrate(w, a, ZT_MIGRATE_IMMEDIATE), 0);
	to_c = a->to_c;
	took = until_server_on(w, a, 300);
	print_message("server back on A after %llu us\n",
		      (unsigned long long)(took / 1000));
	assert_true(took < 100 * MS);
	b->down = DOWN; /* the agent let that relay generation go */
	finish_stream(w);
	assert_true(a->to_c > to_c);
}

/* The limit of 8 connection IDs leaves the client 7 spare: 7 migrations in
 * a row work, the 8th waits for NEW_CONNECTION_ID. */
static void test_cid_budget(void **state)
{
	struct world *w = *state;
	int ok = 0, rv = 0;

	for (int g = 1; g < NREL && rv == 0; g++) {
		rv = migrate(w, &w->relay[g], ZT_MIGRATE_IMMEDIATE);
		ok += rv == 0;
	}
	assert_int_equal(rv, ZT_EAGAIN);
	assert_int_equal(ok, 7);
	run(w, 500, NULL);
	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_VALIDATED), 0);
	until_server_on(w, &w->direct, 500);
	start_stream(w, 256u << 10, 4u << 20);
	finish_stream(w);
}

static void test_bad_calls(void **state)
{
	struct world *w = *state;
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct zt_qpath p;

	assert_int_equal(
		zt_qconn_migrate(w->sc, &w->s_direct,
				 (struct sockaddr *)&w->direct.s_remote,
				 sizeof(w->direct.s_remote),
				 ZT_MIGRATE_IMMEDIATE, w->now),
		ZT_EINVAL);
	assert_int_equal(
		zt_qconn_migrate(w->cc, &w->c_direct,
				 (struct sockaddr *)&w->direct.c_remote,
				 sizeof(struct sockaddr_storage),
				 ZT_MIGRATE_IMMEDIATE, w->now),
		ZT_EINVAL);
	assert_int_equal(zt_qconn_migrate(w->cc, &w->c_direct,
					  (struct sockaddr *)&v4, sizeof(v4),
					  ZT_MIGRATE_IMMEDIATE, w->now),
			 ZT_EINVAL);
	assert_int_equal(migrate(w, &w->direct, 7), ZT_EINVAL);
	assert_int_equal(migrate(w, &w->relay[0], ZT_MIGRATE_VALIDATED),
			 ZT_EINVAL);
	/* Nothing moved. */
	run(w, 100, NULL);
	zt_qconn_path(w->cc, &p);
	assert_ptr_equal(p.pio, &w->c_relay[0]);
	assert_int_equal(w->c_changes + w->s_changes, 0);
	zt_qconn_close(w->cc, ZT_APP_SHUTDOWN, "bye", w->now);
	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_IMMEDIATE),
			 ZT_ECLOSED);
}

/* A validation that gets no answer fails, and the client stays where it
 * was (validated mode) and can try again. */
static void test_validation_fails(void **state)
{
	struct world *w = *state;

	w->direct.down = DOWN_TO_C;
	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_VALIDATED), 0);
	run(w, 10000, NULL);
	assert_int_equal(w->c_pv_fail, 1);
	assert_ptr_equal(w->c_last_pv.pio, &w->c_direct);
	assert_true(client_on(w, &w->relay[0]));
	assert_true(server_on(w, &w->s_relay, &w->relay[0].s_remote));
	w->direct.down = 0;
	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_VALIDATED), 0);
	until_server_on(w, &w->direct, 500);
	assert_int_equal(w->c_pv_ok, 1);
}

/* A NAT in front of the client rebinds: the server sees another address
 * on the same pathio, follows it and says so (what a relay turns into a
 * new OBSERVED_ADDRESS), while the client knows nothing of it. */
static void test_nat_rebinding(void **state)
{
	struct world *w = *state;
	int changes, cchanges;

	assert_int_equal(migrate(w, &w->direct, ZT_MIGRATE_VALIDATED), 0);
	until_server_on(w, &w->direct, 500);
	run(w, 200, NULL);
	changes = w->s_changes;
	cchanges = w->c_changes;
	start_stream(w, 512u << 10, 2u << 20);
	run(w, 50, NULL);
	w->direct.s_remote.sin6_port = htons(40001);
	until_server_on(w, &w->direct, 500);
	assert_int_equal(w->s_changes, changes + 1);
	finish_stream(w);
	assert_int_equal(w->c_changes, cchanges);
	assert_true(client_on(w, &w->direct));
}

static uint64_t client_sent(struct world *w)
{
	uint64_t n = w->direct.to_s + w->direct.lost;

	for (int g = 0; g < NREL; g++)
		n += w->relay[g].to_s;
	return n;
}

/* Keep-alive is per connection: on, an idle client sends every interval;
 * off, nothing. */
static void test_keepalive(void **state)
{
	struct world *w = *state;
	uint64_t n;

	zt_qconn_set_keepalive(w->cc, 100 * MS);
	n = client_sent(w);
	run(w, 2000, NULL);
	assert_true(client_sent(w) - n >= 10);
	zt_qconn_set_keepalive(w->cc, 0);
	run(w, 200, NULL);
	n = client_sent(w);
	run(w, 5000, NULL);
	assert_true(client_sent(w) - n <= 1);
	assert_int_equal(w->c_closed + w->s_closed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_dies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_return_during_old_path_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cid_budget, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_calls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_validation_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nat_rebinding, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_keepalive, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
