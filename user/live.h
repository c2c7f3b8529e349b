/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The live session: targets, BPF, event loop, summaries, clean detach. */
#ifndef MW_LIVE_H
#define MW_LIVE_H

#include "base/options.h"

/* Runs the session described by cfg; returns memwatch's exit status. In
 * daemon mode SIGHUP rebuilds cfg in place (daemon.h). */
int mw_live_run(struct mw_config *cfg);

#endif /* MW_LIVE_H */
