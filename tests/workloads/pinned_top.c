// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A pinned heap top: 200 blocks of 8000 bytes from the main heap, then one
 * small block above them (pin_top), then the 200 are freed. glibc cannot
 * trim the free space below the live top block, so it keeps about 1.5 MiB.
 * At the end it prints glibc's own view of the main arena (mallinfo2):
 *   mallinfo arena=N uordblks=N fordblks=N keepcost=N
 * No stdio: nothing else allocates.
 */
#include <malloc.h>
#include <stdlib.h>
#include "common.h"

#define NBLOCKS 200
#define BLOCK 8000

static void *volatile keep;

static __attribute__((noinline)) void *pin_top(void)
{
	return malloc(100); /* PIN */
}

int main(void)
{
	static void *blocks[NBLOCKS];
	struct mallinfo2 mi;

	for (int i = 0; i < NBLOCKS; i++)
		blocks[i] = malloc(BLOCK);
	keep = pin_top();
	for (int i = 0; i < NBLOCKS; i++)
		free(blocks[i]);
	mi = mallinfo2();
	wl_say("mallinfo arena=%zu uordblks=%zu fordblks=%zu keepcost=%zu\n", mi.arena, mi.uordblks,
	       mi.fordblks, mi.keepcost);
	return 0;
}
