#!/bin/sh
# Applications and targets that misbehave must not wedge the session that
# every other flow shares: downloads never read then reset, uploads to a
# target that never reads then reset, a target that half-closes and reads
# late (every byte must arrive), connects abandoned before the handshake.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf
lab_target
lab_httpd "hello from wiki"
head -c 50000000 /dev/urandom >"$LAB/www/big.bin"
# Port 9: a target that takes connections and never reads; port 443: one
# that half-closes at once, reads only after 2 s and reports what it got.
lab_bg "$(lab_ns target)" sink python3 -u -c '
import socket, threading, time
def sink():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.77.1.2", 9)); s.listen(64); keep = []
    while True:
        c, _ = s.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); keep.append(c)
def late():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.77.1.2", 443)); s.listen(8)
    while True:
        c, _ = s.accept(); c.shutdown(socket.SHUT_WR); time.sleep(2); n = 0
        while True:
            b = c.recv(65536)
            if not b: break
            n += len(b)
        print("late target got", n, flush=True); c.close()
threading.Thread(target=sink, daemon=True).start()
late()
'
lab_up 2
addr=$(lab_in_agent dig +short +time=2 +tries=1 wiki.corp.internal)

lab_log "8 downloads the application never reads, then resets"
lab_in_agent python3 - "$addr" <<'PY' || lab_fail "a new connection stalled: credit leaked?"
import socket, struct, sys, time
for i in range(8):
    s = socket.create_connection((sys.argv[1], 80), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /big.bin HTTP/1.0\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
PY
lab_log "8 uploads to a target that never reads, then resets"
lab_in_agent python3 - "$addr" <<'PY' || lab_fail "a new connection stalled: credit leaked?"
import socket, struct, sys, time
for i in range(8):
    s = socket.create_connection((sys.argv[1], 9), timeout=5)
    s.setblocking(False)
    t = time.time()
    while time.time() - t < 0.5:
        try:
            s.send(b"x" * 65536)
        except BlockingIOError:
            time.sleep(0.01)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
PY
lab_log "the session still carries new flows"
lab_in_agent curl -sS --max-time 20 -o "$LAB/got.bin" http://wiki.corp.internal/big.bin ||
	lab_fail "download after the abuse: the session's credit leaked?"
cmp -s "$LAB/got.bin" "$LAB/www/big.bin" || lab_fail "download corrupted"

lab_log "upload of 20 MB to a target that half-closed and reads late: every byte arrives"
lab_in_agent python3 - "$addr" <<'PY' || lab_fail "half-close upload"
import socket, sys
s = socket.create_connection((sys.argv[1], 443), timeout=30)
assert s.recv(10) == b""          # the target's FIN came through
s.sendall(b"x" * 20000000)
s.shutdown(socket.SHUT_WR)
s.settimeout(30)
assert s.recv(10) == b""
PY
wait_for 30 "the late target's count" grep -q "late target got" "$LAB/sink.log"
grep -q "late target got 20000000" "$LAB/sink.log" || lab_fail "$(grep 'late target' "$LAB/sink.log")"

lab_log "20 connects abandoned right after the SYN leave no flow behind"
lab_in_agent python3 - "$addr" <<'PY'
import socket, sys
for i in range(20):
    s = socket.socket(); s.setblocking(False)
    s.connect_ex((sys.argv[1], 80)); s.close()
PY
wait_for 10 "no flows left on the agent" jq_ok agent '.flows | length == 0'
wait_for 10 "no flows left on the connector" jq_ok connector '[.agents[].flows[]] | length == 0'
lab_stop agent TERM
lab_stop connector TERM
lab_log "PASS"
