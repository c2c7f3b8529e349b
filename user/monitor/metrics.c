// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Prometheus text exposition (format 0.0.4) of the model. See metrics.h.
 * Names follow Prometheus conventions: base units (bytes, seconds), _total on
 * counters, one # HELP and # TYPE per family. Exited processes are not
 * rendered: their series disappear with them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc/alloc.h"
#include "ledger/format.h"
#include "ledger/totals.h"
#include "base/grow.h"
#include "metrics.h"
#include "session/faults.h"
#include "base/text.h"
#include "base/utf8.h"

void mw_buf_init(struct mw_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void mw_buf_free(struct mw_buf *b)
{
	free(b->p);
	mw_buf_init(b);
}

static bool buf_reserve(struct mw_buf *b, size_t more)
{
	if (b->oom)
		return false;
	if (mw_grow_to(&b->p, b->len + more + 1, &b->cap, 1, 4096))
		b->oom = true;
	return !b->oom;
}

void mw_buf_printf(struct mw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void buf_putc(struct mw_buf *b, char c)
{
	if (!buf_reserve(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

/* ---------- growth windows ---------- */

void mw_growth_init(struct mw_growth *g)
{
	memset(g, 0, sizeof(*g));
}

void mw_growth_free(struct mw_growth *g)
{
	free(g->v);
	mw_growth_init(g);
}

static struct mw_growth_win *growth_find(const struct mw_growth *g, const struct mw_process *p)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].proc == p && g->v[i].pid == p->pid)
			return &g->v[i];
	return NULL;
}

int mw_growth_sample(struct mw_growth *g, const struct mw_model *m, uint64_t now_ns)
{
	/* Forget windows whose process left the model (or exited). */
	for (size_t i = 0; i < g->n;) {
		const struct mw_process *p = mw_model_find(m, g->v[i].pid);

		if (p && p == g->v[i].proc && !p->exited)
			i++;
		else
			g->v[i] = g->v[--g->n];
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];
		struct mw_growth_win *w;
		size_t slot;

		if (p->exited)
			continue;
		w = growth_find(g, p);
		if (!w) {
			if (mw_grow(&g->v, g->n, &g->cap, sizeof(*g->v), 8))
				return -ENOMEM;
			w = &g->v[g->n++];
			memset(w, 0, sizeof(*w));
			w->pid = p->pid;
			w->proc = p;
		}
		if (w->n == MW_GROWTH_SAMPLES) {
			w->head = (w->head + 1) % MW_GROWTH_SAMPLES;
			w->n--;
		}
		slot = (w->head + w->n) % MW_GROWTH_SAMPLES;
		w->t_ns[slot] = now_ns;
		w->bytes[slot] = mw_regions_bytes(&p->regions);
		w->n++;
	}
	return 0;
}

bool mw_growth_rate(const struct mw_growth *g, const struct mw_process *p, double *rate)
{
	const struct mw_growth_win *w = growth_find(g, p);
	size_t first, last;

	if (!w || w->n < 2)
		return false;
	first = w->head;
	last = (w->head + w->n - 1) % MW_GROWTH_SAMPLES;
	if (w->t_ns[last] <= w->t_ns[first])
		return false;
	*rate = ((double)w->bytes[last] - (double)w->bytes[first]) * 1e9 /
		(double)(w->t_ns[last] - w->t_ns[first]);
	return true;
}

/* ---------- thread names across renames ---------- */

void mw_thread_names_init(struct mw_thread_names *tn)
{
	memset(tn, 0, sizeof(*tn));
}

static void tn_proc_free(struct mw_tn_proc *tp)
{
	free(tp->v);
	free(tp->carry);
	free(tp->debit);
	free(tp->names);
}

static int name_cmp(const void *a, const void *b)
{
	return strncmp(a, b, MW_COMM_LEN);
}

static bool tn_admitted(const struct mw_tn_proc *tp, const char *name)
{
	char key[MW_COMM_LEN] = "";

	snprintf(key, sizeof(key), "%s", name);
	return tp->nnames && bsearch(key, tp->names, tp->nnames, sizeof(*tp->names), name_cmp);
}

/* The series a name counts under: its own once admitted, else MW_TN_OTHER. */
static const char *tn_label(const struct mw_tn_proc *tp, const char *name)
{
	return !tp || tn_admitted(tp, name) ? name : MW_TN_OTHER;
}

/* Admit a live thread's name while there is room. 0 or -ENOMEM. */
static int tn_admit(struct mw_tn_proc *tp, const char *name)
{
	char(*v)[MW_COMM_LEN];
	size_t i = 0;

	if (tp->nnames >= MW_TN_MAX_NAMES || tn_admitted(tp, name))
		return 0;
	v = realloc(tp->names, (tp->nnames + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	tp->names = v;
	while (i < tp->nnames && strncmp(v[i], name, MW_COMM_LEN) < 0)
		i++;
	memmove(&v[i + 1], &v[i], (tp->nnames - i) * sizeof(*v));
	memset(v[i], 0, sizeof(v[i]));
	snprintf(v[i], sizeof(v[i]), "%s", name);
	tp->nnames++;
	return 0;
}

void mw_thread_names_free(struct mw_thread_names *tn)
{
	for (size_t i = 0; i < tn->n; i++)
		tn_proc_free(&tn->v[i]);
	free(tn->v);
	mw_thread_names_init(tn);
}

static const char *thread_key(const struct mw_process *p, const struct mw_thread *t)
{
	return t->comm[0] ? t->comm : p->comm;
}

static struct mw_tn_proc *tn_find(const struct mw_thread_names *tn, const struct mw_process *p)
{
	for (size_t i = 0; i < tn->n; i++)
		if (tn->v[i].proc == p && tn->v[i].pid == p->pid)
			return &tn->v[i];
	return NULL;
}

static void counts_of(const struct mw_thread *t, uint64_t out[MW_TN_ROWS][MW_SYS_COUNT])
{
	const struct mw_counts *c = mw_thread_counts(t);

	memcpy(out[0], c->calls, sizeof(out[0]));
	memcpy(out[1], c->errors, sizeof(out[1]));
	memset(out[MW_TN_FAULTED], 0, sizeof(out[MW_TN_FAULTED]));
	out[MW_TN_FAULTED][0] = t->faulted;
}

/* The entry of name in a carry list, added if missing; NULL when out of memory. */
static struct mw_tn_carry *carry_slot(struct mw_tn_carry **list, size_t *n, const char *name)
{
	struct mw_tn_carry *v;

	for (size_t i = 0; i < *n; i++)
		if (!strncmp((*list)[i].name, name, MW_COMM_LEN))
			return &(*list)[i];
	v = realloc(*list, (*n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	*list = v;
	v = &v[(*n)++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	return v;
}

/* What a renamed thread counted under its old name goes to that name's carry (or to
 * MW_TN_OTHER's: the carry list is bounded like the names). */
static int tn_carry(struct mw_tn_proc *tp, const struct mw_tn_thread *old)
{
	struct mw_tn_carry *c = carry_slot(&tp->carry, &tp->ncarry, tn_label(tp, old->name));

	if (!c)
		return -ENOMEM;
	for (int k = 0; k < MW_TN_ROWS; k++)
		for (int s = 0; s < MW_SYS_COUNT; s++)
			if (old->last[k][s] > old->base[k][s])
				c->n[k][s] += old->last[k][s] - old->base[k][s];
	return 0;
}

/* A thread the model forgot: its full counts are in p->retired under its
 * name; the part it carried to earlier names must not count twice. */
static int tn_retired(struct mw_tn_proc *tp, const struct mw_process *p,
		      const struct mw_tn_thread *old)
{
	const struct mw_retired *r = mw_process_retired(p, old->name);
	struct mw_tn_carry *d;

	if (!r)
		return 0; /* not retired by the model (out of memory there) */
	d = carry_slot(&tp->debit, &tp->ndebit, r->comm);
	if (!d)
		return -ENOMEM;
	for (int k = 0; k < MW_TN_ROWS; k++)
		for (int s = 0; s < MW_SYS_COUNT; s++)
			d->n[k][s] += old->base[k][s];
	return 0;
}

static int tn_update_proc(struct mw_tn_proc *tp, const struct mw_process *p)
{
	struct mw_tn_thread *v = calloc(p->nthreads ? p->nthreads : 1, sizeof(*v));
	size_t j = 0;

	if (!v)
		return -ENOMEM;
	/* Both arrays are sorted by tid: one merge walk. */
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];
		const char *key = thread_key(p, t);
		struct mw_tn_thread *e = &v[i];

		for (; j < tp->n && tp->v[j].tid < t->tid; j++)
			if (tn_retired(tp, p, &tp->v[j])) {
				free(v);
				return -ENOMEM;
			}
		if (tn_admit(tp, key)) {
			free(v);
			return -ENOMEM;
		}
		e->tid = t->tid;
		counts_of(t, e->last);
		if (j < tp->n && tp->v[j].tid == t->tid) {
			const struct mw_tn_thread *old = &tp->v[j];

			j++; /* matched: not a vanished thread */
			memcpy(e->base, old->base, sizeof(e->base));
			if (strncmp(old->name, key, MW_COMM_LEN)) {
				if (tn_carry(tp, old)) {
					free(v);
					return -ENOMEM;
				}
				memcpy(e->base, old->last, sizeof(e->base));
			}
		}
		snprintf(e->name, sizeof(e->name), "%s", key);
	}
	for (; j < tp->n; j++)
		if (tn_retired(tp, p, &tp->v[j])) {
			free(v);
			return -ENOMEM;
		}
	free(tp->v);
	tp->v = v;
	tp->n = p->nthreads;
	return 0;
}

int mw_thread_names_update(struct mw_thread_names *tn, const struct mw_model *m)
{
	for (size_t i = 0; i < tn->n;) {
		const struct mw_process *p = mw_model_find(m, tn->v[i].pid);

		if (p && p == tn->v[i].proc && !p->exited) {
			i++;
			continue;
		}
		tn_proc_free(&tn->v[i]);
		tn->v[i] = tn->v[--tn->n];
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];
		struct mw_tn_proc *tp;

		if (p->exited)
			continue;
		tp = tn_find(tn, p);
		if (!tp) {
			if (mw_grow(&tn->v, tn->n, &tn->cap, sizeof(*tn->v), 8))
				return -ENOMEM;
			tp = &tn->v[tn->n++];
			memset(tp, 0, sizeof(*tp));
			tp->pid = p->pid;
			tp->proc = p;
		}
		if (tn_update_proc(tp, p))
			return -ENOMEM;
	}
	return 0;
}

/* ---------- rendering ---------- */

/* A label value: backslash, double quote and newline escaped, as the format
 * requires; bytes that are not UTF-8 (a thread may name itself anything)
 * become U+FFFD, other control characters '?', as do the characters a terminal
 * acts on (C1, bidirectional controls: base/text.h) for whoever curls it. */
static void put_label_value(struct mw_buf *b, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v);

	buf_putc(b, '"');
	for (size_t i = 0; i < n;) {
		size_t len = mw_utf8_len(s + i, n - i);

		if (!len) {
			mw_buf_printf(b, "\xef\xbf\xbd");
			i++;
			continue;
		}
		if (len == 1) {
			if (s[i] == '\\' || s[i] == '"') {
				buf_putc(b, '\\');
				buf_putc(b, (char)s[i]);
			} else if (s[i] == '\n') {
				mw_buf_printf(b, "\\n");
			} else {
				buf_putc(b, s[i] < 0x20 || s[i] == 0x7f ? '?' : (char)s[i]);
			}
		} else if (!mw_text_char_len(s + i, n - i)) {
			buf_putc(b, '?'); /* valid, but a terminal acts on it (base/text.h) */
		} else {
			for (size_t k = 0; k < len; k++)
				buf_putc(b, (char)s[i + k]);
		}
		i += len;
	}
	buf_putc(b, '"');
}

static void family(struct mw_buf *b, const char *name, const char *type, const char *help)
{
	mw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one series without labels and an integer value. */
static void single(struct mw_buf *b, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	family(b, name, type, help);
	mw_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* name{pid="..",comm=".." then the caller adds more labels and closes. */
static void proc_labels(struct mw_buf *b, const char *name, const struct mw_process *p)
{
	mw_buf_printf(b, "%s{pid=\"%u\",comm=", name, p->pid);
	put_label_value(b, p->comm);
}

static bool rendered(const struct mw_process *p)
{
	return !p->exited;
}

static void class_bytes(const struct mw_process *p, uint64_t mapped[MW_CLASS_COUNT],
			uint64_t committed[MW_CLASS_COUNT])
{
	struct mw_totals t;

	mw_process_totals(p, &t);
	memcpy(mapped, t.mapped_by, sizeof(t.mapped_by));
	memcpy(committed, t.committed_by, sizeof(t.committed_by));
}

static void render_classes(struct mw_buf *b, const struct mw_model *m)
{
	static const struct {
		const char *name, *help;
	} fam[2] = {
		{ "memwatch_mapped_bytes",
		  "Bytes of the traced process's address space, by region class." },
		{ "memwatch_committed_bytes",
		  "Accessible (not PROT_NONE) bytes of the traced process's address space, by region "
		  "class." },
	};
	/* Both families from one pass over each process's regions. */
	uint64_t(*bytes)[2][MW_CLASS_COUNT] = calloc(m->nprocs ? m->nprocs : 1, sizeof(*bytes));

	if (!bytes) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < m->nprocs; i++)
		if (rendered(m->procs[i]))
			class_bytes(m->procs[i], bytes[i][0], bytes[i][1]);
	for (int k = 0; k < 2; k++) {
		family(b, fam[k].name, "gauge", fam[k].help);
		for (size_t i = 0; i < m->nprocs; i++) {
			if (!rendered(m->procs[i]))
				continue;
			for (int c = 0; c < MW_CLASS_COUNT; c++) {
				proc_labels(b, fam[k].name, m->procs[i]);
				mw_buf_printf(b, ",class=\"%s\"} %llu\n", mw_class_name(c),
					      (unsigned long long)bytes[i][k][c]);
			}
		}
	}
	free(bytes);
}

/* One contribution to a thread-name series: a thread (its counts since it
 * took the name) or a carry (what renamed threads counted under the name). */
struct calls_item {
	const char *name;
	uint32_t tid;
	uint64_t n[MW_TN_ROWS][MW_SYS_COUNT];
};

static int by_name(const void *a, const void *b)
{
	const struct calls_item *x = a, *y = b;
	int d = strcmp(x->name, y->name);

	return d ? d : (x->tid > y->tid) - (x->tid < y->tid);
}

/* The items of one process: per thread (minus what it counted under earlier
 * names), plus the carries; NULL on allocation failure. */
static struct calls_item *calls_items(const struct mw_process *p, const struct mw_tn_proc *tp,
				      bool per_tid, size_t *n)
{
	size_t ncarry = !per_tid && tp ? tp->ncarry : 0;
	size_t nretired = !per_tid ? p->nretired : 0;
	struct calls_item *v = calloc(p->nthreads + ncarry + nretired + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];
		const struct mw_tn_thread *e = NULL;

		if (!per_tid && tp && i < tp->n && tp->v[i].tid == t->tid &&
		    !strncmp(tp->v[i].name, thread_key(p, t), MW_COMM_LEN))
			e = &tp->v[i];
		v[i].name = per_tid ? thread_key(p, t) : tn_label(tp, thread_key(p, t));
		v[i].tid = t->tid;
		counts_of(t, v[i].n);
		/* A reused tid can restart the counts: never below zero. */
		for (int k = 0; e && k < MW_TN_ROWS; k++)
			for (int s = 0; s < MW_SYS_COUNT; s++)
				v[i].n[k][s] -= v[i].n[k][s] > e->base[k][s] ? e->base[k][s]
									     : v[i].n[k][s];
	}
	for (size_t i = 0; i < ncarry; i++) {
		v[p->nthreads + i].name = tp->carry[i].name;
		memcpy(v[p->nthreads + i].n, tp->carry[i].n, sizeof(v[0].n));
	}
	/* Forgotten threads: their final counts, less what they carried to earlier names. */
	for (size_t i = 0; i < nretired; i++) {
		struct calls_item *it = &v[p->nthreads + ncarry + i];
		const struct mw_retired *r = &p->retired[i];
		const struct mw_tn_carry *d = NULL;

		for (size_t k = 0; tp && k < tp->ndebit && !d; k++)
			if (!strncmp(tp->debit[k].name, r->comm, MW_COMM_LEN))
				d = &tp->debit[k];
		it->name = tn_label(tp, r->comm);
		memcpy(it->n[0], r->counts.calls, sizeof(it->n[0]));
		memcpy(it->n[1], r->counts.errors, sizeof(it->n[1]));
		it->n[MW_TN_FAULTED][0] = r->faulted;
		for (int k = 0; d && k < MW_TN_ROWS; k++)
			for (int s = 0; s < MW_SYS_COUNT; s++)
				it->n[k][s] -= it->n[k][s] > d->n[k][s] ? d->n[k][s] : it->n[k][s];
	}
	*n = p->nthreads + ncarry + nretired;
	return v;
}

/*
 * One process's syscall counters, by thread name (summed over the threads,
 * live and exited, that share it, and over what renamed threads counted under
 * it) or by tid. Exited threads keep their final counts in the model, so no
 * counter drops when a thread exits.
 */
static int render_proc_calls(struct mw_buf *b, const struct mw_process *p,
			     const struct mw_tn_proc *tp, bool per_tid, int row)
{
	static const char *const names[MW_TN_ROWS] = {
		"memwatch_syscalls_total",
		"memwatch_syscall_errors_total",
		"memwatch_faulted_bytes_total",
	};
	const char *name = names[row];
	int ncols = row == MW_TN_FAULTED ? 1 : MW_SYS_COUNT;
	struct calls_item *v;
	size_t n;

	v = calls_items(p, tp, per_tid, &n);
	if (!v)
		return -ENOMEM;
	if (!per_tid)
		qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; i < n;) {
		uint64_t sum[MW_SYS_COUNT] = { 0 };
		size_t j = i;

		do {
			for (int s = 0; s < ncols; s++)
				sum[s] += v[j].n[row][s];
			j++;
		} while (!per_tid && j < n && !strcmp(v[j].name, v[i].name));
		for (int s = 0; s < ncols; s++) {
			proc_labels(b, name, p);
			if (per_tid) {
				mw_buf_printf(b, ",tid=\"%u\"", v[i].tid);
			} else {
				mw_buf_printf(b, ",thread=");
				put_label_value(b, v[i].name);
			}
			if (row == MW_TN_FAULTED)
				mw_buf_printf(b, "} %llu\n", (unsigned long long)sum[s]);
			else
				mw_buf_printf(b, ",syscall=\"%s\"} %llu\n", mw_sys_name(s),
					      (unsigned long long)sum[s]);
		}
		i = j;
	}
	free(v);
	return 0;
}

/* The kernel counted the process's faults (a thread of it says so). */
static bool faults_known(const struct mw_process *p)
{
	for (size_t k = 0; k < p->nthreads; k++)
		if (p->threads[k].have_faults)
			return true;
	return false;
}

static int render_calls(struct mw_buf *b, const struct mw_model *m,
			const struct mw_thread_names *tn, bool per_tid)
{
	for (int row = 0; row < MW_TN_ROWS; row++) {
		if (row == 1)
			family(b, "memwatch_syscall_errors_total", "counter",
			       "Memory syscalls that returned an error.");
		else if (row == 0)
			family(b, "memwatch_syscalls_total", "counter",
			       "Memory syscalls made by the traced threads (the kernel's exact counts).");
		else
			family(b, "memwatch_faulted_bytes_total", "counter",
			       "Bytes the traced threads faulted in: a page per user-mode page fault "
			       "that found no page present (counted in the kernel per thread).");
		for (size_t i = 0; i < m->nprocs; i++) {
			const struct mw_process *p = m->procs[i];

			if (row == MW_TN_FAULTED && !faults_known(p))
				continue;
			if (rendered(p) &&
			    render_proc_calls(b, p, tn ? tn_find(tn, p) : NULL, per_tid, row))
				return -ENOMEM;
		}
	}
	return 0;
}

/*
 * --fault-stacks: the sampled faults placed on the region model's classes, in bytes (samples
 * x N x page size, monotone), a family of their own: an estimate is never summed with the
 * exact per-thread counts of memwatch_faulted_bytes_total, which carry no class because the
 * kernel counts them without the address (placing every fault would cost a record each).
 */
static void render_faulted_estimated(struct mw_buf *b, const struct mw_metrics_in *in)
{
	static const char name[] = "memwatch_faulted_bytes_estimated_total";

	if (!in->fault_stacks)
		return;
	family(b, name, "counter",
	       "Estimated bytes the traced process faulted in, by the class of the region the "
	       "fault hit (unknown: no region memwatch knows, or the sample was lost): "
	       "--fault-stacks=N samples, each standing for N faults of a page. An estimate; "
	       "the exact count, per thread and without class, is memwatch_faulted_bytes_total.");
	for (size_t i = 0; i < in->model->nprocs; i++) {
		const struct mw_process *p = in->model->procs[i];
		uint64_t v[MW_CLASS_COUNT + 1];

		for (size_t k = 0; rendered(p) && k < in->nfprofs; k++) {
			if (in->fprofs[k].pid != p->pid)
				continue;
			mw_fprof_class_bytes(&in->fprofs[k], in->page_size, v);
			for (int c = 0; c <= MW_FPROF_UNPLACED; c++) {
				if (!v[c])
					continue;
				proc_labels(b, name, p);
				mw_buf_printf(b, ",class=\"%s\"} %llu\n",
					      c < MW_CLASS_COUNT ? mw_class_name(c) : "unknown",
					      (unsigned long long)v[c]);
			}
		}
	}
}

/* Resident memory by kind, where the kernel's counters were read. */
static void render_resident(struct mw_buf *b, const struct mw_model *m)
{
	family(b, "memwatch_resident_bytes", "gauge",
	       "Resident memory of the traced process by kind, as the kernel counts it "
	       "(/proc/PID/status RssAnon, RssFile, RssShmem).");
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];
		const struct {
			const char *kind;
			uint64_t v;
		} k[3] = { { "anon", p->resident.anon },
			   { "file", p->resident.file },
			   { "shmem", p->resident.shmem } };

		if (!rendered(p) || !p->resident.known)
			continue;
		for (int j = 0; j < 3; j++) {
			proc_labels(b, "memwatch_resident_bytes", p);
			mw_buf_printf(b, ",kind=\"%s\"} %llu\n", k[j].kind,
				      (unsigned long long)k[j].v);
		}
	}
}

static void render_procs(struct mw_buf *b, const struct mw_model *m, const struct mw_growth *g)
{
	family(b, "memwatch_threads", "gauge", "Live threads of the traced process.");
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];
		size_t live = 0;

		if (!rendered(p))
			continue;
		for (size_t k = 0; k < p->nthreads; k++)
			live += !p->threads[k].exited;
		proc_labels(b, "memwatch_threads", p);
		mw_buf_printf(b, "} %zu\n", live);
	}
	family(b, "memwatch_arenas", "gauge",
	       "glibc arenas of the traced process besides the main arena (absent when those "
	       "present at attach could not be verified).");
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];

		/* Arenas present at attach that could not be verified: no number. */
		if (!rendered(p) || !mw_alloc_arenas_known(p->alloc))
			continue;
		proc_labels(b, "memwatch_arenas", p);
		mw_buf_printf(b, "} %zu\n", p->alloc ? mw_alloc_narenas(p->alloc) : 0);
	}
	family(b, "memwatch_arena_committed_bytes", "gauge",
	       "Committed (read-write, high-water) bytes of the glibc arenas besides the main arena.");
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];
		uint64_t sum = 0;

		if (!rendered(p) || !mw_alloc_arenas_known(p->alloc))
			continue;
		for (size_t k = 0; p->alloc && k < mw_alloc_narenas(p->alloc); k++)
			sum += mw_alloc_arena(p->alloc, k)->committed;
		proc_labels(b, "memwatch_arena_committed_bytes", p);
		mw_buf_printf(b, "} %llu\n", (unsigned long long)sum);
	}
	if (!g)
		return;
	family(b, "memwatch_vm_growth_bytes_per_second", "gauge",
	       "Change of the process's mapped bytes per second over the last 60 s (or since it "
	       "was first seen).");
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct mw_process *p = m->procs[i];
		double rate;

		if (!rendered(p) || !mw_growth_rate(g, p, &rate))
			continue;
		proc_labels(b, "memwatch_vm_growth_bytes_per_second", p);
		mw_buf_printf(b, "} %.17g\n", rate);
	}
}

static void render_kernel(struct mw_buf *b, const struct mw_metrics_in *in)
{
	const struct mw_stats *k = in->kstats;
	size_t ntraced = 0;

	for (size_t i = 0; i < in->model->nprocs; i++)
		ntraced += rendered(in->model->procs[i]);
	single(b, "memwatch_traced_processes", "gauge", "Processes traced now.", ntraced);
	if (k) {
		single(b, "memwatch_events_lost_total", "counter",
		       "Event records lost because the ring buffer was full (counters stay exact).",
		       k->rb_drops);
		single(b, "memwatch_events_total", "counter",
		       "Event records the probes submitted to the ring buffer.", k->events);
		family(b, "memwatch_kernel_drops_total", "counter",
		       "Updates the kernel side could not make, by reason (full tables).");
		mw_buf_printf(b,
			      "memwatch_kernel_drops_total{reason=\"unpaired_exit\"} %llu\n"
			      "memwatch_kernel_drops_total{reason=\"inflight_full\"} %llu\n"
			      "memwatch_kernel_drops_total{reason=\"threads_full\"} %llu\n"
			      "memwatch_kernel_drops_total{reason=\"targets_full\"} %llu\n",
			      (unsigned long long)k->unpaired, (unsigned long long)k->inflight_full,
			      (unsigned long long)k->threads_full,
			      (unsigned long long)k->targets_full);
	}
	if (in->nprobes && in->probe_stats) {
		family(b, "memwatch_probe_hits_total", "counter",
		       "Runs of each memwatch BPF program (every hit, traced process or not).");
		for (size_t i = 0; i < in->nprobes; i++)
			mw_buf_printf(b, "memwatch_probe_hits_total{program=\"%s\"} %llu\n",
				      in->probes[i].name,
				      (unsigned long long)in->probes[i].run_cnt);
		family(b, "memwatch_probe_seconds_total", "counter",
		       "Time spent in each memwatch BPF program (kernel BPF run-time statistics).");
		for (size_t i = 0; i < in->nprobes; i++)
			mw_buf_printf(b, "memwatch_probe_seconds_total{program=\"%s\"} %.9f\n",
				      in->probes[i].name, (double)in->probes[i].run_time_ns / 1e9);
	}
}

static void render_self(struct mw_buf *b, const struct mw_metrics_in *in)
{
	single(b, "memwatch_scrapes_total", "counter",
	       "Scrapes of this endpoint answered before this one.", in->scrapes);
	single(b, "memwatch_output_errors_total", "counter",
	       "Writes of the trace or the recording that failed (a full disk, a closed pipe): "
	       "their lines are lost, tracing goes on.",
	       in->output_errors);
	single(b, "memwatch_oom_kills_total", "counter",
	       "Traced processes the kernel's OOM killer chose (each wrote an oom record).",
	       in->oom_kills);
	single(b, "memwatch_triggers_fired_total", "counter",
	       "Firings of the --trigger conditions (each wrote a trigger record).",
	       in->triggers_fired);
	single(b, "memwatch_escalations_total", "counter",
	       "Escalations started: a trigger switched the allocation probes on for a process.",
	       in->escalations);
	family(b, "process_cpu_seconds_total", "counter",
	       "Total user and system CPU time spent by memwatch in seconds.");
	mw_buf_printf(b, "process_cpu_seconds_total %.6f\n", in->cpu_seconds);
	single(b, "process_resident_memory_bytes", "gauge",
	       "memwatch's resident memory size in bytes.", in->rss_bytes);
	family(b, "process_start_time_seconds", "gauge",
	       "Start time of memwatch since unix epoch in seconds.");
	mw_buf_printf(b, "process_start_time_seconds %.3f\n", in->start_time_s);
}

int mw_metrics_render(struct mw_buf *b, const struct mw_metrics_in *in)
{
	render_classes(b, in->model);
	render_resident(b, in->model);
	if (render_calls(b, in->model, in->names, in->per_tid)) {
		b->oom = true;
		return -ENOMEM;
	}
	render_faulted_estimated(b, in);
	render_procs(b, in->model, in->growth);
	render_kernel(b, in);
	render_self(b, in);
	return b->oom ? -ENOMEM : 0;
}
