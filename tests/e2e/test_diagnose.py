# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Diagnoses at summary time: only when they apply, each with its numbers and remedies."""
import mw
from mw import check, eq


def _diags(*cmd, env=None):
    out = mw.tmpfile("mw.json")
    argv = [mw.need_memwatch(), "--json", "-o", out, "--"] + [str(c) for c in cmd]
    if env:
        argv = ["env"] + [f"{k}={v}" for k, v in env.items()] + argv
    p = mw.Proc(argv, name="memwatch")
    eq(p.wait(60, "memwatch"), 0, f"exit status (stderr {mw.tail(p.text('err'))!r})")
    return {d["kind"]: d for d in mw.read_ndjson(out).of("diagnosis")}


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
