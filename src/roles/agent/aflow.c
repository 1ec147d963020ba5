/* Agent data plane (see aflow.h). Flow life: a SYN that the policy lets
 * through is held; a stream to the connector asks it to dial; only on its
 * OK is the SYN fed to lwIP, so the application's SYN-ACK means the target
 * accepted, and a refusal becomes a RST. This file has the flow table,
 * policy, packet intake, the DNS stub, polling, start/stop and status;
 * sessions and the catalog are asession.c, TCP flows aflow_tcp.c, UDP and
 * ICMP echo flows aflow_dgram.c. */
#include "aflow_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dns.h"
#include "err.h"
#include "flowhdr.h"
#include "log.h"
#include "pkt.h"
#include "policy.h"

#define POLL_BATCH 32
#define DENY_RELOG_NS (60ULL * 1000000000ULL)

static size_t tuple_hash(const struct zt_addr *s, const struct zt_addr *d,
			 size_t nb)
{
	uint64_t h = 1469598103934665603ULL;
	const uint8_t *p[2] = { s->ip, d->ip };

	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < 16; i++)
			h = (h ^ p[k][i]) * 1099511628211ULL;
	h ^= (uint64_t)s->port << 16 | d->port;
	h *= 1099511628211ULL;
	return (size_t)(h & (nb - 1));
}

struct aflow *aflow_find(struct zt_aflows *af, int proto,
			       const struct zt_addr *s, const struct zt_addr *d)
{
	struct aflow *f = af->table[tuple_hash(s, d, af->nbuckets)];

	for (; f; f = f->next)
		if (f->proto == proto && zt_addr_equal(&f->src, s) &&
		    zt_addr_equal(&f->dst, d))
			return f;
	return NULL;
}

static void flow_unhash(struct zt_aflows *af, struct aflow *f)
{
	struct aflow **pp = &af->table[tuple_hash(&f->src, &f->dst, af->nbuckets)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			af->n_flows--;
			return;
		}
}

static void ns_output(void *ud, const struct iovec *iov, int cnt);
static void poll_update(struct zt_aflows *af);

void aflow_write_tun(struct zt_aflows *af, const uint8_t *p, size_t n)
{
	struct iovec v = { (void *)p, n };

	if (n)
		ns_output(af, &v, 1);
}

const char *aflow_proto_str(int p)
{
	return p == ZT_IPPROTO_TCP ? "tcp" : p == ZT_IPPROTO_UDP ? "udp" : "icmp";
}

/* Each denied destination is logged once a minute, not once a packet. */
static void log_deny(struct zt_aflows *af, const struct zt_pkt *p,
		     const char *why)
{
	uint64_t now = uv_hrtime();
	char s[64], d[64];
	unsigned i;

	af->denied++;
	for (i = 0; i < 64; i++)
		if (af->denylog[i].proto == p->proto &&
		    zt_addr_equal(&af->denylog[i].dst, &p->dst) &&
		    now - af->denylog[i].at < DENY_RELOG_NS)
			return;
	i = af->denylog_next++ % 64;
	af->denylog[i].proto = p->proto;
	af->denylog[i].dst = p->dst;
	af->denylog[i].at = now;
	log_info("deny %s %s -> %s: %s", aflow_proto_str(p->proto),
		 zt_addr_str(&p->src, s, sizeof(s)),
		 zt_addr_str(&p->dst, d, sizeof(d)), why);
}

/* Policy: which catalog entry serves this destination? NULL = deny, with
 * the reason in *why. */
static const struct zt_catalog_entry *policy(struct zt_aflows *af,
					     const struct zt_pkt *p,
					     const char **why)
{
	const struct zt_catalog_entry *e;
	const char *name = NULL;
	uint32_t ip4;

	if (p->dst.family == AF_INET) {
		memcpy(&ip4, p->dst.ip, 4);
		name = zt_synth_name(af->synth, ntohl(ip4));
	}
	*why = zt_policy_pick(af->catalog, af->n_catalog, name, p->proto,
			      &p->dst, &e).why;
	return e;
}

static void deny_tcp(struct zt_aflows *af, const struct zt_pkt *p,
		     const char *why)
{
	size_t n = zt_pkt_build_rst(af->wbuf, sizeof(af->wbuf), p);

	log_deny(af, p, why);
	/* A RST at once: the application fails fast instead of retrying
	 * SYNs for a minute. */
	aflow_write_tun(af, af->wbuf, n);
}

static void deny_other(struct zt_aflows *af, const struct zt_pkt *p,
		       const uint8_t *raw, size_t len, const char *why)
{
	size_t n = zt_pkt_build_unreach(af->wbuf, sizeof(af->wbuf), p, raw, len);

	log_deny(af, p, why);
	aflow_write_tun(af, af->wbuf, n);
}

/* --- DNS stub --- */

/* The forwarder's answers (or its SERVFAIL) go to the application as if
 * the stub had answered. */
static void fwd_reply(void *ud, const struct zt_addr *client,
		      const struct zt_addr *stub, const uint8_t *m, size_t n)
{
	struct zt_aflows *af = ud;
	size_t out = zt_pkt_build_udp(af->dgout, sizeof(af->dgout), stub,
				      client, m, n);

	aflow_write_tun(af, af->dgout, out);
}

/* Addresses an outside resolver may not hand out: the synthetic range,
 * the tunnel's IPv6 range if it has one and every catalog CIDR lead into
 * the tunnel, where a name the resolver controls would reach private
 * services as the user (DNS rebinding). */
static int fwd_reserved(void *ud, const struct zt_addr *a)
{
	struct zt_aflows *af = ud;
	struct zt_cidr pool = { .family = AF_INET,
				.prefix = ZT_AGENT_POOL4_PREFIX };
	uint32_t p = htonl(ZT_AGENT_POOL4);

	memcpy(pool.addr, &p, 4);
	if (zt_dns_addr_in(a, &pool, 1))
		return 1;
	if (af->src.cfg.addr6.family && zt_dns_addr_in(a, &af->src.cfg.addr6, 1))
		return 1;
	for (size_t i = 0; i < af->n_catalog; i++)
		if (zt_dns_addr_in(a, af->catalog[i].svc.cidrs,
				   af->catalog[i].svc.n_cidrs))
			return 1;
	return 0;
}

static const struct zt_adns_ops fwd_ops = { fwd_reply, fwd_reserved };

static void dns_answer(struct zt_aflows *af, const struct zt_pkt *p)
{
	struct zt_dns_query q;
	uint8_t resp[512], addr[4];
	size_t n = 0;
	uint32_t ip4;
	int rv = zt_dns_parse_query(&q, p->payload, p->payload_len);
	const struct zt_catalog_entry *hit = NULL;

	if (rv != 0)
		return; /* not a query we can answer: drop, the client retries */
	for (size_t i = 0; i < af->n_catalog && !hit; i++)
		if (af->catalog[i].svc.hostname[0] &&
		    strcmp(af->catalog[i].svc.hostname, q.name) == 0)
			hit = &af->catalog[i];
	if (!hit) {
		if (zt_adns_forward(&af->fwd, &q, p->payload, p->payload_len,
				    &p->src, &p->dst) == 0)
			return;
		/* Only catalog names are ours to answer; refusing makes the
		 * system try its next resolver at once. */
		n = zt_dns_build_error(resp, sizeof(resp), &q, p->payload,
				       ZT_DNS_REFUSED);
	} else if (q.qtype == ZT_DNS_A &&
		   zt_synth_get(af->synth, q.name, uv_hrtime(), &ip4) == 0) {
		ip4 = htonl(ip4);
		memcpy(addr, &ip4, 4);
		n = zt_dns_build_answer(resp, sizeof(resp), &q, p->payload, addr,
					1, 30);
	} else {
		/* AAAA and other types: the name exists, no such data. */
		n = zt_dns_build_answer(resp, sizeof(resp), &q, p->payload,
					NULL, 0, 30);
	}
	if (n == 0)
		return;
	n = zt_pkt_build_udp(af->wbuf, sizeof(af->wbuf), &p->dst, &p->src,
			     resp, n);
	aflow_write_tun(af, af->wbuf, n);
}

/* --- flows --- */

void aflow_log_end(struct aflow *f, const char *why)
{
	char s[64], d[64];

	log_info("flow end: %s %s -> %s (%s): up %llu B, down %llu B, %.2f s%s%s",
		 aflow_proto_str(f->proto), zt_addr_str(&f->src, s, sizeof(s)),
		 zt_addr_str(&f->dst, d, sizeof(d)), f->service,
		 (unsigned long long)f->up, (unsigned long long)f->down,
		 (double)(uv_hrtime() - f->start_ns) / 1e9, why ? ": " : "",
		 why ? why : "");
}

void aflow_free(struct aflow *f)
{
	struct zt_aflows *af = f->af;

	aflow_tcp_close(f, 0);
	if (f->s && f->s->c && f->sid >= 0)
		zt_qconn_stream_set_user(f->s->c, f->sid, NULL);
	while (f->ph) {
		struct pend *p = f->ph;

		/* Delivered to us, never to the application: the session's
		 * connection credit must come back, or it stalls. */
		if (f->s && f->s->c)
			zt_qconn_stream_consumed(f->s->c, f->sid, p->len - p->off);
		f->ph = p->next;
		free(p);
	}
	while (f->uq) {
		struct pend *p = f->uq;

		f->uq = p->next;
		free(p);
	}
	flow_unhash(af, f);
	free(f);
}

/* A TCP application gets a RST (netstack.c: for a held SYN too). */
void aflow_reset_app(struct aflow *f, const char *why)
{
	aflow_tcp_close(f, 1);
	if (f->s && f->s->c && f->sid >= 0)
		zt_qconn_stream_reset(f->s->c, f->sid, ZT_FLOW_ERR_RESET);
	if (f->state >= A_HANDSHAKE) {
		aflow_log_end(f, why);
	} else if (why) {
		char d[64];

		log_warn("flow %s -> %s (%s) failed: %s",
			 aflow_proto_str(f->proto),
			 zt_addr_str(&f->dst, d, sizeof(d)), f->service, why);
	}
	aflow_free(f);
}

static struct aflow *flow_new(struct zt_aflows *af, const struct zt_pkt *p,
			      const uint8_t *raw, size_t len,
			      const struct zt_catalog_entry *e)
{
	struct aflow *f = calloc(1, sizeof(*f));
	size_t b;

	if (!f)
		return NULL;
	f->af = af;
	if (p->proto == ZT_IPPROTO_TCP &&
	    aflow_tcp_hold(f, p, raw, len) != 0) {
		free(f);
		return NULL;
	}
	f->proto = p->proto;
	f->last_ns = uv_hrtime();
	f->sid = -1;
	f->src = p->src;
	f->dst = p->dst;
	f->start_ns = uv_hrtime();
	snprintf(f->service, sizeof(f->service), "%s", e->svc.name);
	b = tuple_hash(&f->src, &f->dst, af->nbuckets);
	f->next = af->table[b];
	af->table[b] = f;
	af->n_flows++;
	f->s = asession_get(af, e);
	if (!f->s) {
		aflow_reset_app(f, "no address for the connector");
		return NULL;
	}
	if (f->s->up && asession_send_header(f) != 0)
		return NULL;
	return f;
}

/* Idle flows and flows that never opened end here (aflow_tcp.c,
 * aflow_dgram.c say when). */
static void sweep_cb(uv_timer_t *t)
{
	struct zt_aflows *af = t->data;
	uint64_t now = uv_hrtime();

	/* Interfaces and the default route change under us (DHCP, roaming):
	 * what a catalog CIDR must not cover is re-read now and then. */
	zt_aroutes_refresh(&af->routes, &af->src);
	for (size_t b = 0; b < af->nbuckets; b++)
		for (struct aflow *f = af->table[b], *n; f; f = n) {
			n = f->next;
			if (f->proto == ZT_IPPROTO_TCP)
				aflow_tcp_sweep(f, now);
			else
				aflow_dgram_sweep(f, now);
		}
}

/* --- packets from the packet source --- */

static int is_dns_stub(const struct zt_pkt *p)
{
	uint32_t ip;

	if (p->proto != ZT_IPPROTO_UDP || p->dst.port != 53 ||
	    p->dst.family != AF_INET)
		return 0;
	memcpy(&ip, p->dst.ip, 4);
	return ntohl(ip) == ZT_AGENT_DNS4;
}

/* The kernel's own chatter on the interface (IPv6 router solicitations,
 * MLD, multicast) is nobody's flow: drop it without a log line. */
static int is_local_noise(const struct zt_pkt *p)
{
	if (p->dst.family == AF_INET6)
		return p->dst.ip[0] == 0xff ||
		       (p->src.ip[0] == 0xfe && (p->src.ip[1] & 0xc0) == 0x80);
	return p->dst.ip[0] >= 224;
}

static void dgram_packet(struct zt_aflows *af, const struct zt_pkt *p,
			 const uint8_t *raw, size_t len)
{
	struct aflow *f = aflow_find(af, p->proto, &p->src, &p->dst);
	const struct zt_catalog_entry *e;
	const char *why = NULL;

	if (!f) {
		e = policy(af, p, &why);
		if (!e) {
			deny_other(af, p, raw, len, why);
			return;
		}
		f = flow_new(af, p, raw, len, e);
		if (!f)
			return;
	}
	if (f->state == A_DONE) {
		deny_other(af, p, raw, len, "refused by the connector");
		return;
	}
	aflow_dgram_packet(f, p);
}

static void tcp_packet(struct zt_aflows *af, const struct zt_pkt *p,
		       const uint8_t *raw, size_t len)
{
	struct aflow *f = aflow_find(af, ZT_IPPROTO_TCP, &p->src, &p->dst);
	const struct zt_catalog_entry *e;
	const char *why = NULL;

	if (f && f->state >= A_HANDSHAKE) {
		/* lwIP has the connection (netstack.c says what happened to
		 * it through the flow's callbacks). */
		zt_netstack_input(&af->ns, raw, len, p->version, p->dst.ip);
		return;
	}
	if (f) {
		/* Only the SYN so far, held while the connector dials: its
		 * retransmits are absorbed, a RST ends the flow. */
		if (p->tcp_flags & ZT_TCP_RST)
			aflow_reset_app(f, "application gave up before the "
					   "handshake");
		return;
	}
	if ((p->tcp_flags & (ZT_TCP_SYN | ZT_TCP_ACK | ZT_TCP_RST)) !=
	    ZT_TCP_SYN) {
		/* No flow: a leftover segment. lwIP answers it with a RST. */
		if (!(p->tcp_flags & ZT_TCP_RST))
			aflow_write_tun(af, af->wbuf,
					zt_pkt_build_rst(af->wbuf, sizeof(af->wbuf), p));
		return;
	}
	e = policy(af, p, &why);
	if (!e) {
		deny_tcp(af, p, why);
		return;
	}
	flow_new(af, p, raw, len, e);
}

static void packet_in(struct zt_aflows *af, const uint8_t *raw, size_t len)
{
	struct zt_pkt p;
	int r = zt_pkt_parse(&p, raw, len);

	if (r != ZT_PKT_OK) {
		af->drops[r < 8 ? r : 7]++;
		log_debug("drop packet (%zu bytes): %s", len,
			  zt_pkt_result_name(r));
		return;
	}
	if (is_local_noise(&p) ||
	    !zt_srccheck(&af->srccheck, &af->src, &p.src, uv_hrtime()))
		return;
	if (is_dns_stub(&p)) {
		dns_answer(af, &p);
		return;
	}
	if (p.proto == ZT_IPPROTO_TCP) {
		tcp_packet(af, &p, raw, len);
		return;
	}
	if (p.proto == ZT_IPPROTO_UDP ||
	    (p.proto == ZT_IPPROTO_ICMP && p.icmp_type == 8)) {
		dgram_packet(af, &p, raw, len);
		return;
	}
	if (p.proto == ZT_IPPROTO_ICMP || p.proto == ZT_IPPROTO_ICMPV6) {
		/* Other ICMP (errors, replies, ICMPv6 echo): not flows. */
		if (p.proto == ZT_IPPROTO_ICMPV6 && p.icmp_type == 128)
			deny_other(af, &p, raw, len, "no IPv6 services");
		return;
	}
}

static void poll_cb(uv_poll_t *h, int status, int events);

static void poll_closed(uv_handle_t *h)
{
	free(h);
}

static void poll_stop(struct zt_aflows *af)
{
	if (af->poll)
		uv_close((uv_handle_t *)af->poll, poll_closed);
	af->poll = NULL;
}

static void poll_update(struct zt_aflows *af)
{
	int fd = af->src.ops->fd(&af->src);
	int ev = UV_READABLE;

	/* The shim backend queues output when its socket is full: poll for
	 * writability only while something waits. */
	if (af->src.ops->pending && af->src.ops->pending(&af->src))
		ev |= UV_WRITABLE;
	if (fd == af->poll_fd && (fd < 0 || ev == af->poll_events))
		return;
	if (fd == af->poll_fd && af->poll) {
		af->poll_events = ev;
		uv_poll_start(af->poll, ev, poll_cb);
		return;
	}
	poll_stop(af);
	af->poll_fd = fd;
	if (fd < 0)
		return;
	/* A closing handle cannot be reused before its close callback: the
	 * shim backend switches descriptors, so each gets its own. */
	af->poll = malloc(sizeof(*af->poll));
	if (!af->poll)
		return;
	uv_poll_init(af->env->loop, af->poll, fd);
	af->poll->data = af;
	af->poll_events = ev;
	uv_poll_start(af->poll, ev, poll_cb);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct zt_aflows *af = h->data;

	if ((events & UV_WRITABLE) && af->src.ops->flush)
		af->src.ops->flush(&af->src);
	/* A bounded batch per wake-up so other events get their turn: what
	 * is read here is only sent at the end of the loop iteration, so a
	 * big batch is queueing delay for every other flow. */
	for (int i = 0; i < POLL_BATCH; i++) {
		ssize_t n = af->src.ops->read(&af->src, af->rbuf, sizeof(af->rbuf));

		if (n <= 0)
			break;
		packet_in(af, af->rbuf, (size_t)n);
	}
	poll_update(af);
}

static void ns_output(void *ud, const struct iovec *iov, int cnt)
{
	struct zt_aflows *af = ud;

	af->src.ops->write(&af->src, iov, cnt);
	if (af->src.ops->pending && af->poll_events == UV_READABLE &&
	    af->src.ops->pending(&af->src))
		poll_update(af);
}

static const struct zt_netstack_ops ns_ops = {
	.output = ns_output,
};

int zt_aflows_start(struct zt_aflows *af, const struct zt_env *env,
		    const struct zt_config *cfg)
{
	struct zt_pktsrc_config pc;
	uint32_t a4 = htonl(ZT_AGENT_ADDR4);
	int rv;

	memset(af, 0, sizeof(*af));
	af->env = env;
	af->poll_fd = -1;
	af->nbuckets = 4096;
	af->table = calloc(af->nbuckets, sizeof(*af->table));
	if (!af->table)
		return ZT_ENOMEM;
	/* 100.64.0.x is ours (tunnel, DNS stub): names start at 100.64.1.1. */
	rv = zt_synth_new(&af->synth, ZT_AGENT_POOL4, ZT_AGENT_POOL4_PREFIX, 257,
			  600ULL * 1000000000ULL);
	if (rv != 0)
		return rv;
	memset(&pc, 0, sizeof(pc));
	snprintf(pc.ifname, sizeof(pc.ifname), "%s", cfg->tun_ifname);
	if (snprintf(pc.shim_socket, sizeof(pc.shim_socket), "%s",
		     cfg->shim_socket) >= (int)sizeof(pc.shim_socket))
		return ZT_EINVAL; /* the config loader already refuses this */
	pc.mtu = cfg->tun_mtu;
	pc.addr4.family = AF_INET;
	pc.addr4.prefix = 32;
	memcpy(pc.addr4.addr, &a4, 4);
	pc.dns.family = AF_INET;
	a4 = htonl(ZT_AGENT_DNS4);
	memcpy(pc.dns.ip, &a4, 4);
	af->src.ops = env->pktsrc	  ? env->pktsrc
		      : cfg->shim_socket[0] ? &zt_pktsrc_shim_ops
					    : &zt_pktsrc_tun_ops;
	af->src.user = env->pktsrc_user;
	if ((rv = af->src.ops->open(&af->src, &pc)) != 0)
		return rv;
	/* The pool now, service CIDRs with the catalog. A route someone else
	 * holds is logged and left to them: the rest still works. */
	zt_aroutes_set(&af->routes, &af->src, NULL, 0, NULL, 0);
	if ((rv = zt_netstack_init(&af->ns, env->loop, &ns_ops, af)) != 0)
		return rv;
	uv_timer_init(env->loop, &af->sweep);
	af->sweep.data = af;
	uv_timer_start(&af->sweep, sweep_cb, 5000, 5000);
	af->sweep_on = 1;
	zt_adns_start(&af->fwd, env->loop, cfg, &fwd_ops, af);
	poll_update(af);
	return 0;
}

void zt_aflows_stop(struct zt_aflows *af)
{
	for (size_t b = 0; af->table && b < af->nbuckets; b++)
		while (af->table[b])
			aflow_reset_app(af->table[b], "agent stopping");
	asession_stop_all(af);
	poll_stop(af);
	if (af->sweep_on)
		uv_close((uv_handle_t *)&af->sweep, NULL);
	zt_adns_stop(&af->fwd);
	if (af->src.ops)
		af->src.ops->close(&af->src);
	if (af->table)
		zt_netstack_close(&af->ns);
	zt_synth_free(af->synth);
	zt_aroutes_free(&af->routes);
	free(af->catalog);
	free(af->table);
}

static void flows_status(struct zt_aflows *af, struct zt_sb *b, int json)
{
	char s[64], d[64];
	int first = 1;

	for (size_t i = 0; i < af->nbuckets; i++)
		for (struct aflow *f = af->table[i]; f; f = f->next, first = 0) {
			double age = (double)(uv_hrtime() - f->start_ns) / 1e9;

			zt_addr_str(&f->src, s, sizeof(s));
			zt_addr_str(&f->dst, d, sizeof(d));
			if (json)
			{
				zt_sb_printf(b, "%s{\"proto\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\","
					     "\"service\":", first ? "" : ",",
					     aflow_proto_str(f->proto), s, d);
				zt_sb_json_str(b, f->service);
				zt_sb_printf(b, ",\"up\":%llu,\"down\":%llu,"
					     "\"age_s\":%.1f}", (unsigned long long)f->up,
					     (unsigned long long)f->down, age);
			}
			else
				zt_sb_printf(b, "  %s %s -> %s  %s  up %llu down %llu  %.1fs\n",
					     aflow_proto_str(f->proto), s, d, f->service, (unsigned long long)f->up,
					     (unsigned long long)f->down, age);
		}
}

void zt_aflows_status(struct zt_aflows *af, struct zt_sb *b, int json)
{
	uint64_t drops = 0;

	for (int i = 1; i < 8; i++)
		drops += af->drops[i];
	zt_adns_status(&af->fwd, b, json);
	if (json)
		zt_sb_printf(b, ",\"packets_dropped\":%llu,\"packets_bad_source\":%llu,"
			     "\"flows_denied\":%llu,\"sessions\":[",
			     (unsigned long long)drops,
			     (unsigned long long)af->srccheck.dropped,
			     (unsigned long long)af->denied);
	else
		zt_sb_printf(b, "dropped:   %llu malformed packets, %llu from a foreign source, "
			     "%llu denied flows\nsessions:\n", (unsigned long long)drops,
			     (unsigned long long)af->srccheck.dropped,
			     (unsigned long long)af->denied);
	asession_status(af, b, json);
	zt_sb_printf(b, json ? "],\"flows\":[" : "flows:\n");
	flows_status(af, b, json);
	if (json)
		zt_sb_printf(b, "]");
}
