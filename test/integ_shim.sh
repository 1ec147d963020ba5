#!/bin/sh
# The Network Extension path on Linux: the agent reads packets from a Unix
# socket (no TUN of its own) and ztnad-shim-linux bridges a TUN to it, the
# way the macOS shim bridges NEPacketTunnelFlow. curl by name must work the
# same, and the shim reconnecting after a restart must carry traffic again.
#
# ZT_TEST_LIGHT=1 (make test-asan): 25 MB instead of 100 MB.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
SHIM=$(cd "$(dirname "$1")" && pwd)/ztnad-shim-linux
[ -x "$SHIM" ] || lab_fail "no $SHIM"
lab_pki
lab_conf
lab_target
printf '\n[tun]\nshim_socket = %s/run/shim.sock\n' "$LAB" >>"$LAB/agent.ini"
lab_httpd "hello through the shim"

lab_up 2
wait_for 5 "shim socket" test -S "$LAB/run/shim.sock"
lab_bg "$(lab_ns agent)" shim "$SHIM" --socket "$LAB/run/shim.sock" --ifname zshim0
shim_pid=$(echo "$LAB_PIDS" | awk '{print $NF}')
wait_for 10 "shim configured the route" sh -c "ip -n $(lab_ns agent) route | grep -q '100.64.0.0/10 dev zshim0'"

lab_log "curl by name through the shim socket"
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl through the shim"
[ "$out" = "hello through the shim" ] || lab_fail "got '$out'"
MB=100
[ "${ZT_TEST_LIGHT:-}" = 1 ] && MB=25
lab_log "$MB MB through the shim"
head -c $((MB * 1000000)) /dev/urandom >"$LAB/www/big.bin"
lab_in_agent curl -sS --max-time 60 -o "$LAB/got.bin" -w "%{speed_download}\n" \
	http://wiki.corp.internal/big.bin >"$LAB/speed" || lab_fail "$MB MB through the shim"
cmp -s "$LAB/got.bin" "$LAB/www/big.bin" || lab_fail "transfer corrupted"
lab_log "$MB MB ok at $(awk '{printf "%.0f Mbit/s", $1 * 8 / 1e6}' "$LAB/speed")"

lab_log "the shim restarts and reconnects"
kill "$shim_pid"
wait "$shim_pid" 2>/dev/null || true
lab_bg "$(lab_ns agent)" shim "$SHIM" --socket "$LAB/run/shim.sock" --ifname zshim0
wait_for 10 "route again" sh -c "ip -n $(lab_ns agent) route | grep -q '100.64.0.0/10 dev zshim0'"
wait_for 10 "curl after shim restart" lab_in_agent curl -sf --max-time 2 -o /dev/null \
	http://wiki.corp.internal/hello.txt
lab_stop agent TERM
lab_log "PASS"
