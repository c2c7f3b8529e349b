# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Allocator awareness (issue 3): glibc arenas, heap growth/shrink/deletion, thread stacks,
jemalloc/tcmalloc detection and a real server (memcached) traced with -p.

Written against the NDJSON contract of issue 3 (common keys type, ts_ns, pid, tid, comm):
  arena_create {arena, base, reserved, committed, source}   tid/comm: the creating thread
  arena_heap_new / arena_grow {arena, base, bytes, committed}
  arena_shrink {arena, bytes, trimmed, committed}   arena_heap_delete {arena, base}
  arena_reuse {arena}   thread_stack {base, bytes, guard}   main_heap_grow/main_heap_trim {bytes}
  allocator {allocator: glibc|jemalloc|tcmalloc|unknown, evidence}
  at exit, one arena_summary per arena {pid, arena, creator_tid, heaps, reserved, committed,
  trimmed}: heaps = live heaps, reserved = live heaps x 64 MiB, committed = RW bytes of the live
  heaps (a high-water mark under the MADV_DONTNEED shrink form, lowered by the MAP_FIXED
  PROT_NONE form), trimmed = bytes given back by shrinks (user/alloc/SIGNATURES.md section 6).
Every expected number is measured with strace and written in the headers of
tests/workloads/arenas.c and stacks.c, and recomputed here from memwatch's own raw `syscall`
objects of the same run (an independent view). glibc's arena count comes from the workload
(malloc_info) or, for memcached, from gdb walking main_arena.next.

When memwatch does not emit a type at all (a workload that certainly creates arenas yields no
arena_create), the tests that need it FAIL with that reason first: a total regression must not
read as "not implemented".
"""
import collections
import glob
import os
import re
import shutil
import signal
import socket
import time

import mw
from mw import check, eq

MiB = 1 << 20
HEAP = 64 * MiB
FIRST_RW = 135168                   # a new heap's first mprotect (132 KiB)
RW = "PROT_READ|PROT_WRITE"

# From tests/workloads/arenas.c (measured with strace -f).
ARENA_RW_DEFAULT = 1060864          # -b 1048576: 135168 + 226 x 4096
GROWS_DEFAULT = 226
ARENA_RW_SHRINK = 2084864           # -s: + 10 x 100 KiB
SHRINK_COUNT = 10
SHRINK_BYTES = 1949696              # 73728 + 8 x 102400 + 1056768
HEAP1_RW_BIG = 67108864             # -t 1 -b 70000000: the first heap entirely RW


# ---------------------------------------------------------------- runs

def _launch(argv, env=None, timeout=60.0):
    """memwatch --json -o TMP -- ARGV: returns (Trace, workload stdout, memwatch stderr).
    env: extra variables for memwatch, which the launched command inherits."""
    out = mw.tmpfile("memwatch.ndjson")
    e = None
    if env:
        e = dict(os.environ)
        e.update(env)
    p = mw.Proc([mw.need_memwatch(), "--json", "-o", out, "--"] + [str(a) for a in argv],
                name="memwatch", env=e)
    rc = p.wait(timeout)
    eq(rc, 0, f"memwatch --json -- {' '.join(map(str, argv))}: exit status "
              f"(stderr: {mw.tail(p.text('err'))!r})")
    return mw.read_ndjson(out), p.text("out"), p.text("err")


def _glibc_arenas(stdout, what):
    m = re.search(r"^glibc_arenas (\d+)$", stdout, re.M)
    check(m, f"{what}: no 'glibc_arenas N' line on the workload's stdout: {mw.tail(stdout)!r}")
    return int(m.group(1))


def _arenas(*args, env=None):
    tr, out, _ = _launch([mw.wl("arenas")] + list(args), env=env)
    return tr, out


@mw.shared
def _probe():
    """arenas -t 4 (4 threads, 4 arenas: certain on this machine)."""
    return _arenas("-t", "4")


def _need(types, why):
    """Fail with `why` unless the probe run (which certainly has them) shows one of these
    types."""
    tr, _ = _probe()
    check(any(tr.of(t) for t in types), why)


def need_arenas():
    _need(("arena_create",), "memwatch reports no arena (no arena_create object for a "
                             "workload whose 4 threads create 4 glibc arenas)")


def need_stacks():
    _need(("thread_stack",), "memwatch reports no thread stack (no thread_stack object for a "
                             "workload that maps 4 thread stacks)")


def need_allocator():
    _need(("allocator",), "memwatch reports no allocator (no allocator object for a glibc "
                          "malloc workload)")


def _pid_of(tr, comm):
    return tr.thread(comm)["pid"]


def _tids(tr, pid, prefix):
    """{comm: tid} of the threads whose name starts with prefix."""
    return {e["comm"]: e["tid"] for e in tr.thread_summaries(pid).values()
            if str(e.get("comm", "")).startswith(prefix)}


# ---------------------------------------------------------------- raw recomputation

def _int(v):
    return v if isinstance(v, int) else int(v, 0)


def raw_heaps(tr, pid):
    """glibc heaps recomputed from the raw syscall objects of pid, in order: a heap starts at
    mprotect(B, 135168, RW) with B 64 MiB aligned; it is deleted by munmap(B, 64 MiB).
    Returns {base: dict(tid, committed, grows[(tid, bytes)], dontneed, fixed, deleted)}."""
    heaps = collections.OrderedDict()

    def owner(a):
        h = heaps.get(a & ~(HEAP - 1))
        return h if h and not h["deleted"] else None

    for e in tr.syscalls(pid=pid):
        if e.get("error"):
            continue
        a = e.get("args") or {}
        name = e.get("name")
        if name == "mprotect" and mw.norm_prot(a.get("prot")) == RW:
            base, ln = mw.addr(a["addr"]), _int(a["len"])
            h = owner(base)
            if h is None and base % HEAP == 0 and ln == FIRST_RW:
                heaps[base] = dict(tid=e.get("tid"), committed=ln, grows=[], dontneed=0,
                                   fixed=0, deleted=False, rw_end=base + ln)
            elif h is not None:
                h["committed"] += ln
                h["grows"].append((e.get("tid"), ln))
        elif name == "madvise" and a.get("advice") == "MADV_DONTNEED":
            h = owner(mw.addr(a["addr"]))
            if h is not None:
                h["dontneed"] += _int(a["len"])
        elif name == "mmap" and "MAP_FIXED" in str(a.get("flags")) and \
                mw.norm_prot(a.get("prot")) == "PROT_NONE":
            h = owner(mw.addr(a["addr"]))
            if h is not None:
                h["fixed"] += _int(a["len"])
                h["committed"] -= _int(a["len"])
        elif name == "munmap" and _int(a.get("len")) == HEAP:
            h = heaps.get(mw.addr(a["addr"]))
            if h is not None and not h["deleted"]:
                h["deleted"] = True
    return heaps


def arena_bases(tr, pid):
    """{arena id: [heap bases]} from arena_create + arena_heap_new, minus arena_heap_delete."""
    out = collections.OrderedDict()
    for e in tr.events:
        if e.get("pid") != pid:
            continue
        if e["type"] in ("arena_create", "arena_heap_new"):
            out.setdefault(e.get("arena"), []).append(mw.addr(e.get("base"), e["type"] + " base"))
        elif e["type"] == "arena_heap_delete":
            b = mw.addr(e.get("base"), "arena_heap_delete base")
            check(b in out.get(e.get("arena"), []),
                  f"arena_heap_delete of {hex(b)}: not a heap of arena {e.get('arena')}")
            out[e.get("arena")].remove(b)
    return out


def summaries(tr, pid):
    """{arena id: arena_summary} (the last one per arena)."""
    out = {}
    for e in tr.of("arena_summary"):
        if e.get("pid") == pid:
            out[e.get("arena")] = e
    return out


def check_creates(tr, pid, want, what):
    """Exactly `want` arena_create objects for pid, with sane keys; returns them."""
    cr = tr.of("arena_create", pid=pid)
    eq(len(cr), want, f"{what}: arena_create objects")
    ids = [e.get("arena") for e in cr]
    check(all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in ids),
          f"{what}: arena ids must be integers from 1: {ids}")
    eq(len(set(ids)), len(ids), f"{what}: distinct arena ids ({ids})")
    for e in cr:
        b = mw.addr(e.get("base"), f"{what}: arena_create base")
        eq(b % HEAP, 0, f"{what}: arena {e.get('arena')} base {hex(b)} 64 MiB aligned")
        eq(e.get("reserved"), HEAP, f"{what}: arena {e.get('arena')} reserved at creation")
        eq(e.get("committed"), FIRST_RW, f"{what}: arena {e.get('arena')} committed at creation")
        eq(e.get("source"), "syscalls",
           f"{what}: arena {e.get('arena')} source (Debian's glibc has no USDT probes)")
    return cr


def check_summaries(tr, pid, what, trimmed=None):
    """One arena_summary per created arena; creator_tid, heaps, reserved and committed equal
    what the raw syscalls of the same run give for that arena's live heaps."""
    cr = {e["arena"]: e for e in tr.of("arena_create", pid=pid)}
    sm = summaries(tr, pid)
    eq(sorted(sm), sorted(cr), f"{what}: arena ids in arena_summary vs arena_create")
    raw = raw_heaps(tr, pid)
    bases = arena_bases(tr, pid)
    live_raw = sorted(b for b, h in raw.items() if not h["deleted"])
    eq(sorted(b for bs in bases.values() for b in bs), live_raw,
       f"{what}: live heap bases (memwatch's arena events vs the raw syscalls)")
    for aid, s in sm.items():
        hs = bases[aid]
        eq(s.get("creator_tid"), cr[aid].get("tid"), f"{what}: arena {aid} creator_tid")
        eq(s.get("heaps"), len(hs), f"{what}: arena {aid} heaps")
        eq(s.get("reserved"), HEAP * len(hs), f"{what}: arena {aid} reserved")
        eq(s.get("committed"), sum(raw[b]["committed"] for b in hs),
           f"{what}: arena {aid} committed vs the sum of its RW mprotects in the syscall objects")
        if trimmed is not None:
            eq(s.get("trimmed"), trimmed, f"{what}: arena {aid} trimmed")
    return sm


# ---------------------------------------------------------------- glibc arenas

def test_alloc_arena_per_thread():
    """arenas -t 4: exactly 4 arena_create, one per named thread, each by that thread (tid and
    comm), ids distinct, == glibc's own count (malloc_info); arena_grow = the growth mprotects
    of each heap (226 x 4096 by its thread); arena_summary committed == 1060864 == the raw
    recomputation; no shrink."""
    need_arenas()
    tr, out = _probe()
    pid = _pid_of(tr, "arena-1")
    eq(_glibc_arenas(out, "arenas -t 4"), 4, "glibc_arenas (malloc_info) of arenas -t 4")
    tids = _tids(tr, pid, "arena-")
    eq(sorted(tids), [f"arena-{i}" for i in range(1, 5)], "named threads")
    cr = check_creates(tr, pid, 4, "arenas -t 4")
    eq(sorted(e.get("comm") for e in cr), sorted(tids), "arena_create comms (one per thread)")
    for e in cr:
        eq(e.get("tid"), tids.get(e.get("comm")), f"arena_create by {e.get('comm')}: tid")
    raw = raw_heaps(tr, pid)
    eq(len(cr), _glibc_arenas(out, "arenas -t 4"), "arena_create count vs glibc_arenas")
    for e in cr:
        base = mw.addr(e["base"])
        check(base in raw, f"arena {e['arena']}: base {hex(base)} has no mprotect(base, "
                           f"135168, RW) in the syscall objects")
        eq(raw[base]["tid"], e["tid"], f"arena {e['arena']}: first mprotect's thread")
        grows = [(g.get("tid"), g.get("bytes")) for g in tr.of("arena_grow", pid=pid)
                 if g.get("arena") == e["arena"]]
        eq(grows, raw[base]["grows"], f"arena {e['arena']}: arena_grow (tid, bytes) vs the "
                                      f"growth mprotects of its heap")
        eq(len(grows), GROWS_DEFAULT, f"arena {e['arena']}: growth mprotects")
        for g in tr.of("arena_grow", pid=pid):
            if g.get("arena") == e["arena"]:
                eq(mw.addr(g.get("base")), base, f"arena {e['arena']}: arena_grow base")
    sm = check_summaries(tr, pid, "arenas -t 4", trimmed=0)
    for aid, s in sm.items():
        eq(s.get("committed"), ARENA_RW_DEFAULT, f"arena {aid}: committed (arenas.c header)")
    eq(tr.of("arena_shrink", pid=pid), [], "arena_shrink objects without -s")
    eq(tr.of("arena_heap_delete", pid=pid), [], "arena_heap_delete objects")


test_alloc_arena_per_thread.timeout = 90


def test_alloc_arena_limit():
    """arenas -t 8N+4 on N online CPUs (N read from the machine; -t 20 on 2): glibc's limit is
    8 x N arenas counting main, so exactly 8N-1 arena_create (each by a distinct named thread)
    == glibc_arenas; per-arena committed equals the raw RW mprotects of its heap whichever
    threads grew it."""
    need_arenas()
    nthreads, narenas = mw.arena_limit_run()
    what = f"arenas -t {nthreads} ({mw.online_cpus()} online CPUs)"
    tr, out = _arenas("-t", nthreads)
    pid = _pid_of(tr, "arena-1")
    eq(_glibc_arenas(out, what), narenas, f"glibc_arenas (malloc_info) of {what}")
    cr = check_creates(tr, pid, narenas, what)
    tids = _tids(tr, pid, "arena-")
    eq(len(tids), nthreads, "named threads")
    eq(len({e.get("tid") for e in cr}), narenas, "distinct creating threads")
    for e in cr:
        eq(e.get("tid"), tids.get(e.get("comm")), f"arena_create by {e.get('comm')}: tid")
    check_summaries(tr, pid, what, trimmed=0)
    # The 5 threads beyond the limit attach to existing arenas with no syscall; one that then
    # grows an arena it did not create is seen growing it: arena_grow by that thread, and among
    # the arena's threads. It is no arena_reuse: a thread also grows the arena of a block it
    # reallocs, and the syscalls cannot tell the two apart (only glibc's probes can).
    raw = raw_heaps(tr, pid)
    bases = arena_bases(tr, pid)
    creator = {e["arena"]: e["tid"] for e in cr}
    want = set()
    for aid, hs in bases.items():
        for b in hs:
            want |= {(aid, t) for t, _ in raw[b]["grows"] if t != creator[aid]}
    check(want, f"{what}: no thread grew another's arena (the raw syscalls); the test needs "
                f"more threads than the limit")
    got = {(e.get("arena"), e.get("tid")) for e in tr.of("arena_grow", pid=pid)
           if e.get("tid") != creator.get(e.get("arena"))}
    eq(sorted(got), sorted(want), f"{what}: (arena, tid) of arena_grow by a thread other than "
                                  f"the creator vs the raw mprotects")
    eq(tr.of("arena_reuse", pid=pid), [], f"{what}: arena_reuse from the syscalls alone")
    sm = summaries(tr, pid)
    for aid in sm:
        eq(sm[aid].get("threads"), 1 + len({t for a, t in want if a == aid}),
           f"{what}: arena {aid} threads (creator + threads seen growing it)")


test_alloc_arena_limit.timeout = 90


def test_alloc_arena_max():
    """MALLOC_ARENA_MAX=1 -> 0 arenas, =2 -> 1, GLIBC_TUNABLES=glibc.malloc.arena_max=3 -> 2
    (arenas -t 4), each == glibc_arenas; with 0 arenas the threads grow the main heap."""
    need_arenas()
    for env, want in ((("MALLOC_ARENA_MAX", "1"), 0), (("MALLOC_ARENA_MAX", "2"), 1),
                      (("GLIBC_TUNABLES", "glibc.malloc.arena_max=3"), 2)):
        what = f"{env[0]}={env[1]} arenas -t 4"
        tr, out = _arenas("-t", "4", env={env[0]: env[1]})
        pid = _pid_of(tr, "arena-1")
        eq(_glibc_arenas(out, what), want, f"{what}: glibc_arenas (malloc_info)")
        check_creates(tr, pid, want, what)
        eq(len(summaries(tr, pid)), want, f"{what}: arena_summary objects")
        check_summaries(tr, pid, what)
        if want == 0:
            tids = set(_tids(tr, pid, "arena-").values())
            grow = [e for e in tr.of("main_heap_grow", pid=pid) if e.get("tid") in tids]
            check(grow, f"{what}: no main_heap_grow by the arena-* threads (they share "
                        f"main_arena and grow brk)")


test_alloc_arena_max.timeout = 120


def test_alloc_shrink_dontneed():
    """arenas -t 1 -s, default overcommit: 10 arena_shrink (MADV_DONTNEED form), bytes equal
    to the raw DONTNEEDs inside the heap (1949696 in all); committed stays the RW high-water
    mark 2084864 and trimmed = 1949696."""
    need_arenas()
    tr, out = _arenas("-t", "1", "-s")
    pid = _pid_of(tr, "arena-1")
    eq(_glibc_arenas(out, "arenas -t 1 -s"), 1, "glibc_arenas")
    cr = check_creates(tr, pid, 1, "arenas -t 1 -s")
    aid, base = cr[0]["arena"], mw.addr(cr[0]["base"])
    raw = raw_heaps(tr, pid)[base]
    eq(raw["dontneed"], SHRINK_BYTES, "raw MADV_DONTNEED bytes inside the heap (arenas.c)")
    sh = tr.of("arena_shrink", pid=pid)
    eq(len(sh), SHRINK_COUNT, "arena_shrink objects")
    eq(sum(e.get("bytes", 0) for e in sh), SHRINK_BYTES, "arena_shrink bytes in all")
    check(all(e.get("arena") == aid for e in sh), "arena_shrink of another arena")
    eq(sh[-1].get("trimmed"), SHRINK_BYTES, "last arena_shrink: trimmed")
    eq(sh[-1].get("committed"), ARENA_RW_SHRINK, "last arena_shrink: committed (high-water)")
    s = check_summaries(tr, pid, "arenas -t 1 -s", trimmed=SHRINK_BYTES)
    eq(s[aid].get("committed"), ARENA_RW_SHRINK, "arena_summary committed (high-water)")


test_alloc_shrink_dontneed.timeout = 60


def test_alloc_shrink_fixed():
    """The MAP_FIXED PROT_NONE shrink form: a setuid-root copy of arenas run as nobody
    (AT_SECURE makes glibc shrink heaps with mmap(MAP_FIXED, PROT_NONE)): 10 arena_shrink of
    1949696 bytes in all; committed drops to 135168 = the raw recomputation."""
    need_arenas()
    setpriv = mw.need_tool("setpriv")
    d = mw.tmpdir()
    os.chmod(d, 0o755)
    exe = os.path.join(d, "arenas")
    shutil.copy(mw.wl("arenas"), exe)
    os.chown(exe, 0, 0)
    os.chmod(exe, 0o4755)
    check(not os.statvfs(d).f_flag & os.ST_NOSUID,
          f"{d} is mounted nosuid: no setuid run for the MAP_FIXED shrink form (TMPDIR on a "
          f"file system without nosuid lets it run)")
    tr, out, _ = _launch([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                          exe, "-t", "1", "-s"])
    pid = _pid_of(tr, "arena-1")
    eq(_glibc_arenas(out, "setuid arenas -t 1 -s"), 1, "glibc_arenas")
    cr = check_creates(tr, pid, 1, "setuid arenas -t 1 -s")
    aid, base = cr[0]["arena"], mw.addr(cr[0]["base"])
    raw = raw_heaps(tr, pid)[base]
    eq((raw["fixed"], raw["dontneed"]), (SHRINK_BYTES, 0),
       "raw (MAP_FIXED PROT_NONE, MADV_DONTNEED) bytes inside the heap: the setuid run must "
       "use the MAP_FIXED form")
    sh = tr.of("arena_shrink", pid=pid)
    eq(len(sh), SHRINK_COUNT, "arena_shrink objects")
    eq(sum(e.get("bytes", 0) for e in sh), SHRINK_BYTES, "arena_shrink bytes in all")
    eq(sh[-1].get("committed"), FIRST_RW, "last arena_shrink: committed after MAP_FIXED shrinks")
    s = check_summaries(tr, pid, "setuid arenas -t 1 -s", trimmed=SHRINK_BYTES)
    eq(s[aid].get("committed"), ARENA_RW_SHRINK - SHRINK_BYTES, "arena_summary committed")


test_alloc_shrink_fixed.timeout = 60


def test_alloc_second_heap():
    """arenas -t 1 -b 70000000 -s: the first heap fills (67108864 RW), the arena gets a second
    heap (one arena_heap_new by arena-1, another 64 MiB aligned base), freeing it all deletes
    it (one arena_heap_delete of that base = the raw munmap(base, 64 MiB)); at exit the arena
    has 1 heap, 64 MiB reserved, committed = the first heap's 67108864."""
    need_arenas()
    tr, out = _arenas("-t", "1", "-b", "70000000", "-s")
    pid = _pid_of(tr, "arena-1")
    tid = tr.thread("arena-1")["tid"]
    eq(_glibc_arenas(out, "arenas -t 1 -b 70000000 -s"), 1, "glibc_arenas")
    cr = check_creates(tr, pid, 1, "arenas -t 1 -b 70000000 -s")
    aid, base1 = cr[0]["arena"], mw.addr(cr[0]["base"])
    raw = raw_heaps(tr, pid)
    eq(len(raw), 2, "heaps in the raw syscalls")
    base2 = [b for b in raw if b != base1][0]
    check(raw[base2]["deleted"], "raw: the second heap was not munmapped")
    hn = tr.of("arena_heap_new", pid=pid)
    eq([(e.get("arena"), mw.addr(e.get("base")), e.get("tid")) for e in hn],
       [(aid, base2, tid)], "arena_heap_new (arena, base, tid)")
    hd = tr.of("arena_heap_delete", pid=pid)
    eq([(e.get("arena"), mw.addr(e.get("base")), e.get("tid")) for e in hd],
       [(aid, base2, tid)], "arena_heap_delete (arena, base, tid)")
    check(hn[0]["ts_ns"] <= hd[0]["ts_ns"], "heap deleted before it was created")
    s = check_summaries(tr, pid, "arenas -t 1 -b 70000000 -s")
    eq((s[aid].get("heaps"), s[aid].get("reserved"), s[aid].get("committed")),
       (1, HEAP, HEAP1_RW_BIG), "arena_summary (heaps, reserved, committed)")


test_alloc_second_heap.timeout = 90


def test_alloc_attach_baseline():
    """arenas -w -k -t 4 attached with -p once every thread holds its 1 MiB: the 4 arenas
    existed before attach, so memwatch must recognise them from /proc/PID/maps (64 MiB aligned
    heaps, 1060864 bytes RW): 4 arena_summary (creator_tid 0: unknown), 1 heap, 64 MiB
    reserved, committed 1060864 each, == glibc_arenas; no arena_create after attach."""
    need_arenas()
    p = mw.workload("arenas", "-w", "-k", "-t", 4)
    p.send(b"g")
    p.wait_line(r"^held \d+$")
    out = mw.tmpfile("attach.ndjson")
    m = mw.attach([p.pid], "--json", out=out)
    p.close_stdin()
    eq(p.wait(30), 0, "arenas -k: exit status")
    mw.finish(m, 20, "memwatch -p after the target exited")
    tr = mw.read_ndjson(out)
    eq(_glibc_arenas(p.text("out"), "arenas -w -k -t 4"), 4, "glibc_arenas")
    eq(tr.of("arena_create", pid=p.pid), [], "arena_create after attach (all existed before)")
    sm = summaries(tr, p.pid)
    eq(len(sm), 4, "arena_summary objects (arenas present at attach)")
    for aid, s in sm.items():
        eq((s.get("creator_tid"), s.get("heaps"), s.get("reserved"), s.get("committed"),
            s.get("trimmed")), (0, 1, HEAP, ARENA_RW_DEFAULT, 0),
           f"arena {aid}: (creator_tid, heaps, reserved, committed, trimmed)")


test_alloc_attach_baseline.timeout = 60


def test_alloc_main_heap():
    """MALLOC_ARENA_MAX=1 arenas -t 4 -s: every thread uses main_arena, so the workers grow and
    trim brk; one main_heap_grow per raised break and one main_heap_trim per lowered break, by
    the calling thread, bytes = the change of the break (raw brk syscall objects)."""
    _need(("main_heap_grow",), "memwatch reports no main heap growth (no main_heap_grow "
                               "object for a workload whose main thread grows brk)")
    tr, out = _arenas("-t", "4", "-s", env={"MALLOC_ARENA_MAX": "1"})
    pid = _pid_of(tr, "arena-1")
    eq(_glibc_arenas(out, "MALLOC_ARENA_MAX=1 arenas -t 4 -s"), 0, "glibc_arenas")
    grows, trims, cur = [], [], None
    for e in tr.syscalls(pid=pid, name="brk"):
        if e.get("error"):
            continue
        ret = mw.addr(e.get("ret"), "brk ret")
        if cur is not None and ret != cur:
            (grows if ret > cur else trims).append((e.get("tid"), abs(ret - cur)))
        cur = ret
    tids = set(_tids(tr, pid, "arena-").values())
    check(any(t in tids for t, _ in grows) and any(t in tids for t, _ in trims),
          "raw: the arena-* threads did not both grow and trim brk (MALLOC_ARENA_MAX=1 -s)")
    eq([(e.get("tid"), e.get("bytes")) for e in tr.of("main_heap_grow", pid=pid)], grows,
       "main_heap_grow (tid, bytes) vs raised breaks")
    eq([(e.get("tid"), e.get("bytes")) for e in tr.of("main_heap_trim", pid=pid)], trims,
       "main_heap_trim (tid, bytes) vs lowered breaks")


test_alloc_main_heap.timeout = 60


# ---------------------------------------------------------------- thread stacks

def _stack_maps(tr, pid):
    """Raw MAP_STACK mmaps of pid: [(tid, base, len)]."""
    out = []
    for e in tr.syscalls(pid=pid, name="mmap"):
        if not e.get("error") and "MAP_STACK" in str(e["args"].get("flags")):
            out.append((e.get("tid"), mw.addr(e["ret"]), _int(e["args"]["len"])))
    return out


def _stacks_run(*args):
    tr, _, _ = _launch([mw.wl("stacks")] + list(args))
    pid = _pid_of(tr, "stack-1")
    return tr, pid


def test_alloc_thread_stacks():
    """stacks -g 4096 / -g 0 / -g 65536 (-n 3): one thread_stack per MAP_STACK mmap, with its
    base, bytes (8392704 / 8388608 / 8454144) and guard (4096 / 0 / 65536), by the creating
    (main) thread; and -n 4 -c: the second round reuses cached stacks with no syscall, so
    still exactly 4 thread_stack objects."""
    need_stacks()
    for guard, size in ((4096, 8392704), (0, 8388608), (65536, 8454144)):
        what = f"stacks -g {guard} -n 3"
        tr, pid = _stacks_run("-g", guard, "-n", 3)
        raw = _stack_maps(tr, pid)
        eq([r[2] for r in raw], [size] * 3, f"{what}: raw MAP_STACK mmap sizes (stacks.c)")
        got = [(e.get("tid"), mw.addr(e.get("base")), e.get("bytes"), e.get("guard"))
               for e in tr.of("thread_stack", pid=pid)]
        eq(got, [(t, b, n, guard) for t, b, n in raw],
           f"{what}: thread_stack (tid, base, bytes, guard) vs the MAP_STACK mmaps")
        eq({r[0] for r in raw}, {pid}, f"{what}: stacks are mapped by the main thread")
    tr, pid = _stacks_run("-n", 4, "-c")
    raw = _stack_maps(tr, pid)
    eq(len(raw), 4, "stacks -n 4 -c: raw MAP_STACK mmaps (round two reuses the cache)")
    eq(len(_tids(tr, pid, "again-")), 4, "stacks -n 4 -c: second-round threads")
    got = [(e.get("tid"), mw.addr(e.get("base")), e.get("bytes"), e.get("guard"))
           for e in tr.of("thread_stack", pid=pid)]
    eq(got, [(t, b, n, 4096) for t, b, n in raw],
       "stacks -n 4 -c: thread_stack objects vs the MAP_STACK mmaps (none for cached reuse)")


test_alloc_thread_stacks.timeout = 90


# ---------------------------------------------------------------- other allocators

def _lib(name, pkg):
    found = sorted(glob.glob(f"/usr/lib/*/{name}")) + sorted(glob.glob(f"/usr/lib/{name}"))
    check(found, f"{name} not found (tools/deps.sh installs {pkg}: make deps)")
    return found[0]


def test_alloc_allocator_glibc():
    """The plain arenas run: exactly one allocator object for the process, allocator glibc,
    with evidence."""
    need_allocator()
    tr, _ = _probe()
    pid = _pid_of(tr, "arena-1")
    al = tr.of("allocator", pid=pid)
    eq([e.get("allocator") for e in al], ["glibc"], "allocator objects")
    check(isinstance(al[0].get("evidence"), str) and al[0]["evidence"].strip(),
          f"allocator glibc without evidence: {al[0]}")


def _other_allocator(lib, pkg, name):
    need_allocator()
    need_arenas()
    so = _lib(lib, pkg)
    env = mw.need_tool("env")
    tr, out, _ = _launch([env, f"LD_PRELOAD={so}", mw.wl("arenas"), "-t", "4"])
    pid = _pid_of(tr, "arena-1")
    eq(_glibc_arenas(out, f"arenas under {name}"), 0, f"{name}: glibc_arenas (glibc's malloc "
                                                      f"is not used)")
    al = tr.of("allocator", pid=pid)
    check(al, f"{name}: no allocator object for pid {pid}")
    eq(al[-1].get("allocator"), name, f"LD_PRELOAD={so}: allocator")
    check(isinstance(al[-1].get("evidence"), str) and al[-1]["evidence"].strip(),
          f"{name}: allocator object without evidence: {al[-1]}")
    eq(tr.of("arena_create", pid=pid), [], f"{name}: arena_create objects")
    eq(tr.of("arena_summary", pid=pid), [], f"{name}: arena_summary objects")


def test_alloc_jemalloc():
    """LD_PRELOAD=libjemalloc.so.2 arenas -t 4: allocator jemalloc (with evidence), no
    arena_create and no arena_summary at all (jemalloc's 2 MiB+ RW NORESERVE extents are not
    glibc heaps)."""
    _other_allocator("libjemalloc.so.2", "libjemalloc2", "jemalloc")


def test_alloc_tcmalloc():
    """LD_PRELOAD=libtcmalloc_minimal.so.4 arenas -t 4: allocator tcmalloc (with evidence), no
    arena_create and no arena_summary at all."""
    _other_allocator("libtcmalloc_minimal.so.4", "libtcmalloc-minimal4", "tcmalloc")


test_alloc_jemalloc.timeout = 60
test_alloc_tcmalloc.timeout = 60


# ---------------------------------------------------------------- memcached

GDB_ARENAS = r"""set pagination off
python
import gdb
main = gdb.parse_and_eval("&main_arena")
n, p = 0, main["next"]
while int(p) != int(main) and n < 4096:
    n += 1
    p = p["next"]
print("gdb_arenas %d" % n)
end
"""


def gdb_arenas(pid):
    """glibc's own count of non-main arenas of pid: gdb walks main_arena.next (needs
    libc6-dbg, which tools/deps.sh installs). Fails when gdb cannot."""
    mw.need_tool("gdb")
    script = mw.tmpfile("arenas.gdb")
    with open(script, "w") as f:
        f.write(GDB_ARENAS)
    rc, out, err = mw.run(["gdb", "-p", str(pid), "-batch", "-nx", "-x", script], timeout=60)
    m = re.search(r"^gdb_arenas (\d+)$", out, re.M)
    check(m, f"gdb could not walk main_arena.next (libc6-dbg installed?): "
             f"{mw.tail(out + err, 200)!r}")
    return int(m.group(1))



def _mc_load(port, conns=6, rounds=40, deadline=20.0):
    """A bounded memcached text-protocol client: `conns` connections, each storing and reading
    back `rounds` values of sizes 10 B .. 200 KiB."""
    end = time.monotonic() + deadline
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(conns)]
    try:
        for r in range(rounds):
            for i, s in enumerate(socks):
                check(time.monotonic() < end, "memcached load did not finish in time")
                size = (10, 1000, 5000, 40000, 200000)[(r + i) % 5]
                key = f"k{i}-{r}".encode()
                val = bytes([65 + (r + i) % 26]) * size
                s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key, size, val))
                eq(_recv_line(s), b"STORED", f"memcached set {key!r}")
                s.sendall(b"get %s\r\n" % key)
                hdr = _recv_line(s)
                check(hdr.startswith(b"VALUE " + key), f"memcached get {key!r}: {hdr[:80]!r}")
                body = _recv_exact(s, size + 2)
                eq(len(body), size + 2, f"memcached get {key!r}: value length")
                eq(_recv_line(s), b"END", f"memcached get {key!r}: END")
    finally:
        for s in socks:
            s.close()


_bufs = {}


def _recv_line(s):
    buf = _bufs.setdefault(s.fileno(), bytearray())
    while b"\r\n" not in buf:
        chunk = s.recv(65536)
        check(chunk, "memcached closed the connection")
        buf += chunk
    i = buf.index(b"\r\n")
    line = bytes(buf[:i])
    del buf[:i + 2]
    return line


def _recv_exact(s, n):
    buf = _bufs.setdefault(s.fileno(), bytearray())
    while len(buf) < n:
        chunk = s.recv(65536)
        check(chunk, "memcached closed the connection")
        buf += chunk
    data = bytes(buf[:n])
    del buf[:n]
    return data


def start_memcached():
    """Debian's memcached -t 4 on a free 127.0.0.1 port, listening: (its Proc, the port)."""
    mc = mw.need_tool("memcached")
    port = mw.free_port()
    srv = mw.Proc([mc, "-u", "nobody", "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                   "-t", "4", "-m", "64", "-c", "64"], name="memcached")
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            check(srv.alive(), f"memcached exited: {mw.tail(srv.text('err'))!r}")
            check(time.monotonic() < deadline, "memcached did not listen within 10 s")
            time.sleep(0.05)
    return srv, port


def test_alloc_memcached():
    """memcached -t 4 (Debian's, on a free 127.0.0.1 port), warmed up by a client, traced with
    -p while the client goes on: at SIGINT, arena_summary objects >= 4 (the workers' arenas,
    present before attach) and == glibc's own count (gdb walking main_arena.next)."""
    need_arenas()
    srv, port = start_memcached()
    _bufs.clear()
    _mc_load(port)                                   # warm-up: the workers make their arenas
    out = mw.tmpfile("memcached.ndjson")
    m = mw.attach([srv.pid], "--json", out=out)
    _bufs.clear()
    _mc_load(port, conns=8, rounds=30)               # traced
    _bufs.clear()
    want = gdb_arenas(srv.pid)
    mw.interrupt(m, signal.SIGINT)
    tr = mw.read_ndjson(out)
    sm = summaries(tr, srv.pid)
    workers = [t for t in os.listdir(f"/proc/{srv.pid}/task")
               if _comm(srv.pid, t).startswith("mc-worker")]
    check(len(sm) >= 4, f"memcached -t 4: {len(sm)} arena_summary objects, expected at least "
                        f"the 4 workers' arenas (threads named mc-worker: {len(workers)})")
    for aid, s in sm.items():
        eq(s.get("reserved"), HEAP * s.get("heaps", 0), f"memcached arena {aid}: reserved")
        check(isinstance(s.get("committed"), int) and s["committed"] >= FIRST_RW,
              f"memcached arena {aid}: committed {s.get('committed')!r}")
    eq(len(sm), want, "memcached: arenas reported by memwatch vs glibc's (gdb, main_arena.next)")


test_alloc_memcached.timeout = 120


def _comm(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
