// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stackmaps: mappings made by two known functions, for --stacks' per-stack ledger, and memory
 * made resident in several classes, for resident_by_class. map_big() mmaps 8 MiB in one call;
 * map_small() mmaps 2 MiB twice; then unmap_half() unmaps the upper half of map_big's mapping.
 * So map_big's stack holds 4 MiB in 1 call and map_small's 4 MiB in 2. Every page of those is
 * written (resident anonymous memory); the main heap grows by malloc (written), a 4 MiB malloc
 * is a glibc mmapped chunk (written) with 1 MiB mapped right below it by map_beside() (one
 * VMA for the kernel), and a thread creates an arena and writes 1 MiB of its heap in blocks
 * of 16 KiB.
 * The functions are never inlined, so each call's stack names them (strace -k shows the same).
 *
 * usage: stackmaps [-W]
 *   -W  then print "chunk ADDR arena ADDR" (the 4 MiB block and the thread's) and "done <pid>"
 *       on stderr and wait for a byte on stdin before exiting
 */
#include <pthread.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "stackmaps [-W]"
#define MIB (1UL << 20)

static void *volatile keep[8];

static void *checked(void *p)
{
	if (p == MAP_FAILED) {
		wl_say("stackmaps: mmap: %s\n", strerror(errno));
		exit(1);
	}
	return p;
}

/* Each calls mmap itself: the call's caller is the function named (no inlined helper, which
 * a DWARF unwinder would name instead). */
static __attribute__((noinline)) void map_big(void)
{
	keep[0] = checked(
		mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	memset(keep[0], 1, 8 * MIB);
}

static __attribute__((noinline)) void map_small(void)
{
	for (int i = 1; i <= 2; i++) { /* one call site: one stack, 2 calls */
		keep[i] = checked(mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
		memset(keep[i], 1, 2 * MIB);
	}
}

/* 1 MiB right below the chunk glibc mapped: the kernel merges the two into one VMA, of two
 * classes (anonymous, malloc_chunk). */
static __attribute__((noinline)) void map_beside(void *chunk)
{
	char *c0 = (char *)((unsigned long)chunk & ~(PG - 1));

	keep[6] = checked(mmap(c0 - MIB, MIB, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
	memset(keep[6], 1, MIB);
}

static __attribute__((noinline)) void unmap_half(void)
{
	if (munmap((char *)keep[0] + 4 * MIB, 4 * MIB)) {
		wl_say("stackmaps: munmap: %s\n", strerror(errno));
		exit(1);
	}
}

static void *arena_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "arena-user");
	/* Below the mmap threshold (128 KiB): 1 MiB in blocks of the new arena's heap. */
	for (int i = 0; i < 64; i++) {
		void *b = malloc(16 << 10);

		memset(b, 1, 16 << 10);
		if (!i)
			keep[3] = b;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;
	int wait_after;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "-W")))
		wl_usage(USAGE);
	wait_after = argc == 2;
	keep[5] = malloc(4 * MIB); /* above the mmap threshold: a chunk of its own */
	memset(keep[5], 1, 4 * MIB);
	map_beside(keep[5]);
	map_big();
	map_small();
	unmap_half();
	keep[4] = malloc(64 << 10); /* the main heap */
	memset(keep[4], 1, 64 << 10);
	if (pthread_create(&th, NULL, arena_thread, NULL))
		return 1;
	pthread_join(th, NULL);
	if (wait_after) {
		/* Where the glibc chunk and the arena's block are, for a test's own reading. */
		wl_say("chunk %p arena %p\n", keep[5], keep[3]);
		wl_say("done %d\n", getpid());
		wl_wait_stdin();
	}
	return 0;
}
