#!/bin/sh
# No TLS secret reaches the disk unless the operator asks for it: the three
# daemons run in fresh working directories, complete handshakes and carry a
# flow, and no sslkeylog.log appears anywhere (lab_cleanup checks it too).
# With SSLKEYLOGFILE set, that file alone holds the secrets, mode 0600, and a
# symlink planted at that path is not followed.
set -eu
. "$(dirname "$0")/lib/lab.sh"
lab_init "$1"
lab_pki
lab_conf
lab_target

lab_httpd "hello from wiki"

no_keylog() {
	if find "$LAB" -name sslkeylog.log | grep -q .; then
		find "$LAB" -name sslkeylog.log -exec ls -l {} + >&2
		lab_fail "$1: TLS secrets written to sslkeylog.log"
	fi
}

lab_log "SSLKEYLOGFILE unset: handshakes and a flow leave no key log"
unset SSLKEYLOGFILE
lab_up 2
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
lab_stop agent TERM
lab_stop connector TERM
lab_stop relay TERM
no_keylog "unset"
n=$(find "$LAB/cwd" -type f | wc -l)
[ "$n" = 0 ] || { find "$LAB/cwd" -type f >&2; lab_fail "daemons left $n files in their working directories"; }

lab_log "SSLKEYLOGFILE set: the agent writes its secrets there, mode 0600"
KL=$LAB/keys/agent.keys
mkdir -p "$LAB/keys"
lab_start relay
lab_start connector
SSLKEYLOGFILE=$KL lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'
out=$(lab_in_agent curl -sS --max-time 10 http://wiki.corp.internal/hello.txt) || lab_fail "curl (keylog)"
[ "$out" = "hello from wiki" ] || lab_fail "curl got '$out'"
lab_stop agent TERM
[ -f "$KL" ] || lab_fail "no key log at SSLKEYLOGFILE"
mode=$(stat -c %a "$KL")
[ "$mode" = 600 ] || lab_fail "key log mode $mode, want 600"
grep -q "^CLIENT_TRAFFIC_SECRET_0 " "$KL" || lab_fail "key log has no traffic secret"
grep -q "writing TLS secrets to $KL" "$LAB/agent.log" || lab_fail "no warning about the key log"
no_keylog "set"

lab_log "a symlink at SSLKEYLOGFILE is refused, the daemon runs without a key log"
ln -s "$LAB/keys/stolen" "$LAB/keys/link.keys"
SSLKEYLOGFILE=$LAB/keys/link.keys lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'
[ ! -e "$LAB/keys/stolen" ] || lab_fail "key log followed a symlink"
grep -q "cannot open SSLKEYLOGFILE" "$LAB/agent.log" || lab_fail "refusal not logged"

lab_log "a key log with loose permissions is tightened to 0600"
lab_stop agent TERM
chmod 644 "$KL"
SSLKEYLOGFILE=$KL lab_start agent
wait_for 15 "agent catalog" jq_ok agent '.catalog | length == 2'
mode=$(stat -c %a "$KL")
[ "$mode" = 600 ] || lab_fail "existing key log left at mode $mode"
lab_stop agent TERM
lab_stop connector TERM
lab_stop relay TERM
no_keylog "end"
lab_log "PASS"
