/* For the config loader tests (unit_config.c, unit_configval.c): the
 * smallest valid file of each role, and loading a text that must fail with
 * a given code and message or must succeed (the test fails otherwise). */
#ifndef ZT_TEST_CFGTEST_H
#define ZT_TEST_CFGTEST_H

#include "config.h"

/* 4 lines: the first line after it is line 5. */
#define ID \
	"[identity]\n" \
	"ca = /p/ca.pem\n" \
	"cert = /p/cert.pem\n" \
	"key = /p/key.pem\n"

/* 6 lines */
#define RELAY_OK ID "[quic]\nlisten = 0.0.0.0:4433\n"
#define AGENT_OK ID "[relays]\nrelay = relay.example.com:4433\n"
/* 10 lines */
#define CONN_OK AGENT_OK \
	"[service wiki]\nhostname = wiki.example.com\nports = 443\n" \
	"allow = user:alice\n"

/* zt_config_load_string() with the file name "t.ini". */
int load(int role, const char *text, struct zt_config *cfg,
	 struct zt_config_error *err);
/* Loads text, which must fail with rc and a message containing want (and
 * want2 if given). */
void expect_fail(int role, const char *text, int rc, const char *want,
		 const char *want2);
void expect_ok(int role, const char *text, struct zt_config *cfg);

#endif
