// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Text and NDJSON output of the allocator probes. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ledger/format.h"
#include "base/json.h"
#include "base/text.h"
#include "leak_output.h"
#include "mprobe.h"

static const char *json_fn_key(int fn)
{
	static const char *const keys[MW_MFN_COUNT] = {
		"malloc",	 "calloc",   "realloc", "reallocarray", "posix_memalign",
		"aligned_alloc", "memalign", "valloc",	"pvalloc",	"new",
		"new_array",	 "free",     "delete",	"delete_array",
	};

	return keys[fn];
}

void mw_out_malloc_sum(struct mw_output *o, uint64_t ts_ns, const struct mw_malloc_sum *m)
{
	char b1[32], b2[32], qcomm[MW_TEXT_ROOM(MW_COMM_LEN)], qalloc[MW_TEXT_ROOM(1024)];
	struct mw_json j;

	if (o->json) {
		mw_json_begin(&j, o->f);
		mw_json_str(&j, "type", "malloc_summary");
		mw_json_uint(&j, "ts_ns", ts_ns);
		mw_json_uint(&j, "pid", m->pid);
		mw_json_strn(&j, "comm", m->comm, 16);
		mw_json_str(&j, "allocator", m->allocator);
		if (m->sampler) {
			/* The in-process sampler reports samples only: calls are not known. */
			mw_json_null(&j, "calls");
			mw_json_null(&j, "bytes");
			mw_json_str(&j, "sampler_path", m->sampler_path);
		} else {
			mw_json_obj_begin(&j, "calls");
			for (int i = 0; i < MW_MFN_COUNT; i++)
				if (m->c.calls[i])
					mw_json_uint(&j, json_fn_key(i), m->c.calls[i]);
			mw_json_obj_end(&j);
			mw_json_obj_begin(&j, "bytes");
			for (int i = 0; i < MW_MFN_COUNT; i++)
				if (m->c.calls[i])
					mw_json_uint(&j, json_fn_key(i), m->c.bytes[i]);
			mw_json_obj_end(&j);
		}
		mw_json_str(&j, "sampling", m->sampling);
		mw_json_uint(&j, "traced", m->c.sampled);
		mw_json_bool(&j, "estimated", m->estimated);
		mw_json_uint(&j, "estimated_bytes", (uint64_t)llround(m->est_bytes));
		mw_json_uint(&j, "estimated_count", (uint64_t)llround(m->est_count));
		mw_json_uint(&j, "outstanding_bytes", (uint64_t)llround(m->out_bytes));
		mw_json_uint(&j, "outstanding_count", (uint64_t)llround(m->out_count));
		mw_json_uint(&j, "found_bytes", m->found_bytes);
		mw_json_uint(&j, "found_count", m->found_count);
		mw_json_uint(&j, "unknown_frees", m->c.unknown_frees);
		mw_json_uint(&j, "not_tracked", m->c.live_full);
		mw_json_uint(&j, "dropped", m->c.rb_drops);
		mw_json_uint(&j, "unwind_failed", m->unwind_failed);
		mw_json_uint(&j, "threads_full", m->st.threads_full);
		mw_json_uint(&j, "stack_short", m->c.stack_short);
		mw_json_uint(&j, "stacks_full", m->stacks_full);
		mw_json_end(&j);
		return;
	}
	/* The comm and the allocator's file name are the target's choice: escaped. */
	fprintf(o->f, "\nallocations of pid %u (%s), allocator %s\n", m->pid,
		mw_text_quote(qcomm, sizeof(qcomm), m->comm, sizeof(m->comm)),
		m->allocator && *m->allocator
			? mw_text_quote(qalloc, sizeof(qalloc), m->allocator, 1024)
			: "(none found)");
	if (m->sampler)
		fprintf(o->f,
			"  calls not counted: the in-process sampler reports samples only (%s)\n",
			m->sampler_path && !strcmp(m->sampler_path, "ring") ? "read from its ring"
									    : "through its probe");
	else
		fprintf(o->f, "  %-18s %12s %14s\n", "FUNCTION", "CALLS", "BYTES");
	for (int i = 0; i < MW_MFN_COUNT && !m->sampler; i++)
		if (m->c.calls[i])
			fprintf(o->f, "  %-18s %12llu %14llu\n", mw_mfn_name(i),
				(unsigned long long)m->c.calls[i],
				(unsigned long long)m->c.bytes[i]);
	mw_fmt_size(b1, sizeof(b1), (int64_t)llround(m->out_bytes));
	fprintf(o->f, "  outstanding: %s%.0f blocks, %s", m->estimated ? "~" : "", m->out_count,
		b1);
	if (m->found_count) {
		mw_fmt_size(b2, sizeof(b2), (int64_t)m->found_bytes);
		fprintf(o->f, " (and %" PRIu64 " blocks, %s, made before the attach)",
			m->found_count, b2);
	}
	fprintf(o->f, "; unknown frees %llu, not tracked %llu, dropped %llu\n",
		(unsigned long long)m->c.unknown_frees, (unsigned long long)m->c.live_full,
		(unsigned long long)m->c.rb_drops);
	if (m->estimated) {
		mw_fmt_size(b2, sizeof(b2), (int64_t)llround(m->est_bytes));
		fprintf(o->f,
			"  sampling %s: %llu traced; estimated total %.0f allocations, "
			"%s (estimates)\n",
			m->sampling, (unsigned long long)m->c.sampled, m->est_count, b2);
	}
}

static void json_stack(struct mw_json *j, const char *key, const struct mw_stack_ent *s)
{
	mw_json_arr_begin(j, key);
	for (uint32_t k = 0; k < s->n; k++) {
		const struct mw_frame *f = s->frames ? &s->frames[k] : NULL;

		mw_json_obj_begin(j, NULL);
		mw_json_addr(j, "addr", s->ips[k]);
		if (f && f->func)
			mw_json_str(j, "func", f->func);
		if (f && f->file)
			mw_json_str(j, "file", f->file);
		if (f && f->file && f->line > 0)
			mw_json_int(j, "line", f->line);
		if (f && f->module)
			mw_json_str(j, "module", f->module);
		if (f && f->rel_kind == MW_REL_VADDR)
			mw_json_addr(j, "module_addr", f->rel);
		else if (f && f->rel_kind == MW_REL_FILE)
			mw_json_addr(j, "module_offset", f->rel);
		if (f && f->build_id)
			mw_json_str(j, "build_id", f->build_id);
		if (f && f->jit)
			mw_json_bool(j, "jit", true);
		mw_json_obj_end(j);
	}
	mw_json_arr_end(j);
}

static void text_stack(FILE *f, const struct mw_stack_ent *s, int max)
{
	char name[256], qname[MW_TEXT_ROOM(256)], qfile[MW_TEXT_ROOM(1024)];

	if (!s->n)
		fprintf(f, "        [stack unknown]\n");
	for (uint32_t k = 0; k < s->n && (int)k < max; k++) {
		const struct mw_frame *fr = s->frames ? &s->frames[k] : NULL;

		/* Symbol and file names come from the target's own files: escaped. */
		mw_frame_name(fr, s->ips[k], name, sizeof(name));
		mw_text_quote(qname, sizeof(qname), name, sizeof(name));
		if (fr && fr->file && fr->line > 0)
			fprintf(f, "        %s  %s:%d\n", qname,
				mw_text_quote(qfile, sizeof(qfile), fr->file, 1024), fr->line);
		else
			fprintf(f, "        %s\n", qname);
	}
	if (s->n > (uint32_t)max)
		fprintf(f, "        ... %u more frames\n", s->n - (uint32_t)max);
}

/* A scaled estimate (s: its stack, else NULL) says how many intervals it stands on: a stack
 * seen in one or two is a guess. */
static void text_row(FILE *f, int rank, const struct mw_leak_row *r, uint64_t now_mono,
		     bool estimated, const struct mw_stack_ent *s)
{
	char b[32], g[32];

	mw_fmt_size(b, sizeof(b), (int64_t)llround(r->bytes));
	mw_fmt_size(g, sizeof(g), (int64_t)llround(r->growth));
	fprintf(f, "  #%-2d %s%s in %s%.0f blocks, oldest %.2f s, growth %s%s", rank,
		estimated ? "~" : "", b, estimated ? "~" : "", r->count,
		(double)(now_mono - r->oldest_ns) / 1e9, r->growth >= 0 ? "+" : "", g);
	if (s)
		fprintf(f, ", seen in %u interval%s", s->intervals, s->intervals == 1 ? "" : "s");
	fputc('\n', f);
}

void mw_out_leaks(struct mw_output *o, uint64_t ts_ns, const struct mw_leak *l,
		  const struct mw_leak_row *by_bytes, const struct mw_leak_row *by_count, size_t n,
		  double min_age_s, uint64_t now_mono, bool estimated, bool scaled)
{
	struct mw_json j;

	if (o->json) {
		/* The top stacks by bytes, then those of the top by count not among them. */
		for (size_t i = 0; i < 2 * MW_LEAK_TOP_JSON; i++) {
			bool by_bytes_part = i < MW_LEAK_TOP_JSON, dup = false;
			size_t at = by_bytes_part ? i : i - MW_LEAK_TOP_JSON;
			const struct mw_leak_row *r;

			if (at >= n)
				continue;
			r = by_bytes_part ? &by_bytes[at] : &by_count[at];
			for (size_t k = 0; !by_bytes_part && k < MW_LEAK_TOP_JSON && k < n; k++)
				dup |= by_bytes[k].stack == r->stack;
			if (dup)
				continue;
			mw_json_begin(&j, o->f);
			mw_json_str(&j, "type", "leak");
			mw_json_uint(&j, "ts_ns", ts_ns);
			mw_json_uint(&j, "pid", r->pid);
			mw_json_uint(&j, "bytes", (uint64_t)llround(r->bytes));
			mw_json_uint(&j, "count", (uint64_t)llround(r->count));
			mw_json_uint(&j, "oldest_ns", now_mono - r->oldest_ns);
			mw_json_int(&j, "growth", (int64_t)llround(r->growth));
			mw_json_uint(&j, "traced_bytes", (uint64_t)llround(r->traced_bytes));
			mw_json_uint(&j, "traced_count", (uint64_t)llround(r->traced_count));
			mw_json_bool(&j, "estimated", estimated);
			if (scaled)
				mw_json_uint(&j, "intervals", l->stacks[r->stack].intervals);
			json_stack(&j, "stack", &l->stacks[r->stack]);
			mw_json_end(&j);
		}
		return;
	}
	if (!n) {
		fprintf(o->f, "  no outstanding allocations older than %g s\n", min_age_s);
		return;
	}
	fprintf(o->f, "  top call stacks by outstanding bytes (blocks older than %g s):\n",
		min_age_s);
	for (size_t i = 0; i < n && i < MW_LEAK_TOP_TEXT; i++) {
		text_row(o->f, (int)i + 1, &by_bytes[i], now_mono, estimated,
			 scaled ? &l->stacks[by_bytes[i].stack] : NULL);
		text_stack(o->f, &l->stacks[by_bytes[i].stack], 8);
	}
	fprintf(o->f, "  top call stacks by outstanding blocks:\n");
	for (size_t i = 0; i < n && i < MW_LEAK_TOP_TEXT; i++) {
		text_row(o->f, (int)i + 1, &by_count[i], now_mono, estimated,
			 scaled ? &l->stacks[by_count[i].stack] : NULL);
		text_stack(o->f, &l->stacks[by_count[i].stack], 2);
	}
}

void mw_out_retention(struct mw_output *o, uint64_t ts_ns, uint32_t pid, const struct mw_leak *l,
		      const struct mw_retention *r, size_t n, bool estimated)
{
	char a[32], b[32], c[32], arena[16];
	struct mw_json j;

	for (size_t i = 0; i < n; i++) {
		const struct mw_retention *x = &r[i];
		double ratio = x->committed ? (double)x->free_kept / (double)x->committed : 0;

		if (o->json) {
			mw_json_begin(&j, o->f);
			mw_json_str(&j, "type", "retention");
			mw_json_uint(&j, "ts_ns", ts_ns);
			mw_json_uint(&j, "pid", pid);
			if (x->arena == MW_ARENA_MAIN)
				mw_json_str(&j, "arena", "main");
			else
				mw_json_int(&j, "arena", x->arena);
			mw_json_uint(&j, "live", x->live);
			mw_json_uint(&j, "committed", x->committed);
			mw_json_uint(&j, "overhead", x->overhead);
			/* Not every live block known: the free space is not. */
			if (!x->incomplete) {
				mw_json_uint(&j, "free_kept", x->free_kept);
				mw_json_uint(&j, "ratio_pct", (uint64_t)llround(ratio * 100));
			}
			mw_json_uint(&j, "blocks", x->blocks);
			mw_json_bool(&j, "estimated", estimated);
			mw_json_bool(&j, "complete", !x->incomplete);
			if (x->incomplete)
				mw_json_str(&j, "incomplete", x->incomplete);
			if (x->pinned && !x->incomplete) {
				mw_json_addr(&j, "pinned_addr", x->pinned_addr);
				mw_json_uint(&j, "pinned_size", x->pinned_size);
				mw_json_uint(&j, "pinned_free_below", x->pinned_free_below);
				json_stack(&j, "pinned_by", &l->stacks[x->pinned_stack]);
			}
			mw_json_end(&j);
			continue;
		}
		if (i == 0)
			fprintf(o->f,
				"  retention (glibc heaps: live chunks vs committed bytes):\n"
				"  %-8s %12s %12s %12s %6s\n",
				"ARENA", "LIVE", "COMMITTED", "FREE KEPT", "RATIO");
		if (x->arena == MW_ARENA_MAIN)
			snprintf(arena, sizeof(arena), "main");
		else
			snprintf(arena, sizeof(arena), "%d", x->arena);
		mw_fmt_size(a, sizeof(a), (int64_t)x->live);
		mw_fmt_size(b, sizeof(b), (int64_t)x->committed);
		mw_fmt_size(c, sizeof(c), (int64_t)x->free_kept);
		if (x->incomplete)
			fprintf(o->f, "  %-8s %12s %12s %12s %6s  (not complete: %s)\n", arena, a,
				b, "?", "?", x->incomplete);
		else
			fprintf(o->f, "  %-8s %12s %12s %12s %5.0f%%\n", arena, a, b, c,
				ratio * 100);
		if (x->pinned && !x->incomplete) {
			mw_fmt_size(a, sizeof(a), (int64_t)x->pinned_free_below);
			fprintf(o->f,
				"    top pinned: %" PRIu64 "-byte block at 0x%" PRIx64
				" keeps %s below it untrimmable; allocated at:\n",
				x->pinned_size, x->pinned_addr, a);
			text_stack(o->f, &l->stacks[x->pinned_stack], 8);
		}
	}
}

void mw_out_malloc_guard(struct mw_output *o, uint64_t ts_ns, uint64_t rate, uint64_t limit,
			 uint64_t off_ns)
{
	struct mw_json j;

	if (!o->json) {
		fprintf(o->f,
			"memwatch: allocator probes hit %" PRIu64
			" times in a second (limit %" PRIu64
			"): detached for %.1f s; the syscall view continues\n",
			rate, limit, (double)off_ns / 1e9);
		return;
	}
	mw_json_begin(&j, o->f);
	mw_json_str(&j, "type", "malloc_guard");
	mw_json_uint(&j, "ts_ns", ts_ns);
	mw_json_uint(&j, "rate", rate);
	mw_json_uint(&j, "limit", limit);
	mw_json_uint(&j, "off_ns", off_ns);
	mw_json_end(&j);
}

void mw_out_malloc_budget(struct mw_output *o, uint64_t ts_ns, const struct mw_budget_out *b)
{
	const struct mw_mbudget_entry *e = b->e;
	double own = (double)e->cpu_ns - e->probe_ns, share, duty;
	char u[32];
	struct mw_json j;

	own = own > 0 ? own : 0;
	share = own > 0 ? 100 * e->probe_ns / own : 0;
	duty = e->wall_ns ? 100.0 * (double)e->attached_ns / (double)e->wall_ns : 100;
	if (o->json) {
		mw_json_begin(&j, o->f);
		mw_json_str(&j, "type", "malloc_budget");
		mw_json_uint(&j, "ts_ns", ts_ns);
		mw_json_uint(&j, "pid", e->pid);
		mw_json_double(&j, "budget_pct", e->budget_pct);
		mw_json_double(&j, "share_pct", share);
		mw_json_double(&j, "duty_pct", duty);
		mw_json_bool(&j, "attached", e->attached);
		mw_json_uint(&j, "windows", e->windows);
		mw_json_uint(&j, "wall_ns", e->wall_ns);
		mw_json_uint(&j, "attached_ns", e->attached_ns);
		mw_json_uint(&j, "cpu_ns", e->cpu_ns);
		mw_json_uint(&j, "own_ns", (uint64_t)llround(own));
		mw_json_uint(&j, "probe_ns", (uint64_t)llround(e->probe_ns));
		mw_json_uint(&j, "enter_hits", e->enter_hits);
		mw_json_uint(&j, "ret_hits", e->ret_hits);
		mw_json_uint(&j, "body_ns", e->body_ns);
		mw_json_double(&j, "enter_cost_ns", e->enter_cost_ns);
		mw_json_double(&j, "ret_cost_ns", e->ret_cost_ns);
		mw_json_bool(&j, "calibrated", e->calibrated);
		mw_json_uint(&j, "io_calls", e->io_calls);
		mw_json_uint(&j, "io_calls_attached", e->io_calls_attached);
		mw_json_uint(&j, "reads", e->reads);
		mw_json_uint(&j, "reads_attached", e->reads_attached);
		mw_json_uint(&j, "fate_unknown_bytes", (uint64_t)llround(b->unknown_bytes));
		mw_json_uint(&j, "fate_unknown_count", (uint64_t)llround(b->unknown_count));
		mw_json_uint(&j, "late_free_bytes", (uint64_t)llround(b->late_bytes));
		mw_json_end(&j);
		return;
	}
	mw_fmt_size(u, sizeof(u), (int64_t)llround(b->unknown_bytes));
	if (e->budget_pct > 0)
		fprintf(o->f, "  overhead budget %g%%: the probes cost %.1f%% of its own CPU time",
			e->budget_pct, share);
	else
		fprintf(o->f, "  overhead (no budget): the probes cost %.1f%% of its own CPU time",
			share);
	fprintf(o->f, " (%.3f of %.3f s, %s costs); attached %.1f%% of the time, %u windows\n",
		e->probe_ns / 1e9, own / 1e9, e->calibrated ? "measured" : "default", duty,
		e->windows);
	if (e->dark_ns)
		fprintf(o->f,
			"  allocations and frees made while detached were not seen: %.0f blocks (%s) "
			"allocated before a detached window have an unknown fate (not leaks)\n",
			b->unknown_count, u);
}

void mw_out_fate_unknown(struct mw_output *o, uint64_t ts_ns, const struct mw_leak *l,
			 const struct mw_leak_row *rows, size_t n, uint64_t now_mono,
			 bool estimated, bool scaled)
{
	struct mw_json j;

	for (size_t i = 0; i < n && i < (o->json ? MW_LEAK_TOP_JSON : MW_LEAK_TOP_TEXT); i++) {
		const struct mw_leak_row *r = &rows[i];
		const struct mw_stack_ent *s = &l->stacks[r->stack];

		if (o->json) {
			mw_json_begin(&j, o->f);
			mw_json_str(&j, "type", "fate_unknown");
			mw_json_uint(&j, "ts_ns", ts_ns);
			mw_json_uint(&j, "pid", r->pid);
			mw_json_uint(&j, "bytes", (uint64_t)llround(r->bytes));
			mw_json_uint(&j, "count", (uint64_t)llround(r->count));
			mw_json_uint(&j, "oldest_ns", now_mono - r->oldest_ns);
			mw_json_uint(&j, "late_free_bytes", (uint64_t)llround(s->late_bytes));
			mw_json_uint(&j, "late_free_count", (uint64_t)llround(s->late_count));
			mw_json_uint(&j, "traced_bytes", (uint64_t)llround(r->traced_bytes));
			mw_json_uint(&j, "traced_count", (uint64_t)llround(r->traced_count));
			mw_json_bool(&j, "estimated", estimated);
			if (scaled)
				mw_json_uint(&j, "intervals", s->intervals);
			json_stack(&j, "stack", s);
			mw_json_end(&j);
			continue;
		}
		if (i == 0)
			fprintf(o->f, "  blocks of unknown fate by call stack (allocated before a "
				      "detached window, no free seen; not leaks):\n");
		text_row(o->f, (int)i + 1, r, now_mono, estimated, scaled ? s : NULL);
		text_stack(o->f, s, 8);
	}
}
