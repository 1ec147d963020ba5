/* libuv glue for a QUIC endpoint: one UDP socket (a zt_pathio of kind
 * "udp"), the endpoint's timer, and a flush after every loop iteration. */
#ifndef ZT_NETIO_H
#define ZT_NETIO_H

#include <uv.h>

#include "path.h"
#include "quic.h"

struct zt_netio {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_timer_t timer;
	uv_check_t check;
	struct zt_pathio pio;
	struct zt_ep *ep;
	uint8_t rbuf[65536];
	int open_handles;
};

/* Binds the socket and starts receiving into ep. Returns 0 or ZT_EIO with a
 * log line. */
int zt_netio_init(struct zt_netio *n, uv_loop_t *loop,
		  const struct zt_addr *bind_addr, struct zt_ep *ep);
/* Sends pending packets now and re-arms the timer. */
void zt_netio_flush(struct zt_netio *n);
/* Closes the handles; the loop must run once more to finish. */
void zt_netio_close(struct zt_netio *n);
/* The bound local address (port chosen by the kernel when 0). */
void zt_netio_local(const struct zt_netio *n, struct zt_addr *a);

#endif
