/* Revocation: the CA's list of revoked serials (a text file next to the
 * CA, one "SERIAL-HEX UNIX-TIME NAME" line per certificate) and the signed
 * X.509 v2 CRL made from it, which daemons load with [identity] crl. */
#include "pki_int.h"

#include <wolfssl/wolfcrypt/asn.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"

#define CRL_MAX_ENTRIES 4096
/* An entry: SEQUENCE { INTEGER serial (with a 0 pad), Time }. */
#define CRL_ENTRY_MAX (4 + 3 + EXTERNAL_SERIAL_SIZE + 2 + MAX_DATE_SIZE)
#define CRL_DER_MAX (CRL_MAX_ENTRIES * CRL_ENTRY_MAX + 1024)
/* 9999-12-31T23:59:59Z: the last time a CRL can encode. */
#define CRL_TIME_MAX 253402300799LL

struct revoked {
	uint8_t serial[EXTERNAL_SERIAL_SIZE];
	int serial_len;
	int64_t when;
};

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_line(const char *line, struct revoked *r)
{
	char hex[2 * EXTERNAL_SERIAL_SIZE + 1];
	long long when;
	size_t n;

	_Static_assert(EXTERNAL_SERIAL_SIZE == 32, "%64s below");
	if (sscanf(line, "%64s %lld", hex, &when) != 2 || when <= 0 ||
	    when > CRL_TIME_MAX)
		return ZT_EINVAL;
	n = strlen(hex);
	if (n == 0 || n % 2 || n / 2 > sizeof(r->serial))
		return ZT_EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_val(hex[2 * i]), lo = hex_val(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return ZT_EINVAL;
		r->serial[i] = (uint8_t)(hi << 4 | lo);
	}
	r->serial_len = (int)(n / 2);
	r->when = when;
	return 0;
}

/* A missing list is an empty one (nothing revoked yet). */
static int list_load(const char *path, struct revoked **out, size_t *n)
{
	struct revoked *v = NULL;
	char line[512];
	size_t cnt = 0, lineno = 0;
	FILE *f = fopen(path, "r");
	int rv = 0;

	*out = NULL;
	*n = 0;
	if (!f)
		return errno == ENOENT ? 0 : ZT_EIO;
	v = calloc(CRL_MAX_ENTRIES, sizeof(*v));
	if (!v) {
		rv = ZT_ENOMEM;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (cnt == CRL_MAX_ENTRIES || parse_line(line, &v[cnt]) != 0) {
			log_error("pki: %s:%zu: bad revocation entry", path,
				  lineno);
			rv = ZT_EINVAL;
			goto out;
		}
		cnt++;
	}
	*out = v;
	*n = cnt;
	v = NULL;
out:
	free(v);
	fclose(f);
	return rv;
}

/* UTCTime text (RFC 5280 until 2049), as wc_MakeCRL_ex takes it. */
static void crl_date(int64_t t, uint8_t out[MAX_DATE_SIZE], uint8_t *fmt)
{
	time_t tt = (time_t)t;
	struct tm tm;

	/* Times are bounded by their sources (CRL_TIME_MAX, --days); the
	 * epoch stands in should gmtime still fail. */
	if (!gmtime_r(&tt, &tm)) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	memset(out, 0, MAX_DATE_SIZE);
	if (tm.tm_year + 1900 < 2050) {
		strftime((char *)out, MAX_DATE_SIZE, "%y%m%d%H%M%SZ", &tm);
		*fmt = ASN_UTC_TIME;
	} else {
		strftime((char *)out, MAX_DATE_SIZE, "%Y%m%d%H%M%SZ", &tm);
		*fmt = ASN_GENERALIZED_TIME;
	}
}

static void chain_free(RevokedCert *rc);

static RevokedCert *revoked_chain(const struct revoked *v, size_t n)
{
	RevokedCert *head = NULL;

	for (size_t i = n; i-- > 0;) {
		RevokedCert *rc = calloc(1, sizeof(*rc));

		/* All or nothing: a partial list would un-revoke the rest. */
		if (!rc) {
			chain_free(head);
			return NULL;
		}
		memcpy(rc->serialNumber, v[i].serial, (size_t)v[i].serial_len);
		rc->serialSz = v[i].serial_len;
		crl_date(v[i].when, rc->revDate, &rc->revDateFormat);
		rc->reasonCode = -1;
		rc->next = head;
		head = rc;
	}
	return head;
}

static void chain_free(RevokedCert *rc)
{
	while (rc) {
		RevokedCert *n = rc->next;

		free(rc);
		rc = n;
	}
}

/* TBSCertList from wolfCrypt, signed like a certificate (the same
 * SEQUENCE { tbs, algorithm, signature } shape) with either key type. */
static int sign_crl(WOLFSSL_X509 *ca, struct pki_key *key,
		    const struct revoked *v, size_t n, int days, uint8_t *der,
		    int *der_len)
{
	uint8_t this_date[MAX_DATE_SIZE], next_date[MAX_DATE_SIZE], num[8];
	uint8_t this_fmt, next_fmt, *issuer = NULL;
	int64_t now = (int64_t)time(NULL);
	int sig = key->type == ZT_KEY_ED25519 ? CTC_ED25519 : CTC_SHA256wECDSA;
	int issuer_len, tbs, rv = ZT_ETLS;
	RevokedCert *chain = revoked_chain(v, n);
	WC_RNG rng;

	crl_date(now, this_date, &this_fmt);
	crl_date(now + (int64_t)days * 86400, next_date, &next_fmt);
	/* The CRL number only grows: seconds since the epoch. */
	for (int i = 0; i < 8; i++)
		num[i] = (uint8_t)((uint64_t)now >> (56 - 8 * i));
	issuer_len = wolfSSL_i2d_X509_NAME(wolfSSL_X509_get_subject_name(ca),
					   &issuer);
	if (issuer_len <= 0 || (n && !chain))
		goto out;
	tbs = wc_MakeCRL_ex(issuer, (word32)issuer_len, this_date, this_fmt,
			    next_date, next_fmt, chain, num, sizeof(num), sig, 2,
			    der, CRL_DER_MAX);
	if (tbs <= 0 || wc_InitRng(&rng) != 0) {
		log_error("pki: cannot encode the revocation list (%d)", tbs);
		goto out;
	}
	*der_len = wc_SignCert_ex(tbs, sig, der, CRL_DER_MAX,
				  pki_key_wc_type(key), &key->u, &rng);
	wc_FreeRng(&rng);
	if (*der_len <= 0) {
		log_error("pki: cannot sign the revocation list (%d)", *der_len);
		goto out;
	}
	rv = 0;
out:
	chain_free(chain);
	if (issuer)
		XFREE(issuer, NULL, DYNAMIC_TYPE_OPENSSL);
	return rv;
}

int zt_pki_write_crl(const char *ca_path, const char *ca_key_path,
		     const char *list, const char *crl_path, int days)
{
	struct pki_key key = { 0 };
	struct revoked *v = NULL;
	WOLFSSL_X509 *ca = NULL;
	uint8_t *der = NULL;
	size_t n = 0;
	int der_len = 0, rv;

	if ((rv = list_load(list, &v, &n)) != 0) {
		log_error("pki: cannot read %s", list);
		goto out;
	}
	if ((rv = pki_cert_load(ca_path, &ca)) != 0 ||
	    (rv = pki_ca_key_load(&key, ca, ca_path, ca_key_path)) != 0)
		goto out;
	rv = ZT_ENOMEM;
	der = malloc(CRL_DER_MAX);
	if (!der)
		goto out;
	if ((rv = sign_crl(ca, &key, v, n, days, der, &der_len)) != 0)
		goto out;
	rv = pki_write_pem(crl_path, der, (size_t)der_len, CRL_TYPE, 0644);
	if (rv == 0)
		printf("wrote %s: %zu revoked, valid %d days\n", crl_path, n,
		       days);
out:
	pki_key_free(&key);
	if (ca)
		wolfSSL_X509_free(ca);
	free(der);
	free(v);
	return rv;
}

/* Appends the certificate's serial to the list (once), then re-signs. */
int zt_pki_revoke(const char *ca_path, const char *ca_key_path,
		  const char *cert_path, const char *list,
		  const char *crl_path, int days)
{
	uint8_t serial[EXTERNAL_SERIAL_SIZE];
	int len = sizeof(serial), rv;
	char name[ZT_NAME_MAX] = "?";
	WOLFSSL_X509 *x = NULL, *ca = NULL;
	struct revoked *v = NULL;
	size_t n = 0;
	FILE *f = NULL;

	if ((rv = pki_cert_load(cert_path, &x)) != 0 ||
	    (rv = pki_cert_load(ca_path, &ca)) != 0)
		goto out;
	rv = ZT_ETLS;
	/* A serial means something only under its issuer. */
	if (wolfSSL_X509_NAME_cmp(wolfSSL_X509_get_issuer_name(x),
				  wolfSSL_X509_get_subject_name(ca)) != 0) {
		log_error("pki: %s was not issued by %s", cert_path, ca_path);
		goto out;
	}
	if (wolfSSL_X509_get_serial_number(x, serial, &len) != WOLFSSL_SUCCESS)
		goto out;
	pki_name_text(wolfSSL_X509_get_subject_name(x), NID_commonName, name,
		      sizeof(name));
	if ((rv = list_load(list, &v, &n)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (v[i].serial_len == len && !memcmp(v[i].serial, serial, (size_t)len)) {
			printf("%s (%s) was already revoked\n", cert_path, name);
			goto sign;
		}
	rv = ZT_EIO;
	f = fopen(list, "a");
	if (!f) {
		log_error("pki: cannot write %s: %s", list, strerror(errno));
		goto out;
	}
	for (int i = 0; i < len; i++)
		fprintf(f, "%02x", serial[i]);
	fprintf(f, " %lld %s\n", (long long)time(NULL), name);
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	printf("revoked %s (%s)\n", cert_path, name);
sign:
	rv = zt_pki_write_crl(ca_path, ca_key_path, list, crl_path, days);
out:
	if (f)
		fclose(f);
	if (ca)
		wolfSSL_X509_free(ca);
	if (x)
		wolfSSL_X509_free(x);
	free(v);
	return rv;
}
