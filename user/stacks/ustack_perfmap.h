/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Names of JIT-compiled code: the perf map convention. A runtime that
 * compiles code writes /tmp/perf-PID.map (PID as the process sees itself, in
 * its own pid namespace and mount namespace), one line per code object:
 * "START SIZE NAME", START and SIZE in hex (node --perf-basic-prof, Java's
 * -XX:+DumpPerfMapAtExit, perf-map-agent, Python 3.12 -X perf). A later line
 * for the same addresses wins (code moved or replaced). Pure parser and
 * lookup; the reader of the file is in ustack_proc.c.
 */
#ifndef MW_USTACK_PERFMAP_H
#define MW_USTACK_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

#define MW_PERFMAP_MAX_BYTES (64u << 20) /* a longer file is read up to here */
#define MW_PERFMAP_MAX_SYMS (1u << 20)

struct mw_jitsym {
	uint64_t start, size;
	uint32_t line; /* order in the file: a later line wins */
	uint32_t name; /* offset of the name in mw_perfmap.names */
};

struct mw_perfmap {
	struct mw_jitsym *syms; /* sorted by start, then line */
	size_t n;
	char *names; /* NUL-terminated names, back to back */
	size_t names_len;
	uint64_t max_size; /* the largest size: how far back a lookup must look */
};

/* Parse a perf map's text (len bytes; malformed lines are skipped). 0 or -ENOMEM. */
int mw_perfmap_parse(const char *text, size_t len, struct mw_perfmap *out);
/* The name of the code at addr (the latest line covering it), or NULL. */
const char *mw_perfmap_lookup(const struct mw_perfmap *m, uint64_t addr);
void mw_perfmap_clear(struct mw_perfmap *m);

#endif /* MW_USTACK_PERFMAP_H */
