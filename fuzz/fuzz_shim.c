/* libFuzzer target for the shim socket framing (zt_shim_frame_next): walks
 * arbitrary bytes frame by frame as the reader does, and checks that every
 * frame lies inside the input and that the walk always ends. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "pktsrc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, used, blen;
	const uint8_t *body;
	uint8_t type;
	int rv;

	while ((rv = zt_shim_frame_next(data + pos, size - pos, &used, &type,
					&body, &blen)) == 1) {
		if (used < ZT_SHIM_HDR_LEN || used > size - pos ||
		    body != data + pos + ZT_SHIM_HDR_LEN ||
		    blen != used - ZT_SHIM_HDR_LEN)
			abort();
		pos += used;
	}
	if (rv != 0 && rv != ZT_EVERSION)
		abort();
	return 0;
}
