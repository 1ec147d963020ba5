/* A connector's or agent's session with one relay: resolve, connect,
 * open the control stream, say HELLO, read control messages, and reconnect
 * with exponential backoff and jitter when the relay goes away. */
#ifndef ZT_RELAYLINK_H
#define ZT_RELAYLINK_H

#include <uv.h>

#include "config.h"
#include "ctrl.h"
#include "quic.h"
#include "tcpio.h"

struct zt_daemon;
struct zt_env;
struct zt_relaylink;

enum zt_link_state {
	ZT_LINK_IDLE = 0,
	ZT_LINK_RESOLVING,
	ZT_LINK_CONNECTING,
	ZT_LINK_UP,
	ZT_LINK_BACKOFF,
	ZT_LINK_STOPPED,
};

/* The transport a link's QUIC connection runs on. */
enum zt_link_transport {
	ZT_LINK_UDP = 0,
	ZT_LINK_TCP, /* TLS over TCP: UDP got no answer (tcpio.h) */
};

/* A link whose UDP Initial has no answer after this long also tries TCP;
 * on TCP it tries UDP again after ZT_LINK_UDP_FIRST_MS (a network that
 * dropped UDP for a moment), the wait doubling up to ZT_LINK_UDP_RETRY_MS
 * (a network that blocks it). */
#define ZT_LINK_TCP_AFTER_MS 2000
#define ZT_LINK_UDP_FIRST_MS 5000
#define ZT_LINK_UDP_RETRY_MS 20000

struct zt_relaylink_ops {
	/* Control stream open and HELLO sent. */
	void (*up)(struct zt_relaylink *l);
	/* A decoded message other than OBSERVED_ADDRESS / ERROR. Returns 0,
	 * or a ZT_APP_* code to close the connection with. */
	int (*message)(struct zt_relaylink *l, const struct zt_ctrl_msg *m);
	void (*down)(struct zt_relaylink *l);
	/* A DATAGRAM from the relay (a relayed packet). May be NULL. */
	void (*datagram)(struct zt_relaylink *l, const uint8_t *data,
			 size_t len);
};

struct zt_relaylink {
	unsigned refs; /* after stop: pending libuv callbacks */
	uint64_t watch_ping_at; /* zt_relaylink_watch's last PING */
	int silent;             /* zt_relaylink_watch closed it */
	struct zt_daemon *d;        /* the role's: role state, config */
	const struct zt_env *env;   /* what the link runs on */
	const struct zt_relaylink_ops *ops;
	struct zt_relay_endpoint relay;
	int state;
	struct zt_qconn *conn;
	int64_t sid;
	struct zt_ctrl_reader rd;
	struct zt_addr observed;
	struct zt_addr remote;
	unsigned attempts;
	uint64_t up_since_ns;
	/* Control protocol: the highest we know, lowered once when the relay
	 * refuses our HELLO's version before saying anything. */
	uint8_t version;
	int heard;  /* a message from the relay on this connection */
	uv_timer_t timer;
	uv_getaddrinfo_t gai;
	int gai_busy;
	char last_error[384];
	/* UDP blocked (relaylink.c, "TCP transport"): the QUIC handshake
	 * racing over TCP, its TCP connection and path, the paths it left. */
	int transport; /* ZT_LINK_UDP / ZT_LINK_TCP: conn's path now */
	struct zt_qconn *tconn;
	struct zt_tcpio *tcp;
	struct zt_tcppath *tpath;
	struct zt_tcpgrave grave;
	struct sockaddr_storage udp_remote; /* the relay, resolved */
	socklen_t udp_remote_len;
	uv_timer_t ttimer;     /* TCP after 2 s, UDP retries, TCP linger */
	uint64_t connect_ns;   /* when the UDP Initial went */
	uint64_t transport_ns; /* when conn got on its transport */
	uint64_t tcp_fallbacks, udp_returns, udp_tries;
	uint64_t fallback_ms, return_ms; /* the last of each: how long */
};

/* Links live on the heap: libuv may call back into one after its role
 * stopped it, so zt_relaylink_stop() frees it once those calls are done. */
struct zt_relaylink *zt_relaylink_new(struct zt_daemon *d,
				      const struct zt_relay_endpoint *relay,
				      const struct zt_relaylink_ops *ops);
void zt_relaylink_start(struct zt_relaylink *l);
/* Stops reconnecting and frees l (later); the QUIC connection is closed
 * by the daemon. */
void zt_relaylink_stop(struct zt_relaylink *l);
/* For a link that carries relayed sessions in use, called every few
 * hundred ms: PINGs the relay after 1 s without a packet from it, and
 * closes the link after 3 s (linklive.c). */
void zt_relaylink_watch(struct zt_relaylink *l, uint64_t now);
/* Sends a control message on the link's stream. Returns 0 or ZT_E*. */
int zt_relaylink_send(struct zt_relaylink *l, const struct zt_ctrl_msg *m);

const char *zt_link_state_name(int state);
const char *zt_link_transport_name(int transport);

/* Shared by roles: send a message on a stream, close a peer on a protocol
 * error with an ERROR message first. */
int zt_ctrl_send(struct zt_qconn *c, int64_t sid, const struct zt_ctrl_msg *m);
void zt_ctrl_fail(struct zt_qconn *c, int64_t sid, uint32_t app_error,
		  const char *text);

/* Delay before reconnect attempt n (0-based): exponential from 500 ms,
 * capped at 15 s, with the upper half randomised by rnd (0..2^32-1) so
 * peers do not reconnect in lockstep after a relay restart. */
uint64_t zt_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
