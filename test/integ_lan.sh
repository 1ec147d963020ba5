#!/bin/sh
# Agent and connector on one LAN behind one home router (hairpin through
# the router's public address does not work, as on many home routers): the
# session starts on the relay and goes direct over the LAN addresses the
# connector announced as candidates. When the connector gains or loses an
# address, it tells the agent through the relay (SESSION_CANDIDATES) within
# a few seconds.
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
wait_for 3 "the connector sees it direct" jq_ok connector '(.agents[0].path | startswith("direct 192.168.10.3:")) and .agents[0].path_changes >= 1'
grep -q "session from agent alice: now direct 192.168.10.3:" "$LAB/connector.log" || lab_fail "no path change in the connector's log"
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl on the LAN path"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"

cand() { jq_ok agent "[.sessions[] | select(.connector == \"conn1\") | .candidates[] | select(.addr | startswith(\"$1:\"))] | length == $2"; }
lab_log "a new address on the connector: the agent hears of it"
cand 192.168.10.9 0 || lab_fail "candidate before it exists"
t0=$(date +%s%N)
ip -n "$(lab_ns conn)" addr add 192.168.10.9/24 dev eth0
wait_for 6 "the new candidate at the agent" cand 192.168.10.9 1
lab_log "after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
grep -q "our candidates changed: .*192.168.10.9" "$LAB/connector.log" || lab_fail "the connector did not say"
ip -n "$(lab_ns conn)" addr del 192.168.10.9/24 dev eth0
wait_for 6 "the candidate gone at the agent" cand 192.168.10.9 0
lab_status agent | jq -c '.sessions[] | {path, candidates: [.candidates[] | {addr, type, state}]}'
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl after the changes"
lab_log "ok"
