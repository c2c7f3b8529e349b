/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Internals shared by the ustack_*.c files: the module store (one entry per
 * build-id, shared by every process), per-process state (its modules and its
 * libdwfl session for unwinding) and the symbolizer that owns both. */
#ifndef MW_USTACK_INT_H
#define MW_USTACK_INT_H

#include <stdbool.h>
#include <elfutils/libdwfl.h>
#include "ustack.h"
#include "ustack_cache.h"
#include "ustack_maps.h"
#include "ustack_perfmap.h"

#define US_MAX_MODS 1024      /* distinct build-ids kept (never evicted: frames point into them) */
#define US_MAX_PROCS 256      /* processes with live state; the least recently used goes */
#define US_MAX_SEGS 16	      /* read-only PT_LOADs kept per module for memory reads */
#define US_MAX_RESOLVED 65536 /* resolved addresses cached (entries) */
#define US_MAX_STRINGS (16u << 20) /* bytes of interned module paths and demangled names */
#define US_STR_BUCKETS 4096
#define US_MAX_FRAMES 1024 /* a larger max is taken as this */
#define US_REGS_IP_SP 1	   /* min_regs: rip and rsp */
#define US_REGS_IP_SP_BP 2 /* min_regs: rip, rsp and rbp */
#define US_LOG_MAX 512	   /* stack reads remembered during one unwind */

/* One ELF file, whatever process maps it: its build-id (the cache key) and a
 * libdwfl session holding only it at bias 0, for symbols and lines. */
struct us_mod {
	struct us_mod *next;
	uint8_t bid[64];
	int bid_len;	     /* 0: no build-id; keyed by dev:inode:path then */
	char *key;	     /* "dev:inode:path" when bid_len == 0 */
	const char *bid_hex; /* interned; NULL when bid_len == 0 */
	Dwfl *dwfl;
	Dwfl_Module *dm;
	Elf *elf;      /* owned by dwfl */
	int fd;	       /* dwfl's descriptor of the file: sessions dup it */
	bool is_exec;  /* ET_EXEC: no load bias */
	bool no_dwarf; /* names from the symbol table only (us_mod_symbols_only) */
	struct us_seg {
		uint64_t vaddr, filesz, off;
	} segs[US_MAX_SEGS];
	int nsegs;
	uint64_t page_vaddr[US_MAX_SEGS], page_off[US_MAX_SEGS]; /* every PT_LOAD, page-aligned */
	uint64_t page_len[US_MAX_SEGS];				 /* file bytes from page_off */
	int nload;
};

/* A module as one process maps it. */
struct us_pmod {
	uint64_t low, high, bias;
	uint64_t exec_start, exec_end, exec_off; /* its first executable mapping */
	const char *path;			 /* interned */
	struct us_mod *mod;			 /* NULL: the file could not be opened */
};

/* The process's perf map (JIT code names), read again when the file changed. */
struct us_jit {
	struct mw_perfmap map;
	bool tried;		 /* looked for the file at least once */
	uint64_t size, mtime_ns; /* of the file when read */
	uint64_t checked_ns;	 /* last look at the file (CLOCK_MONOTONIC) */
};

struct us_read {
	uint32_t off;
	uint64_t val;
};

struct us_proc {
	struct us_proc *next;
	uint32_t pid;
	uint64_t tick;
	uint64_t serial; /* this state's own number: a new one after an invalidation */
	struct us_pmod *mods;
	size_t nmods;
	Dwfl *dwfl; /* unwinding session; NULL until first needed */
	bool attached;
	struct us_jit jit;
	/* The unwind in progress. */
	const struct mw_ustack_capture *cap;
	uint64_t *ips;
	uint32_t *offs;
	size_t n, max;
	struct us_read log[US_LOG_MAX];
	unsigned int nlog, mark;
	bool read_failed, cacheable, hit_max;
	uint8_t min_regs;  /* 0: every register; else the unwind starts from these alone */
	uint32_t read_end; /* just past the highest byte read from the copy */
};

struct us_resolved {
	struct us_mod *mod; /* NULL: free slot */
	uint64_t rel;	    /* address in the file's vaddr space, | 1 << 63 for a return */
	const char *func, *file;
	int line;
	uint64_t sym_start; /* rel of the function start */
};

struct us_str {
	struct us_str *next;
	char s[];
};

struct mw_symbolizer {
	struct us_mod *mods;
	unsigned int nmods;
	struct us_proc *procs;
	unsigned int nprocs;
	uint64_t tick;
	uint64_t serial; /* the last us_proc's */
	struct mw_ucache cache;
	bool cache_off;
	uint64_t last_top;		     /* mw_sym_last_top */
	struct us_resolved *resolved;	     /* US_MAX_RESOLVED slots, direct-mapped */
	struct us_str *strs[US_STR_BUCKETS]; /* interned strings, hashed */
	size_t str_bytes;
	struct mw_sym_stats_int {
		uint64_t unwinds, full_unwinds, resolves, resolve_hits, resolve_evictions;
		uint64_t proc_evictions, mod_opens, mod_shared, mod_failed, mod_dropped;
	} st;
};

/* ustack_mod.c */
struct us_mod *us_mod_get(struct mw_symbolizer *s, uint32_t pid, const struct mw_umod *um);
void us_mod_free_all(struct mw_symbolizer *s);
/* bias of a mapping of m whose first mapping starts at start with file offset off */
uint64_t us_mod_bias(const struct us_mod *m, uint64_t start, uint64_t off);
/* true for a module named from its symbol table only, without DWARF (glibc's libc) */
bool us_mod_symbols_only(const char *path);
/* Read 8 bytes at file vaddr rel from a read-only segment of m. */
bool us_mod_read(const struct us_mod *m, uint64_t rel, uint64_t *val);
/* A copy of str[0..len) owned by s, or NULL past US_MAX_STRINGS bytes. */
const char *us_intern(struct mw_symbolizer *s, const char *str, size_t len);

/* ustack_proc.c */
struct us_proc *us_proc_get(struct mw_symbolizer *s, uint32_t pid, int *err);
void us_proc_free(struct us_proc *p);
const struct us_pmod *us_proc_module(const struct us_proc *p, uint64_t addr);
/* The perf map's name for addr (code outside every file), or NULL; interned. */
const char *us_proc_jit_name(struct mw_symbolizer *s, struct us_proc *p, uint64_t addr);

/* ustack_unwind.c */
int us_unwind_full(struct us_proc *p, const struct mw_ustack_capture *c, uint64_t *ips,
		   uint32_t *offs, size_t max, enum mw_ucache_stop *stop, bool *cacheable);

#endif /* MW_USTACK_INT_H */
