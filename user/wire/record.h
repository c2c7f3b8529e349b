/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Recordings: everything a live session consumed (ring-buffer records,
 * /proc baselines, the kernel's counters, drop notices), in order, so
 * --replay runs the same accounting without root and bugs reproduce from a
 * file. Format (host byte order, x86-64):
 *   header  "MWREC002" u64 page_size  i64 mono_to_epoch_ns  u64 zero
 *   entry   u32 kind  u32 len  payload[len]  zero padding to 8 bytes
 */
#ifndef MW_RECORD_H
#define MW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>
#include "memwatch.h"

#define MW_RECORD_MAGIC "MWREC002"

enum mw_entry_kind {
	MW_ENTRY_RING = 1,	/* a raw ring-buffer record */
	MW_ENTRY_SEED,		/* struct mw_seed_entry + /proc/PID/maps text */
	MW_ENTRY_COUNTERS,	/* struct mw_counters_entry */
	MW_ENTRY_THREAD,	/* struct mw_thread_entry: a thread found in /proc */
	MW_ENTRY_LOST,		/* __u64: records the ring buffer dropped */
	MW_ENTRY_GONE,		/* struct mw_gone_entry: exited without an exit record */
	MW_ENTRY_VMSIZE,	/* struct mw_vmsize_entry: VmSize of a live process */
	MW_ENTRY_LIBS,		/* __u32 pid, __u32 0, then /proc/PID/maps text: libraries loaded */
	MW_ENTRY_PRELOAD,	/* __u32 pid, __u32 0, then the process's LD_PRELOAD value */
	MW_ENTRY_ARENA_LIMIT,	/* __u32 pid, __s32 glibc's arena limit for it */
};

struct mw_record_header {
	char magic[8];
	__u64 page_size;
	__s64 mono_to_epoch_ns;
	__u64 zero;
};

struct mw_seed_entry {
	__u32 pid;
	__u32 resync;		/* 1: after lost events (keep the baseline), 0: baseline */
	__u64 start_brk;
	__u64 vm_size;
	__u64 stack_size;
	__u64 snap_end_ns;
	/* followed by the maps text */
};

struct mw_counters_entry {
	__u32 tid;
	__u32 pad;
	struct mw_thread_counters c;
};

struct mw_thread_entry {
	__u32 pid;
	__u32 tid;
	char comm[MW_COMM_LEN];
};

struct mw_gone_entry {
	__u32 pid;
	__s32 status;
};

struct mw_vmsize_entry {
	__u32 pid;
	__u32 pad;
	__u64 vm_size;
	__u64 stack_size;
};

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
};
/* 0, or -EINVAL for a file that is not a recording. */
int mw_replay_init(struct mw_replay *r, const void *buf, size_t len);
/* 1 with an entry, 0 at the end, -EINVAL for a truncated or corrupt entry. */
int mw_replay_next(struct mw_replay *r, struct mw_entry *e);

#endif /* MW_RECORD_H */
