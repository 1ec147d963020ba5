#!/bin/sh
# Connector flows that end while writes to the target are still pending:
# (a) an upload to a target that sends its FIN, never reads, then resets:
#     the stream closes cleanly first, the flow drains (and is visible in
#     status), then the target's RST ends it;
# (b) an agent that resets the stream with application error 0 during an
#     upload (ctrlpoke): that is a reset, not a clean end;
# (c) SIGTERM while an upload is still draining to a target that never
#     reads: the connector exits 0 within 2 s.
# After (a) and (b) the connector is up, its flow count and its open
# descriptors are back to the baseline, and `flow end:` names the user.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
POKE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
TOOLS=$(cd "$(dirname "$0")/tools" && pwd)
lab_pki
lab_conf
# The connector's descriptors are counted: no port-mapping sockets
# (discovery opens and closes its own) in the count.
sed -i "s#^portmap = auto#portmap = off#" "$LAB/connector.ini"
grep -q "^portmap = off" "$LAB/connector.ini" || lab_fail "no portmap key to turn off"
lab_target
P=$LAB/pki
lab_httpd "hello from wiki"
# Port 9 resets 3 s after the accept; port 443 never does in this test.
lab_bg "$(lab_ns target)" sink9 python3 -u "$TOOLS/halfsink.py" 10.77.1.2 9 3
lab_bg "$(lab_ns target)" sink443 python3 -u "$TOOLS/halfsink.py" 10.77.1.2 443 600
lab_up 2
addr=$(lab_in_agent dig +short +time=2 +tries=1 wiki.corp.internal)
CPID=$(lab_pid connector)

nflows() { lab_status connector | jq '[.agents[].flows[]] | length'; }
nfds() { ls "/proc/$CPID/fd" | wc -l; }
alive() { [ -d "/proc/$CPID" ] && [ "$(awk '{print $3}' "/proc/$CPID/stat")" != Z ]; }
at_baseline() { [ "$(nflows)" = 0 ] && [ "$(nfds)" = "$FDS" ]; }

# The agent's session exists after one flow: the baseline is taken then.
lab_in_agent curl -sf --max-time 10 -o /dev/null http://wiki.corp.internal/hello.txt ||
	lab_fail "warm-up request"
wait_for 10 "warm-up flow gone" jq_ok connector '[.agents[].flows[]] | length == 0'
sleep 0.5
FDS=$(nfds)
lab_log "baseline: 0 flows, $FDS descriptors"

lab_log "(a) upload to a target that half-closed, never reads, then resets"
lab_in_agent python3 - "$addr" >"$LAB/upload.out" 2>&1 <<'PY' &
import socket, sys
s = socket.create_connection((sys.argv[1], 9), timeout=10)
assert s.recv(10) == b""          # the target's FIN came through
s.sendall(b"u" * 900000)          # fits the stream window, not the target
s.shutdown(socket.SHUT_WR)
try:
    s.recv(10)
except OSError:
    pass
print("upload done")
PY
upid=$!
# Checked after the liveness test below, so a crash is what gets reported.
seen=0 n=25
while [ $n -gt 0 ]; do
	if jq_ok connector '[.agents[].flows[] | select(.state == "draining")] | length == 1'; then
		seen=1
		break
	fi
	sleep 0.1
	n=$((n - 1))
done
wait_for 10 "the target's reset" grep -q "halfsink 9: reset 1" "$LAB/sink9.log"
wait $upid || lab_fail "upload client: $(cat "$LAB/upload.out")"
sleep 0.5
alive || lab_fail "the connector died when the target reset a draining flow"
[ $seen = 1 ] || lab_fail "the draining flow was not in the connector's status"
wait_for 5 "flows and descriptors back to the baseline (now $(nflows) flows, $(nfds) fds)" at_baseline
grep -q "flow end: alice tcp wiki -> 10.77.1.2:9: up 900000 B, down 0 B, .*(" \
	"$LAB/connector.log" || lab_fail "no 'flow end: alice' line for the upload"
lab_log "$(grep 'flow end: .*10.77.1.2:9' "$LAB/connector.log" | tail -n 1 | sed 's/.*flow end/flow end/')"

lab_log "(b) the agent resets an upload with application error 0"
cport=$(lab_status agent | jq -r '.catalog[0].addresses[0]')
ip netns exec "$(lab_ns agent)" "$POKE" -a "$P/ca.crt" -c "$P/agent.crt" -k "$P/agent.key" \
	-r "$cport" -R -m upreset0 -s wiki -p 9 -n 2000000 -t 6 >"$LAB/poke.out" 2>&1 &
ppid=$!
wait_for 10 "ctrlpoke's reset" grep -q "stream reset with code 0" "$LAB/poke.out"
wait_for 2 "the reset flow gone, descriptors back (now $(nflows) flows, $(nfds) fds)" at_baseline
grep -q "flow end: alice tcp wiki -> 10.77.1.2:9: .*(reset by agent)" "$LAB/connector.log" ||
	lab_fail "the code-0 reset was not logged as a reset by alice"
wait_for 10 "the target's second reset" grep -q "halfsink 9: reset 2" "$LAB/sink9.log"
sleep 0.5
alive || lab_fail "the connector died after the code-0 reset"
at_baseline || lab_fail "flows or descriptors above the baseline after the target's reset"
wait $ppid || lab_fail "ctrlpoke: $(cat "$LAB/poke.out")"

lab_log "(c) SIGTERM while an upload drains to a target that never reads"
lab_in_agent python3 - "$addr" >"$LAB/upload2.out" 2>&1 <<'PY' &
import socket, sys
s = socket.create_connection((sys.argv[1], 443), timeout=10)
assert s.recv(10) == b""
s.sendall(b"u" * 900000)
s.shutdown(socket.SHUT_WR)
try:
    s.recv(10)
except OSError:
    pass
PY
upid=$!
wait_for 3 "the draining flow to port 443" \
	jq_ok connector '[.agents[].flows[] | select(.state == "draining")] | length == 1'
kill -TERM "$CPID"
n=20
while alive && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
alive && lab_fail "the connector still runs 2 s after SIGTERM"
st=0
wait "$CPID" || st=$?
LAB_PIDS=$(echo "$LAB_PIDS" | tr ' ' '\n' | grep -vx "$CPID" | tr '\n' ' ')
[ $st -eq 0 ] || lab_fail "connector exited with status $st after SIGTERM"
grep -q "flow end: alice tcp wiki -> 10.77.1.2:443: " "$LAB/connector.log" || lab_fail "the draining flow was not ended at shutdown"
wait $upid 2>/dev/null || true
lab_stop agent TERM
lab_stop relay TERM
lab_log "PASS"
