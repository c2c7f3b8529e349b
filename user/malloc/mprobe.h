/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Allocator probes (--malloc), kernel side: open, size and load malloc.bpf.c;
 * find the allocator each target really uses and attach the uprobes for that
 * pid only; detach and re-attach them (duty cycle, rate guard); read the
 * counters and the outstanding table.
 */
#ifndef MW_MPROBE_H
#define MW_MPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "budget.h"
#include "malloc.h"

struct malloc_bpf;
struct ring_buffer;
struct bpf_link;

/* The allocation records' ring buffer (bytes; see mw_mprobe_open). */
#define MW_MALLOC_RING (8u << 20)

struct mw_mprobe_opts {
	uint32_t stack_bytes;	  /* of user stack copied per allocation */
	uint32_t sample_every;	  /* 0/1: every allocation */
	uint64_t sample_bytes;	  /* 0: off */
	uint64_t max_rate;	  /* probe hits per second; 0: no guard */
	uint32_t max_outstanding; /* outstanding table entries */
	uint32_t hold_exit;	  /* enum mw_hold_exit (malloc.h) */
};

/* A file already probed in a process (a second look at its maps skips it). */
struct mw_mmodule {
	uint32_t pid;
	uint64_t dev, ino;
};

/* One program on some functions of one file, for one pid, re-attached as it was after a
 * detach: one uprobe_multi link (fd), or, on a kernel without them, one perf-event uprobe
 * per function (links; fd stays -1). */
struct mw_mpoint {
	uint32_t pid;
	const char *path; /* interned */
	int kind;	  /* which program */
	bool ret;
	uint32_t n;
	uint64_t offs[32];	    /* file offsets of the functions */
	uint64_t cookies[32];	    /* enum mw_mfn of each (entry program) */
	int fd;			    /* the uprobe_multi link, -1 while detached */
	struct bpf_link *links[32]; /* the perf-event uprobes, NULL while detached */
};

/* The in-process sampler's USDT probes in one file of one process (its links, or none
 * while detached). */
struct mw_musdt {
	uint32_t pid;
	const char *path; /* interned */
	uint64_t dev, ino;
	bool frees; /* its free probe too (a sampler whose table memwatch cannot read) */
	bool ring;  /* its ring probe only (in alloc's place): samples read from its ring */
	struct bpf_link *alloc, *free;
};

struct mw_mprobe {
	struct malloc_bpf *skel;
	struct mw_mpoint *points;
	size_t npoints, cappoints;
	struct mw_musdt *usdt;
	size_t nusdt, capusdt;
	struct mw_mmodule *mods;
	size_t nmods, capmods;
	bool attached; /* links are in place (false while a duty cycle or the guard is off) */
	bool multi;    /* the kernel has uprobe_multi links (else: a uprobe per function) */
	int ncpus;
};

/*
 * Whether this kernel has uprobe_multi links (Linux 6.6), probed as libbpf does: a link
 * on "/" is refused with EBADF where they exist. MEMWATCH_NO_UPROBE_MULTI=1 says no (the
 * tests of the fallback on a kernel that has them).
 */
bool mw_mprobe_has_multi(void);
/* Open and load; on failure a negative errno and a one-line reason in err. m->multi says
 * which attach path the kernel allows. */
int mw_mprobe_open(struct mw_mprobe *m, const struct mw_mprobe_opts *o, char *err, size_t errsz);
/* The malloc ring's fd (for ring_buffer__add). */
int mw_mprobe_ring_fd(const struct mw_mprobe *m);
/*
 * Find the allocator pid uses and attach its probes. before_libs: the process
 * stopped right after exec, its libraries not mapped yet: resolve them the way
 * the dynamic loader will (LD_PRELOAD, then the executable's DT_NEEDED).
 * Returns the number of probes attached (0: no allocator found), or a negative errno;
 * what (may be NULL) gets the allocator's file name.
 */
int mw_mprobe_add_pid(struct mw_mprobe *m, uint32_t pid, bool before_libs, char *what,
		      size_t whatsz);
/*
 * Only the exit() probe of pid (the hold at exit), for a process whose
 * allocations the in-process sampler reports. Returns the probes attached.
 */
int mw_mprobe_add_exit(struct mw_mprobe *m, uint32_t pid, bool before_libs);
/*
 * The in-process sampler's probes in the library at path (valid here: through
 * /proc/PID/root) for pid: mwsampler:alloc, and mwsampler:free if frees (else
 * its frees are read from its table: mw_msampler_table); dev and ino name the
 * file, so a second call for it (an exec of the same image) is a no-op; ring:
 * mwsampler:ring instead of both (the samples are read from its ring). 0, or
 * a negative errno.
 */
int mw_mprobe_add_sampler(struct mw_mprobe *m, uint32_t pid, const char *path, bool frees,
			  bool ring);
/* Remove every link (the module list stays). */
void mw_mprobe_detach(struct mw_mprobe *m);
/*
 * The same for one process (the overhead budget): its exit() probe stays, so a
 * held process is still held; the in-process sampler's links go and come too.
 */
void mw_mprobe_detach_pid(struct mw_mprobe *m, uint32_t pid);
/* Held from the detach on (the entry probes record nothing) until mw_mprobe_open_pid,
 * after mw_mprobe_reattach_pid. */
int mw_mprobe_reattach_pid(struct mw_mprobe *m, uint32_t pid);
void mw_mprobe_open_pid(struct mw_mprobe *m, uint32_t pid);
/* pid's probe runs and their time so far (false: not counted, e.g. the table is full). */
bool mw_mprobe_budget(const struct mw_mprobe *m, uint32_t pid, struct mw_mbudget_ctr *out);
/* pid is gone: its counters are dropped. */
void mw_mprobe_budget_drop(struct mw_mprobe *m, uint32_t pid);

/*
 * What one probe hit costs the probed thread besides the program's own run
 * time: the trap into the kernel and back, measured on memwatch's own malloc
 * and free (the programs return at once for memwatch's pid). 0, or a negative
 * errno when it could not be measured (no libc with malloc mapped, attach failed).
 */
int mw_mprobe_calibrate(struct mw_mprobe *m, struct mw_mcost *c);
/* The rate guard tripped (and the hits per second that tripped it). */
bool mw_mprobe_tripped(const struct mw_mprobe *m, uint64_t *rate);
void mw_mprobe_reset_guard(struct mw_mprobe *m);
void mw_mprobe_stats(const struct mw_mprobe *m, struct mw_malloc_stats *sum);
/* Sum of the per-thread counters of process pid (threads that exited included). */
void mw_mprobe_counters(const struct mw_mprobe *m, uint32_t pid, struct mw_malloc_counters *sum);
/*
 * Put a block made before the attach (found by the heap walk) into the
 * kernel's outstanding table, so that its free is seen: tid 0 marks it. 0,
 * -EEXIST (the probes have it already) or another negative errno (full).
 */
int mw_mprobe_track(const struct mw_mprobe *m, uint32_t pid, uint64_t addr, uint64_t size,
		    uint64_t ts_ns);
/* Call fn for each outstanding block of pid (the kernel's table: the truth). */
typedef void (*mw_live_fn)(void *ctx, uint64_t addr, const struct mw_live *v);
void mw_mprobe_live(const struct mw_mprobe *m, uint32_t pid, mw_live_fn fn, void *ctx);
void mw_mprobe_close(struct mw_mprobe *m);

/* "malloc", "calloc", ..., "operator new", ... */
const char *mw_mfn_name(uint32_t fn);

#endif /* MW_MPROBE_H */
