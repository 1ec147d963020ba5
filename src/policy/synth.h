/* Synthetic addresses for hostname services: each catalog hostname gets an
 * IPv4 address from a pool (100.64.0.0/10 by default) and, optionally, an
 * IPv6 one from a /96, stable for as long as it is in use (DNS answers and
 * flows touch it), reused only after hold_ns of silence. */
#ifndef ZT_SYNTH_H
#define ZT_SYNTH_H

#include <stddef.h>
#include <stdint.h>

struct zt_synth;

/* base4/prefix4: the IPv4 pool (host order); the first `reserved` addresses
 * are never handed out (tunnel address, DNS address). Returns 0/ZT_E*. */
int zt_synth_new(struct zt_synth **s, uint32_t base4, int prefix4,
		 uint32_t reserved, uint64_t hold_ns);
void zt_synth_free(struct zt_synth *s);

/* Returns the address for name (allocating one), 0 on success,
 * ZT_ETOOBIG when the pool is exhausted by names in use. */
int zt_synth_get(struct zt_synth *s, const char *name, uint64_t now,
		 uint32_t *ip4);
/* The name behind an address, or NULL. */
const char *zt_synth_name(struct zt_synth *s, uint32_t ip4);
/* Marks ip4 as in use at now (flow activity). */
void zt_synth_touch(struct zt_synth *s, uint32_t ip4, uint64_t now);
/* IPv6 form: prefix96 (12 bytes) followed by the IPv4 address. */
void zt_synth_ip6(const uint8_t prefix96[12], uint32_t ip4, uint8_t out[16]);
size_t zt_synth_count(const struct zt_synth *s);

#endif
