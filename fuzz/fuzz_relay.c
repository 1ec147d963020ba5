/* libFuzzer target for the wire formats of relaying and hole punching
 * (src/wire/rdgram.c, src/wire/probe.c; docs/PROTOCOL.md "Relayed
 * datagrams", "Probes"). Arbitrary bytes are:
 *
 * - read as a relayed datagram header: whatever is read is an id in
 *   1..2^30-1 followed by a non-empty inner packet, and writing it back
 *   takes no more bytes than it was read from and reads back the same;
 * - decoded as a probe with a fixed key: whatever decodes re-encodes to
 *   exactly the input (the MAC covers every byte that is not padding, and
 *   padding must be zero), and is no larger than ZT_PROBE_LEN.
 *
 * abort() on any violation. The first input byte picks the key used, so
 * the seed corpus can carry valid probes for the fuzzer to mutate. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "probe.h"
#include "rdgram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rdgram(const uint8_t *data, size_t size)
{
	uint32_t id, id2;
	uint8_t gen, gen2, out[ZT_RDGRAM_HDR_MAX + 1];
	size_t n = zt_rdgram_get(data, size, &id, &gen), m;

	if (n == 0)
		return;
	if (n > ZT_RDGRAM_HDR_MAX || n >= size || id == 0 ||
	    id > ZT_RDGRAM_ID_MAX)
		abort();
	m = zt_rdgram_put(out, ZT_RDGRAM_HDR_MAX, id, gen);
	if (m == 0 || m > n)
		abort();
	out[m] = 0;
	if (zt_rdgram_get(out, m + 1, &id2, &gen2) != m || id2 != id ||
	    gen2 != gen)
		abort();
}

static void check_probe(const uint8_t *key, const uint8_t *data, size_t size)
{
	struct zt_probe p;
	uint8_t out[ZT_PROBE_LEN];
	int rv = zt_probe_decode(&p, data, size, key);

	if (rv != 0 && rv != ZT_EINVAL && rv != ZT_EVERSION && rv != ZT_EDENIED)
		abort();
	if (rv != 0)
		return;
	if (size != ZT_PROBE_LEN || !zt_probe_is(data, size))
		abort();
	if (zt_probe_encode(&p, key, out) != 0 ||
	    memcmp(out, data, ZT_PROBE_LEN) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[ZT_PROBE_KEY_LEN];

	check_rdgram(data, size);
	if (size < 1)
		return 0;
	memset(key, data[0], sizeof(key));
	check_probe(key, data + 1, size - 1);
	return 0;
}
