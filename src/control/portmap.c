/* Port mapping: timers, backends, status (portmap.h). */
#include "portmap.h"

#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "err.h"
#include "log.h"

static void arm(struct zt_portmap *pm);

static void act(struct zt_portmap *pm, int what)
{
	const struct zt_pmap *m = &pm->m;
	const struct zt_pmback_ops *o = pm->back[m->backend];
	const struct zt_addr *now_mapped = zt_pmap_mapped(m);
	char s[64];

	if (what == ZT_PMAP_DO_REQUEST)
		o->request(pm, m->seq, m->port,
			   m->ext.port ? m->ext.port : m->port,
			   ZT_PMAP_LEASE_S);
	else if (what == ZT_PMAP_DO_REMOVE)
		o->remove(pm, m->port, m->ext.port);
	/* One log line per change of the mapping. */
	if (now_mapped && !zt_addr_equal(now_mapped, &pm->mapped))
		log_info("port mapping: %s via %s, lease %u s",
			 zt_addr_str(now_mapped, s, sizeof(s)), o->name,
			 m->lease_s);
	else if (!now_mapped && pm->mapped.family &&
		 m->state == ZT_PMAP_STOPPED)
		log_info("port mapping: removing %s (%s)",
			 zt_addr_str(&pm->mapped, s, sizeof(s)), o->name);
	else if (!now_mapped && pm->mapped.family)
		log_info("port mapping: %s no longer mapped%s%s",
			 zt_addr_str(&pm->mapped, s, sizeof(s)),
			 m->why[0] ? ": " : "", m->why);
	if (now_mapped)
		pm->mapped = *now_mapped;
	else
		memset(&pm->mapped, 0, sizeof(pm->mapped));
	if (m->state == ZT_PMAP_FAILED && what == ZT_PMAP_DO_NONE &&
	    m->fails == 1)
		log_info("port mapping: none (%s), trying again later", m->why);
	arm(pm);
}

static void timer_cb(uv_timer_t *t)
{
	struct zt_portmap *pm = t->data;

	act(pm, zt_pmap_tick(&pm->m, zt_now()));
}

static void arm(struct zt_portmap *pm)
{
	uint64_t now = zt_now(), d = pm->m.deadline;

	if (pm->closed)
		return;
	if (d == 0) {
		uv_timer_stop(&pm->timer);
		return;
	}
	/* Rounded up: the machine does nothing before its deadline. */
	uv_timer_start(&pm->timer, timer_cb,
		       d > now ? (d - now + 999999) / 1000000 : 0, 0);
}

void zt_portmap_answer(struct zt_portmap *pm, uint32_t seq,
		       const struct zt_pmap_answer *a)
{
	if (pm->closed)
		return;
	act(pm, zt_pmap_answer(&pm->m, seq, a, zt_now()));
}

int zt_portmap_init(struct zt_portmap *pm, uv_loop_t *loop)
{
	int rv = 0;

	memset(pm, 0, sizeof(*pm));
	pm->loop = loop;
	/* PCP first: portmap_pcp.c says why. */
	pm->back[0] = &zt_pm_pcp_ops;
	pm->back[1] = &zt_pm_natpmp_ops;
	pm->back[2] = &zt_pm_upnp_ops;
	pm->n_back = 3;
	for (unsigned i = 0; i < pm->n_back && rv == 0; i++)
		rv = pm->back[i]->init(pm);
	if (rv != 0)
		goto out;
	uv_timer_init(loop, &pm->timer);
	pm->timer.data = pm;
out:
	if (rv != 0)
		for (unsigned i = 0; i < pm->n_back; i++)
			pm->back[i]->free(pm);
	return rv;
}

void zt_portmap_start(struct zt_portmap *pm, struct zt_daemon *d)
{
	uint32_t wait[ZT_PMAP_MAX_BACKENDS];
	struct zt_addr local;

	d->env.mapped = &pm->mapped;
	if (d->cfg.portmap != ZT_PORTMAP_AUTO || !d->net.has_udp)
		return;
	zt_netio_local(&d->net, &local);
	if (local.family != AF_INET) {
		log_info("port mapping: not on an IPv6 socket");
		return;
	}
	for (unsigned i = 0; i < pm->n_back; i++)
		wait[i] = pm->back[i]->wait_ms;
	zt_pmap_init(&pm->m, local.port, pm->n_back, wait);
	pm->started = 1;
	act(pm, zt_pmap_start(&pm->m, zt_now()));
}

void zt_portmap_stop(struct zt_portmap *pm)
{
	if (pm->closed)
		return;
	if (pm->started)
		act(pm, zt_pmap_stop(&pm->m));
	pm->closed = 1;
	uv_close((uv_handle_t *)&pm->timer, NULL);
	for (unsigned i = 0; i < pm->n_back; i++)
		pm->back[i]->close(pm);
}

void zt_portmap_free(struct zt_portmap *pm)
{
	for (unsigned i = 0; i < pm->n_back; i++)
		pm->back[i]->free(pm);
}

const char *zt_portmap_proto(const struct zt_portmap *pm)
{
	return pm->back[pm->m.backend]->name;
}

void zt_portmap_status(const struct zt_portmap *pm, struct zt_sb *b, int json)
{
	const struct zt_pmap *m = &pm->m;
	const struct zt_addr *a = zt_pmap_mapped(m);
	uint64_t now = zt_now();
	uint64_t left = a && m->lease_end > now ?
				(m->lease_end - now) / 1000000000u :
				0;
	uint64_t next = m->deadline > now ? (m->deadline - now) / 1000000000u :
					    0;
	char s[64] = "";

	if (a)
		zt_addr_str(a, s, sizeof(s));
	if (json) {
		zt_sb_printf(b, "\"portmap\":{\"state\":\"%s\"",
			     pm->started ? zt_pmap_state_name(m->state) :
					   "off");
		if (a)
			zt_sb_printf(b,
				     ",\"external\":\"%s\",\"protocol\":\"%s\","
				     "\"lease\":%u,\"lease_left\":%llu",
				     s, zt_portmap_proto(pm), m->lease_s,
				     (unsigned long long)left);
		zt_sb_printf(b, ",\"mappings\":%u,\"why\":", m->mapped_count);
		zt_sb_json_str(b, m->why);
		zt_sb_printf(b, "}");
		return;
	}
	if (!pm->started)
		zt_sb_printf(b, "port mapping: off\n");
	else if (a)
		zt_sb_printf(b,
			     "port mapping: %s %s via %s, lease %u s, %llu s "
			     "left\n",
			     zt_pmap_state_name(m->state), s,
			     zt_portmap_proto(pm), m->lease_s,
			     (unsigned long long)left);
	else if (m->state == ZT_PMAP_FAILED)
		zt_sb_printf(b, "port mapping: failed (%s), again in %llu s\n",
			     m->why, (unsigned long long)next);
	else
		zt_sb_printf(b, "port mapping: %s (%s)\n",
			     zt_pmap_state_name(m->state),
			     zt_portmap_proto(pm));
}
