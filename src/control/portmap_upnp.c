/* The UPnP-IGD backend on miniupnpc, whose discovery (SSDP) and requests
 * (HTTP, SOAP) block: each runs as a job on libuv's thread pool. A job
 * owns what it touches (the gateway found before is moved into it and
 * back), and its answer is handed over on the loop thread; at most one
 * job runs at a time. */
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "portmap.h"

#define DISCOVER_MS 2000
/* Discovery, then up to four HTTP requests to the gateway. */
#define WAIT_MS 10000
#define DESC "ztnad"

struct pm_igd {
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lan[64]; /* our address towards it: the internal client */
};

enum { MAP, REMOVE };

struct up_job {
	uv_work_t w;
	struct zt_portmap *pm; /* read on the loop thread only */
	int kind;
	uint32_t seq, lease;
	uint16_t port, want;
	struct pm_igd *igd; /* moved in, and back out */
	/* MAP's answer */
	int ok;
	struct zt_addr ext;
	char why[128];
};

struct pm_upnp {
	struct pm_igd *igd;    /* NULL: none found yet, or in a job */
	struct up_job *queued; /* waits for the running job */
	int busy;
	int remove_after; /* stopped while a MAP ran: undo what it made */
};

static void free_igd(struct pm_igd *g)
{
	if (g) {
		FreeUPNPUrls(&g->urls);
		free(g);
	}
}

/* Thread pool: find the gateway. */
static struct pm_igd *discover(struct up_job *j)
{
	struct UPNPDev *devs;
	struct pm_igd *g;
	int err = 0, r;

	devs = upnpDiscover(DISCOVER_MS, NULL, NULL, 0, 0, 2, &err);
	if (!devs) {
		snprintf(j->why, sizeof(j->why),
			 "UPnP: no gateway answered in %d ms", DISCOVER_MS);
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	r = g ? UPNP_GetValidIGD(devs, &g->urls, &g->data, g->lan,
				 sizeof(g->lan)) :
		-1;
	freeUPNPDevlist(devs);
	if (r == 1)
		return g;
	snprintf(j->why, sizeof(j->why), "UPnP: %s",
		 r == 0 ? "no Internet gateway device" :
		 r == 2 ? "the gateway is not connected" :
		 r == 3 ? "a UPnP device, not a gateway" :
			  "out of memory");
	if (g && r != 0)
		FreeUPNPUrls(&g->urls);
	free(g);
	return NULL;
}

/* Thread pool: map, then read back what the gateway holds. */
static void map(struct up_job *j)
{
	struct pm_igd *g = j->igd;
	const char *ctl = g->urls.controlURL, *st = g->data.first.servicetype;
	char ip[40] = "", in[8], want[8], lease[16], got[8] = "";
	char c_ip[40], c_port[8], desc[80], en[8], left[16] = "";
	int r;

	snprintf(in, sizeof(in), "%u", j->port);
	snprintf(want, sizeof(want), "%u", j->want);
	snprintf(lease, sizeof(lease), "%u", j->lease);
	if ((r = UPNP_GetExternalIPAddress(ctl, st, ip)) != 0 ||
	    inet_pton(AF_INET, ip, j->ext.ip) != 1) {
		snprintf(j->why, sizeof(j->why),
			 "UPnP: no external address (%d)", r);
		goto stale;
	}
	j->ext.family = AF_INET;
	r = UPNP_AddPortMapping(ctl, st, want, in, g->lan, DESC, "UDP", NULL,
				lease);
	if (r == 0)
		snprintf(got, sizeof(got), "%s", want);
	else if (r == 718) /* ConflictInMappingEntry: another port */
		r = UPNP_AddAnyPortMapping(ctl, st, want, in, g->lan, DESC,
					   "UDP", NULL, lease, got);
	if (r != 0) {
		snprintf(j->why, sizeof(j->why), "UPnP: mapping refused: %s",
			 strupnperror(r));
		goto stale;
	}
	j->ext.port = (uint16_t)atoi(got);
	/* The lease and client the gateway says it holds, not what we
	 * asked. */
	r = UPNP_GetSpecificPortMappingEntry(ctl, st, got, "UDP", NULL, c_ip,
					     c_port, desc, en, left);
	if (r != 0 || strcmp(c_ip, g->lan) != 0 || atoi(c_port) != j->port) {
		snprintf(j->why, sizeof(j->why),
			 "UPnP: the gateway does not list the mapping it "
			 "granted");
		return;
	}
	j->lease = (uint32_t)strtoul(left, NULL, 10);
	j->ok = 1;
	return;
stale:
	/* Rediscover next time: the gateway may have changed. */
	if (r < 0) {
		free_igd(j->igd);
		j->igd = NULL;
	}
}

static void work_cb(uv_work_t *w)
{
	struct up_job *j = w->data;
	char ext[8];

	if (j->kind == REMOVE) {
		snprintf(ext, sizeof(ext), "%u", j->want);
		if (j->igd)
			UPNP_DeletePortMapping(j->igd->urls.controlURL,
					       j->igd->data.first.servicetype,
					       ext, "UDP", NULL);
		return;
	}
	if (!j->igd)
		j->igd = discover(j);
	if (j->igd)
		map(j);
}

static void submit(struct zt_portmap *pm, struct up_job *j);

static void after_cb(uv_work_t *w, int status)
{
	struct up_job *j = w->data;
	struct zt_portmap *pm = j->pm;
	struct pm_upnp *u = pm->up;
	struct zt_pmap_answer a = { .ok = j->ok,
				    .ext = j->ext,
				    .lease_s = j->lease,
				    .why = j->why };
	struct up_job *next = u->queued;

	u->busy = 0;
	u->igd = j->igd;
	u->queued = NULL;
	if (j->kind == MAP && u->remove_after && j->ok) {
		/* Stopped meanwhile: take back what this job made. */
		u->remove_after = 0;
		free(next);
		next = j;
		next->kind = REMOVE;
		next->want = j->ext.port;
		j = NULL;
	} else if (j->kind == MAP) {
		zt_portmap_answer(pm, j->seq, &a);
	}
	free(j);
	if (next)
		submit(pm, next);
}

static void submit(struct zt_portmap *pm, struct up_job *j)
{
	struct pm_upnp *u = pm->up;

	if (u->busy) {
		free(u->queued);
		u->queued = j;
		return;
	}
	j->igd = u->igd;
	u->igd = NULL;
	j->w.data = j;
	u->busy = 1;
	if (uv_queue_work(pm->loop, &j->w, work_cb, after_cb) != 0) {
		u->busy = 0;
		u->igd = j->igd;
		free(j);
	}
}

static struct up_job *job(struct zt_portmap *pm, int kind)
{
	struct up_job *j = calloc(1, sizeof(*j));

	if (j) {
		j->pm = pm;
		j->kind = kind;
	}
	return j;
}

static void request(struct zt_portmap *pm, uint32_t seq, uint16_t port,
		    uint16_t want_ext, uint32_t lease_s)
{
	struct up_job *j = job(pm, MAP);

	/* Out of memory: no answer, the machine times out. */
	if (!j)
		return;
	j->seq = seq;
	j->port = port;
	j->want = want_ext;
	j->lease = lease_s;
	submit(pm, j);
}

static void remove_map(struct zt_portmap *pm, uint16_t port, uint16_t ext_port)
{
	struct pm_upnp *u = pm->up;
	struct up_job *j;

	free(u->queued);
	u->queued = NULL;
	if (u->busy) {
		u->remove_after = 1;
		if (!ext_port)
			return;
	} else if (!u->igd) {
		return; /* never found a gateway: nothing to undo */
	}
	if (ext_port && (j = job(pm, REMOVE))) {
		j->want = ext_port;
		submit(pm, j);
	}
}

static int init(struct zt_portmap *pm)
{
	pm->up = calloc(1, sizeof(*pm->up));
	return pm->up ? 0 : ZT_ENOMEM;
}

static void close_up(struct zt_portmap *pm)
{
	/* No handle of its own: a job in flight keeps the loop running. */
}

static void free_up(struct zt_portmap *pm)
{
	if (pm->up) {
		free_igd(pm->up->igd);
		free(pm->up->queued);
	}
	free(pm->up);
	pm->up = NULL;
}

const struct zt_pmback_ops zt_pm_upnp_ops = {
	.name = "upnp",
	.wait_ms = WAIT_MS,
	.init = init,
	.request = request,
	.remove = remove_map,
	.close = close_up,
	.free = free_up,
};
