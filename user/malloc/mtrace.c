// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocator probes in a live session: records -> stacks -> leak tables -> reports. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
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
#include "budget.h"
#include "base/text.h"
#include "ledger/procfs.h"
#include "mledger.h"
#include "mprobe.h"
#include "msampler.h"
#include "mtrace.h"
#include "mwalk.h"
#include "sampler/sampler.h"
#include "session/session.h"
#include "stacks/ustack.h"

#define MAX_BACKOFF_NS (64 * 1000000000ULL)
/* The budget's samples: at most this often, and the horizon of each decision (the
 * event loop's period). */
#define BUDGET_TICK_NS (20 * 1000000ULL)
/* Costs assumed when they cannot be measured here (said so: "calibrated": false). */
#define DEFAULT_ENTER_NS 3000.0
#define DEFAULT_RET_NS 3000.0
/* The in-process samplers' rings are read at least this often (sampler.h: MWS_RING_SLOTS). */
#define RING_TICK_NS (10 * 1000000ULL)

_Static_assert(MW_MREGS == MW_USTACK_NREGS, "register sets");

/* What only the live side knows of a process. */
struct mlive {
	uint32_t pid;
	bool exiting;	       /* stopped in exit(): report, then resume it */
	uint64_t synced_drops; /* ring drops already reconciled with the kernel's table */
	uint64_t maps_read_ns; /* when its maps were last dropped for being stale */
	bool unwound;	       /* an unwind of it has found frames */
	uint32_t early_reads;  /* maps read again before that */
	uint64_t unwind_failed;
	/* The in-process sampler's table of sampled blocks, from its load base (0: none, or
	 * its free probe is attached); table_lost: it could not be read, said once. */
	uint64_t table_off;
	uint64_t unsynced; /* samples since it was last read */
	bool table_lost;
	/* Its ring (the probe-free sample path): its header's place from the load base, 0:
	 * none; the header's address once the library is mapped; the reader's state. */
	uint64_t ring_off, ring_hdr, ring_read_ns;
	struct mw_mring ring;
	bool ring_failed; /* said once */
	/* Its allocator probes and their overhead budget (accounting: see mw_mtrace). */
	bool probed;	  /* probes were attached to it */
	bool gone;	  /* /proc has it no more: accounting stopped */
	bool want;	  /* the budget wants its probes attached */
	bool attached;	  /* its probes are attached */
	bool to_ledger;	  /* detached: the ledger has not been told yet */
	bool ended;	  /* its escalation ended: detached whatever the budget wants */
	uint64_t dark_ns; /* when its probes were last detached, 0 = never */
	uint64_t next_sample_ns;
	struct mw_budget bud;
	struct mw_mbudget_entry dark_e; /* the budget's state at the last detach, for the ledger */
	/* Its read and write system calls (/proc/PID/io), at the last sample, since the
	 * first, and of them while attached: what the ledger's estimates weigh by. */
	bool io_ok;
	uint64_t io_last, io_all, io_att;
	uint64_t rd_last, rd_all, rd_att; /* of them the reads */
};

struct mw_mtrace {
	const struct mw_config *cfg;
	struct mw_session *s;
	struct ring_buffer *rb; /* both rings: the syscall one (the heaps) and this one */
	struct mw_mprobe probe;
	struct mw_symbolizer *sym;
	struct mw_mledger ml;
	bool ml_ready;
	struct mw_mwalk *walk; /* blocks made before an attach */
	struct mlive *procs;
	size_t nprocs, cap;
	/* duty cycle and rate guard: the probes are attached when neither holds them off,
	 * nor the process's overhead budget */
	bool duty_off, guard_off;
	uint64_t next_duty_ns, guard_until_ns, backoff_ns;
	/* Cost accounting: with a budget, --duty or --max-probe-rate (something detaches). */
	bool accounting, calibrated;
	bool global_on; /* neither --duty nor the guard holds the probes off */
	struct mw_mcost cost;
	/*
	 * The probes' duty cycle, guard and budgets run in their own thread, every 50
	 * ms whatever the event loop is doing: unwinding the records of a busy target
	 * (or loading a module's debuginfo) may keep it away for longer than a budget
	 * allows. mu guards the probes (mprobe), procs and their budgets; what the
	 * ledger must learn (detached windows, guard trips) waits in them until the
	 * event loop's thread, which alone owns the ledger, takes it (flush_pending).
	 */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the thread, for a window that ends before its next tick */
	uint64_t wake_end;   /* that window's end */
	pthread_t thread;
	bool thread_on;
	bool stop;	    /* atomic: the thread ends */
	bool pending;	    /* atomic: something for the ledger */
	bool guard_pending; /* g below */
	struct mw_mguard_entry guard;
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
 * process, or there is no frame: code mapped since it read the maps (dlopen). Drop its view of the
 * process, at most once a second, so that the next unwind reads them again.
 */
static bool stale_maps(struct mw_mtrace *t, struct mlive *p, const uint64_t *ips, int n,
		       uint64_t ts)
{
	struct mw_frame f;

	/* Not at once again, unless no unwind of the process has worked yet (its start; a few). */
	if (!p || (p->maps_read_ns && ts < p->maps_read_ns + 1000000000ULL &&
		   (p->unwound || p->early_reads >= 16)))
		return false;
	/* No frame at all: the first, in a library mapped since (a sampler's ring is read early). */
	if (n > 0 && mw_sym_resolve_ip(t->sym, p->pid, ips[n - 1], 1, &f) == 0 && f.module)
		return false;
	mw_sym_invalidate(t->sym, p->pid);
	p->maps_read_ns = ts;
	p->early_reads += !p->unwound;
	return true;
}

static void sampler_frees(struct mw_mtrace *t, struct mlive *p, uint64_t now);

static void on_alloc(struct mw_mtrace *t, const struct mw_event *ev)
{
	struct mw_ustack_capture cap = { .pid = ev->pid, .tid = ev->tid };
	uint64_t ips[MW_LEAK_MAX_FRAMES];
	struct mlive *p;
	int n;

	pthread_mutex_lock(&t->mu); /* procs may grow; only this thread moves them */
	p = live_of(t, ev->pid, true);
	pthread_mutex_unlock(&t->mu);
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
	} else if (p) {
		p->unwound = true;
	}
	mw_mledger_alloc(&t->ml, ev, ips, (uint32_t)n, name_stack, t);
	/*
	 * The sampler's table holds at most MWS_TABLE_BLOCKS live samples: after as many
	 * samples, the ledger holds mostly freed ones. Read it now, not only at the next
	 * report, so that they do not crowd the live ones out of the ledger.
	 */
	if (p && p->table_off && ++p->unsynced >= MWS_TABLE_BLOCKS)
		sampler_frees(t, p, mw_now_ns(CLOCK_MONOTONIC));
}

struct ring_ctx {
	struct mw_mtrace *t;
	uint32_t pid;
};

/* A record of a sampler's ring: unwound and recorded as an alloc probe's would be. */
static void on_ring_rec(void *ctx, const struct mws_rec *r)
{
	struct ring_ctx *rc = ctx;
	struct mw_event ev;

	if (!mw_msampler_ring_event(r, rc->pid, rc->t->cfg->mal.stack_bytes, &ev))
		return;
	ev.ts_ns = ev.mono_ns + (uint64_t)rc->t->s->dctx.mono_to_epoch_ns;
	on_alloc(rc->t, &ev);
}

/*
 * Read the process's ring (at its tick, its wake-up and each report; stopped:
 * it is held at exit(), so nothing is being written and nothing more comes).
 */
static void ring_drain(struct mw_mtrace *t, uint32_t pid, bool stopped)
{
	struct ring_ctx rc = { t, pid };
	struct mlive *p = live_of(t, pid, false);
	struct mw_mring c;
	uint64_t base, hdr;
	int ret;

	if (!p || !p->ring_off || p->gone)
		return;
	p->ring_read_ns = mw_now_ns(CLOCK_MONOTONIC);
	if (!p->ring_hdr) {
		base = mw_msampler_base(pid);
		if (!base)
			return; /* not mapped yet (a launched command before its libraries) */
		p->ring_hdr = base + p->ring_off;
	}
	hdr = p->ring_hdr;
	/* A copy: on_alloc may move procs (it does not add, but keep to what it owns). */
	c = p->ring;
	ret = mw_msampler_ring_read(pid, hdr, &c, stopped, on_ring_rec, &rc);
	p = live_of(t, pid, false);
	if (!p)
		return;
	p->ring = c;
	/* Gone, or an exec not seen yet (the next attach reads the new image's): -v says so. */
	if (ret && ret != -ENOMEM && ret != -ESRCH && !p->ring_failed && t->cfg->verbose) {
		p->ring_failed = true;
		mw_p_err("pid %u: cannot read the sampler's ring: %s", pid, strerror(-ret));
	}
}

static void flush_pending(struct mw_mtrace *t);

static int on_record(void *ctx, void *data, size_t size)
{
	struct mw_mtrace *t = ctx;
	struct mw_event ev;

	/* A detached window is known to the ledger before the frees read after it. */
	if (__atomic_load_n(&t->pending, __ATOMIC_ACQUIRE))
		flush_pending(t);

	if (mw_decode(&t->s->dctx, data, size, &ev))
		return mw_session_bad_record(t->s, data, size);
	switch (ev.kind) {
	case MW_EV_MALLOC: on_alloc(t, &ev); break;
	case MW_EV_MFREE: mw_mledger_free(&t->ml, &ev, data, size); break;
	case MW_EV_MWAKE: ring_drain(t, ev.pid, false); break;
	case MW_EV_MEXIT: {
		/* Reported at the next tick, after the syscall ring is read up to here too. */
		struct mw_mproc *mp = mw_mledger_find(&t->ml, ev.pid);
		struct mlive *p = live_of(t, ev.pid, false); /* only this thread adds */

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

static uint64_t probes_tick(struct mw_mtrace *t, uint64_t now);

static void *budget_thread(void *arg)
{
	struct mw_mtrace *t = arg;
	uint64_t wake = mw_now_ns(CLOCK_MONOTONIC) + BUDGET_TICK_NS, now, end;

	pthread_mutex_lock(&t->mu);
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		struct timespec at = { (time_t)(wake / 1000000000ULL),
				       (long)(wake % 1000000000ULL) };

		/* Until the next tick, the end of a window planned shorter, or a new process's
		 * first window (woken: its end is planned). */
		int rc = pthread_cond_timedwait(&t->wake, &t->mu, &at);

		if (__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE))
			break;
		if (rc != ETIMEDOUT) {
			end = t->wake_end;
			now = mw_now_ns(CLOCK_MONOTONIC);
			if (end > now && end < wake)
				wake = end;
			if (end > now)
				continue;
		}
		now = mw_now_ns(CLOCK_MONOTONIC);
		end = probes_tick(t, now);
		now = mw_now_ns(CLOCK_MONOTONIC);
		wake = now + BUDGET_TICK_NS;
		/* (Not at once for an end already past: the next tick takes it.) */
		if (end && end < wake)
			wake = end > now ? end : now + BUDGET_TICK_NS / 20;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/* Signals stay with the event loop: the thread starts with all of them blocked. */
static int start_thread(struct mw_mtrace *t)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t->thread, NULL, budget_thread, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	t->thread_on = !err;
	return err;
}

static void stop_thread(struct mw_mtrace *t)
{
	if (!t->thread_on)
		return;
	pthread_mutex_lock(&t->mu);
	__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
	t->wake_end = 0;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	t->thread_on = false;
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
	pthread_condattr_t ca;
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
	t->global_on = true;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &ca);
	pthread_condattr_destroy(&ca);
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
	if (!t->probe.multi)
		mw_p_err("kernel lacks uprobe_multi links: --malloc attaches one perf-event uprobe "
			 "per function instead (slower to attach and detach)");
	/* Something may detach the probes: their cost is accounted, from measured costs. */
	t->accounting = m->max_overhead_pct > 0 || m->duty_period_s || m->max_probe_rate;
	if (t->accounting) {
		ret = mw_mprobe_calibrate(&t->probe, &t->cost);
		t->calibrated = !ret;
		if (ret) {
			t->cost = (struct mw_mcost){ DEFAULT_ENTER_NS, DEFAULT_RET_NS };
			if (cfg->verbose)
				mw_p_err("cannot measure what a probe hit costs here (%s): "
					 "assuming %.0f ns per entry and return",
					 strerror(-ret), DEFAULT_ENTER_NS);
		} else if (cfg->verbose) {
			mw_p_err("a probe hit costs %.0f ns at entry, %.0f ns at return",
				 t->cost.enter_ns, t->cost.ret_ns);
		}
	}
	/*
	 * The layout of each -p target's libc, read before the allocation ring is mapped:
	 * reading it decompresses libc's debuginfo for a moment (about 14 MB, freed right
	 * after), and the ring's pages (16 MB resident, as libbpf maps its data twice) are
	 * resident from their mapping on. Read after, memwatch's peak was both together.
	 */
	for (size_t i = 0; !m->sampler && i < cfg->npids; i++)
		mw_mwalk_prefetch(t->walk, cfg->pids[i]);
	ret = ring_buffer__add(rb, mw_mprobe_ring_fd(&t->probe), on_record, t);
	t->rb = rb;
	if (ret) {
		mw_fail(err, errsz, -1, "cannot read the allocator ring: %s", strerror(-ret));
		goto fail;
	}
	if (m->duty_period_s)
		t->next_duty_ns = mw_now_ns(CLOCK_MONOTONIC) + (uint64_t)(m->duty_on_s * 1e9);
	/* --escalate-for: the thread starts with the first escalation; until then its wake-ups
	 * (20 a second) would be the armed daemon's largest cost. */
	if (t->accounting && !m->escalate && start_thread(t)) {
		mw_fail(err, errsz, -1, "cannot start the probes' budget thread");
		goto fail;
	}
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
 * A process whose in-process sampler reports its samples: a probe hit per sample,
 * a cost the sampler bounds itself, so no budget (its hits are not counted), but
 * --duty and the rate guard take its probes away as any other's.
 */
static void sampler_pid(struct mw_mtrace *t, uint32_t pid, uint64_t now, uint64_t cpu)
{
	struct mw_mbudget_ctr zero = {};
	struct mlive *p;

	pthread_mutex_lock(&t->mu);
	p = live_of(t, pid, true);
	if (p && !p->probed) {
		p->probed = true;
		p->attached = true;
		mw_budget_init(&p->bud, 0, &t->cost, BUDGET_TICK_NS);
		p->want = mw_budget_sample(&p->bud, now, cpu, &zero, true, false);
		mw_budget_attached(&p->bud, now);
		p->next_sample_ns = now + BUDGET_TICK_NS;
	}
	if (p && p->probed && (!p->attached || t->duty_off || t->guard_off)) {
		mw_mprobe_detach_pid(&t->probe, pid);
		p->attached = false;
	}
	pthread_mutex_unlock(&t->mu);
}

/*
 * quiet: an exec seen late, the image may be gone already: say nothing but
 * with -v. Only a launched command is stopped before its first allocation;
 * any other process is walked for the blocks it made before (not one whose
 * in-process sampler reports: it reports the frees of its samples only).
 */
static int attach_pid(struct mw_mtrace *t, uint32_t pid, bool before_libs, bool quiet)
{
	char what[256] = "", comm[MW_COMM_LEN] = "", qwhat[MW_TEXT_ROOM(256)];
	bool midlife = !before_libs || quiet;
	uint64_t cpu = 0, now = mw_now_ns(CLOCK_MONOTONIC), table_off = 0, ring_off = 0, t0;
	uint64_t attach_ns;
	struct mlive *p;
	int n;

	mw_read_comm(pid, pid, comm);
	/* The budget's account opens before the first hit can happen. */
	mw_read_cpu_ns(pid, &cpu);
	/* The in-process sampler where it interposes malloc: a probe hit per sample. */
	pthread_mutex_lock(&t->mu); /* its links join the probes' tables */
	n = mw_msampler_attach(&t->probe, &t->ml, pid, comm, before_libs, &table_off, &ring_off,
			       what, sizeof(what));
	p = live_of(t, pid, true);
	if (p) {
		p->table_off = n == MW_MSAMPLER_ATTACHED ? table_off : 0;
		p->table_lost = false;
		/* An exec: another image, another ring (the process is read afresh). */
		p->ring_off = n == MW_MSAMPLER_ATTACHED ? ring_off : 0;
		p->ring_hdr = 0;
		memset(&p->ring, 0, sizeof(p->ring));
	}
	pthread_mutex_unlock(&t->mu);
	if (n != MW_MSAMPLER_NONE && n != MW_MSAMPLER_BYPASSED) {
		if (n < 0 && !quiet)
			mw_p_err("pid %u: %s", pid, what);
		else if (n > 0 && t->cfg->verbose)
			mw_p_err("pid %u: allocations sampled in the process, %s", pid,
				 ring_off ? "read from its ring (no probe per sample)"
					  : "reported through its probe (a trap per sample)");
		if (n > 0)
			sampler_pid(t, pid, now, cpu);
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
	pthread_mutex_lock(&t->mu);
	p = live_of(t, pid, true);
	t0 = mw_now_ns(CLOCK_MONOTONIC);
	n = p ? mw_mprobe_add_pid(&t->probe, pid, before_libs, what, sizeof(what)) : -ENOMEM;
	attach_ns = mw_now_ns(CLOCK_MONOTONIC) - t0;
	if (n > 0 && !p->probed) {
		struct mw_mbudget_ctr zero = {};

		p->probed = true;
		p->attached = true;
		mw_budget_init(&p->bud, t->cfg->mal.max_overhead_pct, &t->cost, BUDGET_TICK_NS);
		p->want = mw_budget_sample(&p->bud, now, cpu, &zero, true, false);
		p->io_ok = !mw_read_io_calls(pid, &p->io_last, &p->rd_last);
		mw_mprobe_open_pid(&t->probe, pid); /* not held by a former process of its pid */
		mw_budget_attached(&p->bud, now);
		p->next_sample_ns = now + BUDGET_TICK_NS;
		/* Its first window is planned short: the thread must end it in time. */
		t->wake_end = mw_budget_window_end(&p->bud);
		if (t->wake_end)
			pthread_cond_signal(&t->wake);
	}
	/* New links (an exec) are attached: not while its probes are held off. */
	if (n >= 0 && p->probed && (!p->attached || t->duty_off || t->guard_off)) {
		mw_mprobe_detach_pid(&t->probe, pid);
		p->attached = false;
	}
	pthread_mutex_unlock(&t->mu);
	if (!p)
		return -ENOMEM;
	mw_mledger_proc(&t->ml, pid, comm, what, midlife ? MW_MPROC_MIDLIFE : 0);
	if (n < 0 && quiet) {
		if (t->cfg->verbose)
			mw_p_err("pid %u: no allocator probes after exec: %s", pid, strerror(-n));
		return n;
	}
	if (n < 0) {
		mw_p_err("pid %u: cannot attach allocator probes to %s: %s", pid,
			 *what ? mw_text_quote(qwhat, sizeof(qwhat), what, sizeof(what))
			       : "its allocator",
			 strerror(-n));
		return n;
	}
	if (!*what && !quiet)
		mw_p_err("pid %u: no malloc found in its executable or libraries", pid);
	else if (t->cfg->verbose)
		mw_p_err("pid %u: %d allocator probes on %s (%s, attached in %.1f ms)", pid, n,
			 mw_text_quote(qwhat, sizeof(qwhat), what, sizeof(what)),
			 t->probe.multi ? "uprobe_multi links" : "perf-event uprobes",
			 (double)attach_ns / 1e6);
	if (n > 0 && midlife)
		mw_mwalk_pid(t->walk, &t->probe, &t->ml, pid, what, t->cfg->verbose);
	return 0;
}

void mw_mtrace_exec(struct mw_mtrace *t, uint32_t pid)
{
	struct mlive *p = live_of(t, pid, false); /* the fields this thread owns */

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

/* The budget's state of p for the ledger (and the recording). */
static void budget_fill(const struct mw_mtrace *t, const struct mlive *p, uint64_t now,
			struct mw_mbudget_entry *out)
{
	const struct mw_budget *b = &p->bud;
	struct mw_mbudget_entry e = {
		.now_mono_ns = now,
		.dark_ns = p->dark_ns,
		.wall_ns = b->last_ns - b->start_ns,
		.attached_ns = b->attached_ns,
		.cpu_ns = b->cpu_ns - b->cpu0_ns,
		.enter_hits = b->c.enter_hits - b->c0.enter_hits,
		.ret_hits = b->c.ret_hits - b->c0.ret_hits,
		.body_ns = b->c.body_ns - b->c0.body_ns,
		.probe_ns = b->probe_ns,
		.enter_cost_ns = t->cost.enter_ns,
		.ret_cost_ns = t->cost.ret_ns,
		.budget_pct = b->pct,
		.pid = p->pid,
		.windows = b->windows,
		.attached = p->attached,
		.calibrated = t->calibrated,
		.io_calls = p->io_all,
		.io_calls_attached = p->io_att,
		.reads = p->rd_all,
		.reads_attached = p->rd_att,
	};

	*out = e;
}

static void budget_entry(struct mw_mtrace *t, const struct mlive *p, uint64_t now)
{
	struct mw_mbudget_entry e;

	budget_fill(t, p, now, &e);
	mw_mledger_budget(&t->ml, &e);
}

/* The process's CPU time and its probes' counters now. */
static void budget_sample(struct mw_mtrace *t, struct mlive *p, uint64_t now, bool tick)
{
	struct mw_mbudget_ctr c;
	uint64_t cpu, io, rd;

	if (mw_read_cpu_ns(p->pid, &cpu)) {
		p->gone = true;
		mw_mprobe_budget_drop(&t->probe, p->pid);
		return;
	}
	if (!mw_mprobe_budget(&t->probe, p->pid, &c))
		memset(&c, 0, sizeof(c));
	p->want = mw_budget_sample(&p->bud, now, cpu, &c, p->attached, tick);
	/* Counted as the budget counts its time: attached since the previous sample or not. */
	if (!mw_read_io_calls(p->pid, &io, &rd)) {
		if (p->io_ok && io >= p->io_last && rd >= p->rd_last) {
			p->io_all += io - p->io_last;
			p->io_att += p->attached ? io - p->io_last : 0;
			p->rd_all += rd - p->rd_last;
			p->rd_att += p->attached ? rd - p->rd_last : 0;
		}
		p->io_last = io;
		p->rd_last = rd;
		p->io_ok = true;
	}
	p->next_sample_ns = now + BUDGET_TICK_NS;
}

/* Attach or detach p's probes as its budget, --duty and the rate guard want them. */
static void apply(struct mw_mtrace *t, struct mlive *p, bool global_on)
{
	bool want = global_on && !p->ended && (p->want || !t->accounting);
	uint64_t t0, t1;

	if (want == p->attached || p->gone)
		return;
	t0 = mw_now_ns(CLOCK_MONOTONIC);
	/*
	 * A sample when the change is done, its interval counted as detached: the
	 * breakpoints go at the start of a detach and most of its time is the grace
	 * periods the links wait for, while the target runs free; they come in one after
	 * the other during an attach, which records nothing until it is done (held). (What
	 * the probes cost meanwhile is counted all the same.)
	 */
	if (want) {
		if (mw_mprobe_reattach_pid(&t->probe, p->pid)) {
			mw_mprobe_detach_pid(&t->probe, p->pid); /* it exited */
			mw_mprobe_open_pid(&t->probe, p->pid);
			return;
		}
		t1 = mw_now_ns(CLOCK_MONOTONIC);
		mw_budget_change_wall(&p->bud, true, t1 - t0);
		if (t->accounting)
			budget_sample(t, p, t1, false);
		/* Every link in, the account taken: the window's calls are recorded from here. */
		mw_mprobe_open_pid(&t->probe, p->pid);
		p->attached = true;
		/* The window opens, paid for until its next sample (its end, or a tick). */
		mw_budget_attached(&p->bud, t1);
		if (t->cfg->verbose)
			mw_p_err("pid %u: allocator probes attached again in %.1f ms", p->pid,
				 (double)(t1 - t0) / 1e6);
		p->want = true;
		return;
	}
	mw_mprobe_detach_pid(&t->probe, p->pid);
	/* After the links are gone: a free from here on may be missed. */
	p->dark_ns = mw_now_ns(CLOCK_MONOTONIC);
	if (t->cfg->verbose)
		mw_p_err("pid %u: allocator probes detached in %.1f ms", p->pid,
			 (double)(p->dark_ns - t0) / 1e6);
	p->attached = false;
	mw_budget_change_wall(&p->bud, false, p->dark_ns - t0);
	mw_budget_detached(&p->bud, t0);
	if (t->accounting)
		budget_sample(t, p, p->dark_ns, false);
	/* As of the detach: the next window may open before the event loop takes it. */
	budget_fill(t, p, p->dark_ns, &p->dark_e);
	p->to_ledger = true;
	__atomic_store_n(&t->pending, true, __ATOMIC_RELEASE);
}

/* The event loop's thread: tell the ledger what the budget thread did. */
static void flush_pending(struct mw_mtrace *t)
{
	/* Not the lock at every tick: the budget's thread holds it through a detach (tens
	 * of ms of grace periods), several times a second with short windows. */
	if (!__atomic_load_n(&t->pending, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&t->mu);
	__atomic_store_n(&t->pending, false, __ATOMIC_RELEASE);
	for (size_t i = 0; i < t->nprocs; i++) {
		if (!t->procs[i].to_ledger)
			continue;
		t->procs[i].to_ledger = false;
		mw_mledger_budget(&t->ml, &t->procs[i].dark_e);
	}
	if (t->guard_pending) {
		t->guard_pending = false;
		mw_mledger_guard(&t->ml, &t->guard);
	}
	pthread_mutex_unlock(&t->mu);
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

/*
 * The in-process sampler's frees: no probe fires for them (a probe hit per
 * sample, not two), and the kernel's outstanding table does not keep its
 * samples (malloc.bpf.c); its own table of sampled blocks says which are still
 * allocated. Every record read so far is in the ledger, each block in the
 * sampler's table before its probe fired: one that is there no more was freed.
 */
static void sampler_frees(struct mw_mtrace *t, struct mlive *p, uint64_t now)
{
	uint64_t *live = NULL;
	size_t n = 0;
	int ret = mw_msampler_table(p->pid, p->table_off, &live, &n);

	p->unsynced = 0;
	if (ret == -ENOMEM)
		return; /* the next report reads it again */
	/* Not readable: gone (or its library not mapped yet, when it has no sample either). */
	if (!ret)
		mw_mledger_sampler_sync(&t->ml, p->pid, now, live, n, true);
	else if (!p->table_lost)
		p->table_lost = mw_mledger_sampler_sync(&t->ml, p->pid, now, NULL, 0, false) > 0;
	free(live);
}

/*
 * What the ring path adds to the kernel's counters of a process (which see no
 * sample then): the sampler's sums of its samples and their weights, lost
 * records or not (the estimates), and what was lost or not kept.
 */
static void ring_counters(const struct mw_mring *r, struct mw_malloc_counters *c)
{
	c->sampled += r->samples + r->unmapped + r->full;
	c->bytes[MW_MFN_MALLOC] += r->weight;
	c->calls[MW_MFN_MALLOC] += r->count16;
	c->rb_drops += r->lost + r->unmapped + r->full;
	c->live_full += r->not_kept;
}

/* One process's report, with the kernel's counters; first, after lost records, the
 * kernel's outstanding table says which blocks are live (the sampler's table, under it). */
static void report_proc(struct mw_mtrace *t, uint32_t pid, uint64_t now, bool final)
{
	struct mw_mreport_entry in = {
		.now_mono_ns = now,
		.pid = pid,
		.final = final,
	};
	const struct mw_mproc *mp;
	struct mlive *p;

	pthread_mutex_lock(&t->mu);
	p = live_of(t, pid, true);
	if (p && p->probed && t->accounting) {
		if (!p->gone)
			budget_sample(t, p, now, false);
		p->to_ledger = false; /* this entry has its latest state */
		budget_entry(t, p, now);
	}
	pthread_mutex_unlock(&t->mu);
	mw_mprobe_stats(&t->probe, &in.st);
	/* Its ring first: the samples written so far, before the table says which are live. */
	if (p && p->ring_off) {
		ring_drain(t, pid, p->exiting);
		p = live_of(t, pid, false);
	}
	if (p)
		in.unwind_failed = p->unwind_failed;
	/* The sampler's samples are not in the kernel's table: its own says which are live. */
	if (p && p->table_off) {
		sampler_frees(t, p, now);
	} else if (p && in.st.rb_drops > p->synced_drops) {
		struct sync_buf b = {};

		mw_mprobe_live(&t->probe, pid, collect_live, &b);
		if (!b.err)
			mw_mledger_sync(&t->ml, pid, b.v, b.n);
		free(b.v);
		p->synced_drops = in.st.rb_drops;
	}
	mw_mprobe_counters(&t->probe, pid, &in.c);
	if (p && p->ring_off)
		ring_counters(&p->ring, &in.c);
	/* Blocks of unknown fate (the probes were away): a heap walk says which are still there. */
	mp = mw_mledger_find(&t->ml, pid);
	if (p && !p->gone && !p->table_off && t->walk && mp && mp->dark_ns && mp->allocator[0])
		mw_mwalk_confirm(t->walk, &t->ml, pid, mp->allocator, t->cfg->verbose);
	mw_sym_jit_recheck(t->sym, pid);
	mw_mledger_rename(&t->ml, pid, name_stack, t);
	mw_mledger_report(&t->ml, &in);
}

/* Processes stopped in exit(): their last report, while their heaps are still there. */
static void report_exiting(struct mw_mtrace *t, uint64_t now)
{
	bool any = false;

	for (size_t i = 0; i < t->nprocs; i++)
		any |= t->procs[i].exiting;
	if (!any)
		return;
	/*
	 * One pass over the rings reads the syscall ring first, then this one: when that pass
	 * takes long (a backlog of stacks to unwind on a busy host), the exit record is read
	 * after syscall records (its last brk and mmap calls) that came in meanwhile, which the
	 * report's heap spans need. The process is stopped now, so its records are all there:
	 * read them (measured: a report short of the heap's top in 5 runs of 10 with the CPUs
	 * busy, none after).
	 */
	if (t->rb)
		ring_buffer__consume(t->rb);
	for (size_t i = 0; i < t->nprocs; i++) {
		struct mlive *p = &t->procs[i];

		if (!p->exiting)
			continue;
		report_proc(t, p->pid, now, true);
		p->exiting = false;
		kill((pid_t)p->pid, SIGCONT);
	}
}

/* Duty cycle, rate guard and budgets: attach or detach each process's probes. Returns
 * the earliest end of a window planned (0: none), when the next tick must come. */
static uint64_t probes_tick(struct mw_mtrace *t, uint64_t now)
{
	const struct mw_malloc_config *m = &t->cfg->mal;
	uint64_t rate, next = 0;
	bool global_on;

	if (m->duty_period_s && now >= t->next_duty_ns) {
		t->duty_off = !t->duty_off;
		t->next_duty_ns = now + (uint64_t)((t->duty_off ? m->duty_period_s - m->duty_on_s
								: m->duty_on_s) *
						   1e9);
	}
	if (!t->guard_off && mw_mprobe_tripped(&t->probe, &rate)) {
		t->guard = (struct mw_mguard_entry){
			.now_mono_ns = now,
			.rate = rate,
			.limit = m->max_probe_rate,
			.off_ns = t->backoff_ns,
		};
		t->guard_off = true;
		t->guard_until_ns = now + t->backoff_ns;
		t->guard_pending = true;
		__atomic_store_n(&t->pending, true, __ATOMIC_RELEASE);
		if (t->backoff_ns < MAX_BACKOFF_NS)
			t->backoff_ns *= 2;
	} else if (t->guard_off && now >= t->guard_until_ns) {
		t->guard_off = false;
	}
	global_on = !t->duty_off && !t->guard_off;
	if (global_on && !t->global_on)
		mw_mprobe_reset_guard(&t->probe);
	t->global_on = global_on;
	for (size_t i = 0; i < t->nprocs; i++) {
		struct mlive *p = &t->procs[i];

		uint64_t end;

		if (!p->probed || p->gone)
			continue;
		end = mw_budget_window_end(&p->bud);
		if (t->accounting && (now >= p->next_sample_ns || (end && now >= end)))
			budget_sample(t, p, now, true);
		apply(t, p, global_on);
		end = t->accounting && p->attached ? mw_budget_window_end(&p->bud) : 0;
		if (end && (!next || end < next))
			next = end;
	}
	return next;
}

void mw_mtrace_tick(struct mw_mtrace *t, uint64_t now)
{
	report_exiting(t, now);
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].ring_off && now >= t->procs[i].ring_read_ns + RING_TICK_NS)
			ring_drain(t, t->procs[i].pid, false);
	if (!t->thread_on) {
		pthread_mutex_lock(&t->mu);
		probes_tick(t, now);
		pthread_mutex_unlock(&t->mu);
	}
	flush_pending(t);
}

void mw_mtrace_detach(struct mw_mtrace *t)
{
	stop_thread(t);
	flush_pending(t);
	mw_mprobe_detach(&t->probe);
}

void mw_mtrace_report(struct mw_mtrace *t, bool final)
{
	uint64_t now;

	/* The rings' samples so far are in before the report's time is taken. */
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].ring_off && !t->procs[i].exiting)
			ring_drain(t, t->procs[i].pid, false);
	now = mw_now_ns(CLOCK_MONOTONIC);

	report_exiting(t, now);
	for (size_t i = 0; i < t->ml.nprocs; i++)
		if (!t->ml.procs[i].done)
			report_proc(t, t->ml.procs[i].pid, now, final);
}

bool mw_mtrace_knows(struct mw_mtrace *t, uint32_t pid)
{
	struct mlive *p;
	bool known;

	pthread_mutex_lock(&t->mu);
	p = live_of(t, pid, false);
	known = p && p->probed;
	pthread_mutex_unlock(&t->mu);
	return known;
}

int mw_mtrace_escalate(struct mw_mtrace *t, uint32_t pid)
{
	struct mlive *p;
	bool again;

	if (t->accounting && !t->thread_on && start_thread(t))
		mw_p_err("cannot start the probes' budget thread: the budget is kept in the event "
			 "loop");
	pthread_mutex_lock(&t->mu);
	p = live_of(t, pid, false);
	again = p && p->probed;
	if (again)
		p->ended = false; /* the next tick attaches them, as the budget allows */
	pthread_mutex_unlock(&t->mu);
	return again ? 0 : attach_pid(t, pid, false, false);
}

void mw_mtrace_deescalate(struct mw_mtrace *t, uint32_t pid)
{
	struct mlive *p;

	pthread_mutex_lock(&t->mu);
	p = live_of(t, pid, false);
	if (p && p->probed) {
		p->ended = true;
		apply(t, p, false); /* detached now: the window is closed */
	}
	pthread_mutex_unlock(&t->mu);
	flush_pending(t);
}

/* The stack holding the most outstanding bytes of pid: its first frames' names, innermost
 * first, " < " between. 0, or -ENOENT when there is none. */
int mw_mtrace_top_stack(struct mw_mtrace *t, uint32_t pid, char *buf, size_t sz, double *bytes,
			double *count)
{
	struct mw_leak_row *rows = NULL;
	long n = mw_leak_aggregate(&t->ml.leak, pid, UINT64_MAX, false, &rows);
	const struct mw_stack_ent *st;
	size_t off = 0;

	if (n <= 0) {
		free(rows);
		return -ENOENT;
	}
	mw_leak_aggregate_sort(rows, (size_t)n, false);
	st = &t->ml.leak.stacks[rows[0].stack];
	*bytes = rows[0].bytes;
	*count = rows[0].count;
	buf[0] = '\0';
	for (uint32_t i = 0; i < st->n && i < 4 && off < sz; i++) {
		char name[128];

		mw_frame_name(st->frames ? &st->frames[i] : NULL, st->ips[i], name, sizeof(name));
		off += (size_t)snprintf(buf + off, sz - off, "%s%s", i ? " < " : "", name);
	}
	free(rows);
	return 0;
}

void mw_mtrace_report_pid(struct mw_mtrace *t, uint32_t pid)
{
	report_proc(t, pid, mw_now_ns(CLOCK_MONOTONIC), false);
}

void mw_mtrace_free(struct mw_mtrace *t)
{
	if (!t)
		return;
	stop_thread(t);
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
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->mu);
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

int mw_mtrace_wait_ms(const struct mw_mtrace *t, int ms)
{
	for (size_t i = 0; t && i < t->nprocs; i++)
		if (t->procs[i].ring_off && !t->procs[i].gone)
			return ms < (int)(RING_TICK_NS / 1000000) ? ms
								  : (int)(RING_TICK_NS / 1000000);
	return ms;
}
