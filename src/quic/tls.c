#include "tls.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/error-ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "err.h"
#include "log.h"
#include "pki.h"

/* Stable words for the log whatever wolfSSL's build options: its own text
 * for these differs between its native and OpenSSL-compatible builds. */
static const char *verify_error_text(int err)
{
	switch (err) {
	case ASN_AFTER_DATE_E:
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate has expired";
	case ASN_BEFORE_DATE_E:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate is not yet valid";
	case ASN_NO_SIGNER_E:
		return "certificate verify failed: unknown CA";
	case CRL_CERT_REVOKED:
	case X509_V_ERR_CERT_REVOKED:
		return "certificate revoked";
	default:
		return wolfSSL_X509_verify_cert_error_string(err);
	}
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
		 verify_error_text(wolfSSL_X509_STORE_CTX_get_error(store)),
		 subj);
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

/* A private key anyone else on the machine can read is already lost: say
 * so and stop, as sshd does, rather than run with it. */
static int key_private(const char *key)
{
	struct stat st;

	if (stat(key, &st) != 0) {
		log_error("tls: cannot read private key %s: %s", key,
			  strerror(errno));
		return ZT_ETLS;
	}
	if (st.st_mode & 077) {
		log_error("tls: private key %s is readable by group or others "
			  "(mode %03o): chmod 600 it", key,
			  (unsigned)(st.st_mode & 0777));
		return ZT_ETLS;
	}
	return 0;
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

/* The key log holds every secret of every session: owner-only, never
 * through a symlink someone planted, and only when the operator asked. */
static FILE *keylog_open(const char *path)
{
	struct stat st;
	FILE *f = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
		      0600);

	if (fd < 0) {
		log_warn("tls: cannot open SSLKEYLOGFILE %s: %s", path,
			 strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || fchmod(fd, 0600) != 0) {
		log_warn("tls: cannot open SSLKEYLOGFILE %s: not a regular file "
			 "of ours that can be made 0600", path);
		goto fail;
	}
	f = fdopen(fd, "a");
	if (!f) {
		log_warn("tls: cannot open SSLKEYLOGFILE %s: %s", path,
			 strerror(errno));
		goto fail;
	}
	log_warn("tls: writing TLS secrets to %s (SSLKEYLOGFILE)", path);
	return f;
fail:
	close(fd);
	return NULL;
}

int zt_tls_init(struct zt_tls *t, const char *ca, const char *cert,
		const char *key)
{
	const char *kl = getenv("SSLKEYLOGFILE");
	int rv = ZT_ENOMEM;

	memset(t, 0, sizeof(*t));
	if (kl && *kl)
		t->keylog = keylog_open(kl);
	t->server = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
	t->client = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	t->tcp_server = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
	t->tcp_client = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	if (!t->server || !t->client || !t->tcp_server || !t->tcp_client)
		goto out;
	rv = ZT_ETLS;
	if (ngtcp2_crypto_wolfssl_configure_server_context(t->server) != 0 ||
	    ngtcp2_crypto_wolfssl_configure_client_context(t->client) != 0)
		goto out;
	if ((rv = key_private(key)) != 0 ||
	    (rv = ctx_setup(t, t->server, ca, cert, key)) != 0 ||
	    (rv = ctx_setup(t, t->client, ca, cert, key)) != 0 ||
	    (rv = ctx_setup(t, t->tcp_server, ca, cert, key)) != 0 ||
	    (rv = ctx_setup(t, t->tcp_client, ca, cert, key)) != 0)
		goto out;
	/* No resumption: a ticket would let a peer back in without presenting
	 * its certificate again, past a revocation or expiry. */
	if (wolfSSL_CTX_no_ticket_TLSv13(t->server) != 0 ||
	    wolfSSL_CTX_no_ticket_TLSv13(t->tcp_server) != 0) {
		log_error("tls: cannot disable session tickets");
		rv = ZT_ETLS;
		goto out;
	}
	rv = load_self(t, cert);
out:
	if (rv != 0)
		zt_tls_free(t);
	return rv;
}

int zt_tls_load_crl(struct zt_tls *t, const char *ca, const char *crl)
{
	WOLFSSL_CERT_MANAGER *cm = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = ZT_ETLS, r;

	if (!crl || !*crl) {
		if (t->crl)
			wolfSSL_CertManagerFree(t->crl);
		t->crl = NULL;
		return 0;
	}
	/* pki_read_file says why it could not. */
	if (pki_read_file(crl, &buf, &len) != 0) {
		rv = ZT_EIO;
		goto out;
	}
	cm = wolfSSL_CertManagerNew();
	if (!cm || wolfSSL_CertManagerLoadCA(cm, ca, NULL) != WOLFSSL_SUCCESS) {
		log_error("tls: cannot load CA %s for the revocation list", ca);
		goto out;
	}
	/* Verifies the list's signature against the CA and its dates. */
	r = wolfSSL_CertManagerLoadCRLBuffer(cm, buf, (long)len, WOLFSSL_FILETYPE_PEM);
	if (r != WOLFSSL_SUCCESS) {
		log_error("tls: revocation list %s rejected: %s", crl,
			  wolfSSL_ERR_reason_error_string((unsigned long)r));
		goto out;
	}
	if (t->crl)
		wolfSSL_CertManagerFree(t->crl);
	t->crl = cm;
	cm = NULL;
	rv = 0;
out:
	if (cm)
		wolfSSL_CertManagerFree(cm);
	free(buf);
	return rv;
}

int zt_tls_peer_revoked(const struct zt_tls *t, struct WOLFSSL *ssl,
			char *why, size_t why_len)
{
	WOLFSSL_X509 *x;
	const unsigned char *der;
	int len = 0, r;

	if (!t->crl)
		return 0;
	x = wolfSSL_get_peer_certificate(ssl);
	der = x ? wolfSSL_X509_get_der(x, &len) : NULL;
	r = der ? wolfSSL_CertManagerCheckCRL(t->crl, (unsigned char *)der, len)
		: WOLFSSL_FATAL_ERROR;
	if (x)
		wolfSSL_X509_free(x);
	if (r == WOLFSSL_SUCCESS)
		return 0;
	/* Fail closed: a list that no longer applies (expired, another
	 * issuer) refuses peers rather than letting everyone in. */
	snprintf(why, why_len, "%s", r == CRL_CERT_REVOKED ?
		 "certificate revoked" :
		 "certificate cannot be checked against the revocation list");
	return 1;
}

void zt_tls_free(struct zt_tls *t)
{
	if (t->crl)
		wolfSSL_CertManagerFree(t->crl);
	if (t->server)
		wolfSSL_CTX_free(t->server);
	if (t->client)
		wolfSSL_CTX_free(t->client);
	if (t->tcp_server)
		wolfSSL_CTX_free(t->tcp_server);
	if (t->tcp_client)
		wolfSSL_CTX_free(t->tcp_client);
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

static int check_alpn(WOLFSSL *ssl, const char *want)
{
	char *proto = NULL;
	unsigned short len = 0;

	if (wolfSSL_ALPN_GetProtocol(ssl, &proto, &len) != WOLFSSL_SUCCESS)
		return ZT_ETLS;
	if (len != strlen(want) || memcmp(proto, want, len) != 0)
		return ZT_ETLS;
	return 0;
}

int zt_tls_check_alpn(WOLFSSL *ssl)
{
	return check_alpn(ssl, ZT_ALPN);
}

int zt_tls_check_alpn_tcp(WOLFSSL *ssl)
{
	return check_alpn(ssl, ZT_ALPN_TCP);
}

int zt_tls_peer_is(WOLFSSL *ssl, const char *host)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(ssl);
	struct in6_addr tmp;
	int ok;

	if (!x)
		return 0;
	if (inet_pton(AF_INET, host, &tmp) == 1 ||
	    inet_pton(AF_INET6, host, &tmp) == 1)
		ok = wolfSSL_X509_check_ip_asc(x, host, 0) == 1;
	else
		ok = wolfSSL_X509_check_host(x, host, strlen(host), 0, NULL) ==
		     1;
	wolfSSL_X509_free(x);
	return ok;
}
