/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The text escaper: bytes a traced process chose (thread names, mapping and
 * file names, symbol names) printed in memwatch's text output, as strace
 * prints strings. A name made only of printable characters is printed as it
 * is; any other is printed in double quotes with '"' and '\' escaped, \n, \t
 * and \r as such, and every other byte that is not part of a printable UTF-8
 * character as \xNN. So no name can end a line, move the cursor or talk to
 * the operator's terminal, and a quoted name is never mistaken for a plain
 * one (a plain name has no '"').
 *
 * Printable: ASCII 0x20..0x7e, and valid UTF-8 (mw_utf8_len) other than the
 * C1 controls (U+0080..U+009F), the line and paragraph separators
 * (U+2028, U+2029) and the bidirectional controls (U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069), which reorder what a terminal shows.
 */
#ifndef MW_TEXT_H
#define MW_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Room for the escaped form of n bytes (quotes and NUL included). */
#define MW_TEXT_ROOM(n) (4 * (n) + 3)
/* The longest mapping or file name escaped whole: a path (PATH_MAX) and " (deleted)". */
#define MW_TEXT_NAME_MAX 4200

/* Length of the printable character at s (0 when it is not one); see above. */
size_t mw_text_char_len(const unsigned char *s, size_t avail);
/* Whether up to n bytes of s (or up to a NUL) print as they are. */
bool mw_text_plain(const char *s, size_t n);
/*
 * Up to n bytes of s (or up to a NUL) into out (outsz bytes, always NUL
 * terminated): as they are when plain, else quoted and escaped. Returns out.
 * An out too small gets a prefix of the escaped text that still ends in a
 * whole escape (and a closing quote when quoted).
 */
char *mw_text_quote(char *out, size_t outsz, const char *s, size_t n);
/*
 * The same escapes without the quotes and with '"' left as it is, and ' ' and
 * ';' (the separators of the folded stack format) as '_'. Returns out.
 */
char *mw_text_esc_folded(char *out, size_t outsz, const char *s, size_t n);
/*
 * One frame of a collapsed stack (--folded: "main;f;g 4096\n", outermost first): up to n
 * bytes (at most 256) of name escaped as above, after a ';' unless it is the first. The
 * writer ends the line with " VALUE\n".
 */
void mw_text_folded_frame(FILE *f, const char *name, size_t n, bool first);

#endif /* MW_TEXT_H */
