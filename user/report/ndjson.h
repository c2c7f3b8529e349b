/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memwatch's NDJSON, line by line (json-c): each line must be one JSON
 * object with a string "type"; anything else stops the walk with a one-line
 * reason naming the line (not JSON; cut short, for a last line without its
 * newline; no "type": not memwatch's). Pure: it walks a buffer.
 */
#ifndef MW_REPORT_NDJSON_H
#define MW_REPORT_NDJSON_H

#include <stddef.h>
#include <json-c/json.h>

/* Called per object; nonzero stops the walk with that value. */
typedef int (*mw_ndjson_fn)(void *ctx, struct json_object *o, const char *type);

/* 0 when every line was an object with a type (and there was one at least); -1 with the reason
 * in err; or what fn returned. */
int mw_ndjson_walk(const char *buf, size_t len, mw_ndjson_fn fn, void *ctx, char *err,
		   size_t errsz);

/* Field access that tolerates absence: 0 / "" / false when missing or of another type. */
int64_t mw_j_int(struct json_object *o, const char *key, int64_t dflt);
const char *mw_j_str(struct json_object *o, const char *key);
struct json_object *mw_j_get(struct json_object *o, const char *key);
int mw_j_has(struct json_object *o, const char *key);

#endif /* MW_REPORT_NDJSON_H */
