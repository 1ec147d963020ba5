/* Shim socket backend, without root: a test client plays the shim over the
 * Unix socket in a temporary directory. Frame layout and key names are
 * written out here from docs/PROTOCOL.md ("Shim socket") on purpose: the test pins the wire
 * format, not the implementation's constants. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "pktsrc.h"

#define T_PACKET 1
#define T_CONFIG 2

struct fix {
	char dir[64];
	struct zt_pktsrc src;
	struct zt_pktsrc_config cfg;
};

static void cidr(struct zt_cidr *c, int family, const char *ip, int prefix)
{
	memset(c, 0, sizeof(*c));
	c->family = (uint8_t)family;
	c->prefix = (uint8_t)prefix;
	assert_int_equal(inet_pton(family, ip, c->addr), 1);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/unit_shim.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cfg.shim_socket, sizeof(f->cfg.shim_socket), "%s/s.sock",
		 f->dir);
	f->cfg.mtu = 1400;
	cidr(&f->cfg.addr4, AF_INET, "100.64.0.1", 32);
	cidr(&f->cfg.addr6, AF_INET6, "fd7a:115c:a1e0::1", 128);
	cidr(&f->cfg.routes[0], AF_INET, "10.99.0.0", 24);
	cidr(&f->cfg.routes[1], AF_INET6, "fd00:99::", 64);
	f->cfg.n_routes = 2;
	f->cfg.dns.family = AF_INET;
	inet_pton(AF_INET, "100.64.0.53", f->cfg.dns.ip);
	assert_int_equal(zt_pktsrc_shim_ops.open(&f->src, &f->cfg), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	f->src.ops->close(&f->src);
	f->src.ops->close(&f->src); /* twice is harmless */
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- the test shim ----------------------------------------------------- */

static int client(const struct fix *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->cfg.shim_socket);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* A backend bug must fail the test, not hang it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void recv_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r <= 0)
			fail_msg("recv: %zd %s", r, strerror(errno));
		p += r;
		n -= (size_t)r;
	}
}

static void send_all(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Receives one frame; checks the version; returns the body length. */
static size_t recv_frame(int fd, uint8_t *type, uint8_t *body, size_t cap)
{
	uint8_t h[4];
	size_t len;

	recv_all(fd, h, 4);
	assert_int_equal(h[1], 1);
	len = (size_t)h[2] << 8 | h[3];
	assert_true(len <= cap);
	recv_all(fd, body, len);
	*type = h[0];
	return len;
}

static size_t put_frame(uint8_t *out, uint8_t type, const uint8_t *body,
			size_t len)
{
	out[0] = type;
	out[1] = 1;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memcpy(out + 4, body, len);
	return 4 + len;
}

/* A fake packet: the version nibble and a pattern that tells them apart. */
static void fake_packet(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
	p[0] = 0x45;
}

/* Connects a client and lets the backend accept it; returns the client
 * with the CONFIG frame read and checked. */
static int connect_shim(struct fix *f, char *config, size_t cap)
{
	uint8_t type, buf[64];
	int listen_fd = f->src.ops->fd(&f->src);
	int fd = client(f);
	size_t len;

	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)), 0);
	assert_int_not_equal(f->src.ops->fd(&f->src), listen_fd);
	len = recv_frame(fd, &type, (uint8_t *)config, cap - 1);
	config[len] = '\0';
	assert_int_equal(type, T_CONFIG);
	return fd;
}

/* Calls read() until it has nothing more; returns the packets' total
 * count and appends them to out (each prefixed by a 2-byte length). */
static int drain(struct fix *f, uint8_t *out, size_t *out_len, size_t cap)
{
	uint8_t buf[2048];
	ssize_t n;
	int count = 0;

	while ((n = f->src.ops->read(&f->src, buf, cap)) > 0) {
		out[(*out_len)++] = (uint8_t)(n >> 8);
		out[(*out_len)++] = (uint8_t)n;
		memcpy(out + *out_len, buf, (size_t)n);
		*out_len += (size_t)n;
		count++;
	}
	assert_int_equal(n, 0);
	return count;
}

/* ---- tests ------------------------------------------------------------- */

static void test_listen_mode(void **state)
{
	struct fix *f = *state;
	struct stat st;
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	uint8_t buf[16];

	assert_int_equal(stat(f->cfg.shim_socket, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0077, 0);
	assert_int_equal(f->src.ops->fd(&f->src), f->src.listen_fd);
	/* No shim yet: nothing to read, packets have nowhere to go. */
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)), 0);
	assert_int_equal(f->src.ops->write(&f->src, &iov, 1), ZT_ECLOSED);
	assert_int_equal(f->src.ops->pending(&f->src), 0);
}

static void test_config(void **state)
{
	struct fix *f = *state;
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config));

	assert_string_equal(config, "mtu=1400\n"
				    "address=100.64.0.1/32\n"
				    "address=fd7a:115c:a1e0::1/128\n"
				    "route=10.99.0.0/24\n"
				    "route=fd00:99::/64\n"
				    "dns=100.64.0.53\n");
	close(fd);
}

/* Three packets sent as one byte stream cut at odd places: every read()
 * returns whole packets, in order, and nothing else. */
static void test_split_frames(void **state)
{
	static const size_t sizes[3] = { 20, 1, 1500 };
	static const size_t cuts[] = { 1, 1, 2, 17, 3, 1000, 1 };
	struct fix *f = *state;
	uint8_t stream[4096], want[4096], got[4096], pkt[1500];
	size_t slen = 0, wlen = 0, glen = 0, off = 0;
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config)), count = 0;

	for (int i = 0; i < 3; i++) {
		fake_packet(pkt, sizes[i], (uint8_t)i);
		slen += put_frame(stream + slen, T_PACKET, pkt, sizes[i]);
		want[wlen++] = (uint8_t)(sizes[i] >> 8);
		want[wlen++] = (uint8_t)sizes[i];
		memcpy(want + wlen, pkt, sizes[i]);
		wlen += sizes[i];
	}
	for (size_t i = 0; off < slen; i++) {
		size_t n = i < sizeof(cuts) / sizeof(cuts[0]) ? cuts[i] :
								slen - off;

		if (n > slen - off)
			n = slen - off;
		send_all(fd, stream + off, n);
		off += n;
		count += drain(f, got, &glen, 2048);
	}
	assert_int_equal(count, 3);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	close(fd);
}

static void test_write(void **state)
{
	struct fix *f = *state;
	uint8_t a[60], b[1400], body[2048], type;
	struct iovec one = { .iov_base = a, .iov_len = sizeof(a) };
	struct iovec two[2] = { { .iov_base = b, .iov_len = 20 },
				{ .iov_base = b + 20, .iov_len = 1380 } };
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config));

	fake_packet(a, sizeof(a), 1);
	fake_packet(b, sizeof(b), 2);
	assert_int_equal(f->src.ops->write(&f->src, &one, 1), 0);
	assert_int_equal(f->src.ops->write(&f->src, two, 2), 0);
	assert_int_equal(f->src.ops->pending(&f->src), 0);
	assert_int_equal(recv_frame(fd, &type, body, sizeof(body)), sizeof(a));
	assert_int_equal(type, T_PACKET);
	assert_memory_equal(body, a, sizeof(a));
	assert_int_equal(recv_frame(fd, &type, body, sizeof(body)), sizeof(b));
	assert_int_equal(type, T_PACKET);
	assert_memory_equal(body, b, sizeof(b));
	close(fd);
}

static void test_reconnect(void **state)
{
	struct fix *f = *state;
	uint8_t buf[64], frame[64], pkt[30];
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config));

	close(fd);
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)), 0);
	assert_int_equal(f->src.ops->fd(&f->src), f->src.listen_fd);
	/* A new shim gets the configuration again and can send packets. */
	fd = connect_shim(f, config, sizeof(config));
	assert_non_null(strstr(config, "route=10.99.0.0/24\n"));
	fake_packet(pkt, sizeof(pkt), 9);
	send_all(fd, frame, put_frame(frame, T_PACKET, pkt, sizeof(pkt)));
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)),
			 sizeof(pkt));
	assert_memory_equal(buf, pkt, sizeof(pkt));
	close(fd);
}

/* Too big for the caller's buffer, unknown type, empty: skipped; the
 * packet after them still arrives. */
static void test_dropped_frames(void **state)
{
	struct fix *f = *state;
	uint8_t big[200], small[50], stream[512], buf[100];
	size_t n = 0;
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config));

	fake_packet(big, sizeof(big), 3);
	fake_packet(small, sizeof(small), 4);
	n += put_frame(stream + n, T_PACKET, big, sizeof(big));
	n += put_frame(stream + n, 77, small, sizeof(small));
	n += put_frame(stream + n, T_PACKET, small, 0);
	n += put_frame(stream + n, T_PACKET, small, sizeof(small));
	send_all(fd, stream, n);
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)),
			 sizeof(small));
	assert_memory_equal(buf, small, sizeof(small));
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)), 0);
	assert_int_not_equal(f->src.ops->fd(&f->src), f->src.listen_fd);
	close(fd);
}

static void test_bad_version(void **state)
{
	struct fix *f = *state;
	uint8_t frame[8] = { T_PACKET, 2, 0, 4, 0x45, 0, 0, 0 }, buf[64];
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config));

	send_all(fd, frame, sizeof(frame));
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)), 0);
	assert_int_equal(f->src.ops->fd(&f->src), f->src.listen_fd);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
}

static void test_second_shim_refused(void **state)
{
	struct fix *f = *state;
	uint8_t buf[64], frame[64], pkt[40], type;
	struct iovec iov = { .iov_base = pkt, .iov_len = sizeof(pkt) };
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config));
	int fd2 = client(f);

	fake_packet(pkt, sizeof(pkt), 5);
	send_all(fd, frame, put_frame(frame, T_PACKET, pkt, sizeof(pkt)));
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)),
			 sizeof(pkt));
	assert_int_equal(f->src.ops->read(&f->src, buf, sizeof(buf)), 0);
	/* The second one is closed without a CONFIG; the first one stays. */
	assert_int_equal(recv(fd2, buf, sizeof(buf), 0), 0);
	assert_int_equal(f->src.ops->write(&f->src, &iov, 1), 0);
	assert_int_equal(recv_frame(fd, &type, buf, sizeof(buf)), sizeof(pkt));
	assert_memory_equal(buf, pkt, sizeof(pkt));
	close(fd2);
	close(fd);
}

static void test_set_routes(void **state)
{
	struct fix *f = *state;
	struct zt_cidr r[3];
	uint8_t type;
	char config[4096];
	int fd;

	cidr(&r[0], AF_INET, "10.1.0.0", 16);
	cidr(&r[1], AF_INET, "10.2.3.4", 32);
	cidr(&r[2], AF_INET6, "fd00:1::", 48);
	/* Before the shim connects: kept for its first CONFIG. */
	assert_int_equal(f->src.ops->set_routes(&f->src, r, 1), 0);
	fd = connect_shim(f, config, sizeof(config));
	assert_non_null(strstr(config, "route=10.1.0.0/16\n"));
	assert_null(strstr(config, "route=10.99.0.0/24\n"));
	assert_int_equal(f->src.ops->set_routes(&f->src, r, 3), 0);
	config[recv_frame(fd, &type, (uint8_t *)config, sizeof(config) - 1)] =
		'\0';
	assert_int_equal(type, T_CONFIG);
	assert_non_null(strstr(config, "mtu=1400\n"));
	assert_non_null(strstr(config, "route=10.1.0.0/16\n"
				       "route=10.2.3.4/32\n"
				       "route=fd00:1::/48\n"));
	assert_int_equal(f->src.ops->set_routes(&f->src, r, 65), ZT_EINVAL);
	close(fd);
}

/* A shim that does not read: write() queues whole frames up to the limit,
 * then drops (ZT_EAGAIN) instead of blocking; once the shim reads, every
 * accepted packet arrives as a well-formed frame and nothing else. */
static void test_queue_full(void **state)
{
	static uint8_t pkt[65535], body[65535];
	struct fix *f = *state;
	struct iovec iov = { .iov_base = pkt, .iov_len = sizeof(pkt) };
	char config[4096];
	int fd = connect_shim(f, config, sizeof(config));
	int accepted = 0, rv, flags;
	uint8_t type;

	fake_packet(pkt, sizeof(pkt), 6);
	while ((rv = f->src.ops->write(&f->src, &iov, 1)) == 0)
		accepted++;
	assert_int_equal(rv, ZT_EAGAIN);
	assert_true(accepted >= 16); /* 1 MiB queue plus the socket buffer */
	assert_true(f->src.ops->pending(&f->src) > 0);
	for (int i = 0; i < accepted; i++) {
		assert_int_equal(recv_frame(fd, &type, body, sizeof(body)),
				 sizeof(pkt));
		assert_int_equal(type, T_PACKET);
		assert_memory_equal(body, pkt, sizeof(pkt));
		/* What the loop would do when the socket turns writable. */
		assert_int_equal(f->src.ops->flush(&f->src), 0);
	}
	assert_int_equal(f->src.ops->pending(&f->src), 0);
	flags = MSG_DONTWAIT;
	assert_int_equal(recv(fd, body, 1, flags), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	iov.iov_len = 65536;
	assert_int_equal(f->src.ops->write(&f->src, &iov, 1), ZT_ETOOBIG);
	close(fd);
}

/* A regular file or a live socket at the path is an error, not something
 * to delete; a stale socket (nobody listening) is replaced. */
static void test_stale_path(void **state)
{
	struct fix *f = *state;
	struct zt_pktsrc s2;
	struct zt_pktsrc_config cfg = f->cfg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	FILE *fp;
	int fd;

	snprintf(cfg.shim_socket, sizeof(cfg.shim_socket), "%s/file", f->dir);
	fp = fopen(cfg.shim_socket, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(zt_pktsrc_shim_ops.open(&s2, &cfg), ZT_EIO);
	assert_int_equal(access(cfg.shim_socket, F_OK), 0);
	unlink(cfg.shim_socket);
	assert_int_equal(zt_pktsrc_shim_ops.open(&s2, &f->cfg), ZT_EIO);
	assert_int_equal(access(f->cfg.shim_socket, F_OK), 0);
	/* A socket file whose owner died without removing it. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg.shim_socket);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(zt_pktsrc_shim_ops.open(&s2, &cfg), 0);
	s2.ops->close(&s2);
	assert_int_equal(access(cfg.shim_socket, F_OK), -1);
}

/* Every test gets a fresh backend listening in a fresh directory. */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_listen_mode),  T(test_config),
		T(test_split_frames), T(test_write),
		T(test_reconnect),    T(test_dropped_frames),
		T(test_bad_version),  T(test_second_shim_refused),
		T(test_set_routes),   T(test_queue_full),
		T(test_stale_path),
	};

	zt_log_set_level(ZT_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
