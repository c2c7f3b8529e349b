/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The options of a run, as the command line and the config file set them
 * (cli.c, config.c). Plain data read by every subsystem; nothing here parses.
 */
#ifndef MW_OPTIONS_H
#define MW_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_MAX_PIDS 1024

struct mw_config_source;
#define MW_MAX_WATCH 64	   /* --comm and --cgroup, each (the kernel's cgroup slots) */
#define MW_MAX_TRIGGERS 16 /* --trigger (trigger.h's MW_TRIG_MAX) */
/* --malloc and its options (parsed by cli_malloc.c). */
struct mw_malloc_config {
	bool on;			 /* --malloc */
	double min_age_s;		 /* --min-age */
	const char *folded_path;	 /* --folded */
	uint32_t sample_every;		 /* --sample, 0 = off */
	uint64_t sample_bytes;		 /* --sample-bytes, 0 = off */
	double duty_on_s, duty_period_s; /* --duty, 0 = off */
	uint64_t max_probe_rate;	 /* --max-probe-rate, 0 = off */
	double max_overhead_pct; /* --max-overhead: probes' share of the target's CPU, 0 = off */
	bool max_overhead_set;
	uint32_t stack_bytes; /* --stack-bytes */
	bool stack_bytes_set;
	uint32_t max_outstanding; /* --max-outstanding */
	bool hold_exit;		  /* --hold-exit: stop every target in exit() until read */
	bool sampler;		  /* --sampler: the in-process sampler only (launch: preloaded) */
	bool escalate; /* --escalate-for: the probes only for processes a trigger escalates */
};

struct mw_config {
	uint32_t pids[MW_MAX_PIDS];
	size_t npids;
	char **cmd;		 /* launch mode: argv of the command (NULL-terminated), else NULL */
	const char *out_path;	 /* -o */
	const char *record_path; /* --record */
	const char *replay_path; /* --replay */
	double interval_s;	 /* -i, 0 = off */
	double duration_s;	 /* -d, 0 = until the targets exit or a signal */
	uint64_t ring_size;	 /* --ring-size */
	bool ring_size_set;	 /* given on the command line */
	const char *prometheus;	 /* --prometheus ADDR:PORT (checked by mw_listen_parse) */
	bool follow;		 /* -f */
	bool json;		 /* --json */
	bool summary_only;	 /* -c */
	bool show_dur;		 /* -T */
	bool verbose;		 /* -v */
	bool maps_at_exit;	 /* --maps-at-exit */
	bool per_tid;		 /* --per-tid: metrics by tid, not thread name */
	bool stacks;		 /* --stacks: a user stack on every memory syscall */
	bool no_faults;		 /* --no-faults: no page-fault probe */
	bool rss_delta;		 /* --rss-delta: calls' effect on resident memory */
	uint32_t fault_stacks;	 /* --fault-stacks[=N]: 1 in N faults with a stack; 0 = off */
	bool help;		 /* -h: print usage, exit 0 */
	bool version;		 /* -V */
	/* Continuous monitoring (targets.c, config.c, rotate.c, daemon mode). */
	const char *comms[MW_MAX_WATCH]; /* --comm REGEX (POSIX extended) */
	size_t ncomms;
	const char *cgroups[MW_MAX_WATCH]; /* --cgroup PATH (cgroup v2 directory) */
	size_t ncgroups;
	const char *config_path;	       /* --config FILE (daemon) */
	const char *triggers[MW_MAX_TRIGGERS]; /* --trigger SPEC (trigger/trigger.h) */
	size_t ntriggers;
	uint64_t escalate_ns;	  /* --escalate-for DURATION, 0 = no escalation */
	const char *incident_dir; /* --incident-dir DIR: escalations' bundles */
	uint64_t rotate_size;	  /* --rotate SIZE,COUNT: 0 = no rotation */
	uint32_t rotate_count;
	uint32_t max_procs;		 /* --max-procs: traced processes, kernel and user side */
	uint32_t max_threads;		 /* --max-threads: threads with kernel counters */
	bool daemon;			 /* --daemon / `memwatch daemon` */
	bool top;			 /* `memwatch top`: the live full-screen view */
	const char *pprof_path;		 /* --pprof FILE: the heap profile, rewritten whole */
	const char *perfetto_path;	 /* --perfetto FILE: a Perfetto trace */
	struct mw_config_source *source; /* config.h: to build it again on SIGHUP */
	struct mw_malloc_config mal;
};

/* -c with nothing that reads every record: no daemon stream, no recording. Only the calls
 * that map have their stacks used, and memwatch reads the ring faster than a stream does. */
static inline bool mw_config_counters_only(const struct mw_config *cfg)
{
	return cfg->summary_only && !cfg->daemon && !cfg->record_path;
}

#endif /* MW_OPTIONS_H */
