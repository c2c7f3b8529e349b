/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The allocator probes in a live session (--malloc): the hooks live.c calls.
 * Records from the malloc ring are decoded, unwound and symbolized as they
 * arrive (the process and its files are still there) and handed to the
 * ledger (mledger.h), which a replay feeds the same way; the probes' duty
 * cycle, rate guard and exit hold are managed here.
 */
#ifndef MW_MTRACE_H
#define MW_MTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mw_config;
struct mw_session;
struct ring_buffer;
struct mw_mtrace;

/* Load the probes and add the malloc ring to rb. NULL with a reason in err. */
struct mw_mtrace *mw_mtrace_new(const struct mw_config *cfg, struct mw_session *s,
				struct ring_buffer *rb, char *err, size_t errsz);
/* Attach to pid's allocator (before_libs: stopped right after exec). */
int mw_mtrace_add_pid(struct mw_mtrace *t, uint32_t pid, bool before_libs);
/* pid exec'd: its blocks and symbols are gone; attach to the new image. */
void mw_mtrace_exec(struct mw_mtrace *t, uint32_t pid);
/* Every turn of the event loop: duty cycle and rate guard. */
void mw_mtrace_tick(struct mw_mtrace *t, uint64_t now_mono);
/* Detach every probe (first thing at exit: the ring then holds all records). */
void mw_mtrace_detach(struct mw_mtrace *t);
/* Summaries, leak report, retention of every traced process (final: --folded too). */
void mw_mtrace_report(struct mw_mtrace *t, bool final);
/* Were the probes ever attached to pid (escalation: only to the processes escalated)? */
bool mw_mtrace_knows(struct mw_mtrace *t, uint32_t pid);
/* --escalate-for: the probes on pid (attached, or attached again), under its budget. */
int mw_mtrace_escalate(struct mw_mtrace *t, uint32_t pid);
/* ... and off again: detached until the next mw_mtrace_escalate. */
void mw_mtrace_deescalate(struct mw_mtrace *t, uint32_t pid);
/* The stack holding the most outstanding bytes of pid (its first frames, innermost first,
 * " < " between). 0, or -ENOENT. */
int mw_mtrace_top_stack(struct mw_mtrace *t, uint32_t pid, char *buf, size_t sz, double *bytes,
			double *count);
/* One process's report now, between intervals (an OOM victim's, an escalation's end). */
void mw_mtrace_report_pid(struct mw_mtrace *t, uint32_t pid);
void mw_mtrace_free(struct mw_mtrace *t);
/* Its ledger (the heap profile's source). */
const struct mw_mledger *mw_mtrace_ledger(const struct mw_mtrace *t);
/* fn(ctx, pid, final) after each process's report (mledger.h: after_report). */
void mw_mtrace_after_report(struct mw_mtrace *t, void (*fn)(void *, uint32_t, bool), void *ctx);

/* The event loop's wait: shorter while a sampler's ring is read (at most every 10 ms). */
int mw_mtrace_wait_ms(const struct mw_mtrace *t, int ms);

#endif /* MW_MTRACE_H */
