/* Port mapping on the gateway (`[nat] portmap`, docs/ARCHITECTURE.md,
 * "Port mapping"): the I/O around the decisions of path/pmap.c. The
 * daemon's UDP port is mapped with PCP (our own codec, wire/pcp.c, on a
 * uv_udp socket), NAT-PMP (libnatpmp: its socket is polled on the loop) or UPnP-IGD (miniupnpc, whose calls block: they run
 * on libuv's thread pool, a job owning everything it touches, and the
 * answer is handed back on the loop thread). The mapped address is only a
 * candidate for hole punching (cands.c): a peer uses it once a probe
 * through it is answered. */
#ifndef ZT_PORTMAP_H
#define ZT_PORTMAP_H

#include <uv.h>

#include "buf.h"
#include "pmap.h"

struct zt_portmap;
struct zt_daemon;

/* A backend (portmap_pcp.c, portmap_natpmp.c, portmap_upnp.c). */
struct zt_pmback_ops {
	const char *name; /* "pcp", "natpmp", "upnp": status, logs */
	uint32_t wait_ms; /* how long an answer may take */
	int (*init)(struct zt_portmap *pm);
	/* Ask to map UDP port (external port want_ext, 0: any) for lease_s.
	 * The answer comes later, on the loop thread, as
	 * zt_portmap_answer(pm, seq, ...); a request replaces the one in
	 * flight. */
	void (*request)(struct zt_portmap *pm, uint32_t seq, uint16_t port,
			uint16_t want_ext, uint32_t lease_s);
	/* Remove the mapping of port (external ext_port, 0: unknown); no
	 * answer is awaited. */
	void (*remove)(struct zt_portmap *pm, uint16_t port, uint16_t ext_port);
	/* Close the handles (the loop runs on until they are closed, and
	 * until a job on the thread pool is done); free after the loop. */
	void (*close)(struct zt_portmap *pm);
	void (*free)(struct zt_portmap *pm);
};

extern const struct zt_pmback_ops zt_pm_pcp_ops;
extern const struct zt_pmback_ops zt_pm_natpmp_ops;
extern const struct zt_pmback_ops zt_pm_upnp_ops;

struct zt_portmap {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct zt_pmap m;
	const struct zt_pmback_ops *back[3]; /* PCP, NAT-PMP, UPnP-IGD */
	unsigned n_back;
	int started, closed;
	/* What candidates read (struct zt_env.mapped): the mapped address,
	 * family 0 while none is held. */
	struct zt_addr mapped;
	struct pm_pcp *pcp; /* the backends' own state */
	struct pm_natpmp *np;
	struct pm_upnp *up;
};

/* The backends, not started. Returns 0 or ZT_ENOMEM / ZT_EIO. */
int zt_portmap_init(struct zt_portmap *pm, uv_loop_t *loop);
/* Maps the daemon's UDP socket when [nat] portmap = auto (a daemon on a
 * path of its caller's, an in-process test, has none), and hooks the
 * mapping into d->env.mapped for the candidates. */
void zt_portmap_start(struct zt_portmap *pm, struct zt_daemon *d);
/* Removes the mapping and closes the handles. */
void zt_portmap_stop(struct zt_portmap *pm);
/* After the loop ended. */
void zt_portmap_free(struct zt_portmap *pm);
/* "port mapping: ..." (text: one line; JSON: `"portmap":{...}`). */
void zt_portmap_status(const struct zt_portmap *pm, struct zt_sb *b, int json);

/* For the backends: the answer to request seq. */
void zt_portmap_answer(struct zt_portmap *pm, uint32_t seq,
		       const struct zt_pmap_answer *a);
/* Our log lines say which backend. */
const char *zt_portmap_proto(const struct zt_portmap *pm);

#endif
