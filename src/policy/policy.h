/* The zero-trust decisions as pure functions: may this identity use this
 * service, does this destination belong to it, which catalog entry serves
 * an agent's packet, may a connector open this flow. No I/O and no state,
 * so that the rule is written once and tested on its own (unit_policy.c);
 * the roles only act on the answer. Every answer carries a short static
 * reason for the logs. */
#ifndef ZT_POLICY_H
#define ZT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl.h"
#include "flowhdr.h"
#include "types.h"

struct zt_decision {
	int allow;       /* 1 allow, 0 deny */
	const char *why; /* static text, never NULL */
};

/* Is the identity in the service's allow list, by its name (user:) or one
 * of its groups (group:)? An empty list admits no one. */
struct zt_decision zt_policy_identity(const struct zt_service *svc,
				      const struct zt_identity *id);

/* Does the service carry this IP protocol (6, 17, 1, 58) and port? ICMP
 * and ICMPv6 stand for echo requests (callers pass no other type) and
 * need the service's icmp flag; their port is ignored. */
struct zt_decision zt_policy_transport(const struct zt_service *svc,
				       int ipproto, uint16_t port);

/* Does the destination belong to the service? host: the name a synthetic
 * destination stands for, compared with the service's hostname; NULL for
 * a real address, which must lie inside one of its CIDRs. */
struct zt_decision zt_policy_dest(const struct zt_service *svc,
				  const char *host, const struct zt_addr *dst);

/* Agent: which of the n catalog entries serves a new flow to dst (its
 * port, ipproto), host as for zt_policy_dest? The first entry whose
 * destination and transport match; default deny. *out is that entry, or
 * NULL when denied. */
struct zt_decision zt_policy_pick(const struct zt_catalog_entry *e, size_t n,
				  const char *host, int ipproto,
				  const struct zt_addr *dst,
				  const struct zt_catalog_entry **out);

/* Connector: may id open the flow h on svc, the service of that name it
 * publishes (NULL: none)? *status is the ZT_FLOW_* code to answer with.
 * The address of a hostname service's flow is not checked: it is the
 * agent's synthetic one, and the connector dials the name, never that
 * address. */
struct zt_decision zt_policy_flow(const struct zt_service *svc,
				  const struct zt_flow_hdr *h,
				  const struct zt_identity *id, int *status);

#endif
