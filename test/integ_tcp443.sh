#!/bin/sh
# UDP blocked: the agent's router drops every UDP packet (a hotel's guest
# Wi-Fi). The agent's link to the relay gets no answer over UDP, falls back
# to TLS over TCP port 443 within a few seconds, and everything runs on it:
# the catalog, curl by hostname (the session relayed inside the link over
# TCP). A transfer started over TCP keeps its sha256 when UDP is allowed
# again, and the link's QUIC connection migrates back to UDP within a
# minute (the sessions riding on it are not disturbed); a try while UDP
# is still blocked leaves the link on TCP. Then the relay's TCP limits:
# silent connections from one source (8 in handshake at most, the rest
# refused; closed after 5 s), one that does not speak TLS, and a burst
# over the per-source rate.
# ZT_TEST_LIGHT=1: smaller transfers (the ASan stage).
set -eu
. "$(dirname "$0")/lib/lab.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
lab_nat_init "$1" eim eim
lab_pki
lab_conf
lab_target
# The slow transfer lasts about 30 s: the link tries UDP 5 s after it
# came up over TCP (it fails), UDP is allowed then, and the next try 10 s
# later moves the link back while the transfer runs.
MIB=32 RATE=1M FAST=16
if [ "${ZT_TEST_LIGHT:-0}" = 1 ]; then MIB=8 RATE=256K FAST=4; fi
mkdir -p "$LAB/www"
head -c $((MIB * 1048576)) /dev/urandom >"$LAB/www/big.bin"
head -c $((FAST * 1048576)) /dev/urandom >"$LAB/www/fast.bin"
echo "hello from wiki" >"$LAB/www/hello.txt"
lab_bg "$(lab_ns target)" http python3 "$HERE/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/hello.txt

NA=$(lab_ns nata)
lab_log "the agent's router drops all UDP"
ip netns exec "$NA" nft -f - <<'NFT' || lab_fail "nft udp block"
table inet udpblock {
	chain pre { type filter hook prerouting priority -300; meta l4proto udp drop; }
}
NFT

lab_start relay
wait_for 10 "relay listens on TCP 443" grep -q "tcp: listening on 0.0.0.0:443" "$LAB/relay.log"
lab_start connector
lab_start agent
t0=$(date +%s%N)
wait_for 20 "agent link up over TCP" jq_ok agent '.relays[0].state == "up" and .relays[0].transport == "tcp"'
wait_for 10 "agent catalog" jq_ok agent '.catalog | length == 2'
lab_log "agent link up over TCP $(( ($(date +%s%N) - t0) / 1000000 )) ms after start (UDP gave up after $(lab_status agent | jq .relays[0].fallback_ms) ms)"
jq_ok connector '.relays[0].transport == "udp"' || lab_fail "the connector is not on UDP"
jq_ok relay '[.peers[] | select(.name == "alice" and .transport == "tcp")] | length == 1' ||
	lab_fail "relay: $(lab_status relay | jq -c .peers)"
jq_ok relay '.tcp.connections == 1 and .tcp.established == 1' || lab_fail "relay: $(lab_status relay | jq -c .tcp)"
"$BIN" status --socket "$LAB/run/agent.sock" | grep -A1 "^relays:"

lab_log "curl by hostname over TCP"
out=$(lab_in_agent curl -sS --max-time 15 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
jq_ok agent '[.sessions[] | select(.connector == "conn1" and .state == "up" and .relayed)] | length == 1' ||
	lab_fail "the session is not relayed: $(lab_status agent | jq -c .sessions)"

lab_log "$FAST MiB as fast as it goes over TCP"
lab_in_agent curl -sS --max-time 60 -o "$LAB/fast.got" -w "%{speed_download}\n" \
	http://wiki.corp.internal/fast.bin >"$LAB/speed" || lab_fail "fast transfer"
cmp -s "$LAB/www/fast.bin" "$LAB/fast.got" || lab_fail "fast transfer differs"
lab_log "over TCP: $(awk '{printf "%.1f Mbit/s", $1 * 8 / 1e6}' "$LAB/speed")"

lab_log "$MIB MiB at $RATE/s; UDP allowed again during it"
lab_in_agent curl -sS --max-time 120 --limit-rate "$RATE" -o "$LAB/got.bin" \
	http://wiki.corp.internal/big.bin &
CURL=$!
LAB_PIDS="$LAB_PIDS $CURL"
lab_log "the link tries UDP (5 s after it came up) and stays on TCP"
wait_for 15 "a UDP try that fails" grep -q "UDP still gets no answer, staying on TCP" "$LAB/agent.log"
jq_ok agent '.relays[0].state == "up" and .relays[0].transport == "tcp" and .relays[0].udp_tries == 1' ||
	lab_fail "the link left TCP while UDP was blocked: $(lab_status agent | jq -c .relays)"
kill -0 "$CURL" 2>/dev/null || lab_fail "the transfer ended too early"
ip netns exec "$NA" nft delete table inet udpblock
t0=$(date +%s%N)
wait_for 60 "agent link back on UDP" jq_ok agent '.relays[0].state == "up" and .relays[0].transport == "udp"'
lab_log "back on UDP $(( ($(date +%s%N) - t0) / 1000000 )) ms after UDP was allowed"
kill -0 "$CURL" 2>/dev/null || lab_fail "the transfer ended before the link moved: it spans nothing"
jq_ok agent '.relays[0].tcp_fallbacks == 1 and .relays[0].udp_returns == 1' ||
	lab_fail "the link reconnected instead of migrating: $(lab_status agent | jq -c .relays)"
grep -q "back on UDP after" "$LAB/agent.log" || lab_fail "no move back in the agent's log"
st=0
wait "$CURL" || st=$?
[ $st -eq 0 ] || lab_fail "the transfer failed ($st)"
want=$(sha256sum <"$LAB/www/big.bin" | cut -d' ' -f1)
got=$(sha256sum <"$LAB/got.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || lab_fail "sha256 differs"
lab_status agent | jq -c '.relays[0] | {transport, tcp_fallbacks, udp_tries, udp_returns, fallback_ms, return_ms}'
wait_for 10 "relay: TCP connection gone" jq_ok relay '.tcp.connections == 0'
jq_ok relay '[.peers[] | select(.name == "alice" and .transport == "udp")] | length == 1' ||
	lab_fail "relay: $(lab_status relay | jq -c .peers)"
lab_log "anyone can open TCP to 443: 10 silent connections from one source"
lab_in_agent python3 - >"$LAB/silent.out" <<'PY' &
import socket, time
socks = []
for i in range(10):
    s = socket.create_connection(("10.77.0.1", 443), timeout=2)
    socks.append(s)
t0 = time.time()
closed = 0
for s in socks:
    s.settimeout(max(0.1, 8 - (time.time() - t0)))
    try:
        if s.recv(100) == b"":
            closed += 1
    except (socket.timeout, ConnectionResetError):
        pass
print("closed %d in %.1f s" % (closed, time.time() - t0))
PY
SILENT=$!
LAB_PIDS="$LAB_PIDS $SILENT"
wait_for 3 "relay: 8 handshakes, 2 refused by source" \
	jq_ok relay '.tcp.handshaking == 8 and .tcp.refused.source == 2'
wait "$SILENT" || lab_fail "silent connections"
lab_log "silent connections: $(cat "$LAB/silent.out")"
grep -q "closed 10 in [5-7]\." "$LAB/silent.out" || lab_fail "handshakes not timed out in 5 s"
lab_log "not TLS: closed at once"
lab_in_agent python3 -c '
import socket, time
s = socket.create_connection(("10.77.0.1", 443), timeout=3)
t0 = time.time()
s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4)
s.settimeout(3)
try:
    s.recv(4096)
    s.recv(4096)
except ConnectionResetError:
    pass
assert time.time() - t0 < 1' || lab_fail "the relay kept a connection that does not speak TLS"
jq_ok relay '.tcp.connections == 0 and .tcp.handshake_failed >= 9' ||
	lab_fail "relay: $(lab_status relay | jq -c .tcp)"
lab_log "40 connections from one source at once: over its rate, refused"
lab_in_agent python3 -c '
import socket
for i in range(40):
    socket.create_connection(("10.77.0.1", 443), timeout=2).close()'
wait_for 3 "relay: refused by rate" jq_ok relay '.tcp.refused.rate >= 10 and .tcp.connections == 0'
lab_status relay | jq -c .tcp
lab_stop agent
lab_stop connector
lab_stop relay
lab_log "ok"
