#include "grant.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* An all-digit last label is refused: resolvers read "10.1" as an IPv4
 * address, not a name. */
int zt_dns_name_ok(const char *s, size_t n)
{
	size_t label = 0;
	int digits = 1;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			digits = 1;
			continue;
		}
		if (!is_alnum(c) && (c != '-' || label == 0))
			return 0;
		if (++label > 63)
			return 0;
		if (c < '0' || c > '9')
			digits = 0;
	}
	return label > 0 && s[n - 1] != '-' && !digits;
}

int zt_host_pattern_ok(const char *s, size_t n)
{
	/* No longer than a name it could match (and than what holds it). */
	if (n > 253)
		return 0;
	if (n > 2 && s[0] == '*' && s[1] == '.')
		return zt_dns_name_ok(s + 2, n - 2);
	return zt_dns_name_ok(s, n);
}

int zt_host_pattern_match(const char *pattern, const char *host)
{
	size_t pl = strlen(pattern), hl = strlen(host);

	if (pl > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* "*.x" needs at least one label before ".x". */
		pl -= 1;
		return hl > pl && host[hl - pl - 1] != '.' &&
		       strcasecmp(host + hl - pl, pattern + 1) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}

int zt_cidr_mask_host_bits(struct zt_cidr *c)
{
	size_t len = c->family == AF_INET ? 4 : 16;
	int changed = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned bit = (unsigned)i * 8;
		uint8_t m;

		if (c->prefix >= bit + 8)
			m = 0xff;
		else if (c->prefix <= bit)
			m = 0;
		else
			m = (uint8_t)(0xff << (8 - (c->prefix - bit)));
		changed |= (c->addr[i] & ~m) != 0;
		c->addr[i] &= m;
	}
	return changed;
}

int zt_cidr_parse(const char *s, size_t n, struct zt_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 5];
	const char *slash;
	unsigned long prefix = 0, bits;
	size_t alen, plen;

	memset(c, 0, sizeof(*c));
	if (n >= sizeof(buf))
		return ZT_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (!slash)
		return ZT_EINVAL;
	alen = (size_t)(slash - buf);
	plen = n - alen - 1;
	if (plen < 1 || plen > 3)
		return ZT_EINVAL;
	for (size_t i = 0; i < plen; i++) {
		if (slash[1 + i] < '0' || slash[1 + i] > '9')
			return ZT_EINVAL;
		prefix = prefix * 10 + (unsigned long)(slash[1 + i] - '0');
	}
	buf[alen] = '\0';
	c->family = memchr(buf, ':', alen) ? AF_INET6 : AF_INET;
	bits = c->family == AF_INET ? 32 : 128;
	if (prefix > bits || inet_pton(c->family, buf, c->addr) != 1)
		goto bad;
	c->prefix = (uint8_t)prefix;
	if (zt_cidr_mask_host_bits(c))
		goto bad;
	return 0;
bad:
	memset(c, 0, sizeof(*c));
	return ZT_EINVAL;
}

char *zt_cidr_str(const struct zt_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (c->family == AF_INET || c->family == AF_INET6)
		inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
	return buf;
}

/* Do the first `prefix` bits of a and b agree? */
static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	size_t full = prefix / 8, rem = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	return rem == 0 || ((a[full] ^ b[full]) & (0xff << (8 - rem))) == 0;
}

int zt_cidr_within(const struct zt_cidr *inner, const struct zt_cidr *outer)
{
	return inner->family == outer->family &&
	       inner->prefix >= outer->prefix &&
	       prefix_equal(inner->addr, outer->addr, outer->prefix);
}

int zt_cidr_overlap(const struct zt_cidr *a, const struct zt_cidr *b)
{
	return zt_cidr_within(a, b) || zt_cidr_within(b, a);
}

static int host_granted(const struct zt_identity *id, const char *host)
{
	for (size_t i = 0; i < id->n_publish_hosts; i++)
		if (zt_host_pattern_match(id->publish_hosts[i], host))
			return 1;
	return 0;
}

static int cidr_granted(const struct zt_identity *id, const struct zt_cidr *c)
{
	for (size_t i = 0; i < id->n_publish_cidrs; i++)
		if (zt_cidr_within(c, &id->publish_cidrs[i]))
			return 1;
	return 0;
}

int zt_grant_covers(const struct zt_identity *id, const struct zt_service *svc,
		    char *why, size_t why_len)
{
	char c[64];

	if (!svc->hostname[0] && svc->n_cidrs == 0) {
		snprintf(why, why_len, "service %s publishes nothing", svc->name);
		return 0;
	}
	if (svc->hostname[0] && !host_granted(id, svc->hostname)) {
		snprintf(why, why_len, "hostname %s not granted to %s",
			 svc->hostname, id->name);
		return 0;
	}
	for (size_t i = 0; i < svc->n_cidrs; i++)
		if (!cidr_granted(id, &svc->cidrs[i])) {
			snprintf(why, why_len, "cidr %s not granted to %s",
				 zt_cidr_str(&svc->cidrs[i], c, sizeof(c)),
				 id->name);
			return 0;
		}
	return 1;
}

int zt_service_conflict(const struct zt_service *a, const struct zt_service *b)
{
	if (strcmp(a->name, b->name) == 0)
		return 1;
	if (a->hostname[0] && strcasecmp(a->hostname, b->hostname) == 0)
		return 1;
	for (size_t i = 0; i < a->n_cidrs; i++)
		for (size_t j = 0; j < b->n_cidrs; j++)
			if (zt_cidr_overlap(&a->cidrs[i], &b->cidrs[j]))
				return 1;
	return 0;
}
