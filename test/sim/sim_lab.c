/* The three-role lab of sim_lab.h. */
#define _GNU_SOURCE
#include "sim_lab.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "pki.h"
#include "roles.h"

static int issue(struct sim_lab *l, int role, const char *name,
		 const char *file)
{
	static const char *const groups[] = { "engineering" };
	static const char *const ips[] = { "10.0.0.1" };
	static const char *const hosts[] = { "*.corp.internal" };
	struct zt_pki_req r = { .role = role,
				.name = name,
				.org = "",
				.key_type = ZT_KEY_EC_P256,
				.days = 30 };
	char ca[128], cak[128], crt[128], key[128];

	if (role == ZT_ROLE_AGENT)
		r.groups = groups, r.n_groups = 1;
	if (role == ZT_ROLE_RELAY)
		r.ips = ips, r.n_ips = 1;
	if (role == ZT_ROLE_CONNECTOR)
		r.publish_hosts = hosts, r.n_publish_hosts = 1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", l->dir);
	snprintf(cak, sizeof(cak), "%s/ca.key", l->dir);
	snprintf(crt, sizeof(crt), "%s/%s.crt", l->dir, file);
	snprintf(key, sizeof(key), "%s/%s.key", l->dir, file);
	return zt_pki_issue(&r, ca, cak, crt, key);
}

static int pki(struct sim_lab *l)
{
	struct zt_pki_req ca = { .role = ZT_ROLE_NONE,
				 .name = "sim-ca",
				 .org = "sim",
				 .key_type = ZT_KEY_EC_P256,
				 .days = 30 };
	char crt[128], key[128];
	int rv;

	snprintf(crt, sizeof(crt), "%s/ca.crt", l->dir);
	snprintf(key, sizeof(key), "%s/ca.key", l->dir);
	if ((rv = zt_pki_create_ca(&ca, crt, key)) != 0 ||
	    (rv = issue(l, ZT_ROLE_RELAY, "relay1", "relay")) != 0 ||
	    (rv = issue(l, ZT_ROLE_CONNECTOR, "conn1", "connector")) != 0)
		return rv;
	return issue(l, ZT_ROLE_AGENT, "alice", "agent");
}

/* name.ini with name.sock, and the certificate and key of cert. */
static int config_file(struct sim_lab *l, const char *name, const char *cert,
		       const char *extra, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s.ini", l->dir, name);
	if (!(f = fopen(path, "w")))
		return ZT_EIO;
	fprintf(f,
		"[identity]\nca = %s/ca.crt\ncert = %s/%s.crt\n"
		"key = %s/%s.key\n[daemon]\nlog_level = %s\n"
		"control_socket = %s/%s.sock\n%s",
		l->dir, l->dir, cert, l->dir, cert,
		getenv("SIM_LOG") ? getenv("SIM_LOG") : "error", l->dir, name,
		extra);
	return fclose(f) == 0 ? 0 : ZT_EIO;
}

static int write_config(struct sim_lab *l, const char *role, const char *extra,
			char *path, size_t cap)
{
	return config_file(l, role, role, extra, path, cap);
}

static int connector_ini(struct sim_lab *l, const char *services, char *path,
			 size_t cap)
{
	char *text = NULL;
	int rv;

	if (asprintf(&text, "[quic]\nlisten = 10.0.0.2:5000\n[relays]\n%s%s",
		     l->relays, services) < 0)
		return ZT_ENOMEM;
	rv = write_config(l, "connector", text, path, cap);
	free(text);
	return rv;
}

static void rx(void *arg, const struct sockaddr *from, socklen_t from_len,
	       const uint8_t *data, size_t len)
{
	struct zt_daemon *d = arg;

	if (d->env.net && !d->stopping)
		zt_netio_input(d->env.net, from, from_len, data, len);
}

static int start_one(struct sim_lab *l, struct zt_daemon *d,
		     const struct zt_role_ops *ops, const char *path,
		     struct sim_node *n, uint8_t ctrl_version)
{
	struct zt_config cfg;
	struct zt_config_error err;
	struct zt_env env = { .loop = &l->loop, .path = &n->pio };
	int rv;

	if (ops == &zt_agent_ops) {
		env.pktsrc = &sim_tun_ops;
		env.pktsrc_user = &l->tun;
	}
	if (ops == &zt_connector_ops) {
		env.targets = &sim_target_ops;
		env.targets_user = &l->targets;
	}
	if ((rv = zt_config_load(&cfg, ops->role, path, &err)) != 0) {
		fprintf(stderr, "sim: %s\n", err.msg);
		return rv;
	}
	cfg.ctrl_version_max = ctrl_version;
	zt_daemon_init(d, ops, &cfg, &env, 0);
	sim_node_rx(n, rx, d);
	return zt_daemon_start(d);
}

int sim_lab_start(struct sim_lab *l, uint64_t seed, const char *services)
{
	return sim_lab_start_nat(l, seed, services, SIM_NAT_PORT_RESTRICTED,
				 -1);
}

int sim_lab_start_nat(struct sim_lab *l, uint64_t seed, const char *services,
		      int agent_nat, int conn_nat)
{
	return sim_lab_start_ver(l, seed, services, agent_nat, conn_nat, 0, 0);
}

static int start_lab(struct sim_lab *l, uint64_t seed, const char *services,
		     int agent_nat, int conn_nat, const char *relays,
		     uint8_t conn_version, uint8_t agent_version);

int sim_lab_start_relays(struct sim_lab *l, uint64_t seed, const char *services,
			 int agent_nat, int conn_nat, const char *relays)
{
	return start_lab(l, seed, services, agent_nat, conn_nat, relays, 0, 0);
}

int sim_lab_start_ver(struct sim_lab *l, uint64_t seed, const char *services,
		      int agent_nat, int conn_nat, uint8_t conn_version,
		      uint8_t agent_version)
{
	return start_lab(l, seed, services, agent_nat, conn_nat,
			 "relay = 10.0.0.1:4433\n", conn_version, agent_version);
}

static int start_lab(struct sim_lab *l, uint64_t seed, const char *services,
		     int agent_nat, int conn_nat, const char *relays,
		     uint8_t conn_version, uint8_t agent_version)
{
	char *agent_ini = NULL;
	struct sim_link_cfg near = { .latency_ns = 5 * SIM_MS };
	struct sim_link_cfg ac = { .latency_ns = 10 * SIM_MS };
	char rpath[256], cpath[256], apath[256];
	int rv;

	memset(l, 0, sizeof(*l));
	if (snprintf(l->relays, sizeof(l->relays), "%s", relays) >=
		    (int)sizeof(l->relays) ||
	    asprintf(&agent_ini, "[relays]\n%s", relays) < 0)
		return ZT_EINVAL;
	snprintf(l->dir, sizeof(l->dir), "/tmp/ztsim.XXXXXX");
	rv = mkdtemp(l->dir) ? pki(l) : ZT_EIO;
	if (rv == 0)
		rv = write_config(l, "relay",
				  "[quic]\nlisten = 10.0.0.1:4433\n"
				  "require_retry = true\n",
				  rpath, sizeof(rpath));
	if (rv == 0)
		rv = connector_ini(l, services, cpath, sizeof(cpath));
	if (rv == 0)
		rv = write_config(l, "agent", agent_ini, apath, sizeof(apath));
	free(agent_ini);
	if (rv != 0)
		return rv;
	uv_loop_init(&l->loop);
	if ((rv = sim_new(&l->sim, &l->loop, seed)) != 0)
		return rv;
	l->n_relay = sim_node_add(l->sim, "10.0.0.1", 4433);
	l->n_conn = sim_node_add(l->sim, "10.0.0.2", 5000);
	l->n_agent = sim_node_add(l->sim, "10.0.0.3", 6000);
	l->nat_agent =
		sim_nat_add(l->sim, "203.0.113.3", agent_nat, 60 * SIM_S);
	if (conn_nat >= 0 && !(l->nat_conn = sim_nat_add(l->sim, "198.51.100.2",
							 conn_nat, 60 * SIM_S)))
		return ZT_ENOMEM;
	if (!l->n_relay || !l->n_conn || !l->n_agent || !l->nat_agent ||
	    sim_link(l->sim, l->n_agent, l->n_relay, &near, NULL) ||
	    sim_link(l->sim, l->n_conn, l->n_relay, &near, NULL) ||
	    sim_link(l->sim, l->n_agent, l->n_conn, &ac, NULL))
		return ZT_ENOMEM;
	sim_nat_attach(l->nat_agent, l->n_agent);
	if (l->nat_conn)
		sim_nat_attach(l->nat_conn, l->n_conn);
	sim_tun_init(&l->tun);
	sim_tcp_attach(&l->tun);
	sim_targets_init(&l->targets, &l->loop);
	if ((rv = start_one(l, &l->relay, &zt_relay_ops, rpath, l->n_relay,
			    0)) ||
	    (rv = start_one(l, &l->conn, &zt_connector_ops, cpath, l->n_conn,
			    conn_version)) ||
	    (rv = start_one(l, &l->agent, &zt_agent_ops, apath, l->n_agent,
			    agent_version)))
		return rv;
	return 0;
}

int sim_lab_extra(struct sim_lab *l, struct zt_daemon *d,
		  const struct zt_role_ops *ops, const char *ip, uint16_t port,
		  const char *cert, const char *extra)
{
	struct sim_link_cfg near = { .latency_ns = 5 * SIM_MS };
	struct sim_node *n = sim_node_add(l->sim, ip, port);
	char name[64], path[256];
	int rv;

	if (!n || sim_link(l->sim, n, l->n_relay, &near, NULL) ||
	    sim_link(l->sim, n, l->n_conn, &near, NULL) ||
	    sim_link(l->sim, n, l->n_agent, &near, NULL))
		return ZT_ENOMEM;
	snprintf(name, sizeof(name), "extra-%s-%u", ip, port);
	if ((rv = config_file(l, name, cert, extra, path, sizeof(path))) != 0)
		return rv;
	return start_one(l, d, ops, path, n, 0);
}

int sim_lab_relay_restart(struct sim_lab *l, int silent)
{
	struct sim_link_cfg near = { .latency_ns = 5 * SIM_MS };
	struct sim_link_cfg dark = { .latency_ns = 5 * SIM_MS, .loss = 1.0 };
	char path[256];

	if (silent) {
		sim_link(l->sim, l->n_agent, l->n_relay, &dark, NULL);
		sim_link(l->sim, l->n_conn, l->n_relay, &dark, NULL);
	}
	zt_daemon_stop(&l->relay, "restart");
	/* Its handles close in the next turns; the others run on. */
	sim_run(l->sim, NULL, NULL, 10 * SIM_MS);
	zt_daemon_free(&l->relay);
	sim_link(l->sim, l->n_agent, l->n_relay, &near, NULL);
	sim_link(l->sim, l->n_conn, l->n_relay, &near, NULL);
	snprintf(path, sizeof(path), "%s/relay.ini", l->dir);
	return start_one(l, &l->relay, &zt_relay_ops, path, l->n_relay, 0);
}

int sim_lab_connector_reload(struct sim_lab *l, const char *services)
{
	char path[256];
	int rv = connector_ini(l, services, path, sizeof(path));

	if (rv == 0)
		zt_daemon_reload(&l->conn);
	return rv;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

int sim_lab_stop(struct sim_lab *l)
{
	int rv = 0;

	if (l->sim) {
		zt_daemon_stop(&l->agent, "test end");
		zt_daemon_stop(&l->conn, "test end");
		zt_daemon_stop(&l->relay, "test end");
		/* Let the goodbyes land and every handle close. */
		sim_run(l->sim, NULL, NULL, 2 * SIM_S);
		for (int i = 0; i < 100 && uv_loop_alive(&l->loop); i++)
			uv_run(&l->loop, UV_RUN_NOWAIT);
		zt_daemon_free(&l->agent);
		zt_daemon_free(&l->conn);
		zt_daemon_free(&l->relay);
		if (uv_loop_close(&l->loop) != 0)
			rv = ZT_EIO;
		sim_free(l->sim);
		l->sim = NULL;
	}
	sim_tun_free(&l->tun);
	sim_tun_other_clear();
	sim_targets_free(&l->targets);
	if (l->dir[0])
		rm_dir(l->dir);
	return rv;
}

char *sim_lab_status(struct zt_daemon *d)
{
	struct zt_sb b;

	zt_sb_init(&b);
	d->ops->status(d, &b, 1);
	if (b.oom) {
		zt_sb_free(&b);
		return NULL;
	}
	return b.s;
}

long long sim_json_num(const char *json, const char *key)
{
	char k[80];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = json ? strstr(json, k) : NULL;
	return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}
