#!/bin/sh
# Install the Debian packages ztnad needs to build and test, if missing.
# miniupnpd-nftables is the UPnP/NAT-PMP gateway of integ_portmap.sh: the
# binary with the nftables backend, without the "miniupnpd" package's
# debconf questions and service (the test starts its own in a namespace).
set -eu
PKGS="build-essential cmake ninja-build pkg-config autoconf automake libtool
 xz-utils patch ca-certificates libuv1-dev libcmocka-dev clang
 libclang-rt-14-dev iproute2 nftables curl jq procps dnsutils iperf3
 python3 valgrind iputils-ping libnatpmp-dev libminiupnpc-dev
 miniupnpd-nftables conntrack"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
