/* For the control codec tests (unit_ctrl.c, unit_ctrldec.c): a small
 * frame writer independent of the encoder, so that encoder bugs cannot hide
 * decoder bugs, and sample messages with their comparisons. Anything wrong
 * fails the calling test. */
#ifndef ZT_TEST_CTRLTEST_H
#define ZT_TEST_CTRLTEST_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl.h"

/* Attribute numbers from docs/PROTOCOL.md, repeated here on purpose: the
 * test pins the wire format, not the implementation's enum. */
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
	A_ICMP = 14,
};

/* Hand-built frames: fb_start, attributes (fb_begin/fb_end around nested
 * ones), then fb_finish patches the body length; fb_decode finishes,
 * decodes, frees the frame and returns zt_ctrl_decode's result. */
#define FB_CAP (1024 * 1024)

struct fb {
	uint8_t *b;
	size_t len;
	size_t nest[4]; /* offsets of open nested attribute headers */
	int depth;
};

void fb_start(struct fb *f, uint8_t version, uint8_t type);
void fb_raw(struct fb *f, const void *p, size_t n);
void fb_u16(struct fb *f, uint16_t v);
void fb_attr(struct fb *f, uint16_t type, const void *v, size_t n);
void fb_str(struct fb *f, uint16_t type, const char *s);
void fb_u8(struct fb *f, uint16_t type, uint8_t v);
void fb_begin(struct fb *f, uint16_t type);
void fb_end(struct fb *f);
void fb_finish(struct fb *f);
void fb_addr4(struct fb *f, uint16_t port);
void fb_ports(struct fb *f, uint16_t lo, uint16_t hi);
void fb_min_service(struct fb *f, const char *name);
int fb_decode(struct fb *f);

/* Messages and comparisons */
struct zt_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
		     uint16_t port);
struct zt_addr addr6(const char *s, uint16_t port);
struct zt_cidr cidr(int af, const char *s, uint8_t prefix);
void add_allow(struct zt_service *s, uint8_t kind, const char *name);
void add_ports(struct zt_service *s, uint16_t lo, uint16_t hi);
void make_service(struct zt_service *s, int i);
void assert_addr_equal(const struct zt_addr *a, const struct zt_addr *b);
void assert_svc_equal(const struct zt_service *a,
		      const struct zt_service *b, int with_allow);
uint8_t *round_trip(const struct zt_ctrl_msg *m, struct zt_ctrl_msg *out,
		    size_t *len);
void make_register(struct zt_ctrl_msg *m, size_t n);
void make_catalog(struct zt_ctrl_msg *m, size_t n);
void make_hello(struct zt_ctrl_msg *m);
void make_error(struct zt_ctrl_msg *m);

#endif
