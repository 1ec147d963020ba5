/* Agent: keeps a session with every configured relay, learns its observed
 * address and the catalog of services its identity may reach. (The data
 * plane that uses the catalog comes with the TUN packet path.) */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "roles.h"
#include "status.h"

struct agent {
	struct zt_relaylink links[ZT_MAX_RELAYS];
	size_t n_links;
	/* The catalog last received from each relay. */
	struct zt_catalog_entry *catalog[ZT_MAX_RELAYS];
	size_t n_catalog[ZT_MAX_RELAYS];
};

static size_t link_index(struct agent *a, struct zt_relaylink *l)
{
	return (size_t)(l - a->links);
}

static int agent_msg(struct zt_relaylink *l, const struct zt_ctrl_msg *m)
{
	struct agent *a = l->d->role;
	size_t i = link_index(a, l);
	struct zt_catalog_entry *copy = NULL;

	if (m->type != ZT_CTRL_CATALOG)
		return ZT_APP_UNKNOWN;
	if (m->u.catalog.n) {
		copy = malloc(m->u.catalog.n * sizeof(*copy));
		if (!copy)
			return ZT_APP_INTERNAL;
		memcpy(copy, m->u.catalog.entries,
		       m->u.catalog.n * sizeof(*copy));
	}
	free(a->catalog[i]);
	a->catalog[i] = copy;
	a->n_catalog[i] = m->u.catalog.n;
	log_info("relay %s:%u: catalog with %zu service(s)", l->relay.host,
		 l->relay.port, m->u.catalog.n);
	return 0;
}

static void agent_down(struct zt_relaylink *l)
{
	struct agent *a = l->d->role;
	size_t i = link_index(a, l);

	/* Another relay may still carry the same services: keep what it
	 * told us, drop only this relay's view. */
	free(a->catalog[i]);
	a->catalog[i] = NULL;
	a->n_catalog[i] = 0;
}

static const struct zt_relaylink_ops agent_link_ops = {
	.message = agent_msg,
	.down = agent_down,
};

static int agent_start(struct zt_daemon *d)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return ZT_ENOMEM;
	d->role = a;
	a->n_links = d->cfg.n_relays;
	for (size_t i = 0; i < a->n_links; i++) {
		zt_relaylink_init(&a->links[i], d, &d->cfg.relays[i],
				  &agent_link_ops);
		zt_relaylink_start(&a->links[i]);
	}
	return 0;
}

static void agent_stop(struct zt_daemon *d)
{
	struct agent *a = d->role;

	if (!a)
		return;
	for (size_t i = 0; i < a->n_links; i++) {
		zt_relaylink_stop(&a->links[i]);
		free(a->catalog[i]);
	}
	free(a);
	d->role = NULL;
}

/* Has an earlier relay already listed this service from this connector? */
static int seen_before(struct agent *a, size_t li, size_t ei)
{
	const struct zt_catalog_entry *e = &a->catalog[li][ei];

	for (size_t i = 0; i <= li; i++)
		for (size_t j = 0; j < (i == li ? ei : a->n_catalog[i]); j++) {
			const struct zt_catalog_entry *o = &a->catalog[i][j];

			if (!strcmp(o->svc.name, e->svc.name) &&
			    !strcmp(o->connector, e->connector))
				return 1;
		}
	return 0;
}

static void agent_status(struct zt_daemon *d, struct zt_sb *b, int json)
{
	struct agent *a = d->role;
	int first = 1;
	char addr[64];

	zt_sb_printf(b, json ? "{" : "");
	zt_daemon_status_head(d, b, json);
	zt_sb_printf(b, json ? ",\"relays\":[" : "");
	zt_status_links(b, a->links, a->n_links, json);
	zt_sb_printf(b, json ? "],\"catalog\":[" : "catalog:\n");
	for (size_t i = 0; i < a->n_links; i++) {
		for (size_t j = 0; j < a->n_catalog[i]; j++) {
			const struct zt_catalog_entry *e = &a->catalog[i][j];

			if (seen_before(a, i, j))
				continue;
			if (json) {
				zt_sb_printf(b, "%s{", first ? "" : ",");
				zt_status_service(b, &e->svc, 1);
				zt_sb_printf(b, ",\"connector\":");
				zt_sb_json_str(b, e->connector);
				zt_sb_printf(b, ",\"addresses\":[");
				for (size_t k = 0; k < e->n_addrs; k++)
					zt_sb_printf(b, "%s\"%s\"", k ? "," : "",
						     zt_addr_str(&e->addrs[k], addr,
								 sizeof(addr)));
				zt_sb_printf(b, "]}");
			} else {
				zt_sb_printf(b, "  ");
				zt_status_service(b, &e->svc, 0);
				zt_sb_printf(b, "  via %s\n", e->connector);
			}
			first = 0;
		}
	}
	zt_sb_printf(b, json ? "]}\n" : "");
}

const struct zt_role_ops zt_agent_ops = {
	.name = "agent",
	.role = ZT_ROLE_AGENT,
	.accept_roles = 0,
	.start = agent_start,
	.stop = agent_stop,
	.status = agent_status,
	.cb = {
		.established = zt_link_cb_established,
		.stream_data = zt_link_cb_data,
		.closed = zt_link_cb_closed,
	},
};
