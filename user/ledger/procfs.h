/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading /proc: pure parsers over text (unit-tested on recorded samples)
 * and thin readers that fetch the text and call them. Readers return 0 or a
 * negative errno; -ENOENT or -ESRCH mean the process or thread is gone. */
#ifndef MW_PROCFS_H
#define MW_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "regions.h"
#include "resident.h"

/* Parse one /proc/PID/maps line (with or without its newline) into r: start,
 * end, prot, flags (always MW_RF_BASELINE), name interned, tid 0, ts 0.
 * 0, -EINVAL for a malformed line, -ENOMEM when the name cannot be interned. */
int mw_maps_parse_line(const char *line, struct mw_region *r);
/* Parse a whole maps text into out (initialized; cleared first). Entries go
 * through mw_regions_map, so out obeys the map's invariants (touching equal
 * entries merge) whatever the text holds. 0 or negative errno. */
int mw_maps_parse(const char *text, struct mw_regions *out);
/* The file name of a mapping's path ("/usr/lib/x/libc.so.6" -> "libc.so.6"). */
const char *mw_path_base(const char *path);
/* glibc's C library by file name (libc.so.6, libc-2.31.so), not libcrypto or libc++. */
bool mw_is_libc_path(const char *path);
/* The lowest mapping at file offset 0 of path in maps text, or of any libc when path names
 * one: its range, and its path as the maps give it (path_out). 0, or -ENOENT. */
int mw_maps_find_file(const char *maps_text, const char *path, uint64_t *start, uint64_t *end,
		      char *path_out, size_t outsz);
/* A file as process pid maps it at [start, end): through map_files (any mount namespace),
 * else through its root. An O_RDONLY descriptor, or negative errno. */
int mw_open_mapped_file(uint32_t pid, uint64_t start, uint64_t end, const char *path);
/*
 * The address space as exec left it, from a maps text read a little later:
 * only what the kernel maps at exec (the executable named exe, the
 * interpreter ld-*.so*, the bss right after either, [stack], [vdso], [vvar],
 * [vvar_vclock], [vsyscall]). Everything else came from syscalls after the
 * exec, which the trace has. *out is malloc'd; *bytes the kept size without
 * [vsyscall] (the VmSize then).
 */
int mw_maps_exec_baseline(const char *text, const char *exe, char **out, uint64_t *bytes);
/*
 * One read() of /proc/PID/maps: the kernel renders a page of it per call, so
 * each piece shows the mappings at its own moment. Piece k covers addresses
 * from lo (the end of the last mapping the previous piece showed; 0 for the
 * first) up to the next piece's lo, rendered between t_before and t_after
 * (CLOCK_MONOTONIC, the clock of the kernel's records).
 */
struct mw_maps_piece {
	uint64_t lo;
	uint64_t t_before, t_after;
};
/* mw_read_maps_text with the time of each piece (*pieces malloc'd, sorted by lo). */
int mw_read_maps_timed(uint32_t pid, char **text, struct mw_maps_piece **pieces, size_t *n);
/* Read /proc/PID/maps whole, then parse. */
int mw_read_maps(uint32_t pid, struct mw_regions *out);
/* The raw text of /proc/PID/maps (malloc'd, NUL-terminated; caller frees):
 * what a recording stores so a replay seeds the same baseline. */
int mw_read_maps_text(uint32_t pid, char **text);

/* Resident bytes of one mapping, from /proc/PID/smaps. */
struct mw_rss {
	uint64_t start, end;
	uint64_t rss;
};
/* Parse smaps text into a malloc'd array (caller frees *v), one entry per
 * mapping in file order. 0, -EINVAL (malformed) or -ENOMEM. */
int mw_smaps_parse(const char *text, struct mw_rss **v, size_t *n);
int mw_read_smaps(uint32_t pid, struct mw_rss **v, size_t *n);
/* Bytes of pid's [start, end) present in memory now, from /proc/PID/pagemap. 0 or -errno. */
int mw_read_present(uint32_t pid, uint64_t start, uint64_t end, uint64_t page_size,
		    uint64_t *bytes);

/* "VmSize:   1234 kB" -> bytes; -ENOENT if absent (zombie, kernel thread). */
int mw_status_vmsize(const char *status_text, uint64_t *bytes);
/* Any "Field:   N kB" line of /proc/PID/status, in bytes; -ENOENT if absent. */
int mw_status_kb(const char *status_text, const char *field, uint64_t *bytes);
/* "Tgid:\t1234" -> the process a thread id belongs to. */
int mw_status_tgid(const char *status_text, uint32_t *tgid);
int mw_read_tgid(uint32_t pid, uint32_t *tgid);
/* utime and stime of /proc/PID/stat (fields 14 and 15, clock ticks: all its threads,
 * exited ones included). The name in parentheses may hold anything, ")" too. */
int mw_stat_cpu_ticks(const char *stat_text, uint64_t *utime, uint64_t *stime);
/* That CPU time in ns, user and system together. */
int mw_read_cpu_ns(uint32_t pid, uint64_t *ns);
/* syscr + syscw of /proc/PID/io: the read and write system calls of all its threads
 * (a server's requests, whatever slows them), and reads: syscr alone (NULL: not
 * wanted); -ENOENT if a line is absent. */
int mw_io_calls_parse(const char *io_text, uint64_t *calls, uint64_t *reads);
int mw_read_io_calls(uint32_t pid, uint64_t *calls, uint64_t *reads);
/* /proc/PID/environ whole: NUL-separated VAR=value entries, NUL-terminated
 * (malloc'd; caller frees). */
int mw_read_environ(uint32_t pid, char **buf, size_t *len);
/* The value of var in such a buffer, or NULL. */
const char *mw_environ_get(const char *env, size_t len, const char *var);
/* "1234 ..." (/proc/PID/statm: sizes in pages, total first) -> bytes of the address space. */
int mw_statm_size(const char *statm_text, uint64_t page_size, uint64_t *bytes);
/*
 * VmSize as close to an instant as /proc allows: /proc/PID/statm (one short
 * line, computed first) through an fd opened once (mw_open_statm), read again
 * for each call; *t_before and *t_after bracket the read (CLOCK_MONOTONIC).
 */
int mw_open_statm(uint32_t pid);
int mw_read_statm(int fd, uint64_t page_size, uint64_t *bytes, uint64_t *t_before,
		  uint64_t *t_after);
/* VmSize and VmStk (the main thread's stack, which grows without syscalls). */
int mw_read_vm(uint32_t pid, uint64_t *size, uint64_t *stack);
/* RssAnon, RssFile and RssShmem of a status text (VmRSS is their sum): r->known set,
 * r->ts_ns left alone. -ENOENT without them (no mm: a zombie), -EINVAL if malformed. */
int mw_status_resident(const char *status_text, struct mw_resident *r);
/* The same from /proc/PID/status now; ts_ns = when it was read (Unix epoch). */
int mw_read_resident(uint32_t pid, struct mw_resident *r);
int mw_read_vmsize(uint32_t pid, uint64_t *bytes);

/* Field 47 of /proc/PID/stat (start_brk); comm may contain spaces and ')'.
 * The kernel shows 0 there when the reader may not ptrace the process. */
int mw_stat_start_brk(const char *stat_text, uint64_t *start_brk);
int mw_read_start_brk(uint32_t pid, uint64_t *start_brk);

/* Whether the flags field (9) of /proc/PID/stat has PF_KTHREAD. */
int mw_stat_is_kthread(const char *stat_text, bool *kthread);
int mw_read_is_kthread(uint32_t pid, bool *kthread);

/* Field 3 of a stat line: the state letter (R, S, D, Z, X, ...). */
int mw_stat_state(const char *stat_text, char *state);
/* The same from /proc/PID/task/TID/stat (TID = PID: the leader's). */
int mw_read_state(uint32_t pid, uint32_t tid, char *state);
/* Whether thread tid of pid is past its exit: no longer listed, or a zombie. */
bool mw_thread_gone(uint32_t pid, uint32_t tid);

/* /proc/PID/task/TID/comm without its newline, NUL-terminated. */
int mw_read_comm(uint32_t pid, uint32_t tid, char comm[16]);

/* The entries of /proc/PID/task, ascending, in a malloc'd array the caller
 * frees (NULL when *n is 0). */
int mw_list_tids(uint32_t pid, uint32_t **tids, size_t *n);

/* Count CPUs in a /sys/devices/system/cpu/online list ("0-3,5"); -EINVAL if it is not one. */
int mw_parse_cpu_list(const char *s);
/* CPUs online on this host, from /sys/devices/system/cpu/online (1 if unknown). */
int mw_read_online_cpus(void);

#endif /* MW_PROCFS_H */
