// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sampled_mix: known outstanding bytes from four call sites of very different block sizes,
 * among many short-lived blocks, for the in-process sampler's estimates
 * (tests/e2e/test_sampler.py, tools/bench_sampler.sh: a sampled run against the exact counts
 * and against a full uprobe run).
 *
 * usage: sampled_mix [-w] [-W] [-s SCALE] [-c CHURN]
 *   -w  handshake before allocating ("ready <pid>", wait for a byte on stdin)
 *   -W  after the last allocation print "done <pid>" and wait for a byte again
 *   -s  SCALE (default 1) multiplies every count below
 *   -c  CHURN malloc+free pairs (sizes 16..4096, freed at once) per kept block (default 1)
 *
 * Kept until exit, interleaved (one block of each site in turn while it has some left):
 *   keep_small   350000 x 48 bytes      16.8 MB
 *   keep_medium   16000 x 1000 bytes    16.0 MB
 *   keep_large      300 x 65536 bytes   19.7 MB
 *   keep_huge         8 x 1 MiB          8.4 MB
 * Prints on stderr, exact: "sampled_mix: SITE bytes B count N" per site, then
 * "sampled_mix: allocated bytes B count N" (every allocation, churn included).
 */
#include <stdint.h>
#include "common.h"

#define USAGE "sampled_mix [-w] [-W] [-s SCALE] [-c CHURN]"

struct site {
	const char *name;
	long n;
	size_t size;
	long made;
};

static void *volatile sink;
static uint64_t alloc_bytes, alloc_count;

static __attribute__((noinline)) void *keep_small(size_t n)
{
	return malloc(n); /* KEEP(small) */
}

static __attribute__((noinline)) void *keep_medium(size_t n)
{
	return malloc(n); /* KEEP(medium) */
}

static __attribute__((noinline)) void *keep_large(size_t n)
{
	return malloc(n); /* KEEP(large) */
}

static __attribute__((noinline)) void *keep_huge(size_t n)
{
	return malloc(n); /* KEEP(huge) */
}

static __attribute__((noinline)) void churn_pair(uint64_t *rng)
{
	size_t n;
	void *p;

	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	n = 16 + *rng % 4081;
	p = malloc(n);
	if (!p)
		wl_die("malloc");
	sink = p;
	free(p);
	alloc_bytes += n;
	alloc_count++;
}

int main(int argc, char **argv)
{
	struct site s[] = {
		{ "keep_small", 350000, 48, 0 },
		{ "keep_medium", 16000, 1000, 0 },
		{ "keep_large", 300, 65536, 0 },
		{ "keep_huge", 8, 1 << 20, 0 },
	};
	void *(*fn[])(size_t) = { keep_small, keep_medium, keep_large, keep_huge };
	long scale = 1, churn = 1, left = 1;
	uint64_t rng = 88172645463325252ULL;
	int wait = 0, wait_end = 0, c;

	while ((c = getopt(argc, argv, "wWs:c:")) != -1) {
		switch (c) {
		case 'w': wait = 1; break;
		case 'W': wait_end = 1; break;
		case 's': scale = wl_num(optarg, USAGE); break;
		case 'c': churn = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || scale < 1)
		wl_usage(USAGE);
	if (wait)
		wl_handshake("ready");
	while (left) {
		left = 0;
		for (int i = 0; i < 4; i++) {
			if (s[i].made == s[i].n * scale)
				continue;
			sink = fn[i](s[i].size);
			if (!sink)
				wl_die("malloc %zu", s[i].size);
			((char *)sink)[0] = 1;
			s[i].made++;
			alloc_bytes += s[i].size;
			alloc_count++;
			for (long k = 0; k < churn; k++)
				churn_pair(&rng);
			left = 1;
		}
	}
	for (int i = 0; i < 4; i++)
		wl_say("sampled_mix: %s bytes %llu count %ld\n", s[i].name,
		       (unsigned long long)(s[i].made * s[i].size), s[i].made);
	wl_say("sampled_mix: allocated bytes %llu count %llu\n", (unsigned long long)alloc_bytes,
	       (unsigned long long)alloc_count);
	if (wait_end)
		wl_handshake("done");
	return 0;
}
