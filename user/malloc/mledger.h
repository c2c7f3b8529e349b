/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The allocation probes' ledger: what --malloc knows about each traced
 * process (its allocator, the blocks it holds by call stack, how much it
 * allocated) and its reports (malloc_summary, leak, retention, --folded).
 * Pure: fed unwound allocations, frees and the kernel's counters by the live
 * probes (mtrace.c) or by a recording (replay.c), it records every input into
 * the session's recording, so a --malloc run replays to the same reports.
 */
#ifndef MW_MLEDGER_H
#define MW_MLEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "base/options.h"
#include "leak.h"
#include "session/session.h"
#include "wire/event.h"
#include "wire/record.h"

/* An interval boundary: its time, the probes' attached time then, and the read and write
 * system calls of the process then, in all and while attached (mw_mbudget_entry). */
struct mw_mseg {
	uint64_t ns, att_ns;
	uint64_t io, io_att, rd, rd_att;
};

struct mw_mproc {
	uint32_t pid;
	bool done;    /* its final report is out (it exited while held) */
	bool midlife; /* attached while it ran: blocks made before are unknown... */
	bool walked;  /* ...but for what its heap walk found (spans, status) */
	uint32_t walk_status;
	struct mw_mheap_span *wspans;
	size_t nwspans;
	char comm[MW_COMM_LEN];
	char allocator[256];	     /* the probed allocator's file, "" if none found */
	double est_bytes, est_count; /* allocated, from the traced ones and their weights */
	uint64_t stacks_full;	     /* its allocations filed under the unknown stack */
	uint64_t sampler_mean;	     /* the in-process sampler reports its samples; 0: not */
	bool sampler_ring;	     /* ... read from its ring (else through its alloc probe) */
	/* The overhead budget (--max-overhead): its latest state, and the starts of the
	 * last two detached windows (0: none); blocks allocated before dark_ns with no
	 * free seen have an unknown fate: not leaks (fate_unknown). */
	bool has_budget;
	struct mw_mbudget_entry budget;
	uint64_t dark_ns, dark_prev_ns;
	/*
	 * Scaled estimates: the time is cut into intervals at each detach (an interval
	 * whose windows saw too few system calls is merged into the next) and at each
	 * report; what the probes saw in an interval stands for the whole of it, each
	 * block weighing the interval's reads (or reads and writes, or time) over those
	 * while attached, a Horvitz-Thompson estimate on a stationary rate. seg_ns,
	 * seg_att_ns: the last boundary and the attached time then; last_w: the weight
	 * of the interval it closed; pend_*: allocated since, not yet scaled.
	 */
	bool seg_on, scaled;
	uint64_t seg_ns, seg_att_ns;
	uint64_t prev_seg_ns;	     /* where the last closed interval began */
	uint64_t seg_io, seg_io_att; /* its read+write system calls then, and while attached */
	uint64_t seg_rd, seg_rd_att; /* of them the reads */
	double last_w;
	double pend_bytes, pend_count;
	/*
	 * The last closed interval: where it began (the trace's start for the first), and
	 * what its blocks weigh in all (last_*). A report while the probes are detached
	 * finds no attached time since seg_ns: the time since, the dark tail, is added to
	 * that interval, whose windows then stand for it too (rescaled), and seg_ns moves
	 * to the report.
	 */
	struct mw_mseg base;
	double last_bytes, last_count;
	uint64_t trace_ns; /* when its budget's account began (its first entry's now - wall) */
};

struct mw_mledger {
	struct mw_session *s;	    /* the model (names, heaps), output and recording */
	struct mw_malloc_config mc; /* sampling (weights), --min-age, --folded */
	struct mw_leak leak;
	struct mw_mproc *procs;
	size_t nprocs, cap;
	FILE *folded;	 /* --folded: final reports append their stacks */
	bool probes_off; /* the probes were away for a while (--duty, the rate guard) */
	/* An interval weighed by time is merged into the next at a detach when its windows
	 * were attached less than this (MIN_ATT_NS in mledger.c, set by mw_mledger_init). */
	uint64_t min_att_ns;
	char **names; /* frame names of stacks read from a recording */
	size_t nnames, capnames;
	/* Called after each process's report, while a process held in exit() still is (live:
	 * --pprof is rewritten then, when its mappings can still be read). NULL: none. */
	void (*after_report)(void *ctx, uint32_t pid, bool final);
	void *after_report_ctx;
};

/* Names the frames of a new stack (ips innermost first); 0, or -errno with frames zeroed. */
typedef int (*mw_name_stack_fn)(void *ctx, uint32_t pid, const uint64_t *ips, uint32_t n,
				struct mw_frame *frames);

/* 0, or -1 with a one-line reason in err (out of memory, --folded cannot be opened). */
int mw_mledger_init(struct mw_mledger *ml, struct mw_session *s, const struct mw_malloc_config *mc,
		    uint32_t max_outstanding, char *err, size_t errsz);
void mw_mledger_destroy(struct mw_mledger *ml);
struct mw_mproc *mw_mledger_find(struct mw_mledger *ml, uint32_t pid);
/* A traced process and the allocator file found for it; flags: MW_MPROC_*. */
void mw_mledger_proc(struct mw_mledger *ml, uint32_t pid, const char *comm, const char *allocator,
		     uint32_t flags);
/*
 * The walk of pid's glibc heaps after the attach (MW_ENTRY_MHEAP): its blocks
 * in use enter the tables (stack unknown) unless known already; its spans say
 * which heaps are known whole.
 */
void mw_mledger_heapwalk(struct mw_mledger *ml, const struct mw_mheap_entry *e,
			 const struct mw_mheap_span *spans, const struct mw_mheap_block *blocks);
int mw_mledger_heapwalk_entry(struct mw_mledger *ml, const void *data, size_t len);
/*
 * An allocation (MW_EV_MALLOC) whose stack was unwound to ips (n may be 0:
 * unknown). A stack seen for the first time is named by name_stack (live: the
 * symbolizer; NULL: left unnamed).
 */
void mw_mledger_alloc(struct mw_mledger *ml, const struct mw_event *ev, const uint64_t *ips,
		      uint32_t n, mw_name_stack_fn name_stack, void *ctx);
/*
 * Name again the frames of pid's stacks that lie outside every file and have
 * no name: JIT code whose perf map had no line for them yet (Java writes it at
 * exit). A stack that gains a name is recorded again.
 */
void mw_mledger_rename(struct mw_mledger *ml, uint32_t pid, mw_name_stack_fn name_stack, void *ctx);
/* A stack and its frames, read from a recording (MW_ENTRY_MSTACK; again: renamed). */
int mw_mledger_stack_entry(struct mw_mledger *ml, const void *data, size_t len);
/* An allocation read from a recording (MW_ENTRY_MALLOC). */
int mw_mledger_alloc_entry(struct mw_mledger *ml, const void *data, size_t len);
/* A tracked block was freed (MW_EV_MFREE; raw: the record, for the recording). */
void mw_mledger_free(struct mw_mledger *ml, const struct mw_event *ev, const void *raw,
		     size_t rawlen);
/* pid exec'd: its blocks are gone with its old image. */
void mw_mledger_exec(struct mw_mledger *ml, uint32_t pid);
/* Records were lost: the kernel's outstanding table of pid is the truth. */
void mw_mledger_sync(struct mw_mledger *ml, uint32_t pid, const struct mw_msync_block *v, size_t n);
/*
 * The in-process sampler's table of pid read at now (live: its n addresses,
 * sorted): pid's blocks it no longer has were freed, at now as far as is
 * known (no free probe fires). read_ok false: it could not be read (the
 * process is gone): every block of pid has an unknown fate from now on, none
 * is a leak. Returns the blocks released (read_ok) or of unknown fate now.
 */
size_t mw_mledger_sampler_sync(struct mw_mledger *ml, uint32_t pid, uint64_t now,
			       const uint64_t *live, size_t n, bool read_ok);
/* The same read from a recording (MW_ENTRY_MFREED). */
int mw_mledger_freed_entry(struct mw_mledger *ml, const void *data, size_t len);
/* Write one process's reports (final: --folded too, and it is done). */
void mw_mledger_report(struct mw_mledger *ml, const struct mw_mreport_entry *in);
/* A report read from a recording (MW_ENTRY_MREPORT, either layout). */
int mw_mledger_report_entry(struct mw_mledger *ml, const void *data, size_t len);
/* pid's allocations come from the in-process sampler, of this mean (MW_ENTRY_MSAMPLER). */
void mw_mledger_sampler(struct mw_mledger *ml, uint32_t pid, uint64_t mean, uint32_t flags);
/* The rate guard detached the probes. */
void mw_mledger_guard(struct mw_mledger *ml, const struct mw_mguard_entry *g);
/* A process's overhead budget: its probes detached (dark_ns), or its state before a report. */
void mw_mledger_budget(struct mw_mledger *ml, const struct mw_mbudget_entry *e);
/*
 * The first allocation time of pid's blocks of known fate: the end of its
 * probes' last detached window (0: never detached, every block). The blocks
 * before it may have been freed unseen: views of what a process holds take
 * them apart (mw_leak_aggregate_range from here).
 */
uint64_t mw_mledger_known_from(const struct mw_mledger *ml, uint32_t pid);
/* The rows of pid's blocks of known fate allocated at or before max_ts (see
 * mw_leak_aggregate_fate): the leak view of what a process holds. */
long mw_mledger_known_rows(const struct mw_mledger *ml, uint32_t pid, uint64_t max_ts,
			   bool by_count, struct mw_leak_row **rows);
/* Whether pid's figures are scaled estimates: its probes were detached a while. */
bool mw_mledger_scaled(const struct mw_mledger *ml, uint32_t pid);
/*
 * A walk of pid's glibc heaps begun at now (live: before a report, when blocks
 * have an unknown fate): each block of unknown fate allocated before now inside
 * a span the walk read whole is either still in use there (a chunk of its
 * size at its address: of known fate again, until the next detach) or was
 * freed while the probes were away (released). Blocks elsewhere (mmapped
 * chunks) keep their unknown fate. Recorded (MW_ENTRY_MFREED, flag
 * MW_MFREED_CONFIRM); returns the blocks resolved.
 */
size_t mw_mledger_confirm(struct mw_mledger *ml, uint32_t pid, uint64_t now,
			  const struct mw_mheap_span *spans, size_t nspans,
			  const struct mw_mheap_block *blocks, size_t nblocks);

#endif /* MW_MLEDGER_H */
