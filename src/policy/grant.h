/* Publishing rights: which hostnames and address ranges a connector's
 * certificate lets it publish, and when two services claim the same thing.
 * Pure functions; the relay (REGISTER) and the agent (its session to the
 * connector) each decide with them on their own. Encoding of the grants in
 * the certificate: docs/PROTOCOL.md, "Identity". */
#ifndef ZT_GRANT_H
#define ZT_GRANT_H

#include <stddef.h>

#include "types.h"

/* RFC 1123 host name (no trailing dot, last label not all digits). */
int zt_dns_name_ok(const char *s, size_t n);
/* A host name, or "*." followed by one: the wildcard stands for one or more
 * labels, so "*.corp.internal" covers "a.b.corp.internal" but not
 * "corp.internal". At most 253 characters in all. */
int zt_host_pattern_ok(const char *s, size_t n);
/* Case-insensitive; pattern as above. */
int zt_host_pattern_match(const char *pattern, const char *host);

/* "10.1.0.0/16" or "fd00::/64" with the host bits zero. Returns 0 or
 * ZT_EINVAL. */
int zt_cidr_parse(const char *s, size_t n, struct zt_cidr *c);
/* Clears c's host bits; returns 1 if any was set. */
int zt_cidr_mask_host_bits(struct zt_cidr *c);
/* Formats c into buf ("10.1.0.0/16"); returns buf. */
char *zt_cidr_str(const struct zt_cidr *c, char *buf, size_t len);
/* Is every address of inner inside outer (same family)? */
int zt_cidr_within(const struct zt_cidr *inner, const struct zt_cidr *outer);
/* Do a and b share any address? */
int zt_cidr_overlap(const struct zt_cidr *a, const struct zt_cidr *b);

/* 1 when id's grants cover the service's hostname and every CIDR; else 0,
 * with the first thing not covered described in why. A service that
 * publishes nothing is not covered. */
int zt_grant_covers(const struct zt_identity *id, const struct zt_service *svc,
		    char *why, size_t why_len);
/* 1 when a and b claim the same thing: the same name, the same hostname or
 * overlapping CIDRs. */
int zt_service_conflict(const struct zt_service *a, const struct zt_service *b);

#endif
