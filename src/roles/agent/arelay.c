/* The agent's relayed sessions (arelay.h). */
#include "arelay.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "cands.h"
#include "daemon.h"
#include "err.h"
#include "aroutes.h"
#include "log.h"
#include "rdgram.h"

#define TICK_MS 200
#define RETRY_NS 400000000ULL /* the relay's links were not ready yet */
#define RETRY_MAX 8
/* A path outlives its request by this much: a connection that used it may
 * still be in its closing period (3 PTO) and send on it. */
#define GRAVE_NS 600000000000ULL      /* ngtcp2's path history: 10 min */
#define ANSWER_FRESH_NS 2000000000ULL /* a candidate to move to */
#define REPUNCH_NS 10000000000ULL
/* Interface addresses and what the relays see are polled this often; a
 * change goes to every session at once. A network change (aroam.c) makes
 * them checked on every tick for a while. */
#define CANDS_CHECK_NS 2000000000ULL

struct arelay_req {
	struct arelay_req *next;
	struct zt_arelay *ar;
	uint32_t req, session;
	size_t link;
	uint8_t gen;
	int ready;
	unsigned tries;
	uint64_t retry_at; /* 0: none */
	char connector[ZT_NAME_MAX];
	uint8_t key[ZT_CTRL_KEY_LEN]; /* ours, for probes */
	uint8_t peer_nat;             /* enum zt_nat_kind, the connector's */
	struct zt_rpath *path;        /* once ready */
	struct zt_punch punch;        /* once ready */
};

struct arelay_grave {
	struct arelay_grave *next;
	struct zt_rpath *path;
	uint64_t at;
};

static void tick(uv_timer_t *t);

static int outside_tunnel(void *user, const struct zt_addr *a)
{
	return !zt_aflows_in_tunnel(user, a);
}

static void rand_bytes(void *arg, uint8_t *out, size_t n)
{
	wolfSSL_RAND_bytes(out, (int)n);
}

void zt_arelay_init(struct zt_arelay *ar, struct zt_aflows *af,
		    const struct zt_env *env, struct zt_relaylink *const *links,
		    size_t n_links,
		    int (*lists)(void *user, size_t link,
				 const char *connector),
		    void *user)
{
	memset(ar, 0, sizeof(*ar));
	ar->af = af;
	ar->env = env;
	ar->links = links;
	ar->n_links = n_links;
	for (size_t i = 0; i < n_links; i++)
		zt_u32map_init(&ar->ids[i]);
	ar->lists = lists;
	ar->user = user;
	zt_rinq_init(&ar->inq, env);
	zt_pdrive_init(&ar->pd, env);
	ar->pd.allowed = outside_tunnel;
	ar->pd.allowed_user = af;
	uv_timer_init(env->loop, &ar->timer);
	ar->timer.data = ar;
	ar->on = 1;
	af->relay.open = zt_arelay_open;
	af->relay.close = zt_arelay_close;
	af->relay.regen = zt_arelay_regen;
	af->relay.repunch = zt_arelay_repunch;
	af->relay.describe = zt_arelay_describe;
	af->relay.user = ar;
}

static void arm(struct zt_arelay *ar)
{
	if (ar->on && !uv_is_active((uv_handle_t *)&ar->timer))
		uv_timer_start(&ar->timer, tick, TICK_MS, TICK_MS);
}

static void bury(struct zt_arelay *ar, struct zt_rpath *p)
{
	struct arelay_grave *g;

	if (!p)
		return;
	g = malloc(sizeof(*g));
	if (!g) {
		/* Better a path never freed than one freed in use. */
		log_warn("relayed path %u kept: out of memory", p->session);
		return;
	}
	g->path = p;
	g->at = zt_now();
	g->next = ar->graves;
	ar->graves = g;
	arm(ar);
}

/* Takes r off the list, its path to the graveyard; the caller frees r. */
static void unlink_req(struct zt_arelay *ar, struct arelay_req *r)
{
	struct arelay_req **pp = &ar->reqs;

	if (r->ready) {
		zt_pdrive_remove(&ar->pd, &r->punch);
		zt_u32map_del(&ar->ids[r->link], r->session, r);
	}
	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	bury(ar, r->path);
	r->path = NULL;
}

/* Never one inside our own tunnel: the synthetic range or a service's. */
static int in_tunnel(void *user, const struct zt_addr *a)
{
	return zt_aflows_in_tunnel(user, a);
}

static void our_candidates(struct zt_arelay *ar)
{
	zt_cands_ours(ar->env, ar->links, ar->n_links, in_tunnel, ar->af,
		      &ar->cands);
	ar->cands_at = zt_now();
}

/* Punching cannot work between two endpoint-dependent NATs: each side's
 * probes leave from a port the other never learns. */
static int both_hard(const struct zt_arelay *ar, const struct arelay_req *r)
{
	return zt_cands_hard(&ar->cands) && r->peer_nat == ZT_NAT_EDM;
}

static int send_open(struct zt_arelay *ar, struct arelay_req *r)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_OPEN };

	our_candidates(ar);
	zt_cands_put(&ar->cands, &m.u.sess);
	m.u.sess.req = r->req;
	snprintf(m.u.sess.peer, sizeof(m.u.sess.peer), "%s", r->connector);
	memcpy(m.u.sess.key, r->key, sizeof(r->key));
	return zt_relaylink_send(ar->links[r->link], &m);
}

static int pick_link(struct zt_arelay *ar, const char *connector, size_t *out)
{
	for (size_t i = 0; i < ar->n_links; i++) {
		const struct zt_relaylink *l = ar->links[i];

		/* A link whose connection just closed is still UP while
		 * its down callback runs (and we re-open from there). */
		if (l->state == ZT_LINK_UP && l->conn && l->version >= 2 &&
		    ar->lists(ar->user, i, connector)) {
			*out = i;
			return 0;
		}
	}
	return ZT_ENOTFOUND;
}

int zt_arelay_open(void *arg, const char *connector, uint32_t *req)
{
	struct zt_arelay *ar = arg;
	struct arelay_req *r;
	size_t link;
	int rc;

	if (!ar->on || pick_link(ar, connector, &link) != 0)
		return ZT_ENOTFOUND;
	r = calloc(1, sizeof(*r));
	if (!r)
		return ZT_ENOMEM;
	if (wolfSSL_RAND_bytes(r->key, sizeof(r->key)) != 1) {
		free(r);
		return ZT_EIO;
	}
	if (++ar->next_req == 0)
		ar->next_req = 1;
	r->req = ar->next_req;
	r->ar = ar;
	r->link = link;
	snprintf(r->connector, sizeof(r->connector), "%s", connector);
	rc = send_open(ar, r);
	if (rc) {
		free(r);
		return rc;
	}
	r->next = ar->reqs;
	ar->reqs = r;
	ar->opened++;
	*req = r->req;
	return 0;
}

static struct arelay_req *find_req(struct zt_arelay *ar, uint32_t req)
{
	for (struct arelay_req *r = ar->reqs; r; r = r->next)
		if (r->req == req)
			return r;
	return NULL;
}

void zt_arelay_close(void *arg, uint32_t req)
{
	struct zt_arelay *ar = arg;
	struct arelay_req *r = find_req(ar, req);
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_CLOSE };

	if (!r)
		return;
	/* Tell the relay, so it frees the session now rather than at its
	 * idle timeout. */
	m.u.sess.req = r->req;
	m.u.sess.session = r->session;
	m.u.sess.code = ZT_APP_NO_ERROR;
	snprintf(m.u.sess.text, sizeof(m.u.sess.text), "not needed any more");
	zt_relaylink_send(ar->links[r->link], &m);
	unlink_req(ar, r);
	free(r);
}

static struct arelay_req *req_on(struct zt_arelay *ar, size_t i,
				 const struct zt_ctrl_sess *in)
{
	for (struct arelay_req *r = ar->reqs; r; r = r->next)
		if (r->link == i &&
		    ((in->req && r->req == in->req) ||
		     (in->session && r->ready && r->session == in->session)))
			return r;
	return NULL;
}

static void answered(void *owner, struct zt_punch *p, size_t which)
{
	struct arelay_req *r = owner;

	zt_aflows_relay_direct(r->ar->af, r->req, &p->c[which].addr,
			       p->c[which].rtt_ns);
}

/* Candidates of the connector that are not in our tunnel. */
static size_t peer_candidates(struct zt_arelay *ar,
			      const struct zt_ctrl_sess *in,
			      struct zt_addr *out)
{
	size_t n = 0;

	for (size_t k = 0; k < in->n_addrs; k++)
		if (!zt_aflows_in_tunnel(ar->af, &in->addrs[k]))
			out[n++] = in->addrs[k];
	return n;
}

static void punch_round(struct zt_arelay *ar, struct arelay_req *r,
			uint64_t now)
{
	if (both_hard(ar, r))
		return;
	zt_punch_round(&r->punch, now);
	zt_pdrive_kick(&ar->pd);
}

/* Tells the connector (through the relay) our candidates now, which makes
 * it probe them at once: its round and ours run together. */
static void send_cands(struct zt_arelay *ar, struct arelay_req *r)
{
	zt_cands_send(ar->links[r->link], r->session, &ar->cands);
}

/* The connector's candidates, observed first; probing starts at once,
 * while the session's handshake runs through the relay. */
static void start_punch(struct zt_arelay *ar, struct arelay_req *r,
			const struct zt_ctrl_sess *in)
{
	struct zt_addr a[ZT_MAX_ADDRS];
	size_t n = peer_candidates(ar, in, a);
	uint64_t now = zt_now();

	r->peer_nat = in->nat;
	zt_punch_init(&r->punch, r->session, r->key, in->key, rand_bytes, NULL);
	zt_punch_update(&r->punch, a, n, now);
	/* Registered even when we do not probe: the connector's PINGs are
	 * still answered. */
	if (zt_pdrive_add(&ar->pd, &r->punch, answered, r) != 0)
		log_warn("relayed session %u: no hole punching (too many "
			 "sessions probing)",
			 r->session);
	if (both_hard(ar, r))
		log_info("relayed session %u: punching skipped, both sides "
			 "endpoint-dependent NAT",
			 r->session);
	punch_round(ar, r, now);
	arm(ar);
}

/* SESSION_CANDIDATES from the connector: its addresses changed, or it
 * asks for a round now. */
static void on_candidates(struct zt_arelay *ar, size_t i,
			  const struct zt_ctrl_sess *in)
{
	struct arelay_req *r = req_on(ar, i, in);
	struct zt_addr a[ZT_MAX_ADDRS];
	size_t n;

	if (!r || !r->ready)
		return;
	n = peer_candidates(ar, in, a);
	r->peer_nat = in->nat;
	zt_punch_update(&r->punch, a, n, zt_now());
	punch_round(ar, r, zt_now());
}

/* The first generation from `from` on whose synthetic address (link,
 * session, gen) no path of ours lives or was left in the last 10 min: a
 * relay that restarted hands out its session numbers again, and a
 * connection moving onto the address it is on (or onto one in its path
 * history, which ngtcp2 trusts unvalidated) would fail or misroute. */
static int fresh_gen(const struct zt_arelay *ar, size_t link, uint32_t session,
		     unsigned from, uint8_t *out)
{
	for (unsigned g = from; g <= UINT8_MAX; g++) {
		int used = 0;

		for (const struct arelay_req *r = ar->reqs; r && !used;
		     r = r->next)
			used = r->path && r->link == link &&
			       r->session == session && r->gen == g;
		for (const struct arelay_grave *k = ar->graves; k && !used;
		     k = k->next)
			used = k->path->link_idx == link &&
			       k->path->session == session && k->path->gen == g;
		if (!used) {
			*out = (uint8_t)g;
			return 0;
		}
	}
	return ZT_ENOTFOUND;
}

static int on_ready(struct zt_arelay *ar, size_t i,
		    const struct zt_ctrl_sess *in)
{
	struct arelay_req *r = req_on(ar, i, in);
	const struct zt_relaylink *l = ar->links[i];
	struct sockaddr_storage remote;
	socklen_t rlen;
	char via[300];

	if (!r)
		return 0; /* we gave up on it: the relay hears our CLOSE */
	if (r->ready)
		return ZT_APP_PROTOCOL;
	r->path = NULL;
	if (fresh_gen(ar, i, in->session, 0, &r->gen) == 0)
		r->path = calloc(1, sizeof(*r->path));
	if (!r->path || zt_u32map_put(&ar->ids[i], in->session, r) != 0) {
		zt_arelay_close(ar, r->req);
		return 0;
	}
	r->ready = 1;
	r->session = in->session;
	ar->ready++;
	zt_rpath_init(r->path, ar->links[i], (unsigned)i, ZT_RPATH_AGENT,
		      r->session, r->gen);
	zt_rpath_addr(&remote, &rlen, ZT_RPATH_PEER, (unsigned)i, r->session,
		      r->gen);
	start_punch(ar, r, in);
	snprintf(via, sizeof(via), "relay %s:%u #%u", l->relay.host,
		 l->relay.port, r->session);
	log_info("relayed session %u to connector %s ready via relay %s:%u "
		 "(inner packets up to %u bytes)",
		 r->session, r->connector, l->relay.host, l->relay.port,
		 in->mtu);
	/* May close r at once (the session went direct meanwhile). */
	zt_aflows_relay_ready(ar->af, r->req, &r->path->pio,
			      (struct sockaddr *)&remote, rlen, via);
	return 0;
}

static void on_close(struct zt_arelay *ar, size_t i,
		     const struct zt_ctrl_sess *in)
{
	struct arelay_req *r = req_on(ar, i, in);
	char t[4 * sizeof(in->text)];
	uint32_t req;

	if (!r)
		return;
	zt_log_escape(t, sizeof(t), in->text[0] ? in->text : "no reason given");
	if (!r->ready && in->code == ZT_APP_TOO_BIG && r->tries < RETRY_MAX) {
		/* Path MTU discovery on the relay's links may not be done. */
		r->tries++;
		r->retry_at = zt_now() + RETRY_NS;
		log_debug("relayed session to %s: %s; asking again",
			  r->connector, t);
		arm(ar);
		return;
	}
	req = r->req;
	unlink_req(ar, r);
	free(r);
	ar->failed++;
	zt_aflows_relay_failed(ar->af, req, t);
}

int zt_arelay_message(struct zt_arelay *ar, size_t i,
		      const struct zt_ctrl_msg *m)
{
	if (!ar->on || i >= ar->n_links)
		return 0;
	switch (m->type) {
	case ZT_CTRL_SESSION_READY: return on_ready(ar, i, &m->u.sess);
	case ZT_CTRL_SESSION_CLOSE: on_close(ar, i, &m->u.sess); return 0;
	case ZT_CTRL_SESSION_CANDIDATES:
		on_candidates(ar, i, &m->u.sess);
		return 0;
	default: return ZT_APP_UNKNOWN;
	}
}

void zt_arelay_datagram(struct zt_arelay *ar, size_t i, const uint8_t *data,
			size_t len)
{
	struct sockaddr_storage remote;
	socklen_t rlen;
	uint32_t id;
	uint8_t gen;
	struct arelay_req *r;
	size_t n;

	if (!ar->on || i >= ar->n_links ||
	    (n = zt_rdgram_get(data, len, &id, &gen)) == 0)
		return;
	r = zt_u32map_get(&ar->ids[i], id);
	if (!r || !r->ready || r->gen != gen)
		return;
	zt_rpath_addr(&remote, &rlen, ZT_RPATH_PEER, (unsigned)i, id, gen);
	zt_rinq_push(&ar->inq, &r->path->pio, (struct sockaddr *)&remote, rlen,
		     data + n, len - n);
}

void zt_arelay_link_down(struct zt_arelay *ar, size_t i)
{
	struct arelay_req *gone = NULL, **pp = &ar->reqs;

	if (!ar->on)
		return;
	/* Collected first: telling the data plane may start new requests. */
	while (*pp) {
		struct arelay_req *r = *pp;

		if (r->link != i) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = gone;
		gone = r;
	}
	while (gone) {
		struct arelay_req *r = gone;

		gone = r->next;
		if (r->ready) {
			zt_pdrive_remove(&ar->pd, &r->punch);
			zt_u32map_del(&ar->ids[i], r->session, r);
		}
		bury(ar, r->path);
		ar->failed++;
		zt_aflows_relay_failed(ar->af, r->req,
				       "the relay link went down");
		free(r);
	}
}

/* Our candidates, polled: 1 when they changed since last told. */
static int cands_changed(struct zt_arelay *ar, uint64_t now)
{
	struct zt_cands old = ar->cands;
	char t[700];

	/* Soon after a network change: every tick, so a relay's new
	 * observation of us goes out as soon as it comes. */
	if (now - ar->cands_at < CANDS_CHECK_NS && now >= ar->cands_fast_until)
		return 0;
	our_candidates(ar);
	if (zt_cands_equal(&old, &ar->cands))
		return 0;
	log_info("our candidates changed: %s",
		 zt_cands_str(&ar->cands, t, sizeof(t)));
	return 1;
}

/* Links that carry a session on its relayed path must show a dead relay
 * in seconds (linklive.c); the others (standby paths) need not. */
static void watch_links(struct zt_arelay *ar, uint64_t now)
{
	for (size_t i = 0; i < ar->n_links; i++) {
		int used = 0;

		for (const struct arelay_req *r = ar->reqs; r && !used;
		     r = r->next)
			used = r->ready && r->link == i &&
			       zt_aflows_relay_in_use(ar->af, r->req);
		if (used)
			zt_relaylink_watch(ar->links[i], now);
	}
}

static void tick(uv_timer_t *t)
{
	struct zt_arelay *ar = t->data;
	uint64_t now = zt_now();
	struct arelay_grave **gp = &ar->graves;
	int busy = 0, changed = cands_changed(ar, now);

	for (struct arelay_req *r = ar->reqs; r; r = r->next) {
		if (r->ready) {
			const struct zt_punch_cand *b =
				zt_punch_best(&r->punch, now, ANSWER_FRESH_NS);

			busy = 1;
			if (b)
				zt_aflows_relay_direct(ar->af, r->req, &b->addr,
						       b->rtt_ns);
			/* Rounds again only while the session is relayed:
			 * a direct one's standby path needs no probes (a
			 * fallback asks for a round itself). */
			if (changed || (now - r->punch.round_at >= REPUNCH_NS &&
					!both_hard(ar, r) &&
					zt_aflows_relay_in_use(ar->af, r->req))) {
				r->punch.round_at = now;
				send_cands(ar, r);
				punch_round(ar, r, now);
			}
		}
		if (!r->retry_at)
			continue;
		if (r->retry_at > now) {
			busy = 1;
			continue;
		}
		r->retry_at = 0;
		send_open(ar, r);
	}
	while (*gp) {
		struct arelay_grave *g = *gp;

		if (now - g->at < GRAVE_NS) {
			busy = 1;
			gp = &g->next;
			continue;
		}
		*gp = g->next;
		free(g->path);
		free(g);
	}
	watch_links(ar, now);
	/* Not the tick's now: a migration above may have flushed a session
	 * at a later time, and ngtcp2 asserts time never goes back. */
	zt_aflows_relay_tick(ar->af, zt_now());
	if (!busy)
		uv_timer_stop(t);
}

void zt_arelay_check_now(struct zt_arelay *ar, uint64_t for_ns)
{
	ar->cands_fast_until = zt_now() + for_ns;
	arm(ar);
	tick(&ar->timer);
}

int zt_arelay_regen(void *arg, uint32_t req, struct zt_pathio **pio,
		    struct sockaddr_storage *remote, socklen_t *remote_len)
{
	struct zt_arelay *ar = arg;
	struct arelay_req *r = find_req(ar, req);
	struct zt_rpath *np;
	uint8_t gen;

	if (!r || !r->ready ||
	    fresh_gen(ar, r->link, r->session, r->gen + 1u, &gen) != 0)
		return ZT_ENOTFOUND;
	if (ar->links[r->link]->state != ZT_LINK_UP)
		return ZT_ECLOSED;
	np = calloc(1, sizeof(*np));
	if (!np)
		return ZT_ENOMEM;
	/* The old path may still be in the connection's path history. */
	bury(ar, r->path);
	r->gen = gen;
	zt_rpath_init(np, ar->links[r->link], (unsigned)r->link, ZT_RPATH_AGENT,
		      r->session, r->gen);
	r->path = np;
	zt_rpath_addr(remote, remote_len, ZT_RPATH_PEER, (unsigned)r->link,
		      r->session, r->gen);
	*pio = &np->pio;
	return 0;
}

void zt_arelay_repunch(void *arg, uint32_t req)
{
	struct zt_arelay *ar = arg;
	struct arelay_req *r = find_req(ar, req);

	if (!r || !r->ready)
		return;
	send_cands(ar, r);
	punch_round(ar, r, zt_now());
}

/* Why punching has not given a direct path (yet), for status. */
static void verdict(const struct zt_arelay *ar, const struct arelay_req *r,
		    char *out, size_t n)
{
	const struct zt_punch *p = &r->punch;
	int probing = 0, valid = 0;

	for (size_t i = 0; i < p->n; i++) {
		probing |= p->c[i].state == ZT_CAND_PROBING;
		valid |= p->c[i].state == ZT_CAND_VALID;
	}
	if (both_hard(ar, r))
		snprintf(out, n,
			 "relayed: punching skipped, both sides "
			 "endpoint-dependent NAT");
	else if (p->n == 0)
		snprintf(out, n, "relayed: the connector has no candidate");
	else if (valid)
		snprintf(out, n, "relayed: a candidate answered, moving");
	else if (probing)
		snprintf(out, n, "relayed: punching (round %u)", p->rounds);
	else
		snprintf(out, n,
			 "relayed: punching failed, no answer in %u round%s "
			 "(our NAT %s, the connector's %s)",
			 p->rounds, p->rounds == 1 ? "" : "s",
			 zt_nat_kind_name(ar->cands.nat),
			 zt_nat_kind_name(r->peer_nat));
}

int zt_arelay_describe(void *arg, uint32_t req, struct zt_relay_desc *d)
{
	struct zt_arelay *ar = arg;
	const struct arelay_req *r = find_req(ar, req);
	const struct zt_relaylink *l;

	memset(d, 0, sizeof(*d));
	if (!r || !r->ready)
		return ZT_ENOTFOUND;
	l = ar->links[r->link];
	snprintf(d->via, sizeof(d->via), "relay %s:%u #%u gen %u",
		 l->relay.host, l->relay.port, r->session, r->gen);
	verdict(ar, r, d->verdict, sizeof(d->verdict));
	d->punch = &r->punch;
	d->nat_ours = ar->cands.nat;
	d->nat_theirs = r->peer_nat;
	d->skipped = both_hard(ar, r);
	return 0;
}

void zt_arelay_stop(struct zt_arelay *ar)
{
	if (!ar->on)
		return;
	ar->on = 0;
	ar->af->relay.open = NULL;
	ar->af->relay.close = NULL;
	ar->af->relay.regen = NULL;
	ar->af->relay.repunch = NULL;
	ar->af->relay.describe = NULL;
	zt_rinq_close(&ar->inq);
	zt_pdrive_stop(&ar->pd);
	uv_close((uv_handle_t *)&ar->timer, NULL);
}

/* After the loop: the endpoint and its connections are gone. */
void zt_arelay_free(struct zt_arelay *ar)
{
	while (ar->reqs) {
		struct arelay_req *r = ar->reqs;

		ar->reqs = r->next;
		free(r->path);
		free(r);
	}
	while (ar->graves) {
		struct arelay_grave *g = ar->graves;

		ar->graves = g->next;
		free(g->path);
		free(g);
	}
	for (size_t i = 0; i < ar->n_links; i++)
		zt_u32map_free(&ar->ids[i]);
}
