/* Agent: is a live flow still in the catalog? After a relay sends a new
 * catalog, flows whose service left it, or no longer matches their
 * destination, protocol or port, are reset (aflow.c). Pure. */
#ifndef ZT_ARECHECK_H
#define ZT_ARECHECK_H

#include <stddef.h>

#include "ctrl.h"
/* aflow.c, which asks this about live flows, asks policy.h about new
 * ones: one include for both. */
#include "policy.h"

/* What a flow was admitted for. hostname: the name its synthetic
 * destination stands for, NULL for a destination inside a CIDR. */
struct zt_arecheck_flow {
	const char *connector;
	const char *service;
	const char *hostname;
	int proto; /* ZT_IPPROTO_* */
	const struct zt_addr *dst;
};

/* NULL when one of the n entries still lists the flow's service from its
 * connector for its destination, protocol and port; else why not. */
const char *zt_arecheck(const struct zt_catalog_entry *e, size_t n,
			const struct zt_arecheck_flow *f);

#endif
