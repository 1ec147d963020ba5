#!/bin/sh
# Control plane end to end with real processes in network namespaces:
# the example configs, catalog delivery and filtering, connector loss and
# return, relay restart, graceful shutdown, SIGHUP reload.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf

lab_log "--check accepts the example configs"
for r in relay connector agent; do
	"$BIN" --role $r --config "$LAB/$r.ini" --check >/dev/null || lab_fail "--check $r"
done

lab_start relay
lab_start connector
lab_start agent

lab_log "agent catalog lists wiki (allowed) and not db (user:bob only)"
wait_for 15 "agent catalog has wiki" jq_ok agent '.catalog | map(.service) | index("wiki") != null'
jq_ok agent '.catalog | map(.service) | index("db") == null' || lab_fail "agent sees db"
jq_ok agent '.catalog[] | select(.service=="wiki") | .connector == "conn1"' || lab_fail "connector name"
jq_ok agent '.catalog[] | select(.service=="wiki") | .addresses[0] | startswith("10.77.0.2:")' ||
	lab_fail "connector address"
jq_ok agent '.relays[0].state == "up" and (.relays[0].observed_address | startswith("10.77.0.3:"))' ||
	lab_fail "agent observed address"
jq_ok connector '.relays[0].state == "up" and (.relays[0].observed_address | startswith("10.77.0.2:"))' ||
	lab_fail "connector observed address"
wait_for 5 "relay counts" jq_ok relay '.agents == 1 and .connectors == 1'
jq_ok relay '[.peers[] | select(.role=="connector")][0].services == 3' || lab_fail "relay registry"
"$BIN" status --socket "$LAB/run/agent.sock" | grep -q "wiki" || lab_fail "text status"
perm=$(stat -c %a "$LAB/run/agent.sock")
case $perm in ?00) ;; *) lab_fail "status socket mode $perm (group/other access)" ;; esac

lab_log "connector stops: its services leave the agent's catalog"
lab_stop connector TERM
wait_for 5 "catalog empty" jq_ok agent '.catalog | length == 0'

lab_log "connector returns"
lab_start connector
wait_for 15 "wiki back" jq_ok agent '.catalog | map(.service) | index("wiki") != null'

lab_log "relay killed (no goodbye) and restarted: both peers come back"
lab_stop relay KILL
lab_start relay
# Peers notice at their next keep-alive (10 s): the new relay process answers
# with a stateless reset it can still compute (the secret derives from its
# key), so they reconnect at once instead of waiting for the idle timeout.
wait_for 30 "both peers registered with the new relay" jq_ok relay '.agents == 1 and .connectors == 1'
wait_for 10 "agent catalog" jq_ok agent '.relays[0].state == "up" and (.catalog | length == 2)'
grep -q "stateless reset" "$LAB/agent.log" || lab_fail "agent did not see a stateless reset"

lab_log "SIGHUP with a broken config keeps the old one running"
cp "$LAB/connector.ini" "$LAB/connector.good"
echo "bogus_key = 1" >>"$LAB/connector.ini"
kill -HUP "$(lab_pid connector)"
wait_for 5 "reload rejected logged" grep -q "reload rejected" "$LAB/connector.log"
jq_ok connector '.relays[0].state == "up"' || lab_fail "connector died on bad reload"

lab_log "SIGHUP with a new service: the agent sees it"
cp "$LAB/connector.good" "$LAB/connector.ini"
printf '\n[service git]\nhostname = git.corp.internal\nports = 22\nallow = group:engineering\n' >>"$LAB/connector.ini"
kill -HUP "$(lab_pid connector)"
wait_for 5 "git in catalog" jq_ok agent '.catalog | map(.service) | index("git") != null'

lab_log "SIGTERM: the relay exits within 2 s and peers hear CONNECTION_CLOSE"
t0=$(date +%s%N)
lab_stop relay TERM
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
lab_log "relay stopped in $ms ms"
[ $ms -lt 2000 ] || lab_fail "shutdown took $ms ms"
wait_for 3 "agent saw the close" grep -q "closed by relay: application error 6" "$LAB/agent.log"
grep -q "shutting down (SIGTERM)" "$LAB/relay.log" || lab_fail "no shutdown log"

lab_stop agent INT
lab_stop connector TERM
grep -q "agent: stopped" "$LAB/agent.log" || lab_fail "agent did not stop cleanly"
lab_log "PASS"
