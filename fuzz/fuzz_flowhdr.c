/* libFuzzer target for the flow framing of the data plane (src/flowhdr.c,
 * docs/PROTOCOL.md "Flows (version 1)"). Arbitrary bytes are:
 *
 * - decoded as a flow header. Whatever decodes must re-encode to exactly
 *   the bytes the decoder consumed, and every shorter prefix of those bytes
 *   must decode as ZT_ETRUNC (a connector that buffers a header as it
 *   arrives must never act on part of one);
 * - read as the flow id prefix of a DATAGRAM frame. Whatever is read must
 *   be a client bidirectional stream id below 2^32, written back with no
 *   more bytes than it was read from (identical bytes when the length is
 *   the same), and read back to the same id.
 *
 * abort() on any violation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "flowhdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_header(const uint8_t *data, size_t size)
{
	struct zt_flow_hdr h, h2;
	uint8_t out[ZT_FLOW_HDR_MAX];
	size_t n;
	int rv = zt_flow_hdr_decode(&h, data, size);

	if (rv != ZT_ETRUNC && rv != ZT_EINVAL && rv <= 0)
		abort();
	if (rv <= 0)
		return;
	if ((size_t)rv > size || (size_t)rv > ZT_FLOW_HDR_MAX)
		abort();
	if (strnlen(h.service, sizeof(h.service)) >= sizeof(h.service))
		abort();
	n = zt_flow_hdr_encode(&h, out, sizeof(out));
	if (n != (size_t)rv || memcmp(out, data, n) != 0)
		abort();
	/* Exactly enough room is enough, one byte less is not. */
	if (zt_flow_hdr_encode(&h, out, n) != n ||
	    zt_flow_hdr_encode(&h, out, n - 1) != 0)
		abort();
	for (size_t len = 0; len < n; len++)
		if (zt_flow_hdr_decode(&h2, data, len) != ZT_ETRUNC)
			abort();
}

static void check_dgram(const uint8_t *data, size_t size)
{
	uint8_t out[8];
	int64_t sid = -1, sid2 = -1;
	size_t n = zt_flow_dgram_get(data, size, &sid), m;

	if (n == 0)
		return;
	if (n > size || (n != 1 && n != 2 && n != 4))
		abort();
	if (sid < 0 || sid % 4 != 0 || sid > 4294967292LL)
		abort();
	m = zt_flow_dgram_put(out, sizeof(out), sid);
	/* The writer uses the shortest form; the reader also accepts longer
	 * (non-minimal) ones, as QUIC varints allow. */
	if (m == 0 || m > n || (m == n && memcmp(out, data, n) != 0))
		abort();
	if (zt_flow_dgram_get(out, m, &sid2) != m || sid2 != sid)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_header(data, size);
	check_dgram(data, size);
	return 0;
}
