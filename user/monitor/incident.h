/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Triggers in a live session (--trigger): once a second each traced process
 * is sampled (the model's mapped and committed bytes; resident bytes, its
 * cgroup's memory use and the diagnoses only when a trigger asks for them),
 * the triggers are evaluated (trigger/), and each firing is written as a
 * `trigger` record and counted (mw_session.triggers_fired). SIGHUP's new
 * configuration replaces the set (mw_incident_config).
 */
#ifndef MW_INCIDENT_H
#define MW_INCIDENT_H

#include <stdbool.h>
#include <stdint.h>
#include "base/options.h"
#include "session/session.h"

struct mw_incident;

/* A firing, for whoever acts on it (escalation): the process and the trigger's text. */
typedef void (*mw_incident_fn)(void *ctx, uint32_t pid, const char *spec, uint64_t now_mono);

/* NULL with err set when a trigger does not parse or memory is short; NULL without an error
 * when cfg has no trigger (nothing to do). */
struct mw_incident *mw_incident_new(const struct mw_config *cfg, char *err, size_t errsz);
/* The triggers of a new configuration (SIGHUP): every process's state starts again. */
int mw_incident_config(struct mw_incident *in, const struct mw_config *cfg, char *err,
		       size_t errsz);
void mw_incident_on_fire(struct mw_incident *in, mw_incident_fn fn, void *ctx);
/* Sample and evaluate when a second has passed since the last time. */
void mw_incident_tick(struct mw_incident *in, struct mw_session *s, uint64_t now_mono);
void mw_incident_free(struct mw_incident *in);

#endif /* MW_INCIDENT_H */
