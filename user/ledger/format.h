/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Decoding of the traced syscalls exactly as strace 6.1 prints them, so that
 * memwatch's text output can be diffed against `strace -e trace=memory`, and
 * the human sizes and clock used by the text sinks.
 *
 * Every function writes into (buf, size), always NUL-terminates when size > 0,
 * truncates safely and returns the length of the full text, as snprintf does:
 * a return >= size means the text was cut.
 *
 * Where the kernel has grown constants that strace 6.1 predates (MAP_DROPPABLE,
 * MAP_ABOVE4G, MADV_GUARD_INSTALL/REMOVE) and for mremap's new_address with
 * MREMAP_DONTUNMAP, the names and layout are those of current strace.
 */
#ifndef MW_FORMAT_H
#define MW_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "wire/event.h"

/* "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "shmat", "shmdt",
 * "pkey_mprotect"; "?" otherwise. */
const char *mw_sys_name(enum mw_sys sys);
/* The inverse of mw_sys_name: an enum mw_sys value, -1 if unknown. */
int mw_sys_from_name(const char *name);
/* glibc probe name ("memory_arena_new", ...) or "?" */
const char *mw_usdt_name(enum mw_usdt_probe probe);
/* 12 -> "ENOMEM": strace's x86_64 table (1..133 and the kernel-internal 512..530);
 * NULL when strace has no name for it. */
const char *mw_errno_name(int err);

/* "PROT_READ|PROT_WRITE", "PROT_NONE", "PROT_READ|0x10"; unknown bits alone: the hex
 * value followed by strace's comment naming PROT_???. */
int mw_fmt_prot(char *buf, size_t sz, uint64_t prot);
/* "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|21<<MAP_HUGE_SHIFT": the type first, then
 * the flags in strace's order, unknown bits as one hex value, then the huge page
 * size field. Only the low 32 bits are decoded, as strace does. */
int mw_fmt_mmap_flags(char *buf, size_t sz, uint64_t flags);
/* "MREMAP_MAYMOVE|MREMAP_FIXED", "0" when none. */
int mw_fmt_mremap_flags(char *buf, size_t sz, uint64_t flags);
/* "MADV_DONTNEED"; unknown: "0x3e7" and strace's comment naming MADV_???. The kernel
 * takes an int, so only the low 32 bits count. */
int mw_fmt_madvise(char *buf, size_t sz, uint64_t advice);
/* "SHM_RDONLY|SHM_EXEC", "0" when none; unknown bits as one hex value. */
int mw_fmt_shm_flags(char *buf, size_t sz, uint64_t flags);
/* "NULL" for 0, else "0x7f09d0e00000". */
int mw_fmt_addr(char *buf, size_t sz, uint64_t addr);

/*
 * The argument list without parentheses, exactly as strace prints it:
 *  mmap:     "NULL, 134217728, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0"
 *  munmap:   "0x7f09d0e00000, 52428800"
 *  mprotect: "0x7f09d4000000, 135168, PROT_READ|PROT_WRITE"
 *  mremap:   "0x7f.., 1052672, 8392704, MREMAP_MAYMOVE", plus ", 0x7f.." (new_address)
 *            when MREMAP_MAYMOVE is set with MREMAP_FIXED or MREMAP_DONTUNMAP
 *  madvise:  "0x7f.., 8368128, MADV_DONTNEED"
 *  brk:      "NULL" or "0x55d0c8a4e000"
 *  shmat:    "3, NULL, SHM_RDONLY"; shmdt: "0x7f.."
 *  pkey_mprotect: "0x7f.., 4096, PROT_READ, -1"
 * An unknown syscall gives "".
 */
int mw_fmt_syscall_args(char *buf, size_t sz, const struct mw_syscall_ev *sc);
/*
 * The return value as strace prints it after "= ": mmap/mremap/brk/shmat in hex
 * ("0x7f.."), the others in decimal ("0"); an error (ret in [-4095, -1]) as
 * "-1 ENOMEM (Cannot allocate memory)", "-1 (errno 999)" without a name, and the
 * four restart codes as "? ERESTARTSYS (To be restarted if SA_RESTART is set)".
 */
int mw_fmt_syscall_ret(char *buf, size_t sz, const struct mw_syscall_ev *sc);

/* Human sizes in binary units: 0 -> "0", 512 -> "512", 4096 -> "4.0K",
 * 135168 -> "132K", 1.5 GiB -> "1.5G"; one decimal below 10 units, rounded to
 * nearest. mw_fmt_delta adds '+' to positive values. */
int mw_fmt_size(char *buf, size_t sz, int64_t bytes);
int mw_fmt_delta(char *buf, size_t sz, int64_t bytes);
/* Local wall-clock time "12:01:03.123456" (strace -tt) from Unix epoch ns. */
int mw_fmt_clock(char *buf, size_t sz, uint64_t ts_ns);

#endif /* MW_FORMAT_H */
