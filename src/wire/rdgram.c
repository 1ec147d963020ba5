/* Relayed datagram header (rdgram.h). */
#include "rdgram.h"

size_t zt_rdgram_put(uint8_t *out, size_t cap, uint32_t session, uint8_t gen)
{
	size_t n;

	if (session == 0 || session > ZT_RDGRAM_ID_MAX)
		return 0;
	n = session < 64 ? 1 : session < 16384 ? 2 : 4;
	if (cap < n + 1)
		return 0;
	if (n == 1) {
		out[0] = (uint8_t)session;
	} else if (n == 2) {
		out[0] = 0x40 | (uint8_t)(session >> 8);
		out[1] = (uint8_t)session;
	} else {
		out[0] = 0x80 | (uint8_t)(session >> 24);
		out[1] = (uint8_t)(session >> 16);
		out[2] = (uint8_t)(session >> 8);
		out[3] = (uint8_t)session;
	}
	out[n] = gen;
	return n + 1;
}

size_t zt_rdgram_get(const uint8_t *b, size_t len, uint32_t *session,
		     uint8_t *gen)
{
	size_t n;
	uint32_t v;

	if (len == 0 || (b[0] >> 6) == 3)
		return 0;
	n = (size_t)1 << (b[0] >> 6);
	/* the header and at least one byte of inner packet */
	if (len < n + 2)
		return 0;
	v = b[0] & 0x3f;
	for (size_t i = 1; i < n; i++)
		v = (v << 8) | b[i];
	if (v == 0)
		return 0;
	*session = v;
	*gen = b[n];
	return n + 1;
}
