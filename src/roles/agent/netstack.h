/* The agent's userspace TCP (lwIP, NO_SYS) on the libuv loop, behind a
 * small connection API: no lwIP type or header leaves netstack.c.
 *
 * A connection starts as the application's SYN, which the intake parsed
 * and the policy let through: zt_ns_conn_new() holds it, no answer yet.
 * zt_ns_conn_accept() (the connector said OK) feeds that SYN to lwIP, and
 * the pcb lwIP makes for it is bound to this connection at once, so every
 * callback reaches the caller's object without a lookup. Later segments
 * of the connection go in with zt_netstack_input(); lwIP's segments come
 * out through ops->output. lwIP accepts any destination: before each
 * packet the single netif takes the packet's destination address, and
 * listeners exist only for ports with a connection in its handshake, so
 * lwIP never answers a SYN that was not accepted. lwIP keeps its pcbs in
 * its own globals, so there is one netstack per process. */
#ifndef ZT_NETSTACK_H
#define ZT_NETSTACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <uv.h>

#include "pkt.h"

struct zt_listener;
struct zt_ns_conn;

struct zt_netstack_ops {
	/* One IP packet for the TUN. */
	void (*output)(void *ud, const struct iovec *iov, int iovcnt);
};

struct zt_netstack {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_check_t check;
	const struct zt_netstack_ops *ops;
	void *ud;
	struct zt_listener *listeners;
	/* The connection whose lwIP callback runs, and whether it ended in
	 * that callback (lwIP must then hear ERR_ABRT). */
	struct zt_ns_conn *cb_conn;
	int cb_aborted;
	uint8_t obuf[65536]; /* linearised output when a chain is long */
};

int zt_netstack_init(struct zt_netstack *ns, uv_loop_t *loop,
		     const struct zt_netstack_ops *ops, void *ud);
void zt_netstack_close(struct zt_netstack *ns);
/* Feeds one validated IP packet (family 4 or 6, dst in network order). */
void zt_netstack_input(struct zt_netstack *ns, const uint8_t *pkt, size_t len,
		       int version, const uint8_t *dst);

/* What a connection tells its owner. Each callback may end the connection
 * (zt_ns_conn_close/abort) or free the owner. */
struct zt_ns_conn_ops {
	/* The application completed the handshake: writes may start. */
	void (*established)(void *ud);
	/* Application bytes. Always taken: the receive window reopens only
	 * by zt_ns_conn_recved, which is the backpressure. */
	void (*data)(void *ud, const struct iovec *iov, int iovcnt);
	/* The application's FIN, after all its bytes. */
	void (*eof)(void *ud);
	/* Sent bytes were acknowledged: there may be room to write. */
	void (*sent)(void *ud);
	/* The connection is gone in lwIP (no more callbacks; the owner still
	 * ends it with close or abort): 0 closed cleanly both ways,
	 * ZT_ECLOSED reset by the application, ZT_EIO lwIP gave up (its
	 * handshake or retransmission timeout, memory). */
	void (*closed)(void *ud, int err);
};

/* Holds the application's SYN (syn parsed from raw by the intake) for a
 * connection to syn->dst. 0 or ZT_ENOMEM, ZT_EINVAL if syn is not a SYN. */
int zt_ns_conn_new(struct zt_netstack *ns, const struct zt_pkt *syn,
		   const uint8_t *raw, size_t len,
		   const struct zt_ns_conn_ops *ops, void *ud,
		   struct zt_ns_conn **out);
/* The held SYN goes to lwIP, which answers SYN-ACK; ops->established
 * follows the application's ACK. 0, or ZT_ENOMEM (the SYN is still held:
 * abort sends the RST). */
int zt_ns_conn_accept(struct zt_ns_conn *c);
/* Once established: copies up to n bytes into lwIP's send buffer and
 * returns how many it took (0: no room now, ops->sent says when), or
 * ZT_ECLOSED. zt_ns_conn_flush sends what was written. */
ssize_t zt_ns_conn_write(struct zt_ns_conn *c, const uint8_t *d, size_t n);
void zt_ns_conn_flush(struct zt_ns_conn *c);
/* n bytes of ops->data went on: the application may send as much more. */
void zt_ns_conn_recved(struct zt_ns_conn *c, size_t n);
/* Our FIN, after the bytes written: the application reads EOF. */
int zt_ns_conn_shutdown(struct zt_ns_conn *c);
/* End the connection and free c; no callback follows. close lets lwIP
 * finish the TCP close on its own (a connection not yet established is
 * reset); abort resets it: a held SYN is answered with a RST, lwIP's
 * connection aborted (RST). */
void zt_ns_conn_close(struct zt_ns_conn *c);
void zt_ns_conn_abort(struct zt_ns_conn *c);

#endif
