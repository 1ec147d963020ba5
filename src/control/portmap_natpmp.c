/* The NAT-PMP backend (RFC 6886) on libnatpmp, which is non-blocking by
 * design: its socket (connected to the default gateway, port 5351) is
 * polled on the loop, its retransmissions run on a timer. */
#define ENABLE_STRNATPMPERR 1
#include <natpmp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "portmap.h"

#define WAIT_MS 3000 /* libnatpmp retries at 250 ms, 500, 1 s, 2 s... */

enum { IDLE, ASK_ADDR, ASK_MAP };

struct pm_natpmp {
	natpmp_t np;
	int open;         /* np holds a socket, poll watches it */
	uv_poll_t *poll;  /* one per socket: freed when it is closed */
	int failed;       /* the last request: the gateway is looked up anew */
	uv_timer_t retry; /* libnatpmp's retransmissions, and our deferrals */
	int has_timer;
	int step;
	uint32_t seq, lease;
	uint16_t port, want;
	uint64_t asked_at;
	struct zt_addr pub;
	char why[128]; /* an answer that failed before it was sent */
};

static void done(struct zt_portmap *pm, int ok, const char *why)
{
	struct pm_natpmp *n = pm->np;
	struct zt_pmap_answer a = { .ok = ok, .why = why };

	if (ok) {
		a.ext = n->pub;
		a.lease_s = n->lease;
	}
	n->step = IDLE;
	n->failed = !ok;
	if (n->has_timer)
		uv_timer_stop(&n->retry);
	zt_portmap_answer(pm, n->seq, &a);
}

static void fail(struct zt_portmap *pm, int rv)
{
	struct pm_natpmp *n = pm->np;

	snprintf(n->why, sizeof(n->why), "NAT-PMP: %s%s%s", strnatpmperr(rv),
		 rv == NATPMP_ERR_RECVFROM ? ": " : "",
		 rv == NATPMP_ERR_RECVFROM ? strerror(errno) : "");
	done(pm, 0, n->why);
}

static void rearm(struct zt_portmap *pm);

/* A response, or the time to retransmit. */
static void step(struct zt_portmap *pm)
{
	struct pm_natpmp *n = pm->np;
	natpmpresp_t r;
	int rv;

	if (n->step == IDLE)
		return;
	rv = readnatpmpresponseorretry(&n->np, &r);
	if (rv == NATPMP_TRYAGAIN) {
		rearm(pm);
		return;
	}
	if (rv < 0) {
		fail(pm, rv);
		return;
	}
	if (n->step == ASK_ADDR && r.type == NATPMP_RESPTYPE_PUBLICADDRESS) {
		n->pub.family = AF_INET;
		memcpy(n->pub.ip, &r.pnu.publicaddress.addr, 4);
		n->step = ASK_MAP;
		rv = sendnewportmappingrequest(&n->np, NATPMP_PROTOCOL_UDP,
					       n->port, n->want, n->lease);
		if (rv < 0)
			fail(pm, rv);
		else
			rearm(pm);
		return;
	}
	if (n->step == ASK_MAP && r.type == NATPMP_RESPTYPE_UDPPORTMAPPING &&
	    r.pnu.newportmapping.privateport == n->port) {
		n->pub.port = r.pnu.newportmapping.mappedpublicport;
		n->lease = r.pnu.newportmapping.lifetime;
		done(pm, 1, NULL);
		return;
	}
	/* Not what we asked: a stale answer; ours may still come. */
	rearm(pm);
}

static void retry_cb(uv_timer_t *t)
{
	struct zt_portmap *pm = t->data;
	struct pm_natpmp *n = pm->np;

	if (n->why[0] && n->step != IDLE) {
		done(pm, 0, n->why);
		return;
	}
	step(pm);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
	step(p->data);
}

static void rearm(struct zt_portmap *pm)
{
	struct pm_natpmp *n = pm->np;
	struct timeval tv;
	uint64_t ms;

	/* Past our wait the machine has moved on: stop retransmitting. */
	if (uv_now(pm->loop) - n->asked_at > WAIT_MS) {
		n->step = IDLE;
		return;
	}
	if (getnatpmprequesttimeout(&n->np, &tv) < 0)
		tv.tv_sec = 0, tv.tv_usec = 250000;
	ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	uv_timer_start(&n->retry, retry_cb, ms + 1, 0);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void close_gw(struct pm_natpmp *n)
{
	if (!n->open)
		return;
	/* uv_close stops the poll now: the fd may go. */
	uv_close((uv_handle_t *)n->poll, free_handle);
	n->poll = NULL;
	closenatpmp(&n->np);
	n->open = 0;
}

/* The socket to the default gateway, which libnatpmp reads when it opens
 * one: after a failure (another network, a new router) it is found anew. */
static int open_gw(struct zt_portmap *pm)
{
	struct pm_natpmp *n = pm->np;
	int rv;

	if (n->open && !n->failed)
		return 0;
	close_gw(n);
	if (!(n->poll = malloc(sizeof(*n->poll))))
		return NATPMP_ERR_SOCKETERROR;
	rv = initnatpmp(&n->np, 0, 0);
	if (rv < 0) {
		free(n->poll);
		n->poll = NULL;
		return rv;
	}
	uv_poll_init(pm->loop, n->poll, n->np.s);
	n->poll->data = pm;
	uv_poll_start(n->poll, UV_READABLE, poll_cb);
	n->open = 1;
	return 0;
}

static void request(struct zt_portmap *pm, uint32_t seq, uint16_t port,
		    uint16_t want_ext, uint32_t lease_s)
{
	struct pm_natpmp *n = pm->np;
	int rv;

	if (!n->has_timer) {
		uv_timer_init(pm->loop, &n->retry);
		n->retry.data = pm;
		n->has_timer = 1;
	}
	n->seq = seq;
	n->port = port;
	n->want = want_ext;
	n->lease = lease_s;
	n->asked_at = uv_now(pm->loop);
	n->why[0] = 0;
	n->step = ASK_ADDR;
	if ((rv = open_gw(pm)) == 0)
		rv = sendpublicaddressrequest(&n->np);
	if (rv < 0) {
		/* Answered on the next turn: never from inside a request. */
		snprintf(n->why, sizeof(n->why), "NAT-PMP: %s",
			 strnatpmperr(rv));
		uv_timer_start(&n->retry, retry_cb, 0, 0);
		return;
	}
	rearm(pm);
}

static void remove_map(struct zt_portmap *pm, uint16_t port, uint16_t ext_port)
{
	struct pm_natpmp *n = pm->np;

	/* Lifetime 0 and external port 0 delete the mapping of port
	 * (RFC 6886, 3.4); one datagram, not waited for. */
	n->step = IDLE;
	if (n->open)
		sendnewportmappingrequest(&n->np, NATPMP_PROTOCOL_UDP, port, 0,
					  0);
}

static int init(struct zt_portmap *pm)
{
	struct pm_natpmp *n = calloc(1, sizeof(*n));

	if (!n)
		return ZT_ENOMEM;
	pm->np = n;
	return 0;
}

static void close_np(struct zt_portmap *pm)
{
	struct pm_natpmp *n = pm->np;

	if (!n)
		return;
	if (n->has_timer)
		uv_close((uv_handle_t *)&n->retry, NULL);
	close_gw(n);
}

static void free_np(struct zt_portmap *pm)
{
	free(pm->np);
	pm->np = NULL;
}

const struct zt_pmback_ops zt_pm_natpmp_ops = {
	.name = "natpmp",
	.wait_ms = WAIT_MS,
	.init = init,
	.request = request,
	.remove = remove_map,
	.close = close_np,
	.free = free_np,
};
