#!/bin/sh
# `make demo`: a relay, a connector and an agent in three network
# namespaces, using the example configs in conf/. Shows the agent
# discovering the connector's services, the connector leaving and coming
# back, then cleans everything up.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/ztnad}
. "$ROOT/test/lib/lab.sh"
LAB_ROOT=$ROOT
lab_init "$BIN"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Organisation CA and identities (ztnad pki)"
lab_pki
"$BIN" pki show "$LAB/pki/agent.crt" | sed 's/^/    /'
lab_conf

say "Starting relay (10.77.0.1), connector (10.77.0.2), agent (10.77.0.3)"
lab_start relay
lab_start connector
lab_start agent
wait_for 15 "the agent's catalog" jq_ok agent '.catalog | length > 0'

say "ztnad status on the relay"
"$BIN" status --socket "$LAB/run/relay.sock" | sed 's/^/    /'
say "ztnad status on the connector"
"$BIN" status --socket "$LAB/run/connector.sock" | sed 's/^/    /'
say "ztnad status on the agent (alice, group engineering: sees wiki, not db)"
"$BIN" status --socket "$LAB/run/agent.sock" | sed 's/^/    /'

say "The connector stops: its services leave the agent's catalog"
lab_stop connector TERM
wait_for 5 "an empty catalog" jq_ok agent '.catalog | length == 0'
"$BIN" status --json --socket "$LAB/run/agent.sock" | jq -c '{catalog: [.catalog[].service]}' | sed 's/^/    /'

say "The connector comes back"
lab_start connector
wait_for 15 "the catalog again" jq_ok agent '.catalog | length > 0'
"$BIN" status --json --socket "$LAB/run/agent.sock" | jq -c '{catalog: [.catalog[].service]}' | sed 's/^/    /'

say "Logs (agent)"
sed 's/^/    /' "$LAB/agent.log"
say "Done: stopping everything and removing the namespaces"
