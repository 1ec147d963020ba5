#!/bin/sh
# The relayed path: the connector and the agent each behind a home router
# (masquerade with a new port per destination, endpoint-dependent mapping,
# unsolicited inbound dropped), so no direct path exists and hole punching
# cannot make one: the session stays relayed. The
# agent's session to the connector runs through the relay, inside the
# relay links' DATAGRAMs: curl by hostname works at once, a 64 MiB transfer
# keeps its sha256, UDP works, the relay lists the session with its bytes
# and never sees the plaintext; when the relays go away the agent keeps the
# session (re-opening, integ_relayfail.sh) and the connector's relayed
# sessions end. Two relays (two ports of the relay's address) see each
# peer from two different ports: both sides tell an endpoint-dependent NAT
# and skip punching. A relay of control protocol 1 is served in version 1.
#
# ZT_TEST_LIGHT=1 (make test-asan): 16 MiB instead of 64 MiB.
set -eu
. "$(dirname "$0")/lib/lab.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
lab_nat_init "$1" edm edm
lab_pki
lab_conf
lab_target
mkdir -p "$LAB/www"
MARK=ztnad-plaintext-marker-7f3a9c
i=0
while [ $i -lt 2000 ]; do echo "$MARK line $i"; i=$((i + 1)); done >"$LAB/www/marked.txt"
BIG_MIB=64
[ "${ZT_TEST_LIGHT:-}" = 1 ] && BIG_MIB=16
head -c $((BIG_MIB * 1048576)) /dev/urandom >"$LAB/www/big.bin"
lab_bg "$(lab_ns target)" http python3 "$HERE/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
lab_bg "$(lab_ns target)" udp python3 "$HERE/tools/udpsrv.py" 10.77.1.2
wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/marked.txt

# A second relay on another port of the same address: another destination
# for the NATs, so another mapping.
sed -e "s#^listen = .*#listen = 0.0.0.0:4434#" \
	-e "s#^control_socket = .*#control_socket = $LAB/run/relay2.sock#" \
	"$LAB/relay.ini" >"$LAB/relay2.ini"
for r in connector agent; do
	sed -i "s#^relay = 10.77.0.1:4433#relay = 10.77.0.1:4433\nrelay = 10.77.0.1:4434#" "$LAB/$r.ini"
done
lab_start relay
lab_start relay "$LAB/relay2.ini" relay2
lab_start connector
lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'
wait_for 10 "both relays observe the agent" jq_ok agent '[.relays[] | select(.state == "up")] | length == 2'
wait_for 10 "both relays observe the connector" jq_ok connector '[.relays[] | select(.state == "up")] | length == 2'

lab_log "no direct path: the connector's router drops what the agent sends"
if ip netns exec "$(lab_ns agent)" python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.sendto(b"x", ("10.77.0.2", 4433))
try:
    s.recv(10)
    raise SystemExit(0)
except socket.timeout:
    raise SystemExit(1)
PY
then lab_fail "the connector's NAT answered"; fi

lab_log "sniffing the relay's bridge for the marker"
STOP=$LAB/sniff.stop
lab_bg "$(lab_ns relay)" sniff python3 "$HERE/tools/sniff.py" zbr0 "$MARK" 120 "$STOP"
sleep 0.5

lab_log "curl by hostname: through the relay"
t0=$(date +%s%N)
out=$(lab_in_agent curl -sS --max-time 15 http://wiki.corp.internal/marked.txt) || lab_fail "curl"
t1=$(date +%s%N)
echo "$out" | grep -q "$MARK line 1999" || lab_fail "curl got something else"
lab_log "first response after $(( (t1 - t0) / 1000000 )) ms"
jq_ok agent '[.sessions[] | select(.connector == "conn1" and .relayed)] | length == 1' ||
	lab_fail "the agent's session is not relayed: $(lab_status agent | jq -c .sessions)"
grep -q "relayed session .* from agent alice via relay" "$LAB/connector.log" ||
	lab_fail "no relayed session in the connector's log"

lab_log "$BIG_MIB MiB through the relay, same sha256"
lab_in_agent curl -sS --max-time 120 -o "$LAB/got.bin" -w "%{speed_download}\n" \
	http://wiki.corp.internal/big.bin >"$LAB/speed" || lab_fail "big transfer"
want=$(sha256sum <"$LAB/www/big.bin" | cut -d' ' -f1)
got=$(sha256sum <"$LAB/got.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || lab_fail "sha256 differs"
lab_log "relayed: $(awk '{printf "%.0f Mbit/s", $1 * 8 / 1e6}' "$LAB/speed")"

lab_log "UDP echo through the relay"
dns=$(lab_in_agent dig +short +time=2 +tries=1 dns.corp.internal)
got=$(lab_udp_echo "$dns" 100 500)
lab_log "echoed $got of 100"
[ "$got" -ge 98 ] || lab_fail "only $got of 100 UDP echoes"

lab_log "still relayed: punching cannot work through these NATs, and both sides know it"
jq_ok agent '[.sessions[] | select(.connector == "conn1" and .relayed and .upgrades == 0)] | length == 1' ||
	lab_fail "the session left the relay: $(lab_status agent | jq -c .sessions)"
lab_status agent | jq -c '.sessions[] | select(.connector == "conn1") | {path, why, nat, candidates}'
jq_ok agent '.sessions[] | select(.connector == "conn1") | .nat.ours == "endpoint-dependent" and .nat.connector == "endpoint-dependent" and .why == "relayed: punching skipped, both sides endpoint-dependent NAT"' ||
	lab_fail "the agent did not tell both NATs: $(lab_status agent | jq -c .sessions)"
jq_ok agent '[.sessions[] | select(.connector == "conn1") | .candidates[] | .probes] | add == 0' ||
	lab_fail "the agent probed anyway: $(lab_status agent | jq -c .sessions)"
grep -q "relayed session .*: punching skipped, both sides endpoint-dependent NAT" "$LAB/connector.log" ||
	lab_fail "the connector did not skip punching"
jq_ok connector '.relayed.list[0].punching == false and .relayed.list[0].nat.agent == "endpoint-dependent"' ||
	lab_fail "connector: $(lab_status connector | jq -c .relayed)"
jq_ok connector '.agents[0].path | startswith("relayed via relay1 #")' ||
	lab_fail "connector: $(lab_status connector | jq -c .agents)"

lab_log "the relay lists the session with its bytes"
jq_ok relay '.relayed.sessions == 1' || lab_fail "relay: $(lab_status relay | jq -c .relayed)"
jq_ok relay '.relayed.list[0].agent == "alice" and .relayed.list[0].connector == "conn1" and .relayed.list[0].c2a_bytes > '"$((BIG_MIB * 1048576))" ||
	lab_fail "relay session: $(lab_status relay | jq -c .relayed.list)"
lab_status relay | jq -c '.relayed | {sessions, opened, forwarded, drops}'

touch "$STOP"
wait_for 5 "sniffer result" grep -q frames= "$LAB/sniff.log"
lab_log "relay capture: $(cat "$LAB/sniff.log")"
frames=$(sed -n 's/.*frames=\([0-9]*\).*/\1/p' "$LAB/sniff.log")
[ "$frames" -gt 1000 ] || lab_fail "the sniffer saw too little ($frames frames)"
grep -q 'marker=0$' "$LAB/sniff.log" || lab_fail "plaintext seen on the relay"

lab_log "the relays stop: the agent keeps the session and asks for a relayed one again; the connector's relayed sessions end"
lab_stop relay2
lab_stop relay
wait_for 5 "agent: re-opening" jq_ok agent '.sessions[] | select(.connector == "conn1" and .state == "up" and .recovering and (.why | test("relay 10.77.0.1:4433 lost, re-opening")))'
wait_for 10 "connector: relayed sessions gone" jq_ok connector '.relayed.sessions == 0'

lab_log "a relay that speaks control protocol 1 only: served in version 1"
lab_bg "$(lab_ns relay)" fake "$(dirname "$2")/fakerelay" -a "$LAB/pki/ca.crt" \
	-c "$LAB/pki/relay.crt" -k "$LAB/pki/relay.key" -l 10.77.0.1:4433 -V 1 \
	-e wiki,wiki.corp.internal,80,conn1,10.77.0.2:4433
wait_for 30 "agent speaks version 1 to it" grep -q "speaks control protocol 1 only" "$LAB/agent.log"
wait_for 30 "catalog from the old relay" jq_ok agent '.catalog | length == 1'
grep -q "HELLO in version 2 refused" "$LAB/fake.log" || lab_fail "fakerelay did not see a version 2 HELLO"
lab_log "ok"
