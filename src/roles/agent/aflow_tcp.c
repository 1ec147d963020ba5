/* Agent TCP flows: the application's connection ends in lwIP once the
 * connector accepted; bytes go between the pcb and the flow's stream,
 * with backpressure both ways and a half-close per direction. */
#include "aflow_int.h"

#include <stdlib.h>
#include <string.h>

#include "lwip/tcp.h"

#include "flowhdr.h"
#include "log.h"

#define PEND_MIN 16384
#define TCP_SETUP_NS (30ULL * 1000000000ULL)

/* Detaches a pcb from its flow; lwIP finishes (or aborts) the close. */
static void pcb_release(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	if (tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
}

/* Both directions finished at the application: let lwIP finish the TCP
 * close on its own, and forget the pcb. */
static void flow_app_done(struct aflow *f)
{
	if (!f->pcb || !f->app_fin || !f->fin_to_app)
		return;
	pcb_release(f->pcb);
	f->pcb = NULL;
}

/* Moves connector bytes into lwIP as far as its send buffer allows; what
 * went in is credited back to the connector (backpressure). */
void aflow_tcp_drain(struct aflow *f)
{
	size_t moved = 0;

	while (f->ph && f->pcb) {
		struct pend *p = f->ph;
		size_t room = tcp_sndbuf(f->pcb), n = p->len - p->off;

		if (room == 0)
			break;
		if (n > room)
			n = room;
		if (n > 0xffff)
			n = 0xffff;
		if (tcp_write(f->pcb, p->data + p->off, (u16_t)n,
			      TCP_WRITE_FLAG_COPY) != ERR_OK)
			break;
		p->off += n;
		moved += n;
		if (p->off == p->len) {
			f->ph = p->next;
			if (!f->ph)
				f->pt = NULL;
			free(p);
		}
	}
	if (moved && f->pcb) {
		tcp_output(f->pcb);
		f->down += moved;
		if (f->s && f->s->c)
			zt_qconn_stream_consumed(f->s->c, f->sid, moved);
	}
	if (!f->ph && f->conn_fin && !f->fin_to_app && f->pcb) {
		f->fin_to_app = 1;
		tcp_shutdown(f->pcb, 0, 1);
		flow_app_done(f);
	}
	if (!f->ph && f->stream_done && f->fin_to_app)
		aflow_free(f);
}

void aflow_tcp_credit(struct aflow *f)
{
	while (f->unrecved && f->pcb) {
		u16_t n = f->unrecved > 0xffff ? 0xffff : (u16_t)f->unrecved;

		tcp_recved(f->pcb, n);
		f->unrecved -= n;
	}
}

static err_t lw_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p,
		     err_t err)
{
	struct aflow *f = arg;
	struct zt_qconn *c = f && f->s ? f->s->c : NULL;

	if (!f || !c) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) {
		log_debug("flow %s: application sent FIN", f->service);
		f->app_fin = 1;
		zt_qconn_stream_send(c, f->sid, NULL, 0, 1);
		flow_app_done(f);
		return ERR_OK;
	}
	for (struct pbuf *q = p; q; q = q->next)
		zt_qconn_stream_send(c, f->sid, q->payload, q->len, 0);
	f->up += p->tot_len;
	/* The window opens again only as the connector acknowledges: a slow
	 * target slows the application. */
	f->unrecved += p->tot_len;
	if (zt_qconn_stream_buffered(c, f->sid) < A_PAUSE_ABOVE)
		aflow_tcp_credit(f);
	pbuf_free(p);
	return ERR_OK;
}

static err_t lw_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	if (arg)
		aflow_tcp_drain(arg);
	return ERR_OK;
}

static void lw_err(void *arg, err_t err)
{
	struct aflow *f = arg;

	if (!f)
		return;
	f->pcb = NULL; /* lwIP freed it */
	if (err == ERR_CLSD) {
		/* Both sides closed cleanly; our FIN is on the stream already. */
		if (f->s && f->s->c && f->sid >= 0)
			zt_qconn_stream_set_user(f->s->c, f->sid, NULL);
		aflow_log_end(f, NULL);
		f->sid = -1;
		aflow_free(f);
		return;
	}
	if (f->s && f->s->c && f->sid >= 0)
		zt_qconn_stream_reset(f->s->c, f->sid, ZT_FLOW_ERR_RESET);
	aflow_log_end(f, "reset by application");
	aflow_free(f);
}

int aflow_tcp_accepted(void *ud, struct tcp_pcb *pcb)
{
	struct zt_aflows *af = ud;
	struct zt_addr src, dst;
	struct aflow *f;

	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	if (IP_IS_V4(&pcb->local_ip)) {
		src.family = dst.family = AF_INET;
		memcpy(dst.ip, &ip_2_ip4(&pcb->local_ip)->addr, 4);
		memcpy(src.ip, &ip_2_ip4(&pcb->remote_ip)->addr, 4);
	} else {
		src.family = dst.family = AF_INET6;
		memcpy(dst.ip, ip_2_ip6(&pcb->local_ip)->addr, 16);
		memcpy(src.ip, ip_2_ip6(&pcb->remote_ip)->addr, 16);
	}
	dst.port = pcb->local_port;
	src.port = pcb->remote_port;
	f = aflow_find(af, ZT_IPPROTO_TCP, &src, &dst);
	if (!f || f->state != A_HANDSHAKE)
		return -1;
	zt_netstack_listen_unref(&af->ns, f->dst.port);
	f->state = A_OPEN;
	f->pcb = pcb;
	tcp_arg(pcb, f);
	tcp_recv(pcb, lw_recv);
	tcp_sent(pcb, lw_sent);
	tcp_err(pcb, lw_err);
	tcp_nagle_disable(pcb);
	aflow_tcp_drain(f);
	return 0;
}

/* Connector bytes for the application, after the status byte: queued, and
 * moved into lwIP as far as it takes them. */
void aflow_tcp_data(struct aflow *f, struct zt_qconn *c, int64_t sid,
		    const uint8_t *d, size_t n, int fin)
{
	struct pend *p;

	if (n && f->pt && f->pt->cap - f->pt->len >= n) {
		/* Small frames fill the last buffer rather than each costing
		 * an allocation: memory stays near the flow-control window. */
		memcpy(f->pt->data + f->pt->len, d, n);
		f->pt->len += n;
	} else if (n) {
		size_t cap = n < PEND_MIN ? PEND_MIN : n;

		p = malloc(sizeof(*p) + cap);
		if (!p) {
			zt_qconn_stream_consumed(c, sid, n);
			aflow_reset_app(f, "out of memory");
			return;
		}
		p->next = NULL;
		p->len = n;
		p->cap = cap;
		p->off = 0;
		memcpy(p->data, d, n);
		if (f->pt)
			f->pt->next = p;
		else
			f->ph = p;
		f->pt = p;
	}
	if (fin) {
		log_debug("flow %s: connector sent FIN", f->service);
		f->conn_fin = 1;
	}
	aflow_tcp_drain(f);
}

void aflow_tcp_sweep(struct aflow *f, uint64_t now)
{
	/* A flow that never got its handshake done (the application
	 * vanished, lwIP gave up). */
	if (f->state < A_OPEN && now - f->last_ns > TCP_SETUP_NS)
		aflow_reset_app(f, "handshake timed out");
}

/* rst: the application gets a RST from lwIP; otherwise the pcb is
 * detached and lwIP finishes (or aborts) the close. */
void aflow_tcp_close(struct aflow *f, int rst)
{
	struct tcp_pcb *pcb = f->pcb;

	f->pcb = NULL;
	if (!rst) {
		pcb_release(pcb);
		return;
	}
	tcp_arg(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_abort(pcb);
}
