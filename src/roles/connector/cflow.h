/* Connector data plane: agent sessions and their flows (cflow.c,
 * cflow_tcp.c, cflow_dgram.c; internals in cflow_int.h). */
#ifndef ZT_CFLOW_H
#define ZT_CFLOW_H

#include <uv.h>

#include "buf.h"
#include "config.h"
#include "quic.h"

struct csession;
struct zt_tconn_ops;

struct zt_cflows {
	uv_loop_t *loop;
	const struct zt_tconn_ops *targets; /* how targets are reached */
	void *targets_user;
	const struct zt_config *cfg; /* services; follows reloads */
	struct csession *sessions;
	size_t max_flows;            /* per agent session */
	size_t max_sessions;         /* per agent identity (name) */
	uint64_t sessions_refused;   /* over max_sessions */
	uint64_t hdr_timeouts;       /* flows reset for want of a header */
	uint8_t dgbuf[65536 + 8];    /* a datagram with its flow id */
	uv_timer_t sweep;
};

#define ZT_UDP_IDLE_NS (60ULL * 1000000000ULL)

/* targets NULL: libuv sockets (zt_tconn_uv_ops); targets_user goes to
 * its dial. */
void zt_cflows_init(struct zt_cflows *cf, uv_loop_t *loop,
		    const struct zt_config *cfg,
		    const struct zt_tconn_ops *targets, void *targets_user);
void zt_cflows_stop(struct zt_cflows *cf);
/* An agent's connection is up: it becomes a session, and its events go
 * to the session from now on. */
void zt_cflows_session_new(struct zt_cflows *cf, struct zt_qconn *c);
void zt_cflows_sweep(struct zt_cflows *cf, uint64_t now);
/* After a reload (cf->cfg holds the new services): flows the new
 * configuration would refuse are reset and logged. */
void zt_cflows_recheck(struct zt_cflows *cf);
void zt_cflows_status(struct zt_cflows *cf, struct zt_sb *b, int json);

#endif
