// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Allocator-aware analysis (see alloc.h): labels the regions of the process
 * model with what they are, and follows glibc's arenas through the syscall
 * signatures measured in user/alloc/SIGNATURES.md.
 *
 * The arena tracker is a small per-thread state machine, because glibc makes
 * every step of a new heap from the thread that needs it, back to back:
 *
 *   reserve   mmap(NULL or hint, 128 or 64 MiB, PROT_NONE, PRIVATE|ANON|NORESERVE)
 *   trim      0-2 munmaps by that thread, cutting it to one 64 MiB aligned heap
 *   confirm   mprotect(aligned base, n, RW) by that thread
 *
 * Only the confirmation makes an arena (or a new heap of the arena its
 * heap_info names, else of the thread's own): a reservation alone is what a
 * lost address hint, an RLIMIT_AS retry, V8, the JVM or Go also make
 * (user/alloc/SIGNATURES.md section 7). Any other call by the thread drops its
 * pending reservation, as does unmapping it.
 *
 * Arenas that exist at attach are never taken from shape (Go's and the JVM's
 * heaps have it too): glibc's own list, read from the process by glibc_read.c
 * and handed in as facts, names them; without it their number is unknown.
 *
 * Conventions:
 *   - Arena ids are 1, 2, ... in the order they were seen (glibc's list at
 *     attach first, oldest first), 0 is the main arena.
 *   - committed is the RW part of the live heaps; under the MADV_DONTNEED
 *     form of shrink it stays a high-water mark and trimmed grows instead.
 *     trimmed counts the bytes of every shrink, both forms.
 *   - Main heap events: base = start_brk, bytes = change of the heap
 *     mapping (whole pages), reserved = committed = the heap mapping's size
 *     after the call, trimmed = bytes trimmed from it so far.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "base/grow.h"
#include "alloc.h"
#include "ledger/model.h"
#include "glibc.h"

#define CHUNK_MIN (128ULL << 10)    /* glibc's default mmap threshold */
#define MORECORE_MIN (1ULL << 20)   /* glibc's MMAP_AS_MORECORE_SIZE */
#define STACK_ZONE_MAX (1ULL << 20) /* HotSpot's guard zones are 16-20 KiB */
#define JE_EXTENT (2ULL << 20)	    /* jemalloc's smallest mapping */
#define MAX_ARENAS 4096		    /* glibc's own limit is 8 x CPUs */
#define MAX_ARENA_THREADS 4096
#define MAX_THREADS 65536   /* per-thread state entries */
#define HEAP_SHAPE_DEPTH 64 /* full heaps heap_shape() follows up */
#define RW (PROT_READ | PROT_WRITE)
#define OTHER_MAPPING (MW_RF_FILE | MW_RF_SHARED | MW_RF_HEAP | MW_RF_STACK | MW_RF_SPECIAL)

/* glibc's heap_info.size: the top of the used part; DONTNEED shrinks lower it,
 * growth without a syscall (up to rw_end) raises it unseen. */
struct heap_state {
	uint64_t top;
};

/* What the thread's last call tells about its next: glibc falls back on an mmap. */
enum fallback {
	FB_NONE = 0,
	FB_HUGETLB, /* a MAP_HUGETLB mmap failed: the same request without it follows */
	FB_BRK,	    /* brk was refused: the main arena maps a segment instead */
};

struct thread_state {
	uint32_t tid;
	int arena; /* the arena it created (or glibc's probes attached it to), 0 = none */
	bool has_res, has_stack;
	enum fallback fallback;
	uint64_t res_start, res_end; /* pending reservation, what is left of it */
	int res_munmaps;
	uint64_t stack_base, stack_size; /* pending PROT_NONE MAP_STACK mapping */
};

struct mw_alloc {
	enum mw_allocator allocator;
	uint64_t heap_max; /* glibc's heap size: 64 MiB, 4 huge pages under hugetlb=2 */
	enum mw_arenas_how arenas_how;
	const char *arenas_why;
	const struct mw_mem *mem; /* the process's memory, or NULL */
	bool overcommit_never;	  /* jemalloc maps without MAP_NORESERVE */
	struct mw_arena *arenas;
	struct heap_state **tops; /* per arena, per heap */
	size_t narenas, cap, captops;
	struct thread_state *ts; /* sorted by tid */
	size_t nts, tscap;
	uint64_t main_trimmed;
	/* jemalloc's extents (RW NORESERVE, 2 MiB multiples), seen while the
	 * allocator is unknown: two of them name it. */
	int je_seen;
	bool weak; /* glibc only because its loader is mapped: a signature may overrule */
	uint64_t je_start, je_end;
	uint64_t dropped; /* arenas, threads or events not kept for lack of room */
};

const char *mw_allocator_name(enum mw_allocator a)
{
	switch (a) {
	case MW_ALLOCATOR_GLIBC: return "glibc";
	case MW_ALLOCATOR_JEMALLOC: return "jemalloc";
	case MW_ALLOCATOR_TCMALLOC: return "tcmalloc";
	default: return "unknown";
	}
}

/* ---- state ---------------------------------------------------------- */

static void free_arenas(struct mw_alloc *a)
{
	for (size_t i = 0; i < a->narenas; i++) {
		free(a->arenas[i].heaps);
		free(a->arenas[i].threads);
		free(a->tops[i]);
	}
	free(a->arenas);
	free(a->tops);
	a->arenas = NULL;
	a->tops = NULL;
	a->narenas = a->cap = a->captops = 0;
}

static void reset(struct mw_alloc *a)
{
	free_arenas(a);
	free(a->ts);
	a->ts = NULL;
	a->nts = a->tscap = 0;
	a->main_trimmed = 0;
	a->heap_max = MW_GLIBC_HEAP_MAX;
	a->arenas_how = MW_ARENAS_NONE;
	a->arenas_why = NULL;
}

struct mw_alloc *mw_alloc_new(void)
{
	struct mw_alloc *a = calloc(1, sizeof(struct mw_alloc));

	if (a) {
		a->heap_max = MW_GLIBC_HEAP_MAX;
		a->arenas_how = MW_ARENAS_NONE; /* nothing yet: a launched command */
	}
	return a;
}

void mw_alloc_set_mem(struct mw_alloc *a, const struct mw_mem *mem)
{
	if (a)
		a->mem = mem;
}

void mw_alloc_free(struct mw_alloc *a)
{
	if (!a)
		return;
	reset(a);
	free(a);
}

static void *dup_mem(const void *src, size_t n, size_t size, bool *fail)
{
	void *p;

	if (!n)
		return NULL;
	p = malloc(n * size);
	if (!p) {
		*fail = true;
		return NULL;
	}
	memcpy(p, src, n * size);
	return p;
}

struct mw_alloc *mw_alloc_fork(const struct mw_alloc *a)
{
	struct mw_alloc *c = mw_alloc_new();
	bool fail = false;

	if (!c || !a)
		return c;
	*c = *a;
	c->arenas = NULL;
	c->tops = NULL;
	c->narenas = c->cap = c->captops = 0;
	c->ts = NULL;
	c->nts = c->tscap = 0;
	if (a->narenas) {
		c->arenas = calloc(a->narenas, sizeof(*c->arenas));
		c->tops = calloc(a->narenas, sizeof(*c->tops));
		if (!c->arenas || !c->tops)
			goto fail;
		c->cap = c->captops = a->narenas;
		for (size_t i = 0; i < a->narenas; i++) {
			const struct mw_arena *s = &a->arenas[i];
			struct mw_arena *d = &c->arenas[i];

			*d = *s;
			d->heaps = dup_mem(s->heaps, s->nheaps, sizeof(*s->heaps), &fail);
			d->threads = dup_mem(s->threads, s->nthreads, sizeof(*s->threads), &fail);
			c->tops[i] = dup_mem(a->tops[i], s->nheaps, sizeof(*a->tops[i]), &fail);
			c->narenas = i + 1;
			if (fail)
				goto fail;
		}
	}
	c->ts = dup_mem(a->ts, a->nts, sizeof(*a->ts), &fail);
	if (fail)
		goto fail;
	c->nts = c->tscap = a->nts;
	return c;
fail:
	mw_alloc_free(c);
	return NULL;
}

const struct mw_alloc_ops mw_alloc_model_ops = {
	.fork = mw_alloc_fork,
	.free = mw_alloc_free,
};

size_t mw_alloc_narenas(const struct mw_alloc *a)
{
	return a ? a->narenas : 0;
}

bool mw_alloc_arenas_known(const struct mw_alloc *a)
{
	return !a || a->arenas_how != MW_ARENAS_UNKNOWN;
}

const char *mw_alloc_arenas_why(const struct mw_alloc *a)
{
	return a && a->arenas_why ? a->arenas_why : "";
}

void mw_alloc_facts_free(struct mw_alloc_facts *f)
{
	if (!f)
		return;
	mw_glibc_arenas_free(&f->arenas);
	free(f->chunks);
	free(f->stacks);
	free(f->noreserve);
	free(f->foreign);
	memset(f, 0, sizeof(*f));
}

const struct mw_arena *mw_alloc_arena(const struct mw_alloc *a, size_t i)
{
	return a && i < a->narenas ? &a->arenas[i] : NULL;
}

enum mw_allocator mw_alloc_allocator(const struct mw_alloc *a)
{
	return a ? a->allocator : MW_ALLOCATOR_UNKNOWN;
}

uint64_t mw_alloc_main_trimmed(const struct mw_alloc *a)
{
	return a ? a->main_trimmed : 0;
}

uint64_t mw_alloc_dropped(const struct mw_alloc *a)
{
	return a ? a->dropped : 0;
}

static struct thread_state *thread_find(struct mw_alloc *a, uint32_t tid, size_t *pos)
{
	size_t lo = 0, hi = a->nts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->ts[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return lo < a->nts && a->ts[lo].tid == tid ? &a->ts[lo] : NULL;
}

/* Find or add; NULL when out of room (counted). */
static struct thread_state *thread_get(struct mw_alloc *a, uint32_t tid)
{
	size_t i;
	struct thread_state *t = thread_find(a, tid, &i);

	if (t)
		return t;
	if (a->nts >= MAX_THREADS || mw_grow(&a->ts, a->nts, &a->tscap, sizeof(*a->ts), 16)) {
		a->dropped++;
		return NULL;
	}
	memmove(&a->ts[i + 1], &a->ts[i], (a->nts - i) * sizeof(a->ts[0]));
	memset(&a->ts[i], 0, sizeof(a->ts[i]));
	a->ts[i].tid = tid;
	a->nts++;
	return &a->ts[i];
}

static void thread_forget(struct mw_alloc *a, uint32_t tid)
{
	size_t i;

	if (!thread_find(a, tid, &i))
		return;
	memmove(&a->ts[i], &a->ts[i + 1], (a->nts - i - 1) * sizeof(a->ts[0]));
	a->nts--;
}

static struct mw_arena *arena_by_id(struct mw_alloc *a, int id)
{
	return id >= 1 && (size_t)id <= a->narenas ? &a->arenas[id - 1] : NULL;
}

static struct mw_arena *arena_new(struct mw_alloc *a, uint32_t creator, uint64_t ts_ns)
{
	struct mw_arena *ar;

	if (a->narenas >= MAX_ARENAS) {
		a->dropped++;
		return NULL;
	}
	if (mw_grow(&a->arenas, a->narenas, &a->cap, sizeof(*a->arenas), 8) ||
	    mw_grow(&a->tops, a->narenas, &a->captops, sizeof(*a->tops), 8)) {
		a->dropped++;
		return NULL;
	}
	ar = &a->arenas[a->narenas];
	memset(ar, 0, sizeof(*ar));
	a->tops[a->narenas] = NULL;
	ar->id = (int)++a->narenas;
	ar->creator_tid = creator;
	ar->created_ns = ts_ns;
	ar->by_syscalls = true; /* the USDT path says otherwise when it creates one */
	return ar;
}

/* Append a heap of size bytes at base with its first rw bytes committed. */
static struct mw_arena_heap *heap_add(struct mw_alloc *a, struct mw_arena *ar, uint64_t base,
				      uint64_t size, uint64_t rw)
{
	size_t i = (size_t)ar->id - 1, n = ar->nheaps;
	struct mw_arena_heap *h = realloc(ar->heaps, (n + 1) * sizeof(*h));
	struct heap_state *t;

	if (!h) {
		a->dropped++;
		return NULL;
	}
	ar->heaps = h;
	t = realloc(a->tops[i], (n + 1) * sizeof(*t));
	if (!t) {
		a->dropped++;
		return NULL;
	}
	a->tops[i] = t;
	h[n] = (struct mw_arena_heap){ base, size, base + rw, base + rw };
	t[n].top = base + rw;
	ar->nheaps = n + 1;
	ar->reserved += size;
	ar->committed += rw;
	return &h[n];
}

static bool arena_has_thread(const struct mw_arena *ar, uint32_t tid)
{
	for (size_t i = 0; i < ar->nthreads; i++)
		if (ar->threads[i] == tid)
			return true;
	return false;
}

static bool arena_add_thread(struct mw_alloc *a, struct mw_arena *ar, uint32_t tid)
{
	uint32_t *v;

	if (ar->nthreads >= MAX_ARENA_THREADS ||
	    !(v = realloc(ar->threads, (ar->nthreads + 1) * sizeof(*v)))) {
		a->dropped++;
		return false;
	}
	ar->threads = v;
	v[ar->nthreads++] = tid;
	return true;
}

/* The heap holding addr (within its reservation), or NULL. */
static struct mw_arena_heap *heap_at(struct mw_alloc *a, uint64_t addr, struct mw_arena **arp,
				     struct heap_state **tp)
{
	for (size_t i = 0; i < a->narenas; i++) {
		struct mw_arena *ar = &a->arenas[i];

		for (size_t j = 0; j < ar->nheaps; j++) {
			struct mw_arena_heap *h = &ar->heaps[j];

			if (addr >= h->base && addr < h->base + h->size) {
				*arp = ar;
				*tp = &a->tops[i][j];
				return h;
			}
		}
	}
	return NULL;
}

/* ---- events --------------------------------------------------------- */

struct sink {
	struct mw_alloc *a;
	struct mw_alloc_ev *out;
	int max, n;
	const struct mw_event *ev; /* NULL at seed time */
};

static struct mw_alloc_ev *emit(struct sink *s, enum mw_alloc_ev_kind kind)
{
	struct mw_alloc_ev *e;

	if (!s->out || s->n >= s->max) {
		s->a->dropped++;
		return NULL;
	}
	e = &s->out[s->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->arena = -1;
	e->source = "syscalls";
	if (s->ev) {
		e->ts_ns = s->ev->ts_ns;
		e->pid = s->ev->pid;
		e->tid = s->ev->tid;
	}
	return e;
}

static void emit_arena(struct sink *s, enum mw_alloc_ev_kind kind, const struct mw_arena *ar,
		       uint64_t base, uint64_t bytes, bool fixed)
{
	struct mw_alloc_ev *e = emit(s, kind);

	if (!e)
		return;
	e->arena = ar->id;
	e->base = base;
	e->bytes = bytes;
	e->reserved = ar->reserved;
	e->committed = ar->committed;
	e->trimmed = ar->trimmed;
	e->heaps = (uint32_t)ar->nheaps;
	e->shrink_fixed = fixed;
}

#define LOADER_EVIDENCE "glibc's dynamic loader mapped"

static void set_allocator(struct sink *s, enum mw_allocator al, const char *evidence)
{
	struct mw_alloc_ev *e;

	if (al == MW_ALLOCATOR_UNKNOWN || al == s->a->allocator) {
		if (al == s->a->allocator && evidence && strcmp(evidence, LOADER_EVIDENCE))
			s->a->weak = false; /* now on firmer ground */
		return;
	}
	s->a->allocator = al;
	s->a->weak = evidence && !strcmp(evidence, LOADER_EVIDENCE);
	e = emit(s, MW_AEV_ALLOCATOR);
	if (!e)
		return;
	e->allocator = al;
	e->evidence = evidence;
}

/* ---- classification ------------------------------------------------- */

static bool is_anon_private(const struct mw_region *g)
{
	return !(g->flags & OTHER_MAPPING) && !g->name;
}

static int main_heap_arena(const struct mw_alloc *a)
{
	return a->allocator == MW_ALLOCATOR_JEMALLOC || a->allocator == MW_ALLOCATOR_TCMALLOC ? -1
											      : 0;
}

/* Anonymous private memory of a process whose allocator owns it. */
static enum mw_class anon_class(const struct mw_alloc *a)
{
	switch (a->allocator) {
	case MW_ALLOCATOR_JEMALLOC: return MW_CLASS_JEMALLOC;
	case MW_ALLOCATOR_TCMALLOC: return MW_CLASS_TCMALLOC;
	default: return MW_CLASS_ANON;
	}
}

static bool name_has_prefix(const char *name, const char *prefix)
{
	return name && !strncmp(name, prefix, strlen(prefix));
}

/* A baseline region, from what /proc shows of it. */
static enum mw_class baseline_class(const struct mw_region *g)
{
	if (g->flags & MW_RF_HEAP)
		return MW_CLASS_MAIN_HEAP;
	if (g->flags & MW_RF_STACK)
		return MW_CLASS_STACK;
	if (g->flags & MW_RF_SPECIAL)
		return MW_CLASS_ANON;
	if (g->flags & MW_RF_SHARED) {
		/* Shared memory objects show up as files in maps. */
		if (!(g->flags & MW_RF_FILE) || name_has_prefix(g->name, "/SYSV") ||
		    name_has_prefix(g->name, "/memfd:") || name_has_prefix(g->name, "/dev/shm/") ||
		    name_has_prefix(g->name, "/dev/zero"))
			return MW_CLASS_SHM;
		return MW_CLASS_FILE;
	}
	if (g->flags & MW_RF_FILE)
		return MW_CLASS_FILE;
	return MW_CLASS_ANON; /* anonymous private: seed_anon_class */
}

/* Label [start, end) with cls; arena as in mw_region_arena(). */
static void label(struct mw_regions *r, uint64_t start, uint64_t end, enum mw_class cls, int arena)
{
	/* On -ENOMEM the old labels stay: the model itself is still exact. */
	(void)mw_regions_label(r, start, end, (uint8_t)cls, arena);
}

/* The allocator a mapped library names, with the evidence. */
static enum mw_allocator library_allocator(const char *name, const char **evidence)
{
	const char *base;
	char buf[256];

	if (!name || name[0] != '/')
		return MW_ALLOCATOR_UNKNOWN;
	base = strrchr(name, '/') + 1;
	if (name_has_prefix(base, "libjemalloc.so")) {
		snprintf(buf, sizeof(buf), "%s mapped", base);
		*evidence = mw_intern(buf);
		return MW_ALLOCATOR_JEMALLOC;
	}
	if (name_has_prefix(base, "libtcmalloc") && strstr(base, ".so")) {
		snprintf(buf, sizeof(buf), "%s mapped", base);
		*evidence = mw_intern(buf);
		return MW_ALLOCATOR_TCMALLOC;
	}
	if (!strcmp(base, "libc.so.6")) {
		*evidence = "libc.so.6 mapped";
		return MW_ALLOCATOR_GLIBC;
	}
	/* A launched command is seeded before its libraries are mapped: glibc's
	 * own loader is the evidence then (a preloaded or linked replacement,
	 * seen later, still wins). */
	if (name_has_prefix(base, "ld-linux")) {
		*evidence = LOADER_EVIDENCE;
		return MW_ALLOCATOR_GLIBC;
	}
	return MW_ALLOCATOR_UNKNOWN;
}

/* The allocator the mapped libraries name. A replacement allocator wins over
 * the libc that is always mapped too; libc.so.6 is firmer evidence than glibc's
 * loader, which maps listed after it (a later glibc library must not overwrite
 * libc's evidence with the loader's). */
static enum mw_allocator maps_allocator(const struct mw_regions *r, const char **evidence)
{
	enum mw_allocator found = MW_ALLOCATOR_UNKNOWN;

	for (size_t i = 0; i < r->n; i++) {
		const char *ev = NULL;
		enum mw_allocator al = library_allocator(r->v[i].name, &ev);

		if (al == MW_ALLOCATOR_UNKNOWN)
			continue;
		if (found == MW_ALLOCATOR_UNKNOWN ||
		    (found == MW_ALLOCATOR_GLIBC &&
		     (al != MW_ALLOCATOR_GLIBC || !strcmp(*evidence, LOADER_EVIDENCE)))) {
			found = al;
			*evidence = ev;
		}
	}
	return found;
}

int mw_alloc_detect(struct mw_alloc *a, const struct mw_regions *maps, struct mw_alloc_ev *out,
		    int max_out)
{
	struct sink s = { .a = a, .out = out, .max = max_out };
	const char *evidence = NULL;
	enum mw_allocator found;

	if (!a || !maps)
		return 0;
	found = maps_allocator(maps, &evidence);
	/* Libraries only add up: glibc gives way to a replacement, never back (it
	 * only firms up glibc's evidence, from the loader to libc itself). */
	if (found == MW_ALLOCATOR_GLIBC && a->allocator != MW_ALLOCATOR_UNKNOWN &&
	    !(a->allocator == MW_ALLOCATOR_GLIBC && a->weak))
		return 0;
	set_allocator(&s, found, evidence);
	return s.n;
}

static bool is_replacement(const struct mw_alloc *a)
{
	return a->allocator == MW_ALLOCATOR_JEMALLOC || a->allocator == MW_ALLOCATOR_TCMALLOC;
}

/*
 * A baseline anonymous region of a process whose allocator is jemalloc or
 * tcmalloc: theirs unless something says otherwise. They never map PROT_NONE;
 * read-write memory right above a PROT_NONE mapping is a thread stack over its
 * guard (or another runtime's reservation); right after a library's writable
 * data it is that library's .bss. Those are anon: not claimed for anyone.
 */
static enum mw_class seed_anon_class(const struct mw_alloc *a, const struct mw_regions *r,
				     const struct mw_region *g)
{
	const struct mw_region *below;

	if (!is_replacement(a) || g->prot != RW)
		return MW_CLASS_ANON;
	below = g->start ? mw_regions_find(r, g->start - 1) : NULL;
	if (below && below->end == g->start &&
	    ((is_anon_private(below) && below->prot == PROT_NONE) ||
	     ((below->flags & MW_RF_FILE) && !(below->flags & MW_RF_SHARED) &&
	      (below->prot & PROT_WRITE))))
		return MW_CLASS_ANON;
	return anon_class(a);
}

/* The class of every baseline region, by what /proc shows (anonymous memory is
 * left anon when facts will say whose it is). Walks by address: labelling may
 * merge regions and move indices. */
static void seed_classes(struct mw_alloc *a, struct mw_regions *r, bool facts)
{
	for (uint64_t cur = 0;;) {
		size_t i = mw_regions_index(r, cur);
		struct mw_region g;
		enum mw_class c;

		if (i == r->n)
			break;
		g = r->v[i];
		if (!is_anon_private(&g))
			c = baseline_class(&g);
		else
			c = facts ? MW_CLASS_ANON : seed_anon_class(a, r, &g);
		label(r, g.start > cur ? g.start : cur, g.end, c,
		      c == MW_CLASS_MAIN_HEAP ? main_heap_arena(a) : -1);
		cur = g.end;
	}
}

/* Only where the region is still plain anonymous (or the allocator's) memory. */
static void label_if_anon(struct mw_alloc *a, struct mw_regions *r, uint64_t start, uint64_t end,
			  enum mw_class cls)
{
	for (uint64_t cur = start; cur < end;) {
		size_t i = mw_regions_index(r, cur);
		struct mw_region g;

		if (i == r->n || r->v[i].start >= end)
			break;
		g = r->v[i];
		if (is_anon_private(&g) && (g.cls == MW_CLASS_ANON || g.cls == anon_class(a)))
			label(r, g.start > cur ? g.start : cur, g.end < end ? g.end : end, cls, -1);
		cur = g.end;
	}
}

/* Every anonymous private read-write region gets cls. */
static void label_anon_rw(struct mw_regions *r, enum mw_class cls)
{
	for (uint64_t cur = 0;;) {
		size_t i = mw_regions_index(r, cur);
		struct mw_region g;

		if (i == r->n)
			break;
		g = r->v[i];
		if (is_anon_private(&g) && g.prot == RW && g.cls == MW_CLASS_ANON)
			label(r, g.start > cur ? g.start : cur, g.end, cls, -1);
		cur = g.end;
	}
}

/*
 * jemalloc's and tcmalloc's memory at attach, by the kernel's mappings: for
 * jemalloc exactly its MAP_NORESERVE ones where smaps said which (and it uses
 * the flag: not under overcommit 2); otherwise every anonymous read-write
 * mapping but those foreign by position.
 */
static void seed_replacement(struct mw_alloc *a, struct mw_regions *r,
			     const struct mw_alloc_facts *f)
{
	if (a->allocator == MW_ALLOCATOR_JEMALLOC && f->vmflags && !f->overcommit_never) {
		for (size_t i = 0; i < f->nnoreserve; i++)
			label_if_anon(a, r, f->noreserve[i].start,
				      f->noreserve[i].start + f->noreserve[i].len,
				      MW_CLASS_JEMALLOC);
		return;
	}
	label_anon_rw(r, anon_class(a));
	for (size_t i = 0; i < f->nforeign; i++) {
		uint64_t s = f->foreign[i].start, e = s + f->foreign[i].len;

		for (uint64_t cur = s; cur < e;) {
			size_t k = mw_regions_index(r, cur);
			struct mw_region g;

			if (k == r->n || r->v[k].start >= e)
				break;
			g = r->v[k];
			if (g.cls == anon_class(a))
				label(r, g.start > cur ? g.start : cur, g.end < e ? g.end : e,
				      MW_CLASS_ANON, -1);
			cur = g.end;
		}
	}
}

/* Thread stacks (their blocked threads' stack pointers) and glibc's chunks. */
static void seed_facts(struct mw_alloc *a, struct mw_regions *r, const struct mw_alloc_facts *f)
{
	if (is_replacement(a))
		seed_replacement(a, r, f);

	for (size_t i = 0; i < f->nstacks; i++) {
		const struct mw_stack_range *k = &f->stacks[i];

		label_if_anon(a, r, k->guard, k->start, MW_CLASS_STACK_GUARD);
		label_if_anon(a, r, k->start, k->end, MW_CLASS_THREAD_STACK);
	}
	if (a->allocator != MW_ALLOCATOR_GLIBC)
		return;
	for (size_t i = 0; i < f->nchunks; i++)
		label_if_anon(a, r, f->chunks[i].start, f->chunks[i].start + f->chunks[i].len,
			      MW_CLASS_MALLOC_CHUNK);
}

/* The read-write part of [base, base + heap_max) in the snapshot. */
static uint64_t rw_part(const struct mw_regions *r, uint64_t base, uint64_t heap_max)
{
	uint64_t cur = base, lim = base + heap_max;
	const struct mw_region *g;

	while (cur < lim && (g = mw_regions_find(r, cur)) && is_anon_private(g) && g->prot == RW)
		cur = g->end < lim ? g->end : lim;
	return cur - base;
}

/* The arenas glibc's own list names, oldest first, ids 1, 2, ... */
static void seed_list(struct mw_alloc *a, struct mw_regions *r, const struct mw_glibc_arenas *g)
{
	struct mw_arena *ar = NULL;
	uint32_t cur = UINT32_MAX;

	for (size_t i = 0; i < g->nheaps; i++) {
		const struct mw_glibc_heap *h = &g->heaps[i];
		uint64_t rw = rw_part(r, h->base, a->heap_max);

		if (h->arena != cur) {
			cur = h->arena;
			ar = arena_new(a, 0, 0);
		}
		/* A heap made since the snapshot: the memory's word for its size. */
		if (!ar || !heap_add(a, ar, h->base, a->heap_max, rw ? rw : h->rw))
			continue;
		/* glibc's used top is not read: any DONTNEED ending in the RW part is
		 * a shrink until a growth tells where the top is. */
		a->tops[ar->id - 1][ar->nheaps - 1].top = h->base;
		label(r, h->base, h->base + a->heap_max, MW_CLASS_ARENA_HEAP, ar->id);
	}
}

/* Whether [base, base + heap_max) is a glibc heap as /proc shows one: anonymous
 * rw-p from base, then ---p to the end (or rw-p throughout). depth bounds the
 * look at the heaps above a full one. The shape rule of recordings made before
 * glibc's list was read (seed_by_shape). */
static bool heap_shape(const struct mw_alloc *a, const struct mw_regions *r, uint64_t base,
		       uint64_t *rw_end, int depth)
{
	uint64_t cur = base, lim = base + a->heap_max, ignored;
	const struct mw_region *g = NULL;

	while (cur < lim && (g = mw_regions_find(r, cur)) && is_anon_private(g) && g->prot == RW)
		cur = g->end < lim ? g->end : lim;
	if (cur == base)
		return false;
	*rw_end = cur;
	/* rw-p running on past the heap's end is a large mapping that happens to
	 * be aligned (a big malloc chunk), unless it is the next full heap (equal
	 * neighbours merge in maps). */
	if (cur == lim && g && g->end > lim &&
	    (depth <= 0 || !heap_shape(a, r, lim, &ignored, depth - 1)))
		return false;
	while (cur < lim) {
		g = mw_regions_find(r, cur);
		if (!g || !is_anon_private(g) || g->prot != PROT_NONE)
			return false;
		cur = g->end < lim ? g->end : lim;
	}
	return true;
}

/*
 * A recording made before memwatch read glibc's list (no MW_ENTRY_ALLOC_FACTS)
 * replays as it was made: one arena per heap-shaped mapping, as that run
 * reported. Never used on a live process, where the list is always read.
 */
/* The end of the run of touching anonymous read-write regions that v[i] starts or is in. */
static uint64_t rw_run_end(const struct mw_regions *r, size_t i)
{
	uint64_t end = r->v[i].end;

	while (++i < r->n && r->v[i].start == end && is_anon_private(&r->v[i]) &&
	       r->v[i].prot == RW)
		end = r->v[i].end;
	return end;
}

static void seed_by_shape(struct mw_alloc *a, struct mw_regions *r)
{
	uint64_t cur, prev_heap_end = 0, run_end = 0;

	for (cur = 0;;) {
		size_t i = mw_regions_index(r, cur);
		const struct mw_region *g;
		uint64_t base, rw_end;
		struct mw_arena *ar;

		if (i == r->n)
			break;
		g = &r->v[i];
		if (g->start > cur)
			cur = g->start;
		if (!is_anon_private(g) || g->prot != RW) {
			cur = g->end;
			continue;
		}
		/* No heap ends past 2^64 (crafted maps can put mappings up there; the
		 * arithmetic below must not wrap back). */
		if (cur > UINT64_MAX - 2 * a->heap_max)
			break;
		base = (cur + a->heap_max - 1) & ~(a->heap_max - 1);
		if (base >= g->end) {
			cur = g->end;
			continue;
		}
		/*
		 * heap_shape() follows full heaps up at most HEAP_SHAPE_DEPTH deep: a base
		 * more than that many heaps below the end of its read-write run is never a
		 * heap. Skipping those keeps the walk O(regions), not O(size) (a 64 TiB
		 * MAP_NORESERVE mapping cost 0.5 s of CPU in 64 MiB steps).
		 */
		if (cur >= run_end)
			run_end = rw_run_end(r, i);
		if (run_end - base > (HEAP_SHAPE_DEPTH + 1) * a->heap_max) {
			cur = run_end - (HEAP_SHAPE_DEPTH + 1) * a->heap_max;
			continue;
		}
		cur = base + a->heap_max;
		if (!heap_shape(a, r, base, &rw_end, HEAP_SHAPE_DEPTH))
			continue;
		/* maps merges equal neighbours: without a PROT_NONE tail, an rw part
		 * that starts below the base is just a large aligned mapping. */
		if (mw_regions_find(r, base)->start != base && base != prev_heap_end &&
		    rw_end == base + a->heap_max)
			continue;
		ar = arena_new(a, 0, 0);
		if (!ar || !heap_add(a, ar, base, a->heap_max, rw_end - base))
			continue;
		a->tops[ar->id - 1][0].top = base;
		label(r, base, base + a->heap_max, MW_CLASS_ARENA_HEAP, ar->id);
		prev_heap_end = base + a->heap_max;
	}
}

static void seed_arenas(struct mw_alloc *a, struct mw_regions *r, const struct mw_alloc_facts *f,
			struct sink *s)
{
	struct mw_alloc_ev *e;

	if (!f) {
		seed_by_shape(a, r);
		a->arenas_how = MW_ARENAS_SHAPE;
		a->arenas_why = "by shape (a recording made before glibc's list was read)";
		if (a->narenas && a->allocator == MW_ALLOCATOR_UNKNOWN)
			set_allocator(s, MW_ALLOCATOR_GLIBC, "glibc arena heap signature");
		return;
	}
	a->arenas_how = f->arenas.how;
	a->arenas_why = f->arenas.why;
	/* Shape is necessary, never sufficient: with no heap-shaped memory at all
	 * there is nothing to verify. */
	if (a->arenas_how == MW_ARENAS_UNKNOWN && !mw_glibc_any_candidate(r, a->heap_max)) {
		a->arenas_how = MW_ARENAS_NONE;
		a->arenas_why = "no mapping has a glibc heap's shape";
	}
	if (a->arenas_how == MW_ARENAS_MAIN_ARENA || a->arenas_how == MW_ARENAS_LAYOUT)
		seed_list(a, r, &f->arenas);
	if (a->narenas && a->allocator == MW_ALLOCATOR_UNKNOWN)
		set_allocator(s, MW_ALLOCATOR_GLIBC, "glibc's arena list");
	/* Nothing to say where nothing could be there, or glibc's malloc is not known
	 * to be used (jemalloc, tcmalloc; Go without cgo has no glibc at all). */
	if (a->arenas_how == MW_ARENAS_NONE || a->allocator != MW_ALLOCATOR_GLIBC)
		return;
	e = emit(s, MW_AEV_ARENAS);
	if (!e)
		return;
	e->arena = a->arenas_how == MW_ARENAS_UNKNOWN ? -1 : (int)a->narenas;
	e->how = a->arenas_how;
	e->evidence = a->arenas_why;
	e->heaps = 0;
	for (size_t i = 0; i < a->narenas; i++)
		e->heaps += (uint32_t)a->arenas[i].nheaps;
}

int mw_alloc_seed(struct mw_alloc *a, struct mw_regions *r, uint64_t start_brk,
		  const struct mw_alloc_facts *f, struct mw_alloc_ev *out, int max_out)
{
	struct sink s = { .a = a, .out = out, .max = max_out };
	enum mw_allocator found = MW_ALLOCATOR_UNKNOWN;
	const char *evidence = NULL;

	(void)start_brk; /* the heap is the MW_RF_HEAP region */
	if (!a || !r)
		return 0;
	reset(a);
	if (f && f->arenas.heap_max)
		a->heap_max = f->arenas.heap_max;
	a->overcommit_never = f && f->overcommit_never;
	found = maps_allocator(r, &evidence);
	set_allocator(&s, found, evidence);
	seed_classes(a, r, f != NULL);
	if (f)
		seed_facts(a, r, f);
	seed_arenas(a, r, f, &s);
	return s.n;
}

/* ---- the syscall signatures ----------------------------------------- */

struct call {
	struct mw_alloc *a;
	struct mw_process *p;
	const struct mw_event *ev;
	struct thread_state *t; /* NULL when the table is full */
	struct sink *s;
	bool keep_res, keep_stack; /* the call continues the thread's sequence */
	enum fallback fallback;	   /* what this call tells about the next (FB_NONE: nothing) */
};

static uint64_t page_up(uint64_t v)
{
	return (v + 4095) & ~4095ULL;
}

/* Read the process's memory; false when there is nothing to read it with, or it
 * is gone (a replay without the recorded bytes, a mapping already unmapped). */
static bool peek(const struct call *c, uint64_t addr, void *buf, size_t len)
{
	const struct mw_mem *m = c->a->mem;

	return m && m->read && !m->read(m->ctx, c->p->pid, addr, buf, len);
}

static void emit_main_heap(struct call *c, enum mw_alloc_ev_kind kind, uint64_t bytes, uint64_t end,
			   bool hole)
{
	struct mw_process *p = c->p;
	struct mw_alloc_ev *e = emit(c->s, kind);

	if (!e)
		return;
	e->arena = 0;
	e->base = p->start_brk;
	e->bytes = bytes;
	e->reserved = e->committed = end - p->start_brk;
	e->trimmed = c->a->main_trimmed;
	e->heaps = end > p->start_brk;
	e->hole = hole;
}

/* The end of the brk heap as the model has it now. */
static uint64_t heap_end(const struct mw_process *p)
{
	const struct mw_region *g;
	uint64_t end = p->start_brk;

	while ((g = mw_regions_find(&p->regions, end)) && (g->flags & MW_RF_HEAP))
		end = g->end;
	return end;
}

static void on_brk(struct call *c, const struct mw_apply *ap)
{
	struct mw_process *p = c->p;
	uint64_t want = c->ev->sc.args[0], end;

	/* Refused (the old break comes back): glibc's main arena maps a segment next. */
	if (want && (uint64_t)c->ev->sc.ret < want)
		c->fallback = FB_BRK;
	if (!p->start_brk)
		return;
	end = heap_end(p);
	label(&p->regions, p->start_brk, end, MW_CLASS_MAIN_HEAP, main_heap_arena(c->a));
	if (!ap->vm_delta)
		return;
	if (ap->vm_delta < 0)
		c->a->main_trimmed += (uint64_t)-ap->vm_delta;
	emit_main_heap(c, ap->vm_delta > 0 ? MW_AEV_MAIN_HEAP_GROW : MW_AEV_MAIN_HEAP_TRIM,
		       (uint64_t)(ap->vm_delta > 0 ? ap->vm_delta : -ap->vm_delta), end, false);
}

/*
 * A new anonymous private read-write mapping of a glibc process: a chunk glibc
 * mapped for one malloc only if its header says so (glibc writes prev_size 0 and
 * size | IS_MMAPPED at once; Python's object arenas, Go's and the JVM's own
 * mappings carry no such header). glibc asks for whole pages, at least the mmap
 * threshold (128 KiB, or more once it rose). After a refused brk, or a failed
 * MAP_HUGETLB try whose result is no chunk, it is a segment of the main arena.
 */
static enum mw_class glibc_anon_class(struct call *c, uint64_t addr, uint64_t raw_len, int *arena)
{
	uint64_t words[2];
	enum fallback fb = c->t ? c->t->fallback : FB_NONE;
	bool shape = raw_len >= CHUNK_MIN && !(raw_len & 4095);

	if (fb == FB_BRK && raw_len >= MORECORE_MIN) {
		*arena = 0;
		return MW_CLASS_MAIN_HEAP;
	}
	if (!shape)
		return MW_CLASS_ANON;
	if (!peek(c, addr, words, sizeof(words)))
		return MW_CLASS_MALLOC_CHUNK; /* the shape only: nothing to read it with */
	if (mw_glibc_is_chunk_header(words, raw_len))
		return MW_CLASS_MALLOC_CHUNK;
	if (fb == FB_HUGETLB && raw_len >= MORECORE_MIN) {
		*arena = 0;
		return MW_CLASS_MAIN_HEAP;
	}
	return MW_CLASS_ANON;
}

/* The class of a new anonymous private mapping that is not a heap's or a stack's. */
static enum mw_class new_anon_class(struct call *c, uint64_t addr, uint32_t prot, uint32_t fl,
				    int *arena)
{
	uint64_t raw_len = c->ev->sc.args[1];

	*arena = -1;
	/* The allocators map read-write memory where the kernel chooses: a MAP_FIXED
	 * or PROT_NONE mapping is someone else's (the loader's .bss, a runtime's
	 * reservation). */
	if (prot != RW || (fl & MAP_FIXED))
		return MW_CLASS_ANON;
	switch (c->a->allocator) {
	case MW_ALLOCATOR_JEMALLOC:
		/* All its memory is MAP_NORESERVE, but under overcommit 2. */
		return (fl & MAP_NORESERVE) || c->a->overcommit_never ? MW_CLASS_JEMALLOC
								      : MW_CLASS_ANON;
	case MW_ALLOCATOR_TCMALLOC: return MW_CLASS_TCMALLOC;
	case MW_ALLOCATOR_GLIBC:
		if (fl & MAP_NORESERVE)
			return MW_CLASS_ANON;
		return glibc_anon_class(c, addr, raw_len, arena);
	default: return MW_CLASS_ANON;
	}
}

/* Shrink, overcommit_memory=2 form: fresh PROT_NONE over the heap's top. */
static bool fixed_shrink(struct call *c, uint64_t addr, uint64_t end, uint32_t prot, uint32_t fl)
{
	struct mw_arena *ar;
	struct heap_state *hs;
	struct mw_arena_heap *h = heap_at(c->a, addr, &ar, &hs);
	uint64_t bytes;

	if (!h || !(fl & MAP_FIXED) || prot != PROT_NONE || addr >= h->rw_end || end < h->rw_end ||
	    end > h->base + h->size || addr <= h->base)
		return false;
	bytes = h->rw_end - addr;
	ar->committed -= bytes;
	ar->trimmed += bytes;
	h->rw_end = addr;
	hs->top = addr;
	label(&c->p->regions, addr, end, MW_CLASS_ARENA_HEAP, ar->id);
	emit_arena(c->s, MW_AEV_ARENA_SHRINK, ar, h->base, bytes, true);
	return true;
}

static void on_stack_mmap(struct call *c, uint64_t addr, uint64_t len, uint32_t prot, uint32_t fl)
{
	label(&c->p->regions, addr, addr + len, MW_CLASS_THREAD_STACK, -1);
	if (prot == PROT_NONE && c->t) {
		c->t->has_stack = true;
		c->t->stack_base = addr;
		c->t->stack_size = len;
		c->keep_stack = true;
	} else if (prot == RW && !(fl & MAP_FIXED)) {
		struct mw_alloc_ev *e = emit(c->s, MW_AEV_THREAD_STACK);

		if (e) {
			e->base = addr;
			e->bytes = len;
			e->reserved = len;
			e->committed = len;
		}
	}
}

/* HotSpot's guard zone: each Java thread maps fresh pages (MAP_FIXED, no
 * MAP_STACK) over the low end of its own stack, then makes them PROT_NONE. */
static bool stack_zone(struct call *c, uint64_t addr, uint64_t end, uint32_t prot, uint32_t fl)
{
	const struct mw_region *above = mw_regions_find(&c->p->regions, end);

	if (!(fl & MAP_FIXED) || end - addr > STACK_ZONE_MAX || !above || above->start != end ||
	    above->cls != MW_CLASS_THREAD_STACK)
		return false;
	label(&c->p->regions, addr, end, prot ? MW_CLASS_THREAD_STACK : MW_CLASS_STACK_GUARD, -1);
	return true;
}

static void on_mmap(struct call *c)
{
	const struct mw_syscall_ev *sc = &c->ev->sc;
	uint64_t addr = (uint64_t)sc->ret, len = page_up(sc->args[1]), end = addr + len;
	uint32_t prot = sc->args[2] & (PROT_READ | PROT_WRITE | PROT_EXEC), fl = sc->args[3];
	bool anon = fl & MAP_ANONYMOUS, priv = (fl & MAP_TYPE) == MAP_PRIVATE;
	struct mw_regions *r = &c->p->regions;
	enum mw_class cls;
	int arena;

	if (!anon) {
		label(r, addr, end, MW_CLASS_FILE, -1);
		return;
	}
	if (!priv) {
		label(r, addr, end, MW_CLASS_SHM, -1);
		return;
	}
	if (fixed_shrink(c, addr, end, prot, fl))
		return;
	if (fl & MAP_STACK) {
		on_stack_mmap(c, addr, len, prot, fl);
		return;
	}
	if (stack_zone(c, addr, end, prot, fl))
		return;
	/* The first step of a new heap. */
	if (prot == PROT_NONE && (fl & MAP_NORESERVE) && !(fl & MAP_FIXED) &&
	    (len == c->a->heap_max || len == 2 * c->a->heap_max) && c->t) {
		c->t->has_res = true;
		c->t->res_start = addr;
		c->t->res_end = end;
		c->t->res_munmaps = 0;
		c->keep_res = true;
	}
	/* glibc never maps RW with NORESERVE; jemalloc maps all its memory so. */
	if ((c->a->allocator == MW_ALLOCATOR_UNKNOWN || c->a->weak) && prot == RW &&
	    (fl & MAP_NORESERVE) && !(fl & MAP_FIXED) && len >= JE_EXTENT && !(len % JE_EXTENT)) {
		if (++c->a->je_seen >= 2) {
			set_allocator(c->s, MW_ALLOCATOR_JEMALLOC, "jemalloc extent signature");
			label(r, c->a->je_start, c->a->je_end, MW_CLASS_JEMALLOC, -1);
		} else {
			c->a->je_start = addr;
			c->a->je_end = end;
		}
	}
	cls = new_anon_class(c, addr, prot, fl, &arena);
	label(r, addr, end, cls, cls == MW_CLASS_MAIN_HEAP ? main_heap_arena(c->a) : arena);
}

/* Remove heap j of ar (its reservation was unmapped whole). */
static void heap_delete_at(struct mw_alloc *a, struct mw_arena *ar, size_t j, struct sink *s)
{
	size_t i = (size_t)ar->id - 1;
	struct mw_arena_heap h = ar->heaps[j];
	struct heap_state *t = a->tops[i];

	ar->reserved -= h.size;
	ar->committed -= h.rw_end - h.base;
	memmove(&ar->heaps[j], &ar->heaps[j + 1], (ar->nheaps - j - 1) * sizeof(h));
	memmove(&t[j], &t[j + 1], (ar->nheaps - j - 1) * sizeof(*t));
	ar->nheaps--;
	emit_arena(s, MW_AEV_ARENA_HEAP_DELETE, ar, h.base, h.size, false);
}

static void heap_delete(struct call *c, struct mw_arena *ar, size_t j)
{
	heap_delete_at(c->a, ar, j, c->s);
}

static void on_munmap(struct call *c)
{
	const struct mw_syscall_ev *sc = &c->ev->sc;
	uint64_t start = sc->args[0], end = start + page_up(sc->args[1]);
	struct mw_alloc *a = c->a;

	/* Reservations and pending stacks this range touches. */
	for (size_t i = 0; i < a->nts; i++) {
		struct thread_state *t = &a->ts[i];

		if (t->has_stack && start < t->stack_base + t->stack_size && end > t->stack_base)
			t->has_stack = false;
		if (!t->has_res || start >= t->res_end || end <= t->res_start)
			continue;
		if (t != c->t || (start <= t->res_start && end >= t->res_end) ||
		    (start > t->res_start && end < t->res_end) || ++t->res_munmaps > 2) {
			t->has_res = false; /* gone whole, holed, or not glibc's */
			continue;
		}
		if (start <= t->res_start)
			t->res_start = end; /* head, up to the 64 MiB boundary */
		else
			t->res_end = start; /* tail */
		c->keep_res = true;
	}
	/* A heap unmapped whole: only non-first heaps are, but any goes. */
	for (size_t i = 0; i < a->narenas; i++) {
		struct mw_arena *ar = &a->arenas[i];

		for (size_t j = 0; j < ar->nheaps;) {
			const struct mw_arena_heap *h = &ar->heaps[j];

			if (start <= h->base && end >= h->base + h->size)
				heap_delete(c, ar, j);
			else
				j++;
		}
	}
}

/*
 * The thread grew ar. What the syscalls can tell stops there: a thread grows
 * the arena it allocates from, but also the arena of a block it reallocs (glibc
 * grows the chunk's own arena, whichever thread calls). So it is noted among the
 * threads seen growing ar, and neither attached to it nor reported as reuse:
 * glibc's memory_arena_reuse probes say that exactly where they exist.
 */
static void touch_arena(struct call *c, struct mw_arena *ar)
{
	uint32_t tid = c->ev->tid;

	if (tid != ar->creator_tid && !arena_has_thread(ar, tid))
		arena_add_thread(c->a, ar, tid);
}

static struct mw_arena *arena_of_first_heap(struct mw_alloc *a, uint64_t base)
{
	for (size_t i = 0; i < a->narenas; i++)
		if (a->arenas[i].nheaps && a->arenas[i].heaps[0].base == base)
			return &a->arenas[i];
	return NULL;
}

/*
 * Whose heap the one just committed at base is, from its heap_info (glibc
 * fills ar_ptr and prev right after the mprotect): 1, a new arena (it opens
 * the heap); 0, another heap of *arp; -1, unknown (nothing to read it with), and
 * then the thread's own arena decides, as the syscalls alone can.
 */
static int heap_owner(const struct call *c, uint64_t base, struct mw_arena **arp)
{
	uint64_t hi[2];

	*arp = NULL;
	if (!peek(c, base, hi, sizeof(hi)))
		return -1;
	if (mw_glibc_first_heap(base, hi[0], hi[1]))
		return 1;
	*arp = arena_of_first_heap(c->a, mw_glibc_heap_of_arena(hi[0], c->a->heap_max));
	return *arp ? 0 : -1;
}

static void confirm_heap(struct call *c, uint64_t base, uint64_t rw)
{
	struct mw_alloc *a = c->a;
	struct mw_arena *ar;
	struct heap_state *hs;
	struct mw_arena_heap *h;
	bool created;
	int owner;

	/*
	 * Already known: the call raced the /proc snapshot, which shows its heap
	 * (after an exec, or at -p attach). It is still a creation we saw happen:
	 * the arena that heap starts gets its creator and its arena_create.
	 */
	if (heap_at(a, base, &ar, &hs)) {
		label(&c->p->regions, base, base + a->heap_max, MW_CLASS_ARENA_HEAP, ar->id);
		if (!ar->creator_tid && ar->heaps[0].base == base) {
			ar->creator_tid = c->ev->tid;
			ar->created_ns = c->ev->ts_ns;
			if (!arena_has_thread(ar, c->ev->tid))
				arena_add_thread(a, ar, c->ev->tid);
			if (c->t)
				c->t->arena = ar->id;
			emit_arena(c->s, MW_AEV_ARENA_CREATE, ar, base, ar->committed, false);
		}
		return;
	}
	owner = heap_owner(c, base, &ar);
	if (owner < 0)
		ar = arena_by_id(a, c->t->arena);
	created = owner == 1 || !ar;
	if (a->allocator == MW_ALLOCATOR_UNKNOWN)
		set_allocator(c->s, MW_ALLOCATOR_GLIBC, "glibc arena heap signature");
	if (created) {
		ar = arena_new(a, c->ev->tid, c->ev->ts_ns);
		if (!ar)
			return;
		arena_add_thread(a, ar, c->ev->tid);
		c->t->arena = ar->id;
	}
	h = heap_add(a, ar, base, a->heap_max, rw);
	if (!h)
		return;
	label(&c->p->regions, base, base + a->heap_max, MW_CLASS_ARENA_HEAP, ar->id);
	emit_arena(c->s, created ? MW_AEV_ARENA_CREATE : MW_AEV_ARENA_HEAP_NEW, ar, base, rw,
		   false);
	if (!created)
		touch_arena(c, ar);
}

static void on_mprotect(struct call *c)
{
	const struct mw_syscall_ev *sc = &c->ev->sc;
	uint64_t addr = sc->args[0], len = page_up(sc->args[1]), end = addr + len;
	uint32_t prot = sc->args[2] & (PROT_READ | PROT_WRITE | PROT_EXEC);
	struct mw_regions *r = &c->p->regions;
	struct thread_state *t = c->t;
	struct mw_arena *ar;
	struct heap_state *hs;
	struct mw_arena_heap *h;

	if (t && t->has_res && prot == RW && addr == t->res_start &&
	    !(addr & (c->a->heap_max - 1)) && t->res_end - t->res_start == c->a->heap_max && len &&
	    len <= c->a->heap_max) {
		t->has_res = false;
		confirm_heap(c, addr, len);
		return;
	}
	if (t && t->has_stack && prot == RW && addr > t->stack_base &&
	    end == t->stack_base + t->stack_size) {
		struct mw_alloc_ev *e = emit(c->s, MW_AEV_THREAD_STACK);

		t->has_stack = false;
		label(r, t->stack_base, addr, MW_CLASS_STACK_GUARD, -1);
		label(r, addr, end, MW_CLASS_THREAD_STACK, -1);
		if (e) {
			e->base = t->stack_base;
			e->bytes = t->stack_size;
			e->guard = addr - t->stack_base;
			e->reserved = t->stack_size;
			e->committed = len;
		}
		return;
	}
	h = heap_at(c->a, addr, &ar, &hs);
	if (h && prot == RW && addr == h->rw_end && end <= h->base + h->size && len) {
		h->rw_end = end;
		if (end > h->rw_high)
			h->rw_high = end;
		hs->top = end;
		ar->committed += len;
		emit_arena(c->s, MW_AEV_ARENA_GROW, ar, h->base, len, false);
		touch_arena(c, ar);
		return;
	}
	/* Guard changes inside thread stacks (stack reuse with another guard, JVM zones). */
	for (uint64_t cur = addr; cur < end;) {
		size_t i = mw_regions_index(r, cur);
		struct mw_region g;

		if (i == r->n || r->v[i].start >= end)
			break;
		g = r->v[i];
		if (g.cls == MW_CLASS_THREAD_STACK || g.cls == MW_CLASS_STACK_GUARD)
			label(r, g.start > cur ? g.start : cur, g.end < end ? g.end : end,
			      g.prot ? MW_CLASS_THREAD_STACK : MW_CLASS_STACK_GUARD, -1);
		cur = g.end;
	}
}

/*
 * Pages given back inside the brk heap: malloc_trim's DONTNEEDs over free
 * chunks (tcmalloc releases so too). The break does not move.
 */
static void main_heap_dontneed(struct call *c, uint64_t addr, uint64_t end)
{
	const struct mw_process *p = c->p;
	uint64_t top = p->start_brk ? heap_end(p) : 0;

	if (!top || addr < p->start_brk || end > top)
		return;
	c->a->main_trimmed += end - addr;
	emit_main_heap(c, MW_AEV_MAIN_HEAP_TRIM, end - addr, top, true);
}

static void on_madvise(struct call *c)
{
	const struct mw_syscall_ev *sc = &c->ev->sc;
	uint64_t addr = sc->args[0], len = page_up(sc->args[1]), end = addr + len;
	struct mw_arena *ar;
	struct heap_state *hs;
	struct mw_arena_heap *h;
	bool hole;

	if (sc->args[2] != MADV_DONTNEED || !len)
		return;
	h = heap_at(c->a, addr, &ar, &hs);
	if (!h) {
		main_heap_dontneed(c, addr, end);
		return;
	}
	if (addr <= h->base || end > h->rw_end)
		return;
	/* Shrink, default form: the top of the used part, which may have regrown
	 * unseen up to rw_end since the last shrink. Below the top: a hole
	 * malloc_trim gave back; trimmed too, the top stays. */
	hole = end < hs->top;
	if (!hole)
		hs->top = addr;
	ar->trimmed += len;
	/* Not an attachment: free() trims the chunk's arena, whichever thread calls it. */
	emit_arena(c->s, MW_AEV_ARENA_SHRINK, ar, h->base, len, false);
	if (c->s->n && c->s->out[c->s->n - 1].kind == MW_AEV_ARENA_SHRINK)
		c->s->out[c->s->n - 1].hole = hole;
}

int mw_alloc_apply(struct mw_alloc *a, struct mw_process *p, const struct mw_event *ev,
		   const struct mw_apply *ap, struct mw_alloc_ev *out, int max_out)
{
	struct sink s = { .a = a, .out = out, .max = max_out, .ev = ev };
	struct call c = { .a = a, .p = p, .ev = ev, .s = &s };

	if (!a || !ev)
		return 0;
	switch (ev->kind) {
	case MW_EV_EXIT:
		/* Its arena goes on glibc's free list; its pending steps die with it. */
		thread_forget(a, ev->tid);
		return 0;
	case MW_EV_EXEC:
		/* A new image: the caller seeds again (mw_alloc_seed). */
		reset(a);
		a->allocator = MW_ALLOCATOR_UNKNOWN;
		return 0;
	case MW_EV_SYSCALL: break;
	default: return 0;
	}
	if (!p || !ap || ev->sc.sys >= MW_SYS_COUNT)
		return 0;
	c.t = thread_get(a, ev->tid);
	if (ev->sc.sys == MW_SYS_BRK) {
		on_brk(&c, ap);
	} else if (!mw_ret_is_error(ev->sc.ret)) {
		switch (ev->sc.sys) {
		case MW_SYS_MMAP: on_mmap(&c); break;
		case MW_SYS_MUNMAP: on_munmap(&c); break;
		case MW_SYS_MPROTECT: on_mprotect(&c); break;
		case MW_SYS_MADVISE: on_madvise(&c); break;
		default: break; /* mremap: the labels move with the regions */
		}
	} else if (ev->sc.sys == MW_SYS_MMAP && (ev->sc.args[3] & MAP_HUGETLB) &&
		   (ev->sc.args[3] & MAP_ANONYMOUS)) {
		/* glibc.malloc.hugetlb=2 without huge pages: glibc asks again without. */
		c.fallback = FB_HUGETLB;
	}
	/* Any other call by the thread ends the sequence it was in. */
	if (c.t && !c.keep_res)
		c.t->has_res = false;
	if (c.t && !c.keep_stack)
		c.t->has_stack = false;
	if (c.t)
		c.t->fallback = c.fallback;
	return s.n;
}

int mw_alloc_preload(struct mw_alloc *a, const char *ld_preload, struct mw_alloc_ev *out,
		     int max_out)
{
	struct sink s = { .a = a, .out = out, .max = max_out };
	const char *p = ld_preload;

	while (a && p && *p) {
		size_t len = strcspn(p, ": ");
		char name[512], buf[600];
		const char *evidence = NULL;
		enum mw_allocator al;

		if (len && len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = '\0';
			al = library_allocator(name, &evidence);
			if (al == MW_ALLOCATOR_JEMALLOC || al == MW_ALLOCATOR_TCMALLOC) {
				snprintf(buf, sizeof(buf), "LD_PRELOAD=%s", name);
				set_allocator(&s, al, mw_intern(buf));
				break;
			}
		}
		p += len;
		p += *p != '\0';
	}
	return s.n;
}

/* ---- glibc's memory_* probes -------------------------------------- */

/* The arena whose first heap holds the malloc_state at ptr (it sits right
 * after that heap's heap_info). */
static struct mw_arena *arena_of_state(struct mw_alloc *a, uint64_t ptr)
{
	struct mw_arena *ar;
	struct heap_state *t;
	struct mw_arena_heap *h = heap_at(a, ptr, &ar, &t);

	return h && h == &ar->heaps[0] ? ar : NULL;
}

static void usdt_heap_new(struct sink *s, struct mw_process *p, struct thread_state *t,
			  uint64_t heap, uint64_t size, bool first)
{
	struct mw_alloc *a = s->a;
	struct mw_arena *ar;
	struct heap_state *hs;
	struct mw_arena_heap *h = heap_at(a, heap, &ar, &hs);
	bool created;

	if (h) {
		ar->by_usdt = true; /* the syscalls saw it first: the two agree */
		return;
	}
	ar = first ? NULL : arena_by_id(a, t ? t->arena : 0);
	if (!ar && !first)
		return; /* a heap for an arena we cannot name: arena_new follows */
	created = !ar;
	if (created) {
		ar = arena_new(a, s->ev->tid, s->ev->ts_ns);
		if (!ar)
			return;
		ar->by_syscalls = false;
		arena_add_thread(a, ar, s->ev->tid);
		if (t)
			t->arena = ar->id;
	}
	ar->by_usdt = true;
	if (!heap_add(a, ar, heap, a->heap_max, size))
		return;
	label(&p->regions, heap, heap + a->heap_max, MW_CLASS_ARENA_HEAP, ar->id);
	emit_arena(s, created ? MW_AEV_ARENA_CREATE : MW_AEV_ARENA_HEAP_NEW, ar, heap, size, false);
	if (s->n)
		s->out[s->n - 1].source = "usdt";
}

int mw_alloc_usdt(struct mw_alloc *a, struct mw_process *p, const struct mw_event *ev,
		  struct mw_alloc_ev *out, int max_out)
{
	struct sink s = { .a = a, .out = out, .max = max_out, .ev = ev };
	uint64_t ptr, size;
	struct thread_state *t;
	struct mw_arena *ar;

	if (!a || !p || !ev || ev->kind != MW_EV_USDT)
		return 0;
	ptr = ev->usdt.args[0];
	size = ev->usdt.args[1];
	t = thread_get(a, ev->tid);
	if (a->allocator == MW_ALLOCATOR_UNKNOWN)
		set_allocator(&s, MW_ALLOCATOR_GLIBC, "glibc memory_* probes fired");
	switch (ev->usdt.probe) {
	case MW_USDT_HEAP_NEW:
		/* glibc: new_heap() fires this before memory_arena_new for a new arena. */
		if (t && t->arena)
			usdt_heap_new(&s, p, t, ptr, size, false);
		break;
	case MW_USDT_ARENA_NEW:
		ar = arena_of_state(a, ptr);
		if (ar) {
			ar->by_usdt = true;
			if (t)
				t->arena = ar->id;
		} else {
			usdt_heap_new(&s, p, t, ptr & ~(a->heap_max - 1), size, true);
		}
		break;
	case MW_USDT_ARENA_REUSE:
	case MW_USDT_ARENA_REUSE_FREE_LIST:
		ar = arena_of_state(a, ptr);
		if (!ar)
			break;
		ar->by_usdt = true;
		if (t)
			t->arena = ar->id;
		if (ev->tid != ar->creator_tid && !arena_has_thread(ar, ev->tid) &&
		    arena_add_thread(a, ar, ev->tid)) {
			emit_arena(&s, MW_AEV_ARENA_REUSE, ar, ar->heaps[0].base, 0, false);
			if (s.n)
				s.out[s.n - 1].source = "usdt";
		}
		break;
	case MW_USDT_HEAP_FREE: {
		struct heap_state *hs;
		struct mw_arena_heap *h = heap_at(a, ptr, &ar, &hs);

		/* Fired before glibc's munmap: the heap goes here, and the munmap finds nothing. */
		if (h && h != &ar->heaps[0]) {
			heap_delete_at(a, ar, (size_t)(h - ar->heaps), &s);
			if (s.n)
				s.out[s.n - 1].source = "usdt";
		}
		break;
	}
	default:
		/* heap_more/less report the used size (h->size), not the committed
		 * pages: growth and shrink keep coming from the mprotect/madvise/mmap
		 * the syscall path sees. sbrk_more/less: brk gives the main heap. */
		break;
	}
	return s.n;
}
