/* The in-process test tier: a simulated network, a clock the test moves,
 * and the pieces that let the real relay, connector and agent run in one
 * process on one libuv loop, with no root and no network socket.
 *
 *   clock    The executable defines clock_gettime: CLOCK_MONOTONIC (and
 *            _COARSE, _RAW, BOOTTIME) read the virtual time, so uv_now,
 *            uv_hrtime and zt_now, hence every libuv timer and every
 *            `now` handed to the QUIC layer, follow it; other clocks
 *            (wall time, for certificate validity) are the real ones.
 *   network  Nodes with an address (a zt_pathio of kind "sim" each, the
 *            "socket" a daemon is built on), links between two nodes with
 *            latency, jitter, loss, duplication, reordering, bandwidth
 *            with a tail-drop queue and a filter of the test's per
 *            direction, NATs, and a deterministic random source (seeded
 *            splitmix64). A datagram to an address with no link is lost.
 *   driver   sim_run() turns the loop with UV_RUN_NOWAIT, delivers the
 *            datagrams that are due, and otherwise jumps the clock to the
 *            next event: the next datagram or the loop's next timer
 *            (uv_backend_timeout). While a request is in libuv's thread
 *            pool (getaddrinfo of a literal) it waits for it in real time
 *            without moving the clock. The same seed and the same
 *            datagrams give the same drops and delays; the endpoints' own
 *            randomness (TLS, connection IDs) is not seeded, so counts
 *            differ a little from run to run.
 *
 * The agent's packet source (sim_tun.c), the connector's targets
 * (sim_target.c), a minimal TCP peer for the agent's TUN side
 * (sim_tcp.c), NATs (sim_nat.c) and a relay + connector + agent lab with
 * its PKI and configs (sim_lab.c, sim_lab.h) build on this.
 *
 * A test: sim_lab_start(), then act (sim_tun_dns_query, sim_tcp_connect,
 * sim_tun_send_udp, sim_link to change a link, sim_lab_extra for a daemon
 * of a role of the test's own) and sim_run(sim, done, arg, max) until
 * done(arg) says what it waits for; check the targets' counters, the
 * roles' status (sim_lab_status) and the sim's (sim_stats). unit_sim.c
 * tests this harness, unit_inproc.c the roles on it; a test executable
 * links the zt_sim object library (test/CMakeLists.txt), which brings the
 * interposed clock_gettime. */
#ifndef ZT_SIM_H
#define ZT_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "path.h"
#include "pktsrc.h"
#include "tconn.h"
#include "types.h"

#define SIM_MS 1000000ULL
#define SIM_S 1000000000ULL

struct sim;
struct sim_node;
struct sim_nat;

/* A link's own decision about one datagram before the random ones:
 * non-zero drops it (e.g. "the first two Initials", "everything to port
 * N"), counted as lost. */
typedef int (*sim_filter_fn)(void *arg, const struct sim_node *from,
			     const struct sim_node *to, const uint8_t *data,
			     size_t len);

/* One direction of a link. Probabilities are in [0, 1]. */
struct sim_link_cfg {
	uint64_t latency_ns;
	uint64_t jitter_ns; /* uniform extra delay 0..jitter: reorders */
	double loss;
	double dup;     /* a second copy, with its own delay */
	double reorder; /* held back a further 1..4 latencies */
	/* Bandwidth: 0 is infinite. Datagrams queue before the link and
	 * leave one after the other; once the queue holds more than queue_ns
	 * of sending, new ones are dropped (tail drop; 0: never). */
	uint64_t rate_bps;
	uint64_t queue_ns;
	sim_filter_fn filter; /* NULL: none */
	void *filter_arg;
};

struct sim_stats {
	uint64_t sent, delivered, lost, duplicated, reordered, no_route;
	uint64_t filtered;    /* refused by the receiver's NAT */
	uint64_t queue_drops; /* the link's queue was full */
};

/* Where a node's datagrams go: a daemon's netio (zt_netio_input) or
 * whatever a test puts there. */
typedef void (*sim_rx_fn)(void *arg, const struct sockaddr *from,
			  socklen_t from_len, const uint8_t *data, size_t len);

struct sim_node {
	struct sim_node *next;
	struct sim *sim;
	struct zt_pathio pio; /* kind "sim"; pio.local is the address */
	struct zt_addr addr;
	sim_rx_fn rx;
	void *rx_arg;
	struct sim_stats st; /* datagrams this node sent */
	struct sim_nat *nat; /* NULL: reachable at addr by any linked node */
};

/* The virtual clock, in ns. sim_clock_set only moves forward. */
uint64_t sim_clock_now(void);
void sim_clock_set(uint64_t ns);

int sim_new(struct sim **out, uv_loop_t *loop, uint64_t seed);
void sim_free(struct sim *s);
uv_loop_t *sim_loop(struct sim *s);

/* Deterministic random numbers from the seed. */
uint64_t sim_rand(struct sim *s);
double sim_rand01(struct sim *s);

/* A node at ip (IPv4 or IPv6 literal) and port. NULL on a bad address. */
struct sim_node *sim_node_add(struct sim *s, const char *ip, uint16_t port);
void sim_node_rx(struct sim_node *n, sim_rx_fn rx, void *arg);
/* Links a and b, each direction with its own settings (ba NULL: the same
 * as ab). Linking again changes the settings of datagrams sent from then
 * on. Returns 0 or ZT_ENOMEM. */
int sim_link(struct sim *s, struct sim_node *a, struct sim_node *b,
	     const struct sim_link_cfg *ab, const struct sim_link_cfg *ba);
/* Totals over every node. */
void sim_stats(struct sim *s, struct sim_stats *out);

/* NAT (sim_nat.c). A node behind a NAT leaves with the NAT's public
 * address and a mapped port (from 20000 up, in order) and is reached from
 * outside only through a live mapping that its filter lets through; from
 * nodes behind the same NAT, at its own address. Links stay between the
 * two nodes (the NAT adds no delay). */
enum sim_nat_type {
	SIM_NAT_FULL_CONE,       /* one mapping per inside address; anyone in */
	SIM_NAT_RESTRICTED,      /* ... in only from IPs it sent to */
	SIM_NAT_PORT_RESTRICTED, /* ... in only from IP:ports it sent to */
	SIM_NAT_SYMMETRIC, /* a mapping per destination, in only from it */
};

/* A NAT at public ip; a mapping ends idle_ns after its last outbound
 * datagram (0: never). NULL on a bad address or no memory. */
struct sim_nat *sim_nat_add(struct sim *s, const char *ip, int type,
			    uint64_t idle_ns);
void sim_nat_attach(struct sim_nat *nat, struct sim_node *n);
/* The NAT forgets every mapping (a NAT reboot, a rebinding): the next
 * datagrams out get new ports, answers to the old ones are lost. */
void sim_nat_rebind(struct sim_nat *nat);
/* Mappings alive now (for tests of the NAT itself). */
size_t sim_nat_mappings(struct sim_nat *nat);

/* Runs until done(arg) returns non-zero (checked after every loop turn;
 * done NULL: never) or the virtual clock has moved max_ns. Returns 1
 * when done, 0 when the time ran out (the clock is then exactly max_ns
 * later), -1 when nothing is left to happen (no datagram, no timer: the
 * clock is moved max_ns all the same). */
int sim_run(struct sim *s, int (*done)(void *arg), void *arg, uint64_t max_ns);

/* --- the agent's packet source (sim_tun.c) --- */

struct sim_pkt {
	struct sim_pkt *next;
	size_t len;
	uint8_t data[];
};

/* Set as zt_env.pktsrc_user with zt_env.pktsrc = &sim_tun_ops. Packets
 * to the agent wait in a queue signalled by an eventfd (what the agent's
 * loop polls); the agent's packets go to out() at once. Routes are only
 * recorded: nothing touches the host. */
struct sim_tun {
	int efd;
	struct sim_pkt *head, *tail;
	void (*out)(void *arg, const uint8_t *p, size_t n);
	void *out_arg;
	struct zt_cidr routes[ZT_PKTSRC_MAX_ROUTES];
	size_t n_routes;
	uint64_t to_agent, from_agent;
};

extern const struct zt_pktsrc_ops sim_tun_ops;
void sim_tun_init(struct sim_tun *t);
void sim_tun_free(struct sim_tun *t);
/* One IP packet to the agent (copied). Returns 0 or ZT_ENOMEM. */
int sim_tun_send(struct sim_tun *t, const uint8_t *p, size_t n);
/* A UDP packet from the tunnel address (100.64.0.1) to the agent. */
int sim_tun_send_udp(struct sim_tun *t, uint16_t sport, uint32_t dst_ip,
		     uint16_t dport, const uint8_t *payload, size_t n);
/* A DNS A query for name, from sport, to the agent's stub. */
int sim_tun_dns_query(struct sim_tun *t, uint16_t sport, uint16_t id,
		      const char *name);

/* --- the connector's targets (sim_target.c) --- */

enum sim_target_kind {
	SIM_TARGET_ECHO,   /* TCP: every byte back, FIN after the peer's */
	SIM_TARGET_SINK,   /* TCP: hashes what comes; FIN after the peer's */
	SIM_TARGET_SOURCE, /* TCP: sends `size` pattern bytes, then FIN */
	SIM_TARGET_REFUSE, /* the dial fails: connection refused */
	SIM_TARGET_UDP_ECHO,
};

struct sim_target {
	struct sim_target *next;
	char host[256], port[8];
	int kind;
	uint64_t size; /* SOURCE */
	/* what happened */
	uint64_t dials, conns_open, bytes_in, bytes_out, fins_in, resets;
	wc_Sha256 sha_in; /* SINK: everything received, in order */
};

/* Set as zt_env.targets_user with zt_env.targets = &sim_target_ops. */
struct sim_targets {
	uv_loop_t *loop;
	struct sim_target *list;
};

extern const struct zt_tconn_ops sim_target_ops;
void sim_targets_init(struct sim_targets *ts, uv_loop_t *loop);
void sim_targets_free(struct sim_targets *ts);
/* host and port as the connector dials them (the service's target). */
struct sim_target *sim_target_add(struct sim_targets *ts, const char *host,
				  const char *port, int kind);
/* The pattern SOURCE sends and tests upload: byte i of a stream. */
uint8_t sim_pattern(uint64_t i);

/* --- a TCP peer on the agent's TUN side (sim_tcp.c) --- */

enum {
	SIM_TCP_CLOSED,
	SIM_TCP_SYN_SENT,
	SIM_TCP_OPEN,
	SIM_TCP_DONE,
	SIM_TCP_RESET
};

/* The application's side of one connection into the tunnel: the TUN is
 * lossless, so it needs no congestion control; it retransmits from the
 * first unacknowledged byte after 1 s without progress. */
struct sim_tcp {
	struct sim_tun *tun;
	uv_timer_t rto;
	uint32_t dst_ip;
	uint16_t sport, dport;
	int state;
	uint32_t iss, snd_una, snd_nxt, rcv_nxt, irs;
	uint64_t snd_wnd;
	unsigned peer_wscale;
	size_t peer_mss;
	/* What we send: tx_len bytes of tx, or of sim_pattern when tx is
	 * NULL; then a FIN if close_after. */
	const uint8_t *tx;
	uint64_t tx_len;
	int close_after, fin_sent, fin_acked, peer_fin;
	/* What we received. */
	uint64_t rx_bytes;
	wc_Sha256 rx_sha;
	uint8_t rx_head[4096]; /* the first bytes, for small exchanges */
	uint64_t syn_at, established_at, reset_at, last_progress;
	uint64_t segs_in, segs_out, retransmits;
};

/* Registers the peer with the tun (its out() dispatches to the peers). */
void sim_tcp_attach(struct sim_tun *tun);
/* Starts a connection (SYN) to dst_ip:dport from 100.64.0.1:sport. c
 * must be zeroed or have been used by sim_tcp_connect before; static
 * storage is best: a failed assertion leaves it open, not dangling. */
int sim_tcp_connect(struct sim_tcp *c, struct sim_tun *tun, uv_loop_t *loop,
		    uint32_t dst_ip, uint16_t dport, uint16_t sport);
/* Queues bytes (NULL: the pattern) and, with close_after, our FIN. */
void sim_tcp_send(struct sim_tcp *c, const uint8_t *data, uint64_t len,
		  int close_after);
/* Forgets the peer and closes its timer (turning the loop until it is
 * closed, without moving the clock): c may go after this. */
void sim_tcp_free(struct sim_tcp *c);
/* Datagrams the agent sent back that were not TCP: UDP and ICMP. */
struct sim_tun_rx {
	struct sim_pkt *head, *tail;
	size_t n;
};
extern struct sim_tun_rx sim_tun_other;
void sim_tun_other_clear(void);

#endif
