/* A connector whose network changes (croam.h). */
#include "croam.h"

#include "daemon.h"
#include "log.h"
#include "rtnl.h"

/* As the agent's (aroam.c): the relays' new observations come a round
 * trip after our PINGs, longer if one is lost. */
#define FAST_CHECK_NS 3000000000ULL

static void changed(void *user, unsigned what)
{
	struct zt_croam *r = user;
	size_t links = 0;
	char t[40];

	for (size_t i = 0; i < r->n_links; i++) {
		struct zt_relaylink *l = r->links[i];

		if (l->state == ZT_LINK_UP && l->conn &&
		    zt_qconn_ping(l->conn, zt_now()) == 0)
			links++;
	}
	log_info("network changed (%s): pinged %zu relay link(s), checking "
		 "our candidates",
		 zt_rtnl_str(what, t, sizeof(t)), links);
	zt_crelay_check_now(r->cr, FAST_CHECK_NS);
	zt_netio_flush(r->cr->env->net);
}

void zt_croam_init(struct zt_croam *r, const struct zt_env *env,
		   struct zt_crelay *cr, struct zt_relaylink *const *links,
		   size_t n_links)
{
	r->cr = cr;
	r->links = links;
	r->n_links = n_links;
	if (!env->net->has_udp)
		return;
	if (zt_netwatch_init(&r->w, env->loop, 0, changed, r) != 0)
		log_warn("connector: not watching the network; address changes "
			 "are found by polling, within 2 s");
}

void zt_croam_stop(struct zt_croam *r)
{
	zt_netwatch_close(&r->w);
}
