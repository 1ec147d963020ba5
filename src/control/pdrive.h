/* Drives the hole punching of a peer's relayed sessions (path/punch.c) on
 * its UDP socket: sends the probes each session's schedule asks for,
 * takes probes off the socket (netio hands them over by their first
 * byte), answers PINGs and reports answered candidates to the session's
 * owner. One per process role. */
#ifndef ZT_PDRIVE_H
#define ZT_PDRIVE_H

#include <uv.h>

#include "punch.h"

struct zt_env;
struct zt_pdrive_ent;

struct zt_pdrive {
	const struct zt_env *env;
	uv_timer_t timer;
	int on;
	struct zt_pdrive_ent *list;
	uint64_t sent, unknown; /* probes sent; for no session of ours */
	/* All sessions together send at most this many probes per second:
	 * a relay, which hands out the candidates, must not be able to turn
	 * us into a source of traffic towards addresses of its choosing. */
	double tokens;
	uint64_t tokens_at;
	uint64_t over; /* probes not sent: over the budget */
	/* Addresses we may talk to (NULL: all): the agent refuses its own
	 * tunnel's, where a probe or its answer would loop back in. */
	int (*allowed)(void *user, const struct zt_addr *a);
	void *allowed_user;
};

#define ZT_PDRIVE_RATE 200 /* probes per second, and the burst */

void zt_pdrive_init(struct zt_pdrive *d, const struct zt_env *env);
void zt_pdrive_stop(struct zt_pdrive *d);
/* p stays the caller's; answer (may be NULL) hears of each PONG. */
int zt_pdrive_add(struct zt_pdrive *d, struct zt_punch *p,
		  void (*answer)(void *owner, struct zt_punch *p, size_t which),
		  void *owner);
void zt_pdrive_remove(struct zt_pdrive *d, struct zt_punch *p);
/* After zt_punch_round or zt_punch_add: probes may be due now. */
void zt_pdrive_kick(struct zt_pdrive *d);

#endif
