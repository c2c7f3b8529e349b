/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Allocator-aware analysis: what each region is (class), who made it, and
 * the glibc arena lifecycle recognised from the syscall signatures measured
 * in user/alloc/SIGNATURES.md. Pure: fed by the process model, no I/O.
 */
#ifndef MW_ALLOC_H
#define MW_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "wire/event.h"
#include "ledger/class.h"
#include "ledger/regions.h"
#include "glibc.h"

struct mw_process;
struct mw_apply;

enum mw_allocator {
	MW_ALLOCATOR_UNKNOWN = 0,
	MW_ALLOCATOR_GLIBC,
	MW_ALLOCATOR_JEMALLOC,
	MW_ALLOCATOR_TCMALLOC,
};

const char *mw_allocator_name(enum mw_allocator a); /* "glibc", "jemalloc", "tcmalloc", "unknown" */

enum mw_alloc_ev_kind {
	MW_AEV_ARENA_CREATE = 1,  /* a thread reserved and committed a new arena's first heap */
	MW_AEV_ARENA_HEAP_NEW,	  /* an arena got another heap */
	MW_AEV_ARENA_GROW,	  /* committed more of a heap (mprotect RW at its end) */
	MW_AEV_ARENA_SHRINK,	  /* trimmed a heap (MADV_DONTNEED, or MAP_FIXED PROT_NONE) */
	MW_AEV_ARENA_HEAP_DELETE, /* munmap of a whole non-first heap */
	MW_AEV_ARENA_REUSE,	  /* glibc attached a thread to an existing arena (USDT only) */
	MW_AEV_THREAD_STACK,	  /* a thread stack was mapped (and its guard set) */
	MW_AEV_MAIN_HEAP_GROW,	  /* brk up */
	MW_AEV_MAIN_HEAP_TRIM,	  /* brk down */
	MW_AEV_ALLOCATOR,	  /* the process's allocator became known */
	MW_AEV_ARENAS,		  /* at attach: glibc's arenas then (arena: count, -1 unknown) */
};

struct mw_alloc_ev {
	enum mw_alloc_ev_kind kind;
	uint64_t ts_ns;
	uint32_t pid, tid; /* tid: the thread whose call it was */
	int arena;	   /* arena id (1, 2, ...), 0 for the main arena, -1 n/a */
	uint64_t base;	   /* arena: the heap's base; stack: its base; main heap: start */
	uint64_t bytes;	   /* grow/shrink/trim amount, stack size, main heap size */
	uint64_t reserved; /* arena state after the event */
	uint64_t committed;
	uint64_t trimmed;
	uint32_t heaps;
	uint64_t guard;		     /* thread_stack: guard bytes at its low end */
	bool shrink_fixed;	     /* arena_shrink: the MAP_FIXED PROT_NONE form */
	bool hole;		     /* arena_shrink, main_heap_trim: a DONTNEED below the top
				      * (malloc_trim), which moves neither top nor break */
	const char *source;	     /* "syscalls" or "usdt" */
	enum mw_allocator allocator; /* MW_AEV_ALLOCATOR */
	const char *evidence;	     /* MW_AEV_ALLOCATOR, MW_AEV_ARENAS: why (static string or
				      * interned) */
	enum mw_arenas_how how;	     /* MW_AEV_ARENAS */
};

struct mw_arena_heap {
	uint64_t base;	  /* 64 MiB aligned */
	uint64_t size;	  /* the reservation, normally 64 MiB */
	uint64_t rw_end;  /* end of the committed (RW) part */
	uint64_t rw_high; /* high-water mark of rw_end */
};

struct mw_arena {
	int id;
	uint32_t creator_tid; /* 0: existed before attach */
	uint64_t created_ns;
	struct mw_arena_heap *heaps; /* first heap first */
	size_t nheaps;
	uint64_t reserved;  /* live heaps x their size */
	uint64_t committed; /* RW bytes (high-water under the DONTNEED form) */
	uint64_t trimmed;   /* bytes given back by shrinks */
	uint32_t *threads;  /* creator first, then threads glibc attached (USDT) or seen
			     * growing it (which a realloc of its block also does) */
	size_t nthreads;
	bool by_syscalls; /* recognised from the syscall signatures */
	bool by_usdt;	  /* reported by glibc's memory_* probes */
};

struct mw_alloc; /* per-process state, opaque */

/* A thread stack found at attach: [start, end) read-write, [guard, start) its guard. */
struct mw_stack_range {
	uint64_t guard, start, end;
};

/*
 * What reading the process at attach tells beyond /proc/PID/maps (glibc_read.c;
 * recorded, so a replay has it too): glibc's arena list, the chunks glibc mapped
 * on its own (their headers), and the blocked threads' stacks.
 */
struct mw_alloc_facts {
	struct mw_glibc_arenas arenas;
	struct mw_range *chunks;
	size_t nchunks;
	struct mw_stack_range *stacks;
	size_t nstacks;
	/* For jemalloc and tcmalloc, by the kernel's mappings (maps merges neighbours
	 * memwatch cannot tell apart): the anonymous read-write ones mapped
	 * MAP_NORESERVE (smaps VmFlags "nr": jemalloc maps all its memory so), and
	 * those right above a PROT_NONE mapping (a stack over its guard) or right
	 * after a library's data (its .bss), which are no allocator's. */
	struct mw_range *noreserve;
	size_t nnoreserve;
	struct mw_range *foreign;
	size_t nforeign;
	bool vmflags;	       /* noreserve was read (smaps) */
	bool overcommit_never; /* vm.overcommit_memory 2: jemalloc maps without MAP_NORESERVE */
};

/*
 * Read them (I/O: process_vm_readv, libc's symbols and debuginfo, /proc/PID/task).
 * maps_text/maps: the snapshot the process is seeded with; env/envlen: its
 * environment (NUL-separated), or NULL. 0, or -ENOMEM; f is filled either way
 * (mw_alloc_facts_free).
 */
int mw_alloc_read_facts(uint32_t pid, const char *maps_text, const struct mw_regions *maps,
			const char *env, size_t envlen, struct mw_alloc_facts *f);
void mw_alloc_facts_free(struct mw_alloc_facts *f);
/* A process's memory through process_vm_readv, pages it never touched read as zeros
 * rather than faulted in (an mw_mem_read_fn; ctx NULL: pagemap opened per call). */
int mw_mem_read_pid(void *ctx, uint32_t pid, uint64_t addr, void *buf, size_t len);

struct mw_alloc *mw_alloc_new(void);
void mw_alloc_free(struct mw_alloc *a);
/* Copy for a forked child (arenas and classes carry over with the address space). */
struct mw_alloc *mw_alloc_fork(const struct mw_alloc *a);
/* The two above, for the process model (mw_model.alloc_ops). */
extern const struct mw_alloc_ops mw_alloc_model_ops;
/*
 * Baseline: classify the regions of a process seeded from /proc (sets
 * mw_region.cls / .arena). Arena heaps are those glibc's own list names (facts,
 * or NULL), with creator 0; without a list, a process with heap-shaped memory has
 * an unknown number of arenas (never guessed from shape), one without has none.
 * Mapped libraries decide the allocator. May emit ALLOCATOR and ARENAS events.
 * Starts over: arenas and per-thread state are dropped.
 * Its events have no event to come from: pid, tid and ts_ns are 0, the caller
 * fills them in.
 */
int mw_alloc_seed(struct mw_alloc *a, struct mw_regions *r, uint64_t start_brk,
		  const struct mw_alloc_facts *facts, struct mw_alloc_ev *out, int max_out);
/*
 * Where to read the process's memory while its calls are applied (NULL: nowhere):
 * a new heap's heap_info names its arena, a new anonymous mapping's first bytes
 * say whether glibc made it as a chunk. Kept by reference, copied by fork.
 */
void mw_alloc_set_mem(struct mw_alloc *a, const struct mw_mem *mem);
/*
 * The allocator from the libraries of a fresh /proc/PID/maps (parsed), without
 * starting over: for a process seeded at exec, before its libraries were
 * mapped (syscall events carry no names). Returns the ALLOCATOR events (0-1).
 */
int mw_alloc_detect(struct mw_alloc *a, const struct mw_regions *maps, struct mw_alloc_ev *out,
		    int max_out);
/*
 * One event of the process, after the model applied it (p->regions is the
 * state after the call). Classifies regions the call created and appends the
 * allocator events it implies to out; returns how many (<= max_out).
 */
int mw_alloc_apply(struct mw_alloc *a, struct mw_process *p, const struct mw_event *ev,
		   const struct mw_apply *ap, struct mw_alloc_ev *out, int max_out);
size_t mw_alloc_narenas(const struct mw_alloc *a);
/* Whether every arena is known: false when arenas present at attach could not be
 * verified (then mw_alloc_narenas counts only those seen since). */
bool mw_alloc_arenas_known(const struct mw_alloc *a);
/* Why, or where the list at attach came from (static string). */
const char *mw_alloc_arenas_why(const struct mw_alloc *a);
const struct mw_arena *mw_alloc_arena(const struct mw_alloc *a, size_t i);
enum mw_allocator mw_alloc_allocator(const struct mw_alloc *a);
/* Arenas, heaps, threads or events not kept for lack of room (tables are
 * capped; out too small for what one call implied). */
uint64_t mw_alloc_dropped(const struct mw_alloc *a);
/* Bytes the main heap gave back while traced (brk down, and DONTNEEDs inside it:
 * malloc_trim, tcmalloc's release). */
uint64_t mw_alloc_main_trimmed(const struct mw_alloc *a);
/*
 * One glibc memory_* probe firing (MW_EV_USDT). The probes are exact: an arena
 * or heap the syscall signatures already found is confirmed (by_usdt), one they
 * missed is added with source "usdt", and a freed heap is deleted.
 */
int mw_alloc_usdt(struct mw_alloc *a, struct mw_process *p, const struct mw_event *ev,
		  struct mw_alloc_ev *out, int max_out);
/*
 * The process's LD_PRELOAD (colon or space separated): a preloaded jemalloc or
 * tcmalloc replaces glibc's malloc before any library shows up in maps (a
 * short-lived command may be gone before maps is read again).
 */
int mw_alloc_preload(struct mw_alloc *a, const char *ld_preload, struct mw_alloc_ev *out,
		     int max_out);

#endif /* MW_ALLOC_H */
