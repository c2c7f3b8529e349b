# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Allocator classes on real services attached mid-life (issue 10): a cgo Go HTTP server and a
Java program (whose own heaps have a glibc heap's shape), memcached, redis (jemalloc), a
tcmalloc LD_PRELOAD workload, and glibc's own behaviours that the syscalls alone misread
(tests/workloads/glibc_cases.c).

Oracles: glibc's own arena list walked by gdb with libc6-dbg (main_arena.next, and each
arena's heaps from its top back through heap_info.prev); /proc/PID/smaps (VmFlags "nr":
jemalloc maps all its memory MAP_NORESERVE); each blocked thread's stack pointer
(/proc/PID/task/TID/syscall) for its stack; the raw syscall objects of the same run.
"""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import mw
from mw import check, eq

MiB = 1 << 20
HEAP = 64 * MiB
SERVICES = os.path.join(mw.ROOT, "tests", "workloads", "services")
BUILD = os.path.join(mw.ROOT, ".output", "services")

GDB_HEAPS = r"""set pagination off
set language c
handle SIGSEGV nostop noprint pass
handle SIGBUS nostop noprint pass
python
import gdb
main = gdb.parse_and_eval("&main_arena")
hp = int(gdb.parse_and_eval("mp_.hp_pagesize"))
hmax = 4 * hp if hp else 64 << 20
n, p = 0, main["next"]
while int(p) != int(main) and n < 4096:
    n += 1
    h = gdb.parse_and_eval("(heap_info *) %d" % (int(p["top"]) & ~(hmax - 1)))
    while True:
        print("gdb_heap %d %d" % (int(h), int(h["mprotect_size"])))
        if int(h["prev"]) == 0:
            break
        h = h["prev"]
    p = p["next"]
print("gdb_arenas %d" % n)
end
"""


def gdb_list(pid):
    """glibc's own arenas of pid (gdb + libc6-dbg): (count, {heap base: mprotect_size})."""
    mw.need_tool("gdb")
    script = mw.tmpfile("heaps.gdb")
    with open(script, "w") as f:
        f.write(GDB_HEAPS)
    rc, out, err = mw.run(["gdb", "-p", str(pid), "-batch", "-nx", "-x", script], timeout=90)
    m = re.search(r"^gdb_arenas (\d+)$", out, re.M)
    check(m or 'No symbol "main_arena"' not in out + err,
          "gdb has no main_arena: libc6-dbg not installed (tools/deps.sh installs it)")
    check(m, f"gdb could not walk main_arena.next: {mw.tail(out + err, 300)!r}")
    heaps = {int(a): int(b) for a, b in re.findall(r"^gdb_heap (\d+) (\d+)$", out, re.M)}
    return int(m.group(1)), heaps


def maps_json(pid, nsenter=False):
    """memwatch maps -p PID --json: (regions, summary). nsenter: run it in pid's mount
    namespace (where libc's debuginfo is hidden)."""
    argv = [mw.need_memwatch(), "maps", "-p", str(pid), "--json"]
    if nsenter:
        argv = ["nsenter", "-t", str(pid), "-m", "--"] + argv
    rc, out, err = mw.run(argv, timeout=60)
    eq(rc, 0, f"memwatch maps -p {pid}: exit status (stderr {mw.tail(err)!r})")
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    summ = [o for o in objs if o["type"] == "maps_summary"]
    eq(len(summ), 1, "maps_summary objects")
    return [o for o in objs if o["type"] == "region"], summ[0]


def arena_heaps(regions):
    """{start of each arena_heap region that opens a heap (64 MiB aligned): arena id}."""
    return {int(r["start"], 16): r["arena"] for r in regions
            if r["class"] == "arena_heap" and int(r["start"], 16) % HEAP == 0}


def check_arenas_vs_gdb(pid, what, nsenter=False, how="main_arena"):
    """memwatch maps' arenas and heaps == glibc's (gdb), twice (stable across attaches)."""
    want, heaps = gdb_list(pid)
    check(want >= 2, f"{what}: glibc has only {want} arenas; the test needs several")
    for attempt in (1, 2):
        regions, summ = maps_json(pid, nsenter)
        eq(summ.get("arenas"), want, f"{what}: memwatch maps arenas (attach {attempt}) vs glibc's "
                                     f"list (gdb, main_arena.next); source "
                                     f"{summ.get('arenas_source')!r}")
        got = arena_heaps(regions)
        eq(sorted(got), sorted(b for b in heaps if b % HEAP == 0),
           f"{what}: arena_heap regions opening a heap vs glibc's heaps (gdb) (attach {attempt})")
        eq(len(set(got.values())), want, f"{what}: arena ids among arena_heap regions")
    return want, heaps, regions, summ


def hidden_debuginfo(argv):
    """argv in a new mount namespace where /usr/lib/debug is an empty tmpfs: libc's
    debuginfo is not at hand, for the target and for a memwatch nsenter'ed there."""
    mw.need_tool("unshare")
    mw.need_tool("nsenter")
    check(os.path.isdir("/usr/lib/debug"),
          "/usr/lib/debug does not exist (libc6-dbg, which tools/deps.sh installs, makes it)")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs none /usr/lib/debug && exec "$@"', "sh"] + [str(a) for a in argv]


def attach_json(pid, *extra, load=None, settle=0.5):
    """memwatch --json -p PID for a while (load() runs meanwhile): the Trace."""
    out = mw.tmpfile("attach.ndjson")
    m = mw.attach([pid], "--json", *extra, out=out)
    if load:
        load()
    time.sleep(settle)
    mw.interrupt(m, signal.SIGINT, 30)
    return mw.read_ndjson(out)


def newer(target, *sources):
    return os.path.exists(target) and all(os.path.getmtime(target) >= os.path.getmtime(s)
                                          for s in sources)


# ---------------------------------------------------------------- Go (cgo)

@mw.shared
def _go_binary():
    go = mw.need_tool("go")
    exe = os.path.join(BUILD, "cgo_server")
    src = os.path.join(SERVICES, "cgo_server.go")
    if newer(exe, src):
        return exe
    os.makedirs(BUILD, exist_ok=True)
    env = dict(os.environ, GOCACHE=os.path.join(BUILD, "gocache"), GOPATH=os.path.join(BUILD,
               "gopath"), GOFLAGS="-mod=mod", CGO_ENABLED="1", GO111MODULE="on", GOPROXY="off")
    p = subprocess.run([go, "build", "-o", exe, "."], cwd=SERVICES, env=env,
                       capture_output=True, text=True, timeout=300)
    eq(p.returncode, 0, f"go build cgo_server: {mw.tail(p.stderr)!r}")
    return exe


def start_go(threads=6, hide=False):
    exe = _go_binary()
    argv = [exe, threads]
    p = mw.Proc(hidden_debuginfo(argv) if hide else [str(a) for a in argv],
                stdin=subprocess.PIPE, name="cgo_server")
    port = int(p.wait_line(r"^port (\d+)$", "out", 30).group(1))
    # Requests served on several threads, each mallocing through C.
    def get():
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while s.recv(4096):
                    pass
    ts = [threading.Thread(target=get) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return p


def test_alloc_go_cgo_arenas():
    """A cgo Go server (6 C-mallocing threads, Go heap at 0xc000000000): memwatch maps -p
    reports exactly glibc's arenas and heaps (gdb walking main_arena.next), twice; Go's heap
    arena (heap-shaped: 64 MiB aligned rw-p then ---p) is no arena_heap; memwatch -p says the
    same (glibc_arenas at attach, one arena_summary per arena)."""
    p = start_go()
    want, heaps, regions, summ = check_arenas_vs_gdb(p.pid, "cgo_server")
    eq(summ.get("arenas_source"), "glibc's main_arena list (libc's symbols)", "arenas source")
    go = [r for r in regions if 0xc000000000 <= int(r["start"], 16) < 0xc100000000]
    check(go, "cgo_server: no mapping at Go's heap (0xc000000000): the test needs one")
    check(all(r["class"] != "arena_heap" for r in go), f"Go's heap taken for a glibc arena: {go}")
    tr = attach_json(p.pid)
    ga = tr.of("glibc_arenas", pid=p.pid)
    eq([(e.get("arenas"), e.get("how")) for e in ga], [(want, "main_arena")],
       "memwatch -p: glibc_arenas at attach")
    made = len(tr.of("arena_create", pid=p.pid))
    eq(len(tr.of("arena_summary", pid=p.pid)), want + made,
       "memwatch -p: arena_summary objects (those at attach + those created since)")
    p.close_stdin()


test_alloc_go_cgo_arenas.timeout = 300


def test_alloc_go_cgo_arenas_without_debuginfo():
    """The same Go server with libc's debuginfo hidden (a mount namespace with an empty
    /usr/lib/debug, memwatch nsenter'ed into it): the arenas come from heap_info/malloc_state
    checked field by field, and still equal glibc's own list (gdb, outside)."""
    p = start_go(hide=True)
    _, _, _, summ = check_arenas_vs_gdb(p.pid, "cgo_server, no debuginfo", nsenter=True)
    eq(summ.get("arenas_source"),
       "glibc's arena list (heap_info and malloc_state checked field by field)", "arenas source")
    p.close_stdin()


test_alloc_go_cgo_arenas_without_debuginfo.timeout = 300


def test_alloc_go_own_mappings_not_chunks():
    """Go's runtime maps memory of its own with lengths glibc never asks for (not whole pages,
    e.g. mmap(NULL, 2165776, RW)): launched under memwatch --maps-at-exit, no such mapping is
    in a malloc_chunk region (the raw mmap objects of the same run say which)."""
    exe = _go_binary()
    out = mw.tmpfile("go.ndjson")
    m = mw.memwatch("--json", "--maps-at-exit", "-o", out, "--", exe, 2, stdin=subprocess.PIPE)
    time.sleep(3)
    m.close_stdin()
    eq(m.wait(60), 0, f"memwatch -- cgo_server: exit status ({mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    pid = tr.of("process_summary")[0]["pid"]
    odd = [e for e in tr.syscalls(pid=pid, name="mmap") if not e.get("error")
           and "MAP_ANONYMOUS" in str(e["args"].get("flags"))
           and int(str(e["args"]["len"]), 0) % 4096]
    check(odd, "cgo_server: no anonymous mmap of a length that is not whole pages; the test "
               "needs Go's own")
    chunks = [(int(r["start"], 16), int(r["end"], 16)) for r in tr.of("region", pid=pid)
              if r["class"] == "malloc_chunk"]
    for e in odd:
        a = int(str(e["ret"]), 0)
        check(not any(s <= a < t for s, t in chunks),
              f"Go's mmap(len {e['args']['len']}) at {hex(a)} is in a malloc_chunk region")


test_alloc_go_own_mappings_not_chunks.timeout = 300


# ---------------------------------------------------------------- Java

@mw.shared
def _java_classes():
    javac = mw.need_tool("javac")
    mw.need_tool("java")
    src = os.path.join(SERVICES, "Churn.java")
    cls = os.path.join(BUILD, "Churn.class")
    if not newer(cls, src):
        os.makedirs(BUILD, exist_ok=True)
        rc, out, err = mw.run([javac, "-d", BUILD, src], timeout=180)
        eq(rc, 0, f"javac Churn.java: {mw.tail(err)!r}")
    return BUILD


def start_java(threads=4, hide=False):
    argv = ["java", "-cp", _java_classes(), "Churn", threads]
    p = mw.Proc(hidden_debuginfo(argv) if hide else [str(a) for a in argv],
                stdin=subprocess.PIPE, name="java")
    p.wait_line(r"^ready \d+$", "out", 60)
    return p


def java_heap(pid):
    """The Java heap's reservation: the largest anonymous mapping run (its committed rw-p
    part and ---p rest), as gdb cannot name it: [start, end)."""
    best = (0, 0)
    for s, e, perm, name in mw.proc_maps(pid):
        if not name and e - s > best[1] - best[0]:
            best = (s, e)
    return best


def test_alloc_java_arenas():
    """java Churn 4 (OpenJDK): memwatch maps -p reports exactly glibc's arenas and heaps (gdb),
    twice; no arena_heap region lies in the Java heap's reservation; with libc's debuginfo
    hidden, the layout check gives the same count."""
    p = start_java()
    want, heaps, regions, _ = check_arenas_vs_gdb(p.pid, "java")
    hs, he = java_heap(p.pid)
    bad = [r for r in regions if r["class"] == "arena_heap" and hs <= int(r["start"], 16) < he]
    eq(bad, [], f"java: arena_heap regions in the Java heap [{hex(hs)}, {hex(he)})")
    p.close_stdin()
    q = start_java(hide=True)
    _, _, _, summ = check_arenas_vs_gdb(q.pid, "java, no debuginfo", nsenter=True)
    check("field by field" in summ.get("arenas_source", ""), f"source: {summ!r}")
    q.close_stdin()


test_alloc_java_arenas.timeout = 400


def test_alloc_java_guard_zones():
    """HotSpot's guard zones: each Java thread maps fresh pages over the low end of its own
    stack (mmap(B, 16384, RW, MAP_FIXED), no MAP_STACK) then makes them PROT_NONE. In the final
    region map (--maps-at-exit) every such B still mapped is a stack_guard, not anon."""
    out = mw.tmpfile("java.ndjson")
    m = mw.memwatch("--json", "--maps-at-exit", "-o", out, "--", "java", "-cp", _java_classes(),
                    "Churn", 2, stdin=subprocess.PIPE)
    time.sleep(1)
    m.close_stdin()
    eq(m.wait(120), 0, f"memwatch -- java: exit status ({mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    pid = tr.of("process_summary")[0]["pid"]
    fixed = {}
    zones = []
    for e in tr.syscalls(pid=pid):
        a = e.get("args") or {}
        if e.get("error"):
            continue
        if e["name"] == "mmap" and "MAP_FIXED" in str(a.get("flags")) and \
                "MAP_ANONYMOUS" in str(a.get("flags")) and int(str(a["len"]), 0) == 16384:
            fixed[(e["tid"], int(str(e["ret"]), 0))] = True
        elif e["name"] == "mprotect" and mw.norm_prot(a.get("prot")) == "PROT_NONE" and \
                (e["tid"], mw.addr(a["addr"])) in fixed:
            zones.append(mw.addr(a["addr"]))
    check(len(zones) >= 4, f"java: {len(zones)} HotSpot guard zones in the raw syscalls")
    regs = [(int(r["start"], 16), int(r["end"], 16), r["class"]) for r in tr.of("region", pid=pid)]
    seen = 0
    for z in zones:
        cls = [c for s, t, c in regs if s <= z < t]
        if cls:
            seen += 1
            eq(cls[0], "stack_guard", f"java: HotSpot guard zone at {hex(z)}: class")
    check(seen, "java: no guard zone left in the final map")


test_alloc_java_guard_zones.timeout = 300


# ---------------------------------------------------------------- memcached

def test_alloc_memcached_maps():
    """memcached -t 4 warmed up: memwatch maps -p == glibc's list (gdb), with and without
    libc's debuginfo."""
    mc = mw.need_tool("memcached")
    for hide in (False, True):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        argv = [mc, "-u", "nobody", "-l", "127.0.0.1", "-p", port, "-U", 0, "-t", 4, "-m", 64]
        srv = mw.Proc(hidden_debuginfo(argv) if hide else [str(a) for a in argv],
                      name="memcached")
        deadline = time.monotonic() + 10
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                check(time.monotonic() < deadline, "memcached did not listen")
                time.sleep(0.05)
        cs = [c] + [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        for r in range(20):
            for i, c in enumerate(cs):
                v = b"x" * (100 + 1000 * ((r + i) % 7))
                c.sendall(b"set k%d-%d 0 0 %d\r\n%s\r\n" % (i, r, len(v), v))
                buf = b""
                while b"\r\n" not in buf:
                    buf += c.recv(100)
        for c in cs:
            c.close()
        check_arenas_vs_gdb(srv.pid, f"memcached{' (no debuginfo)' if hide else ''}",
                            nsenter=hide)
        srv.signal(signal.SIGTERM)
        srv.wait(15)


test_alloc_memcached_maps.timeout = 300


# ---------------------------------------------------------------- jemalloc, tcmalloc

def thread_stacks(pid):
    """{(start, end) of the mapping each blocked thread's stack pointer is in: its tid}, from
    /proc/PID/task/TID/syscall and /proc/PID/maps."""
    maps = mw.proc_maps(pid)
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                f = f.read().split()
        except OSError:
            continue
        if not f or f[0] == "running":
            continue
        sp = int(f[-2], 16)
        for s, e, perm, name in maps:
            if s <= sp < e and not name:
                out[(s, e)] = int(tid)
    return out


def smaps_vmflags(pid):
    """{start: (end, perms, name, vmflags)} from /proc/PID/smaps."""
    out, cur = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = int(m.group(1), 16)
                out[cur] = [int(m.group(2), 16), m.group(3), m.group(4).strip(), ""]
            elif line.startswith("VmFlags:") and cur is not None:
                out[cur][3] = line.split(":", 1)[1]
    return out


def check_not_allocators(pid, regions, alloc, what):
    """In a jemalloc or tcmalloc process: the blocked threads' stacks are thread_stack over a
    stack_guard; no PROT_NONE, special or file-adjacent .bss mapping is the allocator's."""
    by_start = {int(r["start"], 16): r for r in regions}
    stacks = thread_stacks(pid)    # the main thread's is [stack], named: not among them
    check(len(stacks) >= 3, f"{what}: {len(stacks)} blocked threads' stacks found; the test "
                            f"needs several")
    for (s, e), tid in stacks.items():
        r = by_start.get(s)
        check(r is not None, f"{what}: no region row at thread {tid}'s stack {hex(s)}")
        eq(r["class"], "thread_stack", f"{what}: thread {tid}'s stack at {hex(s)}")
        below = [x for x in regions if int(x["end"], 16) == s]
        if below and below[0]["perm"].startswith("---"):
            eq(below[0]["class"], "stack_guard", f"{what}: thread {tid}'s guard")
    for r in regions:
        if r["class"] != alloc:
            continue
        check(not r["perm"].startswith("---"), f"{what}: PROT_NONE classed {alloc}: {r}")
        check(not r.get("name"), f"{what}: named mapping classed {alloc}: {r}")


def test_alloc_redis_jemalloc():
    """Debian's redis-server (jemalloc) with 4 I/O threads, loaded: memwatch maps -p says
    allocator jemalloc, no glibc arenas and no glibc arena limit; every region it classes
    jemalloc is a mapping smaps shows MAP_NORESERVE ("nr"), and every such anonymous
    read-write mapping is classed jemalloc; the threads' stacks and guards are not jemalloc's.
    memwatch -p emits no glibc_arenas and no arena diagnosis."""
    rs = mw.need_tool("redis-server")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = mw.Proc([rs, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--io-threads", "4", "--daemonize", "no"], name="redis")
    deadline = time.monotonic() + 10
    while True:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=1)
            break
        except OSError:
            check(srv.alive(), f"redis exited: {mw.tail(srv.text('out'))!r}")
            check(time.monotonic() < deadline, "redis did not listen")
            time.sleep(0.05)
    for i in range(2000):
        v = b"v" * (10 + i % 5000)
        c.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\nkey%d\r\n$%d\r\n%s\r\n" % (len(b"key%d" % i), i,
                                                                         len(v), v))
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += c.recv(100)
    c.close()
    regions, summ = maps_json(srv.pid)
    eq(summ.get("allocator"), "jemalloc", "redis: allocator")
    check_not_allocators(srv.pid, regions, "jemalloc", "redis")
    sm = smaps_vmflags(srv.pid)
    nr = {s for s, (e, perm, name, fl) in sm.items()
          if not name and perm == "rw-p" and " nr" in fl}
    je = {int(r["start"], 16) for r in regions if r["class"] == "jemalloc"}
    eq(sorted(je), sorted(nr), "redis: jemalloc regions vs smaps' anonymous rw-p MAP_NORESERVE")
    check(je, "redis: no jemalloc memory at all")
    for k in ("arenas", "arena_limit", "arena_limit_source"):
        check(k not in summ, f"redis: maps_summary has {k} (glibc's, which does not apply): "
                             f"{summ!r}")
    rc, text, err = mw.run([mw.need_memwatch(), "maps", "-p", str(srv.pid)], timeout=60)
    check("limit" not in text.splitlines()[-1], f"redis: text summary: {text.splitlines()[-1]!r}")
    rec = mw.tmpfile("redis.rec")
    tr = attach_json(srv.pid, "-c", "--maps-at-exit", "--record", rec)
    eq(tr.of("glibc_arenas", pid=srv.pid), [], "redis: glibc_arenas")
    eq([d for d in tr.of("diagnosis", pid=srv.pid) if "arena" in d.get("kind", "")], [],
       "redis: arena diagnoses")
    live = [(r["start"], r["class"]) for r in tr.of("region", pid=srv.pid)]
    check(("0x%x" % min(je), "jemalloc") in live, f"redis -p: jemalloc memory: {live}")
    out = mw.tmpfile("replay.ndjson")
    rc, _, err = mw.run([mw.need_memwatch(), "--replay", rec, "--json", "-c", "--maps-at-exit",
                         "-o", out], timeout=60)
    eq(rc, 0, f"memwatch --replay: {mw.tail(err)!r}")
    eq([(r["start"], r["class"]) for r in mw.read_ndjson(out).of("region", pid=srv.pid)], live,
       "redis: region classes, replayed vs live (what reading the process said is recorded)")
    srv.signal(signal.SIGTERM)
    srv.wait(15)


test_alloc_redis_jemalloc.timeout = 180


def test_alloc_tcmalloc_preloaded():
    """LD_PRELOAD=libtcmalloc_minimal.so.4 arenas -t 4 -k, attached with memwatch maps -p:
    allocator tcmalloc, no glibc arena limit; the blocked threads' stacks are thread_stack over
    stack_guard, nothing PROT_NONE or named is tcmalloc's; the brk heap is main_heap."""
    lib = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
    check(os.path.exists(lib), "libtcmalloc-minimal4 not installed (tools/deps.sh installs it)")
    w = mw.Proc(["env", f"LD_PRELOAD={lib}", mw.wl("arenas"), "-t", "4", "-k"],
                stdin=subprocess.PIPE, name="arenas")
    w.wait_line(r"^held", "err", 15)
    regions, summ = maps_json(w.pid)
    eq(summ.get("allocator"), "tcmalloc", "allocator")
    check_not_allocators(w.pid, regions, "tcmalloc", "tcmalloc arenas")
    check("arena_limit" not in summ, f"tcmalloc: glibc arena limit in maps_summary: {summ!r}")
    heap = [r for r in regions if r.get("name") == "[heap]"]
    check(heap and all(r["class"] == "main_heap" for r in heap), f"[heap]: {heap}")
    w.close_stdin()
    eq(w.wait(15), 0, "arenas exit status")


test_alloc_tcmalloc_preloaded.timeout = 120


# ---------------------------------------------------------------- glibc's own cases

def run_case(mode, *extra):
    """glibc_cases MODE attached with memwatch --json -p at its ready line, released, detached
    at its done line: (Trace, workload stdout, pid)."""
    w = mw.workload("glibc_cases", mode)
    out = mw.tmpfile(f"{mode}.ndjson")
    m = mw.attach([w.pid], "--json", *extra, out=out)
    w.send(b"g")
    w.wait_line(r"^done \d+$", "err", 30)
    mw.interrupt(m)
    w.close_stdin()
    eq(w.wait(15), 0, f"glibc_cases {mode}: exit status")
    return mw.read_ndjson(out), w.text("out"), w.pid


def test_alloc_main_heap_growth_after_attach():
    """glibc_cases grow, attached mid-life (its heap exists): the main thread grows brk by
    brk_grown bytes after attach; its by_class main_heap equals that, and the raw brk objects
    agree."""
    tr, out, pid = run_case("grow")
    grown = int(re.search(r"^brk_grown (\d+)$", out, re.M).group(1))
    check(grown > 10 * MiB, f"brk_grown {grown}")
    raw, cur = 0, None
    for e in tr.syscalls(pid=pid, name="brk"):
        ret = int(str(e["ret"]), 0)
        if cur is not None and ret > cur:
            raw += ret - cur
        cur = ret
    th = [t for t in tr.thread_summaries(pid).values() if t["tid"] == pid][0]
    eq(th.get("by_class", {}).get("main_heap"), grown,
       f"main thread by_class main_heap (raw brk growth {raw}, {len(tr.syscalls(pid=pid, name='brk'))} brk calls)")


test_alloc_main_heap_growth_after_attach.timeout = 60


def test_alloc_realloc_grows_another_arena():
    """glibc_cases realloc, launched: thread owner creates arena 1; the main thread reallocs a
    block of it and glibc grows that arena from the main thread (one raw mprotect at its RW
    end). memwatch reports the growth by the main thread and no arena_reuse (the main thread
    allocates from main_arena): the syscalls cannot tell a realloc from a reuse. The arena's
    threads: its creator and the main thread seen growing it."""
    out = mw.tmpfile("realloc.ndjson")
    m = mw.memwatch("--json", "-o", out, "--", mw.wl("glibc_cases"), "realloc",
                    stdin=subprocess.PIPE)
    m.wait_line(r"^ready \d+$", "err", 15)
    m.send(b"g")
    m.close_stdin()
    eq(m.wait(30), 0, f"memwatch -- glibc_cases realloc: exit status ({mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    owner = int(re.search(r"^owner_tid (\d+)$", m.text("out"), re.M).group(1))
    pid = tr.of("process_summary")[0]["pid"]
    cr = tr.of("arena_create", pid=pid)
    eq([e.get("tid") for e in cr], [owner], "arena_create by owner")
    base = mw.addr(cr[0]["base"])
    grows = [e for e in tr.syscalls(pid=pid, name="mprotect") if e["tid"] == pid and
             mw.norm_prot(e["args"].get("prot")) == "PROT_READ|PROT_WRITE" and
             base <= mw.addr(e["args"]["addr"]) < base + HEAP]
    eq(len(grows), 1, f"raw RW mprotects by the main thread in owner's arena: {grows}")
    eq(tr.of("arena_reuse", pid=pid), [], "arena_reuse")
    ag = [e for e in tr.of("arena_grow", pid=pid) if e.get("tid") == pid]
    eq([(e.get("arena"), e.get("bytes")) for e in ag],
       [(cr[0]["arena"], grows[0]["args"]["len"])], "arena_grow by the main thread")
    sm = tr.of("arena_summary", pid=pid)
    eq([(e.get("creator_tid"), e.get("threads")) for e in sm], [(owner, 2)],
       "arena_summary (creator_tid, threads: creator + seen growing it)")


test_alloc_realloc_grows_another_arena.timeout = 60


def test_alloc_malloc_trim_counted():
    """glibc_cases trim: malloc_trim(0) gives the main heap's free pages back with
    madvise(MADV_DONTNEED) inside [heap], the break unchanged: each is a main_heap_trim of form
    madvise, their bytes the raw DONTNEED bytes."""
    tr, out, pid = run_case("trim")
    raw = sum(int(str(e["args"]["len"]), 0) for e in tr.syscalls(pid=pid, name="madvise")
              if e["args"].get("advice") == "MADV_DONTNEED")
    check(raw > 1 * MiB, f"raw DONTNEED bytes {raw}")
    pages = int(re.search(r"^trimmed_pages (\d+)$", out, re.M).group(1))
    # The RSS drop is the oracle of the order of magnitude only: pages of the range that the
    # kernel reclaimed meanwhile (DAMON's kdamond runs here) were not resident to drop.
    check(abs(raw // 4096 - pages) <= max(64, raw // 4096 // 10),
          f"raw DONTNEED pages {raw // 4096} vs RSS drop {pages}")
    tm = [e for e in tr.of("main_heap_trim", pid=pid) if e.get("form") == "madvise"]
    eq(sum(e.get("bytes", 0) for e in tm), raw, "main_heap_trim (madvise) bytes")


test_alloc_malloc_trim_counted.timeout = 60


def test_alloc_chunk_needs_glibcs_header():
    """glibc_cases python_like: the program's own mmap(NULL, 1 MiB, RW) (Python's object arenas
    look so) is anon, glibc's 300000-byte chunk is malloc_chunk (its header says so), in the
    final region map."""
    tr, out, pid = run_case("python_like", "--maps-at-exit")
    own = int(re.search(r"^own_map (0x[0-9a-f]+)$", out, re.M).group(1), 16)
    m = re.search(r"^chunk (0x[0-9a-f]+) (\d+)$", out, re.M)
    chunk, ln = int(m.group(1), 16), int(m.group(2))
    regs = [(int(r["start"], 16), int(r["end"], 16), r["class"]) for r in tr.of("region", pid=pid)]

    def cls(a):
        return [c for s, e, c in regs if s <= a < e]
    eq(cls(own), ["anon"], f"own 1 MiB mapping at {hex(own)}")
    eq(cls(chunk), ["malloc_chunk"], f"glibc chunk at {hex(chunk)} ({ln} bytes)")


test_alloc_chunk_needs_glibcs_header.timeout = 60


def test_alloc_python_object_arenas():
    """python3 allocating a million small objects (pymalloc maps its 1 MiB arenas itself) and
    large bytearrays (glibc chunks), attached with -p: in the final region map every raw 1 MiB
    mmap by python is anon, every raw mmap of a bytearray's chunk length is malloc_chunk."""
    py = mw.need_tool("python3")
    script = ("import sys\nsys.stderr.write('ready\\n'); sys.stderr.flush(); sys.stdin.read(1)\n"
              "keep = [(i, str(i)) for i in range(300000)]\n"
              "big = [bytearray(300000) for _ in range(5)]\n"
              "sys.stderr.write('done\\n'); sys.stderr.flush(); sys.stdin.read()\n")
    w = mw.Proc([py, "-c", script], stdin=subprocess.PIPE, name="python3")
    w.wait_line(r"^ready$")
    out = mw.tmpfile("py.ndjson")
    m = mw.attach([w.pid], "--json", "--maps-at-exit", out=out)
    w.send(b"g")
    w.wait_line(r"^done$", "err", 60)
    mw.interrupt(m)
    w.close_stdin()
    tr = mw.read_ndjson(out)
    regs = [(int(r["start"], 16), int(r["end"], 16), r["class"])
            for r in tr.of("region", pid=w.pid)]

    def cls(a):
        return [c for s, e, c in regs if s <= a < e]
    chunk_len = (((300001 + 8 + 15) & ~15) + 8 + 4095) & ~4095
    arenas, chunks = [], []
    for e in tr.syscalls(pid=w.pid, name="mmap"):
        if e.get("error") or "MAP_ANONYMOUS" not in str(e["args"].get("flags")):
            continue
        n = int(str(e["args"]["len"]), 0)
        a = int(str(e["ret"]), 0)
        if n == MiB:
            arenas.append(a)
        elif n == chunk_len:
            chunks.append(a)
    check(len(arenas) >= 3, f"python: {len(arenas)} pymalloc arenas mapped while traced")
    eq(len(chunks), 5, f"python: bytearray chunks of {chunk_len} bytes")
    for a in arenas:
        if cls(a):
            eq(cls(a), ["anon"], f"pymalloc arena at {hex(a)}")
    for a in chunks:
        eq(cls(a), ["malloc_chunk"], f"bytearray chunk at {hex(a)}")


test_alloc_python_object_arenas.timeout = 90


def test_alloc_hugetlb_2():
    """GLIBC_TUNABLES=glibc.malloc.hugetlb=2 with no huge pages reserved: glibc's heaps are 4
    huge pages (8 MiB, from 16 MiB reservations), its main arena maps 1 MiB segments instead of
    moving brk. arenas -t 2 -k: arena_create 2 (== glibc_arenas), 8 MiB reserved each; no
    region is a malloc_chunk that glibc did not map as one; attached with memwatch maps -p:
    2 arenas (glibc's mp_.hp_pagesize)."""
    with open("/proc/meminfo") as f:
        mi = f.read()
    check(not int(re.search(r"HugePages_Total:\s+(\d+)", mi).group(1)),
          "huge pages are reserved here (HugePages_Total in /proc/meminfo): glibc would use "
          "them, and the expected heap layout does not hold; run on a host without them")
    hp = int(re.search(r"Hugepagesize:\s+(\d+) kB", mi).group(1)) * 1024
    out = mw.tmpfile("huge.ndjson")
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.hugetlb=2")
    m = mw.Proc([mw.need_memwatch(), "--json", "--maps-at-exit", "-o", out, "--",
                 mw.wl("arenas"), "-t", "2", "-k"], stdin=subprocess.PIPE, env=env,
                name="memwatch")
    w = None
    deadline = time.monotonic() + 20
    while w is None:
        for p in mw.run(["pgrep", "-P", str(m.pid)])[1].split():
            w = int(p)
        check(time.monotonic() < deadline, "arenas did not start")
        time.sleep(0.1)
    m.wait_line(r"^held", "err", 20)
    regions, summ = maps_json(w)
    eq(summ.get("arenas"), 2, f"memwatch maps under hugetlb=2: {summ!r}")
    m.close_stdin()
    eq(m.wait(30), 0, f"memwatch -- arenas: exit status ({mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    cr = tr.of("arena_create", pid=w)
    eq(len(cr), 2, "arena_create under hugetlb=2")
    eq(re.search(r"^glibc_arenas (\d+)$", m.text("out"), re.M).group(1), "2", "glibc_arenas")
    for e in cr:
        eq(e.get("reserved"), 4 * hp, f"arena {e.get('arena')} reserved")
        eq(mw.addr(e["base"]) % (4 * hp), 0, "heap base alignment")


test_alloc_hugetlb_2.timeout = 90


def test_alloc_evidence_libc_not_loader():
    """memwatch -p on a running glibc process: the allocator's evidence is libc.so.6, not the
    dynamic loader listed after it in maps."""
    w = mw.workload("arenas", "-w", "-k", "-t", 1)
    tr = attach_json(w.pid)
    al = tr.of("allocator", pid=w.pid)
    eq([(e.get("allocator"), e.get("evidence")) for e in al], [("glibc", "libc.so.6 mapped")],
       "allocator object at attach")
    w.close_stdin()


test_alloc_evidence_libc_not_loader.timeout = 60
