// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * budget_phases: known leaks and frees on both sides of the detached windows of
 * the allocation probes' overhead budget (--max-overhead; tests/e2e/test_malloc.py).
 *
 * usage: budget_phases [-w] [-b MS] [-c MS] [-s MS]
 *   -w     handshake first ("ready <pid>", wait for a byte on stdin)
 *   -b MS  phase 0 lasts MS milliseconds (default 0)
 *   -c MS  phase 2 lasts MS milliseconds (default 1500)
 *   -s MS  phase 4 lasts MS milliseconds (default 3000)
 *
 * 0. spin: CPU work without an allocation (the budget earns the credit phase 1 needs:
 *    attached from an idle start it has none, and a tick in phase 1 would detach).
 * 1. keep_before: 20 blocks of 1111 bytes, never freed; free_before: 30 blocks of
 *    2222 bytes, kept until phase 3.
 * 2. churn: malloc+free pairs as fast as it can (malloc-bound: a budget detaches
 *    the probes soon, and keeps them away most of the time).
 * 3. the 30 free_before blocks are freed (right after the churn: most likely while
 *    the probes are away).
 * 4. spin: CPU work without a single allocation (the budget's credit grows back:
 *    the probes come back and stay).
 * 5. leak_after: 12 blocks of 3333 bytes, never freed; free_after: 40 blocks of
 *    4444 bytes allocated, then freed.
 * Each allocating line carries a LEAK(name) comment (the tests find it by that).
 * Prints "churn N" (pairs made) and "done <pid>" on stderr.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "common.h"

#define USAGE "budget_phases [-w] [-b MS] [-c MS] [-s MS]"

static void *volatile sink;
/* volatile: the compiler may not drop allocations it can see are never read */
static void *volatile keep[20], *volatile later[30];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static __attribute__((noinline)) void keep_before(void)
{
	for (int i = 0; i < 20; i++)
		keep[i] = malloc(1111); /* LEAK(keep_before) */
}

static __attribute__((noinline)) void free_before(void)
{
	for (int i = 0; i < 30; i++)
		later[i] = malloc(2222); /* LEAK(free_before) */
}

static __attribute__((noinline)) long churn(long ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	long n = 0;

	do {
		for (int i = 0; i < 256; i++, n++) {
			sink = malloc(64 + (size_t)(n & 255));
			free(sink);
		}
	} while (now_ms() < end);
	return n;
}

static __attribute__((noinline)) uint64_t spin(long ms)
{
	uint64_t end = now_ms() + (uint64_t)ms, x = 88172645463325252ULL;

	do {
		for (int i = 0; i < 100000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	} while (now_ms() < end);
	return x;
}

static __attribute__((noinline)) void leak_after(void)
{
	for (int i = 0; i < 12; i++)
		sink = malloc(3333); /* LEAK(leak_after) */
}

static __attribute__((noinline)) void free_after(void)
{
	void *volatile v[40];

	for (int i = 0; i < 40; i++)
		v[i] = malloc(4444); /* LEAK(free_after) */
	for (int i = 0; i < 40; i++)
		free(v[i]);
}

int main(int argc, char **argv)
{
	long before_ms = 0, churn_ms = 1500, spin_ms = 3000, n;
	int wait = 0, c;

	while ((c = getopt(argc, argv, "wb:c:s:")) != -1) {
		switch (c) {
		case 'w': wait = 1; break;
		case 'b': before_ms = wl_num(optarg, USAGE); break;
		case 'c': churn_ms = wl_num(optarg, USAGE); break;
		case 's': spin_ms = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (wait)
		wl_handshake("ready");
	if (before_ms)
		sink = (void *)(uintptr_t)spin(before_ms);
	keep_before();
	free_before();
	n = churn(churn_ms);
	for (int i = 0; i < 30; i++)
		free(later[i]);
	sink = (void *)(uintptr_t)spin(spin_ms);
	leak_after();
	free_after();
	wl_say("churn %ld\n", n);
	wl_say("done %d\n", (int)getpid());
	return 0;
}
