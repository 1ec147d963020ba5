/* libuv glue for a QUIC endpoint: its one path (a UDP socket, a zt_pathio
 * of kind "udp", or a path the caller owns, e.g. the in-process tests'
 * simulated network), the endpoint's timer, and a flush after every loop
 * iteration. */
#ifndef ZT_NETIO_H
#define ZT_NETIO_H

#include <uv.h>

#include "path.h"
#include "quic.h"

/* A batch for UDP segmentation offload: up to this many bytes of packets
 * of one size to one address leave in one sendmsg (the kernel's limit is
 * 64 segments of a 64 KiB datagram). */
#define ZT_GSO_BYTES 65000
#define ZT_GSO_SEGS 64

struct zt_gso {
	struct sockaddr_storage to;
	socklen_t to_len;
	size_t seg, len; /* segment size (the last may be shorter), bytes */
	unsigned n;
	uint8_t buf[ZT_GSO_BYTES];
};

struct zt_netio {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_timer_t timer;
	uv_check_t check;
	struct zt_pathio pio;   /* the UDP kind */
	struct zt_pathio *path; /* what connections use: &pio or the caller's */
	struct zt_ep *ep;
	uint8_t rbuf[65536];
	int has_udp;
	/* Hole-punching probes arriving on the socket (NULL: dropped). */
	void (*probe)(void *user, const struct sockaddr *remote,
		      socklen_t remote_len, const uint8_t *data, size_t len);
	void *probe_user;
	/* Segmentation offload for what an endpoint flush sends (set with
	 * zt_netio_gso); off by itself when the kernel refuses it. */
	int gso, batching;
	struct zt_gso gb;
};

/* Binds the socket and starts receiving into ep. Returns 0 or ZT_EIO with a
 * log line. */
int zt_netio_init(struct zt_netio *n, uv_loop_t *loop,
		  const struct zt_addr *bind_addr, struct zt_ep *ep);
/* The same without a socket: connections use path (which outlives n), and
 * the path's owner hands its datagrams to zt_netio_input(). Returns 0. */
int zt_netio_init_path(struct zt_netio *n, uv_loop_t *loop,
		       struct zt_pathio *path, struct zt_ep *ep);
/* One datagram received on n->path (paths without a socket). */
void zt_netio_input(struct zt_netio *n, const struct sockaddr *remote,
		    socklen_t remote_len, const uint8_t *data, size_t len);
/* Sends pending packets now and re-arms the timer. */
void zt_netio_flush(struct zt_netio *n);
/* Sends one datagram that is not QUIC (a probe) on the socket's path. */
int zt_netio_send(struct zt_netio *n, const struct sockaddr *remote,
		  socklen_t remote_len, const uint8_t *data, size_t len);
/* Sends the packets of each endpoint flush to one address in as few
 * sendmsg calls as UDP segmentation offload allows (on a socket only). */
void zt_netio_gso(struct zt_netio *n, int on);
/* Closes the handles; the loop must run once more to finish. */
void zt_netio_close(struct zt_netio *n);
/* The path's local address (the bound one: port chosen by the kernel
 * when 0). */
void zt_netio_local(const struct zt_netio *n, struct zt_addr *a);

#endif
