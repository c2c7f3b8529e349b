/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* --replay: a recording through the same session code as a live run, without root. */
#ifndef MW_REPLAY_H
#define MW_REPLAY_H

#include "base/options.h"

/* Replays cfg->replay_path through the same accounting; memwatch's exit status. */
int mw_replay_run(const struct mw_config *cfg);

#endif /* MW_REPLAY_H */
