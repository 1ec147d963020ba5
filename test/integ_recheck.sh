#!/bin/sh
# Live flows are checked again when the policy changes:
# (a) connector SIGHUP that drops port 9 from the service: the live flow to
#     port 9 is reset and logged ("no longer allowed"), the one to 443
#     stays; then an allow list without alice: the 443 flow goes too;
# (b) agent: a relay (fakerelay) sends a catalog without the port-9 entry:
#     the agent resets its live flow to port 9 itself and logs it, the 443
#     flow stays.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
FAKE=$(cd "$(dirname "$2")" && pwd)/fakerelay
lab_pki
lab_conf
lab_target
P=$LAB/pki
# Ports 9 and 443: accept and keep every connection open, silently.
lab_bg "$(lab_ns target)" sink python3 -c '
import socket, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.77.1.2", port))
    s.listen(16)
    held = []
    while True:
        held.append(s.accept()[0])
threading.Thread(target=serve, args=(9,), daemon=True).start()
serve(443)
'
lab_up 2
addr=$(lab_in_agent dig +short +time=2 +tries=1 wiki.corp.internal)

# client NAME PORT: a connection that waits for the far end; its log says
# how it ended.
client() {
	lab_bg "$(lab_ns agent)" "$1" python3 -u -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
print("connected")
try:
    print("eof" if s.recv(10) == b"" else "data")
except OSError as e:
    print("reset", e)
' "$addr" "$2"
}
open_flows() { jq_ok connector "[.agents[].flows[] | select(.state == \"open\")] | length == $1"; }
has_flow() { jq_ok connector "[.agents[].flows[] | select(.target == \"10.77.1.2:$1\")] | length == 1"; }

lab_log "(a) connector reload: port 9 leaves the service"
client c9 9
client c443 443
wait_for 10 "two open flows" open_flows 2
cp "$LAB/connector.ini" "$LAB/connector.orig"
sed -i 's/^ports = 80, 443, 9$/ports = 80, 443/' "$LAB/connector.ini"
kill -HUP "$(lab_pid connector)"
wait_for 5 "the port-9 flow reset" \
	grep -q "flow end: alice tcp wiki -> 10.77.1.2:9: .*(no longer allowed)" "$LAB/connector.log"
grep -q "flow of alice to wiki no longer allowed after reload: protocol or port not served" \
	"$LAB/connector.log" || lab_fail "no reason logged"
wait_for 5 "the application saw the reset" grep -q "^reset" "$LAB/c9.log"
# The agent checks its own flows when the relay's new catalog arrives.
catalogs() { [ "$(grep -c "catalog with 2 service(s)" "$LAB/agent.log")" -ge "$1" ]; }
wait_for 5 "the agent's catalog without port 9" catalogs 2
has_flow 443 || lab_fail "the port-443 flow was ended too"
[ "$(cat "$LAB/c443.log")" = connected ] || lab_fail "the 443 client: $(cat "$LAB/c443.log")"

lab_log "(a) connector reload: alice leaves the allow list"
sed -i '/^\[service wiki\]/,/^\[/ s/^allow = .*/allow = user:bob/' "$LAB/connector.ini"
kill -HUP "$(lab_pid connector)"
wait_for 5 "the port-443 flow reset" \
	grep -q "flow end: alice tcp wiki -> 10.77.1.2:443: .*(no longer allowed)" "$LAB/connector.log"
grep -q "flow of alice to wiki no longer allowed after reload: identity not in the allow list" \
	"$LAB/connector.log" || lab_fail "no reason logged"
wait_for 5 "the application saw the reset" grep -q "^reset" "$LAB/c443.log"
wait_for 5 "no flows left" jq_ok connector '[.agents[].flows[]] | length == 0'

lab_log "(b) agent: a catalog without the port-9 entry"
lab_stop agent TERM
lab_stop connector TERM
lab_stop relay TERM
sed 's/^listen = 0.0.0.0:0$/listen = 0.0.0.0:4434/' "$LAB/connector.orig" >"$LAB/connector.ini"
E443=wiki,wiki.corp.internal,443,conn1,10.77.0.2:4434
lab_bg "$(lab_ns relay)" fakerelay "$FAKE" -a "$P/ca.crt" -c "$P/relay.crt" -k "$P/relay.key" \
	-l 10.77.0.1:4433 -e wiki,wiki.corp.internal,9+443,conn1,10.77.0.2:4434 -E "$E443"
FPID=$!
wait_for 5 "fake relay" grep -q "listening" "$LAB/fakerelay.log"
# New log names: the greps below must not see phase (a).
lab_start connector "$LAB/connector.ini" connector2
lab_start agent "$LAB/agent.ini" agent2
wait_for 15 "agent catalog" grep -q "catalog with 1 service(s)" "$LAB/agent2.log"
addr=$(lab_in_agent dig +short +time=2 +tries=1 wiki.corp.internal)
client d9 9
client d443 443
wait_for 10 "two open flows" open_flows 2
kill -HUP "$FPID"
catalogs() { [ "$(grep -c "catalog with 1 service(s)" "$LAB/agent2.log")" -ge 2 ]; }
wait_for 5 "the agent's new catalog" catalogs
wait_for 5 "the agent reset the port-9 flow" \
	grep -q "flow end: tcp 100.64.0.1:[0-9]* -> $addr:9 (wiki): .*: no longer allowed" "$LAB/agent2.log"
grep -q "flow to wiki (conn1) no longer allowed: port or protocol no longer in the service" \
	"$LAB/agent2.log" || lab_fail "no reason in the agent's log"
wait_for 5 "the application saw the reset" grep -q "^reset" "$LAB/d9.log"
wait_for 5 "the connector saw the reset" \
	grep -q "flow end: alice tcp wiki -> 10.77.1.2:9: .*(reset by agent)" "$LAB/connector2.log"
has_flow 443 || lab_fail "the port-443 flow was ended too"
[ "$(cat "$LAB/d443.log")" = connected ] || lab_fail "the 443 client: $(cat "$LAB/d443.log")"

lab_stop agent2 TERM
lab_stop connector2 TERM
lab_log "PASS"
