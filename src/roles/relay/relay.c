/* Relay: authenticates agents and connectors, tells each its observed
 * address, keeps the registry of connector services and sends every agent
 * the catalog its identity may reach. A misbehaving peer is closed; the
 * others are not disturbed. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "grant.h"
#include "log.h"
#include "policy.h"
#include "relay_int.h"
#include "status.h"

/* REGISTER per connector: a burst for reloads in a row, then one every
 * 2 s; a connector going faster is closed (it would make us re-filter
 * its services and rebuild every agent's catalog without end). */
#define REG_BURST 20
#define REG_REFILL_NS 2000000000ULL
#define REBUILD_DELAY_MS 20

static void peer_free(struct peer *p)
{
	zt_ctrl_reader_free(&p->rd);
	free(p->pending);
	free(p->services);
	free(p->sent_catalog);
	free(p);
}

int relay_send(struct peer *p, struct zt_ctrl_msg *m)
{
	m->version = p->version ? p->version : ZT_CTRL_VERSION;
	return zt_ctrl_send(p->c, p->sid, m);
}

/* Not over TCP: the path's address is synthetic, and a TCP mapping says
 * nothing of a UDP one (no candidate, no catalog address from it). */
static void send_observed(struct peer *p)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_OBSERVED_ADDRESS };

	if (strcmp(rtcp_transport(p->c), "tcp") == 0) {
		memset(&p->observed, 0, sizeof(p->observed));
		return;
	}
	zt_qconn_remote(p->c, &m.u.observed.addr);
	p->observed = m.u.observed.addr;
	relay_send(p, &m);
}

/* The connector's reachable addresses: what we observe first (its NAT's
 * public side), then what it announced, without duplicates. */
static void entry_addrs(const struct peer *k, struct zt_catalog_entry *e)
{
	if (k->observed.family)
		e->addrs[e->n_addrs++] = k->observed;
	for (size_t i = 0; i < k->n_addrs && e->n_addrs < ZT_MAX_ADDRS; i++)
		if (!zt_addr_equal(&k->addrs[i], &k->observed))
			e->addrs[e->n_addrs++] = k->addrs[i];
}

static int build_catalog(struct relay *r, const struct peer *agent,
			 struct zt_ctrl_msg *m)
{
	const struct zt_identity *id = zt_qconn_peer(agent->c);
	size_t cap = 0;

	m->type = ZT_CTRL_CATALOG;
	m->u.catalog.entries = NULL;
	m->u.catalog.n = 0;
	for (struct peer *k = r->peers; k; k = k->next)
		cap += k->n_services;
	if (cap > ZT_MAX_SERVICES)
		cap = ZT_MAX_SERVICES;
	if (cap == 0)
		return 0;
	m->u.catalog.entries = calloc(cap, sizeof(struct zt_catalog_entry));
	if (!m->u.catalog.entries)
		return ZT_ENOMEM;
	for (struct peer *k = r->peers; k; k = k->next) {
		for (size_t i = 0; i < k->n_services && m->u.catalog.n < cap; i++) {
			struct zt_catalog_entry *e;

			if (!zt_policy_identity(&k->services[i], id).allow)
				continue;
			e = &m->u.catalog.entries[m->u.catalog.n++];
			e->svc = k->services[i];
			/* Agents learn where to go, not who else may. */
			e->svc.n_allow = 0;
			e->svc.target[0] = 0;
			snprintf(e->connector, sizeof(e->connector), "%s",
				 zt_qconn_peer(k->c)->name);
			entry_addrs(k, e);
		}
	}
	return 0;
}

/* Builds and encodes agent a's catalog into *buf. m is freed by the
 * caller, whatever the result. */
static int encode_catalog(struct relay *r, const struct peer *a,
			  struct zt_ctrl_msg *m, uint8_t **buf, size_t *len)
{
	int rv = build_catalog(r, a, m);

	m->version = a->version;
	if (rv == 0)
		rv = zt_ctrl_encode(m, buf, len);
	/* Too big for one message (many large services): send what fits,
	 * rather than nothing, and say so. */
	while (rv == ZT_ETOOBIG && m->u.catalog.n > 0) {
		m->u.catalog.n = m->u.catalog.n * 3 / 4;
		rv = zt_ctrl_encode(m, buf, len);
		if (rv == 0)
			log_warn("relay: catalog for %s truncated to %zu services "
				 "(message size limit)",
				 zt_qconn_label(a->c), m->u.catalog.n);
	}
	return rv;
}

/* Sends agent a its catalog if it changed since the last one sent. */
static void push_catalog(struct relay *r, struct peer *a)
{
	struct zt_ctrl_msg m;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv;

	if (!a->hello || zt_qconn_peer(a->c)->role != ZT_ROLE_AGENT)
		return;
	rv = encode_catalog(r, a, &m, &buf, &len);
	if (rv != 0) {
		log_error("relay: cannot build the catalog for %s: %s",
			  zt_qconn_label(a->c), zt_strerror(rv));
		goto out;
	}
	/* Only changes are sent: connectors come and go often. */
	if (a->sent_catalog && a->sent_len == len &&
	    memcmp(a->sent_catalog, buf, len) == 0)
		goto out;
	/* A peer that does not read its control stream would make us queue
	 * catalogs forever. */
	if (zt_qconn_stream_buffered(a->c, a->sid) > (1u << 20)) {
		zt_ctrl_fail(a->c, -1, ZT_APP_TOO_BIG,
			     "peer does not read its control stream");
		goto out;
	}
	if (zt_qconn_stream_send(a->c, a->sid, buf, len, 0) != 0)
		goto out;
	free(a->sent_catalog);
	a->sent_catalog = buf;
	a->sent_len = len;
	a->catalog_n = m.u.catalog.n;
	buf = NULL;
	log_debug("relay: catalog of %zu service(s) sent to %s", a->catalog_n,
		  zt_qconn_label(a->c));
out:
	free(buf);
	zt_ctrl_msg_free(&m);
}

static void apply_register(struct relay *r, struct peer *p);

static void rebuild_cb(uv_timer_t *t)
{
	struct relay *r = t->data;

	r->dirty = 0;
	r->rebuilds++;
	/* Registrations first, in connection order, so that "already
	 * served by" is decided as if they had come one by one. */
	for (struct peer *p = r->peers; p; p = p->next)
		if (p->has_pending)
			apply_register(r, p);
	for (struct peer *p = r->peers; p; p = p->next)
		push_catalog(r, p);
}

static void push_all(struct relay *r)
{
	if (r->dirty)
		return;
	r->dirty = 1;
	uv_timer_start(&r->rebuild, rebuild_cb, REBUILD_DELAY_MS, 0);
}

static int on_hello(struct relay *r, struct peer *p,
		    const struct zt_ctrl_msg *m)
{
	if (p->hello)
		return ZT_APP_PROTOCOL;
	p->hello = 1;
	/* The peer speaks the version of its HELLO, and is answered in it. */
	p->version = m->version;
	memcpy(p->software, m->u.hello.software, sizeof(p->software));
	p->n_addrs = 0;
	for (size_t i = 0; i < m->u.hello.n_addrs; i++) {
		char a[64];

		if (zt_addr_reachable(&m->u.hello.addrs[i])) {
			p->addrs[p->n_addrs++] = m->u.hello.addrs[i];
			continue;
		}
		log_info("relay: %s: announced address %s ignored "
			 "(loopback, link-local, multicast or unspecified)",
			 zt_qconn_label(p->c),
			 zt_addr_str(&m->u.hello.addrs[i], a, sizeof(a)));
	}
	send_observed(p);
	push_catalog(r, p);
	return 0;
}

/* Another connector already serves something this entry claims: allowed
 * only when this connector is granted all of that too (a second connector
 * for one service is high availability; anything else is a takeover). */
static const struct peer *taken_by(const struct relay *r, const struct peer *p,
				   const struct zt_service *svc, char *why,
				   size_t why_len)
{
	const struct zt_identity *id = zt_qconn_peer(p->c);

	for (const struct peer *k = r->peers; k; k = k->next) {
		if (k == p)
			continue;
		for (size_t i = 0; i < k->n_services; i++) {
			char tmp[160];

			if (!zt_service_conflict(svc, &k->services[i]) ||
			    zt_grant_covers(id, &k->services[i], tmp, sizeof(tmp)))
				continue;
			snprintf(why, why_len, "already served by %s (%.100s)",
				 zt_qconn_peer(k->c)->name, tmp);
			return k;
		}
	}
	return NULL;
}

/* Keeps the entries the connector's certificate grants and that take
 * nothing from another connector; says which were refused and why. */
static size_t filter_register(struct relay *r, struct peer *p,
			      const struct zt_ctrl_msg *m,
			      struct zt_service *out)
{
	const struct zt_identity *id = zt_qconn_peer(p->c);
	struct zt_ctrl_msg err = { .type = ZT_CTRL_ERROR };
	size_t n = 0, refused = 0;

	for (size_t i = 0; i < m->u.reg.n; i++) {
		const struct zt_service *svc = &m->u.reg.services[i];
		char why[200];

		if (zt_grant_covers(id, svc, why, sizeof(why)) &&
		    !taken_by(r, p, svc, why, sizeof(why))) {
			out[n++] = *svc;
			continue;
		}
		log_error("relay: %s: service %s refused: %s",
			  zt_qconn_label(p->c), svc->name, why);
		if (refused++ == 0)
			snprintf(err.u.error.text, sizeof(err.u.error.text),
				 "service %s refused: %.160s", svc->name, why);
	}
	if (refused) {
		err.u.error.code = ZT_APP_DENIED;
		if (refused > 1) {
			size_t l = strlen(err.u.error.text);

			snprintf(err.u.error.text + l,
				 sizeof(err.u.error.text) - l,
				 " (and %zu more; see the relay's log)",
				 refused - 1);
		}
		relay_send(p, &err);
	}
	return n;
}

static int reg_allowed(struct peer *p)
{
	uint64_t now = zt_now();

	if (p->reg_at == 0)
		p->reg_tokens = REG_BURST;
	else
		p->reg_tokens += (double)(now - p->reg_at) / REG_REFILL_NS;
	if (p->reg_tokens > REG_BURST)
		p->reg_tokens = REG_BURST;
	p->reg_at = now;
	if (p->reg_tokens < 1)
		return 0;
	p->reg_tokens -= 1;
	return 1;
}

/* The latest REGISTER wins; it is judged and applied with the next
 * rebuild (rebuild_cb). */
static int on_register(struct relay *r, struct peer *p,
		       const struct zt_ctrl_msg *m)
{
	struct zt_service *copy = NULL;

	if (zt_qconn_peer(p->c)->role != ZT_ROLE_CONNECTOR)
		return ZT_APP_DENIED;
	if (!reg_allowed(p))
		return ZT_APP_TOO_BIG;
	r->registers++;
	if (m->u.reg.n) {
		copy = malloc(m->u.reg.n * sizeof(*copy));
		if (!copy)
			return ZT_APP_INTERNAL;
		memcpy(copy, m->u.reg.services, m->u.reg.n * sizeof(*copy));
	}
	free(p->pending);
	p->pending = copy;
	p->n_pending = m->u.reg.n;
	p->has_pending = 1;
	push_all(r);
	return 0;
}

static void apply_register(struct relay *r, struct peer *p)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_REGISTER };
	struct zt_service *copy = NULL;
	size_t n;

	m.u.reg.services = p->pending;
	m.u.reg.n = p->n_pending;
	p->has_pending = 0;
	if (m.u.reg.n && !(copy = malloc(m.u.reg.n * sizeof(*copy)))) {
		zt_ctrl_fail(p->c, p->sid, ZT_APP_INTERNAL, "out of memory");
		goto out;
	}
	n = filter_register(r, p, &m, copy);
	/* A repeat (reload without changes) changes no agent's catalog. */
	if (n == p->n_services && (n == 0 || (p->services &&
	    memcmp(p->services, copy, n * sizeof(*copy)) == 0)))
		goto out;
	free(p->services);
	p->services = copy;
	p->n_services = n;
	copy = NULL;
	log_info("relay: %s registered %zu service(s)%s", zt_qconn_label(p->c),
		 n, n < m.u.reg.n ? " (others refused)" : "");
out:
	free(copy);
	free(p->pending);
	p->pending = NULL;
	p->n_pending = 0;
}

/* Returns 0 or the ZT_APP_* code to close the peer with. */
static int dispatch(struct relay *r, struct peer *p,
		    const struct zt_ctrl_msg *m)
{
	if (!p->hello && m->type != ZT_CTRL_HELLO)
		return ZT_APP_PROTOCOL;
	if (p->hello && m->version != p->version)
		return ZT_APP_VERSION;
	switch (m->type) {
	case ZT_CTRL_HELLO:
		return on_hello(r, p, m);
	case ZT_CTRL_REGISTER:
		return on_register(r, p, m);
	case ZT_CTRL_ERROR: {
		char t[4 * sizeof(m->u.error.text)];

		log_warn("relay: %s reports error %u: %s", zt_qconn_label(p->c),
			 m->u.error.code,
			 zt_log_escape(t, sizeof(t), m->u.error.text));
		return 0;
	}
	case ZT_CTRL_SESSION_OPEN:
	case ZT_CTRL_SESSION_ACCEPT:
	case ZT_CTRL_SESSION_REFUSE:
	case ZT_CTRL_SESSION_CLOSE:
	case ZT_CTRL_SESSION_CANDIDATES:
		return rb_message(r, p, m);
	default:
		return ZT_APP_PROTOCOL;
	}
}

static const char *app_error_text(int code)
{
	switch (code) {
	case ZT_APP_VERSION: return "control protocol version changed after HELLO";
	case ZT_APP_DENIED: return "only connectors register services";
	case ZT_APP_TOO_BIG: return "too many REGISTER messages";
	case ZT_APP_PROTOCOL: return "unexpected control message";
	default: return "control message refused";
	}
}

static void peer_data(struct zt_qconn *c, int64_t sid, const uint8_t *data,
		      size_t len, int fin, void *owner)
{
	struct peer *p = owner;
	struct relay *r = p->r;
	struct zt_ctrl_msg m;
	int rv;

	zt_qconn_stream_consumed(c, sid, len);
	if (p->sid < 0)
		p->sid = sid;
	if (sid != p->sid) {
		zt_ctrl_fail(c, p->sid, ZT_APP_PROTOCOL,
			     "only one control stream is allowed");
		return;
	}
	rv = zt_ctrl_reader_feed(&p->rd, data, len);
	while (rv == 0 && (rv = zt_ctrl_reader_next(&p->rd, &m)) == 0) {
		int app = dispatch(r, p, &m);
		int type = m.type;

		zt_ctrl_msg_free(&m);
		if (app != 0) {
			char t[96];

			snprintf(t, sizeof(t), "%s (%s)", app_error_text(app),
				 zt_ctrl_type_name(type));
			zt_ctrl_fail(c, p->sid, (uint32_t)app, t);
			return;
		}
	}
	if (rv != 0 && rv != ZT_ETRUNC) {
		char t[96];

		snprintf(t, sizeof(t), "bad control message: %s",
			 zt_strerror(rv));
		zt_ctrl_fail(c, p->sid, zt_ctrl_app_error(rv), t);
	}
}

static void peer_datagram(struct zt_qconn *c, const uint8_t *data, size_t len,
			  void *owner)
{
	struct peer *p = owner;

	if (p->hello)
		rb_datagram(p->r, p, data, len);
}

static void peer_path_changed(struct zt_qconn *c, void *owner)
{
	struct peer *p = owner;
	struct relay *r = p->r;

	if (!p->hello)
		return;
	log_info("relay: %s changed address", zt_qconn_label(c));
	send_observed(p);
	if (p->n_services)
		push_all(r);
}

static void peer_closed(struct zt_qconn *c, const struct zt_close_info *ci,
			void *owner)
{
	struct peer *p = owner, **pp;
	struct relay *r = p->r;
	int had_services;

	for (pp = &r->peers; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = p->next;
	had_services = p->n_services > 0;
	rb_peer_gone(r, p);
	log_info("relay: %s disconnected%s%s", zt_qconn_label(c),
		 ci->reason[0] ? ": " : "", ci->reason);
	peer_free(p);
	if (had_services)
		push_all(r);
}

static const struct zt_qconn_ops peer_qops = {
	.stream_data = peer_data,
	.datagram = peer_datagram,
	.path_changed = peer_path_changed,
	.closed = peer_closed,
};

/* Accepted connections come here first, the daemon as owner; each
 * becomes a peer, which then takes the connection's events. */
static void accept_established(struct zt_qconn *c, void *owner)
{
	struct zt_daemon *d = owner;
	struct relay *r = d->role;
	struct peer *p;

	/* Not before the role exists, nor once it stopped (its timer and
	 * peers are gone; the connection is closed with the rest). */
	if (!r || d->stopping)
		return;
	p = calloc(1, sizeof(*p));
	if (!p) {
		zt_qconn_close(c, ZT_APP_INTERNAL, "out of memory", zt_now());
		return;
	}
	p->r = r;
	p->c = c;
	p->sid = -1;
	p->since_ns = zt_now();
	zt_ctrl_reader_init(&p->rd);
	p->next = r->peers;
	r->peers = p;
	zt_qconn_set_ops(c, &peer_qops, p);
	log_info("relay: %s connected", zt_qconn_label(c));
}

static const struct zt_qconn_ops relay_accept_ops = {
	.established = accept_established,
};

static int relay_start(struct zt_daemon *d)
{
	struct relay *r = calloc(1, sizeof(*r));
	int rv;

	if (!r)
		return ZT_ENOMEM;
	r->d = d;
	d->role = r;
	/* A relay's work is mostly sending: one sendmsg per forwarded
	 * packet was half its CPU (perf, bench/RESULTS.md 2026-12-02). */
	zt_netio_gso(d->env.net, 1);
	uv_timer_init(d->loop, &r->rebuild);
	r->rebuild.data = r;
	rv = rb_init(r);
	return rv != 0 ? rv : rtcp_start(r);
}

static void relay_stop(struct zt_daemon *d)
{
	struct relay *r = d->role;

	if (!r)
		return;
	while (r->peers) {
		struct peer *p = r->peers;

		r->peers = p->next;
		zt_qconn_set_ops(p->c, NULL, NULL);
		peer_free(p);
	}
	rb_stop(r);
	rtcp_stop(r);
	uv_close((uv_handle_t *)&r->rebuild, NULL);
}

/* Freed after the loop: libuv still owns the timer until then. */
static void relay_destroy(struct zt_daemon *d)
{
	if (d->role)
		rtcp_destroy(d->role);
	free(d->role);
	d->role = NULL;
}

static void peer_status(const struct peer *p, struct zt_sb *b, int json,
			int first)
{
	const struct zt_identity *id = zt_qconn_peer(p->c);
	char a[64];
	uint64_t age = (zt_now() - p->since_ns) / 1000000000ULL;
	size_t n = id->role == ZT_ROLE_CONNECTOR ? p->n_services : p->catalog_n;

	zt_addr_str(&p->observed, a, sizeof(a));
	if (json) {
		zt_sb_printf(b, "%s{\"role\":\"%s\",\"name\":", first ? "" : ",",
			     zt_role_name(id->role));
		zt_sb_json_str(b, id->name);
		zt_sb_printf(
			b,
			",\"address\":\"%s\",\"transport\":\"%s\","
			"\"rtt_ms\":%.3f,\"connected_s\":%llu,"
			"\"%s\":%zu}",
			p->observed.family ? a : "", rtcp_transport(p->c),
			zt_qconn_rtt_ns(p->c) / 1e6, (unsigned long long)age,
			id->role == ZT_ROLE_CONNECTOR ? "services" : "catalog",
			n);
		return;
	}
	zt_sb_printf(b, "  %-9s %-20s %-22s %s  rtt %.2f ms  %zu %s  %llus\n",
		     zt_role_name(id->role), id->name,
		     p->observed.family ? a : "(over TCP)",
		     rtcp_transport(p->c), zt_qconn_rtt_ns(p->c) / 1e6, n,
		     id->role == ZT_ROLE_CONNECTOR ? "services" : "in catalog",
		     (unsigned long long)age);
}

static void relay_status(struct zt_daemon *d, struct zt_sb *b, int json)
{
	struct relay *r = d->role;
	size_t agents = 0, connectors = 0;
	int first = 1;

	for (struct peer *p = r->peers; p; p = p->next) {
		if (zt_qconn_peer(p->c)->role == ZT_ROLE_AGENT)
			agents++;
		else
			connectors++;
	}
	zt_sb_printf(b, json ? "{" : "");
	zt_daemon_status_head(d, b, json);
	if (json)
		zt_sb_printf(b, ",\"agents\":%zu,\"connectors\":%zu,"
			     "\"registers\":%llu,\"catalog_rebuilds\":%llu,"
			     "\"peers\":[", agents, connectors,
			     (unsigned long long)r->registers,
			     (unsigned long long)r->rebuilds);
	else
		zt_sb_printf(b, "peers:     %zu agents, %zu connectors\n"
			     "catalogs:  %llu REGISTER, %llu rebuilds\n",
			     agents, connectors,
			     (unsigned long long)r->registers,
			     (unsigned long long)r->rebuilds);
	for (struct peer *p = r->peers; p; p = p->next, first = 0)
		peer_status(p, b, json, first);
	zt_sb_printf(b, json ? "]" : "");
	rtcp_status(r, b, json);
	rb_status(r, b, json);
	zt_sb_printf(b, json ? "}\n" : "");
}

const struct zt_role_ops zt_relay_ops = {
	.name = "relay",
	.role = ZT_ROLE_RELAY,
	.accept_roles = (1u << ZT_ROLE_AGENT) | (1u << ZT_ROLE_CONNECTOR),
	.start = relay_start,
	.stop = relay_stop,
	.destroy = relay_destroy,
	.status = relay_status,
	.accept = &relay_accept_ops,
};
