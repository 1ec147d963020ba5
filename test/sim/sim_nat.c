/* NATs of the simulated network (sim.h): mappings and filtering of the
 * four classic kinds (RFC 4787 terms: endpoint-independent mapping with
 * endpoint-independent, address-dependent or address-and-port-dependent
 * filtering; "symmetric" is address-and-port-dependent mapping). */
#include "sim_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MAPS 256
#define MAX_PEERS 16 /* remote endpoints a mapping remembers for filtering */

struct map {
	struct sim_node *in;
	struct zt_addr dst; /* SYMMETRIC: the one destination */
	uint16_t port;
	uint64_t last_out;
	struct zt_addr peers[MAX_PEERS];
	size_t n_peers, next_peer;
};

struct sim_nat {
	struct sim_nat *next;
	struct sim *sim;
	struct zt_addr pub;
	int type;
	uint64_t idle_ns;
	uint16_t next_port;
	struct map maps[MAX_MAPS];
	size_t n_maps;
};

static int alive(const struct sim_nat *nat, const struct map *m)
{
	return !nat->idle_ns || sim_clock_now() - m->last_out < nat->idle_ns;
}

static int same_ip(const struct zt_addr *a, const struct zt_addr *b)
{
	return a->family == b->family &&
	       !memcmp(a->ip, b->ip, a->family == AF_INET6 ? 16 : 4);
}

struct sim_nat *sim_nat_add(struct sim *s, const char *ip, int type,
			    uint64_t idle_ns)
{
	struct sim_nat *nat = calloc(1, sizeof(*nat));

	if (!nat)
		return NULL;
	nat->pub.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(nat->pub.family, ip, nat->pub.ip) != 1) {
		free(nat);
		return NULL;
	}
	nat->sim = s;
	nat->type = type;
	nat->idle_ns = idle_ns;
	nat->next_port = 20000;
	nat->next = sim_nat_list(s);
	sim_nat_list_set(s, nat);
	return nat;
}

void sim_nat_attach(struct sim_nat *nat, struct sim_node *n)
{
	n->nat = nat;
}

size_t sim_nat_mappings(struct sim_nat *nat)
{
	size_t k = 0;

	for (size_t i = 0; i < nat->n_maps; i++)
		k += alive(nat, &nat->maps[i]);
	return k;
}

void sim_nat_rebind(struct sim_nat *nat)
{
	nat->n_maps = 0; /* ports go on from next_port: all new */
}

void sim_nat_free_all(struct sim_nat *nat)
{
	while (nat) {
		struct sim_nat *n = nat->next;

		free(nat);
		nat = n;
	}
}

static struct map *find_out(struct sim_nat *nat, struct sim_node *n,
			    const struct zt_addr *dst)
{
	for (size_t i = 0; i < nat->n_maps; i++) {
		struct map *m = &nat->maps[i];

		if (m->in == n && alive(nat, m) &&
		    (nat->type != SIM_NAT_SYMMETRIC ||
		     zt_addr_equal(&m->dst, dst)))
			return m;
	}
	return NULL;
}

/* A new mapping, in a free (expired) slot if there is one. */
static struct map *map_new(struct sim_nat *nat, struct sim_node *n,
			   const struct zt_addr *dst)
{
	struct map *m = NULL;

	for (size_t i = 0; i < nat->n_maps && !m; i++)
		if (!alive(nat, &nat->maps[i]))
			m = &nat->maps[i];
	if (!m && nat->n_maps < MAX_MAPS)
		m = &nat->maps[nat->n_maps++];
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->in = n;
	m->dst = *dst;
	m->port = nat->next_port++;
	return m;
}

void sim_nat_out(struct sim_nat *nat, struct sim_node *n,
		 const struct zt_addr *dst, struct zt_addr *src)
{
	struct map *m = find_out(nat, n, dst);
	size_t i;

	if (!m && !(m = map_new(nat, n, dst))) {
		*src = n->addr; /* table full: leaves unmapped, answers lost */
		return;
	}
	m->last_out = sim_clock_now();
	for (i = 0; i < m->n_peers && !zt_addr_equal(&m->peers[i], dst); i++)
		;
	if (i == m->n_peers) {
		m->peers[m->next_peer++ % MAX_PEERS] = *dst;
		if (m->n_peers < MAX_PEERS)
			m->n_peers++;
	}
	*src = nat->pub;
	src->port = m->port;
}

static int admits(const struct sim_nat *nat, const struct map *m,
		  const struct zt_addr *src)
{
	if (nat->type == SIM_NAT_FULL_CONE)
		return 1;
	for (size_t i = 0; i < m->n_peers; i++)
		if (nat->type == SIM_NAT_RESTRICTED ?
			    same_ip(&m->peers[i], src) :
			    zt_addr_equal(&m->peers[i], src))
			return 1;
	return 0;
}

struct sim_node *sim_nat_in(struct sim *s, const struct zt_addr *src,
			    const struct zt_addr *dst, int *filtered)
{
	*filtered = 0;
	for (struct sim_nat *nat = sim_nat_list(s); nat; nat = nat->next) {
		if (!same_ip(&nat->pub, dst))
			continue;
		for (size_t i = 0; i < nat->n_maps; i++) {
			struct map *m = &nat->maps[i];

			if (m->port != dst->port || !alive(nat, m))
				continue;
			if (admits(nat, m, src))
				return m->in;
			*filtered = 1;
			return NULL;
		}
	}
	return NULL;
}
