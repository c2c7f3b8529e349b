/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --escalate-for: when a trigger fires for a process, the allocation probes
 * are switched on for it alone for a bounded time (under --max-overhead, the
 * rate limits of trigger/escalate.h), then off again; each escalation writes
 * an incident bundle (a directory under --incident-dir) and `escalation`
 * records, and counts in mw_session.escalations. With --incident-dir, an OOM
 * killer's victim gets a bundle too.
 */
#ifndef MW_ESCALATION_H
#define MW_ESCALATION_H

#include <stdint.h>
#include "base/options.h"
#include "malloc/mtrace.h"
#include "session/session.h"

struct mw_escalation;

/* What only the live session writes into a bundle (the pprof heap profile): fn(ctx, dir). */
typedef void (*mw_bundle_fn)(void *ctx, const char *dir);

struct mw_escalation *mw_escalation_new(const struct mw_config *cfg, struct mw_session *s,
					struct mw_mtrace *m, mw_bundle_fn extra, void *extra_ctx,
					char *err, size_t errsz);
/* The OOM killer chose p (ev: its MW_EV_OOM): a bundle of its own (e may be NULL). */
void mw_escalation_oom(struct mw_escalation *e, const struct mw_event *ev, struct mw_process *p);
/* A trigger fired (monitor/incident.h's callback). */
void mw_escalation_fire(void *esc, uint32_t pid, const char *spec, uint64_t now_mono);
/* Every turn of the event loop: escalations whose time is up (or whose process is gone)
 * write their bundles and end. */
void mw_escalation_tick(struct mw_escalation *e, uint64_t now_mono);
/* The session ends: every escalation still on ends now (its bundle written). */
void mw_escalation_end_all(struct mw_escalation *e);
void mw_escalation_free(struct mw_escalation *e);

#endif /* MW_ESCALATION_H */
