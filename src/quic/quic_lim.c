/* Limits against floods of connection attempts: handshakes in progress per
 * source, and rates for the packets the endpoint sends without any
 * connection state (Retry, stateless reset). All tables are fixed-size
 * parts of the endpoint: nothing grows with the number of sources. */
#include <netinet/in.h>
#include <string.h>

#include "err.h"
#include "quic_int.h"

#define NS_PER_SEC 1000000000ULL

void zt_srckey_of(struct zt_srckey *k, const struct sockaddr *sa)
{
	const uint8_t *b;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		k->fam = 4;
		k->v = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 |
		       (uint64_t)b[2] << 8 | b[3];
		return;
	}
	if (sa->sa_family != AF_INET6)
		return;
	b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	/* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; they must
	 * not all fall into the one /64 ::ffff:0:0/96 lies in. */
	if (IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		k->fam = 4;
		k->v = (uint64_t)b[12] << 24 | (uint64_t)b[13] << 16 |
		       (uint64_t)b[14] << 8 | b[15];
		return;
	}
	k->fam = 6;
	for (int i = 0; i < 8; i++)
		k->v = k->v << 8 | b[i];
}

/* Sources are chosen by the sender: seeding with the endpoint secret keeps
 * them from being picked to collide. */
static uint64_t src_hash(const struct zt_ep *ep, const struct zt_srckey *k)
{
	uint64_t seed, h;

	memcpy(&seed, ep->secret + 8, sizeof(seed));
	h = (k->v ^ seed) + k->fam;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static int key_eq(const struct zt_srckey *a, const struct zt_srckey *b)
{
	return a->v == b->v && a->fam == b->fam;
}

/* Linear probing: the slot holding k, else the free slot that ends its
 * run; SIZE_MAX only if the table were full. */
static size_t hs_slot(const struct zt_ep *ep, const struct zt_srckey *k)
{
	size_t i = (size_t)src_hash(ep, k) & (ZT_HS_TAB - 1);

	for (size_t probes = 0; probes < ZT_HS_TAB; probes++) {
		const struct zt_hsent *e = &ep->hs_tab[i];

		if (e->n == 0 || key_eq(&e->key, k))
			return i;
		i = (i + 1) & (ZT_HS_TAB - 1);
	}
	return SIZE_MAX;
}

int zt_hs_admit(const struct zt_ep *ep, const struct zt_srckey *k)
{
	size_t i = hs_slot(ep, k);

	return i != SIZE_MAX && ep->hs_tab[i].n < ZT_EP_HS_PER_SOURCE;
}

int zt_hs_add(struct zt_ep *ep, const struct zt_srckey *k)
{
	size_t i = hs_slot(ep, k);

	if (i == SIZE_MAX)
		return ZT_ETOOBIG;
	if (ep->hs_tab[i].n++ == 0) {
		ep->hs_tab[i].key = *k;
		ep->hs_sources++;
	}
	return 0;
}

/* Frees slot i and moves later entries of the run back into the hole, so
 * lookups never need tombstones (Knuth 6.4, algorithm R). */
static void hs_remove(struct zt_ep *ep, size_t i)
{
	size_t j = i;

	ep->hs_tab[i].n = 0;
	for (;;) {
		size_t home;

		j = (j + 1) & (ZT_HS_TAB - 1);
		if (ep->hs_tab[j].n == 0)
			return;
		home = (size_t)src_hash(ep, &ep->hs_tab[j].key) &
		       (ZT_HS_TAB - 1);
		/* Entry j may move to i unless its home lies in (i, j]. */
		if ((i <= j) ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		ep->hs_tab[i] = ep->hs_tab[j];
		ep->hs_tab[j].n = 0;
		i = j;
	}
}

void zt_hs_del(struct zt_ep *ep, const struct zt_srckey *k)
{
	size_t i = hs_slot(ep, k);

	if (i == SIZE_MAX || ep->hs_tab[i].n == 0)
		return;
	if (--ep->hs_tab[i].n == 0) {
		ep->hs_sources--;
		hs_remove(ep, i);
	}
}

/* GCRA: a packet conforms when the bucket's arrival time, pushed on by one
 * interval, stays within burst intervals of now. */
static int gcra_ok(uint64_t tat, uint64_t now, uint64_t rate, uint64_t burst)
{
	uint64_t t = (tat > now ? tat : now) + NS_PER_SEC / rate;

	return t - now <= burst * (NS_PER_SEC / rate);
}

static void gcra_take(uint64_t *tat, uint64_t now, uint64_t rate)
{
	*tat = (*tat > now ? *tat : now) + NS_PER_SEC / rate;
}

/* Both buckets must conform before either is charged: a source over its
 * own rate must not use up what other sources could still get. */
int zt_rate_allow(struct zt_ep *ep, struct zt_rate *r,
		  const struct sockaddr *sa, uint64_t now)
{
	struct zt_srckey k;
	uint64_t *slot;

	zt_srckey_of(&k, sa);
	slot = &r->src[src_hash(ep, &k) & (ZT_RATE_SLOTS - 1)];
	if (!gcra_ok(*slot, now, ZT_EP_STATELESS_SRC_RATE,
		     ZT_EP_STATELESS_SRC_BURST) ||
	    !gcra_ok(r->global, now, ZT_EP_STATELESS_RATE,
		     ZT_EP_STATELESS_BURST)) {
		r->dropped++;
		return 0;
	}
	gcra_take(slot, now, ZT_EP_STATELESS_SRC_RATE);
	gcra_take(&r->global, now, ZT_EP_STATELESS_RATE);
	r->sent++;
	return 1;
}

void zt_ep_stats(const struct zt_ep *ep, struct zt_ep_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->handshaking = ep->n_handshaking;
	st->hs_sources = ep->hs_sources;
	st->hs_drop_full = ep->hs_drop_full;
	st->hs_drop_source = ep->hs_drop_source;
	st->bad_token = ep->bad_token;
	st->retry_sent = ep->retry_rl.sent;
	st->retry_drop = ep->retry_rl.dropped;
	st->reset_sent = ep->reset_rl.sent;
	st->reset_drop = ep->reset_rl.dropped;
}
