/* libFuzzer target: arbitrary bytes as a config file, for each role. The
 * loader must never crash, leak or overrun, and must always leave a
 * NUL-terminated message when it fails. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int roles[] = { ZT_ROLE_RELAY, ZT_ROLE_CONNECTOR,
				     ZT_ROLE_AGENT };
	struct zt_config_error err;
	struct zt_config *cfg;
	char *text;

	/* The config struct is large (several PATH_MAX buffers): keep it off
	 * the fuzzer's stack. */
	cfg = malloc(sizeof(*cfg));
	text = malloc(size + 1);
	if (!cfg || !text)
		goto out;
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (zt_config_load_string(cfg, roles[i], "fuzz.ini", text,
					  &err) == 0) {
			zt_config_free(cfg);
			continue;
		}
		if (cfg->services || cfg->n_services ||
		    !memchr(err.msg, '\0', sizeof(err.msg)) || !err.msg[0])
			abort();
	}
out:
	free(text);
	free(cfg);
	return 0;
}
