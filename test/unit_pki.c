/* pki: CA and leaf issue, identity extraction, chain verification with
 * wolfSSL's CertManager, key reload into a TLS 1.3 context, output files
 * and requests refused. The TLS handshake and the CLI are in
 * unit_pkitls.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "pki.h"
#include "pkitest.h"
#include "tls.h"
#include "types.h"

static void identity_of(const struct fixture *f, const char *name,
			struct zt_identity *id, int expect)
{
	uint8_t der[8192];
	int n = read_der(f, name, der, sizeof(der));

	assert_true(n > 0);
	assert_int_equal(zt_identity_from_der(id, der, (size_t)n), expect);
}

static mode_t file_mode(const struct fixture *f, const char *name)
{
	char path[128];
	struct stat st;

	mkpath(path, sizeof(path), f, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}


/* Issues the three roles from an EC or an Ed25519 CA and checks files,
 * identities and chains. */
static void issue_all_roles(void **state, int ca_type)
{
	struct fixture *f = *state;
	const char *dns[] = { "relay.example.com" };
	const char *ips[] = { "192.0.2.1", "2001:db8::1" };
	const char *groups[] = { "eng", "ops-team" };
	struct zt_pki_req relay = {
		.role = ZT_ROLE_RELAY, .name = "relay-1", .dns = dns,
		.n_dns = 1, .ips = ips, .n_ips = 2,
	};
	const char *phosts[] = { "*.Corp.Internal", "git.example.com" };
	const char *pcidrs[] = { "10.78.0.0/24" };
	struct zt_pki_req conn = {
		.role = ZT_ROLE_CONNECTOR, .name = "conn.dc1",
		.key_type = ZT_KEY_ED25519,
		.publish_hosts = phosts, .n_publish_hosts = 2,
		.publish_cidrs = pcidrs, .n_publish_cidrs = 1,
	};
	struct zt_pki_req agent = {
		.role = ZT_ROLE_AGENT, .name = "alice@example.com",
		.groups = groups, .n_groups = 2,
	};
	struct zt_identity id;
	const char *const leaves[] = { "relay.crt", "conn.crt", "agent.crt" };

	make_ca(f, "ca", ca_type);
	assert_int_equal(file_mode(f, "ca.key"), 0600);
	assert_int_equal(file_mode(f, "ca.crt"), 0644);
	assert_int_equal(issue(f, "ca", &relay, "relay"), 0);
	assert_int_equal(issue(f, "ca", &conn, "conn"), 0);
	assert_int_equal(issue(f, "ca", &agent, "agent"), 0);
	assert_int_equal(file_mode(f, "relay.key"), 0600);
	assert_int_equal(file_mode(f, "conn.key"), 0600);
	assert_int_equal(file_mode(f, "agent.key"), 0600);
	assert_int_equal(file_mode(f, "agent.crt"), 0644);

	identity_of(f, "relay.crt", &id, 0);
	assert_int_equal(id.role, ZT_ROLE_RELAY);
	assert_string_equal(id.name, "relay-1");
	assert_int_equal(id.n_groups, 0);
	identity_of(f, "conn.crt", &id, 0);
	assert_int_equal(id.role, ZT_ROLE_CONNECTOR);
	assert_string_equal(id.name, "conn.dc1");
	/* Grants come back lower case, in no promised order. */
	assert_int_equal(id.n_publish_hosts, 2);
	assert_true(strcmp(id.publish_hosts[0], "*.corp.internal") == 0 ||
		    strcmp(id.publish_hosts[1], "*.corp.internal") == 0);
	assert_int_equal(id.n_publish_cidrs, 1);
	assert_int_equal(id.publish_cidrs[0].family, AF_INET);
	assert_int_equal(id.publish_cidrs[0].prefix, 24);
	assert_int_equal(id.publish_cidrs[0].addr[1], 78);
	identity_of(f, "agent.crt", &id, 0);
	assert_int_equal(id.role, ZT_ROLE_AGENT);
	assert_string_equal(id.name, "alice@example.com");
	assert_int_equal(id.n_groups, 2);
	/* wolfSSL hands SANs back in no promised order. */
	assert_true((strcmp(id.groups[0], "eng") == 0 &&
		     strcmp(id.groups[1], "ops-team") == 0) ||
		    (strcmp(id.groups[0], "ops-team") == 0 &&
		     strcmp(id.groups[1], "eng") == 0));

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(cm_verify(f, "ca.crt", leaves[i]),
				 WOLFSSL_SUCCESS);
	/* The CA is not an identity. */
	identity_of(f, "ca.crt", &id, ZT_EINVAL);
}

static void test_ec_ca(void **state)
{
	issue_all_roles(state, ZT_KEY_EC_P256);
}

static void test_ed25519_ca(void **state)
{
	issue_all_roles(state, ZT_KEY_ED25519);
}

static void test_foreign_ca_rejected(void **state)
{
	struct fixture *f = *state;
	struct zt_pki_req agent = { .role = ZT_ROLE_AGENT, .name = "mallory" };

	make_ca(f, "ca", ZT_KEY_EC_P256);
	make_ca(f, "evil", ZT_KEY_EC_P256);
	assert_int_equal(issue(f, "evil", &agent, "mallory"), 0);
	assert_int_equal(cm_verify(f, "evil.crt", "mallory.crt"),
			 WOLFSSL_SUCCESS);
	assert_int_not_equal(cm_verify(f, "ca.crt", "mallory.crt"),
			     WOLFSSL_SUCCESS);
}

static void test_validity(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	struct zt_pki_req old = {
		.role = ZT_ROLE_CONNECTOR, .name = "old",
		.not_before = now - 10 * 86400, .not_after = now - 86400,
	};
	struct zt_pki_req future = {
		.role = ZT_ROLE_CONNECTOR, .name = "future",
		.not_before = now + 86400, .not_after = now + 10 * 86400,
	};
	struct zt_pki_req backwards = {
		.role = ZT_ROLE_CONNECTOR, .name = "backwards",
		.not_before = now, .not_after = now - 1,
	};

	make_ca(f, "ca", ZT_KEY_EC_P256);
	assert_int_equal(issue(f, "ca", &old, "old"), 0);
	assert_int_equal(cm_verify(f, "ca.crt", "old.crt"), ASN_AFTER_DATE_E);
	assert_int_equal(issue(f, "ca", &future, "future"), 0);
	assert_int_equal(cm_verify(f, "ca.crt", "future.crt"),
			 ASN_BEFORE_DATE_E);
	assert_int_equal(issue(f, "ca", &backwards, "backwards"), ZT_EINVAL);
}

/* The key must load the way the QUIC layer will load it, and match. */
static void check_key_loads(const struct fixture *f, const char *crt,
			    const char *key, int expect_match)
{
	char crt_path[128], key_path[128];
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_method());

	assert_non_null(ctx);
	mkpath(crt_path, sizeof(crt_path), f, crt);
	mkpath(key_path, sizeof(key_path), f, key);
	assert_int_equal(wolfSSL_CTX_use_certificate_file(ctx, crt_path,
			 WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
	assert_int_equal(wolfSSL_CTX_use_PrivateKey_file(ctx, key_path,
			 WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
	if (expect_match)
		assert_int_equal(wolfSSL_CTX_check_private_key(ctx),
				 WOLFSSL_SUCCESS);
	else
		assert_int_not_equal(wolfSSL_CTX_check_private_key(ctx),
				     WOLFSSL_SUCCESS);
	wolfSSL_CTX_free(ctx);
}

static void test_keys_load(void **state)
{
	struct fixture *f = *state;
	struct zt_pki_req ec = { .role = ZT_ROLE_AGENT, .name = "ec" };
	struct zt_pki_req ed = {
		.role = ZT_ROLE_AGENT, .name = "ed", .key_type = ZT_KEY_ED25519,
	};

	make_ca(f, "ca", ZT_KEY_EC_P256);
	make_ca(f, "edca", ZT_KEY_ED25519);
	assert_int_equal(issue(f, "ca", &ec, "ec"), 0);
	assert_int_equal(issue(f, "edca", &ed, "ed"), 0);
	check_key_loads(f, "ec.crt", "ec.key", 1);
	check_key_loads(f, "ed.crt", "ed.key", 1);
	check_key_loads(f, "ca.crt", "ca.key", 1);
	check_key_loads(f, "edca.crt", "edca.key", 1);
	check_key_loads(f, "ec.crt", "ca.key", 0);
}

static void test_existing_key_file_tightened(void **state)
{
	struct fixture *f = *state;
	struct zt_pki_req r = { .role = ZT_ROLE_CONNECTOR, .name = "c1" };
	char path[128];
	FILE *fp;

	make_ca(f, "ca", ZT_KEY_EC_P256);
	mkpath(path, sizeof(path), f, "c1.key");
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("old\n", fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(issue(f, "ca", &r, "c1"), 0);
	assert_int_equal(file_mode(f, "c1.key"), 0600);
	check_key_loads(f, "c1.crt", "c1.key", 1);
}

/* A symlink planted at an output path is replaced, never followed. */
static void test_symlink_not_followed(void **state)
{
	struct fixture *f = *state;
	struct zt_pki_req r = { .role = ZT_ROLE_CONNECTOR, .name = "c1" };
	char path[128], victim[128], tmp[160];
	struct stat st;

	make_ca(f, "ca", ZT_KEY_EC_P256);
	mkpath(path, sizeof(path), f, "c1.key");
	mkpath(victim, sizeof(victim), f, "victim");
	assert_int_equal(symlink(victim, path), 0);
	/* A planted ".new" symlink must not be followed either. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(issue(f, "ca", &r, "c1"), 0);
	assert_int_equal(lstat(victim, &st), -1);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(lstat(tmp, &st), -1);
	check_key_loads(f, "c1.crt", "c1.key", 1);
}

/* Daemons refuse a private key that others can read. */
static void test_loose_key_refused(void **state)
{
	struct fixture *f = *state;
	struct zt_pki_req r = { .role = ZT_ROLE_CONNECTOR, .name = "c1" };
	char ca[128], crt[128], key[128];
	struct zt_tls t;

	make_ca(f, "ca", ZT_KEY_EC_P256);
	assert_int_equal(issue(f, "ca", &r, "c1"), 0);
	mkpath(ca, sizeof(ca), f, "ca.crt");
	mkpath(crt, sizeof(crt), f, "c1.crt");
	mkpath(key, sizeof(key), f, "c1.key");
	assert_int_equal(zt_tls_init(&t, ca, crt, key), 0);
	zt_tls_free(&t);
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(zt_tls_init(&t, ca, crt, key), ZT_ETLS);
	assert_int_equal(chmod(key, 0604), 0);
	assert_int_equal(zt_tls_init(&t, ca, crt, key), ZT_ETLS);
}

static void test_wrong_ca_key(void **state)
{
	struct fixture *f = *state;
	struct zt_pki_req r = { .role = ZT_ROLE_CONNECTOR, .name = "c1" };
	char crt[128], key[128], out_crt[128], out_key[128];

	make_ca(f, "ca", ZT_KEY_EC_P256);
	make_ca(f, "other", ZT_KEY_EC_P256);
	make_ca(f, "edca", ZT_KEY_ED25519);
	mkpath(crt, sizeof(crt), f, "ca.crt");
	mkpath(out_crt, sizeof(out_crt), f, "c1.crt");
	mkpath(out_key, sizeof(out_key), f, "c1.key");
	mkpath(key, sizeof(key), f, "other.key");
	assert_int_equal(zt_pki_issue(&r, crt, key, out_crt, out_key),
			 ZT_EINVAL);
	mkpath(key, sizeof(key), f, "edca.key");
	assert_int_not_equal(zt_pki_issue(&r, crt, key, out_crt, out_key), 0);
	assert_int_not_equal(access(out_crt, F_OK), 0);
	/* A leaf is not a CA. */
	assert_int_equal(issue(f, "ca", &r, "c1"), 0);
	assert_int_not_equal(issue(f, "c1", &r, "c2"), 0);
}

static void test_invalid_requests(void **state)
{
	struct fixture *f = *state;
	const char *bad_group[] = { "eng", "bad group" };
	const char *dns[] = { "relay.example.com" };
	const char *bad_dns[] = { "-bad.example.com" };
	const char *bad_ip[] = { "300.1.1.1" };
	const char *too_many[ZT_MAX_GROUPS + 1];
	char long_name[ZT_NAME_MAX + 1];
	struct zt_pki_req r = { .role = ZT_ROLE_AGENT, .name = "ok" };

	make_ca(f, "ca", ZT_KEY_EC_P256);
	memset(long_name, 'a', ZT_NAME_MAX);
	long_name[ZT_NAME_MAX] = 0;
	for (size_t i = 0; i <= ZT_MAX_GROUPS; i++)
		too_many[i] = "g";

	assert_int_equal(issue(f, "ca", &r, "ok"), 0);
	r.name = "has space";
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.name = "";
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.name = "slash/name";
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.name = long_name;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	long_name[ZT_NAME_MAX - 1] = 0; /* 63 characters is fine */
	assert_int_equal(issue(f, "ca", &r, "x"), 0);
	r.name = "ok";
	{
		const char *h[] = { "a.corp.internal" };
		const char *bad_h[] = { "*" };
		const char *bad_c[] = { "10.78.0.1/24" };
		struct zt_pki_req g = { .role = ZT_ROLE_AGENT, .name = "g",
					.publish_hosts = h,
					.n_publish_hosts = 1 };

		/* Publishing rights only for connectors, well-formed. */
		assert_int_equal(issue(f, "ca", &g, "x"), ZT_EINVAL);
		g.role = ZT_ROLE_CONNECTOR;
		assert_int_equal(issue(f, "ca", &g, "x"), 0);
		g.publish_hosts = bad_h;
		assert_int_equal(issue(f, "ca", &g, "x"), ZT_EINVAL);
		g.n_publish_hosts = 0;
		g.publish_cidrs = bad_c;
		g.n_publish_cidrs = 1;
		assert_int_equal(issue(f, "ca", &g, "x"), ZT_EINVAL);
	}
	r.groups = bad_group;
	r.n_groups = 2;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.groups = too_many;
	r.n_groups = ZT_MAX_GROUPS + 1;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.n_groups = ZT_MAX_GROUPS;
	assert_int_equal(issue(f, "ca", &r, "x"), 0);
	r.n_groups = 0;
	r.dns = dns; /* only relays carry DNS names */
	r.n_dns = 1;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.role = ZT_ROLE_RELAY;
	assert_int_equal(issue(f, "ca", &r, "x"), 0);
	r.dns = bad_dns;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.n_dns = 0;
	r.ips = bad_ip;
	r.n_ips = 1;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.n_ips = 0;
	r.groups = bad_group; /* only agents carry groups */
	r.n_groups = 1;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
	r.n_groups = 0;
	r.role = ZT_ROLE_NONE;
	assert_int_equal(issue(f, "ca", &r, "x"), ZT_EINVAL);
}

/* ---- certificates zt_pki would never issue, made with wolfCrypt ---- */

/* Appends one [6] URI GeneralName (short values only). */
static size_t add_uri(uint8_t *p, size_t off, const char *uri)
{
	size_t n = strlen(uri);

	p[off++] = 0x86;
	p[off++] = (uint8_t)n;
	memcpy(p + off, uri, n);
	return off + n;
}

/* A self-signed EC certificate with the given OU (NULL = none) and URI
 * SANs; a CA if is_ca. */
static int raw_cert(const char *ou, const char *const *uris, size_t n_uris,
		    int is_ca, uint8_t *der, int cap)
{
	uint8_t sans[4096];
	size_t len = 4;
	ecc_key key;
	WC_RNG rng;
	Cert *c = wc_CertNew(NULL);
	int n;

	assert_non_null(c);
	assert_int_equal(wc_InitRng(&rng), 0);
	assert_int_equal(wc_ecc_init(&key), 0);
	assert_int_equal(wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1), 0);
	snprintf(c->subject.org, sizeof(c->subject.org), "Example Org");
	snprintf(c->subject.commonName, sizeof(c->subject.commonName), "bob");
	if (ou)
		snprintf(c->subject.unit, sizeof(c->subject.unit), "%s", ou);
	for (size_t i = 0; i < n_uris; i++)
		len = add_uri(sans, len, uris[i]);
	if (n_uris) {
		/* DER wants the shortest length form. */
		size_t body = len - 4;
		size_t hdr = body < 0x80 ? 2 : body < 0x100 ? 3 : 4;
		uint8_t *p = c->altNames;

		*p++ = 0x30;
		if (hdr == 3)
			*p++ = 0x81;
		if (hdr == 4) {
			*p++ = 0x82;
			*p++ = (uint8_t)(body >> 8);
		}
		*p++ = (uint8_t)body;
		memcpy(p, sans + 4, body);
		c->altNamesSz = (int)(hdr + body);
	}
	c->isCA = is_ca;
	c->sigType = CTC_SHA256wECDSA;
	n = wc_MakeCert_ex(c, der, (word32)cap, ECC_TYPE, &key, &rng);
	assert_true(n > 0);
	n = wc_SignCert_ex(c->bodySz, c->sigType, der, (word32)cap, ECC_TYPE,
			   &key, &rng);
	assert_true(n > 0);
	wc_ecc_free(&key);
	wc_FreeRng(&rng);
	wc_CertFree(c);
	return n;
}

static void test_identity_rejects(void **state)
{
	const char *groups[] = { "https://example.com/x", "ztnad:group:eng",
				 "ztnad:other:x" };
	const char *bad[] = { "ztnad:group:a/b" };
	const char *empty[] = { "ztnad:group:" };
	const char *many[ZT_MAX_GROUPS + 1];
	char names[ZT_MAX_GROUPS + 1][32];
	struct zt_identity id;
	uint8_t der[8192];
	int n;

	n = raw_cert("agent", groups, 3, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), 0);
	assert_int_equal(id.role, ZT_ROLE_AGENT);
	assert_string_equal(id.name, "bob");
	assert_int_equal(id.n_groups, 1); /* foreign URIs are ignored */
	assert_string_equal(id.groups[0], "eng");

	n = raw_cert("agent", NULL, 0, 1, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), ZT_EINVAL);
	n = raw_cert(NULL, NULL, 0, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), ZT_EINVAL);
	n = raw_cert("admin", NULL, 0, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), ZT_EINVAL);
	n = raw_cert("Agent", NULL, 0, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), ZT_EINVAL);
	n = raw_cert("agent", bad, 1, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), ZT_EINVAL);
	n = raw_cert("agent", empty, 1, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), ZT_EINVAL);
	{
		const char *ok[] = { "ztnad:publish-host:*.corp.internal",
				     "ztnad:publish-cidr:fd00:10::/64" };
		const char *bad_host[] = { "ztnad:publish-host:*.*.x" };
		const char *bad_cidr[] = { "ztnad:publish-cidr:10.0.0.1/8" };
		const char *empty_host[] = { "ztnad:publish-host:" };

		n = raw_cert("connector", ok, 2, 0, der, sizeof(der));
		assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), 0);
		assert_int_equal(id.n_publish_hosts, 1);
		assert_int_equal(id.n_publish_cidrs, 1);
		assert_int_equal(id.publish_cidrs[0].family, AF_INET6);
		/* A grant on an agent is a mis-issued certificate. */
		n = raw_cert("agent", ok, 2, 0, der, sizeof(der));
		assert_int_equal(zt_identity_from_der(&id, der, (size_t)n),
				 ZT_EINVAL);
		n = raw_cert("connector", bad_host, 1, 0, der, sizeof(der));
		assert_int_equal(zt_identity_from_der(&id, der, (size_t)n),
				 ZT_EINVAL);
		n = raw_cert("connector", bad_cidr, 1, 0, der, sizeof(der));
		assert_int_equal(zt_identity_from_der(&id, der, (size_t)n),
				 ZT_EINVAL);
		n = raw_cert("connector", empty_host, 1, 0, der, sizeof(der));
		assert_int_equal(zt_identity_from_der(&id, der, (size_t)n),
				 ZT_EINVAL);
	}

	for (size_t i = 0; i <= ZT_MAX_GROUPS; i++) {
		snprintf(names[i], sizeof(names[i]), "ztnad:group:g%zu", i);
		many[i] = names[i];
	}
	n = raw_cert("agent", many, ZT_MAX_GROUPS, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), 0);
	assert_int_equal(id.n_groups, ZT_MAX_GROUPS);
	n = raw_cert("agent", many, ZT_MAX_GROUPS + 1, 0, der, sizeof(der));
	assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), ZT_EINVAL);

	assert_int_equal(zt_identity_from_der(&id, der, 10), ZT_EINVAL);
	assert_int_equal(zt_identity_from_der(&id, (const uint8_t *)"junk", 4),
			 ZT_EINVAL);
	assert_int_equal(zt_identity_from_x509(&id, NULL), ZT_EINVAL);
}


int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ec_ca),
		T(test_ed25519_ca),
		T(test_foreign_ca_rejected),
		T(test_validity),
		T(test_keys_load),
		T(test_existing_key_file_tightened),
		T(test_wrong_ca_key),
		T(test_invalid_requests),
		T(test_symlink_not_followed),
		T(test_loose_key_refused),
		T(test_identity_rejects),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
