/* Agent data plane: packets from the packet source, policy (default deny),
 * the DNS stub for catalog hostnames, TCP flows terminated in lwIP and
 * carried as QUIC streams to the connector that serves them. */
#ifndef ZT_AFLOW_H
#define ZT_AFLOW_H

#include <uv.h>

#include "adns.h"
#include "aroutes.h"
#include "buf.h"
#include "ctrl.h"
#include "netstack.h"
#include "punch.h"
#include "quic.h"
#include "synth.h"
#include "pktsrc.h"

struct zt_env;
struct zt_config;
struct asession;
struct aflow;

#define ZT_AGENT_ADDR4 0x64400001u /* 100.64.0.1: the TUN address */
#define ZT_AGENT_DNS4 0x64400002u  /* 100.64.0.2: the DNS stub */

/* How the data plane asks for a path to a connector through a relay (the
 * agent role answers, arelay.c): open() sends the request, answered later
 * by zt_aflows_relay_ready() or zt_aflows_relay_failed() for *req;
 * close() says the request or path is no longer needed. open() returns 0,
 * or ZT_ENOTFOUND when no relay can (none up that lists the connector and
 * speaks control protocol 2). */
struct zt_relay_desc {
	char via[300];     /* "relay HOST:PORT #SESSION gen G" */
	char verdict[200]; /* why not direct, as punching sees it; "" */
	const struct zt_punch *punch; /* the connector's candidates; NULL */
	uint8_t nat_ours, nat_theirs; /* enum zt_nat_kind */
	int skipped;                  /* no probing: both NATs hard */
};

struct zt_aflows_relay {
	int (*open)(void *user, const char *connector, uint32_t *req);
	void (*close)(void *user, uint32_t req);
	/* A fresh relayed path (the next generation) for req's session, to
	 * move back to when the direct path dies. Returns 0 or ZT_E*. */
	int (*regen)(void *user, uint32_t req, struct zt_pathio **pio,
		     struct sockaddr_storage *remote, socklen_t *remote_len);
	/* Probe the connector's candidates again (a new punching round). */
	void (*repunch)(void *user, uint32_t req);
	/* What status shows of req's relayed path; 0 or ZT_ENOTFOUND. */
	int (*describe)(void *user, uint32_t req, struct zt_relay_desc *d);
	void *user;
};

struct zt_aflows {
	const struct zt_env *env;
	struct zt_netstack ns;
	struct zt_pktsrc src;
	uv_poll_t *poll;
	int poll_fd, poll_events;
	struct zt_synth *synth;
	struct asession *sessions;
	struct aflow **table; /* 4-tuple hash */
	size_t nbuckets, n_flows;
	struct zt_catalog_entry *catalog; /* merged from all relays */
	size_t n_catalog;
	uint64_t drops[8];    /* by zt_pkt_result */
	uint64_t denied;
	struct zt_srccheck srccheck;
	struct zt_aroutes routes;
	struct {
		uint8_t proto;
		struct zt_addr dst;
		uint64_t at;
	} denylog[64];
	unsigned denylog_next;
	uint8_t rbuf[65536];
	uint8_t wbuf[2048];
	uint8_t dgbuf[65536];
	uint8_t dgout[65536];
	uv_timer_t sweep;
	int sweep_on;
	/* Forwarding names outside the catalog to a real resolver. */
	struct zt_adns fwd;
	struct zt_aflows_relay relay; /* all NULL: direct paths only */
};

/* Opens the packet source (env's, else TUN or shim as cfg says) and lwIP;
 * cfg (the daemon's: it follows reloads) and env outlive af. */
int zt_aflows_start(struct zt_aflows *af, const struct zt_env *env,
		    const struct zt_config *cfg);
void zt_aflows_stop(struct zt_aflows *af);
/* A relayed path for request req is ready: the session's connection may
 * start on pio towards remote (via: where it goes, for logs). */
void zt_aflows_relay_ready(struct zt_aflows *af, uint32_t req,
			   struct zt_pathio *pio, const struct sockaddr *remote,
			   socklen_t remote_len, const char *via);
/* Does req's session run on its relayed path now (not direct)? */
int zt_aflows_relay_in_use(struct zt_aflows *af, uint32_t req);
/* The request, or the relayed path it gave, is over. */
void zt_aflows_relay_failed(struct zt_aflows *af, uint32_t req,
			    const char *why);
/* A candidate of req's connector answered our probes just now: the
 * session may move to that direct path. */
void zt_aflows_relay_direct(struct zt_aflows *af, uint32_t req,
			    const struct zt_addr *to, uint64_t rtt_ns);
/* Is this address inside our own tunnel (the synthetic range or a
 * catalog service's range)? Nothing of a session may be sent there. */
int zt_aflows_in_tunnel(const struct zt_aflows *af, const struct zt_addr *a);
/* Direct sessions that lost their relayed path ask for a new one (a
 * relay came back or listed their connector again). */
void zt_aflows_relay_standby(struct zt_aflows *af);
/* Every few hundred ms while relayed sessions exist: is each direct path
 * still alive? A silent one sends its session back to the relay. */
void zt_aflows_relay_tick(struct zt_aflows *af, uint64_t now);
/* 1 when the agent refused a relay's catalog entry itself: the
 * connector's certificate does not grant it (reason in why). */
int zt_aflows_entry_refused(struct zt_aflows *af,
			    const struct zt_catalog_entry *e, char *why,
			    size_t why_len);
/* The catalog changed: new policy (only these services are reachable). */
void zt_aflows_set_catalog(struct zt_aflows *af,
			   const struct zt_catalog_entry *e, size_t n);
/* A relay sent a new catalog: live flows that e (every relay's latest
 * word, a relay that is down included) no longer lists are reset. */
void zt_aflows_recheck(struct zt_aflows *af, const struct zt_catalog_entry *e,
		       size_t n);
/* The services whose CIDRs are routed into the tunnel (a superset of the
 * policy's while failing closed) and the relays' addresses, which no
 * route may cover (aroutes.h). */
void zt_aflows_set_routes(struct zt_aflows *af,
			  const struct zt_catalog_entry *e, size_t n,
			  const struct zt_addr *relays, size_t n_relays);
void zt_aflows_status(struct zt_aflows *af, struct zt_sb *b, int json);

#endif
