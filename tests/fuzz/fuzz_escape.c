// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The escapers of names a traced process chose, each checked for what it promises: JSON
 * (base/json.c) and Prometheus (monitor/metrics.c) output is valid UTF-8 without a raw control
 * character, so one line stays one line; the text escaper (base/text.c) prints only printable
 * characters and reads back to the bytes it was given; the folded form has no separator left.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/json.h"
#include "base/text.h"
#include "base/utf8.h"
#include "ledger/model.h"
#include "monitor/metrics.h"

/* Valid UTF-8 with no C0 control (but the newlines the format puts between records). */
static void check_utf8(const char *s, size_t n, size_t lines)
{
	size_t nl = 0;

	for (size_t i = 0; i < n;) {
		size_t len = mw_utf8_len((const unsigned char *)s + i, n - i);

		if (!len || ((unsigned char)s[i] < 0x20 && s[i] != '\n'))
			abort();
		nl += s[i] == '\n';
		i += len;
	}
	if (lines && nl != lines)
		abort();
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The text escaper's output read back (quoted or plain) into out; its length. */
static size_t unquote(const char *q, char *out)
{
	size_t n = strlen(q), o = 0;

	if (!n || q[0] != '"') {
		memcpy(out, q, n);
		return n;
	}
	if (n < 2 || q[n - 1] != '"')
		abort();
	for (size_t i = 1; i < n - 1; i++) {
		if (q[i] == '"')
			abort(); /* a quote inside must be escaped */
		if (q[i] != '\\') {
			out[o++] = q[i];
			continue;
		}
		switch (q[++i]) {
		case 'n': out[o++] = '\n'; break;
		case 't': out[o++] = '\t'; break;
		case 'r': out[o++] = '\r'; break;
		case '\\': out[o++] = '\\'; break;
		case '"': out[o++] = '"'; break;
		case 'x':
			if (unhex(q[i + 1]) < 0 || unhex(q[i + 2]) < 0)
				abort();
			out[o++] = (char)(unhex(q[i + 1]) << 4 | unhex(q[i + 2]));
			i += 2;
			break;
		default: abort();
		}
	}
	return o;
}

static void text(const char *s, size_t n)
{
	size_t len = strnlen(s, n), room = MW_TEXT_ROOM(len), back;
	char *q = malloc(room), *u = malloc(len + 1), *f = malloc(room);

	if (!q || !u || !f)
		goto out;
	mw_text_quote(q, room, s, n);
	for (size_t i = 0; q[i];) {
		size_t l = mw_text_char_len((const unsigned char *)q + i, strlen(q + i));

		if (!l)
			abort(); /* only printable characters come out */
		i += l;
	}
	back = unquote(q, u);
	if (back != len || memcmp(u, s, len))
		abort();
	mw_text_esc_folded(f, room, s, n);
	if (strpbrk(f, " ;\n"))
		abort();
out:
	free(q);
	free(u);
	free(f);
}

/* The input as a C string: strndup would do, but under strict_string_checks ASan reads the
 * source up to its NUL, past the fuzzer's buffer. */
static char *dup_n(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = 0;
	}
	return d;
}

static void json(const char *s, size_t n)
{
	char *buf = NULL, *key = dup_n(s, n);
	size_t len = 0;
	struct mw_json j;
	FILE *f = open_memstream(&buf, &len);

	if (!f || !key) {
		free(key);
		if (f)
			fclose(f);
		return;
	}
	mw_json_begin(&j, f);
	mw_json_strn(&j, "comm", s, n);
	mw_json_str(&j, key, key); /* a key is a C string */
	mw_json_end(&j);
	fclose(f);
	check_utf8(buf, len, 1);
	free(buf);
	free(key);
}

/* A process and a thread named by the input: every line of the exposition stays one line. */
static void prometheus(const char *s, size_t n)
{
	struct mw_thread t = { .tid = 7 };
	struct mw_process p = { .pid = 7, .threads = &t, .nthreads = 1 };
	const struct mw_process *procs[1] = { &p };
	struct mw_model m = { .procs = (struct mw_process **)procs, .nprocs = 1 };
	struct mw_metrics_in in = { .model = &m };
	struct mw_buf b;
	size_t lines = 0;

	memcpy(p.comm, s, n < MW_COMM_LEN ? n : MW_COMM_LEN);
	p.comm[MW_COMM_LEN - 1] = '\0';
	if (n > MW_COMM_LEN)
		memcpy(t.comm, s + MW_COMM_LEN,
		       n - MW_COMM_LEN < MW_COMM_LEN ? n - MW_COMM_LEN : MW_COMM_LEN);
	t.comm[MW_COMM_LEN - 1] = '\0';
	mw_buf_init(&b);
	if (mw_metrics_render(&b, &in) == 0) {
		/* Every line a comment or "name{labels} value": no label value split it. */
		for (char *l = b.p; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			lines++;
			if (*l != '#' && strncmp(l, "memwatch_", 9) && strncmp(l, "process_", 8))
				abort();
		}
		check_utf8(b.p, b.len, lines);
	}
	mw_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	text(s, size);
	json(s, size);
	prometheus(s, size);
	return 0;
}
