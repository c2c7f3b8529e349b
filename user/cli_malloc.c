// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Parsing of the allocator-probe options. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include "malloc.h"
#include "cli_malloc.h"
#include "base/errmsg.h"
#include "base/size.h"

void mw_cli_malloc_usage(FILE *f)
{
	fputs("Allocator probes (malloc, free, new, delete ... of the allocator in use):\n"
	      "      --malloc            trace allocations: call stacks that hold memory,\n"
	      "                          leaks, heap retention\n"
	      "      --min-age SEC       leak report: only blocks older than SEC\n"
	      "      --folded FILE       write collapsed stacks of outstanding bytes (--malloc),\n"
	      "                          or of mapped bytes (--stacks without --malloc)\n"
	      "      --sample N          trace every Nth allocation of each thread\n"
	      "      --sample-bytes N    sample about one per N bytes allocated\n"
	      "      --duty ON,PERIOD    probes attached ON seconds every PERIOD seconds\n"
	      "      --max-probe-rate N  detach the probes above N hits per second\n"
	      "      --max-overhead PCT  keep the probes' CPU time under PCT% of the target's\n"
	      "                          own (duty cycle; 0 = unlimited; default 2 with -p,\n"
	      "                          --comm, --cgroup and the daemon, 0 for a command)\n"
	      "      --stack-bytes N     user stack bytes copied per allocation (4096)\n"
	      "      --max-outstanding N outstanding allocations tracked (65536)\n"
	      "      --hold-exit         stop every traced process in exit() until its last\n"
	      "                          records are read (default: only a launched command)\n"
	      "      --sampler           the in-process sampler (libmemwatch-sampler.so) only:\n"
	      "                          preload it into the command; with -p, --comm,\n"
	      "                          --cgroup only processes that have it are probed\n"
	      "                          (without --sampler they use it when they have it)\n",
	      f);
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		     char *err, size_t errsz)
{
	uint64_t v;

	if (mw_parse_size(s, "KM", &v))
		return mw_fail(err, errsz, -1, "%s: '%s' is not a number", opt, s);
	if (v < min || v > max)
		return mw_fail(err, errsz, -1, "%s: %s is out of range (%llu to %llu)", opt, s,
			       (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

static int parse_secs(const char *opt, const char *s, bool zero_ok, double *out, char *err,
		      size_t errsz)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || (!zero_ok && v == 0) || v > 1e9)
		return mw_fail(err, errsz, -1, "%s: '%s' is not a %s number of seconds", opt, s,
			       zero_ok ? "non-negative" : "positive");
	*out = v;
	return 0;
}

int mw_cli_malloc_opt(int opt, const char *arg, struct mw_config *cfg, char *err, size_t errsz)
{
	struct mw_malloc_config *m = &cfg->mal;
	uint64_t v;

	switch (opt) {
	case OPT_MALLOC: m->on = true; return 0;
	case OPT_HOLD_EXIT: m->hold_exit = true; return 0;
	case OPT_SAMPLER: m->sampler = true; return 0;
	case OPT_MIN_AGE: return parse_secs("--min-age", arg, true, &m->min_age_s, err, errsz);
	case OPT_FOLDED:
		if (!*arg)
			return mw_fail(err, errsz, -1, "--folded: empty file name");
		m->folded_path = arg;
		return 0;
	case OPT_SAMPLE:
		if (parse_u64("--sample", arg, 1, 1U << 30, &v, err, errsz))
			return -1;
		m->sample_every = (uint32_t)v;
		return 0;
	case OPT_SAMPLE_BYTES:
		return parse_u64("--sample-bytes", arg, 1, 1ULL << 40, &m->sample_bytes, err,
				 errsz);
	case OPT_DUTY: {
		char on[64];
		const char *comma = strchr(arg, ',');

		if (!comma || (size_t)(comma - arg) >= sizeof(on))
			return mw_fail(err, errsz, -1, "--duty: '%s' is not ON,PERIOD (seconds)",
				       arg);
		memcpy(on, arg, (size_t)(comma - arg));
		on[comma - arg] = '\0';
		if (parse_secs("--duty", on, false, &m->duty_on_s, err, errsz) ||
		    parse_secs("--duty", comma + 1, false, &m->duty_period_s, err, errsz))
			return -1;
		if (m->duty_on_s > m->duty_period_s)
			return mw_fail(err, errsz, -1, "--duty: ON (%s) is longer than PERIOD", on);
		return 0;
	}
	case OPT_MAX_PROBE_RATE:
		return parse_u64("--max-probe-rate", arg, 1, 1ULL << 40, &m->max_probe_rate, err,
				 errsz);
	case OPT_MAX_OVERHEAD: {
		char *end;

		errno = 0;
		m->max_overhead_pct = strtod(arg, &end);
		if (errno || end == arg || (*end && strcmp(end, "%")) ||
		    !isfinite(m->max_overhead_pct) || m->max_overhead_pct < 0 ||
		    m->max_overhead_pct > 1000)
			return mw_fail(err, errsz, -1,
				       "--max-overhead: '%s' is not a percentage (0 to 1000)", arg);
		m->max_overhead_set = true;
		return 0;
	}
	case OPT_STACK_BYTES:
		if (parse_u64("--stack-bytes", arg, 0, MW_MAX_STACK_BYTES, &v, err, errsz))
			return -1;
		m->stack_bytes = (uint32_t)v;
		m->stack_bytes_set = true;
		return 0;
	case OPT_MAX_OUTSTANDING:
		if (parse_u64("--max-outstanding", arg, 1, MW_MAX_OUTSTANDING, &v, err, errsz))
			return -1;
		m->max_outstanding = (uint32_t)v;
		return 0;
	}
	return mw_fail(err, errsz, -1, "unknown option");
}

int mw_cli_malloc_check(struct mw_config *cfg, char *err, size_t errsz)
{
	struct mw_malloc_config *m = &cfg->mal;
	/* --folded with --stacks alone: the bytes each stack mapped. */
	bool any = m->min_age_s || (m->folded_path && !cfg->stacks) || m->sample_every ||
		   m->sample_bytes || m->duty_period_s || m->max_probe_rate || m->stack_bytes_set ||
		   m->max_outstanding || m->hold_exit || m->sampler || m->max_overhead_set;

	if (cfg->replay_path) {
		/* A recording of a --malloc run replays its allocations as they were traced. */
		if (m->sample_every || m->sample_bytes || m->duty_period_s || m->max_probe_rate ||
		    m->stack_bytes_set || m->max_outstanding || m->hold_exit || m->sampler ||
		    m->max_overhead_set)
			return mw_fail(err, errsz, -1,
				       "--replay: only --min-age and --folded apply; "
				       "the probes' settings are the recorded run's");
		return 0;
	}
	if (!m->on && !m->escalate) {
		if (any)
			return mw_fail(err, errsz, -1, "the allocator options need --malloc");
		return 0;
	}
	if (m->sample_every && m->sample_bytes)
		return mw_fail(err, errsz, -1, "give either --sample or --sample-bytes, not both");
	if (m->sampler && (m->sample_every || m->sample_bytes))
		return mw_fail(err, errsz, -1,
			       "--sampler samples in the process (MEMWATCH_SAMPLE_BYTES): "
			       "--sample and --sample-bytes do not apply");
	if (!m->stack_bytes_set)
		m->stack_bytes = MW_DEFAULT_STACK_BYTES;
	if (!m->max_outstanding)
		m->max_outstanding = MW_DEFAULT_OUTSTANDING;
	/* A process already running (and serving) gets a budget by default; a command
	 * launched to be examined is traced in full unless asked. */
	if (!m->max_overhead_set)
		m->max_overhead_pct = cfg->cmd ? 0 : MW_DEFAULT_MAX_OVERHEAD_PCT;
	return 0;
}
