#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* The only process-wide setting besides the loop: written by the loop thread
 * at start-up and reload, read everywhere. */
int zt_log_threshold = ZT_LOG_INFO;

static const char *const names[] = { "error", "warn", "info", "debug" };

char *zt_log_escape(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return dst;
	for (; *src; src++) {
		unsigned char c = (unsigned char)*src;
		size_t need = c == '\\' ? 2 : (c < 0x20 || c > 0x7e) ? 4 : 1;

		if (o + need >= cap)
			break;
		if (need == 1) {
			dst[o++] = (char)c;
		} else if (need == 2) {
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = 0;
	return dst;
}

void zt_log_set_level(int level)
{
	if (level >= ZT_LOG_ERROR && level <= ZT_LOG_DEBUG)
		zt_log_threshold = level;
}

int zt_log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *zt_log_level_name(int level)
{
	if (level < 0 || level > 3)
		return "?";
	return names[level];
}

void zt_log_write(int level, const char *fmt, ...)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	size_t n;
	va_list ap;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ %-5s ",
			      (int)(tv.tv_usec / 1000), zt_log_level_name(level));
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from several processes sharing a
	 * terminal or file do not interleave. */
	n = strlen(line);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}
