/* What a peer tells the other side of its relayed sessions about itself
 * (SESSION_OPEN, _ACCEPT, _CANDIDATES; docs/PROTOCOL.md, "Relayed
 * sessions"): where the relays see it, its interface addresses, and the
 * kind of NAT those observations imply. Recomputed every few seconds, and
 * sent again to every session when it changes. */
#ifndef ZT_CANDS_H
#define ZT_CANDS_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl.h"
#include "relaylink.h"

struct zt_cands {
	struct zt_addr a[ZT_MAX_ADDRS];
	size_t n;
	uint8_t nat;    /* enum zt_nat_kind, as the relays observe us */
	uint8_t mapped; /* one is a port mapping on our gateway */
};

/* Ours now: where each relay that is up sees us (each address once), the
 * port mapping our gateway holds (env->mapped), then our interface
 * addresses with the socket's port, but none that skip (may be NULL) says
 * to leave out. */
void zt_cands_ours(const struct zt_env *env, struct zt_relaylink *const *links,
		   size_t n_links, int (*skip)(void *, const struct zt_addr *),
		   void *user, struct zt_cands *out);
int zt_cands_equal(const struct zt_cands *x, const struct zt_cands *y);
/* Can probes reach us only from where we sent to? Behind an
 * endpoint-dependent NAT, unless a port mapping is offered: that one is
 * endpoint-independent. */
int zt_cands_hard(const struct zt_cands *c);
/* Into a session message: the NAT kind sent is endpoint-independent when
 * a port mapping is offered (docs/PROTOCOL.md, "NAT kind"). */
void zt_cands_put(const struct zt_cands *c, struct zt_ctrl_sess *m);
/* SESSION_CANDIDATES for session on link l, when the link is up and
 * speaks version 3 (a version 2 relay has no such message: the other side
 * then probes on its own timer). */
void zt_cands_send(struct zt_relaylink *l, uint32_t session,
		   const struct zt_cands *c);
/* "10.0.0.2:4433, 192.168.1.2:4433 (endpoint-dependent NAT)", for logs. */
const char *zt_cands_str(const struct zt_cands *c, char *buf, size_t n);

#endif
