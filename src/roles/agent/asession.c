/* Agent sessions to connectors: one QUIC connection per connector, dialled
 * on a flow's first need; the catalog checked against the certificate each
 * connector showed; the header that asks a connector for a flow, its
 * answer, and the stream and DATAGRAM callbacks that hand bytes to the
 * flows (aflow_tcp.c, aflow_dgram.c). */
#include "aflow_int.h"
#include "arecheck.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "err.h"
#include "flowhdr.h"
#include "grant.h"
#include "log.h"

/* --- sessions to connectors --- */

/* The session's connection events, owner the session (end of file). */

static struct asession *session_find(struct zt_aflows *af, const char *name)
{
	for (struct asession *s = af->sessions; s; s = s->next)
		if (strcmp(s->connector, name) == 0)
			return s;
	return NULL;
}

/* A session packet must never go into our own tunnel: not to a synthetic
 * address, nor into a service's range (a connector announces its
 * target-side address too, and that one is routed to the TUN). */
int zt_aflows_in_tunnel(const struct zt_aflows *af, const struct zt_addr *a)
{
	uint32_t ip4;

	if (a->family == AF_INET) {
		memcpy(&ip4, a->ip, 4);
		if ((ntohl(ip4) >> (32 - ZT_AGENT_POOL4_PREFIX)) ==
		    (ZT_AGENT_POOL4 >> (32 - ZT_AGENT_POOL4_PREFIX)))
			return 1;
	}
	for (size_t i = 0; i < af->n_catalog; i++)
		for (size_t j = 0; j < af->catalog[i].svc.n_cidrs; j++)
			if (zt_cidr_contains(&af->catalog[i].svc.cidrs[j], a))
				return 1;
	return 0;
}

/* The direct attempt: the observed (public) address first; the next one
 * only after an attempt failed (see session_closed). */
static int session_dial_direct(struct asession *s)
{
	const struct zt_env *env = s->af->env;
	struct sockaddr_storage ss;
	socklen_t len;
	int rv;

	for (size_t i = 0; i < s->n_addrs; i++, s->next_addr++)
		if (!zt_aflows_in_tunnel(s->af,
					 &s->addrs[s->next_addr % s->n_addrs]))
			break;
	if (s->n_addrs == 0 ||
	    zt_aflows_in_tunnel(s->af, &s->addrs[s->next_addr % s->n_addrs]))
		return ZT_ENOTFOUND;
	len = zt_addr_to_sockaddr(&s->addrs[s->next_addr % s->n_addrs], &ss);
	rv = zt_ep_connect(env->ep, env->path, (struct sockaddr *)&ss, len,
			   NULL, ZT_ROLE_CONNECTOR, &asession_qops, s, &s->c,
			   zt_now());
	if (rv != 0)
		s->c = NULL;
	return rv;
}

/* Both ways at once: through a relay (works behind any NAT) and direct
 * (when the connector's address answers); the first session up wins, so
 * the first byte waits for neither. Returns 0 when one attempt started. */
static int session_connect(struct asession *s)
{
	const struct zt_aflows_relay *r = &s->af->relay;
	int direct = s->c ? 0 : session_dial_direct(s);
	int relayed = ZT_ENOTFOUND;

	if (s->rc || s->relay_req)
		relayed = 0;
	else if (r->open && r->open(r->user, s->connector, &s->relay_req) != 0)
		s->relay_req = 0;
	else if (r->open)
		relayed = 0;
	return direct == 0 || relayed == 0 ? 0 : direct;
}

/* Ends an attempt of ours without hearing of it again. */
void asession_attempt_drop(struct zt_qconn **c, const char *why)
{
	if (!*c)
		return;
	zt_qconn_set_ops(*c, NULL, NULL);
	zt_qconn_close(*c, ZT_APP_SHUTDOWN, why, zt_now());
	*c = NULL;
}

void asession_relay_release(struct asession *s)
{
	const struct zt_aflows_relay *r = &s->af->relay;
	uint32_t req = s->relay_req;

	s->relay_req = 0;
	if (req && r->close)
		r->close(r->user, req);
}

/* A connector that restarted comes back on another port, and the catalog
 * says so before our attempt to the old address times out (10 s): give up
 * that attempt, without failing the flows waiting on it, and dial anew. */
static void session_use_addrs(struct asession *s,
			      const struct zt_catalog_entry *e)
{
	int gone = 0;

	/* Only when the address being tried is no longer listed: relays
	 * that list one connector with different observed addresses must
	 * not restart each other's attempts. */
	if (s->c && !s->up && s->n_addrs) {
		const struct zt_addr *cur =
			&s->addrs[s->next_addr % s->n_addrs];

		gone = 1;
		for (size_t i = 0; i < e->n_addrs && gone; i++)
			gone = !zt_addr_equal(cur, &e->addrs[i]);
	}
	memcpy(s->addrs, e->addrs, sizeof(s->addrs));
	s->n_addrs = e->n_addrs;
	if (!gone)
		return;
	log_info("connector %s moved: dialling its new address", s->connector);
	zt_qconn_set_ops(s->c, NULL, NULL);
	zt_qconn_close(s->c, ZT_APP_SHUTDOWN, "connector moved", zt_now());
	s->c = NULL;
	s->next_addr = 0;
	if (session_connect(s) != 0)
		log_warn("connector %s: cannot dial its new address",
			 s->connector);
}

struct asession *asession_get(struct zt_aflows *af,
			      const struct zt_catalog_entry *e)
{
	struct asession *s = session_find(af, e->connector);

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->af = af;
		snprintf(s->connector, sizeof(s->connector), "%s",
			 e->connector);
		s->next = af->sessions;
		af->sessions = s;
	}
	session_use_addrs(s, e);
	if (!s->c && !s->rc && !s->relay_req && session_connect(s) != 0)
		return NULL;
	return s;
}

/* Flows wait on the hash table with state A_WAIT_SESSION. */
static void session_flush_waiting(struct asession *s)
{
	struct zt_aflows *af = s->af;

	for (size_t b = 0; b < af->nbuckets; b++)
		for (struct aflow *f = af->table[b], *n; f; f = n) {
			n = f->next;
			if (f->s == s && f->state == A_WAIT_SESSION)
				asession_send_header(f);
		}
}

static void routes_update(struct zt_aflows *af);

/* The relay checked the connectors' publishing rights; we check again with
 * the certificate we saw ourselves: an entry its connector is not granted
 * is dropped (no DNS name, no route, no flow). Entries of connectors not
 * yet met stay until their session comes up. */
static void catalog_check(struct zt_aflows *af)
{
	size_t n = 0, dropped = 0;

	for (size_t i = 0; i < af->n_catalog; i++) {
		const struct zt_catalog_entry *e = &af->catalog[i];
		struct asession *s = session_find(af, e->connector);
		char why[200];

		if (s && s->peer_known &&
		    !zt_grant_covers(&s->peer, &e->svc, why, sizeof(why))) {
			log_warn("catalog: service %s of connector %s dropped: "
				 "its certificate does not grant it (%s)",
				 e->svc.name, e->connector, why);
			dropped++;
			continue;
		}
		af->catalog[n++] = *e;
	}
	af->n_catalog = n;
	if (dropped)
		routes_update(af);
}

int zt_aflows_entry_refused(struct zt_aflows *af,
			    const struct zt_catalog_entry *e, char *why,
			    size_t why_len)
{
	struct asession *s = session_find(af, e->connector);

	return s && s->peer_known &&
	       !zt_grant_covers(&s->peer, &e->svc, why, why_len);
}

static void session_established(struct zt_qconn *c, void *owner)
{
	struct asession *s = owner;
	struct zt_aflows *af = s->af;

	if (strcmp(zt_qconn_peer(c)->name, s->connector) != 0) {
		log_warn("connector at %s is %s, expected %s",
			 zt_qconn_label(c), zt_qconn_peer(c)->name,
			 s->connector);
		zt_qconn_close(c, ZT_APP_DENIED, "unexpected connector",
			       zt_now());
		return;
	}
	if (c == s->rc) {
		asession_attempt_drop(&s->c, "the relayed session was first");
		s->c = c;
		s->rc = NULL;
		s->relayed = 1;
	} else {
		asession_attempt_drop(&s->rc, "the direct session was first");
		asession_relay_release(s);
		s->relayed = 0;
		s->via[0] = 0;
	}
	s->up = 1;
	s->up_since = uv_hrtime();
	s->direct = s->migrating = s->recovering = 0;
	s->path_since = zt_now();
	snprintf(s->why, sizeof(s->why), "%s",
		 s->relayed ? "relayed: first session up" : "direct: first up");
	s->peer = *zt_qconn_peer(c);
	s->peer_known = 1;
	log_info("session to connector %s up, %s%s (%s)", s->connector,
		 s->relayed ? "relayed via " : "direct", s->via,
		 zt_qconn_label(c));
	catalog_check(af);
	session_flush_waiting(s);
}

/* Every attempt failed, or the session in use ended: its flows die with
 * it (RST to the applications, which will retry and get a fresh
 * session). */
void asession_drop_flows(struct asession *s)
{
	struct zt_aflows *af = s->af;

	s->up = 0;
	s->relayed = 0;
	s->direct = s->migrating = s->recovering = 0;
	for (size_t b = 0; b < af->nbuckets; b++)
		for (struct aflow *f = af->table[b], *n; f; f = n) {
			n = f->next;
			if (f->s == s) {
				f->s = NULL;
				aflow_reset_app(f, "connector session ended");
			}
		}
}

static void session_closed(struct zt_qconn *c, const struct zt_close_info *ci,
			   void *owner)
{
	struct asession *s = owner;

	if (c == s->rc) {
		/* The relayed attempt failed; the direct one may still win. */
		s->rc = NULL;
		asession_relay_release(s);
		log_info("session to connector %s via %s failed%s%s",
			 s->connector, s->via, ci->reason[0] ? ": " : "",
			 ci->reason);
		if (s->c)
			return;
	} else if (c == s->c && !s->up && (s->rc || s->relay_req)) {
		s->c = NULL;
		s->next_addr++;
		log_info("session to connector %s: direct attempt failed%s%s; "
			 "still trying through a relay",
			 s->connector, ci->reason[0] ? ": " : "", ci->reason);
		return;
	} else if (c != s->c) {
		return;
	} else {
		log_info("session to connector %s %s%s%s", s->connector,
			 s->up ? "lost" : "failed", ci->reason[0] ? ": " : "",
			 ci->reason);
		s->c = NULL;
		s->next_addr = s->up ? 0 : s->next_addr + 1;
		asession_relay_release(s);
	}
	asession_drop_flows(s);
}

/* --- the flow header and the connector's answer --- */

/* A flow waiting for its session: is its service still in the checked
 * catalog for this connector? */
static int flow_granted(const struct aflow *f)
{
	const struct zt_aflows *af = f->af;

	for (size_t i = 0; i < af->n_catalog; i++)
		if (strcmp(af->catalog[i].connector, f->s->connector) == 0 &&
		    strcmp(af->catalog[i].svc.name, f->service) == 0)
			return 1;
	return 0;
}

/* Returns 0, or -1 when the flow failed and was freed. */
int asession_send_header(struct aflow *f)
{
	struct zt_flow_hdr h = { .proto = f->proto, .dst = f->dst };
	uint8_t buf[ZT_FLOW_HDR_MAX];
	size_t n;

	if (!flow_granted(f)) {
		aflow_reset_app(f, "the connector's certificate does not grant "
				   "the service");
		return -1;
	}
	snprintf(h.service, sizeof(h.service), "%s", f->service);
	n = zt_flow_hdr_encode(&h, buf, sizeof(buf));
	if (n == 0 || zt_qconn_stream_open(f->s->c, &f->sid) != 0) {
		aflow_reset_app(f, "cannot open a stream");
		return -1;
	}
	zt_qconn_stream_set_user(f->s->c, f->sid, f);
	zt_qconn_stream_send(f->s->c, f->sid, buf, n, 0);
	f->state = A_WAIT_REPLY;
	return 0;
}

/* The connector's one-byte answer: go ahead with the handshake, or RST. */
static void flow_reply(struct aflow *f, uint8_t status)
{
	char d[64];

	if (status != ZT_FLOW_OK) {
		log_info("deny %s -> %s (%s): connector: %s",
			 aflow_proto_str(f->proto),
			 zt_addr_str(&f->dst, d, sizeof(d)), f->service,
			 zt_flow_status_name(status));
		if (f->proto != ZT_IPPROTO_TCP) {
			/* Keep the refusal for a while: asking the connector
			 * again for every datagram would flood it. Our FIN
			 * lets the stream close (and its slot come back). */
			zt_qconn_stream_send(f->s->c, f->sid, NULL, 0, 1);
			zt_qconn_stream_set_user(f->s->c, f->sid, NULL);
			f->sid = -1;
			f->state = A_DONE;
			f->last_ns = uv_hrtime();
			return;
		}
		aflow_reset_app(f, NULL);
		return;
	}
	if (f->proto != ZT_IPPROTO_TCP) {
		f->state = A_OPEN;
		aflow_dgram_flush(f);
		return;
	}
	aflow_tcp_accept(f);
}

static void session_stream_data(struct zt_qconn *c, int64_t sid,
				const uint8_t *d, size_t n, int fin,
				void *owner)
{
	struct aflow *f = zt_qconn_stream_user(c, sid);

	if (!f) {
		zt_qconn_stream_consumed(c, sid, n);
		return;
	}
	if (f->proto != ZT_IPPROTO_TCP && f->state == A_OPEN) {
		/* Datagram flows: the stream only carries the end. */
		zt_qconn_stream_consumed(c, sid, n);
		if (fin) {
			zt_qconn_stream_send(c, sid, NULL, 0, 1);
			zt_qconn_stream_set_user(c, sid, NULL);
			f->sid = -1;
			aflow_log_end(f, "ended by the connector");
			aflow_free(f);
		}
		return;
	}
	if (f->state == A_WAIT_REPLY && n > 0) {
		zt_qconn_stream_consumed(c, sid, 1);
		flow_reply(f, d[0]);
		f = zt_qconn_stream_user(c, sid);
		if (!f)
			return;
		d++;
		n--;
	}
	aflow_tcp_data(f, c, sid, d, n, fin);
}

static void session_stream_acked(struct zt_qconn *c, int64_t sid, void *owner)
{
	struct aflow *f = zt_qconn_stream_user(c, sid);

	if (f && f->unrecved &&
	    zt_qconn_stream_buffered(c, sid) < A_PAUSE_ABOVE)
		aflow_tcp_credit(f);
}

static void session_stream_closed(struct zt_qconn *c, int64_t sid, int reset,
				  uint64_t app_error, void *owner)
{
	struct aflow *f = zt_qconn_stream_user(c, sid);

	if (!f)
		return;
	log_debug("flow %s: stream closed (%s %llu)", f->service,
		  reset ? "reset" : "clean", (unsigned long long)app_error);
	f->sid = -1;
	/* A reset with code 0 is still a reset: the bytes may be cut. */
	if (reset) {
		aflow_reset_app(f, "reset by target");
		return;
	}
	f->stream_done = 1;
	if (f->state == A_OPEN)
		aflow_log_end(f, NULL);
	if (f->proto != ZT_IPPROTO_TCP) {
		aflow_free(f);
		return;
	}
	aflow_tcp_drain(f);
}

static void session_datagram(struct zt_qconn *c, const uint8_t *d, size_t n,
			     void *owner)
{
	int64_t sid;
	size_t pl = zt_flow_dgram_get(d, n, &sid);
	struct aflow *f;

	if (!pl)
		return;
	f = zt_qconn_stream_user(c, sid);
	if (!f || f->proto == ZT_IPPROTO_TCP || f->state != A_OPEN)
		return;
	aflow_dgram_in(f, d + pl, n - pl);
}

/* --- the catalog: set, re-checked against live flows, routed --- */

void zt_aflows_set_catalog(struct zt_aflows *af,
			   const struct zt_catalog_entry *e, size_t n)
{
	struct zt_catalog_entry *copy = NULL;

	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return;
		memcpy(copy, e, n * sizeof(*copy));
	}
	free(af->catalog);
	af->catalog = copy;
	af->n_catalog = n;
	catalog_check(af);
	for (size_t i = 0; i < af->n_catalog; i++) {
		struct asession *s = session_find(af, af->catalog[i].connector);

		if (s)
			session_use_addrs(s, &af->catalog[i]);
	}
}

/* The catalog test is arecheck.c; flows not yet sent to their connector
 * are checked again before their header goes out (flow_granted). */
static void flow_recheck(struct aflow *f, const struct zt_catalog_entry *e,
			 size_t n)
{
	struct zt_arecheck_flow q = { f->s->connector, f->service, NULL,
				      f->proto, &f->dst };
	const char *why;
	uint32_t ip4;

	if (f->dst.family == AF_INET) {
		memcpy(&ip4, f->dst.ip, 4);
		q.hostname = zt_synth_name(f->af->synth, ntohl(ip4));
	}
	if ((why = zt_arecheck(e, n, &q)) == NULL)
		return;
	log_warn("flow to %s (%s) no longer allowed: %s", f->service,
		 f->s->connector, why);
	aflow_reset_app(f, "no longer allowed");
}

void zt_aflows_recheck(struct zt_aflows *af, const struct zt_catalog_entry *e,
		       size_t n)
{
	for (size_t b = 0; b < af->nbuckets; b++)
		for (struct aflow *f = af->table[b], *nx; f; f = nx) {
			nx = f->next;
			if (f->s && f->state != A_WAIT_SESSION &&
			    f->state != A_DONE)
				flow_recheck(f, e, n);
		}
}

/* Entries the agent refused itself get no route either. */
static size_t drop_refused(struct zt_aflows *af, struct zt_catalog_entry *e,
			   size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		char why[200];

		if (!zt_aflows_entry_refused(af, &e[i], why, sizeof(why)))
			e[k++] = e[i];
	}
	return k;
}

static void routes_update(struct zt_aflows *af)
{
	af->routes.n_entries =
		drop_refused(af, af->routes.entries, af->routes.n_entries);
	if (af->src.ops)
		zt_aroutes_refresh(&af->routes, &af->src);
}

void zt_aflows_set_routes(struct zt_aflows *af,
			  const struct zt_catalog_entry *e, size_t n,
			  const struct zt_addr *relays, size_t n_relays)
{
	struct zt_catalog_entry *ok = NULL;

	if (!af->src.ops)
		return;
	if (n && !(ok = malloc(n * sizeof(*ok))))
		return;
	if (n)
		memcpy(ok, e, n * sizeof(*ok));
	n = drop_refused(af, ok, n);
	zt_aroutes_set(&af->routes, &af->src, ok, n, relays, n_relays);
	free(ok);
}

void asession_stop_all(struct zt_aflows *af)
{
	while (af->sessions) {
		struct asession *s = af->sessions;

		af->sessions = s->next;
		if (s->c)
			zt_qconn_set_ops(s->c, NULL, NULL);
		if (s->rc)
			zt_qconn_set_ops(s->rc, NULL, NULL);
		free(s);
	}
}

/* The connector's candidates as punching sees them. */
static void cands_status(const struct zt_relay_desc *d, struct zt_sb *b,
			 int json)
{
	const struct zt_punch *p = d->punch;
	uint64_t now = zt_now();
	char a[64];

	if (json)
		zt_sb_printf(b,
			     ",\"nat\":{\"ours\":\"%s\",\"connector\":\"%s\"},"
			     "\"candidates\":[",
			     zt_nat_kind_name(d->nat_ours),
			     zt_nat_kind_name(d->nat_theirs));
	for (size_t i = 0; p && i < p->n; i++) {
		const struct zt_punch_cand *c = &p->c[i];
		const char *st = c->state == ZT_CAND_VALID   ? "answered" :
				 d->skipped                  ? "not probed" :
				 c->state == ZT_CAND_PROBING ? "probing" :
							       "no answer";
		double ago = c->pong_at ? (now - c->pong_at) / 1e9 : -1;

		zt_addr_str(&c->addr, a, sizeof(a));
		if (json) {
			zt_sb_printf(b, "%s{\"addr\":", i ? "," : "");
			zt_sb_json_str(b, a);
			zt_sb_printf(b,
				     ",\"type\":\"%s\",\"state\":\"%s\","
				     "\"probes\":%u,\"rtt_ms\":%.3f,"
				     "\"answered_s_ago\":%.1f}",
				     zt_cand_type_name(c->type), st, c->sent,
				     c->rtt_ns / 1e6, ago);
			continue;
		}
		zt_sb_printf(b, "      candidate %-5s %-24s %s",
			     zt_cand_type_name(c->type), a, st);
		if (ago >= 0)
			zt_sb_printf(b, ", rtt %.2f ms, last answer %.1f s ago",
				     c->rtt_ns / 1e6, ago);
		zt_sb_printf(b, "\n");
	}
	if (json)
		zt_sb_printf(b, "]");
}

void asession_status(struct zt_aflows *af, struct zt_sb *b, int json)
{
	const struct zt_aflows_relay *r = &af->relay;
	char a[64], path[360];
	int first = 1;

	for (struct asession *x = af->sessions; x; x = x->next, first = 0) {
		double rtt = x->c && x->up ? zt_qconn_rtt_ns(x->c) / 1e6 : 0;
		struct zt_addr ra = { 0 };
		uint64_t tx = 0, rx = 0;
		const char *st = x->up ? "up" : "connecting";
		struct zt_relay_desc d;
		int have_d = x->relay_req && r->describe &&
			     r->describe(r->user, x->relay_req, &d) == 0;
		const char *why = x->why;

		if (have_d && x->up && x->relayed && !x->direct &&
		    d.verdict[0] && strncmp(why, "relayed: first", 14) == 0)
			why = d.verdict;
		if (x->c) {
			zt_qconn_remote(x->c, &ra);
			zt_qconn_bytes(x->c, &tx, &rx);
		}
		if (x->up && x->relayed && !x->direct)
			snprintf(path, sizeof(path), "relayed via %s",
				 have_d ? d.via : x->via);
		else
			snprintf(path, sizeof(path), "direct %s%s",
				 zt_addr_str(&ra, a, sizeof(a)),
				 !x->up && (x->rc || x->relay_req) ?
					 " and through a relay" :
					 "");
		if (json) {
			zt_sb_printf(b, "%s{\"connector\":", first ? "" : ",");
			zt_sb_json_str(b, x->connector);
			zt_sb_printf(b, ",\"state\":\"%s\",\"path\":", st);
			zt_sb_json_str(b, path);
			zt_sb_printf(b, ",\"why\":");
			zt_sb_json_str(b, why);
			if (have_d)
				cands_status(&d, b, 1);
			zt_sb_printf(
				b,
				",\"upgrades\":%u,\"fallbacks\":%u,"
				"\"relay_moves\":%u,\"recovering\":%s,"
				"\"path_since_s\":%llu",
				x->upgrades, x->fallbacks, x->relay_moves,
				x->recovering ? "true" : "false",
				(unsigned long long)(x->up ? (zt_now() -
							      x->path_since) /
								     1000000000ULL :
							     0));
			zt_sb_printf(
				b,
				",\"relayed\":%s,\"rtt_ms\":%.3f,"
				"\"bytes_sent\":%llu,\"bytes_received\":%llu}",
				x->up && x->relayed && !x->direct ? "true" :
								    "false",
				rtt, (unsigned long long)tx,
				(unsigned long long)rx);
		} else {
			zt_sb_printf(
				b,
				"  %-16s %-10s %s  rtt %.2f ms  sent %llu B  received %llu B%s%s%s\n",
				x->connector, st, path, rtt,
				(unsigned long long)tx, (unsigned long long)rx,
				x->up && why[0] ? "  (" : "", x->up ? why : "",
				x->up && why[0] ? ")" : "");
			if (have_d && x->up)
				cands_status(&d, b, 0);
		}
	}
}

const struct zt_qconn_ops asession_qops = {
	.established = session_established,
	.path_validation = asession_path_validation,
	.stream_data = session_stream_data,
	.stream_acked = session_stream_acked,
	.stream_closed = session_stream_closed,
	.datagram = session_datagram,
	.closed = session_closed,
};
