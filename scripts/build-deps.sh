#!/bin/sh
# Build wolfSSL (with QUIC) and ngtcp2 (with its wolfSSL crypto helper) from
# the pinned sources into deps/prefix, and unpack lwIP and inih into deps/src
# (CMake compiles those two itself, with ztnad's options).
# ngtcp2 gets the patches in scripts/patches/ngtcp2-*.patch, in name order
# (each says why; see "ngtcp2 patches" in docs/ARCHITECTURE.md).
# The result is cached: deps/prefix/.key holds a hash of the pins, of this
# script and of the patches; a matching key means nothing is rebuilt.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/deps.pins"
DEPS="$ROOT/deps"
PREFIX="$DEPS/prefix"
NGTCP2_PATCHES=$(ls "$ROOT"/scripts/patches/ngtcp2-*.patch 2>/dev/null | LC_ALL=C sort || true)
KEY=$(cat "$ROOT/scripts/deps.pins" "$0" $NGTCP2_PATCHES | sha256sum | cut -c1-16)

if [ -f "$PREFIX/.key" ] && [ "$(cat "$PREFIX/.key")" = "$KEY" ] &&
	[ -f "$DEPS/src/lwip/src/core/tcp.c" ] && [ -f "$DEPS/src/inih/ini.c" ]; then
	echo "build-deps: cached ($KEY)"
	exit 0
fi

sh "$ROOT/scripts/fetch-sources.sh"
JOBS=$(nproc 2>/dev/null || echo 2)
# Reproducible: no absolute path of this checkout in the objects (assert
# messages, debug info); see scripts/repro-check.sh.
MAPFLAGS="-ffile-prefix-map=$ROOT/=" 
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
	# Only the features ztnad uses (see "wolfSSL features" in
	# docs/ARCHITECTURE.md): TLS 1.3 for QUIC, ECDSA P-256 and Ed25519
	# certificates, X25519/P-256 key exchange, AES-GCM and ChaCha20-Poly1305
	# (AES-ECB for QUIC header protection),
	# certificate generation with SANs and extensions (ztnad pki), CRLs. No
	# RSA, DH, PSK, 0-RTT, TLS <= 1.2: less code reachable before
	# authentication. Session tickets are compiled only because ngtcp2's
	# client setup calls wolfSSL_CTX_UseSessionTicket; ztnad servers never
	# issue one (tls.c), so every session presents a certificate. Secrets
	# leave only through the keylog callback (HAVE_SECRET_CALLBACK), never
	# --enable-keylog-export, which writes every secret to ./sslkeylog.log.
	# --enable-reproducible-build: no configure line (with this checkout's
	# path) or build date inside the library.
	./configure --prefix="$PREFIX" --enable-static --disable-shared \
		--enable-quic --enable-tls13 --disable-oldtls --disable-tlsv12 \
		--enable-ecc --enable-ed25519 --enable-curve25519 \
		--enable-aesgcm --enable-aesecb --enable-chacha --enable-poly1305 \
		--enable-certgen --enable-certext --enable-keygen --enable-crl \
		--enable-alpn --enable-sni --enable-ip-alt-name --enable-sp --enable-sp-asm \
		--enable-aesni --enable-intelasm --enable-harden --enable-reproducible-build \
		--disable-rsa --disable-dh --disable-md5 --disable-psk \
		--enable-session-ticket --disable-earlydata --disable-ech \
		--disable-examples --disable-crypttests --disable-benchmark --disable-jni \
		CPPFLAGS="-DWOLFSSL_ALT_NAMES -DHAVE_SECRET_CALLBACK -DWOLFSSL_VALIDATE_ECC_IMPORT" \
		CFLAGS="-O2 -fPIC $MAPFLAGS" >configure.log 2>&1
	make -j"$JOBS" >make.log 2>&1
	make install >install.log 2>&1
) || { echo "build-deps: wolfSSL build failed; see $DEPS/src/wolfssl/*.log" >&2; exit 1; }
OPTS=$PREFIX/include/wolfssl/options.h
for d in WOLFSSL_QUIC HAVE_SECRET_CALLBACK WOLFSSL_ALT_NAMES WOLFSSL_CERT_GEN \
	WOLFSSL_CERT_EXT WOLFSSL_IP_ALT_NAME HAVE_ED25519 HAVE_CRL NO_RSA NO_OLD_TLS; do
	grep -q "#define $d\b" "$OPTS" ||
		{ echo "build-deps: wolfSSL built without $d" >&2; exit 1; }
done
# A wolfSSL that writes TLS secrets to a file on its own must never be used.
for d in SHOW_SECRETS WOLFSSL_SSLKEYLOGFILE WOLFSSL_EARLY_DATA; do
	if grep -q "#define $d\b" "$OPTS"; then
		echo "build-deps: wolfSSL options.h defines $d; refusing this build" >&2
		rm -rf "$PREFIX"
		exit 1
	fi
done

echo "build-deps: ngtcp2 $NGTCP2_DEBVER"
unpack "$NGTCP2_FILE" "$DEPS/src/ngtcp2"
# Exactly (no fuzz) or not at all: a patch that no longer fits the pinned
# source stops the build instead of half-applying.
for p in $NGTCP2_PATCHES; do
	echo "build-deps: ngtcp2 patch $(basename "$p")"
	if ! (cd "$DEPS/src/ngtcp2" && patch -p1 --batch --forward --fuzz=0 --dry-run <"$p" >/dev/null &&
		patch -p1 --batch --forward --fuzz=0 <"$p" >>patch.log 2>&1); then
		echo "build-deps: $p does not apply to ngtcp2 $NGTCP2_DEBVER" >&2
		rm -rf "$PREFIX"
		exit 1
	fi
done
(
	cd "$DEPS/src/ngtcp2"
	G=""
	command -v ninja >/dev/null && G="-G Ninja"
	cmake -S . -B build $G -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$MAPFLAGS" -DCMAKE_INSTALL_PREFIX="$PREFIX" \
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

echo "build-deps: inih $INIH_DEBVER (sources only; compiled by CMake with our INI_* options)"
unpack "$INIH_FILE" "$DEPS/src/inih"

echo "$KEY" >"$PREFIX/.key"
echo "build-deps: done ($KEY)"
