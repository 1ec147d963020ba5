/* The network watch (netwatch.h). */
#include "netwatch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "rtnl.h"

/* Quiet this long after the last notice before the owner hears: `ip addr
 * add`, `ip route replace`, `ip addr del` in a row are one move. */
#define QUIET_MS 50
/* Datagrams read per wake-up: a flood of notices cannot hold the loop. */
#define READS_MAX 64

static void quiet_cb(uv_timer_t *t)
{
	struct zt_netwatch *w = t->data;
	unsigned what = w->what;

	w->what = 0;
	if (what && w->changed)
		w->changed(w->user, what);
}

static void read_cb(uv_poll_t *p, int status, int events)
{
	struct zt_netwatch *w = p->data;
	unsigned what = 0;

	if (status < 0 || !(events & UV_READABLE))
		return;
	for (int i = 0; i < READS_MAX; i++) {
		ssize_t n = recv(w->fd, w->buf, sizeof(w->buf), MSG_DONTWAIT);

		if (n < 0 && errno == ENOBUFS) {
			/* The kernel dropped notices: anything may have
			 * changed. */
			what |= ZT_RTNL_ADDR | ZT_RTNL_LINK | ZT_RTNL_ROUTE;
			continue;
		}
		if (n <= 0)
			break;
		if (zt_rtnl_changes(w->buf, (size_t)n, w->skip_ifindex, &what) <
		    0)
			log_debug("netwatch: malformed notice (%zd bytes)", n);
	}
	if (!what)
		return;
	w->what |= what;
	uv_timer_start(&w->quiet, quiet_cb, QUIET_MS, 0);
}

int zt_netwatch_init(struct zt_netwatch *w, uv_loop_t *loop, int skip_ifindex,
		     void (*changed)(void *user, unsigned what), void *user)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int rv = ZT_EIO;

	memset(w, 0, sizeof(*w));
	w->skip_ifindex = skip_ifindex;
	w->changed = changed;
	w->user = user;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
		       RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       NETLINK_ROUTE);
	if (w->fd < 0) {
		log_warn("netwatch: socket: %s", strerror(errno));
		goto out;
	}
	if (bind(w->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		log_warn("netwatch: bind: %s", strerror(errno));
		goto out;
	}
	if (uv_poll_init(loop, &w->poll, w->fd) != 0) {
		log_warn("netwatch: cannot poll the netlink socket");
		goto out;
	}
	uv_timer_init(loop, &w->quiet);
	w->poll.data = w->quiet.data = w;
	w->on = 1;
	uv_poll_start(&w->poll, UV_READABLE, read_cb);
	rv = 0;
out:
	if (rv != 0 && w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	return rv;
}

static void closed_cb(uv_handle_t *h)
{
	struct zt_netwatch *w = h->data;

	/* The descriptor outlives the poll handle until libuv is done. */
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void zt_netwatch_close(struct zt_netwatch *w)
{
	if (!w->on)
		return;
	w->on = 0;
	uv_close((uv_handle_t *)&w->quiet, NULL);
	uv_close((uv_handle_t *)&w->poll, closed_cb);
}
