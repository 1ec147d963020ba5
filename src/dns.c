/* DNS wire format (RFC 1035, RFC 6891 for OPT) for the agent's stub
 * resolver. The parser faces any local process that can send a datagram to
 * the resolver address, so it accepts only the narrow shape a stub resolver
 * sends (one question, optional OPT) and checks every read against len. The
 * builders answer with a compression pointer to the copied question, which
 * keeps answers small and avoids re-encoding the name. */
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
	rc = parse_name(q->name, buf, len, &off);
	if (rc)
		return rc;
	if (len - off < 4)
		return ZT_ETRUNC;
	q->qtype = rd16(buf + off);
	q->qclass = rd16(buf + off + 2);
	off += 4;
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
