/* Our candidates (cands.h). */
#include "cands.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "punch.h"
#include "rpath.h"

static int have(const struct zt_cands *c, const struct zt_addr *a)
{
	for (size_t i = 0; i < c->n; i++)
		if (zt_addr_equal(&c->a[i], a))
			return 1;
	return 0;
}

void zt_cands_ours(const struct zt_env *env, struct zt_relaylink *const *links,
		   size_t n_links, int (*skip)(void *, const struct zt_addr *),
		   void *user, struct zt_cands *out)
{
	struct zt_addr seen[ZT_MAX_ADDRS], local[ZT_MAX_ADDRS];
	struct zt_addr relays[ZT_MAX_ADDRS];
	size_t n_seen = 0, n_local;

	memset(out, 0, sizeof(*out));
	/* One observation per relay address: the same relay listed twice
	 * would look like an endpoint-independent NAT. */
	for (size_t i = 0; i < n_links && n_seen < ZT_MAX_ADDRS; i++) {
		const struct zt_relaylink *l = links[i];
		int dup = 0;

		if (l->state != ZT_LINK_UP || l->observed.family == 0)
			continue;
		for (size_t j = 0; j < n_seen && !dup; j++)
			dup = zt_addr_equal(&relays[j], &l->remote);
		if (dup)
			continue;
		relays[n_seen] = l->remote;
		seen[n_seen++] = l->observed;
		if (!have(out, &l->observed) && out->n < ZT_MAX_ADDRS &&
		    !(skip && skip(user, &l->observed)))
			out->a[out->n++] = l->observed;
	}
	out->nat = (uint8_t)zt_nat_kind(seen, n_seen);
	if (env->mapped && env->mapped->family && out->n < ZT_MAX_ADDRS &&
	    !(skip && skip(user, env->mapped))) {
		out->mapped = 1;
		if (!have(out, env->mapped))
			out->a[out->n++] = *env->mapped;
	}
	n_local = zt_rpath_local_candidates(env, local, ZT_MAX_ADDRS);
	for (size_t i = 0; i < n_local && out->n < ZT_MAX_ADDRS; i++)
		if (!have(out, &local[i]) && !(skip && skip(user, &local[i])))
			out->a[out->n++] = local[i];
}

int zt_cands_equal(const struct zt_cands *x, const struct zt_cands *y)
{
	if (x->n != y->n || x->nat != y->nat || x->mapped != y->mapped)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (!zt_addr_equal(&x->a[i], &y->a[i]))
			return 0;
	return 1;
}

int zt_cands_hard(const struct zt_cands *c)
{
	return c->nat == ZT_NAT_EDM && !c->mapped;
}

void zt_cands_put(const struct zt_cands *c, struct zt_ctrl_sess *m)
{
	memcpy(m->addrs, c->a, c->n * sizeof(c->a[0]));
	m->n_addrs = c->n;
	/* The other side would skip punching with two endpoint-dependent
	 * NATs; the mapped port lets its probes in from anywhere. */
	m->nat = c->mapped ? ZT_NAT_EIM : c->nat;
}

const char *zt_cands_str(const struct zt_cands *c, char *buf, size_t n)
{
	size_t off = 0;
	char a[64];

	buf[0] = 0;
	for (size_t i = 0; i < c->n && off < n; i++) {
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "",
				 zt_addr_str(&c->a[i], a, sizeof(a)));
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (off < n)
		snprintf(buf + off, n - off, "%s(%s NAT%s)", c->n ? " " : "",
			 zt_nat_kind_name(c->nat),
			 c->mapped ? ", port mapping" : "");
	return buf;
}

void zt_cands_send(struct zt_relaylink *l, uint32_t session,
		   const struct zt_cands *c)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_SESSION_CANDIDATES };

	if (l->version < 3 || l->state != ZT_LINK_UP)
		return;
	m.u.sess.session = session;
	zt_cands_put(c, &m.u.sess);
	zt_relaylink_send(l, &m);
}
