// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --fault-stacks: sampled page faults by stack and by class. See faults.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "base/json.h"
#include "base/text.h"
#include "ledger/format.h"
#include "faults.h"

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *b = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * FNV_PRIME;
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return s ? fnv(h, s, strlen(s) + 1) : fnv(h, "", 1);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The innermost frame is its function where it is named, else its address; the callers are
 * their return addresses. */
static uint64_t stack_hash(const struct mw_sframe *f, size_t n)
{
	uint64_t h = fnv(FNV_OFFSET, &n, sizeof(n));

	for (size_t i = 0; i < n; i++) {
		if (i == 0 && f[0].func) {
			h = fnv_str(fnv_str(h, f[0].module), f[0].func);
			continue;
		}
		h = fnv(h, &f[i].addr, sizeof(f[i].addr));
	}
	return h;
}

static bool stack_eq(const struct mw_fprof_stack *s, uint64_t hash, const struct mw_sframe *f,
		     size_t n)
{
	if (s->hash != hash || s->n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 && f[0].func) {
			if (!s->f[0].func || !str_eq(s->f[0].func, f[0].func) ||
			    !str_eq(s->f[0].module, f[0].module))
				return false;
			continue;
		}
		if (i == 0 && s->f[0].func)
			return false;
		if (s->f[i].addr != f[i].addr)
			return false;
	}
	return true;
}

static void frames_free(struct mw_fprof_frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].module);
		free(f[i].func);
	}
	free(f);
}

/* Owned copies of n frames, or NULL when out of memory. */
static struct mw_fprof_frame *frames_copy(const struct mw_sframe *f, size_t n)
{
	struct mw_fprof_frame *c = calloc(n ? n : 1, sizeof(*c));

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i].addr = f[i].addr;
		c[i].offset = f[i].offset;
		c[i].module = f[i].module ? strdup(f[i].module) : NULL;
		c[i].func = f[i].func ? strdup(f[i].func) : NULL;
		if ((f[i].module && !c[i].module) || (f[i].func && !c[i].func)) {
			frames_free(c, i + 1);
			return NULL;
		}
	}
	return c;
}

/* The stack entry of f, made when new; NULL when the table is full or out of memory
 * (*nomem says which). */
static struct mw_fprof_stack *stack_of(struct mw_fprof *p, const struct mw_sframe *f, size_t n,
				       bool *nomem)
{
	uint64_t h = stack_hash(f, n);
	struct mw_fprof_stack *s;

	*nomem = false;
	for (size_t i = 0; i < p->n; i++)
		if (stack_eq(&p->v[i], h, f, n))
			return &p->v[i];
	if (p->n == MW_FPROF_MAX_STACKS)
		return NULL;
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct mw_fprof_stack *v = realloc(p->v, cap * sizeof(*v));

		if (!v) {
			*nomem = true;
			return NULL;
		}
		p->v = v;
		p->cap = cap;
	}
	s = &p->v[p->n];
	*s = (struct mw_fprof_stack){ .hash = h, .n = (uint32_t)n };
	s->f = frames_copy(f, n);
	if (!s->f) {
		*nomem = true;
		return NULL;
	}
	p->n++;
	return s;
}

static int arena_add(struct mw_fprof *p, int arena)
{
	if ((size_t)arena >= p->narena) {
		size_t n = (size_t)arena + 1;
		uint64_t *v = realloc(p->by_arena, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + p->narena, 0, (n - p->narena) * sizeof(*v));
		p->by_arena = v;
		p->narena = n;
	}
	p->by_arena[arena]++;
	return 0;
}

/* The per-thread row of tid, made (in tid order) when new; NULL when out of memory. */
static struct mw_class_samples *thread_of(struct mw_fprof *p, uint32_t tid)
{
	size_t lo = 0, hi = p->nthreads;
	struct mw_class_samples *v;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->threads[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->nthreads && p->threads[lo].tid == tid)
		return &p->threads[lo];
	v = realloc(p->threads, (p->nthreads + 1) * sizeof(*v));
	if (!v)
		return NULL;
	p->threads = v;
	memmove(v + lo + 1, v + lo, (p->nthreads - lo) * sizeof(*v));
	p->nthreads++;
	memset(&v[lo], 0, sizeof(v[lo]));
	v[lo].tid = tid;
	return &v[lo];
}

int mw_fprof_add(struct mw_fprof *p, uint32_t tid, const struct mw_sframe *f, size_t n,
		 const struct mw_region *where, uint32_t sample_n)
{
	int arena = where ? mw_region_arena(where) : -1;
	int cls = where && where->cls < MW_CLASS_COUNT ? where->cls : MW_FPROF_UNPLACED;
	struct mw_class_samples *t = thread_of(p, tid);
	struct mw_fprof_stack *s;
	bool nomem;

	if (!t || (arena >= 0 && arena_add(p, arena)))
		return -ENOMEM;
	s = stack_of(p, f, n, &nomem);
	if (nomem) {
		if (arena >= 0)
			p->by_arena[arena]--;
		return -ENOMEM;
	}
	if (s)
		s->samples++;
	else
		p->other++;
	p->samples++;
	p->sample_n = sample_n;
	p->by_class[cls]++;
	t->n[cls]++;
	return 0;
}

void mw_fprof_free(struct mw_fprof *p)
{
	for (size_t i = 0; i < p->n; i++)
		frames_free(p->v[i].f, p->v[i].n);
	free(p->v);
	free(p->by_arena);
	free(p->threads);
	memset(p, 0, sizeof(*p));
}

void mw_fprof_class_bytes(const struct mw_fprof *p, uint64_t page_size, uint64_t *out)
{
	for (int c = 0; c <= MW_FPROF_UNPLACED; c++)
		out[c] = mw_fprof_bytes(p, p->by_class[c], page_size);
}

uint64_t mw_fprof_arena_bytes(const struct mw_fprof *p, int arena, uint64_t page_size)
{
	if (arena < 0 || (size_t)arena >= p->narena)
		return 0;
	return mw_fprof_bytes(p, p->by_arena[arena], page_size);
}

size_t mw_fprof_top(const struct mw_fprof *p, size_t *out, size_t max)
{
	size_t k = 0;

	/* Insertion into a short sorted list: max is a few dozen. */
	for (size_t i = 0; i < p->n; i++) {
		size_t at = k < max ? k : max;

		while (at > 0 && p->v[out[at - 1]].samples < p->v[i].samples)
			at--;
		if (at == max)
			continue;
		if (k < max)
			k++;
		memmove(out + at + 1, out + at, (k - 1 - at) * sizeof(*out));
		out[at] = i;
	}
	return k;
}

static void json_frames(struct mw_json *j, const struct mw_fprof_stack *s)
{
	mw_json_arr_begin(j, "stack");
	for (uint32_t i = 0; i < s->n; i++) {
		const struct mw_fprof_frame *f = &s->f[i];

		mw_json_sframe(j, &(struct mw_sframe){ .addr = f->addr,
						       .offset = f->offset,
						       .module = f->module,
						       .func = f->func });
	}
	mw_json_arr_end(j);
}

/* A row of the profile: a stack's (s), the stacks not written (more of them), or the samples
 * lost to a full ring (lost). */
static void json_row(struct mw_output *o, uint64_t ts_ns, const struct mw_fprof *p,
		     uint64_t samples, uint64_t page_size, const struct mw_fprof_stack *s,
		     size_t more, bool lost)
{
	struct mw_json j;

	mw_json_begin(&j, o->f);
	mw_json_str(&j, "type", "fault_profile");
	mw_json_uint(&j, "ts_ns", ts_ns);
	mw_json_uint(&j, "pid", p->pid);
	mw_json_uint(&j, "bytes", mw_fprof_bytes(p, samples, page_size));
	mw_json_uint(&j, "count", samples * p->sample_n);
	mw_json_uint(&j, "samples", samples);
	mw_json_uint(&j, "sampling", p->sample_n);
	mw_json_bool(&j, "estimated", mw_fprof_estimated(p));
	if (s)
		json_frames(&j, s);
	else if (lost)
		mw_json_bool(&j, "lost", true);
	else
		mw_json_uint(&j, "other_stacks", more);
	mw_json_end(&j);
}

static void text_frames(FILE *f, const struct mw_fprof_stack *s, uint32_t max)
{
	char qf[MW_TEXT_ROOM(256)] = "", qm[MW_TEXT_ROOM(1024)] = "";

	if (!s->n)
		fprintf(f, "        [stack unknown]\n");
	for (uint32_t i = 0; i < s->n && i < max; i++) {
		const struct mw_fprof_frame *fr = &s->f[i];

		/* Symbol and file names come from the target's own files: escaped. */
		if (fr->func)
			mw_text_quote(qf, sizeof(qf), fr->func, 256);
		if (fr->module)
			mw_text_quote(qm, sizeof(qm), fr->module, 1024);
		if (fr->func && i > 0)
			fprintf(f, "        %s+%#" PRIx64, qf, fr->offset);
		else if (fr->func)
			fprintf(f, "        %s", qf);
		else
			fprintf(f, "        %#" PRIx64, fr->addr);
		fprintf(f, " (%s)\n", fr->module ? qm : "?");
	}
	if (s->n > max)
		fprintf(f, "        ... %u more frames\n", s->n - max);
}

static void text_out(struct mw_output *o, const char *comm, const struct mw_fprof *p,
		     const size_t *top, size_t ntop, uint64_t page_size)
{
	const char *est = mw_fprof_estimated(p) ? "~" : "";
	char b[32], qcomm[MW_TEXT_ROOM(16)];
	uint64_t shown = 0;

	mw_fmt_size(b, sizeof(b), (int64_t)mw_fprof_bytes(p, p->samples, page_size));
	fprintf(o->f,
		"\npage faults of pid %" PRIu32 " (%s), 1 in %" PRIu32
		" sampled: %s%s in %s%" PRIu64 " faults%s\n",
		p->pid, mw_text_quote(qcomm, sizeof(qcomm), comm, 16), p->sample_n, est, b, est,
		p->samples * p->sample_n, *est ? " (estimates)" : "");
	fprintf(o->f, "  top call stacks by bytes faulted in:\n");
	for (size_t i = 0; i < ntop && i < MW_FPROF_TOP_TEXT; i++) {
		const struct mw_fprof_stack *s = &p->v[top[i]];

		mw_fmt_size(b, sizeof(b), (int64_t)mw_fprof_bytes(p, s->samples, page_size));
		fprintf(o->f, "  #%-2zu %s%s in %s%" PRIu64 " faults\n", i + 1, est, b, est,
			s->samples * p->sample_n);
		text_frames(o->f, s, 8);
		shown += s->samples;
	}
	if (shown < p->samples) {
		mw_fmt_size(b, sizeof(b),
			    (int64_t)mw_fprof_bytes(p, p->samples - shown, page_size));
		fprintf(o->f, "  other stacks: %s%s\n", est, b);
	}
	if (p->lost) {
		mw_fmt_size(b, sizeof(b), (int64_t)mw_fprof_bytes(p, p->lost, page_size));
		fprintf(o->f, "  stacks lost (ring full): %s%s in %s%" PRIu64 " faults\n", est, b,
			est, p->lost * p->sample_n);
	}
}

void mw_fprof_out(struct mw_output *o, uint64_t ts_ns, const char *comm, const struct mw_fprof *p,
		  uint64_t page_size)
{
	size_t top[MW_FPROF_TOP_JSON];
	size_t n = mw_fprof_top(p, top, MW_FPROF_TOP_JSON);
	uint64_t rest = p->samples;

	if (!p->samples && !p->lost)
		return;
	if (!o->json) {
		text_out(o, comm, p, top, n, page_size);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_row(o, ts_ns, p, p->v[top[i]].samples, page_size, &p->v[top[i]], 0, false);
		rest -= p->v[top[i]].samples;
	}
	/* The stacks not written, and those past the table's end, as one row without a stack. */
	if (rest)
		json_row(o, ts_ns, p, rest, page_size, NULL, p->n - n, false);
	if (p->lost)
		json_row(o, ts_ns, p, p->lost, page_size, NULL, 0, true);
}
