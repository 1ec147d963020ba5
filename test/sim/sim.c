/* The simulated network, the virtual clock and the loop driver (sim.h). */
#define _GNU_SOURCE
#include "sim_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

/* --- the clock --- */

/* Starts well above zero: code that treats 0 as "never" stays right. */
static uint64_t vclock = 1000 * SIM_S;

uint64_t sim_clock_now(void)
{
	return vclock;
}

void sim_clock_set(uint64_t ns)
{
	if (ns > vclock)
		vclock = ns;
}

/* Interposed for the whole executable (libuv included, which reads
 * CLOCK_MONOTONIC for uv_hrtime and CLOCK_MONOTONIC_COARSE for the loop
 * time); other clocks go to the kernel. */
int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE ||
	    id == CLOCK_MONOTONIC_RAW || id == CLOCK_BOOTTIME) {
		ts->tv_sec = (time_t)(vclock / SIM_S);
		ts->tv_nsec = (long)(vclock % SIM_S);
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

/* --- the network --- */

struct link {
	struct link *next;
	struct sim_node *a, *b;
	struct sim_link_cfg ab, ba;
	uint64_t busy[2]; /* ab, ba: when the sender's queue is empty */
};

struct ev {
	uint64_t at, seq;
	struct sim_node *to;
	struct sockaddr_storage from;
	socklen_t from_len;
	size_t len;
	uint8_t *data;
};

struct sim {
	uv_loop_t *loop;
	uint64_t rng;
	struct sim_node *nodes;
	struct link *links;
	struct ev *heap;
	size_t n_ev, cap_ev;
	uint64_t seq;
	struct sim_nat *nats;
};

struct sim_nat *sim_nat_list(struct sim *s)
{
	return s->nats;
}

void sim_nat_list_set(struct sim *s, struct sim_nat *nat)
{
	s->nats = nat;
}

uint64_t sim_rand(struct sim *s)
{
	/* splitmix64 */
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double sim_rand01(struct sim *s)
{
	return (double)(sim_rand(s) >> 11) / (double)(1ULL << 53);
}

static int ev_before(const struct ev *x, const struct ev *y)
{
	return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static int heap_push(struct sim *s, struct ev *e)
{
	size_t i;

	if (s->n_ev == s->cap_ev) {
		size_t cap = s->cap_ev ? s->cap_ev * 2 : 256;
		struct ev *h = realloc(s->heap, cap * sizeof(*h));

		if (!h)
			return ZT_ENOMEM;
		s->heap = h;
		s->cap_ev = cap;
	}
	i = s->n_ev++;
	while (i > 0 && ev_before(e, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = *e;
	return 0;
}

static void heap_pop(struct sim *s, struct ev *out)
{
	struct ev last;
	size_t i = 0;

	*out = s->heap[0];
	last = s->heap[--s->n_ev];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->n_ev)
			break;
		if (c + 1 < s->n_ev && ev_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->n_ev)
		s->heap[i] = last;
}

static struct sim_node *node_at(struct sim *s, const struct zt_addr *a)
{
	for (struct sim_node *n = s->nodes; n; n = n->next)
		if (zt_addr_equal(&n->addr, a))
			return n;
	return NULL;
}

static const struct sim_link_cfg *link_cfg(struct sim *s, struct sim_node *from,
					   struct sim_node *to, uint64_t **busy)
{
	for (struct link *l = s->links; l; l = l->next) {
		if (l->a == from && l->b == to) {
			*busy = &l->busy[0];
			return &l->ab;
		}
		if (l->b == from && l->a == to) {
			*busy = &l->busy[1];
			return &l->ba;
		}
	}
	return NULL;
}

/* When the datagram has left the sender (rate), or UINT64_MAX when the
 * queue before the link is full (tail drop). */
static uint64_t departure(const struct sim_link_cfg *c, uint64_t *busy,
			  size_t len)
{
	uint64_t start = *busy > vclock ? *busy : vclock;

	if (!c->rate_bps)
		return vclock;
	if (c->queue_ns && start - vclock > c->queue_ns)
		return UINT64_MAX;
	*busy = start + (uint64_t)len * 8 * SIM_S / c->rate_bps;
	return *busy;
}

static void enqueue(struct sim_node *from, const struct zt_addr *src,
		    struct sim_node *to, const struct sim_link_cfg *c,
		    uint64_t depart, const uint8_t *data, size_t len)
{
	struct sim *s = from->sim;
	struct ev e = { .to = to, .len = len, .seq = s->seq++ };
	uint64_t delay = c->latency_ns;

	if (c->jitter_ns)
		delay += sim_rand(s) % (c->jitter_ns + 1);
	if (c->reorder > 0 && sim_rand01(s) < c->reorder) {
		delay += c->latency_ns * (1 + sim_rand(s) % 4) + SIM_MS;
		from->st.reordered++;
	}
	e.at = depart + delay;
	e.from_len = zt_addr_to_sockaddr(src, &e.from);
	e.data = malloc(len ? len : 1);
	if (!e.data)
		return;
	memcpy(e.data, data, len);
	if (heap_push(s, &e) != 0)
		free(e.data);
}

static int sim_send(struct zt_pathio *p, const struct sockaddr *remote,
		    socklen_t remote_len, const uint8_t *data, size_t len)
{
	struct sim_node *from = p->user;
	struct sim *s = from->sim;
	struct zt_addr dst, src = from->addr;
	struct sim_node *to = NULL;
	const struct sim_link_cfg *c = NULL;
	uint64_t *busy = NULL, depart;
	int filtered = 0;

	(void)remote_len;
	from->st.sent++;
	if (zt_addr_from_sockaddr(&dst, remote) == 0) {
		to = node_at(s, &dst);
		/* Behind a NAT, a node is reached at its own address only
		 * from its side of it. */
		if (to && to->nat && to->nat != from->nat)
			to = NULL;
		if (from->nat && (!to || to->nat != from->nat))
			sim_nat_out(from->nat, from, &dst, &src);
		if (!to)
			to = sim_nat_in(s, &src, &dst, &filtered);
		c = to ? link_cfg(s, from, to, &busy) : NULL;
	}
	if (filtered) {
		from->st.filtered++;
		return 0;
	}
	if (!c) {
		from->st.no_route++;
		return 0; /* like a network that drops it */
	}
	if ((c->filter && c->filter(c->filter_arg, from, to, data, len)) ||
	    (c->loss > 0 && sim_rand01(s) < c->loss)) {
		from->st.lost++;
		return 0;
	}
	if ((depart = departure(c, busy, len)) == UINT64_MAX) {
		from->st.queue_drops++;
		return 0;
	}
	enqueue(from, &src, to, c, depart, data, len);
	if (c->dup > 0 && sim_rand01(s) < c->dup) {
		from->st.duplicated++;
		enqueue(from, &src, to, c, depart, data, len);
	}
	return 0;
}

static const struct zt_pathio_ops sim_pio_ops = { "sim", sim_send };

int sim_new(struct sim **out, uv_loop_t *loop, uint64_t seed)
{
	struct sim *s = calloc(1, sizeof(*s));

	*out = s;
	if (!s)
		return ZT_ENOMEM;
	s->loop = loop;
	s->rng = seed;
	return 0;
}

void sim_free(struct sim *s)
{
	if (!s)
		return;
	while (s->n_ev) {
		struct ev e;

		heap_pop(s, &e);
		free(e.data);
	}
	free(s->heap);
	sim_nat_free_all(s->nats);
	while (s->links) {
		struct link *l = s->links;

		s->links = l->next;
		free(l);
	}
	while (s->nodes) {
		struct sim_node *n = s->nodes;

		s->nodes = n->next;
		free(n);
	}
	free(s);
}

uv_loop_t *sim_loop(struct sim *s)
{
	return s->loop;
}

struct sim_node *sim_node_add(struct sim *s, const char *ip, uint16_t port)
{
	struct sim_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->addr.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	n->addr.port = port;
	if (inet_pton(n->addr.family, ip, n->addr.ip) != 1) {
		free(n);
		return NULL;
	}
	n->sim = s;
	n->pio.ops = &sim_pio_ops;
	n->pio.user = n;
	n->pio.local_len = zt_addr_to_sockaddr(&n->addr, &n->pio.local);
	n->next = s->nodes;
	s->nodes = n;
	return n;
}

void sim_node_rx(struct sim_node *n, sim_rx_fn rx, void *arg)
{
	n->rx = rx;
	n->rx_arg = arg;
}

int sim_link(struct sim *s, struct sim_node *a, struct sim_node *b,
	     const struct sim_link_cfg *ab, const struct sim_link_cfg *ba)
{
	struct link *l;

	for (l = s->links; l; l = l->next)
		if ((l->a == a && l->b == b) || (l->a == b && l->b == a))
			break;
	if (!l) {
		if (!(l = calloc(1, sizeof(*l))))
			return ZT_ENOMEM;
		l->next = s->links;
		s->links = l;
	}
	l->a = a;
	l->b = b;
	l->ab = *ab;
	l->ba = ba ? *ba : *ab;
	return 0;
}

void sim_stats(struct sim *s, struct sim_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (struct sim_node *n = s->nodes; n; n = n->next) {
		out->sent += n->st.sent;
		out->delivered += n->st.delivered;
		out->lost += n->st.lost;
		out->duplicated += n->st.duplicated;
		out->reordered += n->st.reordered;
		out->no_route += n->st.no_route;
		out->filtered += n->st.filtered;
		out->queue_drops += n->st.queue_drops;
	}
}

/* --- the driver --- */

static void print_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	fprintf(stderr, "sim:   %s handle %p%s%s\n",
		uv_handle_type_name(h->type), (void *)h,
		uv_is_active(h) ? " active" : "",
		uv_is_closing(h) ? " closing" : "");
}

/* Delivers every datagram due now. Returns how many. */
static size_t deliver_due(struct sim *s)
{
	size_t n = 0;

	while (s->n_ev && s->heap[0].at <= vclock) {
		struct ev e;

		heap_pop(s, &e);
		if (e.to->rx) {
			e.to->rx(e.to->rx_arg, (struct sockaddr *)&e.from,
				 e.from_len, e.data, e.len);
			e.to->st.delivered++;
		}
		free(e.data);
		n++;
	}
	return n;
}

int sim_run(struct sim *s, int (*done)(void *arg), void *arg, uint64_t max_ns)
{
	uint64_t end = vclock + max_ns, at = vclock;
	unsigned long spins = 0;

	for (;;) {
		uint64_t next = UINT64_MAX;
		int t;

		/* Turns without the clock moving: a livelock, not a test. */
		if (vclock != at)
			at = vclock, spins = 0;
		else if (++spins > 10000000UL) {
			fprintf(stderr,
				"sim: no progress at %llu ns, reqs %u, "
				"timeout %d, handles %u\n",
				(unsigned long long)vclock,
				s->loop->active_reqs.count,
				uv_backend_timeout(s->loop),
				s->loop->active_handles);
			uv_walk(s->loop, print_handle, NULL);
			return -1;
		}
		uv_run(s->loop, UV_RUN_NOWAIT);
		if (done && done(arg))
			return 1;
		if (deliver_due(s))
			continue;
		if (s->loop->active_reqs.count) {
			/* A thread-pool request: its answer comes in real
			 * time, through the loop's async handle. */
			usleep(200);
			continue;
		}
		/* A loop with nothing left says 0 ("do not block"): for us
		 * that is no timer at all. */
		t = uv_loop_alive(s->loop) ? uv_backend_timeout(s->loop) : -1;
		if (t == 0)
			continue;
		if (t > 0)
			next = ((uint64_t)uv_now(s->loop) + (uint64_t)t) *
			       SIM_MS;
		if (s->n_ev && s->heap[0].at < next)
			next = s->heap[0].at;
		if (next == UINT64_MAX) {
			sim_clock_set(end); /* nothing will happen meanwhile */
			return -1;
		}
		if (next > end) {
			sim_clock_set(end);
			uv_run(s->loop, UV_RUN_NOWAIT);
			return done && done(arg) ? 1 : 0;
		}
		/* A timer due within the current ms of the loop's clock. */
		sim_clock_set(next > vclock ? next : vclock + SIM_MS / 10);
	}
}
