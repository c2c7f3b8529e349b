/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The report's model, from memwatch's NDJSON objects in two passes: the
 * first finds the time range, the processes and threads and each process's
 * size at the start (its first process_summary less the calls before it);
 * the second puts every number into fixed time buckets (MW_REP_BUCKETS per
 * process series, MW_REP_TBUCKETS per thread), so the model, and the page,
 * stay small whatever the length of the trace. Each bucket keeps the last
 * exact value seen in it. Pure.
 */
#ifndef MW_REPORT_DATA_H
#define MW_REPORT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "ledger/class.h"

#define MW_REP_BUCKETS 400
#define MW_REP_TBUCKETS 120
#define MW_REP_MAX_ARENA_EVENTS 2000 /* per process; more are counted, not drawn */
#define MW_REP_FRAME_LEN 160

struct mw_rep_series {
	int64_t *v;   /* nb buckets */
	uint8_t *set; /* bucket has a value */
	size_t nb;
};

/* A call-stack tree (outermost frame at the root) with bytes on each node. */
struct mw_rep_node {
	char name[MW_REP_FRAME_LEN];  /* the function, or the module+offset, or the address */
	char where[MW_REP_FRAME_LEN]; /* file:line of the first frame seen here, "" if unknown */
	double value;
	uint32_t child, next; /* first child, next sibling: node indexes, 0 = none */
};

struct mw_rep_tree {
	struct mw_rep_node *v; /* v[0]: the root */
	size_t n, cap;
	uint64_t ts; /* the report these stacks come from (the last one wins) */
	bool estimated;
};

enum mw_rep_stacks {
	MW_REP_LEAKS,
	MW_REP_FAULTS,
	MW_REP_MAPPINGS,
	MW_REP_NSTACKS
};

struct mw_rep_thread {
	uint32_t pid, tid;
	char comm[16];
	int64_t cur, peak; /* net mapped now, and its largest */
	bool anchored;	   /* a thread_summary has set cur */
	struct mw_rep_series net;
	struct mw_rep_series acc; /* its net committed (thread_summary.accessible), at reports */
	bool have_acc;
	uint64_t by_class[MW_CLASS_COUNT]; /* its last thread_summary's */
	uint32_t arenas_created;
};

struct mw_rep_arena_ev {
	uint64_t ts;
	uint32_t tid;
	int arena;
	bool created; /* arena_create, else arena_heap_new */
};

struct mw_rep_diag {
	uint64_t ts;
	char kind[64], message[320], remedy[320];
};

struct mw_rep_proc {
	uint32_t pid;
	char comm[16];
	/* pass 1 */
	bool have_first;
	int64_t first_mapped, delta_before;
	/* pass 2 */
	bool started;
	int64_t cur; /* mapped now */
	struct mw_rep_series mapped, committed, resident;
	bool have_committed, have_resident, exited;
	uint64_t last_mapped, last_committed, last_resident, threads, vm_end;
	size_t narenas;
	struct mw_rep_arena_ev *aev;
	size_t naev, capaev, aev_dropped;
	struct mw_rep_tree stacks[MW_REP_NSTACKS];
	struct mw_rep_diag *diag;
	size_t ndiag, capdiag;
};

struct mw_rep {
	uint64_t t0, t1; /* Unix epoch ns */
	bool have_time;
	struct mw_rep_proc *procs;
	size_t nprocs, capprocs;
	struct mw_rep_thread *threads;
	size_t nthreads, capthreads;
	uint32_t *tidx; /* hash: (pid, tid) -> thread index + 1 */
	size_t tmask;
	uint64_t objects, syscalls;
	int pass;
	int err; /* -ENOMEM */
};

void mw_rep_init(struct mw_rep *r);
void mw_rep_free(struct mw_rep *r);
/* One object of the first pass, then (after mw_rep_begin_pass2) of the second. 0 or -ENOMEM. */
int mw_rep_add(struct mw_rep *r, struct json_object *o, const char *type);
int mw_rep_begin_pass2(struct mw_rep *r);
/* The bucket of a time stamp. */
size_t mw_rep_bucket(const struct mw_rep *r, uint64_t ts, size_t nb);
/* The processes, largest first (last mapped); threads of pid by peak, largest first: malloc'd
 * index arrays. */
size_t *mw_rep_threads_of(const struct mw_rep *r, uint32_t pid, size_t *n);

#endif /* MW_REPORT_DATA_H */
