/* See arecheck.h. The same test the policy applies to a new flow, keyed
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

static int covers_dst(const struct zt_service *svc,
		      const struct zt_arecheck_flow *f)
{
	return f->hostname ? strcmp(svc->hostname, f->hostname) == 0
			   : zt_service_has_addr(svc, f->dst);
}

const char *zt_arecheck(const struct zt_catalog_entry *e, size_t n,
			const struct zt_arecheck_flow *f)
{
	const char *why = "service left the catalog";

	for (size_t i = 0; i < n; i++) {
		if (!same_service(&e[i], f))
			continue;
		if (!covers_dst(&e[i].svc, f)) {
			why = "destination no longer in the service";
			continue;
		}
		if (zt_service_match(&e[i].svc, f->proto, f->dst->port))
			return NULL;
		why = "port or protocol no longer in the service";
	}
	return why;
}
