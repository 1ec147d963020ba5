/* `ztnad pki`: init-ca, issue, show, revoke, crl. */
#include "pki_int.h"

#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "err.h"
#include "grant.h"
#include "log.h"

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
	if (pki_cert_load(argv[2], &x) < 0)
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
		"       ztnad pki revoke --ca CA.crt --ca-key CA.key --cert X.crt "
		"--crl CRL.pem [--revoked LIST] [--days N]\n"
		"       ztnad pki crl --ca CA.crt --ca-key CA.key --crl CRL.pem "
		"[--revoked LIST] [--days N]\n"
		"       ztnad pki help\n"
		"init-ca writes DIR/ca.crt and DIR/ca.key; issue writes "
		"PREFIX.crt and PREFIX.key.\nrevoke adds X's serial to LIST "
		"(default: revoked.txt next to CA.crt) and writes the signed\n"
		"revocation list CRL.pem (valid N days, default 30; run crl "
		"again before then) for [identity] crl.\n");
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
	OPT_CERT, OPT_CRL, OPT_REVOKED,
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
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "crl", required_argument, NULL, OPT_CRL },
	{ "revoked", required_argument, NULL, OPT_REVOKED },
	{ NULL, 0, NULL, 0 },
};

/* Everything both subcommands can be given; which options a subcommand
 * accepts is checked after parsing. */
struct pki_cli {
	struct zt_pki_req req;
	const char *out, *ca, *ca_key, *cert, *crl, *revoked;
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
	case OPT_CERT: o->cert = arg; return 0;
	case OPT_CRL: o->crl = arg; return 0;
	case OPT_REVOKED: o->revoked = arg; return 0;
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

/* revoke and crl: the CA, its key, the list and the CRL to write. */
static int cli_crl(int argc, char **argv, int revoke)
{
	char list[PATH_MAX];
	struct pki_cli o;
	const char *slash;

	if (cli_parse(&o, argc, argv) < 0)
		return 2;
	if (!o.ca || !o.ca_key || !o.crl || (revoke != !!o.cert) ||
	    o.role_set || o.req.name || o.out || o.force) {
		usage(stderr);
		return 2;
	}
	if (o.revoked) {
		snprintf(list, sizeof(list), "%s", o.revoked);
	} else {
		slash = strrchr(o.ca, '/');
		if ((size_t)snprintf(list, sizeof(list), "%.*srevoked.txt",
				     slash ? (int)(slash - o.ca + 1) : 0,
				     o.ca) >= sizeof(list))
			return 2;
	}
	if (revoke)
		return zt_pki_revoke(o.ca, o.ca_key, o.cert, list, o.crl,
				     o.req.days ? o.req.days : 30) ? 1 : 0;
	return zt_pki_write_crl(o.ca, o.ca_key, list, o.crl,
				o.req.days ? o.req.days : 30) ? 1 : 0;
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
			    strcmp(sub, "revoke") != 0 &&
			    strcmp(sub, "crl") != 0 &&
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
	else if (strcmp(sub, "revoke") == 0 || strcmp(sub, "crl") == 0)
		ret = cli_crl(argc, argv, strcmp(sub, "revoke") == 0);
	else
		ret = cli_show(argc, argv);
	wolfSSL_Cleanup();
	return ret;
}

