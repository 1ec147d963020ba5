/* In-process tests of a relayed session that loses its relay (docs/
 * ARCHITECTURE.md, "Relayed sessions and hole punching", "Relay loss"):
 * the real relay, connector and agent on the simulated network of
 * test/sim, both peers behind symmetric NATs so that the session stays on
 * the relay, a download going on through it.
 *
 *   one relay: it restarts (its goodbyes sent, then silently); the
 *   session keeps its connection and flows, asks the new relay for a
 *   relayed session and moves onto it, and the download completes
 *   bit-exact;
 *   two relays: the one carrying the session goes away for good; the
 *   session moves to the other at once and the download completes; then
 *   the other restarts out of the agent's reach: after 20 s the agent
 *   ends the session and its flows.
 *
 * One lab per group; the tests of a group run in order on it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "log.h"
#include "pkt.h"
#include "roles.h"
#include "sim_lab.h"

#define SERVICES \
	"[service bulk]\nhostname = bulk.corp.internal\nports = 9001\n" \
	"protocol = tcp\nallow = group:engineering\ntarget = bulk.sim\n"

/* 2 Mbit/s on the relay's links: 2 MiB last about 9 s, long enough for a
 * relay to go away in the middle. */
#define BULK (2u << 20)

static struct sim_lab lab;
static struct zt_daemon relay2; /* the two-relay group's 10.0.0.1:4434 */
static int relay2_on;
static struct sim_target *t_source;
static uint16_t next_port = 41000;
static struct sim_tcp down;
static uint8_t want[32];

static void link_slow(struct sim_node *relay)
{
	struct sim_link_cfg slow = { .latency_ns = 5 * SIM_MS,
				     .rate_bps = 2000000,
				     .queue_ns = 200 * SIM_MS };

	sim_link(lab.sim, lab.n_agent, relay, &slow, NULL);
	sim_link(lab.sim, lab.n_conn, relay, &slow, NULL);
}

static void pattern_sha(uint64_t len, uint8_t out[32])
{
	wc_Sha256 h;
	uint8_t buf[4096];

	wc_InitSha256(&h);
	for (uint64_t off = 0; off < len; off += sizeof(buf)) {
		size_t n = len - off < sizeof(buf) ? (size_t)(len - off) :
						     sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = sim_pattern(off + i);
		wc_Sha256Update(&h, buf, (word32)n);
	}
	wc_Sha256Final(&h, out);
	wc_Sha256Free(&h);
}

static int lab_common(const char *relays)
{
	struct sim_link_cfg dark = { .latency_ns = 10 * SIM_MS, .loss = 1.0 };

	zt_log_set_level(getenv("SIM_LOG") ? ZT_LOG_DEBUG : ZT_LOG_ERROR);
	wolfSSL_Init();
	if (sim_lab_start_relays(&lab, 0x2fa11, SERVICES, SIM_NAT_SYMMETRIC,
				 SIM_NAT_SYMMETRIC, relays) != 0)
		return -1;
	/* No direct path at all: the session has only relays. */
	sim_link(lab.sim, lab.n_agent, lab.n_conn, &dark, NULL);
	link_slow(lab.n_relay);
	t_source = sim_target_add(&lab.targets, "bulk.sim", "9001",
				  SIM_TARGET_SOURCE);
	pattern_sha(BULK, want);
	return t_source ? 0 : -1;
}

static int lab_up_one(void **state)
{
	(void)state;
	return lab_common("relay = 10.0.0.1:4433\n");
}

/* relay2 first in the list: sessions go through it while it is up. */
static int lab_up_two(void **state)
{
	(void)state;
	if (lab_common("relay = 10.0.0.1:4434\nrelay = 10.0.0.1:4433\n") ||
	    sim_lab_extra(&lab, &relay2, &zt_relay_ops, "10.0.0.1", 4434,
			  "relay", "[quic]\nlisten = 10.0.0.1:4434\n") != 0)
		return -1;
	relay2_on = 1;
	/* The sim node is the daemon's path (sim_node_add: pio.user). */
	link_slow(relay2.env.path->user);
	return 0;
}

static void relay2_gone(void)
{
	if (!relay2_on)
		return;
	relay2_on = 0;
	zt_daemon_stop(&relay2, "gone for good");
	sim_run(lab.sim, NULL, NULL, 10 * SIM_MS);
	zt_daemon_free(&relay2);
}

static int lab_down(void **state)
{
	int rv;

	(void)state;
	relay2_gone();
	rv = sim_lab_stop(&lab);
	wolfSSL_Cleanup();
	return rv;
}

/* --- helpers --- */

static char *agent_status(void)
{
	return sim_lab_status(&lab.agent);
}

static long long agent_num(const char *key)
{
	char *st = agent_status();
	long long v = sim_json_num(st, key);

	free(st);
	return v;
}

/* The catalog lists the service and at least *arg relay links are up. */
static int catalogs(void *arg)
{
	char *st = agent_status();
	int n = 0, ok;

	for (const char *p = st; p && (p = strstr(p, "\"state\":\"up\"")); p++)
		n++;
	ok = st && strstr(st, "\"service\":\"bulk\"") && n >= *(int *)arg;
	free(st);
	return ok;
}

struct dns_wait {
	uint16_t port;
	int rcode;
	uint32_t a;
};

static int dns_answered(void *arg)
{
	struct dns_wait *w = arg;

	for (struct sim_pkt *q = sim_tun_other.head; q; q = q->next) {
		struct zt_pkt p;
		const uint8_t *m;
		size_t i = 12, n;

		if (zt_pkt_parse(&p, q->data, q->len) != ZT_PKT_OK ||
		    p.proto != ZT_IPPROTO_UDP || p.src.port != 53 ||
		    p.dst.port != w->port || p.payload_len < 12)
			continue;
		m = p.payload;
		n = p.payload_len;
		w->rcode = m[3] & 0x0f;
		while (i < n && m[i])
			i += m[i] + 1u;
		i += 5;
		if (m[7] && i + 16 <= n && m[i + 2] == 0 && m[i + 3] == 1 &&
		    m[i + 10] == 0 && m[i + 11] == 4)
			w->a = (uint32_t)m[i + 12] << 24 |
			       (uint32_t)m[i + 13] << 16 |
			       (uint32_t)m[i + 14] << 8 | m[i + 15];
		return 1;
	}
	return 0;
}

static uint32_t resolve(const char *name, int n_relays)
{
	struct dns_wait w = { .port = next_port++, .rcode = -1 };

	assert_int_equal(sim_run(lab.sim, catalogs, &n_relays, 10 * SIM_S), 1);
	assert_int_equal(sim_tun_dns_query(&lab.tun, w.port, 0x1234, name), 0);
	assert_int_equal(sim_run(lab.sim, dns_answered, &w, SIM_S), 1);
	assert_int_equal(w.rcode, 0);
	assert_int_not_equal(w.a, 0);
	return w.a;
}

static int tcp_settled(void *arg)
{
	struct sim_tcp *c = arg;

	return c->state == SIM_TCP_DONE || c->state == SIM_TCP_RESET;
}

static int got_more(void *arg)
{
	return down.rx_bytes > *(uint64_t *)arg || tcp_settled(&down);
}

/* The session is up on the relay through `via` (a "HOST:PORT" part). */
static int relayed_via(const char *via)
{
	char *st = agent_status();
	char want_path[96];
	int ok;

	snprintf(want_path, sizeof(want_path),
		 "\"path\":\"relayed via relay %s", via);
	ok = st && strstr(st, "\"connector\":\"conn1\",\"state\":\"up\"") &&
	     strstr(st, "\"relayed\":true") && strstr(st, want_path);
	free(st);
	return ok;
}

static int moved(void *arg)
{
	return agent_num("relay_moves") >= *(long long *)arg;
}

static void show(const char *what)
{
	char *a = agent_status();

	if (getenv("SIM_VERBOSE"))
		printf("%s at %.3f s\n  agent: %s\n", what,
		       (double)sim_clock_now() / 1e9, a ? a : "?");
	free(a);
}

/* Starts the download and waits for its first 512 KiB. */
static void download_start(int n_relays)
{
	uint32_t ip = resolve("bulk.corp.internal", n_relays);
	uint64_t some = 512u << 10;

	t_source->size = BULK;
	assert_int_equal(sim_tcp_connect(&down, &lab.tun, &lab.loop, ip, 9001,
					 next_port++),
			 0);
	sim_tcp_send(&down, NULL, 0, 1);
	assert_int_equal(sim_run(lab.sim, got_more, &some, 20 * SIM_S), 1);
	assert_int_equal(down.state, SIM_TCP_OPEN);
}

static void download_done(void)
{
	uint8_t got[32];

	assert_int_equal(sim_run(lab.sim, tcp_settled, &down, 60 * SIM_S), 1);
	assert_int_equal(down.state, SIM_TCP_DONE);
	assert_int_equal(down.rx_bytes, BULK);
	wc_Sha256Final(&down.rx_sha, got);
	assert_memory_equal(got, want, 32);
	sim_tcp_free(&down);
}

/* While a relay is gone the session says so, and is still up. */
static int recovering(void *arg)
{
	char *st = agent_status();
	int ok = st && strstr(st, "\"connector\":\"conn1\",\"state\":\"up\"") &&
		 strstr(st, "\"recovering\":true") &&
		 strstr(st, "lost, re-opening\"");

	(void)arg;
	free(st);
	return ok;
}

/* After `back` (the relay listening again, or gone for good): the session
 * moves within 5 s and bytes flow again; returns the virtual time to the
 * first byte after the move. */
static uint64_t recovered_after(uint64_t back, long long moves)
{
	uint64_t rx, t_move;

	assert_int_equal(sim_run(lab.sim, moved, &moves, 20 * SIM_S), 1);
	t_move = sim_clock_now() - back;
	rx = down.rx_bytes;
	show("moved");
	assert_int_equal(down.state, SIM_TCP_OPEN);
	assert_int_equal(sim_run(lab.sim, got_more, &rx, 10 * SIM_S), 1);
	assert_int_equal(down.state, SIM_TCP_OPEN);
	printf("  moved %.3f s after, first byte again %.3f s after\n",
	       (double)t_move / 1e9, (double)(sim_clock_now() - back) / 1e9);
	assert_true(sim_clock_now() - back < 5 * SIM_S);
	return sim_clock_now() - back;
}

/* --- one relay --- */

/* The relay restarts, saying goodbye (SIGTERM, a service restart): the
 * links drop at once, come back after their backoff, and the session
 * moves onto a new relayed session of the new relay. */
static void test_restart(void **state)
{
	uint64_t back;

	(void)state;
	download_start(1);
	assert_true(relayed_via("10.0.0.1:4433 #"));
	assert_int_equal(agent_num("relay_moves"), 0);
	assert_int_equal(sim_lab_relay_restart(&lab, 0), 0);
	link_slow(lab.n_relay);
	back = sim_clock_now();
	show("relay restarted");
	/* The links close once their goodbyes are read; until the new
	 * relay's session is ready, the session says it is re-opening. */
	assert_int_equal(sim_run(lab.sim, recovering, NULL, 2 * SIM_S), 1);
	recovered_after(back, 1);
	assert_true(relayed_via("10.0.0.1:4433 #"));
	download_done();
	printf("relay restart: %u B download complete and intact\n", BULK);
	assert_int_equal(agent_num("relay_moves"), 1);
	assert_int_equal(agent_num("fallbacks"), 0);
}

/* The relay restarts silently (SIGKILL, a crash): the peers learn of it
 * from the stateless reset the new relay sends to their next packet on
 * the link: the connector's at once (its retransmissions), the agent's
 * at its link's keep-alive at the latest. Within the 20 s bound. */
static void test_restart_silent(void **state)
{
	long long moves = 2;
	uint64_t back;

	(void)state;
	download_start(1);
	assert_int_equal(sim_lab_relay_restart(&lab, 1), 0);
	link_slow(lab.n_relay);
	back = sim_clock_now();
	assert_int_equal(sim_run(lab.sim, moved, &moves, 20 * SIM_S), 1);
	printf("silent relay restart: moved %.3f s after the new relay "
	       "started\n",
	       (double)(sim_clock_now() - back) / 1e9);
	download_done();
	assert_int_equal(agent_num("relay_moves"), 2);
}

/* --- two relays --- */

/* relay2 (10.0.0.1:4434), which carries the session, goes away for
 * good: the session moves to relay1 at once and the download completes. */
static void test_failover(void **state)
{
	uint64_t gone;

	(void)state;
	download_start(2);
	assert_true(relayed_via("10.0.0.1:4434 #"));
	relay2_gone();
	gone = sim_clock_now();
	recovered_after(gone, 1);
	assert_true(relayed_via("10.0.0.1:4433 #"));
	download_done();
	printf("relay failover: %u B download complete and intact\n", BULK);
	assert_int_equal(agent_num("relay_moves"), 1);
}

static int session_down(void *arg)
{
	char *st = agent_status();
	int ok = st && !strstr(st, "\"connector\":\"conn1\",\"state\":\"up\"");

	(void)arg;
	free(st);
	return ok && tcp_settled(&down);
}

/* The last relay restarts but the agent cannot reach it any more: the
 * session waits for a relay 20 s (the agent's bound, below the inner
 * connection's 30 s idle timeout), then the agent ends it and its flows
 * reset. */
static void test_give_up(void **state)
{
	struct sim_link_cfg dark = { .latency_ns = 5 * SIM_MS, .loss = 1.0 };
	uint64_t gone, took;

	(void)state;
	download_start(1);
	assert_true(relayed_via("10.0.0.1:4433 #"));
	assert_int_equal(sim_lab_relay_restart(&lab, 0), 0);
	sim_link(lab.sim, lab.n_agent, lab.n_relay, &dark, NULL);
	gone = sim_clock_now();
	assert_int_equal(sim_run(lab.sim, recovering, NULL, 2 * SIM_S), 1);
	assert_int_equal(sim_run(lab.sim, session_down, NULL, 30 * SIM_S), 1);
	took = sim_clock_now() - gone;
	printf("no relay: the agent ended the session %.3f s after its relay "
	       "went\n",
	       (double)took / 1e9);
	assert_int_equal(down.state, SIM_TCP_RESET);
	assert_true(down.rx_bytes < BULK);
	assert_true(took >= 20 * SIM_S && took < 21 * SIM_S);
	sim_tcp_free(&down);
	link_slow(lab.n_relay);
}

int main(void)
{
	const struct CMUnitTest one[] = {
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_restart_silent),
	};
	const struct CMUnitTest two[] = {
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_give_up),
	};
	int fails = cmocka_run_group_tests_name("one relay", one, lab_up_one,
						lab_down);

	fails += cmocka_run_group_tests_name("two relays", two, lab_up_two,
					     lab_down);
	return fails;
}
