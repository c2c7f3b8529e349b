// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fork_leaks: a parent that leaks known blocks and forks children that allocate, free the
 * blocks they inherited and exit, for the in-process sampler's fork safety
 * (tests/e2e/test_sampler.py): its table and countdowns are copied into each child, which must
 * work on with them, and nothing a child does may reach the parent's report.
 *
 * usage: fork_leaks [-k CHILDREN]   (default 4, at most 50)
 * Parent: leak_parent() keeps 20 blocks of 4000 bytes; then child i (1..K), one after the other:
 *   frees the 20 inherited blocks, makes 2000 malloc+free pairs (16..2048 bytes) and keeps 5
 *   blocks of 900 bytes in child_leak(), then exit(i). The parent checks each status, makes 1000
 *   pairs, frees 5 of its 20 blocks (15 x 4000 remain) and exits 0; 1 if a child failed.
 */
#include <stdint.h>
#include <sys/wait.h>
#include "common.h"

#define USAGE "fork_leaks [-k CHILDREN]"

static void *blocks[20];
static void *volatile sink;

static __attribute__((noinline)) void leak_parent(void)
{
	for (int i = 0; i < 20; i++)
		blocks[i] = malloc(4000); /* LEAK(parent) */
}

static __attribute__((noinline)) void child_leak(void)
{
	for (int i = 0; i < 5; i++)
		sink = malloc(900);
}

static void pairs(long n, uint64_t rng)
{
	for (long i = 0; i < n; i++) {
		void *p;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		p = malloc(16 + (rng >> 33) % 2033);
		if (!p)
			wl_die("malloc");
		sink = p;
		free(p);
	}
}

int main(int argc, char **argv)
{
	long k = 4;
	int c, status;

	while ((c = getopt(argc, argv, "k:")) != -1) {
		if (c != 'k')
			wl_usage(USAGE);
		k = wl_num(optarg, USAGE);
	}
	if (k < 1 || k > 50)
		wl_usage(USAGE);
	leak_parent();
	for (long i = 1; i <= k; i++) {
		pid_t p = fork();

		if (p < 0)
			wl_die("fork");
		if (p == 0) {
			for (int j = 0; j < 20; j++)
				free(blocks[j]);
			pairs(2000, (uint64_t)i);
			child_leak();
			exit((int)i);
		}
		if (waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status) != i) {
			wl_say("fork_leaks: child %ld failed (status %#x)\n", i, status);
			return 1;
		}
	}
	pairs(1000, 99);
	for (int j = 15; j < 20; j++)
		free(blocks[j]);
	wl_say("fork_leaks: children %ld ok\n", k);
	return 0;
}
