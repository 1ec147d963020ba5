/* DNS wire format (RFC 1035, RFC 6891 for OPT) for the agent's stub
 * resolver. The parser faces any local process that can send a datagram to
 * the resolver address, so it accepts only the narrow shape a stub resolver
 * sends (one question, optional OPT) and checks every read against len. The
 * builders answer with a compression pointer to the copied question, which
 * keeps answers small and avoids re-encoding the name. Responses from a
 * forwarding resolver get a parser of their own (bottom of the file). */
#include "dns.h"

#include <string.h>

#include "err.h"

#define HDR_LEN 12
#define NAME_TEXT_MAX 253 /* RFC 1035 255-byte wire limit, in text form */
#define TYPE_OPT 41
#define CLASS_IN 1
#define OPT_FIXED 11 /* root name, type, class, ttl, rdlength */

/* Header flag bits. */
#define F_QR 0x8000
#define F_AA 0x0400
#define F_RD 0x0100
#define F_RA 0x0080
#define OPCODE(f) (((f) >> 11) & 0x0f)

/* An answer RR: pointer (2), type, class, ttl (4), rdlength, then rdata. */
#define RR_FIXED 12

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* Hostname characters only: the name is used as a lookup key and may end
 * up in logs, so anything outside LDH (plus '_', seen in SRV-style names)
 * is refused rather than escaped. Returns the lower-cased byte or -1. */
static int label_char(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '_')
		return c;
	return -1;
}

/* Reads the question name at *off into name (text form). Length limits are
 * checked before truncation so that an over-long name is EINVAL whatever
 * the datagram length. */
static int parse_name(char name[256], const uint8_t *buf, size_t len,
		      size_t *off)
{
	size_t pos = 0, o = *off;

	for (;;) {
		uint8_t l;

		if (o >= len)
			return ZT_ETRUNC;
		l = buf[o++];
		if (l == 0)
			break;
		/* 11 = compression pointer, 01/10 = obsolete/extended label
		 * types: none belongs in a stub resolver's question. */
		if (l & 0xc0)
			return ZT_EINVAL;
		if (pos + (pos ? 1 : 0) + l > NAME_TEXT_MAX)
			return ZT_EINVAL;
		if (l > len - o)
			return ZT_ETRUNC;
		if (pos)
			name[pos++] = '.';
		for (uint8_t i = 0; i < l; i++) {
			int c = label_char(buf[o + i]);

			if (c < 0)
				return ZT_EINVAL;
			name[pos++] = (char)c;
		}
		o += l;
	}
	name[pos] = '\0';
	*off = o;
	return 0;
}

/* The one additional record we allow: an EDNS OPT pseudo-RR with the root
 * name. Its options are irrelevant to us and are skipped unread. */
static int parse_opt(const uint8_t *buf, size_t len, size_t *off)
{
	size_t o = *off;
	uint16_t rdlen;

	if (o >= len)
		return ZT_ETRUNC;
	if (buf[o] != 0)
		return ZT_EINVAL;
	if (len - o < 3)
		return ZT_ETRUNC;
	if (rd16(buf + o + 1) != TYPE_OPT)
		return ZT_EINVAL;
	if (len - o < OPT_FIXED)
		return ZT_ETRUNC;
	rdlen = rd16(buf + o + 9);
	if (rdlen > len - o - OPT_FIXED)
		return ZT_ETRUNC;
	*off = o + OPT_FIXED + rdlen;
	return 0;
}

static int parse_question(char name[256], uint16_t *qtype, uint16_t *qclass,
			  const uint8_t *buf, size_t len, size_t *off)
{
	int rc = parse_name(name, buf, len, off);

	if (rc)
		return rc;
	if (len - *off < 4)
		return ZT_ETRUNC;
	*qtype = rd16(buf + *off);
	*qclass = rd16(buf + *off + 2);
	*off += 4;
	return 0;
}

static int parse_header(struct zt_dns_query *q, const uint8_t *buf)
{
	uint16_t qd = rd16(buf + 4), an = rd16(buf + 6);
	uint16_t ns = rd16(buf + 8), ar = rd16(buf + 10);

	q->id = rd16(buf);
	q->flags = rd16(buf + 2);
	if ((q->flags & F_QR) || OPCODE(q->flags) != 0)
		return ZT_EINVAL;
	if (qd != 1 || an != 0 || ns != 0 || ar > 1)
		return ZT_EINVAL;
	return 0;
}

int zt_dns_parse_query(struct zt_dns_query *q, const uint8_t *buf, size_t len)
{
	size_t off = HDR_LEN;
	int rc;

	memset(q, 0, sizeof(*q));
	if (len < HDR_LEN)
		return ZT_ETRUNC;
	rc = parse_header(q, buf);
	if (rc)
		return rc;
	rc = parse_question(q->name, &q->qtype, &q->qclass, buf, len, &off);
	if (rc)
		return rc;
	q->question_end = off;
	if (rd16(buf + 10) == 1) {
		rc = parse_opt(buf, len, &off);
		if (rc)
			return rc;
	}
	if (off != len)
		return ZT_EINVAL;
	return 0;
}

/* Writes header and question; returns the offset after the question, or 0
 * if they do not fit or q does not describe a parsed question. */
static size_t put_head(uint8_t *out, size_t cap, const struct zt_dns_query *q,
		       const uint8_t *raw, int rcode, uint16_t ancount)
{
	uint16_t flags;
	size_t qlen;

	/* Smallest question: root name (1) + type + class. */
	if (q->question_end < HDR_LEN + 5 || q->question_end > cap)
		return 0;
	qlen = q->question_end - HDR_LEN;
	flags = F_QR | F_AA | (q->flags & F_RD) | F_RA | (uint16_t)rcode;
	wr16(out, q->id);
	wr16(out + 2, flags);
	wr16(out + 4, 1);
	wr16(out + 6, ancount);
	wr16(out + 8, 0);
	wr16(out + 10, 0);
	memcpy(out + HDR_LEN, raw + HDR_LEN, qlen);
	return q->question_end;
}

size_t zt_dns_build_answer(uint8_t *out, size_t cap,
			   const struct zt_dns_query *q, const uint8_t *raw,
			   const uint8_t *addrs, size_t n, uint32_t ttl)
{
	size_t alen, off;

	if (q->qtype == ZT_DNS_A)
		alen = 4;
	else if (q->qtype == ZT_DNS_AAAA)
		alen = 16;
	else if (n == 0)
		alen = 0;
	else
		return 0; /* no address family to put in the rdata */
	/* Checked by division so a huge n cannot wrap the size. */
	if (n > UINT16_MAX || q->question_end > cap ||
	    (n && (cap - q->question_end) / (RR_FIXED + alen) < n))
		return 0;
	off = put_head(out, cap, q, raw, ZT_DNS_NOERROR, (uint16_t)n);
	if (!off)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *rr = out + off;

		wr16(rr, 0xc000 | HDR_LEN); /* the question's name */
		wr16(rr + 2, q->qtype);
		wr16(rr + 4, CLASS_IN);
		wr32(rr + 6, ttl);
		wr16(rr + 10, (uint16_t)alen);
		memcpy(rr + RR_FIXED, addrs + i * alen, alen);
		off += RR_FIXED + alen;
	}
	return off;
}

size_t zt_dns_build_error(uint8_t *out, size_t cap,
			  const struct zt_dns_query *q, const uint8_t *raw,
			  int rcode)
{
	/* Only the 4-bit header RCODE: extended codes would need an OPT. */
	if (rcode < 0 || rcode > 15)
		return 0;
	return put_head(out, cap, q, raw, rcode, 0);
}

/* --- responses from an outside resolver --- */

/* What the resolver sends is attacker-controlled (any host on the path can
 * race an answer in), and the application will act on every address in
 * it, so the parser walks the whole message rather than trusting counts
 * or skipping what it does not need. */

#define NAME_WIRE_MAX 255
#define PTR_JUMPS_MAX 127 /* 255 wire bytes hold at most 127 labels */
#define RR_HDR 10         /* type, class, ttl, rdlength after the name */
#define TYPE_NS 2
#define TYPE_PTR 12
#define TYPE_DNAME 39
#define TYPE_SVCB 64
#define TYPE_HTTPS 65
#define SVC_IPV4HINT 4
#define SVC_IPV6HINT 6

/* Skips a possibly compressed name at *off whose in-place part ends before
 * end, decoding the whole of it. A pointer must point before the part of
 * the name that led to it, and what it points to must end before the
 * pointer: offsets only ever decrease, so a loop is impossible. */
static int skip_name(const uint8_t *buf, size_t end, size_t *off)
{
	size_t o = *off, seg = *off, lim = end, after = 0;
	unsigned wire = 0, jumps = 0;

	for (;;) {
		uint8_t l;

		if (o >= lim)
			return jumps ? ZT_EINVAL : ZT_ETRUNC;
		l = buf[o];
		if ((l & 0xc0) == 0xc0) {
			size_t t;

			if (lim - o < 2)
				return jumps ? ZT_EINVAL : ZT_ETRUNC;
			t = (size_t)(l & 0x3f) << 8 | buf[o + 1];
			if (t < HDR_LEN || t >= seg || ++jumps > PTR_JUMPS_MAX)
				return ZT_EINVAL;
			if (jumps == 1)
				after = o + 2;
			lim = o;
			seg = o = t;
			continue;
		}
		if (l & 0xc0)
			return ZT_EINVAL; /* obsolete and extended label types */
		wire += 1u + l;
		if (wire > NAME_WIRE_MAX)
			return ZT_EINVAL;
		if (l == 0)
			break;
		o += 1u + l;
	}
	*off = jumps ? after : o + 1;
	return 0;
}

static int add_addr(struct zt_dns_response *r, int family, const uint8_t *ip,
		    size_t n)
{
	struct zt_addr *a;

	if (r->n_addrs == ZT_DNS_RESP_MAX_ADDRS)
		return ZT_ETOOBIG;
	a = &r->addrs[r->n_addrs++];
	a->family = (uint8_t)family;
	memcpy(a->ip, ip, n);
	return 0;
}

/* SVCB/HTTPS (RFC 9460): priority, target name, then key-length-value
 * parameters. Browsers connect to the ipv4hint/ipv6hint addresses before
 * (or instead of) an A/AAAA lookup, so they are addresses of the answer
 * like any other. */
static int check_svcb(struct zt_dns_response *r, const uint8_t *buf, size_t rd,
		      size_t end, int collect)
{
	size_t o = rd + 2;
	int rc = 0;

	if (end - rd < 3 || skip_name(buf, end, &o) != 0)
		return ZT_EINVAL;
	while (rc == 0 && o < end) {
		uint16_t key, vlen;
		size_t step;

		if (end - o < 4)
			return ZT_EINVAL;
		key = rd16(buf + o);
		vlen = rd16(buf + o + 2);
		o += 4;
		if (vlen > end - o)
			return ZT_EINVAL;
		step = key == SVC_IPV4HINT ? 4 : key == SVC_IPV6HINT ? 16 : 0;
		if (step && (vlen == 0 || vlen % step))
			return ZT_EINVAL;
		for (size_t i = 0; step && collect && rc == 0 && i < vlen;
		     i += step)
			rc = add_addr(r, step == 4 ? AF_INET : AF_INET6,
				      buf + o + i, step);
		o += vlen;
	}
	return rc;
}

/* Rdata of types the application interprets: addresses of the right size,
 * names that fill the rdata exactly. Everything else is opaque bytes. */
static int check_rdata(struct zt_dns_response *r, uint16_t type,
		       const uint8_t *buf, size_t rd, uint16_t rdlen,
		       int collect)
{
	size_t o = rd;

	switch (type) {
	case ZT_DNS_A:
		if (rdlen != 4)
			return ZT_EINVAL;
		return collect ? add_addr(r, AF_INET, buf + rd, 4) : 0;
	case ZT_DNS_AAAA:
		if (rdlen != 16)
			return ZT_EINVAL;
		return collect ? add_addr(r, AF_INET6, buf + rd, 16) : 0;
	case ZT_DNS_CNAME:
	case TYPE_NS:
	case TYPE_PTR:
	case TYPE_DNAME:
		if (skip_name(buf, rd + rdlen, &o) != 0 || o != rd + rdlen)
			return ZT_EINVAL;
		return 0;
	case TYPE_SVCB:
	case TYPE_HTTPS: return check_svcb(r, buf, rd, rd + rdlen, collect);
	default: return 0;
	}
}

static int parse_rr(struct zt_dns_response *r, const uint8_t *buf, size_t len,
		    size_t *off, int collect)
{
	size_t o = *off, rd;
	uint16_t type, rdlen;
	int rc = skip_name(buf, len, &o);

	if (rc)
		return rc;
	if (len - o < RR_HDR)
		return ZT_ETRUNC;
	type = rd16(buf + o);
	rdlen = rd16(buf + o + 8);
	rd = o + RR_HDR;
	if (rdlen > len - rd)
		return ZT_ETRUNC;
	rc = check_rdata(r, type, buf, rd, rdlen, collect);
	if (rc)
		return rc;
	*off = rd + rdlen;
	return 0;
}

int zt_dns_parse_response(struct zt_dns_response *r, const uint8_t *buf,
			  size_t len)
{
	size_t off = HDR_LEN;
	uint32_t an, nrr;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len < HDR_LEN)
		return ZT_ETRUNC;
	r->id = rd16(buf);
	r->flags = rd16(buf + 2);
	if (rd16(buf + 4) != 1)
		return ZT_EINVAL;
	an = rd16(buf + 6);
	nrr = an + rd16(buf + 8) + rd16(buf + 10);
	rc = parse_question(r->name, &r->qtype, &r->qclass, buf, len, &off);
	/* Each record takes at least 11 bytes, so len bounds this loop. */
	for (uint32_t i = 0; rc == 0 && i < nrr; i++)
		rc = parse_rr(r, buf, len, &off, i < an);
	if (rc == 0 && off != len)
		rc = ZT_EINVAL;
	return rc;
}

int zt_dns_response_matches(const struct zt_dns_response *r,
			    const struct zt_dns_query *q, uint16_t id)
{
	if (!(r->flags & F_QR) || OPCODE(r->flags) != 0 || r->id != id)
		return ZT_EINVAL;
	if (r->qtype != q->qtype || r->qclass != q->qclass ||
	    strcmp(r->name, q->name) != 0)
		return ZT_EINVAL;
	return 0;
}

int zt_dns_addr_in(const struct zt_addr *a, const struct zt_cidr *ranges,
		   size_t n)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	struct zt_addr v4 = { .family = AF_INET };
	int is_mapped = a->family == AF_INET6 &&
			memcmp(a->ip, mapped, sizeof(mapped)) == 0;

	if (is_mapped)
		memcpy(v4.ip, a->ip + 12, 4);
	for (size_t i = 0; i < n; i++)
		if (zt_cidr_contains(&ranges[i], a) ||
		    (is_mapped && zt_cidr_contains(&ranges[i], &v4)))
			return 1;
	return 0;
}
