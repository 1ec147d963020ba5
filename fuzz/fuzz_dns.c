/* libFuzzer target for the DNS stub resolver's wire format. Arbitrary bytes
 * are parsed as a query; whatever is accepted is answered (A or AAAA with
 * one address, or NODATA for other types) and refused with an error, and
 * every response is checked with a small independent reader below: same
 * id, QR set, one question identical to the query's, the announced answer
 * count, and never longer than the buffer it was built in. abort() on any
 * violation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Walks the copied question name without trusting it, returns the offset
 * after qtype/qclass or 0 if it does not end inside len. */
static size_t skip_question(const uint8_t *p, size_t len)
{
	size_t o = 12;

	while (o < len && p[o] != 0) {
		if (p[o] & 0xc0)
			return 0;
		o += 1 + p[o];
	}
	if (o >= len || len - o - 1 < 4)
		return 0;
	return o + 1 + 4;
}

static void check_response(const uint8_t *out, size_t n, size_t cap,
			   const struct zt_dns_query *q, const uint8_t *raw,
			   uint16_t ancount, int rcode)
{
	size_t qend;

	if (n == 0)
		return;
	if (n > cap || n < 12)
		abort();
	if (get16(out) != q->id || !(out[2] & 0x80) || (out[3] & 0x0f) != rcode)
		abort();
	if (get16(out + 4) != 1 || get16(out + 6) != ancount ||
	    get16(out + 8) != 0 || get16(out + 10) != 0)
		abort();
	qend = skip_question(out, n);
	if (qend != q->question_end ||
	    memcmp(out + 12, raw + 12, qend - 12) != 0)
		abort();
	if (get16(out + qend - 4) != q->qtype)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t addrs[16] = { 100, 64, 0, 2, 5, 6, 7, 8,
					   9, 10, 11, 12, 13, 14, 15, 16 };
	struct zt_dns_query q;
	uint8_t out[600];
	size_t n, na, caps[2];

	if (zt_dns_parse_query(&q, data, size) != 0)
		return 0;
	if (strlen(q.name) > 253 || q.question_end > size)
		abort();
	na = (q.qtype == ZT_DNS_A || q.qtype == ZT_DNS_AAAA) ? 1 : 0;
	/* A full buffer and one that cuts the answer short, so the cap check
	 * is exercised at the boundary. */
	caps[0] = sizeof(out);
	caps[1] = q.question_end + (na ? 15 : 0);
	for (size_t i = 0; i < 2; i++) {
		n = zt_dns_build_answer(out, caps[i], &q, data, addrs, na, 30);
		if (i == 0 && n == 0)
			abort(); /* a parsed query always fits in 600 */
		if (i == 1 && na && n != 0)
			abort(); /* one byte short of the answer */
		check_response(out, n, caps[i], &q, data, (uint16_t)na, 0);
		n = zt_dns_build_error(out, caps[i], &q, data, ZT_DNS_NXDOMAIN);
		check_response(out, n, caps[i], &q, data, 0, ZT_DNS_NXDOMAIN);
	}
	return 0;
}
