#!/bin/sh
# Fetch the pinned upstream sources (wolfSSL, ngtcp2, lwIP, inih) into
# deps/tarballs/.
#
# Order of sources, first hit wins:
#   1. $ZTNAD_TARBALLS (a local directory; offline users and CI caches)
#   2. deps/tarballs/ (already fetched)
#   3. Debian's source archive through apt (the orig tarball), using the
#      archive URIs already configured on this machine, with a private apt
#      state so /etc/apt is not modified
# Every file is checked against the pinned sha256 before use.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/deps.pins"
OUT="$ROOT/deps/tarballs"
mkdir -p "$OUT"

sha_ok() { # file sha256
	[ -f "$1" ] && echo "$2  $1" | sha256sum -c --status -
}

apt_private() {
	APTDIR="$ROOT/deps/apt"
	[ -f "$APTDIR/.ready" ] && return 0
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
	# Reuse the archive URIs and keyring the system already trusts (deb822 or
	# one-line format), but ask for source indexes of the newer suites.
	uris=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
	       grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
	uri=""
	for u in $uris; do
		case "$u" in */debian) uri=$u; break ;; esac
	done
	if [ -z "$uri" ]; then
		echo "fetch-sources: no Debian archive URI found in the apt configuration" >&2
		return 1
	fi
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	cat > "$APTDIR/sources.list" <<EOT
deb-src [signed-by=$key] $uri forky main
deb-src [signed-by=$key] $uri sid main
deb-src [signed-by=$key] $uri trixie main
EOT
	apt-get $(apt_opts) update >/dev/null 2>&1 || true
	touch "$APTDIR/.ready"
}

apt_opts() {
	APTDIR="$ROOT/deps/apt"
	echo "-q -o Dir::Etc::SourceList=$APTDIR/sources.list -o Dir::Etc::SourceParts=- \
 -o Dir::State::Lists=$APTDIR/lists -o Dir::Cache=$APTDIR/cache -o APT::Sandbox::User=root"
}

fetch_one() { # name debpkg version file sha
	name=$1 pkg=$2 ver=$3 file=$4 sha=$5
	dst="$OUT/$file"
	if [ -n "${ZTNAD_TARBALLS:-}" ] && [ -f "$ZTNAD_TARBALLS/$file" ]; then
		cp "$ZTNAD_TARBALLS/$file" "$dst.tmp" && mv "$dst.tmp" "$dst"
	fi
	if sha_ok "$dst" "$sha"; then
		echo "fetch-sources: $file ok"
		return 0
	fi
	rm -f "$dst"
	# Debian's archive: only the orig tarball matters; apt may fail on the
	# .dsc or .debian.tar while the orig arrived, so check the file, not $?.
	if command -v apt-get >/dev/null && apt_private; then
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get $(apt_opts) source --download-only "$pkg=$ver" >/dev/null 2>&1) || true
		[ -f "$tmp/$file" ] && mv "$tmp/$file" "$dst"
		rm -rf "$tmp"
	fi
	if sha_ok "$dst" "$sha"; then
		echo "fetch-sources: $file fetched"
		return 0
	fi
	[ -f "$dst" ] && echo "fetch-sources: $file: sha256 mismatch (got $(sha256sum "$dst" | cut -d' ' -f1))" >&2
	rm -f "$dst"
	cat >&2 <<EOT
fetch-sources: cannot get $name $ver ($file).
  Tried: \$ZTNAD_TARBALLS, Debian source package $pkg=$ver
  Fixes:
   - put $file (sha256 $sha) in a directory and run with ZTNAD_TARBALLS=/that/dir
     (upstream release: $name $ver; Debian's orig tarball of that version is what is pinned)
   - or, if the archive moved on, bump the pin in scripts/deps.pins: see which
     versions exist with 'apt-cache showsrc $pkg' (with deb-src enabled), set
     ${name}_DEBVER, ${name}_FILE and ${name}_SHA256 (sha256sum of the new
     tarball) and rebuild; the dependency cache key changes by itself.
EOT
	return 1
}

rc=0
fetch_one WOLFSSL wolfssl "$WOLFSSL_DEBVER" "$WOLFSSL_FILE" "$WOLFSSL_SHA256" || rc=1
fetch_one NGTCP2 ngtcp2 "$NGTCP2_DEBVER" "$NGTCP2_FILE" "$NGTCP2_SHA256" || rc=1
fetch_one LWIP lwip "$LWIP_DEBVER" "$LWIP_FILE" "$LWIP_SHA256" || rc=1
fetch_one INIH libinih "$INIH_DEBVER" "$INIH_FILE" "$INIH_SHA256" || rc=1
exit $rc
