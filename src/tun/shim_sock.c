/* Shim backend: ztnad listens on a Unix stream socket and exchanges framed
 * packets with one shim (the macOS Network Extension, or ztnad-shim-linux)
 * that owns the real tunnel interface. Framing: docs/PROTOCOL.md ("Shim socket").
 *
 * Nothing here blocks. Input is reassembled in rbuf (two frames at most).
 * Output goes through wbuf, a 1 MiB queue of whole frames: write() appends
 * a frame and sends what the socket takes; a packet that does not fit is
 * dropped (ZT_EAGAIN), so a partial frame never reaches the socket and a
 * slow shim costs packets, not memory or latency of the event loop. The
 * last 64 KiB of the queue are kept for CONFIG frames, which must not be
 * dropped. */
#define _GNU_SOURCE /* accept4 */
#include "pktsrc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "netlink.h"

#define FRAME_MAX (ZT_SHIM_HDR_LEN + ZT_SHIM_BODY_MAX)
#define RBUF_CAP (2 * FRAME_MAX)
#define WBUF_CAP (1024 * 1024)
#define PACKET_LIMIT (WBUF_CAP - FRAME_MAX) /* the rest is for CONFIG */

static void shim_close(struct zt_pktsrc *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->cfg.shim_socket);
	}
	s->fd = s->listen_fd = -1;
	free(s->rbuf);
	free(s->wbuf);
	s->rbuf = s->wbuf = NULL;
	s->rpos = s->rlen = s->wpos = s->wlen = 0;
}

/* Is someone listening on the socket at sa? A refused connection means a
 * stale socket file; a non-blocking connect never waits. */
static int in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rv;

	if (fd < 0)
		return 0;
	rv = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	     errno == EAGAIN;
	close(fd);
	return rv;
}

/* Removes a socket left by a crashed daemon, so bind() succeeds, but
 * refuses to delete anything that is not a socket (a mistyped path) or a
 * socket another ztnad still listens on. */
static int unlink_stale(const struct sockaddr_un *sa)
{
	struct stat st;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : ZT_EIO;
	if (!S_ISSOCK(st.st_mode) || in_use(sa)) {
		errno = S_ISSOCK(st.st_mode) ? EADDRINUSE : EEXIST;
		return ZT_EIO;
	}
	return unlink(sa->sun_path) < 0 ? ZT_EIO : 0;
}

static int shim_listen(struct zt_pktsrc *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = s->cfg.shim_socket;
	const char *what = "socket";
	mode_t old;
	int rv;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	s->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		goto fail;
	what = "remove stale socket";
	if (unlink_stale(&sa) != 0)
		goto fail;
	/* Created 0700 from the start: whoever connects sees and injects
	 * the agent's traffic, so only root or ztnad's user may. */
	what = "bind";
	old = umask(0077);
	rv = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rv < 0)
		goto fail;
	what = "listen";
	if (listen(s->listen_fd, 4) < 0)
		goto fail;
	return 0;
fail:
	log_error("shim socket %s: %s: %s", path, what, strerror(errno));
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1; /* so close() does not unlink someone else's */
	return ZT_EIO;
}

static int shim_open(struct zt_pktsrc *s, const struct zt_pktsrc_config *cfg)
{
	size_t len = strnlen(cfg->shim_socket, sizeof(cfg->shim_socket));
	int rv;

	memset(s, 0, sizeof(*s));
	s->ops = &zt_pktsrc_shim_ops;
	s->fd = s->listen_fd = -1;
	s->cfg = *cfg;
	if (len == 0 || len >= sizeof(cfg->shim_socket) ||
	    cfg->n_routes > ZT_PKTSRC_MAX_ROUTES) {
		log_error("shim socket: bad path or more than %d routes",
			  ZT_PKTSRC_MAX_ROUTES);
		return ZT_EINVAL;
	}
	s->rbuf = malloc(RBUF_CAP);
	s->wbuf = malloc(WBUF_CAP);
	s->rcap = RBUF_CAP;
	s->wcap = WBUF_CAP;
	rv = s->rbuf && s->wbuf ? shim_listen(s) : ZT_ENOMEM;
	if (rv != 0) {
		shim_close(s);
		return rv;
	}
	log_info("shim socket %s: waiting for the shim", cfg->shim_socket);
	return 0;
}

static int shim_fd(struct zt_pktsrc *s)
{
	return s->fd >= 0 ? s->fd : s->listen_fd;
}

static size_t shim_pending(struct zt_pktsrc *s)
{
	return s->wlen - s->wpos;
}

static int shim_flush(struct zt_pktsrc *s)
{
	ssize_t n;

	while (s->fd >= 0 && s->wpos < s->wlen) {
		n = send(s->fd, s->wbuf + s->wpos, s->wlen - s->wpos,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			/* The descriptor stays: read() sees the same
			 * failure, closes it and logs the disconnect. */
			log_debug("shim socket: send: %s", strerror(errno));
			s->wpos = s->wlen = 0;
			return ZT_ECLOSED;
		}
		s->wpos += (size_t)n;
	}
	if (s->wpos == s->wlen)
		s->wpos = s->wlen = 0;
	return 0;
}

/* Appends one whole frame if the queue has room below limit. Returns 0,
 * ZT_ETOOBIG or ZT_EAGAIN (no room). */
static int queue_frame(struct zt_pktsrc *s, uint8_t type,
		       const struct iovec *iov, int iovcnt, size_t limit)
{
	size_t len = 0, need;
	uint8_t *p;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > ZT_SHIM_BODY_MAX)
		return ZT_ETOOBIG;
	need = ZT_SHIM_HDR_LEN + len;
	if (s->wpos > 0 && s->wlen + need > limit) {
		memmove(s->wbuf, s->wbuf + s->wpos, s->wlen - s->wpos);
		s->wlen -= s->wpos;
		s->wpos = 0;
	}
	if (s->wlen + need > limit)
		return ZT_EAGAIN;
	p = s->wbuf + s->wlen;
	p[0] = type;
	p[1] = ZT_SHIM_VERSION;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p += ZT_SHIM_HDR_LEN;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	s->wlen += need;
	return 0;
}

/* Appends "key=CIDR\n" to the CONFIG text; returns the new length. */
static size_t put_cidr(char *b, size_t len, size_t cap, const char *key,
		       const struct zt_cidr *c)
{
	char a[ZT_CIDR_STRLEN];

	if (len < cap)
		len += (size_t)snprintf(b + len, cap - len, "%s=%s\n", key,
					zt_nl_cidr_str(c, a, sizeof(a)));
	return len;
}

/* Queues a CONFIG frame with the current configuration. It may use the
 * whole queue; if even that is full, the shim has not read 1 MiB and is
 * stuck: the connection is shut down so read() drops it and the next
 * shim gets a fresh CONFIG. */
static int queue_config(struct zt_pktsrc *s)
{
	const struct zt_pktsrc_config *c = &s->cfg;
	char b[8192], ip[INET6_ADDRSTRLEN];
	struct iovec iov = { .iov_base = b };
	size_t len = (size_t)snprintf(b, sizeof(b), "mtu=%u\n", c->mtu);
	int rv;

	if (c->addr4.family)
		len = put_cidr(b, len, sizeof(b), "address", &c->addr4);
	if (c->addr6.family)
		len = put_cidr(b, len, sizeof(b), "address", &c->addr6);
	for (size_t i = 0; i < c->n_routes; i++)
		len = put_cidr(b, len, sizeof(b), "route", &c->routes[i]);
	if (c->dns.family &&
	    inet_ntop(c->dns.family, c->dns.ip, ip, sizeof(ip)) &&
	    len < sizeof(b))
		len += (size_t)snprintf(b + len, sizeof(b) - len, "dns=%s\n",
					ip);
	if (len >= sizeof(b))
		return ZT_ETOOBIG; /* cannot happen with 64 routes */
	iov.iov_len = len;
	rv = queue_frame(s, ZT_SHIM_CONFIG, &iov, 1, s->wcap);
	if (rv == ZT_EAGAIN) {
		log_warn("shim socket: shim stuck (output queue full), "
			 "dropping it");
		shutdown(s->fd, SHUT_RDWR);
	}
	return rv == 0 ? shim_flush(s) : rv;
}

static void drop_conn(struct zt_pktsrc *s, const char *why)
{
	log_warn("shim socket: shim disconnected (%s), waiting for a new one",
		 why);
	close(s->fd);
	s->fd = -1;
	s->rpos = s->rlen = s->wpos = s->wlen = 0;
}

static int accept_one(struct zt_pktsrc *s)
{
	int fd =
		accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
	    errno == ECONNABORTED)
		return -1;
	/* EMFILE and the like: the connection stays in the backlog and is
	 * retried on the next poll. */
	log_error("shim socket: accept: %s", strerror(errno));
	return -1;
}

static ssize_t shim_accept(struct zt_pktsrc *s)
{
	int fd = accept_one(s);

	if (fd < 0)
		return 0;
	s->fd = fd;
	s->rpos = s->rlen = s->wpos = s->wlen = 0;
	log_info("shim socket: shim connected");
	queue_config(s);
	return 0;
}

/* Only one shim may own the tunnel: later ones are closed on arrival. */
static void refuse_others(struct zt_pktsrc *s)
{
	int fd;

	while ((fd = accept_one(s)) >= 0) {
		log_warn("shim socket: refusing a second shim");
		close(fd);
	}
}

int zt_shim_frame_next(const uint8_t *buf, size_t len, size_t *consumed,
		       uint8_t *type, const uint8_t **body, size_t *body_len)
{
	size_t blen;

	if (len < ZT_SHIM_HDR_LEN)
		return 0;
	if (buf[1] != ZT_SHIM_VERSION)
		return ZT_EVERSION;
	blen = (size_t)buf[2] << 8 | buf[3];
	if (len - ZT_SHIM_HDR_LEN < blen)
		return 0;
	*type = buf[0];
	*body = buf + ZT_SHIM_HDR_LEN;
	*body_len = blen;
	*consumed = ZT_SHIM_HDR_LEN + blen;
	return 1;
}

/* Takes the next complete frame from rbuf. Returns the length of a PACKET
 * copied into buf, 0 when no complete packet is buffered, or ZT_EVERSION
 * (the stream cannot be trusted any more). */
static ssize_t next_packet(struct zt_pktsrc *s, uint8_t *buf, size_t cap)
{
	const uint8_t *body;
	size_t len, used;
	uint8_t type;
	int rv;

	while ((rv = zt_shim_frame_next(s->rbuf + s->rpos, s->rlen - s->rpos,
					&used, &type, &body, &len)) == 1) {
		s->rpos += used;
		if (type != ZT_SHIM_PACKET)
			log_debug("shim socket: frame type %u ignored", type);
		else if (len > cap)
			log_warn(
				"shim socket: %zu-byte packet dropped (max %zu)",
				len, cap);
		else if (len > 0) {
			memcpy(buf, body, len);
			return (ssize_t)len;
		}
	}
	return rv < 0 ? rv : 0;
}

/* Reads what the socket has into rbuf. Returns 1 (more data), 0 (nothing
 * yet) or -1 with why set (EOF or error: drop the connection). */
static int fill(struct zt_pktsrc *s, const char **why)
{
	ssize_t n;

	/* Only a partial frame is left here: less than one frame to move. */
	if (s->rpos > 0) {
		memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
		s->rlen -= s->rpos;
		s->rpos = 0;
	}
	do
		n = recv(s->fd, s->rbuf + s->rlen, s->rcap - s->rlen, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		s->rlen += (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	*why = n == 0 ? "end of stream" : strerror(errno);
	return -1;
}

static ssize_t shim_read(struct zt_pktsrc *s, uint8_t *buf, size_t cap)
{
	const char *why = NULL;
	ssize_t n;
	int more = 1;

	if (s->fd < 0)
		return shim_accept(s);
	shim_flush(s);
	while ((n = next_packet(s, buf, cap)) == 0 && more > 0) {
		refuse_others(s);
		more = fill(s, &why);
	}
	if (n == ZT_EVERSION)
		why = "bad frame version";
	if (why) {
		drop_conn(s, why);
		return 0;
	}
	return n;
}

static int shim_write(struct zt_pktsrc *s, const struct iovec *iov, int iovcnt)
{
	int rv;

	if (s->fd < 0)
		return ZT_ECLOSED;
	if (s->wlen > s->wpos)
		shim_flush(s);
	rv = queue_frame(s, ZT_SHIM_PACKET, iov, iovcnt, PACKET_LIMIT);
	if (rv == 0)
		rv = shim_flush(s);
	return rv;
}

static int shim_set_routes(struct zt_pktsrc *s, const struct zt_cidr *routes,
			   size_t n)
{
	if (n > ZT_PKTSRC_MAX_ROUTES) {
		log_error("shim socket: %zu routes, at most %d", n,
			  ZT_PKTSRC_MAX_ROUTES);
		return ZT_EINVAL;
	}
	memmove(s->cfg.routes, routes, n * sizeof(routes[0]));
	s->cfg.n_routes = n;
	if (s->fd < 0)
		return 0; /* sent when the shim connects */
	queue_config(s);
	return 0;
}

const struct zt_pktsrc_ops zt_pktsrc_shim_ops = {
	.name = "shim",
	.open = shim_open,
	.set_routes = shim_set_routes,
	.fd = shim_fd,
	.read = shim_read,
	.write = shim_write,
	.pending = shim_pending,
	.flush = shim_flush,
	.close = shim_close,
};
