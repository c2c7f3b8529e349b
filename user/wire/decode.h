/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Ring-buffer record (either ring) -> typed event: the one reader of the
 * record layout. Pure; validates sizes and types. */
#ifndef MW_DECODE_H
#define MW_DECODE_H

#include <stddef.h>
#include "event.h"

struct mw_decode_ctx {
	int64_t mono_to_epoch_ns; /* add to CLOCK_MONOTONIC to get Unix epoch ns */
	uint64_t page_size;
};

/* 0, or -EINVAL for a record that is too short or of an unknown type. */
int mw_decode(const struct mw_decode_ctx *ctx, const void *data, size_t size, struct mw_event *ev);

#endif /* MW_DECODE_H */
