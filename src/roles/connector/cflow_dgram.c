/* Connector UDP and ICMP echo flows: payloads travel as QUIC DATAGRAM
 * frames; the stream only carries the header, the status and the end. */
#include <string.h>

#include "cflow_int.h"
#include "log.h"
#include "pkt.h"

/* A datagram from the target: to the agent with the flow id in front. */
static void tc_recv(struct zt_tconn *t, const uint8_t *d, size_t n)
{
	struct cflow *f = t->owner;
	uint8_t *buf = f->cf->dgbuf;
	size_t pl;

	if (n == 0 || f->state != CF_OPEN)
		return;
	pl = zt_flow_dgram_put(buf, 8, f->sid);
	if (n > sizeof(f->cf->dgbuf) - pl)
		return;
	memcpy(buf + pl, d, n);
	if (zt_qconn_send_datagram(f->sess->c, buf, pl + n) == 0)
		f->down += (uint64_t)n;
	f->last_ns = uv_hrtime();
}

/* The socket is ready and the OK sent. */
void cflow_dgram_open(struct cflow *f)
{
	f->last_ns = uv_hrtime();
}

/* Stream bytes on an open datagram flow mean nothing; its FIN means the
 * agent is done with the flow. */
void cflow_dgram_data(struct cflow *f, int fin)
{
	if (!fin)
		return;
	zt_qconn_stream_send(f->sess->c, f->sid, NULL, 0, 1);
	cflow_close(f, "closed", CF_END_CLEAN);
}

/* A datagram from the agent for this flow. */
void cflow_dgram_to_target(struct cflow *f, const uint8_t *d, size_t n)
{
	if (!f->tc_open || f->state != CF_OPEN)
		return;
	/* Datagrams stay unreliable end to end: a full socket drops. */
	if (f->tc.ops->send(&f->tc, d, n) == 0)
		f->up += n;
	f->last_ns = uv_hrtime();
}

/* Datagram flows end after a minute without traffic either way. */
void cflow_dgram_sweep(struct cflow *f, uint64_t now)
{
	if (f->tc_open && f->state == CF_OPEN &&
	    now - f->last_ns > ZT_UDP_IDLE_NS) {
		zt_qconn_stream_send(f->sess->c, f->sid, NULL, 0, 1);
		cflow_close(f, "idle", CF_END_CLEAN);
	}
}

const struct zt_tconn_cbs cflow_dgram_cbs = {
	.dialed = cflow_tc_dialed,
	.recv = tc_recv,
	.closed = cflow_tc_closed,
};
