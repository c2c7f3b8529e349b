// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The live session. Order matters for exactness: BPF is attached and the
 * targets are in its filter map *before* /proc is read, so no syscall falls
 * between the baseline and the stream; events that raced the snapshot are
 * applied idempotently by the model.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "base/clock.h"
#include "daemon.h"
#include "monitor/exporter.h"
#include "launch.h"
#include "loader/loader.h"
#include "alloc/arena_limit.h"
#include "base/errmsg.h"
#include "base/grow.h"
#include "base/outfile.h"
#include "base/text.h"
#include "malloc/mtrace.h"
#include "ledger/procfs.h"
#include "wire/record.h"
#include "monitor/rotate.h"
#include "session/session.h"
#include "live.h"
#include "monitor/watch.h"
#include "monitor/incident.h"
#include "escalate.h"
#include "profile/profiles.h"
#include "profile/stackprofs.h"
#include "view/top.h"
#include "trace/perfetto.h"
#include "stacks/hints.h"
#include "stacks/ustack.h"
#include "ledger/rss_class.h"

#define POLL_MS 50
#define LIVENESS_NS 1000000000ULL
#define MAX_USDT_TRIES 4096

static volatile sig_atomic_t exiting;
static volatile sig_atomic_t reload;  /* daemon mode: SIGHUP */
static volatile sig_atomic_t forward; /* a signal sent to memwatch alone, for the command */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	exiting = 1;
	/* Ctrl-C reached the command too (its process group); kill(1) did not. */
	if (si && (si->si_code == SI_USER || si->si_code == SI_QUEUE))
		forward = sig;
	/* A second Ctrl-C kills memwatch at once (SA_RESETHAND). */
}

static void on_hup(int sig)
{
	(void)sig;
	reload = 1;
}

struct live {
	struct mw_config *cfg; /* main's; daemon mode rebuilds it on SIGHUP */
	struct mw_loader loader;
	struct mw_session s;
	struct mw_exporter *exp; /* --prometheus, or NULL */
	pid_t child;		 /* launch mode: the command */
	bool child_killed;	 /* by memwatch, which could not start tracing it */
	int child_status;
	bool child_reaped;
	uint64_t lost_reported;
	struct usdt_try {
		uint32_t pid;
		const char *name; /* interned mapping name */
	} * tried;		  /* code files offered to the USDT attacher */
	size_t ntried, cap_tried;
	uint32_t exit_tid;	   /* the thread whose exit record is being applied, and */
	uint64_t exit_ts;	   /* that record's time: the key of its final counters */
	struct mw_watch watch;	   /* --comm, --cgroup, guards (watch.c) */
	struct mw_sink *sink;	   /* the trace's output (rotate.c), NULL for /dev/null */
	const char *out_name;	   /* its name for messages */
	struct mw_mtrace *m;	   /* --malloc, else NULL */
	struct mw_profiles prof;   /* --pprof, /debug/pprof/NAME */
	bool prof_failed;	   /* a --pprof write failed: said once */
	struct mw_top *top;	   /* memwatch top, else NULL */
	struct mw_perfetto *trace; /* --perfetto, else NULL */
	struct mw_symbolizer *sym; /* --stacks, else NULL */
	struct top_slot *tops;	   /* --stacks: the threads whose stack top was looked for */
	struct mw_hints *hints;	   /* --stacks, unless MEMWATCH_NO_STACK_HINTS=1 */
	uint64_t same_unknown;	   /* calls sent without a stack whose frames were not known */
	bool rmap_said;		   /* a process too big for resident by class: said (-v) */
	struct mw_incident *inc;   /* --trigger, else NULL */
	struct mw_escalation *esc; /* --escalate-for, else NULL */
	/* Output that cannot be written is counted, logged once a second at most, and
	 * writing goes on when it can: tracing never stops for it. */
	struct mw_p_limiter out_log, back_log;
	uint64_t out_seen, out_recovered, rec_seen;
	uint64_t lost_pending; /* records lost, not yet reported (once a second at most) */
	uint64_t lost_next_ns;
	/* Code mapped where map_files could not name it: a whole /proc/PID/maps read, at most
	 * so often that it costs LIBS_SHARE of the time (a process with 60k mappings made
	 * that read cost 26 ms per code mapping). */
	struct libs_state {
		uint32_t pid;
		bool pending;	  /* a read is due once next_ns has come */
		uint64_t next_ns; /* the earliest time for the next read */
	} * libs;
	size_t nlibs, caplibs;
	size_t names_kept; /* names left by the last sweep of the pool */
};

/* Mapping names are swept when the pool has grown past twice what the last sweep kept (and
 * by NAMES_SLACK): the names of processes that are gone go, at O(1) amortized per name. */
#define NAMES_SLACK 4096

/* A whole-maps read every LIBS_SHARE times its own duration at most (2%). */
#define LIBS_SHARE 50
#define LIBS_MAX_GAP_NS 2000000000ULL

/* What the process's memory and libc say about its allocator, for the seed that
 * follows (glibc's arena list, its chunks, the threads' stacks). */
static int read_facts(struct live *l, uint32_t pid, const char *maps_text)
{
	struct mw_alloc_facts f;
	struct mw_regions maps;
	char *env = NULL;
	size_t envlen = 0;
	int err;

	mw_regions_init(&maps);
	err = mw_maps_parse(maps_text, &maps);
	if (err) {
		mw_regions_free(&maps);
		return err;
	}
	if (mw_read_environ(pid, &env, &envlen))
		env = NULL;
	err = mw_alloc_read_facts(pid, maps_text, &maps, env, envlen, &f);
	if (!err)
		mw_session_facts(&l->s, pid, &f);
	mw_alloc_facts_free(&f);
	free(env);
	mw_regions_free(&maps);
	return err;
}

/*
 * VmSize at the baseline's instant. The calls that completed before *end (the
 * raced ones) precede the baseline; VmSize must show their changes and no
 * other: *end is taken just before a read of statm (its first number is
 * VmSize), so only a call whose exit was still on its way back when VmSize
 * was read can fall on the wrong side. Read twice, and again while VmSize
 * moved in between; settling the baseline books what is left (see
 * mw_model_settle).
 */
static int read_baseline_vm(uint32_t pid, uint64_t page_size, uint64_t *vm, uint64_t *stack,
			    uint64_t *end)
{
	uint64_t vm2, t0, t1;
	int fd, err = mw_read_vm(pid, vm, stack); /* VmStk moves only by faults: read once */

	if (err)
		return err;
	fd = mw_open_statm(pid);
	if (fd < 0)
		return fd;
	for (int i = 0; i < 16; i++) {
		err = mw_read_statm(fd, page_size, vm, end, &t1);
		if (!err)
			err = mw_read_statm(fd, page_size, &vm2, &t0, &t1);
		if (err || vm2 == *vm)
			break;
	}
	close(fd);
	return err;
}

/* Resident memory now, from the kernel's counters as /proc/PID/status shows them (a process
 * gone or without an mm keeps its last reading, or none). */
static void read_resident(struct live *l, uint32_t pid, bool start)
{
	struct mw_resident r;

	if (mw_read_resident(pid, &r) == 0)
		mw_session_resident(&l->s, pid, &r, start);
}

/*
 * --stacks: once an unwind of a thread has reached its outermost frame, the probes are told to
 * copy its stack no higher than that unwind read (mw_sym_last_top): the thread descriptor and
 * TLS above (~4 KiB a thread) stay out of every later record. Learnt from the unwinds memwatch
 * makes anyway, so it costs nothing more; a slot per tid modulo TOP_SLOTS says the kernel has
 * it (a collision only means telling it again).
 */
#define TOP_SLOTS 16384

struct top_slot {
	uint32_t tid;
	bool set;
};

static void tell_stack_top(struct live *l, uint32_t tid)
{
	uint64_t top = mw_sym_last_top(l->sym);
	struct top_slot *t;

	if (!l->tops || !top)
		return;
	t = &l->tops[tid % TOP_SLOTS];
	if (t->tid == tid && t->set)
		return;
	*t = (struct top_slot){ .tid = tid };
	t->set = !mw_loader_set_stack_top(&l->loader, tid, top);
}

/* A thread has exited (the kernel dropped its top): a new thread with its tid looks again. */
static void forget_stack_top(struct live *l, uint32_t tid)
{
	if (l->tops && l->tops[tid % TOP_SLOTS].tid == tid)
		l->tops[tid % TOP_SLOTS] = (struct top_slot){ 0 };
}

/* Name frames already unwound; *stale where a frame's module is not known yet. */
static void name_ips(struct mw_symbolizer *sym, uint32_t pid, const uint64_t *ips, int n,
		     struct mw_sframe *f, bool *stale)
{
	*stale = false;
	for (int i = 0; i < n; i++) {
		struct mw_frame fr;

		f[i] = (struct mw_sframe){ .addr = ips[i] };
		if (mw_sym_resolve_ip(sym, pid, ips[i], i > 0, &fr) || !fr.module) {
			*stale = true;
			continue;
		}
		f[i].module = fr.module;
		f[i].func = fr.func;
		f[i].offset = fr.func ? fr.offset : 0;
	}
}

/* Unwind and name one syscall's frames (ips: MW_SSTACK_MAX, its return addresses). */
static int unwind_named(struct mw_symbolizer *sym, const struct mw_ustack_capture *c, uint64_t *ips,
			struct mw_sframe *f, size_t max, bool *stale)
{
	int n = mw_sym_unwind(sym, c, ips, max < MW_SSTACK_MAX ? max : MW_SSTACK_MAX);

	name_ips(sym, c->pid, ips, n, f, stale);
	return n;
}

/* After a stack copy was unwound to ips: a hint for the next calls of its (tid, rip), when one
 * is due and the frames depend on nothing but the words the unwind read and rip, rsp, rbp
 * (unwound again from those alone, they must come out the same). */
static void offer_hint(struct live *l, const struct mw_event *ev, const struct mw_ustack_capture *c,
		       const uint64_t *ips, int n)
{
	uint64_t again[MW_SSTACK_MAX];
	struct mw_ustack_reads r;
	struct mw_stack_hint h;
	int err;

	if (!mw_hints_due(l->hints, c->pid, c->tid, c->regs[16], ev->mono_ns) || n <= 0)
		return;
	if (mw_sym_unwind_reads(l->sym, c, again, MW_SSTACK_MAX, &r) != n ||
	    memcmp(again, ips, (size_t)n * sizeof(*ips)) || !mw_hints_build(c, ev->mono_ns, &r, &h))
		return;
	err = mw_loader_set_stack_hint(&l->loader, &h);
	mw_hints_installed(l->hints, &h, c->pid, mw_sym_proc_serial(l->sym, c->pid), ips, n, !err,
			   mw_now_ns(CLOCK_MONOTONIC));
}

static int name_syscall_stack(void *ctx, const struct mw_event *ev, struct mw_sframe *f, size_t max)
{
	struct live *l = ctx;
	struct mw_ustack_capture c = { .pid = ev->pid, .tid = ev->tid };
	uint64_t ips[MW_SSTACK_MAX];
	bool stale;
	int n;

	_Static_assert(MW_SYS_NREGS == MW_USTACK_NREGS, "one register order");
	_Static_assert(MW_USTACK_READS_MAX == MW_HINT_WORDS, "one hint size");
	_Static_assert(MW_SSTACK_MAX == MW_HINT_FRAMES, "a hint keeps a whole stack");
	if (ev->kind != MW_EV_FAULT && ev->sc.same_ts) {
		n = l->hints ? mw_hints_frames(l->hints, ev->pid, ev->tid, ev->sc.same_ip,
					       ev->sc.same_ts, mw_sym_proc_serial(l->sym, ev->pid),
					       ips, max)
			     : 0;
		if (!n)
			l->same_unknown++;
		name_ips(l->sym, ev->pid, ips, n, f, &stale);
		if (stale) { /* the frames stand; only their names are read again */
			mw_sym_invalidate(l->sym, ev->pid);
			name_ips(l->sym, ev->pid, ips, n, f, &stale);
		}
		return n;
	}
	if (ev->kind == MW_EV_FAULT) { /* --fault-stacks: the registers at the fault */
		memcpy(c.regs, ev->flt.regs, sizeof(c.regs));
		c.stack = ev->flt.stack;
		c.stack_len = ev->flt.stack_len;
	} else {
		memcpy(c.regs, ev->sc.regs, sizeof(c.regs));
		c.stack = ev->sc.stack;
		c.stack_len = ev->sc.stack_len;
	}
	n = unwind_named(l->sym, &c, ips, f, max, &stale);
	if (stale) {
		mw_sym_invalidate(l->sym, ev->pid);
		n = unwind_named(l->sym, &c, ips, f, max, &stale);
	}
	if (!stale)
		tell_stack_top(l, c.tid);
	if (!stale && l->hints && ev->kind != MW_EV_FAULT && max >= MW_SSTACK_MAX)
		offer_hint(l, ev, &c, ips, n);
	return n;
}

struct present_ctx {
	uint32_t pid;
	uint64_t page_size;
};

static int present_now(void *ctx, uint64_t start, uint64_t end, uint64_t *bytes)
{
	const struct present_ctx *pc = ctx;

	return mw_read_present(pc->pid, start, end, pc->page_size, bytes);
}

/* Resident bytes by class and arena at a report: /proc/PID/smaps once, placed on the map. A
 * process with more mappings than MW_RSS_CLASS_MAX_MAPS is not read (unknown): said once. */
static int rmap_now(void *ctx, const struct mw_process *p, struct mw_resident_map *out)
{
	struct live *l = ctx;
	struct present_ctx pc = { .pid = p->pid, .page_size = l->s.model.page_size };
	struct mw_rss *v = NULL;
	size_t n = p->regions.n;
	int err = n > MW_RSS_CLASS_MAX_MAPS ? -E2BIG : mw_read_smaps(p->pid, &v, &n);

	if (!err && n > MW_RSS_CLASS_MAX_MAPS)
		err = -E2BIG;
	if (err == -E2BIG && l->cfg->verbose && !l->rmap_said) {
		mw_p_err("pid %u: %zu mappings, more than %d: resident by class not read (unknown)",
			 p->pid, n, MW_RSS_CLASS_MAX_MAPS);
		l->rmap_said = true;
	}
	if (!err)
		err = mw_rss_place(&p->regions, v, n, present_now, &pc, out);
	free(v);
	return err;
}

static int resident_now(void *ctx, uint32_t pid, struct mw_resident *r)
{
	(void)ctx;
	return mw_read_resident(pid, r);
}

/* Baseline (or resync) of one process from /proc, taken after it is in the BPF filter. */
static int seed_from_proc(struct live *l, uint32_t pid, bool resync, bool after_exec)
{
	uint64_t start_brk = 0, vm = 0, stack = 0, snap_end = 0;
	struct mw_maps_piece *pieces = NULL;
	char *text = NULL, comm[MW_COMM_LEN];
	uint32_t *tids = NULL;
	size_t ntids = 0, envlen = 0, npieces = 0;
	char exe[4096] = "", path[64];
	ssize_t n;
	int err = 0;

	/* The executable's name before its maps: a process that exits meanwhile has no
	 * name any more, and its mappings would not be known as the executable's. */
	if (after_exec) {
		snprintf(path, sizeof(path), "/proc/%u/exe", pid);
		n = readlink(path, exe, sizeof(exe) - 1);
		if (n <= 0)
			return n ? -errno : -ESRCH;
		exe[n] = '\0';
	}
	/* After an exec nothing raced: the calls since are all in the stream. The maps
	 * first, right after the process joined the filter: the fewer calls complete
	 * before it is read, the fewer the snapshot shows already. */
	err = after_exec ? mw_read_maps_text(pid, &text)
			 : mw_read_maps_timed(pid, &text, &pieces, &npieces);
	if (!err && !after_exec && !resync)
		err = read_baseline_vm(pid, l->s.model.page_size, &vm, &stack, &snap_end);
	else if (!err && resync)
		snap_end = mw_now_ns(CLOCK_MONOTONIC);
	else if (!err)
		err = mw_read_vm(pid, &vm, &stack);
	if (!err && !resync)
		err = mw_read_start_brk(pid, &start_brk);
	/*
	 * After an exec the image has run on while its record was queued: keep
	 * only what exec itself mapped, and let the stream's calls (all of them
	 * after the exec) build the rest, exactly as in launch mode.
	 */
	if (!err && after_exec) {
		char *base = NULL;

		err = mw_maps_exec_baseline(text, exe, &base, &vm);
		if (!err) {
			free(text);
			text = base;
		}
	}
	if (!err && npieces)
		err = mw_session_pieces(&l->s, pid, pieces, npieces);
	if (!err && !resync)
		err = read_facts(l, pid, text);
	if (!err)
		err = mw_session_seed(&l->s, pid, text, start_brk, vm, stack, snap_end, resync);
	free(pieces);
	free(text);
	if (err || resync)
		return err;
	read_resident(l, pid, true);
	if (mw_list_tids(pid, &tids, &ntids) == 0) {
		for (size_t i = 0; i < ntids; i++)
			if (mw_read_comm(pid, tids[i], comm) == 0)
				mw_session_thread_name(&l->s, pid, tids[i], comm);
		free(tids);
	}
	/* Its environment: a preloaded allocator, and glibc's arena limit. */
	if (mw_read_environ(pid, &text, &envlen) == 0) {
		const char *preload = mw_environ_get(text, envlen, "LD_PRELOAD");
		const char *src;

		if (preload)
			mw_session_preload(&l->s, pid, preload);
		mw_session_arena_limit(&l->s, pid,
				       mw_arena_limit(text, envlen, mw_read_online_cpus(), &src));
		free(text);
	}
	return 0;
}

/* The libc memwatch itself runs on (same mount namespace as a launched command). */
static const char *own_libc(void)
{
	struct mw_regions maps;
	const char *found = NULL;

	mw_regions_init(&maps);
	if (mw_read_maps((uint32_t)getpid(), &maps) == 0)
		for (size_t i = 0; i < maps.n && !found; i++)
			if (maps.v[i].name && maps.v[i].name[0] == '/' &&
			    mw_is_libc_path(maps.v[i].name))
				found = maps.v[i].name; /* interned: outlives maps */
	mw_regions_free(&maps);
	return found;
}

/* Was this code file of pid already offered to the USDT attacher? Marks it if not. */
static bool usdt_tried(struct live *l, uint32_t pid, const char *name)
{
	for (size_t i = 0; i < l->ntried; i++)
		if (l->tried[i].pid == pid && l->tried[i].name == name)
			return true; /* interned: same pointer, same name */
	if (l->ntried == l->cap_tried) {
		/* Bounded: forget processes that are gone before growing. */
		size_t k = 0;

		for (size_t i = 0; i < l->ntried; i++) {
			const struct mw_process *p = mw_model_find(&l->s.model, l->tried[i].pid);

			if (p && !p->exited)
				l->tried[k++] = l->tried[i];
		}
		l->ntried = k;
		if (k >= MAX_USDT_TRIES ||
		    mw_grow(&l->tried, l->ntried, &l->cap_tried, sizeof(*l->tried), 16))
			return true; /* full: no more attempts */
	}
	l->tried[l->ntried++] = (struct usdt_try){ .pid = pid, .name = name };
	return false;
}

/*
 * glibc's malloc probes, where the target's libc (or a static executable,
 * which carries libc's probes) has them. maps: the process's mappings now, or
 * those just mapped. Each file is tried once per process: a libc mapped later
 * (a private loader, a container's libc) is attached when it appears. at_seed:
 * the process's baseline, when a launched command has no libc mapped yet.
 */
static void attach_usdt(struct live *l, uint32_t pid, const struct mw_regions *maps, bool at_seed)
{
	char path[4096], exe[4096] = "";
	bool have_libc = false;
	ssize_t len;
	int total = 0;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	len = readlink(path, exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	for (size_t i = 0; i < maps->n; i++) {
		const char *name = maps->v[i].name;
		int n;

		if (!name || name[0] != '/' || !(maps->v[i].prot & PROT_EXEC))
			continue;
		if (!mw_is_libc_path(name) && strcmp(name, exe))
			continue;
		have_libc |= mw_is_libc_path(name);
		if (usdt_tried(l, pid, name))
			continue;
		/* Through the target's root: it may live in another mount namespace. */
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
		n = mw_loader_attach_usdt(&l->loader, pid, path);
		if (n > 0)
			total += n;
	}
	/*
	 * Launched commands are seeded before the dynamic loader maps libc. Uprobes
	 * follow the file, not the mapping: attach to the libc this system's loader
	 * will map (memwatch's own), and they fire once the command maps it.
	 */
	if (at_seed && !have_libc && l->child && pid == (uint32_t)l->child) {
		const char *own = own_libc();

		if (own && !usdt_tried(l, pid, own)) {
			int n = mw_loader_attach_usdt(&l->loader, pid, own);

			if (n > 0)
				total += n;
		}
	}
	if (total && l->cfg->verbose)
		mw_p_err("pid %u: %d glibc malloc probes attached", pid, total);
}

static void attach_usdt_now(struct live *l, uint32_t pid)
{
	const struct mw_process *p = mw_model_find(&l->s.model, pid);

	if (p)
		attach_usdt(l, pid, &p->regions, true);
}

/* A process that joins the trace later (exec, --comm, --cgroup): its baseline and probes. */
static int adopt(void *ctx, uint32_t pid, bool after_exec)
{
	struct live *l = ctx;
	int err = seed_from_proc(l, pid, false, after_exec);

	if (!err)
		attach_usdt_now(l, pid);
	/* --escalate-for: only a process escalated has probes, to move to its new image. */
	if (!err && l->m && (!l->cfg->mal.escalate || (after_exec && mw_mtrace_knows(l->m, pid)))) {
		if (after_exec)
			mw_mtrace_exec(l->m, pid);
		else if (mw_mtrace_add_pid(l->m, pid, false))
			mw_p_err("pid %u: allocator probes not attached", pid);
	}
	return err;
}

static int reseed_after_exec(void *ctx, uint32_t pid)
{
	return adopt(ctx, pid, true);
}

/* All of /proc/PID/maps: the allocator (while it is unknown) and a libc that was not there. */
static void libs_full_read(struct live *l, uint32_t pid)
{
	const struct mw_process *p = mw_model_find(&l->s.model, pid);
	struct mw_regions maps;
	char *text;

	if (!p || p->exited || mw_read_maps_text(pid, &text))
		return;
	if (p->alloc && mw_alloc_allocator(p->alloc) == MW_ALLOCATOR_UNKNOWN)
		mw_session_libs(&l->s, pid, text);
	mw_regions_init(&maps);
	if (mw_maps_parse(text, &maps) == 0)
		attach_usdt(l, pid, &maps, false);
	mw_regions_free(&maps);
	free(text);
}

static struct libs_state *libs_state(struct live *l, uint32_t pid)
{
	for (size_t i = 0; i < l->nlibs; i++)
		if (l->libs[i].pid == pid)
			return &l->libs[i];
	if (l->nlibs == l->caplibs) {
		/* Bounded by the live processes: forget those gone before growing. */
		size_t k = 0;

		for (size_t i = 0; i < l->nlibs; i++) {
			const struct mw_process *p = mw_model_find(&l->s.model, l->libs[i].pid);

			if (p && !p->exited)
				l->libs[k++] = l->libs[i];
		}
		l->nlibs = k;
		if (mw_grow(&l->libs, l->nlibs, &l->caplibs, sizeof(*l->libs), 16))
			return NULL;
	}
	l->libs[l->nlibs] = (struct libs_state){ .pid = pid };
	return &l->libs[l->nlibs++];
}

/* A whole read now if its share of time allows, else once it does (libs_tick). */
static void libs_full(struct live *l, uint32_t pid)
{
	struct libs_state *st = libs_state(l, pid);
	uint64_t now = mw_now_ns(CLOCK_MONOTONIC), took;

	if (st && now < st->next_ns) {
		st->pending = true;
		return;
	}
	libs_full_read(l, pid);
	took = mw_now_ns(CLOCK_MONOTONIC) - now;
	if (st) {
		st->pending = false;
		st->next_ns = now + (took * LIBS_SHARE < LIBS_MAX_GAP_NS ? took * LIBS_SHARE
									 : LIBS_MAX_GAP_NS);
	}
}

static void libs_tick(struct live *l, uint64_t now)
{
	for (size_t i = 0; i < l->nlibs; i++)
		if (l->libs[i].pending && now >= l->libs[i].next_ns)
			libs_full(l, l->libs[i].pid);
}

/*
 * Code was mapped at [start, end): which file it is, from one readlink of
 * /proc/PID/map_files/START-END (the kernel looks up that one mapping), so
 * the cost does not grow with the process's mappings. That file alone can
 * name the allocator (while it is unknown) or be a libc with malloc probes:
 * every file mapped before was looked at when it was mapped, or at the
 * baseline. Only when the mapping is no longer there as it was mapped (or
 * map_files is refused) is all of /proc/PID/maps read, within LIBS_SHARE.
 */
static void libs_mapped(void *ctx, uint32_t pid, uint64_t start, uint64_t end)
{
	struct live *l = ctx;
	const struct mw_process *p = mw_model_find(&l->s.model, pid);
	char path[96], file[4096], line[4096 * 4 + 96];
	struct mw_regions maps;
	size_t o;
	ssize_t n;

	if (!p || p->exited)
		return;
	snprintf(path, sizeof(path), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, pid, start, end);
	n = readlink(path, file, sizeof(file) - 1);
	if (n <= 0) {
		libs_full(l, pid);
		return;
	}
	file[n] = '\0';
	/* The line /proc/PID/maps shows for it (a newline in a name is \012 there). */
	o = (size_t)snprintf(line, sizeof(line), "%" PRIx64 "-%" PRIx64 " r-xp 00000000 00:00 1 ",
			     start, end);
	for (ssize_t i = 0; i < n && o + 5 < sizeof(line); i++) {
		if (file[i] == '\n') {
			memcpy(line + o, "\\012", 4);
			o += 4;
		} else {
			line[o++] = file[i];
		}
	}
	line[o++] = '\n';
	line[o] = '\0';
	if (p->alloc && mw_alloc_allocator(p->alloc) == MW_ALLOCATOR_UNKNOWN)
		mw_session_libs(&l->s, pid, line);
	mw_regions_init(&maps);
	if (mw_maps_parse(line, &maps) == 0)
		attach_usdt(l, pid, &maps, false);
	mw_regions_free(&maps);
}

/*
 * The mapping-name pool (regions.h) keeps the names of every process memwatch
 * ever saw until it is swept: mark what is still held (the model's regions,
 * the files offered to the USDT attacher) and let the rest go.
 */
static void sweep_names(struct live *l)
{
	size_t count, bytes;

	mw_intern_stats(&count, &bytes);
	if (count < 2 * l->names_kept + NAMES_SLACK)
		return;
	for (size_t i = 0; i < l->s.model.nprocs; i++) {
		const struct mw_regions *r = &l->s.model.procs[i]->regions;

		for (size_t k = 0; k < r->n; k++)
			mw_intern_mark(r->v[k].name);
	}
	for (size_t i = 0; i < l->ntried; i++)
		mw_intern_mark(l->tried[i].name);
	l->names_kept = mw_intern_sweep();
}

/* An OOM victim's ledger was written: the stacks that hold its heap, while it is there. */
static void oom_victim(void *ctx, const struct mw_event *ev, struct mw_process *p)
{
	struct live *l = ctx;

	if (l->m && (l->cfg->mal.on || mw_mtrace_knows(l->m, p->pid)))
		mw_mtrace_report_pid(l->m, p->pid);
	mw_escalation_oom(l->esc, ev, p); /* --incident-dir: its bundle */
}

static int kernel_counters(void *ctx, uint32_t tid, struct mw_thread_counters *c, bool forget)
{
	struct live *l = ctx;
	uint64_t exit_ts = tid == l->exit_tid ? l->exit_ts : 0;
	int err = mw_loader_thread_counters(&l->loader, tid, exit_ts, c);

	if (forget)
		mw_loader_forget_thread(&l->loader, tid, exit_ts);
	return err;
}

/* The pages of the mapping that starts at addr in pid, from /proc (0 if none). */
static uint32_t mapping_pages(struct live *l, uint32_t pid, uint64_t addr)
{
	const struct mw_region *r;
	struct mw_regions maps;
	uint32_t pages = 0;

	mw_regions_init(&maps);
	if (mw_read_maps(pid, &maps) == 0 && (r = mw_regions_find(&maps, addr)) && r->start == addr)
		pages = (uint32_t)((r->end - r->start) / l->s.model.page_size);
	mw_regions_free(&maps);
	return pages;
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
	struct live *l = ctx;
	struct mw_syscall_rec fixed;
	struct mw_event ev;
	int ret;

	if (mw_decode(&l->s.dctx, data, size, &ev))
		return mw_session_bad_record(&l->s, data, size);
	/*
	 * The kernel could not size a shmat's mapping (its mm was busy, or a kernel
	 * before 5.17): read it from /proc now, and record the record as if the
	 * kernel had, so a replay sees the same.
	 */
	if (ev.kind == MW_EV_SYSCALL && ev.sc.sys == MW_SYS_SHMAT && !ev.sc.pages &&
	    !mw_ret_is_error(ev.sc.ret) && size == sizeof(fixed)) {
		memcpy(&fixed, data, sizeof(fixed));
		fixed.pages = mapping_pages(l, ev.pid, (uint64_t)ev.sc.ret);
		ev.sc.pages = fixed.pages;
		data = &fixed;
	}
	if (mw_watch_event(&l->watch, &ev))
		return 0;
	/* A new image: the stacks named from now on are its own, even where it lies at the old
	 * image's addresses (the same base for every PIE when ASLR is off). */
	if (ev.kind == MW_EV_EXEC && l->sym) {
		mw_sym_invalidate(l->sym, ev.pid);
		forget_stack_top(l, ev.pid); /* the kernel dropped it: a new stack */
	}
	/* A thread's exit: its final counters are kept in the kernel under this record's time. */
	if (ev.kind == MW_EV_EXIT) {
		forget_stack_top(l, ev.tid);
		l->exit_tid = ev.tid;
		l->exit_ts = ev.mono_ns;
	}
	ret = mw_session_event(&l->s, &ev, data, size);
	l->exit_tid = 0;
	return ret;
}

/* --pprof: the heap profile as of this report; a failure is said once, the run goes on. */
static void write_pprof(struct live *l)
{
	char err[300];

	if (mw_profiles_write(&l->prof, mw_now_ns(CLOCK_REALTIME), err, sizeof(err)) &&
	    !l->prof_failed) {
		mw_p_err("%s", err);
		l->prof_failed = true;
	}
}

/* A process held in exit() was just reported: the profile now, while its mappings can be
 * read (it is resumed right after). Interval and final reports write it in report_all. */
static void pprof_after_report(void *ctx, uint32_t pid, bool final)
{
	if (final && kill((pid_t)pid, 0) == 0)
		write_pprof(ctx);
}

/* An escalation's bundle: the heap profile of what its probes saw, beside the NDJSON. */
static void bundle_pprof(void *ctx, const char *dir)
{
	struct live *l = ctx;
	const char *path = l->prof.path;
	char file[4200], err[300];

	snprintf(file, sizeof(file), "%s/heap.pb.gz", dir);
	l->prof.path = file;
	if (mw_profiles_write(&l->prof, mw_now_ns(CLOCK_REALTIME), err, sizeof(err)))
		mw_p_err("%s", err);
	l->prof.path = path;
}

/* GET /debug/pprof/NAME (the exporter's callback, run by the event loop). */
static int serve_profile(void *ctx, const char *name, void **body, size_t *len, char *why,
			 size_t whysz)
{
	struct live *l = ctx;
	int kind = mw_prof_kind(name);

	if (kind < 0)
		return mw_fail(why, whysz, -ENOENT,
			       "no profile '%s': /debug/pprof/heap, mapped or resident", name);
	/* The samples a full ring lost are in the threads' kernel counters: read them now. */
	if (kind == MW_PROF_RESIDENT)
		mw_session_counters_now(&l->s);
	return mw_profiles_render(&l->prof, kind, mw_now_ns(CLOCK_REALTIME), body, len, why, whysz);
}

/* Update VmSize of live processes, then print their summaries. */
static void report_all(struct live *l, bool final)
{
	for (size_t i = 0; i < l->s.model.nprocs; i++) {
		struct mw_process *p = l->s.model.procs[i];
		uint64_t vm, stack;

		if (!p->exited && mw_read_vm(p->pid, &vm, &stack) == 0)
			mw_session_vmsize(&l->s, p->pid, vm, stack);
		if (!p->exited)
			read_resident(l, p->pid, false);
	}
	mw_session_report_all(&l->s, mw_now_ns(CLOCK_REALTIME), final);
	if (l->m)
		mw_mtrace_report(l->m, final);
	write_pprof(l);
}

static void reap_child(struct live *l)
{
	int status;

	if (!l->child || l->child_reaped)
		return;
	if (waitpid(l->child, &status, WNOHANG) == l->child) {
		l->child_status = status;
		l->child_reaped = true;
	}
}

/* A process whose end was reported waits for its threads' exits: are they all past exit
 * (their records, if any, are in the ring then)? */
static bool exits_done(const struct mw_process *p)
{
	if (!p->group_dead)
		return false;
	for (size_t i = 0; i < p->nthreads; i++)
		if (!p->threads[i].exited && !mw_thread_gone(p->pid, p->threads[i].tid))
			return false;
	return true;
}

/* Backstop for a lost exit record: a process that is gone is finalized. */
static void check_liveness(struct live *l)
{
	for (size_t i = 0; i < l->s.model.nprocs; i++) {
		struct mw_process *p = l->s.model.procs[i];
		bool is_child = l->child && p->pid == (uint32_t)l->child, gone;
		uint32_t pid = p->pid;

		if (p->exited)
			continue;
		gone = is_child ? l->child_reaped : kill((pid_t)pid, 0) && errno == ESRCH;
		if (!gone && !exits_done(p))
			continue;
		mw_loader_poll(&l->loader, 0); /* its records may still be queued */
		mw_session_gone(&l->s, pid, is_child ? l->child_status : -1,
				mw_now_ns(CLOCK_REALTIME));
		return; /* the array changed: the next round checks the rest */
	}
}

/* Lost records leave the region model behind: bring it back to the kernel's view. */
static void report_lost(struct live *l, bool now)
{
	uint64_t t = mw_now_ns(CLOCK_MONOTONIC);

	/* A small ring drops all the time: one notice a second, with the sum. */
	if (!l->lost_pending || (!now && t < l->lost_next_ns))
		return;
	mw_session_lost(&l->s, mw_now_ns(CLOCK_REALTIME), l->lost_pending);
	l->lost_pending = 0;
	l->lost_next_ns = t + MW_RATELIMIT_NS;
}

static void check_lost(struct live *l, bool final)
{
	struct mw_stats st;

	mw_loader_stats(&l->loader, &st);
	if (st.rb_drops > l->lost_reported) {
		l->lost_pending += st.rb_drops - l->lost_reported;
		l->lost_reported = st.rb_drops;
		mw_loader_poll(&l->loader, 0); /* apply what is queued before the snapshot */
		for (size_t i = 0; i < l->s.model.nprocs; i++)
			if (!l->s.model.procs[i]->exited)
				seed_from_proc(l, l->s.model.procs[i]->pid, true, false);
	}
	report_lost(l, final);
}

static int check_pid(uint32_t pid)
{
	bool kthread = false;
	char comm[MW_COMM_LEN] = "";
	int err = mw_read_is_kthread(pid, &kthread);
	uint32_t tgid;

	if (err == -ENOENT || err == -ESRCH) {
		mw_p_err("no such process: %u", pid);
		return -1;
	}
	if (err) {
		mw_p_err("cannot read /proc/%u/stat: %s", pid, strerror(-err));
		return -1;
	}
	if (kthread) {
		char q[MW_TEXT_ROOM(MW_COMM_LEN)];

		mw_read_comm(pid, pid, comm);
		mw_p_err("pid %u (%s) is a kernel thread: it has no user address space to trace",
			 pid, mw_text_quote(q, sizeof(q), comm, sizeof(comm)));
		return -1;
	}
	if (mw_read_tgid(pid, &tgid) == 0 && tgid != pid) {
		mw_p_err("%u is a thread of process %u: use -p %u (all its threads are traced)",
			 pid, tgid, tgid);
		return -1;
	}
	return 0;
}

static int setup_targets(struct live *l)
{
	const struct mw_config *cfg = l->cfg;
	char err[256];
	int ret;

	if (cfg->cmd) {
		ret = mw_launch_start(cfg->cmd, &l->child, err, sizeof(err));
		if (ret) {
			mw_p_err("%s", err);
			return ret == -ENOENT ? 127 : 126;
		}
		ret = mw_loader_add_target(&l->loader, l->child);
		if (!ret)
			ret = seed_from_proc(l, l->child, false, false);
		if (!ret)
			attach_usdt_now(l, l->child);
		if (!ret && l->m && !cfg->mal.escalate && mw_mtrace_add_pid(l->m, l->child, true)) {
			kill(l->child, SIGKILL); /* the reason is on stderr already */
			l->child_killed = true;
			return 1;
		}
		if (!ret)
			ret = mw_launch_release(l->child);
		if (ret) {
			mw_p_err("cannot start tracing %s: %s", cfg->cmd[0], strerror(-ret));
			kill(l->child, SIGKILL);
			l->child_killed = true;
			return 1;
		}
		return 0;
	}
	for (size_t i = 0; i < cfg->npids; i++) {
		uint32_t pid = cfg->pids[i];

		ret = mw_loader_add_target(&l->loader, pid);
		if (ret) {
			mw_p_err("cannot add pid %u to the BPF filter: %s", pid, strerror(-ret));
			return 1;
		}
		ret = seed_from_proc(l, pid, false, false);
		if (ret) {
			mw_p_err("cannot read the address space of pid %u: %s", pid,
				 strerror(-ret));
			return 1;
		}
		attach_usdt_now(l, pid);
		if (l->m && !cfg->mal.escalate && mw_mtrace_add_pid(l->m, pid, false))
			return 1;
	}
	mw_watch_scan(&l->watch);
	return 0;
}

static void announce(struct live *l)
{
	const struct mw_config *cfg = l->cfg;
	char pids[256] = "";
	size_t off = 0;

	if (cfg->cmd || cfg->top)
		return; /* launch mode: stderr belongs to the command; top: to the screen */
	for (size_t i = 0; i < cfg->npids && off < sizeof(pids) - 16; i++)
		off += snprintf(pids + off, sizeof(pids) - off, "%s%u", i ? "," : "", cfg->pids[i]);
	for (size_t i = 0; i < cfg->ncomms && off < sizeof(pids) - 16; i++)
		off += snprintf(pids + off, sizeof(pids) - off, "%scomm /%s/", off ? ", " : "",
				cfg->comms[i]);
	for (size_t i = 0; i < cfg->ncgroups && off < sizeof(pids) - 16; i++)
		off += snprintf(pids + off, sizeof(pids) - off, "%scgroup %s", off ? ", " : "",
				cfg->cgroups[i]);
	mw_p_err("tracing %s%s%s%s; %s", cfg->npids ? "pid " : "", pids,
		 cfg->follow ? " and its children" : "",
		 l->loader.raw_syscalls ? " (raw syscall tracepoints: tracefs unavailable)" : "",
		 cfg->daemon ? "daemon: SIGHUP reloads, SIGTERM stops" : "Ctrl-C to stop");
}

static int open_outputs(struct live *l, FILE **out, FILE **rec)
{
	const struct mw_config *cfg = l->cfg;

	*out = NULL;
	*rec = NULL;
	if (!cfg->out_path && (cfg->daemon || cfg->top)) {
		*out = fopen("/dev/null", "w"); /* no event stream on the terminal */
		if (!*out) {
			mw_p_err("cannot open /dev/null: %s", strerror(errno));
			return -1;
		}
	} else if (!cfg->out_path || !strcmp(cfg->out_path, "-")) {
		/* strace habit: the trace goes to stderr unless -o; -o -: for a log shipper. */
		l->out_name = cfg->out_path ? "standard output" : "standard error";
		l->sink = mw_sink_fd(cfg->out_path ? STDOUT_FILENO : STDERR_FILENO, out);
	} else {
		/* The daemon appends, and rotates with --rotate. */
		l->out_name = cfg->out_path;
		l->sink = mw_sink_open(cfg->out_path, cfg->rotate_size, cfg->rotate_count,
				       cfg->daemon, out);
	}
	if (!*out) {
		mw_p_err("cannot open %s: %s", l->out_name, mw_out_strerror(errno));
		return -1;
	}
	if (cfg->record_path) {
		*rec = mw_out_fopen(cfg->record_path, MW_OUT_TRUNC);
		if (!*rec) {
			mw_p_err("cannot open %s: %s", cfg->record_path, mw_out_strerror(errno));
			fclose(*out);
			return -1;
		}
	}
	return 0;
}

/*
 * Lines that could not be written (a full disk, a closed pipe) are lost and
 * counted; tracing, the summaries and the metrics endpoint go on, and writing
 * resumes when the file has room again (or is reopened on SIGHUP).
 */
static void check_output(struct live *l)
{
	struct mw_sink_health h = { 0 };

	if (l->sink)
		mw_sink_health(l->sink, &h);
	if (h.errors > l->out_seen) {
		l->out_seen = h.errors;
		mw_p_limited(
			&l->out_log,
			"cannot write %s: %s; tracing goes on, %llu bytes of output lost so far",
			l->out_name, strerror(h.last_err), (unsigned long long)h.lost_bytes);
	}
	if (h.recoveries > l->out_recovered) {
		l->out_recovered = h.recoveries;
		mw_p_limited(&l->back_log, "writing %s again (%llu bytes of output lost)",
			     l->out_name, (unsigned long long)h.lost_bytes);
	}
	if (l->s.rec_errors > l->rec_seen) {
		l->rec_seen = l->s.rec_errors;
		mw_p_err("cannot write %s: %s; recording stopped, tracing goes on",
			 l->cfg->record_path, strerror(l->s.rec_err));
	}
	l->s.out_errors = h.errors + l->s.rec_errors;
}

/* SIGHUP: the configuration again; on any error the old one stays in force. */
static void reload_config(struct live *l)
{
	struct mw_config *cfg = l->cfg;
	char err[256], old_out[4096], kept[512];
	int ret;

	/* The old strings are freed by the reload. */
	snprintf(old_out, sizeof(old_out), "%s", cfg->out_path ? cfg->out_path : "");
	if (mw_daemon_reload_config(cfg, kept, sizeof(kept), err, sizeof(err))) {
		l->watch.reload_errors++;
		mw_p_err("SIGHUP: %s; keeping the previous configuration", err);
		return;
	}
	/* Say which: a changed --sample would otherwise look applied while the probes
	 * sample as before. */
	if (*kept)
		mw_p_err("SIGHUP: %s changed: only targets and output change without a "
			 "restart; kept as they were",
			 kept);
	if (l->sink && cfg->out_path && strcmp(cfg->out_path, "-")) {
		/* Reopened even when unchanged: logrotate may have moved it away. */
		ret = mw_sink_reopen(l->sink, cfg->out_path, cfg->rotate_size, cfg->rotate_count);
		if (ret)
			mw_p_err("SIGHUP: cannot open %s: %s; writing on to the previous file",
				 cfg->out_path, mw_out_strerror(ret));
	} else if (strcmp(old_out, cfg->out_path ? cfg->out_path : "")) {
		mw_p_err(
			"SIGHUP: a new output (%s) needs a restart; writing on to the previous one",
			cfg->out_path ? cfg->out_path : "none");
	}
	/* Triggers follow the new configuration (they were checked when it was read). */
	if (!l->inc && cfg->ntriggers) {
		l->inc = mw_incident_new(cfg, err, sizeof(err));
		if (l->inc && l->esc && cfg->escalate_ns)
			mw_incident_on_fire(l->inc, mw_escalation_fire, l->esc);
	} else if (l->inc && mw_incident_config(l->inc, cfg, err, sizeof(err)))
		mw_p_err("SIGHUP: %s; keeping the previous triggers", err);
	if (mw_watch_reload(&l->watch, err, sizeof(err)))
		mw_p_err("SIGHUP: %s; keeping the previous targets", err);
	else
		mw_p_err("SIGHUP: configuration reloaded");
}

static int event_loop(struct live *l)
{
	const struct mw_config *cfg = l->cfg;
	uint64_t start = mw_now_ns(CLOCK_MONOTONIC), next_interval = 0, deadline = 0;
	uint64_t next_liveness = start + LIVENESS_NS;
	int ret;

	if (cfg->interval_s)
		next_interval = start + (uint64_t)(cfg->interval_s * 1e9);
	if (cfg->duration_s)
		deadline = start + (uint64_t)(cfg->duration_s * 1e9);
	while (!exiting) {
		uint64_t now;

		ret = mw_loader_poll(&l->loader,
				     mw_exporter_wait_ms(l->exp, mw_mtrace_wait_ms(l->m, POLL_MS)));
		if (ret < 0 && ret != -EINTR) {
			mw_p_err("reading events failed: %s", strerror(-ret));
			return 1;
		}
		reap_child(l);
		check_lost(l, false);
		mw_exporter_tick(l->exp, &l->s, &l->loader);
		now = mw_now_ns(CLOCK_MONOTONIC);
		if (reload) {
			reload = 0;
			reload_config(l);
		}
		mw_watch_tick(&l->watch, now);
		libs_tick(l, now);
		sweep_names(l);
		mw_incident_tick(l->inc, &l->s, now);
		mw_escalation_tick(l->esc, now);
		if (l->m)
			mw_mtrace_tick(l->m, now);
		if (l->top && mw_top_tick(l->top, &l->s, l->prof.heap, mw_now_ns(CLOCK_MONOTONIC)))
			break; /* q */
		if (now >= next_liveness || l->child_reaped) {
			check_liveness(l);
			next_liveness = now + LIVENESS_NS;
		}
		if (next_interval && now >= next_interval) {
			report_all(l, false);
			if (mw_watch_active(&l->watch) || cfg->daemon)
				mw_watch_report(&l->watch, mw_now_ns(CLOCK_REALTIME));
			next_interval += (uint64_t)(cfg->interval_s * 1e9);
		}
		fflush(l->s.out.f);
		check_output(l);
		/* Watching names or cgroups: new processes may come; top runs until q. */
		if ((!mw_session_live(&l->s) && !mw_watch_active(&l->watch) && !cfg->daemon &&
		     !cfg->top) ||
		    (deadline && now >= deadline))
			break;
	}
	/* Escalations still on end with their bundles, while the probes are attached. */
	mw_escalation_end_all(l->esc);
	/* Stop the probes first: then the ring holds every record the counters count. */
	if (l->m)
		mw_mtrace_detach(l->m);
	mw_loader_detach(&l->loader);
	mw_loader_poll(&l->loader, 0);
	check_lost(l, true);
	report_all(l, true);
	if (mw_watch_active(&l->watch) || cfg->daemon)
		mw_watch_report(&l->watch, mw_now_ns(CLOCK_REALTIME));
	fflush(l->s.out.f);
	check_output(l);
	if (cfg->verbose) {
		struct mw_stats st;

		mw_loader_stats(&l->loader, &st);
		mw_p_err(
			"kernel: %llu records, %llu lost (ring full), %llu unpaired "
			"exits dropped, %llu enters not recorded (inflight full), %llu counter updates "
			"lost (threads full), %llu children not followed (targets full)",
			(unsigned long long)st.events, (unsigned long long)st.rb_drops,
			(unsigned long long)st.unpaired, (unsigned long long)st.inflight_full,
			(unsigned long long)st.threads_full, (unsigned long long)st.targets_full);
		if (l->cfg->stacks)
			mw_p_err("stacks: %llu calls sent without a copy (the stack of an earlier "
				 "call), %llu of them with frames not known",
				 (unsigned long long)st.stacks_same,
				 (unsigned long long)l->same_unknown);
	}
	return 0;
}

/* The last lines, and what output was lost in all. */
static void finish_output(struct live *l, FILE **out, int ret)
{
	struct mw_sink_health h = { 0 };

	if (!*out)
		return;
	fflush(*out);
	check_output(l);
	if (l->sink)
		mw_sink_health(l->sink, &h);
	/* A last partial line goes out at close: a failure then is one more (the sink
	 * also says so when writing was failing already: counted before). */
	if (fclose(*out) && l->sink && !ret && !h.failing)
		l->s.out_errors++;
	*out = NULL;
	mw_p_flush(&l->out_log);
	mw_p_flush(&l->back_log);
	if (l->s.out_errors)
		mw_p_err("%llu writes of output failed: %s is missing what they held",
			 (unsigned long long)l->s.out_errors, l->out_name ? l->out_name : "it");
}

int mw_live_run(struct mw_config *cfg)
{
	struct mw_loader_opts lo = {
		.follow_forks = cfg->follow,
		.timed = cfg->show_dur,
		.stacks = cfg->stacks,
		/* -c names only the stacks of calls that map (mw_session_event): unless the
		 * daemon writes events or a recording keeps every stack. */
		.stacks_maps_only = mw_config_counters_only(cfg),
		.no_faults = cfg->no_faults,
		.rss_delta = cfg->rss_delta,
		.fault_stacks = cfg->fault_stacks,
		.verbose = cfg->verbose,
		/* Not under a stream (--json, text, --record, the daemon): its reader is slower
		 * than a process at full speed, which the ring's first writes had paced, so a
		 * warm ring lost records there (spinner, --stacks --json: 7-13k of 160k). */
		.warm_ring = mw_config_counters_only(cfg),
		.ring_size = cfg->ring_size,
		.max_threads = cfg->max_threads,
		.max_targets = cfg->max_procs,
	};
	struct live l = { .cfg = cfg };
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESETHAND };
	int64_t mono_to_epoch;
	FILE *out, *rec;
	char err[256];
	int ret;

	if (cfg->cmd) {
		ret = mw_launch_check(cfg->cmd, err, sizeof(err));
		if (ret) {
			mw_p_err("%s", err);
			return ret;
		}
	}
	for (size_t i = 0; i < cfg->npids; i++)
		if (check_pid(cfg->pids[i]))
			return 1;
	if (open_outputs(&l, &out, &rec))
		return 1;
	mono_to_epoch = (int64_t)(mw_now_ns(CLOCK_REALTIME) - mw_now_ns(CLOCK_MONOTONIC));
	mw_session_init(&l.s, cfg, out, (uint64_t)sysconf(_SC_PAGESIZE), mono_to_epoch);
	l.s.rec = rec;
	l.s.counters = kernel_counters;
	l.s.resident = resident_now;
	l.s.reseed = reseed_after_exec;
	l.s.libs = libs_mapped;
	l.s.oom = oom_victim;
	l.s.peek = mw_mem_read_pid;
	l.s.src_ctx = &l;
	l.s.rmap = rmap_now;
	l.s.rmap_ctx = &l;
	if (cfg->stacks || cfg->fault_stacks) {
		const char *nohints;

		l.sym = mw_sym_new();
		if (!l.sym) {
			mw_p_err("cannot set up the stack unwinder: %s", strerror(ENOMEM));
			return 1;
		}
		l.s.stack = name_syscall_stack;
		l.s.stack_ctx = &l;
		l.tops = calloc(TOP_SLOTS, sizeof(*l.tops)); /* none: copies stay whole */
		/* none: every call's stack is copied */
		nohints = getenv("MEMWATCH_NO_STACK_HINTS");
		l.hints = cfg->stacks && !(nohints && !strcmp(nohints, "1")) ? mw_hints_new()
									     : NULL;
	}
	/* --folded: the bytes each stack mapped, unless allocations are traced (theirs). */
	if (cfg->stacks && cfg->mal.folded_path && !cfg->mal.on && !cfg->mal.escalate &&
	    !(l.s.stack_folded = mw_out_fopen(cfg->mal.folded_path, MW_OUT_TRUNC))) {
		mw_p_err("cannot open %s: %s", cfg->mal.folded_path, mw_out_strerror(errno));
		mw_sym_free(l.sym);
		free(l.tops);
		mw_hints_free(l.hints);
		return 1;
	}
	/* Daemon mode: arena lifecycle and diagnoses reach the NDJSON sink even with -c. */
	l.s.out.alloc_always = cfg->daemon;
	l.s.retire_threads = cfg->daemon;
	if (cfg->perfetto_path) {
		l.trace = mw_perfetto_open(cfg->perfetto_path, err, sizeof(err));
		if (!l.trace) {
			mw_p_err("%s", err);
			ret = 1;
			goto cleanup;
		}
		l.s.hooks = &mw_perfetto_hooks;
		l.s.hooks_ctx = l.trace;
	}
	if (rec && mw_record_begin(rec, l.s.model.page_size, mono_to_epoch)) {
		mw_p_err("cannot write %s", cfg->record_path);
		ret = 1;
		goto cleanup;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (cfg->daemon) {
		struct sigaction hup = { .sa_handler = on_hup };

		sigaction(SIGHUP, &hup, NULL);
	}

	ret = mw_loader_start(&l.loader, &lo, on_ring_record, &l, err, sizeof(err));
	if (ret) {
		mw_p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	ret = mw_exporter_start(&l.exp, cfg, err, sizeof(err));
	if (ret) {
		mw_p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	/* A scrape wakes the loop at once rather than at its next tick. */
	l.loader.wake_fd = mw_exporter_wake_fd(l.exp);
	/* Before the watch: processes it adopts at start get the allocator probes too. */
	if (cfg->mal.on || cfg->mal.escalate) {
		l.m = mw_mtrace_new(cfg, &l.s, l.loader.rb, err, sizeof(err));
		if (!l.m) {
			mw_p_err("%s", err);
			ret = 1;
			goto cleanup;
		}
		l.prof.heap = mw_mtrace_ledger(l.m);
		if (cfg->pprof_path)
			mw_mtrace_after_report(l.m, pprof_after_report, &l);
	}
	/* A copy: a daemon's SIGHUP frees the strings of the configuration it replaces. */
	if (cfg->pprof_path && !(l.prof.path = strdup(cfg->pprof_path))) {
		mw_p_err("out of memory");
		ret = 1;
		goto cleanup;
	}
	l.prof.mods = mw_modules_new();
	/* An unwritable --pprof FILE is said now, not after the run. */
	if (cfg->pprof_path &&
	    mw_profiles_write(&l.prof, mw_now_ns(CLOCK_REALTIME), err, sizeof(err))) {
		mw_p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	/* The per-stack ledgers the session keeps with --stacks and --fault-stacks. */
	if (cfg->stacks)
		mw_profiles_source(&l.prof, MW_PROF_MAPPED, mw_prof_mapped, &l.s);
	if (cfg->fault_stacks)
		mw_profiles_source(&l.prof, MW_PROF_RESIDENT, mw_prof_resident, &l.s);
	mw_exporter_profiles(l.exp, serve_profile, &l);
	l.inc = mw_incident_new(cfg, err, sizeof(err));
	if (!l.inc && err[0]) {
		mw_p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	l.esc = mw_escalation_new(cfg, &l.s, l.m, bundle_pprof, &l, err, sizeof(err));
	if (!l.esc && err[0]) {
		mw_p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	if (l.esc && cfg->escalate_ns)
		mw_incident_on_fire(l.inc, mw_escalation_fire, l.esc);
	if (mw_watch_start(&l.watch, cfg, &l.loader, &l.s, adopt, &l, err, sizeof(err))) {
		mw_p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	/* Before the targets: the notices of adopting them go to top's status line. */
	if (cfg->top && !(l.top = mw_top_start(err, sizeof(err)))) {
		mw_p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	ret = setup_targets(&l);
	if (ret)
		goto cleanup;
	announce(&l);
	ret = event_loop(&l);
	if (!ret && l.s.err) {
		mw_p_err("%s", strerror(-l.s.err));
		ret = 1;
	}

cleanup:
	mw_top_stop(l.top, ret != 0); /* the terminal first: what follows may print */
	if (l.trace && !ret && mw_perfetto_close(l.trace, err, sizeof(err))) {
		mw_p_err("%s", err);
		ret = 1;
	} else if (l.trace && ret) {
		mw_perfetto_abort(l.trace);
	}
	mw_exporter_stop(l.exp);
	mw_watch_stop(&l.watch);
	mw_incident_free(l.inc);
	mw_escalation_free(l.esc);
	mw_loader_stop(&l.loader);
	mw_mtrace_free(l.m);
	mw_modules_free(l.prof.mods);
	free((char *)l.prof.path);
	finish_output(&l, &out, ret);
	if (rec)
		fclose(rec);
	if (l.child && !l.child_reaped) {
		/*
		 * The command is never left behind: a signal sent to memwatch alone goes
		 * on to it (Ctrl-C reached it already), and memwatch waits for its end
		 * whatever stopped the trace.
		 */
		if (forward)
			kill(l.child, forward);
		while (waitpid(l.child, &l.child_status, 0) < 0 && errno == EINTR)
			;
		l.child_reaped = true;
	}
	if (l.child && l.child_reaped && !l.child_killed)
		ret = WIFSIGNALED(l.child_status) ? 128 + WTERMSIG(l.child_status)
						  : WEXITSTATUS(l.child_status);
	else if (!ret && l.s.out_errors && !cfg->daemon)
		ret = 1; /* the trace asked for is not all there */
	if (l.s.stack_folded)
		fclose(l.s.stack_folded);
	mw_session_free(&l.s);
	mw_sym_free(l.sym);
	free(l.tops);
	mw_hints_free(l.hints);
	free(l.tried);
	free(l.libs);
	return ret;
}
