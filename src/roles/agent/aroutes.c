/* Agent routes (see aroutes.h). */
#include "aroutes.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "netlink.h"


static size_t family_bits(uint8_t family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

/* Do the first bits bits of a and b agree? */
static int same_bits(const uint8_t *a, const uint8_t *b, size_t bits)
{
	size_t full = bits / 8, rem = bits % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	return rem == 0 || ((a[full] ^ b[full]) & (0xff << (8 - rem))) == 0;
}

/* Two prefixes overlap when the shorter one contains the longer. */
static int overlaps(const struct zt_cidr *a, const struct zt_cidr *b)
{
	return a->family == b->family &&
	       same_bits(a->addr, b->addr, a->prefix < b->prefix ? a->prefix
								 : b->prefix);
}

static struct zt_cidr host_cidr(const struct zt_addr *a)
{
	struct zt_cidr c = { .family = a->family };

	c.prefix = (uint8_t)family_bits(a->family);
	memcpy(c.addr, a->ip, sizeof(c.addr));
	return c;
}

/* The first of the addrs inside c, as a host prefix in *hit. */
static int covers_any(const struct zt_cidr *c, const struct zt_addr *addrs,
		      size_t n, struct zt_cidr *hit)
{
	for (size_t i = 0; i < n; i++) {
		struct zt_cidr h = host_cidr(&addrs[i]);

		if (h.prefix && overlaps(c, &h)) {
			*hit = h;
			return 1;
		}
	}
	return 0;
}

int zt_route_check(const struct zt_cidr *c, const struct zt_route_protect *p,
		   struct zt_cidr *hit)
{
	struct zt_cidr dummy;

	if (!hit)
		hit = &dummy;
	memset(hit, 0, sizeof(*hit));
	if (!family_bits(c->family) || c->prefix > family_bits(c->family))
		return ZT_ROUTE_BAD;
	if (c->prefix == 0 || covers_any(c, p->gateways, p->n_gateways, hit))
		return ZT_ROUTE_DEFAULT;
	if (covers_any(c, p->relays, p->n_relays, hit))
		return ZT_ROUTE_RELAY;
	if (covers_any(c, p->connectors, p->n_connectors, hit))
		return ZT_ROUTE_CONNECTOR;
	for (size_t i = 0; i < p->n_nets; i++)
		if (overlaps(c, &p->nets[i])) {
			*hit = p->nets[i];
			return ZT_ROUTE_LOCAL_NET;
		}
	return ZT_ROUTE_OK;
}

size_t zt_routes_select(const struct zt_cidr *cand, size_t n,
			const struct zt_route_protect *p, uint8_t *verdict)
{
	size_t ok = 0;

	for (size_t i = 0; i < n; i++) {
		verdict[i] = (uint8_t)zt_route_check(&cand[i], p, NULL);
		ok += verdict[i] == ZT_ROUTE_OK;
	}
	return ok;
}

const char *zt_route_verdict_str(int v)
{
	switch (v) {
	case ZT_ROUTE_OK:
		return "ok";
	case ZT_ROUTE_BAD:
		return "not a valid prefix";
	case ZT_ROUTE_DEFAULT:
		return "it covers the default gateway";
	case ZT_ROUTE_RELAY:
		return "it covers the relay";
	case ZT_ROUTE_CONNECTOR:
		return "it covers the connector address";
	case ZT_ROUTE_LOCAL_NET:
		return "it overlaps the local network";
	}
	return "?";
}

int zt_tunnel_src_ok(const struct zt_addr *src, const struct zt_cidr *own,
		     size_t n)
{
	size_t len = family_bits(src->family) / 8;

	for (size_t i = 0; len && i < n; i++)
		if (own[i].family == src->family &&
		    memcmp(own[i].addr, src->ip, len) == 0)
			return 1;
	return 0;
}

/* --- glue: what the host has, what we install --- */

static int prefix_of(const struct sockaddr *mask, size_t len)
{
	const uint8_t *m = mask->sa_family == AF_INET
		? (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr
		: (const uint8_t *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
	int bits = 0;

	for (size_t i = 0; i < len; i++)
		for (uint8_t b = m[i]; b & 0x80; b = (uint8_t)(b << 1))
			bits++;
	return bits;
}

/* Is a one of the tunnel's own addresses (the shim's interface has them
 * too, under a name we do not know)? */
static int is_tunnel_addr(const struct zt_pktsrc *src, const struct zt_addr *a)
{
	const struct zt_cidr own[2] = { src->cfg.addr4, src->cfg.addr6 };

	return zt_tunnel_src_ok(a, own, 2);
}

#define SRC_RELOG_NS (10ULL * 1000000000ULL)

int zt_srccheck(struct zt_srccheck *c, const struct zt_pktsrc *src,
		const struct zt_addr *a, uint64_t now_ns)
{
	char s[64];

	if (is_tunnel_addr(src, a))
		return 1;
	if (c->dropped++ == 0 || now_ns - c->logged_at > SRC_RELOG_NS) {
		c->logged_at = now_ns;
		log_warn("drop packet from source %s: not the tunnel's address "
			 "(%llu so far)", zt_addr_str(a, s, sizeof(s)),
			 (unsigned long long)c->dropped);
	}
	return 0;
}

/* The networks of every interface but the tunnel's. */
static size_t local_nets(const struct zt_pktsrc *src, struct zt_cidr *nets,
			 size_t cap)
{
	struct ifaddrs *all, *i;
	struct zt_addr a;
	size_t n = 0;

	if (getifaddrs(&all) != 0)
		return 0;
	for (i = all; i && n < cap; i = i->ifa_next) {
		if (!i->ifa_addr || !i->ifa_netmask ||
		    (i->ifa_addr->sa_family != AF_INET &&
		     i->ifa_addr->sa_family != AF_INET6) ||
		    (src->ifname[0] && strcmp(i->ifa_name, src->ifname) == 0))
			continue;
		zt_addr_from_sockaddr(&a, i->ifa_addr);
		if (is_tunnel_addr(src, &a))
			continue;
		nets[n] = host_cidr(&a);
		nets[n].prefix = (uint8_t)prefix_of(i->ifa_netmask,
						    nets[n].prefix / 8);
		n++;
	}
	freeifaddrs(all);
	return n;
}

static size_t default_gateways(struct zt_addr *gw, size_t cap)
{
	struct zt_nl nl = { .fd = -1 };
	int n = zt_nl_open(&nl);

	if (n == 0)
		n = zt_nl_default_gateways(&nl, gw, cap);
	zt_nl_close(&nl);
	return n > 0 ? (size_t)n : 0;
}

static int was_refused(const struct zt_aroutes *r, const char *svc,
		       const struct zt_cidr *c)
{
	for (size_t i = 0; i < r->n_refused; i++)
		if (strcmp(r->refused[i].service, svc) == 0 &&
		    memcmp(&r->refused[i].cidr, c, sizeof(*c)) == 0)
			return 1;
	return 0;
}

/* Logs a refusal the first time it happens (not on every re-evaluation)
 * and remembers it in next. */
static void note_refusal(const struct zt_aroutes *r, struct zt_aroutes *next,
			 const char *svc, const struct zt_cidr *c,
			 const struct zt_route_protect *p)
{
	char cs[ZT_CIDR_STRLEN], hs[ZT_CIDR_STRLEN] = "";
	struct zt_cidr hit;
	int v = zt_route_check(c, p, &hit);

	if (!was_refused(r, svc, c)) {
		if (hit.family)
			zt_nl_cidr_str(&hit, hs, sizeof(hs));
		/* An address reads better without its /32 or /128. */
		if (hit.family && hit.prefix == family_bits(hit.family))
			*strchr(hs, '/') = '\0';
		log_warn("route %s of service %s refused: %s%s%s",
			 zt_nl_cidr_str(c, cs, sizeof(cs)), svc,
			 v == ZT_ROUTE_DEFAULT && !hit.family
				 ? "it is a default route"
				 : zt_route_verdict_str(v),
			 hit.family ? " " : "", hs);
	}
	if (next->n_refused == ZT_PKTSRC_MAX_ROUTES)
		return;
	snprintf(next->refused[next->n_refused].service, ZT_NAME_MAX, "%s",
		 svc);
	next->refused[next->n_refused++].cidr = *c;
}

static void add_pool(struct zt_cidr *routes, size_t *n)
{
	uint32_t pool = htonl(ZT_AGENT_POOL4);

	memset(&routes[0], 0, sizeof(routes[0]));
	routes[0].family = AF_INET;
	routes[0].prefix = ZT_AGENT_POOL4_PREFIX;
	memcpy(routes[0].addr, &pool, 4);
	*n = 1;
}

static int in_set(const struct zt_cidr *c, const struct zt_cidr *set,
		  size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(c, &set[i], sizeof(*c)) == 0)
			return 1;
	return 0;
}

/* The route set: the pool, then each service CIDR that passes the check,
 * up to ZT_PKTSRC_MAX_ROUTES. Refusals go to next. */
static void build(const struct zt_aroutes *r, struct zt_aroutes *next,
		  const struct zt_route_protect *p, struct zt_cidr *routes,
		  size_t *n)
{
	add_pool(routes, n);
	for (size_t i = 0; i < r->n_entries; i++) {
		const struct zt_service *svc = &r->entries[i].svc;

		for (size_t j = 0; j < svc->n_cidrs; j++) {
			if (zt_route_check(&svc->cidrs[j], p, NULL) != ZT_ROUTE_OK)
				note_refusal(r, next, svc->name, &svc->cidrs[j], p);
			else if (*n < ZT_PKTSRC_MAX_ROUTES &&
				 !in_set(&svc->cidrs[j], routes, *n))
				routes[(*n)++] = svc->cidrs[j];
		}
	}
}

static int evaluate(struct zt_aroutes *r, struct zt_pktsrc *src,
		    struct zt_aroutes *next, struct zt_addr *conn)
{
	struct zt_cidr nets[ZT_AROUTES_MAX_NETS], routes[ZT_PKTSRC_MAX_ROUTES];
	struct zt_addr gw[8];
	struct zt_route_protect p = { .relays = r->relays,
				      .n_relays = r->n_relays,
				      .connectors = conn,
				      .gateways = gw,
				      .nets = nets };
	size_t n;

	for (size_t i = 0; i < r->n_entries; i++)
		for (size_t j = 0; j < r->entries[i].n_addrs; j++)
			conn[p.n_connectors++] = r->entries[i].addrs[j];
	p.n_gateways = default_gateways(gw, 8);
	p.n_nets = local_nets(src, nets, ZT_AROUTES_MAX_NETS);
	build(r, next, &p, routes, &n);
	memcpy(r->refused, next->refused, sizeof(r->refused));
	r->n_refused = next->n_refused;
	if (r->applied && n == r->n_want &&
	    memcmp(routes, r->want, n * sizeof(routes[0])) == 0)
		return 0;
	memcpy(r->want, routes, n * sizeof(routes[0]));
	r->n_want = n;
	r->applied = 1;
	if (!src->ops || !src->ops->set_routes)
		return 0;
	return src->ops->set_routes(src, routes, n);
}

int zt_aroutes_refresh(struct zt_aroutes *r, struct zt_pktsrc *src)
{
	/* Large (the refusal list): on the heap, not the loop's stack. */
	struct zt_aroutes *next = calloc(1, sizeof(*next));
	struct zt_addr *conn = calloc(r->n_entries * ZT_MAX_ADDRS + 1,
				      sizeof(*conn));
	int rv = ZT_ENOMEM;

	if (next && conn)
		rv = evaluate(r, src, next, conn);
	free(next);
	free(conn);
	return rv;
}

int zt_aroutes_set(struct zt_aroutes *r, struct zt_pktsrc *src,
		   const struct zt_catalog_entry *e, size_t n,
		   const struct zt_addr *relays, size_t n_relays)
{
	struct zt_catalog_entry *copy = NULL;

	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return ZT_ENOMEM;
		memcpy(copy, e, n * sizeof(*copy));
	}
	free(r->entries);
	r->entries = copy;
	r->n_entries = n;
	r->n_relays = 0;
	for (size_t i = 0; i < n_relays && r->n_relays < ZT_MAX_RELAYS; i++)
		if (relays[i].family)
			r->relays[r->n_relays++] = relays[i];
	return zt_aroutes_refresh(r, src);
}

void zt_aroutes_free(struct zt_aroutes *r)
{
	free(r->entries);
	r->entries = NULL;
	r->n_entries = 0;
}
