/* Test client for the relay's control plane: connects with a given identity
 * (or none) and sends good or deliberately bad control messages, then
 * reports how the relay closed the connection. Exit 0 when the outcome is
 * the expected one. Against a connector (-R) it plays an agent: "flow"
 * checks the status a flow header gets; "upreset0" opens a flow, uploads
 * bytes and resets the stream with application error 0, which the real
 * agent never sends, then holds the session so the test can look at the
 * connector while it is still up; "hold" keeps a session open for -t
 * seconds without a stream (with -e 5: expects the connector to refuse
 * it); "hdrpart" sends 3 bytes of a flow header and waits for the
 * connector to reset the stream; "resetonly" opens -n streams with
 * nothing but a RESET_STREAM each (as many at once as the connector's
 * stream limit allows), then a real flow that must get its OK. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "ctrl.h"
#include "flowhdr.h"
#include "pkt.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "netio.h"

struct poke {
	const char *mode;
	const char *service;
	int expect; /* app error code expected, -1 = handshake failure,
		       -2 = success (OBSERVED_ADDRESS received) */
	int result;
	struct zt_netio net;
	struct zt_ep *ep;
	struct zt_qconn *c;
	struct zt_ctrl_reader rd;
	uv_timer_t deadline;
	int done;
	uint16_t port;     /* flow destination port */
	size_t upload;     /* upreset0: bytes sent before the reset */
	unsigned hold_ms;  /* upreset0: session kept this long after it */
	int64_t sid;
	int got_status;
	uv_timer_t step;
	size_t n_reset;    /* resetonly: streams opened and reset so far */
};

static void finish(struct poke *p, int result, const char *what)
{
	if (p->done)
		return;
	p->done = 1;
	p->result = result;
	printf("ctrlpoke %s: %s\n", p->mode, what);
	uv_timer_stop(&p->deadline);
	uv_close((uv_handle_t *)&p->deadline, NULL);
	uv_close((uv_handle_t *)&p->step, NULL);
	zt_netio_close(&p->net);
}

static void send_raw(struct zt_qconn *c, int64_t sid, const uint8_t *b,
		     size_t n)
{
	zt_qconn_stream_send(c, sid, b, n, 0);
}

static void send_msg(struct zt_qconn *c, int64_t sid, struct zt_ctrl_msg *m)
{
	uint8_t *b;
	size_t n;

	if (zt_ctrl_encode(m, &b, &n) == 0) {
		send_raw(c, sid, b, n);
		free(b);
	}
}

/* Straight to a connector, skipping the agent's own policy; only the
 * first `part` bytes when part is not 0. */
static void send_header(struct poke *p, struct zt_qconn *c, int64_t sid,
			size_t part)
{
	struct zt_flow_hdr h = { .proto = ZT_IPPROTO_TCP };
	uint8_t b[ZT_FLOW_HDR_MAX];
	size_t n;

	h.dst.family = AF_INET;
	h.dst.port = p->port;
	h.dst.ip[0] = 100;
	h.dst.ip[1] = 64;
	h.dst.ip[2] = 1;
	snprintf(h.service, sizeof(h.service), "%s", p->service);
	n = zt_flow_hdr_encode(&h, b, sizeof(b));
	send_raw(c, sid, b, part && part < n ? part : n);
}

static void held_on(uv_timer_t *t)
{
	struct poke *p = t->data;

	finish(p, p->expect == -2 ? 0 : 1, "session held");
}

/* Streams with only a RESET_STREAM: each must give its slot back, or the
 * stream limit ends this loop. Then a real flow (mode "flow" from here). */
static void reset_more(uv_timer_t *t)
{
	struct poke *p = t->data;
	int64_t sid;

	while (p->n_reset < p->upload) {
		if (zt_qconn_stream_open(p->c, &sid) != 0) {
			uv_timer_start(&p->step, reset_more, 10, 0);
			return;
		}
		zt_qconn_stream_reset_send(p->c, sid, 0);
		p->n_reset++;
	}
	printf("ctrlpoke resetonly: %zu streams reset unopened\n", p->n_reset);
	fflush(stdout);
	if (zt_qconn_stream_open(p->c, &sid) != 0) {
		uv_timer_start(&p->step, reset_more, 10, 0);
		return;
	}
	p->mode = "flow";
	p->expect = ZT_FLOW_OK;
	p->sid = sid;
	send_header(p, p->c, sid, 0);
}

static void on_est(struct zt_qconn *c, void *ud)
{
	struct poke *p = ud;
	struct zt_ctrl_msg hello = { .type = ZT_CTRL_HELLO };
	struct zt_ctrl_msg reg = { .type = ZT_CTRL_REGISTER };
	struct zt_service svc = { .name = "evil", .hostname = "evil.test",
				  .n_ports = 1, .proto = ZT_PROTO_TCP,
				  .n_allow = 1 };
	uint8_t junk[64];
	int64_t sid;

	svc.ports[0].lo = svc.ports[0].hi = 80;
	svc.allow[0].kind = ZT_PRINCIPAL_GROUP;
	strcpy(svc.allow[0].name, "engineering");
	reg.u.reg.services = &svc;
	reg.u.reg.n = 1;
	strcpy(hello.u.hello.software, "ctrlpoke");
	if (!strcmp(p->mode, "hold") || !strcmp(p->mode, "resetonly")) {
		uv_timer_start(&p->step, !strcmp(p->mode, "hold") ? held_on
								 : reset_more,
			       !strcmp(p->mode, "hold") ? p->hold_ms : 0, 0);
		return;
	}
	if (zt_qconn_stream_open(c, &sid) != 0)
		return;
	p->sid = sid;
	if (!strcmp(p->mode, "flow") || !strcmp(p->mode, "upreset0") ||
	    !strcmp(p->mode, "hdrpart")) {
		send_header(p, c, sid, !strcmp(p->mode, "hdrpart") ? 3 : 0);
		return;
	}
	if (!strcmp(p->mode, "register")) {
		send_msg(c, sid, &hello);
		send_msg(c, sid, &reg);
	} else if (!strcmp(p->mode, "regflood")) {
		/* Each one different, so none is skipped as a repeat. */
		send_msg(c, sid, &hello);
		for (int i = 0; i < 100; i++) {
			snprintf(svc.hostname, sizeof(svc.hostname),
				 "x%d.corp.internal", i);
			send_msg(c, sid, &reg);
		}
	} else if (!strcmp(p->mode, "nohello")) {
		send_msg(c, sid, &reg);
	} else if (!strcmp(p->mode, "garbage")) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(0x5a ^ i);
		send_raw(c, sid, junk, sizeof(junk));
	} else if (!strcmp(p->mode, "oversized")) {
		uint8_t h[8] = { ZT_CTRL_VERSION, ZT_CTRL_HELLO, 0, 0 };
		uint32_t n = htonl(ZT_CTRL_MAX_BODY + 1);

		memcpy(h + 4, &n, 4);
		send_raw(c, sid, h, sizeof(h));
	} else if (!strcmp(p->mode, "unknown")) {
		uint8_t h[8] = { ZT_CTRL_VERSION, 99, 0, 0, 0, 0, 0, 0 };

		send_raw(c, sid, h, sizeof(h));
	} else {
		send_msg(c, sid, &hello);
	}
}

static void held(uv_timer_t *t)
{
	finish(t->data, 0, "reset with code 0 sent, session held");
}

static void reset0(uv_timer_t *t)
{
	struct poke *p = t->data;

	zt_qconn_stream_reset(p->c, p->sid, 0);
	printf("ctrlpoke upreset0: stream reset with code 0\n");
	fflush(stdout);
	uv_timer_start(&p->step, held, p->hold_ms, 0);
}

/* After the OK: the upload (queued at once; flow control paces it), and
 * the reset a second later, while the target still has bytes to take. */
static void upload(struct poke *p, struct zt_qconn *c, uint8_t status)
{
	static const uint8_t chunk[65536];

	if (status != ZT_FLOW_OK) {
		finish(p, 1, "flow refused");
		return;
	}
	for (size_t sent = 0; sent < p->upload; sent += sizeof(chunk)) {
		size_t n = p->upload - sent < sizeof(chunk) ? p->upload - sent
							    : sizeof(chunk);

		zt_qconn_stream_send(c, p->sid, chunk, n, 0);
	}
	uv_timer_start(&p->step, reset0, 1000, 0);
}

static void on_data(struct zt_qconn *c, int64_t sid, const uint8_t *d,
		    size_t n, int fin, void *ud)
{
	struct poke *p = ud;
	struct zt_ctrl_msg m;

	zt_qconn_stream_consumed(c, sid, n);
	if (!strcmp(p->mode, "upreset0")) {
		if (n && !p->got_status) {
			p->got_status = 1;
			upload(p, c, d[0]);
		}
		return;
	}
	if (!strcmp(p->mode, "flow")) {
		char what[96];

		if (n == 0)
			return;
		snprintf(what, sizeof(what), "connector answered %u (%s)", d[0],
			 zt_flow_status_name(d[0]));
		finish(p, d[0] == p->expect ? 0 : 1, what);
		return;
	}
	zt_ctrl_reader_feed(&p->rd, d, n);
	while (zt_ctrl_reader_next(&p->rd, &m) == 0) {
		if (m.type == ZT_CTRL_OBSERVED_ADDRESS && p->expect == -2)
			finish(p, 0, "got OBSERVED_ADDRESS");
		zt_ctrl_msg_free(&m);
	}
}

static void on_stream_closed(struct zt_qconn *c, int64_t sid, int reset,
			     uint64_t app_error, void *ud)
{
	struct poke *p = ud;

	if (!strcmp(p->mode, "hdrpart") && sid == p->sid)
		finish(p, reset ? 0 : 1, reset ? "stream reset by the connector"
					       : "stream closed without a reset");
}

static void on_closed(struct zt_qconn *c, const struct zt_close_info *ci,
		      void *ud)
{
	struct poke *p = ud;
	char what[256];
	int ok;

	snprintf(what, sizeof(what), "closed (%s): %s",
		 ci->local ? "by us" : "by relay", ci->reason);
	if (p->expect == -1)
		ok = ci->kind == 0 && ci->code >= 0x100;
	else
		ok = ci->kind == 1 && (int)ci->code == p->expect;
	finish(p, ok ? 0 : 1, what);
}

static void on_deadline(uv_timer_t *t)
{
	finish(t->data, 1, "timed out");
}

static int tls_nocert(struct zt_tls *t, const char *ca)
{
	memset(t, 0, sizeof(*t));
	t->client = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	if (!t->client ||
	    ngtcp2_crypto_wolfssl_configure_client_context(t->client) != 0 ||
	    wolfSSL_CTX_load_verify_locations(t->client, ca, NULL) != 1)
		return -1;
	wolfSSL_CTX_set_verify(t->client, WOLFSSL_VERIFY_PEER, NULL);
	return 0;
}

static const struct zt_qconn_ops poke_ops = {
	.established = on_est,
	.stream_data = on_data,
	.stream_closed = on_stream_closed,
	.closed = on_closed,
};

int main(int argc, char **argv)
{
	const char *ca = NULL, *cert = NULL, *key = NULL, *relay = NULL;
	struct poke p = { .mode = "ok", .expect = -2, .result = 1,
			  .service = "wiki", .port = 80, .upload = 2000000,
			  .hold_ms = 5000 };
	int role = ZT_ROLE_RELAY;
	struct zt_ep_config ec = { 0 };
	struct zt_tls tls;
	struct zt_addr any = { .family = AF_INET };
	struct sockaddr_in ra = { .sin_family = AF_INET };
	char host[64];
	int o, port;

	while ((o = getopt(argc, argv, "a:c:k:r:m:e:s:p:n:t:R")) != -1) {
		switch (o) {
		case 'a': ca = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'r': relay = optarg; break;
		case 'm': p.mode = optarg; break;
		case 'e': p.expect = atoi(optarg); break;
		case 's': p.service = optarg; break;
		case 'p': p.port = (uint16_t)atoi(optarg); break;
		case 'n': p.upload = (size_t)atol(optarg); break;
		case 't': p.hold_ms = (unsigned)atoi(optarg) * 1000; break;
		case 'R': role = ZT_ROLE_CONNECTOR; break;
		default: return 2;
		}
	}
	if (!ca || !relay || sscanf(relay, "%63[^:]:%d", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &ra.sin_addr) != 1) {
		fprintf(stderr, "usage: ctrlpoke -a CA [-c CERT -k KEY] -r IP:PORT -m MODE -e CODE [-R -s SERVICE -p PORT]\n"
			"  -R: the server is a connector (mode flow: -e is the expected flow status;\n"
			"      mode upreset0: upload -n BYTES, reset with code 0, hold -t SECONDS;\n"
			"      modes hold (-t SECONDS), hdrpart, resetonly (-n STREAMS))\n");
		return 2;
	}
	ra.sin_port = htons((uint16_t)port);
	zt_log_set_level(ZT_LOG_WARN);
	wolfSSL_Init();
	if ((cert ? zt_tls_init(&tls, ca, cert, key) : tls_nocert(&tls, ca)) != 0)
		return 2;
	ec.tls = &tls;
	ec.idle_timeout_ns = 5000000000ULL;
	ec.keepalive_ns = 1000000000ULL;
	zt_ctrl_reader_init(&p.rd);
	if (zt_ep_new(&p.ep, &ec, zt_now()) != 0 ||
	    zt_netio_init(&p.net, uv_default_loop(), &any, p.ep) != 0)
		return 2;
	uv_timer_init(uv_default_loop(), &p.deadline);
	p.deadline.data = &p;
	uv_timer_start(&p.deadline, on_deadline, 10000 + p.hold_ms, 0);
	uv_timer_init(uv_default_loop(), &p.step);
	p.step.data = &p;
	zt_ep_connect(p.ep, &p.net.pio, (struct sockaddr *)&ra, sizeof(ra),
		      role == ZT_ROLE_RELAY ? host : NULL, role, &poke_ops, &p,
		      &p.c, zt_now());
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	zt_ep_free(p.ep);
	zt_ctrl_reader_free(&p.rd);
	if (tls.client && !cert)
		wolfSSL_CTX_free(tls.client);
	else
		zt_tls_free(&tls);
	uv_loop_close(uv_default_loop());
	wolfSSL_Cleanup();
	return p.result;
}
