/* Hand-built DNS messages shared by unit_dns.c and unit_dnsresp.c
 * (dnsqb.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dnsqb.h"

void qb_u8(struct qb *q, uint8_t v)
{
	assert_true(q->len < sizeof(q->b));
	q->b[q->len++] = v;
}

void qb_u16(struct qb *q, uint16_t v)
{
	qb_u8(q, (uint8_t)(v >> 8));
	qb_u8(q, (uint8_t)v);
}

void qb_u32(struct qb *q, uint32_t v)
{
	qb_u16(q, (uint16_t)(v >> 16));
	qb_u16(q, (uint16_t)v);
}

void qb_header(struct qb *q, uint16_t id, uint16_t flags, uint16_t qd,
		      uint16_t an, uint16_t ns, uint16_t ar)
{
	q->len = 0;
	qb_u16(q, id);
	qb_u16(q, flags);
	qb_u16(q, qd);
	qb_u16(q, an);
	qb_u16(q, ns);
	qb_u16(q, ar);
}

/* Dotted name to labels, written verbatim (no checks: tests feed bad
 * names on purpose). "" is the root. */
void qb_name(struct qb *q, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		qb_u8(q, (uint8_t)l);
		for (size_t i = 0; i < l; i++)
			qb_u8(q, (uint8_t)name[i]);
		name += l + (dot ? 1 : 0);
	}
	qb_u8(q, 0);
}

void qb_opt(struct qb *q, uint16_t rdlen)
{
	qb_u8(q, 0);
	qb_u16(q, 41);
	qb_u16(q, 1232); /* UDP payload size */
	qb_u16(q, 0);
	qb_u16(q, 0);
	qb_u16(q, rdlen);
	for (uint16_t i = 0; i < rdlen; i++)
		qb_u8(q, (uint8_t)i);
}

/* A query as a stub resolver sends it: RD set, one question. */
void qb_query(struct qb *q, uint16_t id, const char *name,
		     uint16_t qtype, int with_opt)
{
	qb_header(q, id, 0x0100, 1, 0, 0, with_opt ? 1 : 0);
	qb_name(q, name);
	qb_u16(q, qtype);
	qb_u16(q, 1);
	if (with_opt)
		qb_opt(q, 0);
}


int qb_parse(struct qb *b, struct zt_dns_query *q)
{
	return zt_dns_parse_query(q, b->b, b->len);
}

