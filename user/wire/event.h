/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Typed events: what the decoder produces from a ring-buffer record and what
 * every analyzer and sink consumes. Pure data, no libbpf. */
#ifndef MW_EVENT_H
#define MW_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>
#include "memwatch.h"
#include "malloc.h"

enum mw_event_kind {
	MW_EV_SYSCALL = MW_REC_SYSCALL,
	MW_EV_THREAD_NEW = MW_REC_THREAD_NEW,
	MW_EV_FORK = MW_REC_FORK,
	MW_EV_EXEC = MW_REC_EXEC,
	MW_EV_EXIT = MW_REC_EXIT,
	MW_EV_RENAME = MW_REC_RENAME,
	MW_EV_EXIT_GROUP = MW_REC_EXIT_GROUP,
	MW_EV_USDT = MW_REC_USDT,
	/* Notices for the watcher (--comm, --cgroup), not events of a traced process. */
	MW_EV_ADOPT = MW_REC_ADOPT,
	MW_EV_EXEC_SEEN = MW_REC_EXEC_SEEN,
	MW_EV_RSS = MW_REC_RSS, /* a process's resident counters as it ends */
	/* The OOM killer chose this process (task: child_pid = whose allocation failed,
	 * vm_bytes/stack_bytes = the victim's VmSize/VmStk then). */
	MW_EV_OOM = MW_REC_OOM,
	/* A sampled page fault with the user stack (--fault-stacks). */
	MW_EV_FAULT = MW_REC_FAULT_STACK,
	/* The allocation probes' ring (--malloc). */
	MW_EV_MALLOC = MW_MREC_ALLOC, /* an allocation, with registers and stack bytes */
	MW_EV_MFREE = MW_MREC_FREE,   /* a tracked block was freed */
	MW_EV_MEXIT = MW_MREC_EXIT,   /* a process called exit() and is held stopped */
	MW_EV_MWAKE = MW_MREC_WAKE,   /* the in-process sampler's ring is half full: read it */
};

/* The kernel made a process a target by itself (--cgroup, or a --comm name matched). */
struct mw_adopt_ev {
	uint32_t pid;
	enum mw_adopt_how how;
};

/* An allocation (MALLOC) or a free (MFREE: addr, fn). The stack bytes are the
 * record's own: valid while the record is (inside the ring callback). */
struct mw_malloc_ev {
	enum mw_mfn fn;
	uint64_t addr;		 /* the new block; MFREE: the freed one */
	uint64_t size;		 /* bytes asked for */
	uint64_t old_addr;	 /* realloc: the block it replaced, else 0 */
	uint64_t weight;	 /* the in-process sampler's: bytes it stands for; else 0 */
	uint64_t regs[MW_MREGS]; /* the caller's registers after the call */
	const uint8_t *stack;	 /* stack_len bytes of the caller's stack from regs[7] */
	uint32_t stack_len;
};

/* The kernel's resident counters of a process (bytes), as /proc/PID/status shows them. */
struct mw_rss_ev {
	uint64_t anon, file, shmem, swap;
	uint64_t slack; /* how far off their sum can be (the per-CPU parts not read); 0: exact */
};

struct mw_usdt_ev {
	enum mw_usdt_probe probe;
	uint64_t args[2];
};

struct mw_syscall_ev {
	enum mw_sys sys;
	uint64_t args[6];
	int64_t ret;
	uint64_t dur_ns;
	uint32_t pages; /* shmat: pages it mapped; shmdt: pages of the segment; 0 = unknown */
	/* munmap, madvise, mremap: the call's exact effect on resident memory (bytes), where
	 * the kernel saw nothing else change it; rss_known false: unknown. */
	bool rss_known;
	int64_t rss_anon, rss_file, rss_shmem;
	int64_t rss_delta; /* their sum */
	/* --stacks: the caller's user registers (MW_SYS_NREGS, DWARF order) and stack_len
	 * bytes of its stack from regs[7]: the record's own, valid while it is; else NULL. */
	const __u64 *regs;
	const uint8_t *stack;
	uint32_t stack_len;
	/* --stacks, a call the kernel sent without its stack: the frames are those of this
	 * thread's record at same_ts (mono ns) whose rip was same_ip; 0 otherwise. */
	uint64_t same_ts, same_ip;
};

/* A sampled page fault (--fault-stacks): the stack bytes are the record's own. */
struct mw_fault_ev {
	uint64_t addr;	   /* the faulting address */
	uint32_t sample_n; /* it stands for this many faults (1 in N sampled) */
	const __u64 *regs; /* the user registers at the fault (MW_SYS_NREGS, DWARF order) */
	const uint8_t *stack;
	uint32_t stack_len;
};

struct mw_task_ev {
	uint32_t child_pid;
	uint32_t child_tid;
	char child_comm[MW_COMM_LEN]; /* NUL-terminated */
	int32_t exit_code;
	bool group_dead;
	uint64_t vm_bytes;    /* EXIT_GROUP, FORK, EXEC: VmSize (0 = unknown) */
	uint64_t stack_bytes; /* the same, VmStk */
};

struct mw_event {
	enum mw_event_kind kind;
	uint64_t mono_ns; /* CLOCK_MONOTONIC, as recorded by the kernel */
	uint64_t ts_ns;	  /* Unix epoch ns (mono_ns + offset) */
	uint32_t pid;	  /* tgid */
	uint32_t tid;
	uint32_t cpu;
	char comm[MW_COMM_LEN]; /* NUL-terminated; EXEC_SEEN: the new name; malloc: empty */
	union {
		struct mw_syscall_ev sc;
		struct mw_task_ev task;
		struct mw_usdt_ev usdt;
		struct mw_adopt_ev adopt;
		struct mw_malloc_ev mal;
		struct mw_rss_ev rss;
		struct mw_fault_ev flt;
	};
};

/* A thread name from the kernel (16 bytes, maybe without NUL), NUL-terminated. */
static inline void mw_copy_comm(char *dst, const char *src)
{
	memcpy(dst, src, MW_COMM_LEN);
	dst[MW_COMM_LEN - 1] = '\0';
}

/* A syscall's raw return is an error when it is in [-4095, -1]. */
static inline bool mw_ret_is_error(int64_t ret)
{
	return ret < 0 && ret >= -4095;
}

#endif /* MW_EVENT_H */
