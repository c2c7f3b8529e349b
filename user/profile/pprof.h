/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof profiles (profile.proto, gzip-compressed): what go tool pprof,
 * Parca, Pyroscope and Grafana read. A builder collects call stacks with
 * their values (frames innermost first, named as memwatch names them: the
 * function, file and line), dedupes strings, functions, locations and
 * mappings, and encodes with protobuf-c. Pure: mapping ranges and build-ids
 * come from the caller (mw_prof_module_fn), nothing here reads a file.
 */
#ifndef MW_PPROF_H
#define MW_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "stacks/ustack.h"

#define MW_PROF_MAX_TYPES 4
#define MW_PROF_MAX_COMMENTS 16

/* One call stack of one process and its values (one per sample type). */
struct mw_prof_stack {
	uint32_t pid;
	const char *comm;
	const uint64_t *ips;	       /* n return addresses, innermost first */
	const struct mw_frame *frames; /* n named frames, or NULL (unnamed) */
	uint32_t n;		       /* 0: the stack is unknown */
	int64_t v[MW_PROF_MAX_TYPES];
};

/* Where a file was mapped in a process, for pprof's Mapping. Unknown: all zero, "". */
struct mw_prof_module {
	uint64_t start, limit, offset;
	char build_id[96]; /* hex, as `readelf -n` prints it */
};
/* Fill m for module path of pid; 0, or -1 when nothing is known. */
typedef int (*mw_prof_module_fn)(void *ctx, uint32_t pid, const char *path,
				 struct mw_prof_module *m);

struct mw_pprof_type {
	const char *type, *unit; /* "inuse_space", "bytes" */
};

struct mw_pprof;

/* A builder for samples of ntypes values; default_type: the type shown first. NULL: no memory. */
struct mw_pprof *mw_pprof_new(const struct mw_pprof_type *types, int ntypes, int default_type,
			      mw_prof_module_fn module, void *module_ctx);
void mw_pprof_free(struct mw_pprof *b);
/* Add one stack; a stack whose values are all zero is left out. 0 or -ENOMEM. */
int mw_pprof_add(struct mw_pprof *b, const struct mw_prof_stack *s);
/* A comment of the profile (pprof -comments shows them): which values are estimates. At
 * most MW_PROF_MAX_COMMENTS are kept. 0 or -ENOMEM. */
int mw_pprof_comment(struct mw_pprof *b, const char *text);
/* How many samples were added. */
size_t mw_pprof_samples(const struct mw_pprof *b);
/* The gzip-compressed profile, taken at time_ns (Unix epoch): *out is malloc'd. 0 or -ENOMEM. */
int mw_pprof_encode(struct mw_pprof *b, uint64_t time_ns, void **out, size_t *len);

#endif /* MW_PPROF_H */
