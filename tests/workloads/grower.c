// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A process that is quiet, then grows: the OOM record's and the triggers' workload.
 * The main thread starts a thread named "leaker" and waits for it. That thread
 * idles for the quiet phase, then calls grow_leak() step after step: one malloc
 * of KB kibibytes (above glibc's mmap threshold: a malloc_chunk mapping of its
 * own), every page touched, never freed. The allocating line carries the
 * marker LEAK(grow).
 *
 * usage: grower [-w] [-W] [-q MS] [-k KB] [-d MS] [-m MB]
 *   -w  handshake before the quiet phase ("ready <pid>", a byte on stdin)
 *   -q  quiet phase in milliseconds (default 0)
 *   -k  kibibytes per step (default 1024)
 *   -d  milliseconds between steps (default 2)
 *   -m  stop after MB mebibytes (default 64); then exit 3, or with -W print
 *       "done <pid>" and wait for a byte on stdin, then exit 0. A cap even when
 *       an OOM test's memory limit did not apply: the host never runs out.
 */
#include <pthread.h>
#include <time.h>
#include "common.h"

#define USAGE "grower [-w] [-W] [-q MS] [-k KB] [-d MS] [-m MB]"

static long quiet_ms, step_kb = 1024, delay_ms = 2, max_mb = 64;
static int handshake, hold;
static void *volatile sink;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static __attribute__((noinline)) void grow_leak(size_t bytes)
{
	char *p = malloc(bytes); /* LEAK(grow) */

	if (!p)
		wl_die("malloc");
	for (size_t i = 0; i < bytes; i += PG)
		p[i] = 1;
	sink = p;
}

static void *grower(void *arg)
{
	size_t done = 0, step = (size_t)step_kb * 1024;

	(void)arg;
	pthread_setname_np(pthread_self(), "leaker"); /* before its first call */
	sleep_ms(quiet_ms);
	while (done + step <= (size_t)max_mb << 20) {
		grow_leak(step);
		done += step;
		if (delay_ms)
			sleep_ms(delay_ms);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	int c;

	while ((c = getopt(argc, argv, "wWq:k:d:m:")) != -1) {
		switch (c) {
		case 'w': handshake = 1; break;
		case 'W': hold = 1; break;
		case 'q': quiet_ms = wl_num(optarg, USAGE); break;
		case 'k': step_kb = wl_num(optarg, USAGE); break;
		case 'd': delay_ms = wl_num(optarg, USAGE); break;
		case 'm': max_mb = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (!step_kb)
		wl_usage(USAGE);
	if (handshake)
		wl_handshake("ready");
	if (pthread_create(&t, NULL, grower, NULL))
		wl_die("pthread_create");
	pthread_join(t, NULL);
	if (!hold)
		return 3;
	wl_handshake("done");
	return 0;
}
