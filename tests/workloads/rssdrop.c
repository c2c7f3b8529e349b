// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rssdrop: calls that drop known amounts of resident memory, each measured by the process
 * itself. Each round maps PAGES pages of private anonymous memory (MADV_NOHUGEPAGE: 4 KiB
 * pages whatever the THP setting), writes every page, reads RssAnon from /proc/self/status,
 * makes one call, and reads RssAnon again; the calls go by turns: munmap of the whole mapping,
 * madvise(MADV_DONTNEED) of it (then a munmap of the now empty mapping), mremap shrinking it
 * to one page (then a munmap of that page). For each measured call it prints on stderr
 *   "call NAME ADDR BEFORE AFTER"   (ADDR in hex, BEFORE/AFTER: RssAnon in bytes)
 * /proc is read with read(2) into a buffer touched beforehand: nothing between the two reads
 * but the call changes RssAnon in this thread.
 *
 * usage: rssdrop [-t] [-n ROUNDS] [-p PAGES]   (ROUNDS 1..1000, default 12; PAGES 1..65536,
 *                                              default 256)
 *   -t  a second thread, "faulter", writes its 512 pages and drops them (MADV_DONTNEED), again
 *       and again, in every other three rounds (3-5, 9-11, ...): the counters change under
 *       the main thread's calls then. In the others it sleeps: the main thread waits for it
 *       to finish its pass before such a round, and for it to be writing before a busy one.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "rssdrop [-t] [-n ROUNDS] [-p PAGES]"
#define FAULTER_PAGES 512

static char status_buf[8192];
enum {
	QUIET,
	BUSY,
	STOP
};
static atomic_int phase;
static atomic_bool idle;
static atomic_long written; /* pages the faulter wrote */

/* RssAnon in bytes, or exits. */
static long rss_anon(void)
{
	wl_read_status(status_buf, sizeof(status_buf));
	if (!strstr(status_buf, "\nRssAnon:"))
		exit(1);
	return (long)wl_status_kb(status_buf, "\nRssAnon:");
}

static void *faulter(void *arg)
{
	size_t len = FAULTER_PAGES * PG;
	char *p = wl_touched_anon(len);

	(void)arg;
	pthread_setname_np(pthread_self(), "faulter");
	/* Each pass drops all 512 pages and writes them again: every drop is of 512. */
	for (int ph; (ph = atomic_load(&phase)) != STOP;) {
		if (ph == QUIET) {
			atomic_store(&idle, true);
			usleep(200);
			continue;
		}
		atomic_store(&idle, false);
		madvise(p, len, MADV_DONTNEED);
		for (size_t off = 0; off < len; off += PG) {
			p[off] = 1;
			atomic_fetch_add(&written, 1);
		}
	}
	munmap(p, len);
	return NULL;
}

static void round_of(int i, size_t len)
{
	static const char *const names[] = { "munmap", "madvise", "mremap" };
	char *p = wl_touched_anon(len);
	long before, after;

	before = rss_anon();
	switch (i % 3) {
	case 0: munmap(p, len); break;
	case 1: madvise(p, len, MADV_DONTNEED); break;
	case 2:
		if (mremap(p, len, PG, 0) == MAP_FAILED)
			exit(1);
		break;
	}
	after = rss_anon();
	wl_say("call %s %lx %ld %ld\n", names[i % 3], (unsigned long)p, before, after);
	if (i % 3)
		munmap(p, i % 3 == 1 ? len : PG);
}

/* The faulter asleep (its pass over) before a quiet round, writing before a busy one. */
static void set_phase(int ph)
{
	long w = atomic_load(&written);

	atomic_store(&phase, ph);
	if (ph == QUIET) {
		atomic_store(&idle, false);
		while (!atomic_load(&idle))
			usleep(100);
	} else {
		while (atomic_load(&written) < w + 16)
			sched_yield();
	}
}

int main(int argc, char **argv)
{
	long rounds = 12, pages = 256;
	bool thread = false;
	pthread_t t;
	int opt;

	while ((opt = getopt(argc, argv, "tn:p:")) != -1) {
		switch (opt) {
		case 't': thread = true; break;
		case 'n': rounds = wl_num(optarg, USAGE); break;
		case 'p': pages = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (rounds < 1 || rounds > 1000 || pages < 1 || pages > 65536)
		wl_usage(USAGE);
	wl_check_page_size();
	rss_anon(); /* its buffer resident before the first measure */
	if (thread && pthread_create(&t, NULL, faulter, NULL))
		return 1;
	for (long i = 0; i < rounds; i++) {
		if (thread)
			set_phase(i / 3 % 2 ? BUSY : QUIET);
		round_of((int)i, (size_t)pages * PG);
	}
	if (thread) {
		atomic_store(&phase, STOP);
		pthread_join(t, NULL);
	}
	return 0;
}
