/* Connector TCP flows: the connection to the target and the splice between
 * it and the flow's stream, with backpressure both ways and per-direction
 * half-close (states and flags: cflow_int.h). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cflow_int.h"
#include "err.h"
#include "log.h"

struct wreq {
	uv_write_t w;
	struct cflow *f;
	size_t len;
	uint8_t data[];
};

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct cflow *f = h->data;

	/* Bytes are copied into the stream at once: one buffer serves all. */
	b->base = (char *)f->cf->rbuf;
	b->len = sizeof(f->cf->rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct cflow *f = s->data;
	struct zt_qconn *c;

	if (f->state != CF_OPEN || n == 0)
		return;
	assert(cflow_has_stream(f));
	c = f->sess->c;
	if (n == UV_EOF) {
		f->flags |= CF_DOWN_EOF;
		uv_read_stop(s);
		zt_qconn_stream_send(c, f->sid, NULL, 0, 1);
		return;
	}
	if (n < 0) {
		cflow_close(f, uv_err_name((int)n), CF_END_RESET);
		return;
	}
	f->down += (uint64_t)n;
	if (zt_qconn_stream_send(c, f->sid, (const uint8_t *)b->base,
				 (size_t)n, 0) != 0) {
		cflow_close(f, "stream closed", CF_END_RESET);
		return;
	}
	if (zt_qconn_stream_buffered(c, f->sid) > CF_PAUSE_ABOVE) {
		uv_read_stop(s);
		f->paused = 1;
	}
}

static void connected(uv_connect_t *req, int status)
{
	struct cflow *f = req->data;

	if (f->state != CF_DIAL)
		return; /* closed while connecting: ECANCELED */
	if (status != 0) {
		cflow_refuse(f, status == UV_ECONNREFUSED ? ZT_FLOW_REFUSED
							  : ZT_FLOW_UNREACHABLE,
			     uv_strerror(status));
		return;
	}
	f->connected = 1;
	cflow_set_state(f, CF_OPEN);
	uv_timer_stop(&f->timer);
	uv_tcp_nodelay(&f->tcp, 1);
	cflow_reply(f, ZT_FLOW_OK);
	uv_read_start((uv_stream_t *)&f->tcp, alloc_cb, read_cb);
}

/* Dials the resolved target; a failure refuses the flow. */
void cflow_tcp_connect(struct cflow *f, const struct sockaddr *to)
{
	int rv;

	f->creq.data = f;
	rv = uv_tcp_connect(&f->creq, &f->tcp, to, connected);
	if (rv != 0)
		cflow_refuse(f, ZT_FLOW_UNREACHABLE, uv_strerror(rv));
}

/* The agent -> target direction is complete: every byte written and the
 * target's side shut down. */
static int up_done(const struct cflow *f)
{
	return !f->writing && !f->stage_len && (f->flags & CF_UP_DONE);
}

/* A draining flow ends cleanly once the target has everything. */
static void maybe_done(struct cflow *f)
{
	if (f->state == CF_DRAINING && up_done(f))
		cflow_close(f, "closed", CF_END_CLEAN);
}

static void submit(struct cflow *f);

static void wrote(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;
	struct cflow *f = r->f;
	size_t n = r->len;

	free(r);
	f->writing = 0;
	if (f->state == CF_OPEN || f->state == CF_DRAINING) {
		if (status != 0) {
			cflow_close(f, uv_strerror(status), CF_END_RESET);
		} else {
			/* Credit only now: a slow target slows the agent. */
			cflow_credit(f, n);
			f->last_ns = uv_hrtime();
			submit(f);
			maybe_done(f);
		}
	}
	cflow_release(f);
}

static void shut_done(uv_shutdown_t *req, int status)
{
	struct cflow *f = req->data;

	if (f->state == CF_OPEN || f->state == CF_DRAINING) {
		if (status != 0) {
			cflow_close(f, uv_strerror(status), CF_END_RESET);
		} else {
			f->flags |= CF_UP_DONE;
			maybe_done(f);
		}
	}
	cflow_release(f);
}

static void start_shutdown(struct cflow *f)
{
	int rv;

	f->flags |= CF_UP_SHUT;
	f->sreq.data = f;
	rv = uv_shutdown(&f->sreq, (uv_stream_t *)&f->tcp, shut_done);
	if (rv != 0) {
		cflow_close(f, uv_strerror(rv), CF_END_RESET);
		return;
	}
	f->refs++;
}

/* Agent -> target: at most one write in flight per flow; what arrives
 * meanwhile is appended to one staging buffer (so a peer sending tiny STREAM
 * frames costs one buffer, not a request each). After the last byte, the
 * agent's FIN becomes our shutdown. */
static void submit(struct cflow *f)
{
	struct wreq *r;
	uv_buf_t b;
	int rv;

	if (f->writing || f->state == CF_CLOSED)
		return;
	if (!f->stage_len) {
		if ((f->flags & (CF_UP_FIN | CF_UP_SHUT)) == CF_UP_FIN)
			start_shutdown(f);
		return;
	}
	r = malloc(sizeof(*r) + f->stage_len);
	if (!r) {
		cflow_close(f, "out of memory", CF_END_ABORT);
		return;
	}
	r->f = f;
	r->len = f->stage_len;
	memcpy(r->data, f->stage, f->stage_len);
	b = uv_buf_init((char *)r->data, (unsigned)r->len);
	rv = uv_write(&r->w, (uv_stream_t *)&f->tcp, &b, 1, wrote);
	if (rv != 0) {
		free(r);
		cflow_close(f, uv_strerror(rv), CF_END_RESET);
		return;
	}
	f->stage_len = 0;
	f->refs++; /* the request holds the flow */
	f->writing = 1;
}

static int stage_grow(struct cflow *f, size_t n)
{
	size_t cap = f->stage_cap ? f->stage_cap : 16384;
	uint8_t *p;

	while (cap < f->stage_len + n)
		cap *= 2;
	p = realloc(f->stage, cap);
	if (!p)
		return ZT_ENOMEM;
	f->stage = p;
	f->stage_cap = cap;
	return 0;
}

/* Stream bytes (and the agent's FIN) for an open flow. */
void cflow_tcp_data(struct cflow *f, const uint8_t *d, size_t n, int fin)
{
	assert(f->state == CF_OPEN && !(f->flags & CF_UP_FIN));
	f->owed += n;
	if (n && f->stage_len + n > f->stage_cap && stage_grow(f, n) != 0) {
		cflow_close(f, "out of memory", CF_END_ABORT);
		return;
	}
	if (n) {
		memcpy(f->stage + f->stage_len, d, n);
		f->stage_len += n;
		f->up += n;
	}
	if (fin)
		f->flags |= CF_UP_FIN;
	submit(f);
}

void cflow_tcp_acked(struct cflow *f)
{
	if (f->paused && f->state == CF_OPEN && !(f->flags & CF_DOWN_EOF) &&
	    zt_qconn_stream_buffered(f->sess->c, f->sid) < CF_RESUME_BELOW) {
		f->paused = 0;
		uv_read_start((uv_stream_t *)&f->tcp, alloc_cb, read_cb);
	}
}

/* The stream closed cleanly: both FINs went through. What is left is the
 * agent's bytes still on their way into the target: the flow drains. */
void cflow_tcp_stream_ended(struct cflow *f)
{
	assert(f->flags & CF_STREAM_GONE);
	if (f->state != CF_OPEN || up_done(f)) {
		cflow_close(f, "closed", CF_END_CLEAN);
		return;
	}
	assert(f->flags & CF_UP_FIN);
	/* No stream will take the credit back later: the connection's share
	 * is due now. */
	cflow_credit(f, f->owed);
	f->last_ns = uv_hrtime();
	cflow_set_state(f, CF_DRAINING);
	log_debug("flow %s %s: draining %zu B to %s", f->user, f->hdr.service,
		  f->stage_len, f->target);
	submit(f);
}

void cflow_tcp_sweep(struct cflow *f, uint64_t now)
{
	if (f->state == CF_DRAINING && now - f->last_ns > CF_DRAIN_IDLE_NS)
		cflow_close(f, "target took nothing while draining",
			    CF_END_RESET);
}

static void tcp_closed(uv_handle_t *h)
{
	cflow_release(h->data);
}

/* A reset on one side becomes a reset on the other; close_reset fails on
 * a socket that is not connected, then a plain close. Pending writes and
 * the shutdown call back with UV_ECANCELED. */
void cflow_tcp_close(struct cflow *f, int rst)
{
	if (uv_is_closing((uv_handle_t *)&f->tcp))
		return;
	if (!rst || !f->connected ||
	    uv_tcp_close_reset(&f->tcp, tcp_closed) != 0)
		uv_close((uv_handle_t *)&f->tcp, tcp_closed);
}
