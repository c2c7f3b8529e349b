#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Build a glibc WITH its SDT probes (memory_arena_new, memory_heap_more, ...) from Debian's own
# glibc source, for checking memwatch's USDT path on a real libc: Debian's libc6 is built without
# them (Ubuntu's, RHEL's and Fedora's have them). Installs only libc.so.6 and the loader into
# $DEST (default /opt/glibc-sdt/lib); nothing on the system changes. Run a program on it with
#     $DEST/ld.so --library-path $DEST PROGRAM ARGS
# tests/e2e/test_usdt.py uses it when present; tests/fixtures/glibc_usdt_*.rec were recorded on it.
# Takes ~5-15 min on 2 cores. Needs deb-src for bookworm (added to a private sources file).
set -eu
DEST=${DEST:-/opt/glibc-sdt/lib}
WORK=${WORK:-/var/tmp/glibc-sdt}
SRCLIST=/etc/apt/sources.list.d/memwatch-glibc-src.sources

if [ ! -e "$SRCLIST" ]; then
	cat > "$SRCLIST" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev gawk bison systemtap-sdt-dev >/dev/null
mkdir -p "$WORK" && cd "$WORK"
[ -d src ] || { apt-get source -qq --download-only glibc && dpkg-source -x glibc_*.dsc src >/dev/null; }
mkdir -p build && cd build
[ -f config.status ] || ../src/configure --prefix=/usr --enable-systemtap --disable-werror \
	--disable-profile --without-selinux >configure.log 2>&1
make -j"$(nproc)" >make.log 2>&1 || { tail -20 make.log >&2; exit 1; }
readelf -n libc.so.6 | grep -q memory_arena_new || { echo "glibc_sdt: no probes in libc.so.6" >&2; exit 1; }
mkdir -p "$DEST"
cp libc.so.6 elf/ld.so "$DEST/"
echo "glibc with SDT probes in $DEST (run: $DEST/ld.so --library-path $DEST PROGRAM)"
