#!/bin/sh
# Port mapping through a real gateway: the connector's home router runs
# miniupnpd (nftables backend, on its LAN side) and masquerades with a new
# port per destination (endpoint-dependent mapping), as does the agent's
# router (no miniupnpd there). Two relays tell both sides their NAT kind.
# With [nat] portmap = off the session stays relayed (punching skipped,
# both sides endpoint-dependent). With auto the connector maps its UDP
# port over PCP, offers the mapped address as a candidate, and the
# agent's session goes direct to the router's public address and the
# mapped port; the mapping is removed when the connector stops. Then with
# PCP requests dropped at the router the same over NAT-PMP, and with
# PCP and NAT-PMP off in miniupnpd over UPnP-IGD. Last, a connector that
# found no gateway gets its mapping on a later try during a relayed session:
# its next candidates carry it and the session goes direct. No bulk
# transfer: nothing to shrink for ZT_TEST_LIGHT.
set -eu
. "$(dirname "$0")/lib/lab.sh"
PUB=198.20.0.2 # the connector's router, as miniupnpd announces it
lab_nat_init "$1" edm edm
lab_pki
lab_conf
lab_target
lab_httpd "hello from wiki"
sed -e "s#^listen = .*#listen = 0.0.0.0:4434#" \
	-e "s#^control_socket = .*#control_socket = $LAB/run/relay2.sock#" \
	"$LAB/relay.ini" >"$LAB/relay2.ini"
for r in connector agent; do
	sed -i "s#^relay = 10.77.0.1:4433#relay = 10.77.0.1:4433\nrelay = 10.77.0.1:4434#" "$LAB/$r.ini"
done
# A fixed port for the connector: the mapping asks for the same one.
sed -i "s#^listen = 0.0.0.0:0#listen = 0.0.0.0:5555#" "$LAB/connector.ini"
cp "$LAB/connector.ini" "$LAB/connector-auto.ini"
sed -i "s#^portmap = auto#portmap = off#" "$LAB/connector.ini"
grep -q "^portmap = off" "$LAB/connector.ini" || lab_fail "conf/connector.ini has no portmap = auto"
lab_miniupnpd natc 192.168.10 $PUB yes

direct() { jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and (.relayed | not))] | length == 1'; }
session() { lab_status agent | jq -c '.sessions[] | select(.connector == "conn1") | {state, path, why, nat, upgrades}'; }
fetch() {
	out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
	[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
}
# up_with PROTO: the connector (auto) maps over PROTO, the session goes
# direct through the mapping, and the mapping goes when the connector does.
up_with() {
	lab_start connector "$LAB/connector-auto.ini"
	wait_for 15 "connector: mapped over $1" jq_ok connector \
		".portmap.state == \"mapped\" and .portmap.protocol == \"$1\" and .portmap.external == \"$PUB:5555\""
	lab_status connector | jq -c .portmap
	"$BIN" status --socket "$LAB/run/connector.sock" | grep "^port mapping: mapped $PUB:5555 via $1, lease 3[0-9]* s" ||
		lab_fail "text status: $("$BIN" status --socket "$LAB/run/connector.sock" | grep "port mapping")"
	lab_upnp_rules natc | grep -q "dnat ip to 192.168.10.2:5555" ||
		lab_fail "miniupnpd holds no forward: $(lab_upnp_rules natc)"
	wait_for 10 "connector registered" jq_ok agent '[.catalog[] | select(.connector == "conn1")] | length >= 1'
	t0=$(date +%s%N)
	fetch
	wait_for 10 "direct through the mapping ($1)" direct
	lab_log "$1: direct $(( ($(date +%s%N) - t0) / 1000000 )) ms after the first request: $(session)"
	jq_ok agent ".sessions[] | select(.connector == \"conn1\") | .path == \"direct $PUB:5555\"" ||
		lab_fail "the session is not direct to the mapped port: $(session)"
	jq_ok agent '.sessions[] | select(.connector == "conn1") | .nat.ours == "endpoint-dependent" and .nat.connector == "endpoint-independent"' ||
		lab_fail "NAT kinds: $(session)"
	fetch
	lab_status connector >"$LAB/connector-$1.json"
	lab_stop connector
	n=$(lab_upnp_rules natc | wc -l)
	[ "$n" -eq 0 ] || lab_fail "the mapping outlived the connector: $(lab_upnp_rules natc)"
	grep -q "port mapping: removing $PUB:5555 ($1)" "$LAB/connector.log" ||
		lab_fail "no removal in the connector's log"
}

lab_start relay
lab_start relay "$LAB/relay2.ini" relay2
lab_start connector
lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'
wait_for 10 "both relays observe the connector" jq_ok connector '[.relays[] | select(.state == "up")] | length == 2'

lab_log "portmap = off: relayed, punching skipped"
jq_ok connector '.portmap.state == "off"' || lab_fail "connector: $(lab_status connector | jq -c .portmap)"
fetch
wait_for 5 "both NATs known" jq_ok agent '.sessions[] | select(.connector == "conn1") | .why == "relayed: punching skipped, both sides endpoint-dependent NAT"'
session
sleep 3
jq_ok agent '[.sessions[] | select(.connector == "conn1" and .relayed and .upgrades == 0)] | length == 1' ||
	lab_fail "the session left the relay: $(session)"
[ -z "$(lab_upnp_rules natc)" ] || lab_fail "a mapping with portmap = off"
# The agent has no gateway that maps (its router runs no miniupnpd).
lab_status agent | jq -c .portmap
jq_ok agent '.portmap.state == "discovering" or .portmap.state == "failed"' ||
	lab_fail "agent: $(lab_status agent | jq -c .portmap)"
lab_stop connector

lab_log "portmap = auto, PCP (miniupnpd serves PCP and NAT-PMP on 5351)"
up_with pcp

# PCP requests (version 2, the first byte after the UDP header) dropped at
# the router: PCP times out (4 s) and NAT-PMP maps.
lab_log "portmap = auto, PCP dropped: NAT-PMP"
ip netns exec "$(lab_ns natc)" nft -f - <<NFT || lab_fail "nft pcpdrop"
table inet pcpdrop {
	chain input { type filter hook input priority filter - 5; policy accept;
		udp dport 5351 @th,64,8 2 counter drop; }
}
NFT
up_with natpmp
ip netns exec "$(lab_ns natc)" nft list table inet pcpdrop | grep -q "counter packets [1-9]" ||
	lab_fail "no PCP request was dropped: $(ip netns exec "$(lab_ns natc)" nft list table inet pcpdrop)"
ip netns exec "$(lab_ns natc)" nft delete table inet pcpdrop

lab_log "portmap = auto, miniupnpd without NAT-PMP: UPnP-IGD"
kill -TERM "$MINIUPNPD_PID"
wait "$MINIUPNPD_PID" 2>/dev/null || true
lab_miniupnpd natc 192.168.10 $PUB no
up_with upnp
jq -c .portmap "$LAB/connector-upnp.json"

lab_log "a mapping that comes during a relayed session goes out with the next candidates"
kill -TERM "$MINIUPNPD_PID"
wait "$MINIUPNPD_PID" 2>/dev/null || true
lab_start connector "$LAB/connector-auto.ini"
wait_for 10 "connector: no gateway to map" jq_ok connector '.portmap.state == "failed"'
lab_status connector | jq -c .portmap
wait_for 10 "connector registered" jq_ok agent '[.catalog[] | select(.connector == "conn1")] | length >= 1'
fetch
wait_for 5 "relayed, punching skipped" jq_ok agent '.sessions[] | select(.connector == "conn1" and .state == "up") | .why == "relayed: punching skipped, both sides endpoint-dependent NAT"'
lab_miniupnpd natc 192.168.10 $PUB yes
wait_for 20 "connector: mapped after the retry" jq_ok connector '.portmap.state == "mapped" and .portmap.protocol == "pcp"'
t0=$(date +%s%N)
wait_for 5 "the same session direct through the new mapping" direct
lab_log "direct $(( ($(date +%s%N) - t0) / 1000000 )) ms after the mapping was seen: $(session)"
jq_ok agent ".sessions[] | select(.connector == \"conn1\") | .path == \"direct $PUB:5555\"" ||
	lab_fail "not direct to the mapped port: $(session)"
grep -q "our candidates changed: .*$PUB:5555.*port mapping" "$LAB/connector.log" ||
	lab_fail "the connector did not announce the mapping"
fetch
lab_log "ok"
