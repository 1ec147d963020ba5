/* Identity: the organisation CA, certificate issue and inspection
 * (`ztnad pki`), and reading a peer's role, name and groups from its
 * certificate. Encoding (docs/PROTOCOL.md, "Identity"):
 *   Subject O  = organisation, CN = name, OU = role (relay|connector|agent)
 *   SAN URI    = "ztnad:group:<group>" per group (agents)
 *   SAN URI    = "ztnad:publish-host:<pattern>", "ztnad:publish-cidr:<cidr>"
 *                (connectors: what they may publish, grant.h)
 *   SAN DNS/IP = relay names and addresses */
#ifndef ZT_PKI_H
#define ZT_PKI_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

enum zt_key_type {
	ZT_KEY_EC_P256 = 1,
	ZT_KEY_ED25519 = 2,
};

struct zt_pki_req {
	int role;               /* enum zt_role; ZT_ROLE_NONE for the CA */
	const char *name;       /* CN */
	const char *org;        /* O; "" to copy the CA's */
	const char *const *groups;
	size_t n_groups;
	const char *const *dns;
	size_t n_dns;
	const char *const *ips; /* textual IPv4/IPv6 */
	size_t n_ips;
	const char *const *publish_hosts; /* connectors: "*.corp.internal" */
	size_t n_publish_hosts;
	const char *const *publish_cidrs; /* connectors: "10.78.0.0/24" */
	size_t n_publish_cidrs;
	int key_type;           /* enum zt_key_type */
	/* Validity: from now - 1 hour for `days` days, unless not_before /
	 * not_after (UNIX seconds) are non-zero (tests make expired certs). */
	int days;
	int64_t not_before, not_after;
};

/* All functions below need wolfSSL_Init() to have been called (zt_pki_main
 * does it itself). */

/* Writes a self-signed CA certificate and key (PEM, key mode 0600). */
int zt_pki_create_ca(const struct zt_pki_req *req, const char *cert_path,
		     const char *key_path);
/* Issues a leaf certificate signed by the CA. */
int zt_pki_issue(const struct zt_pki_req *req, const char *ca_cert_path,
		 const char *ca_key_path, const char *cert_path,
		 const char *key_path);

/* Reads role, name, groups and publishing grants from a DER certificate. Returns 0 or
 * ZT_EINVAL (not a certificate, no/unknown role, bad name or group). */
int zt_identity_from_der(struct zt_identity *id, const uint8_t *der,
			 size_t len);
/* The same from a parsed certificate: wolfssl_x509 is a WOLFSSL_X509 *
 * (e.g. from wolfSSL_get_peer_certificate(); still owned by the caller).
 * Checks only the identity fields: chain, validity and key usage are the
 * TLS handshake's job. */
int zt_identity_from_x509(struct zt_identity *id, void *wolfssl_x509);

/* Revocation (pki_crl.c). The list is a text file of revoked serials
 * (created on first use); the CRL is signed by the CA, valid `days`. */
int zt_pki_revoke(const char *ca_path, const char *ca_key_path,
		  const char *cert_path, const char *list,
		  const char *crl_path, int days);
int zt_pki_write_crl(const char *ca_path, const char *ca_key_path,
		     const char *list, const char *crl_path, int days);

/* Whole small file (a regular file of at most 1 MiB), NUL-terminated;
 * logs why not. The caller frees it (wiping keys first). Also used for
 * revocation lists. Returns 0, ZT_EIO or ZT_ENOMEM. */
int pki_read_file(const char *path, uint8_t **out, size_t *out_len);

/* `ztnad pki ...`; argv[0] is "pki". Returns the process exit code. */
int zt_pki_main(int argc, char **argv);

#endif
