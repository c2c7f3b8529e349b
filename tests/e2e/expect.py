# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Expected numbers for the workloads in tests/workloads/ (verified with strace -f on Debian 12,
glibc 2.36, kernel 6.18; each workload's header comment says the same in prose).

Reading of the ledger used throughout: a syscall's vm_delta is the change of the process's mapped
bytes it caused (so MAP_FIXED over a mapping counts only the newly covered bytes, a munmap of a
half-mapped range only the mapped half). A thread's `mapped` is the bytes of the mappings it
created (a MAP_FIXED mmap creates its whole length, an in-place mremap grow the growth), its
`unmapped` the bytes of existing mappings it destroyed (munmap, shrinks, and what a MAP_FIXED mmap
or an MREMAP_FIXED target replaced); bytes that mremap moves count as neither; net = mapped -
unmapped = the sum of its vm_deltas.
A refused brk returns the old break and is not an error (strace shows none).
"""

P = 4096
RW = "PROT_READ|PROT_WRITE"
PA = "MAP_PRIVATE|MAP_ANONYMOUS"
SYSCALLS = ("brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "shmat", "shmdt",
            "pkey_mprotect")

# Every thread ends with glibc's madvise(stack, ~8M, MADV_DONTNEED) when it exits.
STACK_MADVISE = ("madvise", 0, None, {"advice": "MADV_DONTNEED"})


def calls(**kw):
    """All the call keys, zero unless given."""
    c = {s: 0 for s in SYSCALLS}
    c.update(kw)
    return c


# Per named thread of `ops`: the ordered syscalls (name, vm_delta, errno name or None,
# {arg: value} to check) and the thread_summary.
OPS_ORDER = ("mw-mapper", "mw-unmapper", "mw-protect", "mw-remap", "mw-advise", "mw-brk")

OPS = {
    "mw-mapper": {
        "seq": [
            ("mmap", 16 * P, None, {"len": 16 * P, "prot": RW, "flags": PA, "fd": -1, "offset": 0}),
            ("mmap", 32 * P, None, {"len": 32 * P, "prot": "PROT_NONE",
                                    "flags": PA + "|MAP_NORESERVE"}),
            ("munmap", -16 * P, None, {"len": 16 * P}),
            ("mmap", 8 * P, None, {"len": 16 * P, "prot": RW,
                                   "flags": "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS"}),
            ("mmap", 0, None, {"len": 16 * P, "prot": "PROT_READ",
                               "flags": "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS"}),
            ("mmap", 0, "EINVAL", {"len": 0}),
            ("mmap", 0, "ENOMEM", {"len": 1 << 50}),
            ("mmap", 0, "EBADF", {"len": P, "prot": "PROT_READ", "flags": "MAP_PRIVATE",
                                  "fd": 1000}),
            ("munmap", -16 * P, None, {"len": 16 * P}),
            ("munmap", -24 * P, None, {"len": 24 * P}),
            STACK_MADVISE,
        ],
        # mapped: 16p + 32p + 16p (MAP_FIXED, 8p of it over r) + 16p (MAP_FIXED over a);
        # unmapped: 16p + 8p (replaced) + 16p (replaced) + 16p + 24p.
        "summary": {"calls": calls(mmap=7, munmap=3, madvise=1), "errors": 3,
                    "mapped": 327680, "unmapped": 327680, "net": 0},
    },
    "mw-unmapper": {
        "seq": [
            ("mmap", 16 * P, None, {"len": 16 * P}),
            ("munmap", -2 * P, None, {"len": 2 * P}),      # head
            ("munmap", -2 * P, None, {"len": 2 * P}),      # tail
            ("munmap", -2 * P, None, {"len": 2 * P}),      # middle
            ("munmap", -2 * P, None, {"len": 4 * P}),      # half of it already unmapped
            ("munmap", 0, "EINVAL", {"len": P}),           # unaligned
            ("munmap", 0, "EINVAL", {"len": 0}),
            ("munmap", -8 * P, None, {"len": 16 * P}),     # only 8 pages still mapped
            ("munmap", 0, None, {"len": 16 * P}),          # nothing mapped: 0, no delta
            STACK_MADVISE,
        ],
        "summary": {"calls": calls(mmap=1, munmap=8, madvise=1), "errors": 2,
                    "mapped": 65536, "unmapped": 65536, "net": 0},
    },
    "mw-protect": {
        "seq": [
            ("mmap", 16 * P, None, {"len": 16 * P, "prot": "PROT_NONE"}),
            ("mprotect", 0, None, {"len": 8 * P, "prot": RW}),
            ("mprotect", 0, None, {"len": 2 * P, "prot": "PROT_READ"}),
            ("mprotect", 0, "EINVAL", {"len": P}),
            ("munmap", -2 * P, None, {"len": 2 * P}),
            ("mprotect", 0, "ENOMEM", {"len": 2 * P}),
            ("mprotect", 0, None, {"len": 2 * P, "prot": RW}),
            STACK_MADVISE,
        ],
        "summary": {"calls": calls(mmap=1, munmap=1, mprotect=5, madvise=1), "errors": 2,
                    "mapped": 65536, "unmapped": 8192, "net": 57344},
    },
    "mw-remap": {
        "seq": [
            ("mmap", 16 * P, None, {"len": 16 * P}),
            ("munmap", -8 * P, None, {"len": 8 * P}),
            ("mremap", 8 * P, None, {"old_len": 8 * P, "new_len": 16 * P, "flags": "0"}),
            ("mremap", -12 * P, None, {"old_len": 16 * P, "new_len": 4 * P, "flags": "0"}),
            ("mmap", 8 * P, None, {"len": 8 * P}),
            ("mprotect", 0, None, {"len": 4 * P, "prot": "PROT_READ"}),
            ("mremap", 0, "ENOMEM", {"old_len": 4 * P, "new_len": 8 * P, "flags": "0"}),
            ("mremap", 4 * P, None, {"old_len": 4 * P, "new_len": 8 * P,
                                     "flags": "MREMAP_MAYMOVE"}),
            ("mmap", 8 * P, None, {"len": 8 * P, "prot": "PROT_NONE"}),
            ("mremap", -8 * P, None, {"old_len": 8 * P, "new_len": 8 * P,
                                      "flags": "MREMAP_MAYMOVE|MREMAP_FIXED"}),
            ("mremap", 0, None, {"old_len": 4 * P, "new_len": 4 * P,
                                 "flags": "MREMAP_MAYMOVE|MREMAP_FIXED"}),
            ("mremap", 0, "EINVAL", {"old_len": 8 * P, "new_len": 0}),
            STACK_MADVISE,
        ],
        # mapped: 16p + 8p (grow) + 8p + 4p (the moved grow's new half) + 8p;
        # unmapped: 8p + 12p (shrink) + 8p (t replaced by MREMAP_FIXED).
        "summary": {"calls": calls(mmap=3, munmap=1, mprotect=1, mremap=7, madvise=1),
                    "errors": 2, "mapped": 180224, "unmapped": 114688, "net": 65536},
    },
    "mw-advise": {
        "seq": [
            ("mmap", 16 * P, None, {"len": 16 * P}),
            ("madvise", 0, None, {"len": 16 * P, "advice": "MADV_DONTNEED"}),
            ("madvise", 0, None, {"len": 4 * P, "advice": "MADV_FREE"}),
            ("madvise", 0, "EINVAL", {"len": P, "advice": "MADV_DONTNEED"}),
            ("munmap", -8 * P, None, {"len": 8 * P}),
            ("madvise", 0, "ENOMEM", {"len": 8 * P, "advice": "MADV_DONTNEED"}),
            STACK_MADVISE,
        ],
        "summary": {"calls": calls(mmap=1, munmap=1, madvise=5), "errors": 2,
                    "mapped": 65536, "unmapped": 32768, "net": 32768},
    },
    "mw-brk": {
        "seq": [
            ("brk", 65536, None, {}),
            ("brk", 4096, None, {}),       # sbrk(1000): the heap ends on a page boundary
            ("brk", -36864, None, {}),
            ("brk", -32768, None, {}),
            ("brk", 0, None, {}),          # refused: old break returned, not an error
            STACK_MADVISE,
        ],
        "summary": {"calls": calls(brk=5, madvise=1), "errors": 0,
                    "mapped": 69632, "unmapped": 69632, "net": 0},
    },
}

# accessible (not PROT_NONE) and reserved (PROT_NONE) bytes of the mappings each named thread
# created that are still mapped at its end (ops.c: what each thread keeps).
OPS_ACCESS = {
    "mw-mapper": (0, 0),
    "mw-unmapper": (0, 0),
    "mw-protect": (10 * P, 4 * P),   # [RW 2p][NONE 2p][RW 2p][R 2p][RW 4p][NONE 2p]
    "mw-remap": (16 * P, 0),         # t 8p RW (moved over), g 4p RW, f+4p 4p READ
    "mw-advise": (8 * P, 0),
    "mw-brk": (0, 0),
}

STACK_SIZE = 8392704   # glibc default thread stack incl. 4 KiB guard (8 MiB rlimit)

# ops' main thread in the measured phase (with -w).
OPS_MAIN_W = {"calls": calls(mmap=1, mprotect=1), "errors": 0,
              "mapped": STACK_SIZE, "unmapped": 0, "net": STACK_SIZE}
# ... and with -w -P (threads and their 1 MiB stacks created before the phase): nothing.
OPS_MAIN_WP = {"calls": calls(), "errors": 0, "mapped": 0, "unmapped": 0, "net": 0}

# Whole process `ops -w` (measured phase): sum over threads.
OPS_NET_W = sum(t["summary"]["net"] for t in OPS.values()) + STACK_SIZE

# brk_ops -w, main thread: relative break offsets and vm_deltas.
BRK_OPS = {
    "seq": [("brk", 65536), ("brk", 4096), ("brk", 4096), ("brk", 0), ("brk", -32768),
            ("brk", 131072), ("brk", -172032), ("brk", 0), ("brk", 0)],
    "ret_offsets": [65536, 69632, 70632, 73728, 40960, 172032, 0, 0, 0],
    "summary": {"calls": calls(brk=9), "errors": 0, "mapped": 204800, "unmapped": 204800,
                "net": 0},
}

# exiter -w -n N: main thread.
EXITER_LEN = 65536
EXITER_STATUS = 3


def exiter_summary(n):
    return {"calls": calls(mmap=n, munmap=n), "errors": 0, "mapped": n * EXITER_LEN,
            "unmapped": n * EXITER_LEN, "net": 0}


# forker K: child i (1..K).
FORK_LEN = 16384


def forker_child(i):
    return {"calls": calls(mmap=i, munmap=1), "errors": 0, "mapped": i * FORK_LEN,
            "unmapped": FORK_LEN, "net": (i - 1) * FORK_LEN}


# forker parent after the last wait: (name, vm_delta).
FORKER_PARENT_TAIL = [("mmap", 65536), ("mprotect", 0), ("munmap", -16384)]


def _self_check():
    """The summaries must agree with the sequences (a typo here would test the wrong thing)."""
    for comm, t in OPS.items():
        seq, summ = t["seq"], t["summary"]
        cnt = calls(**{s: sum(1 for x in seq if x[0] == s) for s in SYSCALLS})
        assert cnt == summ["calls"], (comm, cnt, summ["calls"])
        assert sum(1 for x in seq if x[2]) == summ["errors"], comm
        assert sum(x[1] for x in seq) == summ["net"] == summ["mapped"] - summ["unmapped"], comm
    b = BRK_OPS
    assert sum(d for _, d in b["seq"]) == b["summary"]["net"]
    assert sum(d for _, d in b["seq"] if d > 0) == b["summary"]["mapped"]


_self_check()
