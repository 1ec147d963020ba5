/* A map from 32-bit ids to pointers: open addressing with linear probing,
 * for lookups on a hot path (a relayed datagram's session id). Empty until
 * the first put; grows to keep at most half its slots in use; deletion
 * shifts entries back, so there are no tombstones. Keys may be anything,
 * NULL is not a value. Ids an attacker picks can share a probe run: a
 * lookup then costs as much as a list walk over that run, so callers bound
 * the number of entries. */
#ifndef ZT_U32MAP_H
#define ZT_U32MAP_H

#include <stddef.h>
#include <stdint.h>

struct zt_u32map_slot {
	uint32_t key;
	void *val; /* NULL: empty */
};

struct zt_u32map {
	struct zt_u32map_slot *slots;
	size_t cap, n; /* cap: 0 or a power of two */
};

void zt_u32map_init(struct zt_u32map *m);
void zt_u32map_free(struct zt_u32map *m);
/* The value for key, or NULL. */
void *zt_u32map_get(const struct zt_u32map *m, uint32_t key);
/* Sets key to val (replacing what it had). 0, ZT_EINVAL (val NULL) or
 * ZT_ENOMEM (the map is unchanged). */
int zt_u32map_put(struct zt_u32map *m, uint32_t key, void *val);
/* Removes key if it maps to val: an entry replaced since stays. */
void zt_u32map_del(struct zt_u32map *m, uint32_t key, const void *val);

#endif
