# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`memwatch maps -p PID`: every mapping with class, arena and RSS, checked against pmap -X
(procps) and glibc's own arena count on a process holding arenas."""
import json
import os
import subprocess
import time

import mw
from mw import check, eq


def _pmap(pid):
    out = subprocess.run(["pmap", "-X", str(pid)], capture_output=True, text=True,
                         timeout=10).stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if (len(f) < 8 or not all(c in "0123456789abcdef" for c in f[0]) or len(f[1]) != 4
                or not all(c in "rwxsp-" for c in f[1])):
            continue    # the "PID: command" line, the header and the totals
        # Address Perm Offset Device Inode Size Rss ...
        rows[int(f[0], 16)] = (int(f[5]) * 1024, int(f[6]) * 1024, f[1])
    return rows


def test_maps_matches_pmap_and_glibc():
    mw.need_tool("pmap")
    w = mw.workload("arenas", "-t", "3", "-k", ready=False)
    w.wait_line(r"^held", "err", 10)
    p = mw.Proc([mw.need_memwatch(), "maps", "-p", str(w.pid), "--json"], name="memwatch")
    eq(p.wait(15, "memwatch maps"), 0, f"exit status (stderr {mw.tail(p.text('err'))!r})")
    objs = [json.loads(l) for l in p.text("out").splitlines() if l.strip()]
    regions = [o for o in objs if o["type"] == "region"]
    summary = [o for o in objs if o["type"] == "maps_summary"]
    pm = _pmap(w.pid)
    pm = {a: v for a, v in pm.items() if a < 0xffffffffff600000}   # [vsyscall]: not in the mm
    eq(sorted(int(r["start"], 16) for r in regions), sorted(pm), "the same mappings as pmap -X")
    for r in regions:
        size, rss, perm = pm[int(r["start"], 16)]
        eq((r["size"], r["rss"]), (size, rss), f"{r['start']} size/RSS vs pmap -X")
        eq(r["perm"][:3], perm[:3], f"{r['start']} permissions")
    eq(len(summary), 1, "one maps_summary")
    eq(summary[0]["size"], sum(v[0] for v in pm.values()), "total size vs pmap -X")
    arenas = {r["arena"] for r in regions if r["class"] == "arena_heap"}
    eq(len(arenas), 3, "arena ids among arena_heap regions")
    eq(summary[0]["arenas"], 3, "arenas in the summary")
    eq(summary[0]["allocator"], "glibc", "allocator")
    eq(summary[0]["arena_limit"], 8 * os.sysconf("SC_NPROCESSORS_ONLN"), "arena limit (8 x online CPUs)")
    w.close_stdin()
    eq(w.wait(15, "arenas"), 0, "arenas exit status")
    check("glibc_arenas 3" in w.text("out"), f"the workload's own count: {w.text('out')!r}")


def test_maps_arena_limit_from_environment():
    w = mw.Proc(["env", "MALLOC_ARENA_MAX=2", mw.wl("arenas"), "-t", "1", "-k"],
                stdin=subprocess.PIPE, name="arenas")
    w.wait_line(r"^held", "err", 10)
    p = mw.Proc([mw.need_memwatch(), "maps", "-p", str(w.pid), "--json"], name="memwatch")
    eq(p.wait(15, "memwatch maps"), 0, "exit status")
    s = [json.loads(l) for l in p.text("out").splitlines() if '"maps_summary"' in l][0]
    eq((s["arena_limit"], s["arena_limit_source"]), (2, "MALLOC_ARENA_MAX"), "limit")
    w.close_stdin()


def test_maps_bad_input():
    for args, rc in ((["maps"], 2), (["maps", "-p", "abc"], 2), (["maps", "-p", mw.free_pid()], 1)):
        p = mw.Proc([mw.need_memwatch()] + [str(a) for a in args], name="memwatch")
        eq(p.wait(10, "memwatch maps"), rc, f"{args}: exit status")
        mw.one_error_line(p.text("err"), f"{args}")


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _wait_state(pid, want, what):
    for _ in range(200):
        if _state(pid) == want:
            return
        time.sleep(0.05)
    check(False, f"{what}: state {_state(pid)!r}, not {want!r}")


def test_maps_zombie_and_zombie_leader():
    """A process that has exited but is not reaped (a zombie: no memory left) is one error line
    and exit 1, not an empty table; one whose main thread exited while others run (exit_race -z)
    shows its mappings through a running thread."""
    z = subprocess.Popen(["/bin/true"])
    try:
        _wait_state(z.pid, "Z", "/bin/true not reaped")
        rc, out, err = mw.run([mw.need_memwatch(), "maps", "-p", str(z.pid)], timeout=15)
        eq(rc, 1, f"maps of a zombie: exit status (stdout {mw.tail(out)!r})")
        eq(out, "", "maps of a zombie: stdout")
        lines = err.strip().splitlines()
        eq(len(lines), 1, f"maps of a zombie: one line on stderr: {err!r}")
        check(lines[0].startswith("memwatch: ") and "has exited" in lines[0],
              f"maps of a zombie: the line says it exited: {lines[0]!r}")
    finally:
        z.wait()
    w = mw.workload("exit_race", "-z", "-n", "2", ready=False)
    m = w.wait_line(r"^leader-exits (\d+)$", "err", 10)
    pid = int(m.group(1))
    _wait_state(pid, "Z", "exit_race -z's leader")
    rc, out, err = mw.run([mw.need_memwatch(), "maps", "-p", str(pid), "--json"], timeout=15)
    eq(rc, 0, f"maps with a zombie leader: exit status (stderr {mw.tail(err)!r})")
    regions = [json.loads(l) for l in out.splitlines() if '"type":"region"' in l]
    check(any(r.get("name", "").endswith("/exit_race") for r in regions),
          f"maps with a zombie leader: the program's own mappings among {len(regions)} rows")
    w.close_stdin()
    eq(w.wait(15, "exit_race -z"), 5, "exit_race -z exit status")
