/* The relay's side of relayed sessions (docs/PROTOCOL.md, "Relayed
 * sessions"): an agent asks for a session to a connector (SESSION_OPEN),
 * the relay offers it to the connector, which accepts or refuses; from
 * then on the relay forwards the session's packets, DATAGRAM payloads
 * prefixed with the session id, between exactly those two links, without
 * reading them. The decisions of who may talk to whom and how much are in
 * rsess.c; this file is the control-message and connection glue. */
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "err.h"
#include "log.h"
#include "policy.h"
#include "rdgram.h"
#include "relay_int.h"
#include "status.h"

#define TICK_MS 1000
#define MTU_MIN 1200 /* an inner QUIC Initial */
/* SESSION_OPEN per agent link: a burst, then 5 a second. Each one costs
 * an OFFER to a connector and a round of probes there. */
#define OPEN_BURST 32
#define OPEN_RATE 5.0

static uint64_t rb_rand(void *arg)
{
	uint64_t v = 0;

	/* On failure v stays 0, which the table never uses as an id. */
	wolfSSL_RAND_bytes((unsigned char *)&v, sizeof(v));
	return v;
}

static const struct zt_identity *id_of(const struct peer *p)
{
	return zt_qconn_peer(p->c);
}

static void tick(uv_timer_t *t);

int rb_init(struct relay *r)
{
	struct zt_rsess_limits lim;
	int rc;

	zt_rsess_limits_default(&lim);
	rc = zt_rsess_table_init(&r->rb.t, &lim, rb_rand, NULL);
	if (rc)
		return rc;
	uv_timer_init(r->d->loop, &r->rb.timer);
	r->rb.timer.data = r;
	r->rb.timer_on = 1;
	return 0;
}

void rb_stop(struct relay *r)
{
	if (!r->rb.timer_on)
		return;
	r->rb.timer_on = 0;
	uv_close((uv_handle_t *)&r->rb.timer, NULL);
	zt_rsess_table_free(&r->rb.t);
}

static void arm(struct relay *r)
{
	if (r->rb.timer_on && !uv_is_active((uv_handle_t *)&r->rb.timer))
		uv_timer_start(&r->rb.timer, tick, TICK_MS, TICK_MS);
}

/* Tells one side that a request or session is over. */
static void send_close(struct peer *to, const struct zt_rsess *s, uint32_t req,
		       uint32_t code, const char *text)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_CLOSE };

	m.u.sess.session = s ? (uint32_t)s->id : 0;
	m.u.sess.req = to && s && to == s->agent ? s->req : req;
	m.u.sess.code = code;
	snprintf(m.u.sess.text, sizeof(m.u.sess.text), "%s", text);
	relay_send(to, &m);
}

static struct peer *find_connector(struct relay *r, const char *name)
{
	for (struct peer *k = r->peers; k; k = k->next)
		if (k->hello && id_of(k)->role == ZT_ROLE_CONNECTOR &&
		    strcmp(id_of(k)->name, name) == 0)
			return k;
	return NULL;
}

/* The same rule as the catalog: a session only to a connector that
 * serves the agent something. */
static int may_reach(const struct peer *k, const struct zt_identity *agent)
{
	for (size_t i = 0; i < k->n_services; i++)
		if (zt_policy_identity(&k->services[i], agent).allow)
			return 1;
	return 0;
}

/* The largest inner packet both links carry now. */
static size_t session_mtu(const struct peer *a, const struct peer *k)
{
	size_t ma = zt_qconn_datagram_max(a->c),
	       mk = zt_qconn_datagram_max(k->c);
	size_t m = ma < mk ? ma : mk;

	m = m > ZT_RDGRAM_HDR_MAX ? m - ZT_RDGRAM_HDR_MAX : 0;
	return m > 65535 ? 65535 : m;
}

/* Candidates for the other side: the address we observe first (the
 * peer's NAT's public side), then what it announced that is reachable at
 * all, without duplicates. A peer on TCP has no observed address. */
static void candidates(const struct peer *p, const struct zt_ctrl_sess *in,
		       struct zt_ctrl_sess *out)
{
	out->n_addrs = 0;
	if (p->observed.family)
		out->addrs[out->n_addrs++] = p->observed;
	for (size_t i = 0; in && i < in->n_addrs && out->n_addrs < ZT_MAX_ADDRS;
	     i++)
		if (zt_addr_reachable(&in->addrs[i]) &&
		    !zt_addr_equal(&in->addrs[i], &p->observed))
			out->addrs[out->n_addrs++] = in->addrs[i];
}

/* Why an OPEN cannot become a session, or NULL. */
static const char *open_refusal(struct relay *r, struct peer *a, struct peer *k,
				size_t mtu, uint32_t *code)
{
	*code = ZT_APP_DENIED;
	/* The same answer whether the connector is absent or just not for
	 * this agent: who else is connected is not the agent's business. */
	if (!k || !may_reach(k, id_of(a)))
		return "that connector serves you nothing";
	if (k->version < 2) {
		*code = ZT_APP_VERSION;
		return "the connector speaks control protocol 1: no relayed "
		       "sessions";
	}
	if (mtu < MTU_MIN) {
		*code = ZT_APP_TOO_BIG;
		log_warn("relay: cannot relay %s -> %s: the links carry %zu / "
			 "%zu bytes, a relayed session needs %d (path MTU "
			 "discovery may not have finished; the peer retries)",
			 zt_qconn_label(a->c), zt_qconn_label(k->c),
			 zt_qconn_datagram_max(a->c),
			 zt_qconn_datagram_max(k->c),
			 MTU_MIN + ZT_RDGRAM_HDR_MAX);
		return "the relay links cannot carry a 1200-byte packet yet";
	}
	return NULL;
}

static int open_allowed(struct peer *a, uint64_t now)
{
	if (a->open_at == 0)
		a->open_tokens = OPEN_BURST;
	else
		a->open_tokens += (double)(now - a->open_at) * OPEN_RATE / 1e9;
	if (a->open_tokens > OPEN_BURST)
		a->open_tokens = OPEN_BURST;
	a->open_at = now;
	if (a->open_tokens < 1)
		return 0;
	a->open_tokens -= 1;
	return 1;
}

static int on_open(struct relay *r, struct peer *a,
		   const struct zt_ctrl_sess *in)
{
	struct peer *k = find_connector(r, in->peer);
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_OFFER };
	struct zt_rsess *s = NULL;
	size_t mtu = k ? session_mtu(a, k) : 0;
	uint32_t code;
	const char *why;
	int rc;

	if (id_of(a)->role != ZT_ROLE_AGENT)
		return ZT_APP_DENIED;
	if (!open_allowed(a, zt_now())) {
		why = "too many session requests";
		code = ZT_APP_TOO_BIG;
	} else {
		why = open_refusal(r, a, k, mtu, &code);
	}
	if (!why) {
		rc = zt_rsess_open(&r->rb.t, a, k, in->req, zt_now(), &s);
		if (rc) {
			code = ZT_APP_TOO_BIG;
			why = "too many relayed sessions";
		}
	}
	if (why) {
		r->rb.refused++;
		log_info("relay: %s: session to %s refused: %s",
			 zt_qconn_label(a->c), in->peer, why);
		send_close(a, NULL, in->req, code, why);
		return 0;
	}
	m.u.sess.session = (uint32_t)s->id;
	snprintf(m.u.sess.peer, sizeof(m.u.sess.peer), "%s", id_of(a)->name);
	memcpy(m.u.sess.key, in->key, sizeof(m.u.sess.key));
	m.u.sess.mtu = (uint16_t)mtu;
	m.u.sess.nat = in->nat;
	candidates(a, in, &m.u.sess);
	r->rb.opened++;
	arm(r);
	log_info("relay: session %u: %s -> %s offered (inner packets up to %zu "
		 "bytes)",
		 (unsigned)s->id, zt_qconn_label(a->c), zt_qconn_label(k->c),
		 mtu);
	if (relay_send(k, &m) != 0) {
		send_close(a, s, 0, ZT_APP_INTERNAL,
			   "cannot reach the connector");
		zt_rsess_close(&r->rb.t, s);
	}
	return 0;
}

static int on_accept(struct relay *r, struct peer *k,
		     const struct zt_ctrl_sess *in)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_READY };
	struct zt_rsess *s;
	struct peer *a;
	int rc = zt_rsess_accept(&r->rb.t, in->session, k, zt_now(), &s);

	if (rc == ZT_ENOTFOUND)
		return 0; /* it timed out or its agent left: told already */
	if (rc)
		return ZT_APP_PROTOCOL; /* not its session, or accepted twice */
	a = s->agent;
	m.u.sess.req = s->req;
	m.u.sess.session = (uint32_t)s->id;
	memcpy(m.u.sess.key, in->key, sizeof(m.u.sess.key));
	m.u.sess.mtu = (uint16_t)session_mtu(a, k);
	if (m.u.sess.mtu < MTU_MIN)
		m.u.sess.mtu = MTU_MIN; /* it was enough a moment ago */
	m.u.sess.nat = in->nat;
	candidates(k, in, &m.u.sess);
	log_info("relay: session %u: %s accepted", (unsigned)s->id,
		 zt_qconn_label(k->c));
	relay_send(a, &m);
	return 0;
}

/* REFUSE from the connector, CLOSE from either side: the session ends
 * and the other side hears it. */
static int on_end(struct relay *r, struct peer *p, int type,
		  const struct zt_ctrl_sess *in)
{
	struct zt_rsess *s =
		in->session ? zt_rsess_find(&r->rb.t, in->session) : NULL;
	struct peer *other;
	char t[4 * sizeof(in->text)];

	if (!s && in->req && type == ZT_CTRL_SESSION_CLOSE) {
		/* An agent taking back a request it has no id for yet. */
		for (size_t i = 0; i < r->rb.t.n_buckets && !s; i++)
			for (s = r->rb.t.buckets[i]; s; s = s->next)
				if (s->agent == p && s->req == in->req)
					break;
	}
	if (!s)
		return 0;
	if (p != s->agent && p != s->connector)
		return ZT_APP_PROTOCOL;
	if (type == ZT_CTRL_SESSION_REFUSE && p != s->connector)
		return ZT_APP_PROTOCOL;
	other = p == s->agent ? s->connector : s->agent;
	log_info("relay: session %u ended by %s: %s", (unsigned)s->id,
		 zt_qconn_label(p->c),
		 zt_log_escape(t, sizeof(t), in->text[0] ? in->text : "-"));
	send_close(other, s, 0, in->code, in->text);
	zt_rsess_close(&r->rb.t, s);
	return 0;
}

/* New candidates from one side of a ready session, passed on like those
 * of OPEN and ACCEPT (what we observe first) to a version 3 peer; an older
 * one re-probes on its own timer. */
static int on_candidates(struct relay *r, struct peer *p,
			 const struct zt_ctrl_sess *in)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_CANDIDATES };
	struct zt_rsess *s = zt_rsess_find(&r->rb.t, in->session);
	void *to;

	if (!s)
		return 0; /* ended meanwhile */
	if (p != s->agent && p != s->connector)
		return ZT_APP_PROTOCOL;
	if (!zt_rsess_candidates(s, p, zt_now(), &to) ||
	    ((struct peer *)to)->version < 3)
		return 0;
	m.u.sess.session = in->session;
	m.u.sess.nat = in->nat;
	candidates(p, in, &m.u.sess);
	relay_send(to, &m);
	return 0;
}

int rb_message(struct relay *r, struct peer *p, const struct zt_ctrl_msg *m)
{
	switch (m->type) {
	case ZT_CTRL_SESSION_OPEN: return on_open(r, p, &m->u.sess);
	case ZT_CTRL_SESSION_ACCEPT:
		if (id_of(p)->role != ZT_ROLE_CONNECTOR)
			return ZT_APP_PROTOCOL;
		return on_accept(r, p, &m->u.sess);
	case ZT_CTRL_SESSION_REFUSE:
	case ZT_CTRL_SESSION_CLOSE: return on_end(r, p, m->type, &m->u.sess);
	case ZT_CTRL_SESSION_CANDIDATES: return on_candidates(r, p, &m->u.sess);
	default: return ZT_APP_PROTOCOL;
	}
}

void rb_datagram(struct relay *r, struct peer *p, const uint8_t *data,
		 size_t len)
{
	uint32_t id;
	uint8_t gen;
	void *to;
	enum zt_rsess_drop why;
	int rc;

	if (zt_rdgram_get(data, len, &id, &gen) == 0) {
		r->rb.t.drops[ZT_RDROP_UNKNOWN]++;
		return;
	}
	if (!zt_rsess_forward(&r->rb.t, p, id, len, zt_now(), &to, &why))
		return;
	/* Unchanged: the relay neither reads nor rewrites inner packets. */
	rc = zt_qconn_send_datagram(((struct peer *)to)->c, data, len);
	if (rc == 0)
		r->rb.forwarded++;
	else
		zt_rsess_count_drop(&r->rb.t, p, id,
				    rc == ZT_ETOOBIG ? ZT_RDROP_TOO_BIG :
						       ZT_RDROP_QUEUE);
}

static void gone_cb(struct zt_rsess *s, void *survivor, void *arg)
{
	send_close(survivor, s, 0, ZT_APP_PEER_GONE,
		   survivor == s->agent ? "the connector went away" :
					  "the agent went away");
}

void rb_peer_gone(struct relay *r, struct peer *p)
{
	size_t n = zt_rsess_link_gone(&r->rb.t, p, gone_cb, r);

	if (n)
		log_info("relay: %zu relayed session(s) of %s ended", n,
			 zt_qconn_label(p->c));
}

static void expired_cb(struct zt_rsess *s, void *link, void *arg)
{
	const char *why = s->state == ZT_RSESS_OFFERED ?
				  "the connector did not answer" :
				  "idle";

	if (link == s->agent)
		log_info("relay: session %u: %s", (unsigned)s->id, why);
	send_close(link, s, 0, ZT_APP_PEER_GONE, why);
}

static void tick(uv_timer_t *t)
{
	struct relay *r = t->data;

	zt_rsess_expire(&r->rb.t, zt_now(), expired_cb, r);
	if (r->rb.t.n == 0)
		uv_timer_stop(t);
}

size_t rb_peer_sessions(struct relay *r, const struct peer *p)
{
	return r->rb.timer_on ? zt_rsess_count_link(&r->rb.t, p) : 0;
}

static void drops_json(struct zt_sb *b, const uint64_t *d)
{
	zt_sb_printf(b, "{");
	for (int i = 0; i < ZT_RDROP_N; i++)
		zt_sb_printf(b, "%s\"%s\":%llu", i ? "," : "",
			     zt_rsess_drop_name(i), (unsigned long long)d[i]);
	zt_sb_printf(b, "}");
}

static void session_status(const struct zt_rsess *s, struct zt_sb *b, int json,
			   int first)
{
	const struct peer *a = s->agent, *k = s->connector;
	const char *st = s->state == ZT_RSESS_READY ? "ready" : "offered";
	uint64_t drops = 0;

	for (int i = 0; i < ZT_RDROP_N; i++)
		drops += s->a2c.drops[i] + s->c2a.drops[i];
	if (!json) {
		zt_sb_printf(b,
			     "  %-10u %-20s %-20s %-7s a->c %llu B %llu p, "
			     "c->a %llu B %llu p, %llu dropped\n",
			     (unsigned)s->id, id_of(a)->name, id_of(k)->name,
			     st, (unsigned long long)s->a2c.bytes,
			     (unsigned long long)s->a2c.pkts,
			     (unsigned long long)s->c2a.bytes,
			     (unsigned long long)s->c2a.pkts,
			     (unsigned long long)drops);
		return;
	}
	zt_sb_printf(b, "%s{\"id\":%u,\"agent\":", first ? "" : ",",
		     (unsigned)s->id);
	zt_sb_json_str(b, id_of(a)->name);
	zt_sb_printf(b, ",\"connector\":");
	zt_sb_json_str(b, id_of(k)->name);
	zt_sb_printf(
		b,
		",\"state\":\"%s\",\"a2c_bytes\":%llu,\"a2c_packets\":"
		"%llu,\"c2a_bytes\":%llu,\"c2a_packets\":%llu,\"a2c_drops\":",
		st, (unsigned long long)s->a2c.bytes,
		(unsigned long long)s->a2c.pkts,
		(unsigned long long)s->c2a.bytes,
		(unsigned long long)s->c2a.pkts);
	drops_json(b, s->a2c.drops);
	zt_sb_printf(b, ",\"c2a_drops\":");
	drops_json(b, s->c2a.drops);
	zt_sb_printf(b, "}");
}

void rb_status(struct relay *r, struct zt_sb *b, int json)
{
	const struct zt_rsess_table *t = &r->rb.t;
	int first = 1;

	if (!r->rb.timer_on)
		return;
	if (json) {
		zt_sb_printf(b,
			     ",\"relayed\":{\"sessions\":%zu,\"opened\":%llu,"
			     "\"refused\":%llu,\"forwarded\":%llu,\"drops\":",
			     t->n, (unsigned long long)r->rb.opened,
			     (unsigned long long)r->rb.refused,
			     (unsigned long long)r->rb.forwarded);
		drops_json(b, t->drops);
		zt_sb_printf(b, ",\"list\":[");
	} else {
		zt_sb_printf(b,
			     "relayed:   %zu session(s), %llu opened, %llu "
			     "refused, %llu packets forwarded; dropped:",
			     t->n, (unsigned long long)r->rb.opened,
			     (unsigned long long)r->rb.refused,
			     (unsigned long long)r->rb.forwarded);
		for (int i = 0; i < ZT_RDROP_N; i++)
			zt_sb_printf(b, " %s %llu", zt_rsess_drop_name(i),
				     (unsigned long long)t->drops[i]);
		zt_sb_printf(b, "\n");
	}
	for (size_t i = 0; i < t->n_buckets; i++)
		for (const struct zt_rsess *s = t->buckets[i]; s;
		     s = s->next, first = 0)
			session_status(s, b, json, first);
	if (json)
		zt_sb_printf(b, "]}");
}
