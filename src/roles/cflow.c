/* Connector data plane: agent sessions (server connections on the shared
 * socket) and their flows. Every flow is checked again here against the
 * service's allow list with the agent's certificate identity; the agent's
 * own filtering is never trusted. TCP flows are spliced to the target with
 * backpressure both ways. */
#include "cflow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "flowhdr.h"
#include "log.h"
#include "pkt.h"

#define DIAL_TIMEOUT_MS 10000
#define PAUSE_ABOVE (1u << 20) /* unacked bytes on the stream */
#define RESUME_BELOW (512u << 10)

enum { F_HDR = 0, F_DIAL, F_OPEN, F_DONE };

struct cflow {
	struct cflow *next;
	struct csession *sess;
	struct zt_cflows *cf;
	int64_t sid;
	int state;
	uint8_t hdr_buf[ZT_FLOW_HDR_MAX];
	size_t hdr_len;
	struct zt_flow_hdr hdr;
	char target[ZT_HOST_MAX + 16];
	uv_tcp_t tcp;
	uv_udp_t *udp;        /* UDP flows */
	uv_connect_t creq;
	uv_getaddrinfo_t gai;
	uv_timer_t timer;
	uv_shutdown_t sreq;
	int handles;          /* open uv handles; freed when 0 */
	int reading, paused, agent_fin, target_eof, gai_busy;
	int writing, shut_pending, shut_sent, close_when_done;
	uint8_t *stage;       /* agent bytes waiting for the in-flight write */
	size_t stage_len, stage_cap;
	size_t inflight;      /* bytes in the write in flight */
	uint64_t up, down, start_ns, last_ns;
	const char *end_reason;
};

struct csession {
	struct csession *next;
	struct zt_qconn *c;
	struct cflow *flows;
	size_t n_flows;
};

struct wreq {
	uv_write_t w;
	struct cflow *f;
	size_t len;
	uint8_t data[];
};

static void flow_log_end(struct cflow *f)
{
	const char *who = f->sess ? zt_qconn_peer(f->sess->c)->name : "?";
	double secs = (double)(uv_hrtime() - f->start_ns) / 1e9;

	log_info("flow end: %s %s %s -> %s: up %llu B, down %llu B, %.2f s (%s)",
		 who,
		 f->hdr.proto == ZT_IPPROTO_TCP	  ? "tcp"
		 : f->hdr.proto == ZT_IPPROTO_UDP ? "udp"
						  : "icmp",
		 f->hdr.service, f->target[0] ? f->target : "-",
		 (unsigned long long)f->up, (unsigned long long)f->down, secs,
		 f->end_reason ? f->end_reason : "closed");
}

/* A stream whose flow ended points here, so late data or a FIN on it is
 * not taken for a new flow's header. Read-only: only its address is used. */
static const char finished_stream;
#define FINISHED ((void *)&finished_stream)

static void flow_unlink(struct cflow *f)
{
	struct cflow **pp;

	if (!f->sess)
		return;
	for (pp = &f->sess->flows; *pp && *pp != f; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = f->next;
		f->sess->n_flows--;
	}
	if (f->sess->c)
		zt_qconn_stream_set_user(f->sess->c, f->sid, FINISHED);
	f->sess = NULL;
}

/* Gives the agent back receive credit for n bytes we took off the stream
 * (a no-op once the flow left its session). */
static void credit(struct cflow *f, size_t n)
{
	if (f->sess && n)
		zt_qconn_stream_consumed(f->sess->c, f->sid, n);
}

static void flow_release(struct cflow *f)
{
	if (--f->handles == 0) {
		free(f->stage);
		free(f);
	}
}

static void handle_closed(uv_handle_t *h)
{
	flow_release(h->data);
}

static void udp_closed(uv_handle_t *h)
{
	struct cflow *f = h->data;

	free(h);
	flow_release(f);
}

/* Ends the flow: logs once, closes the handles; freed when they are. */
static void flow_finish(struct cflow *f, const char *reason, int rst_tcp)
{
	if (f->state == F_DONE)
		return;
	if (!f->end_reason)
		f->end_reason = reason;
	if (f->state != F_HDR)
		flow_log_end(f);
	f->state = F_DONE;
	/* Bytes delivered to us but never written are still the agent's
	 * connection credit: give it back, or the session stalls. */
	credit(f, f->stage_len + f->inflight);
	f->stage_len = 0;
	flow_unlink(f);
	uv_close((uv_handle_t *)&f->timer, handle_closed);
	if (f->udp)
		uv_close((uv_handle_t *)f->udp, udp_closed);
	if (f->gai_busy)
		uv_cancel((uv_req_t *)&f->gai);
	if (uv_is_closing((uv_handle_t *)&f->tcp))
		return;
	/* A reset on one side becomes a reset on the other; close_reset
	 * fails on a socket that never connected, then a plain close. */
	if (!rst_tcp || f->reading < 0 ||
	    uv_tcp_close_reset(&f->tcp, handle_closed) != 0)
		uv_close((uv_handle_t *)&f->tcp, handle_closed);
}

static void reply(struct cflow *f, int status)
{
	uint8_t b = (uint8_t)status;

	if (f->sess)
		zt_qconn_stream_send(f->sess->c, f->sid, &b, 1,
				     status != ZT_FLOW_OK);
}

static void refuse(struct cflow *f, int status, const char *why)
{
	const struct zt_identity *id = zt_qconn_peer(f->sess->c);

	log_warn("flow refused: %s %s -> %s port %u: %s", id->name,
		 f->hdr.service[0] ? f->hdr.service : "?",
		 zt_flow_status_name(status), f->hdr.dst.port, why);
	reply(f, status);
	f->end_reason = why;
	flow_finish(f, why, 0);
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct cflow *f = h->data;

	/* Bytes are copied into the stream at once: one buffer serves all. */
	b->base = (char *)f->cf->rbuf;
	b->len = sizeof(f->cf->rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct cflow *f = s->data;
	struct zt_qconn *c = f->sess ? f->sess->c : NULL;

	if (!c || f->state != F_OPEN)
		return;
	if (n == UV_EOF) {
		f->target_eof = 1;
		uv_read_stop(s);
		zt_qconn_stream_send(c, f->sid, NULL, 0, 1);
		return;
	}
	if (n < 0) {
		zt_qconn_stream_reset(c, f->sid, ZT_FLOW_ERR_RESET);
		flow_finish(f, uv_err_name((int)n), 1);
		return;
	}
	f->down += (uint64_t)n;
	if (zt_qconn_stream_send(c, f->sid, (const uint8_t *)b->base,
				 (size_t)n, 0) != 0) {
		flow_finish(f, "stream closed", 1);
		return;
	}
	if (zt_qconn_stream_buffered(c, f->sid) > PAUSE_ABOVE) {
		uv_read_stop(s);
		f->paused = 1;
	}
}

static void start_splice(struct cflow *f)
{
	f->state = F_OPEN;
	uv_timer_stop(&f->timer);
	uv_tcp_nodelay(&f->tcp, 1);
	reply(f, ZT_FLOW_OK);
	f->reading = 1;
	uv_read_start((uv_stream_t *)&f->tcp, alloc_cb, read_cb);
}

static void connected(uv_connect_t *req, int status)
{
	struct cflow *f = req->data;

	if (f->state != F_DIAL)
		return;
	if (status == 0) {
		start_splice(f);
		return;
	}
	f->reading = -1; /* no RST on a socket that never connected */
	refuse(f, status == UV_ECONNREFUSED ? ZT_FLOW_REFUSED
					    : ZT_FLOW_UNREACHABLE,
	       uv_strerror(status));
}

static void dial_timeout(uv_timer_t *t)
{
	struct cflow *f = t->data;

	f->reading = -1;
	refuse(f, ZT_FLOW_UNREACHABLE, "connect timed out");
}

static void udp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct cflow *f = h->data;

	/* Room for the flow id in front of the payload. */
	b->base = (char *)f->cf->rbuf + 8;
	b->len = sizeof(f->cf->rbuf) - 8;
}

static void udp_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b,
		     const struct sockaddr *from, unsigned flags)
{
	struct cflow *f = u->data;
	uint8_t *p = (uint8_t *)b->base;
	size_t pl;

	if (n <= 0 || !f->sess || f->state != F_OPEN)
		return;
	/* The prefix is written right before the payload: no copy. */
	pl = zt_flow_dgram_put(f->cf->dgbuf, sizeof(f->cf->dgbuf), f->sid);
	memcpy(p - pl, f->cf->dgbuf, pl);
	if (zt_qconn_send_datagram(f->sess->c, p - pl, pl + (size_t)n) == 0)
		f->down += (uint64_t)n;
	f->last_ns = uv_hrtime();
}

/* UDP flows get a connected UDP socket; ICMP echo flows an unprivileged
 * ICMP socket ("ping socket"), which libuv drives like a UDP one. */
static int udp_open(struct cflow *f, const struct sockaddr *to)
{
	int rv, fd = -1;

	if (f->hdr.proto == ZT_IPPROTO_ICMP) {
		fd = socket(to->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    to->sa_family == AF_INET6 ? IPPROTO_ICMPV6
						      : IPPROTO_ICMP);
		if (fd < 0) {
			log_warn("icmp: no unprivileged ICMP socket here "
				 "(net.ipv4.ping_group_range): %s",
				 strerror(errno));
			return UV_EACCES;
		}
	}
	f->udp = malloc(sizeof(*f->udp));
	if (!f->udp) {
		if (fd >= 0)
			close(fd);
		return UV_ENOMEM;
	}
	uv_udp_init(f->cf->loop, f->udp);
	f->udp->data = f;
	f->handles++;
	if (fd >= 0 && (rv = uv_udp_open(f->udp, fd)) != 0) {
		close(fd);
		return rv;
	}
	rv = uv_udp_connect(f->udp, to);
	if (rv == 0)
		rv = uv_udp_recv_start(f->udp, udp_alloc, udp_recv);
	if (rv != 0)
		return rv;
	f->state = F_OPEN;
	f->last_ns = uv_hrtime();
	uv_timer_stop(&f->timer);
	reply(f, ZT_FLOW_OK);
	return 0;
}

/* A datagram from the agent for flow sid. */
static void udp_to_target(struct cflow *f, const uint8_t *d, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);

	if (!f->udp || f->state != F_OPEN)
		return;
	/* Datagrams stay unreliable end to end: a full socket drops. */
	if (uv_udp_try_send(f->udp, &b, 1, NULL) >= 0)
		f->up += n;
	f->last_ns = uv_hrtime();
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct cflow *f = req->data;
	int rv;

	f->gai_busy = 0;
	if (f->handles == 1) { /* the flow ended while we resolved */
		uv_freeaddrinfo(res);
		flow_release(f);
		return;
	}
	f->handles--;
	if (f->state != F_DIAL) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status != 0 || !res) {
		f->reading = -1;
		refuse(f, ZT_FLOW_UNREACHABLE, "target name did not resolve");
		uv_freeaddrinfo(res);
		return;
	}
	if (f->hdr.proto != ZT_IPPROTO_TCP) {
		rv = udp_open(f, res->ai_addr);
		uv_freeaddrinfo(res);
		if (rv == 0)
			return;
		f->reading = -1;
		refuse(f, ZT_FLOW_UNREACHABLE, uv_strerror(rv));
		return;
	}
	f->creq.data = f;
	rv = uv_tcp_connect(&f->creq, &f->tcp, res->ai_addr, connected);
	uv_freeaddrinfo(res);
	if (rv != 0) {
		f->reading = -1;
		refuse(f, ZT_FLOW_UNREACHABLE, uv_strerror(rv));
	}
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
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	char host[ZT_HOST_MAX + 1], port[8];
	int in_cidr = zt_service_has_addr(svc, &f->hdr.dst);
	int rv;

	if (f->hdr.proto != ZT_IPPROTO_TCP)
		hints.ai_socktype = SOCK_DGRAM;
	pick_target(svc, f, in_cidr, host, sizeof(host), port, sizeof(port));
	snprintf(f->target, sizeof(f->target), "%s:%s", host, port);
	f->state = F_DIAL;
	uv_timer_start(&f->timer, dial_timeout, DIAL_TIMEOUT_MS, 0);
	f->gai.data = f;
	f->gai_busy = 1;
	f->handles++; /* the request holds the flow */
	rv = uv_getaddrinfo(f->cf->loop, &f->gai, resolved, host, port, &hints);
	if (rv != 0) {
		f->gai_busy = 0;
		f->handles--;
		f->reading = -1;
		refuse(f, ZT_FLOW_UNREACHABLE, uv_strerror(rv));
	}
}

/* The zero-trust check: the agent's certificate identity against the
 * service's allow list, and the destination against the service. */
static void flow_open(struct cflow *f)
{
	const struct zt_identity *id = zt_qconn_peer(f->sess->c);
	const struct zt_service *svc = find_service(f->cf, f->hdr.service);

	if (!svc) {
		refuse(f, ZT_FLOW_NO_SERVICE, "no such service");
		return;
	}
	if (!zt_service_allows(svc, id)) {
		refuse(f, ZT_FLOW_DENIED, "identity not in the allow list");
		return;
	}
	if (!zt_service_match(svc, f->hdr.proto, f->hdr.dst.port)) {
		refuse(f, ZT_FLOW_NO_SERVICE, "protocol or port not served");
		return;
	}
	if (!svc->hostname[0] && !zt_service_has_addr(svc, &f->hdr.dst)) {
		refuse(f, ZT_FLOW_NO_SERVICE, "address outside the service");
		return;
	}
	if (f->sess->n_flows > f->cf->max_flows) {
		refuse(f, ZT_FLOW_LIMIT, "too many flows for this agent");
		return;
	}
	flow_dial(f, svc);
}

static struct cflow *flow_new(struct zt_cflows *cf, struct csession *s,
			      int64_t sid)
{
	struct cflow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->cf = cf;
	f->sess = s;
	f->sid = sid;
	f->start_ns = uv_hrtime();
	uv_tcp_init(cf->loop, &f->tcp);
	uv_timer_init(cf->loop, &f->timer);
	f->tcp.data = f->timer.data = f;
	f->handles = 2;
	f->next = s->flows;
	s->flows = f;
	s->n_flows++;
	zt_qconn_stream_set_user(s->c, sid, f);
	return f;
}

/* Agent -> target: at most one write in flight per flow; what arrives
 * meanwhile is appended to one staging buffer (so a peer sending tiny STREAM
 * frames costs one buffer, not a request each). Credit goes back to the
 * agent only once the target took the bytes: a slow target slows the
 * application. */
static void submit(struct cflow *f);

static void maybe_done(struct cflow *f)
{
	/* A clean close waits for the last bytes and the shutdown. */
	if (f->close_when_done && !f->writing && !f->stage_len &&
	    !f->shut_pending)
		flow_finish(f, "closed", 0);
}

static void wrote(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;
	struct cflow *f = r->f;

	f->writing = 0;
	f->inflight = 0;
	if (f->state != F_DONE)
		credit(f, r->len);
	free(r);
	if (status != 0 && f->state == F_OPEN) {
		zt_qconn_stream_reset(f->sess->c, f->sid, ZT_FLOW_ERR_RESET);
		flow_finish(f, uv_strerror(status), 1);
	} else if (f->state != F_DONE || f->close_when_done) {
		submit(f);
		maybe_done(f);
	}
	flow_release(f);
}

static void shut_done(uv_shutdown_t *req, int status)
{
	struct cflow *f = req->data;

	f->shut_pending = 0;
	if (f->state != F_DONE || f->close_when_done)
		maybe_done(f);
	flow_release(f);
}

static void start_shutdown(struct cflow *f)
{
	f->sreq.data = f;
	f->handles++;
	f->shut_pending = 1;
	if (uv_shutdown(&f->sreq, (uv_stream_t *)&f->tcp, shut_done) != 0) {
		f->handles--;
		f->shut_pending = 0;
	}
}

/* Sends the staged bytes if no write is in flight. */
static void submit(struct cflow *f)
{
	struct wreq *r;
	uv_buf_t b;

	if (f->writing || !f->stage_len) {
		if (!f->writing && !f->stage_len && f->agent_fin &&
		    !f->shut_sent) {
			f->shut_sent = 1;
			start_shutdown(f);
		}
		return;
	}
	r = malloc(sizeof(*r) + f->stage_len);
	if (!r) {
		credit(f, f->stage_len);
		f->stage_len = 0;
		if (f->sess)
			zt_qconn_stream_reset(f->sess->c, f->sid, ZT_FLOW_ERR_ABORT);
		flow_finish(f, "out of memory", 1);
		return;
	}
	r->f = f;
	r->len = f->stage_len;
	memcpy(r->data, f->stage, f->stage_len);
	f->stage_len = 0;
	b = uv_buf_init((char *)r->data, (unsigned)r->len);
	f->handles++; /* the request holds the flow */
	f->writing = 1;
	f->inflight = r->len;
	if (uv_write(&r->w, (uv_stream_t *)&f->tcp, &b, 1, wrote) != 0) {
		f->handles--;
		f->writing = 0;
		f->inflight = 0;
		credit(f, r->len);
		free(r);
		if (f->sess)
			zt_qconn_stream_reset(f->sess->c, f->sid, ZT_FLOW_ERR_RESET);
		flow_finish(f, "write failed", 1);
	}
}

static void to_target(struct cflow *f, const uint8_t *d, size_t n, int fin)
{
	if (n) {
		if (f->stage_len + n > f->stage_cap) {
			size_t cap = f->stage_cap ? f->stage_cap : 16384;
			uint8_t *p;

			while (cap < f->stage_len + n)
				cap *= 2;
			p = realloc(f->stage, cap);
			if (!p) {
				credit(f, n);
				zt_qconn_stream_reset(f->sess->c, f->sid,
						      ZT_FLOW_ERR_ABORT);
				flow_finish(f, "out of memory", 1);
				return;
			}
			f->stage = p;
			f->stage_cap = cap;
		}
		memcpy(f->stage + f->stage_len, d, n);
		f->stage_len += n;
		f->up += n;
	}
	if (fin)
		f->agent_fin = 1;
	submit(f);
}

static void on_stream_data(struct zt_cflows *cf, struct csession *s,
			   int64_t sid, const uint8_t *d, size_t n, int fin)
{
	struct cflow *f = zt_qconn_stream_user(s->c, sid);
	int used;

	if (f == FINISHED) {
		zt_qconn_stream_consumed(s->c, sid, n);
		return;
	}
	if (!f) {
		f = flow_new(cf, s, sid);
		if (!f) {
			zt_qconn_stream_reset(s->c, sid, ZT_FLOW_ERR_ABORT);
			return;
		}
	}
	if (f->state == F_HDR) {
		size_t take = n < sizeof(f->hdr_buf) - f->hdr_len
				      ? n : sizeof(f->hdr_buf) - f->hdr_len;

		memcpy(f->hdr_buf + f->hdr_len, d, take);
		f->hdr_len += take;
		used = zt_flow_hdr_decode(&f->hdr, f->hdr_buf, f->hdr_len);
		if (used == ZT_ETRUNC && f->hdr_len < sizeof(f->hdr_buf) && !fin) {
			zt_qconn_stream_consumed(s->c, sid, n);
			return;
		}
		zt_qconn_stream_consumed(s->c, sid, n);
		if (used < 0 || (size_t)used != f->hdr_len) {
			/* Data before our answer is not part of the protocol. */
			refuse(f, ZT_FLOW_BAD_REQUEST, "malformed flow header");
			return;
		}
		flow_open(f);
		return;
	}
	if (f->state != F_OPEN) {
		/* Only a peer that does not wait for our answer gets here. */
		zt_qconn_stream_consumed(s->c, sid, n);
		if (f->state == F_DIAL) {
			zt_qconn_stream_reset(s->c, sid, ZT_FLOW_ERR_ABORT);
			f->reading = -1;
			flow_finish(f, "data before the flow was open", 0);
		}
		return;
	}
	if (f->udp) {
		/* UDP payloads travel as datagrams; the stream only says when
		 * the agent is done with the flow. */
		zt_qconn_stream_consumed(s->c, sid, n);
		if (fin) {
			zt_qconn_stream_send(s->c, sid, NULL, 0, 1);
			flow_finish(f, "closed", 0);
		}
		return;
	}
	to_target(f, d, n, fin);
}

static void on_stream_acked(struct csession *s, int64_t sid)
{
	struct cflow *f = zt_qconn_stream_user(s->c, sid);

	if (f != FINISHED && f && f->paused && f->state == F_OPEN && !f->target_eof &&
	    zt_qconn_stream_buffered(s->c, sid) < RESUME_BELOW) {
		f->paused = 0;
		uv_read_start((uv_stream_t *)&f->tcp, alloc_cb, read_cb);
	}
}

static void on_stream_closed(struct csession *s, int64_t sid,
			     int app_error)
{
	struct cflow *f = zt_qconn_stream_user(s->c, sid);

	if (!f || f == FINISHED)
		return;
	if (!app_error && f->state == F_OPEN &&
	    (f->writing || f->stage_len || f->shut_pending ||
	     (f->agent_fin && !f->shut_sent))) {
		/* The stream is done but the target has not had every byte
		 * yet: finish after the last write and the shutdown. The
		 * stream is gone, so its credit is due now. */
		f->close_when_done = 1;
		credit(f, f->stage_len + f->inflight);
		flow_unlink(f);
		submit(f);
		maybe_done(f);
		return;
	}
	/* A reset from the agent becomes a TCP RST to the target. */
	flow_finish(f, app_error ? "reset by agent" : "closed",
		    app_error != 0 && f->state == F_OPEN);
}

/* --- sessions --- */

static void sweep_cb(uv_timer_t *t)
{
	zt_cflows_sweep(t->data, uv_hrtime());
}

void zt_cflows_init(struct zt_cflows *cf, uv_loop_t *loop,
		    const struct zt_config *cfg)
{
	memset(cf, 0, sizeof(*cf));
	cf->loop = loop;
	cf->cfg = cfg;
	cf->max_flows = 4096;
	uv_timer_init(loop, &cf->sweep);
	cf->sweep.data = cf;
	uv_timer_start(&cf->sweep, sweep_cb, 5000, 5000);
}

void zt_cflows_session_new(struct zt_cflows *cf, struct zt_qconn *c)
{
	struct csession *s = calloc(1, sizeof(*s));

	if (!s) {
		zt_qconn_close(c, 7, "out of memory", uv_hrtime());
		return;
	}
	s->c = c;
	s->next = cf->sessions;
	cf->sessions = s;
	zt_qconn_set_user(c, s);
	log_info("%s connected", zt_qconn_label(c));
}

static void session_free(struct zt_cflows *cf, struct csession *s)
{
	struct csession **pp;

	while (s->flows) {
		struct cflow *f = s->flows;

		flow_finish(f, "agent session ended", f->state == F_OPEN);
	}
	for (pp = &cf->sessions; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	free(s);
}

void zt_cflows_session_closed(struct zt_cflows *cf, struct zt_qconn *c,
			      const struct zt_close_info *ci)
{
	struct csession *s = zt_qconn_user(c);

	if (!s)
		return;
	log_info("%s disconnected%s%s", zt_qconn_label(c),
		 ci->reason[0] ? ": " : "", ci->reason);
	session_free(cf, s);
}

void zt_cflows_stream_data(struct zt_cflows *cf, struct zt_qconn *c,
			   int64_t sid, const uint8_t *d, size_t n, int fin)
{
	struct csession *s = zt_qconn_user(c);

	if (!s) {
		zt_qconn_stream_consumed(c, sid, n);
		return;
	}
	on_stream_data(cf, s, sid, d, n, fin);
}

void zt_cflows_datagram(struct zt_cflows *cf, struct zt_qconn *c,
			const uint8_t *d, size_t n)
{
	int64_t sid;
	size_t pl = zt_flow_dgram_get(d, n, &sid);
	struct cflow *f;

	if (!pl || !zt_qconn_user(c))
		return;
	f = zt_qconn_stream_user(c, sid);
	if (f && f != FINISHED && f->udp)
		udp_to_target(f, d + pl, n - pl);
}

/* UDP flows end after a minute without traffic either way. */
void zt_cflows_sweep(struct zt_cflows *cf, uint64_t now)
{
	for (struct csession *s = cf->sessions; s; s = s->next)
		for (struct cflow *f = s->flows, *n; f; f = n) {
			n = f->next;
			if (f->udp && f->state == F_OPEN &&
			    now - f->last_ns > ZT_UDP_IDLE_NS) {
				zt_qconn_stream_send(s->c, f->sid, NULL, 0, 1);
				flow_finish(f, "idle", 0);
			}
		}
}

void zt_cflows_stream_acked(struct zt_cflows *cf, struct zt_qconn *c,
			    int64_t sid)
{
	struct csession *s = zt_qconn_user(c);

	if (s)
		on_stream_acked(s, sid);
}

void zt_cflows_stream_closed(struct zt_cflows *cf, struct zt_qconn *c,
			     int64_t sid, int reset, uint64_t app_error)
{
	struct csession *s = zt_qconn_user(c);

	if (s)
		on_stream_closed(s, sid, reset);
}

void zt_cflows_stop(struct zt_cflows *cf)
{
	uv_close((uv_handle_t *)&cf->sweep, NULL);
	while (cf->sessions) {
		zt_qconn_set_user(cf->sessions->c, NULL);
		session_free(cf, cf->sessions);
	}
}

void zt_cflows_status(struct zt_cflows *cf, struct zt_sb *b, int json)
{
	int first = 1;

	zt_sb_printf(b, json ? ",\"agents\":[" : "agents:\n");
	for (struct csession *s = cf->sessions; s; s = s->next) {
		const struct zt_identity *id = zt_qconn_peer(s->c);
		double rtt = zt_qconn_rtt_ns(s->c) / 1e6;
		uint64_t tx, rx;

		zt_qconn_bytes(s->c, &tx, &rx);
		if (json) {
			zt_sb_printf(b, "%s{\"name\":", first ? "" : ",");
			zt_sb_json_str(b, id->name);
			zt_sb_printf(b, ",\"rtt_ms\":%.3f,\"bytes_sent\":%llu,"
				     "\"bytes_received\":%llu,\"flows\":[", rtt,
				     (unsigned long long)tx, (unsigned long long)rx);
		} else {
			zt_sb_printf(b, "  %-20s rtt %.2f ms  %zu flow(s)  sent %llu B  received %llu B\n",
				     id->name, rtt, s->n_flows,
				     (unsigned long long)tx, (unsigned long long)rx);
		}
		for (struct cflow *f = s->flows; f; f = f->next) {
			double age = (double)(uv_hrtime() - f->start_ns) / 1e9;

			if (json)
				zt_sb_printf(b, "%s{\"service\":\"%s\",\"target\":\"%s\","
					     "\"up\":%llu,\"down\":%llu,\"age_s\":%.1f}",
					     f == s->flows ? "" : ",", f->hdr.service,
					     f->target, (unsigned long long)f->up,
					     (unsigned long long)f->down, age);
			else
				zt_sb_printf(b, "    %s %-12s -> %-22s up %llu down %llu  %.1fs\n",
					     f->hdr.proto == ZT_IPPROTO_TCP   ? "tcp "
					     : f->hdr.proto == ZT_IPPROTO_UDP ? "udp "
									      : "icmp",
					     f->hdr.service, f->target,
					     (unsigned long long)f->up,
					     (unsigned long long)f->down, age);
		}
		if (json)
			zt_sb_printf(b, "]}");
		first = 0;
	}
	if (json)
		zt_sb_printf(b, "]");
}
