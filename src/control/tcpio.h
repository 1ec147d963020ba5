/* The TCP transport of relay links (docs/ARCHITECTURE.md, "UDP blocked:
 * relay links over TCP"; docs/PROTOCOL.md, "TCP transport"): a TLS 1.3
 * stream over TCP whose bytes are QUIC packets, each behind a 2-byte
 * length (wire/tcpframe.h). Each connection is a zt_pathio of the QUIC
 * endpoint with synthetic addresses of its own, like a relayed path
 * (rpath.h), so the link's QUIC connection runs on top unchanged and can
 * migrate between it and the UDP socket.
 *
 *   fd7a:7a7a:7a7a:KK00:NNNN:NNNN:0000:0 port 1
 *
 * K 4 the local end, 5 the remote end; N a per-process connection number.
 *
 * The pathio (struct zt_tcppath) is apart from the connection: ngtcp2
 * keeps pointers to paths a connection left, so it lives on in a
 * zt_tcpgrave for 10 minutes after its connection closed, dropping what
 * is sent on it. */
#ifndef ZT_TCPIO_H
#define ZT_TCPIO_H

#include <uv.h>

#include "path.h"
#include "tcpframe.h"

struct WOLFSSL_CTX;
struct WOLFSSL;
struct zt_tcpio;

enum {
	ZT_TCPPATH_LOCAL = 4,
	ZT_TCPPATH_REMOTE = 5,
};

/* Bytes waiting in a connection's write queue above which packets are
 * dropped, as a full UDP socket buffer drops them (QUIC backs off). */
#define ZT_TCPIO_WQ_MAX (256u * 1024)
/* TCP connect plus TLS handshake, whichever side. */
#define ZT_TCPIO_HS_MS 5000

struct zt_tcppath {
	struct zt_pathio pio;           /* pio.user is this */
	struct sockaddr_storage remote; /* synthetic: where QUIC sends */
	socklen_t remote_len;
	struct zt_tcpio *io; /* NULL once the connection closed */
	uint32_t id;
	int used;         /* it carried QUIC packets: ngtcp2 may hold it */
	uint64_t dead_ns; /* when io went away */
	uint64_t sent, dropped, recv;
	struct zt_tcppath *next;
};

/* Paths whose connection closed, kept until ngtcp2 can no longer use
 * them. Bounded by its owner (zt_tcpgrave_full). */
struct zt_tcpgrave {
	struct zt_tcppath *head;
	size_t n;
	uint32_t next_id;
};

void zt_tcpgrave_init(struct zt_tcpgrave *g);
/* A new path (not in the grave) with the next synthetic addresses, or
 * NULL. flags: ZT_PATHIO_*. */
struct zt_tcppath *zt_tcpgrave_path(struct zt_tcpgrave *g, unsigned flags);
/* Takes p, whose connection is gone: freed at once when it never carried
 * QUIC, else after 10 minutes (a later call frees what expired). */
void zt_tcpgrave_bury(struct zt_tcpgrave *g, struct zt_tcppath *p,
		      uint64_t now);
/* Frees everything; only once no connection of the endpoint can send. */
void zt_tcpgrave_free(struct zt_tcpgrave *g);
/* 1 when the synthetic address is one of ours (a TCP path). */
int zt_tcppath_is(const struct sockaddr *sa, socklen_t len);

enum zt_tcpio_state {
	ZT_TCPIO_CONNECTING = 0, /* client: TCP connect */
	ZT_TCPIO_HANDSHAKE,      /* TLS */
	ZT_TCPIO_UP,             /* packets both ways */
	ZT_TCPIO_CLOSED,         /* handles closing; the owner let go */
};

struct zt_tcpio_ops {
	/* TLS done (and, on a client, the server's name checked). */
	void (*up)(struct zt_tcpio *t, void *owner);
	/* One QUIC packet from the peer. */
	void (*packet)(struct zt_tcpio *t, const uint8_t *data, size_t len,
		       void *owner);
	/* It failed or the peer closed: the last call; t is freed later. */
	void (*closed)(struct zt_tcpio *t, const char *why, void *owner);
};

struct zt_tcpio {
	int state;
	int server;
	uv_tcp_t tcp;
	uv_timer_t timer; /* handshake, then idle */
	uv_connect_t creq;
	unsigned handles; /* open libuv handles: freed at 0 once closed */
	struct WOLFSSL *ssl;
	struct zt_tcppath *path;
	const struct zt_tcpio_ops *ops;
	void *owner;
	struct sockaddr_storage peer; /* the real TCP peer */
	uint64_t idle_ms;             /* 0: no idle timeout */
	uint64_t last_rx_ms;
	uint64_t dropped_wq; /* packets the write queue refused */
	const uint8_t *in;   /* ciphertext not yet read by wolfSSL */
	size_t in_len;
	char host[256]; /* client: the name the certificate must carry */
	char why[320];
	struct zt_tcpf_rd rd;
	uint8_t plain[16384];
};

/* Client: TCP connect to remote, then TLS with ctx, checking the server's
 * certificate against host. The connection takes path (path->io). Returns
 * the connection or NULL (out of memory, or a connect error, logged). */
struct zt_tcpio *zt_tcpio_connect(uv_loop_t *loop, struct WOLFSSL_CTX *ctx,
				  const struct sockaddr *remote,
				  const char *host, struct zt_tcppath *path,
				  const struct zt_tcpio_ops *ops, void *owner);
/* Server: accepts a connection from listener and starts TLS with ctx.
 * Returns it, or NULL (the caller refuses the connection: out of memory,
 * or the socket failed). */
struct zt_tcpio *zt_tcpio_accept(uv_stream_t *listener, struct WOLFSSL_CTX *ctx,
				 struct zt_tcppath *path, uint64_t idle_ms,
				 const struct zt_tcpio_ops *ops, void *owner);
/* Accepts the pending connection and closes it at once: libuv accepts
 * nothing more until the pending one is taken. */
void zt_tcpio_refuse(uv_stream_t *listener);
/* Closes t without a callback; its path is detached (path->io NULL) and
 * stays the owner's to bury. t is freed once its handles closed. */
void zt_tcpio_close(struct zt_tcpio *t);
/* Write queue bytes now (status). */
size_t zt_tcpio_queued(const struct zt_tcpio *t);

#endif
