/* Relayed sessions at the relay (docs/ARCHITECTURE.md, "Relayed sessions"):
 * which two authenticated links a session id joins, and whether one relayed
 * datagram may pass. Pure: links are opaque pointers, time is `now` in
 * nanoseconds, ids come from the caller's random source. The relay forwards
 * only between the two links of a session it created and never reads the
 * inner packets.
 *
 * States: OFFERED (created on the agent's request, offered to the
 * connector) -> READY (the connector accepted) -> freed. OFFERED times out
 * after accept_ns; a session without traffic for idle_ns ends; either link
 * going away ends its sessions. */
#ifndef ZT_RSESS_H
#define ZT_RSESS_H

#include <stddef.h>
#include <stdint.h>

enum zt_rsess_state {
	ZT_RSESS_OFFERED = 1,
	ZT_RSESS_READY = 2,
};

/* Why a relayed datagram was dropped; counted per session and per relay. */
enum zt_rsess_drop {
	ZT_RDROP_UNKNOWN = 0, /* no such session */
	ZT_RDROP_NOT_YOURS,   /* the sending link is not part of it */
	ZT_RDROP_NOT_READY,   /* the connector has not accepted yet */
	ZT_RDROP_RATE,        /* the session's byte or packet budget */
	ZT_RDROP_RELAY_RATE,  /* the relay's byte or packet budget */
	ZT_RDROP_TOO_BIG,     /* the other link cannot carry it */
	ZT_RDROP_QUEUE,       /* the other link's send queue is full */
	ZT_RDROP_N
};

struct zt_rsess_limits {
	uint32_t per_agent;    /* sessions one agent link may hold */
	uint32_t max_sessions; /* the whole relay */
	uint64_t accept_ns;    /* OFFERED -> closed without an answer */
	uint64_t idle_ns;      /* no datagram either way */
	uint64_t sess_bytes_ps, sess_pkts_ps;   /* per session, each way */
	uint64_t relay_bytes_ps, relay_pkts_ps; /* whole relay */
};

void zt_rsess_limits_default(struct zt_rsess_limits *l);

/* A token bucket holding up to one second of its rate. */
struct zt_rbucket {
	uint64_t rate;   /* tokens per second; 0 = unlimited */
	uint64_t tokens; /* scaled by 1e9 to keep sub-token refills */
	uint64_t last;
};

struct zt_rsess_dir {
	uint64_t bytes, pkts;
	uint64_t drops[ZT_RDROP_N];
	struct zt_rbucket bytes_b, pkts_b;
	struct zt_rbucket cand_b; /* SESSION_CANDIDATES from this side */
	uint64_t cand, cand_dropped;
};

struct zt_rsess {
	uint64_t id;
	enum zt_rsess_state state;
	void *agent, *connector; /* the two links */
	uint32_t req;            /* the agent's request number */
	uint64_t created, last;  /* ns */
	struct zt_rsess_dir a2c, c2a;
	struct zt_rsess *next; /* hash chain */
};

struct zt_rsess_table {
	struct zt_rsess_limits lim;
	struct zt_rsess **buckets;
	size_t n_buckets, n;
	struct zt_rbucket bytes_b, pkts_b; /* the relay's budget */
	uint64_t drops[ZT_RDROP_N];        /* all sessions, and unknown ids */
	uint64_t (*rand)(void *arg);       /* session ids */
	void *rand_arg;
};

int zt_rsess_table_init(struct zt_rsess_table *t,
			const struct zt_rsess_limits *lim,
			uint64_t (*rand)(void *arg), void *rand_arg);
void zt_rsess_table_free(struct zt_rsess_table *t);

/* A new OFFERED session between the two links. The caller has checked that
 * the agent may reach a service of that connector. Returns 0, ZT_EAGAIN
 * (per-agent or relay limit) or ZT_ENOMEM. */
int zt_rsess_open(struct zt_rsess_table *t, void *agent, void *connector,
		  uint32_t req, uint64_t now, struct zt_rsess **out);
/* The connector's answer: only the session's connector link may accept,
 * only once. Returns 0, ZT_ENOTFOUND or ZT_EDENIED. */
int zt_rsess_accept(struct zt_rsess_table *t, uint64_t id, void *connector,
		    uint64_t now, struct zt_rsess **out);
struct zt_rsess *zt_rsess_find(const struct zt_rsess_table *t, uint64_t id);
void zt_rsess_close(struct zt_rsess_table *t, struct zt_rsess *s);

/* May a datagram of len bytes for session id, arriving on link `from`,
 * pass? Returns 1 with *to set to the other link (the caller sends it and
 * reports a send failure with zt_rsess_count_drop), or 0 with *why set
 * (and counted). */
int zt_rsess_forward(struct zt_rsess_table *t, void *from, uint64_t id,
		     size_t len, uint64_t now, void **to,
		     enum zt_rsess_drop *why);
void zt_rsess_count_drop(struct zt_rsess_table *t, void *from, uint64_t id,
			 enum zt_rsess_drop why);

/* Ends every session of a link that went away. cb (may be NULL) is called
 * for each before it is freed, with the surviving link (to tell it). */
size_t zt_rsess_link_gone(struct zt_rsess_table *t, void *link,
			  void (*cb)(struct zt_rsess *s, void *survivor,
				     void *arg),
			  void *arg);
/* Ends sessions whose answer or traffic is overdue (cb as above, with both
 * links as survivors: called once per link). Returns the next deadline
 * (UINT64_MAX if none). */
uint64_t zt_rsess_expire(struct zt_rsess_table *t, uint64_t now,
			 void (*cb)(struct zt_rsess *s, void *link, void *arg),
			 void *arg);
size_t zt_rsess_count_link(const struct zt_rsess_table *t, const void *link);
const char *zt_rsess_drop_name(enum zt_rsess_drop why);
/* May link `from` of a READY session s pass on new candidates to the other
 * side now? At most ZT_RSESS_CAND_PS a second each way (each one sets off
 * a round of probes at the other peer). Returns 1 with *to set, or 0
 * (not its session, not ready, or over the rate; counted). */
#define ZT_RSESS_CAND_PS 2
int zt_rsess_candidates(struct zt_rsess *s, void *from, uint64_t now,
			void **to);

#endif
