/* DNS wire format, responses: the parser of a forwarding resolver's answers
 * against hand-built responses (valid and hostile, including hostile
 * compression), the check that an answer matches its query, and the address
 * range test of the DNS rebinding filter. Queries are in unit_dns.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "dnsqb.h"
#include "err.h"

/* ---- responses from an outside resolver -------------------------------- */

/* Record header after an owner name already written; rdata follows. */
static void qb_rr(struct qb *q, uint16_t type, uint16_t rdlen)
{
	qb_u16(q, type);
	qb_u16(q, 1);
	qb_u32(q, 60);
	qb_u16(q, rdlen);
}

static void qb_ptr(struct qb *q, size_t off)
{
	qb_u16(q, (uint16_t)(0xc000 | off));
}

static void qb_a(struct qb *q, uint32_t ip)
{
	qb_ptr(q, 12);
	qb_rr(q, ZT_DNS_A, 4);
	qb_u32(q, ip);
}

/* A resolver's answer to "Good.Example A": an A records 198.51.100.i. */
static void qb_resp(struct qb *b, uint16_t id, uint16_t an)
{
	qb_header(b, id, 0x8180, 1, an, 0, 0);
	qb_name(b, "Good.Example");
	qb_u16(b, ZT_DNS_A);
	qb_u16(b, 1);
	for (uint16_t i = 0; i < an; i++)
		qb_a(b, 0xc6336400u | (i & 0xff));
}

static int presp(const struct qb *b)
{
	struct zt_dns_response r;

	return zt_dns_parse_response(&r, b->b, b->len);
}

static void test_resp_a(void **state)
{
	struct zt_dns_response r;
	struct zt_dns_query q;
	struct qb b, qq;

	(void)state;
	qb_resp(&b, 0x1234, 2);
	b.b[11] = 1; /* EDNS OPT in additional */
	qb_opt(&b, 4);
	assert_int_equal(zt_dns_parse_response(&r, b.b, b.len), 0);
	assert_int_equal(r.id, 0x1234);
	assert_string_equal(r.name, "good.example");
	assert_int_equal(r.qtype, ZT_DNS_A);
	assert_int_equal(r.qclass, 1);
	assert_int_equal(r.n_addrs, 2);
	assert_int_equal(r.addrs[1].family, AF_INET);
	assert_memory_equal(r.addrs[1].ip, ((uint8_t[]){ 198, 51, 100, 1 }), 4);

	qb_query(&qq, 7, "good.example", ZT_DNS_A, 1);
	assert_int_equal(qb_parse(&qq, &q), 0);
	assert_int_equal(zt_dns_response_matches(&r, &q, 0x1234), 0);
	assert_int_equal(zt_dns_response_matches(&r, &q, 0x1235), ZT_EINVAL);
	q.qtype = ZT_DNS_AAAA;
	assert_int_equal(zt_dns_response_matches(&r, &q, 0x1234), ZT_EINVAL);
	q.qtype = ZT_DNS_A;
	q.qclass = 3;
	assert_int_equal(zt_dns_response_matches(&r, &q, 0x1234), ZT_EINVAL);
	q.qclass = 1;
	strcpy(q.name, "good.example.org");
	assert_int_equal(zt_dns_response_matches(&r, &q, 0x1234), ZT_EINVAL);
	strcpy(q.name, "good.example");
	r.flags &= 0x7fff; /* QR clear: a query, not an answer */
	assert_int_equal(zt_dns_response_matches(&r, &q, 0x1234), ZT_EINVAL);
	r.flags |= 0x8000 | 0x2800; /* OPCODE 5 */
	assert_int_equal(zt_dns_response_matches(&r, &q, 0x1234), ZT_EINVAL);
}

/* AAAA answers are collected; addresses outside the answer section are
 * not, but names and sizes are checked in every section. */
static void test_resp_sections(void **state)
{
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct zt_dns_response r;
	struct qb b;

	(void)state;
	qb_header(&b, 1, 0x8183, 1, 1, 1, 1);
	qb_name(&b, "v6.example");
	qb_u16(&b, ZT_DNS_AAAA);
	qb_u16(&b, 1);
	qb_ptr(&b, 12);
	qb_rr(&b, ZT_DNS_AAAA, 16);
	for (int i = 0; i < 16; i++)
		qb_u8(&b, v6[i]);
	qb_ptr(&b, 15); /* "example": NS ns.<example> */
	qb_rr(&b, 2, 5);
	qb_u8(&b, 2);
	qb_u8(&b, 'n');
	qb_u8(&b, 's');
	qb_ptr(&b, 15);
	qb_a(&b, 0x64400101u); /* in additional: not the application's */
	assert_int_equal(zt_dns_parse_response(&r, b.b, b.len), 0);
	assert_int_equal(r.flags & 0x0f, ZT_DNS_NXDOMAIN);
	assert_int_equal(r.n_addrs, 1);
	assert_int_equal(r.addrs[0].family, AF_INET6);
	assert_memory_equal(r.addrs[0].ip, v6, 16);
	b.b[b.len - 5] = 5; /* the additional A with 5 bytes of rdata */
	qb_u8(&b, 0);
	assert_int_equal(presp(&b), ZT_EINVAL);
}

/* www CNAME x.cdn.example; x.cdn.example CNAME y.<cdn.example>;
 * y.cdn.example A 10.78.0.10: every name compressed but the first. */
static void qb_chain(struct qb *b, size_t *x)
{
	size_t y;

	qb_header(b, 2, 0x8180, 1, 3, 0, 0);
	qb_name(b, "www.example");
	qb_u16(b, ZT_DNS_A);
	qb_u16(b, 1);
	qb_ptr(b, 12);
	qb_rr(b, ZT_DNS_CNAME, 15);
	*x = b->len;
	qb_name(b, "x.cdn.example");
	qb_ptr(b, *x);
	qb_rr(b, ZT_DNS_CNAME, 4);
	y = b->len;
	qb_u8(b, 1);
	qb_u8(b, 'y');
	qb_ptr(b, *x + 2);
	qb_ptr(b, y);
	qb_rr(b, ZT_DNS_A, 4);
	qb_u32(b, 0x0a4e000a);
}

static void test_resp_cname_chain(void **state)
{
	struct zt_dns_response r;
	struct qb b;
	size_t x;

	(void)state;
	qb_chain(&b, &x);
	assert_int_equal(zt_dns_parse_response(&r, b.b, b.len), 0);
	assert_int_equal(r.n_addrs, 1);
	assert_memory_equal(r.addrs[0].ip, ((uint8_t[]){ 10, 78, 0, 10 }), 4);
	/* The CNAME rdata must be exactly its name. */
	b.b[x - 1] = 16;
	assert_int_equal(presp(&b), ZT_EINVAL);
	b.b[x - 1] = 14;
	assert_int_equal(presp(&b), ZT_EINVAL);
}

/* Question "loop.example A" (ends at 30), a TXT answer whose rdata (at
 * offset 42) is fill, then an A answer whose owner name is own. */
static int owner_after_fill(const uint8_t *fill, size_t fn, const uint8_t *own,
			    size_t on)
{
	struct qb b;

	qb_header(&b, 3, 0x8180, 1, 2, 0, 0);
	qb_name(&b, "loop.example");
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	qb_ptr(&b, 12);
	qb_rr(&b, 16, (uint16_t)fn);
	assert_int_equal(b.len, 42);
	for (size_t i = 0; i < fn; i++)
		qb_u8(&b, fill[i]);
	for (size_t i = 0; i < on; i++)
		qb_u8(&b, own[i]);
	qb_rr(&b, ZT_DNS_A, 4);
	qb_u32(&b, 0x01020304);
	return presp(&b);
}

#define PTR(o) (uint8_t)(0xc0 | (o) >> 8), (uint8_t)(o)

static void test_resp_pointer_loops(void **state)
{
	const uint8_t ok[] = { 1, 'a', 0 };
	const uint8_t label_then_back[] = { 1, 'a', PTR(42) };
	const uint8_t ptr_pair[] = { PTR(44), PTR(42) };
	const uint8_t self[] = { PTR(45) }; /* the owner starts at 45 */
	const uint8_t a_ptr[] = { 1, 'a', PTR(45) };
	const uint8_t fwd[] = { PTR(47) };
	const uint8_t hdr[] = { PTR(4) };
	const uint8_t to42[] = { PTR(42) }, to44[] = { PTR(44) };

	(void)state;
	assert_int_equal(owner_after_fill(ok, 3, to42, 2), 0);
	/* 42: "a" + pointer to 42; 44 -> 42 -> 44 ...: each loop refused. */
	assert_int_equal(owner_after_fill(label_then_back, 4, to42, 2),
			 ZT_EINVAL);
	assert_int_equal(owner_after_fill(ptr_pair, 4, to44, 2), ZT_EINVAL);
	assert_int_equal(owner_after_fill(ptr_pair, 4, to42, 2), ZT_EINVAL);
	assert_int_equal(owner_after_fill(ok, 3, self, 2), ZT_EINVAL);
	assert_int_equal(owner_after_fill(ok, 3, a_ptr, 4), ZT_EINVAL);
	assert_int_equal(owner_after_fill(ok, 3, fwd, 2), ZT_EINVAL);
	assert_int_equal(owner_after_fill(ok, 3, hdr, 2), ZT_EINVAL);
}

/* A chain of n pointers, each to the one before, ending at a root name. */
static int pointer_chain(size_t n)
{
	uint8_t fill[1 + 2 * 200], own[2];
	size_t i;

	fill[0] = 0;
	fill[1] = 0xc0;
	fill[2] = 42;
	for (i = 1; i < n; i++) {
		fill[1 + 2 * i] = (uint8_t)(0xc0 | (41 + 2 * i) >> 8);
		fill[2 + 2 * i] = (uint8_t)(41 + 2 * i);
	}
	own[0] = (uint8_t)(0xc0 | (41 + 2 * n) >> 8);
	own[1] = (uint8_t)(41 + 2 * n);
	return owner_after_fill(fill, 1 + 2 * n, own, 2);
}

static void test_resp_pointer_limits(void **state)
{
	uint8_t own[255];
	size_t n = 0;

	(void)state;
	assert_int_equal(pointer_chain(126), 0);
	assert_int_equal(pointer_chain(127), ZT_EINVAL); /* + the owner's */
	assert_int_equal(pointer_chain(200), ZT_EINVAL);
	/* 3 x 63 + 40-byte labels + "loop.example" = 247 bytes: fits; with a
	 * 50-byte label the whole name is 257 and is refused. */
	for (int l = 0; l < 4; l++) {
		size_t len = l < 3 ? 63 : 40;

		own[n++] = (uint8_t)len;
		memset(own + n, 'x', len);
		n += len;
	}
	own[n++] = 0xc0;
	own[n++] = 12;
	assert_int_equal(owner_after_fill(own, 0, own, n), 0);
	own[192] = 50;
	memset(own + 193, 'x', 50);
	own[243] = 0xc0;
	own[244] = 12;
	assert_int_equal(owner_after_fill(own, 0, own, 245), ZT_EINVAL);
	own[0] = 0x40; /* extended label type */
	assert_int_equal(owner_after_fill(own, 0, own, 245), ZT_EINVAL);
}

/* Every proper prefix fails without reading past it (exact malloc). */
static void check_resp_prefixes(const struct qb *b)
{
	struct zt_dns_response r;

	for (size_t n = 0; n < b->len; n++) {
		uint8_t *p = malloc(n ? n : 1);
		int rc;

		memcpy(p, b->b, n);
		rc = zt_dns_parse_response(&r, p, n);
		assert_true(rc == ZT_ETRUNC || rc == ZT_EINVAL);
		free(p);
	}
}

static void test_resp_truncated(void **state)
{
	struct qb b;
	size_t x;

	(void)state;
	qb_resp(&b, 5, 3);
	check_resp_prefixes(&b);
	qb_chain(&b, &x);
	check_resp_prefixes(&b);
}

static void test_resp_counts(void **state)
{
	struct qb b;

	(void)state;
	qb_resp(&b, 5, 2);
	assert_int_equal(presp(&b), 0);
	b.b[7] = 3; /* one answer more than there is */
	assert_int_equal(presp(&b), ZT_ETRUNC);
	b.b[7] = 1; /* one fewer: the last is trailing junk */
	assert_int_equal(presp(&b), ZT_EINVAL);
	b.b[7] = 0;
	b.b[9] = 2; /* moved to authority: fine, but not collected */
	assert_int_equal(presp(&b), 0);
	b.b[7] = 2;
	b.b[9] = 0;
	b.b[5] = 0; /* no question */
	assert_int_equal(presp(&b), ZT_EINVAL);
	b.b[5] = 2;
	assert_int_equal(presp(&b), ZT_EINVAL);
	b.b[4] = 1;
	b.b[5] = 1; /* 257 questions */
	assert_int_equal(presp(&b), ZT_EINVAL);
}

static void test_resp_rdata(void **state)
{
	struct qb b;

	(void)state;
	qb_resp(&b, 5, 1);
	b.b[b.len - 5] = 5; /* A with 5 bytes */
	qb_u8(&b, 0);
	assert_int_equal(presp(&b), ZT_EINVAL);
	qb_resp(&b, 5, 1);
	b.b[b.len - 14] = 0; /* the A record's type: AAAA, 4 bytes */
	b.b[b.len - 13] = ZT_DNS_AAAA;
	assert_int_equal(presp(&b), ZT_EINVAL);
	qb_resp(&b, 5, 1);
	b.b[b.len - 5] = 6; /* rdata past the end */
	assert_int_equal(presp(&b), ZT_ETRUNC);
	qb_resp(&b, 5, 1);
	b.b[12] = 0xc0; /* a pointer in the question */
	b.b[13] = 12;
	assert_int_equal(presp(&b), ZT_EINVAL);
}

/* HTTPS "1 . alpn=h2 ipv4hint=198.51.100.1,100.64.1.1 ipv6hint=fd00::1". */
static void qb_https(struct qb *b, uint16_t v4len)
{
	qb_header(b, 6, 0x8180, 1, 1, 0, 0);
	qb_name(b, "svc.example");
	qb_u16(b, 65);
	qb_u16(b, 1);
	qb_ptr(b, 12);
	qb_rr(b, 65, (uint16_t)(3 + 7 + 4 + v4len + 20));
	qb_u16(b, 1);
	qb_u8(b, 0);
	qb_u16(b, 1);
	qb_u16(b, 3);
	qb_u8(b, 2);
	qb_u8(b, 'h');
	qb_u8(b, '2');
	qb_u16(b, 4);
	qb_u16(b, v4len);
	qb_u32(b, 0xc6336401);
	qb_u32(b, 0x64400101);
	for (uint16_t i = 8; i < v4len; i++)
		qb_u8(b, 0);
	qb_u16(b, 6);
	qb_u16(b, 16);
	qb_u16(b, 0xfd00);
	for (int i = 0; i < 13; i++)
		qb_u8(b, 0);
	qb_u8(b, 1);
}

static void test_resp_https_hints(void **state)
{
	struct zt_dns_response r;
	struct qb b;

	(void)state;
	qb_https(&b, 8);
	assert_int_equal(zt_dns_parse_response(&r, b.b, b.len), 0);
	assert_int_equal(r.n_addrs, 3);
	assert_memory_equal(r.addrs[1].ip, ((uint8_t[]){ 100, 64, 1, 1 }), 4);
	assert_int_equal(r.addrs[2].family, AF_INET6);
	assert_int_equal(r.addrs[2].ip[0], 0xfd);
	qb_https(&b, 10); /* not a multiple of 4 */
	assert_int_equal(presp(&b), ZT_EINVAL);
	qb_https(&b, 8);
	b.b[b.len - 17] = 17; /* ipv6hint longer than the rdata */
	assert_int_equal(presp(&b), ZT_EINVAL);
}

static void test_resp_too_many(void **state)
{
	struct zt_dns_response r;
	struct qb b;

	(void)state;
	qb_resp(&b, 5, ZT_DNS_RESP_MAX_ADDRS);
	assert_int_equal(zt_dns_parse_response(&r, b.b, b.len), 0);
	assert_int_equal(r.n_addrs, ZT_DNS_RESP_MAX_ADDRS);
	qb_resp(&b, 5, ZT_DNS_RESP_MAX_ADDRS + 1);
	assert_int_equal(presp(&b), ZT_ETOOBIG);
}

static void test_addr_in(void **state)
{
	struct zt_cidr r[2] = {
		{ .family = AF_INET, .prefix = 10, .addr = { 100, 64 } },
		{ .family = AF_INET6, .prefix = 8, .addr = { 0xfd } }
	};
	struct zt_addr a = { .family = AF_INET, .ip = { 100, 127, 255, 255 } };

	(void)state;
	assert_true(zt_dns_addr_in(&a, r, 2));
	a.ip[1] = 128;
	assert_false(zt_dns_addr_in(&a, r, 2));
	a = (struct zt_addr){
		.family = AF_INET6,
		.ip = { [10] = 0xff, [11] = 0xff, 100, 64, 1, 1 }
	};
	assert_true(zt_dns_addr_in(&a, r, 2)); /* ::ffff:100.64.1.1 */
	assert_false(zt_dns_addr_in(&a, r + 1, 1));
	a.ip[10] = 0; /* ::100.64.1.1 is not mapped */
	assert_false(zt_dns_addr_in(&a, r, 2));
	a.ip[0] = 0xfd;
	assert_true(zt_dns_addr_in(&a, r, 2));
	assert_false(zt_dns_addr_in(&a, r, 1));
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resp_a),
		cmocka_unit_test(test_resp_sections),
		cmocka_unit_test(test_resp_cname_chain),
		cmocka_unit_test(test_resp_pointer_loops),
		cmocka_unit_test(test_resp_pointer_limits),
		cmocka_unit_test(test_resp_truncated),
		cmocka_unit_test(test_resp_counts),
		cmocka_unit_test(test_resp_rdata),
		cmocka_unit_test(test_resp_https_hints),
		cmocka_unit_test(test_resp_too_many),
		cmocka_unit_test(test_addr_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
