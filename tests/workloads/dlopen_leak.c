// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Leaks from a library loaded after the first allocations (dlopen): its
 * stacks must be unwound and symbolized although the library was not mapped
 * when memwatch first read the process's maps.
 *   usage: dlopen_leak LIB.so   (calls LIB's "plugin_leak" once)
 * Before the dlopen it leaks 3 blocks of 333 bytes from before_dlopen(), then
 * sleeps 0.3 s so that a tracer has read its maps before the library is there.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include "common.h"

static void *volatile sink;
static volatile int nbefore = 3; /* volatile: one call site, not an unrolled three */

static __attribute__((noinline)) void before_dlopen(void)
{
	for (int i = 0; i < nbefore; i++)
		sink = malloc(333);
}

int main(int argc, char **argv)
{
	void (*leak)(void);
	void *h;

	if (argc != 2)
		wl_usage("dlopen_leak LIB.so");
	before_dlopen();
	/* Let memwatch unwind those first (it reads the maps then), without the library. */
	usleep(300 * 1000);
	h = dlopen(argv[1], RTLD_NOW);
	if (!h)
		wl_die("dlopen %s", argv[1]);
	leak = (void (*)(void))dlsym(h, "plugin_leak");
	if (!leak)
		wl_die("dlsym plugin_leak");
	leak();
	return 0;
}
