#include "types.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
	       c == '-';
}

int zt_name_ok(const char *s, size_t n)
{
	if (n < 1 || n >= ZT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

int zt_wire_name_ok(const char *s, size_t n)
{
	if (n < 1 || n >= ZT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < '!' || (unsigned char)s[i] > '~')
			return 0;
	return 1;
}

const char *zt_role_name(int role)
{
	switch (role) {
	case ZT_ROLE_RELAY: return "relay";
	case ZT_ROLE_CONNECTOR: return "connector";
	case ZT_ROLE_AGENT: return "agent";
	default: return "none";
	}
}

int zt_role_parse(const char *s)
{
	if (strcmp(s, "relay") == 0)
		return ZT_ROLE_RELAY;
	if (strcmp(s, "connector") == 0)
		return ZT_ROLE_CONNECTOR;
	if (strcmp(s, "agent") == 0)
		return ZT_ROLE_AGENT;
	return ZT_ROLE_NONE;
}

char *zt_addr_str(const struct zt_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == AF_INET) {
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, a->port);
	} else if (a->family == AF_INET6) {
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	} else {
		snprintf(buf, len, "-");
	}
	return buf;
}

int zt_addr_from_sockaddr(struct zt_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		a->family = AF_INET;
		a->port = ntohs(s->sin_port);
		memcpy(a->ip, &s->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		a->family = AF_INET6;
		a->port = ntohs(s->sin6_port);
		memcpy(a->ip, &s->sin6_addr, 16);
		return 0;
	}
	return -1;
}

socklen_t zt_addr_to_sockaddr(const struct zt_addr *a,
			      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(a->port);
		memcpy(&s->sin_addr, a->ip, 4);
		return sizeof(*s);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(a->port);
		memcpy(&s->sin6_addr, a->ip, 16);
		return sizeof(*s);
	}
	return 0;
}

int zt_addr_equal(const struct zt_addr *a, const struct zt_addr *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && a->port == b->port &&
	       memcmp(a->ip, b->ip, n) == 0;
}

int zt_addr_reachable(const struct zt_addr *a)
{
	static const uint8_t zero[16];
	const uint8_t *ip = a->ip;

	if (a->port == 0)
		return 0;
	if (a->family == AF_INET)
		return !(ip[0] == 0 || ip[0] == 127 || (ip[0] >= 224) ||
			 (ip[0] == 169 && ip[1] == 254));
	if (a->family != AF_INET6)
		return 0;
	if (memcmp(ip, zero, 16) == 0 ||
	    (memcmp(ip, zero, 15) == 0 && ip[15] == 1) || ip[0] == 0xff ||
	    (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80))
		return 0;
	/* IPv4-mapped: judge the IPv4 address inside. */
	if (memcmp(ip, zero, 10) == 0 && ip[10] == 0xff && ip[11] == 0xff) {
		struct zt_addr v4 = { .family = AF_INET, .port = a->port };

		memcpy(v4.ip, ip + 12, 4);
		return zt_addr_reachable(&v4);
	}
	return 1;
}

int zt_cidr_contains(const struct zt_cidr *c, const struct zt_addr *a)
{
	size_t full = c->prefix / 8, rem = c->prefix % 8;

	if (c->family != a->family)
		return 0;
	if (memcmp(c->addr, a->ip, full) != 0)
		return 0;
	if (rem == 0)
		return 1;
	return ((c->addr[full] ^ a->ip[full]) & (0xff << (8 - rem))) == 0;
}

int zt_service_has_addr(const struct zt_service *svc, const struct zt_addr *a)
{
	for (size_t i = 0; i < svc->n_cidrs; i++)
		if (zt_cidr_contains(&svc->cidrs[i], a))
			return 1;
	return 0;
}
