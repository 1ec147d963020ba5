/* Data-plane framing between agent and connector (docs/PROTOCOL.md, "Flows"):
 * the header that opens a flow on a new bidirectional stream, the one-byte
 * status the connector answers with, and the flow id prefix of DATAGRAM
 * frames. Pure functions. */
#ifndef ZT_FLOWHDR_H
#define ZT_FLOWHDR_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define ZT_FLOW_VERSION 1
#define ZT_FLOW_HDR_MAX (1 + 1 + 2 + 1 + 16 + 1 + ZT_NAME_MAX)

enum zt_flow_status {
	ZT_FLOW_OK = 0,
	ZT_FLOW_DENIED = 1,      /* identity not in the service's allow list */
	ZT_FLOW_NO_SERVICE = 2,  /* no such service, or dst/port/proto outside it */
	ZT_FLOW_REFUSED = 3,     /* the target refused the connection */
	ZT_FLOW_UNREACHABLE = 4, /* timeout, no route, name did not resolve */
	ZT_FLOW_LIMIT = 5,       /* too many flows for this agent */
	ZT_FLOW_BAD_REQUEST = 6, /* malformed header */
};

/* Stream application error codes for RESET_STREAM / STOP_SENDING. */
#define ZT_FLOW_ERR_RESET 0x100  /* the other end reset its TCP connection */
#define ZT_FLOW_ERR_ABORT 0x101  /* local failure */

struct zt_flow_hdr {
	uint8_t proto;           /* ZT_IPPROTO_TCP / UDP / ICMP */
	struct zt_addr dst;      /* destination as the application saw it */
	char service[ZT_NAME_MAX];
};

/* Returns the encoded length or 0 on bad input / small buffer. */
size_t zt_flow_hdr_encode(const struct zt_flow_hdr *h, uint8_t *out,
			  size_t cap);
/* Decodes from the start of buf. Returns the header length consumed,
 * ZT_ETRUNC (need more bytes) or ZT_EINVAL. */
int zt_flow_hdr_decode(struct zt_flow_hdr *h, const uint8_t *buf, size_t len);
const char *zt_flow_status_name(int status);

/* DATAGRAM prefix: the flow's stream id divided by 4 as a QUIC varint.
 * Returns the prefix length, or 0 on a malformed/oversized input. */
size_t zt_flow_dgram_put(uint8_t *out, size_t cap, int64_t sid);
size_t zt_flow_dgram_get(const uint8_t *buf, size_t len, int64_t *sid);

#endif
