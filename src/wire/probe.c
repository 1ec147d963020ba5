/* Hole-punching probes (probe.h). */
#include "probe.h"

#include <string.h>
#include <sys/socket.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "err.h"

#define VERSION 1
#define MAC_AT 64
#define MAC_LEN 16
#define OBS_AT 22 /* type, version, session, txid */
#define OBS_LEN 19

static int mac(const uint8_t key[ZT_PROBE_KEY_LEN], const uint8_t *msg,
	       uint8_t out[MAC_LEN])
{
	Hmac h;
	uint8_t full[WC_SHA256_DIGEST_SIZE];
	int rv = ZT_EINVAL;

	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return ZT_EINVAL;
	if (wc_HmacSetKey(&h, WC_SHA256, key, ZT_PROBE_KEY_LEN) == 0 &&
	    wc_HmacUpdate(&h, msg, MAC_AT) == 0 &&
	    wc_HmacFinal(&h, full) == 0) {
		memcpy(out, full, MAC_LEN);
		rv = 0;
	}
	wc_HmacFree(&h);
	return rv;
}

/* A probe's MAC decides whether we answer: compare in constant time. */
static int same(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int zt_probe_is(const uint8_t *buf, size_t len)
{
	return len > 0 && buf[0] >= 0x20 && buf[0] <= 0x3f;
}

static int put_observed(uint8_t *p, const struct zt_addr *a)
{
	if (a->family == AF_INET)
		p[0] = 4;
	else if (a->family == AF_INET6)
		p[0] = 6;
	else
		return ZT_EINVAL;
	p[1] = (uint8_t)(a->port >> 8);
	p[2] = (uint8_t)a->port;
	memcpy(p + 3, a->ip, a->family == AF_INET ? 4 : 16);
	return 0;
}

int zt_probe_encode(const struct zt_probe *p,
		    const uint8_t key[ZT_PROBE_KEY_LEN],
		    uint8_t out[ZT_PROBE_LEN])
{
	if (p->type != ZT_PROBE_PING && p->type != ZT_PROBE_PONG)
		return ZT_EINVAL;
	memset(out, 0, ZT_PROBE_LEN);
	out[0] = p->type;
	out[1] = VERSION;
	put64(out + 2, p->session);
	memcpy(out + 10, p->txid, ZT_PROBE_TXID_LEN);
	if (p->type == ZT_PROBE_PONG &&
	    put_observed(out + OBS_AT, &p->observed) != 0)
		return ZT_EINVAL;
	return mac(key, out, out + MAC_AT);
}

static int zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static int get_observed(const uint8_t *p, struct zt_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (p[0] == 4 && zero(p + 7, 12))
		a->family = AF_INET;
	else if (p[0] == 6)
		a->family = AF_INET6;
	else
		return ZT_EINVAL;
	a->port = (uint16_t)(p[1] << 8 | p[2]);
	memcpy(a->ip, p + 3, a->family == AF_INET ? 4 : 16);
	return a->port != 0 ? 0 : ZT_EINVAL;
}

int zt_probe_decode(struct zt_probe *p, const uint8_t *buf, size_t len,
		    const uint8_t key[ZT_PROBE_KEY_LEN])
{
	uint8_t want[MAC_LEN];
	size_t pad_at = OBS_AT;

	if (len != ZT_PROBE_LEN ||
	    (buf[0] != ZT_PROBE_PING && buf[0] != ZT_PROBE_PONG))
		return ZT_EINVAL;
	if (buf[1] != VERSION)
		return ZT_EVERSION;
	/* The MAC first: an unauthenticated probe gets no further look. */
	if (mac(key, buf, want) != 0 || !same(want, buf + MAC_AT, MAC_LEN))
		return ZT_EDENIED;
	memset(p, 0, sizeof(*p));
	p->type = buf[0];
	p->session = get64(buf + 2);
	memcpy(p->txid, buf + 10, ZT_PROBE_TXID_LEN);
	if (p->type == ZT_PROBE_PONG) {
		if (get_observed(buf + OBS_AT, &p->observed) != 0)
			return ZT_EINVAL;
		pad_at = OBS_AT + OBS_LEN;
	}
	return zero(buf + pad_at, MAC_AT - pad_at) ? 0 : ZT_EINVAL;
}
