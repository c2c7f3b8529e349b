# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""glibc's malloc SDT probes (provider "libc", memory_arena_new & co.). Debian's libc has none,
so `usdt_arena` carries probes with glibc's names in its own executable and fires them around
the syscalls glibc makes for a new arena: memwatch must find and attach them (launch and -p),
report every firing with its arguments, and the probe arguments must agree with the syscalls."""
import os

import mw
from mw import check, eq

MIB = 1 << 20


def _check_usdt_run(tr, n):
    calls = {}
    for e in tr.events:
        if e["type"] in ("syscall", "usdt"):
            calls.setdefault(e["comm"], []).append(e)
    for i in range(1, n + 1):
        comm = f"usdt-{i}"
        evs = calls.get(comm)
        check(evs, f"{comm}: no events")
        probes = [e for e in evs if e["type"] == "usdt"]
        eq([p["probe"] for p in probes],
           ["memory_heap_new", "memory_arena_new", "memory_heap_more"], f"{comm}: probes")
        commit = [e for e in evs if e["type"] == "syscall" and e["name"] == "mprotect"
                  and e["args"]["len"] == 135168]
        eq(len(commit), 1, f"{comm}: the heap's first mprotect")
        heap = int(commit[0]["args"]["addr"], 16)
        eq(heap % (64 * MIB), 0, f"{comm}: heap alignment")
        eq((int(probes[0]["arg0"], 16), probes[0]["arg1"]), (heap, 135168),
           f"{comm}: memory_heap_new args")
        eq((int(probes[1]["arg0"], 16), probes[1]["arg1"]), (heap + 32, 135168),
           f"{comm}: memory_arena_new args")
        eq((int(probes[2]["arg0"], 16), probes[2]["arg1"]), (heap, 139264),
           f"{comm}: memory_heap_more args")
        # Each probe fires after the syscall it describes, in the same thread.
        order = [e.get("probe") or e["name"] for e in evs]
        check(order.index("memory_arena_new") > order.index("mprotect"), f"{comm}: order {order}")


def test_usdt_probes_launch():
    rc, tr, err = mw.launch_json("--", mw.wl("usdt_arena"), "-n", "3")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    _check_usdt_run(tr, 3)


def test_usdt_probes_attach():
    """-p: probes attached to the running process only."""
    w = mw.workload("usdt_arena", "-w", "-n", "2")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    eq(w.wait(30, "usdt_arena"), 0, "usdt_arena exit status")
    eq(mw.finish(m, 20), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    _check_usdt_run(mw.read_ndjson(out), 2)


def test_no_usdt_on_debian_libc():
    """A libc without probes (Debian's): nothing attached, no usdt events, no error."""
    rc, tr, err = mw.launch_json("--", mw.wl("arena_demo"), "2")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    eq([e for e in tr.events if e["type"] == "usdt"], [], "usdt events")


def test_usdt_and_syscalls_agree():
    """Where the probes fire around glibc's own syscalls, both sources find the same arenas:
    one arena_create per thread (the syscalls see the mprotect first), and every
    arena_summary says "syscalls+usdt"."""
    rc, tr, err = mw.launch_json("--", mw.wl("usdt_arena"), "-n", "3")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    created = tr.of("arena_create")
    eq(sorted(e["comm"] for e in created), ["usdt-1", "usdt-2", "usdt-3"], "arena_create threads")
    heaps = sorted(int(e["args"]["addr"], 16) for e in tr.events
                   if e["type"] == "syscall" and e["name"] == "mprotect"
                   and e["args"]["len"] == 135168)
    eq(sorted(int(e["base"], 16) for e in created), heaps, "arena bases vs the heaps' mprotects")
    summ = tr.of("arena_summary")
    eq(len(summ), 3, "arena_summary objects")
    eq({s["source"] for s in summ}, {"syscalls+usdt"}, "sources of each arena")


def test_usdt_finds_what_syscalls_cannot():
    """-x: reservations without MAP_NORESERVE are not taken as glibc heaps from the syscalls
    alone; the probes still name them: arena_create with source "usdt"."""
    rc, tr, err = mw.launch_json("--", mw.wl("usdt_arena"), "-n", "2", "-x")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    created = tr.of("arena_create")
    eq(sorted((e["comm"], e["source"]) for e in created),
       [("usdt-1", "usdt"), ("usdt-2", "usdt")], "arena_create (thread, source)")
    eq({s["source"] for s in tr.of("arena_summary")}, {"usdt"}, "arena_summary sources")


SDT_LIBC_DIR = os.environ.get("MEMWATCH_SDT_LIBC", "/opt/glibc-sdt/lib")


def test_usdt_real_glibc_probes_agree():
    """A real glibc with its memory_* probes (built by tools/glibc_sdt.sh: Debian's glibc source
    with --enable-systemtap), run through its own loader: the probes attach once that libc is
    mapped, and on every arena event the two sources agree (the recorded run of this test is
    tests/fixtures/glibc_usdt_*.rec, replayed by a unit test everywhere)."""
    loader = os.path.join(SDT_LIBC_DIR, "ld.so")
    if not os.access(loader, os.X_OK):
        mw.skip_no_sdt_glibc(f"no probe-enabled glibc in {SDT_LIBC_DIR} (tools/glibc_sdt.sh "
                             f"builds one)")
    w = mw.Proc([loader, "--library-path", SDT_LIBC_DIR, mw.wl("arenas"), "-w", "-t", "4", "-s",
                 "-b", "100000"], stdin=mw.subprocess.PIPE, name="arenas")
    w.wait_line(r"^ready \d+$", "err")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    eq(w.wait(30, "arenas"), 0, "arenas exit status")
    eq(mw.finish(m, 20), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    n = {}
    for e in tr.events:
        key = e.get("probe") or e["type"]
        n[key] = n.get(key, 0) + 1
    eq(n.get("memory_arena_new"), 4, "memory_arena_new firings")
    eq(n.get("arena_create"), 4, "arena_create events")
    eq(n.get("memory_heap_more"), n.get("arena_grow"), "heap_more probes == arena_grow events")
    eq(n.get("memory_heap_less"), n.get("arena_shrink"), "heap_less probes == arena_shrink")
    check(n.get("memory_heap_less", 0) > 0, "the -s frees shrink the heaps")
    sums = [e for e in tr.events if e["type"] == "arena_summary"]
    eq(sorted(s["source"] for s in sums), ["syscalls+usdt"] * 4, "arena_summary sources")
    glibc = [l for l in w.lines["out"] if l.startswith("glibc_arenas")]
    eq(glibc, ["glibc_arenas 4"], "glibc's own arena count")
