/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus metrics: the model and the kernel's statistics rendered as the
 * text exposition format 0.0.4, and the per-process growth windows the
 * growth-rate gauge is computed from. Pure: no I/O, no clocks; the caller
 * (metrics_http.c) samples, reads the kernel and serves the text.
 */
#ifndef MW_METRICS_H
#define MW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ledger/model.h"

struct mw_fprof; /* session/faults.h */

/* A growing text buffer; after an allocation failure oom is set and nothing more is added. */
struct mw_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void mw_buf_init(struct mw_buf *b);
void mw_buf_free(struct mw_buf *b);
void mw_buf_printf(struct mw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Growth rate of each process's mapped bytes over the last window: one
 * sample per process per call of mw_growth_sample (the exporter samples once
 * a second), at most MW_GROWTH_SAMPLES kept per process. A process that left
 * the model loses its window at the next sample.
 */
#define MW_GROWTH_SAMPLES 61 /* 60 s of 1 s samples */

struct mw_growth_win {
	uint32_t pid;
	const struct mw_process *proc; /* identity: a reused pid is a new process */
	uint64_t t_ns[MW_GROWTH_SAMPLES];
	uint64_t bytes[MW_GROWTH_SAMPLES];
	size_t head, n; /* ring: newest at (head + n - 1) % SAMPLES */
};

struct mw_growth {
	struct mw_growth_win *v;
	size_t n, cap;
};

void mw_growth_init(struct mw_growth *g);
void mw_growth_free(struct mw_growth *g);
/* A sample of every live process of m at now_ns; forgets processes not in m. 0 or -ENOMEM. */
int mw_growth_sample(struct mw_growth *g, const struct mw_model *m, uint64_t now_ns);
/* Bytes per second between the oldest and the newest sample of p's window;
 * false while fewer than two samples exist. */
bool mw_growth_rate(const struct mw_growth *g, const struct mw_process *p, double *rate);

/*
 * Thread renames and the thread label: a thread's counts are exported under
 * its current name, so a rename would move them from one series to another
 * and the old series would drop (a counter reset to Prometheus). This state,
 * updated before each rendering, keeps what a thread counted under a name
 * with that name ("carried"), and exports under the new name only what it
 * counted since. Per process, forgotten with it.
 */
/* The counted rows: calls and errors per syscall, and the bytes faulted in ([2][0]). */
#define MW_TN_ROWS 3
#define MW_TN_FAULTED 2

struct mw_tn_thread {
	uint32_t tid;
	char name[MW_COMM_LEN];			 /* the name its series is under */
	uint64_t base[MW_TN_ROWS][MW_SYS_COUNT]; /* counts made under earlier names */
	uint64_t last[MW_TN_ROWS][MW_SYS_COUNT]; /* counts at the last update */
};

struct mw_tn_carry {
	char name[MW_COMM_LEN];
	uint64_t n[MW_TN_ROWS][MW_SYS_COUNT]; /* counts renamed threads made under it */
};

/*
 * A process names at most MW_TN_MAX_NAMES thread series: the first names seen
 * keep theirs for the process's life; threads, carries and retired threads
 * under any other name are summed under MW_TN_OTHER. Admission never ends,
 * so a counter never moves from one series to another, and a thread that
 * renames itself at every scrape cannot multiply the series.
 */
#define MW_TN_MAX_NAMES 256
#define MW_TN_OTHER "(other)"

struct mw_tn_proc {
	uint32_t pid;
	const struct mw_process *proc; /* identity: a reused pid is a new process */
	char (*names)[MW_COMM_LEN];    /* admitted names, sorted (strncmp) */
	size_t nnames;
	struct mw_tn_thread *v; /* the model's threads, same order (by tid) */
	size_t n;
	struct mw_tn_carry *carry;
	size_t ncarry;
	/* Threads the model forgot keep their full counts in p->retired under
	 * their name; what they had carried to earlier names is taken off here. */
	struct mw_tn_carry *debit;
	size_t ndebit;
};

struct mw_thread_names {
	struct mw_tn_proc *v;
	size_t n, cap;
};

void mw_thread_names_init(struct mw_thread_names *tn);
void mw_thread_names_free(struct mw_thread_names *tn);
/* Follow the model's live processes and threads: new ones, renames, the gone. 0 or -ENOMEM
 * (then the state is unchanged and the next update tries again). */
int mw_thread_names_update(struct mw_thread_names *tn, const struct mw_model *m);

/* One BPF program's kernel statistics (bpf_prog_info, with BPF_STATS_RUN_TIME on). */
struct mw_probe_stat {
	char name[32];
	uint64_t run_cnt;
	uint64_t run_time_ns;
};

struct mw_metrics_in {
	const struct mw_model *model;
	const struct mw_growth *growth;	     /* may be NULL: no growth gauge */
	const struct mw_thread_names *names; /* may be NULL: counts under current names */
	const struct mw_stats *kstats;	     /* may be NULL: no kernel statistics */
	const struct mw_probe_stat *probes;  /* nprobes entries */
	size_t nprobes;
	bool probe_stats;	 /* run_cnt/run_time_ns are counted (BPF stats enabled) */
	bool per_tid;		 /* thread dimension: tid label instead of the thread name */
	double cpu_seconds;	 /* memwatch's own user + system CPU time */
	uint64_t rss_bytes;	 /* memwatch's own resident set */
	double start_time_s;	 /* memwatch's start, Unix epoch seconds */
	uint64_t scrapes;	 /* scrapes answered before this one */
	uint64_t output_errors;	 /* writes of the trace or the recording that failed */
	uint64_t oom_kills;	 /* traced processes the OOM killer chose */
	uint64_t triggers_fired; /* --trigger firings */
	uint64_t escalations;	 /* --escalate-for escalations started */
	/* --fault-stacks (fault_stacks): the sampled faults per process, as the session keeps
	 * them; page_size turns samples into bytes. */
	bool fault_stacks;
	const struct mw_fprof *fprofs;
	size_t nfprofs;
	uint64_t page_size;
};

/* Render everything into b (appended). 0, or -ENOMEM (b->oom). */
int mw_metrics_render(struct mw_buf *b, const struct mw_metrics_in *in);

#endif /* MW_METRICS_H */
