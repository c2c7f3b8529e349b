# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Diagnoses at summary time: only when they apply, each with its numbers and remedies."""
import re
import time

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
    """One thread allocating 70 MB in small blocks: its arena needs a second heap. Launched
    without -i: no report read smaps while it lived, so its resident bytes are unknown (said,
    no key) and it is judged by committed bytes, as without resident bytes at all."""
    d = _diags(mw.wl("arenas"), "-t", "1", "-b", "70000000")
    check("arena_growing" in d, f"diagnoses: {sorted(d)}")
    msg = d["arena_growing"]["message"]
    check("has 2 heaps" in msg and ", resident unknown, " in msg, msg)
    check("resident" not in d["arena_growing"], f"a resident key while unknown: {d}")
    check(d["arena_growing"].get("committed", 0) >= 64 * MiB, f"committed: {d}")


def _arena_smaps_rss(pid):
    """Rss of the process's glibc arena heaps read from its smaps: the mappings at 64 MiB
    aligned addresses (glibc aligns each heap to its 64 MiB maximum)."""
    total, start = 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-[0-9a-f]+ ", line)
            if m:
                start = int(m.group(1), 16)
            elif line.startswith("Rss:") and start % (64 * MiB) == 0:
                total += int(line.split()[1]) * 1024
    return total


def _arena_held(block):
    """arenas -t 1 -b 70000000 -B BLOCK attached while its thread holds the blocks: memwatch
    interrupted then, so its final report reads smaps of the live process. (diagnoses,
    the arena heaps' Rss read by the test just before)."""
    w = mw.workload("arenas", "-w", "-k", "-t", 1, "-b", 70000000, "-B", block)
    try:
        out = mw.tmpfile("arena-held.ndjson")
        m = mw.attach([w.pid], "--json", out=out)
        w.send()
        w.wait_line(r"^held \d+$", timeout=30)
        rss = _arena_smaps_rss(w.pid)
        eq(mw.interrupt(m), 0, "memwatch exit status")
        tr = mw.read_ndjson(out)
    finally:
        w.close_stdin()
        w.wait(20, "arenas")
    return {d["kind"]: d for d in tr.of("diagnosis", pid=w.pid)}, rss


def test_diagnose_arena_resident_or_only_committed():
    """The same 70 MB arena growth (a second heap), written or not: 1000-byte blocks are all
    written (a link and a chunk header in each), 100000-byte blocks only in their first
    page. Both commit about 70 MB; the first keeps it resident: arena_growing, its resident
    bytes within 10% of the 70 MB written; the second holds about 4% of it: told apart as
    arena_grown_not_resident. Both resident counts equal the arena heaps' Rss in smaps read by
    the test (within 5%)."""
    d, rss = _arena_held(1000)
    eq(sorted(d), ["arena_growing"], "written blocks: diagnoses")
    a = d["arena_growing"]
    check(abs(a.get("resident", 0) - 70000000) <= 7000000,
          f"written: resident {a.get('resident')} for 70000000 bytes written")
    check(abs(a["resident"] - rss) <= rss * 0.05, f"written: resident {a['resident']} vs "
                                                 f"smaps {rss}")
    check(a["committed"] >= 64 * MiB and a["mapped"] >= a["committed"], f"bytes: {a}")
    check(re.search(r"\S+ resident, ", a["message"]), a["message"])
    check(a["resident_ts_ns"] <= a["ts_ns"], f"read before the diagnosis: {a}")
    d, rss = _arena_held(100000)
    eq(sorted(d), ["arena_grown_not_resident"], "blocks not written: diagnoses")
    a = d["arena_grown_not_resident"]
    check(a["committed"] >= 64 * MiB and a["resident"] * 4 < a["committed"], f"bytes: {a}")
    check(abs(a["resident"] - rss) <= max(rss * 0.05, 64 * 1024),
          f"not written: resident {a['resident']} vs smaps {rss}")
    check("address space grew, not its memory" in a["message"], a["message"])


def test_diagnose_resident_after_exit_and_replay():
    """Launched with -i: the process has ended at the final report, so the diagnosis uses the
    resident bytes of the last interval report, dated and said so; a recording replays to the
    same diagnoses."""
    out, rec = mw.tmpfile("arena-exit.ndjson"), mw.tmpfile("arena-exit.rec")
    p = mw.Proc([mw.need_memwatch(), "--json", "-i", "0.3", "--record", rec, "-o", out, "--",
                 mw.wl("arenas"), "-k", "-t", "1", "-b", "70000000"], stdin=mw.subprocess.PIPE,
                name="memwatch")
    try:
        p.wait_line(r"^held \d+$", timeout=30)
        time.sleep(1.0)  # interval reports while its thread holds the blocks
    finally:
        p.close_stdin()
    eq(p.wait(30, "memwatch"), 0, f"exit status (stderr {mw.tail(p.text('err'))!r})")
    tr = mw.read_ndjson(out)
    d = {x["kind"]: x for x in tr.of("diagnosis")}
    eq(sorted(d), ["arena_growing"], "diagnoses")
    a = d["arena_growing"]
    check("resident when last read before it ended" in a["message"], a["message"])
    check(abs(a.get("resident", 0) - 70000000) <= 7000000, f"resident: {a}")
    check(a["resident_ts_ns"] < a["ts_ns"], f"the reading is older than the end: {a}")
    reports = {e["ts_ns"] for e in tr.of("arena_summary") if "resident" in e}
    check(a["resident_ts_ns"] in reports, f"resident_ts_ns {a['resident_ts_ns']} is no "
                                          f"report's with resident bytes: {sorted(reports)}")
    rout = mw.tmpfile("arena-exit-replay.ndjson")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", rout, "--replay", rec])
    eq(rc, 0, f"replay exit status ({mw.tail(err)!r})")
    eq(mw.read_ndjson(rout).of("diagnosis"), tr.of("diagnosis"), "replayed diagnoses")


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
    # Launched without -i: it had ended at the only report, so no smaps was read: unknown.
    check(msg.endswith("; resident unknown") and "resident" not in d["main_heap_not_trimmed"],
          f"{what}: resident bytes should be unknown: {d['main_heap_not_trimmed']}")
    heap = d["main_heap_not_trimmed"]
    check(heap.get("mapped") == heap.get("committed") and abs(heap["mapped"] - arena) <= MiB / 2,
          f"{what}: mapped and committed {heap.get('mapped')}, {heap.get('committed')} vs "
          f"glibc's main arena {arena}")


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
