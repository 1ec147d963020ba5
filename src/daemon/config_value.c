/* Config loader: error messages (the first error only, control characters
 * masked) and the small value parsers the key setters share: numbers, ports,
 * IP literals, host[:port], comma-separated lists, booleans. On byte ranges,
 * so that list items need no copy. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config_int.h"
#include "err.h"
#include "grant.h"

#define SHOW_MAX 80 /* bytes of a value or name quoted in a message */

/* Errors */

/* Records the first error only. Bytes from the file are echoed in messages,
 * so control characters are masked to keep log lines and terminals sane. */
__attribute__((format(printf, 4, 5)))
int cfg_fail(struct cfg_ctx *ctx, int rc, int line, const char *fmt, ...)
{
	char *m = ctx->err->msg;
	size_t len = sizeof(ctx->err->msg);
	va_list ap;
	int n;

	if (ctx->rc)
		return ctx->rc;
	ctx->rc = rc;
	if (line > 0)
		n = snprintf(m, len, "%s:%d: ", ctx->name, line);
	else
		n = snprintf(m, len, "%s: ", ctx->name);
	if (n >= 0 && (size_t)n < len) {
		va_start(ap, fmt);
		vsnprintf(m + n, len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	for (; *m; m++)
		if ((unsigned char)*m < 0x20 || *m == 0x7f)
			*m = '?';
	return rc;
}

int cfg_show_len(size_t n)
{
	return (int)(n > SHOW_MAX ? SHOW_MAX : n);
}

const char *cfg_show_more(size_t n)
{
	return n > SHOW_MAX ? "..." : "";
}

/* "[section] key = 'value': expected <what>", value being v[0..n). */
__attribute__((format(printf, 4, 5)))
int cfg_bad_value(struct cfg_ctx *ctx, const char *v, size_t n,
		  const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return cfg_fail(ctx, ZT_EINVAL, ctx->lineno,
			"[%s] %s = '%.*s%s': expected %s", ctx->sect_name,
			ctx->key, cfg_show_len(n), v, cfg_show_more(n), what);
}

/* Small parsers */

void cfg_trim(const char **s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* Digits only: no sign, spaces or base prefix, so that "-1" or "0x10" cannot
 * wrap around into something that looks valid. */
int cfg_parse_uint(const char *s, size_t n, unsigned long max,
		   unsigned long *out)
{
	unsigned long v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

int cfg_parse_port(const char *s, size_t n, unsigned long min, uint16_t *port)
{
	unsigned long v;

	if (cfg_parse_uint(s, n, 65535, &v) || v < min)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int cfg_parse_ip(const char *s, size_t n, int family, uint8_t *ip)
{
	char buf[INET6_ADDRSTRLEN];

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(family, buf, ip) == 1 ? 0 : -1;
}

/* "host", "host:port", "[v6]" or "[v6]:port". A bare IPv6 literal is refused
 * because its last group would be read as the port. */
int cfg_split_hostport(const char *s, size_t n, struct hostport *hp)
{
	const char *c;

	memset(hp, 0, sizeof(*hp));
	if (n > 0 && s[0] == '[') {
		c = memchr(s, ']', n);
		if (!c)
			return -1;
		hp->host = s + 1;
		hp->host_len = (size_t)(c - s) - 1;
		hp->bracketed = 1;
		n -= (size_t)(c - s) + 1;
		if (n > 0 && c[1] != ':')
			return -1;
	} else {
		c = memchr(s, ':', n);
		hp->host = s;
		hp->host_len = c ? (size_t)(c - s) : n;
		if (!c)
			return 0;
		n -= (size_t)(c - s);
		if (memchr(c + 1, ':', n - 1))
			return -1;
	}
	if (n > 0) {
		hp->port = c + 1 + hp->bracketed;
		hp->port_len = n - 1;
	}
	return 0;
}

/* DNS name or IPv4 literal, or an IPv6 literal in brackets. */
int cfg_host_ok(const struct hostport *hp)
{
	uint8_t ip[16];

	if (hp->bracketed)
		return cfg_parse_ip(hp->host, hp->host_len, AF_INET6, ip) == 0;
	if (cfg_parse_ip(hp->host, hp->host_len, AF_INET, ip) == 0)
		return 1;
	return zt_dns_name_ok(hp->host, hp->host_len);
}

void cfg_copy_lower(char *dst, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	dst[n] = '\0';
}

/* Comma-separated lists. Empty items are skipped so that a value may end in a
 * comma and go on on an indented line, but a value must have one item. */
int cfg_for_each_item(struct cfg_ctx *ctx, const char *v,
		      int (*fn)(struct cfg_ctx *, const char *, size_t),
		      const char *what)
{
	const char *p = v;
	int items = 0;
	int rc;

	for (;;) {
		const char *end = strchr(p, ',');
		const char *s = p;
		size_t n = end ? (size_t)(end - p) : strlen(p);

		cfg_trim(&s, &n);
		if (n > 0) {
			rc = fn(ctx, s, n);
			if (rc)
				return rc;
			items++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (items == 0)
		return cfg_bad_value(ctx, v, strlen(v), "%s", what);
	return 0;
}

int cfg_set_bool(struct cfg_ctx *ctx, int *out, const char *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return cfg_bad_value(ctx, v, strlen(v),
			     "a boolean: true/false, yes/no, on/off or 1/0");
}
