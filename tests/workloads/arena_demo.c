// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * arena_demo: the per-thread arena growth story of user/alloc/SIGNATURES.md section 3, for `make demo`.
 * N threads named "worker-1".."worker-N" each malloc MiB MiB in 1000-byte blocks (holding every
 * block), wait until all workers are done, and are joined. Takes well under a second untraced.
 *
 * usage: arena_demo [-w] [-m MIB] N      (1 <= N <= 14, MIB 1..64, default 4)
 *   -w  print "ready <pid>" on stderr and wait for a byte on stdin before creating the workers
 *
 * What each worker does (Debian 12, glibc 2.36, 2 CPUs: up to 8 x 2 = 16 arenas, so N <= 14
 * workers always get an arena of their own; verified with strace -f):
 *   its first malloc creates its arena: mmap(NULL, 134217728, PROT_NONE,
 *   MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE) = X, then munmap of the unaligned head and/or tail
 *   (1 or 2 munmaps, so that a 64 MiB aligned heap remains; sometimes the next 64 MiB heap
 *   is reused from glibc's aligned hint: mmap(hint, 67108864, ...) instead), then
 *   mprotect(heap, 135168, PROT_READ|PROT_WRITE);
 *   then contiguous growth mprotect(rw_end, 4096, PROT_READ|PROT_WRITE): exactly 1000 for the
 *   default 4 MiB (4194 blocks of 1008 bytes with headers); RW part ends at 4 MiB + 132 KiB;
 *   and at exit madvise(stack, ..., MADV_DONTNEED).
 * The main thread maps N stacks: mmap(NULL, 8392704, PROT_NONE, ...|MAP_STACK) + mprotect.
 */
#include <pthread.h>
#include <stdio.h>
#include "common.h"

#define USAGE "arena_demo [-w] [-m MIB] N"
#define BLOCK 1000
#define MAX_WORKERS 14

static long mib = 4;
static pthread_barrier_t done;

static void *worker(void *arg)
{
	long nblocks = mib * 1024 * 1024 / BLOCK;
	volatile char sink = 0;
	char name[16];

	snprintf(name, sizeof(name), "worker-%ld", (long)arg);
	if (pthread_setname_np(pthread_self(), name))
		wl_die("setname");
	for (long i = 0; i < nblocks; i++) {
		char *p = malloc(BLOCK);

		if (!p)
			wl_die("malloc");
		p[0] = (char)i; /* held on purpose: never freed */
		sink += p[0];
	}
	(void)sink;
	pthread_barrier_wait(&done);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_WORKERS];
	int wait_start = 0;
	long n;
	int opt;

	while ((opt = getopt(argc, argv, "wm:")) != -1) {
		switch (opt) {
		case 'w': wait_start = 1; break;
		case 'm': mib = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc - 1 || mib < 1 || mib > 64)
		wl_usage(USAGE);
	n = wl_num(argv[optind], USAGE);
	if (n < 1 || n > MAX_WORKERS)
		wl_usage(USAGE);
	if (wait_start)
		wl_handshake("ready");

	pthread_barrier_init(&done, NULL, n);
	for (long i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(i + 1)))
			wl_die("pthread_create");
	for (long i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
