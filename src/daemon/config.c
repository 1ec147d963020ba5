/* Config loader (docs/CONFIG.md). inih splits lines into sections and
 * key = value pairs; everything else is done here.
 *
 * inih is compiled from its pinned source with ztnad's options (CMakeLists.txt,
 * zt_inih): the handler gets line numbers and section headers, it stops at the
 * first error, and its line buffer grows to the file size limit so that no
 * line is ever cut. Before inih runs, one pass over the text finds the first
 * line with a NUL byte or over the length limit; inih only sees the lines
 * before it, so errors are still reported in file order. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "grant.h"
#include "log.h"

#define MAX_FILE_SIZE (1024 * 1024)
/* Longest line other than a comment, without its '\n' (a '\r' counts). Kept
 * from the days of the system inih's 200-byte buffer so that configs valid
 * then are valid now, and the other way round. */
#define LINE_MAX_CHARS 198
#define SHOW_MAX 80 /* bytes of a value or name quoted in a message */
#define SUN_PATH_LEN sizeof(((struct sockaddr_un *)0)->sun_path)

/* What the loader relies on from inih's build options (CMakeLists.txt) */
_Static_assert(INI_HANDLER_LINENO && INI_CALL_HANDLER_ON_NEW_SECTION &&
	       INI_STOP_ON_FIRST_ERROR, "inih built without ztnad's options");
_Static_assert(INI_MAX_LINE >= MAX_FILE_SIZE + 3 && !INI_USE_STACK,
	       "inih's line buffer must hold any line of a legal file");
_Static_assert(INI_MAX_SECTION > LINE_MAX_CHARS,
	       "inih must not cut the section name of a legal header line");

#define R_RELAY (1u << ZT_ROLE_RELAY)
#define R_CONN (1u << ZT_ROLE_CONNECTOR)
#define R_AGENT (1u << ZT_ROLE_AGENT)
#define R_ALL (R_RELAY | R_CONN | R_AGENT)

enum sect {
	S_NONE, S_IDENTITY, S_DAEMON, S_QUIC, S_RELAYS, S_TUN, S_DNS, S_SERVICE,
	S_COUNT
};

struct ctx {
	struct zt_config *cfg;
	struct zt_config_error *err;
	const char *name;       /* file name for messages */
	char dir[PATH_MAX];     /* relative paths are resolved against this;
				   made absolute on first use */

	/* end of the text, and the start of line cur_line (see line_at()) */
	const char *end;
	const char *cur;
	int cur_line;
	int lineno;             /* line being handled */
	int prev_key;           /* inih's prev_name is set: an indented line
				   continues the previous key */

	/* current section */
	enum sect sect;
	char sect_name[ZT_NAME_MAX + 16];
	size_t svc;             /* index in cfg->services, or SIZE_MAX */
	size_t svc_cap;
	unsigned seen[S_COUNT]; /* single-value keys already set */
	const char *key;        /* key being handled, for messages */

	int rc;                 /* first error */
};

struct key_def {
	const char *name;
	unsigned roles;
	int list; /* may repeat, or continue on indented lines */
	int (*parse)(struct ctx *ctx, const struct key_def *k, const char *v);
	size_t off; /* field in struct zt_config, for the path keys */
};

/* Errors */

/* Records the first error only. Bytes from the file are echoed in messages,
 * so control characters are masked to keep log lines and terminals sane. */
__attribute__((format(printf, 4, 5)))
static int fail(struct ctx *ctx, int rc, int line, const char *fmt, ...)
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

static int show_len(size_t n)
{
	return (int)(n > SHOW_MAX ? SHOW_MAX : n);
}

static const char *show_more(size_t n)
{
	return n > SHOW_MAX ? "..." : "";
}

/* "[section] key = 'value': expected <what>", value being v[0..n). */
__attribute__((format(printf, 4, 5)))
static int bad_value(struct ctx *ctx, const char *v, size_t n,
		     const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(ctx, ZT_EINVAL, ctx->lineno,
		    "[%s] %s = '%.*s%s': expected %s", ctx->sect_name, ctx->key,
		    show_len(n), v, show_more(n), what);
}

/* Small parsers, on byte ranges so that list items need no copy */

static void trim(const char **s, size_t *n)
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
static int parse_uint(const char *s, size_t n, unsigned long max,
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

static int parse_port(const char *s, size_t n, unsigned long min,
		      uint16_t *port)
{
	unsigned long v;

	if (parse_uint(s, n, 65535, &v) || v < min)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_ip(const char *s, size_t n, int family, uint8_t *ip)
{
	char buf[INET6_ADDRSTRLEN];

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(family, buf, ip) == 1 ? 0 : -1;
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* The POSIX portable user name set, without a leading '-': an account
 * on this host, not a ztnad name (zt_name_ok). */
static int unix_user_ok(const char *s, size_t n)
{
	if (n == 0 || n >= ZT_NAME_MAX || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

struct hostport {
	const char *host; /* without brackets */
	size_t host_len;
	int bracketed;
	const char *port; /* NULL: no port given */
	size_t port_len;
};

/* "host", "host:port", "[v6]" or "[v6]:port". A bare IPv6 literal is refused
 * because its last group would be read as the port. */
static int split_hostport(const char *s, size_t n, struct hostport *hp)
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
static int host_ok(const struct hostport *hp)
{
	uint8_t ip[16];

	if (hp->bracketed)
		return parse_ip(hp->host, hp->host_len, AF_INET6, ip) == 0;
	if (parse_ip(hp->host, hp->host_len, AF_INET, ip) == 0)
		return 1;
	return zt_dns_name_ok(hp->host, hp->host_len);
}

static void copy_lower(char *dst, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	dst[n] = '\0';
}

/* Comma-separated lists. Empty items are skipped so that a value may end in a
 * comma and go on on an indented line, but a value must have one item. */
static int for_each_item(struct ctx *ctx, const char *v,
			 int (*fn)(struct ctx *, const char *, size_t),
			 const char *what)
{
	const char *p = v;
	int items = 0;
	int rc;

	for (;;) {
		const char *end = strchr(p, ',');
		const char *s = p;
		size_t n = end ? (size_t)(end - p) : strlen(p);

		trim(&s, &n);
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
		return bad_value(ctx, v, strlen(v), "%s", what);
	return 0;
}

/* [identity] and [daemon] */

/* Makes ctx->dir absolute, once; "" stands for the current directory. */
static int absolute_dir(struct ctx *ctx)
{
	char cwd[PATH_MAX], rel[PATH_MAX];
	int len;

	if (ctx->dir[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return fail(ctx, ZT_EIO, ctx->lineno,
			    "[%s] %s: cannot resolve a relative path: "
			    "getcwd: %s", ctx->sect_name, ctx->key,
			    strerror(errno));
	memcpy(rel, ctx->dir, sizeof(rel));
	len = snprintf(ctx->dir, sizeof(ctx->dir), "%s%s%s", cwd,
		       rel[0] && strcmp(cwd, "/") ? "/" : "", rel);
	if (len < 0 || (size_t)len >= sizeof(ctx->dir))
		return fail(ctx, ZT_EINVAL, ctx->lineno,
			    "[%s] %s: the config directory path is too long",
			    ctx->sect_name, ctx->key);
	return 0;
}

/* Relative paths are taken against the config file's directory so that a
 * config and its certificates move together; the result is absolute, so it
 * does not depend on the daemon's working directory later. */
static int resolve_path(struct ctx *ctx, const char *v, char *out)
{
	size_t n = strlen(v);
	int len, rc;

	if (n == 0)
		return bad_value(ctx, v, n, "a path");
	if (v[0] == '/') {
		len = snprintf(out, PATH_MAX, "%s", v);
	} else {
		rc = absolute_dir(ctx);
		if (rc)
			return rc;
		len = snprintf(out, PATH_MAX, "%s/%s",
			       strcmp(ctx->dir, "/") ? ctx->dir : "", v);
	}
	if (len < 0 || len >= PATH_MAX)
		return bad_value(ctx, v, n, "a path shorter than %d bytes",
				 PATH_MAX);
	return 0;
}

static int set_path(struct ctx *ctx, const struct key_def *k, const char *v)
{
	return resolve_path(ctx, v, (char *)ctx->cfg + k->off);
}

static int set_socket(struct ctx *ctx, const struct key_def *k, const char *v)
{
	char *path = (char *)ctx->cfg + k->off;
	int rc = resolve_path(ctx, v, path);

	if (rc == 0 && strlen(path) >= SUN_PATH_LEN)
		rc = bad_value(ctx, v, strlen(v),
			       "a socket path of at most %zu bytes after "
			       "resolution (it has %zu)",
			       SUN_PATH_LEN - 1, strlen(path));
	return rc;
}

/* A POSIX portable user name: looked up (getpwnam) when privileges drop. */
static int set_user(struct ctx *ctx, const struct key_def *k, const char *v)
{
	size_t n = strlen(v);

	if (!unix_user_ok(v, n))
		return bad_value(ctx, v, n, "a user name (letters, digits, . _ -)");
	memcpy(ctx->cfg->user, v, n + 1);
	return 0;
}

static int set_log_level(struct ctx *ctx, const struct key_def *k,
			 const char *v)
{
	int level = zt_log_level_parse(v);

	if (level < 0)
		return bad_value(ctx, v, strlen(v),
				 "error, warn, info or debug");
	ctx->cfg->log_level = level;
	return 0;
}

/* [quic] */

static int set_listen(struct ctx *ctx, const struct key_def *k, const char *v)
{
	struct zt_addr *a = &ctx->cfg->listen;
	unsigned long min = ctx->cfg->role == ZT_ROLE_RELAY ? 1 : 0;
	struct hostport hp;
	size_t n = strlen(v);

	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	if (split_hostport(v, n, &hp) || !hp.port)
		goto bad;
	if (hp.bracketed)
		a->family = AF_INET6;
	if (parse_ip(hp.host, hp.host_len, a->family, a->ip))
		goto bad;
	if (parse_port(hp.port, hp.port_len, min, &a->port))
		return bad_value(ctx, v, n, "a port between %lu and 65535",
				 min);
	return 0;
bad:
	return bad_value(ctx, v, n,
			 "an IP address and port: a.b.c.d:port or [IPv6]:port");
}

static int set_seconds(struct ctx *ctx, uint32_t *ms, const char *v,
		       unsigned long max)
{
	unsigned long s;

	if (parse_uint(v, strlen(v), max, &s) || s < 1)
		return bad_value(ctx, v, strlen(v),
				 "seconds between 1 and %lu", max);
	*ms = (uint32_t)s * 1000;
	return 0;
}

static int set_idle(struct ctx *ctx, const struct key_def *k, const char *v)
{
	return set_seconds(ctx, &ctx->cfg->idle_timeout_ms, v, 600);
}

static int set_keepalive(struct ctx *ctx, const struct key_def *k,
			 const char *v)
{
	return set_seconds(ctx, &ctx->cfg->keepalive_ms, v, 300);
}

static int set_bool(struct ctx *ctx, int *out, const char *v)
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
	return bad_value(ctx, v, strlen(v),
			 "a boolean: true/false, yes/no, on/off or 1/0");
}

static int set_retry(struct ctx *ctx, const struct key_def *k, const char *v)
{
	return set_bool(ctx, &ctx->cfg->require_retry, v);
}

/* [relays] */

static int set_relay(struct ctx *ctx, const struct key_def *k, const char *v)
{
	struct zt_config *cfg = ctx->cfg;
	struct zt_relay_endpoint *r;
	struct hostport hp;
	size_t n = strlen(v);

	if (cfg->n_relays == ZT_MAX_RELAYS)
		return bad_value(ctx, v, n, "at most %d relays", ZT_MAX_RELAYS);
	r = &cfg->relays[cfg->n_relays];
	if (split_hostport(v, n, &hp) || !hp.port || !host_ok(&hp) ||
	    hp.host_len > ZT_HOST_MAX)
		return bad_value(ctx, v, n,
				 "host:port with a DNS name, an IPv4 address "
				 "or an [IPv6] address");
	if (parse_port(hp.port, hp.port_len, 1, &r->port))
		return bad_value(ctx, v, n, "a port between 1 and 65535");
	/* Lower case: the name is compared with the certificate's. */
	copy_lower(r->host, hp.host, hp.host_len);
	cfg->n_relays++;
	return 0;
}

/* [service NAME] */

static struct zt_service *cur_svc(struct ctx *ctx)
{
	return &ctx->cfg->services[ctx->svc];
}

static int set_hostname(struct ctx *ctx, const struct key_def *k,
			const char *v)
{
	size_t n = strlen(v);

	if (!zt_dns_name_ok(v, n))
		return bad_value(ctx, v, n,
				 "a DNS name (IP addresses go in cidr)");
	copy_lower(cur_svc(ctx)->hostname, v, n);
	return 0;
}

static int cidr_item(struct ctx *ctx, const char *s, size_t n)
{
	struct zt_service *svc = cur_svc(ctx);
	const char *slash = memchr(s, '/', n);
	struct zt_cidr c = { 0 };
	char net[INET6_ADDRSTRLEN];
	unsigned long prefix, bits;
	size_t alen;

	if (!slash)
		goto bad;
	alen = (size_t)(slash - s);
	c.family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
	bits = c.family == AF_INET ? 32 : 128;
	if (parse_ip(s, alen, c.family, c.addr))
		goto bad;
	if (parse_uint(slash + 1, n - alen - 1, bits, &prefix))
		return bad_value(ctx, s, n, "a prefix length between 0 and %lu",
				 bits);
	c.prefix = (uint8_t)prefix;
	if (zt_cidr_mask_host_bits(&c)) {
		inet_ntop(c.family, c.addr, net, sizeof(net));
		return bad_value(ctx, s, n, "the host bits to be zero (%s/%lu)",
				 net, prefix);
	}
	if (svc->n_cidrs == ZT_MAX_CIDRS)
		return bad_value(ctx, s, n, "at most %d cidrs per service",
				 ZT_MAX_CIDRS);
	svc->cidrs[svc->n_cidrs++] = c;
	return 0;
bad:
	return bad_value(ctx, s, n,
			 "address/prefix, e.g. 10.1.0.0/16 or fd00::/64");
}

static int set_cidr(struct ctx *ctx, const struct key_def *k, const char *v)
{
	return for_each_item(ctx, v, cidr_item,
			     "a comma-separated list of address/prefix");
}

static int port_item(struct ctx *ctx, const char *s, size_t n)
{
	struct zt_service *svc = cur_svc(ctx);
	const char *dash = memchr(s, '-', n);
	const char *lo = s, *hi = s;
	size_t lo_len = n, hi_len = n;
	struct zt_port_range r;

	if (dash) {
		lo_len = (size_t)(dash - s);
		hi = dash + 1;
		hi_len = n - lo_len - 1;
		trim(&lo, &lo_len);
		trim(&hi, &hi_len);
	}
	if (parse_port(lo, lo_len, 1, &r.lo) ||
	    parse_port(hi, hi_len, 1, &r.hi) || r.lo > r.hi)
		return bad_value(ctx, s, n,
				 "ports as N or N-M, 1 <= N <= M <= 65535");
	if (svc->n_ports == ZT_MAX_PORTS)
		return bad_value(ctx, s, n,
				 "at most %d port ranges per service",
				 ZT_MAX_PORTS);
	svc->ports[svc->n_ports++] = r;
	return 0;
}

static int set_ports(struct ctx *ctx, const struct key_def *k, const char *v)
{
	return for_each_item(ctx, v, port_item,
			     "a comma-separated list of ports or ranges");
}

static int set_protocol(struct ctx *ctx, const struct key_def *k,
			const char *v)
{
	struct zt_service *svc = cur_svc(ctx);

	if (strcasecmp(v, "tcp") == 0)
		svc->proto = ZT_PROTO_TCP;
	else if (strcasecmp(v, "udp") == 0)
		svc->proto = ZT_PROTO_UDP;
	else if (strcasecmp(v, "any") == 0)
		svc->proto = ZT_PROTO_ANY;
	else
		return bad_value(ctx, v, strlen(v), "tcp, udp or any");
	return 0;
}

static int set_icmp(struct ctx *ctx, const struct key_def *k, const char *v)
{
	int on = 0;
	int rc = set_bool(ctx, &on, v);

	cur_svc(ctx)->icmp = (uint8_t)on;
	return rc;
}

static int allow_item(struct ctx *ctx, const char *s, size_t n)
{
	struct zt_service *svc = cur_svc(ctx);
	struct zt_principal *p;
	size_t skip;
	uint8_t kind;

	if (n > 5 && memcmp(s, "user:", 5) == 0) {
		kind = ZT_PRINCIPAL_USER;
		skip = 5;
	} else if (n > 6 && memcmp(s, "group:", 6) == 0) {
		kind = ZT_PRINCIPAL_GROUP;
		skip = 6;
	} else {
		goto bad;
	}
	if (!zt_name_ok(s + skip, n - skip))
		goto bad;
	if (svc->n_allow == ZT_MAX_ALLOW)
		return bad_value(ctx, s, n,
				 "at most %d allow entries per service",
				 ZT_MAX_ALLOW);
	p = &svc->allow[svc->n_allow++];
	p->kind = kind;
	memcpy(p->name, s + skip, n - skip);
	p->name[n - skip] = '\0';
	return 0;
bad:
	return bad_value(ctx, s, n,
			 "user:NAME or group:NAME, NAME being 1 to %d "
			 "characters of A-Z a-z 0-9 . _ @ -", ZT_NAME_MAX - 1);
}

static int set_allow(struct ctx *ctx, const struct key_def *k, const char *v)
{
	return for_each_item(ctx, v, allow_item,
			     "a comma-separated list of user:NAME or "
			     "group:NAME");
}

static int set_target(struct ctx *ctx, const struct key_def *k, const char *v)
{
	struct hostport hp;
	size_t n = strlen(v);
	uint16_t port;

	if (n > ZT_HOST_MAX || split_hostport(v, n, &hp) || !host_ok(&hp))
		return bad_value(ctx, v, n,
				 "host or host:port with a DNS name, an IPv4 "
				 "address or an [IPv6] address");
	if (hp.port && parse_port(hp.port, hp.port_len, 1, &port))
		return bad_value(ctx, v, n, "a port between 1 and 65535");
	memcpy(cur_svc(ctx)->target, v, n + 1);
	return 0;
}

/* Sections and keys */

static const struct key_def identity_keys[] = {
	{ "ca", R_ALL, 0, set_path, offsetof(struct zt_config, ca_file) },
	{ "cert", R_ALL, 0, set_path, offsetof(struct zt_config, cert_file) },
	{ "key", R_ALL, 0, set_path, offsetof(struct zt_config, key_file) },
	{ "crl", R_ALL, 0, set_path, offsetof(struct zt_config, crl_file) },
	{ NULL, 0, 0, NULL, 0 },
};

static const struct key_def daemon_keys[] = {
	{ "log_level", R_ALL, 0, set_log_level, 0 },
	{ "control_socket", R_ALL, 0, set_socket,
	  offsetof(struct zt_config, control_socket) },
	{ "qlog_dir", R_ALL, 0, set_path,
	  offsetof(struct zt_config, qlog_dir) },
	{ "user", R_ALL, 0, set_user, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

static const struct key_def quic_keys[] = {
	{ "listen", R_ALL, 0, set_listen, 0 },
	{ "idle_timeout", R_ALL, 0, set_idle, 0 },
	{ "keepalive", R_ALL, 0, set_keepalive, 0 },
	{ "require_retry", R_RELAY, 0, set_retry, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

static const struct key_def relays_keys[] = {
	{ "relay", R_CONN | R_AGENT, 1, set_relay, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

/* [tun] (agent): where packets come from. */
static int set_ifname(struct ctx *ctx, const struct key_def *k, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= sizeof(ctx->cfg->tun_ifname) ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_-.") != n)
		return bad_value(ctx, v, n,
				 "an interface name of 1 to 15 characters of "
				 "A-Z a-z 0-9 _ - .");
	memcpy(ctx->cfg->tun_ifname, v, n + 1);
	return 0;
}

static int set_mtu(struct ctx *ctx, const struct key_def *k, const char *v)
{
	unsigned long m;

	/* lwIP's MSS is 15000: an MTU up to 15040 lets kernel TCP use it. */
	if (parse_uint(v, strlen(v), 65535, &m) || m < 1280)
		return bad_value(ctx, v, strlen(v),
				 "an MTU between 1280 and 65535");
	ctx->cfg->tun_mtu = (uint32_t)m;
	return 0;
}

static int set_fail_open(struct ctx *ctx, const struct key_def *k,
			 const char *v)
{
	return set_bool(ctx, &ctx->cfg->tun_fail_open, v);
}

static const struct key_def tun_keys[] = {
	{ "ifname", R_AGENT, 0, set_ifname, 0 },
	{ "mtu", R_AGENT, 0, set_mtu, 0 },
	{ "fail_open", R_AGENT, 0, set_fail_open, 0 },
	{ "shim_socket", R_AGENT, 0, set_socket,
	  offsetof(struct zt_config, shim_socket) },
	{ NULL, 0, 0, NULL, 0 },
};

/* [dns] (agent): what the stub does with names outside the catalog. */
static int set_forward(struct ctx *ctx, const struct key_def *k,
		       const char *v)
{
	struct zt_addr *a = &ctx->cfg->dns_upstream;
	struct hostport hp;
	size_t n = strlen(v);

	memset(a, 0, sizeof(*a));
	ctx->cfg->dns_forward = ZT_DNS_FWD_REFUSE;
	if (strcmp(v, "refuse") == 0)
		return 0;
	if (strcmp(v, "system") == 0) {
		ctx->cfg->dns_forward = ZT_DNS_FWD_SYSTEM;
		return 0;
	}
	ctx->cfg->dns_forward = ZT_DNS_FWD_ADDR;
	a->family = AF_INET;
	a->port = 53;
	/* a.b.c.d, a.b.c.d:port, [v6] or [v6]:port */
	if (split_hostport(v, n, &hp) ||
	    (hp.port && parse_port(hp.port, hp.port_len, 1, &a->port)))
		goto bad;
	if (hp.bracketed)
		a->family = AF_INET6;
	if (parse_ip(hp.host, hp.host_len, a->family, a->ip) == 0)
		return 0;
bad:
	return bad_value(ctx, v, n,
			 "refuse, system, or a resolver address (a.b.c.d[:port] "
			 "or [IPv6][:port])");
}

static const struct key_def dns_keys[] = {
	{ "forward", R_AGENT, 0, set_forward, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

static const struct key_def service_keys[] = {
	{ "hostname", R_CONN, 0, set_hostname, 0 },
	{ "cidr", R_CONN, 1, set_cidr, 0 },
	{ "ports", R_CONN, 1, set_ports, 0 },
	{ "protocol", R_CONN, 0, set_protocol, 0 },
	{ "icmp", R_CONN, 0, set_icmp, 0 },
	{ "allow", R_CONN, 1, set_allow, 0 },
	{ "target", R_CONN, 0, set_target, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

static const struct {
	const char *name;
	const struct key_def *keys;
} sections[S_COUNT] = {
	[S_IDENTITY] = { "identity", identity_keys },
	[S_DAEMON] = { "daemon", daemon_keys },
	[S_QUIC] = { "quic", quic_keys },
	[S_RELAYS] = { "relays", relays_keys },
	[S_TUN] = { "tun", tun_keys },
	[S_DNS] = { "dns", dns_keys },
	[S_SERVICE] = { "service", service_keys },
};

/* docs/CONFIG.md gives service names the name alphabet less '@'; until
 * it says otherwise, an '@' in one stays an error. */
static int service_name_ok(const char *s, size_t n)
{
	return zt_name_ok(s, n) && !memchr(s, '@', n);
}

/* [service NAME]: the name is shown to agents in the catalog, so it keeps to
 * a conservative character set. Services are only stored for the connector;
 * for other roles the section's keys are rejected one by one. */
static int begin_service(struct ctx *ctx, const char *s, size_t n)
{
	struct zt_config *cfg = ctx->cfg;
	struct zt_service *svc;
	size_t cap;

	if (!service_name_ok(s, n))
		return fail(ctx, ZT_EINVAL, ctx->lineno,
			    "[service %.*s%s]: expected [service NAME], NAME "
			    "being 1 to %d characters of A-Z a-z 0-9 . _ -",
			    show_len(n), s, show_more(n), ZT_NAME_MAX - 1);
	snprintf(ctx->sect_name, sizeof(ctx->sect_name), "service %.*s",
		 (int)n, s);
	ctx->seen[S_SERVICE] = 0;
	ctx->svc = SIZE_MAX;
	if (cfg->role != ZT_ROLE_CONNECTOR)
		return 0;
	for (size_t i = 0; i < cfg->n_services; i++)
		if (strlen(cfg->services[i].name) == n &&
		    memcmp(cfg->services[i].name, s, n) == 0)
			return fail(ctx, ZT_EINVAL, ctx->lineno,
				    "[%s]: duplicate service name",
				    ctx->sect_name);
	if (cfg->n_services == ZT_MAX_SERVICES)
		return fail(ctx, ZT_EINVAL, ctx->lineno,
			    "[%s]: more than %d services", ctx->sect_name,
			    ZT_MAX_SERVICES);
	if (cfg->n_services == ctx->svc_cap) {
		cap = ctx->svc_cap ? ctx->svc_cap * 2 : 8;
		if (cap > ZT_MAX_SERVICES)
			cap = ZT_MAX_SERVICES;
		svc = realloc(cfg->services, cap * sizeof(*svc));
		if (!svc)
			return fail(ctx, ZT_ENOMEM, ctx->lineno,
				    "out of memory");
		cfg->services = svc;
		ctx->svc_cap = cap;
	}
	ctx->svc = cfg->n_services++;
	svc = cur_svc(ctx);
	memset(svc, 0, sizeof(*svc));
	memcpy(svc->name, s, n);
	svc->proto = ZT_PROTO_TCP;
	return 0;
}

/* s[0..n) is what is between the brackets. */
static int begin_section(struct ctx *ctx, const char *s, size_t n)
{
	trim(&s, &n);
	for (int i = S_IDENTITY; i < S_SERVICE; i++) {
		if (strlen(sections[i].name) == n &&
		    memcmp(sections[i].name, s, n) == 0) {
			ctx->sect = (enum sect)i;
			snprintf(ctx->sect_name, sizeof(ctx->sect_name), "%s",
				 sections[i].name);
			return 0;
		}
	}
	if (n >= 7 && memcmp(s, "service", 7) == 0 &&
	    (n == 7 || isspace((unsigned char)s[7]))) {
		ctx->sect = S_SERVICE;
		s += 7;
		n -= 7;
		trim(&s, &n);
		return begin_service(ctx, s, n);
	}
	return fail(ctx, ZT_EUNKNOWN, ctx->lineno, "unknown section [%.*s%s]",
		    show_len(n), s, show_more(n));
}

static const struct key_def *find_key(enum sect sect, const char *name,
				      unsigned *bit)
{
	const struct key_def *k = sections[sect].keys;

	for (unsigned i = 0; k && k[i].name; i++) {
		if (strcmp(k[i].name, name) == 0) {
			*bit = 1u << i;
			return &k[i];
		}
	}
	return NULL;
}

/* Start of line lineno in the text. inih calls the handler in line order,
 * so a cursor that only moves forward is enough. */
static const char *line_at(struct ctx *ctx, int lineno)
{
	const char *nl;

	while (ctx->cur_line < lineno) {
		nl = memchr(ctx->cur, '\n', (size_t)(ctx->end - ctx->cur));
		if (!nl)
			break;
		ctx->cur = nl + 1;
		ctx->cur_line++;
	}
	return ctx->cur;
}

/* inih hands a continuation line to the handler under the previous key's
 * name, like a key = value line. Only the line itself tells them apart: inih
 * reads an indented line as a continuation once a key has been seen in the
 * section. */
static int is_continuation(struct ctx *ctx)
{
	const char *s = line_at(ctx, ctx->lineno);

	return ctx->prev_key && s < ctx->end && isspace((unsigned char)*s);
}

static int key_handler(struct ctx *ctx, const char *name, const char *value)
{
	const struct key_def *k;
	size_t n = strlen(name);
	unsigned bit;
	int line = ctx->lineno;
	int cont = is_continuation(ctx);

	ctx->prev_key = 1;
	ctx->key = name;
	if (ctx->sect == S_NONE) {
		fail(ctx, ZT_EUNKNOWN, line,
		     "unknown key '%.*s%s' outside of any section",
		     show_len(n), name, show_more(n));
		return 0;
	}
	k = find_key(ctx->sect, name, &bit);
	if (!k) {
		fail(ctx, ZT_EUNKNOWN, line, "unknown key '%.*s%s' in [%s]",
		     show_len(n), name, show_more(n), ctx->sect_name);
		return 0;
	}
	if (!(k->roles & (1u << ctx->cfg->role))) {
		fail(ctx, ZT_EINVAL, line, "[%s] %s: not used by the %s role",
		     ctx->sect_name, name, zt_role_name(ctx->cfg->role));
		return 0;
	}
	if (!k->list && cont) {
		/* never what was meant for a single value */
		fail(ctx, ZT_EINVAL, line,
		     "[%s] %s: indented line read as a continuation of '%s', "
		     "which takes one value; remove the indentation",
		     ctx->sect_name, name, name);
		return 0;
	}
	if (!k->list && (ctx->seen[ctx->sect] & bit)) {
		fail(ctx, ZT_EINVAL, line, "[%s] %s: set more than once",
		     ctx->sect_name, name);
		return 0;
	}
	ctx->seen[ctx->sect] |= bit;
	return k->parse(ctx, k, value) == 0;
}

/* inih calls this with name and value NULL on each section header
 * (INI_CALL_HANDLER_ON_NEW_SECTION), so empty sections are checked too. */
static int handler(void *user, const char *section, const char *name,
		   const char *value, int lineno)
{
	struct ctx *ctx = user;

	ctx->lineno = lineno;
	if (!name) {
		ctx->prev_key = 0;
		return begin_section(ctx, section, strlen(section)) == 0;
	}
	return key_handler(ctx, name, value);
}

/* Offset of the first character of line s[0..n) that inih looks at: after
 * the BOM of line 1 and leading white space. */
static size_t first_char(const char *s, size_t n, int lineno)
{
	size_t i = 0;

	if (lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	return i;
}

/* Comment or blank line, as inih tests it: such a line may be any length. */
static int is_comment(const char *s, size_t n, int lineno)
{
	size_t i = first_char(s, n, lineno);

	return i == n || s[i] == ';' || s[i] == '#';
}

/* Finds the first line inih must not see: one with a NUL byte (inih would
 * stop reading it there), or a line longer than the limit that is not a
 * comment. Returns its number, with *off its start and *nul set for a NUL
 * byte, or 0 for none. */
static int find_bad_line(const char *text, size_t len, size_t *off,
			 int *nul)
{
	const char *p = text, *end = text + len, *nl;
	size_t n;
	int lineno = 0;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		*nul = memchr(p, '\0', n) != NULL;
		if (*nul || (n > LINE_MAX_CHARS && !is_comment(p, n, lineno))) {
			*off = (size_t)(p - text);
			return lineno;
		}
		p += n + 1;
	}
	return 0;
}

/* inih stopped at line although the handler accepted everything: a line it
 * could not split. Which kind is only for the message. */
static void syntax_error(struct ctx *ctx, int line)
{
	const char *s = line_at(ctx, line);
	size_t n = (size_t)(ctx->end - s), i = first_char(s, n, line);

	if (i < n && s[i] == '[')
		fail(ctx, ZT_EINVAL, line,
		     "syntax error: section header without ']'");
	else
		fail(ctx, ZT_EINVAL, line,
		     "syntax error: expected [section] or key = value");
}

/* Runs inih over text[0..len), then reports the first bad line if inih found
 * nothing wrong before it. */
static void parse(struct ctx *ctx, const char *text, size_t len)
{
	size_t off = len;
	int bad, line, nul = 0;

	ctx->cur = text;
	ctx->end = text + len;
	ctx->cur_line = 1;
	bad = find_bad_line(text, len, &off, &nul);
	line = ini_parse_string_length(text, off, handler, ctx);
	if (ctx->rc)
		return;
	if (line > 0)
		syntax_error(ctx, line);
	else if (line < 0)
		fail(ctx, ZT_ENOMEM, 0, "out of memory");
	else if (bad && nul)
		fail(ctx, ZT_EINVAL, bad, "NUL byte in line");
	else if (bad)
		fail(ctx, ZT_EINVAL, bad, "line longer than %d characters",
		     LINE_MAX_CHARS);
}

/* Checks after parsing */

static int check_service(struct ctx *ctx, const struct zt_service *svc)
{
	if (!svc->hostname[0] && svc->n_cidrs == 0)
		return fail(ctx, ZT_EINVAL, 0,
			    "[service %s]: needs a hostname or at least one "
			    "cidr", svc->name);
	if (svc->n_ports == 0)
		return fail(ctx, ZT_EINVAL, 0,
			    "[service %s]: needs ports (e.g. ports = 443)",
			    svc->name);
	if (svc->n_allow == 0)
		return fail(ctx, ZT_EINVAL, 0,
			    "[service %s]: allow is empty; access is denied by "
			    "default, so no one could reach this service",
			    svc->name);
	return 0;
}

static int check_config(struct ctx *ctx)
{
	static const struct {
		const char *key;
		size_t off;
	} identity[] = {
		{ "ca", offsetof(struct zt_config, ca_file) },
		{ "cert", offsetof(struct zt_config, cert_file) },
		{ "key", offsetof(struct zt_config, key_file) },
	};
	struct zt_config *cfg = ctx->cfg;
	int rc;

	for (size_t i = 0; i < 3; i++)
		if (!((char *)cfg + identity[i].off)[0])
			return fail(ctx, ZT_EINVAL, 0,
				    "[identity] %s is required",
				    identity[i].key);
	if (cfg->role == ZT_ROLE_RELAY && !cfg->listen.family)
		return fail(ctx, ZT_EINVAL, 0,
			    "[quic] listen is required for the relay role");
	if (cfg->keepalive_ms >= cfg->idle_timeout_ms)
		return fail(ctx, ZT_EINVAL, 0,
			    "[quic] keepalive (%u s) must be less than "
			    "idle_timeout (%u s)", cfg->keepalive_ms / 1000,
			    cfg->idle_timeout_ms / 1000);
	if (cfg->role != ZT_ROLE_RELAY && cfg->n_relays == 0)
		return fail(ctx, ZT_EINVAL, 0,
			    "[relays]: at least one relay is required");
	for (size_t i = 0; i < cfg->n_services; i++) {
		rc = check_service(ctx, &cfg->services[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static void set_defaults(struct zt_config *cfg, int role)
{
	cfg->role = role;
	cfg->log_level = ZT_LOG_INFO;
	snprintf(cfg->control_socket, sizeof(cfg->control_socket),
		 "/run/ztnad/%s.sock", zt_role_name(role));
	if (role != ZT_ROLE_RELAY)
		cfg->listen.family = AF_INET; /* 0.0.0.0:0 */
	cfg->idle_timeout_ms = 30000;
	cfg->keepalive_ms = 10000;
	snprintf(cfg->tun_ifname, sizeof(cfg->tun_ifname), "ztun0");
	cfg->tun_mtu = 15040;
	cfg->require_retry = 1;
}

/* text[0..len) holds the config; dir is where relative paths start from
 * ("" = current directory). */
static int load(struct zt_config *cfg, int role, const char *name,
		const char *dir, const char *text, size_t len,
		struct zt_config_error *err)
{
	struct ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.err = err;
	ctx.name = name;
	ctx.svc = SIZE_MAX;
	if (role != ZT_ROLE_RELAY && role != ZT_ROLE_CONNECTOR &&
	    role != ZT_ROLE_AGENT)
		return fail(&ctx, ZT_EINVAL, 0, "unknown role %d", role);
	if (strlen(name) >= sizeof(cfg->path) ||
	    strlen(dir) >= sizeof(ctx.dir))
		return fail(&ctx, ZT_EINVAL, 0, "file name too long");
	strcpy(cfg->path, name);
	strcpy(ctx.dir, dir);
	set_defaults(cfg, role);

	/* inih's line buffer is only sure to hold every line up to this */
	if (len > MAX_FILE_SIZE)
		return fail(&ctx, ZT_EINVAL, 0, "larger than %d bytes",
			    MAX_FILE_SIZE);
	parse(&ctx, text, len);
	if (!ctx.rc)
		check_config(&ctx);
	if (ctx.rc)
		zt_config_free(cfg);
	return ctx.rc;
}

/* Reads all of file into *text (NUL-terminated) */
static int read_text(const char *file, char **text, size_t *len,
		     struct zt_config_error *err)
{
	char *buf = NULL, *p;
	size_t n = 0, cap = 0;
	ssize_t r;
	int fd, rc = 0;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err->msg, sizeof(err->msg), "%s: cannot open: %s",
			 file, strerror(errno));
		return ZT_EIO;
	}
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			p = realloc(buf, cap + 1);
			if (!p) {
				snprintf(err->msg, sizeof(err->msg),
					 "%s: out of memory", file);
				rc = ZT_ENOMEM;
				goto out;
			}
			buf = p;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err->msg, sizeof(err->msg),
				 "%s: cannot read: %s", file, strerror(errno));
			rc = ZT_EIO;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > MAX_FILE_SIZE) {
			snprintf(err->msg, sizeof(err->msg),
				 "%s: larger than %d bytes", file,
				 MAX_FILE_SIZE);
			rc = ZT_EINVAL;
			goto out;
		}
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int zt_config_load(struct zt_config *cfg, int role, const char *file,
		   struct zt_config_error *err)
{
	struct zt_config_error dummy;
	char dir[PATH_MAX];
	const char *slash;
	char *text = NULL;
	size_t len = 0, dlen;
	int rc;

	if (!err)
		err = &dummy;
	memset(cfg, 0, sizeof(*cfg));
	err->msg[0] = '\0';
	if (!file) {
		snprintf(err->msg, sizeof(err->msg), "no config file given");
		return ZT_EINVAL;
	}
	rc = read_text(file, &text, &len, err);
	if (rc)
		goto out;
	slash = strrchr(file, '/');
	dlen = slash ? (size_t)(slash - file) : 0;
	if (slash && dlen == 0)
		dlen = 1; /* "/x.ini": the root */
	if (dlen >= sizeof(dir))
		dlen = sizeof(dir) - 1; /* load() rejects the name anyway */
	memcpy(dir, file, dlen);
	dir[dlen] = '\0';
	rc = load(cfg, role, file, dir, text, len, err);
out:
	free(text);
	return rc;
}

int zt_config_load_string(struct zt_config *cfg, int role, const char *name,
			  const char *text, struct zt_config_error *err)
{
	struct zt_config_error dummy;

	if (!err)
		err = &dummy;
	memset(cfg, 0, sizeof(*cfg));
	err->msg[0] = '\0';
	if (!name)
		name = "<string>";
	if (!text) {
		snprintf(err->msg, sizeof(err->msg), "%s: no text", name);
		return ZT_EINVAL;
	}
	return load(cfg, role, name, "", text, strlen(text), err);
}

void zt_config_free(struct zt_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->services);
	cfg->services = NULL;
	cfg->n_services = 0;
}
