/* A minimal TCP peer on the agent's TUN side (sim.h): what the
 * application on the user's machine would be. Written from RFC 793 with
 * its own packet builder and checksum (zt_csum_* only sums), so it does
 * not share the agent's packet code beyond the parser of what it gets.
 * The TUN is lossless and in order: no congestion control, no reassembly
 * (an out-of-order segment is dropped and acknowledged at rcv_nxt), a
 * go-back-N retransmission after 1 s without progress. */
#include "sim.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pkt.h"

#define TUN_ADDR 0x64400001u /* 100.64.0.1 */
#define OUR_MSS 4000
#define OUR_WSCALE 6 /* 65535 << 6: 4 MiB, all we ever advertise */
#define MAX_PEERS 64

static struct sim_tcp *peers[MAX_PEERS];
static size_t n_peers;
struct sim_tun_rx sim_tun_other;

void sim_tun_other_clear(void)
{
	while (sim_tun_other.head) {
		struct sim_pkt *p = sim_tun_other.head;

		sim_tun_other.head = p->next;
		free(p);
	}
	sim_tun_other.tail = NULL;
	sim_tun_other.n = 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* One segment from us; payload from the send stream at off. */
static void segment(struct sim_tcp *c, uint32_t seq, uint8_t flags,
		    uint64_t off, size_t n)
{
	uint8_t pkt[20 + 32 + OUR_MSS];
	uint8_t *tcp = pkt + 20;
	size_t hl = 20, total;
	uint32_t sum;

	memset(pkt, 0, 20 + 32);
	if (flags & ZT_TCP_SYN) {
		/* MSS, then NOP + window scale */
		tcp[20] = 2, tcp[21] = 4, put16(tcp + 22, OUR_MSS);
		tcp[24] = 1, tcp[25] = 3, tcp[26] = 3, tcp[27] = OUR_WSCALE;
		hl = 28;
	}
	for (size_t i = 0; i < n; i++)
		tcp[hl + i] = c->tx ? c->tx[off + i] : sim_pattern(off + i);
	total = 20 + hl + n;
	pkt[0] = 0x45;
	put16(pkt + 2, (uint16_t)total);
	put16(pkt + 6, 0x4000); /* DF */
	pkt[8] = 64;
	pkt[9] = ZT_IPPROTO_TCP;
	put32(pkt + 12, TUN_ADDR);
	put32(pkt + 16, c->dst_ip);
	put16(pkt + 10, zt_csum_fold(zt_csum_add(0, pkt, 20)));
	put16(tcp, c->sport);
	put16(tcp + 2, c->dport);
	put32(tcp + 4, seq);
	put32(tcp + 8, (flags & ZT_TCP_ACK) ? c->rcv_nxt : 0);
	tcp[12] = (uint8_t)((hl / 4) << 4);
	tcp[13] = flags;
	put16(tcp + 14, 0xffff);
	{
		uint8_t ph[12];

		memcpy(ph, pkt + 12, 8);
		ph[8] = 0;
		ph[9] = ZT_IPPROTO_TCP;
		put16(ph + 10, (uint16_t)(hl + n));
		sum = zt_csum_add(0, ph, sizeof(ph));
	}
	put16(tcp + 16, zt_csum_fold(zt_csum_add(sum, tcp, hl + n)));
	c->segs_out++;
	sim_tun_send(c->tun, pkt, total);
}

/* Sends what the peer's window allows, then our FIN. Returns how many
 * segments went out. */
static int try_send(struct sim_tcp *c)
{
	int sent = 0;

	if (c->state != SIM_TCP_OPEN)
		return 0;
	for (;;) {
		uint64_t off = (uint32_t)(c->snd_nxt - c->iss - 1);
		uint64_t inflight = (uint32_t)(c->snd_nxt - c->snd_una);
		uint64_t n;

		if (c->fin_sent || inflight >= c->snd_wnd)
			break;
		if (off == c->tx_len) {
			if (!c->close_after)
				break;
			segment(c, c->snd_nxt, ZT_TCP_FIN | ZT_TCP_ACK, 0, 0);
			c->snd_nxt++;
			c->fin_sent = 1;
			sent++;
			break;
		}
		n = c->tx_len - off;
		if (n > c->peer_mss)
			n = c->peer_mss;
		if (n > OUR_MSS)
			n = OUR_MSS; /* what segment() has room for */
		if (n > c->snd_wnd - inflight)
			n = c->snd_wnd - inflight;
		segment(c, c->snd_nxt, ZT_TCP_ACK | ZT_TCP_PSH, off, (size_t)n);
		c->snd_nxt += (uint32_t)n;
		sent++;
	}
	return sent;
}

static void syn_options(struct sim_tcp *c, const uint8_t *tcp, size_t hl)
{
	for (size_t i = 20; i < hl;) {
		uint8_t k = tcp[i];

		if (k == 0)
			break;
		if (k == 1 || i + 1 >= hl) {
			i++;
			continue;
		}
		if (k == 2 && tcp[i + 1] == 4 && i + 4 <= hl)
			c->peer_mss = get16(tcp + i + 2);
		if (k == 3 && tcp[i + 1] == 3 && i + 3 <= hl)
			c->peer_wscale = tcp[i + 2] > 14 ? 14 : tcp[i + 2];
		i += tcp[i + 1] ? tcp[i + 1] : 1;
	}
}

static void input(struct sim_tcp *c, const struct zt_pkt *p)
{
	const uint8_t *tcp = p->l4;
	size_t hl = (size_t)(tcp[12] >> 4) * 4;
	uint8_t fl = p->tcp_flags;
	uint64_t now = sim_clock_now();
	int ack_due = 0;

	c->segs_in++;
	if (fl & ZT_TCP_RST) {
		if (c->state != SIM_TCP_DONE && c->state != SIM_TCP_RESET) {
			c->state = SIM_TCP_RESET;
			c->reset_at = now;
		}
		return;
	}
	if (c->state == SIM_TCP_SYN_SENT) {
		if ((fl & (ZT_TCP_SYN | ZT_TCP_ACK)) !=
			    (ZT_TCP_SYN | ZT_TCP_ACK) ||
		    p->tcp_ack != c->iss + 1)
			return;
		syn_options(c, tcp, hl);
		c->irs = p->tcp_seq;
		c->rcv_nxt = c->irs + 1;
		c->snd_una = p->tcp_ack;
		c->snd_wnd = get16(tcp + 14); /* not scaled in a SYN */
		c->state = SIM_TCP_OPEN;
		c->established_at = c->last_progress = now;
		if (!try_send(c))
			segment(c, c->snd_nxt, ZT_TCP_ACK, 0, 0);
		return;
	}
	if (c->state != SIM_TCP_OPEN)
		return;
	if (fl & ZT_TCP_ACK) {
		uint32_t adv = p->tcp_ack - c->snd_una;

		if (adv && adv <= (uint32_t)(c->snd_nxt - c->snd_una)) {
			c->snd_una = p->tcp_ack;
			c->last_progress = now;
		}
		c->snd_wnd = (uint64_t)get16(tcp + 14) << c->peer_wscale;
		if (c->fin_sent && c->snd_una == c->snd_nxt)
			c->fin_acked = 1;
	}
	if (p->payload_len || (fl & ZT_TCP_FIN)) {
		ack_due = 1;
		if (p->tcp_seq == c->rcv_nxt && !c->peer_fin) {
			size_t n = p->payload_len;

			if (c->rx_bytes < sizeof(c->rx_head)) {
				size_t k = sizeof(c->rx_head) -
					   (size_t)c->rx_bytes;

				memcpy(c->rx_head + c->rx_bytes, p->payload,
				       n < k ? n : k);
			}
			wc_Sha256Update(&c->rx_sha, p->payload, (word32)n);
			c->rx_bytes += n;
			c->rcv_nxt += (uint32_t)n;
			if (fl & ZT_TCP_FIN) {
				c->rcv_nxt++;
				c->peer_fin = 1;
			}
			c->last_progress = now;
		}
	}
	if (!try_send(c) && ack_due)
		segment(c, c->snd_nxt, ZT_TCP_ACK, 0, 0);
	if (c->fin_acked && c->peer_fin)
		c->state = SIM_TCP_DONE;
}

/* The tun's out(): TCP to its peer, the rest to sim_tun_other. */
static void tun_out(void *arg, const uint8_t *data, size_t n)
{
	struct zt_pkt p;
	struct sim_pkt *q;

	(void)arg;
	if (zt_pkt_parse(&p, data, n) != ZT_PKT_OK)
		return;
	if (p.proto == ZT_IPPROTO_TCP) {
		for (size_t i = 0; i < n_peers; i++)
			if (peers[i] && peers[i]->sport == p.dst.port &&
			    peers[i]->dport == p.src.port)
				input(peers[i], &p);
		return;
	}
	if (!(q = malloc(sizeof(*q) + n)))
		return;
	q->next = NULL;
	q->len = n;
	memcpy(q->data, data, n);
	if (sim_tun_other.tail)
		sim_tun_other.tail->next = q;
	else
		sim_tun_other.head = q;
	sim_tun_other.tail = q;
	sim_tun_other.n++;
}

void sim_tcp_attach(struct sim_tun *tun)
{
	tun->out = tun_out;
	tun->out_arg = NULL;
}

void sim_tcp_free(struct sim_tcp *c);

static void rto_cb(uv_timer_t *t)
{
	struct sim_tcp *c = t->data;
	uint64_t now = sim_clock_now();

	if (now - c->last_progress < SIM_S)
		return;
	if (c->state == SIM_TCP_SYN_SENT) {
		c->last_progress = now;
		c->retransmits++;
		segment(c, c->iss, ZT_TCP_SYN, 0, 0);
	} else if (c->state == SIM_TCP_OPEN && c->snd_una != c->snd_nxt) {
		c->last_progress = now;
		c->retransmits++;
		c->snd_nxt = c->snd_una;
		c->fin_sent = 0;
		if (!c->snd_wnd)
			c->snd_wnd = 1;
		try_send(c);
	}
}

int sim_tcp_connect(struct sim_tcp *c, struct sim_tun *tun, uv_loop_t *loop,
		    uint32_t dst_ip, uint16_t dport, uint16_t sport)
{
	if (c->rto.data)
		sim_tcp_free(c); /* a test that failed left it open */
	if (n_peers == MAX_PEERS)
		return ZT_ENOMEM;
	memset(c, 0, sizeof(*c));
	c->tun = tun;
	c->dst_ip = dst_ip;
	c->dport = dport;
	c->sport = sport;
	c->iss = 0x10000000u + sport;
	c->snd_una = c->iss;
	c->snd_nxt = c->iss + 1;
	c->peer_mss = 536;
	wc_InitSha256(&c->rx_sha);
	c->state = SIM_TCP_SYN_SENT;
	c->syn_at = c->last_progress = sim_clock_now();
	peers[n_peers++] = c;
	uv_timer_init(loop, &c->rto);
	c->rto.data = c;
	uv_timer_start(&c->rto, rto_cb, 250, 250);
	segment(c, c->iss, ZT_TCP_SYN, 0, 0);
	return 0;
}

void sim_tcp_send(struct sim_tcp *c, const uint8_t *data, uint64_t len,
		  int close_after)
{
	c->tx = data;
	c->tx_len = len;
	c->close_after = close_after;
	try_send(c);
}

static void rto_closed(uv_handle_t *h)
{
	h->data = NULL;
}

void sim_tcp_free(struct sim_tcp *c)
{
	for (size_t i = 0; i < n_peers; i++)
		if (peers[i] == c)
			peers[i] = NULL;
	/* c is the caller's (often on its stack): the handle must be closed
	 * before it goes. The loop turns without moving the clock. */
	if (c->rto.data) {
		uv_close((uv_handle_t *)&c->rto, rto_closed);
		while (c->rto.data)
			uv_run(c->rto.loop, UV_RUN_NOWAIT);
	}
	wc_Sha256Free(&c->rx_sha);
}
