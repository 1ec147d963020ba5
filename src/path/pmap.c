/* Port mapping decisions (pmap.h). */
#include "pmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define NS 1000000000ull

void zt_pmap_init(struct zt_pmap *m, uint16_t port, unsigned n_backends,
		  const uint32_t *wait_ms)
{
	memset(m, 0, sizeof(*m));
	m->port = port;
	m->n_backends = n_backends > ZT_PMAP_MAX_BACKENDS ?
				ZT_PMAP_MAX_BACKENDS :
				n_backends;
	for (unsigned i = 0; i < m->n_backends; i++)
		m->wait_ms[i] = wait_ms[i];
}

int zt_pmap_public(const struct zt_addr *a)
{
	const uint8_t *ip = a->ip;

	if (!zt_addr_reachable(a))
		return 0;
	if (a->family == AF_INET)
		return !(ip[0] == 10 ||
			 (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
			 (ip[0] == 192 && ip[1] == 168) ||
			 (ip[0] == 100 && (ip[1] & 0xc0) == 64));
	return (ip[0] & 0xfe) != 0xfc;
}

static void why(struct zt_pmap *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
}

static int ask(struct zt_pmap *m, int state, unsigned backend, uint64_t now)
{
	m->state = state;
	m->backend = backend;
	m->seq++;
	m->deadline = now + (uint64_t)m->wait_ms[backend] * 1000000u;
	return ZT_PMAP_DO_REQUEST;
}

int zt_pmap_start(struct zt_pmap *m, uint64_t now)
{
	if (m->n_backends == 0) {
		m->state = ZT_PMAP_FAILED;
		m->deadline = 0;
		why(m, "no backend");
		return ZT_PMAP_DO_NONE;
	}
	m->fails = 0;
	return ask(m, ZT_PMAP_DISCOVERING, 0, now);
}

static uint64_t backoff_ns(unsigned fails)
{
	uint64_t s = ZT_PMAP_BACKOFF_MIN_S;

	for (unsigned i = 1; i < fails && s < ZT_PMAP_BACKOFF_MAX_S; i++)
		s *= 2;
	return (s > ZT_PMAP_BACKOFF_MAX_S ? ZT_PMAP_BACKOFF_MAX_S : s) * NS;
}

/* The backend asked failed (m->why says how). */
static int failed(struct zt_pmap *m, uint64_t now)
{
	uint64_t retry;

	if (m->state == ZT_PMAP_DISCOVERING) {
		if (m->backend + 1 < m->n_backends)
			return ask(m, ZT_PMAP_DISCOVERING, m->backend + 1, now);
		m->state = ZT_PMAP_FAILED;
		m->fails++;
		m->seq++; /* a late answer is not a mapping any more */
		m->deadline = now + backoff_ns(m->fails);
		return ZT_PMAP_DO_NONE;
	}
	/* RENEWING: the mapping we hold lasts until lease_end; ask the same
	 * gateway again before then, or start over once it has expired. */
	m->fails++;
	m->seq++;
	if (now >= m->lease_end) {
		memset(&m->ext, 0, sizeof(m->ext));
		return ask(m, ZT_PMAP_DISCOVERING, 0, now);
	}
	m->state = ZT_PMAP_MAPPED;
	retry = now + backoff_ns(m->fails);
	m->deadline = retry < m->lease_end ? retry : m->lease_end;
	return ZT_PMAP_DO_NONE;
}

/* Never trust the gateway: what it says must at least look like a
 * mapping someone outside could use. */
static int plausible(struct zt_pmap *m, const struct zt_pmap_answer *a)
{
	char s[64];

	if (!a->ok) {
		why(m, "%s", a->why ? a->why : "refused");
		return 0;
	}
	if (a->ext.port == 0) {
		why(m, "the gateway gave external port 0");
		return 0;
	}
	if (a->lease_s < ZT_PMAP_MIN_LEASE_S) {
		why(m, "the gateway gave a lease of %u s", a->lease_s);
		return 0;
	}
	if (!zt_pmap_public(&a->ext)) {
		why(m,
		    "the gateway's external address %s is not public "
		    "(another NAT beyond it?)",
		    zt_addr_str(&a->ext, s, sizeof(s)));
		return 0;
	}
	return 1;
}

int zt_pmap_answer(struct zt_pmap *m, uint32_t seq,
		   const struct zt_pmap_answer *a, uint64_t now)
{
	uint64_t half;

	if (seq != m->seq ||
	    (m->state != ZT_PMAP_DISCOVERING && m->state != ZT_PMAP_RENEWING))
		return ZT_PMAP_DO_NONE;
	if (!plausible(m, a))
		return failed(m, now);
	m->state = ZT_PMAP_MAPPED;
	m->ext = a->ext;
	m->lease_s = a->lease_s;
	m->granted_at = now;
	m->lease_end = now + (uint64_t)a->lease_s * NS;
	half = a->lease_s / 2;
	if (half > ZT_PMAP_RENEW_MAX_S)
		half = ZT_PMAP_RENEW_MAX_S;
	m->deadline = now + half * NS;
	m->fails = 0;
	m->seq++;
	m->mapped_count++;
	m->why[0] = 0;
	return ZT_PMAP_DO_NONE;
}

int zt_pmap_tick(struct zt_pmap *m, uint64_t now)
{
	if (m->deadline == 0 || now < m->deadline)
		return ZT_PMAP_DO_NONE;
	switch (m->state) {
	case ZT_PMAP_DISCOVERING:
	case ZT_PMAP_RENEWING:
		why(m, "no answer in %u ms", m->wait_ms[m->backend]);
		return failed(m, now);
	case ZT_PMAP_MAPPED:
		if (now >= m->lease_end) {
			memset(&m->ext, 0, sizeof(m->ext));
			why(m, "the lease ended before a renewal was answered");
			return ask(m, ZT_PMAP_DISCOVERING, 0, now);
		}
		return ask(m, ZT_PMAP_RENEWING, m->backend, now);
	case ZT_PMAP_FAILED: return ask(m, ZT_PMAP_DISCOVERING, 0, now);
	default: return ZT_PMAP_DO_NONE;
	}
}

int zt_pmap_stop(struct zt_pmap *m)
{
	/* A request in flight may have made a mapping we have not heard of:
	 * remove it as well. */
	int held = m->state == ZT_PMAP_MAPPED || m->state == ZT_PMAP_RENEWING ||
		   m->state == ZT_PMAP_DISCOVERING;

	m->state = ZT_PMAP_STOPPED;
	m->deadline = 0;
	m->seq++;
	return held ? ZT_PMAP_DO_REMOVE : ZT_PMAP_DO_NONE;
}

const struct zt_addr *zt_pmap_mapped(const struct zt_pmap *m)
{
	if (m->state != ZT_PMAP_MAPPED && m->state != ZT_PMAP_RENEWING)
		return NULL;
	return &m->ext;
}

const char *zt_pmap_state_name(int state)
{
	static const char *const names[] = {
		[ZT_PMAP_IDLE] = "idle",
		[ZT_PMAP_DISCOVERING] = "discovering",
		[ZT_PMAP_MAPPED] = "mapped",
		[ZT_PMAP_RENEWING] = "renewing",
		[ZT_PMAP_FAILED] = "failed",
		[ZT_PMAP_STOPPED] = "stopped",
	};

	if (state < 0 || state > ZT_PMAP_STOPPED)
		return "?";
	return names[state];
}
