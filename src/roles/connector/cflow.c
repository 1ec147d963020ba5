/* Connector data plane: agent sessions (server connections on the shared
 * socket) and their flows. Every flow is checked again here against the
 * service's allow list with the agent's certificate identity; the agent's
 * own filtering is never trusted. This file has the sessions, the header,
 * the check, the dial, the life cycle with its one close path, and status;
 * the TCP splice is cflow_tcp.c, UDP and ICMP flows cflow_dgram.c. */
#include "cflow_int.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "err.h"
#include "log.h"
#include "pkt.h"
#include "policy.h"
#include "rpath.h"

#define DIAL_TIMEOUT_MS 10000

const char zt_cflow_finished;

static const char *const state_names[] = {
	[CF_HDR] = "header",        [CF_DIAL] = "dialing",  [CF_OPEN] = "open",
	[CF_DRAINING] = "draining", [CF_CLOSED] = "closed",
};

/* The transitions of cflow_int.h, and no others. */
static int transition_ok(enum cflow_state from, enum cflow_state to)
{
	switch (to) {
	case CF_DIAL: return from == CF_HDR;
	case CF_OPEN: return from == CF_DIAL;
	case CF_DRAINING: return from == CF_OPEN;
	case CF_CLOSED: return from != CF_CLOSED;
	default: return 0;
	}
}

void cflow_set_state(struct cflow *f, enum cflow_state to)
{
	int ok = transition_ok(f->state, to);

	assert(ok);
	(void)ok;
	log_debug("flow %s %s: %s -> %s", f->user, f->hdr.service,
		  state_names[f->state], state_names[to]);
	f->state = to;
}

int cflow_has_stream(const struct cflow *f)
{
	return f->sess && !(f->flags & CF_STREAM_GONE);
}

static const char *proto_name(const struct cflow *f)
{
	return f->hdr.proto == ZT_IPPROTO_TCP ? "tcp" :
	       f->hdr.proto == ZT_IPPROTO_UDP ? "udp" :
						"icmp";
}

static void flow_log_end(struct cflow *f)
{
	double secs = (double)(uv_hrtime() - f->start_ns) / 1e9;

	log_info(
		"flow end: %s %s %s -> %s: up %llu B, down %llu B, %.2f s (%s)",
		f->user, proto_name(f), f->hdr.service,
		f->target[0] ? f->target : "-", (unsigned long long)f->up,
		(unsigned long long)f->down, secs,
		f->end_reason ? f->end_reason : "closed");
}

/* Gives the agent back receive credit for bytes we took off the stream.
 * After the stream closed only the connection's share matters, and it
 * still does: without it the session stalls. */
void cflow_credit(struct cflow *f, size_t n)
{
	if (n > f->owed)
		n = f->owed;
	f->owed -= n;
	if (f->sess && n)
		zt_qconn_stream_consumed(f->sess->c, f->sid, n);
}

void cflow_release(struct cflow *f)
{
	if (--f->refs == 0) {
		free(f->stage);
		free(f);
	}
}

static void session_unlink(struct cflow *f)
{
	struct csession *s = f->sess;

	if (f->prev)
		f->prev->next = f->next;
	else
		s->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->next = f->prev = NULL;
	s->n_flows--;
	f->sess = NULL;
}

static void timer_closed(uv_handle_t *h)
{
	cflow_release(h->data);
}

/* The one way a flow ends, from any state: logs once, settles the
 * stream (reset or left to end), returns the credit still owed, leaves
 * the session and closes the handles; freed when they have called back. */
void cflow_close(struct cflow *f, const char *why, enum cflow_end end)
{
	int was = f->state;

	if (was == CF_CLOSED)
		return;
	if (!f->end_reason)
		f->end_reason = why;
	cflow_set_state(f, CF_CLOSED);
	if (was != CF_HDR)
		flow_log_end(f);
	/* Bytes delivered to us but never written are still the agent's
	 * connection credit. */
	if (end != CF_END_DROP)
		cflow_credit(f, f->owed);
	if (cflow_has_stream(f)) {
		if (end == CF_END_RESET || end == CF_END_ABORT)
			zt_qconn_stream_reset(f->sess->c, f->sid,
					      end == CF_END_ABORT ?
						      ZT_FLOW_ERR_ABORT :
						      ZT_FLOW_ERR_RESET);
		zt_qconn_stream_set_user(f->sess->c, f->sid, CF_FINISHED);
		f->flags |= CF_STREAM_GONE;
	}
	session_unlink(f);
	f->stage_len = 0;
	uv_close((uv_handle_t *)&f->timer, timer_closed);
	/* A reset on one side becomes a reset on the other. */
	if (f->tc_open) {
		f->tc_open = 0;
		f->tc.ops->close(&f->tc, end != CF_END_CLEAN);
	}
}

void cflow_reply(struct cflow *f, int status)
{
	uint8_t b = (uint8_t)status;

	if (cflow_has_stream(f))
		zt_qconn_stream_send(f->sess->c, f->sid, &b, 1,
				     status != ZT_FLOW_OK);
}

/* A refusal is a status byte and a FIN. */
void cflow_refuse(struct cflow *f, int status, const char *why)
{
	log_warn("flow refused: %s %s -> %s port %u: %s", f->user,
		 f->hdr.service[0] ? f->hdr.service : "?",
		 zt_flow_status_name(status), f->hdr.dst.port, why);
	cflow_reply(f, status);
	cflow_close(f, why, CF_END_CLEAN);
}

/* --- the dial --- */

static void dial_timeout(uv_timer_t *t)
{
	cflow_refuse(t->data, ZT_FLOW_UNREACHABLE, "connect timed out");
}

/* The target connection is done with the flow. */
void cflow_tc_closed(struct zt_tconn *t)
{
	cflow_release(t->owner);
}

/* The dial's end, TCP or datagram alike. */
void cflow_tc_dialed(struct zt_tconn *t, int status, const char *why)
{
	struct cflow *f = t->owner;

	if (f->state != CF_DIAL)
		return;
	if (status != 0) {
		cflow_refuse(f, status, why);
		return;
	}
	cflow_set_state(f, CF_OPEN);
	uv_timer_stop(&f->timer);
	cflow_reply(f, ZT_FLOW_OK);
	if (f->hdr.proto == ZT_IPPROTO_TCP)
		cflow_tcp_open(f);
	else
		cflow_dgram_open(f);
}

/* Where to dial: the service's target, else its hostname, else the
 * destination the agent asked for (CIDR services). */
static void pick_target(const struct zt_service *svc, struct cflow *f,
			int dst_in_cidr, char *host, size_t hl, char *port,
			size_t pl)
{
	const char *t = svc->target;
	char ip[64];

	snprintf(port, pl, "%u", f->hdr.dst.port);
	if (t[0]) {
		const char *colon = strrchr(t, ':');
		const char *rb = strrchr(t, ']');

		if (colon && (!rb || colon > rb)) {
			snprintf(host, hl, "%.*s", (int)(colon - t), t);
			snprintf(port, pl, "%s", colon + 1);
		} else {
			snprintf(host, hl, "%s", t);
		}
		if (host[0] == '[') {
			memmove(host, host + 1, strlen(host));
			host[strcspn(host, "]")] = 0;
		}
	} else if (svc->hostname[0] && !dst_in_cidr) {
		snprintf(host, hl, "%s", svc->hostname);
	} else {
		inet_ntop(f->hdr.dst.family, f->hdr.dst.ip, ip, sizeof(ip));
		snprintf(host, hl, "%s", ip);
	}
}

static const struct zt_service *find_service(struct zt_cflows *cf,
					     const char *name)
{
	for (size_t i = 0; i < cf->cfg->n_services; i++)
		if (strcmp(cf->cfg->services[i].name, name) == 0)
			return &cf->cfg->services[i];
	return NULL;
}

static void flow_dial(struct cflow *f, const struct zt_service *svc)
{
	char host[ZT_HOST_MAX + 1], port[8];
	int in_cidr = zt_service_has_addr(svc, &f->hdr.dst);
	const char *why = NULL;
	int rv;

	pick_target(svc, f, in_cidr, host, sizeof(host), port, sizeof(port));
	snprintf(f->target, sizeof(f->target), "%s:%s", host, port);
	cflow_set_state(f, CF_DIAL);
	uv_timer_start(&f->timer, dial_timeout, DIAL_TIMEOUT_MS, 0);
	f->tc.ops = f->cf->targets;
	f->tc.cb = f->hdr.proto == ZT_IPPROTO_TCP ? &cflow_tcp_cbs :
						    &cflow_dgram_cbs;
	f->tc.owner = f;
	rv = f->tc.ops->dial(&f->tc, f->cf->loop, f->cf->targets_user,
			     f->hdr.proto, host, port, &why);
	if (rv != 0) {
		cflow_refuse(f, ZT_FLOW_UNREACHABLE,
			     why ? why : zt_strerror(rv));
		return;
	}
	f->tc_open = 1;
	f->refs++; /* the target connection holds the flow */
}

/* The zero-trust check: the agent's certificate identity against the
 * service's allow list, and the destination against the service, in the
 * current configuration. Returns why the flow is not allowed (and the
 * status to answer with), or NULL; for new flows and, after a reload,
 * live ones. */
const char *cflow_policy(const struct cflow *f, const struct zt_identity *id,
			 const struct zt_service **svc, int *status)
{
	struct zt_decision d;

	*svc = find_service(f->cf, f->hdr.service);
	d = zt_policy_flow(*svc, &f->hdr, id, status);
	return d.allow ? NULL : d.why;
}

static void flow_check(struct cflow *f)
{
	const struct zt_service *svc;
	int status;
	const char *why =
		cflow_policy(f, zt_qconn_peer(f->sess->c), &svc, &status);

	if (why)
		cflow_refuse(f, status, why);
	else if (f->sess->n_flows > f->cf->max_flows)
		cflow_refuse(f, ZT_FLOW_LIMIT, "too many flows for this agent");
	else
		flow_dial(f, svc);
}

/* --- streams --- */

static struct cflow *flow_new(struct zt_cflows *cf, struct csession *s,
			      int64_t sid)
{
	struct cflow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->cf = cf;
	f->sess = s;
	f->sid = sid;
	f->state = CF_HDR;
	f->start_ns = uv_hrtime();
	snprintf(f->user, sizeof(f->user), "%s", zt_qconn_peer(s->c)->name);
	uv_timer_init(cf->loop, &f->timer);
	f->timer.data = f;
	f->refs = 1;
	f->next = s->flows;
	if (s->flows)
		s->flows->prev = f;
	s->flows = f;
	s->n_flows++;
	zt_qconn_stream_set_user(s->c, sid, f);
	return f;
}

/* Collects the header; when complete, the check. Data after the header
 * before our answer is not part of the protocol. */
static void on_header(struct cflow *f, const uint8_t *d, size_t n, int fin)
{
	size_t room = sizeof(f->hdr_buf) - f->hdr_len;
	size_t take = n < room ? n : room;
	int used;

	zt_qconn_stream_consumed(f->sess->c, f->sid, n);
	memcpy(f->hdr_buf + f->hdr_len, d, take);
	f->hdr_len += take;
	used = zt_flow_hdr_decode(&f->hdr, f->hdr_buf, f->hdr_len);
	if (used == ZT_ETRUNC && f->hdr_len < sizeof(f->hdr_buf) && !fin)
		return;
	if (used < 0 || (size_t)used != f->hdr_len || take < n)
		cflow_refuse(f, ZT_FLOW_BAD_REQUEST, "malformed flow header");
	else if (fin)
		cflow_refuse(f, ZT_FLOW_BAD_REQUEST, "FIN before the answer");
	else
		flow_check(f);
}

static void on_stream_data(struct zt_cflows *cf, struct csession *s,
			   int64_t sid, const uint8_t *d, size_t n, int fin)
{
	struct cflow *f = zt_qconn_stream_user(s->c, sid);

	if (f == CF_FINISHED) {
		zt_qconn_stream_consumed(s->c, sid, n);
		return;
	}
	if (!f && !(f = flow_new(cf, s, sid))) {
		zt_qconn_stream_consumed(s->c, sid, n);
		zt_qconn_stream_reset(s->c, sid, ZT_FLOW_ERR_ABORT);
		return;
	}
	switch (f->state) {
	case CF_HDR: on_header(f, d, n, fin); break;
	case CF_OPEN:
		if (f->hdr.proto == ZT_IPPROTO_TCP) {
			cflow_tcp_data(f, d, n, fin);
			break;
		}
		zt_qconn_stream_consumed(s->c, sid, n);
		cflow_dgram_data(f, fin);
		break;
	default:
		/* Only a peer that does not wait for our answer gets here. */
		zt_qconn_stream_consumed(s->c, sid, n);
		cflow_close(f, "data before the flow was open", CF_END_ABORT);
		break;
	}
}

/* The agent opened a stream (any first frame): a flow, waiting for its
 * header from now on. Without memory the stream gets its flow with its
 * first byte. */
static void session_stream_opened(struct zt_qconn *c, int64_t sid, void *owner)
{
	struct csession *s = owner;

	if (!zt_qconn_stream_user(c, sid))
		flow_new(s->cf, s, sid);
}

/* The agent reset its side or stopped reading, with any code: 0 is not a
 * clean end. The flow is reset both ways at once. */
static void on_stream_reset(struct csession *s, int64_t sid)
{
	struct cflow *f = zt_qconn_stream_user(s->c, sid);

	if (f && f != CF_FINISHED)
		cflow_close(f, "reset by agent", CF_END_RESET);
}

static void on_stream_closed(struct csession *s, int64_t sid, int reset)
{
	struct cflow *f = zt_qconn_stream_user(s->c, sid);

	if (!f || f == CF_FINISHED)
		return;
	f->flags |= CF_STREAM_GONE; /* it is freed when we return */
	if (reset)
		cflow_close(f, "reset by agent", CF_END_RESET);
	else if (f->hdr.proto == ZT_IPPROTO_TCP)
		cflow_tcp_stream_ended(f);
	else
		cflow_close(f, "closed", CF_END_CLEAN);
}

/* --- sessions --- */

/* An agent's connection events, owner its session (below). */
static const struct zt_qconn_ops session_qops;

static void sweep_cb(uv_timer_t *t)
{
	zt_cflows_sweep(t->data, uv_hrtime());
}

void zt_cflows_init(struct zt_cflows *cf, uv_loop_t *loop,
		    const struct zt_config *cfg,
		    const struct zt_tconn_ops *targets, void *targets_user)
{
	memset(cf, 0, sizeof(*cf));
	cf->loop = loop;
	cf->targets = targets ? targets : &zt_tconn_uv_ops;
	cf->targets_user = targets_user;
	cf->cfg = cfg;
	cf->max_flows = 4096;
	cf->max_sessions = CF_SESSIONS_PER_AGENT;
	uv_timer_init(loop, &cf->sweep);
	cf->sweep.data = cf;
	uv_timer_start(&cf->sweep, sweep_cb, 5000, 5000);
}

void zt_cflows_session_new(struct zt_cflows *cf, struct zt_qconn *c)
{
	struct csession *s;

	if (cflow_session_admit(cf, c) != 0)
		return;
	s = calloc(1, sizeof(*s));
	if (!s) {
		zt_qconn_close(c, 7, "out of memory", uv_hrtime());
		return;
	}
	s->c = c;
	s->path_since = zt_now();
	s->cf = cf;
	s->next = cf->sessions;
	cf->sessions = s;
	zt_qconn_set_ops(c, &session_qops, s);
	log_info("%s connected", zt_qconn_label(c));
}

/* Every flow of the session ends with it, draining ones included. */
static void session_free(struct zt_cflows *cf, struct csession *s,
			 const char *why)
{
	struct csession **pp;

	while (s->flows)
		cflow_close(s->flows, why, CF_END_DROP);
	for (pp = &cf->sessions; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	free(s);
}

static void session_closed(struct zt_qconn *c, const struct zt_close_info *ci,
			   void *owner)
{
	struct csession *s = owner;

	log_info("%s disconnected%s%s", zt_qconn_label(c),
		 ci->reason[0] ? ": " : "", ci->reason);
	session_free(s->cf, s, "agent session ended");
}

static void session_stream_data(struct zt_qconn *c, int64_t sid,
				const uint8_t *d, size_t n, int fin,
				void *owner)
{
	struct csession *s = owner;

	on_stream_data(s->cf, s, sid, d, n, fin);
}

static void session_datagram(struct zt_qconn *c, const uint8_t *d, size_t n,
			     void *owner)
{
	int64_t sid;
	size_t pl = zt_flow_dgram_get(d, n, &sid);
	struct cflow *f;

	if (!pl)
		return;
	f = zt_qconn_stream_user(c, sid);
	if (f && f != CF_FINISHED)
		cflow_dgram_to_target(f, d + pl, n - pl);
}

/* Flows still without a header, idle datagram flows, and draining flows
 * whose target stopped taking. */
void zt_cflows_sweep(struct zt_cflows *cf, uint64_t now)
{
	for (struct csession *s = cf->sessions; s; s = s->next) {
		cflow_hdr_sweep(s, now);
		for (struct cflow *f = s->flows, *n; f; f = n) {
			n = f->next;
			if (f->hdr.proto == ZT_IPPROTO_TCP)
				cflow_tcp_sweep(f, now);
			else
				cflow_dgram_sweep(f, now);
		}
	}
}

static void session_stream_acked(struct zt_qconn *c, int64_t sid, void *owner)
{
	struct cflow *f = zt_qconn_stream_user(c, sid);

	if (f && f != CF_FINISHED && f->hdr.proto == ZT_IPPROTO_TCP)
		cflow_tcp_acked(f);
}

/* The agent reset the stream or stopped reading (any code, 0 included). */
static void session_stream_reset(struct zt_qconn *c, int64_t sid,
				 uint64_t app_error, void *owner)
{
	on_stream_reset(owner, sid);
}

/* reset: the stream ended by a reset, not by a FIN each way. */
static void session_stream_closed(struct zt_qconn *c, int64_t sid, int reset,
				  uint64_t app_error, void *owner)
{
	on_stream_closed(owner, sid, reset);
}

/* "direct ADDR" or "relayed via relayN #S gen G": where the agent's
 * session runs now, as the connection's current path says. */
static const char *path_text(const struct zt_qconn *c, char *buf, size_t n)
{
	struct zt_qpath p;
	struct zt_addr a = { 0 };
	unsigned kind, link;
	uint32_t sess;
	uint8_t gen;
	char t[64];

	zt_qconn_path(c, &p);
	if (zt_rpath_parse((struct sockaddr *)&p.remote, p.remote_len, &kind,
			   &link, &sess, &gen) == 0) {
		snprintf(buf, n, "relayed via relay%u #%u gen %u", link + 1,
			 sess, gen);
		return buf;
	}
	zt_addr_from_sockaddr(&a, (struct sockaddr *)&p.remote);
	snprintf(buf, n, "direct %s", zt_addr_str(&a, t, sizeof(t)));
	return buf;
}

/* The agent moved the session (we are the server: it migrates). */
static void session_path_changed(struct zt_qconn *c, void *owner)
{
	struct csession *s = owner;
	char t[96];

	s->path_since = zt_now();
	s->path_changes++;
	log_info("session from agent %s: now %s", zt_qconn_peer(c)->name,
		 path_text(c, t, sizeof(t)));
}

static const struct zt_qconn_ops session_qops = {
	.path_changed = session_path_changed,
	.stream_opened = session_stream_opened,
	.stream_data = session_stream_data,
	.stream_acked = session_stream_acked,
	.stream_reset = session_stream_reset,
	.stream_closed = session_stream_closed,
	.datagram = session_datagram,
	.closed = session_closed,
};

void zt_cflows_stop(struct zt_cflows *cf)
{
	uv_close((uv_handle_t *)&cf->sweep, NULL);
	while (cf->sessions) {
		zt_qconn_set_ops(cf->sessions->c, NULL, NULL);
		session_free(cf, cf->sessions, "connector stopping");
	}
}

static void status_flow(struct zt_sb *b, const struct cflow *f, int first,
			int json)
{
	double age = (double)(uv_hrtime() - f->start_ns) / 1e9;

	if (json) {
		/* Names here came from a peer's flow header: one writer, escaped. */
		zt_sb_printf(b, "%s{\"service\":", first ? "" : ",");
		zt_sb_json_str(b, f->hdr.service);
		zt_sb_printf(b, ",\"target\":");
		zt_sb_json_str(b, f->target);
		zt_sb_printf(b,
			     ",\"state\":\"%s\",\"up\":%llu,\"down\":%llu,"
			     "\"age_s\":%.1f}",
			     state_names[f->state], (unsigned long long)f->up,
			     (unsigned long long)f->down, age);
	} else
		zt_sb_printf(
			b,
			"    %-4s %-12s -> %-22s %-8s up %llu down %llu  %.1fs\n",
			proto_name(f), f->hdr.service, f->target,
			state_names[f->state], (unsigned long long)f->up,
			(unsigned long long)f->down, age);
}

static void status_session(struct zt_sb *b, const struct csession *s, int first,
			   int json)
{
	const struct zt_identity *id = zt_qconn_peer(s->c);
	double rtt = zt_qconn_rtt_ns(s->c) / 1e6;
	uint64_t tx, rx, since = (zt_now() - s->path_since) / 1000000000ULL;
	char path[96];

	zt_qconn_bytes(s->c, &tx, &rx);
	path_text(s->c, path, sizeof(path));
	if (json) {
		zt_sb_printf(b, "%s{\"name\":", first ? "" : ",");
		zt_sb_json_str(b, id->name);
		zt_sb_printf(b, ",\"path\":");
		zt_sb_json_str(b, path);
		zt_sb_printf(b, ",\"path_since_s\":%llu,\"path_changes\":%u",
			     (unsigned long long)since, s->path_changes);
		zt_sb_printf(b,
			     ",\"rtt_ms\":%.3f,\"bytes_sent\":%llu,"
			     "\"bytes_received\":%llu,\"flows\":[",
			     rtt, (unsigned long long)tx,
			     (unsigned long long)rx);
	} else {
		zt_sb_printf(
			b,
			"  %-20s %s (%llus, %u changes)  rtt %.2f ms  %zu flow(s)  sent %llu B  received %llu B\n",
			id->name, path, (unsigned long long)since,
			s->path_changes, rtt, s->n_flows,
			(unsigned long long)tx, (unsigned long long)rx);
	}
	for (const struct cflow *f = s->flows; f; f = f->next)
		status_flow(b, f, f == s->flows, json);
	if (json)
		zt_sb_printf(b, "]}");
}

void zt_cflows_status(struct zt_cflows *cf, struct zt_sb *b, int json)
{
	zt_sb_printf(b, json ? ",\"agents\":[" : "agents:\n");
	for (struct csession *s = cf->sessions; s; s = s->next)
		status_session(b, s, s == cf->sessions, json);
	if (json)
		zt_sb_printf(b,
			     "],\"sessions_refused\":%llu,"
			     "\"header_timeouts\":%llu",
			     (unsigned long long)cf->sessions_refused,
			     (unsigned long long)cf->hdr_timeouts);
	else
		zt_sb_printf(b,
			     "sessions refused: %llu, header timeouts: %llu\n",
			     (unsigned long long)cf->sessions_refused,
			     (unsigned long long)cf->hdr_timeouts);
}
