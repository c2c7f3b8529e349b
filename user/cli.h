/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command line -> struct mw_config. Pure: no exit(), no output. */
#ifndef MW_CLI_H
#define MW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MW_MAX_PIDS 1024

/* --malloc and its options (parsed by cli_malloc.c). */
struct mw_malloc_config {
	bool on;		/* --malloc */
	double min_age_s;	/* --min-age */
	const char *folded_path;	/* --folded */
	uint32_t sample_every;	/* --sample, 0 = off */
	uint64_t sample_bytes;	/* --sample-bytes, 0 = off */
	double duty_on_s, duty_period_s;	/* --duty, 0 = off */
	uint64_t max_probe_rate;	/* --max-probe-rate, 0 = off */
	uint32_t stack_bytes;	/* --stack-bytes */
	bool stack_bytes_set;
	uint32_t max_outstanding;	/* --max-outstanding */
};

struct mw_config {
	uint32_t pids[MW_MAX_PIDS];
	size_t npids;
	char **cmd;		/* launch mode: argv of the command (NULL-terminated), else NULL */
	const char *out_path;	/* -o */
	const char *record_path;	/* --record */
	const char *replay_path;	/* --replay */
	double interval_s;	/* -i, 0 = off */
	double duration_s;	/* -d, 0 = until the targets exit or a signal */
	uint64_t ring_size;	/* --ring-size */
	bool follow;		/* -f */
	bool json;		/* --json */
	bool summary_only;	/* -c */
	bool show_dur;		/* -T */
	bool verbose;		/* -v */
	bool maps_at_exit;	/* --maps-at-exit */
	bool help;		/* -h: print usage, exit 0 */
	bool version;		/* -V */
	struct mw_malloc_config mal;
};

/* 0 on success; -1 on a usage error with a one-line reason in err (no "memwatch: " prefix). */
int mw_cli_parse(int argc, char **argv, struct mw_config *cfg, char *err, size_t errsz);
void mw_cli_usage(FILE *f);

#endif /* MW_CLI_H */
