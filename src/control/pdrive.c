/* Hole-punching driver (pdrive.h). */
#include "pdrive.h"

#include <stdlib.h>

#include "daemon.h"
#include "err.h"
#include "log.h"

struct zt_pdrive_ent {
	struct zt_pdrive_ent *next;
	struct zt_punch *p;
	void (*answer)(void *owner, struct zt_punch *p, size_t which);
	void *owner;
};

static int budget(struct zt_pdrive *d)
{
	uint64_t now = zt_now();

	d->tokens += (double)(now - d->tokens_at) * ZT_PDRIVE_RATE / 1e9;
	if (d->tokens > ZT_PDRIVE_RATE)
		d->tokens = ZT_PDRIVE_RATE;
	d->tokens_at = now;
	if (d->tokens < 1) {
		d->over++;
		return 0;
	}
	d->tokens -= 1;
	return 1;
}

static void send_to(struct zt_pdrive *d, const struct zt_addr *to,
		    const uint8_t *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = zt_addr_to_sockaddr(to, &ss);

	if ((d->allowed && !d->allowed(d->allowed_user, to)) || !budget(d))
		return;
	if (zt_netio_send(d->env->net, (struct sockaddr *)&ss, sl, buf, len) ==
	    0)
		d->sent++;
}

static void on_probe(void *user, const struct sockaddr *remote,
		     socklen_t remote_len, const uint8_t *data, size_t len)
{
	struct zt_pdrive *d = user;
	uint64_t sess = zt_punch_session_of(data, len);
	uint8_t out[ZT_PROBE_LEN];
	struct zt_addr from;
	size_t which = 0;

	if (!d->on || sess == 0 || zt_addr_from_sockaddr(&from, remote) != 0 ||
	    (d->allowed && !d->allowed(d->allowed_user, &from)))
		return;
	for (struct zt_pdrive_ent *e = d->list; e; e = e->next) {
		if (e->p->session != sess)
			continue;
		switch (zt_punch_input(e->p, &from, data, len, zt_now(), out,
				       &which)) {
		case ZT_PUNCH_REPLY:
			send_to(d, &from, out, sizeof(out));
			/* a new peer-reflexive candidate may be due */
			zt_pdrive_kick(d);
			break;
		case ZT_PUNCH_ANSWER:
			if (e->answer)
				e->answer(e->owner, e->p, which);
			break;
		default: break;
		}
		return;
	}
	d->unknown++;
}

static void tick(uv_timer_t *t)
{
	zt_pdrive_kick(t->data);
}

void zt_pdrive_kick(struct zt_pdrive *d)
{
	uint64_t now = zt_now(), next = UINT64_MAX, dl;
	uint8_t out[ZT_PROBE_LEN];
	struct zt_addr to;

	if (!d->on)
		return;
	for (struct zt_pdrive_ent *e = d->list; e; e = e->next) {
		int i = 0;

		while (zt_punch_poll(e->p, now, &to, out, &dl)) {
			send_to(d, &to, out, sizeof(out));
			/* bounded per turn: the rest goes on the next one */
			if (++i == 2 * ZT_PUNCH_MAX) {
				dl = now;
				break;
			}
		}
		if (dl < next)
			next = dl;
	}
	zt_netio_flush(d->env->net);
	if (next == UINT64_MAX) {
		uv_timer_stop(&d->timer);
		return;
	}
	uv_timer_start(&d->timer, tick,
		       next <= now ? 1 : (next - now + 999999) / 1000000, 0);
}

void zt_pdrive_init(struct zt_pdrive *d, const struct zt_env *env)
{
	d->env = env;
	d->list = NULL;
	d->sent = d->unknown = d->over = 0;
	d->allowed = NULL;
	d->tokens = ZT_PDRIVE_RATE;
	d->tokens_at = zt_now();
	uv_timer_init(env->loop, &d->timer);
	d->timer.data = d;
	d->on = 1;
	env->net->probe = on_probe;
	env->net->probe_user = d;
}

int zt_pdrive_add(struct zt_pdrive *d, struct zt_punch *p,
		  void (*answer)(void *owner, struct zt_punch *p, size_t which),
		  void *owner)
{
	struct zt_pdrive_ent *e = calloc(1, sizeof(*e));

	if (!e)
		return ZT_ENOMEM;
	e->p = p;
	e->answer = answer;
	e->owner = owner;
	e->next = d->list;
	d->list = e;
	return 0;
}

void zt_pdrive_remove(struct zt_pdrive *d, struct zt_punch *p)
{
	for (struct zt_pdrive_ent **pp = &d->list; *pp; pp = &(*pp)->next) {
		if ((*pp)->p != p)
			continue;
		struct zt_pdrive_ent *e = *pp;
		*pp = e->next;
		free(e);
		return;
	}
}

void zt_pdrive_stop(struct zt_pdrive *d)
{
	if (!d->on)
		return;
	d->on = 0;
	if (d->env->net->probe_user == d)
		d->env->net->probe = NULL;
	while (d->list) {
		struct zt_pdrive_ent *e = d->list;
		d->list = e->next;
		free(e);
	}
	uv_close((uv_handle_t *)&d->timer, NULL);
}
