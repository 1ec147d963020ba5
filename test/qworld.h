/* Two QUIC endpoints (three sides) in one process, no sockets, for
 * unit_quic.c and unit_quiclim.c: packets move between the sides through
 * in-memory "mem" paths and the clock is the test's. setup() makes a CA and
 * the certificates the tests use in a scratch directory; a side is an
 * endpoint with its TLS context and the record of what its connections
 * reported. */
#ifndef ZT_TEST_QWORLD_H
#define ZT_TEST_QWORLD_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrl.h"
#include "quic.h"

#define MAXQ 512
#define NSIDE 3

struct pkt {
	int to; /* endpoint index */
	struct sockaddr_in from, dst;
	size_t len;
	uint8_t data[1500];
};

struct side {
	struct zt_ep *ep;
	struct zt_tls tls;
	struct zt_pathio pio;
	struct zt_qconn *conn; /* last established */
	int established, closed;
	struct zt_close_info ci;
	struct zt_ctrl_reader rd;
	struct zt_ctrl_msg last;
	int got_msg;
	int64_t sid;
	int peer_resets, streams_closed, closed_reset;
	uint64_t reset_code, closed_code;
	struct zt_pathio *pios; /* more local addresses (source ports) */
	int npios;
	/* Raw mode (flow control test): bytes are counted, not parsed, and
	 * only stream live_sid is consumed; the others stall. */
	int raw;
	int64_t live_sid;
	size_t got_stalled, got_live;
	/* The next connection established here moves to these ops. */
	const struct zt_qconn_ops *rebind;
	void *rebind_owner;
	struct zt_qconn *rebound;
};

struct world {
	struct side s[NSIDE];
	struct pkt *q;
	size_t nq;
	uint64_t now;
	char dir[64];
	int drop_all;
	unsigned drop_to;  /* bit i: packets to side i are lost... */
	int pass_retry;    /* ...except Retry packets */
	size_t retries, resets; /* sent by side 0 */
};

/* cmocka group setup and teardown: *state is the world. */
int setup(void **state);
int teardown(void **state);

/* Side i: an endpoint at 10.0.0.(i+1):4433 with certificate cert (a file
 * name made by setup), accepting the roles in accept, Retry on or off. */
void side_init(struct world *w, int i, const char *cert, unsigned accept,
	       int retry);
void side_free(struct side *s);
/* Moves packets and time until nothing is in flight or `ms` passed. */
void run(struct world *w, int ms);
/* Side 1 dials side 0 as a relay, reporting to side 1. */
struct zt_qconn *connect_to_relay(struct world *w);

/* For the flood tests: no packets queued or dropped, counters at 0. */
void world_reset(struct world *w);
/* p as a local address ip:port of the mem path. */
void pio_at(struct zt_pathio *p, uint32_t ip, uint16_t port);
/* Side i dials side 0 from the local address pio. */
void dial(struct world *w, int i, struct zt_pathio *pio);

#endif
