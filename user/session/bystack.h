/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The per-stack ledger (--stacks): the bytes each code path mapped that are still mapped.
 *
 * A call that makes new mapping charges its new bytes to its own stack: mmap and shmat the
 * whole mapping, brk the heap's new end, mremap its growth (the bytes it moves keep the stack
 * that mapped them; with MREMAP_DONTUNMAP or old_len 0 the whole new mapping is the call's).
 * After any call, the bytes of its range the process model no longer maps are released: a
 * munmap, a brk or mremap shrink, a shmdt, but not a range whose unmap the model holds back
 * (records of two CPUs out of order). Mappings made before the attach were made by no stack
 * memwatch saw: they are in no row. Committed bytes are the mapped ones whose protection is
 * not PROT_NONE, read off the model's region map at each report.
 *
 * Pure: no I/O. The session feeds it each event after the model applied it.
 */
#ifndef MW_BYSTACK_H
#define MW_BYSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "ledger/model.h"
#include "output.h"

/* Distinct stacks kept; the calls of any more are charged to the unknown stack (id 0). */
#define MW_BYSTACK_MAX_STACKS 4096

struct mw_bystack_stack {
	uint32_t n;
	struct mw_sframe *f; /* innermost first; module and func owned (strdup) */
	uint64_t hash;
};

/* [start, end) was mapped by call number call, whose stack is stack. */
struct mw_bystack_span {
	uint64_t start, end;
	uint64_t call;
	uint32_t stack;
};

struct mw_bystack_proc {
	uint32_t pid;
	struct mw_bystack_span *v; /* sorted, not overlapping */
	size_t n, cap;
};

struct mw_bystack {
	uint64_t page_size;
	struct mw_bystack_stack *stacks; /* [0]: the unknown stack (not unwound, or table full) */
	size_t nstacks, capstacks;
	uint32_t *index; /* open addressing on hash: stack id + 1, 0 = empty */
	size_t index_cap;
	struct mw_bystack_proc *procs;
	size_t nprocs, capprocs;
	uint64_t calls;	      /* serial numbers of the calls that mapped bytes */
	uint64_t stacks_full; /* calls charged to the unknown stack for want of room */
};

/* What the ledger needs of a process as it was before the model applied an event. */
struct mw_bystack_before {
	uint64_t brk, start_brk;
};

/* A stack's bytes at a report. */
struct mw_bystack_row {
	uint32_t stack;
	uint64_t mapped;    /* mapped now, by the model's region map */
	uint64_t committed; /* of them, not PROT_NONE */
	uint64_t count;	    /* its calls with bytes still mapped */
};

/* 0, or -ENOMEM. */
int mw_bystack_init(struct mw_bystack *b, uint64_t page_size);
void mw_bystack_free(struct mw_bystack *b);
/* The id of a stack (frames innermost first, copied), 0 for none (n == 0); -ENOMEM. */
long mw_bystack_intern(struct mw_bystack *b, const struct mw_sframe *f, size_t n);
/* p as it is before an event is applied (NULL: not known yet). */
void mw_bystack_before(const struct mw_process *p, struct mw_bystack_before *bb);
/*
 * One event after mw_model_apply gave a (bb: the process before it; f, n: the call's named
 * stack, n 0 when it has none). Syscalls, forks (the child starts with the parent's spans)
 * and execs (an empty address space). 0, or -ENOMEM.
 */
int mw_bystack_event(struct mw_bystack *b, const struct mw_event *ev, const struct mw_apply *a,
		     const struct mw_bystack_before *bb, const struct mw_sframe *f, size_t n);
/* Forget a process (after its final report). */
void mw_bystack_forget(struct mw_bystack *b, uint32_t pid);
/*
 * Rows of p's stacks whose bytes are still mapped (by p's regions), largest first (then by
 * stack id). *rows is malloc'd (free it). The number of rows, or -ENOMEM.
 */
long mw_bystack_rows(const struct mw_bystack *b, const struct mw_process *p,
		     struct mw_bystack_row **rows);

/* Rows shown: the rest are summed in one object (NDJSON, with "others") or line (text). */
#define MW_BYSTACK_TOP_JSON 100
#define MW_BYSTACK_TOP_TEXT 10

/* The rows of pid at a report: "mapped_by_stack" objects, or a text table. */
void mw_out_bystack(struct mw_output *o, uint64_t ts_ns, const struct mw_bystack *b, uint32_t pid,
		    const struct mw_bystack_row *rows, size_t n);
/* Every row as a collapsed stack (--folded): "main;f;g MAPPED\n", outermost first. */
void mw_bystack_folded(FILE *f, const struct mw_bystack *b, const struct mw_bystack_row *rows,
		       size_t n);

#endif /* MW_BYSTACK_H */
