/* QUIC endpoint (ngtcp2 + wolfSSL): many client and server connections over
 * one or more paths, demultiplexed by connection ID. No sockets and no clock
 * here: packets come in through zt_ep_recv() with the time, go out through
 * each path's zt_pathio, and the caller asks for the next deadline. This is
 * what lets tests run two endpoints in memory. */
#ifndef ZT_QUIC_H
#define ZT_QUIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "path.h"
#include "tls.h"
#include "types.h"

#define ZT_CID_LEN 16

struct zt_ep;
struct zt_qconn;

enum zt_qconn_state {
	ZT_QCONN_HANDSHAKE = 0,
	ZT_QCONN_ESTABLISHED, /* handshake done and peer identity accepted */
	ZT_QCONN_CLOSING,     /* we sent CONNECTION_CLOSE */
	ZT_QCONN_DRAINING,    /* the peer closed */
};

/* Why a connection ended, for logs and status. */
struct zt_close_info {
	int local;            /* 1: we closed it */
	int kind;             /* 0 transport, 1 application, 2 idle, 3 reset */
	uint64_t code;
	char reason[128];
};

/* A path of a connection as its owner knows it: how packets leave (the
 * pathio, whose local address is ours on the path) and the peer's address
 * on it. */
struct zt_qpath {
	struct zt_pathio *pio;
	struct sockaddr_storage remote;
	socklen_t remote_len;
};

/* Path validation results (path_validation callback). */
enum {
	ZT_PV_SUCCESS = 0,
	ZT_PV_FAILURE, /* no PATH_RESPONSE in time */
	ZT_PV_ABORTED, /* another migration replaced it */
};
/* path_validation_begin flags. FALLBACK: on failure the connection
 * returns to the path it came from. OLD_PATH: a server's last check of the
 * path the client left (against a forged migration); no result is
 * reported for it. */
#define ZT_PV_FALLBACK 0x1u
#define ZT_PV_OLD_PATH 0x2u

/* What a connection tells its owner. Each connection has its own table
 * and owner pointer (the last argument of every call): a client connection
 * gets them from zt_ep_connect(), a server connection starts with the
 * endpoint's accept table and the owner may rebind it with
 * zt_qconn_set_ops(), e.g. once it knows which session the peer is. Any
 * member may be NULL. */
struct zt_qconn_ops {
	/* Handshake done and the peer's certificate identity passed the role
	 * check. */
	void (*established)(struct zt_qconn *c, void *owner);
	/* Stream data in order. The owner must call
	 * zt_qconn_stream_consumed() as it consumes bytes: that is flow
	 * control. fin marks the end of the peer's side. Without this
	 * callback the endpoint gives the credit back itself. */
	void (*stream_data)(struct zt_qconn *c, int64_t sid,
			    const uint8_t *data, size_t len, int fin,
			    void *owner);
	/* The stream is gone both ways. reset: it did not end with a FIN
	 * each way but by RESET_STREAM or STOP_SENDING, from either side;
	 * app_error is then the first code seen. Code 0 is a code like any
	 * other: only reset says whether the stream ended cleanly. */
	void (*stream_closed)(struct zt_qconn *c, int64_t sid, int reset,
			      uint64_t app_error, void *owner);
	/* The peer aborted a direction of the stream, with any code (0
	 * included): RESET_STREAM (its bytes end here, incomplete) or
	 * STOP_SENDING (it reads no more; ngtcp2 resets our side). It comes
	 * at once, while stream_closed waits for both directions to end.
	 * The stream still exists: the owner may reset it. */
	void (*stream_reset)(struct zt_qconn *c, int64_t sid,
			     uint64_t app_error, void *owner);
	/* The peer opened a stream: its first frame arrived, whatever it is
	 * (STREAM, RESET_STREAM, STOP_SENDING...), so a stream that never
	 * carries a byte is seen too. Only on established connections. May
	 * be NULL. */
	void (*stream_opened)(struct zt_qconn *c, int64_t sid, void *owner);
	/* The peer acknowledged stream data: buffered bytes went down
	 * (zt_qconn_stream_buffered), so a paused producer may resume. */
	void (*stream_acked)(struct zt_qconn *c, int64_t sid, void *owner);
	void (*datagram)(struct zt_qconn *c, const uint8_t *data, size_t len,
			 void *owner);
	/* The active path changed: the peer's address (NAT rebinding, or the
	 * client migrated) or our pathio (we migrated). zt_qconn_path()
	 * tells the new one. */
	void (*path_changed)(struct zt_qconn *c, void *owner);
	/* A path validation (RFC 9000 8.2) began on path: a client's
	 * migration, or a server checking the client's new path. flags:
	 * ZT_PV_*. */
	void (*path_validation_begin)(struct zt_qconn *c,
				      const struct zt_qpath *path,
				      unsigned flags, void *owner);
	/* It ended: ZT_PV_SUCCESS, _FAILURE or _ABORTED. ⚠ After an
	 * immediate migration whose validation failed, the client stays on
	 * the failed path: the owner migrates again. */
	void (*path_validation)(struct zt_qconn *c, const struct zt_qpath *path,
				int result, void *owner);
	/* Last call for c: it is freed later, and no other callback comes. */
	void (*closed)(struct zt_qconn *c, const struct zt_close_info *ci,
		       void *owner);
};

struct zt_ep_config {
	struct zt_tls *tls;
	/* Bit mask (1 << role) of peer roles a server connection accepts;
	 * 0 = this endpoint accepts no connections. */
	unsigned accept_roles;
	int require_retry;
	uint64_t idle_timeout_ns;
	uint64_t keepalive_ns;
	const char *qlog_dir; /* NULL = off */
	/* Stateless reset and Retry token secret; all zero = random. */
	uint8_t secret[32];
	/* What server connections start with (NULL: no callbacks until the
	 * owner rebinds them). */
	const struct zt_qconn_ops *accept;
	void *accept_owner;
};

/* Limits against floods of connection attempts (RFC 9000, 21.1 and 21.5).
 * A source is an IPv4 address or an IPv6 /64. Handshakes in progress are
 * counted per source once its address is validated (after the Retry when
 * require_retry is on, else at the first Initial). Packets sent without
 * connection state (Retry, stateless reset) each have a token bucket per
 * source and one for all sources together: rate per second, burst. */
#define ZT_EP_MAX_HANDSHAKING 1024
#define ZT_EP_HS_PER_SOURCE 16
#define ZT_EP_STATELESS_RATE 1000
#define ZT_EP_STATELESS_BURST 1000
#define ZT_EP_STATELESS_SRC_RATE 50
#define ZT_EP_STATELESS_SRC_BURST 100

/* What the limits did, for status. Counters run from zt_ep_new(). */
struct zt_ep_stats {
	uint64_t handshaking;      /* server handshakes in progress now */
	uint64_t hs_sources;       /* distinct sources of those */
	uint64_t hs_drop_full;     /* Initials dropped: MAX_HANDSHAKING reached */
	uint64_t hs_drop_source;   /* Initials dropped: source at its limit */
	uint64_t bad_token;        /* Initials dropped: bad or expired token */
	uint64_t retry_sent;
	uint64_t retry_drop;       /* Retries not sent: over the rate */
	uint64_t reset_sent;
	uint64_t reset_drop;       /* stateless resets not sent: over the rate */
};

int zt_ep_new(struct zt_ep **ep, const struct zt_ep_config *cfg,
	      uint64_t now);
/* Closes nothing gracefully: call zt_ep_close_all() first. */
void zt_ep_free(struct zt_ep *ep);

/* Feeds one received datagram. Never fails: bad packets are dropped. */
void zt_ep_recv(struct zt_ep *ep, struct zt_pathio *pio,
		const struct sockaddr *remote, socklen_t remote_len,
		const uint8_t *data, size_t len, uint64_t now);
/* Sends whatever all connections have to send, runs timers that expired
 * and frees connections whose closing period ended. */
void zt_ep_flush(struct zt_ep *ep, uint64_t now);
/* Absolute time (ns) of the next deadline, UINT64_MAX if none. */
uint64_t zt_ep_next_expiry(struct zt_ep *ep);
/* Sends CONNECTION_CLOSE with app_error on every connection. */
void zt_ep_close_all(struct zt_ep *ep, uint64_t app_error, const char *reason,
		     uint64_t now);
size_t zt_ep_conn_count(struct zt_ep *ep);
/* Fills st from the endpoint's counters: cheap, for status output. */
void zt_ep_stats(const struct zt_ep *ep, struct zt_ep_stats *st);
/* Iterates connections (status). */
struct zt_qconn *zt_ep_conn_first(struct zt_ep *ep);
struct zt_qconn *zt_ep_conn_next(struct zt_qconn *c);

/* Starts a client connection to remote over pio. server_name is checked
 * against the server certificate's DNS/IP names; expect_role is the role the
 * server certificate must carry. Its events go to ops with owner (ops is
 * not copied: it must outlive the connection). */
int zt_ep_connect(struct zt_ep *ep, struct zt_pathio *pio,
		  const struct sockaddr *remote, socklen_t remote_len,
		  const char *server_name, int expect_role,
		  const struct zt_qconn_ops *ops, void *owner,
		  struct zt_qconn **out, uint64_t now);

/* Sends c's further events to ops with owner. NULL ops detaches c: events
 * are dropped and stream data credited by the endpoint, which is what an
 * owner going away before its connection's closed callback wants. */
void zt_qconn_set_ops(struct zt_qconn *c, const struct zt_qconn_ops *ops,
		      void *owner);
int zt_qconn_state(const struct zt_qconn *c);
int zt_qconn_is_server(const struct zt_qconn *c);
const struct zt_identity *zt_qconn_peer(const struct zt_qconn *c);
/* The connection's TLS object (to re-check the peer's certificate). */
struct WOLFSSL *zt_qconn_tls(const struct zt_qconn *c);
/* The peer's address on the active path. */
void zt_qconn_remote(const struct zt_qconn *c, struct zt_addr *a);
uint64_t zt_qconn_rtt_ns(const struct zt_qconn *c);
/* UDP payload bytes sent and received on the connection so far. */
void zt_qconn_bytes(const struct zt_qconn *c, uint64_t *sent, uint64_t *recv);
/* Short printable id for logs: "peer-name@addr" once known. */
const char *zt_qconn_label(const struct zt_qconn *c);

/* The active path. */
void zt_qconn_path(const struct zt_qconn *c, struct zt_qpath *p);
/* When the last packet the connection accepted arrived, and on which
 * pathio: how an owner tells that a path went silent. */
void zt_qconn_last_rx(const struct zt_qconn *c, uint64_t *at,
		      const struct zt_pathio **pio);
/* When the peer last acknowledged something new of ours: packets coming
 * in alone do not show that ours get out (a path that died one way).
 * Worked out when asked: an ACK is seen by the next call, dated the last
 * packet read, so poll it regularly (the agent: every 200 ms). */
uint64_t zt_qconn_acked_at(struct zt_qconn *c);
/* Keep-alive (PING after this long without sending), for this connection
 * only; 0 turns it off. Starts at the endpoint's keepalive_ns. */
void zt_qconn_set_keepalive(struct zt_qconn *c, uint64_t ns);
/* Sends an ack-eliciting packet (a PING if nothing else is due) now, on the
 * active path: after our address changed, the peer sees the new one and
 * migrates at once instead of at the next keep-alive. ZT_EAGAIN before the
 * handshake is confirmed, ZT_ECLOSED when closing, else 0. */
int zt_qconn_ping(struct zt_qconn *c, uint64_t now);

/* Client migration (RFC 9000 9): moves c to the path {pio, remote}.
 * ZT_MIGRATE_VALIDATED probes the path first and switches when its
 * PATH_RESPONSE comes (path_validation tells); ZT_MIGRATE_IMMEDIATE switches
 * now, validating afterwards. A path validated in the last 10 minutes (one
 * of the last 4) is taken at once either way. One validation at a time: a
 * migration aborts the one in progress. Returns 0, or:
 *   ZT_EINVAL   c is a server connection, mode is unknown, or pio's local
 *               address is the active path's (a migration needs a new
 *               local address: another pathio, or a synthetic one);
 *   ZT_EAGAIN   not established yet, or no spare connection ID from the
 *               peer (it comes with the peer's NEW_CONNECTION_ID);
 *   ZT_EDENIED  the peer does not allow migration (disable_active_migration
 *               or a zero-length connection ID);
 *   ZT_ECLOSED  the connection is closing.
 * pio must outlive c (see path.h). Events follow from the next flush. */
enum { ZT_MIGRATE_VALIDATED = 0, ZT_MIGRATE_IMMEDIATE = 1 };
int zt_qconn_migrate(struct zt_qconn *c, struct zt_pathio *pio,
		     const struct sockaddr *remote, socklen_t remote_len,
		     int mode, uint64_t now);

/* Opens a bidirectional stream. Returns 0 or ZT_EAGAIN (stream limit). */
int zt_qconn_stream_open(struct zt_qconn *c, int64_t *sid);
/* Queues data (copied) on a stream; fin ends our side. */
int zt_qconn_stream_send(struct zt_qconn *c, int64_t sid, const uint8_t *data,
			 size_t len, int fin);
/* Returns bytes queued on the stream and not yet acknowledged. */
size_t zt_qconn_stream_buffered(struct zt_qconn *c, int64_t sid);
/* Abruptly ends both directions of a stream (RESET_STREAM and
 * STOP_SENDING) with app_error; queued data is discarded. */
void zt_qconn_stream_reset(struct zt_qconn *c, int64_t sid,
			   uint64_t app_error);
/* Ends only our sending side (RESET_STREAM) and keeps reading (tests). */
void zt_qconn_stream_reset_send(struct zt_qconn *c, int64_t sid,
				uint64_t app_error);
/* Per-stream application pointer (NULL until set). */
int zt_qconn_stream_set_user(struct zt_qconn *c, int64_t sid, void *user);
void *zt_qconn_stream_user(struct zt_qconn *c, int64_t sid);
/* Sends a DATAGRAM frame (copied). Returns 0, ZT_ETOOBIG (does not fit
 * the path), ZT_EAGAIN (queue full: dropped) or ZT_ECLOSED. */
int zt_qconn_send_datagram(struct zt_qconn *c, const uint8_t *data,
			   size_t len);
/* The same for one frame made of hdr then data: a wrapper's header goes
 * in without a copy of the whole packet first. */
int zt_qconn_send_datagram2(struct zt_qconn *c, const uint8_t *hdr, size_t hlen,
			    const uint8_t *data, size_t len);
/* The largest DATAGRAM payload zt_qconn_send_datagram takes now (0 before
 * the handshake): it grows once path MTU discovery finds a larger path. */
size_t zt_qconn_datagram_max(const struct zt_qconn *c);
/* Gives back receive credit for n consumed bytes. */
void zt_qconn_stream_consumed(struct zt_qconn *c, int64_t sid, size_t n);
/* Closes the connection with an application error code. The closed
 * callback follows once the closing period ends. */
void zt_qconn_close(struct zt_qconn *c, uint64_t app_error,
		    const char *reason, uint64_t now);

#endif
