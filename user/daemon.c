// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Daemon mode: SIGHUP's new configuration. See daemon.h. */
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "daemon.h"
#include "base/errmsg.h"

/* Append an option's name to the list of those kept. */
static void note_kept(char *kept, size_t keptsz, const char *name)
{
	size_t len = strlen(kept);

	if (strstr(kept, name))
		return;
	snprintf(kept + len, keptsz - len, "%s%s", len ? ", " : "", name);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

int mw_daemon_reload_config(struct mw_config *cfg, char *kept, size_t keptsz, char *err,
			    size_t errsz)
{
	struct mw_config_source *src = cfg->source;
	struct mw_confbuf keep = { 0 }, old;
	struct mw_config next;
	struct mw_malloc_config mal, newmal;
	const char *fp;

	if (keptsz)
		kept[0] = '\0';
	if (!src)
		return mw_fail(err, errsz, -1, "no configuration to reload");
	if (mw_config_build(src->argc, src->argv, src->daemon_cmd, &next, &keep, err, errsz)) {
		mw_confbuf_free(&keep);
		return -1;
	}
	/* Fixed once the BPF side is loaded and the session set up. */
#define KEEP(field, name)                                                      \
	do {                                                                   \
		if (memcmp(&next.field, &cfg->field, sizeof(next.field)) != 0) \
			note_kept(kept, keptsz, name);                         \
		next.field = cfg->field;                                       \
	} while (0)
	/* A string: the running one carried into the new configuration's strings. */
#define KEEP_STR(field, name)                                                       \
	do {                                                                        \
		if (!same_str(next.field, cfg->field))                              \
			note_kept(kept, keptsz, name);                              \
		next.field = cfg->field ? mw_confbuf_dup(&keep, cfg->field) : NULL; \
	} while (0)
	KEEP(follow, "-f");
	KEEP(json, "--json");
	KEEP(summary_only, "-c");
	KEEP(show_dur, "-T");
	KEEP(verbose, "-v");
	KEEP(maps_at_exit, "--maps-at-exit");
	KEEP(ring_size, "--ring-size");
	KEEP(max_procs, "--max-procs");
	KEEP(max_threads, "--max-threads");
	KEEP(interval_s, "-i");
	KEEP(duration_s, "-d");
	KEEP(daemon, "--daemon");
	KEEP(per_tid, "--per-tid");
	KEEP_STR(prometheus, "--prometheus");
	KEEP_STR(record_path, "--record");
	/* The probes are loaded at start for escalation, or not; its bundles' place stays. */
	KEEP(escalate_ns, "--escalate-for");
	KEEP_STR(incident_dir, "--incident-dir");
	/*
	 * --malloc: the kernel side samples with the options it was loaded with, and the user
	 * side weighs each sample by them; taking new ones here would weigh samples at a rate
	 * the probes do not use.
	 */
	newmal = next.mal;
	KEEP(mal.on, "--malloc");
	KEEP(mal.min_age_s, "--min-age");
	KEEP_STR(mal.folded_path, "--folded");
	KEEP(mal.sample_every, "--sample");
	KEEP(mal.sample_bytes, "--sample-bytes");
	KEEP(mal.duty_on_s, "--duty");
	KEEP(mal.duty_period_s, "--duty");
	KEEP(mal.max_probe_rate, "--max-probe-rate");
	KEEP(mal.stack_bytes, "--stack-bytes");
	KEEP(mal.stack_bytes_set, "--stack-bytes");
	KEEP(mal.max_outstanding, "--max-outstanding");
	KEEP(mal.hold_exit, "--hold-exit");
	/* Any --malloc option not named above is kept too, and said so. */
	mal = next.mal; /* the named ones, as they run */
	fp = mal.folded_path;
	next.mal = newmal;
	next.mal.on = mal.on;
	next.mal.min_age_s = mal.min_age_s;
	next.mal.folded_path = cfg->mal.folded_path;
	next.mal.sample_every = mal.sample_every;
	next.mal.sample_bytes = mal.sample_bytes;
	next.mal.duty_on_s = mal.duty_on_s;
	next.mal.duty_period_s = mal.duty_period_s;
	next.mal.max_probe_rate = mal.max_probe_rate;
	next.mal.stack_bytes = mal.stack_bytes;
	next.mal.stack_bytes_set = mal.stack_bytes_set;
	next.mal.max_outstanding = mal.max_outstanding;
	next.mal.hold_exit = mal.hold_exit;
	if (memcmp(&next.mal, &cfg->mal, sizeof(next.mal)))
		note_kept(kept, keptsz, "--malloc options");
	next.mal = cfg->mal;
	next.mal.folded_path = fp;
#undef KEEP
#undef KEEP_STR
	next.replay_path = cfg->replay_path;
	next.cmd = cfg->cmd;
	next.source = src;
	old = src->keep;
	src->keep = keep;
	*cfg = next;
	mw_confbuf_free(&old);
	return 0;
}
