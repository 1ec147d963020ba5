/* Minimal rtnetlink client: the few link, address and route changes a TUN
 * device needs, over a raw NETLINK_ROUTE socket (no libmnl, no `ip`).
 * Each request waits for the kernel's ACK. The kernel answers during
 * sendmsg(), so the wait is bounded; a receive timeout guards the rest.
 * Functions return 0 or ZT_EIO after a log line naming the operation, the
 * interface and the address, with the kernel's errno. */
#ifndef ZT_NETLINK_H
#define ZT_NETLINK_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

struct zt_nl {
	int fd;
	uint32_t seq;
};

/* Returns 0 or ZT_EIO. */
int zt_nl_open(struct zt_nl *nl);
/* Accepts a handle that was never opened (fd -1) or already closed. */
void zt_nl_close(struct zt_nl *nl);

/* Returns the interface index (> 0) or ZT_ENOTFOUND. */
int zt_nl_ifindex(const char *ifname);
int zt_nl_set_mtu(struct zt_nl *nl, int ifindex, uint32_t mtu);
/* Packets the kernel queues for the device before dropping. */
int zt_nl_set_txqlen(struct zt_nl *nl, int ifindex, uint32_t qlen);
int zt_nl_set_up(struct zt_nl *nl, int ifindex);
/* Adds (or replaces) an IPv4 or IPv6 address with its prefix length.
 * IPv6 addresses skip duplicate address detection: the link is ours. */
int zt_nl_add_addr(struct zt_nl *nl, int ifindex, const struct zt_cidr *a);
/* Adds or deletes a route to c via the interface in the main table. Host
 * bits of c are ignored. An add never replaces an existing route to the
 * same prefix (ZT_EIO, logged) unless that route is already ours (same
 * device: success). Deleting a route that is already gone succeeds. */
int zt_nl_add_route(struct zt_nl *nl, int ifindex, const struct zt_cidr *c);
int zt_nl_del_route(struct zt_nl *nl, int ifindex, const struct zt_cidr *c);

/* The gateways of the main table's default routes (IPv4 and IPv6), at
 * most cap. Returns how many, or ZT_EIO. */
int zt_nl_default_gateways(struct zt_nl *nl, struct zt_addr *gw, size_t cap);

/* Formats "10.0.0.0/8" or "fd00::/8" into buf; returns buf. */
char *zt_nl_cidr_str(const struct zt_cidr *c, char *buf, size_t len);
#define ZT_CIDR_STRLEN 50 /* INET6_ADDRSTRLEN + "/128" */

#endif
