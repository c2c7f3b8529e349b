// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faulter: page faults taken by known functions, for --fault-stacks. touch_big() writes one
 * byte to each page of a 3 x MIB MiB malloc'd block (above the mmap threshold: glibc maps it as
 * a chunk of its own, class malloc_chunk); touch_small() does the same to MIB MiB of shared
 * anonymous memory (class shm). MADV_NOHUGEPAGE, so each page is one 4 KiB fault that finds
 * no page present, taken at the store in the function itself. Neither is inlined. With -a, a
 * thread named "arena-toucher" then runs touch_arena(): MIB MiB in 64 KiB mallocs, which glibc
 * serves from a new arena's heap (class arena_heap, arena 1), each page written.
 *
 * usage: faulter [-W] [-a] [-m MIB]   (MIB 1..256, default 8)
 *   -W  then print "done <pid>" on stderr and wait for a byte on stdin before exiting (a tracer
 *       names the stacks from the process's mappings, which go with it)
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "faulter [-W] [-a] [-m MIB]"
#define BLOCK (64 << 10)

static void *volatile keep[2];
static void *volatile blocks[256 * ((1 << 20) / BLOCK)];
static long mib = 8;

/* The pages of [p, p + len) that lie whole inside it, out of transparent huge pages. */
static void no_thp(char *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + PG - 1) & ~(PG - 1);

	madvise((void *)a, ((uintptr_t)p + len - a) & ~(PG - 1), MADV_NOHUGEPAGE);
}

static __attribute__((noinline)) void touch_big(size_t len)
{
	volatile char *p = malloc(len);

	if (!p)
		exit(1);
	no_thp((char *)p, len);
	for (size_t off = 0; off < len; off += PG)
		p[off] = 1;
	keep[0] = (void *)p;
}

static __attribute__((noinline)) void touch_small(size_t len)
{
	volatile char *p =
		mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		exit(1);
	no_thp((char *)p, len);
	for (size_t off = 0; off < len; off += PG)
		p[off] = 1;
	keep[1] = (void *)p;
}

static __attribute__((noinline)) void touch_arena(size_t len)
{
	for (size_t i = 0; i < len / BLOCK; i++) {
		volatile char *p = malloc(BLOCK);

		if (!p)
			exit(1);
		for (size_t off = 0; off < BLOCK; off += PG)
			p[off] = 1;
		blocks[i] = (void *)p;
	}
}

static void *arena_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "arena-toucher");
	touch_arena((size_t)mib << 20);
	return NULL;
}

int main(int argc, char **argv)
{
	bool wait_after = false, arena = false;
	pthread_t th;
	int opt;

	while ((opt = getopt(argc, argv, "Wam:")) != -1) {
		switch (opt) {
		case 'W': wait_after = true; break;
		case 'a': arena = true; break;
		case 'm': mib = strtol(optarg, NULL, 10); break;
		default: wl_usage(USAGE);
		}
	}
	if (mib < 1 || mib > 256)
		wl_usage(USAGE);
	touch_big((size_t)(3 * mib) << 20);
	touch_small((size_t)mib << 20);
	if (arena && (pthread_create(&th, NULL, arena_thread, NULL) || pthread_join(th, NULL)))
		return 1;
	if (wait_after) {
		wl_say("done %d\n", getpid());
		wl_wait_stdin();
	}
	return 0;
}
