/* Packet parser and builders. Packets are made by a small independent
 * writer below, with its own checksum code, so that a bug shared by the
 * parser and the builders cannot hide itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pkt.h"

/* ---- hand-built packets ------------------------------------------------ */

#define CAP 4096

static const uint8_t SRC4[4] = { 10, 0, 0, 1 };
static const uint8_t DST4[4] = { 192, 0, 2, 7 };
static const uint8_t SRC6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0,
				  0,    0, 0, 0, 0, 0, 0, 1 };
static const uint8_t DST6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,
				  0,    0,    0,    0,    0, 0, 0xab, 7 };

struct pk {
	uint8_t b[CAP];
	size_t len;
	size_t l4; /* offset of the transport header */
	int v6;
	uint8_t proto; /* final next header, for the pseudo-header */
};

static void w16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, v >> 16);
	w16(p + 2, v & 0xffff);
}

static uint16_t r16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t r32(const uint8_t *p)
{
	return (uint32_t)r16(p) << 16 | r16(p + 2);
}

/* Deliberately naive: byte at an even index is the high half. */
static uint32_t t_sum(uint32_t s, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		s += (i & 1) ? b[i] : (uint32_t)b[i] << 8;
	return s;
}

static uint16_t t_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void ip4(struct pk *k, uint8_t proto, const uint8_t *opt, size_t n)
{
	memset(k, 0, sizeof(*k));
	k->b[0] = (uint8_t)(0x40 | (20 + n) / 4);
	k->b[8] = 64;
	k->b[9] = proto;
	memcpy(k->b + 12, SRC4, 4);
	memcpy(k->b + 16, DST4, 4);
	if (n)
		memcpy(k->b + 20, opt, n);
	k->l4 = k->len = 20 + n;
	k->proto = proto;
}

/* ext: raw extension headers (their next-header bytes set by the caller),
 * first: the next header of the fixed header. */
static void ip6(struct pk *k, uint8_t first, const uint8_t *ext, size_t n,
		uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	k->b[0] = 0x60;
	k->b[6] = first;
	k->b[7] = 64;
	memcpy(k->b + 8, SRC6, 16);
	memcpy(k->b + 24, DST6, 16);
	if (n)
		memcpy(k->b + 40, ext, n);
	k->l4 = k->len = 40 + n;
	k->v6 = 1;
	k->proto = proto;
}

static void refix_v4(struct pk *k)
{
	size_t ihl = (size_t)(k->b[0] & 0xf) * 4;

	w16(k->b + 10, 0);
	w16(k->b + 10, t_fold(t_sum(0, k->b, ihl)));
}

/* Sets the IP lengths and every checksum. */
static void finish(struct pk *k)
{
	uint8_t *l4 = k->b + k->l4;
	size_t n = k->len - k->l4, at;
	uint8_t ph[40] = { 0 };
	uint32_t s = 0;

	if (k->v6) {
		w16(k->b + 4, (uint32_t)(k->len - 40));
		memcpy(ph, k->b + 8, 32);
		w32(ph + 32, (uint32_t)n);
		ph[39] = k->proto;
		s = t_sum(0, ph, 40);
	} else {
		w16(k->b + 2, (uint32_t)k->len);
		refix_v4(k);
		memcpy(ph, k->b + 12, 8);
		ph[9] = k->proto;
		w16(ph + 10, (uint32_t)n);
		if (k->proto != ZT_IPPROTO_ICMP)
			s = t_sum(0, ph, 12);
	}
	switch (k->proto) {
	case ZT_IPPROTO_TCP: at = 16; break;
	case ZT_IPPROTO_UDP:
		at = 6;
		w16(l4 + 4, (uint32_t)n);
		break;
	default: at = 2; break;
	}
	w16(l4 + at, 0);
	w16(l4 + at, t_fold(t_sum(s, l4, n)));
}

static void tcp(struct pk *k, uint32_t seq, uint32_t ack, uint8_t flags,
		const uint8_t *opt, size_t optlen, const char *data)
{
	uint8_t *t = k->b + k->len;
	size_t dlen = strlen(data);

	memset(t, 0, 20);
	w16(t, 40000);
	w16(t + 2, 443);
	w32(t + 4, seq);
	w32(t + 8, ack);
	t[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	t[13] = flags;
	w16(t + 14, 65535);
	if (optlen)
		memcpy(t + 20, opt, optlen);
	memcpy(t + 20 + optlen, data, dlen);
	k->len += 20 + optlen + dlen;
	finish(k);
}

static void udp(struct pk *k, const void *data, size_t n)
{
	uint8_t *u = k->b + k->len;

	w16(u, 5353);
	w16(u + 2, 53);
	if (n)
		memcpy(u + 8, data, n);
	k->len += 8 + n;
	finish(k);
}

static void icmp(struct pk *k, uint8_t type, uint16_t id, size_t n)
{
	uint8_t *c = k->b + k->len;

	memset(c, 0, 8 + n);
	c[0] = type;
	w16(c + 4, id);
	w16(c + 6, 1);
	memset(c + 8, 0x5a, n);
	k->len += 8 + n;
	finish(k);
}

/* Parses a copy in a buffer of exactly n bytes, so that ASan sees any read
 * past the end. Only the result is meaningful afterwards. */
static int parse_exact(const uint8_t *b, size_t n)
{
	struct zt_pkt p;
	uint8_t *c = malloc(n ? n : 1);
	int rc;

	assert_non_null(c);
	memcpy(c, b, n);
	rc = zt_pkt_parse(&p, c, n);
	free(c);
	return rc;
}

static int parse_k(struct pk *k)
{
	return parse_exact(k->b, k->len);
}

static const uint8_t MSS[] = { 2, 4, 0x05, 0xb4, 1, 1, 4, 2 }; /* +SACKOK */

static void mk_v4_syn(struct pk *k)
{
	ip4(k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(k, 1000, 0, ZT_TCP_SYN, MSS, sizeof(MSS), "");
}

static void mk_v6_syn(struct pk *k)
{
	ip6(k, ZT_IPPROTO_TCP, NULL, 0, ZT_IPPROTO_TCP);
	tcp(k, 0xffffffffu, 0, ZT_TCP_SYN, MSS, sizeof(MSS), "");
}

/* ---- checksum ---------------------------------------------------------- */

static void test_csum(void **state)
{
	/* RFC 1071 section 3 example: sum ddf2 (carries folded). */
	static const uint8_t ex[] = { 0x00, 0x01, 0xf2, 0x03,
				      0xf4, 0xf5, 0xf6, 0xf7 };
	static const uint8_t odd[] = { 0x12, 0x34, 0x56 };
	uint8_t big[3000];
	uint32_t s;

	assert_int_equal(zt_csum_fold(zt_csum_add(0, ex, 8)), 0xffff - 0xddf2);
	/* Chaining even-length pieces equals one pass. */
	s = zt_csum_add(zt_csum_add(0, ex, 4), ex + 4, 4);
	assert_int_equal(zt_csum_fold(s), 0xffff - 0xddf2);
	/* The odd last byte is the high half of a zero-padded word. */
	assert_int_equal(zt_csum_fold(zt_csum_add(0, odd, 3)),
			 (uint16_t) ~(0x1234 + 0x5600));
	assert_int_equal(zt_csum_fold(0), 0xffff);
	assert_int_equal(zt_csum_fold(0x1fffe), 0);
	memset(big, 0xff, sizeof(big));
	assert_int_equal(zt_csum_fold(zt_csum_add(0, big, sizeof(big))),
			 t_fold(t_sum(0, big, sizeof(big))));
	memset(big, 0xa7, sizeof(big));
	assert_int_equal(zt_csum_fold(zt_csum_add(0, big, 2999)),
			 t_fold(t_sum(0, big, 2999)));
}

/* ---- valid packets ----------------------------------------------------- */

static void test_v4_tcp(void **state)
{
	struct pk k;
	struct zt_pkt p;

	ip4(&k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(&k, 0x01020304, 0xa0b0c0d0, ZT_TCP_ACK | ZT_TCP_PSH, MSS,
	    sizeof(MSS), "hello");
	assert_int_equal(parse_k(&k), ZT_PKT_OK);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.version, 4);
	assert_int_equal(p.proto, ZT_IPPROTO_TCP);
	assert_int_equal(p.src.family, AF_INET);
	assert_int_equal(p.dst.family, AF_INET);
	assert_memory_equal(p.src.ip, SRC4, 4);
	assert_memory_equal(p.dst.ip, DST4, 4);
	assert_int_equal(p.src.port, 40000);
	assert_int_equal(p.dst.port, 443);
	assert_int_equal(p.ip_hdr_len, 20);
	assert_int_equal(p.total_len, 20 + 28 + 5);
	assert_ptr_equal(p.l4, k.b + 20);
	assert_int_equal(p.l4_len, 33);
	assert_ptr_equal(p.payload, k.b + 48);
	assert_int_equal(p.payload_len, 5);
	assert_memory_equal(p.payload, "hello", 5);
	assert_int_equal(p.tcp_flags, ZT_TCP_ACK | ZT_TCP_PSH);
	assert_int_equal(p.tcp_seq, 0x01020304);
	assert_int_equal(p.tcp_ack, 0xa0b0c0d0);
}

static void test_v4_udp(void **state)
{
	struct pk k;
	struct zt_pkt p;

	ip4(&k, ZT_IPPROTO_UDP, NULL, 0);
	udp(&k, "dnsq!", 5); /* odd length: checksum pads */
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.proto, ZT_IPPROTO_UDP);
	assert_int_equal(p.src.port, 5353);
	assert_int_equal(p.dst.port, 53);
	assert_int_equal(p.payload_len, 5);
	assert_memory_equal(p.payload, "dnsq!", 5);
	/* Trailing bytes beyond the total length (link padding) are
	 * ignored, and the lengths still come from the header. */
	memset(k.b + k.len, 0xee, 7);
	assert_int_equal(parse_exact(k.b, k.len + 7), ZT_PKT_OK);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len + 7), ZT_PKT_OK);
	assert_int_equal(p.total_len, k.len);
	assert_int_equal(p.payload_len, 5);
	/* IPv4 may go without a UDP checksum. */
	w16(k.b + 26, 0);
	assert_int_equal(parse_k(&k), ZT_PKT_OK);
}

static void test_v4_icmp(void **state)
{
	struct pk k;
	struct zt_pkt p;

	ip4(&k, ZT_IPPROTO_ICMP, NULL, 0);
	icmp(&k, 8, 0x4242, 56);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.proto, ZT_IPPROTO_ICMP);
	assert_int_equal(p.icmp_type, 8);
	assert_int_equal(p.icmp_code, 0);
	assert_int_equal(p.src.port, 0x4242);
	assert_int_equal(p.dst.port, 0);
	assert_int_equal(p.payload_len, 56);
	/* Not an echo: the identifier field means nothing. */
	ip4(&k, ZT_IPPROTO_ICMP, NULL, 0);
	icmp(&k, 11, 0x4242, 28);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.icmp_type, 11);
	assert_int_equal(p.src.port, 0);
}

static void test_v4_options(void **state)
{
	/* NOP, timestamp-like TLV, EOL, padding junk after EOL. */
	static const uint8_t opt[] = { 1, 68, 6,    0,    0,    0,
				       0, 0,  0xff, 0xff, 0xff, 0xff };
	struct pk k;
	struct zt_pkt p;

	ip4(&k, ZT_IPPROTO_UDP, opt, sizeof(opt));
	udp(&k, "x", 1);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.ip_hdr_len, 32);
	assert_ptr_equal(p.l4, k.b + 32);
	assert_int_equal(p.src.port, 5353);
}

static void test_v6_tcp(void **state)
{
	struct pk k;
	struct zt_pkt p;

	mk_v6_syn(&k);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.version, 6);
	assert_int_equal(p.proto, ZT_IPPROTO_TCP);
	assert_int_equal(p.src.family, AF_INET6);
	assert_int_equal(p.dst.family, AF_INET6);
	assert_memory_equal(p.src.ip, SRC6, 16);
	assert_memory_equal(p.dst.ip, DST6, 16);
	assert_int_equal(p.src.port, 40000);
	assert_int_equal(p.dst.port, 443);
	assert_int_equal(p.ip_hdr_len, 40);
	assert_int_equal(p.total_len, 68);
	assert_int_equal(p.l4_len, 28);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(p.tcp_flags, ZT_TCP_SYN);
	assert_int_equal(p.tcp_seq, 0xffffffffu);
}

static void test_v6_udp_ext(void **state)
{
	/* Hop-by-hop (PadN), routing (type 4, 0 segments left), then
	 * destination options (16 bytes), then UDP. */
	uint8_t ext[8 + 8 + 16] = { 0 };
	struct pk k;
	struct zt_pkt p;

	ext[0] = 43, ext[1] = 0, ext[2] = 1, ext[3] = 4;
	ext[8] = 60, ext[9] = 0, ext[10] = 4;
	ext[16] = ZT_IPPROTO_UDP, ext[17] = 1, ext[18] = 1, ext[19] = 12;
	ip6(&k, 0, ext, sizeof(ext), ZT_IPPROTO_UDP);
	udp(&k, "abc", 3);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.proto, ZT_IPPROTO_UDP);
	assert_int_equal(p.ip_hdr_len, 72);
	assert_ptr_equal(p.l4, k.b + 72);
	assert_int_equal(p.l4_len, 11);
	assert_int_equal(p.total_len, 83);
	assert_int_equal(p.src.port, 5353);
	assert_memory_equal(p.payload, "abc", 3);
	/* IPv6 requires the UDP checksum. */
	w16(k.b + 72 + 6, 0);
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
}

static void test_v6_icmp(void **state)
{
	struct pk k;
	struct zt_pkt p;

	ip6(&k, ZT_IPPROTO_ICMPV6, NULL, 0, ZT_IPPROTO_ICMPV6);
	icmp(&k, 129, 0x7777, 9);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(p.proto, ZT_IPPROTO_ICMPV6);
	assert_int_equal(p.icmp_type, 129);
	assert_int_equal(p.src.port, 0x7777);
	assert_int_equal(p.dst.port, 0);
	assert_int_equal(p.payload_len, 9);
	/* ICMPv6 is covered by the pseudo-header: a checksum computed
	 * without it (ICMPv4 style) must fail. */
	w16(k.b + 42, 0);
	w16(k.b + 42, t_fold(t_sum(0, k.b + 40, 17)));
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
}

/* ---- drop reasons ------------------------------------------------------ */

static void check_prefixes(struct pk *k)
{
	size_t n;

	for (n = 0; n < k->len; n++)
		assert_int_equal(parse_exact(k->b, n), ZT_PKT_TRUNC);
	assert_int_equal(parse_exact(k->b, k->len), ZT_PKT_OK);
}

static void test_truncated(void **state)
{
	uint8_t ext[8] = { ZT_IPPROTO_UDP, 0, 1, 4 };
	struct pk k;

	mk_v4_syn(&k);
	check_prefixes(&k);
	ip4(&k, ZT_IPPROTO_ICMP, NULL, 0);
	icmp(&k, 0, 1, 3);
	check_prefixes(&k);
	mk_v6_syn(&k);
	check_prefixes(&k);
	ip6(&k, 0, ext, sizeof(ext), ZT_IPPROTO_UDP);
	udp(&k, "q", 1);
	check_prefixes(&k);
}

static void test_bad_csum(void **state)
{
	struct pk k;

	mk_v4_syn(&k);
	k.b[8]--; /* TTL, header checksum not updated */
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	mk_v4_syn(&k);
	k.b[20 + 4] ^= 0x01; /* sequence number */
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	mk_v4_syn(&k);
	k.b[15] ^= 0x01; /* IP address: the TCP pseudo-header changes */
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	ip4(&k, ZT_IPPROTO_UDP, NULL, 0);
	udp(&k, "abcd", 4);
	k.b[k.len - 1] ^= 0x80;
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	ip4(&k, ZT_IPPROTO_ICMP, NULL, 0);
	icmp(&k, 8, 9, 4);
	k.b[k.len - 1] ^= 0x80;
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	mk_v6_syn(&k);
	k.b[40 + 13] = ZT_TCP_SYN | ZT_TCP_ACK;
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	ip6(&k, ZT_IPPROTO_UDP, NULL, 0, ZT_IPPROTO_UDP);
	udp(&k, "abcd", 4);
	k.b[9] ^= 0x01; /* source address */
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	ip6(&k, ZT_IPPROTO_ICMPV6, NULL, 0, ZT_IPPROTO_ICMPV6);
	icmp(&k, 128, 9, 4);
	k.b[40] = 129;
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
}

static void test_bad_ihl_len(void **state)
{
	struct pk k;

	mk_v4_syn(&k);
	k.b[0] = 0x44; /* IHL 4 */
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	mk_v4_syn(&k);
	k.b[0] = 0x4f; /* 60 bytes: inside the buffer, beyond total_len */
	w16(k.b + 2, 40);
	refix_v4(&k);
	assert_int_equal(parse_exact(k.b, 60), ZT_PKT_BADHDR);
	assert_int_equal(parse_exact(k.b, 50), ZT_PKT_TRUNC);
	mk_v4_syn(&k);
	w16(k.b + 2, (uint32_t)k.len + 1); /* total_len > buffer */
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_TRUNC);
	mk_v4_syn(&k);
	w16(k.b + 2, 19);
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	mk_v4_syn(&k);
	k.b[0] = 0x55;
	assert_int_equal(parse_k(&k), ZT_PKT_BADVER);
	mk_v6_syn(&k);
	w16(k.b + 4, 0); /* jumbogram */
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
}

static void test_options_overrun(void **state)
{
	static const uint8_t o1[] = { 1, 7, 12, 4 }; /* claims 12 of 3 */
	static const uint8_t o2[] = { 1, 1, 1, 7 };  /* no length byte */
	static const uint8_t o3[] = { 7, 1, 0, 0 };  /* length < 2 */
	static const uint8_t o4[] = { 7, 4, 0, 0 };  /* fits exactly: ok */
	static const uint8_t o5[] = { 1, 1, 7, 3 };  /* one byte too long */
	static const uint8_t t1[] = { 1, 2, 6, 5 };
	static const uint8_t t2[] = { 8, 0, 0, 0 };
	struct pk k;

	ip4(&k, ZT_IPPROTO_UDP, o1, 4);
	udp(&k, "", 0);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	ip4(&k, ZT_IPPROTO_UDP, o2, 4);
	udp(&k, "", 0);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	ip4(&k, ZT_IPPROTO_UDP, o3, 4);
	udp(&k, "", 0);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	ip4(&k, ZT_IPPROTO_UDP, o5, 4);
	udp(&k, "", 0);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	ip4(&k, ZT_IPPROTO_UDP, o4, 4);
	udp(&k, "", 0);
	assert_int_equal(parse_k(&k), ZT_PKT_OK);
	ip4(&k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(&k, 1, 0, ZT_TCP_SYN, t1, 4, "data");
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	ip4(&k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(&k, 1, 0, ZT_TCP_SYN, t2, 4, "");
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
}

static void test_fragment(void **state)
{
	uint8_t ext[16] = { ZT_IPPROTO_UDP, 0, 0, 1, 0, 0, 0, 1 };
	struct zt_pkt p;
	struct pk k;

	mk_v4_syn(&k);
	w16(k.b + 6, 0x4000); /* DF alone is fine */
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_OK);
	w16(k.b + 6, 0x2000); /* MF: first fragment */
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_FRAGMENT);
	w16(k.b + 6, 0x0001); /* last fragment */
	refix_v4(&k);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_FRAGMENT);
	assert_int_equal(p.version, 4);
	assert_memory_equal(p.src.ip, SRC4, 4);
	ip6(&k, 44, ext, 8, ZT_IPPROTO_UDP);
	udp(&k, "frag", 4);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_FRAGMENT);
	assert_memory_equal(p.dst.ip, DST6, 16);
	/* Behind a hop-by-hop header. */
	ext[0] = 44, ext[1] = 0, ext[2] = 1, ext[3] = 4;
	ext[8] = ZT_IPPROTO_UDP, ext[11] = 1;
	ip6(&k, 0, ext, 16, ZT_IPPROTO_UDP);
	udp(&k, "frag", 4);
	assert_int_equal(parse_k(&k), ZT_PKT_FRAGMENT);
}

static void test_unsupported(void **state)
{
	uint8_t ext[8] = { 59, 0, 1, 4 };
	struct zt_pkt p;
	struct pk k;

	ip4(&k, 47, NULL, 0); /* GRE */
	memset(k.b + 20, 0, 8);
	k.len += 8;
	w16(k.b + 2, 28);
	refix_v4(&k);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_UNSUPPORTED);
	assert_int_equal(p.version, 4);
	assert_int_equal(p.proto, 47);
	assert_int_equal(p.src.family, AF_INET);
	assert_memory_equal(p.src.ip, SRC4, 4);
	assert_memory_equal(p.dst.ip, DST4, 4);
	/* ICMPv6 inside IPv4 and ICMPv4 inside IPv6 are nonsense. */
	ip4(&k, ZT_IPPROTO_ICMPV6, NULL, 0);
	icmp(&k, 128, 1, 0);
	assert_int_equal(parse_k(&k), ZT_PKT_UNSUPPORTED);
	ip6(&k, ZT_IPPROTO_ICMP, NULL, 0, ZT_IPPROTO_ICMP);
	icmp(&k, 8, 1, 0);
	assert_int_equal(parse_k(&k), ZT_PKT_UNSUPPORTED);
	/* No next header, directly and after an option header. */
	ip6(&k, 59, NULL, 0, 59);
	icmp(&k, 0, 0, 0);
	assert_int_equal(zt_pkt_parse(&p, k.b, k.len), ZT_PKT_UNSUPPORTED);
	assert_int_equal(p.version, 6);
	assert_int_equal(p.src.family, AF_INET6);
	assert_memory_equal(p.src.ip, SRC6, 16);
	ip6(&k, 60, ext, 8, 59);
	icmp(&k, 0, 0, 0);
	assert_int_equal(parse_k(&k), ZT_PKT_UNSUPPORTED);
	ip6(&k, 50, NULL, 0, 50); /* ESP */
	icmp(&k, 0, 0, 0);
	assert_int_equal(parse_k(&k), ZT_PKT_UNSUPPORTED);
}

/* n destination-options headers, then UDP. */
static void mk_ext_chain(struct pk *k, int n, uint8_t first)
{
	uint8_t ext[8 * 12] = { 0 };
	int i;

	for (i = 0; i < n; i++) {
		ext[i * 8] = i == n - 1 ? ZT_IPPROTO_UDP : 60;
		ext[i * 8 + 2] = 1;
		ext[i * 8 + 3] = 4;
	}
	ip6(k, first, ext, (size_t)n * 8, ZT_IPPROTO_UDP);
	udp(k, "z", 1);
}

static void test_ext_headers(void **state)
{
	struct pk k;

	mk_ext_chain(&k, 8, 60);
	assert_int_equal(parse_k(&k), ZT_PKT_OK);
	mk_ext_chain(&k, 9, 60);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	mk_ext_chain(&k, 2, 0);
	assert_int_equal(parse_k(&k), ZT_PKT_OK);
	/* Hop-by-hop anywhere but first. */
	mk_ext_chain(&k, 2, 60);
	k.b[40] = 0;
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	/* An extension header longer than the payload length. */
	mk_ext_chain(&k, 1, 60);
	k.b[41] = 2;
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	/* Extension header cut short: payload length 4. */
	mk_ext_chain(&k, 1, 60);
	w16(k.b + 4, 4);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
}

static void test_udp_len(void **state)
{
	struct pk k;

	ip4(&k, ZT_IPPROTO_UDP, NULL, 0);
	udp(&k, "abcdef", 6);
	w16(k.b + 24, 13);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	w16(k.b + 24, 15);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	w16(k.b + 24, 4);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	/* IP says 4 bytes of UDP: not even a header. */
	ip4(&k, ZT_IPPROTO_UDP, NULL, 0);
	udp(&k, "", 0);
	w16(k.b + 2, 24);
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_TRUNC);
	ip6(&k, ZT_IPPROTO_UDP, NULL, 0, ZT_IPPROTO_UDP);
	udp(&k, "abcdef", 6);
	w16(k.b + 44, 8);
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
}

static void test_tcp_doff(void **state)
{
	struct pk k;

	ip4(&k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(&k, 1, 0, ZT_TCP_SYN, NULL, 0, "\1\1\1\1"); /* NOPs */
	k.b[32] = 0xf0; /* 60 bytes of header in a 24-byte segment */
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	k.b[32] = 0x60; /* 24: fits, but the checksum is now wrong */
	assert_int_equal(parse_k(&k), ZT_PKT_BADCSUM);
	k.b[32] = 0x40;
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	ip6(&k, ZT_IPPROTO_TCP, NULL, 0, ZT_IPPROTO_TCP);
	tcp(&k, 1, 0, ZT_TCP_SYN, NULL, 0, "");
	k.b[52] = 0x60;
	assert_int_equal(parse_k(&k), ZT_PKT_BADHDR);
	/* Fewer than 20 bytes of TCP. */
	ip4(&k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(&k, 1, 0, ZT_TCP_SYN, NULL, 0, "");
	w16(k.b + 2, 39);
	refix_v4(&k);
	assert_int_equal(parse_k(&k), ZT_PKT_TRUNC);
}

/* ---- builders ---------------------------------------------------------- */

/* Parses a built RST and checks what every RST must have. */
static void check_rst(const uint8_t *b, size_t n, const struct zt_pkt *o,
		      struct zt_pkt *r)
{
	assert_int_equal(parse_exact(b, n), ZT_PKT_OK);
	assert_int_equal(zt_pkt_parse(r, b, n), ZT_PKT_OK);
	assert_int_equal(r->proto, ZT_IPPROTO_TCP);
	assert_int_equal(r->version, o->version);
	assert_memory_equal(r->src.ip, o->dst.ip, 16);
	assert_memory_equal(r->dst.ip, o->src.ip, 16);
	assert_int_equal(r->src.port, o->dst.port);
	assert_int_equal(r->dst.port, o->src.port);
	assert_true(r->tcp_flags & ZT_TCP_RST);
	assert_int_equal(r->payload_len, 0);
	assert_int_equal(r16(r->l4 + 14), 0); /* window */
	if (o->version == 4) {
		assert_int_equal(n, 40);
		assert_int_equal(b[8], 64);
		assert_int_equal(r16(b + 4), 0);
		assert_int_equal(r16(b + 6), 0x4000);
	} else {
		assert_int_equal(n, 60);
		assert_int_equal(b[7], 64);
	}
}

static void test_rst(void **state)
{
	uint8_t out[128];
	struct zt_pkt o, r;
	struct pk k;
	size_t n;

	mk_v4_syn(&k);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_rst(out, sizeof(out), &o);
	check_rst(out, n, &o, &r);
	assert_int_equal(r.tcp_flags, ZT_TCP_RST | ZT_TCP_ACK);
	assert_int_equal(r.tcp_seq, 0);
	assert_int_equal(r.tcp_ack, 1001);
	assert_int_equal(zt_pkt_build_rst(out, 39, &o), 0);

	/* SYN whose sequence number wraps. */
	mk_v6_syn(&k);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_rst(out, sizeof(out), &o);
	check_rst(out, n, &o, &r);
	assert_int_equal(r.tcp_ack, 0);
	assert_int_equal(zt_pkt_build_rst(out, 59, &o), 0);

	/* An ACKed segment: the RST takes its ack as sequence number. */
	ip6(&k, ZT_IPPROTO_TCP, NULL, 0, ZT_IPPROTO_TCP);
	tcp(&k, 5000, 0x12345678, ZT_TCP_ACK | ZT_TCP_FIN, NULL, 0, "bye");
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_rst(out, sizeof(out), &o);
	check_rst(out, n, &o, &r);
	assert_int_equal(r.tcp_flags, ZT_TCP_RST);
	assert_int_equal(r.tcp_seq, 0x12345678);
	assert_int_equal(r.tcp_ack, 0);

	/* No ACK, with data and FIN: everything it occupied is acked. */
	ip4(&k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(&k, 7, 0, ZT_TCP_SYN | ZT_TCP_FIN, NULL, 0, "abcde");
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_rst(out, sizeof(out), &o);
	check_rst(out, n, &o, &r);
	assert_int_equal(r.tcp_ack, 7 + 5 + 2);

	/* Never a RST for a RST, nor for something that is not TCP. */
	ip4(&k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(&k, 7, 0, ZT_TCP_RST, NULL, 0, "");
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(zt_pkt_build_rst(out, sizeof(out), &o), 0);
	ip4(&k, ZT_IPPROTO_UDP, NULL, 0);
	udp(&k, "x", 1);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(zt_pkt_build_rst(out, sizeof(out), &o), 0);
}

static void check_unreach(const uint8_t *b, size_t n, const struct zt_pkt *o,
			  const uint8_t *orig, size_t quoted)
{
	struct zt_pkt r;

	assert_int_equal(parse_exact(b, n), ZT_PKT_OK);
	assert_int_equal(zt_pkt_parse(&r, b, n), ZT_PKT_OK);
	assert_int_equal(r.version, o->version);
	assert_int_equal(r.proto,
			 o->version == 4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6);
	assert_int_equal(r.icmp_type, o->version == 4 ? 3 : 1);
	assert_int_equal(r.icmp_code, o->version == 4 ? 13 : 1);
	assert_memory_equal(r.src.ip, o->dst.ip, 16);
	assert_memory_equal(r.dst.ip, o->src.ip, 16);
	assert_int_equal(r32(r.l4 + 4), 0); /* unused */
	assert_int_equal(r.payload_len, quoted);
	assert_memory_equal(r.payload, orig, quoted);
	assert_int_equal(n, r.ip_hdr_len + 8 + quoted);
}

static void test_unreach(void **state)
{
	static uint8_t out[2048], data[1500];
	struct zt_pkt o;
	struct pk k;
	size_t n;

	mk_v4_syn(&k);
	memset(k.b + k.len, 0xee, 6); /* link padding: not quoted */
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len + 6), ZT_PKT_OK);
	n = zt_pkt_build_unreach(out, sizeof(out), &o, k.b, k.len + 6);
	check_unreach(out, n, &o, k.b, k.len);
	assert_int_equal(zt_pkt_build_unreach(out, n - 1, &o, k.b, k.len), 0);

	/* Large: capped at 576 bytes in all. */
	ip4(&k, ZT_IPPROTO_UDP, NULL, 0);
	udp(&k, data, 1000);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_unreach(out, sizeof(out), &o, k.b, k.len);
	assert_int_equal(n, 576);
	check_unreach(out, n, &o, k.b, 548);

	mk_v6_syn(&k);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_unreach(out, sizeof(out), &o, k.b, k.len);
	check_unreach(out, n, &o, k.b, k.len);

	/* Large: capped at 1280 bytes in all. */
	ip6(&k, ZT_IPPROTO_UDP, NULL, 0, ZT_IPPROTO_UDP);
	udp(&k, data, sizeof(data));
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_unreach(out, sizeof(out), &o, k.b, k.len);
	assert_int_equal(n, 1280);
	check_unreach(out, n, &o, k.b, 1280 - 48);
	assert_int_equal(zt_pkt_build_unreach(out, 1279, &o, k.b, k.len), 0);

	/* No error about an error; echo requests may get one. */
	ip4(&k, ZT_IPPROTO_ICMP, NULL, 0);
	icmp(&k, 3, 0, 28);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(zt_pkt_build_unreach(out, sizeof(out), &o, k.b, k.len),
			 0);
	ip6(&k, ZT_IPPROTO_ICMPV6, NULL, 0, ZT_IPPROTO_ICMPV6);
	icmp(&k, 1, 0, 40);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	assert_int_equal(zt_pkt_build_unreach(out, sizeof(out), &o, k.b, k.len),
			 0);
	ip6(&k, ZT_IPPROTO_ICMPV6, NULL, 0, ZT_IPPROTO_ICMPV6);
	icmp(&k, 128, 0, 40);
	assert_int_equal(zt_pkt_parse(&o, k.b, k.len), ZT_PKT_OK);
	n = zt_pkt_build_unreach(out, sizeof(out), &o, k.b, k.len);
	check_unreach(out, n, &o, k.b, k.len);
}

static void udp_round_trip(const struct zt_addr *s, const struct zt_addr *d,
			   const uint8_t *data, size_t len)
{
	static uint8_t out[2048];
	struct zt_pkt r;
	size_t n, hl = s->family == AF_INET ? 20 : 40;

	n = zt_pkt_build_udp(out, sizeof(out), s, d, data, len);
	assert_int_equal(n, hl + 8 + len);
	assert_int_equal(parse_exact(out, n), ZT_PKT_OK);
	assert_int_equal(zt_pkt_parse(&r, out, n), ZT_PKT_OK);
	assert_int_equal(r.proto, ZT_IPPROTO_UDP);
	assert_int_equal(r.src.family, s->family);
	assert_memory_equal(r.src.ip, s->ip, 16);
	assert_memory_equal(r.dst.ip, d->ip, 16);
	assert_int_equal(r.src.port, s->port);
	assert_int_equal(r.dst.port, d->port);
	assert_int_equal(r.payload_len, len);
	if (len)
		assert_memory_equal(r.payload, data, len);
	assert_int_equal(out[hl == 20 ? 8 : 7], 64);
	if (hl == 20)
		assert_int_equal(r16(out + 6), 0x4000);
	assert_int_equal(zt_pkt_build_udp(out, n - 1, s, d, data, len), 0);
}

/* Makes the UDP checksum of data (even len >= 2) compute to 0, using the
 * independent sum: the last word is set to the checksum it has as 0, which
 * brings the sum to 0xffff. */
static void force_zero_csum(const struct zt_addr *s, const struct zt_addr *d,
			    uint8_t *data, size_t len)
{
	int v4 = s->family == AF_INET;
	struct pk k;

	data[len - 2] = data[len - 1] = 0;
	if (v4)
		ip4(&k, ZT_IPPROTO_UDP, NULL, 0);
	else
		ip6(&k, ZT_IPPROTO_UDP, NULL, 0, ZT_IPPROTO_UDP);
	memcpy(k.b + (v4 ? 12 : 8), s->ip, v4 ? 4 : 16);
	memcpy(k.b + (v4 ? 16 : 24), d->ip, v4 ? 4 : 16);
	udp(&k, data, len);
	w16(k.b + k.l4, s->port); /* udp() writes fixed ports */
	w16(k.b + k.l4 + 2, d->port);
	finish(&k);
	w16(data + len - 2, r16(k.b + k.l4 + 6));
}

static void test_udp_build(void **state)
{
	struct zt_addr s4 = { AF_INET, 53, { 0 } },
		       d4 = { AF_INET, 5353, { 0 } };
	struct zt_addr s6 = { AF_INET6, 53, { 0 } },
		       d6 = { AF_INET6, 1, { 0 } };
	uint8_t data[301], out[400];
	size_t i, n;

	memcpy(s4.ip, SRC4, 4);
	memcpy(d4.ip, DST4, 4);
	memcpy(s6.ip, SRC6, 16);
	memcpy(d6.ip, DST6, 16);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	udp_round_trip(&s4, &d4, data, 301);
	udp_round_trip(&s4, &d4, NULL, 0);
	udp_round_trip(&s6, &d6, data, 300);
	udp_round_trip(&s6, &d6, data, 1);

	/* A computed checksum of 0 goes out as 0xffff. */
	force_zero_csum(&s4, &d4, data, 100);
	n = zt_pkt_build_udp(out, sizeof(out), &s4, &d4, data, 100);
	assert_int_equal(r16(out + 26), 0xffff);
	udp_round_trip(&s4, &d4, data, 100);
	force_zero_csum(&s6, &d6, data, 64);
	n = zt_pkt_build_udp(out, sizeof(out), &s6, &d6, data, 64);
	assert_int_equal(n, 112);
	assert_int_equal(r16(out + 46), 0xffff);
	udp_round_trip(&s6, &d6, data, 64);

	assert_int_equal(zt_pkt_build_udp(out, sizeof(out), &s4, &d6, data, 4),
			 0);
	d4.family = 0;
	assert_int_equal(zt_pkt_build_udp(out, sizeof(out), &d4, &d4, data, 4),
			 0);
}

static void test_result_names(void **state)
{
	int r;

	for (r = 0; r < ZT_PKT_NRESULTS; r++)
		assert_string_not_equal(zt_pkt_result_name(r), "unknown");
	assert_string_equal(zt_pkt_result_name(ZT_PKT_NRESULTS), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum),
		cmocka_unit_test(test_v4_tcp),
		cmocka_unit_test(test_v4_udp),
		cmocka_unit_test(test_v4_icmp),
		cmocka_unit_test(test_v4_options),
		cmocka_unit_test(test_v6_tcp),
		cmocka_unit_test(test_v6_udp_ext),
		cmocka_unit_test(test_v6_icmp),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_csum),
		cmocka_unit_test(test_bad_ihl_len),
		cmocka_unit_test(test_options_overrun),
		cmocka_unit_test(test_fragment),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_ext_headers),
		cmocka_unit_test(test_udp_len),
		cmocka_unit_test(test_tcp_doff),
		cmocka_unit_test(test_rst),
		cmocka_unit_test(test_unreach),
		cmocka_unit_test(test_udp_build),
		cmocka_unit_test(test_result_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
