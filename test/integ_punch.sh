#!/bin/sh
# Hole punching: the connector and the agent each behind a home router
# whose NAT keeps the source port (endpoint-independent mapping) but drops
# what nobody inside asked for. The session starts on the relay at once,
# both sides probe each other's candidates, and the agent moves the session
# to the direct path. Then one long transfer (1 GiB) starts while the
# direct path is cut with an nftables rule (the session on the relay),
# crosses to the direct path once the rule is lifted, and lives through
# the direct path cut and restored five times more: each time the session
# goes back to the relay within 9 s and forward again once the rule is
# gone; its sha256 is intact. The transfer's reader is paced (4 MB/s) while
# the path flaps (test/tools/pacedget.py), so it lasts as long as the flaps
# do, and then reads the rest at full speed. A relay restart leaves the
# direct session and its flow alone (it moves on while the relay is down),
# and once the relay is back the session has a relayed path to fall back
# to again.
#
# ZT_TEST_LIGHT=1 (make test-asan): 192 MiB paced at 2 MB/s, two flaps.
set -eu
. "$(dirname "$0")/lib/lab.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
lab_nat_init "$1" eim eim
lab_pki
lab_conf
lab_target
if [ "${ZT_TEST_LIGHT:-}" = 1 ]; then
	BIG_MIB=192 PACE=2000000 FLAPS=2
else
	BIG_MIB=1024 PACE=4000000 FLAPS=5
fi
mkdir -p "$LAB/www"
head -c $((BIG_MIB * 1048576)) /dev/urandom >"$LAB/www/big.bin"
head -c 67108864 /dev/urandom >"$LAB/www/mid.bin"
echo "hello from wiki" >"$LAB/www/hello.txt"
lab_bg "$(lab_ns target)" http python3 "$HERE/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/hello.txt
want=$(sha256sum <"$LAB/www/big.bin" | cut -d' ' -f1)
want_mid=$(sha256sum <"$LAB/www/mid.bin" | cut -d' ' -f1)

lab_start relay
lab_start connector
lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'

direct() { jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and (.relayed | not))] | length == 1'; }
relayed() { jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and .relayed)] | length == 1'; }
NC=$(lab_ns natc)
# Cut only the direct path: everything between the two routers' public
# addresses; both still reach the relay.
cut_direct() {
	ip netns exec "$NC" nft add table inet cut
	ip netns exec "$NC" nft add chain inet cut c '{ type filter hook prerouting priority -300; }'
	ip netns exec "$NC" nft add rule inet cut c ip saddr 10.77.0.3 drop
}
lift_direct() { ip netns exec "$NC" nft delete table inet cut; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
got_mib() { echo $(($(cat "$LAB/progress" 2>/dev/null || echo 0) / 1048576)); }
got_at_least() { [ "$(got_mib)" -ge "$1" ]; }

lab_log "first request: answered at once (the session starts on the relay)"
t0=$(now_ms)
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
lab_log "answered after $(($(now_ms) - t0)) ms"
grep -q "relayed session .* ready via relay" "$LAB/agent.log" || lab_fail "the session did not start on the relay"

lab_log "the session goes direct within 2 s"
wait_for 2 "direct path" direct
lab_status agent | jq -c '.sessions[] | {connector, path, why, upgrades, rtt_ms}'
grep -q "direct via 10.77.0.2:" "$LAB/agent.log" || lab_fail "no direct path in the agent's log"

lab_log "the direct path cut: back on the relay, where the $BIG_MIB MiB transfer starts"
cut_direct
wait_for 9 "back on the relay before the transfer" relayed
t_all=$(now_ms)
lab_in_agent python3 "$HERE/tools/pacedget.py" wiki.corp.internal 80 /big.bin \
	"$PACE" "$LAB/go" "$LAB/progress" >"$LAB/got.sum" &
GET=$!
LAB_PIDS="$LAB_PIDS $GET"
wait_for 30 "16 MiB through the relay" got_at_least 16
relayed || lab_fail "the session left the relay while the direct path was cut"
lab_log "$(got_mib) MiB in through the relay; the rule lifted"
lift_direct
t0=$(now_ms)
wait_for 60 "direct during the transfer" direct
kill -0 "$GET" 2>/dev/null || lab_fail "the transfer ended before the session went direct"
lab_log "direct $(secs_since "$t0") s after the lift, at $(got_mib) of $BIG_MIB MiB"

lab_log "the direct path cut and restored $FLAPS times during the same transfer"
round=1
while [ $round -le "$FLAPS" ]; do
	# a little of the transfer on the direct path first
	wait_for 10 "2 MiB more on the direct path (round $round)" got_at_least $(($(got_mib) + 2))
	cut_direct
	t0=$(now_ms)
	wait_for 9 "back on the relay (round $round)" relayed
	t_relay=$(secs_since "$t0")
	lift_direct
	t0=$(now_ms)
	wait_for 60 "direct again (round $round)" direct
	kill -0 "$GET" 2>/dev/null || lab_fail "the transfer ended before round $round was over"
	lab_log "round $round: back on the relay after $t_relay s, direct again after $(secs_since "$t0") s (at $(got_mib) MiB)"
	round=$((round + 1))
done
lab_log "flaps done at $(got_mib) MiB: the reader goes full speed"
touch "$LAB/go"
wait "$GET" || lab_fail "the transfer failed across the switches"
[ "$(cat "$LAB/got.sum")" = "$((BIG_MIB * 1048576)) $want" ] ||
	lab_fail "sha256 or length differs after the switches: $(cat "$LAB/got.sum")"
lab_log "$BIG_MIB MiB intact in $(secs_since "$t_all") s"
jq_ok agent ".sessions[0].fallbacks >= $((FLAPS + 1)) and .sessions[0].upgrades >= $((FLAPS + 2))" ||
	lab_fail "counts: $(lab_status agent | jq -c '.sessions[0] | {upgrades, fallbacks}')"
lab_status agent | jq -c '.sessions[] | {path, why, upgrades, fallbacks}'
fallbacks=$(lab_status agent | jq '.sessions[0].fallbacks')

lab_log "the relay restarts: the direct session and its flow carry on"
rm -f "$LAB/go" "$LAB/progress"
lab_in_agent python3 "$HERE/tools/pacedget.py" wiki.corp.internal 80 /mid.bin \
	4000000 "$LAB/go" "$LAB/progress" >"$LAB/got2.sum" &
GET=$!
LAB_PIDS="$LAB_PIDS $GET"
wait_for 10 "the transfer under way" got_at_least 4
lab_stop relay
at_stop=$(got_mib)
sleep 3
kill -0 "$GET" 2>/dev/null || lab_fail "the transfer ended while the relay was down"
[ "$(got_mib)" -gt "$at_stop" ] || lab_fail "the transfer stalled while the relay was down"
direct || lab_fail "the session left the direct path when the relay went down"
lab_log "relay down 3 s: $at_stop -> $(got_mib) MiB on the direct path"
lab_start relay
touch "$LAB/go"
wait "$GET" || lab_fail "the transfer failed across the relay restart"
[ "$(cat "$LAB/got2.sum")" = "67108864 $want_mid" ] ||
	lab_fail "sha256 or length differs across the relay restart: $(cat "$LAB/got2.sum")"
jq_ok agent ".sessions[0].fallbacks == $fallbacks" || lab_fail "a fallback during the relay restart"
wait_for 15 "catalog back" jq_ok agent '.catalog | length == 2'
out=$(lab_in_agent curl -sS --max-time 5 http://wiki.corp.internal/hello.txt) || lab_fail "curl after the relay restart"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"

lab_log "the restarted relay gives the direct session a way back: cut the direct path once more"
wait_for 15 "standby relayed path" grep -q "standby relayed path via" "$LAB/agent.log"
cut_direct
wait_for 9 "back on the new relay session" relayed
out=$(lab_in_agent curl -sS --max-time 5 http://wiki.corp.internal/hello.txt) || lab_fail "curl on the new relayed path"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
lift_direct
lab_log "ok"
