// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * strace-compatible decoding of the traced memory syscalls. The tables and the
 * order in which flags are printed follow strace's xlat files for x86_64, not
 * bit order, because the point is that a line here and a line from strace for
 * the same call are byte for byte equal (tests/unit/test_format.c holds lines
 * captured from strace 6.1).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "format.h"

/* A bounded writer: keeps buf NUL-terminated and counts the full length so the
 * public functions can return what snprintf would. */
struct sbuf {
	char *buf;
	size_t size;
	size_t len;
};

static void sb_init(struct sbuf *sb, char *buf, size_t size)
{
	sb->buf = buf;
	sb->size = size;
	sb->len = 0;
	if (size)
		buf[0] = '\0';
}

static void sb_puts(struct sbuf *sb, const char *s)
{
	size_t n = strlen(s);

	if (sb->len + 1 < sb->size) {
		size_t room = sb->size - 1 - sb->len;
		size_t k = n < room ? n : room;

		memcpy(sb->buf + sb->len, s, k);
		sb->buf[sb->len + k] = '\0';
	}
	sb->len += n;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;

	/* Every caller formats a number or two: 64 bytes always hold it. */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	sb_puts(sb, tmp);
}

/* Return values are int like snprintf's; no text here comes near INT_MAX. */
static int sb_ret(const struct sbuf *sb)
{
	return (int)sb->len;
}

struct xlat {
	uint64_t val;
	const char *name;
};

static const char *const sys_names[MW_SYS_COUNT] = {
	[MW_SYS_BRK] = "brk",
	[MW_SYS_MMAP] = "mmap",
	[MW_SYS_MUNMAP] = "munmap",
	[MW_SYS_MPROTECT] = "mprotect",
	[MW_SYS_MREMAP] = "mremap",
	[MW_SYS_MADVISE] = "madvise",
	[MW_SYS_SHMAT] = "shmat",
	[MW_SYS_SHMDT] = "shmdt",
	[MW_SYS_PKEY_MPROTECT] = "pkey_mprotect",
};

const char *mw_sys_name(enum mw_sys sys)
{
	if ((unsigned int)sys >= MW_SYS_COUNT)
		return "?";
	return sys_names[sys];
}

int mw_sys_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < MW_SYS_COUNT; i++)
		if (strcmp(name, sys_names[i]) == 0)
			return i;
	return -1;
}

/*
 * strace 6.1's src/linux/generic/errnoent.h: the aliases (EWOULDBLOCK 41 is a
 * hole, EDEADLOCK 58 too) and the codes strace leaves out (ENOPARAM 519,
 * ENOGRACE 531) stay unnamed so that the error text matches strace's.
 */
/* A table: several names a line. */
/* clang-format off */
static const char *const errno_names[] = {
	[1] = "EPERM", [2] = "ENOENT", [3] = "ESRCH", [4] = "EINTR", [5] = "EIO",
	[6] = "ENXIO", [7] = "E2BIG", [8] = "ENOEXEC", [9] = "EBADF", [10] = "ECHILD",
	[11] = "EAGAIN", [12] = "ENOMEM", [13] = "EACCES", [14] = "EFAULT",
	[15] = "ENOTBLK", [16] = "EBUSY", [17] = "EEXIST", [18] = "EXDEV",
	[19] = "ENODEV", [20] = "ENOTDIR", [21] = "EISDIR", [22] = "EINVAL",
	[23] = "ENFILE", [24] = "EMFILE", [25] = "ENOTTY", [26] = "ETXTBSY",
	[27] = "EFBIG", [28] = "ENOSPC", [29] = "ESPIPE", [30] = "EROFS",
	[31] = "EMLINK", [32] = "EPIPE", [33] = "EDOM", [34] = "ERANGE",
	[35] = "EDEADLK", [36] = "ENAMETOOLONG", [37] = "ENOLCK", [38] = "ENOSYS",
	[39] = "ENOTEMPTY", [40] = "ELOOP", [42] = "ENOMSG", [43] = "EIDRM",
	[44] = "ECHRNG", [45] = "EL2NSYNC", [46] = "EL3HLT", [47] = "EL3RST",
	[48] = "ELNRNG", [49] = "EUNATCH", [50] = "ENOCSI", [51] = "EL2HLT",
	[52] = "EBADE", [53] = "EBADR", [54] = "EXFULL", [55] = "ENOANO",
	[56] = "EBADRQC", [57] = "EBADSLT", [59] = "EBFONT", [60] = "ENOSTR",
	[61] = "ENODATA", [62] = "ETIME", [63] = "ENOSR", [64] = "ENONET",
	[65] = "ENOPKG", [66] = "EREMOTE", [67] = "ENOLINK", [68] = "EADV",
	[69] = "ESRMNT", [70] = "ECOMM", [71] = "EPROTO", [72] = "EMULTIHOP",
	[73] = "EDOTDOT", [74] = "EBADMSG", [75] = "EOVERFLOW", [76] = "ENOTUNIQ",
	[77] = "EBADFD", [78] = "EREMCHG", [79] = "ELIBACC", [80] = "ELIBBAD",
	[81] = "ELIBSCN", [82] = "ELIBMAX", [83] = "ELIBEXEC", [84] = "EILSEQ",
	[85] = "ERESTART", [86] = "ESTRPIPE", [87] = "EUSERS", [88] = "ENOTSOCK",
	[89] = "EDESTADDRREQ", [90] = "EMSGSIZE", [91] = "EPROTOTYPE",
	[92] = "ENOPROTOOPT", [93] = "EPROTONOSUPPORT", [94] = "ESOCKTNOSUPPORT",
	[95] = "EOPNOTSUPP", [96] = "EPFNOSUPPORT", [97] = "EAFNOSUPPORT",
	[98] = "EADDRINUSE", [99] = "EADDRNOTAVAIL", [100] = "ENETDOWN",
	[101] = "ENETUNREACH", [102] = "ENETRESET", [103] = "ECONNABORTED",
	[104] = "ECONNRESET", [105] = "ENOBUFS", [106] = "EISCONN", [107] = "ENOTCONN",
	[108] = "ESHUTDOWN", [109] = "ETOOMANYREFS", [110] = "ETIMEDOUT",
	[111] = "ECONNREFUSED", [112] = "EHOSTDOWN", [113] = "EHOSTUNREACH",
	[114] = "EALREADY", [115] = "EINPROGRESS", [116] = "ESTALE", [117] = "EUCLEAN",
	[118] = "ENOTNAM", [119] = "ENAVAIL", [120] = "EISNAM", [121] = "EREMOTEIO",
	[122] = "EDQUOT", [123] = "ENOMEDIUM", [124] = "EMEDIUMTYPE",
	[125] = "ECANCELED", [126] = "ENOKEY", [127] = "EKEYEXPIRED",
	[128] = "EKEYREVOKED", [129] = "EKEYREJECTED", [130] = "EOWNERDEAD",
	[131] = "ENOTRECOVERABLE", [132] = "ERFKILL", [133] = "EHWPOISON",
	/* Kernel-internal codes (include/linux/errno.h) that leak to tracepoints. */
	[512] = "ERESTARTSYS", [513] = "ERESTARTNOINTR", [514] = "ERESTARTNOHAND",
	[515] = "ENOIOCTLCMD", [516] = "ERESTART_RESTARTBLOCK", [517] = "EPROBE_DEFER",
	[518] = "EOPENSTALE", [521] = "EBADHANDLE", [522] = "ENOTSYNC",
	[523] = "EBADCOOKIE", [524] = "ENOTSUPP", [525] = "ETOOSMALL",
	[526] = "ESERVERFAULT", [527] = "EBADTYPE", [528] = "EJUKEBOX",
	[529] = "EIOCBQUEUED", [530] = "ERECALLCONFLICT",
};
/* clang-format on */

const char *mw_errno_name(int err)
{
	if (err <= 0 || (size_t)err >= sizeof(errno_names) / sizeof(errno_names[0]))
		return NULL;
	return errno_names[err];
}

/* x86_64 values, in the order of strace's src/xlat/mmap_prot.in. */
static const struct xlat prot_xlat[] = {
	{ 0x0, "PROT_NONE" },		{ 0x1, "PROT_READ" }, { 0x2, "PROT_WRITE" },
	{ 0x4, "PROT_EXEC" },		{ 0x8, "PROT_SEM" },  { 0x01000000, "PROT_GROWSDOWN" },
	{ 0x02000000, "PROT_GROWSUP" },
};

#define MW_MAP_TYPE 0xfu
#define MW_MAP_HUGE_SHIFT 26
#define MW_MAP_HUGE_MASK (0x3fu << MW_MAP_HUGE_SHIFT)

/*
 * The values of the mapping type field (MAP_TYPE). 0 is MAP_FILE, which strace
 * prints for a call without a type; MAP_DROPPABLE (Linux 6.11) comes from
 * current strace.
 */
static const struct xlat map_type_xlat[] = {
	{ 0x0, "MAP_FILE" },	  { 0x1, "MAP_SHARED" },
	{ 0x2, "MAP_PRIVATE" },	  { 0x3, "MAP_SHARED_VALIDATE" },
	{ 0x8, "MAP_DROPPABLE" },
};

/*
 * The other flags in the order of strace's src/xlat/mmap_flags.in for x86_64,
 * which is not bit order (MAP_NORESERVE comes before MAP_GROWSDOWN).
 * MAP_UNINITIALIZED (0x4000000) is absent: it lies in the huge page size field,
 * which strace prints as a shift. MAP_ABOVE4G (Linux 6.6) is from current strace.
 */
static const struct xlat map_flag_xlat[] = {
	{ 0x10, "MAP_FIXED" },
	{ 0x20, "MAP_ANONYMOUS" },
	{ 0x40, "MAP_32BIT" },
	{ 0x80, "MAP_ABOVE4G" },
	{ 0x4000, "MAP_NORESERVE" },
	{ 0x8000, "MAP_POPULATE" },
	{ 0x10000, "MAP_NONBLOCK" },
	{ 0x100, "MAP_GROWSDOWN" },
	{ 0x800, "MAP_DENYWRITE" },
	{ 0x1000, "MAP_EXECUTABLE" },
	{ 0x2000, "MAP_LOCKED" },
	{ 0x20000, "MAP_STACK" },
	{ 0x40000, "MAP_HUGETLB" },
	{ 0x80000, "MAP_SYNC" },
	{ 0x100000, "MAP_FIXED_NOREPLACE" },
};

/* strace's src/xlat/shm_flags.in (x86_64 values, octal in the kernel headers). */
static const struct xlat shm_xlat[] = {
	{ 010000, "SHM_RDONLY" },
	{ 020000, "SHM_RND" },
	{ 040000, "SHM_REMAP" },
	{ 0100000, "SHM_EXEC" },
};

static const struct xlat mremap_xlat[] = {
	{ 0x1, "MREMAP_MAYMOVE" },
	{ 0x2, "MREMAP_FIXED" },
	{ 0x4, "MREMAP_DONTUNMAP" },
};

#define MW_MREMAP_MAYMOVE 0x1
#define MW_MREMAP_FIXED 0x2
#define MW_MREMAP_DONTUNMAP 0x4

/* include/uapi/asm-generic/mman-common.h as of Linux 6.18 (x86_64 values). */
static const struct xlat madv_xlat[] = {
	{ 0, "MADV_NORMAL" },	       { 1, "MADV_RANDOM" },
	{ 2, "MADV_SEQUENTIAL" },      { 3, "MADV_WILLNEED" },
	{ 4, "MADV_DONTNEED" },	       { 8, "MADV_FREE" },
	{ 9, "MADV_REMOVE" },	       { 10, "MADV_DONTFORK" },
	{ 11, "MADV_DOFORK" },	       { 12, "MADV_MERGEABLE" },
	{ 13, "MADV_UNMERGEABLE" },    { 14, "MADV_HUGEPAGE" },
	{ 15, "MADV_NOHUGEPAGE" },     { 16, "MADV_DONTDUMP" },
	{ 17, "MADV_DODUMP" },	       { 18, "MADV_WIPEONFORK" },
	{ 19, "MADV_KEEPONFORK" },     { 20, "MADV_COLD" },
	{ 21, "MADV_PAGEOUT" },	       { 22, "MADV_POPULATE_READ" },
	{ 23, "MADV_POPULATE_WRITE" }, { 24, "MADV_DONTNEED_LOCKED" },
	{ 25, "MADV_COLLAPSE" },       { 100, "MADV_HWPOISON" },
	{ 101, "MADV_SOFT_OFFLINE" },  { 102, "MADV_GUARD_INSTALL" },
	{ 103, "MADV_GUARD_REMOVE" },
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *xlat_find(const struct xlat *x, size_t n, uint64_t val)
{
	for (size_t i = 0; i < n; i++)
		if (x[i].val == val)
			return x[i].name;
	return NULL;
}

/* strace's printxval: the name, or the value in hex and a comment naming dflt. */
static void sb_xval(struct sbuf *sb, const struct xlat *x, size_t n, uint64_t val, const char *dflt)
{
	const char *name = xlat_find(x, n, val);

	if (name)
		sb_puts(sb, name);
	else
		sb_printf(sb, "%#" PRIx64 " /* %s */", val, dflt);
}

/*
 * strace's printflags_ex: the names of the set flags in table order, then the
 * bits left over as one hex value. A zero-valued entry is printed only for a
 * zero value. With nothing named the hex value stands alone, with a comment
 * naming dflt when there is one; 0 with no zero-valued entry prints "0" when
 * dflt is set.
 */
static void sb_flags(struct sbuf *sb, const struct xlat *x, size_t n, uint64_t flags,
		     const char *dflt)
{
	unsigned int named = 0;

	for (size_t i = 0; i < n && (flags || !named); i++) {
		uint64_t v = x[i].val;

		if (flags == v || (v && (flags & v) == v)) {
			if (named++)
				sb_puts(sb, "|");
			sb_puts(sb, x[i].name);
			flags &= ~v;
		}
		if (!flags)
			break;
	}
	if (named) {
		if (flags)
			sb_printf(sb, "|%#" PRIx64, flags);
	} else if (flags) {
		sb_printf(sb, "%#" PRIx64, flags);
		if (dflt)
			sb_printf(sb, " /* %s */", dflt);
	} else if (dflt) {
		sb_puts(sb, "0");
	}
}

static void sb_addr(struct sbuf *sb, uint64_t addr)
{
	if (addr)
		sb_printf(sb, "%#" PRIx64, addr);
	else
		sb_puts(sb, "NULL");
}

static void sb_prot(struct sbuf *sb, uint64_t prot)
{
	sb_flags(sb, prot_xlat, ARRAY_LEN(prot_xlat), prot, "PROT_???");
}

/*
 * strace 6.1's print_mmap_flags. It clears the huge page field with a 32-bit
 * mask, which drops the upper half of the flags; the kernel ignores those bits
 * for every type but MAP_SHARED_VALIDATE, so we keep strace's output.
 */
static void sb_mmap_flags(struct sbuf *sb, uint64_t flags64)
{
	uint32_t flags = (uint32_t)flags64;
	uint32_t huge = flags & MW_MAP_HUGE_MASK;

	sb_xval(sb, map_type_xlat, ARRAY_LEN(map_type_xlat), flags & MW_MAP_TYPE, "MAP_???");
	flags &= ~(MW_MAP_TYPE | MW_MAP_HUGE_MASK);
	if (flags) {
		sb_puts(sb, "|");
		sb_flags(sb, map_flag_xlat, ARRAY_LEN(map_flag_xlat), flags, NULL);
	}
	if (huge)
		sb_printf(sb, "|%u<<MAP_HUGE_SHIFT", huge >> MW_MAP_HUGE_SHIFT);
}

static void sb_mremap_flags(struct sbuf *sb, uint64_t flags)
{
	sb_flags(sb, mremap_xlat, ARRAY_LEN(mremap_xlat), flags, "MREMAP_???");
}

static void sb_madvise(struct sbuf *sb, uint64_t advice)
{
	/* madvise's behavior is an int: strace and the kernel read 32 bits. */
	sb_xval(sb, madv_xlat, ARRAY_LEN(madv_xlat), (uint32_t)advice, "MADV_???");
}

static void sb_shm_flags(struct sbuf *sb, uint64_t flags)
{
	/* shmflg is an int: strace prints its 32 bits. */
	sb_flags(sb, shm_xlat, ARRAY_LEN(shm_xlat), (uint32_t)flags, "SHM_???");
}

int mw_fmt_shm_flags(char *buf, size_t sz, uint64_t flags)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_shm_flags(&sb, flags);
	return sb_ret(&sb);
}

int mw_fmt_prot(char *buf, size_t sz, uint64_t prot)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_prot(&sb, prot);
	return sb_ret(&sb);
}

int mw_fmt_mmap_flags(char *buf, size_t sz, uint64_t flags)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_mmap_flags(&sb, flags);
	return sb_ret(&sb);
}

int mw_fmt_mremap_flags(char *buf, size_t sz, uint64_t flags)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_mremap_flags(&sb, flags);
	return sb_ret(&sb);
}

int mw_fmt_madvise(char *buf, size_t sz, uint64_t advice)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_madvise(&sb, advice);
	return sb_ret(&sb);
}

int mw_fmt_addr(char *buf, size_t sz, uint64_t addr)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_addr(&sb, addr);
	return sb_ret(&sb);
}

int mw_fmt_syscall_args(char *buf, size_t sz, const struct mw_syscall_ev *sc)
{
	const uint64_t *a = sc->args;
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	switch (sc->sys) {
	case MW_SYS_BRK: sb_addr(&sb, a[0]); break;
	case MW_SYS_MMAP:
		sb_addr(&sb, a[0]);
		sb_printf(&sb, ", %" PRIu64 ", ", a[1]);
		sb_prot(&sb, a[2]);
		sb_puts(&sb, ", ");
		sb_mmap_flags(&sb, a[3]);
		/* The fd is an int in the kernel: 0xffffffff is -1. */
		sb_printf(&sb, ", %d, %#" PRIx64, (int)(uint32_t)a[4], a[5]);
		break;
	case MW_SYS_MUNMAP:
		sb_addr(&sb, a[0]);
		sb_printf(&sb, ", %" PRIu64, a[1]);
		break;
	case MW_SYS_MPROTECT:
	case MW_SYS_PKEY_MPROTECT:
		sb_addr(&sb, a[0]);
		sb_printf(&sb, ", %" PRIu64 ", ", a[1]);
		sb_prot(&sb, a[2]);
		/* The key is an int (-1: none, as plain mprotect). */
		if (sc->sys == MW_SYS_PKEY_MPROTECT)
			sb_printf(&sb, ", %d", (int)(uint32_t)a[3]);
		break;
	case MW_SYS_SHMAT:
		/* The id is an int. */
		sb_printf(&sb, "%d, ", (int)(uint32_t)a[0]);
		sb_addr(&sb, a[1]);
		sb_puts(&sb, ", ");
		sb_shm_flags(&sb, a[2]);
		break;
	case MW_SYS_SHMDT: sb_addr(&sb, a[0]); break;
	case MW_SYS_MREMAP:
		sb_addr(&sb, a[0]);
		sb_printf(&sb, ", %" PRIu64 ", %" PRIu64 ", ", a[1], a[2]);
		sb_mremap_flags(&sb, a[3]);
		/* The kernel reads new_address only for a move to a given place
		 * (MREMAP_FIXED) or as a hint for MREMAP_DONTUNMAP, both of which
		 * need MREMAP_MAYMOVE; strace prints it in the same cases. */
		if ((a[3] & MW_MREMAP_MAYMOVE) &&
		    (a[3] & (MW_MREMAP_FIXED | MW_MREMAP_DONTUNMAP))) {
			sb_puts(&sb, ", ");
			sb_addr(&sb, a[4]);
		}
		break;
	case MW_SYS_MADVISE:
		sb_addr(&sb, a[0]);
		sb_printf(&sb, ", %" PRIu64 ", ", a[1]);
		sb_madvise(&sb, a[2]);
		break;
	default: break;
	}
	return sb_ret(&sb);
}

/*
 * glibc's strerror text for the C locale, without strerror's static buffer or
 * locale dependence: strace prints strerror() and runs in the C locale too.
 */
static void sb_strerror(struct sbuf *sb, int err)
{
	const char *desc = strerrordesc_np(err);

	if (desc)
		sb_puts(sb, desc);
	else
		sb_printf(sb, "Unknown error %d", err);
}

int mw_fmt_syscall_ret(char *buf, size_t sz, const struct mw_syscall_ev *sc)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	if (mw_ret_is_error(sc->ret)) {
		int err = (int)-sc->ret;
		const char *name = mw_errno_name(err);

		/* strace's own words for the restart codes: the call did not fail,
		 * it will be restarted or turn into EINTR after a signal. */
		switch (err) {
		case 512:
			sb_puts(&sb, "? ERESTARTSYS (To be restarted if SA_RESTART is set)");
			break;
		case 513: sb_puts(&sb, "? ERESTARTNOINTR (To be restarted)"); break;
		case 514: sb_puts(&sb, "? ERESTARTNOHAND (To be restarted if no handler)"); break;
		case 516: sb_puts(&sb, "? ERESTART_RESTARTBLOCK (Interrupted by signal)"); break;
		default:
			if (name) {
				sb_printf(&sb, "-1 %s (", name);
				sb_strerror(&sb, err);
				sb_puts(&sb, ")");
			} else {
				sb_printf(&sb, "-1 (errno %d)", err);
			}
			break;
		}
		return sb_ret(&sb);
	}
	switch (sc->sys) {
	case MW_SYS_BRK:
	case MW_SYS_MMAP:
	case MW_SYS_MREMAP:
	case MW_SYS_SHMAT: sb_printf(&sb, "%#" PRIx64, (uint64_t)sc->ret); break;
	default: sb_printf(&sb, "%" PRId64, sc->ret); break;
	}
	return sb_ret(&sb);
}

static const char size_units[] = "KMGTPE";

/* Rounds n / d to the nearest integer, halves up; n * 10 of any int64 fits. */
static uint64_t div_round(unsigned __int128 n, uint64_t d)
{
	return (uint64_t)((n + d / 2) / d);
}

static void sb_size(struct sbuf *sb, int64_t bytes, bool plus)
{
	/* Two's complement: the magnitude of INT64_MIN fits in a uint64_t. */
	uint64_t mag = bytes < 0 ? -(uint64_t)bytes : (uint64_t)bytes;
	uint64_t unit = 1;

	if (bytes < 0)
		sb_puts(sb, "-");
	else if (plus && bytes > 0)
		sb_puts(sb, "+");
	if (mag < 1024) {
		sb_printf(sb, "%" PRIu64, mag);
		return;
	}
	/* Pick the smallest unit whose rounded value stays below 1024, so that
	 * 1023.9K is "1.0M" and never "1024K". */
	for (int i = 0; size_units[i]; i++) {
		uint64_t tenths, whole;

		unit *= 1024;
		tenths = div_round((unsigned __int128)mag * 10, unit);
		if (tenths < 100) {
			sb_printf(sb, "%" PRIu64 ".%" PRIu64 "%c", tenths / 10, tenths % 10,
				  size_units[i]);
			return;
		}
		whole = div_round(mag, unit);
		if (whole < 1024 || !size_units[i + 1]) {
			sb_printf(sb, "%" PRIu64 "%c", whole, size_units[i]);
			return;
		}
	}
}

int mw_fmt_size(char *buf, size_t sz, int64_t bytes)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_size(&sb, bytes, false);
	return sb_ret(&sb);
}

int mw_fmt_delta(char *buf, size_t sz, int64_t bytes)
{
	struct sbuf sb;

	sb_init(&sb, buf, sz);
	sb_size(&sb, bytes, true);
	return sb_ret(&sb);
}

int mw_fmt_clock(char *buf, size_t sz, uint64_t ts_ns)
{
	time_t secs = (time_t)(ts_ns / 1000000000u);
	unsigned int usec = (unsigned int)(ts_ns % 1000000000u / 1000u);
	struct sbuf sb;
	struct tm tm;

	sb_init(&sb, buf, sz);
	if (!localtime_r(&secs, &tm)) {
		sb_printf(&sb, "%" PRIu64 ".%06u", (uint64_t)secs, usec);
		return sb_ret(&sb);
	}
	sb_printf(&sb, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
	return sb_ret(&sb);
}

const char *mw_usdt_name(enum mw_usdt_probe probe)
{
	static const char *const names[MW_USDT_COUNT] = {
		[MW_USDT_ARENA_NEW] = "memory_arena_new",
		[MW_USDT_ARENA_REUSE] = "memory_arena_reuse",
		[MW_USDT_ARENA_REUSE_FREE_LIST] = "memory_arena_reuse_free_list",
		[MW_USDT_HEAP_NEW] = "memory_heap_new",
		[MW_USDT_HEAP_MORE] = "memory_heap_more",
		[MW_USDT_HEAP_LESS] = "memory_heap_less",
		[MW_USDT_HEAP_FREE] = "memory_heap_free",
		[MW_USDT_SBRK_MORE] = "memory_sbrk_more",
		[MW_USDT_SBRK_LESS] = "memory_sbrk_less",
	};

	return probe < MW_USDT_COUNT && names[probe] ? names[probe] : "?";
}
