/* In-process tests of peers of an older release (docs/PROTOCOL.md,
 * "Versioning"): the real relay, connector and agent of test/sim, one of
 * them held to control protocol 1 (zt_config.ctrl_version_max, the test
 * hook sim_lab_start_ver sets), the others speaking 2.
 *
 *   a connector of version 1 that agents reach directly: its services
 *   are in the catalog, the relay refuses every relayed session to it
 *   (and never offers it one), the agent's session goes direct;
 *   the same connector where nothing gets through between it and the
 *   agent: the session fails, the flow is reset, and the agent's log
 *   says why (the connector speaks control protocol 1);
 *   an agent of version 1: it gets its catalog, never asks for a relayed
 *   session, and reaches a directly reachable connector.
 *
 * One lab per group. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "log.h"
#include "pkt.h"
#include "sim_lab.h"

#define SERVICES \
	"[service web]\nhostname = web.corp.internal\nports = 80\n" \
	"protocol = tcp\nallow = group:engineering\ntarget = web.sim\n"

static struct sim_lab lab;
static struct sim_target *t_web;
static uint16_t next_port = 40000;

/* --- the daemons' log, captured (stderr into a file) --- */

static FILE *cap;
static int cap_saved = -1, cap_level;

static void log_capture(void)
{
	fflush(stderr);
	cap = tmpfile();
	assert_non_null(cap);
	cap_saved = dup(2);
	assert_true(cap_saved >= 0);
	assert_true(dup2(fileno(cap), 2) >= 0);
	cap_level = zt_log_threshold;
	if (zt_log_threshold < ZT_LOG_INFO)
		zt_log_set_level(ZT_LOG_INFO);
}

/* Ends the capture; returns what was logged (malloc'd). */
static char *log_captured(void)
{
	char *text = NULL;
	long n;

	if (!cap)
		return NULL;
	fflush(stderr);
	dup2(cap_saved, 2);
	close(cap_saved);
	cap_saved = -1;
	zt_log_set_level(cap_level);
	n = ftell(cap);
	if (n >= 0 && (text = calloc(1, (size_t)n + 1)) != NULL) {
		rewind(cap);
		if (fread(text, 1, (size_t)n, cap) != (size_t)n)
			text[0] = 0;
	}
	fclose(cap);
	cap = NULL;
	if (text && getenv("SIM_VERBOSE"))
		fputs(text, stderr);
	return text;
}

/* --- labs --- */

static int lab_up(uint8_t conn_version, uint8_t agent_version)
{
	zt_log_set_level(getenv("SIM_LOG") ? ZT_LOG_DEBUG : ZT_LOG_ERROR);
	wolfSSL_Init();
	if (sim_lab_start_ver(&lab, 0x01d1, SERVICES, SIM_NAT_PORT_RESTRICTED,
			      -1, conn_version, agent_version) != 0)
		return -1;
	t_web = sim_target_add(&lab.targets, "web.sim", "80", SIM_TARGET_ECHO);
	return t_web ? 0 : -1;
}

static int lab_up_v1_connector(void **state)
{
	(void)state;
	return lab_up(1, 0);
}

/* The same, but nothing gets through between the agent and the
 * connector: only the relay could carry their session. */
static int lab_up_v1_connector_dark(void **state)
{
	struct sim_link_cfg dark = { .latency_ns = 10 * SIM_MS, .loss = 1.0 };

	(void)state;
	if (lab_up(1, 0) != 0)
		return -1;
	return sim_link(lab.sim, lab.n_agent, lab.n_conn, &dark, NULL);
}

static int lab_up_v1_agent(void **state)
{
	(void)state;
	return lab_up(0, 1);
}

static int lab_down(void **state)
{
	int rv;

	(void)state;
	free(log_captured());
	rv = sim_lab_stop(&lab);
	wolfSSL_Cleanup();
	return rv;
}

/* --- helpers --- */

static int catalog_has(void *arg)
{
	char *st = sim_lab_status(&lab.agent);
	int ok = st && strstr(st, "\"service\":\"web\"");

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

/* A number in the relayed-session part of a status (the relay's TCP
 * counters have keys of the same names). */
static long long num(struct zt_daemon *d, const char *key)
{
	char *st = sim_lab_status(d);
	const char *r = st ? strstr(st, "\"relayed\":{") : NULL;
	long long v = sim_json_num(r ? r : st, key);

	free(st);
	return v;
}

/* The agent's one session is up and direct. */
static int session_direct(void)
{
	char *st = sim_lab_status(&lab.agent);
	int ok = st && strstr(st, "\"connector\":\"conn1\",\"state\":\"up\"") &&
		 strstr(st, "\"relayed\":false") &&
		 strstr(st, "\"path\":\"direct ");

	free(st);
	return ok;
}

static int session_up(void)
{
	char *st = sim_lab_status(&lab.agent);
	int ok = st && strstr(st, "\"connector\":\"conn1\",\"state\":\"up\"");

	free(st);
	return ok;
}

/* 3000 bytes to the echo service and back, FIN both ways. */
static void echo_flow(uint32_t ip)
{
	static uint8_t msg[3000];
	static struct sim_tcp c;
	uint64_t in0 = t_web->bytes_in;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(sim_tcp_connect(&c, &lab.tun, &lab.loop, ip, 80,
					 next_port++),
			 0);
	sim_tcp_send(&c, msg, sizeof(msg), 1);
	assert_int_equal(sim_run(lab.sim, tcp_settled, &c, 20 * SIM_S), 1);
	assert_int_equal(c.state, SIM_TCP_DONE);
	assert_int_equal(c.rx_bytes, sizeof(msg));
	assert_memory_equal(c.rx_head, msg, sizeof(msg));
	assert_int_equal(t_web->bytes_in - in0, sizeof(msg));
	sim_tcp_free(&c);
}

/* --- a connector of version 1, reachable directly --- */

/* Its REGISTER in version 1 is served: its service is in the catalog. */
static void test_v1_connector_catalog(void **state)
{
	(void)state;
	assert_int_equal(sim_run(lab.sim, catalog_has, NULL, 10 * SIM_S), 1);
	assert_int_equal(num(&lab.relay, "opened"), 0);
}

/* The agent races a direct attempt and a relayed one: the relay refuses
 * the relayed one (and offers the connector nothing), the direct one
 * carries the flow. */
static void test_v1_connector_direct(void **state)
{
	uint32_t ip = resolve("web.corp.internal");
	char *log;

	(void)state;
	log_capture();
	echo_flow(ip);
	/* the refusal reaches the agent (it is told after the direct
	 * attempt already won, or before) */
	sim_run(lab.sim, NULL, NULL, SIM_S);
	log = log_captured();
	assert_non_null(log);
	assert_true(session_direct());
	assert_int_equal(num(&lab.relay, "opened"), 0);
	assert_true(num(&lab.relay, "refused") >= 1);
	assert_non_null(strstr(log, "refused: the connector speaks control "
				    "protocol 1: no relayed sessions"));
	assert_null(strstr(log, "offered"));
	assert_null(strstr(log, "unexpected control message"));
	free(log);
	/* a second flow rides the same direct session */
	echo_flow(ip);
	assert_true(session_direct());
	assert_int_equal(num(&lab.relay, "opened"), 0);
	assert_int_equal(t_web->dials, 2);
	printf("v1 connector: direct, %lld relayed session(s) refused, none "
	       "opened\n",
	       num(&lab.relay, "refused"));
}

/* --- the same connector where agents cannot reach it directly --- */

/* No direct path, no relayed one: the flow is reset, the connector never
 * dials, and the agent says why. */
static void test_v1_connector_unreachable(void **state)
{
	uint32_t ip = resolve("web.corp.internal");
	static struct sim_tcp c;
	uint64_t t0;
	char *log;

	(void)state;
	log_capture();
	assert_int_equal(sim_tcp_connect(&c, &lab.tun, &lab.loop, ip, 80,
					 next_port++),
			 0);
	sim_tcp_send(&c, (const uint8_t *)"hello", 5, 1);
	t0 = sim_clock_now();
	assert_int_equal(sim_run(lab.sim, tcp_settled, &c, 60 * SIM_S), 1);
	log = log_captured();
	assert_non_null(log);
	assert_int_equal(c.state, SIM_TCP_RESET);
	assert_int_equal(t_web->dials, 0);
	assert_false(session_up());
	assert_int_equal(num(&lab.relay, "opened"), 0);
	assert_true(num(&lab.relay, "refused") >= 1);
	assert_non_null(strstr(log, "session to connector conn1: no relayed "
				    "path: the connector speaks control "
				    "protocol 1: no relayed sessions"));
	assert_non_null(strstr(log, "session to connector conn1 failed"));
	printf("v1 connector, no direct path: flow reset %.1f s (virtual) after "
	       "its SYN, no relayed session\n",
	       (double)(sim_clock_now() - t0) / 1e9);
	sim_tcp_free(&c);
	free(log);
}

/* --- an agent of version 1 --- */

/* Its catalog comes in version 1, it never asks the relay for a session
 * (the relay neither refuses nor opens one) and goes direct. */
static void test_v1_agent(void **state)
{
	uint32_t ip;
	char *log;

	(void)state;
	assert_int_equal(sim_run(lab.sim, catalog_has, NULL, 10 * SIM_S), 1);
	ip = resolve("web.corp.internal");
	log_capture();
	echo_flow(ip);
	sim_run(lab.sim, NULL, NULL, SIM_S);
	log = log_captured();
	assert_non_null(log);
	assert_true(session_direct());
	assert_int_equal(num(&lab.relay, "opened"), 0);
	assert_int_equal(num(&lab.relay, "refused"), 0);
	assert_null(strstr(log, "unexpected control message"));
	assert_int_equal(t_web->dials, 1);
	free(log);
}

int main(void)
{
	const struct CMUnitTest v1_connector[] = {
		cmocka_unit_test(test_v1_connector_catalog),
		cmocka_unit_test(test_v1_connector_direct),
	};
	const struct CMUnitTest v1_connector_dark[] = {
		cmocka_unit_test(test_v1_connector_unreachable),
	};
	const struct CMUnitTest v1_agent[] = {
		cmocka_unit_test(test_v1_agent),
	};
	int fails = cmocka_run_group_tests_name("v1 connector", v1_connector,
						lab_up_v1_connector, lab_down);

	fails += cmocka_run_group_tests_name("v1 connector, no direct path",
					     v1_connector_dark,
					     lab_up_v1_connector_dark,
					     lab_down);
	fails += cmocka_run_group_tests_name("v1 agent", v1_agent,
					     lab_up_v1_agent, lab_down);
	return fails;
}
