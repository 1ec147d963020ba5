/* PCP (RFC 6887), the MAP opcode only: the request a client sends to its
 * gateway (port 5351) to have a public port forwarded to it, and the
 * gateway's answer. Pure: no sockets. The answer is hostile input (the
 * gateway may lie, anyone on the LAN may spoof one): every field is
 * checked, and zt_pcp_match says whether it answers our request at all.
 * Also the default gateway read from the text of /proc/net/route. */
#ifndef ZT_PCP_H
#define ZT_PCP_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define ZT_PCP_PORT 5351
#define ZT_PCP_VERSION 2
#define ZT_PCP_OP_MAP 1
#define ZT_PCP_NONCE_LEN 12
#define ZT_PCP_MAP_LEN 60   /* common header 24 + MAP 36, no options */
#define ZT_PCP_MAX_LEN 1100 /* RFC 6887, 7: no PCP message is longer */
#define ZT_PCP_PROTO_UDP 17

enum zt_pcp_result {
	ZT_PCP_SUCCESS = 0,
	ZT_PCP_UNSUPP_VERSION = 1,
	ZT_PCP_NOT_AUTHORIZED = 2,
	ZT_PCP_MALFORMED_REQUEST = 3,
	ZT_PCP_UNSUPP_OPCODE = 4,
	ZT_PCP_UNSUPP_OPTION = 5,
	ZT_PCP_MALFORMED_OPTION = 6,
	ZT_PCP_NETWORK_FAILURE = 7,
	ZT_PCP_NO_RESOURCES = 8,
	ZT_PCP_UNSUPP_PROTOCOL = 9,
	ZT_PCP_USER_EX_QUOTA = 10,
	ZT_PCP_CANNOT_PROVIDE_EXTERNAL = 11,
	ZT_PCP_ADDRESS_MISMATCH = 12,
	ZT_PCP_EXCESSIVE_REMOTE_PEERS = 13,
};

struct zt_pcp_map_req {
	uint32_t lifetime_s;   /* 0: delete the mapping */
	struct zt_addr client; /* IPv4 or IPv6; port ignored */
	uint8_t nonce[ZT_PCP_NONCE_LEN];
	uint8_t proto;          /* ZT_PCP_PROTO_UDP */
	uint16_t internal_port; /* non-zero */
	struct zt_addr suggest; /* port and address wanted; family 0: any
				    (of the client's family) */
};

struct zt_pcp_map_resp {
	uint8_t result;
	uint32_t lifetime_s;
	uint32_t epoch;
	uint8_t nonce[ZT_PCP_NONCE_LEN];
	uint8_t proto;
	uint16_t internal_port;
	struct zt_addr ext; /* AF_INET when IPv4-mapped, else AF_INET6 */
};

/* Writes the request; returns its length (ZT_PCP_MAP_LEN) or ZT_EINVAL
 * (no internal port, a family neither IPv4 nor IPv6) / ZT_ETOOBIG (cap). */
int zt_pcp_map_encode(const struct zt_pcp_map_req *q, uint8_t *out, size_t cap);
/* Reads a MAP response. 0, ZT_ETRUNC (shorter than a MAP response),
 * ZT_EVERSION (not version 2: a NAT-PMP-only gateway answers version 0,
 * RFC 6887, 9), ZT_EINVAL (not a response, not MAP, longer than PCP
 * allows, options not a multiple of 4 bytes). */
int zt_pcp_map_decode(struct zt_pcp_map_resp *r, const uint8_t *buf,
		      size_t len);
/* Does r answer q? The nonce, protocol and internal port must be ours; a
 * success must carry an external address of the client's family and a
 * non-zero port. 0 or ZT_EINVAL. */
int zt_pcp_match(const struct zt_pcp_map_req *q,
		 const struct zt_pcp_map_resp *r);
const char *zt_pcp_result_name(unsigned result);

/* The default IPv4 gateway in the text of /proc/net/route (the route to
 * 0.0.0.0/0 that is up and has a gateway, the lowest metric if several).
 * Addresses there are in host byte order as the kernel printed them.
 * 0 and *gw (port 0), or ZT_ENOTFOUND. */
int zt_pcp_route_gw(const char *text, size_t len, struct zt_addr *gw);

#endif
