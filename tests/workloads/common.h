/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shared helpers for the test workloads (header only: each workload is one .c file).
 *
 * Conventions every workload follows:
 *  -w  print "ready <pid>\n" on stderr, then block until one byte (or EOF) can be read from
 *      stdin, so that a test can attach memwatch -p and strace -p before anything happens.
 *  -W  (where supported) after the measured phase print "done <pid>\n" on stderr and block on
 *      stdin again, so that a test can read /proc/PID/maps and VmSize while still attached.
 *  Exit status 0 on success, 2 on a usage error.
 * Nothing here mallocs or uses buffered stdio: messages go out with write(2) from a stack
 * buffer, so no hidden brk/mmap shows up in the measured phase.
 */
#ifndef MW_WORKLOAD_COMMON_H
#define MW_WORKLOAD_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define PG 4096UL

static inline void wl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void wl_say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	for (int off = 0; off < n;) {
		ssize_t w = write(2, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += w;
	}
}

static inline void wl_usage(const char *usage)
{
	wl_say("usage: %s\n", usage);
	exit(2);
}

/* Blocks until one byte or EOF can be read from stdin. */
static inline void wl_wait_stdin(void)
{
	char c;

	while (read(0, &c, 1) < 0 && errno == EINTR)
		;
}

/* Announce "<word> <pid>" on stderr and wait for the go byte. */
static inline void wl_handshake(const char *word)
{
	wl_say("%s %d\n", word, (int)getpid());
	wl_wait_stdin();
}

/*
 * The main thread's stack VMA grows on page faults, which changes VmSize without any syscall.
 * Touch 256 KiB of it before the measured phase so that the /proc oracle (net == VmSize change)
 * is not disturbed by stack growth.
 */
static __attribute__((noinline, unused)) void wl_prefault_stack(void)
{
	volatile char buf[256 * 1024];

	for (size_t i = 0; i < sizeof(buf); i += PG)
		buf[i] = 0;
}

/* Parses a non-negative decimal; exits 2 (usage) on garbage. */
static inline long wl_num(const char *s, const char *usage)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		wl_usage(usage);
	return v;
}

static inline void wl_check_page_size(void)
{
	if (sysconf(_SC_PAGESIZE) != (long)PG) {
		wl_say("workload: page size is not 4096; expected numbers do not apply\n");
		exit(1);
	}
}

/* The options of a workload that takes only -w (handshake "ready" before its calls) and -W
 * (handshake "done" after them): parsed, then the page size checked and the stack prefaulted,
 * so that the calls measured are the workload's own. */
struct wl_handshakes {
	bool start, end;
};

static inline struct wl_handshakes wl_parse_handshakes(int argc, char **argv, const char *usage)
{
	struct wl_handshakes h = { false, false };
	int opt;

	while ((opt = getopt(argc, argv, "wW")) != -1) {
		switch (opt) {
		case 'w': h.start = true; break;
		case 'W': h.end = true; break;
		default: wl_usage(usage);
		}
	}
	if (optind != argc)
		wl_usage(usage);
	wl_check_page_size();
	wl_prefault_stack();
	return h;
}

/* len bytes of fresh private anonymous memory, every page written: resident, 4 KiB pages
 * whatever the THP setting (MADV_NOHUGEPAGE), one fault each. Exits on failure. */
static inline char *wl_touched_anon(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		wl_say("mmap: %s\n", strerror(errno));
		exit(1);
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += PG)
		p[off] = 1;
	return p;
}

/* /proc/self/status into buf (read(2), no allocation), NUL-terminated. Exits on failure. */
static inline void wl_read_status(char *buf, size_t size)
{
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n, len = 0;

	if (fd < 0)
		exit(1);
	while (len < (ssize_t)size - 1 && (n = read(fd, buf + len, size - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
}

/* "Field:   N kB" of a status text, in bytes (0 if absent); field with its leading "\n". */
static inline uint64_t wl_status_kb(const char *text, const char *field)
{
	const char *p = strstr(text, field);

	return p ? strtoull(p + strlen(field) + 1, NULL, 10) * 1024 : 0;
}

#define wl_die(...)                                                \
	do {                                                       \
		wl_say("workload: " __VA_ARGS__);                  \
		wl_say(" (line %d, errno %d)\n", __LINE__, errno); \
		_exit(1);                                          \
	} while (0)

#endif /* MW_WORKLOAD_COMMON_H */
