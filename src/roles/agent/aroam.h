/* Roaming (docs/ARCHITECTURE.md, "Relayed sessions and hole punching"):
 * when the network under the agent changes (an address, a link, the
 * default route), every relay link and session sends a PING at once, so
 * the relays and connectors see our new address now rather than at the
 * next keep-alive (they follow as QUIC servers do, validating the new
 * path); the relays tell us where they see us again, and our candidates
 * are checked at once and sent to every session, so punching runs again
 * towards the new address. */
#ifndef ZT_AROAM_H
#define ZT_AROAM_H

#include "aflow.h"
#include "arelay.h"
#include "netwatch.h"

struct zt_aroam {
	struct zt_netwatch w;
	struct zt_aflows *af;
	struct zt_arelay *ar;
	struct zt_relaylink *const *links;
	size_t n_links;
	uint64_t changes; /* network changes heard */
};

/* Watches the network of a daemon on a real socket (nothing to watch in
 * the in-process tests: their network is simulated). A failure is
 * logged and leaves the 2 s candidate poll to notice changes. */
void zt_aroam_init(struct zt_aroam *r, struct zt_aflows *af,
		   struct zt_arelay *ar, struct zt_relaylink *const *links,
		   size_t n_links);
/* Before the loop's last run. */
void zt_aroam_stop(struct zt_aroam *r);

#endif
