/* Scratch directories and certificate files for the pki tests
 * (pkitest.h). */
#define _GNU_SOURCE /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "pkitest.h"

void mkpath(char *out, size_t cap, const struct fixture *f,
	    const char *name)
{
	snprintf(out, cap, "%s/%s", f->dir, name);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
	     struct FTW *ftw)
{
	return remove(path);
}

int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || wolfSSL_Init() != WOLFSSL_SUCCESS)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/unit_pki.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	wolfSSL_Cleanup();
	return 0;
}

/* Creates DIR/<name>.crt and .key as a CA of the given key type. */
void make_ca(const struct fixture *f, const char *name, int key_type)
{
	char crt[128], key[128], file[64];
	struct zt_pki_req req = {
		.org = "Example Org", .key_type = key_type,
	};

	snprintf(file, sizeof(file), "%s.crt", name);
	mkpath(crt, sizeof(crt), f, file);
	snprintf(file, sizeof(file), "%s.key", name);
	mkpath(key, sizeof(key), f, file);
	assert_int_equal(zt_pki_create_ca(&req, crt, key), 0);
}

/* Issues DIR/<out>.crt/.key from the CA DIR/<ca>.crt/.key. */
int issue(const struct fixture *f, const char *ca,
	  const struct zt_pki_req *req, const char *out)
{
	char ca_crt[128], ca_key[128], crt[128], key[128], file[64];

	snprintf(file, sizeof(file), "%s.crt", ca);
	mkpath(ca_crt, sizeof(ca_crt), f, file);
	snprintf(file, sizeof(file), "%s.key", ca);
	mkpath(ca_key, sizeof(ca_key), f, file);
	snprintf(file, sizeof(file), "%s.crt", out);
	mkpath(crt, sizeof(crt), f, file);
	snprintf(file, sizeof(file), "%s.key", out);
	mkpath(key, sizeof(key), f, file);
	return zt_pki_issue(req, ca_crt, ca_key, crt, key);
}

/* PEM file -> DER, as the brief's consumers will do. Returns the length. */
int read_der(const struct fixture *f, const char *name, uint8_t *der,
	     int cap)
{
	char path[128];
	uint8_t pem[8192];
	size_t n;
	FILE *fp;

	mkpath(path, sizeof(path), f, name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(pem, 1, sizeof(pem), fp);
	fclose(fp);
	return wolfSSL_CertPemToDer(pem, (int)n, der, cap, CERT_TYPE);
}

int cm_verify(const struct fixture *f, const char *ca, const char *leaf)
{
	char ca_path[128], leaf_path[128];
	WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
	int ret;

	assert_non_null(cm);
	mkpath(ca_path, sizeof(ca_path), f, ca);
	mkpath(leaf_path, sizeof(leaf_path), f, leaf);
	assert_int_equal(wolfSSL_CertManagerLoadCA(cm, ca_path, NULL),
			 WOLFSSL_SUCCESS);
	ret = wolfSSL_CertManagerVerify(cm, leaf_path, WOLFSSL_FILETYPE_PEM);
	wolfSSL_CertManagerFree(cm);
	return ret;
}
