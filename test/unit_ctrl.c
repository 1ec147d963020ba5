/* Control protocol: round trips, and the decoder against hand-built hostile
 * frames (built with a small independent writer below, so that encoder bugs
 * cannot hide decoder bugs). */
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
#include "err.h"

/* Attribute numbers from docs/PROTOCOL.md, repeated here on purpose: the
 * test pins the wire format, not the implementation's enum. */
enum {
	A_SOFTWARE = 1,
	A_ADDR = 2,
	A_SERVICE = 3,
	A_NAME = 4,
	A_HOSTNAME = 5,
	A_CIDR = 6,
	A_PORTS = 7,
	A_PROTO = 8,
	A_ALLOW = 9,
	A_ENTRY = 10,
	A_CONNECTOR = 11,
	A_CODE = 12,
	A_TEXT = 13,
	A_ICMP = 14,
};

/* ---- hand-built frames ------------------------------------------------- */

#define FB_CAP (1024 * 1024)

struct fb {
	uint8_t *b;
	size_t len;
	size_t nest[4]; /* offsets of open nested attribute headers */
	int depth;
};

static void fb_start(struct fb *f, uint8_t version, uint8_t type)
{
	f->b = calloc(1, FB_CAP);
	assert_non_null(f->b);
	f->b[0] = version;
	f->b[1] = type;
	f->len = ZT_CTRL_HDR_LEN;
	f->depth = 0;
}

static void fb_raw(struct fb *f, const void *p, size_t n)
{
	assert_true(f->len + n <= FB_CAP);
	if (n)
		memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void fb_u16(struct fb *f, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	fb_raw(f, b, 2);
}

static void fb_attr(struct fb *f, uint16_t type, const void *v, size_t n)
{
	fb_u16(f, type);
	fb_u16(f, (uint16_t)n);
	fb_raw(f, v, n);
}

static void fb_str(struct fb *f, uint16_t type, const char *s)
{
	fb_attr(f, type, s, strlen(s));
}

static void fb_u8(struct fb *f, uint16_t type, uint8_t v)
{
	fb_attr(f, type, &v, 1);
}

static void fb_begin(struct fb *f, uint16_t type)
{
	f->nest[f->depth++] = f->len;
	fb_attr(f, type, NULL, 0);
}

static void fb_end(struct fb *f)
{
	size_t at = f->nest[--f->depth];
	size_t n = f->len - at - 4;

	f->b[at + 2] = (uint8_t)(n >> 8);
	f->b[at + 3] = (uint8_t)n;
}

/* Patches body_length from what was written. */
static void fb_finish(struct fb *f)
{
	uint32_t n = (uint32_t)(f->len - ZT_CTRL_HDR_LEN);

	f->b[4] = (uint8_t)(n >> 24);
	f->b[5] = (uint8_t)(n >> 16);
	f->b[6] = (uint8_t)(n >> 8);
	f->b[7] = (uint8_t)n;
}

static void fb_addr4(struct fb *f, uint16_t port)
{
	uint8_t v[7] = { 4, (uint8_t)(port >> 8), (uint8_t)port, 192, 0, 2, 1 };

	fb_attr(f, A_ADDR, v, sizeof(v));
}

static void fb_ports(struct fb *f, uint16_t lo, uint16_t hi)
{
	uint8_t v[4] = { (uint8_t)(lo >> 8), (uint8_t)lo, (uint8_t)(hi >> 8),
			 (uint8_t)hi };

	fb_attr(f, A_PORTS, v, sizeof(v));
}

/* A minimal valid service: name, hostname, one port range, proto. */
static void fb_min_service(struct fb *f, const char *name)
{
	fb_begin(f, A_SERVICE);
	fb_str(f, A_NAME, name);
	fb_str(f, A_HOSTNAME, "db.corp");
	fb_ports(f, 5432, 5432);
	fb_u8(f, A_PROTO, ZT_PROTO_TCP);
	fb_end(f);
}

static int fb_decode(struct fb *f)
{
	struct zt_ctrl_msg m;
	int rc;

	fb_finish(f);
	rc = zt_ctrl_decode(&m, f->b, f->len);
	zt_ctrl_msg_free(&m);
	free(f->b);
	f->b = NULL;
	return rc;
}

/* ---- message builders and comparison ----------------------------------- */

static struct zt_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
			    uint16_t port)
{
	struct zt_addr x = { .family = AF_INET, .port = port };

	x.ip[0] = a;
	x.ip[1] = b;
	x.ip[2] = c;
	x.ip[3] = d;
	return x;
}

static struct zt_addr addr6(const char *s, uint16_t port)
{
	struct zt_addr x = { .family = AF_INET6, .port = port };

	assert_int_equal(inet_pton(AF_INET6, s, x.ip), 1);
	return x;
}

static struct zt_cidr cidr(int af, const char *s, uint8_t prefix)
{
	struct zt_cidr c = { .family = (uint8_t)af, .prefix = prefix };

	assert_int_equal(inet_pton(af, s, c.addr), 1);
	return c;
}

static void add_allow(struct zt_service *s, uint8_t kind, const char *name)
{
	s->allow[s->n_allow].kind = kind;
	strcpy(s->allow[s->n_allow].name, name);
	s->n_allow++;
}

static void add_ports(struct zt_service *s, uint16_t lo, uint16_t hi)
{
	s->ports[s->n_ports].lo = lo;
	s->ports[s->n_ports].hi = hi;
	s->n_ports++;
}

/* Service i of a small, varied set: all attributes, both families. */
static void make_service(struct zt_service *s, int i)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "svc-%d", i);
	s->proto = (uint8_t)(1 + i % 3);
	s->icmp = (uint8_t)(i % 2);
	add_ports(s, 22, 22);
	add_ports(s, 8000, 8100);
	if (i % 2 == 0)
		snprintf(s->hostname, sizeof(s->hostname), "host%d.corp.example", i);
	s->cidrs[s->n_cidrs++] = cidr(AF_INET, "10.0.0.0", 8);
	s->cidrs[s->n_cidrs++] = cidr(AF_INET, "192.0.2.7", 32);
	s->cidrs[s->n_cidrs++] = cidr(AF_INET6, "2001:db8::", 32);
	s->cidrs[s->n_cidrs++] = cidr(AF_INET6, "::", 0);
	add_allow(s, ZT_PRINCIPAL_USER, "alice");
	add_allow(s, ZT_PRINCIPAL_GROUP, "ops@corp");
}

static void assert_addr_equal(const struct zt_addr *a, const struct zt_addr *b)
{
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->port, b->port);
	assert_memory_equal(a->ip, b->ip, a->family == AF_INET ? 4 : 16);
}

static void assert_svc_equal(const struct zt_service *a,
			     const struct zt_service *b, int with_allow)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->hostname, b->hostname);
	assert_int_equal(a->proto, b->proto);
	assert_int_equal(a->icmp, b->icmp);
	assert_int_equal(a->n_cidrs, b->n_cidrs);
	for (size_t i = 0; i < a->n_cidrs; i++) {
		assert_int_equal(a->cidrs[i].family, b->cidrs[i].family);
		assert_int_equal(a->cidrs[i].prefix, b->cidrs[i].prefix);
		assert_memory_equal(a->cidrs[i].addr, b->cidrs[i].addr,
				    a->cidrs[i].family == AF_INET ? 4 : 16);
	}
	assert_int_equal(a->n_ports, b->n_ports);
	for (size_t i = 0; i < a->n_ports; i++) {
		assert_int_equal(a->ports[i].lo, b->ports[i].lo);
		assert_int_equal(a->ports[i].hi, b->ports[i].hi);
	}
	if (!with_allow) {
		assert_int_equal(b->n_allow, 0);
		return;
	}
	assert_int_equal(a->n_allow, b->n_allow);
	for (size_t i = 0; i < a->n_allow; i++) {
		assert_int_equal(a->allow[i].kind, b->allow[i].kind);
		assert_string_equal(a->allow[i].name, b->allow[i].name);
	}
}

/* Encodes m, decodes it into out (caller frees), and returns the frame. */
static uint8_t *round_trip(const struct zt_ctrl_msg *m, struct zt_ctrl_msg *out,
			   size_t *len)
{
	uint8_t *buf;

	assert_int_equal(zt_ctrl_encode(m, &buf, len), 0);
	assert_non_null(buf);
	assert_int_equal(buf[0], ZT_CTRL_VERSION);
	assert_int_equal(buf[1], m->type);
	assert_int_equal(buf[2] | buf[3], 0);
	assert_int_equal(zt_ctrl_decode(out, buf, *len), 0);
	assert_int_equal(out->type, m->type);
	return buf;
}

static void make_register(struct zt_ctrl_msg *m, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->type = ZT_CTRL_REGISTER;
	m->u.reg.services = calloc(n, sizeof(struct zt_service));
	assert_non_null(m->u.reg.services);
	m->u.reg.n = n;
	for (size_t i = 0; i < n; i++)
		make_service(&m->u.reg.services[i], (int)i);
}

static void make_catalog(struct zt_ctrl_msg *m, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->type = ZT_CTRL_CATALOG;
	m->u.catalog.entries = calloc(n, sizeof(struct zt_catalog_entry));
	assert_non_null(m->u.catalog.entries);
	m->u.catalog.n = n;
	for (size_t i = 0; i < n; i++) {
		struct zt_catalog_entry *e = &m->u.catalog.entries[i];

		make_service(&e->svc, (int)i);
		snprintf(e->connector, sizeof(e->connector), "conn-%zu", i);
		for (size_t k = 0; k < i % 3; k++)
			e->addrs[e->n_addrs++] = addr4(198, 51, 100, (uint8_t)k,
						       (uint16_t)(4433 + k));
		if (i % 2)
			e->addrs[e->n_addrs++] = addr6("2001:db8::1", 443);
	}
}

static void make_hello(struct zt_ctrl_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = ZT_CTRL_HELLO;
	strcpy(m->u.hello.software, "ztnad/0.1.0");
	m->u.hello.addrs[m->u.hello.n_addrs++] = addr4(10, 1, 2, 3, 4433);
	m->u.hello.addrs[m->u.hello.n_addrs++] = addr6("fe80::1:2", 65535);
}

static void make_error(struct zt_ctrl_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = ZT_CTRL_ERROR;
	m->u.error.code = ZT_APP_DENIED;
	strcpy(m->u.error.text, "role \"agent\" may not REGISTER\t\xc3\xa9");
}

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
	assert_string_equal(zt_ctrl_type_name(12), "UNKNOWN");
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
