/* Packet builders (TCP RST, ICMP unreachable, UDP) and the result names,
 * each built packet checked by the parser and against the independent
 * writer of pktw.c. */
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
		cmocka_unit_test(test_rst),
		cmocka_unit_test(test_unreach),
		cmocka_unit_test(test_udp_build),
		cmocka_unit_test(test_result_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
