#!/bin/sh
# Runs every libFuzzer target for a few seconds on a scratch copy of its seed
# corpus (so new inputs do not land in the repo). Fails on any crash.
# Targets run FUZZ_JOBS at a time (default: the number of CPUs, at most 4),
# each on a core of its own, so every one still gets its SECS.
set -eu
BUILD=$1
SECS=${2:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
[ "$JOBS" -le 4 ] || JOBS=4
TMP=$(mktemp -d /tmp/ztfuzz.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM

# start T: runs target T in the background; its pid in $TMP/T.pid
start() {
	mkdir -p "$TMP/$1"
	cp "$ROOT/fuzz/corpus/$1/"* "$TMP/$1/"
	"$BUILD/fuzz_$1" -max_total_time="$SECS" -print_final_stats=1 "$TMP/$1" \
		2>"$TMP/$1.log" &
	echo $! >"$TMP/$1.pid"
}
# finish T: waits for target T, prints its summary; fails on a crash
finish() {
	st=0
	wait "$(cat "$TMP/$1.pid")" || st=$?
	echo "fuzz_$1: ${SECS}s"
	if [ $st -ne 0 ]; then
		tail -n 40 "$TMP/$1.log"
		for r in $running; do kill "$(cat "$TMP/$r.pid")" 2>/dev/null || true; done
		wait
		exit 1
	fi
	grep -E "stat::number_of_executed_units|Done" "$TMP/$1.log" | tail -n 2
}

# Every target has a seed corpus of its own name.
running=""
for t in $(cd "$ROOT/fuzz/corpus" && ls); do
	start "$t"
	running="$running $t"
	set -- $running
	if [ $# -ge "$JOBS" ]; then
		finish "$1"
		shift
		running="$*"
	fi
done
for t in $running; do
	finish "$t"
done
