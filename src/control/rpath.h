/* Relayed paths (docs/ARCHITECTURE.md, "Relayed sessions"): an inner
 * agent<->connector QUIC connection whose packets travel as DATAGRAMs of a
 * relay link (docs/PROTOCOL.md, "Relayed datagrams").
 *
 * ngtcp2 tells paths apart by their addresses, refuses a migration to the
 * local address in use and drops packets from paths it does not know, so
 * every relayed path gets synthetic addresses of its own in the ULA prefix
 * fd7a:7a7a:7a7a::/48 (never on the wire):
 *
 *   fd7a:7a7a:7a7a:KKLL:SSSS:SSSS:GG00:0 port 1
 *
 * K kind (1 the agent's local end of a path, 2 the connector's local end,
 * one per link, 3 the remote end), L the relay link's index, S the session,
 * G the generation. The agent has one path per (link, session,
 * generation); the connector one per link, reading the session and
 * generation from the remote address.
 *
 * A zt_rpath is referenced from ngtcp2's path history after a connection
 * moved away from it: it must outlive every connection that used it. */
#ifndef ZT_RPATH_H
#define ZT_RPATH_H

#include <uv.h>

#include "path.h"
#include "relaylink.h"

enum {
	ZT_RPATH_AGENT = 1,
	ZT_RPATH_CONNECTOR = 2,
	ZT_RPATH_PEER = 3,
};

void zt_rpath_addr(struct sockaddr_storage *ss, socklen_t *len, unsigned kind,
		   unsigned link, uint32_t session, uint8_t gen);
/* 0 with the parts, or ZT_EINVAL when sa is not a synthetic address. */
int zt_rpath_parse(const struct sockaddr *sa, socklen_t len, unsigned *kind,
		   unsigned *link, uint32_t *session, uint8_t *gen);
/* Prints "relay<link>#<session>/<gen>" for a synthetic address. */
const char *zt_rpath_str(const struct sockaddr *sa, socklen_t len, char *buf,
			 size_t cap);

struct zt_rpath {
	struct zt_pathio pio; /* pio.user is this */
	struct zt_relaylink *link;
	unsigned link_idx;
	uint32_t session; /* 0: from the remote address (connector) */
	uint8_t gen;
	uint64_t sent, dropped;
};

/* kind ZT_RPATH_AGENT with a session and generation, or
 * ZT_RPATH_CONNECTOR with session 0. */
void zt_rpath_init(struct zt_rpath *p, struct zt_relaylink *l,
		   unsigned link_idx, unsigned kind, uint32_t session,
		   uint8_t gen);

/* Relayed packets arrive inside a link connection's DATAGRAM callback,
 * that is inside zt_ep_recv of the same endpoint: they wait here and go
 * to the endpoint on the next loop turn. Bounded: beyond the limit they are
 * dropped, as a full socket buffer would. */
struct zt_rinq_slot;
struct zt_rinq {
	const struct zt_env *env;
	uv_idle_t idle;
	int on;
	struct zt_rinq_slot *ring; /* a fixed ring, allocated at init */
	size_t head, n;
	uint64_t dropped;
};

/* Out of memory, the queue drops every packet (counted). */
void zt_rinq_init(struct zt_rinq *q, const struct zt_env *env);
void zt_rinq_push(struct zt_rinq *q, struct zt_pathio *pio,
		  const struct sockaddr *remote, socklen_t remote_len,
		  const uint8_t *data, size_t len);
/* This host's candidates for a direct path: its interface addresses of
 * the socket's family (not loopback, link-local or unspecified) with the
 * socket's port. Returns how many went into out. */
size_t zt_rpath_local_candidates(const struct zt_env *env, struct zt_addr *out,
				 size_t cap);

/* Drops what waits and closes the handle (the loop must run once more). */
void zt_rinq_close(struct zt_rinq *q);

#endif
