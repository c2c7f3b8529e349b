# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Diagnoses at summary time: only when they apply, each with its numbers and remedies."""
import re

import mw
from mw import check, eq

MiB = 1 << 20


def _run(*cmd, env=None):
    """memwatch --json -o TMP -- CMD: (diagnoses by kind, Trace, stderr of memwatch and CMD)."""
    out = mw.tmpfile("mw.json")
    argv = [mw.need_memwatch(), "--json", "-o", out, "--"] + [str(c) for c in cmd]
    if env:
        argv = ["env"] + [f"{k}={v}" for k, v in env.items()] + argv
    p = mw.Proc(argv, name="memwatch")
    eq(p.wait(60, "memwatch"), 0, f"exit status (stderr {mw.tail(p.text('err'))!r})")
    tr = mw.read_ndjson(out)
    return {d["kind"]: d for d in tr.of("diagnosis")}, tr, p.text("err")


def _diags(*cmd, env=None):
    return _run(*cmd, env=env)[0]


def test_diagnose_arena_limit():
    """8N+4 threads on N online CPUs (20 on 2): 8N-1 arenas besides main, glibc's limit
    (8 x N) reached."""
    nthreads, narenas = mw.arena_limit_run()
    d = _diags(mw.wl("arenas"), "-t", nthreads)
    check("arenas_at_limit" in d, f"diagnoses: {sorted(d)}")
    msg = d["arenas_at_limit"]["message"]
    check(f"{narenas} arenas besides main" in msg and f"limit of {narenas + 1} arenas" in msg,
          f"{msg!r}: expected {narenas} arenas and the limit {narenas + 1}")
    check("MALLOC_ARENA_MAX" in d["arenas_at_limit"]["remedy"], d["arenas_at_limit"]["remedy"])


def test_diagnose_threads_share_one_arena():
    """MALLOC_ARENA_MAX=1 and 8 threads: all on the main arena."""
    d = _diags(mw.wl("arenas"), "-t", "8", env={"MALLOC_ARENA_MAX": "1"})
    check("threads_share_arenas" in d, f"diagnoses: {sorted(d)}")
    check("share 1 arenas" in d["threads_share_arenas"]["message"],
          d["threads_share_arenas"]["message"])
    check("arenas_at_limit" in d and "limit of 1" in d["arenas_at_limit"]["message"],
          f"diagnoses: {d}")


def test_diagnose_growing_arena():
    """One thread allocating 70 MB in small blocks: its arena needs a second heap."""
    d = _diags(mw.wl("arenas"), "-t", "1", "-b", "70000000")
    check("arena_growing" in d, f"diagnoses: {sorted(d)}")
    check("has 2 heaps" in d["arena_growing"]["message"], d["arena_growing"]["message"])


def test_no_diagnosis_when_nothing_applies():
    eq(_diags(mw.wl("arenas"), "-t", "2"), {}, "diagnoses of a healthy run")


def _glibc_arena(err, what):
    """pinned_top's closing mallinfo2 line: glibc's main arena size (system_mem)."""
    m = re.search(r"^mallinfo arena=(\d+) ", err, re.M)
    check(m, f"{what}: no mallinfo line on the workload's stderr {mw.tail(err)!r}")
    return int(m.group(1))


def _breaks(tr, pid):
    """The raw brk syscall objects of pid: (first break, [(old, new) for every change])."""
    cur, first, moves = None, None, []
    for e in tr.syscalls(pid=pid, name="brk"):
        ret = mw.addr(e.get("ret"), "brk ret")
        if first is None:
            first = ret
        if cur is not None and ret != cur:
            moves.append((cur, ret))
        cur = ret
    check(first is not None, f"no brk syscall object for pid {pid}")
    return first, moves


def test_diagnose_main_heap_not_trimmed():
    """pinned_top -n 9000: 69 MiB of 8000-byte blocks freed below one live block at the top of
    the main heap, which glibc therefore cannot trim: main_heap_not_trimmed, whose evidence (the
    heap's size) is glibc's own main arena size (mallinfo2) and the raw brk calls (never
    lowered, the break's rise), to the rounding of the printed size; no other diagnosis."""
    what = "pinned_top -n 9000"
    d, tr, err = _run(mw.wl("pinned_top"), "-n", 9000)
    eq(sorted(d), ["main_heap_not_trimmed"], f"{what}: diagnoses")
    msg = d["main_heap_not_trimmed"]["message"]
    m = re.match(r"^the main heap \(brk\) is (\S+) and was not trimmed back while traced", msg)
    check(m, f"{what}: message {msg!r}")
    size = mw.parse_human("vm" + m.group(1))
    arena = _glibc_arena(err, what)
    check(arena >= 64 * MiB, f"{what}: glibc's main arena is only {arena} bytes")
    check(abs(size - arena) <= MiB / 2, f"{what}: heap size {m.group(1)} in the message vs "
                                        f"glibc's main arena {arena}")
    pid = tr.thread("pinned_top")["pid"]
    first, moves = _breaks(tr, pid)
    eq([mv for mv in moves if mv[1] < mv[0]], [], f"{what}: raw brk calls lowering the break")
    check(abs(size - (moves[-1][1] - first)) <= MiB / 2,
          f"{what}: heap size {m.group(1)} vs the break's rise {moves[-1][1] - first}")
    eq(tr.of("main_heap_trim", pid=pid), [], f"{what}: main_heap_trim objects")
    check("M_TRIM_THRESHOLD_" in d["main_heap_not_trimmed"]["remedy"],
          d["main_heap_not_trimmed"]["remedy"])


def test_no_main_heap_diagnosis_when_trimmed_or_small():
    """The same size but not pinned (pinned_top -n 18000 -l 9000 -u: the top half freed, glibc
    lowers the break and keeps 69 MiB live): trimmed, so no main_heap_not_trimmed although the
    heap is past 64 MiB; and a pinned heap of 1.6 MiB (pinned_top): too small to be diagnosed.
    No diagnosis at all in either."""
    what = "pinned_top -n 18000 -l 9000 -u"
    d, tr, err = _run(mw.wl("pinned_top"), "-n", 18000, "-l", 9000, "-u")
    eq(d, {}, f"{what}: diagnoses")
    check(_glibc_arena(err, what) >= 64 * MiB, f"{what}: glibc's main arena below 64 MiB")
    pid = tr.thread("pinned_top")["pid"]
    _, moves = _breaks(tr, pid)
    check([mv for mv in moves if mv[1] < mv[0]], f"{what}: glibc never lowered the break")
    check(tr.of("main_heap_trim", pid=pid), f"{what}: no main_heap_trim object")
    d, _, err = _run(mw.wl("pinned_top"))
    eq(d, {}, "pinned_top: diagnoses")
    check(_glibc_arena(err, "pinned_top") < 64 * MiB, "pinned_top: main arena past 64 MiB")
