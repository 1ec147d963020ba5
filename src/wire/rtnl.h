/* Route netlink change notices (the multicast groups of NETLINK_ROUTE):
 * which of them can change the source address the kernel picks for our
 * wildcard-bound UDP socket, or whether that address still works. Pure:
 * bytes from the socket in, a set of change kinds out. Linux only. */
#ifndef ZT_RTNL_H
#define ZT_RTNL_H

#include <stddef.h>
#include <stdint.h>

enum {
	ZT_RTNL_ADDR = 1,  /* an address added or removed */
	ZT_RTNL_LINK = 2,  /* an interface up, down or gone */
	ZT_RTNL_ROUTE = 4, /* a default route added or removed */
};

/* Parses one datagram (any number of messages) and ORs into *what the
 * kinds of change it tells, leaving out loopback, host-scope addresses,
 * other routes than default ones in the main table, link notices that
 * change no up/running flag, and anything about interface skip_ifindex
 * (our own TUN; 0: none). Returns the number of messages read, or
 * ZT_EINVAL at the first malformed one (*what keeps what came before). */
int zt_rtnl_changes(const uint8_t *buf, size_t len, int skip_ifindex,
		    unsigned *what);

/* "address, link, route" for the kinds in what (or "none"). */
const char *zt_rtnl_str(unsigned what, char *buf, size_t n);

#endif
