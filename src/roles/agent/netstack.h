/* The agent's userspace TCP (lwIP, NO_SYS) on the libuv loop. Packets the
 * policy let through go in with zt_netstack_input(); lwIP's segments come
 * out through ops->output. lwIP accepts any destination: before each packet
 * the single netif takes the packet's destination address, and listeners
 * exist only for ports with a flow waiting for its handshake. lwIP keeps its
 * pcbs in its own globals, so there is one netstack per process. */
#ifndef ZT_NETSTACK_H
#define ZT_NETSTACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

struct tcp_pcb;

struct zt_netstack_ops {
	/* One IP packet for the TUN. */
	void (*output)(void *ud, const struct iovec *iov, int iovcnt);
	/* A handshake completed on pcb. Return 0 to keep it (the callee set
	 * its callbacks), or -1 and the pcb is aborted. */
	int (*accepted)(void *ud, struct tcp_pcb *pcb);
};

struct zt_listener;

struct zt_netstack {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_check_t check;
	const struct zt_netstack_ops *ops;
	void *ud;
	struct zt_listener *listeners;
	uint8_t obuf[65536]; /* linearised output when a chain is long */
};

int zt_netstack_init(struct zt_netstack *ns, uv_loop_t *loop,
		     const struct zt_netstack_ops *ops, void *ud);
void zt_netstack_close(struct zt_netstack *ns);
/* Feeds one validated IP packet (family 4 or 6, dst in network order). */
void zt_netstack_input(struct zt_netstack *ns, const uint8_t *pkt,
		       size_t len, int version, const uint8_t *dst);
/* Keeps a listener on port while a flow waits for its handshake. */
int zt_netstack_listen_ref(struct zt_netstack *ns, uint16_t port);
void zt_netstack_listen_unref(struct zt_netstack *ns, uint16_t port);

#endif
