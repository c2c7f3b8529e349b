# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--stacks: the user stack of each memory syscall, unwound with DWARF through glibc, against
strace -k on the same program (stackcalls: main's grow_main_heap() grows the main heap by brk
through malloc, a thread's make_arena() creates a glibc arena). The frames in the program's own
executable (function and offset: the same in every run) are strace's for the same calls;
main_heap_grow and arena_create carry the stack of the call that made them."""
import os
import re
import time

import mw
import test_noise
from mw import check, eq

EXE = "stackcalls"


def exe_frames(frames):
    """(func, offset) of the frames in the workload's executable, innermost first."""
    return [(f.get("func"), f.get("offset")) for f in frames
            if f.get("module", "").endswith("/" + EXE)]


def strace_stacks(path):
    """strace -f -k output -> [(call line, [(func, offset) in the executable])]."""
    out, cur = [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(" > "):
                m = re.search(rf"/{EXE}\((\w+)\+0x([0-9a-f]+)\)", line)
                if m and cur is not None:
                    cur[1].append((m.group(1), int(m.group(2), 16)))
                continue
            cur = (line.strip(), [])
            out.append(cur)
    return out


def memwatch_run():
    out = mw.tmpfile("stacks.ndjson")
    w = mw.Proc([mw.need_memwatch(), "--stacks", "--json", "-o", out, "--", mw.wl(EXE), "-W"],
                stdin=mw.subprocess.PIPE, name="memwatch")
    w.wait_line(r"^done \d+$")
    time.sleep(1.0)  # the ring is read on a short timer: every record is named by now
    w.send()
    eq(w.wait(20, "memwatch --stacks"), 0, "memwatch exit status")
    return mw.read_ndjson(out)


def test_stacks_against_strace_k():
    tr = memwatch_run()
    st_file = mw.tmpfile("strace.txt")
    # The same program with the same argument: its call sites are the same code.
    rc, _, err = mw.run([mw.need_tool("strace"), "-f", "-k", "-e", "trace=brk,mmap", "-o",
                         st_file, mw.wl(EXE), "-W"], input=b"x")
    eq(rc, 0, f"strace -k exit status ({mw.tail(err)!r})")
    st = strace_stacks(st_file)

    # Main heap growth: every brk that moved the break, named as strace names it.
    grows = [e for e in tr.syscalls(name="brk") if mw.addr(e["args"]["addr"]) != 0]
    check(grows, "no brk that grows the heap")
    st_grows = [fr for line, fr in st if re.search(r"\bbrk\(0x[0-9a-f]+\)", line)]
    eq(len(grows), len(st_grows), "brk calls that grow the heap: memwatch against strace")
    for e, want in zip(grows, st_grows):
        got = exe_frames(e.get("stack", []))
        check(got and got[0][0] == "grow_main_heap",
              f"brk {e['args']['addr']}: innermost frame in {EXE} is not grow_main_heap: "
              f"{e.get('stack')}")
        eq(got, want, f"brk {e['args']['addr']}: frames in {EXE} against strace -k")
    mhg = tr.of("main_heap_grow")
    eq(len(mhg), len(grows), "main_heap_grow objects")
    for g, e in zip(mhg, grows):
        eq(g.get("stack"), e.get("stack"), "main_heap_grow: the stack of its brk")

    # The arena: its heap's mmap by the thread, and arena_create.
    heap = [e for e in tr.syscalls(name="mmap") if e["comm"] == "arena-maker"
            and e["args"]["prot"] == "PROT_NONE"]
    eq(len(heap), 1, "arena-maker's PROT_NONE heap mmap")
    st_heap = [fr for line, fr in st if "PROT_NONE" in line and "MAP_NORESERVE" in line]
    eq(len(st_heap), 1, "strace: the arena heap's mmap")
    got = exe_frames(heap[0].get("stack", []))
    check(got and got[0][0] == "make_arena", f"heap mmap: innermost frame {got}")
    eq(got, st_heap[0], "arena heap mmap: frames against strace -k")
    ac = tr.of("arena_create")
    eq(len(ac), 1, "arena_create objects")
    eq(exe_frames(ac[0].get("stack", []))[0][0], "make_arena",
       "arena_create: the function whose malloc created the arena")
    # Every key as the manual's table says.
    schema, problems = test_noise.manual_schema(), set()
    for o in tr.events:
        test_noise.check_object(schema, o["type"], {k: v for k, v in o.items() if k != "type"},
                                schema["(every)"], problems)
    check(not problems, f"keys differ from the manual: {sorted(problems)[:8]}")


def test_stacks_replay_same():
    """A recording made with --stacks replays with the same named stacks (no process needed)."""
    rec = mw.tmpfile("stacks.rec")
    out = mw.tmpfile("live.ndjson")
    w = mw.Proc([mw.need_memwatch(), "--stacks", "--json", "-o", out, "--record", rec, "--",
                 mw.wl(EXE), "-W"], stdin=mw.subprocess.PIPE, name="memwatch")
    w.wait_line(r"^done \d+$")
    time.sleep(1.0)
    w.send()
    eq(w.wait(20, "memwatch --stacks --record"), 0, "memwatch exit status")
    live = mw.read_ndjson(out)
    rout = mw.tmpfile("replay.ndjson")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", rout, "--replay", rec])
    eq(rc, 0, f"replay exit status ({mw.tail(err)!r})")
    rep = mw.read_ndjson(rout)
    want = [e.get("stack") for e in live.syscalls()]
    check(sum(1 for s in want if s) >= 20, f"the live run named {sum(1 for s in want if s)} "
          f"stacks of {len(want)} syscalls")
    got = [e.get("stack") for e in rep.syscalls()]
    eq(len(got), len(want), "replayed syscalls")
    for i, (g, w) in enumerate(zip(got, want)):
        check(g == w, f"syscall {i}: replayed stack {g} is not the live run's {w}")


REC_SYSCALL_STACK = 12  # enum mw_rec_type in bpf/memwatch.h
STACK_REC_FIXED = 264  # sizeof(struct mw_syscall_stack_rec): the stack bytes follow it


def stack_records(path):
    """[(tid, tgid, stack bytes)] of the --stacks syscall records in a recording, in order
    (user/wire/record.h: a 32-byte header, then entries u32 kind, u32 len, payload, padded)."""
    import struct
    out = []
    with open(path, "rb") as f:
        data = f.read()
    eq(data[:8], b"MWREC003", "recording magic")
    at = 32
    while at + 8 <= len(data):
        kind, n = struct.unpack_from("<II", data, at)
        payload = data[at + 8:at + 8 + n]
        at += 8 + ((n + 7) & ~7)
        if kind == 1 and len(payload) >= STACK_REC_FIXED:  # MW_ENTRY_RING
            typ, tgid, tid = struct.unpack_from("<III", payload, 0)
            if typ == REC_SYSCALL_STACK:
                out.append((tid, tgid, len(payload) - STACK_REC_FIXED))
    return out


def test_stacks_thread_copy_stops_at_its_top():
    """Once a thread's unwind reached start_thread, the kernel copies its stack no higher than
    that unwind read: glibc's thread descriptor and TLS above (~4 KiB) stay out. spinner -t 2
    loops mmap+munmap in two threads, paced: their last records carry at least 2 KiB less stack
    than their first, and every call's frames are the same (spin, start_thread)."""
    out, rec = mw.tmpfile("stacks-top.ndjson"), mw.tmpfile("stacks-top.rec")
    # Every call's stack copied (no hints): the copies' lengths are what is looked at.
    p = mw.Proc([mw.need_memwatch(), "--stacks", "--json", "-o", out, "--record", rec, "--",
                 mw.wl("spinner"), "-t", "2", "-n", "1500", "-u", "1000"],
                env=dict(os.environ, MEMWATCH_NO_STACK_HINTS="1"))
    eq(p.wait(60), 0, f"memwatch exit status ({mw.tail(p.text('err'))!r})")
    recs = stack_records(rec)
    threads = sorted({tid for tid, tgid, _ in recs if tid != tgid})
    eq(len(threads), 2, "spinner's looping threads with stack records")
    for tid in threads:
        lens = [n for t, _, n in recs if t == tid]
        check(len(lens) >= 3000, f"thread {tid}: {len(lens)} stack records, 3000 expected")
        # memwatch names a process's first stacks after loading its modules: on a busy host
        # that takes a while, so the loop's last second is what must be cut.
        last = min(lens[-1000:])
        check(last + 2048 <= lens[0],
              f"thread {tid}: first record {lens[0]} stack bytes, the last ones {last}: not cut")
    tr = mw.read_ndjson(out)
    stacks = {}
    for o in tr.of("syscall"):
        if o.get("comm", "").startswith("spin-") and o["name"] in ("mmap", "munmap"):
            stacks.setdefault(o["name"], set()).add(
                tuple(f.get("func") for f in o.get("stack") or []))
    for sys_name in ("mmap", "munmap"):
        eq(len(stacks.get(sys_name, ())), 1, f"distinct {sys_name} stacks of the threads")
        funcs = next(iter(stacks[sys_name]))
        check("start_thread" in funcs, f"{sys_name}: start_thread not reached: {funcs}")


test_stacks_thread_copy_stops_at_its_top.timeout = 60


def spin_stacks(extra=(), env=None, n=1500, args=()):
    """memwatch --stacks --json -v of spinner -t 2 (paced): {(name, frames): calls} of the
    looping threads' mmap and munmap ((func, offset, module) each, the same in every run), the
    calls without a stack, {tid: [(name, funcs)] in order}, and memwatch's stderr."""
    out = mw.tmpfile("stacks-hints.ndjson")
    p = mw.Proc([mw.need_memwatch(), "--stacks", "--json", "-v", "-o", out, *extra, "--",
                 mw.wl("spinner"), "-t", "2", "-n", str(n), "-u", "200", *args],
                env=dict(os.environ, **(env or {})))
    eq(p.wait(60), 0, f"memwatch exit status ({mw.tail(p.text('err'))!r})")
    seen, bare, order = {}, 0, {}
    for o in mw.read_ndjson(out).of("syscall"):
        # The looping threads (not main), by tid: a full ring may lose their names' records.
        if o["tid"] == o["pid"] or o["name"] not in ("mmap", "munmap"):
            continue
        frames = tuple((f.get("func"), f.get("offset"), f.get("module"))
                       for f in o.get("stack") or [])
        order.setdefault(o["tid"], []).append((o["name"], [f[0] for f in frames]))
        if not frames:
            bare += 1
            continue
        seen[(o["name"], frames)] = seen.get((o["name"], frames), 0) + 1
    return seen, bare, order, p.text("err")


def hint_counts(err):
    m = re.search(r"stacks: (\d+) calls sent without a copy .*?, (\d+) of them", err)
    check(m, f"no stacks line in memwatch -v's stderr: {mw.tail(err)!r}")
    return int(m.group(1)), int(m.group(2))


def test_stacks_hints_same_frames():
    """The kernel sends a call without its stack where the words the thread's last unwind of
    that call site depended on are unchanged (hints): every call still gets the frames a full
    copy gives. spinner -a -t 2: each thread maps from map_even() and map_odd() in turn, at the
    same stack pointer (only the return address differs): every call's frames name the right
    one, with hints as without (MEMWATCH_NO_STACK_HINTS=1), and calls were sent without a
    copy."""
    want, want_bare, _, err = spin_stacks(env={"MEMWATCH_NO_STACK_HINTS": "1"}, args=("-a",))
    eq(hint_counts(err), (0, 0), "calls sent without a copy, hints off")
    # Without hints every call's stack is copied: a slow host (a TCG VM) may lose some.
    lost_off = int(re.search(r"kernel: \d+ records, (\d+) lost", err).group(1))
    got, bare, order, err = spin_stacks(args=("-a",))
    same, unknown = hint_counts(err)
    check(same >= 1500, f"only {same} of 6000 calls sent without a copy")
    eq(unknown, 0, "calls sent without a copy whose frames were not known")
    eq(bare, want_bare, "looping threads' calls without a stack")
    eq(sorted(got), sorted(want), "distinct (call, frames) of the threads, with hints and without")
    if not lost_off:
        eq(sum(got.values()), sum(want.values()), "threads' calls with a stack")
    eq(len(order), 2, "looping threads")
    for tid, calls in order.items():
        eq(len(calls), 3000, f"thread {tid}: mmap and munmap calls")
        for i, (name, funcs) in enumerate(calls):
            caller = "map_odd" if (i // 2) % 2 else "map_even"
            check(funcs and caller in funcs and "start_thread" in funcs and
                  ("map_even" if caller == "map_odd" else "map_odd") not in funcs,
                  f"thread {tid}, call {i} ({name}), from {caller}: frames {funcs}")


test_stacks_hints_same_frames.timeout = 90


def test_stacks_hints_ring_full():
    """Records lost to a full ring (a 16 KiB ring) never leave a call with a wrong stack: a
    call sent without a copy names the record its frames come from, which memwatch read."""
    got, bare, _, err = spin_stacks(extra=("--ring-size", "16K"), n=3000)
    m = re.search(r"kernel: \d+ records, (\d+) lost", err)
    check(m and int(m.group(1)) > 0, f"no records lost with a 16 KiB ring: {mw.tail(err)!r}")
    same, _ = hint_counts(err)
    check(same > 0, "no call sent without a copy")
    for (name, frames), k in got.items():
        funcs = [f[0] for f in frames]
        check(funcs and (funcs[0] or "").startswith("__" + name) and
              "spin" in funcs and "start_thread" in funcs,
              f"{k} {name} calls with the stack {funcs}")
    eq(len({name for name, _ in got}), 2, "mmap and munmap named")
    eq(len(got), 2, f"distinct stacks of spin-*: {sorted(got)}")


test_stacks_hints_ring_full.timeout = 60
