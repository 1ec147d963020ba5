/* Configuration: an INI file (inih) parsed into a plain struct, then validated
 * in a separate pass with cross-field checks. Nothing is applied here; the
 * caller swaps configs only after zt_config_load() succeeded (SIGHUP). */
#ifndef ZT_CONFIG_H
#define ZT_CONFIG_H

#include <limits.h>
#include <stdint.h>

#include "types.h"

struct zt_relay_endpoint {
	char host[ZT_HOST_MAX + 1]; /* DNS name or IP literal; also the name
				       checked against the relay certificate */
	uint16_t port;
};

enum zt_dns_forward {
	ZT_DNS_FWD_REFUSE = 0, /* answer REFUSED: the system tries its next */
	ZT_DNS_FWD_SYSTEM = 1, /* to the first nameserver in resolv.conf */
	ZT_DNS_FWD_ADDR = 2,   /* to dns_upstream */
};

enum zt_portmap_mode {
	ZT_PORTMAP_OFF = 0,
	ZT_PORTMAP_AUTO = 1, /* NAT-PMP, else UPnP-IGD, on the gateway */
};

struct zt_config {
	int role;                  /* enum zt_role: set by the caller */
	char path[PATH_MAX];       /* the file this came from */

	/* [identity] */
	char ca_file[PATH_MAX];
	char cert_file[PATH_MAX];
	char key_file[PATH_MAX];
	char crl_file[PATH_MAX];   /* "" = no revocation list */

	/* [daemon] */
	int log_level;             /* enum zt_log_level */
	char control_socket[PATH_MAX];
	char qlog_dir[PATH_MAX];   /* "" = off */
	char user[ZT_NAME_MAX];    /* "" = keep the starting user */

	/* [quic] */
	struct zt_addr listen;     /* relay: required; others: default 0.0.0.0:0 */
	uint32_t idle_timeout_ms;  /* default 30000 */
	uint32_t keepalive_ms;     /* default 10000; < idle_timeout */
	int require_retry;         /* relay only; default 1 */
	/* Relay: TLS over TCP for peers whose UDP is blocked. Default the
	 * listen address with port 443; family 0 = off. */
	struct zt_addr tcp_listen;
	int tcp_listen_set; /* in the file: failing to bind is fatal */
	uint16_t tcp_port;  /* agent, connector: the relays' TCP port,
				      default 443; 0 = off */

	/* [relays] (connector, agent): relay = host:port, repeatable */
	struct zt_relay_endpoint relays[ZT_MAX_RELAYS];
	size_t n_relays;

	/* [tun] (agent): a TUN device, or a shim on a Unix socket */
	char tun_ifname[16];       /* default "ztun0" */
	uint32_t tun_mtu;          /* default 15040 */
	int tun_fail_open;         /* default 0: routes kept while down */
	char shim_socket[PATH_MAX]; /* "" = TUN; else listen here for a shim
				       (checked to fit sun_path) */

	/* [dns] (agent): names outside the catalog */
	int dns_forward;           /* enum zt_dns_forward; default refuse */
	struct zt_addr dns_upstream; /* ZT_DNS_FWD_ADDR */

	/* [nat] (connector, agent) */
	int portmap;               /* enum zt_portmap_mode; default auto */

	/* [service NAME] sections (connector only) */
	struct zt_service *services;
	size_t n_services;

	/* Test hook, not an ini key (the parser leaves it 0): the highest
	 * control protocol version this peer's relay links speak, 0 for the
	 * highest it knows. The in-process tests set it to play a connector
	 * or an agent of an older release; read when the role makes its
	 * links. */
	uint8_t ctrl_version_max;
};

/* Caller-provided buffer for the first error, formatted as
 * "FILE:LINE: [section] key = 'value': expected ..." */
struct zt_config_error {
	char msg[512];
};

/* Loads and validates FILE for role. Returns 0, or ZT_EINVAL / ZT_EUNKNOWN /
 * ZT_EIO / ZT_ENOMEM with err->msg filled in. On failure cfg holds nothing
 * that needs freeing. */
int zt_config_load(struct zt_config *cfg, int role, const char *file,
		   struct zt_config_error *err);
/* Same, from a string (tests, fuzzing); name is used in error messages. The
 * string is held to the file size limit too (1 MiB). */
int zt_config_load_string(struct zt_config *cfg, int role, const char *name,
			  const char *text, struct zt_config_error *err);
void zt_config_free(struct zt_config *cfg);

#endif
