// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The NDJSON writer, checked by comparing whole lines written to memory. */
#include <stdlib.h>
#include "base/json.h"
#include "base/utf8.h"
#include "unit.h"

/* An in-memory FILE for one test; out() closes it and returns the text. */
struct mem {
	FILE *f;
	char *text;
	size_t len;
};

static FILE *mem_open(struct mem *m)
{
	m->text = NULL;
	m->len = 0;
	m->f = open_memstream(&m->text, &m->len);
	return m->f;
}

static const char *mem_out(struct mem *m)
{
	fclose(m->f);
	m->f = NULL;
	return m->text;
}

TEST(json_empty_and_scalars)
{
	struct mem m;
	struct mw_json j;

	mw_json_begin(&j, mem_open(&m));
	mw_json_end(&j);
	CHECK_EQ_STR(mem_out(&m), "{}\n");
	free(m.text);

	mw_json_begin(&j, mem_open(&m));
	mw_json_str(&j, "type", "syscall");
	mw_json_uint(&j, "ts_ns", 1700000463123456789ull);
	mw_json_int(&j, "neg", -5);
	mw_json_int(&j, "min", INT64_MIN);
	mw_json_uint(&j, "max", UINT64_MAX);
	mw_json_addr(&j, "a", 0x7f09d0e00000);
	mw_json_addr(&j, "z", 0);
	mw_json_bool(&j, "t", true);
	mw_json_bool(&j, "f", false);
	mw_json_null(&j, "n");
	mw_json_str(&j, "s", NULL);
	mw_json_str(&j, "e", "");
	mw_json_end(&j);
	CHECK_EQ_STR(mem_out(&m), "{\"type\":\"syscall\",\"ts_ns\":1700000463123456789,\"neg\":-5,"
				  "\"min\":-9223372036854775808,\"max\":18446744073709551615,"
				  "\"a\":\"0x7f09d0e00000\",\"z\":\"0x0\",\"t\":true,\"f\":false,"
				  "\"n\":null,\"s\":null,\"e\":\"\"}\n");
	free(m.text);
}

/* The shape of a syscall record from DESIGN.md. */
TEST(json_syscall_record)
{
	struct mem m;
	struct mw_json j;

	mw_json_begin(&j, mem_open(&m));
	mw_json_str(&j, "type", "syscall");
	mw_json_uint(&j, "ts_ns", 1);
	mw_json_uint(&j, "pid", 42);
	mw_json_uint(&j, "tid", 43);
	mw_json_strn(&j, "comm", "worker", 16);
	mw_json_str(&j, "name", "mmap");
	mw_json_obj_begin(&j, "args");
	mw_json_addr(&j, "addr", 0);
	mw_json_uint(&j, "len", 134217728);
	mw_json_str(&j, "prot", "PROT_NONE");
	mw_json_str(&j, "flags", "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE");
	mw_json_int(&j, "fd", -1);
	mw_json_uint(&j, "offset", 0);
	mw_json_obj_end(&j);
	mw_json_str(&j, "ret", "0x7f5127200000");
	mw_json_uint(&j, "dur_ns", 1234);
	mw_json_int(&j, "vm_delta", 134217728);
	mw_json_end(&j);
	CHECK_EQ_STR(mem_out(&m),
		     "{\"type\":\"syscall\",\"ts_ns\":1,\"pid\":42,\"tid\":43,\"comm\":\"worker\","
		     "\"name\":\"mmap\",\"args\":{\"addr\":\"0x0\",\"len\":134217728,"
		     "\"prot\":\"PROT_NONE\",\"flags\":\"MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE\","
		     "\"fd\":-1,\"offset\":0},\"ret\":\"0x7f5127200000\",\"dur_ns\":1234,"
		     "\"vm_delta\":134217728}\n");
	free(m.text);
}

TEST(json_nesting_and_commas)
{
	struct mem m;
	struct mw_json j;

	mw_json_begin(&j, mem_open(&m));
	mw_json_obj_begin(&j, "empty");
	mw_json_obj_end(&j);
	mw_json_arr_begin(&j, "none");
	mw_json_arr_end(&j);
	mw_json_arr_begin(&j, "nums");
	mw_json_int(&j, NULL, 1);
	mw_json_int(&j, NULL, 2);
	mw_json_arr_begin(&j, NULL);
	mw_json_str(&j, NULL, "x");
	mw_json_null(&j, NULL);
	mw_json_arr_end(&j);
	mw_json_obj_begin(&j, NULL);
	mw_json_uint(&j, "k", 3);
	mw_json_obj_begin(&j, "deeper");
	mw_json_bool(&j, "b", true);
	mw_json_obj_end(&j);
	mw_json_obj_end(&j);
	mw_json_obj_begin(&j, NULL);
	mw_json_obj_end(&j);
	mw_json_arr_end(&j);
	mw_json_obj_begin(&j, "calls");
	mw_json_uint(&j, "mmap", 3);
	mw_json_uint(&j, "munmap", 1);
	mw_json_obj_end(&j);
	mw_json_uint(&j, "after", 9);
	mw_json_end(&j);
	CHECK_EQ_STR(mem_out(&m),
		     "{\"empty\":{},\"none\":[],\"nums\":[1,2,[\"x\",null],{\"k\":3,"
		     "\"deeper\":{\"b\":true}},{}],\"calls\":{\"mmap\":3,\"munmap\":1},"
		     "\"after\":9}\n");
	free(m.text);
}

TEST(json_several_lines)
{
	struct mem m;
	struct mw_json j;
	FILE *f = mem_open(&m);

	/* The writer is reused line after line: no comma leaks into the next. */
	for (int i = 0; i < 3; i++) {
		mw_json_begin(&j, f);
		mw_json_str(&j, "type", "lost");
		mw_json_int(&j, "count", i);
		mw_json_end(&j);
	}
	CHECK_EQ_STR(mem_out(&m), "{\"type\":\"lost\",\"count\":0}\n"
				  "{\"type\":\"lost\",\"count\":1}\n"
				  "{\"type\":\"lost\",\"count\":2}\n");
	free(m.text);
}

TEST(json_too_deep_becomes_null)
{
	struct mem m;
	struct mw_json j;

	mw_json_begin(&j, mem_open(&m));
	for (int i = 0; i < 7; i++)
		mw_json_arr_begin(&j, i ? NULL : "a");
	CHECK_EQ_INT(j.depth, 8);
	/* A ninth level does not fit in first[]: null, and its content dropped. */
	mw_json_obj_begin(&j, NULL);
	mw_json_int(&j, "lost", 1);
	mw_json_arr_begin(&j, "lost_too");
	mw_json_int(&j, NULL, 2);
	mw_json_arr_end(&j);
	mw_json_obj_end(&j);
	mw_json_int(&j, NULL, 3);
	for (int i = 0; i < 7; i++)
		mw_json_arr_end(&j);
	mw_json_int(&j, "b", 4);
	mw_json_end(&j);
	CHECK_EQ_STR(mem_out(&m), "{\"a\":[[[[[[[null,3]]]]]]],\"b\":4}\n");
	free(m.text);
}

static char *one_string(const char *key, const char *val, size_t n)
{
	struct mem m;
	struct mw_json j;

	mw_json_begin(&j, mem_open(&m));
	mw_json_strn(&j, key, val, n);
	mw_json_end(&j);
	mem_out(&m);
	return m.text;
}

#define CHECK_STRN(val, n, want)                        \
	do {                                            \
		char *_t = one_string("k", (val), (n)); \
		CHECK_EQ_STR(_t, "{\"k\":" want "}\n"); \
		free(_t);                               \
	} while (0)

#define CHECK_STR(val, want) CHECK_STRN((val), SIZE_MAX, want)

TEST(json_escape_ascii)
{
	CHECK_STR("plain text", "\"plain text\"");
	CHECK_STR("q\"b\\s/", "\"q\\\"b\\\\s/\"");
	CHECK_STR("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	CHECK_STR("\x01\x1b\x1f x\x7f", "\"\\u0001\\u001b\\u001f x\x7f\"");
	/* Keys are escaped the same way. */
	char *t = one_string("a\"b\n", "v", SIZE_MAX);

	CHECK_EQ_STR(t, "{\"a\\\"b\\n\":\"v\"}\n");
	free(t);
}

TEST(json_escape_utf8)
{
	/* Valid UTF-8 of every length passes through untouched. */
	CHECK_STR("caf\xc3\xa9", "\"caf\xc3\xa9\"");
	CHECK_STR("\xe2\x82\xac"
		  "1",
		  "\"\xe2\x82\xac"
		  "1\"");
	CHECK_STR("\xf0\x9f\x90\xa7", "\"\xf0\x9f\x90\xa7\"");
	CHECK_STR("\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");
	/* A lone continuation byte, and bytes that never occur in UTF-8. */
	CHECK_STR("a\x80z", "\"a\\u0080z\"");
	CHECK_STR("\xff\xfe", "\"\\u00ff\\u00fe\"");
	/* Overlong forms (C0 80 is an overlong NUL), surrogates, past U+10FFFF. */
	CHECK_STR("\xc0\x80", "\"\\u00c0\\u0080\"");
	CHECK_STR("\xc1\xbf", "\"\\u00c1\\u00bf\"");
	CHECK_STR("\xe0\x9f\xbf", "\"\\u00e0\\u009f\\u00bf\"");
	CHECK_STR("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"");
	CHECK_STR("\xf0\x8f\xbf\xbf", "\"\\u00f0\\u008f\\u00bf\\u00bf\"");
	CHECK_STR("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\"");
	CHECK_STR("\xf5\x80\x80\x80", "\"\\u00f5\\u0080\\u0080\\u0080\"");
	/* A truncated sequence: the lead byte is escaped, the rest read anew. */
	CHECK_STR("\xe2\x82"
		  "x",
		  "\"\\u00e2\\u0082x\"");
	CHECK_STR("\xc3", "\"\\u00c3\"");
	CHECK_STR("\xf0\x9f\x90", "\"\\u00f0\\u009f\\u0090\"");
	/* Invalid then valid. */
	CHECK_STR("\xc3\xc3\xa9", "\"\\u00c3\xc3\xa9\"");
	/* Valid characters a terminal acts on: escaped as the same character. */
	CHECK_STR("\xc2\x9b"
		  "2J",
		  "\"\\u009b2J\"");
	CHECK_STR("a\xe2\x80\xae"
		  "b\xe2\x80\xa8",
		  "\"a\\u202eb\\u2028\"");
}

/* The one validator every escaper uses. */
TEST(utf8_validator_is_strict)
{
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"a", 1), 1);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 4);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xe2\x82\xac", 2), 0); /* cut */
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xed\xbf\xbf", 3), 0);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xf5\x80\x80\x80", 4), 0);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xc0\xaf", 2), 0); /* overlong */
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xe0\x80\xaf", 3), 0);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xf0\x80\x80\xaf", 4), 0);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\x80", 1), 0); /* continuation */
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"\xc3\x28", 2), 0);
	CHECK_EQ_INT(mw_utf8_len((const unsigned char *)"", 0), 0);
}

TEST(json_strn_bounds)
{
	/* A thread name fills comm[16] with no NUL: exactly 16 bytes. */
	static const char comm[16] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h',
				       'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p' };
	static const char withnul[16] = "short\0garbage";
	char buf[20];

	memcpy(buf, comm, 16);
	memcpy(buf + 16, "XYZ", 4);
	CHECK_STRN(buf, 16, "\"abcdefghijklmnop\"");
	CHECK_STRN(comm, sizeof(comm), "\"abcdefghijklmnop\"");
	CHECK_STRN(withnul, sizeof(withnul), "\"short\"");
	CHECK_STRN("abc", 0, "\"\"");
	CHECK_STRN("abc", 2, "\"ab\"");
	CHECK_STRN(NULL, 16, "null");
	/* A UTF-8 sequence cut by the bound is escaped, never half-written. */
	CHECK_STRN("ab\xc3\xa9", 3, "\"ab\\u00c3\"");
	CHECK_STRN("ab\xc3\xa9", 4, "\"ab\xc3\xa9\"");
	CHECK_STRN("\xe2\x82\xac", 2, "\"\\u00e2\\u0082\"");
	/* A name cut at 15 bytes mid-character, as the kernel does to comm. */
	static const char cut[16] = "thread-\xe2\x82\xac\xe2\x82\xac\xe2\x82";

	CHECK_STRN(cut, sizeof(cut), "\"thread-\xe2\x82\xac\xe2\x82\xac\\u00e2\\u0082\"");
}

TEST(json_to_fmemopen)
{
	char buf[64];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	struct mw_json j;

	mw_json_begin(&j, f);
	mw_json_str(&j, "type", "lost");
	mw_json_uint(&j, "count", 7);
	mw_json_end(&j);
	fclose(f);
	CHECK_EQ_STR(buf, "{\"type\":\"lost\",\"count\":7}\n");
}
