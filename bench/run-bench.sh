#!/usr/bin/env bash
# run-bench.sh — data-plane benchmark of ztnad against the plain routed path,
# in the network-namespace lab of the integration tests (test/lib/lab.sh).
#
#   sudo bench/run-bench.sh                 # RUNS=3 DUR=10
#   sudo RUNS=1 DUR=5 bench/run-bench.sh    # quick look
#
# One run builds the lab once (relay 10.77.0.1, connector 10.77.0.2, agent
# 10.77.0.3, target 10.77.1.2 behind the connector), starts iperf3 -s and a
# TCP echo server (bench/echo.py) on the target, and then, RUNS times and
# interleaved so that all paths see the same machine noise:
#   plain  the agent namespace reaches 10.77.1.2 through kernel routing
#          (route via the connector namespace, ip_forward on there);
#   ztnad  the agent namespace reaches perf.corp.internal (the agent's DNS
#          stub answers a synthetic address; TUN -> lwIP -> QUIC stream ->
#          connector -> TCP to 10.77.1.2), on the direct agent -> connector
#          QUIC session;
#   relayed the same, but with UDP between the agent (10.77.0.3) and the
#          connector (10.77.0.2) dropped by nftables in both namespaces, and
#          the agent restarted, so its session to the connector comes up
#          through the relay (inner QUIC packets in DATAGRAM frames of the
#          agent's and the connector's QUIC links to the relay) and stays
#          there; `ztnad status --json` must show it "relayed": true. After
#          the relayed measurements the rules are removed, the script notes
#          how long the agent takes to move to the direct path (hole
#          punching), and restarts the agent for a fresh direct session.
# Per path and run: iperf3 1 stream, iperf3 -P 4, 1-byte TCP request/response
# (tcprr.py) and the same request/response while an iperf3 single stream runs.
# For ztnad and relayed also: agent, connector and relay CPU (% of one core
# over each iperf3 run, /proc/PID/stat utime+stime), peak RSS (VmHWM) of each
# agent before it is restarted and of the connector after the runs, and the
# agent's RSS with FLOWS idle TCP flows open (once with the agent that
# carried the last direct run, once with a restarted one). Medians over RUNS
# are printed, relayed next to direct as ratios to direct and to plain.
# Exits 1 (after the table) when a ztnad daemon dies.
#
# env: RUNS (default 3), DUR (iperf3 seconds, default 10, at most 10),
#      FLOWS (idle flows, default 1000), OUT (results directory, default
#      /tmp/ztnad-bench: raw.tsv, table.md, iperf3 JSON, daemon logs),
#      SIGPIPE_WORKAROUND=1 (daemons start with SIGPIPE ignored, see below),
#      ZTNAD (binary, default build/ztnad). See bench/README.md.
# Needs root, iperf3, python3, jq, iproute2, nft, dig. Not part of `make test`.
# Everything it starts is stopped by PID; the namespaces are removed on exit
# (also on Ctrl-C) by lab_cleanup.
set -uo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(dirname "$HERE")
ZTNAD=${ZTNAD:-$REPO/build/ztnad} # another build (e.g. build-asan/ztnad) for diagnosis
RUNS=${RUNS:-3}
DUR=${DUR:-10}
FLOWS=${FLOWS:-1000}
OUT=${OUT:-/tmp/ztnad-bench}
RR_N=100      # request/response samples per measurement
RR_GAP=0.005  # seconds between samples
RR_LOAD_N=50  # samples while iperf3 runs (they must fit in DUR - 1.5 s)
TGT=10.77.1.2 # the target namespace (iperf3 :5201, echo :7777)
NAME=perf.corp.internal

say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() {
	echo "run-bench: $*" >&2
	exit 1
}

case $RUNS in '' | *[!0-9]*) die "RUNS must be a positive integer" ;; esac
case $DUR in '' | *[!0-9]*) die "DUR must be a positive integer (seconds)" ;; esac
case $FLOWS in '' | *[!0-9]*) die "FLOWS must be a positive integer" ;; esac
[ "$RUNS" -ge 1 ] || die "RUNS must be at least 1"
[ "$DUR" -ge 1 ] || die "DUR must be at least 1"
[ "$DUR" -le 10 ] || {
	say "DUR=$DUR capped at 10 s"
	DUR=10
}
[ -x "$ZTNAD" ] || die "$ZTNAD is missing or not executable; build it first: cd $REPO && make build"
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces): sudo $0"
PY=$(command -v python3) || die "python3 is missing"
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # no pyenv shim start-up in timings
for b in ip iperf3 jq dig timeout ss awk nft; do
	command -v "$b" >/dev/null || die "$b is missing (apt-get install iperf3 jq dnsutils iproute2 nftables)"
done
# The idle-flow test holds FLOWS sockets in the client, the connector and the
# echo server; daemons and servers inherit this limit.
ulimit -n $((FLOWS * 2 + 4096)) 2>/dev/null || ulimit -n hard 2>/dev/null ||
	say "warning: could not raise the open-file limit (now $(ulimit -n))"

# shellcheck source-path=SCRIPTDIR source=../test/lib/lab.sh
. "$REPO/test/lib/lab.sh"
LAB_ROOT=$REPO
# The daemons run from a copy, so that a rebuild of build/ztnad during the
# run (the agent is restarted several times) cannot mix two builds.
{ mkdir -p "$OUT" && cp "$ZTNAD" "$OUT/ztnad.bin"; } || die "cannot copy $ZTNAD to $OUT"
ZTNAD_SHA=$(sha256sum "$OUT/ztnad.bin" | cut -c1-12)
lab_init "$OUT/ztnad.bin"

# ---------- our own processes (clients), stopped by PID ----------
BENCH_PIDS=""
CLEANING=0
bench_cleanup() {
	local rc=${1:-$?} p
	[ "$CLEANING" = 1 ] && return
	CLEANING=1
	trap - INT TERM
	# timeout(1) forwards TERM to the command it runs; KILL would orphan it.
	for p in $BENCH_PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $BENCH_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -d "${LAB:-}" ]; then
		mkdir -p "$OUT/logs"
		cp "$LAB"/*.log "$LAB"/*.ini "$OUT/logs/" 2>/dev/null
	fi
	(exit "$rc")
	lab_cleanup # kills the daemons and servers (LAB_PIDS), deletes the namespaces, exits
}
trap 'bench_cleanup' EXIT
trap 'say "interrupted"; bench_cleanup 130' INT
trap 'bench_cleanup 143' TERM

# bg_start FILE CMD...: runs CMD in the background with output to FILE and
# sets BG_PID. bg_wait PID: waits for it (a trapped signal interrupts wait).
bg_start() {
	local f=$1
	shift
	"$@" >"$f" 2>&1 &
	BG_PID=$!
	BENCH_PIDS="$BENCH_PIDS $BG_PID"
}
bg_wait() {
	local st=0
	wait "$1" || st=$?
	BENCH_PIDS=$(echo "$BENCH_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
	return $st
}
bg_run() { # FILE CMD...: foreground-like, but interruptible
	bg_start "$@"
	bg_wait "$BG_PID"
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime+stime
hostbusy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
now() { date +%s.%N; }
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; } # PID FIELD -> kB
HZ=$(getconf CLK_TCK)
rm -rf "$OUT/json" "$OUT/logs"
mkdir -p "$OUT/json" || die "cannot create $OUT"
RAW=$OUT/raw.tsv
: >"$RAW"
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; } # path run metric value
TNS=$(lab_ns target)
ANS=$(lab_ns agent)
CNS=$(lab_ns conn)
# check_alive PHASE: when a daemon has exited, records which one, how (exit
# status or signal) and when; later ztnad measurements are skipped and the
# script exits 1 after the report.
ZT_DEAD=""
check_alive() {
	local role pid st
	[ -z "$ZT_DEAD" ] || return 1
	for role in relay connector agent; do
		pid=$(lab_pid "$role")
		kill -0 "$pid" 2>/dev/null && continue
		st=0
		wait "$pid" 2>/dev/null || st=$?
		LAB_PIDS=$(echo "$LAB_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
		[ "$st" -gt 128 ] && st="$st (signal $((st - 128)), $(kill -l $((st - 128)) 2>/dev/null))"
		ZT_DEAD="the $role (pid $pid) exited with status $st during $1"
		say "ERROR: $ZT_DEAD; the remaining ztnad measurements are skipped"
		echo "--- $role.log (last 15 lines)" >&2
		tail -n 15 "$LAB/$role.log" >&2
		return 1
	done
}

# ---------- lab ----------
# Anything else running on the machine skews the figures: note it.
OTHER_NS=$(ip netns list | awk '{print $1}' | grep -cv "^zt$LAB_ID-")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average at start: $LOAD0; other network namespaces on the host: $OTHER_NS"
[ "$OTHER_NS" -eq 0 ] || say "warning: other network namespaces exist (a concurrent test run?); figures may be disturbed"
say "machine: nproc=$(nproc), $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
say "RUNS=$RUNS DUR=${DUR}s FLOWS=$FLOWS; $(iperf3 --version | head -n 1); ztnad $ZTNAD (copied, sha256 $ZTNAD_SHA...); results in $OUT"
lab_pki
lab_conf
lab_target
cat >>"$LAB/connector.ini" <<'EOF'

# Added by bench/run-bench.sh: iperf3 and the TCP echo on the target.
[service perf]
hostname = perf.corp.internal
ports = 5201, 7777
protocol = tcp
allow = group:engineering
target = 10.77.1.2
EOF

lab_bg "$TNS" iperf3 iperf3 -s -B "$TGT" -p 5201
lab_bg "$TNS" echo "$PY" "$HERE/echo.py" "$TGT" 7777
srv_up() { ip netns exec "$TNS" ss -Hltn "sport = :$1" | grep -q .; }
wait_for 10 "iperf3 server on $TGT:5201" srv_up 5201
wait_for 10 "echo server on $TGT:7777" srv_up 7777

# Plain routed path (bench only): agent -> connector namespace -> target.
ip -n "$ANS" route add 10.77.1.0/24 via 10.77.0.2 || lab_fail "route in the agent namespace"
ip netns exec "$CNS" sysctl -qw net.ipv4.ip_forward=1 || lab_fail "ip_forward in the connector namespace"
wait_for 10 "plain path to $TGT:7777" ip netns exec "$ANS" timeout 5 "$PY" "$HERE/tcprr.py" "$TGT" 7777 1 0

# SIGPIPE_WORKAROUND=1 starts the daemons with SIGPIPE ignored (an ignored
# signal stays ignored across exec). Builds before commit ae0696f did not
# ignore SIGPIPE, and their connector died of it when a target reset a
# connection it was writing to. The default measures ztnad as it is.
[ "${SIGPIPE_WORKAROUND:-0}" = 1 ] && trap '' PIPE
lab_start relay
lab_start connector
lab_start agent
trap - PIPE
resolves() { ip netns exec "$ANS" dig +short +time=1 +tries=1 "$NAME" | grep -q '^100\.'; }
wait_for 20 "$NAME resolving through the agent's DNS stub" resolves
ADDR=$(ip netns exec "$ANS" dig +short +time=1 +tries=1 "$NAME" | head -n 1)
say "$NAME = $ADDR (synthetic); agent pid $(lab_pid agent), connector pid $(lab_pid connector)"
wait_for 15 "ztnad path to $NAME:7777" ip netns exec "$ANS" timeout 5 "$PY" "$HERE/tcprr.py" "$NAME" 7777 1 0
sigpipe() { # PID -> "ignored" or "default" (signal 13 = bit 12 of SigIgn)
	local m
	m=$(awk '/^SigIgn:/ {print $2}' "/proc/$1/status" 2>/dev/null)
	[ -n "$m" ] || { echo NA; return; }
	if (((0x$m >> 12) & 1)); then echo ignored; else echo default; fi
}
rec ztnad 0 sigpipe "$(sigpipe "$(lab_pid connector)")"
rec ztnad 0 sigpipe_workaround "${SIGPIPE_WORKAROUND:-0}"
say "daemons' SIGPIPE disposition: $(sigpipe "$(lab_pid connector)") (SIGPIPE_WORKAROUND=${SIGPIPE_WORKAROUND:-0})"
rec ztnad 0 rss_start_kb "$(kb "$(lab_pid agent)" VmRSS)"
rec ztnad 0 crss_start_kb "$(kb "$(lab_pid connector)" VmRSS)"
rec ztnad 0 tun_mtu "$(ip -n "$ANS" -o link show | awk '/POINTOPOINT/ {for (i = 1; i < NF; i++) if ($i == "mtu") print $(i + 1)}' | head -n 1)"

# ---------- measurements ----------
# iperf_once PATH RUN TAG STREAMS HOST
iperf_once() {
	local p=$1 r=$2 tag=$3 n=$4 host=$5 j a0 c0 y0 h0 t0 t1 el err
	j=$OUT/json/$p.$r.$tag.json
	a0=$(ticks "$(lab_pid agent)")
	c0=$(ticks "$(lab_pid connector)")
	y0=$(ticks "$(lab_pid relay)")
	h0=$(hostbusy)
	t0=$(now)
	bg_run "$j" timeout $((DUR + 20)) ip netns exec "$ANS" \
		iperf3 -c "$host" -p 5201 -t "$DUR" -P "$n" -J --connect-timeout 5000
	t1=$(now)
	el=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
	err=$(jq -r '.error // empty' "$j" 2>/dev/null)
	if [ -n "$err" ] || ! jq -e '.end.sum_received.bits_per_second' "$j" >/dev/null 2>&1; then
		say "$p run $r $tag: iperf3 failed: ${err:-$(head -c 300 "$j")}"
		rec "$p" "$r" "${tag}_mbps" NA
		return 1
	fi
	rec "$p" "$r" "${tag}_mbps" "$(jq -r '.end.sum_received.bits_per_second / 1e6' "$j")"
	rec "$p" "$r" "${tag}_retr" "$(jq -r '.end.sum_sent.retransmits // 0' "$j")"
	if [ "$n" -gt 1 ]; then # fairness: the slowest and the fastest stream
		rec "$p" "$r" "${tag}_smin" "$(jq -r '[.end.streams[].receiver.bits_per_second] | min / 1e6' "$j")"
		rec "$p" "$r" "${tag}_smax" "$(jq -r '[.end.streams[].receiver.bits_per_second] | max / 1e6' "$j")"
	fi
	rec "$p" "$r" "${tag}_host" "$(awk -v a="$h0" -v b="$(hostbusy)" -v hz="$HZ" -v el="$el" 'BEGIN {print (b - a) / hz / el}')"
	if [ "$p" != plain ]; then
		rec "$p" "$r" "${tag}_cpu_agent" "$(awk -v a="$a0" -v b="$(ticks "$(lab_pid agent)")" -v hz="$HZ" -v el="$el" 'BEGIN {print (b - a) * 100 / hz / el}')"
		rec "$p" "$r" "${tag}_cpu_conn" "$(awk -v a="$c0" -v b="$(ticks "$(lab_pid connector)")" -v hz="$HZ" -v el="$el" 'BEGIN {print (b - a) * 100 / hz / el}')"
		rec "$p" "$r" "${tag}_cpu_relay" "$(awk -v a="$y0" -v b="$(ticks "$(lab_pid relay)")" -v hz="$HZ" -v el="$el" 'BEGIN {print (b - a) * 100 / hz / el}')"
	fi
	say "$p run $r $tag: $(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$j") Mbit/s"
}

# rr_once PATH RUN TAG HOST SAMPLES: 1-byte TCP request/response.
rr_once() {
	local p=$1 r=$2 tag=$3 host=$4 n=$5 f out
	f=$LAB/rr.$p.$r.$tag.out
	if bg_run "$f" timeout 30 ip netns exec "$ANS" "$PY" "$HERE/tcprr.py" "$host" 7777 "$n" "$RR_GAP"; then
		out=$(tail -n 1 "$f")
		rec "$p" "$r" "${tag}_avg" "${out% *}"
		rec "$p" "$r" "${tag}_p50" "${out#* }"
		say "$p run $r $tag: avg/p50 $out ms"
	else
		say "$p run $r $tag: tcprr failed: $(tail -n 3 "$f" | tr '\n' ' ')"
		rec "$p" "$r" "${tag}_avg" NA
		rec "$p" "$r" "${tag}_p50" NA
	fi
}

# load_rr PATH RUN HOST: request/response while an iperf3 single stream runs.
load_rr() {
	local p=$1 r=$2 host=$3 j ipid
	j=$OUT/json/$p.$r.load.json
	bg_start "$j" timeout $((DUR + 20)) ip netns exec "$ANS" \
		iperf3 -c "$host" -p 5201 -t "$DUR" -P 1 -J --connect-timeout 5000
	ipid=$BG_PID
	sleep 1.5 # past slow start
	rr_once "$p" "$r" rrload "$host" "$RR_LOAD_N"
	kill -0 "$ipid" 2>/dev/null || say "$p run $r: iperf3 load ended before the request/response finished"
	bg_wait "$ipid"
	rec "$p" "$r" load_mbps "$(jq -r '.end.sum_received.bits_per_second / 1e6 // "NA"' "$j" 2>/dev/null || echo NA)"
}

# ---------- the relayed path ----------
# block_direct / unblock_direct: UDP between the agent and the connector is
# dropped in both namespaces (both directions), so that only the paths
# through the relay (10.77.0.1) work. The tables go with the namespaces.
BLOCKED=0
block_direct() {
	ip netns exec "$CNS" nft -f - <<'NFT' || return 1
table inet ztbench {
	chain in { type filter hook input priority filter; policy accept;
		ip saddr 10.77.0.3 meta l4proto udp counter drop
	}
	chain out { type filter hook output priority filter; policy accept;
		ip daddr 10.77.0.3 meta l4proto udp counter drop
	}
}
NFT
	ip netns exec "$ANS" nft -f - <<'NFT' || return 1
table inet ztbench {
	chain in { type filter hook input priority filter; policy accept;
		ip saddr 10.77.0.2 meta l4proto udp counter drop
	}
	chain out { type filter hook output priority filter; policy accept;
		ip daddr 10.77.0.2 meta l4proto udp counter drop
	}
}
NFT
	BLOCKED=1
}
nft_drops() { # NS -> packets dropped by the ztbench rules
	ip netns exec "$1" nft list table inet ztbench 2>/dev/null |
		awk '/counter packets/ {for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1)} END {print n + 0}'
}
unblock_direct() {
	ip netns exec "$CNS" nft delete table inet ztbench 2>/dev/null
	ip netns exec "$ANS" nft delete table inet ztbench 2>/dev/null
	BLOCKED=0
}
# The agent's session to the connector (there is one connector).
sess_relayed() { jq_ok agent '(.sessions | length) > 0 and all(.sessions[]; .relayed == true and .state == "up")'; }
sess_direct() { jq_ok agent '(.sessions | length) > 0 and all(.sessions[]; .relayed == false and .state == "up")'; }
sess_info() { # one line: connector state path why relayed upgrades fallbacks rtt_ms
	lab_status agent | jq -r '[.sessions[] | "\(.connector) \(.state) path=\(.path) why=\(.why) relayed=\(.relayed) upgrades=\(.upgrades) fallbacks=\(.fallbacks) rtt_ms=\(.rtt_ms)"] | join("; ")' 2>/dev/null
}
relay_drops() { # total of the relay's .relayed.drops counters, or NA
	lab_status relay | jq -r '[.relayed.drops // {} | .[]] | add // 0' 2>/dev/null || echo NA
}
# poll SECONDS COMMAND...: like wait_for, but returns 1 instead of failing
# the whole run; sets POLL_S to the seconds it took.
poll() {
	local n=0 max=$(($1 * 10)) t0
	shift
	t0=$(now)
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -le $max ] || return 1
		sleep 0.1
	done
	POLL_S=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}')
}
# agent_restart PATH RUN: records the agent's peak RSS (as PATH, RUN) and
# its exit status on SIGTERM, then starts a fresh one and waits until
# perf.corp.internal answers through it.
agent_restart() {
	local p=$1 r=$2 pid st=0
	pid=$(lab_pid agent)
	rec "$p" "$r" hwm_agent_kb "$(kb "$pid" VmHWM)"
	kill -TERM "$pid"
	wait "$pid" || st=$?
	LAB_PIDS=$(echo "$LAB_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
	rec "$p" "$r" agent_term_status "$st"
	[ "$st" = 0 ] || say "warning: the agent exited with status $st on SIGTERM (after $p run $r)"
	[ "${SIGPIPE_WORKAROUND:-0}" = 1 ] && trap '' PIPE
	lab_start agent
	trap - PIPE
	poll 20 resolves && poll 15 ip netns exec "$ANS" timeout 5 "$PY" "$HERE/tcprr.py" "$NAME" 7777 1 0
}
# to_relayed RUN: blocks the direct path, restarts the agent (the old one
# carried direct run RUN-1), and checks that its session is relayed.
# Returns 1 (the relayed run is skipped) if not.
to_relayed() {
	local r=$1
	block_direct || {
		say "relayed run $r: nft failed; skipped"
		return 1
	}
	agent_restart ztnad $((r - 1)) || {
		say "relayed run $r: no path to $NAME through the new agent: $(sess_info)"
		return 1
	}
	if ! poll 15 sess_relayed; then
		say "relayed run $r: the agent's session is not relayed: $(sess_info)"
		return 1
	fi
	rec relayed "$r" session "$(sess_info)"
	rec relayed "$r" relay_drops0 "$(relay_drops)"
	say "relayed run $r: session $(sess_info)"
}
# to_direct RUN: removes the rules, notes how long the agent takes to move
# its session to the direct path by itself, then restarts it anyway, so that
# every direct run starts on a fresh direct session.
to_direct() {
	local r=$1
	rec relayed "$r" relay_drops1 "$(relay_drops)"
	rec relayed "$r" session_end "$(sess_info)"
	rec relayed "$r" nft_drops "$(($(nft_drops "$CNS") + $(nft_drops "$ANS")))"
	unblock_direct
	if check_alive "relayed run $r" && poll 30 sess_direct; then
		rec relayed "$r" upgrade_s "$POLL_S"
		say "relayed run $r: direct path again after the rules went: ${POLL_S} s ($(sess_info))"
	else
		rec relayed "$r" upgrade_s NA
		say "relayed run $r: still not direct 30 s after the rules went: $(sess_info)"
	fi
	check_alive "relayed run $r" || return 1
	agent_restart relayed "$r" || {
		say "no path to $NAME through the new agent after relayed run $r"
		return 1
	}
	poll 15 sess_direct || say "warning: the fresh agent's session is not direct: $(sess_info)"
}

# measure PATH RUN HOST: one round of the measurements on one path.
measure() {
	local p=$1 r=$2 host=$3
	say "== run $r/$RUNS, $p ($host)"
	iperf_once "$p" "$r" st 1 "$host"
	sleep 1
	[ "$p" != plain ] && ! check_alive "run $r, $p, 1 stream" && return 1
	iperf_once "$p" "$r" p4 4 "$host"
	sleep 1
	[ "$p" != plain ] && ! check_alive "run $r, $p, 4 streams" && return 1
	rr_once "$p" "$r" rr "$host" "$RR_N"
	load_rr "$p" "$r" "$host"
	sleep 1
	[ "$p" = plain ] || check_alive "run $r, $p, request/response"
}

# Each round: plain, relayed, ztnad (direct, on a fresh agent). The agent
# that carried the last direct round is the one the first idle-flow test
# uses.
for r in $(seq 1 "$RUNS"); do
	measure plain "$r" "$TGT"
	check_alive "run $r" || continue
	if to_relayed "$r"; then
		measure relayed "$r" "$NAME" || continue
	fi
	to_direct "$r" || continue
	sess_direct || say "warning: run $r: the agent's session is not direct: $(sess_info)"
	rec ztnad "$r" session "$(sess_info)"
	measure ztnad "$r" "$NAME" || continue
done
[ "$BLOCKED" = 0 ] || unblock_direct

rec ztnad "$RUNS" hwm_agent_kb "$(kb "$(lab_pid agent)" VmHWM)"
rec relayed 0 relay_drops_json "$(lab_status relay | jq -c '.relayed.drops' 2>/dev/null || echo NA)"
rec relayed 0 relay_forwarded "$(lab_status relay | jq -r '.relayed.forwarded' 2>/dev/null || echo NA)"
rec ztnad 0 hwm_conn_kb "$(kb "$(lab_pid connector)" VmHWM)"

# ---------- idle flows ----------
# idle_flows KEY: FLOWS connections through ztnad, each checked with a 1-byte
# echo, then held open; the daemons' VmRSS before and with them.
idle_flows() {
	local k=$1 f ipid n summary
	say "== $FLOWS idle flows to $NAME:7777 ($k)"
	rec "$k" 0 rss_before_kb "$(kb "$(lab_pid agent)" VmRSS)"
	rec "$k" 0 crss_before_kb "$(kb "$(lab_pid connector)" VmRSS)"
	f=$LAB/$k.out
	bg_start "$f" ip netns exec "$ANS" "$PY" "$HERE/idleflows.py" "$NAME" 7777 "$FLOWS"
	ipid=$BG_PID
	n=0
	until grep -q '^READY' "$f" 2>/dev/null; do
		kill -0 "$ipid" 2>/dev/null || break
		n=$((n + 1))
		[ $n -le 1800 ] || break # 180 s
		sleep 0.1
	done
	if grep -q '^READY' "$f"; then
		sleep 2 # let the daemons settle
		summary=$(grep '^connected=' "$f")
		say "idle flows: $summary"
		rec "$k" 0 summary "$summary"
		rec "$k" 0 connected "$(echo "$summary" | grep -o '^connected=[0-9]*' | cut -d= -f2)"
		rec "$k" 0 rss_kb "$(kb "$(lab_pid agent)" VmRSS)"
		rec "$k" 0 crss_kb "$(kb "$(lab_pid connector)" VmRSS)"
		rec "$k" 0 agent_flows "$(lab_status agent | jq '.flows | length' 2>/dev/null || echo NA)"
		rec "$k" 0 conn_flows "$(lab_status connector | jq '[.agents[].flows[]] | length' 2>/dev/null || echo NA)"
	else
		say "idle flows: not ready: $(tr '\n' ' ' <"$f" | head -c 400)"
		rec "$k" 0 summary "not ready: $(tr '\n\t' '  ' <"$f" | head -c 200)"
	fi
	kill -TERM "$ipid" 2>/dev/null
	bg_wait "$ipid"
	n=0
	until closed; do
		n=$((n + 1))
		[ $n -le 150 ] || {
			say "warning: agent still lists $(lab_status agent | jq '.flows | length') flows 15 s after the client exited"
			break
		}
		sleep 0.1
	done
}
closed() { [ "$(lab_status agent | jq '.flows | length')" = 0 ]; }

# A fresh agent process, so that the idle-flow figure is not the heap that
# the bulk transfers left behind. Records the agent's exit status on SIGTERM.
restart_agent() {
	local pid st=0
	pid=$(lab_pid agent)
	kill -TERM "$pid"
	wait "$pid" || st=$?
	LAB_PIDS=$(echo "$LAB_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
	rec ztnad 0 agent_term_status "$st"
	[ "$st" = 0 ] || say "warning: the agent exited with status $st on SIGTERM"
	[ "${SIGPIPE_WORKAROUND:-0}" = 1 ] && trap '' PIPE
	lab_start agent
	trap - PIPE
	wait_for 20 "$NAME resolving (new agent)" resolves
	wait_for 15 "ztnad path to $NAME:7777 (new agent)" ip netns exec "$ANS" timeout 5 "$PY" "$HERE/tcprr.py" "$NAME" 7777 1 0
	rec idle2 0 rss_start_kb "$(kb "$(lab_pid agent)" VmRSS)"
}

if check_alive "the runs"; then
	idle_flows idle1
	check_alive "the idle-flow test" && restart_agent && idle_flows idle2
	check_alive "the idle-flow test (new agent)"
fi

for role in agent connector; do
	rec ztnad 0 "loglines_$role" "$(grep -c . "$LAB/$role.log")"
	rec ztnad 0 "logwarn_$role" "$(grep -cE '^[^ ]+ +(warn|error) ' "$LAB/$role.log")"
done

# ---------- report ----------
med() { # PATH METRIC -> median over runs, NA if none
	awk -F'\t' -v p="$1" -v m="$2" '$1 == p && $3 == m && $2 > 0 && $4 != "NA" {print $4}' "$RAW" | sort -g |
		awk '{a[NR] = $1} END {if (!NR) {print "NA"; exit} print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}
rng() { # PATH METRIC DECIMALS -> min–max
	awk -F'\t' -v p="$1" -v m="$2" '$1 == p && $3 == m && $2 > 0 && $4 != "NA" {print $4}' "$RAW" | sort -g |
		awk -v d="$3" 'NR == 1 {lo = $1} {hi = $1} END {if (NR) printf "%.*f–%.*f", d, lo, d, hi; else print "NA"}'
}
get() { awk -F'\t' -v p="$1" -v m="$2" '$1 == p && $3 == m {v = $4} END {print (v == "" ? "NA" : v)}' "$RAW"; }
fmt() { # DECIMALS VALUE
	case $2 in NA | '') echo NA ;; *) printf "%.${1}f" "$2" ;; esac
}
mb() { case $1 in NA | '') echo NA ;; *) awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}' ;; esac; }
ratio() {
	case "$1$2" in *NA* | '') echo — ;; *) awk -v a="$1" -v b="$2" 'BEGIN {if (a == 0) print "—"; else printf "%.2f", b / a}' ;; esac
}
meets() { # VALUE OP LIMIT -> "met" / "MISSED"
	case $1 in NA | '') echo "not measured" ;; *) awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {ok = (op == ">=" ? v >= l : v < l); print (ok ? "met" : "MISSED")}' ;; esac
}
rmeets() { # RATIO OP LIMIT: like meets, for a ratio (— when not measured)
	case $1 in — | NA | '') echo "not measured" ;; *) meets "$1" "$2" "$3" ;; esac
}
perg() { # CORE-% MBIT/S -> core-% per Gbit/s
	case "$1$2" in *NA* | '') echo NA ;; *) awk -v c="$1" -v m="$2" 'BEGIN {if (m == 0) print "NA"; else printf "%.0f", c / (m / 1000)}' ;; esac
}
sum() { awk 'BEGIN {s = 0; for (i = 1; i < ARGC; i++) {if (ARGV[i] == "NA" || ARGV[i] == "") {print "NA"; exit} s += ARGV[i]} print s}' "$@"; }
row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 |"; }

report() {
	local pst zst pp4 zp4 prr zrr pld zld ca cc ha hc i1 i2 b1 b2 c1 c2 k
	local rst rp4 rrr rld ra rc ry zy rha zg rg
	pst=$(med plain st_mbps) zst=$(med ztnad st_mbps) rst=$(med relayed st_mbps)
	pp4=$(med plain p4_mbps) zp4=$(med ztnad p4_mbps) rp4=$(med relayed p4_mbps)
	prr=$(med plain rr_p50) zrr=$(med ztnad rr_p50) rrr=$(med relayed rr_p50)
	pld=$(med plain rrload_p50) zld=$(med ztnad rrload_p50) rld=$(med relayed rrload_p50)
	ca=$(med ztnad st_cpu_agent) cc=$(med ztnad st_cpu_conn) zy=$(med ztnad st_cpu_relay)
	ra=$(med relayed st_cpu_agent) rc=$(med relayed st_cpu_conn) ry=$(med relayed st_cpu_relay)
	zg=$(perg "$(sum "$ca" "$cc" "$zy")" "$zst") rg=$(perg "$(sum "$ra" "$rc" "$ry")" "$rst")
	ha=$(mb "$(med ztnad hwm_agent_kb)") hc=$(mb "$(get ztnad hwm_conn_kb)") rha=$(mb "$(med relayed hwm_agent_kb)")
	i1=$(mb "$(get idle1 rss_kb)") b1=$(mb "$(get idle1 rss_before_kb)") c1=$(get idle1 connected)
	i2=$(mb "$(get idle2 rss_kb)") b2=$(mb "$(get idle2 rss_before_kb)") c2=$(get idle2 connected)
	echo "ztnad data-plane benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'); nproc $(nproc), $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
	echo "RUNS=$RUNS (median), DUR=${DUR}s per iperf3 run, RR = $RR_N x 1-byte TCP request/response (tcprr.py; $RR_LOAD_N under load), agent TUN MTU $(get ztnad tun_mtu)"
	echo "Load average at start / end: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg); other network namespaces at start: $OTHER_NS"
	echo "ztnad binary: $ZTNAD, sha256 $ZTNAD_SHA... (the daemons run from a copy taken at the start)"
	echo "ztnad daemons' SIGPIPE disposition: $(get ztnad sigpipe); SIGPIPE_WORKAROUND=$(get ztnad sigpipe_workaround)$([ "$(get ztnad sigpipe_workaround)" = 1 ] && echo " (ignored by the script's doing, not necessarily ztnad's own)")"
	echo
	row metric plain "ztnad direct" "ztnad relayed" "direct/plain" "relayed/direct" "relayed/plain" "target (issue)"
	echo "|---|---:|---:|---:|---:|---:|---:|---|"
	row "1-stream Mbit/s" "$(fmt 0 "$pst")" "$(fmt 0 "$zst")" "$(fmt 0 "$rst")" "$(ratio "$pst" "$zst")" "$(ratio "$zst" "$rst")" "$(ratio "$pst" "$rst")" \
		"direct >= 1000: $(meets "$zst" ">=" 1000); relayed >= 0.6x direct: $(rmeets "$(ratio "$zst" "$rst")" ">=" 0.6)"
	row "4-stream Mbit/s" "$(fmt 0 "$pp4")" "$(fmt 0 "$zp4")" "$(fmt 0 "$rp4")" "$(ratio "$pp4" "$zp4")" "$(ratio "$zp4" "$rp4")" "$(ratio "$pp4" "$rp4")" \
		"relayed >= 0.6x direct: $(rmeets "$(ratio "$zp4" "$rp4")" ">=" 0.6)"
	row "1-byte RR ms (p50)" "$(fmt 3 "$prr")" "$(fmt 3 "$zrr")" "$(fmt 3 "$rrr")" "$(ratio "$prr" "$zrr")" "$(ratio "$zrr" "$rrr")" "$(ratio "$prr" "$rrr")" "direct < 0.2: $(meets "$zrr" "<" 0.2)"
	row "RR under load ms (p50, 1 iperf3 stream running)" "$(fmt 3 "$pld")" "$(fmt 3 "$zld")" "$(fmt 3 "$rld")" "$(ratio "$pld" "$zld")" "$(ratio "$zld" "$rld")" "$(ratio "$pld" "$rld")" ""
	row "agent CPU % of one core (1-stream run)" — "$(fmt 0 "$ca")" "$(fmt 0 "$ra")" — "$(ratio "$ca" "$ra")" — ""
	row "connector CPU % of one core (1-stream run)" — "$(fmt 0 "$cc")" "$(fmt 0 "$rc")" — "$(ratio "$cc" "$rc")" — ""
	row "relay CPU % of one core (1-stream run)" — "$(fmt 0 "$zy")" "$(fmt 0 "$ry")" — — — ""
	row "relay core-% per Gbit/s (1 stream)" — "$(perg "$zy" "$zst")" "$(perg "$ry" "$rst")" — — — ""
	row "agent+connector+relay core-% per Gbit/s (1 stream)" — "$zg" "$rg" — "$(ratio "$zg" "$rg")" — ""
	row "agent peak RSS MB (VmHWM, median over the agents)" — "$ha" "$rha" — — — ""
	row "connector peak RSS MB (VmHWM, after all runs)" — "$hc" — — — — ""
	for k in 1 2; do
		if [ $k = 1 ]; then
			set -- "$i1" "$b1" "$c1" "agent that carried the runs"
		else
			set -- "$i2" "$b2" "$c2" "fresh agent"
		fi
		row "agent RSS with $FLOWS idle flows MB (VmRSS, $4)" — \
			"$1 ($(case "$1$2" in *NA*) echo NA ;; *) awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f", a - b}' ;; esac); ${3:-NA} of $FLOWS connected)" — — — — \
			"< 32 with 1000 flows: $(if [ "$3" = 1000 ] && [ "$FLOWS" = 1000 ]; then meets "$1" "<" 32; else echo "not measured: ${3:-NA} of $FLOWS flows open"; fi)"
	done
	echo
	echo "Details (median; ranges min–max over $RUNS runs; CPU = % of one core over the iperf3 run; host = busy cores of $(nproc)):"
	echo
	echo "| path | 1-stream range | 4-stream range | 4-stream: slowest / fastest stream | retransmits 1s / 4s | RR p50 range (avg) ms | RR under load p50 range (avg) ms | iperf3 Mbit/s during RR under load | host cores busy 1s / 4s |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for p in plain ztnad relayed; do
		echo "| $p | $(rng $p st_mbps 0) | $(rng $p p4_mbps 0) | $(fmt 0 "$(med $p p4_smin)") / $(fmt 0 "$(med $p p4_smax)") |" \
			"$(fmt 0 "$(med $p st_retr)") / $(fmt 0 "$(med $p p4_retr)") |" \
			"$(rng $p rr_p50 3) ($(fmt 3 "$(med $p rr_avg)")) | $(rng $p rrload_p50 3) ($(fmt 3 "$(med $p rrload_avg)")) | $(fmt 0 "$(med $p load_mbps)") |" \
			"$(fmt 2 "$(med $p st_host)") / $(fmt 2 "$(med $p p4_host)") |"
	done
	echo
	echo "- ztnad direct CPU 1 stream / 4 streams: agent $(fmt 0 "$ca") / $(fmt 0 "$(med ztnad p4_cpu_agent)") %," \
		"connector $(fmt 0 "$cc") / $(fmt 0 "$(med ztnad p4_cpu_conn)") %, relay $(fmt 0 "$zy") / $(fmt 0 "$(med ztnad p4_cpu_relay)") %;" \
		"agent+connector core-% per Gbit/s (1 stream): $(perg "$(sum "$ca" "$cc")" "$zst")"
	echo "- ztnad relayed CPU 1 stream / 4 streams: agent $(fmt 0 "$ra") / $(fmt 0 "$(med relayed p4_cpu_agent)") %," \
		"connector $(fmt 0 "$rc") / $(fmt 0 "$(med relayed p4_cpu_conn)") %, relay $(fmt 0 "$ry") / $(fmt 0 "$(med relayed p4_cpu_relay)") %;" \
		"agent+connector core-% per Gbit/s (1 stream): $(perg "$(sum "$ra" "$rc")" "$rst"), relay: $(perg "$ry" "$rst")"
	echo "- Relayed runs (per run): $(awk -F'\t' '$1 == "relayed" && $3 == "session" {printf "%s%s: %s", (n++ ? "; " : ""), $2, $4}' "$RAW")"
	echo "- Relay drops (sum of .relayed.drops in the relay's status) before / after each relayed run: $(
		awk -F'\t' '$1 == "relayed" && ($3 == "relay_drops0" || $3 == "relay_drops1") {v[$2, $3] = $4; if (!($2 in r)) o[++m] = $2; r[$2] = 1}
			END {for (i = 1; i <= m; i++) printf "%srun %s %s / %s", (i > 1 ? ", " : ""), o[i], v[o[i], "relay_drops0"], v[o[i], "relay_drops1"]}' "$RAW"
	); after all runs: $(get relayed relay_drops_json); relayed packets forwarded by the relay: $(get relayed relay_forwarded)"
	echo "- UDP packets dropped by the bench's nftables rules per relayed run (punching probes, direct attempts): $(
		awk -F'\t' '$1 == "relayed" && $3 == "nft_drops" {printf "%s%s", (n++ ? ", " : ""), $4}' "$RAW")"
	echo "- Seconds until the agent moved to the direct path by itself after the rules were removed (hole punching; then restarted anyway): $(
		awk -F'\t' '$1 == "relayed" && $3 == "upgrade_s" {printf "%s%s", (n++ ? ", " : ""), $4}' "$RAW")"
	echo "- RSS: agent $(mb "$(get ztnad rss_start_kb)") MB at start, $b1 MB after the runs (0 flows), $i1 MB with the idle flows;" \
		"fresh agent $(mb "$(get idle2 rss_start_kb)") MB at start, $b2 MB before, $i2 MB with the idle flows." \
		"Connector $(mb "$(get ztnad crss_start_kb)") MB at start, $(mb "$(get idle1 crss_before_kb)") MB after the runs," \
		"$(mb "$(get idle1 crss_kb)") / $(mb "$(get idle2 crss_kb)") MB with the idle flows (1st / 2nd test)"
	echo "- Idle flows, agent that carried the runs: $(get idle1 summary); flows in agent / connector status: $(get idle1 agent_flows) / $(get idle1 conn_flows)"
	echo "- Idle flows, fresh agent: $(get idle2 summary); flows in agent / connector status: $(get idle2 agent_flows) / $(get idle2 conn_flows)"
	echo "- Agent exit status on SIGTERM, each restart in order (path switches, then the idle-flow test): $(
		awk -F'\t' '$3 == "agent_term_status" {printf "%s%s", (n++ ? " " : ""), $4}' "$RAW")"
	[ -z "$ZT_DEAD" ] || echo "- **ztnad FAILED: $ZT_DEAD; the ztnad measurements after that point are missing (NA).**"
	echo "- Daemon logs: agent $(get ztnad loglines_agent) lines ($(get ztnad logwarn_agent) at level warn or error), connector $(get ztnad loglines_connector) lines ($(get ztnad logwarn_connector) at warn or error); most frequent warn/error lines (numbers as N):"
	for k in agent connector relay; do
		grep -hE '^[^ ]+ +(warn|error) ' "$LAB/$k.log" 2>/dev/null | sed -E 's/^[^ ]+ +//; s/[0-9]+/N/g' |
			sort | uniq -c | sort -rn | head -n 5 | sed "s/^ */  - $k: /; s/\([0-9]\) /\1 x /"
	done
	echo
	echo "Reference only — NOT measured in this run: peer tunnels measured earlier by someone else on the same"
	echo "2-core VM kind (../shared/notes/performance-baselines.md, 2026-11-25, median of 3 x 10 s, different"
	echo "namespaces; compare ratios, not absolute numbers; their loaded latency is iperf3's smoothed RTT):"
	echo "  plain routed veth   20020 / 44892 Mbit/s (1 / 4 streams), TCP-RR 0.045 ms, loaded 0.04 ms"
	echo "  wireguard-go        651 / 647 Mbit/s, TCP-RR 0.292 ms, 222 core-% per Gbit/s, loaded 3.1 ms"
	echo "  OpenVPN 2.6 UDP     789 / 857 Mbit/s, TCP-RR 0.182 ms, 188 core-% per Gbit/s, loaded 4.6 ms"
	echo "  socat TLS 8 KiB     3567 / 5439 Mbit/s, TCP-RR 0.227 ms, 34 core-% per Gbit/s"
	echo "  socat TLS 128 KiB   5980 / 8581 Mbit/s, TCP-RR 0.175 ms, 21 core-% per Gbit/s"
}
echo
report | tee "$OUT/table.md"
echo
echo "raw per-run data: $RAW; iperf3 JSON: $OUT/json/; daemon logs: $OUT/logs/ (copied at exit)"
if [ -n "$ZT_DEAD" ]; then
	say "FAILED: $ZT_DEAD (log: $OUT/logs/)"
	exit 1
fi
say "stopping the daemons with SIGTERM (each must exit 0)"
lab_stop agent TERM
lab_stop connector TERM
lab_stop relay TERM
