/* PCP MAP codec (pcp.h), RFC 6887, 7 and 11.1. */
#include "pcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"

#define HDR_LEN 24
#define R_BIT 0x80

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* PCP carries every address as 16 bytes, IPv4 as ::ffff:a.b.c.d. */
static int put_addr(uint8_t *p, const struct zt_addr *a)
{
	memset(p, 0, 16);
	if (a->family == AF_INET6) {
		memcpy(p, a->ip, 16);
		return 0;
	}
	if (a->family != AF_INET)
		return ZT_EINVAL;
	p[10] = p[11] = 0xff;
	memcpy(p + 12, a->ip, 4);
	return 0;
}

static void get_addr(struct zt_addr *a, const uint8_t *p)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0,    0,
					      0, 0, 0, 0, 0xff, 0xff };

	memset(a, 0, sizeof(*a));
	if (memcmp(p, v4mapped, 12) == 0) {
		a->family = AF_INET;
		memcpy(a->ip, p + 12, 4);
	} else {
		a->family = AF_INET6;
		memcpy(a->ip, p, 16);
	}
}

int zt_pcp_map_encode(const struct zt_pcp_map_req *q, uint8_t *out, size_t cap)
{
	struct zt_addr any = { .family = q->client.family };
	const struct zt_addr *sug = q->suggest.family ? &q->suggest : &any;

	if (q->internal_port == 0 || q->proto == 0)
		return ZT_EINVAL;
	if (cap < ZT_PCP_MAP_LEN)
		return ZT_ETOOBIG;
	memset(out, 0, ZT_PCP_MAP_LEN);
	out[0] = ZT_PCP_VERSION;
	out[1] = ZT_PCP_OP_MAP; /* R = 0: a request */
	put32(out + 4, q->lifetime_s);
	if (put_addr(out + 8, &q->client) != 0 || put_addr(out + 44, sug) != 0)
		return ZT_EINVAL;
	memcpy(out + 24, q->nonce, ZT_PCP_NONCE_LEN);
	out[36] = q->proto;
	out[40] = (uint8_t)(q->internal_port >> 8);
	out[41] = (uint8_t)q->internal_port;
	out[42] = (uint8_t)(q->suggest.port >> 8);
	out[43] = (uint8_t)q->suggest.port;
	return ZT_PCP_MAP_LEN;
}

int zt_pcp_map_decode(struct zt_pcp_map_resp *r, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	/* The version first: a NAT-PMP answer (version 0) is shorter than a
	 * PCP one, and is how a gateway says it does not speak PCP. */
	if (len >= 1 && buf[0] != ZT_PCP_VERSION)
		return ZT_EVERSION;
	if (len < ZT_PCP_MAP_LEN)
		return ZT_ETRUNC;
	if (len > ZT_PCP_MAX_LEN || len % 4 != 0)
		return ZT_EINVAL;
	if (buf[1] != (R_BIT | ZT_PCP_OP_MAP))
		return ZT_EINVAL;
	r->result = buf[3];
	r->lifetime_s = get32(buf + 4);
	r->epoch = get32(buf + 8);
	memcpy(r->nonce, buf + 24, ZT_PCP_NONCE_LEN);
	r->proto = buf[36];
	r->internal_port = (uint16_t)(buf[40] << 8 | buf[41]);
	get_addr(&r->ext, buf + 44);
	r->ext.port = (uint16_t)(buf[42] << 8 | buf[43]);
	return 0;
}

int zt_pcp_match(const struct zt_pcp_map_req *q,
		 const struct zt_pcp_map_resp *r)
{
	if (memcmp(q->nonce, r->nonce, ZT_PCP_NONCE_LEN) != 0 ||
	    q->proto != r->proto || q->internal_port != r->internal_port)
		return ZT_EINVAL;
	if (r->result == ZT_PCP_SUCCESS && q->lifetime_s != 0 &&
	    (r->ext.family != q->client.family || r->ext.port == 0))
		return ZT_EINVAL;
	return 0;
}

const char *zt_pcp_result_name(unsigned result)
{
	static const char *const names[] = {
		"success",
		"unsupported version",
		"not authorized",
		"malformed request",
		"unsupported opcode",
		"unsupported option",
		"malformed option",
		"network failure",
		"no resources",
		"unsupported protocol",
		"user exceeded quota",
		"cannot provide external",
		"address mismatch",
		"excessive remote peers",
	};

	return result < sizeof(names) / sizeof(names[0]) ? names[result] :
							   "unknown result";
}

/* One line of /proc/net/route: Iface Destination Gateway Flags RefCnt Use
 * Metric Mask ...; 1 and the gateway and metric for a default route. */
static int route_line(const char *line, uint32_t *gw, unsigned long *metric)
{
	char ifname[32];
	unsigned dst, gate, flags, refcnt, use, mask;
	unsigned long m;

	if (sscanf(line, "%31s %x %x %x %u %u %lu %x", ifname, &dst, &gate,
		   &flags, &refcnt, &use, &m, &mask) != 8)
		return 0;
	/* RTF_UP | RTF_GATEWAY */
	if (dst != 0 || mask != 0 || (flags & 3) != 3 || gate == 0)
		return 0;
	*gw = gate;
	*metric = m;
	return 1;
}

int zt_pcp_route_gw(const char *text, size_t len, struct zt_addr *gw)
{
	char line[256];
	size_t i = 0;
	uint32_t best = 0, g;
	unsigned long best_m = 0, m;
	int found = 0;

	memset(gw, 0, sizeof(*gw));
	while (i < len) {
		size_t n = 0;

		while (i < len && text[i] != '\n') {
			if (n < sizeof(line) - 1)
				line[n++] = text[i];
			i++;
		}
		i++;
		line[n] = 0;
		if (route_line(line, &g, &m) && (!found || m < best_m)) {
			best = g;
			best_m = m;
			found = 1;
		}
	}
	if (!found)
		return ZT_ENOTFOUND;
	gw->family = AF_INET;
	/* The kernel printed the address's bytes as one native word. */
	memcpy(gw->ip, &best, 4);
	return 0;
}
