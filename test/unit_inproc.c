/* In-process tests: the real relay, connector and agent in this process
 * over the simulated network of test/sim (virtual clock, in-memory paths,
 * an in-memory TUN and in-memory targets). No root, no network socket.
 * The harness itself is tested in unit_sim.c.
 * One lab serves every test, in order: a session the agent opened stays
 * up for the next test, as it would on a real machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "flowhdr.h"
#include "log.h"
#include "pkt.h"
#include "sim_lab.h"

#define SERVICES(web_ports) \
	"[service web]\nhostname = web.corp.internal\nports = " web_ports \
	"\nprotocol = tcp\nallow = group:engineering\ntarget = web.sim\n" \
	"[service bulk]\nhostname = bulk.corp.internal\nports = 9000, 9001\n" \
	"protocol = tcp\nallow = group:engineering\ntarget = bulk.sim\n" \
	"[service echo]\nhostname = echo.corp.internal\nports = 7\n" \
	"protocol = udp\nallow = group:engineering\ntarget = echo.sim\n" \
	"[service secret]\nhostname = secret.corp.internal\nports = 22\n" \
	"protocol = tcp\nallow = user:bob\ntarget = secret.sim\n"

static struct sim_lab lab;
static struct sim_target *t_web80, *t_web81, *t_sink, *t_source, *t_echo,
	*t_secret;
static uint16_t next_port = 40000;
/* Static: a failed assertion leaves a connection open, not dangling. */
static struct sim_tcp c1, up, down;

/* --- helpers --- */

static int catalog_has(void *arg)
{
	char *st = sim_lab_status(&lab.agent);
	int ok = st && strstr(st, "\"service\":\"web\"") &&
		 strstr(st, "\"service\":\"bulk\"") &&
		 strstr(st, "\"service\":\"echo\"");

	(void)arg;
	free(st);
	return ok;
}

struct dns_wait {
	uint16_t port;
	int rcode;  /* -1 until the answer */
	uint32_t a; /* host order; 0: none */
};

/* Takes the stub's answer to port out of what the agent wrote. */
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
		i += 5; /* root, type, class */
		/* First answer: a pointer name, type A, class, TTL, rdlen 4. */
		if (m[7] && i + 16 <= n && m[i + 2] == 0 && m[i + 3] == 1 &&
		    m[i + 10] == 0 && m[i + 11] == 4)
			w->a = (uint32_t)m[i + 12] << 24 |
			       (uint32_t)m[i + 13] << 16 |
			       (uint32_t)m[i + 14] << 8 | m[i + 15];
		return 1;
	}
	return 0;
}

static struct dns_wait resolve(const char *name)
{
	struct dns_wait w = { .port = next_port++, .rcode = -1 };

	assert_int_equal(sim_tun_dns_query(&lab.tun, w.port, 0x1234, name), 0);
	assert_int_equal(sim_run(lab.sim, dns_answered, &w, SIM_S), 1);
	return w;
}

static int tcp_settled(void *arg)
{
	struct sim_tcp *c = arg;

	return c->state == SIM_TCP_DONE || c->state == SIM_TCP_RESET;
}

static long long agent_num(const char *key)
{
	char *st = sim_lab_status(&lab.agent);
	long long v = sim_json_num(st, key);

	free(st);
	return v;
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

/* --- setup --- */

static int lab_up(void **state)
{
	(void)state;
	zt_log_set_level(getenv("SIM_LOG") ? ZT_LOG_DEBUG : ZT_LOG_ERROR);
	wolfSSL_Init();
	if (sim_lab_start(&lab, 0x5eed, SERVICES("80, 81")) != 0)
		return -1;
	t_web80 =
		sim_target_add(&lab.targets, "web.sim", "80", SIM_TARGET_ECHO);
	t_web81 =
		sim_target_add(&lab.targets, "web.sim", "81", SIM_TARGET_ECHO);
	t_sink = sim_target_add(&lab.targets, "bulk.sim", "9000",
				SIM_TARGET_SINK);
	t_source = sim_target_add(&lab.targets, "bulk.sim", "9001",
				  SIM_TARGET_SOURCE);
	t_echo = sim_target_add(&lab.targets, "echo.sim", "7",
				SIM_TARGET_UDP_ECHO);
	t_secret = sim_target_add(&lab.targets, "secret.sim", "22",
				  SIM_TARGET_ECHO);
	return t_web80 && t_web81 && t_sink && t_source && t_echo && t_secret ?
		       0 :
		       -1;
}

static int lab_down(void **state)
{
	int rv;

	(void)state;
	rv = sim_lab_stop(&lab);
	wolfSSL_Cleanup();
	return rv;
}

/* --- tests --- */

/* The relay sends alice the services her group may use, and only those:
 * the DNS stub answers their names and refuses the one for bob. */
static void test_catalog(void **state)
{
	struct dns_wait w;
	char *st;

	(void)state;
	assert_int_equal(sim_run(lab.sim, catalog_has, NULL, 10 * SIM_S), 1);
	st = sim_lab_status(&lab.agent);
	assert_non_null(st);
	assert_null(strstr(st, "\"service\":\"secret\""));
	if (getenv("SIM_LOG"))
		printf("agent status: %s\n", st);
	/* the connector is known by its simulated address only: the observed
	 * one, and its path's local one (the same here), none of the host's */
	assert_non_null(strstr(st, "\"connector\":\"conn1\",\"addresses\":"
				   "[\"10.0.0.2:5000\"]"));
	/* the relay saw the agent at its NAT's mapping */
	assert_non_null(
		strstr(st, "\"observed_address\":\"203.0.113.3:20000\""));
	free(st);
	w = resolve("web.corp.internal");
	assert_int_equal(w.rcode, 0);
	assert_int_equal(w.a >> 22, 0x64400000u >> 22); /* in 100.64.0.0/10 */
	w = resolve("secret.corp.internal");
	assert_int_equal(w.rcode, 5); /* REFUSED */
	assert_int_equal(w.a, 0);
}

/* Neither the agent nor the connector has a flow left. */
static int no_flows(void *arg)
{
	char *a = sim_lab_status(&lab.agent);
	char *k = sim_lab_status(&lab.conn);
	int ok = a && k && strstr(a, "\"flows\":[]") && !strstr(k, "\"age_s\"");

	(void)arg;
	free(a);
	free(k);
	return ok;
}

/* A TCP flow through lwIP, the session, the connector and the target:
 * bytes both ways and a clean close (FINs, no RST). */
static void test_tcp_echo(void **state)
{
	struct dns_wait w = resolve("web.corp.internal");
	static uint8_t msg[3000];
	struct sim_tcp *c = &c1;

	(void)state;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(sim_tcp_connect(c, &lab.tun, &lab.loop, w.a, 80,
					 next_port++),
			 0);
	sim_tcp_send(c, msg, sizeof(msg), 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, c, 20 * SIM_S), 1);
	assert_int_equal(c->state, SIM_TCP_DONE);
	assert_int_equal(c->rx_bytes, sizeof(msg));
	assert_memory_equal(c->rx_head, msg, sizeof(msg));
	assert_int_equal(t_web80->dials, 1);
	assert_int_equal(t_web80->bytes_in, sizeof(msg));
	assert_int_equal(t_web80->fins_in, 1);
	assert_int_equal(t_web80->resets, 0);
	sim_tcp_free(c);
	/* and the flow is gone on both sides */
	assert_int_equal(sim_run(lab.sim, no_flows, NULL, 5 * SIM_S), 1);
}

/* The agent's catalog has web with port 81 again (ports != 0) or
 * without it (ports == 0). */
static int web81_is(void *arg)
{
	char *st = sim_lab_status(&lab.agent);
	int want = *(int *)arg;
	int has = st && strstr(st, "\"service\":\"web\"") &&
		  strstr(st, "[81,81]");

	free(st);
	return st && catalog_has(NULL) && has == want;
}

static int got_bytes(void *arg)
{
	struct sim_tcp *c = arg;

	return c->rx_bytes >= 100 || c->state == SIM_TCP_RESET;
}

/* A reload checks live flows too: an open flow to port 81 is reset both
 * ways when the connector's new services drop the port. */
static void test_reload_resets_live_flow(void **state)
{
	struct dns_wait w = resolve("web.corp.internal");
	uint64_t resets = t_web81->resets;
	struct sim_tcp *c = &c1;
	int yes = 1;

	(void)state;
	assert_int_equal(sim_tcp_connect(c, &lab.tun, &lab.loop, w.a, 81,
					 next_port++),
			 0);
	sim_tcp_send(c, NULL, 100, 0); /* stays open */
	assert_int_equal(sim_run(lab.sim, got_bytes, c, 5 * SIM_S), 1);
	assert_int_equal(c->state, SIM_TCP_OPEN);
	assert_int_equal(sim_lab_connector_reload(&lab, SERVICES("80")), 0);
	assert_int_equal(sim_run(lab.sim, tcp_settled, c, 5 * SIM_S), 1);
	assert_int_equal(c->state, SIM_TCP_RESET);
	assert_int_equal(t_web81->resets, resets + 1);
	sim_tcp_free(c);
	assert_int_equal(sim_lab_connector_reload(&lab, SERVICES("80, 81")), 0);
	assert_int_equal(sim_run(lab.sim, no_flows, NULL, 5 * SIM_S), 1);
	assert_int_equal(sim_run(lab.sim, web81_is, &yes, 5 * SIM_S), 1);
}

/* The connector checks every flow itself: after it drops port 81 (a
 * reload), a SYN the agent still lets through (its catalog is not new
 * yet) is refused by the connector, with no dial, and reaches the
 * application as a RST one round trip later. Once the new catalog is in,
 * the agent refuses the same SYN itself, at once. */
static void test_connector_recheck(void **state)
{
	struct dns_wait w = resolve("web.corp.internal");
	long long denied = agent_num("flows_denied");
	uint64_t dials81 = t_web81->dials;
	struct sim_tcp *c = &c1;
	int yes = 1, no = 0;

	(void)state;
	assert_true(denied >= 0);
	assert_int_equal(sim_lab_connector_reload(&lab, SERVICES("80")), 0);
	assert_int_equal(sim_tcp_connect(c, &lab.tun, &lab.loop, w.a, 81,
					 next_port++),
			 0);
	assert_int_equal(sim_run(lab.sim, tcp_settled, c, 5 * SIM_S), 1);
	assert_int_equal(c->state, SIM_TCP_RESET);
	assert_true(c->reset_at - c->syn_at >=
		    20 * SIM_MS); /* agent <-> connector */
	assert_int_equal(agent_num("flows_denied"), denied);
	assert_int_equal(t_web81->dials, dials81);
	sim_tcp_free(c);

	/* The catalog catches up: now the agent's own policy says no. */
	assert_int_equal(sim_run(lab.sim, web81_is, &no, 5 * SIM_S), 1);
	assert_int_equal(sim_tcp_connect(c, &lab.tun, &lab.loop, w.a, 81,
					 next_port++),
			 0);
	assert_int_equal(sim_run(lab.sim, tcp_settled, c, SIM_S), 1);
	assert_int_equal(c->state, SIM_TCP_RESET);
	assert_true(c->reset_at - c->syn_at < SIM_MS);
	assert_int_equal(agent_num("flows_denied"), denied + 1);
	assert_int_equal(t_web81->dials, dials81);
	sim_tcp_free(c);
	assert_int_equal(sim_lab_connector_reload(&lab, SERVICES("80, 81")), 0);
	assert_int_equal(sim_run(lab.sim, web81_is, &yes, 5 * SIM_S), 1);
}

/* --- a session driven by hand: a test role on the daemon's machinery ---
 * It has alice's certificate and asks the connector for flows the real
 * agent would never ask for, so that the connector's own check is what
 * answers (the role of ctrlpoke in the netns tests). */

static const struct {
	const char *service;
	uint16_t port;
	int want;
} pokes[] = {
	{ "web", 80, ZT_FLOW_OK },            /* the control: allowed */
	{ "secret", 22, ZT_FLOW_DENIED },     /* allow user:bob */
	{ "web", 8080, ZT_FLOW_NO_SERVICE },  /* port outside the service */
	{ "nosuch", 80, ZT_FLOW_NO_SERVICE }, /* no such service */
};
#define N_POKES (sizeof(pokes) / sizeof(pokes[0]))
static int poke_status[N_POKES], poke_fin[N_POKES];

static void poke_established(struct zt_qconn *c, void *owner)
{
	uint32_t ip = htonl(0x64400101u);

	(void)owner;
	for (size_t i = 0; i < N_POKES; i++) {
		struct zt_flow_hdr h = { .proto = ZT_IPPROTO_TCP };
		uint8_t buf[ZT_FLOW_HDR_MAX];
		int64_t sid;
		size_t n;

		h.dst.family = AF_INET;
		h.dst.port = pokes[i].port;
		memcpy(h.dst.ip, &ip, 4);
		snprintf(h.service, sizeof(h.service), "%s", pokes[i].service);
		n = zt_flow_hdr_encode(&h, buf, sizeof(buf));
		if (n && zt_qconn_stream_open(c, &sid) == 0 &&
		    sid / 4 == (int64_t)i)
			zt_qconn_stream_send(c, sid, buf, n, 0);
	}
}

static void poke_data(struct zt_qconn *c, int64_t sid, const uint8_t *d,
		      size_t len, int fin, void *owner)
{
	size_t i = (size_t)sid / 4;

	(void)owner;
	zt_qconn_stream_consumed(c, sid, len);
	if (i >= N_POKES)
		return;
	if (len && poke_status[i] < 0)
		poke_status[i] = d[0];
	poke_fin[i] |= fin;
}

static const struct zt_qconn_ops poke_qops = {
	.established = poke_established,
	.stream_data = poke_data,
};

static int poke_start(struct zt_daemon *d)
{
	struct zt_addr to = { .family = AF_INET, .port = 5000 };
	struct sockaddr_storage ss;
	socklen_t len;
	struct zt_qconn *c;

	inet_pton(AF_INET, "10.0.0.2", to.ip);
	len = zt_addr_to_sockaddr(&to, &ss);
	return zt_ep_connect(d->env.ep, d->env.path, (struct sockaddr *)&ss,
			     len, NULL, ZT_ROLE_CONNECTOR, &poke_qops, NULL, &c,
			     zt_now());
}

static void poke_stop(struct zt_daemon *d)
{
	(void)d;
}

static void poke_status_op(struct zt_daemon *d, struct zt_sb *b, int json)
{
	zt_daemon_status_head(d, b, json);
}

static const struct zt_role_ops poke_ops = {
	.name = "agent",
	.role = ZT_ROLE_AGENT,
	.start = poke_start,
	.stop = poke_stop,
	.status = poke_status_op,
};

static int pokes_answered(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N_POKES; i++)
		if (poke_status[i] < 0)
			return 0;
	return 1;
}

/* The connector answers each header from its own configuration and the
 * certificate: OK for an allowed one (dialled), a refusal with FIN and no
 * dial for the others. */
static void test_connector_own_check(void **state)
{
	static struct zt_daemon poke;
	uint64_t web = t_web80->dials;

	(void)state;
	for (size_t i = 0; i < N_POKES; i++)
		poke_status[i] = -1, poke_fin[i] = 0;
	/* the config loader wants a relay; this role dials none */
	assert_int_equal(sim_lab_extra(&lab, &poke, &poke_ops, "10.0.0.4", 7000,
				       "agent",
				       "[relays]\nrelay = 10.0.0.1:4433\n"),
			 0);
	assert_int_equal(sim_run(lab.sim, pokes_answered, NULL, 10 * SIM_S), 1);
	for (size_t i = 0; i < N_POKES; i++) {
		assert_int_equal(poke_status[i], pokes[i].want);
		assert_int_equal(poke_fin[i], pokes[i].want != ZT_FLOW_OK);
	}
	assert_int_equal(t_web80->dials, web + 1);
	assert_int_equal(t_secret->dials, 0);
	zt_daemon_stop(&poke, "test end");
	sim_run(lab.sim, NULL, NULL, 100 * SIM_MS);
	zt_daemon_free(&poke);
}

/* A port outside the service is denied by the agent at once: a RST in
 * the same instant, nothing sent to the connector. UDP outside the
 * service: an ICMP administratively prohibited. */
static void test_deny(void **state)
{
	struct dns_wait w = resolve("web.corp.internal");
	long long denied = agent_num("flows_denied");
	struct sim_tcp *c = &c1;
	uint64_t dials = t_web80->dials + t_web81->dials;
	int icmp = 0;

	(void)state;
	assert_int_equal(sim_tcp_connect(c, &lab.tun, &lab.loop, w.a, 8080,
					 next_port++),
			 0);
	/* No time passes: the RST is the agent's answer to the SYN. */
	assert_int_equal(sim_run(lab.sim, tcp_settled, c, 0), 1);
	assert_int_equal(c->state, SIM_TCP_RESET);
	assert_int_equal(c->reset_at, c->syn_at);
	assert_int_equal(agent_num("flows_denied"), denied + 1);
	/* a synthetic address no name was given */
	assert_int_equal(sim_tcp_connect(c, &lab.tun, &lab.loop, 0x6440fe01u,
					 80, next_port++),
			 0);
	assert_int_equal(sim_run(lab.sim, tcp_settled, c, 0), 1);
	assert_int_equal(c->state, SIM_TCP_RESET);
	assert_int_equal(agent_num("flows_denied"), denied + 2);
	sim_tcp_free(c);

	sim_tun_other_clear();
	w = resolve("echo.corp.internal");
	sim_tun_other_clear();
	assert_int_equal(sim_tun_send_udp(&lab.tun, next_port++, w.a, 8,
					  (const uint8_t *)"x", 1),
			 0);
	sim_run(lab.sim, NULL, NULL, 0);
	for (struct sim_pkt *q = sim_tun_other.head; q; q = q->next) {
		struct zt_pkt p;

		if (zt_pkt_parse(&p, q->data, q->len) == ZT_PKT_OK &&
		    p.proto == ZT_IPPROTO_ICMP && p.icmp_type == 3 &&
		    p.icmp_code == 13)
			icmp++;
	}
	assert_int_equal(icmp, 1);
	assert_int_equal(t_web80->dials + t_web81->dials, dials);
	assert_int_equal(agent_num("flows_denied"), denied + 3);
}

struct udp_wait {
	uint32_t from;
	uint16_t port;
	int n;
};

static int udp_replies(void *arg)
{
	struct udp_wait *u = arg;
	int n = 0;

	for (struct sim_pkt *q = sim_tun_other.head; q; q = q->next) {
		struct zt_pkt p;
		char want[32];

		if (zt_pkt_parse(&p, q->data, q->len) != ZT_PKT_OK ||
		    p.proto != ZT_IPPROTO_UDP || p.dst.port != u->port ||
		    p.src.port != 7)
			continue;
		snprintf(want, sizeof(want), "ping %d", n);
		if (p.payload_len == strlen(want) &&
		    !memcmp(p.payload, want, p.payload_len))
			n++;
	}
	u->n = n;
	return n == 20;
}

/* UDP through DATAGRAM frames: 20 echoes come back, in order, intact. */
static void test_udp_echo(void **state)
{
	struct dns_wait w = resolve("echo.corp.internal");
	struct udp_wait u = { .from = w.a, .port = next_port++ };

	(void)state;
	sim_tun_other_clear();
	for (int i = 0; i < 20; i++) {
		char m[32];

		snprintf(m, sizeof(m), "ping %d", i);
		assert_int_equal(sim_tun_send_udp(&lab.tun, u.port, w.a, 7,
						  (const uint8_t *)m,
						  strlen(m)),
				 0);
		sim_run(lab.sim, NULL, NULL, 5 * SIM_MS);
	}
	assert_int_equal(sim_run(lab.sim, udp_replies, &u, 5 * SIM_S), 1);
	assert_int_equal(u.n, 20);
	assert_int_equal(t_echo->dials, 1);
}

static int catalog_empty(void *arg)
{
	char *st = sim_lab_status(&lab.agent);
	int ok = st && strstr(st, "\"catalog\":[]");

	(void)arg;
	free(st);
	return ok;
}

/* The connector's link to the relay goes dark: both ends time out, the
 * relay drops its services from alice's catalog (the stub refuses the
 * name), and when the link is back the connector's relay link reconnects
 * by itself (backoff) and registers again. */
static void test_relay_link_outage(void **state)
{
	struct sim_link_cfg dark = { .latency_ns = 5 * SIM_MS, .loss = 1.0 };
	struct sim_link_cfg near = { .latency_ns = 5 * SIM_MS };
	uint64_t t0 = sim_clock_now();
	struct dns_wait w;

	(void)state;
	sim_link(lab.sim, lab.n_conn, lab.n_relay, &dark, NULL);
	assert_int_equal(sim_run(lab.sim, catalog_empty, NULL, 120 * SIM_S), 1);
	/* not before the idle timeout (30 s) less one keep-alive interval
	 * (10 s): the last packet that got through may be that old */
	assert_true(sim_clock_now() - t0 >= 19 * SIM_S);
	w = resolve("web.corp.internal");
	assert_int_equal(w.rcode, 5);
	sim_link(lab.sim, lab.n_conn, lab.n_relay, &near, NULL);
	t0 = sim_clock_now();
	assert_int_equal(sim_run(lab.sim, catalog_has, NULL, 60 * SIM_S), 1);
	/* the backoff is capped at 15 s, plus a handshake */
	assert_true(sim_clock_now() - t0 <= 17 * SIM_S);
	w = resolve("web.corp.internal");
	assert_int_equal(w.rcode, 0);
}

static int catalog_lost_or_back(void *arg)
{
	int *phase = arg;

	if (*phase == 0 && catalog_empty(NULL))
		*phase = 1;
	return *phase == 1 && catalog_has(NULL);
}

/* The relay dies without a word and a new one takes its place: the
 * agent's and the connector's next packets (keep-alive, 10 s) get
 * stateless resets from the new relay, which shares the old one's secret,
 * and they reconnect at once, not after their 30 s idle timeout. */
static void test_relay_restart(void **state)
{
	uint64_t t0 = sim_clock_now();
	struct zt_ep_stats st;
	int phase = 0;

	(void)state;
	assert_int_equal(sim_lab_relay_restart(&lab, 1), 0);
	assert_int_equal(
		sim_run(lab.sim, catalog_lost_or_back, &phase, 60 * SIM_S), 1);
	assert_true(sim_clock_now() - t0 < 15 * SIM_S);
	zt_ep_stats(lab.relay.ep, &st);
	assert_true(st.reset_sent >= 2); /* the agent's and the connector's */
}

static int observed_moved(void *arg)
{
	char *st = sim_lab_status(&lab.agent);
	const char *old = arg;
	const char *p = st ? strstr(st, "\"observed_address\":\"") : NULL;
	int moved = p && strncmp(p, old, strlen(old)) != 0 &&
		    strstr(p, "\"observed_address\":\"203.0.113.3:");

	free(st);
	return moved;
}

/* The agent's NAT rebinds (new port for everything): the relay sees the
 * connection come from the new address, tells the agent (a new
 * OBSERVED_ADDRESS), and the session to the connector carries a flow
 * again. */
static void test_nat_rebinding(void **state)
{
	char old[96];
	char *st = sim_lab_status(&lab.agent);
	const char *p = st ? strstr(st, "\"observed_address\":\"") : NULL;
	struct dns_wait w;
	struct sim_tcp *c = &c1;

	(void)state;
	assert_non_null(p);
	snprintf(old, sizeof(old), "%.*s", (int)strcspn(p + 20, "\"") + 21, p);
	free(st);
	sim_nat_rebind(lab.nat_agent);
	/* the next keep-alive (10 s) goes out from a new port */
	assert_int_equal(sim_run(lab.sim, observed_moved, old, 30 * SIM_S), 1);
	w = resolve("web.corp.internal");
	assert_int_equal(sim_tcp_connect(c, &lab.tun, &lab.loop, w.a, 80,
					 next_port++),
			 0);
	sim_tcp_send(c, (const uint8_t *)"after", 5, 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, c, 30 * SIM_S), 1);
	assert_int_equal(c->state, SIM_TCP_DONE);
	assert_int_equal(c->rx_bytes, 5);
	sim_tcp_free(c);
}

#define BULK (4u << 20)

/* 4 MiB up and 4 MiB down while the agent <-> connector link, 20 Mbit/s
 * with a 50 ms queue, loses 5% of the datagrams each way (and duplicates
 * and reorders some): every byte arrives, in order (SHA-256 of the
 * stream). */
static void test_transfer_loss(void **state)
{
	struct sim_link_cfg bad = { .latency_ns = 10 * SIM_MS,
				    .jitter_ns = 2 * SIM_MS,
				    .rate_bps = 20000000,
				    .queue_ns = 50 * SIM_MS,
				    .loss = 0.05,
				    .dup = 0.01,
				    .reorder = 0.01 };
	struct sim_link_cfg good = { .latency_ns = 10 * SIM_MS };
	struct dns_wait w = resolve("bulk.corp.internal");
	struct sim_stats before, after;
	uint8_t want[32], got[32];
	uint64_t t0;

	(void)state;
	pattern_sha(BULK, want);
	t_source->size = BULK;
	t0 = sim_clock_now();
	sim_stats(lab.sim, &before);
	sim_link(lab.sim, lab.n_agent, lab.n_conn, &bad, NULL);

	assert_int_equal(sim_tcp_connect(&up, &lab.tun, &lab.loop, w.a, 9000,
					 next_port++),
			 0);
	sim_tcp_send(&up, NULL, BULK, 1);
	assert_int_equal(sim_tcp_connect(&down, &lab.tun, &lab.loop, w.a, 9001,
					 next_port++),
			 0);
	sim_tcp_send(&down, NULL, 0, 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &up, 300 * SIM_S), 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &down, 300 * SIM_S), 1);
	assert_int_equal(up.state, SIM_TCP_DONE);
	assert_int_equal(down.state, SIM_TCP_DONE);

	assert_int_equal(t_sink->bytes_in, BULK);
	wc_Sha256Final(&t_sink->sha_in, got);
	assert_memory_equal(got, want, 32);
	assert_int_equal(down.rx_bytes, BULK);
	wc_Sha256Final(&down.rx_sha, got);
	assert_memory_equal(got, want, 32);

	sim_stats(lab.sim, &after);
	/* The loss was real: some hundreds of datagrams. */
	assert_true(after.lost - before.lost > 100);
	assert_true(after.duplicated > before.duplicated);
	printf("transfer: 2 x %u B in %.1f s virtual, %llu datagrams sent, "
	       "%llu lost, %llu duplicated, %llu reordered, %llu queue drops\n",
	       BULK, (double)(sim_clock_now() - t0) / 1e9,
	       (unsigned long long)(after.sent - before.sent),
	       (unsigned long long)(after.lost - before.lost),
	       (unsigned long long)(after.duplicated - before.duplicated),
	       (unsigned long long)(after.reordered - before.reordered),
	       (unsigned long long)(after.queue_drops - before.queue_drops));
	sim_link(lab.sim, lab.n_agent, lab.n_conn, &good, NULL);
	sim_tcp_free(&up);
	sim_tcp_free(&down);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_tcp_echo),
		cmocka_unit_test(test_reload_resets_live_flow),
		cmocka_unit_test(test_connector_recheck),
		cmocka_unit_test(test_connector_own_check),
		cmocka_unit_test(test_deny),
		cmocka_unit_test(test_udp_echo),
		cmocka_unit_test(test_transfer_loss),
		cmocka_unit_test(test_relay_link_outage),
		cmocka_unit_test(test_relay_restart),
		cmocka_unit_test(test_nat_rebinding),
	};

	return cmocka_run_group_tests(tests, lab_up, lab_down);
}
