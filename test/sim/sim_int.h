/* Between sim.c and sim_nat.c: not for tests. */
#ifndef ZT_SIM_INT_H
#define ZT_SIM_INT_H

#include "sim.h"

struct sim_nat *sim_nat_list(struct sim *s);
void sim_nat_list_set(struct sim *s, struct sim_nat *nat);
void sim_nat_free_all(struct sim_nat *nat);
/* Outbound: the source n's datagram to dst leaves with. */
void sim_nat_out(struct sim_nat *nat, struct sim_node *n,
		 const struct zt_addr *dst, struct zt_addr *src);
/* Inbound from src to the public dst: the inside node, or NULL (no
 * mapping: *filtered 0; refused by the filter: 1). */
struct sim_node *sim_nat_in(struct sim *s, const struct zt_addr *src,
			    const struct zt_addr *dst, int *filtered);

#endif
