/* The relay's TCP transport (docs/ARCHITECTURE.md, "UDP blocked: relay
 * links over TCP"): peers whose UDP is blocked reach the relay's QUIC
 * endpoint through TLS over TCP, each connection a pathio of its own
 * (control/tcpio.h). Anyone on the internet can open TCP connections to
 * it, so connections, handshakes in progress and handshakes per source
 * are bounded, new connections are rate limited per source and in all, and
 * a handshake has ZT_TCPIO_HS_MS to finish. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "relay_int.h"

#define RTCP_MAX_CONNS 1024
#define RTCP_MAX_HS 128
#define RTCP_HS_PER_SOURCE 8
/* Paths that carried QUIC stay 10 minutes after their connection: past
 * this many, new connections are refused rather than memory grow. */
#define RTCP_MAX_GRAVE 4096
#define RTCP_BACKLOG 128
/* New connections per second (and burst): each costs the relay a TLS
 * handshake (a signature) before it learns who the peer is. */
#define RTCP_SRC_RATE 10
#define RTCP_SRC_BURST 20
#define RTCP_RATE 200
#define RTCP_BURST 400
#define NS_PER_SEC 1000000000ULL

struct rtcp_conn {
	struct rtcp_conn *next;
	struct relay *r;
	struct zt_tcpio *io;
	struct zt_tcppath *path;
	int handshaking;
};

/* A source is an IPv4 address or an IPv6 /64, as for QUIC handshakes. */
static int same_source(const struct sockaddr_storage *a,
		       const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 8) == 0;
}

static size_t source_handshakes(const struct zt_rtcp *t,
				const struct rtcp_conn *c)
{
	size_t n = 0;

	for (const struct rtcp_conn *o = t->conns; o; o = o->next)
		if (o != c && o->handshaking &&
		    same_source(&o->io->peer, &c->io->peer))
			n++;
	return n;
}

/* GCRA, as the QUIC endpoint's stateless-packet budgets (quic_lim.c). */
static int gcra_ok(uint64_t tat, uint64_t now, uint64_t rate, uint64_t burst)
{
	uint64_t t = (tat > now ? tat : now) + NS_PER_SEC / rate;

	return t - now <= burst * (NS_PER_SEC / rate);
}

static void gcra_take(uint64_t *tat, uint64_t now, uint64_t rate)
{
	*tat = (*tat > now ? *tat : now) + NS_PER_SEC / rate;
}

/* Sources share the tat_src buckets by a keyed hash, so memory does not
 * grow with the number of sources. */
static uint64_t *source_bucket(struct zt_rtcp *t,
			       const struct sockaddr_storage *a)
{
	const uint8_t *b;
	size_t n;
	uint64_t h = 1469598103934665603ULL;

	if (a->ss_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr;
		n = 4;
	} else {
		b = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
		n = 8;
	}
	for (size_t i = 0; i < sizeof(t->seed); i++)
		h = (h ^ t->seed[i]) * 1099511628211ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return &t->tat_src[h % (sizeof(t->tat_src) / sizeof(t->tat_src[0]))];
}

/* Both buckets must conform before either is charged. */
static int rate_ok(struct zt_rtcp *t, const struct sockaddr_storage *a,
		   uint64_t now)
{
	uint64_t *src = source_bucket(t, a);

	if (!gcra_ok(*src, now, RTCP_SRC_RATE, RTCP_SRC_BURST) ||
	    !gcra_ok(t->tat_all, now, RTCP_RATE, RTCP_BURST))
		return 0;
	gcra_take(src, now, RTCP_SRC_RATE);
	gcra_take(&t->tat_all, now, RTCP_RATE);
	return 1;
}

static void conn_end(struct rtcp_conn *c)
{
	struct zt_rtcp *t = &c->r->tcp;
	struct rtcp_conn **pp;

	for (pp = &t->conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	t->n--;
	if (c->handshaking)
		t->n_hs--;
	zt_tcpgrave_bury(&t->grave, c->path, zt_now());
	free(c);
}

static void on_up(struct zt_tcpio *io, void *owner)
{
	struct rtcp_conn *c = owner;

	c->handshaking = 0;
	c->r->tcp.n_hs--;
	c->r->tcp.established++;
}

static void on_packet(struct zt_tcpio *io, const uint8_t *data, size_t len,
		      void *owner)
{
	struct rtcp_conn *c = owner;
	struct zt_daemon *d = c->r->d;

	if (d->ep)
		zt_ep_recv(d->ep, &c->path->pio,
			   (const struct sockaddr *)&c->path->remote,
			   c->path->remote_len, data, len, zt_now());
}

static void on_closed(struct zt_tcpio *io, const char *why, void *owner)
{
	struct rtcp_conn *c = owner;

	if (c->handshaking) {
		c->r->tcp.hs_failed++;
		log_debug("tcp: handshake #%u failed: %s", c->path->id, why);
	} else {
		log_info("tcp: connection #%u closed: %s", c->path->id, why);
	}
	conn_end(c);
}

static const struct zt_tcpio_ops rtcp_ops = {
	.up = on_up,
	.packet = on_packet,
	.closed = on_closed,
};

static int over_limit(struct zt_rtcp *t)
{
	if (t->n >= RTCP_MAX_CONNS)
		return t->refused_full++, 1;
	if (t->n_hs >= RTCP_MAX_HS)
		return t->refused_hs++, 1;
	if (t->grave.n >= RTCP_MAX_GRAVE) {
		zt_tcpgrave_bury(&t->grave, NULL, zt_now());
		if (t->grave.n >= RTCP_MAX_GRAVE)
			return t->refused_grave++, 1;
	}
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct zt_daemon *d = server->data;
	struct relay *r = d->role;
	struct zt_rtcp *t;
	struct rtcp_conn *c = NULL;

	if (status != 0 || !r || d->stopping || !r->tcp.on) {
		zt_tcpio_refuse(server);
		return;
	}
	t = &r->tcp;
	if (over_limit(t) || !(c = calloc(1, sizeof(*c))) ||
	    !(c->path = zt_tcpgrave_path(&t->grave, ZT_PATHIO_AUTHENTICATED)))
		goto refuse;
	c->r = r;
	/* The TCP and TLS handshakes proved the address and the outer
	 * certificate: no Retry on this path (ZT_PATHIO_AUTHENTICATED). */
	c->io = zt_tcpio_accept(server, d->tls.tcp_server, c->path,
				(uint64_t)d->cfg.idle_timeout_ms + 10000,
				&rtcp_ops, c);
	if (!c->io)
		goto refuse;
	c->handshaking = 1;
	c->next = t->conns;
	t->conns = c;
	t->n++;
	t->n_hs++;
	t->accepted++;
	if (!rate_ok(t, &c->io->peer, zt_now()))
		t->refused_rate++;
	else if (source_handshakes(t, c) >= RTCP_HS_PER_SOURCE)
		t->refused_source++;
	else
		return;
	zt_tcpio_close(c->io);
	conn_end(c);
	return;
refuse:
	if (c) {
		free(c->path);
		free(c);
	}
	zt_tcpio_refuse(server);
}

int rtcp_start(struct relay *r)
{
	struct zt_daemon *d = r->d;
	struct zt_rtcp *t = &r->tcp;
	char a[64];
	int rv;

	zt_tcpgrave_init(&t->grave);
	if (!d->has_tcp)
		return 0;
	wolfSSL_RAND_bytes(t->seed, sizeof(t->seed));
	zt_addr_str(&d->cfg.tcp_listen, a, sizeof(a));
	rv = uv_listen((uv_stream_t *)&d->tcp, RTCP_BACKLOG, on_connection);
	if (rv != 0) {
		if (d->cfg.tcp_listen_set) {
			log_error("tcp: cannot listen on %s: %s", a,
				  uv_strerror(rv));
			return ZT_EIO;
		}
		log_warn("tcp: cannot listen on %s (the default tcp_listen): "
			 "%s; peers whose UDP is blocked cannot reach this "
			 "relay",
			 a, uv_strerror(rv));
		return 0;
	}
	t->on = 1;
	log_info("tcp: listening on %s (TLS, for peers whose UDP is blocked)",
		 a);
	return 0;
}

void rtcp_stop(struct relay *r)
{
	struct zt_rtcp *t = &r->tcp;

	t->on = 0;
	while (t->conns) {
		struct rtcp_conn *c = t->conns;

		zt_tcpio_close(c->io);
		conn_end(c);
	}
}

void rtcp_destroy(struct relay *r)
{
	zt_tcpgrave_free(&r->tcp.grave);
}

const char *rtcp_transport(const struct zt_qconn *c)
{
	struct zt_qpath p;

	zt_qconn_path(c, &p);
	return p.pio && strcmp(p.pio->ops->kind, "tcp") == 0 ? "tcp" : "udp";
}

void rtcp_status(struct relay *r, struct zt_sb *b, int json)
{
	const struct zt_rtcp *t = &r->tcp;
	char a[64];

	zt_addr_str(&r->d->cfg.tcp_listen, a, sizeof(a));
	if (json) {
		zt_sb_printf(b,
			     ",\"tcp\":{\"listen\":\"%s\",\"connections\":%zu,"
			     "\"handshaking\":%zu,\"accepted\":%llu,"
			     "\"established\":%llu,\"handshake_failed\":%llu,"
			     "\"refused\":{\"full\":%llu,\"handshakes\":%llu,"
			     "\"source\":%llu,\"rate\":%llu,\"paths\":%llu}}",
			     t->on ? a : "", t->n, t->n_hs,
			     (unsigned long long)t->accepted,
			     (unsigned long long)t->established,
			     (unsigned long long)t->hs_failed,
			     (unsigned long long)t->refused_full,
			     (unsigned long long)t->refused_hs,
			     (unsigned long long)t->refused_source,
			     (unsigned long long)t->refused_rate,
			     (unsigned long long)t->refused_grave);
		return;
	}
	if (!t->on) {
		zt_sb_printf(b, "tcp:       off\n");
		return;
	}
	zt_sb_printf(b,
		     "tcp:       %s, %zu connection(s) (%zu in handshake), "
		     "%llu accepted, %llu handshakes failed; refused: full "
		     "%llu handshakes %llu source %llu rate %llu paths %llu\n",
		     a, t->n, t->n_hs, (unsigned long long)t->accepted,
		     (unsigned long long)t->hs_failed,
		     (unsigned long long)t->refused_full,
		     (unsigned long long)t->refused_hs,
		     (unsigned long long)t->refused_source,
		     (unsigned long long)t->refused_rate,
		     (unsigned long long)t->refused_grave);
}
