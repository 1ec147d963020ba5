#include "daemon.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrl.h"
#include "err.h"
#include "log.h"
#include "privs.h"

uint64_t zt_now(void)
{
	return uv_hrtime();
}

/* Derives the endpoint secret from our private key so it survives restarts
 * (see quic.c) without a separate secret file. */
static void derive_secret(const char *key_file, uint8_t out[32])
{
	static const char label[] = "ztnad endpoint secret v1";
	uint8_t buf[16384];
	wc_Sha256 sha;
	FILE *f = fopen(key_file, "rb");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

	if (f)
		fclose(f);
	memset(out, 0, 32);
	if (n == 0)
		return; /* random secret instead */
	wc_InitSha256(&sha);
	wc_Sha256Update(&sha, (const byte *)label, sizeof(label));
	wc_Sha256Update(&sha, buf, (word32)n);
	wc_Sha256Final(&sha, out);
	wc_Sha256Free(&sha);
	memset(buf, 0, sizeof(buf));
}

static void status_cb(void *ud, struct zt_sb *out, int json)
{
	struct zt_daemon *d = ud;

	d->ops->status(d, out, json);
}

void zt_daemon_status_head(struct zt_daemon *d, struct zt_sb *out, int json)
{
	struct zt_addr local;
	char a[64];
	uint64_t up = (zt_now() - d->started_ns) / 1000000000ULL;

	zt_netio_local(&d->net, &local);
	zt_addr_str(&local, a, sizeof(a));
	if (json) {
		zt_sb_printf(out, "\"role\":\"%s\",\"identity\":", d->ops->name);
		zt_sb_json_str(out, d->tls.self.name);
		zt_sb_printf(out, ",\"version\":\"%s\",\"uptime_s\":%llu,"
			     "\"local_address\":\"%s\"",
			     ZT_VERSION, (unsigned long long)up, a);
		return;
	}
	zt_sb_printf(out, "role:      %s\nidentity:  %s\nversion:   %s\n"
		     "uptime:    %llus\nlocal:     %s\n",
		     d->ops->name, d->tls.self.name, ZT_VERSION,
		     (unsigned long long)up, a);
}

void zt_daemon_stop(struct zt_daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("%s: shutting down (%s)", d->ops->name, why);
	/* CONNECTION_CLOSE goes out right here, before the handles close. */
	if (d->ep && d->env.net) {
		zt_ep_close_all(d->ep, ZT_APP_SHUTDOWN, "shutdown", zt_now());
		zt_netio_flush(&d->net);
	}
	if (d->role_started)
		d->ops->stop(d);
	zt_ctlsock_close(&d->ctl);
	if (d->env.net)
		zt_netio_close(&d->net);
	if (d->has_tcp && !uv_is_closing((uv_handle_t *)&d->tcp))
		uv_close((uv_handle_t *)&d->tcp, NULL);
	for (int i = 0; i < 3 && d->sig[i].data; i++)
		uv_close((uv_handle_t *)&d->sig[i], NULL);
	if (d->peer_timer.data)
		uv_close((uv_handle_t *)&d->peer_timer, NULL);
}

/* Certificates end sessions: a peer whose certificate expired, or (after
 * a new revocation list) was revoked, is closed at once, not at its next
 * handshake. */
static void recheck_peers(struct zt_daemon *d, int revocation)
{
	int64_t now = (int64_t)time(NULL);
	int closed = 0;

	for (struct zt_qconn *c = zt_ep_conn_first(d->ep), *n; c; c = n) {
		const struct zt_identity *id = zt_qconn_peer(c);
		char why[96];

		n = zt_ep_conn_next(c);
		if (zt_qconn_state(c) != ZT_QCONN_ESTABLISHED)
			continue;
		if (id->not_after && id->not_after <= now)
			snprintf(why, sizeof(why), "certificate expired");
		else if (!revocation ||
			 !zt_tls_peer_revoked(&d->tls, zt_qconn_tls(c), why,
					      sizeof(why)))
			continue;
		log_warn("%s: %s: closing", zt_qconn_label(c), why);
		zt_qconn_close(c, ZT_APP_DENIED, why, zt_now());
		closed = 1;
	}
	if (closed)
		zt_netio_flush(&d->net);
}

/* Expiry every second; the revocation list once a minute as well, so a
 * list that expires stops sessions too, not only new handshakes. */
static void peer_timer_cb(uv_timer_t *t)
{
	struct zt_daemon *d = t->data;

	recheck_peers(d, d->tls.crl && ++d->peer_ticks % 60 == 0);
}

static void reload_crl(struct zt_daemon *d, const char *crl)
{
	if (strcmp(crl, d->cfg.crl_file) == 0 && !crl[0])
		return;
	/* A list that fails to load leaves the previous one in force. */
	if (zt_tls_load_crl(&d->tls, d->cfg.ca_file, crl) != 0)
		return;
	log_info("reload: revocation list %s", crl[0] ? crl : "off");
	recheck_peers(d, 1);
}

void zt_daemon_reload(struct zt_daemon *d)
{
	struct zt_config nc;
	struct zt_config_error err;

	if (zt_config_load(&nc, d->ops->role, d->cfg.path, &err) != 0) {
		log_error("reload rejected, keeping the running configuration: %s",
			  err.msg);
		return;
	}
	if (strcmp(nc.cert_file, d->cfg.cert_file) ||
	    strcmp(nc.key_file, d->cfg.key_file) ||
	    strcmp(nc.ca_file, d->cfg.ca_file) ||
	    !zt_addr_equal(&nc.listen, &d->cfg.listen) ||
	    nc.idle_timeout_ms != d->cfg.idle_timeout_ms ||
	    nc.keepalive_ms != d->cfg.keepalive_ms ||
	    nc.require_retry != d->cfg.require_retry ||
	    !zt_addr_equal(&nc.tcp_listen, &d->cfg.tcp_listen) ||
	    nc.tcp_port != d->cfg.tcp_port || nc.n_relays != d->cfg.n_relays ||
	    memcmp(nc.relays, d->cfg.relays, sizeof(nc.relays)) ||
	    strcmp(nc.tun_ifname, d->cfg.tun_ifname) ||
	    nc.tun_mtu != d->cfg.tun_mtu ||
	    nc.tun_fail_open != d->cfg.tun_fail_open ||
	    strcmp(nc.shim_socket, d->cfg.shim_socket) ||
	    strcmp(nc.user, d->cfg.user))
		log_warn("reload: changes to [identity], [quic], [relays], [tun] and user "
			 "take effect after a restart; services, log_level and "
			 "qlog_dir apply now");
	/* Keep what the running process is bound to. */
	memcpy(nc.ca_file, d->cfg.ca_file, sizeof(nc.ca_file));
	memcpy(nc.cert_file, d->cfg.cert_file, sizeof(nc.cert_file));
	memcpy(nc.key_file, d->cfg.key_file, sizeof(nc.key_file));
	memcpy(nc.user, d->cfg.user, sizeof(nc.user));
	nc.listen = d->cfg.listen;
	nc.tcp_listen = d->cfg.tcp_listen;
	nc.tcp_listen_set = d->cfg.tcp_listen_set;
	nc.tcp_port = d->cfg.tcp_port;
	nc.tun_fail_open = d->cfg.tun_fail_open;
	memcpy(nc.control_socket, d->cfg.control_socket,
	       sizeof(nc.control_socket));
	reload_crl(d, nc.crl_file);
	zt_config_free(&d->cfg);
	d->cfg = nc;
	zt_log_set_level(d->cfg.log_level);
	if (d->ops->reload)
		d->ops->reload(d, &d->cfg);
	log_info("reload: configuration %s applied", d->cfg.path);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct zt_daemon *d = s->data;

	if (signum == SIGHUP)
		zt_daemon_reload(d);
	else
		zt_daemon_stop(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void signals_start(struct zt_daemon *d)
{
	for (int i = 0; i < 3; i++) {
		static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };

		uv_signal_init(d->loop, &d->sig[i]);
		d->sig[i].data = d;
		uv_signal_start(&d->sig[i], signal_cb, sigs[i]);
	}
}

void zt_daemon_init(struct zt_daemon *d, const struct zt_role_ops *ops,
		    struct zt_config *cfg, const struct zt_env *env,
		    unsigned flags)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->flags = flags;
	d->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	d->env = *env;
	d->env.ep = NULL;
	d->env.net = NULL;
	d->loop = env->loop;
	d->started_ns = zt_now();
}

/* The relay's TCP socket (port 443 needs privileges we drop). A default
 * that cannot be bound leaves the relay on UDP only; a configured one is
 * fatal. libuv reports an address in use only at listen (the role's). */
static int tcp_bind(struct zt_daemon *d)
{
	struct sockaddr_storage ss;
	char a[64];
	int rv;

	if (d->ops->role != ZT_ROLE_RELAY || !d->cfg.tcp_listen.family)
		return 0;
	zt_addr_to_sockaddr(&d->cfg.tcp_listen, &ss);
	uv_tcp_init(d->loop, &d->tcp);
	d->tcp.data = d;
	d->has_tcp = 1;
	rv = uv_tcp_bind(&d->tcp, (struct sockaddr *)&ss, 0);
	if (rv == 0)
		return 0;
	zt_addr_str(&d->cfg.tcp_listen, a, sizeof(a));
	uv_close((uv_handle_t *)&d->tcp, NULL);
	d->has_tcp = 0;
	if (d->cfg.tcp_listen_set) {
		log_error("tcp: cannot bind %s: %s", a, uv_strerror(rv));
		return ZT_EIO;
	}
	log_warn("tcp: cannot bind %s (the default tcp_listen): %s; peers "
		 "whose UDP is blocked cannot reach this relay",
		 a, uv_strerror(rv));
	return 0;
}

int zt_daemon_start(struct zt_daemon *d)
{
	struct zt_ep_config ec = { 0 };
	struct zt_addr local;
	char a[64];
	int rv;

	if ((rv = zt_tls_init(&d->tls, d->cfg.ca_file, d->cfg.cert_file,
			      d->cfg.key_file)) != 0)
		return rv;
	if (d->tls.self.role != d->ops->role) {
		log_error("%s: certificate %s has role %s but this daemon runs as %s",
			  d->cfg.path, d->cfg.cert_file,
			  zt_role_name(d->tls.self.role), d->ops->name);
		return ZT_EDENIED;
	}
	/* A configured list that does not load is fatal: running without it
	 * would let revoked peers in. */
	if ((rv = zt_tls_load_crl(&d->tls, d->cfg.ca_file, d->cfg.crl_file)) != 0)
		return rv;
	ec.tls = &d->tls;
	ec.accept_roles = d->ops->accept_roles;
	ec.require_retry = d->cfg.require_retry;
	ec.idle_timeout_ns = (uint64_t)d->cfg.idle_timeout_ms * 1000000ULL;
	ec.keepalive_ns = (uint64_t)d->cfg.keepalive_ms * 1000000ULL;
	ec.qlog_dir = d->cfg.qlog_dir[0] ? d->cfg.qlog_dir : NULL;
	ec.accept = d->ops->accept;
	ec.accept_owner = d;
	derive_secret(d->cfg.key_file, ec.secret);
	if ((rv = zt_ep_new(&d->ep, &ec, zt_now())) != 0)
		return rv;
	if (!d->env.path && (rv = tcp_bind(d)) != 0)
		return rv;
	rv = d->env.path ? zt_netio_init_path(&d->net, d->loop, d->env.path, d->ep)
			 : zt_netio_init(&d->net, d->loop, &d->cfg.listen, d->ep);
	d->env.net = &d->net; /* its handles are open even on failure */
	if (rv != 0)
		return rv;
	d->env.ep = d->ep;
	d->env.path = d->net.path;
	if (d->cfg.control_socket[0] &&
	    (rv = zt_ctlsock_init(&d->ctl, d->loop, d->cfg.control_socket,
				  status_cb, d)) != 0)
		return rv;
	if (d->flags & ZT_DAEMON_SIGNALS)
		signals_start(d);
	uv_timer_init(d->loop, &d->peer_timer);
	d->peer_timer.data = d;
	uv_timer_start(&d->peer_timer, peer_timer_cb, 1000, 1000);
	/* Sockets are bound and keys read: privileges go now, before the role
	 * starts. Capabilities and no_new_privs are per thread, and a role's
	 * first getaddrinfo starts libuv's worker threads, which would keep
	 * what the main thread had. The agent keeps CAP_NET_ADMIN to create
	 * its TUN and change its routes. */
	if ((d->flags & ZT_DAEMON_PRIVS) &&
	    (rv = zt_privs_drop(d->cfg.user, d->ops->role == ZT_ROLE_AGENT &&
						     !d->cfg.shim_socket[0])) != 0)
		return rv;
	d->role_started = 1;
	if ((rv = d->ops->start(d)) != 0)
		return rv;
	zt_netio_local(&d->net, &local);
	log_info("%s %s started as %s on %s, status at %s", d->ops->name,
		 ZT_VERSION, d->tls.self.name, zt_addr_str(&local, a, sizeof(a)),
		 d->cfg.control_socket[0] ? d->cfg.control_socket : "(none)");
	return 0;
}

void zt_daemon_free(struct zt_daemon *d)
{
	if (d->role_started && d->ops->destroy)
		d->ops->destroy(d);
	zt_ep_free(d->ep);
	d->ep = NULL;
	zt_tls_free(&d->tls);
	zt_config_free(&d->cfg);
}

int zt_daemon_run(const struct zt_role_ops *ops, const char *config_path,
		  int verbose)
{
	struct zt_daemon d;
	struct zt_config cfg;
	struct zt_config_error err;
	struct zt_env env = { .loop = uv_default_loop() };
	int rc = 1;

	/* A target or application closing its socket while we write must be
	 * an error return on that one flow, not the end of the process. */
	signal(SIGPIPE, SIG_IGN);
	if (zt_config_load(&cfg, ops->role, config_path, &err) != 0) {
		log_error("%s", err.msg);
		return 1;
	}
	zt_log_set_level(verbose ? ZT_LOG_DEBUG : cfg.log_level);
	wolfSSL_Init();
	zt_daemon_init(&d, ops, &cfg, &env, ZT_DAEMON_SIGNALS | ZT_DAEMON_PRIVS);
	if (zt_daemon_start(&d) != 0)
		zt_daemon_stop(&d, "start-up failed");
	else
		rc = 0;
	uv_run(d.loop, UV_RUN_DEFAULT);
	zt_daemon_free(&d);
	uv_loop_close(env.loop);
	wolfSSL_Cleanup();
	if (rc == 0)
		log_info("%s: stopped", ops->name);
	return rc;
}

int zt_daemon_check(int role, const char *config_path)
{
	struct zt_config cfg;
	struct zt_config_error err;
	struct zt_tls tls;
	int rc = 1;

	if (zt_config_load(&cfg, role, config_path, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	wolfSSL_Init();
	if (zt_tls_init(&tls, cfg.ca_file, cfg.cert_file, cfg.key_file) == 0) {
		if (zt_tls_load_crl(&tls, cfg.ca_file, cfg.crl_file) != 0)
			fprintf(stderr, "%s: revocation list %s does not load\n",
				config_path, cfg.crl_file);
		else if (tls.self.role != role)
			fprintf(stderr, "%s: certificate %s has role %s but this daemon runs as %s\n",
				config_path, cfg.cert_file,
				zt_role_name(tls.self.role), zt_role_name(role));
		else
			rc = 0;
		zt_tls_free(&tls);
	}
	if (rc == 0)
		printf("%s: configuration for %s is valid\n", config_path,
		       zt_role_name(role));
	zt_config_free(&cfg);
	wolfSSL_Cleanup();
	return rc;
}
