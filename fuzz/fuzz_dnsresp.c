/* libFuzzer target for the parser of answers from a forwarding resolver
 * (the bytes come from the network). Whatever it accepts is checked
 * against properties that hold for any valid message: every strict prefix
 * is refused (the counts cover the whole message), the question name is a
 * short lower-case string, each collected address is of one family and
 * its bytes occur in the input, and a response always matches the query
 * built from its own question and id. abort() on any violation. */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addrs(const struct zt_dns_response *r, const uint8_t *data,
			size_t size)
{
	if (r->n_addrs > ZT_DNS_RESP_MAX_ADDRS)
		abort();
	for (size_t i = 0; i < r->n_addrs; i++) {
		const struct zt_addr *a = &r->addrs[i];
		size_t n = a->family == AF_INET ? 4 : 16;

		if (a->family != AF_INET && a->family != AF_INET6)
			abort();
		if (!memmem(data, size, a->ip, n))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_dns_response r, r2;
	struct zt_dns_query q;
	uint8_t *prefix;
	int rc = zt_dns_parse_response(&r, data, size);

	if (rc != 0) {
		if (rc != ZT_ETRUNC && rc != ZT_EINVAL && rc != ZT_ETOOBIG)
			abort();
		return 0;
	}
	if (strlen(r.name) > 253)
		abort();
	for (const char *c = r.name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			abort();
	check_addrs(&r, data, size);
	/* An exact-size copy so ASan sees a read past the prefix. */
	prefix = malloc(size);
	if (!prefix)
		return 0;
	memcpy(prefix, data, size);
	if (zt_dns_parse_response(&r2, prefix, size - 1) == 0)
		abort();
	free(prefix);
	memset(&q, 0, sizeof(q));
	memcpy(q.name, r.name, sizeof(q.name));
	q.qtype = r.qtype;
	q.qclass = r.qclass;
	if (zt_dns_response_matches(&r, &q, r.id) !=
	    ((r.flags & 0x8000) && ((r.flags >> 11) & 0x0f) == 0 ? 0 :
								   ZT_EINVAL))
		abort();
	return 0;
}
