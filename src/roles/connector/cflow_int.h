/* Connector flows, shared by cflow.c (sessions, header, check, dial, life
 * cycle, status), cflow_tcp.c (the TCP splice) and cflow_dgram.c (UDP and
 * ICMP echo flows). */
#ifndef ZT_CFLOW_INT_H
#define ZT_CFLOW_INT_H

#include "cflow.h"
#include "flowhdr.h"
#include "tconn.h"

/* A flow's life. Every change goes through cflow_set_state(), which
 * asserts that it is one of these:
 *
 *   HDR      -> DIAL      header complete; identity, service, port checked
 *   DIAL     -> OPEN      TCP connected, or UDP/ICMP socket ready; OK sent
 *   OPEN     -> DRAINING  TCP: the stream ended cleanly (FIN both ways)
 *                         while bytes for the target are still queued
 *   any      -> CLOSED    through cflow_close() only: refusal, failure,
 *                         reset either way, clean end, idle, drain
 *                         deadline, session end, shutdown
 *
 * CLOSED logs the end once and closes the handles; the flow is freed when
 * the last handle or request has called back (refs). A DRAINING flow has
 * no stream any more but stays on its session's list, so it is seen in
 * status, counts against the agent's flow limit, and session end and
 * shutdown close it like any other. */
enum cflow_state { CF_HDR, CF_DIAL, CF_OPEN, CF_DRAINING, CF_CLOSED };

/* Half-close, per direction, as ngtcp2 keeps it per stream (SHUT_RD,
 * SHUT_WR). Up is agent -> target, down is target -> agent. */
enum {
	CF_UP_FIN = 1 << 0,      /* the agent's FIN arrived */
	CF_UP_SHUT = 1 << 1,     /* our shutdown(SHUT_WR) to the target is sent */
	CF_UP_DONE = 1 << 2,     /* ... and done: the target has every byte */
	CF_DOWN_EOF = 1 << 3,    /* the target's EOF; our FIN is queued */
	CF_STREAM_GONE = 1 << 4, /* the QUIC stream is closed: no more calls */
};

/* How a flow ends, for cflow_close(). */
enum cflow_end {
	CF_END_CLEAN, /* normal end: a plain close of the target socket */
	CF_END_RESET, /* RST to the target; the stream reset (ZT_FLOW_ERR_RESET) */
	CF_END_ABORT, /* the same with ZT_FLOW_ERR_ABORT: our own failure */
	CF_END_DROP,  /* the session is gone: RST to the target only */
};

struct csession;

struct cflow {
	struct cflow *next, *prev; /* the session's list */
	struct csession *sess;     /* NULL once CLOSED */
	struct zt_cflows *cf;
	int64_t sid;
	enum cflow_state state;
	unsigned flags;
	/* Who and what, kept whatever ends the flow (the end line). */
	char user[ZT_NAME_MAX];
	struct zt_flow_hdr hdr;
	char target[ZT_HOST_MAX + 16];
	uint8_t hdr_buf[ZT_FLOW_HDR_MAX];
	size_t hdr_len;
	struct zt_tconn tc;  /* the target connection (tconn.h) */
	int tc_open;         /* dialed and not closed yet */
	uv_timer_t timer;    /* the dial timeout */
	int refs;            /* the timer and the target connection */
	int paused, writing;
	uint8_t *stage;      /* agent bytes waiting for the write in flight */
	size_t stage_len, stage_cap;
	size_t owed;         /* taken off the stream, credit not yet returned */
	uint64_t up, down, start_ns, last_ns;
	const char *end_reason;
};

struct csession {
	struct csession *next;
	struct zt_cflows *cf;
	struct zt_qconn *c;
	struct cflow *flows;
	size_t n_flows;
	uint64_t path_since; /* zt_now() of the last path change */
	unsigned path_changes;
};

/* A stream whose flow ended points here, so late data or a FIN on it is
 * not taken for a new flow's header. Only its address is used. */
extern const char zt_cflow_finished;
#define CF_FINISHED ((void *)&zt_cflow_finished)

#define CF_PAUSE_ABOVE (1u << 20) /* unacked bytes on the stream */
#define CF_RESUME_BELOW (512u << 10)
/* A flow whose header is not complete this long after its stream opened
 * (a partial header, or no byte at all) is reset: it holds a stream and a
 * flow slot of its session. */
#define CF_HDR_TIMEOUT_NS (10ULL * 1000000000ULL)
#define CF_SESSIONS_PER_AGENT 8
/* A draining flow whose target took no byte for this long is reset. */
#define CF_DRAIN_IDLE_NS (30ULL * 1000000000ULL)

/* cflow.c */
void cflow_set_state(struct cflow *f, enum cflow_state to);
void cflow_close(struct cflow *f, const char *why, enum cflow_end end);
void cflow_release(struct cflow *f);
void cflow_credit(struct cflow *f, size_t n);
void cflow_reply(struct cflow *f, int status);
void cflow_refuse(struct cflow *f, int status, const char *why);
int cflow_has_stream(const struct cflow *f);
/* Target connection callbacks both kinds of flow share (tconn.h). */
void cflow_tc_dialed(struct zt_tconn *t, int status, const char *why);
void cflow_tc_closed(struct zt_tconn *t);
const char *cflow_policy(const struct cflow *f, const struct zt_identity *id,
			 const struct zt_service **svc, int *status);

/* cflow_limits.c */
int cflow_session_admit(struct zt_cflows *cf, struct zt_qconn *c);
void cflow_hdr_sweep(struct csession *s, uint64_t now);

/* cflow_tcp.c */
void cflow_tcp_open(struct cflow *f);
void cflow_tcp_data(struct cflow *f, const uint8_t *d, size_t n, int fin);
void cflow_tcp_acked(struct cflow *f);
void cflow_tcp_stream_ended(struct cflow *f);
void cflow_tcp_sweep(struct cflow *f, uint64_t now);
extern const struct zt_tconn_cbs cflow_tcp_cbs;

/* cflow_dgram.c */
void cflow_dgram_open(struct cflow *f);
void cflow_dgram_data(struct cflow *f, int fin);
void cflow_dgram_to_target(struct cflow *f, const uint8_t *d, size_t n);
void cflow_dgram_sweep(struct cflow *f, uint64_t now);
extern const struct zt_tconn_cbs cflow_dgram_cbs;

#endif
