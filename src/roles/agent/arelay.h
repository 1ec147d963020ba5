/* The agent's side of relayed sessions (docs/ARCHITECTURE.md, "Relayed
 * sessions"): it asks a relay for a session to a connector (SESSION_OPEN),
 * and once the relay says READY gives the data plane a relayed path
 * (control/rpath.c) to start the session's connection on. It implements
 * struct zt_aflows_relay for the data plane. */
#ifndef ZT_ARELAY_H
#define ZT_ARELAY_H

#include "aflow.h"
#include "cands.h"
#include "pdrive.h"
#include "rpath.h"
#include "u32map.h"

struct arelay_req;
struct arelay_grave;

struct zt_arelay {
	struct zt_aflows *af;
	const struct zt_env *env;
	struct zt_relaylink *const *links;
	size_t n_links;
	/* Does link i's latest catalog list the connector? (agent.c) */
	int (*lists)(void *user, size_t link, const char *connector);
	void *user;
	struct arelay_req *reqs;
	struct zt_u32map ids[ZT_MAX_RELAYS]; /* per link: session -> ready req */
	struct arelay_grave *graves; /* paths a connection may still hold */
	struct zt_rinq inq;
	struct zt_pdrive pd; /* hole punching on the UDP socket */
	uv_timer_t timer;
	int on;
	uint32_t next_req;
	uint64_t opened, ready, failed;
	struct zt_cands cands; /* ours, as last told */
	uint64_t cands_at;
	uint64_t cands_fast_until; /* checked every tick until then */
};

void zt_arelay_init(struct zt_arelay *ar, struct zt_aflows *af,
		    const struct zt_env *env, struct zt_relaylink *const *links,
		    size_t n_links,
		    int (*lists)(void *user, size_t link,
				 const char *connector),
		    void *user);
/* Our network changed: candidates are checked at once and on every tick
 * for for_ns (what the relays see of us changes a round trip later), and
 * sent to every session when they differ. */
void zt_arelay_check_now(struct zt_arelay *ar, uint64_t for_ns);
/* Before the loop's last run; zt_arelay_free after it. */
void zt_arelay_stop(struct zt_arelay *ar);
void zt_arelay_free(struct zt_arelay *ar);
/* zt_aflows_relay */
int zt_arelay_open(void *ar, const char *connector, uint32_t *req);
void zt_arelay_close(void *ar, uint32_t req);
int zt_arelay_regen(void *ar, uint32_t req, struct zt_pathio **pio,
		    struct sockaddr_storage *remote, socklen_t *remote_len);
void zt_arelay_repunch(void *ar, uint32_t req);
int zt_arelay_describe(void *ar, uint32_t req, struct zt_relay_desc *d);
/* From link i: SESSION_READY / SESSION_CLOSE (0 or a ZT_APP_* code), a
 * relayed packet, the link going down. */
int zt_arelay_message(struct zt_arelay *ar, size_t i,
		      const struct zt_ctrl_msg *m);
void zt_arelay_datagram(struct zt_arelay *ar, size_t i, const uint8_t *data,
			size_t len);
void zt_arelay_link_down(struct zt_arelay *ar, size_t i);

#endif
