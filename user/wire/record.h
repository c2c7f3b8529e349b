/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Recordings: everything a live session consumed (ring-buffer records,
 * /proc baselines, the kernel's counters, drop notices), in order, so
 * --replay runs the same accounting without root and bugs reproduce from a
 * file. Format (host byte order, x86-64):
 *   header  "MWREC003" u64 page_size  i64 mono_to_epoch_ns  u64 zero
 *   entry   u32 kind  u32 len  payload[len]  zero padding to 8 bytes
 * MWREC002 (six traced calls: struct mw_counters_entry was 160 bytes) is still
 * read: its counters entries are converted to the current layout.
 */
#ifndef MW_RECORD_H
#define MW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>
#include "memwatch.h"
#include "malloc.h"

#define MW_RECORD_MAGIC "MWREC003"
#define MW_RECORD_MAGIC_V2 "MWREC002"

/* Entry kinds are a file format: numbers never change, new kinds come last. */
enum mw_entry_kind {
	MW_ENTRY_RING = 1,     /* a raw ring-buffer record */
	MW_ENTRY_SEED = 2,     /* struct mw_seed_entry + /proc/PID/maps text */
	MW_ENTRY_COUNTERS = 3, /* struct mw_counters_entry */
	MW_ENTRY_THREAD = 4,   /* struct mw_thread_entry: a thread found in /proc */
	MW_ENTRY_LOST = 5,     /* __u64: records the ring buffer dropped */
	MW_ENTRY_GONE = 6,     /* struct mw_gone_entry: exited without an exit record */
	MW_ENTRY_VMSIZE = 7,   /* struct mw_vmsize_entry: VmSize of a live process */
	MW_ENTRY_LIBS = 8,     /* __u32 pid, __u32 0, then /proc/PID/maps text: libraries loaded */
	MW_ENTRY_PRELOAD = 9,  /* __u32 pid, __u32 0, then the process's LD_PRELOAD value */
	MW_ENTRY_ARENA_LIMIT = 10, /* __u32 pid, __s32 glibc's arena limit for it */
	MW_ENTRY_REPORT = 11,	   /* struct mw_report_entry: the session wrote its summaries */
	/* The allocation probes (--malloc): what their ledger (malloc/mledger.c) consumed.
	 * Allocations are kept unwound, their stacks named once each, so a replay needs
	 * neither the process nor its files. Frees are MW_ENTRY_RING records. */
	MW_ENTRY_MCONFIG = 12, /* struct mw_mconfig_entry: sampling and report options */
	MW_ENTRY_MPROC = 13,   /* struct mw_mproc_entry + allocator file name */
	MW_ENTRY_MSTACK = 14,  /* struct mw_mstack_entry + ips + named frames (mledger.c); a
				* stack named again (JIT code named later) replaces its frames */
	MW_ENTRY_MALLOC = 15,  /* struct mw_malloc_entry + __u64 ips[nips] (+ weight: see there) */
	MW_ENTRY_MEXEC = 16,   /* __u32 pid, __u32 0: its blocks are gone */
	MW_ENTRY_MSYNC = 17,   /* struct mw_msync_entry + n x struct mw_msync_block */
	MW_ENTRY_MREPORT = 18, /* struct mw_mreport_entry: a report, with the kernel's counters */
	MW_ENTRY_MGUARD = 19,  /* struct mw_mguard_entry: the rate guard detached the probes */
	MW_ENTRY_MHEAP = 20,   /* struct mw_mheap_entry + spans + blocks: a walk of glibc's heaps */
	/* A process whose allocations the in-process sampler reports (libmemwatch-sampler.so). */
	MW_ENTRY_MSAMPLER = 21, /* struct mw_msampler_entry */
	/* What the allocator analysis read from a process's memory: at its baseline
	 * (before the MW_ENTRY_SEED it goes with), and while its calls are applied. */
	MW_ENTRY_ALLOC_FACTS = 22, /* struct mw_facts_entry + its arrays and text */
	MW_ENTRY_PEEK = 23,	   /* struct mw_peek_entry + the bytes read (none on error) */
	MW_ENTRY_MBUDGET = 24,	   /* struct mw_mbudget_entry: a process's overhead budget */
	MW_ENTRY_PIECES = 25,	   /* struct mw_pieces_entry + n x struct mw_piece_entry: when
				    * each piece of the next seed's maps text was read */
	/* Blocks the in-process sampler's table says were freed (no free probe). */
	MW_ENTRY_MFREED = 26,	/* struct mw_mfreed_entry + n x __u64 addresses */
	MW_ENTRY_RESIDENT = 27, /* struct mw_resident_entry: /proc/PID/status's Rss* lines */
	MW_ENTRY_SSTACK = 28,	/* struct mw_sstack_entry + frames: the named stack of the
			       * syscall record just before it (--stacks) */
	MW_ENTRY_RMAP = 29,	/* struct mw_rmap_entry + narenas x __u64: resident bytes by class
			     * and arena, from /proc/PID/smaps at a report */
};

struct mw_record_header {
	char magic[8];
	__u64 page_size;
	__s64 mono_to_epoch_ns;
	__u64 zero;
};

struct mw_seed_entry {
	__u32 pid;
	__u32 resync; /* 1: after lost events (keep the baseline), 0: baseline */
	__u64 start_brk;
	__u64 vm_size;
	__u64 stack_size;
	__u64 snap_end_ns;
	/* followed by the maps text */
};

struct mw_pieces_entry {
	__u32 pid;
	__u32 n;
};

struct mw_piece_entry {
	__u64 lo;
	__u64 t_before, t_after;
};

struct mw_counters_entry {
	__u32 tid;
	__u32 pad;
	struct mw_thread_counters c;
};

/* glibc's arena list, its mapped chunks and the threads' stacks at a baseline. */
struct mw_facts_entry {
	__u32 pid;
	__u32 how; /* enum mw_arenas_how */
	__u64 heap_max;
	__u64 main_arena;
	__u32 narenas;
	__u32 nheaps;	  /* then nheaps x struct mw_facts_heap */
	__u32 nchunks;	  /* then nchunks x { __u64 start, len } */
	__u32 nstacks;	  /* then nstacks x { __u64 guard, start, end } */
	__u32 nnoreserve; /* then nnoreserve x { __u64 start, len } */
	__u32 nforeign;	  /* then nforeign x { __u64 start, len } */
	__u32 flags;	  /* MW_FACTS_VMFLAGS, MW_FACTS_OVERCOMMIT_NEVER */
	__u32 why_len;	  /* then the text saying where the list came from, or why not */
};

#define MW_FACTS_VMFLAGS 1	    /* smaps was read: the noreserve list is exact */
#define MW_FACTS_OVERCOMMIT_NEVER 2 /* vm.overcommit_memory was 2 */

struct mw_facts_heap {
	__u64 base;
	__u64 rw;
	__u32 arena;
	__u32 pad;
};

struct mw_peek_entry {
	__u32 pid;
	__s32 err; /* 0, or the negative errno of the read */
	__u64 addr;
	__u32 len;
	__u32 pad;
};

/* Before the fault counters (mw_thread_counters.faults), a counters entry was this
 * long: read with the fault counts unknown. */
#define MW_COUNTERS_ENTRY_V3_LEN 232
/* Before the lost fault samples (mw_thread_counters.fault_lost): read with them unknown. */
#define MW_COUNTERS_ENTRY_V4_LEN 248

struct mw_resident_entry {
	__u32 pid;
	__u32 start;		 /* 1: the reading at the baseline (rss_start) */
	__u64 anon, file, shmem; /* bytes */
	__u64 ts_ns;		 /* when they were read (Unix epoch) */
};

#define MW_RMAP_CLASSES 16 /* room for enum mw_class */

struct mw_rmap_entry {
	__u32 pid;
	__u32 narenas;
	__u64 by_class[MW_RMAP_CLASSES];
};

/* Then n x struct mw_sframe_entry, then per frame its module and function names,
 * NUL-terminated ("" = unknown). n = 0: the stack could not be unwound. */
struct mw_sstack_entry {
	__u32 tid;
	__u32 n;
};

struct mw_sframe_entry {
	__u64 addr;
	__u64 offset;
};

/* The same in MWREC002: counters of the first six calls. */
struct mw_counters_entry_v2 {
	__u32 tid;
	__u32 pad;
	__u64 calls[MW_SYS_COUNT_V2];
	__u64 errors[MW_SYS_COUNT_V2];
	__u64 dur_ns[MW_SYS_COUNT_V2];
	__u32 tgid;
	__u32 pad2;
};

struct mw_thread_entry {
	__u32 pid;
	__u32 tid;
	char comm[MW_COMM_LEN];
};

struct mw_gone_entry {
	__u32 pid;
	__s32 status;
	__u64 ts_ns; /* Unix epoch; absent (8-byte entry) in older recordings */
};

struct mw_vmsize_entry {
	__u32 pid;
	__u32 pad;
	__u64 vm_size;
	__u64 stack_size;
};

struct mw_report_entry {
	__u64 ts_ns; /* Unix epoch */
	__u32 final;
	__u32 pad;
};

struct mw_mconfig_entry {
	__u64 sample_bytes;
	__u32 sample_every;
	__u32 max_outstanding;
	double min_age_s;
	__u32 flags; /* MW_MCONFIG_*; absent (a 24-byte entry) in older recordings */
	__u32 pad;
};
#define MW_MCONFIG_V1_LEN 24
#define MW_MCONFIG_DUTY 1U /* a --duty cycle: the probes are away part of the time */

struct mw_mproc_entry {
	__u32 pid;
	__u32 flags; /* MW_MPROC_* (0 in older recordings) */
	char comm[MW_COMM_LEN];
	/* followed by the allocator's file name */
};
/* Attached to a running process (not stopped before its first allocation): blocks made
 * before are unknown but for what a heap walk (MW_ENTRY_MHEAP) finds. */
#define MW_MPROC_MIDLIFE 1U

/*
 * A stack: __u64 ips[n], then (unless MW_MSTACK_IPS_ONLY) n frames, each a
 * struct mw_mframe2_entry and the module, function, file and build-id names
 * (MW_MSTACK_FRAMES2), or in older recordings a struct mw_mframe_entry and
 * the module, function and file names; names NUL-terminated ("" = unknown).
 */
struct mw_mstack_entry {
	__u32 pid;
	__u32 n; /* frames, | the flags below */
};
#define MW_MSTACK_IPS_ONLY 0x80000000U /* the frames were not named */
#define MW_MSTACK_FRAMES2 0x40000000U  /* frames in the second layout */
#define MW_MSTACK_COUNT 0x3fffffffU

struct mw_mframe_entry {
	__u64 addr;
	__u64 offset;
	__s32 line;
	__u32 pad;
};

struct mw_mframe2_entry {
	__u64 addr;
	__u64 offset;
	__u64 rel; /* position in the module: see rel_kind (enum mw_rel_kind) */
	__s32 line;
	__u8 rel_kind;
	__u8 jit; /* the function name is from the process's perf map */
	__u16 pad;
};

/* Followed by __u64 ips[nips], then, for a sample of the in-process sampler only, its
 * __u64 weight (the bytes it stands for). */
struct mw_malloc_entry {
	__u64 mono_ns;
	__u64 addr;
	__u64 size;
	__u64 old_addr;
	__u32 pid;
	__u32 tid;
	__u32 fn;
	__u32 nips;
};

/* flags: MW_MSAMPLER_RING: its samples are read from its ring (else its alloc probe's). */
#define MW_MSAMPLER_RING 1u
struct mw_msampler_entry {
	__u32 pid;
	__u32 flags; /* 0 in older recordings: the probe */
	__u64 mean;  /* MEMWATCH_SAMPLE_BYTES in its environment */
};

/*
 * What a read of the sampler's table of sampled blocks changed, before a
 * report (now_mono_ns): the n blocks of pid it no longer has were freed, at
 * that time as far as anyone knows; flags MW_MFREED_UNKNOWN: the table could
 * not be read (the process is gone): the fate of every block of pid is
 * unknown from now on.
 */
#define MW_MFREED_UNKNOWN 1u
/* A heap walk resolved blocks of unknown fate (mw_mledger_confirm): the n
 * addresses were freed, the addresses after them (to the entry's end) are
 * still in use. */
#define MW_MFREED_CONFIRM 2u
struct mw_mfreed_entry {
	__u32 pid;
	__u32 n;
	__u64 now_mono_ns;
	__u32 flags;
	__u32 pad;
};

struct mw_msync_entry {
	__u32 pid;
	__u32 n;
};

struct mw_msync_block {
	__u64 addr;
	struct mw_live v;
};

struct mw_mreport_entry {
	__u64 now_mono_ns;
	__u32 pid;
	__u32 final;
	__u64 unwind_failed; /* of this process (the whole session's in older recordings) */
	struct mw_malloc_counters c;
	struct mw_malloc_stats st;
};
/*
 * Older recordings' report entry: struct mw_malloc_counters without its
 * per-process health counters (they end at pad); they read as the session's.
 */
#define MW_MREPORT_V1_COUNTERS 240
#define MW_MREPORT_V1_LEN (24 + MW_MREPORT_V1_COUNTERS + sizeof(struct mw_malloc_stats))

/*
 * A walk of a process's glibc heaps right after the probes were attached: the
 * in-use chunks it found (blocks made before the attach), and for each heap
 * the span walked and whether every in-use chunk of it was found.
 */
enum mw_heapwalk_status {
	MW_HEAPWALK_OK = 0,
	MW_HEAPWALK_NO_DEBUGINFO,  /* glibc's layout and symbols unknown (no libc6-dbg) */
	MW_HEAPWALK_NO_LIBC,	   /* the allocator is not a libc.so that can be read */
	MW_HEAPWALK_UNREADABLE,	   /* the process's memory could not be read */
	MW_HEAPWALK_BYTES,	   /* the heap is larger than the walk's byte bound */
	MW_HEAPWALK_TIME,	   /* the walk ran out of its time bound */
	MW_HEAPWALK_CHANGED,	   /* a chunk header made no sense: the heap changed under it */
	MW_HEAPWALK_TABLE_FULL,	   /* more blocks than the outstanding tables have room for */
	MW_HEAPWALK_FREE_LISTS,	   /* a fastbin list could not be followed */
	MW_HEAPWALK_NONCONTIGUOUS, /* the main heap is not one brk range */
	MW_HEAPWALK_COUNT,
};

struct mw_mheap_entry {
	__u32 pid;
	__u32 status; /* enum mw_heapwalk_status: the whole walk (OK: see each span) */
	__u32 nspans;
	__u32 nblocks;
	__u64 now_mono_ns; /* when it ran: the time the blocks are given */
	/* followed by nspans x struct mw_mheap_span, then nblocks x struct mw_mheap_block */
};

struct mw_mheap_span {
	__u64 start, end; /* the heap's first chunk (main: glibc's sbrk_base) and end */
	__u32 status;	  /* enum mw_heapwalk_status */
	__u32 flags;	  /* MW_MHEAP_* */
};
#define MW_MHEAP_MAIN 1U /* the main arena's heap (start == end: not set up yet) */

struct mw_mheap_block {
	__u64 addr; /* the block (chunk + 16) */
	__u64 size; /* glibc's chunk size, header included */
};

struct mw_mguard_entry {
	__u64 now_mono_ns;
	__u64 rate;
	__u64 limit;
	__u64 off_ns;
};

/*
 * The overhead budget of one process (--max-overhead), written when its probes
 * detach and before each report. dark_ns: when its probes were last detached
 * (0: never): a block allocated before it with no free seen has an unknown fate.
 */
struct mw_mbudget_entry {
	__u64 now_mono_ns;
	__u64 dark_ns;
	__u64 wall_ns;	   /* traced since */
	__u64 attached_ns; /* of which the probes were attached */
	__u64 cpu_ns;	   /* the target's CPU time (utime+stime), probes included */
	__u64 enter_hits;
	__u64 ret_hits;
	__u64 body_ns;	 /* the programs' own run time */
	double probe_ns; /* the probes' cost: hits x calibrated costs + body_ns */
	double enter_cost_ns, ret_cost_ns;
	double budget_pct; /* 0: unlimited */
	__u32 pid;
	__u32 windows;	  /* times the budget attached them */
	__u32 attached;	  /* now */
	__u32 calibrated; /* the costs were measured here (else defaults) */
	/* Its read and write system calls (/proc/PID/io) since first traced, and of them
	 * those made while the probes were attached: its progress, which they do not slow.
	 * Not in recordings of MW_MBUDGET_V1_LEN. */
	__u64 io_calls, io_calls_attached;
	/* Of them the reads, in all and while attached: a request's work follows its
	 * read, its reply's write may wait for the end of a batch. Not in recordings
	 * of MW_MBUDGET_V2_LEN (weighed by io_calls then). */
	__u64 reads, reads_attached;
};
#define MW_MBUDGET_V1_LEN 112
#define MW_MBUDGET_V2_LEN 128

struct mw_entry {
	__u32 kind;
	__u32 len;
	const void *data;
};

/* Writing. Each returns 0 or a negative errno. */
int mw_record_begin(FILE *f, uint64_t page_size, int64_t mono_to_epoch_ns);
int mw_record_put(FILE *f, uint32_t kind, const void *a, size_t alen, const void *b, size_t blen);

/* Reading a whole recording held in memory. */
struct mw_replay {
	const unsigned char *buf;
	size_t len, off;
	struct mw_record_header hdr;
	int version;		       /* 2 or 3 */
	struct mw_counters_entry conv; /* a converted MWREC002 counters entry */
};
/* 0, or -EINVAL for a file that is not a recording. */
int mw_replay_init(struct mw_replay *r, const void *buf, size_t len);
/* 1 with an entry, 0 at the end, -EINVAL for a truncated or corrupt entry. Entries of
 * older versions come in the current layout (e->data may point into r). */
int mw_replay_next(struct mw_replay *r, struct mw_entry *e);

#endif /* MW_RECORD_H */
