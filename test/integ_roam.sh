#!/bin/sh
# Roaming and NAT rebinding, each during a large transfer (1 GiB; 128 MiB
# with ZT_TEST_LIGHT=1) that must end with the file's sha256:
#  (a) a direct session (endpoint-independent NATs): the agent's address
#      moves to another subnet of its router (new address, default route
#      moved, the old address removed);
#  (b) the same session: the agent's router, then the connector's, forget
#      every NAT mapping (conntrack -F);
#  (d) the same session: the connector moves to another subnet of its
#      router (the agent drops packets from a connector address it does
#      not know: the session falls back to the relay, then goes direct to
#      the connector's new mapping);
#  (c) a relayed session (both routers switched to endpoint-dependent
#      mapping, their mappings flushed, so the direct path dies and
#      punching cannot make another): the agent's address moves again.
# Each recovery is printed: from the change until bytes flow again (the
# pause the download saw around it) and, for the direct session, until it
# is back on a direct path. (d) runs before (c), which leaves the NATs
# endpoint-dependent.
set -eu
. "$(dirname "$0")/lib/lab.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
lab_nat_init "$1" eim eim
lab_pki
lab_conf
lab_target
MIB=1024
[ "${ZT_TEST_LIGHT:-0}" = 1 ] && MIB=128
mkdir -p "$LAB/www"
head -c $((MIB * 1048576)) /dev/urandom >"$LAB/www/big.bin"
echo "hello from wiki" >"$LAB/www/hello.txt"
lab_bg "$(lab_ns target)" http python3 "$HERE/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/hello.txt
want=$(sha256sum <"$LAB/www/big.bin" | cut -d' ' -f1)
NA=$(lab_ns nata) NC=$(lab_ns natc) AG=$(lab_ns agent)

lab_start relay
lab_start connector
lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'

direct() { jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and (.relayed | not))] | length == 1'; }
relayed() { jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and .relayed)] | length == 1'; }
now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# fetch_start NAME: the download in the background ($LAB/NAME.log).
fetch_start() {
	rm -f "$LAB/$1.progress"
	lab_bg "$AG" "$1" python3 "$HERE/tools/fetch.py" http://wiki.corp.internal/big.bin "$LAB/$1.progress"
	FETCH=$!
}
fetched() { cat "$LAB/$1.progress" 2>/dev/null || echo 0; }
# wait_bytes NAME MIB: until the download has that much.
wait_bytes() {
	n=600
	while [ "$(fetched "$1")" -lt $(($2 * 1048576)) ]; do
		kill -0 "$FETCH" 2>/dev/null || lab_fail "$1 ended early: $(cat "$LAB/$1.log")"
		n=$((n - 1))
		[ $n -gt 0 ] || lab_fail "$1: not $2 MiB in 60 s"
		sleep 0.1
	done
}
# fetch_end NAME: waits for the download; checks its sha256.
fetch_end() {
	wait "$FETCH" || lab_fail "$1 failed: $(cat "$LAB/$1.log")"
	LAB_PIDS=$(echo "$LAB_PIDS" | tr ' ' '\n' | grep -vx "$FETCH" | tr '\n' ' ')
	got=$(sed -n 's/^bytes=[0-9]* sha256=//p' "$LAB/$1.log")
	[ "$got" = "$want" ] || lab_fail "$1: sha256 $got, want $want"
	lab_log "$1: $(grep '^bytes=' "$LAB/$1.log" | cut -d' ' -f1), sha256 intact"
}
# stall NAME T0: how long after T0 bytes flowed again: the end of the
# first pause (> 250 ms) that covers T0 or starts within 2 s after it.
stall() {
	awk -v t0="$2" '$1 == "gap" && $3 > t0 && $2 < t0 + 2000000000 {
		printf "a pause of %d ms, from %+d ms to %+d ms after the change: bytes flowing again %d ms after it\n",
			($3 - $2) / 1e6, ($2 - t0) / 1e6, ($3 - t0) / 1e6, ($3 - t0) / 1e6; found = 1; exit }
		END { if (!found) print "no pause over 250 ms after the change" }' "$LAB/$1.log"
}
# move NS FROM TO: the address 192.168.FROM.2 in NS becomes 192.168.TO.2
# (the router has both subnets on its LAN side).
move() {
	ip -n "$1" addr add "192.168.$3.2/24" dev eth0
	ip -n "$1" route replace default via "192.168.$3.1"
	ip -n "$1" addr del "192.168.$2.2/24" dev eth0
}
move_agent() { move "$AG" "$1" "$2"; }

out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
wait_for 5 "direct path" direct
lab_status agent | jq -c '.sessions[] | {connector, path, why}'
ip -n "$NA" addr add 192.168.21.1/24 dev lan
ip -n "$NA" addr add 192.168.22.1/24 dev lan
ip -n "$NC" addr add 192.168.11.1/24 dev lan

lab_log "(a) $MIB MiB on the direct path; the agent moves from 192.168.20.2 to 192.168.21.2"
fetch_start fa
wait_bytes fa $((MIB / 8))
before=$(lab_status connector | jq -r '.agents[0].path')
seen=$(lab_status agent | jq -r '.relays[0].observed_address')
t0=$(now_ns)
move_agent 20 21
# Direct again: the agent's session on a direct path, and the connector
# sending to the agent's new address.
n=300
while ! { direct && jq_ok connector ".agents[0].path | startswith(\"direct \") and . != \"$before\""; }; do
	n=$((n - 1))
	[ $n -gt 0 ] || lab_fail "(a) no direct path to the new address in 30 s: $(lab_status agent | jq -c '.sessions[] | {path, why, upgrades, fallbacks}')"
	sleep 0.1
done
took=$(ms_since "$t0")
lab_log "(a) direct again $took ms after the change (connector: $before -> $(lab_status connector | jq -r '.agents[0].path'))"
# The netlink watch, not the 2 s candidate poll, found the change.
grep -q "network changed (.*route.*): pinged 1 relay link(s) and 1 session(s)" "$LAB/agent.log" ||
	lab_fail "(a) the agent did not notice the network change"
[ "$took" -lt 2500 ] || lab_fail "(a) $took ms to a direct path at the new address"
# The relay saw the new address and said so.
now_seen=$(lab_status agent | jq -r '.relays[0].observed_address')
[ "$now_seen" != "$seen" ] || lab_fail "(a) the relay still observes $seen"
lab_log "(a) the relay observes $now_seen (was $seen)"
fetch_end fa
lab_log "(a) $(stall fa "$t0")"
lab_status agent | jq -c '.sessions[] | {path, why, upgrades, fallbacks}'
grep "network changed\|our candidates changed\|direct via\|back to" "$LAB/agent.log" | tail -n 6

lab_log "(b) $MIB MiB on the direct path; conntrack -F in the agent's router, then in the connector's"
fetch_start fb
wait_bytes fb $((MIB / 8))
t1=$(now_ns)
ip netns exec "$NA" conntrack -F 2>/dev/null
wait_bytes fb $((MIB / 2))
t2=$(now_ns)
ip netns exec "$NC" conntrack -F 2>/dev/null
fetch_end fb
lab_log "(b) agent's router: $(stall fb "$t1")"
lab_log "(b) connector's router: $(stall fb "$t2")"
direct || lab_fail "(b) the session left the direct path: $(lab_status agent | jq -c '.sessions[] | {path, why}')"

lab_log "(d) $MIB MiB on the direct path; the connector moves from 192.168.10.2 to 192.168.11.2"
path=$(lab_status agent | jq -r '.sessions[0].path')
fetch_start fd
wait_bytes fd $((MIB / 8))
t0=$(now_ns)
move "$(lab_ns conn)" 10 11
# The agent drops what comes from an address it does not know: the direct
# path goes silent, the session falls back to the relay, and punching
# finds the connector's new mapping.
n=300
while ! jq_ok agent ".sessions[0] | (.relayed | not) and .path != \"$path\""; do
	n=$((n - 1))
	[ $n -gt 0 ] || lab_fail "(d) not direct to the connector's new address in 30 s: $(lab_status agent | jq -c '.sessions[] | {path, why, upgrades, fallbacks}')"
	sleep 0.1
done
lab_log "(d) direct again $(ms_since "$t0") ms after the change ($path -> $(lab_status agent | jq -r '.sessions[0].path'))"
grep -q "network changed (.*route.*): pinged 1 relay link(s)" "$LAB/connector.log" ||
	lab_fail "(d) the connector did not notice the network change"
fetch_end fd
lab_log "(d) $(stall fd "$t0")"
lab_status agent | jq -c '.sessions[] | {path, why, upgrades, fallbacks}'

lab_log "(c) both routers switch to endpoint-dependent mapping and forget their mappings: relayed"
for rt in "$NA" "$NC"; do
	ip netns exec "$rt" nft flush chain ip nat nat_out
	ip netns exec "$rt" nft add rule ip nat nat_out oifname wan masquerade random
	ip netns exec "$rt" conntrack -F 2>/dev/null
done
t0=$(now_ns)
wait_for 15 "(c) on the relay" relayed
lab_log "(c) relayed after $(ms_since "$t0") ms"
lab_log "(c) $MIB MiB on the relayed path; the agent moves from 192.168.21.2 to 192.168.22.2"
fetch_start fc
wait_bytes fc $((MIB / 8))
t0=$(now_ns)
move_agent 21 22
fetch_end fc
lab_log "(c) $(stall fc "$t0")"
relayed || lab_fail "(c) the session is not relayed: $(lab_status agent | jq -c '.sessions[] | {path, why}')"
lab_status agent | jq -c '.sessions[] | {path, why, upgrades, fallbacks}'
lab_log "ok"
