# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The VmSize identity: a process's net equals its VmSize change (vm_end - vm_start) however it
was traced: children that exec and exit in a storm (-f), a busy process attached with -p whose
/proc/PID/maps takes hundreds of reads, SysV shared memory, pkey_mprotect and a MAP_GROWSDOWN
mapping that grows by a fault. Checked against VmSize and /proc/PID/maps."""
import collections
import signal
import time

import mw
from mw import check, eq


def _identity(ps, what):
    check(ps.get("vm_end"), f"{what}: no vm_end: {ps}")
    eq(ps.get("net"), ps["vm_end"] - ps["vm_start"], f"{what}: net vs vm_end - vm_start ({ps})")


def test_identity_exec_storm():
    """memwatch -f on `spawner -j 16 1000`: 1000 children fork, exec and exit, most before
    memwatch can read their /proc; each child's net equals its VmSize change from exec to exit
    (the exec record carries the new image's size), with nothing unattributed, and each made
    exactly its three calls after the exec (+64K -16K +8K of them)."""
    rc, tr, err = mw.launch_json("-f", "-c", "--", mw.wl("spawner"), "-j", "16", "1000",
                                 timeout=240)
    eq(rc, 0, f"memwatch -f -- spawner exit status (stderr {mw.tail(err)!r})")
    sums = tr.of("process_summary")
    parent = [p for p in sums if not p.get("parent")]
    kids = [p for p in sums if p.get("parent")]
    eq(len(parent), 1, "process_summaries without a parent")
    eq(len(kids), 1000, "children's process_summaries")
    bad = [p for p in kids if p.get("net") != p.get("vm_end", 0) - p.get("vm_start", 0)
           or not p.get("vm_end") or p.get("unattributed")]
    check(not bad, f"{len(bad)} of 1000 children break net == vm_end - vm_start; first: "
          f"{bad[:2]}")
    _identity(parent[0], "spawner")
    ths = tr.thread_summaries()
    for p in kids[:50]:
        t = ths.get(p["pid"])
        check(t is not None, f"child {p['pid']}: no thread_summary")
        check(t["calls"]["mmap"] >= 2 and t["calls"]["munmap"] >= 1,
              f"child {p['pid']}: calls {t['calls']}")


test_identity_exec_storm.timeout = 300


def test_identity_busy_attach():
    """-p on `bigmaps` (20000 standing mappings, so /proc/PID/maps is ~1.5 MB and takes hundreds
    of reads, while two threads mmap and munmap as fast as they can): no record lost, calls
    raced the baseline, and still the baseline is exact: nothing unattributed, net ==
    vm_end - vm_start with vm_end the VmSize read here once the threads stopped, and the final
    region map equals /proc/PID/maps."""
    mw.skip_under_asan("two threads mapping as fast as they can fill a 64 MiB ring that the "
                       "sanitized memwatch takes minutes to drain")
    w = mw.workload("bigmaps", "-n", "20000")
    out, rec = mw.tmpfile("mw.json"), mw.tmpfile("mw.rec")
    m = mw.attach([w.pid], "--json", "-c", "--maps-at-exit", "--ring-size", "64M",
                  "--record", rec, out=out)
    time.sleep(0.5)
    w.send()
    w.wait_line(r"^done \d+$")
    maps, vm1 = mw.proc_maps(w.pid), mw.vmsize(w.pid)
    eq(mw.interrupt(m, signal.SIGINT), 0, "memwatch exit status after SIGINT")
    w.send()
    eq(w.wait(20, "bigmaps"), 0, "bigmaps exit status")
    check(len(maps) > 20000, f"bigmaps has only {len(maps)} mappings")
    tr = mw.read_ndjson(out)
    eq(tr.lost(), 0, "records lost (the test needs none)")
    ps = tr.process(w.pid)
    check(ps.get("raced", 0) > 0, f"no call raced the baseline: the process was not busy ({ps})")
    eq(ps.get("unattributed"), 0, f"unattributed bytes ({ps})")
    eq(ps.get("vm_end"), vm1, "vm_end vs VmSize")
    # The map first: a wrong map and a wrong net are different faults.
    mw.check_regions(tr, w.pid, maps)
    _identity(ps, "bigmaps")
    # The recording carries when each piece of the baseline was read: the replay settles the
    # baseline the same way.
    rc, text, err = mw.run([mw.MEMWATCH, "--replay", rec, "--json", "-c", "-o", "-"], timeout=60)
    eq(rc, 0, f"replay exit status (stderr {mw.tail(err)!r})")
    rs = mw.Trace(mw.parse_ndjson(text)).process(w.pid)
    keys = ("net", "vm_start", "vm_end", "raced", "unattributed", "stack_delta")
    eq({k: rs.get(k) for k in keys}, {k: ps.get(k) for k in keys}, "replayed process_summary")


G0 = 0x200000000000


def _sysv_run(json):
    """sysv -w -W under memwatch -p (and strace -f -p for the text run): (pid, memwatch output
    path, strace output path or None, VmSize before, VmSize and maps at "done")."""
    w = mw.workload("sysv", "-w", "-W")
    out = mw.tmpfile("mw.out")
    st_out = None if json else mw.tmpfile("strace.txt")
    st = None if json else mw.strace_attach(w.pid, st_out)
    extra = ("--json", "--maps-at-exit") if json else ()
    m = mw.attach([w.pid], *extra, out=out)
    vm0 = mw.vmsize(w.pid)
    w.send()
    w.wait_line(r"^done \d+$")
    maps, vm1 = mw.proc_maps(w.pid), mw.vmsize(w.pid)
    w.send()
    eq(w.wait(10, "sysv"), 0, f"sysv exit status (stderr {mw.tail(w.text('err'))!r})")
    eq(mw.finish(m, 15, "memwatch after its target exited"), 0, "memwatch exit status")
    if st:
        st.wait(10, "strace")
    return w.pid, out, st_out, vm0, vm1, maps


def test_sysv_shm_pkey_text_matches_strace():
    """`sysv` (shmat, shmat SHM_RDONLY, shmat SHM_REMAP over a mapping, two shmdt,
    pkey_mprotect with key -1 and a failing one with key 5, a MAP_GROWSDOWN mmap) under memwatch
    -p and strace -f -p: every line's `name(args) = ret` is strace's, and the vm part of each
    is the change it made (shmat +16K, shmdt -16K, the SHM_REMAP 0, pkey_mprotect 0)."""
    pid, out, st_out, _, _, _ = _sysv_run(json=False)
    st = mw.parse_strace(st_out).get(pid, [])
    with open(out, errors="replace") as f:
        lines = [ln for ln in mw.parse_text(f.read()) if ln.tid == pid]
    names = ("shmat", "shmdt", "pkey_mprotect")
    got = [ln for ln in lines if ln.name in names]
    want = [c for c in st if c.name in names]
    eq(len(want), 7, f"strace's shmat/shmdt/pkey_mprotect calls: {want}")
    eq([f"{g.name}({g.args})" for g in got], [f"{s.name}({s.args})" for s in want],
       "calls (memwatch text vs strace)")
    for g, s in zip(got, want):
        if s.err:
            check(g.ret_str in (f"-1 {s.err}", s.ret_raw), f"{s.name}: {g.ret_str!r} vs "
                  f"strace {s.ret_raw!r}")
        else:
            eq(g.ret_str, s.ret_raw, f"{s.name}({s.args}) return")
    vm = [mw.parse_human(g.vm) if g.vm else 0 for g in got]
    eq(vm, [16384, 16384, 0, -16384, -16384, 0, 0], "vm parts of shmat/shmdt/pkey_mprotect")


def test_sysv_shm_pkey_growsdown_identity():
    """The same workload with --json --maps-at-exit: calls per kind exact; net equals the VmSize
    change read here (shm attached and detached, the MAP_GROWSDOWN mapping counted once, its
    32 KiB growth by a fault in stack_delta); nothing unattributed; the final map equals
    /proc/PID/maps, protections after pkey_mprotect included (the grown stack-like mapping
    aside: its growth has no call)."""
    pid, out, _, vm0, vm1, maps = _sysv_run(json=True)
    tr = mw.read_ndjson(out)
    t = tr.thread_summaries(pid)[pid]
    c = t["calls"]
    eq((c["shmat"], c["shmdt"], c["pkey_mprotect"], c["mmap"]), (3, 2, 2, 3),
       "calls shmat, shmdt, pkey_mprotect, mmap")
    eq(t["errors"], 1, "errors (pkey_mprotect with key 5)")
    deltas = [e["vm_delta"] for e in tr.syscalls(pid=pid)]
    eq(deltas, [16384, 16384, 32768, 0, -16384, -16384, 8192, 0, 0, 65536], "vm_deltas")
    sa = [e for e in tr.syscalls(pid=pid) if e["name"] == "shmat"]
    eq(sa[1]["args"].get("flags"), "SHM_RDONLY", "shmat args.flags")
    check(isinstance(sa[0]["args"].get("shmid"), int), f"shmat args: {sa[0]['args']}")
    ps = tr.process(pid)
    eq((ps.get("vm_start"), ps.get("vm_end")), (vm0, vm1), "vm_start, vm_end vs VmSize")
    eq(ps.get("net"), vm1 - vm0, "net vs the VmSize change")
    eq(ps.get("unattributed"), 0, "unattributed")
    eq(ps.get("stack_delta"), 32768, "stack_delta (the MAP_GROWSDOWN mapping's fault growth)")
    grown = [(s, e) for s, e, _, _ in maps if s < G0 + 65536 and G0 < e]
    eq(len(grown), 1, f"the grown mapping in /proc/{pid}/maps")
    eq(grown[0], (G0 - 8 * 4096, G0 + 65536), "the MAP_GROWSDOWN mapping after its growth")
    mw.check_regions(tr, pid, [r for r in maps if r[0] != grown[0][0]],
                     ignore=[grown[0]])
    # The SHM_RDONLY segment is still attached: in the map, shared and read-only.
    shm = [r for r in tr.of("region", pid=pid) if r.get("class") == "shm"]
    check(any(r.get("prot") == "PROT_READ" for r in shm), f"no read-only shm region: {shm}")
    by = collections.Counter(r.get("class") for r in tr.of("region", pid=pid))
    check(by["shm"] >= 1, f"region classes: {dict(by)}")
