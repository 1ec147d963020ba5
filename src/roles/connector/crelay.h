/* The connector's side of relayed sessions (docs/ARCHITECTURE.md,
 * "Relayed sessions"): it takes the sessions its relays offer (agents
 * behind NATs reach it through them), and feeds their packets to its
 * endpoint on one relayed path per relay link. The inner session is the
 * same mutually authenticated QUIC session as a direct one, and every flow
 * on it is checked the same way (cflow.c). */
#ifndef ZT_CRELAY_H
#define ZT_CRELAY_H

#include "buf.h"
#include "cands.h"
#include "ctrl.h"
#include "pdrive.h"
#include "rpath.h"
#include "u32map.h"

#define ZT_CRELAY_MAX 1024 /* relayed sessions at once */

struct crelay_sess;

struct zt_crelay {
	const struct zt_env *env;
	struct zt_relaylink *const *links;
	size_t n_links;
	struct zt_rpath paths[ZT_MAX_RELAYS]; /* one per link, never freed
					       * before the endpoint */
	struct zt_rinq inq;
	struct zt_pdrive pd; /* hole punching on the UDP socket */
	uv_timer_t rounds;   /* our candidates checked, agents probed again */
	struct zt_cands cands; /* ours, as last told */
	struct crelay_sess *sess;
	struct zt_u32map ids[ZT_MAX_RELAYS]; /* per link: session id -> sess */
	size_t n;
	uint64_t offers, refused, packets, unknown;
	uint64_t fast_until; /* candidates checked often until then */
	int on;
};

void zt_crelay_init(struct zt_crelay *cr, const struct zt_env *env,
		    struct zt_relaylink *const *links, size_t n_links);
void zt_crelay_stop(struct zt_crelay *cr);
/* Our network changed: candidates are checked at once and every 200 ms
 * for for_ns (the relays' new view of us comes a round trip later), and
 * sent to every session's agent when they differ. */
void zt_crelay_check_now(struct zt_crelay *cr, uint64_t for_ns);
/* A session message from link i: 0, or a ZT_APP_* code to close with. */
int zt_crelay_message(struct zt_crelay *cr, size_t i,
		      const struct zt_ctrl_msg *m);
void zt_crelay_datagram(struct zt_crelay *cr, size_t i, const uint8_t *data,
			size_t len);
/* Link i went down: the relay ended its sessions. */
void zt_crelay_link_down(struct zt_crelay *cr, size_t i);
void zt_crelay_status(const struct zt_crelay *cr, struct zt_sb *b, int json);

#endif
