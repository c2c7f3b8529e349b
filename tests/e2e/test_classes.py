# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Per-thread bytes by class in thread_summary.by_class: what each thread mapped that is still
mapped, by what it is, checked against the raw syscalls of the same run."""
import mw
from mw import check, eq

HEAP = 64 << 20


def test_by_class_per_thread():
    rc, tr, err = mw.launch_json("--", mw.wl("arenas"), "-t", "3")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    pid = tr.of("arena_create")[0]["pid"]
    for i in (1, 2, 3):
        ts = tr.thread(f"arena-{i}", pid)
        eq(ts["by_class"].get("arena_heap"), HEAP, f"arena-{i}: arena_heap bytes")
    main = tr.thread("arenas", pid)
    stacks = [e for e in tr.syscalls(pid=pid, tid=pid, name="mmap")
              if "MAP_STACK" in e["args"]["flags"]]
    eq(len(stacks), 3, "stack mmaps by the main thread")
    # glibc unmaps no cached stack here: all three are still mapped at exit.
    total = sum(e["args"]["len"] for e in stacks)
    got = main["by_class"].get("thread_stack", 0) + main["by_class"].get("stack_guard", 0)
    eq(got, total, "thread_stack + stack_guard bytes of the main thread")
    check(main["by_class"].get("main_heap", 0) > 0, f"main heap bytes: {main['by_class']}")


def test_region_table_at_exit():
    """--maps-at-exit in text: the final region table says what each region is, which arena
    and which thread made it: two arena heaps, each by its arena-N thread."""
    rc, text, _, err = mw.launch("-c", "--maps-at-exit", "--", mw.wl("arenas"), "-t", "2")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    tids = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].isdigit() and f[1].startswith("arena-"):
            tids[f[1]] = f[0]
    eq(sorted(tids), ["arena-1", "arena-2"], "worker threads in the summary")
    rows = [l.split() for l in text.splitlines() if " arena_heap " in l]
    eq(len(rows), 4, f"arena_heap rows (rw + PROT_NONE part of 2 heaps): {rows}")
    eq({r[5] for r in rows}, set(tids.values()),
       "creator threads of the arena heaps")
    eq(len({r[4] for r in rows}), 2, "two arena ids")


def test_region_objects_carry_class_and_arena():
    """--maps-at-exit --json: region objects say class, arena id and creating thread; the
    arena_heap regions of each arena add up to its 64 MiB heap, made by the arena's creator."""
    rc, tr, err = mw.launch_json("--maps-at-exit", "--", mw.wl("arenas"), "-t", "3")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    creates = tr.of("arena_create")
    eq(len(creates), 3, "arena_create events")
    pid = creates[0]["pid"]
    regions = tr.of("region", pid=pid)
    check(all("class" in r for r in regions), "every region object has a class")
    for c in creates:
        mine = [r for r in regions if r.get("arena") == c["arena"]]
        eq({r["class"] for r in mine}, {"arena_heap"}, f"arena {c['arena']}: classes")
        eq({r.get("tid") for r in mine}, {c["tid"]}, f"arena {c['arena']}: creating thread")
        size = sum(mw.addr(r["end"]) - mw.addr(r["start"]) for r in mine)
        eq(size, HEAP, f"arena {c['arena']}: bytes of its heap")
    check(any(r["class"] == "main_heap" and r.get("arena") == 0 for r in regions),
          "the main heap is arena 0")
