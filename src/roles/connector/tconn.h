/* A connector's connection to one target, behind an ops table: libuv
 * sockets in the product (tconn_uv.c), an in-memory target in the
 * in-process tests (test/sim). The flow (cflow_tcp.c, cflow_dgram.c) sees
 * only this interface; resolution is part of the dial.
 *
 * The contract an implementation keeps:
 *   dial() == 0  -> dialed() exactly once, unless close() comes first;
 *   read, write, shutdown and send only after dialed() with status 0;
 *   one write and one shutdown in flight at most (the flow's rule);
 *   close()      -> no callback but closed(), exactly once: later, from
 *                   the loop, or from inside close() only when nothing
 *                   was left open (a dial that failed in dialed()). */
#ifndef ZT_TCONN_H
#define ZT_TCONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct zt_tconn;

struct zt_tconn_cbs {
	/* The dial ended: status 0 (TCP connected; UDP or ICMP socket
	 * ready), or ZT_FLOW_REFUSED / ZT_FLOW_UNREACHABLE with why. */
	void (*dialed)(struct zt_tconn *t, int status, const char *why);
	/* Bytes from the target (TCP), or one datagram (UDP, ICMP); TCP
	 * n == 0: the target's EOF. */
	void (*recv)(struct zt_tconn *t, const uint8_t *d, size_t n);
	/* TCP: the connection failed while reading (why: the error). */
	void (*failed)(struct zt_tconn *t, const char *why);
	/* TCP: the write of n bytes is complete (err NULL) or failed. */
	void (*wrote)(struct zt_tconn *t, size_t n, const char *err);
	/* TCP: our shutdown (FIN) is done (err NULL) or failed. */
	void (*shut)(struct zt_tconn *t, const char *err);
	/* After close(): the owner may free whatever holds t. */
	void (*closed)(struct zt_tconn *t);
};

struct zt_tconn_ops {
	const char *kind; /* "uv", "mem" */
	/* Resolves host and port and connects (proto ZT_IPPROTO_TCP), or
	 * opens a connected socket (ZT_IPPROTO_UDP, ZT_IPPROTO_ICMP: echo).
	 * user is the environment's (zt_env.targets_user). Returns 0, or a
	 * negative ZT_E* code with why set, and t is not open. */
	int (*dial)(struct zt_tconn *t, uv_loop_t *loop, void *user, int proto,
		    const char *host, const char *port, const char **why);
	/* TCP: reading from the target on or off (backpressure). */
	void (*read)(struct zt_tconn *t, int on);
	/* TCP: n bytes (copied); wrote() follows. Returns 0 or ZT_E* (why). */
	int (*write)(struct zt_tconn *t, const uint8_t *d, size_t n,
		     const char **why);
	/* TCP: our FIN after the last write; shut() follows. */
	int (*shutdown)(struct zt_tconn *t, const char **why);
	/* UDP, ICMP: one datagram; 0 sent, ZT_EAGAIN dropped (full). */
	int (*send)(struct zt_tconn *t, const uint8_t *d, size_t n);
	/* Ends the connection, with a TCP RST if rst and one can be sent. */
	void (*close)(struct zt_tconn *t, int rst);
};

struct zt_tconn {
	const struct zt_tconn_ops *ops;
	const struct zt_tconn_cbs *cb;
	void *owner; /* the flow */
	void *impl;  /* the implementation's state */
};

extern const struct zt_tconn_ops zt_tconn_uv_ops;

#endif
