/* Packet parser: the checksum, valid IPv4 and IPv6 packets, and every drop
 * reason, on packets made by the independent writer of pktw.c. The
 * builders are in unit_pktbuild.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pkt.h"
#include "pktw.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
