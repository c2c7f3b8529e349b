// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * dontunmap: mremap with MREMAP_DONTUNMAP, which moves the pages but leaves the source mapped
 * (Linux 5.7; any mapping since 5.13), from the main thread, without malloc.
 *
 * usage: dontunmap [-w] [-W]
 *   -w  print "ready <pid>" on stderr, wait for a byte on stdin, then run
 *   -W  at the end print "done <pid>" on stderr and wait for a byte before exiting
 *
 * Measured phase (P = 4096; checked with strace and /proc/PID/maps by the e2e test):
 *   a = mmap(NULL, 16P, RW, PRIVATE|ANONYMOUS)                         vm +16P
 *   b = mremap(a, 16P, 16P, MAYMOVE|DONTUNMAP, NULL)  b != a: a stays  vm +16P
 *   mprotect(a, 4P, PROT_READ)                        a is still mapped vm 0
 *   c = mmap(NULL, 32P, PROT_READ, PRIVATE|ANONYMOUS)                  vm +32P
 *   mremap(b+8P, 8P, 8P, MAYMOVE|FIXED|DONTUNMAP, c+8P)  over c's middle, b stays  vm 0
 *   munmap(a, 16P)                                    the source, gone  vm -16P
 * main thread: mmap 2, mremap 2, mprotect 1, munmap 1; mapped 72P, unmapped 24P, net +48P;
 * the pages moved keep their contents (checked here: a fault in the source reads zero).
 */
#include <stdint.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "dontunmap [-w] [-W]"
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static char *map(size_t len, int prot)
{
	char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		wl_die("mmap(%zu)", len);
	return p;
}

int main(int argc, char **argv)
{
	struct wl_handshakes wait = wl_parse_handshakes(argc, argv, USAGE);
	char *a, *b, *c, *d;

	if (wait.start)
		wl_handshake("ready");

	a = map(16 * PG, PROT_READ | PROT_WRITE);
	memset(a, 'a', 16 * PG);
	/* The kernel takes new_address as a hint with MREMAP_DONTUNMAP (and refuses an unaligned
	 * one since 6.17); glibc passes the fifth argument through: give it. */
	b = mremap(a, 16 * PG, 16 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	if (b == MAP_FAILED || b == a)
		wl_die("mremap(MREMAP_DONTUNMAP) = %p", (void *)b);
	if (b[0] != 'a' || a[PG] != 0)
		wl_die("MREMAP_DONTUNMAP: the pages did not move");
	if (mprotect(a, 4 * PG, PROT_READ))
		wl_die("mprotect of the source after MREMAP_DONTUNMAP");
	c = map(32 * PG, PROT_READ);
	d = mremap(b + 8 * PG, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		   c + 8 * PG);
	if (d != c + 8 * PG || d[0] != 'a')
		wl_die("mremap(MREMAP_FIXED|MREMAP_DONTUNMAP) = %p", (void *)d);
	if (munmap(a, 16 * PG))
		wl_die("munmap of the source");

	if (wait.end)
		wl_handshake("done");
	return 0;
}
