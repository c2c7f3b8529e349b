// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sampler_frees: blocks freed between two reports and blocks kept, for the in-process sampler's
 * frees read from its table (tests/e2e/test_sampler.py: test_sampler_frees_from_table).
 *
 * usage: sampler_frees [-n N] [-d N] [-s SIZE] [-p MS]
 *   -n N     blocks kept (default 100), and dropped unless -d says otherwise
 *   -d N     blocks dropped (default: as many as kept; 0: none)
 *   -s SIZE  bytes per block (default 4096)
 *   -p MS    pause after the allocations and again after the frees (default 1500)
 *
 * keep_blocks() allocates N blocks that are never freed (leaks), drop_blocks() N that are freed
 * after the first pause; then the second pause, and the exit. No other malloc or free is made.
 * Prints on stderr (write(2), no stdio buffers):
 *   sampler_frees: kept N dropped N alloc_fired A free_fired F
 * A, F: how often libmemwatch-sampler.so fired its probes with a tracer on them (its exported
 * mwsampler_info; -1 -1 without it): the probe hits, each a trap into the kernel. With a
 * sampler that has a ring (its exported mwsampler_ring) also
 *   sampler_frees: ring state S samples N busy B full U waited W fired F slots K
 * its ring's state (0: never mapped) and counts: samples written to it (or dropped busy),
 * samples dropped as the ring was full of records memwatch had not read (after waiting for it),
 * samples that waited, mwsampler:ring hits, its size.
 */
#include <stdint.h>
#include <time.h>
#include "common.h"
#include "../../user/sampler/sampler.h"

#define USAGE "sampler_frees [-n N] [-d N] [-s SIZE] [-p MS]"
#define MAX_N 100000

/* The head of libmemwatch-sampler.so's struct mws_info (user/sampler/sampler.h). */
struct sampler_info {
	uint32_t magic, interposes;
	uint64_t mean;
	uint64_t alloc_fired, free_fired;
};

/* Weak: resolved to the sampler's when it is loaded, NULL otherwise (no dlsym: no malloc). */
extern struct sampler_info mwsampler_info __attribute__((weak));
extern struct mws_ring mwsampler_ring __attribute__((weak));

static void *kept[MAX_N], *dropped[MAX_N];

static __attribute__((noinline)) void keep_blocks(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		kept[i] = malloc(size); /* LEAK(keep) */
		*(volatile char *)kept[i] = 1;
	}
}

static __attribute__((noinline)) void drop_blocks(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		dropped[i] = malloc(size);
		*(volatile char *)dropped[i] = 1;
	}
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	long n = 100, size = 4096, ms = 1500, nd = -1;
	int opt;

	while ((opt = getopt(argc, argv, "n:d:s:p:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'd': nd = atol(optarg); break;
		case 's': size = atol(optarg); break;
		case 'p': ms = atol(optarg); break;
		default: wl_usage(USAGE);
		}
	}
	if (nd < 0)
		nd = n;
	if (n < 1 || n > MAX_N || nd > MAX_N || size < 1 || ms < 0)
		wl_usage(USAGE);
	keep_blocks(n, (size_t)size);
	drop_blocks(nd, (size_t)size);
	pause_ms(ms);
	for (long i = 0; i < nd; i++)
		free(dropped[i]);
	pause_ms(ms);
	if (&mwsampler_info)
		wl_say("sampler_frees: kept %ld dropped %ld alloc_fired %llu free_fired %llu\n", n,
		       nd,
		       (unsigned long long)__atomic_load_n(&mwsampler_info.alloc_fired,
							   __ATOMIC_RELAXED),
		       (unsigned long long)__atomic_load_n(&mwsampler_info.free_fired,
							   __ATOMIC_RELAXED));
	else
		wl_say("sampler_frees: kept %ld dropped %ld alloc_fired -1 free_fired -1\n", n, nd);
	if (&mwsampler_ring)
		wl_say("sampler_frees: ring state %d samples %llu busy %llu full %llu waited %llu "
		       "fired %llu slots %u\n",
		       atomic_load(&mwsampler_ring.state),
		       (unsigned long long)atomic_load(&mwsampler_ring.samples),
		       (unsigned long long)atomic_load(&mwsampler_ring.busy),
		       (unsigned long long)atomic_load(&mwsampler_ring.full),
		       (unsigned long long)atomic_load(&mwsampler_ring.waited),
		       (unsigned long long)atomic_load(&mwsampler_ring.fired),
		       mwsampler_ring.nslots);
	return 0;
}
