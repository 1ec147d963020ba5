#!/bin/sh
# Flows that stop reading must not stall their session: four downloads whose
# application never reads, then a new request must complete; the same with
# four uploads to a target that never reads. Each stalled flow holds its
# whole stream window unconsumed (at the agent for downloads, at the
# connector for uploads); before connection credit was returned apart from
# stream credit, four of them pinned the session's connection window and
# the new request timed out.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf
lab_target
lab_httpd "hello from wiki"
head -c 200000000 /dev/zero >"$LAB/www/big.bin"
# Port 9: accepts and never reads (small receive buffer, writes back up).
lab_bg "$(lab_ns target)" nosink python3 -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("10.77.1.2", 9))
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])
'
lab_up 2
addr=$(lab_in_agent dig +short +time=2 +tries=1 wiki.corp.internal)
lab_in_agent curl -sf --max-time 10 -o /dev/null http://wiki.corp.internal/hello.txt ||
	lab_fail "warm-up request"

# Stream bytes of the connector's flows to PORT that went DIR (up, down).
moved() { lab_status connector | jq "[.agents[].flows[] | select(.target == \"10.77.1.2:$1\") | .$2] | sort | .[0] // 0"; }
# True when four flows to PORT exist and the smallest moved more than a
# stream window's worth in direction DIR.
stalled4() {
	jq_ok connector "[.agents[].flows[] | select(.target == \"10.77.1.2:$1\")] | length == 4" &&
		[ "$(moved "$1" "$2")" -gt 900000 ]
}
# Waits until the four flows stop moving (bounded): their windows are full.
settle() {
	last=-1 n=50
	while [ $n -gt 0 ]; do
		now=$(lab_status connector | jq "[.agents[].flows[] | select(.target == \"10.77.1.2:$1\") | .$2] | add")
		[ "$now" = "$last" ] && return 0
		last=$now
		sleep 0.5
		n=$((n - 1))
	done
	lab_fail "flows to port $1 never stopped moving"
}
fresh_flow() {
	lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt >"$LAB/fresh.out" 2>&1 ||
		lab_fail "$1: a new flow did not complete ($(cat "$LAB/fresh.out"))"
	grep -q "^hello from wiki$" "$LAB/fresh.out" || lab_fail "$1: new flow got $(cat "$LAB/fresh.out")"
}

lab_log "four downloads the application never reads"
PIDS=""
for i in 1 2 3 4; do
	lab_bg "$(lab_ns agent)" dl$i python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((sys.argv[1], 80))
s.sendall(b"GET /big.bin HTTP/1.0\r\nHost: wiki.corp.internal\r\n\r\n")
time.sleep(600)
' "$addr"
	PIDS="$PIDS $!"
done
wait_for 20 "four stalled downloads" stalled4 80 down
settle 80 down
lab_log "stalled at $(moved 80 down) B or more each"
fresh_flow "downloads"
jq_ok connector '[.agents[].flows[] | select(.target == "10.77.1.2:80")] | length == 4' ||
	lab_fail "the stalled downloads were ended"
for p in $PIDS; do kill "$p"; done
wait_for 10 "downloads gone" jq_ok connector '[.agents[].flows[]] | length == 0'

lab_log "four uploads to a target that never reads"
for i in 1 2 3 4; do
	lab_bg "$(lab_ns agent)" ul$i python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 9))
while True:
    s.sendall(b"u" * 65536)
' "$addr"
done
wait_for 20 "four stalled uploads" stalled4 9 up
settle 9 up
lab_log "stalled at $(moved 9 up) B or more each"
fresh_flow "uploads"
jq_ok connector '[.agents[].flows[] | select(.target == "10.77.1.2:9")] | length == 4' ||
	lab_fail "the stalled uploads were ended"

lab_stop agent TERM
lab_stop connector TERM
lab_stop relay TERM
lab_log "PASS"
