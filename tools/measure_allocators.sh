#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Reproduces the syscall sequences written up in user/alloc/SIGNATURES.md: runs the
# test workloads (and, for jemalloc/tcmalloc, the same workload with the allocator
# preloaded) under
#     strace -f -e trace=brk,mmap,munmap,mprotect,mremap,madvise
# and prints what each thread did, in time order. Builds nothing: run `make workloads`
# first. Needs strace; python3 for the mmap-threshold case; the look-alikes case runs
# node and java only if they are installed.
#
# usage: tools/measure_allocators.sh [-v] [CASE...]
#   CASE: arena growth shrink heap2 limit rlimit brk stacks threshold jemalloc
#         tcmalloc lookalikes   (default: all of them)
#   -v  keep every line: by default the dynamic loader's calls (file mappings, RELRO
#       mprotects, the ld.so.cache munmap) are dropped and runs of calls of the same
#       shape by one thread (e.g. 4 KiB growth mprotects) become one line "... xN".
# Environment: W (workload dir, default .output/workloads), JEMALLOC, TCMALLOC (libraries).
set -eu

W=${W:-.output/workloads}
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
TCMALLOC=${TCMALLOC:-/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4}
CALLS=brk,mmap,munmap,mprotect,mremap,madvise
VERBOSE=0
[ "${1:-}" = -v ] && { VERBOSE=1; shift; }
[ -x "$W/arenas" ] || { echo "no $W/arenas: run 'make workloads' first" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# trace TITLE [EXTRA_CALLS] -- CMD...: one strace output file per thread (-ff: no
# "<unfinished ...>" splits), each squeezed, then merged by timestamp.
trace() {
	title=$1 extra=$2
	shift 3
	echo "=== $title: $*"
	rm -f "$TMP"/t.*
	strace -ff -ttt -qq ${AS_USER:+-u "$AS_USER"} -e "trace=$CALLS$extra" -o "$TMP/t" "$@" >"$TMP/out" 2>&1 </dev/null || true
	for f in "$TMP"/t.*; do
		awk -v tid="${f##*.}" -v v=$VERBOSE '
		function flush() { if (n) print t0, tid, first; if (n > 1) print t0, tid, "    ... x" n " (last: " last ")"; n = 0 }
		{ ts = $1; sub(/^[0-9.]+ /, "") }
		v == 0 && /^mmap\(.*, [0-9]+, 0x?[0-9a-f]*\) = / { file[$NF] = 1; next }  # fd >= 0
		v == 0 && /^mprotect\(.*, PROT_READ\) = 0$/ { next }                       # RELRO
		v == 0 && /^munmap\(/ { a = $1; sub(/^munmap\(/, "", a); sub(/,$/, "", a); if (a in file) next }
		{ key = $0; if (!/^brk/) gsub(/0x[0-9a-f]+/, "A", key) }
		v == 0 && key == prev { n++; last = $0; next }
		{ flush(); prev = key; first = $0; t0 = ts; n = 1 }
		END { flush() }' "$f"
	done | sort -s -n -k1,1 | cut -d' ' -f2- | sed 's/^/  /'
}

# count TITLE -- CMD...: the arena reservations and first commits only.
count() {
	title=$1
	shift 2
	strace -f -qq -e trace=mmap,mprotect -o "$TMP/c" "$@" >"$TMP/out" 2>&1 </dev/null || true
	printf '=== %s: %s\n  128 MiB reservations %s, 64 MiB reservations %s, 135168-byte commits %s; %s\n' \
		"$title" "$*" "$(grep -c '134217728, PROT_NONE' "$TMP/c" || true)" \
		"$(grep -c '67108864, PROT_NONE' "$TMP/c" || true)" \
		"$(grep -c ', 135168, PROT_READ|PROT_WRITE' "$TMP/c" || true)" \
		"$(tr '\n' ' ' <"$TMP/out")"
}

case_arena() {
	trace "first arenas (4 threads)" "" -- "$W/arenas" -t 4 -b 8000
}
case_growth() {
	trace "arena growth (1 MiB of 1000-byte blocks)" "" -- "$W/arenas" -t 1
}
case_shrink() {
	trace "arena shrink, default overcommit (MADV_DONTNEED form)" "" -- "$W/arenas" -t 1 -s
	# The MAP_FIXED PROT_NONE form: glibc uses it when overcommit_memory is 2 or the process
	# is AT_SECURE; a setuid-root copy run as nobody is the second (needs root, no nosuid).
	[ "$(id -u)" = 0 ] || { echo "  (not root: the setuid MAP_FIXED form is skipped)"; return; }
	chmod 755 "$TMP"
	cp "$W/arenas" "$TMP/arenas-suid"
	chmod 4755 "$TMP/arenas-suid"
	AS_USER=nobody trace "arena shrink, setuid copy run as nobody (MAP_FIXED PROT_NONE form)" "" \
		-- "$TMP/arenas-suid" -t 1 -s
}
case_heap2() {
	trace "second heap and its deletion" "" -- "$W/arenas" -t 1 -b 70000000 -s
}
case_limit() {
	count "20 threads" -- "$W/arenas" -t 20 -b 8000
	count "MALLOC_ARENA_MAX=1" -- env MALLOC_ARENA_MAX=1 "$W/arenas" -t 4 -b 8000
	count "MALLOC_ARENA_MAX=2" -- env MALLOC_ARENA_MAX=2 "$W/arenas" -t 4 -b 8000
	count "arena_max=3 tunable" -- env GLIBC_TUNABLES=glibc.malloc.arena_max=3 "$W/arenas" -t 4 -b 8000
}
case_rlimit() {	# 128 MiB no longer fits under RLIMIT_AS, 64 MiB does (but comes back unaligned)
	# shellcheck disable=SC3045 # ulimit -v: dash and bash have it
	(ulimit -v 90000; trace "RLIMIT_AS 90000 KiB: arena creation retried on every malloc" "" \
		-- "$W/arenas" -t 1 -b 8000) | head -n 16
}
case_brk() {
	trace "brk up and down without malloc" "" -- "$W/brk_ops"
	trace "pinned top (200 x 8000 B freed below a live block)" "" -- "$W/pinned_top"
}
case_stacks() {
	for g in 4096 0 65536; do
		trace "thread stacks, guard $g" "" -- "$W/stacks" -n 2 -g $g
	done
	trace "stack cache: a second round of 4 threads" "" -- "$W/stacks" -n 4 -c
	trace "stack cache overflow: 5 x 8 MiB > 40 MiB" "" -- "$W/stacks" -n 5 -c
}
case_threshold() {
	command -v python3 >/dev/null || { echo "=== threshold: no python3, skipped"; return; }
	# glibc's malloc through ctypes; the write(2) markers split the phases.
	trace "mmap threshold, large chunks, realloc" ",write" -- python3 -c '
import ctypes, os, threading
c = ctypes.CDLL(None)
c.malloc.restype = c.realloc.restype = ctypes.c_void_p
c.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
c.free.argtypes = [ctypes.c_void_p]
M = 1 << 20
def mark(s): os.write(2, ("--- " + s + "\n").encode())
mark("malloc+free 200 KiB, twice"); c.free(c.malloc(200 << 10)); c.free(c.malloc(200 << 10))
mark("realloc 1 MiB -> 8 MiB -> 2 MiB"); c.free(c.realloc(c.realloc(c.malloc(M), 8 * M), 2 * M))
mark("malloc+free 40 MiB, twice"); c.free(c.malloc(40 * M)); c.free(c.malloc(40 * M))
mark("malloc+free 16 MiB in main"); c.free(c.malloc(16 * M))
mark("malloc 16 MiB in a thread")
t = threading.Thread(target=lambda: c.free(c.malloc(16 * M))); t.start(); t.join()
mark("end")' | sed -n '1p; /--- malloc+free 200/,/--- end/p' | grep -v 'write(2, "--- end'
}
allocator() {	# allocator NAME LIB
	[ -e "$2" ] || { echo "=== $1: $2 not installed, skipped"; return; }
	trace "$1, small mallocs (2 threads x 20000 pairs of 16..4096 B)" "" -- \
		env LD_PRELOAD="$2" "$W/malloc_bench" -t 2 -n 20000
	trace "$1, 1 MiB of 1000-byte blocks held, then freed" "" -- \
		env LD_PRELOAD="$2" "$W/arenas" -t 1 -s
}
case_jemalloc() { allocator jemalloc "$JEMALLOC"; }
case_tcmalloc() {
	allocator tcmalloc "$TCMALLOC"
	[ -e "$TCMALLOC" ] && command -v python3 >/dev/null || return 0
	# tcmalloc gives memory back reluctantly: one madvise for these 5 GiB of frees here.
	trace "tcmalloc release: 40 x (64 MiB + 64 x 1 MiB) malloc+free" "" -- env LD_PRELOAD="$TCMALLOC" \
		python3 -c '
import ctypes
c = ctypes.CDLL(None)
c.malloc.restype = ctypes.c_void_p
c.free.argtypes = [ctypes.c_void_p]
for r in range(40):
    c.free(c.malloc(64 << 20))
    for p in [c.malloc(1 << 20) for i in range(64)]:
        c.free(p)' | grep -E "madvise|=== " | grep -v 8368128
}
case_lookalikes() {
	# Only the reservations and commits that could pass for an arena heap or a stack guard.
	big='^===|PROT_NONE|MAP_FIXED\|MAP_ANON|DONTFORK'
	if command -v node >/dev/null; then
		trace "node (V8)" "" -- node -e 'let a = []; for (let i = 0; i < 1e5; i++) a.push({i})' |
			grep -E "$big" | head -n 30
	fi
	if command -v java >/dev/null; then
		trace "java -version (HotSpot)" "" -- java -version | grep -E "$big" | head -n 60
	fi
}

echo "# $(ldd --version | head -1); kernel $(uname -r); $(nproc) CPUs online" \
	"($(cat /sys/devices/system/cpu/online)); overcommit_memory" \
	"$(cat /proc/sys/vm/overcommit_memory); THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
[ $# -gt 0 ] || set -- arena growth shrink heap2 limit rlimit brk stacks threshold jemalloc tcmalloc lookalikes
for c in "$@"; do
	case $c in
	arena|growth|shrink|heap2|limit|rlimit|brk|stacks|threshold|jemalloc|tcmalloc|lookalikes) "case_$c" ;;
	*) echo "unknown case $c" >&2; exit 2 ;;
	esac
done
