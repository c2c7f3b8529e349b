// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#ifndef MW_VMLINUX_BTF_H
#define MW_VMLINUX_BTF_H

/*
 * The kernel's BTF file, as the path CO-RE relocations are resolved against (NULL where
 * there is none: libbpf then finds it itself). Named explicitly, libbpf looks in vmlinux
 * alone: it never walks the modules' BTF, which needs CAP_SYS_ADMIN (Debian 12's libbpf
 * fails the load on EPERM there rather than skipping it), and memwatch's programs use
 * no module type. A type that exists only on some kernels (an older layout's ___flavour)
 * would otherwise send it there.
 */
const char *mw_vmlinux_btf_path(void);

#endif /* MW_VMLINUX_BTF_H */
