/* See netstack.h. The lwIP glue: the catch-all netif, timers, per-port
 * listeners, and connections, whose state machine is below. */
#include "netstack.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "err.h"
#include "log.h"

struct zt_listener {
	struct zt_listener *next;
	uint16_t port;
	unsigned refs;
	struct tcp_pcb *pcb;
};

/* HELD: only the SYN, no pcb. ACCEPTING: inside zt_ns_conn_accept, lwIP
 * handling the SYN. HANDSHAKE: a SYN_RCVD pcb, a listener held on the
 * port. OPEN: established. GONE: lwIP freed the pcb. */
enum { NS_HELD = 0, NS_ACCEPTING, NS_HANDSHAKE, NS_OPEN, NS_GONE };

struct zt_ns_conn {
	struct zt_netstack *ns;
	const struct zt_ns_conn_ops *ops;
	void *ud;
	struct tcp_pcb *pcb;
	int state;
	struct zt_pkt syn; /* as parsed by the intake, pointing into raw */
	size_t syn_len;
	uint8_t raw[];
};

/* lwIP's only clock, in milliseconds. */
u32_t sys_now(void)
{
	return (u32_t)(uv_hrtime() / 1000000ULL);
}

/* The netif lives in lwIP's netif list, which is global anyway; we keep it
 * next to it rather than in zt_netstack so lwIP can find its state. */
static struct netif zt_netif;

static struct zt_netstack *ns_of(struct netif *n)
{
	return n->state;
}

static err_t output_chain(struct netif *n, struct pbuf *p)
{
	struct zt_netstack *ns = ns_of(n);
	struct iovec iov[16];
	int cnt = 0;

	for (struct pbuf *q = p; q && cnt < 16; q = q->next)
		iov[cnt++] = (struct iovec){ q->payload, q->len };
	if (cnt == 16 && p->next) {
		/* A long chain: flatten it rather than truncate. */
		pbuf_copy_partial(p, ns->obuf, p->tot_len, 0);
		iov[0] = (struct iovec){ ns->obuf, p->tot_len };
		cnt = 1;
	}
	ns->ops->output(ns->ud, iov, cnt);
	return ERR_OK;
}

static err_t output4(struct netif *n, struct pbuf *p, const ip4_addr_t *a)
{
	return output_chain(n, p);
}

static err_t output6(struct netif *n, struct pbuf *p, const ip6_addr_t *a)
{
	return output_chain(n, p);
}

static err_t netif_init_cb(struct netif *n)
{
	n->name[0] = 'z';
	n->name[1] = 't';
	n->output = output4;
	n->output_ip6 = output6;
	n->mtu = 65535;
	n->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

static void timer_cb(uv_timer_t *t)
{
	sys_check_timeouts();
}

/* After every loop iteration: lwIP timers only run while pcbs exist. */
static void check_cb(uv_check_t *c)
{
	struct zt_netstack *ns = c->data;
	u32_t ms = sys_timeouts_sleeptime();

	if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE)
		uv_timer_stop(&ns->timer);
	else
		uv_timer_start(&ns->timer, timer_cb, ms, 0);
}

int zt_netstack_init(struct zt_netstack *ns, uv_loop_t *loop,
		     const struct zt_netstack_ops *ops, void *ud)
{
	ip4_addr_t any4, mask;

	memset(ns, 0, sizeof(*ns));
	ns->loop = loop;
	ns->ops = ops;
	ns->ud = ud;
	lwip_init();
	ip4_addr_set_any(&any4);
	IP4_ADDR(&mask, 255, 255, 255, 255);
	if (!netif_add(&zt_netif, &any4, &mask, &any4, ns, netif_init_cb,
		       ip_input))
		return ZT_ENOMEM;
	netif_ip6_addr_set_state(&zt_netif, 0, IP6_ADDR_VALID);
	netif_set_default(&zt_netif);
	netif_set_up(&zt_netif);
	netif_set_link_up(&zt_netif);
	uv_timer_init(loop, &ns->timer);
	uv_check_init(loop, &ns->check);
	ns->check.data = ns;
	uv_check_start(&ns->check, check_cb);
	return 0;
}

void zt_netstack_close(struct zt_netstack *ns)
{
	/* Listeners live only as long as a connection in its handshake;
	 * the owner ended its connections before. */
	assert(!ns->listeners);
	netif_remove(&zt_netif);
	uv_close((uv_handle_t *)&ns->timer, NULL);
	uv_close((uv_handle_t *)&ns->check, NULL);
}

void zt_netstack_input(struct zt_netstack *ns, const uint8_t *pkt, size_t len,
		       int version, const uint8_t *dst)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	if (!p || len > 0xffff) {
		if (p)
			pbuf_free(p);
		return;
	}
	pbuf_take(p, pkt, (u16_t)len);
	/* Become the destination for this packet: lwIP only accepts packets
	 * addressed to its netif. Writing the field directly (not through
	 * netif_set_ipaddr) keeps lwIP from aborting pcbs of "old" addresses. */
	if (version == 4) {
		memcpy(&ip_2_ip4(&zt_netif.ip_addr)->addr, dst, 4);
	} else {
		ip6_addr_t *a = ip_2_ip6(&zt_netif.ip6_addr[0]);

		memcpy(a->addr, dst, 16);
		ip6_addr_clear_zone(a);
	}
	if (zt_netif.input(p, &zt_netif) != ERR_OK)
		pbuf_free(p);
}

/* --- listeners: one per port while a connection is in its handshake --- */

static err_t passive_open(u8_t id, struct tcp_pcb_listen *lpcb,
			  struct tcp_pcb *pcb);
static err_t accept_cb(void *arg, struct tcp_pcb *pcb, err_t err);

/* lwIP hands out ext-arg slots from a global counter: one for the process. */
static u8_t ext_id = LWIP_TCP_PCB_NUM_EXT_ARG_ID_INVALID;
static const struct tcp_ext_arg_callbacks ext_cbs = { NULL, passive_open };

static struct zt_listener *listener_ref(struct zt_netstack *ns, uint16_t port)
{
	struct zt_listener *l;
	struct tcp_pcb *pcb;

	for (l = ns->listeners; l; l = l->next)
		if (l->port == port) {
			l->refs++;
			return l;
		}
	if (ext_id == LWIP_TCP_PCB_NUM_EXT_ARG_ID_INVALID)
		ext_id = tcp_ext_arg_alloc_id();
	l = calloc(1, sizeof(*l));
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (pcb) {
		ip_set_option(pcb, SOF_REUSEADDR);
		/* tcp_listen copies them to the listening pcb. */
		tcp_ext_arg_set_callbacks(pcb, ext_id, &ext_cbs);
	}
	if (!l || !pcb || tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK)
		goto fail;
	l->pcb = tcp_listen_with_backlog(pcb, 255);
	if (!l->pcb)
		goto fail;
	/* The argument is a connection only while its SYN is fed in: a SYN
	 * at any other time finds none and is dropped (passive_open). */
	tcp_arg(l->pcb, NULL);
	tcp_accept(l->pcb, accept_cb);
	l->port = port;
	l->refs = 1;
	l->next = ns->listeners;
	ns->listeners = l;
	return l;
fail:
	if (pcb)
		tcp_abort(pcb);
	free(l);
	return NULL;
}

static void listener_unref(struct zt_netstack *ns, uint16_t port)
{
	struct zt_listener **pp = &ns->listeners;

	for (; *pp; pp = &(*pp)->next) {
		struct zt_listener *l = *pp;

		if (l->port != port)
			continue;
		if (--l->refs == 0) {
			*pp = l->next;
			tcp_close(l->pcb);
			free(l);
		}
		return;
	}
	assert(0 && "listener_unref without a reference");
}

/* --- connections --- */

/* The owner's callbacks run inside lwIP's input or timers: if the owner
 * aborts the connection there, lwIP must hear ERR_ABRT and not touch the
 * pcb again; if it frees the connection, we must not either (cb_conn
 * becomes NULL). cb_enter/cb_leave nest. */
struct cb_frame {
	struct zt_ns_conn *conn;
	int aborted;
};

static struct cb_frame cb_enter(struct zt_ns_conn *c)
{
	struct cb_frame f = { c->ns->cb_conn, c->ns->cb_aborted };

	c->ns->cb_conn = c;
	c->ns->cb_aborted = 0;
	return f;
}

static err_t cb_leave(struct zt_netstack *ns, struct cb_frame f)
{
	int aborted = ns->cb_aborted;

	ns->cb_conn = f.conn;
	ns->cb_aborted = f.aborted;
	return aborted ? ERR_ABRT : ERR_OK;
}

static void conn_detach(struct zt_ns_conn *c)
{
	tcp_arg(c->pcb, NULL);
	tcp_recv(c->pcb, NULL);
	tcp_sent(c->pcb, NULL);
	tcp_err(c->pcb, NULL);
}

/* The pcb goes away now (tcp_abort): tell lwIP if inside its callback. */
static void conn_abort_pcb(struct zt_ns_conn *c)
{
	conn_detach(c);
	if (c->ns->cb_conn == c)
		c->ns->cb_aborted = 1;
	tcp_abort(c->pcb);
	c->pcb = NULL;
}

static err_t lw_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct zt_ns_conn *c = arg;
	struct zt_netstack *ns;
	struct cb_frame f;
	struct iovec iov[16];
	struct pbuf *q = p;

	if (!c) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	assert(c->state == NS_OPEN && c->pcb == pcb);
	ns = c->ns;
	f = cb_enter(c);
	if (!p)
		c->ops->eof(c->ud);
	/* The owner may end c in any call (conn_free clears cb_conn): after
	 * that only ns is safe. */
	while (q && ns->cb_conn) {
		int n = 0;

		for (; q && n < 16; q = q->next)
			iov[n++] = (struct iovec){ q->payload, q->len };
		c->ops->data(c->ud, iov, n);
	}
	if (p)
		pbuf_free(p);
	return cb_leave(ns, f);
}

static err_t lw_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct zt_ns_conn *c = arg;
	struct zt_netstack *ns;
	struct cb_frame f;

	if (!c)
		return ERR_OK;
	ns = c->ns; /* c may be gone after the callback */
	f = cb_enter(c);
	c->ops->sent(c->ud);
	return cb_leave(ns, f);
}

/* lwIP already freed the pcb. */
static void lw_err(void *arg, err_t err)
{
	struct zt_ns_conn *c = arg;

	if (!c)
		return;
	c->pcb = NULL;
	/* lwIP gave up inside zt_ns_conn_accept, which reports it. */
	if (c->state == NS_ACCEPTING)
		return;
	if (c->state == NS_HANDSHAKE)
		listener_unref(c->ns, c->syn.dst.port);
	c->state = NS_GONE;
	c->ops->closed(c->ud, err == ERR_CLSD ? 0 :
			      err == ERR_RST  ? ZT_ECLOSED :
						ZT_EIO);
}

/* lwIP made the pcb for a SYN at a listener: it belongs to the connection
 * whose SYN is being fed in, if any. */
static err_t passive_open(u8_t id, struct tcp_pcb_listen *lpcb,
			  struct tcp_pcb *pcb)
{
	struct zt_ns_conn *c = lpcb->callback_arg;

	if (!c)
		return ERR_ABRT;
	assert(c->state == NS_ACCEPTING && !c->pcb);
	assert(pcb->remote_port == c->syn.src.port);
	c->pcb = pcb;
	tcp_arg(pcb, c);
	tcp_recv(pcb, lw_recv);
	tcp_sent(pcb, lw_sent);
	tcp_err(pcb, lw_err);
	tcp_nagle_disable(pcb);
	return ERR_OK;
}

/* The application's ACK completed the handshake. */
static err_t accept_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct zt_ns_conn *c = arg;
	struct zt_netstack *ns;
	struct cb_frame f;

	if (err != ERR_OK || !pcb || !c)
		return ERR_VAL; /* lwIP aborts a pcb it could not accept */
	assert(c->state == NS_HANDSHAKE && c->pcb == pcb);
	ns = c->ns; /* c may be gone after the callback */
	c->state = NS_OPEN;
	listener_unref(ns, c->syn.dst.port);
	f = cb_enter(c);
	c->ops->established(c->ud);
	return cb_leave(ns, f);
}

int zt_ns_conn_new(struct zt_netstack *ns, const struct zt_pkt *syn,
		   const uint8_t *raw, size_t len,
		   const struct zt_ns_conn_ops *ops, void *ud,
		   struct zt_ns_conn **out)
{
	struct zt_ns_conn *c;

	if (syn->proto != ZT_IPPROTO_TCP || len > 0xffff ||
	    (syn->tcp_flags & (ZT_TCP_SYN | ZT_TCP_ACK | ZT_TCP_RST)) !=
		    ZT_TCP_SYN)
		return ZT_EINVAL;
	c = calloc(1, sizeof(*c) + len);
	if (!c)
		return ZT_ENOMEM;
	c->ns = ns;
	c->ops = ops;
	c->ud = ud;
	c->state = NS_HELD;
	memcpy(c->raw, raw, len);
	c->syn_len = len;
	/* Parsed once, by the intake: only the pointers move to the copy. */
	c->syn = *syn;
	c->syn.l4 = c->raw + (syn->l4 - raw);
	c->syn.payload = c->raw + (syn->payload - raw);
	*out = c;
	return 0;
}

int zt_ns_conn_accept(struct zt_ns_conn *c)
{
	struct zt_netstack *ns = c->ns;
	struct zt_listener *l;

	assert(c->state == NS_HELD);
	l = listener_ref(ns, c->syn.dst.port);
	if (!l)
		return ZT_ENOMEM;
	c->state = NS_ACCEPTING;
	tcp_arg(l->pcb, c);
	zt_netstack_input(ns, c->raw, c->syn_len, c->syn.version,
			  c->syn.dst.ip);
	tcp_arg(l->pcb, NULL);
	if (!c->pcb) {
		/* No pcb came of it, or lwIP dropped it at once (memory), or
		 * lwIP already has this 4-tuple (e.g. in TIME_WAIT). */
		listener_unref(ns, c->syn.dst.port);
		c->state = NS_HELD;
		return ZT_ENOMEM;
	}
	c->state = NS_HANDSHAKE;
	return 0;
}

ssize_t zt_ns_conn_write(struct zt_ns_conn *c, const uint8_t *d, size_t n)
{
	size_t done = 0;

	if (c->state != NS_OPEN)
		return ZT_ECLOSED;
	while (done < n) {
		/* tcp_sndbuf and tcp_write stay within u16 even with window
		 * scaling: several writes fill a large buffer. */
		size_t k = tcp_sndbuf(c->pcb);

		if (k > n - done)
			k = n - done;
		if (k == 0 || tcp_write(c->pcb, d + done, (u16_t)k,
					TCP_WRITE_FLAG_COPY) != ERR_OK)
			break;
		done += k;
	}
	return (ssize_t)done;
}

void zt_ns_conn_flush(struct zt_ns_conn *c)
{
	if (c->state == NS_OPEN)
		tcp_output(c->pcb);
}

void zt_ns_conn_recved(struct zt_ns_conn *c, size_t n)
{
	if (c->state != NS_OPEN)
		return;
	while (n) {
		u16_t k = n > 0xffff ? 0xffff : (u16_t)n;

		tcp_recved(c->pcb, k);
		n -= k;
	}
}

int zt_ns_conn_shutdown(struct zt_ns_conn *c)
{
	if (c->state != NS_OPEN)
		return ZT_ECLOSED;
	return tcp_shutdown(c->pcb, 0, 1) == ERR_OK ? 0 : ZT_ECLOSED;
}

static void conn_free(struct zt_ns_conn *c)
{
	assert(c->state != NS_ACCEPTING);
	if (c->ns->cb_conn == c)
		c->ns->cb_conn = NULL;
	if (c->state == NS_HANDSHAKE)
		listener_unref(c->ns, c->syn.dst.port);
	free(c);
}

void zt_ns_conn_close(struct zt_ns_conn *c)
{
	if (c->state == NS_OPEN) {
		conn_detach(c);
		/* lwIP finishes the close on its own; only when it cannot
		 * even start it does the pcb go at once. */
		if (tcp_close(c->pcb) != ERR_OK) {
			if (c->ns->cb_conn == c)
				c->ns->cb_aborted = 1;
			tcp_abort(c->pcb);
		}
	} else if (c->state == NS_HANDSHAKE) {
		/* Never established: a RST, not a FIN after the SYN-ACK. */
		conn_abort_pcb(c);
	}
	conn_free(c);
}

void zt_ns_conn_abort(struct zt_ns_conn *c)
{
	uint8_t rst[128];
	size_t n;

	if (c->state == NS_HELD) {
		/* The application saw nothing yet: answer its SYN as a
		 * closed port would. */
		n = zt_pkt_build_rst(rst, sizeof(rst), &c->syn);
		if (n) {
			struct iovec v = { rst, n };

			c->ns->ops->output(c->ns->ud, &v, 1);
		}
	} else if (c->pcb) {
		conn_abort_pcb(c);
	}
	conn_free(c);
}
