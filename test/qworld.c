/* The in-memory QUIC world of unit_quic.c and unit_quiclim.c (qworld.h). */
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

#include "log.h"
#include "pki.h"
#include "qworld.h"

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

int setup(void **state)
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

int teardown(void **state)
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

void side_init(struct world *w, int i, const char *cert,
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

void side_free(struct side *s)
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

void run(struct world *w, int ms)
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

struct zt_qconn *connect_to_relay(struct world *w)
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

void world_reset(struct world *w)
{
	w->nq = 0;
	w->drop_to = 0;
	w->pass_retry = 0;
	w->retries = w->resets = 0;
}

void pio_at(struct zt_pathio *p, uint32_t ip, uint16_t port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&p->local;

	memset(p, 0, sizeof(*p));
	p->ops = &mem_ops;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(ip);
	p->local_len = sizeof(*a);
}

void dial(struct world *w, int i, struct zt_pathio *pio)
{
	struct zt_qconn *c = NULL;

	assert_int_equal(zt_ep_connect(w->s[i].ep, pio,
				       (struct sockaddr *)&w->s[0].pio.local,
				       w->s[0].pio.local_len, "10.0.0.1",
				       ZT_ROLE_RELAY, &side_ops, &w->s[i], &c,
				       w->now),
			 0);
}
