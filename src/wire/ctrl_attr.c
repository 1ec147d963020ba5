/* Control codec, the attribute layer (docs/PROTOCOL.md, "Control
 * messages"): field validation shared by encoder and decoder, the TLV
 * writer, and the encoders and decoders of the attributes messages are made
 * of (addresses, CIDRs, ports, principals, services). The decoder faces
 * hostile peers: every read goes through a length check against its
 * container. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctrl_int.h"
#include "err.h"

#define ATTR_HDR_LEN 4
#define ATTR_MAX_LEN 0xffff
#define HOST_LEN_MAX 253 /* textual DNS name limit */
#define WIRE_INET 4
#define WIRE_INET6 6

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
int ctrl_name_field_ok(const char *s)
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
		p->kind == ZT_PRINCIPAL_GROUP) &&
	       ctrl_name_field_ok(p->name);
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

	if (!ctrl_name_field_ok(s->name) || hlen == sizeof(s->hostname) ||
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

/* ---- writer ------------------------------------------------------------ */

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

void ctrl_wr_put(struct wr *w, const void *p, size_t n)
{
	wr_reserve(w, n);
	if (w->err || n == 0)
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void ctrl_wr_attr(struct wr *w, uint16_t type, const void *v, size_t n)
{
	uint8_t h[ATTR_HDR_LEN];

	if (n > ATTR_MAX_LEN) {
		if (!w->err)
			w->err = ZT_ETOOBIG;
		return;
	}
	put16(h, type);
	put16(h + 2, (uint16_t)n);
	ctrl_wr_put(w, h, sizeof(h));
	ctrl_wr_put(w, v, n);
}

static void wr_attr_u8(struct wr *w, uint16_t type, uint8_t v)
{
	ctrl_wr_attr(w, type, &v, 1);
}

/* Starts a nested attribute; returns where its header is. */
size_t ctrl_wr_nest_begin(struct wr *w, uint16_t type)
{
	size_t at = w->len;

	ctrl_wr_attr(w, type, NULL, 0);
	return at;
}

void ctrl_wr_nest_end(struct wr *w, size_t at)
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

void ctrl_enc_str(struct wr *w, uint16_t type, const char *s)
{
	ctrl_wr_attr(w, type, s, strlen(s));
}

int ctrl_enc_addr(struct wr *w, const struct zt_addr *a)
{
	uint8_t v[3 + 16];
	size_t iplen = a->family == AF_INET ? 4 : 16;

	if (!addr_ok(a))
		return ZT_EINVAL;
	v[0] = a->family == AF_INET ? WIRE_INET : WIRE_INET6;
	put16(v + 1, a->port);
	memcpy(v + 3, a->ip, iplen);
	ctrl_wr_attr(w, A_ADDR, v, 3 + iplen);
	return 0;
}

int ctrl_enc_addrs(struct wr *w, const struct zt_addr *a, size_t n)
{
	int rc;

	if (n > ZT_MAX_ADDRS)
		return ZT_EINVAL;
	for (size_t i = 0; i < n; i++) {
		rc = ctrl_enc_addr(w, &a[i]);
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
	ctrl_wr_attr(w, A_CIDR, v, 2 + iplen);
}

static void enc_ports(struct wr *w, const struct zt_port_range *r)
{
	uint8_t v[4];

	put16(v, r->lo);
	put16(v + 2, r->hi);
	ctrl_wr_attr(w, A_PORTS, v, sizeof(v));
}

static void enc_principal(struct wr *w, const struct zt_principal *p)
{
	uint8_t v[1 + ZT_NAME_MAX];
	size_t n = strlen(p->name);

	v[0] = p->kind;
	memcpy(v + 1, p->name, n);
	ctrl_wr_attr(w, A_ALLOW, v, 1 + n);
}

int ctrl_enc_service(struct wr *w, const struct zt_service *s, int with_allow)
{
	size_t at;

	if (!svc_ok(s, with_allow))
		return ZT_EINVAL;
	at = ctrl_wr_nest_begin(w, A_SERVICE);
	ctrl_enc_str(w, A_NAME, s->name);
	if (s->hostname[0])
		ctrl_enc_str(w, A_HOSTNAME, s->hostname);
	for (size_t i = 0; i < s->n_cidrs; i++)
		enc_cidr(w, &s->cidrs[i]);
	for (size_t i = 0; i < s->n_ports; i++)
		enc_ports(w, &s->ports[i]);
	wr_attr_u8(w, A_PROTO, s->proto);
	if (s->icmp)
		ctrl_wr_attr(w, A_ICMP, NULL, 0);
	for (size_t i = 0; with_allow && i < s->n_allow; i++)
		enc_principal(w, &s->allow[i]);
	ctrl_wr_nest_end(w, at);
	return 0;
}

/* ---- decoder ----------------------------------------------------------- */


/* Takes the next TLV from c; its value becomes the view v. */
int ctrl_cur_attr(struct cur *c, uint16_t *type, struct cur *v)
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

int ctrl_once(uint32_t *seen, uint16_t type)
{
	if (*seen & BIT(type))
		return ZT_EINVAL;
	*seen |= BIT(type);
	return 0;
}

/* Copies a string value into out[outsz] after checking it with ok(). */
int ctrl_dec_str(const struct cur *v, char *out, size_t outsz,
		 int (*ok)(const char *, size_t))
{
	if (v->len >= outsz || !ok((const char *)v->p, v->len))
		return ZT_EINVAL;
	memcpy(out, v->p, v->len);
	out[v->len] = '\0';
	return 0;
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

int ctrl_dec_addr(const struct cur *v, struct zt_addr *a)
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
	return ctrl_dec_str(&name, p->name, sizeof(p->name), zt_wire_name_ok);
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
		if (ctrl_once(seen, t))
			return ZT_EINVAL;
		return ctrl_dec_str(v, s->name, sizeof(s->name),
				    zt_wire_name_ok);
	case A_HOSTNAME:
		if (ctrl_once(seen, t))
			return ZT_EINVAL;
		return ctrl_dec_str(v, s->hostname, sizeof(s->hostname),
				    is_host);
	case A_CIDR:
		if (s->n_cidrs == ZT_MAX_CIDRS)
			return ZT_EINVAL;
		return dec_cidr(v, &s->cidrs[s->n_cidrs++]);
	case A_PORTS:
		if (s->n_ports == ZT_MAX_PORTS)
			return ZT_EINVAL;
		return dec_ports(v, &s->ports[s->n_ports++]);
	case A_PROTO:
		if (ctrl_once(seen, t))
			return ZT_EINVAL;
		return dec_proto(v, &s->proto);
	case A_ICMP:
		if (ctrl_once(seen, t) || v->len != 0)
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

int ctrl_dec_service(struct cur v, struct zt_service *s, int with_allow)
{
	struct cur a;
	uint32_t seen = 0;
	uint16_t t;
	int rc;

	while (cur_left(&v)) {
		rc = ctrl_cur_attr(&v, &t, &a);
		if (!rc)
			rc = dec_svc_attr(s, t, &a, &seen, with_allow);
		if (rc)
			return rc;
	}
	/* Missing NAME or PROTO leave an empty name or proto 0: refused here. */
	return svc_ok(s, with_allow) ? 0 : ZT_EINVAL;
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
		rc = ctrl_cur_attr(&body, &t, &v);
		if (rc)
			return rc;
		(*n)++;
	}
	return 0;
}

/* Counts the items of a REGISTER or CATALOG body so that the array can be
 * sized exactly. */
int ctrl_count_items(const struct cur *body, size_t *n)
{
	int rc = count_attrs(*body, n);

	if (!rc && *n > ZT_MAX_SERVICES)
		rc = ZT_EINVAL;
	return rc;
}
