/* Connector TCP flows: the connection to the target and the splice between
 * it and the flow's stream, with backpressure both ways and per-direction
 * half-close (states and flags: cflow_int.h). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cflow_int.h"
#include "err.h"
#include "log.h"

/* Target -> agent bytes; n == 0 is the target's EOF. */
static void tc_recv(struct zt_tconn *t, const uint8_t *d, size_t n)
{
	struct cflow *f = t->owner;
	struct zt_qconn *c;

	if (f->state != CF_OPEN)
		return;
	assert(cflow_has_stream(f));
	c = f->sess->c;
	if (n == 0) {
		f->flags |= CF_DOWN_EOF;
		zt_qconn_stream_send(c, f->sid, NULL, 0, 1);
		return;
	}
	f->down += (uint64_t)n;
	if (zt_qconn_stream_send(c, f->sid, d, n, 0) != 0) {
		cflow_close(f, "stream closed", CF_END_RESET);
		return;
	}
	if (zt_qconn_stream_buffered(c, f->sid) > CF_PAUSE_ABOVE) {
		t->ops->read(t, 0);
		f->paused = 1;
	}
}

static void tc_failed(struct zt_tconn *t, const char *why)
{
	struct cflow *f = t->owner;

	if (f->state == CF_OPEN)
		cflow_close(f, why, CF_END_RESET);
}

/* Connected and the OK sent: the target's bytes may come. */
void cflow_tcp_open(struct cflow *f)
{
	f->tc.ops->read(&f->tc, 1);
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

static void tc_wrote(struct zt_tconn *t, size_t n, const char *err)
{
	struct cflow *f = t->owner;

	f->writing = 0;
	if (f->state == CF_OPEN || f->state == CF_DRAINING) {
		if (err) {
			cflow_close(f, err, CF_END_RESET);
		} else {
			/* Credit only now: a slow target slows the agent. */
			cflow_credit(f, n);
			f->last_ns = uv_hrtime();
			submit(f);
			maybe_done(f);
		}
	}
}

static void tc_shut(struct zt_tconn *t, const char *err)
{
	struct cflow *f = t->owner;

	if (f->state == CF_OPEN || f->state == CF_DRAINING) {
		if (err) {
			cflow_close(f, err, CF_END_RESET);
		} else {
			f->flags |= CF_UP_DONE;
			maybe_done(f);
		}
	}
}

static void start_shutdown(struct cflow *f)
{
	const char *why = NULL;

	f->flags |= CF_UP_SHUT;
	if (f->tc.ops->shutdown(&f->tc, &why) != 0)
		cflow_close(f, why, CF_END_RESET);
}

/* Agent -> target: at most one write in flight per flow; what arrives
 * meanwhile is appended to one staging buffer (so a peer sending tiny STREAM
 * frames costs one buffer, not a request each). After the last byte, the
 * agent's FIN becomes our shutdown. */
static void submit(struct cflow *f)
{
	const char *why = NULL;

	if (f->writing || f->state == CF_CLOSED)
		return;
	if (!f->stage_len) {
		if ((f->flags & (CF_UP_FIN | CF_UP_SHUT)) == CF_UP_FIN)
			start_shutdown(f);
		return;
	}
	if (f->tc.ops->write(&f->tc, f->stage, f->stage_len, &why) != 0) {
		cflow_close(f, why, CF_END_RESET);
		return;
	}
	f->stage_len = 0;
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
		f->tc.ops->read(&f->tc, 1);
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

const struct zt_tconn_cbs cflow_tcp_cbs = {
	.dialed = cflow_tc_dialed,
	.recv = tc_recv,
	.failed = tc_failed,
	.wrote = tc_wrote,
	.shut = tc_shut,
	.closed = cflow_tc_closed,
};
