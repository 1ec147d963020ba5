/* libFuzzer target for the TCP transport's length framing
 * (src/wire/tcpframe.c; docs/PROTOCOL.md "TCP transport"). Arbitrary bytes
 * are a stream, fed in chunks whose sizes the first byte picks:
 *
 * - every packet read is 1..ZT_TCPF_MAX bytes, and framing it again gives
 *   exactly the bytes of the stream it came from;
 * - the reader never takes more than it is given, and stops for good at
 *   the first bad length, as the stream it reads from is then closed.
 *
 * abort() on any violation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tcpframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct zt_tcpf_rd rd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step, off = 1, start = 1;

	if (size < 1)
		return 0;
	step = (size_t)data[0] * 17 + 1;
	zt_tcpf_rd_init(&rd);
	while (off < size) {
		size_t chunk = size - off < step ? size - off : step, used = 0;
		const uint8_t *p = NULL;
		size_t pl = 0;
		uint8_t h[ZT_TCPF_HDR];
		int rv = zt_tcpf_read(&rd, data + off, chunk, &used, &p, &pl);

		if (used > chunk)
			abort();
		off += used;
		if (rv < 0) {
			if (rv != ZT_EINVAL && rv != ZT_ETOOBIG)
				abort();
			return 0;
		}
		if (rv == 0) {
			if (used != chunk)
				abort();
			continue;
		}
		if (rv != 1 || pl == 0 || pl > ZT_TCPF_MAX ||
		    zt_tcpf_hdr(h, pl) != ZT_TCPF_HDR ||
		    off - start != ZT_TCPF_HDR + pl ||
		    memcmp(data + start, h, ZT_TCPF_HDR) != 0 ||
		    memcmp(data + start + ZT_TCPF_HDR, p, pl) != 0)
			abort();
		start = off;
	}
	return 0;
}
