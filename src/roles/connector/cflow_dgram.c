/* Connector UDP and ICMP echo flows: payloads travel as QUIC DATAGRAM
 * frames; the stream only carries the header, the status and the end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cflow_int.h"
#include "log.h"
#include "pkt.h"

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

	if (n <= 0 || f->state != CF_OPEN)
		return;
	/* The prefix is written right before the payload: no copy. */
	pl = zt_flow_dgram_put(f->cf->dgbuf, sizeof(f->cf->dgbuf), f->sid);
	memcpy(p - pl, f->cf->dgbuf, pl);
	if (zt_qconn_send_datagram(f->sess->c, p - pl, pl + (size_t)n) == 0)
		f->down += (uint64_t)n;
	f->last_ns = uv_hrtime();
}

/* ICMP echo flows use an unprivileged ICMP socket ("ping socket"), which
 * libuv drives like a UDP one. Returns the fd, or -1. */
static int icmp_socket(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);

	if (fd < 0)
		log_warn("icmp: no unprivileged ICMP socket here "
			 "(net.ipv4.ping_group_range): %s", strerror(errno));
	return fd;
}

/* The libuv part: a UDP handle on fd (ICMP) or a new socket, connected to
 * the target, receiving. Returns 0 or a libuv error, for the log only. */
static int udp_start(struct cflow *f, int fd, const struct sockaddr *to)
{
	int rv;

	f->udp = malloc(sizeof(*f->udp));
	if (!f->udp) {
		if (fd >= 0)
			close(fd);
		return UV_ENOMEM;
	}
	uv_udp_init(f->cf->loop, f->udp);
	f->udp->data = f;
	f->refs++;
	if (fd >= 0 && (rv = uv_udp_open(f->udp, fd)) != 0) {
		close(fd);
		return rv;
	}
	rv = uv_udp_connect(f->udp, to);
	return rv ? rv : uv_udp_recv_start(f->udp, udp_alloc, udp_recv);
}

/* UDP flows get a connected UDP socket. On success the flow is open and
 * the agent has its OK; a failure refuses the flow. */
void cflow_dgram_open(struct cflow *f, const struct sockaddr *to)
{
	int rv, fd = -1;

	if (f->hdr.proto == ZT_IPPROTO_ICMP &&
	    (fd = icmp_socket(to->sa_family)) < 0) {
		cflow_refuse(f, ZT_FLOW_UNREACHABLE, "no ICMP socket");
		return;
	}
	rv = udp_start(f, fd, to);
	if (rv != 0) {
		cflow_refuse(f, ZT_FLOW_UNREACHABLE, uv_strerror(rv));
		return;
	}
	cflow_set_state(f, CF_OPEN);
	f->last_ns = uv_hrtime();
	uv_timer_stop(&f->timer);
	cflow_reply(f, ZT_FLOW_OK);
}

/* Stream bytes on an open datagram flow mean nothing; its FIN means the
 * agent is done with the flow. */
void cflow_dgram_data(struct cflow *f, int fin)
{
	if (!fin)
		return;
	zt_qconn_stream_send(f->sess->c, f->sid, NULL, 0, 1);
	cflow_close(f, "closed", CF_END_CLEAN);
}

/* A datagram from the agent for this flow. */
void cflow_dgram_to_target(struct cflow *f, const uint8_t *d, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);

	if (!f->udp || f->state != CF_OPEN)
		return;
	/* Datagrams stay unreliable end to end: a full socket drops. */
	if (uv_udp_try_send(f->udp, &b, 1, NULL) >= 0)
		f->up += n;
	f->last_ns = uv_hrtime();
}

/* Datagram flows end after a minute without traffic either way. */
void cflow_dgram_sweep(struct cflow *f, uint64_t now)
{
	if (f->udp && f->state == CF_OPEN && now - f->last_ns > ZT_UDP_IDLE_NS) {
		zt_qconn_stream_send(f->sess->c, f->sid, NULL, 0, 1);
		cflow_close(f, "idle", CF_END_CLEAN);
	}
}

static void udp_closed(uv_handle_t *h)
{
	struct cflow *f = h->data;

	free(h);
	cflow_release(f);
}

void cflow_dgram_close(struct cflow *f)
{
	if (f->udp && !uv_is_closing((uv_handle_t *)f->udp))
		uv_close((uv_handle_t *)f->udp, udp_closed);
}
