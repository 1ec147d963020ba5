/* Streams: send buffers kept until acknowledged, receive delivery with
 * manual flow-control credit, and the packet write loop. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "quic_int.h"

#define ZT_MAX_PKT 1500
#define ZT_WRITE_IOV 16

/* Copies hdr (hlen may be 0) then data into a new chunk at the end of a
 * head/tail list. */
static struct zt_chunk *chunk_append(struct zt_chunk **head,
				     struct zt_chunk **tail, const uint8_t *hdr,
				     size_t hlen, const uint8_t *data,
				     size_t len)
{
	struct zt_chunk *k = malloc(sizeof(*k) + hlen + len);

	if (!k)
		return NULL;
	k->next = NULL;
	k->len = hlen + len;
	if (hlen)
		memcpy(k->data, hdr, hlen);
	if (len)
		memcpy(k->data + hlen, data, len);
	if (*tail)
		(*tail)->next = k;
	else
		*head = k;
	*tail = k;
	return k;
}

/* ngtcp2 keeps its streams in a map and carries our pointer for each:
 * every stream operation is on the per-packet path, so no list walk. */
struct zt_stream *zt_stream_find(struct zt_qconn *c, int64_t id)
{
	if (!c->conn || id < 0)
		return NULL;
	return ngtcp2_conn_get_stream_user_data2(c->conn, id);
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
	if (ngtcp2_conn_set_stream_user_data(c->conn, id, s) != 0) {
		free(s);
		return NULL;
	}
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
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

static void sq_push(struct zt_qconn *c, struct zt_stream *s, int front)
{
	if (s->queued)
		return;
	s->queued = 1;
	if (front) {
		s->qnext = c->sq_head;
		c->sq_head = s;
		if (!c->sq_tail)
			c->sq_tail = s;
		return;
	}
	s->qnext = NULL;
	if (c->sq_tail)
		c->sq_tail->qnext = s;
	else
		c->sq_head = s;
	c->sq_tail = s;
}

static struct zt_stream *sq_pop(struct zt_qconn *c)
{
	struct zt_stream *s = c->sq_head;

	if (!s)
		return NULL;
	c->sq_head = s->qnext;
	if (!c->sq_head)
		c->sq_tail = NULL;
	s->queued = 0;
	s->qnext = NULL;
	return s;
}

static void sq_remove(struct zt_qconn *c, struct zt_stream *s)
{
	struct zt_stream **pp = &c->sq_head, *prev = NULL;

	if (!s->queued)
		return;
	for (; *pp && *pp != s; prev = *pp, pp = &(*pp)->qnext)
		;
	if (*pp) {
		*pp = s->qnext;
		if (c->sq_tail == s)
			c->sq_tail = prev;
	}
	s->queued = 0;
}

static void stream_unlink(struct zt_qconn *c, struct zt_stream *s)
{
	sq_remove(c, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	stream_release(s, UINT64_MAX);
	free(s);
}

void zt_stream_free_all(struct zt_qconn *c)
{
	while (c->streams)
		stream_unlink(c, c->streams);
}

/* What of the connection's held bytes is beyond ZT_HOLD_MAX: their
 * connection credit waits for the application to consume. */
static uint64_t withheld(uint64_t held)
{
	return held > ZT_HOLD_MAX ? held - ZT_HOLD_MAX : 0;
}

/* Bytes go to the application: their connection credit comes back now
 * (within ZT_HOLD_MAX), their stream credit when they are consumed. */
static void stream_hold(struct zt_qconn *c, size_t len)
{
	uint64_t before = withheld(c->held), credit;

	c->held += len;
	credit = len - (withheld(c->held) - before);
	if (credit)
		ngtcp2_conn_extend_max_offset(c->conn, credit);
}

int zt_stream_recv_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
		      uint64_t off, const uint8_t *data, size_t len, void *ud,
		      void *sud)
{
	struct zt_qconn *c = ud;
	int fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;

	if (c->state != ZT_QCONN_ESTABLISHED || !c->ops->stream_data) {
		/* Nobody will consume it: give the credit back at once. */
		ngtcp2_conn_extend_max_stream_offset(conn, sid, len);
		ngtcp2_conn_extend_max_offset(conn, len);
		return 0;
	}
	stream_hold(c, len);
	c->ops->stream_data(c, sid, data, len, fin, c->owner);
	return 0;
}

int zt_stream_acked_cb(ngtcp2_conn *conn, int64_t sid, uint64_t off,
		       uint64_t len, void *ud, void *sud)
{
	struct zt_qconn *c = ud;
	struct zt_stream *s = zt_stream_find(c, sid);

	/* ngtcp2 reports acknowledged data as a growing contiguous prefix. */
	if (s)
		stream_release(s, off + len);
	if (s && c->ops->stream_acked)
		c->ops->stream_acked(c, sid, c->owner);
	return 0;
}

/* ngtcp2 calls this for streams the peer opens, with any frame. */
int zt_stream_open_cb(ngtcp2_conn *conn, int64_t sid, void *ud)
{
	struct zt_qconn *c = ud;

	if (!zt_stream_get(c, sid))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (c->state == ZT_QCONN_ESTABLISHED && c->ops->stream_opened)
		c->ops->stream_opened(c, sid, c->owner);
	return 0;
}

int zt_stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
		       uint64_t app_error, void *ud, void *sud)
{
	struct zt_qconn *c = ud;
	struct zt_stream *s;
	/* ngtcp2 sets the flag for every RESET_STREAM and STOP_SENDING, sent
	 * or received, whatever the code: the code alone cannot tell a reset
	 * with code 0 from a clean end. */
	int reset = (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) != 0;

	/* The application first: it finds its state through the stream. */
	if (c->ops->stream_closed)
		c->ops->stream_closed(c, sid, reset, reset ? app_error : 0,
				      c->owner);
	s = zt_stream_find(c, sid);
	if (s)
		stream_unlink(c, s);
	if (!ngtcp2_conn_is_local_stream(conn, sid))
		ngtcp2_conn_extend_max_streams_bidi(conn, 1);
	return 0;
}

/* The peer will not read: ngtcp2 resets our side itself. Drop what was not
 * sent yet (sent bytes stay until stream_close: ngtcp2 may still touch
 * them) and refuse further sends, so nothing piles up. */
static void stream_discard_unsent(struct zt_stream *s)
{
	struct zt_chunk *k = s->head, *keep_tail = NULL;
	uint64_t off = s->head_off;

	for (; k; off += k->len, k = k->next) {
		if (off >= s->sent_off)
			break;
		keep_tail = k;
	}
	if (keep_tail) {
		for (k = keep_tail->next; k;) {
			struct zt_chunk *n = k->next;

			free(k);
			k = n;
		}
		keep_tail->next = NULL;
		s->tail = keep_tail;
		s->end_off = off;
	} else {
		stream_release(s, UINT64_MAX);
		s->head_off = s->end_off = s->sent_off;
	}
	if (s->sent_off > s->end_off)
		s->sent_off = s->end_off;
	s->shut_wr = 1;
	s->fin_queued = s->fin_sent = 1;
}

/* Tells the application that the peer aborted a direction. ngtcp2 only
 * schedules frames in ngtcp2_conn_shutdown_stream and frees the stream on
 * acknowledgement, so the application may reset the stream from here. */
static void peer_reset(struct zt_qconn *c, int64_t sid, uint64_t app_error)
{
	if (c->state == ZT_QCONN_ESTABLISHED && c->ops->stream_reset)
		c->ops->stream_reset(c, sid, app_error, c->owner);
}

int zt_stream_stop_cb(ngtcp2_conn *conn, int64_t sid, uint64_t app_error,
		      void *ud, void *sud)
{
	struct zt_stream *s = zt_stream_find(ud, sid);

	if (s)
		stream_discard_unsent(s);
	peer_reset(ud, sid, app_error);
	return 0;
}

int zt_stream_reset_cb(ngtcp2_conn *conn, int64_t sid, uint64_t final_size,
		       uint64_t app_error, void *ud, void *sud)
{
	peer_reset(ud, sid, app_error);
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
	if (!s || s->fin_queued || s->shut_wr)
		return ZT_ECLOSED;
	if (len) {
		k = chunk_append(&s->head, &s->tail, NULL, 0, data, len);
		if (!k)
			return ZT_ENOMEM;
		s->end_off += len;
	}
	if (fin)
		s->fin_queued = 1;
	sq_push(c, s, 0);
	c->ep->dirty = 1;
	return 0;
}

/* Queued data is dropped first: a reset stream must not keep sending. */
static void stream_shutdown(struct zt_qconn *c, int64_t sid,
			    uint64_t app_error, int both)
{
	struct zt_stream *s = zt_stream_find(c, sid);

	if (c->state >= ZT_QCONN_CLOSING)
		return;
	if (s)
		stream_discard_unsent(s);
	if (both)
		ngtcp2_conn_shutdown_stream(c->conn, 0, sid, app_error);
	else
		ngtcp2_conn_shutdown_stream_write(c->conn, 0, sid, app_error);
	c->ep->dirty = 1;
}

void zt_qconn_stream_reset(struct zt_qconn *c, int64_t sid,
			   uint64_t app_error)
{
	stream_shutdown(c, sid, app_error, 1);
}

void zt_qconn_stream_reset_send(struct zt_qconn *c, int64_t sid,
				uint64_t app_error)
{
	stream_shutdown(c, sid, app_error, 0);
}

int zt_qconn_stream_set_user(struct zt_qconn *c, int64_t sid, void *user)
{
	struct zt_stream *s = zt_stream_find(c, sid);

	if (!s)
		return ZT_ENOTFOUND;
	s->user = user;
	return 0;
}

void *zt_qconn_stream_user(struct zt_qconn *c, int64_t sid)
{
	struct zt_stream *s = zt_stream_find(c, sid);

	return s ? s->user : NULL;
}

size_t zt_qconn_stream_buffered(struct zt_qconn *c, int64_t sid)
{
	struct zt_stream *s = zt_stream_find(c, sid);

	return s ? (size_t)(s->end_off - s->head_off) : 0;
}

/* Stream credit for n bytes, and the connection credit that was withheld
 * for them (stream_hold). The application may credit bytes of a stream that
 * closed meanwhile: only the connection's share matters then. */
void zt_qconn_stream_consumed(struct zt_qconn *c, int64_t sid, size_t n)
{
	uint64_t before;

	if (c->state >= ZT_QCONN_CLOSING || n == 0)
		return;
	before = withheld(c->held);
	c->held -= n < c->held ? n : c->held;
	ngtcp2_conn_extend_max_stream_offset(c->conn, sid, n);
	if (before > withheld(c->held))
		ngtcp2_conn_extend_max_offset(c->conn,
					      before - withheld(c->held));
	c->ep->dirty = 1;
}

/* DATAGRAMs wait here for the congestion window. The queue holds about
 * one window (what the path takes in one round trip), counted in bytes
 * with each chunk's overhead, within these bounds: a fixed 256 packets
 * overflowed at the relay while the window was far larger, and a packet
 * count bounds nothing for tiny datagrams. */
#define ZT_DGRAM_QUEUE_MIN (64 * 1024)
#define ZT_DGRAM_QUEUE_MAX (1024 * 1024)

int zt_qconn_send_datagram(struct zt_qconn *c, const uint8_t *data,
			   size_t len)
{
	return zt_qconn_send_datagram2(c, NULL, 0, data, len);
}

int zt_qconn_send_datagram2(struct zt_qconn *c, const uint8_t *hdr, size_t hlen,
			    const uint8_t *data, size_t len)
{
	struct zt_chunk *k;
	size_t frame;

	if (c->state != ZT_QCONN_ESTABLISHED)
		return ZT_ECLOSED;
	/* The limit is on the whole frame: type byte, length varint, data;
	 * and it must fit one packet on the current path. */
	len += hlen;
	frame = 1 + (len < 64 ? 1 : len < 16384 ? 2 : 4) + len;
	if (frame > ngtcp2_conn_get_remote_transport_params(c->conn)
			    ->max_datagram_frame_size ||
	    frame + 64 > ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn))
		return ZT_ETOOBIG;
	/* Datagrams are unreliable: when the queue is full (congestion),
	 * dropping is the right answer. */
	if (c->dg_bytes + sizeof(*k) + len >
	    (c->dg_cap ? c->dg_cap : ZT_DGRAM_QUEUE_MIN))
		return ZT_EAGAIN;
	k = chunk_append(&c->dg_head, &c->dg_tail, hdr, hlen, data, len - hlen);
	if (!k)
		return ZT_ENOMEM;
	c->n_dgrams++;
	c->dg_bytes += sizeof(*k) + len;
	c->ep->dirty = 1;
	return 0;
}

static void dgram_pop(struct zt_qconn *c)
{
	struct zt_chunk *k = c->dg_head;

	c->dg_head = k->next;
	if (!c->dg_head)
		c->dg_tail = NULL;
	c->n_dgrams--;
	c->dg_bytes -= sizeof(*k) + k->len;
	free(k);
}

void zt_dgram_free_all(struct zt_qconn *c)
{
	while (c->dg_head)
		dgram_pop(c);
}

/* Writes queued datagrams into packets. Returns a packet length to send,
 * 0 when the datagrams are done for now, or a negative ngtcp2 error. */
static ngtcp2_ssize write_dgram(struct zt_qconn *c, ngtcp2_path_storage *ps,
				uint8_t *buf, size_t cap, uint64_t now)
{
	while (c->dg_head) {
		ngtcp2_pkt_info pi;
		ngtcp2_vec v = { c->dg_head->data, c->dg_head->len };
		int accepted = 0;
		ngtcp2_ssize n = ngtcp2_conn_writev_datagram(
			c->conn, &ps->path, &pi, buf, cap, &accepted,
			NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &v, 1, now);

		if (n == NGTCP2_ERR_WRITE_MORE) {
			dgram_pop(c);
			c->dg_tries = 0;
			continue;
		}
		if (n == NGTCP2_ERR_INVALID_ARGUMENT ||
		    n == NGTCP2_ERR_INVALID_STATE) {
			dgram_pop(c); /* this one can never go: not fatal */
			continue;
		}
		if (n < 0)
			return n;
		if (accepted) {
			dgram_pop(c);
			c->dg_tries = 0;
		} else if (n == 0 || ++c->dg_tries > 1) {
			/* It did not fit even a fresh packet, or congestion
			 * control says wait: drop it rather than loop. */
			if (n == 0)
				return 0;
			dgram_pop(c);
			c->dg_tries = 0;
		}
		return n;
	}
	return 0;
}

static int has_pending(const struct zt_stream *s)
{
	return s->sent_off < s->end_off || (s->fin_queued && !s->fin_sent);
}

/* The next stream in turn with something to send (NULL: none). */
static struct zt_stream *next_pending(struct zt_qconn *c)
{
	struct zt_stream *s;

	while ((s = sq_pop(c)) && !has_pending(s))
		;
	return s;
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

static void send_ps(const ngtcp2_path_storage *ps, const uint8_t *buf,
		    size_t n)
{
	struct zt_pathio *pio = ps->path.user_data;

	pio->ops->send(pio, ps->path.remote.addr, ps->path.remote.addrlen,
		       buf, n);
}

/* The queue's bound follows the window, looked at once per write rather
 * than per datagram. */
static void dgram_cap(struct zt_qconn *c)
{
	ngtcp2_conn_info ci;

	ngtcp2_conn_get_conn_info(c->conn, &ci);
	c->dg_cap = ci.cwnd < ZT_DGRAM_QUEUE_MIN ? ZT_DGRAM_QUEUE_MIN :
		    ci.cwnd > ZT_DGRAM_QUEUE_MAX ? ZT_DGRAM_QUEUE_MAX :
						   (size_t)ci.cwnd;
}

int zt_stream_write_all(struct zt_qconn *c, uint64_t now)
{
	uint8_t buf[ZT_MAX_PKT];
	size_t quantum = ngtcp2_conn_get_send_quantum(c->conn), sent = 0;

	struct zt_stream *blocked = NULL;
	int rv = 0;

	if (c->dg_head)
		dgram_cap(c);

	for (int i = 0; i < 1024; i++) {
		struct zt_stream *s = next_pending(c);
		ngtcp2_vec iov[ZT_WRITE_IOV];
		size_t niov = 0;
		int all = 0;
		uint32_t flags = 0;
		ngtcp2_ssize n, datalen = -1;
		ngtcp2_path_storage ps;
		ngtcp2_pkt_info pi;

		ngtcp2_path_storage_zero(&ps);
		if (c->dg_head) {
			n = write_dgram(c, &ps, buf, sizeof(buf), now);
			if (n < 0) {
				rv = (int)n;
				break;
			}
			if (n > 0) {
				if (s)
					sq_push(c, s, 1);
				send_ps(&ps, buf, (size_t)n);
				sent += (size_t)n;
				if (sent >= quantum)
					break;
				continue;
			}
		}
		if (s) {
			niov = build_iov(s, iov, ZT_WRITE_IOV, &all);
			flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
			if (all && s->fin_queued)
				flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		}
		n = ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, buf,
					      sizeof(buf), &datalen, flags,
					      s ? s->id : -1, iov, niov, now);
		if (n == NGTCP2_ERR_WRITE_MORE) {
			advance(s, datalen, flags);
			if (has_pending(s))
				sq_push(c, s, 0);
			continue;
		}
		if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED ||
		    n == NGTCP2_ERR_STREAM_SHUT_WR ||
		    n == NGTCP2_ERR_STREAM_NOT_FOUND) {
			/* Tried again on the next flush (after the peer's
			 * credit arrived), not in this one. */
			if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				s->qnext = blocked;
				s->queued = 1;
				blocked = s;
			}
			continue;
		}
		if (n < 0) {
			rv = (int)n;
			break;
		}
		if (s) {
			advance(s, datalen, flags);
			/* Congestion-limited (n == 0): it keeps its turn. */
			if (has_pending(s))
				sq_push(c, s, n == 0);
		}
		if (n == 0)
			break;
		send_ps(&ps, buf, (size_t)n);
		sent += (size_t)n;
		if (sent >= quantum)
			break;
	}
	while (blocked) {
		struct zt_stream *b = blocked;

		blocked = b->qnext;
		b->queued = 0;
		sq_push(c, b, 0);
	}
	ngtcp2_conn_update_pkt_tx_time(c->conn, now);
	return rv;
}

size_t zt_qconn_datagram_max(const struct zt_qconn *c)
{
	size_t lim, peer;

	if (c->state != ZT_QCONN_ESTABLISHED)
		return 0;
	/* The same rule as zt_qconn_send_datagram: the frame (type, length
	 * of up to 4 bytes, data) within the peer's limit and 64 bytes short
	 * of the path's largest packet. */
	lim = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
	lim = lim > 64 ? lim - 64 : 0;
	peer = ngtcp2_conn_get_remote_transport_params(c->conn)
		       ->max_datagram_frame_size;
	if (peer < lim)
		lim = peer;
	return lim > 5 ? lim - 5 : 0;
}
