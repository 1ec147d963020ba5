/* Linux TUN backend: a non-persistent IFF_TUN|IFF_NO_PI device configured
 * over rtnetlink. Closing the descriptor makes the kernel delete the device
 * together with its addresses and routes, so a crashed daemon leaves
 * nothing behind. */
#include "pktsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "netlink.h"

static void tun_close(struct zt_pktsrc *s)
{
	if (s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	log_info("tun %s: closed", s->ifname);
}

static int tun_create(struct zt_pktsrc *s)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		log_error("tun: /dev/net/tun: %s", strerror(errno));
		return ZT_EIO;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.*s",
		 (int)sizeof(ifr.ifr_name) - 1,
		 s->cfg.ifname[0] ? s->cfg.ifname : "ztun%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		log_error("tun %s: TUNSETIFF: %s", ifr.ifr_name,
			  strerror(errno));
		close(fd);
		return ZT_EIO;
	}
	s->fd = fd;
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifr.ifr_name);
	return 0;
}

static int cidr_same(const struct zt_cidr *a, const struct zt_cidr *b)
{
	size_t len = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, len) == 0;
}

static int cidr_in(const struct zt_cidr *c, const struct zt_cidr *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_same(c, &set[i]))
			return 1;
	return 0;
}

/* Makes the installed set (s->cfg.routes) equal to routes: deletes ours
 * that are gone, adds the new ones. A route whose add failed stays out of
 * the set so the next call retries it; one whose delete failed is
 * forgotten (it only sends packets we drop). routes may alias
 * s->cfg.routes. */
static int apply_routes(struct zt_pktsrc *s, struct zt_nl *nl,
			const struct zt_cidr *routes, size_t n)
{
	struct zt_cidr now[ZT_PKTSRC_MAX_ROUTES];
	const struct zt_cidr *old = s->cfg.routes;
	size_t n_now = 0;
	int rv = 0;

	for (size_t i = 0; i < s->cfg.n_routes; i++)
		if (!cidr_in(&old[i], routes, n) &&
		    zt_nl_del_route(nl, s->ifindex, &old[i]) != 0)
			rv = ZT_EIO;
	for (size_t i = 0; i < n; i++) {
		if (cidr_in(&routes[i], now, n_now))
			continue;
		if (!cidr_in(&routes[i], old, s->cfg.n_routes) &&
		    zt_nl_add_route(nl, s->ifindex, &routes[i]) != 0) {
			rv = ZT_EIO;
			continue;
		}
		now[n_now++] = routes[i];
	}
	memcpy(s->cfg.routes, now, n_now * sizeof(now[0]));
	s->cfg.n_routes = n_now;
	return rv;
}

#define ZT_TUN_TXQLEN 64

/* MTU, addresses, link up, then routes: the kernel refuses routes via a
 * device that is down. */
static int tun_configure(struct zt_pktsrc *s, struct zt_nl *nl,
			 const struct zt_pktsrc_config *cfg)
{
	int rv = 0;

	if (cfg->mtu)
		rv = zt_nl_set_mtu(nl, s->ifindex, cfg->mtu);
	/* The default 500 packets of up to 15 KiB is ~7 MiB of queue in
	 * front of the agent: latency for every other flow under load. */
	if (rv == 0)
		rv = zt_nl_set_txqlen(nl, s->ifindex, ZT_TUN_TXQLEN);
	if (rv == 0 && cfg->addr4.family)
		rv = zt_nl_add_addr(nl, s->ifindex, &cfg->addr4);
	if (rv == 0 && cfg->addr6.family)
		rv = zt_nl_add_addr(nl, s->ifindex, &cfg->addr6);
	if (rv == 0)
		rv = zt_nl_set_up(nl, s->ifindex);
	if (rv == 0)
		rv = apply_routes(s, nl, cfg->routes, cfg->n_routes);
	return rv;
}

static int tun_open(struct zt_pktsrc *s, const struct zt_pktsrc_config *cfg)
{
	struct zt_nl nl = { .fd = -1 };
	char a[ZT_CIDR_STRLEN];
	int rv;

	memset(s, 0, sizeof(*s));
	s->ops = &zt_pktsrc_tun_ops;
	s->fd = s->listen_fd = -1;
	s->cfg = *cfg;
	s->cfg.n_routes = 0; /* none installed yet */
	if (cfg->n_routes > ZT_PKTSRC_MAX_ROUTES) {
		log_error("tun: %zu routes, at most %d", cfg->n_routes,
			  ZT_PKTSRC_MAX_ROUTES);
		return ZT_EINVAL;
	}
	rv = tun_create(s);
	if (rv == 0) {
		s->ifindex = zt_nl_ifindex(s->ifname);
		rv = s->ifindex < 0 ? s->ifindex : 0;
	}
	if (rv == 0)
		rv = zt_nl_open(&nl);
	if (rv == 0)
		rv = tun_configure(s, &nl, cfg);
	zt_nl_close(&nl);
	if (rv != 0) {
		tun_close(s);
		return rv;
	}
	log_info("tun %s: up, mtu %u, address %s, %zu routes", s->ifname,
		 cfg->mtu, zt_nl_cidr_str(&cfg->addr4, a, sizeof(a)),
		 s->cfg.n_routes);
	return 0;
}

static int tun_set_routes(struct zt_pktsrc *s, const struct zt_cidr *routes,
			  size_t n)
{
	struct zt_nl nl;
	int rv;

	if (n > ZT_PKTSRC_MAX_ROUTES) {
		log_error("tun %s: %zu routes, at most %d", s->ifname, n,
			  ZT_PKTSRC_MAX_ROUTES);
		return ZT_EINVAL;
	}
	rv = zt_nl_open(&nl);
	if (rv == 0)
		rv = apply_routes(s, &nl, routes, n);
	zt_nl_close(&nl);
	log_info("tun %s: %zu routes", s->ifname, s->cfg.n_routes);
	return rv;
}

static int tun_fd(struct zt_pktsrc *s)
{
	return s->fd;
}

/* The caller's buffer must hold the MTU: the kernel truncates longer
 * packets to cap. */
static ssize_t tun_read(struct zt_pktsrc *s, uint8_t *buf, size_t cap)
{
	ssize_t n = read(s->fd, buf, cap);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	log_error("tun %s: read: %s", s->ifname, strerror(errno));
	return ZT_EIO;
}

static int tun_write(struct zt_pktsrc *s, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	do
		n = writev(s->fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
		return ZT_EAGAIN;
	/* Per packet: EINVAL for a malformed one, EIO while the link is
	 * down. The caller counts drops; keep the log quiet. */
	log_debug("tun %s: write: %s", s->ifname, strerror(errno));
	return ZT_EIO;
}

static size_t tun_pending(struct zt_pktsrc *s)
{
	return 0;
}

static int tun_flush(struct zt_pktsrc *s)
{
	return 0;
}

const struct zt_pktsrc_ops zt_pktsrc_tun_ops = {
	.name = "tun",
	.open = tun_open,
	.set_routes = tun_set_routes,
	.fd = tun_fd,
	.read = tun_read,
	.write = tun_write,
	.pending = tun_pending,
	.flush = tun_flush,
	.close = tun_close,
};
