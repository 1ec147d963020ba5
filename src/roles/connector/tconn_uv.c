/* Targets over libuv sockets: uv_getaddrinfo, then a TCP connection
 * (TCP_NODELAY), a connected UDP socket, or an unprivileged ICMP socket
 * driven as a UDP handle. Contract: tconn.h. */
#include "tconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "flowhdr.h"
#include "log.h"
#include "pkt.h"

struct uvt {
	struct zt_tconn *t;
	int proto;
	int refs; /* handles open and requests in flight */
	int closing, connected, has_tcp, has_udp, gai_busy;
	uv_getaddrinfo_t gai;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	uv_tcp_t tcp;
	uv_udp_t udp;
};

struct wreq {
	uv_write_t w;
	struct uvt *u;
	size_t len;
	uint8_t data[];
};

/* Bytes are handed on at once (the flow copies them into its stream):
 * one buffer serves every connection of the loop's thread. */
static uint8_t rbuf[65536];

static void release(struct uvt *u)
{
	struct zt_tconn *t = u->t;

	/* Before close() nothing is freed: the owner still holds t. */
	if (--u->refs > 0 || !u->closing)
		return;
	free(u);
	t->impl = NULL;
	t->cb->closed(t);
}

static void handle_closed(uv_handle_t *h)
{
	release(h->data);
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	(void)h;
	(void)sz;
	b->base = (char *)rbuf;
	b->len = sizeof(rbuf);
}

static void tcp_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct uvt *u = s->data;

	if (u->closing || n == 0)
		return;
	if (n == UV_EOF) {
		uv_read_stop(s);
		u->t->cb->recv(u->t, NULL, 0);
	} else if (n < 0) {
		uv_read_stop(s);
		u->t->cb->failed(u->t, uv_err_name((int)n));
	} else {
		u->t->cb->recv(u->t, (const uint8_t *)b->base, (size_t)n);
	}
}

static void udp_recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *b,
			const struct sockaddr *from, unsigned flags)
{
	struct uvt *u = h->data;

	(void)from;
	(void)flags;
	if (u->closing || n <= 0)
		return;
	u->t->cb->recv(u->t, (const uint8_t *)b->base, (size_t)n);
}

static void connected(uv_connect_t *req, int status)
{
	struct uvt *u = req->data;

	if (!u->closing) {
		if (status == 0) {
			u->connected = 1;
			uv_tcp_nodelay(&u->tcp, 1);
			u->t->cb->dialed(u->t, 0, NULL);
		} else {
			u->t->cb->dialed(u->t,
					 status == UV_ECONNREFUSED ?
						 ZT_FLOW_REFUSED :
						 ZT_FLOW_UNREACHABLE,
					 uv_strerror(status));
		}
	}
	release(u);
}

static void tcp_dial(struct uvt *u, uv_loop_t *loop, const struct sockaddr *to)
{
	int rv;

	uv_tcp_init(loop, &u->tcp);
	u->tcp.data = u;
	u->has_tcp = 1;
	u->refs++;
	u->creq.data = u;
	rv = uv_tcp_connect(&u->creq, &u->tcp, to, connected);
	if (rv != 0) {
		u->t->cb->dialed(u->t, ZT_FLOW_UNREACHABLE, uv_strerror(rv));
		return;
	}
	u->refs++; /* the request */
}

/* ICMP echo flows use an unprivileged ICMP socket ("ping socket"). */
static int icmp_socket(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);

	if (fd < 0)
		log_warn("icmp: no unprivileged ICMP socket here "
			 "(net.ipv4.ping_group_range): %s",
			 strerror(errno));
	return fd;
}

static void udp_dial(struct uvt *u, uv_loop_t *loop, const struct sockaddr *to)
{
	int rv, fd = -1;

	if (u->proto == ZT_IPPROTO_ICMP &&
	    (fd = icmp_socket(to->sa_family)) < 0) {
		u->t->cb->dialed(u->t, ZT_FLOW_UNREACHABLE, "no ICMP socket");
		return;
	}
	uv_udp_init(loop, &u->udp);
	u->udp.data = u;
	u->has_udp = 1;
	u->refs++;
	if (fd >= 0 && (rv = uv_udp_open(&u->udp, fd)) != 0)
		close(fd);
	else if ((rv = uv_udp_connect(&u->udp, to)) == 0)
		rv = uv_udp_recv_start(&u->udp, alloc_cb, udp_recv_cb);
	u->t->cb->dialed(u->t, rv ? ZT_FLOW_UNREACHABLE : 0,
			 rv ? uv_strerror(rv) : NULL);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct uvt *u = req->data;

	u->gai_busy = 0;
	if (u->closing) {
		/* ended while we resolved (UV_ECANCELED) */
	} else if (status != 0 || !res) {
		u->t->cb->dialed(u->t, ZT_FLOW_UNREACHABLE,
				 "target name did not resolve");
	} else if (u->proto == ZT_IPPROTO_TCP) {
		tcp_dial(u, req->loop, res->ai_addr);
	} else {
		udp_dial(u, req->loop, res->ai_addr);
	}
	uv_freeaddrinfo(res);
	release(u); /* the request's hold */
}

static int uv_dial(struct zt_tconn *t, uv_loop_t *loop, void *user, int proto,
		   const char *host, const char *port, const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct uvt *u = calloc(1, sizeof(*u));
	int rv;

	(void)user;
	if (!u) {
		*why = "out of memory";
		return ZT_ENOMEM;
	}
	if (proto != ZT_IPPROTO_TCP)
		hints.ai_socktype = SOCK_DGRAM;
	u->t = t;
	u->proto = proto;
	u->gai.data = u;
	rv = uv_getaddrinfo(loop, &u->gai, resolved, host, port, &hints);
	if (rv != 0) {
		free(u);
		*why = uv_strerror(rv);
		return ZT_EIO;
	}
	u->refs = 1;
	u->gai_busy = 1;
	t->impl = u;
	return 0;
}

static void uv_read(struct zt_tconn *t, int on)
{
	struct uvt *u = t->impl;

	if (on)
		uv_read_start((uv_stream_t *)&u->tcp, alloc_cb, tcp_read_cb);
	else
		uv_read_stop((uv_stream_t *)&u->tcp);
}

static void wrote(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;
	struct uvt *u = r->u;
	size_t n = r->len;

	free(r);
	if (!u->closing)
		u->t->cb->wrote(u->t, n, status ? uv_strerror(status) : NULL);
	release(u);
}

static int uv_write_(struct zt_tconn *t, const uint8_t *d, size_t n,
		     const char **why)
{
	struct uvt *u = t->impl;
	struct wreq *r = malloc(sizeof(*r) + n);
	uv_buf_t b;
	int rv;

	if (!r) {
		*why = "out of memory";
		return ZT_ENOMEM;
	}
	r->u = u;
	r->len = n;
	memcpy(r->data, d, n);
	b = uv_buf_init((char *)r->data, (unsigned)n);
	rv = uv_write(&r->w, (uv_stream_t *)&u->tcp, &b, 1, wrote);
	if (rv != 0) {
		free(r);
		*why = uv_strerror(rv);
		return ZT_EIO;
	}
	u->refs++;
	return 0;
}

static void shut_done(uv_shutdown_t *req, int status)
{
	struct uvt *u = req->data;

	if (!u->closing)
		u->t->cb->shut(u->t, status ? uv_strerror(status) : NULL);
	release(u);
}

static int uv_shut(struct zt_tconn *t, const char **why)
{
	struct uvt *u = t->impl;
	int rv;

	u->sreq.data = u;
	rv = uv_shutdown(&u->sreq, (uv_stream_t *)&u->tcp, shut_done);
	if (rv != 0) {
		*why = uv_strerror(rv);
		return ZT_EIO;
	}
	u->refs++;
	return 0;
}

static int uv_send(struct zt_tconn *t, const uint8_t *d, size_t n)
{
	struct uvt *u = t->impl;
	uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);

	/* Datagrams stay unreliable end to end: a full socket drops. */
	return uv_udp_try_send(&u->udp, &b, 1, NULL) >= 0 ? 0 : ZT_EAGAIN;
}

/* close_reset fails on a socket that is not connected: then a plain
 * close. Pending writes and the shutdown call back with UV_ECANCELED,
 * which closing keeps from the owner. */
static void uv_close_(struct zt_tconn *t, int rst)
{
	struct uvt *u = t->impl;

	u->closing = 1;
	u->refs++; /* this call's own hold */
	if (u->has_tcp && (!rst || !u->connected ||
			   uv_tcp_close_reset(&u->tcp, handle_closed) != 0))
		uv_close((uv_handle_t *)&u->tcp, handle_closed);
	if (u->has_udp)
		uv_close((uv_handle_t *)&u->udp, handle_closed);
	if (u->gai_busy)
		uv_cancel((uv_req_t *)&u->gai);
	release(u);
}

const struct zt_tconn_ops zt_tconn_uv_ops = {
	.kind = "uv",
	.dial = uv_dial,
	.read = uv_read,
	.write = uv_write_,
	.shutdown = uv_shut,
	.send = uv_send,
	.close = uv_close_,
};
