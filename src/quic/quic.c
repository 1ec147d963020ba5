/* QUIC endpoint: connection table, ngtcp2 callbacks and the write loop.
 * Streams and the CID map live in quic_stream.c and quic_cid.c. */
#include "quic_int.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "err.h"
#include "log.h"

static void rand_bytes(uint8_t *p, size_t n)
{
	/* wolfSSL's DRBG is seeded from the OS; failing here means the
	 * process cannot do any cryptography at all. */
	if (wolfSSL_RAND_bytes(p, (int)n) != 1)
		abort();
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	rand_bytes(dest, len);
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	struct zt_qconn *c = ref->user_data;

	return c->conn;
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid,
		      ngtcp2_stateless_reset_token *token, size_t cidlen,
		      void *ud)
{
	struct zt_qconn *c = ud;

	rand_bytes(cid->data, cidlen);
	cid->datalen = cidlen;
	if (ngtcp2_crypto_generate_stateless_reset_token(
		    token->data, c->ep->secret, sizeof(c->ep->secret), cid) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (zt_cidmap_add(c->ep, cid, c) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int remove_cid_cb(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *ud)
{
	struct zt_qconn *c = ud;

	zt_cidmap_del(c->ep, cid);
	return 0;
}

/* Identity and role checks run here, but the verdict is acted on after
 * ngtcp2_conn_read_pkt() returns: closing from inside a callback is not
 * allowed. */
static int handshake_completed_cb(ngtcp2_conn *conn, void *ud)
{
	struct zt_qconn *c = ud;

	zt_qconn_check_peer(c);
	if (c->server)
		c->pending_established = 1;
	return 0;
}

/* A client calls the connection established only once the server confirmed
 * the handshake (HANDSHAKE_DONE): in TLS 1.3 the client finishes before the
 * server has judged the client certificate, and a refused client must not
 * start talking. */
static int handshake_confirmed_cb(ngtcp2_conn *conn, void *ud)
{
	struct zt_qconn *c = ud;

	if (!c->server)
		c->pending_established = 1;
	return 0;
}

static int recv_datagram_cb(ngtcp2_conn *conn, uint32_t flags,
			    const uint8_t *data, size_t len, void *ud)
{
	struct zt_qconn *c = ud;

	if (c->state == ZT_QCONN_ESTABLISHED && c->ops->datagram)
		c->ops->datagram(c, data, len, c->owner);
	return 0;
}

static int stateless_reset_cb(ngtcp2_conn *conn,
			      const ngtcp2_pkt_stateless_reset2 *sr, void *ud)
{
	struct zt_qconn *c = ud;

	c->got_reset = 1;
	return 0;
}

static void qlog_cb(void *ud, uint32_t flags, const void *data, size_t len)
{
	struct zt_qconn *c = ud;

	if (c->qlog)
		fwrite(data, 1, len, c->qlog);
	if (c->qlog && (flags & NGTCP2_QLOG_WRITE_FLAG_FIN)) {
		fclose(c->qlog);
		c->qlog = NULL;
	}
}

static const ngtcp2_callbacks callbacks_tmpl = {
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = handshake_completed_cb,
	.handshake_confirmed = handshake_confirmed_cb,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_stream_data = zt_stream_recv_cb,
	.acked_stream_data_offset = zt_stream_acked_cb,
	.stream_open = zt_stream_open_cb,
	.stream_close = zt_stream_close_cb,
	.stream_reset = zt_stream_reset_cb,
	.rand = rand_cb,
	.remove_connection_id = remove_cid_cb,
	.update_key = ngtcp2_crypto_update_key_cb,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.recv_datagram = recv_datagram_cb,
	.recv_stateless_reset2 = stateless_reset_cb,
	.recv_stop_sending = zt_stream_stop_cb,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	.get_new_connection_id2 = new_cid_cb,
	.get_path_challenge_data2 = ngtcp2_crypto_get_path_challenge_data2_cb,
	.begin_path_validation = zt_pv_begin_cb,
	.path_validation = zt_pv_result_cb,
};

static void fill_settings(struct zt_qconn *c, ngtcp2_settings *s,
			  uint64_t now)
{
	ngtcp2_settings_default(s);
	s->initial_ts = now;
	s->cc_algo = NGTCP2_CC_ALGO_CUBIC;
	s->max_window = 24 * 1024 * 1024;
	s->max_stream_window = ZT_STREAM_WINDOW_MAX;
	s->handshake_timeout = 10 * NGTCP2_SECONDS;
	if (c->qlog)
		s->qlog_write = qlog_cb;
}

static void fill_params(struct zt_ep *ep, ngtcp2_transport_params *p)
{
	ngtcp2_transport_params_default(p);
	p->initial_max_stream_data_bidi_local = 1024 * 1024;
	p->initial_max_stream_data_bidi_remote = 1024 * 1024;
	p->initial_max_data = 4 * 1024 * 1024;
	/* One stream per TCP/UDP flow: as many as a connector allows flows
	 * per agent (each closed stream gives one back). */
	p->initial_max_streams_bidi = 4096;
	p->initial_max_streams_uni = 0;
	p->max_idle_timeout = ep->cfg.idle_timeout_ns;
	p->max_datagram_frame_size = 65535;
	/* The most ngtcp2 keeps (NGTCP2_DCIDTR_MAX_UNUSED_DCID_SIZE). Each
	 * migration takes a fresh connection ID on both sides, and a server
	 * without a spare one silently stays on the old path: with 8, a
	 * relay <-> direct flap has room until NEW_CONNECTION_ID refills. */
	p->active_connection_id_limit = 8;
}

static void open_qlog(struct zt_qconn *c, const ngtcp2_cid *scid)
{
	char path[4096], hex[2 * NGTCP2_MAX_CIDLEN + 1];
	int n;

	if (!c->ep->cfg.qlog_dir || !c->ep->cfg.qlog_dir[0])
		return;
	for (size_t i = 0; i < scid->datalen; i++)
		snprintf(hex + 2 * i, 3, "%02x", scid->data[i]);
	hex[2 * scid->datalen] = 0;
	n = snprintf(path, sizeof(path), "%s/%s-%s.sqlog", c->ep->cfg.qlog_dir,
		     c->server ? "server" : "client", hex);
	if (n < 0 || (size_t)n >= sizeof(path))
		return;
	c->qlog = fopen(path, "w");
	if (!c->qlog)
		log_warn("quic: cannot open qlog %s: %s", path, strerror(errno));
}

static struct zt_qconn *conn_alloc(struct zt_ep *ep, int server)
{
	struct zt_qconn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ep = ep;
	c->server = server;
	zt_qconn_set_ops(c, NULL, NULL);
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;
	c->next = ep->conns;
	if (ep->conns)
		ep->conns->prev = c;
	ep->conns = c;
	ep->n_conns++;
	return c;
}

static int tls_new(struct zt_qconn *c, const char *server_name)
{
	struct zt_tls *t = c->ep->cfg.tls;

	c->ssl = wolfSSL_new(c->server ? t->server : t->client);
	if (!c->ssl)
		return ZT_ENOMEM;
	wolfSSL_set_app_data(c->ssl, &c->ref);
	/* 0x39: the RFC 9000 quic_transport_parameters extension. */
	wolfSSL_set_quic_transport_version(c->ssl, 0x39);
	/* Both sides offer only ours; a server without a match sends
	 * no_application_protocol. (The native call: wolfSSL's OpenSSL-style
	 * ALPN calls change behaviour and return values with its options.) */
	if (wolfSSL_UseALPN(c->ssl, (char *)ZT_ALPN, sizeof(ZT_ALPN) - 1,
			    WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return ZT_ETLS;
	if (c->server) {
		wolfSSL_set_accept_state(c->ssl);
		return 0;
	}
	wolfSSL_set_connect_state(c->ssl);
	if (server_name && *server_name) {
		struct in6_addr tmp;
		int is_ip = inet_pton(AF_INET, server_name, &tmp) == 1 ||
			    inet_pton(AF_INET6, server_name, &tmp) == 1;

		if (!is_ip)
			wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME,
				       server_name,
				       (unsigned short)strlen(server_name));
	}
	return 0;
}

int zt_ep_connect(struct zt_ep *ep, struct zt_pathio *pio,
		  const struct sockaddr *remote, socklen_t remote_len,
		  const char *server_name, int expect_role,
		  const struct zt_qconn_ops *ops, void *owner,
		  struct zt_qconn **out, uint64_t now)
{
	struct zt_qconn *c = conn_alloc(ep, 0);
	ngtcp2_cid dcid, scid;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
	ngtcp2_path path = {
		.local = { (ngtcp2_sockaddr *)&pio->local, pio->local_len },
		.remote = { (ngtcp2_sockaddr *)remote, remote_len },
		.user_data = pio,
	};
	int rv = ZT_ENOMEM;

	if (!c)
		return ZT_ENOMEM;
	zt_qconn_set_ops(c, ops, owner);
	c->expect_role = expect_role;
	snprintf(c->server_name, sizeof(c->server_name), "%s",
		 server_name ? server_name : "");
	dcid.datalen = ZT_CID_LEN;
	rand_bytes(dcid.data, dcid.datalen);
	scid.datalen = ZT_CID_LEN;
	rand_bytes(scid.data, scid.datalen);
	open_qlog(c, &scid);
	fill_settings(c, &s, now);
	fill_params(ep, &p);
	if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path,
				   NGTCP2_PROTO_VER_V1, &ep->client_cb, &s,
				   &p, NULL, c) != 0)
		goto out;
	if ((rv = tls_new(c, server_name)) != 0)
		goto out;
	ngtcp2_conn_set_tls_native_handle(c->conn, c->ssl);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, ep->cfg.keepalive_ns);
	if ((rv = zt_cidmap_add(ep, &scid, c)) != 0)
		goto out;
	zt_qconn_label_update(c);
	ep->dirty = 1;
	*out = c;
out:
	if (rv != 0) {
		c->ci_reported = 1; /* the caller learns it from rv */
		zt_qconn_free(c);
	}
	return rv;
}

static int send_retry(struct zt_ep *ep, struct zt_pathio *pio,
		      const struct sockaddr *remote, socklen_t remote_len,
		      const ngtcp2_pkt_hd *hd, uint64_t now)
{
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN2];
	uint8_t buf[1500];
	ngtcp2_cid scid;
	ngtcp2_ssize tl, n;

	/* Checked before any cryptography: a Retry costs a key derivation
	 * and two AEAD operations, and goes to an unproven address. */
	if (!zt_rate_allow(ep, &ep->retry_rl, remote, now))
		return ZT_EAGAIN;
	scid.datalen = ZT_CID_LEN;
	rand_bytes(scid.data, scid.datalen);
	tl = ngtcp2_crypto_generate_retry_token2(
		token, ep->secret, sizeof(ep->secret), hd->version, remote,
		remote_len, &scid, &hd->dcid, now);
	if (tl < 0)
		return ZT_EQUIC;
	n = ngtcp2_crypto_write_retry(buf, sizeof(buf), hd->version, &hd->scid,
				      &scid, &hd->dcid, token, (size_t)tl);
	if (n < 0)
		return ZT_EQUIC;
	return pio->ops->send(pio, remote, remote_len, buf, (size_t)n);
}

/* Returns 1 to go on with odcid/retry_scid set, 0 when the packet was
 * answered with a Retry or dropped. */
static int validate_address(struct zt_ep *ep, struct zt_pathio *pio,
			    const struct sockaddr *remote,
			    socklen_t remote_len, const ngtcp2_pkt_hd *hd,
			    ngtcp2_cid *odcid, uint64_t now)
{
	if (!ep->cfg.require_retry || (pio->flags & ZT_PATHIO_AUTHENTICATED))
		return 1;
	if (hd->tokenlen == 0) {
		send_retry(ep, pio, remote, remote_len, hd, now);
		return 0;
	}
	if (hd->token[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2 ||
	    ngtcp2_crypto_verify_retry_token2(
		    odcid, hd->token, hd->tokenlen, ep->secret,
		    sizeof(ep->secret), hd->version, remote, remote_len,
		    &hd->dcid, 10 * NGTCP2_SECONDS, now) != 0) {
		ep->bad_token++;
		log_debug("quic: dropping Initial with an invalid token");
		return 0;
	}
	return 2;
}

/* Bounds on connections still in their handshake, each of which holds a
 * TLS object for up to the handshake timeout: in all, and per source so
 * that one source cannot take every slot. The per-source count is only
 * charged once the address is validated, so checking it before the Retry
 * merely spares a Retry whose answer would be dropped anyway. Returns as
 * validate_address(). */
static int admit(struct zt_ep *ep, struct zt_pathio *pio,
		 const struct sockaddr *remote, socklen_t remote_len,
		 const ngtcp2_pkt_hd *hd, const struct zt_srckey *src,
		 ngtcp2_cid *odcid, uint64_t now)
{
	if (ep->n_handshaking >= ZT_EP_MAX_HANDSHAKING) {
		ep->hs_drop_full++;
		log_debug("quic: too many handshakes in progress, dropping");
		return 0;
	}
	if (!zt_hs_admit(ep, src)) {
		ep->hs_drop_source++;
		log_debug("quic: too many handshakes from one source, dropping");
		return 0;
	}
	return validate_address(ep, pio, remote, remote_len, hd, odcid, now);
}

/* Counts c against its source; it leaves in zt_qconn_handshake_over(). */
static int start_handshake(struct zt_qconn *c, const struct zt_srckey *src)
{
	if (zt_hs_add(c->ep, src) != 0)
		return ZT_ETOOBIG;
	c->src = *src;
	c->in_handshake = 1;
	c->ep->n_handshaking++;
	return 0;
}

static void server_accept(struct zt_ep *ep, struct zt_pathio *pio,
			  const struct sockaddr *remote, socklen_t remote_len,
			  const uint8_t *data, size_t len, uint64_t now)
{
	ngtcp2_pkt_hd hd;
	ngtcp2_cid odcid, scid;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
	struct zt_qconn *c;
	struct zt_srckey src;
	int v;
	ngtcp2_path path = {
		.local = { (ngtcp2_sockaddr *)&pio->local, pio->local_len },
		.remote = { (ngtcp2_sockaddr *)remote, remote_len },
		.user_data = pio,
	};

	if (!ep->cfg.accept_roles || ngtcp2_accept(&hd, data, len) != 0)
		return;
	zt_srckey_of(&src, remote);
	v = admit(ep, pio, remote, remote_len, &hd, &src, &odcid, now);
	if (v == 0)
		return;
	c = conn_alloc(ep, 1);
	if (!c)
		return;
	zt_qconn_set_ops(c, ep->cfg.accept, ep->cfg.accept_owner);
	if (start_handshake(c, &src) != 0)
		goto fail;
	scid.datalen = ZT_CID_LEN;
	rand_bytes(scid.data, scid.datalen);
	open_qlog(c, &scid);
	fill_settings(c, &s, now);
	if (v == 2) {
		/* Only a token we verified proves the address; any other would
		 * lift the anti-amplification limit for a spoofed source. */
		s.token = hd.token;
		s.tokenlen = hd.tokenlen;
		s.token_type = NGTCP2_TOKEN_TYPE_RETRY;
	}
	fill_params(ep, &p);
	p.original_dcid = v == 2 ? odcid : hd.dcid;
	p.original_dcid_present = 1;
	if (v == 2) {
		p.retry_scid = hd.dcid;
		p.retry_scid_present = 1;
	}
	if (ngtcp2_crypto_generate_stateless_reset_token(
		    p.stateless_reset_token, ep->secret, sizeof(ep->secret),
		    &scid) != 0)
		goto fail;
	p.stateless_reset_token_present = 1;
	if (ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &path,
				   hd.version, &ep->server_cb, &s, &p, NULL,
				   c) != 0)
		goto fail;
	if (tls_new(c, NULL) != 0)
		goto fail;
	ngtcp2_conn_set_tls_native_handle(c->conn, c->ssl);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, ep->cfg.keepalive_ns);
	c->initial_dcid = hd.dcid;
	if (zt_cidmap_add(ep, &scid, c) != 0 ||
	    zt_cidmap_add(ep, &hd.dcid, c) != 0)
		goto fail;
	zt_qconn_label_update(c);
	log_debug("quic: new connection from %s", c->label);
	zt_qconn_read(c, pio, remote, remote_len, data, len, now);
	return;
fail:
	log_warn("quic: cannot accept a connection (out of memory?)");
	c->ci_reported = 1;
	zt_qconn_free(c);
}

/* A short-header packet for a connection we do not know: it may be a
 * stateless reset for one of our client connections (its DCID is random),
 * otherwise answer with our own reset so the peer stops quickly. */
static void unknown_short(struct zt_ep *ep, struct zt_pathio *pio,
			  const struct sockaddr *remote, socklen_t remote_len,
			  const uint8_t *data, size_t len, const uint8_t *dcid,
			  size_t dcidlen, uint64_t now)
{
	uint8_t buf[128], rnd[64];
	ngtcp2_stateless_reset_token token;
	ngtcp2_cid cid;
	size_t rlen;
	ngtcp2_ssize n;

	for (struct zt_qconn *c = ep->conns; c; c = c->next) {
		if (c->server || c->state >= ZT_QCONN_CLOSING ||
		    !zt_qconn_remote_is(c, remote, remote_len))
			continue;
		zt_qconn_read(c, pio, remote, remote_len, data, len, now);
		return;
	}
	/* Ours must be smaller than what triggered it, so two endpoints that
	 * both lost state cannot ping-pong resets forever (RFC 9000 10.3.3). */
	if (len < 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN +
			  NGTCP2_STATELESS_RESET_TOKENLEN + 1 ||
	    dcidlen != ZT_CID_LEN)
		return;
	/* Anyone can send these from any (spoofed) address: a reset costs a
	 * key derivation and reflects to that address. */
	if (!zt_rate_allow(ep, &ep->reset_rl, remote, now))
		return;
	ngtcp2_cid_init(&cid, dcid, dcidlen);
	if (ngtcp2_crypto_generate_stateless_reset_token(
		    token.data, ep->secret, sizeof(ep->secret), &cid) != 0)
		return;
	rlen = len - 1 - NGTCP2_STATELESS_RESET_TOKENLEN - 1;
	if (rlen > sizeof(rnd))
		rlen = sizeof(rnd);
	rand_bytes(rnd, rlen);
	n = ngtcp2_pkt_write_stateless_reset2(buf, sizeof(buf), &token, rnd,
					      rlen);
	if (n > 0)
		pio->ops->send(pio, remote, remote_len, buf, (size_t)n);
}

void zt_ep_recv(struct zt_ep *ep, struct zt_pathio *pio,
		const struct sockaddr *remote, socklen_t remote_len,
		const uint8_t *data, size_t len, uint64_t now)
{
	ngtcp2_version_cid vc;
	ngtcp2_cid dcid;
	struct zt_qconn *c;

	/* ngtcp2 copies the address into storage sized for IPv4 and IPv6:
	 * a relayed path's caller builds it, so check it. */
	if (len == 0 || !zt_sa_ok(remote, remote_len) ||
	    ngtcp2_pkt_decode_version_cid(&vc, data, len, ZT_CID_LEN) != 0)
		return;
	if (vc.dcidlen > NGTCP2_MAX_CIDLEN)
		return;
	ngtcp2_cid_init(&dcid, vc.dcid, vc.dcidlen);
	c = zt_cidmap_find(ep, &dcid);
	if (c) {
		zt_qconn_read(c, pio, remote, remote_len, data, len, now);
		return;
	}
	if (data[0] & 0x80)
		server_accept(ep, pio, remote, remote_len, data, len, now);
	else
		unknown_short(ep, pio, remote, remote_len, data, len, vc.dcid,
			      vc.dcidlen, now);
}

int zt_ep_new(struct zt_ep **out, const struct zt_ep_config *cfg,
	      uint64_t now)
{
	struct zt_ep *ep = calloc(1, sizeof(*ep));

	if (!ep)
		return ZT_ENOMEM;
	ep->cfg = *cfg;
	/* A secret that survives restarts (derived from the key by the
	 * caller) lets a restarted relay send stateless resets its old peers
	 * recognise, so they reconnect at once instead of idling out. */
	memcpy(ep->secret, cfg->secret, sizeof(ep->secret));
	if (!memcmp(ep->secret, (uint8_t[32]){ 0 }, sizeof(ep->secret)))
		rand_bytes(ep->secret, sizeof(ep->secret));
	/* ngtcp2 wants the Initial and Retry callbacks of one side only. */
	ep->client_cb = callbacks_tmpl;
	ep->client_cb.client_initial = ngtcp2_crypto_client_initial_cb;
	ep->client_cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
	ep->server_cb = callbacks_tmpl;
	ep->server_cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	if (zt_cidmap_init(ep) != 0) {
		free(ep);
		return ZT_ENOMEM;
	}
	*out = ep;
	return 0;
}

void zt_ep_free(struct zt_ep *ep)
{
	if (!ep)
		return;
	while (ep->conns)
		zt_qconn_free(ep->conns);
	zt_cidmap_free(ep);
	free(ep);
}

size_t zt_ep_conn_count(struct zt_ep *ep)
{
	return ep->n_conns;
}

struct zt_qconn *zt_ep_conn_first(struct zt_ep *ep)
{
	return ep->conns;
}

struct zt_qconn *zt_ep_conn_next(struct zt_qconn *c)
{
	return c->next;
}

void zt_ep_close_all(struct zt_ep *ep, uint64_t app_error, const char *reason,
		     uint64_t now)
{
	for (struct zt_qconn *c = ep->conns; c; c = c->next)
		zt_qconn_close(c, app_error, reason, now);
}

uint64_t zt_ep_next_expiry(struct zt_ep *ep)
{
	uint64_t t = UINT64_MAX;

	if (ep->dirty)
		return 0;
	for (struct zt_qconn *c = ep->conns; c; c = c->next) {
		uint64_t e = zt_qconn_expiry(c);

		if (e < t)
			t = e;
	}
	return t;
}

void zt_ep_flush(struct zt_ep *ep, uint64_t now)
{
	/* Callbacks run during a pass (closed, stream data) may queue data
	 * on connections already passed: go round again, a bounded number of
	 * times. */
	for (int pass = 0; pass < 4; pass++) {
		struct zt_qconn *c = ep->conns, *next;

		ep->dirty = 0;
		for (; c; c = next) {
			next = c->next;
			if (zt_qconn_service(c, now) != 0)
				zt_qconn_free(c);
		}
		if (!ep->dirty)
			break;
	}
}
