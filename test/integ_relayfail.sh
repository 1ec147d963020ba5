#!/bin/sh
# A relayed session survives the loss of its relay. The connector and the
# agent each sit behind a home router with endpoint-dependent mapping, so
# no direct path exists and the session stays relayed (as in
# integ_relayed.sh). Both peers are configured with two relays on the
# relay host: relay (10.77.0.1:4433) and relay2 (10.77.0.1:4434).
#   failover: during a transfer, the relay carrying the session is killed
#   (SIGKILL: no goodbye, no stateless reset, as a crashed or vanished
#   host): the agent notices the silence within 3 s, the session moves to
#   the other within 5 s and the transfer keeps its sha256;
#   restart: during a transfer through the other (the only relay left), it
#   restarts: the session is back on a relayed path within 5 s of the
#   relay listening again, and the transfer keeps its sha256.
set -eu
. "$(dirname "$0")/lib/lab.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
lab_nat_init "$1" edm edm
lab_pki
lab_conf
lab_target
for r in connector agent; do
	sed -i '/^relay = 10.77.0.1:4433$/a relay = 10.77.0.1:4434' "$LAB/$r.ini"
done
sed -e 's#^listen = .*#listen = 0.0.0.0:4434#' \
	-e "s#^control_socket = .*#control_socket = $LAB/run/relay2.sock#" \
	"$LAB/relay.ini" >"$LAB/relay2.ini"
mkdir -p "$LAB/www"
head -c 33554432 /dev/urandom >"$LAB/www/big.bin"
want=$(sha256sum <"$LAB/www/big.bin" | cut -d' ' -f1)
lab_bg "$(lab_ns target)" http python3 "$HERE/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/big.bin

lab_start relay
lab_start relay "$LAB/relay2.ini" relay2
lab_start connector
lab_start agent
wait_for 15 "both relays list the connector to the agent" \
	jq_ok agent '[.relays[] | select(.state == "up")] | length == 2'
wait_for 10 "agent catalog" jq_ok agent '.catalog | length == 2'

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# on RELAY MOVES: the session is up, relayed via RELAY (HOST:PORT), moved
# MOVES times, not recovering.
on() {
	jq_ok agent "[.sessions[] | select(.connector == \"conn1\" and .state == \"up\"
		and .relayed and (.recovering | not) and .relay_moves == $2
		and (.path | startswith(\"relayed via relay $1 #\")))] | length == 1"
}
# transfer NAME: 32 MiB at 4 MB/s (8 s) in the background, in $LAB/NAME.
transfer() {
	lab_in_agent curl -sS --max-time 60 --limit-rate 4M -o "$LAB/$1" \
		http://wiki.corp.internal/big.bin &
	CURL=$!
	LAB_PIDS="$LAB_PIDS $CURL"
}
check() {
	wait "$CURL" || lab_fail "$1: the transfer failed"
	got=$(sha256sum <"$LAB/$1" | cut -d' ' -f1)
	[ "$want" = "$got" ] || lab_fail "$1: sha256 differs"
	lab_log "$1: 32 MiB intact"
}

lab_log "failover: the relay carrying a transfer is killed"
transfer failover.bin
wait_for 5 "session relayed" jq_ok agent '.sessions[] | select(.connector == "conn1" and .state == "up" and .relayed)'
# Whichever relay listed the connector first carries it.
port=$(lab_status agent | jq -r '.sessions[0].path' | sed -n 's/^relayed via relay 10.77.0.1:\([0-9]*\) #.*/\1/p')
case $port in
4433) gone=relay left=relay2 left_port=4434 ;;
4434) gone=relay2 left=relay left_port=4433 ;;
*) lab_fail "session path: $(lab_status agent | jq -c .sessions)" ;;
esac
wait_for 5 "session relayed via $gone" on "10.77.0.1:$port" 0
sleep 2
t0=$(now_ms)
lab_stop $gone KILL
wait_for 5 "session moved to $left" on "10.77.0.1:$left_port" 1
t1=$(now_ms)
lab_log "failover: on $left $((t1 - t0)) ms after $gone was killed"
grep -q "relay 10.77.0.1:$port: nothing heard for .* while relayed sessions depend on it" "$LAB/agent.log" ||
	lab_fail "the agent did not say why it left the relay"
lab_status agent | jq -c '.sessions[] | {path, why, relay_moves}'
kill -0 "$CURL" 2>/dev/null || lab_fail "the transfer ended before the move was checked"
check failover.bin

lab_log "restart: $left, the only relay left, restarts during a transfer"
transfer restart.bin
sleep 2
lab_stop $left
wait_for 3 "agent: re-opening" jq_ok agent \
	".sessions[] | select(.connector == \"conn1\" and .state == \"up\" and .recovering and (.why | test(\"relay 10.77.0.1:$left_port lost, re-opening\")))"
lab_status agent | jq -c '.sessions[] | {path, why, relay_moves}'
lab_start relay "$LAB/$left.ini" $left
wait_for 5 "$left listening" jq_ok $left '.role == "relay"'
t0=$(now_ms)
wait_for 5 "session back on $left" on "10.77.0.1:$left_port" 2
t1=$(now_ms)
# From the logs' own timestamps (ms): the relay listening again, the move.
log_ms() { date -d "$(echo "$1" | cut -d' ' -f1)" +%s%3N; }
listen=$(grep "relay .* started as relay1 on 0.0.0.0:$left_port" "$LAB/$left.log" | tail -n 1)
moved=$(grep "session to connector conn1: moved to relay 10.77.0.1:$left_port" "$LAB/agent.log" | tail -n 1)
[ -n "$listen" ] && [ -n "$moved" ] || lab_fail "no restart or no move in the logs"
took=$(($(log_ms "$moved") - $(log_ms "$listen")))
lab_log "restart: back on a relayed path $took ms after $left was listening again (logs; $((t1 - t0)) ms by status polls)"
[ "$took" -ge 0 ] && [ "$took" -lt 5000 ] || lab_fail "restart: $took ms to move"
lab_status agent | jq -c '.sessions[] | {path, why, relay_moves}'
kill -0 "$CURL" 2>/dev/null || lab_fail "the transfer ended before the session was back"
check restart.bin
lab_log "ok"
