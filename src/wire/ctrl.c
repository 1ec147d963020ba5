/* Control protocol framing and TLV encoding (docs/PROTOCOL.md, "Control
 * messages"). The decoder faces hostile peers: every read goes through a
 * length check against its container, and every decoded message is run
 * through the same field validation the encoder applies, so anything we
 * accept we could also have sent.
 *
 * This file holds the frame header and the messages (HELLO,
 * OBSERVED_ADDRESS, REGISTER, CATALOG, ERROR); the attributes they are made
 * of, and their validation, are in ctrl_attr.c (ctrl_int.h). */
#include "ctrl.h"

#include <stdlib.h>
#include <string.h>

#include "ctrl_int.h"
#include "err.h"

#define TEXT_LEN_MAX 255

static int type_known(int type, int version)
{
	if (type >= ZT_CTRL_HELLO && type <= ZT_CTRL_ERROR)
		return 1;
	if (version >= 2 && type >= ZT_CTRL_SESSION_OPEN &&
	    type <= ZT_CTRL_SESSION_CLOSE)
		return 1;
	return version >= 3 && type == ZT_CTRL_SESSION_CANDIDATES;
}

/* ---- message encoders ---------------------------------------------- */

static int enc_hello(struct wr *w, const struct zt_ctrl_msg *m)
{
	if (!ctrl_name_field_ok(m->u.hello.software))
		return ZT_EINVAL;
	ctrl_enc_str(w, A_SOFTWARE, m->u.hello.software);
	return ctrl_enc_addrs(w, m->u.hello.addrs, m->u.hello.n_addrs);
}

static int enc_register(struct wr *w, const struct zt_ctrl_msg *m)
{
	int rc;

	if (m->u.reg.n > ZT_MAX_SERVICES || (m->u.reg.n && !m->u.reg.services))
		return ZT_EINVAL;
	for (size_t i = 0; i < m->u.reg.n; i++) {
		rc = ctrl_enc_service(w, &m->u.reg.services[i], 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int enc_entry(struct wr *w, const struct zt_catalog_entry *e)
{
	size_t at;
	int rc;

	if (!ctrl_name_field_ok(e->connector))
		return ZT_EINVAL;
	at = ctrl_wr_nest_begin(w, A_ENTRY);
	rc = ctrl_enc_service(w, &e->svc, 0);
	if (rc)
		return rc;
	ctrl_enc_str(w, A_CONNECTOR, e->connector);
	rc = ctrl_enc_addrs(w, e->addrs, e->n_addrs);
	if (rc)
		return rc;
	ctrl_wr_nest_end(w, at);
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
	ctrl_wr_attr(w, A_CODE, v, sizeof(v));
	if (m->u.error.text[0])
		ctrl_enc_str(w, A_TEXT, m->u.error.text);
	return 0;
}

static int enc_body(struct wr *w, const struct zt_ctrl_msg *m)
{
	switch (m->type) {
	case ZT_CTRL_HELLO: return enc_hello(w, m);
	case ZT_CTRL_OBSERVED_ADDRESS:
		return ctrl_enc_addr(w, &m->u.observed.addr);
	case ZT_CTRL_REGISTER: return enc_register(w, m);
	case ZT_CTRL_CATALOG: return enc_catalog(w, m);
	case ZT_CTRL_ERROR: return enc_error(w, m);
	default: return ctrl_enc_sess(w, m);
	}
}

int zt_ctrl_encode(const struct zt_ctrl_msg *m, uint8_t **out, size_t *outlen)
{
	struct wr w = { 0 };
	uint8_t hdr[ZT_CTRL_HDR_LEN] = { ZT_CTRL_VERSION, 0, 0, 0, 0, 0, 0, 0 };
	int rc;

	*out = NULL;
	*outlen = 0;
	if (m->version)
		hdr[0] = m->version;
	if (hdr[0] > ZT_CTRL_VERSION_MAX || !type_known(m->type, hdr[0]))
		return ZT_EINVAL;
	hdr[1] = m->type;
	ctrl_wr_put(&w, hdr, sizeof(hdr));
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

/* ---- message decoders ---------------------------------------------- */

int ctrl_is_text(const char *s, size_t n)
{
	return n <= TEXT_LEN_MAX && memchr(s, '\0', n) == NULL;
}

static int dec_hello(struct cur *body, struct zt_ctrl_msg *m)
{
	struct cur v;
	uint32_t seen = 0;
	uint16_t t;
	int rc;

	while (cur_left(body)) {
		rc = ctrl_cur_attr(body, &t, &v);
		if (rc)
			return rc;
		if (t == A_SOFTWARE) {
			rc = ctrl_once(&seen, t);
			if (!rc)
				rc = ctrl_dec_str(&v, m->u.hello.software,
						  ZT_NAME_MAX, zt_wire_name_ok);
		} else if (t == A_ADDR && m->u.hello.n_addrs < ZT_MAX_ADDRS) {
			rc = ctrl_dec_addr(
				&v, &m->u.hello.addrs[m->u.hello.n_addrs++]);
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

	rc = ctrl_cur_attr(body, &t, &v);
	if (rc)
		return rc;
	if (t != A_ADDR || cur_left(body))
		return ZT_EINVAL;
	return ctrl_dec_addr(&v, &m->u.observed.addr);
}

static int dec_register(struct cur *body, struct zt_ctrl_msg *m)
{
	struct cur v;
	size_t n;
	uint16_t t;
	int rc;

	rc = ctrl_count_items(body, &n);
	if (!rc && n) {
		m->u.reg.services = calloc(n, sizeof(*m->u.reg.services));
		if (!m->u.reg.services)
			rc = ZT_ENOMEM;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		rc = ctrl_cur_attr(body, &t, &v);
		if (!rc && t != A_SERVICE)
			rc = ZT_EINVAL;
		if (!rc)
			rc = ctrl_dec_service(v, &m->u.reg.services[i], 1);
		m->u.reg.n = i + 1;
	}
	return rc;
}

static int dec_entry_attr(struct zt_catalog_entry *e, uint16_t t,
			  const struct cur *v, uint32_t *seen)
{
	switch (t) {
	case A_SERVICE:
		if (ctrl_once(seen, t))
			return ZT_EINVAL;
		return ctrl_dec_service(*v, &e->svc, 0);
	case A_CONNECTOR:
		if (ctrl_once(seen, t))
			return ZT_EINVAL;
		return ctrl_dec_str(v, e->connector, sizeof(e->connector),
				    zt_wire_name_ok);
	case A_ADDR:
		if (e->n_addrs == ZT_MAX_ADDRS)
			return ZT_EINVAL;
		return ctrl_dec_addr(v, &e->addrs[e->n_addrs++]);
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
		rc = ctrl_cur_attr(&v, &t, &a);
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

	rc = ctrl_count_items(body, &n);
	if (!rc && n) {
		m->u.catalog.entries = calloc(n, sizeof(*m->u.catalog.entries));
		if (!m->u.catalog.entries)
			rc = ZT_ENOMEM;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		rc = ctrl_cur_attr(body, &t, &v);
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
	if (ctrl_once(seen, t))
		return ZT_EINVAL;
	if (t == A_TEXT)
		return ctrl_dec_str(v, m->u.error.text, sizeof(m->u.error.text),
				    ctrl_is_text);
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
		rc = ctrl_cur_attr(body, &t, &v);
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
	default: return ctrl_dec_sess(body, m);
	}
}

/* Checks what a header alone can tell; ZT_ETRUNC if there is no header
 * yet. The reserved field is ignored so it can gain a meaning later. */
int zt_ctrl_hdr_check(const uint8_t *p, size_t len, uint32_t *body_len)
{
	if (len < ZT_CTRL_HDR_LEN)
		return ZT_ETRUNC;
	if (p[0] < ZT_CTRL_VERSION || p[0] > ZT_CTRL_VERSION_MAX)
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
	if (!type_known(buf[1], buf[0]))
		return ZT_EUNKNOWN;
	if (len - ZT_CTRL_HDR_LEN < blen)
		return ZT_ETRUNC;
	if (len - ZT_CTRL_HDR_LEN > blen)
		return ZT_EINVAL;
	body = (struct cur){ .p = buf + ZT_CTRL_HDR_LEN, .len = blen };
	m->type = buf[1];
	m->version = buf[0];
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
	case ZT_CTRL_SESSION_OPEN: return "SESSION_OPEN";
	case ZT_CTRL_SESSION_OFFER: return "SESSION_OFFER";
	case ZT_CTRL_SESSION_ACCEPT: return "SESSION_ACCEPT";
	case ZT_CTRL_SESSION_REFUSE: return "SESSION_REFUSE";
	case ZT_CTRL_SESSION_READY: return "SESSION_READY";
	case ZT_CTRL_SESSION_CLOSE: return "SESSION_CLOSE";
	case ZT_CTRL_SESSION_CANDIDATES: return "SESSION_CANDIDATES";
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

