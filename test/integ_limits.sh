#!/bin/sh
# Per-identity limits at the connector, with ctrlpoke playing agent alice:
# (a) at most 8 sessions per identity: the 9th is refused with
#     ZT_APP_DENIED (5), logged and counted, and alice's real agent keeps
#     working;
# (b) a stream that sends 3 bytes of a header and then nothing is reset
#     about 10 s after it opened, and counted;
# (c) 5000 streams opened with nothing but a RESET_STREAM each give their
#     slots back (the stream limit is 4096), then a real flow gets its OK.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
POKE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
lab_pki
lab_conf
lab_target
P=$LAB/pki
lab_httpd "hello from wiki"
lab_up 2
lab_in_agent curl -sf --max-time 10 -o /dev/null http://wiki.corp.internal/hello.txt ||
	lab_fail "warm-up request"
cport=$(lab_status agent | jq -r '.catalog[0].addresses[0]')
poke() { ip netns exec "$(lab_ns agent)" "$POKE" -a "$P/ca.crt" -c "$P/agent.crt" -k "$P/agent.key" -r "$cport" -R "$@"; }

lab_log "(a) sessions per identity: alice's agent and 7 more are the limit"
HOLDERS=""
for i in 1 2 3 4 5 6 7; do
	ip netns exec "$(lab_ns agent)" "$POKE" -a "$P/ca.crt" -c "$P/agent.crt" -k "$P/agent.key" \
		-r "$cport" -R -m hold -t 40 >"$LAB/hold$i.out" 2>&1 &
	HOLDERS="$HOLDERS $!"
	LAB_PIDS="$LAB_PIDS $!"
done
wait_for 15 "8 sessions for alice" jq_ok connector '[.agents[] | select(.name == "alice")] | length == 8'
poke -m hold -t 5 -e 5 >"$LAB/ninth.out" 2>&1 || lab_fail "the 9th session was not refused: $(cat "$LAB/ninth.out")"
lab_log "$(cat "$LAB/ninth.out")"
grep -q "refused: too many sessions for agent alice (limit 8)" "$LAB/connector.log" ||
	lab_fail "no refusal in the connector's log"
jq_ok connector '.sessions_refused == 1' || lab_fail "refusal not counted"
lab_in_agent curl -sf --max-time 10 -o /dev/null http://wiki.corp.internal/hello.txt ||
	lab_fail "alice's agent stopped working"
for p in $HOLDERS; do kill "$p" 2>/dev/null || true; done
# They vanish without a word: their sessions end at the idle timeout (5 s).
wait_for 15 "holders gone" jq_ok connector '[.agents[] | select(.name == "alice")] | length == 1'

lab_log "(b) a stream with 3 bytes of a header and then silence"
t0=$(date +%s)
poke -m hdrpart -t 20 >"$LAB/hdrpart.out" 2>&1 || lab_fail "partial header: $(cat "$LAB/hdrpart.out")"
secs=$(($(date +%s) - t0))
lab_log "$(cat "$LAB/hdrpart.out") after ${secs} s"
[ $secs -ge 9 ] || lab_fail "reset after $secs s, before the 10 s header timeout"
jq_ok connector '.header_timeouts == 1' || lab_fail "header timeout not counted"
grep -q "flows from alice: 1 reset, no complete header 10 s after their stream opened (3 B in all)" \
	"$LAB/connector.log" || lab_fail "no header timeout in the connector's log"

lab_log "(c) 5000 streams with only a RESET_STREAM, then a real flow"
poke -m resetonly -n 5000 -t 20 >"$LAB/resetonly.out" 2>&1 ||
	lab_fail "stream slots not given back: $(cat "$LAB/resetonly.out")"
lab_log "$(tr '\n' ' ' <"$LAB/resetonly.out")"
wait_for 10 "no flows left on the connector" jq_ok connector '[.agents[].flows[]] | length == 0'
kill -0 "$(lab_pid connector)" || lab_fail "connector died"

lab_stop agent TERM
lab_stop connector TERM
lab_stop relay TERM
lab_log "PASS"
