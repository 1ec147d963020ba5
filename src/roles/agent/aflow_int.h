/* Agent flows, shared by aflow.c (flow table, policy, packet intake, DNS
 * stub, polling, start/stop, status), asession.c (sessions to connectors,
 * the catalog's grant check, stream callbacks), aflow_tcp.c (TCP flows, on
 * netstack connections) and aflow_dgram.c (UDP and ICMP echo flows). */
#ifndef ZT_AFLOW_INT_H
#define ZT_AFLOW_INT_H

#include "aflow.h"
#include "pkt.h"

/* A flow's life: WAIT_SESSION until its connector's session is up (then
 * the header goes out), WAIT_REPLY until the connector's status byte,
 * HANDSHAKE while the application answers our SYN-ACK (TCP), OPEN, and
 * DONE for a datagram flow the connector refused (kept a while, see
 * aflow_dgram.c). */
enum { A_WAIT_SESSION = 0, A_WAIT_REPLY, A_HANDSHAKE, A_OPEN, A_DONE };

#define A_PAUSE_ABOVE (1u << 20) /* unacked stream bytes before app backs off */

struct asession {
	struct asession *next;
	struct zt_aflows *af;
	char connector[ZT_NAME_MAX];
	struct zt_addr addrs[ZT_MAX_ADDRS];
	size_t n_addrs, next_addr;
	/* The session's connection: while connecting, the direct attempt;
	 * once up, whichever attempt won. rc is the attempt through a relay
	 * while both race; relay_req our request for it (0: none). */
	struct zt_qconn *c;
	struct zt_qconn *rc;
	uint32_t relay_req;
	int relayed;   /* the connection in use came up through a relay */
	char via[300]; /* which relay, for status and logs */
	/* Upgrade to a punched direct path and back (relayed sessions). */
	int direct;    /* on the direct path now */
	int migrating; /* its validation is under way */
	struct zt_addr direct_to;
	uint64_t ready_at, path_since, direct_rx, retry_direct_at, probe_rtt;
	unsigned upgrades, fallbacks;
	char why[96];  /* why the session is on its path */
	/* Its relayed path lost while in use (apath.c): the connection and
	 * its flows wait for a relayed session through any relay. */
	int recovering;
	uint64_t lost_at, reopen_at;
	unsigned relay_moves;
	int up;
	uint64_t up_since;
	/* The connector's certificate, once a session has been up: its grants
	 * decide which catalog entries it may serve (catalog_check). */
	struct zt_identity peer;
	int peer_known;
};

struct pend {
	struct pend *next;
	size_t len, off, cap;
	uint8_t data[];
};

struct aflow {
	struct aflow *next;   /* hash chain */
	struct aflow *wnext;  /* waiting for its session */
	struct zt_aflows *af;
	struct asession *s;
	int64_t sid;
	int state;
	uint8_t proto;         /* ZT_IPPROTO_TCP or _UDP */
	struct zt_addr src, dst;
	char service[ZT_NAME_MAX];
	struct pend *uq;       /* UDP payloads waiting for the connector's OK */
	size_t uq_n;
	uint64_t last_ns;
	/* TCP: the application's connection, from its held SYN until both
	 * directions finished (then lwIP closes on its own) or a reset. */
	struct zt_ns_conn *conn;
	struct pend *ph, *pt;  /* connector -> app, not yet in lwIP */
	size_t unrecved;       /* app bytes not yet credited to lwIP */
	int conn_fin, fin_to_app, app_fin, stream_done;
	uint64_t up, down, start_ns;
};

/* aflow.c */
struct aflow *aflow_find(struct zt_aflows *af, int proto,
			 const struct zt_addr *s, const struct zt_addr *d);
void aflow_write_tun(struct zt_aflows *af, const uint8_t *p, size_t n);
const char *aflow_proto_str(int p);
void aflow_log_end(struct aflow *f, const char *why);
void aflow_free(struct aflow *f);
void aflow_reset_app(struct aflow *f, const char *why);

/* asession.c */
struct asession *asession_get(struct zt_aflows *af,
			      const struct zt_catalog_entry *e);
int asession_send_header(struct aflow *f);
void asession_stop_all(struct zt_aflows *af);
void asession_status(struct zt_aflows *af, struct zt_sb *b, int json);

/* asession.c, shared with apath.c */
extern const struct zt_qconn_ops asession_qops;
void asession_attempt_drop(struct zt_qconn **c, const char *why);
void asession_relay_release(struct asession *s);
void asession_drop_flows(struct asession *s);

/* apath.c */
void asession_path_validation(struct zt_qconn *c, const struct zt_qpath *path,
			      int result, void *owner);

/* aflow_tcp.c */
int aflow_tcp_hold(struct aflow *f, const struct zt_pkt *syn,
		   const uint8_t *raw, size_t len);
void aflow_tcp_accept(struct aflow *f);
void aflow_tcp_data(struct aflow *f, struct zt_qconn *c, int64_t sid,
		    const uint8_t *d, size_t n, int fin);
void aflow_tcp_drain(struct aflow *f);
void aflow_tcp_credit(struct aflow *f);
void aflow_tcp_sweep(struct aflow *f, uint64_t now);
void aflow_tcp_close(struct aflow *f, int rst);

/* aflow_dgram.c */
void aflow_dgram_packet(struct aflow *f, const struct zt_pkt *p);
void aflow_dgram_flush(struct aflow *f);
void aflow_dgram_in(struct aflow *f, const uint8_t *d, size_t n);
void aflow_dgram_sweep(struct aflow *f, uint64_t now);

#endif
