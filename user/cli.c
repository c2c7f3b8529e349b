// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command-line parsing, strace habits where meanings overlap. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_monitor.h"
#include "trigger/trigger.h"
#include "cli_malloc.h"
#include "base/errmsg.h"
#include "base/size.h"
#include "monitor/listen.h"

#define MW_DEFAULT_RING (4ULL << 20)
/* --fault-stacks without --ring-size: its records carry stacks, each reserves 8 KiB. Not
 * larger: libbpf maps the ring's data twice, so the pages its records fill count twice in
 * memwatch's RSS (64 MiB made a 137 MB peak), and a ring that stays in the CPU's cache is
 * cheaper to write to; no run of make bench's workloads loses a record with it. */
#define MW_STACKS_RING (16ULL << 20)
/* --stacks -c (counters, no stream; live.c sends stacks only with the calls that map memory):
 * most calls go without a copy once memwatch has a hint for their stack (a 128-byte record),
 * only the first of each with one. Half the ring above: the spinner's calls cost it ~400 ns
 * less each than with 16 MiB (its own CPU time), and neither it (its burst of copies before
 * the first hint included) nor bench_mix loses a record; 4 MiB lost some of the spinner's.
 * A stream (--json, text, --record) reads each record slower: 8 MiB lost some there. */
#define MW_SYS_STACKS_RING (8ULL << 20)
#define MW_MAX_RING (1ULL << 30)
/* --fault-stacks without =N: 1 in this many faults, chosen by measurement (tools/BENCH.md);
 * the usage text and the manual say it too. */
#define MW_FAULT_SAMPLE_DEFAULT 64
#define MW_FAULT_SAMPLE_MAX 1000000
#define MW_DEFAULT_MAX_PROCS 1024
#define MW_DEFAULT_MAX_THREADS 16384

enum {
	OPT_JSON = 256,
	OPT_RING_SIZE,
	OPT_MAPS_AT_EXIT,
	OPT_RECORD,
	OPT_REPLAY,
	OPT_PROMETHEUS,
	OPT_PER_TID,
	OPT_STACKS,
	OPT_NO_FAULTS,
	OPT_RSS_DELTA,
	OPT_FAULT_STACKS,
	OPT_COMM,
	OPT_CGROUP,
	OPT_DAEMON,
	OPT_CONFIG,
	OPT_ROTATE,
	OPT_MAX_PROCS,
	OPT_MAX_THREADS,
	OPT_PPROF,
	OPT_PERFETTO,
	OPT_TRIGGER,
	OPT_ESCALATE_FOR,
	OPT_INCIDENT_DIR
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "follow-forks", no_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "summary-only", no_argument, NULL, 'c' },
	{ "interval", required_argument, NULL, 'i' },
	{ "duration", required_argument, NULL, 'd' },
	{ "syscall-times", no_argument, NULL, 'T' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "maps-at-exit", no_argument, NULL, OPT_MAPS_AT_EXIT },
	{ "record", required_argument, NULL, OPT_RECORD },
	{ "replay", required_argument, NULL, OPT_REPLAY },
	{ "prometheus", required_argument, NULL, OPT_PROMETHEUS },
	{ "per-tid", no_argument, NULL, OPT_PER_TID },
	{ "stacks", no_argument, NULL, OPT_STACKS },
	{ "no-faults", no_argument, NULL, OPT_NO_FAULTS },
	{ "rss-delta", no_argument, NULL, OPT_RSS_DELTA },
	{ "fault-stacks", optional_argument, NULL, OPT_FAULT_STACKS },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "daemon", no_argument, NULL, OPT_DAEMON },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "rotate", required_argument, NULL, OPT_ROTATE },
	{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
	{ "max-threads", required_argument, NULL, OPT_MAX_THREADS },
	{ "pprof", required_argument, NULL, OPT_PPROF },
	{ "perfetto", required_argument, NULL, OPT_PERFETTO },
	{ "trigger", required_argument, NULL, OPT_TRIGGER },
	{ "escalate-for", required_argument, NULL, OPT_ESCALATE_FOR },
	{ "incident-dir", required_argument, NULL, OPT_INCIDENT_DIR },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	MW_CLI_MALLOC_OPTS{ NULL, 0, NULL, 0 },
};

void mw_cli_usage(FILE *f)
{
	fputs("Usage: memwatch [options] -p PID[,PID...]\n"
	      "       memwatch [options] --comm REGEX | --cgroup PATH\n"
	      "       memwatch [options] [--] COMMAND [ARG...]\n"
	      "       memwatch daemon [--config FILE] [options]\n"
	      "       memwatch top [options] [-p PID | --comm REGEX | --cgroup PATH | COMMAND]\n"
	      "       memwatch report IN -o OUT.html\n"
	      "Trace brk, mmap, munmap, mprotect, mremap and madvise of every thread, live,\n"
	      "with an exact per-thread ledger of address-space growth.\n"
	      "\n"
	      "  -p, --pid PID[,PID...]  attach to running processes (all threads)\n"
	      "  -f, --follow-forks      trace forked children too\n"
	      "  -o, --output FILE       write output to FILE\n"
	      "      --json              NDJSON output (one object per line)\n"
	      "  -c, --summary-only      no event lines: per-thread tables at exit\n"
	      "  -i, --interval SEC      print the per-thread summary every SEC seconds\n"
	      "  -d, --duration SEC      stop after SEC seconds\n"
	      "  -T, --syscall-times     show the time spent in each syscall\n"
	      "  -v, --verbose           libbpf debug output\n"
	      "      --ring-size BYTES   ring buffer size (power of two, >= 4096; K/M suffix)\n"
	      "      --maps-at-exit      print each process's final region map\n"
	      "      --stacks            the user stack of every traced memory syscall\n"
	      "      --no-faults         do not count page faults (no probe on every fault)\n"
	      "      --rss-delta         each munmap's, madvise's and mremap's exact effect on\n"
	      "                          resident memory (costs more with more CPUs)\n"
	      "      --fault-stacks[=N]  1 in N page faults (default 64) with the user stack:\n"
	      "                          a profile of the code that makes memory resident\n"
	      "      --record FILE       also save everything consumed, for --replay\n"
	      "      --replay FILE       run the accounting on a recording (no root needed)\n"
	      "      --prometheus [ADDR]:PORT  serve Prometheus metrics on GET /metrics\n"
	      "                          (ADDR defaults to 127.0.0.1; [::1]:PORT for IPv6)\n"
	      "      --per-tid           metrics by thread id instead of thread name\n"
	      "      --comm REGEX        trace processes whose name matches (POSIX extended),\n"
	      "                          running ones and those exec'd later; repeatable\n"
	      "      --cgroup PATH       trace the processes of a cgroup v2 directory and its\n"
	      "                          descendants, present and future; repeatable\n"
	      "      --daemon            no event stream on the terminal; SIGHUP reloads\n"
	      "      --config FILE       options as `key = value` lines (key: a long option)\n"
	      "  -o -                    NDJSON on stdout, for a log shipper\n"
	      "      --rotate SIZE,COUNT rotate -o FILE at SIZE (K/M/G), keep FILE.1..COUNT\n"
	      "      --max-procs N       traced processes at most (default 1024)\n"
	      "      --max-threads N     threads with exact kernel counters (default 16384)\n"
	      "      --pprof FILE        --malloc's heap profile in pprof format, rewritten at\n"
	      "                          each report and at the end (also GET /debug/pprof/heap)\n"
	      "      --perfetto FILE     a Perfetto trace: counter tracks per process and thread,\n"
	      "                          arena tracks, arena and large-mapping events\n"
	      "      --trigger SPEC      an incident when a process grows: mapped+SIZE/WINDOW,\n"
	      "                          committed+.., resident+.., mapped>=SIZE, arenas>=limit,\n"
	      "                          cgroup>=PCT%, diagnosis[=KIND]; repeatable\n"
	      "      --escalate-for DURATION  when a trigger fires, the allocation probes on\n"
	      "                          that process for DURATION (10s, 5m), within\n"
	      "                          --max-overhead; then a bundle in --incident-dir\n"
	      "      --incident-dir DIR  where escalations and OOM victims write bundles\n"
	      "  -h, --help              this text\n"
	      "  -V, --version           print the version\n"
	      "\n",
	      f);
	mw_cli_malloc_usage(f);
	fputs("\n"
	      "Exit status: 0 ok, 1 runtime error, 2 usage error; when launching a command,\n"
	      "its exit status (128+N if killed by signal N, 127 not found, 126 not executable).\n",
	      f);
}

static int parse_pids(const char *s, struct mw_config *cfg, char *err, size_t errsz)
{
	const char *p = s;

	if (!*p)
		return mw_fail(err, errsz, -1, "-p: empty process id list");
	while (*p) {
		char *end;
		unsigned long v;

		errno = 0;
		if (*p < '0' || *p > '9')
			return mw_fail(err, errsz, -1, "-p: '%s' is not a process id", s);
		v = strtoul(p, &end, 10);
		if (errno || v == 0 || v > INT_MAX || (*end && *end != ','))
			return mw_fail(err, errsz, -1, "-p: '%s' is not a process id", s);
		for (size_t i = 0; i < cfg->npids; i++)
			if (cfg->pids[i] == v)
				return mw_fail(err, errsz, -1, "-p: process %lu given twice", v);
		if (cfg->npids == MW_MAX_PIDS)
			return mw_fail(err, errsz, -1, "-p: more than %d processes", MW_MAX_PIDS);
		cfg->pids[cfg->npids++] = (uint32_t)v;
		p = *end ? end + 1 : end;
		if (*end == ',' && !*p)
			return mw_fail(err, errsz, -1, "-p: '%s' ends with a comma", s);
	}
	return 0;
}

static int parse_seconds(const char *opt, const char *s, double *out, char *err, size_t errsz)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 1e9)
		return mw_fail(err, errsz, -1, "%s: '%s' is not a positive number of seconds", opt,
			       s);
	*out = v;
	return 0;
}

static int parse_ring_size(const char *s, uint64_t *out, char *err, size_t errsz)
{
	uint64_t v;

	if (mw_parse_size(s, "KM", &v))
		return mw_fail(err, errsz, -1, "--ring-size: '%s' is not a size", s);
	if (v < 4096 || v > MW_MAX_RING || (v & (v - 1)))
		return mw_fail(err, errsz, -1,
			       "--ring-size: %s must be a power of two between 4096 and 1G", s);
	*out = v;
	return 0;
}

int mw_cli_option_has_arg(const char *name)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (!strcmp(o->name, name))
			return o->has_arg != no_argument;
	return -1;
}

void mw_cli_defaults(struct mw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ring_size = MW_DEFAULT_RING;
	cfg->max_procs = MW_DEFAULT_MAX_PROCS;
	cfg->max_threads = MW_DEFAULT_MAX_THREADS;
}

int mw_cli_parse(int argc, char **argv, struct mw_config *cfg, char *err, size_t errsz)
{
	mw_cli_defaults(cfg);
	if (mw_cli_add(argc, argv, cfg, true, err, errsz))
		return -1;
	return mw_cli_finish(cfg, err, errsz);
}

int mw_cli_add(int argc, char **argv, struct mw_config *cfg, bool allow_cmd, char *err,
	       size_t errsz)
{
	int c;

	err[0] = '\0';
	optind = 0; /* reset getopt: the parser may run more than once (tests) */
	opterr = 0;
	/* '+': stop at the first non-option, so the command's own flags are its own. */
	while ((c = getopt_long(argc, argv, "+:p:fo:ci:d:TvhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_pids(optarg, cfg, err, errsz))
				return -1;
			break;
		case 'f': cfg->follow = true; break;
		case 'o':
			if (!*optarg)
				return mw_fail(err, errsz, -1, "-o: empty file name");
			cfg->out_path = optarg;
			break;
		case OPT_JSON: cfg->json = true; break;
		case 'c': cfg->summary_only = true; break;
		case 'i':
			if (parse_seconds("-i", optarg, &cfg->interval_s, err, errsz))
				return -1;
			break;
		case 'd':
			if (parse_seconds("-d", optarg, &cfg->duration_s, err, errsz))
				return -1;
			break;
		case 'T': cfg->show_dur = true; break;
		case 'v': cfg->verbose = true; break;
		case OPT_RING_SIZE:
			cfg->ring_size_set = true;
			if (parse_ring_size(optarg, &cfg->ring_size, err, errsz))
				return -1;
			break;
		case OPT_MAPS_AT_EXIT: cfg->maps_at_exit = true; break;
		case OPT_RECORD:
			if (!*optarg)
				return mw_fail(err, errsz, -1, "--record: empty file name");
			cfg->record_path = optarg;
			break;
		case OPT_REPLAY:
			if (!*optarg)
				return mw_fail(err, errsz, -1, "--replay: empty file name");
			cfg->replay_path = optarg;
			break;
		case OPT_PROMETHEUS: {
			struct mw_listen a;

			if (mw_listen_parse(optarg, &a, err, errsz))
				return -1;
			cfg->prometheus = optarg;
			break;
		}
		case OPT_PER_TID: cfg->per_tid = true; break;
		case OPT_STACKS: cfg->stacks = true; break;
		case OPT_NO_FAULTS: cfg->no_faults = true; break;
		case OPT_RSS_DELTA: cfg->rss_delta = true; break;
		case OPT_FAULT_STACKS:
			cfg->fault_stacks = MW_FAULT_SAMPLE_DEFAULT;
			if (optarg && mw_opt_count("--fault-stacks", optarg, MW_FAULT_SAMPLE_MAX,
						   &cfg->fault_stacks, err, errsz))
				return -1;
			break;
		case OPT_COMM:
			if (mw_opt_comm(optarg, cfg, err, errsz))
				return -1;
			break;
		case OPT_CGROUP:
			if (mw_opt_cgroup(optarg, cfg, err, errsz))
				return -1;
			break;
		case OPT_DAEMON: cfg->daemon = true; break;
		case OPT_CONFIG:
			if (!*optarg)
				return mw_fail(err, errsz, -1, "--config: empty file name");
			cfg->config_path = optarg;
			break;
		case OPT_ROTATE:
			if (mw_opt_rotate(optarg, cfg, err, errsz))
				return -1;
			break;
		case OPT_MAX_PROCS:
			if (mw_opt_count("--max-procs", optarg, MW_MAX_MAX_PROCS, &cfg->max_procs,
					 err, errsz))
				return -1;
			break;
		case OPT_MAX_THREADS:
			if (mw_opt_count("--max-threads", optarg, MW_MAX_MAX_THREADS,
					 &cfg->max_threads, err, errsz))
				return -1;
			break;
		case OPT_PPROF:
		case OPT_PERFETTO:
			if (!*optarg)
				return mw_fail(err, errsz, -1, "%s: empty file name",
					       c == OPT_PPROF ? "--pprof" : "--perfetto");
			*(c == OPT_PPROF ? &cfg->pprof_path : &cfg->perfetto_path) = optarg;
			break;
		case OPT_TRIGGER:
			if (mw_opt_trigger(optarg, cfg, err, errsz))
				return -1;
			break;
		case OPT_ESCALATE_FOR:
			if (mw_trig_parse_duration(optarg, &cfg->escalate_ns))
				return mw_fail(
					err, errsz, -1,
					"--escalate-for: '%s' is not a duration (10s, 5m, 1h)",
					optarg);
			break;
		case OPT_INCIDENT_DIR:
			if (!*optarg)
				return mw_fail(err, errsz, -1,
					       "--incident-dir: empty directory name");
			cfg->incident_dir = optarg;
			break;
		case OPT_MALLOC ... OPT_MALLOC_LAST:
			if (mw_cli_malloc_opt(c, optarg, cfg, err, errsz))
				return -1;
			break;
		case 'h': cfg->help = true; return 0;
		case 'V': cfg->version = true; return 0;
		case ':':
			return mw_fail(err, errsz, -1, "option '%s' needs a value",
				       argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				return mw_fail(err, errsz, -1, "unknown option '-%c'", optopt);
			return mw_fail(err, errsz, -1, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		if (!allow_cmd)
			return mw_fail(err, errsz, -1, "unexpected '%s' (not an option)",
				       argv[optind]);
		cfg->cmd = &argv[optind];
	}
	return 0;
}

int mw_cli_finish(struct mw_config *cfg, char *err, size_t errsz)
{
	bool watch = cfg->ncomms || cfg->ncgroups;

	err[0] = '\0';
	if (cfg->help || cfg->version)
		return 0;
	if (cfg->rotate_size && (!cfg->out_path || !strcmp(cfg->out_path, "-")))
		return mw_fail(err, errsz, -1, "--rotate needs -o FILE");
	if (cfg->per_tid && !cfg->prometheus)
		return mw_fail(err, errsz, -1, "--per-tid needs --prometheus");
	if (cfg->stacks && cfg->replay_path)
		return mw_fail(err, errsz, -1,
			       "--stacks is for live sessions: a replay shows the stacks recorded");
	if (cfg->fault_stacks && cfg->replay_path)
		return mw_fail(err, errsz, -1,
			       "--fault-stacks is for live sessions: a replay shows the faults "
			       "recorded");
	if (cfg->fault_stacks && cfg->no_faults)
		return mw_fail(err, errsz, -1,
			       "--fault-stacks samples the page faults --no-faults leaves out");
	/* A record with a stack is up to 8 KiB larger: room for as many calls in a burst. */
	if ((cfg->stacks || cfg->fault_stacks) && !cfg->ring_size_set)
		cfg->ring_size = cfg->fault_stacks || !mw_config_counters_only(cfg)
					 ? MW_STACKS_RING
					 : MW_SYS_STACKS_RING;
	if (cfg->replay_path && cfg->prometheus)
		return mw_fail(err, errsz, -1,
			       "--prometheus serves live sessions only, not --replay");
	if (cfg->escalate_ns) {
		if (!cfg->ntriggers)
			return mw_fail(err, errsz, -1, "--escalate-for needs --trigger");
		if (!cfg->incident_dir)
			return mw_fail(err, errsz, -1,
				       "--escalate-for needs --incident-dir DIR (its bundles)");
		if (cfg->mal.on)
			return mw_fail(err, errsz, -1,
				       "--escalate-for switches the probes on per process: not "
				       "with --malloc, which has them on everywhere");
		cfg->mal.escalate = true;
	}
	if (mw_cli_malloc_check(cfg, err, errsz))
		return -1;
	if (cfg->pprof_path && !cfg->mal.on && !cfg->replay_path)
		return mw_fail(
			err, errsz, -1,
			"--pprof needs --malloc (the heap profile is the allocation probes')");
	if (cfg->top && (cfg->replay_path || cfg->daemon))
		return mw_fail(err, errsz, -1, "memwatch top is live: no --replay or daemon mode");
	if (cfg->replay_path && cfg->ntriggers)
		return mw_fail(err, errsz, -1,
			       "--trigger acts on live sessions only, not --replay");
	if (cfg->replay_path) {
		if (cfg->npids || cfg->cmd || cfg->record_path || cfg->follow)
			return mw_fail(err, errsz, -1,
				       "--replay takes no -p, -f, --record or command");
		return 0;
	}
	if (cfg->daemon)
		cfg->json = true; /* the daemon's sink is NDJSON */
	if (cfg->daemon && cfg->cmd)
		return mw_fail(err, errsz, -1,
			       "daemon mode traces -p, --comm or --cgroup, not a command");
	if (!cfg->npids && !cfg->cmd && !watch && !cfg->top)
		return mw_fail(err, errsz, -1,
			       "nothing to trace: give -p PID, --comm REGEX, "
			       "--cgroup PATH or a command");
	if ((cfg->npids || watch) && cfg->cmd)
		return mw_fail(err, errsz, -1,
			       "give either -p PID/--comm/--cgroup or a command, not both");
	return 0;
}
