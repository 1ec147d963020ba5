/* A relay, a connector and an agent, the real roles, in this process on
 * one loop over the simulated network (sim.h): a fresh CA and
 * certificates (pki.h) and ini configs in a temporary directory, the
 * agent on a sim_tun, the connector's targets in memory.
 *
 *   relay      10.0.0.1:4433  (relay1, IP SAN 10.0.0.1, Retry on)
 *   connector  10.0.0.2:5000  (conn1, may publish *.corp.internal)
 *   agent      10.0.0.3:6000  (alice, group engineering), behind a
 *              port-restricted NAT at 203.0.113.3 (mappings idle 60 s)
 *
 * Links: agent-relay and connector-relay 5 ms each way, agent-connector
 * 10 ms each way, all lossless until a test changes them (sim_link). */
#ifndef ZT_SIM_LAB_H
#define ZT_SIM_LAB_H

#include "daemon.h"
#include "sim.h"

struct sim_lab {
	char dir[64];
	uv_loop_t loop;
	struct sim *sim;
	struct sim_node *n_relay, *n_conn, *n_agent;
	struct sim_nat *nat_agent;
	struct zt_daemon relay, conn, agent;
	struct sim_tun tun;
	struct sim_targets targets;
	struct sim_nat *nat_conn; /* sim_lab_start_nat only; NULL otherwise */
	char relays[256]; /* the agent's and connector's [relays] lines */
};

/* Writes the PKI and configs (services: the connector's [service ...]
 * sections, ini text), starts the three daemons. Returns 0 or ZT_E*. */
int sim_lab_start(struct sim_lab *l, uint64_t seed, const char *services);
/* sim_lab_start with other NATs: the agent's (at 203.0.113.3) of type
 * agent_nat, and, when conn_nat >= 0, one at 198.51.100.2 of that type in
 * front of the connector (both mappings idle 60 s). sim_lab_start is this
 * with SIM_NAT_PORT_RESTRICTED and -1. */
int sim_lab_start_nat(struct sim_lab *l, uint64_t seed, const char *services,
		      int agent_nat, int conn_nat);
/* sim_lab_start_nat with the agent's and the connector's [relays]
 * section body (e.g. "relay = 10.0.0.1:4434\nrelay = 10.0.0.1:4433\n");
 * the lab starts only the relay at 10.0.0.1:4433, the test the others
 * (sim_lab_extra with cert "relay": the certificate's IP is 10.0.0.1). */
int sim_lab_start_relays(struct sim_lab *l, uint64_t seed, const char *services,
			 int agent_nat, int conn_nat, const char *relays);
/* sim_lab_start_nat with peers of an older release: the connector's and
 * the agent's relay links speak at most control protocol conn_version and
 * agent_version (0: the highest they know; zt_config.ctrl_version_max,
 * a test hook). */
int sim_lab_start_ver(struct sim_lab *l, uint64_t seed, const char *services,
		      int agent_nat, int conn_nat, uint8_t conn_version,
		      uint8_t agent_version);
/* Rewrites the connector's config with these services and reloads it,
 * as a SIGHUP would. */
int sim_lab_connector_reload(struct sim_lab *l, const char *services);
/* Another daemon of role ops on a new node at ip:port (linked to every
 * lab node, 5 ms), with the certificate of cert ("agent", "connector",
 * "relay") and config text extra. Stop it with zt_daemon_stop, turn the
 * loop (sim_run), then zt_daemon_free. Returns 0 or ZT_E*. */
int sim_lab_extra(struct sim_lab *l, struct zt_daemon *d,
		  const struct zt_role_ops *ops, const char *ip, uint16_t port,
		  const char *cert, const char *extra);
/* The relay dies and a new one starts on the same node with the same
 * config (hence the same endpoint secret). silent: its goodbyes
 * (CONNECTION_CLOSE) are lost, as after a SIGKILL. Returns 0 or ZT_E*. */
int sim_lab_relay_restart(struct sim_lab *l, int silent);
/* Stops the daemons, lets the loop close every handle, frees them and
 * removes the directory. Returns 0, or ZT_EIO if the loop still had
 * handles. */
int sim_lab_stop(struct sim_lab *l);
/* A role's `ztnad status --json` text (malloc'd, or NULL). */
char *sim_lab_status(struct zt_daemon *d);
/* A number from that JSON: the first "key":N. -1 when absent. */
long long sim_json_num(const char *json, const char *key);

#endif
