/* Relayed paths and their deferred input (rpath.h). */
#include "rpath.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "err.h"
#include "log.h"
#include "rdgram.h"

/* Inner packets waiting for the next loop turn: at most what one turn
 * reads from the socket (libuv: 32 datagrams a wake-up), with room for
 * bursts; beyond that they are dropped and counted, like a full socket
 * buffer's. */
#define RINQ_SLOTS 256
#define INNER_MAX 2048 /* larger than any path MTU a relay link reaches */

static const uint8_t prefix[6] = { 0xfd, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a };

void zt_rpath_addr(struct sockaddr_storage *ss, socklen_t *len, unsigned kind,
		   unsigned link, uint32_t session, uint8_t gen)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	uint8_t *b = a->sin6_addr.s6_addr;

	memset(ss, 0, sizeof(*ss));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(1);
	memcpy(b, prefix, sizeof(prefix));
	b[6] = (uint8_t)kind;
	b[7] = (uint8_t)link;
	b[8] = (uint8_t)(session >> 24);
	b[9] = (uint8_t)(session >> 16);
	b[10] = (uint8_t)(session >> 8);
	b[11] = (uint8_t)session;
	b[12] = gen;
	*len = sizeof(*a);
}

int zt_rpath_parse(const struct sockaddr *sa, socklen_t len, unsigned *kind,
		   unsigned *link, uint32_t *session, uint8_t *gen)
{
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
	const uint8_t *b = a->sin6_addr.s6_addr;

	if (len < (socklen_t)sizeof(*a) || sa->sa_family != AF_INET6 ||
	    memcmp(b, prefix, sizeof(prefix)) != 0)
		return ZT_EINVAL;
	*kind = b[6];
	*link = b[7];
	*session = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 |
		   (uint32_t)b[10] << 8 | b[11];
	*gen = b[12];
	return 0;
}

const char *zt_rpath_str(const struct sockaddr *sa, socklen_t len, char *buf,
			 size_t cap)
{
	unsigned kind, link;
	uint32_t session;
	uint8_t gen;

	if (zt_rpath_parse(sa, len, &kind, &link, &session, &gen) != 0)
		snprintf(buf, cap, "?");
	else
		snprintf(buf, cap, "relay%u#%u/%u", link + 1, session, gen);
	return buf;
}

static int rpath_send(struct zt_pathio *pio, const struct sockaddr *remote,
		      socklen_t remote_len, const uint8_t *data, size_t len)
{
	struct zt_rpath *p = pio->user;
	uint8_t hdr[ZT_RDGRAM_HDR_MAX];
	uint32_t session = p->session;
	uint8_t gen = p->gen;
	unsigned kind, link;
	size_t n;

	if (session == 0 && (zt_rpath_parse(remote, remote_len, &kind, &link,
					    &session, &gen) != 0 ||
			     kind != ZT_RPATH_PEER))
		return ZT_EINVAL;
	n = zt_rdgram_put(hdr, sizeof(hdr), session, gen);
	/* Dropped like a datagram a full socket refuses: QUIC retransmits. */
	if (n == 0 || len > INNER_MAX || !p->link->conn ||
	    p->link->state != ZT_LINK_UP) {
		p->dropped++;
		return 0;
	}
	if (zt_qconn_send_datagram2(p->link->conn, hdr, n, data, len) == 0)
		p->sent++;
	else
		p->dropped++;
	return 0;
}

static const struct zt_pathio_ops rpath_ops = {
	.kind = "relay",
	.send = rpath_send,
};

void zt_rpath_init(struct zt_rpath *p, struct zt_relaylink *l,
		   unsigned link_idx, unsigned kind, uint32_t session,
		   uint8_t gen)
{
	memset(p, 0, sizeof(*p));
	p->pio.ops = &rpath_ops;
	p->pio.user = p;
	p->pio.flags = ZT_PATHIO_AUTHENTICATED;
	zt_rpath_addr(&p->pio.local, &p->pio.local_len, kind, link_idx,
		      kind == ZT_RPATH_AGENT ? session : 0,
		      kind == ZT_RPATH_AGENT ? gen : 0);
	p->link = l;
	p->link_idx = link_idx;
	p->session = session;
	p->gen = gen;
}

/* A slot holds one inner packet: copied once out of the link's DATAGRAM
 * (ngtcp2's buffer, valid only in the callback) and read from here by the
 * endpoint; no allocation per packet. */
struct zt_rinq_slot {
	struct zt_pathio *pio;
	struct sockaddr_in6 remote; /* synthetic addresses are IPv6 */
	size_t len;
	uint8_t data[INNER_MAX];
};

static void drain(uv_idle_t *h)
{
	struct zt_rinq *q = h->data;
	size_t todo = q->n;

	/* What arrives meanwhile waits for the next turn, as it did before
	 * the ring. A slot is given back only after the endpoint read it:
	 * a push from inside zt_ep_recv cannot overwrite it. */
	while (q->on && todo-- > 0) {
		struct zt_rinq_slot *it = &q->ring[q->head];

		zt_ep_recv(q->env->ep, it->pio, (struct sockaddr *)&it->remote,
			   sizeof(it->remote), it->data, it->len, zt_now());
		q->head = (q->head + 1) % RINQ_SLOTS;
		q->n--;
	}
	if (q->on && q->n == 0)
		uv_idle_stop(h);
	if (q->on)
		zt_netio_flush(q->env->net);
}

void zt_rinq_init(struct zt_rinq *q, const struct zt_env *env)
{
	memset(q, 0, sizeof(*q));
	q->env = env;
	/* calloc: the kernel backs only the slots a burst reaches. */
	q->ring = calloc(RINQ_SLOTS, sizeof(*q->ring));
	if (!q->ring) {
		log_warn("relayed input queue: out of memory, relayed packets "
			 "will be dropped");
		return;
	}
	uv_idle_init(env->loop, &q->idle);
	q->idle.data = q;
	q->on = 1;
}

void zt_rinq_push(struct zt_rinq *q, struct zt_pathio *pio,
		  const struct sockaddr *remote, socklen_t remote_len,
		  const uint8_t *data, size_t len)
{
	struct zt_rinq_slot *it;

	if (!q->on || q->n >= RINQ_SLOTS || len > INNER_MAX ||
	    remote_len != (socklen_t)sizeof(it->remote) ||
	    remote->sa_family != AF_INET6) {
		q->dropped++;
		return;
	}
	it = &q->ring[(q->head + q->n) % RINQ_SLOTS];
	it->pio = pio;
	memcpy(&it->remote, remote, sizeof(it->remote));
	it->len = len;
	memcpy(it->data, data, len);
	if (q->n++ == 0)
		uv_idle_start(&q->idle, drain);
}

static void closed(uv_handle_t *h)
{
	struct zt_rinq *q = h->data;

	free(q->ring);
	q->ring = NULL;
}

void zt_rinq_close(struct zt_rinq *q)
{
	if (!q->on)
		return;
	q->on = 0;
	q->n = 0;
	/* The ring goes with the handle: a drain that closed us from inside
	 * zt_ep_recv still looks at it on its way out. */
	uv_close((uv_handle_t *)&q->idle, closed);
}

size_t zt_rpath_local_candidates(const struct zt_env *env, struct zt_addr *out,
				 size_t cap)
{
	uv_interface_address_t *ifs = NULL;
	struct zt_addr local;
	size_t n = 0;
	int k = 0;

	zt_netio_local(env->net, &local);
	if (local.port == 0 || uv_interface_addresses(&ifs, &k) != 0)
		return 0;
	for (int i = 0; i < k && n < cap; i++) {
		struct zt_addr a;

		if (ifs[i].is_internal ||
		    zt_addr_from_sockaddr(
			    &a, (struct sockaddr *)&ifs[i].address.address4) !=
			    0 ||
		    a.family != local.family)
			continue;
		a.port = local.port;
		if (zt_addr_reachable(&a))
			out[n++] = a;
	}
	uv_free_interface_addresses(ifs, k);
	return n;
}
