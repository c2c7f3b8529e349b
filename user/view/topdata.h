/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What memwatch top shows, from the session's model: one row per traced
 * process with the numbers every other output shows (mapped and committed
 * from ledger/totals, the kernel's exact syscall counts, resident only when
 * read, growth over the Prometheus gauge's window), plus the history of its
 * mapped bytes for the sparkline. Pure: the caller samples once a second.
 */
#ifndef MW_TOPDATA_H
#define MW_TOPDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ledger/model.h"
#include "monitor/metrics.h"

#define MW_TOP_HISTORY 60 /* samples of mapped bytes: the last minute at 1/s */

enum mw_top_key {
	MW_TOP_BY_MAPPED,
	MW_TOP_BY_COMMITTED,
	MW_TOP_BY_RESIDENT,
	MW_TOP_BY_GROWTH,
	MW_TOP_BY_ARENAS,
	MW_TOP_BY_CALLS,
	MW_TOP_BY_PID,
	MW_TOP_NKEYS,
};

struct mw_top_row {
	uint32_t pid;
	const struct mw_process *proc; /* identity: a reused pid is a new process */
	char comm[MW_COMM_LEN];
	uint64_t mapped, committed;
	bool resident_known;
	uint64_t resident;
	bool growth_known; /* two samples at least */
	double growth;	   /* mapped bytes per second over the window */
	size_t arenas, threads;
	uint64_t calls;	 /* memory syscalls, the kernel's exact count, all threads */
	bool rate_known; /* calls_rate: between the last two samples */
	double calls_rate;
	uint64_t prev_calls, prev_ns;  /* at the last sample */
	uint64_t hist[MW_TOP_HISTORY]; /* mapped bytes, oldest first */
	size_t nhist;
};

struct mw_top_data {
	struct mw_top_row *v;
	size_t n, cap;
	struct mw_growth growth; /* the growth gauge's windows (monitor/metrics) */
};

void mw_top_data_init(struct mw_top_data *d);
void mw_top_data_free(struct mw_top_data *d);
/* Rows for the model's live processes now (new ones added, the gone dropped). 0 or -ENOMEM. */
int mw_top_refresh(struct mw_top_data *d, const struct mw_model *m);
/* Once a second, after a refresh: growth windows, call rates, history. 0 or -ENOMEM. */
int mw_top_sample(struct mw_top_data *d, const struct mw_model *m, uint64_t now_ns);
/* Sort the rows by key, largest first (pid: smallest first). */
void mw_top_sort(struct mw_top_data *d, enum mw_top_key key);
const char *mw_top_key_name(enum mw_top_key key);
/* Does the row match a filter (a substring of its name, or its pid)? "" matches all. */
bool mw_top_match(const struct mw_top_row *r, const char *filter);
/* Memory syscalls a process made, the kernel's exact counts, exited and retired threads too. */
uint64_t mw_process_calls(const struct mw_process *p);
/*
 * A sparkline of n values in width cells, scaled between their minimum and maximum: with utf8
 * the eight block characters, else "_.:-=+*#". The newest value is the last cell; fewer values
 * than cells leave blanks on the left. out gets at most width cells (3 bytes each with utf8).
 */
void mw_sparkline(const uint64_t *v, size_t n, size_t width, bool utf8, char *out, size_t outsz);

#endif /* MW_TOPDATA_H */
