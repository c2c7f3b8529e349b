// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stackcalls: memory syscalls made by malloc from known functions, for --stacks. main calls
 * grow_main_heap(), which mallocs 16 blocks of 64 KiB (below the mmap threshold: the main heap
 * grows by brk); then a thread named "arena-maker" runs make_arena(), whose first malloc
 * creates a glibc arena (mmap of a 64 MiB-aligned heap, mprotect of its first pages). The
 * functions are never inlined, so each call's stack names them (strace -k shows the same).
 *
 * usage: stackcalls [-W]
 *   -W  then print "done <pid>" on stderr and wait for a byte on stdin before exiting (a tracer
 *       names the stacks from the process's mappings, which go with it)
 */
#include <pthread.h>
#include "common.h"

#define USAGE "stackcalls [-W]"

static void *volatile keep[32];

static __attribute__((noinline)) void grow_main_heap(void)
{
	for (int i = 0; i < 16; i++)
		keep[i] = malloc(64 << 10);
}

static __attribute__((noinline)) void make_arena(void)
{
	keep[16] = malloc(1000);
}

static void *arena_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "arena-maker");
	make_arena();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;
	int wait_after = 0;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "-W")))
		wl_usage(USAGE);
	wait_after = argc == 2;
	grow_main_heap();
	if (pthread_create(&th, NULL, arena_thread, NULL))
		return 1;
	pthread_join(th, NULL);
	if (wait_after) {
		wl_say("done %d\n", getpid());
		wl_wait_stdin();
	}
	return 0;
}
