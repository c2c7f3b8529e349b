/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The in-process sampler (libmemwatch-sampler.so, user/sampler/) from
 * memwatch's side: is it in a process, and does it interpose malloc there
 * (then its USDT probes replace the uprobes: a probe hit per sample, not per
 * call); its mean from the process's environment; preloading it into a
 * launched command (--sampler); and the frames of its own that lead each
 * sampled stack, which are dropped so stacks start where the program called
 * the allocator, as with the uprobes.
 */
#ifndef MW_MSAMPLER_H
#define MW_MSAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "stacks/ustack.h"

struct mw_mprobe;
struct mw_mledger;
struct mw_symbolizer;

/*
 * The sampler's entry in an LD_PRELOAD value (separated by ':' or ' ', as
 * ld.so reads it), copied to entry; its index among the entries, or -1.
 */
int mw_msampler_in_preload(const char *preload, char *entry, size_t entrysz);
/* The mean from an environment (MEMWATCH_SAMPLE_BYTES, parsed as the sampler does). */
uint64_t mw_msampler_mean_of(const char *env, size_t envlen);
/*
 * How many leading frames of a sampled stack are the sampler's own (and, below
 * them, libstdc++'s operator new, which the uprobes count as the allocation
 * itself). Pure: frames named by the symbolizer.
 */
uint32_t mw_msampler_skip(const struct mw_frame *f, uint32_t n);

enum mw_msampler_use {
	MW_MSAMPLER_NONE,     /* no sampler in the process */
	MW_MSAMPLER_BYPASSED, /* mapped, but another malloc comes first: it sees no call */
	MW_MSAMPLER_ATTACHED, /* its probes are attached */
};

/*
 * Attach the sampler's probes to pid when it interposes malloc there
 * (before_libs: stopped right after exec, found in LD_PRELOAD), with the
 * exit() hold of the uprobes, and tell the ledger (comm, the library, the
 * mean). Only its alloc probe when the library exports its table of sampled
 * blocks (*table_off: where, from its load base; the frees are read there,
 * mw_msampler_table); both probes for a sampler without it (*table_off 0).
 * With its table and a ring (*ring_off: where its header is, from its load
 * base; 0: none), mwsampler:ring alone: its samples are read from the ring
 * (mw_msampler_ring_read) and fire no probe.
 * Returns an enum mw_msampler_use, or a negative errno with a one-line reason
 * in err.
 */
int mw_msampler_attach(struct mw_mprobe *m, struct mw_mledger *ml, uint32_t pid, const char *comm,
		       bool before_libs, uint64_t *table_off, uint64_t *ring_off, char *err,
		       size_t errsz);
/*
 * The blocks in the sampler's table of pid now, read from its memory: the
 * sampled blocks still allocated. *addrs (malloc'd, sorted, *n of them).
 * 0, -ENOENT when the library is not mapped (not yet, or no more), or another
 * negative errno (the process is gone).
 */
int mw_msampler_table(uint32_t pid, uint64_t table_off, uint64_t **addrs, size_t *n);
/* The non-empty slots of a copy of the table, sorted, into out (may be slots). Pure. */
size_t mw_msampler_slots(const uint64_t *slots, size_t nslots, uint64_t *out);
/*
 * --sampler in launch mode: LD_PRELOAD for the command gets the sampler first
 * ($MEMWATCH_SAMPLER, else next to memwatch: ../lib/memwatch/ installed,
 * .output/ in a build tree). 0, or -1 with a reason in err.
 */
int mw_msampler_preload(char *err, size_t errsz);
/* Where the sampler's file is mapped in pid now (its first page), 0: not mapped. */
uint64_t mw_msampler_base(uint32_t pid);

/*
 * The reader's side of a sampler's ring (sampler/sampler.h): the next position
 * to read, what it read and lost, and the sampler's own totals as last read.
 */
/*
 * Reads a record may stay half-written before it counts as lost: its writer may
 * be preempted for long on a busy host (3, ~15 ms, lost one in a loaded run);
 * one that never completes (its slot was busy) exists only after such a loss.
 */
#define MW_MRING_STALLS 100
struct mw_mring {
	uint64_t tail;		  /* the next position to read */
	uint64_t read, lost;	  /* records read; records written over or never whole */
	uint64_t not_kept;	  /* records of blocks the table could not keep (ptr 0) */
	uint64_t stall_pos;	  /* the position last found half-written */
	uint32_t stalls, nslots;  /* reads it was found so; the ring's size */
	uint64_t samples, weight; /* the sampler's totals: samples and their weights, */
	uint64_t count16;	  /* the count they stand for (1/65536ths), */
	uint64_t busy, unmapped;  /* samples dropped: slot busy; no ring (mmap failed); */
	uint64_t full, waited;	  /* a whole ring unread; samples that waited for memwatch; */
	uint64_t fired;		  /* and its mwsampler:ring hits */
};

struct mws_rec;
struct mw_event;
typedef void (*mw_mring_fn)(void *ctx, const struct mws_rec *r);

/*
 * A ring record as the event the BPF program makes at mwsampler:alloc: the
 * registers in DWARF order, at most stack_max stack bytes. False: not a
 * record (no weight). Pure; the event points into r.
 */
bool mw_msampler_ring_event(const struct mws_rec *r, uint32_t pid, uint32_t stack_max,
			    struct mw_event *ev);
/* A read sees head: positions more than a ring behind it were written over (lost). Pure. */
void mw_msampler_ring_begin(struct mw_mring *c, uint64_t head, uint32_t nslots);
/*
 * The copies of the k slots from c->tail on (head_after: the ring's head read
 * after the copy): each whole record to fn, in order, each one written over
 * counted lost. False where it stopped at a record still being written (final:
 * the process is stopped: none is, it is lost). Pure.
 */
bool mw_msampler_ring_take(struct mw_mring *c, const struct mws_rec *recs, size_t k,
			   uint64_t head_after, uint32_t nslots, bool final, mw_mring_fn fn,
			   void *ctx);
/*
 * Read pid's ring (its header at hdr, an address in pid) from c->tail to its
 * head, in chunks copied with process_vm_readv, writing back after each how
 * far it has read (the writers wait for that rather than write over a record
 * not read); c takes the sampler's totals.
 * 0, or a negative errno (the process is gone, or the header is not a ring's).
 */
int mw_msampler_ring_read(uint32_t pid, uint64_t hdr, struct mw_mring *c, bool final,
			  mw_mring_fn fn, void *ctx);

/* Drop the sampler's leading frames from ips (n of them); the frames left. */
uint32_t mw_msampler_trim(struct mw_symbolizer *sym, uint32_t pid, uint64_t *ips, uint32_t n);

#endif /* MW_MSAMPLER_H */
