#!/bin/sh
# Publishing rights: a connector publishes only what its certificate grants.
# - A second connector ("evil", granted *.evil.internal) registering
#   wiki.corp.internal before the real one is refused by the relay, logged
#   with its name and told with an ERROR; its granted service is listed.
# - A connector granted the same names (conn2) serves wiki too: high
#   availability, both listed.
# - A compromised relay that lists evil as wiki's connector anyway: the agent
#   checks evil's certificate itself, drops the entry and never sends a flow.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
FAKE=$(cd "$(dirname "$2")" && pwd)/fakerelay
lab_pki
lab_conf
lab_target
P=$LAB/pki
"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role connector --name evil \
	--publish-host '*.evil.internal' --out "$P/evil" >/dev/null
"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role connector --name conn2 \
	--publish-host '*.corp.internal' --out "$P/conn2" >/dev/null
"$BIN" pki show "$P/evil.crt" | grep -qx "publish_hosts: \*.evil.internal" ||
	lab_fail "pki show does not list the grant"
if "$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role agent --name x \
	--publish-host a.corp.internal --out "$P/x" 2>/dev/null; then
	lab_fail "an agent certificate with a publishing grant was issued"
fi

lab_httpd "hello from wiki"
mkdir -p "$LAB/evilwww"
echo "evil page" >"$LAB/evilwww/hello.txt"
lab_bg "$(lab_ns conn)" evilhttp python3 "$(dirname "$0")/tools/httpd.py" 10.77.1.1 8080 "$LAB/evilwww"
wait_for 10 "evil http server" ip netns exec "$(lab_ns conn)" curl -sf -o /dev/null http://10.77.1.1:8080/hello.txt

# conn_ini NAME LISTEN SERVICES...: a connector config with its own identity.
conn_ini() {
	n=$1 l=$2
	shift 2
	{
		printf '[identity]\nca = pki/ca.crt\ncert = pki/%s.crt\nkey = pki/%s.key\n' "$n" "$n"
		printf '[daemon]\ncontrol_socket = %s/run/%s.sock\n' "$LAB" "$n"
		printf '[quic]\nlisten = 0.0.0.0:%s\n[relays]\nrelay = 10.77.0.1:4433\n' "$l"
		for s in "$@"; do printf '%b\n' "$s"; done
	} >"$LAB/$n.ini"
}
WIKI_EVIL='[service wiki]\nhostname = wiki.corp.internal\nports = 80\nallow = group:engineering\ntarget = 10.77.1.1:8080'
conn_ini evil 4434 "$WIKI_EVIL" \
	'[service blog]\nhostname = blog.evil.internal\nports = 80\nallow = group:engineering\ntarget = 10.77.1.1:8080'
conn_ini conn2 4435 \
	'[service wiki]\nhostname = wiki.corp.internal\nports = 80\nallow = group:engineering\ntarget = 10.77.1.2'

lab_log "evil registers wiki.corp.internal first: refused by the relay"
lab_start relay
lab_start connector "$LAB/evil.ini" evil
wait_for 10 "relay refusal" grep -q "conn.*evil.*service wiki refused: hostname wiki.corp.internal not granted to evil" "$LAB/relay.log"
wait_for 5 "evil told" grep -q "error 5 from relay: service wiki refused" "$LAB/evil.log"
grep -q "service wiki: hostname wiki.corp.internal not granted to evil" "$LAB/evil.log" ||
	lab_fail "evil did not warn about its own ungranted service at start"
lab_start connector
lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | map(.service) | (index("wiki") != null and index("blog") != null)'
jq_ok agent '[.catalog[] | select(.service=="wiki")] | length == 1 and .[0].connector == "conn1"' ||
	lab_fail "wiki is not served by conn1 alone: $(lab_status agent | jq -c '.catalog')"
jq_ok agent '.catalog[] | select(.service=="blog") | .connector == "evil"' || lab_fail "evil's own service"
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl wiki"
[ "$out" = "hello from wiki" ] || lab_fail "curl wiki got '$out'"

lab_log "conn2, granted *.corp.internal too, serves wiki as well (high availability)"
lab_start connector "$LAB/conn2.ini" conn2
wait_for 10 "two wiki entries" jq_ok agent \
	'[.catalog[] | select(.service=="wiki") | .connector] | sort == ["conn1","conn2"]'
lab_stop conn2 TERM
lab_stop evil TERM

lab_log "a compromised relay lists evil for wiki: the agent checks evil's certificate itself"
lab_stop agent TERM
lab_stop relay TERM
lab_bg "$(lab_ns relay)" fakerelay "$FAKE" -a "$P/ca.crt" -c "$P/relay.crt" -k "$P/relay.key" \
	-l 10.77.0.1:4433 -e wiki,wiki.corp.internal,80,evil,10.77.0.2:4434
wait_for 5 "fake relay" grep -q "listening" "$LAB/fakerelay.log"
lab_start connector "$LAB/evil.ini" evil
lab_start agent
wait_for 15 "agent has the fake catalog" jq_ok agent '.catalog | map(.service) | index("wiki") != null'
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt 2>&1) && \
	lab_fail "the agent sent a flow to a connector not granted the service: '$out'"
case $out in *"evil page"*) lab_fail "the agent fetched evil's page" ;; esac
wait_for 5 "agent dropped the entry" grep -q \
	"catalog: service wiki of connector evil dropped: its certificate does not grant it" "$LAB/agent.log"
jq_ok agent '.catalog[] | select(.service=="wiki") | .refused | startswith("hostname wiki.corp.internal not granted to evil")' ||
	lab_fail "status does not show wiki as refused: $(lab_status agent | jq -c '.catalog')"
rc=$(lab_in_agent dig +time=2 +tries=1 wiki.corp.internal | grep -c "status: REFUSED" || true)
[ "$rc" = 1 ] || lab_fail "wiki.corp.internal still resolves after the drop"
if grep -q "flow end: .*alice" "$LAB/evil.log"; then
	lab_fail "evil saw a flow from alice"
fi
lab_stop agent TERM
lab_stop evil TERM
lab_stop connector TERM
lab_log "PASS"
