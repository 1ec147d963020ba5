/* The organisation CA and its certificates: key generation, certificate
 * issue, reading an identity back from a certificate, and `ztnad pki`.
 * Everything cryptographic goes through wolfCrypt; the only ASN.1 we encode
 * ourselves are the SubjectAltName GeneralNames and the validity times,
 * which wolfSSL takes as pre-encoded DER. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/memory.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "pki.h"

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

#define PKI_GROUP_URI "ztnad:group:"
#define PKI_HOST_URI "ztnad:publish-host:"
#define PKI_CIDR_URI "ztnad:publish-cidr:"
#define PKI_MAX_DNS 16
#define PKI_MAX_IPS 16
#define PKI_CA_DAYS 3650
#define PKI_LEAF_DAYS 365
#define PKI_MAX_DAYS 36500
#define PKI_SERIAL_LEN 16
/* Room for a certificate with a full SAN list; chains must stay small. */
#define PKI_CERT_MAX (24 * 1024)
#define PKI_KEY_DER_MAX 512
#define PKI_FILE_MAX (1024 * 1024)
/* Clock skew allowance for certificates valid "from now". */
#define PKI_BACKDATE 3600

struct pki_key {
	int type; /* enum zt_key_type; 0 = nothing to free */
	union {
		ecc_key ec;
		ed25519_key ed;
	} u;
};

/* ---- input validation ---------------------------------------------- */

/* Names end up in policy (allow lists) and logs: a small alphabet keeps
 * them unambiguous and free of escaping problems. */
static int name_ok(const char *s, size_t len)
{
	if (len < 1 || len >= ZT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

static int check_name(const char *what, const char *s)
{
	if (s == NULL || !name_ok(s, strlen(s))) {
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
	size_t len = s ? strlen(s) : 0, label = 0;

	if (len < 1 || len > 253)
		goto bad;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || s[i - 1] == '-')
				goto bad;
			label = 0;
			continue;
		}
		if (c == '-' && label == 0)
			goto bad;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-') || ++label > 63)
			goto bad;
	}
	return 0;
bad:
	log_error("pki: invalid DNS name '%s'", s ? s : "");
	return ZT_EINVAL;
}

/* Returns the address length (4 or 16) or ZT_EINVAL. */
static int parse_ip(const char *s, uint8_t out[16])
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
		if (parse_ip(req->ips[i], ip) < 0)
			return ZT_EINVAL;
	return 0;
}

/* ---- files --------------------------------------------------------- */

/* Reads a whole (small) file, NUL-terminated for the PEM parsers. Key files
 * are wiped by the caller before free(). */
static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t off = 0;
	int fd, ret = ZT_EIO;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("pki: cannot open %s: %s", path, strerror(errno));
		return ZT_EIO;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PKI_FILE_MAX) {
		log_error("pki: %s is not a regular file under %d bytes", path,
			  PKI_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		ret = ZT_ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("pki: cannot read %s: %s", path,
				  n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		off += (size_t)n;
	}
	buf[off] = 0;
	*out = buf;
	*out_len = off;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

static int write_new(const char *path, const void *data, size_t len,
		     mode_t mode);

/* Written to a new file (O_EXCL, O_NOFOLLOW: never through a planted
 * symlink, never into someone else's file) that then replaces the path
 * whole; rename replaces a symlink at the path, it does not follow it.
 * fchmod as well as the create mode: the umask may be stricter than we
 * want for certificates. */
static int write_file(const char *path, const void *data, size_t len,
		      mode_t mode)
{
	char tmp[PATH_MAX];
	int ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp)) {
		log_error("pki: path too long: %s", path);
		return ZT_EINVAL;
	}
	/* A leftover from an interrupted run; unlink removes a symlink
	 * itself, not its target. */
	unlink(tmp);
	ret = write_new(tmp, data, len, mode);
	if (ret == 0 && rename(tmp, path) != 0) {
		log_error("pki: cannot replace %s: %s", path, strerror(errno));
		ret = ZT_EIO;
	}
	if (ret != 0)
		unlink(tmp);
	return ret;
}

static int write_new(const char *path, const void *data, size_t len,
		     mode_t mode)
{
	const uint8_t *p = data;
	int fd, ret = ZT_EIO;

	fd = open(path, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
		  mode);
	if (fd < 0) {
		log_error("pki: cannot create %s: %s", path, strerror(errno));
		return ZT_EIO;
	}
	if (fchmod(fd, mode) < 0) {
		log_error("pki: cannot chmod %s: %s", path, strerror(errno));
		goto out;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("pki: cannot write %s: %s", path,
				  strerror(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		log_error("pki: cannot sync %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (close(fd) < 0 && ret == 0) {
		log_error("pki: cannot close %s: %s", path, strerror(errno));
		ret = ZT_EIO;
	}
	return ret;
}

/* PEM of a DER blob; `type` is wolfSSL's CERT_TYPE or PKCS8_PRIVATEKEY_TYPE. */
static int write_pem(const char *path, const uint8_t *der, size_t der_len,
		     int type, mode_t mode)
{
	size_t cap = der_len * 2 + 128;
	uint8_t *pem = malloc(cap);
	int n, ret = ZT_ETLS;

	if (pem == NULL)
		return ZT_ENOMEM;
	n = wc_DerToPem(der, (word32)der_len, pem, (word32)cap, type);
	if (n <= 0) {
		log_error("pki: PEM encoding for %s failed (%d)", path, n);
		goto out;
	}
	ret = write_file(path, pem, (size_t)n, mode);
out:
	wc_ForceZero(pem, cap);
	free(pem);
	return ret;
}

/* ---- keys ---------------------------------------------------------- */

static int key_wc_type(const struct pki_key *k)
{
	return k->type == ZT_KEY_ED25519 ? ED25519_TYPE : ECC_TYPE;
}

static void key_free(struct pki_key *k)
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
	ret = write_pem(path, der, (size_t)n, PKCS8_PRIVATEKEY_TYPE, 0600);
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
	ret = read_file(path, &pem, &pem_len);
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
static int der_time(uint8_t out[CTC_DATE_SIZE], int64_t t)
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
	c->beforeDateSz = der_time(c->beforeDate, nb);
	c->afterDateSz = der_time(c->afterDate, na);
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
		int n = parse_ip(req->ips[i], ip);

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
	n = wc_MakeCert_ex(c, der, (word32)cap, key_wc_type(subj), &subj->u,
			   rng);
	if (n < 0) {
		log_error("pki: cannot encode certificate (%d)", n);
		return ZT_ETLS;
	}
	n = wc_SignCert_ex(c->bodySz, c->sigType, der, (word32)cap,
			   key_wc_type(signer), &signer->u, rng);
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
	    wc_SetSubjectKeyIdFromPublicKey_ex(c, key_wc_type(key),
					       &key->u) != 0 ||
	    wc_SetAuthKeyIdFromPublicKey_ex(c, key_wc_type(key),
					    &key->u) != 0) {
		log_error("pki: cannot set CA extensions");
		return ZT_ETLS;
	}
	return 0;
}

/* ---- loading the CA, issuing --------------------------------------- */

/* Reads a PEM certificate file into a WOLFSSL_X509. */
static int cert_load_pem(const char *path, WOLFSSL_X509 **out)
{
	uint8_t *pem = NULL, *der = NULL;
	size_t pem_len = 0;
	int n, ret;

	ret = read_file(path, &pem, &pem_len);
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
static int ca_key_load(struct pki_key *k, WOLFSSL_X509 *ca,
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
static int name_text(WOLFSSL_X509_NAME *name, int nid, char *out, size_t cap)
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
	} else if (name_text(wolfSSL_X509_get_subject_name(ca),
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
	    wc_SetSubjectKeyIdFromPublicKey_ex(c, key_wc_type(key),
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
		ret = write_pem(cert_path, der, (size_t)n, CERT_TYPE, 0644);
out:
	key_free(&key);
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
	ret = cert_load_pem(ca_cert_path, &ca);
	if (ret == 0)
		ret = ca_key_load(&ca_key, ca, ca_cert_path, ca_key_path);
	if (ret == 0)
		ret = make_cert(req, NULL, ca, &ca_key, cert_path, key_path);
	key_free(&ca_key);
	wolfSSL_X509_free(ca);
	return ret;
}

/* ---- identity ------------------------------------------------------ */

/* One "ztnad:..." URI; *what tells which. Returns 0 or ZT_EINVAL. */
static int identity_uri(struct zt_identity *id, const char *d, size_t len)
{
	const size_t gl = strlen(PKI_GROUP_URI), hl = strlen(PKI_HOST_URI),
		     cl = strlen(PKI_CIDR_URI);

	if (len >= gl && memcmp(d, PKI_GROUP_URI, gl) == 0) {
		d += gl;
		len -= gl;
		if (!name_ok(d, len) || id->n_groups >= ZT_MAX_GROUPS)
			return ZT_EINVAL;
		memcpy(id->groups[id->n_groups], d, len);
		id->groups[id->n_groups++][len] = 0;
	} else if (len >= hl && memcmp(d, PKI_HOST_URI, hl) == 0) {
		char *h = id->publish_hosts[id->n_publish_hosts];

		d += hl;
		len -= hl;
		if (!zt_host_pattern_ok(d, len) ||
		    id->n_publish_hosts >= ZT_MAX_GRANTS)
			return ZT_EINVAL;
		for (size_t i = 0; i < len; i++)
			h[i] = (char)tolower((unsigned char)d[i]);
		h[len] = 0;
		id->n_publish_hosts++;
	} else if (len >= cl && memcmp(d, PKI_CIDR_URI, cl) == 0) {
		if (id->n_publish_cidrs >= ZT_MAX_GRANTS ||
		    zt_cidr_parse(d + cl, len - cl,
				  &id->publish_cidrs[id->n_publish_cidrs]) < 0)
			return ZT_EINVAL;
		id->n_publish_cidrs++;
	}
	return 0;
}

/* Groups and grants; a malformed one makes the whole identity invalid
 * rather than silently narrower or wider. */
static int identity_uris(struct zt_identity *id, WOLFSSL_X509 *x)
{
	WOLFSSL_STACK *sans;
	int n, ret = 0;

	sans = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = sans ? wolfSSL_sk_GENERAL_NAME_num(sans) : 0;
	for (int i = 0; i < n && ret == 0; i++) {
		WOLFSSL_GENERAL_NAME *gn =
			wolfSSL_sk_GENERAL_NAME_value(sans, i);
		const char *d;
		int len;

		if (gn == NULL || gn->type != ASN_URI_TYPE)
			continue;
		d = (const char *)wolfSSL_ASN1_STRING_get0_data(gn->d.ia5);
		len = wolfSSL_ASN1_STRING_length(gn->d.ia5);
		if (d == NULL || len < 0)
			continue;
		ret = identity_uri(id, d, (size_t)len);
	}
	if (sans)
		wolfSSL_GENERAL_NAMES_free(sans);
	/* Grants on anything but a connector are a mis-issued certificate. */
	if (ret == 0 && id->role != ZT_ROLE_CONNECTOR &&
	    (id->n_publish_hosts || id->n_publish_cidrs))
		ret = ZT_EINVAL;
	return ret;
}

int zt_identity_from_x509(struct zt_identity *id, void *wolfssl_x509)
{
	WOLFSSL_X509 *x = wolfssl_x509;
	WOLFSSL_X509_NAME *subj;
	char ou[ZT_NAME_MAX];

	memset(id, 0, sizeof(*id));
	subj = x ? wolfSSL_X509_get_subject_name(x) : NULL;
	if (subj == NULL)
		return ZT_EINVAL;
	/* A CA is never a peer, whatever its subject says. */
	if (wolfSSL_X509_get_isCA(x))
		goto bad;
	if (name_text(subj, NID_organizationalUnitName, ou, sizeof(ou)) < 0)
		goto bad;
	id->role = (uint8_t)zt_role_parse(ou);
	if (id->role == ZT_ROLE_NONE)
		goto bad;
	if (name_text(subj, NID_commonName, id->name, sizeof(id->name)) < 0 ||
	    !name_ok(id->name, strlen(id->name)))
		goto bad;
	if (identity_uris(id, x) < 0)
		goto bad;
	return 0;
bad:
	memset(id, 0, sizeof(*id));
	return ZT_EINVAL;
}

int zt_identity_from_der(struct zt_identity *id, const uint8_t *der,
			 size_t len)
{
	WOLFSSL_X509 *x;
	int ret;

	memset(id, 0, sizeof(*id));
	if (der == NULL || len == 0 || len > INT_MAX)
		return ZT_EINVAL;
	x = wolfSSL_X509_d2i(NULL, der, (int)len);
	if (x == NULL)
		return ZT_EINVAL;
	ret = zt_identity_from_x509(id, x);
	wolfSSL_X509_free(x);
	return ret;
}

/* ---- CLI: show ----------------------------------------------------- */

static void show_time(const char *key, const WOLFSSL_ASN1_TIME *t)
{
	struct tm tm;
	char buf[64];

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, sizeof(buf), "?");
	printf("%s: %s\n", key, buf);
}

static void show_sans(WOLFSSL_X509 *x)
{
	WOLFSSL_STACK *sans;
	int n;

	sans = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = sans ? wolfSSL_sk_GENERAL_NAME_num(sans) : 0;
	for (int i = 0; i < n; i++) {
		WOLFSSL_GENERAL_NAME *gn =
			wolfSSL_sk_GENERAL_NAME_value(sans, i);
		const unsigned char *d;
		char ip[INET6_ADDRSTRLEN];
		int len;

		/* d.ia5 is only an ASN1_STRING for these three types. */
		if (gn == NULL || gn->d.ia5 == NULL ||
		    (gn->type != ASN_DNS_TYPE && gn->type != ASN_URI_TYPE &&
		     gn->type != ASN_IP_TYPE))
			continue;
		d = wolfSSL_ASN1_STRING_get0_data(gn->d.ia5);
		len = wolfSSL_ASN1_STRING_length(gn->d.ia5);
		if (d == NULL || len < 0)
			continue;
		if (gn->type == ASN_DNS_TYPE || gn->type == ASN_URI_TYPE)
			printf("san: %s:%.*s\n", gn->type == ASN_DNS_TYPE ?
			       "DNS" : "URI", len, (const char *)d);
		else if (gn->type == ASN_IP_TYPE && (len == 4 || len == 16) &&
			 inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip,
				   sizeof(ip)))
			printf("san: IP:%s\n", ip);
	}
	if (sans)
		wolfSSL_GENERAL_NAMES_free(sans);
}

static void show_identity(WOLFSSL_X509 *x)
{
	struct zt_identity id;

	if (zt_identity_from_x509(&id, x) < 0) {
		printf("role: none\n");
		return;
	}
	char c[64];

	printf("role: %s\nname: %s\ngroups: ", zt_role_name(id.role), id.name);
	for (size_t i = 0; i < id.n_groups; i++)
		printf("%s%s", i ? "," : "", id.groups[i]);
	printf("\n");
	if (id.role != ZT_ROLE_CONNECTOR)
		return;
	printf("publish_hosts: ");
	for (size_t i = 0; i < id.n_publish_hosts; i++)
		printf("%s%s", i ? "," : "", id.publish_hosts[i]);
	printf("\npublish_cidrs: ");
	for (size_t i = 0; i < id.n_publish_cidrs; i++)
		printf("%s%s", i ? "," : "",
		       zt_cidr_str(&id.publish_cidrs[i], c, sizeof(c)));
	printf("\n");
}

static void show_key_serial(WOLFSSL_X509 *x)
{
	uint8_t serial[64], digest[WC_SHA256_DIGEST_SIZE];
	const uint8_t *der;
	int len = sizeof(serial), der_len = 0;
	const char *kt = "other";

	if (wolfSSL_X509_get_pubkey_type(x) == ECDSAk)
		kt = "ec";
	else if (wolfSSL_X509_get_pubkey_type(x) == ED25519k)
		kt = "ed25519";
	printf("key_type: %s\nserial: ", kt);
	if (wolfSSL_X509_get_serial_number(x, serial, &len) == WOLFSSL_SUCCESS)
		for (int i = 0; i < len; i++)
			printf("%02x", serial[i]);
	printf("\nsha256: ");
	der = wolfSSL_X509_get_der(x, &der_len);
	if (der && wc_Sha256Hash(der, (word32)der_len, digest) == 0)
		for (size_t i = 0; i < sizeof(digest); i++)
			printf("%s%02X", i ? ":" : "", digest[i]);
	printf("\n");
}

static int cli_show(int argc, char **argv)
{
	WOLFSSL_X509 *x = NULL;
	char *subj, *iss;

	if (argc != 3) {
		fprintf(stderr, "usage: ztnad pki show FILE.crt\n");
		return 2;
	}
	if (cert_load_pem(argv[2], &x) < 0)
		return 1;
	subj = wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(x),
					 NULL, 0);
	iss = wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_issuer_name(x),
					NULL, 0);
	printf("file: %s\nsubject: %s\nissuer: %s\nca: %s\n", argv[2],
	       subj ? subj : "?", iss ? iss : "?",
	       wolfSSL_X509_get_isCA(x) ? "yes" : "no");
	show_identity(x);
	show_sans(x);
	show_time("not_before", wolfSSL_X509_get_notBefore(x));
	show_time("not_after", wolfSSL_X509_get_notAfter(x));
	show_key_serial(x);
	XFREE(subj, NULL, DYNAMIC_TYPE_OPENSSL);
	XFREE(iss, NULL, DYNAMIC_TYPE_OPENSSL);
	wolfSSL_X509_free(x);
	return 0;
}

/* ---- CLI: init-ca and issue ---------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ztnad pki init-ca --org ORG --out DIR [--name CN] "
		"[--days N] [--key ec|ed25519] [--force]\n"
		"       ztnad pki issue --ca CA.crt --ca-key CA.key "
		"--role relay|connector|agent --name NAME --out PREFIX\n"
		"                 [--group G]... (agents) [--dns NAME]... "
		"[--ip ADDR]... (relays)\n"
		"                 [--publish-host NAME|*.DOMAIN]... "
		"[--publish-cidr ADDR/LEN]... (connectors)\n"
		"                 [--org ORG] [--days N] [--key ec|ed25519] "
		"[--not-before UNIX --not-after UNIX]\n"
		"       ztnad pki show FILE.crt\n"
		"       ztnad pki help\n"
		"init-ca writes DIR/ca.crt and DIR/ca.key; issue writes "
		"PREFIX.crt and PREFIX.key.\n");
}

static int parse_key_type(const char *s)
{
	if (strcmp(s, "ec") == 0 || strcmp(s, "p256") == 0)
		return ZT_KEY_EC_P256;
	if (strcmp(s, "ed25519") == 0)
		return ZT_KEY_ED25519;
	fprintf(stderr, "ztnad pki: --key must be ec or ed25519, not '%s'\n",
		s);
	return -1;
}

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi,
		     int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "ztnad pki: %s needs a number in %" PRId64
			"..%" PRId64 ", not '%s'\n", opt, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_days(const char *s, int *days)
{
	int64_t v;

	if (parse_i64("--days", s, 1, PKI_MAX_DAYS, &v) < 0)
		return -1;
	*days = (int)v;
	return 0;
}

enum {
	OPT_ORG = 256, OPT_OUT, OPT_NAME, OPT_DAYS, OPT_KEY, OPT_FORCE,
	OPT_CA, OPT_CA_KEY, OPT_ROLE, OPT_GROUP, OPT_DNS, OPT_IP,
	OPT_NOT_BEFORE, OPT_NOT_AFTER, OPT_PUBLISH_HOST, OPT_PUBLISH_CIDR,
};

static const struct option pki_opts[] = {
	{ "org", required_argument, NULL, OPT_ORG },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "days", required_argument, NULL, OPT_DAYS },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "ca-key", required_argument, NULL, OPT_CA_KEY },
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "ip", required_argument, NULL, OPT_IP },
	{ "not-before", required_argument, NULL, OPT_NOT_BEFORE },
	{ "not-after", required_argument, NULL, OPT_NOT_AFTER },
	{ "publish-host", required_argument, NULL, OPT_PUBLISH_HOST },
	{ "publish-cidr", required_argument, NULL, OPT_PUBLISH_CIDR },
	{ NULL, 0, NULL, 0 },
};

/* Everything both subcommands can be given; which options a subcommand
 * accepts is checked after parsing. */
struct pki_cli {
	struct zt_pki_req req;
	const char *out, *ca, *ca_key;
	const char *groups[ZT_MAX_GROUPS], *dns[PKI_MAX_DNS], *ips[PKI_MAX_IPS];
	const char *phosts[ZT_MAX_GRANTS], *pcidrs[ZT_MAX_GRANTS];
	int force, role_set;
};

static int cli_push(const char **list, size_t *n, size_t max,
		    const char *what, const char *v)
{
	if (*n >= max) {
		fprintf(stderr, "ztnad pki: at most %zu %s\n", max, what);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

static int cli_opt(struct pki_cli *o, int c, const char *arg)
{
	struct zt_pki_req *r = &o->req;

	switch (c) {
	case OPT_ORG: r->org = arg; return 0;
	case OPT_OUT: o->out = arg; return 0;
	case OPT_NAME: r->name = arg; return 0;
	case OPT_DAYS: return parse_days(arg, &r->days);
	case OPT_KEY: return (r->key_type = parse_key_type(arg)) < 0 ? -1 : 0;
	case OPT_FORCE: o->force = 1; return 0;
	case OPT_CA: o->ca = arg; return 0;
	case OPT_CA_KEY: o->ca_key = arg; return 0;
	case OPT_ROLE:
		o->role_set = 1;
		r->role = zt_role_parse(arg);
		if (r->role != ZT_ROLE_NONE)
			return 0;
		fprintf(stderr, "ztnad pki: --role must be relay, connector "
			"or agent, not '%s'\n", arg);
		return -1;
	case OPT_GROUP:
		return cli_push(o->groups, &r->n_groups, ZT_MAX_GROUPS,
				"groups", arg);
	case OPT_DNS:
		return cli_push(o->dns, &r->n_dns, PKI_MAX_DNS, "DNS names",
				arg);
	case OPT_IP:
		return cli_push(o->ips, &r->n_ips, PKI_MAX_IPS, "IP addresses",
				arg);
	case OPT_PUBLISH_HOST:
		return cli_push(o->phosts, &r->n_publish_hosts, ZT_MAX_GRANTS,
				"--publish-host", arg);
	case OPT_PUBLISH_CIDR:
		return cli_push(o->pcidrs, &r->n_publish_cidrs, ZT_MAX_GRANTS,
				"--publish-cidr", arg);
	case OPT_NOT_BEFORE:
		return parse_i64("--not-before", arg, 1, INT64_MAX / 2,
				 &r->not_before);
	case OPT_NOT_AFTER:
		return parse_i64("--not-after", arg, 1, INT64_MAX / 2,
				 &r->not_after);
	default: /* getopt_long already said what */
		fprintf(stderr, "ztnad pki: see 'ztnad pki help'\n");
		return -1;
	}
}

/* argv is "pki <sub> ..."; getopt sees "<sub> ..." as its argv. */
static int cli_parse(struct pki_cli *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->req.groups = o->groups;
	o->req.dns = o->dns;
	o->req.ips = o->ips;
	o->req.publish_hosts = o->phosts;
	o->req.publish_cidrs = o->pcidrs;
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", pki_opts, NULL)) != -1)
		if (cli_opt(o, c, optarg) < 0)
			return -1;
	if (optind != argc - 1) {
		fprintf(stderr, "ztnad pki: unexpected argument '%s'\n",
			argv[optind + 1]);
		return -1;
	}
	return 0;
}

static int cli_init_ca(int argc, char **argv)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	struct pki_cli o;
	struct stat st;

	if (cli_parse(&o, argc, argv) < 0)
		return 2;
	if (o.req.org == NULL || o.out == NULL || o.ca || o.ca_key ||
	    o.role_set || o.req.n_groups || o.req.n_dns || o.req.n_ips ||
	    o.req.n_publish_hosts || o.req.n_publish_cidrs ||
	    o.req.not_before || o.req.not_after) {
		fprintf(stderr, "usage: ztnad pki init-ca --org ORG --out DIR "
			"[--name CN] [--days N] [--key ec|ed25519] "
			"[--force]\n");
		return 2;
	}
	if (mkdir(o.out, 0700) < 0 && errno != EEXIST) {
		log_error("pki: cannot create %s: %s", o.out, strerror(errno));
		return 1;
	}
	if ((size_t)snprintf(cert_path, sizeof(cert_path), "%s/ca.crt",
			     o.out) >= sizeof(cert_path) ||
	    (size_t)snprintf(key_path, sizeof(key_path), "%s/ca.key",
			     o.out) >= sizeof(key_path)) {
		log_error("pki: path too long: %s", o.out);
		return 1;
	}
	if (!o.force && lstat(key_path, &st) == 0) {
		log_error("pki: %s exists; not overwriting a CA key without "
			  "--force", key_path);
		return 1;
	}
	if (zt_pki_create_ca(&o.req, cert_path, key_path) < 0)
		return 1;
	printf("wrote %s and %s\n", cert_path, key_path);
	return 0;
}

static int cli_issue(int argc, char **argv)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	struct pki_cli o;

	if (cli_parse(&o, argc, argv) < 0)
		return 2;
	if (!o.ca || !o.ca_key || !o.role_set || !o.req.name || !o.out ||
	    o.force || (!o.req.not_before != !o.req.not_after)) {
		fprintf(stderr, "usage: ztnad pki issue --ca CA.crt --ca-key "
			"CA.key --role relay|connector|agent --name NAME "
			"--out PREFIX [...]\n(--not-before and --not-after "
			"go together; see ztnad pki help)\n");
		return 2;
	}
	if ((size_t)snprintf(cert_path, sizeof(cert_path), "%s.crt",
			     o.out) >= sizeof(cert_path) ||
	    (size_t)snprintf(key_path, sizeof(key_path), "%s.key",
			     o.out) >= sizeof(key_path)) {
		log_error("pki: path too long: %s", o.out);
		return 1;
	}
	if (zt_pki_issue(&o.req, o.ca, o.ca_key, cert_path, key_path) < 0)
		return 1;
	printf("wrote %s and %s\n", cert_path, key_path);
	return 0;
}

int zt_pki_main(int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : NULL;
	int ret;

	if (sub && (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0 ||
		    strcmp(sub, "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (sub == NULL || (strcmp(sub, "init-ca") != 0 &&
			    strcmp(sub, "issue") != 0 &&
			    strcmp(sub, "show") != 0)) {
		if (sub)
			fprintf(stderr, "ztnad pki: unknown command '%s'\n",
				sub);
		usage(stderr);
		return 2;
	}
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		log_error("pki: wolfSSL initialisation failed");
		return 1;
	}
	if (strcmp(sub, "init-ca") == 0)
		ret = cli_init_ca(argc, argv);
	else if (strcmp(sub, "issue") == 0)
		ret = cli_issue(argc, argv);
	else
		ret = cli_show(argc, argv);
	wolfSSL_Cleanup();
	return ret;
}
