/* A growable string buffer for status output and JSON. */
#ifndef ZT_BUF_H
#define ZT_BUF_H

#include <stddef.h>

struct zt_sb {
	char *s;
	size_t len, cap;
	int oom; /* an append failed; s holds what fitted */
};

void zt_sb_init(struct zt_sb *b);
void zt_sb_free(struct zt_sb *b);
void zt_sb_printf(struct zt_sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s as a quoted JSON string. */
void zt_sb_json_str(struct zt_sb *b, const char *s);

#endif
