// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A pinned heap top: N blocks of 8000 bytes from the main heap, then one
 * small block above them (pin_top), then the N are freed. glibc only trims
 * the top chunk: the free space below the live top block stays committed
 * (N = 200 by default: it keeps about 1.5 MiB).
 *
 * usage: pinned_top [-n N] [-l L] [-k K] [-u]
 *   -n N  blocks of 8000 bytes (1..65536, default 200)
 *   -l L  the first L blocks stay live (the rest are freed)
 *   -k K  every K-th block stays live too (K >= 2)
 *   -u    no pinning block: the freed space at the top is trimmed (brk goes down)
 * -n 9000 leaves a 69 MiB main heap that glibc cannot trim (memwatch's
 * main_heap_not_trimmed diagnosis); -n 18000 -l 9000 -u gives back the top
 * half and keeps 69 MiB (trimmed: no diagnosis).
 *
 * It first mallocs and frees one block: glibc then allocates its per-thread
 * cache inside malloc (no entry point a probe sees) and the freed block goes
 * back to the top chunk. It prints glibc's own view of the main arena
 * (mallinfo2) on stderr after that and at the end:
 *   mallinfo_start uordblks=N
 *   mallinfo arena=N uordblks=N fordblks=N keepcost=N
 * so uordblks(end) - uordblks(start) is the bytes of the live chunks of the
 * program's own blocks. No stdio: nothing else allocates.
 */
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"

#define MAX_BLOCKS 65536
#define BLOCK 8000

static void *volatile keep;
static void *blocks[MAX_BLOCKS]; /* not on the heap: only the blocks are */

static __attribute__((noinline)) void *pin_top(void)
{
	return malloc(100); /* PIN */
}

int main(int argc, char **argv)
{
	long n = 200, live_first = 0, every = 0;
	struct mallinfo2 mi;
	int opt, pin = 1;

	while ((opt = getopt(argc, argv, "n:l:k:u")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'l': live_first = atol(optarg); break;
		case 'k': every = atol(optarg); break;
		case 'u': pin = 0; break;
		default: wl_usage("pinned_top [-n N] [-l L] [-k K] [-u]");
		}
	}
	if (optind != argc || n < 1 || n > MAX_BLOCKS || live_first < 0 || every == 1 || every < 0)
		wl_usage("pinned_top [-n N] [-l L] [-k K] [-u]");
	keep = malloc(BLOCK); /* through a volatile: the compiler may not drop the pair */
	free(keep);
	mi = mallinfo2();
	wl_say("mallinfo_start uordblks=%zu\n", mi.uordblks);
	for (long i = 0; i < n; i++)
		blocks[i] = malloc(BLOCK);
	if (pin)
		keep = pin_top();
	for (long i = 0; i < n; i++)
		if (i >= live_first && !(every && i % every == 0))
			free(blocks[i]);
	mi = mallinfo2();
	wl_say("mallinfo arena=%zu uordblks=%zu fordblks=%zu keepcost=%zu\n", mi.arena, mi.uordblks,
	       mi.fordblks, mi.keepcost);
	return 0;
}
