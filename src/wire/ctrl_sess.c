/* The relayed-session messages of control protocol version 2
 * (docs/PROTOCOL.md, "Relayed sessions"): SESSION_OPEN, _OFFER, _ACCEPT,
 * _REFUSE, _READY, _CLOSE and (version 3) _CANDIDATES share one set of
 * fields (struct zt_ctrl_sess);
 * a table says which attributes each message may and must carry, and the
 * encoder and the decoder both follow it, with the same field checks. */
#include <string.h>

#include "ctrl_int.h"
#include "err.h"
#include "rdgram.h"

#define MTU_MIN 1200 /* an inner QUIC Initial must fit */

struct rule {
	uint32_t may, must;
};

#define NAT BIT(A_NAT)

/* What a message may carry at the frame's version: the NAT attribute and
 * CANDIDATES are version 3. */
static const struct rule *rule_of(int type, int version, struct rule *out)
{
	static const struct rule rules[] = {
		[ZT_CTRL_SESSION_OPEN -
		 ZT_CTRL_SESSION_OPEN] = { BIT(A_REQ) | BIT(A_CONNECTOR) |
						   BIT(A_KEY) | BIT(A_ADDR) |
						   NAT,
					   BIT(A_REQ) | BIT(A_CONNECTOR) |
						   BIT(A_KEY) },
		[ZT_CTRL_SESSION_OFFER -
			ZT_CTRL_SESSION_OPEN] = { BIT(A_SESSION) | BIT(A_NAME) |
							  BIT(A_KEY) |
							  BIT(A_MTU) |
							  BIT(A_ADDR) | NAT,
						  BIT(A_SESSION) | BIT(A_NAME) |
							  BIT(A_KEY) |
							  BIT(A_MTU) },
		[ZT_CTRL_SESSION_ACCEPT -
			ZT_CTRL_SESSION_OPEN] = { BIT(A_SESSION) | BIT(A_KEY) |
							  BIT(A_ADDR) | NAT,
						  BIT(A_SESSION) | BIT(A_KEY) },
		[ZT_CTRL_SESSION_REFUSE -
			ZT_CTRL_SESSION_OPEN] = { BIT(A_SESSION) | BIT(A_CODE) |
							  BIT(A_TEXT),
						  BIT(A_SESSION) |
							  BIT(A_CODE) },
		[ZT_CTRL_SESSION_READY -
			ZT_CTRL_SESSION_OPEN] = { BIT(A_REQ) | BIT(A_SESSION) |
							  BIT(A_KEY) |
							  BIT(A_MTU) |
							  BIT(A_ADDR) | NAT,
						  BIT(A_REQ) | BIT(A_SESSION) |
							  BIT(A_KEY) |
							  BIT(A_MTU) },
		[ZT_CTRL_SESSION_CLOSE -
			ZT_CTRL_SESSION_OPEN] = { BIT(A_REQ) | BIT(A_SESSION) |
							  BIT(A_CODE) |
							  BIT(A_TEXT),
						  BIT(A_CODE) },
		[ZT_CTRL_SESSION_CANDIDATES -
			ZT_CTRL_SESSION_OPEN] = { BIT(A_SESSION) | BIT(A_ADDR) |
							  NAT,
						  BIT(A_SESSION) },
	};

	if (type < ZT_CTRL_SESSION_OPEN || type > ZT_CTRL_SESSION_CANDIDATES ||
	    (type == ZT_CTRL_SESSION_CANDIDATES && version < 3))
		return NULL;
	*out = rules[type - ZT_CTRL_SESSION_OPEN];
	if (version < 3)
		out->may &= ~NAT;
	return out;
}

/* The name attribute is the connector in OPEN and the agent elsewhere. */
static uint16_t name_attr(int type)
{
	return type == ZT_CTRL_SESSION_OPEN ? A_CONNECTOR : A_NAME;
}

/* What the fields say is present, as attribute bits. */
static uint32_t present(const struct zt_ctrl_sess *s, const struct rule *r)
{
	uint32_t p = r->must & (BIT(A_NAME) | BIT(A_CONNECTOR) | BIT(A_KEY) |
				BIT(A_MTU) | BIT(A_CODE));

	if (s->req)
		p |= BIT(A_REQ);
	if (s->session)
		p |= BIT(A_SESSION);
	if (s->n_addrs)
		p |= BIT(A_ADDR);
	if (s->text[0])
		p |= BIT(A_TEXT);
	if (s->nat)
		p |= NAT;
	return p & r->may;
}

static int complete(uint32_t have, const struct rule *r, int type)
{
	if ((have & r->must) != r->must)
		return 0;
	/* CLOSE names what it closes: the request, the session, or both */
	return type != ZT_CTRL_SESSION_CLOSE ||
	       (have & (BIT(A_REQ) | BIT(A_SESSION)));
}

static int fields_ok(const struct zt_ctrl_sess *s, uint32_t have)
{
	if ((have & BIT(A_SESSION)) && s->session > ZT_RDGRAM_ID_MAX)
		return 0;
	if ((have & (BIT(A_NAME) | BIT(A_CONNECTOR))) &&
	    !ctrl_name_field_ok(s->peer))
		return 0;
	if ((have & BIT(A_MTU)) && s->mtu < MTU_MIN)
		return 0;
	if (s->n_addrs > ZT_MAX_ADDRS)
		return 0;
	if ((have & NAT) && s->nat != ZT_NAT_EIM && s->nat != ZT_NAT_EDM)
		return 0;
	return strnlen(s->text, sizeof(s->text)) < sizeof(s->text);
}

static void put_u32(struct wr *w, uint16_t type, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	ctrl_wr_attr(w, type, b, sizeof(b));
}

int ctrl_enc_sess(struct wr *w, const struct zt_ctrl_msg *m)
{
	const struct zt_ctrl_sess *s = &m->u.sess;
	struct rule rb;
	const struct rule *r = rule_of(
		m->type, m->version ? m->version : ZT_CTRL_VERSION, &rb);
	uint32_t have;
	uint8_t mtu[2], nat;

	if (!r)
		return ZT_EINVAL;
	have = present(s, r);
	if (!complete(have, r, m->type) || !fields_ok(s, have))
		return ZT_EINVAL;
	if (have & BIT(A_REQ))
		put_u32(w, A_REQ, s->req);
	if (have & BIT(A_SESSION))
		put_u32(w, A_SESSION, s->session);
	if (have & (BIT(A_NAME) | BIT(A_CONNECTOR)))
		ctrl_enc_str(w, name_attr(m->type), s->peer);
	if (have & BIT(A_KEY))
		ctrl_wr_attr(w, A_KEY, s->key, sizeof(s->key));
	if (have & BIT(A_MTU)) {
		put16(mtu, s->mtu);
		ctrl_wr_attr(w, A_MTU, mtu, sizeof(mtu));
	}
	if ((have & BIT(A_ADDR)) && ctrl_enc_addrs(w, s->addrs, s->n_addrs))
		return ZT_EINVAL;
	if (have & NAT) {
		nat = s->nat;
		ctrl_wr_attr(w, A_NAT, &nat, 1);
	}
	if (have & BIT(A_CODE))
		put_u32(w, A_CODE, s->code);
	if (have & BIT(A_TEXT))
		ctrl_enc_str(w, A_TEXT, s->text);
	return 0;
}

static int dec_u32(const struct cur *v, uint32_t *out)
{
	if (v->len != 4)
		return ZT_EINVAL;
	*out = get32(v->p);
	return 0;
}

static int dec_attr(struct zt_ctrl_sess *s, int type, uint16_t t,
		    const struct cur *v)
{
	switch (t) {
	case A_REQ: return dec_u32(v, &s->req) || s->req == 0 ? ZT_EINVAL : 0;
	case A_SESSION:
		return dec_u32(v, &s->session) || s->session == 0 ? ZT_EINVAL :
								    0;
	case A_CONNECTOR:
	case A_NAME:
		if (t != name_attr(type))
			return ZT_EINVAL;
		return ctrl_dec_str(v, s->peer, sizeof(s->peer),
				    zt_wire_name_ok);
	case A_KEY:
		if (v->len != sizeof(s->key))
			return ZT_EINVAL;
		memcpy(s->key, v->p, sizeof(s->key));
		return 0;
	case A_MTU:
		if (v->len != 2)
			return ZT_EINVAL;
		s->mtu = get16(v->p);
		return 0;
	case A_ADDR:
		if (s->n_addrs == ZT_MAX_ADDRS)
			return ZT_EINVAL;
		return ctrl_dec_addr(v, &s->addrs[s->n_addrs++]);
	case A_CODE:
		/* Any code: a newer peer may know more of them. */
		return dec_u32(v, &s->code);
	case A_TEXT:
		return ctrl_dec_str(v, s->text, sizeof(s->text), ctrl_is_text);
	case A_NAT:
		if (v->len != 1)
			return ZT_EINVAL;
		s->nat = v->p[0];
		return 0;
	default: return ZT_EINVAL;
	}
}

int ctrl_dec_sess(struct cur *body, struct zt_ctrl_msg *m)
{
	struct zt_ctrl_sess *s = &m->u.sess;
	struct rule rb;
	const struct rule *r = rule_of(m->type, m->version, &rb);
	uint32_t seen = 0;
	struct cur v;
	uint16_t t;
	int rc;

	if (!r)
		return ZT_EUNKNOWN;
	while (cur_left(body)) {
		rc = ctrl_cur_attr(body, &t, &v);
		if (rc)
			return rc;
		if (t >= 32 || !(r->may & BIT(t)))
			return ZT_EINVAL;
		if (t != A_ADDR && ctrl_once(&seen, t))
			return ZT_EINVAL;
		seen |= BIT(t);
		rc = dec_attr(s, m->type, t, &v);
		if (rc)
			return rc;
	}
	/* An empty TEXT is the same as none: what we accept, we could send. */
	if (!s->text[0])
		seen &= ~BIT(A_TEXT);
	if (!complete(seen, r, m->type) || !fields_ok(s, seen))
		return ZT_EINVAL;
	return 0;
}
