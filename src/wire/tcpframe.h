/* The TCP transport's framing (docs/PROTOCOL.md, "TCP transport"): inside
 * the TLS stream of a relay link carried over TCP, each QUIC packet is
 *
 *   length:u16 (big-endian, 1..ZT_TCPF_MAX)  packet:length bytes
 *
 * A pure codec: bytes in, packets out. The reader holds at most one
 * frame, so a peer cannot make it buffer more than ZT_TCPF_MAX + 2 bytes. */
#ifndef ZT_TCPFRAME_H
#define ZT_TCPFRAME_H

#include <stddef.h>
#include <stdint.h>

#define ZT_TCPF_HDR 2
/* Larger than any QUIC packet we send (ngtcp2's PMTU probes stop below
 * 1500 bytes), far below what the length field allows: a larger frame is
 * not one of ours and ends the connection. */
#define ZT_TCPF_MAX 4096

/* Writes the header for a packet of len bytes into out[0..2). Returns 2,
 * or 0 when len is 0 or above ZT_TCPF_MAX. */
size_t zt_tcpf_hdr(uint8_t out[ZT_TCPF_HDR], size_t len);

struct zt_tcpf_rd {
	uint8_t buf[ZT_TCPF_HDR + ZT_TCPF_MAX];
	size_t have; /* bytes of the current frame in buf */
	size_t need; /* its length with the header, once known; else 0 */
};

void zt_tcpf_rd_init(struct zt_tcpf_rd *r);
/* Takes bytes from in[0..len) and stops after the first complete packet:
 * returns 1 with *pkt / *pkt_len set (valid until the next call) and
 * *used the bytes taken, 0 when all len bytes were taken and no packet is
 * complete yet, or ZT_EINVAL for a length of 0, ZT_ETOOBIG for one above ZT_TCPF_MAX
 * (the stream cannot be resynchronised: close it). */
int zt_tcpf_read(struct zt_tcpf_rd *r, const uint8_t *in, size_t len,
		 size_t *used, const uint8_t **pkt, size_t *pkt_len);

#endif
