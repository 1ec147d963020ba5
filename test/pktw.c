/* The independent packet writer of the packet tests (pktw.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pktw.h"

const uint8_t SRC4[4] = { 10, 0, 0, 1 };
const uint8_t DST4[4] = { 192, 0, 2, 7 };
const uint8_t SRC6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0,
			   0,    0, 0, 0, 0, 0, 0, 1 };
const uint8_t DST6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,
			   0,    0,    0,    0,    0, 0, 0xab, 7 };

void w16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void w32(uint8_t *p, uint32_t v)
{
	w16(p, v >> 16);
	w16(p + 2, v & 0xffff);
}

uint16_t r16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t r32(const uint8_t *p)
{
	return (uint32_t)r16(p) << 16 | r16(p + 2);
}

/* Deliberately naive: byte at an even index is the high half. */
uint32_t t_sum(uint32_t s, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		s += (i & 1) ? b[i] : (uint32_t)b[i] << 8;
	return s;
}

uint16_t t_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

void ip4(struct pk *k, uint8_t proto, const uint8_t *opt, size_t n)
{
	memset(k, 0, sizeof(*k));
	k->b[0] = (uint8_t)(0x40 | (20 + n) / 4);
	k->b[8] = 64;
	k->b[9] = proto;
	memcpy(k->b + 12, SRC4, 4);
	memcpy(k->b + 16, DST4, 4);
	if (n)
		memcpy(k->b + 20, opt, n);
	k->l4 = k->len = 20 + n;
	k->proto = proto;
}

/* ext: raw extension headers (their next-header bytes set by the caller),
 * first: the next header of the fixed header. */
void ip6(struct pk *k, uint8_t first, const uint8_t *ext, size_t n,
	 uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	k->b[0] = 0x60;
	k->b[6] = first;
	k->b[7] = 64;
	memcpy(k->b + 8, SRC6, 16);
	memcpy(k->b + 24, DST6, 16);
	if (n)
		memcpy(k->b + 40, ext, n);
	k->l4 = k->len = 40 + n;
	k->v6 = 1;
	k->proto = proto;
}

void refix_v4(struct pk *k)
{
	size_t ihl = (size_t)(k->b[0] & 0xf) * 4;

	w16(k->b + 10, 0);
	w16(k->b + 10, t_fold(t_sum(0, k->b, ihl)));
}

/* Sets the IP lengths and every checksum. */
void finish(struct pk *k)
{
	uint8_t *l4 = k->b + k->l4;
	size_t n = k->len - k->l4, at;
	uint8_t ph[40] = { 0 };
	uint32_t s = 0;

	if (k->v6) {
		w16(k->b + 4, (uint32_t)(k->len - 40));
		memcpy(ph, k->b + 8, 32);
		w32(ph + 32, (uint32_t)n);
		ph[39] = k->proto;
		s = t_sum(0, ph, 40);
	} else {
		w16(k->b + 2, (uint32_t)k->len);
		refix_v4(k);
		memcpy(ph, k->b + 12, 8);
		ph[9] = k->proto;
		w16(ph + 10, (uint32_t)n);
		if (k->proto != ZT_IPPROTO_ICMP)
			s = t_sum(0, ph, 12);
	}
	switch (k->proto) {
	case ZT_IPPROTO_TCP: at = 16; break;
	case ZT_IPPROTO_UDP:
		at = 6;
		w16(l4 + 4, (uint32_t)n);
		break;
	default: at = 2; break;
	}
	w16(l4 + at, 0);
	w16(l4 + at, t_fold(t_sum(s, l4, n)));
}

void tcp(struct pk *k, uint32_t seq, uint32_t ack, uint8_t flags,
	 const uint8_t *opt, size_t optlen, const char *data)
{
	uint8_t *t = k->b + k->len;
	size_t dlen = strlen(data);

	memset(t, 0, 20);
	w16(t, 40000);
	w16(t + 2, 443);
	w32(t + 4, seq);
	w32(t + 8, ack);
	t[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	t[13] = flags;
	w16(t + 14, 65535);
	if (optlen)
		memcpy(t + 20, opt, optlen);
	memcpy(t + 20 + optlen, data, dlen);
	k->len += 20 + optlen + dlen;
	finish(k);
}

void udp(struct pk *k, const void *data, size_t n)
{
	uint8_t *u = k->b + k->len;

	w16(u, 5353);
	w16(u + 2, 53);
	if (n)
		memcpy(u + 8, data, n);
	k->len += 8 + n;
	finish(k);
}

void icmp(struct pk *k, uint8_t type, uint16_t id, size_t n)
{
	uint8_t *c = k->b + k->len;

	memset(c, 0, 8 + n);
	c[0] = type;
	w16(c + 4, id);
	w16(c + 6, 1);
	memset(c + 8, 0x5a, n);
	k->len += 8 + n;
	finish(k);
}

/* Parses a copy in a buffer of exactly n bytes, so that ASan sees any read
 * past the end. Only the result is meaningful afterwards. */
int parse_exact(const uint8_t *b, size_t n)
{
	struct zt_pkt p;
	uint8_t *c = malloc(n ? n : 1);
	int rc;

	assert_non_null(c);
	memcpy(c, b, n);
	rc = zt_pkt_parse(&p, c, n);
	free(c);
	return rc;
}

int parse_k(struct pk *k)
{
	return parse_exact(k->b, k->len);
}

const uint8_t MSS[] = { 2, 4, 0x05, 0xb4, 1, 1, 4, 2 }; /* +SACKOK */

void mk_v4_syn(struct pk *k)
{
	ip4(k, ZT_IPPROTO_TCP, NULL, 0);
	tcp(k, 1000, 0, ZT_TCP_SYN, MSS, sizeof(MSS), "");
}

void mk_v6_syn(struct pk *k)
{
	ip6(k, ZT_IPPROTO_TCP, NULL, 0, ZT_IPPROTO_TCP);
	tcp(k, 0xffffffffu, 0, ZT_TCP_SYN, MSS, sizeof(MSS), "");
}

