/* Internal to the config loader: the parse context and key tables shared by
 * config.c (file reading, inih, section and key dispatch, cross-checks),
 * config_value.c (error messages and the small value parsers),
 * config_keys.c (the keys of [identity] [daemon] [quic] [relays] [tun]
 * [dns], and the section table) and config_service.c ([service NAME]). */
#ifndef ZT_CONFIG_INT_H
#define ZT_CONFIG_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define R_RELAY (1u << ZT_ROLE_RELAY)
#define R_CONN (1u << ZT_ROLE_CONNECTOR)
#define R_AGENT (1u << ZT_ROLE_AGENT)
#define R_ALL (R_RELAY | R_CONN | R_AGENT)

enum sect {
	S_NONE, S_IDENTITY, S_DAEMON, S_QUIC, S_RELAYS, S_TUN, S_DNS, S_NAT,
	S_SERVICE,
	S_COUNT
};

struct cfg_ctx {
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
	int (*parse)(struct cfg_ctx *ctx, const struct key_def *k,
		     const char *v);
	size_t off; /* field in struct zt_config, for the path keys */
};

/* A section's name and its keys, ending with a NULL name. */
struct cfg_section {
	const char *name;
	const struct key_def *keys;
};

/* Indexed by enum sect; [S_NONE] is empty (keys outside any section). */
extern const struct cfg_section cfg_sections[S_COUNT];
extern const struct key_def cfg_service_keys[];

/* Errors (config_value.c). Only the first is recorded, and it is what
 * these return, so a caller can return what it gets. */
__attribute__((format(printf, 4, 5)))
int cfg_fail(struct cfg_ctx *ctx, int rc, int line, const char *fmt, ...);
/* "[section] key = 'value': expected <what>", value being v[0..n). */
__attribute__((format(printf, 4, 5)))
int cfg_bad_value(struct cfg_ctx *ctx, const char *v, size_t n,
		  const char *fmt, ...);
/* For "%.*s%s": a value cut to SHOW_MAX (80) bytes, then "..." if cut. */
int cfg_show_len(size_t n);
const char *cfg_show_more(size_t n);

/* Small parsers on byte ranges, returning 0 or -1 (config_value.c) */
void cfg_trim(const char **s, size_t *n);
int cfg_parse_uint(const char *s, size_t n, unsigned long max,
		   unsigned long *out);
int cfg_parse_port(const char *s, size_t n, unsigned long min, uint16_t *port);
int cfg_parse_ip(const char *s, size_t n, int family, uint8_t *ip);

struct hostport {
	const char *host; /* without brackets */
	size_t host_len;
	int bracketed;
	const char *port; /* NULL: no port given */
	size_t port_len;
};

/* "host", "host:port", "[v6]" or "[v6]:port"; 0 or -1. */
int cfg_split_hostport(const char *s, size_t n, struct hostport *hp);
/* 1 for a DNS name, an IPv4 literal or a bracketed IPv6 literal, else 0. */
int cfg_host_ok(const struct hostport *hp);
void cfg_copy_lower(char *dst, const char *s, size_t n);
/* Calls fn on each item of a comma-separated list; the first error stops. */
int cfg_for_each_item(struct cfg_ctx *ctx, const char *v,
		      int (*fn)(struct cfg_ctx *, const char *, size_t),
		      const char *what);
int cfg_set_bool(struct cfg_ctx *ctx, int *out, const char *v);

/* [service NAME] (config_service.c) */
/* s[0..n) is NAME; makes it the current service (connector only). */
int cfg_begin_service(struct cfg_ctx *ctx, const char *s, size_t n);
/* After parsing: what a service needs to be usable. */
int cfg_check_service(struct cfg_ctx *ctx, const struct zt_service *svc);

#endif
