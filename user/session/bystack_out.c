// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The per-stack ledger's reports: "mapped_by_stack" objects, a text table, --folded. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "base/json.h"
#include "base/text.h"
#include "ledger/format.h"
#include "bystack.h"

static void json_row(FILE *out, uint64_t ts_ns, uint32_t pid, const struct mw_bystack_row *r,
		     const struct mw_bystack_stack *s, uint64_t others)
{
	struct mw_json j;

	mw_json_begin(&j, out);
	mw_json_str(&j, "type", "mapped_by_stack");
	mw_json_uint(&j, "ts_ns", ts_ns);
	mw_json_uint(&j, "pid", pid);
	mw_json_uint(&j, "mapped", r->mapped);
	mw_json_uint(&j, "committed", r->committed);
	mw_json_uint(&j, "count", r->count);
	if (s)
		mw_json_sframes(&j, s->f, s->n); /* the unknown stack: an empty array */
	else
		mw_json_uint(&j, "others", others);
	mw_json_end(&j);
}

/* "func+0x1c (module)"; "(module)" or the address where no name is known. */
static void text_frame(FILE *out, const struct mw_sframe *f)
{
	char q[MW_TEXT_ROOM(256)], m[MW_TEXT_ROOM(1024)];

	fputs("        ", out);
	if (f->func)
		fprintf(out, "%s+%#" PRIx64 " ", mw_text_quote(q, sizeof(q), f->func, 256),
			f->offset);
	else
		fprintf(out, "%#" PRIx64 " ", f->addr);
	fprintf(out, "(%s)\n", f->module ? mw_text_quote(m, sizeof(m), f->module, 1024) : "?");
}

void mw_out_bystack(struct mw_output *o, uint64_t ts_ns, const struct mw_bystack *b, uint32_t pid,
		    const struct mw_bystack_row *rows, size_t n)
{
	size_t top = o->json ? MW_BYSTACK_TOP_JSON : MW_BYSTACK_TOP_TEXT;
	struct mw_bystack_row rest = { 0 };
	char a[32], c[32];

	for (size_t i = top; i < n; i++) {
		rest.mapped += rows[i].mapped;
		rest.committed += rows[i].committed;
		rest.count += rows[i].count;
	}
	if (o->json) {
		for (size_t i = 0; i < n && i < top; i++)
			json_row(o->f, ts_ns, pid, &rows[i], &b->stacks[rows[i].stack], 0);
		if (n > top)
			json_row(o->f, ts_ns, pid, &rest, NULL, n - top);
		return;
	}
	if (!n)
		return;
	fprintf(o->f,
		"  mapped by call stack (bytes still mapped, by the calls that made them):\n");
	for (size_t i = 0; i < n && i < top; i++) {
		const struct mw_bystack_stack *s = &b->stacks[rows[i].stack];

		mw_fmt_size(a, sizeof(a), (int64_t)rows[i].mapped);
		mw_fmt_size(c, sizeof(c), (int64_t)rows[i].committed);
		fprintf(o->f, "  #%-2zu %s mapped, %s committed, in %" PRIu64 " call%s\n", i + 1, a,
			c, rows[i].count, rows[i].count == 1 ? "" : "s");
		if (!s->n)
			fprintf(o->f, "        [stack unknown]\n");
		for (uint32_t k = 0; k < s->n && k < 8; k++)
			text_frame(o->f, &s->f[k]);
		if (s->n > 8)
			fprintf(o->f, "        ... %u more frames\n", s->n - 8);
	}
	if (n > top) {
		mw_fmt_size(a, sizeof(a), (int64_t)rest.mapped);
		mw_fmt_size(c, sizeof(c), (int64_t)rest.committed);
		fprintf(o->f,
			"  and %zu more stacks: %s mapped, %s committed, in %" PRIu64 " calls\n",
			n - top, a, c, rest.count);
	}
}

/* A frame's name in the folded output: its function, else its file's name, else where. */
static void folded_name(const struct mw_sframe *f, char *buf, size_t sz)
{
	const char *base = f->module ? strrchr(f->module, '/') : NULL;

	if (f->func)
		snprintf(buf, sz, "%s", f->func);
	else if (f->module)
		snprintf(buf, sz, "[%s]", base ? base + 1 : f->module);
	else
		snprintf(buf, sz, "0x%" PRIx64, f->addr);
}

void mw_bystack_folded(FILE *f, const struct mw_bystack *b, const struct mw_bystack_row *rows,
		       size_t n)
{
	char name[256];

	for (size_t i = 0; i < n; i++) {
		const struct mw_bystack_stack *s = &b->stacks[rows[i].stack];

		if (!s->n)
			fputs("[unknown]", f);
		for (uint32_t k = s->n; k-- > 0;) {
			folded_name(&s->f[k], name, sizeof(name));
			mw_text_folded_frame(f, name, sizeof(name), k + 1 == s->n);
		}
		fprintf(f, " %" PRIu64 "\n", rows[i].mapped);
	}
}
