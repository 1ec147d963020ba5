/* The id -> pointer map (u32map.h). */
#include "u32map.h"

#include <stdlib.h>

#include "err.h"

#define MIN_CAP 16

/* murmur3's finaliser: sequential ids spread over the whole table. */
static size_t home(const struct zt_u32map *m, uint32_t key)
{
	key ^= key >> 16;
	key *= 0x85ebca6bU;
	key ^= key >> 13;
	key *= 0xc2b2ae35U;
	key ^= key >> 16;
	return key & (m->cap - 1);
}

void zt_u32map_init(struct zt_u32map *m)
{
	m->slots = NULL;
	m->cap = m->n = 0;
}

void zt_u32map_free(struct zt_u32map *m)
{
	free(m->slots);
	zt_u32map_init(m);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t probe(const struct zt_u32map *m, uint32_t key)
{
	size_t i = home(m, key);

	while (m->slots[i].val && m->slots[i].key != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *zt_u32map_get(const struct zt_u32map *m, uint32_t key)
{
	return m->cap ? m->slots[probe(m, key)].val : NULL;
}

static int grow(struct zt_u32map *m)
{
	size_t cap = m->cap ? m->cap * 2 : MIN_CAP;
	struct zt_u32map old = *m;

	if (cap < m->cap) /* overflow: never with the callers' bounds */
		return ZT_ENOMEM;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		*m = old;
		return ZT_ENOMEM;
	}
	m->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].val)
			m->slots[probe(m, old.slots[i].key)] = old.slots[i];
	free(old.slots);
	return 0;
}

int zt_u32map_put(struct zt_u32map *m, uint32_t key, void *val)
{
	size_t i;

	if (!val)
		return ZT_EINVAL;
	if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
		return ZT_ENOMEM;
	i = probe(m, key);
	if (!m->slots[i].val)
		m->n++;
	m->slots[i].key = key;
	m->slots[i].val = val;
	return 0;
}

/* Backward shift: each entry after the hole that the hole lies on the way
 * to (from its home slot) moves into it, so probes never stop early. */
void zt_u32map_del(struct zt_u32map *m, uint32_t key, const void *val)
{
	size_t mask = m->cap - 1, hole, j;

	if (!m->cap)
		return;
	hole = probe(m, key);
	if (!m->slots[hole].val || m->slots[hole].val != val)
		return;
	for (j = (hole + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
		size_t h = home(m, m->slots[j].key);

		/* Moves unless its home lies cyclically in (hole, j]. */
		if (((j - h) & mask) >= ((j - hole) & mask)) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole].val = NULL;
	m->n--;
}
