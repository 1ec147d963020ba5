#!/bin/sh
# Runs every libFuzzer target for a few seconds on a scratch copy of its seed
# corpus (so new inputs do not land in the repo). Fails on any crash.
set -eu
BUILD=$1
SECS=${2:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for t in ctrl config pkt dns dnsresp flowhdr shim relay rtnl; do
	work=$(mktemp -d)
	cp "$ROOT/fuzz/corpus/$t/"* "$work/"
	echo "fuzz_$t: ${SECS}s"
	"$BUILD/fuzz_$t" -max_total_time="$SECS" -print_final_stats=1 "$work" \
		2>"$work.log" || { tail -n 40 "$work.log"; rm -rf "$work"; exit 1; }
	grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -n 2
	rm -rf "$work" "$work.log"
done
