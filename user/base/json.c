// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * NDJSON writer. It writes as it goes, so a consumer reading line by line sees
 * each record whole once "}\n" is out; nothing is buffered here beyond stdio.
 */
#include <inttypes.h>
#include <math.h>
#include "json.h"
#include "text.h"
#include "utf8.h"

static void put_hex_escape(FILE *f, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };

	fwrite(esc, 1, sizeof(esc), f);
}

/* Writes the quoted, escaped text of s: up to n bytes or up to a NUL. */
static void put_string(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0; /* start of the bytes not yet written that need no escape */
	size_t i = 0;

	fputc('"', f);
	while (i < n && s[i]) {
		unsigned char c = s[i];
		const char *esc = NULL;
		size_t len;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			len = mw_utf8_len(s + i, n - i);
			if (len && mw_text_char_len(s + i, n - i)) {
				i += len;
				continue;
			}
			if (len) {
				/* Valid but a terminal control (C1, bidi, line separators): the
				 * same character as an escape, so a line shown raw stays tame. */
				char esc[8];

				fwrite(s + run, 1, i - run, f);
				snprintf(esc, sizeof(esc), "\\u%04x",
					 (unsigned)mw_utf8_cp(s + i, len));
				fputs(esc, f);
				i += len;
				run = i;
				continue;
			}
		}
		fwrite(s + run, 1, i - run, f);
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: break;
		}
		if (esc)
			fputs(esc, f);
		else
			put_hex_escape(f, c);
		i++;
		run = i;
	}
	fwrite(s + run, 1, i - run, f);
	fputc('"', f);
}

/* True while writing inside a container that was too deep and became null. */
static bool dropped(const struct mw_json *j)
{
	return j->depth > MW_JSON_MAX_DEPTH;
}

/* The separator and the key of the next member of the open container. */
static void member(struct mw_json *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->first[j->depth - 1])
			fputc(',', j->f);
		j->first[j->depth - 1] = false;
	}
	if (key) {
		put_string(j->f, key, SIZE_MAX);
		fputc(':', j->f);
	}
}

static void open_container(struct mw_json *j, const char *key, char bracket)
{
	if (dropped(j)) {
		j->depth++;
		return;
	}
	member(j, key);
	if (j->depth == MW_JSON_MAX_DEPTH) {
		fputs("null", j->f);
		j->depth++;
		return;
	}
	fputc(bracket, j->f);
	j->depth++;
	j->first[j->depth - 1] = true;
}

static void close_container(struct mw_json *j, char bracket)
{
	if (j->depth <= 0)
		return;
	/* Closing a container that was written as null writes nothing. */
	if (!dropped(j))
		fputc(bracket, j->f);
	j->depth--;
}

void mw_json_begin(struct mw_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	open_container(j, NULL, '{');
}

void mw_json_end(struct mw_json *j)
{
	/* The record ends here whatever the caller left open: the line has to
	 * end, and an unbalanced line is a bug the caller's tests will see. */
	fputs("}\n", j->f);
	j->depth = 0;
}

void mw_json_obj_begin(struct mw_json *j, const char *key)
{
	open_container(j, key, '{');
}

void mw_json_obj_end(struct mw_json *j)
{
	close_container(j, '}');
}

void mw_json_arr_begin(struct mw_json *j, const char *key)
{
	open_container(j, key, '[');
}

void mw_json_arr_end(struct mw_json *j)
{
	close_container(j, ']');
}

void mw_json_strn(struct mw_json *j, const char *key, const char *val, size_t n)
{
	if (dropped(j))
		return;
	member(j, key);
	if (val)
		put_string(j->f, val, n);
	else
		fputs("null", j->f);
}

void mw_json_str(struct mw_json *j, const char *key, const char *val)
{
	mw_json_strn(j, key, val, SIZE_MAX);
}

void mw_json_int(struct mw_json *j, const char *key, int64_t v)
{
	if (dropped(j))
		return;
	member(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void mw_json_uint(struct mw_json *j, const char *key, uint64_t v)
{
	if (dropped(j))
		return;
	member(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void mw_json_addr(struct mw_json *j, const char *key, uint64_t v)
{
	if (dropped(j))
		return;
	member(j, key);
	/* Not %#x: it prints 0 as "0", and consumers want one shape. */
	fprintf(j->f, "\"0x%" PRIx64 "\"", v);
}

void mw_json_bool(struct mw_json *j, const char *key, bool v)
{
	if (dropped(j))
		return;
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void mw_json_null(struct mw_json *j, const char *key)
{
	if (dropped(j))
		return;
	member(j, key);
	fputs("null", j->f);
}

void mw_json_double(struct mw_json *j, const char *key, double v)
{
	if (dropped(j))
		return;
	member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}
