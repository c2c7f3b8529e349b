/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Opening, configuring, loading and attaching the BPF side; reading its maps. */
#ifndef MW_LOADER_H
#define MW_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "memwatch.h"

struct memwatch_bpf;
struct ring_buffer;
struct bpf_link;

#define MW_MAX_USDT_LINKS 256

typedef int (*mw_record_fn)(void *ctx, void *data, size_t size);

struct mw_loader_opts {
	bool follow_forks;
	bool timed;	       /* -T: enter probes too, for durations */
	bool stacks;	       /* --stacks: each syscall record carries the user stack */
	bool stacks_maps_only; /* ... only those of the calls that map memory (no other is named) */
	bool no_faults;	       /* --no-faults: the page-fault probe is not loaded */
	bool rss_delta;	       /* --rss-delta: rss_delta's enter probes and tracepoint */
	bool verbose;
	bool warm_ring;	       /* the ring's pages written once before attaching (warm_ring) */
	uint32_t fault_stacks; /* --fault-stacks=N: 1 in N faults with the user stack; 0 off */
	uint64_t ring_size;
	uint32_t max_threads;
	uint32_t max_targets;
};

struct mw_loader {
	struct memwatch_bpf *skel;
	struct ring_buffer *rb;
	bool raw_syscalls; /* fallback: tp_btf sys_enter/sys_exit (no tracefs) */
	bool faults;	   /* the page-fault probe counts the threads' faults */
	bool oom_probe;	   /* oom:mark_victim is traced (MW_REC_OOM records come) */
	bool rss_delta;	   /* munmap, madvise, mremap records say their exact effect on RSS */
	struct bpf_link *usdt[MW_MAX_USDT_LINKS]; /* glibc malloc probes, per pid */
	size_t nusdt;
	int ncpus;
	int wake_fd; /* an eventfd whose counter ends a poll at once (a scrape), or -1 */
};

/*
 * Check privileges and kernel support, open, load and attach. On failure
 * returns a negative errno, writes a one-line reason with what to do into err,
 * and leaves nothing attached.
 */
int mw_loader_start(struct mw_loader *l, const struct mw_loader_opts *o, mw_record_fn fn, void *ctx,
		    char *err, size_t errsz);
int mw_loader_add_target(struct mw_loader *l, uint32_t tgid);
bool mw_loader_is_target(struct mw_loader *l, uint32_t tgid);
void mw_loader_remove_target(struct mw_loader *l, uint32_t tgid);
/* Watched cgroups (--cgroup): fds of cgroup v2 directories, n <= MW_MAX_CGROUPS;
 * the kernel adopts processes that fork or exec in them. */
int mw_loader_set_cgroups(struct mw_loader *l, const int *fds, size_t n);
/* --comm: report execs of non-targets (MW_REC_EXEC_SEEN), and adopt at once
 * those whose name is in the kernel's table of matched names. */
void mw_loader_comm_watch(struct mw_loader *l, bool on);
int mw_loader_comm_add(struct mw_loader *l, const char *comm);
void mw_loader_comm_clear(struct mw_loader *l);
/* Consume what is in the ring (wait at most timeout_ms for a wake-up of the ring, or for
 * wake_fd to become readable: its counter is then read back to zero). */
int mw_loader_poll(struct mw_loader *l, int timeout_ms);
/* The kernel's counters for one thread; exit_ts: the ts_ns of its MW_REC_EXIT record when
 * it exited (its final counters), else 0. -ENOENT if none. */
int mw_loader_thread_counters(struct mw_loader *l, uint32_t tid, uint64_t exit_ts,
			      struct mw_thread_counters *c);
void mw_loader_forget_thread(struct mw_loader *l, uint32_t tid, uint64_t exit_ts);
/* --stacks: the probes copy tid's stack up to top and no further (see stack_tops in
 * bpf/memwatch.bpf.h). 0 or a negative errno (the map full: copies stay as they were). */
int mw_loader_set_stack_top(struct mw_loader *l, uint32_t tid, uint64_t top);
/* --stacks: h goes to its (tid, ip) slot (see same_stack in bpf/memwatch.bpf.h), replacing
 * whatever hint was there. 0 or a negative errno. */
int mw_loader_set_stack_hint(struct mw_loader *l, const struct mw_stack_hint *h);
/*
 * Attach glibc's malloc probes (provider "libc": memory_arena_new, ...) in
 * binary (a path valid here, e.g. /proc/PID/root/usr/lib/.../libc.so.6) for
 * pid only. Returns how many probes were attached (0 when the binary has
 * none, as Debian's libc), or a negative errno.
 */
int mw_loader_attach_usdt(struct mw_loader *l, uint32_t pid, const char *binary);
void mw_loader_stats(struct mw_loader *l, struct mw_stats *sum);
/* Detach every probe, keeping maps and ring: what is queued can still be read
 * and the counters stop moving, so final summaries are consistent. */
void mw_loader_detach(struct mw_loader *l);
void mw_loader_stop(struct mw_loader *l);

#endif /* MW_LOADER_H */
