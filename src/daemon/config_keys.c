/* Config loader: the keys of [identity], [daemon], [quic], [relays], [tun]
 * and [dns], and the table of sections and their keys ([service NAME] has
 * its own file, config_service.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_int.h"
#include "err.h"
#include "log.h"

#define SUN_PATH_LEN sizeof(((struct sockaddr_un *)0)->sun_path)

/* [identity] and [daemon] */

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

/* Makes ctx->dir absolute, once; "" stands for the current directory. */
static int absolute_dir(struct cfg_ctx *ctx)
{
	char cwd[PATH_MAX], rel[PATH_MAX];
	int len;

	if (ctx->dir[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return cfg_fail(ctx, ZT_EIO, ctx->lineno,
				"[%s] %s: cannot resolve a relative path: "
				"getcwd: %s",
				ctx->sect_name, ctx->key, strerror(errno));
	memcpy(rel, ctx->dir, sizeof(rel));
	len = snprintf(ctx->dir, sizeof(ctx->dir), "%s%s%s", cwd,
		       rel[0] && strcmp(cwd, "/") ? "/" : "", rel);
	if (len < 0 || (size_t)len >= sizeof(ctx->dir))
		return cfg_fail(ctx, ZT_EINVAL, ctx->lineno,
				"[%s] %s: the config directory path is too "
				"long", ctx->sect_name, ctx->key);
	return 0;
}

/* Relative paths are taken against the config file's directory so that a
 * config and its certificates move together; the result is absolute, so it
 * does not depend on the daemon's working directory later. */
static int resolve_path(struct cfg_ctx *ctx, const char *v, char *out)
{
	size_t n = strlen(v);
	int len, rc;

	if (n == 0)
		return cfg_bad_value(ctx, v, n, "a path");
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
		return cfg_bad_value(ctx, v, n, "a path shorter than %d bytes",
				     PATH_MAX);
	return 0;
}

static int set_path(struct cfg_ctx *ctx, const struct key_def *k, const char *v)
{
	return resolve_path(ctx, v, (char *)ctx->cfg + k->off);
}

static int set_socket(struct cfg_ctx *ctx, const struct key_def *k,
		      const char *v)
{
	char *path = (char *)ctx->cfg + k->off;
	int rc = resolve_path(ctx, v, path);

	if (rc == 0 && strlen(path) >= SUN_PATH_LEN)
		rc = cfg_bad_value(ctx, v, strlen(v),
				   "a socket path of at most %zu bytes after "
				   "resolution (it has %zu)",
				   SUN_PATH_LEN - 1, strlen(path));
	return rc;
}

/* A POSIX portable user name: looked up (getpwnam) when privileges drop. */
static int set_user(struct cfg_ctx *ctx, const struct key_def *k, const char *v)
{
	size_t n = strlen(v);

	if (!unix_user_ok(v, n))
		return cfg_bad_value(ctx, v, n,
				     "a user name (letters, digits, . _ -)");
	memcpy(ctx->cfg->user, v, n + 1);
	return 0;
}

static int set_log_level(struct cfg_ctx *ctx, const struct key_def *k,
			 const char *v)
{
	int level = zt_log_level_parse(v);

	if (level < 0)
		return cfg_bad_value(ctx, v, strlen(v),
				     "error, warn, info or debug");
	ctx->cfg->log_level = level;
	return 0;
}

/* [quic] */

static int parse_listen(struct cfg_ctx *ctx, struct zt_addr *a,
			unsigned long min, const char *v)
{
	struct hostport hp;
	size_t n = strlen(v);

	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	if (cfg_split_hostport(v, n, &hp) || !hp.port)
		goto bad;
	if (hp.bracketed)
		a->family = AF_INET6;
	if (cfg_parse_ip(hp.host, hp.host_len, a->family, a->ip))
		goto bad;
	if (cfg_parse_port(hp.port, hp.port_len, min, &a->port))
		return cfg_bad_value(ctx, v, n, "a port between %lu and 65535",
				     min);
	return 0;
bad:
	return cfg_bad_value(ctx, v, n,
			     "an IP address and port: a.b.c.d:port or "
			     "[IPv6]:port");
}

static int set_listen(struct cfg_ctx *ctx, const struct key_def *k,
		      const char *v)
{
	return parse_listen(ctx, &ctx->cfg->listen,
			    ctx->cfg->role == ZT_ROLE_RELAY ? 1 : 0, v);
}

/* Relay: TLS over TCP for peers whose UDP is blocked; "off", or where. */
static int set_tcp_listen(struct cfg_ctx *ctx, const struct key_def *k,
			  const char *v)
{
	ctx->cfg->tcp_listen_set = 1;
	if (strcmp(v, "off") == 0) {
		memset(&ctx->cfg->tcp_listen, 0, sizeof(ctx->cfg->tcp_listen));
		return 0;
	}
	return parse_listen(ctx, &ctx->cfg->tcp_listen, 1, v);
}

/* Agent, connector: the relays' TCP port, tried when UDP gets no answer. */
static int set_tcp_fallback(struct cfg_ctx *ctx, const struct key_def *k,
			    const char *v)
{
	size_t n = strlen(v);

	if (strcmp(v, "off") == 0) {
		ctx->cfg->tcp_port = 0;
		return 0;
	}
	if (cfg_parse_port(v, n, 1, &ctx->cfg->tcp_port))
		return cfg_bad_value(ctx, v, n,
				     "a port between 1 and 65535, or off");
	return 0;
}

static int set_seconds(struct cfg_ctx *ctx, uint32_t *ms, const char *v,
		       unsigned long max)
{
	unsigned long s;

	if (cfg_parse_uint(v, strlen(v), max, &s) || s < 1)
		return cfg_bad_value(ctx, v, strlen(v),
				     "seconds between 1 and %lu", max);
	*ms = (uint32_t)s * 1000;
	return 0;
}

static int set_idle(struct cfg_ctx *ctx, const struct key_def *k, const char *v)
{
	return set_seconds(ctx, &ctx->cfg->idle_timeout_ms, v, 600);
}

static int set_keepalive(struct cfg_ctx *ctx, const struct key_def *k,
			 const char *v)
{
	return set_seconds(ctx, &ctx->cfg->keepalive_ms, v, 300);
}

static int set_retry(struct cfg_ctx *ctx, const struct key_def *k,
		     const char *v)
{
	return cfg_set_bool(ctx, &ctx->cfg->require_retry, v);
}

/* [relays] */

static int set_relay(struct cfg_ctx *ctx, const struct key_def *k,
		     const char *v)
{
	struct zt_config *cfg = ctx->cfg;
	struct zt_relay_endpoint *r;
	struct hostport hp;
	size_t n = strlen(v);

	if (cfg->n_relays == ZT_MAX_RELAYS)
		return cfg_bad_value(ctx, v, n, "at most %d relays",
				     ZT_MAX_RELAYS);
	r = &cfg->relays[cfg->n_relays];
	if (cfg_split_hostport(v, n, &hp) || !hp.port || !cfg_host_ok(&hp) ||
	    hp.host_len > ZT_HOST_MAX)
		return cfg_bad_value(ctx, v, n,
				     "host:port with a DNS name, an IPv4 "
				     "address or an [IPv6] address");
	if (cfg_parse_port(hp.port, hp.port_len, 1, &r->port))
		return cfg_bad_value(ctx, v, n, "a port between 1 and 65535");
	/* Lower case: the name is compared with the certificate's. */
	cfg_copy_lower(r->host, hp.host, hp.host_len);
	cfg->n_relays++;
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
	{ "tcp_listen", R_RELAY, 0, set_tcp_listen, 0 },
	{ "tcp_fallback", R_CONN | R_AGENT, 0, set_tcp_fallback, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

static const struct key_def relays_keys[] = {
	{ "relay", R_CONN | R_AGENT, 1, set_relay, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

/* [tun] (agent): where packets come from. */
static int set_ifname(struct cfg_ctx *ctx, const struct key_def *k,
		      const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= sizeof(ctx->cfg->tun_ifname) ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_-.") != n)
		return cfg_bad_value(ctx, v, n,
				     "an interface name of 1 to 15 characters "
				     "of A-Z a-z 0-9 _ - .");
	memcpy(ctx->cfg->tun_ifname, v, n + 1);
	return 0;
}

static int set_mtu(struct cfg_ctx *ctx, const struct key_def *k, const char *v)
{
	unsigned long m;

	/* lwIP's MSS is 15000: an MTU up to 15040 lets kernel TCP use it. */
	if (cfg_parse_uint(v, strlen(v), 65535, &m) || m < 1280)
		return cfg_bad_value(ctx, v, strlen(v),
				     "an MTU between 1280 and 65535");
	ctx->cfg->tun_mtu = (uint32_t)m;
	return 0;
}

static int set_fail_open(struct cfg_ctx *ctx, const struct key_def *k,
			 const char *v)
{
	return cfg_set_bool(ctx, &ctx->cfg->tun_fail_open, v);
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
static int set_forward(struct cfg_ctx *ctx, const struct key_def *k,
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
	if (cfg_split_hostport(v, n, &hp) ||
	    (hp.port && cfg_parse_port(hp.port, hp.port_len, 1, &a->port)))
		goto bad;
	if (hp.bracketed)
		a->family = AF_INET6;
	if (cfg_parse_ip(hp.host, hp.host_len, a->family, a->ip) == 0)
		return 0;
bad:
	return cfg_bad_value(ctx, v, n,
			     "refuse, system, or a resolver address "
			     "(a.b.c.d[:port] or [IPv6][:port])");
}

static const struct key_def dns_keys[] = {
	{ "forward", R_AGENT, 0, set_forward, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

/* [nat] (connector, agent): a port mapping on the gateway. */
static int set_portmap(struct cfg_ctx *ctx, const struct key_def *k,
		       const char *v)
{
	if (strcmp(v, "auto") == 0)
		ctx->cfg->portmap = ZT_PORTMAP_AUTO;
	else if (strcmp(v, "off") == 0)
		ctx->cfg->portmap = ZT_PORTMAP_OFF;
	else
		return cfg_bad_value(ctx, v, strlen(v), "auto or off");
	return 0;
}

static const struct key_def nat_keys[] = {
	{ "portmap", R_CONN | R_AGENT, 0, set_portmap, 0 },
	{ NULL, 0, 0, NULL, 0 },
};

const struct cfg_section cfg_sections[S_COUNT] = {
	[S_IDENTITY] = { "identity", identity_keys },
	[S_DAEMON] = { "daemon", daemon_keys },
	[S_QUIC] = { "quic", quic_keys },
	[S_RELAYS] = { "relays", relays_keys },
	[S_TUN] = { "tun", tun_keys },
	[S_DNS] = { "dns", dns_keys },
	[S_NAT] = { "nat", nat_keys },
	[S_SERVICE] = { "service", cfg_service_keys },
};
