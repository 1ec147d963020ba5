#!/bin/sh
# Agent and connector on one LAN behind one home router (hairpin through
# the router's public address does not work, as on many home routers): the
# session starts on the relay and goes direct over the LAN addresses the
# connector announced as candidates.
set -eu
. "$(dirname "$0")/lib/lab.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
lab_nat_shared_init "$1"
lab_pki
lab_conf
lab_target
mkdir -p "$LAB/www"
echo "hello from wiki" >"$LAB/www/hello.txt"
lab_bg "$(lab_ns target)" http python3 "$HERE/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/hello.txt
lab_start relay
lab_start connector
lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
lab_log "direct over the LAN within 3 s"
wait_for 3 "direct over the LAN" jq_ok agent '[.sessions[] | select(.state == "up" and (.relayed | not) and (.path | startswith("direct 192.168.10.2:")))] | length == 1'
lab_status agent | jq -c '.sessions[] | {path, why}'
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl on the LAN path"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
lab_log "ok"
