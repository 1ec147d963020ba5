/* The PCP backend (RFC 6887), tried first: PCP is NAT-PMP's successor,
 * a gateway that speaks both answers both, and one that speaks NAT-PMP
 * only answers a PCP request at once with its unsupported-version error
 * (RFC 6887, 9), which fails this backend without waiting, so NAT-PMP
 * comes next at the cost of one round trip. A uv_udp socket connected to
 * the default gateway's port 5351: the kernel drops what comes from any
 * other address or port (checked again here), and an ICMP port
 * unreachable (no PCP server) fails the request at once. The codec and
 * its checks are wire/pcp.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "err.h"
#include "pcp.h"
#include "portmap.h"

/* Retransmissions (RFC 6887, 8.1.1): IRT 3 s, doubling, each +-10 %;
 * we stop at our answer timeout, the machine moves on at its own. */
#define WAIT_MS 4000
#define IRT_MS 3000

struct pm_pcp {
	uv_udp_t *udp; /* freed when closed: a new one per gateway */
	int open, failed, busy;
	struct zt_addr gw;
	struct zt_pcp_map_req q;
	int has_nonce; /* q.nonce names the mapping we hold or ask for */
	uv_timer_t timer;
	int has_timer;
	uint32_t seq;
	uint64_t asked_at, rt_ms;
	char why[128];
};

static void done(struct zt_portmap *pm, int ok, const struct zt_addr *ext,
		 uint32_t lease, const char *why)
{
	struct pm_pcp *p = pm->pcp;
	struct zt_pmap_answer a = { .ok = ok, .why = why };

	if (ok) {
		a.ext = *ext;
		a.lease_s = lease;
	}
	p->busy = 0;
	p->failed = !ok;
	uv_timer_stop(&p->timer);
	zt_portmap_answer(pm, p->seq, &a);
}

static void failf(struct zt_portmap *pm, const char *fmt, const char *s)
{
	struct pm_pcp *p = pm->pcp;

	snprintf(p->why, sizeof(p->why), fmt, s);
	done(pm, 0, NULL, 0, p->why);
}

/* 0 or a libuv error. */
static int send_req(struct pm_pcp *p)
{
	uint8_t msg[ZT_PCP_MAP_LEN];
	int n = zt_pcp_map_encode(&p->q, msg, sizeof(msg));
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);

	int rv;

	if (n < 0)
		return UV_EINVAL;
	rv = uv_udp_try_send(p->udp, &b, 1, NULL);
	return rv == n ? 0 : rv < 0 ? rv : UV_EIO;
}

/* The answer to our request, or not ours (ignored: ours may still come). */
static void on_msg(struct zt_portmap *pm, const uint8_t *buf, size_t len)
{
	struct pm_pcp *p = pm->pcp;
	struct zt_pcp_map_resp r;
	int rv = zt_pcp_map_decode(&r, buf, len);

	if (rv == ZT_EVERSION) {
		failf(pm, "PCP: %s", "the gateway speaks another version");
		return;
	}
	if (rv != 0 || zt_pcp_match(&p->q, &r) != 0)
		return;
	if (r.result != ZT_PCP_SUCCESS) {
		failf(pm, "PCP: %s", zt_pcp_result_name(r.result));
		return;
	}
	done(pm, 1, &r.ext, r.lifetime_s, NULL);
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	static char buf[ZT_PCP_MAX_LEN + 4];

	(void)h;
	(void)size;
	*b = uv_buf_init(buf, sizeof(buf));
}

static void recv_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *b,
		    const struct sockaddr *from, unsigned flags)
{
	struct zt_portmap *pm = u->data;
	struct pm_pcp *p = pm->pcp;
	struct zt_addr src;

	if (!p->busy)
		return;
	if (n < 0) {
		/* ICMP port unreachable: no PCP server there. */
		failf(pm, "PCP: %s", uv_strerror((int)n));
		return;
	}
	if (n == 0 || !from || (flags & UV_UDP_PARTIAL) ||
	    zt_addr_from_sockaddr(&src, from) != 0 ||
	    !zt_addr_equal(&src, &p->gw))
		return;
	on_msg(pm, (const uint8_t *)b->base, (size_t)n);
}

/* RT = (1 + RAND) * IRT, then (1 + RAND) * 2 * RTprev, RAND in
 * [-0.1, 0.1] (RFC 6887, 8.1.1). */
static uint64_t jitter(uint64_t ms)
{
	uint16_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = 32768;
	return ms * (900 + (uint64_t)r % 201) / 1000;
}

static void timer_cb(uv_timer_t *t)
{
	struct zt_portmap *pm = t->data;
	struct pm_pcp *p = pm->pcp;
	uint64_t next, elapsed;
	int rv;

	if (!p->busy)
		return;
	if (p->why[0]) {
		done(pm, 0, NULL, 0, p->why);
		return;
	}
	elapsed = uv_now(pm->loop) - p->asked_at;
	/* Past our wait the machine has moved on: stop retransmitting. */
	if (elapsed >= WAIT_MS) {
		p->busy = 0;
		return;
	}
	if ((rv = send_req(p)) != 0) {
		failf(pm, "PCP: send: %s", uv_strerror(rv));
		return;
	}
	p->rt_ms = jitter(2 * p->rt_ms);
	next = p->rt_ms < WAIT_MS - elapsed ? p->rt_ms : WAIT_MS - elapsed;
	uv_timer_start(&p->timer, timer_cb, next, 0);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void close_gw(struct pm_pcp *p)
{
	if (!p->open)
		return;
	uv_close((uv_handle_t *)p->udp, free_handle);
	p->udp = NULL;
	p->open = 0;
}

static int read_gw(struct zt_addr *gw)
{
	char text[8192];
	FILE *f = fopen("/proc/net/route", "r");
	size_t n;

	if (!f)
		return ZT_EIO;
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	return zt_pcp_route_gw(text, n, gw);
}

/* A socket connected to the default gateway, looked up anew after a
 * failure (another network, a new router); q.client is the address the
 * gateway sees us at. */
static int open_gw(struct zt_portmap *pm, const char **why)
{
	struct pm_pcp *p = pm->pcp;
	struct sockaddr_storage ss;
	struct zt_addr gw;
	int len = sizeof(ss), rv;

	if (p->open && !p->failed)
		return 0;
	close_gw(p);
	*why = "no default gateway";
	if ((rv = read_gw(&gw)) != 0)
		goto out;
	gw.port = ZT_PCP_PORT;
	/* Another gateway: another mapping, another nonce. The same one
	 * after a failure: what it may hold is still named by ours. */
	if (!zt_addr_equal(&gw, &p->gw))
		p->has_nonce = 0;
	p->gw = gw;
	*why = "out of memory";
	rv = ZT_ENOMEM;
	if (!(p->udp = malloc(sizeof(*p->udp))))
		goto out;
	uv_udp_init(pm->loop, p->udp);
	p->udp->data = pm;
	p->open = 1;
	*why = "socket";
	rv = ZT_EIO;
	zt_addr_to_sockaddr(&p->gw, &ss);
	if (uv_udp_connect(p->udp, (struct sockaddr *)&ss) != 0 ||
	    uv_udp_getsockname(p->udp, (struct sockaddr *)&ss, &len) != 0 ||
	    zt_addr_from_sockaddr(&p->q.client, (struct sockaddr *)&ss) != 0 ||
	    uv_udp_recv_start(p->udp, alloc_cb, recv_cb) != 0)
		goto out;
	rv = 0;
out:
	if (rv != 0)
		close_gw(p);
	return rv;
}

static void request(struct zt_portmap *pm, uint32_t seq, uint16_t port,
		    uint16_t want_ext, uint32_t lease_s)
{
	struct pm_pcp *p = pm->pcp;
	const char *why = NULL;
	int rv;

	if (!p->has_timer) {
		uv_timer_init(pm->loop, &p->timer);
		p->timer.data = pm;
		p->has_timer = 1;
	}
	p->seq = seq;
	p->busy = 1;
	p->why[0] = 0;
	p->asked_at = uv_now(pm->loop);
	p->rt_ms = jitter(IRT_MS);
	if (open_gw(pm, &why) != 0) {
		snprintf(p->why, sizeof(p->why), "PCP: %s", why);
	} else {
		/* A renewal keeps the nonce: it names the mapping. */
		if (!p->has_nonce && getrandom(p->q.nonce, ZT_PCP_NONCE_LEN,
					       0) != ZT_PCP_NONCE_LEN)
			snprintf(p->why, sizeof(p->why), "PCP: no random");
		p->has_nonce = !p->why[0];
		p->q.lifetime_s = lease_s;
		p->q.proto = ZT_PCP_PROTO_UDP;
		p->q.internal_port = port;
		memset(&p->q.suggest, 0, sizeof(p->q.suggest));
		p->q.suggest.port = want_ext;
		if (!p->why[0] && (rv = send_req(p)) != 0)
			snprintf(p->why, sizeof(p->why), "PCP: send: %s",
				 uv_strerror(rv));
	}
	/* A failure is answered on the next turn, never from inside. */
	uv_timer_start(&p->timer, timer_cb, p->why[0] ? 0 : p->rt_ms, 0);
}

static void remove_map(struct zt_portmap *pm, uint16_t port, uint16_t ext_port)
{
	struct pm_pcp *p = pm->pcp;

	/* Lifetime 0 with the nonce of the mapping deletes it (RFC 6887,
	 * 15); one datagram, not waited for. */
	(void)ext_port;
	p->busy = 0;
	if (p->has_timer)
		uv_timer_stop(&p->timer);
	if (!p->open || !p->has_nonce)
		return;
	p->q.lifetime_s = 0;
	p->q.internal_port = port;
	memset(&p->q.suggest, 0, sizeof(p->q.suggest));
	send_req(p);
	p->has_nonce = 0;
}

static int init(struct zt_portmap *pm)
{
	struct pm_pcp *p = calloc(1, sizeof(*p));

	if (!p)
		return ZT_ENOMEM;
	pm->pcp = p;
	return 0;
}

static void close_pcp(struct zt_portmap *pm)
{
	struct pm_pcp *p = pm->pcp;

	if (!p)
		return;
	if (p->has_timer)
		uv_close((uv_handle_t *)&p->timer, NULL);
	close_gw(p);
}

static void free_pcp(struct zt_portmap *pm)
{
	free(pm->pcp);
	pm->pcp = NULL;
}

const struct zt_pmback_ops zt_pm_pcp_ops = {
	.name = "pcp",
	.wait_ms = WAIT_MS,
	.init = init,
	.request = request,
	.remove = remove_map,
	.close = close_pcp,
	.free = free_pcp,
};
