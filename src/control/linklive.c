/* A relay link that carries relayed sessions must notice a relay that died
 * without a word (a crash, a host gone, a path cut) long before the QUIC
 * idle timeout (30 s): the sessions on it wait for a new relayed path, and
 * their flows with them. The link's own keep-alive is for NAT mappings and
 * comes every 10 s; while relayed sessions ride on it, a second of silence
 * draws a PING (answered at once by a live relay) and three seconds of it
 * end the link, which the role takes as the relay lost (arelay.c re-opens
 * its sessions through another relay). */
#include "relaylink.h"

#include "daemon.h"
#include "log.h"

#define QUIET_NS 1000000000ULL /* no packet this long: PING */
#define DEAD_NS 3000000000ULL  /* no packet this long: gone */

void zt_relaylink_watch(struct zt_relaylink *l, uint64_t now)
{
	const struct zt_pathio *pio;
	uint64_t at;

	if (l->state != ZT_LINK_UP || !l->conn || l->silent)
		return;
	zt_qconn_last_rx(l->conn, &at, &pio);
	if (at < l->up_since_ns)
		at = l->up_since_ns;
	if (now - at >= DEAD_NS) {
		l->silent = 1;
		log_warn("relay %s:%u: nothing heard for %.1f s while relayed "
			 "sessions depend on it: the link is closed",
			 l->relay.host, l->relay.port, (now - at) / 1e9);
		zt_qconn_close(l->conn, ZT_APP_SHUTDOWN,
			       "the relay went silent", now);
		return;
	}
	if (now - at >= QUIET_NS && now - l->watch_ping_at >= QUIET_NS) {
		l->watch_ping_at = now;
		zt_qconn_ping(l->conn, now);
	}
}
