/* Roaming (aroam.h). */
#include "aroam.h"

#include "aflow_int.h"
#include "daemon.h"
#include "log.h"
#include "rtnl.h"

/* Candidates are checked on every tick this long after a change: the
 * relays' new observations come a round trip after our PINGs, longer if
 * a PING is lost. */
#define FAST_CHECK_NS 3000000000ULL

static void changed(void *user, unsigned what)
{
	struct zt_aroam *r = user;
	size_t links = 0, sessions = 0;
	char t[40];

	r->changes++;
	/* A fresh time for each: a relayed session's PING goes out inside
	 * its link's DATAGRAM at once, and ngtcp2 refuses time going back. */
	for (size_t i = 0; i < r->n_links; i++) {
		struct zt_relaylink *l = r->links[i];

		if (l->state == ZT_LINK_UP && l->conn &&
		    zt_qconn_ping(l->conn, zt_now()) == 0)
			links++;
	}
	for (struct asession *s = r->af->sessions; s; s = s->next)
		if (s->up && s->c && zt_qconn_ping(s->c, zt_now()) == 0)
			sessions++;
	log_info("network changed (%s): pinged %zu relay link(s) and %zu "
		 "session(s), checking our candidates",
		 zt_rtnl_str(what, t, sizeof(t)), links, sessions);
	zt_arelay_check_now(r->ar, FAST_CHECK_NS);
	zt_netio_flush(r->af->env->net);
}

void zt_aroam_init(struct zt_aroam *r, struct zt_aflows *af,
		   struct zt_arelay *ar, struct zt_relaylink *const *links,
		   size_t n_links)
{
	const struct zt_env *env = af->env;

	r->af = af;
	r->ar = ar;
	r->links = links;
	r->n_links = n_links;
	if (!env->net->has_udp)
		return;
	if (zt_netwatch_init(&r->w, env->loop, af->src.ifindex, changed, r) !=
	    0)
		log_warn("agent: not watching the network; address changes "
			 "are found by polling, within 2 s");
}

void zt_aroam_stop(struct zt_aroam *r)
{
	zt_netwatch_close(&r->w);
}
