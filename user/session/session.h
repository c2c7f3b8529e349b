/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a session does with its inputs, whether they come from the kernel
 * (live.c) or from a recording (replay.c): decode, apply to the model,
 * write events and summaries, and record everything it consumed.
 */
#ifndef MW_SESSION_H
#define MW_SESSION_H

#include <stdbool.h>
#include <stdio.h>
#include "base/options.h"
#include "wire/decode.h"
#include "ledger/model.h"
#include "alloc/alloc.h"
#include "output.h"

struct mw_thread_counters;
struct mw_fprof;
struct mw_bystack;

/* Where the kernel's exact counters come from: the BPF map, or a recording. */
typedef int (*mw_counters_fn)(void *ctx, uint32_t tid, struct mw_thread_counters *c, bool forget);
/* Read a process's baseline again after exec: live sessions read /proc and
 * call mw_session_seed; a replay finds the seed as the next entry. */
typedef int (*mw_reseed_fn)(void *ctx, uint32_t pid);
/* Code was mapped at [start, end): live sessions find out which file it is,
 * call mw_session_libs while the allocator is unknown and attach a newly
 * mapped libc's probes; a replay finds the libs snapshot as the next entry. */
typedef void (*mw_libs_fn)(void *ctx, uint32_t pid, uint64_t start, uint64_t end);
/* Copy len bytes of pid's memory at addr (live: process_vm_readv; a replay: the
 * bytes recorded then, as the next entry). 0 or a negative errno. */
typedef int (*mw_peek_fn)(void *ctx, uint32_t pid, uint64_t addr, void *buf, size_t len);
/* --stacks: name the frames of a syscall's user stack (ev->sc.regs set): live, unwound and
 * symbolized; a replay, the frames recorded then, the next entry. The count, or a negative
 * errno (not unwound). Strings stay valid while the source lives. */
typedef int (*mw_stack_fn)(void *ctx, const struct mw_event *ev, struct mw_sframe *f, size_t max);
/* Read a live process's resident counters now (live: /proc/PID/status). 0 or a negative errno. */
typedef int (*mw_resident_fn)(void *ctx, uint32_t pid, struct mw_resident *r);
/* Its resident bytes by class and arena at a report (live: /proc/PID/smaps placed on p's
 * regions, rss_class.h; a replay: the next entry). 0 or a negative errno (then unknown). */
typedef int (*mw_rmap_fn)(void *ctx, const struct mw_process *p, struct mw_resident_map *out);

/* Watchers of what the session applied (--perfetto): each event after the model and the
 * outputs saw it, each allocator event, each process's report (final: before it is forgotten). */
struct mw_session_hooks {
	void (*event)(void *ctx, const struct mw_event *ev, const struct mw_apply *a);
	void (*alloc)(void *ctx, const struct mw_process *p, const struct mw_alloc_ev *e);
	void (*report)(void *ctx, uint64_t ts_ns, const struct mw_process *p, bool final);
};

struct mw_session {
	const struct mw_config *cfg;
	struct mw_model model;
	struct mw_output out;
	struct mw_decode_ctx dctx;
	FILE *rec;		 /* --record, or NULL */
	mw_counters_fn counters; /* may be NULL: counts seen in events only */
	mw_reseed_fn reseed;	 /* may be NULL */
	mw_libs_fn libs;	 /* may be NULL */
	mw_resident_fn resident; /* may be NULL: for mw_session_counters_now */
	mw_stack_fn stack;	 /* may be NULL: syscall stacks are not named */
	void *stack_ctx;
	struct mw_sframe frames[MW_SSTACK_MAX]; /* the current syscall's (s->out.frames) */
	struct mw_fprof *fprofs; /* --fault-stacks: per process with sampled faults */
	size_t nfprofs;
	/* The bytes each stack mapped that are still mapped (bystack.h): made at the first
	 * syscall that has a stack, NULL before. */
	struct mw_bystack *bystack;
	mw_rmap_fn rmap; /* may be NULL: resident by class is not known */
	void *rmap_ctx;
	FILE *stack_folded; /* --folded for those (not --malloc's), or NULL; the caller's */
	/* After an OOM victim's ledger was written: what only the source has (the
	 * allocation probes' stacks). May be NULL. */
	void (*oom)(void *ctx, const struct mw_event *ev, struct mw_process *p);
	void *src_ctx;			      /* for both */
	const struct mw_session_hooks *hooks; /* may be NULL */
	void *hooks_ctx;
	mw_peek_fn peek; /* may be NULL: the allocator analysis reads no memory */
	void *peek_ctx;
	struct mw_mem mem; /* the allocator analysis's reader: peek, recorded */
	/* What reading the process told at its baseline (mw_session_facts), for the
	 * mw_session_seed that follows. */
	struct mw_alloc_facts facts;
	uint32_t facts_pid; /* 0: none pending */
	/* Daemon mode: a thread that exits while its process's table holds more than
	 * cfg->max_threads has its summary written at its exit and is forgotten, so a
	 * long-lived process that churns threads keeps a bounded table. */
	bool retire_threads;
	struct mw_maps_piece *pieces; /* mw_session_pieces' for the next seed of pieces_pid */
	size_t npieces;
	uint32_t pieces_pid;
	uint64_t bad_records;
	uint64_t oom_kills;	 /* traced processes the OOM killer chose (MW_EV_OOM) */
	uint64_t triggers_fired; /* --trigger firings (monitor/incident.c) */
	uint64_t escalations;	 /* --escalate-for escalations started (escalate.c) */
	/* Output that could not be written: the trace's writes that failed (set by the live
	 * session), and the recording's (it stops at the first: rec_err is why). */
	uint64_t out_errors;
	uint64_t rec_errors;
	int rec_err;
	int err; /* first fatal error (-ENOMEM) */
};

void mw_session_init(struct mw_session *s, const struct mw_config *cfg, FILE *out,
		     uint64_t page_size, int64_t mono_to_epoch_ns);
void mw_session_free(struct mw_session *s);
/* One decoded record of a traced process (raw: the record as the kernel wrote it, for
 * --record). Returns 0, or a negative errno that should stop the session. */
int mw_session_event(struct mw_session *s, const struct mw_event *ev, const void *raw,
		     size_t rawlen);
/* A record the decoder refused: kept in the recording, counted, reported at the end. */
int mw_session_bad_record(struct mw_session *s, const void *data, size_t size);
/* The two above for a raw record: decode, then the one or the other. */
int mw_session_record(struct mw_session *s, const void *data, size_t size);
/* When each piece of the maps text of pid's next seed was read (mw_read_maps_timed). */
int mw_session_pieces(struct mw_session *s, uint32_t pid, const struct mw_maps_piece *v, size_t n);
/* A baseline (resync false) or a post-drop resync of pid from maps text. */
int mw_session_seed(struct mw_session *s, uint32_t pid, const char *maps_text, uint64_t start_brk,
		    uint64_t vm_size, uint64_t stack_size, uint64_t snap_end_ns, bool resync);
/* What reading pid told at its baseline (live: mw_alloc_read_facts): recorded, and
 * used by the next mw_session_seed of pid. Takes f's arrays (f is emptied). */
void mw_session_facts(struct mw_session *s, uint32_t pid, struct mw_alloc_facts *f);
/* The same from a recorded MW_ENTRY_ALLOC_FACTS; -EINVAL when it is malformed. */
int mw_session_facts_entry(struct mw_session *s, const void *data, size_t len);
void mw_session_thread_name(struct mw_session *s, uint32_t pid, uint32_t tid, const char *comm);
/* A maps snapshot taken after libraries were loaded (all of /proc/PID/maps, or the lines of the
 * new mappings): which allocator the process uses. */
void mw_session_libs(struct mw_session *s, uint32_t pid, const char *maps_text);
/* The LD_PRELOAD of a process at its baseline (a preloaded allocator). */
void mw_session_preload(struct mw_session *s, uint32_t pid, const char *ld_preload);
/* glibc's arena limit in force for a process (from its environment). */
void mw_session_arena_limit(struct mw_session *s, uint32_t pid, int limit);
/* The kernel's VmSize of a live process, read now. */
void mw_session_vmsize(struct mw_session *s, uint32_t pid, uint64_t vm_size, uint64_t stack_size);
/* The kernel's resident counters of a live process, read now from /proc/PID/status;
 * start: at its baseline (rss_start). */
void mw_session_resident(struct mw_session *s, uint32_t pid, const struct mw_resident *r,
			 bool start);
void mw_session_lost(struct mw_session *s, uint64_t ts_ns, uint64_t count);
/* A process that is gone without an exit record (status: wait status, or -1), noticed at
 * ts_ns (Unix epoch). */
void mw_session_gone(struct mw_session *s, uint32_t pid, int status, uint64_t ts_ns);
/* Summaries of every process still known, stamped ts_ns (final: also diagnoses and
 * the region maps). */
void mw_session_report_all(struct mw_session *s, uint64_t ts_ns, bool final);
size_t mw_session_live(const struct mw_session *s);
/* The kernel's counters of every live thread, read now through s->counters (a view that shows
 * them between reports: memwatch top). Not recorded: reports read them again. The resident
 * counters of every live process too, through s->resident (recorded, as at reports). */
void mw_session_counters_now(struct mw_session *s);

#endif /* MW_SESSION_H */
