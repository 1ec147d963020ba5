/* A compromised relay for tests: it holds a valid relay certificate but
 * sends agents whatever catalog the test asks for, without checking who may
 * publish what. Agents and connectors must not trust it further than their
 * own checks allow. Connectors are answered (OBSERVED_ADDRESS) and ignored.
 *
 *   fakerelay -a CA -c CERT -k KEY -l IP:PORT \
 *             -e SERVICE,HOSTNAME,PORT[+PORT...],CONNECTOR,IP:PORT [-e ...] [-E ...]
 * On SIGHUP it sends every agent the -E entries instead (a catalog that
 * changed). -V N: speak control protocol versions up to N only, closing a
 * newer HELLO with ZT_APP_VERSION as an older relay would. Peers are
 * answered in their HELLO's version. Runs until killed. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "netio.h"
#include "relaylink.h"

#define MAX_ENTRIES 8

struct fake;

struct peer {
	struct fake *f;
	struct zt_ctrl_reader rd;
	struct peer *next;
	struct zt_qconn *c;
	int64_t sid; /* an agent's control stream, once it said HELLO */
	int agent;
	uint8_t version; /* of its HELLO: it is answered in it */
};

struct fake {
	struct zt_catalog_entry entries[MAX_ENTRIES];
	size_t n;
	struct zt_catalog_entry entries2[MAX_ENTRIES]; /* -E: after SIGHUP */
	size_t n2;
	struct peer *peers;
	uint8_t max_version; /* -V: an older relay refuses newer HELLOs */
};

static int parse_addr(const char *s, struct zt_addr *a)
{
	char ip[64];
	int port;

	if (sscanf(s, "%63[^:]:%d", ip, &port) != 2 || port < 1 || port > 65535)
		return -1;
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = (uint16_t)port;
	return inet_pton(AF_INET, ip, a->ip) == 1 ? 0 : -1;
}

/* PORTS: one port, or several joined by '+' (9+443). */
static int parse_ports(struct zt_service *svc, char *ports)
{
	for (char *t = strtok(ports, "+"); t; t = strtok(NULL, "+")) {
		int port = atoi(t);

		if (port < 1 || port > 65535 || svc->n_ports == ZT_MAX_PORTS)
			return -1;
		svc->ports[svc->n_ports].lo = svc->ports[svc->n_ports].hi =
			(uint16_t)port;
		svc->n_ports++;
	}
	return svc->n_ports ? 0 : -1;
}

static int parse_entry(struct zt_catalog_entry *entries, size_t *count,
		       const char *arg)
{
	struct zt_catalog_entry *e;
	char name[ZT_NAME_MAX], host[ZT_HOST_MAX + 1], conn[ZT_NAME_MAX], addr[80];
	char ports[64];

	if (*count == MAX_ENTRIES ||
	    sscanf(arg, "%63[^,],%254[^,],%63[^,],%63[^,],%79s", name, host,
		   ports, conn, addr) != 5)
		return -1;
	e = &entries[*count];
	memset(e, 0, sizeof(*e));
	snprintf(e->svc.name, sizeof(e->svc.name), "%s", name);
	snprintf(e->svc.hostname, sizeof(e->svc.hostname), "%s", host);
	e->svc.proto = ZT_PROTO_TCP;
	if (parse_ports(&e->svc, ports) < 0)
		return -1;
	snprintf(e->connector, sizeof(e->connector), "%s", conn);
	if (parse_addr(addr, &e->addrs[0]) < 0)
		return -1;
	e->n_addrs = 1;
	(*count)++;
	return 0;
}

static void send_catalog(struct fake *f, struct peer *p)
{
	struct zt_qconn *c = p->c;
	int64_t sid = p->sid;
	struct zt_ctrl_msg m = { .type = ZT_CTRL_CATALOG, .version = p->version };

	m.u.catalog.entries = f->entries;
	m.u.catalog.n = f->n;
	zt_ctrl_send(c, sid, &m);
	printf("fakerelay: catalog of %zu entries sent to %s\n", f->n,
	       zt_qconn_label(c));
	fflush(stdout);
}

static void on_hello(struct fake *f, struct peer *p, int64_t sid,
		     uint8_t version)
{
	struct zt_ctrl_msg m = { .type = ZT_CTRL_OBSERVED_ADDRESS,
				 .version = version };

	if (version > f->max_version) {
		printf("fakerelay: HELLO in version %u refused\n", version);
		fflush(stdout);
		zt_ctrl_fail(p->c, -1, ZT_APP_VERSION, "unsupported version");
		return;
	}
	p->version = version;
	zt_qconn_remote(p->c, &m.u.observed.addr);
	zt_ctrl_send(p->c, sid, &m);
	if (zt_qconn_peer(p->c)->role != ZT_ROLE_AGENT)
		return;
	p->agent = 1;
	p->sid = sid;
	send_catalog(f, p);
}

static void on_sighup(uv_signal_t *h, int sig)
{
	struct fake *f = h->data;

	memcpy(f->entries, f->entries2, sizeof(f->entries));
	f->n = f->n2;
	for (struct peer *p = f->peers; p; p = p->next)
		if (p->agent)
			send_catalog(f, p);
}

static void peer_data(struct zt_qconn *c, int64_t sid, const uint8_t *d,
		      size_t n, int fin, void *owner)
{
	struct peer *p = owner;
	struct zt_ctrl_msg m;

	zt_qconn_stream_consumed(c, sid, n);
	if (zt_ctrl_reader_feed(&p->rd, d, n) != 0)
		return;
	while (zt_ctrl_reader_next(&p->rd, &m) == 0) {
		if (m.type == ZT_CTRL_HELLO)
			on_hello(p->f, p, sid, m.version);
		zt_ctrl_msg_free(&m);
	}
}

static void peer_closed(struct zt_qconn *c, const struct zt_close_info *ci,
			void *owner)
{
	struct peer *p = owner, **pp;

	for (pp = &p->f->peers; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = p->next;
	zt_ctrl_reader_free(&p->rd);
	free(p);
}

static const struct zt_qconn_ops peer_ops = {
	.stream_data = peer_data,
	.closed = peer_closed,
};

/* Every accepted connection becomes a peer with its own reader. */
static void accept_established(struct zt_qconn *c, void *owner)
{
	struct fake *f = owner;
	struct peer *p = calloc(1, sizeof(*p));

	if (!p)
		return;
	p->f = f;
	p->c = c;
	zt_ctrl_reader_init(&p->rd);
	p->next = f->peers;
	f->peers = p;
	zt_qconn_set_ops(c, &peer_ops, p);
}

static const struct zt_qconn_ops accept_ops = {
	.established = accept_established,
};

int main(int argc, char **argv)
{
	const char *ca = NULL, *cert = NULL, *key = NULL;
	struct zt_ep_config ec = { 0 };
	struct zt_addr listen = { 0 };
	struct fake f = { 0 };
	struct zt_netio net;
	struct zt_tls tls;
	struct zt_ep *ep;
	uv_signal_t hup;
	int o, have_listen = 0;

	f.max_version = ZT_CTRL_VERSION_MAX;
	while ((o = getopt(argc, argv, "a:c:k:l:e:E:V:")) != -1) {
		switch (o) {
		case 'a': ca = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'l': have_listen = parse_addr(optarg, &listen) == 0; break;
		case 'e':
		case 'E':
			if ((o == 'e' ? parse_entry(f.entries, &f.n, optarg)
				      : parse_entry(f.entries2, &f.n2, optarg)) < 0) {
				fprintf(stderr, "fakerelay: bad entry %s\n", optarg);
				return 2;
			}
			break;
		case 'V': f.max_version = (uint8_t)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!ca || !cert || !key || !have_listen) {
		fprintf(stderr, "usage: fakerelay -a CA -c CERT -k KEY -l IP:PORT "
			"-e SERVICE,HOST,PORT,CONNECTOR,IP:PORT ...\n");
		return 2;
	}
	zt_log_set_level(ZT_LOG_WARN);
	wolfSSL_Init();
	if (zt_tls_init(&tls, ca, cert, key) != 0)
		return 2;
	ec.tls = &tls;
	ec.accept_roles = (1u << ZT_ROLE_AGENT) | (1u << ZT_ROLE_CONNECTOR);
	ec.idle_timeout_ns = 30000000000ULL;
	ec.accept = &accept_ops;
	ec.accept_owner = &f;
	if (zt_ep_new(&ep, &ec, zt_now()) != 0 ||
	    zt_netio_init(&net, uv_default_loop(), &listen, ep) != 0)
		return 2;
	uv_signal_init(uv_default_loop(), &hup);
	hup.data = &f;
	uv_signal_start(&hup, on_sighup, SIGHUP);
	printf("fakerelay: listening\n");
	fflush(stdout);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	return 0;
}
