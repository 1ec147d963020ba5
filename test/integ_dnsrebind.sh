#!/bin/sh
# DNS rebinding through `[dns] forward`: a hostile resolver (tools/dnsfake.py)
# answers names outside the catalog with addresses inside the tunnel (the
# synthetic range, a catalog service CIDR, through a CNAME chain, as an
# IPv4-mapped AAAA, as an HTTPS record's ipv4hint): the application gets
# SERVFAIL. A public answer goes
# through, and answers with the wrong id, from the wrong port, for another
# question or without QR are ignored in favour of the real one. Every check
# runs and the failures are listed together, so a run on old code shows
# which protections are missing.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf
lab_target
# The CIDR-only service reaches the agent's catalog too (alice is in
# engineering), so 10.78.0.0/24 is a catalog service CIDR.
sed -i 's/^allow = user:bob$/allow = group:engineering/' "$LAB/connector.ini"
lab_bg "$(lab_ns relay)" resolver python3 "$(dirname "$0")/tools/dnsfake.py" 10.77.0.1
printf '\n[dns]\nforward = 10.77.0.1\n' >>"$LAB/agent.ini"
lab_up 3
wait_for 5 "fake resolver" grep -q ready "$LAB/resolver.log"

FAILS=""
fail_later() { lab_log "  FAILED: $*"; FAILS="$FAILS
  $*"; }

# wait_for without failing at once: 0 when COMMAND succeeds within SECONDS.
wait_for_quiet() {
	n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# status NAME TYPE: the response's RCODE name (NOERROR, SERVFAIL, ...).
status() {
	lab_in_agent dig +time=3 +tries=1 "$1" "$2" 2>&1 |
		sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}

lab_log "a public answer reaches the application"
ans=$(lab_in_agent dig +short +time=3 +tries=1 good.example) || true
[ "$ans" = 198.51.100.7 ] || fail_later "good.example = '$ans'"

for n in evil.example:A inside.example:A chain.example:A mapped.example:AAAA https.example:HTTPS; do
	lab_log "${n%%:*} ${n##*:} points into the tunnel: SERVFAIL"
	st=$(status "${n%%:*}" "${n##*:}")
	[ "$st" = SERVFAIL ] ||
		fail_later "${n%%:*} ${n##*:}: status '$st', want SERVFAIL ($(lab_in_agent dig +short +time=3 +tries=1 "${n%%:*}" "${n##*:}" | tr '\n' ' '))"
done
grep -q "dns: evil.example from the resolver points into the tunnel (100.64.1.1)" \
	"$LAB/agent.log" || fail_later "no log line for evil.example"

for n in spoofid spoofport spoofq spoofqr; do
	lab_log "$n.example: the forged answer is ignored, the real one used"
	ans=$(lab_in_agent dig +short +time=3 +tries=1 "$n.example") || true
	[ "$ans" = 198.51.100.7 ] || fail_later "$n.example = '$ans'"
done

lab_log "counters in the status"
jq_ok agent '.dns_forward.rebind_blocked >= 5 and .dns_forward.dropped >= 4 and .dns_forward.outstanding == 0' ||
	fail_later "status: $(lab_status agent | jq -c .dns_forward 2>/dev/null)"

lab_log "each query from its own source port"
for i in 1 2 3 4 5; do lab_in_agent dig +short +time=3 +tries=1 good.example >/dev/null || true; done
ports=$(grep "query good.example" "$LAB/resolver.log" | sed 's/.*, \([0-9]*\))$/\1/' | sort -u | wc -l)
[ "$ports" -ge 5 ] || fail_later "only $ports source ports for 6 queries"

lab_log "70 unanswered queries: 64 in flight, the rest REFUSED; all time out"
refused=$(lab_in_agent python3 - <<'PY'
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
# Paced, so that the TUN queue never overflows (a slow ASan agent).
for i in range(70):
    q = struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0)
    q += b"\x06silent\x07example\x00" + struct.pack("!HH", 1, 1)
    s.sendto(q, ("100.64.0.2", 53))
    time.sleep(0.01)
n = 0
try:
    while True:
        r = s.recv(512)
        n += (r[3] & 0x0f) == 5
except socket.timeout:
    pass
print(n)
PY
)
[ "$refused" -eq 6 ] || fail_later "$refused of 70 refused, want 6"
if wait_for_quiet 10 jq_ok agent '.dns_forward.outstanding == 0 and .dns_forward.timeouts >= 64 and .dns_forward.busy >= 6'; then
	ans=$(lab_in_agent dig +short +time=3 +tries=1 good.example) || true
	[ "$ans" = 198.51.100.7 ] || fail_later "after the timeouts: good.example = '$ans'"
else
	fail_later "queries not timed out: $(lab_status agent | jq -c .dns_forward 2>/dev/null)"
fi

[ -z "$FAILS" ] || lab_fail "$FAILS"
lab_stop agent TERM
lab_stop connector TERM
lab_log "PASS"
