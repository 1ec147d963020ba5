#!/bin/sh
# Build wolfSSL (with QUIC) and ngtcp2 (with its wolfSSL crypto helper) from
# the pinned sources into deps/prefix, and unpack lwIP into deps/src/lwip.
# The result is cached: deps/prefix/.key holds a hash of the pins and of this
# script; a matching key means nothing is rebuilt.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/deps.pins"
DEPS="$ROOT/deps"
PREFIX="$DEPS/prefix"
KEY=$(cat "$ROOT/scripts/deps.pins" "$0" | sha256sum | cut -c1-16)

if [ -f "$PREFIX/.key" ] && [ "$(cat "$PREFIX/.key")" = "$KEY" ] &&
	[ -f "$DEPS/src/lwip/src/core/tcp.c" ]; then
	echo "build-deps: cached ($KEY)"
	exit 0
fi

sh "$ROOT/scripts/fetch-sources.sh"
JOBS=$(nproc 2>/dev/null || echo 2)
rm -rf "$DEPS/src" "$PREFIX"
mkdir -p "$DEPS/src" "$PREFIX"

unpack() { # tarball destdir
	mkdir -p "$2"
	tar -xf "$DEPS/tarballs/$1" -C "$2" --strip-components=1
}

echo "build-deps: wolfSSL $WOLFSSL_DEBVER"
unpack "$WOLFSSL_FILE" "$DEPS/src/wolfssl"
(
	cd "$DEPS/src/wolfssl"
	./autogen.sh >autogen.log 2>&1
	# Options as ngtcp2's CI builds wolfSSL, plus what ztnad uses: cert
	# generation with SANs, Ed25519, keylog export, session tickets, 0-RTT.
	./configure --prefix="$PREFIX" --enable-static --disable-shared \
		--enable-all --enable-quic --enable-aesni --enable-intelasm \
		--enable-harden --enable-keylog-export --disable-ech \
		--disable-examples --disable-crypttests --disable-benchmark \
		--disable-jni \
		CPPFLAGS=-DWOLFSSL_ALT_NAMES CFLAGS="-O2 -fPIC" >configure.log 2>&1
	make -j"$JOBS" >make.log 2>&1
	make install >install.log 2>&1
) || { echo "build-deps: wolfSSL build failed; see $DEPS/src/wolfssl/*.log" >&2; exit 1; }
for d in WOLFSSL_QUIC HAVE_SECRET_CALLBACK WOLFSSL_ALT_NAMES WOLFSSL_CERT_GEN HAVE_ED25519; do
	grep -q "#define $d" "$PREFIX/include/wolfssl/options.h" ||
		{ echo "build-deps: wolfSSL built without $d" >&2; exit 1; }
done

echo "build-deps: ngtcp2 $NGTCP2_DEBVER"
unpack "$NGTCP2_FILE" "$DEPS/src/ngtcp2"
(
	cd "$DEPS/src/ngtcp2"
	G=""
	command -v ninja >/dev/null && G="-G Ninja"
	cmake -S . -B build $G -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
		-DCMAKE_INSTALL_LIBDIR=lib \
		-DENABLE_WOLFSSL=ON -DENABLE_OPENSSL=OFF -DENABLE_GNUTLS=OFF -DENABLE_BORINGSSL=OFF \
		-DENABLE_PICOTLS=OFF -DENABLE_SHARED_LIB=OFF -DENABLE_STATIC_LIB=ON \
		-DBUILD_TESTING=OFF -DENABLE_LIB_ONLY=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
		-DCMAKE_PREFIX_PATH="$PREFIX" -DWOLFSSL_INCLUDE_DIR="$PREFIX/include" \
		-DWOLFSSL_LIBRARY="$PREFIX/lib/libwolfssl.a" >cmake.log 2>&1
	cmake --build build -j"$JOBS" >build.log 2>&1
	cmake --install build >install.log 2>&1
) || { echo "build-deps: ngtcp2 build failed; see $DEPS/src/ngtcp2/*.log" >&2; exit 1; }

echo "build-deps: lwIP $LWIP_DEBVER (sources only; compiled by CMake with our lwipopts.h)"
unpack "$LWIP_FILE" "$DEPS/src/lwip"

echo "$KEY" >"$PREFIX/.key"
echo "build-deps: done ($KEY)"
