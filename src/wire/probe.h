/* Hole-punching probes (docs/PROTOCOL.md, "Probes"): PING and PONG, plain
 * UDP datagrams on the one socket a peer's QUIC endpoint uses, told apart
 * from QUIC by the first byte (0x20..0x3f: QUIC's fixed bit 0x40 clear;
 * STUN starts with 0x00 or 0x01). Both are exactly ZT_PROBE_LEN bytes, so a
 * PONG is never larger than the PING it answers:
 *
 *   type u8 (0x20 PING, 0x21 PONG) | version u8 (1) | session u64 |
 *   txid 12 B | PONG only: observed source: family u8 (4 or 6), port u16,
 *   address 16 B (IPv4 in the first 4, the rest zero) | zero padding to
 *   64 bytes | MAC 16 B
 *
 * MAC = the first 16 bytes of HMAC-SHA256(receiver's probe key, bytes
 * 0..63). Each side learns the other's key from the rendezvous, so only a
 * peer of the session can make a probe that the receiver answers. */
#ifndef ZT_PROBE_H
#define ZT_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define ZT_PROBE_LEN 80
#define ZT_PROBE_KEY_LEN 32
#define ZT_PROBE_TXID_LEN 12

enum zt_probe_type {
	ZT_PROBE_PING = 0x20,
	ZT_PROBE_PONG = 0x21,
};

struct zt_probe {
	uint8_t type; /* enum zt_probe_type */
	uint64_t session;
	uint8_t txid[ZT_PROBE_TXID_LEN];
	struct zt_addr observed; /* PONG: where the PING came from */
};

/* Is this datagram a probe (and not QUIC or anything else)? */
int zt_probe_is(const uint8_t *buf, size_t len);
/* Writes p, authenticated with the receiver's key, into out. Returns 0 or
 * ZT_EINVAL (unknown type, a PONG without an IPv4/IPv6 address). */
int zt_probe_encode(const struct zt_probe *p,
		    const uint8_t key[ZT_PROBE_KEY_LEN],
		    uint8_t out[ZT_PROBE_LEN]);
/* Reads a probe addressed to the owner of key. Returns 0, ZT_EINVAL
 * (malformed: length, type, padding, address), ZT_EVERSION or ZT_EDENIED
 * (the MAC does not match: not from a peer of the session). */
int zt_probe_decode(struct zt_probe *p, const uint8_t *buf, size_t len,
		    const uint8_t key[ZT_PROBE_KEY_LEN]);

#endif
