/* Config loader: [service NAME] (connector): the section header, its keys
 * (hostname, cidr, ports, protocol, icmp, allow, target) and the check, once
 * the file is read, that a service has what it needs. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config_int.h"
#include "err.h"
#include "grant.h"

/* [service NAME] */

static struct zt_service *cur_svc(struct cfg_ctx *ctx)
{
	return &ctx->cfg->services[ctx->svc];
}

static int set_hostname(struct cfg_ctx *ctx, const struct key_def *k,
			const char *v)
{
	size_t n = strlen(v);

	if (!zt_dns_name_ok(v, n))
		return cfg_bad_value(ctx, v, n,
				     "a DNS name (IP addresses go in cidr)");
	cfg_copy_lower(cur_svc(ctx)->hostname, v, n);
	return 0;
}

static int cidr_item(struct cfg_ctx *ctx, const char *s, size_t n)
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
	if (cfg_parse_ip(s, alen, c.family, c.addr))
		goto bad;
	if (cfg_parse_uint(slash + 1, n - alen - 1, bits, &prefix))
		return cfg_bad_value(ctx, s, n,
				     "a prefix length between 0 and %lu", bits);
	c.prefix = (uint8_t)prefix;
	if (zt_cidr_mask_host_bits(&c)) {
		inet_ntop(c.family, c.addr, net, sizeof(net));
		return cfg_bad_value(ctx, s, n,
				     "the host bits to be zero (%s/%lu)", net,
				     prefix);
	}
	if (svc->n_cidrs == ZT_MAX_CIDRS)
		return cfg_bad_value(ctx, s, n, "at most %d cidrs per service",
				     ZT_MAX_CIDRS);
	svc->cidrs[svc->n_cidrs++] = c;
	return 0;
bad:
	return cfg_bad_value(ctx, s, n,
			     "address/prefix, e.g. 10.1.0.0/16 or fd00::/64");
}

static int set_cidr(struct cfg_ctx *ctx, const struct key_def *k, const char *v)
{
	return cfg_for_each_item(ctx, v, cidr_item,
				 "a comma-separated list of address/prefix");
}

static int port_item(struct cfg_ctx *ctx, const char *s, size_t n)
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
		cfg_trim(&lo, &lo_len);
		cfg_trim(&hi, &hi_len);
	}
	if (cfg_parse_port(lo, lo_len, 1, &r.lo) ||
	    cfg_parse_port(hi, hi_len, 1, &r.hi) || r.lo > r.hi)
		return cfg_bad_value(ctx, s, n,
				     "ports as N or N-M, 1 <= N <= M <= 65535");
	if (svc->n_ports == ZT_MAX_PORTS)
		return cfg_bad_value(ctx, s, n,
				     "at most %d port ranges per service",
				     ZT_MAX_PORTS);
	svc->ports[svc->n_ports++] = r;
	return 0;
}

static int set_ports(struct cfg_ctx *ctx, const struct key_def *k,
		     const char *v)
{
	return cfg_for_each_item(ctx, v, port_item,
				 "a comma-separated list of ports or ranges");
}

static int set_protocol(struct cfg_ctx *ctx, const struct key_def *k,
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
		return cfg_bad_value(ctx, v, strlen(v), "tcp, udp or any");
	return 0;
}

static int set_icmp(struct cfg_ctx *ctx, const struct key_def *k, const char *v)
{
	int on = 0;
	int rc = cfg_set_bool(ctx, &on, v);

	cur_svc(ctx)->icmp = (uint8_t)on;
	return rc;
}

static int allow_item(struct cfg_ctx *ctx, const char *s, size_t n)
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
		return cfg_bad_value(ctx, s, n,
				     "at most %d allow entries per service",
				     ZT_MAX_ALLOW);
	p = &svc->allow[svc->n_allow++];
	p->kind = kind;
	memcpy(p->name, s + skip, n - skip);
	p->name[n - skip] = '\0';
	return 0;
bad:
	return cfg_bad_value(ctx, s, n,
			     "user:NAME or group:NAME, NAME being 1 to %d "
			     "characters of A-Z a-z 0-9 . _ @ -",
			     ZT_NAME_MAX - 1);
}

static int set_allow(struct cfg_ctx *ctx, const struct key_def *k,
		     const char *v)
{
	return cfg_for_each_item(ctx, v, allow_item,
				 "a comma-separated list of user:NAME or "
				 "group:NAME");
}

static int set_target(struct cfg_ctx *ctx, const struct key_def *k,
		      const char *v)
{
	struct hostport hp;
	size_t n = strlen(v);
	uint16_t port;

	if (n > ZT_HOST_MAX || cfg_split_hostport(v, n, &hp) ||
	    !cfg_host_ok(&hp))
		return cfg_bad_value(ctx, v, n,
				     "host or host:port with a DNS name, an "
				     "IPv4 address or an [IPv6] address");
	if (hp.port && cfg_parse_port(hp.port, hp.port_len, 1, &port))
		return cfg_bad_value(ctx, v, n, "a port between 1 and 65535");
	memcpy(cur_svc(ctx)->target, v, n + 1);
	return 0;
}

const struct key_def cfg_service_keys[] = {
	{ "hostname", R_CONN, 0, set_hostname, 0 },
	{ "cidr", R_CONN, 1, set_cidr, 0 },
	{ "ports", R_CONN, 1, set_ports, 0 },
	{ "protocol", R_CONN, 0, set_protocol, 0 },
	{ "icmp", R_CONN, 0, set_icmp, 0 },
	{ "allow", R_CONN, 1, set_allow, 0 },
	{ "target", R_CONN, 0, set_target, 0 },
	{ NULL, 0, 0, NULL, 0 },
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
int cfg_begin_service(struct cfg_ctx *ctx, const char *s, size_t n)
{
	struct zt_config *cfg = ctx->cfg;
	struct zt_service *svc;
	size_t cap;

	if (!service_name_ok(s, n))
		return cfg_fail(ctx, ZT_EINVAL, ctx->lineno,
				"[service %.*s%s]: expected [service NAME], "
				"NAME being 1 to %d characters of A-Z a-z 0-9 "
				". _ -", cfg_show_len(n), s, cfg_show_more(n),
				ZT_NAME_MAX - 1);
	snprintf(ctx->sect_name, sizeof(ctx->sect_name), "service %.*s",
		 (int)n, s);
	ctx->seen[S_SERVICE] = 0;
	ctx->svc = SIZE_MAX;
	if (cfg->role != ZT_ROLE_CONNECTOR)
		return 0;
	for (size_t i = 0; i < cfg->n_services; i++)
		if (strlen(cfg->services[i].name) == n &&
		    memcmp(cfg->services[i].name, s, n) == 0)
			return cfg_fail(ctx, ZT_EINVAL, ctx->lineno,
					"[%s]: duplicate service name",
					ctx->sect_name);
	if (cfg->n_services == ZT_MAX_SERVICES)
		return cfg_fail(ctx, ZT_EINVAL, ctx->lineno,
				"[%s]: more than %d services", ctx->sect_name,
				ZT_MAX_SERVICES);
	if (cfg->n_services == ctx->svc_cap) {
		cap = ctx->svc_cap ? ctx->svc_cap * 2 : 8;
		if (cap > ZT_MAX_SERVICES)
			cap = ZT_MAX_SERVICES;
		svc = realloc(cfg->services, cap * sizeof(*svc));
		if (!svc)
			return cfg_fail(ctx, ZT_ENOMEM, ctx->lineno,
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

int cfg_check_service(struct cfg_ctx *ctx, const struct zt_service *svc)
{
	if (!svc->hostname[0] && svc->n_cidrs == 0)
		return cfg_fail(ctx, ZT_EINVAL, 0,
				"[service %s]: needs a hostname or at least "
				"one cidr", svc->name);
	if (svc->n_ports == 0)
		return cfg_fail(ctx, ZT_EINVAL, 0,
				"[service %s]: needs ports (e.g. ports = 443)",
				svc->name);
	if (svc->n_allow == 0)
		return cfg_fail(ctx, ZT_EINVAL, 0,
				"[service %s]: allow is empty; access is "
				"denied by default, so no one could reach "
				"this service", svc->name);
	return 0;
}
