/* TLS 1.3 contexts for QUIC (wolfSSL): one server and one client context per
 * process, both trusting only the organisation CA and presenting our
 * certificate. ALPN "ztnad/1" is required both ways. */
#ifndef ZT_TLS_H
#define ZT_TLS_H

#include <stdio.h>

#include "types.h"

#define ZT_ALPN "ztnad/1"
/* The TCP transport's TLS stream (docs/PROTOCOL.md, "TCP transport"). */
#define ZT_ALPN_TCP "ztnad-tcp/1"

struct WOLFSSL_CTX;
struct WOLFSSL;
struct WOLFSSL_CERT_MANAGER;

struct zt_tls {
	struct WOLFSSL_CTX *server;
	struct WOLFSSL_CTX *client;
	/* TLS 1.3 over TCP for relay links when UDP is blocked: the same CA,
	 * certificate and key, not configured for QUIC. */
	struct WOLFSSL_CTX *tcp_server;
	struct WOLFSSL_CTX *tcp_client;
	struct zt_identity self; /* from our own certificate */
	FILE *keylog;            /* $SSLKEYLOGFILE, or NULL */
	/* The CA and its revocation list ([identity] crl), or NULL: peers are
	 * checked against it after every handshake and again on reload. */
	struct WOLFSSL_CERT_MANAGER *crl;
};

/* Loads CA, certificate and key. Returns 0, or ZT_ETLS / ZT_EIO with a log
 * line naming the file and the reason (also used by --check). */
int zt_tls_init(struct zt_tls *t, const char *ca, const char *cert,
		const char *key);
void zt_tls_free(struct zt_tls *t);

/* Reads the verified peer's identity after the handshake. Returns 0, or
 * ZT_ETLS (no certificate) / ZT_EINVAL (not a ztnad identity). */
int zt_tls_peer_identity(struct WOLFSSL *ssl, struct zt_identity *id);
/* Loads (or, with crl NULL or "", drops) the revocation list, signed by
 * the CA. On failure the previous list stays in force. Returns 0 or
 * ZT_ETLS / ZT_EIO with a log line. */
int zt_tls_load_crl(struct zt_tls *t, const char *ca, const char *crl);
/* 1 when a revocation list is loaded and the verified peer's certificate
 * is on it, or cannot be checked against it (why says which); else 0. */
int zt_tls_peer_revoked(const struct zt_tls *t, struct WOLFSSL *ssl,
			char *why, size_t why_len);

/* 1 when the verified peer's certificate names host (a DNS name or an IP
 * literal, in its SubjectAltName); else 0. */
int zt_tls_peer_is(struct WOLFSSL *ssl, const char *host);

/* Checks that the negotiated ALPN is ours (a client must not trust the
 * server to enforce it). Returns 0 or ZT_ETLS. */
int zt_tls_check_alpn(struct WOLFSSL *ssl);
/* The same for the TCP transport's ALPN. */
int zt_tls_check_alpn_tcp(struct WOLFSSL *ssl);

#endif
