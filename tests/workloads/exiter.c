// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exiter: a target that keeps mapping and unmapping until it is killed, or that exits on its own
 * with a distinctive status. Used for "target exits mid-trace", signals to memwatch while it
 * traces a live process, and launch-mode exit status passthrough.
 *
 * usage: exiter [-w] [-n N] [-s USEC]
 *   -w       print "ready <pid>" on stderr and wait for a byte on stdin first
 *   -n N     do N iterations, then exit with status 3 (without -n: loop until killed)
 *   -s USEC  sleep USEC microseconds after each iteration (default: 1000 without -n, 0 with -n)
 *
 * One iteration (main thread): mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS,
 * -1, 0) = A (vm +65536) ; munmap(A, 65536) = 0 (vm -65536).
 * With -w -n N the measured phase of the main thread is exactly: mmap N, munmap N, errors 0,
 * mapped N*65536, unmapped N*65536, net 0; then exit_group(3).
 */
#include <stdbool.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "exiter [-w] [-n N] [-s USEC]"
#define LEN 65536UL

int main(int argc, char **argv)
{
	long n = -1, usec = -1;
	bool wait_start = false;
	int opt;

	while ((opt = getopt(argc, argv, "wn:s:")) != -1) {
		switch (opt) {
		case 'w': wait_start = true; break;
		case 'n': n = wl_num(optarg, USAGE); break;
		case 's': usec = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc)
		wl_usage(USAGE);
	if (usec < 0)
		usec = n < 0 ? 1000 : 0;
	wl_prefault_stack();
	if (wait_start)
		wl_handshake("ready");

	for (long i = 0; n < 0 || i < n; i++) {
		void *p =
			mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			wl_die("mmap");
		if (munmap(p, LEN))
			wl_die("munmap");
		if (usec)
			usleep(usec);
	}
	return 3;
}
