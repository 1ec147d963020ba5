/* Hand-built frames and sample messages for the control codec tests
 * (ctrltest.h). */
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

#include "ctrltest.h"

/* ---- hand-built frames ------------------------------------------------- */

void fb_start(struct fb *f, uint8_t version, uint8_t type)
{
	f->b = calloc(1, FB_CAP);
	assert_non_null(f->b);
	f->b[0] = version;
	f->b[1] = type;
	f->len = ZT_CTRL_HDR_LEN;
	f->depth = 0;
}

void fb_raw(struct fb *f, const void *p, size_t n)
{
	assert_true(f->len + n <= FB_CAP);
	if (n)
		memcpy(f->b + f->len, p, n);
	f->len += n;
}

void fb_u16(struct fb *f, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	fb_raw(f, b, 2);
}

void fb_attr(struct fb *f, uint16_t type, const void *v, size_t n)
{
	fb_u16(f, type);
	fb_u16(f, (uint16_t)n);
	fb_raw(f, v, n);
}

void fb_str(struct fb *f, uint16_t type, const char *s)
{
	fb_attr(f, type, s, strlen(s));
}

void fb_u8(struct fb *f, uint16_t type, uint8_t v)
{
	fb_attr(f, type, &v, 1);
}

void fb_begin(struct fb *f, uint16_t type)
{
	f->nest[f->depth++] = f->len;
	fb_attr(f, type, NULL, 0);
}

void fb_end(struct fb *f)
{
	size_t at = f->nest[--f->depth];
	size_t n = f->len - at - 4;

	f->b[at + 2] = (uint8_t)(n >> 8);
	f->b[at + 3] = (uint8_t)n;
}

/* Patches body_length from what was written. */
void fb_finish(struct fb *f)
{
	uint32_t n = (uint32_t)(f->len - ZT_CTRL_HDR_LEN);

	f->b[4] = (uint8_t)(n >> 24);
	f->b[5] = (uint8_t)(n >> 16);
	f->b[6] = (uint8_t)(n >> 8);
	f->b[7] = (uint8_t)n;
}

void fb_addr4(struct fb *f, uint16_t port)
{
	uint8_t v[7] = { 4, (uint8_t)(port >> 8), (uint8_t)port, 192, 0, 2, 1 };

	fb_attr(f, A_ADDR, v, sizeof(v));
}

void fb_ports(struct fb *f, uint16_t lo, uint16_t hi)
{
	uint8_t v[4] = { (uint8_t)(lo >> 8), (uint8_t)lo, (uint8_t)(hi >> 8),
			 (uint8_t)hi };

	fb_attr(f, A_PORTS, v, sizeof(v));
}

/* A minimal valid service: name, hostname, one port range, proto. */
void fb_min_service(struct fb *f, const char *name)
{
	fb_begin(f, A_SERVICE);
	fb_str(f, A_NAME, name);
	fb_str(f, A_HOSTNAME, "db.corp");
	fb_ports(f, 5432, 5432);
	fb_u8(f, A_PROTO, ZT_PROTO_TCP);
	fb_end(f);
}

int fb_decode(struct fb *f)
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

struct zt_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
		     uint16_t port)
{
	struct zt_addr x = { .family = AF_INET, .port = port };

	x.ip[0] = a;
	x.ip[1] = b;
	x.ip[2] = c;
	x.ip[3] = d;
	return x;
}

struct zt_addr addr6(const char *s, uint16_t port)
{
	struct zt_addr x = { .family = AF_INET6, .port = port };

	assert_int_equal(inet_pton(AF_INET6, s, x.ip), 1);
	return x;
}

struct zt_cidr cidr(int af, const char *s, uint8_t prefix)
{
	struct zt_cidr c = { .family = (uint8_t)af, .prefix = prefix };

	assert_int_equal(inet_pton(af, s, c.addr), 1);
	return c;
}

void add_allow(struct zt_service *s, uint8_t kind, const char *name)
{
	s->allow[s->n_allow].kind = kind;
	strcpy(s->allow[s->n_allow].name, name);
	s->n_allow++;
}

void add_ports(struct zt_service *s, uint16_t lo, uint16_t hi)
{
	s->ports[s->n_ports].lo = lo;
	s->ports[s->n_ports].hi = hi;
	s->n_ports++;
}

/* Service i of a small, varied set: all attributes, both families. */
void make_service(struct zt_service *s, int i)
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

void assert_addr_equal(const struct zt_addr *a, const struct zt_addr *b)
{
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->port, b->port);
	assert_memory_equal(a->ip, b->ip, a->family == AF_INET ? 4 : 16);
}

void assert_svc_equal(const struct zt_service *a,
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
uint8_t *round_trip(const struct zt_ctrl_msg *m, struct zt_ctrl_msg *out,
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

void make_register(struct zt_ctrl_msg *m, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->type = ZT_CTRL_REGISTER;
	m->u.reg.services = calloc(n, sizeof(struct zt_service));
	assert_non_null(m->u.reg.services);
	m->u.reg.n = n;
	for (size_t i = 0; i < n; i++)
		make_service(&m->u.reg.services[i], (int)i);
}

void make_catalog(struct zt_ctrl_msg *m, size_t n)
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

void make_hello(struct zt_ctrl_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = ZT_CTRL_HELLO;
	strcpy(m->u.hello.software, "ztnad/0.1.0");
	m->u.hello.addrs[m->u.hello.n_addrs++] = addr4(10, 1, 2, 3, 4433);
	m->u.hello.addrs[m->u.hello.n_addrs++] = addr6("fe80::1:2", 65535);
}

void make_error(struct zt_ctrl_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = ZT_CTRL_ERROR;
	m->u.error.code = ZT_APP_DENIED;
	strcpy(m->u.error.text, "role \"agent\" may not REGISTER\t\xc3\xa9");
}

