/* Pieces of `ztnad status` output shared by the roles (text and JSON). */
#ifndef ZT_STATUS_H
#define ZT_STATUS_H

#include "buf.h"
#include "ctrl.h"
#include "relaylink.h"

void zt_status_service(struct zt_sb *b, const struct zt_service *s, int json);
void zt_status_links(struct zt_sb *b, struct zt_relaylink *const *links, size_t n,
		     int json);

#endif
