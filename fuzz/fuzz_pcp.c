/* libFuzzer target for the PCP MAP codec (src/wire/pcp.c), whose input is
 * whatever reaches our socket from port 5351: a gateway that lies or a
 * host on the LAN that spoofs. Arbitrary bytes are:
 *
 * - decoded as a MAP response. The only answers are 0, ZT_ETRUNC,
 *   ZT_EVERSION and ZT_EINVAL; what decodes has a family of 4 or 6, and
 *   every shorter prefix of it is refused; a response re-encoded as a
 *   request (its nonce, protocol, ports, address) matches the response;
 * - read as /proc/net/route text: a gateway found is an IPv4 address.
 *
 * abort() on any violation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "pcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_resp(const uint8_t *data, size_t size)
{
	struct zt_pcp_map_resp r, r2;
	struct zt_pcp_map_req q;
	uint8_t out[ZT_PCP_MAP_LEN];
	int rv = zt_pcp_map_decode(&r, data, size);

	if (rv != 0 && rv != ZT_ETRUNC && rv != ZT_EVERSION && rv != ZT_EINVAL)
		abort();
	if (rv != 0)
		return;
	if (size < ZT_PCP_MAP_LEN || size > ZT_PCP_MAX_LEN ||
	    (r.ext.family != AF_INET && r.ext.family != AF_INET6))
		abort();
	for (size_t n = 0; n < ZT_PCP_MAP_LEN; n++)
		if (zt_pcp_map_decode(&r2, data, n) == 0)
			abort();
	memset(&q, 0, sizeof(q));
	memcpy(q.nonce, r.nonce, sizeof(q.nonce));
	q.proto = r.proto;
	q.internal_port = r.internal_port;
	q.lifetime_s = r.lifetime_s;
	q.client.family = r.ext.family;
	q.suggest = r.ext;
	if (zt_pcp_map_encode(&q, out, sizeof(out)) == ZT_PCP_MAP_LEN) {
		/* The request carries what the answer must echo. */
		if (memcmp(out + 24, data + 24, 13) != 0 ||
		    memcmp(out + 40, data + 40, 4) != 0)
			abort();
		if (r.result == 0 && r.ext.port && zt_pcp_match(&q, &r) != 0)
			abort();
	} else if (q.internal_port != 0 && q.proto != 0) {
		abort();
	}
}

static void check_route(const uint8_t *data, size_t size)
{
	struct zt_addr gw;
	int rv = zt_pcp_route_gw((const char *)data, size, &gw);

	if (rv == 0 && (gw.family != AF_INET || gw.port != 0))
		abort();
	if (rv != 0 && rv != ZT_ENOTFOUND)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_resp(data, size);
	check_route(data, size);
	return 0;
}
