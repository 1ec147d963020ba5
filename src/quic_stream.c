/* Streams: send buffers kept until acknowledged, receive delivery with
 * manual flow-control credit, and the packet write loop. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "quic_int.h"

#define ZT_MAX_PKT 1500
#define ZT_WRITE_IOV 16

struct zt_stream *zt_stream_find(struct zt_qconn *c, int64_t id)
{
	for (struct zt_stream *s = c->streams; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

struct zt_stream *zt_stream_get(struct zt_qconn *c, int64_t id)
{
	struct zt_stream *s = zt_stream_find(c, id);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->next = c->streams;
	c->streams = s;
	return s;
}

static void stream_release(struct zt_stream *s, uint64_t upto)
{
	while (s->head && s->head_off + s->head->len <= upto) {
		struct zt_chunk *k = s->head;

		s->head_off += k->len;
		s->head = k->next;
		free(k);
	}
	if (!s->head)
		s->tail = NULL;
}

static void stream_unlink(struct zt_qconn *c, struct zt_stream *s)
{
	struct zt_stream **pp = &c->streams;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	stream_release(s, UINT64_MAX);
	free(s);
}

void zt_stream_free_all(struct zt_qconn *c)
{
	while (c->streams)
		stream_unlink(c, c->streams);
}

int zt_stream_recv_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
		      uint64_t off, const uint8_t *data, size_t len, void *ud,
		      void *sud)
{
	struct zt_qconn *c = ud;
	int fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;

	if (c->state != ZT_QCONN_ESTABLISHED || !c->ep->cfg.cb.stream_data) {
		/* Nobody will consume it: give the credit back at once. */
		ngtcp2_conn_extend_max_stream_offset(conn, sid, len);
		ngtcp2_conn_extend_max_offset(conn, len);
		return 0;
	}
	c->ep->cfg.cb.stream_data(c, sid, data, len, fin, c->ep->cfg.ud);
	return 0;
}

int zt_stream_acked_cb(ngtcp2_conn *conn, int64_t sid, uint64_t off,
		       uint64_t len, void *ud, void *sud)
{
	struct zt_stream *s = zt_stream_find(ud, sid);

	/* ngtcp2 reports acknowledged data as a growing contiguous prefix. */
	if (s)
		stream_release(s, off + len);
	return 0;
}

int zt_stream_open_cb(ngtcp2_conn *conn, int64_t sid, void *ud)
{
	return zt_stream_get(ud, sid) ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

int zt_stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
		       uint64_t app_error, void *ud, void *sud)
{
	struct zt_qconn *c = ud;
	struct zt_stream *s = zt_stream_find(c, sid);

	if (s)
		stream_unlink(c, s);
	if (!ngtcp2_conn_is_local_stream(conn, sid))
		ngtcp2_conn_extend_max_streams_bidi(conn, 1);
	if (c->ep->cfg.cb.stream_closed)
		c->ep->cfg.cb.stream_closed(c, sid, app_error, c->ep->cfg.ud);
	return 0;
}

int zt_stream_reset_cb(ngtcp2_conn *conn, int64_t sid, uint64_t final_size,
		       uint64_t app_error, void *ud, void *sud)
{
	/* The close callback follows and tells the application. */
	return 0;
}

int zt_qconn_stream_open(struct zt_qconn *c, int64_t *sid)
{
	int rv;

	if (c->state != ZT_QCONN_ESTABLISHED)
		return ZT_ECLOSED;
	rv = ngtcp2_conn_open_bidi_stream(c->conn, sid, NULL);
	if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
		return ZT_EAGAIN;
	if (rv != 0)
		return ZT_EQUIC;
	if (!zt_stream_get(c, *sid)) {
		ngtcp2_conn_shutdown_stream(c->conn, 0, *sid, 0);
		return ZT_ENOMEM;
	}
	return 0;
}

int zt_qconn_stream_send(struct zt_qconn *c, int64_t sid, const uint8_t *data,
			 size_t len, int fin)
{
	struct zt_stream *s;
	struct zt_chunk *k;

	if (c->state != ZT_QCONN_ESTABLISHED)
		return ZT_ECLOSED;
	s = zt_stream_find(c, sid);
	if (!s || s->fin_queued)
		return ZT_ECLOSED;
	if (len) {
		k = malloc(sizeof(*k) + len);
		if (!k)
			return ZT_ENOMEM;
		k->next = NULL;
		k->len = len;
		memcpy(k->data, data, len);
		if (s->tail)
			s->tail->next = k;
		else
			s->head = k;
		s->tail = k;
		s->end_off += len;
	}
	if (fin)
		s->fin_queued = 1;
	c->ep->dirty = 1;
	return 0;
}

size_t zt_qconn_stream_buffered(struct zt_qconn *c, int64_t sid)
{
	struct zt_stream *s = zt_stream_find(c, sid);

	return s ? (size_t)(s->end_off - s->head_off) : 0;
}

void zt_qconn_stream_consumed(struct zt_qconn *c, int64_t sid, size_t n)
{
	if (c->state >= ZT_QCONN_CLOSING || n == 0)
		return;
	ngtcp2_conn_extend_max_stream_offset(c->conn, sid, n);
	ngtcp2_conn_extend_max_offset(c->conn, n);
	c->ep->dirty = 1;
}

static int has_pending(const struct zt_stream *s)
{
	return !s->blocked && (s->sent_off < s->end_off ||
			       (s->fin_queued && !s->fin_sent));
}

static struct zt_stream *next_pending(struct zt_qconn *c)
{
	for (struct zt_stream *s = c->streams; s; s = s->next)
		if (has_pending(s))
			return s;
	return NULL;
}

/* Points iov at the unsent bytes; returns the count and whether they reach
 * the end of the queued data. */
static size_t build_iov(struct zt_stream *s, ngtcp2_vec *iov, size_t max,
			int *all)
{
	uint64_t off = s->head_off;
	size_t n = 0;
	struct zt_chunk *k = s->head;

	for (; k && n < max; off += k->len, k = k->next) {
		uint64_t skip;

		if (off + k->len <= s->sent_off)
			continue;
		skip = s->sent_off > off ? s->sent_off - off : 0;
		iov[n].base = k->data + skip;
		iov[n].len = (size_t)(k->len - skip);
		n++;
	}
	*all = k == NULL;
	return n;
}

static void advance(struct zt_stream *s, ngtcp2_ssize datalen, uint32_t flags)
{
	if (datalen < 0)
		return;
	s->sent_off += (uint64_t)datalen;
	if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && s->sent_off == s->end_off)
		s->fin_sent = 1;
}

int zt_stream_write_all(struct zt_qconn *c, uint64_t now)
{
	uint8_t buf[ZT_MAX_PKT];
	size_t quantum = ngtcp2_conn_get_send_quantum(c->conn), sent = 0;

	for (struct zt_stream *s = c->streams; s; s = s->next)
		s->blocked = 0;
	for (int i = 0; i < 1024; i++) {
		struct zt_stream *s = next_pending(c);
		ngtcp2_vec iov[ZT_WRITE_IOV];
		size_t niov = 0;
		int all = 0;
		uint32_t flags = 0;
		ngtcp2_ssize n, datalen = -1;
		ngtcp2_path_storage ps;
		ngtcp2_pkt_info pi;

		if (s) {
			niov = build_iov(s, iov, ZT_WRITE_IOV, &all);
			flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
			if (all && s->fin_queued)
				flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		}
		ngtcp2_path_storage_zero(&ps);
		n = ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, buf,
					      sizeof(buf), &datalen, flags,
					      s ? s->id : -1, iov, niov, now);
		if (n == NGTCP2_ERR_WRITE_MORE) {
			advance(s, datalen, flags);
			continue;
		}
		if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED ||
		    n == NGTCP2_ERR_STREAM_SHUT_WR ||
		    n == NGTCP2_ERR_STREAM_NOT_FOUND) {
			s->blocked = 1;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (s)
			advance(s, datalen, flags);
		if (n == 0)
			break;
		((struct zt_pathio *)ps.path.user_data)
			->ops->send(ps.path.user_data, ps.path.remote.addr,
				    ps.path.remote.addrlen, buf, (size_t)n);
		sent += (size_t)n;
		if (sent >= quantum)
			break;
	}
	ngtcp2_conn_update_pkt_tx_time(c->conn, now);
	return 0;
}
