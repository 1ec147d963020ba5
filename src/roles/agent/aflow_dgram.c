/* Agent UDP and ICMP echo flows: payloads as DATAGRAM frames prefixed with
 * the flow id; the flow's stream carries only the header, the connector's
 * status and the end. */
#include "aflow_int.h"

#include <stdlib.h>
#include <string.h>

#include "flowhdr.h"

#define UDP_QUEUE_MAX 32
#define UDP_IDLE_NS (60ULL * 1000000000ULL)
#define UDP_REFUSED_NS (10ULL * 1000000000ULL)

/* UDP flows carry the payload; ICMP echo flows the whole ICMP message. */
static void udp_send(struct aflow *f, const uint8_t *d, size_t n)
{
	uint8_t *buf = f->af->dgbuf;
	size_t pl;

	if (!f->s || !f->s->c || n + 8 > sizeof(f->af->dgbuf))
		return;
	pl = zt_flow_dgram_put(buf, 8, f->sid);
	memcpy(buf + pl, d, n);
	if (zt_qconn_send_datagram(f->s->c, buf, pl + n) == 0)
		f->up += n;
}

void aflow_dgram_flush(struct aflow *f)
{
	while (f->uq) {
		struct pend *p = f->uq;

		f->uq = p->next;
		udp_send(f, p->data, p->len);
		free(p);
	}
	f->uq_n = 0;
}

/* A packet of a flow that is not refused (aflow.c checks policy first). */
void aflow_dgram_packet(struct aflow *f, const struct zt_pkt *p)
{
	const uint8_t *data = p->proto == ZT_IPPROTO_UDP ? p->payload : p->l4;
	size_t dlen = p->proto == ZT_IPPROTO_UDP ? p->payload_len : p->l4_len;
	struct pend *q;

	f->last_ns = uv_hrtime();
	if (f->state == A_OPEN) {
		udp_send(f, data, dlen);
		return;
	}
	/* Until the connector said yes: a few packets wait, then drop. */
	if (f->uq_n >= UDP_QUEUE_MAX)
		return;
	q = malloc(sizeof(*q) + dlen);
	if (!q)
		return;
	q->next = NULL;
	q->len = q->cap = dlen;
	q->off = 0;
	memcpy(q->data, data, dlen);
	struct pend **pp = &f->uq;
	while (*pp)
		pp = &(*pp)->next;
	*pp = q;
	f->uq_n++;
}

/* A DATAGRAM frame's payload from the connector, for an open flow. */
void aflow_dgram_in(struct aflow *f, const uint8_t *d, size_t n)
{
	struct zt_aflows *af = f->af;
	size_t out;

	if (f->proto == ZT_IPPROTO_ICMP) {
		uint8_t *m = af->dgbuf;

		/* An echo reply: the connector's socket had its own id; the
		 * application waits for the one it sent. */
		if (n < 8 || n > sizeof(af->dgbuf) || d[0] != 0)
			return;
		memcpy(m, d, n);
		m[4] = (uint8_t)(f->src.port >> 8);
		m[5] = (uint8_t)f->src.port;
		out = zt_pkt_build_icmp(af->dgout, sizeof(af->dgout), &f->dst,
					&f->src, m, n);
	} else {
		out = zt_pkt_build_udp(af->dgout, sizeof(af->dgout), &f->dst,
				       &f->src, d, n);
	}
	if (out) {
		f->down += n;
		f->last_ns = uv_hrtime();
		aflow_write_tun(af, af->dgout, out);
	}
}

/* Idle flows end: the stream's FIN tells the connector. */
void aflow_dgram_sweep(struct aflow *f, uint64_t now)
{
	if (f->state == A_DONE && now - f->last_ns > UDP_REFUSED_NS) {
		aflow_free(f);
		return;
	}
	if (now - f->last_ns < UDP_IDLE_NS)
		return;
	if (f->s && f->s->c && f->sid >= 0) {
		zt_qconn_stream_send(f->s->c, f->sid, NULL, 0, 1);
		zt_qconn_stream_set_user(f->s->c, f->sid, NULL);
	}
	aflow_log_end(f, "idle");
	f->sid = -1;
	aflow_free(f);
}
