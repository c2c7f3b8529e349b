/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Diagnoses at summary time: only those that apply, each with its evidence
 * and the remedies as options. Pure. */
#ifndef MW_DIAGNOSE_H
#define MW_DIAGNOSE_H

#include "ledger/model.h"

struct mw_diag {
	const char *kind;  /* "arenas_at_limit", "threads_share_arenas", ... */
	char message[256]; /* what was seen, with numbers */
	char remedy[256];  /* options, not orders */
};

/* arena_limit: glibc's limit for the process (0 = unknown). Returns how many were written. */
int mw_diagnose(const struct mw_process *p, int arena_limit, struct mw_diag *out, int max);

#endif /* MW_DIAGNOSE_H */
