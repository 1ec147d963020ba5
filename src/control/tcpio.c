/* The TCP transport of relay links (tcpio.h): libuv TCP, wolfSSL TLS 1.3
 * on memory callbacks, the length framing of wire/tcpframe.c. */
#include "tcpio.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "tls.h"

#define GRAVE_NS (600ULL * 1000000000ULL) /* ngtcp2's path history */

static const uint8_t prefix[6] = { 0xfd, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a };

static void tcp_addr(struct sockaddr_storage *ss, socklen_t *len, unsigned kind,
		     uint32_t id)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	uint8_t *b = a->sin6_addr.s6_addr;

	memset(ss, 0, sizeof(*ss));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(1);
	memcpy(b, prefix, sizeof(prefix));
	b[6] = (uint8_t)kind;
	b[8] = (uint8_t)(id >> 24);
	b[9] = (uint8_t)(id >> 16);
	b[10] = (uint8_t)(id >> 8);
	b[11] = (uint8_t)id;
	*len = sizeof(*a);
}

int zt_tcppath_is(const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;

	return len >= (socklen_t)sizeof(*a) && sa->sa_family == AF_INET6 &&
	       memcmp(a->sin6_addr.s6_addr, prefix, sizeof(prefix)) == 0 &&
	       (a->sin6_addr.s6_addr[6] == ZT_TCPPATH_LOCAL ||
		a->sin6_addr.s6_addr[6] == ZT_TCPPATH_REMOTE);
}

static int io_send_packet(struct zt_tcpio *t, const uint8_t *data, size_t len);

/* QUIC's send: framed into the TLS stream, or dropped like a datagram a
 * full socket refuses (QUIC retransmits) when the connection is gone or
 * its write queue is over the limit. */
static int path_send(struct zt_pathio *pio, const struct sockaddr *remote,
		     socklen_t remote_len, const uint8_t *data, size_t len)
{
	struct zt_tcppath *p = pio->user;

	if (!p->io || p->io->state != ZT_TCPIO_UP ||
	    io_send_packet(p->io, data, len) != 0) {
		p->dropped++;
		return 0;
	}
	p->sent++;
	return 0;
}

static const struct zt_pathio_ops tcppath_ops = {
	.kind = "tcp",
	.send = path_send,
};

void zt_tcpgrave_init(struct zt_tcpgrave *g)
{
	memset(g, 0, sizeof(*g));
}

struct zt_tcppath *zt_tcpgrave_path(struct zt_tcpgrave *g, unsigned flags)
{
	struct zt_tcppath *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->id = ++g->next_id;
	p->pio.ops = &tcppath_ops;
	p->pio.user = p;
	p->pio.flags = flags;
	tcp_addr(&p->pio.local, &p->pio.local_len, ZT_TCPPATH_LOCAL, p->id);
	tcp_addr(&p->remote, &p->remote_len, ZT_TCPPATH_REMOTE, p->id);
	return p;
}

void zt_tcpgrave_bury(struct zt_tcpgrave *g, struct zt_tcppath *p, uint64_t now)
{
	struct zt_tcppath **pp = &g->head;

	while (*pp) {
		struct zt_tcppath *q = *pp;

		if (now - q->dead_ns < GRAVE_NS) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		g->n--;
		free(q);
	}
	if (!p)
		return;
	p->io = NULL;
	if (!p->used) {
		free(p);
		return;
	}
	p->dead_ns = now;
	p->next = g->head;
	g->head = p;
	g->n++;
}

void zt_tcpgrave_free(struct zt_tcpgrave *g)
{
	while (g->head) {
		struct zt_tcppath *p = g->head;

		g->head = p->next;
		free(p);
	}
	g->n = 0;
}

/* wolfSSL's I/O: ciphertext comes from the buffer the read callback
 * hands over, goes out through the socket's write queue. */

struct wreq {
	uv_write_t req;
	uint8_t data[];
};

static void write_done(uv_write_t *req, int status)
{
	free(req);
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct zt_tcpio *t = ctx;
	size_t n = t->in_len < (size_t)sz ? t->in_len : (size_t)sz;

	if (n == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	memcpy(buf, t->in, n);
	t->in += n;
	t->in_len -= n;
	return (int)n;
}

/* Whatever wolfSSL writes is taken whole: the limit is applied to QUIC
 * packets before they reach wolfSSL (io_send_packet), so the queue grows
 * by at most one record beyond it. */
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct zt_tcpio *t = ctx;
	uv_buf_t b = uv_buf_init(buf, (unsigned)sz);
	struct wreq *w;
	int n;

	if (t->state == ZT_TCPIO_CLOSED)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	n = uv_try_write((uv_stream_t *)&t->tcp, &b, 1);
	if (n == sz)
		return sz;
	if (n < 0 && n != UV_EAGAIN)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	if (n < 0)
		n = 0;
	w = malloc(sizeof(*w) + (size_t)(sz - n));
	if (!w)
		return WOLFSSL_CBIO_ERR_GENERAL;
	memcpy(w->data, buf + n, (size_t)(sz - n));
	b = uv_buf_init((char *)w->data, (unsigned)(sz - n));
	if (uv_write(&w->req, (uv_stream_t *)&t->tcp, &b, 1, write_done) != 0) {
		free(w);
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	}
	return sz;
}

size_t zt_tcpio_queued(const struct zt_tcpio *t)
{
	return t->state == ZT_TCPIO_CLOSED ?
		       0 :
		       uv_stream_get_write_queue_size(
			       (const uv_stream_t *)&t->tcp);
}

static int io_send_packet(struct zt_tcpio *t, const uint8_t *data, size_t len)
{
	uint8_t buf[ZT_TCPF_HDR + ZT_TCPF_MAX];

	if (zt_tcpio_queued(t) > ZT_TCPIO_WQ_MAX) {
		t->dropped_wq++;
		return ZT_EAGAIN;
	}
	if (zt_tcpf_hdr(buf, len) == 0)
		return ZT_ETOOBIG;
	memcpy(buf + ZT_TCPF_HDR, data, len);
	if (wolfSSL_write(t->ssl, buf, (int)(ZT_TCPF_HDR + len)) !=
	    (int)(ZT_TCPF_HDR + len))
		return ZT_EIO;
	return 0;
}

/* Lifetime: the handles' close callbacks free t once both are done. */

static void handle_closed(uv_handle_t *h)
{
	struct zt_tcpio *t = h->data;

	if (--t->handles == 0) {
		if (t->ssl)
			wolfSSL_free(t->ssl);
		free(t);
	}
}

void zt_tcpio_close(struct zt_tcpio *t)
{
	if (t->state == ZT_TCPIO_CLOSED)
		return;
	t->state = ZT_TCPIO_CLOSED;
	if (t->path)
		t->path->io = NULL;
	t->path = NULL;
	uv_close((uv_handle_t *)&t->tcp, handle_closed);
	uv_close((uv_handle_t *)&t->timer, handle_closed);
}

static void fail(struct zt_tcpio *t, const char *fmt, const char *arg)
{
	if (t->state == ZT_TCPIO_CLOSED)
		return;
	snprintf(t->why, sizeof(t->why), fmt, arg);
	zt_tcpio_close(t);
	if (t->ops->closed)
		t->ops->closed(t, t->why, t->owner);
}

static void timer_cb(uv_timer_t *h)
{
	struct zt_tcpio *t = h->data;

	if (t->state != ZT_TCPIO_UP) {
		fail(t, "%s", "handshake timed out");
		return;
	}
	if (uv_now(h->loop) - t->last_rx_ms >= t->idle_ms)
		fail(t, "%s", "idle");
	else
		uv_timer_start(&t->timer, timer_cb,
			       t->last_rx_ms + t->idle_ms - uv_now(h->loop), 0);
}

static struct zt_tcpio *io_new(uv_loop_t *loop, struct WOLFSSL_CTX *ctx,
			       int server, struct zt_tcppath *path,
			       const struct zt_tcpio_ops *ops, void *owner)
{
	struct zt_tcpio *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->server = server;
	t->ops = ops;
	t->owner = owner;
	t->path = path;
	zt_tcpf_rd_init(&t->rd);
	uv_tcp_init(loop, &t->tcp);
	uv_timer_init(loop, &t->timer);
	t->tcp.data = t->timer.data = t;
	t->handles = 2;
	t->ssl = wolfSSL_new(ctx);
	if (t->ssl) {
		wolfSSL_SSLSetIORecv(t->ssl, io_recv);
		wolfSSL_SSLSetIOSend(t->ssl, io_send);
		wolfSSL_SetIOReadCtx(t->ssl, t);
		wolfSSL_SetIOWriteCtx(t->ssl, t);
	}
	if (!t->ssl || wolfSSL_UseALPN(t->ssl, (char *)ZT_ALPN_TCP,
				       sizeof(ZT_ALPN_TCP) - 1,
				       WOLFSSL_ALPN_FAILED_ON_MISMATCH) !=
			       WOLFSSL_SUCCESS) {
		zt_tcpio_close(t);
		return NULL;
	}
	path->io = t;
	uv_timer_start(&t->timer, timer_cb, ZT_TCPIO_HS_MS, 0);
	return t;
}

/* A client accepts the server only with our ALPN and the relay's name in
 * its certificate (the chain was checked against the CA by wolfSSL). */
static int handshake_done(struct zt_tcpio *t)
{
	if (zt_tls_check_alpn_tcp(t->ssl) != 0) {
		fail(t, "%s", "TLS: no ALPN " ZT_ALPN_TCP);
		return ZT_ETLS;
	}
	if (!t->server && !zt_tls_peer_is(t->ssl, t->host)) {
		fail(t, "TLS: certificate does not name %s", t->host);
		return ZT_EDENIED;
	}
	t->state = ZT_TCPIO_UP;
	t->last_rx_ms = uv_now(t->tcp.loop);
	uv_timer_stop(&t->timer);
	if (t->idle_ms)
		uv_timer_start(&t->timer, timer_cb, t->idle_ms, 0);
	if (t->ops->up)
		t->ops->up(t, t->owner);
	return t->state == ZT_TCPIO_UP ? 0 : ZT_ECLOSED;
}

static int tls_step(struct zt_tcpio *t)
{
	int r = t->server ? wolfSSL_accept(t->ssl) : wolfSSL_connect(t->ssl);
	int err;

	if (r == WOLFSSL_SUCCESS)
		return handshake_done(t);
	err = wolfSSL_get_error(t->ssl, r);
	if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
		return ZT_EAGAIN;
	fail(t, "TLS handshake failed: %s",
	     wolfSSL_ERR_reason_error_string((unsigned long)err));
	return ZT_ETLS;
}

/* Plaintext into packets; stops when the owner closed t from a packet. */
static int deliver(struct zt_tcpio *t, const uint8_t *d, size_t n)
{
	while (n > 0 && t->state == ZT_TCPIO_UP) {
		const uint8_t *pkt;
		size_t used, plen;
		int rv = zt_tcpf_read(&t->rd, d, n, &used, &pkt, &plen);

		if (rv < 0) {
			fail(t, "bad frame: %s", zt_strerror(rv));
			return rv;
		}
		d += used;
		n -= used;
		if (rv == 1) {
			t->path->recv++;
			t->path->used = 1;
			t->ops->packet(t, pkt, plen, t->owner);
		}
	}
	return t->state == ZT_TCPIO_UP ? 0 : ZT_ECLOSED;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char rbuf[65536]; /* consumed whole before the callback returns */

	buf->base = rbuf;
	buf->len = sizeof(rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct zt_tcpio *t = s->data;
	int r;

	if (nread == 0 || t->state == ZT_TCPIO_CLOSED)
		return;
	if (nread < 0) {
		fail(t, "%s",
		     nread == UV_EOF ? "closed by peer" :
				       uv_strerror((int)nread));
		return;
	}
	t->in = (const uint8_t *)buf->base;
	t->in_len = (size_t)nread;
	if (t->state == ZT_TCPIO_HANDSHAKE && tls_step(t) != 0)
		goto out;
	t->last_rx_ms = uv_now(s->loop);
	while (t->state == ZT_TCPIO_UP) {
		r = wolfSSL_read(t->ssl, t->plain, sizeof(t->plain));
		if (r <= 0) {
			int err = wolfSSL_get_error(t->ssl, r);

			if (err != WOLFSSL_ERROR_WANT_READ)
				fail(t, "TLS: %s",
				     err == WOLFSSL_ERROR_ZERO_RETURN ?
					     "closed by peer" :
					     wolfSSL_ERR_reason_error_string(
						     (unsigned long)err));
			break;
		}
		if (deliver(t, t->plain, (size_t)r) != 0)
			break;
	}
out:
	/* The buffer is static: nothing of it may be left for later. */
	t->in = NULL;
	t->in_len = 0;
}

/* Returns 0 or a libuv error (the caller closes t). */
static int start_tls(struct zt_tcpio *t)
{
	t->state = ZT_TCPIO_HANDSHAKE;
	uv_tcp_nodelay(&t->tcp, 1);
	return uv_read_start((uv_stream_t *)&t->tcp, alloc_cb, read_cb);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct zt_tcpio *t = req->data;

	if (t->state == ZT_TCPIO_CLOSED)
		return;
	if (status != 0) {
		fail(t, "TCP connect: %s", uv_strerror(status));
		return;
	}
	status = start_tls(t);
	if (status != 0)
		fail(t, "%s", uv_strerror(status));
	else
		tls_step(t); /* ClientHello */
}

struct zt_tcpio *zt_tcpio_connect(uv_loop_t *loop, struct WOLFSSL_CTX *ctx,
				  const struct sockaddr *remote,
				  const char *host, struct zt_tcppath *path,
				  const struct zt_tcpio_ops *ops, void *owner)
{
	struct zt_tcpio *t = io_new(loop, ctx, 0, path, ops, owner);
	int rv;

	if (!t)
		return NULL;
	snprintf(t->host, sizeof(t->host), "%s", host);
	memcpy(&t->peer, remote,
	       remote->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					       sizeof(struct sockaddr_in));
	/* SNI for middleboxes that want one; the name is checked after. */
	wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, t->host,
		       (unsigned short)strlen(t->host));
	t->creq.data = t;
	rv = uv_tcp_connect(&t->creq, &t->tcp, remote, connect_cb);
	if (rv != 0) {
		log_warn("tcp: cannot connect to %s: %s", host,
			 uv_strerror(rv));
		zt_tcpio_close(t);
		return NULL;
	}
	return t;
}

struct zt_tcpio *zt_tcpio_accept(uv_stream_t *listener, struct WOLFSSL_CTX *ctx,
				 struct zt_tcppath *path, uint64_t idle_ms,
				 const struct zt_tcpio_ops *ops, void *owner)
{
	struct zt_tcpio *t = io_new(listener->loop, ctx, 1, path, ops, owner);
	int len = sizeof(struct sockaddr_storage);

	if (!t)
		return NULL;
	t->idle_ms = idle_ms;
	if (uv_accept(listener, (uv_stream_t *)&t->tcp) != 0 ||
	    uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&t->peer, &len) !=
		    0 ||
	    start_tls(t) != 0) {
		zt_tcpio_close(t);
		return NULL;
	}
	return t;
}

static void refused_closed(uv_handle_t *h)
{
	free(h);
}

void zt_tcpio_refuse(uv_stream_t *listener)
{
	uv_tcp_t *c = malloc(sizeof(*c));

	if (!c)
		return;
	uv_tcp_init(listener->loop, c);
	uv_accept(listener, (uv_stream_t *)c);
	uv_close((uv_handle_t *)c, refused_closed);
}
