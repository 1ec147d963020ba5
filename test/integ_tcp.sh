#!/bin/sh
# The data plane with real processes: an application in the agent's
# namespace reaches an HTTP server behind the connector by name through the
# agent's TUN and DNS stub; denied destinations get a RST at once; 1 GiB
# arrives intact; 200 concurrent flows; the connector re-checks identities;
# malformed packets are dropped while a transfer completes; the connector
# restarts.
#
# ZT_TEST_LIGHT=1 (make test-asan): 256 MiB instead of 1 GiB.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
POKE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
lab_pki
lab_conf
lab_target
P=$LAB/pki
"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role agent --name bob \
	--group sales --out "$P/bob" >/dev/null

lab_httpd "hello from wiki"
BIG_MIB=1024
[ "${ZT_TEST_LIGHT:-}" = 1 ] && BIG_MIB=256
BIG=$((BIG_MIB * 1048576))
head -c $BIG /dev/urandom >"$LAB/www/big.bin"
head -c 50000000 /dev/urandom >"$LAB/www/mid.bin"

lab_up 2

lab_log "curl by hostname through the tunnel"
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
addr=$(lab_in_agent dig +short +time=2 +tries=1 wiki.corp.internal)
case $addr in 100.6[4-9].* | 100.[7-9]?.* | 100.1[01]?.* | 100.12[0-7].*) ;; *) lab_fail "DNS answer '$addr'" ;; esac
lab_log "wiki.corp.internal = $addr"
rc=$(lab_in_agent dig +time=2 +tries=1 example.org | grep -c "status: REFUSED" || true)
[ "$rc" = 1 ] || lab_fail "a name outside the catalog was not refused"

lab_log "a port outside the service: RST at once, logged"
t0=$(date +%s%N)
if lab_in_agent curl -s --max-time 5 -o /dev/null http://wiki.corp.internal:8080/; then
	lab_fail "port 8080 was reachable"
fi
ms=$((($(date +%s%N) - t0) / 1000000))
lab_log "refused after $ms ms (curl start-up included)"
[ $ms -lt 500 ] || lab_fail "refusal took $ms ms: no RST?"
grep -q "deny tcp 100.64.0.1:[0-9]* -> $addr:8080: port or protocol not in the service" \
	"$LAB/agent.log" || lab_fail "no deny log line"
if lab_in_agent curl -s --max-time 5 -o /dev/null http://100.64.200.1/; then
	lab_fail "an unassigned synthetic address was reachable"
fi
grep -q "deny tcp .* -> 100.64.200.1:80: no service" "$LAB/agent.log" || lab_fail "no 'no service' log"

lab_log "a published port with nothing listening behind the connector looks closed"
t0=$(date +%s%N)
rc=0
lab_in_agent curl -s --max-time 5 -o /dev/null http://wiki.corp.internal:443/ || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 7 ] || lab_fail "curl to a closed port: exit $rc, expected 7 (connection refused)"
lab_log "refused by the target after $ms ms"
grep -q "deny tcp -> $addr:443 (wiki): connector: refused" "$LAB/agent.log" || lab_fail "no refusal log"

lab_log "$BIG_MIB MiB through the tunnel, same sha256"
lab_in_agent curl -sS --max-time 120 -o "$LAB/got.bin" -w "%{speed_download}\n" \
	http://wiki.corp.internal/big.bin >"$LAB/speed" || lab_fail "$BIG_MIB MiB transfer"
want=$(sha256sum <"$LAB/www/big.bin" | cut -d' ' -f1)
got=$(sha256sum <"$LAB/got.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || lab_fail "sha256 differs"
lab_log "$BIG_MIB MiB ok at $(awk '{printf "%.0f Mbit/s", $1 * 8 / 1e6}' "$LAB/speed")"
jq_ok agent ".sessions[0].bytes_received > $BIG" || lab_fail "session byte count"
jq_ok connector ".agents[0].bytes_sent > $BIG" || lab_fail "connector session byte count"
rm -f "$LAB/got.bin"

lab_log "200 concurrent flows"
mkdir -p "$LAB/c"
seq 200 | lab_in_agent xargs -P 200 -I{} curl -sS --max-time 30 -o "$LAB/c/{}" \
	http://wiki.corp.internal/hello.txt || lab_fail "a concurrent flow failed"
n=$(cat "$LAB"/c/* | grep -c "^hello from wiki$")
[ "$n" = 200 ] || lab_fail "only $n of 200 flows returned the page"
wait_for 10 "flows closed" jq_ok agent '.flows | length == 0'
wait_for 10 "connector flows closed" jq_ok connector '[.agents[].flows[]] | length == 0'

lab_log "zero trust: bob (not in group engineering) talks to the connector directly"
cport=$(lab_status agent | jq -r '.catalog[0].addresses[0]')
ip netns exec "$(lab_ns agent)" "$POKE" -a "$P/ca.crt" -c "$P/bob.crt" -k "$P/bob.key" \
	-r "$cport" -R -m flow -s wiki -e 1 || lab_fail "connector did not deny bob"
grep -q "flow refused: bob wiki -> denied" "$LAB/connector.log" || lab_fail "no refusal log"
ip netns exec "$(lab_ns agent)" "$POKE" -a "$P/ca.crt" -c "$P/agent.crt" -k "$P/agent.key" \
	-r "$cport" -R -m flow -s db -e 1 || lab_fail "connector did not deny alice for db"

lab_log "malformed packets into the TUN during a transfer"
lab_in_agent curl -sS --max-time 60 -o "$LAB/mid.got" http://wiki.corp.internal/mid.bin &
cpid=$!
lab_in_agent python3 "$(dirname "$0")/tools/badpkts.py" "$addr" 200 >"$LAB/bad.sent"
wait $cpid || lab_fail "transfer during malformed packets"
cmp -s "$LAB/mid.got" "$LAB/www/mid.bin" || lab_fail "transfer corrupted"
drops=$(lab_status agent | jq '.packets_dropped')
sent=$(cat "$LAB/bad.sent")
lab_log "sent $sent malformed packets, agent counted $drops drops"
[ "$drops" -ge $((sent * 9 / 10)) ] || lab_fail "only $drops of $sent malformed packets counted"

lab_log "a target that closes while we write (EPIPE) ends that flow only"
lab_bg "$(lab_ns target)" closer python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.1.2", 9))
s.listen(16)
while True:
    c, _ = s.accept()
    # EOF first (the connector stops reading), then close with unread
    # data: a RST the connector only learns about from its next write.
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    import time
    time.sleep(0.2)
    c.close()
'
sleep 0.3
for i in 1 2 3; do
	lab_in_agent python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 9), timeout=5)
try:
    for _ in range(400):
        s.sendall(b"x" * 65536)
except OSError:
    pass
' "$addr" || true
done
kill -0 "$(lab_pid connector)" || lab_fail "the connector died writing to a closed socket"
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl after EPIPE"

lab_log "connector restarts: new flows work again within 5 s"
lab_stop connector TERM
lab_start connector
t0=$(date +%s)
wait_for 5 "flow after connector restart" lab_in_agent curl -sf --max-time 2 -o /dev/null \
	http://wiki.corp.internal/hello.txt
back=$(($(date +%s) - t0))
lab_log "back after $back s"
# wait_for counts tries, and each curl may take 2 s: check the clock too.
# An attempt stuck on the connector's old port would take 10 s or more.
[ $back -le 5 ] || lab_fail "flows came back only after $back s"
kill -0 "$(lab_pid agent)" || lab_fail "agent died"

lab_stop agent TERM
lab_stop connector TERM
lab_stop relay TERM
lab_log "PASS"
