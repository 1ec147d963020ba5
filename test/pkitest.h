/* For the pki tests (unit_pki.c, unit_pkitls.c): a scratch directory per
 * test (setup, teardown: the fixture is *state) and the CA and leaf files
 * made in it; anything wrong fails the calling test. */
#ifndef ZT_TEST_PKITEST_H
#define ZT_TEST_PKITEST_H

#include <stddef.h>
#include <stdint.h>

#include "pki.h"

struct fixture {
	char dir[64];
};

/* out = DIR/name */
void mkpath(char *out, size_t cap, const struct fixture *f, const char *name);
int setup(void **state);
int teardown(void **state);
/* Creates DIR/<name>.crt and .key as a CA of the given key type. */
void make_ca(const struct fixture *f, const char *name, int key_type);
/* Issues DIR/<out>.crt/.key from the CA DIR/<ca>.crt/.key. */
int issue(const struct fixture *f, const char *ca,
	  const struct zt_pki_req *req, const char *out);
/* PEM file DIR/name -> DER. Returns the length. */
int read_der(const struct fixture *f, const char *name, uint8_t *der,
	     int cap);
/* Verifies DIR/leaf against the CA DIR/ca with wolfSSL's CertManager;
 * returns its result. */
int cm_verify(const struct fixture *f, const char *ca, const char *leaf);

#endif
