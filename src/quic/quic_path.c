/* Paths of a connection: client migration, path validation events and
 * path changes told to the owner, per-connection keep-alive. */
#include "quic_int.h"

#include <string.h>

#include "ctrl.h"
#include "err.h"
#include "log.h"

int zt_sa_ok(const struct sockaddr *sa, socklen_t len)
{
	if (!sa)
		return 0;
	/* ngtcp2 copies len bytes into storage sized for these two. */
	if (sa->sa_family == AF_INET)
		return len == sizeof(struct sockaddr_in);
	if (sa->sa_family == AF_INET6)
		return len == sizeof(struct sockaddr_in6);
	return 0;
}

static void qpath_of(struct zt_qpath *q, const ngtcp2_path *p)
{
	memset(q, 0, sizeof(*q));
	q->pio = p->user_data;
	if (p->remote.addrlen <= sizeof(q->remote)) {
		memcpy(&q->remote, p->remote.addr, p->remote.addrlen);
		q->remote_len = p->remote.addrlen;
	}
}

/* ngtcp2 calls the validation callbacks from inside its own calls, where
 * the owner must not call back into the connection (a migration made from
 * there would run inside ngtcp2's path validation code). So they are
 * queued and told after ngtcp2 returns (zt_qconn_path_events). At most a
 * few arise per ngtcp2 call (one validation at a time: an abort, a result,
 * a begin); the queue keeps the newest when it is full. */
static void pev_push(struct zt_qconn *c, int kind, const ngtcp2_path *path,
		     unsigned flags, int result)
{
	struct zt_pathev *e;

	if (c->pev_n == ZT_PATHEV_MAX) {
		log_debug("quic: %s: path event queue full, oldest dropped",
			  c->label);
		c->pev_head = (c->pev_head + 1) % ZT_PATHEV_MAX;
		c->pev_n--;
	}
	e = &c->pev[(c->pev_head + c->pev_n) % ZT_PATHEV_MAX];
	e->kind = kind;
	e->flags = flags;
	e->result = result;
	qpath_of(&e->path, path);
	c->pev_n++;
	c->ep->dirty = 1;
}

int zt_pv_begin_cb(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
		   const ngtcp2_path *fallback, void *ud)
{
	struct zt_qconn *c = ud;
	unsigned f = fallback ? ZT_PV_FALLBACK : 0;

	/* A server validates the client's new path once it is on it; the
	 * only validation of another path is the check of the old one
	 * (NGTCP2_PV_FLAG_DONT_CARE), which ngtcp2 starts and never ends
	 * through the callbacks. */
	if (c->server && !ngtcp2_path_eq(path, ngtcp2_conn_get_path(conn)))
		f |= ZT_PV_OLD_PATH;
	pev_push(c, ZT_PATHEV_BEGIN, path, f, 0);
	return 0;
}

int zt_pv_result_cb(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
		    const ngtcp2_path *fallback,
		    ngtcp2_path_validation_result res, void *ud)
{
	struct zt_qconn *c = ud;
	int r;

	switch (res) {
	case NGTCP2_PATH_VALIDATION_RESULT_SUCCESS: r = ZT_PV_SUCCESS; break;
	case NGTCP2_PATH_VALIDATION_RESULT_ABORTED: r = ZT_PV_ABORTED; break;
	default: r = ZT_PV_FAILURE; break;
	}
	pev_push(c, ZT_PATHEV_END, path, 0, r);
	return 0;
}

void zt_qconn_path(const struct zt_qconn *c, struct zt_qpath *p)
{
	memset(p, 0, sizeof(*p));
	if (c->conn)
		qpath_of(p, ngtcp2_conn_get_path(c->conn));
}

/* The path the owner last heard of, so that path_changed comes once per
 * change (and not for the path the connection was established on). */
void zt_qconn_path_mark(struct zt_qconn *c)
{
	zt_qconn_remote(c, &c->last_remote);
	c->last_pio = c->conn ? ngtcp2_conn_get_path(c->conn)->user_data : NULL;
}

static void check_path(struct zt_qconn *c)
{
	const ngtcp2_path *p = ngtcp2_conn_get_path(c->conn);
	struct zt_addr ra;

	zt_addr_from_sockaddr(&ra, p->remote.addr);
	if (p->user_data == c->last_pio && zt_addr_equal(&ra, &c->last_remote))
		return;
	c->last_remote = ra;
	c->last_pio = p->user_data;
	zt_qconn_label_update(c);
	log_debug("quic: %s: now on a %s path", c->label,
		  c->last_pio ? c->last_pio->ops->kind : "?");
	if (c->ops->path_changed)
		c->ops->path_changed(c, c->owner);
}

void zt_qconn_path_events(struct zt_qconn *c)
{
	/* Only the events queued now: an owner that migrates from a
	 * callback queues more, which wait for the next flush, so this
	 * loop ends whatever the owner does. */
	unsigned n = c->pev_n;

	if (c->state != ZT_QCONN_ESTABLISHED)
		return;
	while (n-- > 0 && c->pev_n > 0 && c->state == ZT_QCONN_ESTABLISHED) {
		struct zt_pathev e = c->pev[c->pev_head];

		c->pev_head = (c->pev_head + 1) % ZT_PATHEV_MAX;
		c->pev_n--;
		if (e.kind == ZT_PATHEV_BEGIN && c->ops->path_validation_begin)
			c->ops->path_validation_begin(c, &e.path, e.flags,
						      c->owner);
		else if (e.kind == ZT_PATHEV_END && c->ops->path_validation)
			c->ops->path_validation(c, &e.path, e.result, c->owner);
	}
	if (c->pev_n)
		c->ep->dirty = 1;
	if (c->state == ZT_QCONN_ESTABLISHED)
		check_path(c);
}

void zt_qconn_set_keepalive(struct zt_qconn *c, uint64_t ns)
{
	if (!c->conn)
		return;
	/* ngtcp2 takes 0 as "off" too. */
	ngtcp2_conn_set_keep_alive_timeout(c->conn, ns);
	c->keepalive_ns = ns;
	c->keepalive_set = 1;
	c->ep->dirty = 1;
}

int zt_qconn_ping(struct zt_qconn *c, uint64_t now)
{
	int rv;

	if (!c->conn || c->state >= ZT_QCONN_CLOSING || c->close_pending)
		return ZT_ECLOSED;
	if (c->state != ZT_QCONN_ESTABLISHED)
		return ZT_EAGAIN;
	/* ngtcp2 has no call for a PING; an expired keep-alive makes the
	 * next 1-RTT packet carry one. The timeout goes back before this
	 * returns, or every packet would. */
	ngtcp2_conn_set_keep_alive_timeout(c->conn, 1);
	rv = zt_stream_write_all(c, now);
	ngtcp2_conn_set_keep_alive_timeout(
		c->conn,
		c->keepalive_set ? c->keepalive_ns : c->ep->cfg.keepalive_ns);
	/* A write error is the connection's: the flush that follows writes
	 * again and closes it the one way errors are handled there. */
	(void)rv;
	c->ep->dirty = 1;
	return 0;
}

static int migrate_err(int rv)
{
	switch (rv) {
	case 0: return 0;
	case NGTCP2_ERR_INVALID_ARGUMENT: return ZT_EINVAL;
	case NGTCP2_ERR_CONN_ID_BLOCKED: return ZT_EAGAIN;
	/* Handshake confirmation and closing were checked before: what is
	 * left is a peer that forbids migration. */
	case NGTCP2_ERR_INVALID_STATE: return ZT_EDENIED;
	case NGTCP2_ERR_NOMEM: return ZT_ENOMEM;
	default: return ZT_EQUIC;
	}
}

int zt_qconn_migrate(struct zt_qconn *c, struct zt_pathio *pio,
		     const struct sockaddr *remote, socklen_t remote_len,
		     int mode, uint64_t now)
{
	ngtcp2_path path;
	int rv;

	if (c->server || !pio ||
	    (mode != ZT_MIGRATE_VALIDATED && mode != ZT_MIGRATE_IMMEDIATE) ||
	    !zt_sa_ok(remote, remote_len) ||
	    !zt_sa_ok((const struct sockaddr *)&pio->local, pio->local_len) ||
	    remote->sa_family != pio->local.ss_family)
		return ZT_EINVAL;
	if (c->state >= ZT_QCONN_CLOSING || c->close_pending)
		return ZT_ECLOSED;
	/* A client is established once the handshake is confirmed, which
	 * is what ngtcp2 requires for a migration. */
	if (c->state != ZT_QCONN_ESTABLISHED)
		return ZT_EAGAIN;
	if (ngtcp2_conn_get_remote_transport_params(c->conn)
		    ->disable_active_migration)
		return ZT_EDENIED;
	path.local.addr = (ngtcp2_sockaddr *)&pio->local;
	path.local.addrlen = pio->local_len;
	path.remote.addr = (ngtcp2_sockaddr *)remote;
	path.remote.addrlen = remote_len;
	path.user_data = pio;
	if (mode == ZT_MIGRATE_IMMEDIATE)
		rv = ngtcp2_conn_initiate_immediate_migration(c->conn, &path,
							      now);
	else
		rv = ngtcp2_conn_initiate_migration(c->conn, &path, now);
	/* A fatal error (out of memory) may leave ngtcp2 between two paths:
	 * the connection cannot go on. */
	if (rv != 0 && ngtcp2_err_is_fatal(rv))
		zt_qconn_close(c, ZT_APP_INTERNAL, "migration failed", now);
	rv = migrate_err(rv);
	if (rv == 0)
		log_debug("quic: %s: migrating (%s) to a %s path", c->label,
			  mode == ZT_MIGRATE_IMMEDIATE ? "immediate" :
							 "validated",
			  pio->ops->kind);
	/* The new path's first packets (or its PATH_CHALLENGE) go out in
	 * the next flush, with the events. */
	c->ep->dirty = 1;
	return rv;
}
