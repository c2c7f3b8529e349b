// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The report's model. See data.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/grow.h"
#include "data.h"
#include "ndjson.h"

void mw_rep_init(struct mw_rep *r)
{
	memset(r, 0, sizeof(*r));
	r->pass = 1;
}

static void series_free(struct mw_rep_series *s)
{
	free(s->v);
	free(s->set);
	memset(s, 0, sizeof(*s));
}

void mw_rep_free(struct mw_rep *r)
{
	for (size_t i = 0; i < r->nprocs; i++) {
		struct mw_rep_proc *p = &r->procs[i];

		series_free(&p->mapped);
		series_free(&p->committed);
		series_free(&p->resident);
		free(p->aev);
		free(p->diag);
		for (int k = 0; k < MW_REP_NSTACKS; k++)
			free(p->stacks[k].v);
	}
	for (size_t i = 0; i < r->nthreads; i++) {
		series_free(&r->threads[i].net);
		series_free(&r->threads[i].acc);
	}
	free(r->procs);
	free(r->threads);
	free(r->tidx);
	memset(r, 0, sizeof(*r));
}

static int series_init(struct mw_rep_series *s, size_t nb)
{
	s->v = calloc(nb, sizeof(*s->v));
	s->set = calloc(nb, 1);
	s->nb = nb;
	return s->v && s->set ? 0 : -ENOMEM;
}

size_t mw_rep_bucket(const struct mw_rep *r, uint64_t ts, size_t nb)
{
	uint64_t span = r->t1 > r->t0 ? r->t1 - r->t0 : 1;

	if (ts <= r->t0)
		return 0;
	if (ts >= r->t1)
		return nb - 1;
	return (size_t)((double)(ts - r->t0) / (double)span * (double)(nb - 1) + 0.5);
}

static void series_put(const struct mw_rep *r, struct mw_rep_series *s, uint64_t ts, int64_t v)
{
	size_t b;

	if (!s->nb)
		return;
	b = mw_rep_bucket(r, ts, s->nb);
	s->v[b] = v;
	s->set[b] = 1;
}

static struct mw_rep_proc *proc_of(struct mw_rep *r, uint32_t pid)
{
	struct mw_rep_proc *p;

	for (size_t i = r->nprocs; i-- > 0;)
		if (r->procs[i].pid == pid)
			return &r->procs[i];
	if (r->pass != 1 || mw_grow(&r->procs, r->nprocs, &r->capprocs, sizeof(*r->procs), 8))
		return NULL;
	p = &r->procs[r->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

static uint64_t tkey_hash(uint32_t pid, uint32_t tid)
{
	return (((uint64_t)pid << 32 | tid) * 0x9e3779b97f4a7c15ULL) >> 17;
}

static int tidx_grow(struct mw_rep *r)
{
	size_t size = r->tidx ? (r->tmask + 1) * 2 : 256;
	uint32_t *v = calloc(size, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->nthreads; i++) {
		size_t k = tkey_hash(r->threads[i].pid, r->threads[i].tid) & (size - 1);

		while (v[k])
			k = (k + 1) & (size - 1);
		v[k] = (uint32_t)i + 1;
	}
	free(r->tidx);
	r->tidx = v;
	r->tmask = size - 1;
	return 0;
}

static struct mw_rep_thread *thread_of(struct mw_rep *r, uint32_t pid, uint32_t tid)
{
	struct mw_rep_thread *t;
	size_t k;

	if (!r->tidx && tidx_grow(r))
		return NULL;
	for (k = tkey_hash(pid, tid) & r->tmask; r->tidx[k]; k = (k + 1) & r->tmask) {
		t = &r->threads[r->tidx[k] - 1];
		if (t->pid == pid && t->tid == tid)
			return t;
	}
	if (r->pass != 1)
		return NULL;
	if ((r->nthreads + 1) * 2 > r->tmask + 1) {
		if (tidx_grow(r))
			return NULL;
		return thread_of(r, pid, tid);
	}
	if (mw_grow(&r->threads, r->nthreads, &r->capthreads, sizeof(*r->threads), 64))
		return NULL;
	t = &r->threads[r->nthreads];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->tid = tid;
	r->tidx[k] = (uint32_t)++r->nthreads;
	return t;
}

static void name_thread(struct mw_rep *r, uint32_t pid, uint32_t tid, const char *comm)
{
	struct mw_rep_thread *t = tid ? thread_of(r, pid, tid) : NULL;

	if (t && *comm)
		snprintf(t->comm, sizeof(t->comm), "%s", comm);
}

/* ---------- pass 1: range, names, each process's size before its first summary ---------- */

static int pass1(struct mw_rep *r, struct json_object *o, const char *type)
{
	int64_t ts = mw_j_int(o, "ts_ns", 0);
	uint32_t pid = (uint32_t)mw_j_int(o, "pid", 0);
	struct mw_rep_proc *p;

	if (ts > 0) {
		if (!r->have_time || (uint64_t)ts < r->t0)
			r->t0 = (uint64_t)ts;
		if (!r->have_time || (uint64_t)ts > r->t1)
			r->t1 = (uint64_t)ts;
		r->have_time = true;
	}
	if (!pid)
		return 0;
	if (!strcmp(type, "process_summary")) {
		if (!(p = proc_of(r, pid)))
			return -ENOMEM;
		snprintf(p->comm, sizeof(p->comm), "%s", mw_j_str(o, "comm"));
		if (!p->have_first) {
			p->first_mapped = mw_j_has(o, "mapped") ? mw_j_int(o, "mapped", 0)
								: mw_j_int(o, "vm_start", 0) +
									  mw_j_int(o, "net", 0);
			p->have_first = true;
		}
	} else if (!strcmp(type, "syscall")) {
		if (!(p = proc_of(r, pid)))
			return -ENOMEM;
		if (!p->have_first)
			p->delta_before += mw_j_int(o, "vm_delta", 0);
		name_thread(r, pid, (uint32_t)mw_j_int(o, "tid", 0), mw_j_str(o, "comm"));
	} else if (!strcmp(type, "thread_summary")) {
		name_thread(r, pid, (uint32_t)mw_j_int(o, "tid", 0), mw_j_str(o, "comm"));
	} else if (!strcmp(type, "arena_create") || !strcmp(type, "arena_heap_new")) {
		name_thread(r, pid, (uint32_t)mw_j_int(o, "tid", 0), mw_j_str(o, "comm"));
	}
	return 0;
}

int mw_rep_begin_pass2(struct mw_rep *r)
{
	for (size_t i = 0; i < r->nprocs; i++) {
		struct mw_rep_proc *p = &r->procs[i];

		if (series_init(&p->mapped, MW_REP_BUCKETS) ||
		    series_init(&p->committed, MW_REP_BUCKETS) ||
		    series_init(&p->resident, MW_REP_BUCKETS))
			return -ENOMEM;
		/* The size before the first call seen: the first summary's less the calls before. */
		p->cur = p->first_mapped - p->delta_before;
	}
	for (size_t i = 0; i < r->nthreads; i++)
		if (series_init(&r->threads[i].net, MW_REP_TBUCKETS) ||
		    series_init(&r->threads[i].acc, MW_REP_TBUCKETS))
			return -ENOMEM;
	r->pass = 2;
	return 0;
}

/* ---------- pass 2 ---------- */

static void frame_name(struct json_object *f, char *name, size_t nsz, char *where, size_t wsz)
{
	const char *func = mw_j_str(f, "func"), *mod = mw_j_str(f, "module"), *file;
	const char *base = strrchr(mod, '/');

	if (*func)
		snprintf(name, nsz, "%s", func);
	else if (*mod)
		snprintf(name, nsz, "[%s]", base ? base + 1 : mod);
	else
		snprintf(name, nsz, "%s", mw_j_str(f, "addr"));
	file = mw_j_str(f, "file");
	if (*file)
		snprintf(where, wsz, "%s:%lld", file, (long long)mw_j_int(f, "line", 0));
	else
		where[0] = '\0';
}

static uint32_t tree_child(struct mw_rep_tree *t, uint32_t parent, const char *name,
			   const char *where)
{
	struct mw_rep_node *n;
	uint32_t k;

	for (k = t->v[parent].child; k; k = t->v[k].next)
		if (!strcmp(t->v[k].name, name))
			return k;
	if (mw_grow(&t->v, t->n, &t->cap, sizeof(*t->v), 64))
		return 0;
	k = (uint32_t)t->n++;
	n = &t->v[k];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->where, sizeof(n->where), "%s", where);
	n->next = t->v[parent].child;
	t->v[parent].child = k;
	return k;
}

/* One stack object (leak, fault_profile, mapped_by_stack): the last report's replace the rest. */
static int add_stack(struct mw_rep_tree *t, struct json_object *o, uint64_t ts, double bytes)
{
	struct json_object *st = mw_j_get(o, "stack");
	size_t n = st && json_object_is_type(st, json_type_array) ? json_object_array_length(st)
								  : 0;
	uint32_t at = 0;

	if (ts > t->ts || !t->n) {
		t->n = 0;
		t->ts = ts;
		if (mw_grow(&t->v, 0, &t->cap, sizeof(*t->v), 64))
			return -ENOMEM;
		memset(&t->v[0], 0, sizeof(t->v[0]));
		snprintf(t->v[0].name, sizeof(t->v[0].name), "all");
		t->n = 1;
	} else if (ts < t->ts) {
		return 0; /* an older report's */
	}
	t->estimated |= json_object_get_boolean(mw_j_get(o, "estimated"));
	t->v[0].value += bytes;
	for (size_t i = n; i-- > 0;) {
		char name[MW_REP_FRAME_LEN], where[MW_REP_FRAME_LEN];

		frame_name(json_object_array_get_idx(st, i), name, sizeof(name), where,
			   sizeof(where));
		at = tree_child(t, at, name, where);
		if (!at)
			return -ENOMEM;
		t->v[at].value += bytes;
	}
	/* mapped_by_stack's rest, summed past the top rows, is no unknown stack. */
	if (!n && (at = tree_child(
			   t, 0, mw_j_has(o, "others") ? "(other stacks)" : "(stack unknown)", "")))
		t->v[at].value += bytes;
	return 0;
}

static int add_arena_ev(struct mw_rep *r, struct mw_rep_proc *p, struct json_object *o,
			bool created)
{
	uint32_t tid = (uint32_t)mw_j_int(o, "tid", 0);
	struct mw_rep_thread *t = thread_of(r, p->pid, tid);

	if (t && created)
		t->arenas_created++;
	if (p->naev == MW_REP_MAX_ARENA_EVENTS) {
		p->aev_dropped++;
		return 0;
	}
	if (mw_grow(&p->aev, p->naev, &p->capaev, sizeof(*p->aev), 32))
		return -ENOMEM;
	p->aev[p->naev++] = (struct mw_rep_arena_ev){
		.ts = (uint64_t)mw_j_int(o, "ts_ns", 0),
		.tid = tid,
		.arena = (int)mw_j_int(o, "arena", 0),
		.created = created,
	};
	return 0;
}

static int add_diag(struct mw_rep_proc *p, struct json_object *o)
{
	struct mw_rep_diag *d;

	if (mw_grow(&p->diag, p->ndiag, &p->capdiag, sizeof(*p->diag), 4))
		return -ENOMEM;
	d = &p->diag[p->ndiag++];
	d->ts = (uint64_t)mw_j_int(o, "ts_ns", 0);
	snprintf(d->kind, sizeof(d->kind), "%s", mw_j_str(o, "kind"));
	snprintf(d->message, sizeof(d->message), "%s", mw_j_str(o, "message"));
	snprintf(d->remedy, sizeof(d->remedy), "%s", mw_j_str(o, "remedy"));
	return 0;
}

static void process_summary(struct mw_rep *r, struct mw_rep_proc *p, struct json_object *o,
			    uint64_t ts)
{
	if (mw_j_has(o, "mapped")) {
		p->cur = mw_j_int(o, "mapped", 0); /* exact: the calls' sum meets it here */
		p->last_mapped = (uint64_t)p->cur;
		series_put(r, &p->mapped, ts, p->cur);
	}
	if (mw_j_has(o, "committed")) {
		p->last_committed = (uint64_t)mw_j_int(o, "committed", 0);
		p->have_committed = true;
		series_put(r, &p->committed, ts, (int64_t)p->last_committed);
	}
	/* Resident memory, where the run measured it (rss_end at each summary). */
	if (mw_j_has(o, "rss_end") || mw_j_has(o, "rss")) {
		p->last_resident =
			(uint64_t)mw_j_int(o, mw_j_has(o, "rss_end") ? "rss_end" : "rss", 0);
		p->have_resident = true;
		series_put(r, &p->resident, ts, (int64_t)p->last_resident);
	}
	p->threads = (uint64_t)mw_j_int(o, "threads", 0);
	p->vm_end = (uint64_t)mw_j_int(o, "vm_end", 0);
	p->exited = mw_j_has(o, "code") || mw_j_has(o, "signal");
	snprintf(p->comm, sizeof(p->comm), "%s", mw_j_str(o, "comm"));
}

static void thread_summary(struct mw_rep *r, struct mw_rep_thread *t, struct json_object *o,
			   uint64_t ts)
{
	struct json_object *by = mw_j_get(o, "by_class");

	t->cur = mw_j_int(o, "net", 0);
	t->anchored = true;
	if (t->cur > t->peak)
		t->peak = t->cur;
	series_put(r, &t->net, ts, t->cur);
	if (mw_j_has(o, "accessible")) {
		series_put(r, &t->acc, ts, mw_j_int(o, "accessible", 0));
		t->have_acc = true;
	}
	memset(t->by_class, 0, sizeof(t->by_class));
	for (int c = 0; by && c < MW_CLASS_COUNT; c++)
		t->by_class[c] = (uint64_t)mw_j_int(by, mw_class_name(c), 0);
}

static int pass2(struct mw_rep *r, struct json_object *o, const char *type)
{
	uint64_t ts = (uint64_t)mw_j_int(o, "ts_ns", 0);
	uint32_t pid = (uint32_t)mw_j_int(o, "pid", 0);
	uint32_t tid = (uint32_t)mw_j_int(o, "tid", 0);
	struct mw_rep_proc *p = pid ? proc_of(r, pid) : NULL;
	struct mw_rep_thread *t = p && tid ? thread_of(r, pid, tid) : NULL;
	int64_t d;

	if (!p)
		return 0;
	if (!strcmp(type, "syscall")) {
		d = mw_j_int(o, "vm_delta", 0);
		r->syscalls++;
		p->cur += d;
		series_put(r, &p->mapped, ts, p->cur);
		if (t) {
			t->cur += d;
			if (t->cur > t->peak)
				t->peak = t->cur;
			series_put(r, &t->net, ts, t->cur);
		}
	} else if (!strcmp(type, "process_summary")) {
		process_summary(r, p, o, ts);
	} else if (!strcmp(type, "thread_summary") && t) {
		thread_summary(r, t, o, ts);
	} else if (!strcmp(type, "arena_create") || !strcmp(type, "arena_heap_new")) {
		return add_arena_ev(r, p, o, type[6] == 'c');
	} else if (!strcmp(type, "arena_summary")) {
		size_t id = (size_t)mw_j_int(o, "arena", 0);

		p->narenas = id > p->narenas ? id : p->narenas;
	} else if (!strcmp(type, "leak")) {
		return add_stack(&p->stacks[MW_REP_LEAKS], o, ts, (double)mw_j_int(o, "bytes", 0));
	} else if (!strcmp(type, "fault_profile")) {
		return add_stack(&p->stacks[MW_REP_FAULTS], o, ts, (double)mw_j_int(o, "bytes", 0));
	} else if (!strcmp(type, "mapped_by_stack")) {
		return add_stack(&p->stacks[MW_REP_MAPPINGS], o, ts,
				 (double)mw_j_int(o, mw_j_has(o, "mapped") ? "mapped" : "bytes",
						  0));
	} else if (!strcmp(type, "diagnosis")) {
		return add_diag(p, o);
	}
	return 0;
}

int mw_rep_add(struct mw_rep *r, struct json_object *o, const char *type)
{
	r->objects++;
	return r->pass == 1 ? pass1(r, o, type) : pass2(r, o, type);
}

static const struct mw_rep *sort_rep;

static int by_peak(const void *a, const void *b)
{
	const struct mw_rep_thread *x = &sort_rep->threads[*(const size_t *)a];
	const struct mw_rep_thread *y = &sort_rep->threads[*(const size_t *)b];

	if (x->peak != y->peak)
		return x->peak < y->peak ? 1 : -1;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

size_t *mw_rep_threads_of(const struct mw_rep *r, uint32_t pid, size_t *n)
{
	size_t *v = malloc((r->nthreads + 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].pid == pid)
			v[(*n)++] = i;
	sort_rep = r;
	qsort(v, *n, sizeof(*v), by_peak);
	return v;
}
