#!/bin/sh
# Container entrypoint for ztnad: check the configuration, then become the
# daemon (exec, so ztnad is PID 1 and receives SIGTERM and SIGHUP directly).
#
#   ROLE    relay | connector | agent (or give it as the first argument)
#   CONFIG  config file, default /etc/ztnad/$ROLE.ini
#
# Extra arguments after the role go to the daemon (e.g. -v). A first
# argument of pki, status, --version or --help runs that ztnad command.
set -eu

case "${1:-}" in
relay | connector | agent)
	ROLE=$1
	shift
	;;
pki | status | --version | --help)
	exec ztnad "$@"
	;;
esac

if [ -z "${ROLE:-}" ]; then
	echo "ztnad-entrypoint: set ROLE (relay, connector or agent) or pass it as the first argument" >&2
	exit 2
fi
CONFIG=${CONFIG:-/etc/ztnad/$ROLE.ini}

# ztnad does not create the directory of its status socket.
mkdir -p /run/ztnad

ztnad --role "$ROLE" --config "$CONFIG" --check
exec ztnad --role "$ROLE" --config "$CONFIG" "$@"
