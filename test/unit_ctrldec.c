/* Control protocol: the decoder against hand-built hostile attributes
 * (unknown, duplicate, missing, overrunning, bad values, too many items,
 * names, hostnames, error text), written by the independent frame writer of
 * ctrltest.c. */
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

/* ---- attribute errors -------------------------------------------------- */

static void test_unknown_attribute(void **state)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_str(&f, A_SOFTWARE, "x");
	fb_str(&f, 99, "x");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	/* Known attribute, wrong message. */
	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_str(&f, A_SOFTWARE, "x");
	fb_str(&f, A_NAME, "x");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_min_service(&f, "a");
	fb_addr4(&f, 1);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_attr(&f, A_CODE, "\0\0\0\1", 4);
	fb_str(&f, A_SOFTWARE, "x");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	/* Type 0 and the top of the range. */
	fb_start(&f, 1, ZT_CTRL_OBSERVED_ADDRESS);
	fb_attr(&f, 0, NULL, 0);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_str(&f, A_SOFTWARE, "x");
	fb_attr(&f, 0xffff, NULL, 0);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}

static void test_allow_in_catalog(void **state)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_CATALOG);
	fb_begin(&f, A_ENTRY);
	fb_min_service(&f, "a");
	fb_str(&f, A_CONNECTOR, "c");
	fb_end(&f);
	assert_int_equal(fb_decode(&f), 0);

	fb_start(&f, 1, ZT_CTRL_CATALOG);
	fb_begin(&f, A_ENTRY);
	fb_begin(&f, A_SERVICE);
	fb_str(&f, A_NAME, "a");
	fb_str(&f, A_HOSTNAME, "h");
	fb_ports(&f, 1, 2);
	fb_u8(&f, A_PROTO, ZT_PROTO_UDP);
	fb_attr(&f, A_ALLOW, "\1bob", 4);
	fb_end(&f);
	fb_str(&f, A_CONNECTOR, "c");
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}

static void test_duplicates(void **state)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_str(&f, A_SOFTWARE, "x");
	fb_str(&f, A_SOFTWARE, "x");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_OBSERVED_ADDRESS);
	fb_addr4(&f, 1);
	fb_addr4(&f, 1);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_attr(&f, A_CODE, "\0\0\0\1", 4);
	fb_attr(&f, A_CODE, "\0\0\0\1", 4);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_attr(&f, A_CODE, "\0\0\0\1", 4);
	fb_str(&f, A_TEXT, "a");
	fb_str(&f, A_TEXT, "b");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	static const uint16_t once[] = { A_NAME, A_HOSTNAME, A_PROTO };
	for (size_t i = 0; i < 3; i++) {
		fb_start(&f, 1, ZT_CTRL_REGISTER);
		fb_begin(&f, A_SERVICE);
		fb_str(&f, A_NAME, "a");
		fb_str(&f, A_HOSTNAME, "h");
		fb_ports(&f, 1, 2);
		fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
		if (once[i] == A_PROTO)
			fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
		else
			fb_str(&f, once[i], "b");
		fb_end(&f);
		assert_int_equal(fb_decode(&f), ZT_EINVAL);
	}

	fb_start(&f, 1, ZT_CTRL_CATALOG);
	fb_begin(&f, A_ENTRY);
	fb_min_service(&f, "a");
	fb_min_service(&f, "b");
	fb_str(&f, A_CONNECTOR, "c");
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_CATALOG);
	fb_begin(&f, A_ENTRY);
	fb_min_service(&f, "a");
	fb_str(&f, A_CONNECTOR, "c");
	fb_str(&f, A_CONNECTOR, "c");
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}

static void test_missing_required(void **state)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_addr4(&f, 1);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_OBSERVED_ADDRESS);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_str(&f, A_TEXT, "why");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	/* Each service lacks one thing it needs. */
	for (int miss = 0; miss < 4; miss++) {
		fb_start(&f, 1, ZT_CTRL_REGISTER);
		fb_begin(&f, A_SERVICE);
		if (miss != 0)
			fb_str(&f, A_NAME, "a");
		if (miss != 1)
			fb_str(&f, A_HOSTNAME, "h");
		if (miss != 2)
			fb_ports(&f, 1, 2);
		if (miss != 3)
			fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
		fb_end(&f);
		assert_int_equal(fb_decode(&f), ZT_EINVAL);
	}

	/* An empty HOSTNAME is no destination either. */
	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_begin(&f, A_SERVICE);
	fb_str(&f, A_NAME, "a");
	fb_str(&f, A_HOSTNAME, "");
	fb_ports(&f, 1, 2);
	fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_CATALOG);
	fb_begin(&f, A_ENTRY);
	fb_str(&f, A_CONNECTOR, "c");
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_CATALOG);
	fb_begin(&f, A_ENTRY);
	fb_min_service(&f, "a");
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}

static void test_attr_overrun(void **state)
{
	struct fb f;

	/* Top level: attr_len runs past the body. */
	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_str(&f, A_SOFTWARE, "abc");
	f.b[f.len - 4] = 4;
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	/* A lone partial attribute header. */
	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_str(&f, A_SOFTWARE, "abc");
	fb_raw(&f, "\0\2\0", 3);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	/* Nested: NAME claims more than its SERVICE holds, though the
	 * bytes exist further on in the body. */
	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_min_service(&f, "abc");
	f.b[ZT_CTRL_HDR_LEN + 4 + 3] = 200;
	for (int i = 0; i < 10; i++)
		fb_min_service(&f, "x");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	/* The SERVICE itself overruns the body. */
	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_min_service(&f, "abc");
	f.b[ZT_CTRL_HDR_LEN + 3] += 1;
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}

static void test_bad_addr(void **state)
{
	static const struct {
		uint8_t v[20];
		size_t n;
	} bad[] = {
		{ { 4, 0, 1, 1, 2, 3 }, 6 },               /* short v4 */
		{ { 4, 0, 1, 1, 2, 3, 4, 5 }, 8 },         /* long v4 */
		{ { 4, 0, 1 }, 19 },                       /* v4, v6 length */
		{ { 6, 0, 1, 1, 2, 3, 4 }, 7 },            /* v6, v4 length */
		{ { 6, 0, 1 }, 18 },
		{ { 6, 0, 1 }, 20 },
		{ { 5, 0, 1, 1, 2, 3, 4 }, 7 },            /* bad family */
		{ { 2, 0, 1, 1, 2, 3, 4 }, 7 },            /* AF_INET is not 4 */
		{ { 4, 0, 0, 1, 2, 3, 4 }, 7 },            /* port 0 */
		{ { 0 }, 0 },
	};
	struct fb f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fb_start(&f, 1, ZT_CTRL_OBSERVED_ADDRESS);
		fb_attr(&f, A_ADDR, bad[i].v, bad[i].n);
		assert_int_equal(fb_decode(&f), ZT_EINVAL);
	}

	/* Too many for HELLO. */
	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_str(&f, A_SOFTWARE, "x");
	for (int i = 0; i < ZT_MAX_ADDRS; i++)
		fb_addr4(&f, 1);
	fb_finish(&f);
	{
		struct zt_ctrl_msg m;

		assert_int_equal(zt_ctrl_decode(&m, f.b, f.len), 0);
	}
	fb_addr4(&f, 1);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}

/* Decodes a REGISTER whose one service carries the extra attribute. */
static int decode_svc_with(uint16_t type, const void *v, size_t n)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_begin(&f, A_SERVICE);
	fb_str(&f, A_NAME, "svc");
	fb_ports(&f, 80, 80);
	fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
	fb_attr(&f, type, v, n);
	fb_end(&f);
	return fb_decode(&f);
}

/* ICMP is a flag: empty value, at most once. */
static void test_icmp_flag(void **state)
{
	static const uint8_t cidr4[] = { 4, 24, 10, 1, 2, 0 };
	struct fb f;

	assert_int_equal(decode_svc_with(A_CIDR, cidr4, sizeof(cidr4)), 0);
	for (int variant = 0; variant < 3; variant++) {
		fb_start(&f, 1, ZT_CTRL_REGISTER);
		fb_begin(&f, A_SERVICE);
		fb_str(&f, A_NAME, "svc");
		fb_attr(&f, A_CIDR, cidr4, sizeof(cidr4));
		fb_ports(&f, 80, 80);
		fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
		if (variant == 1)
			fb_attr(&f, A_ICMP, "\1", 1);
		else
			fb_attr(&f, A_ICMP, NULL, 0);
		if (variant == 2)
			fb_attr(&f, A_ICMP, NULL, 0);
		fb_end(&f);
		assert_int_equal(fb_decode(&f), variant == 0 ? 0 : ZT_EINVAL);
	}
}

static void test_bad_cidr(void **state)
{
	static const uint8_t ok4[] = { 4, 24, 10, 1, 2, 0 };
	static const uint8_t host4[] = { 4, 24, 10, 1, 2, 1 };
	static const uint8_t host4b[] = { 4, 0, 0, 0, 0, 1 };
	static const uint8_t pfx4[] = { 4, 33, 10, 1, 2, 0 };
	static const uint8_t len4[] = { 4, 24, 10, 1, 2, 0, 0 };
	static const uint8_t fam[] = { 5, 24, 10, 1, 2, 0 };
	uint8_t v6[18] = { 6, 128 };

	assert_int_equal(decode_svc_with(A_CIDR, ok4, sizeof(ok4)), 0);
	assert_int_equal(decode_svc_with(A_CIDR, host4, sizeof(host4)), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_CIDR, host4b, sizeof(host4b)), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_CIDR, pfx4, sizeof(pfx4)), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_CIDR, len4, sizeof(len4)), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_CIDR, fam, sizeof(fam)), ZT_EINVAL);
	v6[17] = 1;
	assert_int_equal(decode_svc_with(A_CIDR, v6, sizeof(v6)), 0);
	v6[1] = 127; /* last bit is now a host bit */
	assert_int_equal(decode_svc_with(A_CIDR, v6, sizeof(v6)), ZT_EINVAL);
	v6[1] = 129;
	v6[17] = 0;
	assert_int_equal(decode_svc_with(A_CIDR, v6, sizeof(v6)), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_CIDR, v6, 6), ZT_EINVAL);
}

/* Decodes a service with a hostname plus one extra attribute. */
static int decode_hsvc_with(uint16_t type, const void *v, size_t n)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_begin(&f, A_SERVICE);
	fb_str(&f, A_NAME, "svc");
	fb_str(&f, A_HOSTNAME, "h.example");
	fb_ports(&f, 80, 80);
	fb_attr(&f, type, v, n);
	if (type != A_PROTO)
		fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
	fb_end(&f);
	return fb_decode(&f);
}

static void test_bad_service_values(void **state)
{
	static const uint8_t lohi[] = { 0, 81, 0, 80 };
	static const uint8_t zero[] = { 0, 0, 0, 80 };
	static const uint8_t one[] = { 0, 1, 0, 1 };

	assert_int_equal(decode_hsvc_with(A_PORTS, one, 4), 0);
	assert_int_equal(decode_hsvc_with(A_PORTS, lohi, 4), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_PORTS, zero, 4), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_PORTS, "\0\1\0\1\0", 5), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_PORTS, one, 3), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_PROTO, "\3", 1), 0);
	assert_int_equal(decode_hsvc_with(A_PROTO, "\0", 1), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_PROTO, "\4", 1), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_PROTO, "\1\0", 2), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_ALLOW, "\1bob", 4), 0);
	assert_int_equal(decode_hsvc_with(A_ALLOW, "\2ops", 4), 0);
	assert_int_equal(decode_hsvc_with(A_ALLOW, "\3bob", 4), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_ALLOW, "\1", 1), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_ALLOW, "", 0), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_ALLOW, "\1b b", 4), ZT_EINVAL);
	assert_int_equal(decode_hsvc_with(A_ALLOW, "\1b\0b", 4), ZT_EINVAL);
}

static void test_too_many_items(void **state)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_begin(&f, A_SERVICE);
	fb_str(&f, A_NAME, "a");
	fb_str(&f, A_HOSTNAME, "h");
	for (int i = 0; i <= ZT_MAX_PORTS; i++)
		fb_ports(&f, 1, 2);
	fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_begin(&f, A_SERVICE);
	fb_str(&f, A_NAME, "a");
	for (int i = 0; i <= ZT_MAX_CIDRS; i++)
		fb_attr(&f, A_CIDR, "\4\0\0\0\0\0", 6);
	fb_ports(&f, 1, 2);
	fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_REGISTER);
	fb_begin(&f, A_SERVICE);
	fb_str(&f, A_NAME, "a");
	fb_str(&f, A_HOSTNAME, "h");
	fb_ports(&f, 1, 2);
	fb_u8(&f, A_PROTO, ZT_PROTO_TCP);
	for (int i = 0; i <= ZT_MAX_ALLOW; i++)
		fb_attr(&f, A_ALLOW, "\1u", 2);
	fb_end(&f);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_REGISTER);
	for (int i = 0; i < ZT_MAX_SERVICES; i++)
		fb_min_service(&f, "s");
	fb_finish(&f);
	{
		struct zt_ctrl_msg m;

		assert_int_equal(zt_ctrl_decode(&m, f.b, f.len), 0);
		assert_int_equal(m.u.reg.n, ZT_MAX_SERVICES);
		zt_ctrl_msg_free(&m);
	}
	fb_min_service(&f, "s");
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_CATALOG);
	for (int i = 0; i <= ZT_MAX_SERVICES; i++) {
		fb_begin(&f, A_ENTRY);
		fb_min_service(&f, "s");
		fb_str(&f, A_CONNECTOR, "c");
		fb_end(&f);
	}
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}

/* Decodes a HELLO whose SOFTWARE value is s[0..n). */
static int decode_software(const char *s, size_t n)
{
	struct fb f;

	fb_start(&f, 1, ZT_CTRL_HELLO);
	fb_attr(&f, A_SOFTWARE, s, n);
	return fb_decode(&f);
}

static void test_names(void **state)
{
	char s[80];

	assert_int_equal(decode_software("a", 1), 0);
	assert_int_equal(decode_software("!~", 2), 0);
	assert_int_equal(decode_software("", 0), ZT_EINVAL);
	assert_int_equal(decode_software("a b", 3), ZT_EINVAL);
	assert_int_equal(decode_software("a\0b", 3), ZT_EINVAL);
	assert_int_equal(decode_software("ab\0", 3), ZT_EINVAL);
	assert_int_equal(decode_software("a\tb", 3), ZT_EINVAL);
	assert_int_equal(decode_software("a\x7f", 2), ZT_EINVAL);
	assert_int_equal(decode_software("\xc3\xa9", 2), ZT_EINVAL);
	memset(s, 'x', sizeof(s));
	assert_int_equal(decode_software(s, 63), 0);
	assert_int_equal(decode_software(s, 64), ZT_EINVAL);
	assert_int_equal(decode_software(s, 80), ZT_EINVAL);
}

static void test_hostnames(void **state)
{
	char h[260];

	assert_int_equal(decode_svc_with(A_HOSTNAME, "A-z.0-9", 7), 0);
	assert_int_equal(decode_svc_with(A_HOSTNAME, "a_b", 3), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_HOSTNAME, "a b", 3), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_HOSTNAME, "a\0b", 3), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_HOSTNAME, "*.corp", 6), ZT_EINVAL);
	memset(h, 'a', sizeof(h));
	assert_int_equal(decode_svc_with(A_HOSTNAME, h, 253), 0);
	assert_int_equal(decode_svc_with(A_HOSTNAME, h, 254), ZT_EINVAL);
	assert_int_equal(decode_svc_with(A_HOSTNAME, h, 255), ZT_EINVAL);
}

static void test_error_text(void **state)
{
	char t[300];
	struct fb f;

	memset(t, 0x80, sizeof(t));
	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_attr(&f, A_TEXT, t, 255);
	fb_attr(&f, A_CODE, "\0\0\0\7", 4);
	assert_int_equal(fb_decode(&f), 0);

	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_attr(&f, A_CODE, "\0\0\0\7", 4);
	fb_attr(&f, A_TEXT, t, 256);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_attr(&f, A_CODE, "\0\0\0\7", 4);
	fb_attr(&f, A_TEXT, "a\0b", 3);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);

	fb_start(&f, 1, ZT_CTRL_ERROR);
	fb_attr(&f, A_CODE, "\0\0\7", 3);
	assert_int_equal(fb_decode(&f), ZT_EINVAL);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_attribute),
		cmocka_unit_test(test_allow_in_catalog),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_attr_overrun),
		cmocka_unit_test(test_bad_addr),
		cmocka_unit_test(test_icmp_flag),
		cmocka_unit_test(test_bad_cidr),
		cmocka_unit_test(test_bad_service_values),
		cmocka_unit_test(test_too_many_items),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hostnames),
		cmocka_unit_test(test_error_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
