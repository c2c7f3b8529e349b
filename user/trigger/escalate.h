/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Escalation's rate limits (--escalate-for): when a trigger fires, may the
 * deeper layers be switched on for that process now, and which escalations
 * are due to end. Pure: the caller gives the clock and acts on the answers.
 *
 * A process is escalated at most once per proc_gap_ns (counted from the start
 * of its last escalation); the host has at most max_active escalations at a
 * time and starts at most max_per_window of them per window_ns. Every
 * refusal says which limit held.
 */
#ifndef MW_ESCALATE_H
#define MW_ESCALATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_ESC_MAX_ACTIVE 8   /* max_active at most */
#define MW_ESC_MAX_WINDOW 64  /* max_per_window at most */
#define MW_ESC_REMEMBERED 256 /* processes whose last escalation is remembered */

struct mw_esc_policy {
	uint64_t dur_ns;	 /* how long an escalation lasts */
	uint64_t proc_gap_ns;	 /* per process: between two starts */
	uint32_t max_active;	 /* host: at once */
	uint32_t max_per_window; /* host: starts per window_ns */
	uint64_t window_ns;
};

enum mw_esc_verdict {
	MW_ESC_START,	   /* escalate now, until the returned end */
	MW_ESC_ACTIVE,	   /* it is escalated already */
	MW_ESC_PROC_LIMIT, /* this process was escalated less than proc_gap_ns ago */
	MW_ESC_HOST_BUSY,  /* max_active escalations run */
	MW_ESC_HOST_LIMIT, /* max_per_window started within window_ns */
};

struct mw_esc_state {
	struct {
		uint32_t pid;
		uint64_t end_ns;
	} active[MW_ESC_MAX_ACTIVE];
	size_t nactive;
	struct {
		uint32_t pid;
		uint64_t start_ns;
	} last[MW_ESC_REMEMBERED]; /* the most recent start of each process, oldest evicted */
	size_t nlast;
	uint64_t starts[MW_ESC_MAX_WINDOW]; /* ring of the host's recent starts */
	size_t nstarts, head;
};

/* A trigger fired for pid at now: the verdict; MW_ESC_START records the start. */
enum mw_esc_verdict mw_esc_request(struct mw_esc_state *s, const struct mw_esc_policy *p,
				   uint32_t pid, uint64_t now);
/* Escalations due to end at now (or of processes the caller says are gone: pid_gone
 * may be NULL): their pids into out (at most max), and they are no longer active. */
size_t mw_esc_due(struct mw_esc_state *s, uint64_t now, bool (*pid_gone)(void *, uint32_t),
		  void *ctx, uint32_t *out, size_t max);
/* Is pid escalated now? */
bool mw_esc_active(const struct mw_esc_state *s, uint32_t pid);
const char *mw_esc_verdict_name(enum mw_esc_verdict v);

#endif /* MW_ESCALATE_H */
