/* Internal to the control codec: the attribute numbers, byte order, the
 * growing writer and the reading cursor shared by ctrl_attr.c (TLVs, field
 * validation, the attribute encoders and decoders) and ctrl.c (the frame
 * header and the messages built from those attributes). */
#ifndef ZT_CTRL_INT_H
#define ZT_CTRL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl.h"

/* One number space for all messages so that a number never changes meaning;
 * each message (or nested attribute) lists the subset it accepts. */
enum {
	A_SOFTWARE = 1,
	A_ADDR = 2,
	A_SERVICE = 3,
	A_NAME = 4,
	A_HOSTNAME = 5,
	A_CIDR = 6,
	A_PORTS = 7,
	A_PROTO = 8,
	A_ALLOW = 9,
	A_ENTRY = 10,
	A_CONNECTOR = 11,
	A_CODE = 12,
	A_TEXT = 13,
	A_ICMP = 14, /* flag, empty value */
	/* version 2 */
	A_REQ = 15,     /* u32, not 0 */
	A_SESSION = 16, /* u32, 1..2^30-1 */
	A_KEY = 17,     /* 32 bytes */
	A_MTU = 18,     /* u16, at least 1200 */
	/* version 3 */
	A_NAT = 19, /* u8, enum zt_nat_kind, not 0 */
};

#define BIT(t) (UINT32_C(1) << (t))

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A frame being written: bytes and room, grown as needed up to the frame
 * limit. */
struct wr {
	uint8_t *buf;
	size_t len, cap;
	int err; /* sticky: the first failure wins, later writes do nothing */
};

/* A view of bytes still to parse: p[off..len). */
struct cur {
	const uint8_t *p;
	size_t len, off;
};

static inline size_t cur_left(const struct cur *c)
{
	return c->len - c->off;
}

/* Field validation (ctrl_attr.c) */

/* A fixed char array holding a valid name, NUL inside the array. */
int ctrl_name_field_ok(const char *s);

/* Writer (ctrl_attr.c): after the first failure in w->err, writes do
 * nothing; the caller checks w->err once at the end. */
void ctrl_wr_put(struct wr *w, const void *p, size_t n);
void ctrl_wr_attr(struct wr *w, uint16_t type, const void *v, size_t n);
/* Starts a nested attribute; returns where its header is, for _end. */
size_t ctrl_wr_nest_begin(struct wr *w, uint16_t type);
void ctrl_wr_nest_end(struct wr *w, size_t at);

/* Attribute encoders (ctrl_attr.c): ZT_EINVAL for a value that does not
 * pass the field validation. with_allow = 0 for a catalog entry's service,
 * whose allow list is not sent. */
void ctrl_enc_str(struct wr *w, uint16_t type, const char *s);
int ctrl_enc_addr(struct wr *w, const struct zt_addr *a);
int ctrl_enc_addrs(struct wr *w, const struct zt_addr *a, size_t n);
int ctrl_enc_service(struct wr *w, const struct zt_service *s, int with_allow);

/* Cursor and attribute decoders (ctrl_attr.c): ZT_EINVAL for anything
 * malformed or that fails the field validation. */
/* Takes the next TLV from c; its value becomes the view v. */
int ctrl_cur_attr(struct cur *c, uint16_t *type, struct cur *v);
/* ZT_EINVAL if type is already in *seen; adds it. */
int ctrl_once(uint32_t *seen, uint16_t type);
/* Copies a string value into out[outsz] after checking it with ok(). */
int ctrl_dec_str(const struct cur *v, char *out, size_t outsz,
		 int (*ok)(const char *, size_t));
int ctrl_dec_addr(const struct cur *v, struct zt_addr *a);
int ctrl_dec_service(struct cur v, struct zt_service *s, int with_allow);
/* Counts the items of a REGISTER or CATALOG body so that the array can be
 * sized exactly (at most ZT_MAX_SERVICES). */
int ctrl_count_items(const struct cur *body, size_t *n);

/* SESSION_* messages (ctrl_sess.c). */
int ctrl_enc_sess(struct wr *w, const struct zt_ctrl_msg *m);
int ctrl_dec_sess(struct cur *body, struct zt_ctrl_msg *m);
int ctrl_is_text(const char *s, size_t n);

#endif
