# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--fault-stacks: sampled page faults with their user stacks, on a real process (faulter:
touch_big() writes each page of a 3 x MIB MiB malloc'd block, a glibc mmapped chunk;
touch_small() each page of MIB MiB of shared anonymous memory). The fault profile places the
touched bytes under the function that touched them, faulted_by_class in the class of the
region touched, each within 20% (1 in 4 faults sampled at random); with -a a thread touches MIB
MiB in 64 KiB mallocs from a glibc arena of its own: the arena's faulted and the arena_heap class
within 20% of it too. A recording replays to the same profile without the process."""
import time

import mw
import test_noise
from mw import check, eq

EXE = "faulter"
MIB = 8
N = 4


def run_faulter(*extra):
    return run_faulter_with([f"--fault-stacks={N}", *extra])


def run_faulter_with(opts):
    """faulter -a under memwatch --json OPTS: the trace and the output's path."""
    out = mw.tmpfile("faults.ndjson")
    w = mw.Proc([mw.need_memwatch(), *opts, "--json", "-o", out, "--",
                 mw.wl(EXE), "-W", "-a", "-m", str(MIB)], stdin=mw.subprocess.PIPE, name="memwatch")
    w.wait_line(r"^done \d+$", timeout=30)
    time.sleep(1.0)  # the ring is read on a short timer: every sample is named by now
    w.send()
    eq(w.wait(30, "memwatch --fault-stacks"), 0, "memwatch exit status")
    return mw.read_ndjson(out), out


def final_rows(tr, type_):
    """The objects of the last report (the final one) of that type."""
    rows = tr.of(type_)
    check(rows, f"no {type_} objects")
    last = max(r["ts_ns"] for r in rows)
    return [r for r in rows if r["ts_ns"] == last]


def bytes_under(rows, func):
    """Bytes of the fault_profile rows whose innermost frame is func in the workload."""
    return sum(r["bytes"] for r in rows if r.get("stack")
               and r["stack"][0].get("func") == func
               and r["stack"][0].get("module", "").endswith("/" + EXE))


def within(got, want, pct, what):
    check(abs(got - want) <= want * pct / 100,
          f"{what}: {got} bytes, want {want} within {pct}% ({100 * (got - want) / want:+.1f}%)")


def test_fault_stacks_name_the_functions():
    tr, _ = run_faulter()
    eq(tr.lost(), 0, "records lost")
    rows = final_rows(tr, "fault_profile")
    for r in rows:
        eq(r["sampling"], N, "sampling")
        eq(r["estimated"], True, "estimated")
        eq(r["bytes"], r["samples"] * N * 4096, "bytes = samples x N x page size")
    big, small = 3 * MIB << 20, MIB << 20
    within(bytes_under(rows, "touch_big"), big, 20, "fault profile: touch_big")
    within(bytes_under(rows, "touch_small"), small, 20, "fault profile: touch_small")
    # Their callers are named too: main, below each.
    for func in ("touch_big", "touch_small"):
        st = [r["stack"] for r in rows if r.get("stack") and r["stack"][0].get("func") == func]
        check(any(any(f.get("func") == "main" for f in s[1:]) for s in st),
              f"{func}: no stack with main as a caller: {st[:2]}")
    ps = [p for p in final_rows(tr, "process_summary")]
    eq(len(ps), 1, "process_summary objects at the end")
    by = ps[0].get("faulted_by_class")
    check(by, f"no faulted_by_class: {ps[0]}")
    eq(ps[0].get("faulted_estimated"), True, "faulted_estimated")
    within(by.get("malloc_chunk", 0), big, 20, "faulted_by_class.malloc_chunk")
    within(by.get("shm", 0), small, 20, "faulted_by_class.shm")
    within(by.get("arena_heap", 0), small, 20, "faulted_by_class.arena_heap")
    # By thread: the arena's pages were touched by arena-toucher, the others by main.
    th = {t["comm"]: t for t in final_rows(tr, "thread_summary")}
    check("arena-toucher" in th and EXE in th, f"thread_summary comms: {sorted(th)}")
    within(th["arena-toucher"].get("faulted_by_class", {}).get("arena_heap", 0), small, 20,
           "arena-toucher's faulted_by_class.arena_heap")
    within(th[EXE].get("faulted_by_class", {}).get("malloc_chunk", 0), big, 20,
           "main thread's faulted_by_class.malloc_chunk")
    check(not th[EXE]["faulted_by_class"].get("arena_heap"),
          f"main thread: arena_heap faults: {th[EXE]['faulted_by_class']}")
    ar = [a for a in final_rows(tr, "arena_summary") if a["arena"] != 0]
    eq(len(ar), 1, f"arena_summary objects of arenas besides the main one: {ar}")
    within(ar[0].get("faulted", 0), small, 20, "arena_summary.faulted")
    eq(ar[0].get("faulted_estimated"), True, "arena_summary.faulted_estimated")
    # Every key as the manual's table says.
    schema, problems = test_noise.manual_schema(), set()
    for o in tr.events:
        test_noise.check_object(schema, o["type"], {k: v for k, v in o.items() if k != "type"},
                                schema["(every)"], problems)
    check(not problems, f"keys differ from the manual: {sorted(problems)[:8]}")


def test_fault_stacks_replay_same():
    """A recording made with --fault-stacks replays to the same fault profile and
    faulted_by_class, in NDJSON; the text report names the functions too."""
    rec = mw.tmpfile("faults.rec")
    live, _ = run_faulter("--record", rec)
    rout = mw.tmpfile("replay.ndjson")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", rout, "--replay", rec])
    eq(rc, 0, f"replay exit status ({mw.tail(err)!r})")
    rep = mw.read_ndjson(rout)

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "ts_ns"} for r in rows]

    want = strip(live.of("fault_profile"))
    check(want, "the live run wrote no fault_profile")
    eq(strip(rep.of("fault_profile")), want, "replayed fault_profile objects")
    eq([p.get("faulted_by_class") for p in rep.of("process_summary")],
       [p.get("faulted_by_class") for p in live.of("process_summary")],
       "replayed faulted_by_class")
    tout = mw.tmpfile("replay.txt")
    rc, _, err = mw.run([mw.need_memwatch(), "-c", "-o", tout, "--replay", rec])
    eq(rc, 0, f"text replay exit status ({mw.tail(err)!r})")
    with open(tout, encoding="utf-8", errors="replace") as f:
        out = f.read()
    check("1 in 4 sampled" in out and "touch_big" in out and "faulted in by class" in out,
          f"text replay: no fault profile: {mw.tail(out, 1200)!r}")


def test_fault_stacks_lost_to_a_full_ring():
    """Samples the ring had no room for are not dropped from the profile silently: with every
    fault sampled (N = 1) and a ring with room for one record, most samples are lost, and the
    final profile's rows, the lost row included, still add up to every fault that made a page
    resident, as the threads' exact faulted counts say; the text report says so too."""
    rec = mw.tmpfile("lost.rec")
    tr, _ = run_faulter_with(["--fault-stacks=1", "--ring-size", "16K", "--record", rec])
    check(tr.lost() > 0, "no record lost with a 16K ring: the test proves nothing")
    rows = final_rows(tr, "fault_profile")
    lost = [r for r in rows if r.get("lost")]
    eq(len(lost), 1, f"rows with lost: {lost}")
    check(lost[0]["samples"] > 0 and "stack" not in lost[0], f"lost row: {lost[0]}")
    faulted = sum(t.get("faulted", 0) for t in final_rows(tr, "thread_summary"))
    check(faulted >= (4 * MIB << 20), f"threads' faulted: {faulted}")
    eq(sum(r["bytes"] for r in rows), faulted, "fault profile rows (lost included) vs faulted")
    ps = final_rows(tr, "process_summary")
    by = ps[0].get("faulted_by_class", {})
    eq(sum(by.values()), faulted, f"faulted_by_class (the lost under unknown) vs faulted: {by}")
    check(by.get("unknown", 0) >= lost[0]["bytes"], f"lost samples not under unknown: {by}")
    txt = mw.tmpfile("lost.txt")
    rc, _, err = mw.run([mw.need_memwatch(), "-c", "-o", txt, "--replay", rec])
    eq(rc, 0, f"text replay exit status ({mw.tail(err)!r})")
    with open(txt, encoding="utf-8", errors="replace") as f:
        text = f.read()
    check("stacks lost (ring full)" in text, f"text: no lost line: {mw.tail(text, 800)!r}")
