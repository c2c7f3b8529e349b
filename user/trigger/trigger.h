/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Triggers: conditions on a process's measured sizes that start an incident
 * (a `trigger` record, an escalation). Specifications, one per --trigger:
 *
 *   mapped+SIZE/WINDOW     mapped bytes grew by SIZE or more within WINDOW
 *   committed+SIZE/WINDOW  the same, committed (not PROT_NONE) bytes
 *   resident+SIZE/WINDOW   the same, resident bytes (the kernel's VmRSS)
 *   mapped>=SIZE           (and committed, resident) the size reached SIZE
 *   arenas>=limit          glibc's arenas reached its arena limit
 *   arenas>=N              N arenas besides the main one
 *   cgroup>=PCT%           the process's cgroup uses PCT% of its memory limit
 *   diagnosis              an allocator diagnosis holds (any kind), or
 *   diagnosis=KIND         that kind
 *
 * SIZE: digits with K, M or G (powers of 1024); WINDOW: digits with ms, s, m
 * or h (seconds without). '>' is accepted for '>=' as well.
 *
 * Growth is measured from the lowest value sampled within the window (samples
 * kept at least window / 16 apart), or from the value at the last firing when
 * that is higher and within the window: a process that goes on growing fires
 * again after each further SIZE, not at every sample. A level (>=) fires when
 * it is crossed, again only after it was left.
 */
#ifndef MW_TRIGGER_H
#define MW_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_TRIG_MAX 16	    /* --trigger options at most */
#define MW_TRIG_HISTORY 16  /* samples kept per growth trigger and process: window / 16 apart */
#define MW_TRIG_SPEC_LEN 64 /* a specification's text, as given */
#define MW_TRIG_KIND_LEN 32 /* diagnosis=KIND */

enum mw_trig_metric {
	MW_TM_MAPPED,
	MW_TM_COMMITTED,
	MW_TM_RESIDENT,
	MW_TM_COUNT
};

enum mw_trig_kind {
	MW_TRIG_GROWTH,	   /* metric grew by bytes within window_ns */
	MW_TRIG_LEVEL,	   /* metric >= bytes */
	MW_TRIG_ARENAS,	   /* arenas >= n (0: glibc's limit) */
	MW_TRIG_CGROUP,	   /* cgroup usage >= pct of its limit */
	MW_TRIG_DIAGNOSIS, /* a diagnosis (of kind, when given) holds */
};

struct mw_trigger {
	enum mw_trig_kind kind;
	enum mw_trig_metric metric;
	uint64_t bytes;
	uint64_t window_ns;
	uint32_t n;		     /* ARENAS: 0 = the limit in force */
	double pct;		     /* CGROUP */
	char diag[MW_TRIG_KIND_LEN]; /* DIAGNOSIS: "" = any */
	char spec[MW_TRIG_SPEC_LEN];
};

/* "10m", "30s", "500ms", "2h", "45" (seconds), a millisecond to 31 years: 0, or -1. */
int mw_trig_parse_duration(const char *s, uint64_t *ns);
/* Parse one specification. 0, or -1 with one line in err (naming --trigger). */
int mw_trigger_parse(const char *s, struct mw_trigger *t, char *err, size_t errsz);

/* What the triggers need to know about a process, sampled at once. A value the caller could
 * not read is marked unknown: a trigger on it never fires (no guess). */
struct mw_trig_sample {
	uint64_t ts_ns; /* any monotonic clock, the same for every sample */
	uint64_t v[MW_TM_COUNT];
	bool have[MW_TM_COUNT];
	int narenas;	 /* besides the main arena; < 0: unknown */
	int arena_limit; /* glibc's limit in force (arenas, main included); 0: unknown */
	uint64_t cg_usage, cg_limit; /* cg_limit 0: no limit, or unknown */
	const char *const *diags;    /* kinds of the diagnoses that hold now */
	size_t ndiags;
};

/* One process's state for each trigger (zeroed = fresh). */
struct mw_trig_proc {
	struct mw_trig_state {
		struct {
			uint64_t ts_ns, v;
		} hist[MW_TRIG_HISTORY]; /* GROWTH: a ring, head = the oldest */
		uint32_t nhist, head;
		bool fired;	  /* levels: past the level at the last sample */
		bool have_base;	  /* GROWTH: fired within the window: measured from base */
		uint64_t base;	  /* GROWTH: the value at that firing */
		uint64_t base_ts; /* and its time */
	} st[MW_TRIG_MAX];
};

/* A trigger that fired: which one, the value that fired it and from where. */
struct mw_trig_fire {
	size_t trigger;	     /* index into the caller's array */
	uint64_t value;	     /* the metric now; ARENAS: arenas; CGROUP: usage */
	uint64_t from;	     /* GROWTH: the value growth is measured from; ARENAS: the level;
			 * CGROUP: the limit; LEVEL: the level */
	uint64_t from_ts_ns; /* GROWTH: when `from` was sampled */
};

/*
 * Add a sample of p and evaluate the n triggers on it. Writes at most max firings to out and
 * returns how many fired (the others are evaluated all the same).
 */
size_t mw_trig_eval(const struct mw_trigger *t, size_t n, struct mw_trig_proc *p,
		    const struct mw_trig_sample *s, struct mw_trig_fire *out, size_t max);

/* Forget every trigger's state (a SIGHUP changed the set). */
void mw_trig_reset(struct mw_trig_proc *p);

/* The metric's name as in a specification ("mapped", ...). */
const char *mw_trig_metric_name(enum mw_trig_metric m);

#endif /* MW_TRIGGER_H */
