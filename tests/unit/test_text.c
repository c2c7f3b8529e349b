// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The text escaper (base/text.h), and the text output of names a hostile target chose. */
#include <stdlib.h>
#include "base/text.h"
#include "session/output.h"
#include "malloc/leak.h"
#include "malloc/leak_output.h"
#include "unit.h"

static const char *q(const char *s)
{
	static char out[MW_TEXT_ROOM(256)];

	return mw_text_quote(out, sizeof(out), s, 256);
}

TEST(text_plain_names_print_as_they_are)
{
	CHECK_EQ_STR(q("memcached"), "memcached");
	CHECK_EQ_STR(q("worker 1 [x]"), "worker 1 [x]");
	CHECK_EQ_STR(q("/usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)"),
		     "/usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)");
	CHECK_EQ_STR(q("caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x90\xa7"),
		     "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x90\xa7");
	CHECK_EQ_STR(q(""), "");
	CHECK(mw_text_plain("abc", 3));
	CHECK(!mw_text_plain("a\"b", 3));
}

TEST(text_escapes_like_strace)
{
	/* A newline would forge a line; quotes and backslashes make the quoting unambiguous. */
	CHECK_EQ_STR(q("a\n] +++ x"), "\"a\\n] +++ x\"");
	CHECK_EQ_STR(q("t\tr\r"), "\"t\\tr\\r\"");
	CHECK_EQ_STR(q("say \"hi\""), "\"say \\\"hi\\\"\"");
	CHECK_EQ_STR(q("back\\slash"), "\"back\\\\slash\"");
	/* Terminal escapes: ESC, BEL, DEL. */
	CHECK_EQ_STR(q("\x1b[2J\x1b]0;pwn\x07"), "\"\\x1b[2J\\x1b]0;pwn\\x07\"");
	CHECK_EQ_STR(q("del\x7f"), "\"del\\x7f\"");
	/* Invalid UTF-8: a surrogate, past U+10FFFF, an overlong '/', a lone continuation. */
	CHECK_EQ_STR(q("s\xed\xa0\x80"), "\"s\\xed\\xa0\\x80\"");
	CHECK_EQ_STR(q("\xf4\x90\x80\x80"), "\"\\xf4\\x90\\x80\\x80\"");
	CHECK_EQ_STR(q("\xc0\xaf"), "\"\\xc0\\xaf\"");
	CHECK_EQ_STR(q("\x80z"), "\"\\x80z\"");
	/* Valid but acted on by terminals: C1 CSI, RIGHT-TO-LEFT OVERRIDE, LINE SEPARATOR. */
	CHECK_EQ_STR(q("\xc2\x9b"
		       "31m"),
		     "\"\\xc2\\x9b31m\"");
	CHECK_EQ_STR(q("ab\xe2\x80\xae"
		       "cd"),
		     "\"ab\\xe2\\x80\\xaecd\"");
	CHECK_EQ_STR(q("\xe2\x80\xa8"), "\"\\xe2\\x80\\xa8\"");
	/* Valid characters stay whole inside a quoted name. */
	CHECK_EQ_STR(q("\xc3\xa9\n"), "\"\xc3\xa9\\n\"");
}

TEST(text_escape_bounds)
{
	char out[8];
	static const char comm[16] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h',
				       'i', 'j', 'k', 'l', 'm', 'n', 'o', '\n' };

	/* n bytes only (comm[16] need not end in a NUL). */
	{
		char big[MW_TEXT_ROOM(16)];

		CHECK_EQ_STR(mw_text_quote(big, sizeof(big), comm, 16), "\"abcdefghijklmno\\n\"");
		CHECK_EQ_STR(mw_text_quote(big, sizeof(big), "abcdef", 3), "abc");
	}
	/* Too small: whole escapes only, the closing quote kept. */
	CHECK_EQ_STR(mw_text_quote(out, sizeof(out), "\x1b\x1b\x1b", 3), "\"\\x1b\"");
	CHECK_EQ_STR(mw_text_quote(out, sizeof(out), "abcdefghij", 10), "abcdefg");
	/* A plain name cut at a character boundary. */
	CHECK_EQ_STR(mw_text_quote(out, 6, "abc\xe2\x82\xac", 6), "abc");
	CHECK_EQ_STR(mw_text_quote(out, 3, "\n", 1), "\"\"");
	CHECK_EQ_STR(mw_text_quote(out, 2, "\n", 1), "");
}

TEST(text_folded_names)
{
	char out[MW_TEXT_ROOM(64)];

	CHECK_EQ_STR(mw_text_esc_folded(out, sizeof(out), "operator new(unsigned long)", 64),
		     "operator_new(unsigned_long)");
	CHECK_EQ_STR(mw_text_esc_folded(out, sizeof(out), "a;b\nc 12\x1b\"", 64),
		     "a_b\\nc_12\\x1b\"");
}

/* The text trace with names a hostile target chose: one line per record, nothing raw. */
TEST(text_output_does_not_forge_lines)
{
	struct mw_output o = { .json = false };
	struct mw_process p = { .pid = 7 };
	struct mw_thread t = { .tid = 7 };
	struct mw_event ev = { .kind = MW_EV_RENAME, .pid = 7, .tid = 7 };
	struct mw_apply a = { .proc = &p, .thread = &t };
	char *buf = NULL;
	size_t len = 0, lines = 0;

	memcpy(ev.comm, "a\n] +++ x\x1b[2J", 14);
	memcpy(ev.task.child_comm, "b\"\n--- fake ---", 15);
	memcpy(p.comm, "c\xed\xa0\x80\n", 6);
	memcpy(t.comm, "d\r\n!!! y", 8);
	p.threads = &t;
	p.nthreads = 1;
	t.counts.calls[MW_SYS_MMAP] = 1; /* a thread with calls has rows in both tables */
	o.f = open_memstream(&buf, &len);
	mw_out_event(&o, &ev, &a);
	ev.kind = MW_EV_EXEC;
	mw_out_event(&o, &ev, &a);
	mw_out_process(&o, 1, &p);
	fclose(o.f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		lines += c == '\n';
		CHECK(c == '\n' || (c >= 0x20 && c < 0x7f));
	}
	/* rename, exec; the process table: a blank line, the header line, and two tables of a
	 * head and one row each. */
	CHECK_EQ_INT(lines, 2 + 6);
	CHECK(strstr(buf, "renamed to \"b\\\"\\n--- fake ---\" ---\n"));
	CHECK(strstr(buf, "[7/7 \"a\\n] +++ x\\x1b[2J\"] +++ exec"));
	CHECK(strstr(buf, "(\"c\\xed\\xa0\\x80\\n\")"));
	CHECK(strstr(buf, "\"d\\r\\n!!! y\""));
	free(buf);
}

/* Leak reports print symbol and file names from the target's own files. */
TEST(text_leak_frames_escaped)
{
	struct mw_output o = { .json = false };
	struct mw_frame fr = { .func = "f\n  #2 forged", .file = "x\x1b[31m.c", .line = 3 };
	struct mw_leak l;
	struct mw_leak_row *rows;
	char *buf = NULL;
	size_t len = 0;
	uint64_t ip = 0x401000;
	bool fresh;
	uint32_t s;
	long n;

	CHECK_EQ_INT(mw_leak_init(&l, 16, 16), 0);
	s = mw_leak_stack(&l, 7, &ip, 1, &fresh);
	l.stacks[s].frames = &fr;
	mw_leak_alloc(&l, &(struct mw_block){ .addr = 0x1000,
					      .size = 10,
					      .ts_ns = 1,
					      .pid = 7,
					      .stack = s,
					      .weight = 1 });
	n = mw_leak_aggregate(&l, 7, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 1);
	o.f = open_memstream(&buf, &len);
	mw_out_leaks(&o, 1, &l, rows, rows, 1, 0, 10, false, false);
	fclose(o.f);
	CHECK(strstr(buf, "\"f\\n  #2 forged\"  \"x\\x1b[31m.c\":3\n"));
	for (size_t i = 0; i < len; i++)
		CHECK(buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] < 0x7f));
	l.stacks[s].frames = NULL;
	free(buf);
	free(rows);
	mw_leak_destroy(&l);
}

/* A syscall's known effect on resident memory: " rss-..." after "vm..." in the text line, the
 * signed sum and its parts in NDJSON; unknown: neither. */
TEST(syscall_rss_delta_in_text_and_json)
{
	struct mw_output o = { .json = false };
	struct mw_process p = { .pid = 7 };
	struct mw_thread t = { .tid = 7 };
	struct mw_event ev = { .kind = MW_EV_SYSCALL, .pid = 7, .tid = 7 };
	struct mw_apply a = { .proc = &p, .thread = &t, .vm_delta = -(1 << 20) };
	char *buf = NULL;
	size_t len = 0;

	ev.sc.sys = MW_SYS_MUNMAP;
	ev.sc.args[0] = 0x10000;
	ev.sc.args[1] = 1 << 20;
	ev.sc.rss_known = true;
	ev.sc.rss_anon = -(1 << 20) + 8192;
	ev.sc.rss_file = -4096;
	ev.sc.rss_delta = ev.sc.rss_anon + ev.sc.rss_file;
	o.f = open_memstream(&buf, &len);
	mw_out_event(&o, &ev, &a);
	o.json = true;
	mw_out_event(&o, &ev, &a);
	ev.sc.rss_known = false;
	mw_out_event(&o, &ev, &a);
	fclose(o.f);
	CHECK(strstr(buf, " = 0 vm-1.0M rss-1020K\n"));
	CHECK(strstr(buf,
		     "\"vm_delta\":-1048576,\"rss_delta\":-1044480,\"rss_delta_anon\":-1040384,"
		     "\"rss_delta_file\":-4096,\"rss_delta_shmem\":0}\n"));
	/* The last line, unknown: no key at all. */
	CHECK(strstr(buf, "\"vm_delta\":-1048576}\n"));
	free(buf);
}
