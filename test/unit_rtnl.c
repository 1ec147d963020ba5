/* Route netlink change notices (rtnl.c): which messages count as a change
 * that may move our source address, and malformed input. Messages are
 * built here field by field, as the kernel lays them out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "err.h"
#include "rtnl.h"

struct dg {
	uint8_t b[1024];
	size_t len;
};

/* Appends a message of type with body (and an attribute list after it). */
static void put(struct dg *d, uint16_t type, const void *body, size_t blen,
		const void *attrs, size_t alen)
{
	struct nlmsghdr h = { .nlmsg_type = type };
	size_t at = d->len;

	h.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + NLMSG_ALIGN(blen) + alen);
	memcpy(d->b + at, &h, sizeof(h));
	memcpy(d->b + at + NLMSG_HDRLEN, body, blen);
	if (alen)
		memcpy(d->b + at + NLMSG_HDRLEN + NLMSG_ALIGN(blen), attrs,
		       alen);
	d->len = at + NLMSG_ALIGN(h.nlmsg_len);
}

static void addr(struct dg *d, uint16_t type, uint32_t ifindex, uint8_t scope)
{
	struct ifaddrmsg m = { .ifa_family = 2,
			       .ifa_prefixlen = 24,
			       .ifa_scope = scope,
			       .ifa_index = ifindex };

	put(d, type, &m, sizeof(m), NULL, 0);
}

static void link_msg(struct dg *d, uint16_t type, int ifindex, unsigned flags,
		     unsigned change)
{
	struct ifinfomsg m = { .ifi_index = ifindex,
			       .ifi_flags = flags,
			       .ifi_change = change };

	put(d, type, &m, sizeof(m), NULL, 0);
}

static void route(struct dg *d, uint16_t type, uint8_t dst_len, uint8_t table,
		  uint32_t oif)
{
	struct rtmsg m = { .rtm_family = 2,
			   .rtm_dst_len = dst_len,
			   .rtm_table = table };
	uint8_t a[8];
	struct rtattr ra = { .rta_len = 8, .rta_type = RTA_OIF };

	memcpy(a, &ra, 4);
	memcpy(a + 4, &oif, 4);
	put(d, type, &m, sizeof(m), a, oif ? 8 : 0);
}

static unsigned changes(const struct dg *d, int skip, int want_n)
{
	unsigned what = 0;

	assert_int_equal(zt_rtnl_changes(d->b, d->len, skip, &what), want_n);
	return what;
}

static void test_addresses(void **st)
{
	struct dg d = { 0 };

	addr(&d, RTM_NEWADDR, 2, RT_SCOPE_UNIVERSE);
	assert_int_equal(changes(&d, 0, 1), ZT_RTNL_ADDR);
	d.len = 0;
	addr(&d, RTM_DELADDR, 2, RT_SCOPE_LINK);
	assert_int_equal(changes(&d, 0, 1), ZT_RTNL_ADDR);
	/* Loopback's 127.0.0.1 and our own TUN's address move nothing. */
	d.len = 0;
	addr(&d, RTM_NEWADDR, 1, RT_SCOPE_HOST);
	assert_int_equal(changes(&d, 0, 1), 0);
	d.len = 0;
	addr(&d, RTM_NEWADDR, 7, RT_SCOPE_UNIVERSE);
	assert_int_equal(changes(&d, 7, 1), 0);
	assert_int_equal(changes(&d, 3, 1), ZT_RTNL_ADDR);
	(void)st;
}

static void test_links(void **st)
{
	struct dg d = { 0 };

	link_msg(&d, RTM_NEWLINK, 2, 0, IFF_UP);
	assert_int_equal(changes(&d, 0, 1), ZT_RTNL_LINK);
	d.len = 0;
	link_msg(&d, RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING, IFF_LOWER_UP);
	assert_int_equal(changes(&d, 0, 1), ZT_RTNL_LINK);
	/* An MTU or statistics notice changes no flag. */
	d.len = 0;
	link_msg(&d, RTM_NEWLINK, 2, IFF_UP, 0);
	assert_int_equal(changes(&d, 0, 1), 0);
	d.len = 0;
	link_msg(&d, RTM_NEWLINK, 2, IFF_UP, IFF_PROMISC);
	assert_int_equal(changes(&d, 0, 1), 0);
	d.len = 0;
	link_msg(&d, RTM_DELLINK, 2, 0, 0);
	assert_int_equal(changes(&d, 0, 1), ZT_RTNL_LINK);
	d.len = 0;
	link_msg(&d, RTM_NEWLINK, 1, IFF_LOOPBACK, IFF_UP);
	assert_int_equal(changes(&d, 0, 1), 0);
	d.len = 0;
	link_msg(&d, RTM_DELLINK, 9, 0, 0);
	assert_int_equal(changes(&d, 9, 1), 0);
	(void)st;
}

static void test_routes(void **st)
{
	struct dg d = { 0 };

	route(&d, RTM_NEWROUTE, 0, RT_TABLE_MAIN, 2);
	assert_int_equal(changes(&d, 0, 1), ZT_RTNL_ROUTE);
	d.len = 0;
	route(&d, RTM_DELROUTE, 0, RT_TABLE_MAIN, 0);
	assert_int_equal(changes(&d, 0, 1), ZT_RTNL_ROUTE);
	/* The agent's own routes into its tunnel, other prefixes, and the
	 * local table are not about how we reach the Internet. */
	d.len = 0;
	route(&d, RTM_NEWROUTE, 0, RT_TABLE_MAIN, 5);
	assert_int_equal(changes(&d, 5, 1), 0);
	d.len = 0;
	route(&d, RTM_NEWROUTE, 24, RT_TABLE_MAIN, 2);
	assert_int_equal(changes(&d, 0, 1), 0);
	d.len = 0;
	route(&d, RTM_NEWROUTE, 0, RT_TABLE_LOCAL, 2);
	assert_int_equal(changes(&d, 0, 1), 0);
	(void)st;
}

static void test_batches(void **st)
{
	struct dg d = { 0 };
	struct nlmsghdr done = { .nlmsg_len = NLMSG_HDRLEN,
				 .nlmsg_type = NLMSG_DONE };
	char t[64];

	addr(&d, RTM_NEWADDR, 2, RT_SCOPE_UNIVERSE);
	route(&d, RTM_NEWROUTE, 0, RT_TABLE_MAIN, 2);
	link_msg(&d, RTM_NEWLINK, 2, 0, 0);
	memcpy(d.b + d.len, &done, sizeof(done));
	d.len += sizeof(done);
	assert_int_equal(changes(&d, 0, 4), ZT_RTNL_ADDR | ZT_RTNL_ROUTE);
	assert_string_equal(zt_rtnl_str(ZT_RTNL_ADDR | ZT_RTNL_ROUTE, t,
					sizeof(t)),
			    "address, route");
	assert_string_equal(zt_rtnl_str(0, t, sizeof(t)), "none");
	assert_string_equal(zt_rtnl_str(7, t, 8), "address");
	d.len = 0;
	assert_int_equal(changes(&d, 0, 0), 0);
	(void)st;
}

static void test_malformed(void **st)
{
	struct dg d = { 0 };
	struct nlmsghdr h;
	unsigned what = 0;

	/* A good message, then one that claims more than the datagram:
	 * what came before is kept. */
	addr(&d, RTM_NEWADDR, 2, RT_SCOPE_UNIVERSE);
	addr(&d, RTM_NEWADDR, 2, RT_SCOPE_UNIVERSE);
	assert_int_equal(zt_rtnl_changes(d.b, d.len - 1, 0, &what), ZT_EINVAL);
	assert_int_equal(what, ZT_RTNL_ADDR);
	/* Shorter than its own header. */
	d.len = 0;
	addr(&d, RTM_NEWADDR, 2, RT_SCOPE_UNIVERSE);
	memcpy(&h, d.b, sizeof(h));
	h.nlmsg_len = 4;
	memcpy(d.b, &h, sizeof(h));
	assert_int_equal(zt_rtnl_changes(d.b, d.len, 0, &what), ZT_EINVAL);
	/* A body too short for its type. */
	d.len = 0;
	put(&d, RTM_NEWLINK, "abc", 3, NULL, 0);
	assert_int_equal(zt_rtnl_changes(d.b, d.len, 0, &what), ZT_EINVAL);
	/* A route attribute longer than the message. */
	d.len = 0;
	route(&d, RTM_NEWROUTE, 0, RT_TABLE_MAIN, 2);
	d.b[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct rtmsg))] = 200;
	assert_int_equal(zt_rtnl_changes(d.b, d.len, 0, &what), ZT_EINVAL);
	/* A zero-length attribute would loop forever. */
	d.b[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct rtmsg))] = 0;
	assert_int_equal(zt_rtnl_changes(d.b, d.len, 0, &what), ZT_EINVAL);
	/* A trailing fragment shorter than a header is ignored. */
	d.len = 0;
	addr(&d, RTM_NEWADDR, 2, RT_SCOPE_UNIVERSE);
	assert_int_equal(zt_rtnl_changes(d.b, d.len + 5, 0, &what), 1);
	(void)st;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
