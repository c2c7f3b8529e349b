// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * arenas: glibc per-thread arenas (user/alloc/SIGNATURES.md section 3) with glibc's own count to compare.
 * THREADS threads named "arena-1".."arena-N" each malloc BYTES in 1000-byte blocks (a linked
 * list through the blocks themselves: no other allocation), then wait until every thread has
 * allocated (so that all are alive at once and none inherits an exited thread's arena); with -s
 * each then frees its blocks top-down (newest first); then all are joined. At the end the main
 * thread writes to stdout:
 *     glibc_arenas N        glibc's own count of non-main arenas, from malloc_info(0, f): the
 *                           number of <heap nr="..."> elements minus one (nr="0" is main_arena)
 *     threads T
 *
 * usage: arenas [-w] [-k] [-s] [-t THREADS] [-b BYTES] [-B BLOCK]
 *   THREADS 1..1024, default 4; BYTES 1000..1 GiB, default 1 MiB; BLOCK 1000..100000, default
 *   1000: the block size. The first word of a block (its link) is all a thread writes, so with
 *   big blocks the arena commits BYTES but little of it becomes resident: with -B 100000 the
 *   page of each block's link and chunk header, about 6% (memwatch's arena_grown_not_resident).
 *   -w  print "ready <pid>" on stderr, wait for a byte on stdin before creating the threads
 *   -k  once every thread has allocated, print "held <pid>" on stderr and keep the threads alive
 *       until stdin is closed (EOF), so a test can attach -p to a process that has its arenas
 *   -s  free every block top-down before the threads exit
 *
 * Expected, measured with strace -f -e trace=memory (Debian 12, glibc 2.36, 2 CPUs, kernel
 * 6.18; arena limit 8 x 2 online CPUs = 16 counting main_arena):
 *   - each thread, up to the limit, creates its own arena on its first malloc: mmap(NULL,
 *     134217728, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE), munmap of the unaligned
 *     head and/or tail (or mmap(hint, 67108864, ...) when glibc's aligned hint is free), then
 *     mprotect(heap, 135168, PROT_READ|PROT_WRITE); then growth mprotect(rw_end, 4096, RW).
 *     -b 1048576 (default): 1 + 226 RW mprotects per thread, 1060864 bytes RW per arena.
 *   - -t 4: glibc_arenas 4, 4 arenas created. -t 14: 14. -t 20: exactly 15 created and
 *     glibc_arenas 15; the other 5 threads attach to existing arenas with no syscall (or to
 *     main_arena, growing brk) and grow them with mprotects of their own.
 *   - MALLOC_ARENA_MAX=1 -t 4: 0 arenas, glibc_arenas 0 (the threads grow main's brk);
 *     MALLOC_ARENA_MAX=2 -t 4: 1, glibc_arenas 1; GLIBC_TUNABLES=glibc.malloc.arena_max=3
 *     -t 4: 2, glibc_arenas 2.
 *   - -s: each thread also mallocs 10 x 100 KiB after its blocks (10 more mprotects: 237 in
 *     all, 2084864 bytes RW per arena) and, after the "go" barrier, frees them top-down then
 *     the blocks top-down. Default overcommit: 10 madvise(X, len, MADV_DONTNEED) per arena,
 *     1949696 bytes in all: 73728 + 8 x 102400 (9 of the 10 big frees) and 1056768 at thread
 *     exit (tcache flush merges the blocks into the top chunk); a 128 KiB pad is kept and no
 *     mprotect/mmap happens (RW stays a high-water mark). With overcommit_memory=2 or when the
 *     binary runs setuid (AT_SECURE: a setuid-root copy run as nobody) the same 10 shrinks are
 *     mmap(X, len, PROT_NONE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS), 1949696 bytes: committed
 *     RW ends at 135168.
 *   - -t 1 -b 70000000 -s: the first heap becomes entirely RW (16352 mprotects, 67108864
 *     bytes); then a second heap: mmap(NULL, 134217728, PROT_NONE, ...NORESERVE) + munmap of
 *     head/tail (or mmap(hint, 67108864, ...)) + mprotect(heap2, 135168, RW), growing to
 *     4481024 bytes RW (822 mprotects). Frees: 9 DONTNEEDs in heap 2, then at thread exit
 *     munmap(heap2, 67108864) (heap deleted) and one DONTNEED of 66973696 in heap 1 (trimmed
 *     67866624 in all). glibc_arenas 1; the arena keeps 1 heap (64 MiB reserved).
 *   - every thread exit: madvise(stack, 8368128, MADV_DONTNEED); the main thread maps the
 *     stacks (mmap(NULL, 8392704, PROT_NONE, ...|MAP_STACK) + mprotect(+4096, 8388608, RW))
 *     and its own malloc (TLS, malloc_info) grows brk.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include "common.h"

#define USAGE "arenas [-w] [-k] [-s] [-t THREADS] [-b BYTES] [-B BLOCK]"
#define BLOCK 1000
#define MAX_BLOCK 100000 /* below the 128 KiB mmap threshold: from the arena */
#define MAX_THREADS 1024 /* past glibc's default limit (8 per CPU) on 127 CPUs */
#define BIG (100 * 1024) /* below the 128 KiB mmap threshold, above tcache's 1032 bytes */
#define NBIG 10

static long nbytes = 1024 * 1024, block = BLOCK;
static int shrink;
static pthread_barrier_t allocated, go;

static void *worker(void *arg)
{
	long nblocks = nbytes / block;
	void **top = NULL;
	void *big[NBIG];
	char name[16];

	snprintf(name, sizeof(name), "arena-%ld", (long)arg);
	if (pthread_setname_np(pthread_self(), name))
		wl_die("setname");
	for (long i = 0; i < nblocks; i++) {
		void **p = malloc(block);

		if (!p)
			wl_die("malloc");
		*p = top; /* each block points to the one allocated before it */
		top = p;
	}
	if (shrink) {
		/* 10 x 100 KiB on top of the blocks: freed top-down below, they bypass tcache and
		 * merge with the top chunk one by one, so the heap shrinks at most frees. */
		for (int i = 0; i < NBIG; i++)
			if (!(big[i] = malloc(BIG)))
				wl_die("malloc");
	}
	pthread_barrier_wait(&allocated);
	pthread_barrier_wait(&go);
	if (shrink) {
		for (int i = NBIG - 1; i >= 0; i--)
			free(big[i]);
		/* The 1000-byte blocks: the 7 newest go to tcache, the rest coalesce below them
		 * without reaching the top chunk; the heap shrinks once, when the thread's tcache
		 * is flushed at exit. */
		while (top) { /* newest first: top-down */
			void **next = *top;

			free(top);
			top = next;
		}
	}
	return NULL;
}

/* glibc's own arena count: <heap nr="N"> elements of malloc_info, minus main_arena's. */
static int glibc_arenas(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int heaps = 0;

	if (!f)
		wl_die("open_memstream");
	if (malloc_info(0, f))
		wl_die("malloc_info");
	fclose(f);
	for (char *p = buf; (p = strstr(p, "<heap nr=\"")); p++)
		heaps++;
	free(buf);
	return heaps - 1;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	int wait_start = 0, keep = 0;
	long n = 4;
	int opt;

	while ((opt = getopt(argc, argv, "wkst:b:B:")) != -1) {
		switch (opt) {
		case 'w': wait_start = 1; break;
		case 'k': keep = 1; break;
		case 's': shrink = 1; break;
		case 't': n = wl_num(optarg, USAGE); break;
		case 'b': nbytes = wl_num(optarg, USAGE); break;
		case 'B': block = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || n < 1 || n > MAX_THREADS || block < BLOCK || block > MAX_BLOCK ||
	    nbytes < block || nbytes > (1L << 30))
		wl_usage(USAGE);
	wl_check_page_size();
	if (wait_start)
		wl_handshake("ready");

	pthread_barrier_init(&allocated, NULL, n + 1);
	pthread_barrier_init(&go, NULL, n + 1);
	for (long i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(i + 1)))
			wl_die("pthread_create");
	pthread_barrier_wait(&allocated);
	if (keep) {
		char c;
		ssize_t r;

		wl_say("held %d\n", (int)getpid());
		while ((r = read(0, &c, 1)) != 0 && !(r < 0 && errno != EINTR))
			;
	}
	pthread_barrier_wait(&go);
	for (long i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	dprintf(1, "glibc_arenas %d\nthreads %ld\n", glibc_arenas(), n);
	return 0;
}
