/* PCP MAP codec (wire/pcp.c): the exact bytes of a request (RFC 6887, 7.1
 * and 11.1), a response read field by field, every length and header
 * field that must be refused, a NAT-PMP answer told apart, the matching of
 * an answer to its request (nonce, protocol, internal port, the external
 * address of a success), and the default gateway read from
 * /proc/net/route text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "pcp.h"

static const uint8_t NONCE[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

/* The request of req(): lifetime 3600, client 192.168.10.2, UDP port
 * 5555, suggested external port 5555, any address. */
static const uint8_t REQ[60] = {
	2,   1,   0,  0, 0,    0,    0x0e, 0x10, /* ver, op, lifetime */
	0,   0,   0,  0, 0,    0,    0,    0,    0, 0,  0xff, 0xff,
	192, 168, 10, 2,                                          /* client */
	1,   2,   3,  4, 5,    6,    7,    8,    9, 10, 11,   12, /* nonce */
	17,  0,   0,  0, 0x15, 0xb3, 0x15, 0xb3, /* proto, ports */
	0,   0,   0,  0, 0,    0,    0,    0,    0, 0,  0xff, 0xff,
	0,   0,   0,  0, /* suggested */
};

static struct zt_pcp_map_req req(void)
{
	struct zt_pcp_map_req q = {
		.lifetime_s = 3600,
		.client = { .family = AF_INET, .ip = { 192, 168, 10, 2 } },
		.proto = ZT_PCP_PROTO_UDP,
		.internal_port = 5555,
		.suggest = { .port = 5555 },
	};

	memcpy(q.nonce, NONCE, sizeof(NONCE));
	return q;
}

/* A success for req(): 198.20.0.2:6000, lifetime 1800, epoch 77. */
static void resp(uint8_t *b)
{
	memcpy(b, REQ, 60);
	b[1] = 0x81;
	b[3] = 0;
	b[4] = 0, b[5] = 0, b[6] = 0x07, b[7] = 0x08;
	memset(b + 8, 0, 16);
	b[11] = 77;
	b[42] = 0x17, b[43] = 0x70;
	b[56] = 198, b[57] = 20, b[58] = 0, b[59] = 2;
}

static void t_encode(void **state)
{
	struct zt_pcp_map_req q = req();
	uint8_t out[80];

	(void)state;
	assert_int_equal(zt_pcp_map_encode(&q, out, sizeof(out)), 60);
	assert_memory_equal(out, REQ, 60);
	assert_int_equal(zt_pcp_map_encode(&q, out, 59), ZT_ETOOBIG);
	/* A suggested address is written, IPv4-mapped. */
	q.suggest.family = AF_INET;
	memcpy(q.suggest.ip, (uint8_t[]){ 198, 20, 0, 2 }, 4);
	assert_int_equal(zt_pcp_map_encode(&q, out, sizeof(out)), 60);
	assert_memory_equal(out + 56, ((uint8_t[]){ 198, 20, 0, 2 }), 4);
	/* Delete: lifetime 0. */
	q = req();
	q.lifetime_s = 0;
	assert_int_equal(zt_pcp_map_encode(&q, out, sizeof(out)), 60);
	assert_memory_equal(out + 4, ((uint8_t[]){ 0, 0, 0, 0 }), 4);
	q = req();
	q.internal_port = 0;
	assert_int_equal(zt_pcp_map_encode(&q, out, sizeof(out)), ZT_EINVAL);
	q = req();
	q.client.family = 0;
	assert_int_equal(zt_pcp_map_encode(&q, out, sizeof(out)), ZT_EINVAL);
}

static void t_decode(void **state)
{
	struct zt_pcp_map_resp r;
	uint8_t b[64];

	(void)state;
	resp(b);
	assert_int_equal(zt_pcp_map_decode(&r, b, 60), 0);
	assert_int_equal(r.result, 0);
	assert_int_equal(r.lifetime_s, 0x0708);
	assert_int_equal(r.epoch, 77);
	assert_memory_equal(r.nonce, NONCE, 12);
	assert_int_equal(r.proto, 17);
	assert_int_equal(r.internal_port, 5555);
	assert_int_equal(r.ext.family, AF_INET);
	assert_int_equal(r.ext.port, 6000);
	assert_memory_equal(r.ext.ip, ((uint8_t[]){ 198, 20, 0, 2 }), 4);
	/* Options after the MAP body, a multiple of 4 bytes: read past. */
	memset(b + 60, 0, 4);
	assert_int_equal(zt_pcp_map_decode(&r, b, 64), 0);
	/* Every shorter length, and lengths not a multiple of 4. */
	for (size_t n = 1; n < 60; n++)
		assert_int_equal(zt_pcp_map_decode(&r, b, n), ZT_ETRUNC);
	assert_int_equal(zt_pcp_map_decode(&r, b, 62), ZT_EINVAL);
	assert_int_equal(zt_pcp_map_decode(&r, b, 0), ZT_ETRUNC);
	/* An IPv6 external address stays one. */
	b[54] = 0;
	assert_int_equal(zt_pcp_map_decode(&r, b, 60), 0);
	assert_int_equal(r.ext.family, AF_INET6);
}

static void t_refused(void **state)
{
	static uint8_t big[1104];
	struct zt_pcp_map_resp r;
	uint8_t b[60];
	/* A NAT-PMP answer: version 0, opcode 128 + 1, result 1. */
	const uint8_t natpmp[16] = { 0, 0x81, 0, 1 };

	(void)state;
	resp(b);
	b[1] = 0x01; /* a request, not a response */
	assert_int_equal(zt_pcp_map_decode(&r, b, 60), ZT_EINVAL);
	resp(b);
	b[1] = 0x82; /* PEER */
	assert_int_equal(zt_pcp_map_decode(&r, b, 60), ZT_EINVAL);
	resp(b);
	b[0] = 1;
	assert_int_equal(zt_pcp_map_decode(&r, b, 60), ZT_EVERSION);
	assert_int_equal(zt_pcp_map_decode(&r, natpmp, 16), ZT_EVERSION);
	assert_int_equal(zt_pcp_map_decode(&r, natpmp, 1), ZT_EVERSION);
	resp(big);
	assert_int_equal(zt_pcp_map_decode(&r, big, 1100), 0);
	assert_int_equal(zt_pcp_map_decode(&r, big, 1104), ZT_EINVAL);
}

static void t_match(void **state)
{
	struct zt_pcp_map_req q = req();
	struct zt_pcp_map_resp r, r0;
	uint8_t b[60];

	(void)state;
	resp(b);
	assert_int_equal(zt_pcp_map_decode(&r0, b, 60), 0);
	assert_int_equal(zt_pcp_match(&q, &r0), 0);
	/* Spoofed or stale: another nonce, protocol or internal port. */
	r = r0, r.nonce[11] ^= 1;
	assert_int_equal(zt_pcp_match(&q, &r), ZT_EINVAL);
	r = r0, r.proto = 6;
	assert_int_equal(zt_pcp_match(&q, &r), ZT_EINVAL);
	r = r0, r.internal_port = 5556;
	assert_int_equal(zt_pcp_match(&q, &r), ZT_EINVAL);
	/* A success without a usable external address. */
	r = r0, r.ext.port = 0;
	assert_int_equal(zt_pcp_match(&q, &r), ZT_EINVAL);
	r = r0, r.ext.family = AF_INET6;
	assert_int_equal(zt_pcp_match(&q, &r), ZT_EINVAL);
	/* An error answer is ours when it names our request. */
	r = r0, r.result = ZT_PCP_NOT_AUTHORIZED, r.ext.port = 0;
	assert_int_equal(zt_pcp_match(&q, &r), 0);
	assert_string_equal(zt_pcp_result_name(2), "not authorized");
	assert_string_equal(zt_pcp_result_name(200), "unknown result");
}

static void t_route(void **state)
{
	const char *text =
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\t"
		"Mask\t\tMTU\tWindow\tIRTT\n"
		"lan\t000AA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
		"wan\t00000000\t0114A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
		"eth1\t00000000\t010AA8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
		"down\t00000000\t090AA8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n";
	const char *none =
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\t"
		"Mask\t\tMTU\tWindow\tIRTT\n"
		"lan\t000AA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
	struct zt_addr gw;
	char s[64];
	uint32_t want;

	(void)state;
	assert_int_equal(zt_pcp_route_gw(text, strlen(text), &gw), 0);
	assert_int_equal(gw.family, AF_INET);
	/* The kernel prints the address as a native word: 0x010AA8C0 on a
	 * little-endian host is 192.168.10.1. */
	want = 0x010AA8C0;
	assert_memory_equal(gw.ip, &want, 4);
	if (htonl(1) != 1) {
		inet_ntop(AF_INET, gw.ip, s, sizeof(s));
		assert_string_equal(s, "192.168.10.1");
	}
	assert_int_equal(zt_pcp_route_gw(none, strlen(none), &gw),
			 ZT_ENOTFOUND);
	assert_int_equal(zt_pcp_route_gw("", 0, &gw), ZT_ENOTFOUND);
	/* Cut anywhere: never read past len. */
	for (size_t n = 0; n < strlen(text); n++)
		zt_pcp_route_gw(text, n, &gw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_encode),  cmocka_unit_test(t_decode),
		cmocka_unit_test(t_refused), cmocka_unit_test(t_match),
		cmocka_unit_test(t_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
