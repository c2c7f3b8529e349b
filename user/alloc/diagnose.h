/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Diagnoses at summary time: only those that apply, each with its evidence
 * and the remedies as options. Pure. */
#ifndef MW_DIAGNOSE_H
#define MW_DIAGNOSE_H

#include "ledger/model.h"

/*
 * Below this share of its committed bytes resident (1/4), memory that grew is address space,
 * not memory: the growth diagnoses name it apart (arena_grown_not_resident,
 * main_heap_not_resident) rather than as memory kept.
 */
#define MW_DIAG_RESIDENT_DIVISOR 4

struct mw_diag {
	const char *kind;  /* "arenas_at_limit", "threads_share_arenas", ... */
	char message[320]; /* what was seen, with numbers */
	char remedy[256];  /* options, not orders */
	/* The memory the diagnosis is about (has_bytes): its mapped and committed bytes, and
	 * its resident bytes where known (smaps at a report, see mw_diag_resident). */
	bool has_bytes;
	uint64_t mapped, committed;
	bool resident_known;
	bool resident_earlier; /* read at an earlier report: the process has ended since */
	uint64_t resident;
	uint64_t resident_ts_ns; /* the report the resident bytes were read at */
};

/* arena_limit: glibc's limit for the process (0 = unknown). Returns how many were written. */
int mw_diagnose(const struct mw_process *p, int arena_limit, struct mw_diag *out, int max);

/*
 * The resident bytes the diagnoses use: the reading of this report; where the process has
 * ended (nothing left to read), the last one made while it lived (*earlier set); NULL where
 * none is known (smaps not read: too many mappings, no report while it lived, a recording
 * without it): then the diagnoses say so and judge by mapped bytes alone.
 */
const struct mw_resident_map *mw_diag_resident(const struct mw_process *p, bool *earlier);

#endif /* MW_DIAGNOSE_H */
