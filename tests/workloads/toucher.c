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
	char *p;

	snprintf(name, sizeof(name), "touch-%ld", i);
	pthread_setname_np(pthread_self(), name);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		wl_say("mmap: %s\n", strerror(errno));
		exit(1);
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += PG)
		p[off] = 1;
	return NULL;
}

/* "Field:   N kB" of a status text, in bytes (0 if absent). */
static uint64_t status_kb(const char *text, const char *field)
{
	const char *p = strstr(text, field);

	return p ? strtoull(p + strlen(field) + 1, NULL, 10) * 1024 : 0;
}

static void say_status(void)
{
	char text[4096];
	ssize_t n = 0, r;
	int fd = open("/proc/self/status", O_RDONLY);

	if (fd < 0)
		exit(1);
	while (n < (ssize_t)sizeof(text) - 1 && (r = read(fd, text + n, sizeof(text) - 1 - n)) > 0)
		n += r;
	close(fd);
	text[n] = '\0';
	wl_say("status %llu %llu %llu %llu\n", (unsigned long long)status_kb(text, "\nVmRSS:"),
	       (unsigned long long)status_kb(text, "\nRssAnon:"),
	       (unsigned long long)status_kb(text, "\nRssFile:"),
	       (unsigned long long)status_kb(text, "\nRssShmem:"));
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
