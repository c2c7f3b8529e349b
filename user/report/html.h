/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The report's page: one self-contained HTML file (inline CSS, SVG and a
 * little script; nothing fetched) from the model (data.h). Pure but for
 * writing to f.
 */
#ifndef MW_REPORT_HTML_H
#define MW_REPORT_HTML_H

#include <stdio.h>
#include "data.h"

#define MW_REP_MAX_PROCS 16   /* processes drawn in full (the largest); all are in the table */
#define MW_REP_MAX_THREADS 12 /* threads stacked per chart (the largest); the rest summed */
#define MW_REP_MAX_LANES 16   /* threads with a lane on the arena timeline */
#define MW_REP_MAX_NODES 3000 /* flame graph boxes per graph (the widest) */

/* source: what the page says it was made from (the input's name). */
void mw_rep_html(FILE *f, const struct mw_rep *r, const char *source);

#endif /* MW_REPORT_HTML_H */
