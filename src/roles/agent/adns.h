/* The agent's DNS forwarder: names outside the catalog go to the resolver
 * of `[dns] forward`, and its answer goes back to the application only if
 * it is really the answer to that query and hands out no address that
 * would lead into the tunnel (DNS rebinding: a page's script on a hostile
 * network reaching private services as the user). Each query has its own
 * socket (random source port), a random id, and a deadline. */
#ifndef ZT_ADNS_H
#define ZT_ADNS_H

#include <uv.h>

#include "buf.h"
#include "config.h"
#include "dns.h"
#include "types.h"

#define ZT_ADNS_SLOTS 64 /* queries in flight */
#define ZT_ADNS_TIMEOUT_NS (5ULL * 1000000000ULL)
#define ZT_ADNS_QRAW_MAX (12 + 255 + 4) /* header and question */
#define ZT_ADNS_MSG_MAX 4096
#define ZT_ADNS_LOGNAMES 16

struct zt_adns_ops {
	/* Delivers msg to the application at client as if from stub. */
	void (*reply)(void *ud, const struct zt_addr *client,
		      const struct zt_addr *stub, const uint8_t *msg, size_t n);
	/* 1 if an outside resolver may not hand out a (it leads into the
	 * tunnel or to the agent itself). */
	int (*reserved)(void *ud, const struct zt_addr *a);
};

struct zt_adns;

struct zt_adns_slot {
	uv_udp_t sock;
	struct zt_adns *f;
	int state; /* SLOT_* in adns.c */
	uint16_t id, orig_id;
	struct zt_dns_query q;
	uint8_t raw[ZT_ADNS_QRAW_MAX]; /* the application's header + question */
	struct zt_addr client, stub;
	uint64_t at;
};

struct zt_adns_stats {
	uint64_t forwarded, answered, rebind_blocked, dropped, timeouts, busy;
};

struct zt_adns {
	const struct zt_adns_ops *ops;
	void *ud;
	uv_loop_t *loop;
	int on;
	struct zt_addr upstream;
	struct sockaddr_storage to;
	uv_timer_t sweep;
	struct zt_adns_slot slot[ZT_ADNS_SLOTS];
	size_t outstanding;
	struct zt_adns_stats st;
	/* Rebinding log limit: each name once a minute, ZT_ADNS_LOGNAMES lines
	 * a minute in all. */
	struct {
		char name[256];
		uint64_t at;
	} logged[ZT_ADNS_LOGNAMES];
	unsigned log_next, log_in_window;
	uint64_t log_window, log_suppressed;
	uint8_t buf[ZT_ADNS_MSG_MAX];
	uint8_t out[ZT_ADNS_MSG_MAX];
};

/* Reads cfg (forward = refuse leaves the forwarder off). Always returns 0:
 * a forwarder that cannot start is logged and stays off. */
int zt_adns_start(struct zt_adns *f, uv_loop_t *loop,
		  const struct zt_config *cfg, const struct zt_adns_ops *ops,
		  void *ud);
/* Sends the query q (raw, len: as the application sent it) on. Returns 0,
 * or ZT_ENOTFOUND (forwarding off), ZT_EAGAIN (all slots busy),
 * ZT_ETOOBIG or ZT_EIO: the caller answers the application itself. */
int zt_adns_forward(struct zt_adns *f, const struct zt_dns_query *q,
		    const uint8_t *raw, size_t len,
		    const struct zt_addr *client, const struct zt_addr *stub);
/* Closes every handle; f must stay allocated until the loop has run the
 * close callbacks. */
void zt_adns_stop(struct zt_adns *f);
void zt_adns_status(const struct zt_adns *f, struct zt_sb *b, int json);

#endif
