/* Hand-built DNS messages for unit_dns.c (queries) and unit_dnsresp.c
 * (responses): a byte buffer and writers that put exactly what the test
 * says, bad names included, so the tests pin RFC 1035 rather than whatever
 * the implementation happens to produce. A write past the buffer fails the
 * test. */
#ifndef ZT_TEST_DNSQB_H
#define ZT_TEST_DNSQB_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"

struct qb {
	uint8_t b[2048];
	size_t len;
};

void qb_u8(struct qb *q, uint8_t v);
void qb_u16(struct qb *q, uint16_t v);
void qb_u32(struct qb *q, uint32_t v);
/* Starts a message: resets q and writes the 12-byte header. */
void qb_header(struct qb *q, uint16_t id, uint16_t flags, uint16_t qd,
	       uint16_t an, uint16_t ns, uint16_t ar);
/* Dotted name to labels, written verbatim; "" is the root. */
void qb_name(struct qb *q, const char *name);
/* An EDNS OPT record with rdlen bytes of rdata. */
void qb_opt(struct qb *q, uint16_t rdlen);
/* A query as a stub resolver sends it: RD set, one question. */
void qb_query(struct qb *q, uint16_t id, const char *name, uint16_t qtype,
	      int with_opt);
/* zt_dns_parse_query() on the message in b. */
int qb_parse(struct qb *b, struct zt_dns_query *q);

#endif
