/* Watches the host's network for changes that can move our UDP socket's
 * source address (wire/rtnl.h): a NETLINK_ROUTE socket subscribed to
 * link, address and route notices, read on the loop without blocking.
 * Notices come in bursts (an address change is several messages, often
 * from several commands): the owner hears once, after a short quiet. */
#ifndef ZT_NETWATCH_H
#define ZT_NETWATCH_H

#include <uv.h>

struct zt_netwatch {
	uv_poll_t poll;
	uv_timer_t quiet;
	int fd, skip_ifindex, on;
	unsigned what; /* ZT_RTNL_* kinds since the owner last heard */
	void (*changed)(void *user, unsigned what);
	void *user;
	uint8_t buf[16384];
};

/* Starts watching; changes about interface skip_ifindex (our TUN; 0: none)
 * are left out. Returns 0, or ZT_EIO after a log line (no watch: the
 * caller's polling still finds changes, later). */
int zt_netwatch_init(struct zt_netwatch *w, uv_loop_t *loop, int skip_ifindex,
		     void (*changed)(void *user, unsigned what), void *user);
/* Before the loop's last run; accepts a watch whose init failed. */
void zt_netwatch_close(struct zt_netwatch *w);

#endif
