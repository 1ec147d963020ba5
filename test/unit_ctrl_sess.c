/* Control protocol version 2: the SESSION_* messages (ctrl_sess.c) and
 * the version rules of the frame (ctrl.c): each message carries exactly the
 * attributes its table allows, all it must, each once, with checked values;
 * session messages exist only in version 2 frames and later, CANDIDATES and
 * the NAT attribute only in version 3. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctrl.h"
#include "err.h"

/* A frame written by hand, to say what the encoder never would. */
struct raw {
	uint8_t b[2048];
	size_t n;
};

static void raw_begin(struct raw *r, uint8_t version, uint8_t type)
{
	memset(r, 0, sizeof(*r));
	r->b[0] = version;
	r->b[1] = type;
	r->n = 8;
}

static void raw_attr(struct raw *r, uint16_t t, const void *v, uint16_t len)
{
	r->b[r->n++] = (uint8_t)(t >> 8);
	r->b[r->n++] = (uint8_t)t;
	r->b[r->n++] = (uint8_t)(len >> 8);
	r->b[r->n++] = (uint8_t)len;
	memcpy(r->b + r->n, v, len);
	r->n += len;
}

static void raw_u32(struct raw *r, uint16_t t, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };

	raw_attr(r, t, b, 4);
}

static int raw_decode(struct raw *r, struct zt_ctrl_msg *m)
{
	uint32_t body = (uint32_t)(r->n - 8);

	r->b[4] = (uint8_t)(body >> 24);
	r->b[5] = (uint8_t)(body >> 16);
	r->b[6] = (uint8_t)(body >> 8);
	r->b[7] = (uint8_t)body;
	return zt_ctrl_decode(m, r->b, r->n);
}

enum {
	A_ADDR = 2,
	A_NAME = 4,
	A_CONNECTOR = 11,
	A_CODE = 12,
	A_TEXT = 13,
	A_REQ = 15,
	A_SESSION = 16,
	A_KEY = 17,
	A_MTU = 18,
	A_NAT = 19
};

static struct zt_ctrl_msg full(int type)
{
	struct zt_ctrl_msg m;

	memset(&m, 0, sizeof(m));
	m.type = (uint8_t)type;
	m.version = 2;
	for (int i = 0; i < ZT_CTRL_KEY_LEN; i++)
		m.u.sess.key[i] = (uint8_t)(i * 7 + type);
	return m;
}

static void add_addr(struct zt_ctrl_sess *s, const char *ip, uint16_t port)
{
	struct zt_addr *a = &s->addrs[s->n_addrs++];

	a->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	a->port = port;
	assert_int_equal(inet_pton(a->family, ip, a->ip), 1);
}

static void roundtrip(const struct zt_ctrl_msg *m, struct zt_ctrl_msg *out)
{
	uint8_t *b = NULL, *b2 = NULL;
	size_t n, n2;

	assert_int_equal(zt_ctrl_encode(m, &b, &n), 0);
	assert_int_equal(b[0], 2);
	assert_int_equal(zt_ctrl_decode(out, b, n), 0);
	assert_int_equal(out->type, m->type);
	assert_int_equal(out->version, 2);
	/* and what we decoded encodes to the same bytes */
	assert_int_equal(zt_ctrl_encode(out, &b2, &n2), 0);
	assert_int_equal(n2, n);
	assert_memory_equal(b, b2, n);
	free(b);
	free(b2);
}

static void test_open_ready_roundtrip(void **state)
{
	struct zt_ctrl_msg m = full(ZT_CTRL_SESSION_OPEN), d;

	m.u.sess.req = 7;
	strcpy(m.u.sess.peer, "conn1");
	add_addr(&m.u.sess, "192.0.2.10", 4433);
	add_addr(&m.u.sess, "2001:db8::5", 4433);
	roundtrip(&m, &d);
	assert_int_equal(d.u.sess.req, 7);
	assert_string_equal(d.u.sess.peer, "conn1");
	assert_memory_equal(d.u.sess.key, m.u.sess.key, ZT_CTRL_KEY_LEN);
	assert_int_equal(d.u.sess.n_addrs, 2);
	assert_int_equal(d.u.sess.addrs[1].family, AF_INET6);

	m = full(ZT_CTRL_SESSION_READY);
	m.u.sess.req = 7;
	m.u.sess.session = (1u << 30) - 1;
	m.u.sess.mtu = 1350;
	roundtrip(&m, &d);
	assert_int_equal(d.u.sess.session, (1u << 30) - 1);
	assert_int_equal(d.u.sess.mtu, 1350);
	assert_int_equal(d.u.sess.n_addrs, 0);
}

static void test_offer_accept_refuse_close(void **state)
{
	struct zt_ctrl_msg m = full(ZT_CTRL_SESSION_OFFER), d;

	m.u.sess.session = 99;
	strcpy(m.u.sess.peer, "alice");
	m.u.sess.mtu = 1200;
	add_addr(&m.u.sess, "198.51.100.7", 50000);
	roundtrip(&m, &d);
	assert_string_equal(d.u.sess.peer, "alice");

	m = full(ZT_CTRL_SESSION_ACCEPT);
	m.u.sess.session = 99;
	roundtrip(&m, &d);
	assert_int_equal(d.u.sess.session, 99);

	m = full(ZT_CTRL_SESSION_REFUSE);
	m.u.sess.session = 99;
	m.u.sess.code = ZT_APP_DENIED;
	strcpy(m.u.sess.text, "too many sessions");
	roundtrip(&m, &d);
	assert_int_equal(d.u.sess.code, ZT_APP_DENIED);
	assert_string_equal(d.u.sess.text, "too many sessions");

	/* CLOSE by request (before READY), by session, or both */
	m = full(ZT_CTRL_SESSION_CLOSE);
	m.u.sess.req = 3;
	m.u.sess.code = 5;
	roundtrip(&m, &d);
	assert_int_equal(d.u.sess.req, 3);
	assert_int_equal(d.u.sess.session, 0);
	m.u.sess.req = 0;
	m.u.sess.session = 12;
	roundtrip(&m, &d);
	m.u.sess.session = 0;
	uint8_t *b = NULL;
	size_t n;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
}

static void test_encoder_refuses(void **state)
{
	struct zt_ctrl_msg m = full(ZT_CTRL_SESSION_READY);
	uint8_t *b = NULL;
	size_t n;

	m.u.sess.req = 1;
	m.u.sess.session = 1;
	m.u.sess.mtu = 1199; /* an inner Initial would not fit */
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	m.u.sess.mtu = 1200;
	m.u.sess.session = 1u << 30;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	m.u.sess.session = 0; /* READY must name its session */
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	m.u.sess.session = 1;
	/* a session message in a version 1 frame does not exist */
	m.version = 1;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	m.version = 0;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	m.version = 4;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	/* OPEN without a connector name */
	m = full(ZT_CTRL_SESSION_OPEN);
	m.u.sess.req = 1;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	strcpy(m.u.sess.peer, "bad name");
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	assert_null(b);
}

static void test_versions(void **state)
{
	struct zt_ctrl_msg m, d;
	struct raw r;
	uint8_t *b = NULL;
	size_t n;

	/* version 2 frames carry version 1 messages too */
	memset(&m, 0, sizeof(m));
	m.type = ZT_CTRL_HELLO;
	m.version = 2;
	strcpy(m.u.hello.software, "ztnad/0.1.0");
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), 0);
	assert_int_equal(b[0], 2);
	assert_int_equal(zt_ctrl_decode(&d, b, n), 0);
	assert_int_equal(d.version, 2);
	free(b);
	/* no version means 1, as every version 1 peer sends */
	m.version = 0;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), 0);
	assert_int_equal(b[0], 1);
	assert_int_equal(zt_ctrl_decode(&d, b, n), 0);
	assert_int_equal(d.version, 1);
	free(b);
	/* a session message in a version 1 frame is an unknown type */
	raw_begin(&r, 1, ZT_CTRL_SESSION_ACCEPT);
	raw_u32(&r, A_SESSION, 5);
	raw_attr(&r, A_KEY, m.u.sess.key, 32);
	assert_int_equal(raw_decode(&r, &d), ZT_EUNKNOWN);
	r.b[0] = 2;
	assert_int_equal(raw_decode(&r, &d), 0);
	r.b[0] = 4;
	assert_int_equal(raw_decode(&r, &d), ZT_EVERSION);
	r.b[0] = 2;
	r.b[1] = 12; /* CANDIDATES is version 3 */
	assert_int_equal(raw_decode(&r, &d), ZT_EUNKNOWN);
	r.b[0] = 3;
	r.b[1] = 13;
	assert_int_equal(raw_decode(&r, &d), ZT_EUNKNOWN);
}

/* Version 3: SESSION_CANDIDATES and the NAT attribute. */
static void test_v3_candidates_nat(void **state)
{
	struct zt_ctrl_msg m = full(ZT_CTRL_SESSION_CANDIDATES), d;
	struct raw r;
	uint8_t *b = NULL;
	size_t n;

	m.version = 3;
	m.u.sess.session = 9;
	m.u.sess.nat = ZT_NAT_EDM;
	add_addr(&m.u.sess, "198.51.100.7", 40001);
	add_addr(&m.u.sess, "192.168.1.7", 4433);
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), 0);
	assert_int_equal(b[0], 3);
	assert_int_equal(zt_ctrl_decode(&d, b, n), 0);
	free(b);
	assert_int_equal(d.u.sess.session, 9);
	assert_int_equal(d.u.sess.nat, ZT_NAT_EDM);
	assert_int_equal(d.u.sess.n_addrs, 2);
	assert_int_equal(d.u.sess.addrs[1].port, 4433);
	/* a session is a must; candidates and NAT are not (a bare one asks
	 * for a round of probes) */
	m.u.sess.session = 0;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	m.u.sess.session = 9;
	m.u.sess.n_addrs = 0;
	m.u.sess.nat = 0;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), 0);
	free(b);
	/* no such message in version 2 */
	m.version = 2;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	/* a NAT value we do not know */
	m = full(ZT_CTRL_SESSION_ACCEPT);
	m.version = 3;
	m.u.sess.session = 5;
	m.u.sess.nat = 3;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), ZT_EINVAL);
	/* the encoder leaves NAT out of a version 2 frame (the relay passes
	 * an agent's on to an older connector) */
	m.u.sess.nat = ZT_NAT_EIM;
	m.version = 2;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), 0);
	assert_int_equal(zt_ctrl_decode(&d, b, n), 0);
	assert_int_equal(d.u.sess.nat, 0);
	free(b);
	/* by hand: NAT in a version 2 ACCEPT, NAT of two bytes, NAT 0, NAT
	 * twice */
	raw_begin(&r, 2, ZT_CTRL_SESSION_ACCEPT);
	raw_u32(&r, A_SESSION, 5);
	raw_attr(&r, A_KEY, m.u.sess.key, 32);
	raw_attr(&r, A_NAT, "\x01", 1);
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	r.b[0] = 3;
	assert_int_equal(raw_decode(&r, &d), 0);
	assert_int_equal(d.u.sess.nat, ZT_NAT_EIM);
	raw_attr(&r, A_NAT, "\x02", 1);
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	raw_begin(&r, 3, ZT_CTRL_SESSION_ACCEPT);
	raw_u32(&r, A_SESSION, 5);
	raw_attr(&r, A_KEY, m.u.sess.key, 32);
	raw_attr(&r, A_NAT, "\x01\x01", 2);
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	raw_begin(&r, 3, ZT_CTRL_SESSION_ACCEPT);
	raw_u32(&r, A_SESSION, 5);
	raw_attr(&r, A_KEY, m.u.sess.key, 32);
	raw_attr(&r, A_NAT, "\x00", 1);
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	/* NAT where no message has it: REFUSE */
	raw_begin(&r, 3, ZT_CTRL_SESSION_REFUSE);
	raw_u32(&r, A_SESSION, 5);
	raw_u32(&r, A_CODE, 2);
	raw_attr(&r, A_NAT, "\x01", 1);
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_SESSION_CANDIDATES),
			    "SESSION_CANDIDATES");
}

static void test_decoder_refuses(void **state)
{
	static const uint8_t key[32], key31[31];
	static const uint8_t mtu1199[2] = { 0x04, 0xaf }, mtu3[3] = { 0, 5, 0 };
	struct zt_ctrl_msg d;
	struct raw r;

#define ACCEPT_BASE() \
	do { \
		raw_begin(&r, 2, ZT_CTRL_SESSION_ACCEPT); \
		raw_u32(&r, A_SESSION, 5); \
	} while (0)
	ACCEPT_BASE(); /* no key */
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	ACCEPT_BASE();
	raw_attr(&r, A_KEY, key31, sizeof(key31));
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	ACCEPT_BASE();
	raw_attr(&r, A_KEY, key, sizeof(key));
	raw_attr(&r, A_KEY, key, sizeof(key)); /* twice */
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	ACCEPT_BASE();
	raw_attr(&r, A_KEY, key, sizeof(key));
	raw_attr(&r, A_MTU, mtu1199 + 0, 2); /* not allowed in ACCEPT */
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	ACCEPT_BASE();
	raw_attr(&r, A_KEY, key, sizeof(key));
	raw_attr(&r, 40, "x", 1); /* unknown attribute */
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	ACCEPT_BASE();
	raw_attr(&r, A_KEY, key, sizeof(key));
	for (int i = 0; i < ZT_MAX_ADDRS + 1; i++) {
		static const uint8_t a[7] = { 4, 0x11, 0x51, 192, 0, 2, 1 };
		raw_attr(&r, A_ADDR, a, sizeof(a));
	}
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	/* session ids: not 0, below 2^30 */
	raw_begin(&r, 2, ZT_CTRL_SESSION_ACCEPT);
	raw_u32(&r, A_SESSION, 0);
	raw_attr(&r, A_KEY, key, sizeof(key));
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	raw_begin(&r, 2, ZT_CTRL_SESSION_ACCEPT);
	raw_u32(&r, A_SESSION, 1u << 30);
	raw_attr(&r, A_KEY, key, sizeof(key));
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	/* READY: MTU at least 1200, two bytes */
	raw_begin(&r, 2, ZT_CTRL_SESSION_READY);
	raw_u32(&r, A_REQ, 1);
	raw_u32(&r, A_SESSION, 1);
	raw_attr(&r, A_KEY, key, sizeof(key));
	raw_attr(&r, A_MTU, mtu1199, sizeof(mtu1199));
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	raw_begin(&r, 2, ZT_CTRL_SESSION_READY);
	raw_u32(&r, A_REQ, 1);
	raw_u32(&r, A_SESSION, 1);
	raw_attr(&r, A_KEY, key, sizeof(key));
	raw_attr(&r, A_MTU, mtu3, sizeof(mtu3));
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	/* OPEN names its connector with CONNECTOR, not NAME; req not 0 */
	raw_begin(&r, 2, ZT_CTRL_SESSION_OPEN);
	raw_u32(&r, A_REQ, 1);
	raw_attr(&r, A_NAME, "conn1", 5);
	raw_attr(&r, A_KEY, key, sizeof(key));
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	raw_begin(&r, 2, ZT_CTRL_SESSION_OPEN);
	raw_u32(&r, A_REQ, 0);
	raw_attr(&r, A_CONNECTOR, "conn1", 5);
	raw_attr(&r, A_KEY, key, sizeof(key));
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	raw_begin(&r, 2, ZT_CTRL_SESSION_OPEN);
	raw_u32(&r, A_REQ, 1);
	raw_attr(&r, A_CONNECTOR, "conn1", 5);
	raw_attr(&r, A_KEY, key, sizeof(key));
	assert_int_equal(raw_decode(&r, &d), 0);
	/* CLOSE must name a request or a session */
	raw_begin(&r, 2, ZT_CTRL_SESSION_CLOSE);
	raw_u32(&r, A_CODE, 0);
	assert_int_equal(raw_decode(&r, &d), ZT_EINVAL);
	raw_u32(&r, A_REQ, 9);
	assert_int_equal(raw_decode(&r, &d), 0);
	assert_int_equal(d.u.sess.req, 9);
}

static void test_reader_v2(void **state)
{
	struct zt_ctrl_msg m = full(ZT_CTRL_SESSION_ACCEPT), d;
	struct zt_ctrl_reader rd;
	uint8_t *b = NULL;
	size_t n;

	m.u.sess.session = 77;
	assert_int_equal(zt_ctrl_encode(&m, &b, &n), 0);
	zt_ctrl_reader_init(&rd);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(zt_ctrl_reader_feed(&rd, b + i, 1), 0);
	assert_int_equal(zt_ctrl_reader_next(&rd, &d), 0);
	assert_int_equal(d.u.sess.session, 77);
	assert_int_equal(zt_ctrl_reader_next(&rd, &d), ZT_ETRUNC);
	/* a version 4 header is refused before any body is buffered */
	b[0] = 4;
	assert_int_equal(zt_ctrl_reader_feed(&rd, b, 8), ZT_EVERSION);
	zt_ctrl_reader_free(&rd);
	free(b);
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_SESSION_READY),
			    "SESSION_READY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_ready_roundtrip),
		cmocka_unit_test(test_offer_accept_refuse_close),
		cmocka_unit_test(test_encoder_refuses),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_decoder_refuses),
		cmocka_unit_test(test_reader_v2),
		cmocka_unit_test(test_v3_candidates_nat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
