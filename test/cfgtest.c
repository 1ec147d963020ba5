/* Loading texts that must fail or succeed, for the config loader tests
 * (cfgtest.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cfgtest.h"

int load(int role, const char *text, struct zt_config *cfg,
	 struct zt_config_error *err)
{
	return zt_config_load_string(cfg, role, "t.ini", text, err);
}

void expect_fail(int role, const char *text, int rc, const char *want,
		 const char *want2)
{
	struct zt_config cfg;
	struct zt_config_error err;
	int r;

	memset(&err, 'x', sizeof(err));
	r = load(role, text, &cfg, &err);
	if (r != rc || !strstr(err.msg, want) || (want2 && !strstr(err.msg, want2)))
		fail_msg("got %d '%s', want %d '%s' '%s'\n--- input:\n%s", r,
			 err.msg, rc, want, want2 ? want2 : "", text);
	/* on failure nothing is left to free */
	assert_null(cfg.services);
	assert_int_equal(cfg.n_services, 0);
}

void expect_ok(int role, const char *text, struct zt_config *cfg)
{
	struct zt_config_error err;
	int r = load(role, text, cfg, &err);

	if (r != 0)
		fail_msg("got %d '%s'\n--- input:\n%s", r, err.msg, text);
}
