/* Connector: dials out to every configured relay and registers its
 * services there; re-registers after a reload. (Accepting agents and
 * forwarding flows comes with the data plane.) */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "roles.h"
#include "status.h"

struct connector {
	struct zt_relaylink links[ZT_MAX_RELAYS];
	size_t n_links;
};

static void send_register(struct zt_relaylink *l)
{
	const struct zt_config *cfg = &l->d->cfg;
	struct zt_ctrl_msg m = { .type = ZT_CTRL_REGISTER };

	m.u.reg.services = cfg->services;
	m.u.reg.n = cfg->n_services;
	if (zt_relaylink_send(l, &m) == 0)
		log_info("relay %s:%u: registered %zu service(s)", l->relay.host,
			 l->relay.port, cfg->n_services);
}

static int connector_msg(struct zt_relaylink *l, const struct zt_ctrl_msg *m)
{
	/* A relay sends connectors nothing but OBSERVED_ADDRESS and ERROR,
	 * which the link handles. */
	return ZT_APP_UNKNOWN;
}

static const struct zt_relaylink_ops connector_link_ops = {
	.up = send_register,
	.message = connector_msg,
};

static int connector_start(struct zt_daemon *d)
{
	struct connector *k = calloc(1, sizeof(*k));

	if (!k)
		return ZT_ENOMEM;
	d->role = k;
	k->n_links = d->cfg.n_relays;
	for (size_t i = 0; i < k->n_links; i++) {
		zt_relaylink_init(&k->links[i], d, &d->cfg.relays[i],
				  &connector_link_ops);
		zt_relaylink_start(&k->links[i]);
	}
	return 0;
}

static void connector_reload(struct zt_daemon *d, const struct zt_config *cfg)
{
	struct connector *k = d->role;

	/* Relay endpoints are fixed at start; services are re-sent. */
	for (size_t i = 0; i < k->n_links; i++)
		if (k->links[i].state == ZT_LINK_UP)
			send_register(&k->links[i]);
}

static void connector_stop(struct zt_daemon *d)
{
	struct connector *k = d->role;

	if (!k)
		return;
	for (size_t i = 0; i < k->n_links; i++)
		zt_relaylink_stop(&k->links[i]);
	free(k);
	d->role = NULL;
}

static void connector_status(struct zt_daemon *d, struct zt_sb *b, int json)
{
	struct connector *k = d->role;

	zt_sb_printf(b, json ? "{" : "");
	zt_daemon_status_head(d, b, json);
	zt_sb_printf(b, json ? ",\"relays\":[" : "");
	zt_status_links(b, k->links, k->n_links, json);
	zt_sb_printf(b, json ? "],\"services\":[" : "services:\n");
	for (size_t i = 0; i < d->cfg.n_services; i++) {
		const struct zt_service *s = &d->cfg.services[i];

		if (json) {
			zt_sb_printf(b, "%s{", i ? "," : "");
			zt_status_service(b, s, 1);
			zt_sb_printf(b, ",\"allow\":[");
			for (size_t j = 0; j < s->n_allow; j++) {
				zt_sb_printf(b, "%s\"%s:%s\"", j ? "," : "",
					     s->allow[j].kind == ZT_PRINCIPAL_USER
						     ? "user"
						     : "group",
					     s->allow[j].name);
			}
			zt_sb_printf(b, "]}");
		} else {
			zt_sb_printf(b, "  ");
			zt_status_service(b, s, 0);
			zt_sb_printf(b, "\n");
		}
	}
	zt_sb_printf(b, json ? "]}\n" : "");
}

const struct zt_role_ops zt_connector_ops = {
	.name = "connector",
	.role = ZT_ROLE_CONNECTOR,
	.accept_roles = 0,
	.start = connector_start,
	.reload = connector_reload,
	.stop = connector_stop,
	.status = connector_status,
	.cb = {
		.established = zt_link_cb_established,
		.stream_data = zt_link_cb_data,
		.closed = zt_link_cb_closed,
	},
};
