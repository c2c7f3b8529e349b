// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The one UTF-8 validator. See utf8.h. */
#include "utf8.h"

size_t mw_utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c, lo = 0x80, hi = 0xbf;
	size_t len;

	if (!avail)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		return 0; /* a continuation byte, an overlong lead (c0, c1), or past f4 */
	}
	if (len > avail || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

uint32_t mw_utf8_cp(const unsigned char *s, size_t len)
{
	static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp;

	if (!len || len > 4)
		return 0;
	cp = s[0] & lead_mask[len];
	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	return cp;
}
