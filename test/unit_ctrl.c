/* Control protocol: round trips, framing errors, the encoder's own
 * validation, the stream reader and the small helpers. The decoder against
 * hostile attributes is in unit_ctrldec.c; the frame writer and sample
 * messages both use are in ctrltest.c. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctrl.h"
#include "ctrltest.h"
#include "err.h"

/* ---- round trips ------------------------------------------------------- */

static void test_hello_round_trip(void **state)
{
	struct zt_ctrl_msg m, out;
	uint8_t *buf;
	size_t len;

	make_hello(&m);
	buf = round_trip(&m, &out, &len);
	assert_string_equal(out.u.hello.software, "ztnad/0.1.0");
	assert_int_equal(out.u.hello.n_addrs, 2);
	assert_addr_equal(&out.u.hello.addrs[0], &m.u.hello.addrs[0]);
	assert_addr_equal(&out.u.hello.addrs[1], &m.u.hello.addrs[1]);
	/* header + SOFTWARE(4+11) + ADDR(4+7) + ADDR(4+19) */
	assert_int_equal(len, 8 + 15 + 11 + 23);
	free(buf);

	/* No addresses, and the full ZT_MAX_ADDRS. */
	m.u.hello.n_addrs = 0;
	buf = round_trip(&m, &out, &len);
	assert_int_equal(out.u.hello.n_addrs, 0);
	free(buf);
	for (size_t i = 0; i < ZT_MAX_ADDRS; i++)
		m.u.hello.addrs[i] = addr4(10, 0, 0, (uint8_t)i, 1);
	m.u.hello.n_addrs = ZT_MAX_ADDRS;
	buf = round_trip(&m, &out, &len);
	assert_int_equal(out.u.hello.n_addrs, ZT_MAX_ADDRS);
	assert_addr_equal(&out.u.hello.addrs[7], &m.u.hello.addrs[7]);
	free(buf);
}

static void test_hello_wire_bytes(void **state)
{
	static const uint8_t want[] = {
		1, 1, 0, 0, 0, 0, 0, 18,
		0, 1, 0, 3, 'z', 't', '1',
		0, 2, 0, 7, 4, 0x11, 0x51, 192, 0, 2, 1,
	};
	struct zt_ctrl_msg m = { .type = ZT_CTRL_HELLO };
	uint8_t *buf;
	size_t len;

	strcpy(m.u.hello.software, "zt1");
	m.u.hello.addrs[0] = addr4(192, 0, 2, 1, 4433);
	m.u.hello.n_addrs = 1;
	assert_int_equal(zt_ctrl_encode(&m, &buf, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	free(buf);
}

static void test_observed_round_trip(void **state)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_OBSERVED_ADDRESS }, out;
	uint8_t *buf;
	size_t len;

	m.u.observed.addr = addr4(203, 0, 113, 9, 61000);
	buf = round_trip(&m, &out, &len);
	assert_addr_equal(&out.u.observed.addr, &m.u.observed.addr);
	free(buf);
	m.u.observed.addr = addr6("2001:db8:1:2::77", 1);
	buf = round_trip(&m, &out, &len);
	assert_addr_equal(&out.u.observed.addr, &m.u.observed.addr);
	free(buf);
}

static void test_register_round_trip(void **state)
{
	struct zt_ctrl_msg m, out;
	uint8_t *buf;
	size_t len;

	make_register(&m, 5);
	strcpy(m.u.reg.services[1].target, "127.0.0.1"); /* never sent */
	buf = round_trip(&m, &out, &len);
	assert_int_equal(out.u.reg.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_svc_equal(&m.u.reg.services[i], &out.u.reg.services[i], 1);
	assert_string_equal(out.u.reg.services[1].target, "");
	assert_null(memmem(buf, len, "127.0.0.1", 9));
	zt_ctrl_msg_free(&out);
	zt_ctrl_msg_free(&m);
	free(buf);

	/* A connector with nothing to offer still registers. */
	memset(&m, 0, sizeof(m));
	m.type = ZT_CTRL_REGISTER;
	buf = round_trip(&m, &out, &len);
	assert_int_equal(len, ZT_CTRL_HDR_LEN);
	assert_int_equal(out.u.reg.n, 0);
	assert_null(out.u.reg.services);
	free(buf);
}

static void test_register_limits_round_trip(void **state)
{
	struct zt_ctrl_msg m, out;
	struct zt_service *s;
	uint8_t *buf;
	size_t len;

	make_register(&m, 1);
	s = &m.u.reg.services[0];
	memset(s->name, 'n', ZT_NAME_MAX - 1);
	memset(s->hostname, 'h', 253);
	for (s->n_cidrs = 0; s->n_cidrs < ZT_MAX_CIDRS; s->n_cidrs++)
		s->cidrs[s->n_cidrs] = cidr(AF_INET6, "2001:db8::", 64);
	for (s->n_ports = 0; s->n_ports < ZT_MAX_PORTS; s->n_ports++)
		s->ports[s->n_ports] = (struct zt_port_range){ 1, 65535 };
	for (s->n_allow = 0; s->n_allow < ZT_MAX_ALLOW; s->n_allow++) {
		s->allow[s->n_allow].kind = ZT_PRINCIPAL_GROUP;
		memset(s->allow[s->n_allow].name, '~', ZT_NAME_MAX - 1);
	}
	buf = round_trip(&m, &out, &len);
	assert_svc_equal(s, &out.u.reg.services[0], 1);
	zt_ctrl_msg_free(&out);
	zt_ctrl_msg_free(&m);
	free(buf);
}

static void test_catalog_round_trip(void **state)
{
	struct zt_ctrl_msg m, out;
	uint8_t *buf;
	size_t len;

	make_catalog(&m, 6);
	buf = round_trip(&m, &out, &len);
	assert_int_equal(out.u.catalog.n, 6);
	for (size_t i = 0; i < 6; i++) {
		struct zt_catalog_entry *a = &m.u.catalog.entries[i];
		struct zt_catalog_entry *b = &out.u.catalog.entries[i];

		/* The allow list stays with the relay. */
		assert_svc_equal(&a->svc, &b->svc, 0);
		assert_string_equal(a->connector, b->connector);
		assert_int_equal(a->n_addrs, b->n_addrs);
		for (size_t k = 0; k < a->n_addrs; k++)
			assert_addr_equal(&a->addrs[k], &b->addrs[k]);
	}
	assert_null(memmem(buf, len, "alice", 5));
	zt_ctrl_msg_free(&out);
	zt_ctrl_msg_free(&m);
	free(buf);
}

static void test_error_round_trip(void **state)
{
	struct zt_ctrl_msg m, out;
	uint8_t *buf;
	size_t len;

	make_error(&m);
	buf = round_trip(&m, &out, &len);
	assert_int_equal(out.u.error.code, ZT_APP_DENIED);
	assert_string_equal(out.u.error.text, m.u.error.text);
	free(buf);

	m.u.error.code = 0xfffffff0; /* unknown codes pass through */
	m.u.error.text[0] = '\0';
	buf = round_trip(&m, &out, &len);
	assert_int_equal(out.u.error.code, 0xfffffff0);
	assert_string_equal(out.u.error.text, "");
	free(buf);

	memset(m.u.error.text, 0xff, 255);
	m.u.error.text[255] = '\0';
	buf = round_trip(&m, &out, &len);
	assert_string_equal(out.u.error.text, m.u.error.text);
	free(buf);
}

/* ---- framing errors ---------------------------------------------------- */

static void check_prefixes(const struct zt_ctrl_msg *m)
{
	struct zt_ctrl_msg out;
	uint8_t *buf, *copy;
	size_t len;

	assert_int_equal(zt_ctrl_encode(m, &buf, &len), 0);
	for (size_t n = 0; n < len; n++) {
		/* A fresh exact-size copy lets ASan catch any over-read. */
		copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, buf, n);
		assert_int_equal(zt_ctrl_decode(&out, copy, n), ZT_ETRUNC);
		free(copy);
	}
	assert_int_equal(zt_ctrl_decode(&out, buf, len), 0);
	zt_ctrl_msg_free(&out);
	free(buf);
}

static void test_truncated(void **state)
{
	struct zt_ctrl_msg m;

	assert_int_equal(zt_ctrl_decode(&m, NULL, 0), ZT_ETRUNC);
	m.type = ZT_CTRL_OBSERVED_ADDRESS;
	m.u.observed.addr = addr6("::1", 9);
	check_prefixes(&m);
	make_hello(&m);
	check_prefixes(&m);
	make_error(&m);
	check_prefixes(&m);
	make_register(&m, 3);
	check_prefixes(&m);
	zt_ctrl_msg_free(&m);
	make_catalog(&m, 3);
	check_prefixes(&m);
	zt_ctrl_msg_free(&m);
}

static void test_trailing_bytes(void **state)
{
	struct zt_ctrl_msg m, out;
	uint8_t *buf, *big;
	size_t len;

	make_hello(&m);
	assert_int_equal(zt_ctrl_encode(&m, &buf, &len), 0);
	big = calloc(1, len + 1);
	assert_non_null(big);
	memcpy(big, buf, len);
	assert_int_equal(zt_ctrl_decode(&out, big, len + 1), ZT_EINVAL);
	free(big);
	free(buf);
}

static void test_oversized(void **state)
{
	uint8_t hdr[ZT_CTRL_HDR_LEN] = { 1, ZT_CTRL_HELLO, 0, 0 };
	uint32_t n = ZT_CTRL_MAX_BODY + 1;
	struct zt_ctrl_reader r;
	struct zt_ctrl_msg m;

	hdr[4] = (uint8_t)(n >> 24);
	hdr[5] = (uint8_t)(n >> 16);
	hdr[6] = (uint8_t)(n >> 8);
	hdr[7] = (uint8_t)n;
	assert_int_equal(zt_ctrl_decode(&m, hdr, sizeof(hdr)), ZT_ETOOBIG);

	zt_ctrl_reader_init(&r);
	for (size_t i = 0; i < sizeof(hdr) - 1; i++)
		assert_int_equal(zt_ctrl_reader_feed(&r, &hdr[i], 1), 0);
	assert_int_equal(zt_ctrl_reader_feed(&r, &hdr[7], 1), ZT_ETOOBIG);
	zt_ctrl_reader_free(&r);

	memset(hdr + 4, 0xff, 4);
	assert_int_equal(zt_ctrl_decode(&m, hdr, sizeof(hdr)), ZT_ETOOBIG);
	zt_ctrl_reader_init(&r);
	assert_int_equal(zt_ctrl_reader_feed(&r, hdr, sizeof(hdr)), ZT_ETOOBIG);
	zt_ctrl_reader_free(&r);

	/* Exactly the limit is allowed: it is just not all here yet. */
	n = ZT_CTRL_MAX_BODY;
	hdr[4] = (uint8_t)(n >> 24);
	hdr[5] = (uint8_t)(n >> 16);
	hdr[6] = (uint8_t)(n >> 8);
	hdr[7] = (uint8_t)n;
	assert_int_equal(zt_ctrl_decode(&m, hdr, sizeof(hdr)), ZT_ETRUNC);
	zt_ctrl_reader_init(&r);
	assert_int_equal(zt_ctrl_reader_feed(&r, hdr, sizeof(hdr)), 0);
	assert_int_equal(zt_ctrl_reader_next(&r, &m), ZT_ETRUNC);
	zt_ctrl_reader_free(&r);
}

static void test_wrong_version(void **state)
{
	struct zt_ctrl_msg m, out;
	struct zt_ctrl_reader r;
	uint8_t *buf;
	size_t len;

	make_hello(&m);
	assert_int_equal(zt_ctrl_encode(&m, &buf, &len), 0);
	buf[0] = ZT_CTRL_VERSION_MAX + 1;
	assert_int_equal(zt_ctrl_decode(&out, buf, len), ZT_EVERSION);
	buf[0] = 0;
	assert_int_equal(zt_ctrl_decode(&out, buf, len), ZT_EVERSION);
	/* Reported as soon as the header is in, body or not. */
	assert_int_equal(zt_ctrl_decode(&out, buf, ZT_CTRL_HDR_LEN), ZT_EVERSION);
	zt_ctrl_reader_init(&r);
	assert_int_equal(zt_ctrl_reader_feed(&r, buf, ZT_CTRL_HDR_LEN),
			 ZT_EVERSION);
	zt_ctrl_reader_free(&r);
	free(buf);
}

static void test_unknown_type(void **state)
{
	static const uint8_t types[] = { 0, 6, 0x7f, 0xff };
	struct fb f;

	for (size_t i = 0; i < sizeof(types); i++) {
		fb_start(&f, 1, types[i]);
		fb_str(&f, A_SOFTWARE, "x");
		assert_int_equal(fb_decode(&f), ZT_EUNKNOWN);
	}
}

static void test_reserved_ignored(void **state)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_HELLO);
	f.b[2] = 0xab;
	f.b[3] = 0xcd;
	fb_str(&f, A_SOFTWARE, "x");
	assert_int_equal(fb_decode(&f), 0);
}

/* ---- encoder validation ------------------------------------------------ */

static int encode_rc(const struct zt_ctrl_msg *m)
{
	uint8_t *buf = (uint8_t *)"sentinel";
	size_t len = 1;
	int rc = zt_ctrl_encode(m, &buf, &len);

	if (rc) {
		assert_null(buf);
		assert_int_equal(len, 0);
	}
	free(buf);
	return rc;
}

static void test_encode_rejects_hello(void **state)
{
	struct zt_ctrl_msg m;

	make_hello(&m);
	assert_int_equal(encode_rc(&m), 0);
	m.u.hello.software[0] = '\0';
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	strcpy(m.u.hello.software, "a b");
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	memset(m.u.hello.software, 'x', ZT_NAME_MAX); /* unterminated */
	assert_int_equal(encode_rc(&m), ZT_EINVAL);

	make_hello(&m);
	m.u.hello.addrs[1].family = 0;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	make_hello(&m);
	m.u.hello.addrs[0].port = 0;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	make_hello(&m);
	m.u.hello.n_addrs = ZT_MAX_ADDRS + 1;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);

	memset(&m, 0, sizeof(m));
	m.type = ZT_CTRL_OBSERVED_ADDRESS;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	m.type = 0;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	m.type = 6;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);

	make_error(&m);
	memset(m.u.error.text, 'e', sizeof(m.u.error.text));
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
}

/* Breaks one field of service 1 of a fresh REGISTER and encodes it. */
static int encode_broken_service(int what)
{
	struct zt_ctrl_msg m;
	struct zt_service *s;
	int rc;

	make_register(&m, 2);
	s = &m.u.reg.services[1];
	switch (what) {
	case 0: break;
	case 1: s->name[0] = '\0'; break;
	case 2: memset(s->name, 'n', ZT_NAME_MAX); break;
	case 3: strcpy(s->hostname, "a_b"); break;
	case 4: s->n_cidrs = 0; s->hostname[0] = '\0'; break;
	case 5: s->cidrs[0].addr[3] = 1; break;
	case 6: s->cidrs[2].prefix = 129; break;
	case 7: s->cidrs[0].family = 0; break;
	case 8: s->ports[1].lo = 9000; break;
	case 9: s->ports[0].lo = 0; s->ports[0].hi = 0; break;
	case 10: s->n_ports = 0; break;
	case 11: s->proto = 0; break;
	case 12: s->proto = 4; break;
	case 13: s->allow[1].kind = 3; break;
	case 14: strcpy(s->allow[0].name, "al ice"); break;
	case 15: s->n_allow = ZT_MAX_ALLOW + 1; break;
	case 16: s->n_cidrs = ZT_MAX_CIDRS + 1; break;
	case 17: s->n_ports = ZT_MAX_PORTS + 1; break;
	case 18: memset(s->hostname, 'h', sizeof(s->hostname)); break;
	case 19: memset(s->hostname, 'h', 254); break;
	case 20: m.u.reg.n = ZT_MAX_SERVICES + 1; break;
	}
	/* Case 20 claims more services than allocated: the count must be
	 * checked before any is read. */
	rc = encode_rc(&m);
	zt_ctrl_msg_free(&m);
	return rc;
}

static void test_encode_rejects_service(void **state)
{
	assert_int_equal(encode_broken_service(0), 0);
	for (int i = 1; i <= 20; i++) {
		int rc = encode_broken_service(i);

		if (rc != ZT_EINVAL)
			fail_msg("case %d: got %d", i, rc);
	}
}

static void test_encode_rejects_catalog(void **state)
{
	struct zt_ctrl_msg m;

	make_catalog(&m, 3);
	assert_int_equal(encode_rc(&m), 0);
	/* Not sent, so not checked. */
	m.u.catalog.entries[0].svc.allow[0].kind = 9;
	assert_int_equal(encode_rc(&m), 0);
	m.u.catalog.entries[2].connector[0] = '\0';
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	strcpy(m.u.catalog.entries[2].connector, "c");
	m.u.catalog.entries[1].addrs[0].port = 0;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	m.u.catalog.entries[1].addrs[0].port = 1;
	m.u.catalog.entries[1].n_addrs = ZT_MAX_ADDRS + 1;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	m.u.catalog.entries[1].n_addrs = 0;
	m.u.catalog.entries[1].svc.n_ports = 0;
	assert_int_equal(encode_rc(&m), ZT_EINVAL);
	zt_ctrl_msg_free(&m);
}

static void test_encode_too_big(void **state)
{
	struct zt_ctrl_msg m;

	/* 256 services with every list full is far beyond 256 KiB. */
	make_register(&m, ZT_MAX_SERVICES);
	for (size_t i = 0; i < m.u.reg.n; i++) {
		struct zt_service *s = &m.u.reg.services[i];

		while (s->n_allow < ZT_MAX_ALLOW) {
			s->allow[s->n_allow].kind = ZT_PRINCIPAL_USER;
			memset(s->allow[s->n_allow].name, 'u', ZT_NAME_MAX - 1);
			s->n_allow++;
		}
	}
	assert_int_equal(encode_rc(&m), ZT_ETOOBIG);
	m.u.reg.n = 32;
	assert_int_equal(encode_rc(&m), 0);
	zt_ctrl_msg_free(&m);
}

/* ---- reader ------------------------------------------------------------ */

static void test_reader_bytewise(void **state)
{
	struct zt_ctrl_msg a, b, out;
	struct zt_ctrl_reader r;
	uint8_t *fa, *fb2, *both;
	size_t la, lb;
	int got = 0;

	make_hello(&a);
	make_catalog(&b, 2);
	assert_int_equal(zt_ctrl_encode(&a, &fa, &la), 0);
	assert_int_equal(zt_ctrl_encode(&b, &fb2, &lb), 0);
	both = malloc(la + lb);
	assert_non_null(both);
	memcpy(both, fa, la);
	memcpy(both + la, fb2, lb);

	zt_ctrl_reader_init(&r);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), ZT_ETRUNC);
	for (size_t i = 0; i < la + lb; i++) {
		int rc;

		assert_int_equal(zt_ctrl_reader_feed(&r, &both[i], 1), 0);
		rc = zt_ctrl_reader_next(&r, &out);
		if (i + 1 == la || i + 1 == la + lb) {
			assert_int_equal(rc, 0);
			assert_int_equal(out.type, got == 0 ? ZT_CTRL_HELLO
							    : ZT_CTRL_CATALOG);
			got++;
			zt_ctrl_msg_free(&out);
		} else {
			assert_int_equal(rc, ZT_ETRUNC);
		}
	}
	assert_int_equal(got, 2);
	assert_int_equal(r.len, 0);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), ZT_ETRUNC);

	/* All at once: two messages, then nothing. */
	assert_int_equal(zt_ctrl_reader_feed(&r, both, la + lb), 0);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), 0);
	assert_int_equal(out.type, ZT_CTRL_HELLO);
	assert_string_equal(out.u.hello.software, "ztnad/0.1.0");
	assert_int_equal(zt_ctrl_reader_next(&r, &out), 0);
	assert_int_equal(out.type, ZT_CTRL_CATALOG);
	assert_int_equal(out.u.catalog.n, 2);
	assert_string_equal(out.u.catalog.entries[1].connector, "conn-1");
	zt_ctrl_msg_free(&out);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), ZT_ETRUNC);

	zt_ctrl_reader_free(&r);
	zt_ctrl_reader_free(&r); /* idempotent */
	zt_ctrl_msg_free(&b);
	free(both);
	free(fa);
	free(fb2);
}

static void test_reader_bad_second_header(void **state)
{
	struct zt_ctrl_msg a, out;
	struct zt_ctrl_reader r;
	uint8_t *fa, *both;
	size_t la;

	make_hello(&a);
	assert_int_equal(zt_ctrl_encode(&a, &fa, &la), 0);
	both = malloc(2 * la);
	assert_non_null(both);
	memcpy(both, fa, la);
	memcpy(both + la, fa, la);
	both[la] = 9; /* second frame: other version */

	zt_ctrl_reader_init(&r);
	assert_int_equal(zt_ctrl_reader_feed(&r, both, la + 7), 0);
	assert_int_equal(zt_ctrl_reader_feed(&r, both + la + 7, 1), ZT_EVERSION);
	/* The first frame is still fine; the second is then refused. */
	assert_int_equal(zt_ctrl_reader_next(&r, &out), 0);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), ZT_EVERSION);
	zt_ctrl_reader_free(&r);

	/* A malformed body is consumed and reported; framing goes on. */
	memcpy(both, fa, la);
	both[8 + 1] = 99; /* SOFTWARE -> unknown attribute */
	both[la] = 1;
	zt_ctrl_reader_init(&r);
	assert_int_equal(zt_ctrl_reader_feed(&r, both, 2 * la), 0);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), ZT_EINVAL);
	assert_int_equal(out.type, 0);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), 0);
	assert_int_equal(out.type, ZT_CTRL_HELLO);
	assert_int_equal(r.len, 0);
	zt_ctrl_reader_free(&r);
	free(both);
	free(fa);
}

static void test_reader_large_frame(void **state)
{
	struct zt_ctrl_msg m, out;
	struct zt_ctrl_reader r;
	uint8_t *buf;
	size_t len;

	make_register(&m, 64);
	assert_int_equal(zt_ctrl_encode(&m, &buf, &len), 0);
	assert_true(len > 8192);
	zt_ctrl_reader_init(&r);
	for (size_t off = 0; off < len; off += 1000) {
		size_t n = len - off < 1000 ? len - off : 1000;

		assert_int_equal(zt_ctrl_reader_next(&r, &out), ZT_ETRUNC);
		assert_int_equal(zt_ctrl_reader_feed(&r, buf + off, n), 0);
	}
	assert_int_equal(zt_ctrl_reader_next(&r, &out), 0);
	assert_int_equal(out.u.reg.n, 64);
	assert_svc_equal(&m.u.reg.services[63], &out.u.reg.services[63], 1);
	zt_ctrl_msg_free(&out);
	/* A drained reader does not hold on to a big buffer. */
	assert_int_equal(r.len, 0);
	assert_true(r.cap <= 4096);
	assert_int_equal(zt_ctrl_reader_next(&r, &out), ZT_ETRUNC);
	zt_ctrl_reader_free(&r);
	zt_ctrl_msg_free(&m);
	free(buf);
}

/* ---- small helpers ----------------------------------------------------- */

static void test_names_and_codes(void **state)
{
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_HELLO), "HELLO");
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_OBSERVED_ADDRESS),
			    "OBSERVED_ADDRESS");
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_REGISTER), "REGISTER");
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_CATALOG), "CATALOG");
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_ERROR), "ERROR");
	assert_string_equal(zt_ctrl_type_name(0), "UNKNOWN");
	assert_string_equal(zt_ctrl_type_name(13), "UNKNOWN");
	assert_string_equal(zt_ctrl_type_name(-1), "UNKNOWN");

	assert_int_equal(zt_ctrl_app_error(ZT_ETOOBIG), ZT_APP_TOO_BIG);
	assert_int_equal(zt_ctrl_app_error(ZT_EVERSION), ZT_APP_VERSION);
	assert_int_equal(zt_ctrl_app_error(ZT_EUNKNOWN), ZT_APP_UNKNOWN);
	assert_int_equal(zt_ctrl_app_error(ZT_EINVAL), ZT_APP_PROTOCOL);
	assert_int_equal(zt_ctrl_app_error(ZT_ETRUNC), ZT_APP_PROTOCOL);
	assert_int_equal(zt_ctrl_app_error(ZT_ENOMEM), ZT_APP_INTERNAL);
	assert_int_equal(zt_ctrl_app_error(0), ZT_APP_NO_ERROR);
}

static void test_msg_free(void **state)
{
	struct zt_ctrl_msg m;

	memset(&m, 0, sizeof(m));
	zt_ctrl_msg_free(&m);
	zt_ctrl_msg_free(NULL);
	make_register(&m, 2);
	zt_ctrl_msg_free(&m);
	assert_null(m.u.reg.services);
	assert_int_equal(m.u.reg.n, 0);
	zt_ctrl_msg_free(&m);
	make_catalog(&m, 2);
	zt_ctrl_msg_free(&m);
	assert_null(m.u.catalog.entries);
	zt_ctrl_msg_free(&m);
	/* A HELLO's bytes overlay the pointers: must not be freed. */
	make_hello(&m);
	memset(m.u.hello.software, 'x', ZT_NAME_MAX - 1);
	zt_ctrl_msg_free(&m);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_hello_wire_bytes),
		cmocka_unit_test(test_observed_round_trip),
		cmocka_unit_test(test_register_round_trip),
		cmocka_unit_test(test_register_limits_round_trip),
		cmocka_unit_test(test_catalog_round_trip),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_reserved_ignored),
		cmocka_unit_test(test_encode_rejects_hello),
		cmocka_unit_test(test_encode_rejects_service),
		cmocka_unit_test(test_encode_rejects_catalog),
		cmocka_unit_test(test_encode_too_big),
		cmocka_unit_test(test_reader_bytewise),
		cmocka_unit_test(test_reader_bad_second_header),
		cmocka_unit_test(test_reader_large_frame),
		cmocka_unit_test(test_names_and_codes),
		cmocka_unit_test(test_msg_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
