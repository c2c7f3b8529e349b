// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocator probes in a live session: records -> stacks -> leak tables -> reports. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include "alloc/alloc.h"
#include "base/options.h"
#include "base/clock.h"
#include "leak.h"
#include "leak_output.h"
#include "mprobe.h"
#include "mtrace.h"
#include "retention.h"
#include "session/session.h"
#include "stacks/ustack.h"

#define MAX_STACKS 65536
#define MAX_BACKOFF_NS (64 * 1000000000ULL)

_Static_assert(sizeof(struct mw_malloc_rec) == 48 + 17 * 8 + 8, "mw_malloc_rec layout");
_Static_assert(sizeof(struct mw_mfree_rec) == 40, "mw_mfree_rec layout");
_Static_assert(MW_MREGS == MW_USTACK_NREGS, "register sets");

struct mproc {
	uint32_t pid;
	bool exiting;		/* stopped in exit(): report, then resume it */
	bool done;		/* its final report is out */
	char comm[16];
	char allocator[256];
	double est_bytes, est_count;	/* allocated, from the traced ones and their weights */
	uint64_t synced_drops;	/* ring drops already reconciled with the kernel's table */
	uint64_t maps_read_ns;	/* when its maps were last dropped for being stale */
};

struct mw_mtrace {
	const struct mw_config *cfg;
	struct mw_session *s;
	struct mw_mprobe probe;
	struct mw_symbolizer *sym;
	struct mw_leak leak;
	struct mproc *procs;
	size_t nprocs;
	int64_t mono_to_epoch;
	uint64_t unwind_failed;
	/* duty cycle and rate guard: the probes are attached when neither holds them off */
	bool duty_off, guard_off;
	uint64_t next_duty_ns, guard_until_ns, backoff_ns;
	FILE *folded;		/* --folded: final reports append their stacks */
};

static struct mproc *proc_of(struct mw_mtrace *t, uint32_t pid, bool add)
{
	void *v;

	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	if (!add)
		return NULL;
	v = realloc(t->procs, (t->nprocs + 1) * sizeof(*t->procs));
	if (!v)
		return NULL;
	t->procs = v;
	memset(&t->procs[t->nprocs], 0, sizeof(*t->procs));
	t->procs[t->nprocs].pid = pid;
	return &t->procs[t->nprocs++];
}

/* 1 / the probability that an allocation of this size was traced. */
static double weight_of(const struct mw_malloc_config *m, uint64_t size)
{
	if (m->sample_every > 1)
		return m->sample_every;
	if (m->sample_bytes) {
		double p = -expm1(-(double)size / (double)m->sample_bytes);

		return p > 0 ? 1.0 / p : 1.0;
	}
	return 1.0;
}

/* Name every frame of a new stack now, while the process and its files exist. */
static void symbolize(struct mw_mtrace *t, uint32_t id)
{
	struct mw_stack_ent *s = &t->leak.stacks[id];
	struct mw_frame *f = calloc(s->n, sizeof(*f));

	if (!f)
		return;
	for (uint32_t k = 0; k < s->n; k++) {
		/* All return addresses, even ips[0] (the probe is at the allocator's
		 * return): the line is the call's, just before. */
		if (mw_sym_resolve_ip(t->sym, s->pid, s->ips[k], 1, &f[k]))
			memset(&f[k], 0, sizeof(f[k]));
		f[k].addr = s->ips[k];
	}
	s->frames = f;
}

/*
 * The outermost frame lies outside every file the symbolizer knows for the
 * process: code mapped since it read the maps (dlopen). Drop its view of the
 * process, at most once a second, so that the next unwind reads them again.
 */
static bool stale_maps(struct mw_mtrace *t, struct mproc *p, const uint64_t *ips, int n,
		       uint64_t ts)
{
	struct mw_frame f;

	if (!p || n <= 0 || (p->maps_read_ns && ts < p->maps_read_ns + 1000000000ULL))
		return false;
	if (mw_sym_resolve_ip(t->sym, p->pid, ips[n - 1], 1, &f) == 0 && f.module)
		return false;
	mw_sym_invalidate(t->sym, p->pid);
	p->maps_read_ns = ts;
	return true;
}

static void on_alloc(struct mw_mtrace *t, const struct mw_malloc_rec *r, size_t size)
{
	struct mw_ustack_capture cap = { .pid = r->tgid, .tid = r->tid };
	uint64_t ips[MW_LEAK_MAX_FRAMES];
	struct mw_block b = {
		.addr = r->addr, .size = r->size, .ts_ns = r->ts_ns, .pid = r->tgid, .tid = r->tid,
	};
	struct mproc *p = proc_of(t, r->tgid, true);
	bool fresh;
	int n;

	memcpy(cap.regs, r->regs, sizeof(cap.regs));
	cap.stack = (const uint8_t *)(r + 1);
	cap.stack_len = (uint32_t)(size - sizeof(*r));
	if (r->stack_len < cap.stack_len)
		cap.stack_len = r->stack_len;
	n = mw_sym_unwind(t->sym, &cap, ips, MW_LEAK_MAX_FRAMES);
	if (stale_maps(t, p, ips, n, r->ts_ns))
		n = mw_sym_unwind(t->sym, &cap, ips, MW_LEAK_MAX_FRAMES);
	if (n <= 0) {
		t->unwind_failed++;
		n = 0;
	}
	b.stack = mw_leak_stack(&t->leak, r->tgid, ips, (uint32_t)n, &fresh);
	if (fresh)
		symbolize(t, b.stack);
	b.weight = (float)weight_of(&t->cfg->mal, r->size);
	if (p) {
		p->est_bytes += (double)r->size * b.weight;
		p->est_count += b.weight;
	}
	if (r->old_addr)
		mw_leak_release(&t->leak, r->old_addr, NULL);
	mw_leak_alloc(&t->leak, &b);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct mw_mtrace *t = ctx;
	const struct mw_mfree_rec *f = data;

	if (size < sizeof(*f))
		return 0;
	switch (f->type) {
	case MW_MREC_ALLOC:
		if (size >= sizeof(struct mw_malloc_rec))
			on_alloc(t, data, size);
		break;
	case MW_MREC_FREE:
		mw_leak_release(&t->leak, f->addr, NULL);
		break;
	case MW_MREC_EXIT: {
		/* Reported at the next tick, when the syscall ring is read up to here too. */
		struct mproc *p = proc_of(t, f->tgid, false);

		if (p && !p->done)
			p->exiting = true;
		else
			kill((pid_t)f->tgid, SIGCONT);
		break;
	}
	}
	return 0;
}

struct mw_mtrace *mw_mtrace_new(const struct mw_config *cfg, struct mw_session *s,
				struct ring_buffer *rb, int64_t mono_to_epoch, char *err,
				size_t errsz)
{
	const struct mw_malloc_config *m = &cfg->mal;
	struct mw_mprobe_opts o = {
		.stack_bytes = m->stack_bytes,
		.sample_every = m->sample_every,
		.sample_bytes = m->sample_bytes,
		.max_rate = m->max_probe_rate,
		.max_outstanding = m->max_outstanding,
		/* A launched command is memwatch's child: held at exit(), and resumed by the
		 * kernel if memwatch dies (launch.c). Others only on request (--hold-exit). */
		.hold_exit = m->hold_exit ? MW_HOLD_ALL : cfg->cmd ? MW_HOLD_CHILDREN : MW_HOLD_OFF,
	};
	struct mw_mtrace *t = calloc(1, sizeof(*t));
	int ret;

	if (!t) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	t->cfg = cfg;
	t->s = s;
	t->mono_to_epoch = mono_to_epoch;
	t->backoff_ns = 1000000000ULL;
	if (mw_leak_init(&t->leak, m->max_outstanding, MAX_STACKS)) {
		snprintf(err, errsz, "out of memory for %u outstanding allocations",
			 m->max_outstanding);
		free(t);
		return NULL;
	}
	t->sym = mw_sym_new();
	if (!t->sym) {
		snprintf(err, errsz, "cannot set up the stack unwinder");
		goto fail;
	}
	if (mw_mprobe_open(&t->probe, &o, err, errsz))
		goto fail;
	ret = ring_buffer__add(rb, mw_mprobe_ring_fd(&t->probe), on_record, t);
	if (ret) {
		snprintf(err, errsz, "cannot read the allocator ring: %s", strerror(-ret));
		goto fail;
	}
	if (m->folded_path) {
		t->folded = fopen(m->folded_path, "w");
		if (!t->folded) {
			snprintf(err, errsz, "cannot open %s: %s", m->folded_path, strerror(errno));
			goto fail;
		}
	}
	if (m->duty_period_s)
		t->next_duty_ns = mw_now_ns(CLOCK_MONOTONIC) + (uint64_t)(m->duty_on_s * 1e9);
	return t;
fail:
	mw_mtrace_free(t);
	return NULL;
}

static void read_comm(const char *path, char comm[16])
{
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (fgets(comm, 16, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

/* quiet: an exec seen late, the image may be gone already: say nothing but with -v. */
static int attach_pid(struct mw_mtrace *t, uint32_t pid, bool before_libs, bool quiet)
{
	struct mproc *p = proc_of(t, pid, true);
	char what[256] = "";
	int n;

	if (!p)
		return -ENOMEM;
	snprintf(what, sizeof(what), "/proc/%u/comm", pid);
	read_comm(what, p->comm);
	*what = '\0';
	n = mw_mprobe_add_pid(&t->probe, pid, before_libs, what, sizeof(what));
	if (*what)
		snprintf(p->allocator, sizeof(p->allocator), "%s", what);
	if (n < 0 && quiet) {
		if (t->cfg->verbose)
			fprintf(stderr, "memwatch: pid %u: no allocator probes after exec: %s\n", pid,
				strerror(-n));
		return n;
	}
	if (n < 0) {
		bool old_kernel = n == -EINVAL || n == -EOPNOTSUPP || n == -ENOTSUP;

		fprintf(stderr, "memwatch: pid %u: cannot attach allocator probes to %s: %s%s\n", pid,
			*what ? what : "its allocator", strerror(-n),
			old_kernel ? " (they need uprobe_multi links: Linux 6.6 or later)" : "");
		return n;
	}
	if (!*what && !quiet)
		fprintf(stderr, "memwatch: pid %u: no malloc found in its executable or libraries\n",
			pid);
	else if (t->cfg->verbose)
		fprintf(stderr, "memwatch: pid %u: %d allocator probes on %s\n", pid, n, what);
	if (t->duty_off || t->guard_off)
		mw_mprobe_detach(&t->probe);
	return 0;
}

void mw_mtrace_exec(struct mw_mtrace *t, uint32_t pid)
{
	struct mproc *p = proc_of(t, pid, false);

	if (p)
		p->done = p->exiting = false;
	mw_leak_forget_pid(&t->leak, pid);
	mw_sym_invalidate(t->sym, pid);
	attach_pid(t, pid, true, true);
}

int mw_mtrace_add_pid(struct mw_mtrace *t, uint32_t pid, bool before_libs)
{
	return attach_pid(t, pid, before_libs, false);
}

static void set_attached(struct mw_mtrace *t)
{
	bool want = !t->duty_off && !t->guard_off;

	if (want && !t->probe.attached) {
		mw_mprobe_reset_guard(&t->probe);
		mw_mprobe_reattach(&t->probe);
	} else if (!want && t->probe.attached) {
		mw_mprobe_detach(&t->probe);
	}
}

static void report_proc(struct mw_mtrace *t, struct mproc *mp, uint64_t now, bool final);

/* Processes stopped in exit(): their last report, while their heaps are still there. */
static void report_exiting(struct mw_mtrace *t, uint64_t now)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		struct mproc *p = &t->procs[i];

		if (!p->exiting || p->done)
			continue;
		report_proc(t, p, now, true);
		p->done = true;
		p->exiting = false;
		kill((pid_t)p->pid, SIGCONT);
	}
}

void mw_mtrace_tick(struct mw_mtrace *t, uint64_t now)
{
	const struct mw_malloc_config *m = &t->cfg->mal;
	uint64_t rate;

	report_exiting(t, now);
	if (m->duty_period_s && now >= t->next_duty_ns) {
		t->duty_off = !t->duty_off;
		t->next_duty_ns = now + (uint64_t)((t->duty_off ? m->duty_period_s - m->duty_on_s
								: m->duty_on_s) * 1e9);
	}
	if (!t->guard_off && mw_mprobe_tripped(&t->probe, &rate)) {
		t->guard_off = true;
		t->guard_until_ns = now + t->backoff_ns;
		mw_out_malloc_guard(&t->s->out, (uint64_t)((int64_t)now + t->mono_to_epoch), rate,
				    m->max_probe_rate, t->backoff_ns);
		if (t->backoff_ns < MAX_BACKOFF_NS)
			t->backoff_ns *= 2;
	} else if (t->guard_off && now >= t->guard_until_ns) {
		t->guard_off = false;
	}
	set_attached(t);
}

void mw_mtrace_detach(struct mw_mtrace *t)
{
	mw_mprobe_detach(&t->probe);
}

static void heap_spans(const struct mw_process *p, struct mw_heap_span **out, size_t *n)
{
	size_t na = p->alloc ? mw_alloc_narenas(p->alloc) : 0, cap = 1, k = 0;
	struct mw_heap_span *v;

	for (size_t i = 0; i < na; i++)
		cap += mw_alloc_arena(p->alloc, i)->nheaps;
	v = calloc(cap, sizeof(*v));
	*out = v;
	*n = 0;
	if (!v)
		return;
	if (p->start_brk && p->brk > p->start_brk)
		v[k++] = (struct mw_heap_span){ MW_ARENA_MAIN, p->start_brk, p->brk };
	for (size_t i = 0; i < na; i++) {
		const struct mw_arena *a = mw_alloc_arena(p->alloc, i);

		for (size_t h = 0; h < a->nheaps; h++)
			if (a->heaps[h].rw_end > a->heaps[h].base)
				v[k++] = (struct mw_heap_span){ a->id, a->heaps[h].base,
								a->heaps[h].rw_end };
	}
	*n = k;
}

static void confirm(void *ctx, uint64_t addr, const struct mw_live *v)
{
	struct mw_mtrace *t = ctx;
	struct mw_block b = {
		.addr = addr, .size = v->size, .ts_ns = v->ts_ns, .pid = v->tgid, .tid = v->tid,
		.weight = (float)weight_of(&t->cfg->mal, v->size),
	};

	mw_leak_confirm(&t->leak, &b);
}

/* Records were lost: the kernel's outstanding table says which blocks are live. */
static void sync_with_kernel(struct mw_mtrace *t, struct mproc *mp, uint64_t drops)
{
	mw_mprobe_live(&t->probe, mp->pid, confirm, t);
	mw_leak_sweep(&t->leak, mp->pid);
	mp->synced_drops = drops;
}

static void report_proc(struct mw_mtrace *t, struct mproc *mp, uint64_t now, bool final)
{
	FILE *folded = final ? t->folded : NULL;
	const struct mw_malloc_config *m = &t->cfg->mal;
	const struct mw_process *p = mw_model_find(&t->s->model, mp->pid);
	uint64_t ts = (uint64_t)((int64_t)now + t->mono_to_epoch);
	uint64_t min_age = (uint64_t)(m->min_age_s * 1e9);
	struct mw_leak_row *rows = NULL, *all = NULL, *by_count = NULL;
	struct mw_malloc_sum sum = {
		.pid = mp->pid,
		.comm = p ? p->comm : mp->comm,
		.allocator = mp->allocator,
		.estimated = m->sample_every > 1 || m->sample_bytes,
		.est_bytes = mp->est_bytes,
		.est_count = mp->est_count,
		.unwind_failed = t->unwind_failed,
		.stacks_full = t->leak.stacks_full,
	};
	char sampling[48] = "off";
	long n, nall;

	mw_mprobe_stats(&t->probe, &sum.st);
	if (sum.st.rb_drops > mp->synced_drops)
		sync_with_kernel(t, mp, sum.st.rb_drops);

	if (m->sample_every > 1)
		snprintf(sampling, sizeof(sampling), "every %u", m->sample_every);
	else if (m->sample_bytes)
		snprintf(sampling, sizeof(sampling), "bytes %llu", (unsigned long long)m->sample_bytes);
	sum.sampling = sampling;
	mw_mprobe_counters(&t->probe, mp->pid, &sum.c);
	nall = mw_leak_aggregate(&t->leak, mp->pid, UINT64_MAX, false, &all);
	for (long i = 0; i < nall; i++) {
		sum.out_bytes += all[i].bytes;
		sum.out_count += all[i].count;
	}
	mw_out_malloc_sum(&t->s->out, ts, &sum);
	n = mw_leak_aggregate(&t->leak, mp->pid, now > min_age ? now - min_age : 0, false, &rows);
	if (n >= 0 && (by_count = malloc(((size_t)n + 1) * sizeof(*by_count)))) {
		memcpy(by_count, rows, (size_t)n * sizeof(*rows));
		mw_leak_aggregate_sort(by_count, (size_t)n, true);
		mw_out_leaks(&t->s->out, ts, &t->leak, rows, by_count, (size_t)n, m->min_age_s, now,
			     sum.estimated);
		if (folded)
			mw_leak_folded(folded, &t->leak, rows, (size_t)n);
	}
	/* Growth is measured between reports of all blocks, whatever --min-age. */
	if (nall > 0)
		mw_leak_mark(&t->leak, all, (size_t)nall);
	if (p && (!p->alloc || mw_alloc_allocator(p->alloc) == MW_ALLOCATOR_GLIBC ||
		  mw_alloc_allocator(p->alloc) == MW_ALLOCATOR_UNKNOWN)) {
		struct mw_heap_span *spans;
		struct mw_retention *r;
		size_t ns, nr;

		heap_spans(p, &spans, &ns);
		r = calloc(ns ? ns : 1, sizeof(*r));
		if (spans && r && ns) {
			nr = mw_retention_compute(&t->leak, mp->pid, spans, ns, MW_TRIM_THRESHOLD, r);
			mw_out_retention(&t->s->out, ts, mp->pid, &t->leak, r, nr, sum.estimated);
		}
		free(r);
		free(spans);
	}
	free(rows);
	free(all);
	free(by_count);
}

void mw_mtrace_report(struct mw_mtrace *t, bool final)
{
	uint64_t now = mw_now_ns(CLOCK_MONOTONIC);

	report_exiting(t, now);
	for (size_t i = 0; i < t->nprocs; i++)
		if (!t->procs[i].done)
			report_proc(t, &t->procs[i], now, final);
	if (t->folded)
		fflush(t->folded);
}

void mw_mtrace_free(struct mw_mtrace *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].exiting)
			kill((pid_t)t->procs[i].pid, SIGCONT);
	if (t->folded)
		fclose(t->folded);
	if (t->probe.skel)
		mw_mprobe_close(&t->probe);
	mw_leak_destroy(&t->leak);
	if (t->sym)
		mw_sym_free(t->sym);
	free(t->procs);
	free(t);
}
