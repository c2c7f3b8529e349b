// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process model: applies typed events to per-process region maps and
 * per-thread ledgers. See model.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "base/grow.h"
#include "model.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_DONTFORK
#define MADV_DONTFORK 10
#define MADV_DOFORK 11
#endif

#define PROT_RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

void mw_model_init(struct mw_model *m, uint64_t page_size)
{
	memset(m, 0, sizeof(*m));
	m->page_size = page_size ? page_size : 4096;
}

static void process_free(const struct mw_model *m, struct mw_process *p)
{
	if (!p)
		return;
	mw_regions_free(&p->regions);
	free(p->pieces);
	free(p->boundary);
	if (p->alloc)
		m->alloc_ops.free(p->alloc);
	free(p->threads);
	free(p->retired);
	free(p->rmap.by_arena);
	free(p->rmap_last.by_arena);
	free(p);
}

void mw_model_free(struct mw_model *m)
{
	for (size_t i = 0; i < m->nprocs; i++)
		process_free(m, m->procs[i]);
	free(m->procs);
	memset(m, 0, sizeof(*m));
}

struct mw_process *mw_model_find(const struct mw_model *m, uint32_t pid)
{
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i]->pid == pid)
			return m->procs[i];
	return NULL;
}

struct mw_process *mw_model_process(struct mw_model *m, uint32_t pid)
{
	struct mw_process *p = mw_model_find(m, pid);

	if (p)
		return p;
	if (mw_grow(&m->procs, m->nprocs, &m->cap, sizeof(*m->procs), 8))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	mw_regions_init(&p->regions);
	m->procs[m->nprocs++] = p;
	return p;
}

void mw_model_forget(struct mw_model *m, uint32_t pid)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		if (m->procs[i]->pid != pid)
			continue;
		process_free(m, m->procs[i]);
		memmove(&m->procs[i], &m->procs[i + 1], (m->nprocs - i - 1) * sizeof(m->procs[0]));
		m->nprocs--;
		return;
	}
}

/* Index of the first thread with tid >= key. */
static size_t thread_lower_bound(const struct mw_process *p, uint32_t tid)
{
	size_t lo = 0, hi = p->nthreads;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->threads[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct mw_thread *mw_process_find_thread(const struct mw_process *p, uint32_t tid)
{
	size_t i = thread_lower_bound(p, tid);

	return i < p->nthreads && p->threads[i].tid == tid ? &p->threads[i] : NULL;
}

const struct mw_retired *mw_process_retired(const struct mw_process *p, const char *comm)
{
	for (size_t i = 0; i < p->nretired; i++)
		if (!strncmp(p->retired[i].comm, comm, MW_COMM_LEN))
			return &p->retired[i];
	for (size_t i = 0; p->nretired >= MW_MAX_RETIRED_NAMES && i < p->nretired; i++)
		if (!strcmp(p->retired[i].comm, MW_RETIRED_OTHER))
			return &p->retired[i];
	return NULL;
}

/* Keep a forgotten thread's final counts under its name. */
static void retire_counts(struct mw_process *p, const struct mw_thread *t)
{
	const char *name = t->comm[0] ? t->comm : p->comm;
	struct mw_retired *r = (struct mw_retired *)mw_process_retired(p, name);
	const struct mw_counts *c = mw_thread_counts(t);

	p->retired_fault_lost += t->fault_lost;
	if (!r) {
		if (mw_grow(&p->retired, p->nretired, &p->capretired, sizeof(*p->retired), 8))
			return; /* out of memory: the name's total can drop */
		r = &p->retired[p->nretired++];
		memset(r, 0, sizeof(*r));
		snprintf(r->comm, sizeof(r->comm), "%s",
			 p->nretired >= MW_MAX_RETIRED_NAMES ? MW_RETIRED_OTHER : name);
	}
	for (int s = 0; s < MW_SYS_COUNT; s++) {
		r->counts.calls[s] += c->calls[s];
		r->counts.errors[s] += c->errors[s];
		r->counts.dur_ns[s] += c->dur_ns[s];
	}
	r->faulted += t->faulted;
}

uint64_t mw_process_fault_lost(const struct mw_process *p)
{
	uint64_t n = p->retired_fault_lost;

	for (size_t i = 0; i < p->nthreads; i++)
		n += p->threads[i].fault_lost;
	return n;
}

size_t mw_process_threads_left(const struct mw_process *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nthreads; i++)
		n += !p->threads[i].exited;
	return n;
}

void mw_process_forget_thread(struct mw_process *p, uint32_t tid)
{
	size_t i = thread_lower_bound(p, tid);

	if (i >= p->nthreads || p->threads[i].tid != tid)
		return;
	retire_counts(p, &p->threads[i]);
	memmove(&p->threads[i], &p->threads[i + 1], (p->nthreads - i - 1) * sizeof(p->threads[0]));
	p->nthreads--;
}

struct mw_thread *mw_process_thread(struct mw_process *p, uint32_t tid)
{
	size_t i = thread_lower_bound(p, tid);

	if (i < p->nthreads && p->threads[i].tid == tid)
		return &p->threads[i];
	if (mw_grow(&p->threads, p->nthreads, &p->cap, sizeof(*p->threads), 8))
		return NULL;
	memmove(&p->threads[i + 1], &p->threads[i], (p->nthreads - i) * sizeof(p->threads[0]));
	memset(&p->threads[i], 0, sizeof(p->threads[i]));
	p->threads[i].tid = tid;
	p->nthreads++;
	return &p->threads[i];
}

/* [vsyscall] is shown in maps but is not part of the mm: VmSize leaves it out. */
static void drop_vsyscall(struct mw_regions *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].name && !strcmp(r->v[i].name, "[vsyscall]")) {
			mw_regions_unmap(r, r->v[i].start, r->v[i].end, NULL);
			return;
		}
	}
}

/* After an exec the map is read later than the exec's numbers: the main stack
 * may have grown by then. Cut it back to what exec made (VmStk then). */
static int trim_exec_stack(struct mw_process *p)
{
	for (size_t i = 0; i < p->regions.n; i++) {
		const struct mw_region *r = &p->regions.v[i];

		if ((r->flags & MW_RF_STACK) && r->end - r->start > p->stack_start &&
		    p->stack_start)
			return mw_regions_unmap(&p->regions, r->start, r->end - p->stack_start,
						NULL);
	}
	return 0;
}

int mw_model_seed(struct mw_process *p, const struct mw_regions *maps, uint64_t start_brk,
		  uint64_t vm_size, uint64_t stack_size, uint64_t snap_end_ns)
{
	int err = mw_regions_copy(&p->regions, maps, false);
	bool exec_vm = p->exec_vm;

	if (err)
		return err;
	drop_vsyscall(&p->regions);
	p->start_brk = start_brk;
	p->brk = start_brk;
	/* The heap vma is [start_brk, PAGE_ALIGN(brk)): its end gives the break to a page. */
	for (size_t i = 0; i < maps->n; i++) {
		if (maps->v[i].flags & MW_RF_HEAP) {
			p->brk = maps->v[i].end;
			if (!p->start_brk)
				p->start_brk = maps->v[i].start;
		}
	}
	p->seed_mono_ns = snap_end_ns;
	if (exec_vm) {
		/* The exec record's numbers are the baseline; this map came later. */
		err = trim_exec_stack(p);
		if (err)
			return err;
	} else {
		p->vm_start = vm_size;
		p->stack_start = stack_size;
	}
	p->exec_vm = false;
	p->npending = 0;
	p->vm_end = p->stack_end = 0;
	p->net = 0;
	p->unattributed = 0;
	p->stack_calls = 0;
	p->needs_seed = false;
	free(p->pieces);
	p->pieces = NULL;
	p->npieces = 0;
	p->nboundary = 0;
	/*
	 * After an exec the kernel's numbers and the calls since are the ledger, the
	 * map read later only the picture: nothing to settle. Nothing can race a
	 * snapshot taken when nothing ran (launch mode): settled at once.
	 */
	p->settle_pending = !exec_vm;
	if (!snap_end_ns)
		mw_model_settle(p);
	return 0;
}

int mw_model_set_pieces(struct mw_process *p, const struct mw_maps_piece *v, size_t n)
{
	struct mw_maps_piece *c = n ? malloc(n * sizeof(*c)) : NULL;

	if (n && !c)
		return -ENOMEM;
	if (n)
		memcpy(c, v, n * sizeof(*c));
	free(p->pieces);
	p->pieces = c;
	p->npieces = n;
	return 0;
}

static int64_t delta_net(const struct mw_vm_delta *d)
{
	return (int64_t)d->mapped - (int64_t)d->unmapped;
}

/* A call counted after the baseline that VmSize showed already: out of the ledgers. */
static void move_before_baseline(struct mw_process *p, const struct mw_boundary_call *b)
{
	struct mw_thread *t = mw_process_find_thread(p, b->tid);

	if (t) {
		t->mapped -= b->d.mapped;
		t->unmapped -= b->d.unmapped;
		t->accessible -= b->d.accessible;
		t->reserved -= b->d.reserved;
	}
	p->net -= delta_net(&b->d);
	p->stack_calls -= b->d.stack;
	p->raced++;
}

/* Which of the calls just after the snapshot VmSize already showed: the first k
 * (calls arrive about in the order they completed), else one, else two of them,
 * whose changes are exactly want. Moves them; false when none fit. */
static bool explain_by_boundary(struct mw_process *p, int64_t want)
{
	const struct mw_boundary_call *b = p->boundary;
	size_t n = p->nboundary;
	int64_t sum = 0;

	for (size_t k = 0; k < n; k++) {
		sum += delta_net(&b[k].d);
		if (sum != want)
			continue;
		for (size_t i = 0; i <= k; i++)
			move_before_baseline(p, &b[i]);
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		if (delta_net(&b[i].d) == want) {
			move_before_baseline(p, &b[i]);
			return true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			if (delta_net(&b[i].d) + delta_net(&b[j].d) == want) {
				move_before_baseline(p, &b[i]);
				move_before_baseline(p, &b[j]);
				return true;
			}
		}
	}
	return false;
}

void mw_model_settle(struct mw_process *p)
{
	int64_t have = (int64_t)mw_regions_bytes(&p->regions), diff;

	if (!p->settle_pending)
		return;
	p->settle_pending = false;
	/* Ranges held for a munmap not seen yet are still mapped in the kernel. */
	for (size_t i = 0; i < p->npending; i++)
		have += (int64_t)(p->pending[i].end - p->pending[i].start);
	diff = have - ((int64_t)p->vm_start + p->net);
	if (diff && explain_by_boundary(p, -diff))
		diff = 0;
	p->unattributed += diff;
	p->net += diff;
	free(p->pieces);
	p->pieces = NULL;
	p->npieces = 0;
	free(p->boundary);
	p->boundary = NULL;
	p->nboundary = 0;
}

uint64_t mw_thread_dropped(const struct mw_thread *t)
{
	uint64_t lost = 0;

	if (!t->have_kernel)
		return 0;
	for (int i = 0; i < MW_SYS_COUNT; i++)
		if (t->counts.calls[i] > t->seen_calls[i])
			lost += t->counts.calls[i] - t->seen_calls[i];
	return lost;
}

/* A pending range that no munmap claimed: its bytes left the model uncharged. */
static void pending_expire(struct mw_process *p, size_t i)
{
	int64_t bytes = (int64_t)(p->pending[i].end - p->pending[i].start);

	p->unattributed = mw_i64_sub(p->unattributed, bytes);
	p->net = mw_i64_sub(p->net, bytes);
	p->pending[i] = p->pending[--p->npending];
}

static void pending_expire_old(struct mw_process *p, uint64_t now_ns)
{
	for (size_t i = 0; i < p->npending;) {
		if (p->pending[i].by_ns + MW_PENDING_TTL_NS < now_ns)
			pending_expire(p, i);
		else
			i++;
	}
}

int64_t mw_process_stack_delta(const struct mw_process *p)
{
	if (!p->stack_start || !p->stack_end)
		return 0;
	/* A MAP_GROWSDOWN mapping is in VmStk as well as in the calls' net. */
	return mw_i64_sub(mw_i64_sub((int64_t)p->stack_end, (int64_t)p->stack_start),
			  p->stack_calls);
}

int mw_model_resync(struct mw_process *p, const struct mw_regions *maps, uint64_t snap_end_ns)
{
	int64_t before = (int64_t)mw_regions_bytes(&p->regions);
	int64_t diff;
	int err = mw_regions_copy(&p->regions, maps, false);

	if (err)
		return err;
	drop_vsyscall(&p->regions);
	for (size_t i = 0; i < maps->n; i++)
		if (maps->v[i].flags & MW_RF_HEAP)
			p->brk = maps->v[i].end;
	diff = mw_i64_sub((int64_t)mw_regions_bytes(&p->regions), before);
	/* The snapshot is the truth now; unclaimed ranges will never be charged. */
	while (p->npending)
		pending_expire(p, 0);
	p->unattributed = mw_i64_add(p->unattributed, diff);
	p->net = mw_i64_add(p->net, diff);
	p->seed_mono_ns = snap_end_ns;
	/* Calls that raced this snapshot repair it: settled again once they are in. */
	free(p->pieces);
	p->pieces = NULL;
	p->npieces = 0;
	p->nboundary = 0;
	p->settle_pending = true;
	return 0;
}

static inline uint64_t page_up(const struct mw_model *m, uint64_t v)
{
	return (v + m->page_size - 1) & ~(m->page_size - 1);
}

static void pending_add(struct mw_process *p, uint64_t start, uint64_t end, uint64_t by_ns,
			uint32_t by_tid, bool accessible)
{
	if (p->npending == MW_MAX_PENDING) {
		size_t oldest = 0;

		for (size_t i = 1; i < p->npending; i++)
			if (p->pending[i].by_ns < p->pending[oldest].by_ns)
				oldest = i;
		pending_expire(p, oldest);
	}
	p->pending[p->npending++] =
		(struct mw_pending_unmap){ start, end, by_ns, by_tid, accessible };
}

/* A mapping that cannot replace anything landed on [start, end): whatever the
 * model still has there was unmapped by a call not seen yet. */
static int take_over(struct mw_process *p, uint64_t start, uint64_t end, uint64_t now_ns,
		     uint32_t tid)
{
	for (size_t i = 0; i < p->regions.n; i++) {
		const struct mw_region *r = &p->regions.v[i];
		uint64_t s = r->start > start ? r->start : start;
		uint64_t e = r->end < end ? r->end : end;

		if (r->start >= end)
			break;
		if (s < e)
			pending_add(p, s, e, now_ns, tid, r->prot != PROT_NONE);
	}
	return mw_regions_unmap(&p->regions, start, end, NULL);
}

/* munmap: first claim pending ranges this call may have freed, then unmap
 * the rest. A thread's records arrive in order, so the thread that found a
 * range still mapped cannot be the one whose munmap freed it; and when calls
 * are timed, that munmap began before the mapping call ended. */
static int apply_munmap(struct mw_model *m, struct mw_process *p, const struct mw_event *ev,
			struct mw_vm_delta *d)
{
	uint64_t start = ev->sc.args[0], end = start + page_up(m, ev->sc.args[1]);
	uint64_t began = ev->mono_ns - ev->sc.dur_ns, cur = start;
	int err = 0;

	while (cur < end && !err) {
		uint64_t next_claim = end, claim_end = end;
		size_t hit = MW_MAX_PENDING;

		/* The lowest pending range at or after cur that this call may own. */
		for (size_t i = 0; i < p->npending; i++) {
			const struct mw_pending_unmap *q = &p->pending[i];
			uint64_t s = q->start > cur ? q->start : cur;

			if (q->by_tid == ev->tid || (ev->sc.dur_ns && q->by_ns < began) ||
			    q->end <= cur || q->start >= end || s >= next_claim)
				continue;
			next_claim = s;
			claim_end = q->end < end ? q->end : end;
			hit = i;
		}
		if (next_claim > cur)
			err = mw_regions_unmap(&p->regions, cur, next_claim, d);
		if (hit == MW_MAX_PENDING)
			break;
		{
			struct mw_pending_unmap q = p->pending[hit];
			int64_t bytes = (int64_t)(claim_end - next_claim);

			d->unmapped += bytes;
			if (q.accessible)
				d->accessible = mw_i64_sub(d->accessible, bytes);
			else
				d->reserved = mw_i64_sub(d->reserved, bytes);
			p->pending[hit] = p->pending[--p->npending];
			if (q.start < next_claim)
				pending_add(p, q.start, next_claim, q.by_ns, q.by_tid,
					    q.accessible);
			if (claim_end < q.end)
				pending_add(p, claim_end, q.end, q.by_ns, q.by_tid, q.accessible);
		}
		cur = claim_end;
	}
	return err;
}

static int apply_mmap(struct mw_model *m, struct mw_process *p, const struct mw_event *ev,
		      struct mw_vm_delta *d)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	struct mw_region r = {
		.start = (uint64_t)sc->ret,
		.end = (uint64_t)sc->ret + page_up(m, sc->args[1]),
		.prot = sc->args[2] & PROT_RWX,
		.tid = ev->tid,
		.ts_ns = ev->ts_ns,
	};

	if ((sc->args[3] & MAP_TYPE) != MAP_PRIVATE)
		r.flags |= MW_RF_SHARED;
	if (!(sc->args[3] & MAP_ANONYMOUS))
		r.flags |= MW_RF_FILE;
	if (sc->args[3] & MAP_GROWSDOWN)
		r.flags |= MW_RF_GROWSDOWN;
	/* Without MAP_FIXED (MAP_FIXED_NOREPLACE included) nothing is replaced. */
	if (!(sc->args[3] & MAP_FIXED)) {
		int err = take_over(p, r.start, r.end, ev->mono_ns, ev->tid);

		if (err)
			return err;
	}
	return mw_regions_map(&p->regions, &r, d);
}

/* The heap is [start_brk, PAGE_ALIGN(brk)); a new break moves its end. Applied
 * as "set the end", so a break already seen in the snapshot changes nothing. */
static int apply_brk(struct mw_model *m, struct mw_process *p, const struct mw_event *ev,
		     struct mw_vm_delta *d)
{
	uint64_t nbrk = (uint64_t)ev->sc.ret;
	uint64_t old_end, new_end;
	int err = 0;

	if (!p->brk || !p->start_brk || nbrk < p->start_brk) {
		/* First sight of the break (e.g. the baseline had none). */
		if (!p->start_brk || nbrk < p->start_brk)
			p->start_brk = nbrk;
		p->brk = nbrk;
		return 0;
	}
	old_end = page_up(m, p->brk);
	new_end = page_up(m, nbrk);
	if (new_end > old_end) {
		struct mw_region r = {
			.start = old_end > p->start_brk ? old_end : p->start_brk,
			.end = new_end,
			.prot = PROT_READ | PROT_WRITE,
			.flags = MW_RF_HEAP,
			.tid = ev->tid,
			.ts_ns = ev->ts_ns,
		};
		const struct mw_region *below = mw_regions_find(&p->regions, r.start - 1);

		/* Grow with the attributes of the heap below, but as the calling
		 * thread's bytes: a heap that existed at attach (tid 0) or that a
		 * forked child inherited is still grown by this thread. One region per
		 * run of growth by one thread. */
		if (below && (below->flags & MW_RF_HEAP)) {
			r.prot = below->prot;
			r.flags = below->flags & ~MW_RF_BASELINE;
			r.name = below->name;
			r.cls = below->cls;
			r.arena = below->arena;
		}
		err = mw_regions_map(&p->regions, &r, d);
	} else if (new_end < old_end) {
		err = mw_regions_unmap(&p->regions, new_end, old_end, d);
	}
	p->brk = nbrk;
	return err;
}

static int apply_mremap(struct mw_model *m, struct mw_process *p, const struct mw_event *ev,
			struct mw_vm_delta *d)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	uint64_t dst = (uint64_t)sc->ret;

	/* A move the kernel chose (no MREMAP_FIXED) lands on free space only. */
	if (dst != sc->args[0] && !(sc->args[3] & MREMAP_FIXED)) {
		int err = take_over(p, dst, dst + page_up(m, sc->args[2]), ev->mono_ns, ev->tid);

		if (err)
			return err;
	}
	return mw_regions_remap(&p->regions, sc->args[0], page_up(m, sc->args[1]),
				(uint64_t)sc->ret, page_up(m, sc->args[2]),
				sc->args[3] & MREMAP_DONTUNMAP, ev->tid, ev->ts_ns, d);
}

static int apply_madvise(struct mw_model *m, struct mw_process *p, const struct mw_event *ev)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	uint64_t start = sc->args[0], end = start + page_up(m, sc->args[1]);

	switch (sc->args[2]) {
	case MADV_DONTFORK: return mw_regions_set_flags(&p->regions, start, end, MW_RF_DONTFORK, 0);
	case MADV_DOFORK: return mw_regions_set_flags(&p->regions, start, end, 0, MW_RF_DONTFORK);
	}
	return 0;
}

#ifndef SHM_RDONLY
#define SHM_RDONLY 010000
#define SHM_REMAP 040000
#define SHM_EXEC 0100000
#endif

/* shmat maps the whole segment, shared, at the address it returns; the record
 * carries the mapping's size (0 when even user space could not find it). */
static int apply_shmat(struct mw_model *m, struct mw_process *p, const struct mw_event *ev,
		       struct mw_vm_delta *d)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	struct mw_region r = {
		.start = (uint64_t)sc->ret,
		.end = (uint64_t)sc->ret + sc->pages * m->page_size,
		.prot = sc->args[2] & SHM_RDONLY ? PROT_READ : PROT_READ | PROT_WRITE,
		.flags = MW_RF_SHARED | MW_RF_FILE | MW_RF_SHM,
		.tid = ev->tid,
		.ts_ns = ev->ts_ns,
		.cls = MW_CLASS_SHM,
	};

	if (sc->args[2] & SHM_EXEC)
		r.prot |= PROT_EXEC;
	/* Without SHM_REMAP an overlap is refused (EINVAL): nothing is replaced. */
	if (!(sc->args[2] & SHM_REMAP)) {
		int err = take_over(p, r.start, r.end, ev->mono_ns, ev->tid);

		if (err)
			return err;
	}
	return mw_regions_map(&p->regions, &r, d);
}

/* The end of the run of segment mappings at addr (shmdt without a known size). */
static uint64_t shm_run_end(const struct mw_process *p, uint64_t addr)
{
	size_t i = mw_regions_index(&p->regions, addr);
	uint64_t end = addr;

	for (; i < p->regions.n; i++) {
		const struct mw_region *r = &p->regions.v[i];

		if (r->start != end || !(r->flags & MW_RF_SHM) ||
		    (end != addr && r->name != p->regions.v[i - 1].name))
			break;
		end = r->end;
	}
	return end;
}

/* shmdt removes the segment's mappings in [addr, addr + its size), nothing else. */
static int apply_shmdt(struct mw_model *m, struct mw_process *p, const struct mw_event *ev,
		       struct mw_vm_delta *d)
{
	uint64_t start = ev->sc.args[0];
	uint64_t end = ev->sc.pages ? start + ev->sc.pages * m->page_size : shm_run_end(p, start);
	int err = 0;

	while (!err) {
		size_t i = mw_regions_index(&p->regions, start);
		const struct mw_region *r;

		while (i < p->regions.n && p->regions.v[i].start < end &&
		       !(p->regions.v[i].flags & MW_RF_SHM))
			i++;
		if (i == p->regions.n || p->regions.v[i].start >= end)
			break;
		r = &p->regions.v[i];
		start = r->end < end ? r->end : end;
		err = mw_regions_unmap(&p->regions,
				       r->start > ev->sc.args[0] ? r->start : ev->sc.args[0], start,
				       d);
	}
	return err;
}

/* [start, start + len) page aligned and inside [0, MW_MAX_RANGE) (so it cannot wrap). */
static bool range_ok(const struct mw_model *m, uint64_t start, uint64_t len)
{
	return !(start & (m->page_size - 1)) && start <= MW_MAX_RANGE && len <= MW_MAX_RANGE &&
	       start + page_up(m, len) <= MW_MAX_RANGE;
}

/*
 * What the kernel can have done: a call that succeeded had page-aligned
 * ranges inside the address space (x86-64 user space ends below 2^57 even
 * with 5-level paging; [vsyscall] sits just above and is never an argument).
 * Anything else comes from a corrupt or crafted recording and is not applied:
 * its ranges could wrap around 2^64.
 */
static bool call_ok(const struct mw_model *m, const struct mw_syscall_ev *sc)
{
	const uint64_t *a = sc->args;

	switch (sc->sys) {
	case MW_SYS_BRK: return (uint64_t)sc->ret <= MW_MAX_RANGE;
	case MW_SYS_MMAP: return range_ok(m, (uint64_t)sc->ret, a[1]);
	case MW_SYS_MUNMAP:
	case MW_SYS_MPROTECT:
	case MW_SYS_PKEY_MPROTECT:
	case MW_SYS_MADVISE: return range_ok(m, a[0], a[1]);
	case MW_SYS_MREMAP: return range_ok(m, a[0], a[1]) && range_ok(m, (uint64_t)sc->ret, a[2]);
	case MW_SYS_SHMAT:
		return sc->pages <= MW_MAX_RANGE / m->page_size &&
		       range_ok(m, (uint64_t)sc->ret, sc->pages * m->page_size);
	case MW_SYS_SHMDT:
		return sc->pages <= MW_MAX_RANGE / m->page_size &&
		       range_ok(m, a[0], sc->pages * m->page_size);
	default: return true; /* a call the model does not apply */
	}
}

static int apply_syscall(struct mw_model *m, struct mw_process *p, const struct mw_event *ev,
			 struct mw_apply *out)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	struct mw_vm_delta *d = &out->d;

	if (sc->sys != MW_SYS_BRK && mw_ret_is_error(sc->ret))
		return 0;
	if (!call_ok(m, sc)) {
		p->bad_calls++;
		out->refused = true;
		return 0;
	}
	switch (sc->sys) {
	case MW_SYS_BRK: return apply_brk(m, p, ev, d);
	case MW_SYS_MMAP: return apply_mmap(m, p, ev, d);
	case MW_SYS_MUNMAP: return apply_munmap(m, p, ev, d);
	case MW_SYS_MPROTECT:
	case MW_SYS_PKEY_MPROTECT:
		return mw_regions_protect(&p->regions, sc->args[0],
					  sc->args[0] + page_up(m, sc->args[1]),
					  sc->args[2] & PROT_RWX, d);
	case MW_SYS_MREMAP: return apply_mremap(m, p, ev, d);
	case MW_SYS_MADVISE: return apply_madvise(m, p, ev);
	case MW_SYS_SHMAT: return apply_shmat(m, p, ev, d);
	case MW_SYS_SHMDT: return apply_shmdt(m, p, ev, d);
	default: return 0;
	}
}

/* The range a call changed (for a move, from the lowest to the highest byte). */
static void call_range(const struct mw_model *m, const struct mw_process *p,
		       const struct mw_syscall_ev *sc, uint64_t *start, uint64_t *end)
{
	uint64_t a = sc->args[0], r = (uint64_t)sc->ret;

	*start = *end = 0;
	switch (sc->sys) {
	case MW_SYS_MMAP: *start = r, *end = r + page_up(m, sc->args[1]); break;
	case MW_SYS_MUNMAP:
	case MW_SYS_MPROTECT:
	case MW_SYS_PKEY_MPROTECT:
	case MW_SYS_MADVISE: *start = a, *end = a + page_up(m, sc->args[1]); break;
	case MW_SYS_MREMAP:
		*start = a < r ? a : r;
		*end = a + page_up(m, sc->args[1]);
		if (r + page_up(m, sc->args[2]) > *end)
			*end = r + page_up(m, sc->args[2]);
		break;
	case MW_SYS_BRK:
		*start = page_up(m, p->brk < r ? p->brk : r);
		*end = page_up(m, p->brk < r ? r : p->brk);
		break;
	case MW_SYS_SHMAT: *start = r, *end = r + sc->pages * m->page_size; break;
	case MW_SYS_SHMDT: *start = a, *end = a + (sc->pages ? sc->pages : 1) * m->page_size; break;
	default: break;
	}
}

static size_t piece_of(const struct mw_process *p, uint64_t addr)
{
	size_t lo = 0, hi = p->npieces;

	/* The last piece whose range starts at or below addr. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->pieces[mid].lo <= addr)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Every byte of [start, end) is mapped as the snapshot showed it, prot included (prot
 * of -1: any). */
static bool shown_by_snapshot(const struct mw_process *p, uint64_t start, uint64_t end,
			      int64_t prot)
{
	size_t i = mw_regions_index(&p->regions, start);
	uint64_t at = start;

	for (; at < end && i < p->regions.n; i++) {
		const struct mw_region *r = &p->regions.v[i];

		if (r->start > at || !(r->flags & MW_RF_BASELINE) || (prot >= 0 && r->prot != prot))
			return false;
		at = r->end;
	}
	return at >= end;
}

/*
 * A call that completed before the snapshot ended: does the snapshot show its
 * effect already? Yes when it completed before the piece showing its range was
 * read: applying it again could undo a later call the snapshot shows too, so it
 * is skipped. A mapping call that completed while that piece was being read is
 * skipped when the map already shows its mapping as read from /proc. Others are
 * applied: the snapshot was read before they ran.
 */
static bool raced_in_snapshot(const struct mw_model *m, const struct mw_process *p,
			      const struct mw_event *ev)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	uint64_t start, end, before = UINT64_MAX, after = 0;
	int64_t prot = -1;

	call_range(m, p, sc, &start, &end);
	if (start >= end)
		return false;
	for (size_t k = p->npieces ? piece_of(p, start) : 0; k < p->npieces; k++) {
		if (k > 0 && p->pieces[k].lo >= end)
			break;
		if (p->pieces[k].t_before < before)
			before = p->pieces[k].t_before;
		if (p->pieces[k].t_after > after)
			after = p->pieces[k].t_after;
	}
	if (p->npieces && ev->mono_ns < before)
		return true;
	if (p->npieces && ev->mono_ns > after)
		return false;
	switch (sc->sys) {
	case MW_SYS_MMAP:
		if (sc->args[3] & MAP_FIXED)
			return false;
		prot = (int64_t)(sc->args[2] & PROT_RWX);
		break;
	case MW_SYS_SHMAT:
		if (sc->args[2] & SHM_REMAP)
			return false;
		break;
	case MW_SYS_MREMAP:
		if (sc->args[0] == (uint64_t)sc->ret || (sc->args[3] & MREMAP_FIXED))
			return false;
		start = (uint64_t)sc->ret;
		end = start + page_up(m, sc->args[2]);
		break;
	default: return false;
	}
	return shown_by_snapshot(p, start, end, prot);
}

static void remember_boundary(struct mw_process *p, uint32_t tid, const struct mw_vm_delta *d)
{
	if (p->nboundary == MW_MAX_BOUNDARY)
		return;
	if (!p->boundary) {
		p->boundary = malloc(MW_MAX_BOUNDARY * sizeof(*p->boundary));
		if (!p->boundary)
			return;
	}
	p->boundary[p->nboundary++] = (struct mw_boundary_call){ .tid = tid, .d = *d };
}

static int on_syscall(struct mw_model *m, struct mw_process *p, struct mw_thread *t,
		      const struct mw_event *ev, struct mw_apply *out)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	int err;

	if (sc->sys >= MW_SYS_COUNT)
		return -EINVAL;
	t->seen_calls[sc->sys]++;
	if (!t->have_kernel) { /* after, the kernel's counters are read again */
		t->counts.calls[sc->sys]++;
		t->counts.dur_ns[sc->sys] += sc->dur_ns;
		if (sc->sys != MW_SYS_BRK && mw_ret_is_error(sc->ret))
			t->counts.errors[sc->sys]++;
	}
	if (p->settle_pending && ev->mono_ns > p->seed_mono_ns + MW_SETTLE_NS)
		mw_model_settle(p);
	if (p->npending)
		pending_expire_old(p, ev->mono_ns);
	out->raced = ev->mono_ns <= p->seed_mono_ns;
	if (out->raced) {
		p->raced++;
		if (sc->sys == MW_SYS_BRK || !mw_ret_is_error(sc->ret))
			if (raced_in_snapshot(m, p, ev))
				return 0;
	}
	err = apply_syscall(m, p, ev, out);
	out->vm_delta = mw_i64_sub((int64_t)out->d.mapped, (int64_t)out->d.unmapped);
	/* Before the baseline: it brought the map up to it, it grew nothing. */
	if (out->raced) {
		/*
		 * Its record came after the baseline was settled (held up more than
		 * MW_SETTLE_NS between its exit and the ring: a stalled CPU). The settling
		 * booked the map's difference to VmSize without it: the map is right now,
		 * so that booking is taken back, and net stays the map less vm_start.
		 */
		if (!p->settle_pending && p->seed_mono_ns) {
			p->net = mw_i64_add(p->net, out->vm_delta);
			p->unattributed = mw_i64_add(p->unattributed, out->vm_delta);
		}
		return err;
	}
	t->mapped += out->d.mapped;
	t->unmapped += out->d.unmapped;
	t->accessible = mw_i64_add(t->accessible, out->d.accessible);
	t->reserved = mw_i64_add(t->reserved, out->d.reserved);
	p->net = mw_i64_add(p->net, out->vm_delta);
	p->stack_calls = mw_i64_add(p->stack_calls, out->d.stack);
	if (p->settle_pending && p->seed_mono_ns && out->vm_delta &&
	    ev->mono_ns <= p->seed_mono_ns + MW_BOUNDARY_NS)
		remember_boundary(p, ev->tid, &out->d);
	return err;
}

static int on_fork(struct mw_model *m, struct mw_process *parent, const struct mw_event *ev,
		   struct mw_apply *out)
{
	struct mw_process *c = mw_model_find(m, ev->task.child_pid);
	struct mw_thread *ct;
	int err;

	/* A process cannot fork itself: a corrupt record (a crafted recording). */
	if (ev->task.child_pid == parent->pid)
		return 0;
	/*
	 * The child is born here: a record already under its pid belongs to a process
	 * that is gone (a recycled pid, its exit lost, or a crafted recording). Its
	 * state goes with it; keeping it would mix two processes, and replacing only
	 * parts of it leaked its allocator state.
	 */
	if (c)
		mw_model_forget(m, ev->task.child_pid);
	c = mw_model_process(m, ev->task.child_pid);
	if (!c)
		return -ENOMEM;
	out->child = c;
	c->parent = ev->pid;
	mw_copy_comm(c->comm, ev->task.child_comm);
	/* A forked child starts with a copy of its parent's address space. */
	err = mw_regions_copy(&c->regions, &parent->regions, true);
	if (err)
		return err;
	c->start_brk = parent->start_brk;
	c->brk = parent->brk;
	if (parent->alloc) {
		c->alloc = m->alloc_ops.fork(parent->alloc);
		if (!c->alloc)
			return -ENOMEM;
	}
	c->vm_start = ev->task.vm_bytes;
	c->stack_start = ev->task.stack_bytes;
	c->seed_mono_ns = 0;
	ct = mw_process_thread(c, ev->task.child_tid);
	if (!ct)
		return -ENOMEM;
	mw_copy_comm(ct->comm, ev->task.child_comm);
	return 0;
}

/*
 * A new image: a new baseline. The kernel's record says how big exec made it
 * (recordings before it say 0: the seed then gives the baseline), so the
 * ledger holds even when the process is gone before /proc can be read. Every
 * call after the exec is in the stream: none raced.
 */
static void on_exec(struct mw_process *p, const struct mw_event *ev)
{
	p->exec_vm = ev->task.vm_bytes != 0;
	if (p->exec_vm) {
		p->vm_start = ev->task.vm_bytes;
		p->stack_start = ev->task.stack_bytes;
	}
	p->vm_end = p->stack_end = 0;
	p->resident_start.known = p->resident.known = false; /* the old image's */
	p->net = p->unattributed = p->stack_calls = 0;
	p->npending = 0;
	p->seed_mono_ns = 0;
	p->settle_pending = false;
	p->nboundary = 0;
	free(p->pieces);
	p->pieces = NULL;
	p->npieces = 0;
}

int mw_model_apply(struct mw_model *m, const struct mw_event *ev, struct mw_apply *out)
{
	struct mw_process *p;
	struct mw_thread *t;

	memset(out, 0, sizeof(*out));
	p = mw_model_find(m, ev->pid);
	if (!p)
		return 0; /* not a process we follow (e.g. its exit raced the attach) */
	out->proc = p;
	t = mw_process_thread(p, ev->tid);
	if (!t)
		return -ENOMEM;
	out->thread = t;
	/* Syscall records carry no name: threads keep the one they were given. */
	if (ev->kind != MW_EV_RENAME && ev->comm[0]) {
		mw_copy_comm(t->comm, ev->comm);
		if (ev->tid == ev->pid)
			mw_copy_comm(p->comm, ev->comm);
	}

	switch (ev->kind) {
	case MW_EV_SYSCALL: return on_syscall(m, p, t, ev, out);
	case MW_EV_THREAD_NEW:
		t = mw_process_thread(p, ev->task.child_tid);
		if (!t)
			return -ENOMEM;
		mw_copy_comm(t->comm, ev->task.child_comm);
		out->thread = mw_process_find_thread(p, ev->tid);
		return 0;
	case MW_EV_FORK: return on_fork(m, p, ev, out);
	case MW_EV_EXEC:
		/* The address space was replaced without syscalls we see: reseed. */
		mw_regions_clear(&p->regions);
		p->start_brk = p->brk = 0;
		p->needs_seed = true;
		mw_copy_comm(p->comm, ev->comm);
		on_exec(p, ev);
		/* exec waited for every other thread to go (their exits came first; one that
		 * exec'd from another thread goes on as the leader): one thread is left. */
		for (size_t i = 0; i < p->nthreads; i++)
			p->threads[i].exited = p->threads[i].tid != ev->tid;
		return 0;
	case MW_EV_EXIT:
		t->exited = true;
		if (ev->task.group_dead && !p->group_dead) {
			p->group_dead = true;
			p->exit_code = ev->task.exit_code;
			out->proc_exited = true;
		}
		/* The records of threads that exit together come in any order: the
		 * process ends with the last of them, not with the one that said so. */
		if (p->group_dead && !mw_process_threads_left(p)) {
			p->exited = true;
			out->proc_done = true;
		}
		return 0;
	case MW_EV_RENAME:
		t = mw_process_thread(p, ev->task.child_tid);
		if (!t)
			return -ENOMEM;
		mw_copy_comm(t->comm, ev->task.child_comm);
		if (t->tid == p->pid)
			mw_copy_comm(p->comm, ev->task.child_comm);
		out->thread = t;
		return 0;
	case MW_EV_USDT: return 0; /* allocator probes: for the allocator analysis, not the map */
	case MW_EV_ADOPT:
	case MW_EV_EXEC_SEEN:
	case MW_EV_MALLOC:
	case MW_EV_MFREE:
	case MW_EV_MWAKE:
	case MW_EV_MEXIT: return 0; /* the watcher's and the allocation probes' records */
	case MW_EV_RSS:
		mw_process_set_resident(p,
					&(struct mw_resident){ .known = true,
							       .anon = ev->rss.anon,
							       .file = ev->rss.file,
							       .shmem = ev->rss.shmem,
							       .ts_ns = ev->ts_ns,
							       .slack = ev->rss.slack },
					false);
		return 0;
	case MW_EV_OOM: return 0;   /* the session writes the victim's ledger */
	case MW_EV_FAULT: return 0; /* a sampled fault: the session's fault profile */
	case MW_EV_EXIT_GROUP:
		p->vm_end = ev->task.vm_bytes;
		p->stack_end = ev->task.stack_bytes;
		return 0;
	}
	return 0;
}

void mw_process_set_resident(struct mw_process *p, const struct mw_resident *r, bool start)
{
	if (start)
		p->resident_start = *r;
	p->resident = *r;
}

void mw_thread_set_kernel(struct mw_thread *t, const struct mw_thread_counters *c,
			  uint64_t page_size)
{
	memcpy(t->counts.calls, c->calls, sizeof(c->calls));
	memcpy(t->counts.errors, c->errors, sizeof(c->errors));
	memcpy(t->counts.dur_ns, c->dur_ns, sizeof(c->dur_ns));
	t->have_kernel = true;
	t->have_faults = c->flags & MW_TC_FAULTS;
	t->faults = t->have_faults ? c->faults : 0;
	t->faulted = t->have_faults ? c->faulted_pages * page_size : 0;
	t->fault_lost = c->flags & MW_TC_FAULT_LOST ? c->fault_lost : 0;
}

uint64_t (*mw_process_class_bytes(const struct mw_process *p))[MW_CLASS_COUNT]
{
	uint64_t(*by)[MW_CLASS_COUNT] = calloc(p->nthreads ? p->nthreads : 1, sizeof(*by));

	if (!by)
		return NULL;
	for (size_t i = 0; i < p->regions.n; i++) {
		const struct mw_region *r = &p->regions.v[i];
		const struct mw_thread *t;

		if (!r->tid || r->cls >= MW_CLASS_COUNT)
			continue;
		t = mw_process_find_thread(p, r->tid);
		if (t)
			by[t - p->threads][r->cls] += r->end - r->start;
	}
	return by;
}
