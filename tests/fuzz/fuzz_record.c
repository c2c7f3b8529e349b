// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A recording (--replay) through the whole session, as a crafted file would go: the reader
 * (wire/record.c), the decoder, the model, the allocator analysis, the --malloc ledger and
 * both output formats. Any sanitizer report is a bug; a refusal is fine.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "base/options.h"
#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64];
	struct mw_config cfg = {
		.out_path = "/dev/null",
		.maps_at_exit = true,
	};

	if (fd < 0)
		fd = memfd_create("fuzz_record", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cfg.replay_path = path;
	/* The last byte picks the output: NDJSON or text, summaries only or not. */
	if (size) {
		cfg.json = data[size - 1] & 1;
		cfg.summary_only = data[size - 1] & 2;
		cfg.show_dur = data[size - 1] & 4;
	}
	mw_replay_run(&cfg);
	return 0;
}
