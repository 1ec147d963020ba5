#include "netstack.h"

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
	while (ns->listeners) {
		struct zt_listener *l = ns->listeners;

		ns->listeners = l->next;
		tcp_close(l->pcb);
		free(l);
	}
	netif_remove(&zt_netif);
	uv_close((uv_handle_t *)&ns->timer, NULL);
	uv_close((uv_handle_t *)&ns->check, NULL);
}

void zt_netstack_input(struct zt_netstack *ns, const uint8_t *pkt,
		       size_t len, int version, const uint8_t *dst)
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

static err_t accept_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct zt_netstack *ns = arg;

	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	if (ns->ops->accepted(ns->ud, pcb) != 0) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	return ERR_OK;
}

int zt_netstack_listen_ref(struct zt_netstack *ns, uint16_t port)
{
	struct zt_listener *l;
	struct tcp_pcb *pcb;

	for (l = ns->listeners; l; l = l->next)
		if (l->port == port) {
			l->refs++;
			return 0;
		}
	l = calloc(1, sizeof(*l));
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (pcb)
		ip_set_option(pcb, SOF_REUSEADDR);
	if (!l || !pcb || tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		if (pcb)
			tcp_abort(pcb);
		free(l);
		return ZT_ENOMEM;
	}
	l->pcb = tcp_listen_with_backlog(pcb, 255);
	if (!l->pcb) {
		tcp_abort(pcb);
		free(l);
		return ZT_ENOMEM;
	}
	tcp_arg(l->pcb, ns);
	tcp_accept(l->pcb, accept_cb);
	l->port = port;
	l->refs = 1;
	l->next = ns->listeners;
	ns->listeners = l;
	return 0;
}

void zt_netstack_listen_unref(struct zt_netstack *ns, uint16_t port)
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
}
