/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The process model: per traced process, an interval map of its regions, its
 * brk, and per-thread ledgers. mw_model_apply() turns each typed event into
 * exact vm deltas. Pure: no I/O; the caller seeds processes from /proc.
 */
#ifndef MW_MODEL_H
#define MW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "wire/event.h"
#include "class.h"
#include "procfs.h"
#include "regions.h"
#include "resident.h"

struct mw_counts {
	uint64_t calls[MW_SYS_COUNT];
	uint64_t errors[MW_SYS_COUNT];
	uint64_t dur_ns[MW_SYS_COUNT];
};

struct mw_thread {
	uint32_t tid;
	char comm[MW_COMM_LEN];
	/* The exact counts (mw_thread_counts): the kernel's once read (have_kernel), until
	 * then what the events showed. One set, not one of each: after the kernel's read
	 * only the calls seen matter (mw_thread_dropped), and 10,000 threads cost 1.4 MB
	 * less. */
	struct mw_counts counts;
	uint64_t seen_calls[MW_SYS_COUNT]; /* calls in the events received */
	/* Ledger from the region model. */
	uint64_t mapped;    /* bytes of mappings this thread created */
	uint64_t unmapped;  /* bytes of mappings this thread destroyed */
	int64_t accessible; /* change in non-PROT_NONE bytes it caused */
	int64_t reserved;   /* change in PROT_NONE bytes it caused */
	/* Page faults the kernel counted for it since it was traced (have_faults). */
	uint64_t faults;     /* all user-mode faults */
	uint64_t faulted;    /* bytes: page size x the faults that found no page present */
	uint64_t fault_lost; /* --fault-stacks: samples the ring had no room for (the kernel's) */
	bool exited;
	bool have_kernel;
	bool kernel_final; /* the kernel's counters were read at its exit */
	bool have_faults;  /* the fault probe counted them */
};

/* A thread's counters from the kernel: calls, errors, durations and faults. */
void mw_thread_set_kernel(struct mw_thread *t, const struct mw_thread_counters *c,
			  uint64_t page_size);

/* The exact counts: the kernel's when read, else what the events showed. */
static inline const struct mw_counts *mw_thread_counts(const struct mw_thread *t)
{
	return &t->counts;
}

/* Syscall records lost for this thread (kernel count minus records seen). */
uint64_t mw_thread_dropped(const struct mw_thread *t);

/*
 * Records from different CPUs can arrive out of order: a thread's mmap may be
 * seen before another thread's munmap that freed the very range it got. A
 * non-replacing mapping never overlaps a live one, so the overlap is held here
 * until that munmap arrives and is charged to it.
 */
struct mw_pending_unmap {
	uint64_t start, end;
	uint64_t by_ns;	 /* exit time of the call that found the range still mapped */
	uint32_t by_tid; /* the thread that made it */
	bool accessible; /* the range was not PROT_NONE */
};

#define MW_MAX_PENDING 64
#define MW_PENDING_TTL_NS 1000000000ULL
/* Records of calls that completed before a snapshot ended are in the ring by this
 * long after it: the baseline is settled then (mw_model_settle). */
#define MW_SETTLE_NS 50000000ULL
/* Calls that completed this soon after a snapshot may have changed VmSize before it was
 * read: remembered (at most MW_MAX_BOUNDARY) until the baseline settles. */
#define MW_BOUNDARY_NS 2000000ULL
#define MW_MAX_BOUNDARY 64

struct mw_boundary_call {
	uint32_t tid;
	struct mw_vm_delta d;
};
/* Above any user address space (x86-64: 2^47, or 2^56 with 5-level paging): a call whose
 * range reaches past it is not one the kernel made. */
#define MW_MAX_RANGE (1ULL << 57)
#define MW_MAX_RETIRED_NAMES 1024
#define MW_RETIRED_OTHER "(other)"

struct mw_process {
	uint32_t pid;
	uint32_t parent; /* traced parent's pid for forked children, else 0 */
	char comm[MW_COMM_LEN];
	struct mw_regions regions;
	uint64_t start_brk;	      /* 0 when unknown */
	uint64_t brk;		      /* current break, 0 when unknown */
	uint64_t seed_mono_ns;	      /* events completed before this raced the /proc snapshot */
	struct mw_maps_piece *pieces; /* when each part of that snapshot was read, until settled */
	size_t npieces;
	bool settle_pending; /* the raced events are still coming: see mw_model_settle */
	struct mw_boundary_call *boundary; /* calls just after the snapshot, until settled */
	size_t nboundary;
	bool exec_vm;	      /* vm_start and stack_start are the exec record's */
	uint64_t vm_start;    /* kernel VmSize at the baseline */
	uint64_t vm_end;      /* kernel VmSize at the end (0 = not known yet) */
	uint64_t stack_start; /* kernel VmStk at the baseline */
	uint64_t stack_end;   /* kernel VmStk at the end (0 = not known yet) */
	int64_t net;	      /* sum of vm deltas since the baseline, incl. unattributed */
	int64_t unattributed; /* part of net the calls do not explain: found by resyncing with
				 * /proc after lost events, or when the baseline settled */
	int64_t stack_calls;  /* MW_RF_STACKLIKE bytes mapped minus unmapped by calls: the kernel
				 * counts them in VmStk too, so stack growth leaves them out */
	uint64_t raced;	      /* events reconciled against the snapshot */
	uint64_t bad_calls;   /* successful calls no kernel makes (a corrupt recording): skipped */
	struct mw_alloc *alloc;	     /* the allocator analysis' state (alloc/), NULL until seeded:
				 * carried, forked and freed here through mw_model.alloc_ops */
	int arena_limit;	     /* glibc's arena limit in force, 0 = unknown */
	struct mw_resident resident; /* the kernel's resident counters, when read */
	struct mw_resident resident_start; /* the reading at the baseline */
	struct mw_resident_map rmap;	   /* resident by class and arena, at the last report */
	struct mw_resident_map rmap_last;  /* once the process ended: the last rmap read while it
					   * lived (the diagnoses' resident bytes) */
	struct mw_pending_unmap pending[MW_MAX_PENDING];
	size_t npending;
	struct mw_thread *threads; /* sorted by tid */
	size_t nthreads, cap;
	/* Final counts of threads forgotten while the process lives (daemon
	 * mode's bounded thread table), summed by thread name, so per-name
	 * totals never go down. At most MW_MAX_RETIRED_NAMES names; the rest
	 * are summed under MW_RETIRED_OTHER. */
	struct mw_retired {
		char comm[MW_COMM_LEN];
		struct mw_counts counts;
		uint64_t faulted; /* bytes, of the threads whose faults were counted */
	} * retired;
	size_t nretired, capretired;
	uint64_t retired_fault_lost; /* the forgotten threads' fault_lost */
	/* Sizes at the last report (the baseline before the first): the growth an OOM
	 * record and the triggers show is what came since. */
	uint64_t report_ns; /* Unix epoch ns of that report */
	uint64_t report_mapped, report_committed;
	int exit_code; /* wait status of the last thread */
	/* The kernel said the process ended (an EXIT with group_dead): it is over once
	 * every thread it has has exited too, as a sibling's exit may come after it. */
	bool group_dead;
	bool exited;
	bool needs_seed; /* after exec: the caller must seed it from /proc */
};

struct mw_alloc;

/* How the model copies and frees the allocator analysis' per-process state:
 * the analysis sits above the model, which never calls into it directly. */
struct mw_alloc_ops {
	struct mw_alloc *(*fork)(const struct mw_alloc *a); /* NULL when out of memory */
	void (*free)(struct mw_alloc *a);
};

struct mw_model {
	struct mw_process **procs;
	size_t nprocs, cap;
	uint64_t page_size;
	struct mw_alloc_ops alloc_ops; /* needed once a process has p->alloc */
};

/* What one event did, for the sinks. */
struct mw_apply {
	struct mw_process *proc; /* NULL if the event was not for a known process */
	struct mw_thread *thread;
	struct mw_process *child; /* FORK: the new process */
	struct mw_vm_delta d;
	int64_t vm_delta; /* mapped - unmapped */
	bool raced;	  /* applied against a snapshot that may already hold it */
	bool proc_exited; /* EXIT with group_dead */
	bool proc_done;	  /* every thread's exit is in after group_dead: the process is over */
	bool refused;	  /* a call no kernel makes (counted in bad_calls), not applied */
};

void mw_model_init(struct mw_model *m, uint64_t page_size);
void mw_model_free(struct mw_model *m);
struct mw_process *mw_model_find(const struct mw_model *m, uint32_t pid);
/* Find or create; NULL on allocation failure. */
struct mw_process *mw_model_process(struct mw_model *m, uint32_t pid);
/* Remove and free an exited process's record. */
void mw_model_forget(struct mw_model *m, uint32_t pid);
struct mw_thread *mw_process_find_thread(const struct mw_process *p, uint32_t tid);
struct mw_thread *mw_process_thread(struct mw_process *p, uint32_t tid);
/* Threads of p whose exit has not come yet. */
size_t mw_process_threads_left(const struct mw_process *p);

/* --fault-stacks: samples of the process's faults the kernel took and the ring had no room
 * for, in every thread it has had (the kernel's counts as last read). */
uint64_t mw_process_fault_lost(const struct mw_process *p);
/* Drop a thread's record (daemon mode, after its final summary). */
void mw_process_forget_thread(struct mw_process *p, uint32_t tid);
/*
 * Seed (or reseed) p's regions from a snapshot whose reading ended at
 * snap_end_ns (CLOCK_MONOTONIC; 0: nothing raced it, as after an exec).
 * vm_size and stack_size are the kernel's VmSize and VmStk then: the baseline.
 * Calls that completed before snap_end_ns ("raced") come after the seed; they
 * preceded the baseline, so they repair the map without counting as growth:
 * one the snapshot already shows (by the time of the piece that shows its
 * range, mw_model_set_pieces) is skipped, one it cannot show yet is applied.
 * After an exec record that carried the new image's size, the exec's numbers
 * stay the baseline and vm_size/stack_size are ignored.
 */
int mw_model_seed(struct mw_process *p, const struct mw_regions *maps, uint64_t start_brk,
		  uint64_t vm_size, uint64_t stack_size, uint64_t snap_end_ns);
/* When each piece of the last snapshot of p was read (copied; sorted by lo). 0 or -ENOMEM. */
int mw_model_set_pieces(struct mw_process *p, const struct mw_maps_piece *v, size_t n);
/*
 * Once the raced calls are in (the first call MW_SETTLE_NS after the snapshot,
 * or a report): the map's size must be vm_start + net. A call that completed
 * just after the snapshot may have changed VmSize before it was read (its exit
 * was on its way): when the first of those calls, or one or two of them,
 * account for the difference exactly, they are moved before the baseline
 * (counted as raced, out of the ledgers). What no such call explains goes to
 * unattributed. Idempotent. A raced call whose record comes only after that
 * (held up on its way to the ring) takes its share of that booking back.
 */
void mw_model_settle(struct mw_process *p);
/* Growth of the stack (page faults, no syscall: VmStk's change less the stack-like
 * mappings calls made) between baseline and end, when known. */
int64_t mw_process_stack_delta(const struct mw_process *p);
/*
 * After lost events: replace p's regions with a fresh snapshot, keeping its
 * baseline; the difference goes to net as unattributed bytes.
 */
int mw_model_resync(struct mw_process *p, const struct mw_regions *maps, uint64_t snap_end_ns);
int mw_model_apply(struct mw_model *m, const struct mw_event *ev, struct mw_apply *out);
/* A reading of the kernel's resident counters; start: the one at the baseline. */
void mw_process_set_resident(struct mw_process *p, const struct mw_resident *r, bool start);
/* The retired-counts entry a thread named comm folds into (NULL if none yet). */
const struct mw_retired *mw_process_retired(const struct mw_process *p, const char *comm);

/*
 * Bytes mapped now that each thread created, by class, read off the region
 * map in one pass: row i is p->threads[i]. malloc'd (free() it); NULL when
 * out of memory.
 */
uint64_t (*mw_process_class_bytes(const struct mw_process *p))[MW_CLASS_COUNT];

#endif /* MW_MODEL_H */
