// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What memwatch top shows. See topdata.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc/alloc.h"
#include "base/grow.h"
#include "ledger/totals.h"
#include "topdata.h"

void mw_top_data_init(struct mw_top_data *d)
{
	memset(d, 0, sizeof(*d));
	mw_growth_init(&d->growth);
}

void mw_top_data_free(struct mw_top_data *d)
{
	free(d->v);
	mw_growth_free(&d->growth);
	memset(d, 0, sizeof(*d));
}

uint64_t mw_process_calls(const struct mw_process *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->nthreads; i++)
		for (int s = 0; s < MW_SYS_COUNT; s++)
			n += mw_thread_counts(&p->threads[i])->calls[s];
	for (size_t i = 0; i < p->nretired; i++)
		for (int s = 0; s < MW_SYS_COUNT; s++)
			n += p->retired[i].counts.calls[s];
	return n;
}

static struct mw_top_row *row_of(struct mw_top_data *d, const struct mw_process *p)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].proc == p && d->v[i].pid == p->pid)
			return &d->v[i];
	return NULL;
}

static void fill(struct mw_top_row *r, const struct mw_process *p)
{
	struct mw_totals t;

	mw_process_totals(p, &t);
	memcpy(r->comm, p->comm, sizeof(r->comm));
	r->mapped = t.mapped;
	r->committed = t.committed;
	r->resident_known = p->resident.known;
	r->resident = p->resident.known ? mw_resident_bytes(&p->resident) : 0;
	r->arenas = p->alloc ? mw_alloc_narenas(p->alloc) : 0;
	r->threads = 0;
	for (size_t k = 0; k < p->nthreads; k++)
		r->threads += !p->threads[k].exited;
	r->calls = mw_process_calls(p);
}

int mw_top_refresh(struct mw_top_data *d, const struct mw_model *m)
{
	/* Rows whose process left the model (or exited) go. */
	for (size_t i = 0; i < d->n;) {
		const struct mw_process *p = mw_model_find(m, d->v[i].pid);

		if (p && p == d->v[i].proc && !p->exited)
			i++;
		else
			d->v[i] = d->v[--d->n];
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];
		struct mw_top_row *r;

		if (p->exited)
			continue;
		r = row_of(d, p);
		if (!r) {
			if (mw_grow(&d->v, d->n, &d->cap, sizeof(*d->v), 16))
				return -ENOMEM;
			r = &d->v[d->n++];
			memset(r, 0, sizeof(*r));
			r->pid = p->pid;
			r->proc = p;
		}
		fill(r, p);
	}
	return 0;
}

int mw_top_sample(struct mw_top_data *d, const struct mw_model *m, uint64_t now_ns)
{
	if (mw_growth_sample(&d->growth, m, now_ns))
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		struct mw_top_row *r = &d->v[i];

		r->growth_known = mw_growth_rate(&d->growth, r->proc, &r->growth);
		if (r->prev_ns && now_ns > r->prev_ns) {
			r->calls_rate = (double)(r->calls - r->prev_calls) * 1e9 /
					(double)(now_ns - r->prev_ns);
			r->rate_known = true;
		}
		r->prev_calls = r->calls;
		r->prev_ns = now_ns;
		if (r->nhist == MW_TOP_HISTORY)
			memmove(r->hist, r->hist + 1, --r->nhist * sizeof(r->hist[0]));
		r->hist[r->nhist++] = r->mapped;
	}
	return 0;
}

static enum mw_top_key sort_key;

static int cmp_double(double a, double b)
{
	return (a < b) - (a > b); /* largest first */
}

static int by_key(const void *pa, const void *pb)
{
	const struct mw_top_row *a = pa, *b = pb;
	int c = 0;

	switch (sort_key) {
	case MW_TOP_BY_MAPPED: c = cmp_double((double)a->mapped, (double)b->mapped); break;
	case MW_TOP_BY_COMMITTED: c = cmp_double((double)a->committed, (double)b->committed); break;
	case MW_TOP_BY_RESIDENT: c = cmp_double((double)a->resident, (double)b->resident); break;
	case MW_TOP_BY_GROWTH:
		c = cmp_double(a->growth_known ? a->growth : 0, b->growth_known ? b->growth : 0);
		break;
	case MW_TOP_BY_ARENAS: c = cmp_double((double)a->arenas, (double)b->arenas); break;
	case MW_TOP_BY_CALLS:
		c = cmp_double(a->rate_known ? a->calls_rate : 0,
			       b->rate_known ? b->calls_rate : 0);
		break;
	default: break;
	}
	return c ? c : (a->pid > b->pid) - (a->pid < b->pid);
}

void mw_top_sort(struct mw_top_data *d, enum mw_top_key key)
{
	sort_key = key;
	qsort(d->v, d->n, sizeof(*d->v), by_key);
}

const char *mw_top_key_name(enum mw_top_key key)
{
	static const char *const names[MW_TOP_NKEYS] = {
		"mapped", "committed", "resident", "growth", "arenas", "syscalls/s", "pid",
	};

	return key < MW_TOP_NKEYS ? names[key] : "?";
}

bool mw_top_match(const struct mw_top_row *r, const char *filter)
{
	char pid[16];

	if (!filter || !*filter)
		return true;
	snprintf(pid, sizeof(pid), "%u", r->pid);
	return strstr(r->comm, filter) || !strcmp(pid, filter);
}

void mw_sparkline(const uint64_t *v, size_t n, size_t width, bool utf8, char *out, size_t outsz)
{
	static const char *const blocks[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
					       "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.:-=+*#";
	size_t first = n > width ? n - width : 0, cells = n - first, off = 0;
	uint64_t lo = UINT64_MAX, hi = 0;

	if (!outsz)
		return;
	for (size_t i = first; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	for (size_t i = 0; i < width - cells && off + 1 < outsz; i++)
		out[off++] = ' ';
	for (size_t i = first; i < n; i++) {
		/* Flat: the lowest level, so a still process shows a baseline, not nothing. */
		int level = hi > lo ? (int)((double)(v[i] - lo) * 7.0 / (double)(hi - lo) + 0.5)
				    : 0;
		const char *c = utf8 ? blocks[level] : (char[2]){ ascii[level], 0 };
		size_t len = strlen(c);

		if (off + len + 1 > outsz)
			break;
		memcpy(out + off, c, len);
		off += len;
	}
	out[off] = '\0';
}
