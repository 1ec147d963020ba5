/* In-process tests of relayed sessions and hole punching (docs/
 * ARCHITECTURE.md, "Relayed sessions and hole punching"): the real relay,
 * connector and agent on the simulated network of test/sim, the connector
 * and the agent each behind a NAT of its own (sim_lab_start_nat).
 *
 *   symmetric NATs on both sides: no direct path can exist, the session
 *   stays on the relay (a flow, a transfer under loss);
 *   restricted NATs on both sides (endpoint-independent mapping): the
 *   session starts relayed, is punched direct, falls back to the relay
 *   when the direct path goes dark and comes back when it is lit again,
 *   with a transfer going on across every switch; a probe with a wrong MAC
 *   gets no answer.
 *
 * One lab per group; the tests of a group run in order on it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "log.h"
#include "pkt.h"
#include "sim_lab.h"

#define SERVICES \
	"[service web]\nhostname = web.corp.internal\nports = 80\n" \
	"protocol = tcp\nallow = group:engineering\ntarget = web.sim\n" \
	"[service bulk]\nhostname = bulk.corp.internal\nports = 9000, 9001\n" \
	"protocol = tcp\nallow = group:engineering\ntarget = bulk.sim\n"

static struct sim_lab lab;
static struct sim_target *t_web, *t_sink, *t_source;
static uint16_t next_port = 40000;
static struct sim_tcp c1, up, down;

/* The agent <-> connector link: the direct path, and only it. */
static int direct_dark;
static uint64_t direct_dropped;
/* The latest PING the connector sent the agent on it. */
static uint8_t conn_ping[80];
static int have_conn_ping;

static int direct_filter(void *arg, const struct sim_node *from,
			 const struct sim_node *to, const uint8_t *data,
			 size_t len)
{
	(void)arg;
	(void)to;
	if (from == lab.n_conn && len == 80 && data[0] == 0x20) {
		memcpy(conn_ping, data, 80);
		have_conn_ping = 1;
	}
	if (direct_dark)
		direct_dropped++;
	return direct_dark;
}

static void link_direct(void)
{
	struct sim_link_cfg ac = { .latency_ns = 10 * SIM_MS,
				   .filter = direct_filter };

	sim_link(lab.sim, lab.n_agent, lab.n_conn, &ac, NULL);
}

/* The relay's links slow (2 Mbit/s, 200 ms queue): a transfer on the
 * relayed path lasts long enough to see the switches. */
static void link_relay_slow(void)
{
	struct sim_link_cfg slow = { .latency_ns = 5 * SIM_MS,
				     .rate_bps = 2000000,
				     .queue_ns = 200 * SIM_MS };

	sim_link(lab.sim, lab.n_agent, lab.n_relay, &slow, NULL);
	sim_link(lab.sim, lab.n_conn, lab.n_relay, &slow, NULL);
}

static int lab_up(int agent_nat, int conn_nat)
{
	zt_log_set_level(getenv("SIM_LOG") ? ZT_LOG_DEBUG : ZT_LOG_ERROR);
	wolfSSL_Init();
	direct_dark = 0;
	have_conn_ping = 0;
	if (sim_lab_start_nat(&lab, 0x7e1a7, SERVICES, agent_nat, conn_nat) !=
	    0)
		return -1;
	link_direct();
	t_web = sim_target_add(&lab.targets, "web.sim", "80", SIM_TARGET_ECHO);
	t_sink = sim_target_add(&lab.targets, "bulk.sim", "9000",
				SIM_TARGET_SINK);
	t_source = sim_target_add(&lab.targets, "bulk.sim", "9001",
				  SIM_TARGET_SOURCE);
	return t_web && t_sink && t_source ? 0 : -1;
}

static int lab_up_symmetric(void **state)
{
	(void)state;
	return lab_up(SIM_NAT_SYMMETRIC, SIM_NAT_SYMMETRIC);
}

static int lab_up_restricted(void **state)
{
	(void)state;
	return lab_up(SIM_NAT_RESTRICTED, SIM_NAT_RESTRICTED);
}

static int lab_down(void **state)
{
	int rv;

	(void)state;
	rv = sim_lab_stop(&lab);
	wolfSSL_Cleanup();
	return rv;
}

/* --- helpers --- */

static int catalog_has(void *arg)
{
	char *st = sim_lab_status(&lab.agent);
	int ok = st && strstr(st, "\"service\":\"web\"") &&
		 strstr(st, "\"service\":\"bulk\"");

	(void)arg;
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

static uint32_t resolve(const char *name)
{
	struct dns_wait w = { .port = next_port++, .rcode = -1 };

	assert_int_equal(sim_run(lab.sim, catalog_has, NULL, 10 * SIM_S), 1);
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

static long long num(struct zt_daemon *d, const char *key)
{
	char *st = sim_lab_status(d);
	long long v = sim_json_num(st, key);

	free(st);
	return v;
}

/* The agent's one session is up on the relay (want 1) or direct (0). */
static int session_is(int relayed)
{
	char *st = sim_lab_status(&lab.agent);
	int ok = st && strstr(st, "\"connector\":\"conn1\",\"state\":\"up\"") &&
		 strstr(st,
			relayed ? "\"relayed\":true" : "\"relayed\":false") &&
		 strstr(st, relayed ? "\"path\":\"relayed via " :
				      "\"path\":\"direct ");

	free(st);
	return ok;
}

static int is_relayed(void *arg)
{
	(void)arg;
	return session_is(1);
}

static int is_direct(void *arg)
{
	(void)arg;
	return session_is(0);
}

static void show(const char *what)
{
	char *a = sim_lab_status(&lab.agent);
	char *r = sim_lab_status(&lab.relay);

	if (getenv("SIM_VERBOSE"))
		printf("%s at %.3f s\n  agent: %s\n  relay: %s\n", what,
		       (double)sim_clock_now() / 1e9, a ? a : "?", r ? r : "?");
	free(a);
	free(r);
}

/* --- symmetric NATs on both sides: relayed only --- */

static void test_relayed_handshake(void **state)
{
	static uint8_t msg[3000];
	uint32_t ip = resolve("web.corp.internal");
	char *st;

	(void)state;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(sim_tcp_connect(&c1, &lab.tun, &lab.loop, ip, 80,
					 next_port++),
			 0);
	sim_tcp_send(&c1, msg, sizeof(msg), 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &c1, 20 * SIM_S), 1);
	assert_int_equal(c1.state, SIM_TCP_DONE);
	assert_int_equal(c1.rx_bytes, sizeof(msg));
	assert_memory_equal(c1.rx_head, msg, sizeof(msg));
	assert_int_equal(t_web->bytes_in, sizeof(msg));
	sim_tcp_free(&c1);
	show("relayed flow done");
	assert_true(session_is(1));
	/* punching ran but found nothing: still relayed a few seconds on */
	assert_int_equal(sim_run(lab.sim, is_direct, NULL, 5 * SIM_S), 0);
	assert_true(session_is(1));
	assert_int_equal(num(&lab.agent, "upgrades"), 0);
	/* the relay lists the session, with bytes both ways */
	st = sim_lab_status(&lab.relay);
	assert_non_null(st);
	assert_int_equal(sim_json_num(st, "relayed\":{\"sessions"), 1);
	assert_non_null(strstr(st, "\"agent\":\"alice\",\"connector\":"
				   "\"conn1\",\"state\":\"ready\""));
	assert_true(sim_json_num(st, "a2c_bytes") > (long long)sizeof(msg));
	assert_true(sim_json_num(st, "c2a_bytes") > (long long)sizeof(msg));
	free(st);
	st = sim_lab_status(&lab.conn);
	assert_non_null(st);
	assert_true(sim_json_num(st, "relayed\":{\"sessions") >= 1);
	free(st);
}

#define RBULK (2u << 20)

/* 2 MiB up and 2 MiB down on the relayed path while the agent's link to
 * the relay loses 3% each way: bit-exact. */
static void test_relayed_transfer_loss(void **state)
{
	struct sim_link_cfg bad = { .latency_ns = 5 * SIM_MS,
				    .jitter_ns = SIM_MS,
				    .rate_bps = 20000000,
				    .queue_ns = 50 * SIM_MS,
				    .loss = 0.03 };
	struct sim_link_cfg near = { .latency_ns = 5 * SIM_MS };
	uint32_t ip = resolve("bulk.corp.internal");
	long long fwd0 = num(&lab.relay, "forwarded");
	struct sim_stats before, after;
	uint8_t want[32], got[32];
	uint64_t t0 = sim_clock_now();

	(void)state;
	pattern_sha(RBULK, want);
	t_source->size = RBULK;
	sim_stats(lab.sim, &before);
	sim_link(lab.sim, lab.n_agent, lab.n_relay, &bad, NULL);
	assert_int_equal(sim_tcp_connect(&up, &lab.tun, &lab.loop, ip, 9000,
					 next_port++),
			 0);
	sim_tcp_send(&up, NULL, RBULK, 1);
	assert_int_equal(sim_tcp_connect(&down, &lab.tun, &lab.loop, ip, 9001,
					 next_port++),
			 0);
	sim_tcp_send(&down, NULL, 0, 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &up, 200 * SIM_S), 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &down, 200 * SIM_S), 1);
	assert_int_equal(up.state, SIM_TCP_DONE);
	assert_int_equal(down.state, SIM_TCP_DONE);
	assert_int_equal(t_sink->bytes_in, RBULK);
	wc_Sha256Final(&t_sink->sha_in, got);
	assert_memory_equal(got, want, 32);
	assert_int_equal(down.rx_bytes, RBULK);
	wc_Sha256Final(&down.rx_sha, got);
	assert_memory_equal(got, want, 32);
	sim_stats(lab.sim, &after);
	assert_true(after.lost - before.lost > 50);
	/* it all went through the relay */
	assert_true(session_is(1));
	assert_true(num(&lab.relay, "forwarded") - fwd0 > 2 * (RBULK / 1400));
	printf("relayed transfer: 2 x %u B in %.1f s virtual, %llu lost\n",
	       RBULK, (double)(sim_clock_now() - t0) / 1e9,
	       (unsigned long long)(after.lost - before.lost));
	sim_link(lab.sim, lab.n_agent, lab.n_relay, &near, NULL);
	sim_tcp_free(&up);
	sim_tcp_free(&down);
}

/* --- restricted NATs on both sides: punched direct --- */

#define DBULK (8u << 20)
static uint8_t dwant[32];
static uint64_t session_t0;

static int got_at_least(void *arg)
{
	return down.rx_bytes >= *(uint64_t *)arg || tcp_settled(&down);
}

/* The session starts on the relay (the connector's NAT lets nothing in
 * until it probes), is direct within a few seconds, and a download that
 * began on the relay goes on across the switch. */
static void test_upgrade(void **state)
{
	uint32_t ip;
	uint64_t t_direct, at_switch;

	(void)state;
	link_relay_slow();
	ip = resolve("bulk.corp.internal");
	pattern_sha(DBULK, dwant);
	t_source->size = DBULK;
	session_t0 = sim_clock_now();
	assert_int_equal(sim_tcp_connect(&down, &lab.tun, &lab.loop, ip, 9001,
					 next_port++),
			 0);
	sim_tcp_send(&down, NULL, 0, 1);
	assert_int_equal(sim_run(lab.sim, is_relayed, NULL, 5 * SIM_S), 1);
	show("relayed");
	assert_int_equal(sim_run(lab.sim, is_direct, NULL, 5 * SIM_S), 1);
	t_direct = sim_clock_now() - session_t0;
	at_switch = down.rx_bytes;
	show("direct");
	/* it was relayed first: the relay carried part of the download */
	assert_true(num(&lab.relay, "c2a_bytes") > 0);
	assert_int_equal(down.state, SIM_TCP_OPEN);
	assert_true(at_switch > 0 && at_switch < DBULK);
	assert_true(num(&lab.agent, "upgrades") >= 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &down, 60 * SIM_S), 1);
	assert_int_equal(down.state, SIM_TCP_DONE);
	assert_int_equal(down.rx_bytes, DBULK);
	{
		uint8_t got[32];

		wc_Sha256Final(&down.rx_sha, got);
		assert_memory_equal(got, dwant, 32);
	}
	printf("upgrade: direct %.3f s after the first SYN, %llu of %u B "
	       "before the switch, done at %.3f s\n",
	       (double)t_direct / 1e9, (unsigned long long)at_switch, DBULK,
	       (double)(sim_clock_now() - session_t0) / 1e9);
	sim_tcp_free(&down);
	show("download done");
	assert_true(session_is(0));
}

static int fell_back(void *arg)
{
	(void)arg;
	return session_is(1) && num(&lab.agent, "fallbacks") >= 1;
}

static int upgraded_twice(void *arg)
{
	(void)arg;
	return session_is(0) && num(&lab.agent, "upgrades") >= 2;
}

/* The direct path goes dark (the relay's links stay up): back on the
 * relay within 10 s, the download goes on; the direct path lit again:
 * direct again; every byte intact. */
static void test_fallback_and_back(void **state)
{
	uint32_t ip = resolve("bulk.corp.internal");
	uint64_t want = 1u << 20, t0, t_fb, t_up, b_fb, b_up;
	uint8_t got[32];

	(void)state;
	assert_true(session_is(0));
	t_source->size = DBULK;
	assert_int_equal(sim_tcp_connect(&down, &lab.tun, &lab.loop, ip, 9001,
					 next_port++),
			 0);
	sim_tcp_send(&down, NULL, 0, 1);
	assert_int_equal(sim_run(lab.sim, got_at_least, &want, 10 * SIM_S), 1);
	assert_int_equal(down.state, SIM_TCP_OPEN);
	assert_true(session_is(0));

	direct_dark = 1;
	t0 = sim_clock_now();
	assert_int_equal(sim_run(lab.sim, fell_back, NULL, 10 * SIM_S), 1);
	t_fb = sim_clock_now() - t0;
	b_fb = down.rx_bytes;
	show("fell back");
	/* 6.5 s of silence, less a keep-alive interval */
	assert_true(t_fb >= 6 * SIM_S);
	assert_int_equal(down.state, SIM_TCP_OPEN);
	/* the download goes on through the relay */
	want = b_fb + (256u << 10);
	assert_int_equal(sim_run(lab.sim, got_at_least, &want, 10 * SIM_S), 1);
	assert_int_equal(down.state, SIM_TCP_OPEN);
	assert_true(session_is(1));

	direct_dark = 0;
	t0 = sim_clock_now();
	assert_int_equal(sim_run(lab.sim, upgraded_twice, NULL, 30 * SIM_S), 1);
	t_up = sim_clock_now() - t0;
	b_up = down.rx_bytes;
	show("direct again");
	assert_true(num(&lab.agent, "fallbacks") >= 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &down, 60 * SIM_S), 1);
	assert_int_equal(down.state, SIM_TCP_DONE);
	assert_int_equal(down.rx_bytes, DBULK);
	wc_Sha256Final(&down.rx_sha, got);
	assert_memory_equal(got, dwant, 32);
	printf("fallback: relayed %.3f s after the direct path went dark "
	       "(%llu B in), direct again %.3f s after it was lit (%llu B in), "
	       "%llu datagrams dropped on it\n",
	       (double)t_fb / 1e9, (unsigned long long)b_fb, (double)t_up / 1e9,
	       (unsigned long long)b_up, (unsigned long long)direct_dropped);
	sim_tcp_free(&down);
	show("download done");
	assert_true(session_is(0));
}

/* What reached the test's own node. */
static uint64_t inj_rx, inj_pongs;

static void inj_input(void *arg, const struct sockaddr *from,
		      socklen_t from_len, const uint8_t *data, size_t len)
{
	(void)arg;
	(void)from;
	(void)from_len;
	inj_rx++;
	if (len == 80 && data[0] == 0x21)
		inj_pongs++;
}

static int inj_got_pong(void *arg)
{
	(void)arg;
	return inj_pongs > 0;
}

/* A PING of the session's id with a wrong MAC, to the agent's public
 * address from an address the agent's NAT lets in (the connector NAT's
 * IP, another port): no answer at all (no PONG, no stateless reset), and
 * the session does not move. The same PING with its MAC intact, copied
 * from the wire, is a replay from another address: no answer either
 * (before replays were refused, this very setup got its PONG back, so the
 * injector can be answered). */
static void test_bad_mac_probe(void **state)
{
	struct zt_addr to = { .family = AF_INET, .port = 20000 };
	struct sockaddr_storage ss;
	struct sim_node *inj;
	struct sim_link_cfg near = { .latency_ns = 5 * SIM_MS };
	uint8_t bad[80];
	socklen_t sl;
	long long ups = num(&lab.agent, "upgrades");
	long long fbs = num(&lab.agent, "fallbacks");
	char *st = sim_lab_status(&lab.agent);

	(void)state;
	assert_non_null(st);
	/* the agent's one mapping (endpoint-independent) */
	assert_non_null(
		strstr(st, "\"observed_address\":\"203.0.113.3:20000\""));
	free(st);
	assert_true(have_conn_ping);
	assert_true(session_is(0));
	inet_pton(AF_INET, "203.0.113.3", to.ip);
	sl = zt_addr_to_sockaddr(&to, &ss);
	inj = sim_node_add(lab.sim, "10.0.0.9", 7777);
	assert_non_null(inj);
	sim_nat_attach(lab.nat_conn, inj);
	assert_int_equal(sim_link(lab.sim, inj, lab.n_agent, &near, NULL), 0);
	sim_node_rx(inj, inj_input, NULL);

	memcpy(bad, conn_ping, 80);
	bad[79] ^= 0x01;
	for (int i = 0; i < 5; i++) {
		inj->pio.ops->send(&inj->pio, (struct sockaddr *)&ss, sl, bad,
				   80);
		sim_run(lab.sim, NULL, NULL, 200 * SIM_MS);
	}
	/* a flipped byte in the session's id, too */
	memcpy(bad, conn_ping, 80);
	bad[9] ^= 0x01;
	inj->pio.ops->send(&inj->pio, (struct sockaddr *)&ss, sl, bad, 80);
	sim_run(lab.sim, NULL, NULL, 2 * SIM_S);
	assert_int_equal(inj->st.sent, 6);
	assert_int_equal(inj->st.filtered + inj->st.lost + inj->st.no_route, 0);
	assert_int_equal(inj_rx, 0);
	assert_true(session_is(0));
	assert_int_equal(num(&lab.agent, "upgrades"), ups);
	assert_int_equal(num(&lab.agent, "fallbacks"), fbs);

	/* the genuine PING, copied from the wire and sent from elsewhere:
	 * its MAC is right but it is a replay, and gets no answer either */
	inj->pio.ops->send(&inj->pio, (struct sockaddr *)&ss, sl, conn_ping,
			   80);
	assert_int_equal(sim_run(lab.sim, inj_got_pong, NULL, SIM_S), 0);
	assert_int_equal(inj->st.sent, 7);
	assert_int_equal(inj->st.filtered + inj->st.lost + inj->st.no_route, 0);
	assert_int_equal(inj_rx, 0);
	printf("bad MAC: 6 forged probes and 1 replayed one, all delivered, "
	       "none answered\n");
}

int main(void)
{
	const struct CMUnitTest symmetric[] = {
		cmocka_unit_test(test_relayed_handshake),
		cmocka_unit_test(test_relayed_transfer_loss),
	};
	const struct CMUnitTest restricted[] = {
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_fallback_and_back),
		cmocka_unit_test(test_bad_mac_probe),
	};
	int fails = cmocka_run_group_tests_name("symmetric", symmetric,
						lab_up_symmetric, lab_down);

	fails += cmocka_run_group_tests_name("restricted", restricted,
					     lab_up_restricted, lab_down);
	return fails;
}
