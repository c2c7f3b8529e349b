/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memwatch kernel/user ABI: ring-buffer records and map values.
 * Only __u32/__u64 types here: included by BPF code (after vmlinux.h) and by
 * user space (after <linux/types.h>). Every record starts with struct mw_hdr,
 * whose first field is the record type.
 */
#ifndef MEMWATCH_H
#define MEMWATCH_H

#define MW_COMM_LEN 16

/* The traced syscalls, in the order used by every per-syscall array. The
 * order is a recording format: new calls come last (recordings made with six
 * calls are converted when read, wire/record.c). */
enum mw_sys {
	MW_SYS_BRK = 0,
	MW_SYS_MMAP,
	MW_SYS_MUNMAP,
	MW_SYS_MPROTECT,
	MW_SYS_MREMAP,
	MW_SYS_MADVISE,
	MW_SYS_SHMAT,	      /* SysV shared memory: VmSize changes like an mmap */
	MW_SYS_SHMDT,	      /* ... and like a munmap */
	MW_SYS_PKEY_MPROTECT, /* mprotect with a protection key */
	MW_SYS_COUNT,
};

/* Calls traced by recordings of format MWREC002 (the first six above). */
#define MW_SYS_COUNT_V2 6

enum mw_rec_type {
	MW_REC_SYSCALL = 1,   /* struct mw_syscall_rec */
	MW_REC_THREAD_NEW,    /* struct mw_task_rec: hdr = creator, child_* = new thread */
	MW_REC_FORK,	      /* struct mw_task_rec: hdr = parent, child_* = new process */
	MW_REC_EXEC,	      /* struct mw_task_rec: hdr = task after exec */
	MW_REC_EXIT,	      /* struct mw_task_rec: a thread exits; group_dead on last */
	MW_REC_RENAME,	      /* struct mw_task_rec: child_comm = new name */
	MW_REC_EXIT_GROUP,    /* struct mw_task_rec: vm_pages = VmSize in pages */
	MW_REC_USDT,	      /* struct mw_usdt_rec: a glibc memory_* probe fired */
	MW_REC_ADOPT,	      /* struct mw_task_rec: the kernel made child_tgid a target by itself
				 * (--cgroup, or a --comm name already matched); child_tid = how */
	MW_REC_EXEC_SEEN,     /* struct mw_task_rec: a non-target exec'd while --comm watches;
				 * hdr.comm = its new name, for user space to match */
	MW_REC_RSS,	      /* struct mw_rss_rec: the kernel's resident counters at the end */
	MW_REC_SYSCALL_STACK, /* struct mw_syscall_stack_rec + stack bytes (--stacks) */
	MW_REC_OOM,	      /* struct mw_task_rec: the OOM killer chose a traced process;
				 * hdr = the victim (tid: the task chosen), child_tgid = the
				 * process whose allocation ran out, vm_pages = victim's VmSize */
	MW_REC_FAULT_STACK,   /* struct mw_fault_stack_rec + stack bytes (--fault-stacks) */
	MW_REC_SYSCALL_SAME,  /* struct mw_syscall_same_rec (--stacks): the stack of an earlier
			       * record's, checked in the kernel against its hint */
};

/* --stacks: user stack bytes copied per memory syscall (the syscall ring's records). */
#define MW_SYS_STACK_BYTES 8192 /* a power of two: bpf/ masks with it */
#define MW_SYS_NREGS 17 /* x86-64 DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */

/* The ring's warm-up (warm_ring in memwatch.bpf.c): records of one page each, this many a run. */
#define MW_WARM_RECORD 4096
#define MW_WARM_PER_RUN 512

/* How the kernel adopted a process (MW_REC_ADOPT's child_tid). */
enum mw_adopt_how {
	MW_ADOPT_EXEC = 1, /* at its exec: nothing of the new image ran untraced */
	MW_ADOPT_FORK,	   /* forked in a watched cgroup by an untraced parent */
};

/* Slots of the "cgroups" map (--cgroup). */
#define MW_MAX_CGROUPS 64

/* glibc's malloc SDT probes (provider "libc"), in the order of the BPF programs. */
enum mw_usdt_probe {
	MW_USDT_ARENA_NEW = 0,	       /* (arena, heap size) */
	MW_USDT_ARENA_REUSE,	       /* (arena, avoided arena) */
	MW_USDT_ARENA_REUSE_FREE_LIST, /* (arena) */
	MW_USDT_HEAP_NEW,	       /* (heap, size) */
	MW_USDT_HEAP_MORE,	       /* (heap, new size) */
	MW_USDT_HEAP_LESS,	       /* (heap, new size) */
	MW_USDT_HEAP_FREE,	       /* (heap, size) */
	MW_USDT_SBRK_MORE,	       /* (break, size) */
	MW_USDT_SBRK_LESS,	       /* (break, size) */
	MW_USDT_COUNT,
};

struct mw_hdr {
	__u32 type; /* enum mw_rec_type */
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	__u64 ts_ns;		/* CLOCK_MONOTONIC; for syscalls: time of the exit */
	char comm[MW_COMM_LEN]; /* thread name at the time of the record */
};

struct mw_syscall_rec {
	struct mw_hdr hdr;
	__u64 args[6]; /* raw syscall arguments, unused ones zero */
	__s64 ret;     /* raw return: address, 0, or -errno */
	__u64 dur_ns;  /* exit - enter */
	__u32 sys;     /* enum mw_sys */
	__u32 pages;   /* SHMAT: pages of the mapping it made; SHMDT: pages of the segment
			* it detached (the kernel's i_size); 0 = unknown or another call */
};

/*
 * A syscall with the caller's user stack (--stacks): the user registers as the
 * call returns (rip: after the syscall instruction, inside the libc wrapper)
 * and stack_len bytes of its stack from regs[7] (rsp), which follow. hdr.type
 * is MW_REC_SYSCALL_STACK; the rest of sc is as in a plain syscall record.
 */
struct mw_syscall_stack_rec {
	struct mw_syscall_rec sc;
	__u64 regs[MW_SYS_NREGS];
	__u32 stack_len;
	__u32 pad;
};

/*
 * --stacks: a hint user space writes after unwinding a record of type MW_REC_SYSCALL_STACK
 * (its time: base_ts): the stack words that unwind read (offsets from rsp) and their values,
 * whose values the frames depend on, found with rip and rsp alone, or with rbp (MW_HINT_BP):
 * an unwind with the other registers unknown gave the same frames. A later call of the thread
 * with the same rip and rsp (and rbp) whose stack holds those values at those offsets unwinds
 * to the same frames: the kernel sends an MW_REC_SYSCALL_SAME
 * naming base_ts instead of copying the stack. One slot per (tid, rip) hash
 * (mw_hint_slot); check sums the rest (mw_hint_head, mw_hint_mix): a slot read while user
 * space rewrites it is refused.
 */
#define MW_HINT_WORDS 48
#define MW_HINT_SLOTS 4096
#define MW_HINT_BP 1
struct mw_stack_hint {
	__u64 base_ts; /* 0: empty */
	__u64 ip, sp, bp;
	__u32 tid;
	__u32 n;     /* words in offs and vals, 1..MW_HINT_WORDS */
	__u32 span;  /* bytes from rsp the kernel reads: past the highest word, <= 8192 */
	__u32 flags; /* MW_HINT_BP: rbp must be bp too (else bp is 0) */
	__u64 check;
	__u16 offs[MW_HINT_WORDS]; /* byte offsets from rsp, each + 8 <= span */
	__u64 vals[MW_HINT_WORDS];
};

static inline __u32 mw_hint_slot(__u32 tid, __u64 ip)
{
	__u64 h = ((__u64)tid << 32 ^ ip) * 0x9e3779b97f4a7c15ULL;

	return (__u32)(h >> 40) & (MW_HINT_SLOTS - 1);
}

/* A hint's check, word i added (the kernel folds it into its compare loop). */
static inline __u64 mw_hint_mix(__u64 sum, __u64 off, __u64 val, __u64 i)
{
	return (sum ^ (val + (off << 48) + i)) * 0x100000001b3ULL + (val >> 29);
}

/* What a hint's check starts from: its fixed fields; mw_hint_mix adds its n words in order. */
static inline __u64 mw_hint_head(__u64 base_ts, __u64 ip, __u64 sp, __u64 bp, __u32 tid, __u32 n,
				 __u32 span, __u32 flags)
{
	return (base_ts ^ ip * 3 ^ sp * 5 ^ bp * 7) + ((__u64)tid << 32 | n) +
	       ((__u64)span << 17 | flags);
}

/* A call whose stack the kernel found equal to its thread's hint for its rip: the frames
 * are those of the record at base_ts (of the same tid, with this ip). Any rss_delta
 * follows, as after a syscall record. */
struct mw_syscall_same_rec {
	struct mw_syscall_rec sc;
	__u64 ip;
	__u64 base_ts;
};

/*
 * A sampled page fault (--fault-stacks): one of the user-mode faults that found no page
 * present, chosen 1 in sample_n at random in the kernel; the user registers at the faulting
 * instruction (regs[16]: rip) and stack_len bytes of the stack from regs[7] (rsp) follow, as
 * in mw_syscall_stack_rec. It stands for sample_n faults: the record carries the rate, so a
 * recording says what it stands for by itself.
 */
struct mw_fault_stack_rec {
	struct mw_hdr hdr;
	__u64 addr; /* the faulting address */
	__u64 regs[MW_SYS_NREGS];
	__u32 stack_len;
	__u32 sample_n;
};

/*
 * A munmap, madvise or mremap whose effect on the process's resident memory is known exactly
 * (nothing else changed its counters while it ran): the kernel's counters after the call
 * minus before, in pages. It follows the call's mw_syscall_rec in a record of type
 * MW_REC_SYSCALL, or the stack bytes of an MW_REC_SYSCALL_STACK (the record's size says it
 * is there); a call whose effect is not known has the plain record.
 */
struct mw_rss_delta {
	__s64 anon, file, shmem;
};

struct mw_syscall_rss_rec {
	struct mw_syscall_rec sc;
	struct mw_rss_delta rss;
};

struct mw_task_rec {
	struct mw_hdr hdr;
	__u64 vm_pages;	   /* EXIT_GROUP, FORK, EXEC: mm->total_vm (pages) at exit_group, of
			    * the child, of the new image (what exec mapped); 0 = unknown */
	__u64 stack_pages; /* same, mm->stack_vm: the stack grows without syscalls */
	__u32 child_tgid;  /* THREAD_NEW/FORK */
	__u32 child_tid;   /* THREAD_NEW/FORK */
	__s32 exit_code;   /* EXIT: task->exit_code (wait status form) */
	__u32 group_dead;  /* EXIT: 1 when the last thread of the process exits */
	char child_comm[MW_COMM_LEN]; /* THREAD_NEW/FORK: child's name; RENAME: new name */
};

/*
 * A process's resident memory as the kernel counts it (mm->rss_stat, the
 * numbers of /proc/PID/status), read as it ends: at exit_group and, where the
 * kernel still has its mm there, when its last thread exits (the later wins).
 */
struct mw_rss_rec {
	struct mw_hdr hdr;
	__u64 file, anon, swap, shmem; /* pages: the counters' shared counts */
	__u64 slack; /* pages their sum can be off by: the per-CPU parts not read (0: exact) */
};

struct mw_usdt_rec {
	struct mw_hdr hdr;
	__u64 args[2];
	__u32 probe; /* enum mw_usdt_probe */
	__u32 pad;
};

/* Exact per-thread counters kept in the kernel (map "threads", key = tid). */
struct mw_thread_counters {
	__u64 calls[MW_SYS_COUNT];
	__u64 errors[MW_SYS_COUNT];
	__u64 dur_ns[MW_SYS_COUNT];
	__u32 tgid;
	__u32 flags;	     /* MW_TC_FAULTS: the fault counters below were counting */
	__u64 faults;	     /* page faults in user mode */
	__u64 faulted_pages; /* those that found no page present (each maps one or more) */
	__u64 fault_lost;    /* --fault-stacks: samples taken that the ring had no room for */
};

/* mw_thread_counters.flags */
#define MW_TC_FAULTS 1U
#define MW_TC_FAULT_LOST 2U /* fault_lost is counted (not in older recordings) */

/* Key of map "exited": one thread's lifetime. ts_ns is the hdr.ts_ns of its
 * MW_REC_EXIT record, so a tid reused meanwhile has another key. */
struct mw_exit_key {
	__u64 ts_ns;
	__u32 tid;
	__u32 pad;
};

/* Global health counters (per-CPU array "stats", one slot). */
struct mw_stats {
	__u64 rb_drops;	     /* records lost: ring buffer full */
	__u64 unpaired;	     /* syscall exits without a recorded enter: dropped, never guessed */
	__u64 inflight_full; /* enters not recorded: inflight map full */
	__u64 threads_full;  /* counter updates lost: threads map full */
	__u64 targets_full;  /* forked children not followed: targets map full */
	__u64 events;	     /* records submitted */
	__u64 adopted;	     /* processes made targets by the kernel (--cgroup, --comm) */
	__u64 stacks_same;   /* --stacks: calls sent as MW_REC_SYSCALL_SAME (no copy) */
};

#endif /* MEMWATCH_H */
