// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memwatch kernel side: memory-mapping syscalls and task lifecycle of the
 * traced processes only. It filters by tgid, pairs each syscall's enter with
 * its exit per thread, keeps exact per-thread counters and emits compact
 * records. Everything that is policy lives in user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "memwatch.h"
#include <bpf/usdt.bpf.h>
#include "memwatch.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- memory syscalls through the per-syscall tracepoints (need tracefs) ---- */

/* The user registers saved at syscall entry: they hold the call's arguments. */
static __always_inline struct pt_regs *current_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* Enter probes are loaded only with -T (see "timed"). */

SEC("tracepoint/syscalls/sys_enter_brk")
int sys_enter_brk(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_BRK);
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int sys_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_MMAP);
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int sys_enter_munmap(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_MUNMAP);
}

SEC("tracepoint/syscalls/sys_enter_mprotect")
int sys_enter_mprotect(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_MPROTECT);
}

SEC("tracepoint/syscalls/sys_enter_mremap")
int sys_enter_mremap(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_MREMAP);
}

SEC("tracepoint/syscalls/sys_enter_madvise")
int sys_enter_madvise(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_MADVISE);
}

SEC("tracepoint/syscalls/sys_enter_shmat")
int sys_enter_shmat(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_SHMAT);
}

/* Always loaded: it finds the size of the segment the call will detach. */
SEC("tracepoint/syscalls/sys_enter_shmdt")
int sys_enter_shmdt(struct trace_event_raw_sys_enter *ctx)
{
	on_shmdt_enter(ctx->args[0]);
	return timed ? on_sys_enter(MW_SYS_SHMDT) : 0;
}

SEC("tracepoint/syscalls/sys_enter_pkey_mprotect")
int sys_enter_pkey_mprotect(struct trace_event_raw_sys_enter *ctx)
{
	return on_sys_enter(MW_SYS_PKEY_MPROTECT);
}

SEC("tracepoint/syscalls/sys_exit_brk")
int sys_exit_brk(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_BRK, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int sys_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_MMAP, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_munmap")
int sys_exit_munmap(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_MUNMAP, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_mprotect")
int sys_exit_mprotect(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_MPROTECT, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int sys_exit_mremap(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_MREMAP, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_madvise")
int sys_exit_madvise(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_MADVISE, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_shmat")
int sys_exit_shmat(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_SHMAT, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_shmdt")
int sys_exit_shmdt(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_SHMDT, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_exit_pkey_mprotect")
int sys_exit_pkey_mprotect(struct trace_event_raw_sys_exit *ctx)
{
	return on_sys_exit(MW_SYS_PKEY_MPROTECT, ctx->ret, current_regs());
}

SEC("tracepoint/syscalls/sys_enter_exit_group")
int sys_enter_exit_group(struct trace_event_raw_sys_enter *ctx)
{
	return on_exit_group();
}

/*
 * ---- fallback when tracefs cannot be mounted: the raw syscall tracepoints ----
 * They fire for every syscall on the host, so they are only loaded when the
 * per-syscall tracepoints above cannot be attached.
 */

static __always_inline int sys_from_nr(long nr)
{
#if defined(__TARGET_ARCH_x86)
	switch (nr) {
	case 12: return MW_SYS_BRK;
	case 9: return MW_SYS_MMAP;
	case 11: return MW_SYS_MUNMAP;
	case 10: return MW_SYS_MPROTECT;
	case 25: return MW_SYS_MREMAP;
	case 28: return MW_SYS_MADVISE;
	case 30: return MW_SYS_SHMAT;
	case 67: return MW_SYS_SHMDT;
	case 329: return MW_SYS_PKEY_MPROTECT;
	case 231: return MW_SYS_COUNT; /* exit_group */
	}
#endif
	return -1;
}

#if defined(__TARGET_ARCH_x86)
SEC("tp_btf/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long id)
{
	int sys = sys_from_nr(id);

	if (sys < 0)
		return 0;
	if (sys == MW_SYS_COUNT)
		return on_exit_group();
	if (sys == MW_SYS_SHMDT)
		on_shmdt_enter(BPF_CORE_READ(regs, di));
	return timed || (rss_delta && rss_sys(sys)) ? on_sys_enter(sys) : 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
	int sys = sys_from_nr(BPF_CORE_READ(regs, orig_ax));

	if (sys < 0 || sys == MW_SYS_COUNT)
		return 0;
	return on_sys_exit(sys, ret, regs);
}
#endif

/* ---- task lifecycle: BTF tracepoints, no tracefs needed ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 ctid = BPF_CORE_READ(child, pid);
	bool thread = ctgid == ptgid;

	if (!is_target(ptgid)) {
		/* The child shares the parent's (current) cgroup: adopted before it runs. */
		if (!thread && !stopping && ncgroups && in_watched_cgroup())
			adopt(ctgid, MW_ADOPT_FORK, child->comm);
		return 0;
	}
	if (!thread) {
		/* Children of a watched cgroup's processes are its processes too, and a
		 * child that keeps a watched name (a server's forked workers). */
		if (!follow_forks && !(ncgroups && in_watched_cgroup()) &&
		    !(comm_watch && comm_known(child->comm)))
			return 0;
		/* Added here, before the child runs, so none of its first syscalls is missed. */
		if (target_add(ctgid))
			return 0;
	}
	/* The child's mm is already copied: its exact VmSize/VmStk at birth. */
	emit_task(thread ? MW_REC_THREAD_NEW : MW_REC_FORK, ctgid, ctid, child->comm, 0, 0,
		  thread ? 0 : BPF_CORE_READ(child, mm, total_vm),
		  thread ? 0 : BPF_CORE_READ(child, mm, stack_vm));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	char comm[MW_COMM_LEN];

	if (is_target(tgid)) {
		__u32 tid = tgid;

		/* A new stack: the old image's top no longer applies (with ASLR off it may
		 * even lie in the new stack's mapping). The thread that exec'd takes tgid. */
		bpf_map_delete_elem(&stack_tops, &tid);
		tid = old_pid;
		bpf_map_delete_elem(&stack_tops, &tid);
		/* The new image as exec mapped it, before it ran: the baseline even when
		 * the process is gone before user space can read /proc. */
		emit_task(MW_REC_EXEC, tgid, old_pid, NULL, 0, 0, BPF_CORE_READ(p, mm, total_vm),
			  BPF_CORE_READ(p, mm, stack_vm));
		return 0;
	}
	if (stopping)
		return 0;
	/* A new image, not yet run: adopted here, none of its syscalls is missed. */
	if (ncgroups && in_watched_cgroup()) {
		adopt(tgid, MW_ADOPT_EXEC, NULL);
		return 0;
	}
	if (!comm_watch)
		return 0;
	/* comm is the new name already (set by begin_new_exec). A regex cannot run
	 * here: names user space matched before are adopted at once, others reported. */
	bpf_get_current_comm(comm, sizeof(comm));
	if (bpf_map_lookup_elem(&comms, comm))
		adopt(tgid, MW_ADOPT_EXEC, NULL);
	else
		emit_task(MW_REC_EXEC_SEEN, tgid, old_pid, NULL, 0, 0, 0, 0);
	return 0;
}

/*
 * A traced thread's exit. last: the process ends with it (the kernel's group_dead, or the
 * fallback's guess). Exactly one record says so: the thread that takes the process out of
 * "targets". A thread that reaches here after that one (on any kernel: its decrement of the
 * live count came first, its tracepoint later) is found in "ended" and has its record too;
 * user space ends the process once every thread's exit is in, whatever their order.
 */
static __always_inline int on_process_exit(struct task_struct *p, bool last)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u64 born = BPF_CORE_READ(p, group_leader, start_time);
	bool group_dead = false;
	__u64 *was;

	if (is_target(tgid)) {
		if (last) {
			/* In "ended" before it leaves "targets": a sibling checks them in the
			 * other order, so it finds the process in one of the two. */
			bpf_map_update_elem(&ended, &tgid, &born, BPF_ANY);
			group_dead = bpf_map_delete_elem(&targets, &tgid) == 0;
		}
	} else {
		was = stopping ? NULL : bpf_map_lookup_elem(&ended, &tgid);
		if (!was || *was != born)
			return 0;
	}
	/* Its counters move aside under the record's time: user space reads them on it. */
	/* Linux 6.16 and later trace this before the mm is let go: its resident
	 * counters as the last thread leaves, whatever ended it (a signal too). */
	if (group_dead)
		emit_rss(p->mm);
	emit_task_at(bpf_ktime_get_ns(), true, MW_REC_EXIT, 0, 0, NULL, BPF_CORE_READ(p, exit_code),
		     group_dead, 0, 0);
	return 0;
}

/* Where the tracepoint says whether the exiting thread is its process's last (the loader
 * chooses by the tracepoint's BTF prototype): exact. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit_gd, struct task_struct *p, bool group_dead)
{
	return on_process_exit(p, group_dead);
}

/*
 * Where it does not: do_exit() decrements signal->live before this tracepoint, but another
 * thread's decrement may come between the two, so live == 0 alone would also take a thread
 * that ended as its process exited (one joined just before exit_group) for the last one.
 * The last thread is the leader, or comes after the leader is a zombie (a leader that
 * ended first stays one until the others are gone).
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *p)
{
	struct task_struct *leader = BPF_CORE_READ(p, group_leader);
	bool last = BPF_CORE_READ(p, signal, live.counter) == 0 &&
		    (leader == p || BPF_CORE_READ(leader, exit_state) != 0);

	return on_process_exit(p, last);
}

SEC("tp_btf/task_rename")
int BPF_PROG(task_rename, struct task_struct *task, const char *comm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (!is_target(tgid))
		return 0;
	emit_task(MW_REC_RENAME, tgid, BPF_CORE_READ(task, pid), comm, 0, 0, 0, 0);
	return 0;
}

/*
 * ---- page faults in user mode (x86's exceptions:page_fault_user) ----
 * Counted per thread of the targets only; every process's faults pass the
 * target filter, a hash lookup. A fault that finds no page present maps one
 * (a 4 KiB page; a transparent huge page or file fault-around maps more, a read
 * of never-written anonymous memory maps the shared zero page, which is not
 * resident memory of the process); one on a present page (X86_PF_PROT) is a
 * write to a shared or read-only page: copy-on-write, counted in faults only.
 */
#if defined(__TARGET_ARCH_x86)
#define MW_PF_PROT 1UL /* X86_PF_PROT: the page was present */

/*
 * --fault-stacks: a fault that maps a page, with the user registers at the faulting
 * instruction (regs: the user's, saved on entry to the exception) and the stack above them.
 * Sampled at random, not every Nth of a thread: a loop that faults in two places by turns
 * would otherwise always be sampled in the same one.
 */
static __always_inline void sample_fault(struct mw_thread_counters *c, __u64 id,
					 unsigned long address, struct pt_regs *regs)
{
	struct mw_fault_stack_rec *r;

	if (bpf_get_prandom_u32() % fault_sample)
		return;
	r = reserve(sizeof(*r) + MW_SYS_STACK_BYTES);
	if (!r) {
		/* Counted where the profile can say it: its bytes are not under any stack. */
		c->fault_lost++;
		return;
	}
	fill_hdr(&r->hdr, MW_REC_FAULT_STACK, id, bpf_ktime_get_ns());
	r->addr = address;
	r->sample_n = fault_sample;
	r->stack_len = capture_regs_stack(r->regs, (void *)(r + 1), regs, stack_room(regs->sp));
	bpf_ringbuf_submit(r, wake_flag(sizeof(*r) + MW_SYS_STACK_BYTES));
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_thread_counters *c;

	/* A fault counts as a change to its mm's resident counters before it makes one: a
	 * munmap's window in another thread of this process never misses it (rss_close). */
	if (rss_delta && rss_windows)
		rss_count_change((__u64)bpf_get_current_task_btf()->mm);
	if (!is_target(id >> 32))
		return 0;
	c = thread_counters((__u32)id, id >> 32);
	if (!c)
		return 0;
	c->faults++;
	if (error_code & MW_PF_PROT)
		return 0;
	c->faulted_pages++;
	if (fault_sample)
		sample_fault(c, id, address, regs);
	return 0;
}
#endif

/*
 * rss_delta: every change to any process's resident counters, while a munmap, madvise or
 * mremap of a traced process is between its enter and its exit (otherwise one global read).
 * A change to the mm of such a call is counted, and the caller's own also apart (each change
 * fires this in the context of the task that made it, after the counter moved).
 */
SEC("tp_btf/rss_stat")
int BPF_PROG(rss_stat, struct mm_struct *mm, int member)
{
	struct inflight_call *call;

	if (!rss_windows)
		return 0;
	/* The caller's own, counted even where the mm's count is gone (evicted): a call that
	 * made changes is never taken for one that made none. */
	call = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
	if (call && call->rss_open && call->rss_mm == (__u64)mm)
		call->rss_own++;
	rss_count_change((__u64)mm);
	return 0;
}

/*
 * The OOM killer chose its victim (SIGKILL is queued, its memory not yet
 * reaped): the record reaches user space before the victim's exit, so its
 * ledger can be written while the model still holds it. The victim is not the
 * current task: its header is filled from the task chosen. Loaded only where
 * the tracepoint passes the task (BTF says; see loader.c).
 */
SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct mw_task_rec *rec;

	if (!is_target(tgid))
		return 0;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->hdr, MW_REC_OOM, ((__u64)tgid << 32) | BPF_CORE_READ(task, pid),
		 bpf_ktime_get_ns());
	BPF_CORE_READ_STR_INTO(&rec->hdr.comm, task, comm);
	rec->vm_pages = BPF_CORE_READ(task, mm, total_vm);
	rec->stack_pages = BPF_CORE_READ(task, mm, stack_vm);
	rec->child_tgid = bpf_get_current_pid_tgid() >> 32;
	rec->child_tid = 0;
	rec->exit_code = 0;
	rec->group_dead = 0;
	rec->child_comm[0] = '\0';
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/*
 * ---- glibc's malloc probes (USDT, provider "libc"), where the libc has them ----
 * Attached per target pid by the loader (not auto-attached). They give the
 * arena lifecycle exactly; the syscall signatures are the fallback.
 */

static __always_inline int on_usdt(__u32 probe, __u64 a0, __u64 a1)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_usdt_rec *rec;

	if (!is_target(id >> 32))
		return 0;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_hdr(&rec->hdr, MW_REC_USDT, id, bpf_ktime_get_ns());
	rec->args[0] = a0;
	rec->args[1] = a1;
	rec->probe = probe;
	rec->pad = 0;
	bpf_ringbuf_submit(rec, wake_flag(sizeof(*rec)));
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_arena_new, void *arena, __u64 size)
{
	return on_usdt(MW_USDT_ARENA_NEW, (__u64)arena, size);
}

SEC("usdt")
int BPF_USDT(usdt_arena_reuse, void *arena, void *avoided)
{
	return on_usdt(MW_USDT_ARENA_REUSE, (__u64)arena, (__u64)avoided);
}

SEC("usdt")
int BPF_USDT(usdt_arena_reuse_free_list, void *arena)
{
	return on_usdt(MW_USDT_ARENA_REUSE_FREE_LIST, (__u64)arena, 0);
}

SEC("usdt")
int BPF_USDT(usdt_heap_new, void *heap, __u64 size)
{
	return on_usdt(MW_USDT_HEAP_NEW, (__u64)heap, size);
}

SEC("usdt")
int BPF_USDT(usdt_heap_more, void *heap, __u64 size)
{
	return on_usdt(MW_USDT_HEAP_MORE, (__u64)heap, size);
}

SEC("usdt")
int BPF_USDT(usdt_heap_less, void *heap, __u64 size)
{
	return on_usdt(MW_USDT_HEAP_LESS, (__u64)heap, size);
}

SEC("usdt")
int BPF_USDT(usdt_heap_free, void *heap, __u64 size)
{
	return on_usdt(MW_USDT_HEAP_FREE, (__u64)heap, size);
}

SEC("usdt")
int BPF_USDT(usdt_sbrk_more, void *brk, __u64 size)
{
	return on_usdt(MW_USDT_SBRK_MORE, (__u64)brk, size);
}

SEC("usdt")
int BPF_USDT(usdt_sbrk_less, void *brk, __u64 size)
{
	return on_usdt(MW_USDT_SBRK_LESS, (__u64)brk, size);
}

/*
 * Run by the loader (BPF_PROG_RUN) before any probe is attached: every page of the ring is
 * written once, through records of a page each that are reserved and discarded (user space
 * consumes them when the ring is full; libbpf skips discarded records). The first write to a
 * page of the ring is dear: on the bench's VM ~18 us a 4 KiB page, 35-40 ms of the CPU time
 * of a traced spinner in its first burst with an 8 MiB ring. Returns the pages written in this
 * run: fewer than MW_WARM_PER_RUN when the ring is full.
 */
SEC("syscall")
int warm_ring(void *ctx)
{
	int i;

	for (i = 0; i < MW_WARM_PER_RUN; i++) {
		void *r = bpf_ringbuf_reserve(&events, MW_WARM_RECORD - 8, 0);

		if (!r)
			break;
		bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
	}
	return i;
}
