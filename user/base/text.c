// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The text escaper. See text.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "text.h"
#include "utf8.h"

static bool invisible(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t mw_text_char_len(const unsigned char *s, size_t avail)
{
	size_t len = mw_utf8_len(s, avail);

	if (len == 1)
		return s[0] >= 0x20 && s[0] < 0x7f ? 1 : 0;
	if (len && invisible(mw_utf8_cp(s, len)))
		return 0;
	return len;
}

bool mw_text_plain(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n && s[i];) {
		size_t len = mw_text_char_len(s + i, n - i);

		if (!len || s[i] == '"' || s[i] == '\\')
			return false;
		i += len;
	}
	return true;
}

/* The escape of one byte that is not part of a printable character (NUL terminated in esc). */
static void escape_byte(unsigned char c, char esc[5])
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '\n': memcpy(esc, "\\n", 3); return;
	case '\t': memcpy(esc, "\\t", 3); return;
	case '\r': memcpy(esc, "\\r", 3); return;
	case '\\': memcpy(esc, "\\\\", 3); return;
	case '"': memcpy(esc, "\\\"", 3); return;
	}
	esc[0] = '\\';
	esc[1] = 'x';
	esc[2] = hex[c >> 4];
	esc[3] = hex[c & 0xf];
	esc[4] = '\0';
}

static bool needs_escape(unsigned char c, size_t len, bool folded)
{
	return !len || c == '\\' || (!folded && c == '"');
}

/* Writes the escaped form of up to n bytes of s (or up to a NUL) into out, as much as fits
 * with room for tail more bytes and a NUL, whole pieces only; returns its length. */
static size_t escape(char *out, size_t outsz, size_t tail, const unsigned char *s, size_t n,
		     bool folded)
{
	size_t o = 0;

	for (size_t i = 0; i < n && s[i];) {
		size_t len = mw_text_char_len(s + i, n - i);
		const char *piece = (const char *)s + i;
		char esc[5];

		if (folded && (s[i] == ' ' || s[i] == ';')) {
			/* The folded format's separators: as flamegraph tools expect. */
			esc[0] = '_';
			esc[1] = '\0';
			piece = esc;
			len = 1;
		} else if (needs_escape(s[i], len, folded)) {
			escape_byte(s[i], esc);
			piece = esc;
			len = 1;
		}
		{
			size_t plen = piece == esc ? strlen(esc) : len;

			if (o + plen + tail + 1 > outsz)
				break;
			memcpy(out + o, piece, plen);
			o += plen;
		}
		i += len;
	}
	return o;
}

char *mw_text_quote(char *out, size_t outsz, const char *s, size_t n)
{
	size_t o;

	if (!outsz)
		return out;
	if (mw_text_plain(s, n)) {
		o = escape(out, outsz, 0, (const unsigned char *)s, n, false);
		out[o] = '\0';
		return out;
	}
	if (outsz < 3) {
		out[0] = '\0';
		return out;
	}
	out[0] = '"';
	o = 1 + escape(out + 1, outsz - 1, 1, (const unsigned char *)s, n, false);
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

char *mw_text_esc_folded(char *out, size_t outsz, const char *s, size_t n)
{
	size_t o;

	if (!outsz)
		return out;
	o = escape(out, outsz, 0, (const unsigned char *)s, n, true);
	out[o] = '\0';
	return out;
}

void mw_text_folded_frame(FILE *f, const char *name, size_t n, bool first)
{
	char esc[MW_TEXT_ROOM(256)];

	/* ';' separates frames, ' ' ends the stack and a newline the record in the folded
	 * format: the first two become '_', what is not printable is escaped as in the text
	 * output. */
	mw_text_esc_folded(esc, sizeof(esc), name, n < 256 ? n : 256);
	fprintf(f, "%s%s", first ? "" : ";", esc);
}
