#!/bin/sh
# `make demo`: a relay, a connector and an agent, the connector and the
# agent each behind a home router with NAT, and a private web server, in
# network namespaces, using the example configs in conf/. Shows the agent
# discovering the connector's services, a real request by name through the
# tunnel that goes through the relay first and then directly once hole
# punching finds a path, a denied one, the connector leaving and coming
# back, then cleans everything up.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/ztnad}
. "$ROOT/test/lib/lab.sh"
LAB_ROOT=$ROOT
lab_nat_init "$BIN" eim eim

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Organisation CA and identities (ztnad pki)"
lab_pki
"$BIN" pki show "$LAB/pki/agent.crt" | sed 's/^/    /'
lab_conf

lab_target
mkdir -p "$LAB/www"
echo "Welcome to the corp wiki (served from 10.77.1.2, a network only the connector reaches)" >"$LAB/www/index.html"
lab_bg "$(lab_ns target)" http python3 "$ROOT/test/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
wait_for 10 "the web server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/

say "Starting relay (10.77.0.1), connector (192.168.10.2 behind NAT 10.77.0.2, next to 10.77.1.0/24), agent (192.168.20.2 behind NAT 10.77.0.3)"
# For the first part, the connector's router lets nothing of the agent's
# in: no direct path can exist, only the relay.
NC=$(lab_ns natc)
ip netns exec "$NC" nft add table inet demo
ip netns exec "$NC" nft add chain inet demo c '{ type filter hook prerouting priority -300; }'
ip netns exec "$NC" nft add rule inet demo c ip saddr 10.77.0.3 drop
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

say "On the agent's machine: curl http://wiki.corp.internal/"
echo "    \$ getent hosts wiki.corp.internal   # answered by the agent's DNS stub"
lab_in_agent getent hosts wiki.corp.internal | sed 's/^/    /'
echo "    \$ curl http://wiki.corp.internal/"
lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/ | sed 's/^/    /'
echo "    \$ curl http://wiki.corp.internal:8080/   # a port the service does not publish"
lab_in_agent curl -sS --max-time 5 http://wiki.corp.internal:8080/ 2>&1 | sed 's/^/    /' || true
echo "    \$ ztnad status (agent): the session, relayed (the connector's NAT lets nothing in)"
"$BIN" status --socket "$LAB/run/agent.sock" | sed -n '/^dropped/,$p' | sed 's/^/    /'
echo "    \$ ztnad status (relay): it forwards the session without being able to read it"
"$BIN" status --socket "$LAB/run/relay.sock" | sed -n '/^relayed/,$p' | sed 's/^/    /'

say "The connector's NAT behaves like a normal home router again: hole punching"
ip netns exec "$NC" nft delete table inet demo
wait_for 30 "the direct path" jq_ok agent '[.sessions[] | select(.state == "up" and (.relayed | not))] | length == 1'
lab_in_agent curl -sS --max-time 10 -o /dev/null -w '    curl again: HTTP %{http_code} in %{time_total} s\n' http://wiki.corp.internal/
echo "    \$ ztnad status (agent): the same session, now direct"
"$BIN" status --socket "$LAB/run/agent.sock" | sed -n '/^dropped/,$p' | sed 's/^/    /'
grep "session to connector" "$LAB/agent.log" | sed 's/^/    /'
echo "    connector log:"
grep "flow end\|agent .* connected" "$LAB/connector.log" | sed 's/^/    /'

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
