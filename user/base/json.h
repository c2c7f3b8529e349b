/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A streaming NDJSON writer: one object per line, written straight to a FILE *
 * without allocation. The writer tracks only where commas go; the caller names
 * keys inside objects and passes key == NULL for array elements.
 *
 *	struct mw_json j;
 *	mw_json_begin(&j, stdout);		// {
 *	mw_json_str(&j, "type", "syscall");	// "type":"syscall"
 *	mw_json_obj_begin(&j, "args");		// ,"args":{
 *	mw_json_addr(&j, "addr", 0);		// "addr":"0x0"
 *	mw_json_obj_end(&j);			// }
 *	mw_json_end(&j);			// }\n
 *
 * Strings are escaped so that every line is valid JSON whatever the bytes:
 * '"', '\\' and control characters get JSON escapes, bytes that are not
 * part of valid UTF-8 are written as \u00XX of the byte, and the characters
 * a terminal acts on (C1 controls, bidirectional controls, U+2028/U+2029;
 * base/text.h) as \uXXXX of the character.
 */
#ifndef MW_JSON_H
#define MW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MW_JSON_MAX_DEPTH 8

/*
 * depth counts the open containers (1 inside the top object); first[d - 1] is
 * true while the container at depth d has no member yet. A container opened
 * deeper than MW_JSON_MAX_DEPTH is written as null and what goes into it is
 * dropped, so the line stays valid JSON.
 */
struct mw_json {
	FILE *f;
	int depth;
	bool first[MW_JSON_MAX_DEPTH];
};

void mw_json_begin(struct mw_json *j, FILE *f);		    /* "{" */
void mw_json_end(struct mw_json *j);			    /* "}\n" */
void mw_json_obj_begin(struct mw_json *j, const char *key); /* "key":{ */
void mw_json_obj_end(struct mw_json *j);		    /* } */
void mw_json_arr_begin(struct mw_json *j, const char *key); /* "key":[ */
void mw_json_arr_end(struct mw_json *j);		    /* ] */
/* An escaped string; a NULL val writes null. */
void mw_json_str(struct mw_json *j, const char *key, const char *val);
/* Up to n bytes of val or up to its NUL, whichever comes first (comm[16]). */
void mw_json_strn(struct mw_json *j, const char *key, const char *val, size_t n);
void mw_json_int(struct mw_json *j, const char *key, int64_t v);
void mw_json_uint(struct mw_json *j, const char *key, uint64_t v);
/* An address as a string, "0x7f..."; 0 is "0x0". */
void mw_json_addr(struct mw_json *j, const char *key, uint64_t v);
void mw_json_bool(struct mw_json *j, const char *key, bool v);
void mw_json_null(struct mw_json *j, const char *key);
/* A number with 6 significant digits; NaN and infinities (not JSON) as null. */
void mw_json_double(struct mw_json *j, const char *key, double v);

#endif /* MW_JSON_H */
