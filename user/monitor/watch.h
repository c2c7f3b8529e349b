/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Targets that outlive pids, live: --comm and --cgroup set up in the kernel,
 * processes already running adopted at start, the kernel's adoption records
 * and exec notices turned into baselines, pid reuse, the --max-procs guard,
 * and the health counters. The baseline itself is the live session's (the
 * adopt callback): the same idempotent path as -p.
 */
#ifndef MW_WATCH_H
#define MW_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/errmsg.h"
#include "base/options.h"
#include "targets.h"
#include "wire/event.h"

struct mw_loader;
struct mw_session;

/* Seed pid from /proc (after_exec: it has just exec'd and nothing of it ran
 * untraced) and attach its per-pid probes. 0 or -errno (gone already). */
typedef int (*mw_adopt_fn)(void *ctx, uint32_t pid, bool after_exec);

struct mw_watched {
	uint32_t pid;
	uint64_t start; /* /proc/PID/stat start time: a reused pid differs */
};

struct mw_watch {
	const struct mw_config *cfg;
	struct mw_loader *loader;
	struct mw_session *s;
	mw_adopt_fn adopt;
	void *ctx;
	struct mw_comm_set comms;
	int cgfds[MW_MAX_WATCH];
	size_t ncg;
	struct mw_watched *known; /* adopted processes, at most cfg->max_procs */
	size_t nknown;
	uint64_t next_tick_ns;
	/* health */
	uint64_t adopted; /* processes adopted (all ways) */
	uint64_t refused; /* not adopted: --max-procs reached */
	uint64_t notices; /* exec notices matched against --comm */
	uint64_t reused;  /* pids found reused by another process */
	uint64_t reloads, reload_errors;
	struct mw_p_limiter attach_log; /* "pid N attached": once a second at most, without -v */
};

/* Set up the kernel side for cfg's --comm and --cgroup. 0, or -1 with a reason. */
int mw_watch_start(struct mw_watch *w, const struct mw_config *cfg, struct mw_loader *loader,
		   struct mw_session *s, mw_adopt_fn adopt, void *ctx, char *err, size_t errsz);
/* Adopt the processes that match now (cgroup.procs, /proc comm), and cfg's -p pids not yet
 * traced (after a reload). */
void mw_watch_scan(struct mw_watch *w);
/* A decoded record: true when it was one of ours (adoption, exec notice), consumed here. */
bool mw_watch_event(struct mw_watch *w, const struct mw_event *ev);
/* Once a second: processes moved into a watched cgroup, pids reused. */
void mw_watch_tick(struct mw_watch *w, uint64_t now_ns);
/* Watching names or cgroups: the session goes on without live targets. */
bool mw_watch_active(const struct mw_watch *w);
/* The configuration changed (SIGHUP): set up the kernel again, then scan. 0 or -1. */
int mw_watch_reload(struct mw_watch *w, char *err, size_t errsz);
/* A health object (NDJSON "stats", or a text line) on the session's output. */
void mw_watch_report(struct mw_watch *w, uint64_t ts_ns);
void mw_watch_stop(struct mw_watch *w);

#endif /* MW_WATCH_H */
