/* DNS wire format for the agent's stub resolver: parse a query, build an
 * answer with synthetic addresses or an error. Pure functions. */
#ifndef ZT_DNS_H
#define ZT_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define ZT_DNS_A 1
#define ZT_DNS_CNAME 5
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

/* A resolver's response, as far as the agent needs it to decide whether
 * the application may see it. */
#define ZT_DNS_RESP_MAX_ADDRS 64

struct zt_dns_response {
	uint16_t id;
	uint16_t flags;       /* as received (QR, OPCODE, TC, RCODE...) */
	char name[256];       /* the question, as in struct zt_dns_query */
	uint16_t qtype, qclass;
	/* Every A and AAAA record of the answer section, whatever its owner
	 * name or class, and every ipv4hint/ipv6hint address of its SVCB and
	 * HTTPS records (port 0). */
	struct zt_addr addrs[ZT_DNS_RESP_MAX_ADDRS];
	size_t n_addrs;
};

/* Parses a whole response: header, exactly one question (no compression,
 * hostname characters only, as zt_dns_parse_query), then every record of
 * the answer, authority and additional sections, each owner name and
 * CNAME/NS/PTR target decoded with compression pointers followed (each
 * pointer strictly before the part of the name that led to it, so no
 * loops; at most 127 jumps and 255 bytes per name). A or AAAA rdata of the
 * wrong length, malformed SVCB/HTTPS parameters, bytes after the last
 * record or a record past the end are refused. QR is not checked here (see zt_dns_response_matches). Returns 0,
 * ZT_ETRUNC, ZT_EINVAL or ZT_ETOOBIG (more than ZT_DNS_RESP_MAX_ADDRS
 * addresses). */
int zt_dns_parse_response(struct zt_dns_response *r, const uint8_t *buf,
			  size_t len);

/* Is r the answer to q sent with id: QR set, OPCODE 0, that id, and the
 * same question (name compared case-insensitively: both are lower case
 * after parsing; type and class)? Returns 0 or ZT_EINVAL. */
int zt_dns_response_matches(const struct zt_dns_response *r,
			    const struct zt_dns_query *q, uint16_t id);

/* 1 if a lies in one of the n ranges; an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is also checked as the IPv4 address it reaches. */
int zt_dns_addr_in(const struct zt_addr *a, const struct zt_cidr *ranges,
		   size_t n);

#endif
