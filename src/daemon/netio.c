#include "netio.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "log.h"
#include "probe.h"

static int send_one(struct zt_netio *n, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int rv = uv_udp_try_send(&n->udp, &b, 1, remote);

	/* A full socket buffer drops the packet; QUIC recovers it. */
	return rv >= 0 ? 0 : ZT_EAGAIN;
}

/* The batch as one datagram that the kernel cuts into segments of gb.seg
 * bytes. When it will not, the packets go one by one, each with its own
 * verdict (a segment above the route's MTU: EINVAL or EMSGSIZE); a device
 * without checksum offload (EIO) ends the batching. */
static void gso_send(struct zt_netio *n)
{
	struct zt_gso *g = &n->gb;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { g->buf, g->len };
	struct msghdr m = { .msg_name = &g->to,
			    .msg_namelen = g->to_len,
			    .msg_iov = &iov,
			    .msg_iovlen = 1 };
	struct cmsghdr *cm;
	uint16_t seg = (uint16_t)g->seg;
	uv_os_fd_t fd;
	ssize_t r;

	if (g->n == 0 || uv_fileno((uv_handle_t *)&n->udp, &fd) != 0)
		goto out; /* closing: dropped like the rest of its queue */
	if (g->n == 1) {
		send_one(n, (struct sockaddr *)&g->to, g->buf, g->len);
		goto out;
	}
	memset(&ctl, 0, sizeof(ctl));
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	do
		r = sendmsg(fd, &m, 0);
	while (r < 0 && errno == EINTR);
	if (r >= 0 || errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == ENOBUFS)
		goto out; /* sent, or dropped as a full buffer drops */
	if (errno == EIO) {
		log_warn("quic: UDP segmentation offload refused (%s): "
			 "packets go one by one",
			 strerror(errno));
		n->gso = n->batching = 0;
	}
	for (size_t off = 0; off < g->len; off += g->seg)
		send_one(n, (struct sockaddr *)&g->to, g->buf + off,
			 g->len - off < g->seg ? g->len - off : g->seg);
out:
	g->n = 0;
	g->len = 0;
}

/* Within an endpoint flush, a packet joins the batch when it goes to the
 * batch's address and is no longer than its segments; a shorter one ends
 * it. Anything else sends the batch first: the order stays. */
static int udp_send(struct zt_pathio *p, const struct sockaddr *remote,
		    socklen_t remote_len, const uint8_t *data, size_t len)
{
	struct zt_netio *n = p->user;
	struct zt_gso *g = &n->gb;

	if (g->n &&
	    (!n->batching || len > g->seg || g->len + len > ZT_GSO_BYTES ||
	     remote_len != g->to_len || memcmp(remote, &g->to, remote_len)))
		gso_send(n);
	if (!n->batching || len == 0 || len > ZT_GSO_BYTES ||
	    remote_len > (socklen_t)sizeof(g->to))
		return send_one(n, remote, data, len);
	if (g->n == 0) {
		memcpy(&g->to, remote, remote_len);
		g->to_len = remote_len;
		g->seg = len;
	}
	memcpy(g->buf + g->len, data, len);
	g->len += len;
	g->n++;
	if (len < g->seg || g->n == ZT_GSO_SEGS ||
	    g->len + g->seg > ZT_GSO_BYTES)
		gso_send(n);
	return 0;
}

static const struct zt_pathio_ops udp_ops = { "udp", udp_send };

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct zt_netio *n = h->data;

	buf->base = (char *)n->rbuf;
	buf->len = sizeof(n->rbuf);
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *addr, unsigned flags)
{
	struct zt_netio *n = h->data;
	socklen_t alen;

	if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL))
		return;
	alen = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					   : sizeof(struct sockaddr_in);
	zt_netio_input(n, addr, alen, (const uint8_t *)buf->base,
		       (size_t)nread);
}

/* Probes are told apart by their first byte before QUIC sees them: the
 * endpoint would take one for a short header packet and answer with a
 * stateless reset. Without a probe handler they are dropped. */
void zt_netio_input(struct zt_netio *n, const struct sockaddr *remote,
		    socklen_t remote_len, const uint8_t *data, size_t len)
{
	if (zt_probe_is(data, len)) {
		if (n->probe)
			n->probe(n->probe_user, remote, remote_len, data, len);
		return;
	}
	if (n->ep)
		zt_ep_recv(n->ep, n->path, remote, remote_len, data, len,
			   uv_hrtime());
}

int zt_netio_send(struct zt_netio *n, const struct sockaddr *remote,
		  socklen_t remote_len, const uint8_t *data, size_t len)
{
	return n->path->ops->send(n->path, remote, remote_len, data, len);
}

static void timer_cb(uv_timer_t *t)
{
	zt_netio_flush(t->data);
}

/* After every loop iteration: whatever callbacks ran may have queued data
 * or changed deadlines. */
static void check_cb(uv_check_t *c)
{
	zt_netio_flush(c->data);
}

void zt_netio_flush(struct zt_netio *n)
{
	uint64_t now = uv_hrtime(), exp;

	if (!n->ep)
		return;
	n->batching = n->gso;
	zt_ep_flush(n->ep, now);
	n->batching = 0;
	gso_send(n);
	if (!n->ep)
		return; /* a callback closed us */
	exp = zt_ep_next_expiry(n->ep);
	if (exp == UINT64_MAX) {
		uv_timer_stop(&n->timer);
		return;
	}
	now = uv_hrtime();
	/* ns deadline to the loop's ms timer, rounding up so we do not spin
	 * before the deadline. */
	uv_timer_start(&n->timer, timer_cb,
		       exp <= now ? 0 : (exp - now + 999999) / 1000000, 0);
}

static void driver_init(struct zt_netio *n, uv_loop_t *loop,
			struct zt_ep *ep)
{
	memset(n, 0, sizeof(*n));
	n->loop = loop;
	n->ep = ep;
	uv_timer_init(loop, &n->timer);
	uv_check_init(loop, &n->check);
	n->timer.data = n->check.data = n;
}

static void driver_start(struct zt_netio *n)
{
	uv_check_start(&n->check, check_cb);
	/* Whatever the caller queues before the loop runs goes out in the
	 * first iteration, not after the first poll timeout. */
	uv_timer_start(&n->timer, timer_cb, 0, 0);
}

int zt_netio_init_path(struct zt_netio *n, uv_loop_t *loop,
		       struct zt_pathio *path, struct zt_ep *ep)
{
	driver_init(n, loop, ep);
	n->path = path;
	driver_start(n);
	return 0;
}

int zt_netio_init(struct zt_netio *n, uv_loop_t *loop,
		  const struct zt_addr *bind_addr, struct zt_ep *ep)
{
	struct sockaddr_storage ss;
	char a[64];
	int len, rv;

	driver_init(n, loop, ep);
	zt_addr_to_sockaddr(bind_addr, &ss);
	uv_udp_init_ex(loop, &n->udp, ss.ss_family);
	n->udp.data = n;
	n->has_udp = 1;
	n->path = &n->pio;
	rv = uv_udp_bind(&n->udp, (struct sockaddr *)&ss, 0);
	if (rv != 0) {
		log_error("quic: cannot bind %s: %s",
			  zt_addr_str(bind_addr, a, sizeof(a)), uv_strerror(rv));
		return ZT_EIO;
	}
	/* Bigger kernel buffers than the default ~200 KiB: bursts of QUIC
	 * packets otherwise drop before the loop reads them. */
	len = 4 * 1024 * 1024;
	uv_recv_buffer_size((uv_handle_t *)&n->udp, &len);
	len = 4 * 1024 * 1024;
	uv_send_buffer_size((uv_handle_t *)&n->udp, &len);
	n->pio.ops = &udp_ops;
	n->pio.user = n;
	len = sizeof(n->pio.local);
	uv_udp_getsockname(&n->udp, (struct sockaddr *)&n->pio.local, &len);
	n->pio.local_len = (socklen_t)len;
	uv_udp_recv_start(&n->udp, alloc_cb, recv_cb);
	driver_start(n);
	return 0;
}

void zt_netio_gso(struct zt_netio *n, int on)
{
	n->gso = on && n->has_udp;
}

void zt_netio_local(const struct zt_netio *n, struct zt_addr *a)
{
	zt_addr_from_sockaddr(a, (const struct sockaddr *)&n->path->local);
}

void zt_netio_close(struct zt_netio *n)
{
	n->ep = NULL;
	if (n->has_udp && !uv_is_closing((uv_handle_t *)&n->udp))
		uv_close((uv_handle_t *)&n->udp, NULL);
	if (!uv_is_closing((uv_handle_t *)&n->timer))
		uv_close((uv_handle_t *)&n->timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&n->check))
		uv_close((uv_handle_t *)&n->check, NULL);
}
