/* Flow header codec (docs/PROTOCOL.md, "Flows (version 1)"): exact bytes of
 * the header for IPv4 and IPv6, ZT_ETRUNC for every truncated prefix,
 * ZT_EINVAL for a bad version, protocol, address family or service name,
 * the encoder refusing what the decoder would refuse, the status values and
 * names, and the DATAGRAM flow id prefix (a QUIC varint of stream id / 4). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "flowhdr.h"

/* proto 6, port 443, family 4, 10.1.2.3, name "wiki" */
static const uint8_t HDR_V4[] = {
	0x01, 0x06, 0x01, 0xbb, 0x04, 0x0a, 0x01, 0x02, 0x03,
	0x04, 'w',  'i',  'k',  'i',
};

/* proto 17, port 53, family 6, fd00::1, name "corpdns" */
static const uint8_t HDR_V6[] = {
	0x01, 0x11, 0x00, 0x35, 0x06, 0xfd, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x07, 'c',  'o',  'r',  'p',  'd',  'n',  's',
};

static void hdr_v4(struct zt_flow_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->proto = 6;
	h->dst.family = AF_INET;
	h->dst.port = 443;
	h->dst.ip[0] = 10;
	h->dst.ip[1] = 1;
	h->dst.ip[2] = 2;
	h->dst.ip[3] = 3;
	strcpy(h->service, "wiki");
}

static void hdr_v6(struct zt_flow_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->proto = 17;
	h->dst.family = AF_INET6;
	h->dst.port = 53;
	h->dst.ip[0] = 0xfd;
	h->dst.ip[15] = 0x01;
	strcpy(h->service, "corpdns");
}

/* A header with a name of name_len bytes of 'a' (not validated here). */
static size_t build(uint8_t *b, uint8_t version, uint8_t proto,
		    uint8_t family, size_t name_len)
{
	size_t ipl = family == 6 ? 16 : 4, o = 0;

	b[o++] = version;
	b[o++] = proto;
	b[o++] = 0x00;
	b[o++] = 0x50;
	b[o++] = family;
	memset(b + o, 0x0a, ipl);
	o += ipl;
	b[o++] = (uint8_t)name_len;
	memset(b + o, 'a', name_len);
	return o + name_len;
}

static void test_encode_v4(void **state)
{
	struct zt_flow_hdr h;
	uint8_t out[ZT_FLOW_HDR_MAX];

	(void)state;
	hdr_v4(&h);
	assert_int_equal(zt_flow_hdr_encode(&h, out, sizeof(out)),
			 sizeof(HDR_V4));
	assert_memory_equal(out, HDR_V4, sizeof(HDR_V4));
}

static void test_encode_v6(void **state)
{
	struct zt_flow_hdr h;
	uint8_t out[ZT_FLOW_HDR_MAX];

	(void)state;
	hdr_v6(&h);
	assert_int_equal(zt_flow_hdr_encode(&h, out, sizeof(out)),
			 sizeof(HDR_V6));
	assert_memory_equal(out, HDR_V6, sizeof(HDR_V6));
}

static void test_decode_v4(void **state)
{
	struct zt_flow_hdr h, want;
	uint8_t buf[sizeof(HDR_V4) + 3];

	(void)state;
	hdr_v4(&want);
	assert_int_equal(zt_flow_hdr_decode(&h, HDR_V4, sizeof(HDR_V4)),
			 (int)sizeof(HDR_V4));
	assert_int_equal(h.proto, 6);
	assert_int_equal(h.dst.family, AF_INET);
	assert_int_equal(h.dst.port, 443);
	assert_memory_equal(h.dst.ip, want.dst.ip, 4);
	assert_string_equal(h.service, "wiki");
	/* Bytes after the header are not consumed. */
	memcpy(buf, HDR_V4, sizeof(HDR_V4));
	memcpy(buf + sizeof(HDR_V4), "\x05\x06\x07", 3);
	assert_int_equal(zt_flow_hdr_decode(&h, buf, sizeof(buf)),
			 (int)sizeof(HDR_V4));
	assert_string_equal(h.service, "wiki");
}

static void test_decode_v6(void **state)
{
	struct zt_flow_hdr h, want;

	(void)state;
	hdr_v6(&want);
	assert_int_equal(zt_flow_hdr_decode(&h, HDR_V6, sizeof(HDR_V6)),
			 (int)sizeof(HDR_V6));
	assert_int_equal(h.proto, 17);
	assert_int_equal(h.dst.family, AF_INET6);
	assert_int_equal(h.dst.port, 53);
	assert_memory_equal(h.dst.ip, want.dst.ip, 16);
	assert_string_equal(h.service, "corpdns");
}

/* encode -> decode -> encode gives the same bytes, for every protocol,
 * both families, the shortest and longest names and extreme ports. */
static void test_round_trip(void **state)
{
	static const uint8_t protos[] = { 1, 6, 17 };
	static const uint16_t ports[] = { 0, 1, 443, 65535 };
	static const size_t lens[] = { 1, 5, ZT_NAME_MAX - 1 };

	(void)state;
	for (size_t p = 0; p < sizeof(protos); p++)
		for (int fam = 0; fam < 2; fam++)
			for (size_t q = 0; q < 4; q++)
				for (size_t l = 0; l < 3; l++) {
					struct zt_flow_hdr h, d;
					uint8_t a[ZT_FLOW_HDR_MAX], b[ZT_FLOW_HDR_MAX];
					size_t n, ipl = fam ? 16 : 4;

					memset(&h, 0, sizeof(h));
					h.proto = protos[p];
					h.dst.family = fam ? AF_INET6 : AF_INET;
					h.dst.port = ports[q];
					for (size_t i = 0; i < ipl; i++)
						h.dst.ip[i] = (uint8_t)(0xa0 + i);
					memset(h.service, '!' + (int)l, lens[l]);
					n = zt_flow_hdr_encode(&h, a, sizeof(a));
					assert_int_equal(n, 6 + ipl + lens[l]);
					assert_int_equal(zt_flow_hdr_decode(&d, a, n), (int)n);
					assert_int_equal(d.proto, h.proto);
					assert_int_equal(d.dst.family, h.dst.family);
					assert_int_equal(d.dst.port, h.dst.port);
					assert_memory_equal(d.dst.ip, h.dst.ip, ipl);
					assert_string_equal(d.service, h.service);
					assert_int_equal(zt_flow_hdr_encode(&d, b, sizeof(b)), n);
					assert_memory_equal(a, b, n);
				}
}

static void test_longest_header(void **state)
{
	struct zt_flow_hdr h;
	uint8_t out[ZT_FLOW_HDR_MAX];

	(void)state;
	hdr_v6(&h);
	memset(h.service, 'x', ZT_NAME_MAX - 1);
	h.service[ZT_NAME_MAX - 1] = 0;
	/* 6 + 16 + 63 fits the advertised maximum. */
	assert_int_equal(zt_flow_hdr_encode(&h, out, sizeof(out)),
			 6 + 16 + ZT_NAME_MAX - 1);
	assert_true(6 + 16 + ZT_NAME_MAX - 1 <= ZT_FLOW_HDR_MAX);
}

static void check_prefixes(const uint8_t *b, size_t n)
{
	struct zt_flow_hdr h;

	for (size_t len = 0; len < n; len++)
		assert_int_equal(zt_flow_hdr_decode(&h, b, len), ZT_ETRUNC);
	assert_int_equal(zt_flow_hdr_decode(&h, b, n), (int)n);
}

static void test_truncated(void **state)
{
	uint8_t b[ZT_FLOW_HDR_MAX];

	(void)state;
	check_prefixes(HDR_V4, sizeof(HDR_V4));
	check_prefixes(HDR_V6, sizeof(HDR_V6));
	check_prefixes(b, build(b, 1, 1, 4, 1));
	check_prefixes(b, build(b, 1, 17, 6, ZT_NAME_MAX - 1));
}

static void test_bad_version(void **state)
{
	static const uint8_t versions[] = { 0, 2, 0x7f, 0xff };
	struct zt_flow_hdr h;
	uint8_t b[ZT_FLOW_HDR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(versions); i++) {
		size_t n = build(b, versions[i], 6, 4, 4);

		assert_int_equal(zt_flow_hdr_decode(&h, b, n), ZT_EINVAL);
		/* Known as soon as the fixed part (5 bytes) is in. */
		assert_int_equal(zt_flow_hdr_decode(&h, b, 5), ZT_EINVAL);
	}
}

static void test_bad_proto(void **state)
{
	static const uint8_t protos[] = { 0, 2, 4, 41, 58, 132, 255 };
	struct zt_flow_hdr h;
	uint8_t b[ZT_FLOW_HDR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(protos); i++) {
		size_t n = build(b, 1, protos[i], 4, 4);

		assert_int_equal(zt_flow_hdr_decode(&h, b, n), ZT_EINVAL);
		assert_int_equal(zt_flow_hdr_decode(&h, b, 5), ZT_EINVAL);
	}
}

static void test_bad_family(void **state)
{
	/* The wire family is 4 or 6, never the host's AF_* numbers. */
	static const uint8_t fams[] = { 0, 2, 5, 10, 41, 255 };
	struct zt_flow_hdr h;
	uint8_t b[ZT_FLOW_HDR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(fams); i++) {
		size_t n = build(b, 1, 6, 4, 4);

		b[4] = fams[i];
		assert_int_equal(zt_flow_hdr_decode(&h, b, n), ZT_EINVAL);
		assert_int_equal(zt_flow_hdr_decode(&h, b, 5), ZT_EINVAL);
	}
}

static void test_bad_name(void **state)
{
	static const uint8_t bad_bytes[] = { ' ', 0x00, 0x01, 0x09, 0x0a,
					     0x1f, 0x7f, 0x80, 0xff };
	struct zt_flow_hdr h;
	uint8_t b[ZT_FLOW_HDR_MAX + 8];
	size_t n;

	(void)state;
	/* Empty. */
	n = build(b, 1, 6, 4, 0);
	assert_int_equal(n, 10);
	assert_int_equal(zt_flow_hdr_decode(&h, b, n), ZT_EINVAL);
	/* 64 bytes: one more than a name may have. */
	n = build(b, 1, 6, 4, ZT_NAME_MAX);
	assert_int_equal(zt_flow_hdr_decode(&h, b, n), ZT_EINVAL);
	n = build(b, 1, 6, 6, ZT_NAME_MAX);
	assert_int_equal(zt_flow_hdr_decode(&h, b, n), ZT_EINVAL);
	/* 63 is fine. */
	n = build(b, 1, 6, 4, ZT_NAME_MAX - 1);
	assert_int_equal(zt_flow_hdr_decode(&h, b, n), (int)n);
	assert_int_equal(strlen(h.service), ZT_NAME_MAX - 1);
	/* Space, control characters, DEL, non-ASCII: first, middle, last. */
	for (size_t i = 0; i < sizeof(bad_bytes); i++)
		for (size_t pos = 0; pos < 3; pos++) {
			n = build(b, 1, 6, 4, 3);
			b[n - 3 + pos] = bad_bytes[i];
			assert_int_equal(zt_flow_hdr_decode(&h, b, n),
					 ZT_EINVAL);
		}
	/* The edges of the allowed range: '!' and '~'. */
	n = build(b, 1, 6, 4, 2);
	b[n - 2] = '!';
	b[n - 1] = '~';
	assert_int_equal(zt_flow_hdr_decode(&h, b, n), (int)n);
	assert_string_equal(h.service, "!~");
}

static void assert_encode_fails(const struct zt_flow_hdr *h)
{
	uint8_t out[ZT_FLOW_HDR_MAX + 8];

	memset(out, 0xee, sizeof(out));
	assert_int_equal(zt_flow_hdr_encode(h, out, sizeof(out)), 0);
	/* Nothing written. */
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xee);
}

static void test_encode_rejects(void **state)
{
	static const uint8_t bad_protos[] = { 0, 2, 58, 255 };
	static const char bad_chars[] = { ' ', 0x01, 0x1f, 0x7f };
	struct zt_flow_hdr h;
	uint8_t out[ZT_FLOW_HDR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_protos); i++) {
		hdr_v4(&h);
		h.proto = bad_protos[i];
		assert_encode_fails(&h);
	}
	hdr_v4(&h);
	h.dst.family = 0;
	assert_encode_fails(&h);
	h.dst.family = AF_UNIX;
	assert_encode_fails(&h);
	h.dst.family = 4; /* the wire value, not an AF_* */
	assert_encode_fails(&h);
	hdr_v4(&h);
	h.service[0] = 0;
	assert_encode_fails(&h);
	for (size_t i = 0; i < sizeof(bad_chars); i++) {
		hdr_v4(&h);
		h.service[1] = bad_chars[i];
		assert_encode_fails(&h);
	}
	hdr_v4(&h);
	h.service[3] = (char)0x80;
	assert_encode_fails(&h);
	/* 64 name bytes, no terminator inside the array. */
	hdr_v4(&h);
	memset(h.service, 'a', ZT_NAME_MAX);
	assert_encode_fails(&h);
	/* Buffer one byte short: refused; exactly the size: accepted. */
	hdr_v4(&h);
	assert_int_equal(zt_flow_hdr_encode(&h, out, sizeof(HDR_V4) - 1), 0);
	assert_int_equal(zt_flow_hdr_encode(&h, out, 0), 0);
	assert_int_equal(zt_flow_hdr_encode(&h, out, sizeof(HDR_V4)),
			 sizeof(HDR_V4));
	hdr_v6(&h);
	assert_int_equal(zt_flow_hdr_encode(&h, out, sizeof(HDR_V6) - 1), 0);
	assert_int_equal(zt_flow_hdr_encode(&h, out, sizeof(HDR_V6)),
			 sizeof(HDR_V6));
}

static void test_status(void **state)
{
	(void)state;
	/* The values are on the wire: pin them. */
	assert_int_equal(ZT_FLOW_VERSION, 1);
	assert_int_equal(ZT_FLOW_OK, 0);
	assert_int_equal(ZT_FLOW_DENIED, 1);
	assert_int_equal(ZT_FLOW_NO_SERVICE, 2);
	assert_int_equal(ZT_FLOW_REFUSED, 3);
	assert_int_equal(ZT_FLOW_UNREACHABLE, 4);
	assert_int_equal(ZT_FLOW_LIMIT, 5);
	assert_int_equal(ZT_FLOW_BAD_REQUEST, 6);
	assert_int_equal(ZT_FLOW_ERR_RESET, 0x100);
	assert_int_equal(ZT_FLOW_ERR_ABORT, 0x101);
	assert_string_equal(zt_flow_status_name(ZT_FLOW_OK), "ok");
	assert_string_equal(zt_flow_status_name(ZT_FLOW_DENIED), "denied");
	assert_string_equal(zt_flow_status_name(ZT_FLOW_NO_SERVICE),
			    "no such service");
	assert_string_equal(zt_flow_status_name(ZT_FLOW_REFUSED), "refused");
	assert_string_equal(zt_flow_status_name(ZT_FLOW_UNREACHABLE),
			    "unreachable");
	assert_string_equal(zt_flow_status_name(ZT_FLOW_LIMIT), "flow limit");
	assert_string_equal(zt_flow_status_name(ZT_FLOW_BAD_REQUEST),
			    "bad request");
	assert_string_equal(zt_flow_status_name(-1), "unknown status");
	assert_string_equal(zt_flow_status_name(7), "unknown status");
	assert_string_equal(zt_flow_status_name(255), "unknown status");
	assert_string_equal(zt_flow_status_name(-2147483647 - 1),
			    "unknown status");
}

struct dgram_case {
	int64_t sid;
	size_t len;
	uint8_t bytes[4];
};

static void test_dgram_round_trip(void **state)
{
	static const struct dgram_case cases[] = {
		{ 0, 1, { 0x00 } },
		{ 4, 1, { 0x01 } },
		{ 252, 1, { 0x3f } },             /* 63: largest 1-byte */
		{ 256, 2, { 0x40, 0x40 } },       /* 64: smallest 2-byte */
		{ 65532, 2, { 0x7f, 0xff } },     /* 16383: largest 2-byte */
		{ 65536, 4, { 0x80, 0x00, 0x40, 0x00 } },
		{ 4294967292LL, 4, { 0xbf, 0xff, 0xff, 0xff } }, /* 2^30 - 1 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dgram_case *c = &cases[i];
		uint8_t buf[16];
		int64_t sid = -1;

		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), c->sid),
				 c->len);
		assert_memory_equal(buf, c->bytes, c->len);
		assert_int_equal(buf[c->len], 0xee);
		/* Exactly enough room works, one byte less does not. */
		assert_int_equal(zt_flow_dgram_put(buf, c->len, c->sid),
				 c->len);
		assert_int_equal(zt_flow_dgram_put(buf, c->len - 1, c->sid),
				 0);
		/* The payload follows the prefix and is not read. */
		memcpy(buf, c->bytes, c->len);
		assert_int_equal(zt_flow_dgram_get(buf, sizeof(buf), &sid),
				 c->len);
		assert_int_equal(sid, c->sid);
		sid = -1;
		assert_int_equal(zt_flow_dgram_get(buf, c->len, &sid), c->len);
		assert_int_equal(sid, c->sid);
	}
}

static void test_dgram_put_rejects(void **state)
{
	uint8_t buf[16];

	(void)state;
	/* Stream ids of 2^32 and above are not used. */
	assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), 4294967296LL), 0);
	assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), 4294967300LL), 0);
	assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), 1LL << 40), 0);
	assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), INT64_MAX), 0);
	assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), -1), 0);
	assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), -4), 0);
	assert_int_equal(zt_flow_dgram_put(buf, sizeof(buf), INT64_MIN), 0);
	assert_int_equal(zt_flow_dgram_put(buf, 0, 0), 0);
}

static void test_dgram_get_rejects(void **state)
{
	static const uint8_t two[] = { 0x40, 0x40 };
	static const uint8_t four[] = { 0x80, 0x00, 0x40, 0x00 };
	static const uint8_t eight[] = { 0xc0, 0, 0, 0, 0, 0, 0, 0x04, 0xaa };
	int64_t sid = 0;

	(void)state;
	assert_int_equal(zt_flow_dgram_get(two, 0, &sid), 0);
	assert_int_equal(zt_flow_dgram_get(two, 1, &sid), 0);
	for (size_t n = 1; n < sizeof(four); n++)
		assert_int_equal(zt_flow_dgram_get(four, n, &sid), 0);
	/* 8-byte varints (stream ids of 2^32 and above) are refused, even
	 * when all 8 bytes are there. */
	for (size_t n = 0; n <= sizeof(eight); n++)
		assert_int_equal(zt_flow_dgram_get(eight, n, &sid), 0);
	assert_int_equal(zt_flow_dgram_get((const uint8_t *)"\xff\xff\xff\xff"
							    "\xff\xff\xff\xff",
					   8, &sid),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_v4),
		cmocka_unit_test(test_encode_v6),
		cmocka_unit_test(test_decode_v4),
		cmocka_unit_test(test_decode_v6),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_longest_header),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_proto),
		cmocka_unit_test(test_bad_family),
		cmocka_unit_test(test_bad_name),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_dgram_round_trip),
		cmocka_unit_test(test_dgram_put_rejects),
		cmocka_unit_test(test_dgram_get_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
