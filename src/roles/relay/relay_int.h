/* Internal to the relay role: its peers (one per authenticated agent or
 * connector connection) and its state, shared by relay.c (control stream,
 * registry, catalogs, status) and rbroker.c (relayed sessions). */
#ifndef ZT_RELAY_INT_H
#define ZT_RELAY_INT_H

#include "relaylink.h"
#include "roles.h"
#include "rsess.h"
#include "tcpio.h"

struct relay;
struct peer;

/* Relayed sessions: the table, its expiry timer and counters. */
struct zt_rbroker {
	struct zt_rsess_table t;
	uv_timer_t timer;
	int timer_on;
	uint64_t opened, refused, forwarded;
};

/* The TCP transport (rtcp.c): connections, limits, counters. */
struct rtcp_conn;
struct zt_rtcp {
	int on;
	struct rtcp_conn *conns;
	size_t n, n_hs;
	struct zt_tcpgrave grave;
	uint64_t accepted, established, hs_failed;
	uint64_t refused_full, refused_hs, refused_source, refused_grave;
	uint64_t refused_rate;
	uint64_t tat_src[256]; /* per-source rate (GCRA), by keyed hash */
	uint64_t tat_all;
	uint8_t seed[16];
};

struct peer {
	struct peer *next;
	struct relay *r;
	struct zt_qconn *c;
	int64_t sid;
	struct zt_ctrl_reader rd;
	int hello;
	char software[ZT_NAME_MAX];
	struct zt_addr addrs[ZT_MAX_ADDRS];
	size_t n_addrs;
	struct zt_addr observed;
	struct zt_service *services; /* connectors */
	size_t n_services;
	struct zt_service *pending;  /* connectors: last REGISTER, not yet applied */
	size_t n_pending;
	int has_pending;
	double reg_tokens;
	uint64_t reg_at;
	uint8_t *sent_catalog;       /* agents: last CATALOG sent */
	size_t sent_len;
	size_t catalog_n;
	uint64_t since_ns;
	uint8_t version;             /* control protocol, from its HELLO */
	double open_tokens;          /* agents: SESSION_OPEN budget */
	uint64_t open_at;
};

struct relay {
	struct zt_daemon *d;
	struct peer *peers;
	/* Catalog rebuilds are coalesced: a burst of REGISTERs (or of
	 * connectors coming and going) costs one rebuild per agent. */
	uv_timer_t rebuild;
	int dirty;
	uint64_t rebuilds, registers;
	struct zt_rbroker rb;        /* relayed sessions (rbroker.c) */
	struct zt_rtcp tcp;          /* TLS over TCP (rtcp.c) */
};

/* Sends m to p in p's control protocol version. */
int relay_send(struct peer *p, struct zt_ctrl_msg *m);

/* rbroker.c */
int rb_init(struct relay *r);
void rb_stop(struct relay *r);
/* A SESSION_* message from p: 0 or the ZT_APP_* code to close p with. */
int rb_message(struct relay *r, struct peer *p, const struct zt_ctrl_msg *m);
/* A DATAGRAM from p: a relayed packet, forwarded or dropped. */
void rb_datagram(struct relay *r, struct peer *p, const uint8_t *data,
		 size_t len);
/* p is going away: its sessions end and the other sides are told. */
void rb_peer_gone(struct relay *r, struct peer *p);
void rb_status(struct relay *r, struct zt_sb *b, int json);
size_t rb_peer_sessions(struct relay *r, const struct peer *p);

/* rtcp.c */
int rtcp_start(struct relay *r);
void rtcp_stop(struct relay *r);
void rtcp_destroy(struct relay *r);
void rtcp_status(struct relay *r, struct zt_sb *b, int json);
/* "tcp" or "udp": what the connection's active path is. */
const char *rtcp_transport(const struct zt_qconn *c);

#endif
