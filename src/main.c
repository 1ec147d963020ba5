/* ztnad: parse argv, pick the role or subcommand from one table, run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctlsock.h"
#include "daemon.h"
#include "log.h"
#include "pki.h"
#include "roles.h"

static const struct {
	const char *name;
	const struct zt_role_ops *ops;
	const char *help;
} roles[] = {
	{ "agent", &zt_agent_ops, "laptop side: catalog, DNS, flows to connectors" },
	{ "relay", &zt_relay_ops, "public rendezvous: authenticates peers, serves catalogs" },
	{ "connector", &zt_connector_ops, "sidecar next to an app: serves its services" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ztnad --role ROLE --config FILE [-v] [--check]\n"
		"       ztnad status [--json] [--config FILE --role ROLE | --socket PATH]\n"
		"       ztnad pki init-ca|issue|show ...   (ztnad pki help)\n"
		"       ztnad --version | --help\n"
		"roles:\n");
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		fprintf(f, "  %-10s %s\n", roles[i].name, roles[i].help);
}

static const struct zt_role_ops *find_role(const char *name)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, name) == 0)
			return roles[i].ops;
	return NULL;
}

/* Finds the status socket: explicit, from a config, or the default of the
 * one role running here. */
static int status_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "role", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *role = NULL, *sock = NULL;
	struct zt_config cfg;
	struct zt_config_error err;
	const struct zt_role_ops *ops;
	char path[PATH_MAX];
	int json = 0, o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "jc:r:s:", opts, NULL)) != -1) {
		switch (o) {
		case 'j': json = 1; break;
		case 'c': config = optarg; break;
		case 'r': role = optarg; break;
		case 's': sock = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	if (sock)
		return zt_ctl_query(sock, json);
	if (config) {
		ops = role ? find_role(role) : NULL;
		if (!ops) {
			fprintf(stderr, "ztnad status: --config needs --role agent|relay|connector\n");
			return 2;
		}
		if (zt_config_load(&cfg, ops->role, config, &err) != 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		snprintf(path, sizeof(path), "%s", cfg.control_socket);
		zt_config_free(&cfg);
		return zt_ctl_query(path, json);
	}
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		snprintf(path, sizeof(path), "/run/ztnad/%s.sock", roles[i].name);
		if (access(path, F_OK) == 0)
			return zt_ctl_query(path, json);
	}
	rc = 1;
	fprintf(stderr, "ztnad status: no daemon found in /run/ztnad; use --socket or --config\n");
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *role = NULL, *config = NULL;
	const struct zt_role_ops *ops;
	int check = 0, verbose = 0, o;

	if (argc > 1 && strcmp(argv[1], "pki") == 0)
		return zt_pki_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	while ((o = getopt_long(argc, argv, "r:c:tvVh", opts, NULL)) != -1) {
		switch (o) {
		case 'r': role = optarg; break;
		case 'c': config = optarg; break;
		case 't': check = 1; break;
		case 'v': verbose = 1; break;
		case 'V': printf("ztnad %s\n", ZT_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztnad: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!role || !config) {
		fprintf(stderr, "ztnad: --role and --config are required\n");
		usage(stderr);
		return 2;
	}
	ops = find_role(role);
	if (!ops) {
		fprintf(stderr, "ztnad: unknown role '%s'\n", role);
		usage(stderr);
		return 2;
	}
	if (check)
		return zt_daemon_check(ops->role, config);
	return zt_daemon_run(ops, config, verbose);
}
