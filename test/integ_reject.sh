#!/bin/sh
# Every refusal case against a running relay, while a real connector and
# agent keep working: foreign CA, expired certificate, missing client
# certificate, wrong role for the daemon, malformed / oversized / unknown
# control messages, an agent trying to register services, a REGISTER flood.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
POKE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
lab_pki
lab_conf
P=$LAB/pki

# Extra identities: a second organisation, an expired agent.
"$BIN" pki init-ca --org "Other Corp" --out "$LAB/other" >/dev/null
"$BIN" pki issue --ca "$LAB/other/ca.crt" --ca-key "$LAB/other/ca.key" --role agent \
	--name mallory --out "$LAB/other/agent" >/dev/null
now=$(date +%s)
"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role agent --name old \
	--not-before $((now - 864000)) --not-after $((now - 86400)) --out "$P/expired" >/dev/null

lab_up 2

poke() { # mode expect cert-prefix(or -) [ca]
	if [ "$3" = - ]; then
		ip netns exec "$(lab_ns agent)" "$POKE" -a "${4:-$P/ca.crt}" -r 10.77.0.1:4433 -m "$1" -e "$2"
	else
		ip netns exec "$(lab_ns agent)" "$POKE" -a "${4:-$P/ca.crt}" -c "$3.crt" -k "$3.key" \
			-r 10.77.0.1:4433 -m "$1" -e "$2"
	fi
}

lab_log "a well-behaved test client is answered"
poke ok -2 "$P/agent" || lab_fail "good client"

lab_log "foreign CA: refused, logged on the relay"
poke ok -1 "$LAB/other/agent" || lab_fail "foreign CA accepted"
grep -q "peer certificate rejected: .*subject .*CN=mallory" "$LAB/relay.log" || lab_fail "no foreign-CA log"

lab_log "expired certificate: refused, logged"
poke ok -1 "$P/expired" || lab_fail "expired accepted"
grep -q "certificate has expired" "$LAB/relay.log" || lab_fail "no expiry log"

lab_log "no client certificate: refused, logged"
poke ok -1 - || lab_fail "anonymous client accepted"
grep -Eq "handshake failed: TLS alert [0-9]+ \((certificate_required|handshake_failure)" "$LAB/relay.log" ||
	lab_fail "no missing-certificate log"

lab_log "relay trusting another CA: the client refuses the relay"
poke ok -1 "$P/agent" "$LAB/other/ca.crt" || lab_fail "client accepted a foreign relay"

lab_log "agent registering services: DENIED (5)"
poke register 5 "$P/agent" || lab_fail "agent REGISTER"
grep -q "only connectors register services" "$LAB/relay.log" || lab_fail "no REGISTER log"

lab_log "control message before HELLO: PROTOCOL (1)"
poke nohello 1 "$P/connector" || lab_fail "nohello"
lab_log "garbage on the control stream: VERSION (4)"
poke garbage 4 "$P/agent" || lab_fail "garbage"
lab_log "oversized control message: TOO_BIG (2)"
poke oversized 2 "$P/agent" || lab_fail "oversized"
lab_log "unknown message type: UNKNOWN (3)"
poke unknown 3 "$P/agent" || lab_fail "unknown"

lab_log "100 REGISTERs in a burst: closed with TOO_BIG (2) after 20, catalogs rebuilt a few times"
poke regflood 2 "$P/connector" || lab_fail "regflood"
grep -q "too many REGISTER messages" "$LAB/relay.log" || lab_fail "no REGISTER flood log"
jq_ok relay '.registers <= 21 and .catalog_rebuilds < 10' ||
	lab_fail "REGISTER flood: $(lab_status relay | jq -c '{registers, catalog_rebuilds}')"
lab_log "relay: $(lab_status relay | jq -c '{registers, catalog_rebuilds}')"
wait_for 5 "agent catalog back to 2" jq_ok agent '.catalog | length == 2'

lab_log "the real agent and connector were not disturbed"
jq_ok agent '.relays[0].state == "up" and (.catalog | length == 2)' || lab_fail "agent disturbed"
jq_ok connector '.relays[0].state == "up"' || lab_fail "connector disturbed"
kill -0 "$(lab_pid relay)" || lab_fail "relay died"

lab_log "a daemon refuses a certificate of another role"
sed -e "s#^cert = .*#cert = pki/agent.crt#" -e "s#^key = .*#key = pki/agent.key#" \
	-e "s#^control_socket = .*#control_socket = $LAB/run/relay2.sock#" \
	-e "s#^listen = .*#listen = 0.0.0.0:4434#" "$LAB/relay.ini" >"$LAB/relay2.ini"
if ip netns exec "$(lab_ns relay)" "$BIN" --role relay --config "$LAB/relay2.ini" 2>"$LAB/relay2.log"; then
	lab_fail "relay started with an agent certificate"
fi
grep -q "has role agent but this daemon runs as relay" "$LAB/relay2.log" || lab_fail "no role log"
"$BIN" --role relay --config "$LAB/relay2.ini" --check >/dev/null 2>&1 && lab_fail "--check passed"

lab_log "PASS"
