/* A connector whose network changes (docs/ARCHITECTURE.md, "Relayed
 * sessions and hole punching", Roaming): every relay link sends a PING at
 * once, so the relay follows to our new address and tells us where it
 * sees us, and our candidates are checked at once and often for a while,
 * so agents learn the new ones and punch again. Sessions are not pinged:
 * we are their QUIC server, and a client drops packets from an address
 * it does not know; the agent falls back to the relay and punches. */
#ifndef ZT_CROAM_H
#define ZT_CROAM_H

#include "crelay.h"
#include "netwatch.h"

struct zt_croam {
	struct zt_netwatch w;
	struct zt_crelay *cr;
	struct zt_relaylink *const *links;
	size_t n_links;
};

/* Watches the network of a daemon on a real socket; a failure is logged
 * and leaves the 2 s candidate poll to notice changes. */
void zt_croam_init(struct zt_croam *r, const struct zt_env *env,
		   struct zt_crelay *cr, struct zt_relaylink *const *links,
		   size_t n_links);
/* Before the loop's last run. */
void zt_croam_stop(struct zt_croam *r);

#endif
