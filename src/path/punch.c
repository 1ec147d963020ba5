/* Hole punching for one relayed session (punch.h). */
#include "punch.h"

#include <string.h>
#include <sys/socket.h>

#include "err.h"

#define MS 1000000ULL
#define EXTRA 3 /* probes after the first answer */
#define EXTRA_GAP (33 * MS)
#define NONE UINT64_MAX /* no probe due */

/* When each probe of a round goes, from the round's start. */
static const uint64_t sched_ms[ZT_PUNCH_PROBES] = { 0,   33,   67,   133, 267,
						    533, 1067, 2133, 4133 };

void zt_punch_init(struct zt_punch *p, uint64_t session,
		   const uint8_t my_key[ZT_PROBE_KEY_LEN],
		   const uint8_t peer_key[ZT_PROBE_KEY_LEN],
		   void (*rand)(void *arg, uint8_t *out, size_t n),
		   void *rand_arg)
{
	memset(p, 0, sizeof(*p));
	p->session = session;
	memcpy(p->my_key, my_key, ZT_PROBE_KEY_LEN);
	memcpy(p->peer_key, peer_key, ZT_PROBE_KEY_LEN);
	p->rand = rand;
	p->rand_arg = rand_arg;
}

static int find(const struct zt_punch *p, const struct zt_addr *a)
{
	for (size_t i = 0; i < p->n; i++)
		if (zt_addr_equal(&p->c[i].addr, a))
			return (int)i;
	return -1;
}

int zt_punch_add(struct zt_punch *p, const struct zt_addr *a, uint8_t type,
		 uint64_t now)
{
	struct zt_punch_cand *c;

	if ((a->family != AF_INET && a->family != AF_INET6) || a->port == 0 ||
	    !zt_addr_reachable(a) || find(p, a) >= 0 || p->n == ZT_PUNCH_MAX)
		return 0;
	c = &p->c[p->n++];
	memset(c, 0, sizeof(*c));
	c->addr = *a;
	c->type = type;
	c->state = ZT_CAND_PROBING;
	/* Joining a round late: probed at once, on the round's schedule
	 * from then on. */
	c->next_at = p->rounds ? now : NONE;
	return 1;
}

void zt_punch_round(struct zt_punch *p, uint64_t now)
{
	p->round_at = now;
	p->rounds++;
	for (size_t i = 0; i < p->n; i++) {
		struct zt_punch_cand *c = &p->c[i];

		c->sent = 0;
		c->extra = 0;
		c->next_at = now;
		if (c->state == ZT_CAND_FAILED)
			c->state = ZT_CAND_PROBING;
	}
}

static void schedule(struct zt_punch *p, struct zt_punch_cand *c, uint64_t now)
{
	if (c->state == ZT_CAND_VALID) {
		c->next_at = ++c->extra < EXTRA ? now + EXTRA_GAP : NONE;
		return;
	}
	if (c->sent >= ZT_PUNCH_PROBES) {
		c->next_at = NONE;
		c->state = ZT_CAND_FAILED;
		return;
	}
	c->next_at = p->round_at + sched_ms[c->sent] * MS;
	if (c->next_at < now)
		c->next_at = now + sched_ms[1] * MS; /* joined late */
}

int zt_punch_poll(struct zt_punch *p, uint64_t now, struct zt_addr *to,
		  uint8_t out[ZT_PROBE_LEN], uint64_t *deadline)
{
	struct zt_probe q = { .type = ZT_PROBE_PING, .session = p->session };
	struct zt_punch_cand *due = NULL;
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < p->n; i++) {
		struct zt_punch_cand *c = &p->c[i];

		if (c->next_at == NONE)
			continue;
		if (c->next_at <= now && (!due || c->next_at < due->next_at))
			due = c;
		else if (c->next_at > now && c->next_at < next)
			next = c->next_at;
	}
	if (!due) {
		*deadline = next;
		return 0;
	}
	p->rand(p->rand_arg, q.txid, sizeof(q.txid));
	if (zt_probe_encode(&q, p->peer_key, out) != 0) {
		due->next_at = NONE;
		*deadline = next;
		return 0;
	}
	memcpy(due->txid, q.txid, sizeof(q.txid));
	due->ping_at = now;
	due->pinged = 1;
	due->sent++;
	schedule(p, due, now);
	*to = due->addr;
	return 1;
}

#define REPLAY_NS (30000 * MS)

/* 1 when this PING was answered already, from another address, lately. */
static int replayed(struct zt_punch *p, const struct zt_addr *from,
		    const struct zt_probe *in, uint64_t now)
{
	const size_t n = sizeof(p->seen) / sizeof(p->seen[0]);

	for (size_t i = 0; i < n; i++)
		if (p->seen[i].at && now - p->seen[i].at < REPLAY_NS &&
		    memcmp(p->seen[i].txid, in->txid, sizeof(in->txid)) == 0)
			return !zt_addr_equal(&p->seen[i].from, from);
	memcpy(p->seen[p->seen_next].txid, in->txid, sizeof(in->txid));
	p->seen[p->seen_next].from = *from;
	p->seen[p->seen_next].at = now ? now : 1;
	p->seen_next = (p->seen_next + 1) % n;
	return 0;
}

static int on_ping(struct zt_punch *p, const struct zt_addr *from,
		   const struct zt_probe *in, uint64_t now,
		   uint8_t out[ZT_PROBE_LEN])
{
	struct zt_probe q = { .type = ZT_PROBE_PONG,
			      .session = p->session,
			      .observed = *from };

	if (replayed(p, from, in, now)) {
		p->refused++;
		return ZT_PUNCH_BAD;
	}
	p->pings_in++;
	memcpy(q.txid, in->txid, sizeof(q.txid));
	if (zt_probe_encode(&q, p->peer_key, out) != 0)
		return ZT_PUNCH_BAD;
	/* Learn where the peer's packets come from, and probe it back. */
	if (zt_punch_add(p, from, ZT_CAND_PRFLX, now))
		p->c[p->n - 1].next_at = now;
	return ZT_PUNCH_REPLY;
}

static int on_pong(struct zt_punch *p, const struct zt_addr *from,
		   const struct zt_probe *in, uint64_t now, size_t *which)
{
	int i = find(p, from);
	struct zt_punch_cand *c;

	/* An answer counts only from where we asked, to what we asked. */
	if (i < 0 || !p->c[i].pinged ||
	    memcmp(p->c[i].txid, in->txid, sizeof(in->txid)) != 0)
		return ZT_PUNCH_BAD;
	p->pongs_in++;
	c = &p->c[i];
	c->rtt_ns = now - c->ping_at;
	c->pong_at = now;
	if (c->state != ZT_CAND_VALID) {
		c->state = ZT_CAND_VALID;
		c->valid_at = now;
		c->extra = 0;
		c->next_at = now + EXTRA_GAP;
	}
	*which = (size_t)i;
	return ZT_PUNCH_ANSWER;
}

int zt_punch_input(struct zt_punch *p, const struct zt_addr *from,
		   const uint8_t *buf, size_t len, uint64_t now,
		   uint8_t out[ZT_PROBE_LEN], size_t *which)
{
	struct zt_probe in;

	if (zt_probe_decode(&in, buf, len, p->my_key) != 0 ||
	    in.session != p->session) {
		p->refused++;
		return ZT_PUNCH_BAD;
	}
	if (in.type == ZT_PROBE_PING)
		return on_ping(p, from, &in, now, out);
	return on_pong(p, from, &in, now, which) == ZT_PUNCH_BAD ?
		       (p->refused++, ZT_PUNCH_BAD) :
		       ZT_PUNCH_ANSWER;
}

/* Lower is better: RTT first; then IPv6, then a LAN address. */
static int better(const struct zt_punch_cand *a, const struct zt_punch_cand *b)
{
	if (a->rtt_ns != b->rtt_ns)
		return a->rtt_ns < b->rtt_ns;
	if (a->addr.family != b->addr.family)
		return a->addr.family == AF_INET6;
	return a->type == ZT_CAND_HOST && b->type != ZT_CAND_HOST;
}

const struct zt_punch_cand *zt_punch_best(const struct zt_punch *p,
					  uint64_t now, uint64_t max_age_ns)
{
	const struct zt_punch_cand *best = NULL;

	for (size_t i = 0; i < p->n; i++) {
		const struct zt_punch_cand *c = &p->c[i];

		if (c->state != ZT_CAND_VALID || c->pong_at + max_age_ns < now)
			continue;
		if (!best || better(c, best))
			best = c;
	}
	return best;
}

uint64_t zt_punch_session_of(const uint8_t *buf, size_t len)
{
	uint64_t v = 0;

	if (len != ZT_PROBE_LEN || !zt_probe_is(buf, len))
		return 0;
	for (int i = 2; i < 10; i++)
		v = (v << 8) | buf[i];
	return v;
}

const char *zt_cand_type_name(uint8_t type)
{
	switch (type) {
	case ZT_CAND_HOST: return "host";
	case ZT_CAND_SRFLX: return "srflx";
	case ZT_CAND_PRFLX: return "prflx";
	default: return "?";
	}
}

void zt_punch_update(struct zt_punch *p, const struct zt_addr *a, size_t n,
		     uint64_t now)
{
	size_t k = 0;

	/* Kept: what the peer still announces (with what we know of it) and
	 * what we found ourselves (its PINGs came from there). */
	for (size_t i = 0; i < p->n; i++) {
		int keep = p->c[i].type == ZT_CAND_PRFLX;

		for (size_t j = 0; j < n && !keep; j++)
			keep = zt_addr_equal(&p->c[i].addr, &a[j]);
		if (keep)
			p->c[k++] = p->c[i];
	}
	p->n = k;
	for (size_t j = 0; j < n; j++)
		zt_punch_add(p, &a[j], j == 0 ? ZT_CAND_SRFLX : ZT_CAND_HOST,
			     now);
}

int zt_nat_kind(const struct zt_addr *seen, size_t n)
{
	int kind = ZT_NAT_UNKNOWN;

	/* Two relays (two destinations) must see one address for the
	 * mapping to be independent of the destination; a second address,
	 * be it another port or another IP, is a mapping per destination.
	 * Families are compared apart: v4 and v6 are different sockets'
	 * worth of NAT. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			if (seen[i].family != seen[j].family ||
			    seen[i].family == 0)
				continue;
			if (!zt_addr_equal(&seen[i], &seen[j]))
				return ZT_NAT_EDM;
			kind = ZT_NAT_EIM;
		}
	return kind;
}

const char *zt_nat_kind_name(int kind)
{
	switch (kind) {
	case ZT_NAT_EIM: return "endpoint-independent";
	case ZT_NAT_EDM: return "endpoint-dependent";
	default: return "unknown";
	}
}
