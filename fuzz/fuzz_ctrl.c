/* libFuzzer target for the control protocol decoder and stream reader.
 * Besides "never crash", it checks three properties and abort()s on a
 * violation:
 *  - whatever decodes can be encoded again, and that encoding decodes to a
 *    message of the same type and re-encodes to the very same bytes;
 *  - the reader, fed the input in three chunks, yields exactly the message
 *    decode accepted when the input is one valid frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reencode(const struct zt_ctrl_msg *m)
{
	struct zt_ctrl_msg m2;
	uint8_t *b1 = NULL, *b2 = NULL;
	size_t l1, l2;
	int rc;

	rc = zt_ctrl_encode(m, &b1, &l1);
	if (rc == ZT_ENOMEM)
		return;
	if (rc)
		abort();
	if (zt_ctrl_decode(&m2, b1, l1) != 0 || m2.type != m->type)
		abort();
	rc = zt_ctrl_encode(&m2, &b2, &l2);
	if (rc == 0 && (l2 != l1 || memcmp(b1, b2, l1) != 0))
		abort();
	if (rc != 0 && rc != ZT_ENOMEM)
		abort();
	zt_ctrl_msg_free(&m2);
	free(b1);
	free(b2);
}

/* Feeds one chunk and drains every complete message. Returns the number of
 * messages taken, or -1 once the reader reported an error. */
static int feed_chunk(struct zt_ctrl_reader *r, const uint8_t *p, size_t n)
{
	struct zt_ctrl_msg m;
	int got = 0;
	int rc;

	if (zt_ctrl_reader_feed(r, p, n) != 0)
		return -1;
	while ((rc = zt_ctrl_reader_next(r, &m)) == 0) {
		zt_ctrl_msg_free(&m);
		got++;
	}
	return rc == ZT_ETRUNC ? got : -1;
}

static void check_reader(const uint8_t *data, size_t size, int whole_ok)
{
	struct zt_ctrl_reader r;
	size_t cut1, cut2;
	int got = 0, rc = 0;

	/* Data-dependent cut points so that every split gets explored. */
	cut1 = size ? data[size - 1] % (size + 1) : 0;
	cut2 = cut1 + (size - cut1) / 2;
	zt_ctrl_reader_init(&r);
	rc = feed_chunk(&r, data, cut1);
	if (rc >= 0) {
		got += rc;
		rc = feed_chunk(&r, data + cut1, cut2 - cut1);
	}
	if (rc >= 0) {
		got += rc;
		rc = feed_chunk(&r, data + cut2, size - cut2);
	}
	if (rc >= 0)
		got += rc;
	if (whole_ok && (rc < 0 || got != 1 || r.len != 0))
		abort();
	zt_ctrl_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_ctrl_msg m;
	int rc;

	rc = zt_ctrl_decode(&m, data, size);
	if (rc == 0) {
		check_reencode(&m);
		zt_ctrl_msg_free(&m);
	}
	check_reader(data, size, rc == 0);
	return 0;
}
