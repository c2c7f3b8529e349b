#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Install the Debian packages memwatch needs to build, test and benchmark.
# Idempotent: a no-op (no apt call) when everything is already present.
set -eu

PKGS="make gcc clang llvm clang-format libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev \
      linux-libc-dev strace python3 procps libdw-dev liblzma-dev libbz2-dev g++ \
      libjemalloc2 libtcmalloc-minimal4 memcached gdb libc6-dbg systemtap-sdt-dev \
      libmicrohttpd-dev prometheus curl python3-yaml scdoc \
      libprotobuf-c-dev protobuf-c-compiler libjson-c-dev libncurses-dev tmux golang-go chromium \
      default-jdk redis-server libclang-rt-14-dev"
# clang-format: make lint checks the C style (.clang-format).
# The libjemalloc2 line is for the allocator tests (tests/e2e/test_alloc.py): LD_PRELOAD of Debian's
# jemalloc/tcmalloc, a real multi-threaded server (memcached; the test speaks its text protocol
# from python3, no client package) and gdb + libc6-dbg to read glibc's own arena list.
# systemtap-sdt-dev: <sys/sdt.h> for usdt_arena, a workload carrying glibc-named malloc probes.
# libdw-dev, liblzma-dev, libbz2-dev: libdwfl (user stacks) and its decompressors, linked
# statically; g++ brings libsupc++.a, whose C++ demangler is linked statically too.
# libmicrohttpd-dev: the --prometheus endpoint (its header; libmicrohttpd12 is opened at run time);
# prometheus (promtool), curl and python3-yaml: the metrics tests scrape it and validate
# tools/fleet/ (rules, scrape config, DaemonSet manifest).
# golang-go (also for pprof, below), default-jdk, redis-server: real services for the
# attach-time classification tests (tests/e2e/test_alloc_services.py): a cgo Go HTTP server and
# a Java program, whose own heaps must not be taken for glibc arenas, and redis (jemalloc),
# whose thread stacks and guards must not be taken for jemalloc memory.
# scdoc: builds the manual, memwatch(8), from user/memwatch.8.scd (make man, make install; the
# docs tests check that it builds).
# libprotobuf-c-dev, protobuf-c-compiler: pprof profiles (--pprof, /debug/pprof/heap) and
# Perfetto traces (--perfetto) are protocol buffers, generated from user/profile/profile.proto
# and user/trace/perfetto_trace.proto. libjson-c-dev: memwatch report reads NDJSON.
# libncurses-dev: memwatch top. The tests of these use independent readers: tmux drives top,
# golang-go's `go tool pprof` reads the profiles, chromium (headless) renders the HTML report.

# nodejs: --malloc names JIT-compiled frames from perf maps; a test runs node --perf-basic-prof.
PKGS="$PKGS nodejs"

# libclang-rt-14-dev: libFuzzer and clang's sanitizer runtimes for the fuzz harnesses (make fuzz,
# tests/fuzz/); libasan8 and libubsan1 come with gcc for make check-asan.

# The malloc benchmark (tools/bench_malloc.sh) compares with bcc's memleak and with heaptrack.
PKGS="$PKGS bpfcc-tools heaptrack"
# The in-process sampler: a real server started with it (tests/e2e/test_sampler.py: redis-server
# writes its title over its environment) and redis-benchmark's load (tools/bench_sampler.sh);
# bench_malloc.sh's redis part (PARTS=redis) runs the same server under the overhead budget.
PKGS="$PKGS redis-server redis-tools"

# `tools/deps.sh vm` (make check-kernels): QEMU boots Debian's packaged kernels (TCG) with an
# initramfs made of busybox-static; the kernels themselves are downloaded by
# tools/vm/check_kernels.py with apt-get download, never installed. Not for make check.
if [ "${1:-}" = vm ]; then
	PKGS="$PKGS qemu-system-x86 busybox-static"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "memwatch: missing packages:$missing; run as root (sudo make ...) to install them" >&2
	exit 1
fi
echo "  DEPS    installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# policy-rc.d 101: packages with a daemon (memcached) must not start it at install time; the
# tests start their own on a free loopback port. Removed again unless one was already there.
rcd=/usr/sbin/policy-rc.d
own_rcd=0
if [ ! -e "$rcd" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$rcd" && chmod 0755 "$rcd" && own_rcd=1
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
	rc=$?; [ "$own_rcd" -eq 1 ] && rm -f "$rcd"; exit "$rc"; }
[ "$own_rcd" -eq 1 ] && rm -f "$rcd"
exit 0
