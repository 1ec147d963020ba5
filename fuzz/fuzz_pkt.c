/* libFuzzer target for the packet parser and builders. Besides "never
 * crash", it abort()s when one of these properties breaks:
 *  - an accepted packet's lengths and pointers lie inside the input, and
 *    cutting off the bytes after its total length changes nothing;
 *  - the RST built for an accepted TCP segment parses, is a RST, swaps
 *    addresses and ports and carries the seq/ack RFC 9293 asks for;
 *  - the ICMP unreachable built for an accepted packet parses and quotes
 *    the start of it;
 *  - a UDP reply to an accepted UDP datagram parses back to the same
 *    payload;
 *  - a packet refused only for its transport checksum is accepted once
 *    that checksum is corrected.
 * Random inputs rarely carry valid checksums, so inputs are also retried
 * with their checksums corrected, which lets mutations reach the deeper
 * paths. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[2048];

static void check_shape(const struct zt_pkt *p, const uint8_t *data,
			size_t size)
{
	struct zt_pkt q;

	if (p->total_len > size || p->ip_hdr_len > p->total_len ||
	    p->l4 != data + p->ip_hdr_len ||
	    p->l4_len != p->total_len - p->ip_hdr_len || p->payload < p->l4 ||
	    p->payload + p->payload_len != p->l4 + p->l4_len)
		abort();
	if (p->src.family != (p->version == 4 ? AF_INET : AF_INET6) ||
	    p->dst.family != p->src.family)
		abort();
	if (zt_pkt_parse(&q, data, p->total_len) != ZT_PKT_OK ||
	    memcmp(&q, p, sizeof(q)) != 0)
		abort();
}

static void check_rst(const struct zt_pkt *p)
{
	size_t n = zt_pkt_build_rst(out, sizeof(out), p);
	uint32_t ack;
	struct zt_pkt r;

	if (p->tcp_flags & ZT_TCP_RST) {
		if (n != 0)
			abort(); /* never answer a RST */
		return;
	}
	if (n != (p->version == 4 ? 40u : 60u))
		abort();
	if (zt_pkt_parse(&r, out, n) != ZT_PKT_OK ||
	    r.proto != ZT_IPPROTO_TCP || !(r.tcp_flags & ZT_TCP_RST) ||
	    memcmp(r.src.ip, p->dst.ip, 16) != 0 ||
	    memcmp(r.dst.ip, p->src.ip, 16) != 0 || r.src.port != p->dst.port ||
	    r.dst.port != p->src.port)
		abort();
	if (p->tcp_flags & ZT_TCP_ACK) {
		if (r.tcp_flags != ZT_TCP_RST || r.tcp_seq != p->tcp_ack)
			abort();
		return;
	}
	ack = p->tcp_seq + (uint32_t)p->payload_len +
	      !!(p->tcp_flags & ZT_TCP_SYN) + !!(p->tcp_flags & ZT_TCP_FIN);
	if (r.tcp_flags != (ZT_TCP_RST | ZT_TCP_ACK) || r.tcp_seq != 0 ||
	    r.tcp_ack != ack)
		abort();
}

static int is_icmp_error(const struct zt_pkt *p)
{
	uint8_t t = p->icmp_type;

	if (p->proto == ZT_IPPROTO_ICMP)
		return t == 3 || t == 4 || t == 5 || t == 11 || t == 12;
	return p->proto == ZT_IPPROTO_ICMPV6 && t < 128;
}

static void check_unreach(const struct zt_pkt *p, const uint8_t *data)
{
	size_t n =
		zt_pkt_build_unreach(out, sizeof(out), p, data, p->total_len);
	size_t min = p->ip_hdr_len + 8;
	struct zt_pkt r;

	if (is_icmp_error(p)) {
		if (n != 0)
			abort();
		return;
	}
	if (zt_pkt_parse(&r, out, n) != ZT_PKT_OK || r.version != p->version ||
	    r.proto !=
		    (p->version == 4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6) ||
	    memcmp(r.src.ip, p->dst.ip, 16) != 0 ||
	    memcmp(r.dst.ip, p->src.ip, 16) != 0)
		abort();
	/* At least the IP header and 8 transport bytes (RFC 792), unless the
	 * error size limit (576 / 1280 bytes) cuts a long header short. */
	if (min > p->total_len)
		min = p->total_len;
	if (min > (p->version == 4 ? 548u : 1232u))
		min = p->version == 4 ? 548u : 1232u;
	if (r.payload_len < min || r.payload_len > p->total_len ||
	    memcmp(r.payload, data, r.payload_len) != 0)
		abort();
}

static void check_udp(const struct zt_pkt *p)
{
	size_t n = zt_pkt_build_udp(out, sizeof(out), &p->dst, &p->src,
				    p->payload, p->payload_len);
	size_t hl = p->version == 4 ? 20 : 40;
	struct zt_pkt r;

	if (hl + 8 + p->payload_len > sizeof(out)) {
		if (n != 0)
			abort();
		return;
	}
	if (n != hl + 8 + p->payload_len ||
	    zt_pkt_parse(&r, out, n) != ZT_PKT_OK ||
	    r.proto != ZT_IPPROTO_UDP || r.src.port != p->dst.port ||
	    r.dst.port != p->src.port || r.payload_len != p->payload_len ||
	    memcmp(r.payload, p->payload, p->payload_len) != 0)
		abort();
}

static void check_ok(const struct zt_pkt *p, const uint8_t *data, size_t size)
{
	check_shape(p, data, size);
	if (p->proto == ZT_IPPROTO_TCP)
		check_rst(p);
	if (p->proto == ZT_IPPROTO_UDP)
		check_udp(p);
	check_unreach(p, data);
}

/* Writes the correct transport checksum of p (parsed from b) into b. */
static void fix_l4_csum(const struct zt_pkt *p, uint8_t *b)
{
	uint8_t *l4 = b + p->ip_hdr_len, ph[8] = { 0 };
	size_t at, alen = p->version == 4 ? 4 : 16;
	uint32_t sum = 0;
	uint16_t c;

	switch (p->proto) {
	case ZT_IPPROTO_TCP: at = 16; break;
	case ZT_IPPROTO_UDP: at = 6; break;
	default: at = 2; break;
	}
	if (p->l4_len < at + 2)
		abort(); /* a checksum was verified, so the header was there */
	l4[at] = l4[at + 1] = 0;
	if (p->proto != ZT_IPPROTO_ICMP) {
		sum = zt_csum_add(0, p->src.ip, alen);
		sum = zt_csum_add(sum, p->dst.ip, alen);
		/* The IPv6 layout (32-bit length, 3 zeros, next header) sums
		 * the same as IPv4's (zero, protocol, 16-bit length). */
		ph[1] = (uint8_t)(p->l4_len >> 16);
		ph[2] = (uint8_t)(p->l4_len >> 8);
		ph[3] = (uint8_t)p->l4_len;
		ph[7] = p->proto;
		sum = zt_csum_add(sum, ph, 8);
	}
	c = zt_csum_fold(zt_csum_add(sum, l4, p->l4_len));
	if (c == 0 && p->proto == ZT_IPPROTO_UDP)
		c = 0xffff;
	l4[at] = (uint8_t)(c >> 8);
	l4[at + 1] = (uint8_t)c;
}

static void retry_fixed(const uint8_t *data, size_t size)
{
	uint8_t *b = malloc(size);
	size_t ihl = (size_t)(data[0] & 0x0f) * 4;
	struct zt_pkt p;
	uint16_t c;
	int rc;

	if (!b)
		return;
	memcpy(b, data, size);
	if (b[0] >> 4 == 4 && ihl >= 20 && ihl <= size) {
		b[10] = b[11] = 0;
		c = zt_csum_fold(zt_csum_add(0, b, ihl));
		b[10] = (uint8_t)(c >> 8);
		b[11] = (uint8_t)c;
	}
	rc = zt_pkt_parse(&p, b, size);
	if (rc == ZT_PKT_BADCSUM) {
		fix_l4_csum(&p, b);
		rc = zt_pkt_parse(&p, b, size);
		if (rc != ZT_PKT_OK)
			abort();
	}
	if (rc == ZT_PKT_OK)
		check_ok(&p, b, size);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_pkt p;
	int rc = zt_pkt_parse(&p, data, size);

	if (rc < 0 || rc >= ZT_PKT_NRESULTS)
		abort();
	if (rc == ZT_PKT_OK)
		check_ok(&p, data, size);
	else if (size > 0)
		retry_fixed(data, size);
	return 0;
}
