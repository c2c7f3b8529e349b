/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --perfetto FILE: a Perfetto trace of the session, protobuf TracePackets
 * (perfetto_trace.proto) written through session hooks, so a live run and a
 * replay of its recording write the same trace. Tracks: one per process and
 * thread; counter tracks per process (mapped, committed, resident once
 * known), per thread (its own ledger: net mapped and net committed, NDJSON's
 * net and accessible) and per glibc arena (committed); instants for arena
 * lifecycle and for mappings of MW_PERFETTO_LARGE bytes or more.
 *
 * Counters: every value written is exact at its time stamp; a busy track is
 * written at most once per MW_PERFETTO_MIN_GAP_NS (its latest value then),
 * and every track at each report and at the end.
 */
#ifndef MW_PERFETTO_H
#define MW_PERFETTO_H

#include <stddef.h>
#include <stdint.h>
#include "session/session.h"

#define MW_PERFETTO_LARGE (1ULL << 20)
#define MW_PERFETTO_MIN_GAP_NS 10000000ULL

struct mw_perfetto;

/* Start writing path (through a temporary file, renamed at close). NULL with a reason. */
struct mw_perfetto *mw_perfetto_open(const char *path, char *err, size_t errsz);
/* The hooks to set on the session, with the mw_perfetto as their ctx. */
extern const struct mw_session_hooks mw_perfetto_hooks;
/* Write what is pending and put the file in place; frees t. 0, or -1 with a reason. */
int mw_perfetto_close(struct mw_perfetto *t, char *err, size_t errsz);
/* Give up: the temporary file is removed, an existing FILE untouched; frees t. */
void mw_perfetto_abort(struct mw_perfetto *t);

#endif /* MW_PERFETTO_H */
