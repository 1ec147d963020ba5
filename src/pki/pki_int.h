/* Internal to the pki files (pki.c: keys, certificates; pki_id.c: reading
 * identities; pki_crl.c: revocation lists; pki_cli.c: `ztnad pki`). */
#ifndef ZT_PKI_INT_H
#define ZT_PKI_INT_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/random.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pki.h"

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

int pki_parse_ip(const char *s, uint8_t out[16]);
/* PEM of a DER blob (type: CERT_TYPE, PKCS8_PRIVATEKEY_TYPE, CRL_TYPE),
 * written whole through a new file (O_EXCL|O_NOFOLLOW) and rename. */
int pki_write_pem(const char *path, const uint8_t *der, size_t der_len,
		  int type, mode_t mode);
int pki_key_wc_type(const struct pki_key *k);
void pki_key_free(struct pki_key *k);
int pki_cert_load(const char *path, WOLFSSL_X509 **out);
/* The CA's private key, checked against the CA certificate. */
int pki_ca_key_load(struct pki_key *k, WOLFSSL_X509 *ca, const char *ca_path,
		    const char *key_path);
int pki_name_text(WOLFSSL_X509_NAME *name, int nid, char *out, size_t cap);
/* UTCTime/GeneralizedTime as wolfSSL's Cert wants it (tag, length, text). */
int pki_der_time(uint8_t out[CTC_DATE_SIZE], int64_t t);

#endif
