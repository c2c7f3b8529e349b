/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading a clock in nanoseconds, the unit of every timestamp in memwatch. */
#ifndef MW_CLOCK_H
#define MW_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC: the BPF side's bpf_ktime_get_ns(); CLOCK_REALTIME: output timestamps. */
static inline uint64_t mw_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif /* MW_CLOCK_H */
