/* Synthetic address pool. Two chained hash tables (name -> entry, address
 * -> entry) share the entries, and a doubly linked list keeps them in order
 * of last use, so that get, reverse lookup, touch and eviction are all O(1)
 * and memory follows the number of names holding an address, never the
 * pool size (a /10 has four million addresses).
 *
 * Addresses are handed out from a cursor that only moves forward. Entries
 * are never freed except to give their address straight to a new name, so
 * every offset behind the cursor is in use and every offset ahead of it has
 * never been used: fresh addresses need no scan, and once the cursor reaches
 * the end of the pool the only source is the least recently used entry,
 * provided it has been silent for hold_ns. Handing out fresh addresses
 * first keeps a recycled address away from stale peer caches as long as
 * possible. */
#include "synth.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

#define NAME_MAX_LEN 253
#define INITIAL_BUCKETS 16

struct entry {
	struct entry *name_next, *ip_next; /* hash chains */
	struct entry *older, *newer;       /* use order */
	uint64_t last;
	uint32_t ip;
	uint32_t hash; /* of name, kept for rehashing */
	char name[];
};

struct zt_synth {
	uint32_t first;  /* first address handed out (base + reserved) */
	uint64_t usable; /* addresses after the reserved ones */
	uint64_t cursor; /* offsets [0, cursor) have been handed out */
	uint64_t hold_ns;
	struct entry **by_name, **by_ip;
	size_t nbuckets; /* power of two, shared by both tables */
	size_t count;
	struct entry *oldest, *newest;
};

/* FNV-1a. Names are catalog hostnames chosen by the operator, not by
 * remote peers, so a keyed hash is not needed against flooding. */
static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

/* Consecutive addresses must spread over the buckets: Fibonacci hashing,
 * taking the high bits. */
static size_t ip_bucket(const struct zt_synth *s, uint32_t ip)
{
	return (size_t)(((uint64_t)ip * 0x9e3779b97f4a7c15ull) >> 32) &
	       (s->nbuckets - 1);
}

static size_t name_bucket(const struct zt_synth *s, uint32_t hash)
{
	return hash & (s->nbuckets - 1);
}

static struct entry *find_name(const struct zt_synth *s, const char *name,
			       uint32_t hash)
{
	struct entry *e = s->by_name[name_bucket(s, hash)];

	for (; e; e = e->name_next)
		if (e->hash == hash && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static struct entry *find_ip(const struct zt_synth *s, uint32_t ip)
{
	struct entry *e = s->by_ip[ip_bucket(s, ip)];

	for (; e; e = e->ip_next)
		if (e->ip == ip)
			return e;
	return NULL;
}

static void link_tables(struct zt_synth *s, struct entry *e)
{
	size_t nb = name_bucket(s, e->hash), ib = ip_bucket(s, e->ip);

	e->name_next = s->by_name[nb];
	s->by_name[nb] = e;
	e->ip_next = s->by_ip[ib];
	s->by_ip[ib] = e;
}

static void unlink_tables(struct zt_synth *s, struct entry *e)
{
	struct entry **pp;

	for (pp = &s->by_name[name_bucket(s, e->hash)]; *pp;
	     pp = &(*pp)->name_next)
		if (*pp == e) {
			*pp = e->name_next;
			break;
		}
	for (pp = &s->by_ip[ip_bucket(s, e->ip)]; *pp; pp = &(*pp)->ip_next)
		if (*pp == e) {
			*pp = e->ip_next;
			break;
		}
}

static void lru_remove(struct zt_synth *s, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		s->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		s->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_append(struct zt_synth *s, struct entry *e)
{
	e->older = s->newest;
	e->newer = NULL;
	if (s->newest)
		s->newest->newer = e;
	else
		s->oldest = e;
	s->newest = e;
}

static void use(struct zt_synth *s, struct entry *e, uint64_t now)
{
	e->last = now;
	lru_remove(s, e);
	lru_append(s, e);
}

/* Doubles both tables. On allocation failure the old ones stay: chains
 * just get longer, which is slower but still correct. */
static void grow(struct zt_synth *s)
{
	size_t nb = s->nbuckets * 2;
	struct entry **bn = calloc(nb, sizeof(*bn));
	struct entry **bi = calloc(nb, sizeof(*bi));

	if (!bn || !bi) {
		free(bn);
		free(bi);
		return;
	}
	free(s->by_name);
	free(s->by_ip);
	s->by_name = bn;
	s->by_ip = bi;
	s->nbuckets = nb;
	/* The use-order list holds every entry: relink from it. */
	for (struct entry *e = s->oldest; e; e = e->newer)
		link_tables(s, e);
}

int zt_synth_new(struct zt_synth **out, uint32_t base4, int prefix4,
		 uint32_t reserved, uint64_t hold_ns)
{
	struct zt_synth *s;
	uint64_t size;

	*out = NULL;
	if (prefix4 < 0 || prefix4 > 32)
		return ZT_EINVAL;
	size = 1ull << (32 - prefix4);
	/* The base must be the network address, and something must remain
	 * after the reserved addresses. */
	if (((uint64_t)base4 & (size - 1)) != 0 || reserved >= size)
		return ZT_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ZT_ENOMEM;
	s->first = base4 + reserved;
	s->usable = size - reserved;
	s->hold_ns = hold_ns;
	s->nbuckets = INITIAL_BUCKETS;
	s->by_name = calloc(s->nbuckets, sizeof(*s->by_name));
	s->by_ip = calloc(s->nbuckets, sizeof(*s->by_ip));
	if (!s->by_name || !s->by_ip) {
		zt_synth_free(s);
		return ZT_ENOMEM;
	}
	*out = s;
	return 0;
}

void zt_synth_free(struct zt_synth *s)
{
	struct entry *e, *next;

	if (!s)
		return;
	for (e = s->oldest; e; e = next) {
		next = e->newer;
		free(e);
	}
	free(s->by_name);
	free(s->by_ip);
	free(s);
}

/* Finds an address for a new entry: a fresh one if any is left, else the
 * one of the least recently used entry if it has been silent long enough
 * (that entry is dropped). Returns 0 or ZT_ETOOBIG. */
static int take_address(struct zt_synth *s, uint64_t now, uint32_t *ip)
{
	struct entry *old = s->oldest;

	if (s->cursor < s->usable) {
		*ip = s->first + (uint32_t)s->cursor++;
		return 0;
	}
	/* A clock going backwards counts as recent use, never as expiry. */
	if (!old || now < old->last || now - old->last <= s->hold_ns)
		return ZT_ETOOBIG;
	*ip = old->ip;
	unlink_tables(s, old);
	lru_remove(s, old);
	free(old);
	s->count--;
	return 0;
}

int zt_synth_get(struct zt_synth *s, const char *name, uint64_t now,
		 uint32_t *ip4)
{
	struct entry *e;
	uint32_t hash;
	size_t len;
	int rc;

	len = strnlen(name, NAME_MAX_LEN + 1);
	if (len == 0 || len > NAME_MAX_LEN)
		return ZT_EINVAL;
	hash = hash_name(name);
	e = find_name(s, name, hash);
	if (e) {
		use(s, e, now);
		*ip4 = e->ip;
		return 0;
	}
	/* Allocate before taking an address, so a failure evicts nothing. */
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return ZT_ENOMEM;
	rc = take_address(s, now, &e->ip);
	if (rc) {
		free(e);
		return rc;
	}
	memcpy(e->name, name, len + 1);
	e->hash = hash;
	e->last = now;
	if (s->count >= s->nbuckets)
		grow(s);
	link_tables(s, e);
	lru_append(s, e);
	s->count++;
	*ip4 = e->ip;
	return 0;
}

const char *zt_synth_name(struct zt_synth *s, uint32_t ip4)
{
	struct entry *e = find_ip(s, ip4);

	return e ? e->name : NULL;
}

void zt_synth_touch(struct zt_synth *s, uint32_t ip4, uint64_t now)
{
	struct entry *e = find_ip(s, ip4);

	if (e)
		use(s, e, now);
}

void zt_synth_ip6(const uint8_t prefix96[12], uint32_t ip4, uint8_t out[16])
{
	memcpy(out, prefix96, 12);
	out[12] = (uint8_t)(ip4 >> 24);
	out[13] = (uint8_t)(ip4 >> 16);
	out[14] = (uint8_t)(ip4 >> 8);
	out[15] = (uint8_t)ip4;
}

size_t zt_synth_count(const struct zt_synth *s)
{
	return s->count;
}
