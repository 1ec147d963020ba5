/* What every role shares at run time: the loop, the config, TLS, the QUIC
 * endpoint on its one socket, the status socket and signal handling. The
 * role plugs in through zt_role_ops. */
#ifndef ZT_DAEMON_H
#define ZT_DAEMON_H

#include <uv.h>

#include "buf.h"
#include "config.h"
#include "ctlsock.h"
#include "netio.h"
#include "quic.h"
#include "tls.h"

struct zt_daemon;
struct zt_pktsrc_ops;
struct zt_tconn_ops;

/* What a role and its parts run on, handed to them explicitly (relay
 * links, the agent's and the connector's data planes) rather than found
 * through the daemon: the process builds it from its config, an
 * in-process test from its simulated network. The clock is the process
 * clock (zt_now, uv_now), which a test moves by interposing
 * clock_gettime (test/sim). */
struct zt_env {
	uv_loop_t *loop;
	struct zt_ep *ep;
	struct zt_netio *net;   /* flush after queuing; the local address */
	struct zt_pathio *path; /* where new connections' packets leave */
	/* Agent: the packet source; NULL picks TUN or shim from [tun]. The
	 * user pointer is set in the source before its open(). */
	const struct zt_pktsrc_ops *pktsrc;
	void *pktsrc_user;
	/* Connector: how targets are reached; NULL is libuv's sockets
	 * (zt_tconn_uv_ops, roles/connector/tconn.h). */
	const struct zt_tconn_ops *targets;
	void *targets_user;
	/* Connector, agent: where a port mapping on the gateway forwards to
	 * our socket (family 0 while none is held; NULL: no port mapping),
	 * offered as a candidate (control/cands.c, control/portmap.h). */
	const struct zt_addr *mapped;
};

/* zt_daemon_init flags: what only a process of its own may do. */
#define ZT_DAEMON_SIGNALS 1u /* SIGINT, SIGTERM, SIGHUP handlers */
#define ZT_DAEMON_PRIVS 2u   /* drop privileges before the role starts */

struct zt_role_ops {
	const char *name;
	int role;            /* enum zt_role */
	unsigned accept_roles; /* peer roles our endpoint accepts */
	int (*start)(struct zt_daemon *d);
	/* cfg is validated; the role takes what it needs (services...). */
	void (*reload)(struct zt_daemon *d, const struct zt_config *cfg);
	/* Stops the role: closes its handles (the loop then runs until they
	 * are closed). */
	void (*stop)(struct zt_daemon *d);
	/* After the loop ended: frees what stop() left (NULL: nothing). */
	void (*destroy)(struct zt_daemon *d);
	void (*status)(struct zt_daemon *d, struct zt_sb *out, int json);
	/* Accepted connections start with these, the daemon as owner: the
	 * role may not exist yet, or any more, when one comes. The role
	 * rebinds a connection to its own session (zt_qconn_set_ops). Client
	 * connections get their ops where they are made (relaylink.c...). */
	const struct zt_qconn_ops *accept;
};

struct zt_daemon {
	uv_loop_t *loop;
	struct zt_env env;
	unsigned flags;
	const struct zt_role_ops *ops;
	struct zt_config cfg;
	struct zt_tls tls;
	struct zt_ep *ep;
	struct zt_netio net;
	/* Relay: the TCP socket of [quic] tcp_listen, bound before privileges
	 * go (port 443); the role listens on it (has_tcp: bound). */
	uv_tcp_t tcp;
	int has_tcp;
	struct zt_ctlsock ctl;
	uv_signal_t sig[3];
	uv_timer_t stop_timer;
	uv_timer_t peer_timer; /* certificate expiry of connected peers */
	unsigned peer_ticks;
	uint64_t started_ns;
	int stopping;
	int role_started;
	void *role; /* role state */
};

/* A daemon on a given loop: takes cfg (loaded and validated, freed by
 * zt_daemon_free) and from env the loop, the path (NULL: a UDP socket on
 * [quic] listen) and the sources; flags ZT_DAEMON_*. The steps of a
 * process, which zt_daemon_run takes in turn:
 *   init -> start (0, or an error logged: call stop) -> loop runs ->
 *   stop (connections closed at once, handles closing) -> loop runs until
 *   the handles are closed -> free.
 * zt_daemon_reload is SIGHUP's: the file cfg came from is read again. */
void zt_daemon_init(struct zt_daemon *d, const struct zt_role_ops *ops,
		    struct zt_config *cfg, const struct zt_env *env,
		    unsigned flags);
int zt_daemon_start(struct zt_daemon *d);
void zt_daemon_stop(struct zt_daemon *d, const char *why);
void zt_daemon_reload(struct zt_daemon *d);
void zt_daemon_free(struct zt_daemon *d);

/* Runs a role until SIGINT/SIGTERM. Returns the process exit code. */
int zt_daemon_run(const struct zt_role_ops *ops, const char *config_path,
		  int verbose);
/* Validates config and identity files without running (--check). */
int zt_daemon_check(int role, const char *config_path);

uint64_t zt_now(void);
/* Common header of `ztnad status` for every role. */
void zt_daemon_status_head(struct zt_daemon *d, struct zt_sb *out, int json);

#endif
