#include "flowhdr.h"

#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "pkt.h"

static int valid_proto(uint8_t p)
{
	return p == ZT_IPPROTO_TCP || p == ZT_IPPROTO_UDP ||
	       p == ZT_IPPROTO_ICMP;
}

size_t zt_flow_hdr_encode(const struct zt_flow_hdr *h, uint8_t *out,
			  size_t cap)
{
	size_t ipl = h->dst.family == AF_INET ? 4 : 16;
	size_t nl = strnlen(h->service, ZT_NAME_MAX);
	size_t n = 6 + ipl + nl, o = 0;

	if (!valid_proto(h->proto) || !zt_wire_name_ok(h->service, nl) ||
	    (h->dst.family != AF_INET && h->dst.family != AF_INET6) || n > cap)
		return 0;
	out[o++] = ZT_FLOW_VERSION;
	out[o++] = h->proto;
	out[o++] = (uint8_t)(h->dst.port >> 8);
	out[o++] = (uint8_t)h->dst.port;
	out[o++] = h->dst.family == AF_INET ? 4 : 6;
	memcpy(out + o, h->dst.ip, ipl);
	o += ipl;
	out[o++] = (uint8_t)nl;
	memcpy(out + o, h->service, nl);
	return o + nl;
}

int zt_flow_hdr_decode(struct zt_flow_hdr *h, const uint8_t *b, size_t len)
{
	size_t ipl, nl, o;

	memset(h, 0, sizeof(*h));
	if (len < 5)
		return ZT_ETRUNC;
	if (b[0] != ZT_FLOW_VERSION || !valid_proto(b[1]) ||
	    (b[4] != 4 && b[4] != 6))
		return ZT_EINVAL;
	ipl = b[4] == 4 ? 4 : 16;
	if (len < 5 + ipl + 1)
		return ZT_ETRUNC;
	nl = b[5 + ipl];
	o = 6 + ipl;
	if (len < o + nl)
		return ZT_ETRUNC;
	if (!zt_wire_name_ok((const char *)b + o, nl))
		return ZT_EINVAL;
	h->proto = b[1];
	h->dst.port = (uint16_t)(b[2] << 8 | b[3]);
	h->dst.family = b[4] == 4 ? AF_INET : AF_INET6;
	memcpy(h->dst.ip, b + 5, ipl);
	memcpy(h->service, b + o, nl);
	h->service[nl] = 0;
	return (int)(o + nl);
}

const char *zt_flow_status_name(int s)
{
	static const char *const n[] = { "ok", "denied", "no such service",
					 "refused", "unreachable",
					 "flow limit", "bad request" };

	return s >= 0 && s <= ZT_FLOW_BAD_REQUEST ? n[s] : "unknown status";
}

size_t zt_flow_dgram_put(uint8_t *out, size_t cap, int64_t sid)
{
	uint64_t v = (uint64_t)sid >> 2;

	if (sid < 0)
		return 0;
	if (v < 64 && cap >= 1) {
		out[0] = (uint8_t)v;
		return 1;
	}
	if (v < 16384 && cap >= 2) {
		out[0] = (uint8_t)(0x40 | v >> 8);
		out[1] = (uint8_t)v;
		return 2;
	}
	if (v < (1u << 30) && cap >= 4) {
		out[0] = (uint8_t)(0x80 | v >> 24);
		out[1] = (uint8_t)(v >> 16);
		out[2] = (uint8_t)(v >> 8);
		out[3] = (uint8_t)v;
		return 4;
	}
	return 0; /* stream ids beyond 2^32 are not used */
}

size_t zt_flow_dgram_get(const uint8_t *b, size_t len, int64_t *sid)
{
	size_t n;
	uint64_t v;

	if (len == 0)
		return 0;
	n = (size_t)1 << (b[0] >> 6);
	if (n > 4 || len < n)
		return 0;
	v = b[0] & 0x3f;
	for (size_t i = 1; i < n; i++)
		v = v << 8 | b[i];
	*sid = (int64_t)(v << 2);
	return n;
}
