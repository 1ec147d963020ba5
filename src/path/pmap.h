/* Port mapping, the decisions only (pure: now in, an action and a deadline
 * out). A client asks the gateway to forward a public port to our UDP
 * socket with one backend after another (PCP, NAT-PMP, then UPnP-IGD), renews
 * before the lease ends, backs off after failures and removes the mapping
 * when it stops. What the gateway says is checked before it is believed:
 * an external port 0, a lease too short, an address that is not public
 * count as failures; an accepted mapping is still only a candidate, used
 * once a probe through it is answered (punch.c). The I/O is
 * control/portmap.c. */
#ifndef ZT_PMAP_H
#define ZT_PMAP_H

#include <stdint.h>

#include "types.h"

#define ZT_PMAP_MAX_BACKENDS 4
#define ZT_PMAP_LEASE_S 3600u   /* asked for */
#define ZT_PMAP_MIN_LEASE_S 10u /* shorter is treated as a refusal */
/* Renew at half the lease, and at least this often: a gateway that
 * rebooted and forgot us is noticed within it. */
#define ZT_PMAP_RENEW_MAX_S 1800u
/* A failed round (every backend) waits 10 s, doubling, up to 10 min. */
#define ZT_PMAP_BACKOFF_MIN_S 10u
#define ZT_PMAP_BACKOFF_MAX_S 600u

enum zt_pmap_state {
	ZT_PMAP_IDLE = 0,    /* not started, or [nat] portmap = off */
	ZT_PMAP_DISCOVERING, /* asking backend `backend`, no mapping held */
	ZT_PMAP_MAPPED,      /* holding one, renewal due at `deadline` */
	ZT_PMAP_RENEWING,    /* holding one, asking again */
	ZT_PMAP_FAILED,      /* every backend failed: again at `deadline` */
	ZT_PMAP_STOPPED,
};

enum zt_pmap_do {
	ZT_PMAP_DO_NONE = 0,
	ZT_PMAP_DO_REQUEST, /* ask backend `backend` (request `seq`) to map
			       `port` for ZT_PMAP_LEASE_S */
	ZT_PMAP_DO_REMOVE,  /* remove what backend `backend` may hold */
};

/* What a backend heard back for request seq. */
struct zt_pmap_answer {
	int ok;
	struct zt_addr ext; /* the external address and port */
	uint32_t lease_s;
	const char *why; /* when !ok */
};

struct zt_pmap {
	int state;
	unsigned backend, n_backends;
	uint32_t wait_ms[ZT_PMAP_MAX_BACKENDS]; /* answer timeout per backend */
	uint32_t seq;                           /* of the request in flight */
	uint16_t port;                          /* ours, internal */
	struct zt_addr ext;                     /* MAPPED, RENEWING */
	uint32_t lease_s;
	uint64_t granted_at, lease_end, deadline; /* ns; deadline 0: none */
	unsigned fails;                           /* failed rounds in a row */
	unsigned mapped_count;
	char why[160]; /* the last failure */
};

void zt_pmap_init(struct zt_pmap *m, uint16_t port, unsigned n_backends,
		  const uint32_t *wait_ms);
int zt_pmap_start(struct zt_pmap *m, uint64_t now);
/* A backend's answer; a stale seq is ignored. Returns the next action. */
int zt_pmap_answer(struct zt_pmap *m, uint32_t seq,
		   const struct zt_pmap_answer *a, uint64_t now);
/* Call at m->deadline (earlier calls do nothing). */
int zt_pmap_tick(struct zt_pmap *m, uint64_t now);
int zt_pmap_stop(struct zt_pmap *m);
/* The mapped address while one is held, else NULL. */
const struct zt_addr *zt_pmap_mapped(const struct zt_pmap *m);
const char *zt_pmap_state_name(int state);
/* Could hosts on the Internet reach this address? Not a private,
 * shared (100.64/10) or unique-local one: a gateway behind another NAT
 * reports those. */
int zt_pmap_public(const struct zt_addr *a);

#endif
