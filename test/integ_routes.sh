#!/bin/sh
# The agent's routes leave the host's own alone: catalog CIDRs covering the
# default route or the LAN are refused and logged, the routing tables after
# the agent exits equal those before it started (TUN and shim), traffic to
# service CIDRs stays in the tunnel while the relay is down (fail closed),
# and packets whose source is not the tunnel's address are dropped and
# counted.
set -eu
. "$(dirname "$0")/lib/lab.sh"
# ONLY=ad (say) runs only those parts, to see each fail on its own.
part() { case ${ONLY:-abcd} in *$1*) return 0 ;; esac; return 1; }
lab_init "$1"
SHIM=$(cd "$(dirname "$1")" && pwd)/ztnad-shim-linux
lab_pki
# A connector the CA lets publish anything (0.0.0.0/0): the agent must still
# keep the host's routes whatever the catalog says.
"$BIN" pki issue --ca "$LAB/pki/ca.crt" --ca-key "$LAB/pki/ca.key" --role connector --name conn1 \
	--publish-host '*.corp.internal' --publish-cidr 0.0.0.0/0 --out "$LAB/pki/connector" >/dev/null
lab_conf
A=$(lab_ns agent)
# The lab has no default route: give the agent one, as on a laptop.
ip -n "$A" route add default via 10.77.0.1 dev eth0
ip -n "$A" -6 addr add fd77::3/64 dev eth0 nodad
ip -n "$A" -6 route add default via fd77::1 dev eth0
cat >>"$LAB/connector.ini" <<EOF

[service everything]
cidr = 0.0.0.0/0
ports = 80
protocol = tcp
allow = group:engineering

[service lan]
cidr = 10.77.0.0/16
ports = 80
protocol = tcp
allow = group:engineering

[service lab]
cidr = 10.79.0.0/24
ports = 80
protocol = tcp
allow = group:engineering
EOF

# Link-local addresses settle (DAD) before the snapshot.
wait_for 5 "no tentative addresses" sh -c "! ip -n $A -6 addr show tentative | grep -q ."
snap() {
	{
		ip -n "$A" route show table all
		ip -n "$A" -6 route show table all
	} | sort
}
snap >"$LAB/routes.before"

lab_up 5
wait_for 5 "service route" sh -c "ip -n $A route | grep -q '^10.79.0.0/24 dev ztun0'"

part a && {
lab_log "(a) 0.0.0.0/0 and the LAN's 10.77.0.0/16 are refused, host routes unchanged"
[ "$(ip -n "$A" route show default | sed 's/ *$//')" = "default via 10.77.0.1 dev eth0" ] ||
	lab_fail "default route changed: $(ip -n "$A" route show default)"
ip -n "$A" route show exact 0.0.0.0/0 | grep -q ztun0 && lab_fail "0.0.0.0/0 routed into the TUN"
ip -n "$A" route | grep -q "^10.77.0.0/16" && lab_fail "10.77.0.0/16 routed into the TUN"
ip -n "$A" route get 192.0.2.1 | grep -q "dev eth0" || lab_fail "192.0.2.1 not via eth0"
ip -n "$A" route get 10.77.0.1 | grep -q "dev eth0" || lab_fail "the relay not via eth0"
ip -n "$A" route get 10.77.4.4 | grep -q "dev eth0" || lab_fail "10.77.4.4 not via eth0"
grep -q "service everything.*refused" "$LAB/agent.log" || lab_fail "no refusal logged for 'everything'"
grep -q "service lan.*refused" "$LAB/agent.log" || lab_fail "no refusal logged for 'lan'"
n=$(grep -c "service everything.*refused" "$LAB/agent.log")
sleep 6 # one re-evaluation (5 s) later: no repeated log line
[ "$(grep -c "service everything.*refused" "$LAB/agent.log")" = "$n" ] || lab_fail "refusal logged again without a change"
}

part d && {
lab_log "(d) a packet with a foreign source into the TUN is dropped and counted"
lab_in_agent python3 - <<'EOF' || lab_fail "inject"
import socket, struct
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst = socket.inet_aton("10.77.0.99"), socket.inet_aton("10.79.0.5")
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range(20):
    tcp = struct.pack("!HHIIBBHHH", 41000 + i, 8080, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, src, dst)
    s.sendto(ip + tcp, ("10.79.0.5", 0))
EOF
wait_for 5 "bad-source counter" jq_ok agent '.packets_bad_source >= 20'
grep -q "deny tcp 10.77.0.99" "$LAB/agent.log" && lab_fail "a foreign-source packet reached the policy"
grep -q "source 10.77.0.99" "$LAB/agent.log" || lab_fail "no log line for the foreign source"
lab_log "the tunnel's own address still works: a denied port is refused at once"
rc=0
lab_in_agent curl -s --max-time 3 -o /dev/null http://10.79.0.5:8080/ || rc=$?
[ $rc = 7 ] || lab_fail "curl to a denied port: exit $rc, expected 7"
}

part b && {
lab_log "(b) a service the catalog drops loses its route"
lab_stop connector TERM
wait_for 10 "route removed with the service" sh -c "! ip -n $A route | grep -q '^10.79.0.0/24'"
lab_start connector
wait_for 15 "route back with the service" sh -c "ip -n $A route | grep -q '^10.79.0.0/24 dev ztun0'"
}

part c && {
lab_log "(c) relay stopped: service CIDRs stay in the TUN, connects are refused"
lab_stop relay TERM
RELAY_DOWN=1
wait_for 40 "relay link down" jq_ok agent '.relays[0].state != "up"'
ip -n "$A" route get 10.79.0.5 | grep -q "dev ztun0" || lab_fail "10.79.0.5 leaves via $(ip -n "$A" route get 10.79.0.5)"
ip -n "$A" route get 100.64.1.1 | grep -q "dev ztun0" || lab_fail "the synthetic pool left the TUN"
rc=0
lab_in_agent curl -s --max-time 3 -o /dev/null http://10.79.0.5/ || rc=$?
[ $rc = 7 ] || lab_fail "curl with the relay down: exit $rc, expected 7 (refused in the tunnel)"
}

lab_log "(b) after the agent exits the routing tables equal the snapshot"
lab_stop agent TERM
snap >"$LAB/routes.after"
diff "$LAB/routes.before" "$LAB/routes.after" >&2 || lab_fail "routes differ after the agent exited"

lab_log "(b) the same in shim mode"
[ -z "${RELAY_DOWN:-}" ] || lab_start relay
sed -e "s#^control_socket = .*#control_socket = $LAB/run/agent.sock#" "$LAB/agent.ini" >"$LAB/agent-shim.ini"
printf '\n[tun]\nshim_socket = %s/run/shim.sock\n' "$LAB" >>"$LAB/agent-shim.ini"
lab_start agent "$LAB/agent-shim.ini"
wait_for 15 "agent catalog (shim)" jq_ok agent '.catalog | length == 5'
wait_for 5 "shim socket" test -S "$LAB/run/shim.sock"
lab_bg "$A" shim "$SHIM" --socket "$LAB/run/shim.sock" --ifname zshim0
shim_pid=$(echo "$LAB_PIDS" | awk '{print $NF}')
wait_for 10 "shim route" sh -c "ip -n $A route | grep -q '^10.79.0.0/24 dev zshim0'"
[ "$(ip -n "$A" route show default | sed 's/ *$//')" = "default via 10.77.0.1 dev eth0" ] ||
	lab_fail "default route changed (shim): $(ip -n "$A" route show default)"
lab_stop agent TERM
n=50
while kill -0 "$shim_pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
kill -0 "$shim_pid" 2>/dev/null && lab_fail "the shim did not exit with the agent"
snap >"$LAB/routes.after"
diff "$LAB/routes.before" "$LAB/routes.after" >&2 || lab_fail "routes differ after agent and shim exited"
lab_stop connector TERM
lab_stop relay TERM
lab_log "PASS"
