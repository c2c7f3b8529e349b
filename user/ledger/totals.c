// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A process's size now. See totals.h. */
#include <string.h>
#include "totals.h"

void mw_process_totals(const struct mw_process *p, struct mw_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < p->regions.n; i++) {
		const struct mw_region *r = &p->regions.v[i];
		unsigned c = r->cls < MW_CLASS_COUNT ? r->cls : MW_CLASS_ANON;
		uint64_t len = r->end - r->start;

		t->mapped_by[c] += len;
		t->mapped += len;
		if (r->prot) {
			t->committed_by[c] += len;
			t->committed += len;
		}
	}
}
