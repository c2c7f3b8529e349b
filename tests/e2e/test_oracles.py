# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Independent oracles: strace attached to the same run, /proc/PID/maps and VmSize; and -p on a
process whose threads already run."""
import collections
import signal
import time

import expect as X
import mw
from mw import check, eq


def _traced_ops(*wl_args, json=True, extra=()):
    """ops -w [wl_args] with strace -f -p and memwatch -p attached before it starts; returns
    (pid, strace output path, memwatch output path) after all three have exited."""
    w = mw.workload("ops", "-w", *wl_args)
    st_out, mw_out = mw.tmpfile("strace.txt"), mw.tmpfile("memwatch.out")
    st = mw.strace_attach(w.pid, st_out)
    m = mw.attach([w.pid], *(["--json"] if json else []), *extra, out=mw_out)
    w.send()
    eq(w.wait(30, "ops"), 0, f"ops exit status (stderr {mw.tail(w.text('err'))!r})")
    eq(mw.finish(m, 15, "memwatch after its target exited"), 0,
       f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    st.wait(10, "strace")
    return w.pid, st_out, mw_out


# Calls of ops' measured phase under -w: stack mmap+mprotect by main, plus every named thread.
OPS_W_CALLS = 2 + sum(len(t["seq"]) for t in X.OPS.values())


def test_strace_oracle():
    """memwatch --json -p and strace -f -p on one run of `ops -w`: same threads, and per thread
    the same syscalls in the same order with the same return values (every mmap/mremap/brk
    address) and the same errno names; thread_summary counts equal strace's counts."""
    pid, st_out, mw_out = _traced_ops()
    st = mw.parse_strace(st_out)
    tr = mw.read_ndjson(mw_out)
    mc = mw.mw_calls(tr, pid)
    eq(sum(len(v) for v in st.values()), OPS_W_CALLS, "strace saw the expected number of calls")
    eq(sorted(mc), sorted(st), "tids with memory syscalls (memwatch vs strace)")
    for tid in st:
        got, want = [c.key() for c in mc[tid]], [c.key() for c in st[tid]]
        if got != want:
            raise AssertionError(f"tid {tid}: (name, ret, errno) memwatch vs strace: "
                                 f"{mw.diff_lists(got, want)}")
    ths = tr.thread_summaries(pid)
    for tid, calls in st.items():
        check(tid in ths, f"no thread_summary for tid {tid}")
        want = {s: sum(1 for c in calls if c.name == s) for s in X.SYSCALLS}
        eq(ths[tid]["calls"], want, f"tid {tid} ({ths[tid].get('comm')}) calls vs strace")
        eq(ths[tid]["errors"], sum(1 for c in calls if c.err), f"tid {tid} errors vs strace")


def test_strace_oracle_text():
    """Text mode on `ops -w -P` (threads already running at attach) against strace of the same
    run: per thread, every line's `name(args) = ret` is what strace printed (args and flags
    formatted exactly like strace; the errno description may be left out), each line carries
    pid/tid and the thread's name, and the vm part matches the known vm_delta."""
    pid, st_out, mw_out = _traced_ops("-P", json=False)
    st = mw.parse_strace(st_out)
    with open(mw_out, errors="replace") as f:
        lines = mw.parse_text(f.read())
    check(lines, "no syscall lines in memwatch's text output")
    by_tid = collections.defaultdict(list)
    for ln in lines:
        eq(ln.pid, pid, f"pid in line {ln.name}({ln.args})")
        by_tid[ln.tid].append(ln)
    eq(sorted(by_tid), sorted(st), "tids (memwatch text vs strace)")
    for tid, calls in st.items():
        got, want = by_tid[tid], calls
        eq(len(got), len(want), f"tid {tid}: number of lines")
        for g, s in zip(got, want):
            eq(f"{g.name}({g.args})", f"{s.name}({s.args})", f"tid {tid}: call")
            eq((g.ret, g.err), (s.ret, s.err), f"tid {tid}: {s.name}({s.args}) result")
            if s.err:
                check(g.ret_str in (f"-1 {s.err}", s.ret_raw),
                      f"tid {tid}: error return printed {g.ret_str!r}, strace: {s.ret_raw!r}")
            else:
                eq(g.ret_str, s.ret_raw, f"tid {tid}: {s.name} return as printed")
    for comm in X.OPS_ORDER:
        tids = {ln.tid for ln in lines if ln.comm == comm}
        eq(len(tids), 1, f"threads named {comm} in text lines")
        tl = [ln for ln in lines if ln.comm == comm]
        deltas = [w[1] for w in X.OPS[comm]["seq"]]
        eq(len(tl), len(deltas), f"{comm}: lines")
        for ln, d in zip(tl, deltas):
            v = mw.parse_human(ln.vm) if ln.vm else 0
            check(abs(v - d) <= abs(d) * 0.01, f"{comm}: {ln.name}({ln.args}) vm part "
                  f"{ln.vm!r}, expected a delta of {d}")


def test_attach_running_threads():
    """-p on a multi-threaded process whose threads exist (and are named) before the attach:
    each named thread's later calls are counted exactly, under the right name; main's calls
    (one cached stack unmapped when joining) too; memwatch exits by itself with 0."""
    w = mw.workload("ops", "-w", "-P")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    eq(w.wait(30, "ops"), 0, "ops exit status")
    eq(mw.finish(m, 15), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    for comm in X.OPS_ORDER:
        ts = tr.thread(comm, w.pid)
        mw.check_summary(ts, X.OPS[comm]["summary"], comm)
        evs = tr.syscalls(tid=ts["tid"])
        mw.check_seq(evs, X.OPS[comm]["seq"], comm)
        check(all(e.get("comm") == comm for e in evs), f"{comm}: event comm differs")
    # Main made no memory syscall after the attach: a summary with zeros, or none at all.
    main = tr.thread_summaries(w.pid).get(w.pid)
    if main is not None:
        mw.check_summary(main, X.OPS_MAIN_WP, "main thread")
    eq(len(tr.syscalls(tid=w.pid)), 0, "main thread's syscall events")


def test_proc_maps_oracle():
    """`ops -w -W` under memwatch --maps-at-exit -p: at the end (process alive, blocked) the
    region map memwatch emits on SIGINT equals /proc/PID/maps, and process_summary's
    vm_start/vm_end are VmSize at attach/end with net = their difference (= the known value)."""
    w = mw.workload("ops", "-w", "-W")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", "--maps-at-exit", out=out)
    vm0 = mw.vmsize(w.pid)
    w.send()
    w.wait_line(r"^done \d+$")
    maps, vm1 = mw.proc_maps(w.pid), mw.vmsize(w.pid)
    eq(mw.interrupt(m, signal.SIGINT), 0, "memwatch exit status after SIGINT")
    w.send()
    eq(w.wait(10, "ops"), 0, "ops exit status")
    tr = mw.read_ndjson(out)
    eq(vm1 - vm0, X.OPS_NET_W, "VmSize change of ops' measured phase (workload sanity)")
    ps = tr.process(w.pid)
    eq(ps.get("vm_start"), vm0, "process_summary vm_start (VmSize at attach)")
    eq(ps.get("vm_end"), vm1, "process_summary vm_end (VmSize at the end)")
    eq(ps.get("net"), vm1 - vm0, "process net vs VmSize change")
    mw.check_regions(tr, w.pid, maps)


def test_proc_maps_oracle_at_exit():
    """Same as above, but the process exits by itself after /proc was read (it makes no memory
    syscall after its "done" line): the region map memwatch emits at the process's exit equals
    the maps read just before, and memwatch exits 0 by itself."""
    w = mw.workload("ops", "-w", "-W")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", "--maps-at-exit", out=out)
    w.send()
    w.wait_line(r"^done \d+$")
    maps = mw.proc_maps(w.pid)
    w.send()
    eq(w.wait(10, "ops"), 0, "ops exit status")
    eq(mw.finish(m, 15, "memwatch after its target exited"), 0, "memwatch exit status")
    mw.check_regions(mw.read_ndjson(out), w.pid, maps)


def _spin_checks(tr, pid, comms, max_zero, size=4096):
    """Loops of mmap(size)+munmap: consistent counts; every mmap/munmap vm_delta +-size (0
    tolerated only after drops, or max_zero times); net within two iterations."""
    lost = tr.lost()
    for comm in comms:
        ts = tr.thread(comm, pid)
        c = ts["calls"]
        check(c["mmap"] > 100 and c["mmap"] - c["munmap"] in (-1, 0, 1), f"{comm}: calls {c}")
        eq(ts["errors"], 0, f"{comm} errors")
        evs = [e for e in tr.syscalls(tid=ts["tid"]) if e["name"] in ("mmap", "munmap")]
        bad = [e["vm_delta"] for e in evs if e["vm_delta"] not in (size, -size)]
        check(all(d == 0 for d in bad), f"{comm}: vm_deltas other than +-{size} or 0: {bad[:5]}")
        if lost:
            continue
        zeros = [f"#{i} {e['name']} {e['ret'] if e['name'] == 'mmap' else e['args']['addr']}"
                 for i, e in enumerate(evs) if e["vm_delta"] == 0]
        check(len(zeros) <= max_zero, f"{comm}: {len(zeros)} of {len(evs)} events have "
              f"vm_delta 0 without any drop (first: {zeros[:4]})")
        check(abs(ts["net"]) <= 2 * size, f"{comm}: net {ts['net']} after a balanced loop")


def test_attach_busy_process():
    """-p on a process already busy in mmap/munmap (exiter -s 20: ~20k calls/s; events race
    the /proc snapshot taken at attach): exit 0 after -d 1, counts consistent (mmap - munmap
    in {-1, 0, 1}, no errors), every vm_delta +-64 KiB except the calls that raced the baseline
    right at the attach (process_summary.raced: their change is in the snapshot already, their
    vm_delta reads 0), and no zero after them."""
    w = mw.workload("exiter", "-w", "-s", "20")
    w.send()
    time.sleep(0.2)
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", "-d", "1", out=out)
    eq(m.wait(15, "memwatch -d 1"), 0, f"exit status (stderr {mw.tail(m.text('err'))!r})")
    check(w.alive(), "exiter died")
    tr = mw.read_ndjson(out)
    raced = tr.process(w.pid).get("raced", 0)
    _spin_checks(tr, w.pid, ("exiter",), raced, X.EXITER_LEN)
    evs = [e for e in tr.syscalls(pid=w.pid) if e["name"] in ("mmap", "munmap")]
    late = [i for i, e in enumerate(evs) if e["vm_delta"] == 0 and i >= raced]
    if not tr.lost():
        check(not late, f"vm_delta 0 after the {raced} raced calls: #{late[:4]}")


def test_concurrent_threads_exact():
    """Two threads mmap/munmap 4 KiB concurrently, so each often gets the page the other has
    just unmapped. The syscall exit events can reach memwatch in the other order (munmap of A
    after mmap of B returned the same address), but a non-MAP_FIXED mmap never replaces a
    mapping, so the ledger can still be exact: every vm_delta +-4096, per-thread nets within
    2 pages."""
    w = mw.workload("spinner", "-w", "-t", "2", "-n", "40000")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    eq(w.wait(60, "spinner"), 0, "spinner exit status")
    eq(mw.finish(m, 20), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    for comm in ("spin-1", "spin-2"):
        c = tr.thread(comm, w.pid)["calls"]
        eq((c["mmap"], c["munmap"]), (40000, 40000), f"{comm}: mmap/munmap calls")
    _spin_checks(tr, w.pid, ("spin-1", "spin-2"), 0)


def test_proc_oracle_brk():
    """`brk_ops -w -W`: the exact brk sequence (returned breaks relative to the start, page
    rounded vm_deltas, a refused brk that is no error), the heap gone again at the end in both
    memwatch's map and /proc/PID/maps, VmSize unchanged and net 0."""
    w = mw.workload("brk_ops", "-w", "-W")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", "--maps-at-exit", out=out)
    vm0 = mw.vmsize(w.pid)
    w.send()
    w.wait_line(r"^done \d+$")
    maps, vm1 = mw.proc_maps(w.pid), mw.vmsize(w.pid)
    eq(mw.interrupt(m, signal.SIGTERM), 0, "memwatch exit status after SIGTERM")
    w.send()
    eq(w.wait(10, "brk_ops"), 0, "brk_ops exit status")
    tr = mw.read_ndjson(out)
    evs = tr.syscalls(tid=w.pid)
    eq([(e["name"], e["vm_delta"]) for e in evs], X.BRK_OPS["seq"], "brk calls and vm_deltas")
    check(all("error" not in e for e in evs), "a brk event carries an error")
    s = mw.addr(evs[0]["ret"]) - 65536
    eq([mw.addr(e["ret"]) - s for e in evs], X.BRK_OPS["ret_offsets"], "returned breaks - S")
    eq(evs[-1]["args"].get("addr") in ("0x0", "NULL", None, 0), True,
       f"brk(NULL) args.addr: {evs[-1]['args'].get('addr')!r}")
    mw.check_summary(tr.thread("brk_ops", w.pid), X.BRK_OPS["summary"], "brk_ops main")
    ps = tr.process(w.pid)
    eq((ps.get("vm_start"), ps.get("vm_end"), ps.get("net")), (vm0, vm1, 0),
       "process_summary (vm_start, vm_end, net)")
    mw.check_regions(tr, w.pid, maps)


P = 4096
# tests/workloads/dontunmap.c: (name, flags, vm_delta) of its measured phase.
DONTUNMAP_SEQ = [
    ("mmap", None, 16 * P),
    ("mremap", "MREMAP_MAYMOVE|MREMAP_DONTUNMAP", 16 * P),
    ("mprotect", None, 0),
    ("mmap", None, 32 * P),
    ("mremap", "MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP", 0),
    ("munmap", None, -16 * P),
]


def test_mremap_dontunmap_oracles():
    """`dontunmap -w -W` (mremap with MREMAP_DONTUNMAP: the pages move, the source stays
    mapped; then once more with MREMAP_FIXED over part of another mapping) under strace -p and
    memwatch --maps-at-exit -p: the calls, returned addresses and errors equal strace's; the
    vm_deltas are the known ones (the source still counted, and unmapped at the end); the
    thread's mapped/unmapped/net are exact; net = the VmSize change; memwatch's region map
    equals /proc/PID/maps while the process waits at the end."""
    w = mw.workload("dontunmap", "-w", "-W")
    st_out, out = mw.tmpfile("strace.txt"), mw.tmpfile("mw.json")
    st = mw.strace_attach(w.pid, st_out)
    m = mw.attach([w.pid], "--json", "--maps-at-exit", out=out)
    vm0 = mw.vmsize(w.pid)
    w.send()
    w.wait_line(r"^done \d+$")
    maps, vm1 = mw.proc_maps(w.pid), mw.vmsize(w.pid)
    eq(mw.interrupt(m, signal.SIGINT), 0, "memwatch exit status after SIGINT")
    w.send()
    eq(w.wait(10, "dontunmap"), 0, f"dontunmap exit status (stderr {mw.tail(w.text('err'))!r})")
    st.wait(10, "strace")
    tr = mw.read_ndjson(out)
    calls = mw.parse_strace(st_out)
    eq(sorted(calls), [w.pid], "threads with memory syscalls in strace")
    got = [c.key() for c in mw.mw_calls(tr, w.pid).get(w.pid, [])]
    want = [c.key() for c in calls[w.pid]]
    check(got == want, f"(name, ret, errno) memwatch vs strace: {mw.diff_lists(got, want)}")
    evs = tr.syscalls(tid=w.pid)
    eq([(e["name"], e["vm_delta"]) for e in evs], [(n, d) for n, _, d in DONTUNMAP_SEQ],
       "(name, vm_delta) of the measured phase")
    for e, (name, flags, _) in zip(evs, DONTUNMAP_SEQ):
        if flags:
            eq(e["args"].get("flags"), flags, f"{name} flags")
    a, b = mw.addr(evs[0]["ret"]), mw.addr(evs[1]["ret"])
    check(a != b, "MREMAP_DONTUNMAP did not move")
    eq(mw.addr(evs[2]["args"]["addr"]), a, "mprotect of the source")
    eq(mw.addr(evs[5]["args"]["addr"]), a, "munmap of the source")
    ts = tr.thread("dontunmap", w.pid)
    eq((ts["mapped"], ts["unmapped"], ts["net"]), (72 * P, 24 * P, 48 * P),
       "thread_summary (mapped, unmapped, net)")
    ps = tr.process(w.pid)
    eq((ps.get("vm_start"), ps.get("vm_end"), ps.get("net")), (vm0, vm1, vm1 - vm0),
       "process_summary (vm_start, vm_end, net) vs VmSize")
    eq(vm1 - vm0, 48 * P, "VmSize change (workload sanity)")
    mw.check_regions(tr, w.pid, maps)
