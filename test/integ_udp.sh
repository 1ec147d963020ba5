#!/bin/sh
# UDP flows as QUIC DATAGRAMs: a DNS query to a DNS server behind the
# connector, a UDP echo, a burst of datagrams, a UDP destination outside the
# catalog refused with ICMP unreachable, and ping to a service address
# answered by the real target through the connector's ICMP socket.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf
lab_target
lab_bg "$(lab_ns target)" udp python3 "$(dirname "$0")/tools/udpsrv.py" 10.77.1.2
# An ordinary resolver outside the tunnel for names the catalog lacks.
lab_bg "$(lab_ns relay)" resolver python3 "$(dirname "$0")/tools/udpsrv.py" 10.77.0.1
printf '\n[dns]\nforward = 10.77.0.1\n' >>"$LAB/agent.ini"
lab_up 2
dns=$(lab_in_agent dig +short +time=2 +tries=1 dns.corp.internal)
lab_log "dns.corp.internal = $dns"

lab_log "DNS query to the target network's DNS server through the tunnel"
# The first datagram of a new session is sometimes lost (about 1 run in 10,
# not yet explained): dig retries, and prints ";;" lines about it.
ans=$(lab_in_agent dig +short +time=2 +tries=3 "@$dns" intranet.corp.internal | grep -v '^;;') ||
	lab_fail "dig"
[ "$ans" = 10.77.1.53 ] || lab_fail "DNS answer '$ans'"

lab_log "a name outside the catalog goes to the configured resolver"
ans=$(lab_in_agent dig +short +time=2 +tries=2 www.example.org) || lab_fail "dig forwarded"
[ "$ans" = 10.77.1.53 ] || lab_fail "forwarded answer '$ans'"

lab_log "UDP echo: 200 datagrams of 1000 bytes"
got=$(lab_udp_echo "$dns" 200 1000)
lab_log "echoed $got of 200"
[ "$got" -ge 198 ] || lab_fail "only $got of 200 echoes"
jq_ok agent '[.flows[] | select(.proto == "udp")] | length >= 1' || lab_fail "no UDP flow in status"

lab_log "UDP to a port outside the service: ICMP unreachable, logged"
lab_in_agent python3 - "$dns" <<'PY' || lab_fail "no ICMP unreachable"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], 9999))
try:
    s.send(b"x")
    s.recv(10)
    sys.exit(1)
except socket.timeout:
    sys.exit(1)
except OSError as e:
    # ICMP "administratively prohibited" reaches a connected socket as
    # EHOSTUNREACH: the application learned at once.
    sys.exit(0 if e.errno in (113, 111) else 1)
PY
grep -q "deny udp .* -> $dns:9999: port or protocol not in the service" "$LAB/agent.log" ||
	lab_fail "no deny log line"
lab_log "ping a service address: answered by the real target"
# Unprivileged ICMP sockets for the connector: ping sockets obey this range
# for every user, root included, and a new namespace starts with none.
ip netns exec "$(lab_ns conn)" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
wiki=$(lab_in_agent dig +short +time=2 +tries=1 wiki.corp.internal)
lab_in_agent ping -c 3 -i 0.2 -W 2 "$wiki" >"$LAB/ping.out" || lab_fail "ping $wiki"
grep -q "3 received" "$LAB/ping.out" || lab_fail "ping: $(tail -2 "$LAB/ping.out")"
lab_log "$(grep rtt "$LAB/ping.out")"
lab_log "ping a service without icmp = true: refused by the agent"
if lab_in_agent ping -c 1 -W 2 "$dns" >"$LAB/ping2.out" 2>&1; then
	lab_fail "ping answered for a service without icmp"
fi
grep -q "deny icmp .* -> $dns" "$LAB/agent.log" || lab_fail "no deny log for the ping"

lab_stop agent TERM
lab_stop connector TERM
lab_log "PASS"
