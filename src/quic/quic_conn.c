/* One QUIC connection: reading packets, the write loop, closing, timers and
 * the peer identity check. */
#include "quic_int.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "err.h"
#include "log.h"

#define ZT_MAX_PKT 1500

static const char *alert_name(uint8_t a)
{
	switch (a) {
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 48: return "unknown_ca";
	case 80: return "internal_error";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	default: return "alert";
	}
}

/* Describes a CONNECTION_CLOSE error for logs. */
static void describe_ccerr(const ngtcp2_ccerr *e, struct zt_close_info *ci)
{
	char reason[96];
	size_t rl = e->reasonlen < sizeof(reason) - 1 ? e->reasonlen
						       : sizeof(reason) - 1;

	memcpy(reason, e->reason ? (const char *)e->reason : "", rl);
	reason[rl] = 0;
	for (size_t i = 0; i < rl; i++)
		if (reason[i] < 0x20 || reason[i] > 0x7e)
			reason[i] = '?';
	ci->code = e->error_code;
	if (e->type == NGTCP2_CCERR_TYPE_APPLICATION) {
		ci->kind = 1;
		snprintf(ci->reason, sizeof(ci->reason),
			 "application error %llu%s%s",
			 (unsigned long long)e->error_code, rl ? ": " : "",
			 reason);
	} else if (e->error_code >= 0x100 && e->error_code <= 0x1ff) {
		ci->kind = 0;
		snprintf(ci->reason, sizeof(ci->reason), "TLS alert %u (%s)",
			 (unsigned)(e->error_code - 0x100),
			 alert_name((uint8_t)(e->error_code - 0x100)));
	} else {
		ci->kind = 0;
		snprintf(ci->reason, sizeof(ci->reason),
			 "transport error 0x%llx%s%s",
			 (unsigned long long)e->error_code, rl ? ": " : "",
			 reason);
	}
}

static int send_pkt(struct zt_qconn *c, const ngtcp2_path *path,
		    const uint8_t *buf, size_t len)
{
	struct zt_pathio *pio = path->user_data;

	if (!pio)
		return ZT_EINVAL;
	return pio->ops->send(pio, path->remote.addr, path->remote.addrlen,
			      buf, len);
}

/* Enters the closing period with a CONNECTION_CLOSE built from e. */
static void close_with(struct zt_qconn *c, const ngtcp2_ccerr *e,
		       uint64_t now)
{
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	uint8_t buf[ZT_MAX_PKT];
	ngtcp2_ssize n;

	if (c->state >= ZT_QCONN_CLOSING)
		return;
	c->state = ZT_QCONN_CLOSING;
	zt_qconn_handshake_over(c);
	c->ep->dirty = 1;
	c->ci.local = 1;
	describe_ccerr(e, &c->ci);
	c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->conn);
	ngtcp2_path_storage_zero(&ps);
	n = ngtcp2_conn_write_connection_close(c->conn, &ps.path, &pi, buf,
					       sizeof(buf), e, now);
	if (n <= 0) {
		c->close_deadline = now; /* nothing to send: just go */
		return;
	}
	c->close_pkt = malloc((size_t)n);
	if (c->close_pkt) {
		memcpy(c->close_pkt, buf, (size_t)n);
		c->close_len = (size_t)n;
	}
	send_pkt(c, &ps.path, buf, (size_t)n);
}

/* Closing is deferred to the next flush: callers are often inside an
 * ngtcp2 callback (where writing a CONNECTION_CLOSE is not allowed), and
 * whatever they queued just before (an ERROR message) should go first. */
void zt_qconn_close(struct zt_qconn *c, uint64_t app_error,
		    const char *reason, uint64_t now)
{
	if (c->state >= ZT_QCONN_CLOSING || c->close_pending)
		return;
	c->close_pending = 1;
	c->close_code = app_error;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s",
		 reason ? reason : "");
	c->ep->dirty = 1;
}

static void close_now(struct zt_qconn *c, uint64_t now)
{
	ngtcp2_ccerr e;

	ngtcp2_ccerr_default(&e);
	ngtcp2_ccerr_set_application_error(&e, c->close_code,
					   (const uint8_t *)c->close_reason,
					   strlen(c->close_reason));
	close_with(c, &e, now);
}

static void fail_liberr(struct zt_qconn *c, int rv, uint64_t now)
{
	ngtcp2_ccerr e;

	ngtcp2_ccerr_default(&e);
	if (rv == NGTCP2_ERR_CRYPTO)
		ngtcp2_ccerr_set_tls_alert(&e, ngtcp2_conn_get_tls_alert2(c->conn),
					   NULL, 0);
	else
		ngtcp2_ccerr_set_liberr(&e, rv, NULL, 0);
	close_with(c, &e, now);
	if (c->state == ZT_QCONN_CLOSING && !c->pending_established)
		log_warn("quic: %s: %s failed: %s (%s)", c->label,
			 c->peer.role ? "connection" : "handshake",
			 c->ci.reason, ngtcp2_strerror(rv));
}

static void enter_draining(struct zt_qconn *c, uint64_t now)
{
	const ngtcp2_ccerr *e = ngtcp2_conn_get_ccerr(c->conn);

	c->state = ZT_QCONN_DRAINING;
	zt_qconn_handshake_over(c);
	c->ep->dirty = 1;
	c->ci.local = 0;
	describe_ccerr(e, &c->ci);
	if (c->got_reset) {
		c->ci.kind = 3;
		snprintf(c->ci.reason, sizeof(c->ci.reason),
			 "stateless reset (the peer restarted or lost the connection)");
	}
	c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->conn);
}

static int check_server_name(struct zt_qconn *c)
{
	return zt_tls_peer_is(c->ssl, c->server_name);
}

struct WOLFSSL *zt_qconn_tls(const struct zt_qconn *c)
{
	return c->ssl;
}

void zt_qconn_check_peer(struct zt_qconn *c)
{
	unsigned allowed;

	if (zt_tls_peer_identity(c->ssl, &c->peer) != 0) {
		c->deny = 1;
		snprintf(c->deny_reason, sizeof(c->deny_reason),
			 "peer certificate carries no ztnad identity");
		return;
	}
	zt_qconn_label_update(c);
	if (zt_tls_peer_revoked(c->ep->cfg.tls, c->ssl, c->deny_reason,
				sizeof(c->deny_reason))) {
		c->deny = 1;
		return;
	}
	if (zt_tls_check_alpn(c->ssl) != 0) {
		/* wolfSSL skips the server's ALPN callback when the client
		 * offers none: enforce it here for both sides. */
		c->deny = 1;
		snprintf(c->deny_reason, sizeof(c->deny_reason),
			 "peer did not negotiate ALPN " ZT_ALPN);
		return;
	}
	if (c->server) {
		allowed = c->ep->cfg.accept_roles;
		if (!(allowed & (1u << c->peer.role))) {
			c->deny = 1;
			snprintf(c->deny_reason, sizeof(c->deny_reason),
				 "role %s may not connect here",
				 zt_role_name(c->peer.role));
		}
		return;
	}
	if (c->peer.role != c->expect_role) {
		c->deny = 1;
		snprintf(c->deny_reason, sizeof(c->deny_reason),
			 "server certificate is a %s, expected a %s",
			 zt_role_name(c->peer.role),
			 zt_role_name(c->expect_role));
	} else if (c->server_name[0] && !check_server_name(c)) {
		c->deny = 1;
		snprintf(c->deny_reason, sizeof(c->deny_reason),
			 "server certificate is not valid for %s",
			 c->server_name);
	}
}

static void after_read(struct zt_qconn *c, uint64_t now)
{
	if (c->pending_established) {
		c->pending_established = 0;
		zt_qconn_handshake_over(c);
		if (c->deny) {
			log_warn("quic: %s: refused: %s", c->label,
				 c->deny_reason);
			/* At once (we are outside ngtcp2 here): nothing else,
			 * HANDSHAKE_DONE included, may reach a refused peer. */
			c->close_code = ZT_APP_DENIED;
			snprintf(c->close_reason, sizeof(c->close_reason), "%s",
				 c->deny_reason);
			close_now(c, now);
			return;
		}
		c->state = ZT_QCONN_ESTABLISHED;
		zt_qconn_path_mark(c);
		if (c->ops->established)
			c->ops->established(c, c->owner);
		return;
	}
	zt_qconn_path_events(c);
}

void zt_qconn_read(struct zt_qconn *c, struct zt_pathio *pio,
		   const struct sockaddr *remote, socklen_t remote_len,
		   const uint8_t *data, size_t len, uint64_t now)
{
	ngtcp2_path path = {
		.local = { (ngtcp2_sockaddr *)&pio->local, pio->local_len },
		.remote = { (ngtcp2_sockaddr *)remote, remote_len },
		.user_data = pio,
	};
	ngtcp2_pkt_info pi = { 0 };
	int rv;

	if (c->state == ZT_QCONN_CLOSING) {
		/* Repeat our CONNECTION_CLOSE for a peer that missed it, but
		 * only on the 1st, 2nd, 4th, 8th... packet and only to the
		 * path's address: no amplifier for spoofed sources. */
		c->close_rx++;
		if (c->close_pkt && (c->close_rx & (c->close_rx - 1)) == 0 &&
		    zt_qconn_remote_is(c, remote, remote_len))
			pio->ops->send(pio, remote, remote_len, c->close_pkt,
				       c->close_len);
		return;
	}
	if (c->state == ZT_QCONN_DRAINING)
		return;
	rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, data, len, now);
	if (rv == 0) {
		c->rx_at = now;
		c->rx_pio = pio;
		after_read(c, now);
		return;
	}
	if (rv == NGTCP2_ERR_DRAINING) {
		enter_draining(c, now);
		return;
	}
	if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_DISCARD_PKT) {
		if (rv == NGTCP2_ERR_DROP_CONN) {
			c->state = ZT_QCONN_DRAINING;
			c->close_deadline = now;
			snprintf(c->ci.reason, sizeof(c->ci.reason), "dropped");
		}
		return;
	}
	fail_liberr(c, rv, now);
}

/* The application hears about the end as soon as it is known, not when the
 * closing period ends; always from a flush, never from inside one of its
 * own calls, so it may free what it likes. */
static void report_closed(struct zt_qconn *c)
{
	if (c->ci_reported)
		return;
	c->ci_reported = 1;
	if (c->ops->closed)
		c->ops->closed(c, &c->ci, c->owner);
	zt_qconn_set_ops(c, NULL, NULL);
}

int zt_qconn_service(struct zt_qconn *c, uint64_t now)
{
	int rv;

	if (c->state >= ZT_QCONN_CLOSING) {
		report_closed(c);
		return now >= c->close_deadline;
	}
	if (ngtcp2_conn_get_expiry(c->conn) <= now) {
		rv = ngtcp2_conn_handle_expiry(c->conn, now);
		if (rv == NGTCP2_ERR_IDLE_CLOSE) {
			c->ci.kind = 2;
			snprintf(c->ci.reason, sizeof(c->ci.reason),
				 "idle timeout");
			return 1;
		}
		if (rv != 0) {
			fail_liberr(c, rv, now);
			return 0;
		}
	}
	rv = zt_stream_write_all(c, now);
	if (rv != 0 && c->state < ZT_QCONN_CLOSING)
		fail_liberr(c, rv, now);
	/* Writing ends validations (timeouts) and zt_qconn_migrate() queued
	 * some: the owner hears of them here, outside ngtcp2. */
	zt_qconn_path_events(c);
	if (c->close_pending && c->state < ZT_QCONN_CLOSING)
		close_now(c, now);
	return 0;
}

uint64_t zt_qconn_expiry(struct zt_qconn *c)
{
	if (c->state >= ZT_QCONN_CLOSING)
		return c->close_deadline;
	return ngtcp2_conn_get_expiry(c->conn);
}

static void cidmap_del_conn(struct zt_ep *ep, struct zt_qconn *c)
{
	for (size_t i = 0; i < ep->nbuckets; i++) {
		struct zt_cident **pp = &ep->buckets[i];

		while (*pp) {
			if ((*pp)->conn == c) {
				struct zt_cident *e = *pp;

				*pp = e->next;
				free(e);
				ep->n_cids--;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

void zt_qconn_handshake_over(struct zt_qconn *c)
{
	if (c->in_handshake) {
		c->in_handshake = 0;
		c->ep->n_handshaking--;
		zt_hs_del(c->ep, &c->src);
	}
}

void zt_qconn_free(struct zt_qconn *c)
{
	struct zt_ep *ep = c->ep;

	if (c->conn)
		report_closed(c);
	if (c->conn) {
		ngtcp2_cid scids[16];
		size_t n = ngtcp2_conn_get_scid(c->conn, NULL);

		if (n <= 16) {
			ngtcp2_conn_get_scid(c->conn, scids);
			for (size_t i = 0; i < n; i++)
				zt_cidmap_del(ep, &scids[i]);
		}
		if (c->server)
			zt_cidmap_del(ep, &c->initial_dcid);
		ngtcp2_conn_del(c->conn);
		c->conn = NULL;
		/* More IDs than the array held: find the rest the slow way. */
		if (n > 16)
			cidmap_del_conn(ep, c);
	}
	zt_qconn_handshake_over(c);
	zt_stream_free_all(c);
	zt_dgram_free_all(c);
	if (c->ssl)
		wolfSSL_free(c->ssl);
	if (c->qlog)
		fclose(c->qlog);
	free(c->close_pkt);
	if (c->prev)
		c->prev->next = c->next;
	else
		ep->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ep->n_conns--;
	free(c);
}

int zt_qconn_remote_is(const struct zt_qconn *c, const struct sockaddr *sa,
		       socklen_t len)
{
	struct zt_addr a, b;

	zt_qconn_remote(c, &a);
	if (zt_addr_from_sockaddr(&b, sa) != 0)
		return 0;
	return zt_addr_equal(&a, &b);
}

void zt_qconn_set_ops(struct zt_qconn *c, const struct zt_qconn_ops *ops,
		      void *owner)
{
	static const struct zt_qconn_ops none = { 0 };

	c->ops = ops ? ops : &none;
	c->owner = ops ? owner : NULL;
}

int zt_qconn_state(const struct zt_qconn *c)
{
	return c->state;
}

int zt_qconn_is_server(const struct zt_qconn *c)
{
	return c->server;
}

const struct zt_identity *zt_qconn_peer(const struct zt_qconn *c)
{
	return &c->peer;
}

void zt_qconn_remote(const struct zt_qconn *c, struct zt_addr *a)
{
	const ngtcp2_path *p;

	memset(a, 0, sizeof(*a));
	if (!c->conn)
		return;
	p = ngtcp2_conn_get_path(c->conn);
	zt_addr_from_sockaddr(a, p->remote.addr);
}

uint64_t zt_qconn_rtt_ns(const struct zt_qconn *c)
{
	ngtcp2_conn_info ci;

	ngtcp2_conn_get_conn_info(c->conn, &ci);
	return ci.smoothed_rtt;
}

void zt_qconn_bytes(const struct zt_qconn *c, uint64_t *sent, uint64_t *recv)
{
	ngtcp2_conn_info ci;

	ngtcp2_conn_get_conn_info(c->conn, &ci);
	*sent = ci.bytes_sent;
	*recv = ci.bytes_recv;
}

const char *zt_qconn_label(const struct zt_qconn *c)
{
	return c->label;
}

void zt_qconn_label_update(struct zt_qconn *c)
{
	char a[64];
	struct zt_addr ra;

	zt_qconn_remote(c, &ra);
	zt_addr_str(&ra, a, sizeof(a));
	if (c->peer.role)
		snprintf(c->label, sizeof(c->label), "%s %s@%s",
			 zt_role_name(c->peer.role), c->peer.name, a);
	else
		snprintf(c->label, sizeof(c->label), "%s", a);
}

void zt_qconn_last_rx(const struct zt_qconn *c, uint64_t *at,
		      const struct zt_pathio **pio)
{
	*at = c->rx_at;
	*pio = c->rx_pio;
}

/* ngtcp2 has no callback for "an ACK arrived"; a new RTT sample is one
 * (keep-alive PINGs included). Looked at here rather than per packet read:
 * only the agent's liveness check wants it, a few times a second. An ACK
 * comes in a packet, so it arrived by the last one read (rx_at), and after
 * the previous call saw the same sample: the answer is late by at most the
 * caller's polling interval. */
uint64_t zt_qconn_acked_at(struct zt_qconn *c)
{
	ngtcp2_conn_info ci;

	if (!c->conn)
		return c->acked_at;
	ngtcp2_conn_get_conn_info(c->conn, &ci);
	if (ci.latest_rtt != c->last_rtt_sample) {
		c->last_rtt_sample = ci.latest_rtt;
		c->acked_at = c->rx_at;
	}
	return c->acked_at;
}
