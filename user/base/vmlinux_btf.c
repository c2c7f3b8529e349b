// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The kernel's BTF file, for the BPF objects' CO-RE relocations. */
#include <unistd.h>
#include "vmlinux_btf.h"

const char *mw_vmlinux_btf_path(void)
{
	static const char path[] = "/sys/kernel/btf/vmlinux";

	return access(path, R_OK) == 0 ? path : NULL;
}
