// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Allocator probes (--malloc): uprobes at the entry and uretprobes at the
 * return of malloc & co. in the allocator a target really uses, attached to
 * the target pids only. Only the outermost allocator call of a thread counts
 * (operator new calls malloc; realloc may call malloc and free): the entry
 * of the outermost call leaves its stack pointer in the task's storage, and
 * a call whose stack pointer is at or below it runs inside it (at: a tail
 * call, reallocarray -> realloc -> malloc). At the return, the
 * new block enters a bounded outstanding table and one record carries the
 * caller's registers and a copy of its stack, for unwinding in user space.
 * (BPF_KPROBE/BPF_KRETPROBE: libbpf 1.1 has no BPF_UPROBE; same calling convention.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "malloc.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time knobs. */
const volatile __u32 stack_bytes = 4096; /* <= MW_MAX_STACK_BYTES */
const volatile __u32 sample_every;	 /* --sample N: every Nth allocation per thread */
const volatile __u64 sample_bytes;	 /* --sample-bytes N: mean bytes between samples */
const volatile __u64 max_rate;		 /* --max-probe-rate: hits per second, 0 = off */
const volatile __u64 wake_bytes = 1 << 20;
/*
 * Stop a process in exit() until user space has read its records (SIGCONT):
 * MW_HOLD_OFF never; MW_HOLD_CHILDREN only memwatch's own children (launch
 * mode: they get SIGCONT from the kernel if memwatch dies, PR_SET_PDEATHSIG);
 * MW_HOLD_ALL every target (--hold-exit).
 */
const volatile __u32 hold_exit;
const volatile __u32 holder_tgid;
/* Exp(1) quantiles scaled by sample_bytes: gaps of a Poisson process over bytes. */
const volatile __u64 exp_gap[MW_SAMPLE_TABLE];

/* The rate guard: hits in the current one-second window; set tripped stops every probe. */
__u64 win_start_ns;
__u64 win_hits;
volatile __u32 tripped;
__u64 tripped_rate;

struct call_state {
	__u64 outer_sp; /* rsp at the entry of the outermost allocator call */
	__u64 size;
	__u64 arg;	   /* realloc: old block; posix_memalign: memptr */
	__s64 bytes_until; /* byte sampling: bytes left before the next sample */
	__u64 nth;	   /* sampling every Nth: allocations seen */
	__u32 fn;
	__u32 active;
	__u32 gen; /* generation of the entry */
	__u32 pad;
};

/* Inside the outermost call: at or below its entry stack pointer. */
static __always_inline bool nested(const struct call_state *s, __u64 sp, __u32 gen)
{
	return s->active && s->gen == gen && sp <= s->outer_sp;
}

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_state);
} calls SEC(".maps");

/* Outstanding allocations (block address -> size, time, thread). Sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, __u64);
	__type(value, struct mw_live);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct mw_malloc_counters);
} mthreads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_malloc_stats);
} mstats SEC(".maps");

/* The probes' cost per traced process (--max-overhead); entries made by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct mw_mbudget_ctr);
} mbudget SEC(".maps");

/*
 * Processes whose probes user space detaches, or attaches again (the budget's windows):
 * their entry probes count their hits and record nothing until it opens the window. A
 * link's breakpoints come and go one after the other, over 0.5-4 ms: what a partly attached
 * window saw would be weighed as if it had seen every call of the requests it served then.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} mheld SEC(".maps");

static __always_inline struct mw_mbudget_ctr *budget_of(__u32 tgid)
{
	return bpf_map_lookup_elem(&mbudget, &tgid);
}

/*
 * A process's generation, bumped by user space whenever it re-attaches the
 * process's probes: a call whose return was missed while they were away must
 * not look like an outer call still running (later calls at that depth would be
 * taken for nested ones).
 */
static __always_inline __u32 gen_of(const struct mw_mbudget_ctr *b)
{
	return b ? b->gen : 0;
}

/* One program run of the process: counted, and the time since t0 added. */
static __always_inline void charge(struct mw_mbudget_ctr *b, bool ret, __u64 t0)
{
	if (!b)
		return;
	if (ret)
		__sync_fetch_and_add(&b->ret_hits, 1);
	else
		__sync_fetch_and_add(&b->enter_hits, 1);
	__sync_fetch_and_add(&b->body_ns, bpf_ktime_get_ns() - t0);
}

/* An allocation record as reserved in the ring: stack_bytes of it are there. */
struct alloc_buf {
	struct mw_malloc_rec rec;
	__u8 stack[MW_MAX_STACK_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} mevents SEC(".maps");

static __always_inline struct mw_malloc_stats *stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&mstats, &zero);
}

/* Count one hit; false when the guard has tripped (or trips now). */
static __always_inline bool guard_ok(void)
{
	struct mw_malloc_stats *st = stats();
	__u64 now, hits;

	if (st)
		st->hits++;
	if (tripped)
		return false;
	if (!max_rate)
		return true;
	now = bpf_ktime_get_ns();
	if (now - win_start_ns >= 1000000000ULL) {
		win_start_ns = now; /* racy across CPUs: a window may count a few hits twice */
		win_hits = 0;
	}
	hits = __sync_fetch_and_add(&win_hits, 1) + 1;
	if (hits > max_rate) {
		tripped_rate = hits;
		tripped = 1;
		return false;
	}
	return true;
}

static __always_inline struct mw_malloc_counters *counters(__u32 tgid, __u32 tid)
{
	struct mw_malloc_counters *c = bpf_map_lookup_elem(&mthreads, &tid), zero = {};
	struct mw_malloc_stats *st;

	if (c)
		return c;
	zero.tgid = tgid;
	bpf_map_update_elem(&mthreads, &tid, &zero, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&mthreads, &tid);
	if (!c && (st = stats()))
		st->threads_full++;
	return c;
}

static __always_inline __u64 wake_flag(void)
{
	return bpf_ringbuf_query(&mevents, BPF_RB_AVAIL_DATA) >= wake_bytes ? BPF_RB_FORCE_WAKEUP
									    : BPF_RB_NO_WAKEUP;
}

/* c: the thread's counters (NULL when mthreads is full), for the per-process share. */
static __always_inline void emit_free(__u32 fn, __u64 addr, __u64 size,
				      struct mw_malloc_counters *c)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_mfree_rec r = {
		.type = MW_MREC_FREE,
		.fn = fn,
		.tgid = id >> 32,
		.tid = (__u32)id,
		.ts_ns = bpf_ktime_get_ns(),
		.addr = addr,
		.size = size,
	};
	struct mw_malloc_stats *st;

	if (!bpf_ringbuf_output(&mevents, &r, sizeof(r), wake_flag()))
		return;
	if ((st = stats()))
		st->rb_drops++;
	if (c)
		c->rb_drops++;
}

/* Drop a block from the table; its size, or 0 when it was not tracked. */
static __always_inline __u64 untrack(__u64 addr, struct mw_malloc_counters *c)
{
	struct mw_live *v = bpf_map_lookup_elem(&live, &addr);
	struct mw_malloc_stats *st;
	__u64 size;

	if (!v) {
		if ((st = stats()))
			st->unknown_frees++;
		if (c)
			c->unknown_frees++;
		return 0;
	}
	size = v->size;
	if (bpf_map_delete_elem(&live, &addr))
		return 0; /* a concurrent free of the same block won */
	return size;
}

static __always_inline void enter(struct pt_regs *ctx, __u32 fn, __u64 size, __u64 arg, __u32 gen)
{
	struct call_state *s;
	__u64 sp = PT_REGS_SP(ctx);

	if (!guard_ok())
		return;
	s = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return;
	/* A call the allocator makes itself, or a tail call of the outer one. */
	if (nested(s, sp, gen))
		return;
	if (sample_bytes && !s->nth && !s->bytes_until)
		s->bytes_until = exp_gap[bpf_get_prandom_u32() & (MW_SAMPLE_TABLE - 1)];
	s->active = 1;
	s->gen = gen;
	s->outer_sp = sp;
	s->fn = fn;
	s->size = size;
	s->arg = arg;
}

static __always_inline bool sampled(struct call_state *s, __u64 size)
{
	if (sample_bytes) {
		s->nth = 1;
		s->bytes_until -= (__s64)size;
		if (s->bytes_until > 0)
			return false;
		s->bytes_until = exp_gap[bpf_get_prandom_u32() & (MW_SAMPLE_TABLE - 1)];
		return true;
	}
	if (sample_every > 1)
		return ++s->nth % sample_every == 0;
	return true;
}

/* The record's stack room: a load-time constant, so the ring reservation has a fixed size. */
static __always_inline __u32 stack_room(void)
{
	return stack_bytes > MW_MAX_STACK_BYTES ? MW_MAX_STACK_BYTES : stack_bytes;
}

static __always_inline void capture(struct pt_regs *ctx, struct alloc_buf *b,
				    struct mw_malloc_counters *c)
{
	struct mw_malloc_stats *st;
	__u64 sp = PT_REGS_SP(ctx);
	__u32 len = stack_room(), n;

	b->rec.regs[0] = ctx->ax;
	b->rec.regs[1] = ctx->dx;
	b->rec.regs[2] = ctx->cx;
	b->rec.regs[3] = ctx->bx;
	b->rec.regs[4] = ctx->si;
	b->rec.regs[5] = ctx->di;
	b->rec.regs[6] = ctx->bp;
	b->rec.regs[7] = sp;
	b->rec.regs[8] = ctx->r8;
	b->rec.regs[9] = ctx->r9;
	b->rec.regs[10] = ctx->r10;
	b->rec.regs[11] = ctx->r11;
	b->rec.regs[12] = ctx->r12;
	b->rec.regs[13] = ctx->r13;
	b->rec.regs[14] = ctx->r14;
	b->rec.regs[15] = ctx->r15;
	b->rec.regs[16] = PT_REGS_IP(ctx);
	if (len && bpf_probe_read_user(b->stack, len, (void *)sp)) {
		/* The stack ends within len (the top of a thread's stack): as many whole
		 * pages as are there. */
		n = 0;
		for (int k = MW_MAX_STACK_BYTES / 4096; k > 0; k--) {
			__u32 m = k * 4096 - (sp & 4095);

			if (m >= len)
				continue;
			if (!bpf_probe_read_user(b->stack, m, (void *)sp)) {
				n = m;
				break;
			}
		}
		len = n;
		if ((st = stats()))
			st->stack_short++;
		if (c)
			c->stack_short++;
	}
	b->rec.stack_len = len;
}

static __always_inline void alloc_ret(struct pt_regs *ctx, void *ret, __u32 gen)
{
	__u64 id = bpf_get_current_pid_tgid(), addr = (__u64)ret, old = 0, size, sp;
	__u32 tgid = id >> 32, tid = (__u32)id, fn;
	struct mw_malloc_counters *c;
	struct mw_malloc_stats *st;
	struct call_state *s;
	struct alloc_buf *b;
	struct mw_live v;

	if (tripped)
		return;
	s = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
	sp = PT_REGS_SP(ctx);
	/* Only the outermost call's return is above its entry's stack pointer. */
	if (!s || !s->active || s->gen != gen || sp <= s->outer_sp)
		return;
	s->active = 0;
	fn = s->fn;
	size = s->size;
	if (fn == MW_MFN_POSIX_MEMALIGN) {
		addr = 0;
		if (!ret && bpf_probe_read_user(&addr, sizeof(addr), (void *)s->arg))
			addr = 0;
	}
	c = counters(tgid, tid);
	if (c) {
		c->calls[fn & 15]++;
		if (addr)
			c->bytes[fn & 15] += size;
	}
	if (fn == MW_MFN_REALLOC || fn == MW_MFN_REALLOCARRAY) {
		/* Success (or realloc(p, 0), which frees p): the old block is gone. */
		if (s->arg && (addr || !size)) {
			__u64 freed = untrack(s->arg, c);

			if (freed)
				old = s->arg;
			if (!addr && freed)
				emit_free(fn, old, freed, c);
		}
	}
	if (!addr)
		return;
	if (!sampled(s, size)) {
		if (old)
			emit_free(fn, old, 0, c);
		return;
	}
	if (c)
		c->sampled++;
	v.size = size;
	v.ts_ns = bpf_ktime_get_ns();
	v.tgid = tgid;
	v.tid = tid;
	if (bpf_map_update_elem(&live, &addr, &v, BPF_ANY)) {
		if ((st = stats()))
			st->live_full++;
		if (c)
			c->live_full++;
		if (old)
			emit_free(fn, old, 0, c);
		return;
	}
	/* Straight into the ring: the stack is copied once. */
	b = bpf_ringbuf_reserve(&mevents, sizeof(b->rec) + stack_room(), 0);
	if (!b) {
		if ((st = stats()))
			st->rb_drops++; /* the block stays in the table, its stack unknown */
		if (c)
			c->rb_drops++;
		return;
	}
	b->rec.type = MW_MREC_ALLOC;
	b->rec.fn = fn;
	b->rec.tgid = tgid;
	b->rec.tid = tid;
	b->rec.ts_ns = v.ts_ns;
	b->rec.addr = addr;
	b->rec.size = size;
	b->rec.old_addr = old;
	b->rec.weight = 0;
	capture(ctx, b, c);
	bpf_ringbuf_submit(b, wake_flag());
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_exit, void *ret)
{
	__u64 t0 = bpf_ktime_get_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mw_mbudget_ctr *b;

	if (tgid == holder_tgid)
		return 0; /* memwatch itself: the calibration of the trap's cost (mprobe.c) */
	b = budget_of(tgid);
	alloc_ret(ctx, ret, gen_of(b));
	charge(b, true, t0);
	return 0;
}

static __always_inline void on_free(struct pt_regs *ctx, __u32 fn, __u64 addr, bool outer,
				    __u32 gen)
{
	__u64 id = bpf_get_current_pid_tgid(), sp = PT_REGS_SP(ctx), size;
	struct mw_malloc_counters *c;
	struct call_state *s;

	if (!guard_ok())
		return;
	s = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0,
				 outer ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (s && nested(s, sp, gen))
		return; /* inside realloc or operator delete: counted there */
	if (outer && s) {
		/* operator delete calls free: mark the frame until it returns */
		s->active = 1;
		s->gen = gen;
		s->outer_sp = sp;
		s->fn = fn;
	}
	c = counters(id >> 32, (__u32)id);
	if (c)
		c->calls[fn & 15]++;
	if (!addr)
		return;
	size = untrack(addr, c);
	if (!size)
		return;
	if (c)
		c->bytes[fn & 15] += size;
	emit_free(fn, addr, size, c);
}

SEC("uretprobe")
int BPF_KRETPROBE(delete_exit)
{
	__u64 t0 = bpf_ktime_get_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mw_mbudget_ctr *b;
	struct call_state *s;

	if (tgid == holder_tgid)
		return 0;
	b = budget_of(tgid);
	s = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
	if (s && s->active && s->gen == gen_of(b) && PT_REGS_SP(ctx) > s->outer_sp)
		s->active = 0;
	charge(b, true, t0);
	return 0;
}

/*
 * Every allocator entry point, one program: the link's cookie says which
 * function this is. One uprobe_multi link per program and file: attaching
 * and detaching cost one grace period each, not one per function.
 */
SEC("uprobe")
int alloc_enter(struct pt_regs *ctx)
{
	__u64 t0 = bpf_ktime_get_ns();
	__u32 fn = (__u32)bpf_get_attach_cookie(ctx), tgid = bpf_get_current_pid_tgid() >> 32, gen;
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx), a2 = PT_REGS_PARM3(ctx);
	struct mw_mbudget_ctr *b;

	if (tgid == holder_tgid)
		return 0; /* memwatch itself: the calibration of the trap's cost (mprobe.c) */
	b = budget_of(tgid);
	if (bpf_map_lookup_elem(&mheld, &tgid)) {
		charge(b, false, t0);
		return 0;
	}
	gen = gen_of(b);
	switch (fn) {
	case MW_MFN_MALLOC:
	case MW_MFN_VALLOC:
	case MW_MFN_PVALLOC:
	case MW_MFN_NEW: /* (size[, align][, nothrow]) */
	case MW_MFN_NEW_ARRAY: enter(ctx, fn, a0, 0, gen); break;
	case MW_MFN_CALLOC: /* (n, size) */ enter(ctx, fn, a0 * a1, 0, gen); break;
	case MW_MFN_REALLOC: /* (ptr, size) */ enter(ctx, fn, a1, a0, gen); break;
	case MW_MFN_REALLOCARRAY: /* (ptr, n, size) */ enter(ctx, fn, a1 * a2, a0, gen); break;
	case MW_MFN_POSIX_MEMALIGN: /* (memptr, align, size) */ enter(ctx, fn, a2, a0, gen); break;
	case MW_MFN_ALIGNED_ALLOC: /* (align, size) */
	case MW_MFN_MEMALIGN: enter(ctx, fn, a1, 0, gen); break;
	/* Constants: the verifier must see the counter index bounded. */
	case MW_MFN_FREE: on_free(ctx, MW_MFN_FREE, a0, false, gen); break;
	case MW_MFN_DELETE: on_free(ctx, MW_MFN_DELETE, a0, true, gen); break;
	case MW_MFN_DELETE_ARRAY: on_free(ctx, MW_MFN_DELETE_ARRAY, a0, true, gen); break;
	}
	charge(b, false, t0);
	return 0;
}

/*
 * exit(): the process is about to lose its address space, and with it what
 * user space needs to unwind the stacks still queued in the ring. Stop it
 * (SIGSTOP); user space resumes it (SIGCONT) once it has read this record,
 * the last of the process's records in ring order.
 */
SEC("uprobe")
int BPF_KPROBE(exit_enter, int status)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_malloc_stats *st;
	struct mw_mfree_rec *r;

	if (hold_exit == MW_HOLD_OFF)
		return 0;
	if (hold_exit == MW_HOLD_CHILDREN) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		if (BPF_CORE_READ(task, real_parent, tgid) != holder_tgid)
			return 0;
	}
	r = bpf_ringbuf_reserve(&mevents, sizeof(*r), 0);
	if (!r) {
		__u32 tid = (__u32)id;
		struct mw_malloc_counters *c = bpf_map_lookup_elem(&mthreads, &tid);

		if ((st = stats()))
			st->rb_drops++;
		if (c)
			c->rb_drops++;
		return 0; /* nobody would know to resume it */
	}
	r->type = MW_MREC_EXIT;
	r->fn = 0;
	r->tgid = id >> 32;
	r->tid = (__u32)id;
	r->ts_ns = bpf_ktime_get_ns();
	r->addr = 0;
	r->size = 0;
	/* The stop first: a SIGCONT sent after reading the record then always cancels it. */
	bpf_send_signal(19 /* SIGSTOP */);
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/*
 * The in-process sampler (libmemwatch-sampler.so, user/sampler/): it decides
 * in the process which allocations are sampled and fires its USDT probes for
 * those only, so a probe hit is paid per sample, not per call. The records are
 * those of the uprobes (the outstanding table, the ring, the stack copy),
 * taken at the probe inside the sampler; calls are not counted (the kernel
 * sees samples only). Attached by libbpf's USDT support (mprobe.c), with the
 * cookie MW_USDT_TABLE where memwatch reads the sampler's own table of sampled
 * blocks for their frees (no free probe): then this table is not used, since
 * no free would empty it before the next read (it would fill between reports).
 */
SEC("usdt")
int BPF_USDT(sampler_alloc, void *ptr, __u64 size, __u64 weight)
{
	__u64 id = bpf_get_current_pid_tgid(), addr = (__u64)ptr;
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct mw_malloc_counters *c;
	struct mw_malloc_stats *st;
	struct alloc_buf *b;
	struct mw_live v;

	if (!guard_ok())
		return 0;
	if (!weight)
		weight = size ? size : 1;
	c = counters(tgid, tid);
	if (c) {
		/*
		 * The estimates, summed here so that records lost to a full ring do not
		 * bias them (calls are not known under the sampler: these two slots carry
		 * the estimated bytes, and the estimated count in 1/65536ths).
		 */
		c->sampled++;
		c->bytes[MW_MFN_MALLOC] += weight;
		c->calls[MW_MFN_MALLOC] += size ? (weight << 16) / size : 1 << 16;
	}
	v.size = size;
	v.ts_ns = bpf_ktime_get_ns();
	v.tgid = tgid;
	v.tid = tid;
	/* Not kept (the sampler's table or this one full): still an estimate's sample. */
	if (!addr || (!(bpf_usdt_cookie(ctx) & MW_USDT_TABLE) &&
		      bpf_map_update_elem(&live, &addr, &v, BPF_ANY))) {
		if ((st = stats()))
			st->live_full++;
		if (c)
			c->live_full++;
		addr = 0;
	}
	b = bpf_ringbuf_reserve(&mevents, sizeof(b->rec) + stack_room(), 0);
	if (!b) {
		if ((st = stats()))
			st->rb_drops++;
		if (c)
			c->rb_drops++;
		return 0;
	}
	b->rec.type = MW_MREC_ALLOC;
	b->rec.fn = MW_MFN_MALLOC;
	b->rec.tgid = tgid;
	b->rec.tid = tid;
	b->rec.ts_ns = v.ts_ns;
	b->rec.addr = addr;
	b->rec.size = size;
	b->rec.old_addr = 0;
	b->rec.weight = weight;
	capture(ctx, b, c);
	bpf_ringbuf_submit(b, wake_flag());
	return 0;
}

/*
 * The sampler's ring (sampler.h): while this program is attached, the sampler
 * writes its samples into a ring in its own memory that memwatch reads, and
 * fires this probe only once per half ring written: a record that wakes
 * memwatch to read it before its next tick.
 */
SEC("usdt")
int BPF_USDT(sampler_ring, __u64 head)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_mfree_rec r = {
		.type = MW_MREC_WAKE,
		.tgid = id >> 32,
		.tid = (__u32)id,
		.ts_ns = bpf_ktime_get_ns(),
		.addr = head,
	};

	bpf_ringbuf_output(&mevents, &r, sizeof(r), BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("usdt")
int BPF_USDT(sampler_free, void *ptr)
{
	__u64 id = bpf_get_current_pid_tgid(), addr = (__u64)ptr, size;
	struct mw_malloc_counters *c;

	if (!guard_ok() || !addr)
		return 0;
	c = counters(id >> 32, (__u32)id);
	size = untrack(addr, c);
	if (size)
		emit_free(MW_MFN_FREE, addr, size, c);
	return 0;
}
