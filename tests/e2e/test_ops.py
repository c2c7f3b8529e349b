# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Exact per-thread numbers on the `ops` workload in launch mode:
`memwatch --json -o FILE -- .output/workloads/ops` (one run shared by the tests below)."""
import collections
import os
import time

import expect as X
import mw
from mw import check, eq

P = X.P


def ops_run(*extra):
    rc, tr, err = mw.launch_json(*extra, "--", mw.wl("ops"))
    eq(rc, 0, f"memwatch --json -o F -- ops: exit status (stderr: {mw.tail(err)!r})")
    pid = tr.thread("mw-mapper")["pid"]
    return tr, pid


@mw.shared
def ops_launch():
    return ops_run()


def check_durations(tr, what):
    """Every syscall object has dur_ns, and the call fits in its thread's timeline: it began
    (ts_ns - dur_ns; ts_ns is its exit) no earlier than the previous event of the same thread
    (its previous call, its rename, or the thread_new that created it) and ended no later than
    the thread's exit event. Returns the number of calls checked against a previous event."""
    prev, checked = {}, 0
    calls = [e for e in tr.events if e["type"] == "syscall"]
    check(calls, f"{what}: no syscall objects")
    for e in tr.events:
        t = e["type"]
        if t == "thread_new":
            prev[e.get("child_tid")] = ("thread_new", e["ts_ns"])
            continue
        if t not in ("syscall", "rename", "exit") or not _is_int(e.get("tid")):
            continue
        tid, ts = e["tid"], e["ts_ns"]
        if t == "syscall":
            dur = e.get("dur_ns")
            check(_is_int(dur) and 0 <= dur < 10**9, f"{what}: {e['name']}: dur_ns {dur!r}")
            if tid in prev:
                kind, when = prev[tid]
                check(ts - dur >= when,
                      f"{what}: thread {tid}: {e['name']} began {when - (ts - dur)} ns before "
                      f"its previous event ({kind}) ended (dur_ns {dur}, ts_ns {ts})")
                checked += 1
            prev[tid] = (e["name"], ts)
        else:
            if tid in prev:
                check(ts >= prev[tid][1], f"{what}: thread {tid}: {t} at {ts} before its "
                                          f"previous event ({prev[tid][0]}) at {prev[tid][1]}")
            prev[tid] = (t, ts)
    check(any(e["dur_ns"] > 0 for e in calls), f"{what}: every dur_ns is 0")
    return checked


def test_durations_with_T():
    """-T --json: every syscall object has dur_ns (enter probes pair with exits; an exit
    without its enter would be dropped, never guessed), the same per-thread counts as without
    -T, and durations that fit between the previous event of the same thread and the call's
    own exit timestamp (check_durations)."""
    tr, pid = ops_run("-T")
    for comm in X.OPS_ORDER:
        mw.check_summary(tr.thread(comm, pid), X.OPS[comm]["summary"], comm)
    n = check_durations(tr, "ops -T")
    calls = len(tr.syscalls(pid=pid))
    # All but the main thread's first call have a previous event of their own thread.
    eq(n, calls - 1, "ops -T: calls checked against the previous event of their thread")


def test_ops_thread_summaries():
    """Each named thread's thread_summary: calls per syscall, errors, mapped/unmapped/net."""
    tr, pid = ops_launch()
    for comm in X.OPS_ORDER:
        ts = tr.thread(comm, pid)
        mw.check_summary(ts, X.OPS[comm]["summary"], comm)
        check(ts["tid"] != pid, f"{comm}: tid equals the pid")


def test_ops_accessible_reserved():
    """thread_summary accessible/reserved: the bytes of the thread's still-mapped regions that
    are accessible / PROT_NONE (every named thread of ops only touches its own mappings)."""
    tr, pid = ops_launch()
    for comm in X.OPS_ORDER:
        ts = tr.thread(comm, pid)
        eq((ts.get("accessible"), ts.get("reserved")), X.OPS_ACCESS[comm],
           f"{comm}: (accessible, reserved)")


ARGS = {
    "mmap": ("addr", "len", "prot", "flags", "fd", "offset"),
    "munmap": ("addr", "len"),
    "brk": ("addr",),
    "mprotect": ("addr", "len", "prot"),
    "mremap": ("old_addr", "old_len", "new_len", "flags", "new_addr"),
    "madvise": ("addr", "len", "advice"),
}
ADDR_KEYS = {"addr", "old_addr", "new_addr"}
STR_KEYS = {"prot", "flags", "advice"}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def test_ndjson_schema():
    """Schema v1 on the whole ops run: common keys and types on every object; syscall args
    exactly as DESIGN.md lists them (addresses "0x..." strings, sizes/fds/offsets integers,
    flags strings); ret an address string for mmap/mremap/brk, else an integer; ts_ns Unix
    epoch ns (now) and non-decreasing per thread; thread_summary/process_summary fields."""
    tr, pid = ops_launch()
    now = time.time_ns()
    last = {}
    for i, e in enumerate(tr.events):
        t = e["type"]
        where = f"object #{i} ({t})"
        if t in ("syscall", "thread_summary", "process_summary", "thread_new", "fork", "exec",
                 "exit"):
            check(_is_int(e.get("ts_ns")) and abs(e["ts_ns"] - now) < 600 * 10**9,
                  f"{where}: ts_ns {e.get('ts_ns')!r} is not Unix epoch ns of this run")
            check(_is_int(e.get("pid")), f"{where}: pid {e.get('pid')!r}")
        if t in ("syscall", "thread_summary"):
            check(_is_int(e.get("tid")) and isinstance(e.get("comm"), str),
                  f"{where}: tid/comm {e.get('tid')!r}/{e.get('comm')!r}")
        if t == "syscall":
            name = e.get("name")
            check(name in ARGS, f"{where}: name {name!r}")
            eq(sorted(e["args"]), sorted(ARGS[name]), f"{where} {name}: args keys")
            for k, v in e["args"].items():
                if k in ADDR_KEYS:
                    mw.addr(v, f"{where} {name} args.{k}")
                elif k in STR_KEYS:
                    check(isinstance(v, str), f"{where} {name} args.{k} = {v!r}: not a string")
                else:
                    check(_is_int(v), f"{where} {name} args.{k} = {v!r}: not an integer")
            if e.get("error"):
                eq(e.get("ret"), -1, f"{where} {name}: ret with error")
                check(e["error"].startswith("E"), f"{where}: error {e['error']!r}")
            elif name in ("mmap", "mremap", "brk"):
                mw.addr(e.get("ret"), f"{where} {name} ret")
            else:
                check(_is_int(e.get("ret")), f"{where} {name}: ret {e.get('ret')!r}")
            check(_is_int(e.get("vm_delta")), f"{where} {name}: vm_delta {e.get('vm_delta')!r}")
            check("dur_ns" not in e, f"{where} {name}: dur_ns without -T")
            check(e["ts_ns"] >= last.get(e["tid"], 0), f"{where}: ts_ns went backwards")
            last[e["tid"]] = e["ts_ns"]
        elif t == "thread_summary":
            for k in ("errors", "mapped", "unmapped", "net", "accessible", "reserved"):
                check(_is_int(e.get(k)), f"{where}: {k} {e.get(k)!r}")
        elif t == "process_summary":
            for k in ("threads", "net", "vm_start", "vm_end", "dropped"):
                check(_is_int(e.get(k)), f"{where}: {k} {e.get(k)!r}")
            check(isinstance(e.get("comm"), str), f"{where}: comm")
        elif t == "thread_new":
            check(_is_int(e.get("child_tid")) and isinstance(e.get("child_comm"), str),
                  f"{where}: child_tid/child_comm")
        elif t == "exit":
            check(isinstance(e.get("group_dead"), bool), f"{where}: group_dead not a bool")
        elif t == "lost":
            check(_is_int(e.get("count")), f"{where}: count")


def test_ops_syscall_deltas():
    """Each named thread's syscall events, in order: name, vm_delta, errno name, key args."""
    tr, pid = ops_launch()
    for comm in X.OPS_ORDER:
        tid = tr.thread(comm, pid)["tid"]
        evs = tr.syscalls(tid=tid)
        mw.check_seq(evs, X.OPS[comm]["seq"], comm)
        for e in evs:
            eq(e.get("comm"), comm, f"{comm}: comm of {e.get('name')} event")
            eq(e.get("pid"), pid, f"{comm}: pid of {e.get('name')} event")


def _rets(tr, pid, comm):
    tid = tr.thread(comm, pid)["tid"]
    return tr.syscalls(tid=tid)


def test_ops_addresses():
    """Addresses in args and rets relate as the workload did them (MAP_FIXED at r+8p, the
    half-mapped munmap at b+6p, mremap in place / moved / MREMAP_FIXED, brk offsets)."""
    tr, pid = ops_launch()
    A = mw.addr
    m = _rets(tr, pid, "mw-mapper")
    a, r = A(m[0]["ret"]), A(m[1]["ret"])
    eq(A(m[2]["args"]["addr"]), r + 16 * P, "mapper: munmap tail addr")
    eq(A(m[3]["args"]["addr"]), r + 8 * P, "mapper: MAP_FIXED addr")
    eq(A(m[3]["ret"]), r + 8 * P, "mapper: MAP_FIXED ret")
    eq(A(m[4]["ret"]), a, "mapper: MAP_FIXED over a: ret")
    for i in (5, 6, 7):
        eq(m[i]["ret"], -1, f"mapper: failing mmap #{i} ret")

    u = _rets(tr, pid, "mw-unmapper")
    b = A(u[0]["ret"])
    want = [b, b + 14 * P, b + 6 * P, b + 6 * P, b + 2 * P + 1, b + 2 * P, b, b]
    eq([A(e["args"]["addr"]) for e in u[1:9]], want, "unmapper: munmap addrs")
    eq([e["ret"] for e in u[1:9]], [0, 0, 0, 0, -1, -1, 0, 0], "unmapper: munmap rets")

    p = _rets(tr, pid, "mw-protect")
    c = A(p[0]["ret"])
    eq([A(e["args"]["addr"]) for e in p[1:7]],
       [c + 4 * P, c + 6 * P, c + 1, c + 14 * P, c + 14 * P, c], "protect: addrs")

    rm = _rets(tr, pid, "mw-remap")
    d, f = A(rm[0]["ret"]), A(rm[4]["ret"])
    eq(A(rm[2]["ret"]), d, "remap: grow in place returns the same address")
    eq(A(rm[3]["ret"]), d, "remap: shrink returns the same address")
    eq(A(rm[6]["args"]["old_addr"]), f, "remap: failing grow old_addr")
    g = A(rm[7]["ret"])
    check(g != f, f"remap: MREMAP_MAYMOVE grow did not move ({hex(g)})")
    t = A(rm[8]["ret"])
    eq(A(rm[9]["args"]["new_addr"]), t, "remap: MREMAP_FIXED new_addr")
    eq(A(rm[9]["ret"]), t, "remap: MREMAP_FIXED ret")
    eq(A(rm[10]["ret"]), g, "remap: second MREMAP_FIXED ret")

    br = _rets(tr, pid, "mw-brk")
    s = A(br[0]["ret"]) - 65536
    eq([A(e["ret"]) - s for e in br[:5]], [65536, 66536, 32768, 0, 0], "brk: returned breaks - S")
    eq([A(e["args"]["addr"]) - s for e in br[:5]], [65536, 66536, 32768, 0, 1 << 50],
       "brk: requested breaks - S")
    check(all("error" not in e for e in br[:5]), "brk: a refused brk is not an error (strace)")


def test_ops_main_and_process():
    """The whole process: 7 threads, no drops, the sum of thread nets = the sum of all
    vm_deltas; process net = vm_end - vm_start (VmSize change: it also holds stack growth by
    page faults, which no syscall shows); per-syscall call totals = event counts."""
    tr, pid = ops_launch()
    ps = tr.process(pid)
    eq(ps.get("threads"), 7, "process_summary threads")
    eq(ps.get("dropped"), 0, "process_summary dropped")
    eq(tr.lost(), 0, "lost events")
    ths = tr.thread_summaries(pid)
    eq(len(ths), 7, "thread_summary count")
    total = sum(e["vm_delta"] for e in tr.syscalls(pid=pid))
    eq(sum(t["net"] for t in ths.values()), total, "sum of thread nets vs sum of vm_deltas")
    eq(ps.get("net"), ps.get("vm_end", 0) - ps.get("vm_start", 0), "process net vs VmSize change")
    main = ths.get(pid)
    check(main is not None, "no thread_summary for the main thread (tid == pid)")
    eq(main.get("comm"), "ops", "main thread comm")
    for s in X.SYSCALLS:
        eq(sum(t["calls"][s] for t in ths.values()), len(tr.syscalls(pid=pid, name=s)),
           f"sum of {s} calls vs {s} events")


def test_ops_lifecycle():
    """thread_new for each of the 6 threads (creator = main), an exit per thread, the last one
    group_dead with code 0."""
    tr, pid = ops_launch()
    named = {tr.thread(c, pid)["tid"] for c in X.OPS_ORDER}
    tn = tr.of("thread_new", pid=pid)
    eq(sorted(e.get("child_tid") for e in tn), sorted(named), "thread_new child_tids")
    check(all(e.get("tid") == pid for e in tn), f"thread_new creator is not main: {tn}")
    exits = tr.of("exit", pid=pid)
    by_tid = collections.Counter(e.get("tid") for e in exits)
    for tid in named:
        eq(by_tid[tid], 1, f"exit events of thread {tid}")
    dead = [e for e in exits if e.get("group_dead")]
    eq(len(dead), 1, "exit events with group_dead")
    eq(dead[0].get("code"), 0, "exit code in the group_dead exit event")
    for e in exits:
        if e.get("tid") in named:
            eq(e.get("group_dead"), False, f"group_dead of thread {e.get('tid')}'s exit")
    check_ends_after_exits(tr, pid)


def check_ends_after_exits(tr, pid):
    """The process's summary comes after every exit of its threads, whatever order their records
    came in (a sibling's can follow the one that ended the process)."""
    at = [i for i, e in enumerate(tr.events) if e.get("pid") == pid and
          e.get("type") in ("exit", "process_summary")]
    kinds = [tr.events[i]["type"] for i in at]
    check(kinds and kinds[-1] == "process_summary" and kinds.count("process_summary") == 1,
          f"pid {pid}: one process_summary, after every exit event: {kinds}")


def test_exit_race_every_thread_exit():
    """exit_race -r 16 -n 4 (tests/workloads/exit_race.c) under -f: 16 processes whose 1 to 4
    threads end while main calls exit_group (some return, some are killed, one is joined just
    before). Each process: an exit event for every thread it created, exactly one group_dead with
    code 5, its summary after all of them, and each xr- thread's exact calls (mmap 1, munmap 1)."""
    rc, tr, err = mw.launch_json("-f", "--", mw.wl("exit_race"), "-n", "4", "-r", "16",
                                 timeout=120)
    eq(rc, 5, f"exit status (stderr {mw.tail(err)!r})")
    pids = [e["child_pid"] for e in tr.of("fork")]
    eq(len(pids), 16, "fork events")
    for r, pid in enumerate(pids):
        made = sorted(e["child_tid"] for e in tr.of("thread_new", pid=pid))
        eq(len(made), 1 + r % 4, f"pid {pid}: thread_new events")
        exits = tr.of("exit", pid=pid)
        by_tid = collections.Counter(e["tid"] for e in exits)
        for tid in made + [pid]:
            eq(by_tid[tid], 1, f"pid {pid}: exit events of thread {tid}")
        dead = [e for e in exits if e.get("group_dead")]
        eq(len(dead), 1, f"pid {pid}: exit events with group_dead")
        eq(dead[0].get("code"), 5, f"pid {pid}: exit code in the group_dead exit event")
        check_ends_after_exits(tr, pid)
        eq(tr.process(pid).get("code"), 5, f"pid {pid}: process_summary code")
        ths = tr.thread_summaries(pid)
        for tid in made:
            c = ths[tid]["calls"]
            eq((c["mmap"], c["munmap"]), (1, 1), f"pid {pid}: {ths[tid]['comm']} mmap/munmap")


def test_exec_event():
    """A traced process that execs (sh -c 'exec exiter -n 2'): an exec event with the new comm,
    the same pid, and the new program's calls traced (the model starts over at exec)."""
    rc, tr, err = mw.launch_json("--", "/bin/sh", "-c", f"exec {mw.wl('exiter')} -n 2")
    eq(rc, X.EXITER_STATUS, f"exit status (stderr {mw.tail(err)!r})")
    ts = tr.thread("exiter")
    pid = ts["pid"]
    eq(ts["tid"], pid, "exiter runs as the launched process itself")
    ex = tr.of("exec", pid=pid)
    eq([e.get("comm") for e in ex], ["exiter"], "exec events")
    ours = [(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=pid, comm="exiter")
            if e["args"].get("len") == X.EXITER_LEN]
    eq(ours, [("mmap", 65536), ("munmap", -65536)] * 2, "exiter's own calls after the exec")
    eq(tr.process(pid).get("comm"), "exiter", "process_summary comm after exec")


def test_launch_from_first_syscall():
    """Launch mode traces from the first syscall after exec (the loader's mmaps included):
    the main thread's per-syscall counts equal strace's for a separate launch of the same
    program (the counts are deterministic; the addresses are not, because of ASLR)."""
    tr, pid = ops_launch()
    mw.need_tool("strace")
    out = mw.tmpfile("strace.txt")
    rc, _, err = mw.run(["strace", "-f", "-qq", "-e", "trace=" + mw.TRACED, "-o", out,
                         mw.wl("ops")], timeout=30)
    eq(rc, 0, f"strace -- ops (stderr {mw.tail(err)!r})")
    st = mw.parse_strace(out)
    st_main = st[min(st)]
    want = {s: sum(1 for c in st_main if c.name == s) for s in X.SYSCALLS}
    main = tr.thread_summaries(pid).get(pid)
    check(main is not None, "no thread_summary for the main thread")
    eq(main["calls"], want, "main thread calls (memwatch) vs strace of a separate launch")
    got = [(e["name"], e.get("error")) for e in tr.syscalls(tid=pid)]
    eq(got, [(c.name, c.err) for c in st_main], "main thread syscall names/errors in order")


def test_arena_demo_exact():
    """user/alloc/SIGNATURES.md section 3 reproduced: each of 6 workers reserves exactly one 64 MiB arena
    heap (net +64 MiB after the head/tail trims) and grows it with exactly 1001 mprotects
    (1 x 132 KiB + 1000 x 4 KiB); `-c --json` prints summaries only."""
    rc, tr, err = mw.launch_json("-c", "--", mw.wl("arena_demo"), "6")
    eq(rc, 0, f"memwatch -c --json -- arena_demo 6 (stderr {mw.tail(err)!r})")
    eq(len(tr.syscalls()), 0, "syscall events with -c")
    for i in range(1, 7):
        ts = tr.thread(f"worker-{i}")
        c = ts["calls"]
        eq(c["mprotect"], 1001, f"worker-{i} mprotect calls")
        eq(c["madvise"], 1, f"worker-{i} madvise calls (stack at exit)")
        eq(c["brk"] + c["mremap"], 0, f"worker-{i} brk+mremap calls")
        check(1 <= c["mmap"] <= 2 and c["munmap"] <= 3, f"worker-{i} mmap/munmap calls: {c}")
        eq(ts["errors"], 0, f"worker-{i} errors")
        eq(ts["net"], 64 << 20, f"worker-{i} net (one 64 MiB heap reserved)")


def test_fresh_boot_without_tracefs():
    """tracefs unmounted (a private mount namespace without /sys/kernel/tracing and
    /sys/kernel/debug/tracing, as on a fresh boot): memwatch mounts it and the per-thread
    numbers are exact."""
    unshare = mw.need_tool("unshare")
    out = mw.tmpfile("mw.json")
    script = ('umount -l /sys/kernel/debug 2>/dev/null; umount -l /sys/kernel/tracing 2>/dev/null; '
              'test -e /sys/kernel/tracing/events && exit 99; "$0" --json -o "$1" -- "$2" || exit; '
              'test -e /sys/kernel/tracing/events/syscalls || exit 98')
    p = mw.Proc([unshare, "-m", "sh", "-c", script, mw.need_memwatch(), out, mw.wl("ops")],
                name="memwatch")
    rc = p.wait(30, "memwatch without tracefs")
    check(rc != 99, "could not unmount tracefs in a private mount namespace")
    check(rc != 98, "memwatch did not mount tracefs (fell back to raw tracepoints)")
    eq(rc, 0, f"exit status (stderr {mw.tail(p.text('err'))!r})")
    tr = mw.read_ndjson(out)
    pid = tr.thread("mw-mapper")["pid"]
    for comm in X.OPS_ORDER:
        mw.check_summary(tr.thread(comm, pid), X.OPS[comm]["summary"], comm)


def test_raw_syscall_fallback():
    """MEMWATCH_RAW_SYSCALLS=1 (the path taken when tracefs cannot be mounted: tp_btf
    sys_enter/sys_exit): the same exact per-thread numbers, with and without -T."""
    for extra in ((), ("-T",)):
        out = mw.tmpfile("mw.json")
        p = mw.Proc([mw.need_memwatch(), "--json", *extra, "-o", out, "--", mw.wl("ops")],
                    name="memwatch", env=dict(os.environ, MEMWATCH_RAW_SYSCALLS="1"))
        eq(p.wait(30, "memwatch raw"), 0, f"exit status (stderr {mw.tail(p.text('err'))!r})")
        tr = mw.read_ndjson(out)
        pid = tr.thread("mw-mapper")["pid"]
        for comm in X.OPS_ORDER:
            mw.check_summary(tr.thread(comm, pid), X.OPS[comm]["summary"], comm)
        calls = [e for e in tr.events if e["type"] == "syscall"]
        eq(all("dur_ns" in e for e in calls), bool(extra), f"dur_ns with {extra}")
        if extra:
            check_durations(tr, "MEMWATCH_RAW_SYSCALLS=1 -T ops")


def test_mremap_growth_is_the_callers():
    """remapper: main maps 4 pages, the thread "grower" grows them in place to 12, main to 16.
    --maps-at-exit's region objects charge each part to the thread that made it: [+0, +4P)
    and [+12P, +16P) main's, [+4P, +12P) grower's (before, all 16 pages were main's)."""
    out = mw.tmpfile("remapper.ndjson")
    p = mw.Proc([mw.need_memwatch(), "--json", "--maps-at-exit", "-o", out, "--",
                 mw.wl("remapper"), "-W"], stdin=mw.subprocess.PIPE, name="memwatch")
    m = p.wait_line(r"^done (\d+) (0x[0-9a-f]+) (\d+)$")
    pid, base, grower = int(m.group(1)), int(m.group(2), 16), int(m.group(3))
    p.send()
    eq(p.wait(20, "memwatch"), 0, "memwatch exit status")
    pg = os.sysconf("SC_PAGE_SIZE")
    got = []
    for o in mw.read_ndjson(out).of("region"):
        start, end = int(o["start"], 16) - base, int(o["end"], 16) - base
        if o["pid"] == pid and start < 16 * pg and end > 0:
            # Clipped: a neighbour of the same kind may share the object.
            got.append((max(start, 0), min(end, 16 * pg), o["tid"]))
    eq(sorted(got), [(0, 4 * pg, pid), (4 * pg, 12 * pg, grower), (12 * pg, 16 * pg, pid)],
       "regions of the grown mapping: (start, end) from its base, tid")
