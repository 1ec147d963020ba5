#include "tls.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "err.h"
#include "log.h"
#include "pki.h"

static int alpn_select(WOLFSSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	const size_t n = sizeof(ZT_ALPN) - 1;

	for (unsigned int i = 0; i < inlen;) {
		unsigned int l = in[i];

		if (i + 1 + l > inlen)
			break;
		if (l == n && memcmp(in + i + 1, ZT_ALPN, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	/* Refusing is what enforces ALPN: wolfSSL would otherwise proceed. */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* wolfSSL calls this only when chain verification failed: log why, with the
 * certificate subject, so an operator sees "expired" or "unknown CA". */
static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	char subj[256] = "?";

	if (preverify)
		return 1;
	WOLFSSL_X509 *cur = wolfSSL_X509_STORE_CTX_get_current_cert(store);

	if (cur) {
		WOLFSSL_X509_NAME *n =
			wolfSSL_X509_get_subject_name(cur);
		if (n)
			wolfSSL_X509_NAME_oneline(n, subj, sizeof(subj));
	}
	log_warn("tls: peer certificate rejected: %s (subject %s)",
		 wolfSSL_X509_verify_cert_error_string(
			 wolfSSL_X509_STORE_CTX_get_error(store)), subj);
	return 0;
}

static void keylog_cb(const WOLFSSL *ssl, const char *line)
{
	WOLFSSL_CTX *ctx = wolfSSL_get_SSL_CTX((WOLFSSL *)ssl);
	FILE *f = wolfSSL_CTX_get_ex_data(ctx, 0);

	if (f) {
		fprintf(f, "%s\n", line);
		fflush(f);
	}
}

static int ctx_setup(struct zt_tls *t, WOLFSSL_CTX *ctx, const char *ca,
		     const char *cert, const char *key)
{
	if (wolfSSL_CTX_load_verify_locations(ctx, ca, NULL) != WOLFSSL_SUCCESS) {
		log_error("tls: cannot load CA certificate %s", ca);
		return ZT_ETLS;
	}
	if (wolfSSL_CTX_use_certificate_chain_file(ctx, cert) !=
	    WOLFSSL_SUCCESS) {
		log_error("tls: cannot load certificate %s", cert);
		return ZT_ETLS;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM) !=
	    WOLFSSL_SUCCESS) {
		log_error("tls: cannot load private key %s", key);
		return ZT_ETLS;
	}
	if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
		log_error("tls: key %s does not match certificate %s", key, cert);
		return ZT_ETLS;
	}
	wolfSSL_CTX_set_verify(ctx,
			       WOLFSSL_VERIFY_PEER |
				       WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			       verify_cb);
	if (t->keylog) {
		wolfSSL_CTX_set_ex_data(ctx, 0, t->keylog);
		wolfSSL_CTX_set_keylog_callback(ctx, keylog_cb);
	}
	return 0;
}

static int load_self(struct zt_tls *t, const char *cert)
{
	WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(
		cert, WOLFSSL_FILETYPE_PEM);
	int rv;

	if (!x) {
		log_error("tls: cannot read certificate %s", cert);
		return ZT_ETLS;
	}
	rv = zt_identity_from_x509(&t->self, x);
	if (rv != 0)
		log_error("tls: %s is not a ztnad certificate (needs OU=role, CN=name)",
			  cert);
	wolfSSL_X509_free(x);
	return rv;
}

int zt_tls_init(struct zt_tls *t, const char *ca, const char *cert,
		const char *key)
{
	const char *kl = getenv("SSLKEYLOGFILE");
	int rv = ZT_ENOMEM;

	memset(t, 0, sizeof(*t));
	if (kl && *kl) {
		t->keylog = fopen(kl, "a");
		if (!t->keylog)
			log_warn("tls: cannot open SSLKEYLOGFILE %s: %s", kl,
				 strerror(errno));
		else
			log_warn("tls: writing TLS secrets to %s (SSLKEYLOGFILE)", kl);
	}
	t->server = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
	t->client = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	if (!t->server || !t->client)
		goto out;
	rv = ZT_ETLS;
	if (ngtcp2_crypto_wolfssl_configure_server_context(t->server) != 0 ||
	    ngtcp2_crypto_wolfssl_configure_client_context(t->client) != 0)
		goto out;
	if ((rv = ctx_setup(t, t->server, ca, cert, key)) != 0 ||
	    (rv = ctx_setup(t, t->client, ca, cert, key)) != 0)
		goto out;
	wolfSSL_CTX_set_alpn_select_cb(t->server, alpn_select, NULL);
	rv = load_self(t, cert);
out:
	if (rv != 0)
		zt_tls_free(t);
	return rv;
}

void zt_tls_free(struct zt_tls *t)
{
	if (t->server)
		wolfSSL_CTX_free(t->server);
	if (t->client)
		wolfSSL_CTX_free(t->client);
	if (t->keylog)
		fclose(t->keylog);
	memset(t, 0, sizeof(*t));
}

int zt_tls_peer_identity(WOLFSSL *ssl, struct zt_identity *id)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(ssl);
	int rv;

	if (!x)
		return ZT_ETLS;
	rv = zt_identity_from_x509(id, x);
	wolfSSL_X509_free(x);
	return rv;
}

int zt_tls_check_alpn(WOLFSSL *ssl)
{
	char *proto = NULL;
	unsigned short len = 0;

	if (wolfSSL_ALPN_GetProtocol(ssl, &proto, &len) != WOLFSSL_SUCCESS)
		return ZT_ETLS;
	if (len != sizeof(ZT_ALPN) - 1 || memcmp(proto, ZT_ALPN, len) != 0)
		return ZT_ETLS;
	return 0;
}
