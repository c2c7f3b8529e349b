/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* memwatch BPF-only helpers and maps: target filter, enter/exit pairing,
 * exact per-thread counters, record emission. */
#ifndef MEMWATCH_BPF_H
#define MEMWATCH_BPF_H

/* Load-time knobs, set by the loader before load. */
const volatile bool follow_forks = false;
/* Time each call (-T): enter probes record the start. Without it only exit
 * probes run, reading the arguments from the saved user registers. */
const volatile bool timed = false;
/* Wake the consumer only when this much data is pending; it also polls on a
 * short timer. Per-event wake-ups make the tracee 2-4x slower. */
const volatile __u64 wake_bytes = 256 * 1024;
/* Bytes each CPU submits between two looks at the pending data (set by the loader so that
 * all CPUs together add at most a quarter of wake_bytes before one looks). */
const volatile __u32 wake_step = 4096;

/*
 * Set by user space before it detaches: links go one by one and each takes
 * an RCU grace period, so without one switch that stops every probe at once
 * the exit probes of some syscalls would keep counting while others stopped.
 */
volatile bool stopping;

/*
 * Target selection in the kernel, switched on by user space: the number of
 * watched cgroups in "cgroups" (--cgroup), and whether execs of non-targets
 * are matched against "comms" or reported (--comm).
 */
volatile __u32 ncgroups;
volatile bool comm_watch;

/* Set by user space once the page-fault probe is attached: threads' fault counters
 * say from then on that they count (MW_TC_FAULTS). */
volatile bool faults_on;
/* --stacks: each syscall record carries the caller's user registers and stack. */
const volatile bool want_stacks = false;
/* --stacks -c (no recording): only the calls that map memory have their stacks used (the
 * per-stack ledger); the others' records go without one. */
const volatile bool stacks_maps_only = false;
/* --fault-stacks=N: 1 in N faults that find no page present (at random) send a record with
 * the user stack; 0: none. */
const volatile __u32 fault_sample = 0;
/* Possible CPUs: the bound on the kernel's per-CPU resident counters (set by the loader). */
const volatile __u32 nr_cpus = 1;

/* Watched cgroup v2 directories (slot -> cgroup fd), descendants included. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, MW_MAX_CGROUPS);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

/* Process names user space has matched against --comm (comm -> 1): an exec
 * with one of them is adopted here, before its first syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[MW_COMM_LEN]);
	__type(value, __u8);
} comms SEC(".maps");

/* Traced processes (tgid -> 1). Sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct inflight_call {
	__u64 ts_ns;
	__u32 sys;
	__u32 pending;	 /* an enter is waiting for its exit */
	__u64 shm_pages; /* shmdt: the segment's pages, found at its enter (0 = unknown) */
	/* rss_delta: the window of a munmap, madvise or mremap (see rss_open) */
	__u64 rss_mm;	    /* the mm it watches */
	__s64 rss0[3];	    /* anon, file, shmem pages at the enter */
	__u64 rss_changes0; /* the mm's count of changes at the enter */
	__u64 rss_own;	    /* changes the call made itself */
	__u32 rss_open;
	__u32 rss_pad;
};

/*
 * A thread is in at most one syscall: its pending enter lives in the task's
 * own storage. No hash insert/delete per call (they cost more than the rest
 * of the probe), and the kernel frees it when the thread exits.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight_call);
} inflight SEC(".maps");

/*
 * --stacks, --fault-stacks: how far up its stack each thread's unwinds read (tid -> the
 * address just past it), written by user space after an unwind of the thread reached its
 * outermost frame. Above lie glibc's thread descriptor and TLS (~4 KiB a thread), which no
 * unwind reads: the copy stops there. Used only while it lies in the mapping of the stack
 * pointer (a tid reused with another stack finds it elsewhere); gone with the thread.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} stack_tops SEC(".maps");

/* --stacks: the hints user space wrote (struct mw_stack_hint), one slot per (tid, rip) hash;
 * one entry unless --stacks (MW_HINT_SLOTS x 536 bytes, preallocated). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MW_HINT_SLOTS);
	__type(key, __u32);
	__type(value, struct mw_stack_hint);
} stack_hints SEC(".maps");

/* Exact per-thread counters (tid -> counters): the truth when the ring overflows. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct mw_thread_counters);
} threads SEC(".maps");

/*
 * Final counters of threads that exited, by lifetime (tid + exit record time),
 * until user space has read them: a tid reused meanwhile (a restarted service
 * gets its old pid back) starts from zero in "threads" instead of adding to
 * the dead thread's. LRU: entries whose exit record was lost age out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mw_exit_key);
	__type(value, struct mw_thread_counters);
} exited SEC(".maps");

/*
 * Processes whose end was reported (tgid -> the leader's start time), no longer targets: a
 * sibling thread can reach sched_process_exit after the thread that ended the process (the
 * kernel's order of the live count's decrements is not the tracepoint's), and its exit record
 * is still the process's. The start time tells a later process with the same pid apart. LRU:
 * an entry is needed only while that process's last threads leave.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} ended SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

static __always_inline struct mw_stats *stats_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

static __always_inline bool is_target(__u32 tgid)
{
	if (stopping)
		return false;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

static __always_inline int target_add(__u32 tgid)
{
	__u8 one = 1;
	struct mw_stats *s;

	if (bpf_map_update_elem(&targets, &tgid, &one, BPF_ANY) == 0)
		return 0;
	s = stats_slot();
	if (s)
		s->targets_full++;
	return -1;
}

/* Is the current task in a watched cgroup (or below one)? */
static __always_inline bool in_watched_cgroup(void)
{
	__u32 n = ncgroups;

	for (__u32 i = 0; i < MW_MAX_CGROUPS; i++) {
		if (i >= n)
			break;
		if (bpf_current_task_under_cgroup(&cgroups, i) == 1)
			return true;
	}
	return false;
}

/* Is this name (a task's comm) one user space matched against --comm? */
static __always_inline bool comm_known(const char *comm)
{
	char key[MW_COMM_LEN] = {};

	bpf_probe_read_kernel(key, sizeof(key), comm);
	return bpf_map_lookup_elem(&comms, key) != NULL;
}

/* Bytes this CPU submitted since it last looked at the pending data. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} wake_acc SEC(".maps");

/*
 * The flag for a record of size bytes. The pending data is read only once per wake_step
 * bytes of this CPU's records: the read takes the consumer's position, a cache line the
 * reader on another CPU writes after each record it takes. And a reader that lags (busy, or
 * preempted) is woken once per step then, not on every record: each wake-up queues an
 * irq_work, an interrupt of the tracee's CPU.
 */
static __always_inline __u64 wake_flag(__u64 size)
{
	__u32 zero = 0;
	__u64 *acc = bpf_map_lookup_elem(&wake_acc, &zero);

	if (acc) {
		*acc += size;
		if (*acc < wake_step)
			return BPF_RB_NO_WAKEUP;
		*acc = 0;
	}
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wake_bytes ? BPF_RB_FORCE_WAKEUP
									   : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_hdr(struct mw_hdr *h, __u32 type, __u64 id, __u64 ts)
{
	h->type = type;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = ts;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Syscall records carry no name or CPU: reading them costs more than the
 * rest of the record; user space knows each thread's name from lifecycle
 * records and /proc. */
static __always_inline void fill_sys_hdr(struct mw_hdr *h, __u64 id, __u64 ts)
{
	h->type = MW_REC_SYSCALL;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->cpu = 0;
	h->ts_ns = ts;
	h->comm[0] = '\0';
}

/* Reserve a record or count the drop. The record is tested for NULL on one path only: a
 * verifier before 6.2 cannot tell that a second test of a ring buffer record already known
 * to be there is never taken, and refuses the program (an unreleased reference). */
static __always_inline void *reserve(__u64 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);
	struct mw_stats *s = stats_slot();

	if (!rec) {
		if (s)
			s->rb_drops++;
		return NULL;
	}
	if (s)
		s->events++;
	return rec;
}

/*
 * ---- rss_delta: a munmap's, madvise's or mremap's exact effect on resident memory ----
 * Since Linux 6.2 each of mm->rss_stat[] is a percpu_counter: a shared count plus a part per
 * CPU at counters + that CPU's per-CPU offset; their sum is the exact value (what
 * percpu_counter_sum and /proc/PID/status compute). The offsets cannot be named from here
 * (kallsyms has no data symbols without CONFIG_KALLSYMS_ALL, and BTF does not mark the field
 * per-CPU), so they are measured: the element of a one-slot per-CPU array on CPU c
 * (bpf_map_lookup_percpu_elem) lies at the array's raw per-CPU pointer (pptrs[0]) plus CPU c's
 * offset. Reading addresses as numbers needs CAP_PERFMON, which memwatch has.
 *
 * The counters are read as the call enters and as it returns; the difference is the call's
 * effect only if no other task changed them meanwhile (another thread's fault, reclaim,
 * khugepaged, a process_madvise). The rss_stat tracepoint fires on every change: while a call
 * is in such a window, each change to its mm is counted, and the call's own are counted
 * apart. Any other change, a per-CPU part out of its range, or counters that move while they
 * are read at the exit: the effect is unknown and the record says nothing.
 */
/* Set by the loader where the kernel has per-CPU rss counters and the helpers: rss_sums,
 * the counters can be summed (the process's at its end); rss_delta, the calls' windows too
 * (with --rss-delta). */
const volatile bool rss_sums = false;
const volatile bool rss_delta = false;
#define MW_RSS_MAX_CPUS 8192

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cpu_probe SEC(".maps");

/* Windows open now (all processes): the tracepoint does nothing else while there are none. */
volatile __s64 rss_windows;
/* CPU -> its per-CPU offset, valid once rss_offs_state is 1 (0: not measured yet, -1: the
 * measure failed its checks). CPUs that measure at once write the same numbers. */
__u64 rss_cpu_off[MW_RSS_MAX_CPUS];
volatile __s64 rss_offs_state;

/* Where a pointer is stored to be read back as a number (per CPU: measures may overlap). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ptr_scratch SEC(".maps");

/* Changes to each mm's counters while a window on it is open (mm -> count). LRU: an entry
 * outlives its windows; one evicted under a window reads as a change. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} rss_changes SEC(".maps");

/* A pointer as a number: stored, then read back (volatile: the compiler would otherwise do
 * arithmetic on the pointer itself, which the verifier refuses). */
static __always_inline __u64 ptr_number(__u64 *slot, void *p)
{
	*(void *volatile *)slot = p;
	return *(volatile __u64 *)slot;
}

struct rss_off_ctx {
	__u64 pptr;
	__u64 *slot;
	bool bad;
};

static long rss_off_cb(__u64 i, void *data)
{
	struct rss_off_ctx *c = data;
	__u32 zero = 0;
	__u64 off;
	void *e;

	if (i >= MW_RSS_MAX_CPUS) {
		c->bad = true;
		return 1;
	}
	e = bpf_map_lookup_percpu_elem(&cpu_probe, &zero, i);
	if (!e) {
		c->bad = true;
		return 1;
	}
	off = ptr_number(c->slot, e) - c->pptr;
	/* Per-CPU areas are page-aligned, and lie in the kernel's half. */
	if ((off & 4095) || (__s64)off >= 0)
		c->bad = true;
	rss_cpu_off[i] = off;
	return 0;
}

/* Measure every possible CPU's offset, once. */
static __always_inline bool rss_offsets_ready(void)
{
	struct rss_off_ctx c = {};
	__u32 zero = 0;
	__u64 a;

	if (rss_offs_state)
		return rss_offs_state == 1;
	c.slot = bpf_map_lookup_elem(&ptr_scratch, &zero);
	if (!c.slot)
		return false;
	a = ptr_number(c.slot, &cpu_probe);
	if (bpf_probe_read_kernel(&c.pptr, sizeof(c.pptr),
				  (void *)(a + bpf_core_field_offset(struct bpf_array, pptrs))) ||
	    !c.pptr || nr_cpus > MW_RSS_MAX_CPUS) {
		rss_offs_state = -1;
		return false;
	}
	bpf_loop(nr_cpus, rss_off_cb, &c, 0);
	rss_offs_state = c.bad ? -1 : 1;
	return !c.bad;
}

struct rss_sum_ctx {
	__u64 ctr[3]; /* the per-CPU parts of anon, file, shmem (raw per-CPU pointers) */
	__s64 n[3];
	__s32 batch;
	bool bad;
};

static long rss_sum_cb(__u64 i, void *data)
{
	struct rss_sum_ctx *s = data;
	__u64 off;
	__s32 v;

	if (i >= MW_RSS_MAX_CPUS) {
		s->bad = true;
		return 1;
	}
	off = rss_cpu_off[i];
	for (int m = 0; m < 3; m++) {
		v = 0;
		/* A part is always below the batch: one that is not was read at a wrong place. */
		if (bpf_probe_read_kernel(&v, sizeof(v), (void *)(s->ctr[m] + off)) ||
		    v >= s->batch || v <= -s->batch) {
			s->bad = true;
			return 1;
		}
		s->n[m] += v;
	}
	return 0;
}

/* The exact anon, file and shmem pages of mm (percpu_counter_sum of each); false: unknown.
 * mm is a BTF pointer (a task's, from tp_btf or the current task): its fields are plain loads,
 * not one helper call each. */
static __always_inline bool rss_read(struct mm_struct *mm, __s64 *n)
{
	struct rss_sum_ctx s = {};

	/* percpu_counter_batch: max(32, 2 x online CPUs) <= this. */
	s.batch = 2 * nr_cpus > 32 ? 2 * nr_cpus : 32;
	s.ctr[0] = (__u64)mm->rss_stat[MM_ANONPAGES].counters;
	s.ctr[1] = (__u64)mm->rss_stat[MM_FILEPAGES].counters;
	s.ctr[2] = (__u64)mm->rss_stat[MM_SHMEMPAGES].counters;
	s.n[0] = mm->rss_stat[MM_ANONPAGES].count;
	s.n[1] = mm->rss_stat[MM_FILEPAGES].count;
	s.n[2] = mm->rss_stat[MM_SHMEMPAGES].count;
	if (!s.ctr[0] || !s.ctr[1] || !s.ctr[2])
		return false;
	bpf_loop(nr_cpus, rss_sum_cb, &s, 0);
	n[0] = s.n[0];
	n[1] = s.n[1];
	n[2] = s.n[2];
	return !s.bad;
}

static __always_inline bool rss_sys(int sys)
{
	return sys == MW_SYS_MUNMAP || sys == MW_SYS_MADVISE || sys == MW_SYS_MREMAP;
}

/* A change to mm's counters (or a fault about to make one) while windows are open. */
static __always_inline __u64 *rss_count_change(__u64 mm)
{
	__u64 *n;

	if (!rss_windows)
		return NULL;
	n = bpf_map_lookup_elem(&rss_changes, &mm);
	if (n)
		__sync_fetch_and_add(n, 1);
	return n;
}

/* The call enters: its window opens (counted before the counters are read, so a change
 * from here on is seen). */
static __always_inline void rss_open(struct inflight_call *call)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 mm = (__u64)task->mm, zero = 0, *n;

	call->rss_open = 0;
	if (!mm || !rss_offsets_ready())
		return;
	__sync_fetch_and_add(&rss_windows, 1);
	n = bpf_map_lookup_elem(&rss_changes, &mm);
	if (!n) {
		bpf_map_update_elem(&rss_changes, &mm, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&rss_changes, &mm);
	}
	if (!n) {
		__sync_fetch_and_add(&rss_windows, -1);
		return;
	}
	call->rss_mm = mm;
	call->rss_changes0 = *(volatile __u64 *)n;
	call->rss_own = 0;
	call->rss_open = 1;
	if (!rss_read(task->mm, call->rss0)) {
		call->rss_open = 0;
		__sync_fetch_and_add(&rss_windows, -1);
	}
}

/*
 * The call returns: its window closes. True with d = its effect (pages) when it is known:
 * - no change at all to the mm's counters was counted in the window (the call's own ones are
 *   counted in its own context before it returns): 0, with nothing read;
 * - only the call's own: the counters after minus before. They and the count of changes are
 *   read twice, the second time after the first read's worth of delay, so that another
 *   task's change whose counter moved before the first read has had its tracepoint counted
 *   by the second.
 */
static __always_inline bool rss_close(struct inflight_call *call, struct mw_rss_delta *d)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__s64 a[3], b[3];
	__u64 *n, c1, c2;
	bool ok;

	if (!call->rss_open)
		return false;
	call->rss_open = 0;
	n = bpf_map_lookup_elem(&rss_changes, &call->rss_mm);
	c1 = n ? *(volatile __u64 *)n : 0;
	if (n && c1 == call->rss_changes0 && !call->rss_own) {
		__sync_fetch_and_add(&rss_windows, -1);
		d->anon = d->file = d->shmem = 0;
		return true;
	}
	ok = n && (__u64)task->mm == call->rss_mm && c1 - call->rss_changes0 == call->rss_own &&
	     rss_read(task->mm, a);
	c1 = n ? *(volatile __u64 *)n : 0;
	ok = ok && rss_read(task->mm, b);
	c2 = n ? *(volatile __u64 *)n : 0;
	__sync_fetch_and_add(&rss_windows, -1);
	if (!ok || c1 != c2 || c1 - call->rss_changes0 != call->rss_own || a[0] != b[0] ||
	    a[1] != b[1] || a[2] != b[2])
		return false;
	d->anon = a[0] - call->rss0[0];
	d->file = a[1] - call->rss0[1];
	d->shmem = a[2] - call->rss0[2];
	return true;
}

/* With -T: remember when the call began, to pair with its exit. munmap, madvise and mremap
 * also open their resident-memory window. */
static __always_inline int on_sys_enter(int sys)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct inflight_call *call;
	struct mw_stats *s;

	if (!is_target(id >> 32))
		return 0;
	call = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!call) {
		s = stats_slot();
		if (s)
			s->inflight_full++;
		return 0;
	}
	if (rss_delta && rss_sys(sys))
		rss_open(call);
	if (!timed)
		return 0;
	call->sys = sys;
	call->ts_ns = bpf_ktime_get_ns();
	call->pending = 1;
	return 0;
}

#if defined(__TARGET_ARCH_x86)
#define MW_PAGE_SHIFT 12
#endif

/* What a shmat made or a shmdt will remove: found through the vma at addr. */
struct vma_find {
	__u64 addr;
	__u64 pages;
	bool by_file; /* the segment's size (i_size: what shmdt removes), not the vma's */
};

static long vma_pages_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_find *f = data;
	struct file *file;

	if (vma->vm_start != f->addr)
		return 0;
	if (!f->by_file) {
		f->pages = (vma->vm_end - vma->vm_start) >> MW_PAGE_SHIFT;
		return 0;
	}
	file = vma->vm_file;
	if (file)
		f->pages =
			((__u64)BPF_CORE_READ(file, f_inode, i_size) + (1 << MW_PAGE_SHIFT) - 1) >>
			MW_PAGE_SHIFT;
	return 0;
}

/* 0 when the mm is busy (the lookup only try-locks it) or nothing starts at addr:
 * user space then finds the size itself. */
static __always_inline __u64 vma_pages(__u64 addr, bool by_file)
{
	struct vma_find f = { .addr = addr, .by_file = by_file };

	/* Linux 5.17 and later; before, the verifier never sees the call. */
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_find_vma))
		bpf_find_vma(bpf_get_current_task_btf(), addr, vma_pages_cb, &f, 0);
	return f.pages;
}

/* shmdt's exit cannot see the segment any more: its size is taken at the enter. */
static __always_inline int on_shmdt_enter(__u64 addr)
{
	struct inflight_call *call;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	call = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (call)
		call->shm_pages = vma_pages(addr, true);
	return 0;
}

/* The pages a successful shmat mapped, or a shmdt removes. */
static __always_inline __u32 shm_pages(int sys, long ret)
{
	struct inflight_call *call;
	__u64 pages = 0;

	if (sys == MW_SYS_SHMAT && ret > 0) {
		pages = vma_pages(ret, false);
	} else if (sys == MW_SYS_SHMDT) {
		call = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
		if (call) {
			pages = call->shm_pages;
			call->shm_pages = 0;
		}
	}
	return pages > 0xffffffffULL ? 0 : (__u32)pages;
}

/*
 * The syscalls leave their arguments untouched in the saved user
 * registers, so the exit sees the same call's arguments and return: a record
 * is never assembled from two different calls.
 */
static __always_inline void syscall_args(struct pt_regs *regs, __u64 *a)
{
#if defined(__TARGET_ARCH_x86)
	/* regs is a BTF pointer: plain loads, not one probe_read per field. */
	a[0] = regs->di;
	a[1] = regs->si;
	a[2] = regs->dx;
	a[3] = regs->r10;
	a[4] = regs->r8;
	a[5] = regs->r9;
#else
#error "syscall_args: only x86-64 is supported"
#endif
}

static __always_inline struct mw_thread_counters *thread_counters(__u32 tid, __u32 tgid)
{
	struct mw_thread_counters *c = bpf_map_lookup_elem(&threads, &tid);
	struct mw_thread_counters zero = {};
	struct mw_stats *s;

	if (c)
		return c;
	zero.tgid = tgid;
	/* Counting from before its first fault: the thread's fault counts are whole. Samples
	 * are taken only once the probe is on: their lost count is always whole. */
	zero.flags = (faults_on ? MW_TC_FAULTS : 0) | MW_TC_FAULT_LOST;
	bpf_map_update_elem(&threads, &tid, &zero, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&threads, &tid);
	if (!c) {
		s = stats_slot();
		if (s)
			s->threads_full++;
	}
	return c;
}

/* A thread exits: its counters move to "exited" for user space to read. */
static __always_inline void retire_counters(__u32 tid, __u64 ts)
{
	struct mw_thread_counters *c = bpf_map_lookup_elem(&threads, &tid);
	struct mw_exit_key key = { .ts_ns = ts, .tid = tid };
	struct mw_stats *s;

	bpf_map_delete_elem(&stack_tops, &tid);
	if (!c)
		return;
	if (bpf_map_update_elem(&exited, &key, c, BPF_ANY)) {
		/* No room: left in place, as before (a reused tid would add to it). */
		s = stats_slot();
		if (s)
			s->threads_full++;
		return;
	}
	bpf_map_delete_elem(&threads, &tid);
}

/* --stacks: a syscall record and its stack are put together here, then copied to the ring at
 * their length (a ring reservation has a fixed size). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, sizeof(struct mw_syscall_stack_rec) + MW_SYS_STACK_BYTES +
				   sizeof(struct mw_rss_delta));
} stack_scratch SEC(".maps");

struct vma_span {
	__u64 start, end;
};

static long vma_span_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_span *v = data;

	v->start = vma->vm_start;
	v->end = vma->vm_end;
	return 0;
}

/* Above the initial stack pointer of the main thread (mm->start_stack: argc) lie only argv,
 * the environment and the auxiliary vector, which no frame uses: the copy stops a little
 * above it (_start's own frame reads argc there). */
#define MW_START_STACK_SLACK 256

/* Bytes of the stack mapping above sp worth copying, at most MW_SYS_STACK_BYTES; that many
 * when the mapping cannot be looked up (the mm busy, a kernel before 5.17). */
static __always_inline __u32 stack_room(__u64 sp)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vma_span v = {};
	__u64 end, top, *known;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_find_vma))
		bpf_find_vma(task, sp, vma_span_cb, &v, 0);
	end = v.end;
	top = BPF_CORE_READ(task, mm, start_stack) + MW_START_STACK_SLACK;
	if (end > sp && sp < top && top < end)
		end = top; /* the main thread's stack */
	known = bpf_map_lookup_elem(&stack_tops, &tid);
	if (known && *known > sp && *known < end && v.start <= sp)
		end = *known;
	return end > sp && end - sp < MW_SYS_STACK_BYTES ? (__u32)(end - sp) : MW_SYS_STACK_BYTES;
}

/* The user registers (DWARF order) into out and up to room (at most MW_SYS_STACK_BYTES) bytes
 * of the stack into buf, for the unwinder in user space; a stack whose top is not resident is
 * copied shorter. Returns the bytes copied. */
static __always_inline __u32 capture_regs_stack(__u64 *out, void *buf, struct pt_regs *regs,
						__u32 room)
{
	__u64 sp = regs->sp;
	__u32 len = room;

	out[0] = regs->ax;
	out[1] = regs->dx;
	out[2] = regs->cx;
	out[3] = regs->bx;
	out[4] = regs->si;
	out[5] = regs->di;
	out[6] = regs->bp;
	out[7] = sp;
	out[8] = regs->r8;
	out[9] = regs->r9;
	out[10] = regs->r10;
	out[11] = regs->r11;
	out[12] = regs->r12;
	out[13] = regs->r13;
	out[14] = regs->r14;
	out[15] = regs->r15;
	out[16] = regs->ip;
	if (len == 0 || len > MW_SYS_STACK_BYTES || bpf_probe_read_user(buf, len, (void *)sp)) {
		/* Up to the end of its page, then one page less each time. */
		len = 0;
		for (int k = MW_SYS_STACK_BYTES / 4096; k > 0; k--) {
			__u32 m = (k - 1) * 4096 + (4096 - (sp & 4095));

			if (m > MW_SYS_STACK_BYTES || m > room)
				continue;
			if (!bpf_probe_read_user(buf, m, (void *)sp)) {
				len = m;
				break;
			}
		}
	}
	return len;
}

/* A syscall's: only up to the end of the stack's mapping. A read past it fails (a fault
 * taken, the copy zeroed) and was retried a page shorter each time: several faults per call
 * on a main thread near its top. */
static __always_inline void capture_stack(struct mw_syscall_stack_rec *r, struct pt_regs *regs)
{
	r->stack_len = capture_regs_stack(r->regs, (void *)(r + 1), regs, stack_room(regs->sp));
	r->pad = 0;
}

/*
 * --stacks: the time of the record whose frames this call's stack unwinds to, or 0. Its
 * thread's hint for this rip must name the same rsp (and rbp where it says), and the words that hint's unwind
 * read must hold the same values now (read into buf, the scratch's stack area). The check sum
 * is recomputed as the words are compared: a slot user space was rewriting meanwhile (an
 * array update is a plain copy) is refused, never half old and half new.
 */
static __always_inline __u64 same_stack(struct pt_regs *regs, __u32 tid, __u8 *buf)
{
	__u32 slot = mw_hint_slot(tid, regs->ip), n, span, flags;
	struct mw_stack_hint *h = bpf_map_lookup_elem(&stack_hints, &slot);
	__u64 sum, base, bp;

	if (!h)
		return 0;
	base = h->base_ts;
	n = h->n;
	span = h->span;
	flags = h->flags;
	bp = h->bp;
	if (!base || h->tid != tid || h->ip != regs->ip || h->sp != regs->sp ||
	    ((flags & MW_HINT_BP) && bp != regs->bp))
		return 0;
	if (n == 0 || n > MW_HINT_WORDS || span < 8 || span > MW_SYS_STACK_BYTES)
		return 0;
	/* span is 8..MW_SYS_STACK_BYTES here; masked as well, right before the read, because
	 * clang may check one copy of it and pass another it spilled, which older verifiers
	 * (6.1) then call unbounded. */
	if (bpf_probe_read_user(buf, ((span - 1) & (MW_SYS_STACK_BYTES - 1)) + 1, (void *)regs->sp))
		return 0;
	sum = mw_hint_head(base, regs->ip, regs->sp, bp, tid, n, span, flags);
	for (__u32 i = 0; i < MW_HINT_WORDS; i++) {
		__u32 off;
		__u64 v;

		if (i >= n)
			break;
		off = h->offs[i];
		if (off + 8 > span || off > MW_SYS_STACK_BYTES - 8)
			return 0;
		v = h->vals[i];
		if (*(__u64 *)(buf + off) != v)
			return 0;
		sum = mw_hint_mix(sum, off, v, i);
	}
	return sum == h->check ? base : 0;
}

/* What every syscall record says of its call. */
static __always_inline void fill_syscall(struct mw_syscall_rec *rec, __u64 id, __u64 now,
					 struct pt_regs *regs, int sys, long ret, __u64 dur)
{
	fill_sys_hdr(&rec->hdr, id, now);
	syscall_args(regs, rec->args);
	rec->ret = ret;
	rec->dur_ns = dur;
	rec->sys = sys;
	rec->pages = sys == MW_SYS_SHMAT || sys == MW_SYS_SHMDT ? shm_pages(sys, ret) : 0;
}

static __always_inline int on_sys_exit(int sys, long ret, struct pt_regs *regs)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct inflight_call *call;
	struct mw_thread_counters *c;
	struct mw_syscall_rec *rec;
	struct mw_syscall_rss_rec *rr;
	struct mw_rss_delta rd = {};
	bool error, rss_known = false;
	struct mw_stats *s;
	__u64 now, dur = 0;

	/* Before the target test: a window left open would keep the tracepoint busy. */
	if (rss_delta && rss_sys(sys) && rss_windows) {
		call = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
		if (call)
			rss_known = rss_close(call, &rd);
	}
	if (!is_target(id >> 32))
		return 0;
	now = bpf_ktime_get_ns();
	if (timed) {
		call = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
		if (!call || !call->pending || call->sys != (__u32)sys) {
			/* Attached mid-call, or the enter was lost: no duration to give. */
			s = stats_slot();
			if (s)
				s->unpaired++;
			if (call)
				call->pending = 0;
			return 0;
		}
		call->pending = 0;
		dur = now - call->ts_ns;
	}
	/* brk never fails with -errno: it returns the old break. */
	error = sys != MW_SYS_BRK && ret < 0 && ret >= -4095;

	c = thread_counters(tid, id >> 32);
	if (c && sys >= 0 && sys < MW_SYS_COUNT) {
		c->calls[sys]++;
		c->dur_ns[sys] += dur;
		if (error)
			c->errors[sys]++;
	}

	if (want_stacks && (!stacks_maps_only || sys == MW_SYS_MMAP || sys == MW_SYS_BRK ||
			    sys == MW_SYS_MREMAP || sys == MW_SYS_SHMAT)) {
		__u32 zero = 0, len;
		__u64 base;
		struct mw_syscall_stack_rec *sr = bpf_map_lookup_elem(&stack_scratch, &zero);
		struct mw_stats *st = stats_slot();

		if (!sr)
			return 0;
		rec = &sr->sc;
		fill_syscall(rec, id, now, regs, sys, ret, dur);
		base = same_stack(regs, tid, (__u8 *)(sr + 1));
		if (base) {
			struct mw_syscall_same_rec *q = (void *)sr;

			rec->hdr.type = MW_REC_SYSCALL_SAME;
			q->ip = regs->ip;
			q->base_ts = base;
			len = sizeof(*q);
			if (rss_known) {
				*(struct mw_rss_delta *)(q + 1) = rd;
				len += sizeof(rd);
			}
			if (bpf_ringbuf_output(&events, q, len, wake_flag(len))) {
				if (st)
					st->rb_drops++;
			} else if (st) {
				st->events++;
				st->stacks_same++;
			}
			return 0;
		}
		rec->hdr.type = MW_REC_SYSCALL_STACK;
		capture_stack(sr, regs);
		/* Only the bytes copied go to the ring: a record of a shallow stack is a few
		 * hundred bytes, not 8 KiB of cold ring memory written and read per call. */
		len = sr->stack_len;
		if (len > MW_SYS_STACK_BYTES)
			len = MW_SYS_STACK_BYTES;
		/* A known rss_delta follows the stack bytes (the record's size says). */
		if (rss_known) {
			*(struct mw_rss_delta *)((char *)(sr + 1) + len) = rd;
			len += sizeof(rd);
		}
		if (bpf_ringbuf_output(&events, sr, sizeof(*sr) + len,
				       wake_flag(sizeof(*sr) + len))) {
			if (st)
				st->rb_drops++;
		} else if (st) {
			st->events++;
		}
		return 0;
	}
	if (rss_known) {
		rr = reserve(sizeof(*rr));
		if (rr) {
			fill_syscall(&rr->sc, id, now, regs, sys, ret, dur);
			rr->rss = rd;
			bpf_ringbuf_submit(rr, wake_flag(sizeof(*rr)));
		}
		return 0;
	}
	rec = reserve(sizeof(*rec));
	if (rec) {
		fill_syscall(rec, id, now, regs, sys, ret, dur);
		bpf_ringbuf_submit(rec, wake_flag(sizeof(*rec)));
	}
	return 0;
}

/* retire (a thread's exit): its counters move to "exited" under the record's
 * time, only when the record exists; a lost one leaves them where they were. */
static __always_inline void emit_task_at(__u64 ts, bool retire, __u32 type, __u32 child_tgid,
					 __u32 child_tid, const char *child_comm, __s32 exit_code,
					 bool group_dead, __u64 vm_pages, __u64 stack_pages)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_task_rec *rec = reserve(sizeof(*rec));

	if (!rec)
		return;
	if (retire)
		retire_counters((__u32)id, ts);
	fill_hdr(&rec->hdr, type, id, ts);
	rec->vm_pages = vm_pages;
	rec->stack_pages = stack_pages;
	rec->child_tgid = child_tgid;
	rec->child_tid = child_tid;
	rec->exit_code = exit_code;
	rec->group_dead = group_dead;
	if (child_comm)
		bpf_probe_read_kernel_str(rec->child_comm, sizeof(rec->child_comm), child_comm);
	else
		rec->child_comm[0] = '\0';
	/* Lifecycle records are rare. A process's end must not wait for the timer,
	 * nor an exec or an adoption: its baseline is read from /proc while it is young. */
	bpf_ringbuf_submit(rec, (type == MW_REC_EXIT && group_dead) || type == MW_REC_EXEC ||
						type == MW_REC_ADOPT || type == MW_REC_EXEC_SEEN
					? BPF_RB_FORCE_WAKEUP
					: wake_flag(sizeof(*rec)));
}

static __always_inline void emit_task(__u32 type, __u32 child_tgid, __u32 child_tid,
				      const char *child_comm, __s32 exit_code, bool group_dead,
				      __u64 vm_pages, __u64 stack_pages)
{
	emit_task_at(bpf_ktime_get_ns(), false, type, child_tgid, child_tid, child_comm, exit_code,
		     group_dead, vm_pages, stack_pages);
}

/* The kernel makes tgid a target by itself and tells user space how. */
static __always_inline void adopt(__u32 tgid, __u32 how, const char *comm)
{
	struct mw_stats *s;

	if (target_add(tgid))
		return;
	s = stats_slot();
	if (s)
		s->adopted++;
	emit_task(MW_REC_ADOPT, tgid, how, comm, 0, 0, 0, 0);
}

/*
 * ---- resident memory: the kernel's own counters (mm->rss_stat) ----
 * Since Linux 6.2 each is a percpu_counter: a shared count plus a delta per
 * CPU, each smaller than the batch (max(32, 2 x CPUs) pages). The per-CPU
 * parts are summed where their offsets could be measured (see rss_delta);
 * elsewhere only the shared counts are read, and the record says how far off
 * they can be. Before 6.2 they were plain atomics, exact.
 */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

static __always_inline __u64 rss_pages(struct mm_struct *mm, int member)
{
	__s64 n;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62)) {
		struct mm_struct___pre62 *old = (void *)mm;

		n = BPF_CORE_READ(old, rss_stat.count[member].counter);
	} else {
		n = BPF_CORE_READ(mm, rss_stat[member].count);
	}
	return n > 0 ? n : 0;
}

/* Pages the three resident counters together can be off by: each CPU's part of each. */
static __always_inline __u64 rss_slack(void)
{
	__u64 batch = 2 * (__u64)nr_cpus > 32 ? 2 * (__u64)nr_cpus : 32;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62))
		return 0;
	return 3 * (__u64)nr_cpus * (batch - 1);
}

/* The resident counters of mm, as the process ends (NULL mm: gone already). */
static __always_inline void emit_rss(struct mm_struct *mm)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mw_rss_rec *rec;
	__s64 a[3], b[3];

	if (!mm)
		return;
	rec = reserve(sizeof(*rec));
	if (!rec)
		return;
	fill_hdr(&rec->hdr, MW_REC_RSS, id, bpf_ktime_get_ns());
	rec->file = rss_pages(mm, MM_FILEPAGES);
	rec->anon = rss_pages(mm, MM_ANONPAGES);
	rec->swap = rss_pages(mm, MM_SWAPENTS);
	rec->shmem = rss_pages(mm, MM_SHMEMPAGES);
	rec->slack = rss_slack();
	/* Where the per-CPU parts can be read (rss_delta's offsets): the exact sums, when two
	 * reads agree (a fold of a CPU's part into the shared count, under way during one, would
	 * have it off). */
	if (rss_sums && rss_offsets_ready() && rss_read(mm, a) && rss_read(mm, b) && a[0] == b[0] &&
	    a[1] == b[1] && a[2] == b[2]) {
		rec->anon = a[0] > 0 ? a[0] : 0;
		rec->file = a[1] > 0 ? a[1] : 0;
		rec->shmem = a[2] > 0 ? a[2] : 0;
		rec->slack = 0;
	}
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP);
}

static __always_inline int on_exit_group(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task;

	if (!is_target(id >> 32))
		return 0;
	task = (struct task_struct *)bpf_get_current_task_btf();
	emit_rss(task->mm);
	emit_task(MW_REC_EXIT_GROUP, 0, 0, NULL, 0, 0, BPF_CORE_READ(task, mm, total_vm),
		  BPF_CORE_READ(task, mm, stack_vm));
	return 0;
}

#endif /* MEMWATCH_BPF_H */
