/* See policy.h. Reasons are part of the interface: the roles log them and
 * the integration tests look for them. */
#include "policy.h"

#include <string.h>

#include "pkt.h"

static struct zt_decision allow(const char *why)
{
	return (struct zt_decision){ .allow = 1, .why = why };
}

static struct zt_decision deny(const char *why)
{
	return (struct zt_decision){ .allow = 0, .why = why };
}

static int in_groups(const struct zt_identity *id, const char *group)
{
	for (size_t g = 0; g < id->n_groups; g++)
		if (strcmp(id->groups[g], group) == 0)
			return 1;
	return 0;
}

struct zt_decision zt_policy_identity(const struct zt_service *svc,
				      const struct zt_identity *id)
{
	if (svc->n_allow == 0)
		return deny("empty allow list");
	for (size_t i = 0; i < svc->n_allow; i++) {
		const struct zt_principal *p = &svc->allow[i];

		if (p->kind == ZT_PRINCIPAL_USER &&
		    strcmp(p->name, id->name) == 0)
			return allow("user in the allow list");
		if (p->kind == ZT_PRINCIPAL_GROUP && in_groups(id, p->name))
			return allow("group in the allow list");
	}
	return deny("identity not in the allow list");
}

static int port_listed(const struct zt_service *svc, uint16_t port)
{
	for (size_t i = 0; i < svc->n_ports; i++)
		if (port >= svc->ports[i].lo && port <= svc->ports[i].hi)
			return 1;
	return 0;
}

struct zt_decision zt_policy_transport(const struct zt_service *svc,
				       int ipproto, uint16_t port)
{
	int want = ipproto == ZT_IPPROTO_TCP ? ZT_PROTO_TCP :
		   ipproto == ZT_IPPROTO_UDP ? ZT_PROTO_UDP :
					       0;

	/* Ping is opt-in per service: it reveals which addresses answer. */
	if (ipproto == ZT_IPPROTO_ICMP || ipproto == ZT_IPPROTO_ICMPV6)
		return svc->icmp ? allow("ICMP echo enabled") :
				   deny("ICMP echo not enabled");
	if (!(svc->proto & want))
		return deny("protocol not served");
	if (!port_listed(svc, port))
		return deny("port not served");
	return allow("protocol and port served");
}

struct zt_decision zt_policy_dest(const struct zt_service *svc,
				  const char *host, const struct zt_addr *dst)
{
	if (host)
		return strcmp(svc->hostname, host) == 0 ?
			       allow("hostname of the service") :
			       deny("other hostname");
	return zt_service_has_addr(svc, dst) ?
		       allow("address in the service") :
		       deny("address outside the service");
}

struct zt_decision zt_policy_pick(const struct zt_catalog_entry *e, size_t n,
				  const char *host, int ipproto,
				  const struct zt_addr *dst,
				  const struct zt_catalog_entry **out)
{
	int addr_known = 0;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!zt_policy_dest(&e[i].svc, host, dst).allow)
			continue;
		addr_known = 1;
		if (zt_policy_transport(&e[i].svc, ipproto, dst->port).allow) {
			*out = &e[i];
			return allow("service found");
		}
	}
	return deny(addr_known ? "port or protocol not in the service" :
				 "no service");
}

struct zt_decision zt_policy_flow(const struct zt_service *svc,
				  const struct zt_flow_hdr *h,
				  const struct zt_identity *id, int *status)
{
	*status = ZT_FLOW_NO_SERVICE;
	if (!svc)
		return deny("no such service");
	if (!zt_policy_identity(svc, id).allow) {
		*status = ZT_FLOW_DENIED;
		return deny("identity not in the allow list");
	}
	if (!zt_policy_transport(svc, h->proto, h->dst.port).allow)
		return deny("protocol or port not served");
	if (!svc->hostname[0] && !zt_policy_dest(svc, NULL, &h->dst).allow)
		return deny("address outside the service");
	*status = ZT_FLOW_OK;
	return allow("flow allowed");
}
