#!/bin/sh
# Least privilege: relay and connector with [daemon] user = nobody run as
# that user with no capability at all and no_new_privs; the agent keeps
# only CAP_NET_ADMIN (its TUN routes) after creating its TUN, and in shim
# mode nothing. Traffic and route changes still work.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf
lab_target
lab_httpd "hello from wiki"
for r in relay connector; do
	sed -i "s#^\[daemon\]#[daemon]\nuser = nobody#" "$LAB/$r.ini"
done
# nobody reads the connector's config again on SIGHUP; keys stay 0600 (read
# once, before the switch).
chmod 755 "$LAB"
chmod 644 "$LAB/connector.ini"
NOBODY=$(id -u nobody)

status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$1/status"; }
# Every thread: capabilities and no_new_privs are per thread, and libuv's
# workers (getaddrinfo) must not keep what the main thread gave up.
check_proc() { # name uid capeff
	pid=$(lab_pid "$1")
	nt=0
	for t in /proc/"$pid"/task/*; do
		nt=$((nt + 1))
		uid=$(status_field "$t" Uid)
		[ "$uid" = "$2 $2 $2 $2" ] || lab_fail "$1 ($t): Uid is '$uid', want $2 four times"
		for c in CapEff CapPrm CapBnd; do
			v=$(status_field "$t" $c)
			[ "$v" = "$3" ] || lab_fail "$1 ($t): $c is $v, want $3"
		done
		[ "$(status_field "$t" CapInh)" = 0000000000000000 ] || lab_fail "$1: inheritable capabilities"
		[ "$(status_field "$t" NoNewPrivs)" = 1 ] || lab_fail "$1 ($t): no_new_privs not set"
	done
	lab_log "$1: $nt threads, each uid $2, CapEff/CapPrm/CapBnd $3, NoNewPrivs 1"
}

lab_up 2
check_proc relay "$NOBODY" 0000000000000000
check_proc connector "$NOBODY" 0000000000000000
check_proc agent 0 0000000000001000
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"

lab_log "a new CIDR service after the drop: the agent still installs its route"
printf '\n[service lab]\ncidr = 10.78.0.0/24\nports = 80\nprotocol = tcp\nallow = group:engineering\n' \
	>>"$LAB/connector.ini"
kill -HUP "$(lab_pid connector)"
wait_for 10 "route for the new service" sh -c \
	"ip -n $(lab_ns agent) route | grep -q '^10.78.0.0/24 dev ztun0'"

lab_log "a user that does not exist: the relay refuses to run"
sed "s#^user = .*#user = no-such-user-zt#" "$LAB/relay.ini" >"$LAB/relay-bad.ini"
sed -i "s#^listen = .*#listen = 0.0.0.0:4434#; s#relay.sock#relay-bad.sock#" "$LAB/relay-bad.ini"
lab_start relay "$LAB/relay-bad.ini" badrelay
st=0
wait "$(lab_pid badrelay)" || st=$?
[ $st -ne 0 ] || lab_fail "the relay ran with an unknown user"
grep -q "no user 'no-such-user-zt'" "$LAB/badrelay.log" || lab_fail "unknown user not logged"

lab_log "shim mode: the agent keeps no capability"
lab_stop agent TERM
cp "$LAB/agent.ini" "$LAB/agent-shim.ini"
printf '\n[tun]\nshim_socket = %s/run/shim.sock\n' "$LAB" >>"$LAB/agent-shim.ini"
lab_start agent "$LAB/agent-shim.ini" shimagent
wait_for 10 "shim socket" test -S "$LAB/run/shim.sock"
check_proc shimagent 0 0000000000000000
lab_stop shimagent TERM
lab_stop connector TERM
lab_stop relay TERM
lab_log "PASS"
