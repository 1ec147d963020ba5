/* The agent's in-memory packet source (sim.h): an eventfd-signalled queue
 * in, a callback out, routes recorded and nothing else. */
#include "sim.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "err.h"
#include "pkt.h"

#define TUN_ADDR 0x64400001u /* 100.64.0.1 */
#define DNS_ADDR 0x64400002u /* 100.64.0.2 */

void sim_tun_init(struct sim_tun *t)
{
	memset(t, 0, sizeof(*t));
	t->efd = -1;
}

static void drain(struct sim_tun *t)
{
	while (t->head) {
		struct sim_pkt *p = t->head;

		t->head = p->next;
		free(p);
	}
	t->tail = NULL;
}

void sim_tun_free(struct sim_tun *t)
{
	drain(t);
	if (t->efd >= 0)
		close(t->efd);
	t->efd = -1;
}

int sim_tun_send(struct sim_tun *t, const uint8_t *data, size_t n)
{
	struct sim_pkt *p = malloc(sizeof(*p) + n);
	uint64_t one = 1;

	if (!p)
		return ZT_ENOMEM;
	p->next = NULL;
	p->len = n;
	memcpy(p->data, data, n);
	if (t->tail)
		t->tail->next = p;
	else
		t->head = p;
	t->tail = p;
	t->to_agent++;
	if (t->efd >= 0 && write(t->efd, &one, sizeof(one)) != sizeof(one))
		return ZT_EIO;
	return 0;
}

int sim_tun_send_udp(struct sim_tun *t, uint16_t sport, uint32_t dst_ip,
		     uint16_t dport, const uint8_t *payload, size_t n)
{
	struct zt_addr src = { .family = AF_INET, .port = sport };
	struct zt_addr dst = { .family = AF_INET, .port = dport };
	uint8_t buf[2048];
	uint32_t a = htonl(TUN_ADDR), b = htonl(dst_ip);
	size_t len;

	memcpy(src.ip, &a, 4);
	memcpy(dst.ip, &b, 4);
	len = zt_pkt_build_udp(buf, sizeof(buf), &src, &dst, payload, n);
	return len ? sim_tun_send(t, buf, len) : ZT_EINVAL;
}

int sim_tun_dns_query(struct sim_tun *t, uint16_t sport, uint16_t id,
		      const char *name)
{
	uint8_t q[300];
	size_t n = 12;

	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	while (*name) {
		size_t l = strcspn(name, ".");

		if (l == 0 || l > 63 || n + l + 6 > sizeof(q))
			return ZT_EINVAL;
		q[n++] = (uint8_t)l;
		memcpy(q + n, name, l);
		n += l;
		name += l + (name[l] == '.');
	}
	q[n++] = 0;
	q[n++] = 0;
	q[n++] = 1; /* A */
	q[n++] = 0;
	q[n++] = 1; /* IN */
	return sim_tun_send_udp(t, sport, DNS_ADDR, 53, q, n);
}

/* --- the ops --- */

static int tun_open(struct zt_pktsrc *s, const struct zt_pktsrc_config *cfg)
{
	struct sim_tun *t = s->user;
	const struct zt_pktsrc_ops *ops = s->ops;

	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->user = t;
	s->cfg = *cfg;
	s->listen_fd = -1;
	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->fd = t->efd;
	snprintf(s->ifname, sizeof(s->ifname), "simtun");
	return t->efd >= 0 ? 0 : ZT_EIO;
}

static int tun_set_routes(struct zt_pktsrc *s, const struct zt_cidr *routes,
			  size_t n)
{
	struct sim_tun *t = s->user;

	if (n > ZT_PKTSRC_MAX_ROUTES)
		return ZT_EINVAL;
	memcpy(t->routes, routes, n * sizeof(*routes));
	t->n_routes = n;
	memcpy(s->cfg.routes, routes, n * sizeof(*routes));
	s->cfg.n_routes = n;
	return 0;
}

static int tun_fd(struct zt_pktsrc *s)
{
	return s->fd;
}

static ssize_t tun_read(struct zt_pktsrc *s, uint8_t *buf, size_t cap)
{
	struct sim_tun *t = s->user;
	struct sim_pkt *p = t->head;
	uint64_t v;
	size_t n;

	if (!p) {
		/* Empty: the eventfd goes quiet until the next packet. */
		if (read(t->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: it already was */
		}
		return 0;
	}
	t->head = p->next;
	if (!t->head)
		t->tail = NULL;
	n = p->len < cap ? p->len : cap;
	memcpy(buf, p->data, n);
	free(p);
	return (ssize_t)n;
}

static int tun_write(struct zt_pktsrc *s, const struct iovec *iov, int iovcnt)
{
	struct sim_tun *t = s->user;
	uint8_t buf[65536];
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > sizeof(buf) - n)
			return ZT_ETOOBIG;
		memcpy(buf + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	t->from_agent++;
	if (t->out)
		t->out(t->out_arg, buf, n);
	return 0;
}

static void tun_close(struct zt_pktsrc *s)
{
	struct sim_tun *t = s->user;

	if (!t)
		return;
	drain(t);
	if (t->efd >= 0)
		close(t->efd);
	t->efd = -1;
	s->fd = -1;
}

const struct zt_pktsrc_ops sim_tun_ops = {
	.name = "sim",
	.open = tun_open,
	.set_routes = tun_set_routes,
	.fd = tun_fd,
	.read = tun_read,
	.write = tun_write,
	.close = tun_close,
};
