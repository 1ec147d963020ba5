/* ztnad-shim-linux: the Linux stand-in for the macOS Network Extension.
 * It owns a TUN device, connects to ztnad's shim socket, applies the CONFIG
 * frames it receives (MTU, addresses, routes) and bridges packets between
 * the two, so the shim backend and its framing (docs/PROTOCOL.md ("Shim socket")) are tested
 * end to end on Linux exactly as the macOS provider uses them.
 *
 *   ztnad-shim-linux --socket PATH [--ifname NAME] [--verbose]
 *
 * Exits 0 when ztnad closes the connection, 1 on any error. The TUN is not
 * persistent: the kernel removes it and its routes when we exit, so the
 * host's routes after ztnad (and with it the shim) exits are those before.
 * Routes are added, never replaced: see apply_routes().
 *
 * CMake lines for the top-level CMakeLists.txt (after add_executable(ztnad)):
 *
 *   add_executable(ztnad-shim-linux src/tun/shim_linux.c src/tun/netlink.c
 *     src/log.c src/err.c src/types.c)
 *   target_include_directories(ztnad-shim-linux PRIVATE src)
 *   target_compile_options(ztnad-shim-linux PRIVATE ${ZT_WARN})
 *
 * and exclude this file from any glob that feeds ztcore (it has a main). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "netlink.h"
#include "pktsrc.h"

#define FRAME_MAX (ZT_SHIM_HDR_LEN + ZT_SHIM_BODY_MAX)
#define CONNECT_TIMEOUT_MS 10000
#define TUN_BATCH 64 /* packets read from the TUN per wake-up */

struct shim {
	int tun, sock, ifindex;
	char ifname[IFNAMSIZ];
	struct zt_nl nl;
	struct zt_cidr routes[ZT_PKTSRC_MAX_ROUTES]; /* installed by us */
	size_t n_routes;
	uint8_t rbuf[2 * FRAME_MAX];
	size_t rlen;
	uint8_t pkt[FRAME_MAX]; /* header + packet read from the TUN */
};

static int tun_create(struct shim *sh, const char *name)
{
	struct ifreq ifr;

	sh->tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (sh->tun < 0) {
		log_error("/dev/net/tun: %s", strerror(errno));
		return ZT_EIO;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(sh->tun, TUNSETIFF, &ifr) < 0) {
		log_error("tun %s: TUNSETIFF: %s", name, strerror(errno));
		return ZT_EIO;
	}
	snprintf(sh->ifname, sizeof(sh->ifname), "%s", ifr.ifr_name);
	sh->ifindex = zt_nl_ifindex(sh->ifname);
	return sh->ifindex < 0 ? sh->ifindex : 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* ztnad may start after us: retry while the socket is missing or refuses,
 * for up to 10 s. */
static int shim_connect(struct shim *sh, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec pause = { .tv_nsec = 100 * 1000000L };
	long deadline = now_ms() + CONNECT_TIMEOUT_MS;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket path too long: %s", path);
		return ZT_EINVAL;
	}
	strcpy(sa.sun_path, path);
	for (;;) {
		sh->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (sh->sock < 0) {
			log_error("socket: %s", strerror(errno));
			return ZT_EIO;
		}
		if (connect(sh->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		close(sh->sock);
		sh->sock = -1;
		if ((errno != ENOENT && errno != ECONNREFUSED) ||
		    now_ms() >= deadline) {
			log_error("connect %s: %s", path, strerror(errno));
			return ZT_EIO;
		}
		nanosleep(&pause, NULL);
	}
}

static int parse_cidr(const char *s, struct zt_cidr *c)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	char *end;
	unsigned long prefix;
	size_t n = slash ? (size_t)(slash - s) : 0;

	if (n == 0 || n >= sizeof(ip))
		return ZT_EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	memset(c, 0, sizeof(*c));
	c->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (inet_pton(c->family, ip, c->addr) != 1 || *end || errno ||
	    end == slash + 1 || prefix > (c->family == AF_INET ? 32u : 128u))
		return ZT_EINVAL;
	c->prefix = (uint8_t)prefix;
	return 0;
}

struct config {
	uint32_t mtu;
	struct zt_cidr addrs[4];
	size_t n_addrs;
	struct zt_cidr routes[ZT_PKTSRC_MAX_ROUTES];
	size_t n_routes;
};

/* One "key=value" line. Unknown keys are ignored (newer ztnad); bad values
 * of known keys are errors. */
static int parse_line(struct config *c, char *line)
{
	char *v = strchr(line, '=');
	char *end;
	unsigned long mtu;

	if (!v)
		return line[0] ? ZT_EINVAL : 0;
	*v++ = '\0';
	if (strcmp(line, "mtu") == 0) {
		errno = 0;
		mtu = strtoul(v, &end, 10);
		if (*end || end == v || errno || mtu > 65535)
			return ZT_EINVAL;
		c->mtu = (uint32_t)mtu;
	} else if (strcmp(line, "address") == 0) {
		if (c->n_addrs == sizeof(c->addrs) / sizeof(c->addrs[0]))
			return ZT_ETOOBIG;
		return parse_cidr(v, &c->addrs[c->n_addrs++]);
	} else if (strcmp(line, "route") == 0) {
		if (c->n_routes == ZT_PKTSRC_MAX_ROUTES)
			return ZT_ETOOBIG;
		return parse_cidr(v, &c->routes[c->n_routes++]);
	} else if (strcmp(line, "dns") == 0) {
		/* Nothing to do on Linux: the resolver is reached through
		 * the routes; the test points its queries at it. */
		log_info("config: dns %s", v);
	}
	return 0;
}

static int parse_config(struct config *c, const uint8_t *body, size_t len)
{
	static const size_t max = ZT_SHIM_BODY_MAX + 1;
	char *text = malloc(max), *line, *save = NULL;
	int rv = 0;

	memset(c, 0, sizeof(*c));
	if (!text)
		return ZT_ENOMEM;
	memcpy(text, body, len);
	text[len] = '\0';
	for (line = strtok_r(text, "\n", &save); line && rv == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		rv = parse_line(c, line);
		if (rv != 0)
			log_error("config: bad line '%s'", line);
	}
	free(text);
	return rv;
}

static int cidr_in(const struct zt_cidr *c, const struct zt_cidr *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].family == c->family && set[i].prefix == c->prefix &&
		    memcmp(set[i].addr, c->addr, sizeof(c->addr)) == 0)
			return 1;
	return 0;
}

/* Replaces our route set: deletes routes gone from the CONFIG, adds the new
 * ones; unchanged routes are not touched, so no traffic is disturbed. A
 * route that cannot be added (one to the same prefix exists and is not
 * ours: it is never replaced) is logged and left out of the set, so the
 * next CONFIG retries it; the others still apply. */
static void apply_routes(struct shim *sh, const struct config *c)
{
	struct zt_cidr now[ZT_PKTSRC_MAX_ROUTES];
	size_t n = 0;

	for (size_t i = 0; i < sh->n_routes; i++)
		if (!cidr_in(&sh->routes[i], c->routes, c->n_routes))
			zt_nl_del_route(&sh->nl, sh->ifindex, &sh->routes[i]);
	for (size_t i = 0; i < c->n_routes; i++) {
		if (cidr_in(&c->routes[i], now, n))
			continue;
		if (!cidr_in(&c->routes[i], sh->routes, sh->n_routes) &&
		    zt_nl_add_route(&sh->nl, sh->ifindex, &c->routes[i]) != 0)
			continue;
		now[n++] = c->routes[i];
	}
	memcpy(sh->routes, now, n * sizeof(now[0]));
	sh->n_routes = n;
}

/* Same order as the TUN backend: the kernel refuses routes via a device
 * that is down. Addresses are (re)added with replace semantics. */
static int apply_config(struct shim *sh, const uint8_t *body, size_t len)
{
	struct config c;
	int rv = parse_config(&c, body, len);

	if (rv == 0 && c.mtu)
		rv = zt_nl_set_mtu(&sh->nl, sh->ifindex, c.mtu);
	for (size_t i = 0; i < c.n_addrs && rv == 0; i++)
		rv = zt_nl_add_addr(&sh->nl, sh->ifindex, &c.addrs[i]);
	if (rv == 0)
		rv = zt_nl_set_up(&sh->nl, sh->ifindex);
	if (rv == 0) {
		apply_routes(sh, &c);
		log_info("tun %s: mtu %u, %zu addresses, %zu routes",
			 sh->ifname, c.mtu, c.n_addrs, sh->n_routes);
	}
	return rv;
}

/* Handles the complete frames in rbuf. Returns 0, or ZT_E* to exit. */
static int handle_frames(struct shim *sh)
{
	size_t off = 0, len;
	const uint8_t *p;
	int rv = 0;

	while (rv == 0 && sh->rlen - off >= ZT_SHIM_HDR_LEN) {
		p = sh->rbuf + off;
		len = (size_t)p[2] << 8 | p[3];
		if (p[1] != ZT_SHIM_VERSION) {
			log_error("frame version %u, want %u", p[1],
				  ZT_SHIM_VERSION);
			return ZT_EVERSION;
		}
		if (sh->rlen - off < ZT_SHIM_HDR_LEN + len)
			break;
		p += ZT_SHIM_HDR_LEN;
		off += ZT_SHIM_HDR_LEN + len;
		if (p[-4] == ZT_SHIM_CONFIG)
			rv = apply_config(sh, p, len);
		else if (p[-4] != ZT_SHIM_PACKET)
			log_debug("frame type %u ignored", p[-4]);
		else if (len > 0 && write(sh->tun, p, len) < 0)
			/* Dropped, as a full queue or a bad packet would be
			 * on a real interface. */
			log_debug("tun %s: write: %s", sh->ifname,
				  strerror(errno));
	}
	memmove(sh->rbuf, sh->rbuf + off, sh->rlen - off);
	sh->rlen -= off;
	return rv;
}

/* Returns 1 on end of stream, 0 after reading, ZT_E* on error. */
static int from_ztnad(struct shim *sh)
{
	ssize_t n;

	do
		n = recv(sh->sock, sh->rbuf + sh->rlen,
			 sizeof(sh->rbuf) - sh->rlen, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 1;
	if (n < 0) {
		log_error("recv: %s", strerror(errno));
		return ZT_EIO;
	}
	sh->rlen += (size_t)n;
	return handle_frames(sh);
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("send: %s", strerror(errno));
			return ZT_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Forwards what the TUN has, whole frames with blocking sends: ztnad never
 * blocks, so it keeps draining its side. */
static int from_tun(struct shim *sh)
{
	uint8_t *p = sh->pkt + ZT_SHIM_HDR_LEN;
	ssize_t n;
	int rv = 0;

	for (int i = 0; i < TUN_BATCH && rv == 0; i++) {
		n = read(sh->tun, p, ZT_SHIM_BODY_MAX);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0) {
			log_error("tun %s: read: %s", sh->ifname,
				  strerror(errno));
			return ZT_EIO;
		}
		sh->pkt[0] = ZT_SHIM_PACKET;
		sh->pkt[1] = ZT_SHIM_VERSION;
		sh->pkt[2] = (uint8_t)(n >> 8);
		sh->pkt[3] = (uint8_t)n;
		rv = send_all(sh->sock, sh->pkt, ZT_SHIM_HDR_LEN + (size_t)n);
	}
	return rv;
}

static int bridge(struct shim *sh)
{
	struct pollfd pfd[2] = { { .fd = sh->sock, .events = POLLIN },
				 { .fd = sh->tun, .events = POLLIN } };
	int rv = 0;

	while (rv == 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return ZT_EIO;
		}
		if (pfd[0].revents)
			rv = from_ztnad(sh);
		if (rv == 0 && pfd[1].revents)
			rv = from_tun(sh);
	}
	if (rv == 1)
		log_info("ztnad closed the connection");
	return rv == 1 ? 0 : rv;
}

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s --socket PATH [--ifname NAME] [--verbose]\n",
		argv0);
	return 1;
}

int main(int argc, char **argv)
{
	const char *path = NULL, *ifname = "ztshim%d";
	struct shim *sh;
	int rv;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--ifname") == 0 && i + 1 < argc)
			ifname = argv[++i];
		else if (strcmp(argv[i], "--verbose") == 0)
			zt_log_set_level(ZT_LOG_DEBUG);
		else
			return usage(argv[0]);
	}
	if (!path || strlen(ifname) >= IFNAMSIZ)
		return usage(argv[0]);
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return 1;
	sh->tun = sh->sock = sh->nl.fd = -1;
	rv = tun_create(sh, ifname);
	if (rv == 0)
		rv = zt_nl_open(&sh->nl);
	if (rv == 0)
		rv = shim_connect(sh, path);
	if (rv == 0) {
		log_info("tun %s: connected to %s", sh->ifname, path);
		rv = bridge(sh);
	}
	zt_nl_close(&sh->nl);
	if (sh->sock >= 0)
		close(sh->sock);
	if (sh->tun >= 0)
		close(sh->tun);
	free(sh);
	return rv == 0 ? 0 : 1;
}
