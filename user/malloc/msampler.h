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
 * Returns an enum mw_msampler_use, or a negative errno with a one-line reason
 * in err.
 */
int mw_msampler_attach(struct mw_mprobe *m, struct mw_mledger *ml, uint32_t pid, const char *comm,
		       bool before_libs, uint64_t *table_off, char *err, size_t errsz);
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
/* Drop the sampler's leading frames from ips (n of them); the frames left. */
uint32_t mw_msampler_trim(struct mw_symbolizer *sym, uint32_t pid, uint64_t *ips, uint32_t n);

#endif /* MW_MSAMPLER_H */
