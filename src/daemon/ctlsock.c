#include "ctlsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define ZT_CTL_REQ_MAX 64

struct ctl_client {
	uv_pipe_t pipe;
	uv_write_t wr;
	struct zt_ctlsock *s;
	struct zt_sb reply;
	char req[ZT_CTL_REQ_MAX];
	size_t req_len;
};

static void client_closed(uv_handle_t *h)
{
	struct ctl_client *c = h->data;

	zt_sb_free(&c->reply);
	free(c);
}

static void client_close(struct ctl_client *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void written(uv_write_t *w, int status)
{
	client_close(w->data);
}

static void answer(struct ctl_client *c)
{
	uv_buf_t b;
	int json;

	c->req[c->req_len] = 0;
	c->req[strcspn(c->req, "\r\n")] = 0;
	json = strcmp(c->req, "status json") == 0;
	if (!json && strcmp(c->req, "status") != 0)
		zt_sb_printf(&c->reply, "error: unknown request\n");
	else
		c->s->fn(c->s->ud, &c->reply, json);
	uv_read_stop((uv_stream_t *)&c->pipe);
	b = uv_buf_init(c->reply.s ? c->reply.s : "", (unsigned)c->reply.len);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, written) != 0)
		client_close(c);
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct ctl_client *c = h->data;

	buf->base = c->req + c->req_len;
	buf->len = sizeof(c->req) - 1 - c->req_len;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_client *c = st->data;

	if (n < 0) {
		client_close(c);
		return;
	}
	c->req_len += (size_t)n;
	if (memchr(c->req, '\n', c->req_len) ||
	    c->req_len >= sizeof(c->req) - 1)
		answer(c);
}

static void on_connect(uv_stream_t *srv, int status)
{
	struct zt_ctlsock *s = srv->data;
	struct ctl_client *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->s = s;
	zt_sb_init(&c->reply);
	uv_pipe_init(srv->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb) != 0)
		client_close(c);
}

static void make_parent(const char *path)
{
	char dir[108];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		log_warn("status socket directory %s: %s", dir, strerror(errno));
}

/* A stale socket from a crashed daemon would make bind fail, so it goes;
 * but only that: not a live daemon's socket, not a file or a symlink that
 * happens to sit at the configured path. */
static int remove_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("status socket %s: exists and is not a socket; not "
			  "removing it", path);
		return ZT_EIO;
	}
	/* Non-blocking: a listener with a full backlog (EAGAIN) is live too,
	 * and must not hold up the start. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ZT_EIO;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
	       errno != ECONNREFUSED;
	close(fd);
	if (live) {
		log_error("status socket %s: another daemon is listening "
			  "there", path);
		return ZT_EIO;
	}
	unlink(path);
	return 0;
}

int zt_ctlsock_init(struct zt_ctlsock *s, uv_loop_t *loop, const char *path,
		    zt_ctl_status_fn fn, void *ud)
{
	mode_t old;
	int rv;

	memset(s, 0, sizeof(*s));
	if (strlen(path) >= sizeof(s->path))
		return ZT_EINVAL;
	strcpy(s->path, path);
	s->fn = fn;
	s->ud = ud;
	/* The directory may not exist yet (/run/ztnad after a reboot). */
	make_parent(path);
	if (remove_stale(path) != 0)
		return ZT_EIO;
	uv_pipe_init(loop, &s->srv, 0);
	s->srv.data = s;
	s->open = 1;
	/* Created 0600 from the start: status reveals identities and
	 * addresses, so other local users must not connect. */
	old = umask(0077);
	rv = uv_pipe_bind(&s->srv, path);
	umask(old);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&s->srv, 16, on_connect);
	if (rv != 0) {
		log_error("status socket %s: %s", path, uv_strerror(rv));
		return ZT_EIO;
	}
	return 0;
}

void zt_ctlsock_close(struct zt_ctlsock *s)
{
	if (!s->open)
		return;
	s->open = 0;
	uv_close((uv_handle_t *)&s->srv, NULL);
	unlink(s->path);
}

int zt_ctl_query(const char *path, int json)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *req = json ? "status json\n" : "status\n";
	char buf[4096];
	ssize_t n;
	int fd, rc = 1;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ztnad: socket path too long: %s\n", path);
		return 1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "ztnad: cannot reach the daemon at %s: %s\n",
			path, strerror(errno));
		goto out;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	rc = n == 0 ? 0 : 1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
