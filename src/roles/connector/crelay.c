/* The connector's relayed sessions (crelay.h). */
#include "crelay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "daemon.h"
#include "err.h"
#include "log.h"
#include "rdgram.h"

struct crelay_sess {
	struct crelay_sess *next;
	uint32_t id;
	size_t link;
	char agent[ZT_NAME_MAX];      /* as the relay named it; the inner
				  * session's certificate is what counts */
	uint8_t key[ZT_CTRL_KEY_LEN]; /* ours, for probes */
	uint64_t since, packets;
	uint8_t peer_nat; /* enum zt_nat_kind, the agent's */
	struct zt_punch punch;
};

/* Our candidates are checked this often; a change goes to every session's
 * agent at once. After a network change (croam.c), more often for a
 * while. */
#define CHECK_MS 2000
#define CHECK_FAST_MS 200
/* An agent of version 3 tells us when to probe (SESSION_CANDIDATES, with
 * each of its rounds); without that, agents' NATs forget us, and a round
 * this often keeps our side open for the agent's probes. */
#define ROUNDS_NS 15000000000ULL

static void rand_bytes(void *arg, uint8_t *out, size_t n)
{
	wolfSSL_RAND_bytes(out, (int)n);
}

static int both_hard(const struct zt_crelay *cr, const struct crelay_sess *s)
{
	return zt_cands_hard(&cr->cands) && s->peer_nat == ZT_NAT_EDM;
}

static void punch_round(struct zt_crelay *cr, struct crelay_sess *s,
			uint64_t now)
{
	if (both_hard(cr, s))
		return;
	zt_punch_round(&s->punch, now);
	zt_pdrive_kick(&cr->pd);
}

static void send_cands(struct zt_crelay *cr, const struct crelay_sess *s)
{
	zt_cands_send(cr->links[s->link], s->id, &cr->cands);
}

static void rounds_cb(uv_timer_t *t)
{
	struct zt_crelay *cr = t->data;
	struct zt_cands old = cr->cands;
	uint64_t now = zt_now();
	char txt[700];
	int changed;

	zt_cands_ours(cr->env, cr->links, cr->n_links, NULL, NULL, &cr->cands);
	changed = !zt_cands_equal(&old, &cr->cands);
	if (changed)
		log_info("our candidates changed: %s",
			 zt_cands_str(&cr->cands, txt, sizeof(txt)));
	for (struct crelay_sess *s = cr->sess; s; s = s->next) {
		if (changed)
			send_cands(cr, s);
		if (changed || now - s->punch.round_at >= ROUNDS_NS)
			punch_round(cr, s, now);
	}
	if (uv_timer_get_repeat(t) == CHECK_FAST_MS && now >= cr->fast_until)
		uv_timer_start(t, rounds_cb, CHECK_MS, CHECK_MS);
}

void zt_crelay_check_now(struct zt_crelay *cr, uint64_t for_ns)
{
	if (!cr->on)
		return;
	cr->fast_until = zt_now() + for_ns;
	uv_timer_start(&cr->rounds, rounds_cb, CHECK_FAST_MS, CHECK_FAST_MS);
	rounds_cb(&cr->rounds);
}

void zt_crelay_init(struct zt_crelay *cr, const struct zt_env *env,
		    struct zt_relaylink *const *links, size_t n_links)
{
	memset(cr, 0, sizeof(*cr));
	cr->env = env;
	cr->links = links;
	cr->n_links = n_links;
	for (size_t i = 0; i < n_links; i++) {
		zt_rpath_init(&cr->paths[i], links[i], (unsigned)i,
			      ZT_RPATH_CONNECTOR, 0, 0);
		zt_u32map_init(&cr->ids[i]);
	}
	zt_rinq_init(&cr->inq, env);
	zt_pdrive_init(&cr->pd, env);
	uv_timer_init(env->loop, &cr->rounds);
	cr->rounds.data = cr;
	uv_timer_start(&cr->rounds, rounds_cb, CHECK_MS, CHECK_MS);
	cr->on = 1;
}

static void sess_free_all(struct zt_crelay *cr, size_t link, int all)
{
	struct crelay_sess **pp = &cr->sess;

	while (*pp) {
		struct crelay_sess *s = *pp;

		if (!all && s->link != link) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		zt_u32map_del(&cr->ids[s->link], s->id, s);
		zt_pdrive_remove(&cr->pd, &s->punch);
		free(s);
		cr->n--;
	}
}

void zt_crelay_stop(struct zt_crelay *cr)
{
	if (!cr->on)
		return;
	cr->on = 0;
	sess_free_all(cr, 0, 1);
	for (size_t i = 0; i < cr->n_links; i++)
		zt_u32map_free(&cr->ids[i]);
	zt_rinq_close(&cr->inq);
	zt_pdrive_stop(&cr->pd);
	uv_close((uv_handle_t *)&cr->rounds, NULL);
}

/* Per relayed datagram: a hash, not a walk over up to 1024 sessions. */
static struct crelay_sess *find(struct zt_crelay *cr, size_t link, uint32_t id)
{
	return zt_u32map_get(&cr->ids[link], id);
}

static void refuse(struct zt_crelay *cr, size_t i, uint32_t id, const char *why)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_REFUSE };

	cr->refused++;
	m.u.sess.session = id;
	m.u.sess.code = ZT_APP_TOO_BIG;
	snprintf(m.u.sess.text, sizeof(m.u.sess.text), "%s", why);
	zt_relaylink_send(cr->links[i], &m);
	log_warn("relayed session %u refused: %s", id, why);
}

static int on_offer(struct zt_crelay *cr, size_t i,
		    const struct zt_ctrl_sess *in)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_ACCEPT };
	struct crelay_sess *s;

	cr->offers++;
	if (find(cr, i, in->session))
		return ZT_APP_PROTOCOL; /* the relay offered it twice */
	if (cr->n >= ZT_CRELAY_MAX) {
		refuse(cr, i, in->session, "too many relayed sessions");
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s || wolfSSL_RAND_bytes(s->key, sizeof(s->key)) != 1 ||
	    zt_u32map_put(&cr->ids[i], in->session, s) != 0) {
		free(s);
		refuse(cr, i, in->session, "out of resources");
		return 0;
	}
	s->id = in->session;
	s->link = i;
	s->since = zt_now();
	snprintf(s->agent, sizeof(s->agent), "%s", in->peer);
	s->next = cr->sess;
	cr->sess = s;
	cr->n++;
	m.u.sess.session = s->id;
	memcpy(m.u.sess.key, s->key, sizeof(s->key));
	zt_cands_ours(cr->env, cr->links, cr->n_links, NULL, NULL, &cr->cands);
	zt_cands_put(&cr->cands, &m.u.sess);
	zt_relaylink_send(cr->links[i], &m);
	/* Probe the agent's candidates now: our NAT then lets its probes
	 * in (it starts when the relay tells it we accepted). */
	s->peer_nat = in->nat;
	zt_punch_init(&s->punch, s->id, s->key, in->key, rand_bytes, NULL);
	zt_punch_update(&s->punch, in->addrs, in->n_addrs, s->since);
	if (zt_pdrive_add(&cr->pd, &s->punch, NULL, s) != 0)
		log_warn("relayed session %u: no hole punching (too many "
			 "sessions probing)",
			 s->id);
	if (both_hard(cr, s))
		log_info("relayed session %u: punching skipped, both sides "
			 "endpoint-dependent NAT",
			 s->id);
	punch_round(cr, s, s->since);
	log_info("relayed session %u from agent %s via relay %s:%u (inner "
		 "packets up to %u bytes)",
		 s->id, s->agent, cr->links[i]->relay.host,
		 cr->links[i]->relay.port, in->mtu);
	return 0;
}

static void on_close(struct zt_crelay *cr, size_t i,
		     const struct zt_ctrl_sess *in)
{
	struct crelay_sess **pp = &cr->sess;
	char t[4 * sizeof(in->text)];

	while (*pp && ((*pp)->id != in->session || (*pp)->link != i))
		pp = &(*pp)->next;
	if (!*pp)
		return;
	struct crelay_sess *s = *pp;

	*pp = s->next;
	cr->n--;
	zt_u32map_del(&cr->ids[i], s->id, s);
	zt_pdrive_remove(&cr->pd, &s->punch);
	log_info("relayed session %u from agent %s ended: %s", s->id, s->agent,
		 zt_log_escape(t, sizeof(t), in->text[0] ? in->text : "-"));
	free(s);
}

/* SESSION_CANDIDATES from the agent: new addresses, or its round now. */
static void on_candidates(struct zt_crelay *cr, size_t i,
			  const struct zt_ctrl_sess *in)
{
	struct crelay_sess *s = find(cr, i, in->session);

	if (!s)
		return;
	s->peer_nat = in->nat;
	zt_punch_update(&s->punch, in->addrs, in->n_addrs, zt_now());
	punch_round(cr, s, zt_now());
}

int zt_crelay_message(struct zt_crelay *cr, size_t i,
		      const struct zt_ctrl_msg *m)
{
	if (!cr->on || i >= cr->n_links)
		return 0;
	switch (m->type) {
	case ZT_CTRL_SESSION_OFFER: return on_offer(cr, i, &m->u.sess);
	case ZT_CTRL_SESSION_CLOSE: on_close(cr, i, &m->u.sess); return 0;
	case ZT_CTRL_SESSION_CANDIDATES:
		on_candidates(cr, i, &m->u.sess);
		return 0;
	default: return ZT_APP_UNKNOWN;
	}
}

void zt_crelay_datagram(struct zt_crelay *cr, size_t i, const uint8_t *data,
			size_t len)
{
	struct sockaddr_storage remote;
	socklen_t rlen;
	struct crelay_sess *s;
	uint32_t id;
	uint8_t gen;
	size_t n;

	if (!cr->on || i >= cr->n_links)
		return;
	n = zt_rdgram_get(data, len, &id, &gen);
	/* Only sessions we accepted: a relay cannot make us talk to
	 * anything else. */
	if (n == 0 || !(s = find(cr, i, id))) {
		cr->unknown++;
		return;
	}
	s->packets++;
	cr->packets++;
	zt_rpath_addr(&remote, &rlen, ZT_RPATH_PEER, (unsigned)i, id, gen);
	zt_rinq_push(&cr->inq, &cr->paths[i].pio, (struct sockaddr *)&remote,
		     rlen, data + n, len - n);
}

void zt_crelay_link_down(struct zt_crelay *cr, size_t i)
{
	if (cr->on)
		sess_free_all(cr, i, 0);
}

void zt_crelay_status(const struct zt_crelay *cr, struct zt_sb *b, int json)
{
	int first = 1;

	if (json)
		zt_sb_printf(b,
			     ",\"relayed\":{\"sessions\":%zu,\"offers\":%llu,"
			     "\"refused\":%llu,\"packets_in\":%llu,"
			     "\"unknown_session\":%llu,\"queue_drops\":%llu,"
			     "\"list\":[",
			     cr->n, (unsigned long long)cr->offers,
			     (unsigned long long)cr->refused,
			     (unsigned long long)cr->packets,
			     (unsigned long long)cr->unknown,
			     (unsigned long long)cr->inq.dropped);
	else
		zt_sb_printf(b,
			     "relayed:   %zu session(s), %llu offered, %llu "
			     "refused, %llu packets in\n",
			     cr->n, (unsigned long long)cr->offers,
			     (unsigned long long)cr->refused,
			     (unsigned long long)cr->packets);
	for (const struct crelay_sess *s = cr->sess; s;
	     s = s->next, first = 0) {
		const struct zt_relaylink *l = cr->links[s->link];
		uint64_t age = (zt_now() - s->since) / 1000000000ULL;
		unsigned answered = 0;

		for (size_t k = 0; k < s->punch.n; k++)
			answered += s->punch.c[k].state == ZT_CAND_VALID;
		if (!json) {
			zt_sb_printf(b,
				     "  relay%zu#%u  agent %-20s via %s:%u  "
				     "%llu packets in  %llus  %u of %zu "
				     "candidates answered%s\n",
				     s->link + 1, s->id, s->agent,
				     l->relay.host, l->relay.port,
				     (unsigned long long)s->packets,
				     (unsigned long long)age, answered,
				     s->punch.n,
				     both_hard(cr, s) ? " (punching skipped, "
							"both NATs "
							"endpoint-dependent)" :
							"");
			continue;
		}
		zt_sb_printf(b,
			     "%s{\"session\":%u,\"agent\":", first ? "" : ",",
			     s->id);
		zt_sb_json_str(b, s->agent);
		zt_sb_printf(b, ",\"relay\":");
		zt_sb_json_str(b, l->relay.host);
		zt_sb_printf(b,
			     ",\"relay_port\":%u,\"packets_in\":%llu,"
			     "\"since_s\":%llu,\"nat\":{\"ours\":\"%s\","
			     "\"agent\":\"%s\"},\"candidates\":%zu,"
			     "\"answered\":%u,\"punching\":%s}",
			     l->relay.port, (unsigned long long)s->packets,
			     (unsigned long long)age,
			     zt_nat_kind_name(cr->cands.nat),
			     zt_nat_kind_name(s->peer_nat), s->punch.n,
			     answered, both_hard(cr, s) ? "false" : "true");
	}
	if (json)
		zt_sb_printf(b, "]}");
}
