#!/bin/sh
# Reproducible build check: the committed tree is built twice from scratch
# (dependencies included) in two directories of different names and depths;
# the two ztnad binaries must be byte-identical and neither may contain the
# path it was built in. Uses the already fetched tarballs (no network).
#
#   sh scripts/repro-check.sh [BINARY]
# With BINARY (this checkout's build), also checks that it names no path of
# this checkout.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/ztrepro.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM

fail() { echo "repro-check: FAIL: $*" >&2; exit 1; }

no_paths() { # binary dir...
	bin=$1
	shift
	for d in "$@"; do
		n=$(strings -a "$bin" | grep -c "$d" || true)
		if [ "$n" != 0 ]; then
			strings -a "$bin" | grep "$d" | head -n 5 >&2
			fail "$bin names its build directory $d ($n strings)"
		fi
	done
}

if [ $# -ge 1 ]; then
	no_paths "$1" "$ROOT"
	echo "repro-check: $1 names no path of $ROOT"
fi

sh "$ROOT/scripts/fetch-sources.sh" >/dev/null
A=$TMP/a
B=$TMP/second/tree-b
# The two builds run side by side (each is mostly one compiler at a time).
build_in() {
	(
		cd "$1"
		ZTNAD_TARBALLS=$ROOT/deps/tarballs sh scripts/build-deps.sh >build.log 2>&1
		cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >>build.log 2>&1
		cmake --build build --target ztnad >>build.log 2>&1
	)
}
for d in "$A" "$B"; do
	mkdir -p "$d"
	(cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$d")
	echo "repro-check: building in $d"
done
build_in "$A" &
PA=$!
build_in "$B" &
PB=$!
sa=0 sb=0
wait $PA || sa=$?
wait $PB || sb=$?
for d in "$A" "$B"; do
	st=$sa
	[ "$d" = "$B" ] && st=$sb
	[ "$st" -eq 0 ] || { tail -n 30 "$d/build.log" >&2; fail "build in $d"; }
	no_paths "$d/build/ztnad" "$d" "$TMP"
done
if ! cmp "$A/build/ztnad" "$B/build/ztnad"; then
	fail "two builds of one tree differ"
fi
echo "repro-check: two builds are byte-identical ($(sha256sum <"$A/build/ztnad" | cut -c1-16), $(stat -c %s "$A/build/ztnad") bytes)"
