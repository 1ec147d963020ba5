/* pki: a real TLS 1.3 handshake over memory between issued certificates,
 * and the CLI's exit codes. */
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

/* ---- a TLS 1.3 handshake over memory between issued certificates ---- */

struct mem_pipe {
	uint8_t buf[64 * 1024];
	size_t len;
};

struct tls_end {
	WOLFSSL *ssl;
	struct mem_pipe *rx, *tx;
	int done;
};

static int mem_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_end *e = ctx;
	size_t n = e->rx->len < (size_t)sz ? e->rx->len : (size_t)sz;

	if (n == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	memcpy(buf, e->rx->buf, n);
	memmove(e->rx->buf, e->rx->buf + n, e->rx->len - n);
	e->rx->len -= n;
	return (int)n;
}

static int mem_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_end *e = ctx;

	if ((size_t)sz > sizeof(e->tx->buf) - e->tx->len)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	memcpy(e->tx->buf + e->tx->len, buf, (size_t)sz);
	e->tx->len += (size_t)sz;
	return sz;
}

static WOLFSSL_CTX *tls_ctx(const struct fixture *f, int server,
			    const char *ca, const char *name)
{
	char path[128], file[64];
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(
		server ? wolfTLSv1_3_server_method() :
			 wolfTLSv1_3_client_method());

	assert_non_null(ctx);
	mkpath(path, sizeof(path), f, ca);
	assert_int_equal(wolfSSL_CTX_load_verify_locations(ctx, path, NULL),
			 WOLFSSL_SUCCESS);
	snprintf(file, sizeof(file), "%s.crt", name);
	mkpath(path, sizeof(path), f, file);
	assert_int_equal(wolfSSL_CTX_use_certificate_file(ctx, path,
			 WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
	snprintf(file, sizeof(file), "%s.key", name);
	mkpath(path, sizeof(path), f, file);
	assert_int_equal(wolfSSL_CTX_use_PrivateKey_file(ctx, path,
			 WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER |
			       WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	wolfSSL_CTX_SetIORecv(ctx, mem_recv);
	wolfSSL_CTX_SetIOSend(ctx, mem_send);
	return ctx;
}

static int tls_step(struct tls_end *e, int server)
{
	int rc, err;

	if (e->done)
		return 0;
	rc = server ? wolfSSL_accept(e->ssl) : wolfSSL_connect(e->ssl);
	if (rc == WOLFSSL_SUCCESS) {
		e->done = 1;
		return 0;
	}
	err = wolfSSL_get_error(e->ssl, rc);
	return err == WOLFSSL_ERROR_WANT_READ ? 0 : -1;
}

/* Runs a mutually authenticated handshake; on success fills the server's
 * view of the client identity. Returns 0 or -1. */
static int handshake(const struct fixture *f, const char *server_name,
		     const char *client_name, struct zt_identity *client_id)
{
	struct mem_pipe *c2s = calloc(1, sizeof(*c2s));
	struct mem_pipe *s2c = calloc(1, sizeof(*s2c));
	WOLFSSL_CTX *sctx = tls_ctx(f, 1, "ca.crt", server_name);
	WOLFSSL_CTX *cctx = tls_ctx(f, 0, "ca.crt", client_name);
	struct tls_end s = { wolfSSL_new(sctx), c2s, s2c, 0 };
	struct tls_end c = { wolfSSL_new(cctx), s2c, c2s, 0 };
	WOLFSSL_X509 *peer;
	int ret = -1;

	assert_non_null(c2s);
	assert_non_null(s2c);
	assert_non_null(s.ssl);
	assert_non_null(c.ssl);
	wolfSSL_SetIOReadCtx(s.ssl, &s);
	wolfSSL_SetIOWriteCtx(s.ssl, &s);
	wolfSSL_SetIOReadCtx(c.ssl, &c);
	wolfSSL_SetIOWriteCtx(c.ssl, &c);
	for (int i = 0; i < 20 && !(s.done && c.done); i++)
		if (tls_step(&c, 0) < 0 || tls_step(&s, 1) < 0)
			goto out;
	if (!(s.done && c.done))
		goto out;
	peer = wolfSSL_get_peer_certificate(s.ssl);
	assert_non_null(peer);
	ret = zt_identity_from_x509(client_id, peer) == 0 ? 0 : -1;
	wolfSSL_X509_free(peer);
out:
	wolfSSL_free(s.ssl);
	wolfSSL_free(c.ssl);
	wolfSSL_CTX_free(sctx);
	wolfSSL_CTX_free(cctx);
	free(c2s);
	free(s2c);
	return ret;
}

static void test_tls_handshake(void **state)
{
	struct fixture *f = *state;
	const char *groups[] = { "eng" };
	struct zt_pki_req relay = { .role = ZT_ROLE_RELAY, .name = "relay" };
	struct zt_pki_req conn = {
		.role = ZT_ROLE_CONNECTOR, .name = "conn",
		.key_type = ZT_KEY_ED25519,
	};
	struct zt_pki_req agent = {
		.role = ZT_ROLE_AGENT, .name = "alice", .groups = groups,
		.n_groups = 1, .key_type = ZT_KEY_ED25519,
	};
	struct zt_identity id;

	make_ca(f, "ca", ZT_KEY_EC_P256);
	assert_int_equal(issue(f, "ca", &relay, "relay"), 0);
	assert_int_equal(issue(f, "ca", &conn, "conn"), 0);
	assert_int_equal(issue(f, "ca", &agent, "agent"), 0);

	assert_int_equal(handshake(f, "relay", "conn", &id), 0);
	assert_int_equal(id.role, ZT_ROLE_CONNECTOR);
	assert_string_equal(id.name, "conn");
	assert_int_equal(handshake(f, "conn", "agent", &id), 0);
	assert_int_equal(id.role, ZT_ROLE_AGENT);
	assert_string_equal(id.name, "alice");
	assert_int_equal(id.n_groups, 1);
	assert_string_equal(id.groups[0], "eng");
	/* Agent certificates carry clientAuth only: they cannot serve. */
	assert_int_equal(handshake(f, "agent", "relay", &id), -1);
}

/* ---- CLI ------------------------------------------------------------ */

static int run(int argc, const char **argv)
{
	return zt_pki_main(argc, (char **)argv);
}

static void test_cli(void **state)
{
	struct fixture *f = *state;
	char out[128], crt[128], key[128], leaf[128];
	const char *no_args[] = { "pki" };
	const char *help[] = { "pki", "help" };
	const char *unknown[] = { "pki", "frobnicate" };
	const char *no_org[] = { "pki", "init-ca", "--out", "x" };
	const char *bad_opt[] = { "pki", "init-ca", "--org", "O", "--out",
				  "x", "--bogus" };
	const char *bad_key[] = { "pki", "init-ca", "--org", "O", "--out",
				  "x", "--key", "rsa" };
	const char *show_none[] = { "pki", "show" };

	assert_int_equal(run(1, no_args), 2);
	assert_int_equal(run(2, help), 0);
	assert_int_equal(run(2, unknown), 2);
	assert_int_equal(run(4, no_org), 2);
	assert_int_equal(run(7, bad_opt), 2);
	assert_int_equal(run(8, bad_key), 2);
	assert_int_equal(run(2, show_none), 2);

	mkpath(out, sizeof(out), f, "cli");
	mkpath(crt, sizeof(crt), f, "cli/ca.crt");
	mkpath(key, sizeof(key), f, "cli/ca.key");
	mkpath(leaf, sizeof(leaf), f, "cli/agent");
	{
		const char *init[] = { "pki", "init-ca", "--org", "Ex Org",
				       "--out", out, "--key", "ed25519" };
		const char *force[] = { "pki", "init-ca", "--org", "Ex Org",
					"--out", out, "--force" };
		const char *iss[] = { "pki", "issue", "--ca", crt, "--ca-key",
				      key, "--role", "agent", "--name", "bob",
				      "--group", "eng", "--out", leaf };
		const char *dns_agent[] = { "pki", "issue", "--ca", crt,
					    "--ca-key", key, "--role", "agent",
					    "--name", "bob", "--dns", "a.b",
					    "--out", leaf };
		const char *half[] = { "pki", "issue", "--ca", crt, "--ca-key",
				       key, "--role", "agent", "--name", "bob",
				       "--not-before", "1", "--out", leaf };
		const char *show[] = { "pki", "show", crt };
		struct stat st;

		assert_int_equal(run(8, init), 0);
		assert_int_equal(stat(out, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
		assert_int_equal(run(8, init), 1); /* ca.key exists */
		assert_int_equal(run(7, force), 0);
		assert_int_equal(run(14, iss), 0);
		assert_int_equal(run(14, dns_agent), 1);
		assert_int_equal(run(14, half), 2);
		assert_int_equal(run(3, show), 0);
	}
	{
		struct zt_identity id;
		uint8_t der[8192];
		int n = read_der(f, "cli/agent.crt", der, sizeof(der));

		assert_true(n > 0);
		assert_int_equal(zt_identity_from_der(&id, der, (size_t)n), 0);
		assert_int_equal(id.role, ZT_ROLE_AGENT);
		assert_string_equal(id.name, "bob");
		assert_int_equal(cm_verify(f, "cli/ca.crt", "cli/agent.crt"),
				 WOLFSSL_SUCCESS);
	}
}


int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_tls_handshake),
		T(test_cli),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
