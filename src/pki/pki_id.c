/* Reading a peer's identity (role, name, groups, publishing grants,
 * expiry) from its certificate. Encoding: docs/PROTOCOL.md, "Identity". */
#include "pki_int.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "grant.h"

/* ---- identity ------------------------------------------------------ */

/* One "ztnad:..." URI; *what tells which. Returns 0 or ZT_EINVAL. */
static int identity_uri(struct zt_identity *id, const char *d, size_t len)
{
	const size_t gl = strlen(PKI_GROUP_URI), hl = strlen(PKI_HOST_URI),
		     cl = strlen(PKI_CIDR_URI);

	if (len >= gl && memcmp(d, PKI_GROUP_URI, gl) == 0) {
		d += gl;
		len -= gl;
		if (!zt_name_ok(d, len) || id->n_groups >= ZT_MAX_GROUPS)
			return ZT_EINVAL;
		memcpy(id->groups[id->n_groups], d, len);
		id->groups[id->n_groups++][len] = 0;
	} else if (len >= hl && memcmp(d, PKI_HOST_URI, hl) == 0) {
		char *h = id->publish_hosts[id->n_publish_hosts];

		d += hl;
		len -= hl;
		if (len > ZT_HOST_MAX || !zt_host_pattern_ok(d, len) ||
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

static int cert_not_after(WOLFSSL_X509 *x, int64_t *out)
{
	const WOLFSSL_ASN1_TIME *t = wolfSSL_X509_get_notAfter(x);
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS)
		return ZT_EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
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
	if (pki_name_text(subj, NID_organizationalUnitName, ou, sizeof(ou)) < 0)
		goto bad;
	id->role = (uint8_t)zt_role_parse(ou);
	if (id->role == ZT_ROLE_NONE)
		goto bad;
	if (pki_name_text(subj, NID_commonName, id->name, sizeof(id->name)) < 0 ||
	    !zt_name_ok(id->name, strlen(id->name)))
		goto bad;
	if (identity_uris(id, x) < 0)
		goto bad;
	if (cert_not_after(x, &id->not_after) < 0)
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

