/* IP packet parsing and building. The parser trusts nothing: every length
 * is checked against both the buffer and the enclosing header before a byte
 * is read, and every checksum is verified, so that what the policy code sees
 * (addresses, ports, flags) is exactly what the destination stack would
 * see. Unusual but legal constructs the agent has no use for (fragments,
 * jumbograms, unknown extension headers) are refused rather than guessed. */
#include "pkt.h"

#include <string.h>
#include <sys/socket.h>

#define V4_HDR_LEN 20
#define V6_HDR_LEN 40
#define TCP_HDR_LEN 20
#define UDP_HDR_LEN 8
#define ICMP_HDR_LEN 8
#define IP_TTL 64

#define V4_DF 0x4000
#define V4_MF 0x2000
#define V4_OFFMASK 0x1fff

#define V6_HOPOPTS 0
#define V6_ROUTING 43
#define V6_FRAGMENT 44
#define V6_DSTOPTS 60
/* More extension headers than any sane sender uses; bounds the walk. */
#define V6_MAX_EXT 8

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMP_UNREACH 3
#define ICMP_UNREACH_ADMIN 13
#define ICMP6_UNREACH 1
#define ICMP6_UNREACH_ADMIN 1
#define ICMP6_ECHO 128
#define ICMP6_ECHOREPLY 129
/* RFC 1812 4.3.2.3: an ICMPv4 error should not exceed 576 bytes; RFC 4443
 * 2.4(c): an ICMPv6 error must not exceed the minimum MTU. */
#define V4_ERR_MAX 576
#define V6_ERR_MAX 1280

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

uint32_t zt_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *b = data;
	uint64_t s = sum; /* 64 bits cannot overflow for any buffer we see */
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += get16(b + i);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	/* Fold the carries back in so that the returned partial sum stays
	 * small whatever the caller chains. */
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint16_t zt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the TCP/UDP/ICMPv6 pseudo-header (RFC 793 / RFC 8200 8.1). */
static uint32_t pseudo_sum(const struct zt_addr *src, const struct zt_addr *dst,
			   uint8_t proto, size_t l4_len)
{
	uint8_t tail[8] = { 0 };
	size_t alen = src->family == AF_INET ? 4 : 16;
	uint32_t sum;

	sum = zt_csum_add(0, src->ip, alen);
	sum = zt_csum_add(sum, dst->ip, alen);
	if (src->family == AF_INET) {
		tail[1] = proto;
		put16(tail + 2, (uint16_t)l4_len);
		return zt_csum_add(sum, tail, 4);
	}
	put32(tail, (uint32_t)l4_len);
	tail[7] = proto;
	return zt_csum_add(sum, tail, 8);
}

/* The checksum field inside l4 is included, so a correct one folds to 0. */
static int l4_csum_ok(const struct zt_pkt *p, int with_pseudo)
{
	uint32_t sum = 0;

	if (with_pseudo)
		sum = pseudo_sum(&p->src, &p->dst, p->proto, p->l4_len);
	return zt_csum_fold(zt_csum_add(sum, p->l4, p->l4_len)) == 0;
}

/* IPv4 and TCP share the option format: kinds 0 (end of list) and 1 (no-op)
 * are one byte, every other option is kind, length (>= 2), data. An option
 * that claims to run past the header would make the receiver read the
 * payload as options, so it is refused. */
static int options_ok(const uint8_t *o, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (o[i] == 0)
			return 1; /* the rest is padding */
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (len - i < 2 || o[i + 1] < 2 || o[i + 1] > len - i)
			return 0;
		i += o[i + 1];
	}
	return 1;
}

static void set_addr(struct zt_addr *a, int family, const uint8_t *ip)
{
	a->family = (uint8_t)family;
	memcpy(a->ip, ip, family == AF_INET ? 4 : 16);
}

static int parse_v4(struct zt_pkt *p, const uint8_t *buf, size_t len)
{
	size_t ihl, tot;
	uint16_t frag;

	if (len < V4_HDR_LEN)
		return ZT_PKT_TRUNC;
	set_addr(&p->src, AF_INET, buf + 12);
	set_addr(&p->dst, AF_INET, buf + 16);
	p->proto = buf[9];
	ihl = (size_t)(buf[0] & 0x0f) * 4;
	tot = get16(buf + 2);
	if (ihl < V4_HDR_LEN)
		return ZT_PKT_BADHDR;
	if (ihl > len || tot > len)
		return ZT_PKT_TRUNC;
	if (tot < ihl)
		return ZT_PKT_BADHDR;
	p->ip_hdr_len = ihl;
	p->total_len = tot;
	p->l4 = buf + ihl;
	p->l4_len = tot - ihl;
	if (zt_csum_fold(zt_csum_add(0, buf, ihl)) != 0)
		return ZT_PKT_BADCSUM;
	if (!options_ok(buf + V4_HDR_LEN, ihl - V4_HDR_LEN))
		return ZT_PKT_BADHDR;
	frag = get16(buf + 6);
	if (frag & (V4_MF | V4_OFFMASK))
		return ZT_PKT_FRAGMENT;
	return ZT_PKT_OK;
}

static int is_v6_ext(uint8_t nh)
{
	return nh == V6_HOPOPTS || nh == V6_ROUTING || nh == V6_FRAGMENT ||
	       nh == V6_DSTOPTS;
}

/* Walks the extension headers between the fixed header and the transport
 * header; p->total_len is set. Leaves p->proto at the final next header. */
static int walk_v6_ext(struct zt_pkt *p, const uint8_t *buf)
{
	size_t off = V6_HDR_LEN, hlen;
	uint8_t nh = buf[6];
	int n;

	for (n = 0; is_v6_ext(nh); n++) {
		p->proto = nh;
		if (n == V6_MAX_EXT)
			return ZT_PKT_BADHDR;
		if (nh == V6_FRAGMENT)
			return ZT_PKT_FRAGMENT;
		/* RFC 8200 4.3: Hop-by-Hop only directly after the header. */
		if (nh == V6_HOPOPTS && n != 0)
			return ZT_PKT_BADHDR;
		if (p->total_len - off < 8)
			return ZT_PKT_BADHDR;
		hlen = ((size_t)buf[off + 1] + 1) * 8;
		if (p->total_len - off < hlen)
			return ZT_PKT_BADHDR;
		nh = buf[off];
		off += hlen;
	}
	p->proto = nh;
	p->ip_hdr_len = off;
	p->l4 = buf + off;
	p->l4_len = p->total_len - off;
	return ZT_PKT_OK;
}

static int parse_v6(struct zt_pkt *p, const uint8_t *buf, size_t len)
{
	size_t plen;

	if (len < V6_HDR_LEN)
		return ZT_PKT_TRUNC;
	set_addr(&p->src, AF_INET6, buf + 8);
	set_addr(&p->dst, AF_INET6, buf + 24);
	p->proto = buf[6];
	plen = get16(buf + 4);
	if (plen == 0)
		return ZT_PKT_BADHDR; /* jumbogram, or nothing at all */
	if (plen > len - V6_HDR_LEN)
		return ZT_PKT_TRUNC;
	p->total_len = V6_HDR_LEN + plen;
	return walk_v6_ext(p, buf);
}

static int parse_tcp(struct zt_pkt *p)
{
	const uint8_t *t = p->l4;
	size_t doff;

	if (p->l4_len < TCP_HDR_LEN)
		return ZT_PKT_TRUNC;
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HDR_LEN || doff > p->l4_len)
		return ZT_PKT_BADHDR;
	if (!options_ok(t + TCP_HDR_LEN, doff - TCP_HDR_LEN))
		return ZT_PKT_BADHDR;
	if (!l4_csum_ok(p, 1))
		return ZT_PKT_BADCSUM;
	p->src.port = get16(t);
	p->dst.port = get16(t + 2);
	p->tcp_seq = get32(t + 4);
	p->tcp_ack = get32(t + 8);
	p->tcp_flags = t[13];
	p->payload = t + doff;
	p->payload_len = p->l4_len - doff;
	return ZT_PKT_OK;
}

static int parse_udp(struct zt_pkt *p)
{
	const uint8_t *u = p->l4;

	if (p->l4_len < UDP_HDR_LEN)
		return ZT_PKT_TRUNC;
	/* A UDP length that disagrees with the IP length is ambiguous: two
	 * stacks could deliver different payloads. */
	if (get16(u + 4) != p->l4_len)
		return ZT_PKT_BADHDR;
	/* Checksum 0 means "none", allowed for IPv4 only (RFC 8200 8.1). */
	if (get16(u + 6) == 0) {
		if (p->version == 6)
			return ZT_PKT_BADCSUM;
	} else if (!l4_csum_ok(p, 1)) {
		return ZT_PKT_BADCSUM;
	}
	p->src.port = get16(u);
	p->dst.port = get16(u + 2);
	p->payload = u + UDP_HDR_LEN;
	p->payload_len = p->l4_len - UDP_HDR_LEN;
	return ZT_PKT_OK;
}

/* ICMP and ICMPv6 differ only in the pseudo-header and the echo types. */
static int parse_icmp(struct zt_pkt *p)
{
	const uint8_t *c = p->l4;
	int v6 = p->version == 6;

	if (p->l4_len < ICMP_HDR_LEN)
		return ZT_PKT_TRUNC;
	if (!l4_csum_ok(p, v6))
		return ZT_PKT_BADCSUM;
	p->icmp_type = c[0];
	p->icmp_code = c[1];
	/* The echo identifier plays the role of a port for flow tracking. */
	if (v6 ? c[0] == ICMP6_ECHO || c[0] == ICMP6_ECHOREPLY :
		 c[0] == ICMP_ECHO || c[0] == ICMP_ECHOREPLY)
		p->src.port = get16(c + 4);
	p->payload = c + ICMP_HDR_LEN;
	p->payload_len = p->l4_len - ICMP_HDR_LEN;
	return ZT_PKT_OK;
}

int zt_pkt_parse(struct zt_pkt *p, const uint8_t *buf, size_t len)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if (len < 1)
		return ZT_PKT_TRUNC;
	p->version = buf[0] >> 4;
	if (p->version == 4)
		rc = parse_v4(p, buf, len);
	else if (p->version == 6)
		rc = parse_v6(p, buf, len);
	else
		rc = ZT_PKT_BADVER;
	if (rc != ZT_PKT_OK)
		return rc;
	switch (p->proto) {
	case ZT_IPPROTO_TCP: return parse_tcp(p);
	case ZT_IPPROTO_UDP: return parse_udp(p);
	case ZT_IPPROTO_ICMP:
		return p->version == 4 ? parse_icmp(p) : ZT_PKT_UNSUPPORTED;
	case ZT_IPPROTO_ICMPV6:
		return p->version == 6 ? parse_icmp(p) : ZT_PKT_UNSUPPORTED;
	default: return ZT_PKT_UNSUPPORTED;
	}
}

const char *zt_pkt_result_name(int r)
{
	switch (r) {
	case ZT_PKT_OK: return "ok";
	case ZT_PKT_TRUNC: return "truncated";
	case ZT_PKT_BADVER: return "bad-version";
	case ZT_PKT_BADHDR: return "bad-header";
	case ZT_PKT_BADCSUM: return "bad-checksum";
	case ZT_PKT_FRAGMENT: return "fragment";
	case ZT_PKT_UNSUPPORTED: return "unsupported";
	default: return "unknown";
	}
}

/* ---- building ---------------------------------------------------------- */

static size_t ip_hdr_len(const struct zt_addr *a)
{
	return a->family == AF_INET ? V4_HDR_LEN : V6_HDR_LEN;
}

static int addrs_ok(const struct zt_addr *src, const struct zt_addr *dst)
{
	return src->family == dst->family &&
	       (src->family == AF_INET || src->family == AF_INET6);
}

/* Writes the IP header for l4_len bytes of transport data; returns its
 * length. IPv4 packets get DF and id 0: they are small and never
 * fragmented, and RFC 6864 lets atomic datagrams use any id. */
static size_t put_ip(uint8_t *out, const struct zt_addr *src,
		     const struct zt_addr *dst, uint8_t proto, size_t l4_len)
{
	if (src->family == AF_INET) {
		memset(out, 0, V4_HDR_LEN);
		out[0] = 0x45;
		put16(out + 2, (uint16_t)(V4_HDR_LEN + l4_len));
		put16(out + 6, V4_DF);
		out[8] = IP_TTL;
		out[9] = proto;
		memcpy(out + 12, src->ip, 4);
		memcpy(out + 16, dst->ip, 4);
		put16(out + 10, zt_csum_fold(zt_csum_add(0, out, V4_HDR_LEN)));
		return V4_HDR_LEN;
	}
	memset(out, 0, V6_HDR_LEN);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)l4_len);
	out[6] = proto;
	out[7] = IP_TTL;
	memcpy(out + 8, src->ip, 16);
	memcpy(out + 24, dst->ip, 16);
	return V6_HDR_LEN;
}

/* Fills the checksum at l4 + at; the field must be zero on entry. */
static void put_l4_csum(uint8_t *l4, size_t len, size_t at,
			const struct zt_addr *src, const struct zt_addr *dst,
			uint8_t proto, int with_pseudo)
{
	uint32_t sum = with_pseudo ? pseudo_sum(src, dst, proto, len) : 0;

	put16(l4 + at, zt_csum_fold(zt_csum_add(sum, l4, len)));
}

size_t zt_pkt_build_rst(uint8_t *out, size_t cap, const struct zt_pkt *p)
{
	size_t hl, total;
	uint8_t *t;

	if (p->proto != ZT_IPPROTO_TCP || !addrs_ok(&p->src, &p->dst) ||
	    p->version != (p->src.family == AF_INET ? 4 : 6))
		return 0;
	/* RFC 9293 3.10.7.1: a RST is never answered, or two closed ports
	 * would bounce RSTs at each other forever. */
	if (p->tcp_flags & ZT_TCP_RST)
		return 0;
	hl = ip_hdr_len(&p->src);
	total = hl + TCP_HDR_LEN;
	if (cap < total)
		return 0;
	put_ip(out, &p->dst, &p->src, ZT_IPPROTO_TCP, TCP_HDR_LEN);
	t = out + hl;
	memset(t, 0, TCP_HDR_LEN);
	put16(t, p->dst.port);
	put16(t + 2, p->src.port);
	/* RFC 9293 3.5.2: take the sequence number the peer expects if it
	 * sent one, else acknowledge everything the segment occupied. */
	if (p->tcp_flags & ZT_TCP_ACK) {
		put32(t + 4, p->tcp_ack);
		t[13] = ZT_TCP_RST;
	} else {
		put32(t + 8, p->tcp_seq + (uint32_t)p->payload_len +
				     !!(p->tcp_flags & ZT_TCP_SYN) +
				     !!(p->tcp_flags & ZT_TCP_FIN));
		t[13] = ZT_TCP_RST | ZT_TCP_ACK;
	}
	t[12] = (TCP_HDR_LEN / 4) << 4;
	put_l4_csum(t, TCP_HDR_LEN, 16, &p->dst, &p->src, ZT_IPPROTO_TCP, 1);
	return total;
}

/* RFC 1122 3.2.2 / RFC 4443 2.4(e): never send an error about an error. */
static int is_icmp_error(const struct zt_pkt *p)
{
	uint8_t t = p->icmp_type;

	if (p->version == 4 && p->proto == ZT_IPPROTO_ICMP)
		return t == 3 || t == 4 || t == 5 || t == 11 || t == 12;
	if (p->version == 6 && p->proto == ZT_IPPROTO_ICMPV6)
		return p->icmp_type < 128;
	return 0;
}

size_t zt_pkt_build_unreach(uint8_t *out, size_t cap, const struct zt_pkt *p,
			    const uint8_t *orig, size_t orig_len)
{
	int v4 = p->src.family == AF_INET;
	size_t hl, q, total;
	uint8_t *c;

	if (!addrs_ok(&p->src, &p->dst) || p->version != (v4 ? 4 : 6) ||
	    is_icmp_error(p))
		return 0;
	hl = ip_hdr_len(&p->src);
	/* Quote the whole original (not trailing link padding) as far as the
	 * error size limit allows; that always covers the IP header and the
	 * first 8 transport bytes RFC 792 asks for. */
	q = orig_len;
	if (p->total_len && p->total_len < q)
		q = p->total_len;
	if (q > (v4 ? V4_ERR_MAX : V6_ERR_MAX) - hl - ICMP_HDR_LEN)
		q = (v4 ? V4_ERR_MAX : V6_ERR_MAX) - hl - ICMP_HDR_LEN;
	total = hl + ICMP_HDR_LEN + q;
	if (cap < total)
		return 0;
	put_ip(out, &p->dst, &p->src, v4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6,
	       ICMP_HDR_LEN + q);
	c = out + hl;
	memset(c, 0, ICMP_HDR_LEN);
	c[0] = v4 ? ICMP_UNREACH : ICMP6_UNREACH;
	c[1] = v4 ? ICMP_UNREACH_ADMIN : ICMP6_UNREACH_ADMIN;
	if (q)
		memcpy(c + ICMP_HDR_LEN, orig, q);
	put_l4_csum(c, ICMP_HDR_LEN + q, 2, &p->dst, &p->src,
		    v4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6, !v4);
	return total;
}

size_t zt_pkt_build_udp(uint8_t *out, size_t cap, const struct zt_addr *src,
			const struct zt_addr *dst, const uint8_t *payload,
			size_t len)
{
	size_t hl, ulen, total;
	uint8_t *u;

	if (!addrs_ok(src, dst))
		return 0;
	hl = ip_hdr_len(src);
	ulen = UDP_HDR_LEN + len;
	/* Both the UDP length and the IPv4 total length are 16 bits. */
	if (len > 0xffff - UDP_HDR_LEN - (src->family == AF_INET ? hl : 0))
		return 0;
	total = hl + ulen;
	if (cap < total)
		return 0;
	put_ip(out, src, dst, ZT_IPPROTO_UDP, ulen);
	u = out + hl;
	put16(u, src->port);
	put16(u + 2, dst->port);
	put16(u + 4, (uint16_t)ulen);
	put16(u + 6, 0);
	if (len)
		memcpy(u + UDP_HDR_LEN, payload, len);
	put_l4_csum(u, ulen, 6, src, dst, ZT_IPPROTO_UDP, 1);
	/* 0 on the wire means "no checksum" (and is invalid over IPv6), so
	 * a computed 0 goes out as its one's complement twin 0xffff. */
	if (get16(u + 6) == 0)
		put16(u + 6, 0xffff);
	return total;
}

size_t zt_pkt_build_icmp(uint8_t *out, size_t cap, const struct zt_addr *src,
			 const struct zt_addr *dst, const uint8_t *msg,
			 size_t len)
{
	size_t hl, total;
	int v6;
	uint8_t *m;

	if (!addrs_ok(src, dst) || len < 8)
		return 0;
	v6 = src->family == AF_INET6;
	hl = ip_hdr_len(src);
	if (len > 0xffff - (v6 ? 0 : hl))
		return 0;
	total = hl + len;
	if (cap < total)
		return 0;
	put_ip(out, src, dst, v6 ? ZT_IPPROTO_ICMPV6 : ZT_IPPROTO_ICMP, len);
	m = out + hl;
	memcpy(m, msg, len);
	put16(m + 2, 0);
	/* ICMPv4 sums the message only; ICMPv6 adds the pseudo-header. */
	put_l4_csum(m, len, 2, src, dst, v6 ? ZT_IPPROTO_ICMPV6 : ZT_IPPROTO_ICMP,
		    v6);
	return total;
}
