/* Packet sources for the agent: where raw IP packets come from and go to.
 * Backends sit behind an ops table: a Linux TUN device, or a Unix socket to
 * a shim (the macOS Network Extension, or the Linux stand-in shim used in
 * tests). Framing on the shim socket: docs/PROTOCOL.md "Shim socket" (for now
 * docs/PROTOCOL.md ("Shim socket")). */
#ifndef ZT_PKTSRC_H
#define ZT_PKTSRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "types.h"

#define ZT_PKTSRC_MAX_ROUTES 64

struct zt_pktsrc_config {
	char ifname[16];             /* TUN: requested name ("" = ztun%d) */
	char shim_socket[108];       /* shim: path ztnad listens on */
	uint32_t mtu;
	struct zt_cidr addr4;        /* interface address, e.g. 100.64.0.1/32 */
	struct zt_cidr addr6;        /* family 0 = none */
	struct zt_cidr routes[ZT_PKTSRC_MAX_ROUTES];
	size_t n_routes;
	struct zt_addr dns;          /* resolver address announced to the shim */
};

struct zt_pktsrc;

struct zt_pktsrc_ops {
	const char *name;
	/* Creates and configures the device (or listens for the shim).
	 * Initialises all of *s (ops included); a backend of the caller's
	 * (tests) reads s->user, set before open, first. On failure nothing
	 * is left open. Returns 0 or ZT_E* with a log line. */
	int (*open)(struct zt_pktsrc *s, const struct zt_pktsrc_config *cfg);
	/* Applies a new route set (catalog changed); s->cfg.routes then
	 * holds the set in effect (TUN: the routes it installed; a route
	 * that failed is retried on the next call). The shim backend sends
	 * the shim a new CONFIG. Returns 0, ZT_EINVAL (more than
	 * ZT_PKTSRC_MAX_ROUTES) or ZT_EIO (some route failed, logged). */
	int (*set_routes)(struct zt_pktsrc *s, const struct zt_cidr *routes,
			  size_t n);
	/* The descriptor to poll for readability (-1 if none). It may change
	 * after read() (the shim backend polls its listening socket until the
	 * shim connects, then the connection): re-check after each read. */
	int (*fd)(struct zt_pktsrc *s);
	/* Called when fd is readable: reads one packet into buf. Returns its
	 * length, 0 when nothing (more) is available, or ZT_E*. */
	ssize_t (*read)(struct zt_pktsrc *s, uint8_t *buf, size_t cap);
	/* Writes one packet given as an iovec. Returns 0, ZT_EAGAIN (dropped:
	 * device queue full) or ZT_E*. The shim backend queues whole frames
	 * (never a partial one) and returns ZT_ECLOSED (dropped) while no
	 * shim is connected and ZT_ETOOBIG for a packet over 65535 bytes. */
	int (*write)(struct zt_pktsrc *s, const struct iovec *iov, int iovcnt);
	/* Bytes queued for the descriptor but not yet written (shim only;
	 * TUN: always 0). While non-zero, poll fd for writability too and
	 * call flush() when it is writable. */
	size_t (*pending)(struct zt_pktsrc *s);
	/* Writes what the descriptor takes of the queue. Returns 0, or
	 * ZT_ECLOSED when the connection failed (the next read() closes it
	 * and reports it). */
	int (*flush)(struct zt_pktsrc *s);
	/* Accepts a source whose open() failed or that is already closed. */
	void (*close)(struct zt_pktsrc *s);
};

struct zt_pktsrc {
	const struct zt_pktsrc_ops *ops;
	void *user;       /* the caller's, for a backend it provides (tests) */
	struct zt_pktsrc_config cfg;
	int fd;           /* TUN fd, or the accepted shim connection */
	int listen_fd;    /* shim: listening socket */
	char ifname[16];  /* TUN: actual name */
	int ifindex;
	/* shim: partial frame reassembly; bytes rpos..rlen are unread */
	uint8_t *rbuf;
	size_t rpos, rlen, rcap;
	/* shim: output queue of whole frames; wpos..wlen not yet sent */
	uint8_t *wbuf;
	size_t wpos, wlen, wcap;
};

/* Shim socket framing (docs/PROTOCOL.md ("Shim socket")): u8 type | u8 version | u16 length
 * (big-endian) | body. */
#define ZT_SHIM_HDR_LEN 4
#define ZT_SHIM_VERSION 1
#define ZT_SHIM_BODY_MAX 65535
#define ZT_SHIM_PACKET 1 /* body: one raw IPv4 or IPv6 packet */
#define ZT_SHIM_CONFIG 2 /* ztnad -> shim: key=value lines */

/* Shim socket framing: the next frame at the start of buf. Returns 1 (a
 * whole frame: its type, body and total size), 0 (incomplete: need more
 * bytes) or ZT_EVERSION (not our framing: drop the connection). Pure. */
int zt_shim_frame_next(const uint8_t *buf, size_t len, size_t *consumed,
		       uint8_t *type, const uint8_t **body, size_t *body_len);

extern const struct zt_pktsrc_ops zt_pktsrc_tun_ops;
extern const struct zt_pktsrc_ops zt_pktsrc_shim_ops;

#endif
