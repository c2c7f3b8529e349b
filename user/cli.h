/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command line -> struct mw_config. Pure: no exit(), no output. */
#ifndef MW_CLI_H
#define MW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MW_MAX_PIDS 1024

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
	const char *prometheus;	/* --prometheus ADDR:PORT (checked by mw_listen_parse) */
	bool follow;		/* -f */
	bool json;		/* --json */
	bool summary_only;	/* -c */
	bool show_dur;		/* -T */
	bool verbose;		/* -v */
	bool maps_at_exit;	/* --maps-at-exit */
	bool per_tid;		/* --per-tid: metrics by tid, not thread name */
	bool help;		/* -h: print usage, exit 0 */
	bool version;		/* -V */
};

/* 0 on success; -1 on a usage error with a one-line reason in err (no "memwatch: " prefix). */
int mw_cli_parse(int argc, char **argv, struct mw_config *cfg, char *err, size_t errsz);
void mw_cli_usage(FILE *f);

#endif /* MW_CLI_H */
