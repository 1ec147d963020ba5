/* DNS wire format for the agent's stub resolver: parse a query, build an
 * answer with synthetic addresses or an error. Pure functions. */
#ifndef ZT_DNS_H
#define ZT_DNS_H

#include <stddef.h>
#include <stdint.h>

#define ZT_DNS_A 1
#define ZT_DNS_AAAA 28

#define ZT_DNS_NOERROR 0
#define ZT_DNS_FORMERR 1
#define ZT_DNS_SERVFAIL 2
#define ZT_DNS_NXDOMAIN 3
#define ZT_DNS_NOTIMP 4
#define ZT_DNS_REFUSED 5

struct zt_dns_query {
	uint16_t id;
	uint16_t flags;       /* as received */
	char name[256];       /* lower-case, no trailing dot; "" for the root */
	uint16_t qtype, qclass;
	size_t question_end;  /* offset just past the question */
};

/* Accepts a standard query (QR=0, OPCODE=0, QDCOUNT=1; answer/authority
 * counts 0; an EDNS OPT record in additional is allowed and ignored).
 * Compression pointers are rejected in the question. Returns 0, ZT_ETRUNC or
 * ZT_EINVAL. */
int zt_dns_parse_query(struct zt_dns_query *q, const uint8_t *buf,
		       size_t len);

/* Builds a response to q (raw is the original query, for the question):
 * n addresses of the family that matches q->qtype (4 bytes each for A, 16
 * for AAAA) with ttl; n == 0 gives NOERROR with no answers (NODATA). Returns
 * the length, or 0 if cap is too small. */
size_t zt_dns_build_answer(uint8_t *out, size_t cap,
			   const struct zt_dns_query *q, const uint8_t *raw,
			   const uint8_t *addrs, size_t n, uint32_t ttl);
/* Builds a response with rcode and no answers. */
size_t zt_dns_build_error(uint8_t *out, size_t cap,
			  const struct zt_dns_query *q, const uint8_t *raw,
			  int rcode);

#endif
