/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Sinks: strace-like text or NDJSON (schema v1) for events and summaries. */
#ifndef MW_OUTPUT_H
#define MW_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>
#include "wire/event.h"
#include "alloc/alloc.h"
#include "alloc/diagnose.h"
#include "ledger/model.h"

/* A named frame of a memory syscall's user stack (--stacks); strings NULL when unknown. */
struct mw_sframe {
	uint64_t addr;
	uint64_t offset; /* from the start of func */
	const char *module, *func;
};

#define MW_SSTACK_MAX 32

struct mw_json;
/* One named frame as a JSON object (addr; func and offset; module), as every stack is written. */
void mw_json_sframe(struct mw_json *j, const struct mw_sframe *f);
/* A "stack" array of n frames, innermost first. */
void mw_json_sframes(struct mw_json *j, const struct mw_sframe *f, size_t n);

/* --fault-stacks: one thread's sampled faults by the class of the region they hit
 * (MW_CLASS_COUNT + 1 slots, the last: in no region known). */
struct mw_class_samples {
	uint32_t tid;
	uint64_t n[MW_CLASS_COUNT + 1];
};

struct mw_output {
	FILE *f;
	bool json;
	bool summary_only; /* -c: no event lines */
	bool show_dur;	   /* -T */
	bool alloc_always; /* daemon mode: allocator events even with -c */
	/* --stacks: the stack of the syscall being written, and of the allocator events it
	 * caused (nframes 0: none, or it could not be unwound). */
	const struct mw_sframe *frames;
	size_t nframes;
	/* --fault-stacks, while a process is reported: its sampled faults by the class of the
	 * region they hit (MW_CLASS_COUNT + 1 slots, the last: in no region known) and by glibc
	 * arena id, each sample standing for faulted_scale bytes; NULL when none was sampled. */
	const uint64_t *faulted_class_samples;
	const uint64_t *faulted_arena_samples;
	size_t faulted_narena;
	const struct mw_class_samples *faulted_threads; /* sorted by tid */
	size_t faulted_nthreads;
	uint64_t faulted_scale;
	bool faulted_estimated;
};

void mw_out_event(struct mw_output *o, const struct mw_event *ev, const struct mw_apply *a);
void mw_out_lost(struct mw_output *o, uint64_t ts_ns, uint64_t count);
/* Per-thread and per-process summaries of one process (text: two tables). */
void mw_out_process(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p);
/* One thread's thread_summary (JSON only): a thread that exited, in daemon mode. */
void mw_out_thread(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p,
		   const struct mw_thread *t);
/* The final region map of a process, adjacent equal-prot regions coalesced. */
void mw_out_regions(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p);
/* An allocator event (arena lifecycle, thread stack, main heap, allocator). */
void mw_out_alloc(struct mw_output *o, const struct mw_process *p, const struct mw_alloc_ev *e);
/* One arena_summary per arena of p (text: a table). */
void mw_out_arenas(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p);
/* A diagnosis: "!!! ..." lines in text, a {"type":"diagnosis"} object in JSON. */
void mw_out_diag(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p,
		 const struct mw_diag *d);
/* The OOM killer chose p (ev: its MW_EV_OOM): the victim's ledger as it stands, one
 * {"type":"oom"} object (text: a "!!!" block). */
void mw_out_oom(struct mw_output *o, const struct mw_process *p, const struct mw_event *ev);
/* A one-line note in text mode ("memwatch: ..."), a {"type":"note"} object in JSON. */
void mw_out_note(struct mw_output *o, uint64_t ts_ns, const char *msg);

#endif /* MW_OUTPUT_H */
