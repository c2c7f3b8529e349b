/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A tiny test harness: TEST(name) { ... CHECK(...); } registers a case; the
 * runner prints "  ! file:line: expr" per failed check and then
 * "PASS unit/name" or "FAIL unit/name" per case. */
#ifndef MW_UNIT_H
#define MW_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(void);
void unit_register(const char *name, unit_fn fn);
void unit_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TEST(name)                                                     \
	static void name(void);                                        \
	__attribute__((constructor)) static void unit_reg_##name(void) \
	{                                                              \
		unit_register(#name, name);                            \
	}                                                              \
	static void name(void)

#define CHECK(cond)                                                 \
	do {                                                        \
		if (!(cond))                                        \
			unit_fail(__FILE__, __LINE__, "%s", #cond); \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                        \
	do {                                                                                      \
		long long _a = (long long)(a), _b = (long long)(b);                               \
		if (_a != _b)                                                                     \
			unit_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, _a, _b); \
	} while (0)

#define CHECK_EQ_HEX(a, b)                                                                     \
	do {                                                                                   \
		unsigned long long _a = (a), _b = (b);                                         \
		if (_a != _b)                                                                  \
			unit_fail(__FILE__, __LINE__, "%s == %s (%#llx != %#llx)", #a, #b, _a, \
				  _b);                                                         \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                   \
	do {                                                                                 \
		const char *_a = (a), *_b = (b);                                             \
		if (!_a || !_b || strcmp(_a, _b) != 0)                                       \
			unit_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b, \
				  _a ? _a : "(null)", _b ? _b : "(null)");                   \
	} while (0)

#endif /* MW_UNIT_H */
