/* Internals shared by quic.c, quic_conn.c, quic_stream.c and quic_cid.c. */
#ifndef ZT_QUIC_INT_H
#define ZT_QUIC_INT_H

#include <stdio.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "quic.h"

struct zt_chunk {
	struct zt_chunk *next;
	size_t len;
	uint8_t data[];
};

/* Send side of a stream: bytes stay queued until the peer acknowledged
 * them (ngtcp2 may retransmit from them). */
struct zt_stream {
	struct zt_stream *next, *prev;
	int64_t id;
	struct zt_chunk *head, *tail;
	uint64_t head_off; /* stream offset of head->data[0] */
	uint64_t sent_off; /* bytes handed to ngtcp2 */
	uint64_t end_off;  /* bytes queued in total */
	int fin_queued, fin_sent;
	int shut_wr;       /* peer sent STOP_SENDING or we reset: no more */
	int queued;        /* on the connection's send queue */
	struct zt_stream *qnext;
	void *user;
};

/* A path validation event, queued inside ngtcp2 and told to the owner
 * after it returns (quic_path.c). */
enum { ZT_PATHEV_BEGIN = 1, ZT_PATHEV_END };
#define ZT_PATHEV_MAX 8
struct zt_pathev {
	int kind;
	unsigned flags;
	int result;
	struct zt_qpath path;
};

struct zt_cident {
	struct zt_cident *next;
	ngtcp2_cid cid;
	struct zt_qconn *conn;
};

/* A source address as the limits see it: an IPv4 address (also when
 * v4-mapped) or the /64 of an IPv6 address, which one host or site
 * usually holds whole. */
struct zt_srckey {
	uint64_t v;
	uint8_t fam; /* 4, 6, or 0 for anything else */
};

/* Handshakes in progress from one source; n == 0 marks a free slot. The
 * table holds at most ZT_EP_MAX_HANDSHAKING sources, so at twice that size
 * it never fills and probe runs stay short. */
#define ZT_HS_TAB (2 * ZT_EP_MAX_HANDSHAKING)
struct zt_hsent {
	struct zt_srckey key;
	uint32_t n;
};

/* Token buckets as GCRA: each bucket is one "theoretical arrival time".
 * Sources share ZT_RATE_SLOTS buckets by hash: bounded memory whatever the
 * number of (spoofed) sources; a collision only makes two sources share. */
#define ZT_RATE_SLOTS 1024
struct zt_rate {
	uint64_t global;
	uint64_t src[ZT_RATE_SLOTS];
	uint64_t sent, dropped;
};

struct zt_ep {
	struct zt_ep_config cfg;
	uint8_t secret[32];
	ngtcp2_callbacks client_cb, server_cb;
	struct zt_qconn *conns;
	size_t n_conns;
	struct zt_cident **buckets;
	size_t nbuckets, n_cids;
	size_t n_handshaking;    /* server connections in their handshake */
	struct zt_hsent hs_tab[ZT_HS_TAB];
	size_t hs_sources;
	uint64_t hs_drop_full, hs_drop_source, bad_token;
	struct zt_rate retry_rl, reset_rl;
	/* Something was queued outside a flush: flush again before sleeping. */
	int dirty;
};

struct zt_qconn {
	struct zt_qconn *next, *prev;
	struct zt_ep *ep;
	uint64_t rx_at;                /* the last packet ngtcp2 took */
	const struct zt_pathio *rx_pio; /* and where it came in */
	uint64_t acked_at;             /* the last ACK that gave an RTT */
	uint64_t keepalive_ns;         /* zt_qconn_set_keepalive's, if set */
	int keepalive_set;             /* else the endpoint's */
	uint64_t last_rtt_sample;
	ngtcp2_conn *conn;
	struct WOLFSSL *ssl;
	ngtcp2_crypto_conn_ref ref;
	int server;
	int state;
	int expect_role;
	char server_name[256];
	struct zt_identity peer;
	ngtcp2_cid initial_dcid; /* server: the client's first DCID */
	struct zt_stream *streams;
	/* Streams with data to send, served round-robin: one packet's worth
	 * each in turn, so a bulk transfer cannot starve the others. */
	struct zt_stream *sq_head, *sq_tail;
	struct zt_chunk *dg_head, *dg_tail; /* queued DATAGRAM payloads */
	size_t n_dgrams, dg_bytes; /* queued, and their chunks' bytes */
	size_t dg_cap;             /* dg_bytes may grow to this (0: least) */
	int dg_tries;
	int pending_established;
	int in_handshake;        /* counted in ep->n_handshaking and hs_tab */
	struct zt_srckey src;    /* server: the source it was accepted from */
	int close_pending;       /* zt_qconn_close() asked; done in service */
	uint64_t close_code;
	char close_reason[320];
	int deny;                /* peer failed identity checks */
	char deny_reason[320];
	/* The active path as the owner last heard of it (path_changed). */
	struct zt_addr last_remote;
	struct zt_pathio *last_pio;
	struct zt_pathev pev[ZT_PATHEV_MAX];
	unsigned pev_head, pev_n;
	uint8_t *close_pkt;
	size_t close_len;
	uint64_t close_rx;       /* packets received while closing */
	uint64_t close_deadline;
	struct zt_close_info ci;
	int ci_reported;         /* closed callback done */
	int got_reset;           /* the peer sent a stateless reset */
	/* Stream bytes delivered to the application and not consumed yet
	 * (their connection credit: quic_stream.c, stream_hold). */
	uint64_t held;
	FILE *qlog;
	char label[160];
	/* Never NULL (zt_qconn_set_ops): callers test members only. */
	const struct zt_qconn_ops *ops;
	void *owner;
};

/* Flow control. A stream's receive window starts at 1 MiB (transport
 * parameters, quic.c) and ngtcp2 may grow it up to ZT_STREAM_WINDOW_MAX
 * for a stream that is consumed fast: that is the most one stream can hold
 * unconsumed. Connection credit comes back when bytes are delivered to the
 * application, while all the connection's streams together hold at most
 * ZT_HOLD_MAX; beyond that, when they are consumed. So streams whose
 * consumer stalls pin only their own windows, and a peer still cannot make
 * us hold more than ZT_HOLD_MAX plus one connection window. */
#define ZT_STREAM_WINDOW_MAX (4u << 20)
#define ZT_HOLD_MAX (64u << 20)

/* quic_conn.c */
void zt_qconn_read(struct zt_qconn *c, struct zt_pathio *pio,
		   const struct sockaddr *remote, socklen_t remote_len,
		   const uint8_t *data, size_t len, uint64_t now);
/* Runs timers and writes; returns 1 when c is finished and must be freed. */
int zt_qconn_service(struct zt_qconn *c, uint64_t now);
uint64_t zt_qconn_expiry(struct zt_qconn *c);
void zt_qconn_free(struct zt_qconn *c);
void zt_qconn_check_peer(struct zt_qconn *c);
void zt_qconn_label_update(struct zt_qconn *c);
void zt_qconn_handshake_over(struct zt_qconn *c);
int zt_qconn_remote_is(const struct zt_qconn *c, const struct sockaddr *sa,
		       socklen_t len);

/* quic_stream.c */
struct zt_stream *zt_stream_find(struct zt_qconn *c, int64_t id);
struct zt_stream *zt_stream_get(struct zt_qconn *c, int64_t id);
void zt_stream_free_all(struct zt_qconn *c);
void zt_dgram_free_all(struct zt_qconn *c);
/* Writes packets until ngtcp2 has nothing more or the send quantum is
 * used; returns 0 or a negative ngtcp2 error. */
int zt_stream_write_all(struct zt_qconn *c, uint64_t now);
int zt_stream_recv_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
		      uint64_t off, const uint8_t *data, size_t len, void *ud,
		      void *sud);
int zt_stream_acked_cb(ngtcp2_conn *conn, int64_t sid, uint64_t off,
		       uint64_t len, void *ud, void *sud);
int zt_stream_open_cb(ngtcp2_conn *conn, int64_t sid, void *ud);
int zt_stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
		       uint64_t app_error, void *ud, void *sud);
int zt_stream_stop_cb(ngtcp2_conn *conn, int64_t sid, uint64_t app_error,
		      void *ud, void *sud);
int zt_stream_reset_cb(ngtcp2_conn *conn, int64_t sid, uint64_t final_size,
		       uint64_t app_error, void *ud, void *sud);

/* quic_path.c */
/* 1 when sa is an IPv4 or IPv6 address of exactly its length. */
int zt_sa_ok(const struct sockaddr *sa, socklen_t len);
int zt_pv_begin_cb(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
		   const ngtcp2_path *fallback, void *ud);
int zt_pv_result_cb(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
		    const ngtcp2_path *fallback,
		    ngtcp2_path_validation_result res, void *ud);
/* Tells the owner the queued validation events, then path_changed if the
 * active path is not the one it last heard of. Outside ngtcp2 only. */
void zt_qconn_path_events(struct zt_qconn *c);
/* Takes the active path as the one the owner knows. */
void zt_qconn_path_mark(struct zt_qconn *c);

/* quic_cid.c */
int zt_cidmap_init(struct zt_ep *ep);
void zt_cidmap_free(struct zt_ep *ep);
int zt_cidmap_add(struct zt_ep *ep, const ngtcp2_cid *cid,
		  struct zt_qconn *c);
void zt_cidmap_del(struct zt_ep *ep, const ngtcp2_cid *cid);
struct zt_qconn *zt_cidmap_find(struct zt_ep *ep, const ngtcp2_cid *cid);

/* quic_lim.c */
void zt_srckey_of(struct zt_srckey *k, const struct sockaddr *sa);
/* 1 when k has fewer than ZT_EP_HS_PER_SOURCE handshakes in progress. */
int zt_hs_admit(const struct zt_ep *ep, const struct zt_srckey *k);
/* Counts one more handshake from k: 0 or ZT_ETOOBIG (table full). */
int zt_hs_add(struct zt_ep *ep, const struct zt_srckey *k);
void zt_hs_del(struct zt_ep *ep, const struct zt_srckey *k);
/* 1 when a stateless packet may go to sa now (and counts it), 0 when it
 * is over the rate (counted as dropped). */
int zt_rate_allow(struct zt_ep *ep, struct zt_rate *r,
		  const struct sockaddr *sa, uint64_t now);

#endif
