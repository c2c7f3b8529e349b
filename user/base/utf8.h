/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one UTF-8 validator: every escaper (JSON, Prometheus, text) asks it
 * whether bytes a traced process chose (thread and mapping names) are text.
 */
#ifndef MW_UTF8_H
#define MW_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the valid UTF-8 character at s (at most avail bytes): 1 for an
 * ASCII byte, 2 to 4 for a multi-byte character, 0 when s does not start a
 * valid one. Strict as RFC 3629: overlong forms, UTF-16 surrogates
 * (U+D800..U+DFFF) and code points past U+10FFFF are invalid, so that no
 * consumer (a JSON parser, Prometheus) ever refuses what memwatch writes.
 */
size_t mw_utf8_len(const unsigned char *s, size_t avail);
/* The code point of the valid character of len bytes at s (len from mw_utf8_len). */
uint32_t mw_utf8_cp(const unsigned char *s, size_t len);

#endif /* MW_UTF8_H */
