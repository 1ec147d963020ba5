#include "relaylink.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "err.h"
#include "log.h"

#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 15000

uint64_t zt_backoff_ms(unsigned attempt, uint32_t rnd)
{
	uint64_t d = BACKOFF_BASE_MS;

	for (unsigned i = 0; i < attempt && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	/* "Equal jitter": half fixed, half random. */
	return d / 2 + (uint64_t)rnd % (d / 2 + 1);
}

const char *zt_link_transport_name(int transport)
{
	return transport == ZT_LINK_TCP ? "tcp" : "udp";
}

const char *zt_link_state_name(int state)
{
	static const char *const n[] = { "idle", "resolving", "connecting",
					 "up", "backoff", "stopped" };

	return state >= 0 && state <= ZT_LINK_STOPPED ? n[state] : "?";
}

int zt_ctrl_send(struct zt_qconn *c, int64_t sid, const struct zt_ctrl_msg *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = zt_ctrl_encode(m, &buf, &len);

	if (rv == 0)
		rv = zt_qconn_stream_send(c, sid, buf, len, 0);
	if (rv != 0)
		log_warn("ctrl: cannot send %s to %s: %s",
			 zt_ctrl_type_name(m->type), zt_qconn_label(c),
			 zt_strerror(rv));
	free(buf);
	return rv;
}

void zt_ctrl_fail(struct zt_qconn *c, int64_t sid, uint32_t app_error,
		  const char *text)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_ERROR };

	log_warn("ctrl: closing %s: %s (error %u)", zt_qconn_label(c), text,
		 app_error);
	m.u.error.code = app_error;
	snprintf(m.u.error.text, sizeof(m.u.error.text), "%s", text);
	if (sid >= 0)
		zt_ctrl_send(c, sid, &m);
	zt_qconn_close(c, app_error, text, zt_now());
}

static void link_connect(struct zt_relaylink *l);
static void link_unref(struct zt_relaylink *l);
static void schedule_retry(struct zt_relaylink *l);
static void link_established(struct zt_qconn *c, void *owner);
static void link_data(struct zt_qconn *c, int64_t sid, const uint8_t *data,
		      size_t len, int fin, void *owner);
static void link_closed(struct zt_qconn *c, const struct zt_close_info *ci,
			void *owner);
static void link_datagram(struct zt_qconn *c, const uint8_t *data, size_t len,
			  void *owner);
static void link_path_changed(struct zt_qconn *c, void *owner);
static void link_path_validation(struct zt_qconn *c,
				 const struct zt_qpath *path, int result,
				 void *owner);

/* The link owns its connection (and the one racing it over TCP);
 * zt_relaylink_stop() detaches them. */
static const struct zt_qconn_ops link_qops = {
	.established = link_established,
	.stream_data = link_data,
	.datagram = link_datagram,
	.path_changed = link_path_changed,
	.path_validation = link_path_validation,
	.closed = link_closed,
};

/* TCP transport (docs/ARCHITECTURE.md, "UDP blocked: relay links over
 * TCP"). A UDP Initial without an answer after ZT_LINK_TCP_AFTER_MS also
 * starts TCP + TLS to the relay's TCP port and a second QUIC handshake on
 * it; the first handshake to complete is the link. On TCP, the link's
 * connection tries to migrate to the UDP socket after 5 s, 10 s more, then
 * every 20 s (a validated migration: the path stays on TCP until UDP
 * answers), so what rides on the link survives the move. */

static void closed_conn(struct zt_qconn *c, const char *why)
{
	zt_qconn_set_ops(c, NULL, NULL);
	zt_qconn_close(c, ZT_APP_SHUTDOWN, why, zt_now());
}

/* Ends the TCP connection and the handshake racing on it, if any. */
static void tcp_drop(struct zt_relaylink *l)
{
	if (l->tconn)
		closed_conn(l->tconn, "another transport won");
	l->tconn = NULL;
	if (l->tcp)
		zt_tcpio_close(l->tcp);
	l->tcp = NULL;
	if (l->tpath)
		zt_tcpgrave_bury(&l->grave, l->tpath, zt_now());
	l->tpath = NULL;
}

static void tcp_up(struct zt_tcpio *t, void *owner)
{
	struct zt_relaylink *l = owner;
	const struct zt_env *env = l->env;
	int rv;

	rv = zt_ep_connect(env->ep, &l->tpath->pio,
			   (struct sockaddr *)&l->tpath->remote,
			   l->tpath->remote_len, l->relay.host, ZT_ROLE_RELAY,
			   &link_qops, l, &l->tconn, zt_now());
	if (rv != 0) {
		l->tconn = NULL;
		log_warn("relay %s:%u: cannot connect over TCP: %s",
			 l->relay.host, l->relay.port, zt_strerror(rv));
		tcp_drop(l);
		return;
	}
	zt_netio_flush(env->net);
}

static void tcp_packet(struct zt_tcpio *t, const uint8_t *data, size_t len,
		       void *owner)
{
	struct zt_relaylink *l = owner;

	zt_ep_recv(l->env->ep, &l->tpath->pio,
		   (struct sockaddr *)&l->tpath->remote, l->tpath->remote_len,
		   data, len, zt_now());
}

static void tcp_closed(struct zt_tcpio *t, const char *why, void *owner)
{
	struct zt_relaylink *l = owner;

	l->tcp = NULL;
	log_info("relay %s:%u: TCP port %u: %s", l->relay.host, l->relay.port,
		 l->d->cfg.tcp_port, why);
	if (l->state == ZT_LINK_UP && l->transport == ZT_LINK_TCP && l->conn) {
		/* The link's path is gone: reconnect now rather than at the
		 * idle timeout. */
		tcp_drop(l);
		zt_qconn_close(l->conn, ZT_APP_SHUTDOWN, "TCP connection lost",
			       zt_now());
		return;
	}
	tcp_drop(l);
	if (l->state == ZT_LINK_CONNECTING && !l->conn) {
		snprintf(l->last_error, sizeof(l->last_error),
			 "no answer over UDP; TCP: %s", why);
		schedule_retry(l);
	}
}

static const struct zt_tcpio_ops link_tops = {
	.up = tcp_up,
	.packet = tcp_packet,
	.closed = tcp_closed,
};

static void tcp_start(struct zt_relaylink *l)
{
	struct sockaddr_storage ss = l->udp_remote;

	l->tpath = zt_tcpgrave_path(&l->grave, 0);
	if (!l->tpath)
		return;
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port =
			htons(l->d->cfg.tcp_port);
	else
		((struct sockaddr_in *)&ss)->sin_port =
			htons(l->d->cfg.tcp_port);
	log_info("relay %s:%u: no answer over UDP in %u ms, trying TCP port %u",
		 l->relay.host, l->relay.port, ZT_LINK_TCP_AFTER_MS,
		 l->d->cfg.tcp_port);
	l->tcp = zt_tcpio_connect(l->env->loop, l->d->tls.tcp_client,
				  (struct sockaddr *)&ss, l->relay.host,
				  l->tpath, &link_tops, l);
	if (!l->tcp)
		tcp_drop(l);
}

/* TCP only where the link runs on a real UDP socket (not the in-process
 * tests' simulated network) and the config did not turn it off. */
static int tcp_possible(const struct zt_relaylink *l)
{
	return l->d->cfg.tcp_port != 0 && l->d->tls.tcp_client &&
	       strcmp(l->env->path->ops->kind, "udp") == 0;
}

/* The wait before UDP try n + 1 (n tried so far). */
static uint64_t udp_retry_ms(uint64_t n)
{
	uint64_t ms = ZT_LINK_UDP_FIRST_MS;

	while (n-- > 0 && ms < ZT_LINK_UDP_RETRY_MS)
		ms *= 2;
	return ms < ZT_LINK_UDP_RETRY_MS ? ms : ZT_LINK_UDP_RETRY_MS;
}

static void ttimer_cb(uv_timer_t *h)
{
	struct zt_relaylink *l = h->data;
	int rv;

	if (l->state == ZT_LINK_CONNECTING && !l->tcp && tcp_possible(l)) {
		tcp_start(l);
		return;
	}
	if (l->state != ZT_LINK_UP || !l->conn)
		return;
	if (l->transport == ZT_LINK_UDP) {
		tcp_drop(l); /* lingered after the move to UDP */
		return;
	}
	l->udp_tries++;
	rv = zt_qconn_migrate(l->conn, l->env->path,
			      (struct sockaddr *)&l->udp_remote,
			      l->udp_remote_len, ZT_MIGRATE_VALIDATED,
			      zt_now());
	log_debug("relay %s:%u: trying UDP again: %s", l->relay.host,
		  l->relay.port, rv == 0 ? "probing" : zt_strerror(rv));
	zt_netio_flush(l->env->net);
	uv_timer_start(&l->ttimer, ttimer_cb, udp_retry_ms(l->udp_tries), 0);
}

static void link_path_changed(struct zt_qconn *c, void *owner)
{
	struct zt_relaylink *l = owner;
	struct zt_qpath p;
	uint64_t now = zt_now();

	if (c != l->conn || l->transport != ZT_LINK_TCP)
		return;
	zt_qconn_path(c, &p);
	if (p.pio != l->env->path)
		return;
	l->transport = ZT_LINK_UDP;
	l->udp_returns++;
	l->return_ms = (now - l->transport_ns) / 1000000;
	l->transport_ns = now;
	log_info("relay %s:%u: back on UDP after %llu ms over TCP (%llu "
		 "tries)",
		 l->relay.host, l->relay.port, (unsigned long long)l->return_ms,
		 (unsigned long long)l->udp_tries);
	/* The relay answers on TCP until it sees us on UDP: a moment more. */
	uv_timer_start(&l->ttimer, ttimer_cb, 3000, 0);
}

static void link_path_validation(struct zt_qconn *c,
				 const struct zt_qpath *path, int result,
				 void *owner)
{
	struct zt_relaylink *l = owner;

	if (c == l->conn && l->transport == ZT_LINK_TCP &&
	    path->pio == l->env->path && result != ZT_PV_SUCCESS)
		log_info("relay %s:%u: UDP still gets no answer, staying on "
			 "TCP (try %llu)",
			 l->relay.host, l->relay.port,
			 (unsigned long long)l->udp_tries);
}

static void timer_cb(uv_timer_t *t)
{
	link_connect(t->data);
}

static void schedule_retry(struct zt_relaylink *l)
{
	uint32_t rnd = 0;
	uint64_t ms;

	if (l->state == ZT_LINK_STOPPED)
		return;
	wolfSSL_RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	ms = zt_backoff_ms(l->attempts++, rnd);
	l->state = ZT_LINK_BACKOFF;
	log_info("relay %s:%u: reconnecting in %llu ms", l->relay.host,
		 l->relay.port, (unsigned long long)ms);
	uv_timer_start(&l->timer, timer_cb, ms, 0);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct zt_relaylink *l = req->data;
	const struct zt_env *env = l->env;
	int rv;

	l->gai_busy = 0;
	if (l->state == ZT_LINK_STOPPED) {
		uv_freeaddrinfo(res);
		link_unref(l);
		return;
	}
	if (status != 0 || !res) {
		snprintf(l->last_error, sizeof(l->last_error),
			 "cannot resolve %s: %s", l->relay.host,
			 uv_strerror(status));
		log_warn("relay %s:%u: %s", l->relay.host, l->relay.port,
			 l->last_error);
		schedule_retry(l);
		return;
	}
	zt_addr_from_sockaddr(&l->remote, res->ai_addr);
	memcpy(&l->udp_remote, res->ai_addr, res->ai_addrlen);
	l->udp_remote_len = (socklen_t)res->ai_addrlen;
	l->state = ZT_LINK_CONNECTING;
	l->connect_ns = zt_now();
	rv = zt_ep_connect(env->ep, env->path, res->ai_addr,
			   (socklen_t)res->ai_addrlen, l->relay.host,
			   ZT_ROLE_RELAY, &link_qops, l, &l->conn, zt_now());
	uv_freeaddrinfo(res);
	if (rv != 0) {
		l->conn = NULL;
		log_warn("relay %s:%u: cannot connect: %s", l->relay.host,
			 l->relay.port, zt_strerror(rv));
		schedule_retry(l);
		return;
	}
	if (tcp_possible(l))
		uv_timer_start(&l->ttimer, ttimer_cb, ZT_LINK_TCP_AFTER_MS, 0);
	zt_netio_flush(env->net);
}

static void link_connect(struct zt_relaylink *l)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
	char port[8];
	int rv;

	if (l->state == ZT_LINK_STOPPED || l->gai_busy)
		return;
	/* The socket is bound to one family; only ask for that one. */
	hints.ai_family = l->env->path->local.ss_family;
	snprintf(port, sizeof(port), "%u", l->relay.port);
	l->state = ZT_LINK_RESOLVING;
	l->gai.data = l;
	rv = uv_getaddrinfo(l->env->loop, &l->gai, resolved, l->relay.host, port,
			    &hints);
	if (rv != 0) {
		schedule_retry(l);
		return;
	}
	l->gai_busy = 1;
}

struct zt_relaylink *zt_relaylink_new(struct zt_daemon *d,
				      const struct zt_relay_endpoint *relay,
				      const struct zt_relaylink_ops *ops)
{
	struct zt_relaylink *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->d = d;
	l->env = &d->env;
	l->ops = ops;
	l->relay = *relay;
	l->sid = -1;
	l->version = ZT_CTRL_VERSION_MAX;
	if (d->cfg.ctrl_version_max >= ZT_CTRL_VERSION &&
	    d->cfg.ctrl_version_max < ZT_CTRL_VERSION_MAX)
		l->version = d->cfg.ctrl_version_max; /* a test's older peer */
	zt_ctrl_reader_init(&l->rd);
	zt_tcpgrave_init(&l->grave);
	uv_timer_init(l->env->loop, &l->timer);
	uv_timer_init(l->env->loop, &l->ttimer);
	l->timer.data = l->ttimer.data = l;
	return l;
}

static void link_unref(struct zt_relaylink *l)
{
	if (--l->refs == 0) {
		zt_tcpgrave_free(&l->grave);
		free(l);
	}
}

static void timer_closed(uv_handle_t *h)
{
	link_unref(h->data);
}

void zt_relaylink_start(struct zt_relaylink *l)
{
	link_connect(l);
}

void zt_relaylink_stop(struct zt_relaylink *l)
{
	l->state = ZT_LINK_STOPPED;
	/* The timer's close callback and a pending lookup's callback still
	 * run after this: each holds a reference. */
	l->refs = 2 + (unsigned)l->gai_busy;
	if (l->gai_busy)
		uv_cancel((uv_req_t *)&l->gai);
	uv_close((uv_handle_t *)&l->timer, timer_closed);
	uv_close((uv_handle_t *)&l->ttimer, timer_closed);
	if (l->conn)
		zt_qconn_set_ops(l->conn, NULL, NULL);
	l->conn = NULL;
	if (l->tconn)
		zt_qconn_set_ops(l->tconn, NULL, NULL);
	l->tconn = NULL;
	tcp_drop(l);
	zt_ctrl_reader_free(&l->rd);
}

static void local_addrs(struct zt_relaylink *l, struct zt_ctrl_msg *m);

static void link_established(struct zt_qconn *c, void *owner)
{
	struct zt_relaylink *l = owner;
	struct zt_ctrl_msg m = { .type = ZT_CTRL_HELLO };
	uint64_t now = zt_now();
	int rv;

	/* The first handshake to complete is the link; the other goes. */
	if (c == l->tconn) {
		if (l->conn)
			closed_conn(l->conn, "another transport won");
		l->conn = c;
		l->tconn = NULL;
		l->transport = ZT_LINK_TCP;
		/* No UDP mapping seen over TCP: none to offer as candidate. */
		memset(&l->observed, 0, sizeof(l->observed));
		l->tcp_fallbacks++;
		l->fallback_ms = (now - l->connect_ns) / 1000000;
		l->udp_tries = 0;
		uv_timer_start(&l->ttimer, ttimer_cb, ZT_LINK_UDP_FIRST_MS, 0);
	} else {
		tcp_drop(l);
		uv_timer_stop(&l->ttimer);
		l->transport = ZT_LINK_UDP;
	}
	l->transport_ns = now;
	rv = zt_qconn_stream_open(l->conn, &l->sid);
	if (rv != 0) {
		zt_qconn_close(l->conn, ZT_APP_INTERNAL, "no stream", zt_now());
		return;
	}
	l->state = ZT_LINK_UP;
	l->attempts = 0;
	l->up_since_ns = zt_now();
	l->silent = 0;
	l->last_error[0] = 0;
	zt_ctrl_reader_free(&l->rd);
	zt_ctrl_reader_init(&l->rd);
	l->heard = 0;
	m.version = l->version;
	snprintf(m.u.hello.software, sizeof(m.u.hello.software), "ztnad/%s",
		 ZT_VERSION);
	local_addrs(l, &m);
	zt_ctrl_send(l->conn, l->sid, &m);
	if (l->transport == ZT_LINK_TCP)
		log_info("relay %s:%u: connected over TCP in %llu ms, UDP got "
			 "no answer (%s)",
			 l->relay.host, l->relay.port,
			 (unsigned long long)l->fallback_ms,
			 zt_qconn_label(l->conn));
	else
		log_info("relay %s:%u: connected (%s)", l->relay.host,
			 l->relay.port, zt_qconn_label(l->conn));
	if (l->ops->up)
		l->ops->up(l);
}

static int handle_msg(struct zt_relaylink *l, const struct zt_ctrl_msg *m)
{
	char a[64];

	/* The relay answers in our HELLO's version, every time. */
	if (m->version != l->version)
		return ZT_APP_VERSION;
	l->heard = 1;
	switch (m->type) {
	case ZT_CTRL_OBSERVED_ADDRESS:
		if (!zt_addr_equal(&l->observed, &m->u.observed.addr))
			log_info("relay %s:%u: observed address %s",
				 l->relay.host, l->relay.port,
				 zt_addr_str(&m->u.observed.addr, a, sizeof(a)));
		l->observed = m->u.observed.addr;
		return 0;
	case ZT_CTRL_ERROR:
		zt_log_escape(l->last_error, sizeof(l->last_error),
			      m->u.error.text);
		log_warn("relay %s:%u: error %u from relay: %s", l->relay.host,
			 l->relay.port, m->u.error.code, l->last_error);
		return 0;
	default:
		return l->ops->message ? l->ops->message(l, m) : ZT_APP_UNKNOWN;
	}
}

static void link_data(struct zt_qconn *c, int64_t sid, const uint8_t *data,
		      size_t len, int fin, void *owner)
{
	struct zt_relaylink *l = owner;
	struct zt_ctrl_msg m;
	int rv;

	zt_qconn_stream_consumed(l->conn, sid, len);
	if (sid != l->sid) {
		zt_ctrl_fail(l->conn, l->sid, ZT_APP_PROTOCOL,
			     "unexpected stream from relay");
		return;
	}
	rv = zt_ctrl_reader_feed(&l->rd, data, len);
	while (rv == 0 && (rv = zt_ctrl_reader_next(&l->rd, &m)) == 0) {
		int app = handle_msg(l, &m);

		zt_ctrl_msg_free(&m);
		if (app != 0) {
			zt_ctrl_fail(l->conn, l->sid, (uint32_t)app,
				     "unexpected control message");
			return;
		}
	}
	if (rv != 0 && rv != ZT_ETRUNC) {
		char t[96];

		snprintf(t, sizeof(t), "bad control message: %s",
			 zt_strerror(rv));
		zt_ctrl_fail(l->conn, l->sid, zt_ctrl_app_error(rv), t);
	}
}

static void link_closed(struct zt_qconn *c, const struct zt_close_info *ci,
			void *owner)
{
	struct zt_relaylink *l = owner;
	int was_up = l->state == ZT_LINK_UP;

	if (c == l->tconn) {
		l->tconn = NULL;
		log_info("relay %s:%u: handshake over TCP failed%s%s",
			 l->relay.host, l->relay.port,
			 ci->reason[0] ? ": " : "", ci->reason);
		tcp_drop(l);
		if (!l->conn && !was_up && l->state != ZT_LINK_STOPPED)
			schedule_retry(l);
		return;
	}
	if (!was_up && l->tcp) {
		/* UDP gave up; TCP is still on its way. */
		l->conn = NULL;
		snprintf(l->last_error, sizeof(l->last_error),
			 "no answer over UDP%s%s", ci->reason[0] ? ": " : "",
			 ci->reason);
		return;
	}
	tcp_drop(l);
	uv_timer_stop(&l->ttimer);
	l->transport = ZT_LINK_UDP;
	l->conn = NULL;
	l->sid = -1;
	if (ci->reason[0])
		snprintf(l->last_error, sizeof(l->last_error), "%s%s",
			 ci->local ? "" : "closed by relay: ", ci->reason);
	log_info("relay %s:%u: connection %s%s%s", l->relay.host,
		 l->relay.port, was_up ? "lost" : "failed",
		 ci->reason[0] ? ": " : "", l->last_error);
	/* An older relay refuses a newer HELLO outright: speak its version
	 * from now on (and say what that costs). */
	if (!ci->local && ci->kind == 1 && ci->code == ZT_APP_VERSION &&
	    !l->heard && l->version > ZT_CTRL_VERSION) {
		l->version--;
		log_warn("relay %s:%u: speaks control protocol %u only: %s",
			 l->relay.host, l->relay.port, l->version,
			 l->version < 2 ? "no relayed sessions through it" :
					  "relayed sessions, but candidates "
					  "are not re-sent when they change");
	}
	if (was_up && l->ops->down)
		l->ops->down(l);
	if (l->state != ZT_LINK_STOPPED)
		schedule_retry(l);
}

int zt_relaylink_send(struct zt_relaylink *l, const struct zt_ctrl_msg *m)
{
	struct zt_ctrl_msg v = *m;

	if (l->state != ZT_LINK_UP || !l->conn)
		return ZT_ECLOSED;
	v.version = l->version;
	return zt_ctrl_send(l->conn, l->sid, &v);
}

static void link_datagram(struct zt_qconn *c, const uint8_t *data, size_t len,
			  void *owner)
{
	struct zt_relaylink *l = owner;

	if (l->state == ZT_LINK_UP && l->ops->datagram)
		l->ops->datagram(l, data, len);
}

/* Connectors announce their interface addresses (with the shared socket's
 * port) so agents on the same LAN can go direct without the relay. A path
 * that is not a UDP socket of this host (the in-process tests' simulated
 * network) has one interface: its own local address. */
static void local_addrs(struct zt_relaylink *l, struct zt_ctrl_msg *m)
{
	uv_interface_address_t *ifs = NULL;
	struct zt_addr local;
	int n = 0;

	if (l->d->ops->role != ZT_ROLE_CONNECTOR)
		return;
	zt_netio_local(l->env->net, &local);
	if (strcmp(l->env->path->ops->kind, "udp") != 0) {
		if (zt_addr_reachable(&local) &&
		    m->u.hello.n_addrs < ZT_MAX_ADDRS)
			m->u.hello.addrs[m->u.hello.n_addrs++] = local;
		return;
	}
	if (uv_interface_addresses(&ifs, &n) != 0)
		return;
	for (int i = 0; i < n && m->u.hello.n_addrs < ZT_MAX_ADDRS; i++) {
		struct zt_addr a;

		if (ifs[i].is_internal)
			continue;
		if (zt_addr_from_sockaddr(&a, (struct sockaddr *)&ifs[i].address.address4) != 0 ||
		    a.family != local.family)
			continue;
		a.port = local.port;
		m->u.hello.addrs[m->u.hello.n_addrs++] = a;
	}
	uv_free_interface_addresses(ifs, n);
}
