// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The /proc parsers, on text a process (its mapping names, its environment) or a hostile
 * kernel could make: maps (and the model's baseline and the allocator analysis on it, as a
 * seed would), smaps, status, stat, environ and the CPU list. The first byte picks one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "alloc/alloc.h"
#include "alloc/arena_limit.h"
#include "ledger/model.h"
#include "ledger/procfs.h"

static void maps(const char *text)
{
	struct mw_alloc_ev ev[16];
	struct mw_regions r;
	struct mw_model m;
	struct mw_process *p;
	uint64_t bytes = 0;
	char *base = NULL;

	mw_regions_init(&r);
	if (mw_maps_parse(text, &r) == 0) {
		mw_model_init(&m, 4096);
		m.alloc_ops = mw_alloc_model_ops;
		p = mw_model_process(&m, 1);
		if (p && mw_model_seed(p, &r, 0, mw_regions_bytes(&r), 0, 1) == 0) {
			p->alloc = mw_alloc_new();
			mw_alloc_seed(p->alloc, &p->regions, p->start_brk, NULL, ev, 16);
			mw_alloc_detect(p->alloc, &r, ev, 16);
			mw_model_resync(p, &r, 2);
		}
		mw_model_free(&m);
	}
	mw_regions_free(&r);
	if (mw_maps_exec_baseline(text, "/usr/bin/x", &base, &bytes) == 0)
		free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mw_rss *rss = NULL;
	struct mw_resident res = { 0 };
	const char *src;
	uint64_t v;
	uint32_t tgid;
	size_t n = 0;
	bool kthread;
	char *text;

	if (!size)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	/* NUL-terminated text, as the readers make it; environ is NUL-separated. */
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 6) {
	case 0: maps(text); break;
	case 1:
		if (mw_smaps_parse(text, &rss, &n) == 0)
			free(rss);
		break;
	case 2:
		mw_status_vmsize(text, &v);
		mw_status_kb(text, "VmStk", &v);
		mw_status_tgid(text, &tgid);
		mw_status_resident(text, &res);
		break;
	case 3:
		mw_stat_start_brk(text, &v);
		mw_stat_is_kthread(text, &kthread);
		mw_io_calls_parse(text, &v, &v); /* /proc/PID/io: its lines are as simple */
		break;
	case 4:
		mw_environ_get(text, size - 1, "LD_PRELOAD");
		mw_arena_limit(text, size - 1, 2, &src);
		break;
	case 5: mw_parse_cpu_list(text); break;
	}
	free(text);
	return 0;
}
