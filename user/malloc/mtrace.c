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
#include "base/clock.h"
#include "base/errmsg.h"
#include "base/grow.h"
#include "base/options.h"
#include "ledger/procfs.h"
#include "mledger.h"
#include "mprobe.h"
#include "msampler.h"
#include "mtrace.h"
#include "mwalk.h"
#include "session/session.h"
#include "stacks/ustack.h"

#define MAX_BACKOFF_NS (64 * 1000000000ULL)

_Static_assert(MW_MREGS == MW_USTACK_NREGS, "register sets");

/* What only the live side knows of a process. */
struct mlive {
	uint32_t pid;
	bool exiting;	       /* stopped in exit(): report, then resume it */
	uint64_t synced_drops; /* ring drops already reconciled with the kernel's table */
	uint64_t maps_read_ns; /* when its maps were last dropped for being stale */
	uint64_t unwind_failed;
};

struct mw_mtrace {
	const struct mw_config *cfg;
	struct mw_session *s;
	struct mw_mprobe probe;
	struct mw_symbolizer *sym;
	struct mw_mledger ml;
	bool ml_ready;
	struct mw_mwalk *walk; /* blocks made before an attach */
	struct mlive *procs;
	size_t nprocs, cap;
	/* duty cycle and rate guard: the probes are attached when neither holds them off */
	bool duty_off, guard_off;
	uint64_t next_duty_ns, guard_until_ns, backoff_ns;
};

static struct mlive *live_of(struct mw_mtrace *t, uint32_t pid, bool add)
{
	struct mlive *p;

	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	if (!add || mw_grow(&t->procs, t->nprocs, &t->cap, sizeof(*t->procs), 8))
		return NULL;
	p = &t->procs[t->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

/* Name every frame of a new stack now, while the process and its files exist. */
static int name_stack(void *ctx, uint32_t pid, const uint64_t *ips, uint32_t n, struct mw_frame *f)
{
	struct mw_mtrace *t = ctx;

	for (uint32_t k = 0; k < n; k++) {
		/* All return addresses, even ips[0] (the probe is at the allocator's
		 * return): the line is the call's, just before. */
		if (mw_sym_resolve_ip(t->sym, pid, ips[k], 1, &f[k]))
			memset(&f[k], 0, sizeof(f[k]));
		f[k].addr = ips[k];
	}
	return 0;
}

/*
 * The outermost frame lies outside every file the symbolizer knows for the
 * process: code mapped since it read the maps (dlopen). Drop its view of the
 * process, at most once a second, so that the next unwind reads them again.
 */
static bool stale_maps(struct mw_mtrace *t, struct mlive *p, const uint64_t *ips, int n,
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

static void on_alloc(struct mw_mtrace *t, const struct mw_event *ev)
{
	struct mw_ustack_capture cap = { .pid = ev->pid, .tid = ev->tid };
	uint64_t ips[MW_LEAK_MAX_FRAMES];
	struct mlive *p = live_of(t, ev->pid, true);
	int n;

	memcpy(cap.regs, ev->mal.regs, sizeof(cap.regs));
	cap.stack = ev->mal.stack;
	cap.stack_len = ev->mal.stack_len;
	n = mw_sym_unwind(t->sym, &cap, ips, MW_LEAK_MAX_FRAMES);
	if (stale_maps(t, p, ips, n, ev->mono_ns))
		n = mw_sym_unwind(t->sym, &cap, ips, MW_LEAK_MAX_FRAMES);
	if (n > 0 && ev->mal.weight) /* taken in the sampler: from its caller on */
		n = (int)mw_msampler_trim(t->sym, ev->pid, ips, (uint32_t)n);
	if (n <= 0) {
		if (p)
			p->unwind_failed++;
		n = 0;
	}
	mw_mledger_alloc(&t->ml, ev, ips, (uint32_t)n, name_stack, t);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct mw_mtrace *t = ctx;
	struct mw_event ev;

	if (mw_decode(&t->s->dctx, data, size, &ev))
		return mw_session_bad_record(t->s, data, size);
	switch (ev.kind) {
	case MW_EV_MALLOC: on_alloc(t, &ev); break;
	case MW_EV_MFREE: mw_mledger_free(&t->ml, &ev, data, size); break;
	case MW_EV_MEXIT: {
		/* Reported at the next tick, when the syscall ring is read up to here too. */
		struct mw_mproc *mp = mw_mledger_find(&t->ml, ev.pid);
		struct mlive *p = live_of(t, ev.pid, false);

		if (mp && p && !mp->done)
			p->exiting = true;
		else
			kill((pid_t)ev.pid, SIGCONT);
		break;
	}
	default: break; /* not a record of this ring */
	}
	return 0;
}

struct mw_mtrace *mw_mtrace_new(const struct mw_config *cfg, struct mw_session *s,
				struct ring_buffer *rb, char *err, size_t errsz)
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
		.hold_exit = m->hold_exit ? MW_HOLD_ALL
			     : cfg->cmd	  ? MW_HOLD_CHILDREN
					  : MW_HOLD_OFF,
	};
	struct mw_mtrace *t;
	int ret;

	/* Before the command starts: it is launched with the sampler preloaded. */
	if (m->sampler && cfg->cmd && mw_msampler_preload(err, errsz))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		mw_fail(err, errsz, -1, "out of memory");
		return NULL;
	}
	t->cfg = cfg;
	t->s = s;
	t->backoff_ns = 1000000000ULL;
	if (mw_mledger_init(&t->ml, s, m, m->max_outstanding, err, errsz)) {
		free(t);
		return NULL;
	}
	t->ml_ready = true;
	/* Half the outstanding table at most: room stays for what is allocated next. */
	t->walk = mw_mwalk_new(m->max_outstanding / 2);
	t->sym = mw_sym_new();
	if (!t->sym || !t->walk) {
		mw_fail(err, errsz, -1, "cannot set up the stack unwinder");
		goto fail;
	}
	if (mw_mprobe_open(&t->probe, &o, err, errsz))
		goto fail;
	ret = ring_buffer__add(rb, mw_mprobe_ring_fd(&t->probe), on_record, t);
	if (ret) {
		mw_fail(err, errsz, -1, "cannot read the allocator ring: %s", strerror(-ret));
		goto fail;
	}
	if (m->duty_period_s)
		t->next_duty_ns = mw_now_ns(CLOCK_MONOTONIC) + (uint64_t)(m->duty_on_s * 1e9);
	return t;
fail:
	mw_mtrace_free(t);
	return NULL;
}

/* Launch mode: the command itself must be probed (an error stops the run). */
static bool cfg_launch(const struct mw_mtrace *t)
{
	return t->cfg->cmd != NULL;
}

/*
 * quiet: an exec seen late, the image may be gone already: say nothing but
 * with -v. Only a launched command is stopped before its first allocation;
 * any other process is walked for the blocks it made before (not one whose
 * in-process sampler reports: it reports the frees of its samples only).
 */
static int attach_pid(struct mw_mtrace *t, uint32_t pid, bool before_libs, bool quiet)
{
	char what[256] = "", comm[MW_COMM_LEN] = "";
	bool midlife = !before_libs || quiet;
	int n;

	if (!live_of(t, pid, true))
		return -ENOMEM;
	mw_read_comm(pid, pid, comm);
	/* The in-process sampler where it interposes malloc: a probe hit per sample. */
	n = mw_msampler_attach(&t->probe, &t->ml, pid, comm, before_libs, what, sizeof(what));
	if (n != MW_MSAMPLER_NONE && n != MW_MSAMPLER_BYPASSED) {
		if (n < 0 && !quiet)
			mw_p_err("pid %u: %s", pid, what);
		else if (n > 0 && t->cfg->verbose)
			mw_p_err("pid %u: allocations sampled in the process", pid);
		if (t->duty_off || t->guard_off)
			mw_mprobe_detach(&t->probe);
		return n < 0 ? n : 0;
	}
	if (t->cfg->mal.sampler) {
		/* --sampler: uprobes on nobody. */
		if (!quiet)
			mw_p_err(
				"pid %u: %s: no allocation probes (--sampler)", pid,
				n == MW_MSAMPLER_BYPASSED
					? "libmemwatch-sampler.so is mapped but another malloc "
					  "comes first (the executable's, or an earlier LD_PRELOAD "
					  "entry)"
					: "libmemwatch-sampler.so is not loaded");
		return cfg_launch(t) ? -ENOENT : 0;
	}
	if (n == MW_MSAMPLER_BYPASSED && !quiet)
		mw_p_err("pid %u: libmemwatch-sampler.so comes after another malloc (the "
			 "executable's, or an earlier LD_PRELOAD entry) and sees no call: uprobes "
			 "instead",
			 pid);
	*what = '\0';
	n = mw_mprobe_add_pid(&t->probe, pid, before_libs, what, sizeof(what));
	mw_mledger_proc(&t->ml, pid, comm, what, midlife ? MW_MPROC_MIDLIFE : 0);
	if (n < 0 && quiet) {
		if (t->cfg->verbose)
			mw_p_err("pid %u: no allocator probes after exec: %s", pid, strerror(-n));
		return n;
	}
	if (n < 0) {
		bool old_kernel = n == -EINVAL || n == -EOPNOTSUPP || n == -ENOTSUP;

		mw_p_err("pid %u: cannot attach allocator probes to %s: %s%s", pid,
			 *what ? what : "its allocator", strerror(-n),
			 old_kernel ? " (they need uprobe_multi links: Linux 6.6 or later)" : "");
		return n;
	}
	if (!*what && !quiet)
		mw_p_err("pid %u: no malloc found in its executable or libraries", pid);
	else if (t->cfg->verbose)
		mw_p_err("pid %u: %d allocator probes on %s", pid, n, what);
	if (n > 0 && midlife)
		mw_mwalk_pid(t->walk, &t->probe, &t->ml, pid, what, t->cfg->verbose);
	if (t->duty_off || t->guard_off)
		mw_mprobe_detach(&t->probe);
	return 0;
}

void mw_mtrace_exec(struct mw_mtrace *t, uint32_t pid)
{
	struct mlive *p = live_of(t, pid, false);

	if (p)
		p->exiting = false;
	mw_mledger_exec(&t->ml, pid);
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

struct sync_buf {
	struct mw_msync_block *v;
	size_t n, cap;
	int err;
};

static void collect_live(void *ctx, uint64_t addr, const struct mw_live *v)
{
	struct sync_buf *b = ctx;

	if (b->err || (b->err = mw_grow(&b->v, b->n, &b->cap, sizeof(*b->v), 256)))
		return;
	b->v[b->n++] = (struct mw_msync_block){ .addr = addr, .v = *v };
}

/* One process's report, with the kernel's counters; first, after lost records, the
 * kernel's outstanding table says which blocks are live. */
static void report_proc(struct mw_mtrace *t, uint32_t pid, uint64_t now, bool final)
{
	struct mw_mreport_entry in = {
		.now_mono_ns = now,
		.pid = pid,
		.final = final,
	};
	struct mlive *p = live_of(t, pid, true);

	mw_mprobe_stats(&t->probe, &in.st);
	if (p)
		in.unwind_failed = p->unwind_failed;
	if (p && in.st.rb_drops > p->synced_drops) {
		struct sync_buf b = {};

		mw_mprobe_live(&t->probe, pid, collect_live, &b);
		if (!b.err)
			mw_mledger_sync(&t->ml, pid, b.v, b.n);
		free(b.v);
		p->synced_drops = in.st.rb_drops;
	}
	mw_mprobe_counters(&t->probe, pid, &in.c);
	mw_mledger_rename(&t->ml, pid, name_stack, t);
	mw_mledger_report(&t->ml, &in);
}

/* Processes stopped in exit(): their last report, while their heaps are still there. */
static void report_exiting(struct mw_mtrace *t, uint64_t now)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		struct mlive *p = &t->procs[i];

		if (!p->exiting)
			continue;
		report_proc(t, p->pid, now, true);
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
								: m->duty_on_s) *
						   1e9);
	}
	if (!t->guard_off && mw_mprobe_tripped(&t->probe, &rate)) {
		struct mw_mguard_entry g = {
			.now_mono_ns = now,
			.rate = rate,
			.limit = m->max_probe_rate,
			.off_ns = t->backoff_ns,
		};

		t->guard_off = true;
		t->guard_until_ns = now + t->backoff_ns;
		mw_mledger_guard(&t->ml, &g);
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

void mw_mtrace_report(struct mw_mtrace *t, bool final)
{
	uint64_t now = mw_now_ns(CLOCK_MONOTONIC);

	report_exiting(t, now);
	for (size_t i = 0; i < t->ml.nprocs; i++)
		if (!t->ml.procs[i].done)
			report_proc(t, t->ml.procs[i].pid, now, final);
}

void mw_mtrace_free(struct mw_mtrace *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].exiting)
			kill((pid_t)t->procs[i].pid, SIGCONT);
	if (t->probe.skel)
		mw_mprobe_close(&t->probe);
	if (t->ml_ready)
		mw_mledger_destroy(&t->ml);
	if (t->sym)
		mw_sym_free(t->sym);
	mw_mwalk_free(t->walk);
	free(t->procs);
	free(t);
}

const struct mw_mledger *mw_mtrace_ledger(const struct mw_mtrace *t)
{
	return &t->ml;
}

void mw_mtrace_after_report(struct mw_mtrace *t, void (*fn)(void *, uint32_t, bool), void *ctx)
{
	t->ml.after_report = fn;
	t->ml.after_report_ctx = ctx;
}
