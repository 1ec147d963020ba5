#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void zt_sb_init(struct zt_sb *b)
{
	memset(b, 0, sizeof(*b));
}

void zt_sb_free(struct zt_sb *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static int sb_reserve(struct zt_sb *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 256;
	char *n;

	if (b->len + extra + 1 <= b->cap)
		return 0;
	while (cap < b->len + extra + 1)
		cap *= 2;
	n = realloc(b->s, cap);
	if (!n) {
		b->oom = 1;
		return -1;
	}
	b->s = n;
	b->cap = cap;
	return 0;
}

void zt_sb_printf(struct zt_sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sb_reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void zt_sb_json_str(struct zt_sb *b, const char *s)
{
	zt_sb_printf(b, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			zt_sb_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			zt_sb_printf(b, "\\u%04x", ch);
		else
			zt_sb_printf(b, "%c", ch);
	}
	zt_sb_printf(b, "\"");
}
