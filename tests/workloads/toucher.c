// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * toucher: named threads that make known amounts of memory resident. Thread i (1..N), named
 * "touch-i", maps i x MIB MiB of anonymous memory (mmap, MADV_NOHUGEPAGE so every page is a
 * 4 KiB page whatever the THP setting) and writes one byte to each page: each page is one page
 * fault that finds no page present, and i x MIB MiB of the process's RssAnon (-e: every thread
 * MIB MiB, an even fault-heavy load for make bench). The memory stays mapped. After the threads
 * are joined the main thread reads its own /proc/self/status and prints "status VmRSS RssAnon
 * RssFile RssShmem" (bytes) on stderr, just before it exits.
 *
 * usage: toucher [-w] [-W] [-e] [-n N] [-m MIB]   (N 1..8, default 3; MIB 1..256, default 8)
 *   -w  print "ready <pid>" on stderr, wait for a byte on stdin before starting the threads
 *   -W  after the status line print "done <pid>" and wait for a byte on stdin before exiting
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "toucher [-w] [-W] [-e] [-n N] [-m MIB]"
#define MAX_THREADS 8

static long mib = 8;
static bool equal; /* -e: each thread touches mib MiB (a fault-heavy load for make bench) */

static void *toucher(void *arg)
{
	long i = (long)arg;
	size_t len = (size_t)((equal ? 1 : i) * mib) << 20;
	char name[16];

	snprintf(name, sizeof(name), "touch-%ld", i);
	pthread_setname_np(pthread_self(), name);
	wl_touched_anon(len);
	return NULL;
}

static void say_status(void)
{
	char text[4096];

	wl_read_status(text, sizeof(text));
	wl_say("status %llu %llu %llu %llu\n", (unsigned long long)wl_status_kb(text, "\nVmRSS:"),
	       (unsigned long long)wl_status_kb(text, "\nRssAnon:"),
	       (unsigned long long)wl_status_kb(text, "\nRssFile:"),
	       (unsigned long long)wl_status_kb(text, "\nRssShmem:"));
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	bool wait_before = false, wait_after = false;
	long n = 3;
	int opt;

	while ((opt = getopt(argc, argv, "wWen:m:")) != -1) {
		switch (opt) {
		case 'w': wait_before = true; break;
		case 'W': wait_after = true; break;
		case 'e': equal = true; break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'm': mib = strtol(optarg, NULL, 10); break;
		default: wl_usage(USAGE);
		}
	}
	if (n < 1 || n > MAX_THREADS || mib < 1 || mib > 256)
		wl_usage(USAGE);
	if (wait_before) {
		wl_say("ready %d\n", getpid());
		wl_wait_stdin();
	}
	for (long i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, toucher, (void *)(i + 1)))
			return 1;
	for (long i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	say_status();
	if (wait_after) {
		wl_say("done %d\n", getpid());
		wl_wait_stdin();
	}
	_exit(0);
}
