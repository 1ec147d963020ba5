/* Path I/O: how a QUIC packet leaves this process. A plain UDP socket is one
 * kind; a relayed path (packets wrapped in another connection's DATAGRAM
 * frames) is another. ngtcp2 paths carry a pointer to their zt_pathio in
 * path.user_data, so the endpoint never assumes a UDP 4-tuple. */
#ifndef ZT_PATH_H
#define ZT_PATH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct zt_pathio;

struct zt_pathio_ops {
	const char *kind; /* "udp", "relay", "mem" */
	/* Sends one datagram to remote. Returns 0 or a negative ZT_E* code;
	 * a dropped datagram is not an error for QUIC (it retransmits). */
	int (*send)(struct zt_pathio *p, const struct sockaddr *remote,
		    socklen_t remote_len, const uint8_t *data, size_t len);
};

/* ⚠ Lifetime: a pathio must outlive every connection that may still hold
 * it, not only the one on it now. ngtcp2 copies path.user_data into the
 * paths it remembers: the path under validation, the fallback path, paths
 * of retired connection IDs and its history of validated paths (4 entries
 * kept 10 minutes), and may send on any of them later (a server's check of
 * the old path, a fallback after a failed validation). So a pathio is freed
 * only after those connections are freed, never when its link goes down:
 * a dead path's send() drops the datagram instead. */
struct zt_pathio {
	const struct zt_pathio_ops *ops;
	/* The local address packets on this path are tied to. For a relayed
	 * path a synthetic address, so ngtcp2 sees a distinct path. */
	struct sockaddr_storage local;
	socklen_t local_len;
	unsigned flags; /* ZT_PATHIO_* */
	void *user;
};

/* Whoever sends on this path was authenticated already (a relayed path:
 * the relay checked the link), so a server skips the Retry round trip. */
#define ZT_PATHIO_AUTHENTICATED 1u

#endif
