// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Session logic shared by live tracing and replay. See session.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include "base/clock.h"
#include "alloc/diagnose.h"
#include "ledger/procfs.h"
#include "ledger/rss_class.h"
#include "ledger/totals.h"
#include "wire/record.h"
#include "faults.h"
#include "bystack.h"
#include "session.h"

static void record(struct mw_session *s, uint32_t kind, const void *a, size_t alen, const void *b,
		   size_t blen);

#define MAX_PEEK 4096

_Static_assert(sizeof(struct mw_range) == 16, "recorded as two __u64");
_Static_assert(sizeof(struct mw_stack_range) == 24, "recorded as three __u64");

/* The allocator analysis reads the process: through the source, and recorded so a
 * replay reads the same bytes. */
static int session_read(void *ctx, uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct mw_session *s = ctx;
	struct mw_peek_entry e = { .pid = pid, .addr = addr, .len = (__u32)len };

	if (!s->peek || len > MAX_PEEK)
		return -ENOSYS;
	e.err = s->peek(s->peek_ctx, pid, addr, buf, len);
	record(s, MW_ENTRY_PEEK, &e, sizeof(e), e.err ? NULL : buf, e.err ? 0 : len);
	return e.err;
}

void mw_session_init(struct mw_session *s, const struct mw_config *cfg, FILE *out,
		     uint64_t page_size, int64_t mono_to_epoch_ns)
{
	memset(s, 0, sizeof(*s));
	s->mem.read = session_read;
	s->mem.ctx = s;
	s->cfg = cfg;
	s->out.f = out;
	s->out.json = cfg->json;
	s->out.summary_only = cfg->summary_only;
	s->out.show_dur = cfg->show_dur;
	mw_model_init(&s->model, page_size);
	s->model.alloc_ops = mw_alloc_model_ops;
	s->dctx.page_size = s->model.page_size;
	s->dctx.mono_to_epoch_ns = mono_to_epoch_ns;
}

void mw_session_free(struct mw_session *s)
{
	if (s->bystack)
		mw_bystack_free(s->bystack);
	free(s->bystack);
	mw_model_free(&s->model);
	mw_alloc_facts_free(&s->facts);
	free(s->pieces);
	for (size_t i = 0; i < s->nfprofs; i++)
		mw_fprof_free(&s->fprofs[i]);
	free(s->fprofs);
}

#define MAX_ALLOC_EVENTS 16

static void emit_alloc(struct mw_session *s, const struct mw_process *p, struct mw_alloc_ev *v,
		       int n)
{
	for (int i = 0; i < n; i++) {
		mw_out_alloc(&s->out, p, &v[i]);
		if (s->hooks && s->hooks->alloc)
			s->hooks->alloc(s->hooks_ctx, p, &v[i]);
	}
}

static void record(struct mw_session *s, uint32_t kind, const void *a, size_t alen, const void *b,
		   size_t blen)
{
	int err;

	/* A recording with a hole would replay wrong: it stops at the first failed write
	 * (stdio's, when its buffer goes out), and the trace goes on. */
	if (!s->rec || s->rec_errors)
		return;
	errno = 0;
	err = mw_record_put(s->rec, kind, a, alen, b, blen);
	if (err) {
		s->rec_errors++;
		s->rec_err = err == -EIO ? (errno ? errno : EIO) : -err;
	}
}

static void collect_counters(struct mw_session *s, struct mw_thread *t, bool forget)
{
	struct mw_counters_entry e = { .tid = t->tid };

	/* Read at its exit: the tid may name another thread by now. */
	if (t->kernel_final)
		return;
	if (!s->counters || s->counters(s->src_ctx, t->tid, &e.c, forget))
		return;
	t->kernel_final = forget && t->exited;
	mw_thread_set_kernel(t, &e.c, s->model.page_size);
	record(s, MW_ENTRY_COUNTERS, &e, sizeof(e), NULL, 0);
}

/* The sizes later growth is measured from (an OOM record's, the triggers'). */
static void mark_report(struct mw_process *p, uint64_t ts)
{
	struct mw_totals tot;

	mw_process_totals(p, &tot);
	p->report_ns = ts;
	p->report_mapped = tot.mapped;
	p->report_committed = tot.committed;
}

/* --fault-stacks: the profile of pid (made when create and new); NULL when there is none, or
 * no memory for it. Valid until the next one is made or forgotten. */
static struct mw_fprof *fprof_of(struct mw_session *s, uint32_t pid, bool create)
{
	struct mw_fprof *v;

	for (size_t i = 0; i < s->nfprofs; i++)
		if (s->fprofs[i].pid == pid)
			return &s->fprofs[i];
	if (!create)
		return NULL;
	v = realloc(s->fprofs, (s->nfprofs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	s->fprofs = v;
	v += s->nfprofs++;
	memset(v, 0, sizeof(*v));
	v->pid = pid;
	return v;
}

static void fprof_forget(struct mw_session *s, uint32_t pid)
{
	struct mw_fprof *fp = fprof_of(s, pid, false);

	if (!fp)
		return;
	mw_fprof_free(fp);
	*fp = s->fprofs[--s->nfprofs];
}

/* The samples of p's faults a full ring lost, as its threads' kernel counters last said:
 * in the profile's lost row and, their addresses unknown, in the class "unknown". */
static void fprof_sync_lost(struct mw_fprof *fp, const struct mw_process *p)
{
	uint64_t lost = mw_process_fault_lost(p);

	if (!fp || lost <= fp->lost)
		return;
	fp->by_class[MW_FPROF_UNPLACED] += lost - fp->lost;
	fp->lost = lost;
}

/* The outputs see the process's sampled faults while it is reported. */
static void fprof_show(struct mw_session *s, const struct mw_fprof *fp)
{
	s->out.faulted_class_samples = fp ? fp->by_class : NULL;
	s->out.faulted_arena_samples = fp ? fp->by_arena : NULL;
	s->out.faulted_narena = fp ? fp->narena : 0;
	s->out.faulted_threads = fp ? fp->threads : NULL;
	s->out.faulted_nthreads = fp ? fp->nthreads : 0;
	s->out.faulted_scale = fp ? mw_fprof_bytes(fp, 1, s->model.page_size) : 0;
	s->out.faulted_estimated = fp && mw_fprof_estimated(fp);
}

/* --stacks: what each stack mapped that is still mapped; at the end, --folded too. */
static void report_bystack(struct mw_session *s, struct mw_process *p, uint64_t ts, bool final)
{
	struct mw_bystack_row *rows;
	long n = mw_bystack_rows(s->bystack, p, &rows);

	if (n < 0) {
		s->err = s->err ? s->err : -ENOMEM;
		return;
	}
	mw_out_bystack(&s->out, ts, s->bystack, p->pid, rows, (size_t)n);
	if (final && s->stack_folded) {
		mw_bystack_folded(s->stack_folded, s->bystack, rows, (size_t)n);
		fflush(s->stack_folded);
	}
	free(rows);
}

/* The process has ended, or could not be read this time: the last reading made while it
 * lived is kept apart (dated by its report) for the diagnoses; this report's is unknown. */
static void keep_last_rmap(struct mw_process *p)
{
	if (!p->rmap.known)
		return;
	mw_resident_map_clear(&p->rmap_last);
	p->rmap_last = p->rmap;
	memset(&p->rmap, 0, sizeof(p->rmap));
}

/* Resident bytes by class and arena, read for this report (recorded: a replay gives the
 * same); unknown where they could not be read. */
static void read_rmap(struct mw_session *s, struct mw_process *p, uint64_t ts)
{
	struct mw_rmap_entry e = { .pid = p->pid };
	struct mw_resident_map m = { 0 };
	int err = s->rmap(s->rmap_ctx, p, &m);

	_Static_assert(MW_CLASS_COUNT <= MW_RMAP_CLASSES, "every class recorded");
	if (err) {
		/* Gone before its exit came through (ENOENT): the last reading is still its. */
		keep_last_rmap(p);
		mw_resident_map_clear(&p->rmap);
		if (err == -ENOMEM)
			s->err = s->err ? s->err : err;
		return;
	}
	e.narenas = (__u32)m.narenas;
	memcpy(e.by_class, m.by_class, sizeof(m.by_class));
	record(s, MW_ENTRY_RMAP, &e, sizeof(e), m.by_arena, m.narenas * sizeof(*m.by_arena));
	mw_resident_map_clear(&p->rmap);
	p->rmap = m;
	p->rmap.ts_ns = ts;
}

static void report_process(struct mw_session *s, struct mw_process *p, uint64_t ts, bool final)
{
	struct mw_fprof *fp = fprof_of(s, p->pid, false);

	/* Whatever raced its snapshot has come by now. */
	mw_model_settle(p);
	/* First: a replay finds it as the entry after the report's. */
	if (s->rmap && !p->exited)
		read_rmap(s, p, ts);
	else if (p->exited)
		keep_last_rmap(p);
	else
		p->rmap.known = false;
	for (size_t i = 0; i < p->nthreads; i++)
		collect_counters(s, &p->threads[i], final);
	fprof_sync_lost(fp, p);
	fprof_show(s, fp);
	mw_out_process(&s->out, ts, p);
	mark_report(p, ts);
	if (p->alloc)
		mw_out_arenas(&s->out, ts, p);
	fprof_show(s, NULL);
	if (fp)
		mw_fprof_out(&s->out, ts, p->comm, fp, s->model.page_size);
	if (s->bystack)
		report_bystack(s, p, ts, final);
	if (s->hooks && s->hooks->report)
		s->hooks->report(s->hooks_ctx, ts, p, final);
	if (final) {
		struct mw_diag d[8];
		int n = mw_diagnose(p, p->arena_limit, d, 8);

		for (int i = 0; i < n; i++)
			mw_out_diag(&s->out, ts, p, &d[i]);
	}
	if (final && s->cfg->maps_at_exit)
		mw_out_regions(&s->out, ts, p);
}

static void finalize(struct mw_session *s, struct mw_process *p, uint64_t ts)
{
	/* Calls the model refused (no kernel makes them) are malformed records too. */
	s->bad_records += p->bad_calls;
	report_process(s, p, ts, true);
	fprof_forget(s, p->pid);
	if (s->bystack)
		mw_bystack_forget(s->bystack, p->pid);
	mw_model_forget(&s->model, p->pid);
}

int mw_session_record(struct mw_session *s, const void *data, size_t size)
{
	struct mw_event ev;

	if (mw_decode(&s->dctx, data, size, &ev))
		return mw_session_bad_record(s, data, size);
	return mw_session_event(s, &ev, data, size);
}

int mw_session_bad_record(struct mw_session *s, const void *data, size_t size)
{
	record(s, MW_ENTRY_RING, data, size, NULL, 0);
	s->bad_records++;
	return 0;
}

/* --stacks: the syscall's frames for the outputs, recorded right after its ring record. */
static void name_stack(struct mw_session *s, const struct mw_event *ev)
{
	struct mw_sstack_entry e = { .tid = ev->tid };
	struct mw_sframe_entry fe[MW_SSTACK_MAX];
	char names[MW_SSTACK_MAX * 2 * 256];
	unsigned char *buf;
	size_t len = 0;
	int n = s->stack(s->stack_ctx, ev, s->frames, MW_SSTACK_MAX);

	e.n = n > 0 ? (__u32)n : 0;
	s->out.frames = s->frames;
	s->out.nframes = e.n;
	if (!s->rec)
		return; /* the names are formatted for a recording only (two snprintf a frame) */
	for (__u32 i = 0; i < e.n; i++) {
		const char *v[2] = { s->frames[i].module, s->frames[i].func };

		fe[i] = (struct mw_sframe_entry){ s->frames[i].addr, s->frames[i].offset };
		for (int k = 0; k < 2; k++) {
			int w = snprintf(names + len, sizeof(names) - len, "%.*s", 255,
					 v[k] ? v[k] : "");

			len += (size_t)w + 1; /* the NUL too */
		}
	}
	buf = malloc(e.n * sizeof(*fe) + len + 1);
	if (!buf) {
		s->err = s->err ? s->err : -ENOMEM;
		return;
	}
	memcpy(buf, fe, e.n * sizeof(*fe));
	memcpy(buf + e.n * sizeof(*fe), names, len);
	record(s, MW_ENTRY_SSTACK, &e, sizeof(e), buf, e.n * sizeof(*fe) + len);
	free(buf);
}

/* --fault-stacks: a sampled fault goes to its process's profile, named and placed now (the
 * region that holds its address may be gone by the report). */
static void fault_sample(struct mw_session *s, const struct mw_event *ev)
{
	struct mw_process *p = mw_model_find(&s->model, ev->pid);
	struct mw_fprof *fp;

	if (!p || p->exited)
		return;
	if (s->stack)
		name_stack(s, ev);
	fp = fprof_of(s, ev->pid, true);
	if (!fp || mw_fprof_add(fp, ev->tid, s->out.frames, s->out.nframes,
				mw_regions_find(&p->regions, ev->flt.addr), ev->flt.sample_n))
		s->err = s->err ? s->err : -ENOMEM;
	s->out.frames = NULL;
	s->out.nframes = 0;
}

/* A call that can make new mapping: its stack is charged with the bytes. */
static bool maps_bytes(const struct mw_syscall_ev *sc)
{
	return sc->sys == MW_SYS_MMAP || sc->sys == MW_SYS_BRK || sc->sys == MW_SYS_MREMAP ||
	       sc->sys == MW_SYS_SHMAT;
}

static int start_bystack(struct mw_session *s)
{
	s->bystack = malloc(sizeof(*s->bystack));
	if (!s->bystack || mw_bystack_init(s->bystack, s->model.page_size)) {
		free(s->bystack);
		s->bystack = NULL;
		return -ENOMEM;
	}
	return 0;
}

int mw_session_event(struct mw_session *s, const struct mw_event *in, const void *raw,
		     size_t rawlen)
{
	struct mw_event ev = *in;
	struct mw_bystack_before bb;
	struct mw_apply a;
	int err;

	record(s, MW_ENTRY_RING, raw, rawlen, NULL, 0);
	s->out.frames = NULL;
	s->out.nframes = 0;
	if (ev.kind == MW_EV_FAULT) {
		fault_sample(s, &ev);
		return s->err;
	}
	/* Named only where they are written or recorded (-c writes no calls). */
	if (ev.kind == MW_EV_SYSCALL && (ev.sc.regs || ev.sc.same_ts) && s->stack && !s->bystack &&
	    start_bystack(s)) {
		s->err = -ENOMEM;
		return s->err;
	}
	/* Named where they are written or recorded, or charged in the per-stack ledger (-c
	 * writes no calls, and a munmap charges none). */
	if (ev.kind == MW_EV_SYSCALL && (ev.sc.regs || ev.sc.same_ts) && s->stack &&
	    (!s->out.summary_only || s->out.alloc_always || s->rec || maps_bytes(&ev.sc)))
		name_stack(s, &ev);
	if (s->bystack)
		mw_bystack_before(mw_model_find(&s->model, ev.pid), &bb);
	err = mw_model_apply(&s->model, &ev, &a);
	if (!err && s->bystack)
		err = mw_bystack_event(s->bystack, &ev, &a, &bb, s->out.frames, s->out.nframes);
	if (err == -ENOMEM) {
		s->err = err;
		return err;
	}
	if (a.proc && a.proc->needs_seed && s->reseed && s->reseed(s->src_ctx, a.proc->pid))
		a.proc->needs_seed = false; /* gone already; its exit follows */
	if (!ev.comm[0] && a.thread)
		memcpy(ev.comm, a.thread->comm, sizeof(ev.comm));
	mw_out_event(&s->out, &ev, &a);
	if (s->hooks && s->hooks->event)
		s->hooks->event(s->hooks_ctx, &ev, &a);
	if (a.proc && ev.kind == MW_EV_SYSCALL && ev.sc.sys == MW_SYS_SHMAT && !ev.sc.pages &&
	    !mw_ret_is_error(ev.sc.ret)) {
		char msg[160];

		/* Neither the kernel nor /proc could size it: say so, do not guess. */
		snprintf(
			msg, sizeof(msg),
			"pid %u: the size of shmat's mapping at %#llx is unknown: its net misses it",
			ev.pid, (unsigned long long)ev.sc.ret);
		mw_out_note(&s->out, ev.ts_ns, msg);
	}
	/* A call the model refused (no kernel makes it) is no allocator's either. */
	if (a.proc && a.proc->alloc && ev.kind != MW_EV_EXEC && !a.refused) {
		struct mw_alloc_ev v[MAX_ALLOC_EVENTS];
		int n = ev.kind == MW_EV_USDT
				? mw_alloc_usdt(a.proc->alloc, a.proc, &ev, v, MAX_ALLOC_EVENTS)
				: mw_alloc_apply(a.proc->alloc, a.proc, &ev, &a, v,
						 MAX_ALLOC_EVENTS);

		emit_alloc(s, a.proc, v, n);
		/* Code was mapped: it may tell which allocator this is, or bring a
		 * libc with malloc probes (names come from /proc: the source decides). */
		if (ev.kind == MW_EV_SYSCALL && ev.sc.sys == MW_SYS_MMAP &&
		    !(ev.sc.args[3] & MAP_ANONYMOUS) && (ev.sc.args[2] & PROT_EXEC) &&
		    !mw_ret_is_error(ev.sc.ret) && s->libs) {
			uint64_t start = (uint64_t)ev.sc.ret, ps = s->model.page_size;

			s->libs(s->src_ctx, a.proc->pid, start,
				start + ((ev.sc.args[1] + ps - 1) & ~(ps - 1)));
		}
	}
	if (ev.kind == MW_EV_EXIT && a.thread && !a.proc_done) {
		/* Read now: the kernel keeps them under this record's time only. */
		collect_counters(s, a.thread, true);
		if (s->retire_threads && s->out.json && !a.proc->group_dead &&
		    a.proc->nthreads > s->cfg->max_threads) {
			mw_out_thread(&s->out, mw_now_ns(CLOCK_REALTIME), a.proc, a.thread);
			mw_process_forget_thread(a.proc, a.thread->tid);
		}
	}
	s->out.frames = NULL;
	s->out.nframes = 0;
	/* The OOM killer chose it: its ledger now, before its exit takes it away. */
	if (ev.kind == MW_EV_OOM && a.proc) {
		s->oom_kills++;
		mw_model_settle(a.proc);
		mw_out_oom(&s->out, a.proc, &ev);
		if (s->oom)
			s->oom(s->src_ctx, &ev, a.proc);
	}
	if (a.proc_done)
		finalize(s, a.proc, ev.ts_ns);
	return s->err;
}

/* A (new) baseline: what the allocator is, and the arenas already there. */
static int seed_alloc(struct mw_session *s, struct mw_process *p, uint64_t snap_end_ns)
{
	struct mw_alloc_ev v[MAX_ALLOC_EVENTS];
	int n;

	mw_alloc_free(p->alloc);
	p->alloc = mw_alloc_new();
	if (!p->alloc)
		return -ENOMEM;
	mw_alloc_set_mem(p->alloc, &s->mem);
	n = mw_alloc_seed(p->alloc, &p->regions, p->start_brk,
			  s->facts_pid == p->pid ? &s->facts : NULL, v, MAX_ALLOC_EVENTS);
	if (s->facts_pid == p->pid) {
		mw_alloc_facts_free(&s->facts);
		s->facts_pid = 0;
	}
	for (int i = 0; i < n; i++) {
		v[i].pid = p->pid;
		v[i].ts_ns = snap_end_ns + s->dctx.mono_to_epoch_ns;
	}
	emit_alloc(s, p, v, n);
	return 0;
}

int mw_session_pieces(struct mw_session *s, uint32_t pid, const struct mw_maps_piece *v, size_t n)
{
	struct mw_pieces_entry e = { .pid = pid, .n = (__u32)n };
	struct mw_maps_piece *c = n ? malloc(n * sizeof(*c)) : NULL;

	_Static_assert(sizeof(struct mw_piece_entry) == sizeof(struct mw_maps_piece),
		       "a piece is recorded as it is");
	if (n && !c)
		return -ENOMEM;
	if (n)
		memcpy(c, v, n * sizeof(*c));
	record(s, MW_ENTRY_PIECES, &e, sizeof(e), v, n * sizeof(*v));
	free(s->pieces);
	s->pieces = c;
	s->npieces = n;
	s->pieces_pid = pid;
	return 0;
}

int mw_session_seed(struct mw_session *s, uint32_t pid, const char *maps_text, uint64_t start_brk,
		    uint64_t vm_size, uint64_t stack_size, uint64_t snap_end_ns, bool resync)
{
	struct mw_seed_entry e = {
		.pid = pid,
		.resync = resync,
		.start_brk = start_brk,
		.vm_size = vm_size,
		.stack_size = stack_size,
		.snap_end_ns = snap_end_ns,
	};
	struct mw_process *p;
	struct mw_regions maps;
	int err;

	p = resync ? mw_model_find(&s->model, pid) : mw_model_process(&s->model, pid);
	if (!p)
		return resync ? 0 : -ENOMEM;
	record(s, MW_ENTRY_SEED, &e, sizeof(e), maps_text, strlen(maps_text));
	mw_regions_init(&maps);
	err = mw_maps_parse(maps_text, &maps);
	if (!err)
		err = resync ? mw_model_resync(p, &maps, snap_end_ns)
			     : mw_model_seed(p, &maps, start_brk, vm_size, stack_size, snap_end_ns);
	mw_regions_free(&maps);
	if (!err && s->pieces && s->pieces_pid == pid)
		err = mw_model_set_pieces(p, s->pieces, s->npieces);
	free(s->pieces);
	s->pieces = NULL;
	s->npieces = 0;
	if (!err && !resync)
		err = seed_alloc(s, p, snap_end_ns);
	if (!err && !resync)
		mark_report(p, snap_end_ns + s->dctx.mono_to_epoch_ns);
	return err;
}

static unsigned char *put(unsigned char *q, const void *v, size_t n)
{
	if (n)
		memcpy(q, v, n);
	return q + n;
}

void mw_session_facts(struct mw_session *s, uint32_t pid, struct mw_alloc_facts *f)
{
	const char *why = f->arenas.why ? f->arenas.why : "";
	struct mw_facts_entry e = {
		.pid = pid,
		.how = f->arenas.how,
		.heap_max = f->arenas.heap_max,
		.main_arena = f->arenas.main_arena,
		.narenas = f->arenas.narenas,
		.nheaps = (__u32)f->arenas.nheaps,
		.nchunks = (__u32)f->nchunks,
		.nstacks = (__u32)f->nstacks,
		.nnoreserve = (__u32)f->nnoreserve,
		.nforeign = (__u32)f->nforeign,
		.flags = (f->vmflags ? MW_FACTS_VMFLAGS : 0) |
			 (f->overcommit_never ? MW_FACTS_OVERCOMMIT_NEVER : 0),
		.why_len = (__u32)strlen(why),
	};
	size_t len = e.nheaps * sizeof(struct mw_facts_heap) +
		     (e.nchunks + e.nnoreserve + e.nforeign) * sizeof(struct mw_range) +
		     e.nstacks * sizeof(struct mw_stack_range) + e.why_len;
	unsigned char *buf = malloc(len ? len : 1), *q = buf;

	if (buf) {
		for (size_t i = 0; i < e.nheaps; i++) {
			struct mw_facts_heap h = { .base = f->arenas.heaps[i].base,
						   .rw = f->arenas.heaps[i].rw,
						   .arena = f->arenas.heaps[i].arena };

			q = put(q, &h, sizeof(h));
		}
		q = put(q, f->chunks, e.nchunks * sizeof(struct mw_range));
		q = put(q, f->stacks, e.nstacks * sizeof(struct mw_stack_range));
		q = put(q, f->noreserve, e.nnoreserve * sizeof(struct mw_range));
		q = put(q, f->foreign, e.nforeign * sizeof(struct mw_range));
		put(q, why, e.why_len);
		record(s, MW_ENTRY_ALLOC_FACTS, &e, sizeof(e), buf, len);
		free(buf);
	} else {
		s->err = s->err ? s->err : -ENOMEM;
	}
	mw_alloc_facts_free(&s->facts);
	s->facts = *f;
	s->facts_pid = pid;
	memset(f, 0, sizeof(*f));
}

/* n elements of size bytes from *q (malloc'd, at least one), or NULL. */
static void *take(const unsigned char **q, size_t n, size_t size)
{
	void *v = calloc(n ? n : 1, size);

	if (v && n)
		memcpy(v, *q, n * size);
	*q += n * size;
	return v;
}

int mw_session_facts_entry(struct mw_session *s, const void *data, size_t len)
{
	const unsigned char *q = (const unsigned char *)data + sizeof(struct mw_facts_entry);
	struct mw_alloc_facts f = {};
	struct mw_facts_entry e;
	char *why;

	if (len < sizeof(e))
		return -EINVAL;
	memcpy(&e, data, sizeof(e));
	if (len != sizeof(e) + (size_t)e.nheaps * sizeof(struct mw_facts_heap) +
			    ((size_t)e.nchunks + e.nnoreserve + e.nforeign) *
				    sizeof(struct mw_range) +
			    (size_t)e.nstacks * sizeof(struct mw_stack_range) + e.why_len ||
	    e.how > MW_ARENAS_LAYOUT)
		return -EINVAL;
	f.arenas = (struct mw_glibc_arenas){ .how = e.how,
					     .heap_max = e.heap_max,
					     .main_arena = e.main_arena,
					     .narenas = e.narenas,
					     .nheaps = e.nheaps };
	f.arenas.heaps = calloc(e.nheaps ? e.nheaps : 1, sizeof(*f.arenas.heaps));
	for (size_t i = 0; f.arenas.heaps && i < e.nheaps; i++, q += sizeof(struct mw_facts_heap)) {
		struct mw_facts_heap h;

		memcpy(&h, q, sizeof(h));
		f.arenas.heaps[i] = (struct mw_glibc_heap){ h.base, h.rw, h.arena };
	}
	f.nchunks = e.nchunks;
	f.chunks = take(&q, e.nchunks, sizeof(*f.chunks));
	f.nstacks = e.nstacks;
	f.stacks = take(&q, e.nstacks, sizeof(*f.stacks));
	f.nnoreserve = e.nnoreserve;
	f.noreserve = take(&q, e.nnoreserve, sizeof(*f.noreserve));
	f.nforeign = e.nforeign;
	f.foreign = take(&q, e.nforeign, sizeof(*f.foreign));
	f.vmflags = e.flags & MW_FACTS_VMFLAGS;
	f.overcommit_never = e.flags & MW_FACTS_OVERCOMMIT_NEVER;
	why = strndup((const char *)q, e.why_len);
	if (!f.arenas.heaps || !f.chunks || !f.stacks || !f.noreserve || !f.foreign || !why) {
		free(why);
		mw_alloc_facts_free(&f);
		return -ENOMEM;
	}
	f.arenas.why = mw_intern_pin(why); /* kept by the process's allocator state */
	free(why);
	mw_session_facts(s, e.pid, &f);
	return 0;
}

void mw_session_thread_name(struct mw_session *s, uint32_t pid, uint32_t tid, const char *comm)
{
	struct mw_thread_entry e = { .pid = pid, .tid = tid };
	struct mw_process *p = mw_model_find(&s->model, pid);
	struct mw_thread *t;

	if (!p)
		return;
	strncpy(e.comm, comm, sizeof(e.comm) - 1);
	record(s, MW_ENTRY_THREAD, &e, sizeof(e), NULL, 0);
	t = mw_process_thread(p, tid);
	if (t && !t->comm[0])
		memcpy(t->comm, e.comm, sizeof(t->comm));
	if (tid == pid && !p->comm[0])
		memcpy(p->comm, e.comm, sizeof(p->comm));
}

void mw_session_libs(struct mw_session *s, uint32_t pid, const char *maps_text)
{
	struct mw_process *p = mw_model_find(&s->model, pid);
	__u32 head[2] = { pid, 0 };
	struct mw_alloc_ev v[MAX_ALLOC_EVENTS];
	struct mw_regions maps;
	int n;

	if (!p || !p->alloc)
		return;
	record(s, MW_ENTRY_LIBS, head, sizeof(head), maps_text, strlen(maps_text));
	mw_regions_init(&maps);
	if (mw_maps_parse(maps_text, &maps) == 0) {
		n = mw_alloc_detect(p->alloc, &maps, v, MAX_ALLOC_EVENTS);
		for (int i = 0; i < n; i++) {
			v[i].pid = pid;
			v[i].ts_ns = mw_now_ns(CLOCK_REALTIME);
		}
		emit_alloc(s, p, v, n);
	}
	mw_regions_free(&maps);
}

void mw_session_preload(struct mw_session *s, uint32_t pid, const char *ld_preload)
{
	struct mw_process *p = mw_model_find(&s->model, pid);
	__u32 head[2] = { pid, 0 };
	struct mw_alloc_ev v[MAX_ALLOC_EVENTS];
	int n;

	if (!p || !p->alloc)
		return;
	record(s, MW_ENTRY_PRELOAD, head, sizeof(head), ld_preload, strlen(ld_preload));
	n = mw_alloc_preload(p->alloc, ld_preload, v, MAX_ALLOC_EVENTS);
	for (int i = 0; i < n; i++) {
		v[i].pid = pid;
		v[i].ts_ns = mw_now_ns(CLOCK_REALTIME);
	}
	emit_alloc(s, p, v, n);
}

void mw_session_arena_limit(struct mw_session *s, uint32_t pid, int limit)
{
	struct mw_process *p = mw_model_find(&s->model, pid);
	__u32 head[2] = { pid, (__u32)limit };

	if (!p)
		return;
	record(s, MW_ENTRY_ARENA_LIMIT, head, sizeof(head), NULL, 0);
	p->arena_limit = limit;
}

void mw_session_vmsize(struct mw_session *s, uint32_t pid, uint64_t vm_size, uint64_t stack_size)
{
	struct mw_vmsize_entry e = { .pid = pid, .vm_size = vm_size, .stack_size = stack_size };
	struct mw_process *p = mw_model_find(&s->model, pid);

	if (!p || p->exited)
		return;
	record(s, MW_ENTRY_VMSIZE, &e, sizeof(e), NULL, 0);
	p->vm_end = vm_size;
	p->stack_end = stack_size;
}

void mw_session_resident(struct mw_session *s, uint32_t pid, const struct mw_resident *r,
			 bool start)
{
	struct mw_resident_entry e = { .pid = pid,
				       .start = start,
				       .anon = r->anon,
				       .file = r->file,
				       .shmem = r->shmem,
				       .ts_ns = r->ts_ns };
	struct mw_process *p = mw_model_find(&s->model, pid);

	if (!p || p->exited)
		return;
	record(s, MW_ENTRY_RESIDENT, &e, sizeof(e), NULL, 0);
	mw_process_set_resident(p, r, start);
}

void mw_session_lost(struct mw_session *s, uint64_t ts_ns, uint64_t count)
{
	__u64 c = count;

	record(s, MW_ENTRY_LOST, &c, sizeof(c), NULL, 0);
	mw_out_lost(&s->out, ts_ns, count);
}

void mw_session_gone(struct mw_session *s, uint32_t pid, int status, uint64_t ts_ns)
{
	struct mw_gone_entry e = { .pid = pid, .status = status, .ts_ns = ts_ns };
	struct mw_process *p = mw_model_find(&s->model, pid);

	if (!p || p->exited)
		return;
	record(s, MW_ENTRY_GONE, &e, sizeof(e), NULL, 0);
	p->exited = true;
	/* After group_dead the kernel's status stands; a thread's exit record was lost. */
	if (!p->group_dead)
		p->exit_code = status < 0 ? 0 : status;
	finalize(s, p, ts_ns);
}

void mw_session_report_all(struct mw_session *s, uint64_t ts_ns, bool final)
{
	struct mw_report_entry e = { .ts_ns = ts_ns, .final = final };

	record(s, MW_ENTRY_REPORT, &e, sizeof(e), NULL, 0);
	for (size_t i = 0; i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];

		/* Ended, a thread's exit still to come: its code is the kernel's. */
		p->exited |= final && p->group_dead;
		report_process(s, p, ts_ns, final);
	}
	for (size_t i = 0; final && i < s->model.nprocs; i++)
		s->bad_records += s->model.procs[i]->bad_calls;
	if (final && s->bad_records) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%llu malformed records skipped",
			 (unsigned long long)s->bad_records);
		mw_out_note(&s->out, ts_ns, msg);
	}
}

size_t mw_session_live(const struct mw_session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->model.nprocs; i++)
		n += !s->model.procs[i]->exited;
	return n;
}

void mw_session_counters_now(struct mw_session *s)
{
	for (size_t i = 0; s->resident && i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];
		struct mw_resident r;

		if (!p->exited && !s->resident(s->src_ctx, p->pid, &r))
			mw_session_resident(s, p->pid, &r, false);
	}
	for (size_t i = 0; s->counters && i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];

		for (size_t k = 0; !p->exited && k < p->nthreads; k++) {
			struct mw_thread *t = &p->threads[k];
			struct mw_thread_counters c;

			if (t->exited || t->kernel_final ||
			    s->counters(s->src_ctx, t->tid, &c, false))
				continue;
			mw_thread_set_kernel(t, &c, s->model.page_size);
		}
		if (!p->exited)
			fprof_sync_lost(fprof_of(s, p->pid, false), p);
	}
}
