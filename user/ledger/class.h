/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a region is: the vocabulary of the region map's `cls` field. The
 * ledger only carries and sums classes; the allocator analysis (alloc/) is
 * what sets them.
 */
#ifndef MW_CLASS_H
#define MW_CLASS_H

enum mw_class {
	MW_CLASS_ANON = 0,     /* anything else */
	MW_CLASS_MAIN_HEAP,    /* the brk heap */
	MW_CLASS_ARENA_HEAP,   /* a glibc non-main arena heap (64 MiB aligned reservation) */
	MW_CLASS_MALLOC_CHUNK, /* a glibc mmapped large allocation */
	MW_CLASS_THREAD_STACK, /* a thread stack (MAP_STACK) */
	MW_CLASS_STACK_GUARD,  /* its PROT_NONE guard */
	MW_CLASS_FILE,	       /* file-backed */
	MW_CLASS_SHM,	       /* shared (MAP_SHARED anonymous, SysV, memfd) */
	MW_CLASS_JEMALLOC,     /* jemalloc extent */
	MW_CLASS_TCMALLOC,     /* tcmalloc span memory */
	MW_CLASS_STACK,	       /* the main thread's [stack] */
	MW_CLASS_COUNT,
};

/* "main_heap", "arena_heap", ...; "anon" for a value out of range. */
static inline const char *mw_class_name(enum mw_class c)
{
	static const char *const names[MW_CLASS_COUNT] = {
		[MW_CLASS_ANON] = "anon",
		[MW_CLASS_MAIN_HEAP] = "main_heap",
		[MW_CLASS_ARENA_HEAP] = "arena_heap",
		[MW_CLASS_MALLOC_CHUNK] = "malloc_chunk",
		[MW_CLASS_THREAD_STACK] = "thread_stack",
		[MW_CLASS_STACK_GUARD] = "stack_guard",
		[MW_CLASS_FILE] = "file",
		[MW_CLASS_SHM] = "shm",
		[MW_CLASS_JEMALLOC] = "jemalloc",
		[MW_CLASS_TCMALLOC] = "tcmalloc",
		[MW_CLASS_STACK] = "stack",
	};

	return (unsigned)c < MW_CLASS_COUNT ? names[c] : "anon";
}

#endif /* MW_CLASS_H */
