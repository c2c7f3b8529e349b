// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The heap walk after an attach: read, walk, track, record. See mwalk.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include "base/clock.h"
#include "base/errmsg.h"
#include "glibc_layout.h"
#include "heapwalk.h"
#include "mledger.h"
#include "mprobe.h"
#include "mwalk.h"

/* A heap larger than this is given up (a walk reads about the heap's size). */
#define MAX_HEAP_BYTES (256ULL << 20)
/* The event loop waits meanwhile: the rings hold what comes in. */
#define MAX_WALK_NS (500ULL * 1000000)

struct mw_mwalk {
	struct mw_glibc_cache *cache;
	uint32_t max_blocks;
	bool said_debuginfo; /* the missing-debuginfo line is said once */
};

struct mw_mwalk *mw_mwalk_new(uint32_t max_blocks)
{
	struct mw_mwalk *w = calloc(1, sizeof(*w));

	if (w && !(w->cache = mw_glibc_cache_new())) {
		free(w);
		return NULL;
	}
	if (w)
		w->max_blocks = max_blocks;
	return w;
}

void mw_mwalk_free(struct mw_mwalk *w)
{
	if (!w)
		return;
	mw_glibc_cache_free(w->cache);
	free(w);
}

static size_t read_mem(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv((pid_t)(uintptr_t)ctx, &l, 1, &r, 1, 0);

	return n > 0 ? (size_t)n : 0;
}

static uint64_t mono_now(void)
{
	return mw_now_ns(CLOCK_MONOTONIC);
}

/* The kernel's table gets each block; when it is full, the rest are not known. */
static void track(const struct mw_mprobe *probe, uint32_t pid, uint64_t now, struct mw_heapwalk *hw)
{
	for (size_t i = 0; i < hw->nblocks; i++) {
		int err = mw_mprobe_track(probe, pid, hw->blocks[i].addr, hw->blocks[i].size - 8,
					  now);

		if (err && err != -EEXIST) {
			hw->nblocks = i;
			hw->status = MW_HEAPWALK_TABLE_FULL;
			return;
		}
	}
}

static void say(struct mw_mwalk *w, uint32_t pid, const struct mw_heapwalk *hw, uint64_t ns,
		bool verbose)
{
	if (hw->status == MW_HEAPWALK_NO_DEBUGINFO) {
		if (!w->said_debuginfo)
			mw_p_err(
				"pid %u: glibc's debuginfo (libc6-dbg) not found: blocks made before "
				"the attach are unknown, retention is not complete",
				pid);
		w->said_debuginfo = true;
	} else if (hw->status) {
		mw_p_err("pid %u: heap walk gave up (%s): blocks made before the attach are not "
			 "all known, retention is not complete",
			 pid, mw_heapwalk_reason(hw->status));
	}
	for (size_t i = 0; i < hw->nspans; i++)
		if (hw->spans[i].status)
			mw_p_err("pid %u: heap walk gave up on the heap at 0x%" PRIx64 " (%s): its "
				 "retention is not complete",
				 pid, (uint64_t)hw->spans[i].start,
				 mw_heapwalk_reason(hw->spans[i].status));
	if (verbose)
		mw_p_err("pid %u: heap walk: %zu blocks in use in %zu heaps, %" PRIu64
			 " bytes read in %.1f ms",
			 pid, hw->nblocks, hw->nspans, hw->bytes_read, (double)ns / 1e6);
}

void mw_mwalk_pid(struct mw_mwalk *w, const struct mw_mprobe *probe, struct mw_mledger *ml,
		  uint32_t pid, const char *allocator, bool verbose)
{
	struct mw_heapwalk_limits lim = {
		.max_heap_bytes = MAX_HEAP_BYTES,
		.max_ns = MAX_WALK_NS,
		.max_blocks = w->max_blocks,
	};
	struct mw_heapwalk hw = { 0 };
	struct mw_glibc_layout l;
	uint64_t t0 = mono_now();
	struct mw_mheap_entry e = { .pid = pid };
	int st = mw_glibc_layout_of(w->cache, pid, allocator, &l);

	/* Its libc is not mapped yet (seen right after exec): nothing was allocated. */
	if (st == -ENOENT)
		st = MW_HEAPWALK_OK;
	else if (st == MW_HEAPWALK_OK &&
		 mw_heapwalk_run(&l, &lim, read_mem, (void *)(uintptr_t)pid, mono_now, &hw) &&
		 !hw.status)
		hw.status = MW_HEAPWALK_TABLE_FULL; /* out of memory */
	else if (st)
		hw.status = (uint32_t)st;
	e.now_mono_ns = mono_now();
	track(probe, pid, e.now_mono_ns, &hw);
	e.status = hw.status;
	e.nspans = (uint32_t)hw.nspans;
	e.nblocks = (uint32_t)hw.nblocks;
	mw_mledger_heapwalk(ml, &e, hw.spans, hw.blocks);
	say(w, pid, &hw, e.now_mono_ns - t0, verbose);
	mw_heapwalk_free(&hw);
}

void mw_mwalk_prefetch(struct mw_mwalk *w, uint32_t pid)
{
	struct mw_glibc_layout l;

	(void)mw_glibc_layout_of(w->cache, pid, "libc.so.6", &l); /* any libc it maps */
}

void mw_mwalk_confirm(struct mw_mwalk *w, struct mw_mledger *ml, uint32_t pid,
		      const char *allocator, bool verbose)
{
	struct mw_heapwalk_limits lim = {
		.max_heap_bytes = MAX_HEAP_BYTES,
		.max_ns = MAX_WALK_NS,
		.max_blocks = SIZE_MAX,
	};
	struct mw_heapwalk hw = { 0 };
	struct mw_glibc_layout l;
	uint64_t t0 = mono_now();
	size_t n;

	if (mw_glibc_layout_of(w->cache, pid, allocator, &l) != MW_HEAPWALK_OK)
		return;
	/* Out of memory: the spans walked before it hold every block found in them. */
	mw_heapwalk_run(&l, &lim, read_mem, (void *)(uintptr_t)pid, mono_now, &hw);
	if (!hw.status) {
		n = mw_mledger_confirm(ml, pid, t0, hw.spans, hw.nspans, hw.blocks, hw.nblocks);
		if (verbose)
			mw_p_err(
				"pid %u: heap walk for blocks of unknown fate: %zu resolved, %" PRIu64
				" bytes read in %.1f ms",
				pid, n, hw.bytes_read, (double)(mono_now() - t0) / 1e6);
	}
	mw_heapwalk_free(&hw);
}
