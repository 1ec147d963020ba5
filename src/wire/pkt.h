/* IP packet parsing and the few packets the agent writes itself (TCP RST,
 * ICMP unreachable, UDP replies from its DNS stub). Every parse validates
 * lengths, header options and checksums; anything malformed returns a drop
 * reason and is counted by the caller. Pure functions, no I/O. */
#ifndef ZT_PKT_H
#define ZT_PKT_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

enum zt_pkt_result {
	ZT_PKT_OK = 0,
	ZT_PKT_TRUNC,       /* shorter than its headers say */
	ZT_PKT_BADVER,      /* not IPv4 or IPv6 */
	ZT_PKT_BADHDR,      /* bad IHL, total length, option or ext header */
	ZT_PKT_BADCSUM,     /* IPv4 header, TCP, UDP or ICMP checksum */
	ZT_PKT_FRAGMENT,    /* fragments are not reassembled */
	ZT_PKT_UNSUPPORTED, /* other transport protocol */
	ZT_PKT_NRESULTS
};

#define ZT_IPPROTO_ICMP 1
#define ZT_IPPROTO_TCP 6
#define ZT_IPPROTO_UDP 17
#define ZT_IPPROTO_ICMPV6 58

#define ZT_TCP_FIN 0x01
#define ZT_TCP_SYN 0x02
#define ZT_TCP_RST 0x04
#define ZT_TCP_PSH 0x08
#define ZT_TCP_ACK 0x10

struct zt_pkt {
	uint8_t version;       /* 4 or 6 */
	uint8_t proto;         /* ZT_IPPROTO_* */
	struct zt_addr src, dst; /* ports set for TCP/UDP; ICMP id in src.port */
	size_t ip_hdr_len;     /* incl. IPv6 extension headers */
	size_t total_len;      /* from the IP header (<= buffer length) */
	const uint8_t *l4;     /* transport header */
	size_t l4_len;         /* transport header + payload */
	const uint8_t *payload;
	size_t payload_len;
	uint8_t tcp_flags;
	uint32_t tcp_seq, tcp_ack;
	uint8_t icmp_type, icmp_code;
};

/* Parses and validates one packet. Returns ZT_PKT_OK or the drop reason. */
int zt_pkt_parse(struct zt_pkt *p, const uint8_t *buf, size_t len);
const char *zt_pkt_result_name(int r);

/* Internet checksum of data, continuing from sum (pass 0 to start). */
uint32_t zt_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t zt_csum_fold(uint32_t sum);

/* Builds the RST(+ACK) a closed port would send in reply to the TCP
 * segment p (normally a SYN). Returns the length written or 0 if cap is too
 * small or p is not TCP. */
size_t zt_pkt_build_rst(uint8_t *out, size_t cap, const struct zt_pkt *p);
/* Builds ICMP (v4: type 3 code 13 "administratively prohibited"; v6: type 1
 * code 1) quoting the start of the offending packet orig. */
size_t zt_pkt_build_unreach(uint8_t *out, size_t cap, const struct zt_pkt *p,
			    const uint8_t *orig, size_t orig_len);
/* Builds an IPv4 or IPv6 UDP packet from src to dst (families must match)
 * with correct checksums. */
size_t zt_pkt_build_udp(uint8_t *out, size_t cap, const struct zt_addr *src,
			const struct zt_addr *dst, const uint8_t *payload,
			size_t len);

/* Builds an IPv4 ICMP or IPv6 ICMPv6 packet around msg (type, code, a
 * checksum field that is recomputed, and the rest), e.g. an echo reply. */
size_t zt_pkt_build_icmp(uint8_t *out, size_t cap, const struct zt_addr *src,
			 const struct zt_addr *dst, const uint8_t *msg,
			 size_t len);

#endif
