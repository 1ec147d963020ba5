/* Control protocol framing and TLV encoding (docs/PROTOCOL.md, "Control
 * messages"). The decoder faces hostile peers: every read goes through a
 * length check against its container, and every decoded message is run
 * through the same field validation the encoder applies, so anything we
 * accept we could also have sent. */
#include "ctrl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"

/* One number space for all messages so that a number never changes meaning;
 * each message (or nested attribute) lists the subset it accepts. */
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
	A_ICMP = 14, /* flag, empty value */
};

#define ATTR_HDR_LEN 4
#define ATTR_MAX_LEN 0xffff
#define HOST_LEN_MAX 253 /* textual DNS name limit */
#define TEXT_LEN_MAX 255
#define WIRE_INET 4
#define WIRE_INET6 6
#define BIT(t) (UINT32_C(1) << (t))

/* ---- byte order -------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- field validation, shared by encoder and decoder ------------------- */

static int is_host(const char *s, size_t n)
{
	if (n > HOST_LEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* A fixed char array holding a valid name, NUL inside the array. */
static int name_field_ok(const char *s)
{
	return zt_wire_name_ok(s, strnlen(s, ZT_NAME_MAX));
}

static int addr_ok(const struct zt_addr *a)
{
	return (a->family == AF_INET || a->family == AF_INET6) && a->port != 0;
}

static int cidr_ok(const struct zt_cidr *c)
{
	unsigned bits;

	if (c->family == AF_INET)
		bits = 32;
	else if (c->family == AF_INET6)
		bits = 128;
	else
		return 0;
	if (c->prefix > bits)
		return 0;
	/* Host bits set usually means a typo in the config; refuse rather
	 * than silently widen or narrow the range. */
	for (unsigned i = c->prefix; i < bits; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

static int principal_ok(const struct zt_principal *p)
{
	return (p->kind == ZT_PRINCIPAL_USER ||
		p->kind == ZT_PRINCIPAL_GROUP) && name_field_ok(p->name);
}

static int svc_lists_ok(const struct zt_service *s, int with_allow)
{
	for (size_t i = 0; i < s->n_cidrs; i++)
		if (!cidr_ok(&s->cidrs[i]))
			return 0;
	for (size_t i = 0; i < s->n_ports; i++)
		if (s->ports[i].lo < 1 || s->ports[i].lo > s->ports[i].hi)
			return 0;
	for (size_t i = 0; with_allow && i < s->n_allow; i++)
		if (!principal_ok(&s->allow[i]))
			return 0;
	return 1;
}

/* with_allow = 0 for catalog entries, whose allow list is not sent. */
static int svc_ok(const struct zt_service *s, int with_allow)
{
	size_t hlen = strnlen(s->hostname, sizeof(s->hostname));

	if (!name_field_ok(s->name) || hlen == sizeof(s->hostname) ||
	    !is_host(s->hostname, hlen))
		return 0;
	if (s->n_cidrs > ZT_MAX_CIDRS || s->n_ports < 1 ||
	    s->n_ports > ZT_MAX_PORTS ||
	    (with_allow && s->n_allow > ZT_MAX_ALLOW))
		return 0;
	if (hlen == 0 && s->n_cidrs == 0)
		return 0;
	if (s->proto < ZT_PROTO_TCP || s->proto > ZT_PROTO_ANY)
		return 0;
	return svc_lists_ok(s, with_allow);
}

static int type_known(int type)
{
	return type >= ZT_CTRL_HELLO && type <= ZT_CTRL_ERROR;
}

/* ---- writer ------------------------------------------------------------ */

struct wr {
	uint8_t *buf;
	size_t len, cap;
	int err; /* sticky: the first failure wins, later writes do nothing */
};

static void wr_reserve(struct wr *w, size_t n)
{
	size_t cap;
	uint8_t *nb;

	if (w->err)
		return;
	/* w->len never exceeds the frame limit, so this cannot wrap. */
	if (n > ZT_CTRL_HDR_LEN + ZT_CTRL_MAX_BODY - w->len) {
		w->err = ZT_ETOOBIG;
		return;
	}
	if (w->len + n <= w->cap)
		return;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	nb = realloc(w->buf, cap);
	if (!nb) {
		w->err = ZT_ENOMEM;
		return;
	}
	w->buf = nb;
	w->cap = cap;
}

static void wr_put(struct wr *w, const void *p, size_t n)
{
	wr_reserve(w, n);
	if (w->err || n == 0)
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void wr_attr(struct wr *w, uint16_t type, const void *v, size_t n)
{
	uint8_t h[ATTR_HDR_LEN];

	if (n > ATTR_MAX_LEN) {
		if (!w->err)
			w->err = ZT_ETOOBIG;
		return;
	}
	put16(h, type);
	put16(h + 2, (uint16_t)n);
	wr_put(w, h, sizeof(h));
	wr_put(w, v, n);
}

static void wr_attr_u8(struct wr *w, uint16_t type, uint8_t v)
{
	wr_attr(w, type, &v, 1);
}

/* Starts a nested attribute; returns where its header is. */
static size_t wr_nest_begin(struct wr *w, uint16_t type)
{
	size_t at = w->len;

	wr_attr(w, type, NULL, 0);
	return at;
}

static void wr_nest_end(struct wr *w, size_t at)
{
	size_t n;

	if (w->err)
		return;
	n = w->len - at - ATTR_HDR_LEN;
	if (n > ATTR_MAX_LEN) {
		w->err = ZT_ETOOBIG;
		return;
	}
	put16(w->buf + at + 2, (uint16_t)n);
}

/* ---- encoder ----------------------------------------------------------- */

static void enc_str(struct wr *w, uint16_t type, const char *s)
{
	wr_attr(w, type, s, strlen(s));
}

static int enc_addr(struct wr *w, const struct zt_addr *a)
{
	uint8_t v[3 + 16];
	size_t iplen = a->family == AF_INET ? 4 : 16;

	if (!addr_ok(a))
		return ZT_EINVAL;
	v[0] = a->family == AF_INET ? WIRE_INET : WIRE_INET6;
	put16(v + 1, a->port);
	memcpy(v + 3, a->ip, iplen);
	wr_attr(w, A_ADDR, v, 3 + iplen);
	return 0;
}

static int enc_addrs(struct wr *w, const struct zt_addr *a, size_t n)
{
	int rc;

	if (n > ZT_MAX_ADDRS)
		return ZT_EINVAL;
	for (size_t i = 0; i < n; i++) {
		rc = enc_addr(w, &a[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static void enc_cidr(struct wr *w, const struct zt_cidr *c)
{
	uint8_t v[2 + 16];
	size_t iplen = c->family == AF_INET ? 4 : 16;

	v[0] = c->family == AF_INET ? WIRE_INET : WIRE_INET6;
	v[1] = c->prefix;
	memcpy(v + 2, c->addr, iplen);
	wr_attr(w, A_CIDR, v, 2 + iplen);
}

static void enc_ports(struct wr *w, const struct zt_port_range *r)
{
	uint8_t v[4];

	put16(v, r->lo);
	put16(v + 2, r->hi);
	wr_attr(w, A_PORTS, v, sizeof(v));
}

static void enc_principal(struct wr *w, const struct zt_principal *p)
{
	uint8_t v[1 + ZT_NAME_MAX];
	size_t n = strlen(p->name);

	v[0] = p->kind;
	memcpy(v + 1, p->name, n);
	wr_attr(w, A_ALLOW, v, 1 + n);
}

static int enc_service(struct wr *w, const struct zt_service *s,
		       int with_allow)
{
	size_t at;

	if (!svc_ok(s, with_allow))
		return ZT_EINVAL;
	at = wr_nest_begin(w, A_SERVICE);
	enc_str(w, A_NAME, s->name);
	if (s->hostname[0])
		enc_str(w, A_HOSTNAME, s->hostname);
	for (size_t i = 0; i < s->n_cidrs; i++)
		enc_cidr(w, &s->cidrs[i]);
	for (size_t i = 0; i < s->n_ports; i++)
		enc_ports(w, &s->ports[i]);
	wr_attr_u8(w, A_PROTO, s->proto);
	if (s->icmp)
		wr_attr(w, A_ICMP, NULL, 0);
	for (size_t i = 0; with_allow && i < s->n_allow; i++)
		enc_principal(w, &s->allow[i]);
	wr_nest_end(w, at);
	return 0;
}

static int enc_hello(struct wr *w, const struct zt_ctrl_msg *m)
{
	if (!name_field_ok(m->u.hello.software))
		return ZT_EINVAL;
	enc_str(w, A_SOFTWARE, m->u.hello.software);
	return enc_addrs(w, m->u.hello.addrs, m->u.hello.n_addrs);
}

static int enc_register(struct wr *w, const struct zt_ctrl_msg *m)
{
	int rc;

	if (m->u.reg.n > ZT_MAX_SERVICES || (m->u.reg.n && !m->u.reg.services))
		return ZT_EINVAL;
	for (size_t i = 0; i < m->u.reg.n; i++) {
		rc = enc_service(w, &m->u.reg.services[i], 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int enc_entry(struct wr *w, const struct zt_catalog_entry *e)
{
	size_t at;
	int rc;

	if (!name_field_ok(e->connector))
		return ZT_EINVAL;
	at = wr_nest_begin(w, A_ENTRY);
	rc = enc_service(w, &e->svc, 0);
	if (rc)
		return rc;
	enc_str(w, A_CONNECTOR, e->connector);
	rc = enc_addrs(w, e->addrs, e->n_addrs);
	if (rc)
		return rc;
	wr_nest_end(w, at);
	return 0;
}

static int enc_catalog(struct wr *w, const struct zt_ctrl_msg *m)
{
	int rc;

	if (m->u.catalog.n > ZT_MAX_SERVICES ||
	    (m->u.catalog.n && !m->u.catalog.entries))
		return ZT_EINVAL;
	for (size_t i = 0; i < m->u.catalog.n; i++) {
		rc = enc_entry(w, &m->u.catalog.entries[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int enc_error(struct wr *w, const struct zt_ctrl_msg *m)
{
	uint8_t v[4];

	if (strnlen(m->u.error.text, sizeof(m->u.error.text)) ==
	    sizeof(m->u.error.text))
		return ZT_EINVAL;
	put32(v, m->u.error.code);
	wr_attr(w, A_CODE, v, sizeof(v));
	if (m->u.error.text[0])
		enc_str(w, A_TEXT, m->u.error.text);
	return 0;
}

static int enc_body(struct wr *w, const struct zt_ctrl_msg *m)
{
	switch (m->type) {
	case ZT_CTRL_HELLO: return enc_hello(w, m);
	case ZT_CTRL_OBSERVED_ADDRESS: return enc_addr(w, &m->u.observed.addr);
	case ZT_CTRL_REGISTER: return enc_register(w, m);
	case ZT_CTRL_CATALOG: return enc_catalog(w, m);
	case ZT_CTRL_ERROR: return enc_error(w, m);
	default: return ZT_EINVAL;
	}
}

int zt_ctrl_encode(const struct zt_ctrl_msg *m, uint8_t **out, size_t *outlen)
{
	struct wr w = { 0 };
	uint8_t hdr[ZT_CTRL_HDR_LEN] = { ZT_CTRL_VERSION, 0, 0, 0, 0, 0, 0, 0 };
	int rc;

	*out = NULL;
	*outlen = 0;
	hdr[1] = m->type;
	wr_put(&w, hdr, sizeof(hdr));
	rc = enc_body(&w, m);
	if (!rc)
		rc = w.err;
	if (rc)
		goto out;
	put32(w.buf + 4, (uint32_t)(w.len - ZT_CTRL_HDR_LEN));
	*out = w.buf;
	*outlen = w.len;
	w.buf = NULL;
out:
	free(w.buf);
	return rc;
}

/* ---- decoder ----------------------------------------------------------- */

/* A view of bytes still to parse: p[off..len). */
struct cur {
	const uint8_t *p;
	size_t len, off;
};

static size_t cur_left(const struct cur *c)
{
	return c->len - c->off;
}

/* Takes the next TLV from c; its value becomes the view v. */
static int cur_attr(struct cur *c, uint16_t *type, struct cur *v)
{
	uint16_t n;

	if (cur_left(c) < ATTR_HDR_LEN)
		return ZT_EINVAL;
	*type = get16(c->p + c->off);
	n = get16(c->p + c->off + 2);
	c->off += ATTR_HDR_LEN;
	if (n > cur_left(c))
		return ZT_EINVAL;
	v->p = c->p + c->off;
	v->len = n;
	v->off = 0;
	c->off += n;
	return 0;
}

static int once(uint32_t *seen, uint16_t type)
{
	if (*seen & BIT(type))
		return ZT_EINVAL;
	*seen |= BIT(type);
	return 0;
}

/* Copies a string value into out[outsz] after checking it with ok(). */
static int dec_str(const struct cur *v, char *out, size_t outsz,
		   int (*ok)(const char *, size_t))
{
	if (v->len >= outsz || !ok((const char *)v->p, v->len))
		return ZT_EINVAL;
	memcpy(out, v->p, v->len);
	out[v->len] = '\0';
	return 0;
}

static int is_text(const char *s, size_t n)
{
	return n <= TEXT_LEN_MAX && memchr(s, '\0', n) == NULL;
}

/* Maps the wire family to AF_* and checks the value is exactly
 * fixed + address bytes long. */
static int dec_family(uint8_t wire, size_t len, size_t fixed, uint8_t *af)
{
	if (wire == WIRE_INET && len == fixed + 4)
		*af = AF_INET;
	else if (wire == WIRE_INET6 && len == fixed + 16)
		*af = AF_INET6;
	else
		return ZT_EINVAL;
	return 0;
}

static int dec_addr(const struct cur *v, struct zt_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (v->len < 1 || dec_family(v->p[0], v->len, 3, &a->family))
		return ZT_EINVAL;
	a->port = get16(v->p + 1);
	memcpy(a->ip, v->p + 3, v->len - 3);
	return addr_ok(a) ? 0 : ZT_EINVAL;
}

static int dec_cidr(const struct cur *v, struct zt_cidr *c)
{
	memset(c, 0, sizeof(*c));
	if (v->len < 2 || dec_family(v->p[0], v->len, 2, &c->family))
		return ZT_EINVAL;
	c->prefix = v->p[1];
	memcpy(c->addr, v->p + 2, v->len - 2);
	return cidr_ok(c) ? 0 : ZT_EINVAL;
}

static int dec_ports(const struct cur *v, struct zt_port_range *r)
{
	if (v->len != 4)
		return ZT_EINVAL;
	r->lo = get16(v->p);
	r->hi = get16(v->p + 2);
	return r->lo >= 1 && r->lo <= r->hi ? 0 : ZT_EINVAL;
}

static int dec_principal(const struct cur *v, struct zt_principal *p)
{
	struct cur name;

	if (v->len < 1)
		return ZT_EINVAL;
	p->kind = v->p[0];
	if (p->kind != ZT_PRINCIPAL_USER && p->kind != ZT_PRINCIPAL_GROUP)
		return ZT_EINVAL;
	name = (struct cur){ .p = v->p + 1, .len = v->len - 1 };
	return dec_str(&name, p->name, sizeof(p->name), zt_wire_name_ok);
}

static int dec_proto(const struct cur *v, uint8_t *proto)
{
	if (v->len != 1)
		return ZT_EINVAL;
	*proto = v->p[0];
	return 0; /* range checked by svc_ok() */
}

static int dec_svc_attr(struct zt_service *s, uint16_t t,
			const struct cur *v, uint32_t *seen, int with_allow)
{
	switch (t) {
	case A_NAME:
		if (once(seen, t))
			return ZT_EINVAL;
		return dec_str(v, s->name, sizeof(s->name), zt_wire_name_ok);
	case A_HOSTNAME:
		if (once(seen, t))
			return ZT_EINVAL;
		return dec_str(v, s->hostname, sizeof(s->hostname), is_host);
	case A_CIDR:
		if (s->n_cidrs == ZT_MAX_CIDRS)
			return ZT_EINVAL;
		return dec_cidr(v, &s->cidrs[s->n_cidrs++]);
	case A_PORTS:
		if (s->n_ports == ZT_MAX_PORTS)
			return ZT_EINVAL;
		return dec_ports(v, &s->ports[s->n_ports++]);
	case A_PROTO:
		if (once(seen, t))
			return ZT_EINVAL;
		return dec_proto(v, &s->proto);
	case A_ICMP:
		if (once(seen, t) || v->len != 0)
			return ZT_EINVAL;
		s->icmp = 1;
		return 0;
	case A_ALLOW:
		if (!with_allow || s->n_allow == ZT_MAX_ALLOW)
			return ZT_EINVAL;
		return dec_principal(v, &s->allow[s->n_allow++]);
	default:
		return ZT_EINVAL;
	}
}

static int dec_service(struct cur v, struct zt_service *s, int with_allow)
{
	struct cur a;
	uint32_t seen = 0;
	uint16_t t;
	int rc;

	while (cur_left(&v)) {
		rc = cur_attr(&v, &t, &a);
		if (!rc)
			rc = dec_svc_attr(s, t, &a, &seen, with_allow);
		if (rc)
			return rc;
	}
	/* Missing NAME or PROTO leave an empty name or proto 0: refused here. */
	return svc_ok(s, with_allow) ? 0 : ZT_EINVAL;
}

static int dec_hello(struct cur *body, struct zt_ctrl_msg *m)
{
	struct cur v;
	uint32_t seen = 0;
	uint16_t t;
	int rc;

	while (cur_left(body)) {
		rc = cur_attr(body, &t, &v);
		if (rc)
			return rc;
		if (t == A_SOFTWARE) {
			rc = once(&seen, t);
			if (!rc)
				rc = dec_str(&v, m->u.hello.software,
					     ZT_NAME_MAX, zt_wire_name_ok);
		} else if (t == A_ADDR && m->u.hello.n_addrs < ZT_MAX_ADDRS) {
			rc = dec_addr(&v, &m->u.hello.addrs[m->u.hello.n_addrs++]);
		} else {
			rc = ZT_EINVAL;
		}
		if (rc)
			return rc;
	}
	return seen & BIT(A_SOFTWARE) ? 0 : ZT_EINVAL;
}

static int dec_observed(struct cur *body, struct zt_ctrl_msg *m)
{
	struct cur v;
	uint16_t t;
	int rc;

	rc = cur_attr(body, &t, &v);
	if (rc)
		return rc;
	if (t != A_ADDR || cur_left(body))
		return ZT_EINVAL;
	return dec_addr(&v, &m->u.observed.addr);
}

/* Counts the top-level attributes of body so that arrays can be sized
 * exactly; a malformed TLV chain fails here already. */
static int count_attrs(struct cur body, size_t *n)
{
	struct cur v;
	uint16_t t;
	int rc;

	*n = 0;
	while (cur_left(&body)) {
		rc = cur_attr(&body, &t, &v);
		if (rc)
			return rc;
		(*n)++;
	}
	return 0;
}

/* Counts the items of a REGISTER or CATALOG body so that the array can be
 * sized exactly. */
static int count_items(const struct cur *body, size_t *n)
{
	int rc = count_attrs(*body, n);

	if (!rc && *n > ZT_MAX_SERVICES)
		rc = ZT_EINVAL;
	return rc;
}

static int dec_register(struct cur *body, struct zt_ctrl_msg *m)
{
	struct cur v;
	size_t n;
	uint16_t t;
	int rc;

	rc = count_items(body, &n);
	if (!rc && n) {
		m->u.reg.services = calloc(n, sizeof(*m->u.reg.services));
		if (!m->u.reg.services)
			rc = ZT_ENOMEM;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		rc = cur_attr(body, &t, &v);
		if (!rc && t != A_SERVICE)
			rc = ZT_EINVAL;
		if (!rc)
			rc = dec_service(v, &m->u.reg.services[i], 1);
		m->u.reg.n = i + 1;
	}
	return rc;
}

static int dec_entry_attr(struct zt_catalog_entry *e, uint16_t t,
			  const struct cur *v, uint32_t *seen)
{
	switch (t) {
	case A_SERVICE:
		if (once(seen, t))
			return ZT_EINVAL;
		return dec_service(*v, &e->svc, 0);
	case A_CONNECTOR:
		if (once(seen, t))
			return ZT_EINVAL;
		return dec_str(v, e->connector, sizeof(e->connector),
			       zt_wire_name_ok);
	case A_ADDR:
		if (e->n_addrs == ZT_MAX_ADDRS)
			return ZT_EINVAL;
		return dec_addr(v, &e->addrs[e->n_addrs++]);
	default:
		return ZT_EINVAL;
	}
}

static int dec_entry(struct cur v, struct zt_catalog_entry *e)
{
	struct cur a;
	uint32_t seen = 0;
	uint16_t t;
	int rc;

	while (cur_left(&v)) {
		rc = cur_attr(&v, &t, &a);
		if (!rc)
			rc = dec_entry_attr(e, t, &a, &seen);
		if (rc)
			return rc;
	}
	if (!(seen & BIT(A_SERVICE)) || !(seen & BIT(A_CONNECTOR)))
		return ZT_EINVAL;
	return 0;
}

static int dec_catalog(struct cur *body, struct zt_ctrl_msg *m)
{
	struct cur v;
	size_t n;
	uint16_t t;
	int rc;

	rc = count_items(body, &n);
	if (!rc && n) {
		m->u.catalog.entries = calloc(n, sizeof(*m->u.catalog.entries));
		if (!m->u.catalog.entries)
			rc = ZT_ENOMEM;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		rc = cur_attr(body, &t, &v);
		if (!rc && t != A_ENTRY)
			rc = ZT_EINVAL;
		if (!rc)
			rc = dec_entry(v, &m->u.catalog.entries[i]);
		m->u.catalog.n = i + 1;
	}
	return rc;
}

static int dec_error_attr(struct zt_ctrl_msg *m, uint16_t t,
			  const struct cur *v, uint32_t *seen)
{
	if (t != A_CODE && t != A_TEXT)
		return ZT_EINVAL;
	if (once(seen, t))
		return ZT_EINVAL;
	if (t == A_TEXT)
		return dec_str(v, m->u.error.text, sizeof(m->u.error.text),
			       is_text);
	if (v->len != 4)
		return ZT_EINVAL;
	/* Any code is accepted: a newer peer may know more of them. */
	m->u.error.code = get32(v->p);
	return 0;
}

static int dec_error(struct cur *body, struct zt_ctrl_msg *m)
{
	struct cur v;
	uint32_t seen = 0;
	uint16_t t;
	int rc;

	while (cur_left(body)) {
		rc = cur_attr(body, &t, &v);
		if (!rc)
			rc = dec_error_attr(m, t, &v, &seen);
		if (rc)
			return rc;
	}
	return seen & BIT(A_CODE) ? 0 : ZT_EINVAL;
}

static int dec_body(struct cur *body, struct zt_ctrl_msg *m)
{
	switch (m->type) {
	case ZT_CTRL_HELLO: return dec_hello(body, m);
	case ZT_CTRL_OBSERVED_ADDRESS: return dec_observed(body, m);
	case ZT_CTRL_REGISTER: return dec_register(body, m);
	case ZT_CTRL_CATALOG: return dec_catalog(body, m);
	case ZT_CTRL_ERROR: return dec_error(body, m);
	default: return ZT_EUNKNOWN;
	}
}

/* Checks what a header alone can tell; ZT_ETRUNC if there is no header
 * yet. The reserved field is ignored so it can gain a meaning later. */
int zt_ctrl_hdr_check(const uint8_t *p, size_t len, uint32_t *body_len)
{
	if (len < ZT_CTRL_HDR_LEN)
		return ZT_ETRUNC;
	if (p[0] != ZT_CTRL_VERSION)
		return ZT_EVERSION;
	*body_len = get32(p + 4);
	if (*body_len > ZT_CTRL_MAX_BODY)
		return ZT_ETOOBIG;
	return 0;
}

int zt_ctrl_decode(struct zt_ctrl_msg *m, const uint8_t *buf, size_t len)
{
	struct cur body;
	uint32_t blen;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = zt_ctrl_hdr_check(buf, len, &blen);
	if (rc)
		return rc;
	if (!type_known(buf[1]))
		return ZT_EUNKNOWN;
	if (len - ZT_CTRL_HDR_LEN < blen)
		return ZT_ETRUNC;
	if (len - ZT_CTRL_HDR_LEN > blen)
		return ZT_EINVAL;
	body = (struct cur){ .p = buf + ZT_CTRL_HDR_LEN, .len = blen };
	m->type = buf[1];
	rc = dec_body(&body, m);
	if (rc) {
		zt_ctrl_msg_free(m);
		memset(m, 0, sizeof(*m));
	}
	return rc;
}

void zt_ctrl_msg_free(struct zt_ctrl_msg *m)
{
	if (!m)
		return;
	/* The union means only the active member's pointer is real. */
	if (m->type == ZT_CTRL_REGISTER) {
		free(m->u.reg.services);
		m->u.reg.services = NULL;
		m->u.reg.n = 0;
	} else if (m->type == ZT_CTRL_CATALOG) {
		free(m->u.catalog.entries);
		m->u.catalog.entries = NULL;
		m->u.catalog.n = 0;
	}
}

const char *zt_ctrl_type_name(int type)
{
	switch (type) {
	case ZT_CTRL_HELLO: return "HELLO";
	case ZT_CTRL_OBSERVED_ADDRESS: return "OBSERVED_ADDRESS";
	case ZT_CTRL_REGISTER: return "REGISTER";
	case ZT_CTRL_CATALOG: return "CATALOG";
	case ZT_CTRL_ERROR: return "ERROR";
	default: return "UNKNOWN";
	}
}

uint32_t zt_ctrl_app_error(int err)
{
	switch (err) {
	case ZT_OK: return ZT_APP_NO_ERROR;
	case ZT_ETOOBIG: return ZT_APP_TOO_BIG;
	case ZT_EVERSION: return ZT_APP_VERSION;
	case ZT_EUNKNOWN: return ZT_APP_UNKNOWN;
	case ZT_ENOMEM: return ZT_APP_INTERNAL; /* our fault, not the peer's */
	default: return ZT_APP_PROTOCOL;
	}
}
