/* Agent TCP flows: the application's connection is a netstack connection
 * (netstack.h) from its SYN on; it is accepted once the connector did,
 * then bytes go between it and the flow's stream, with backpressure both
 * ways and a half-close per direction. */
#include "aflow_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "flowhdr.h"
#include "log.h"

#define PEND_MIN 16384
#define TCP_SETUP_NS (30ULL * 1000000000ULL)

/* The connection once the application completed its handshake, and
 * until both directions finished. */
static struct zt_ns_conn *live(const struct aflow *f)
{
	return f->state == A_OPEN ? f->conn : NULL;
}

/* Both directions finished at the application: let lwIP finish the TCP
 * close on its own, and forget the connection. */
static void flow_app_done(struct aflow *f)
{
	if (!live(f) || !f->app_fin || !f->fin_to_app)
		return;
	zt_ns_conn_close(f->conn);
	f->conn = NULL;
}

/* Moves connector bytes into lwIP as far as its send buffer allows; what
 * went in is credited back to the connector (backpressure). */
void aflow_tcp_drain(struct aflow *f)
{
	size_t moved = 0;

	while (f->ph && live(f)) {
		struct pend *p = f->ph;
		ssize_t n = zt_ns_conn_write(f->conn, p->data + p->off,
					     p->len - p->off);

		if (n <= 0)
			break;
		p->off += (size_t)n;
		moved += (size_t)n;
		if (p->off < p->len)
			break; /* no room for the rest */
		f->ph = p->next;
		if (!f->ph)
			f->pt = NULL;
		free(p);
	}
	if (moved && live(f)) {
		zt_ns_conn_flush(f->conn);
		f->down += moved;
		if (f->s && f->s->c)
			zt_qconn_stream_consumed(f->s->c, f->sid, moved);
	}
	if (!f->ph && f->conn_fin && !f->fin_to_app && live(f)) {
		f->fin_to_app = 1;
		zt_ns_conn_shutdown(f->conn);
		flow_app_done(f);
	}
	if (!f->ph && f->stream_done && f->fin_to_app)
		aflow_free(f);
}

void aflow_tcp_credit(struct aflow *f)
{
	if (f->unrecved && live(f)) {
		zt_ns_conn_recved(f->conn, f->unrecved);
		f->unrecved = 0;
	}
}

static void conn_established(void *ud)
{
	struct aflow *f = ud;

	assert(f->state == A_HANDSHAKE);
	f->state = A_OPEN;
	aflow_tcp_drain(f);
}

static void conn_data(void *ud, const struct iovec *iov, int iovcnt)
{
	struct aflow *f = ud;
	struct zt_qconn *c = f->s ? f->s->c : NULL;
	size_t n = 0;

	if (!c)
		return;
	for (int i = 0; i < iovcnt; i++) {
		zt_qconn_stream_send(c, f->sid, iov[i].iov_base, iov[i].iov_len,
				     0);
		n += iov[i].iov_len;
	}
	f->up += n;
	/* The window opens again only as the connector acknowledges: a slow
	 * target slows the application. */
	f->unrecved += n;
	if (zt_qconn_stream_buffered(c, f->sid) < A_PAUSE_ABOVE)
		aflow_tcp_credit(f);
}

static void conn_eof(void *ud)
{
	struct aflow *f = ud;
	struct zt_qconn *c = f->s ? f->s->c : NULL;

	if (!c)
		return;
	log_debug("flow %s: application sent FIN", f->service);
	f->app_fin = 1;
	zt_qconn_stream_send(c, f->sid, NULL, 0, 1);
	flow_app_done(f);
}

static void conn_sent(void *ud)
{
	aflow_tcp_drain(ud);
}

static void conn_closed(void *ud, int err)
{
	struct aflow *f = ud;

	if (f->state == A_HANDSHAKE) {
		/* The application's RST, or lwIP gave up on its ACK. */
		aflow_reset_app(f, err == ZT_ECLOSED ?
					   "application gave up before the "
					   "handshake" :
					   "handshake timed out");
		return;
	}
	zt_ns_conn_close(f->conn);
	f->conn = NULL;
	if (err == 0) {
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

static const struct zt_ns_conn_ops conn_ops = {
	.established = conn_established,
	.data = conn_data,
	.eof = conn_eof,
	.sent = conn_sent,
	.closed = conn_closed,
};

int aflow_tcp_hold(struct aflow *f, const struct zt_pkt *syn,
		   const uint8_t *raw, size_t len)
{
	return zt_ns_conn_new(&f->af->ns, syn, raw, len, &conn_ops, f,
			      &f->conn);
}

void aflow_tcp_accept(struct aflow *f)
{
	if (zt_ns_conn_accept(f->conn) != 0) {
		aflow_reset_app(f, "no listener");
		return;
	}
	f->state = A_HANDSHAKE;
	f->last_ns = uv_hrtime();
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

/* rst: the application gets a RST (a held SYN included); otherwise lwIP
 * finishes the close on its own. */
void aflow_tcp_close(struct aflow *f, int rst)
{
	if (!f->conn)
		return;
	if (rst)
		zt_ns_conn_abort(f->conn);
	else
		zt_ns_conn_close(f->conn);
	f->conn = NULL;
}
