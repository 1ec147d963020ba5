/* DNS wire format, queries: the parser against hand-built queries (valid
 * and hostile) and the builders checked byte by byte, so the tests pin RFC
 * 1035 rather than whatever the implementation happens to produce.
 * Responses from a forwarding resolver are in unit_dnsresp.c. */
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

/* ---- parser: accepted queries ------------------------------------------ */

static void test_parse_a(void **state)
{
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	qb_query(&b, 0xbeef, "app.corp.example", ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.flags, 0x0100);
	assert_string_equal(q.name, "app.corp.example");
	assert_int_equal(q.qtype, ZT_DNS_A);
	assert_int_equal(q.qclass, 1);
	assert_int_equal(q.question_end, b.len);
	assert_int_equal(q.question_end, 12 + 18 + 4);
}

static void test_parse_aaaa(void **state)
{
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	qb_query(&b, 1, "db-1.internal", ZT_DNS_AAAA, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_string_equal(q.name, "db-1.internal");
	assert_int_equal(q.qtype, ZT_DNS_AAAA);
}

static void test_parse_edns(void **state)
{
	struct zt_dns_query q;
	struct qb b;
	size_t qend;

	(void)state;
	qb_query(&b, 7, "_svc.example", ZT_DNS_A, 1);
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_string_equal(q.name, "_svc.example");
	/* question_end stops before the OPT record. */
	assert_int_equal(q.question_end, b.len - 11);
	qend = q.question_end;

	/* OPT with options (cookie-like payload) is skipped. */
	qb_header(&b, 7, 0x0100, 1, 0, 0, 1);
	qb_name(&b, "_svc.example");
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	qb_opt(&b, 12);
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_int_equal(q.question_end, qend);
}

static void test_parse_root_and_case(void **state)
{
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	qb_query(&b, 2, "", ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_string_equal(q.name, "");
	assert_int_equal(q.question_end, 12 + 1 + 4);

	qb_query(&b, 3, "App.CORP.Example", ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_string_equal(q.name, "app.corp.example");
}

/* Longest legal name: 253 characters in text form. */
static void test_parse_max_name(void **state)
{
	char name[300];
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	/* 3 x 63 + 61 + 3 dots = 253 */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	qb_query(&b, 4, name, ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_string_equal(q.name, name);

	/* One more character: 254. */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[254] = '\0';
	qb_query(&b, 4, name, ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);
}

/* ---- parser: rejections ------------------------------------------------ */

static void test_reject_header(void **state)
{
	static const struct {
		uint16_t flags, qd, an, ns, ar;
	} bad[] = {
		{ 0x8100, 1, 0, 0, 0 }, /* QR=1: a response */
		{ 0x0900, 1, 0, 0, 0 }, /* opcode 1 (IQUERY) */
		{ 0x2800, 1, 0, 0, 0 }, /* opcode 5 (UPDATE) */
		{ 0x0100, 0, 0, 0, 0 }, /* no question */
		{ 0x0100, 2, 0, 0, 0 },
		{ 0x0100, 1, 1, 0, 0 },
		{ 0x0100, 1, 0, 1, 0 },
		{ 0x0100, 1, 0, 0, 2 },
	};
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qb_header(&b, 9, bad[i].flags, bad[i].qd, bad[i].an, bad[i].ns,
			  bad[i].ar);
		qb_name(&b, "a.example");
		qb_u16(&b, ZT_DNS_A);
		qb_u16(&b, 1);
		assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);
	}
}

static void test_reject_compression(void **state)
{
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	/* "a" then a pointer back to the header. */
	qb_header(&b, 9, 0x0100, 1, 0, 0, 0);
	qb_u8(&b, 1);
	qb_u8(&b, 'a');
	qb_u16(&b, 0xc00c);
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);

	/* Extended (01) and reserved (10) label types. */
	for (int t = 0x40; t <= 0x80; t += 0x40) {
		qb_header(&b, 9, 0x0100, 1, 0, 0, 0);
		qb_u8(&b, (uint8_t)(t | 1));
		qb_u8(&b, 'a');
		qb_u8(&b, 0);
		qb_u16(&b, ZT_DNS_A);
		qb_u16(&b, 1);
		assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);
	}
}

static void test_reject_labels(void **state)
{
	static const char *const bad[] = {
		"a b.example", "a.ex*mple", "caf\xc3\xa9.example",
		"a\\.example", "a/b.example", "x.ex\x01",
	};
	char label[70];
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qb_query(&b, 9, bad[i], ZT_DNS_A, 0);
		assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);
	}
	/* A NUL inside a label. */
	qb_header(&b, 9, 0x0100, 1, 0, 0, 0);
	qb_u8(&b, 3);
	qb_u8(&b, 'a');
	qb_u8(&b, 0);
	qb_u8(&b, 'b');
	qb_u8(&b, 0);
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);

	/* 63 is the longest label; 64 has the 01 type bits. */
	memset(label, 'x', sizeof(label));
	label[63] = '\0';
	qb_query(&b, 9, label, ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	label[63] = 'x';
	label[64] = '\0';
	qb_query(&b, 9, label, ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);
}

static void test_reject_trailing(void **state)
{
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	qb_query(&b, 9, "a.example", ZT_DNS_A, 0);
	qb_u8(&b, 0);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);

	qb_query(&b, 9, "a.example", ZT_DNS_A, 1);
	qb_u8(&b, 0);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);
}

static void test_reject_bad_opt(void **state)
{
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	/* Additional record that is an A record, not OPT. */
	qb_header(&b, 9, 0x0100, 1, 0, 0, 1);
	qb_name(&b, "a.example");
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	qb_u8(&b, 0);
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	qb_u16(&b, 0);
	qb_u16(&b, 0);
	qb_u16(&b, 0);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);

	/* OPT with a non-root name. */
	qb_header(&b, 9, 0x0100, 1, 0, 0, 1);
	qb_name(&b, "a.example");
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	qb_name(&b, "x");
	qb_u16(&b, 41);
	qb_u16(&b, 1232);
	qb_u16(&b, 0);
	qb_u16(&b, 0);
	qb_u16(&b, 0);
	assert_int_equal(qb_parse(&b, &q), ZT_EINVAL);

	/* ARCOUNT 1 but nothing there. */
	qb_header(&b, 9, 0x0100, 1, 0, 0, 1);
	qb_name(&b, "a.example");
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	assert_int_equal(qb_parse(&b, &q), ZT_ETRUNC);

	/* OPT rdlength beyond the datagram. */
	qb_query(&b, 9, "a.example", ZT_DNS_A, 1);
	b.b[b.len - 1] = 4;
	assert_int_equal(qb_parse(&b, &q), ZT_ETRUNC);
}

/* Every proper prefix of valid queries must fail, and never read past the
 * prefix: each prefix is copied to an exact-size malloc() buffer for ASan
 * to guard (cmocka's test_malloc pads, which would hide a one-byte
 * overread). */
static void check_prefixes(const struct qb *b)
{
	struct zt_dns_query q;

	for (size_t n = 0; n < b->len; n++) {
		uint8_t *p = malloc(n ? n : 1);
		int rc;

		memcpy(p, b->b, n);
		rc = zt_dns_parse_query(&q, p, n);
		assert_true(rc == ZT_ETRUNC || rc == ZT_EINVAL);
		free(p);
	}
}

static void test_truncated(void **state)
{
	struct qb b;

	(void)state;
	qb_query(&b, 9, "app.corp.example", ZT_DNS_A, 0);
	check_prefixes(&b);
	qb_query(&b, 9, "app.corp.example", ZT_DNS_AAAA, 1);
	check_prefixes(&b);
	qb_header(&b, 9, 0x0100, 1, 0, 0, 1);
	qb_name(&b, "");
	qb_u16(&b, ZT_DNS_A);
	qb_u16(&b, 1);
	qb_opt(&b, 8);
	check_prefixes(&b);
}

/* ---- builders ---------------------------------------------------------- */

static void test_answer_a(void **state)
{
	static const uint8_t addr[4] = { 100, 64, 0, 7 };
	uint8_t out[512];
	struct zt_dns_query q;
	struct qb b;
	const uint8_t *rr;
	size_t n, qe;

	(void)state;
	qb_query(&b, 0x1234, "App.Example", ZT_DNS_A, 1);
	assert_int_equal(qb_parse(&b, &q), 0);
	qe = q.question_end;
	memset(out, 0xee, sizeof(out));
	n = zt_dns_build_answer(out, sizeof(out), &q, b.b, addr, 1, 300);
	assert_int_equal(n, qe + 16);
	/* id, flags: QR AA RD RA, NOERROR */
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[1], 0x34);
	assert_int_equal(out[2], 0x85);
	assert_int_equal(out[3], 0x80);
	/* QD 1, AN 1, NS 0, AR 0 (the query's OPT is not echoed) */
	static const uint8_t counts[8] = { 0, 1, 0, 1, 0, 0, 0, 0 };
	assert_memory_equal(out + 4, counts, 8);
	/* Question copied as sent, original case included. */
	assert_memory_equal(out + 12, b.b + 12, qe - 12);
	rr = out + qe;
	static const uint8_t want[16] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0,
					  0x01, 0x2c, 0, 4, 100, 64, 0, 7 };
	assert_memory_equal(rr, want, sizeof(want));
	assert_int_equal(out[n], 0xee);
}

static void test_answer_no_rd(void **state)
{
	static const uint8_t addr[4] = { 100, 64, 0, 7 };
	uint8_t out[512];
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	qb_query(&b, 1, "a.example", ZT_DNS_A, 0);
	b.b[2] = 0x00; /* RD clear */
	b.b[3] = 0x10; /* CD set: not copied */
	assert_int_equal(qb_parse(&b, &q), 0);
	assert_int_not_equal(
		zt_dns_build_answer(out, sizeof(out), &q, b.b, addr, 1, 60), 0);
	assert_int_equal(out[2], 0x84);
	assert_int_equal(out[3], 0x80);
}

static void test_answer_aaaa_two(void **state)
{
	uint8_t addrs[32], out[512];
	struct zt_dns_query q;
	struct qb b;
	size_t n, qe;

	(void)state;
	for (size_t i = 0; i < sizeof(addrs); i++)
		addrs[i] = (uint8_t)(0xa0 + i);
	qb_query(&b, 0xffff, "v6.example", ZT_DNS_AAAA, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	qe = q.question_end;
	n = zt_dns_build_answer(out, sizeof(out), &q, b.b, addrs, 2,
				0x01020304);
	assert_int_equal(n, qe + 2 * 28);
	assert_int_equal(out[0], 0xff);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(out[7], 2);
	for (size_t i = 0; i < 2; i++) {
		const uint8_t *rr = out + qe + i * 28;
		static const uint8_t fixed[12] = { 0xc0, 0x0c, 0, 28, 0, 1,
						   1, 2, 3, 4, 0, 16 };

		assert_memory_equal(rr, fixed, sizeof(fixed));
		assert_memory_equal(rr + 12, addrs + i * 16, 16);
	}
}

static void test_answer_nodata(void **state)
{
	uint8_t out[512];
	struct zt_dns_query q;
	struct qb b;
	size_t n;

	(void)state;
	/* MX query: NODATA is fine, addresses are not. */
	qb_query(&b, 5, "a.example", 15, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	n = zt_dns_build_answer(out, sizeof(out), &q, b.b, NULL, 0, 60);
	assert_int_equal(n, q.question_end);
	assert_int_equal(out[3] & 0x0f, 0);
	assert_int_equal(out[6], 0);
	assert_int_equal(out[7], 0);
	assert_int_equal(zt_dns_build_answer(out, sizeof(out), &q, b.b,
					     (const uint8_t *)"abcd", 1, 60),
			 0);

	qb_query(&b, 5, "a.example", ZT_DNS_AAAA, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	n = zt_dns_build_answer(out, sizeof(out), &q, b.b, NULL, 0, 60);
	assert_int_equal(n, q.question_end);
	assert_int_equal(out[7], 0);
}

static void test_answer_cap(void **state)
{
	static const uint8_t addrs[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t out[512];
	struct zt_dns_query q;
	struct qb b;
	size_t need;

	(void)state;
	qb_query(&b, 5, "a.example", ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	need = q.question_end + 32;
	assert_int_equal(
		zt_dns_build_answer(out, need, &q, b.b, addrs, 2, 60), need);
	for (size_t cap = 0; cap < need; cap++)
		assert_int_equal(
			zt_dns_build_answer(out, cap, &q, b.b, addrs, 2, 60),
			0);
	/* A count that would overflow the size computation. */
	assert_int_equal(zt_dns_build_answer(out, sizeof(out), &q, b.b, addrs,
					     SIZE_MAX / 8, 60),
			 0);
	for (size_t cap = 0; cap < q.question_end; cap++)
		assert_int_equal(zt_dns_build_error(out, cap, &q, b.b,
						    ZT_DNS_SERVFAIL),
				 0);
}

static void test_error(void **state)
{
	static const int rcodes[] = { ZT_DNS_FORMERR, ZT_DNS_SERVFAIL,
				      ZT_DNS_NXDOMAIN, ZT_DNS_NOTIMP,
				      ZT_DNS_REFUSED };
	uint8_t out[512];
	struct zt_dns_query q;
	struct qb b;

	(void)state;
	qb_query(&b, 0xabcd, "Nope.Example", ZT_DNS_A, 1);
	assert_int_equal(qb_parse(&b, &q), 0);
	for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		size_t n = zt_dns_build_error(out, sizeof(out), &q, b.b,
					      rcodes[i]);
		uint8_t want[12] = { 0xab, 0xcd, 0x85, (uint8_t)(0x80 | rcodes[i]),
				     0, 1, 0, 0, 0, 0, 0, 0 };

		assert_int_equal(n, q.question_end);
		assert_memory_equal(out, want, sizeof(want));
		assert_memory_equal(out + 12, b.b + 12, n - 12);
	}
	assert_int_equal(zt_dns_build_error(out, sizeof(out), &q, b.b, 16), 0);
	assert_int_equal(zt_dns_build_error(out, sizeof(out), &q, b.b, -1), 0);
}

/* A response we build must parse as a response: flip QR back and the
 * parser sees the same id and name (AN set to 0 to pass its checks). */
static void test_answer_reparses(void **state)
{
	static const uint8_t addr[4] = { 100, 64, 0, 9 };
	uint8_t out[512];
	struct zt_dns_query q, q2;
	struct qb b;
	size_t n;

	(void)state;
	qb_query(&b, 77, "x.y.z", ZT_DNS_A, 0);
	assert_int_equal(qb_parse(&b, &q), 0);
	n = zt_dns_build_answer(out, sizeof(out), &q, b.b, addr, 1, 5);
	assert_int_not_equal(n, 0);
	assert_int_equal(zt_dns_parse_query(&q2, out, n), ZT_EINVAL);
	out[2] &= 0x7f;
	out[7] = 0;
	assert_int_equal(zt_dns_parse_query(&q2, out, q.question_end), 0);
	assert_int_equal(q2.id, 77);
	assert_string_equal(q2.name, "x.y.z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_a),
		cmocka_unit_test(test_parse_aaaa),
		cmocka_unit_test(test_parse_edns),
		cmocka_unit_test(test_parse_root_and_case),
		cmocka_unit_test(test_parse_max_name),
		cmocka_unit_test(test_reject_header),
		cmocka_unit_test(test_reject_compression),
		cmocka_unit_test(test_reject_labels),
		cmocka_unit_test(test_reject_trailing),
		cmocka_unit_test(test_reject_bad_opt),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_answer_a),
		cmocka_unit_test(test_answer_no_rd),
		cmocka_unit_test(test_answer_aaaa_two),
		cmocka_unit_test(test_answer_nodata),
		cmocka_unit_test(test_answer_cap),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_answer_reparses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
