/* Config loader (docs/CONFIG.md). inih splits lines into sections and
 * key = value pairs; everything else is done here.
 *
 * inih is compiled from its pinned source with ztnad's options (CMakeLists.txt,
 * zt_inih): the handler gets line numbers and section headers, it stops at the
 * first error, and its line buffer grows to the file size limit so that no
 * line is ever cut. Before inih runs, one pass over the text finds the first
 * line with a NUL byte or over the length limit; inih only sees the lines
 * before it, so errors are still reported in file order.
 *
 * This file reads the file, runs inih, dispatches sections and keys and makes
 * the cross-field checks; the key setters are in config_keys.c and
 * config_service.c, the value parsers in config_value.c (config_int.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config_int.h"
#include "err.h"
#include "log.h"

#define MAX_FILE_SIZE (1024 * 1024)
/* Longest line other than a comment, without its '\n' (a '\r' counts). Kept
 * from the days of the system inih's 200-byte buffer so that configs valid
 * then are valid now, and the other way round. */
#define LINE_MAX_CHARS 198

/* What the loader relies on from inih's build options (CMakeLists.txt) */
_Static_assert(INI_HANDLER_LINENO && INI_CALL_HANDLER_ON_NEW_SECTION &&
	       INI_STOP_ON_FIRST_ERROR, "inih built without ztnad's options");
_Static_assert(INI_MAX_LINE >= MAX_FILE_SIZE + 3 && !INI_USE_STACK,
	       "inih's line buffer must hold any line of a legal file");
_Static_assert(INI_MAX_SECTION > LINE_MAX_CHARS,
	       "inih must not cut the section name of a legal header line");

/* Sections and keys (the tables: config_keys.c) */

/* s[0..n) is what is between the brackets. */
static int begin_section(struct cfg_ctx *ctx, const char *s, size_t n)
{
	cfg_trim(&s, &n);
	for (int i = S_IDENTITY; i < S_SERVICE; i++) {
		if (strlen(cfg_sections[i].name) == n &&
		    memcmp(cfg_sections[i].name, s, n) == 0) {
			ctx->sect = (enum sect)i;
			snprintf(ctx->sect_name, sizeof(ctx->sect_name), "%s",
				 cfg_sections[i].name);
			return 0;
		}
	}
	if (n >= 7 && memcmp(s, "service", 7) == 0 &&
	    (n == 7 || isspace((unsigned char)s[7]))) {
		ctx->sect = S_SERVICE;
		s += 7;
		n -= 7;
		cfg_trim(&s, &n);
		return cfg_begin_service(ctx, s, n);
	}
	return cfg_fail(ctx, ZT_EUNKNOWN, ctx->lineno,
			"unknown section [%.*s%s]", cfg_show_len(n), s,
			cfg_show_more(n));
}

static const struct key_def *find_key(enum sect sect, const char *name,
				      unsigned *bit)
{
	const struct key_def *k = cfg_sections[sect].keys;

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
static const char *line_at(struct cfg_ctx *ctx, int lineno)
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
static int is_continuation(struct cfg_ctx *ctx)
{
	const char *s = line_at(ctx, ctx->lineno);

	return ctx->prev_key && s < ctx->end && isspace((unsigned char)*s);
}

static int key_handler(struct cfg_ctx *ctx, const char *name, const char *value)
{
	const struct key_def *k;
	size_t n = strlen(name);
	unsigned bit;
	int line = ctx->lineno;
	int cont = is_continuation(ctx);

	ctx->prev_key = 1;
	ctx->key = name;
	if (ctx->sect == S_NONE) {
		cfg_fail(ctx, ZT_EUNKNOWN, line,
			 "unknown key '%.*s%s' outside of any section",
			 cfg_show_len(n), name, cfg_show_more(n));
		return 0;
	}
	k = find_key(ctx->sect, name, &bit);
	if (!k) {
		cfg_fail(ctx, ZT_EUNKNOWN, line, "unknown key '%.*s%s' in [%s]",
			 cfg_show_len(n), name, cfg_show_more(n),
			 ctx->sect_name);
		return 0;
	}
	if (!(k->roles & (1u << ctx->cfg->role))) {
		cfg_fail(ctx, ZT_EINVAL, line,
			 "[%s] %s: not used by the %s role", ctx->sect_name,
			 name, zt_role_name(ctx->cfg->role));
		return 0;
	}
	if (!k->list && cont) {
		/* never what was meant for a single value */
		cfg_fail(ctx, ZT_EINVAL, line,
			 "[%s] %s: indented line read as a continuation of "
			 "'%s', which takes one value; remove the indentation",
			 ctx->sect_name, name, name);
		return 0;
	}
	if (!k->list && (ctx->seen[ctx->sect] & bit)) {
		cfg_fail(ctx, ZT_EINVAL, line, "[%s] %s: set more than once",
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
	struct cfg_ctx *ctx = user;

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
static void syntax_error(struct cfg_ctx *ctx, int line)
{
	const char *s = line_at(ctx, line);
	size_t n = (size_t)(ctx->end - s), i = first_char(s, n, line);

	if (i < n && s[i] == '[')
		cfg_fail(ctx, ZT_EINVAL, line,
			 "syntax error: section header without ']'");
	else
		cfg_fail(ctx, ZT_EINVAL, line,
			 "syntax error: expected [section] or key = value");
}

/* Runs inih over text[0..len), then reports the first bad line if inih found
 * nothing wrong before it. */
static void parse(struct cfg_ctx *ctx, const char *text, size_t len)
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
		cfg_fail(ctx, ZT_ENOMEM, 0, "out of memory");
	else if (bad && nul)
		cfg_fail(ctx, ZT_EINVAL, bad, "NUL byte in line");
	else if (bad)
		cfg_fail(ctx, ZT_EINVAL, bad, "line longer than %d characters",
			 LINE_MAX_CHARS);
}

/* Checks after parsing */

static int check_config(struct cfg_ctx *ctx)
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
			return cfg_fail(ctx, ZT_EINVAL, 0,
					"[identity] %s is required",
					identity[i].key);
	if (cfg->role == ZT_ROLE_RELAY && !cfg->listen.family)
		return cfg_fail(ctx, ZT_EINVAL, 0,
				"[quic] listen is required for the relay role");
	if (cfg->role == ZT_ROLE_RELAY && !cfg->tcp_listen_set) {
		cfg->tcp_listen = cfg->listen;
		cfg->tcp_listen.port = 443;
	}
	if (cfg->keepalive_ms >= cfg->idle_timeout_ms)
		return cfg_fail(ctx, ZT_EINVAL, 0,
				"[quic] keepalive (%u s) must be less than "
				"idle_timeout (%u s)",
				cfg->keepalive_ms / 1000,
				cfg->idle_timeout_ms / 1000);
	if (cfg->role != ZT_ROLE_RELAY && cfg->n_relays == 0)
		return cfg_fail(ctx, ZT_EINVAL, 0,
				"[relays]: at least one relay is required");
	for (size_t i = 0; i < cfg->n_services; i++) {
		rc = cfg_check_service(ctx, &cfg->services[i]);
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
	if (role != ZT_ROLE_RELAY) {
		cfg->listen.family = AF_INET; /* 0.0.0.0:0 */
		cfg->portmap = ZT_PORTMAP_AUTO;
	}
	cfg->idle_timeout_ms = 30000;
	cfg->keepalive_ms = 10000;
	snprintf(cfg->tun_ifname, sizeof(cfg->tun_ifname), "ztun0");
	cfg->tun_mtu = 15040;
	cfg->require_retry = 1;
	cfg->tcp_port = 443;
}

/* text[0..len) holds the config; dir is where relative paths start from
 * ("" = current directory). */
static int load(struct zt_config *cfg, int role, const char *name,
		const char *dir, const char *text, size_t len,
		struct zt_config_error *err)
{
	struct cfg_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.err = err;
	ctx.name = name;
	ctx.svc = SIZE_MAX;
	if (role != ZT_ROLE_RELAY && role != ZT_ROLE_CONNECTOR &&
	    role != ZT_ROLE_AGENT)
		return cfg_fail(&ctx, ZT_EINVAL, 0, "unknown role %d", role);
	if (strlen(name) >= sizeof(cfg->path) ||
	    strlen(dir) >= sizeof(ctx.dir))
		return cfg_fail(&ctx, ZT_EINVAL, 0, "file name too long");
	strcpy(cfg->path, name);
	strcpy(ctx.dir, dir);
	set_defaults(cfg, role);

	/* inih's line buffer is only sure to hold every line up to this */
	if (len > MAX_FILE_SIZE)
		return cfg_fail(&ctx, ZT_EINVAL, 0, "larger than %d bytes",
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

