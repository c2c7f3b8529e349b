// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Outstanding blocks and stacks: bounded hash tables and the leak aggregation. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/grow.h"
#include "base/text.h"
#include "leak.h"

/* Slots of the block table at first (it doubles from there). */
#define LEAK_FIRST_SLOTS 4096

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

int mw_leak_init(struct mw_leak *l, size_t max_blocks, size_t max_stacks)
{
	memset(l, 0, sizeof(*l));
	if (!max_blocks || !max_stacks)
		return -EINVAL;
	l->max_blocks = max_blocks;
	l->max_stacks = max_stacks + 1;
	/* At most half full: short probe sequences. The block table starts small and
	 * doubles as blocks come (mw_leak_alloc), up to what max_blocks needs: memory in
	 * proportion to what is outstanding, not to --max-outstanding. */
	l->bmask_max = pow2_at_least(2 * max_blocks) - 1;
	l->bmask = (l->bmask_max < LEAK_FIRST_SLOTS ? l->bmask_max + 1 : LEAK_FIRST_SLOTS) - 1;
	l->smask = pow2_at_least(2 * l->max_stacks) - 1;
	l->blocks = calloc(l->bmask + 1, sizeof(*l->blocks));
	l->sidx = calloc(l->smask + 1, sizeof(*l->sidx));
	l->stacks = calloc(16, sizeof(*l->stacks));
	l->capstacks = 16;
	if (!l->blocks || !l->sidx || !l->stacks) {
		mw_leak_destroy(l);
		return -ENOMEM;
	}
	l->nstacks = 1; /* id 0: the unknown stack */
	return 0;
}

void mw_leak_destroy(struct mw_leak *l)
{
	for (size_t i = 0; l->stacks && i < l->nstacks; i++) {
		free(l->stacks[i].ips);
		free(l->stacks[i].frames);
	}
	free(l->stacks);
	free(l->blocks);
	free(l->sidx);
	memset(l, 0, sizeof(*l));
}

static uint64_t stack_hash(uint32_t pid, const uint64_t *ips, uint32_t n)
{
	uint64_t h = mix(pid + 0x9e3779b97f4a7c15ULL);

	for (uint32_t i = 0; i < n; i++)
		h = mix(h ^ ips[i]) + i;
	return h | 1;
}

uint32_t mw_leak_stack(struct mw_leak *l, uint32_t pid, const uint64_t *ips, uint32_t n,
		       bool *fresh)
{
	uint64_t h;
	size_t i;

	*fresh = false;
	if (!n)
		return MW_STACK_NONE;
	if (n > MW_LEAK_MAX_FRAMES)
		n = MW_LEAK_MAX_FRAMES;
	h = stack_hash(pid, ips, n);
	for (i = h & l->smask; l->sidx[i]; i = (i + 1) & l->smask) {
		const struct mw_stack_ent *s = &l->stacks[l->sidx[i]];

		if (s->hash == h && s->pid == pid && s->n == n &&
		    !memcmp(s->ips, ips, n * sizeof(*ips)))
			return l->sidx[i];
	}
	if (l->nstacks == l->max_stacks) {
		l->stacks_full++;
		return MW_STACK_NONE;
	}
	if (mw_grow(&l->stacks, l->nstacks, &l->capstacks, sizeof(*l->stacks), 16))
		return MW_STACK_NONE;
	struct mw_stack_ent *s = &l->stacks[l->nstacks];

	memset(s, 0, sizeof(*s));
	s->ips = malloc(n * sizeof(*ips));
	if (!s->ips)
		return MW_STACK_NONE;
	memcpy(s->ips, ips, n * sizeof(*ips));
	s->hash = h;
	s->pid = pid;
	s->n = n;
	l->sidx[i] = (uint32_t)l->nstacks;
	*fresh = true;
	return (uint32_t)l->nstacks++;
}

static size_t slot_of(const struct mw_leak *l, uint64_t addr)
{
	size_t i;

	for (i = mix(addr) & l->bmask; l->blocks[i].addr && l->blocks[i].addr != addr;
	     i = (i + 1) & l->bmask)
		;
	return i;
}

/* Double the block table (rehashing every block); false when out of memory or at its most. */
static bool grow_blocks(struct mw_leak *l)
{
	size_t nmask = l->bmask * 2 + 1;
	struct mw_block *nb;

	if (l->bmask >= l->bmask_max || !(nb = calloc(nmask + 1, sizeof(*nb))))
		return false;
	for (size_t i = 0; i <= l->bmask; i++) {
		size_t j;

		if (!l->blocks[i].addr)
			continue;
		for (j = mix(l->blocks[i].addr) & nmask; nb[j].addr; j = (j + 1) & nmask)
			;
		nb[j] = l->blocks[i];
	}
	free(l->blocks);
	l->blocks = nb;
	l->bmask = nmask;
	return true;
}

int mw_leak_alloc(struct mw_leak *l, const struct mw_block *b)
{
	size_t i;

	if (!b->addr)
		return -EINVAL;
	i = slot_of(l, b->addr);
	if (!l->blocks[i].addr) {
		if (l->nblocks == l->max_blocks) {
			l->blocks_full++;
			return -ENOSPC;
		}
		/* Keep it at most half full (never full: slot_of needs an empty slot). */
		if ((l->nblocks + 1) * 2 > l->bmask + 1) {
			if (!grow_blocks(l) && l->nblocks + 1 > l->bmask) {
				l->blocks_full++;
				return -ENOSPC;
			}
			i = slot_of(l, b->addr);
		}
		l->nblocks++;
	}
	l->blocks[i] = *b;
	return 0;
}

const struct mw_block *mw_leak_find(const struct mw_leak *l, uint64_t addr)
{
	size_t i = slot_of(l, addr);

	return addr && l->blocks[i].addr ? &l->blocks[i] : NULL;
}

struct mw_block *mw_leak_get(struct mw_leak *l, uint64_t addr)
{
	size_t i = slot_of(l, addr);

	return addr && l->blocks[i].addr ? &l->blocks[i] : NULL;
}

/* Linear probing deletion without tombstones: shift later members of the run back. */
static void remove_slot(struct mw_leak *l, size_t i)
{
	size_t j = i;

	l->blocks[i].addr = 0;
	l->nblocks--;
	for (;;) {
		size_t home;

		j = (j + 1) & l->bmask;
		if (!l->blocks[j].addr)
			return;
		home = mix(l->blocks[j].addr) & l->bmask;
		/* Move j to i unless its home lies cyclically in (i, j]. */
		if ((i <= j) ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		l->blocks[i] = l->blocks[j];
		l->blocks[j].addr = 0;
		i = j;
	}
}

bool mw_leak_release(struct mw_leak *l, uint64_t addr, struct mw_block *out)
{
	size_t i = slot_of(l, addr);

	if (!addr || !l->blocks[i].addr)
		return false;
	if (out)
		*out = l->blocks[i];
	remove_slot(l, i);
	return true;
}

void mw_leak_confirm(struct mw_leak *l, const struct mw_block *kernel)
{
	size_t i = slot_of(l, kernel->addr);
	struct mw_block b = *kernel;

	if (l->blocks[i].addr && l->blocks[i].ts_ns == kernel->ts_ns) {
		l->blocks[i].seen = 1;
		return;
	}
	b.stack = MW_STACK_NONE; /* its allocation record was lost */
	b.seen = 1;
	mw_leak_alloc(l, &b);
}

size_t mw_leak_sweep(struct mw_leak *l, uint32_t pid)
{
	size_t dropped = 0;

	for (size_t i = 0; i <= l->bmask; i++) {
		while (l->blocks[i].addr && l->blocks[i].pid == pid && !l->blocks[i].seen) {
			remove_slot(l, i);
			dropped++;
		}
		if (l->blocks[i].addr && l->blocks[i].pid == pid)
			l->blocks[i].seen = 0;
	}
	return dropped;
}

void mw_leak_forget_pid(struct mw_leak *l, uint32_t pid)
{
	for (size_t i = 0; i <= l->bmask; i++)
		while (l->blocks[i].addr && l->blocks[i].pid == pid)
			remove_slot(l, i); /* the shift may bring another block into i */
}

static int cmp_bytes(const void *a, const void *b)
{
	const struct mw_leak_row *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int cmp_count(const void *a, const void *b)
{
	const struct mw_leak_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return cmp_bytes(a, b);
}

long mw_leak_aggregate(const struct mw_leak *l, uint32_t pid, uint64_t max_ts, bool by_count,
		       struct mw_leak_row **rows)
{
	return mw_leak_aggregate_range(l, pid, 0, max_ts, by_count, rows);
}

/* Which blocks a view takes: by allocation time, and by fate (see mw_leak_aggregate_fate). */
struct pick {
	uint64_t min_ts, max_ts;
	uint64_t dark_ns; /* fate: 0 = any */
	bool known;
};

static bool picked(const struct mw_block *b, const struct pick *k)
{
	if (b->ts_ns > k->max_ts || b->ts_ns < k->min_ts)
		return false;
	if (!k->dark_ns)
		return true;
	return (b->ts_ns >= k->dark_ns || b->known) == k->known;
}

static long aggregate(const struct mw_leak *l, uint32_t pid, const struct pick *k, bool by_count,
		      struct mw_leak_row **rows)
{
	struct mw_leak_row *acc = calloc(l->nstacks, sizeof(*acc)), *out;
	long n = 0;

	*rows = NULL;
	if (!acc)
		return -ENOMEM;
	for (size_t i = 0; i <= l->bmask; i++) {
		const struct mw_block *b = &l->blocks[i];
		struct mw_leak_row *r;

		if (!b->addr || b->pid != pid || b->found || !picked(b, k))
			continue;
		r = &acc[b->stack < l->nstacks ? b->stack : MW_STACK_NONE];
		r->bytes += (double)b->size * b->weight;
		r->count += b->weight;
		r->traced_bytes += (double)b->size;
		r->traced_count++;
		if (!r->oldest_ns || b->ts_ns < r->oldest_ns)
			r->oldest_ns = b->ts_ns;
	}
	out = acc;
	for (size_t s = 0; s < l->nstacks; s++) {
		if (acc[s].count <= 0)
			continue;
		out[n] = acc[s];
		out[n].pid = pid;
		out[n].stack = (uint32_t)s;
		out[n].growth = acc[s].bytes - l->stacks[s].prev_bytes;
		n++;
	}
	mw_leak_aggregate_sort(out, (size_t)n, by_count);
	*rows = out;
	return n;
}

long mw_leak_aggregate_range(const struct mw_leak *l, uint32_t pid, uint64_t min_ts,
			     uint64_t max_ts, bool by_count, struct mw_leak_row **rows)
{
	struct pick k = { .min_ts = min_ts, .max_ts = max_ts };

	return aggregate(l, pid, &k, by_count, rows);
}

long mw_leak_aggregate_fate(const struct mw_leak *l, uint32_t pid, uint64_t dark_ns,
			    uint64_t max_ts, bool known, bool by_count, struct mw_leak_row **rows)
{
	struct pick k = { .max_ts = max_ts, .dark_ns = dark_ns, .known = known };

	/* Never detached: every block is of known fate. */
	if (!dark_ns && !known) {
		*rows = NULL;
		return 0;
	}
	return aggregate(l, pid, &k, by_count, rows);
}

void mw_leak_found(const struct mw_leak *l, uint32_t pid, uint64_t *count, uint64_t *bytes)
{
	*count = *bytes = 0;
	for (size_t i = 0; i <= l->bmask; i++) {
		const struct mw_block *b = &l->blocks[i];

		if (b->addr && b->pid == pid && b->found) {
			(*count)++;
			*bytes += b->size;
		}
	}
}

void mw_leak_aggregate_sort(struct mw_leak_row *rows, size_t n, bool by_count)
{
	qsort(rows, n, sizeof(*rows), by_count ? cmp_count : cmp_bytes);
}

void mw_leak_mark(struct mw_leak *l, const struct mw_leak_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rows[i].stack >= l->nstacks)
			continue;
		l->stacks[rows[i].stack].prev_bytes = rows[i].bytes;
		l->stacks[rows[i].stack].reported = true;
	}
}

void mw_frame_name(const struct mw_frame *f, uint64_t ip, char *buf, size_t sz)
{
	const char *base;

	if (f && f->func) {
		snprintf(buf, sz, "%s", f->func);
		return;
	}
	/* Where in its file, so that two runs (other load addresses) name it alike
	 * and addr2line -e FILE takes the number; an absolute address otherwise. */
	if (f && f->module && f->rel_kind) {
		base = strrchr(f->module, '/');
		snprintf(buf, sz, "[%s]%s0x%" PRIx64, base ? base + 1 : f->module,
			 f->rel_kind == MW_REL_VADDR ? "+" : "@", f->rel);
		return;
	}
	snprintf(buf, sz, "0x%" PRIx64, ip);
}

void mw_leak_folded(FILE *f, const struct mw_leak *l, const struct mw_leak_row *rows, size_t n)
{
	char name[256];

	for (size_t i = 0; i < n; i++) {
		const struct mw_stack_ent *s = &l->stacks[rows[i].stack];

		if (!s->n)
			fputs("[unknown]", f);
		for (uint32_t k = s->n; k-- > 0;) {
			mw_frame_name(s->frames ? &s->frames[k] : NULL, s->ips[k], name,
				      sizeof(name));
			mw_text_folded_frame(f, name, sizeof(name), k + 1 == s->n);
		}
		fprintf(f, " %.0f\n", llround(rows[i].bytes) > 0 ? rows[i].bytes : 1.0);
	}
}
