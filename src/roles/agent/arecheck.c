/* See arecheck.h. The same tests the policy applies to a new flow, keyed
 * by the service the flow was admitted for: a flow keeps running only
 * while the service that let it in still would. */
#include "arecheck.h"

#include <string.h>

static int same_service(const struct zt_catalog_entry *e,
			const struct zt_arecheck_flow *f)
{
	return strcmp(e->connector, f->connector) == 0 &&
	       strcmp(e->svc.name, f->service) == 0;
}

const char *zt_arecheck(const struct zt_catalog_entry *e, size_t n,
			const struct zt_arecheck_flow *f)
{
	const char *why = "service left the catalog";

	for (size_t i = 0; i < n; i++) {
		if (!same_service(&e[i], f))
			continue;
		if (!zt_policy_dest(&e[i].svc, f->hostname, f->dst).allow) {
			why = "destination no longer in the service";
			continue;
		}
		if (zt_policy_transport(&e[i].svc, f->proto, f->dst->port).allow)
			return NULL;
		why = "port or protocol no longer in the service";
	}
	return why;
}
