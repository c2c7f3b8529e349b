/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* --replay: a recording through the same session code as a live run, without root. */
#ifndef MW_REPLAY_H
#define MW_REPLAY_H

#include <stdio.h>
#include "base/options.h"

/* Replays cfg->replay_path through the same accounting; memwatch's exit status. */
int mw_replay_run(const struct mw_config *cfg);
/* The same, the output written to `to` (left open) instead of -o or stderr. */
int mw_replay_to(const struct mw_config *cfg, FILE *to);

#endif /* MW_REPLAY_H */
