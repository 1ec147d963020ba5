/* The organisation CA and its certificates: key generation and
 * certificate issue. Everything cryptographic goes through wolfCrypt; the
 * only ASN.1 we encode ourselves are the SubjectAltName GeneralNames and
 * the validity times, which wolfSSL takes as pre-encoded DER. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/memory.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "pki_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "grant.h"
#include "log.h"

/* ---- input validation ---------------------------------------------- */

static int check_name(const char *what, const char *s)
{
	if (s == NULL || !zt_name_ok(s, strlen(s))) {
		log_error("pki: invalid %s '%s': need 1..%d characters of "
			  "A-Z a-z 0-9 . _ @ -", what, s ? s : "",
			  ZT_NAME_MAX - 1);
		return ZT_EINVAL;
	}
	return 0;
}

/* Organisation and CA names are free text, but must fit wolfSSL's name
 * fields and must not smuggle control characters into `show` output. */
static int check_text(const char *what, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len < 1 || len >= CTC_NAME_SIZE) {
		log_error("pki: %s must be 1..%d bytes", what,
			  CTC_NAME_SIZE - 1);
		return ZT_EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			log_error("pki: %s contains a control character",
				  what);
			return ZT_EINVAL;
		}
	}
	return 0;
}

static int check_dns(const char *s)
{
	if (s && zt_dns_name_ok(s, strlen(s)))
		return 0;
	log_error("pki: invalid DNS name '%s'", s ? s : "");
	return ZT_EINVAL;
}

int pki_parse_ip(const char *s, uint8_t out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 16;
	log_error("pki: invalid IP address '%s'", s);
	return ZT_EINVAL;
}

/* Publishing rights are what stops one connector from taking over another's
 * services: only connectors carry them, and only well-formed ones. */
static int check_grants(const struct zt_pki_req *req, const char *role)
{
	struct zt_cidr c;

	if ((req->n_publish_hosts || req->n_publish_cidrs) &&
	    req->role != ZT_ROLE_CONNECTOR) {
		log_error("pki: --publish-host and --publish-cidr are only for "
			  "connectors, not for role %s", role);
		return ZT_EINVAL;
	}
	if (req->n_publish_hosts > ZT_MAX_GRANTS ||
	    req->n_publish_cidrs > ZT_MAX_GRANTS) {
		log_error("pki: at most %d --publish-host and %d --publish-cidr",
			  ZT_MAX_GRANTS, ZT_MAX_GRANTS);
		return ZT_EINVAL;
	}
	for (size_t i = 0; i < req->n_publish_hosts; i++) {
		const char *h = req->publish_hosts[i];

		if (!zt_host_pattern_ok(h, strlen(h))) {
			log_error("pki: invalid --publish-host '%s': a DNS name "
				  "or *.name", h);
			return ZT_EINVAL;
		}
	}
	for (size_t i = 0; i < req->n_publish_cidrs; i++) {
		const char *v = req->publish_cidrs[i];

		if (zt_cidr_parse(v, strlen(v), &c) < 0) {
			log_error("pki: invalid --publish-cidr '%s': address/"
				  "prefix with zero host bits, e.g. "
				  "10.78.0.0/24", v);
			return ZT_EINVAL;
		}
	}
	return 0;
}

static int check_leaf_req(const struct zt_pki_req *req)
{
	const char *role = zt_role_name(req->role);
	uint8_t ip[16];

	if (req->role != ZT_ROLE_RELAY && req->role != ZT_ROLE_CONNECTOR &&
	    req->role != ZT_ROLE_AGENT) {
		log_error("pki: a certificate needs a role: relay, connector "
			  "or agent");
		return ZT_EINVAL;
	}
	if (check_name("name", req->name) < 0)
		return ZT_EINVAL;
	if (req->org && req->org[0] && check_text("organisation", req->org) < 0)
		return ZT_EINVAL;
	if ((req->n_dns || req->n_ips) && req->role != ZT_ROLE_RELAY) {
		log_error("pki: DNS names and IP addresses are only for "
			  "relays, not for role %s", role);
		return ZT_EINVAL;
	}
	if (req->n_groups && req->role != ZT_ROLE_AGENT) {
		log_error("pki: groups are only for agents, not for role %s",
			  role);
		return ZT_EINVAL;
	}
	if (req->n_groups > ZT_MAX_GROUPS || req->n_dns > PKI_MAX_DNS ||
	    req->n_ips > PKI_MAX_IPS) {
		log_error("pki: at most %d groups, %d DNS names and %d IP "
			  "addresses", ZT_MAX_GROUPS, PKI_MAX_DNS, PKI_MAX_IPS);
		return ZT_EINVAL;
	}
	for (size_t i = 0; i < req->n_groups; i++)
		if (check_name("group", req->groups[i]) < 0)
			return ZT_EINVAL;
	if (check_grants(req, role) < 0)
		return ZT_EINVAL;
	for (size_t i = 0; i < req->n_dns; i++)
		if (check_dns(req->dns[i]) < 0)
			return ZT_EINVAL;
	for (size_t i = 0; i < req->n_ips; i++)
		if (pki_parse_ip(req->ips[i], ip) < 0)
			return ZT_EINVAL;
	return 0;
}

/* ---- keys ---------------------------------------------------------- */

int pki_key_wc_type(const struct pki_key *k)
{
	return k->type == ZT_KEY_ED25519 ? ED25519_TYPE : ECC_TYPE;
}

void pki_key_free(struct pki_key *k)
{
	if (k->type == ZT_KEY_EC_P256)
		wc_ecc_free(&k->u.ec);
	else if (k->type == ZT_KEY_ED25519)
		wc_ed25519_free(&k->u.ed);
	k->type = 0;
}

static int key_init(struct pki_key *k, int type)
{
	int rc;

	memset(k, 0, sizeof(*k));
	if (type == ZT_KEY_EC_P256)
		rc = wc_ecc_init(&k->u.ec);
	else if (type == ZT_KEY_ED25519)
		rc = wc_ed25519_init(&k->u.ed);
	else
		return ZT_EINVAL;
	if (rc != 0)
		return ZT_ETLS;
	k->type = type;
	return 0;
}

static int key_generate(struct pki_key *k, int type, WC_RNG *rng)
{
	int rc;

	if (key_init(k, type) < 0) {
		log_error("pki: unknown key type %d", type);
		return ZT_EINVAL;
	}
	if (type == ZT_KEY_EC_P256)
		rc = wc_ecc_make_key_ex(rng, 32, &k->u.ec, ECC_SECP256R1);
	else
		rc = wc_ed25519_make_key(rng, ED25519_KEY_SIZE, &k->u.ed);
	if (rc != 0) {
		log_error("pki: key generation failed (%d)", rc);
		return ZT_ETLS;
	}
	return 0;
}

/* PKCS#8 "PRIVATE KEY", the form both wolfSSL and OpenSSL read for either
 * key type. Ed25519 is written without the optional public key (RFC 8410
 * v1), as OpenSSL does, so that older readers accept it. */
static int key_write_pem(struct pki_key *k, const char *path)
{
	uint8_t der[PKI_KEY_DER_MAX];
	word32 len = sizeof(der);
	int n, ret;

	if (k->type == ZT_KEY_EC_P256)
		n = wc_EccKeyToPKCS8(&k->u.ec, der, &len);
	else
		n = wc_Ed25519PrivateKeyToDer(&k->u.ed, der, sizeof(der));
	if (n <= 0) {
		log_error("pki: cannot encode private key for %s (%d)", path,
			  n);
		ret = ZT_ETLS;
		goto out;
	}
	ret = pki_write_pem(path, der, (size_t)n, PKCS8_PRIVATEKEY_TYPE, 0600);
out:
	wc_ForceZero(der, sizeof(der));
	return ret;
}

/* A private-only Ed25519 key cannot sign until its public half is set. */
static int key_ed25519_complete(ed25519_key *ed)
{
	uint8_t pub[ED25519_PUB_KEY_SIZE];

	if (ed->pubKeySet)
		return 0;
	if (wc_ed25519_make_public(ed, pub, sizeof(pub)) != 0 ||
	    wc_ed25519_import_public(pub, sizeof(pub), ed) != 0)
		return ZT_ETLS;
	return 0;
}

/* Loads a PEM private key (PKCS#8 or SEC1) of the given type. */
static int key_load_pem(struct pki_key *k, int type, const char *path)
{
	uint8_t *pem = NULL, der[PKI_KEY_DER_MAX];
	size_t pem_len = 0;
	word32 idx = 0;
	int n, rc, ret;

	ret = key_init(k, type);
	if (ret < 0)
		return ret;
	ret = pki_read_file(path, &pem, &pem_len);
	if (ret < 0)
		goto out;
	ret = ZT_ETLS;
	n = wc_KeyPemToDer(pem, (int)pem_len, der, sizeof(der), NULL);
	if (n <= 0) {
		log_error("pki: %s: not a PEM private key (%d)", path, n);
		goto out;
	}
	if (type == ZT_KEY_EC_P256)
		rc = wc_EccPrivateKeyDecode(der, &idx, &k->u.ec, (word32)n);
	else
		rc = wc_Ed25519PrivateKeyDecode(der, &idx, &k->u.ed, (word32)n);
	if (rc == 0 && type == ZT_KEY_ED25519)
		rc = key_ed25519_complete(&k->u.ed);
	if (rc != 0) {
		log_error("pki: %s: not an %s private key (%d)", path,
			  type == ZT_KEY_EC_P256 ? "EC" : "Ed25519", rc);
		goto out;
	}
	ret = 0;
out:
	wc_ForceZero(der, sizeof(der));
	if (pem) {
		wc_ForceZero(pem, pem_len);
		free(pem);
	}
	return ret;
}

/* SubjectPublicKeyInfo DER, to match a key against a certificate. */
static int key_spki(struct pki_key *k, uint8_t *out, word32 cap)
{
	if (k->type == ZT_KEY_EC_P256)
		return wc_EccPublicKeyToDer(&k->u.ec, out, cap, 1);
	return wc_Ed25519PublicKeyToDer(&k->u.ed, out, cap, 1);
}

/* ---- certificate pieces -------------------------------------------- */

/* DER UTCTime through 2049 and GeneralizedTime after, as RFC 5280 4.1.2.5
 * requires; wolfSSL copies tag, length and value from Cert.beforeDate. */
int pki_der_time(uint8_t out[CTC_DATE_SIZE], int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char s[32];
	int n;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    tm.tm_year + 1900 < 1950 || tm.tm_year + 1900 > 9999)
		return ZT_EINVAL;
	if (tm.tm_year + 1900 < 2050)
		n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ",
			     tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec);
	out[0] = n == 13 ? 0x17 : 0x18; /* UTCTime : GeneralizedTime */
	out[1] = (uint8_t)n;
	memcpy(out + 2, s, (size_t)n);
	return n + 2;
}

static int set_validity(Cert *c, const struct zt_pki_req *req,
			int default_days)
{
	int64_t now = (int64_t)time(NULL);
	int64_t days = req->days > 0 ? req->days : default_days;
	int64_t nb = req->not_before ? req->not_before : now - PKI_BACKDATE;
	int64_t na = req->not_after ? req->not_after : now + days * 86400;

	if (days > PKI_MAX_DAYS || na <= nb) {
		log_error("pki: invalid validity period");
		return ZT_EINVAL;
	}
	c->beforeDateSz = pki_der_time(c->beforeDate, nb);
	c->afterDateSz = pki_der_time(c->afterDate, na);
	if (c->beforeDateSz < 0 || c->afterDateSz < 0) {
		log_error("pki: validity dates out of range");
		return ZT_EINVAL;
	}
	return 0;
}

/* 16 random bytes with the top bit clear: positive, and never all-zero. */
static int set_serial(Cert *c, WC_RNG *rng)
{
	if (wc_RNG_GenerateBlock(rng, c->serial, PKI_SERIAL_LEN) != 0)
		return ZT_ETLS;
	c->serial[0] &= 0x7f;
	if (c->serial[0] == 0)
		c->serial[0] = 1;
	c->serialSz = PKI_SERIAL_LEN;
	return 0;
}

static void set_subject(Cert *c, const char *org, const char *unit,
			const char *cn)
{
	snprintf(c->subject.org, sizeof(c->subject.org), "%s", org);
	snprintf(c->subject.unit, sizeof(c->subject.unit), "%s",
		 unit ? unit : "");
	snprintf(c->subject.commonName, sizeof(c->subject.commonName), "%s",
		 cn);
}

/* A tiny DER writer: with p == NULL it only counts, so the SEQUENCE length
 * can be known before its contents are written. */
struct der_buf {
	uint8_t *p;
	size_t cap, len;
	int overflow;
};

static void der_put(struct der_buf *b, const void *data, size_t len)
{
	if (b->p && !b->overflow) {
		if (len > b->cap - b->len) {
			b->overflow = 1;
			return;
		}
		memcpy(b->p + b->len, data, len);
	}
	b->len += len;
}

static void der_put_hdr(struct der_buf *b, uint8_t tag, size_t len)
{
	uint8_t h[4] = { tag };
	size_t n;

	if (len > 0xffff) {
		b->overflow = 1;
		return;
	}
	if (len < 0x80) {
		h[1] = (uint8_t)len;
		n = 2;
	} else if (len <= 0xff) {
		h[1] = 0x81;
		h[2] = (uint8_t)len;
		n = 3;
	} else {
		h[1] = 0x82;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		n = 4;
	}
	der_put(b, h, n);
}

/* GeneralName entries, [tag] IMPLICIT: dNSName, uniformResourceIdentifier
 * and iPAddress are all primitive, context-specific. */
static void san_uri(struct der_buf *b, const char *prefix, const char *v)
{
	der_put_hdr(b, 0x80 | ASN_URI_TYPE, strlen(prefix) + strlen(v));
	der_put(b, prefix, strlen(prefix));
	der_put(b, v, strlen(v));
}

static void san_entries(struct der_buf *b, const struct zt_pki_req *req)
{
	uint8_t ip[16];

	for (size_t i = 0; i < req->n_dns; i++) {
		der_put_hdr(b, 0x80 | ASN_DNS_TYPE, strlen(req->dns[i]));
		der_put(b, req->dns[i], strlen(req->dns[i]));
	}
	for (size_t i = 0; i < req->n_ips; i++) {
		int n = pki_parse_ip(req->ips[i], ip);

		der_put_hdr(b, 0x80 | ASN_IP_TYPE, (size_t)n);
		der_put(b, ip, (size_t)n);
	}
	for (size_t i = 0; i < req->n_groups; i++)
		san_uri(b, PKI_GROUP_URI, req->groups[i]);
	for (size_t i = 0; i < req->n_publish_hosts; i++)
		san_uri(b, PKI_HOST_URI, req->publish_hosts[i]);
	for (size_t i = 0; i < req->n_publish_cidrs; i++)
		san_uri(b, PKI_CIDR_URI, req->publish_cidrs[i]);
}

/* GeneralNames into Cert.altNames; inputs were validated beforehand. */
static int set_sans(Cert *c, const struct zt_pki_req *req)
{
	struct der_buf count = { 0 };
	struct der_buf out = { .p = c->altNames, .cap = sizeof(c->altNames) };

	san_entries(&count, req);
	if (count.len == 0)
		return 0;
	der_put_hdr(&out, 0x30, count.len);
	san_entries(&out, req);
	if (out.overflow) {
		log_error("pki: subject alternative names too large");
		return ZT_ETOOBIG;
	}
	c->altNamesSz = (int)out.len;
	return 0;
}

/* DER-encodes and signs `c` (subject key `subj`, issuer key `signer`). */
static int sign_cert(Cert *c, struct pki_key *subj, struct pki_key *signer,
		     WC_RNG *rng, uint8_t *der, size_t cap)
{
	int n;

	c->sigType = signer->type == ZT_KEY_ED25519 ? CTC_ED25519 :
						      CTC_SHA256wECDSA;
	n = wc_MakeCert_ex(c, der, (word32)cap, pki_key_wc_type(subj), &subj->u,
			   rng);
	if (n < 0) {
		log_error("pki: cannot encode certificate (%d)", n);
		return ZT_ETLS;
	}
	n = wc_SignCert_ex(c->bodySz, c->sigType, der, (word32)cap,
			   pki_key_wc_type(signer), &signer->u, rng);
	if (n < 0) {
		log_error("pki: cannot sign certificate (%d)", n);
		return ZT_ETLS;
	}
	return n;
}

/* ---- CA and leaf profiles ------------------------------------------ */

static int build_ca(Cert *c, const struct zt_pki_req *req, const char *cn,
		    struct pki_key *key, WC_RNG *rng)
{
	int rc;

	set_subject(c, req->org, NULL, cn);
	c->selfSigned = 1;
	c->isCA = 1;
	c->basicConstSet = 1;
	c->basicConstCrit = 1;
	/* Leaves only: the CA signs end-entity certificates directly. */
	c->pathLen = 0;
	c->pathLenSet = 1;
	rc = set_serial(c, rng);
	if (rc == 0)
		rc = set_validity(c, req, PKI_CA_DAYS);
	if (rc < 0)
		return rc;
	if (wc_SetKeyUsage(c, "keyCertSign,cRLSign") != 0 ||
	    wc_SetSubjectKeyIdFromPublicKey_ex(c, pki_key_wc_type(key),
					       &key->u) != 0 ||
	    wc_SetAuthKeyIdFromPublicKey_ex(c, pki_key_wc_type(key),
					    &key->u) != 0) {
		log_error("pki: cannot set CA extensions");
		return ZT_ETLS;
	}
	return 0;
}

/* ---- loading the CA, issuing --------------------------------------- */

/* Reads a PEM certificate file into a WOLFSSL_X509. */
int pki_cert_load(const char *path, WOLFSSL_X509 **out)
{
	uint8_t *pem = NULL, *der = NULL;
	size_t pem_len = 0;
	int n, ret;

	ret = pki_read_file(path, &pem, &pem_len);
	if (ret < 0)
		return ret;
	ret = ZT_ENOMEM;
	der = malloc(pem_len + 1);
	if (der == NULL)
		goto out;
	ret = ZT_ETLS;
	n = wc_CertPemToDer(pem, (int)pem_len, der, (int)pem_len, CERT_TYPE);
	if (n <= 0) {
		log_error("pki: %s: not a PEM certificate (%d)", path, n);
		goto out;
	}
	*out = wolfSSL_X509_d2i(NULL, der, n);
	if (*out == NULL) {
		log_error("pki: %s: cannot parse certificate", path);
		goto out;
	}
	ret = 0;
out:
	free(der);
	free(pem);
	return ret;
}

/* Loads the CA key (type taken from the CA certificate) and makes sure it
 * belongs to that certificate: a mismatch would yield leaves that never
 * verify, discovered only at the first handshake. */
int pki_ca_key_load(struct pki_key *k, WOLFSSL_X509 *ca,
		       const char *ca_path, const char *key_path)
{
	uint8_t a[256], b[256];
	int a_len = sizeof(a), b_len, type, ret;

	switch (wolfSSL_X509_get_pubkey_type(ca)) {
	case ECDSAk: type = ZT_KEY_EC_P256; break;
	case ED25519k: type = ZT_KEY_ED25519; break;
	default:
		log_error("pki: %s: CA key must be EC or Ed25519", ca_path);
		return ZT_EINVAL;
	}
	if (!wolfSSL_X509_get_isCA(ca)) {
		log_error("pki: %s is not a CA certificate", ca_path);
		return ZT_EINVAL;
	}
	ret = key_load_pem(k, type, key_path);
	if (ret < 0)
		return ret;
	b_len = key_spki(k, b, sizeof(b));
	if (wolfSSL_X509_get_pubkey_buffer(ca, a, &a_len) != WOLFSSL_SUCCESS ||
	    b_len <= 0 || a_len != b_len || memcmp(a, b, (size_t)a_len) != 0) {
		log_error("pki: %s does not belong to %s", key_path, ca_path);
		return ZT_EINVAL;
	}
	return 0;
}

/* Copies one subject attribute. Fails on absence (ZT_ENOTFOUND) and on
 * anything ambiguous: a repeated attribute, an embedded NUL or a value
 * that does not fit — truncating could turn one name into another. */
int pki_name_text(WOLFSSL_X509_NAME *name, int nid, char *out, size_t cap)
{
	WOLFSSL_ASN1_STRING *s;
	const unsigned char *d;
	int idx, len;

	idx = wolfSSL_X509_NAME_get_index_by_NID(name, nid, -1);
	if (idx < 0)
		return ZT_ENOTFOUND;
	if (wolfSSL_X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
		return ZT_EINVAL;
	s = wolfSSL_X509_NAME_ENTRY_get_data(
		wolfSSL_X509_NAME_get_entry(name, idx));
	d = s ? wolfSSL_ASN1_STRING_get0_data(s) : NULL;
	len = s ? wolfSSL_ASN1_STRING_length(s) : -1;
	if (d == NULL || len < 0 || (size_t)len >= cap ||
	    memchr(d, 0, (size_t)len) != NULL)
		return ZT_EINVAL;
	memcpy(out, d, (size_t)len);
	out[len] = 0;
	return 0;
}

static int build_leaf(Cert *c, const struct zt_pki_req *req, WOLFSSL_X509 *ca,
		      struct pki_key *key, WC_RNG *rng)
{
	char org[CTC_NAME_SIZE];
	/* Agents only ever dial out; wolfSSL enforces EKU in the handshake,
	 * so an agent certificate cannot serve a QUIC connection. */
	const char *eku = req->role == ZT_ROLE_AGENT ? "clientAuth" :
						       "serverAuth,clientAuth";
	const uint8_t *ca_der;
	int ca_len = 0, rc;

	if (req->org && req->org[0]) {
		snprintf(org, sizeof(org), "%s", req->org);
	} else if (pki_name_text(wolfSSL_X509_get_subject_name(ca),
			     NID_organizationName, org, sizeof(org)) < 0) {
		log_error("pki: the CA has no single O= to copy; give an "
			  "organisation");
		return ZT_EINVAL;
	}
	set_subject(c, org, zt_role_name(req->role), req->name);
	c->selfSigned = 0;
	c->isCA = 0;
	c->basicConstSet = 1;
	c->basicConstCrit = 1;
	rc = set_serial(c, rng);
	if (rc == 0)
		rc = set_validity(c, req, PKI_LEAF_DAYS);
	if (rc == 0)
		rc = set_sans(c, req);
	if (rc < 0)
		return rc;
	ca_der = wolfSSL_X509_get_der(ca, &ca_len);
	if (ca_der == NULL || wc_SetIssuerRaw(c, ca_der, ca_len) != 0 ||
	    wc_SetAuthKeyIdFromCert(c, ca_der, ca_len) != 0 ||
	    wc_SetSubjectKeyIdFromPublicKey_ex(c, pki_key_wc_type(key),
					       &key->u) != 0 ||
	    wc_SetKeyUsage(c, "digitalSignature") != 0 ||
	    wc_SetExtKeyUsage(c, eku) != 0) {
		log_error("pki: cannot set certificate extensions");
		return ZT_ETLS;
	}
	return 0;
}

/* Generates a key, builds and signs the certificate, and writes key then
 * certificate. Without `ca` it is the self-signed CA named `ca_cn`. */
static int make_cert(const struct zt_pki_req *req, const char *ca_cn,
		     WOLFSSL_X509 *ca, struct pki_key *ca_key,
		     const char *cert_path, const char *key_path)
{
	struct pki_key key = { 0 };
	uint8_t *der = NULL;
	Cert *c = NULL;
	WC_RNG rng;
	int rng_ok = 0, n, ret = ZT_ENOMEM;

	c = wc_CertNew(NULL);
	der = malloc(PKI_CERT_MAX);
	if (c == NULL || der == NULL)
		goto out;
	ret = ZT_ETLS;
	if (wc_InitRng(&rng) != 0)
		goto out;
	rng_ok = 1;
	ret = key_generate(&key, req->key_type ? req->key_type :
			   ZT_KEY_EC_P256, &rng);
	if (ret == 0)
		ret = ca ? build_leaf(c, req, ca, &key, &rng) :
			   build_ca(c, req, ca_cn, &key, &rng);
	if (ret < 0)
		goto out;
	n = sign_cert(c, &key, ca ? ca_key : &key, &rng, der, PKI_CERT_MAX);
	if (n < 0) {
		ret = n;
		goto out;
	}
	ret = key_write_pem(&key, key_path);
	if (ret == 0)
		ret = pki_write_pem(cert_path, der, (size_t)n, CERT_TYPE, 0644);
out:
	pki_key_free(&key);
	if (rng_ok)
		wc_FreeRng(&rng);
	wc_CertFree(c);
	free(der);
	return ret;
}

int zt_pki_create_ca(const struct zt_pki_req *req, const char *cert_path,
		     const char *key_path)
{
	char cn[CTC_NAME_SIZE + 8];

	if (check_text("organisation", req->org) < 0)
		return ZT_EINVAL;
	if (req->name && req->name[0])
		snprintf(cn, sizeof(cn), "%s", req->name);
	else
		snprintf(cn, sizeof(cn), "%s CA", req->org);
	if (check_text("CA name", cn) < 0)
		return ZT_EINVAL;
	return make_cert(req, cn, NULL, NULL, cert_path, key_path);
}

int zt_pki_issue(const struct zt_pki_req *req, const char *ca_cert_path,
		 const char *ca_key_path, const char *cert_path,
		 const char *key_path)
{
	struct pki_key ca_key = { 0 };
	WOLFSSL_X509 *ca = NULL;
	int ret;

	ret = check_leaf_req(req);
	if (ret < 0)
		return ret;
	ret = pki_cert_load(ca_cert_path, &ca);
	if (ret == 0)
		ret = pki_ca_key_load(&ca_key, ca, ca_cert_path, ca_key_path);
	if (ret == 0)
		ret = make_cert(req, NULL, ca, &ca_key, cert_path, key_path);
	pki_key_free(&ca_key);
	wolfSSL_X509_free(ca);
	return ret;
}

