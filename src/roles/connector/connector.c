/* Connector: dials out to every configured relay and registers its
 * services there (again after a reload); accepts agents on the same socket
 * and forwards their flows (cflow.c). */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "grant.h"
#include "log.h"
#include "roles.h"
#include "status.h"
#include "cflow.h"
#include "crelay.h"
#include "portmap.h"
#include "croam.h"

struct connector {
	struct zt_relaylink *links[ZT_MAX_RELAYS];
	size_t n_links;
	struct zt_cflows flows;
	struct zt_crelay relay; /* sessions that come through relays */
	struct zt_portmap pm;   /* [nat] portmap */
	int pm_on;
	struct zt_croam roam;   /* our network changing under us */
};

static size_t link_index(const struct connector *k,
			 const struct zt_relaylink *l)
{
	size_t i = 0;

	while (i < k->n_links && k->links[i] != l)
		i++;
	return i;
}

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

/* The relay and every agent refuse what our certificate does not grant:
 * say so here, where the operator looks first. */
static void check_own_grants(const struct zt_daemon *d,
			     const struct zt_config *cfg)
{
	for (size_t i = 0; i < cfg->n_services; i++) {
		char why[200];

		if (!zt_grant_covers(&d->tls.self, &cfg->services[i], why,
				     sizeof(why)))
			log_warn("service %s: %s; relays and agents will refuse "
				 "it (ztnad pki issue --publish-host / "
				 "--publish-cidr)", cfg->services[i].name, why);
	}
}

/* Besides OBSERVED_ADDRESS and ERROR, which the link handles, a relay
 * sends connectors only relayed-session messages. */
static int connector_msg(struct zt_relaylink *l, const struct zt_ctrl_msg *m)
{
	struct connector *k = l->d->role;

	if (m->type != ZT_CTRL_SESSION_OFFER &&
	    m->type != ZT_CTRL_SESSION_CLOSE &&
	    m->type != ZT_CTRL_SESSION_CANDIDATES)
		return ZT_APP_UNKNOWN;
	return zt_crelay_message(&k->relay, link_index(k, l), m);
}

static void connector_datagram(struct zt_relaylink *l, const uint8_t *data,
			       size_t len)
{
	struct connector *k = l->d->role;

	zt_crelay_datagram(&k->relay, link_index(k, l), data, len);
}

static void connector_link_down(struct zt_relaylink *l)
{
	struct connector *k = l->d->role;

	zt_crelay_link_down(&k->relay, link_index(k, l));
}

static const struct zt_relaylink_ops connector_link_ops = {
	.up = send_register,
	.message = connector_msg,
	.down = connector_link_down,
	.datagram = connector_datagram,
};

static int connector_start(struct zt_daemon *d)
{
	struct connector *k = calloc(1, sizeof(*k));
	int rv;

	if (!k)
		return ZT_ENOMEM;
	d->role = k;
	check_own_grants(d, &d->cfg);
	if ((rv = zt_portmap_init(&k->pm, d->env.loop)) != 0)
		return rv;
	k->pm_on = 1;
	/* Before the relayed sessions: they offer the mapping. */
	zt_portmap_start(&k->pm, d);
	zt_cflows_init(&k->flows, d->env.loop, &d->cfg, d->env.targets,
		       d->env.targets_user);
	k->n_links = d->cfg.n_relays;
	for (size_t i = 0; i < k->n_links; i++) {
		k->links[i] = zt_relaylink_new(d, &d->cfg.relays[i],
					       &connector_link_ops);
		if (!k->links[i])
			return ZT_ENOMEM;
	}
	zt_crelay_init(&k->relay, &d->env, k->links, k->n_links);
	zt_croam_init(&k->roam, &d->env, &k->relay, k->links, k->n_links);
	for (size_t i = 0; i < k->n_links; i++)
		zt_relaylink_start(k->links[i]);
	return 0;
}

static void connector_reload(struct zt_daemon *d, const struct zt_config *cfg)
{
	struct connector *k = d->role;

	/* Relay endpoints are fixed at start; services are re-sent. Flows
	 * look services up in d->cfg, which now holds the new ones; live
	 * flows are checked against them too. */
	k->flows.cfg = cfg;
	check_own_grants(d, cfg);
	zt_cflows_recheck(&k->flows);
	for (size_t i = 0; i < k->n_links; i++)
		if (k->links[i]->state == ZT_LINK_UP)
			send_register(k->links[i]);
}

static void connector_stop(struct zt_daemon *d)
{
	struct connector *k = d->role;

	if (!k)
		return;
	for (size_t i = 0; i < k->n_links; i++)
		if (k->links[i])
			zt_relaylink_stop(k->links[i]);
	zt_cflows_stop(&k->flows);
	zt_croam_stop(&k->roam);
	zt_crelay_stop(&k->relay);
	if (k->pm_on)
		zt_portmap_stop(&k->pm);
	/* Freed in destroy: libuv still owns handles inside. */
}

static void connector_destroy(struct zt_daemon *d)
{
	struct connector *k = d->role;

	if (k && k->pm_on)
		zt_portmap_free(&k->pm);
	free(d->role);
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
	zt_sb_printf(b, json ? "]" : "");
	zt_cflows_status(&k->flows, b, json);
	zt_crelay_status(&k->relay, b, json);
	zt_sb_printf(b, json ? "," : "");
	zt_portmap_status(&k->pm, b, json);
	zt_sb_printf(b, json ? "}\n" : "");
}

/* Accepted connections are agents: each becomes a cflow session, which
 * takes its events from then on. Client connections are relay links and
 * never come here. */
static void accept_established(struct zt_qconn *c, void *owner)
{
	struct connector *k = ((struct zt_daemon *)owner)->role;

	if (k)
		zt_cflows_session_new(&k->flows, c);
}

static const struct zt_qconn_ops connector_accept_ops = {
	.established = accept_established,
};

const struct zt_role_ops zt_connector_ops = {
	.name = "connector",
	.role = ZT_ROLE_CONNECTOR,
	.accept_roles = 1u << ZT_ROLE_AGENT,
	.start = connector_start,
	.reload = connector_reload,
	.stop = connector_stop,
	.destroy = connector_destroy,
	.status = connector_status,
	.accept = &connector_accept_ops,
};
