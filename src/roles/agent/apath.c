/* The paths of an agent's sessions: a session that came up through a relay
 * (arelay.c gives the relayed path), the move to a direct path once hole
 * punching found one, and back to a fresh relayed path when the direct one
 * goes silent (docs/ARCHITECTURE.md, "Relayed sessions and hole
 * punching"). */
#include "aflow_int.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "err.h"
#include "log.h"

static struct asession *session_by_req(struct zt_aflows *af, uint32_t req)
{
	for (struct asession *s = af->sessions; s; s = s->next)
		if (req && s->relay_req == req)
			return s;
	return NULL;
}

void zt_aflows_relay_ready(struct zt_aflows *af, uint32_t req,
			   struct zt_pathio *pio, const struct sockaddr *remote,
			   socklen_t remote_len, const char *via)
{
	const struct zt_env *env = af->env;
	struct asession *s = session_by_req(af, req);

	if (s && s->up && s->direct && !s->rc) {
		/* A standby: the way back should the direct path die. */
		snprintf(s->via, sizeof(s->via), "%s", via);
		log_info("session to connector %s: standby relayed path via %s",
			 s->connector, via);
		return;
	}
	if (!s || s->up || s->rc) {
		if (af->relay.close)
			af->relay.close(af->relay.user, req);
		if (s)
			s->relay_req = 0;
		return;
	}
	snprintf(s->via, sizeof(s->via), "%s", via);
	s->ready_at = zt_now();
	if (zt_ep_connect(env->ep, pio, remote, remote_len, NULL,
			  ZT_ROLE_CONNECTOR, &asession_qops, s, &s->rc,
			  zt_now()) != 0) {
		s->rc = NULL;
		log_warn("session to connector %s: cannot start through %s",
			 s->connector, via);
		zt_aflows_relay_failed(af, req, "cannot start the connection");
		return;
	}
	zt_netio_flush(env->net);
}

void zt_aflows_relay_failed(struct zt_aflows *af, uint32_t req, const char *why)
{
	struct asession *s = session_by_req(af, req);

	if (!s)
		return;
	s->relay_req = 0;
	if (s->up && s->relayed && (s->direct || s->migrating)) {
		/* The session does not use the relay now: it carries on,
		 * without a relayed path to fall back to for the moment. */
		log_info(
			"session to connector %s: the relayed path is gone (%s);"
			" the session stays on the direct path",
			s->connector, why);
		zt_aflows_relay_standby(af);
		return;
	}
	if (s->up && s->relayed) {
		/* The relay ended the session we use: so does it. */
		log_info(
			"session to connector %s via %s ended by the relay: %s",
			s->connector, s->via, why);
		asession_attempt_drop(&s->c, "the relay ended the session");
		asession_drop_flows(s);
		return;
	}
	if (s->up)
		return;
	asession_attempt_drop(&s->rc, "the relay ended the session");
	log_info("session to connector %s: no relayed path: %s%s", s->connector,
		 why, s->c ? "; still trying direct" : "");
	if (!s->c)
		asession_drop_flows(s);
}

#define DIRECT_DEAD_NS 6500000000ULL /* Tailscale's trustUDPAddrDuration */
#define DIRECT_RETRY_NS 5000000000ULL
#define DIRECT_KEEPALIVE_NS 1000000000ULL

static void session_direct_ok(struct asession *s, uint64_t now);

void zt_aflows_relay_direct(struct zt_aflows *af, uint32_t req,
			    const struct zt_addr *to, uint64_t rtt_ns)
{
	const struct zt_env *env = af->env;
	struct asession *s = session_by_req(af, req);
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t now = zt_now();
	char a[64];
	int rc;

	if (!s || !s->up || !s->relayed || s->direct || s->migrating || !s->c ||
	    now < s->retry_direct_at || zt_aflows_in_tunnel(af, to))
		return;
	len = zt_addr_to_sockaddr(to, &ss);
	rc = zt_qconn_migrate(s->c, env->path, (struct sockaddr *)&ss, len,
			      ZT_MIGRATE_VALIDATED, now);
	if (rc == ZT_EAGAIN)
		return; /* handshake not confirmed yet: the next answer */
	if (rc != 0) {
		s->retry_direct_at = now + 6 * DIRECT_RETRY_NS;
		log_warn("session to connector %s: cannot try the direct path "
			 "%s: %s",
			 s->connector, zt_addr_str(to, a, sizeof(a)),
			 zt_strerror(rc));
		return;
	}
	s->migrating = 1;
	s->direct_to = *to;
	s->probe_rtt = rtt_ns;
	log_info("session to connector %s: probes answered from %s in %.1f ms, "
		 "validating the direct path",
		 s->connector, zt_addr_str(to, a, sizeof(a)), rtt_ns / 1e6);
	/* ngtcp2 moves at once, with no validation to report, to a path it
	 * validated in the last 10 minutes: the fresh PONG vouches for it. */
	struct zt_qpath cur;
	zt_qconn_path(s->c, &cur);
	if (cur.pio == env->path)
		session_direct_ok(s, now);
	zt_netio_flush(env->net);
}

void asession_path_validation(struct zt_qconn *c, const struct zt_qpath *path,
			      int result, void *owner)
{
	struct asession *s = owner;
	uint64_t now = zt_now();
	char a[64];

	if (c != s->c || !s->migrating || path->pio != s->af->env->path)
		return;
	s->migrating = 0;
	zt_addr_str(&s->direct_to, a, sizeof(a));
	if (result != ZT_PV_SUCCESS) {
		s->retry_direct_at = now + DIRECT_RETRY_NS;
		log_info("session to connector %s: direct path %s did not "
			 "validate; staying relayed",
			 s->connector, a);
		return;
	}
	session_direct_ok(s, now);
}

static void session_direct_ok(struct asession *s, uint64_t now)
{
	char a[64];

	s->migrating = 0;
	zt_addr_str(&s->direct_to, a, sizeof(a));
	s->direct = 1;
	s->upgrades++;
	s->path_since = s->direct_rx = now;
	/* Frequent enough that a dead direct path shows well within
	 * DIRECT_DEAD_NS, and NAT mappings stay open. */
	zt_qconn_set_keepalive(s->c, DIRECT_KEEPALIVE_NS);
	snprintf(s->why, sizeof(s->why), "direct: punched in %llu ms",
		 (unsigned long long)((now - s->ready_at) / 1000000));
	log_info("session to connector %s: direct via %s (probe rtt %.2f ms, "
		 "%s)",
		 s->connector, a, s->probe_rtt / 1e6, s->why);
}

/* The direct path went silent: back to the relay on a fresh relayed path
 * (a new generation: ngtcp2 would not move to a path it just left). */
static void session_fall_back(struct asession *s, uint64_t now)
{
	const struct zt_aflows_relay *r = &s->af->relay;
	struct sockaddr_storage rs;
	struct zt_pathio *pio;
	socklen_t rl;
	int rc = ZT_ENOTFOUND;

	if (s->relay_req && r->regen)
		rc = r->regen(r->user, s->relay_req, &pio, &rs, &rl);
	if (rc == 0)
		rc = zt_qconn_migrate(s->c, pio, (struct sockaddr *)&rs, rl,
				      ZT_MIGRATE_IMMEDIATE, now);
	if (rc != 0) {
		s->direct_rx = now; /* say it once per period, not per tick */
		log_warn("session to connector %s: direct path silent and no "
			 "relayed path to go back to: %s",
			 s->connector, zt_strerror(rc));
		return;
	}
	s->direct = 0;
	s->fallbacks++;
	s->path_since = now;
	s->ready_at = now; /* the next "punched in" counts from here */
	s->retry_direct_at = now + DIRECT_RETRY_NS;
	zt_qconn_set_keepalive(s->c, 0);
	snprintf(s->why, sizeof(s->why), "relayed: direct path silent %.1f s",
		 DIRECT_DEAD_NS / 1e9);
	log_info("session to connector %s: direct path silent %.1f s, back to "
		 "%s",
		 s->connector, DIRECT_DEAD_NS / 1e9, s->via);
	if (r->repunch)
		r->repunch(r->user, s->relay_req);
	zt_netio_flush(s->af->env->net);
}

void zt_aflows_relay_standby(struct zt_aflows *af)
{
	const struct zt_aflows_relay *r = &af->relay;

	for (struct asession *s = af->sessions; s && r->open; s = s->next)
		if (s->up && s->relayed && s->direct && !s->relay_req &&
		    r->open(r->user, s->connector, &s->relay_req) != 0)
			s->relay_req = 0;
}

void zt_aflows_relay_tick(struct zt_aflows *af, uint64_t now)
{
	for (struct asession *s = af->sessions; s; s = s->next) {
		const struct zt_pathio *pio;
		uint64_t at;

		if (!s->up || !s->direct || !s->c)
			continue;
		zt_qconn_last_rx(s->c, &at, &pio);
		if (pio == af->env->path && at > s->direct_rx)
			s->direct_rx = at;
		at = zt_qconn_acked_at(s->c);
		if (at < s->path_since)
			at = s->path_since;
		/* Silent either way: nothing from the connector, or nothing
		 * of ours acknowledged (the 1 s keep-alive asks for ACKs). */
		if (now - s->direct_rx >= DIRECT_DEAD_NS ||
		    now - at >= DIRECT_DEAD_NS)
			session_fall_back(s, now);
	}
}
