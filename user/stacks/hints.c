// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --stacks' hints: the frames each (tid, rip) slot's hints stand for. See hints.h. */
#include <stdlib.h>
#include <string.h>
#include "hints.h"

/* DWARF's x86-64 register numbers, the order of mw_ustack_capture.regs. */
enum {
	DW_RBP = 6,
	DW_RSP = 7,
	DW_RIP = 16
};

struct hint_gen {
	uint64_t ts,
		serial; /* the record's time (0: none); the process state it was unwound under */
	int n;
	uint64_t ips[MW_HINT_FRAMES];
};

struct hint_slot {
	uint32_t tid, pid;
	uint64_t ip;
	uint32_t fulls;	      /* stack copies of this (tid, rip) since its hint last served */
	uint64_t since;	      /* when its hint went in (mono ns): copies made before do not count */
	struct hint_gen g[2]; /* g[0]: the hint in the kernel now; g[1]: the one before */
};

struct mw_hints {
	struct hint_slot slots[MW_HINT_SLOTS];
};

struct mw_hints *mw_hints_new(void)
{
	return calloc(1, sizeof(struct mw_hints));
}

void mw_hints_free(struct mw_hints *h)
{
	free(h);
}

static struct hint_slot *slot_of(struct mw_hints *h, uint32_t tid, uint64_t ip)
{
	return &h->slots[mw_hint_slot(tid, ip)];
}

int mw_hints_frames(struct mw_hints *h, uint32_t pid, uint32_t tid, uint64_t ip, uint64_t ts,
		    uint64_t serial, uint64_t *ips, size_t max)
{
	struct hint_slot *t = slot_of(h, tid, ip);

	if (t->tid != tid || t->pid != pid || t->ip != ip || !serial || !ts)
		return 0;
	for (int k = 0; k < 2; k++) {
		const struct hint_gen *g = &t->g[k];
		size_t n = (size_t)g->n < max ? (size_t)g->n : max;

		if (g->ts == ts && g->serial == serial) {
			memcpy(ips, g->ips, n * sizeof(*ips));
			t->fulls = 0;
			return (int)n;
		}
	}
	return 0;
}

bool mw_hints_due(struct mw_hints *h, uint32_t pid, uint32_t tid, uint64_t ip, uint64_t mono_ns)
{
	struct hint_slot *t = slot_of(h, tid, ip);

	if (t->tid != tid || t->pid != pid || t->ip != ip)
		*t = (struct hint_slot){ .tid = tid, .pid = pid, .ip = ip };
	if (mono_ns < t->since)
		return false;
	t->fulls++;
	return !(t->fulls & (t->fulls - 1));
}

bool mw_hints_build(const struct mw_ustack_capture *c, uint64_t ts, const struct mw_ustack_reads *r,
		    struct mw_stack_hint *out)
{
	if (!ts || !r->n || r->n > MW_HINT_WORDS || r->span > MW_SYS_STACK_BYTES)
		return false;
	*out = (struct mw_stack_hint){ .base_ts = ts,
				       .ip = c->regs[DW_RIP],
				       .sp = c->regs[DW_RSP],
				       .bp = r->need_bp ? c->regs[DW_RBP] : 0,
				       .tid = c->tid,
				       .n = r->n,
				       .span = r->span,
				       .flags = r->need_bp ? MW_HINT_BP : 0 };
	out->check = mw_hint_head(out->base_ts, out->ip, out->sp, out->bp, out->tid, out->n,
				  out->span, out->flags);
	for (uint32_t i = 0; i < r->n; i++) {
		out->offs[i] = (__u16)r->offs[i];
		out->vals[i] = r->vals[i];
		out->check = mw_hint_mix(out->check, r->offs[i], r->vals[i], i);
	}
	return true;
}

void mw_hints_installed(struct mw_hints *h, const struct mw_stack_hint *hint, uint32_t pid,
			uint64_t serial, const uint64_t *ips, int n, bool written, uint64_t mono_ns)
{
	struct hint_slot *t = slot_of(h, hint->tid, hint->ip);

	if (t->tid != hint->tid || t->pid != pid || t->ip != (uint64_t)hint->ip)
		*t = (struct hint_slot){ .tid = hint->tid, .pid = pid, .ip = hint->ip };
	if (n < 0)
		n = 0;
	if (n > MW_HINT_FRAMES)
		n = MW_HINT_FRAMES;
	t->g[1] = t->g[0];
	t->g[0] = (struct hint_gen){ .ts = written ? hint->base_ts : 0, .serial = serial, .n = n };
	memcpy(t->g[0].ips, ips, (size_t)n * sizeof(*ips));
	if (written)
		t->since = mono_ns;
}
