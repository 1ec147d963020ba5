/* Agent: keeps a session with every configured relay, learns its observed
 * address and the catalog of services its identity may reach, and runs the
 * data plane (aflow.c) on that catalog. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "roles.h"
#include "portmap.h"
#include "status.h"
#include "aflow.h"
#include "arelay.h"
#include "aroam.h"

struct agent {
	struct zt_aflows af;
	struct zt_arelay relay; /* sessions through relays */
	struct zt_aroam roam;   /* our network changing under us */
	struct zt_relaylink *links[ZT_MAX_RELAYS];
	size_t n_links;
	/* The catalog last received from each relay. */
	struct zt_catalog_entry *catalog[ZT_MAX_RELAYS];
	size_t n_catalog[ZT_MAX_RELAYS];
	/* The relay's link is down and its catalog is kept only for its
	 * routes (failing closed): none of it is reachable. */
	int stale[ZT_MAX_RELAYS];
	/* A relay that just came back may not have heard from every
	 * connector yet: its first catalog after the link came up does not
	 * end live flows; the next one does, or the timer's check. */
	int fresh[ZT_MAX_RELAYS];
	uv_timer_t settle;
	int settle_on;
	struct zt_portmap pm; /* [nat] portmap */
	int pm_on;
};

#define SETTLE_MS 10000

static size_t link_index(struct agent *a, struct zt_relaylink *l)
{
	size_t i = 0;

	while (i < a->n_links && a->links[i] != l)
		i++;
	return i;
}

static int seen_before(struct agent *a, size_t li, size_t ei);

/* The policy's catalog: the union of every live relay's. */
static size_t live_catalog(struct agent *a, struct zt_catalog_entry *all)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_links; i++)
		for (size_t j = 0; !a->stale[i] && j < a->n_catalog[i]; j++)
			if (!seen_before(a, i, j))
				all[n++] = a->catalog[i][j];
	return n;
}

/* Every catalog we hold, stale ones included: their CIDRs stay routed
 * into the tunnel (where flows are refused) rather than going out in
 * clear through the physical interface. */
static size_t routed_catalog(struct agent *a, struct zt_catalog_entry *all)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_links; i++)
		for (size_t j = 0; j < a->n_catalog[i]; j++)
			all[n++] = a->catalog[i][j];
	return n;
}

/* The relays' addresses: resolved, or the configured IP literal. */
static size_t relay_addrs(struct agent *a, struct zt_addr *out)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_links; i++) {
		const struct zt_relaylink *l = a->links[i];
		struct zt_addr *x = &out[n];

		memset(x, 0, sizeof(*x));
		if (l->remote.family)
			*x = l->remote;
		else if (inet_pton(AF_INET, l->relay.host, x->ip) == 1)
			x->family = AF_INET;
		else if (inet_pton(AF_INET6, l->relay.host, x->ip) == 1)
			x->family = AF_INET6;
		n += x->family != 0;
	}
	return n;
}

/* recheck: a relay sent a catalog, so live flows are checked against
 * every relay's latest (not when a relay went down: that is no change of
 * policy, and the connector checks each flow anyway). */
static void push_catalog(struct agent *a, int recheck)
{
	struct zt_addr relays[ZT_MAX_RELAYS];
	struct zt_catalog_entry *all;
	size_t n, cap = 0;

	for (size_t i = 0; i < a->n_links; i++)
		cap += a->n_catalog[i];
	all = cap ? malloc(cap * sizeof(*all)) : NULL;
	if (cap && !all)
		return;
	n = live_catalog(a, all);
	zt_aflows_set_catalog(&a->af, all, n);
	n = routed_catalog(a, all);
	if (recheck)
		zt_aflows_recheck(&a->af, all, n);
	zt_aflows_set_routes(&a->af, all, n, relays, relay_addrs(a, relays));
	free(all);
}

/* Does relay i's catalog list the connector? Then it can relay to it. */
static int lists_connector(void *user, size_t i, const char *connector)
{
	struct agent *a = user;

	for (size_t j = 0; i < a->n_links && !a->stale[i] && j < a->n_catalog[i];
	     j++)
		if (strcmp(a->catalog[i][j].connector, connector) == 0)
			return 1;
	return 0;
}

static void settle_cb(uv_timer_t *t)
{
	push_catalog(t->data, 1);
}

static int agent_msg(struct zt_relaylink *l, const struct zt_ctrl_msg *m)
{
	struct agent *a = l->d->role;
	size_t i = link_index(a, l);
	struct zt_catalog_entry *copy = NULL;

	if (m->type == ZT_CTRL_SESSION_READY ||
	    m->type == ZT_CTRL_SESSION_CLOSE ||
	    m->type == ZT_CTRL_SESSION_CANDIDATES)
		return zt_arelay_message(&a->relay, i, m);
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
	a->stale[i] = 0;
	log_info("relay %s:%u: catalog with %zu service(s)", l->relay.host,
		 l->relay.port, m->u.catalog.n);
	if (i < a->n_links && a->fresh[i]) {
		a->fresh[i] = 0;
		push_catalog(a, 0);
		if (a->settle_on)
			uv_timer_start(&a->settle, settle_cb, SETTLE_MS, 0);
	} else {
		push_catalog(a, 1);
	}
	zt_aflows_relay_standby(&a->af);
	return 0;
}

static void agent_down(struct zt_relaylink *l)
{
	struct agent *a = l->d->role;
	size_t i = link_index(a, l);

	/* Another relay may still carry the same services: keep what it
	 * told us, drop only this relay's view. */
	if (i == a->n_links)
		return;
	zt_arelay_link_down(&a->relay, i);
	if (!l->d->cfg.tun_fail_open) {
		if (a->n_catalog[i] && !a->stale[i] && !l->d->stopping)
			log_info("relay %s:%u: down; routes of its %zu service(s) "
				 "kept, flows refused until it is back",
				 l->relay.host, l->relay.port, a->n_catalog[i]);
		a->stale[i] = 1;
	} else {
		free(a->catalog[i]);
		a->catalog[i] = NULL;
		a->n_catalog[i] = 0;
	}
	push_catalog(a, 0);
}

static void agent_up(struct zt_relaylink *l)
{
	struct agent *a = l->d->role;
	size_t i = link_index(a, l);

	if (i < a->n_links)
		a->fresh[i] = 1;
}

static void agent_datagram(struct zt_relaylink *l, const uint8_t *data,
			   size_t len)
{
	struct agent *a = l->d->role;

	zt_arelay_datagram(&a->relay, link_index(a, l), data, len);
}

static const struct zt_relaylink_ops agent_link_ops = {
	.up = agent_up,
	.message = agent_msg,
	.down = agent_down,
	.datagram = agent_datagram,
};

static int agent_start(struct zt_daemon *d)
{
	struct agent *a = calloc(1, sizeof(*a));
	int rv;

	if (!a)
		return ZT_ENOMEM;
	d->role = a;
	uv_timer_init(d->env.loop, &a->settle);
	a->settle.data = a;
	a->settle_on = 1;
	if ((rv = zt_portmap_init(&a->pm, d->env.loop)) != 0)
		return rv;
	a->pm_on = 1;
	/* Before the relayed sessions: they offer the mapping. */
	zt_portmap_start(&a->pm, d);
	if ((rv = zt_aflows_start(&a->af, &d->env, &d->cfg)) != 0)
		return rv;
	a->n_links = d->cfg.n_relays;
	for (size_t i = 0; i < a->n_links; i++) {
		a->links[i] = zt_relaylink_new(d, &d->cfg.relays[i],
					       &agent_link_ops);
		if (!a->links[i])
			return ZT_ENOMEM;
	}
	zt_arelay_init(&a->relay, &a->af, &d->env, a->links, a->n_links,
		       lists_connector, a);
	zt_aroam_init(&a->roam, &a->af, &a->relay, a->links, a->n_links);
	for (size_t i = 0; i < a->n_links; i++)
		zt_relaylink_start(a->links[i]);
	return 0;
}

static void agent_stop(struct zt_daemon *d)
{
	struct agent *a = d->role;

	if (!a)
		return;
	for (size_t i = 0; i < a->n_links; i++) {
		if (a->links[i])
			zt_relaylink_stop(a->links[i]);
		free(a->catalog[i]);
		a->catalog[i] = NULL;
		a->n_catalog[i] = 0;
	}
	zt_aroam_stop(&a->roam);
	zt_arelay_stop(&a->relay);
	zt_aflows_stop(&a->af);
	if (a->pm_on)
		zt_portmap_stop(&a->pm);
	if (a->settle_on) {
		a->settle_on = 0;
		uv_close((uv_handle_t *)&a->settle, NULL);
	}
	/* Freed in destroy: libuv still owns handles inside. */
}

static void agent_destroy(struct zt_daemon *d)
{
	struct agent *a = d->role;

	if (a)
		zt_arelay_free(&a->relay);
	if (a && a->pm_on)
		zt_portmap_free(&a->pm);
	free(d->role);
	d->role = NULL;
}

/* Has an earlier live relay already listed this service from this
 * connector? */
static int seen_before(struct agent *a, size_t li, size_t ei)
{
	const struct zt_catalog_entry *e = &a->catalog[li][ei];

	for (size_t i = 0; i <= li; i++) {
		size_t end = a->stale[i] ? 0 : i == li ? ei : a->n_catalog[i];

		for (size_t j = 0; j < end; j++) {
			const struct zt_catalog_entry *o = &a->catalog[i][j];

			if (!strcmp(o->svc.name, e->svc.name) &&
			    !strcmp(o->connector, e->connector))
				return 1;
		}
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
		for (size_t j = 0; !a->stale[i] && j < a->n_catalog[i]; j++) {
			const struct zt_catalog_entry *e = &a->catalog[i][j];

			char why[200];
			int refused;

			if (seen_before(a, i, j))
				continue;
			refused = zt_aflows_entry_refused(&a->af, e, why,
							  sizeof(why));
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
				zt_sb_printf(b, "]");
				if (refused) {
					zt_sb_printf(b, ",\"refused\":");
					zt_sb_json_str(b, why);
				}
				zt_sb_printf(b, "}");
			} else {
				zt_sb_printf(b, "  ");
				zt_status_service(b, &e->svc, 0);
				zt_sb_printf(b, "  via %s%s%s\n", e->connector,
					     refused ? "  REFUSED: " : "",
					     refused ? why : "");
			}
			first = 0;
		}
	}
	zt_sb_printf(b, json ? "]" : "");
	zt_aflows_status(&a->af, b, json);
	zt_sb_printf(b, json ? "," : "");
	zt_portmap_status(&a->pm, b, json);
	zt_sb_printf(b, json ? "}\n" : "");
}

const struct zt_role_ops zt_agent_ops = {
	.name = "agent",
	.role = ZT_ROLE_AGENT,
	.accept_roles = 0,
	.start = agent_start,
	.stop = agent_stop,
	.destroy = agent_destroy,
	.status = agent_status,
};
