// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* memwatch's NDJSON, line by line. See ndjson.h. */
#include <stdbool.h>
#include <string.h>
#include "base/errmsg.h"
#include "ndjson.h"

int mw_ndjson_walk(const char *buf, size_t len, mw_ndjson_fn fn, void *ctx, char *err, size_t errsz)
{
	struct json_tokener *tok = json_tokener_new();
	size_t off = 0, line = 0, objects = 0;
	int ret = 0;

	if (!tok)
		return mw_fail(err, errsz, -1, "out of memory");
	while (off < len && !ret) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
		struct json_object *o, *t;

		line++;
		if (!n || (n == 1 && buf[off] == '\r')) {
			off += n + 1;
			continue;
		}
		json_tokener_reset(tok);
		o = json_tokener_parse_ex(tok, buf + off, (int)n);
		if (!o || tok->char_offset < (int)n) {
			bool cut = !nl && json_tokener_get_error(tok) == json_tokener_continue;

			json_object_put(o);
			ret = cut ? mw_fail(err, errsz, -1,
					    "line %zu is cut short: a truncated file", line)
				  : mw_fail(err, errsz, -1, "line %zu is not JSON", line);
			break;
		}
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "type", &t) ||
		    !json_object_is_type(t, json_type_string)) {
			json_object_put(o);
			ret = mw_fail(err, errsz, -1,
				      "line %zu is not memwatch NDJSON (an object with a \"type\")",
				      line);
			break;
		}
		objects++;
		ret = fn(ctx, o, json_object_get_string(t));
		json_object_put(o);
		off += n + 1;
	}
	json_tokener_free(tok);
	if (!ret && !objects)
		ret = mw_fail(err, errsz, -1, "no memwatch NDJSON in it (empty)");
	return ret;
}

struct json_object *mw_j_get(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int mw_j_has(struct json_object *o, const char *key)
{
	return mw_j_get(o, key) != NULL;
}

int64_t mw_j_int(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v = mw_j_get(o, key);

	if (!v ||
	    (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)))
		return dflt;
	return json_object_get_int64(v);
}

const char *mw_j_str(struct json_object *o, const char *key)
{
	struct json_object *v = mw_j_get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}
