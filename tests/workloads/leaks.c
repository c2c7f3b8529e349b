// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Known leaks for the allocator probes: each leak_* function makes N blocks
 * of S bytes through one allocator entry point and never frees them, with N
 * and S different per function so that each report row is recognisable. The
 * line of each allocating call carries a LEAK(name) comment: the tests find it by that.
 * Churn (malloc/free, realloc chains, calloc/free) leaves nothing behind.
 *
 * usage: leaks [-w] [-p] [-r ROUNDS] [-t MS]
 *   -w  handshake before the leaks ("ready <pid>", wait for a byte on stdin)
 *   -p  before the handshake, allocate 50 blocks of 777 bytes and keep 20 of
 *       them; free the other 30 after it (blocks made before an attach)
 *   -r  repeat the churn ROUNDS times (default 1000)
 *   -t  churn for MS milliseconds instead, then print "rounds N" 
 * Also built with -static and into a copied-libc namespace by the tests.
 */
#include <malloc.h>
#include <time.h>
#include <stdlib.h>
#include "common.h"

#define USAGE "leaks [-w] [-p] [-r ROUNDS] [-t MS]"
/* The tests find each allocating line by the marker comment at its end. */

static void *volatile sink;

static __attribute__((noinline)) void leak_malloc(void)
{
	for (int i = 0; i < 10; i++)
		sink = malloc(1000); /* LEAK(malloc) */
}

static __attribute__((noinline)) void leak_calloc(void)
{
	for (int i = 0; i < 11; i++)
		sink = calloc(4, 500); /* LEAK(calloc) */
}

static __attribute__((noinline)) void leak_realloc(void)
{
	for (int i = 0; i < 12; i++) {
		void *p = malloc(100);

		sink = realloc(p, 3000); /* LEAK(realloc) */
	}
}

static __attribute__((noinline)) void leak_reallocarray(void)
{
	for (int i = 0; i < 13; i++)
		sink = reallocarray(NULL, 7, 1000); /* LEAK(reallocarray) */
}

static __attribute__((noinline)) void leak_posix_memalign(void)
{
	for (int i = 0; i < 14; i++) {
		void *p;

		if (posix_memalign(&p, 64, 4000)) /* LEAK(posix_memalign) */
			wl_die("posix_memalign");
		sink = p;
	}
}

static __attribute__((noinline)) void leak_aligned_alloc(void)
{
	for (int i = 0; i < 15; i++)
		sink = aligned_alloc(256, 5120); /* LEAK(aligned_alloc) */
}

static __attribute__((noinline)) void leak_memalign(void)
{
	for (int i = 0; i < 16; i++)
		sink = memalign(128, 6000); /* LEAK(memalign) */
}

static __attribute__((noinline)) void leak_valloc(void)
{
	for (int i = 0; i < 17; i++)
		sink = valloc(7000); /* LEAK(valloc) */
}

/* Nothing of this stays. */
static __attribute__((noinline)) void churn(long rounds)
{
	for (long i = 0; i < rounds; i++) {
		char *a = malloc(64 + i % 512), *b = calloc(3, 100);

		sink = b; /* used: the compiler may not drop the pair */

		a = realloc(a, 2000);
		free(b);
		free(a);
	}
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Churn in batches of 100 rounds until ms have passed. */
static long churn_for(long ms)
{
	long end = now_ms() + ms, rounds = 0;

	while (now_ms() < end) {
		churn(100);
		rounds += 100;
	}
	return rounds;
}

int main(int argc, char **argv)
{
	long ms = 0;
	void *pre[50];
	long rounds = 1000;
	int wait = 0, prealloc = 0, c;

	while ((c = getopt(argc, argv, "wpr:t:")) != -1) {
		switch (c) {
		case 'w': wait = 1; break;
		case 'p': prealloc = 1; break;
		case 'r': rounds = wl_num(optarg, USAGE); break;
		case 't': ms = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (prealloc)
		for (int i = 0; i < 50; i++)
			pre[i] = malloc(777);
	if (wait)
		wl_handshake("ready");
	if (prealloc)
		for (int i = 20; i < 50; i++)
			free(pre[i]);
	leak_malloc();
	leak_calloc();
	leak_realloc();
	leak_reallocarray();
	leak_posix_memalign();
	leak_aligned_alloc();
	leak_memalign();
	leak_valloc();
	if (ms)
		wl_say("rounds %ld\n", churn_for(ms));
	else
		churn(rounds);
	wl_say("done %d\n", (int)getpid());
	return 0;
}
