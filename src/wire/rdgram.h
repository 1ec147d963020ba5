/* Relayed datagrams (docs/PROTOCOL.md, "Relayed datagrams"): the payload of
 * a DATAGRAM frame on a peer's link to a relay that carries one packet of an
 * inner agent<->connector QUIC session:
 *
 *   session id (QUIC varint, 1, 2 or 4 bytes, < 2^30) | generation (u8) |
 *   inner QUIC packet (at least one byte)
 *
 * The relay reads only the session id; the generation tells a peer which
 * relayed path of the session a packet belongs to. */
#ifndef ZT_RDGRAM_H
#define ZT_RDGRAM_H

#include <stddef.h>
#include <stdint.h>

#define ZT_RDGRAM_HDR_MAX 5
#define ZT_RDGRAM_ID_MAX ((1u << 30) - 1)

/* Writes the header; returns its length (2..5), or 0 when the id is 0 or
 * not below 2^30, or cap is too small. */
size_t zt_rdgram_put(uint8_t *out, size_t cap, uint32_t session, uint8_t gen);
/* Reads the header of a relayed datagram of len bytes; returns the header
 * length (the inner packet follows and is not empty), or 0 when malformed
 * (an 8-byte varint, id 0, nothing after the header). */
size_t zt_rdgram_get(const uint8_t *buf, size_t len, uint32_t *session,
		     uint8_t *gen);

#endif
