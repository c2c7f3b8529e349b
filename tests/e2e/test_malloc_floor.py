# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The malloc floor of `make bench` (tools/malloc_floor, bpf/malloc_floor.bpf.c) counts exactly
the target's malloc calls, malloc returns and free calls: the benchmark compares memwatch
--malloc with it, so a floor that missed calls (or counted other processes') would make that
comparison dishonest. malloc_bench prints its own count of pairs; between its go byte and its
exit it makes no other malloc or free (a thread's exit frees glibc's per-thread cache)."""
import os
import re

import mw
from mw import check, eq

FLOOR = os.path.join(mw.ROOT, ".output", "tools", "malloc_floor")


def floor_attach(pid):
    check(os.access(FLOOR, os.X_OK), f"{FLOOR} not built (run make .output/tools/malloc_floor)")
    f = mw.Proc([FLOOR, "-p", str(pid)], name="malloc_floor")
    f.wait_line(r"^malloc_floor: attached to pid %d " % pid, "err", mw.ATTACH_TIMEOUT)
    return f


def run_counted(*args):
    """malloc_bench -w ARGS under the floor: (floor counts, the workload's own pair count)."""
    w = mw.workload("malloc_bench", "-w", *args)
    f = floor_attach(w.pid)
    w.send()
    w.close_stdin()
    eq(w.wait(60, "malloc_bench"), 0, "malloc_bench exit status")
    eq(f.wait(20, "malloc_floor"), 0, f"malloc_floor exit status ({mw.tail(f.text('err'))!r})")
    return counts_of(f), pairs_of(w)


def counts_of(f):
    m = re.search(r"^malloc_floor: malloc (\d+) returns (\d+) free (\d+)$", f.text("err"), re.M)
    check(m, f"no counts line from malloc_floor: {mw.tail(f.text('err'))!r}")
    return tuple(int(x) for x in m.groups())


def pairs_of(w):
    m = re.search(r"^malloc_bench: pairs (\d+) mallocs (\d+) frees (\d+) ", w.text("err"), re.M)
    check(m, f"no result line from malloc_bench: {mw.tail(w.text('err'))!r}")
    eq(m.group(1), m.group(2), "malloc_bench: one malloc per pair")
    return int(m.group(1))


def test_malloc_floor_counts_exact():
    (mallocs, returns, frees), pairs = run_counted("-n", 20000)
    eq(pairs, 20000, "pairs the workload made")
    eq((mallocs, returns, frees), (pairs, pairs, pairs), "floor's malloc, returns, free")


def test_malloc_floor_realistic_mode_exact():
    """The duty-cycle workload (-k: fill and checksum each block) for a fixed time: the count
    is whatever the workload reports, and the floor's must equal it."""
    (mallocs, returns, frees), pairs = run_counted("-k", 1, "-d", 1)
    check(pairs > 0, "no pairs in 1 s")
    eq((mallocs, returns, frees), (pairs, pairs, pairs), "floor's malloc, returns, free")


def test_malloc_floor_all_threads():
    """Attached to the process, the floor counts every thread's calls. Exiting threads free
    glibc's per-thread cache (more frees than pairs, never fewer)."""
    (mallocs, returns, frees), pairs = run_counted("-t", 3, "-n", 3000)
    eq(pairs, 9000, "pairs of 3 threads")
    eq((mallocs, returns), (pairs, pairs), "floor's malloc, returns")
    check(frees >= pairs, f"floor counted {frees} frees of {pairs} pairs")


def test_malloc_floor_only_target():
    """A second malloc_bench running beside it, not attached, is not counted: the probes are
    attached to the target pid and filtered on its tgid."""
    w = mw.workload("malloc_bench", "-w", "-n", 5000)
    other = mw.workload("malloc_bench", "-w", "-n", 7000)
    f = floor_attach(w.pid)
    other.send()
    w.send()
    w.close_stdin()
    other.close_stdin()
    eq(other.wait(60, "other malloc_bench"), 0, "other malloc_bench exit status")
    eq(w.wait(60, "malloc_bench"), 0, "malloc_bench exit status")
    eq(f.wait(20, "malloc_floor"), 0, "malloc_floor exit status")
    eq(pairs_of(other), 7000, "the other workload's pairs")
    eq(counts_of(f), (5000, 5000, 5000), "floor's malloc, returns, free of the target only")


def test_malloc_floor_bad_args():
    check(os.access(FLOOR, os.X_OK), f"{FLOOR} not built")
    for args, rc in (([], 2), (["-p", "abc"], 2), (["-p", "1", "x"], 2),
                     (["-p", str(mw.free_pid())], 1)):
        got, out, err = mw.run([FLOOR] + args, timeout=10)
        eq(got, rc, f"malloc_floor {' '.join(args)}: exit status")
        lines = err.strip().splitlines()
        check(len(lines) == 1 and lines[0].startswith(("malloc_floor: ", "usage: ")),
              f"malloc_floor {' '.join(args)}: want one error line, got {err!r}")
