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

static void session_recover(struct asession *s, const char *why, uint64_t now);
static void session_recovered(struct asession *s, struct zt_pathio *pio,
			      const struct sockaddr *remote,
			      socklen_t remote_len, const char *via);

int zt_aflows_relay_in_use(struct zt_aflows *af, uint32_t req)
{
	const struct asession *s = session_by_req(af, req);

	return s && s->up && s->relayed && !s->direct;
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
	if (s && s->up && s->recovering && s->c && !s->rc) {
		session_recovered(s, pio, remote, remote_len, via);
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
		/* The relayed path in use is gone (or a request for a new one
		 * failed): the connection waits for another. */
		session_recover(s, why, zt_now());
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
		/* Its relay went away during the validation: the relayed
		 * path it stays on is dead. */
		if (!s->relay_req)
			session_recover(s, "the relayed path was lost", now);
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

/* A relayed session whose relay went away (its link dropped, or it closed
 * the session, e.g. because the connector's link to it dropped) keeps its
 * connection and flows and asks any relay that lists the connector for a
 * new relayed session; the connection then moves onto it (a new synthetic
 * path: to ngtcp2 the connector migrated). It gives up after RECOVER_MAX_NS:
 * below the inner connection's idle timeout (30 s), so that the agent, not
 * a silent timeout, ends the flows and says why; long enough for a relay
 * that restarts (its links come back after 0.25..0.5 s of backoff, plus the
 * connectors' REGISTER) or for a link's second and third reconnection
 * (0.5..1 s, 1..2 s) to carry it. */
#define RECOVER_MAX_NS 20000000000ULL
/* Between requests that found no relay or that a relay refused: catalogs
 * that list the connector again also ask at once. */
#define RECOVER_RETRY_NS 1000000000ULL

/* "relay HOST:PORT #S" without its session: which relay. */
static void via_relay(const struct asession *s, char *out, size_t cap)
{
	const char *hash = strstr(s->via, " #");
	int n = hash ? (int)(hash - s->via) : (int)strlen(s->via);

	snprintf(out, cap, "%.*s", n, s->via);
}

static void session_reopen(struct asession *s, uint64_t now)
{
	const struct zt_aflows_relay *r = &s->af->relay;

	if (s->relay_req || !r->open || now < s->reopen_at)
		return;
	s->reopen_at = now + RECOVER_RETRY_NS;
	if (r->open(r->user, s->connector, &s->relay_req) != 0) {
		s->relay_req = 0;
		return;
	}
	log_debug("session to connector %s: asking for a relayed session "
		  "again, %.1f s after losing its relay",
		  s->connector, (now - s->lost_at) / 1e9);
}

static void session_recover(struct asession *s, const char *why, uint64_t now)
{
	char relay[300];

	s->relay_req = 0;
	if (!s->recovering) {
		s->recovering = 1;
		s->lost_at = now;
		s->reopen_at = 0;
		via_relay(s, relay, sizeof(relay));
		snprintf(s->why, sizeof(s->why),
			 "relayed: %.60s lost, re-opening", relay);
		log_info("session to connector %s: %s lost (%s); keeping the "
			 "session and its flows, asking for a relayed session "
			 "again (for up to %.0f s)",
			 s->connector, relay, why, RECOVER_MAX_NS / 1e9);
	} else {
		log_debug("session to connector %s: no relayed session yet: "
			  "%s",
			  s->connector, why);
	}
	session_reopen(s, now);
}

static void session_recover_tick(struct asession *s, uint64_t now)
{
	char relay[300];

	if (now - s->lost_at < RECOVER_MAX_NS) {
		session_reopen(s, now);
		return;
	}
	via_relay(s, relay, sizeof(relay));
	log_warn("session to connector %s: the agent ends it and its flows: "
		 "no relay carried it again within %.0f s of losing %s",
		 s->connector, RECOVER_MAX_NS / 1e9, relay);
	asession_relay_release(s);
	asession_attempt_drop(&s->c, "no relay carries the session");
	asession_drop_flows(s);
}

static void session_recovered(struct asession *s, struct zt_pathio *pio,
			      const struct sockaddr *remote,
			      socklen_t remote_len, const char *via)
{
	uint64_t now = zt_now();
	char old[300];
	int rc;

	rc = zt_qconn_migrate(s->c, pio, remote, remote_len,
			      ZT_MIGRATE_IMMEDIATE, now);
	if (rc != 0) {
		log_warn("session to connector %s: cannot move to %s: %s",
			 s->connector, via, zt_strerror(rc));
		asession_relay_release(s); /* asked again on the next tick */
		return;
	}
	via_relay(s, old, sizeof(old));
	s->recovering = 0;
	s->relay_moves++;
	s->path_since = s->ready_at = now;
	s->retry_direct_at = now + DIRECT_RETRY_NS;
	snprintf(s->via, sizeof(s->via), "%s", via);
	snprintf(s->why, sizeof(s->why),
		 "relayed: moved in %u ms after %.40s was lost",
		 (unsigned)((now - s->lost_at) / 1000000), old);
	log_info("session to connector %s: moved to %s, %.0f ms after %s was "
		 "lost (move %u)",
		 s->connector, via, (now - s->lost_at) / 1e6, old,
		 s->relay_moves);
	zt_netio_flush(s->af->env->net);
}

void zt_aflows_relay_standby(struct zt_aflows *af)
{
	const struct zt_aflows_relay *r = &af->relay;

	for (struct asession *s = af->sessions; s && r->open; s = s->next) {
		if (s->up && s->recovering) {
			/* A relay (re)listed connectors: worth asking now. */
			s->reopen_at = 0;
			session_reopen(s, zt_now());
			continue;
		}
		if (s->up && s->relayed && s->direct && !s->relay_req &&
		    r->open(r->user, s->connector, &s->relay_req) != 0)
			s->relay_req = 0;
	}
}

void zt_aflows_relay_tick(struct zt_aflows *af, uint64_t now)
{
	for (struct asession *s = af->sessions; s; s = s->next) {
		const struct zt_pathio *pio;
		uint64_t at;

		if (s->up && s->recovering) {
			session_recover_tick(s, now);
			continue;
		}
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
