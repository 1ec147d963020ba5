/* The relay's table of relayed sessions (rsess.h). */
#include "rsess.h"

#include <assert.h>
#include <stdlib.h>

#include "err.h"

#define NS 1000000000ULL
/* Ids fit a 4-byte QUIC varint, so the relayed datagram header stays at
 * 5 bytes (docs/PROTOCOL.md, "Relayed datagrams"). Unguessable ids are not
 * what keeps a session apart: the relay checks the sending link. */
#define ID_MASK ((1ULL << 30) - 1)
#define RATE_MAX 10000000000ULL /* keeps rate * 1e9 in 64 bits */

void zt_rsess_limits_default(struct zt_rsess_limits *l)
{
	l->per_agent = 64;
	l->max_sessions = 4096;
	l->accept_ns = 5 * NS;
	/* A session whose peers went direct carries nothing here, yet is their
	 * way back when the direct path dies: it may sit idle a long while. */
	l->idle_ns = 3600 * NS;
	/* A session may fill a 2.5 Gbit/s link each way; the relay's whole
	 * budget is 10 Gbit/s, far above what one relay VM forwards. */
	l->sess_bytes_ps = 312500000ULL;
	l->sess_pkts_ps = 250000;
	l->relay_bytes_ps = 1250000000ULL;
	l->relay_pkts_ps = 1000000;
}

static void bucket_init(struct zt_rbucket *b, uint64_t rate, uint64_t now)
{
	b->rate = rate > RATE_MAX ? RATE_MAX : rate;
	b->tokens = b->rate * NS; /* starts full: one second of burst */
	b->last = now;
}

static void bucket_refill(struct zt_rbucket *b, uint64_t now)
{
	uint64_t el = now > b->last ? now - b->last : 0;
	uint64_t cap = b->rate * NS;

	if (el > NS)
		el = NS;
	b->last = now;
	b->tokens = cap - b->tokens <= el * b->rate ? cap :
						      b->tokens + el * b->rate;
}

static int bucket_has(struct zt_rbucket *b, uint64_t n, uint64_t now)
{
	if (b->rate == 0)
		return 1;
	bucket_refill(b, now);
	return b->tokens >= n * NS;
}

static void bucket_take(struct zt_rbucket *b, uint64_t n)
{
	if (b->rate != 0)
		b->tokens -= n * NS;
}

int zt_rsess_table_init(struct zt_rsess_table *t,
			const struct zt_rsess_limits *lim,
			uint64_t (*rand)(void *arg), void *rand_arg)
{
	*t = (struct zt_rsess_table){ .lim = *lim,
				      .rand = rand,
				      .rand_arg = rand_arg };
	t->n_buckets = 64;
	t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
	if (!t->buckets)
		return ZT_ENOMEM;
	bucket_init(&t->bytes_b, lim->relay_bytes_ps, 0);
	bucket_init(&t->pkts_b, lim->relay_pkts_ps, 0);
	return 0;
}

void zt_rsess_table_free(struct zt_rsess_table *t)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct zt_rsess *s = t->buckets[i], *nx;
		for (; s; s = nx) {
			nx = s->next;
			free(s);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->n = 0;
}

static size_t slot(const struct zt_rsess_table *t, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 32) &
	       (t->n_buckets - 1);
}

struct zt_rsess *zt_rsess_find(const struct zt_rsess_table *t, uint64_t id)
{
	struct zt_rsess *s = t->buckets[slot(t, id)];

	while (s && s->id != id)
		s = s->next;
	return s;
}

/* Doubles the hash table; on allocation failure the longer chains stay. */
static void grow(struct zt_rsess_table *t)
{
	size_t n = t->n_buckets * 2, old = t->n_buckets;
	struct zt_rsess **nb = calloc(n, sizeof(*nb)), **ob = t->buckets;

	if (!nb)
		return;
	t->buckets = nb;
	t->n_buckets = n;
	for (size_t i = 0; i < old; i++) {
		struct zt_rsess *s = ob[i], *nx;
		for (; s; s = nx) {
			nx = s->next;
			size_t k = slot(t, s->id);
			s->next = nb[k];
			nb[k] = s;
		}
	}
	free(ob);
}

static uint64_t new_id(struct zt_rsess_table *t)
{
	for (int i = 0; i < 64; i++) {
		uint64_t id = t->rand(t->rand_arg) & ID_MASK;
		if (id != 0 && !zt_rsess_find(t, id))
			return id;
	}
	return 0; /* a table this full has hit max_sessions long before */
}

size_t zt_rsess_count_link(const struct zt_rsess_table *t, const void *link)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_buckets; i++)
		for (struct zt_rsess *s = t->buckets[i]; s; s = s->next)
			n += s->agent == link || s->connector == link;
	return n;
}

int zt_rsess_open(struct zt_rsess_table *t, void *agent, void *connector,
		  uint32_t req, uint64_t now, struct zt_rsess **out)
{
	struct zt_rsess *s;
	uint64_t id;

	assert(agent && connector && agent != connector);
	if (t->n >= t->lim.max_sessions ||
	    zt_rsess_count_link(t, agent) >= t->lim.per_agent)
		return ZT_EAGAIN;
	id = new_id(t);
	if (id == 0)
		return ZT_EAGAIN;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ZT_ENOMEM;
	s->id = id;
	s->state = ZT_RSESS_OFFERED;
	s->agent = agent;
	s->connector = connector;
	s->req = req;
	s->created = s->last = now;
	bucket_init(&s->a2c.bytes_b, t->lim.sess_bytes_ps, now);
	bucket_init(&s->a2c.pkts_b, t->lim.sess_pkts_ps, now);
	bucket_init(&s->c2a.bytes_b, t->lim.sess_bytes_ps, now);
	bucket_init(&s->c2a.pkts_b, t->lim.sess_pkts_ps, now);
	bucket_init(&s->a2c.cand_b, ZT_RSESS_CAND_PS, now);
	bucket_init(&s->c2a.cand_b, ZT_RSESS_CAND_PS, now);
	if (t->n >= t->n_buckets)
		grow(t);
	size_t k = slot(t, id);
	s->next = t->buckets[k];
	t->buckets[k] = s;
	t->n++;
	*out = s;
	return 0;
}

int zt_rsess_accept(struct zt_rsess_table *t, uint64_t id, void *connector,
		    uint64_t now, struct zt_rsess **out)
{
	struct zt_rsess *s = zt_rsess_find(t, id);

	if (!s)
		return ZT_ENOTFOUND;
	if (s->connector != connector || s->state != ZT_RSESS_OFFERED)
		return ZT_EDENIED;
	s->state = ZT_RSESS_READY;
	s->last = now;
	*out = s;
	return 0;
}

void zt_rsess_close(struct zt_rsess_table *t, struct zt_rsess *s)
{
	struct zt_rsess **pp = &t->buckets[slot(t, s->id)];

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	assert(*pp == s);
	*pp = s->next;
	t->n--;
	free(s);
}

static struct zt_rsess_dir *dir_from(struct zt_rsess *s, const void *from)
{
	if (from == s->agent)
		return &s->a2c;
	if (from == s->connector)
		return &s->c2a;
	return NULL;
}

static int drop(struct zt_rsess_table *t, struct zt_rsess_dir *d,
		enum zt_rsess_drop why, enum zt_rsess_drop *out)
{
	t->drops[why]++;
	if (d)
		d->drops[why]++;
	*out = why;
	return 0;
}

int zt_rsess_forward(struct zt_rsess_table *t, void *from, uint64_t id,
		     size_t len, uint64_t now, void **to,
		     enum zt_rsess_drop *why)
{
	struct zt_rsess *s = zt_rsess_find(t, id);
	struct zt_rsess_dir *d = s ? dir_from(s, from) : NULL;

	if (!s)
		return drop(t, NULL, ZT_RDROP_UNKNOWN, why);
	if (!d)
		return drop(t, NULL, ZT_RDROP_NOT_YOURS, why);
	if (s->state != ZT_RSESS_READY)
		return drop(t, d, ZT_RDROP_NOT_READY, why);
	if (!bucket_has(&d->bytes_b, len, now) ||
	    !bucket_has(&d->pkts_b, 1, now))
		return drop(t, d, ZT_RDROP_RATE, why);
	if (!bucket_has(&t->bytes_b, len, now) ||
	    !bucket_has(&t->pkts_b, 1, now))
		return drop(t, d, ZT_RDROP_RELAY_RATE, why);
	bucket_take(&d->bytes_b, len);
	bucket_take(&d->pkts_b, 1);
	bucket_take(&t->bytes_b, len);
	bucket_take(&t->pkts_b, 1);
	d->bytes += len;
	d->pkts++;
	s->last = now;
	*to = d == &s->a2c ? s->connector : s->agent;
	return 1;
}

void zt_rsess_count_drop(struct zt_rsess_table *t, void *from, uint64_t id,
			 enum zt_rsess_drop why)
{
	struct zt_rsess *s = zt_rsess_find(t, id);
	enum zt_rsess_drop ignored;

	drop(t, s ? dir_from(s, from) : NULL, why, &ignored);
}

size_t zt_rsess_link_gone(struct zt_rsess_table *t, void *link,
			  void (*cb)(struct zt_rsess *s, void *survivor,
				     void *arg),
			  void *arg)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_buckets; i++) {
		struct zt_rsess *s = t->buckets[i], *nx;
		for (; s; s = nx) {
			nx = s->next;
			if (s->agent != link && s->connector != link)
				continue;
			if (cb)
				cb(s,
				   s->agent == link ? s->connector : s->agent,
				   arg);
			zt_rsess_close(t, s);
			n++;
		}
	}
	return n;
}

uint64_t zt_rsess_expire(struct zt_rsess_table *t, uint64_t now,
			 void (*cb)(struct zt_rsess *s, void *link, void *arg),
			 void *arg)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < t->n_buckets; i++) {
		struct zt_rsess *s = t->buckets[i], *nx;
		for (; s; s = nx) {
			nx = s->next;
			uint64_t due = s->state == ZT_RSESS_OFFERED ?
					       s->created + t->lim.accept_ns :
					       s->last + t->lim.idle_ns;
			if (due > now) {
				next = due < next ? due : next;
				continue;
			}
			if (cb) {
				cb(s, s->agent, arg);
				cb(s, s->connector, arg);
			}
			zt_rsess_close(t, s);
		}
	}
	return next;
}

const char *zt_rsess_drop_name(enum zt_rsess_drop why)
{
	static const char *const names[ZT_RDROP_N] = {
		[ZT_RDROP_UNKNOWN] = "unknown_session",
		[ZT_RDROP_NOT_YOURS] = "not_yours",
		[ZT_RDROP_NOT_READY] = "not_ready",
		[ZT_RDROP_RATE] = "session_rate",
		[ZT_RDROP_RELAY_RATE] = "relay_rate",
		[ZT_RDROP_TOO_BIG] = "too_big",
		[ZT_RDROP_QUEUE] = "queue_full",
	};
	return (unsigned)why < ZT_RDROP_N ? names[why] : "?";
}

int zt_rsess_candidates(struct zt_rsess *s, void *from, uint64_t now, void **to)
{
	struct zt_rsess_dir *d;

	if (from != s->agent && from != s->connector)
		return 0;
	d = from == s->agent ? &s->a2c : &s->c2a;
	if (s->state != ZT_RSESS_READY || !bucket_has(&d->cand_b, 1, now)) {
		d->cand_dropped++;
		return 0;
	}
	bucket_take(&d->cand_b, 1);
	d->cand++;
	*to = from == s->agent ? s->connector : s->agent;
	return 1;
}
