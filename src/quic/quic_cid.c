/* Connection ID -> connection map for demultiplexing one socket. Chained
 * hash table; the table grows with the number of IDs. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "quic_int.h"

static size_t cid_hash(const struct zt_ep *ep, const ngtcp2_cid *cid,
		       size_t nbuckets)
{
	uint64_t h = 1469598103934665603ULL;

	/* Client Initial DCIDs are chosen by anyone: seeding with the
	 * endpoint secret keeps them from being picked to share a chain. */
	for (size_t i = 0; i < 8; i++)
		h = (h ^ ep->secret[i]) * 1099511628211ULL;
	for (size_t i = 0; i < cid->datalen; i++)
		h = (h ^ cid->data[i]) * 1099511628211ULL;
	return (size_t)(h & (nbuckets - 1));
}

int zt_cidmap_init(struct zt_ep *ep)
{
	ep->nbuckets = 256;
	ep->buckets = calloc(ep->nbuckets, sizeof(*ep->buckets));
	return ep->buckets ? 0 : ZT_ENOMEM;
}

void zt_cidmap_free(struct zt_ep *ep)
{
	for (size_t i = 0; i < ep->nbuckets; i++) {
		struct zt_cident *e = ep->buckets[i], *n;

		for (; e; e = n) {
			n = e->next;
			free(e);
		}
	}
	free(ep->buckets);
	ep->buckets = NULL;
}

struct zt_qconn *zt_cidmap_find(struct zt_ep *ep, const ngtcp2_cid *cid)
{
	struct zt_cident *e = ep->buckets[cid_hash(ep, cid, ep->nbuckets)];

	for (; e; e = e->next)
		if (ngtcp2_cid_eq(&e->cid, cid))
			return e->conn;
	return NULL;
}

static void cidmap_grow(struct zt_ep *ep)
{
	size_t nb = ep->nbuckets * 4;
	struct zt_cident **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* a fuller table still works */
	for (size_t i = 0; i < ep->nbuckets; i++) {
		struct zt_cident *e = ep->buckets[i], *n;

		for (; e; e = n) {
			size_t h = cid_hash(ep, &e->cid, nb);

			n = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(ep->buckets);
	ep->buckets = b;
	ep->nbuckets = nb;
}

int zt_cidmap_add(struct zt_ep *ep, const ngtcp2_cid *cid,
		  struct zt_qconn *c)
{
	struct zt_cident *e;
	size_t h;

	if (zt_cidmap_find(ep, cid))
		return ZT_EINVAL;
	if (ep->n_cids > ep->nbuckets)
		cidmap_grow(ep);
	e = calloc(1, sizeof(*e));
	if (!e)
		return ZT_ENOMEM;
	h = cid_hash(ep, cid, ep->nbuckets);
	e->cid = *cid;
	e->conn = c;
	e->next = ep->buckets[h];
	ep->buckets[h] = e;
	ep->n_cids++;
	return 0;
}

void zt_cidmap_del(struct zt_ep *ep, const ngtcp2_cid *cid)
{
	struct zt_cident **pp = &ep->buckets[cid_hash(ep, cid, ep->nbuckets)];

	for (; *pp; pp = &(*pp)->next) {
		if (ngtcp2_cid_eq(&(*pp)->cid, cid)) {
			struct zt_cident *e = *pp;

			*pp = e->next;
			free(e);
			ep->n_cids--;
			return;
		}
	}
}
