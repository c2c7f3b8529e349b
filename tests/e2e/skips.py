# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The allow-list: the only reasons an end-to-end test may SKIP.

A test that cannot run for any other reason FAILS with that reason: a missing tool (tools/deps.sh
installs them all), no root, no BTF, no bpf(), a type memwatch stopped emitting, gdb unable to
read glibc's arena list. A skip reads as "not applicable here", so it must never be able to hide
a regression; that is why the list is short and each entry says what makes it legitimate.

Tests skip through the helpers in mw.py (mw.skip_no_sdt_glibc, mw.skip_kernel_lacks), which
accept only these reasons; tests/e2e/run.py prints the reason's key with the SKIP line and
turns a skip for any other reason into a FAIL. Add an entry only with the maintainers' agreement
and a line here saying why it cannot be a failure.
"""

ALLOWED = {
    # Debian's libc has no USDT probes; tools/glibc_sdt.sh builds one from Debian's glibc
    # source (about 20 minutes of CPU), which the test of the real probes needs. Its recorded
    # runs are replayed by the unit tests everywhere (tests/fixtures/glibc_usdt_*.rec).
    "glibc_sdt": "the probe-enabled glibc is not built (tools/glibc_sdt.sh)",
    # The suite also runs on older kernels (in VMs); a test of a feature such a kernel does
    # not have cannot run there. Only the features below, and only on a kernel older than the
    # release that brought the feature: on a newer one the skip is refused (a FAIL).
    "kernel_lacks": "a kernel feature the kernel under test lacks",
    # make check-asan runs the suite against memwatch built with ASan and UBSan
    # (MW_ASAN=1): a test of memwatch's own CPU time or memory measures the sanitizers there
    # (ASan keeps freed memory in quarantine), and a command's LD_PRELOAD of another allocator
    # reaches memwatch too, where ASan must be the first library. Never skipped otherwise.
    "asan": "memwatch is the sanitized build (make check-asan)",
}

# kernel_lacks: feature -> (the mainline release that brought it, what it is).
KERNEL_FEATURES = {
    "tp_btf": ((5, 5), "BTF-enabled raw tracepoints (the raw-syscall fallback)"),
    "task_storage": ((5, 11), "BPF task local storage (the in-flight calls of -T)"),
    "bpf_task_pt_regs": ((5, 15), "the bpf_task_pt_regs() helper (the exit probes)"),
    "uprobe_multi": ((6, 6), "BPF uprobe_multi links (--malloc)"),
    "percpu_rss": ((6, 2), "per-CPU mm counters, summed exactly (rss_delta)"),
}
