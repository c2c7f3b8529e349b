// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * usdt_arena: stands in for a libc that has glibc's malloc SDT probes (Ubuntu, RHEL, Fedora;
 * Debian's has none). The executable carries probes with provider "libc" and glibc's names
 * and fires them around the same syscalls glibc makes for a new arena (user/alloc/SIGNATURES.md 3(b)),
 * so memwatch's USDT path and its syscall-signature path can be checked against each other
 * here. memwatch attaches the probes it finds in the target's libc or executable.
 *
 * usage: usdt_arena [-w] [-n ARENAS] [-x]
 * Per arena i (1..N), in a thread named "usdt-i":
 *   mmap(NULL, 128M, PROT_NONE, PRIVATE|ANON|NORESERVE) = R; munmap of the part outside the
 *   64M-aligned heap H inside R; mprotect(H, 135168, RW)      -> probe memory_heap_new(H, 135168)
 *                                                                  then memory_arena_new(H+32, 135168)
 *                                                                  (glibc's order: new_heap() first)
 *   mprotect(H+135168, 4096, RW)                                -> probe memory_heap_more(H, 139264)
 * then munmap(H, 64M) at the end (not a glibc event: tidy exit).
 * -x: the reservation is made without MAP_NORESERVE, which the syscall signatures do not take
 *     for a glibc heap: only the probes can tell these arenas.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#include "common.h"

#define USAGE "usdt_arena [-w] [-n ARENAS] [-x]"
#define HEAP_MAX (64UL << 20)

static bool exotic;

static void *one_arena(void *arg)
{
	char name[16];
	uintptr_t r, h;

	snprintf(name, sizeof(name), "usdt-%ld", (long)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	r = (uintptr_t)mmap(NULL, 2 * HEAP_MAX, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | (exotic ? 0 : MAP_NORESERVE), -1, 0);
	if ((void *)r == MAP_FAILED)
		wl_die("mmap");
	h = (r + HEAP_MAX - 1) & ~(HEAP_MAX - 1);
	if (h > r && munmap((void *)r, h - r))
		wl_die("munmap head");
	if (munmap((void *)(h + HEAP_MAX), r + 2 * HEAP_MAX - (h + HEAP_MAX)))
		wl_die("munmap tail");
	if (mprotect((void *)h, 135168, PROT_READ | PROT_WRITE))
		wl_die("mprotect");
	/* glibc: the arena's malloc_state sits right after the heap_info header. */
	STAP_PROBE2(libc, memory_heap_new, (void *)h, 135168UL);
	STAP_PROBE2(libc, memory_arena_new, (void *)(h + 32), 135168UL);
	if (mprotect((void *)(h + 135168), 4096, PROT_READ | PROT_WRITE))
		wl_die("mprotect grow");
	STAP_PROBE2(libc, memory_heap_more, (void *)h, 139264UL);
	return (void *)h;
}

int main(int argc, char **argv)
{
	bool wait_start = false;
	long n = 2;
	void *heaps[64];
	pthread_t t;
	int opt;

	while ((opt = getopt(argc, argv, "wn:x")) != -1) {
		switch (opt) {
		case 'w': wait_start = true; break;
		case 'x': exotic = true; break;
		case 'n': n = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || n < 1 || n > 64)
		wl_usage(USAGE);
	if (wait_start)
		wl_handshake("ready");
	for (long i = 0; i < n; i++) {
		/* One at a time: the order of events is then fixed. */
		if (pthread_create(&t, NULL, one_arena, (void *)(intptr_t)(i + 1)) ||
		    pthread_join(t, &heaps[i]))
			wl_die("pthread");
	}
	for (long i = 0; i < n; i++)
		munmap(heaps[i], HEAP_MAX);
	return 0;
}
