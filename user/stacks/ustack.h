/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* user/ustack.h: user stacks captured by BPF -> frames -> symbols. */
#ifndef MW_USTACK_H
#define MW_USTACK_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define MW_USTACK_NREGS 17 /* x86-64 DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
struct mw_ustack_capture {
	uint32_t pid, tid;
	uint64_t regs[MW_USTACK_NREGS]; /* user registers at the probe (DWARF order) */
	const uint8_t *stack;		/* copy of user memory starting at regs[7] (rsp) */
	uint32_t stack_len;		/* bytes valid in stack */
};
/* What mw_frame.rel is. */
enum mw_rel_kind {
	MW_REL_NONE = 0,  /* no module */
	MW_REL_VADDR = 1, /* the address in the file's own ELF address space (addr2line -e FILE) */
	MW_REL_FILE = 2,  /* a file offset: the file could not be read for its program headers */
};
struct mw_frame {
	uint64_t addr;	      /* absolute address in the process */
	const char *module;   /* path of the mapped file, NULL if unknown */
	const char *func;     /* NULL if unknown */
	const char *file;     /* NULL if unknown */
	int line;	      /* 0 if unknown */
	uint64_t offset;      /* addr - func start, when func known (for code
					 * inlined into func's symbol: from that symbol) */
	uint64_t rel;	      /* addr within module, as rel_kind says: the same in every run */
	int rel_kind;	      /* enum mw_rel_kind */
	const char *build_id; /* the module's GNU build-id in hex, NULL if unknown */
	int jit;	      /* func is from the process's perf map (JIT-compiled code) */
};
/* A symbolizer is not thread-safe: use it from one thread (or under a lock). */
struct mw_symbolizer;
struct mw_symbolizer *mw_sym_new(void);
void mw_sym_free(struct mw_symbolizer *s);
/* Return addresses, innermost first (ips[0] = regs[16], the probed pc). Uses the
 * DWARF CFI (.eh_frame/.debug_frame) of each module via libdwfl, frame pointers
 * where a module has no CFI. Repeated call paths must be cheap (cache). Returns
 * the number of frames (>= 1), or a negative errno. */
int mw_sym_unwind(struct mw_symbolizer *s, const struct mw_ustack_capture *c, uint64_t *ips,
		  size_t max);
/*
 * The top of the stack the last mw_sym_unwind's thread needs: the address just past the
 * highest byte that unwind read from the copy (or the cached unwind it reused had read), when
 * it reached the thread's outermost frame (start_thread, _start) with every read inside the
 * copy; 0 when it did not (stopped early, read past the copy). Every unwind of the thread ends
 * in the same outermost frames, which never move, so none reads above it: a probe can stop
 * its copy there (above lie glibc's thread descriptor and TLS, ~4 KiB a thread).
 */
uint64_t mw_sym_last_top(const struct mw_symbolizer *s);
/* The number of pid's state in s (its mappings as read): another after mw_sym_invalidate,
 * or when the state was let go; 0 when s holds none. Frames unwound under one number hold
 * while it stays. */
uint64_t mw_sym_proc_serial(const struct mw_symbolizer *s, uint32_t pid);
/* The stack words one unwind read: byte offsets from rsp, ascending, and their values. */
#define MW_USTACK_READS_MAX 48
struct mw_ustack_reads {
	uint32_t n, span; /* span: past the highest word read */
	bool need_bp;	  /* the frames depend on rbp too */
	uint32_t offs[MW_USTACK_READS_MAX];
	uint64_t vals[MW_USTACK_READS_MAX];
};
/*
 * Full unwinds of c (no cache) from rip and rsp alone (and rbp where those are not enough),
 * the other registers unknown to the unwinder, and the stack words whose values the frames
 * depend on: each word it read is changed in turn, and kept when the unwind then differs.
 * When the frames equal those of an unwind with every register, a capture with the same rip
 * and rsp (and rbp if need_bp) whose stack holds the same values at those offsets unwinds to
 * the same frames. Returns the frames (>= 1), or a negative errno: -EAGAIN when an unwind
 * read past the copy or stopped where the copy ran out, -E2BIG when it read more than
 * MW_USTACK_READS_MAX words.
 */
int mw_sym_unwind_reads(struct mw_symbolizer *s, const struct mw_ustack_capture *c, uint64_t *ips,
			size_t max, struct mw_ustack_reads *r);
/* Symbolize one address of pid (strings owned by s, valid until mw_sym_free). */
int mw_sym_resolve(struct mw_symbolizer *s, uint32_t pid, uint64_t addr, struct mw_frame *f);
/* Like mw_sym_resolve, with the caller saying what addr is: is_return != 0 for
 * a return address (ips[i], i >= 1: addr - 1 is looked up, the call's line),
 * 0 for an exact pc (ips[0]). mw_sym_resolve guesses: exact when addr is the
 * first byte of a function, a return address otherwise. */
int mw_sym_resolve_ip(struct mw_symbolizer *s, uint32_t pid, uint64_t addr, int is_return,
		      struct mw_frame *f);
/* Counters for the caches (every one is bounded; evictions are counted). */
struct mw_sym_stats {
	uint64_t unwinds;      /* mw_sym_unwind calls */
	uint64_t full_unwinds; /* ... that ran libdwfl (cache misses) */
	uint64_t cache_hits, cache_evictions, cache_entries, cache_bytes;
	uint64_t resolves, resolve_hits, resolve_evictions;
	uint64_t procs, proc_evictions; /* processes with live state */
	uint64_t modules;		/* distinct ELF files (by build-id) opened */
	uint64_t module_shared;		/* mappings that reused an opened module */
	uint64_t module_failed;		/* files that could not be opened or kept */
};
void mw_sym_stats(const struct mw_symbolizer *s, struct mw_sym_stats *out);
/* Turn the unwind cache off (0) or on (default): for measuring what it saves. */
void mw_sym_cache_enable(struct mw_symbolizer *s, int on);
/* The process's mappings changed (dlopen/exec): drop its per-process state.
 * Until then (or until it is the least recently used of 256), the state of a
 * process that has exited still resolves its addresses; a pid never seen
 * before that is gone gives -ESRCH. */
void mw_sym_invalidate(struct mw_symbolizer *s, uint32_t pid);
/* The next JIT-code miss in pid looks at its perf map again at once, however
 * recently it looked (a report is about to name its stacks again: a runtime
 * may have just written its map, as Java does at exit). */
void mw_sym_jit_recheck(struct mw_symbolizer *s, uint32_t pid);
/* Copy up to len bytes of pid's memory at addr (process_vm_readv, a page at a
 * time): a stack copy taken from user space; stops at the end of a mapping.
 * Returns the bytes copied. */
uint32_t mw_ustack_read(uint32_t pid, uint64_t addr, uint8_t *buf, uint32_t len);

#endif /* MW_USTACK_H */
