#!/bin/sh
# Revocation and expiry: with [identity] crl, a revoked agent is cut off the
# moment the relay and connector reload the new list (SIGHUP) and cannot come
# back; a list that does not verify keeps the daemon from starting and, on
# reload, leaves the previous list in force; a session ends when the peer's
# certificate expires.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf
lab_target
P=$LAB/pki
lab_httpd "hello from wiki"

"$BIN" pki crl --ca "$P/ca.crt" --ca-key "$P/ca.key" --crl "$P/crl.pem" >/dev/null || lab_fail "pki crl"
for r in relay connector; do
	sed -i "s#^key = \(.*\)#key = \1\ncrl = pki/crl.pem#" "$LAB/$r.ini"
	"$BIN" --role $r --config "$LAB/$r.ini" --check >/dev/null || lab_fail "--check $r with a CRL"
done

lab_log "a revocation list signed by another CA: --check fails, the relay does not start"
"$BIN" pki init-ca --org "Other Corp" --out "$LAB/other" >/dev/null
"$BIN" pki crl --ca "$LAB/other/ca.crt" --ca-key "$LAB/other/ca.key" --crl "$LAB/other/crl.pem" >/dev/null
sed "s#^crl = .*#crl = $LAB/other/crl.pem#" "$LAB/relay.ini" >"$LAB/relay-bad.ini"
if "$BIN" --role relay --config "$LAB/relay-bad.ini" --check >/dev/null 2>&1; then
	lab_fail "--check accepted a CRL from another CA"
fi

lab_up 2
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl before revocation"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"

lab_log "a broken list on SIGHUP: the old one stays, alice stays connected"
cp "$P/crl.pem" "$P/crl.good"
echo garbage >"$P/crl.pem"
kill -HUP "$(lab_pid relay)"
wait_for 5 "rejected list logged" grep -q "revocation list .* rejected\|cannot read revocation list" "$LAB/relay.log"
sleep 1
jq_ok relay '.agents == 1' || lab_fail "a broken list dropped the agent"
cp "$P/crl.good" "$P/crl.pem"

lab_log "a certificate of another CA cannot be put on our list"
"$BIN" pki issue --ca "$LAB/other/ca.crt" --ca-key "$LAB/other/ca.key" --role agent --name eve \
	--out "$LAB/other/eve" >/dev/null
if "$BIN" pki revoke --ca "$P/ca.crt" --ca-key "$P/ca.key" --cert "$LAB/other/eve.crt" \
	--crl "$P/crl.pem" >/dev/null 2>&1; then
	lab_fail "revoked a certificate of another CA"
fi
echo "00ff 99999999999999 huge" >"$LAB/bad-revoked.txt"
if "$BIN" pki crl --ca "$P/ca.crt" --ca-key "$P/ca.key" --revoked "$LAB/bad-revoked.txt" \
	--crl "$LAB/bad.pem" >/dev/null 2>&1; then
	lab_fail "signed a list with a revocation date past year 9999"
fi

lab_log "alice revoked: relay and connector cut her off at SIGHUP, she cannot return"
"$BIN" pki revoke --ca "$P/ca.crt" --ca-key "$P/ca.key" --cert "$P/agent.crt" --crl "$P/crl.pem" >/dev/null ||
	lab_fail "pki revoke"
grep -q " alice$" "$P/revoked.txt" || lab_fail "revoked.txt has no line for alice"
kill -HUP "$(lab_pid relay)"
kill -HUP "$(lab_pid connector)"
wait_for 5 "relay closed alice" grep -q "alice@.*certificate revoked: closing" "$LAB/relay.log"
wait_for 5 "connector closed alice" grep -q "alice@.*certificate revoked: closing" "$LAB/connector.log"
wait_for 10 "relay refuses alice's reconnect" grep -q "refused: certificate revoked" "$LAB/relay.log"
sleep 2
jq_ok relay '.agents == 0' || lab_fail "a revoked agent is still connected"
if lab_in_agent curl -sS --max-time 5 http://wiki.corp.internal/hello.txt >/dev/null 2>&1; then
	lab_fail "a revoked agent still reaches the service"
fi
lab_stop agent TERM

lab_log "a certificate that expires while connected: the session ends then"
now=$(date +%s)
"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role agent --name brief \
	--group engineering --not-before $((now - 60)) --not-after $((now + 6)) --out "$P/brief" >/dev/null
sed -e "s#^cert = .*#cert = pki/brief.crt#" -e "s#^key = .*#key = pki/brief.key#" \
	"$LAB/agent.ini" >"$LAB/brief.ini"
lab_start agent "$LAB/brief.ini" brief
wait_for 5 "brief connected" jq_ok relay '.agents == 1'
wait_for 15 "relay closed the expired session" grep -q "brief@.*certificate expired: closing" "$LAB/relay.log"
lab_stop brief TERM
lab_stop connector TERM
lab_stop relay TERM
lab_log "PASS"
