/* Agent routes: which catalog CIDRs go into the tunnel, and which packets
 * the tunnel takes in. A catalog is data from the network: a service whose
 * CIDR covers the default route, the LAN or the relays' own addresses
 * would take the host's traffic (and the tunnel's own QUIC packets) into
 * the TUN. Such CIDRs are refused; the decision is a pure function, the
 * rest (reading interfaces and routes, logging, installing) is glue. */
#ifndef ZT_AROUTES_H
#define ZT_AROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl.h"
#include "pktsrc.h"

/* 100.64.0.0/10: synthetic addresses, the DNS stub and the TUN address;
 * routed into the tunnel and never accepted from an outside resolver. */
#define ZT_AGENT_POOL4 0x64400000u
#define ZT_AGENT_POOL4_PREFIX 10

enum zt_route_verdict {
	ZT_ROUTE_OK = 0,
	ZT_ROUTE_BAD,       /* not IPv4/IPv6 or prefix too long */
	ZT_ROUTE_DEFAULT,   /* prefix 0, or contains a default gateway */
	ZT_ROUTE_RELAY,     /* contains a relay's address */
	ZT_ROUTE_CONNECTOR, /* contains a connector's address */
	ZT_ROUTE_LOCAL_NET, /* overlaps a network of a non-tunnel interface */
};

/* What catalog routes must leave alone. Any pointer may be NULL with its
 * count 0. */
struct zt_route_protect {
	const struct zt_addr *relays;
	size_t n_relays;
	const struct zt_addr *connectors;
	size_t n_connectors;
	const struct zt_addr *gateways;
	size_t n_gateways;
	const struct zt_cidr *nets;
	size_t n_nets;
};

/* Pure. The verdict for one candidate; on a refusal other than BAD and a
 * prefix-0 DEFAULT, *hit (if not NULL) is the protected prefix it
 * collides with (an address as a /32 or /128). */
int zt_route_check(const struct zt_cidr *c, const struct zt_route_protect *p,
		   struct zt_cidr *hit);
/* Pure. verdict[i] for each of the n candidates; returns how many may be
 * installed (ZT_ROUTE_OK). */
size_t zt_routes_select(const struct zt_cidr *cand, size_t n,
			const struct zt_route_protect *p, uint8_t *verdict);
const char *zt_route_verdict_str(int v);

/* Pure. Is src one of the tunnel's own addresses (own[i].addr, the
 * prefix ignored)? Packets from any other source are not the user's. */
int zt_tunnel_src_ok(const struct zt_addr *src, const struct zt_cidr *own,
		     size_t n);

/* Packets from the packet source whose source is not the tunnel's. */
struct zt_srccheck {
	uint64_t dropped;
	uint64_t logged_at; /* ns */
};

/* Returns 1 when a (a packet's source) is one of src's own addresses;
 * otherwise counts the drop, logs it (at most every 10 s) and returns 0.
 * Only the tunnel's address is the user: with forwarding on, a LAN
 * neighbour's packets routed into the TUN would reach services as the
 * user. */
int zt_srccheck(struct zt_srccheck *c, const struct zt_pktsrc *src,
		const struct zt_addr *a, uint64_t now_ns);

#define ZT_AROUTES_MAX_NETS 64

/* The agent's route state: the services routed and the refusals already
 * logged. */
struct zt_aroutes {
	struct zt_catalog_entry *entries; /* services whose CIDRs we route */
	size_t n_entries;
	struct zt_addr relays[ZT_MAX_RELAYS];
	size_t n_relays;
	struct {
		char service[ZT_NAME_MAX];
		struct zt_cidr cidr;
	} refused[ZT_PKTSRC_MAX_ROUTES];
	size_t n_refused;
	struct zt_cidr want[ZT_PKTSRC_MAX_ROUTES]; /* last set handed over */
	size_t n_want;
	int applied;
};

/* The route set for the pool and the CIDRs of these services, minus the
 * refused ones, handed to src->ops->set_routes when it changed. Copies e
 * and relays (addresses of family 0 are skipped). Returns 0 or ZT_E*. */
int zt_aroutes_set(struct zt_aroutes *r, struct zt_pktsrc *src,
		   const struct zt_catalog_entry *e, size_t n,
		   const struct zt_addr *relays, size_t n_relays);
/* The same services again: interfaces and default routes may have
 * changed. */
int zt_aroutes_refresh(struct zt_aroutes *r, struct zt_pktsrc *src);
void zt_aroutes_free(struct zt_aroutes *r);

#endif
