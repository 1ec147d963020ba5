# Network-namespace lab for integration tests and the demo. Source it, then
# call lab_init BIN. Three namespaces on one bridge (no NAT):
#   relay      10.77.0.1  (bridge zbr0 lives here)
#   connector  10.77.0.2
#   agent      10.77.0.3
# Everything is removed by lab_cleanup (installed as an EXIT trap): only the
# processes this lab started (by PID) and the namespaces it created.

LAB_ROOT=$(cd "$(dirname "${0}")/.." 2>/dev/null && pwd)
[ -f "$LAB_ROOT/conf/relay.ini" ] || LAB_ROOT=$(cd "$(dirname "${0}")" && cd .. && pwd)

lab_log() { echo "[$(date +%H:%M:%S)] $*"; }
lab_fail() {
	echo "FAIL: $*" >&2
	for r in relay connector agent; do
		[ -f "$LAB/$r.log" ] && { echo "--- $r.log (last 25 lines)" >&2; tail -n 25 "$LAB/$r.log" >&2; }
	done
	exit 1
}

lab_ns() { echo "zt$LAB_ID-$1"; }

lab_init() {
	BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	LAB_ID=$$
	LAB=$(mktemp -d /tmp/ztlab.XXXXXX)
	LAB_PIDS=""
	trap lab_cleanup EXIT INT TERM
	[ "$(id -u)" -eq 0 ] || { echo "lab: needs root for network namespaces" >&2; exit 1; }
	local_ns_setup
	mkdir -p "$LAB/run"
}

local_ns_setup() {
	R=$(lab_ns relay) C=$(lab_ns conn) A=$(lab_ns agent)
	for n in $R $C $A; do
		ip netns add "$n"
		ip -n "$n" link set lo up
	done
	ip -n "$R" link add zbr0 type bridge
	ip -n "$R" addr add 10.77.0.1/24 dev zbr0
	ip -n "$R" link set zbr0 up
	i=2
	for n in $C $A; do
		ip link add "zv$LAB_ID$i" type veth peer name eth0 netns "$n"
		ip link set "zv$LAB_ID$i" netns "$R"
		ip -n "$R" link set "zv$LAB_ID$i" master zbr0 up
		ip -n "$n" addr add "10.77.0.$i/24" dev eth0
		ip -n "$n" link set eth0 up
		i=$((i + 1))
	done
}

# lab_nat_init BIN [AGENT_NAT [CONNECTOR_NAT]]: like lab_init, but the
# connector and the agent each sit behind a home router of their own:
#   relay      10.77.0.1 on the public bridge
#   natc       10.77.0.2 public, 192.168.10.1 LAN; connector 192.168.10.2
#   nata       10.77.0.3 public, 192.168.20.1 LAN; agent     192.168.20.2
# A router masquerades its LAN and drops what nobody inside asked for, in
# the forward and the input hooks, as home routers do. NAT kinds: "eim"
# (the default: Linux keeps the source port, endpoint-independent
# mapping), "edm" (masquerade random: a new port per destination).
lab_nat_init() {
	BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	LAB_ID=$$
	LAB=$(mktemp -d /tmp/ztlab.XXXXXX)
	LAB_PIDS=""
	trap lab_cleanup EXIT INT TERM
	[ "$(id -u)" -eq 0 ] || { echo "lab: needs root for network namespaces" >&2; exit 1; }
	R=$(lab_ns relay)
	for n in $R $(lab_ns natc) $(lab_ns nata) $(lab_ns conn) $(lab_ns agent); do
		ip netns add "$n"
		ip -n "$n" link set lo up
	done
	ip -n "$R" link add zbr0 type bridge
	ip -n "$R" addr add 10.77.0.1/24 dev zbr0
	ip -n "$R" link set zbr0 up
	lab_router natc 2 192.168.10 conn "${3:-eim}"
	lab_router nata 3 192.168.20 agent "${2:-eim}"
	mkdir -p "$LAB/run"
}

# lab_nat_shared_init BIN: the connector and the agent on one LAN behind
# one home router (natc: 10.77.0.2 public, 192.168.10.1 inside; connector
# 192.168.10.2, agent 192.168.10.3), the relay on the public bridge.
lab_nat_shared_init() {
	BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	LAB_ID=$$
	LAB=$(mktemp -d /tmp/ztlab.XXXXXX)
	LAB_PIDS=""
	trap lab_cleanup EXIT INT TERM
	[ "$(id -u)" -eq 0 ] || { echo "lab: needs root for network namespaces" >&2; exit 1; }
	R=$(lab_ns relay)
	for n in $R $(lab_ns natc) $(lab_ns conn) $(lab_ns agent); do
		ip netns add "$n"
		ip -n "$n" link set lo up
	done
	ip -n "$R" link add zbr0 type bridge
	ip -n "$R" addr add 10.77.0.1/24 dev zbr0
	ip -n "$R" link set zbr0 up
	lab_router natc 2 192.168.10 conn eim
	# the agent joins the router's LAN through a bridge there
	rt=$(lab_ns natc)
	ip -n "$rt" link add lanbr type bridge
	ip -n "$rt" link set lanbr up
	ip -n "$rt" addr del 192.168.10.1/24 dev lan
	ip -n "$rt" link set lan master lanbr
	ip -n "$rt" addr add 192.168.10.1/24 dev lanbr
	ip link add "zs$LAB_ID" type veth peer name eth0 netns "$(lab_ns agent)"
	ip link set "zs$LAB_ID" netns "$rt"
	ip -n "$rt" link set "zs$LAB_ID" master lanbr up
	ip -n "$(lab_ns agent)" addr add 192.168.10.3/24 dev eth0
	ip -n "$(lab_ns agent)" link set eth0 up
	ip -n "$(lab_ns agent)" route add default via 192.168.10.1
	ip netns exec "$rt" nft flush table ip nat
	ip netns exec "$rt" nft add rule ip nat nat_out oifname wan masquerade
	mkdir -p "$LAB/run"
}

# lab_router NAME PUBLIC_HOST LAN_PREFIX INSIDE KIND
lab_router() {
	rt=$(lab_ns "$1") in=$(lab_ns "$4")
	ip link add "zw$LAB_ID$2" type veth peer name wan netns "$rt"
	ip link set "zw$LAB_ID$2" netns "$(lab_ns relay)"
	ip -n "$(lab_ns relay)" link set "zw$LAB_ID$2" master zbr0 up
	ip -n "$rt" addr add "10.77.0.$2/24" dev wan
	ip -n "$rt" link set wan up
	ip link add "zl$LAB_ID$2" type veth peer name eth0 netns "$in"
	ip link set "zl$LAB_ID$2" netns "$rt"
	ip -n "$rt" link set "zl$LAB_ID$2" name lan
	ip -n "$rt" addr add "$3.1/24" dev lan
	ip -n "$rt" link set lan up
	ip -n "$in" addr add "$3.2/24" dev eth0
	ip -n "$in" link set eth0 up
	ip -n "$in" route add default via "$3.1"
	ip netns exec "$rt" sysctl -qw net.ipv4.ip_forward=1
	masq=masquerade
	[ "$5" = edm ] && masq="masquerade random"
	ip netns exec "$rt" nft -f - <<NFT || lab_fail "nft in $1"
table ip nat {
	chain nat_out { type nat hook postrouting priority srcnat; oifname "wan" $masq; }
}
table inet filter {
	chain from_wan { type filter hook forward priority filter; policy accept;
		ct state established,related accept
		iifname "wan" drop
	}
	chain to_router { type filter hook input priority filter; policy accept;
		ct state established,related accept
		iifname "wan" drop
	}
}
NFT
}

# A target network behind the connector: namespace "target" at 10.77.1.2,
# the connector's side 10.77.1.1. The agent's namespace resolves through the
# agent's DNS stub (/etc/netns/NS/resolv.conf is bind-mounted by ip netns).
lab_target() {
	T=$(lab_ns target)
	ip netns add "$T"
	ip -n "$T" link set lo up
	ip link add "zt$LAB_ID" type veth peer name eth0 netns "$T"
	ip link set "zt$LAB_ID" netns "$(lab_ns conn)"
	ip -n "$(lab_ns conn)" addr add 10.77.1.1/24 dev "zt$LAB_ID"
	ip -n "$(lab_ns conn)" link set "zt$LAB_ID" up
	ip -n "$T" addr add 10.77.1.2/24 dev eth0
	ip -n "$T" link set eth0 up
	ip -n "$T" route add default via 10.77.1.1
	mkdir -p "/etc/netns/$(lab_ns agent)"
	echo "nameserver 100.64.0.2" >"/etc/netns/$(lab_ns agent)/resolv.conf"
}

# lab_bg NS LOGNAME CMD...: a helper process (server) in a namespace.
lab_bg() {
	ns=$1 name=$2
	shift 2
	ip netns exec "$ns" "$@" >>"$LAB/$name.log" 2>&1 &
	LAB_PIDS="$LAB_PIDS $!"
}

# lab_httpd TEXT: the target's web server, 10.77.1.2:80, serving $LAB/www
# (other files may be added later) with hello.txt saying TEXT; returns once
# it answers.
lab_httpd() {
	mkdir -p "$LAB/www"
	echo "$1" >"$LAB/www/hello.txt"
	lab_bg "$(lab_ns target)" http python3 "$LAB_ROOT/test/tools/httpd.py" 10.77.1.2 80 "$LAB/www"
	wait_for 10 "http server" ip netns exec "$(lab_ns target)" curl -sf -o /dev/null http://10.77.1.2/hello.txt
}

lab_in_agent() { ip netns exec "$(lab_ns agent)" "$@"; }

lab_cleanup() {
	rc=$?
	set +e
	# Sanitizer reports in any daemon's log fail the test (ASan build).
	if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
		"$LAB"/*.log 2>/dev/null; then
		grep -h -A 30 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$LAB"/*.log | head -n 60 >&2
		echo "FAIL: sanitizer report in a daemon log" >&2
		rc=1
	fi
	for p in $LAB_PIDS; do kill -KILL "$p" 2>/dev/null; done
	for p in $LAB_PIDS; do wait "$p" 2>/dev/null; done
	# TLS secrets must never reach the disk unless SSLKEYLOGFILE asks for it.
	if [ -d "$LAB/cwd" ] && find "$LAB/cwd" -name sslkeylog.log | grep -q .; then
		find "$LAB/cwd" -name sslkeylog.log -exec ls -l {} + >&2
		echo "FAIL: a daemon wrote TLS secrets to sslkeylog.log" >&2
		rc=1
	fi
	for n in $(lab_ns relay) $(lab_ns conn) $(lab_ns agent) $(lab_ns target) \
		$(lab_ns natc) $(lab_ns nata); do
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "/etc/netns/$(lab_ns agent)"
	[ -n "${LAB_KEEP:-}" ] || rm -rf "$LAB"
	trap - EXIT
	exit $rc
}

# Creates the organisation CA and one identity per role under $LAB/pki.
lab_pki() {
	P=$LAB/pki
	"$BIN" pki init-ca --org "Example Corp" --out "$P" >/dev/null || lab_fail "pki init-ca"
	"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role relay --name relay1 \
		--dns relay.ztnad.test --ip 10.77.0.1 --out "$P/relay" >/dev/null || lab_fail "pki relay"
	"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role connector --name conn1 \
		--publish-host '*.corp.internal' --publish-cidr 10.78.0.0/24 \
		--out "$P/connector" >/dev/null || lab_fail "pki connector"
	"$BIN" pki issue --ca "$P/ca.crt" --ca-key "$P/ca.key" --role agent --name alice \
		--group engineering --out "$P/agent" >/dev/null || lab_fail "pki agent"
}

# Copies the example configs, pointing the status sockets into the lab.
lab_conf() {
	for r in relay connector agent; do
		sed -e "s#^control_socket = .*#control_socket = $LAB/run/$r.sock#" \
			"$LAB_ROOT/conf/$r.ini" >"$LAB/$r.ini"
	done
}

# lab_start ROLE [CONFIG [NAME]]: starts a daemon in the role's namespace;
# NAME (default ROLE) names its log, working directory and lab_pid entry,
# for a second daemon of one role.
lab_start() {
	role=$1
	cfg=${2:-$LAB/$role.ini}
	name=${3:-$role}
	case $role in
	relay) ns=$(lab_ns relay) ;;
	connector) ns=$(lab_ns conn) ;;
	agent) ns=$(lab_ns agent) ;;
	esac
	# Each daemon runs in a fresh working directory of its own, so a file it
	# drops there (a TLS key log, a core) is seen by lab_cleanup.
	mkdir -p "$LAB/cwd/$name"
	(cd "$LAB/cwd/$name" && exec ip netns exec "$ns" "$BIN" --role "$role" --config "$cfg") \
		>>"$LAB/$name.log" 2>&1 &
	pid=$!
	LAB_PIDS="$LAB_PIDS $pid"
	eval "PID_$name=$pid"
}

lab_pid() { eval "echo \$PID_$1"; }

# lab_up N: starts the relay, the connector and the agent on the lab's
# configs, then waits until the agent's catalog lists N services.
lab_up() {
	lab_start relay
	lab_start connector
	lab_start agent
	wait_for 15 "agent catalog" jq_ok agent ".catalog | length == $1"
}

# lab_stop ROLE [SIGNAL]: signals the daemon and waits for it to exit.
lab_stop() {
	pid=$(lab_pid "$1")
	kill -"${2:-TERM}" "$pid" 2>/dev/null || true
	st=0
	wait "$pid" 2>/dev/null || st=$?
	# A graceful stop must exit 0 (leak checks run at exit under ASan).
	case ${2:-TERM} in
	TERM | INT) [ $st -eq 0 ] || lab_fail "$1 exited with status $st after SIG${2:-TERM}" ;;
	esac
	LAB_PIDS=$(echo "$LAB_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
}

lab_status() { "$BIN" status --json --socket "$LAB/run/$1.sock" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 100 ms.
wait_for() {
	secs=$1 desc=$2
	shift 2
	n=$((secs * 10))
	while [ $n -gt 0 ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
		n=$((n - 1))
	done
	lab_fail "timed out after ${secs}s waiting for: $desc"
}

# lab_udp_echo ADDR N SIZE: sends N datagrams of SIZE bytes from the agent
# to the echo service on ADDR port 7, one at a time; prints how many came
# back intact.
lab_udp_echo() {
	lab_in_agent python3 - "$1" "$2" "$3" <<'PY'
import socket, sys
addr, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((addr, 7))
ok = 0
for i in range(n):
    msg = ((b"%05d" % i) * (size // 5 + 1))[:size]
    s.send(msg)
    try:
        if s.recv(size + 100) == msg:
            ok += 1
    except socket.timeout:
        pass
print(ok)
PY
}

# jq_ok ROLE FILTER: true when the daemon's status satisfies the filter.
# (jq -e succeeds on empty input, so an unreachable daemon must fail first.)
jq_ok() {
	_st=$(lab_status "$1") || return 1
	[ -n "$_st" ] || return 1
	printf '%s' "$_st" | jq -e "$2" >/dev/null
}

# lab_miniupnpd ROUTER LAN_PREFIX PUBLIC_IP NATPMP: miniupnpd (the nftables
# backend) on a lab_router's LAN side, answering UPnP-IGD and, when NATPMP
# is "yes", NAT-PMP/PCP. miniupnpd refuses to map on an external address
# that is private or reserved (RFC 1918, 100.64/10, the documentation
# nets...), which the lab's 10.77.0.x are: the router gets PUBLIC_IP on its
# WAN side as well (a /32, reached from the relay's bridge and the other
# router by a route), and miniupnpd announces that one (ext_ip). Its tables
# and chains are made here (Debian's miniupnpd-nftables ships no init
# script for them without the "miniupnpd" package); what it forwards passes
# the router's firewall. Config, pid and lease files live in $LAB;
# MINIUPNPD_PID is its process. Called again, it starts a new one after the
# old one is stopped by the caller.
lab_miniupnpd() {
	rt=$(lab_ns "$1")
	if ! ip -n "$rt" addr show dev wan | grep -q "inet $3/32"; then
		ip -n "$rt" addr add "$3/32" dev wan
		ip -n "$(lab_ns relay)" route add "$3/32" dev zbr0
		[ -e "/run/netns/$(lab_ns nata)" ] &&
			ip -n "$(lab_ns nata)" route add "$3/32" dev wan
		ip netns exec "$rt" nft -f - <<NFT || lab_fail "nft for miniupnpd in $1"
table inet miniupnpd {
	chain forward { type filter hook forward priority filter - 10; policy accept; jump miniupnpd; }
	chain miniupnpd { }
	chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }
	chain postrouting { type nat hook postrouting priority srcnat - 10; policy accept; jump postrouting_miniupnpd; }
	chain prerouting_miniupnpd { }
	chain postrouting_miniupnpd { }
}
NFT
		ip netns exec "$rt" nft insert rule inet filter from_wan ct status dnat accept
	fi
	cat >"$LAB/miniupnpd-$1.conf" <<CONF
ext_ifname=wan
ext_ip=$3
listening_ip=lan
port=0
enable_natpmp=$4
enable_upnp=yes
secure_mode=yes
system_uptime=yes
lease_file=$LAB/miniupnpd-$1.leases
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
allow 1024-65535 $2.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
	lab_bg "$rt" "miniupnpd-$1" miniupnpd -d -f "$LAB/miniupnpd-$1.conf" \
		-P "$LAB/miniupnpd-$1.pid"
	MINIUPNPD_PID=$!
	wait_for 5 "miniupnpd in $1" grep -q "HTTP listening on port" "$LAB/miniupnpd-$1.log"
}

# lab_upnp_rules ROUTER: the forwards miniupnpd holds now (its DNAT rules).
lab_upnp_rules() {
	ip netns exec "$(lab_ns "$1")" nft list chain inet miniupnpd prerouting_miniupnpd |
		grep dnat || true
}
