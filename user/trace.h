/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A tracing session: targets, BPF, event loop, summaries, clean detach. */
#ifndef MW_TRACE_H
#define MW_TRACE_H

#include "cli.h"

/* Runs the session described by cfg; returns memwatch's exit status. In
 * daemon mode SIGHUP rebuilds cfg in place (daemon.h). */
int mw_trace_run(struct mw_config *cfg);
/* Replays cfg->replay_path through the same accounting; exit status. */
int mw_replay_run(const struct mw_config *cfg);
/* The one error path: "memwatch: <message>" on stderr. */
void mw_p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* MW_TRACE_H */
