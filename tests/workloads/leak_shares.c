// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leak_shares: a paced server with leaks of known shares, for the scaled estimates of
 * --malloc under an overhead budget (tests/e2e/test_malloc.py, tools/bench_malloc.sh).
 *
 * usage: leak_shares [-w] [-W] [-b] [-d MS] [-p US] [-s US] [-c N] [-o N] [-r N]
 *   -w     handshake first ("ready <pid>", wait for a byte on stdin)
 *   -W     at the end print "done <pid>" and wait for a byte on stdin again (the
 *          process still alive: a report may read its heaps)
 *   -d MS  run for MS milliseconds (default 4000)
 *   -p US  one request every US microseconds, on an absolute clock (default 1000):
 *          its rate does not depend on how long a request takes, as a server's
 *          clients set it, so a request slowed by the probes does not change it
 *   -s US  CPU work per request, in microseconds (default 200)
 *   -c N   malloc+free pairs per request (default 8)
 *   -o N   write(2) calls per request, of one byte to /dev/null (default 0): a server's
 *          answer, what the budget's estimates weigh by when there are enough of them
 *   -r N   read(2) calls per request, of one byte from /dev/zero, first (default 0):
 *          the request arriving
 *   -b     batches, as redis' event loop: every request due is read and served, then
 *          the batch's writes are made; a request slowed by the probes makes the
 *          requests after it late, so the batches grow while they are attached, and a
 *          detach falls between the reads of a batch and its writes
 *
 * Each request: the reads; one block from each of four leaking stacks, never freed: leak_big 2000 bytes (50% of the leaked bytes), leak_mid
 * 1200 (30%), leak_small 640 (16%), leak_tiny 160 (4%); and one 512-byte block of held,
 * freed 64 requests later (most of those frees come while a budget keeps the probes
 * away: never a leak); the CPU work; N malloc+free pairs (churn); the writes (-b: at
 * the end of the batch). Each allocating line carries a LEAK(name) comment.
 * Prints "requests N" (each leaking stack made N blocks) and "done <pid>" on stderr.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "common.h"

#define USAGE "leak_shares [-w] [-W] [-b] [-d MS] [-p US] [-s US] [-c N] [-o N] [-r N]"
#define HELD 64

static void *volatile sink;
static void *volatile held[HELD];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static __attribute__((noinline)) uint64_t work(long us)
{
	uint64_t end = now_ns() + (uint64_t)us * 1000, x = 88172645463325252ULL;

	do {
		for (int i = 0; i < 1000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	} while (now_ns() < end);
	return x;
}

static __attribute__((noinline)) void churn(long n, long pairs)
{
	for (long i = 0; i < pairs; i++) {
		sink = malloc(64 + (size_t)((n + i) & 127)); /* LEAK(churn) */
		free(sink);
	}
}

static __attribute__((noinline)) void leak_big(void)
{
	sink = malloc(2000); /* LEAK(leak_big) */
}

static __attribute__((noinline)) void leak_mid(void)
{
	sink = malloc(1200); /* LEAK(leak_mid) */
}

static __attribute__((noinline)) void leak_small(void)
{
	sink = malloc(640); /* LEAK(leak_small) */
}

static __attribute__((noinline)) void leak_tiny(void)
{
	sink = malloc(160); /* LEAK(leak_tiny) */
}

static __attribute__((noinline)) void hold(long n)
{
	free(held[n % HELD]);
	held[n % HELD] = malloc(512); /* LEAK(held) */
}

int main(int argc, char **argv)
{
	long dur_ms = 4000, period_us = 1000, work_us = 200, pairs = 8, writes = 0, reads = 0;
	long n = 0, pending = 0;
	int wait = 0, wait_end = 0, batch = 0, out, in, c;
	uint64_t next, end;
	struct timespec ts;
	char byte;

	while ((c = getopt(argc, argv, "wWbd:p:s:c:o:r:")) != -1) {
		switch (c) {
		case 'w': wait = 1; break;
		case 'W': wait_end = 1; break;
		case 'b': batch = 1; break;
		case 'r': reads = wl_num(optarg, USAGE); break;
		case 'd': dur_ms = wl_num(optarg, USAGE); break;
		case 'p': period_us = wl_num(optarg, USAGE); break;
		case 's': work_us = wl_num(optarg, USAGE); break;
		case 'c': pairs = wl_num(optarg, USAGE); break;
		case 'o': writes = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (period_us < 1)
		wl_usage(USAGE);
	out = open("/dev/null", O_WRONLY);
	in = open("/dev/zero", O_RDONLY);
	if (out < 0 || in < 0)
		wl_die("open /dev/null or /dev/zero");
	if (wait)
		wl_handshake("ready");
	next = now_ns();
	end = next + (uint64_t)dur_ms * 1000000;
	while (next < end) {
		for (long i = 0; i < reads; i++)
			if (read(in, &byte, 1) != 1)
				wl_die("read");
		/* The leaks first, as a server makes a request's objects while it parses it
		 * (redis' SET), then the work: a request the probes slow much (churn) still
		 * leaks soon after its read. */
		leak_big();
		leak_mid();
		leak_small();
		leak_tiny();
		hold(n);
		sink = (void *)(uintptr_t)work(work_us);
		churn(n, pairs);
		pending++;
		n++;
		/* The next request at its time, whatever this one took (a late one runs at once). */
		next += (uint64_t)period_us * 1000;
		/* Batches: the writes wait while a next request is due already. */
		if (batch && next <= now_ns() && next < end)
			continue;
		for (long i = 0; i < writes * pending; i++)
			if (write(out, "x", 1) != 1)
				wl_die("write");
		pending = 0;
		ts.tv_sec = (time_t)(next / 1000000000ULL);
		ts.tv_nsec = (long)(next % 1000000000ULL);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	wl_say("requests %ld\n", n);
	if (wait_end)
		wl_handshake("done");
	else
		wl_say("done %d\n", (int)getpid());
	return 0;
}
