/* Control frames from a byte stream: reassembly with bounded memory; each
 * whole frame goes to zt_ctrl_decode(). */
#include "ctrl.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ---- stream reassembly ------------------------------------------------- */

/* Keep a large buffer around only while it holds data. */
#define READER_KEEP_CAP 4096

void zt_ctrl_reader_init(struct zt_ctrl_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void zt_ctrl_reader_free(struct zt_ctrl_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Checks every complete header in the buffer, so a bad one is reported as
 * soon as it arrives rather than after we buffered its announced body. */
static int reader_scan(const struct zt_ctrl_reader *r)
{
	size_t off = 0;
	uint32_t blen;
	int rc;

	while (r->len - off >= ZT_CTRL_HDR_LEN) {
		rc = zt_ctrl_hdr_check(r->buf + off, r->len - off, &blen);
		if (rc)
			return rc;
		if ((size_t)ZT_CTRL_HDR_LEN + blen >= r->len - off)
			break;
		off += ZT_CTRL_HDR_LEN + blen;
	}
	return 0;
}

static int reader_grow(struct zt_ctrl_reader *r, size_t need)
{
	size_t cap = r->cap ? r->cap : READER_KEEP_CAP;
	uint8_t *nb;

	if (need <= r->cap)
		return 0;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return ZT_ENOMEM;
		cap *= 2;
	}
	nb = realloc(r->buf, cap);
	if (!nb)
		return ZT_ENOMEM;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

int zt_ctrl_reader_feed(struct zt_ctrl_reader *r, const uint8_t *data,
			size_t len)
{
	int rc;

	if (len > SIZE_MAX - r->len)
		return ZT_ENOMEM;
	if (len == 0)
		return reader_scan(r);
	rc = reader_grow(r, r->len + len);
	if (rc)
		return rc;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return reader_scan(r);
}

static void reader_consume(struct zt_ctrl_reader *r, size_t n)
{
	memmove(r->buf, r->buf + n, r->len - n);
	r->len -= n;
	if (r->len == 0 && r->cap > READER_KEEP_CAP) {
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	}
}

int zt_ctrl_reader_next(struct zt_ctrl_reader *r, struct zt_ctrl_msg *m)
{
	uint32_t blen;
	size_t flen;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = zt_ctrl_hdr_check(r->buf, r->len, &blen);
	if (rc)
		return rc;
	flen = ZT_CTRL_HDR_LEN + (size_t)blen;
	if (r->len < flen)
		return ZT_ETRUNC;
	/* The frame goes even if it does not decode: framing is intact, so
	 * a caller that chooses to carry on stays in sync. */
	rc = zt_ctrl_decode(m, r->buf, flen);
	reader_consume(r, flen);
	return rc;
}
