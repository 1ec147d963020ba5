#!/bin/sh
# Hole punching: the connector and the agent each behind a home router
# whose NAT keeps the source port (endpoint-independent mapping) but drops
# what nobody inside asked for. The session starts on the relay at once,
# both sides probe each other's candidates, and the agent moves the session
# to the direct path; a transfer started while relayed keeps its sha256.
# Then the direct path is cut with an nftables rule during a transfer: the
# session goes back to the relay within 8 s and forward again once the rule
# is gone, several times, without losing the flow. A relay restart leaves
# the direct session and its flow alone, and once the relay is back the
# session has a relayed path to fall back to again.
set -eu
. "$(dirname "$0")/lib/lab.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
lab_nat_init "$1" eim eim
lab_pki
lab_conf
lab_target
mkdir -p "$LAB/www"
head -c 67108864 /dev/urandom >"$LAB/www/big.bin"
echo "hello from wiki" >"$LAB/www/hello.txt"
lab_bg "$(lab_ns target)" http python3 "$HERE/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/hello.txt
want=$(sha256sum <"$LAB/www/big.bin" | cut -d' ' -f1)

lab_start relay
lab_start connector
lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'

direct() { jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and (.relayed | not))] | length == 1'; }
relayed() { jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and .relayed)] | length == 1'; }

lab_log "first request: answered at once (the session starts on the relay)"
t0=$(date +%s%N)
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
lab_log "answered after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
grep -q "relayed session .* ready via relay" "$LAB/agent.log" || lab_fail "the session did not start on the relay"

lab_log "the session goes direct within 2 s"
wait_for 2 "direct path" direct
lab_status agent | jq -c '.sessions[] | {connector, path, why, upgrades, rtt_ms}'
grep -q "direct via 10.77.0.2:" "$LAB/agent.log" || lab_fail "no direct path in the agent's log"

lab_log "64 MiB at 1 MB/s, the direct path cut and restored three times during it"
lab_in_agent curl -sS --max-time 300 --limit-rate 1M -o "$LAB/got.bin" \
	http://wiki.corp.internal/big.bin &
CURL=$!
LAB_PIDS="$LAB_PIDS $CURL"
NC=$(lab_ns natc)
for round in 1 2 3; do
	sleep 1
	# Cut only the direct path: everything between the two routers' public
	# addresses; both still reach the relay.
	ip netns exec "$NC" nft add table inet cut
	ip netns exec "$NC" nft add chain inet cut c '{ type filter hook prerouting priority -300; }'
	ip netns exec "$NC" nft add rule inet cut c ip saddr 10.77.0.3 drop
	t0=$(date +%s)
	wait_for 9 "back on the relay (round $round)" relayed
	lab_log "round $round: back on the relay after $(( $(date +%s) - t0 )) s"
	ip netns exec "$NC" nft delete table inet cut
	t0=$(date +%s)
	wait_for 60 "direct again (round $round)" direct
	kill -0 "$CURL" 2>/dev/null || lab_fail "the transfer ended before round $round was over"
	lab_log "round $round: direct again after $(( $(date +%s) - t0 )) s"
done
wait "$CURL" || lab_fail "the transfer failed across the switches"
got=$(sha256sum <"$LAB/got.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || lab_fail "sha256 differs after the switches"
jq_ok agent '.sessions[0].fallbacks >= 3 and .sessions[0].upgrades >= 4' ||
	lab_fail "counts: $(lab_status agent | jq -c '.sessions[0] | {upgrades, fallbacks}')"
lab_status agent | jq -c '.sessions[] | {path, why, upgrades, fallbacks}'

lab_log "the relay restarts: the direct session and its flow carry on"
lab_in_agent curl -sS --max-time 120 --limit-rate 4M -o "$LAB/got2.bin" \
	http://wiki.corp.internal/big.bin &
CURL=$!
LAB_PIDS="$LAB_PIDS $CURL"
sleep 2
lab_stop relay
sleep 3
kill -0 "$CURL" 2>/dev/null || lab_fail "the transfer ended while the relay was down"
direct || lab_fail "the session left the direct path when the relay went down"
lab_start relay
wait "$CURL" || lab_fail "the transfer failed across the relay restart"
got=$(sha256sum <"$LAB/got2.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || lab_fail "sha256 differs across the relay restart"
jq_ok agent '.sessions[0].fallbacks == 3' || lab_fail "a fallback during the relay restart"
wait_for 15 "catalog back" jq_ok agent '.catalog | length == 2'
out=$(lab_in_agent curl -sS --max-time 5 http://wiki.corp.internal/hello.txt) || lab_fail "curl after the relay restart"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"

lab_log "the restarted relay gives the direct session a way back: cut the direct path once more"
wait_for 15 "standby relayed path" grep -q "standby relayed path via" "$LAB/agent.log"
ip netns exec "$NC" nft add table inet cut
ip netns exec "$NC" nft add chain inet cut c '{ type filter hook prerouting priority -300; }'
ip netns exec "$NC" nft add rule inet cut c ip saddr 10.77.0.3 drop
wait_for 9 "back on the new relay session" relayed
out=$(lab_in_agent curl -sS --max-time 5 http://wiki.corp.internal/hello.txt) || lab_fail "curl on the new relayed path"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
ip netns exec "$NC" nft delete table inet cut
lab_log "ok"
