/* For the packet tests (unit_pkt.c, unit_pktbuild.c): a small packet
 * writer independent of pkt.c, with its own checksum code, so that a bug
 * shared by the parser and the builders cannot hide itself. Start a packet
 * with ip4() or ip6(), add one transport header (tcp, udp, icmp), which
 * finishes lengths and checksums. */
#ifndef ZT_TEST_PKTW_H
#define ZT_TEST_PKTW_H

#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

#define CAP 4096

struct pk {
	uint8_t b[CAP];
	size_t len;
	size_t l4; /* offset of the transport header */
	int v6;
	uint8_t proto; /* final next header, for the pseudo-header */
};

extern const uint8_t SRC4[4];
extern const uint8_t DST4[4];
extern const uint8_t SRC6[16];
extern const uint8_t DST6[16];
extern const uint8_t MSS[8];

void w16(uint8_t *p, uint32_t v);
void w32(uint8_t *p, uint32_t v);
uint16_t r16(const uint8_t *p);
uint32_t r32(const uint8_t *p);
uint32_t t_sum(uint32_t s, const uint8_t *b, size_t n);
uint16_t t_fold(uint32_t s);
void ip4(struct pk *k, uint8_t proto, const uint8_t *opt, size_t n);
void ip6(struct pk *k, uint8_t first, const uint8_t *ext, size_t n,
	 uint8_t proto);
void refix_v4(struct pk *k);
void finish(struct pk *k);
void tcp(struct pk *k, uint32_t seq, uint32_t ack, uint8_t flags,
	 const uint8_t *opt, size_t optlen, const char *data);
void udp(struct pk *k, const void *data, size_t n);
void icmp(struct pk *k, uint8_t type, uint16_t id, size_t n);
int parse_exact(const uint8_t *b, size_t n);
int parse_k(struct pk *k);
/* A TCP SYN with the MSS option, over IPv4 or IPv6. */
void mk_v4_syn(struct pk *k);
void mk_v6_syn(struct pk *k);

#endif
