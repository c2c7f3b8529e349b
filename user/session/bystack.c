// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The per-stack ledger of mapped bytes (--stacks). See bystack.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "base/grow.h"
#include "bystack.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define INDEX_CAP (2 * MW_BYSTACK_MAX_STACKS) /* a power of two: at most half full */

static void stack_clear(struct mw_bystack_stack *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		free((char *)s->f[i].module);
		free((char *)s->f[i].func);
	}
	free(s->f);
}

int mw_bystack_init(struct mw_bystack *b, uint64_t page_size)
{
	memset(b, 0, sizeof(*b));
	b->page_size = page_size;
	b->index = calloc(INDEX_CAP, sizeof(*b->index));
	if (!b->index || mw_grow(&b->stacks, 0, &b->capstacks, sizeof(*b->stacks), 64)) {
		free(b->index);
		return -ENOMEM;
	}
	b->index_cap = INDEX_CAP;
	b->stacks[0] = (struct mw_bystack_stack){ 0 };
	b->nstacks = 1;
	return 0;
}

void mw_bystack_free(struct mw_bystack *b)
{
	for (size_t i = 0; i < b->nstacks; i++)
		stack_clear(&b->stacks[i]);
	free(b->stacks);
	free(b->index);
	for (size_t i = 0; i < b->nprocs; i++)
		free(b->procs[i].v);
	free(b->procs);
	memset(b, 0, sizeof(*b));
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL; /* FNV-1a */
	return h;
}

static uint64_t frames_hash(const struct mw_sframe *f, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h = mix(h, &f[i].addr, sizeof(f[i].addr));
		h = mix(h, &f[i].offset, sizeof(f[i].offset));
		h = mix(h, f[i].module ? f[i].module : "",
			f[i].module ? strlen(f[i].module) + 1 : 0);
		h = mix(h, f[i].func ? f[i].func : "", f[i].func ? strlen(f[i].func) + 1 : 0);
	}
	return h;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool frames_eq(const struct mw_bystack_stack *s, const struct mw_sframe *f, size_t n)
{
	if (s->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s->f[i].addr != f[i].addr || s->f[i].offset != f[i].offset ||
		    !str_eq(s->f[i].module, f[i].module) || !str_eq(s->f[i].func, f[i].func))
			return false;
	return true;
}

static int copy_frames(struct mw_bystack_stack *s, const struct mw_sframe *f, size_t n)
{
	s->f = calloc(n, sizeof(*s->f));
	if (!s->f)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s->f[i] = (struct mw_sframe){ .addr = f[i].addr, .offset = f[i].offset };
		s->n = (uint32_t)i + 1;
		if ((f[i].module && !(s->f[i].module = strdup(f[i].module))) ||
		    (f[i].func && !(s->f[i].func = strdup(f[i].func))))
			return -ENOMEM;
	}
	return 0;
}

long mw_bystack_intern(struct mw_bystack *b, const struct mw_sframe *f, size_t n)
{
	uint64_t h;
	size_t at;

	if (!n)
		return 0;
	h = frames_hash(f, n);
	for (at = h & (b->index_cap - 1); b->index[at]; at = (at + 1) & (b->index_cap - 1)) {
		const struct mw_bystack_stack *s = &b->stacks[b->index[at] - 1];

		if (s->hash == h && frames_eq(s, f, n))
			return (long)b->index[at] - 1;
	}
	if (b->nstacks >= MW_BYSTACK_MAX_STACKS) {
		b->stacks_full++;
		return 0;
	}
	if (mw_grow(&b->stacks, b->nstacks, &b->capstacks, sizeof(*b->stacks), 64))
		return -ENOMEM;
	b->stacks[b->nstacks] = (struct mw_bystack_stack){ .hash = h };
	if (copy_frames(&b->stacks[b->nstacks], f, n)) {
		stack_clear(&b->stacks[b->nstacks]);
		return -ENOMEM;
	}
	b->index[at] = (uint32_t)++b->nstacks;
	return (long)b->nstacks - 1;
}

void mw_bystack_before(const struct mw_process *p, struct mw_bystack_before *bb)
{
	*bb = (struct mw_bystack_before){ 0 };
	if (p) {
		bb->brk = p->brk;
		bb->start_brk = p->start_brk;
	}
}

/* ---------- spans of one process ---------- */

static struct mw_bystack_proc *find_proc(const struct mw_bystack *b, uint32_t pid)
{
	for (size_t i = 0; i < b->nprocs; i++)
		if (b->procs[i].pid == pid)
			return &b->procs[i];
	return NULL;
}

static struct mw_bystack_proc *get_proc(struct mw_bystack *b, uint32_t pid)
{
	struct mw_bystack_proc *pr = find_proc(b, pid);

	if (pr)
		return pr;
	if (mw_grow(&b->procs, b->nprocs, &b->capprocs, sizeof(*b->procs), 8))
		return NULL;
	pr = &b->procs[b->nprocs++];
	*pr = (struct mw_bystack_proc){ .pid = pid };
	return pr;
}

/* Index of the first span that ends after addr. */
static size_t lower(const struct mw_bystack_proc *pr, uint64_t addr)
{
	size_t lo = 0, hi = pr->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pr->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Take [start, end) out of the spans, splitting those across its ends. 0 or -ENOMEM. */
static int cut(struct mw_bystack_proc *pr, uint64_t start, uint64_t end)
{
	size_t i, j;

	if (start >= end)
		return 0;
	i = lower(pr, start);
	if (i == pr->n || pr->v[i].start >= end)
		return 0;
	if (pr->v[i].start < start && pr->v[i].end > end) {
		if (mw_grow(&pr->v, pr->n, &pr->cap, sizeof(*pr->v), 16))
			return -ENOMEM;
		memmove(&pr->v[i + 1], &pr->v[i], (pr->n - i) * sizeof(*pr->v));
		pr->n++;
		pr->v[i].end = start;
		pr->v[i + 1].start = end;
		return 0;
	}
	if (pr->v[i].start < start)
		pr->v[i++].end = start;
	for (j = i; j < pr->n && pr->v[j].end <= end; j++)
		;
	if (j < pr->n && pr->v[j].start < end)
		pr->v[j].start = end;
	memmove(&pr->v[i], &pr->v[j], (pr->n - j) * sizeof(*pr->v));
	pr->n -= j - i;
	return 0;
}

/* Put a span where nothing is (cut its range first). 0 or -ENOMEM. */
static int insert(struct mw_bystack_proc *pr, const struct mw_bystack_span *s)
{
	size_t i;

	if (s->start >= s->end)
		return 0;
	if (mw_grow(&pr->v, pr->n, &pr->cap, sizeof(*pr->v), 16))
		return -ENOMEM;
	i = lower(pr, s->start);
	memmove(&pr->v[i + 1], &pr->v[i], (pr->n - i) * sizeof(*pr->v));
	pr->v[i] = *s;
	pr->n++;
	return 0;
}

/* [start, end) is a new mapping the current call made, with stack id stack. */
static int charge(struct mw_bystack_proc *pr, uint64_t start, uint64_t end, uint32_t stack,
		  uint64_t call)
{
	struct mw_bystack_span s = { .start = start, .end = end, .call = call, .stack = stack };
	int err = cut(pr, start, end);

	return err ? err : insert(pr, &s);
}

/* Release what the model no longer maps in [start, end). */
static int release(struct mw_bystack_proc *pr, const struct mw_regions *r, uint64_t start,
		   uint64_t end)
{
	size_t k = mw_regions_index(r, start);
	uint64_t cur = start;
	size_t i = lower(pr, start);
	int err = 0;

	if (i == pr->n || pr->v[i].start >= end)
		return 0; /* no span there */
	while (cur < end && !err) {
		uint64_t gap_end = end;

		if (k < r->n && r->v[k].start < end) {
			if (r->v[k].start <= cur) {
				cur = r->v[k].end > cur ? r->v[k].end : cur;
				k++;
				continue;
			}
			gap_end = r->v[k].start;
		}
		err = cut(pr, cur, gap_end);
		cur = gap_end;
	}
	return err;
}

/* mremap moved [old, old + olen) to [dst, dst + nlen): the spans go along, truncated. */
static int move(struct mw_bystack_proc *pr, uint64_t old, uint64_t olen, uint64_t dst,
		uint64_t nlen)
{
	uint64_t keep = olen < nlen ? olen : nlen;
	struct mw_bystack_span *moved = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	for (size_t i = lower(pr, old); i < pr->n && pr->v[i].start < old + keep; i++) {
		struct mw_bystack_span s = pr->v[i];

		s.start = (s.start > old ? s.start : old) - old + dst;
		s.end = (s.end < old + keep ? s.end : old + keep) - old + dst;
		if (mw_grow(&moved, n, &cap, sizeof(*moved), 8)) {
			free(moved);
			return -ENOMEM;
		}
		moved[n++] = s;
	}
	err = cut(pr, old, old + olen);
	if (!err)
		err = cut(pr, dst, dst + nlen);
	for (size_t i = 0; i < n && !err; i++)
		err = insert(pr, &moved[i]);
	free(moved);
	return err;
}

static uint64_t page_up(const struct mw_bystack *b, uint64_t v)
{
	return (v + b->page_size - 1) & ~(b->page_size - 1);
}

static int on_fork(struct mw_bystack *b, const struct mw_process *parent,
		   const struct mw_process *child)
{
	const struct mw_bystack_proc *pp = find_proc(b, parent->pid);
	size_t at = pp ? (size_t)(pp - b->procs) : 0;
	struct mw_bystack_proc *cp;

	if (!pp || !pp->n)
		return 0;
	cp = get_proc(b, child->pid); /* may move the array: pp is found again */
	if (!cp)
		return -ENOMEM;
	pp = &b->procs[at];
	if (mw_grow_to(&cp->v, pp->n, &cp->cap, sizeof(*cp->v), 16))
		return -ENOMEM;
	memcpy(cp->v, pp->v, pp->n * sizeof(*cp->v));
	cp->n = pp->n;
	/* What fork did not copy (MADV_DONTFORK) is not the child's. */
	return release(cp, &child->regions, 0, MW_MAX_RANGE);
}

static int on_syscall(struct mw_bystack *b, const struct mw_event *ev, const struct mw_process *p,
		      const struct mw_bystack_before *bb, const struct mw_sframe *f, size_t nf)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	uint64_t lo = 0, hi = 0, start = 0, end = 0, olen = 0, nlen = 0;
	struct mw_bystack_proc *pr;
	long stack = 0;
	int err = 0;

	switch (sc->sys) {
	case MW_SYS_MMAP: start = (uint64_t)sc->ret, end = start + page_up(b, sc->args[1]); break;
	case MW_SYS_SHMAT: start = (uint64_t)sc->ret, end = start + sc->pages * b->page_size; break;
	case MW_SYS_BRK:
		if (!bb->brk || !bb->start_brk || (uint64_t)sc->ret < bb->start_brk)
			return 0; /* the model's first sight of the break */
		start = page_up(b, bb->brk), end = page_up(b, (uint64_t)sc->ret);
		lo = end, hi = start; /* a shrink */
		start = start > bb->start_brk ? start : bb->start_brk;
		break;
	case MW_SYS_MREMAP:
		olen = page_up(b, sc->args[1]), nlen = page_up(b, sc->args[2]);
		lo = sc->args[0], hi = lo + olen;
		if (!olen || (sc->args[3] & MREMAP_DONTUNMAP))
			start = (uint64_t)sc->ret, end = start + nlen; /* a new mapping */
		else if (nlen > olen)
			start = (uint64_t)sc->ret + olen, end = (uint64_t)sc->ret + nlen;
		break;
	case MW_SYS_MUNMAP: lo = sc->args[0], hi = lo + page_up(b, sc->args[1]); break;
	case MW_SYS_SHMDT: lo = 0, hi = MW_MAX_RANGE; break; /* rare: its size may be unknown */
	default: return 0;
	}
	if (start < end) {
		stack = mw_bystack_intern(b, f, nf);
		if (stack < 0)
			return -ENOMEM;
	}
	pr = start < end ? get_proc(b, p->pid) : find_proc(b, p->pid);
	if (!pr)
		return start < end ? -ENOMEM : 0;
	if (sc->sys == MW_SYS_MREMAP && olen && !(sc->args[3] & MREMAP_DONTUNMAP) &&
	    (uint64_t)sc->ret != sc->args[0])
		err = move(pr, sc->args[0], olen, (uint64_t)sc->ret, nlen);
	if (!err && start < end)
		err = charge(pr, start, end, (uint32_t)stack, ++b->calls);
	if (!err && lo < hi)
		err = release(pr, &p->regions, lo, hi);
	return err;
}

int mw_bystack_event(struct mw_bystack *b, const struct mw_event *ev, const struct mw_apply *a,
		     const struct mw_bystack_before *bb, const struct mw_sframe *f, size_t nf)
{
	struct mw_bystack_proc *pr;

	if (!a->proc)
		return 0;
	switch (ev->kind) {
	case MW_EV_FORK: return a->child ? on_fork(b, a->proc, a->child) : 0;
	case MW_EV_EXEC:
		pr = find_proc(b, a->proc->pid);
		if (pr)
			pr->n = 0; /* a new address space */
		return 0;
	case MW_EV_SYSCALL:
		if (a->refused || (ev->sc.sys != MW_SYS_BRK && mw_ret_is_error(ev->sc.ret)))
			return 0;
		return on_syscall(b, ev, a->proc, bb, f, nf);
	default: return 0;
	}
}

void mw_bystack_forget(struct mw_bystack *b, uint32_t pid)
{
	struct mw_bystack_proc *pr = find_proc(b, pid);

	if (!pr)
		return;
	free(pr->v);
	*pr = b->procs[--b->nprocs];
}

/* ---------- reports ---------- */

static int cmp_stack_call(const void *x, const void *y)
{
	const struct mw_bystack_span *a = x, *b = y;

	if (a->stack != b->stack)
		return a->stack < b->stack ? -1 : 1;
	return a->call < b->call ? -1 : a->call > b->call;
}

static int cmp_rows(const void *x, const void *y)
{
	const struct mw_bystack_row *a = x, *b = y;

	if (a->mapped != b->mapped)
		return a->mapped > b->mapped ? -1 : 1;
	return a->stack < b->stack ? -1 : a->stack > b->stack;
}

long mw_bystack_rows(const struct mw_bystack *b, const struct mw_process *p,
		     struct mw_bystack_row **rows)
{
	const struct mw_bystack_proc *pr = find_proc(b, p->pid);
	const struct mw_regions *r = &p->regions;
	struct mw_bystack_span *live; /* start: bytes mapped, end: committed */
	size_t n = 0, nrows = 0;

	*rows = NULL;
	if (!pr || !pr->n)
		return 0;
	live = malloc(pr->n * sizeof(*live));
	*rows = malloc(pr->n * sizeof(**rows));
	if (!live || !*rows) {
		free(live);
		free(*rows);
		*rows = NULL;
		return -ENOMEM;
	}
	/* Each span's bytes the model maps now, and of them those not PROT_NONE. */
	for (size_t i = 0; i < pr->n; i++) {
		const struct mw_bystack_span *s = &pr->v[i];
		uint64_t mapped = 0, committed = 0;

		for (size_t k = mw_regions_index(r, s->start); k < r->n && r->v[k].start < s->end;
		     k++) {
			uint64_t lo = r->v[k].start > s->start ? r->v[k].start : s->start;
			uint64_t hi = r->v[k].end < s->end ? r->v[k].end : s->end;

			mapped += hi - lo;
			committed += r->v[k].prot != PROT_NONE ? hi - lo : 0;
		}
		if (mapped)
			live[n++] =
				(struct mw_bystack_span){ mapped, committed, s->call, s->stack };
	}
	qsort(live, n, sizeof(*live), cmp_stack_call);
	for (size_t i = 0; i < n; i++) {
		struct mw_bystack_row *w = nrows ? &(*rows)[nrows - 1] : NULL;

		if (!w || w->stack != live[i].stack) {
			w = &(*rows)[nrows++];
			*w = (struct mw_bystack_row){ .stack = live[i].stack };
		}
		w->mapped += live[i].start;
		w->committed += live[i].end;
		w->count += !i || live[i - 1].stack != live[i].stack ||
			    live[i - 1].call != live[i].call;
	}
	free(live);
	qsort(*rows, nrows, sizeof(**rows), cmp_rows);
	return (long)nrows;
}
