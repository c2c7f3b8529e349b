// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * glibc_cases: glibc malloc behaviours that a syscall-only reading gets wrong, one per mode,
 * each with glibc's own numbers on stdout to compare (user/alloc/SIGNATURES.md).
 *
 * usage: glibc_cases MODE        (every mode prints "ready <pid>" on stderr and waits for a
 *                                 byte on stdin before its measured phase, then "done <pid>"
 *                                 and waits for EOF before exiting)
 *
 *   grow     the main heap exists before the wait (a few small blocks); then the main thread
 *            mallocs 83 blocks of 135000 bytes, kept: each one a brk of its own (brk +0x21000
 *            each: request + 128 KiB top pad, less what the top had), 11 MB in all. Prints
 *            "brk_grown BYTES": the break's move (sbrk(0) after - before).
 *   realloc  thread "owner" mallocs 1000 bytes (its first malloc: it creates arena 1) then
 *            110000 (most of the rest of the heap's first 132 KiB) and waits; the main thread
 *            reallocs the 1000-byte block to 100000 bytes: glibc grows the chunk's own arena,
 *            so the main thread makes mprotect(B+0x21000, 94208, RW) in arena 1 (measured),
 *            though it allocates from main_arena. Prints "owner_tid TID".
 *   trim     the main thread mallocs 400 blocks of 10000 bytes, frees all but the last (the
 *            top is pinned: no brk down), then malloc_trim(0): glibc gives the free pages
 *            back with madvise(MADV_DONTNEED) inside [heap] and keeps the break. Prints
 *            "trimmed_pages N" where N is what /proc/self/smaps_rollup's Rss lost, in pages
 *            (an oracle for what the DONTNEEDs covered, give or take a page of stdio).
 *   python_like  mmap(NULL, 1 MiB, RW, PRIVATE|ANONYMOUS) by the program itself, written
 *            after its first page (Python's object arenas: pools start wherever the arena
 *            is aligned), and malloc(300000) (a glibc chunk): prints "own_map ADDR" and
 *            "chunk ADDR LEN" (the chunk's mapping).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "common.h"

#define USAGE "glibc_cases grow|realloc|trim|python_like"

static void *owner_block;
static long owner_tid;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void *owner(void *arg)
{
	(void)arg;
	owner_tid = syscall(SYS_gettid);
	owner_block = malloc(1000);
	/* Most of the heap's first 132 KiB, right above the block: the realloc can
	 * neither grow in place nor fit in the top. */
	if (!owner_block || !malloc(110000))
		wl_die("malloc");
	pthread_mutex_lock(&mu);
	stage = 1;
	pthread_cond_broadcast(&cv);
	while (stage < 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void mode_grow(void)
{
	void *keep[83];
	char *before;

	for (int i = 0; i < 8; i++)
		if (!malloc(100))
			wl_die("malloc");
	wl_handshake("ready");
	before = sbrk(0);
	for (int i = 0; i < 83; i++)
		if (!(keep[i] = malloc(130000)))
			wl_die("malloc");
	printf("brk_grown %ld\n", (long)((char *)sbrk(0) - before));
	fflush(stdout);
}

static void mode_realloc(void)
{
	pthread_t t;
	void *p;

	if (pthread_create(&t, NULL, owner, NULL))
		wl_die("pthread_create");
	pthread_mutex_lock(&mu);
	while (stage < 1)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	printf("owner_tid %ld\n", owner_tid);
	fflush(stdout);
	wl_handshake("ready");
	p = realloc(owner_block, 100000);
	if (!p)
		wl_die("realloc");
	owner_block = p;
	pthread_mutex_lock(&mu);
	stage = 2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
}

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void mode_trim(void)
{
	static void *v[400];
	long before, after;

	for (int i = 0; i < 400; i++)
		if (!(v[i] = malloc(10000)))
			wl_die("malloc");
	for (int i = 0; i < 400; i++)
		memset(v[i], 1, 10000);
	for (int i = 0; i < 399; i++)
		free(v[i]);
	before = rss_kb();
	wl_handshake("ready");
	malloc_trim(0);
	after = rss_kb();
	printf("trimmed_pages %ld\n", (before - after) / 4);
	fflush(stdout);
}

static void mode_python_like(void)
{
	char *own, *chunk;

	wl_handshake("ready");
	own = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own == MAP_FAILED)
		wl_die("mmap");
	memset(own + 3 * PG, 1, 1 << 16);
	chunk = malloc(300000);
	if (!chunk)
		wl_die("malloc");
	memset(chunk, 1, 300000);
	/* glibc: nb = request + 8 rounded up to 16; the mapping: nb + 8 in whole pages. */
	printf("own_map %p\nchunk %p %lu\n", (void *)own, (void *)(chunk - 16),
	       (((300000UL + 8 + 15) & ~15UL) + 8 + PG - 1) & ~(PG - 1));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	wl_check_page_size();
	setvbuf(stdout, NULL, _IONBF, 0); /* no stdio buffer malloc'd in a measured phase */
	if (argc != 2)
		wl_usage(USAGE);
	if (!strcmp(argv[1], "grow"))
		mode_grow();
	else if (!strcmp(argv[1], "realloc"))
		mode_realloc();
	else if (!strcmp(argv[1], "trim"))
		mode_trim();
	else if (!strcmp(argv[1], "python_like"))
		mode_python_like();
	else
		wl_usage(USAGE);
	wl_say("done %d\n", (int)getpid());
	while (getchar() != EOF)
		;
	return 0;
}
