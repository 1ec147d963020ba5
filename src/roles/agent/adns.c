/* Agent DNS forwarder (see adns.h). The resolver's answer travels over a
 * network the user does not control, so it is checked as if hostile: only
 * the configured resolver's address and port, on the socket of that one
 * query, with our random id and the question we asked, is an answer at
 * all; and an answer that names an address inside the tunnel becomes
 * SERVFAIL, because the application would otherwise send its traffic (and
 * the user's credentials) to a private service on behalf of whoever
 * controls that name. */
#include "adns.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "aflow.h"

enum { SLOT_FREE = 0, SLOT_WAIT, SLOT_CLOSING };

#define SWEEP_MS 1000
#define LOG_WINDOW_NS (60ULL * 1000000000ULL)

/* "system": the first IPv4 nameserver in resolv.conf that is not us. */
static int system_resolver(struct zt_addr *a)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[256], ip[64];
	uint32_t stub = htonl(ZT_AGENT_DNS4);
	int rv = ZT_ENOTFOUND;

	if (!f)
		return ZT_EIO;
	while (rv != 0 && fgets(line, sizeof(line), f)) {
		memset(a, 0, sizeof(*a));
		if (sscanf(line, "nameserver %63s", ip) != 1 ||
		    inet_pton(AF_INET, ip, a->ip) != 1 ||
		    memcmp(a->ip, &stub, 4) == 0)
			continue;
		a->family = AF_INET;
		a->port = 53;
		rv = 0;
	}
	fclose(f);
	return rv;
}

static void slot_closed(uv_handle_t *h)
{
	struct zt_adns_slot *s = h->data;

	s->state = SLOT_FREE;
}

static void slot_close(struct zt_adns_slot *s)
{
	if (s->state == SLOT_WAIT)
		s->f->outstanding--;
	s->state = SLOT_CLOSING;
	uv_close((uv_handle_t *)&s->sock, slot_closed);
}

static void drop(struct zt_adns *f, const char *why)
{
	f->st.dropped++;
	log_debug("dns: answer dropped: %s", why);
}

/* One line per name a minute, and no more than ZT_ADNS_LOGNAMES lines a
 * minute in all: a hostile resolver chooses the names and how often. */
static void log_blocked(struct zt_adns *f, const char *name,
			const struct zt_addr *a)
{
	uint64_t now = uv_hrtime();
	char s[INET6_ADDRSTRLEN];
	unsigned i;

	for (i = 0; i < ZT_ADNS_LOGNAMES; i++)
		if (f->logged[i].at && now - f->logged[i].at < LOG_WINDOW_NS &&
		    strcmp(f->logged[i].name, name) == 0)
			return;
	if (!f->log_window || now - f->log_window >= LOG_WINDOW_NS) {
		if (f->log_suppressed)
			log_warn("dns: %llu more rebinding answers not logged",
				 (unsigned long long)f->log_suppressed);
		f->log_window = now;
		f->log_in_window = 0;
		f->log_suppressed = 0;
	}
	if (f->log_in_window++ >= ZT_ADNS_LOGNAMES) {
		f->log_suppressed++;
		return;
	}
	i = f->log_next++ % ZT_ADNS_LOGNAMES;
	snprintf(f->logged[i].name, sizeof(f->logged[i].name), "%s", name);
	f->logged[i].at = now;
	log_warn("dns: %s from the resolver points into the tunnel (%s): "
		 "answered SERVFAIL (DNS rebinding)",
		 name, inet_ntop(a->family, a->ip, s, sizeof(s)) ? s : "?");
}

static const struct zt_addr *first_reserved(struct zt_adns *f,
					    const struct zt_dns_response *r)
{
	for (size_t i = 0; i < r->n_addrs; i++)
		if (f->ops->reserved(f->ud, &r->addrs[i]))
			return &r->addrs[i];
	return NULL;
}

static void servfail(struct zt_adns *f, struct zt_adns_slot *s)
{
	size_t n = zt_dns_build_error(f->out, sizeof(f->out), &s->q, s->raw,
				      ZT_DNS_SERVFAIL);

	if (n)
		f->ops->reply(f->ud, &s->client, &s->stub, f->out, n);
}

/* m is from the resolver's address and port, on this query's socket. */
static void answer(struct zt_adns *f, struct zt_adns_slot *s, uint8_t *m,
		   size_t n)
{
	struct zt_dns_response r;
	const struct zt_addr *bad;

	if (zt_dns_parse_response(&r, m, n) != 0) {
		drop(f, "malformed or too many addresses");
		return;
	}
	if (zt_dns_response_matches(&r, &s->q, s->id) != 0) {
		drop(f, "not the answer to our query");
		return;
	}
	bad = first_reserved(f, &r);
	if (bad) {
		f->st.rebind_blocked++;
		log_blocked(f, s->q.name, bad);
		servfail(f, s);
	} else {
		f->st.answered++;
		m[0] = (uint8_t)(s->orig_id >> 8);
		m[1] = (uint8_t)s->orig_id;
		f->ops->reply(f->ud, &s->client, &s->stub, m, n);
	}
	slot_close(s);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct zt_adns_slot *s = h->data;

	b->base = (char *)s->f->buf;
	b->len = sizeof(s->f->buf);
}

static void on_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b,
		    const struct sockaddr *from, unsigned flags)
{
	struct zt_adns_slot *s = u->data;
	struct zt_addr src;

	/* Errors (n < 0) are left to the deadline; n == 0 without an address
	 * is libuv saying there is nothing more to read. */
	if (n < 0 || !from || s->state != SLOT_WAIT)
		return;
	if (zt_addr_from_sockaddr(&src, from) != 0 ||
	    !zt_addr_equal(&src, &s->f->upstream)) {
		drop(s->f, "not from the resolver's address and port");
		return;
	}
	if (flags & UV_UDP_PARTIAL) {
		drop(s->f, "larger than the receive buffer");
		return;
	}
	answer(s->f, s, (uint8_t *)b->base, (size_t)n);
}

static void sweep_cb(uv_timer_t *t)
{
	struct zt_adns *f = t->data;
	uint64_t now = uv_hrtime();

	for (size_t i = 0; i < ZT_ADNS_SLOTS; i++) {
		struct zt_adns_slot *s = &f->slot[i];

		if (s->state == SLOT_WAIT && now - s->at > ZT_ADNS_TIMEOUT_NS) {
			f->st.timeouts++;
			slot_close(s);
		}
	}
}

/* A fresh socket bound to port 0: the kernel picks a random ephemeral
 * port, so an off-path attacker has to guess port and id together. */
static int slot_open(struct zt_adns *f, struct zt_adns_slot *s)
{
	struct sockaddr_storage any;
	struct zt_addr a = { .family = f->upstream.family };
	int rv;

	if (uv_udp_init_ex(f->loop, &s->sock, f->upstream.family) != 0)
		return ZT_EIO;
	s->sock.data = s;
	s->f = f;
	s->state = SLOT_WAIT;
	f->outstanding++;
	zt_addr_to_sockaddr(&a, &any);
	rv = uv_udp_bind(&s->sock, (struct sockaddr *)&any, 0);
	if (rv == 0)
		rv = uv_udp_recv_start(&s->sock, on_alloc, on_recv);
	if (rv != 0) {
		log_warn("dns: cannot open a socket to forward a query: %s",
			 uv_strerror(rv));
		slot_close(s);
		return ZT_EIO;
	}
	return 0;
}

static struct zt_adns_slot *free_slot(struct zt_adns *f)
{
	for (size_t i = 0; i < ZT_ADNS_SLOTS; i++)
		if (f->slot[i].state == SLOT_FREE)
			return &f->slot[i];
	return NULL;
}

static int send_query(struct zt_adns *f, struct zt_adns_slot *s,
		      const uint8_t *raw, size_t len)
{
	uv_buf_t b;

	memcpy(f->out, raw, len);
	f->out[0] = (uint8_t)(s->id >> 8);
	f->out[1] = (uint8_t)s->id;
	b = uv_buf_init((char *)f->out, (unsigned)len);
	if (uv_udp_try_send(&s->sock, &b, 1, (struct sockaddr *)&f->to) < 0)
		return ZT_EIO;
	return 0;
}

int zt_adns_forward(struct zt_adns *f, const struct zt_dns_query *q,
		    const uint8_t *raw, size_t len,
		    const struct zt_addr *client, const struct zt_addr *stub)
{
	struct zt_adns_slot *s;
	int rv;

	if (!f->on)
		return ZT_ENOTFOUND;
	if (len > sizeof(f->out) || q->question_end > sizeof(s->raw))
		return ZT_ETOOBIG;
	s = free_slot(f);
	if (!s) {
		f->st.busy++;
		return ZT_EAGAIN;
	}
	if ((rv = slot_open(f, s)) != 0)
		return rv;
	/* wolfSSL's DRBG, as for QUIC connection IDs: the id is half of what
	 * an off-path spoofer has to guess. */
	if (wolfSSL_RAND_bytes((unsigned char *)&s->id, sizeof(s->id)) != 1) {
		slot_close(s);
		return ZT_EIO;
	}
	s->orig_id = q->id;
	s->q = *q;
	memcpy(s->raw, raw, q->question_end);
	s->client = *client;
	s->stub = *stub;
	s->at = uv_hrtime();
	if ((rv = send_query(f, s, raw, len)) != 0) {
		slot_close(s);
		return rv;
	}
	f->st.forwarded++;
	return 0;
}

int zt_adns_start(struct zt_adns *f, uv_loop_t *loop,
		  const struct zt_config *cfg, const struct zt_adns_ops *ops,
		  void *ud)
{
	char s[64];

	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->ops = ops;
	f->ud = ud;
	f->upstream = cfg->dns_upstream;
	if (cfg->dns_forward == ZT_DNS_FWD_REFUSE)
		return 0;
	if (cfg->dns_forward == ZT_DNS_FWD_SYSTEM &&
	    system_resolver(&f->upstream) != 0) {
		log_warn("dns: no usable nameserver in /etc/resolv.conf; "
			 "names outside the catalog are refused");
		return 0;
	}
	zt_addr_to_sockaddr(&f->upstream, &f->to);
	uv_timer_init(loop, &f->sweep);
	f->sweep.data = f;
	uv_timer_start(&f->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	f->on = 1;
	log_info("dns: names outside the catalog go to %s",
		 zt_addr_str(&f->upstream, s, sizeof(s)));
	return 0;
}

void zt_adns_stop(struct zt_adns *f)
{
	if (!f->on)
		return;
	f->on = 0;
	uv_close((uv_handle_t *)&f->sweep, NULL);
	for (size_t i = 0; i < ZT_ADNS_SLOTS; i++)
		if (f->slot[i].state == SLOT_WAIT)
			slot_close(&f->slot[i]);
}

void zt_adns_status(const struct zt_adns *f, struct zt_sb *b, int json)
{
	const struct zt_adns_stats *st = &f->st;
	char up[64];

	zt_addr_str(&f->upstream, up, sizeof(up));
	if (json)
		zt_sb_printf(b,
			     ",\"dns_forward\":{\"upstream\":\"%s\","
			     "\"forwarded\":%llu,\"answered\":%llu,"
			     "\"rebind_blocked\":%llu,\"dropped\":%llu,"
			     "\"timeouts\":%llu,\"busy\":%llu,"
			     "\"outstanding\":%zu}",
			     f->on ? up : "", (unsigned long long)st->forwarded,
			     (unsigned long long)st->answered,
			     (unsigned long long)st->rebind_blocked,
			     (unsigned long long)st->dropped,
			     (unsigned long long)st->timeouts,
			     (unsigned long long)st->busy, f->outstanding);
	else if (f->on)
		zt_sb_printf(b,
			     "dns:       %llu forwarded to %s, %llu answered, "
			     "%llu rebinding answers blocked, %llu dropped, "
			     "%llu timed out\n",
			     (unsigned long long)st->forwarded, up,
			     (unsigned long long)st->answered,
			     (unsigned long long)st->rebind_blocked,
			     (unsigned long long)st->dropped,
			     (unsigned long long)st->timeouts);
}
