// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* memwatch top's rows: from a model, sampled, sorted, filtered; the sparkline. */
#include <string.h>
#include "ledger/model.h"
#include "ledger/procfs.h"
#include "view/topdata.h"
#include "unit.h"

TEST(top_sparkline)
{
	uint64_t v[4] = { 0, 7, 14, 7 };
	char out[64];

	mw_sparkline(v, 4, 6, false, out, sizeof(out));
	CHECK_EQ_STR(out, "  _=#="); /* right-aligned, newest last: min _, middle =, max # */
	mw_sparkline(v, 4, 2, false, out, sizeof(out));
	CHECK_EQ_STR(out, "#_"); /* the last two only, scaled between themselves */
	mw_sparkline(v, 1, 3, true, out, sizeof(out));
	CHECK_EQ_STR(out, "  \u2581"); /* flat: the baseline block */
	mw_sparkline(v, 4, 4, true, out, 5);
	CHECK(strlen(out) <= 4); /* never past outsz */
}

static const char maps[] = "00400000-00401000 r-xp 00000000 08:01 1 /bin/app\n"
			   "00600000-00700000 rw-p 00000000 00:00 0 \n"
			   "00700000-00800000 ---p 00000000 00:00 0 \n";

TEST(top_rows_from_the_model)
{
	struct mw_model m;
	struct mw_regions r;
	struct mw_process *p, *q;
	struct mw_thread *t;
	struct mw_top_data d;

	mw_model_init(&m, 4096);
	mw_regions_init(&r);
	CHECK_EQ_INT(mw_maps_parse(maps, &r), 0);
	p = mw_model_process(&m, 10);
	q = mw_model_process(&m, 20);
	CHECK(p && q);
	CHECK_EQ_INT(mw_model_seed(p, &r, 0, 0, 0, 0), 0);
	strcpy(p->comm, "app");
	strcpy(q->comm, "other");
	t = mw_process_thread(p, 11);
	t->counts.calls[MW_SYS_MMAP] = 5;
	t->have_kernel = true;
	mw_top_data_init(&d);
	CHECK_EQ_INT(mw_top_refresh(&d, &m), 0);
	CHECK_EQ_INT(d.n, 2);
	CHECK_EQ_INT(mw_top_sample(&d, &m, 1000000000ULL), 0);
	mw_top_sort(&d, MW_TOP_BY_MAPPED);
	CHECK_EQ_INT(d.v[0].pid, 10);
	CHECK_EQ_INT(d.v[0].mapped, 0x201000);
	CHECK_EQ_INT(d.v[0].committed, 0x101000); /* not the PROT_NONE part */
	CHECK(!d.v[0].resident_known);		  /* nobody read it */
	CHECK_EQ_INT(d.v[0].calls, 5);
	CHECK(!d.v[0].rate_known && !d.v[0].growth_known); /* one sample */
	/* A second sample: 10 more calls in half a second, and resident once it is read. */
	t->counts.calls[MW_SYS_MUNMAP] = 10;
	p->resident = (struct mw_resident){ .known = true, .anon = 4096, .file = 8192 };
	CHECK_EQ_INT(mw_top_refresh(&d, &m), 0);
	CHECK_EQ_INT(mw_top_sample(&d, &m, 1500000000ULL), 0);
	mw_top_sort(&d, MW_TOP_BY_PID);
	CHECK(d.v[0].rate_known && d.v[0].calls_rate > 19.9 && d.v[0].calls_rate < 20.1);
	CHECK(d.v[0].growth_known && d.v[0].growth == 0);
	CHECK(d.v[0].resident_known && d.v[0].resident == 12288);
	CHECK_EQ_INT(d.v[0].nhist, 2);
	CHECK(mw_top_match(&d.v[0], "ap") && mw_top_match(&d.v[1], "20") &&
	      !mw_top_match(&d.v[0], "20") && mw_top_match(&d.v[0], ""));
	mw_top_sort(&d, MW_TOP_BY_CALLS);
	CHECK_EQ_INT(d.v[0].pid, 10);
	/* A process gone from the model loses its row. */
	mw_model_forget(&m, 20);
	CHECK_EQ_INT(mw_top_refresh(&d, &m), 0);
	CHECK_EQ_INT(d.n, 1);
	mw_top_data_free(&d);
	mw_regions_free(&r);
	mw_model_free(&m);
}
