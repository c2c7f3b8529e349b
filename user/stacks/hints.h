/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --stacks' hints, user space's half (the kernel's: mw_stack_hint in bpf/memwatch.h). After a
 * stack copy of a thread's call at some rip is unwound, the stack words that unwind depended
 * on go to the kernel as that (tid, rip) slot's hint; a later call whose words are the same is
 * sent without its stack, naming the record whose frames apply. This table keeps, per slot, the
 * frames of its last two hints, and when to try a new one. A call naming neither gets no frames:
 * unknown, never another call's. Pure: the caller unwinds, and writes the hint to the kernel.
 */
#ifndef MW_STACKS_HINTS_H
#define MW_STACKS_HINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "memwatch.h"
#include "ustack.h"

/* Frames kept per hint: as many as a syscall's stack has (MW_SSTACK_MAX). */
#define MW_HINT_FRAMES 32

struct mw_hints;

/* MW_HINT_SLOTS slots (about 2.4 MiB); NULL when out of memory. */
struct mw_hints *mw_hints_new(void);
void mw_hints_free(struct mw_hints *h);

/* The frames (at most max) of the record at ts that pid's thread tid sent at ip, unwound under
 * the symbolizer state serial (mw_sym_proc_serial, nonzero), into ips; 0: not known. */
int mw_hints_frames(struct mw_hints *h, uint32_t pid, uint32_t tid, uint64_t ip, uint64_t ts,
		    uint64_t serial, uint64_t *ips, size_t max);

/* A stack copy of (pid, tid, ip) the kernel made at mono_ns was unwound: whether to try a hint
 * now. True at the 1st, 2nd, 4th, 8th... copy since the slot's hint last served, so a thread
 * whose stack keeps changing costs a second unwind now and then, not on every call; copies
 * made before the slot's hint went in do not count against it. */
bool mw_hints_due(struct mw_hints *h, uint32_t pid, uint32_t tid, uint64_t ip, uint64_t mono_ns);

/* The hint for the copy c recorded at ts, whose unwind depended on the words r only: its
 * fields and check (mw_hint_head, mw_hint_mix). False when r cannot make one. */
bool mw_hints_build(const struct mw_ustack_capture *c, uint64_t ts, const struct mw_ustack_reads *r,
		    struct mw_stack_hint *out);

/* hint (built for pid, whose frames are ips[0..n)) was written to the kernel (written) or not,
 * at mono_ns: it becomes the slot's newest, its frames kept under serial. */
void mw_hints_installed(struct mw_hints *h, const struct mw_stack_hint *hint, uint32_t pid,
			uint64_t serial, const uint64_t *ips, int n, bool written,
			uint64_t mono_ns);

#endif /* MW_STACKS_HINTS_H */
