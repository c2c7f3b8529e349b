/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The allocator-probe options (--malloc and friends): parsed into cfg->mal. */
#ifndef MW_CLI_MALLOC_H
#define MW_CLI_MALLOC_H

#include <getopt.h>
#include <stdio.h>
#include "base/options.h"

#define MW_DEFAULT_STACK_BYTES 4096
#define MW_DEFAULT_OUTSTANDING 65536
#define MW_MAX_OUTSTANDING (16U << 20)
/*
 * --max-overhead when a running process is traced (-p, --comm, --cgroup, the
 * daemon): the probes' CPU time at most this share of the target's own. Chosen
 * by measurement (tools/bench_malloc.sh, redis part): see the manual.
 */
#define MW_DEFAULT_MAX_OVERHEAD_PCT 2.0

enum {
	OPT_MALLOC = 512,
	OPT_MIN_AGE,
	OPT_FOLDED,
	OPT_SAMPLE,
	OPT_SAMPLE_BYTES,
	OPT_DUTY,
	OPT_MAX_PROBE_RATE,
	OPT_STACK_BYTES,
	OPT_MAX_OUTSTANDING,
	OPT_HOLD_EXIT,
	OPT_SAMPLER,
	OPT_MAX_OVERHEAD,
	OPT_MALLOC_LAST = OPT_MAX_OVERHEAD,
};

/* Spliced into cli.c's long option table. */
#define MW_CLI_MALLOC_OPTS                                                           \
	{ "malloc", no_argument, NULL, OPT_MALLOC },                                 \
		{ "min-age", required_argument, NULL, OPT_MIN_AGE },                 \
		{ "folded", required_argument, NULL, OPT_FOLDED },                   \
		{ "sample", required_argument, NULL, OPT_SAMPLE },                   \
		{ "sample-bytes", required_argument, NULL, OPT_SAMPLE_BYTES },       \
		{ "duty", required_argument, NULL, OPT_DUTY },                       \
		{ "max-probe-rate", required_argument, NULL, OPT_MAX_PROBE_RATE },   \
		{ "stack-bytes", required_argument, NULL, OPT_STACK_BYTES },         \
		{ "max-outstanding", required_argument, NULL, OPT_MAX_OUTSTANDING }, \
		{ "hold-exit", no_argument, NULL, OPT_HOLD_EXIT },                   \
		{ "sampler", no_argument, NULL, OPT_SAMPLER },                       \
		{ "max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD },

/* One of the options above; -1 with a reason in err on a bad value. */
int mw_cli_malloc_opt(int opt, const char *arg, struct mw_config *cfg, char *err, size_t errsz);
/* After parsing: combinations and defaults. -1 with a reason in err. */
int mw_cli_malloc_check(struct mw_config *cfg, char *err, size_t errsz);
void mw_cli_malloc_usage(FILE *f);

#endif /* MW_CLI_MALLOC_H */
