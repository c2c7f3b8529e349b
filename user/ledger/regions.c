// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The per-process interval map (see regions.h for the why of the layout).
 *
 * Every mutating operation first reserves all the array slots it can need,
 * then works with helpers that cannot fail; that is what makes a -ENOMEM
 * leave the map exactly as it was, so the caller can keep going with a model
 * that is stale by one syscall rather than half-applied. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "base/grow.h"
#include "regions.h"

/* ---- string pool ---------------------------------------------------- */

/* Open addressing over pointers to individually allocated strings: growing
 * the table moves pointers, never the strings, so interned pointers stay
 * valid until a sweep frees them. The pool is global because names are
 * shared by every process model (a forked child's regions point at its
 * parent's names). Each string is preceded by one byte of flags. */
#define NAME_PINNED 1
#define NAME_MARKED 2

static struct {
	pthread_mutex_t lock;
	char **slot;
	size_t cap, n; /* cap is 0 or a power of two */
	size_t bytes;  /* of the strings, flags and NULs included */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static unsigned char *flags_of(const char *s)
{
	return (unsigned char *)s - 1;
}

/* A table of ncap slots holding the strings of old (which keeps its own slots). */
static char **rehash(char **old, size_t oldcap, size_t ncap)
{
	char **ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return NULL;
	for (size_t i = 0; i < oldcap; i++) {
		char *s = old[i];
		size_t j;

		if (!s)
			continue;
		j = hash_bytes(s, strlen(s)) & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = s;
	}
	return ns;
}

static bool pool_grow(void)
{
	size_t ncap = pool.cap ? pool.cap * 2 : 256;
	char **ns = rehash(pool.slot, pool.cap, ncap);

	if (!ns)
		return false;
	free(pool.slot);
	pool.slot = ns;
	pool.cap = ncap;
	return true;
}

static const char *intern(const char *s, size_t len, bool pin)
{
	const char *ret = NULL;
	uint64_t h;
	size_t j;
	char *copy;

	if (!s)
		return NULL;
	/* An embedded NUL would make the stored string shorter than its key. */
	len = strnlen(s, len);
	h = hash_bytes(s, len);
	pthread_mutex_lock(&pool.lock);
	/* Keep the load under one half so probe chains stay short. */
	if ((pool.n + 1) * 2 > pool.cap && !pool_grow())
		goto out;
	j = h & (pool.cap - 1);
	for (; pool.slot[j]; j = (j + 1) & (pool.cap - 1)) {
		if (strncmp(pool.slot[j], s, len) == 0 && pool.slot[j][len] == '\0') {
			ret = pool.slot[j];
			if (pin)
				*flags_of(ret) |= NAME_PINNED;
			goto out;
		}
	}
	copy = malloc(len + 2);
	if (!copy)
		goto out;
	copy[0] = pin ? NAME_PINNED : 0;
	memcpy(copy + 1, s, len);
	copy[len + 1] = '\0';
	pool.slot[j] = copy + 1;
	pool.n++;
	pool.bytes += len + 2;
	ret = copy + 1;
out:
	pthread_mutex_unlock(&pool.lock);
	return ret;
}

const char *mw_intern_len(const char *s, size_t len)
{
	return intern(s, len, false);
}

const char *mw_intern(const char *s)
{
	return s ? intern(s, strlen(s), false) : NULL;
}

const char *mw_intern_pin(const char *s)
{
	return s ? intern(s, strlen(s), true) : NULL;
}

void mw_intern_mark(const char *s)
{
	if (s)
		*flags_of(s) |= NAME_MARKED;
}

size_t mw_intern_sweep(void)
{
	size_t kept = 0, ncap = 256;
	char **ns;

	pthread_mutex_lock(&pool.lock);
	for (size_t i = 0; i < pool.cap; i++)
		kept += pool.slot[i] && (*flags_of(pool.slot[i]) & (NAME_PINNED | NAME_MARKED));
	/* A table sized for what stays (the load under one half), so it shrinks too; out of
	 * memory, nothing is freed (a hole would break a probe chain). */
	while (ncap < kept * 2 + 2)
		ncap *= 2;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns) {
		pthread_mutex_unlock(&pool.lock);
		return pool.n;
	}
	for (size_t i = 0; i < pool.cap; i++) {
		char *s = pool.slot[i];
		size_t j;

		if (!s)
			continue;
		if (!(*flags_of(s) & (NAME_PINNED | NAME_MARKED))) {
			pool.bytes -= strlen(s) + 2;
			free(flags_of(s));
			continue;
		}
		*flags_of(s) &= (unsigned char)~NAME_MARKED;
		j = hash_bytes(s, strlen(s)) & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = s;
	}
	free(pool.slot);
	pool.slot = ns;
	pool.cap = ncap;
	pool.n = kept;
	pthread_mutex_unlock(&pool.lock);
	return kept;
}

void mw_intern_stats(size_t *count, size_t *bytes)
{
	pthread_mutex_lock(&pool.lock);
	*count = pool.n;
	*bytes = pool.bytes + pool.cap * sizeof(*pool.slot);
	pthread_mutex_unlock(&pool.lock);
}

/* ---- array primitives ----------------------------------------------- */

static inline uint64_t rlen(const struct mw_region *g)
{
	return g->end - g->start;
}

void mw_regions_init(struct mw_regions *r)
{
	r->v = NULL;
	r->n = 0;
	r->cap = 0;
}

void mw_regions_free(struct mw_regions *r)
{
	free(r->v);
	mw_regions_init(r);
}

void mw_regions_clear(struct mw_regions *r)
{
	r->n = 0;
}

/* Make room for extra more regions. Geometric growth keeps appends amortized
 * O(1) while a baseline of thousands of regions is seeded. */
static int reserve(struct mw_regions *r, size_t extra)
{
	return mw_grow_to(&r->v, r->n + extra, &r->cap, sizeof(*r->v), 16);
}

size_t mw_regions_index(const struct mw_regions *r, uint64_t addr)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Open a gap of k slots at index i. Capacity must be reserved. */
static void open_gap(struct mw_regions *r, size_t i, size_t k)
{
	memmove(&r->v[i + k], &r->v[i], (r->n - i) * sizeof(r->v[0]));
	r->n += k;
}

static void close_gap(struct mw_regions *r, size_t i, size_t k)
{
	memmove(&r->v[i], &r->v[i + k], (r->n - i - k) * sizeof(r->v[0]));
	r->n -= k;
}

/* Make addr a region boundary: split the region strictly containing it.
 * Needs one reserved slot. */
static void split_at(struct mw_regions *r, uint64_t addr)
{
	size_t i = mw_regions_index(r, addr);

	if (i == r->n || r->v[i].start >= addr)
		return;
	open_gap(r, i + 1, 1);
	r->v[i + 1] = r->v[i];
	r->v[i].end = addr;
	r->v[i + 1].start = addr;
}

/* Split at both ends of [start, end) and return the index range [*i, *j) of
 * the regions now lying wholly inside it. Needs two reserved slots. */
static void isolate(struct mw_regions *r, uint64_t start, uint64_t end, size_t *i, size_t *j)
{
	split_at(r, start);
	split_at(r, end);
	*i = mw_regions_index(r, start);
	*j = mw_regions_index(r, end);
}

static bool mergeable(const struct mw_region *a, const struct mw_region *b)
{
	return a->end == b->start && a->prot == b->prot && a->flags == b->flags &&
	       a->tid == b->tid && a->name == b->name && a->cls == b->cls && a->arena == b->arena;
}

/* Merge mergeable neighbours among v[lo..hi] (inclusive, clamped). Only the
 * neighbourhood of what an operation touched can have become mergeable, so
 * this keeps every operation local. */
static void merge_range(struct mw_regions *r, size_t lo, size_t hi)
{
	struct mw_region *v = r->v;
	size_t w;

	if (r->n < 2)
		return;
	if (hi >= r->n)
		hi = r->n - 1;
	if (lo >= hi)
		return;
	w = lo;
	for (size_t i = lo + 1; i <= hi; i++) {
		if (mergeable(&v[w], &v[i])) {
			v[w].end = v[i].end;
			if (v[i].ts_ns < v[w].ts_ns)
				v[w].ts_ns = v[i].ts_ns;
		} else {
			v[++w] = v[i];
		}
	}
	if (w < hi)
		close_gap(r, w + 1, hi - w);
}

static void account_add(struct mw_vm_delta *d, const struct mw_region *g)
{
	uint64_t len = rlen(g);

	d->mapped += len;
	if (g->prot)
		d->accessible = mw_i64_add(d->accessible, (int64_t)len);
	else
		d->reserved = mw_i64_add(d->reserved, (int64_t)len);
	if (g->flags & MW_RF_STACKLIKE)
		d->stack = mw_i64_add(d->stack, (int64_t)len);
}

static void account_remove(struct mw_vm_delta *d, const struct mw_region *g)
{
	uint64_t len = rlen(g);

	d->unmapped += len;
	if (g->prot)
		d->accessible = mw_i64_sub(d->accessible, (int64_t)len);
	else
		d->reserved = mw_i64_sub(d->reserved, (int64_t)len);
	if (g->flags & MW_RF_STACKLIKE)
		d->stack = mw_i64_sub(d->stack, (int64_t)len);
}

static void add_delta(struct mw_vm_delta *d, const struct mw_vm_delta *t)
{
	if (!d)
		return;
	d->mapped += t->mapped;
	d->unmapped += t->unmapped;
	d->accessible = mw_i64_add(d->accessible, t->accessible);
	d->reserved = mw_i64_add(d->reserved, t->reserved);
	d->stack = mw_i64_add(d->stack, t->stack);
}

/* Remove everything in [start, end). Needs two reserved slots; leaves the
 * count at most one higher than before (a middle split). */
static void do_unmap(struct mw_regions *r, uint64_t start, uint64_t end, struct mw_vm_delta *d)
{
	size_t i, j;

	isolate(r, start, end, &i, &j);
	for (size_t k = i; k < j; k++)
		account_remove(d, &r->v[k]);
	close_gap(r, i, j - i);
	/* Removing leaves a hole, so nothing new can merge. */
}

/* Insert k regions, sorted and tiling a range that is now empty. Needs k
 * reserved slots. */
static void do_insert(struct mw_regions *r, const struct mw_region *p, size_t k,
		      struct mw_vm_delta *d)
{
	size_t i;

	if (!k)
		return;
	i = mw_regions_index(r, p[0].start);
	open_gap(r, i, k);
	memcpy(&r->v[i], p, k * sizeof(*p));
	for (size_t m = 0; m < k; m++)
		account_add(d, &p[m]);
	merge_range(r, i ? i - 1 : 0, i + k);
}

/* ---- operations ----------------------------------------------------- */

int mw_regions_copy(struct mw_regions *dst, const struct mw_regions *src, bool for_fork)
{
	struct mw_regions t;
	size_t k = 0;

	mw_regions_init(&t);
	if (reserve(&t, src->n ? src->n : 1))
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		if (for_fork && (src->v[i].flags & MW_RF_DONTFORK))
			continue;
		t.v[k++] = src->v[i];
	}
	/* Dropping DONTFORK regions only opens holes: no neighbours to merge. */
	t.n = k;
	mw_regions_free(dst);
	*dst = t;
	return 0;
}

int mw_regions_map(struct mw_regions *r, const struct mw_region *nr, struct mw_vm_delta *d)
{
	struct mw_vm_delta t = {};

	if (nr->start >= nr->end)
		return 0;
	if (reserve(r, 3))
		return -ENOMEM;
	do_unmap(r, nr->start, nr->end, &t);
	do_insert(r, nr, 1, &t);
	add_delta(d, &t);
	return 0;
}

int mw_regions_unmap(struct mw_regions *r, uint64_t start, uint64_t end, struct mw_vm_delta *d)
{
	struct mw_vm_delta t = {};

	if (start >= end)
		return 0;
	if (reserve(r, 2))
		return -ENOMEM;
	do_unmap(r, start, end, &t);
	add_delta(d, &t);
	return 0;
}

/* What modify() changes: prot when set_prot, flags always (a no-op with
 * set = clear = 0), the labels when set_label. */
struct change {
	bool set_prot, set_label;
	uint32_t prot, set, clear;
	uint8_t cls;
	int16_t arena;
};

/* Apply prot, flag and label changes to the mapped parts of [start, end). */
static int modify(struct mw_regions *r, uint64_t start, uint64_t end, const struct change *c,
		  struct mw_vm_delta *d)
{
	struct mw_vm_delta t = {};
	size_t i, j;

	if (start >= end)
		return 0;
	if (reserve(r, 2))
		return -ENOMEM;
	isolate(r, start, end, &i, &j);
	for (size_t k = i; k < j; k++) {
		struct mw_region *g = &r->v[k];

		if (c->set_prot) {
			/* Only PROT_NONE <-> accessible moves bytes between the two. */
			if (!g->prot && c->prot) {
				t.accessible = mw_i64_add(t.accessible, (int64_t)rlen(g));
				t.reserved = mw_i64_sub(t.reserved, (int64_t)rlen(g));
			} else if (g->prot && !c->prot) {
				t.accessible = mw_i64_sub(t.accessible, (int64_t)rlen(g));
				t.reserved = mw_i64_add(t.reserved, (int64_t)rlen(g));
			}
			g->prot = c->prot;
		}
		g->flags = (g->flags & ~c->clear) | c->set;
		if (c->set_label) {
			g->cls = c->cls;
			g->arena = c->arena;
		}
	}
	/* Also undoes the splits when nothing changed at an edge. */
	merge_range(r, i ? i - 1 : 0, j);
	add_delta(d, &t);
	return 0;
}

int mw_regions_protect(struct mw_regions *r, uint64_t start, uint64_t end, uint32_t prot,
		       struct mw_vm_delta *d)
{
	struct change c = { .set_prot = true, .prot = prot };

	return modify(r, start, end, &c, d);
}

int mw_regions_set_flags(struct mw_regions *r, uint64_t start, uint64_t end, uint32_t set,
			 uint32_t clear)
{
	struct change c = { .set = set, .clear = clear };

	return modify(r, start, end, &c, NULL);
}

int mw_regions_label(struct mw_regions *r, uint64_t start, uint64_t end, uint8_t cls, int arena_id)
{
	struct change c = { .set_label = true, .cls = cls, .arena = (int16_t)(arena_id + 1) };

	if (arena_id < -1 || arena_id >= INT16_MAX)
		c.arena = 0; /* out of the field's range: no arena rather than a wrong one */
	return modify(r, start, end, &c, NULL);
}

/* What bytes with nothing to copy attributes from become (see regions.h). */
static struct mw_region default_region(uint64_t start, uint64_t end, uint32_t tid, uint64_t ts_ns)
{
	return (struct mw_region){
		.start = start,
		.end = end,
		.prot = PROT_READ | PROT_WRITE,
		.tid = tid,
		.ts_ns = ts_ns,
	};
}

/* The regions that [old, old + n) moves to at new_addr, tiling exactly
 * [new_addr, new_addr + new_len): source pieces shifted, gaps filled by
 * stretching the piece before them (the first piece stretches down). *moved
 * gets the source bytes that land in the destination. Returns the count, or
 * -ENOMEM; *out is malloc'd. */
/* Bytes a call added to a mapping (mremap growth): made now, by this thread. */
static void grown_by(struct mw_region *g, uint32_t tid, uint64_t ts_ns)
{
	g->tid = tid;
	g->ts_ns = ts_ns;
	g->flags &= ~MW_RF_BASELINE;
}

static long move_pieces(const struct mw_regions *r, uint64_t old, uint64_t old_len,
			uint64_t new_addr, uint64_t new_len, uint32_t tid, uint64_t ts_ns,
			struct mw_region **out, uint64_t *moved)
{
	uint64_t n = old_len < new_len ? old_len : new_len, src_end = old + n;
	size_t i = mw_regions_index(r, old), j = i, k = 0;
	struct mw_region *p;

	while (j < r->n && r->v[j].start < src_end)
		j++;
	p = malloc(((j > i ? j - i : 1) + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*moved = 0;
	for (; i < j; i++) {
		struct mw_region g = r->v[i];

		if (g.start < old)
			g.start = old;
		if (g.end > src_end)
			g.end = src_end;
		*moved += rlen(&g);
		g.start = g.start - old + new_addr;
		g.end = g.end - old + new_addr;
		if (k)
			p[k - 1].end = g.start; /* fill a hole in the source */
		p[k++] = g;
	}
	if (!k)
		p[k++] = default_region(new_addr, new_addr + new_len, tid, ts_ns);
	p[0].start = new_addr;
	p[k - 1].end = new_addr + n;
	if (new_len > n) {
		/* The growth: the moved end's attributes, the calling thread's bytes. */
		p[k] = p[k - 1];
		p[k].start = new_addr + n;
		p[k].end = new_addr + new_len;
		grown_by(&p[k], tid, ts_ns);
		if (p[k].tid == p[k - 1].tid && p[k].flags == p[k - 1].flags)
			p[k - 1].end = p[k].end; /* one region, as a merge would make it */
		else
			k++;
	}
	*out = p;
	return (long)k;
}

int mw_regions_remap(struct mw_regions *r, uint64_t old, uint64_t old_len, uint64_t new_addr,
		     uint64_t new_len, bool keep_old, uint32_t tid, uint64_t ts_ns,
		     struct mw_vm_delta *d)
{
	struct mw_vm_delta t = {};
	struct mw_region *p, nr;
	const struct mw_region *src;
	uint64_t moved;
	long k;

	if (!new_len)
		return 0; /* the kernel refuses new_len == 0 */
	/* Ranges that wrap around 2^64 come from no kernel: nothing to do. */
	if (old + old_len < old || new_addr + new_len < new_addr)
		return 0;
	if (!old_len) {
		/* Duplicate: a second mapping of the same shared object. */
		src = mw_regions_find(r, old);
		nr = src ? *src : default_region(0, 0, tid, ts_ns);
		nr.start = new_addr;
		nr.end = new_addr + new_len;
		return mw_regions_map(r, &nr, d);
	}
	if (new_addr == old) {
		if (new_len <= old_len)
			return mw_regions_unmap(r, old + new_len, old + old_len, d);
		src = mw_regions_find(r, old + old_len - 1);
		nr = src ? *src : default_region(0, 0, tid, ts_ns);
		nr.start = old + old_len;
		nr.end = old + new_len;
		/* The growth has the attributes of what it extends but is the calling thread's
		 * bytes, as a brk's growth is: one region with the rest when that thread made
		 * it too, its own otherwise. */
		grown_by(&nr, tid, ts_ns);
		return mw_regions_map(r, &nr, d);
	}

	k = move_pieces(r, old, old_len, new_addr, new_len, tid, ts_ns, &p, &moved);
	if (k < 0)
		return (int)k;
	/* Two unmaps may each leave one extra region behind, plus k inserted. */
	if (reserve(r, (size_t)k + 4)) {
		free(p);
		return -ENOMEM;
	}
	do_unmap(r, new_addr, new_addr + new_len, &t);
	if (!keep_old)
		do_unmap(r, old, old + old_len, &t);
	do_insert(r, p, (size_t)k, &t);
	free(p);
	if (!keep_old) {
		/* Moved bytes were neither created nor destroyed. */
		t.mapped -= moved;
		t.unmapped -= moved;
	}
	add_delta(d, &t);
	return 0;
}

const struct mw_region *mw_regions_find(const struct mw_regions *r, uint64_t addr)
{
	size_t i = mw_regions_index(r, addr);

	if (i < r->n && r->v[i].start <= addr)
		return &r->v[i];
	return NULL;
}

uint64_t mw_regions_bytes(const struct mw_regions *r)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < r->n; i++)
		sum += rlen(&r->v[i]);
	return sum;
}

uint64_t mw_regions_accessible_bytes(const struct mw_regions *r)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].prot)
			sum += rlen(&r->v[i]);
	return sum;
}

int mw_regions_coalesced(const struct mw_regions *r, struct mw_regions *out)
{
	mw_regions_clear(out);
	if (reserve(out, r->n))
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		struct mw_region *last = out->n ? &out->v[out->n - 1] : NULL;

		if (last && last->end == r->v[i].start && last->prot == r->v[i].prot)
			last->end = r->v[i].end;
		else
			out->v[out->n++] = r->v[i];
	}
	return 0;
}
