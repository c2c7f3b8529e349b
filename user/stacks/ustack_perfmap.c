// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The perf map convention: "START SIZE NAME" lines -> a sorted table. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "base/grow.h"
#include "ustack_perfmap.h"

void mw_perfmap_clear(struct mw_perfmap *m)
{
	free(m->syms);
	free(m->names);
	memset(m, 0, sizeof(*m));
}

/* A hex number with an optional 0x, ending at a space. */
static bool hex_field(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	int digits = 0;

	*v = 0;
	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; s < end && *s != ' '; s++, digits++) {
		int d = *s >= '0' && *s <= '9'	 ? *s - '0'
			: *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
			: *s >= 'A' && *s <= 'F' ? *s - 'A' + 10
						 : -1;

		if (d < 0 || digits == 16)
			return false;
		*v = *v << 4 | (uint64_t)d;
	}
	if (!digits || s == end)
		return false;
	*p = s + 1;
	return true;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct mw_jitsym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

int mw_perfmap_parse(const char *text, size_t len, struct mw_perfmap *out)
{
	size_t cap = 0, ncap = 0;
	uint32_t line = 0;

	memset(out, 0, sizeof(*out));
	for (const char *s = text, *end = text + len; s < end && out->n < MW_PERFMAP_MAX_SYMS;) {
		const char *eol = memchr(s, '\n', (size_t)(end - s)), *p = s;
		uint64_t start, size;
		size_t nlen;

		if (!eol)
			break; /* a line still being written */
		line++;
		s = eol + 1;
		if (!hex_field(&p, eol, &start) || !hex_field(&p, eol, &size) || !size ||
		    p >= eol || start + size < start)
			continue;
		nlen = (size_t)(eol - p);
		if (mw_grow(&out->syms, out->n, &cap, sizeof(*out->syms), 1024) ||
		    mw_grow_to(&out->names, out->names_len + nlen + 1, &ncap, 1, 65536)) {
			mw_perfmap_clear(out);
			return -ENOMEM;
		}
		out->syms[out->n++] = (struct mw_jitsym){
			.start = start, .size = size, .line = line, .name = (uint32_t)out->names_len
		};
		memcpy(out->names + out->names_len, p, nlen);
		out->names[out->names_len + nlen] = '\0';
		out->names_len += nlen + 1;
		if (size > out->max_size)
			out->max_size = size;
	}
	if (out->n)
		qsort(out->syms, out->n, sizeof(*out->syms), cmp_sym);
	return 0;
}

const char *mw_perfmap_lookup(const struct mw_perfmap *m, uint64_t addr)
{
	const struct mw_jitsym *best = NULL;
	size_t lo = 0, hi = m->n;

	/* The first symbol starting above addr; those before it may cover addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->syms[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0 && addr - m->syms[lo].start < m->max_size) {
		const struct mw_jitsym *s = &m->syms[lo];

		if (addr - s->start < s->size && (!best || s->line > best->line))
			best = s;
	}
	return best ? m->names + best->name : NULL;
}
