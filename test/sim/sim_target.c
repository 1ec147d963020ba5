/* The connector's in-memory targets (sim.h): a tconn implementation
 * (roles/connector/tconn.h) whose "network" is a list of named targets.
 * Every callback comes from the loop (a zero timer per connection), as
 * libuv's would, never from inside the flow's own call. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "flowhdr.h"
#include "pkt.h"

#define CHUNK 16384

struct dgram {
	struct dgram *next;
	size_t len;
	uint8_t data[];
};

struct mconn {
	struct zt_tconn *t;
	struct sim_target *tg; /* NULL: the name does not resolve */
	uv_timer_t kick;
	int proto;
	int dial_pending, closing, reading, eof_sent, peer_fin, shut_pending;
	size_t wrote_pending;
	uint8_t *out; /* ECHO: bytes owed to the flow */
	size_t out_len, out_off, out_cap;
	uint64_t src_off; /* SOURCE: pattern bytes sent */
	struct dgram *dq, *dq_tail;
};

uint8_t sim_pattern(uint64_t i)
{
	uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ULL;

	return (uint8_t)(x >> (8 * (i % 8)));
}

void sim_targets_init(struct sim_targets *ts, uv_loop_t *loop)
{
	memset(ts, 0, sizeof(*ts));
	ts->loop = loop;
}

void sim_targets_free(struct sim_targets *ts)
{
	while (ts->list) {
		struct sim_target *t = ts->list;

		ts->list = t->next;
		wc_Sha256Free(&t->sha_in);
		free(t);
	}
}

struct sim_target *sim_target_add(struct sim_targets *ts, const char *host,
				  const char *port, int kind)
{
	struct sim_target *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	snprintf(t->host, sizeof(t->host), "%s", host);
	snprintf(t->port, sizeof(t->port), "%s", port);
	t->kind = kind;
	wc_InitSha256(&t->sha_in);
	t->next = ts->list;
	ts->list = t;
	return t;
}

static void kick_closed(uv_handle_t *h)
{
	struct mconn *m = h->data;
	struct zt_tconn *t = m->t;

	while (m->dq) {
		struct dgram *d = m->dq;

		m->dq = d->next;
		free(d);
	}
	free(m->out);
	free(m);
	t->impl = NULL;
	t->cb->closed(t);
}

static void kick(struct mconn *m);

/* TCP bytes owed to the flow, at most a chunk per turn; then the FIN. */
static void pump_tcp(struct mconn *m)
{
	struct sim_target *tg = m->tg;
	uint8_t buf[CHUNK];
	size_t n = 0;
	int done;

	if (!m->reading)
		return;
	if (tg->kind == SIM_TARGET_ECHO && m->out_off < m->out_len) {
		n = m->out_len - m->out_off;
		n = n < CHUNK ? n : CHUNK;
		memcpy(buf, m->out + m->out_off, n);
		m->out_off += n;
		if (m->out_off == m->out_len)
			m->out_off = m->out_len = 0;
	} else if (tg->kind == SIM_TARGET_SOURCE && m->src_off < tg->size) {
		n = tg->size - m->src_off < CHUNK ?
			    (size_t)(tg->size - m->src_off) :
			    CHUNK;
		for (size_t i = 0; i < n; i++)
			buf[i] = sim_pattern(m->src_off + i);
		m->src_off += n;
	}
	if (n) {
		tg->bytes_out += n;
		m->t->cb->recv(m->t, buf, n);
		kick(m);
		return;
	}
	done = tg->kind == SIM_TARGET_SOURCE ? m->src_off == tg->size :
					       m->peer_fin;
	if (done && !m->eof_sent) {
		m->eof_sent = 1;
		m->t->cb->recv(m->t, NULL, 0);
	}
}

static void kick_cb(uv_timer_t *h)
{
	struct mconn *m = h->data;
	struct zt_tconn *t = m->t;

	if (m->closing)
		return;
	if (m->dial_pending) {
		int refused = m->tg && m->tg->kind == SIM_TARGET_REFUSE;

		m->dial_pending = 0;
		if (!m->tg || refused) {
			t->cb->dialed(t,
				      refused ? ZT_FLOW_REFUSED :
						ZT_FLOW_UNREACHABLE,
				      refused ? "connection refused" :
						"target name did not resolve");
			return;
		}
		m->tg->conns_open++;
		t->cb->dialed(t, 0, NULL);
		if (m->closing)
			return;
	}
	if (m->wrote_pending) {
		size_t n = m->wrote_pending;

		m->wrote_pending = 0;
		t->cb->wrote(t, n, NULL);
		if (m->closing)
			return;
	}
	if (m->shut_pending) {
		m->shut_pending = 0;
		m->peer_fin = 1;
		m->tg->fins_in++;
		t->cb->shut(t, NULL);
		if (m->closing)
			return;
	}
	if (m->dq) {
		struct dgram *d = m->dq;

		m->dq = d->next;
		t->cb->recv(t, d->data, d->len);
		free(d);
		if (m->closing)
			return;
		kick(m);
		return;
	}
	if (m->proto == ZT_IPPROTO_TCP)
		pump_tcp(m);
}

static void kick(struct mconn *m)
{
	if (!m->closing)
		uv_timer_start(&m->kick, kick_cb, 0, 0);
}

static int mem_dial(struct zt_tconn *t, uv_loop_t *loop, void *user, int proto,
		    const char *host, const char *port, const char **why)
{
	struct sim_targets *ts = user;
	struct mconn *m = calloc(1, sizeof(*m));

	if (!m) {
		*why = "out of memory";
		return ZT_ENOMEM;
	}
	m->t = t;
	m->proto = proto;
	for (struct sim_target *x = ts->list; x; x = x->next)
		if (!strcmp(x->host, host) && !strcmp(x->port, port))
			m->tg = x;
	if (m->tg)
		m->tg->dials++;
	uv_timer_init(loop, &m->kick);
	m->kick.data = m;
	m->dial_pending = 1;
	t->impl = m;
	kick(m);
	return 0;
}

static void mem_read(struct zt_tconn *t, int on)
{
	struct mconn *m = t->impl;

	m->reading = on;
	if (on)
		kick(m);
}

static int mem_write(struct zt_tconn *t, const uint8_t *d, size_t n,
		     const char **why)
{
	struct mconn *m = t->impl;
	struct sim_target *tg = m->tg;

	tg->bytes_in += n;
	if (tg->kind == SIM_TARGET_SINK) {
		wc_Sha256Update(&tg->sha_in, d, (word32)n);
	} else if (tg->kind == SIM_TARGET_ECHO) {
		if (m->out_len + n > m->out_cap) {
			size_t cap = (m->out_len + n) * 2;
			uint8_t *p = realloc(m->out, cap);

			if (!p) {
				*why = "out of memory";
				return ZT_ENOMEM;
			}
			m->out = p;
			m->out_cap = cap;
		}
		memcpy(m->out + m->out_len, d, n);
		m->out_len += n;
	}
	m->wrote_pending = n;
	kick(m);
	return 0;
}

static int mem_shutdown(struct zt_tconn *t, const char **why)
{
	struct mconn *m = t->impl;

	(void)why;
	m->shut_pending = 1;
	kick(m);
	return 0;
}

static int mem_send(struct zt_tconn *t, const uint8_t *d, size_t n)
{
	struct mconn *m = t->impl;
	struct dgram *g;

	m->tg->bytes_in += n;
	if (m->tg->kind != SIM_TARGET_UDP_ECHO)
		return 0;
	if (!(g = malloc(sizeof(*g) + n)))
		return ZT_EAGAIN;
	g->next = NULL;
	g->len = n;
	memcpy(g->data, d, n);
	if (m->dq)
		m->dq_tail->next = g;
	else
		m->dq = g;
	m->dq_tail = g;
	m->tg->bytes_out += n;
	kick(m);
	return 0;
}

static void mem_close(struct zt_tconn *t, int rst)
{
	struct mconn *m = t->impl;

	if (rst && m->tg)
		m->tg->resets++;
	m->closing = 1;
	uv_close((uv_handle_t *)&m->kick, kick_closed);
}

const struct zt_tconn_ops sim_target_ops = {
	.kind = "mem",
	.dial = mem_dial,
	.read = mem_read,
	.write = mem_write,
	.shutdown = mem_shutdown,
	.send = mem_send,
	.close = mem_close,
};
