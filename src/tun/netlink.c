#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

/* The largest request built here (header, rtmsg, a 16-byte destination
 * and two u32 attributes) is under 80 bytes. */
union nl_msg {
	struct nlmsghdr n;
	char buf[256];
};

/* ACKs carry the kernel's extended error message, and the reply buffer
 * must hold a whole datagram or the rest is lost. */
union nl_reply {
	struct nlmsghdr n;
	char buf[8192];
};

int zt_nl_open(struct zt_nl *nl)
{
	/* A lost reply must not hang the caller's event loop forever. */
	struct timeval tv = { .tv_sec = 2 };
	int one = 1;

	nl->seq = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0) {
		log_error("netlink: socket: %s", strerror(errno));
		return ZT_EIO;
	}
	if (setsockopt(nl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		log_error("netlink: SO_RCVTIMEO: %s", strerror(errno));
		zt_nl_close(nl);
		return ZT_EIO;
	}
	/* Optional: better error messages and shorter ACKs. Old kernels
	 * without them still work. */
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

void zt_nl_close(struct zt_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

int zt_nl_ifindex(const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);

	if (idx == 0) {
		log_error("interface %s: %s", ifname, strerror(errno));
		return ZT_ENOTFOUND;
	}
	return (int)idx;
}

char *zt_nl_cidr_str(const struct zt_cidr *c, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    !inet_ntop(c->family, c->addr, ip, sizeof(ip)))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s/%u", ip, c->prefix);
	return buf;
}

static void *msg_init(union nl_msg *m, uint16_t type, uint16_t flags,
		      size_t fixed)
{
	memset(m, 0, sizeof(*m));
	m->n.nlmsg_len = NLMSG_LENGTH(fixed);
	m->n.nlmsg_type = type;
	m->n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return NLMSG_DATA(&m->n);
}

static void msg_attr(union nl_msg *m, uint16_t type, const void *data,
		     size_t len)
{
	struct rtattr *rta =
		(struct rtattr *)(m->buf + NLMSG_ALIGN(m->n.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	m->n.nlmsg_len = NLMSG_ALIGN(m->n.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Copies the kernel's extended ACK message (NLMSGERR_ATTR_MSG), if any. */
static void ext_ack_msg(const struct nlmsghdr *h, char *out, size_t len)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	const char *end = (const char *)h + h->nlmsg_len;
	const char *p = (const char *)(e + 1);
	const struct rtattr *a;

	out[0] = '\0';
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(e->msg))
			return;
		p += e->msg.nlmsg_len - sizeof(e->msg);
	}
	while (p + sizeof(*a) <= end) {
		a = (const struct rtattr *)p;
		if (a->rta_len < sizeof(*a) || p + a->rta_len > end)
			return;
		if (a->rta_type == NLMSGERR_ATTR_MSG) {
			snprintf(out, len, " (%.*s)",
				 (int)(a->rta_len - RTA_LENGTH(0)),
				 (const char *)RTA_DATA(a));
			return;
		}
		p += RTA_ALIGN(a->rta_len);
	}
}

/* Sends m and waits for its ACK. Returns 0 or an errno value, with the
 * kernel's explanation (if any) in why. */
static int nl_talk(struct zt_nl *nl, union nl_msg *m, char *why, size_t len)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	union nl_reply r;
	struct nlmsghdr *h;
	ssize_t n;

	why[0] = '\0';
	m->n.nlmsg_seq = ++nl->seq;
	do
		n = sendto(nl->fd, m, m->n.nlmsg_len, 0, (struct sockaddr *)&sa,
			   sizeof(sa));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	for (;;) {
		n = recv(nl->fd, &r, sizeof(r), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		/* Replies to earlier requests that timed out are skipped. */
		for (h = &r.n; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_seq != m->n.nlmsg_seq ||
			    h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return EPROTO;
			if (e->error != 0)
				ext_ack_msg(h, why, len);
			return -e->error;
		}
	}
}

/* Logs a failed request (err, an errno value, with the kernel's why).
 * Returns 0 when err is 0, else ZT_EIO. */
static int request_result(struct zt_nl *nl, int ifindex, const char *what,
			  const char *arg, int err, const char *why)
{
	char ifname[IF_NAMESIZE];

	if (err == 0)
		return 0;
	if (!if_indextoname((unsigned)ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "#%d", ifindex);
	log_error("netlink: %s %s dev %s: %s%s", what, arg, ifname,
		  strerror(err), why);
	return ZT_EIO;
}

/* Runs one request; ok_err is an errno value that also counts as success
 * (0 for none). what and arg name the operation for the log line. */
static int request(struct zt_nl *nl, union nl_msg *m, int ifindex,
		   const char *what, const char *arg, int ok_err)
{
	char why[160];
	int err = nl_talk(nl, m, why, sizeof(why));

	return request_result(nl, ifindex, what, arg, err == ok_err ? 0 : err,
			      why);
}

/* One 32-bit link attribute (IFLA_MTU, IFLA_TXQLEN). */
static int set_link_u32(struct zt_nl *nl, int ifindex, uint16_t attr,
			uint32_t v, const char *what)
{
	union nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));
	char arg[16];

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	msg_attr(&m, attr, &v, sizeof(v));
	snprintf(arg, sizeof(arg), "%u", v);
	return request(nl, &m, ifindex, what, arg, 0);
}

int zt_nl_set_mtu(struct zt_nl *nl, int ifindex, uint32_t mtu)
{
	return set_link_u32(nl, ifindex, IFLA_MTU, mtu, "set mtu");
}

int zt_nl_set_txqlen(struct zt_nl *nl, int ifindex, uint32_t qlen)
{
	return set_link_u32(nl, ifindex, IFLA_TXQLEN, qlen, "set txqueuelen");
}

int zt_nl_set_up(struct zt_nl *nl, int ifindex)
{
	union nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return request(nl, &m, ifindex, "set link", "up", 0);
}

static size_t addr_len(const struct zt_cidr *c)
{
	if (c->family == AF_INET && c->prefix <= 32)
		return 4;
	if (c->family == AF_INET6 && c->prefix <= 128)
		return 16;
	return 0;
}

int zt_nl_add_addr(struct zt_nl *nl, int ifindex, const struct zt_cidr *a)
{
	union nl_msg m;
	struct ifaddrmsg *ifa = msg_init(
		&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ifa));
	char s[ZT_CIDR_STRLEN];
	size_t len = addr_len(a);

	zt_nl_cidr_str(a, s, sizeof(s));
	if (len == 0) {
		log_error("netlink: add address %s: bad family or prefix", s);
		return ZT_EIO;
	}
	ifa->ifa_family = a->family;
	ifa->ifa_prefixlen = a->prefix;
	ifa->ifa_index = (unsigned)ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	/* Without NODAD the address stays "tentative" for a second or more
	 * and cannot be used as a source; there is no one else on a TUN. */
	if (a->family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	msg_attr(&m, IFA_LOCAL, a->addr, len);
	msg_attr(&m, IFA_ADDRESS, a->addr, len);
	return request(nl, &m, ifindex, "add address", s, 0);
}

/* Calls fn for each route the kernel lists for family (AF_UNSPEC: all),
 * with its attributes indexed by type (NULL when absent). Returns 0 or an
 * errno value. */
typedef void (*route_fn)(const struct rtmsg *rtm, struct rtattr *const *tb,
			 void *ud);

static void route_attrs(const struct nlmsghdr *h, struct rtattr **tb)
{
	const struct rtmsg *rtm = NLMSG_DATA(h);
	struct rtattr *a = RTM_RTA(rtm);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*rtm));

	memset(tb, 0, (RTA_MAX + 1) * sizeof(*tb));
	for (; len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type <= RTA_MAX)
			tb[a->rta_type] = a;
}

/* One datagram of a dump: 1 when the dump is done, 0 for more, or -errno. */
static int dump_part(const union nl_reply *r, ssize_t n, uint32_t seq,
		     route_fn fn, void *ud)
{
	struct rtattr *tb[RTA_MAX + 1];
	const struct nlmsghdr *h;

	for (h = &r->n; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_seq != seq)
			continue;
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EPROTO;
			return e->error ? e->error : 1;
		}
		if (h->nlmsg_type != RTM_NEWROUTE ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
			continue;
		route_attrs(h, tb);
		fn(NLMSG_DATA(h), tb, ud);
	}
	return 0;
}

static int route_dump(struct zt_nl *nl, uint8_t family, route_fn fn,
		      void *ud)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	union nl_msg m;
	union nl_reply r;
	struct rtmsg *rtm = msg_init(&m, RTM_GETROUTE, NLM_F_DUMP, sizeof(*rtm));
	ssize_t n;
	int rv = 0;

	m.n.nlmsg_flags &= (uint16_t)~NLM_F_ACK; /* a dump ends with DONE */
	m.n.nlmsg_seq = ++nl->seq;
	rtm->rtm_family = family;
	do
		n = sendto(nl->fd, &m, m.n.nlmsg_len, 0, (struct sockaddr *)&sa,
			   sizeof(sa));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	while (rv == 0) {
		n = recv(nl->fd, &r, sizeof(r), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		rv = dump_part(&r, n, m.n.nlmsg_seq, fn, ud);
	}
	return rv < 0 ? -rv : 0;
}

static size_t addr_len(const struct zt_cidr *c);

/* A u32 attribute's value, or def when it is absent or malformed. */
static uint32_t attr_u32(const struct rtattr *a, uint32_t def)
{
	uint32_t v;

	if (!a || RTA_PAYLOAD(a) != sizeof(v))
		return def;
	memcpy(&v, RTA_DATA(a), sizeof(v));
	return v;
}

/* Tables above 255 are only in RTA_TABLE. */
static uint32_t route_table(const struct rtmsg *rtm, struct rtattr *const *tb)
{
	return attr_u32(tb[RTA_TABLE], rtm->rtm_table);
}

struct gw_ctx {
	struct zt_addr *out;
	size_t cap, n;
};

static void collect_gw(const struct rtmsg *rtm, struct rtattr *const *tb,
		       void *ud)
{
	struct gw_ctx *g = ud;
	const struct rtattr *gw = tb[RTA_GATEWAY];
	size_t len = rtm->rtm_family == AF_INET ? 4 : 16;

	if (rtm->rtm_dst_len != 0 || route_table(rtm, tb) != RT_TABLE_MAIN || !gw ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) ||
	    RTA_PAYLOAD(gw) != len || g->n == g->cap)
		return;
	memset(&g->out[g->n], 0, sizeof(g->out[0]));
	g->out[g->n].family = rtm->rtm_family;
	memcpy(g->out[g->n].ip, RTA_DATA(gw), len);
	g->n++;
}

int zt_nl_default_gateways(struct zt_nl *nl, struct zt_addr *gw, size_t cap)
{
	struct gw_ctx g = { .out = gw, .cap = cap };
	int err = route_dump(nl, AF_UNSPEC, collect_gw, &g);

	if (err != 0) {
		log_error("netlink: list routes: %s", strerror(err));
		return ZT_EIO;
	}
	return (int)g.n;
}

struct find_ctx {
	const struct zt_cidr *dst;
	uint32_t oif;
	int found;
};

static void match_route(const struct rtmsg *rtm, struct rtattr *const *tb,
			void *ud)
{
	struct find_ctx *f = ud;
	size_t len = addr_len(f->dst);
	static const uint8_t zero[16];
	const void *dst = tb[RTA_DST] ? RTA_DATA(tb[RTA_DST]) : zero;

	if (rtm->rtm_family != f->dst->family ||
	    rtm->rtm_dst_len != f->dst->prefix ||
	    route_table(rtm, tb) != RT_TABLE_MAIN ||
	    attr_u32(tb[RTA_OIF], 0) != f->oif ||
	    (tb[RTA_DST] && RTA_PAYLOAD(tb[RTA_DST]) != len) ||
	    memcmp(dst, f->dst->addr, len) != 0)
		return;
	f->found = 1;
}

/* After EEXIST: is the route that exists ours (same prefix, our device)? */
static int route_is_ours(struct zt_nl *nl, int ifindex,
			 const struct zt_cidr *dst)
{
	struct find_ctx f = { .dst = dst, .oif = (uint32_t)ifindex };

	return route_dump(nl, dst->family, match_route, &f) == 0 && f.found;
}

/* Builds and runs RTM_NEWROUTE or RTM_DELROUTE for c via ifindex. A new
 * route never replaces one that exists (EXCL): someone else's route to the
 * same prefix, the default or the LAN's, stays as it is. */
static int route(struct zt_nl *nl, int ifindex, const struct zt_cidr *c,
		 int add)
{
	union nl_msg m;
	struct rtmsg *rtm = msg_init(&m, add ? RTM_NEWROUTE : RTM_DELROUTE,
				     add ? NLM_F_CREATE | NLM_F_EXCL : 0,
				     sizeof(*rtm));
	struct zt_cidr dst = *c;
	uint32_t oif = (uint32_t)ifindex;
	char s[ZT_CIDR_STRLEN], why[160];
	size_t len = addr_len(c);
	int err;

	zt_nl_cidr_str(c, s, sizeof(s));
	if (len == 0) {
		log_error("netlink: route %s: bad family or prefix", s);
		return ZT_EIO;
	}
	/* The kernel refuses IPv4 destinations with host bits set. */
	for (size_t i = 0; i < len; i++) {
		size_t bits = (size_t)c->prefix > i * 8 ? c->prefix - i * 8 : 0;

		if (bits < 8)
			dst.addr[i] &= (uint8_t)(0xff00 >> bits);
	}
	rtm->rtm_family = c->family;
	rtm->rtm_dst_len = c->prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	/* On delete, "nowhere" matches any scope; the protocol and the
	 * device still limit the match to routes we added. */
	rtm->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
	rtm->rtm_type = RTN_UNICAST;
	msg_attr(&m, RTA_DST, dst.addr, len);
	msg_attr(&m, RTA_OIF, &oif, sizeof(oif));
	if (!add)
		return request(nl, &m, ifindex, "delete route", s, ESRCH);
	err = nl_talk(nl, &m, why, sizeof(why));
	if (err == EEXIST && route_is_ours(nl, ifindex, &dst))
		err = 0;
	if (err == EEXIST) {
		log_warn("netlink: route %s exists and is not ours: not replaced",
			 s);
		return ZT_EIO;
	}
	return request_result(nl, ifindex, "add route", s, err, why);
}

int zt_nl_add_route(struct zt_nl *nl, int ifindex, const struct zt_cidr *c)
{
	return route(nl, ifindex, c, 1);
}

int zt_nl_del_route(struct zt_nl *nl, int ifindex, const struct zt_cidr *c)
{
	return route(nl, ifindex, c, 0);
}
