/* Hole punching for one relayed session (docs/ARCHITECTURE.md, "Hole
 * punching"): probe the other peer's candidate addresses with
 * authenticated PINGs (src/wire/probe.c) on the shared UDP socket, answer
 * its PINGs with PONGs, and tell which candidates answer and how fast.
 * Pure: addresses and bytes in, probes to send and a deadline out.
 *
 * Per round, each candidate is probed at 0, 33, 67, 133, 267, 533, 1067,
 * 2133 and 4133 ms (9 probes in about 4.1 s, as noq does) until it
 * answers, then 3 more so that the other side's NAT sees our traffic too.
 * A candidate that answered stays valid while PONGs keep coming; the
 * caller decides what to do with a valid one (the agent migrates its
 * session to it). A PING from an address we did not know adds it as a
 * peer-reflexive candidate: that is how a port-changing NAT on the other
 * side is still found. */
#ifndef ZT_PUNCH_H
#define ZT_PUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl.h"
#include "probe.h"
#include "types.h"

#define ZT_PUNCH_MAX 8
#define ZT_PUNCH_PROBES 9

enum zt_cand_type {
	ZT_CAND_HOST = 1,  /* an interface address of the peer */
	ZT_CAND_SRFLX = 2, /* where a relay sees the peer */
	ZT_CAND_PRFLX = 3, /* where a PING of the peer came from */
};

enum zt_cand_state {
	ZT_CAND_PROBING = 1,
	ZT_CAND_VALID = 2,  /* a PONG came back */
	ZT_CAND_FAILED = 3, /* no answer this round */
};

struct zt_punch_cand {
	struct zt_addr addr;
	uint8_t type, state;
	uint8_t pinged;                  /* a PING went: txid is ours */
	unsigned sent;                   /* probes this round */
	unsigned extra;                  /* probes after the first answer */
	uint64_t next_at;                /* next probe, UINT64_MAX: none */
	uint8_t txid[ZT_PROBE_TXID_LEN]; /* of the last PING */
	uint64_t ping_at;                /* when it went */
	uint64_t rtt_ns, pong_at;
	uint64_t valid_at; /* first answer */
};

struct zt_punch {
	uint64_t session;
	uint8_t my_key[ZT_PROBE_KEY_LEN];   /* probes to us carry it */
	uint8_t peer_key[ZT_PROBE_KEY_LEN]; /* probes to the peer carry it */
	struct zt_punch_cand c[ZT_PUNCH_MAX];
	size_t n;
	uint64_t round_at; /* start of the latest round */
	unsigned rounds;
	void (*rand)(void *arg, uint8_t *out, size_t n);
	void *rand_arg;
	/* PINGs answered lately: a copy of one from another address is a
	 * replay (the MAC does not cover the sender's address). */
	struct {
		uint8_t txid[ZT_PROBE_TXID_LEN];
		struct zt_addr from;
		uint64_t at;
	} seen[16];
	unsigned seen_next;
	uint64_t pings_in, pongs_in, refused; /* refused: bad MAC, malformed,
					       * replayed */
};

void zt_punch_init(struct zt_punch *p, uint64_t session,
		   const uint8_t my_key[ZT_PROBE_KEY_LEN],
		   const uint8_t peer_key[ZT_PROBE_KEY_LEN],
		   void (*rand)(void *arg, uint8_t *out, size_t n),
		   void *rand_arg);
/* Adds a candidate (duplicates and anything but a unicast IPv4/IPv6
 * address with a port are ignored; at most ZT_PUNCH_MAX). A candidate
 * added during a round is probed at once. Returns 1 when added. */
int zt_punch_add(struct zt_punch *p, const struct zt_addr *a, uint8_t type,
		 uint64_t now);
/* Starts a round: every candidate is probed from now on. */
void zt_punch_round(struct zt_punch *p, uint64_t now);
/* The next probe due at now: 1 with *to and out filled (send it), or 0
 * with *deadline the time of the next one (UINT64_MAX: none). */
int zt_punch_poll(struct zt_punch *p, uint64_t now, struct zt_addr *to,
		  uint8_t out[ZT_PROBE_LEN], uint64_t *deadline);

enum zt_punch_event {
	ZT_PUNCH_NONE = 0,   /* taken, nothing to do */
	ZT_PUNCH_REPLY = 1,  /* a PING: send out (a PONG) back to from */
	ZT_PUNCH_ANSWER = 2, /* a PONG: the candidate *which answered */
	ZT_PUNCH_BAD = -1,   /* not ours: bad MAC, session, txid or format */
};

/* A probe datagram from `from`. */
int zt_punch_input(struct zt_punch *p, const struct zt_addr *from,
		   const uint8_t *buf, size_t len, uint64_t now,
		   uint8_t out[ZT_PROBE_LEN], size_t *which);
/* The valid candidate with the lowest RTT whose last answer is no older
 * than max_age_ns, or NULL. */
const struct zt_punch_cand *zt_punch_best(const struct zt_punch *p,
					  uint64_t now, uint64_t max_age_ns);
/* The session id a probe says it belongs to (0: not a probe). */
uint64_t zt_punch_session_of(const uint8_t *buf, size_t len);
const char *zt_cand_type_name(uint8_t type);
/* The peer announced its candidates anew (a[0] where the relay sees it,
 * the rest its interface addresses): those it no longer announces go,
 * except peer-reflexive ones; new ones are added (probed at once during a
 * round). The caller starts a round if it wants one. */
void zt_punch_update(struct zt_punch *p, const struct zt_addr *a, size_t n,
		     uint64_t now);
/* How our NAT maps, from what several relays observe of our one socket
 * (seen: one address per relay, family 0 for none yet): enum
 * zt_nat_kind. The caller passes only distinct relays. */
int zt_nat_kind(const struct zt_addr *seen, size_t n);
const char *zt_nat_kind_name(int kind);

#endif
