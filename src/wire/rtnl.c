/* Route netlink change notices (rtnl.h). Every length comes from the peer
 * (the kernel, but a bug or a fuzzer is no different): each header and
 * attribute is checked against what is left before it is read, and
 * structures are copied out, never cast in place (alignment). */
#include "rtnl.h"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

#define ALIGN4(n) (((n) + 3u) & ~(size_t)3u)
/* Flags whose change can make a path appear or vanish. */
#define LINK_FLAGS (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)

/* The RTA_OIF of a route message's attributes, 0 if none; ZT_EINVAL when
 * an attribute runs past the end. */
static int route_oif(const uint8_t *p, size_t len, uint32_t *oif)
{
	*oif = 0;
	while (len >= sizeof(struct rtattr)) {
		struct rtattr a;

		memcpy(&a, p, sizeof(a));
		if (a.rta_len < sizeof(a) || a.rta_len > len)
			return ZT_EINVAL;
		if (a.rta_type == RTA_OIF && a.rta_len >= sizeof(a) + 4)
			memcpy(oif, p + sizeof(a), 4);
		if (ALIGN4(a.rta_len) >= len)
			break;
		p += ALIGN4(a.rta_len);
		len -= ALIGN4(a.rta_len);
	}
	return 0;
}

/* One message's body: the kind of change it tells, 0 for none; ZT_EINVAL
 * when too short for its type. */
static int one(uint16_t type, const uint8_t *body, size_t len, int skip)
{
	switch (type) {
	case RTM_NEWADDR:
	case RTM_DELADDR: {
		struct ifaddrmsg m;

		if (len < sizeof(m))
			return ZT_EINVAL;
		memcpy(&m, body, sizeof(m));
		if (m.ifa_scope == RT_SCOPE_HOST ||
		    (skip > 0 && m.ifa_index == (uint32_t)skip))
			return 0;
		return ZT_RTNL_ADDR;
	}
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		struct ifinfomsg m;

		if (len < sizeof(m))
			return ZT_EINVAL;
		memcpy(&m, body, sizeof(m));
		if ((m.ifi_flags & IFF_LOOPBACK) ||
		    (skip > 0 && m.ifi_index == skip))
			return 0;
		/* NEWLINK comes for any attribute change (MTU, statistics
		 * requests): only up/running/carrier changes count. */
		if (type == RTM_NEWLINK && !(m.ifi_change & LINK_FLAGS))
			return 0;
		return ZT_RTNL_LINK;
	}
	case RTM_NEWROUTE:
	case RTM_DELROUTE: {
		struct rtmsg m;
		uint32_t oif;

		if (len < sizeof(m))
			return ZT_EINVAL;
		memcpy(&m, body, sizeof(m));
		if (route_oif(body + NLMSG_ALIGN(sizeof(m)),
			      len > NLMSG_ALIGN(sizeof(m)) ?
				      len - NLMSG_ALIGN(sizeof(m)) :
				      0,
			      &oif) != 0)
			return ZT_EINVAL;
		if (m.rtm_dst_len != 0 || m.rtm_table != RT_TABLE_MAIN ||
		    (skip > 0 && oif == (uint32_t)skip))
			return 0;
		return ZT_RTNL_ROUTE;
	}
	default: return 0; /* NLMSG_DONE, NOOP, ERROR, other families */
	}
}

int zt_rtnl_changes(const uint8_t *buf, size_t len, int skip_ifindex,
		    unsigned *what)
{
	size_t off = 0;
	int n = 0, k;

	while (len - off >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr h;

		memcpy(&h, buf + off, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off)
			return ZT_EINVAL;
		k = one(h.nlmsg_type, buf + off + NLMSG_HDRLEN,
			h.nlmsg_len - NLMSG_HDRLEN, skip_ifindex);
		if (k < 0)
			return ZT_EINVAL;
		*what |= (unsigned)k;
		n++;
		if (NLMSG_ALIGN(h.nlmsg_len) >= len - off)
			break;
		off += NLMSG_ALIGN(h.nlmsg_len);
	}
	return n;
}

const char *zt_rtnl_str(unsigned what, char *buf, size_t n)
{
	static const char *names[] = { "address", "link", "route" };
	size_t off = 0;

	if (n == 0)
		return buf;
	buf[0] = 0;
	for (unsigned i = 0; i < 3; i++) {
		int w;

		if (!(what & (1u << i)) || off >= n)
			continue;
		w = snprintf(buf + off, n - off, "%s%s", off ? ", " : "",
			     names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, n, "none");
	return buf;
}
