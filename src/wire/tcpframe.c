/* The TCP transport's length framing (tcpframe.h). */
#include "tcpframe.h"

#include <string.h>

#include "err.h"

size_t zt_tcpf_hdr(uint8_t out[ZT_TCPF_HDR], size_t len)
{
	if (len == 0 || len > ZT_TCPF_MAX)
		return 0;
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	return ZT_TCPF_HDR;
}

void zt_tcpf_rd_init(struct zt_tcpf_rd *r)
{
	r->have = 0;
	r->need = 0;
}

/* Copies up to what the current part (header, then body) still lacks. */
static size_t take(struct zt_tcpf_rd *r, size_t upto, const uint8_t *in,
		   size_t len)
{
	size_t n = upto - r->have;

	if (n > len)
		n = len;
	memcpy(r->buf + r->have, in, n);
	r->have += n;
	return n;
}

int zt_tcpf_read(struct zt_tcpf_rd *r, const uint8_t *in, size_t len,
		 size_t *used, const uint8_t **pkt, size_t *pkt_len)
{
	size_t off = 0, plen;

	*used = 0;
	if (r->need && r->have == r->need)
		zt_tcpf_rd_init(r); /* the packet returned last time */
	if (!r->need) {
		off += take(r, ZT_TCPF_HDR, in, len);
		if (r->have < ZT_TCPF_HDR) {
			*used = off;
			return 0;
		}
		plen = (size_t)r->buf[0] << 8 | r->buf[1];
		if (plen == 0)
			return ZT_EINVAL;
		if (plen > ZT_TCPF_MAX)
			return ZT_ETOOBIG;
		r->need = ZT_TCPF_HDR + plen;
	}
	off += take(r, r->need, in + off, len - off);
	*used = off;
	if (r->have < r->need)
		return 0;
	*pkt = r->buf + ZT_TCPF_HDR;
	*pkt_len = r->need - ZT_TCPF_HDR;
	return 1;
}
