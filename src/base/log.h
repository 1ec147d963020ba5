/* Logging: one line per event on stderr, with a timestamp and level. The
 * threshold is the only state and is set once at start-up or on reload by the
 * loop thread. */
#ifndef ZT_LOG_H
#define ZT_LOG_H

#include <stddef.h>

enum zt_log_level { ZT_LOG_ERROR = 0, ZT_LOG_WARN, ZT_LOG_INFO, ZT_LOG_DEBUG };

extern int zt_log_threshold;

void zt_log_set_level(int level);
/* Returns the level for a name ("error", "warn", "info", "debug") or -1. */
int zt_log_level_parse(const char *name);
const char *zt_log_level_name(int level);
/* Copies text a peer sent (ERROR messages) for a log line or status:
 * printable ASCII stays, a backslash becomes "\\" and any other byte
 * "\xNN", so a peer cannot forge log lines or terminal escapes. Truncates
 * to fit; returns dst. */
char *zt_log_escape(char *dst, size_t cap, const char *src);
void zt_log_write(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define zt_log(level, ...) \
	do { \
		if ((level) <= zt_log_threshold) \
			zt_log_write((level), __VA_ARGS__); \
	} while (0)
#define log_error(...) zt_log(ZT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) zt_log(ZT_LOG_WARN, __VA_ARGS__)
#define log_info(...) zt_log(ZT_LOG_INFO, __VA_ARGS__)
#define log_debug(...) zt_log(ZT_LOG_DEBUG, __VA_ARGS__)

#endif
